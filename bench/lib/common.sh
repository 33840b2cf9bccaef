# Shared helpers of the bench/*.sh scripts. Source it; it defines functions and a few
# variables, starts nothing by itself, and installs no trap (each script owns its EXIT trap
# and calls bench_cleanup from it).
#
# Every process a script starts goes through bench_spawn, which records its PID; bench_cleanup
# sends SIGTERM to exactly those PIDs (never by name), waits a little, then SIGKILLs survivors.

BENCH_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BENCH_DIR=$(cd "$BENCH_LIB_DIR/.." && pwd)
REPO_ROOT=$(cd "$BENCH_DIR/.." && pwd)
BENCH_PY="$BENCH_LIB_DIR/benchlib.py"

# Binaries: BIN_DIR (absolute, or relative to the repository root), default build/bin.
BIN_DIR=${BIN_DIR:-build/bin}
case "$BIN_DIR" in
/*) ;;
*) BIN_DIR="$REPO_ROOT/$BIN_DIR" ;;
esac

BENCH_PIDS=()
BENCH_TMP=""

bench_log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
bench_die() {
    printf 'error: %s\n' "$*" >&2
    exit 1
}

# bench_need_dlb NAME... : the dlb binaries must exist in BIN_DIR.
bench_need_dlb() {
    local missing=0 b
    for b in "$@"; do
        if [[ ! -x "$BIN_DIR/$b" ]]; then
            printf 'error: %s not found in %s\n' "$b" "$BIN_DIR" >&2
            missing=1
        fi
    done
    if ((missing)); then
        cat >&2 <<EOF
Build them first, e.g.:
  cmake -S "$REPO_ROOT" -B "$REPO_ROOT/build" -DCMAKE_BUILD_TYPE=Release -DDLB_BUILD_TESTS=OFF
  cmake --build "$REPO_ROOT/build" --target dlb-agent dlb-replica dlb-loadgen -j"$(nproc)"
or point BIN_DIR at a directory holding them (BIN_DIR=build-x/bin $0).
EOF
        exit 1
    fi
}

# bench_need_cmd CMD... : system programs (nginx, haproxy, wrk, python3, gnuplot).
bench_need_cmd() {
    local missing=() c
    for c in "$@"; do
        command -v "$c" >/dev/null 2>&1 || missing+=("$c")
    done
    if ((${#missing[@]})); then
        printf 'error: missing program(s): %s\n' "${missing[*]}" >&2
        printf 'Install them with scripts/install-deps.sh, or:\n  apt-get install -y nginx-light haproxy wrk gnuplot-nox python3\n' >&2
        exit 1
    fi
}

# bench_isolate SCRIPT ARGS... : on a shared machine, give the benchmark its own share of the
# CPU. Linux's scheduler autogroups split the CPU between sessions first, whatever the nice
# values; so, when run as root, the script re-runs itself in a new session (setsid) and sets
# that session's autogroup nice to -10 (and its own nice to -10, for kernels without
# autogroups). Every process the benchmark starts, peers included, inherits it. Other
# sessions are left as they are. Sets BENCH_PRIORITY to a description.
bench_isolate() {
    local script=$1
    shift
    if [[ ${DLB_BENCH_ISOLATED:-0} == 1 ]]; then
        local parts=()
        if [[ -w /proc/self/autogroup ]] && echo -10 >/proc/self/autogroup 2>/dev/null; then
            parts+=("scheduler autogroup of its own at nice $(awk '{print $NF}' /proc/self/autogroup)")
        fi
        renice -n -10 -p $$ >/dev/null 2>&1 || true
        parts+=("process nice $(ps -o ni= -p $$ | tr -d ' ')")
        BENCH_PRIORITY=$(IFS=,; echo "${parts[*]}" | sed 's/,/, /g')
        return 0
    fi
    if [[ $EUID -ne 0 ]] || ! command -v setsid >/dev/null 2>&1 || [[ ${DLB_BENCH_NO_ISOLATE:-0} == 1 ]]; then
        BENCH_PRIORITY="process nice $(ps -o ni= -p $$ | tr -d ' ') (not isolated)"
        return 0
    fi
    DLB_BENCH_ISOLATED=1 setsid "$script" "$@" </dev/null &
    local child=$! rc=0
    trap 'kill -TERM "$child" 2>/dev/null || true' INT TERM
    wait "$child" || rc=$?
    while kill -0 "$child" 2>/dev/null; do
        wait "$child" || rc=$?
    done
    exit "$rc"
}

# bench_cpu_ticks PID : utime+stime of PID (all its threads) plus its direct children
# (nginx workers), in clock ticks (getconf CLK_TCK per second).
bench_cpu_ticks() {
    local pid=$1 total=0 v c
    v=$(awk '{print $14 + $15}' "/proc/$pid/stat" 2>/dev/null || echo 0)
    total=$((total + ${v:-0}))
    for c in $(cat "/proc/$pid/task/"*/children 2>/dev/null); do
        v=$(awk '{print $14 + $15}' "/proc/$c/stat" 2>/dev/null || echo 0)
        total=$((total + ${v:-0}))
    done
    echo "$total"
}

# bench_tmpdir : a private scratch directory, removed by bench_cleanup (kept with KEEP_TMP=1).
bench_tmpdir() {
    BENCH_TMP=$(mktemp -d /tmp/dlb-bench.XXXXXX)
    # nginx workers drop root privileges; they must be able to reach their prefix.
    chmod 755 "$BENCH_TMP"
}

