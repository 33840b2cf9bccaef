#!/usr/bin/env bash
# The package test (CTest label "package", scripts/test.sh pass "package"): as an admin would,
# on this Debian machine, with root (or sudo):
#   1. builds the DEB, TGZ and RPM packages with cpack; lintian finds no error in the .debs
#   2. installs dlb-agent, dlb-tools and dlb-console with dpkg -i; checks the dlb user, the
#      owners and modes postinst sets, the conffiles, the unit (systemd-analyze verify)
#   3. runs the installed dlb-agent as the unit would (user dlb, /run/dlb made as
#      RuntimeDirectory= makes it, no systemd needed) with its installed default config, and the
#      installed dlb-replica where that config expects it (127.0.0.1:9001); a request goes
#      through on 127.0.0.1:8080, the access log fills, /readyz answers on the packaged socket
#   4. adds a control token the way docs/operations.md says, restarts, and reads /v1/status
#      over /run/dlb/control.sock (with curl, and with dlbctl when it is installed); adds a
#      replica through the API, so the agent (user dlb) writes /etc/dlb/agent.json back
#   5. upgrades to a rebuilt package of the next revision: the edited conffile stays
#   6. removes (the conffile stays), then purges (nothing of dlb-agent stays but the dlb user)
# Usage: package_test.sh BUILD_DIR. Ends non-zero at the first failure, saying what failed.
set -euo pipefail

BUILD=$(cd "${1:?usage: package_test.sh BUILD_DIR}" && pwd)
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
WORK=$(mktemp -d)
PKGS=$BUILD/packages
AGENT_PID=""
REPLICA_PID=""
# The fixed addresses of the packaged default config (packaging/agent/agent.json).
AGENT_ADDR=127.0.0.1:8080
REPLICA_ADDR=127.0.0.1:9001
SOCK=/run/dlb/control.sock
CONF=/etc/dlb/agent.json
# How long any one wait may take before it counts as a failure.
WAIT_S=20

step() { echo "=== package_test: $*"; }
fail() {
  echo "package_test: FAILED: $*" >&2
  if [ -f "$WORK/agent.log" ]; then
    echo "--- the agent's output:" >&2
    cat "$WORK/agent.log" >&2
  fi
  exit 1
}

stop_agent() {
  if [ -n "$AGENT_PID" ]; then
    $SUDO kill -TERM "$AGENT_PID" 2>/dev/null || true
    wait "$AGENT_PID" 2>/dev/null || true
    AGENT_PID=""
  fi
}

cleanup() {
  stop_agent
  if [ -n "$REPLICA_PID" ]; then
    kill -TERM "$REPLICA_PID" 2>/dev/null || true
    wait "$REPLICA_PID" 2>/dev/null || true
  fi
  # Leave the machine as it was: whatever this test installed goes (purge), also on failure.
  for p in dlb-console dlb-tools dlb-agent; do
    if dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -qv 'not-installed'; then
      $SUDO dpkg -P "$p" >/dev/null 2>&1 || true
    fi
  done
  $SUDO rm -rf /run/dlb
  rm -rf "$WORK"
}
trap cleanup EXIT

# wait_for SECONDS DESCRIPTION COMMAND...: runs COMMAND until it succeeds, at most SECONDS.
wait_for() {
  local limit=$1 what=$2
  local deadline=$((SECONDS + limit))
  shift 2
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] || fail "$what (waited $limit s)"
    sleep 0.1 # the condition is another process's state: looked at ten times a second
  done
}

# Whether nothing accepts connections on HOST:PORT (bash's /dev/tcp: no iproute2 needed).
port_free() { ! (exec 3<>"/dev/tcp/${1%:*}/${1##*:}") 2>/dev/null; }

