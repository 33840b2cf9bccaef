#pragma once
// Command-line plumbing shared by dlb-replica and dlb-loadgen: one way to read flags, numbers
// and host:port, so both tools accept and reject arguments alike.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace dlb::tools {

// Walks argv accepting both `--flag value` and `--flag=value`.
class ArgCursor {
public:
    ArgCursor(int argc, char** argv) : argc_(argc), argv_(argv) {}
    // Moves to the next argument; false at the end.
    bool next();
    // The current argument up to any '=' ("--rate").
    std::string_view flag() const { return flag_; }
    // The value: after '=', else the following argument (consumed). nullopt when there is none.
    std::optional<std::string_view> value();

private:
    int argc_;
    char** argv_;
    int index_ = 0;
    std::string_view flag_;
    std::optional<std::string_view> inline_value_;
};

// Whole-string numbers: "12x", "", "nan" and out-of-range values are rejected.
std::optional<double> parseDouble(std::string_view text);
std::optional<uint64_t> parseUnsigned(std::string_view text);

enum class ArgsAction { Run, Help, Version, Error };

// What parsing a command line decided.
template <class Options>
struct ParsedArgs {
    using Action = ArgsAction;
    Action action = Action::Run;
    Options options;
    std::string error; // one line: what is wrong and what is expected

    // Marks the parse as failed with `message`; returns the result to hand back.
    ParsedArgs fail(std::string message)
    {
        action = Action::Error;
        error = std::move(message);
        return *this;
    }
};

// "--flag: expected WHAT, got \"VALUE\"": the one shape of a bad-value message.
std::string expectedGot(std::string_view flag, std::string_view expected, std::string_view got);

// Handles --help, --version and errors the same way for every tool: returns the exit code to
// leave with (0, or 2 for a bad argument), or nullopt when the tool should run.
std::optional<int> finishArgs(ArgsAction action, const std::string& error, const char* program, const char* usage);

template <class Options>
std::optional<int> finishArgs(const ParsedArgs<Options>& args, const char* program, const char* usage)
{
    return finishArgs(args.action, args.error, program, usage);
}

} // namespace dlb::tools
