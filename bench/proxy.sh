#!/usr/bin/env bash
# Proxy throughput: wrk against a fast backend directly, through dlb-agent, through nginx and
# through HAProxy, with 1 and then 2 workers each; prints req/s, p99 and the ratios, and writes
# them to docs/benchmarks.md ("Proxy throughput"). See --help.
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
ORIG_ARGS=("$@")

usage() {
    cat <<EOF
usage: bench/proxy.sh [options]

Runs wrk (HTTP/1.1 keep-alive, closed loop) against
  - the backend directly,
  - dlb-agent  (round_robin, workers N),
  - nginx      (proxy_pass, upstream keepalive, worker_processes N, reuseport),
  - HAProxy    (mode http, http-reuse always, nbthread N),
all in front of the same two fast backends, for each N in --workers. Every
configuration runs --reps times (interleaved) and the median is reported. Also
measures the resident memory (VmRSS) of each proxy idle after start and after the load.

options:
  --duration S        seconds per wrk run (default 6)
  --reps N            runs per configuration, median reported (default 3)
  --connections "C.." wrk connection counts (default "64 128")
  --workers "N.."     proxy worker counts (default "1 2"); wrk uses N threads
  --backend B         auto | replica | nginx (default auto: measure both directly,
                      keep the faster one, i.e. the one that is not the bottleneck)
  --quick             --duration 3 --reps 1 --connections 64 (a smoke run, ~1 min;
                      leaves the docs alone unless --docs is given)
  --no-docs           do not touch docs/benchmarks.md
  --docs              write docs/benchmarks.md even after --quick
  --help              this text

environment:
  BIN_DIR   directory of dlb-agent and dlb-replica (default build/bin, relative to the
            repository root)
  KEEP_TMP  1 keeps the scratch directory (nginx prefixes) for inspection

Output: bench/out/proxy-<date>/ (raw wrk output, configs, results.jsonl, table.md)
and the "Proxy throughput" section of docs/benchmarks.md. Full run: about 5-6 minutes.
Needs: wrk, nginx, haproxy, python3 (scripts/install-deps.sh installs them).
EOF
}

DURATION=6
REPS=3
CONNS="64 128"
WORKERS="1 2"
BACKEND=auto
WRITE_DOCS=1
QUICK=0
FORCE_DOCS=0
while (($#)); do
    case "$1" in
    --duration) DURATION=${2:?--duration needs a value}; shift 2 ;;
    --reps) REPS=${2:?--reps needs a value}; shift 2 ;;
    --connections) CONNS=${2:?--connections needs a value}; shift 2 ;;
    --workers) WORKERS=${2:?--workers needs a value}; shift 2 ;;
    --backend) BACKEND=${2:?--backend needs a value}; shift 2 ;;
    --quick) DURATION=3; REPS=1; CONNS=64; QUICK=1; shift ;;
    --no-docs) WRITE_DOCS=0; shift ;;
    --docs) FORCE_DOCS=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) printf 'unknown option: %s (see --help)\n' "$1" >&2; exit 2 ;;
    esac
done
# A quick run is a smoke run: it leaves the docs alone unless --docs asks for them.
if ((QUICK && !FORCE_DOCS)); then WRITE_DOCS=0; fi
if ((FORCE_DOCS)); then WRITE_DOCS=1; fi
[[ $DURATION =~ ^[0-9]+$ && $DURATION -ge 1 ]] || bench_die "--duration: a whole number of seconds >= 1, got $DURATION"
[[ $REPS =~ ^[0-9]+$ && $REPS -ge 1 ]] || bench_die "--reps: a whole number >= 1, got $REPS"
[[ $BACKEND =~ ^(auto|replica|nginx)$ ]] || bench_die "--backend: auto, replica or nginx, got $BACKEND"
for c in $CONNS; do [[ $c =~ ^[0-9]+$ && $c -ge 1 ]] || bench_die "--connections: whole numbers, got $c"; done
for w in $WORKERS; do [[ $w =~ ^[0-9]+$ && $w -ge 1 ]] || bench_die "--workers: whole numbers, got $w"; done

