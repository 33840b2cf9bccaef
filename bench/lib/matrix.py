#!/usr/bin/env python3
"""The scenario matrix of bench/matrix.sh (run it through that script; see its --help).

Every cell is one scenario (replica implementation, pool, unevenness, front-end topology, load,
event). Each cell runs every case (three dlb-agent algorithms and three peers) one after the
other, each on a fresh pool, with the same timeline. Every process started here is tracked by
its Popen object and stopped by pid at the end (also on SIGINT/SIGTERM or a failure).
"""

import json
import math
import os
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402

LIB_DIR = os.path.dirname(os.path.abspath(__file__))
BENCH_DIR = os.path.dirname(LIB_DIR)
REPO_ROOT = os.path.dirname(BENCH_DIR)
ASYNCIO_REPLICA = os.path.join(BENCH_DIR, "replicas", "asyncio_replica.py")

CASES = [
    ("prequal", "dlb prequal"),
    ("round_robin", "dlb round_robin"),
    ("least_request", "dlb least_request"),
    ("nginx_least_conn", "nginx least_conn"),
    ("nginx_random_two", "nginx random two least_conn"),
    ("haproxy_leastconn", "HAProxy leastconn"),
]
PEERS = ("nginx_least_conn", "nginx_random_two", "haproxy_leastconn")

# Open-loop pools are sized to this nominal capacity (all replicas at normal speed), whatever
# their replica count, so that every cell asks the same of the 2-core box: the service time
# grows with the pool (3 replicas: 7.5 ms, 8: 20 ms, 30: 75 ms at 4 slots each).
NOMINAL_CAPACITY = 1600.0  # req/s
SLOTS = 4
OPEN_CONNECTIONS = 500      # loadgen connection limit per cell, split between the front ends
TIMEOUT_MS = 5000           # loadgen --timeout-ms
BURST_TIMEOUT_MS = 10000    # table 5's replicas take up to 2 s per request
BURST_CONNECTIONS = 1000    # "ab -c 1000", split between the front ends
BURST_REQUESTS = 5000       # per burst, split between the front ends
BURST_IDLE_S = 6.0          # idle before each burst (prequal's max_age_ms is 1 s: its probe pool is stale)
BURSTS = 2
KILLED = "r2"               # the replica killed (SIGKILL) a third into the window, restarted at two thirds

# id, replica impl, pool size, unevenness, topology, load, event
#   unevenness: even | 8x (1 of 8 at 8x) | 4x (2 of 5 at 4x) | 2x-shift (a third at 2x, then
#     another third: the slow set changes mid-window) | table5 (uniform 500-2000 ms, 1000 slots)
#   topology: 1x2 (one front end, 2 workers/threads) | 2x1 (two front ends, 1 worker each)
#   load: o30 o60 o90 o130 (open loop, % of capacity) | c16 (closed loop, 16 connections, no
#     rate limit, the setup: 8 slots, 2 ms) | burst
CELLS = [
    ("A3-closed", "asyncio", 3, "even", "1x2", "c16", ""),
    ("A3-closed-kill", "asyncio", 3, "even", "1x2", "c16", "kill"),
    ("D3-closed", "dlb", 3, "even", "1x2", "c16", ""),
    ("D8-8x-30", "dlb", 8, "8x", "2x1", "o30", ""),
    ("D8-8x-60", "dlb", 8, "8x", "2x1", "o60", ""),
    ("D8-8x-90", "dlb", 8, "8x", "2x1", "o90", ""),
    ("D8-8x-130", "dlb", 8, "8x", "2x1", "o130", ""),
    ("A8-8x-60", "asyncio", 8, "8x", "2x1", "o60", ""),
    ("A8-8x-90", "asyncio", 8, "8x", "1x2", "o90", ""),
    ("A5-4x-30", "asyncio", 5, "4x", "2x1", "o30", ""),
    ("A5-4x-90", "asyncio", 5, "4x", "2x1", "o90", ""),
    ("D5-4x-60", "dlb", 5, "4x", "1x2", "o60", ""),
    ("A30-2x-60", "asyncio", 30, "2x-shift", "2x1", "o60", ""),
    ("D30-2x-90", "dlb", 30, "2x-shift", "1x2", "o90", ""),
    ("A3-2x-130", "asyncio", 3, "2x-shift", "1x2", "o130", ""),
    ("D8-8x-60-kill", "dlb", 8, "8x", "2x1", "o60", "kill"),
    ("D4-burst", "dlb", 4, "table5", "1x2", "burst", ""),
    ("A4-burst", "asyncio", 4, "table5", "2x1", "burst", ""),
    # The asyncio replicas of A5-4x-90 and A30-2x-60 with --x-load: every answer carries
    # `X-Load: rif=N, latency_ms=M`, the free load report service owners are asked to send
    # (docs/load-reports.md), so Prequal's pool fills without the probes those replicas pay for.
    ("X5-4x-90", "asyncio-xload", 5, "4x", "2x1", "o90", ""),
    ("X30-2x-60", "asyncio-xload", 30, "2x-shift", "2x1", "o60", ""),
]
QUICK = ["A3-closed", "D8-8x-90", "A8-8x-60", "A3-closed-kill", "A4-burst"]


