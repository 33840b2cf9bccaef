// The steering half's logic without widgets or network: reading the agent's pools and health
// results strictly, the requests each action sends (paths escaped, If-Match), the add dialog's
// and the algorithm form's checks (the agent's own rules and words), the replica table model
// (QAbstractItemModelTester), and the controller's flow over a fake transport.
#include "fake_transport.hpp"
#include "models/algorithm_form.hpp"
#include "models/steer_controller.hpp"
#include "models/steer_pools.hpp"
#include "models/steer_replicas_model.hpp"

#include <QAbstractItemModelTester>
#include <QJsonArray>
#include <QSignalSpy>
#include <QTest>

using namespace dlb::console;
using dlb::console::test::FakeTransport;
using dlb::console::test::poolsJson;
using dlb::console::test::replicaJson;

class TstConsoleSteerModels : public QObject {
    Q_OBJECT
private slots:
    void parsePoolsReadsTheAgentsShape();
    void parsePoolsRefusesWrongTypes_data();
    void parsePoolsRefusesWrongTypes();
    void parseHealthResults();
    void requestsEscapeIdsAndCarryIfMatch();
    void checkNewReplica_data();
    void checkNewReplica();
    void maySteerByRole();
    void algorithmFormStartsFromWhatRuns();
    void algorithmFormRefusesWhatTheAgentRefuses_data();
    void algorithmFormRefusesWhatTheAgentRefuses();
    void algorithmFormFieldOfPath();
    void replicasModel();
    void controllerRefreshesAfterEachWrite();
    void controllerDropsAnswersOfAPreviousAgent();
    void controllerReportsHealthResults();
    void controllerRereadsWhileReplicasDrain();
    void outcomeOfAStaleWriteSaysReload();
};

void TstConsoleSteerModels::parsePoolsReadsTheAgentsShape()
{
    QString why;
    auto snap = parsePools(poolsJson(7, {replicaJson("127.0.0.1:9001", "healthy", 3)}), &why);
    QVERIFY2(snap, qPrintable(why));
    QCOMPARE(snap->generation, 7);
    QCOMPARE(snap->pools.size(), 2);
    const PoolInfo* web = snap->find("web");
    QVERIFY(web);
    QCOMPARE(web->algorithm.name, QString("prequal"));
    QCOMPARE(web->algorithm.params.value("q_rif"), 0.9);
    QCOMPARE(web->replicas.size(), 1);
    QCOMPARE(web->replicas[0].weight, 3);
    QCOMPARE(web->replicas[0].inFlight, 2);
    QVERIFY(!web->replicas[0].rif.has_value());
    QCOMPARE(web->replicas[0].latencyMs.value_or(0), 1.5);
    QCOMPARE(snap->find("admin")->algorithm.hashKey, QString("path"));
    QVERIFY(!snap->find("nope"));
}

void TstConsoleSteerModels::parsePoolsRefusesWrongTypes_data()
{
    QTest::addColumn<QString>("key");
    QTest::addColumn<QJsonValue>("value");
    QTest::addColumn<QString>("where");
    QTest::newRow("weight string") << "weight" << QJsonValue("1") << "pools[0].replica.weight";
    QTest::newRow("weight fraction") << "weight" << QJsonValue(1.5) << "pools[0].replica.weight";
    QTest::newRow("in_flight negative") << "in_flight" << QJsonValue(-1) << "pools[0].replica.in_flight";
    QTest::newRow("id missing") << "id" << QJsonValue(QJsonValue::Undefined) << "pools[0].replica.id";
    QTest::newRow("rif string") << "rif" << QJsonValue("3") << "pools[0].replica.rif";
}

void TstConsoleSteerModels::parsePoolsRefusesWrongTypes()
{
    QFETCH(QString, key);
    QFETCH(QJsonValue, value);
    QFETCH(QString, where);
    QJsonObject replica = replicaJson("127.0.0.1:9001", "healthy");
    if (value.isUndefined())
        replica.remove(key);
    else
        replica.insert(key, value);
    QString why;
    QVERIFY(!parsePools(poolsJson(1, {replica}), &why));
    QVERIFY2(why.startsWith(where + ": "), qPrintable(why));

    QVERIFY(!parsePools(QJsonObject{{"pools", QJsonArray{}}}, &why));
    QCOMPARE(why, QString("pools answer.generation: expected a whole number"));
}

