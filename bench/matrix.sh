#!/usr/bin/env bash
# The scenario matrix (issue 7, "a benchmark that cannot flatter dlb"): dlb prequal,
# round_robin and least_request against nginx least_conn, nginx "random two least_conn" and
# HAProxy leastconn, cell by cell, on dlb-replica and on a replica dlb did not write
# (bench/replicas/asyncio_replica.py, where a probe costs as much as a request).
# Driven by bench/lib/matrix.py; tables and verdicts by bench/lib/benchlib.py. See --help.
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
ORIG_ARGS=("$@")

usage() {
    cat <<EOF
usage: bench/matrix.sh [options]

Every value of every axis is covered by some cell (not the cross product):
  replica      dlb-replica | bench/replicas/asyncio_replica.py (probe costs a request) |
               the same with --x-load (a load report on every answer)
  pool         3, 8, 30 replicas (plus 5 for "2 of 5 at 4x" and 4 for the bursts)
  unevenness   even | 1 of 8 at 8x | 2 of 5 at 4x | a third 2x, a different third in the
               second half of the window
  front ends   1 front end with 2 workers (threads) | 2 front ends with 1 worker each
  load         30%, 60%, 90%, 130% of capacity open loop (Poisson) | closed loop, 16
               connections, no rate limit | 2 bursts of 5,000 requests on 1,000 connections at
               once, each after 6 s idle (the seed's table 5: replicas taking 500-2000 ms)
  event        a replica SIGKILLed a third into the window and restarted at two thirds
Capacity = sum over replicas of slots / (mean service time x slow factor), the lower of the
two halves of the window where the slow set changes. Every cell runs each case on a fresh pool:
dlb prequal, dlb round_robin, dlb least_request (agent defaults), nginx least_conn,
nginx random two least_conn, HAProxy leastconn (bench/conf templates, default options).
python3 bench/lib/matrix.py --list --out x --bin-dir x --tmp x   prints every cell.

options:
  --quick          5 cells, 6 s measured after 2 s warm-up (about 8 minutes); leaves the
                   docs alone unless --docs
  --duration S     measured seconds per case (default 10)
  --warmup S       seconds of load before the measurement (default 3)
  --cells "ID .."  run only these cells (partial runs leave the docs alone unless --docs)
  --cases "C .."   run only these cases (prequal round_robin least_request nginx_least_conn
                   nginx_random_two haproxy_leastconn)
  --no-docs        do not touch docs/benchmarks.md or docs/bench-matrix.png
  --docs           write them even after --quick or --cells
  --help           this text

environment:
  BIN_DIR   directory of dlb-agent, dlb-replica and dlb-loadgen (default build/bin)
  KEEP_TMP  1 keeps the scratch directory (nginx prefixes)
  MATRIX_PARAMS_<CASE>  JSON object merged into that dlb case's "algorithm" config, e.g.
            MATRIX_PARAMS_PREQUAL='{"probe_cost_budget": 0}' (experiments; the docs' tables
            are written with agent defaults)
  MATRIX_ACCESS_LOG=1   the dlb cases also write their JSON access log (access-N.log beside
            agent-N.log): which replica each failed request waited at, and when

Output: bench/out/matrix-<date>/ (per cell and case: every config, log and loadgen JSON;
cells.json, table.md, matrix.dat, bench-matrix.png) and, unless --no-docs, the "Scenario
matrix" section of docs/benchmarks.md and docs/bench-matrix.png.
Full run: 20 cells x 6 cases, about 40 minutes. Needs nginx, haproxy, python3, gnuplot.
EOF
}

DURATION=10
WARMUP=3
CELLS=""
CASES=""
QUICK=0
WRITE_DOCS=1
FORCE_DOCS=0
while (($#)); do
    case "$1" in
    --duration) DURATION=${2:?--duration needs a value}; shift 2 ;;
    --warmup) WARMUP=${2:?--warmup needs a value}; shift 2 ;;
    --cells) CELLS=${2:?--cells needs a value}; shift 2 ;;
    --cases) CASES=${2:?--cases needs a value}; shift 2 ;;
    --quick) DURATION=6; WARMUP=2; QUICK=1; shift ;;
    --no-docs) WRITE_DOCS=0; shift ;;
    --docs) FORCE_DOCS=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) printf 'unknown option: %s (see --help)\n' "$1" >&2; exit 2 ;;
    esac
done
# Quick and partial runs are smoke runs: they do not replace the full table.
if ((QUICK)) || [[ -n $CELLS || -n $CASES ]]; then WRITE_DOCS=0; fi
if ((FORCE_DOCS)); then WRITE_DOCS=1; fi
[[ $DURATION =~ ^[0-9]+$ && $DURATION -ge 3 ]] || bench_die "--duration: a whole number of seconds >= 3, got $DURATION"
[[ $WARMUP =~ ^[0-9]+$ ]] || bench_die "--warmup: a whole number of seconds, got $WARMUP"

