#pragma once
// The test DNS server of the discovery tests (tst_discovery, tst_attack_linger): dnsmasq on
// 127.0.0.1 at a free high port, answering from a hosts file the test rewrites.

#include <QDir>
#include <QFile>
#include <QProcess>
#include <QString>
#include <QStringList>
#include <QUdpSocket>

#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include <csignal>

namespace dlb::test {

// How many times a DNS port is picked again when dnsmasq finds it taken (by another test
// between our probe and its bind).
constexpr int kPortAttempts = 5;

// dnsmasq on 127.0.0.1:port, answering only from its hosts file and the records it is given,
// NXDOMAIN for any other name under .test, nothing cached, no upstream.
class Dns {
public:
    explicit Dns(QString dir) : dir_(std::move(dir)) {}
    ~Dns() { stop(); }

    QString hostsPath() const { return dir_ + QStringLiteral("/dns-hosts"); }
    quint16 port() const { return port_; }

    // `port` 0: a free one (picked again when taken). `extra`: more dnsmasq options.
    bool start(const QStringList& extra = {}, quint16 port = 0)
    {
        extra_ = extra;
        for (int attempt = 0; attempt < kPortAttempts; ++attempt) {
            port_ = port != 0 ? port : freeUdpPort();
            if (launch())
                return true;
            if (port != 0 && attempt >= 1)
                break;
        }
        return false;
    }

    // Rewrites the hosts file ("127.0.0.2 replicas.test" lines) and has dnsmasq reread it.
    bool setHosts(const QStringList& lines)
    {
        QFile f(hostsPath());
        if (!f.open(QIODevice::WriteOnly | QIODevice::Truncate))
            return false;
        f.write((lines.join('\n') + '\n').toUtf8());
        f.close();
        if (proc_.state() != QProcess::Running)
            return true; // read at the next start
        const int before = reads();
        ::kill(static_cast<pid_t>(proc_.processId()), SIGHUP);
        return waitFor([&] { return reads() > before; });
    }

    void stop()
    {
        if (proc_.state() == QProcess::NotRunning)
            return;
        proc_.kill();
        proc_.waitForFinished(kWaitMs);
    }

    QByteArray log()
    {
        log_ += proc_.readAll();
        return log_;
    }

private:
    static quint16 freeUdpPort()
    {
        QUdpSocket s;
        s.bind(QHostAddress::LocalHost, 0);
        return s.localPort();
    }

    int reads() { return static_cast<int>(log().count("read " + hostsPath().toUtf8())); }

    template <typename F>
    bool waitFor(F done)
    {
        QElapsedTimer t;
        t.start();
        while (!done()) {
            if (t.elapsed() > kWaitMs || proc_.state() != QProcess::Running)
                return false;
            proc_.waitForReadyRead(50);
        }
        return true;
    }

    bool launch()
    {
        if (!QFile::exists(hostsPath()))
            setHosts({});
        log_.clear();
        // As root dnsmasq would switch to "nobody", who cannot read the test's private folder.
        const QString user = QString::fromLocal8Bit(getpwuid(geteuid())->pw_name);
        const QString group = QString::fromLocal8Bit(getgrgid(getegid())->gr_name);
        QStringList args{QStringLiteral("--no-daemon"), QStringLiteral("--conf-file=/dev/null"),
                         QStringLiteral("--no-resolv"), QStringLiteral("--no-hosts"),
                         QStringLiteral("--bind-interfaces"), QStringLiteral("--listen-address=127.0.0.1"),
                         QStringLiteral("--port=%1").arg(port_), QStringLiteral("--addn-hosts=%1").arg(hostsPath()),
                         QStringLiteral("--local=/test/"), QStringLiteral("--cache-size=0"),
                         QStringLiteral("--pid-file=%1/dnsmasq.pid").arg(dir_), QStringLiteral("--user=%1").arg(user),
                         QStringLiteral("--group=%1").arg(group), QStringLiteral("--log-facility=-")};
        args += extra_;
        proc_.setProcessChannelMode(QProcess::MergedChannels);
        proc_.start(QStringLiteral("dnsmasq"), args);
        if (!proc_.waitForStarted(kWaitMs))
            return false;
        // "read <hosts file>" comes once its sockets are bound; a taken port ends it instead.
        return waitFor([&] { return reads() > 0; });
    }

    QString dir_;
    QStringList extra_;
    quint16 port_ = 0;
    QProcess proc_;
    QByteArray log_;
};

} // namespace dlb::test
