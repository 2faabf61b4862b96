#!/usr/bin/env python3
"""Helpers of bench/reload_pause.sh (benchmark tooling, not a test).

  load    paced keep-alive HTTP/1.1 load; records every request with CLOCK_MONOTONIC timestamps
  reload  swaps the mesh file between two variants and POSTs /reload N times; records each window
  report  attributes request latencies to reload windows and prints the verdict

Why a Python client and not wrk: wrk's Lua API has no sub-second clock and no per-request
timestamps, so a latency cannot be tied to the moment a reload happened. This client is a single
thread on one epoll loop (no GIL hand-offs, garbage collector off); each request's latency is
taken on the wire: from just before send() to the moment the whole response has been parsed.
Its own overhead is a few tens of microseconds per event; the baseline run without reloads shows
the noise floor of the whole setup (client, upstream, other load on the machine).
"""
import argparse
import array
import gc
import json
import os
import selectors
import signal
import socket
import sys
import time
import urllib.error
import urllib.request

now_ns = time.monotonic_ns  # CLOCK_MONOTONIC: comparable across the load and reload processes


# ---- load --------------------------------------------------------------------------------------

class Conn:
    __slots__ = ("sock", "req", "buf", "due", "intended", "sent", "busy", "idx")


def cmd_load(a) -> int:
    gc.disable()
    hosts = a.hosts.split(",")
    interval = int(1e9 * a.conns / a.rate) if a.rate > 0 else 0
    sel = selectors.EpollSelector()
    conns = []
    start = now_ns()
    for i in range(a.conns):
        c = Conn()
        c.sock = socket.create_connection(("127.0.0.1", a.port))
        c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        c.sock.setblocking(False)
        host = hosts[i % len(hosts)]
        c.req = f"GET /{i} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: reload-pause\r\n\r\n".encode()
        c.buf = b""
        c.busy = False
        c.idx = i
        # Spread the connections' schedules over one interval.
        c.due = start + (interval * i) // max(1, a.conns)
        sel.register(c.sock, selectors.EVENT_READ, c)
        conns.append(c)
    end = start + int(a.duration * 1e9)
    stop = []  # SIGUSR1: finish now and write the records (bench/reload_pause.sh sends it)
    signal.signal(signal.SIGUSR1, lambda *_: stop.append(1))
    # Parallel arrays: intended send, actual send, done (ns), status, connection.
    r_int, r_sent, r_done = array.array("q"), array.array("q"), array.array("q")
    r_status, r_conn = array.array("h"), array.array("h")
    errors = 0
    while True:
        t = now_ns()
        if t >= end or stop:
            break
        for c in conns:
            if not c.busy and c.due <= t:
                c.intended = c.due
                c.sent = now_ns()
                try:
                    n = c.sock.send(c.req)
                except OSError as e:
                    print(f"load: send failed on connection {c.idx}: {e}", file=sys.stderr)
                    return 1
                if n != len(c.req):
                    print("load: short send", file=sys.stderr)
                    return 1
                c.busy = True
        idle_due = [c.due for c in conns if not c.busy]
        timeout = max(0.0, (min(idle_due) - now_ns()) / 1e9) if idle_due else 0.5
        for key, _ in sel.select(min(timeout, 0.5)):
            c = key.data
            try:
                data = c.sock.recv(65536)
            except BlockingIOError:
                continue
            if not data:
                print(f"load: connection {c.idx} closed by the proxy", file=sys.stderr)
                return 1
            c.buf += data
            while True:
                h = c.buf.find(b"\r\n\r\n")
                if h < 0:
                    break
                head = c.buf[:h].decode("latin-1")
                length = 0
                for line in head.split("\r\n")[1:]:
                    k, _, v = line.partition(":")
                    if k.strip().lower() == "content-length":
                        length = int(v)
                if len(c.buf) < h + 4 + length:
                    break
                done = now_ns()
                status = int(head.split(" ", 2)[1])
                c.buf = c.buf[h + 4 + length:]
                if not c.busy:
                    print("load: response without a request", file=sys.stderr)
                    return 1
                r_int.append(c.intended)
                r_sent.append(c.sent)
                r_done.append(done)
                r_status.append(status)
                r_conn.append(c.idx)
                if status != 200:
                    errors += 1
                c.busy = False
                c.due = c.intended + interval
                if c.due < done - 1_000_000_000:  # more than 1 s behind: do not burst to catch up
                    c.due = done
    with open(a.out, "w", encoding="ascii") as f:
        f.write("intended_ns\tsent_ns\tdone_ns\tstatus\tconn\n")
        for i in range(len(r_done)):
            f.write(f"{r_int[i]}\t{r_sent[i]}\t{r_done[i]}\t{r_status[i]}\t{r_conn[i]}\n")
    print(f"load: {len(r_done)} requests, {errors} not 200", file=sys.stderr)
    return 0


