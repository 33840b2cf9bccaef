#include "manifest_check.hpp"

#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QJsonArray>
#include <QJsonDocument>
#include <QRegularExpression>
#include <QUrl>

#include <yaml-cpp/yaml.h>

#include <map>
#include <set>
#include <string>
#include <vector>

namespace dlb::test {

namespace {

// Kubernetes' own limits on names (apimachinery validation): a DNS-1123 label for Namespaces
// and Services (they become DNS names), a DNS-1123 subdomain for the rest, an IANA service
// name for container ports.
constexpr int kMaxLabelChars = 63;
constexpr int kMaxSubdomainChars = 253;
constexpr int kMaxPortNameChars = 15;

// apiVersion of each kind the manifests use; a kind not listed here is a problem, so that a
// new kind gets its checks written rather than passing unchecked.
const std::map<std::string, std::string> kApiVersions = {
    {"Namespace", "v1"}, {"ConfigMap", "v1"}, {"Secret", "v1"}, {"Service", "v1"},
    {"Deployment", "apps/v1"}, {"PodDisruptionBudget", "policy/v1"},
};

struct Doc {
    QString where; // "file[index] Kind/name"
    YAML::Node node;
    std::string kind, name;
};

QString q(const std::string& s) { return QString::fromStdString(s); }

std::string str(const YAML::Node& n)
{
    return n && n.IsScalar() ? n.Scalar() : std::string();
}

bool isTrue(const YAML::Node& n) { return n && n.IsScalar() && n.Scalar() == "true"; }

bool isFalse(const YAML::Node& n) { return n && n.IsScalar() && n.Scalar() == "false"; }

int portNumber(const YAML::Node& n)
{
    bool ok = false;
    const int v = q(str(n)).toInt(&ok);
    return ok && v >= 1 && v <= 65535 ? v : 0;
}

bool isNumber(const YAML::Node& n)
{
    static const QRegularExpression digits("^[0-9]+$");
    return n && n.IsScalar() && n.Tag() != "!" && digits.match(q(n.Scalar())).hasMatch();
}

// Every key/value of selector is among labels.
bool selects(const YAML::Node& selector, const YAML::Node& labels)
{
    if (!selector || !selector.IsMap() || selector.size() == 0 || !labels || !labels.IsMap())
        return false;
    for (const auto& kv : selector)
        if (str(labels[kv.first.Scalar()]) != str(kv.second))
            return false;
    return true;
}

class Checker {
public:
    explicit Checker(const AgentFacts& facts) : facts_(facts) {}

    ManifestReport run(const QString& dir)
    {
        load(dir);
        // yaml-cpp throws when a lookup goes through a key that is missing two levels up: that
        // is a manifest without a structure the checks expect, reported as such.
        const auto guarded = [this](const QString& where, const auto& check) {
            try {
                check();
            } catch (const YAML::Exception& e) {
                problem(where, QString("a field the checks need is missing (%1)").arg(q(e.what())));
            }
        };
        for (const Doc& d : docs_)
            guarded(d.where, [&] { checkCommon(d); });
        for (const Doc& d : docs_) {
            if (d.kind == "Deployment")
                guarded(d.where, [&] { checkDeployment(d); });
            else if (d.kind == "Service")
                guarded(d.where, [&] { checkService(d); });
            else if (d.kind == "PodDisruptionBudget")
                guarded(d.where, [&] { checkBudget(d); });
        }
        guarded("the agent's Deployment", [&] { checkAgent(); });
        return std::move(report_);
    }

private:
    void problem(const QString& where, const QString& what) { report_.problems << where + ": " + what; }

    void load(const QString& dir)
    {
        const QStringList files =
            QDir(dir).entryList({"*.yaml", "*.yml"}, QDir::Files, QDir::Name);
        if (files.isEmpty())
            problem(dir, "no *.yaml file");
        for (const QString& f : files) {
            std::vector<YAML::Node> nodes;
            try {
                nodes = YAML::LoadAllFromFile(QDir(dir).filePath(f).toStdString());
            } catch (const YAML::Exception& e) {
                problem(f, QString("not valid YAML: %1").arg(q(e.what())));
                continue;
            }
            int index = 0;
            for (const YAML::Node& n : nodes) {
                const QString at = QString("%1[%2]").arg(f).arg(index++);
                if (n.IsNull())
                    continue; // an empty document (a trailing ---)
                if (!n.IsMap()) {
                    problem(at, "a document must be a mapping");
                    continue;
                }
                Doc d{at, n, str(n["kind"]), str(n["metadata"]["name"])};
                d.where = QString("%1 %2/%3").arg(at, q(d.kind), q(d.name));
                docs_.push_back(d);
            }
        }
    }

