#include "agent/balance/least_request.hpp"
#include "fixture.hpp"

#include <QtTest>

using namespace dlb::agent::balance;
using namespace dlb::agent::balance::test;

class TestLeastRequest : public QObject {
    Q_OBJECT

private slots:
    // Equal weights, choice_count 2, in flight 3,0,1,2, seed 42: this exact sequence.
    void unweightedSequence()
    {
        auto replicas = makeReplicas(4);
        const uint32_t in_flight[] = {3, 0, 1, 2};
        for (std::size_t i = 0; i < 4; ++i)
            replicas[i].in_flight = in_flight[i];
        LeastRequest lr(replicas, kSeed, 2, 1.0);
        QVERIFY(!lr.weighted());
        const std::vector<int> expected{1, 2, 3, 2, 2, 1, 1, 2, 2, 2, 0, 1};
        const auto got = picks(lr, 12);
        QVERIFY2(got == expected, qPrintable(toText(got)));
    }

    // Two replicas, in flight 0 and 5: the busy one wins only when every sample is it
    // (Envoy samples with replacement), 1/2^choice_count of the time, within 0.01.
    void unweightedFavoursIdle_data()
    {
        QTest::addColumn<uint32_t>("choices");
        QTest::addColumn<double>("busyShare");
        QTest::newRow("1 choice") << 1U << 0.5;
        QTest::newRow("2 choices") << 2U << 0.25;
        QTest::newRow("3 choices") << 3U << 0.125;
    }
    void unweightedFavoursIdle()
    {
        QFETCH(uint32_t, choices);
        QFETCH(double, busyShare);
        auto replicas = makeReplicas(2);
        replicas[1].in_flight = 5;
        LeastRequest lr(replicas, kSeed, choices, 1.0);
        const int total = 100000;
        const Tally t = tally(lr, total);
        QVERIFY2(qAbs(t.share(1, total) - busyShare) < 0.01, qPrintable(QString::number(t.share(1, total))));
    }

    // Different weights switch to the EDF form: weights 5,1,1 with seed 42 give this sequence.
    void weightedSequence()
    {
        const auto replicas = makeReplicas({5, 1, 1});
        LeastRequest lr(replicas, kSeed, 2, 1.0);
        QVERIFY(lr.weighted());
        const std::vector<int> expected{0, 0, 1, 0, 0, 2, 0, 0, 0, 1, 0, 0, 2, 0};
        const auto got = picks(lr, 14);
        QVERIFY2(got == expected, qPrintable(toText(got)));
    }

    // Idle replicas get traffic in proportion to weight: 5/7, 1/7, 1/7 within 0.002.
    void weightedHonoursWeights()
    {
        const auto replicas = makeReplicas({5, 1, 1});
        LeastRequest lr(replicas, kSeed, 2, 1.0);
        const int total = 100000;
        const Tally t = tally(lr, total);
        QVERIFY(qAbs(t.share(0, total) - 5.0 / 7) < 0.002);
        QVERIFY(qAbs(t.share(1, total) - 1.0 / 7) < 0.002);
        QVERIFY(qAbs(t.share(2, total) - 1.0 / 7) < 0.002);
    }

    // Weights 2,1 with 10 and 0 in flight: shares follow weight / (in_flight + 1)^bias, within
    // 0.005. Bias 0 ignores load; bias 2 punishes it harder than bias 1.
    void weightedFollowsInFlight_data()
    {
        QTest::addColumn<double>("bias");
        QTest::addColumn<double>("busyShare");
        const auto share = [](double busy, double idle) { return busy / (busy + idle); };
        QTest::newRow("bias 0") << 0.0 << share(2.0, 1.0);
        QTest::newRow("bias 0.5") << 0.5 << share(2.0 / std::sqrt(11.0), 1.0);
        QTest::newRow("bias 1") << 1.0 << share(2.0 / 11, 1.0);
        QTest::newRow("bias 2") << 2.0 << share(2.0 / 121, 1.0);
    }
    void weightedFollowsInFlight()
    {
        QFETCH(double, bias);
        QFETCH(double, busyShare);
        auto replicas = makeReplicas({2, 1});
        replicas[0].in_flight = 10;
        LeastRequest lr(replicas, kSeed, 2, bias);
        const int total = 100000;
        const Tally t = tally(lr, total);
        QVERIFY2(qAbs(t.share(0, total) - busyShare) < 0.005, qPrintable(QString::number(t.share(0, total))));
    }

    // Unusable replicas are never picked, in either form, whether or not onUsableChanged has
    // arrived yet; a replica that comes back gets traffic again.
    void skipsUnusable_data()
    {
        QTest::addColumn<bool>("weightedForm");
        QTest::addColumn<bool>("notify");
        QTest::newRow("unweighted, notified") << false << true;
        QTest::newRow("unweighted, flag only") << false << false;
        QTest::newRow("weighted, notified") << true << true;
        QTest::newRow("weighted, flag only") << true << false;
    }
    void skipsUnusable()
    {
        QFETCH(bool, weightedForm);
        QFETCH(bool, notify);
        auto replicas = weightedForm ? makeReplicas({3, 2, 1}) : makeReplicas({1, 1, 1});
        LeastRequest lr(replicas, kSeed, 2, 1.0);
        QCOMPARE(lr.weighted(), weightedForm);
        replicas[0].usable = false;
        if (notify)
            lr.onUsableChanged(0);
        const Tally down = tally(lr, 6000);
        QCOMPARE(down.counts[0], 0);
        QCOMPARE(down.counts[1] + down.counts[2], 6000);

        setUsable(replicas, lr, 0, true);
        QVERIFY(tally(lr, 6000).counts[0] > 1000);
    }

    // The excluded replica is never returned, in either form; in the weighted form it keeps its
    // place in the schedule and is picked again once not excluded.
    void honoursExclude()
    {
        for (const bool weightedForm : {false, true}) {
            const auto replicas = weightedForm ? makeReplicas({3, 2, 1}) : makeReplicas({1, 1, 1});
            LeastRequest lr(replicas, kSeed, 2, 1.0);
            PickContext ctx;
            ctx.exclude = 0;
            const Tally t = tally(lr, 6000, ctx);
            QCOMPARE(t.counts[0], 0);
            QVERIFY(t.counts[1] > 0 && t.counts[2] > 0);
            if (weightedForm)
                QCOMPARE(lr.pick({}), 0); // overdue after being skipped: first in line
        }
    }

    // No usable replica, or only the excluded one: kNoReplica, in either form.
    void noneUsable()
    {
        for (const bool weightedForm : {false, true}) {
            auto replicas = weightedForm ? makeReplicas({3, 2, 1}) : makeReplicas({1, 1, 1});
            LeastRequest lr(replicas, kSeed, 2, 1.0);
            for (int i = 0; i < 3; ++i)
                setUsable(replicas, lr, i, false);
            QCOMPARE(lr.pick({}), kNoReplica);
            setUsable(replicas, lr, 1, true);
            PickContext ctx;
            ctx.exclude = 1;
            QCOMPARE(lr.pick(ctx), kNoReplica);
            QCOMPARE(lr.pick({}), 1);
        }
        LeastRequest empty({}, kSeed, 2, 1.0);
        QCOMPARE(empty.pick({}), kNoReplica);
    }
};

QTEST_APPLESS_MAIN(TestLeastRequest)
#include "tst_least_request.moc"
