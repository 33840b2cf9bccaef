#pragma once
// Where an agent's control API is and how to reach it: a Unix socket path, or http(s)://HOST:PORT
// (TLS verified against the system's CAs or a given CA file), and the bearer token.

#include <QByteArray>
#include <QString>

#include <optional>

namespace dlb::console::client {

struct AgentEndpoint {
    enum class Kind { Unix, Tcp, Tls };
    Kind kind = Kind::Unix;
    QString socketPath; // Unix
    QString host;       // Tcp, Tls
    quint16 port = 0;
    QString caFile; // Tls: PEM CA certificates to trust instead of the system's; empty: the system's
    QByteArray token;

    // "/run/dlb/control.sock" or "unix:/run/dlb/control.sock", "http://127.0.0.1:9090",
    // "https://agent.example:9443" (port 443 when omitted). Nothing else: no user, no path but
    // "/", no query. On refusal, *error says what is wrong and what is expected.
    static std::optional<AgentEndpoint> parse(const QString& target, const QByteArray& token, const QString& caFile,
                                              QString* error);
    // The token must be a token68 (RFC 7235), as the agent checks; empty is allowed (only
    // /healthz and /readyz then answer).
    static bool validToken(const QByteArray& token);

    QByteArray hostHeader() const; // "localhost" on a Unix socket
    QString display() const;       // the target as the user wrote it, canonical
};

} // namespace dlb::console::client