void TstConsoleSteerModels::parseHealthResults()
{
    const QJsonObject answer{
        {"generation", 4},
        {"pool", "web"},
        {"results", QJsonArray{QJsonObject{{"id", "a:1"}, {"url", "http://a:1"}, {"ok", true}, {"status", 200},
                                           {"reason", ""}, {"state", "healthy"}},
                               QJsonObject{{"id", "b:2"}, {"url", "http://b:2"}, {"ok", false}, {"status", 0},
                                           {"reason", "connect: connection refused"}, {"state", "pending"}}}}};
    QString why;
    auto results = dlb::console::parseHealthResults(answer, &why);
    QVERIFY2(results, qPrintable(why));
    QCOMPARE(results->size(), 2);
    QVERIFY(results->at(0).ok);
    QCOMPARE(results->at(1).reason, QString("connect: connection refused"));
    QJsonObject bad = answer;
    bad["results"] = QJsonArray{QJsonObject{{"id", "a:1"}, {"ok", "yes"}}};
    QVERIFY(!dlb::console::parseHealthResults(bad, &why));
    QCOMPARE(why, QString("results[0].ok: expected true or false"));
}

void TstConsoleSteerModels::requestsEscapeIdsAndCarryIfMatch()
{
    // The agent's own example: [::1]:9001 travels as %5B::1%5D:9001; a '/' can never split it.
    const SteerRequest remove = steer::removeReplica("web", "[::1]:9001");
    QCOMPARE(remove.method, QByteArray("DELETE"));
    QCOMPARE(remove.path, QString("/v1/pools/web/replicas/%5B::1%5D:9001"));
    QVERIFY(!remove.hasBody);
    QCOMPARE(steer::drainReplica("a b", "x/y").path, QString("/v1/pools/a%20b/replicas/x%2Fy/drain"));
    const SteerRequest add = steer::addReplica("web", "http://127.0.0.1:9003", 2);
    QCOMPARE(add.method, QByteArray("POST"));
    QCOMPARE(add.path, QString("/v1/pools/web/replicas"));
    QCOMPARE(add.body, (QJsonObject{{"url", "http://127.0.0.1:9003"}, {"weight", 2}}));
    QCOMPARE(steer::addReplica("web", "http://h:1", 1, "mine").body.value("id").toString(), QString("mine"));
    const SteerRequest weight = steer::setWeight("web", "127.0.0.1:9001", 5, 12);
    QCOMPARE(weight.method, QByteArray("PUT"));
    QCOMPARE(weight.path, QString("/v1/pools/web/replicas/127.0.0.1:9001/weight"));
    QCOMPARE(weight.ifMatch, QByteArray("12"));
    QCOMPARE(weight.body, (QJsonObject{{"weight", 5}}));
    QCOMPARE(steer::healthCheck("web").path, QString("/v1/pools/web/health-check"));
    QCOMPARE(steer::listPools().method, QByteArray("GET"));
}

void TstConsoleSteerModels::checkNewReplica_data()
{
    QTest::addColumn<QString>("url");
    QTest::addColumn<qint64>("weight");
    QTest::addColumn<QString>("id");
    QTest::addColumn<QString>("field");
    QTest::addColumn<QString>("reason");
    QTest::newRow("ok") << "http://127.0.0.1:9001" << qint64(1) << "" << "" << "";
    QTest::newRow("ok https v6 id") << "https://[::1]:9443/" << qint64(1000000) << "v6" << "" << "";
    QTest::newRow("empty") << "" << qint64(1) << "" << "url" << "must not be empty";
    QTest::newRow("no scheme") << "127.0.0.1:9001" << qint64(1) << "" << "url"
                               << "must be an http:// or https:// URL, as in http://127.0.0.1:9001";
    QTest::newRow("scheme") << "ftp://h:1" << qint64(1) << "" << "url"
                            << "only http:// and https:// replicas are supported, got \"ftp://\"";
    QTest::newRow("path") << "http://h:1/api" << qint64(1) << "" << "url"
                          << "must not have a path, query or fragment, got \"/api\"";
    QTest::newRow("userinfo") << "http://u@h:1" << qint64(1) << "" << "url" << "must not contain user information";
    QTest::newRow("weight 0") << "http://h:1" << qint64(0) << "" << "weight" << "";
    QTest::newRow("weight over") << "http://h:1" << qint64(1000001) << "" << "weight" << "";
    QTest::newRow("id slash") << "http://h:1" << qint64(1) << "a/b" << "id" << "must not contain \"/\", got \"a/b\"";
}

