#include "load_report.hpp"

#include <charconv>
#include <cmath>
#include <cstdint>

namespace dlb::agent::balance {

namespace {

constexpr std::string_view kOrcaText = "TEXT ";
constexpr std::string_view kOrcaJson = "JSON ";

bool isDigit(char c) { return c >= '0' && c <= '9'; }
bool isHexDigit(char c) { return isDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
bool isJsonSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
bool isOws(char c) { return c == ' ' || c == '\t'; }
bool isKeyChar(char c)
{
    return isDigit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == '.' || c == '-';
}
char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool equalsIgnoreCase(std::string_view a, std::string_view b)
{
    if (a.size() != b.size())
        return false;
    for (size_t i = 0; i < a.size(); ++i) {
        if (lower(a[i]) != lower(b[i]))
            return false;
    }
    return true;
}

// The RIF and latency a report carries; each may be given once.
struct Report {
    double rif = 0;
    double latency_ms = 0;
    bool has_rif = false;
    bool has_latency = false;

    static bool set(double value, double* slot, bool* has)
    {
        if (*has)
            return false; // a duplicate key: which one is meant is anyone's guess
        *slot = value;
        *has = true;
        return true;
    }
    bool setRif(double value) { return set(value, &rif, &has_rif); }
    bool setLatency(double value) { return set(value, &latency_ms, &has_latency); }

    bool finish(ProbeResult* out) const
    {
        if (!has_rif || !has_latency)
            return false;
        // RIF is a count of requests: a fraction or a negative value is not one.
        if (!(rif >= 0) || rif > kMaxReportedRif || rif != std::floor(rif))
            return false;
        if (!(latency_ms >= 0) || latency_ms > kMaxReportedLatencyMs)
            return false;
        out->rif = static_cast<uint32_t>(rif);
        out->latency_ms = latency_ms;
        return true;
    }
};

// A number in JSON's grammar (RFC 8259: no '+', no leading zeros, no bare '.', no inf or nan),
// which the TEXT formats share. Advances *pos past it.
bool scanNumber(std::string_view s, size_t* pos, double* value)
{
    size_t i = *pos;
    const size_t start = i;
    if (i < s.size() && s[i] == '-')
        ++i;
    if (i >= s.size())
        return false;
    if (s[i] == '0') {
        ++i;
    } else if (s[i] >= '1' && s[i] <= '9') {
        while (i < s.size() && isDigit(s[i]))
            ++i;
    } else {
        return false;
    }
    if (i < s.size() && s[i] == '.') {
        const size_t digits = ++i;
        while (i < s.size() && isDigit(s[i]))
            ++i;
        if (i == digits)
            return false;
    }
    if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
        ++i;
        if (i < s.size() && (s[i] == '+' || s[i] == '-'))
            ++i;
        const size_t digits = i;
        while (i < s.size() && isDigit(s[i]))
            ++i;
        if (i == digits)
            return false;
    }
    double v = 0;
    const auto r = std::from_chars(s.data() + start, s.data() + i, v);
    if (r.ec != std::errc{} || r.ptr != s.data() + i || !std::isfinite(v))
        return false;
    *value = v;
    *pos = i;
    return true;
}

// A JSON reader over a string_view that validates as it goes and keeps nothing but views.
class JsonReader {
public:
    explicit JsonReader(std::string_view s) : s_(s) {}

    void skipSpace()
    {
        while (i_ < s_.size() && isJsonSpace(s_[i_]))
            ++i_;
    }
    bool atEnd()
    {
        skipSpace();
        return i_ == s_.size();
    }

    // Walks an object; `member(key)` reads (or skips) the member's value and says whether it
    // was well-formed. Keys are compared raw: one spelled with escapes is an unknown key.
    template <typename Member>
    bool object(int depth, Member&& member)
    {
        skipSpace();
        if (depth > kMaxLoadJsonDepth || !eat('{'))
            return false;
        skipSpace();
        if (eat('}'))
            return true;
        for (;;) {
            skipSpace();
            std::string_view key;
            if (!string(&key))
                return false;
            skipSpace();
            if (!eat(':') || !member(key))
                return false;
            skipSpace();
            if (eat(','))
                continue;
            return eat('}');
        }
    }

    bool number(double* value)
    {
        skipSpace();
        return scanNumber(s_, &i_, value);
    }

