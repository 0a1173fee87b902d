#!/usr/bin/python3
"""Turns bench/run.sh's raw measurements into bench/results/latest.md.

Input: one JSON object per measurement (run.sh's results.jsonl): the broker's CPU seconds and
memory around the run, and under "gen" the line `hermod-cli bench --json` printed. Google
Benchmark JSON files of the micro-benchmarks (--micro, repeatable).
Every figure is the median over the repetitions; every ratio is Hermod's median over
Mosquitto's median from the same run. Delivery problems are summed over repetitions, never
dropped. `--one LINE` prints a one-line summary of a single measurement (run.sh's progress log).
"""
import argparse
import datetime
import json
import statistics
import sys

SCENARIO_TITLES = {
    "pairs_q0": "pairs, QoS 0 (16 pairs)",
    "pairs_q1": "pairs, QoS 1 (16 pairs)",
    "fanout": "fanout, QoS 0 (1 → 100 subscribers)",
    "fanin": "fanin, QoS 0 (100 publishers → 1 wildcard subscriber)",
}
# Issue 6: messages per broker CPU-second, Hermod over Mosquitto, one worker on one core.
CPU_TARGETS = {"pairs_q0": 25, "pairs_q1": 35, "fanout": 40, "fanin": 25}
PROBLEMS = ("lost", "duplicated", "reordered", "misrouted", "corrupt", "wrong_qos", "unacked")


def per_cpu_second(r):
    cpu = r.get("broker_cpu_s") or 0
    return r["gen"].get("delivered", 0) / cpu if cpu > 0 else 0.0


def cpu_pct(r):
    return 100.0 * r["broker_cpu_s"] / r["wall_s"] if r.get("wall_s") else 0.0


def growth_per_conn(r):
    g = r["gen"]
    if not r.get("rss_hold_kb") or not g.get("connected"):
        return None
    return (r["rss_hold_kb"] - r["rss_before_kb"]) * 1024.0 / g["connected"]


def kernel_per_conn(r):
    """Machine-wide slab growth per connection while held: both ends of each loopback connection
    (the generator's socket and the broker's), plus whatever else the machine did meanwhile."""
    g = r["gen"]
    if not r.get("slab_hold_kb") or not r.get("slab_before_kb") or not g.get("connected"):
        return None
    return (r["slab_hold_kb"] - r["slab_before_kb"]) * 1024.0 / g["connected"]


def problems(r):
    g = r["gen"]
    return {k: g.get(k, 0) for k in PROBLEMS}


def one_line(r):
    g = r["gen"]
    if r["key"] == "recovery":
        return (f"listening after {r['listen_s']:.2f} s (recovered in {r['recovered_ms']} ms), RSS {r['rss_kb']} KiB, "
                f"one session drained {r['received']} of {r['expected']}, stopped in {r['stop_s']:.2f} s")
    if g.get("error") and not g.get("sent") and not g.get("connected"):
        return f"ERROR {g['error']}"
    if g.get("scenario") == "handshakes":
        return (f"{g['delivered']} handshakes, {g['msgs_per_s']:.0f}/s, broker CPU {cpu_pct(r):.0f} %, "
                f"{per_cpu_second(r):.0f} per broker CPU-s")
    if g.get("scenario") == "conns":
        per = growth_per_conn(r)
        per_s = f"{per:.0f} B/conn" if per is not None else "n/a"
        return (f"{g['connected']} connected ({g['failed']} failed) at {g['connects_per_s']:.0f}/s, "
                f"RSS {r['rss_before_kb']} → {r.get('rss_hold_kb')} KiB held ({per_s})")
    bad = {k: v for k, v in problems(r).items() if v}
    return (f"{g['msgs_per_s']:.0f} msg/s, broker CPU {cpu_pct(r):.0f} %, {per_cpu_second(r):.0f} msg/CPU-s, "
            f"p99 {g['lat_p99_us']:.0f} µs"
            + (f", ack p99 {g['ack_p99_us']:.0f} µs" if g.get("acks") else "")
            + f", generator CPU {g['gen_cpu_pct']:.0f} %"
            + (f", PROBLEMS {bad}" if bad else "") + (f", error: {g['error']}" if g.get("error") else ""))


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt_num(v, digits=0):
    if v is None:
        return "n/a"
    return f"{v:,.{digits}f}".replace(",", " ")


