// libFuzzer target: the request side of the HTTP layer (agent/http), fed arbitrary bytes.
//
// Each input is parsed twice as a stream of pipelined requests: in one piece, and in pieces
// cut by a hash of the input with a pause after every message (as the session parses). The
// two parses must report the same heads, bodies and completions, and fail alike. For every
// head the proxy would forward, the upstream head is written (requestFraming, originForm,
// appendUpstreamRequestHead) and parsed again as the replica would: it must be exactly one
// well-formed head whose framing is the framing the proxy decided, so a replica can never read
// a body as a request of its own (request smuggling) nor wait for a body that is not sent.

#include "fuzz_support.hpp"

#include "agent/http/path.hpp"

using namespace dlb::agent::http;
using dlb::fuzz::Choices;
using dlb::fuzz::kDefaultLimits;
using dlb::fuzz::kPeerLimits;
using dlb::fuzz::kTightLimits;
using dlb::fuzz::Recorder;

namespace {

// Parses what the proxy would send upstream and checks it against the decision taken.
void checkForwardedHead(const Message& req)
{
    const BodyFraming framing = requestFraming(req);
    // As the session does (Session::onHeaders): the target is normalised, and one that is not a
    // path is answered 400 locally, so nothing is forwarded.
    std::string target;
    std::string_view why;
    if (!normalizeTarget(originForm(req.url()), target, &why))
        return;
    DLB_FUZZ_CHECK(!target.empty(), req.url());
    std::string out;
    appendUpstreamRequestHead(out, req, framing, ForwardInfo{"127.0.0.1", "http", target});

    Recorder rec;
    rec.pause_after_each = true;
    Parser replica(Kind::Request, rec, kPeerLimits);
    const auto r = replica.execute(out.data(), out.size());
    DLB_FUZZ_CHECK(r.status != Parser::Status::Error, out);
    DLB_FUZZ_CHECK(rec.heads == 1, out); // one head, not two (no header or target injection)
    DLB_FUZZ_CHECK(r.consumed == out.size(), out);
    const Message& fwd = replica.message();
    DLB_FUZZ_CHECK(fwd.method() == req.method(), out);
    DLB_FUZZ_CHECK(fwd.versionMajor() == 1 && fwd.versionMinor() == 1, out);
    switch (framing) {
    case BodyFraming::None:
        // The replica must see the request end at the blank line, as the proxy does.
        DLB_FUZZ_CHECK(!fwd.chunked() && (!fwd.hasContentLength() || fwd.contentLength() == 0), out);
        DLB_FUZZ_CHECK(rec.completes == 1, out);
        break;
    case BodyFraming::ContentLength:
        DLB_FUZZ_CHECK(!fwd.chunked(), out);
        DLB_FUZZ_CHECK(fwd.hasContentLength() && fwd.contentLength() == req.contentLength(), out);
        break;
    case BodyFraming::Chunked:
        DLB_FUZZ_CHECK(fwd.chunked() && !fwd.hasContentLength(), out);
        break;
    case BodyFraming::UntilClose:
        dlb::fuzz::fail("a request cannot be delimited by close", out);
    }
}

ParserHandler::HeadersAction onHead(void*, const Message& m)
{
    checkForwardedHead(m);
    return ParserHandler::HeadersAction::Continue;
}

void run(std::string_view data, const ParserLimits& limits, uint64_t seed)
{
    Recorder whole(&onHead);
    Parser p1(Kind::Request, whole, limits);
    const auto r1 = p1.execute(data.data(), data.size());
    const bool failed1 = r1.status == Parser::Status::Error;

    Choices c(seed);
    Recorder cut(&onHead);
    cut.pause_after_each = true;
    Parser p2(Kind::Request, cut, limits);
    const bool failed2 = dlb::fuzz::feed(p2, data, dlb::fuzz::pieces(data.size(), c)) == Parser::Status::Error;

    dlb::fuzz::checkSameParse(p1, failed1, whole.log, p2, failed2, cut.log,
                              "a request stream parsed differently in pieces than in one piece", data);
    // The peer closing now must not crash, whatever state the parser is in.
    (void)p1.finish();
    (void)p2.finish();
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    const auto [bytes, seed] = dlb::fuzz::beginInput(data, size);
    run(bytes, (seed & 3) == 0 ? kTightLimits : kDefaultLimits, seed);
    return 0;
}
