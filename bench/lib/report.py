#!/usr/bin/env python3
"""Turns the raw TSV files of one bench/compare.sh run into report.md and the gnuplot data files.

usage: report.py OUTDIR "PROXIES" "CONNS"
Reads runs.tsv, rss_idle.tsv, rss_after.tsv, split.tsv, long.tsv, long-wrk.tsv and meta.tsv.
"""
import csv
import os
import statistics
import sys

out, proxies, conns = sys.argv[1], sys.argv[2].split(), [int(c) for c in sys.argv[3].split()]
names = ["direct"] + proxies
LABEL = {"direct": "direct (ceiling)", "outrigger": "outrigger", "nginx": "nginx", "haproxy": "HAProxy"}


def tsv(name):
    path = os.path.join(out, name)
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [row for row in csv.reader(f, delimiter="\t") if row]


def num(x):
    try:
        return float(x)
    except (TypeError, ValueError):
        return None


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def fmt(x, digits=0, unit=""):
    if x is None:
        return "–"
    if digits == 0:
        return f"{x:,.0f}{unit}"
    return f"{x:.{digits}f}{unit}"


def ratio(a, b):
    return f"{a / b:.2f}" if a is not None and b else "–"


meta = {row[0]: row[1] for row in tsv("meta.tsv") if len(row) > 1}
dead = {row[1] for row in tsv("meta.tsv") if row[0] == "dead"}
rows = tsv("runs.tsv")
header, rows = (rows[0], rows[1:]) if rows else ([], [])
runs = [dict(zip(header, r)) for r in rows]
rss_idle = {r[0]: num(r[1]) for r in tsv("rss_idle.tsv")}
rss_after = {r[0]: num(r[1]) for r in tsv("rss_after.tsv")}

# cell[(proxy, conns)] -> aggregated figures over the repetitions
cell = {}
for p in names:
    for c in conns:
        rs = [r for r in runs if r["proxy"] == p and int(r["conns"]) == c]
        if not rs:
            continue
        rps = [num(r["rps"]) for r in rs]
        cpu = [num(r["cpu_share"]) for r in rs]
        per_core = [x / s for x, s in zip(rps, cpu) if x is not None and s]
        errs = {k: sum(int(num(r[k]) or 0) for r in rs)
                for k in ("non2xx", "sock_connect", "sock_read", "sock_write", "sock_timeout")}
        rss_load = [num(r["rss_load_kb"]) for r in rs]
        good = [x for x in rps if x]
        cell[(p, c)] = {
            "n": len(rs),
            "rps": med(rps),
            "spread": (max(good) - min(good)) / med(good) if len(good) > 1 else None,
            "p50": med([num(r["p50_ms"]) for r in rs]),
            "p99": med([num(r["p99_ms"]) for r in rs]),
            "cpu": med(cpu),
            "per_core": med(per_core),
            "rss_load": max([x for x in rss_load if x is not None], default=None),
            "errs": errs,
            "err_total": sum(errs.values()),
            "requests": sum(int(num(r["requests"]) or 0) for r in rs),
            "died": any(r["alive"] == "0" for r in rs),
            "wrk_failed": sum(r.get("wrk_ok") == "0" for r in rs),
        }

md = []
w = md.append
w(f"# outrigger vs nginx vs HAProxy — {meta.get('date', '?')}\n")
w(f"- host: {meta.get('host', '?')}; load average at start {meta.get('loadavg_start', '?')}, "
  f"at end {meta.get('loadavg_end', '?')}")
w(f"- outrigger: {meta.get('outrigger', '?')}; nginx {meta.get('nginx', '?')}; "
  f"HAProxy {meta.get('haproxy', '?')}; wrk {meta.get('wrk', '?')}")
w(f"- {meta.get('settings', '')}")
w("- each proxy: one worker pinned to PROXY_CPU; wrk -t1 and the two nginx upstreams pinned to LOAD_CPU; "
  "medians over the repetitions (interleaved: for rep, for conns, for proxy)")
w("- compare only within one report; differences under ~10% are noise on this kind of host "
  "(see bench/README.md)\n")

