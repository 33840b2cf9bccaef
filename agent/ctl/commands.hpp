#pragma once
// dlbctl's commands: their help texts and what each one asks the agent.

namespace dlb::ctl {

// Runs dlbctl with these arguments; returns the exit code (errors.hpp). Output goes to stdout,
// messages to stderr as "dlbctl: ...".
int run(int argc, char** argv);

} // namespace dlb::ctl