bench_need_dlb dlb-agent dlb-replica
bench_need_cmd wrk nginx haproxy python3

bench_isolate "$0" "${ORIG_ARGS[@]}"
trap bench_cleanup EXIT
trap 'trap - ERR; exit 130' INT TERM
trap 'bench_log "stopped by a failing command at line $LINENO: $BASH_COMMAND"' ERR


STAMP=$(date +%Y%m%d-%H%M%S)
OUT="$BENCH_DIR/out/proxy-$STAMP"
mkdir -p "$OUT"
bench_tmpdir
RESULTS="$OUT/results.jsonl"
: >"$RESULTS"
RSS_FILE="$OUT/rss.jsonl"
: >"$RSS_FILE"
LOADAVG=$(cut -d' ' -f1-3 /proc/loadavg)
REVISION=$(bench_revision)
bench_log "output in $OUT (load average now: $LOADAVG; $BENCH_PRIORITY)"

# ----------------------------------------------------------------------------- backends

BACKEND_PIDS=()
BACKEND_ADDRS=()

start_replica_backends() {
    local i line
    for i in 1 2; do
        bench_spawn "$OUT/backend-replica-r$i.log" "$BIN_DIR/dlb-replica" --listen 127.0.0.1:0 --name "r$i" --service-ms 0 --seed "$i"
        BACKEND_PIDS+=("$BENCH_LAST_PID")
        line=$(bench_wait_line "$OUT/backend-replica-r$i.log" "$BENCH_LAST_PID" '^listening on ')
        BACKEND_ADDRS+=("${line#listening on }")
    done
}

start_nginx_backends() {
    local i port prefix
    local ports
    mapfile -t ports < <(bench_free_ports 2)
    for i in 1 2; do
        port=${ports[$((i - 1))]}
        prefix="$BENCH_TMP/nginx-backend-$i"
        mkdir -p "$prefix"
        bench_fill "$BENCH_DIR/conf/nginx-backend.conf.in" "$OUT/nginx-backend-$i.conf" PREFIX="$prefix" PORT="$port" NAME="n$i"
        bench_spawn "$OUT/backend-nginx-n$i.log" nginx -p "$prefix" -c "$OUT/nginx-backend-$i.conf" -e "$prefix/error.log"
        BACKEND_PIDS+=("$BENCH_LAST_PID")
        bench_wait_listen "$port" "$BENCH_LAST_PID" "$prefix/error.log"
        BACKEND_ADDRS+=("127.0.0.1:$port")
    done
}