def fmt_ratio(v):
    return "n/a" if v is None else f"{v:.2f}×"


def ratio(a, b):
    return a / b if a is not None and b else None


class Runs:
    def __init__(self, records):
        self.records = records

    def of(self, key, broker):
        return [r for r in self.records if r["key"] == key and r["broker"] == broker
                and ("delivered" in r["gen"] or "connected" in r["gen"])]

    def med(self, key, broker, f):
        return median([f(r) for r in self.of(key, broker)])

    def problem_sum(self, key, broker):
        total = {k: 0 for k in PROBLEMS}
        for r in self.of(key, broker):
            for k, v in problems(r).items():
                total[k] += v
        return total

    def recovery(self):
        return [r for r in self.records if r["key"] == "recovery"]

    def errors(self):
        out = []
        for r in self.recovery():
            if r.get("rc") or r.get("received") != r.get("expected"):
                out.append(f"recovery rep {r['rep']}: listening {not r.get('rc')}, one session drained "
                           f"{r.get('received')} of {r.get('expected')} messages")
        for r in self.records:
            if r["key"] == "recovery":
                continue
            g = r["gen"]
            if g.get("error") or r.get("rc") not in (0, None):
                out.append(f"{r['key']} {r['broker']} rep {r['rep']}: exit {r.get('rc')}, {g.get('error') or 'no error text'}")
        return out


def throughput_section(runs, lines):
    lines.append("## Throughput: one broker core (broker on core 0, load generator on core 1)")
    lines.append("")
    lines.append("64-byte payloads, window 256 messages per publisher. *msg/s*: distinct deliveries per second; "
                 "*msg per CPU-s*: deliveries divided by the broker's CPU seconds (user + system, from "
                 "`/proc/PID/stat`) over the whole run. Medians; ratios are Hermod ÷ Mosquitto.")
    lines.append("")
    lines.append("| scenario | broker | msg/s | broker CPU | msg per broker CPU-s | RSS before → after (peak), KiB "
                 "| p50 / p99 latency | generator CPU | lost / dup / reordered |")
    lines.append("|---|---|---:|---:|---:|---|---|---:|---|")
    for key, title in SCENARIO_TITLES.items():
        for broker, name in (("hermod", "Hermod"), ("mosquitto", "Mosquitto")):
            rs = runs.of(key, broker)
            if not rs:
                continue
            p = runs.problem_sum(key, broker)
            lines.append(
                f"| {title} | {name} | {fmt_num(runs.med(key, broker, lambda r: r['gen']['msgs_per_s']))} "
                f"| {fmt_num(runs.med(key, broker, cpu_pct))} % "
                f"| {fmt_num(runs.med(key, broker, per_cpu_second))} "
                f"| {fmt_num(runs.med(key, broker, lambda r: r['rss_before_kb']))} → "
                f"{fmt_num(runs.med(key, broker, lambda r: r['rss_after_kb']))} "
                f"({fmt_num(runs.med(key, broker, lambda r: r['hwm_kb']))}) "
                f"| {fmt_num(runs.med(key, broker, lambda r: r['gen']['lat_p50_us']))} / "
                f"{fmt_num(runs.med(key, broker, lambda r: r['gen']['lat_p99_us']))} µs "
                f"| {fmt_num(runs.med(key, broker, lambda r: r['gen']['gen_cpu_pct']))} % "
                f"| {p['lost']} / {p['duplicated']} / {p['reordered']} |")
        h = runs.med(key, "hermod", lambda r: r["gen"]["msgs_per_s"])
        m = runs.med(key, "mosquitto", lambda r: r["gen"]["msgs_per_s"])
        hc = runs.med(key, "hermod", per_cpu_second)
        mc = runs.med(key, "mosquitto", per_cpu_second)
        lines.append(f"| {title} | **Hermod ÷ Mosquitto** | **{fmt_ratio(ratio(h, m))}** | "
                     f"| **{fmt_ratio(ratio(hc, mc))}** | | | | |")
    lines.append("")


