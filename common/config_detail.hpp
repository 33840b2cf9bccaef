#pragma once
// Internal to dlb_common: the JSON reading and endpoint parsing that config.cpp is built on.
// Not part of the library's interface; nothing outside common/ includes this.

#include "config.hpp"

#include <nlohmann/json.hpp>

#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace dlb::common::detail {

using nlohmann::json;

enum class Presence { Optional, Required };

inline std::string join(const std::string& path, std::string_view key) {
    return path.empty() ? std::string(key) : path + "." + std::string(key);
}

inline std::string indexed(const std::string& path, size_t i) {
    return path + "[" + std::to_string(i) + "]";
}

// JSON-quoted, so a message shows exactly which string was meant, spaces and all.
inline std::string quote(std::string_view text) {
    return json(text).dump(-1, ' ', false, json::error_handler_t::replace);
}

inline std::string commaList(const std::vector<std::string_view>& names) {
    std::string out;
    for (std::string_view name : names) {
        out += out.empty() ? "" : ", ";
        out += name;
    }
    return out;
}

inline std::string article(std::string_view what) {
    return std::string(what.front() == 'a' || what.front() == 'o' ? "an " : "a ") + std::string(what);
}

// Reads JSON into the config model, appending every problem to one error list instead of
// stopping at the first, so a user fixes a file in one round.
class Reader {
public:
    explicit Reader(std::vector<ConfigError>& errors) : errors_(errors) {}

    void fail(std::string path, std::string reason) {
        errors_.push_back({std::move(path), std::move(reason)});
    }
    size_t errorCount() const { return errors_.size(); }

    bool isType(const json& j, const std::string& path, json::value_t type, std::string_view what) {
        // A whole-number field also arrives as number_unsigned or number_integer.
        const bool ok = type == json::value_t::number_float ? j.is_number() : j.type() == type;
        if (!ok) {
            fail(path, "must be " + article(what) + ", got " + j.type_name());
        }
        return ok;
    }

    // True when `j` is an object; reports every key not in `keys`.
    bool object(const json& j, const std::string& path, const std::vector<std::string_view>& keys) {
        if (!isType(j, path, json::value_t::object, "object")) {
            return false;
        }
        for (const auto& [key, value] : j.items()) {
            if (std::find(keys.begin(), keys.end(), key) == keys.end()) {
                fail(join(path, key), "unknown key; expected one of: " + commaList(keys));
            }
        }
        return true;
    }

    // The member `key` of object `obj`, or nullptr (reported when required).
    const json* member(const json& obj, const std::string& path, std::string_view key,
                       Presence presence) {
        auto it = obj.find(key);
        if (it == obj.end()) {
            if (presence == Presence::Required) {
                fail(join(path, key), "required");
            }
            return nullptr;
        }
        return &*it;
    }

    // Strings are never empty: an empty value is a mistake, and an absent key means "none".
    bool string(const json& obj, const std::string& path, std::string_view key, std::string& out,
                Presence presence = Presence::Optional) {
        const json* j = member(obj, path, key, presence);
        if (!j || !isType(*j, join(path, key), json::value_t::string, "string")) {
            return false;
        }
        if (j->get_ref<const std::string&>().empty()) {
            fail(join(path, key), "must not be empty");
            return false;
        }
        out = j->get<std::string>();
        return true;
    }

    bool boolean(const json& obj, const std::string& path, std::string_view key, bool& out) {
        const json* j = member(obj, path, key, Presence::Optional);
        if (!j || !isType(*j, join(path, key), json::value_t::boolean, "boolean")) {
            return false;
        }
        out = j->get<bool>();
        return true;
    }

