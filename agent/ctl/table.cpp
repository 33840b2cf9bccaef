#include "agent/ctl/table.hpp"

#include <algorithm>

namespace dlb::ctl {

size_t displayWidth(const std::string& text)
{
    // Continuation bytes (10xxxxxx) do not start a code point.
    return static_cast<size_t>(
        std::count_if(text.begin(), text.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

std::string printable(std::string_view text)
{
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    out.reserve(text.size());
    for (size_t i = 0; i < text.size(); ++i) {
        const auto c = static_cast<unsigned char>(text[i]);
        if (c < 0x20 || c == 0x7f) {
            out += "\\x";
            out.push_back(kHex[c >> 4]);
            out.push_back(kHex[c & 15]);
        } else if (c == 0xC2 && i + 1 < text.size() && static_cast<unsigned char>(text[i + 1]) >= 0x80 &&
                   static_cast<unsigned char>(text[i + 1]) <= 0x9F) {
            const auto d = static_cast<unsigned char>(text[++i]);
            out += "\\u00";
            out.push_back(kHex[d >> 4]);
            out.push_back(kHex[d & 15]);
        } else {
            out.push_back(static_cast<char>(c));
        }
    }
    return out;
}

std::string terminalSafeJson(std::string_view json)
{
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    out.reserve(json.size());
    const auto escape = [&](unsigned char c) {
        out += "\\u00";
        out.push_back(kHex[c >> 4]);
        out.push_back(kHex[c & 15]);
    };
    for (size_t i = 0; i < json.size(); ++i) {
        const auto c = static_cast<unsigned char>(json[i]);
        if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7f)
            escape(c);
        else if (c == 0xC2 && i + 1 < json.size() && static_cast<unsigned char>(json[i + 1]) >= 0x80 &&
                 static_cast<unsigned char>(json[i + 1]) <= 0x9F)
            escape(static_cast<unsigned char>(json[++i]));
        else
            out.push_back(static_cast<char>(c));
    }
    return out;
}

void Table::addRow(std::vector<std::string> cells)
{
    cells.resize(columns_.size());
    rows_.push_back(std::move(cells));
}

std::string Table::render() const
{
    std::vector<size_t> width(columns_.size());
    for (size_t i = 0; i < columns_.size(); ++i) {
        width[i] = displayWidth(columns_[i].title);
        for (const auto& row : rows_)
            width[i] = std::max(width[i], displayWidth(row[i]));
    }
    std::string out;
    const auto line = [&](const auto& cellAt) {
        std::string text;
        for (size_t i = 0; i < columns_.size(); ++i) {
            const std::string& cell = cellAt(i);
            const std::string pad(width[i] - displayWidth(cell), ' ');
            if (i > 0)
                text += "  ";
            text += columns_[i].align == Align::Right ? pad + cell : cell + pad;
        }
        while (!text.empty() && text.back() == ' ')
            text.pop_back();
        out += text + "\n";
    };
    line([&](size_t i) -> const std::string& { return columns_[i].title; });
    for (const auto& row : rows_)
        line([&](size_t i) -> const std::string& { return row[i]; });
    return out;
}

} // namespace dlb::ctl