def latency_section(runs, lines, rt):
    if not runs.of("latency", "hermod"):
        return
    lines.append("## Latency: 10 000 msg/s, QoS 0, one pair, broker on one core")
    lines.append("")
    lines.append("Open loop: each message is sent at its due time whatever the broker does; the latency is "
                 "measured from the send time written in the payload to its arrival. Medians of the per-run "
                 "percentiles. " + ("Broker and generator ran under SCHED_FIFO (`chrt -f 10`) so that other "
                                    "processes on the machine do not hold their cores; `BENCH_RT=0` turns this off."
                                    if rt == "1" else "Normal scheduling priority: other processes on the machine "
                                    "add their time slices to the tail."))
    lines.append("")
    lines.append("| broker | msg/s | p50 µs | p99 µs | p99.9 µs | max µs | broker CPU |")
    lines.append("|---|---:|---:|---:|---:|---:|---:|")
    for broker, name in (("hermod", "Hermod"), ("mosquitto", "Mosquitto")):
        g = lambda f: runs.med("latency", broker, f)  # noqa: E731
        lines.append(f"| {name} | {fmt_num(g(lambda r: r['gen']['msgs_per_s']))} "
                     f"| {fmt_num(g(lambda r: r['gen']['lat_p50_us']), 1)} "
                     f"| {fmt_num(g(lambda r: r['gen']['lat_p99_us']), 1)} "
                     f"| {fmt_num(g(lambda r: r['gen']['lat_p999_us']), 1)} "
                     f"| {fmt_num(g(lambda r: r['gen']['lat_max_us']), 1)} | {fmt_num(g(cpu_pct))} % |")
    lines.append("")


DURABLE_MODES = (("hermod-memory", "Hermod, `memory` (no store)"), ("hermod-wal", "Hermod, `wal`"),
                 ("hermod-fsync", "Hermod, `fsync` (default)"),
                 ("hermod-fsync-written", "Hermod, `fsync`, every message written (`ack_on_delivery_ms = 0`)"))


def durability_section(runs, lines):
    if not runs.of("durable_tput", "hermod-fsync"):
        return
    lines.append("## Durability: QoS 1 to persistent subscribers, by store mode (broker on core 0)")
    lines.append("")
    lines.append("16 publishers → 16 subscribers with persistent sessions (clean session 0), QoS 1, 64-byte "
                 "payloads, one worker. With a store, a message is acknowledged to its publisher once every "
                 "persistent recipient has it on disk or has acknowledged it: a delivery the subscriber "
                 "acknowledges within `store.ack_on_delivery_ms` (10 ms) is never written, one it does not is "
                 "written (body and queue entry; in `fsync` mode the write-ahead log synced) before the "
                 "PUBACK. The *every message written* row turns that off, so each message is stored before its "
                 "PUBACK and deleted after the subscriber's: the group commit alone. *Throughput*: as fast as a window of 256 per publisher allows. *PUBACK latency*: at a fixed "
                 "2 000 msg/s over the 16 publishers, from sending the PUBLISH to receiving its PUBACK (SCHED_FIFO "
                 "when allowed). The store is on the machine's disk (`build/bench-store`), not tmpfs. Mosquitto "
                 "(no persistence: it acknowledges from memory) is the reference.")
    lines.append("")
    lines.append("| broker, mode | msg/s | broker CPU | msg per broker CPU-s | ÷ memory mode | PUBACK p50 / p99 / p99.9 µs "
                 "at 2 000 msg/s | added p99 vs memory | lost / dup / reordered |")
    lines.append("|---|---:|---:|---:|---:|---|---:|---|")
    mem_rate = runs.med("durable_tput", "hermod-memory", lambda r: r["gen"]["msgs_per_s"])
    mem_p99 = runs.med("durable_ack", "hermod-memory", lambda r: r["gen"]["ack_p99_us"])
    for broker, name in DURABLE_MODES + (("mosquitto", "Mosquitto (no persistence)"),):
        rate = runs.med("durable_tput", broker, lambda r: r["gen"]["msgs_per_s"])
        p = runs.problem_sum("durable_tput", broker)
        acks = runs.of("durable_ack", broker)
        a = lambda f: runs.med("durable_ack", broker, f)  # noqa: E731
        p99 = a(lambda r: r["gen"]["ack_p99_us"])
        ack_cell = (f"{fmt_num(a(lambda r: r['gen']['ack_p50_us']))} / {fmt_num(p99)} / "
                    f"{fmt_num(a(lambda r: r['gen']['ack_p999_us']))}" if acks else "")
        added = f"{p99 - mem_p99:+.0f} µs" if acks and mem_p99 is not None and broker != "hermod-memory" else ""
        lines.append(f"| {name} | {fmt_num(rate)} | {fmt_num(runs.med('durable_tput', broker, cpu_pct))} % "
                     f"| {fmt_num(runs.med('durable_tput', broker, per_cpu_second))} "
                     f"| {fmt_ratio(ratio(rate, mem_rate))} | {ack_cell} | {added} "
                     f"| {p['lost']} / {p['duplicated']} / {p['reordered']} |")
    lines.append("")
    rec = runs.recovery()
    if rec:
        fill = rec[0]["fill"]
        lines.append("## Recovery at start-up")
        lines.append("")
        n = lambda v: f"{v:,}".replace(",", " ")  # noqa: E731
        lines.append(f"A store with {n(fill['sessions'])} offline persistent sessions and {n(fill['queued'])} queued "
                     f"QoS 1 messages ({n(fill['bodies'])} bodies, each shared by 100 sessions; "
                     f"{rec[0]['store_kb'] / 1024:.0f} MiB on disk), written in {fill['fill_s']:.1f} s by "
                     "`hermod_store_fill` with the broker's own record encoders. Each start: 2 workers, unpinned; "
                     "*recovered*: the broker's own measure of reading the store back; *listening*: from exec to "
                     "accepting connections (includes opening RocksDB, and on the first start replaying the "
                     "write-ahead log the filler left); then one session reconnects and must receive exactly its "
                     "messages, and the broker stops on SIGTERM.")
        lines.append("")
        lines.append("| start | recovered in | listening after | RSS after recovery | one session drained | stop |")
        lines.append("|---:|---:|---:|---:|---|---:|")
        for r in rec:
            lines.append(f"| {r['rep']} | {fmt_num(r['recovered_ms'])} ms | {r['listen_s']:.2f} s "
                         f"| {r['rss_kb'] / 1024:.0f} MiB | {r['received']} of {r['expected']} | {r['stop_s']:.2f} s |")
        lines.append("")


