#include "agent/ctl/table.hpp"

#include <algorithm>

namespace dlb::ctl {

size_t displayWidth(const std::string& text)
{
    // Continuation bytes (10xxxxxx) do not start a code point.
    return static_cast<size_t>(
        std::count_if(text.begin(), text.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
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
