// dlbctl's parts that work without an agent: the aligned table, the SSE parser, the path
// escaping of replica ids, the exit code of each status, the agent's error object in words.

#include "agent/ctl/client.hpp"
#include "agent/ctl/errors.hpp"
#include "agent/ctl/render.hpp"
#include "agent/ctl/sse.hpp"
#include "agent/ctl/table.hpp"

#include <QtTest>

using namespace dlb::ctl;

class TestCtlUnits : public QObject {
    Q_OBJECT

private slots:
    // Columns pad to the widest cell, numbers align right, no trailing spaces.
    void tableAlignsColumns()
    {
        Table t({{"ID"}, {"WEIGHT", Table::Align::Right}, {"STATE"}});
        t.addRow({"127.0.0.1:9001", "1", "healthy"});
        t.addRow({"b", "1000", ""});
        QCOMPARE(QString::fromStdString(t.render()), QStringLiteral("ID              WEIGHT  STATE\n"
                                                                    "127.0.0.1:9001       1  healthy\n"
                                                                    "b                 1000\n"));
    }
    // Width counts code points, not bytes: "µs" is two columns wide.
    void tableCountsCodePoints()
    {
        QCOMPARE(displayWidth("\xC2\xB5s"), size_t(2));
        Table t({{"A"}, {"B"}});
        t.addRow({"\xC2\xB5s", "x"});
        t.addRow({"abc", "y"});
        QCOMPARE(QString::fromStdString(t.render()), QString::fromUtf8("A    B\n\xC2\xB5s   x\nabc  y\n"));
    }
    // A short row is padded; a table without rows is its header.
    void tableShortRowsAndEmpty()
    {
        Table t({{"A"}, {"B"}});
        QCOMPARE(QString::fromStdString(t.render()), QStringLiteral("A  B\n"));
        t.addRow({"x"});
        QCOMPARE(QString::fromStdString(t.render()), QStringLiteral("A  B\nx\n"));
    }

    // Events split anywhere, CRLF/CR/LF line ends, multi-line data, comments and id/retry lines.
    void sseParsesEventsSplitAnywhere()
    {
        const std::string stream = "retry: 2000\r\n\r\n: comment\nid: 1\nevent: stats\ndata: {\"a\":1}\n\n"
                                   "id: 2\revent: stats\rdata: x\rdata:y\r\r";
        for (size_t step : {size_t(1), size_t(2), size_t(7), stream.size()}) {
            std::vector<std::pair<std::string, std::string>> got;
            SseParser p([&](const std::string& e, const std::string& d) {
                got.emplace_back(e, d);
                return true;
            });
            for (size_t i = 0; i < stream.size(); i += step)
                QCOMPARE(p.feed(std::string_view(stream).substr(i, step)), SseParser::Result::Ok);
            QCOMPARE(got.size(), size_t(2));
            QCOMPARE(got[0].first, std::string("stats"));
            QCOMPARE(got[0].second, std::string("{\"a\":1}"));
            QCOMPARE(got[1].second, std::string("x\ny"));
        }
    }
    // A handler that says stop stops; an event without end is bounded.
    void sseStopsAndBounds()
    {
        int n = 0;
        SseParser p([&](const std::string&, const std::string&) { return ++n < 1; });
        QCOMPARE(p.feed("data: 1\n\ndata: 2\n\n"), SseParser::Result::Stopped);
        QCOMPARE(n, 1);
        SseParser big([](const std::string&, const std::string&) { return true; });
        const std::string chunk(64 * 1024, 'x');
        SseParser::Result r = big.feed("data: ");
        for (size_t sent = 0; r == SseParser::Result::Ok && sent <= kMaxEventBytes; sent += chunk.size())
            r = big.feed(chunk);
        QCOMPARE(r, SseParser::Result::TooLarge);
    }

    void segmentsAreEscaped()
    {
        QCOMPARE(escapeSegment("[::1]:9001"), std::string("%5B::1%5D:9001"));
        QCOMPARE(escapeSegment("web"), std::string("web"));
        QCOMPARE(escapeSegment("a b/c%"), std::string("a%20b%2Fc%25"));
    }

    void exitCodesByStatus()
    {
        QCOMPARE(exitCodeFor(200), int(kExitOk));
        QCOMPARE(exitCodeFor(202), int(kExitOk));
        QCOMPARE(exitCodeFor(400), int(kExitRefused));
        QCOMPARE(exitCodeFor(404), int(kExitRefused));
        QCOMPARE(exitCodeFor(409), int(kExitRefused));
        QCOMPARE(exitCodeFor(401), int(kExitAuth));
        QCOMPARE(exitCodeFor(403), int(kExitAuth));
        QCOMPARE(exitCodeFor(500), int(kExitAgentError));
        QCOMPARE(exitCodeFor(302), int(kExitAgentError));
    }

    void errorObjectInWords()
    {
        Answer a;
        a.status = 400;
        a.body = R"({"error":{"code":"invalid_value","message":"params.q_rif: must be in [0,1], got 1.7","path":"params.q_rif"}})";
        QCOMPARE(errorMessage(a), std::string("params.q_rif: must be in [0,1], got 1.7 (invalid_value at params.q_rif)"));
        a.body = R"({"error":{"code":"unknown_pool","message":"no pool x","path":""}})";
        QCOMPARE(errorMessage(a), std::string("no pool x (unknown_pool)"));
        a.body = "<html>";
        QVERIFY(errorMessage(a).find("without the control API's error object") != std::string::npos);
    }

    // Missing and null fields print as "-"; numbers as the config writes them.
    void cellsOfJson()
    {
        QCOMPARE(cell(nlohmann::json()), std::string("-"));
        QCOMPARE(cell(nlohmann::json(3)), std::string("3"));
        QCOMPARE(cell(nlohmann::json(0.84)), std::string("0.84"));
        QCOMPARE(cell(nlohmann::json("healthy")), std::string("healthy"));
        QCOMPARE(cell(nlohmann::json(true)), std::string("yes"));
    }

    // --json output keeps the JSON (and valid UTF-8) but escapes DEL and the C1 controls a
    // terminal would act on; whitespace between tokens stays.
    void terminalSafeJsonEscapesDelAndC1()
    {
        const std::string in = "{\"a\": \"x\x7fy\xc2\x9b" "2J\xc2\x80\xc2\x9f\",\n\t\"b\": \"\xc2\xa0\xc3\xa9\xe2\x9c\x93\xf0\x9f\x98\x80\"}\r\n";
        const std::string out = terminalSafeJson(in);
        QCOMPARE(out, std::string("{\"a\": \"x\\u007fy\\u009b2J\\u0080\\u009f\",\n\t\"b\": "
                                  "\"\xc2\xa0\xc3\xa9\xe2\x9c\x93\xf0\x9f\x98\x80\"}\r\n"));
        for (unsigned char c : out)
            QVERIFY2(c != 0x7f && !(c < 0x20 && c != '\n' && c != '\t' && c != '\r'), "a control byte is left");
        QVERIFY(out.find("\xc2\x9b") == std::string::npos);
        // The same values for a JSON reader.
        QVERIFY(nlohmann::json::parse(out) == nlohmann::json::parse(in));
        QCOMPARE(terminalSafeJson("\x01"), std::string("\\u0001"));
        QCOMPARE(terminalSafeJson("\xc2"), std::string("\xc2")); // a lone lead byte at the end is not C1
    }
};

QTEST_GUILESS_MAIN(TestCtlUnits)
#include "tst_ctl_units.moc"