# bench_spawn LOGFILE CMD ARGS... : start CMD in the background, stdout+stderr to LOGFILE.
# Sets BENCH_LAST_PID.
bench_spawn() {
    local log=$1
    shift
    "$@" >"$log" 2>&1 </dev/null &
    BENCH_LAST_PID=$!
    BENCH_PIDS+=("$BENCH_LAST_PID")
}

# bench_stop PID... : SIGTERM, wait up to 3 s, then SIGKILL; forget the PIDs.
bench_stop() {
    local pid i alive
    for pid in "$@"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for ((i = 0; i < 30; i++)); do
        alive=0
        for pid in "$@"; do
            kill -0 "$pid" 2>/dev/null && alive=1
        done
        ((alive)) || break
        sleep 0.1
    done
    for pid in "$@"; do
        if kill -0 "$pid" 2>/dev/null; then
            bench_log "pid $pid still running 3 s after SIGTERM; sending SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
        fi
        wait "$pid" 2>/dev/null || true
    done
    local keep=() p
    for p in "${BENCH_PIDS[@]}"; do
        local drop=0
        for pid in "$@"; do [[ $p == "$pid" ]] && drop=1; done
        ((drop)) || keep+=("$p")
    done
    BENCH_PIDS=("${keep[@]}")
}

bench_cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    if ((${#BENCH_PIDS[@]})); then
        bench_stop "${BENCH_PIDS[@]}"
    fi
    if [[ -n $BENCH_TMP && -d $BENCH_TMP && ${KEEP_TMP:-0} != 1 ]]; then
        rm -rf "$BENCH_TMP"
    fi
    return $rc
}

# bench_free_ports N : prints N distinct free TCP ports of 127.0.0.1, one a line. The sockets
# are held open together while choosing, so the N ports differ; a port could still be taken
# between here and its use, which bench_wait_listen then reports.
bench_free_ports() {
    python3 - "$1" <<'EOF'
import socket, sys
n = int(sys.argv[1])
socks = []
for _ in range(n):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    socks.append(s)
for s in socks:
    print(s.getsockname()[1])
for s in socks:
    s.close()
EOF
}

# bench_wait_line LOGFILE PID REGEX [TIMEOUT_S] : wait until LOGFILE has a line matching REGEX;
# prints that line. Fails (with the log) when PID dies or the time runs out.
bench_wait_line() {
    local log=$1 pid=$2 re=$3 timeout=${4:-10} i line
    for ((i = 0; i < timeout * 20; i++)); do
        line=$(grep -m1 -E "$re" "$log" 2>/dev/null || true)
        if [[ -n $line ]]; then
            printf '%s\n' "$line"
            return 0
        fi
        if ! kill -0 "$pid" 2>/dev/null; then
            printf 'error: process %s exited before "%s"; its output (%s):\n' "$pid" "$re" "$log" >&2
            sed 's/^/  | /' "$log" >&2
            return 1
        fi
        sleep 0.05
    done
    printf 'error: no "%s" from pid %s within %ss; its output (%s):\n' "$re" "$pid" "$timeout" "$log" >&2
    sed 's/^/  | /' "$log" >&2
    return 1
}

# bench_wait_listen PORT PID LOGFILE [TIMEOUT_S] : wait until 127.0.0.1:PORT accepts.
bench_wait_listen() {
    local port=$1 pid=$2 log=$3 timeout=${4:-10} i
    for ((i = 0; i < timeout * 20; i++)); do
        if python3 -c 'import socket,sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 0.2).close()' "$port" 2>/dev/null; then
            return 0
        fi
        if ! kill -0 "$pid" 2>/dev/null; then
            printf 'error: process %s (listening on %s) exited; its output (%s):\n' "$pid" "$port" "$log" >&2
            sed 's/^/  | /' "$log" >&2
            return 1
        fi
        sleep 0.05
    done
    printf 'error: nothing accepts on 127.0.0.1:%s within %ss; output of pid %s:\n' "$port" "$timeout" "$pid" >&2
    sed 's/^/  | /' "$log" >&2
    return 1
}

# bench_rss_kb PID : VmRSS of PID plus its direct children (nginx workers), in KiB.
bench_rss_kb() {
    local pid=$1 total=0 v c
    v=$(awk '/^VmRSS:/{print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
    total=$((total + ${v:-0}))
    for c in $(cat "/proc/$pid/task/"*/children 2>/dev/null); do
        v=$(awk '/^VmRSS:/{print $2}' "/proc/$c/status" 2>/dev/null || echo 0)
        total=$((total + ${v:-0}))
    done
    echo "$total"
}

# bench_fill TEMPLATE OUT KEY=VALUE... : replaces @KEY@ in TEMPLATE by VALUE.
bench_fill() {
    python3 "$BENCH_PY" fill "$@"
}

# bench_revision : what the binaries are: the time dlb-agent was built, and the work tree as
# git describes it now (call it at the start of a run; "-dirty" means uncommitted changes).
bench_revision() {
    local built rev
    built=$(date -u -r "$BIN_DIR/dlb-agent" '+%Y-%m-%d %H:%M UTC' 2>/dev/null || echo "unknown time")
    rev=$(git -C "$REPO_ROOT" describe --always --dirty 2>/dev/null || echo unknown)
    printf 'binaries built %s; work tree at %s when the run started' "$built" "$rev"
}

# bench_machine : one line naming the machine.
bench_machine() {
    local model
    model=$(awk -F': ' '/^model name/{print $2; exit}' /proc/cpuinfo)
    printf '%s cores (nproc), %s, %s, Linux %s' "$(nproc)" "${model:-unknown CPU}" \
        "$(. /etc/os-release && echo "$PRETTY_NAME")" "$(uname -r)"
}
