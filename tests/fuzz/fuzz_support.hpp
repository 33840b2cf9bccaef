#pragma once
// Shared by the libFuzzer targets (DLB_FUZZ=ON): a check that reports and aborts, so libFuzzer
// saves the input as a crash; the parser limits they run with; the cuts that feed one input to a
// parser in pieces; and a recording handler whose log is compared between a whole and a
// piecewise parse.
//
// Inputs stay plain HTTP bytes (so the seed corpus is readable and a crash file can be replayed
// with curl or nc): the piecewise cuts are derived from a hash of the input, not from a prefix.

#include "agent/http/headers.hpp"
#include "agent/http/parser.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace dlb::fuzz {

// The fuzz target itself cannot run (no socket, no config): not a finding, stop at once.
[[noreturn]] inline void fatal(const char* what, std::string_view detail = {})
{
    std::fprintf(stderr, "==dlb-fuzz== cannot run: %s %.*s\n", what, static_cast<int>(detail.size()), detail.data());
    std::abort();
}

// The input being run, so a finding can be saved in the continue mode below.
inline std::string_view& currentInput()
{
    static std::string_view input;
    return input;
}

// The agent's parser limits (its defaults, common/config.hpp), and tight ones that make the
// limit paths reachable with short inputs.
inline constexpr agent::http::ParserLimits kDefaultLimits{};
inline constexpr agent::http::ParserLimits kTightLimits{256, 8, 64};
// A peer parsing again what the proxy wrote (a replica its request head, a client its answer
// head): limits it cannot reach, so only a malformed head fails.
inline constexpr agent::http::ParserLimits kPeerLimits{1u << 20, 1024, 0};

// DLB_FUZZ_CONTINUE=DIR (long runs): a finding does not stop the run. The first input that
// breaks each invariant is written to DIR/finding-<n> and reported; later ones are counted, and
// the counts are printed at exit. Memory errors still stop the run (the sanitizers abort).
struct ContinueMode {
    const char* dir = std::getenv("DLB_FUZZ_CONTINUE");
    std::map<std::string, uint64_t> counts;
    std::mutex mutex; // fuzz_session's stub replica reports from its own thread
    // At exit (the static is destroyed then): how many inputs broke each invariant.
    ~ContinueMode()
    {
        for (const auto& [what, n] : counts)
            std::fprintf(stderr, "==dlb-fuzz== %llu failed check(s): %s\n", static_cast<unsigned long long>(n), what.c_str());
    }
    static ContinueMode& instance()
    {
        static ContinueMode m;
        return m;
    }
    // True when the run goes on; false when this is the first report of `what` or not in this mode.
    bool counted(const char* what)
    {
        if (!dir)
            return false;
        std::lock_guard<std::mutex> lock(mutex);
        const uint64_t n = ++counts[what];
        if (n > 1)
            return true;
        const std::string path = std::string(dir) + "/finding-" + std::to_string(counts.size());
        if (FILE* f = std::fopen(path.c_str(), "wb")) {
            std::fwrite(currentInput().data(), 1, currentInput().size(), f);
            std::fclose(f);
        }
        std::fprintf(stderr, "==dlb-fuzz== first input saved as %s\n", path.c_str());
        return false;
    }
};

// A finding: the invariant that broke and the bytes involved, then abort() so libFuzzer keeps
// the input (crash-<sha1>) and the bounded CTest run fails; in the continue mode the run goes on.
inline void fail(const char* what, std::string_view detail = {})
{
    ContinueMode& mode = ContinueMode::instance();
    if (mode.counted(what))
        return;
    std::fprintf(stderr, "\n==dlb-fuzz== FINDING: %s\n", what);
    if (!detail.empty()) {
        std::fprintf(stderr, "==dlb-fuzz== bytes (%zu): \"", detail.size());
        for (const unsigned char c : detail) {
            if (c == '\\')
                std::fputs("\\\\", stderr);
            else if (c >= 0x20 && c < 0x7f)
                std::fputc(c, stderr);
            else
                std::fprintf(stderr, "\\x%02x", c);
        }
        std::fputs("\"\n", stderr);
    }
    if (!mode.dir)
        std::abort();
}

// In a function returning void: with DLB_FUZZ_CONTINUE the rest of the function is skipped,
// so one broken invariant is not reported again as the ones that follow from it.
#define DLB_FUZZ_CHECK(cond, detail)                                                                                  \
    do {                                                                                                              \
        if (!(cond)) {                                                                                                \
            ::dlb::fuzz::fail(#cond " (" __FILE__ ":" DLB_FUZZ_STR(__LINE__) ")", (detail));                          \
            return;                                                                                                   \
        }                                                                                                             \
    } while (0)
#define DLB_FUZZ_STR2(x) #x
#define DLB_FUZZ_STR(x) DLB_FUZZ_STR2(x)

// FNV-1a: a stable hash, so the same input is always cut the same way.
inline uint64_t hashBytes(const uint8_t* data, size_t size)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < size; ++i) {
        h ^= data[i];
        h *= 1099511628211ULL;
    }
    return h;
}

// splitmix64: the stream of choices drawn from that hash.
class Choices {
public:
    explicit Choices(uint64_t seed) : state_(seed) {}
    uint64_t next()
    {
        uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        return z ^ (z >> 31);
    }
    size_t below(size_t n) { return n == 0 ? 0 : static_cast<size_t>(next() % n); }

private:
    uint64_t state_;
};

// Piece lengths that add up to `size`: mostly short pieces (1..8 bytes, where state machines
// break), sometimes long ones.
inline std::vector<size_t> pieces(size_t size, Choices& c)
{
    std::vector<size_t> out;
    while (size > 0) {
        const size_t n = std::min(size, c.below(4) == 0 ? 1 + c.below(256) : 1 + c.below(8));
        out.push_back(n);
        size -= n;
    }
    return out;
}