# ---- reload ------------------------------------------------------------------------------------

def cmd_reload(a) -> int:
    variants = a.variants
    url = f"http://127.0.0.1:{a.admin}/reload"
    rows = []
    tmp = a.mesh + ".tmp"

    def prepare(i):
        # Writing ~9 MB costs this CPU (shared with the load client) milliseconds: done right
        # after the previous reload, a whole gap before the window it belongs to.
        src = variants[(i + 1) % len(variants)]  # the proxy started on variants[0]
        with open(src, "rb") as fi, open(tmp, "wb") as fo:
            fo.write(fi.read())

    prepare(0)
    time.sleep(a.gap)
    for i in range(a.count):
        os.replace(tmp, a.mesh)  # rename into place, as Kubernetes and editors do
        t0 = now_ns()
        try:
            with urllib.request.urlopen(urllib.request.Request(url, method="POST"), timeout=600) as r:
                status, body = r.status, r.read().decode().strip()
        except urllib.error.HTTPError as e:
            status, body = e.code, e.read().decode().strip()
        t1 = now_ns()
        rows.append((t0, t1, status, body.replace("\t", " ").replace("\n", " | ")))
        print(f"reload {i + 1}/{a.count}: {status} {body} ({(t1 - t0) / 1e6:.0f} ms)", file=sys.stderr)
        if i + 1 < a.count:
            prepare(i + 1)
        time.sleep(a.gap)
    with open(a.out, "w", encoding="utf-8") as f:
        f.write("start_ns\tend_ns\tstatus\tbody\n")
        for r in rows:
            f.write("\t".join(str(x) for x in r) + "\n")
    return 0


# ---- report ------------------------------------------------------------------------------------

def pct(sorted_vals, p):
    if not sorted_vals:
        return float("nan")
    k = min(len(sorted_vals) - 1, max(0, int(round(p / 100.0 * len(sorted_vals) + 0.5)) - 1))
    return sorted_vals[k]


def summary(lat_ms):
    s = sorted(lat_ms)
    return {"n": len(s), "p50": pct(s, 50), "p99": pct(s, 99), "p99.9": pct(s, 99.9),
            "max": s[-1] if s else float("nan"), "over5": sum(1 for x in s if x > 5.0)}


