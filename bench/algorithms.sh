#!/usr/bin/env bash
# Algorithms on a heterogeneous pool: every dlb-agent algorithm, plus nginx and HAProxy, in
# front of the same pool of dlb-replicas (some slower, one changing speed mid-run), shared by
# two front ends driven by two open-loop dlb-loadgens at ~70% of the pool's capacity.
# Prints p50/p90/p99/p99.9, errors and replica shares; writes docs/benchmarks.md
# ("Algorithms on a heterogeneous pool") and docs/bench-algorithms.png. See --help.
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
ORIG_ARGS=("$@")

ALL_CASES="prequal round_robin weighted_round_robin least_request power_of_d random ip_hash ring_hash maglev nginx_least_conn nginx_random_two haproxy_leastconn"

usage() {
    cat <<EOF
usage: bench/algorithms.sh [options]

The pool: 8 dlb-replicas, --workers 4 --service-ms 10 --dist exp each; r1-r5 at normal
speed, r6 at normal speed except 4x slower during the middle third of the
measured window (--slow-schedule), r7-r8 3x slower (--slow 3). For each case below a fresh
pool is started, two front ends share it (two dlb-agents with one worker each, i.e. two
independent clients as in the Prequal paper; or two nginx / two HAProxy instances), and
each front end gets its own dlb-loadgen, open loop (Poisson arrivals), so that the pool
runs at --load of its capacity.

cases, in this order:
  prequal round_robin weighted_round_robin least_request power_of_d random ip_hash
  ring_hash maglev   (dlb-agent, one algorithm each)
  nginx_least_conn   (nginx upstream least_conn)
  nginx_random_two   (nginx upstream "random two least_conn")
  haproxy_leastconn  (HAProxy balance leastconn)

options:
  --duration S     measured seconds per case (default 24)
  --warmup S       seconds of load before the measurement (default 3)
  --load F         offered load as a fraction of the pool's capacity (default 0.70)
  --weights W      capacity | equal (default capacity: weight 3 for normal-speed replicas,
                   1 for the 3x slower ones; used by weighted algorithms and by the peers)
  --only "A B .."  run only these cases (names above), in the order above
  --quick          --duration 8 --warmup 2 (the demo's short run, ~2.5 minutes; leaves
                   the docs alone unless --docs is given)
  --no-docs        do not touch docs/benchmarks.md or docs/bench-algorithms.png
  --docs           write them even after --quick
  --help           this text

environment:
  BIN_DIR   directory of dlb-agent, dlb-replica and dlb-loadgen (default build/bin,
            relative to the repository root)
  KEEP_TMP  1 keeps the scratch directory (nginx prefixes)

Output: bench/out/algorithms-<date>/ (every config, log and loadgen JSON, cases.json,
table.md, the chart) and, unless --no-docs, docs/benchmarks.md and docs/bench-algorithms.png.
Full run: about 6-7 minutes. Needs nginx, haproxy, python3 and gnuplot (for the chart).
EOF
}

DURATION=24
WARMUP=3
LOAD=0.70
WEIGHTS=capacity
ONLY=""
WRITE_DOCS=1
QUICK=0
FORCE_DOCS=0
while (($#)); do
    case "$1" in
    --duration) DURATION=${2:?--duration needs a value}; shift 2 ;;
    --warmup) WARMUP=${2:?--warmup needs a value}; shift 2 ;;
    --load) LOAD=${2:?--load needs a value}; shift 2 ;;
    --weights) WEIGHTS=${2:?--weights needs a value}; shift 2 ;;
    --only) ONLY=${2:?--only needs a value}; shift 2 ;;
    --quick) DURATION=8; WARMUP=2; QUICK=1; shift ;;
    --no-docs) WRITE_DOCS=0; shift ;;
    --docs) FORCE_DOCS=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) printf 'unknown option: %s (see --help)\n' "$1" >&2; exit 2 ;;
    esac
