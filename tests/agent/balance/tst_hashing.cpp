#include "agent/balance/hashing.hpp"
#include "fixture.hpp"

#include <QtTest>

using namespace dlb::agent::balance;
using namespace dlb::agent::balance::test;

namespace {
// Serves one header, as the worker's lookup does: empty when absent.
std::string_view userHeader(std::string_view name)
{
    return name == "x-user" ? std::string_view("alice") : std::string_view();
}
} // namespace

class TestHashing : public QObject {
    Q_OBJECT

private slots:
    // FNV-1a 64 ("a" → 0xaf63dc4c8601ec8c, its published test vector) finished by MurmurHash3's
    // fmix64; values computed independently (Python) and pinned, since rings depend on them.
    void knownValues()
    {
        QCOMPARE(hash64(""), 0xefd01f60ba992926ULL);
        QCOMPARE(hash64("a"), 0x82a2a958a9bece5bULL);
        QCOMPARE(hash64("127.0.0.1"), 0xcede3ba3b6417b22ULL);
        QCOMPARE(hash64("a", 1), 0x73e06e574120228aULL);
        QCOMPARE(mix64(0), 0ULL);
    }

    // Different seeds give unrelated hashes of the same bytes.
    void seedsDiffer()
    {
        QVERIFY(hash64("10.0.0.1:8080", 0) != hash64("10.0.0.1:8080", 1));
        QVERIFY(hash64("10.0.0.1:8080", 1) != hash64("10.0.0.1:8080", 2));
    }

    // Keys differing only in their last character spread evenly: 100000 keys "key-<i>" into 16
    // buckets by the top bits, each within 5% of 6250 (plain FNV-1a fails this).
    void avalanche()
    {
        std::vector<int> buckets(16, 0);
        const int total = 100000;
        for (int i = 0; i < total; ++i)
            ++buckets[hash64("key-" + std::to_string(i)) >> 60];
        for (const int count : buckets)
            QVERIFY2(qAbs(count - total / 16) < total / 16 / 20, qPrintable(QString::number(count)));
    }

    // Each key kind hashes its own part of the request.
    void requestKeys()
    {
        PickContext ctx;
        ctx.client_addr = "192.0.2.7";
        ctx.path = "/cart?id=3";
        ctx.header = userHeader;

        dlb::common::HashKey key;
        key.kind = dlb::common::HashKey::Kind::Client;
        QCOMPARE(requestHash(key, ctx), std::optional<uint64_t>(hash64("192.0.2.7")));
        key.kind = dlb::common::HashKey::Kind::Path;
        QCOMPARE(requestHash(key, ctx), std::optional<uint64_t>(hash64("/cart?id=3")));
        key.kind = dlb::common::HashKey::Kind::Header;
        key.header = "x-user";
        QCOMPARE(requestHash(key, ctx), std::optional<uint64_t>(hash64("alice")));
    }

    // An absent key gives no hash (callers then pick at random): a missing header, no header
    // lookup at all, or no client address.
    void absentKeys()
    {
        dlb::common::HashKey key;
        key.kind = dlb::common::HashKey::Kind::Header;
        key.header = "x-session";
        PickContext ctx;
        ctx.header = userHeader;
        QVERIFY(!requestHash(key, ctx).has_value());
        ctx.header = nullptr;
        QVERIFY(!requestHash(key, ctx).has_value());
        key.kind = dlb::common::HashKey::Kind::Client;
        QVERIFY(!requestHash(key, ctx).has_value());
    }
};

QTEST_APPLESS_MAIN(TestHashing)
#include "tst_hashing.moc"