    const Doc* find(const std::string& kind, const std::string& name) const
    {
        for (const Doc& d : docs_)
            if (d.kind == kind && d.name == name)
                return &d;
        return nullptr;
    }

    void checkCommon(const Doc& d)
    {
        static const QRegularExpression label("^[a-z0-9]([-a-z0-9]*[a-z0-9])?$");
        static const QRegularExpression subdomain("^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$");
        const std::string api = str(d.node["apiVersion"]);
        if (api.empty())
            problem(d.where, "apiVersion is missing");
        if (d.kind.empty()) {
            problem(d.where, "kind is missing");
            return;
        }
        const auto known = kApiVersions.find(d.kind);
        if (known == kApiVersions.end())
            problem(d.where, "kind " + q(d.kind) + " has no checks in tests/packaging/manifest_check.cpp; add them");
        else if (!api.empty() && api != known->second)
            problem(d.where, QString("apiVersion %1; %2 is %3").arg(q(api), q(d.kind), q(known->second)));
        const QString name = q(d.name);
        const bool dnsLabel = d.kind == "Namespace" || d.kind == "Service";
        if (name.isEmpty())
            problem(d.where, "metadata.name is missing");
        else if (!(dnsLabel ? label : subdomain).match(name).hasMatch() ||
                 name.size() > (dnsLabel ? kMaxLabelChars : kMaxSubdomainChars))
            problem(d.where, "metadata.name " + name + " is not a valid " + (dnsLabel ? "DNS-1123 label" : "DNS-1123 subdomain"));
        for (const Doc& o : docs_)
            if (&o != &d && o.kind == d.kind && o.name == d.name && &o < &d)
                problem(d.where, "a second " + q(d.kind) + " named " + name);
        if (d.kind == "Namespace")
            return;
        const std::string ns = str(d.node["metadata"]["namespace"]);
        if (ns.empty())
            problem(d.where, "metadata.namespace is missing (kubectl would put it wherever its context points)");
        else if (hasNamespaceDoc() && !find("Namespace", ns))
            problem(d.where, "metadata.namespace " + q(ns) + " is not the Namespace of these manifests");
        if (namespace_.empty())
            namespace_ = ns;
        else if (!ns.empty() && ns != namespace_)
            problem(d.where, "metadata.namespace " + q(ns) + " differs from " + q(namespace_));
    }

    bool hasNamespaceDoc() const
    {
        for (const Doc& d : docs_)
            if (d.kind == "Namespace")
                return true;
        return false;
    }

    // The data keys of a ConfigMap or Secret (data and stringData).
    std::set<std::string> keysOf(const Doc& d) const
    {
        std::set<std::string> keys;
        for (const char* field : {"data", "stringData", "binaryData"})
            if (d.node[field] && d.node[field].IsMap())
                for (const auto& kv : d.node[field])
                    keys.insert(kv.first.Scalar());
        return keys;
    }

    void checkVolumes(const Doc& d, const YAML::Node& pod)
    {
        std::set<std::string> volumes;
        for (const YAML::Node& v : pod["volumes"]) {
            const std::string name = str(v["name"]);
            if (name.empty() || !volumes.insert(name).second)
                problem(d.where, "volume without a name, or a name twice: " + q(name));
            const YAML::Node cm = v["configMap"], sec = v["secret"];
            const std::string ref = cm ? str(cm["name"]) : sec ? str(sec["secretName"]) : "";
            if (!cm && !sec)
                continue;
            const char* kind = cm ? "ConfigMap" : "Secret";
            const Doc* target = find(kind, ref);
            if (!target) {
                problem(d.where, QString("volume %1 mounts %2 %3, which is in no manifest here")
                                     .arg(q(name), kind, q(ref)));
                continue;
            }
            const auto keys = keysOf(*target);
            for (const YAML::Node& item : (cm ? cm : sec)["items"])
                if (!keys.count(str(item["key"])))
                    problem(d.where, QString("volume %1: %2 %3 has no key %4").arg(q(name), kind, q(ref), q(str(item["key"]))));
        }
        for (const char* list : {"initContainers", "containers"})
            for (const YAML::Node& c : pod[list])
                for (const YAML::Node& m : c["volumeMounts"])
                    if (!volumes.count(str(m["name"])))
                        problem(d.where, "container " + q(str(c["name"])) + " mounts volume " + q(str(m["name"])) +
                                             ", which the pod does not define");
    }