start_agent() {
  # As the unit runs it: user dlb, the control socket's folder made for it as RuntimeDirectory=
  # does, the open-file limit of LimitNOFILE=.
  $SUDO install -d -o dlb -g dlb -m 0750 /run/dlb
  : >"$WORK/agent.log"
  # setpriv execs the agent (runuser would stay in between and not pass SIGHUP on), so
  # AGENT_PID is the agent's, as systemd's MAINPID is; --no-new-privs is the unit's NoNewPrivileges.
  local as_dlb=(setpriv --reuid=dlb --regid=dlb --init-groups --no-new-privs --)
  $SUDO "${as_dlb[@]}" /usr/bin/dlb-agent --check --config "$CONF" >>"$WORK/agent.log" 2>&1 ||
    fail "dlb-agent --check rejects the installed $CONF"
  $SUDO "${as_dlb[@]}" /usr/bin/dlb-agent --config "$CONF" >>"$WORK/agent.log" 2>&1 &
  AGENT_PID=$!
  wait_for $WAIT_S "the installed agent never logged \"started\"" grep -q "dlb-agent: started" "$WORK/agent.log"
  wait_for $WAIT_S "/readyz on $SOCK never answered 200" \
    $SUDO curl -sf --unix-socket "$SOCK" http://localhost/readyz
}

# --- preconditions: a clean slate, the default config's ports free
for p in dlb-agent dlb-tools dlb-console; do
  # Also a package removed but not purged: its old conffiles would stand in for the new ones.
  if dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -qv 'not-installed'; then
    trap - EXIT
    rm -rf "$WORK"
    fail "$p is installed (or removed, not purged) already; this test installs and purges it: purge it first (dpkg -P $p)"
  fi
done
for a in $AGENT_ADDR $REPLICA_ADDR; do
  port_free "$a" || { trap - EXIT; rm -rf "$WORK"; fail "$a is in use; the packaged default config needs it: stop what listens there"; }
done

# --- 1. build
step "cpack -G DEB;TGZ;RPM in $BUILD"
rm -rf "$PKGS"
generators="DEB;TGZ"
if command -v rpmbuild >/dev/null; then generators="$generators;RPM"; else fail "rpmbuild is missing (Debian: rpm; scripts/install-deps.sh)"; fi
(cd "$BUILD" && cpack -G "$generators" >"$WORK/cpack.log" 2>&1) || { cat "$WORK/cpack.log" >&2; fail "cpack failed"; }
for p in dlb-agent dlb-tools dlb-console; do
  ls "$PKGS"/${p}_*.deb >/dev/null 2>&1 || fail "no $p .deb in $PKGS"
  ls "$PKGS"/${p}-*.rpm >/dev/null 2>&1 || fail "no $p .rpm in $PKGS"