def cmd_report(a) -> int:
    reqs = []
    with open(a.load, encoding="ascii") as f:
        next(f)
        for line in f:
            i, s, d, st, c = line.split("\t")
            reqs.append((int(i), int(s), int(d), int(st)))
    wins = []
    with open(a.windows, encoding="utf-8") as f:
        next(f)
        for line in f:
            t0, t1, st, body = line.rstrip("\n").split("\t", 3)
            wins.append((int(t0), int(t1), int(st), body))
    if not reqs or not wins:
        print("report: no requests or no reloads recorded", file=sys.stderr)
        return 1
    tail = int(a.tail_ms * 1e6)
    first = wins[0][0]
    t_start = reqs[0][1]
    warm = t_start + int(a.warmup * 1e9)
    base, during, between = [], [], []
    bad = sum(1 for r in reqs if r[3] != 200)
    worst = None
    for _, sent, done, _ in reqs:
        lat = (done - sent) / 1e6
        if done < first - 500_000_000:
            if sent >= warm:
                base.append(lat)
            continue
        hit = None
        for k, (t0, t1, _, _) in enumerate(wins):
            if sent <= t1 + tail and done >= t0:
                hit = k
                break
        if hit is None:
            between.append(lat)
        else:
            during.append(lat)
            if worst is None or lat > worst[0]:
                worst = (lat, hit, (sent - wins[hit][0]) / 1e6)
    applied = sum(1 for w in wins if w[2] == 200 and w[3].startswith("published generation"))
    dur_ms = sorted((w[1] - w[0]) / 1e6 for w in wins)
    sb, sd, sn = summary(base), summary(during), summary(between)
    goal = a.goal_ms
    verdict = "HOLDS" if during and sd["max"] <= goal and applied == len(wins) else "FAILS"
    lines = []
    lines.append(f"reloads: {len(wins)} POST /reload, {applied} answered 'published generation N'")
    for k, w in enumerate(wins):
        lines.append(f"  reload {k + 1}: HTTP {w[2]}, {(w[1] - w[0]) / 1e6:.0f} ms: {w[3]}")
    lines.append(f"POST /reload duration (hash + load + compile + publish): median {pct(dur_ms, 50):.0f} ms, "
                 f"max {dur_ms[-1]:.0f} ms")
    lines.append(f"requests: {len(reqs)}, not 200: {bad}; reload window = POST start .. answer + {a.tail_ms:.0f} ms")
    lines.append("")
    lines.append("| phase | requests | p50 ms | p99 ms | p99.9 ms | max ms | > 5 ms |")
    lines.append("|---|---:|---:|---:|---:|---:|---:|")
    for name, s in (("baseline (no reload)", sb), ("during reload windows", sd), ("between reloads", sn)):
        lines.append(f"| {name} | {s['n']} | {s['p50']:.3f} | {s['p99']:.3f} | {s['p99.9']:.3f} | "
                     f"{s['max']:.3f} | {s['over5']} |")
    lines.append("")
    if worst:
        lines.append(f"worst request in a reload window: {worst[0]:.3f} ms, reload {worst[1] + 1}, "
                     f"sent {worst[2]:.0f} ms after the POST started")
    lines.append(f"goal: worst request latency during reloads <= {goal:g} ms: {verdict}")
    text = "\n".join(lines)
    print(text)
    if a.json:
        with open(a.json, "w", encoding="utf-8") as f:
            json.dump({"baseline": sb, "during": sd, "between": sn, "reload_ms": dur_ms,
                       "applied": applied, "reloads": len(wins), "verdict": verdict}, f, indent=1)
    return 0 if verdict == "HOLDS" else 3


def main() -> int:
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    l = sub.add_parser("load")
    l.add_argument("--port", type=int, required=True)
    l.add_argument("--hosts", required=True, help="comma-separated Host headers, one per connection in turn")
    l.add_argument("--conns", type=int, default=4)
    l.add_argument("--rate", type=float, default=2000, help="requests/s over all connections; 0 = closed loop")
    l.add_argument("--duration", type=float, default=3600, help="seconds (or until SIGUSR1)")
    l.add_argument("--out", required=True)
    r = sub.add_parser("reload")
    r.add_argument("--admin", type=int, required=True)
    r.add_argument("--mesh", required=True, help="the file outrigger was started with")
    r.add_argument("--variants", nargs=2, required=True)
    r.add_argument("--count", type=int, default=10)
    r.add_argument("--gap", type=float, default=1.0, help="seconds of quiet before, between and after reloads")
    r.add_argument("--out", required=True)
    s = sub.add_parser("report")
    s.add_argument("--load", required=True)
    s.add_argument("--windows", required=True)
    s.add_argument("--tail-ms", type=float, default=100.0)
    s.add_argument("--warmup", type=float, default=1.0)
    s.add_argument("--goal-ms", type=float, default=5.0)
    s.add_argument("--json")
    a = p.parse_args()
    return {"load": cmd_load, "reload": cmd_reload, "report": cmd_report}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