bench_need_dlb dlb-agent dlb-replica dlb-loadgen
bench_need_cmd python3 nginx haproxy
HAVE_GNUPLOT=1
command -v gnuplot >/dev/null 2>&1 || {
    HAVE_GNUPLOT=0
    bench_log "gnuplot not found: no chart (apt-get install gnuplot-nox)"
}
# 1,000 client connections at once, and as many upstream: each front end needs ~2,000
# descriptors, the loadgen 1,000.
NOFILE=$(ulimit -n)
if [[ $NOFILE != unlimited && $NOFILE -lt 4096 ]]; then
    ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
    NOFILE=$(ulimit -n)
    [[ $NOFILE == unlimited || $NOFILE -ge 4096 ]] ||
        bench_die "the bursts open 1,000 connections at once: ulimit -n is $NOFILE, need 4096 (raise the hard limit)"
fi

bench_isolate "$0" "${ORIG_ARGS[@]}"
trap bench_cleanup EXIT
trap 'trap - ERR; exit 130' INT TERM

STAMP=$(date +%Y%m%d-%H%M%S)
OUT="$BENCH_DIR/out/matrix-$STAMP"
mkdir -p "$OUT"
bench_tmpdir
LOADAVG=$(cut -d' ' -f1-3 /proc/loadavg)
bench_log "output in $OUT (load average now: $LOADAVG; $BENCH_PRIORITY; ulimit -n $NOFILE)"

# The agent's commit, read before the run (the tree may move during it): the git tree its build
# directory lives in (BIN_DIR may be another worktree), else the source tree CMake built it from
# (a build directory outside any checkout), else unknown. "-dirty": uncommitted changes then.
A_COMMIT=$(git -C "$BIN_DIR/.." describe --always --dirty 2>/dev/null ||
    git -C "$(sed -n 's/^CMAKE_HOME_DIRECTORY:INTERNAL=//p' "$BIN_DIR/../CMakeCache.txt" 2>/dev/null)" \
        describe --always --dirty 2>/dev/null || echo unknown)
args=(--out "$OUT" --bin-dir "$BIN_DIR" --tmp "$BENCH_TMP" --duration "$DURATION" --warmup "$WARMUP")
((QUICK)) && args+=(--quick)
[[ -n $CELLS ]] && args+=(--cells "$CELLS")
[[ -n $CASES ]] && args+=(--cases "$CASES")
# The driver tracks and stops every process it starts; a signal to this script is passed on to it.
python3 "$BENCH_LIB_DIR/matrix.py" "${args[@]}" &
DRIVER=$!
trap 'kill -TERM "$DRIVER" 2>/dev/null || true; wait "$DRIVER" || true; exit 130' INT TERM
rc=0
wait "$DRIVER" || rc=$?
trap 'trap - ERR; exit 130' INT TERM
((rc == 0)) || bench_die "the matrix driver failed (exit status $rc); partial results in $OUT"

A_DATE=$(date -u '+%Y-%m-%d %H:%M UTC')
A_MACHINE=$(bench_machine)
A_BUILD=$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$BIN_DIR/../CMakeCache.txt" 2>/dev/null || true)
A_BUILT=$(date -u -r "$BIN_DIR/dlb-agent" '+%Y-%m-%d %H:%M UTC' 2>/dev/null || echo "unknown time")
A_SCRIPTS=$(git -C "$REPO_ROOT" describe --always --dirty 2>/dev/null || echo unknown)
A_VERSIONS="$( (nginx -v 2>&1 || true) | sed -n '1s/^nginx version: //p'), $( (haproxy -v 2>&1 || true) | awk 'NR == 1 {print "HAProxy " $3}')"
export A_DATE A_MACHINE A_BUILD A_COMMIT A_BUILT A_SCRIPTS A_VERSIONS A_LOADAVG="$LOADAVG" A_NICE="$BENCH_PRIORITY" \
    A_BIN="$BIN_DIR" A_DURATION="$DURATION" A_WARMUP="$WARMUP"
