#pragma once
// The Algorithm page's state without its widgets: which algorithm, each parameter's value, the
// hash key; checked by the agent's own rules (common::parseAlgorithmConfig, so the console
// refuses exactly what `dlb-agent --check` and PUT .../algorithm refuse, with the same words),
// and turned into the PUT request with If-Match of the generation it was read at.

#include "common/algorithm_params.hpp"
#include "models/steer_pools.hpp"

#include <QMap>
#include <QString>

namespace dlb::console {

class AlgorithmForm {
public:
    // The field a refusal's path names: "params.q_rif" and "q_rif" -> "q_rif", "hash_key",
    // "name"; empty when it names no field of the form.
    static QString fieldOfPath(const QString& path);
    static const QString kHashKeyField; // "hash_key"
    static const QString kNameField;    // "name"

    // Starts from what runs in the pool (as GET /v1/pools showed it at `generation`).
    void load(const QString& pool, const AlgorithmInfo& running, qint64 generation);
    // Another algorithm: the running values when it is the running one, else its defaults.
    void setAlgorithm(const QString& name);
    void resetToDefaults();

    const QString& pool() const { return pool_; }
    const QString& algorithm() const { return name_; }
    const common::AlgorithmSpec* spec() const { return common::findAlgorithm(name_.toStdString()); }
    qint64 generation() const { return generation_; }
    double value(const QString& param) const { return values_.value(param); }
    void setValue(const QString& param, double value) { values_[param] = value; }
    const QString& hashKey() const { return hashKey_; }
    void setHashKey(const QString& key) { hashKey_ = key; }

    // Field -> reason for every value the agent would refuse; empty when the form may be sent.
    QMap<QString, QString> errors() const;
    // True when what the form holds differs from what runs.
    bool changed() const;
    QJsonObject body() const;
    SteerRequest request() const;

private:
    QString pool_;
    AlgorithmInfo running_;
    qint64 generation_ = 0;
    QString name_;
    QMap<QString, double> values_;
    QString hashKey_;
};

} // namespace dlb::console
