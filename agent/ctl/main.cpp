// dlbctl: the command-line client of dlb-agent's control API (docs/dlbctl.md).
#include "agent/ctl/commands.hpp"

int main(int argc, char** argv)
{
    return dlb::ctl::run(argc, argv);
}