python3 - "$OUT/meta.json" <<'EOF'
import json, os, sys
e = os.environ
meta = {
    "date": e["A_DATE"], "machine": e["A_MACHINE"], "loadavg": e["A_LOADAVG"],
    "frontend_desc": ("dlb-agent, dlb-replica and dlb-loadgen from `%s`: commit **%s**, %s build, built %s; "
                      "bench scripts at %s; %s. Every process of the benchmark ran with %s. The machine is shared "
                      "with other engineers compiling: absolute numbers move between runs, so compare within a cell "
                      "(same run, same minutes)."
                      % (e["A_BIN"], e["A_COMMIT"], e["A_BUILD"] or "unknown", e["A_BUILT"], e["A_SCRIPTS"],
                         e["A_VERSIONS"], e["A_NICE"])),
    "method": [
        "- Each cell runs six cases one after the other, each on a fresh pool with the same timeline: "
        "dlb-agent with `prequal`, `round_robin` or `least_request` (agent defaults: only the algorithm name "
        "and the replica URLs are configured; probe `/ping`, 50 ms probe timeout, health checks on), nginx "
        "`least_conn`, nginx `random two least_conn` and HAProxy `leastconn` (bench/conf templates; every replica "
        "weight 1, nginx's default `max_fails=1 fail_timeout=10s`, HAProxy without health checks). No "
        "front end is told which replicas are slow.",
        "- \"1 agent × 2 workers\": one front end with 2 workers (nginx `worker_processes 2`, HAProxy `nbthread 2`) "
        "and one load generator; \"2 agents\": two front ends of 1 worker each sharing the pool, each driven by "
        "its own load generator at half the load.",
        "- Open loop: `dlb-loadgen --rate` (Poisson arrivals), %s s warm-up then %s s measured, latency from "
        "each request's intended send time, 500 connections at most per cell. A request unanswered after 5 s is a "
        "`timeout` error and counts in the percentiles as 5000 ms (a lower bound, marked ≥). Closed loop: "
        "16 connections, no rate limit, stopped after %s s, all of it measured. Bursts: 6 s idle, then "
        "`--requests 5000 --concurrency 1000` (10 s timeout), twice; both bursts are measured."
        % (e["A_WARMUP"], e["A_DURATION"], int(e["A_WARMUP"]) + int(e["A_DURATION"])),
        "- Open-loop pools have a nominal capacity of 1,600 req/s at normal speed (4 slots per replica, mean "
        "service time scaled with the pool size), so every cell asks the same CPU of the box; the capacity "
        "stated per cell accounts for the slow replicas. The closed-loop cells use the issue's replicas (8 slots, "
        "2 ms): their nominal capacity (12,000 req/s) is far above what the Python replicas' CPU allows "
        "(about 2,900 req/s each, measured straight); the load there is whatever 16 connections produce.",
        "- Errors are requests not answered 2xx (`status_503` = answered 503; `timeout`, `connect`, `reset` = "
        "no answer). `probes per request (agent)`: probes sent over requests, as each dlb-agent worker "
        "reports when it stops (Prequal only). `pings per request (replicas)`: `/ping` answers over request "
        "answers counted by the asyncio replicas, i.e. what the probes cost them (a killed replica's counts "
        "before its kill are lost; peers send none). `CPU µs / 2xx`: user + system CPU time from "
        "`/proc/PID/stat` (nginx: master and workers; the replicas: all of them, so probes included), read "
        "just before the case's processes stop, over the requests answered 2xx. On this 2-core box the "
        "front end, the replicas and the load generators share the CPU, so in the closed-loop cells, where "
        "the Python replicas' CPU is the limit, a front end that costs them more serves fewer requests.",
    ],
    "commands": [
        "# a cell, e.g. A8-8x-60: 8 replicas, r8 8x slower, 2 front ends, 60% of 1425 req/s",
        "python3 bench/replicas/asyncio_replica.py --listen 127.0.0.1:0 --name rN --slots 4 --service-ms 20 --dist exp --slow S --seed 100N",
        "dlb-replica --listen 127.0.0.1:0 --name rN --workers 4 --service-ms 20 --dist exp --slow S --seed 100N   # dlb-replica cells",
        "dlb-agent --config agent-K.json | nginx -p TMP -c nginx-K.conf | haproxy -f haproxy-K.cfg -db",
        "dlb-loadgen --url http://127.0.0.1:PORT_K/ --rate 427.5 --duration %s --warmup %s --connections 250 "
        "--arrivals poisson --seed 1K --timeout-ms 5000 --json loadgen-open-K.json" % (e["A_DURATION"], e["A_WARMUP"]),
        "dlb-loadgen --url http://127.0.0.1:PORT/ --requests 1000000000 --concurrency 16 --json ...   # SIGINT after the window",
        "dlb-loadgen --url http://127.0.0.1:PORT/ --requests 5000 --concurrency 1000 --timeout-ms 10000 --json ...   # a burst",
        "bench/matrix.sh --cells A8-8x-60   # one cell again",
    ],
}
json.dump(meta, open(sys.argv[1], "w"), indent=2)
EOF
python3 "$BENCH_PY" matrix-report "$OUT/cells.json" "$OUT/meta.json" "$OUT/table.md" "$OUT/matrix.dat"
if ((HAVE_GNUPLOT)); then
    bench_fill "$BENCH_DIR/conf/matrix.gp.in" "$OUT/matrix.gp" DATA="$OUT/matrix.dat" PNG="$OUT/bench-matrix.png" \
        TITLE="Scenario matrix: p50, p99, errors per cell and front end ($A_DATE)"
    gnuplot "$OUT/matrix.gp" 2>"$OUT/gnuplot.log" || bench_log "gnuplot failed: $(cat "$OUT/gnuplot.log")"
fi
if ((WRITE_DOCS)); then
    python3 "$BENCH_PY" doc-section "$REPO_ROOT/docs/benchmarks.md" matrix "$OUT/table.md" "Scenario matrix"
    [[ -s $OUT/bench-matrix.png ]] && cp "$OUT/bench-matrix.png" "$REPO_ROOT/docs/bench-matrix.png"
    bench_log "wrote the \"Scenario matrix\" section of docs/benchmarks.md and docs/bench-matrix.png"
fi
bench_log "done; raw output in $OUT"