done
# A quick run is a smoke run: it leaves the docs alone unless --docs asks for them.
if ((QUICK && !FORCE_DOCS)); then WRITE_DOCS=0; fi
[[ -n $ONLY && $FORCE_DOCS -eq 0 ]] && WRITE_DOCS=0 # a partial table does not replace the full one
if ((FORCE_DOCS)); then WRITE_DOCS=1; fi
[[ $DURATION =~ ^[0-9]+$ && $DURATION -ge 3 ]] || bench_die "--duration: a whole number of seconds >= 3, got $DURATION"
[[ $WARMUP =~ ^[0-9]+$ ]] || bench_die "--warmup: a whole number of seconds, got $WARMUP"
[[ $LOAD =~ ^(0?\.[0-9]+|1(\.0*)?)$ ]] || bench_die "--load: a fraction in (0,1], got $LOAD"
[[ $WEIGHTS =~ ^(capacity|equal)$ ]] || bench_die "--weights: capacity or equal, got $WEIGHTS"
CASES=""
for c in $ALL_CASES; do
    if [[ -z $ONLY || " $ONLY " == *" $c "* ]]; then CASES+="${CASES:+ }$c"; fi
done
for c in $ONLY; do
    [[ " $ALL_CASES " == *" $c "* ]] || bench_die "--only: unknown case $c (see --help)"
done

need_peers=()
[[ $CASES == *nginx* ]] && need_peers+=(nginx)
[[ $CASES == *haproxy* ]] && need_peers+=(haproxy)
bench_need_dlb dlb-agent dlb-replica dlb-loadgen
bench_need_cmd python3 "${need_peers[@]}"
HAVE_GNUPLOT=1
command -v gnuplot >/dev/null 2>&1 || {
    HAVE_GNUPLOT=0
    bench_log "gnuplot not found: no chart (apt-get install gnuplot-nox)"
}

bench_isolate "$0" "${ORIG_ARGS[@]}"
trap bench_cleanup EXIT
trap 'trap - ERR; exit 130' INT TERM
trap 'bench_log "stopped by a failing command at line $LINENO: $BASH_COMMAND"' ERR


STAMP=$(date +%Y%m%d-%H%M%S)
OUT="$BENCH_DIR/out/algorithms-$STAMP"
mkdir -p "$OUT"
bench_tmpdir
LOADAVG=$(cut -d' ' -f1-3 /proc/loadavg)
REVISION=$(bench_revision)
bench_log "output in $OUT (load average now: $LOADAVG; $BENCH_PRIORITY)"

# ----------------------------------------------------------------------------- the pool

REPLICA_WORKERS=4
SERVICE_MS=10
SLOW_FACTOR=3
VARY_FACTOR=4
# name kind slow weight
POOL=(
    "r1 fast 1" "r2 fast 1" "r3 fast 1" "r4 fast 1" "r5 fast 1"
    "r6 varying 1"
    "r7 slow $SLOW_FACTOR" "r8 slow $SLOW_FACTOR"
)
weight_of() { # kind
    if [[ $WEIGHTS == equal ]]; then echo 1; elif [[ $1 == slow ]]; then echo 1; else echo 3; fi
}

# The slow phase of r6 covers the middle third of the measured window. Replicas count time
# from their own start; the load starts START_SLACK seconds after them, measurement WARMUP later.
START_SLACK=1.5
read -r T_SLOW T_FAST < <(python3 -c 'import sys; s,w,d=map(float,sys.argv[1:]); print("%.2f %.2f" % (s+w+d/3, s+w+2*d/3))' "$START_SLACK" "$WARMUP" "$DURATION")
SCHEDULE="$T_SLOW:$VARY_FACTOR,$T_FAST:1"

read -r CAPACITY CAP_SLOW RATE_TOTAL RATE_EACH < <(python3 - "$REPLICA_WORKERS" "$SERVICE_MS" "$SLOW_FACTOR" "$VARY_FACTOR" "$LOAD" <<'EOF'
import sys
w, svc, slow, vary, load = map(float, sys.argv[1:])
per = w * 1000.0 / svc                                # req/s of one normal-speed replica
cap = 6 * per + 2 * per / slow                        # r1-r6 normal, r7-r8 slow
cap_slow = 5 * per + per / vary + 2 * per / slow      # while r6 is slowed down
rate = load * cap
print("%.1f %.1f %.1f %.1f" % (cap, cap_slow, rate, rate / 2))
EOF
)
bench_log "capacity $CAPACITY req/s nominal ($CAP_SLOW while r6 is ${VARY_FACTOR}x slower); offered $RATE_TOTAL req/s = 2 x $RATE_EACH"

