// Keeps docs/configuration.md complete: every key the config parser accepts has a row there.
// The key list comes from the code, never from a list kept by hand: a Config with every field
// set is written with toJson(), and at every object in it the parser itself is asked which keys
// it accepts (its "unknown key; expected one of: ..." message), so a key that toJson() leaves
// out still counts. Algorithm parameters come from common/algorithm_params (algorithms()).
//
// How the doc is read (docs/configuration.md's own layout):
//  - a heading names a section: its first `backticked` word (### `listeners[]`, ### `timeouts`),
//    or, without one, its text in lower case (## Top level, ## Algorithms, ### Parameters);
//  - a table row documents the keys in its leading cells, each cell one `backticked` word.
// A path a.b.c under the top-level key a is found as the row `b.c` in section `a` (arrays as
// `[]`: listeners[].tls.certificates[].server_names is the row `tls.certificates[].server_names`
// in section `listeners[]`); a top-level key as a row in "top level"; an algorithm's name as a
// row in "algorithms", its hash_key as the row `hash_key` there, and each parameter P of
// algorithm A as the row `A` | `P` in "parameters".
#include "common/algorithm_params.hpp"
#include "common/config.hpp"

#include <nlohmann/json.hpp>

#include <QRegularExpression>
#include <QtTest>

#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

using namespace dlb::common;
using nlohmann::json;

namespace {

const char* const kDocPath = DLB_SOURCE_DIR "/docs/configuration.md";
// Injected into an object to make the parser list the keys it accepts there.
const std::string kProbeKey = "zz_not_a_key";

TlsConfig fullTls() {
    TlsConfig tls;
    tls.certificate = "cert.pem";
    tls.private_key = "key.pem";
    tls.certificates.push_back({{"api.example.com"}, "api.pem", "api.key"});
    tls.client_ca = "ca.pem";
    tls.verify_client = true;
    return tls;
}

// Every field set to a value toJson() writes out (optional sections present, defaults changed
// where toJson() omits a default), and one pool per algorithm.
Config fullConfig() {
    Config c;
    c.workers = 2;
    ListenerConfig listener;
    listener.address = "127.0.0.1:8443";
    listener.endpoint = {"127.0.0.1", 8443};
    listener.tls = fullTls();
    c.listeners.push_back(listener);
    c.control.unix_socket = "/run/dlb/control.sock";
    c.control.address = "127.0.0.1:9090";
    c.control.endpoint = {"127.0.0.1", 9090};
    c.control.tokens.push_back({"ops", "admin", std::string(64, 'a')});
    c.control.tls = fullTls();
    c.control.stats_interval_ms = 2 * kDefaultStatsIntervalMs;
    for (const AlgorithmSpec& spec : algorithms()) {
        PoolConfig pool;
        pool.name = std::string(spec.name);
        pool.algorithm = *defaultAlgorithm(spec.name);
        pool.tls.ca_file = "internal-ca.pem";
        pool.tls.server_name = "replicas.example.com";
        ReplicaConfig replica;
        replica.url = "https://127.0.0.1:9001";
        replica.id = "r1";
        replica.endpoint = {"127.0.0.1", 9001};
        replica.host_header = "127.0.0.1:9001";
        replica.https = true;
        pool.replicas.push_back(replica);
        DiscoveryConfig discovery; // a dns:// entry: srv:// writes every key it has but weight
        discovery.url = "dns://replicas.example.com:9001";
        discovery.name = "replicas.example.com";
        discovery.port = 9001;
        discovery.resolvers.push_back({"10.0.0.53", 53});
        pool.discovery.push_back(discovery);
        c.routes.push_back({"/" + pool.name + "/", pool.name});
        c.pools.push_back(std::move(pool));
    }
    c.access_log.path = "access.log";
    c.resolvers.push_back({"10.0.0.53", 53});
    return c;
}

// The keys the parser accepts in the object at `pointer` of `doc` (whose error path is
// `error_path`), read from its unknown-key message; empty when it names none.
std::set<std::string> acceptedKeys(json doc, const json::json_pointer& pointer,
                                   const std::string& error_path) {
    doc[pointer][kProbeKey] = 0;
    const ConfigResult result = parseConfig(doc);
    const std::string want = (error_path.empty() ? "" : error_path + ".") + kProbeKey;
    const std::string marker = "unknown key; expected one of: ";
    std::set<std::string> keys;
    for (const ConfigError& error : result.errors) {
        if (error.path != want || error.reason.rfind(marker, 0) != 0) {
            continue;
        }
        std::stringstream list(error.reason.substr(marker.size()));
        std::string key;
        while (std::getline(list, key, ',')) {
            key.erase(0, key.find_first_not_of(' '));
            keys.insert(key);
        }
    }
    return keys;
}

struct Walk {
    const json& root;
    std::set<std::string> paths; // generic paths, arrays as []: "listeners[].tls.certificate"
    std::map<std::string, std::string> algorithms; // "pools[N].algorithm" -> its name
    QStringList notSerialised; // keys the parser accepts that fullConfig() does not write