void TstConsoleSteerModels::checkNewReplica()
{
    QFETCH(QString, url);
    QFETCH(qint64, weight);
    QFETCH(QString, id);
    QFETCH(QString, field);
    QFETCH(QString, reason);
    const QMap<QString, QString> errors = dlb::console::checkNewReplica(url, weight, id);
    if (field.isEmpty()) {
        QVERIFY2(errors.isEmpty(), qPrintable(errors.values().join("; ")));
        return;
    }
    QVERIFY2(errors.contains(field), qPrintable(errors.keys().join(",")));
    if (!reason.isEmpty())
        QCOMPARE(errors.value(field), reason);
}

void TstConsoleSteerModels::maySteerByRole()
{
    QVERIFY(maySteer("admin"));
    QVERIFY(maySteer("operator"));
    QVERIFY(!maySteer("viewer"));
    QVERIFY(!maySteer(""));
    QVERIFY(!maySteer("Admin"));
}

void TstConsoleSteerModels::algorithmFormStartsFromWhatRuns()
{
    auto snap = parsePools(poolsJson(5, {}), nullptr);
    QVERIFY(snap);
    AlgorithmForm form;
    form.load("web", snap->find("web")->algorithm, snap->generation);
    QCOMPARE(form.algorithm(), QString("prequal"));
    QCOMPARE(form.value("q_rif"), 0.9);
    QVERIFY(!form.changed());
    QVERIFY(form.errors().isEmpty());
    const SteerRequest request = form.request();
    QCOMPARE(request.method, QByteArray("PUT"));
    QCOMPARE(request.path, QString("/v1/pools/web/algorithm"));
    QCOMPARE(request.ifMatch, QByteArray("5"));
    QCOMPARE(request.body.value("name").toString(), QString("prequal"));
    QCOMPARE(request.body.value("params").toObject().value("q_rif").toDouble(), 0.9);
    QVERIFY(!request.body.contains("hash_key"));

    form.resetToDefaults();
    QCOMPARE(form.value("q_rif"), 0.84);
    QVERIFY(form.changed());
    form.setAlgorithm("least_request");
    QCOMPARE(form.value("choice_count"), 2.0);
    QCOMPARE(form.body().value("params").toObject().keys(), (QStringList{"active_request_bias", "choice_count"}));
    // Back to the running algorithm: its running values, not the defaults.
    form.setAlgorithm("prequal");
    QCOMPARE(form.value("q_rif"), 0.9);
    QVERIFY(!form.changed());

    form.load("admin", snap->find("admin")->algorithm, snap->generation);
    QCOMPARE(form.hashKey(), QString("path"));
    QCOMPARE(form.body().value("hash_key").toString(), QString("path"));
    form.setAlgorithm("ring_hash");
    QCOMPARE(form.hashKey(), QString("client"));
    form.setAlgorithm("random");
    QVERIFY(form.body().value("params").toObject().isEmpty());
    QVERIFY(form.errors().isEmpty());
}

void TstConsoleSteerModels::algorithmFormRefusesWhatTheAgentRefuses_data()
{
    QTest::addColumn<QString>("algorithm");
    QTest::addColumn<QString>("field");
    QTest::addColumn<double>("value");
    QTest::addColumn<QString>("reason");
    // The reasons are the agent's words (common/algorithm_params.cpp, config.cpp).
    QTest::newRow("q_rif over") << "prequal" << "q_rif" << 1.7 << "must be in [0,1], got 1.7";
    QTest::newRow("delta exclusive min") << "prequal" << "delta" << 0.0 << "must be in (0,100], got 0";
    QTest::newRow("pool_size fraction") << "prequal" << "pool_size" << 2.5 << "must be a whole number, got 2.5";
    QTest::newRow("maglev not prime") << "maglev" << "table_size" << 65536.0 << "must be a prime number, got 65536";
    QTest::newRow("ring min over max") << "ring_hash" << "min_ring_size" << 9000000.0
                                       << "must be in [64,8388608], got 9000000";
    QTest::newRow("ring min above max") << "ring_hash" << "min_ring_size" << 8388608.0 << "";
}