REPLICA_PIDS=()
REPLICA_ADDRS=()
start_pool() { # case-dir
    local dir=$1 i=0 entry name kind slow line extra
    REPLICA_PIDS=()
    REPLICA_ADDRS=()
    for entry in "${POOL[@]}"; do
        read -r name kind slow <<<"$entry"
        i=$((i + 1))
        extra=()
        [[ $kind == varying ]] && extra=(--slow-schedule "$SCHEDULE")
        bench_spawn "$dir/replica-$name.log" "$BIN_DIR/dlb-replica" --listen 127.0.0.1:0 --name "$name" \
            --workers "$REPLICA_WORKERS" --service-ms "$SERVICE_MS" --dist exp --slow "$slow" --seed $((1000 + i)) "${extra[@]}"
        REPLICA_PIDS+=("$BENCH_LAST_PID")
    done
    POOL_T0=$(date +%s.%N)
    i=0
    for entry in "${POOL[@]}"; do
        read -r name kind slow <<<"$entry"
        line=$(bench_wait_line "$dir/replica-$name.log" "${REPLICA_PIDS[$i]}" '^listening on ')
        REPLICA_ADDRS+=("${line#listening on }")
        i=$((i + 1))
    done
}

# ----------------------------------------------------------------------------- front ends

FRONT_PIDS=()
FRONT_PORTS=()
FRONT_LOGS=()

agent_config() { # algorithm port file
    local algo=$1 port=$2 file=$3 i=0 entry name kind slow replicas=""
    for entry in "${POOL[@]}"; do
        read -r name kind slow <<<"$entry"
        replicas+="${replicas:+,$'\n'      }{\"url\": \"http://${REPLICA_ADDRS[$i]}\", \"weight\": $(weight_of "$kind"), \"id\": \"$name\"}"
        i=$((i + 1))
    done
    cat >"$file" <<EOF
{
  "workers": 1,
  "listeners": [{"address": "127.0.0.1:$port"}],
  "pools": [{
    "name": "web",
    "algorithm": {"name": "$algo"},
    "probe": {"path": "/ping", "timeout_ms": 50},
    "replicas": [
      $replicas
    ]
  }]
}
EOF
}

start_fronts() { # case dir
    local case=$1 dir=$2 ports k i entry name kind slow servers
    mapfile -t ports < <(bench_free_ports 2)
    FRONT_PIDS=()
    FRONT_PORTS=("${ports[@]}")
    FRONT_LOGS=()
    for k in 1 2; do
        local port=${ports[$((k - 1))]}
        case $case in
        nginx_*)
            local balance="least_conn;"
            [[ $case == nginx_random_two ]] && balance="random two least_conn;"
            servers=""
            i=0
            for entry in "${POOL[@]}"; do
                read -r name kind slow <<<"$entry"
                servers+="${servers:+$'\n'}server ${REPLICA_ADDRS[$i]} weight=$(weight_of "$kind");"
                i=$((i + 1))
            done
            local prefix="$BENCH_TMP/$case-$k"
            mkdir -p "$prefix"
            bench_fill "$BENCH_DIR/conf/nginx-proxy.conf.in" "$dir/nginx-$k.conf" PREFIX="$prefix" WORKERS=1 \
                PORT="$port" BALANCE="$balance" SERVERS="$servers" KEEPALIVE=64
            bench_spawn "$dir/nginx-$k.log" nginx -p "$prefix" -c "$dir/nginx-$k.conf" -e "$prefix/error.log"
            FRONT_LOGS+=("$prefix/error.log")
            ;;
        haproxy_*)
            servers=""
            i=0
            for entry in "${POOL[@]}"; do
                read -r name kind slow <<<"$entry"
                servers+="${servers:+$'\n'}server $name ${REPLICA_ADDRS[$i]} weight $(weight_of "$kind")"
                i=$((i + 1))
            done
            bench_fill "$BENCH_DIR/conf/haproxy.cfg.in" "$dir/haproxy-$k.cfg" THREADS=1 PORT="$port" \
                BALANCE=leastconn SERVERS="$servers"
            bench_spawn "$dir/haproxy-$k.log" haproxy -f "$dir/haproxy-$k.cfg" -db
            FRONT_LOGS+=("$dir/haproxy-$k.log")
            ;;
        *)
            agent_config "$case" "$port" "$dir/agent-$k.json"
            bench_spawn "$dir/agent-$k.log" "$BIN_DIR/dlb-agent" --config "$dir/agent-$k.json"
            FRONT_LOGS+=("$dir/agent-$k.log")
            ;;
        esac
        FRONT_PIDS+=("$BENCH_LAST_PID")
    done
    for k in 0 1; do
        bench_wait_listen "${FRONT_PORTS[$k]}" "${FRONT_PIDS[$k]}" "${FRONT_LOGS[$k]}"
    done
}

