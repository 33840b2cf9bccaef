#!/usr/bin/env python3
"""Helpers of the bench/*.sh scripts (Python 3 standard library only).

  fill TEMPLATE OUT KEY=VALUE...        write TEMPLATE with every @KEY@ replaced by VALUE
                                        (a multi-line VALUE keeps the placeholder's indent)
  wrk FILE                              parse wrk --latency output, print one JSON object
  proxy-report RESULTS.jsonl META.json MD_OUT
                                        print the proxy table, write its Markdown to MD_OUT
  merge-loadgen OUT A.json B.json...    merge dlb-loadgen JSON results of parallel clients
  algo-report CASES.json META.json MD_OUT DAT_OUT
                                        print the algorithm table, write Markdown and the
                                        gnuplot data file
  matrix-report CELLS.json META.json MD_OUT DAT_OUT
                                        the scenario matrix's tables, verdicts and chart data
  doc-section DOC NAME MD_FILE TITLE    replace the block between the NAME markers of DOC
                                        (created, with TITLE as its heading, if absent)
"""

import json
import math
import os
import re
import statistics
import sys


# --------------------------------------------------------------------------- fill

def cmd_fill(args):
    template, out, *pairs = args
    values = {}
    for pair in pairs:
        key, _, value = pair.partition("=")
        values[key] = value
    with open(template, encoding="utf-8") as f:
        text = f.read()
    lines = []
    for line in text.split("\n"):
        if line.lstrip().startswith("#"):
            lines.append(line)  # comments may name the placeholders
            continue
        for key, value in values.items():
            token = "@" + key + "@"
            if token in line and "\n" in value:
                indent = line[: len(line) - len(line.lstrip())]
                value = value.replace("\n", "\n" + indent)
            line = line.replace(token, value)
        lines.append(line)
    text = "\n".join(lines)
    left = sorted(set(re.findall(r"@[A-Z_]+@", "\n".join(l for l in lines if not l.lstrip().startswith("#")))))
    if left:
        sys.exit("fill: %s: no value for %s" % (template, ", ".join(left)))
    with open(out, "w", encoding="utf-8") as f:
        f.write(text)


# --------------------------------------------------------------------------- wrk

_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0, "h": 3600000.0}


def _ms(text):
    m = re.fullmatch(r"([0-9.]+)(us|ms|s|m|h)", text.strip())
    if not m:
        raise ValueError("not a wrk time: %r" % text)
    return float(m.group(1)) * _UNITS_MS[m.group(2)]


def parse_wrk(text):
    out = {"rps": None, "p50_ms": None, "p90_ms": None, "p99_ms": None, "requests": None,
           "socket_errors": 0, "non_2xx": 0}
    m = re.search(r"Requests/sec:\s+([0-9.]+)", text)
    if m:
        out["rps"] = float(m.group(1))
    m = re.search(r"(\d+) requests in ([0-9.]+\w+)", text)
    if m:
        out["requests"] = int(m.group(1))
    for pct, key in (("50", "p50_ms"), ("90", "p90_ms"), ("99", "p99_ms")):
        m = re.search(r"^\s+%s%%\s+([0-9.]+(?:us|ms|s|m|h))\s*$" % pct, text, re.M)
        if m:
            out[key] = _ms(m.group(1))
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    if m:
        out["socket_errors"] = sum(int(g) for g in m.groups())
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    if m:
        out["non_2xx"] = int(m.group(1))
    return out


def cmd_wrk(args):
    with open(args[0], encoding="utf-8", errors="replace") as f:
        print(json.dumps(parse_wrk(f.read())))


def cmd_wrk_record(args):
    """wrk-record FILE RESULTS.jsonl KEY=VALUE...: parse FILE, add the KEY=VALUE fields
    (numbers where they look like numbers), append to RESULTS, print a one-line summary."""
    path, results, *pairs = args
    with open(path, encoding="utf-8", errors="replace") as f:
        r = parse_wrk(f.read())
    for pair in pairs:
        k, _, v = pair.partition("=")
        r[k] = int(v) if v.isdigit() else v
    if r.get("requests") and "cpu_ticks" in r and r.get("clk_tck"):
        # CPU time the measured process spent per request: independent of how the CPU was
        # shared with wrk, the backends and anything else running.
        r["cpu_us_per_req"] = r["cpu_ticks"] * 1e6 / r["clk_tck"] / r["requests"]
    with open(results, "a", encoding="utf-8") as f:
        f.write(json.dumps(r) + "\n")
    label = os.path.splitext(os.path.basename(path))[0]
    cpu = r.get("cpu_us_per_req")
    print("  %-24s %9s req/s  p99 %8s ms  CPU %6s us/req  errors %d" % (
        label, fmt_rps(r["rps"]), fmt_ms(r["p99_ms"]), "-" if cpu is None else "%.1f" % cpu,
        r["socket_errors"] + r["non_2xx"]))


