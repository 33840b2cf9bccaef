#!/usr/bin/env python3
"""The fleet benchmark of bench/fleet.sh (run it through that script; see its --help).

Several dlb-agents, each one worker and so each one independent Prequal client (the paper's
setting: many clients, no shared state), share one heterogeneous pool of replicas. The same
total load is offered at every agent count, split evenly over the agents, each agent driven by
its own load generator. Each case runs on a fresh pool with the same timeline.

Pools, replica processes, the front ends and the load generators are matrix.py's (the scenario
matrix of bench/matrix.sh): the same replicas, the same open-loop Poisson load, the same
bookkeeping of every process started (stopped by pid at the end, also on a signal).
"""

import json
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402
import matrix  # noqa: E402

ALGORITHMS = [
    ("prequal", "prequal"),
    ("round_robin", "round_robin"),
    ("least_request", "least_request"),
]
AGENT_COUNTS = (1, 2, 4)

# Pools (matrix.py's cells, whose replicas and capacity plan_cell() computes): id, replica
# implementation, replicas, unevenness, load (percent of capacity, open loop). The topology of
# the matrix cell is replaced by the agent count.
POOLS_QUICK = [
    ("D8-8x-60", "dlb", 8, "8x", "o60"),
    ("A8-8x-60", "asyncio", 8, "8x", "o60"),
]
POOLS_FULL = POOLS_QUICK + [
    ("D8-8x-90", "dlb", 8, "8x", "o90"),
    ("A8-8x-90", "asyncio", 8, "8x", "o90"),
    ("A5-4x-60", "asyncio", 5, "4x", "o60"),
    ("D5-4x-90", "dlb", 5, "4x", "o90"),
]

log = matrix.log


def plan_pool(pool, agents, warmup, duration):
    pid, impl, n, uneven, load = pool
    # "2x1" only shapes the matrix's topology fields, which are overwritten here.
    plan = matrix.plan_cell((pid, impl, n, uneven, "2x1", load, ""), warmup, duration)
    plan["fronts"], plan["workers"], plan["agents"] = agents, 1, agents
    return plan


def describe(plan):
    return "%s; capacity %.0f req/s; open loop %s%% = %.0f req/s in total, split over the agents" % (
        plan["pool_desc"], plan["capacity"], plan["load"][1:], plan["rate"])


def per_agent_p99(res):
    vals = [(c.get("latency_ms") or {}).get("p99") for c in res["result"].get("per_client", [])]
    vals = [v for v in vals if v is not None]
    if len(vals) < 2:
        return "-"
    return "%s–%s" % (benchlib.fmt_ms(min(vals)), benchlib.fmt_ms(max(vals)))