    static std::string join(const std::string& a, const std::string& b) {
        return a.empty() ? b : a + "." + b;
    }

    void object(const json& node, const json::json_pointer& pointer, const std::string& generic,
                const std::string& concrete) {
        const bool algorithm = generic == "pools[].algorithm";
        if (algorithm) {
            // Its keys are the algorithm's own (algorithm_params), checked by parameter below.
            algorithms[concrete] = node.at("name").get<std::string>();
        } else {
            for (const std::string& key : acceptedKeys(root, pointer, concrete)) {
                if (!node.contains(key)) {
                    notSerialised << QString::fromStdString(join(concrete, key));
                    paths.insert(join(generic, key));
                }
            }
        }
        for (const auto& [key, value] : node.items()) {
            const std::string g = join(generic, key);
            const std::string c = join(concrete, key);
            paths.insert(algorithm ? g + "@" + node.at("name").get<std::string>() : g);
            if (!algorithm) {
                descend(value, pointer / key, g, c);
            }
        }
    }

    void descend(const json& node, const json::json_pointer& pointer, const std::string& generic,
                 const std::string& concrete) {
        if (node.is_object()) {
            object(node, pointer, generic, concrete);
        } else if (node.is_array() && !node.empty() && node.front().is_object()) {
            for (size_t i = 0; i < node.size(); ++i) {
                descend(node[i], pointer / i, generic + "[]", concrete + "[" + std::to_string(i) + "]");
            }
        }
    }
};

std::string trim(const std::string& text) {
    const size_t first = text.find_first_not_of(" \t");
    const size_t last = text.find_last_not_of(" \t");
    return first == std::string::npos ? std::string() : text.substr(first, last - first + 1);
}

// The `backticked` words of a table cell that holds only such words, comma-separated
// ("`tls.certificate`, `tls.private_key`"); empty for any other cell.
// QRegularExpression, not std::regex: GCC 12 reports libstdc++'s regex compiler as reading an
// uninitialised std::function under -fsanitize=address with -Werror (a false positive).
std::vector<std::string> cellKeys(const std::string& cell) {
    static const QRegularExpression list(QStringLiteral("^`[^`]+`(, `[^`]+`)*$"));
    static const QRegularExpression word(QStringLiteral("`([^`]+)`"));
    std::vector<std::string> keys;
    const QString text = QString::fromStdString(cell);
    if (list.match(text).hasMatch()) {
        for (auto it = word.globalMatch(text); it.hasNext();) {
            keys.push_back(it.next().captured(1).toStdString());
        }
    }
    return keys;
}

// "section|key" for every key in a table row's first cell, and "section|key|key2" when the
// first two cells are one key each (the parameter table: algorithm, parameter).
std::set<std::string> documentedRows(std::istream& doc) {
    static const QRegularExpression backticked(QStringLiteral("`([^`]+)`"));
    std::set<std::string> rows;
    std::string section;
    std::string line;
    while (std::getline(doc, line)) {
        if (line.rfind('#', 0) == 0) {
            const QRegularExpressionMatch m = backticked.match(QString::fromStdString(line));
            if (m.hasMatch()) {
                section = m.captured(1).toStdString();
            } else {
                section = trim(line.substr(line.find_first_not_of('#')));
                for (char& ch : section) {
                    ch = char(std::tolower(static_cast<unsigned char>(ch)));
                }
            }
            continue;
        }
        if (line.rfind('|', 0) != 0) {
            continue;
        }
        std::vector<std::string> cells;
        for (size_t start = 1, end; (end = line.find('|', start)) != std::string::npos && cells.size() < 2;
             start = end + 1) {
            cells.push_back(trim(line.substr(start, end - start)));
        }
        const std::vector<std::string> first = cells.empty() ? std::vector<std::string>{} : cellKeys(cells[0]);
        for (const std::string& key : first) {
            rows.insert(section + "|" + key);
        }
        if (first.size() == 1 && cells.size() == 2) {
            const std::vector<std::string> second = cellKeys(cells[1]);
            if (second.size() == 1) {
                rows.insert(section + "|" + first[0] + "|" + second[0]);
            }
        }
    }
    return rows;
}

// Where the row of a generic path must be (see the comment at the top).
std::string rowFor(const std::string& path) {
    const size_t at = path.find('@');
    if (at != std::string::npos) { // pools[].algorithm.KEY@ALGORITHM
        const std::string key = path.substr(std::string("pools[].algorithm.").size(),
                                            at - std::string("pools[].algorithm.").size());
        const std::string algorithm = path.substr(at + 1);
        if (key == "name") {
            return "algorithms|" + algorithm;
        }
        if (key == "hash_key") {
            return "algorithms|hash_key";
        }
        return "parameters|" + algorithm + "|" + key;
    }
    const size_t dot = path.find('.');
    if (dot == std::string::npos) {
        return "top level|" + (path.ends_with("[]") ? path.substr(0, path.size() - 2) : path);
    }
    return path.substr(0, dot) + "|" + path.substr(dot + 1);
}

} // namespace

