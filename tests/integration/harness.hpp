#pragma once
// Shared fixture of the integration tests: real dlb-agent and dlb-replica processes on
// 127.0.0.1 with ports bound as 0 (child_process.hpp), stub backends that record what the agent
// forwards (stub_backend.hpp), and a raw HTTP/1.1 client (http_client.hpp). Tests that need
// them include too: blocking raw sockets and /proc readings (raw_socket.hpp), replicas that
// answer with bytes the test scripts (scripted_replica.hpp).

#include "child_process.hpp"
#include "http_client.hpp"
#include "stub_backend.hpp"

#include <QJsonObject>
#include <QTemporaryDir>

#include <memory>
#include <vector>

namespace dlb::test {

// Whether the agent's resident memory says what it holds. Under AddressSanitizer or
// ThreadSanitizer (the suite sets ASAN_OPTIONS / TSAN_OPTIONS for every test in those passes)
// freed blocks stay resident in the sanitizer's allocator and shadow memory grows with every
// touched page, so a bound on RSS growth measures the sanitizer, not the agent: tests then still
// run every step (and the sanitizer checks each) but do not assert the bound.
inline bool rssMeasuresTheAgent()
{
    return qEnvironmentVariableIsEmpty("ASAN_OPTIONS") && qEnvironmentVariableIsEmpty("TSAN_OPTIONS");
}

// The agent's kProbeTimeoutsForHungVerdict (agent/proxy/prober.hpp): a worker judges a probe
// endpoint hung once its probes time out this many times more than they are answered, and its
// log line starts with the number ("3 more probes timed out than were answered"). The tests
// drive the agent as a process, so they read the contract from the log, not the header.
inline constexpr int kHungVerdictTimeouts = 3;
inline QByteArray hungVerdictLine()
{
    return QByteArray::number(kHungVerdictTimeouts) + " more probes timed out than were answered";
}

// A port on 127.0.0.1 that refuses connections: bound, read, closed again.
quint16 refusedPort();

// `size` bytes from a seeded generator, so a failure can be reproduced.
QByteArray randomBytes(qsizetype size, quint64 seed);
QByteArray sha256Hex(const QByteArray& data);

class Cluster;
// The end of a test whose fixture owns `c`, given the agent's exit code as the test reads it
// (stopped now, or gone already): the agent's error and stderr are printed when the test
// failed or the code is not 0, and a code that is not 0 fails a test that had not failed yet
// (else the failure and the agent's state are reported above).
void checkAgentExit(Cluster& c, int exitCode);

// Sets a value deep inside a JSON document: path {"pools", "0", "health_check", "enabled"}.
// Array indexes are decimal strings; missing objects are created.
void setJson(QJsonObject& root, const QStringList& path, const QJsonValue& value);
// Points pool 0 of `config` at one https:// replica, 127.0.0.1:`port`, whose certificate must
// chain to `caFile` (the pool's tls.ca_file).
void setHttpsReplica(QJsonObject& config, const QString& port, const QString& caFile);
inline void setHttpsReplica(QJsonObject& config, quint16 port, const QString& caFile)
{
    setHttpsReplica(config, QString::number(port), caFile);
}

// Owns a temporary directory, replicas, stub backends and one agent; tearing it down stops
// them. The agent's exit code is checked by the test (stopAgent()), not here.
class Cluster {
public:
    Cluster();
    ~Cluster();
    Cluster(const Cluster&) = delete;
    Cluster& operator=(const Cluster&) = delete;

    QString path(const QString& file) const { return dir_.filePath(file); }
    QString configPath() const { return path(QStringLiteral("agent.json")); }
    QString accessLogPath() const { return path(QStringLiteral("access.log")); }

    // Starts dlb-replica --name NAME --workers 8 --service-ms 0 plus `extra`; 0 on failure.
    quint16 startReplica(const QString& name, const QStringList& extra = {});
    // The replica process started `index`-th (0 first) by startReplica(), to signal or wait for.
    ChildProcess& replica(size_t index) { return *replicas_.at(index); }
    StubBackend& addStub(const QByteArray& name, StubMode mode = StubMode::Echo);

    // The default config: one listener on 127.0.0.1:0, one worker, pool "web" with round
    // robin over `ports`, health checks off, the access log in the temporary directory.
    QJsonObject config(const QList<quint16>& ports) const;
    bool writeConfig(const QJsonObject& config);
    // Writes the config and starts the agent; false (and error()) if it does not listen. Returns
    // once the agent has logged "started" (its signal handlers are installed by then).
    bool startAgent(const QJsonObject& config);
    // SIGTERM, then the exit code (-1: crashed or hung). An agent that already ended on its
    // own gives the code it ended with: a sanitizer report (exitcode, halt_on_error) or a crash
    // in the middle of a test is never read as a clean exit. 0 if it was never started.
    int stopAgent();
    ChildProcess& agent() { return agent_; }
    quint16 port() const { return port_; }
    QString error() const { return error_; }
    // The agent's stderr, for a failure message.
    QByteArray agentLog() { return agent_.log(); }

private:
    QTemporaryDir dir_;
    std::vector<std::unique_ptr<ChildProcess>> replicas_;
    std::vector<std::unique_ptr<StubBackend>> stubs_;
    ChildProcess agent_;
    quint16 port_ = 0;
    QString error_;
};

} // namespace dlb::test
