// The stats collector: merging worker blocks, rates and shares, a reload that keeps counters,
// the history ring wrapping, the JSON shapes, SSE events and resumption, and Prometheus text
// (validated by promtool).
#include "agent/stats/collector.hpp"
#include "agent/stats/prometheus.hpp"
#include "agent/stats/sse.hpp"

#include <QtTest>

#include <memory>
#include <string>
#include <vector>

using namespace dlb::agent::stats;
using nlohmann::json;

namespace {

constexpr uint64_t kSecond = 1'000'000'000;
constexpr uint64_t kT0 = 1000 * kSecond;
constexpr std::size_t kWorkers = 2;

// Two workers, a Prequal pool "web" of two replicas and a round-robin pool "admin" of one.
struct Fixture {
    std::vector<std::unique_ptr<WorkerCounters>> workers;
    std::shared_ptr<PoolStats> web = std::make_shared<PoolStats>(kWorkers);
    std::shared_ptr<PoolStats> admin = std::make_shared<PoolStats>(kWorkers);
    std::shared_ptr<ReplicaStats> r1 = std::make_shared<ReplicaStats>(kWorkers);
    std::shared_ptr<ReplicaStats> r2 = std::make_shared<ReplicaStats>(kWorkers);
    std::shared_ptr<ReplicaStats> a1 = std::make_shared<ReplicaStats>(kWorkers);
    std::string r2_state = "healthy";
    std::unique_ptr<Collector> collector;

    Fixture()
    {
        std::vector<const WorkerCounters*> ptrs;
        for (std::size_t i = 0; i < kWorkers; ++i) {
            workers.push_back(std::make_unique<WorkerCounters>());
            ptrs.push_back(workers.back().get());
        }
        collector = std::make_unique<Collector>(ptrs);
        collector->setTopology(topology(1));
    }

    Topology topology(uint64_t generation, std::string web_name = "web")
    {
        Topology t;
        t.generation = generation;
        PoolView web_pool{web_name, "prequal", true, 16, web, {}};
        web_pool.replicas.push_back({"127.0.0.1:9001", "http://127.0.0.1:9001", 1, r1, [] { return std::string("healthy"); }});
        web_pool.replicas.push_back({"127.0.0.1:9002", "http://127.0.0.1:9002", 3, r2, [this] { return r2_state; }});
        PoolView admin_pool{"admin", "round_robin", false, 0, admin, {}};
        admin_pool.replicas.push_back({"127.0.0.1:9100", "http://127.0.0.1:9100", 1, a1, [] { return std::string("healthy"); }});
        t.pools.push_back(std::move(web_pool));
        t.pools.push_back(std::move(admin_pool));
        return t;
    }