def durability_targets(runs):
    rows = []
    mem = runs.med("durable_tput", "hermod-memory", lambda r: r["gen"]["msgs_per_s"])
    fs = runs.med("durable_tput", "hermod-fsync", lambda r: r["gen"]["msgs_per_s"])
    if mem and fs:
        rows.append(("durability: `fsync` throughput ≥ 50 % of `memory` (16 publishers, QoS 1, persistent "
                     "subscribers)", f"{fs:.0f} vs {mem:.0f} msg/s ({100 * fs / mem:.0f} %)", fs >= 0.5 * mem))
    fw = runs.med("durable_tput", "hermod-fsync-written", lambda r: r["gen"]["msgs_per_s"])
    if mem and fw:
        rows.append(("the same with every message written before its PUBACK (`ack_on_delivery_ms = 0`)",
                     f"{fw:.0f} vs {mem:.0f} msg/s ({100 * fw / mem:.0f} %)", fw >= 0.5 * mem))
    m99 = runs.med("durable_ack", "hermod-memory", lambda r: r["gen"]["ack_p99_us"])
    f99 = runs.med("durable_ack", "hermod-fsync", lambda r: r["gen"]["ack_p99_us"])
    if m99 is not None and f99 is not None:
        rows.append(("durability: PUBACK latency p99 added by `fsync` ≤ 3 ms (2 000 msg/s)",
                     f"{f99 - m99:+.0f} µs ({f99:.0f} vs {m99:.0f} µs)", f99 - m99 <= 3000))
    rec = [r for r in runs.recovery() if r.get("recovered_ms") is not None]
    if rec:
        ms = median([r["recovered_ms"] for r in rec])
        listen = median([r["listen_s"] for r in rec])
        ok = all(r["received"] == r["expected"] for r in rec)
        fill = rec[0]["fill"]
        rows.append((f"durability: recovery of {fill['sessions']:,} sessions and {fill['queued']:,} queued messages "
                     "< 10 s".replace(",", " "),
                     f"{ms / 1000:.2f} s recovered, listening after {listen:.2f} s"
                     + ("" if ok else " (a session did NOT drain its messages)"), listen < 10 and ok))
    return rows


