#!/usr/bin/env bash
# A fleet of agents (issue 10): 1, 2 and 4 dlb-agents of one worker each, every one an
# independent Prequal client as in the paper, share one heterogeneous pool of replicas under the
# same total offered load, split over the agents; prequal against round_robin and least_request
# at every agent count. Replicas, load generator and process bookkeeping are the scenario
# matrix's (bench/lib/matrix.py); the driver is bench/lib/fleet.py. See --help.
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
ORIG_ARGS=("$@")

usage() {
    cat <<EOF
usage: bench/fleet.sh [options]

For each pool, for 1, 2 and 4 agents (1 worker each, each driven by its own dlb-loadgen at
1/N of the load), for prequal, round_robin and least_request (agent defaults): a fresh pool,
the agents, open-loop Poisson load, then p50/p90/p99/p99.9, errors and probes per request.

Pools (bench/matrix.sh's replicas; capacity = slots / mean service time, summed):
  D8-8x-60  8 x dlb-replica, 4 slots, 20 ms exp, r8 8x slower; 60% of capacity
  A8-8x-60  8 x bench/replicas/asyncio_replica.py (a probe costs a request), same shape; 60%
  full run only:
  D8-8x-90, A8-8x-90  the same at 90%
  A5-4x-60  5 x asyncio_replica.py, 4 slots, 12.5 ms, r4 and r5 4x slower; 60%
  D5-4x-90  5 x dlb-replica, the same shape; 90%

options:
  --quick          the first two pools, 6 s measured after 2 s warm-up (about 4 minutes);
                   leaves the docs alone unless --docs
  --duration S     measured seconds per case (default 10; full run about 16 minutes)
  --warmup S       seconds of load before the measurement (default 3)
  --no-docs        do not touch docs/benchmarks.md
  --docs           write it even after --quick
  --help           this text

environment:
  BIN_DIR   directory of dlb-agent, dlb-replica and dlb-loadgen (default build/bin)
  KEEP_TMP  1 keeps the scratch directory
  MATRIX_PARAMS_<ALGORITHM>  JSON object merged into that algorithm's config, as for
            bench/matrix.sh (experiments; the docs' table is written with agent defaults)

Output: bench/out/fleet-<date>/ (per pool, algorithm and agent count: every config, log and
loadgen JSON; pools.json, table.md) and, unless --no-docs (or --quick without --docs), the
"A fleet of agents" section of docs/benchmarks.md (a quick run says so in its first lines).
Needs python3.
EOF
}

DURATION=10
WARMUP=3
QUICK=0
WRITE_DOCS=1
FORCE_DOCS=0
while (($#)); do
    case "$1" in
    --duration) DURATION=${2:?--duration needs a value}; shift 2 ;;
    --warmup) WARMUP=${2:?--warmup needs a value}; shift 2 ;;
    --quick) DURATION=6; WARMUP=2; QUICK=1; shift ;;
    --no-docs) WRITE_DOCS=0; shift ;;
    --docs) FORCE_DOCS=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) printf 'unknown option: %s (see --help)\n' "$1" >&2; exit 2 ;;
    esac
done
# A quick run is a smoke run: it does not replace the table unless asked to.
if ((QUICK)); then WRITE_DOCS=0; fi
if ((FORCE_DOCS)); then WRITE_DOCS=1; fi
[[ $DURATION =~ ^[0-9]+$ && $DURATION -ge 3 ]] || bench_die "--duration: a whole number of seconds >= 3, got $DURATION"
[[ $WARMUP =~ ^[0-9]+$ ]] || bench_die "--warmup: a whole number of seconds, got $WARMUP"

bench_need_dlb dlb-agent dlb-replica dlb-loadgen
bench_need_cmd python3

bench_isolate "$0" "${ORIG_ARGS[@]}"
trap bench_cleanup EXIT
trap 'trap - ERR; exit 130' INT TERM

STAMP=$(date +%Y%m%d-%H%M%S)
OUT="$BENCH_DIR/out/fleet-$STAMP"
mkdir -p "$OUT"
bench_tmpdir
LOADAVG=$(cut -d' ' -f1-3 /proc/loadavg)
bench_log "output in $OUT (load average now: $LOADAVG; $BENCH_PRIORITY)"

args=(--out "$OUT" --bin-dir "$BIN_DIR" --tmp "$BENCH_TMP" --duration "$DURATION" --warmup "$WARMUP")
((QUICK)) && args+=(--quick)
# The driver tracks and stops every process it starts; a signal to this script is passed on to it.
python3 "$BENCH_LIB_DIR/fleet.py" "${args[@]}" &
DRIVER=$!
trap 'kill -TERM "$DRIVER" 2>/dev/null || true; wait "$DRIVER" || true; exit 130' INT TERM
rc=0
wait "$DRIVER" || rc=$?
trap 'trap - ERR; exit 130' INT TERM
((rc == 0)) || bench_die "the fleet driver failed (exit status $rc); partial results in $OUT"