    void checkContainer(const Doc& d, const YAML::Node& pod, const YAML::Node& c, bool init)
    {
        static const QRegularExpression portName("^[a-z0-9]([-a-z0-9]*[a-z0-9])?$");
        static const QRegularExpression letter("[a-z]");
        const QString where = d.where + " container " + q(str(c["name"]));
        if (str(c["name"]).empty())
            problem(d.where, "a container without a name");
        if (str(c["image"]).empty())
            problem(where, "image is missing");
        std::map<std::string, int> ports;
        for (const YAML::Node& p : c["ports"]) {
            const QString name = q(str(p["name"]));
            if (name.isEmpty() || name.size() > kMaxPortNameChars || !portName.match(name).hasMatch() ||
                !letter.match(name).hasMatch())
                problem(where, "port " + q(str(p["containerPort"])) + ": a name of 1-15 lower-case letters, digits and "
                                   "'-' is needed (Services and probes refer to it), got '" + name + "'");
            if (!portNumber(p["containerPort"]))
                problem(where, "port " + name + ": containerPort must be 1-65535");
            if (!ports.emplace(name.toStdString(), portNumber(p["containerPort"])).second)
                problem(where, "port name " + name + " twice");
        }
        for (const char* probe : {"readinessProbe", "livenessProbe", "startupProbe"}) {
            if (!c[probe])
                continue;
            const YAML::Node get = c[probe]["httpGet"];
            if (!get) {
                problem(where, QString("%1: only httpGet probes are checked here").arg(probe));
                continue;
            }
            if (!q(str(get["path"])).startsWith('/'))
                problem(where, QString("%1.httpGet.path must start with /").arg(probe));
            if (isNumber(get["port"])) {
                bool found = false;
                for (const auto& [n, v] : ports)
                    found = found || v == portNumber(get["port"]);
                if (!found)
                    problem(where, QString("%1.httpGet.port %2 is not a containerPort").arg(probe, q(str(get["port"]))));
            } else if (!ports.count(str(get["port"]))) {
                problem(where, QString("%1.httpGet.port: no container port named '%2'").arg(probe, q(str(get["port"]))));
            }
        }
        if (!init && (!c["readinessProbe"] || !c["livenessProbe"]))
            problem(where, "readinessProbe and livenessProbe are both needed");
        for (const char* bound : {"requests", "limits"})
            for (const char* res : {"cpu", "memory"})
                if (str(c["resources"][bound][res]).empty())
                    problem(where, QString("resources.%1.%2 is missing").arg(bound, res));
        const YAML::Node sc = c["securityContext"];
        if (!isFalse(sc["allowPrivilegeEscalation"]))
            problem(where, "securityContext.allowPrivilegeEscalation must be false");
        if (!isTrue(sc["readOnlyRootFilesystem"]))
            problem(where, "securityContext.readOnlyRootFilesystem must be true");
        bool dropsAll = false;
        for (const YAML::Node& cap : sc["capabilities"]["drop"])
            dropsAll = dropsAll || str(cap) == "ALL";
        if (!dropsAll)
            problem(where, "securityContext.capabilities.drop must hold ALL");
        // The container's setting wins over the pod's.
        const YAML::Node nonRoot = sc["runAsNonRoot"] ? sc["runAsNonRoot"] : pod["securityContext"]["runAsNonRoot"];
        if (!isTrue(nonRoot))
            problem(where, "runAsNonRoot must be true (in the container's or the pod's securityContext)");
        if (sc["privileged"] && !isFalse(sc["privileged"]))
            problem(where, "privileged must not be set");
    }