label_of() {
    case $1 in
    nginx_least_conn) echo "nginx least_conn" ;;
    nginx_random_two) echo "nginx random two least_conn" ;;
    haproxy_leastconn) echo "HAProxy leastconn" ;;
    *) echo "$1" ;;
    esac
}

# ----------------------------------------------------------------------------- the runs

CASES_JSONL="$OUT/cases.jsonl"
: >"$CASES_JSONL"
PROBLEMS=()
for case in $CASES; do
    dir="$OUT/$case"
    mkdir -p "$dir"
    bench_log "=== $(label_of "$case")"
    start_pool "$dir"
    start_fronts "$case" "$dir"
    # Start the load START_SLACK s after the replicas, so r6's schedule lands where intended.
    python3 -c 'import sys,time; d=float(sys.argv[1])+float(sys.argv[2])-time.time(); time.sleep(max(0.0,d))' "$POOL_T0" "$START_SLACK"
    LG_PIDS=()
    for k in 1 2; do
        bench_spawn "$dir/loadgen-$k.log" "$BIN_DIR/dlb-loadgen" --url "http://127.0.0.1:${FRONT_PORTS[$((k - 1))]}/" \
            --rate "$RATE_EACH" --duration "$DURATION" --warmup "$WARMUP" --connections 256 --arrivals poisson \
            --seed "$((10 + k))" --timeout-ms 5000 --json "$dir/loadgen-$k.json"
        LG_PIDS+=("$BENCH_LAST_PID")
    done
    # Bounded wait: the loadgens stop by themselves after warm-up + duration + their timeout.
    limit=$((WARMUP + DURATION + 20))
    for ((s = 0; s < limit * 10; s++)); do
        alive=0
        for p in "${LG_PIDS[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
        ((alive)) || break
        sleep 0.1
    done
    failure=""
    for k in 0 1; do
        if ! kill -0 "${LG_PIDS[$k]}" 2>/dev/null; then
            wait "${LG_PIDS[$k]}" || failure+="loadgen $((k + 1)) exited $?; "
        else
            failure+="loadgen $((k + 1)) still running after ${limit}s; "
        fi
    done
    bench_stop "${LG_PIDS[@]}"
    # Did every front end and replica survive the run?
    for k in 0 1; do
        if ! kill -0 "${FRONT_PIDS[$k]}" 2>/dev/null; then
            wait "${FRONT_PIDS[$k]}" 2>/dev/null && rc=0 || rc=$?
            failure+="front end $((k + 1)) (pid ${FRONT_PIDS[$k]}) died during the run (exit status $rc), log ${FRONT_LOGS[$k]#"$REPO_ROOT"/}; "
        fi
    done
    for p in "${REPLICA_PIDS[@]}"; do
        kill -0 "$p" 2>/dev/null || failure+="replica pid $p died; "
    done
    bench_stop "${FRONT_PIDS[@]}" "${REPLICA_PIDS[@]}"
    if [[ -s $dir/loadgen-1.json && -s $dir/loadgen-2.json ]]; then
        python3 "$BENCH_PY" merge-loadgen "$dir/merged.json" "$dir/loadgen-1.json" "$dir/loadgen-2.json"
    fi
    if [[ -n $failure ]]; then
        PROBLEMS+=("$(label_of "$case"): $failure")
        bench_log "PROBLEM: $failure"
        for k in 0 1; do
            bench_log "last lines of ${FRONT_LOGS[$k]}:"
            tail -n 5 "${FRONT_LOGS[$k]}" | sed 's/^/  | /' >&2 || true
        done
    fi
    python3 - "$case" "$(label_of "$case")" "$dir/merged.json" "$failure" >>"$CASES_JSONL" <<'EOF'
