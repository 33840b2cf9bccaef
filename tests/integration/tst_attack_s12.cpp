// An adversarial review of b914af7: the hung-probe-endpoint verdict retried on probation
// (Prober::onTimedOut: at the verdict the count of timeouts over answers is left at
// kProbeTimeoutsForHungVerdict - 1, so the first timeout more than answers after the 10 s renews
// it, and each answer takes one back). Replicas here are scripted (scripted_replica.hpp) and
// their /ping switched by the test while the verdict holds, when no probe reaches them: the
// first probe after a switch is the retry. Each test says what it checks, and what it read
// before b914af7 or would read if the rule broke.

#include "control_fixture.hpp"
#include "harness.hpp"
#include "hung_probe_fixture.hpp"
#include "scripted_replica.hpp"

#include <QElapsedTimer>
#include <QtTest>

#include <atomic>
#include <csignal>
#include <functional>
#include <memory>

using namespace dlb::test;

namespace {

const QString kPool = QStringLiteral("0");
// How long a test waits for its verdicts, and for what follows a retry (10 s after a verdict).
constexpr int kVerdictWaitMs = 20000;
constexpr int kRetryWaitMs = 25000;

// What a scripted replica's /ping does. The test switches it while the replica is under the
// verdict (no probe reaches it then), so `sinceSwitch` counts the probes from the retry on.
enum class Ping { Answer, Hang, AnswerOnceThenHang, AnswerEveryOther, NotFound, HangOnceThenAnswer };

struct PingScript {
    std::atomic<Ping> mode{Ping::Hang};
    std::atomic<int> sinceSwitch{0};
    std::atomic<int> total{0};

    void set(Ping m)
    {
        sinceSwitch.store(0);
        mode.store(m);
    }
    Answer answer()
    {
        static const Answer probeAnswer = ok(R"({"rif": 0, "latency_ms": 1})");
        total.fetch_add(1);
        const int n = sinceSwitch.fetch_add(1); // 0 for the first probe after the switch
        switch (mode.load()) {
        case Ping::Answer:
            return probeAnswer;
        case Ping::Hang:
            return Answer{};
        case Ping::AnswerOnceThenHang:
            return n == 0 ? probeAnswer : Answer{};
        case Ping::AnswerEveryOther:
            return n % 2 == 0 ? probeAnswer : Answer{};
        case Ping::NotFound:
            return Answer{"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"};
        case Ping::HangOnceThenAnswer:
            return n == 0 ? Answer{} : probeAnswer;
        }
        return Answer{};
    }
};

// A replica named `name` that serves every path with 200 (X-Replica: name), /ping as `ping` says.
ScriptedReplica::Script scripted(const QByteArray& name, std::shared_ptr<PingScript> ping)
{
    return [name, ping](const QByteArray& path) {
        if (path == "/ping")
            return ping->answer();
        return ok(name, "X-Replica: " + name + "\r\n");
    };
}

// The hung-endpoint line (verdictOf, renewalOf: hung_probe_fixture.hpp) of worker `worker`.
QByteArray ofWorker(int worker, const QByteArray& line)
{
    return "worker " + QByteArray::number(worker) + ", pool web, " + line;
}
// Verdict and renewal lines about the replica on `port` in `log`.
qsizetype hungLines(const QByteArray& log, quint16 port)
{
    return log.count(verdictOf(port)) + log.count(renewalOf(port));
}
qsizetype hungLines(const QByteArray& log, int worker, quint16 port)
{
    return log.count(ofWorker(worker, verdictOf(port))) + log.count(ofWorker(worker, renewalOf(port)));
}

// A script whose /ping starts as `mode`.
std::shared_ptr<PingScript> pingScript(Ping mode)
{
    auto p = std::make_shared<PingScript>();
    p->set(mode);
    return p;
}

// Replica a, whose /ping hangs until the test switches it, and b, whose probes answer; the
// agent (c) stops before the replicas do.
struct HungAndAnswering {
    std::shared_ptr<PingScript> pa = pingScript(Ping::Hang);
    std::shared_ptr<PingScript> pb = pingScript(Ping::Answer);
    ScriptedReplica a{scripted("a", pa)};
    ScriptedReplica b{scripted("b", pb)};
    Cluster c;
};

// The agent's count of probes sent to the replica on `port` (GET /v1/stats, a sample taken once
// a second), or -1.
qint64 probesSentTo(const Cluster& c, quint16 port)
{
    const auto r = controlCall(c, "GET", "/v1/stats", kViewer);
    if (!r || r->status != 200)
        return -1;
    const QString id = QStringLiteral("127.0.0.1:%1").arg(port);
    for (const auto pool : jsonBody(*r)[QStringLiteral("pools")].toArray())
        for (const auto replica : pool.toObject()[QStringLiteral("replicas")].toArray()) {
            const QJsonObject o = replica.toObject();
            if (o[QStringLiteral("id")].toString() == id)
                return o[QStringLiteral("prequal")].toObject()[QStringLiteral("probes_sent")].toInteger(-1);
        }
    return -1;
}

} // namespace

