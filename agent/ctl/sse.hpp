#pragma once
// A Server-Sent Events parser (the WHATWG "event stream interpretation"): lines ending in LF,
// CRLF or CR; `event:` and `data:` fields (data lines joined by LF); a blank line dispatches.
// `id:` and `retry:` are read and ignored (dlbctl does not reconnect), comments too.

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

namespace dlb::ctl {

// One event larger than this is refused: the agent's events are a few KiB.
inline constexpr size_t kMaxEventBytes = 4 * 1024 * 1024;

class SseParser {
public:
    // Called per event; return false to stop.
    using Handler = std::function<bool(const std::string& event, const std::string& data)>;
    explicit SseParser(Handler handler) : handler_(std::move(handler)) {}

    enum class Result { Ok, Stopped, TooLarge };
    Result feed(std::string_view bytes);

private:
    bool line(std::string_view text); // false: the handler stopped

    Handler handler_;
    std::string line_;
    std::string event_;
    std::string data_;
    bool has_data_ = false;
    bool after_cr_ = false;
};

} // namespace dlb::ctl