// Records what a parser reported, as text: the heads with every field the proxy decides on,
// the body bytes (adjacent slices joined), completions. Two parses of the same bytes must give
// the same log however the bytes were cut.
class Recorder : public agent::http::ParserHandler {
public:
    using HeadHook = HeadersAction (*)(void* ctx, const agent::http::Message& m);
    Recorder(HeadHook hook = nullptr, void* ctx = nullptr) : hook_(hook), ctx_(ctx) {}

    std::string log;
    size_t heads = 0;
    size_t completes = 0;
    bool pause_after_each = false; // onMessageComplete answers false: the session's way

    HeadersAction onHeaders(const agent::http::Message& m) override
    {
        ++heads;
        in_body_ = false;
        log += "\nH ";
        log += m.methodName();
        log += ' ';
        log += m.url();
        log += ' ' + std::to_string(m.status()) + ' ' + std::to_string(m.versionMajor()) + '.' +
               std::to_string(m.versionMinor()) + " ka=" + std::to_string(m.keepAlive()) +
               " ch=" + std::to_string(m.chunked()) + " cl=" + std::to_string(m.hasContentLength()) + ':' +
               std::to_string(m.contentLength()) + " up=" + std::to_string(m.upgrade());
        for (size_t i = 0; i < m.headerCount(); ++i) {
            log += "\n  ";
            log += m.headerName(i);
            log += ": ";
            log += m.headerValue(i);
        }
        return hook_ ? hook_(ctx_, m) : HeadersAction::Continue;
    }
    bool onBody(std::string_view data) override
    {
        if (!in_body_)
            log += "\nB ";
        in_body_ = true;
        // Escaped, so body bytes can never look like the log's own records ("\nH ").
        for (const char c : data) {
            if (c == '\n')
                log += "\\n";
            else if (c == '\\')
                log += "\\\\";
            else
                log += c;
        }
        return true;
    }
    bool onMessageComplete() override
    {
        ++completes;
        in_body_ = false;
        log += "\nC";
        return !pause_after_each;
    }

private:
    HeadHook hook_;
    void* ctx_;
    bool in_body_ = false;
};

// Feeds `data` in the given pieces; on a pause, resumes and goes on with the bytes after the
// pause point, as the session does with pipelined requests. Returns the final status.
inline agent::http::Parser::Status feed(agent::http::Parser& p, std::string_view data, const std::vector<size_t>& cuts)
{
    using Status = agent::http::Parser::Status;
    size_t at = 0;
    for (const size_t n : cuts) {
        size_t off = 0;
        while (off < n) {
            const auto r = p.execute(data.data() + at + off, n - off);
            if (r.status == Status::Error)
                return Status::Error;
            if (r.status == Status::Ok)
                break;
            if (r.consumed > n - off)
                fatal("Parser::execute reported more bytes consumed than it was given", data);
            off += r.consumed;
            p.resume();
        }
        at += n;
    }
    return Status::Ok;
}

// Two parses that both fail may have delivered different amounts of the failing message's body
// first: a limit or a bad byte inside one big slice is seen before any of it is handed on, in
// small pieces after the earlier ones were. Everything before that body must still agree.
inline std::string_view beforeFailingBody(std::string_view log)
{
    const size_t head = log.rfind("\nH ");
    const size_t body = log.find("\nB ", head == std::string_view::npos ? 0 : head);
    return body == std::string_view::npos ? log : log.substr(0, body);
}

inline const char* errorName(agent::http::ParseError e)
{
    using agent::http::ParseError;
    switch (e) {
    case ParseError::None: return "None";
    case ParseError::Malformed: return "Malformed";
    case ParseError::HeadersTooLarge: return "HeadersTooLarge";
    case ParseError::TooManyHeaders: return "TooManyHeaders";
    case ParseError::BodyTooLarge: return "BodyTooLarge";
    case ParseError::NotImplemented: return "NotImplemented";
    case ParseError::VersionNotSupported: return "VersionNotSupported";
    case ParseError::MethodNotAllowed: return "MethodNotAllowed";
    case ParseError::Aborted: return "Aborted";
    }
    return "?";
}

// Whole and piecewise parses agree: same outcome, same log (up to the failing body).
inline bool sameParse(bool failed1, const std::string& log1, bool failed2, const std::string& log2)
{
    if (failed1 != failed2)
        return false;
    return failed1 ? beforeFailingBody(log1) == beforeFailingBody(log2) : log1 == log2;
}

// A finding (`what`, with both parses printed) unless the parse of `data` in one piece (`whole`,
// which failed or not, and its log) and the one in pieces agree.
inline void checkSameParse(const agent::http::Parser& whole, bool failed1, const std::string& log1,
                           const agent::http::Parser& cut, bool failed2, const std::string& log2, const char* what,
                           std::string_view data)
{
    if (sameParse(failed1, log1, failed2, log2))
        return;
    std::fprintf(stderr, "whole (%s, error %s):%s\n\ncut (%s, error %s):%s\n", failed1 ? "failed" : "ok",
                 errorName(whole.error()), log1.c_str(), failed2 ? "failed" : "ok", errorName(cut.error()), log2.c_str());
    fail(what, data);
}

// One run of a target: its bytes, made the currentInput(), and their hash, from which every
// choice of the run is drawn.
struct Input {
    std::string_view bytes;
    uint64_t seed = 0;
};
inline Input beginInput(const uint8_t* data, size_t size)
{
    const std::string_view bytes(reinterpret_cast<const char*>(data), size);
    currentInput() = bytes;
    return {bytes, hashBytes(data, size)};
}


} // namespace dlb::fuzz
