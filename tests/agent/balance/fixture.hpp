#pragma once
// Shared by the balance tests: replica arrays, contexts and pick counting. Every balancer in
// these tests is built with a fixed seed, so each run makes exactly the same picks.

#include "agent/balance/balancer.hpp"

#include <QString>
#include <QTest>

#include <cstddef>
#include <initializer_list>
#include <string_view>
#include <string>
#include <vector>

namespace dlb::agent::balance::test {

inline constexpr uint64_t kSeed = 42;

// Replicas "10.0.0.<i+1>:8080" with the given weights, all usable and idle.
inline std::vector<ReplicaState> makeReplicas(std::initializer_list<unsigned> weights)
{
    std::vector<ReplicaState> replicas;
    for (const unsigned weight : weights) {
        ReplicaState replica;
        replica.id = "10.0.0." + std::to_string(replicas.size() + 1) + ":8080";
        replica.weight = weight;
        replicas.push_back(replica);
    }
    return replicas;
}

// n replicas of weight 1.
inline std::vector<ReplicaState> makeReplicas(std::size_t n)
{
    std::vector<ReplicaState> replicas(n);
    for (std::size_t i = 0; i < n; ++i)
        replicas[i].id = "10.0.0." + std::to_string(i + 1) + ":8080";
    return replicas;
}

// The next `count` picks.
inline std::vector<int> picks(Balancer& balancer, int count, const PickContext& ctx = {})
{
    std::vector<int> result;
    for (int k = 0; k < count; ++k)
        result.push_back(balancer.pick(ctx));
    return result;
}

// How often each replica is picked in `count` picks; kNoReplica and out-of-range picks are
// counted apart so a test can assert there were none.
struct Tally {
    std::vector<int> counts;
    int none = 0;    // kNoReplica
    int invalid = 0; // out of range: always a bug
    double share(int replica, int total) const
    {
        return static_cast<double>(counts[static_cast<std::size_t>(replica)]) / total;
    }
};

inline Tally tally(Balancer& balancer, int count, const PickContext& ctx = {})
{
    Tally t;
    t.counts.assign(balancer.replicas().size(), 0);
    for (int k = 0; k < count; ++k) {
        const int pick = balancer.pick(ctx);
        if (pick == kNoReplica)
            ++t.none;
        else if (pick < 0 || static_cast<std::size_t>(pick) >= t.counts.size())
            ++t.invalid;
        else
            ++t.counts[static_cast<std::size_t>(pick)];
    }
    return t;
}

// Readable failure messages for pick sequences.
inline QString toText(const std::vector<int>& sequence)
{
    QString text;
    for (const int pick : sequence)
        text += QString::number(pick) + QLatin1Char(' ');
    return text.trimmed();
}

// n distinct client addresses "10.<a>.<b>.<c>".
inline std::vector<std::string> clientAddresses(int n)
{
    std::vector<std::string> keys;
    for (int k = 0; k < n; ++k)
        keys.push_back("10." + std::to_string(k / 65536 % 256) + '.' + std::to_string(k / 256 % 256) + '.'
                       + std::to_string(k % 256));
    return keys;
}

// Which part of the request carries the key in assign().
enum class KeyField { Client, Path, Header };
inline constexpr std::string_view kKeyHeader = "x-user";

// A hash key of `kind`; a header key names kKeyHeader, the header assign() carries keys in.
inline dlb::common::HashKey keyOf(dlb::common::HashKey::Kind kind)
{
    dlb::common::HashKey key;
    key.kind = kind;
    if (kind == dlb::common::HashKey::Kind::Header)
        key.header = std::string(kKeyHeader);
    return key;
}

// The replica each key is sent to, one pick per key, the key carried in `field`.
inline std::vector<int> assign(Balancer& balancer, const std::vector<std::string>& keys,
                               KeyField field = KeyField::Client, int exclude = kNoReplica)
{
    std::vector<int> result;
    for (const std::string& key : keys) {
        PickContext ctx;
        ctx.exclude = exclude;
        switch (field) {
        case KeyField::Client:
            ctx.client_addr = key;
            break;
        case KeyField::Path:
            ctx.path = key;
            break;
        case KeyField::Header:
            ctx.header = [&key](std::string_view name) {
                return name == kKeyHeader ? std::string_view(key) : std::string_view();
            };
            break;
        }
        result.push_back(balancer.pick(ctx));
    }
    return result;
}

// The keys whose replica in `home` (an assign() of `keys`) is `replica`.
inline std::vector<std::string> keysAssignedTo(const std::vector<std::string>& keys, const std::vector<int>& home,
                                               int replica)
{
    std::vector<std::string> mine;
    for (std::size_t k = 0; k < keys.size(); ++k) {
        if (home[k] == replica)
            mine.push_back(keys[k]);
    }
    return mine;
}

// How two assignments of the same keys differ after `removed` went down.
struct Movement {
    int moved = 0;         // keys whose replica changed
    int movedOthers = 0;   // of those, keys that were not on `removed`: the avoidable moves
    int onRemoved = 0;     // keys that are still on `removed` afterwards: always a bug
    std::vector<int> to;   // where the removed replica's keys went, per replica
};

inline Movement movement(const std::vector<int>& before, const std::vector<int>& after, int removed, std::size_t n)
{
    Movement m;
    m.to.assign(n, 0);
    for (std::size_t k = 0; k < before.size(); ++k) {
        if (after[k] == removed)
            ++m.onRemoved;
        if (before[k] == after[k])
            continue;
        ++m.moved;
        if (before[k] != removed)
            ++m.movedOthers;
        else if (after[k] >= 0)
            ++m.to[static_cast<std::size_t>(after[k])];
    }
    return m;
}

// How many keys each replica got.
inline std::vector<int> loads(const std::vector<int>& assignment, std::size_t n)
{
    std::vector<int> counts(n, 0);
    for (const int replica : assignment) {
        if (replica >= 0 && static_cast<std::size_t>(replica) < n)
            ++counts[static_cast<std::size_t>(replica)];
    }
    return counts;
}

// Marks replica `i` usable or not and tells the balancer, as the worker does.
inline void setUsable(std::vector<ReplicaState>& replicas, Balancer& balancer, int i, bool usable)
{
    replicas[static_cast<std::size_t>(i)].usable = usable;
    balancer.onUsableChanged(i);
}

// The eight documentation-range clients whose mapping each hashing algorithm's test pins, so
// workers and restarts are held to the same answer.
inline const std::vector<std::string>& pinnedClients()
{
    static const std::vector<std::string> clients{"192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.4",
                                                  "192.0.2.5", "192.0.2.6", "192.0.2.7", "192.0.2.8"};
    return clients;
}

// Checks that `balancer` maps pinnedClients() exactly to `expected`.
inline void verifyPinnedMapping(Balancer& balancer, const std::vector<int>& expected)
{
    const auto got = assign(balancer, pinnedClients());
    QVERIFY2(got == expected, qPrintable(toText(got)));
}

// Checks that a key always lands on the same replica: `a` agrees with itself over 1000 clients,
// and `b` (the same replicas, another seed) agrees with `a`.
inline void verifySticky(Balancer& a, Balancer& b)
{
    const auto clients = clientAddresses(1000);
    const auto first = assign(a, clients);
    QCOMPARE(assign(a, clients), first);
    QCOMPARE(assign(b, clients), first);
}

} // namespace dlb::agent::balance::test
