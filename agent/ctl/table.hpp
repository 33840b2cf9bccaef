#pragma once
// Aligned text tables for people: a header row, columns padded to their widest cell (counted
// in UTF-8 code points), two spaces between columns, numeric columns aligned right, no
// trailing spaces.

#include <string>
#include <string_view>
#include <vector>

namespace dlb::ctl {

class Table {
public:
    enum class Align { Left, Right };
    struct Column {
        std::string title;
        Align align = Align::Left;
    };
    explicit Table(std::vector<Column> columns) : columns_(std::move(columns)) {}

    // A row with fewer cells than columns is padded with empty ones; more is a bug (ignored).
    void addRow(std::vector<std::string> cells);
    size_t rows() const { return rows_.size(); }
    std::string render() const;

private:
    std::vector<Column> columns_;
    std::vector<std::vector<std::string>> rows_;
};

// Width of `text` on a terminal, in UTF-8 code points.
size_t displayWidth(const std::string& text);

// `text` (from the agent) safe to print on a terminal: C0 controls and DEL become \xNN and C1
// controls (U+0080..U+009F) \u00NN, so that an id or a message cannot move the cursor, retitle
// the window or hide text with escape sequences. Everything else is kept as it is.
std::string printable(std::string_view text);

// `json` (the agent's JSON text, already parsed as valid, so valid UTF-8) safe to print on a
// terminal and still the same JSON: DEL and the C1 controls (U+0080..U+009F, which JSON
// serialisers leave raw inside strings) become \u007f and \u0080..\u009f, and any other C0
// control than the whitespace JSON allows between tokens becomes \u00NN (it can only be there in
// a string, where it is not valid JSON raw). Every other byte, valid UTF-8 above U+009F
// included, is kept as it is: `dlbctl --json | jq` reads the same values.
std::string terminalSafeJson(std::string_view json);

} // namespace dlb::ctl