    void checkDeployment(const Doc& d)
    {
        const YAML::Node spec = d.node["spec"];
        const YAML::Node pod = spec["template"]["spec"];
        if (!selects(spec["selector"]["matchLabels"], spec["template"]["metadata"]["labels"]))
            problem(d.where, "spec.selector.matchLabels must be non-empty and match spec.template.metadata.labels");
        if (!pod["containers"] || !pod["containers"].IsSequence() || pod["containers"].size() == 0) {
            problem(d.where, "spec.template.spec.containers is missing or empty");
            return;
        }
        for (const YAML::Node& c : pod["initContainers"])
            checkContainer(d, pod, c, true);
        for (const YAML::Node& c : pod["containers"])
            checkContainer(d, pod, c, false);
        checkVolumes(d, pod);
    }

    // The Deployments whose pods the selector picks.
    std::vector<const Doc*> selected(const YAML::Node& selector) const
    {
        std::vector<const Doc*> out;
        for (const Doc& o : docs_)
            if (o.kind == "Deployment" && selects(selector, o.node["spec"]["template"]["metadata"]["labels"]))
                out.push_back(&o);
        return out;
    }

    // The containerPort a Service's targetPort reaches in a Deployment, 0 if none.
    static int targetPort(const Doc& deployment, const YAML::Node& target)
    {
        for (const YAML::Node& c : deployment.node["spec"]["template"]["spec"]["containers"])
            for (const YAML::Node& p : c["ports"])
                if (isNumber(target) ? portNumber(p["containerPort"]) == portNumber(target)
                                     : str(p["name"]) == str(target))
                    return portNumber(p["containerPort"]);
        return 0;
    }

    void checkService(const Doc& d)
    {
        const YAML::Node spec = d.node["spec"];
        const auto pods = selected(spec["selector"]);
        if (pods.empty())
            problem(d.where, "spec.selector selects the pods of no Deployment here");
        if (!spec["ports"] || spec["ports"].size() == 0)
            problem(d.where, "spec.ports is empty");
        for (const YAML::Node& p : spec["ports"]) {
            const QString name = q(str(p["name"]));
            if (name.isEmpty())
                problem(d.where, "a port without a name");
            if (!portNumber(p["port"]))
                problem(d.where, "port " + name + ": port must be 1-65535");
            // A Service port without targetPort sends to the same number.
            const YAML::Node target = p["targetPort"] ? p["targetPort"] : p["port"];
            for (const Doc* dep : pods)
                if (!targetPort(*dep, target))
                    problem(d.where, "port " + name + ": targetPort " + q(str(target)) + " is no container port of " +
                                         dep->where);
        }
    }

    void checkBudget(const Doc& d)
    {
        if (selected(d.node["spec"]["selector"]["matchLabels"]).empty())
            problem(d.where, "spec.selector.matchLabels selects the pods of no Deployment here");
    }

    // The agent: its Deployment, config, probes, token, and the replicas its discovery names.
    void checkAgent();
    void checkDiscovery(const QString& where, const QJsonObject& config);

