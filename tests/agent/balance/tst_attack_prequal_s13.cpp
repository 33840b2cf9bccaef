// An adversarial review of a6a38b7 (Prequal::onComplete takes a request's RIF increment back
// from its replica's probe-pool entry, ProbeEntry::added counting what addRequest() put there).
// Prequal is driven as a pure algorithm (prequal_harness.hpp: a fake clock, probes answered by
// hand). Each test says whether it is a guard (holds on a6a38b7) or a finding (fails on it), and
// what it observed.

#include "agent/balance/prequal.hpp"
#include "count_allocations.hpp"
#include "prequal_harness.hpp"

#include <QElapsedTimer>
#include <QtTest>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <vector>

using namespace dlb::agent::balance;
using namespace dlb::test::prequal;

class TestAttackPrequalS13 : public QObject {
    Q_OBJECT

private slots:
    void burstCountsEveryRequestInFlight();
    void takeBackNeverBelowTheAnswerNorWraps();
    void fallbackPicksGiveBackWhatTheyAdded();
    void completionTakesBackOnlyFromTheEntryItWasSentOn();
    void completionAllocatesNothing();
};

// Guard: many requests in flight at once (a burst, nothing completed yet) must each still count
// on the entry it was sent on, or HCL herds the burst onto one replica. Three replicas answer
// RIF 0 at 1 ms; 30 picks without a completion go 10/10/10 (HCL round-robins on the rising
// RIF), every entry then holds RIF 10 (added 10); after the 30 completions every entry is back at
// its answer (RIF 0, added 0), and a second burst spreads the same way. Holds on a6a38b7.
void TestAttackPrequalS13::burstCountsEveryRequestInFlight()
{
    Harness h(3, quiet());
    for (int r = 0; r < 3; ++r)
        h.answer(r, 0, 1, 0);
    for (int round = 0; round < 2; ++round) {
        std::vector<int> picks;
        std::vector<int> per(3, 0);
        for (int i = 0; i < 30; ++i) {
            const int r = h.pick(kMs + static_cast<uint64_t>(i));
            QVERIFY(r >= 0 && r < 3);
            picks.push_back(r);
            ++per[static_cast<std::size_t>(r)];
        }
        QVERIFY2(per[0] == 10 && per[1] == 10 && per[2] == 10,
                 qPrintable(QStringLiteral("round %1: %2/%3/%4").arg(round).arg(per[0]).arg(per[1]).arg(per[2])));
        for (int r = 0; r < 3; ++r) {
            QVERIFY(h.entryOf(r) != nullptr);
            QCOMPARE(h.entryOf(r)->rif, 10U);
            QCOMPARE(h.entryOf(r)->added, 10U);
        }
        for (int r : picks)
            h.lb->onComplete(r, true, 1, 2 * kMs);
        for (int r = 0; r < 3; ++r) {
            QCOMPARE(h.entryOf(r)->rif, 0U);
            QCOMPARE(h.entryOf(r)->added, 0U);
        }
        // Entries are used 10 times per round; the reuse budget (16 under quiet()) would drop
        // them in the second round: fresh answers, as probes would bring.
        for (int r = 0; r < 3; ++r)
            h.answer(r, 0, 1, 2 * kMs);
    }
}

