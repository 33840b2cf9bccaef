#include "db/account_rules.hpp"

#include "db/records.hpp"

#include <QRegularExpression>

namespace dlb::console {

namespace {

// The same rules as dlb.username_ok and dlb.email_ok in resources/sql/0001_schema.sql.
const QRegularExpression& emailRe()
{
    static const QRegularExpression re(QStringLiteral(
        R"(^[A-Za-z0-9_%+-]+(\.[A-Za-z0-9_%+-]+)*@[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)"
        R"((\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.[A-Za-z]{2,63}$)"));
    return re;
}

QString joined(const QStringList& problems) { return problems.join(QStringLiteral("; ")); }

} // namespace

QString checkUsername(const QString& username)
{
    if (username.isEmpty())
        return QStringLiteral("Enter a username.");
    QStringList problems;
    if (username.size() < kUsernameMin || username.size() > kUsernameMax)
        problems << QStringLiteral("%1 to %2 characters").arg(kUsernameMin).arg(kUsernameMax);
    static const QRegularExpression allowed(QStringLiteral("^[a-z0-9_]*$"));
    if (!allowed.match(username).hasMatch())
        problems << QStringLiteral("only a-z, 0-9 and _");
    if (username.startsWith(QLatin1String("pg_")) || username.startsWith(QLatin1String("dlb_")))
        problems << QStringLiteral("no pg_ or dlb_ prefix (reserved)");
    // PostgreSQL refuses these as role names even quoted.
    if (username == QLatin1String("public") || username == QLatin1String("none"))
        problems << QStringLiteral("another name: %1 is reserved by PostgreSQL").arg(username);
    if (problems.isEmpty())
        return {};
    return QStringLiteral("Use ") + joined(problems) + QLatin1Char('.');
}

QString checkEmail(const QString& email)
{
    if (email.isEmpty())
        return QStringLiteral("Enter an e-mail address.");
    const auto at = email.indexOf(QLatin1Char('@'));
    if (email.size() > kEmailMax || at > kEmailLocalMax || !emailRe().match(email).hasMatch())
        return QStringLiteral("Enter a valid e-mail address, like name@example.org.");
    return {};
}

QString checkPassword(const QString& password)
{
    if (password.isEmpty())
        return QStringLiteral("Enter a password.");
    QStringList problems;
    // Length in characters as a person counts them, not UTF-16 units.
    const auto length = password.toUcs4().size();
    if (length < kPasswordMin || length > kPasswordMax)
        problems << QStringLiteral("%1 to %2 characters").arg(kPasswordMin).arg(kPasswordMax);
    bool capital = false;
    bool symbol = false;
    bool control = false;
    for (const char32_t c : password.toUcs4()) {
        const QChar::Category cat = QChar::category(c);
        capital = capital || cat == QChar::Letter_Uppercase;
        symbol = symbol || QChar::isPunct(c) || QChar::isSymbol(c);
        control = control || cat == QChar::Other_Control;
    }
    if (!capital)
        problems << QStringLiteral("a capital letter");
    if (!symbol)
        problems << QStringLiteral("a symbol such as ! # % or -");
    if (control)
        problems << QStringLiteral("no control characters");
    if (problems.isEmpty())
        return {};
    return QStringLiteral("Needs ") + joined(problems) + QLatin1Char('.');
}

QString checkRole(const QString& role)
{
    if (!accountRoles().contains(role))
        return QStringLiteral("Choose admin, operator or viewer.");
    return {};
}

FieldErrors checkNewPassword(const QString& password, const QString& confirm)
{
    FieldErrors e;
    e.password = checkPassword(password);
    if (confirm != password)
        e.confirm = QStringLiteral("The two passwords differ.");
    return e;
}

FieldErrors checkNewAccount(const NewAccount& account)
{
    FieldErrors e = checkNewPassword(account.password, account.confirm);
    e.username = checkUsername(account.username);
    e.email = checkEmail(account.email);
    e.role = checkRole(account.role);
    return e;
}

} // namespace dlb::console