import json, os, sys
name, label, merged, failure = sys.argv[1:]
c = {"name": name, "label": label}
if os.path.exists(merged):
    c["result"] = json.load(open(merged))
if failure:
    c["failure"] = failure.strip()
print(json.dumps(c))
EOF
    python3 - "$dir/merged.json" <<'EOF' >&2 || true
import json, sys
r = json.load(open(sys.argv[1]))
l = r["latency_ms"]
print("  answered 2xx %d of %d, errors %s; p50 %.1f p90 %.1f p99 %.1f p99.9 %.1f ms (timeouts count as %d ms)" % (
    r["ok"], r["requests"], r["errors"] or 0, l["p50"], l["p90"], l["p99"], l["p999"], r["timeout_ms"]))
EOF
done

# ----------------------------------------------------------------------------- report

python3 -c 'import json,sys; print(json.dumps([json.loads(l) for l in open(sys.argv[1]) if l.strip()], indent=1))' \
    "$CASES_JSONL" >"$OUT/cases.json"

export A_DATE A_MACHINE A_LOADAVG="$LOADAVG" A_DURATION="$DURATION" A_WARMUP="$WARMUP" A_LOAD="$LOAD" \
    A_CAPACITY="$CAPACITY" A_CAP_SLOW="$CAP_SLOW" A_RATE_TOTAL="$RATE_TOTAL" A_RATE_EACH="$RATE_EACH" \
    A_SCHEDULE="$SCHEDULE" A_SLACK="$START_SLACK" A_WEIGHTS="$WEIGHTS" A_NICE="$BENCH_PRIORITY" \
    A_RW="$REPLICA_WORKERS" A_SVC="$SERVICE_MS" A_SLOW="$SLOW_FACTOR" A_VARY="$VARY_FACTOR" A_BUILD A_VERSIONS
A_DATE=$(date -u '+%Y-%m-%d %H:%M UTC')
export A_REV="$REVISION"
A_MACHINE=$(bench_machine)
A_BUILD=$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$BIN_DIR/../CMakeCache.txt" 2>/dev/null || true)
A_VERSIONS="$( (nginx -v 2>&1 || true) | sed -n '1s/^nginx version: //p'), $( (haproxy -v 2>&1 || true) | awk 'NR == 1 {print "HAProxy " $3}')"
python3 - "$OUT/meta.json" <<'EOF'
import json, os, sys
e = os.environ
rw, svc, slow, vary = int(e["A_RW"]), float(e["A_SVC"]), float(e["A_SLOW"]), float(e["A_VARY"])
per = rw * 1000.0 / svc
t_slow, t_fast = e["A_SCHEDULE"].split(",")[0].split(":")[0], e["A_SCHEDULE"].split(",")[1].split(":")[0]
weights = ("capacity weights: 3 for r1-r6, 1 for r7-r8 (used by weighted_round_robin, least_request, "
           "ip_hash, ring_hash, maglev and the peers; prequal, round_robin, random and power_of_d ignore them)"
           if e["A_WEIGHTS"] == "capacity" else "all weights 1")