void TstConsoleSteerModels::algorithmFormRefusesWhatTheAgentRefuses()
{
    QFETCH(QString, algorithm);
    QFETCH(QString, field);
    QFETCH(double, value);
    QFETCH(QString, reason);
    AlgorithmForm form;
    form.load("web", AlgorithmInfo{"round_robin", {}, {}}, 1);
    form.setAlgorithm(algorithm);
    QVERIFY(form.errors().isEmpty());
    form.setValue(field, value);
    if (reason.isEmpty()) {
        // min_ring_size at 8388608 is in range, but above max_ring_size once that is lowered.
        form.setValue("max_ring_size", 1024);
        QCOMPARE(form.errors().value(field), QString("must not exceed max_ring_size (1024), got 8388608"));
        return;
    }
    QCOMPARE(form.errors().value(field), reason);
    QCOMPARE(form.errors().size(), 1);
}

void TstConsoleSteerModels::algorithmFormFieldOfPath()
{
    QCOMPARE(AlgorithmForm::fieldOfPath("params.q_rif"), QString("q_rif"));
    QCOMPARE(AlgorithmForm::fieldOfPath("q_rif"), QString("q_rif"));
    QCOMPARE(AlgorithmForm::fieldOfPath("hash_key"), QString("hash_key"));
    QCOMPARE(AlgorithmForm::fieldOfPath("name"), QString("name"));
    QCOMPARE(AlgorithmForm::fieldOfPath("params.nonsense"), QString());
    QCOMPARE(AlgorithmForm::fieldOfPath(""), QString());

    AlgorithmForm form;
    form.load("admin", AlgorithmInfo{"maglev", {{"table_size", 65537}}, "client"}, 1);
    form.setHashKey("header:");
    QCOMPARE(form.errors().value("hash_key"), QString("must be \"client\", \"path\" or \"header:<name>\", got \"header:\""));
    form.setHashKey("header:X-User");
    QVERIFY(form.errors().isEmpty());
}

void TstConsoleSteerModels::replicasModel()
{
    SteerReplicasModel model;
    QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
    auto snap = parsePools(poolsJson(1, {replicaJson("127.0.0.1:9001", "healthy", 2),
                                         replicaJson("127.0.0.1:9002", "unhealthy")}),
                           nullptr);
    QVERIFY(snap);
    model.setReplicas(snap->find("web")->replicas);
    QCOMPARE(model.rowCount(), 2);
    QCOMPARE(model.columnCount(), int(SteerReplicasModel::ColumnCount));
    QCOMPARE(model.index(0, SteerReplicasModel::Weight).data().toLongLong(), 2);
    QCOMPARE(model.index(1, SteerReplicasModel::State).data().toString(), QString("unhealthy"));
    QCOMPARE(model.index(1, 0).data(SteerReplicasModel::ReplicaIdRole).toString(), QString("127.0.0.1:9002"));
    QCOMPARE(model.index(0, SteerReplicasModel::LastCheck).data().toString(), QString());
    QCOMPARE(model.headerData(SteerReplicasModel::InFlight, Qt::Horizontal).toString(), QString("In flight"));

    QSignalSpy changed(&model, &QAbstractItemModel::dataChanged);
    model.setHealthResults({{"127.0.0.1:9001", "http://127.0.0.1:9001", true, 200, "", "healthy"},
                            {"127.0.0.1:9002", "http://127.0.0.1:9002", false, 0, "connect: connection refused",
                             "unhealthy"}});
    QCOMPARE(changed.size(), 1);
    QCOMPARE(model.index(0, SteerReplicasModel::LastCheck).data().toString(), QString("passed (200)"));
    QCOMPARE(model.index(1, SteerReplicasModel::LastCheck).data().toString(),
             QString("failed: connect: connection refused"));
    // A re-read keeps the results of the replicas still there, and drops the others'.
    model.setReplicas({snap->find("web")->replicas.at(1)});
    QCOMPARE(model.rowOf("127.0.0.1:9002"), 0);
    QCOMPARE(model.rowOf("127.0.0.1:9001"), -1);
    QCOMPARE(model.index(0, SteerReplicasModel::LastCheck).data().toString(),
             QString("failed: connect: connection refused"));
    model.setReplicas(snap->find("web")->replicas);
    QCOMPARE(model.index(0, SteerReplicasModel::LastCheck).data().toString(), QString());
    model.clearHealthResults();
    QCOMPARE(model.index(1, SteerReplicasModel::LastCheck).data().toString(), QString());
    model.setReplicas({});
    QCOMPARE(model.rowCount(), 0);
    QVERIFY(!model.replica(0));
}

