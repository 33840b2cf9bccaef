#pragma once
// Throwaway certificates for the TLS tests, made at test time with the openssl CLI in a
// temporary directory: a CA, a server certificate for localhost and 127.0.0.1, a second server
// name (other.test), a client certificate, and a second CA that signed none of them.

#include <QString>
#include <QTemporaryDir>

namespace dlb::test {

class TestCerts {
public:
    TestCerts();
    bool ok() const { return error_.isEmpty(); }
    QString error() const { return error_; }
    QString path(const QString& file) const { return dir_.filePath(file); }
    std::string file(const QString& name) const { return path(name).toStdString(); }

    // "<name>.pem" and "<name>.key" for each of: "server" (CN localhost; DNS:localhost,
    // IP:127.0.0.1), "other" (DNS:other.test), "client" (clientAuth), "server2" (CN "dlb reloaded",
    // a second certificate for reload tests). CAs: "ca.pem" signed them all, "wrong-ca.pem" none.
    // Makes one more certificate signed by ca.pem; false and error() on failure.
    bool make(const QString& name, const QString& cn, const QString& san);

private:
    bool run(const QStringList& args);

    QTemporaryDir dir_;
    QString error_;
};

} // namespace dlb::test
