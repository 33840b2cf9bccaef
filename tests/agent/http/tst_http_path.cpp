// Request path normalisation (issue 6 item 7): routes match the path a user would expect, or 400.
#include "agent/http/path.hpp"

#include <QtTest>

#include <string>

using dlb::agent::http::normalizeTarget;

class TestHttpPath : public QObject {
    Q_OBJECT

private slots:
    void normalize_data()
    {
        QTest::addColumn<QString>("target");
        QTest::addColumn<bool>("ok");
        QTest::addColumn<QString>("normal");
        QTest::newRow("plain") << "/a/b?x=1" << true << "/a/b?x=1";
        QTest::newRow("root") << "/" << true << "/";
        QTest::newRow("asterisk") << "*" << true << "*";
        QTest::newRow("encoded unreserved decoded") << "/%61dmin/" << true << "/admin/";
        QTest::newRow("encoded tilde and digit") << "/%7e%31" << true << "/~1";
        QTest::newRow("reserved stays encoded, upper hex") << "/a%2fb%3f" << true << "/a%2Fb%3F";
        QTest::newRow("double slash") << "//admin/" << true << "/admin/";
        QTest::newRow("many slashes") << "/a///b//" << true << "/a/b/";
        QTest::newRow("dot segment") << "/a/./b" << true << "/a/b";
        QTest::newRow("dot-dot") << "/a/../admin/" << true << "/admin/";
        QTest::newRow("encoded dot-dot") << "/a/%2e%2E/admin/" << true << "/admin/";
        QTest::newRow("trailing dot-dot") << "/a/b/.." << true << "/a/";
        QTest::newRow("trailing dot") << "/a/." << true << "/a/";
        QTest::newRow("query untouched") << "/a/../b?x=/../%61" << true << "/b?x=/../%61";
        QTest::newRow("above the root") << "/../admin/" << false << "";
        QTest::newRow("above the root later") << "/a/../../admin" << false << "";
        QTest::newRow("malformed percent") << "/%zz" << false << "";
        QTest::newRow("truncated percent") << "/a%4" << false << "";
        QTest::newRow("encoded NUL") << "/a%00b" << false << "";
        QTest::newRow("not a path") << "admin" << false << "";
    }

    void normalize()
    {
        QFETCH(QString, target);
        QFETCH(bool, ok);
        QFETCH(QString, normal);
        std::string out;
        std::string_view why;
        const std::string in = target.toStdString();
        QCOMPARE(normalizeTarget(in, out, &why), ok);
        if (ok)
            QCOMPARE(QString::fromStdString(out), normal);
        else
            QVERIFY(!why.empty());
    }
};

QTEST_GUILESS_MAIN(TestHttpPath)
#include "tst_http_path.moc"