def log(msg):
    sys.stderr.write("[%s] %s\n" % (time.strftime("%H:%M:%S"), msg))
    sys.stderr.flush()


# --------------------------------------------------------------------------- processes

class Procs:
    def __init__(self):
        self.live = []

    def spawn(self, logpath, cmd):
        f = open(logpath, "ab")
        p = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        f.close()
        p.logpath = logpath
        self.live.append(p)
        return p

    def stop(self, procs, sig=signal.SIGTERM):
        for p in procs:
            if p.poll() is None:
                try:
                    p.send_signal(sig)
                except ProcessLookupError:
                    pass
        deadline = time.time() + 3.0
        for p in procs:
            try:
                p.wait(max(0.05, deadline - time.time()))
            except subprocess.TimeoutExpired:
                log("pid %d still running 3 s after SIGTERM; sending SIGKILL" % p.pid)
                p.kill()
                p.wait()
        self.live = [p for p in self.live if p not in procs]

    def stop_all(self):
        self.stop(list(self.live))


PROCS = Procs()


def wait_line(path, proc, prefix, timeout=15.0):
    end = time.time() + timeout
    while time.time() < end:
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                for line in f:
                    if line.startswith(prefix):
                        return line.strip()
        except FileNotFoundError:
            pass
        if proc.poll() is not None:
            raise RuntimeError("%s exited (status %s) before printing %r; see %s" % (
                proc.args[0], proc.returncode, prefix, path))
        time.sleep(0.02)
    raise RuntimeError("no %r from pid %d within %g s; see %s" % (prefix, proc.pid, timeout, path))


def wait_listen(port, proc, timeout=15.0):
    end = time.time() + timeout
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            pass
        if proc.poll() is not None:
            raise RuntimeError("front end pid %d exited (status %s) before listening on %d; see %s" % (
                proc.pid, proc.returncode, port, proc.logpath))
        time.sleep(0.05)
    raise RuntimeError("nothing accepts on 127.0.0.1:%d within %g s; see %s" % (port, timeout, proc.logpath))


def free_ports(n):
    socks = []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


# --------------------------------------------------------------------------- the pool

class Replica:
    def __init__(self, name, slow, schedule, kind):
        self.name, self.slow, self.schedule, self.kind = name, slow, schedule, kind
        self.port = 0
        self.proc = None


