#pragma once
// The one place that knows each balancing algorithm's parameters: names, ranges and defaults.
// The agent validates configs and control-API changes against these tables, and the console
// builds its settings forms from them.

#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace dlb::common {

struct ParamSpec {
    std::string_view name;
    double min;
    double max;
    double def;
    bool integer;          // value must be a whole number
    bool min_exclusive;    // the range is (min, max] instead of [min, max]
    std::string_view help; // one line, for --help texts and the console's tooltips
    bool prime = false;    // value must also be a prime number (maglev's table size)
};

struct AlgorithmSpec {
    std::string_view name;
    std::string_view summary;
    std::span<const ParamSpec> params;
    bool uses_hash_key; // ring_hash/maglev (and ip_hash) read AlgorithmConfig::hash_key
};

// All algorithms, in the order the docs and the console list them.
std::span<const AlgorithmSpec> algorithms();
const AlgorithmSpec* findAlgorithm(std::string_view name);
const ParamSpec* findParam(const AlgorithmSpec& algo, std::string_view param);

// What a consistent-hashing algorithm hashes: the client address, the path, or one header.
struct HashKey {
    enum class Kind { Client, Path, Header } kind = Kind::Client;
    std::string header; // lower-case header name when kind == Header
    bool operator==(const HashKey&) const = default;
};
// What the console and --help say of hash_key, beside the parameters' own help lines.
inline constexpr std::string_view kHashKeyHelp =
    "what is hashed: client (the client address), path, or header:<name> (one request header)";

// Parses "client", "path" or "header:<Name>"; nullopt when malformed.
std::optional<HashKey> parseHashKey(std::string_view text);
std::string toString(const HashKey& key);

struct AlgorithmConfig {
    std::string name = "round_robin";
    // Every parameter of the algorithm's spec is present after validation (defaults filled in).
    std::map<std::string, double, std::less<>> params;
    HashKey hash_key;

    // The parameter's value, or its spec default when absent; 0 for an unknown name.
    double param(std::string_view key) const;
    bool operator==(const AlgorithmConfig&) const = default;
};

// Builds the config of `name` with every parameter at its default (nullopt: unknown name).
std::optional<AlgorithmConfig> defaultAlgorithm(std::string_view name);

// Checks one parameter value against its spec. Returns an empty string when valid, else the
// reason in the form used by every error message: "must be in [0,1], got 1.7".
std::string checkParam(const ParamSpec& spec, double value);

// The range as checkParam words it: "[0,1]" or "(0,100]".
std::string formatRange(const ParamSpec& spec);

// The shortest text that reads back as the same double; whole numbers are written without an
// exponent or a fraction ("65537", not "6.5537e+04"), so messages read like the config.
std::string formatNumber(double value);

} // namespace dlb::common