class TestAttackS12 : public QObject {
    Q_OBJECT

private slots:
    void retryOnProbation();
    void twoWorkersKeepTheirVerdictThroughAReload();
    void restartedReplicaIsNotOnProbation();
};

// Guard, three replicas judged hung at once beside b (whose probes answer), then switched while
// under the verdict; what each does from its retry on:
// - a1 answers the retry's probe, then hangs again (or answers 1 probe in 3, A T T, which is the
//   same from there): the verdict is renewed after 3 probes (k - 1, less the answer, plus 2
//   timeouts: k, whatever kHungVerdictTimeouts is). Before b914af7 the retry started from 0: 9
//   probes (the answer, then 8 timeouts, the count then), each a request's worth to a replica
//   that is likely past its capacity.
// - a2 answers every other probe from the retry on (A T A T ...): never one timeout more than
//   answers, so no renewal, and it is probed on (20 probes). A rule that renewed on any timeout
//   under probation would give it a second verdict after 2 probes.
// - a3 answers its probe path with 404 from the retry on: "no probe endpoint" (30 s), neither a
//   second hung verdict nor another probe while the others are watched.
// Every request is answered 200 throughout. Observed on b914af7: a1 3 probes, a2 30 and no
// renewal, a3 1; on 73d9576 (before it): a1 9.
void TestAttackS12::retryOnProbation()
{
    auto p1 = std::make_shared<PingScript>();
    auto p2 = std::make_shared<PingScript>();
    auto p3 = std::make_shared<PingScript>();
    auto pb = pingScript(Ping::Answer);
    ScriptedReplica a1(scripted("a1", p1));
    ScriptedReplica a2(scripted("a2", p2));
    ScriptedReplica a3(scripted("a3", p3));
    ScriptedReplica b(scripted("b", pb));
    Cluster c;
    QJsonObject cfg = c.config({a1.port(), a2.port(), a3.port(), b.port()});
    prequalProbingFast(cfg);
    QVERIFY2(c.startAgent(cfg), qPrintable(c.error()));
    Traffic traffic(c.port());

    QElapsedTimer sinceFirst;
    const auto judged = [&](quint16 port) { return freshLog(c).contains(verdictOf(port)); };
    QVERIFY2(pumpUntil(traffic, [&] {
        if (!sinceFirst.isValid() && (judged(a1.port()) || judged(a2.port()) || judged(a3.port())))
            sinceFirst.start();
        return judged(a1.port()) && judged(a2.port()) && judged(a3.port());
    }, kVerdictWaitMs),
             qPrintable(QStringLiteral("not all three judged hung (probes %1, %2, %3); log:\n%4")
                            .arg(p1->total.load()).arg(p2->total.load()).arg(p3->total.load())
                            .arg(QString::fromUtf8(c.agentLog()))));
    // The switches must come before the first retry, 10 s after the first verdict.
    QVERIFY2(sinceFirst.elapsed() < 8000, qPrintable(QString::number(sinceFirst.elapsed())));
    const qsizetype mark = c.agent().logMark();
    p1->set(Ping::AnswerOnceThenHang);
    p2->set(Ping::AnswerEveryOther);
    p3->set(Ping::NotFound);

    const auto renewed = [&](quint16 port) { return hungLines(freshLog(c).mid(mark), port) > 0; };
    QVERIFY2(pumpUntil(traffic, [&] {
        return renewed(a1.port()) && p2->sinceSwitch.load() >= 20 && p3->sinceSwitch.load() >= 1;
    }, kRetryWaitMs),
             qPrintable(QStringLiteral("after the switch: a1 %1 probes, renewed %2; a2 %3 probes; a3 %4; log:\n%5")
                            .arg(p1->sinceSwitch.load()).arg(renewed(a1.port()))
                            .arg(p2->sinceSwitch.load()).arg(p3->sinceSwitch.load()).arg(QString::fromUtf8(c.agentLog()))));
    // a2's probes, still going, are the clock a3 is watched by: 10 more of them (~0.3 s, in
    // which a3, drawn as often, would have had several probes had the 404 not stopped them).
    const int a2Clock = p2->sinceSwitch.load() + 10;
    QVERIFY2(pumpUntil(traffic, [&] { return p2->sinceSwitch.load() >= a2Clock; }, kWaitMs),
             qPrintable(QString::number(p2->sinceSwitch.load())));
    qInfo() << "from the retry on: a1" << p1->sinceSwitch.load() << "probes, a2" << p2->sinceSwitch.load() << ", a3"
            << p3->sinceSwitch.load() << "; requests:" << traffic.summary().constData();
    QVERIFY2(p1->sinceSwitch.load() <= 3,
             qPrintable(QStringLiteral("a1 had %1 probes from its retry to the renewed verdict").arg(p1->sinceSwitch.load())));
    QVERIFY2(!renewed(a2.port()), qPrintable(QString::fromUtf8(freshLog(c).mid(mark))));
    QVERIFY2(!renewed(a3.port()), qPrintable(QString::fromUtf8(freshLog(c).mid(mark))));
    QCOMPARE(p3->sinceSwitch.load(), 1);
    QVERIFY2(traffic.failed == 0 && traffic.lost == 0, traffic.summary().constData());
    QCOMPARE(c.stopAgent(), 0);
}

