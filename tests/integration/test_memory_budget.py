"""The global memory budget (limits.memory_budget, issue 15): a subscriber that reads nothing
while a publisher floods it. The broker's RSS stays under the budget plus a stated margin, a
light client keeps its round-trip p99 within 2x of the unloaded figure measured in the same
test, the budget's counters in $SYS move, and the memory is given back once the flood ends.

Set-up: two workers; the flooding publisher's session lives on worker 0 and the stalled
subscriber's on worker 1 (flood.home_worker), so every message crosses between workers in the
batches the budget counts. max_write_buffer is raised above the budget so that the budget, not
the per-connection limit, is what binds.
"""

from __future__ import annotations

import os
import re
import statistics
import time

import pytest

import flood
import mqtt_raw
from broker_process import HOST, hermod_bin, wait_for

MIB = 1 << 20
BUDGET = 16 * MIB
WORKERS = 2


def sanitizer() -> str:
    """'asan', 'tsan' or '' for the broker binary under test (by the runtime it carries)."""
    data = open(hermod_bin(), "rb").read()
    if b"__asan_init" in data:
        return "asan"
    if b"__tsan_init" in data:
        return "tsan"
    return ""


# What the RSS may exceed the budget by while the budget holds, per build:
#  * release (mimalloc): what the count leaves out: each queued message's control block and
#    Message header (~100 bytes for 16k messages), the write queue's chunk vector at its doubled
#    capacity, mimalloc's per-thread pages, the reads of one turn beyond the budget (4 x 64 KiB
#    per publisher wake-up): 16 MiB, the budget's own size;
#  * ASan: redzones around every allocation, and its quarantine (limited to 16 MiB here): twice
#    that plus the quarantine;
#  * TSan: shadow memory of several times every byte touched: not bounded here (the behaviour is
#    checked; the bound is measured on the release and ASan builds).
MARGIN = {"": 16 * MIB, "asan": 2 * BUDGET + 32 * MIB}


def read_sys(port: int, topics: list[str]) -> dict[str, int]:
    """The retained values of `topics` as a fresh subscriber gets them."""
    with mqtt_raw.RawClient(HOST, port) as c:
        c.connect(f"sysread-{os.getpid()}-{time.monotonic_ns() % 100000}")
        c.subscribe([(t, 0) for t in topics])
        out: dict[str, int] = {}
        deadline = time.monotonic() + 5
        while len(out) < len(topics):
            p = c.receive_publish(timeout=max(0.05, deadline - time.monotonic()))
            topic = p.topic.decode() if isinstance(p.topic, bytes) else p.topic
            if topic in topics:
                out[topic] = int(p.payload)
        return out


class Prober:
    """A light client: publishes a small QoS 0 message to a topic only it subscribes to and
    times how long it takes to come back."""

    def __init__(self, port: int, client_id: str):
        self.client = mqtt_raw.RawClient(HOST, port)
        self.client.connect(client_id)
        self.topic = f"probe/{client_id}"
        self.client.subscribe([(self.topic, 0)])
        self.p99_ms(50)  # warm-up: the first round trips pay for first-use allocations

    def p99_ms(self, samples: int) -> float:
        times = []
        for i in range(samples):
            payload = str(i).encode()
            t0 = time.perf_counter()
            self.client.publish(self.topic, payload)
            while True:
                p = self.client.receive_publish(timeout=5)
                if p.payload == payload:
                    break
            times.append((time.perf_counter() - t0) * 1000)
        return statistics.quantiles(times, n=100)[98]

    def best_p99_ms(self, windows: int = 10, samples: int = 100) -> float:
        """The lowest p99 of `windows` windows: other processes on the machine (make test runs
        four test processes on two cores) add spikes to some windows; a broker that is slow
        makes every window slow."""
        return min(self.p99_ms(samples) for _ in range(windows))

    def close(self) -> None:
        self.client.close()


