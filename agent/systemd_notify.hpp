#pragma once
// The agent's state for systemd (a Type=notify unit, packaging/systemd/dlb-agent.service),
// through sd_notify(3). Outside systemd ($NOTIFY_SOCKET unset) and in a build without
// libsystemd (DLB_HAVE_SYSTEMD undefined; CMake says so at configure) every call does nothing,
// so callers never check. Any thread; each call is one datagram, no state is kept.

namespace dlb::agent {

// Whether this build can talk to systemd at all (it was linked with libsystemd).
bool systemdNotifyBuiltIn();

// READY=1: every worker's loop runs (what /readyz reports), so `systemctl start` returns and
// units ordered after dlb-agent start only now.
void notifyReady();
// RELOADING=1: a SIGHUP reload begins; notifyReady() follows when it ends, applied or refused.
void notifyReloading();
// STOPPING=1: a graceful stop (drain) begins.
void notifyStopping();

} // namespace dlb::agent