def conns_section(runs, lines, fd_limit):
    if not runs.of("conns", "hermod"):
        return
    lines.append(f"## Idle connections (fd hard limit {fd_limit})")
    lines.append("")
    lines.append("Each connection: TCP + CONNECT (clean session, keepalive 600 s) from one of 16 source "
                 "addresses 127.0.0.2–17, then held idle. RSS sampled while all are held; growth per connection = "
                 "(RSS held − RSS of the fresh broker) ÷ connections. *Kernel*: growth of the machine's slab "
                 "memory (`/proc/meminfo`) per connection, both ends of each loopback connection together; "
                 "the broker's end is about half, and other processes on the machine add noise.")
    lines.append("")
    lines.append("| broker | connected | failed | connects/s | RSS before KiB | RSS held KiB | growth per connection "
                 "| kernel, both ends |")
    lines.append("|---|---:|---:|---:|---:|---:|---:|---:|")
    for broker, name in (("hermod", "Hermod"), ("mosquitto", "Mosquitto")):
        g = lambda f: runs.med("conns", broker, f)  # noqa: E731
        per = g(growth_per_conn)
        lines.append(f"| {name} | {fmt_num(g(lambda r: r['gen']['connected']))} "
                     f"| {fmt_num(g(lambda r: r['gen']['failed']))} "
                     f"| {fmt_num(g(lambda r: r['gen']['connects_per_s']))} "
                     f"| {fmt_num(g(lambda r: r['rss_before_kb']))} | {fmt_num(g(lambda r: r['rss_hold_kb']))} "
                     f"| {fmt_num(per)} B ({per / 1024:.2f} KiB) | {fmt_num(g(kernel_per_conn))} B |"
                     if per is not None else f"| {name} | n/a | | | | | | |")
    lines.append("")


def workers_section(runs, lines):
    if not runs.of("pairs_unpinned", "hermod-w1"):
        return
    lines.append("## Two workers against one (unpinned, pairs QoS 0, load generator with 2 threads)")
    lines.append("")
    lines.append("| Hermod | msg/s | broker CPU | msg per broker CPU-s | generator CPU |")
    lines.append("|---|---:|---:|---:|---:|")
    for b in ("hermod-w1", "hermod-w2"):
        lines.append(f"| {b[-1]} worker{'s' if b.endswith('2') else ''} "
                     f"| {fmt_num(runs.med('pairs_unpinned', b, lambda r: r['gen']['msgs_per_s']))} "
                     f"| {fmt_num(runs.med('pairs_unpinned', b, cpu_pct))} % "
                     f"| {fmt_num(runs.med('pairs_unpinned', b, per_cpu_second))} "
                     f"| {fmt_num(runs.med('pairs_unpinned', b, lambda r: r['gen']['gen_cpu_pct']))} % |")
    lines.append("")
    eff = ratio(runs.med("pairs_unpinned", "hermod-w2", per_cpu_second),
                runs.med("pairs_unpinned", "hermod-w1", per_cpu_second))
    gen = runs.med("pairs_unpinned", "hermod-w1", lambda r: r["gen"]["gen_cpu_pct"])
    if eff is not None:
        lines.append(f"Messages per broker CPU-second with 2 workers: {fmt_ratio(eff)} of 1 worker's (1.0× would "
                     "mean a second worker adds no cost per message, cross-worker deliveries included). "
                     f"The generator needs {fmt_num(gen)} % of a core here, so on 2 cores the broker's "
                     "msg/s cannot show scaling with cores.")
        lines.append("")


TRANSPORT_TITLES = {
    "tls_pairs_q0": "TLS pairs, QoS 0", "tls_pairs_q1": "TLS pairs, QoS 1", "tls_fanout": "TLS fanout, QoS 0",
    "ws_pairs_q0": "WebSocket pairs, QoS 0", "ws_pairs_q1": "WebSocket pairs, QoS 1",
    "ws_fanout": "WebSocket fanout, QoS 0",
}


