#pragma once
// The seed's account rules, checked in the console before anything reaches the database. The
// database checks the same username and e-mail rules again in dlb.register_account
// (resources/sql/0002_account_functions.sql); the password rules exist only here, because the
// database only ever sees a SCRAM verifier.

#include <QString>

namespace dlb::console {

constexpr int kUsernameMin = 3;
constexpr int kUsernameMax = 32;
constexpr int kPasswordMin = 8;
constexpr int kPasswordMax = 32;
constexpr int kEmailMax = 254;      // RFC 5321 path limit
constexpr int kEmailLocalMax = 64;  // RFC 5321 local-part limit

struct NewAccount {
    QString username;
    QString email;
    QString password;
    QString confirm;
    QString role = QStringLiteral("viewer");
};

// One message per field, empty when the field is fine; a field breaking several rules lists
// them all, so the dialog shows every broken rule at once.
struct FieldErrors {
    QString username;
    QString email;
    QString password;
    QString confirm;
    QString role;
    bool empty() const
    {
        return username.isEmpty() && email.isEmpty() && password.isEmpty() && confirm.isEmpty()
            && role.isEmpty();
    }
};

QString checkUsername(const QString& username);
QString checkEmail(const QString& email);
QString checkPassword(const QString& password);
QString checkRole(const QString& role);
FieldErrors checkNewAccount(const NewAccount& account);
// For a password reset: the password rules and the confirmation only.
FieldErrors checkNewPassword(const QString& password, const QString& confirm);

} // namespace dlb::console