try:
    load1 = float(meta.get("loadavg_start", "0").split()[0])
except ValueError:
    load1 = 0.0
if load1 > 1.0:
    w(f"**BUSY MACHINE:** 1-minute load average {load1:.2f} before the run started (on "
      f"{os.cpu_count()} CPUs): other work shares the pinned CPUs, so absolute figures and \"proxy CPU\" "
      "are depressed and noisy. Use this report to check the harness, not to quote numbers.\n")

flagged = [(p, c) for (p, c), v in cell.items() if v["err_total"] or v["died"] or v["wrk_failed"]]
if flagged or dead:
    w("**FLAGGED:** " + "; ".join(
        f"{LABEL[p]} @ {c} conns: {cell[(p, c)]['err_total']} errors"
        + (f", {cell[(p, c)]['wrk_failed']} run(s) without a wrk result" if cell[(p, c)]["wrk_failed"] else "")
        + (" (process DIED)" if cell[(p, c)]["died"] else "") for p, c in flagged)
      + (f"; dead: {', '.join(sorted(dead))}" if dead else "") + "\n")

if not runs:
    conns = []
else:
    w("## Throughput, latency, CPU and memory\n")
    w("| conns | proxy | req/s | spread | p50 ms | p99 ms | proxy CPU | req/s per proxy core "
      "| RSS idle MB | RSS load MB | errors | ×direct |")
    w("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for c in conns:
    d = cell.get(("direct", c), {}).get("rps")
    for p in names:
        v = cell.get((p, c))
        if not v:
            w(f"| {c} | {LABEL[p]} | – | – | – | – | – | – | – | – | not run | – |")
            continue
        e = v["errs"]
        if v["err_total"]:
            err = (f"**{v['err_total']}** ⚠ (non-2xx {e['non2xx']}, connect {e['sock_connect']}, "
                   f"read {e['sock_read']}, write {e['sock_write']}, timeout {e['sock_timeout']})")
        else:
            err = "0"
        if v["wrk_failed"]:
            err += f" **{v['wrk_failed']} run(s) failed**"
        if v["died"]:
            err += " **DIED**"
        isdirect = p == "direct"
        w("| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |".format(
            c, LABEL[p], fmt(v["rps"]),
            fmt(v["spread"] * 100, 0, "%") if v["spread"] is not None else "–",
            fmt(v["p50"], 2), fmt(v["p99"], 2),
            "–" if isdirect else fmt(v["cpu"] * 100 if v["cpu"] is not None else None, 0, "%"),
            "–" if isdirect else fmt(v["per_core"]),
            "–" if isdirect else fmt(rss_idle.get(p) / 1024 if rss_idle.get(p) else None, 1),
            "–" if isdirect else fmt(v["rss_load"] / 1024 if v["rss_load"] else None, 1),
            err, "1.00" if isdirect else ratio(v["rps"], d)))
if runs:
    w("")

others = [p for p in ("nginx", "haproxy") if p in proxies]
if "outrigger" in proxies and others and runs:
    w("## Ratios, outrigger ÷ peer (req/s and per-core: >1 = outrigger faster; p99: >1 = outrigger slower)\n")
    cols = []
    for p in others:
        cols += [f"req/s ÷ {LABEL[p]}", f"per-core ÷ {LABEL[p]}", f"p99 ÷ {LABEL[p]}"]
    w("| conns | " + " | ".join(cols) + " |")
    w("|---:|" + "---:|" * len(cols))
    for c in conns:
        o = cell.get(("outrigger", c), {})
        vals = []
        for p in others:
            q = cell.get((p, c), {})
            vals += [ratio(o.get("rps"), q.get("rps")), ratio(o.get("per_core"), q.get("per_core")),
                     ratio(o.get("p99"), q.get("p99"))]
        w(f"| {c} | " + " | ".join(vals) + " |")
    w("")

split = tsv("split.tsv")
if split:
    w("## 90/10 split check (separate run: one curl keep-alive connection, not measured)\n")
    w("| proxy | requests | v1 | v2 | v2 share | verdict |")
    w("|---|---:|---:|---:|---:|---|")
    for p, n, v1, v2 in split:
        n, v1, v2 = int(n), int(v1), int(v2)
        share = v2 / n if n else 0
        # 10% ± 3 points is about ±3 sigma of a binomial(1000, 0.1) for a random picker.
        ok = v1 + v2 == n and abs(share - 0.10) <= 0.03
        w(f"| {LABEL[p]} | {n} | {v1} | {v2} | {share * 100:.1f}% | "
          f"{'ok' if ok else '**FAIL** (want 10% ± 3, all answered)'} |")
    w("")

if rss_after and runs:
    w("## RSS after all measured runs (idle again)\n")
    w("| proxy | RSS idle at start MB | RSS idle after MB |")
    w("|---|---:|---:|")
    for p in proxies:
        a, b = rss_idle.get(p), rss_after.get(p)
        w(f"| {LABEL[p]} | {fmt(a / 1024 if a else None, 1)} | {fmt(b / 1024 if b else None, 1)} |")
    w("")

long_rows = tsv("long.tsv")
if long_rows:
    lw = tsv("long-wrk.tsv")
    w("## LONG: outrigger RSS under sustained load\n")
    if lw:
        r = lw[0]
        errs = sum(int(num(x) or 0) for x in r[4:9])
        w(f"wrk: {fmt(num(r[0]))} req/s, p50 {r[1]} ms, p99 {r[2]} ms, {r[3]} requests, "
          f"errors {errs}{' ⚠' if errs else ''}\n")
    w("| t (s) | VmRSS MB |")
    w("|---:|---:|")
    for t, kb in long_rows:
        w(f"| {t} | {fmt(num(kb) / 1024, 1)} |")
    vals = [(t, num(kb)) for t, kb in long_rows if num(kb)]
    if len(vals) > 2:
        line = f"\ngrowth from t=0 (idle) to the last sample: {fmt((vals[-1][1] - vals[0][1]) / 1024, 1)} MB"
        warm = [kb for t, kb in vals if t.isdigit() and int(t) >= 60]
        if len(warm) > 1:
            line += f"; from t≈60 s (warm) to the last sample: {fmt((vals[-1][1] - warm[0]) / 1024, 1)} MB"
        w(line)
    w("")

for p in proxies:
    path = os.path.join(out, f"{p}-crash.txt")
    if os.path.exists(path):
        w(f"## {LABEL[p]} died — last lines of its stderr\n\n```")
        w(open(path).read().rstrip())
        w("```\n")

w("## Columns\n")
w("- **req/s**: wrk's Requests/sec, median over repetitions. **spread**: (max − min) / median of req/s "
  "over the repetitions. **p50/p99 ms**: wrk --latency percentiles, median over repetitions.")
w("- **proxy CPU**: (utime + stime) of the proxy process (nginx: its worker) over the wall time of the run; "
  "100% = one full core. **req/s per proxy core** = req/s ÷ proxy CPU, median over repetitions.")
w("- **RSS idle**: VmRSS after start-up, before any request (nginx: master + worker). **RSS load**: highest "
  "VmRSS sampled once a second during the measured runs.")
w("- **errors**: wrk's non-2xx/3xx responses plus socket errors (connect, read, write, timeout), summed over "
  "repetitions; any non-zero cell is flagged. **×direct**: req/s ÷ direct-to-upstream req/s (the ceiling).")
if runs:
    w("\n![p50/p99 latency](latency.png)")

with open(os.path.join(out, "report.md"), "w") as f:
    f.write("\n".join(md) + "\n")

# gnuplot data: one row per connection count, one column per proxy; NA where missing.
for q in ("p50", "p99"):
    with open(os.path.join(out, f"latency_{q}.dat"), "w") as f:
        f.write("conns " + " ".join(LABEL[p].split()[0] for p in names) + "\n")
        for c in conns:
            f.write(f"{c} " + " ".join(fmt(cell[(p, c)][q], 3) if (p, c) in cell and cell[(p, c)][q] is not None
                                       else "NA" for p in names) + "\n")
