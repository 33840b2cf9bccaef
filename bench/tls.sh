#!/usr/bin/env bash
# TLS termination: full handshakes per second (a new connection per request) and requests per
# second over keep-alive TLS, through dlb-agent, nginx and HAProxy with the same certificate,
# in front of the same backends, in the same run; prints the ratios and writes them to
# docs/benchmarks.md ("TLS termination"). See --help.
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
ORIG_ARGS=("$@")

usage() {
    cat <<EOF
usage: bench/tls.sh [options]

Runs wrk over https (TLS 1.3, ECDSA P-256 certificate made for the run) against
  - dlb-agent  (TLS listener, round_robin, workers N),
  - nginx      (listen ssl, proxy_pass with upstream keepalive, worker_processes N),
  - HAProxy    (bind ssl, mode http, http-reuse always, nbthread N),
all in front of the same two \`dlb-replica --service-ms 0\` backends (plain HTTP), in two modes:
  handshake   every request on a new connection ("Connection: close"): full handshakes/s
  keepalive   requests over established TLS connections: requests/s
Every configuration runs --reps times, interleaved, and the median is reported, with the
proxy's CPU time per request (user+system), which does not depend on how the machine's
CPU was shared during the run.

options:
  --duration S        seconds per wrk run (default 5)
  --reps N            runs per configuration (default 3)
  --connections C     wrk connections (default 32)
  --workers N         proxy workers/threads (default 1)
  --no-docs           do not touch docs/benchmarks.md
  --help              this text

environment:
  BIN_DIR   directory of dlb-agent and dlb-replica (default build/bin)
  KEEP_TMP  1 keeps the scratch directory (certificates, nginx prefix)

Output: bench/out/tls-<date>/ (raw wrk output, configs, results.jsonl, table.md) and the
"TLS termination" section at the end of docs/benchmarks.md. Full run: about 2 minutes.
Needs: wrk, nginx, haproxy, openssl, python3.
EOF
}

DURATION=5
REPS=3
CONNS=32
WORKERS=1
WRITE_DOCS=1
while (($#)); do
    case "$1" in
    --duration) DURATION=${2:?--duration needs a value}; shift 2 ;;
    --reps) REPS=${2:?--reps needs a value}; shift 2 ;;
    --connections) CONNS=${2:?--connections needs a value}; shift 2 ;;
    --workers) WORKERS=${2:?--workers needs a value}; shift 2 ;;
    --no-docs) WRITE_DOCS=0; shift ;;
    -h | --help) usage; exit 0 ;;
    *) printf 'unknown option: %s (see --help)\n' "$1" >&2; exit 2 ;;
    esac
done
[[ $DURATION =~ ^[0-9]+$ && $DURATION -ge 1 ]] || bench_die "--duration: a whole number of seconds >= 1, got $DURATION"
[[ $REPS =~ ^[0-9]+$ && $REPS -ge 1 ]] || bench_die "--reps: a whole number >= 1, got $REPS"
[[ $CONNS =~ ^[0-9]+$ && $CONNS -ge 1 ]] || bench_die "--connections: a whole number >= 1, got $CONNS"
[[ $WORKERS =~ ^[0-9]+$ && $WORKERS -ge 1 ]] || bench_die "--workers: a whole number >= 1, got $WORKERS"

bench_need_dlb dlb-agent dlb-replica
bench_need_cmd wrk nginx haproxy openssl curl python3

bench_isolate "$0" "${ORIG_ARGS[@]}"
trap bench_cleanup EXIT
trap 'trap - ERR; exit 130' INT TERM
trap 'bench_log "stopped by a failing command at line $LINENO: $BASH_COMMAND"' ERR

STAMP=$(date +%Y%m%d-%H%M%S)
OUT="$BENCH_DIR/out/tls-$STAMP"
mkdir -p "$OUT"
bench_tmpdir
RESULTS="$OUT/results.jsonl"
: >"$RESULTS"
LOADAVG=$(cut -d' ' -f1-3 /proc/loadavg)
REVISION=$(bench_revision)
CLK_TCK=$(getconf CLK_TCK)
bench_log "output in $OUT (load average now: $LOADAVG; $BENCH_PRIORITY)"

# ----------------------------------------------------------------------------- certificate

# One ECDSA P-256 certificate for localhost/127.0.0.1 (what a modern site serves), signed by a
# throwaway CA; all three proxies load the same files.
CERTS="$BENCH_TMP/certs"
mkdir -p "$CERTS"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$CERTS/ca.key" \
    -out "$CERTS/ca.pem" -days 2 -subj "/CN=dlb bench CA" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$CERTS/server.key" \
    -out "$CERTS/server.csr" -subj "/CN=localhost" 2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >"$CERTS/server.ext"
openssl x509 -req -in "$CERTS/server.csr" -CA "$CERTS/ca.pem" -CAkey "$CERTS/ca.key" -CAcreateserial \
    -out "$CERTS/server.pem" -days 2 -extfile "$CERTS/server.ext" 2>/dev/null
cat "$CERTS/server.pem" "$CERTS/server.key" >"$CERTS/haproxy.pem" # HAProxy wants both in one file

# ----------------------------------------------------------------------------- backends

BACKEND_ADDRS=()
for i in 1 2; do
    bench_spawn "$OUT/backend-r$i.log" "$BIN_DIR/dlb-replica" --listen 127.0.0.1:0 --name "r$i" --service-ms 0 --seed "$i"
    line=$(bench_wait_line "$OUT/backend-r$i.log" "$BENCH_LAST_PID" '^listening on ')
    BACKEND_ADDRS+=("${line#listening on }")
done
bench_log "backends: ${BACKEND_ADDRS[*]}"

# ----------------------------------------------------------------------------- proxies

mapfile -t PORTS < <(bench_free_ports 3)
declare -A PORT PID
PORT[dlb]=${PORTS[0]}
PORT[nginx]=${PORTS[1]}
PORT[haproxy]=${PORTS[2]}

replicas=""
ngx_servers=""
hap_servers=""
n=0
for a in "${BACKEND_ADDRS[@]}"; do
    n=$((n + 1))
    replicas+="${replicas:+, }{\"url\": \"http://$a\"}"
    ngx_servers+="server $a max_fails=0; "
    hap_servers+="    server s$n $a"$'\n'
done

cat >"$OUT/agent.json" <<EOF
{
  "workers": $WORKERS,
  "listeners": [{"address": "127.0.0.1:${PORT[dlb]}",
                 "tls": {"certificate": "$CERTS/server.pem", "private_key": "$CERTS/server.key"}}],
  "pools": [{"name": "web", "algorithm": {"name": "round_robin"},
             "health_check": {"enabled": false}, "replicas": [$replicas]}]
}
EOF
bench_spawn "$OUT/agent.log" "$BIN_DIR/dlb-agent" --config "$OUT/agent.json"
PID[dlb]=$BENCH_LAST_PID
bench_wait_line "$OUT/agent.log" "${PID[dlb]}" 'started' >/dev/null

NGX="$BENCH_TMP/nginx"
mkdir -p "$NGX"
# Tuned as dlb-agent runs: no access log, keep-alive both ways, TLS 1.2/1.3, no session cache
# (dlb-agent keeps none either; wrk never resumes), upstream keepalive.
cat >"$OUT/nginx.conf" <<EOF
daemon off;
master_process on;
worker_processes $WORKERS;
pid $NGX/nginx.pid;
error_log $NGX/error.log warn;
worker_rlimit_nofile 16384;
events { worker_connections 8192; }
http {
    access_log off;
    client_body_temp_path $NGX/client_body;
    proxy_temp_path $NGX/proxy_temp;
    fastcgi_temp_path $NGX/fastcgi_temp;
    uwsgi_temp_path $NGX/uwsgi_temp;
    scgi_temp_path $NGX/scgi_temp;
    keepalive_timeout 65s;
    keepalive_requests 1000000;
    upstream backends { $ngx_servers keepalive 64; keepalive_requests 1000000; }
    server {
        listen 127.0.0.1:${PORT[nginx]} ssl reuseport;
        ssl_certificate $CERTS/server.pem;
        ssl_certificate_key $CERTS/server.key;
        ssl_protocols TLSv1.2 TLSv1.3;
        location / {
            proxy_pass http://backends;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto \$scheme;
        }
    }
}
EOF
bench_spawn "$OUT/nginx.log" nginx -p "$NGX" -c "$OUT/nginx.conf" -e "$NGX/error.log"
PID[nginx]=$BENCH_LAST_PID

cat >"$OUT/haproxy.cfg" <<EOF
global
    nbthread $WORKERS
    maxconn 4096
    hard-stop-after 5s
    ssl-default-bind-options ssl-min-ver TLSv1.2
defaults
    mode http
    option http-keep-alive
    option forwardfor
    http-reuse always
    timeout connect 2s
    timeout client 60s
    timeout server 60s
    timeout http-keep-alive 60s
    timeout http-request 10s
frontend fe
    bind 127.0.0.1:${PORT[haproxy]} ssl crt $CERTS/haproxy.pem alpn http/1.1
    http-request set-header X-Forwarded-Proto https
    default_backend be
backend be
    balance roundrobin
$hap_servers
EOF
bench_spawn "$OUT/haproxy.log" haproxy -f "$OUT/haproxy.cfg"
PID[haproxy]=$BENCH_LAST_PID

TARGETS=(dlb nginx haproxy)
for t in "${TARGETS[@]}"; do
    bench_wait_listen "${PORT[$t]}" "${PID[$t]}" "$OUT/$t.log"
    # Every proxy must really serve https with this certificate before it is measured.
    curl -sS --fail --cacert "$CERTS/ca.pem" -o /dev/null "https://127.0.0.1:${PORT[$t]}/" ||
        bench_die "$t does not answer https on port ${PORT[$t]}"
done
bench_log "proxies: dlb-agent :${PORT[dlb]}, nginx :${PORT[nginx]}, haproxy :${PORT[haproxy]} ($WORKERS worker(s) each)"

# ----------------------------------------------------------------------------- runs

# run MODE TARGET REP
run() {
    local mode=$1 t=$2 rep=$3 label="$1-$2-$3" extra=() before after
    if [[ $mode == handshake ]]; then
        extra=(-H "Connection: close")
    fi
    before=$(bench_cpu_ticks "${PID[$t]}")
    wrk -t1 -c"$CONNS" -d"${DURATION}s" --latency "${extra[@]}" "https://127.0.0.1:${PORT[$t]}/" >"$OUT/$label.txt" 2>&1 || {
        bench_log "wrk failed for $label; output:"
        sed 's/^/  | /' "$OUT/$label.txt" >&2
        return 1
    }
    after=$(bench_cpu_ticks "${PID[$t]}")
    python3 "$BENCH_PY" wrk-record "$OUT/$label.txt" "$RESULTS" mode="$mode" target="$t" rep="$rep" \
        cpu_ticks=$((after - before)) clk_tck="$CLK_TCK"
}

for mode in handshake keepalive; do
    # Warm-up, not recorded: first connections, page faults, upstream pools.
    for t in "${TARGETS[@]}"; do
        wrk -t1 -c"$CONNS" -d1s "https://127.0.0.1:${PORT[$t]}/" >/dev/null 2>&1 || true
    done
    for ((rep = 1; rep <= REPS; rep++)); do
        for t in "${TARGETS[@]}"; do
            run "$mode" "$t" "$rep"
        done
    done
done

# ----------------------------------------------------------------------------- report

python3 - "$RESULTS" "$OUT/table.md" "$REVISION" "$(bench_machine)" "$LOADAVG" "$BENCH_PRIORITY" \
    "$DURATION" "$REPS" "$CONNS" "$WORKERS" <<'PY'
import json, statistics, sys
results, table, revision, machine, loadavg, priority, duration, reps, conns, workers = sys.argv[1:]
rows = [json.loads(l) for l in open(results)]
names = {"dlb": "dlb-agent", "nginx": "nginx", "haproxy": "HAProxy"}
def med(mode, t, key):
    v = [r[key] for r in rows if r["mode"] == mode and r["target"] == t and r.get(key) is not None]
    return statistics.median(v) if v else None
def spread(mode, t):
    v = [r["rps"] for r in rows if r["mode"] == mode and r["target"] == t and r.get("rps")]
    return "%.0f-%.0f" % (min(v), max(v)) if v else "-"
def errors(mode, t):
    return sum(r["socket_errors"] + r["non_2xx"] for r in rows if r["mode"] == mode and r["target"] == t)
out = []
out.append("Measured by `bench/tls.sh` (%s). Machine: %s. Load average at the start: %s; %s." %
           (revision, machine, loadavg, priority))
out.append("")
out.append("wrk -t1 -c%s, %s s per run, median of %s interleaved runs; TLS 1.3, ECDSA P-256 certificate, "
           "the same files for all three; %s worker(s)/thread(s) per proxy; backends: two "
           "`dlb-replica --service-ms 0` over plain HTTP with upstream keep-alive. **handshake**: "
           "`Connection: close` on every request, so each request is a new TCP connection and a full "
           "TLS handshake (wrk never resumes sessions). **keepalive**: requests over established TLS "
           "connections. CPU is the proxy's user+system time per request." % (conns, duration, reps, workers))
out.append("")
out.append("| mode | proxy | req/s (median) | range | p99 ms | CPU us/req | errors | dlb-agent / this |")
out.append("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
summary = []
for mode in ("handshake", "keepalive"):
    base = med(mode, "dlb", "rps")
    for t in ("dlb", "nginx", "haproxy"):
        rps = med(mode, t, "rps"); p99 = med(mode, t, "p99_ms"); cpu = med(mode, t, "cpu_us_per_req")
        ratio = "-" if t == "dlb" or not rps or not base else "%.2f" % (base / rps)
        out.append("| %s | %s | %s | %s | %s | %s | %d | %s |" % (
            mode, names[t], "-" if rps is None else "%.0f" % rps, spread(mode, t),
            "-" if p99 is None else "%.1f" % p99, "-" if cpu is None else "%.0f" % cpu, errors(mode, t), ratio))
        if t != "dlb" and rps and base:
            summary.append("%s: dlb-agent/%s = %.2f (req/s)" % (mode, names[t], base / rps))
out.append("")
open(table, "w").write("\n".join(out) + "\n")
print("\n".join(out))
print("\n".join(summary))
PY

if ((WRITE_DOCS)); then
    python3 "$BENCH_PY" doc-section "$REPO_ROOT/docs/benchmarks.md" tls "$OUT/table.md" "TLS termination"
    bench_log "wrote the \"TLS termination\" section of docs/benchmarks.md"
fi
