#pragma once
// Checks the Kubernetes manifests of packaging/kubernetes/ for the fields Kubernetes needs and
// for their agreement with each other and with the agent: what `kubectl apply --dry-run=server`
// would refuse (no cluster here), plus what only fails once pods run (a probe on a port name
// that does not exist, a Secret nobody created, a discovery URL that names no headless Service).

#include <QJsonObject>
#include <QString>
#include <QStringList>

namespace dlb::test {

// What the checks compare the manifests against, read from the agent's own sources.
struct AgentFacts {
    QString readyzPath;  // the control API's readiness path
    QString healthzPath; // the control API's liveness path
};

// The readiness and liveness paths as agent/control/api.cpp routes them (the source of truth:
// there is no constant). Sets *error and returns empty paths when the source no longer says.
AgentFacts agentFactsFromSource(const QString& sourceDir, QString* error);

struct ManifestReport {
    QStringList problems;   // "file[doc] kind/name: path: what is wrong"; empty when all is well
    QJsonObject agentConfig; // the agent's config template (agent.json of its ConfigMap)
    QString agentConfigText;
    QString renderScript;    // render-config.sh of the same ConfigMap
    QString placeholderToken; // the token of the shipped Secret
};

// Reads every *.yaml / *.yml in dir (in name order, as `kubectl apply -f dir` does).
ManifestReport checkManifests(const QString& dir, const AgentFacts& facts);

// The placeholder render-config.sh replaces with the token's SHA-256.
inline constexpr const char* kTokenHashPlaceholder = "@CONTROL_TOKEN_SHA256@";

} // namespace dlb::test