@pytest.mark.hermod_only("limits.memory_budget is Hermod's")
@pytest.mark.time_limit(40)
def test_memory_budget_holds_while_a_stalled_subscriber_is_flooded(make_broker, monkeypatch):
    kind = sanitizer()
    if kind == "asan":
        # The quarantine keeps freed memory for a while to catch use-after-free: bound it so the
        # RSS says what the broker holds.
        monkeypatch.setenv("ASAN_OPTIONS", os.environ.get("ASAN_OPTIONS", "") + ":quarantine_size_mb=16")
    b = make_broker(workers=WORKERS, memory_budget=BUDGET, max_write_buffer=64 * MIB)
    pid = b.proc.pid
    prober = Prober(b.port, flood.client_id_on(1, WORKERS, "probe"))
    unloaded_p99 = prober.best_p99_ms()
    rss_before = flood.rss_bytes(pid)

    sub = flood.StalledSubscriber(HOST, b.port, flood.client_id_on(1, WORKERS, "stalled"), "flood/t",
                                  rcvbuf=64 * 1024)
    pub = flood.Flooder(HOST, b.port, flood.client_id_on(0, WORKERS, "flooder"), "flood/t",
                        duration=12.0).start()
    try:
        # The budget is reached: the broker reports it in $SYS (sys_interval 1 s).
        wait_for(lambda: read_sys(b.port, ["$SYS/broker/memory/exceeded"])["$SYS/broker/memory/exceeded"] > 0,
                 timeout=8, interval=0.5, message="$SYS/broker/memory/exceeded > 0")
        peak = flood.rss_bytes(pid)
        loaded_p99 = prober.best_p99_ms()
        # A light publisher is still read while the flooder waits; what it sends to the stalled
        # subscriber is dropped, not queued.
        with mqtt_raw.RawClient(HOST, b.port) as light:
            light.connect(flood.client_id_on(0, WORKERS, "light"))
            for i in range(20):
                light.publish("flood/t", b"light %d" % i)
            light.ping()
        # Sample the RSS for a while longer under the flood.
        sampled_until = time.monotonic() + 2
        while time.monotonic() < sampled_until:
            peak = max(peak, flood.rss_bytes(pid))
            time.sleep(0.05)
        assert pub.running(), "the flood lasted the whole measurement"
        stats = read_sys(b.port, ["$SYS/broker/memory/used", "$SYS/broker/memory/budget",
                                  "$SYS/broker/memory/reads paused", "$SYS/broker/messages/dropped/memory"])
    finally:
        pub.close()
        sub.close()

    growth = peak - rss_before
    print(f"build={kind or 'release'} rss before {rss_before / MIB:.1f} MiB, peak growth {growth / MIB:.1f} MiB, "
          f"p99 unloaded {unloaded_p99:.2f} ms, loaded {loaded_p99:.2f} ms, $SYS {stats}")
    assert stats["$SYS/broker/memory/budget"] == BUDGET
    assert stats["$SYS/broker/memory/reads paused"] > 0, "the flooding publisher was paused (TCP back-pressure)"
    assert stats["$SYS/broker/messages/dropped/memory"] >= 20, "QoS 0 to the stalled subscriber was dropped"
    if kind in MARGIN:
        assert growth < BUDGET + MARGIN[kind], (
            f"RSS grew by {growth / MIB:.1f} MiB under the flood: more than the budget "
            f"({BUDGET / MIB:.0f} MiB) plus the margin ({MARGIN[kind] / MIB:.0f} MiB)")
    # Other processes on a 2-core machine put 2-3 ms into whole windows of a Python client's
    # round trips (measured at load average 6): the unloaded figure is taken as at least 1 ms
    # before doubling. Both are the best of ten windows. Not under TSan: its 5-15x slowdown lets
    # the flood take both cores of the broker (seen: 0.15 ms unloaded, 2.9 ms loaded), so the
    # figure says what TSan costs, not what the budget keeps.
    if kind != "tsan":
        assert loaded_p99 <= 2 * max(unloaded_p99, 1.0), (
            f"a light client's p99 went from {unloaded_p99:.2f} ms to {loaded_p99:.2f} ms under the flood")

    # The flood is over: the queues empty and the memory goes back to the system. Not all of
    # it (allocator pages that still hold a live block stay): a third of the growth is the bound
    # stated here; docs/performance.md has what falls.
    lowest = peak
    if kind != "tsan":
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and lowest >= peak - growth // 3:
            lowest = min(lowest, flood.rss_bytes(pid))
            time.sleep(0.1)
        print(f"RSS fell by {(peak - lowest) / MIB:.1f} MiB of the {growth / MIB:.1f} MiB it grew")
        assert lowest < peak - growth // 3, (
            f"RSS fell by {(peak - lowest) / MIB:.1f} MiB within 5 s of the flood's end: less than a third of "
            f"the {growth / MIB:.1f} MiB it grew")
    # The next $SYS rounds show the empty queues and the memory given back.
    wait_for(lambda: read_sys(b.port, ["$SYS/broker/memory/used"])["$SYS/broker/memory/used"] < MIB,
             timeout=5, interval=0.5, message="$SYS/broker/memory/used below 1 MiB")
    wait_for(lambda: read_sys(b.port, ["$SYS/broker/memory/releases"])["$SYS/broker/memory/releases"] > 0,
             timeout=5, interval=0.5, message="$SYS/broker/memory/releases above 0")
    # The light client still works.
    assert prober.p99_ms(20) < 1000
    prober.close()
    # A summary line at most every 10 s, never one per message.
    lines = [l for l in b.stderr_text().splitlines() if "memory budget:" in l]
    assert 1 <= len(lines) <= 2, f"expected a summary line per 10 s interval, got {len(lines)}: {lines[:5]}"
    assert re.search(r"QoS 0 message\(s\) to stalled subscribers were dropped", lines[0])