    // Any value, checked and skipped.
    bool skipValue(int depth)
    {
        skipSpace();
        if (i_ >= s_.size())
            return false;
        switch (s_[i_]) {
        case '"':
            return string(nullptr);
        case '{':
            return object(depth + 1, [this, depth](std::string_view) { return skipValue(depth + 1); });
        case '[':
            return array(depth + 1);
        case 't':
            return literal("true");
        case 'f':
            return literal("false");
        case 'n':
            return literal("null");
        default: {
            double ignored = 0;
            return scanNumber(s_, &i_, &ignored);
        }
        }
    }

private:
    bool eat(char c)
    {
        if (i_ < s_.size() && s_[i_] == c) {
            ++i_;
            return true;
        }
        return false;
    }
    bool literal(std::string_view word)
    {
        if (s_.substr(i_, word.size()) != word)
            return false;
        i_ += word.size();
        return true;
    }
    bool string(std::string_view* raw)
    {
        if (!eat('"'))
            return false;
        const size_t start = i_;
        while (i_ < s_.size()) {
            const char c = s_[i_];
            if (c == '"') {
                if (raw)
                    *raw = s_.substr(start, i_ - start);
                ++i_;
                return true;
            }
            if (static_cast<unsigned char>(c) < 0x20)
                return false; // control characters must be escaped
            if (c == '\\') {
                if (++i_ >= s_.size())
                    return false;
                const char e = s_[i_];
                if (e == 'u') {
                    for (int k = 0; k < 4; ++k) {
                        if (++i_ >= s_.size() || !isHexDigit(s_[i_]))
                            return false;
                    }
                } else if (std::string_view("\"\\/bfnrt").find(e) == std::string_view::npos) {
                    return false;
                }
            }
            ++i_;
        }
        return false;
    }
    bool array(int depth)
    {
        if (depth > kMaxLoadJsonDepth || !eat('['))
            return false;
        skipSpace();
        if (eat(']'))
            return true;
        for (;;) {
            if (!skipValue(depth))
                return false;
            skipSpace();
            if (eat(','))
                continue;
            return eat(']');
        }
    }

    std::string_view s_;
    size_t i_ = 0;
};

// A list of key=value pairs separated by commas with optional spaces around them, the values
// numbers (ORCA's TEXT format, and X-Load). `slot(key)` names where a key goes: 'r' (RIF),
// 'l' (latency) or 0 (a key this parser skips).
template <typename Slot>
bool parsePairs(std::string_view s, Report* report, Slot&& slot)
{
    size_t i = 0;
    for (;;) {
        while (i < s.size() && isOws(s[i]))
            ++i;
        const size_t key_start = i;
        while (i < s.size() && isKeyChar(s[i]))
            ++i;
        const std::string_view key = s.substr(key_start, i - key_start);
        if (key.empty() || i >= s.size() || s[i] != '=')
            return false;
        ++i;
        double value = 0;
        if (!scanNumber(s, &i, &value))
            return false;
        switch (slot(key)) {
        case 'r':
            if (!report->setRif(value))
                return false;
            break;
        case 'l':
            if (!report->setLatency(value))
                return false;
            break;
        default:
            break;
        }
        while (i < s.size() && isOws(s[i]))
            ++i;
        if (i == s.size())
            return true;
        if (s[i] != ',')
            return false;
        ++i;
    }
}

bool numberInto(JsonReader& json, Report* report, char which)
{
    double value = 0;
    if (!json.number(&value))
        return false;
    return which == 'r' ? report->setRif(value) : report->setLatency(value);
}

} // namespace

bool parseProbeAnswer(std::string_view body, ProbeResult* out)
{
    JsonReader json(body);
    Report report;
    const bool ok = json.object(1, [&](std::string_view key) {
        if (key == "rif" || key == "requestInFlight")
            return numberInto(json, &report, 'r');
        if (key == "latency_ms" || key == "latency")
            return numberInto(json, &report, 'l');
        return json.skipValue(1);
    });
    return ok && json.atEnd() && report.finish(out);
}

bool parseOrcaLoadMetrics(std::string_view value, ProbeResult* out)
{
    Report report;
    if (value.substr(0, kOrcaText.size()) == kOrcaText) {
        const bool ok = parsePairs(value.substr(kOrcaText.size()), &report, [](std::string_view key) {
            if (key == "rif" || key == "named_metrics.rif")
                return 'r';
            return key == "named_metrics.latency_ms" ? 'l' : '\0';
        });
        return ok && report.finish(out);
    }
    if (value.substr(0, kOrcaJson.size()) == kOrcaJson) {
        JsonReader json(value.substr(kOrcaJson.size()));
        const bool ok = json.object(1, [&](std::string_view key) {
            if (key == "rif")
                return numberInto(json, &report, 'r');
            if (key == "named_metrics" || key == "namedMetrics") { // proto JSON's two spellings
                return json.object(2, [&](std::string_view name) {
                    if (name == "rif")
                        return numberInto(json, &report, 'r');
                    if (name == "latency_ms")
                        return numberInto(json, &report, 'l');
                    return json.skipValue(2);
                });
            }
            return json.skipValue(1);
        });
        return ok && json.atEnd() && report.finish(out);
    }
    return false; // BIN, or not ORCA at all
}

bool parseXLoad(std::string_view value, ProbeResult* out)
{
    Report report;
    const bool ok = parsePairs(value, &report, [](std::string_view key) {
        if (key == "rif")
            return 'r';
        return key == "latency_ms" ? 'l' : '\0';
    });
    return ok && report.finish(out);
}

bool isLoadReportHeader(std::string_view name)
{
    return equalsIgnoreCase(name, kOrcaHeader) || equalsIgnoreCase(name, kXLoadHeader);
}

} // namespace dlb::agent::balance