void TstConsoleSteerModels::controllerRefreshesAfterEachWrite()
{
    FakeTransport fake;
    SteerController controller(fake.transport());
    QSignalSpy pools(&controller, &SteerController::poolsChanged);
    QSignalSpy finished(&controller, &SteerController::finished);
    QSignalSpy busy(&controller, &SteerController::busyChanged);
    controller.refresh();
    QCOMPARE(fake.count(), 1);
    QCOMPARE(fake.request().path, QString("/v1/pools"));
    QCOMPARE(controller.pending(), 1);
    fake.answer(200, poolsJson(3, {replicaJson("127.0.0.1:9001", "healthy")}));
    QCOMPARE(pools.size(), 1);
    QVERIFY(controller.loaded());
    QCOMPARE(controller.pools().generation, 3);
    QCOMPARE(busy.size(), 2);

    QSignalSpy applied(&controller, &SteerController::changeApplied);
    controller.setWeight("web", "127.0.0.1:9001", 4);
    QCOMPARE(fake.request().ifMatch, QByteArray("3"));
    fake.answer(200, QJsonObject{{"generation", 4}, {"replica", replicaJson("127.0.0.1:9001", "healthy", 4)}});
    // What goes to the audit log: the action, what was sent, the generation it made.
    QCOMPARE(applied.size(), 1);
    QCOMPARE(applied.at(0).at(0).toString(), QString("replica.weight"));
    QCOMPARE(applied.at(0).at(1).toString(),
             QString(R"(pool web: PUT /v1/pools/web/replicas/127.0.0.1:9001/weight {"weight":4} -> generation 4)"));
    QCOMPARE(finished.size(), 1);
    QCOMPARE(finished.at(0).at(0).value<SteerController::Action>(), SteerController::Action::Weight);
    // The write is followed by a read of what it changed.
    QCOMPARE(fake.count(), 1);
    QCOMPARE(fake.request().path, QString("/v1/pools"));
    fake.answer(200, poolsJson(4, {replicaJson("127.0.0.1:9001", "healthy", 4)}));
    QCOMPARE(controller.pools().find("web")->replicas[0].weight, 4);

    // A 409 says the agent holds something this console has not seen: it is read again.
    controller.addReplica("web", "http://127.0.0.1:9001", 1);
    fake.refuse(409, "replica_exists", "pool web has a replica with id 127.0.0.1:9001 already");
    QCOMPARE(fake.count(), 1);
    QCOMPARE(fake.request().path, QString("/v1/pools"));
    fake.answer(200, poolsJson(4, {replicaJson("127.0.0.1:9001", "healthy", 4)}));
    // Any other refusal changes nothing, so nothing is read again.
    controller.removeReplica("web", "nope:1");
    fake.refuse(404, "unknown_replica", "pool web has no replica nope:1");
    QCOMPARE(fake.count(), 0);
    const auto reply = finished.last().at(3).value<SteerReply>();
    QCOMPARE(reply.code, QString("unknown_replica"));
    QCOMPARE(applied.size(), 1); // refusals changed nothing: nothing to audit

    // A broken answer is said, not taken as an empty agent.
    QSignalSpy failed(&controller, &SteerController::refreshFailed);
    controller.refresh();
    fake.answer(200, QJsonObject{{"generation", 5}});
    QCOMPARE(failed.size(), 1);
    QVERIFY2(failed.at(0).at(0).toString().contains("pools answer.pools: expected an array"),
             qPrintable(failed.at(0).at(0).toString()));
    QCOMPARE(controller.pools().generation, 4);
}

