#!/usr/bin/env bash
# The run command (README): installs what is missing, builds, starts four dlb-replicas of
# uneven speed and a dlb-agent in front of them, drives real load through it with dlb-loadgen,
# and prints a summary. It runs the same load twice — round robin, then Prequal, switched with
# a live SIGHUP reload — the way the seed report's table 5 compared them.
#   scripts/demo.sh           run, summarise, stop everything, exit 0
#   scripts/demo.sh --serve   the same, then leave agent and replicas running until Ctrl-C
#   DEMO_SECONDS=N            seconds of load per algorithm (default 8)
#   DEMO_RATE=N               offered load in requests per second (default 700, ~60% of capacity)
#   BUILD_DIR=DIR             build folder, relative to the repository or absolute (default build)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

SERVE=0
for arg in "$@"; do
  case "$arg" in
    --serve) SERVE=1 ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "demo.sh: unknown argument '$arg' (expected --serve or --help)" >&2; exit 2 ;;
  esac
done
SECONDS_PER_RUN=${DEMO_SECONDS:-8}

scripts/install-deps.sh >/dev/null
# BUILD_DIR may be relative to the repository (default build) or absolute (/tmp/dlb-build).
BUILD_DIR=${BUILD_DIR:-build}
case "$BUILD_DIR" in /*) ;; *) BUILD_DIR="$ROOT/$BUILD_DIR" ;; esac
# Two demos started at once (two terminals) must not build in the same folder together: the
# second waits for the first one's build, then finds nothing left to do. The rest of a run
# shares nothing (free ports, a folder of its own), so the lock ends with the build.
mkdir -p "$BUILD_DIR"
exec 9>"$BUILD_DIR/.demo-build.lock"
flock 9
if [ ! -f "$BUILD_DIR/CMakeCache.txt" ]; then
  echo "== configuring $BUILD_DIR (RelWithDebInfo)"
  cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
echo "== building dlb-agent, dlb-replica, dlb-loadgen in $BUILD_DIR (the first build takes minutes)"
cmake --build "$BUILD_DIR" --target dlb-agent dlb-replica dlb-loadgen -j"$(nproc)" >/dev/null
exec 9>&-
BIN="$BUILD_DIR/bin"

WORK=$(mktemp -d /tmp/dlb-demo.XXXXXX)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT

# Waits until FILE has a "listening on HOST:PORT" line and prints the port.
wait_port() {
  local file=$1 i
  for i in $(seq 1 100); do
    if grep -q 'listening on' "$file" 2>/dev/null; then
      sed -n 's/.*listening on .*:\([0-9]*\)$/\1/p' "$file" | head -1
      return 0
    fi
    sleep 0.05
  done
  echo "demo.sh: $file never reported a port; its output:" >&2
  cat "$file" >&2
  return 1
}

# Four replicas, 4 service slots each, 10 ms mean service time: r1 and r2 are fast, r3 is three
# times slower, r4 twice slower and 6x slower for a while (its speed changes during the run).
declare -A REPLICA_ARGS=(
  [r1]="--slow 1"
  [r2]="--slow 1"
  [r3]="--slow 3"
  [r4]="--slow 2 --slow-schedule 3:6,$((SECONDS_PER_RUN + 5)):2"
)
REPLICA_URLS=()
for name in r1 r2 r3 r4; do
  # shellcheck disable=SC2086
  "$BIN/dlb-replica" --listen 127.0.0.1:0 --name "$name" --workers 4 --service-ms 10 --dist exp \
    --seed 42 ${REPLICA_ARGS[$name]} >"$WORK/$name.out" 2>"$WORK/$name.err" &
  PIDS+=($!)
  port=$(wait_port "$WORK/$name.out")
  REPLICA_URLS+=("http://127.0.0.1:$port")
  echo "   replica $name on 127.0.0.1:$port (${REPLICA_ARGS[$name]})"
done
# Capacity: slots / (service time × slow factor): 400 + 400 + 133 + 200 ≈ 1130 req/s.
RATE=${DEMO_RATE:-700}

write_config() {
  local algorithm=$1
  python3 - "$WORK/dlb.json" "$algorithm" "${REPLICA_URLS[@]}" <<'PY'
import json, sys
path, algorithm, urls = sys.argv[1], sys.argv[2], sys.argv[3:]
cfg = {
    "workers": 2,
    "listeners": [{"address": "127.0.0.1:0"}],
    "pools": [{
        "name": "web",
        "algorithm": {"name": algorithm},
        "probe": {"path": "/ping", "timeout_ms": 50},
        "health_check": {"path": "/healthz", "interval_ms": 1000, "timeout_ms": 500, "rise": 1, "fall": 2},
        "replicas": [{"url": u} for u in urls],
    }],
    "access_log": {"path": path.replace("dlb.json", "access.log")},
}
json.dump(cfg, open(path + ".tmp", "w"), indent=2)
PY
  mv "$WORK/dlb.json.tmp" "$WORK/dlb.json"   # atomic: a reload never reads half a file
}

write_config round_robin
"$BIN/dlb-agent" --check --config "$WORK/dlb.json" >/dev/null
"$BIN/dlb-agent" --config "$WORK/dlb.json" >"$WORK/agent.out" 2>"$WORK/agent.err" &
AGENT_PID=$!
PIDS+=($AGENT_PID)
AGENT_PORT=$(wait_port "$WORK/agent.out")
URL="http://127.0.0.1:$AGENT_PORT/"
echo "   dlb-agent on 127.0.0.1:$AGENT_PORT (2 workers), config $WORK/dlb.json"
echo

run_load() {
  local algorithm=$1
  echo "== $algorithm: open loop, $RATE req/s for ${SECONDS_PER_RUN}s (about 60% of capacity)"
  "$BIN/dlb-loadgen" --url "$URL" --rate "$RATE" --duration "$SECONDS_PER_RUN" --warmup 1 \
    --connections 512 --arrivals poisson --seed 7 --timeout-ms 5000 --json "$WORK/$algorithm.json" \
    | sed 's/^/   /'
  echo
}

# Waits until every replica's queue is empty, so the next run does not inherit a backlog.
wait_idle() {
  local url i
  for url in "${REPLICA_URLS[@]}"; do
    for i in $(seq 1 300); do
      curl -s "$url/ping" | grep -q '"rif": *0[,}]' && break
      sleep 0.1
    done
  done
}

run_load round_robin
wait_idle
write_config prequal
kill -HUP "$AGENT_PID"
for i in $(seq 1 100); do grep -q 'config reloaded' "$WORK/agent.err" && break; sleep 0.05; done
grep -q 'config reloaded' "$WORK/agent.err" || { echo "demo.sh: the agent did not reload:" >&2; cat "$WORK/agent.err" >&2; exit 1; }
echo "== switched the pool to prequal with SIGHUP (no restart, requests in flight unaffected)"
run_load prequal

python3 - "$WORK/round_robin.json" "$WORK/prequal.json" <<'PY'
import json, sys
rr, pq = (json.load(open(p)) for p in sys.argv[1:3])
def row(label, key, fmt="{:.1f}"):
    a, b = rr["latency_ms"][key], pq["latency_ms"][key]
    ratio = b / a if a else float("nan")
    print(f"   {label:<14}{fmt.format(a):>14}{fmt.format(b):>14}{ratio:>10.2f}")
print("== summary (same replicas, same load)")
print(f"   {'':<14}{'round_robin':>14}{'prequal':>14}{'ratio':>10}")
print(f"   {'requests':<14}{rr['requests']:>14}{pq['requests']:>14}")
print(f"   {'errors':<14}{sum(rr['errors'].values()):>14}{sum(pq['errors'].values()):>14}")
for label, key in (("p50 ms", "p50"), ("p90 ms", "p90"), ("p99 ms", "p99"), ("p99.9 ms", "p999"), ("mean ms", "mean")):
    row(label, key)
names = sorted(set(rr["replicas"]) | set(pq["replicas"]))
for n in names:
    a = 100.0 * rr["replicas"].get(n, 0) / max(1, rr["requests"])
    b = 100.0 * pq["replicas"].get(n, 0) / max(1, pq["requests"])
    print(f"   {'share ' + n:<14}{a:>13.1f}%{b:>13.1f}%")
PY
echo
echo "   access log: $WORK/access.log ($(wc -l <"$WORK/access.log") lines)"

if [ "$SERVE" = 1 ]; then
  echo
  echo "== serving: dlb-agent on $URL (prequal), replicas ${REPLICA_URLS[*]}"
  echo "   try: curl -i $URL    |   Ctrl-C stops everything"
  trap 'exit 0' INT TERM
  wait "$AGENT_PID" || true
fi