def transports_section(runs, lines):
    if not runs.of("tls_handshake_ec", "hermod") and not runs.of("ws_pairs_q0", "hermod"):
        return
    lines.append("## TLS and WebSocket: one worker on one core, both brokers")
    lines.append("")
    lines.append("Handshakes: `openssl s_time -new` (a full TLS 1.3 handshake per connection, one at a time) for "
                 "the run's duration; *per broker CPU-s* is handshakes divided by the broker's CPU seconds. "
                 "Throughput as above, every connection over the transport.")
    lines.append("")
    lines.append("| scenario | Hermod per s | Mosquitto per s | Hermod per broker CPU-s | Mosquitto per broker CPU-s "
                 "| CPU-s ratio Hermod ÷ Mosquitto |")
    lines.append("|---|---|---|---|---|---|")
    rows = [("tls_handshake_ec", "TLS handshakes, ECDSA P-256"), ("tls_handshake_rsa", "TLS handshakes, RSA 2048")]
    rows += list(TRANSPORT_TITLES.items())
    for key, title in rows:
        if not runs.of(key, "hermod"):
            continue
        rate = lambda r: r["gen"]["msgs_per_s"]  # noqa: E731
        hc, mc = runs.med(key, "hermod", per_cpu_second), runs.med(key, "mosquitto", per_cpu_second)
        lines.append(f"| {title} | {fmt_num(runs.med(key, 'hermod', rate))} | {fmt_num(runs.med(key, 'mosquitto', rate))} "
                     f"| {fmt_num(hc)} | {fmt_num(mc)} | {fmt_ratio(ratio(hc, mc))} |")
    lines.append("")
    if runs.of("tls_conns", "hermod") or runs.of("ws_conns", "hermod"):
        lines.append("| idle connections | Hermod RSS growth per connection, B | Mosquitto, B | Hermod ÷ Mosquitto |")
        lines.append("|---|---|---|---|")
        for key, title in (("tls_conns", "TLS"), ("ws_conns", "WebSocket")):
            h, m = runs.med(key, "hermod", growth_per_conn), runs.med(key, "mosquitto", growth_per_conn)
            lines.append(f"| {title} | {fmt_num(h)} | {fmt_num(m)} | {fmt_ratio(ratio(h, m))} |")
        lines.append("")
    if runs.of("ws_1mb", "hermod"):
        lines.append("1 MB payloads, QoS 1, 2 pairs, window 4: WebSocket against TCP (target: WebSocket costs at most "
                     "1.5× what TCP costs).")
        lines.append("")
        lines.append("| broker | TCP msg/s | WebSocket msg/s | TCP msg per CPU-s | WebSocket msg per CPU-s "
                     "| CPU per message, WebSocket ÷ TCP |")
        lines.append("|---|---|---|---|---|---|")
        for broker in ("hermod", "mosquitto"):
            rate = lambda r: r["gen"]["msgs_per_s"]  # noqa: E731
            tc, wc = runs.med("tcp_1mb", broker, per_cpu_second), runs.med("ws_1mb", broker, per_cpu_second)
            lines.append(f"| {broker} | {fmt_num(runs.med('tcp_1mb', broker, rate))} "
                         f"| {fmt_num(runs.med('ws_1mb', broker, rate))} | {fmt_num(tc, 1)} | {fmt_num(wc, 1)} "
                         f"| {fmt_ratio(ratio(tc, wc))} |")
        lines.append("")


ACL_TITLES = {"acl_pairs_q0": "pairs, QoS 0", "acl_pairs_q1": "pairs, QoS 1", "acl_fanout": "fanout, QoS 0"}


def acl_section(runs, lines):
    if not runs.of("acl_pairs_q0", "hermod-acl"):
        return
    lines.append("## Topic ACL: 10,000 rules against none, one worker on one core")
    lines.append("")
    lines.append("The same broker with and without an ACL of 10,000 rules (bench/acl_rules.py: literal, wildcard, "
                 "`%u`/`%c` patterns and deny rules; the bench clients' grants among them), interleaved. "
                 "Target: ACL ÷ none >= 0.9 messages per broker CPU-s.")
    lines.append("")
    lines.append("| scenario | none msg/s | ACL msg/s | none per broker CPU-s | ACL per broker CPU-s | ACL ÷ none |")
    lines.append("|---|---|---|---|---|---|")
    for key, title in ACL_TITLES.items():
        rate = lambda r: r["gen"]["msgs_per_s"]  # noqa: E731
        n, a = runs.med(key, "hermod", per_cpu_second), runs.med(key, "hermod-acl", per_cpu_second)
        lines.append(f"| {title} | {fmt_num(runs.med(key, 'hermod', rate))} | {fmt_num(runs.med(key, 'hermod-acl', rate))} "
                     f"| {fmt_num(n)} | {fmt_num(a)} | {fmt_ratio(ratio(a, n))} |")
    lines.append("")


