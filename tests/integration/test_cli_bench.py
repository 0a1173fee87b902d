"""`hermod-cli bench`, the load generator behind `make bench`, against a real broker.

Every figure of docs/performance.md rests on the generator's checks (lost, duplicated, reordered,
misrouted, corrupt, wrong QoS), so they are tested both ways: short bounded runs of every scenario
must deliver everything with no problem reported, and a broker that is made to drop messages must
be reported as losing them (exit status 2). Runs are bounded by --count and --duration.
The broker is the `make_broker` fixture ($HERMOD_BIN; BROKER=mosquitto for the runs that need no
Hermod setting).
"""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from broker_process import IS_MOSQUITTO, REPO

HERMOD_CLI = Path(os.environ.get("HERMOD_CLI", REPO / "build" / "release" / "hermod-cli"))
TIMEOUT = 60.0

pytestmark = pytest.mark.skipif(not os.access(HERMOD_CLI, os.X_OK),
                                reason=f"{HERMOD_CLI} is not built (make, or set HERMOD_CLI)")

PROBLEMS = ("lost", "duplicated", "reordered", "misrouted", "corrupt", "wrong_qos", "unacked")


def bench(broker, *args: str, drain: float = 10) -> tuple[int, dict]:
    """Runs one scenario; the drain ends early once every expected delivery has arrived."""
    r = subprocess.run([str(HERMOD_CLI), "bench", "-h", broker.host, "-p", str(broker.port), "--json",
                        "--drain", str(drain), *args], capture_output=True, text=True, timeout=TIMEOUT)
    # One result object, after progress events ({"event": ...}, conns only).
    results = [json.loads(line) for line in r.stdout.splitlines() if line.startswith("{")]
    results = [x for x in results if "event" not in x]
    assert len(results) == 1, f"one JSON result expected; stdout {r.stdout!r} stderr {r.stderr!r}"
    return r.returncode, results[0]


def roomy(make_broker):
    """A broker whose in-flight limit exceeds the generator's window of 256. Mosquitto drops
    incoming QoS 2 publishes beyond max_inflight_messages (20 in these tests), which a 3.1.1
    publisher cannot be told about; the generator rightly reports them lost."""
    return make_broker(max_inflight=1000)


def assert_clean(rc: int, result: dict) -> None:
    assert result["error"] == "", result
    assert {k: result[k] for k in PROBLEMS} == {k: 0 for k in PROBLEMS}, result
    assert result["delivered"] == result["expected"] > 0, result
    assert rc == 0, result


@pytest.mark.parametrize("version", ["311", "5"])
@pytest.mark.parametrize("qos", [0, 1, 2])
def test_pairs_deliver_every_message_once_in_order(make_broker, qos, version):
    rc, r = bench(roomy(make_broker), "pairs", "--clients", "3", "--qos", str(qos), "-V", version,
                  "--count", "300", "--duration", "10")
    assert_clean(rc, r)
    assert r["sent"] == r["expected"] == 900
    if qos > 0:
        assert r["acks"] == 900, "every QoS 1/2 publish acknowledged"


@pytest.mark.parametrize("qos", [0, 1, 2])
def test_fanout_delivers_each_message_to_every_subscriber(make_broker, qos):
    rc, r = bench(roomy(make_broker), "fanout", "--clients", "5", "--qos", str(qos), "--count", "200", "--duration", "10")
    assert_clean(rc, r)
    assert r["expected"] == 1000, "200 messages x 5 subscribers"


def test_fanin_wildcard_subscriber_gets_every_publisher(make_broker):
    rc, r = bench(roomy(make_broker), "fanin", "--clients", "6", "--qos", "1", "--count", "100", "--duration", "10")
    assert_clean(rc, r)
    assert r["expected"] == 600


def test_persistent_subscribers_with_large_payloads(make_broker):
    # Payloads over the read buffer's size are split across reads: the generator must join them.
    rc, r = bench(roomy(make_broker), "pairs", "--clients", "2", "--qos", "1", "--persistent", "--size", "100000",
                  "--count", "40", "--duration", "10")
    assert_clean(rc, r)


def test_latency_scenario_reports_percentiles(make_broker):
    rc, r = bench(roomy(make_broker), "latency", "--rate", "2000", "--count", "1000", "--duration", "5")
    assert_clean(rc, r)
    assert 0 < r["lat_p50_us"] <= r["lat_p99_us"] <= r["lat_max_us"], r


def test_idle_connections_are_opened_and_held(make_broker):
    rc, r = bench(make_broker(), "conns", "--connections", "200", "--sources", "2", "--hold", "0.2")
    assert rc == 0, r
    assert r["connected"] == 200 and r["failed"] == 0 and r["dropped"] == 0, r


@pytest.mark.skipif(IS_MOSQUITTO, reason="uses Hermod's [limits]")
def test_messages_the_broker_drops_are_reported_lost(make_broker):
    # One message in flight and one queued per subscriber: a window of 256 QoS 1 publishes per
    # publisher overflows the queue, and the broker drops the newest.
    rc, r = bench(make_broker(max_inflight=1, max_queued_messages=1), "pairs", "--clients", "2", "--qos", "1",
                  "--count", "500", "--duration", "10", drain=1)
    assert r["lost"] > 0, r
    assert r["delivered"] + r["lost"] == r["expected"], r
    assert rc == 2, "problems found: exit status 2"