meta = {
    "date": e["A_DATE"], "machine": e["A_MACHINE"], "loadavg": e["A_LOADAVG"],
    "duration": int(e["A_DURATION"]), "warmup": int(e["A_WARMUP"]), "timeout_ms": 5000,
    "slow_factor": "%g" % slow, "vary_factor": "%g" % vary,
    "replicas": [{"name": "r%d" % i, "kind": k} for i, k in
                 enumerate(["fast"] * 5 + ["varying"] + ["slow"] * 2, start=1)],
    "pool_desc": ("8 × `dlb-replica --workers %d --service-ms %g --dist exp` (each request holds one of %d "
                  "slots for an exponential time of mean 10 ms): r1-r5 normal speed; r6 normal but `--slow-schedule "
                  "\"%s\"` (%g× slower from %s s to %s s after its start, i.e. the middle third of the measured "
                  "window); r7-r8 `--slow %g`; %s.") % (rw, svc, rw, e["A_SCHEDULE"], vary, t_slow, t_fast, slow, weights),
    "capacity_desc": ("Σ workers / (service_ms × slow) = 6 × %d/%g ms + 2 × %d/%g ms = **%s req/s** "
                      "(%s req/s while r6 is %g× slower)." % (rw, svc, rw, svc * slow, e["A_CAPACITY"], e["A_CAP_SLOW"], vary)),
    "load_desc": ("%s × capacity = %s req/s offered, as two `dlb-loadgen` open-loop clients of %s req/s each "
                  "(Poisson arrivals, up to 256 connections each), one per front end — %.0f%% of capacity while r6 "
                  "is slowed." % (e["A_LOAD"], e["A_RATE_TOTAL"], e["A_RATE_EACH"],
                                  100 * float(e["A_RATE_TOTAL"]) / float(e["A_CAP_SLOW"]))),
    "frontend_desc": ("two `dlb-agent`s with `\"workers\": 1` each (so two independent Prequal clients, each with "
                      "its own probe pool), the algorithm with its defaults, probe `/ping` with a 50 ms timeout, "
                      "health checks on (defaults); or two nginx (`worker_processes 1`) / two HAProxy (`nbthread 1`) "
                      "instances from bench/conf/ with the same replicas and weights. dlb: %s (%s build); %s. "
                      "Every process of the benchmark ran with %s." % (e["A_REV"], e["A_BUILD"] or "unknown", e["A_VERSIONS"], e["A_NICE"])),
    "commands": [
        "# per case: a fresh pool (names r1..r8, seeds 1001..1008)",
        "dlb-replica --listen 127.0.0.1:0 --name rN --workers %d --service-ms %g --dist exp --slow S --seed 100N [--slow-schedule %s]"
        % (rw, svc, e["A_SCHEDULE"]),
        "# two front ends: dlb-agent --config agent-{1,2}.json | nginx -p TMP -c nginx-{1,2}.conf | haproxy -f haproxy-{1,2}.cfg -db",
        "# %s s after the pool started, one loadgen per front end, together:" % e["A_SLACK"],
        "dlb-loadgen --url http://127.0.0.1:PORT_K/ --rate %s --duration %s --warmup %s --connections 256 "
        "--arrivals poisson --seed 1K --timeout-ms 5000 --json loadgen-K.json" % (e["A_RATE_EACH"], e["A_DURATION"], e["A_WARMUP"]),
    ],
}
json.dump(meta, open(sys.argv[1], "w"), indent=2)
EOF
python3 "$BENCH_PY" algo-report "$OUT/cases.json" "$OUT/meta.json" "$OUT/table.md" "$OUT/algorithms.dat"
if ((${#PROBLEMS[@]})); then
    {
        echo
        echo "Problems seen during this run:"
        echo
        for p in "${PROBLEMS[@]}"; do echo "- $p"; done
    } >>"$OUT/table.md"
    bench_log "problems: ${PROBLEMS[*]}"
fi

if ((HAVE_GNUPLOT)); then
    bench_fill "$BENCH_DIR/conf/algorithms.gp.in" "$OUT/algorithms.gp" DATA="$OUT/algorithms.dat" PNG="$OUT/bench-algorithms.png" \
        TITLE="Latency per algorithm: 8 heterogeneous replicas, 2 clients, ${LOAD} of capacity ($A_DATE)"
    gnuplot "$OUT/algorithms.gp" 2>"$OUT/gnuplot.log" || bench_log "gnuplot failed: $(cat "$OUT/gnuplot.log")"
fi
if ((WRITE_DOCS)); then
    python3 "$BENCH_PY" doc-section "$REPO_ROOT/docs/benchmarks.md" algorithms "$OUT/table.md" "Algorithms on a heterogeneous pool"
    [[ -s $OUT/bench-algorithms.png ]] && cp "$OUT/bench-algorithms.png" "$REPO_ROOT/docs/bench-algorithms.png"
    bench_log "wrote the \"Algorithms on a heterogeneous pool\" section of docs/benchmarks.md and docs/bench-algorithms.png"
fi
bench_log "done; raw output in $OUT"