# --------------------------------------------------------------------------- tables

def append_commands(md, folder, commands):
    """The closing block of a matrix or fleet report: the command of every process of the run."""
    md.append("Commands (ports picked free at run time; every config, log and loadgen JSON is in the run's "
              "`%s` folder):" % folder)
    md.append("")
    md.append("```")
    md.extend(commands)
    md.append("```")


def md_table(headers, rows, align=None):
    align = align or ["l"] + ["r"] * (len(headers) - 1)
    sep = ["---:" if a == "r" else "---" for a in align]
    lines = ["| " + " | ".join(headers) + " |", "| " + " | ".join(sep) + " |"]
    for row in rows:
        lines.append("| " + " | ".join(str(c) for c in row) + " |")
    return "\n".join(lines)


def text_table(headers, rows):
    cols = list(zip(*([headers] + [[str(c) for c in r] for r in rows])))
    widths = [max(len(c) for c in col) for col in cols]
    fmt = "  ".join("{:<%d}" % w if i == 0 else "{:>%d}" % w for i, w in enumerate(widths))
    out = [fmt.format(*headers), fmt.format(*["-" * w for w in widths])]
    for r in rows:
        out.append(fmt.format(*[str(c) for c in r]))
    return "\n".join(out)


def fmt_rps(v):
    return "-" if v is None else "{:,.0f}".format(v)


def fmt_ms(v):
    if v is None:
        return "-"
    if v >= 100:
        return "%.0f" % v
    if v >= 10:
        return "%.1f" % v
    return "%.2f" % v


def fmt_ratio(v):
    return "-" if v is None else "%.2f" % v


def fmt_cpu(v):
    return "-" if v is None else "%.1f" % v


def fmt_kib(kib):
    return "%.1f MiB" % (kib / 1024.0)


# --------------------------------------------------------------------------- proxy report

TARGET_LABEL = {"direct": "backend direct", "dlb": "dlb-agent", "nginx": "nginx", "haproxy": "HAProxy"}


