#include "client/agent_endpoint.hpp"

#include <QUrl>

namespace dlb::console::client {

bool AgentEndpoint::validToken(const QByteArray& token)
{
    // token68 = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
    qsizetype i = 0;
    for (; i < token.size(); ++i) {
        const char c = token[i];
        const bool ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-' ||
                        c == '.' || c == '_' || c == '~' || c == '+' || c == '/';
        if (!ok)
            break;
    }
    if (i == 0)
        return token.isEmpty();
    for (; i < token.size(); ++i)
        if (token[i] != '=')
            return false;
    return true;
}

std::optional<AgentEndpoint> AgentEndpoint::parse(const QString& target, const QByteArray& token,
                                                  const QString& caFile, QString* error)
{
    auto refuse = [&](const QString& why) -> std::optional<AgentEndpoint> {
        if (error)
            *error = why;
        return std::nullopt;
    };
    if (!validToken(token))
        return refuse(QStringLiteral("the token may hold only letters, digits and -._~+/ (then '=' padding), "
                                     "as the agent's tokens do"));
    AgentEndpoint e;
    e.token = token;
    const QString t = target.trimmed();
    if (t.startsWith(QLatin1Char('/')) || t.startsWith(QStringLiteral("unix:"))) {
        e.kind = Kind::Unix;
        e.socketPath = t.startsWith(QLatin1Char('/')) ? t : t.mid(5);
        if (!e.socketPath.startsWith(QLatin1Char('/')))
            return refuse(QStringLiteral("a control socket is an absolute path, like /run/dlb/control.sock"));
        if (!caFile.isEmpty())
            return refuse(QStringLiteral("a CA file is for https:// agents; a Unix socket needs none"));
        return e;
    }
    const QUrl url(t, QUrl::StrictMode);
    const QString scheme = url.scheme();
    if (!url.isValid() || (scheme != QLatin1String("http") && scheme != QLatin1String("https")) || url.host().isEmpty())
        return refuse(QStringLiteral("expected a socket path (/run/dlb/control.sock) or http(s)://HOST:PORT, got \"%1\"")
                          .arg(t));
    if (!url.userInfo().isEmpty() || (!url.path().isEmpty() && url.path() != QLatin1String("/")) || url.hasQuery() ||
        url.hasFragment())
        return refuse(QStringLiteral("a control URL is only http(s)://HOST:PORT, without a user, path or query; got \"%1\"")
                          .arg(t));
    e.kind = scheme == QLatin1String("https") ? Kind::Tls : Kind::Tcp;
    e.host = url.host();
    if (url.port() < 0 && e.kind == Kind::Tcp)
        return refuse(QStringLiteral("an http:// control URL needs its port (the agent's control.address), e.g. "
                                     "http://127.0.0.1:9090"));
    e.port = quint16(url.port(443));
    if (e.port == 0)
        return refuse(QStringLiteral("port 0 is not a port an agent listens on"));
    if (!caFile.isEmpty() && e.kind != Kind::Tls)
        return refuse(QStringLiteral("a CA file is for https:// agents"));
    e.caFile = caFile;
    return e;
}

QByteArray AgentEndpoint::hostHeader() const
{
    if (kind == Kind::Unix)
        return "localhost";
    const QByteArray h = host.contains(QLatin1Char(':')) ? "[" + host.toUtf8() + "]" : host.toUtf8();
    return h + ":" + QByteArray::number(port);
}

QString AgentEndpoint::display() const
{
    if (kind == Kind::Unix)
        return socketPath;
    return QStringLiteral("%1://%2").arg(kind == Kind::Tls ? QStringLiteral("https") : QStringLiteral("http"),
                                         QString::fromUtf8(hostHeader()));
}

} // namespace dlb::console::client