def report(pools, meta, md_out):
    """pools: [{"plan": {...}, "cases": [{"algorithm", "agents", "dir", "result"...}]}]."""
    md = ["Measured %s on %s; load average before the run: %s. %s" % (
        meta["date"], meta["machine"], meta["loadavg"], meta["frontend_desc"]), ""]
    md.extend(meta["method"])
    md.append("")
    headers = ["algorithm", "agents", "p50 ms", "p90 ms", "p99 ms", "p99.9 ms", "errors", "2xx / sent",
               "p99 / 1 agent", "p99 / RR", "p99 per agent", "slow replicas' share", "probes per request (agent)",
               "pings per request (replicas)"]
    text_rows = []
    for entry in pools:
        plan = entry["plan"]
        md.append("#### `%s`" % plan["id"])
        md.append("")
        md.append(plan["desc"] + ".")
        md.append("")
        by = {(c["algorithm"], c["agents"]): c for c in entry["cases"] if c.get("result")}
        slow = {r["name"] for r in plan["replicas"] if r["kind"] != "normal"}
        fair = len(slow) / float(len(plan["replicas"]))
        rows = []
        for c in entry["cases"]:
            res = c.get("result")
            if not res:
                rows.append([c["algorithm"], c["agents"], "-", "-", "-", "-", c.get("failure", "did not run")]
                            + ["-"] * 7)
                continue
            lat, cen = res["latency_ms"], res.get("censored", {})

            def ms(key):
                return ("≥" if cen.get(key) else "") + benchlib.fmt_ms(lat[key])
            n = sum(res["errors"].values())
            err = "0" if n == 0 else "%d (%s)" % (n, ", ".join("%s %d" % kv for kv in sorted(res["errors"].items())))
            if c.get("failure"):
                err += "; " + c["failure"]
            one = by.get((c["algorithm"], 1))
            rr = by.get(("round_robin", c["agents"]))
            p99 = lat["p99"]

            def ratio(other):
                if not other or not p99 or not other["result"]["latency_ms"]["p99"]:
                    return "-"
                # A censored p99 (timeouts counted as 5000 ms) is a lower bound: so is a ratio
                # over it, and a ratio under it an upper bound.
                mine, theirs = bool(cen.get("p99")), bool(other["result"].get("censored", {}).get("p99"))
                if mine and theirs and other is not c:
                    return "-"
                mark = "≥" if mine and not theirs else "≤" if theirs and not mine else ""
                return mark + benchlib.fmt_ratio(p99 / other["result"]["latency_ms"]["p99"])
            ap = benchlib.agent_probes(c["dir"])
            apr = "-" if ap is None else "%.2f" % (ap[1] / ap[0])
            ppr = "-"
            if c.get("replica_requests"):
                ppr = "%.2f" % (c["replica_pings"] / c["replica_requests"])
            answered = sum(res["replicas"].values())
            share = "-" if not answered else "%.1f%%" % (100.0 * sum(v for k, v in res["replicas"].items()
                                                                     if k in slow) / answered)
            rows.append([c["algorithm"], c["agents"], ms("p50"), ms("p90"), ms("p99"), ms("p999"), err,
                         "%d / %d" % (res["ok"], res["requests"]), ratio(one), ratio(rr), per_agent_p99(c),
                         share, apr, ppr])
            text_rows.append([plan["id"], c["algorithm"], c["agents"], ms("p50"), ms("p99"), ms("p999"), n, apr])
        md.append(benchlib.md_table(headers, rows, ["l", "r", "r", "r", "r", "r", "l"] + ["r"] * 7))
        md.append("")
        md.append("A fair share of the slow replicas (%s) would be %.1f%% of the answers." % (
            ", ".join(sorted(slow)), 100.0 * fair))
        md.append("")
    benchlib.append_commands(md, "bench/out/fleet-*/", meta["commands"])
    with open(md_out, "w", encoding="utf-8") as f:
        f.write("\n".join(md) + "\n")
    print()
    print(benchlib.text_table(["pool", "algorithm", "agents", "p50", "p99", "p99.9", "errors", "probes/req"],
                              text_rows))


def main():
    import argparse
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--bin-dir", required=True)
    ap.add_argument("--tmp", required=True)
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--report", nargs=2, metavar=("META", "MD"),
                    help="only write the report of --out/pools.json")
    ap.add_argument("--list", action="store_true")
    a = ap.parse_args()
    pools = POOLS_QUICK if a.quick else POOLS_FULL
    if a.list:
        for p in pools:
            print("%-10s %s" % (p[0], describe(plan_pool(p, 1, a.warmup, a.duration))))
        return 0
    if a.report:
        with open(os.path.join(a.out, "pools.json"), encoding="utf-8") as f:
            done = json.load(f)
        with open(a.report[0], encoding="utf-8") as f:
            meta = json.load(f)
        report(done, meta, a.report[1])
        return 0

    def on_signal(sig, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, on_signal)
    os.makedirs(a.out, exist_ok=True)
    done = []
    t_begin = time.time()
    try:
        for pool in pools:
            entry = None
            for agents in AGENT_COUNTS:
                plan = plan_pool(pool, agents, a.warmup, a.duration)
                if entry is None:
                    p = matrix.plan_json(plan)
                    p["desc"] = describe(plan)
                    entry = {"plan": p, "cases": []}
                    log("=== pool %s: %s" % (plan["id"], p["desc"]))
                for alg, _ in ALGORITHMS:
                    d = os.path.join(a.out, plan["id"], "%s-%d" % (alg, agents))
                    try:
                        res = matrix.run_case(alg, plan, d, a.bin_dir, a.tmp, a.warmup, a.duration)
                    except RuntimeError as e:
                        matrix.PROCS.stop_all()
                        res = {"name": alg, "failure": str(e)}
                    res["algorithm"], res["agents"], res["dir"] = alg, agents, d
                    log("  %-14s %d agent(s)  %s" % (alg, agents, matrix.summarize(res)))
                    entry["cases"].append(res)
            done.append(entry)
            with open(os.path.join(a.out, "pools.json"), "w") as f:
                json.dump(done, f, indent=1)
    except KeyboardInterrupt:
        log("interrupted; stopping what this run started")
        matrix.PROCS.stop_all()
        return 130
    finally:
        matrix.PROCS.stop_all()
    log("fleet done in %.1f min" % ((time.time() - t_begin) / 60.0))
    return 0


if __name__ == "__main__":
    sys.exit(main())