def plan_cell(cell, warmup, duration):
    """Replicas, their service parameters, capacity and the offered load of one cell."""
    cid, impl, n, uneven, topo, load, event = cell
    plan = {"id": cid, "impl": impl, "n": n, "uneven": uneven, "topo": topo, "load": load, "event": event,
            "fronts": 2 if topo == "2x1" else 1, "workers": 1 if topo == "2x1" else 2}
    slack = 1.5 + 0.05 * n  # replicas start before the load; 30 Python replicas take a while
    plan["slack"] = slack
    t_start = slack + warmup             # measured window, in replica time
    t_mid = t_start + duration / 2.0
    if load == "c16":
        slots, svc, dist = 8, 2.0, "exp"
    elif uneven == "table5":
        slots, svc, dist = 1000, 1250.0, "uniform:500:2000"
    else:
        slots, dist = SLOTS, "exp"
        svc = n * slots * 1000.0 / NOMINAL_CAPACITY
    reps = []
    for i in range(1, n + 1):
        reps.append(Replica("r%d" % i, 1.0, [], "normal"))
    if uneven == "8x":
        reps[7].slow, reps[7].kind = 8.0, "8x"
    elif uneven == "4x":
        for r in reps[3:5]:
            r.slow, r.kind = 4.0, "4x"
    elif uneven == "2x-shift":
        k = max(1, round(n / 3.0))
        for r in reps[:k]:
            r.slow, r.schedule, r.kind = 2.0, [(t_mid, 1.0)], "2x→1x"
        for r in reps[k:2 * k]:
            r.schedule, r.kind = [(t_mid, 2.0)], "1x→2x"
    plan.update(slots=slots, service_ms=svc, dist=dist, replicas=reps)

    mean_ms = 1250.0 if dist.startswith("uniform") else svc

    def cap(factors):
        return sum(slots * 1000.0 / (mean_ms * f) for f in factors)
    first = [r.slow for r in reps]
    second = [r.schedule[-1][1] if r.schedule else r.slow for r in reps]
    capacity = min(cap(first), cap(second))
    plan["capacity"] = capacity
    plan["capacity_nominal"] = cap([1.0] * n)
    if event == "kill":
        plan["capacity_killed"] = capacity - slots * 1000.0 / (mean_ms * reps[1].slow)
    k = max(1, round(n / 3.0))

    def names(a, b):
        return "r%d" % a if a == b else "r%d-r%d" % (a, b)
    slow_txt = {"even": "all at normal speed",
                "8x": "r8 8× slower",
                "4x": "r4, r5 4× slower",
                "2x-shift": "%s 2× slower in the first half of the window, then %s instead" % (
                    names(1, k), names(k + 1, 2 * k)),
                "table5": "all alike"}[uneven]
    plan["pool_desc"] = "%d × %s, %d slots, %s ms%s; %s" % (
        n, {"asyncio": "asyncio_replica.py", "asyncio-xload": "asyncio_replica.py --x-load"}.get(impl, "dlb-replica"),
        slots,
        ("%g" % svc) if not dist.startswith("uniform") else "500-2000", "" if dist == "uniform:500:2000" else " " + dist,
        slow_txt)
    if load.startswith("o"):
        plan["rate"] = int(load[1:]) / 100.0 * capacity
    return plan


def is_asyncio(plan):
    return plan["impl"] in ("asyncio", "asyncio-xload")


def replica_cmd(plan, r, port, bin_dir, seed):
    sched = ",".join("%.2f:%g" % (t, f) for t, f in r.schedule)
    if is_asyncio(plan):
        cmd = [sys.executable, ASYNCIO_REPLICA, "--listen", "127.0.0.1:%d" % port, "--name", r.name,
               "--slots", str(plan["slots"]), "--service-ms", "%g" % plan["service_ms"], "--dist", plan["dist"],
               "--slow", "%g" % r.slow, "--seed", str(seed)]
        if plan["impl"] == "asyncio-xload":
            cmd.append("--x-load")
    else:
        cmd = [os.path.join(bin_dir, "dlb-replica"), "--listen", "127.0.0.1:%d" % port, "--name", r.name,
               "--workers", str(plan["slots"]), "--service-ms", "%g" % plan["service_ms"], "--dist", plan["dist"],
               "--slow", "%g" % r.slow, "--seed", str(seed)]
    if sched:
        cmd += ["--slow-schedule", sched]
    return cmd


def start_pool(plan, d, bin_dir):
    reps = plan["replicas"]
    for i, r in enumerate(reps):
        r.seed = 1000 + i
        r.cmd = replica_cmd(plan, r, 0, bin_dir, r.seed)
        r.log = os.path.join(d, "replica-%s.log" % r.name)
        r.proc = PROCS.spawn(r.log, r.cmd)
    t0 = time.time()
    for r in reps:
        line = wait_line(r.log, r.proc, "listening on ")
        r.port = int(line.rsplit(":", 1)[1])
    return t0


def cpu_seconds(pid):
    """User + system CPU of a process (all its threads) and its children (nginx's workers), in
    seconds; 0 once it is gone. Read by common.sh's bench_cpu_ticks, which proxy.sh uses too."""
    out = subprocess.run(["bash", "-c", '. "$0" && bench_cpu_ticks "$1"',
                          os.path.join(BENCH_DIR, "lib", "common.sh"), str(pid)],
                         capture_output=True, text=True, check=False).stdout.strip()
    return (int(out) if out.isdigit() else 0) / float(os.sysconf("SC_CLK_TCK"))


def restart_replica(plan, r, bin_dir):
    r.proc = PROCS.spawn(r.log, replica_cmd(plan, r, r.port, bin_dir, r.seed + 500))


# --------------------------------------------------------------------------- front ends