// Guard: the take-back neither goes below the answered RIF nor wraps, and a saturated entry
// (an answer of 2^32 - 1 or 2^32 - 2, a broken counter) is not pulled down by completions whose
// increment saturation swallowed. Replica 0 answers 2^32 - 2, replica 1 2^32 - 1, all hot
// (threshold 0): two picks on 0 (the second saturated: added stays 1), three completions bring
// it back to 2^32 - 2 and no lower; completions on 1 (nothing added) leave it at 2^32 - 1, and
// completions on replica 2 (no entry) do nothing. Holds on a6a38b7.
void TestAttackPrequalS13::takeBackNeverBelowTheAnswerNorWraps()
{
    constexpr uint32_t kMax = std::numeric_limits<uint32_t>::max();
    Harness h(3, quiet());
    h.warmDistribution(2, 0); // hot threshold 0: both entries below are hot, lowest RIF wins
    h.answer(0, kMax - 1, 1, 0);
    h.answer(1, kMax, 1, 0);
    QCOMPARE(h.pick(kMs), 0);
    QCOMPARE(h.entryOf(0)->rif, kMax);
    QCOMPARE(h.entryOf(0)->added, 1U);
    QCOMPARE(h.pick(kMs), 0); // tie at 2^32 - 1, the older entry: saturated, nothing added
    QCOMPARE(h.entryOf(0)->rif, kMax);
    QCOMPARE(h.entryOf(0)->added, 1U);
    for (int i = 0; i < 3; ++i)
        h.lb->onComplete(0, true, 1, 2 * kMs);
    QCOMPARE(h.entryOf(0)->rif, kMax - 1);
    QCOMPARE(h.entryOf(0)->added, 0U);
    for (int i = 0; i < 3; ++i)
        h.lb->onComplete(1, i % 2 == 0, 1, 2 * kMs);
    QCOMPARE(h.entryOf(1)->rif, kMax);
    QCOMPARE(h.entryOf(1)->added, 0U);
    h.lb->onComplete(2, true, 1, 2 * kMs);
    QCOMPARE(h.lb->poolSize(), std::size_t{2});
}

// Guard: a fallback pick (fewer than two probes in the pool) adds one to the chosen replica's
// entry when it has one; its completion takes it back. One entry (replica 0, answered RIF 3)
// and 200 fallback picks, each completed before the next (fallback ties go at random between the
// two never-measured replicas): the entry's RIF is 3 after each completion, 4 between. Holds.
void TestAttackPrequalS13::fallbackPicksGiveBackWhatTheyAdded()
{
    Harness h(2, quiet(), 7);
    h.answer(0, 3, 1, 0);
    int onZero = 0;
    for (int i = 0; i < 200; ++i) {
        const int r = h.pick(kMs + static_cast<uint64_t>(i));
        QVERIFY(r == 0 || r == 1);
        QCOMPARE(h.entryOf(0)->rif, r == 0 ? 4U : 3U);
        onZero += r == 0 ? 1 : 0;
        h.lb->onComplete(r, true, 1, kMs + static_cast<uint64_t>(i));
        QCOMPARE(h.entryOf(0)->rif, 3U);
        QCOMPARE(h.entryOf(0)->added, 0U);
    }
    QVERIFY2(onZero > 50 && onZero < 150, qPrintable(QString::number(onZero)));
    QCOMPARE(h.lb->fallbackPicks(), uint64_t{200});
}