// Guard, two workers and a reload: each worker is its own Prequal client with its own count, so
// a hung endpoint gets one verdict per worker, and one probe per worker per retry; a SIGHUP that
// leaves the pool as it is (timeouts.response_ms changes) keeps the pool's runtime, its
// verdicts and its probation. Read: no probe to a after the reload until the retry, the
// renewals at least 7 s after the verdicts (a runtime built anew would probe a at once and judge
// it again within a second), at most 2 probes between the verdicts and their renewals (16 before
// b914af7: 8 per worker, the count then), and each worker's verdict and its first renewal: 2 lines per worker
// in those ~10 s (later renewals are logged at the 2nd, 4th, 8th ...; before, a permanently hung
// endpoint made one line per replica and worker every 10 s).
// Observed on b914af7: renewed ~10.06 s after the verdicts, 2 probes; on 73d9576: 16 probes. A
// reload that changes the pool (probe.timeout_ms) fails it: a probed again at once.
void TestAttackS12::twoWorkersKeepTheirVerdictThroughAReload()
{
    HungAndAnswering pool;
    auto& [pa, pb, a, b, c] = pool;
    QJsonObject cfg = c.config({a.port(), b.port()});
    cfg[QStringLiteral("workers")] = 2;
    prequalProbingFast(cfg);
    QVERIFY2(c.startAgent(cfg), qPrintable(c.error()));
    Traffic traffic(c.port());

    const auto linesOf = [&](int worker, qsizetype from) {
        return hungLines(freshLog(c).mid(from), worker, a.port());
    };
    QVERIFY2(pumpUntil(traffic, [&] { return linesOf(0, 0) >= 1 && linesOf(1, 0) >= 1; }, kVerdictWaitMs),
             qPrintable(QStringLiteral("%1 probes to a, no verdict from both workers; log:\n%2")
                            .arg(pa->total.load()).arg(QString::fromUtf8(c.agentLog()))));
    QElapsedTimer sinceVerdicts;
    sinceVerdicts.start();
    const int pingsAtVerdicts = pa->total.load();

    const qsizetype beforeReload = c.agent().logMark();
    setJson(cfg, {QStringLiteral("timeouts"), QStringLiteral("response_ms")}, 20000);
    QVERIFY2(c.writeConfig(cfg), qPrintable(c.error()));
    c.agent().signal(SIGHUP);
    QVERIFY2(c.agent().waitForLog("config reloaded (generation", beforeReload), c.agentLog().constData());
    traffic.send(200);
    QCOMPARE(pa->total.load(), pingsAtVerdicts);

    const qsizetype mark = c.agent().logMark();
    QVERIFY2(pumpUntil(traffic, [&] { return linesOf(0, mark) >= 1 && linesOf(1, mark) >= 1; }, kRetryWaitMs),
             qPrintable(QStringLiteral("no renewal from both workers; %1 probes to a since the verdicts; log:\n%2")
                            .arg(pa->total.load() - pingsAtVerdicts).arg(QString::fromUtf8(c.agentLog()))));
    const qint64 renewedAfterMs = sinceVerdicts.elapsed();
    const int retryProbes = pa->total.load() - pingsAtVerdicts;
    qInfo() << "renewed" << renewedAfterMs << "ms after the verdicts were read, after" << retryProbes
            << "probes to a; requests:" << traffic.summary().constData();
    QVERIFY2(renewedAfterMs >= 7000, qPrintable(QString::number(renewedAfterMs)));
    QVERIFY2(retryProbes <= 2, qPrintable(QStringLiteral("%1 probes to a between the verdicts and their renewals").arg(retryProbes)));
    QCOMPARE(linesOf(0, 0), 2);
    QCOMPARE(linesOf(1, 0), 2);
    QVERIFY2(traffic.failed == 0 && traffic.lost == 0, traffic.summary().constData());
    QCOMPARE(c.stopAgent(), 0);
}

