#include "models/algorithm_form.hpp"

#include "client/agent_connection.hpp"
#include "common/config.hpp"

#include <QJsonDocument>

#include <nlohmann/json.hpp>

namespace dlb::console {
namespace {

constexpr std::string_view kDefaultHashKey = "client";

QString fromStd(std::string_view s) { return QString::fromUtf8(s.data(), static_cast<qsizetype>(s.size())); }

} // namespace

const QString AlgorithmForm::kHashKeyField = QStringLiteral("hash_key");
const QString AlgorithmForm::kNameField = QStringLiteral("name");

QString AlgorithmForm::fieldOfPath(const QString& path)
{
    QString field = path;
    if (field.startsWith(QLatin1String("params.")))
        field.remove(0, 7);
    if (field == kHashKeyField || field == kNameField)
        return field;
    for (const common::AlgorithmSpec& algo : common::algorithms())
        if (common::findParam(algo, field.toStdString()))
            return field;
    return {};
}

void AlgorithmForm::load(const QString& pool, const AlgorithmInfo& running, qint64 generation)
{
    pool_ = pool;
    running_ = running;
    generation_ = generation;
    setAlgorithm(running.name);
}

void AlgorithmForm::setAlgorithm(const QString& name)
{
    name_ = name;
    resetToDefaults();
    if (name == running_.name) {
        for (auto it = running_.params.begin(); it != running_.params.end(); ++it)
            values_[it.key()] = it.value();
        if (!running_.hashKey.isEmpty())
            hashKey_ = running_.hashKey;
    }
}

void AlgorithmForm::resetToDefaults()
{
    values_.clear();
    hashKey_.clear();
    const common::AlgorithmSpec* algo = spec();
    if (!algo)
        return;
    for (const common::ParamSpec& p : algo->params)
        values_.insert(fromStd(p.name), p.def);
    if (algo->uses_hash_key)
        hashKey_ = fromStd(kDefaultHashKey);
}

QJsonObject AlgorithmForm::body() const
{
    QJsonObject params;
    for (auto it = values_.begin(); it != values_.end(); ++it)
        params.insert(it.key(), it.value());
    QJsonObject body{{kNameField, name_}, {QStringLiteral("params"), params}};
    const common::AlgorithmSpec* algo = spec();
    if (algo && algo->uses_hash_key)
        body.insert(kHashKeyField, hashKey_);
    return body;
}

QMap<QString, QString> AlgorithmForm::errors() const
{
    const QByteArray text = QJsonDocument(body()).toJson(QJsonDocument::Compact);
    std::vector<common::ConfigError> found;
    common::parseAlgorithmConfig(nlohmann::json::parse(text.constBegin(), text.constEnd()), found);
    QMap<QString, QString> out;
    for (const common::ConfigError& e : found) {
        const QString field = fieldOfPath(QString::fromStdString(e.path));
        // First reason per field: the one the agent would name.
        if (!out.contains(field))
            out.insert(field, QString::fromStdString(e.reason));
    }
    return out;
}

bool AlgorithmForm::changed() const
{
    if (name_ != running_.name || values_ != running_.params)
        return true;
    const common::AlgorithmSpec* algo = spec();
    return algo && algo->uses_hash_key && hashKey_ != running_.hashKey;
}

SteerRequest AlgorithmForm::request() const
{
    // If-Match: the values were chosen looking at that generation; another admin's change in
    // between answers 409 instead of being overwritten.
    return {"PUT", QStringLiteral("/v1/pools/") + client::AgentConnection::pathSegment(pool_) + QStringLiteral("/algorithm"), body(), true,
            QByteArray::number(generation_)};
}

} // namespace dlb::console