class TestConfigDocs : public QObject {
    Q_OBJECT

private slots:
    void fullConfigIsValid();
    void everyKeyIsDocumented();
    void rowsAreFoundAsTheDocLaysThemOut();
};

// The config the key list comes from must be one the parser accepts, or its keys prove nothing.
void TestConfigDocs::fullConfigIsValid() {
    const ConfigResult result = parseConfig(toJson(fullConfig()));
    QStringList errors;
    for (const ConfigError& error : result.errors) {
        errors << QString::fromStdString(error.toString());
    }
    QVERIFY2(result.config.has_value(), qPrintable(errors.join('\n')));
}

void TestConfigDocs::everyKeyIsDocumented() {
    const json doc = toJson(fullConfig());
    Walk walk{doc, {}, {}, {}};
    walk.descend(doc, json::json_pointer(), "", "");
    // Sanity: the walk saw the deep corners, so an empty result cannot pass for a complete doc.
    QVERIFY(walk.paths.count("listeners[].tls.certificates[].server_names"));
    QVERIFY(walk.paths.count("pools[].algorithm.q_rif@prequal"));
    QVERIFY(walk.paths.count("control.tokens[].sha256"));
    QVERIFY(acceptedKeys(doc, json::json_pointer(), "").count("workers")); // the parser was asked
    QVERIFY2(walk.notSerialised.isEmpty(),
             qPrintable("the parser accepts keys that fullConfig() does not set, so toJson() leaves "
                        "them out; set them in fullConfig(): " + walk.notSerialised.join(", ")));

    std::ifstream file(kDocPath);
    QVERIFY2(file, kDocPath);
    const std::set<std::string> rows = documentedRows(file);
    QStringList missing;
    for (const std::string& path : walk.paths) {
        const std::string row = rowFor(path);
        if (!rows.count(row)) {
            QString section = QString::fromStdString(row.substr(0, row.find('|')));
            QString cells = QString::fromStdString(row.substr(row.find('|') + 1)).replace('|', "` | `");
            missing << QStringLiteral("%1 (a row | `%2` | in section \"%3\")")
                           .arg(QString::fromStdString(path).replace('@', " of "), cells, section);
        }
    }
    QVERIFY2(missing.isEmpty(),
             qPrintable(QStringLiteral("docs/configuration.md does not document %1 key(s):\n  %2")
                            .arg(missing.size())
                            .arg(missing.join("\n  "))));
}

// The reader itself, on a small doc in the real one's layout: a row removed is a key missing.
void TestConfigDocs::rowsAreFoundAsTheDocLaysThemOut() {
    std::istringstream doc("# t\n## Top level\n| key | type |\n| --- | --- |\n| `workers` | int |\n"
                           "### `listeners[]`\n| `tls.certificate`, `tls.private_key` | s |\n"
                           "## Algorithms\n| `hash_key` | hashes |\n| `prequal` | picks |\n"
                           "### Parameters\n| `prequal` | `q_rif` | [0,1] |\n"
                           "### `timeouts`\nText with `connect_ms` in prose only.\n");
    const std::set<std::string> rows = documentedRows(doc);
    QVERIFY(rows.count(rowFor("workers")));
    QVERIFY(rows.count(rowFor("listeners[]")) == 0);
    QVERIFY(rows.count(rowFor("listeners[].tls.certificate")));
    QVERIFY(rows.count(rowFor("listeners[].tls.private_key")));
    QVERIFY(rows.count(rowFor("pools[].algorithm.name@prequal")));
    QVERIFY(rows.count(rowFor("pools[].algorithm.hash_key@maglev")));
    QVERIFY(rows.count(rowFor("pools[].algorithm.q_rif@prequal")));
    QVERIFY(rows.count(rowFor("pools[].algorithm.delta@prequal")) == 0);
    QVERIFY(rows.count(rowFor("timeouts.connect_ms")) == 0); // prose is not a row
}

QTEST_APPLESS_MAIN(TestConfigDocs)
#include "tst_config_docs.moc"
