// The console's account rules (seed rules), the login throttle and the remembered connection
// settings; no database involved.
#include "db/account_rules.hpp"
#include "db/connection_settings.hpp"
#include "db/login_throttle.hpp"

#include <QSettings>
#include <QTemporaryDir>
#include <QTest>

using namespace dlb::console;
using namespace std::chrono_literals;

class TstConsoleRules : public QObject {
    Q_OBJECT
private slots:
    void username_data();
    void username();
    void email_data();
    void email();
    void password_data();
    void password();
    void everyBrokenRuleAtOnce();
    void validAccountHasNoErrors();
    void throttleGrows();
    void throttleWaitsAndResets();
    void settingsRememberedWithoutPassword();
    void settingsProblems();
};

void TstConsoleRules::username_data()
{
    QTest::addColumn<QString>("username");
    QTest::addColumn<bool>("ok");
    QTest::newRow("3 chars") << "abc" << true;
    QTest::newRow("32 chars") << QString(32, QLatin1Char('a')) << true;
    QTest::newRow("digits and _") << "ops_2" << true;
    QTest::newRow("2 chars") << "ab" << false;
    QTest::newRow("33 chars") << QString(33, QLatin1Char('a')) << false;
    QTest::newRow("capital") << "Alice" << false;
    QTest::newRow("dash") << "al-ice" << false;
    QTest::newRow("space") << "al ice" << false;
    QTest::newRow("non-ascii") << QString::fromUtf8("jürgen") << false;
    QTest::newRow("pg_ prefix") << "pg_admin" << false;
    QTest::newRow("dlb_ prefix") << "dlb_admin" << false;
    QTest::newRow("reserved public") << "public" << false; // PostgreSQL refuses it as a role name
    QTest::newRow("reserved none") << "none" << false;
    QTest::newRow("quote and DROP") << "a\"; DROP ROLE postgres; --" << false;
    QTest::newRow("empty") << "" << false;
}

void TstConsoleRules::username()
{
    QFETCH(QString, username);
    QFETCH(bool, ok);
    QCOMPARE(checkUsername(username).isEmpty(), ok);
}

void TstConsoleRules::email_data()
{
    QTest::addColumn<QString>("email");
    QTest::addColumn<bool>("ok");
    QTest::newRow("plain") << "ops@example.org" << true;
    QTest::newRow("dots and plus") << "first.last+dlb@mail.example.co.uk" << true;
    QTest::newRow("no at") << "ops.example.org" << false;
    QTest::newRow("two ats") << "a@b@example.org" << false;
    QTest::newRow("no tld") << "ops@localhost" << false;
    QTest::newRow("leading dot") << ".ops@example.org" << false;
    QTest::newRow("double dot") << "o..ps@example.org" << false;
    QTest::newRow("space") << "o ps@example.org" << false;
    QTest::newRow("dash label end") << "ops@exa-.org" << false;
    QTest::newRow("local 65") << QString(65, QLatin1Char('a')) + "@example.org" << false;
    QTest::newRow("empty") << "" << false;
}

void TstConsoleRules::email()
{
    QFETCH(QString, email);
    QFETCH(bool, ok);
    QCOMPARE(checkEmail(email).isEmpty(), ok);
}

void TstConsoleRules::password_data()
{
    QTest::addColumn<QString>("password");
    QTest::addColumn<QStringList>("complaints"); // fragments the message must contain
    QTest::newRow("good") << "Secret-pw1" << QStringList{};
    QTest::newRow("8 chars") << "Abcdef!g" << QStringList{};
    QTest::newRow("32 chars") << "A!" + QString(30, QLatin1Char('x')) << QStringList{};
    QTest::newRow("7 chars") << "Abcde!g" << QStringList{"8 to 32 characters"};
    QTest::newRow("33 chars") << "A!" + QString(31, QLatin1Char('x')) << QStringList{"8 to 32 characters"};
    QTest::newRow("no capital") << "secret-pw1" << QStringList{"a capital letter"};
    QTest::newRow("no symbol") << "Secretpw1" << QStringList{"a symbol"};
    QTest::newRow("all three") << "short" << QStringList{"8 to 32 characters", "a capital letter", "a symbol"};
    QTest::newRow("control char") << "Secret-pw\t1" << QStringList{"no control characters"};
    // Eight characters as a person counts them, though some take two UTF-16 units.
    QTest::newRow("astral chars") << QString::fromUtf8("A!\U0001F600\U0001F600\U0001F600\U0001F600\U0001F600\U0001F600")
                                  << QStringList{};
}