def start_fronts(case, plan, d, bin_dir, tmp):
    nf, workers = plan["fronts"], plan["workers"]
    ports = free_ports(nf)
    procs = []
    reps = plan["replicas"]
    for k in range(nf):
        port = ports[k]
        if case.startswith("nginx_"):
            balance = "random two least_conn;" if case == "nginx_random_two" else "least_conn;"
            servers = "\n".join("server 127.0.0.1:%d;" % r.port for r in reps)
            prefix = os.path.join(tmp, "%s-%s-%d" % (plan["id"], case, k))
            os.makedirs(prefix, exist_ok=True)
            os.chmod(prefix, 0o755)
            conf = os.path.join(d, "nginx-%d.conf" % k)
            benchlib.cmd_fill([os.path.join(BENCH_DIR, "conf", "nginx-proxy.conf.in"), conf, "PREFIX=" + prefix,
                               "WORKERS=%d" % workers, "PORT=%d" % port, "BALANCE=" + balance,
                               "SERVERS=" + servers, "KEEPALIVE=64"])
            p = PROCS.spawn(os.path.join(d, "nginx-%d.log" % k),
                            ["nginx", "-p", prefix, "-c", conf, "-e", os.path.join(prefix, "error.log")])
        elif case.startswith("haproxy_"):
            servers = "\n".join("server %s 127.0.0.1:%d" % (r.name, r.port) for r in reps)
            conf = os.path.join(d, "haproxy-%d.cfg" % k)
            benchlib.cmd_fill([os.path.join(BENCH_DIR, "conf", "haproxy.cfg.in"), conf, "THREADS=%d" % workers,
                               "PORT=%d" % port, "BALANCE=leastconn", "SERVERS=" + servers])
            p = PROCS.spawn(os.path.join(d, "haproxy-%d.log" % k), ["haproxy", "-f", conf, "-db"])
        else:
            conf = os.path.join(d, "agent-%d.json" % k)
            cfg = {"workers": workers, "listeners": [{"address": "127.0.0.1:%d" % port}],
                   "pools": [{"name": "web", "algorithm": dict({"name": case}, **json.loads(
                       os.environ.get("MATRIX_PARAMS_" + case.upper(), "{}"))),
                              "replicas": [{"url": "http://127.0.0.1:%d" % r.port, "id": r.name} for r in reps]}]}
            if os.environ.get("MATRIX_ACCESS_LOG"):
                cfg["access_log"] = {"path": os.path.join(d, "access-%d.log" % k), "format": "json"}
            with open(conf, "w") as f:
                json.dump(cfg, f, indent=2)
            p = PROCS.spawn(os.path.join(d, "agent-%d.log" % k),
                            [os.path.join(bin_dir, "dlb-agent"), "--config", conf])
        procs.append(p)
    for p, port in zip(procs, ports):
        wait_listen(port, p)
    return procs, ports


# --------------------------------------------------------------------------- one case

def sleep_until(t):
    d = t - time.time()
    if d > 0:
        time.sleep(d)


def run_loadgens(cmds, d, tag, limit_s, stop_after=None, events=()):
    """Starts one loadgen per command, fires `events` [(time, fn)] on time, SIGINTs them at
    `stop_after` (closed loop), waits at most `limit_s`. Returns (json paths, problems)."""
    procs, paths = [], []
    for k, cmd in enumerate(cmds):
        path = os.path.join(d, "loadgen-%s-%d.json" % (tag, k))
        paths.append(path)
        procs.append(PROCS.spawn(os.path.join(d, "loadgen-%s-%d.log" % (tag, k)), cmd + ["--json", path]))
    t0 = time.time()
    pending = sorted(events, key=lambda e: e[0])
    stopped = False
    problems = []
    while any(p.poll() is None for p in procs):
        now = time.time()
        while pending and now >= t0 + pending[0][0]:
            pending.pop(0)[1]()
        if stop_after is not None and not stopped and now >= t0 + stop_after:
            for p in procs:
                p.send_signal(signal.SIGINT)
            stopped = True
        if now > t0 + limit_s:
            problems.append("loadgen still running after %g s" % limit_s)
            break
        time.sleep(0.02)
    for fn in pending:  # a closed run that ended early still gets its restart
        if fn[0] <= limit_s:
            fn[1]()
    PROCS.stop([p for p in procs if p.poll() is None], signal.SIGINT)
    for k, p in enumerate(procs):
        if p.returncode not in (0, None):
            problems.append("loadgen %d exited %s" % (k, p.returncode))
    PROCS.live = [p for p in PROCS.live if p not in procs]
    return [p for p in paths if os.path.exists(p) and os.path.getsize(p) > 0], problems