def micro_section(micro, lines):
    if not micro:
        return
    lines.append("## Micro-benchmarks (Google Benchmark, pinned to core 1)")
    lines.append("")
    for data in micro:
        benches = [b for b in data.get("benchmarks", []) if b.get("run_type", "iteration") == "iteration"]
        if not benches:
            continue
        lines.append("| benchmark | time per op | rate | notes |")
        lines.append("|---|---:|---:|---|")
        for b in benches:
            t = f"{b['real_time']:.0f} {b.get('time_unit', 'ns')}"
            if "bytes_per_second" in b:
                rate = f"{b['bytes_per_second'] / 1e6:,.0f} MB/s".replace(",", " ")
            elif "items_per_second" in b:
                rate = f"{b['items_per_second'] / 1e3:,.0f} k/s".replace(",", " ")
            else:
                rate = ""
            notes = ", ".join(f"{k} {b[k]:.2f}" if isinstance(b[k], float) and b[k] < 100 else f"{k} {b[k]:.0f}"
                              for k in ("entries_per_match", "subscriptions") if k in b)
            lines.append(f"| `{b['name']}` | {t} | {rate} | {notes} |")
        lines.append("")


def micro_rate(micro, name):
    for data in micro:
        for b in data.get("benchmarks", []):
            if b["name"] == name:
                return b.get("items_per_second")
    return None


def targets_section(runs, micro, lines):
    rows = []
    for key, target in CPU_TARGETS.items():
        r = ratio(runs.med(key, "hermod", per_cpu_second), runs.med(key, "mosquitto", per_cpu_second))
        rows.append((f"`{key}` messages per broker CPU-second ≥ {target}× Mosquitto", fmt_ratio(r),
                     r is not None and r >= target))
    w1 = runs.med("pairs_unpinned", "hermod-w1", lambda r: r["gen"]["msgs_per_s"])
    w2 = runs.med("pairs_unpinned", "hermod-w2", lambda r: r["gen"]["msgs_per_s"])
    r = ratio(w2, w1)
    rows.append(("2 workers ≥ 1.7× 1 worker on `pairs` (msg/s)", fmt_ratio(r), r is not None and r >= 1.7))
    hp = runs.med("latency", "hermod", lambda r: r["gen"]["lat_p99_us"])
    mp = runs.med("latency", "mosquitto", lambda r: r["gen"]["lat_p99_us"])
    if hp is not None:
        rows.append(("latency p99 at 10 000 msg/s < 1 ms and ≤ Mosquitto's",
                     f"{hp:.0f} µs vs {mp:.0f} µs ({fmt_ratio(ratio(hp, mp))})" if mp else f"{hp:.0f} µs",
                     hp < 1000 and (mp is None or hp <= mp)))
    per = runs.med("conns", "hermod", growth_per_conn)
    n = runs.med("conns", "hermod", lambda r: r["gen"]["connected"])
    mper = runs.med("conns", "mosquitto", growth_per_conn)
    if per is not None:
        rows.append(("RSS growth per idle connection ≤ 1 KiB, ≥ 15 000 connections",
                     f"{per:.0f} B at {n:.0f} connections (Mosquitto {fmt_num(mper)} B)",
                     per <= 1024 and n >= 15000))
    bad_q1 = sum(sum(runs.problem_sum("pairs_q1", b).values()) for b in ("hermod",))
    bad_q0 = sum(sum(runs.problem_sum(k, "hermod").values()) for k in ("pairs_q0", "fanout", "fanin", "latency"))
    rows.append(("no lost, duplicated or reordered message (Hermod, QoS 1 scenarios)", f"{bad_q1} problems",
                 bad_q1 == 0))
    rows.append(("none in QoS 0 scenarios either (queues never full)", f"{bad_q0} problems", bad_q0 == 0))
    m1k = micro_rate(micro, "BM_RouterMatch/subs:1000")
    m1m = micro_rate(micro, "BM_RouterMatch/subs:1000000")
    s1k = micro_rate(micro, "BM_RouterSubscribeUnsubscribe/subs:1000")
    s1m = micro_rate(micro, "BM_RouterSubscribeUnsubscribe/subs:1000000")
    if m1k and m1m:
        rows.append(("router: matching at 1M subscriptions as fast as at 1k (within 2×)",
                     f"{m1m / 1e3:.0f} k/s vs {m1k / 1e3:.0f} k/s ({fmt_ratio(m1m / m1k)})", m1m * 2 >= m1k))
    if s1k and s1m:
        rows.append(("router: subscribe + unsubscribe at 1M as fast as at 1k (within 2×)",
                     f"{s1m / 1e3:.0f} k/s vs {s1k / 1e3:.0f} k/s ({fmt_ratio(s1m / s1k)})", s1m * 2 >= s1k))
    rows += durability_targets(runs)
    lines.append("## Targets (issues 5 and 6)")
    lines.append("")
    lines.append("| target | measured | met |")
    lines.append("|---|---|---|")
    for what, measured, ok in rows:
        lines.append(f"| {what} | {measured} | {'yes' if ok else '**no**'} |")
    lines.append("")