    template <class T>
    bool whole(const json& obj, const std::string& path, std::string_view key, T& out,
               uint64_t min, uint64_t max, Presence presence = Presence::Optional) {
        const json* j = member(obj, path, key, presence);
        if (!j) {
            return false;
        }
        const auto value = wholeNumber(*j, join(path, key), min, max);
        if (value) {
            out = static_cast<T>(*value);
        }
        return value.has_value();
    }

private:
    std::optional<uint64_t> wholeNumber(const json& j, const std::string& path, uint64_t min,
                                        uint64_t max) {
        if (!isType(j, path, json::value_t::number_float, "number")) {
            return std::nullopt;
        }
        const auto outOfRange = [&](const std::string& got) {
            fail(path, max == UINT64_MAX ? "must not be negative, got " + got
                                         : "must be in [" + std::to_string(min) + "," +
                                               std::to_string(max) + "], got " + got);
            return std::nullopt;
        };
        if (j.is_number_integer()) {
            // Parsed non-negative integers are number_unsigned; only built ones can be signed.
            if (!j.is_number_unsigned() && j.get<int64_t>() < 0) {
                return outOfRange(std::to_string(j.get<int64_t>()));
            }
            const auto u = j.get<uint64_t>();
            return u < min || u > max ? outOfRange(std::to_string(u)) : std::optional(u);
        }
        const double d = j.get<double>();
        // 2^64 itself does not fit; every double below it that is whole does.
        const double top = max == UINT64_MAX ? 18446744073709551616.0 : static_cast<double>(max) + 1;
        if (!(d >= static_cast<double>(min) && d < top)) {
            return outOfRange(formatNumber(d));
        }
        if (d != std::trunc(d)) {
            fail(path, "must be a whole number, got " + formatNumber(d));
            return std::nullopt;
        }
        return static_cast<uint64_t>(d);
    }

    std::vector<ConfigError>& errors_;
};

// nlohmann keeps the last of two equal keys without a word. In a config that hides a mistake
// (a second "q_rif" further down silently wins), so a SAX pass over the text finds them.
class DuplicateKeyFinder : public nlohmann::json_sax<json> {
public:
    explicit DuplicateKeyFinder(std::vector<ConfigError>& errors) : errors_(errors) {}

    bool null() override { return value(); }
    bool boolean(bool) override { return value(); }
    bool number_integer(number_integer_t) override { return value(); }
    bool number_unsigned(number_unsigned_t) override { return value(); }
    bool number_float(number_float_t, const string_t&) override { return value(); }
    bool string(string_t&) override { return value(); }
    bool binary(binary_t&) override { return value(); }
    bool start_object(std::size_t) override { return open(false); }
    bool end_object() override { return close(); }
    bool start_array(std::size_t) override { return open(true); }
    bool end_array() override { return close(); }
    bool key(string_t& name) override {
        Frame& frame = stack_.back();
        frame.key = name;
        if (!frame.keys.insert(name).second) {
            errors_.push_back({join(frame.path, name), "duplicate key"});
        }
        return true;
    }
    bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override {
        return false; // the DOM parse has already reported syntax errors
    }

private:
    struct Frame {
        bool array = false;
        size_t next = 0; // index of the next element, in an array
        std::string path;
        std::string key; // the current key, in an object
        std::set<std::string> keys;
    };

    bool value() {
        if (!stack_.empty() && stack_.back().array) {
            ++stack_.back().next;
        }
        return true;
    }
    bool open(bool array) {
        std::string path;
        if (!stack_.empty()) {
            const Frame& parent = stack_.back();
            path = parent.array ? indexed(parent.path, parent.next) : join(parent.path, parent.key);
        }
        stack_.push_back({array, 0, std::move(path), {}, {}});
        return true;
    }
    bool close() {
        stack_.pop_back();
        return value();
    }

    std::vector<ConfigError>& errors_;
    std::vector<Frame> stack_;
};

// "host:port" or "[v6]:port"; without a port only when `default_port` is given; port 0 only
// when `allow_zero_port` (listeners: the kernel chooses).
std::optional<Endpoint> parseHostPort(std::string_view text, std::optional<uint16_t> default_port,
                                      bool allow_zero_port, std::string* why);
// "host:port", with brackets for IPv6, as in a Host header.
std::string hostPort(const Endpoint& endpoint);
// "http://host[:port][/]" or "https://host[:port][/]"; *https tells which.
std::optional<Endpoint> parseReplicaUrl(std::string_view url, bool* https, std::string* why);

} // namespace dlb::common::detail
