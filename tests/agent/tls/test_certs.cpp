#include "test_certs.hpp"

#include <QFile>
#include <QProcess>

namespace dlb::test {

namespace {
// Generous for a loaded 2-core machine; key generation is the slow part.
constexpr int kOpensslTimeoutMs = 30000;
// P-256 keys: fast to make, and ECDSA certificates are what a modern site serves.
const QStringList kKeyArgs = {"-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"};
} // namespace

bool TestCerts::run(const QStringList& args)
{
    QProcess p;
    p.setWorkingDirectory(dir_.path());
    p.start(QStringLiteral("openssl"), args);
    if (!p.waitForFinished(kOpensslTimeoutMs) || p.exitStatus() != QProcess::NormalExit || p.exitCode() != 0) {
        error_ = QStringLiteral("openssl %1 failed: %2").arg(args.join(' '), QString::fromUtf8(p.readAllStandardError()));
        return false;
    }
    return true;
}

bool TestCerts::make(const QString& name, const QString& cn, const QString& san)
{
    QFile ext(path(name + ".ext"));
    if (!ext.open(QIODevice::WriteOnly))
        return false;
    ext.write(QStringLiteral("subjectAltName=%1\nextendedKeyUsage=serverAuth,clientAuth\n").arg(san).toUtf8());
    ext.close();
    return run(QStringList{"req"} + kKeyArgs +
               QStringList{"-keyout", name + ".key", "-out", name + ".csr", "-subj", "/CN=" + cn}) &&
           run({"x509", "-req", "-in", name + ".csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out",
                name + ".pem", "-days", "2", "-extfile", name + ".ext"});
}

TestCerts::TestCerts()
{
    const bool done =
        run(QStringList{"req", "-x509"} + kKeyArgs +
            QStringList{"-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=dlb test CA"}) &&
        run(QStringList{"req", "-x509"} + kKeyArgs +
            QStringList{"-keyout", "wrong-ca.key", "-out", "wrong-ca.pem", "-days", "2", "-subj", "/CN=dlb wrong CA"}) &&
        make("server", "localhost", "DNS:localhost,IP:127.0.0.1") && make("other", "other.test", "DNS:other.test") &&
        make("client", "dlb test client", "DNS:client.test") &&
        make("server2", "dlb reloaded", "DNS:localhost,IP:127.0.0.1");
    if (!done && error_.isEmpty())
        error_ = QStringLiteral("cannot write in %1").arg(dir_.path());
}

} // namespace dlb::test