    // `n` requests through worker `w` to replica `r`, each answered 200 after `us`.
    static void serve(WorkerCounters& w, ReplicaCounters& r, int n, uint64_t us)
    {
        for (int i = 0; i < n; ++i) {
            w.requests.add();
            r.requests.add();
            r.completed.add();
            r.responses.add();
            r.latency.recordUs(us);
            w.responses_2xx.add();
            w.requests_finished.add();
            w.latency.recordUs(us + 50);
        }
    }
};

std::string runPromtool(const std::string& text, int* exit_code)
{
    QProcess p;
    p.start("promtool", {"check", "metrics"});
    if (!p.waitForStarted(10'000)) {
        *exit_code = -1;
        return "promtool did not start";
    }
    p.write(text.data(), static_cast<qint64>(text.size()));
    p.closeWriteChannel();
    p.waitForFinished(30'000);
    *exit_code = p.exitStatus() == QProcess::NormalExit ? p.exitCode() : -1;
    return (p.readAllStandardOutput() + p.readAllStandardError()).toStdString();
}

} // namespace

class TstStatsCollector : public QObject {
    Q_OBJECT
private slots:
    void mergesWorkersAndComputesRates();
    void errorsByKindAndLocalAnswers();
    void prequalStandingRifAndPool();
    void statsJsonShape();
    void reloadKeepsCounters();
    void historyRingWraps();
    void historyJsonShape();
    void sseEventFormat();
    void lastEventIdIsStrict_data();
    void lastEventIdIsStrict();
    void sseResumesFromHistory();
    void sseReplayIsBounded();
    void latestEventIsSerialisedOncePerSample();
    void prometheusTextContent();
    void prometheusEscapesLabels();
    void prometheusPassesPromtool();
    void prometheusWithoutPools();
    void timerSamplesOnTheLoop();
};

// Counts of both workers add up; rates are per second of the actual interval; share is each
// replica's part of its pool's requests in that interval.
void TstStatsCollector::mergesWorkersAndComputesRates()
{
    Fixture f;
    f.collector->sample(kT0, 1.0e9);
    Fixture::serve(*f.workers[0], f.r1->slot(0), 30, 1000);
    Fixture::serve(*f.workers[1], f.r1->slot(1), 30, 1000);
    Fixture::serve(*f.workers[1], f.r2->slot(1), 20, 3000);
    f.collector->sample(kT0 + 2 * kSecond, 1.0e9 + 2);
    const json j = f.collector->statsJson();
    QCOMPARE(j["id"].get<uint64_t>(), uint64_t{2});
    QCOMPARE(j["interval_s"].get<double>(), 2.0);
    QCOMPARE(j["totals"]["requests"].get<uint64_t>(), uint64_t{80});
    QCOMPARE(j["rates"]["requests_per_s"].get<double>(), 40.0);
    QCOMPARE(j["totals"]["responses"]["2xx"].get<uint64_t>(), uint64_t{80});
    QCOMPARE(j["workers"][0]["requests"].get<uint64_t>(), uint64_t{30});
    QCOMPARE(j["workers"][1]["requests_per_s"].get<double>(), 25.0);
    const json& web = j["pools"][0];
    QCOMPARE(web["requests"].get<uint64_t>(), uint64_t{80});
    QCOMPARE(web["replicas"][0]["requests"].get<uint64_t>(), uint64_t{60});
    QCOMPARE(web["replicas"][0]["share"].get<double>(), 0.75);
    QCOMPARE(web["replicas"][1]["share"].get<double>(), 0.25);
    QCOMPARE(web["replicas"][1]["requests_per_s"].get<double>(), 10.0);
    // Interval latency: 60 samples at 1 ms and 20 at 3 ms → p50 about 1 ms, p90 about 3 ms.
    QVERIFY(std::abs(web["replicas"][0]["latency_ms"]["p99"].get<double>() - 1.0) < 0.02);
    QCOMPARE(web["replicas"][1]["latency_ms"]["count"].get<uint64_t>(), uint64_t{20});
    QVERIFY(std::abs(j["latency_ms"]["p50"].get<double>() - 1.05) < 0.02);
    QVERIFY(std::abs(j["latency_ms"]["p90"].get<double>() - 3.05) < 0.05);
    QCOMPARE(j["in_flight"].get<uint64_t>(), uint64_t{0});

    // The next interval has no traffic: rates and interval percentiles go to zero and null.
    f.collector->sample(kT0 + 3 * kSecond, 1.0e9 + 3);
    const json k = f.collector->statsJson();
    QCOMPARE(k["rates"]["requests_per_s"].get<double>(), 0.0);
    QVERIFY(k["latency_ms"]["p50"].is_null());
    QCOMPARE(k["totals"]["latency_ms"]["count"].get<uint64_t>(), uint64_t{80});
    QCOMPARE(k["pools"][0]["replicas"][0]["share"].get<double>(), 0.0);
}

void TstStatsCollector::errorsByKindAndLocalAnswers()
{
    Fixture f;
    f.collector->sample(kT0, 0);
    auto& w = *f.workers[0];
    auto& r = f.r2->slot(0);
    r.requests.add(5);
    r.completed.add(3); // two in flight
    r.countError(ErrorKind::Connect);
    r.countError(ErrorKind::Timeout);
    r.countError(ErrorKind::Status5xx);
    w.countError(ErrorKind::Connect);
    w.countError(ErrorKind::Timeout);
    w.countError(ErrorKind::Status5xx);
    w.countLocalAnswer(502);
    w.countLocalAnswer(502);
    w.countLocalAnswer(404);
    w.countLocalAnswer(200); // not a local error status: not counted
    w.responses_5xx.add(3);
    w.requests.add(4);
    w.requests_finished.add(3);
    f.collector->sample(kT0 + kSecond, 1);
    const json j = f.collector->statsJson();
    QCOMPARE(j["totals"]["errors"]["connect"].get<uint64_t>(), uint64_t{1});
    QCOMPARE(j["totals"]["errors"]["timeout"].get<uint64_t>(), uint64_t{1});
    QCOMPARE(j["totals"]["errors"]["5xx"].get<uint64_t>(), uint64_t{1});
    QCOMPARE(j["totals"]["errors"]["reset"].get<uint64_t>(), uint64_t{0});
    QCOMPARE(j["totals"]["errors"]["total"].get<uint64_t>(), uint64_t{3});
    QCOMPARE(j["totals"]["local_answers"], json({{"404", 1}, {"502", 2}}));
    QCOMPARE(j["rates"]["errors_per_s"].get<double>(), 3.0);
    QCOMPARE(j["rates"]["upstream_errors_per_s"].get<double>(), 3.0);
    QCOMPARE(j["in_flight"].get<uint64_t>(), uint64_t{1});
    const json& rj = j["pools"][0]["replicas"][1];
    QCOMPARE(rj["in_flight"].get<uint64_t>(), uint64_t{2});
    QCOMPARE(rj["errors"]["total"].get<uint64_t>(), uint64_t{3});
    QCOMPARE(rj["errors_per_s"].get<double>(), 3.0);
}

void TstStatsCollector::prequalStandingRifAndPool()
{
    Fixture f;
    // Worker 0 holds r1 hot and r2 cold; worker 1 holds r1 hot too. r2 reported RIF 4 on worker
    // 0, then 7 on worker 1 (fresher).
    f.r1->slot(0).standing.set(static_cast<uint64_t>(Standing::Hot));
    f.r1->slot(1).standing.set(static_cast<uint64_t>(Standing::Hot));
    f.r2->slot(0).standing.set(static_cast<uint64_t>(Standing::Cold));
    f.r2->slot(0).reported_rif.set(4);
    f.r2->slot(0).reported_rif_ns.set(kT0 - 2 * kSecond);
    f.r2->slot(1).reported_rif.set(7);
    f.r2->slot(1).reported_rif_ns.set(kT0 - kSecond / 2);
    f.r2->slot(1).probes_sent.add(10);
    f.r2->slot(1).probes_failed.add(2);
    f.web->slot(0).probe_pool_size.set(5);
    f.web->slot(1).probe_pool_size.set(3);
    f.web->slot(0).hot_threshold.set(2.0);
    f.web->slot(1).hot_threshold.set(4.0);
    f.web->slot(1).probes_sent.add(10);
    f.admin->slot(0).hot_threshold.set(-1);
    f.admin->slot(1).hot_threshold.set(-1);
    f.collector->sample(kT0, 0);
    const json j = f.collector->statsJson();
    const json& web = j["pools"][0];
    QCOMPARE(web["prequal"]["pool_size"].get<uint64_t>(), uint64_t{8});
    QCOMPARE(web["prequal"]["pool_capacity"].get<uint64_t>(), uint64_t{32});
    QCOMPARE(web["prequal"]["hot_threshold"].get<double>(), 3.0);
    QCOMPARE(web["prequal"]["probes_sent"].get<uint64_t>(), uint64_t{10});
    QCOMPARE(web["replicas"][0]["prequal"]["standing"], "hot");
    QCOMPARE(web["replicas"][0]["prequal"]["pool_entries"].get<unsigned>(), 2U);
    QCOMPARE(web["replicas"][1]["prequal"]["standing"], "cold");
    QCOMPARE(web["replicas"][1]["rif"].get<double>(), 7.0);
    QCOMPARE(web["replicas"][1]["rif_age_s"].get<double>(), 0.5);
    QCOMPARE(web["replicas"][1]["prequal"]["probes_sent"].get<uint64_t>(), uint64_t{10});
    QCOMPARE(web["replicas"][1]["prequal"]["probes_failed"].get<uint64_t>(), uint64_t{2});
    QVERIFY(web["replicas"][0]["rif"].is_null());
    // A pool that is not Prequal has no prequal object at all.
    QVERIFY(!j["pools"][1].contains("prequal"));
    QVERIFY(!j["pools"][1]["replicas"][0].contains("prequal"));
    f.r1->slot(0).standing.set(static_cast<uint64_t>(Standing::None));
    f.r1->slot(1).standing.set(static_cast<uint64_t>(Standing::None));
    f.collector->sample(kT0 + kSecond, 1);
    QCOMPARE(f.collector->statsJson()["pools"][0]["replicas"][0]["prequal"]["standing"], "none");
}

// Every documented field is there, with its type (docs/stats.md is written from this).
void TstStatsCollector::statsJsonShape()
{
    Fixture f;
    f.collector->sample(kT0, 1.7e9);
    const json j = f.collector->statsJson();
    for (const char* key : {"id", "time", "interval_s", "uptime_s", "generation", "in_flight", "connections_open"})
        QVERIFY2(j[key].is_number(), key);
    for (const char* key : {"requests", "retries", "connections_accepted", "probes_sent", "probes_failed"})
        QVERIFY2(j["totals"][key].is_number(), key);
    for (const char* key : {"2xx", "3xx", "4xx", "5xx"})
        QVERIFY2(j["totals"]["responses"][key].is_number(), key);
    for (const char* key : {"connect", "timeout", "reset", "malformed", "5xx", "total"})
        QVERIFY2(j["totals"]["errors"][key].is_number(), key);
    QVERIFY(j["totals"]["local_answers"].is_object());
    for (const char* key : {"requests_per_s", "responses_per_s", "errors_per_s", "upstream_errors_per_s"})
        QVERIFY2(j["rates"][key].is_number(), key);
    for (const char* key : {"count", "mean", "p50", "p90", "p99", "p999"})
        QVERIFY2(j["latency_ms"].contains(key), key);
    QCOMPARE(j["workers"].size(), kWorkers);
    QCOMPARE(j["pools"].size(), std::size_t{2});
    const json& pool = j["pools"][0];
    QCOMPARE(pool["name"], "web");
    QCOMPARE(pool["algorithm"], "prequal");
    for (const char* key : {"requests", "requests_per_s", "no_replica"})
        QVERIFY2(pool[key].is_number(), key);
    for (const char* key : {"pool_size", "pool_capacity", "probes_sent", "probes_failed"})
        QVERIFY2(pool["prequal"][key].is_number(), key);
    QVERIFY(pool["prequal"].contains("hot_threshold"));
    const json& r = pool["replicas"][1];
    QCOMPARE(r["id"], "127.0.0.1:9002");
    QCOMPARE(r["url"], "http://127.0.0.1:9002");
    QCOMPARE(r["state"], "healthy");
    QCOMPARE(r["weight"].get<unsigned>(), 3U);
    for (const char* key : {"in_flight", "requests", "responses", "requests_per_s", "errors_per_s", "share"})
        QVERIFY2(r[key].is_number(), key);
    QVERIFY(r.contains("rif") && r.contains("rif_age_s"));
    QVERIFY(r["latency_ms"].is_object() && r["errors"].is_object());
    for (const char* key : {"standing", "pool_entries", "probes_sent", "probes_failed"})
        QVERIFY2(r["prequal"].contains(key), key);
    f.r2_state = "unhealthy"; // read at every sample
    f.collector->sample(kT0 + kSecond, 1.7e9 + 1);
    QCOMPARE(f.collector->statsJson()["pools"][0]["replicas"][1]["state"], "unhealthy");
}

// A reload (new topology, same counter blocks) keeps totals and gives no rate spike; a replica
// that is new starts from its own zero.
void TstStatsCollector::reloadKeepsCounters()
{
    Fixture f;
    Fixture::serve(*f.workers[0], f.r1->slot(0), 100, 500);
    f.collector->sample(kT0, 0);
    Fixture::serve(*f.workers[0], f.r1->slot(0), 10, 500);
    f.collector->setTopology(f.topology(2));
    // Until the next sample, answers still describe the last one, whole: its generation with its
    // pools (a console must never see generation 2 with counts that were not read yet).
    const json between = f.collector->statsJson();
    QCOMPARE(between["generation"].get<uint64_t>(), uint64_t{1});
    QCOMPARE(between["pools"][0]["requests"].get<uint64_t>(), uint64_t{100});
    QCOMPARE(between["pools"][0]["replicas"][0]["requests"].get<uint64_t>(), uint64_t{100});
    f.collector->sample(kT0 + kSecond, 1);
    const json j = f.collector->statsJson();
    QCOMPARE(j["generation"].get<uint64_t>(), uint64_t{2});
    QCOMPARE(j["pools"][0]["replicas"][0]["requests"].get<uint64_t>(), uint64_t{110});
    QCOMPARE(j["pools"][0]["replicas"][0]["requests_per_s"].get<double>(), 10.0);
    QCOMPARE(j["pools"][0]["replicas"][0]["latency_ms"]["count"].get<uint64_t>(), uint64_t{10});
}

// 905 samples into a 900-point ring: the oldest five are gone, order is oldest first, and
// `seconds` picks the newest N.
void TstStatsCollector::historyRingWraps()
{
    Fixture f;
    for (uint64_t i = 0; i < kHistoryPoints + 5; ++i) {
        Fixture::serve(*f.workers[0], f.r1->slot(0), static_cast<int>(i % 7), 800);
        f.collector->sample(kT0 + i * kSecond, 1e9 + static_cast<double>(i));
    }
    const json all = f.collector->historyJson(static_cast<int>(kHistoryPoints));
    QCOMPARE(all["points"].size(), kHistoryPoints);
    QCOMPARE(all["points"][0]["id"].get<uint64_t>(), uint64_t{6});
    QCOMPARE(all["points"][kHistoryPoints - 1]["id"].get<uint64_t>(), uint64_t{kHistoryPoints + 5});
    for (std::size_t i = 1; i < kHistoryPoints; ++i)
        QCOMPARE(all["points"][i]["id"].get<uint64_t>(), all["points"][i - 1]["id"].get<uint64_t>() + 1);
    // Point id N saw (N-1) % 7 requests to r1 during its 1 s interval.
    const json& newest = all["points"][kHistoryPoints - 1];
    QCOMPARE(newest["pools"][0]["replicas"][0]["requests_per_s"].get<double>(), static_cast<double>((kHistoryPoints + 4) % 7));
    const json ten = f.collector->historyJson(10);
    QCOMPARE(ten["points"].size(), std::size_t{10});
    QCOMPARE(ten["points"][0]["id"].get<uint64_t>(), uint64_t{kHistoryPoints - 4});
    // Out-of-range requests are clamped here (the endpoint answers them 400 before asking).
    QCOMPARE(f.collector->historyJson(5000)["points"].size(), kHistoryPoints);
    QCOMPARE(f.collector->historyJson(0)["points"].size(), std::size_t{1});
}

void TstStatsCollector::historyJsonShape()
{
    Fixture f;
    f.collector->sample(kT0, 1e9);
    Fixture::serve(*f.workers[0], f.r2->slot(0), 4, 2000);
    f.r2->slot(0).standing.set(static_cast<uint64_t>(Standing::Hot));
    f.collector->sample(kT0 + kSecond, 1e9 + 1);
    const json h = f.collector->historyJson(60);
    QCOMPARE(h["interval_ms"].get<uint64_t>(), kSampleIntervalMs);
    QCOMPARE(h["seconds"].get<int>(), 60);
    QCOMPARE(h["points"].size(), std::size_t{2}); // only what exists so far
    const json& p = h["points"][1];
    QCOMPARE(p["id"].get<uint64_t>(), uint64_t{2});
    QCOMPARE(p["time"].get<double>(), 1e9 + 1);
    QCOMPARE(p["rates"]["requests_per_s"].get<double>(), 4.0);
    QVERIFY(p["latency_ms"]["p99"].is_number());
    QVERIFY(p["latency_ms"]["p999"].is_number());
    const json& r2 = p["pools"][0]["replicas"][1];
    QCOMPARE(r2["id"], "127.0.0.1:9002");
    QCOMPARE(r2["share"].get<double>(), 1.0);
    QCOMPARE(r2["prequal"]["standing"], "hot");
    QVERIFY(std::abs(r2["latency_ms"]["p50"].get<double>() - 2.0) < 0.04);
    QVERIFY(!p["pools"][1]["replicas"][0].contains("prequal"));
    // The first point had no interval: its percentiles are null, not zero.
    QVERIFY(h["points"][0]["latency_ms"]["p50"].is_null());
}

void TstStatsCollector::sseEventFormat()
{
    const std::string e = sseEvent(42, json{{"a", "line1\nline2"}, {"b", 1}});
    QCOMPARE(QString::fromStdString(e), QString("id: 42\nevent: stats\ndata: {\"a\":\"line1\\nline2\",\"b\":1}\n\n"));
    // Exactly one data line: a newline inside a string must not split the event.
    QCOMPARE(std::count(e.begin(), e.end(), '\n'), 4L);
}

void TstStatsCollector::lastEventIdIsStrict_data()
{
    QTest::addColumn<QString>("value");
    QTest::addColumn<bool>("valid");
    QTest::addColumn<quint64>("id");
    QTest::newRow("plain") << "17" << true << quint64{17};
    QTest::newRow("zero") << "0" << true << quint64{0};
    QTest::newRow("max") << "18446744073709551615" << true << quint64{18446744073709551615ULL};
    QTest::newRow("overflow") << "18446744073709551616" << false << quint64{0};
    QTest::newRow("empty") << "" << false << quint64{0};
    QTest::newRow("negative") << "-1" << false << quint64{0};
    QTest::newRow("plus") << "+1" << false << quint64{0};
    QTest::newRow("space") << " 1" << false << quint64{0};
    QTest::newRow("trailing") << "1x" << false << quint64{0};
    QTest::newRow("hex") << "0x10" << false << quint64{0};
}

void TstStatsCollector::lastEventIdIsStrict()
{
    QFETCH(QString, value);
    QFETCH(bool, valid);
    QFETCH(quint64, id);
    const auto parsed = parseLastEventId(value.toStdString());
    QCOMPARE(parsed.has_value(), valid);
    if (valid)
        QCOMPARE(*parsed, uint64_t{id});
}

// A reconnecting client gets the retry field, then every point after its Last-Event-ID; a new
// one gets the newest sample in full.
void TstStatsCollector::sseResumesFromHistory()
{
    Fixture f;
    for (uint64_t i = 0; i < 10; ++i)
        f.collector->sample(kT0 + i * kSecond, 1e9 + static_cast<double>(i));
    const std::string resumed = sseOpening(*f.collector, "7");
    QVERIFY(resumed.starts_with("retry: 2000\n\n"));
    QVERIFY(resumed.find("id: 8\nevent: stats\n") != std::string::npos);
    QVERIFY(resumed.find("id: 9\n") != std::string::npos);
    QVERIFY(resumed.find("id: 10\n") != std::string::npos);
    QVERIFY(resumed.find("id: 7\n") == std::string::npos);
    QCOMPARE(f.collector->eventsSince(10), std::string());
    // Every event's data parses as JSON.
    std::size_t at = 0, events = 0;
    while ((at = resumed.find("data: ", at)) != std::string::npos) {
        const std::size_t end = resumed.find('\n', at);
        const json data = json::parse(resumed.substr(at + 6, end - at - 6));
        QVERIFY(data.contains("pools"));
        at = end;
        ++events;
    }
    QCOMPARE(events, std::size_t{3});

    const std::string fresh = sseOpening(*f.collector, "");
    QVERIFY(fresh.starts_with("retry: 2000\n\nid: 10\nevent: stats\ndata: {"));
    QVERIFY(fresh.find("\"totals\"") != std::string::npos); // the full statsJson form
    // A Last-Event-ID that does not parse is ignored, as if absent; so is one from an agent that
    // ran before this one (ids past the newest sample).
    QCOMPARE(sseOpening(*f.collector, "abc"), fresh);
    QCOMPARE(sseOpening(*f.collector, "11"), fresh);
    QCOMPARE(sseOpening(*f.collector, "10"), std::string("retry: 2000\n\n")); // up to date: nothing to replay
}

// A replay larger than the budget sends the newest events that fit, oldest first. Unbounded, a
// 15-minute replay of a large pool went past what a control connection may queue (4 MiB): the
// stream closed as it opened and the client reconnected with the same Last-Event-ID for ever.
void TstStatsCollector::sseReplayIsBounded()
{
    Fixture f;
    for (uint64_t i = 0; i < 10; ++i)
        f.collector->sample(kT0 + i * kSecond, 1e9 + static_cast<double>(i));
    const std::string newestThree = f.collector->eventsSince(7);
    const std::string newestTwo = f.collector->eventsSince(8);
    QVERIFY(newestThree.size() > newestTwo.size() && !newestTwo.empty());
    QCOMPARE(f.collector->eventsSince(0, newestThree.size()), newestThree);
    QCOMPARE(f.collector->eventsSince(0, newestThree.size() - 1), newestTwo);
    QCOMPARE(f.collector->eventsSince(0, 0), std::string());
    QCOMPARE(f.collector->eventsSince(0).size(), f.collector->eventsSince(0, SIZE_MAX).size());
    QCOMPARE(sseOpening(*f.collector, "1", newestThree.size()), "retry: 2000\n\n" + newestThree);
    QVERIFY(kMaxSseReplayBytes < 4 * 1024 * 1024);
}

void TstStatsCollector::latestEventIsSerialisedOncePerSample()
{
    Fixture f;
    QVERIFY(!f.collector->latestEvent());
    f.collector->sample(kT0, 0);
    const auto a = f.collector->latestEvent();
    QVERIFY(a);
    QCOMPARE(f.collector->latestEvent().get(), a.get()); // shared, not serialised again
    f.collector->sample(kT0 + kSecond, 1);
    const auto b = f.collector->latestEvent();
    QVERIFY(b.get() != a.get());
    QVERIFY(b->starts_with("id: 2\n"));
    QVERIFY(a->starts_with("id: 1\n")); // a stream still sending the old one keeps it valid
}

void TstStatsCollector::prometheusTextContent()
{
    Fixture f;
    f.collector->sample(kT0, 0);
    Fixture::serve(*f.workers[0], f.r1->slot(0), 7, 40); // 40 µs: below the 64 µs bound
    Fixture::serve(*f.workers[1], f.r1->slot(1), 3, 5000);
    f.r2->slot(0).countError(ErrorKind::Reset);
    f.workers[0]->countLocalAnswer(503);
    f.collector->sample(kT0 + kSecond, 1);
    const std::string text = f.collector->prometheusText();
    const auto has = [&text](const std::string& line) {
        return text.find("\n" + line + "\n") != std::string::npos;
    };
    QVERIFY(has("# TYPE dlb_requests_total counter"));
    QVERIFY(has("dlb_requests_total 10"));
    QVERIFY(has("dlb_local_responses_total{status=\"503\"} 1"));
    QVERIFY(has("# TYPE dlb_replica_requests_total counter"));
    QVERIFY(has("dlb_replica_requests_total{pool=\"web\",replica=\"127.0.0.1:9001\"} 10"));
    QVERIFY(has("dlb_replica_errors_total{pool=\"web\",replica=\"127.0.0.1:9002\",kind=\"reset\"} 1"));
    QVERIFY(has("# TYPE dlb_replica_latency_seconds histogram"));
    QVERIFY(has("dlb_replica_latency_seconds_bucket{pool=\"web\",replica=\"127.0.0.1:9001\",le=\"0.000032\"} 0"));
    QVERIFY(has("dlb_replica_latency_seconds_bucket{pool=\"web\",replica=\"127.0.0.1:9001\",le=\"0.000064\"} 7"));
    QVERIFY(has("dlb_replica_latency_seconds_bucket{pool=\"web\",replica=\"127.0.0.1:9001\",le=\"0.008192\"} 10"));
    QVERIFY(has("dlb_replica_latency_seconds_bucket{pool=\"web\",replica=\"127.0.0.1:9001\",le=\"+Inf\"} 10"));
    QVERIFY(has("dlb_replica_latency_seconds_sum{pool=\"web\",replica=\"127.0.0.1:9001\"} 0.01528"));
    QVERIFY(has("dlb_replica_latency_seconds_count{pool=\"web\",replica=\"127.0.0.1:9001\"} 10"));
    QVERIFY(has("dlb_replica_weight{pool=\"web\",replica=\"127.0.0.1:9002\"} 3"));
    QVERIFY(has("dlb_replica_state{pool=\"web\",replica=\"127.0.0.1:9002\",state=\"healthy\"} 1"));
    // Probes are a Prequal thing: the round-robin pool's replica has no probe series.
    QVERIFY(text.find("dlb_replica_probes_sent_total{pool=\"admin\"") == std::string::npos);
    QVERIFY(text.find("dlb_replica_probes_sent_total{pool=\"web\"") != std::string::npos);
    QVERIFY(text.ends_with("\n"));
    QCOMPARE(secondsFromUs(60'000'000), std::string("60"));
    QCOMPARE(secondsFromUs(67'108'864), std::string("67.108864"));
    QCOMPARE(secondsFromUs(1'500), std::string("0.0015"));
}

void TstStatsCollector::prometheusEscapesLabels()
{
    QCOMPARE(escapeLabelValue("a\"b\\c\nd"), std::string("a\\\"b\\\\c\\nd"));
    QCOMPARE(escapeHelp("x\\y\nz\""), std::string("x\\\\y\\nz\""));
    Fixture f;
    f.collector->setTopology(f.topology(2, "we\"b\\\n"));
    f.collector->sample(kT0, 0);
    const std::string text = f.collector->prometheusText();
    QVERIFY(text.find("dlb_replica_requests_total{pool=\"we\\\"b\\\\\\n\",replica=\"127.0.0.1:9001\"} 0\n") != std::string::npos);
    int rc = 0;
    const std::string out = runPromtool(text, &rc);
    QVERIFY2(rc == 0, out.c_str());
}

// The whole exposition, with traffic, errors and Prequal data, passes `promtool check metrics`
// (format and lint). promtool comes with Debian's prometheus package (scripts/install-deps.sh);
// without it this test fails: a check that silently did not run would hide a broken /metrics.
void TstStatsCollector::prometheusPassesPromtool()
{
    Fixture f;
    f.collector->sample(kT0, 0);
    Fixture::serve(*f.workers[0], f.r1->slot(0), 50, 900);
    Fixture::serve(*f.workers[1], f.a1->slot(1), 5, 120'000'000);
    f.r2->slot(1).countError(ErrorKind::Malformed);
    f.r2->slot(1).reported_rif.set(3);
    f.r2->slot(1).reported_rif_ns.set(kT0);
    f.r1->slot(0).standing.set(static_cast<uint64_t>(Standing::Cold));
    f.web->slot(0).hot_threshold.set(2.5);
    f.workers[1]->countLocalAnswer(404);
    f.collector->sample(kT0 + kSecond, 1);
    const std::string text = f.collector->prometheusText();
    int rc = 0;
    const std::string out = runPromtool(text, &rc);
    QVERIFY2(rc != -1, "promtool is not installed: run scripts/install-deps.sh (Debian package prometheus)");
    QVERIFY2(rc == 0, (out + "\n--- exposition ---\n" + text.substr(0, 4000)).c_str());
}

// An agent with no pool yet (they can all be added through the API): families without samples
// are left out whole, and what remains still passes promtool.
void TstStatsCollector::prometheusWithoutPools()
{
    WorkerCounters w;
    Collector collector({&w});
    collector.setTopology({});
    collector.sample(kT0, 0);
    const std::string text = collector.prometheusText();
    QVERIFY(text.find("dlb_replica_") == std::string::npos);
    QVERIFY(text.find("dlb_pool_") == std::string::npos);
    QVERIFY(text.find("dlb_requests_total 0\n") != std::string::npos);
    int rc = 0;
    const std::string out = runPromtool(text, &rc);
    QVERIFY2(rc == 0, out.c_str());
    QCOMPARE(collector.statsJson()["pools"].size(), std::size_t{0});
}

// start() samples at once, then every second, on the given loop; stop() closes the timer so the
// loop can end.
void TstStatsCollector::timerSamplesOnTheLoop()
{
    Fixture f;
    uv_loop_t loop;
    QCOMPARE(uv_loop_init(&loop), 0);
    int samples = 0;
    f.collector->onSample([&] {
        ++samples;
        f.collector->stop();
    });
    f.collector->start(&loop);
    QCOMPARE(uv_run(&loop, UV_RUN_DEFAULT), 0); // ends once stop() closed the timer
    QCOMPARE(samples, 1);
    QCOMPARE(f.collector->lastId(), uint64_t{1});
    QCOMPARE(uv_loop_close(&loop), 0);
}

QTEST_APPLESS_MAIN(TstStatsCollector)
#include "tst_stats_collector.moc"
