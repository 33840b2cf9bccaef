#include "agent/systemd_notify.hpp"

#ifdef DLB_HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

namespace dlb::agent {

namespace {

void notify([[maybe_unused]] const char* state)
{
#ifdef DLB_HAVE_SYSTEMD
    // unset_environment 0: the workers' threads may read the environment; a failure to send
    // (no manager listening) changes nothing for the agent, so the result is not acted on.
    sd_notify(0, state);
#endif
}

} // namespace

bool systemdNotifyBuiltIn()
{
#ifdef DLB_HAVE_SYSTEMD
    return true;
#else
    return false;
#endif
}

void notifyReady()
{
    notify("READY=1\nSTATUS=serving");
}

void notifyReloading()
{
    notify("RELOADING=1\nSTATUS=reloading the config");
}

void notifyStopping()
{
    notify("STOPPING=1\nSTATUS=draining requests in flight");
}

} // namespace dlb::agent