A_DATE=$(date -u '+%Y-%m-%d %H:%M UTC')
A_MACHINE=$(bench_machine)
A_BUILD=$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$BIN_DIR/../CMakeCache.txt" 2>/dev/null || true)
A_COMMIT=$(git -C "$BIN_DIR/.." describe --always --dirty 2>/dev/null || echo unknown)
A_BUILT=$(date -u -r "$BIN_DIR/dlb-agent" '+%Y-%m-%d %H:%M UTC' 2>/dev/null || echo "unknown time")
A_SCRIPTS=$(git -C "$REPO_ROOT" describe --always --dirty 2>/dev/null || echo unknown)
A_MODE=$( ((QUICK)) && echo "a --quick run" || echo "a full run")
export A_DATE A_MACHINE A_BUILD A_COMMIT A_BUILT A_SCRIPTS A_LOADAVG="$LOADAVG" A_NICE="$BENCH_PRIORITY" \
    A_BIN="$BIN_DIR" A_DURATION="$DURATION" A_WARMUP="$WARMUP" A_MODE
python3 - "$OUT/meta.json" <<'EOF'
import json, os, sys
e = os.environ
meta = {
    "date": e["A_DATE"], "machine": e["A_MACHINE"], "loadavg": e["A_LOADAVG"],
    "frontend_desc": ("This is %s. dlb-agent, dlb-replica and dlb-loadgen from `%s`: commit **%s**, %s build, built %s; "
                      "bench scripts at %s. Every process of the benchmark ran with %s. **The machine is shared** "
                      "with other engineers compiling and testing, and it has 2 cores for up to 4 agents, 8 replicas "
                      "and 4 load generators: absolute numbers move between runs; compare the rows of one pool "
                      "(same run, same minutes) — the ratios are the result, not the milliseconds."
                      % (e["A_MODE"], e["A_BIN"], e["A_COMMIT"], e["A_BUILD"] or "unknown", e["A_BUILT"],
                         e["A_SCRIPTS"], e["A_NICE"])),
    "method": [
        "- Each row is one case on a fresh pool: N dlb-agents (`workers: 1`, so each is exactly one Prequal "
        "client with its own probe pool; agents share nothing) in front of the same replicas, each driven by "
        "its own `dlb-loadgen` at 1/N of the pool's total rate, so the pool sees the same load at every N. "
        "Agent defaults: only the algorithm name and the replica URLs are configured.",
        "- Open loop: Poisson arrivals, %s s warm-up then %s s measured, latency from each request's intended "
        "send time, 500 connections at most in total. A request unanswered after 5 s is a `timeout` error "
        "and counts in the percentiles as 5000 ms (a lower bound, marked ≥). Percentiles are those of all "
        "agents' clients together; \"p99 per agent\" is the lowest and highest p99 of the single agents, over the requests each answered (timeouts left out)."
        % (e["A_WARMUP"], e["A_DURATION"]),
        "- `probes per request (agent)`: probes sent over requests, summed over the agents (each worker "
        "reports both when it stops; 0 for round_robin and least_request, which do not probe). "
        "`pings per request (replicas)`: `/ping` answers over request answers as the asyncio replicas "
        "count them, what the probes cost the pool.",
        "- `p99 / 1 agent`: this row's p99 over the same algorithm's with one agent; `p99 / RR`: over "
        "round_robin's at the same agent count (≤ where round_robin's p99 is a lower bound). "
        "`slow replicas' share`: answers from the slow replicas over all answers (a request that timed "
        "out has no answer and is not counted).",
    ],
    "commands": [
        "bench/fleet.sh             # all six pools, 10 s measured per case (--quick: the first two, 6 s; --docs to write them here)",
        "# one case, e.g. D8-8x-60 with 4 agents:",
        "dlb-replica --listen 127.0.0.1:0 --name rN --workers 4 --service-ms 20 --dist exp --slow S --seed 100N   # N = 1..8, r8: S = 8",
        "dlb-agent --config agent-K.json   # K = 0..3: {\"workers\": 1, \"pools\": [{\"algorithm\": {\"name\": \"prequal\"}, \"replicas\": [...]}]}",
        "dlb-loadgen --url http://127.0.0.1:PORT_K/ --rate RATE/4 --duration %s --warmup %s --connections 125 "
        "--arrivals poisson --seed 1K --timeout-ms 5000 --json loadgen-open-K.json" % (e["A_DURATION"], e["A_WARMUP"]),
    ],
}
json.dump(meta, open(sys.argv[1], "w"), indent=2)
EOF
python3 "$BENCH_LIB_DIR/fleet.py" --out "$OUT" --bin-dir "$BIN_DIR" --tmp "$BENCH_TMP" \
    --report "$OUT/meta.json" "$OUT/table.md"
if ((WRITE_DOCS)); then
    python3 "$BENCH_PY" doc-section "$REPO_ROOT/docs/benchmarks.md" fleet "$OUT/table.md" "A fleet of agents"
    bench_log "wrote the \"A fleet of agents\" section of docs/benchmarks.md"
fi
bench_log "done; raw output in $OUT"
