// libFuzzer target: the response side of the HTTP layer (agent/http), fed arbitrary bytes as
// a replica's answers.
//
// The request being answered (GET over HTTP/1.1, GET over HTTP/1.0, or HEAD) is chosen from a
// hash of the input. The bytes are parsed in one piece and in pieces (pausing after each
// answer); both parses must agree. For every final answer the head sent to the client is
// written (responseFraming, appendClientResponseHead, appendInterimResponseHead for 1xx) and
// parsed again as the client would: one well-formed head whose framing matches the framing
// the proxy then writes, so a client never takes body bytes for the next answer.

#include "fuzz_support.hpp"

using namespace dlb::agent::http;
using dlb::fuzz::Choices;
using dlb::fuzz::kDefaultLimits;
using dlb::fuzz::kPeerLimits;
using dlb::fuzz::kTightLimits;
using dlb::fuzz::Recorder;

namespace {

// The three requests an answer can be for: the framing rules differ for each.
constexpr std::string_view kRequests[] = {
    "GET / HTTP/1.1\r\nHost: a\r\n\r\n",
    "GET / HTTP/1.0\r\n\r\n",
    "HEAD / HTTP/1.1\r\nHost: a\r\n\r\n",
};

struct Context {
    const Message* req = nullptr;
    bool head = false;
    bool keep_alive = true;
};

void checkClientHead(const Context& ctx, const Message& resp)
{
    std::string out;
    const bool interim = resp.status() >= 100 && resp.status() < 200;
    BodyFraming framing = BodyFraming::None;
    if (interim) {
        appendInterimResponseHead(out, resp);
    } else {
        framing = responseFraming(resp, ctx.head, *ctx.req);
        const bool http10 = ctx.req->versionMajor() == 1 && ctx.req->versionMinor() == 0;
        appendClientResponseHead(out, resp, framing, ctx.keep_alive, http10);
    }

    Recorder rec([](void* h, const Message&) {
        return *static_cast<bool*>(h) ? ParserHandler::HeadersAction::SkipBody : ParserHandler::HeadersAction::Continue;
    }, const_cast<bool*>(&ctx.head));
    rec.pause_after_each = true;
    Parser client(Kind::Response, rec, kPeerLimits);
    const auto r = client.execute(out.data(), out.size());
    DLB_FUZZ_CHECK(r.status != Parser::Status::Error, out);
    DLB_FUZZ_CHECK(rec.heads == 1, out);
    DLB_FUZZ_CHECK(r.consumed == out.size(), out);
    const Message& got = client.message();
    DLB_FUZZ_CHECK(got.status() == resp.status(), out);
    switch (framing) {
    case BodyFraming::None:
        // Nothing follows the head: the client must not wait for a body (HEAD, 1xx, 204, 304
        // end at the blank line whatever their Content-Length says).
        DLB_FUZZ_CHECK(rec.completes == 1, out);
        break;
    case BodyFraming::ContentLength:
        DLB_FUZZ_CHECK(!got.chunked(), out);
        DLB_FUZZ_CHECK(got.hasContentLength() && got.contentLength() == resp.contentLength(), out);
        break;
    case BodyFraming::Chunked:
        DLB_FUZZ_CHECK(got.chunked() && !got.hasContentLength(), out);
        break;
    case BodyFraming::UntilClose:
        DLB_FUZZ_CHECK(!got.chunked() && !got.hasContentLength() && !got.keepAlive(), out);
        break;
    }
}

ParserHandler::HeadersAction onHead(void* c, const Message& resp)
{
    const auto* ctx = static_cast<const Context*>(c);
    checkClientHead(*ctx, resp);
    return ctx->head ? ParserHandler::HeadersAction::SkipBody : ParserHandler::HeadersAction::Continue;
}

void run(std::string_view data, const ParserLimits& limits, uint64_t seed)
{
    // The request, parsed for real so responseFraming sees a genuine Message.
    const std::string_view req_bytes = kRequests[seed % std::size(kRequests)];
    Recorder req_rec;
    req_rec.pause_after_each = true;
    Parser req_parser(Kind::Request, req_rec, kDefaultLimits);
    if (req_parser.execute(req_bytes.data(), req_bytes.size()).status == Parser::Status::Error)
        dlb::fuzz::fatal("a fixed request did not parse", req_bytes);
    Context ctx{&req_parser.message(), req_parser.message().method() == HTTP_HEAD, ((seed >> 8) & 1) == 0};

    Recorder whole(&onHead, &ctx);
    Parser p1(Kind::Response, whole, limits);
    const auto r1 = p1.execute(data.data(), data.size());
    // The replica closes after these bytes. finish() only for a message in progress, as
    // UpstreamConn calls it: after a paused, complete message llhttp reports "invalid EOF
    // state" although nothing is cut short.
    const bool failed1 = r1.status == Parser::Status::Error || (p1.inMessage() && p1.finish() == Parser::Status::Error);

    Choices c(seed);
    Recorder cut(&onHead, &ctx);
    cut.pause_after_each = true;
    Parser p2(Kind::Response, cut, limits);
    bool failed2 = dlb::fuzz::feed(p2, data, dlb::fuzz::pieces(data.size(), c)) == Parser::Status::Error;
    failed2 = failed2 || (p2.inMessage() && p2.finish() == Parser::Status::Error);

    dlb::fuzz::checkSameParse(p1, failed1, whole.log, p2, failed2, cut.log,
                              "a response stream parsed differently in pieces than in one piece", data);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    const auto [bytes, seed] = dlb::fuzz::beginInput(data, size);
    run(bytes, (seed & 0x30) == 0 ? kTightLimits : kDefaultLimits, seed);
    return 0;
}