// Finding: probation outlives the process it was about. a's probe endpoint hangs and a is judged
// hung; then a is killed (its port refuses, as the agent sees at the retry: a probe refused, 10 s
// after the verdict) and comes back as a new process whose first probe is slow (a cold start:
// lazy imports, a JIT, caches; probe.timeout_ms is 50 by default) and which answers every probe
// after it. The agent still held the old process's count (k - 1 of k), so that one timeout renewed
// the verdict: 10 more seconds on this worker's own measurements for a replica that has timed out
// once in its life, and a log line saying "8 more probes timed out than were answered" about it
// (8 was the count then). Before b914af7 the retry counted from 0: 1 of k, then answers took it
// back, no verdict. A
// refused connection (Outcome::Unreachable) is evidence the endpoint that hung is gone: since the
// fix (Prober::finished) it ends the probation.
// Observed on b914af7 (3 runs): the verdict renewed after the restarted a's 1 probe; on
// 73d9576 (before it): no renewal, 9 probes (1 timed out, 8 answered). Requests: all 200 in
// both (~150,000 per run, a killed and restarted among them).
void TestAttackS12::restartedReplicaIsNotOnProbation()
{
    HungAndAnswering pool;
    auto& [pa, pb, a, b, c] = pool;
    QJsonObject cfg = controlConfig(c, {a.port(), b.port()});
    prequalProbingFast(cfg);
    QVERIFY2(c.startAgent(cfg), qPrintable(c.error()));
    Traffic traffic(c.port());

    QVERIFY2(pumpUntil(traffic, [&] { return freshLog(c).contains(verdictOf(a.port())); }, kVerdictWaitMs),
             qPrintable(QStringLiteral("%1 probes to a, no verdict; log:\n%2").arg(pa->total.load()).arg(QString::fromUtf8(c.agentLog()))));
    a.setListening(false); // killed while judged hung
    const int pingsAtVerdict = pa->total.load();
    // No probe goes to a for 10 s: the agent's count (a sample a second) catches up with the
    // probes a read, and stays there until the retry, which a refuses.
    qint64 sentAtVerdict = -1;
    QVERIFY2(pumpUntil(traffic, [&] {
        sentAtVerdict = probesSentTo(c, a.port());
        return sentAtVerdict >= pingsAtVerdict;
    }, kVerdictWaitMs),
             qPrintable(QStringLiteral("stats: %1 probes sent to a, a read %2").arg(sentAtVerdict).arg(pingsAtVerdict)));
    QVERIFY2(pumpUntil(traffic, [&] { return probesSentTo(c, a.port()) > sentAtVerdict; }, kRetryWaitMs),
             qPrintable(QStringLiteral("a not probed again after the verdict; log:\n%1").arg(QString::fromUtf8(c.agentLog()))));

    const qsizetype mark = c.agent().logMark();
    pa->set(Ping::HangOnceThenAnswer);
    a.setListening(true); // the new process
    const auto renewed = [&] { return hungLines(freshLog(c).mid(mark), a.port()) > 0; };
    QVERIFY2(pumpUntil(traffic, [&] { return renewed() || pa->sinceSwitch.load() >= 9; }, kRetryWaitMs),
             qPrintable(QStringLiteral("%1 probes to the restarted a; log:\n%2").arg(pa->sinceSwitch.load()).arg(QString::fromUtf8(c.agentLog()))));
    qInfo() << "restarted a:" << pa->sinceSwitch.load() << "probes; requests:" << traffic.summary().constData();
    QVERIFY2(!renewed(), qPrintable(QStringLiteral("the restarted a, after %1 probe(s), 1 timed out:\n%2")
                                        .arg(pa->sinceSwitch.load()).arg(QString::fromUtf8(freshLog(c).mid(mark)))));
    QVERIFY2(traffic.failed == 0 && traffic.lost == 0, traffic.summary().constData());
    QCOMPARE(c.stopAgent(), 0);
}

QTEST_GUILESS_MAIN(TestAttackS12)
#include "tst_attack_s12.moc"