stop_backends() {
    ((${#BACKEND_PIDS[@]})) && bench_stop "${BACKEND_PIDS[@]}"
    BACKEND_PIDS=()
    BACKEND_ADDRS=()
}

# run_wrk LABEL THREADS CONNS SECONDS URL : wrk output to $OUT/LABEL.txt.
run_wrk() {
    local label=$1 threads=$2 conns=$3 secs=$4 url=$5
    wrk -t"$threads" -c"$conns" -d"${secs}s" --latency "$url" >"$OUT/$label.txt" 2>&1 || {
        bench_log "wrk failed for $label; output:"
        sed 's/^/  | /' "$OUT/$label.txt" >&2
        return 1
    }
}

json_get() { python3 -c 'import json,sys; v=json.loads(sys.argv[1]).get(sys.argv[2]); print("" if v is None else v)' "$1" "$2"; }

BACKEND_CHOICE=""
if [[ $BACKEND == auto ]]; then
    bench_log "choosing the backend: wrk -t1 -c64 -d4s straight at one instance of each candidate"
    start_replica_backends
    run_wrk select-replica 1 64 4 "http://${BACKEND_ADDRS[0]}/"
    python3 "$BENCH_PY" wrk "$OUT/select-replica.txt" >"$OUT/select-replica.json"
    stop_backends
    start_nginx_backends
    run_wrk select-nginx 1 64 4 "http://${BACKEND_ADDRS[0]}/"
    python3 "$BENCH_PY" wrk "$OUT/select-nginx.txt" >"$OUT/select-nginx.json"
    stop_backends
    rep_rps=$(json_get "$(cat "$OUT/select-replica.json")" rps)
    ngx_rps=$(json_get "$(cat "$OUT/select-nginx.json")" rps)
    if python3 -c 'import sys; sys.exit(0 if float(sys.argv[1]) >= float(sys.argv[2]) else 1)' "$rep_rps" "$ngx_rps"; then
        BACKEND=replica
    else
        BACKEND=nginx
    fi
    BACKEND_CHOICE=$(printf 'Chosen by measurement: one instance straight from wrk (-t1 -c64, 4 s) answered %.0f req/s as dlb-replica and %.0f req/s as nginx; the faster one, %s, is used so that the backend is not the bottleneck.' \
        "$rep_rps" "$ngx_rps" "$BACKEND")
    bench_log "$BACKEND_CHOICE"
else
    BACKEND_CHOICE="Chosen with --backend $BACKEND."
fi

if [[ $BACKEND == replica ]]; then
    start_replica_backends
    BACKEND_DESC="two \`dlb-replica --service-ms 0\` processes (answer at once, 3-byte body, one event loop each)"
    BACKEND_CMD="dlb-replica --listen 127.0.0.1:0 --name rN --service-ms 0 --seed N   # N = 1, 2"
else
    start_nginx_backends
    BACKEND_DESC="two nginx instances of one worker each returning a fixed 3-byte answer (bench/conf/nginx-backend.conf.in)"
    BACKEND_CMD="nginx -p TMP/nginx-backend-N -c nginx-backend-N.conf   # N = 1, 2 (bench/conf/nginx-backend.conf.in)"
fi
bench_log "backends: ${BACKEND_ADDRS[*]} ($BACKEND)"

# ----------------------------------------------------------------------------- proxies

PROXY_PIDS=()
declare -A PROXY_PORT PROXY_PID PROXY_LOG

start_proxies() {
    local w=$1 ports
    mapfile -t ports < <(bench_free_ports 3)

    # dlb-agent
    local replicas="" a
    for a in "${BACKEND_ADDRS[@]}"; do
        replicas+="${replicas:+, }{\"url\": \"http://$a\", \"weight\": 1}"
    done
    cat >"$OUT/agent-w$w.json" <<EOF
{
  "workers": $w,
  "listeners": [{"address": "127.0.0.1:${ports[0]}"}],
  "pools": [{"name": "web", "algorithm": {"name": "round_robin"}, "replicas": [$replicas]}]
}
EOF
    bench_spawn "$OUT/agent-w$w.log" "$BIN_DIR/dlb-agent" --config "$OUT/agent-w$w.json"
    PROXY_PID[dlb]=$BENCH_LAST_PID
    PROXY_PORT[dlb]=${ports[0]}
    PROXY_LOG[dlb]="$OUT/agent-w$w.log"
    bench_wait_line "$OUT/agent-w$w.log" "$BENCH_LAST_PID" 'listening on' >/dev/null

    # nginx
    local prefix="$BENCH_TMP/nginx-proxy-w$w" servers="" i=0
    mkdir -p "$prefix"
    for a in "${BACKEND_ADDRS[@]}"; do
        servers+="${servers:+$'\n'}server $a max_fails=0;"
    done
    bench_fill "$BENCH_DIR/conf/nginx-proxy.conf.in" "$OUT/nginx-proxy-w$w.conf" PREFIX="$prefix" WORKERS="$w" \
        PORT="${ports[1]}" BALANCE="" SERVERS="$servers" KEEPALIVE=128
    bench_spawn "$OUT/nginx-proxy-w$w.log" nginx -p "$prefix" -c "$OUT/nginx-proxy-w$w.conf" -e "$prefix/error.log"
    PROXY_PID[nginx]=$BENCH_LAST_PID
    PROXY_PORT[nginx]=${ports[1]}
    PROXY_LOG[nginx]="$prefix/error.log"
    bench_wait_listen "${ports[1]}" "$BENCH_LAST_PID" "$prefix/error.log"

    # HAProxy
    servers=""
    for a in "${BACKEND_ADDRS[@]}"; do
        i=$((i + 1))
        servers+="${servers:+$'\n'}server s$i $a"
    done
    bench_fill "$BENCH_DIR/conf/haproxy.cfg.in" "$OUT/haproxy-w$w.cfg" THREADS="$w" PORT="${ports[2]}" \
        BALANCE=roundrobin SERVERS="$servers"
    haproxy -c -q -f "$OUT/haproxy-w$w.cfg" || bench_die "haproxy rejected $OUT/haproxy-w$w.cfg"
    bench_spawn "$OUT/haproxy-w$w.log" haproxy -f "$OUT/haproxy-w$w.cfg" -db
    PROXY_PID[haproxy]=$BENCH_LAST_PID
    PROXY_PORT[haproxy]=${ports[2]}
    PROXY_LOG[haproxy]="$OUT/haproxy-w$w.log"
    bench_wait_listen "${ports[2]}" "$BENCH_LAST_PID" "$OUT/haproxy-w$w.log"

    PROXY_PIDS=("${PROXY_PID[dlb]}" "${PROXY_PID[nginx]}" "${PROXY_PID[haproxy]}")
}

check_alive() {
    local t
    for t in dlb nginx haproxy; do
        if ! kill -0 "${PROXY_PID[$t]}" 2>/dev/null; then
            bench_log "$t (pid ${PROXY_PID[$t]}) died; its log ${PROXY_LOG[$t]}:"
            sed 's/^/  | /' "${PROXY_LOG[$t]}" >&2 || true
            exit 1
        fi
    done
}

declare -A IDLE_RSS
CLK_TCK=$(getconf CLK_TCK)
for w in $WORKERS; do
    bench_log "=== $w worker(s): starting dlb-agent, nginx, HAProxy"
    start_proxies "$w"
    sleep 1
    for t in dlb nginx haproxy; do IDLE_RSS[$t]=$(bench_rss_kb "${PROXY_PID[$t]}"); done
    bench_log "idle RSS: dlb-agent ${IDLE_RSS[dlb]} KiB, nginx ${IDLE_RSS[nginx]} KiB, HAProxy ${IDLE_RSS[haproxy]} KiB"
    for t in dlb nginx haproxy; do
        run_wrk "warmup-w$w-$t" "$w" 64 1 "http://127.0.0.1:${PROXY_PORT[$t]}/"
    done
    check_alive
    for ((rep = 1; rep <= REPS; rep++)); do
        for c in $CONNS; do
            for t in direct dlb nginx haproxy; do
                if [[ $t == direct ]]; then
                    url="http://${BACKEND_ADDRS[0]}/"
                    pid=${BACKEND_PIDS[0]}
                else
                    url="http://127.0.0.1:${PROXY_PORT[$t]}/"
                    pid=${PROXY_PID[$t]}
                fi
                label="w$w-c$c-$t-rep$rep"
                ticks0=$(bench_cpu_ticks "$pid")
                run_wrk "$label" "$w" "$c" "$DURATION" "$url"
                ticks1=$(bench_cpu_ticks "$pid")
                python3 "$BENCH_PY" wrk-record "$OUT/$label.txt" "$RESULTS" target="$t" workers="$w" conns="$c" rep="$rep" \
                    cpu_ticks=$((ticks1 - ticks0)) clk_tck="$CLK_TCK" >&2
                [[ $t == direct ]] || check_alive
            done
        done
    done
    sleep 1
    for t in dlb nginx haproxy; do
        after=$(bench_rss_kb "${PROXY_PID[$t]}")
        printf '{"target": "%s", "workers": %d, "idle_kib": %d, "after_kib": %d}\n' "$t" "$w" "${IDLE_RSS[$t]}" "$after" >>"$RSS_FILE"
    done
    bench_stop "${PROXY_PIDS[@]}"
    PROXY_PIDS=()
done
stop_backends

# ----------------------------------------------------------------------------- report

BUILD_TYPE=$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$BIN_DIR/../CMakeCache.txt" 2>/dev/null || true)
export P_DATE P_MACHINE P_LOADAVG="$LOADAVG" P_BACKEND_DESC="$BACKEND_DESC" P_BACKEND_CHOICE="$BACKEND_CHOICE" \
    P_REPS="$REPS" P_DURATION="$DURATION" P_BUILD_TYPE="${BUILD_TYPE:-unknown}" P_BIN_DIR="$BIN_DIR" \
    P_CONNS="$CONNS" P_WORKERS="$WORKERS" P_NICE="$BENCH_PRIORITY" P_BACKEND_CMD="$BACKEND_CMD" P_RSS_FILE="$RSS_FILE"
P_DATE=$(date -u '+%Y-%m-%d %H:%M UTC')
P_MACHINE=$(bench_machine)
export P_DLB_VERSION P_NGINX P_HAPROXY P_WRK P_REV="$REVISION"
P_DLB_VERSION=$( ("$BIN_DIR/dlb-agent" --version 2>&1 || true) | sed -n '1s/^dlb-agent //p')
P_NGINX=$( (nginx -v 2>&1 || true) | sed -n '1s/^nginx version: //p')
P_HAPROXY=$( (haproxy -v 2>&1 || true) | awk 'NR == 1 {print "HAProxy " $3}')
P_WRK=$( (wrk -v 2>&1 || true) | awk 'NR == 1 {print "wrk " $2}')
P_BIN_DIR=${BIN_DIR#"$REPO_ROOT"/}
python3 - "$OUT/meta.json" <<'EOF'
import json, os, sys
e = os.environ
rss = [json.loads(l) for l in open(e["P_RSS_FILE"]) if l.strip()]
w_list = e["P_WORKERS"].split()
commands = [
    "# backends",
    e["P_BACKEND_CMD"],
    "# proxies, for N in %s (configs: bench/conf/*.in, filled copies in bench/out/proxy-*/)" % " ".join(w_list),
    'dlb-agent --config agent-wN.json   # {"workers": N, round_robin over the 2 backends}',
    "nginx -p TMP/nginx-proxy-wN -c nginx-proxy-wN.conf   # worker_processes N",
    "haproxy -f haproxy-wN.cfg -db                         # nbthread N",
    "# load, for C in %s, against each of the four targets, %s times interleaved" % (e["P_CONNS"], e["P_REPS"]),
    "wrk -tN -cC -d%ss --latency http://127.0.0.1:PORT/" % e["P_DURATION"],
    "# memory",
    "grep VmRSS /proc/PID/status   # 1 s after start, and 1 s after the last run",
]
meta = {
    "date": e["P_DATE"], "machine": e["P_MACHINE"], "loadavg": e["P_LOADAVG"], "nice": e["P_NICE"],
    "backend_desc": e["P_BACKEND_DESC"], "backend_choice": e["P_BACKEND_CHOICE"],
    "reps": int(e["P_REPS"]), "duration": int(e["P_DURATION"]), "build_type": e["P_BUILD_TYPE"],
    "bin_dir": e["P_BIN_DIR"], "dlb_version": e["P_DLB_VERSION"], "revision": e["P_REV"], "nginx_version": e["P_NGINX"],
    "haproxy_version": e["P_HAPROXY"], "wrk_version": e["P_WRK"], "rss": rss, "commands": commands,
}
json.dump(meta, open(sys.argv[1], "w"), indent=2)
EOF
python3 "$BENCH_PY" proxy-report "$RESULTS" "$OUT/meta.json" "$OUT/table.md"
if ((WRITE_DOCS)); then
    python3 "$BENCH_PY" doc-section "$REPO_ROOT/docs/benchmarks.md" proxy "$OUT/table.md" "Proxy throughput"
    bench_log "wrote the \"Proxy throughput\" section of docs/benchmarks.md"
fi
bench_log "done; raw output in $OUT"