def cmd_proxy_report(args):
    results_path, meta_path, md_out = args
    with open(meta_path, encoding="utf-8") as f:
        meta = json.load(f)
    runs = []
    with open(results_path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                runs.append(json.loads(line))

    groups = {}
    for r in runs:
        groups.setdefault((r["workers"], r["conns"], r["target"]), []).append(r)

    def med(key, workers, conns, target):
        vals = [r[key] for r in groups.get((workers, conns, target), []) if r.get(key) is not None]
        return statistics.median(vals) if vals else None

    def spread(key, workers, conns, target):
        vals = [r[key] for r in groups.get((workers, conns, target), []) if r.get(key) is not None]
        return (min(vals), max(vals)) if vals else (None, None)

    def errors(workers, conns, target):
        return sum(r.get("socket_errors", 0) + r.get("non_2xx", 0) for r in groups.get((workers, conns, target), []))

    def ratio(a, b):
        return None if a is None or b in (None, 0) else a / b

    workers_list = sorted({k[0] for k in groups})
    conns_list = sorted({k[1] for k in groups})
    targets = ["direct", "dlb", "nginx", "haproxy"]
    headers = ["config", "workers", "conns", "req/s (median)", "req/s min-max", "p99 ms (median)",
               "CPU µs/req", "errors", "dlb/nginx req/s", "dlb/HAProxy req/s", "dlb/nginx p99", "dlb/HAProxy p99",
               "dlb/nginx CPU", "dlb/HAProxy CPU"]
    rows = []
    verdicts = []
    for w in workers_list:
        for c in conns_list:
            d_rps, n_rps, h_rps = (med("rps", w, c, t) for t in ("dlb", "nginx", "haproxy"))
            d_p99, n_p99, h_p99 = (med("p99_ms", w, c, t) for t in ("dlb", "nginx", "haproxy"))
            d_cpu, n_cpu, h_cpu = (med("cpu_us_per_req", w, c, t) for t in ("dlb", "nginx", "haproxy"))
            for t in targets:
                if (w, c, t) not in groups:
                    continue
                lo, hi = spread("rps", w, c, t)
                row = [TARGET_LABEL[t], w, c, fmt_rps(med("rps", w, c, t)),
                       "%s-%s" % (fmt_rps(lo), fmt_rps(hi)), fmt_ms(med("p99_ms", w, c, t)),
                       fmt_cpu(med("cpu_us_per_req", w, c, t)), errors(w, c, t)]
                if t == "dlb":
                    row += [fmt_ratio(ratio(d_rps, n_rps)), fmt_ratio(ratio(d_rps, h_rps)),
                            fmt_ratio(ratio(d_p99, n_p99)), fmt_ratio(ratio(d_p99, h_p99)),
                            fmt_ratio(ratio(d_cpu, n_cpu)), fmt_ratio(ratio(d_cpu, h_cpu))]
                else:
                    row += ["", "", "", "", "", ""]
                rows.append(row)
            if d_rps and n_rps and h_rps and d_p99 and n_p99 and h_p99:
                best_rps = max(n_rps, h_rps)
                worst_ok_p99 = min(n_p99, h_p99)
                ok = d_rps >= best_rps and d_p99 <= worst_ok_p99
                cpu_best = min(n_cpu, h_cpu) if n_cpu and h_cpu else None
                verdicts.append((w, c, ok, d_rps / best_rps, d_p99 / worst_ok_p99,
                                 d_cpu / cpu_best if d_cpu and cpu_best else None))

    rss_headers = ["process", "workers", "idle after start", "after the load"]
    rss_rows = []
    for entry in meta.get("rss", []):
        rss_rows.append([TARGET_LABEL.get(entry["target"], entry["target"]), entry["workers"],
                         fmt_kib(entry["idle_kib"]), fmt_kib(entry["after_kib"])])

    print()
    print(text_table(headers, rows))
    print()
    print("Resident memory (VmRSS; nginx = master + workers):")
    print(text_table(rss_headers, rss_rows))
    print()

    md = []
    md.append("Measured %s on %s." % (meta["date"], meta["machine"]))
    md.append("")
    md.append("- Load average before the run: %s (a shared 2-core box: other work may run beside it); "
              "every process of the benchmark ran with %s." % (meta["loadavg"], meta.get("nice", "default priority")))
    md.append("- Builds: dlb-agent %s (%s; %s build, `%s`); %s; %s; %s." % (
        meta.get("dlb_version", "?"), meta.get("revision", "?"), meta.get("build_type", "?"), meta.get("bin_dir", "?"),
        meta.get("nginx_version", "nginx ?"), meta.get("haproxy_version", "HAProxy ?"), meta.get("wrk_version", "wrk ?")))
    md.append("- Backend: %s. %s" % (meta["backend_desc"], meta.get("backend_choice", "")))
    md.append("- Each cell is the median of %d runs of %d s (runs interleaved across proxies so drift hits all "
              "alike); `req/s min-max` shows the spread. Same backends, round robin everywhere, "
              "keep-alive on both sides, one wrk thread per proxy worker." % (meta["reps"], meta["duration"]))
    md.append("- `CPU µs/req`: user+system CPU time of the measured process (nginx: master and workers; "
              "`backend direct`: the backend) during the run, from `/proc/PID/stat`, divided by the requests wrk "
              "completed. Unlike req/s it does not depend on how the two cores were shared between wrk, the "
              "backends, the proxy and anything else running, so it is the steadier measure of a proxy's cost.")
    md.append("")
    md.append(md_table(headers, rows, ["l"] + ["r"] * (len(headers) - 1)))
    md.append("")
    md.append("Resident memory (VmRSS from `/proc/PID/status`; nginx counts its master and workers):")
    md.append("")
    md.append(md_table(rss_headers, rss_rows, ["l", "r", "r", "r"]))
    md.append("")
    md.append("Against the target (dlb-agent at least equal to nginx and HAProxy in req/s, no worse p99, "
              "idle RSS under 16 MiB):")
    md.append("")
    for w, c, ok, rr, pr, cr in verdicts:
        md.append("- %d worker(s), %d connections: %s; req/s %.2f× the better peer's, p99 %.2f× the better peer's%s." % (
            w, c, "met" if ok else "**missed**", rr, pr,
            "" if cr is None else ", CPU per request %.2f× the leaner peer's" % cr))
    idle = [e for e in meta.get("rss", []) if e["target"] == "dlb"]
    if idle:
        worst = max(e["idle_kib"] for e in idle)
        md.append("- idle RSS: %s, %s." % (fmt_kib(worst), "met" if worst < 16 * 1024 else "**missed**"))
    md.append("")
    md.append("Commands (ports were picked free at run time; configs are in the run's `bench/out/` folder):")
    md.append("")
    md.append("```")
    md.extend(meta["commands"])
    md.append("```")
    with open(md_out, "w", encoding="utf-8") as f:
        f.write("\n".join(md) + "\n")


# --------------------------------------------------------------------------- loadgen merge

PCTS = (("p50", 0.50), ("p90", 0.90), ("p99", 0.99), ("p999", 0.999))


def _cdf_points(lat):
    pts = [(0.0, 0.0)]
    for key, q in PCTS:
        v = lat.get(key)
        if v is not None:
            pts.append((float(v), q))
    if lat.get("max") is not None:
        pts.append((float(lat["max"]), 1.0))
    # keep x and F non-decreasing
    clean = [pts[0]]
    for x, q in pts[1:]:
        x = max(x, clean[-1][0])
        clean.append((x, q))
    return clean


def _cdf(points, x):
    if x <= points[0][0]:
        return 0.0
    for (x0, q0), (x1, q1) in zip(points, points[1:]):
        if x <= x1:
            if x1 == x0:
                return q1
            return q0 + (q1 - q0) * (x - x0) / (x1 - x0)
    return 1.0


def mixture_quantile(parts, q):
    """parts: [(weight, points)]; the q-quantile of the weighted mixture of the
    piecewise-linear CDFs through each part's percentile points."""
    total = sum(w for w, _ in parts)
    if total <= 0:
        return None
    lo, hi = 0.0, max(p[-1][0] for _, p in parts)
    for _ in range(100):
        mid = (lo + hi) / 2
        f = sum(w * _cdf(p, mid) for w, p in parts) / total
        if f < q:
            lo = mid
        else:
            hi = mid
    return hi


def _status_errors(r):
    return sum(v for k, v in (r.get("errors") or {}).items() if k.startswith("status_"))


def merge_loadgen(results):
    """Percentiles of the combined clients. The loadgen's histogram holds answered requests
    only; a request that timed out (never answered within timeout_ms of its intended send
    time) is counted here as a latency of exactly timeout_ms, a lower bound, so that a case
    that loses requests cannot show a better tail than one that answers them all."""
    merged = {"clients": len(results), "requests": 0, "responses": 0, "ok": 0, "errors": {}, "replicas": {},
              "rate": 0.0, "duration_s": None, "latency_ms": {}, "censored": {}, "per_client": [],
              "timeout_ms": None}
    parts = []
    for r in results:
        merged["requests"] += r.get("requests", 0)
        merged["responses"] += r.get("responses", 0)
        merged["ok"] += r.get("responses", 0) - _status_errors(r)
        merged["rate"] += r.get("rate", 0.0)
        merged["duration_s"] = r.get("duration_s", merged["duration_s"])
        merged["timeout_ms"] = r.get("timeout_ms", merged["timeout_ms"])
        for k, v in (r.get("errors") or {}).items():
            merged["errors"][k] = merged["errors"].get(k, 0) + v
        for k, v in (r.get("replicas") or {}).items():
            merged["replicas"][k] = merged["replicas"].get(k, 0) + v
        lat = r.get("latency_ms") or {}
        merged["per_client"].append({k: r.get(k) for k in ("requests", "responses", "errors", "replicas", "latency_ms", "rate")})
        if r.get("responses") and lat.get("p50") is not None and lat.get("max") is not None:
            parts.append((r["responses"], _cdf_points(lat)))
    timeouts = merged["errors"].get("timeout", 0)
    if timeouts and merged["timeout_ms"]:
        t = float(merged["timeout_ms"])
        parts.append((timeouts, [(0.0, 0.0), (t - 1e-6, 0.0), (t, 1.0)]))
    for key, q in PCTS:
        v = mixture_quantile(parts, q) if parts else None
        merged["latency_ms"][key] = v
        merged["censored"][key] = bool(timeouts and v is not None and v >= float(merged["timeout_ms"]) - 1e-3)
    maxes = [r["latency_ms"]["max"] for r in results if (r.get("latency_ms") or {}).get("max") is not None]
    merged["latency_ms"]["max"] = max(maxes) if maxes else None
    means = [(r.get("responses", 0), r["latency_ms"]["mean"]) for r in results
             if (r.get("latency_ms") or {}).get("mean") is not None]
    n = sum(w for w, _ in means)
    merged["latency_ms"]["mean_answered"] = sum(w * m for w, m in means) / n if n else None
    return merged


def cmd_merge_loadgen(args):
    out, *inputs = args
    results = []
    for path in inputs:
        with open(path, encoding="utf-8") as f:
            results.append(json.load(f))
    with open(out, "w", encoding="utf-8") as f:
        json.dump(merge_loadgen(results), f, indent=2, sort_keys=True)
        f.write("\n")


# --------------------------------------------------------------------------- algorithm report

def cmd_algo_report(args):
    cases_path, meta_path, md_out, dat_out = args
    with open(cases_path, encoding="utf-8") as f:
        cases = json.load(f)
    with open(meta_path, encoding="utf-8") as f:
        meta = json.load(f)

    rr = next((c for c in cases if c["name"] == "round_robin" and c.get("result")), None)
    rr_p99 = rr["result"]["latency_ms"]["p99"] if rr else None
    rr_cen = bool(rr and rr["result"].get("censored", {}).get("p99"))
    replicas = meta["replicas"]  # [{"name", "kind"}]

    headers = ["algorithm", "p50 ms", "p90 ms", "p99 ms", "p99.9 ms", "p99 / RR", "errors", "answered 2xx / sent"]
    rows, share_rows = [], []
    for c in cases:
        res = c.get("result")
        if not res:
            rows.append([c["label"], "-", "-", "-", "-", "-", c.get("failure", "did not run"), "-"])
            continue
        lat = res["latency_ms"]
        cen = res.get("censored", {})
        nerr = sum(res["errors"].values())
        err_txt = str(nerr) if nerr == 0 else "%d (%s)" % (nerr, ", ".join("%s %d" % kv for kv in sorted(res["errors"].items())))

        def cell(key):
            return ("≥" if cen.get(key) else "") + fmt_ms(lat[key])
        ratio_txt = "-"
        if c is rr:
            ratio_txt = "1.00"
        elif rr_p99:
            if cen.get("p99") and rr_cen:
                ratio_txt = "n/a"  # both lower bounds
            else:
                ratio_txt = ("≥" if cen.get("p99") else "≤" if rr_cen else "") + fmt_ratio(lat["p99"] / rr_p99)
        rows.append([c["label"], cell("p50"), cell("p90"), cell("p99"), cell("p999"), ratio_txt, err_txt,
                     "%d / %d" % (res["ok"], res["requests"])])
        total = sum(res["replicas"].values()) or 1
        share_rows.append([c["label"]] + ["%.1f" % (100.0 * res["replicas"].get(r["name"], 0) / total) for r in replicas])

    share_headers = ["algorithm"] + ["%s (%s)" % (r["name"], r["kind"]) for r in replicas]

    print()
    print(text_table(headers, rows))
    print()
    print("Share of answered requests per replica, %:")
    print(text_table(share_headers, share_rows))
    print()

    # verdict
    verdict = []
    pq = next((c for c in cases if c["name"] == "prequal" and c.get("result")), None)
    if pq and rr_p99:
        p = pq["result"]["latency_ms"]["p99"]
        verdict.append("- Prequal p99 %s ms vs round robin %s%s ms: %s%.2f× — target ≤ 0.50×: %s." % (
            fmt_ms(p), "≥" if rr_cen else "", fmt_ms(rr_p99), "≤" if rr_cen else "", p / rr_p99,
            "met" if p <= 0.5 * rr_p99 else "**missed**"))
        others = [c for c in cases if c["name"] != "prequal" and c.get("result")]
        beaten = [c for c in others if c["result"]["latency_ms"]["p99"] <= p]
        best_other = min(others, key=lambda c: c["result"]["latency_ms"]["p99"]) if others else None
        if best_other:
            bo = best_other["result"]["latency_ms"]["p99"]
            verdict.append("- Lowest p99 among the others: %s at %s ms (Prequal %.2f× of it) — target: Prequal lower than "
                           "every other algorithm and peer: %s%s." % (
                               best_other["label"], fmt_ms(bo), p / bo, "met" if not beaten else "**missed**",
                               "" if not beaten else " (not beaten by Prequal: " + ", ".join(c["label"] for c in beaten) + ")"))
        nerr = sum(pq["result"]["errors"].values())
        verdict.append("- Prequal errors: %d — target 0: %s." % (nerr, "met" if nerr == 0 else "**missed**"))

    md = []
    md.append("Measured %s on %s." % (meta["date"], meta["machine"]))
    md.append("")
    md.append("- Load average before the run: %s (a shared 2-core box)." % meta["loadavg"])
    md.append("- Pool: %s" % meta["pool_desc"])
    md.append("- Capacity: %s" % meta["capacity_desc"])
    md.append("- Load: %s" % meta["load_desc"])
    md.append("- Front ends: %s" % meta["frontend_desc"])
    md.append("- Each algorithm gets a fresh pool (so every one sees the same speed change at the same "
              "moment and inherits no queue), %s s warm-up then %s s measured." % (meta["warmup"], meta["duration"]))
    md.append("- Latency counts from each request's intended send time (open loop); percentiles of the two "
              "clients are combined by interpolating each client's CDF through its p50/p90/p99/p99.9/max points, "
              "weighted by its answered requests (the per-client figures are in `bench/out/`). "
              "Errors are requests not answered 2xx; a request not answered within %s ms (loadgen `--timeout-ms`) "
              "is a `timeout` error and counts in the percentiles as exactly %s ms, a lower bound, marked ≥." % (
                  meta["timeout_ms"], meta["timeout_ms"]))
    md.append("")
    md.append(md_table(headers, rows))
    md.append("")
    md.append("Share of answered requests per replica, %% (`fast` = 1×, `slow` = %s×, `varying` = 1× → %s× → 1×):" % (
        meta["slow_factor"], meta["vary_factor"]))
    md.append("")
    md.append(md_table(share_headers, share_rows))
    md.append("")
    md.append("![p50, p99 and p99.9 per algorithm](bench-algorithms.png)")
    md.append("")
    if verdict:
        md.append("Against the targets:")
        md.append("")
        md.extend(verdict)
        md.append("")
    md.append("Commands (ports picked free at run time; every config is in the run's `bench/out/` folder):")
    md.append("")
    md.append("```")
    md.extend(meta["commands"])
    md.append("```")
    with open(md_out, "w", encoding="utf-8") as f:
        f.write("\n".join(md) + "\n")

    with open(dat_out, "w", encoding="utf-8") as f:
        f.write("# label p50 p99 p999 (ms)\n")
        for c in cases:
            res = c.get("result")
            if not res:
                continue
            lat = res["latency_ms"]
            f.write('"%s" %.4f %.4f %.4f\n' % (c["label"].replace('"', "'"), lat["p50"], lat["p99"], lat["p999"]))
    for v in verdict:
        print(v.replace("**", ""))


# --------------------------------------------------------------------------- matrix report

MATRIX_PEERS = ("nginx_least_conn", "nginx_random_two", "haproxy_leastconn")
MATRIX_ORDER = ("prequal", "round_robin", "least_request") + MATRIX_PEERS


def _nerr(res):
    return sum(res["errors"].values())


def _p99(case):
    # At the loadgen's resolution (it rounds to the microsecond): the same bucket read through
    # two paths came out as 9.338999999999999 and 9.338999999999993 ms, and the verdict called
    # the equal p99s of D3-closed a miss.
    return round(case["result"]["latency_ms"]["p99"], 3)


def matrix_verdict(cell):
    """The issue's "Done means", for one cell: (met, class, [reasons it was missed], notes)."""
    plan = cell["plan"]
    by = {c["name"]: c for c in cell["cases"] if c.get("result")}
    pq, rr = by.get("prequal"), by.get("round_robin")
    peers = [by[n] for n in MATRIX_PEERS if n in by]
    over = plan["load"] == "o130"
    klass = "130%" if over else "≤90%"
    if not pq or not rr or not peers:
        return None, klass, ["incomplete: prequal, round_robin or every peer has no result"], []
    missed = []
    pe, re_ = _nerr(pq["result"]), _nerr(rr["result"])
    best = min(peers, key=_p99)
    fewest = min(_nerr(p["result"]) for p in peers)
    if over:
        if pe > fewest:
            missed.append("%d failed requests, best peer %d" % (pe, fewest))
        s503 = pq["result"]["errors"].get("status_503", 0)
        if s503:
            missed.append("%d answered 503 while replicas accepted connections" % s503)
    else:
        if pe:
            missed.append("%d errors (%s)" % (pe, ", ".join("%s %d" % kv for kv in sorted(pq["result"]["errors"].items()))))
        if _p99(pq) > _p99(best):
            missed.append("p99 %s ms > best peer's %s ms (%s, %.2f×)" % (
                fmt_ms(_p99(pq)), fmt_ms(_p99(best)), best["label"], _p99(pq) / _p99(best)))
        if plan["uneven"] not in ("even", "table5") and _p99(pq) > 0.5 * _p99(rr):
            missed.append("p99 %.2f× round robin's, target ≤ 0.50×" % (_p99(pq) / _p99(rr)))
    if pe > re_:
        missed.append("more errors than round robin (%d vs %d)" % (pe, re_))
    return not missed, klass, missed, []


def _cpu_per_ok(case, key):
    # CPU time over 2xx answers, in µs: what a front end (or the replicas, probes included) spent
    # per answered request. Runs from before this column have no figure.
    ok = case["result"]["ok"]
    if key not in case or not ok:
        return "-"
    return "%.0f" % (case[key] * 1e6 / ok)


_AGENT_PROBES = re.compile(r"worker \d+, pool \S+: (\d+) requests, (\d+) probes sent")


def agent_probes(case_dir):
    """(requests, probes) summed over the dlb-agent logs of one case: the agent prints them per
    worker when it stops. None when no log has the line (older agents, peers)."""
    req = probes = 0
    found = False
    if not os.path.isdir(case_dir):
        return None
    for name in sorted(os.listdir(case_dir)):
        if name.startswith("agent-") and name.endswith(".log"):
            with open(os.path.join(case_dir, name), encoding="utf-8", errors="replace") as f:
                for line in f:
                    m = _AGENT_PROBES.search(line)
                    if m:
                        req += int(m.group(1))
                        probes += int(m.group(2))
                        found = True
    return (req, probes) if found and req else None


def cmd_matrix_report(args):
    cells_path, meta_path, md_out, dat_out = args
    run_dir = os.path.dirname(os.path.abspath(cells_path))
    with open(cells_path, encoding="utf-8") as f:
        cells = json.load(f)
    with open(meta_path, encoding="utf-8") as f:
        meta = json.load(f)
    md = []
    md.append("Measured %s on %s; load average before the run: %s. %s" % (
        meta["date"], meta["machine"], meta["loadavg"], meta["frontend_desc"]))
    md.append("")
    md.extend(meta["method"])
    md.append("")
    # summary
    sh = ["cell", "scenario", "Prequal p99", "best peer p99", "RR p99", "Prequal errors", "best peer errors",
          "RR errors", "Prequal / best peer", "Prequal / RR", "verdict"]
    srows, text_rows = [], []
    for cell in cells:
        plan = cell["plan"]
        by = {c["name"]: c for c in cell["cases"] if c.get("result")}
        ok, klass, missed, _ = matrix_verdict(cell)
        pq, rr = by.get("prequal"), by.get("round_robin")
        peers = [by[n] for n in MATRIX_PEERS if n in by]
        best = min(peers, key=_p99) if peers else None

        def p99txt(c):
            if not c:
                return "-"
            return ("≥" if c["result"]["censored"].get("p99") else "") + fmt_ms(_p99(c))
        verdict = "-" if ok is None else ("met" if ok else "**missed**: " + "; ".join(missed))
        srows.append(["`%s`" % plan["id"], plan["short"], p99txt(pq),
                      "%s (%s)" % (p99txt(best), best["label"]) if best else "-", p99txt(rr),
                      _nerr(pq["result"]) if pq else "-",
                      min(_nerr(p["result"]) for p in peers) if peers else "-",
                      _nerr(rr["result"]) if rr else "-",
                      fmt_ratio(_p99(pq) / _p99(best)) if pq and best and _p99(best) else "-",
                      fmt_ratio(_p99(pq) / _p99(rr)) if pq and rr and _p99(rr) else "-",
                      "%s (%s)" % (verdict, klass)])
        text_rows.append([plan["id"], srows[-1][2], srows[-1][3], srows[-1][4], srows[-1][5], srows[-1][6],
                          srows[-1][7], "-" if ok is None else ("met" if ok else "MISSED")])
    md.append("Verdict per cell against the issue's \"Done means\" (≤90%: Prequal has no errors, a p99 no "
              "higher than the best peer's, and, on an uneven pool, at most half of round robin's; 130%: "
              "no more failed requests than the best peer and no 503 while a replica accepts connections; "
              "everywhere: no more errors than round robin). Closed-loop and burst cells count as ≤90%: "
              "their offered load cannot exceed what the pool serves. \"Best peer\" is the peer with the "
              "lowest p99 in that cell.")
    md.append("")
    md.append(md_table(sh, srows, ["l", "l"] + ["r"] * 8 + ["l"]))
    md.append("")
    nmet = sum(1 for c in cells if matrix_verdict(c)[0])
    md.append("Prequal met the criteria in **%d of %d** cells." % (nmet, len(cells)))
    md.append("")
    md.append("![p50, p99 and errors per cell and front end](bench-matrix.png)")
    md.append("")
    # per cell
    headers = ["front end", "p50 ms", "p99 ms", "errors", "2xx / sent", "p99 / best peer", "p99 / RR",
               "probes per request (agent)", "pings per request (replicas)", "front end CPU µs / 2xx",
               "replicas' CPU µs / 2xx"]
    for cell in cells:
        plan = cell["plan"]
        by = {c["name"]: c for c in cell["cases"] if c.get("result")}
        peers = [by[n] for n in MATRIX_PEERS if n in by]
        best = min(peers, key=_p99) if peers else None
        rr = by.get("round_robin")
        md.append("#### `%s`" % plan["id"])
        md.append("")
        md.append(plan["desc"] + ".")
        md.append("")
        rows = []
        for c in cell["cases"]:
            res = c.get("result")
            if not res:
                rows.append([c["label"], "-", "-", c.get("failure", "did not run"), "-", "-", "-", "-", "-", "-", "-"])
                continue
            lat, cen = res["latency_ms"], res.get("censored", {})
            n = _nerr(res)
            err = "0" if n == 0 else "%d (%s)" % (n, ", ".join("%s %d" % kv for kv in sorted(res["errors"].items())))
            if c.get("failure"):
                err += "; " + c["failure"]
            ap = agent_probes(os.path.join(run_dir, plan["id"], c["name"]))
            apr = "-" if ap is None else "%.2f" % (ap[1] / ap[0])
            ppr = "-"
            if c.get("replica_requests"):
                ppr = "%.2f" % (c["replica_pings"] / c["replica_requests"])
            rows.append([c["label"], ("≥" if cen.get("p50") else "") + fmt_ms(lat["p50"]),
                         ("≥" if cen.get("p99") else "") + fmt_ms(lat["p99"]), err,
                         "%d / %d" % (res["ok"], res["requests"]),
                         fmt_ratio(lat["p99"] / _p99(best)) if best and _p99(best) else "-",
                         fmt_ratio(lat["p99"] / _p99(rr)) if rr and _p99(rr) else "-", apr, ppr,
                         _cpu_per_ok(c, "front_cpu_s"), _cpu_per_ok(c, "replica_cpu_s")])
        md.append(md_table(headers, rows, ["l", "r", "r", "l", "r", "r", "r", "r", "r", "r", "r"]))
        md.append("")
        ok, klass, missed, _ = matrix_verdict(cell)
        md.append("Verdict (%s): %s" % (klass, "-" if ok is None else "met." if ok else "**missed**: " + "; ".join(missed) + "."))
        md.append("")
    append_commands(md, "bench/out/matrix-*/", meta["commands"])
    with open(md_out, "w", encoding="utf-8") as f:
        f.write("\n".join(md) + "\n")

    with open(dat_out, "w", encoding="utf-8") as f:
        f.write("# cell, then p50 (ms) x6, p99 (ms) x6, errors %% of sent x6, in the order %s\n" % " ".join(MATRIX_ORDER))
        for cell in cells:
            by = {c["name"]: c for c in cell["cases"] if c.get("result")}
            vals = []
            for key in ("p50", "p99"):
                for n in MATRIX_ORDER:
                    vals.append("%.4f" % by[n]["result"]["latency_ms"][key] if n in by and by[n]["result"]["latency_ms"][key] else "?")
            for n in MATRIX_ORDER:
                if n in by and by[n]["result"]["requests"]:
                    vals.append("%.4f" % (100.0 * _nerr(by[n]["result"]) / by[n]["result"]["requests"]))
                else:
                    vals.append("?")
            f.write('"%s" %s\n' % (cell["plan"]["id"], " ".join(vals)))
    print()
    print(text_table(["cell", "Prequal p99", "best peer p99", "RR p99", "Prequal err", "best peer err", "RR err", "verdict"],
                     text_rows))
    print("Prequal met the criteria in %d of %d cells." % (nmet, len(cells)))


# --------------------------------------------------------------------------- docs

def cmd_doc_section(args):
    doc, name, md_file, title = args
    begin, end = "<!-- BEGIN %s (written by bench/%s.sh) -->" % (name, name), "<!-- END %s -->" % name
    with open(md_file, encoding="utf-8") as f:
        body = f.read().rstrip("\n")
    text = ""
    if os.path.exists(doc):
        with open(doc, encoding="utf-8") as f:
            text = f.read()
    block = begin + "\n" + body + "\n" + end
    if begin in text and end in text:
        pre, rest = text.split(begin, 1)
        _, post = rest.split(end, 1)
        text = pre + block + post
    else:
        if not text:
            text = "# Benchmarks\n"
        text = text.rstrip("\n") + "\n\n## " + title + "\n\n" + block + "\n"
    tmp = doc + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, doc)


COMMANDS = {
    "fill": cmd_fill,
    "wrk": cmd_wrk,
    "wrk-record": cmd_wrk_record,
    "proxy-report": cmd_proxy_report,
    "merge-loadgen": cmd_merge_loadgen,
    "algo-report": cmd_algo_report,
    "doc-section": cmd_doc_section,
    "matrix-report": cmd_matrix_report,
}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        sys.exit(__doc__)
    COMMANDS[sys.argv[1]](sys.argv[2:])