def run_case(case, plan, d, bin_dir, tmp, warmup, duration):
    os.makedirs(d, exist_ok=True)
    reps = plan["replicas"]
    t_pool = start_pool(plan, d, bin_dir)
    fronts, ports = start_fronts(case, plan, d, bin_dir, tmp)
    sleep_until(t_pool + plan["slack"])
    nf = plan["fronts"]
    lg = os.path.join(bin_dir, "dlb-loadgen")
    problems, paths = [], []
    events = []
    if plan["event"] == "kill":
        victim = next(r for r in reps if r.name == KILLED)

        def kill():
            log("  SIGKILL %s (pid %d)" % (victim.name, victim.proc.pid))
            victim.proc.kill()
            victim.proc.wait()
            PROCS.live.remove(victim.proc)

        def restart():
            log("  restart %s on port %d" % (victim.name, victim.port))
            restart_replica(plan, victim, bin_dir)
        events = [(warmup + duration / 3.0, kill), (warmup + 2 * duration / 3.0, restart)]
    load = plan["load"]
    if load.startswith("o"):
        cmds = [[lg, "--url", "http://127.0.0.1:%d/" % ports[k], "--rate", "%.1f" % (plan["rate"] / nf),
                 "--duration", str(duration), "--warmup", str(warmup), "--connections", str(OPEN_CONNECTIONS // nf),
                 "--arrivals", "poisson", "--seed", str(11 + k), "--timeout-ms", str(TIMEOUT_MS)] for k in range(nf)]
        paths, problems = run_loadgens(cmds, d, "open", warmup + duration + TIMEOUT_MS / 1000.0 + 15, events=events)
    elif load == "c16":
        cmds = [[lg, "--url", "http://127.0.0.1:%d/" % ports[k], "--requests", "1000000000",
                 "--concurrency", str(16 // nf), "--timeout-ms", str(TIMEOUT_MS)] for k in range(nf)]
        paths, problems = run_loadgens(cmds, d, "closed", warmup + duration + 15, stop_after=warmup + duration,
                                       events=events)
    elif load == "burst":
        for b in range(BURSTS):
            time.sleep(BURST_IDLE_S)
            cmds = [[lg, "--url", "http://127.0.0.1:%d/" % ports[k], "--requests", str(BURST_REQUESTS // nf),
                     "--concurrency", str(BURST_CONNECTIONS // nf), "--timeout-ms", str(BURST_TIMEOUT_MS)]
                    for k in range(nf)]
            p, pr = run_loadgens(cmds, d, "burst%d" % b, 120)
            paths += p
            problems += pr
    for k, p in enumerate(fronts):
        if p.poll() is not None:
            problems.append("front end %d died during the run (status %s), log %s" % (k, p.returncode, p.logpath))
    for r in reps:
        if r.proc.poll() is not None:
            problems.append("replica %s died (status %s)" % (r.name, r.proc.returncode))
    # Read before the stop: what the front ends and the replicas spent, start to end (a killed
    # replica's CPU before its kill is lost, as its counts are).
    front_cpu = sum(cpu_seconds(p.pid) for p in fronts)
    replica_cpu = sum(cpu_seconds(r.proc.pid) for r in reps if r.proc.poll() is None)
    PROCS.stop(fronts)
    PROCS.stop([r.proc for r in reps])
    result = {"name": case, "label": dict(CASES)[case], "front_cpu_s": front_cpu, "replica_cpu_s": replica_cpu}
    if paths:
        results = [json.load(open(p)) for p in paths]
        result["result"] = benchlib.merge_loadgen(results)
        if load == "burst":  # sequential bursts: the rate is not a sum
            result["result"]["rate"] = None
    # probes per request, from what the asyncio replicas counted (a killed replica's count is lost)
    if is_asyncio(plan):
        req = ping = 0
        for r in reps:
            with open(r.log, encoding="utf-8", errors="replace") as f:
                for line in f:
                    if line.startswith("served requests "):
                        parts = line.split()
                        req += int(parts[2])
                        ping += int(parts[4])
        result["replica_requests"], result["replica_pings"] = req, ping
    if problems:
        result["failure"] = "; ".join(problems)
        log("  PROBLEM: " + result["failure"])
    return result


def summarize(res):
    r = res.get("result")
    if not r:
        return "no result (%s)" % res.get("failure", "?")
    lat = r["latency_ms"]
    nerr = sum(r["errors"].values())
    extra = ""
    if res.get("replica_requests"):
        extra = "; %.2f pings per request at the replicas" % (res["replica_pings"] / res["replica_requests"])
    return "2xx %d of %d, errors %d %s; p50 %s p99 %s ms%s" % (
        r["ok"], r["requests"], nerr, json.dumps(r["errors"]) if nerr else "", benchlib.fmt_ms(lat["p50"]),
        benchlib.fmt_ms(lat["p99"]), extra)


# --------------------------------------------------------------------------- main

def main():
    import argparse
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--bin-dir", required=True)
    ap.add_argument("--tmp", required=True)
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--cells", default="")
    ap.add_argument("--cases", default="")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--list", action="store_true")
    a = ap.parse_args()
    if a.list:
        for c in CELLS:
            p = plan_cell(c, a.warmup, a.duration)
            print("%-16s %s" % (c[0], describe(p)))
        return 0
    cells = CELLS
    if a.quick:
        cells = [c for c in CELLS if c[0] in QUICK]
    if a.cells:
        want = a.cells.split()
        unknown = [w for w in want if w not in {c[0] for c in CELLS}]
        if unknown:
            sys.exit("error: unknown cell(s) %s (see --list)" % ", ".join(unknown))
        cells = [c for c in CELLS if c[0] in want]
    cases = [c for c, _ in CASES]
    if a.cases:
        want = a.cases.split()
        unknown = [w for w in want if w not in cases]
        if unknown:
            sys.exit("error: unknown case(s) %s" % ", ".join(unknown))
        cases = [c for c in cases if c in want]

    def on_signal(sig, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, on_signal)
    os.makedirs(a.out, exist_ok=True)
    out_cells = []
    t_begin = time.time()
    try:
        for cell in cells:
            plan = plan_cell(cell, a.warmup, a.duration)
            log("=== cell %s: %s" % (plan["id"], describe(plan)))
            entry = {"plan": plan_json(plan), "cases": []}
            for case in cases:
                d = os.path.join(a.out, plan["id"], case)
                try:
                    res = run_case(case, plan, d, a.bin_dir, a.tmp, a.warmup, a.duration)
                except RuntimeError as e:
                    PROCS.stop_all()
                    res = {"name": case, "label": dict(CASES)[case], "failure": str(e)}
                log("  %-28s %s" % (dict(CASES)[case], summarize(res)))
                entry["cases"].append(res)
            out_cells.append(entry)
            with open(os.path.join(a.out, "cells.json"), "w") as f:
                json.dump(out_cells, f, indent=1)
    except KeyboardInterrupt:
        log("interrupted; stopping what this run started")
        PROCS.stop_all()
        return 130
    finally:
        PROCS.stop_all()
    log("matrix done in %.1f min" % ((time.time() - t_begin) / 60.0))
    return 0


def describe(plan):
    load = plan["load"]
    if load.startswith("o"):
        l = "open loop %s%% = %.0f req/s" % (load[1:], plan["rate"])
    elif load == "c16":
        l = "closed loop, 16 connections, no rate limit"
    else:
        l = "%d bursts of %d requests on %d connections, each after %g s idle" % (
            BURSTS, BURST_REQUESTS, BURST_CONNECTIONS, BURST_IDLE_S)
    s = "%s; %s; capacity %.0f req/s; %s" % (
        plan["pool_desc"], "1 front end × 2 workers" if plan["topo"] == "1x2" else "2 front ends × 1 worker",
        plan["capacity"], l)
    if plan["event"] == "kill":
        s += "; %s SIGKILLed at 1/3 of the window, restarted at 2/3 (capacity %.0f req/s meanwhile)" % (
            KILLED, plan["capacity_killed"])
    return s


def plan_json(plan):
    p = {k: v for k, v in plan.items() if k != "replicas"}
    p["replicas"] = [{"name": r.name, "kind": r.kind, "slow": r.slow, "schedule": r.schedule} for r in plan["replicas"]]
    p["desc"] = describe(plan)
    load = plan["load"]
    p["short"] = "%s, %d %s, %s, %s%s" % (
        {"asyncio": "asyncio", "asyncio-xload": "asyncio + X-Load"}.get(plan["impl"], "dlb-replica"),
        plan["n"], plan["uneven"],
        "1 agent × 2 workers" if plan["topo"] == "1x2" else "2 agents",
        load[1:] + "% open" if load.startswith("o") else "closed, 16 conns" if load == "c16" else "bursts of 1,000 conns",
        ", kill + restart" if plan["event"] == "kill" else "")
    return p


if __name__ == "__main__":
    sys.exit(main())