void TstConsoleSteerModels::controllerDropsAnswersOfAPreviousAgent()
{
    FakeTransport first;
    FakeTransport second;
    SteerController controller(first.transport());
    QSignalSpy pools(&controller, &SteerController::poolsChanged);
    controller.refresh();
    controller.setTransport(second.transport());
    QCOMPARE(pools.size(), 1); // the switch itself: nothing is known of the new agent yet
    QCOMPARE(controller.pending(), 0);
    first.answer(200, poolsJson(9, {}));
    QCOMPARE(pools.size(), 1);
    QVERIFY(!controller.loaded());
    controller.setTransport({});
    QSignalSpy finished(&controller, &SteerController::finished);
    controller.healthCheck("web");
    QCOMPARE(finished.size(), 1);
    QVERIFY(finished.at(0).at(3).value<SteerReply>().message.contains("no agent is chosen"));
}

void TstConsoleSteerModels::controllerReportsHealthResults()
{
    FakeTransport fake;
    SteerController controller(fake.transport());
    QSignalSpy checked(&controller, &SteerController::healthChecked);
    QSignalSpy finished(&controller, &SteerController::finished);
    controller.healthCheck("web");
    QCOMPARE(fake.request().method, QByteArray("POST"));
    fake.answer(200, QJsonObject{{"generation", 1},
                                 {"pool", "web"},
                                 {"results", QJsonArray{QJsonObject{{"id", "a:1"}, {"url", "http://a:1"}, {"ok", false},
                                                                    {"status", 503}, {"reason", "status 503"},
                                                                    {"state", "pending"}}}}});
    QCOMPARE(checked.size(), 1);
    QCOMPARE(checked.at(0).at(1).value<QList<HealthResult>>().at(0).status, 503);
    const auto reply = finished.at(0).at(3).value<SteerReply>();
    QCOMPARE(describeOutcome(SteerController::Action::HealthCheck, "web", {}, reply),
             QString("Health check of web: 0 passed, 1 failed."));
    QCOMPARE(fake.request().path, QString("/v1/pools")); // states moved: read again
}

void TstConsoleSteerModels::controllerRereadsWhileReplicasDrain()
{
    FakeTransport fake;
    SteerController controller(fake.transport());
    controller.refresh();
    fake.answer(200, poolsJson(2, {replicaJson("127.0.0.1:9001", "draining")}));
    QCOMPARE(fake.count(), 0);
    // The agent removes a drained replica without a word: the pools are read again until it is gone.
    QTRY_COMPARE_WITH_TIMEOUT(fake.count(), 1, kDrainPollMs * 3);
    QCOMPARE(fake.request().path, QString("/v1/pools"));
    fake.answer(200, poolsJson(2, {}));
    QCOMPARE(controller.pools().find("web")->replicas.size(), 0);
}

void TstConsoleSteerModels::outcomeOfAStaleWriteSaysReload()
{
    SteerReply reply;
    reply.status = 409;
    reply.code = "stale_generation";
    reply.message = "the config changed since generation 1; it is at 6: read it again and retry";
    QVERIFY(describeOutcome(SteerController::Action::Algorithm, "web", {}, reply)
                .contains("changed by someone else since it was read. Reload"));
    reply.status = 0;
    reply.code.clear();
    reply.message = "connection refused";
    QCOMPARE(describeOutcome(SteerController::Action::Drain, "web", "a:1", reply),
             QString("Could not drain a:1 in web: connection refused"));
    reply.status = 202;
    reply.json = QJsonObject{{"generation", 6}};
    QCOMPARE(describeOutcome(SteerController::Action::Remove, "web", "a:1", reply),
             QString("Removed a:1 from web: it drains, and is gone when its last request ends (generation 6)."));
}

QTEST_GUILESS_MAIN(TstConsoleSteerModels)
#include "tst_console_steer_models.moc"