    const AgentFacts& facts_;
    std::vector<Doc> docs_;
    std::string namespace_;
    ManifestReport report_;
};

int portOf(const QString& address)
{
    const int colon = address.lastIndexOf(':');
    bool ok = false;
    const int port = colon < 0 ? 0 : address.mid(colon + 1).toInt(&ok);
    return ok ? port : 0;
}

void Checker::checkAgent()
{
    const Doc* agent = nullptr;
    YAML::Node container;
    for (const Doc& d : docs_)
        if (d.kind == "Deployment")
            for (const YAML::Node& c : d.node["spec"]["template"]["spec"]["containers"])
                if (q(str(c["command"][0])).endsWith("/dlb-agent")) {
                    agent = &d;
                    container = c;
                }
    if (!agent) {
        problem("manifests", "no Deployment runs /usr/bin/dlb-agent");
        return;
    }
    const QString where = agent->where;
    const YAML::Node pod = agent->node["spec"]["template"]["spec"];

    // The config: the ConfigMap volume that carries agent.json (with the render script).
    const Doc* configMap = nullptr;
    for (const YAML::Node& v : pod["volumes"])
        if (const Doc* cm = v["configMap"] ? find("ConfigMap", str(v["configMap"]["name"])) : nullptr)
            if (cm->node["data"]["agent.json"])
                configMap = cm;
    if (!configMap) {
        problem(where, "no ConfigMap volume with agent.json");
        return;
    }
    report_.agentConfigText = q(str(configMap->node["data"]["agent.json"]));
    report_.renderScript = q(str(configMap->node["data"]["render-config.sh"]));
    if (report_.renderScript.isEmpty())
        problem(configMap->where, "render-config.sh is missing");
    QJsonParseError err{};
    const QJsonDocument json = QJsonDocument::fromJson(report_.agentConfigText.toUtf8(), &err);
    if (!json.isObject()) {
        problem(configMap->where, "agent.json is not a JSON object: " + err.errorString());
        return;
    }
    const QJsonObject config = json.object();
    report_.agentConfig = config;

    // The token: only the placeholder in the ConfigMap; the token in a Secret the pod mounts.
    const QJsonArray tokens = config["control"].toObject()["tokens"].toArray();
    if (tokens.isEmpty())
        problem(configMap->where, "agent.json: control.tokens is empty; the TCP control port needs a token");
    for (const QJsonValue& t : tokens)
        if (t.toObject()["sha256"].toString() != kTokenHashPlaceholder)
            problem(configMap->where, QString("agent.json: control.tokens[].sha256 must be %1 (render-config.sh puts "
                                              "the hash of the Secret's token there), not a value of its own")
                                          .arg(kTokenHashPlaceholder));
    const Doc* secret = nullptr;
    for (const YAML::Node& v : pod["volumes"])
        if (v["secret"])
            secret = find("Secret", str(v["secret"]["secretName"]));
    if (!secret || !keysOf(*secret).count("token"))
        problem(where, "no Secret volume with a key \"token\" (the control token)");
    else
        report_.placeholderToken = q(str(secret->node["stringData"]["token"]));

    // Ports: the listener behind the "http" port, the control address behind the probes.
    std::map<std::string, int> ports;
    for (const YAML::Node& p : container["ports"])
        ports[str(p["name"])] = portNumber(p["containerPort"]);
    const int controlPort = portOf(config["control"].toObject()["address"].toString());
    if (!controlPort)
        problem(configMap->where, "agent.json: control.address with a port is needed for the kubelet's probes");
    const std::pair<const char*, QString> probes[] = {{"readinessProbe", facts_.readyzPath},
                                                      {"livenessProbe", facts_.healthzPath}};
    for (const auto& [probe, path] : probes) {
        const YAML::Node get = container[probe]["httpGet"];
        if (q(str(get["path"])) != path)
            problem(where, QString("%1.httpGet.path is '%2'; the agent answers %3").arg(probe, q(str(get["path"])), path));
        const int port = isNumber(get["port"]) ? portNumber(get["port"]) : ports[str(get["port"])];
        if (port != controlPort)
            problem(where, QString("%1 goes to port %2; the control API listens on %3 (agent.json control.address)")
                               .arg(probe).arg(port).arg(controlPort));
    }
    for (const QJsonValue& l : config["listeners"].toArray()) {
        const int port = portOf(l.toObject()["address"].toString());
        bool exposed = false;
        for (const auto& [n, v] : ports)
            exposed = exposed || v == port;
        if (!exposed)
            problem(where, QString("listener port %1 (agent.json) is no containerPort").arg(port));
    }
    bool served = false;
    for (const Doc& d : docs_)
        if (d.kind == "Service" && selects(d.node["spec"]["selector"], agent->node["spec"]["template"]["metadata"]["labels"]))
            for (const YAML::Node& p : d.node["spec"]["ports"])
                for (const QJsonValue& l : config["listeners"].toArray())
                    served = served || targetPort(*agent, p["targetPort"] ? p["targetPort"] : p["port"]) ==
                                           portOf(l.toObject()["address"].toString());
    if (!served)
        problem(where, "no Service sends to the agent's listener port");

    // The config file: the init container writes it into a volume the agent reads it from.
    QString configPath;
    for (std::size_t i = 0; i + 1 < container["command"].size(); ++i)
        if (str(container["command"][i]) == "--config")
            configPath = q(str(container["command"][i + 1]));
    const QString configDir = QFileInfo(configPath).path();
    std::set<std::string> agentVolumes, initVolumes;
    for (const YAML::Node& m : container["volumeMounts"])
        if (q(str(m["mountPath"])) == configDir)
            agentVolumes.insert(str(m["name"]));
    for (const YAML::Node& c : pod["initContainers"])
        for (const YAML::Node& m : c["volumeMounts"])
            if (q(str(m["mountPath"])) == configDir && agentVolumes.count(str(m["name"])))
                initVolumes.insert(str(m["name"]));
    if (configPath.isEmpty() || initVolumes.empty())
        problem(where, "the agent's --config " + configPath + " must be in a volume that an init container also mounts "
                       "there (render-config.sh writes it)");
    checkDiscovery(configMap->where, config);
}

void Checker::checkDiscovery(const QString& where, const QJsonObject& config)
{
    static const QRegularExpression serviceName("^([a-z0-9-]+)\\.([a-z0-9-]+)\\.svc\\.cluster\\.local$");
    int urls = 0;
    for (const QJsonValue& p : config["pools"].toArray()) {
        const QJsonObject pool = p.toObject();
        for (const QJsonValue& dv : pool["discovery"].toArray()) {
            ++urls;
            const QUrl url(dv.toObject()["url"].toString(), QUrl::StrictMode);
            const auto m = serviceName.match(url.host());
            if (url.scheme() != "dns" || !m.hasMatch() || url.port() <= 0) {
                problem(where, "discovery url " + url.toString() + " is not dns://SERVICE.NAMESPACE.svc.cluster.local:PORT");
                continue;
            }
            const Doc* svc = find("Service", m.captured(1).toStdString());
            if (!svc || m.captured(2).toStdString() != str(svc->node["metadata"]["namespace"])) {
                problem(where, "discovery url " + url.toString() + " names a Service that is not in these manifests");
                continue;
            }
            if (str(svc->node["spec"]["clusterIP"]) != "None") {
                problem(where, "discovery url " + url.toString() + ": " + svc->where +
                                   " is not headless (clusterIP: None), so its name resolves to one virtual IP, "
                                   "not to the replicas");
                continue;
            }
            // The agents connect to the pods' addresses: the URL's port must be the pods' port.
            bool reached = false;
            for (const Doc* dep : selected(svc->node["spec"]["selector"]))
                for (const YAML::Node& sp : svc->node["spec"]["ports"]) {
                    const int target = targetPort(*dep, sp["targetPort"] ? sp["targetPort"] : sp["port"]);
                    reached = reached || (target == url.port() && portNumber(sp["port"]) == url.port());
                    // The kubelet's readiness check of a replica is the agent's health check.
                    const QString health = pool["health_check"].toObject()["path"].toString("/healthz");
                    for (const YAML::Node& c : dep->node["spec"]["template"]["spec"]["containers"])
                        if (c["readinessProbe"] && q(str(c["readinessProbe"]["httpGet"]["path"])) != health)
                            problem(dep->where, "readinessProbe path differs from the agent's health_check.path " + health);
                }
            if (!reached)
                problem(where, QString("discovery url port %1 is not both the port of %2 and its pods' port")
                                   .arg(url.port()).arg(svc->where));
        }
    }
    if (!urls)
        problem(where, "agent.json: no pool discovers its replicas by DNS");
}

} // namespace

AgentFacts agentFactsFromSource(const QString& sourceDir, QString* error)
{
    AgentFacts facts;
    QFile f(sourceDir + "/agent/control/api.cpp");
    if (!f.open(QIODevice::ReadOnly)) {
        *error = f.fileName() + ": " + f.errorString();
        return facts;
    }
    const QString text = QString::fromUtf8(f.readAll());
    const auto pathOf = [&](const char* handler) {
        const QRegularExpression re(QString(R"re(route\(HTTP_GET,\s*"(/[^"]*)",\s*Role::None,\s*&Api::%1\))re").arg(handler));
        return re.match(text).captured(1);
    };
    facts.readyzPath = pathOf("readyz");
    facts.healthzPath = pathOf("healthz");
    if (facts.readyzPath.isEmpty() || facts.healthzPath.isEmpty())
        *error = f.fileName() + " no longer routes Api::readyz and Api::healthz as this test expects; update the test";
    return facts;
}

ManifestReport checkManifests(const QString& dir, const AgentFacts& facts)
{
    return Checker(facts).run(dir);
}

} // namespace dlb::test