def raw_section(runs, lines):
    lines.append("## Every run")
    lines.append("")
    lines.append("| scenario | broker | rep | result |")
    lines.append("|---|---|---:|---|")
    for r in runs.records:
        lines.append(f"| {r['key']} | {r['broker']} | {r['rep']} | {one_line(r)} |")
    lines.append("")


def baseline_section(runs, lines, baseline):
    """This build against BENCH_BASELINE, both measured in this run, interleaved."""
    if not baseline:
        return
    lines.append("## This build ÷ the baseline")
    lines.append("")
    lines.append(f"Baseline: `{baseline}`, run as a third broker in the same repetitions (order rotated each "
                 "repetition). Ratios of medians; above 1 means this build is faster (or, for memory, larger).")
    lines.append("")
    lines.append("| scenario | figure | this build | baseline | this ÷ baseline |")
    lines.append("|---|---|---:|---:|---:|")
    for key, title in SCENARIO_TITLES.items():
        if not runs.of(key, "hermod-base"):
            continue
        for label, f in (("msg/s", lambda r: r["gen"]["msgs_per_s"]), ("msg per broker CPU-s", per_cpu_second)):
            h, b = runs.med(key, "hermod", f), runs.med(key, "hermod-base", f)
            lines.append(f"| {title} | {label} | {fmt_num(h)} | {fmt_num(b)} | {fmt_ratio(ratio(h, b))} |")
    if runs.of("conns", "hermod-base"):
        h, b = runs.med("conns", "hermod", growth_per_conn), runs.med("conns", "hermod-base", growth_per_conn)
        lines.append(f"| idle connections | RSS growth per connection, B | {fmt_num(h)} | {fmt_num(b)} "
                     f"| {fmt_ratio(ratio(h, b))} |")
    lines.append("")


def report(a):
    records = [json.loads(line) for line in open(a.results) if line.strip()]
    micro = [json.load(open(f)) for f in a.micro]
    runs = Runs(records)
    lines = ["# Hermod benchmark results", ""]
    lines.append(f"Generated by `make bench` (`bench/run.sh`) on {datetime.date.today().isoformat()} in "
                 f"{a.elapsed} s: commit {a.commit}, **{a.build_type}** build, {a.cpu}, Linux {a.kernel}, "
                 f"{a.mosquitto} (Debian), fd hard limit {a.fd_limit}, load average {a.load} (start / end). "
                 f"{a.reps} repetitions of each scenario, {a.duration} s each, brokers interleaved.")
    lines.append("")
    if a.build_type != "Release" or a.sanitize:
        lines.append(f"> **WARNING: this is a {a.build_type} build{' with ' + a.sanitize if a.sanitize else ''}; "
                     "the figures below do not represent Hermod. Run `make bench` (Release).**")
        lines.append("")
    errors = runs.errors()
    if errors:
        lines.append("> **Runs that reported an error or a failed check:**")
        for e in errors:
            lines.append(f"> - {e}")
        lines.append("")
    targets_section(runs, micro, lines)
    throughput_section(runs, lines)
    baseline_section(runs, lines, a.baseline)
    latency_section(runs, lines, a.rt_latency)
    conns_section(runs, lines, a.fd_limit)
    transports_section(runs, lines)
    acl_section(runs, lines)
    workers_section(runs, lines)
    durability_section(runs, lines)
    micro_section(micro, lines)
    raw_section(runs, lines)
    sys.stdout.write("\n".join(lines))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--one")
    p.add_argument("--results")
    p.add_argument("--micro", action="append", default=[])
    for opt in ("commit", "build-type", "sanitize", "cpu", "kernel", "mosquitto", "fd-limit", "reps", "duration",
                "elapsed", "load", "rt-latency", "baseline"):
        p.add_argument("--" + opt, default="")
    a = p.parse_args()
    if a.one:
        print(one_line(json.loads(a.one)))
        return
    report(a)


if __name__ == "__main__":
    main()