void TstConsoleRules::password()
{
    QFETCH(QString, password);
    QFETCH(QStringList, complaints);
    const QString message = checkPassword(password);
    QCOMPARE(message.isEmpty(), complaints.isEmpty());
    for (const QString& c : complaints)
        QVERIFY2(message.contains(c), qPrintable(message));
}

void TstConsoleRules::everyBrokenRuleAtOnce()
{
    const FieldErrors e = checkNewAccount({"X", "not-an-address", "short", "other", "boss"});
    QVERIFY(!e.username.isEmpty());
    QVERIFY(!e.email.isEmpty());
    QVERIFY(e.password.contains("8 to 32 characters"));
    QVERIFY(e.password.contains("a capital letter"));
    QVERIFY(e.password.contains("a symbol"));
    QVERIFY(!e.confirm.isEmpty());
    QVERIFY(!e.role.isEmpty());
}

void TstConsoleRules::validAccountHasNoErrors()
{
    QVERIFY(checkNewAccount({"ops_1", "ops@example.org", "Secret-pw1", "Secret-pw1", "operator"}).empty());
}

void TstConsoleRules::throttleGrows()
{
    QCOMPARE(LoginThrottle::delayAfter(0), 0ms);
    QCOMPARE(LoginThrottle::delayAfter(1), kLoginFirstDelay);
    QCOMPARE(LoginThrottle::delayAfter(2), 2 * kLoginFirstDelay);
    QCOMPARE(LoginThrottle::delayAfter(3), 4 * kLoginFirstDelay);
    QCOMPARE(LoginThrottle::delayAfter(5), 16 * kLoginFirstDelay);
    QCOMPARE(LoginThrottle::delayAfter(6), kLoginMaxDelay);
    QCOMPARE(LoginThrottle::delayAfter(1000000), kLoginMaxDelay);
}

void TstConsoleRules::throttleWaitsAndResets()
{
    LoginThrottle t;
    const auto t0 = LoginThrottle::Clock::time_point{} + 1h;
    QCOMPARE(t.wait(t0), 0ms);
    t.failed(t0);
    QCOMPARE(t.wait(t0), kLoginFirstDelay);
    QCOMPARE(t.wait(t0 + kLoginFirstDelay), 0ms);
    t.failed(t0 + kLoginFirstDelay);
    QCOMPARE(t.wait(t0 + kLoginFirstDelay), 2 * kLoginFirstDelay);
    QCOMPARE(t.failures(), 2);
    t.succeeded();
    QCOMPARE(t.failures(), 0);
    QCOMPARE(t.wait(t0 + kLoginFirstDelay), 0ms);
}

void TstConsoleRules::settingsRememberedWithoutPassword()
{
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    const QString path = dir.filePath("console.ini");
    ConnectionSettings s;
    s.host = "db.example.org";
    s.port = 6432;
    s.database = "ops";
    s.sslmode = "verify-full";
    {
        QSettings settings(path, QSettings::IniFormat);
        s.save(settings);
    }
    QSettings settings(path, QSettings::IniFormat);
    const ConnectionSettings loaded = ConnectionSettings::load(settings);
    QCOMPARE(loaded.host, s.host);
    QCOMPARE(loaded.port, s.port);
    QCOMPARE(loaded.database, s.database);
    QCOMPARE(loaded.sslmode, s.sslmode);
    for (const QString& key : settings.allKeys())
        QVERIFY2(!key.contains("pass", Qt::CaseInsensitive), qPrintable(key));
}

void TstConsoleRules::settingsProblems()
{
    ConnectionSettings s;
    QVERIFY(s.problem().isEmpty());
    s.sslmode = "sometimes";
    QVERIFY(s.problem().contains("TLS mode"));
    s = {};
    s.port = 70000;
    QVERIFY(s.problem().contains("port"));
    s = {};
    s.host = " ";
    QVERIFY(s.problem().contains("host"));
}

QTEST_GUILESS_MAIN(TstConsoleRules)
#include "tst_console_rules.moc"