done
ls "$PKGS"/*.tar.gz >/dev/null 2>&1 || fail "no .tar.gz in $PKGS"
AGENT_DEB=$(ls "$PKGS"/dlb-agent_*.deb)
# The RPM marks the config noreplace, so an upgrade keeps an edited one.
grep -qx "$CONF" <(rpm -qp --configfiles "$PKGS"/dlb-agent-*.rpm 2>/dev/null) || fail "the dlb-agent RPM does not mark $CONF as a config file"
grep -qx "etc/dlb/agent.json" <(tar -tzf "$PKGS"/dlb-agent-*.tar.gz) || fail "the agent archive lacks etc/dlb/agent.json"

step "lintian"
lintian --fail-on error "$PKGS"/*.deb >"$WORK/lintian.txt" 2>&1 || { cat "$WORK/lintian.txt" >&2; fail "lintian reports errors"; }
grep -E '^[EW]:' "$WORK/lintian.txt" || true

# --- 2. install
step "dpkg -i"
$SUDO dpkg -i "$AGENT_DEB" "$PKGS"/dlb-tools_*.deb "$PKGS"/dlb-console_*.deb >"$WORK/dpkg.log" 2>&1 ||
  { cat "$WORK/dpkg.log" >&2; fail "dpkg -i failed"; }
getent passwd dlb >/dev/null || fail "postinst made no user dlb"
[ "$(stat -c '%U:%G %a' /etc/dlb)" = "root:dlb 770" ] || fail "/etc/dlb is $(stat -c '%U:%G %a' /etc/dlb), want root:dlb 770"
[ "$(stat -c '%U:%G %a' $CONF)" = "root:dlb 640" ] || fail "$CONF is $(stat -c '%U:%G %a' $CONF), want root:dlb 640"
[ "$(stat -c '%U' /var/log/dlb)" = dlb ] || fail "/var/log/dlb is not dlb's"
grep -q " $CONF " <(dpkg-query -W -f='${Conffiles}\n' dlb-agent) || fail "$CONF is not a conffile"
for f in /usr/bin/dlb-agent /usr/bin/dlb-replica /usr/bin/dlb-loadgen /usr/bin/dlb-console \
         /lib/systemd/system/dlb-agent.service /etc/logrotate.d/dlb-agent \
         /usr/share/man/man1/dlb-agent.1.gz /usr/share/man/man1/dlb-replica.1.gz \
         /usr/share/applications/org.dlb.Console.desktop /usr/share/metainfo/org.dlb.Console.metainfo.xml \
         /usr/share/icons/hicolor/scalable/apps/org.dlb.Console.svg; do
  [ -e "$f" ] || fail "$f is not installed"
done
if [ -e /usr/bin/dlbctl ]; then
  [ -e /usr/share/man/man1/dlbctl.1.gz ] || fail "dlbctl is installed without its man page"
fi
grep -q "^dlb-agent " <(/usr/bin/dlb-agent --version) || fail "the installed dlb-agent --version"
command -v systemd-analyze >/dev/null || fail "systemd-analyze is missing (Debian: systemd; scripts/install-deps.sh)"
systemd-analyze verify /lib/systemd/system/dlb-agent.service >"$WORK/verify.txt" 2>&1 ||
  { cat "$WORK/verify.txt" >&2; fail "systemd-analyze verify rejects the unit"; }
# It may warn, exit 0, about what it cannot judge without a running manager; show that too.
cat "$WORK/verify.txt"
command -v logrotate >/dev/null || fail "logrotate is missing (scripts/install-deps.sh)"
$SUDO logrotate -d /etc/logrotate.d/dlb-agent >"$WORK/logrotate.txt" 2>&1 ||
  { cat "$WORK/logrotate.txt" >&2; fail "logrotate rejects /etc/logrotate.d/dlb-agent"; }

# --- 3. run the installed agent and replica
step "the installed agent with its default config, the installed replica on $REPLICA_ADDR"
/usr/bin/dlb-replica --listen $REPLICA_ADDR --name packaged --workers 4 --service-ms 1 >"$WORK/replica.log" 2>&1 &
REPLICA_PID=$!
wait_for $WAIT_S "dlb-replica never listened" grep -q "listening on" "$WORK/replica.log"
start_agent
wait_for $WAIT_S "no request through http://$AGENT_ADDR/ reached the replica" \
  sh -c "curl -sfi http://$AGENT_ADDR/ | grep -qi '^x-replica: packaged'"
wait_for $WAIT_S "the access log /var/log/dlb/access.log stays empty" test -s /var/log/dlb/access.log
[ "$(stat -c %U /var/log/dlb/access.log)" = dlb ] || fail "the access log is not written by dlb"
status=$($SUDO curl -s -o /dev/null -w '%{http_code}' --unix-socket $SOCK http://localhost/v1/status)
[ "$status" = 401 ] || fail "/v1/status without a token answered $status, want 401"
if command -v dlbctl >/dev/null; then
  rc=0; $SUDO dlbctl status >/dev/null 2>&1 || rc=$?
  [ "$rc" = 4 ] || fail "dlbctl status without a token exited $rc, want 4 (the agent refused it: it was reached)"
fi

# --- 4. a token as docs/operations.md says, then the control API over the packaged socket
step "a control token (docs/operations.md), restart, /v1/status on $SOCK"
token=$(head -c 32 /dev/urandom | base64 | tr -d '=+/\n')
printf '%s' "$token" >"$WORK/token"
chmod 0600 "$WORK/token"
hash=$(printf '%s' "$token" | sha256sum | cut -d' ' -f1)
$SUDO python3 - "$CONF" "$hash" <<'EOF'
import json, os, sys
path, digest = sys.argv[1], sys.argv[2]
with open(path) as f:
    config = json.load(f)
config["control"]["tokens"] = [{"name": "ops", "role": "admin", "sha256": digest}]
# As an editor keeps it: the same file, so owner and mode stay.
with open(path, "r+") as f:
    f.truncate(0)
    json.dump(config, f, indent=2)
    f.write("\n")
EOF
stop_agent
start_agent
auth="Authorization: Bearer $token"
grep -q '"version"' <($SUDO curl -sf --unix-socket $SOCK -H "$auth" http://localhost/v1/status) ||
  fail "/v1/status with the token did not answer"
if command -v dlbctl >/dev/null; then
  $SUDO env DLB_TOKEN_FILE="$WORK/token" dlbctl status >"$WORK/dlbctl.txt" 2>&1 ||
    { cat "$WORK/dlbctl.txt" >&2; fail "dlbctl status over $SOCK failed"; }
  echo "dlbctl status:"; cat "$WORK/dlbctl.txt"
else
  echo "package_test: dlbctl is not in this build; its check is left out"
fi
# The agent, as dlb, writes the config back into /etc/dlb (a temporary file and a rename).
status=$($SUDO curl -s -o "$WORK/add.json" -w '%{http_code}' --unix-socket $SOCK -H "$auth" \
  -X POST -d '{"url": "http://127.0.0.1:9002"}' http://localhost/v1/pools/web/replicas)
[ "$status" = 201 ] || { cat "$WORK/add.json" >&2; fail "adding a replica answered $status, want 201"; }
grep -q '127.0.0.1:9002' $CONF || fail "the agent did not write the added replica back to $CONF"
mark=$(wc -c <"$WORK/agent.log")
$SUDO kill -HUP "$AGENT_PID"
wait_for $WAIT_S "SIGHUP: no \"config reloaded\"" sh -c "tail -c +$((mark + 1)) '$WORK/agent.log' | grep -q 'config reloaded'"
stop_agent
grep -q "dlb-agent: stopped" "$WORK/agent.log" || fail "the agent did not stop cleanly on SIGTERM"

# --- 5. upgrade: the next revision, rebuilt from this one; the edited conffile stays
step "upgrade to the next revision keeps the edited $CONF"
rm -rf "$WORK/next"
dpkg-deb -R "$AGENT_DEB" "$WORK/next"
version=$(sed -n 's/^Version: //p' "$WORK/next/DEBIAN/control")
next_version="${version%-*}-$((${version##*-} + 1))"
sed -i "s/^Version: .*/Version: $next_version/" "$WORK/next/DEBIAN/control"
dpkg-deb -b --root-owner-group "$WORK/next" "$WORK/next.deb" >/dev/null
before=$(sha256sum <$CONF)
$SUDO dpkg -i "$WORK/next.deb" >"$WORK/dpkg.log" 2>&1 || { cat "$WORK/dpkg.log" >&2; fail "the upgrade failed"; }
[ "$(dpkg-query -W -f='${Version}' dlb-agent)" = "$next_version" ] || fail "dlb-agent is not at $next_version after the upgrade"
[ "$(sha256sum <$CONF)" = "$before" ] || fail "the upgrade changed the edited $CONF"
[ ! -e $CONF.dpkg-new ] || fail "the upgrade left $CONF.dpkg-new"
start_agent # the upgraded agent still runs with the kept config
grep -q '127.0.0.1:9002' <($SUDO curl -sf --unix-socket $SOCK -H "$auth" http://localhost/v1/pools) ||
  fail "after the upgrade the agent does not run the kept config"
stop_agent

# --- 6. remove keeps the conffile, purge takes everything
step "dpkg -r, then dpkg -P"
$SUDO dpkg -r dlb-agent >"$WORK/dpkg.log" 2>&1 || { cat "$WORK/dpkg.log" >&2; fail "dpkg -r dlb-agent failed"; }
[ ! -e /usr/bin/dlb-agent ] || fail "dpkg -r left /usr/bin/dlb-agent"
[ -e $CONF ] || fail "dpkg -r removed the conffile $CONF (only purge may)"
$SUDO dpkg -P dlb-agent dlb-tools dlb-console >"$WORK/dpkg.log" 2>&1 || { cat "$WORK/dpkg.log" >&2; fail "dpkg -P failed"; }
for f in /etc/dlb /var/log/dlb /etc/logrotate.d/dlb-agent /lib/systemd/system/dlb-agent.service /usr/bin/dlb-replica \
         /usr/bin/dlb-console; do
  [ ! -e "$f" ] || fail "purge left $f"
done
$SUDO rm -rf /run/dlb # what RuntimeDirectory= removes when the unit stops
step "passed"
