#!/usr/bin/env python3
"""The memory budget's measurement (issue 15; docs/performance.md, "Memory under a flood"): one
publisher writes 1 KiB QoS 0 messages as fast as it can to a topic that two subscribers
subscribed to and then stopped reading; the broker's RSS is sampled before, during (its peak)
and some seconds after the subscribers and the publisher leave.

    python3 bench/memory_flood.py build/release/hermod [--duration 20] [--after 5]
        [--config extra.toml-lines] [--subs-on 1,1] [--pub-on 0]

The broker runs with its default worker count (2 on the 2-core machine); the publisher's
session lives on worker --pub-on and the subscribers' on --subs-on, so by default every message
crosses from worker 0 to worker 1 in the batches posted between them. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "tests/integration"))
import flood  # noqa: E402

HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def wait_port(port: int, proc: subprocess.Popen, deadline: float) -> None:
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"broker exited with {proc.returncode}")
        try:
            socket.create_connection((HOST, port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.02)
    raise SystemExit("broker did not start")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("hermod")
    ap.add_argument("--duration", type=float, default=20.0)
    ap.add_argument("--after", type=float, default=5.0)
    ap.add_argument("--workers", type=int, default=0, help="0: the broker's default")
    ap.add_argument("--pub-on", type=int, default=0)
    ap.add_argument("--subs-on", default="1,1")
    ap.add_argument("--timeline", action="store_true", help="also print the RSS every second")
    ap.add_argument("--limits", default="", help="extra [limits] lines, ';'-separated")
    args = ap.parse_args()

    workers = args.workers or os.cpu_count() or 1
    port = free_port()
    work = pathlib.Path(tempfile.mkdtemp(prefix="hermod-flood."))
    conf = work / "hermod.toml"
    lines = ["[broker]", "sys_interval = 1"]
    if args.workers:
        lines.append(f"workers = {args.workers}")
    lines += ["[[listeners]]", f'bind = "{HOST}"', f"port = {port}", "[limits]"]
    lines += [l.strip() for l in args.limits.split(";") if l.strip()]
    conf.write_text("\n".join(lines) + "\n")
    err = open(work / "stderr", "wb")
    proc = subprocess.Popen([args.hermod, "-c", str(conf)], stdout=err, stderr=err)
    try:
        wait_port(port, proc, time.monotonic() + 10)
        before = flood.rss_bytes(proc.pid)
        subs = [flood.StalledSubscriber(HOST, port, flood.client_id_on(int(w), workers, f"sub{i}"), "flood/t")
                for i, w in enumerate(args.subs_on.split(","))]
        pub = flood.Flooder(HOST, port, flood.client_id_on(args.pub_on, workers, "pub"), "flood/t",
                            duration=args.duration).start()
        peak = before
        samples = []
        while pub.running():
            r = flood.rss_bytes(proc.pid)
            peak = max(peak, r)
            samples.append(r)
            time.sleep(0.1)
        elapsed = time.monotonic() - pub.started
        at_end = flood.rss_bytes(proc.pid)
        pub.close()
        for s in subs:
            s.close()
        left = time.monotonic() + args.after
        while time.monotonic() < left:
            peak = max(peak, flood.rss_bytes(proc.pid))
            time.sleep(0.1)
        after = flood.rss_bytes(proc.pid)
        mib = 1 << 20
        print(json.dumps({
            "workers": workers, "pub_on": args.pub_on, "subs_on": args.subs_on, "limits": args.limits,
            "seconds": round(elapsed, 1), "messages": pub.sent_messages,
            "MB_per_s": round(pub.sent_bytes / elapsed / 1e6, 1),
            "rss_before_MiB": round(before / mib, 1), "rss_peak_MiB": round(peak / mib, 1),
            "rss_at_end_MiB": round(at_end / mib, 1), "rss_after_MiB": round(after / mib, 1),
            "growth_peak_MiB": round((peak - before) / mib, 1), "kept_after_MiB": round((after - before) / mib, 1),
        }))
        if args.timeline:
            print("rss MiB every 1 s:", [round(r / mib) for r in samples[::10]])
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        err.close()
        tail = (work / "stderr").read_text(errors="replace").splitlines()[-15:]
        print("\n".join(tail), file=sys.stderr)


if __name__ == "__main__":
    main()