// Finding: onComplete(replica) takes one back from whatever entry that replica holds now, not
// from the entry the request was sent on. A request sent on an older entry (since replaced by a
// newer answer, or dropped at its reuse budget, or sent by the fallback before any entry existed)
// that ends takes back the increment of a request sent on the newer entry that is still in
// flight, whenever the newer answer did not count the older request. That is the ordinary case
// of a probe answered after the older request was served but read before its response (two
// connections, no order between them), or of a probe answered before the request reached the
// replica (a probe asked for with the request, on its own warm connection). The entry then
// shows fewer of this worker's requests in flight than were sent on it, and HCL sends more.
//
// Here: replica 1 answers RIF 3; replica 0 first answers 0 and takes three requests (its entry
// goes to 3, ties to the older entry), then a newer answer of 0 replaces its entry (the three
// were served already, their answers not yet read), three more requests go to it on that entry
// (RIF 3, added 3), and then the first three end. The second three are still in flight, sent on
// the entry that now reads RIF 0 (added 0): the next request goes to replica 0 (RIF 0 against
// 3) where, counted, it would tie at 3 and go to replica 1 (the older entry).
// Observed on a6a38b7: entry RIF 0, next pick 0. On 86e136f (nothing taken back): RIF 3, pick 1.
// Fixed: the requests in flight when an entry was answered are taken to end first, and their
// ends take nothing back from it (Prequal::onComplete, sent_before_entry_).
void TestAttackPrequalS13::completionTakesBackOnlyFromTheEntryItWasSentOn()
{
    Harness h(3, quiet());
    h.warmDistribution(2, 100); // nothing hot: HCL is the lowest RIF among equal latencies
    h.answer(0, 0, 1, 0);
    h.answer(1, 3, 1, 0);
    // As PoolRuntime does: a pick is dispatched (in flight + 1), an end is counted (in flight
    // - 1) before the balancer hears of it.
    auto& inFlight = h.replicas[0].in_flight;
    for (int i = 0; i < 3; ++i) {
        QCOMPARE(h.pick(kMs), 0);
        ++inFlight;
    }
    QCOMPARE(h.entryOf(0)->rif, 3U);
    h.answer(0, 0, 1, 2 * kMs); // newer answer: the three were served, their responses not read
    for (int i = 0; i < 3; ++i) {
        QCOMPARE(h.pick(3 * kMs), 0);
        ++inFlight;
    }
    QCOMPARE(h.entryOf(0)->rif, 3U);
    QCOMPARE(h.entryOf(0)->added, 3U);
    for (int i = 0; i < 3; ++i) { // the first three end
        --inFlight;
        h.lb->onComplete(0, true, 1, 4 * kMs);
    }
    const uint32_t rif = h.entryOf(0)->rif;
    const int next = h.pick(5 * kMs);
    qInfo() << "replica 0's entry after the older requests ended: RIF" << rif << "with 3 sent on it in flight;"
            << "next pick" << next;
    QVERIFY2(rif >= 3, qPrintable(QStringLiteral("replica 0's entry reads RIF %1 with 3 requests sent on it "
                                                 "still in flight (the completions of requests sent on the "
                                                 "entry it replaced took their increments)")
                                      .arg(rif)));
    QCOMPARE(next, 1);
}

// Guard (the hot path): onComplete() scans the pool once per completion. With the largest pool
// the config allows (pool_size 256, every entry present, none matching: the longest scan), a
// completion allocates nothing. What it costs is printed, not asserted (timings are measured in
// bench/, never in a test): the helper measured 72-74 ns a completion against 875-900 ns a pick.
void TestAttackPrequalS13::completionAllocatesNothing()
{
    constexpr int kReplicas = 257; // 256 entries, and replica 256 never has one
    constexpr int kCalls = 20000;
    // Fewer picks than the pool's uses (256 entries x a reuse budget of 16): the pool never
    // drains, so every pick is an HCL pick over 130 to 256 entries, never the fallback.
    constexpr int kPicks = 2000;
    PrequalParams p = quiet();
    p.pool_size = 256;
    Harness h(kReplicas, p);
    const auto refill = [&](uint64_t now) {
        for (int r = 0; r < kReplicas - 1; ++r)
            h.answer(r, 0, 1 + r % 7, now);
    };
    refill(0);
    QCOMPARE(h.lb->poolSize(), std::size_t{256});
    qint64 bestComplete = std::numeric_limits<qint64>::max();
    qint64 bestPick = std::numeric_limits<qint64>::max();
    long allocations = 0;
    for (int round = 0; round < 5; ++round) {
        const long before = g_allocations.load();
        QElapsedTimer t;
        t.start();
        for (int i = 0; i < kCalls; ++i)
            h.lb->onComplete(kReplicas - 1, true, 1, kMs);
        bestComplete = std::min(bestComplete, t.nsecsElapsed());
        allocations += g_allocations.load() - before;
        refill(kMs);
        t.restart();
        for (int i = 0; i < kPicks; ++i)
            h.pick(kMs);
        bestPick = std::min(bestPick, t.nsecsElapsed());
        refill(kMs); // picks used entries up (reuse budget): the next round starts full again
    }
    const double perComplete = static_cast<double>(bestComplete) / kCalls;
    const double perPick = static_cast<double>(bestPick) / kPicks;
    qInfo() << "pool of 256: onComplete" << perComplete << "ns, pick" << perPick << "ns";
    QCOMPARE(allocations, 0L);
}

QTEST_GUILESS_MAIN(TestAttackPrequalS13)
#include "tst_attack_prequal_s13.moc"
