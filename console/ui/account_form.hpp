#pragma once
// The fields of a new account (username, e-mail, password twice, and optionally the role), each
// with its error label beside it. Used by the register and bootstrap dialogs.

#include "db/account_rules.hpp"

#include <QWidget>

class QComboBox;
class QGridLayout;
class QLabel;
class QLineEdit;

namespace dlb::console {

class AccountForm : public QWidget {
    Q_OBJECT
public:
    AccountForm(bool withRole, QWidget* parent = nullptr);

    NewAccount account() const;
    // Checks every rule and shows every broken one at once; true when none is broken.
    bool validate();
    void showErrors(const FieldErrors& errors);
    void setEnabledFields(bool enabled);

private:
    QLineEdit* addField(QGridLayout* grid, int row, const QString& label, const QString& name, QLabel** error);

    QLineEdit* username_;
    QLineEdit* email_;
    QLineEdit* password_;
    QLineEdit* confirm_;
    QComboBox* role_ = nullptr;
    QLabel* usernameError_;
    QLabel* emailError_;
    QLabel* passwordError_;
    QLabel* confirmError_;
    QLabel* roleError_ = nullptr;
    bool validated_ = false; // after the first submit, errors follow every edit
};

// Placeholder texts that state the rules, from their named limits (db/account_rules.hpp).
QString usernameHint();
QString passwordHint();
// The style of text that reports an error.
QString errorStyleSheet();

// A red, word-wrapped label for an error message; hidden while empty.
QLabel* makeErrorLabel(const QString& objectName, QWidget* parent);
void setError(QLabel* label, const QString& text);

} // namespace dlb::console
