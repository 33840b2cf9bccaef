#include "agent/ctl/sse.hpp"

namespace dlb::ctl {

SseParser::Result SseParser::feed(std::string_view bytes)
{
    for (char ch : bytes) {
        if (after_cr_) {
            after_cr_ = false;
            if (ch == '\n')
                continue; // CRLF: the CR ended the line already
        }
        if (ch == '\r' || ch == '\n') {
            after_cr_ = ch == '\r';
            if (!line(line_))
                return Result::Stopped;
            line_.clear();
            continue;
        }
        line_.push_back(ch);
        if (line_.size() + data_.size() > kMaxEventBytes)
            return Result::TooLarge;
    }
    return Result::Ok;
}

bool SseParser::line(std::string_view text)
{
    if (text.empty()) {
        bool go_on = true;
        if (has_data_)
            go_on = handler_(event_.empty() ? "message" : event_, data_);
        event_.clear();
        data_.clear();
        has_data_ = false;
        return go_on;
    }
    if (text.front() == ':')
        return true; // a comment
    const size_t colon = text.find(':');
    std::string_view field = text.substr(0, colon);
    std::string_view value = colon == std::string_view::npos ? std::string_view{} : text.substr(colon + 1);
    if (!value.empty() && value.front() == ' ')
        value.remove_prefix(1);
    if (field == "event") {
        event_ = value;
    } else if (field == "data") {
        if (has_data_)
            data_.push_back('\n');
        data_ += value;
        has_data_ = true;
    }
    return true;
}

} // namespace dlb::ctl
