"""Every program in examples/ runs against a real broker (the `make_broker` fixture: Hermod, or
mosquitto under BROKER=mosquitto) and what it prints, and what other clients see, is checked.

The binaries come from $HERMOD_EXAMPLES_DIR (default build/release/examples of this checkout); a
test is skipped, saying which binary is missing, only when its example has not been built.
Synchronisation is on events with deadlines: a line an example prints, a message a paho client
receives, a process exiting; never a sleep.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path
from typing import List

import pytest

from broker_process import REPO, unique_id
from test_cli_interop import CollectedProcess

EXAMPLES_DIR = Path(os.environ.get("HERMOD_EXAMPLES_DIR", REPO / "build" / "release" / "examples"))
DEADLINE = 10.0  # seconds for any single expected event


def example_path(name: str) -> Path:
    path = EXAMPLES_DIR / f"example_{name}"
    if not os.access(path, os.X_OK):
        pytest.skip(f"{path} is not built (make, or cmake --build build/release --target example_{name}; "
                    "HERMOD_EXAMPLES_DIR names another build)")
    return path


def run(name: str, broker, *args: str, timeout: float = DEADLINE) -> subprocess.CompletedProcess:
    """Runs an example to completion against `broker`; fails the test if it takes too long."""
    argv = [str(example_path(name)), "--host", broker.host, "--port", str(broker.port), *args]
    return subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout)


class Example(CollectedProcess):
    """An example running in the background, its stdout and stderr collected line by line."""

    def __init__(self, name: str, broker, *args: str):
        super().__init__([str(example_path(name)), "--host", broker.host, "--port", str(broker.port), *args])


@pytest.fixture
def example():
    """Factory for background examples; all are killed at teardown."""
    started: List[Example] = []

    def start(name: str, broker, *args: str) -> Example:
        e = Example(name, broker, *args)
        started.append(e)
        return e

    yield start
    for e in started:
        e.close()


def lines(result: subprocess.CompletedProcess) -> List[str]:
    assert result.returncode == 0, f"exit {result.returncode}; stderr: {result.stderr}"
    return result.stdout.splitlines()


# ---------------------------------------------------------------------------------------------
# example_sensor


def test_sensor_publishes_count_readings_at_the_interval(make_broker, clients):
    broker = make_broker()
    sub = clients.paho(broker)
    sub.subscribe("sensors/+/temperature", 1)
    started = time.monotonic()
    out = lines(run("sensor", broker, "--sensor", "attic", "--count", "3", "--interval-ms", "100"))
    elapsed = time.monotonic() - started
    published = [l.split()[-1] for l in out if l.startswith("published sensors/attic/temperature ")]
    assert len(published) == 3, out
    got = [sub.get_message() for _ in range(3)]
    assert [(m.topic, m.payload.decode(), m.qos) for m in got] == \
        [("sensors/attic/temperature", v, 1) for v in published]
    assert all(re.fullmatch(r"\d+\.\d", v) for v in published), published
    assert elapsed >= 0.2, f"3 readings 100 ms apart took only {elapsed:.3f} s"


# ---------------------------------------------------------------------------------------------
# example_subscriber


def test_subscriber_plus_matches_one_level_and_hash_any_number(make_broker, clients, example):
    broker = make_broker()
    sub = example("subscriber", broker, "--count", "3")
    sub.out.wait(lambda l: sum("granted QoS 1" in x for x in l) == 2, what="both SUBACKs")
    assert sub.out.snapshot() == ["subscribed to sensors/+/temperature (granted QoS 1)",
                                  "subscribed to alerts/# (granted QoS 1)"]
    pub = clients.paho(broker)
    # Only the first, fifth and sixth match; the others would show up among the three lines.
    for topic in ("sensors/hall/temperature", "sensors/hall/humidity", "sensors/hall/fridge/temperature",
                  "sensors/temperature", "alerts", "alerts/fire/floor2"):
        pub.publish(topic, topic.encode(), qos=1)
    assert sub.wait() == 0
    assert sorted(sub.out.snapshot()[2:]) == sorted([
        "sensors/hall/temperature sensors/hall/temperature (QoS 1, matched sensors/+/temperature)",
        "alerts alerts (QoS 1, matched alerts/#)",
        "alerts/fire/floor2 alerts/fire/floor2 (QoS 1, matched alerts/#)",
    ])


# ---------------------------------------------------------------------------------------------
# example_retained_status


def retained(clients, broker, topic: str):
    """The retained message a new subscriber gets for `topic`, or None. A marker published after
    the SUBACK arrives after any retained message, so its arrival first means there is none."""
    s = clients.paho(broker)
    s.subscribe(topic, 1)
    clients.paho(broker).publish(topic, b"marker", qos=1)
    m = s.get_message()
    return None if m.payload == b"marker" else (m.payload.decode(), m.retain)


def test_retained_status_reaches_a_later_subscriber_and_can_be_cleared(make_broker, clients):
    broker = make_broker()
    assert lines(run("retained_status", broker, "--device", "d1", "--status", "online")) == [
        'devices/d1/status: published retained status "online"',
        "dashboard (subscribed later) got devices/d1/status = online (retained)",
    ]
    assert retained(clients, broker, "devices/d1/status") == ("online", 1)

    out = lines(run("retained_status", broker, "--device", "d1", "--status", "maintenance"))
    assert out[-1] == "dashboard (subscribed later) got devices/d1/status = maintenance (retained)"
    assert retained(clients, broker, "devices/d1/status") == ("maintenance", 1), "a new retained message replaces the old"

    assert lines(run("retained_status", broker, "--device", "d1", "--clear")) == [
        "devices/d1/status: retained status deleted (empty retained message)"]
    assert retained(clients, broker, "devices/d1/status") is None, \
        "an empty retained message deletes the retained message [MQTT-3.3.1-10]"


# ---------------------------------------------------------------------------------------------
# example_presence


def test_presence_will_says_offline_when_the_process_dies(make_broker, clients, example):
    broker = make_broker()
    device = example("presence", broker, "--id", "lamp1")
    device.out.wait_for(r"^presence/lamp1 = online \(will: offline\)$")
    watcher = clients.paho(broker)
    watcher.subscribe("presence/lamp1", 1)
    m = watcher.get_message()
    assert (m.payload, m.retain) == (b"online", 1), "online is retained for later subscribers"
    device.proc.send_signal(signal.SIGKILL)  # no DISCONNECT: the broker publishes the will
    m = watcher.get_message(DEADLINE)
    assert m.payload == b"offline", "the will is published when the connection ends without DISCONNECT"
    assert retained(clients, broker, "presence/lamp1") == ("offline", 1), "the will is retained"


def test_presence_leaving_cleanly_says_offline_itself(make_broker, clients, example):
    broker = make_broker()
    device = example("presence", broker, "--id", "lamp2")
    device.out.wait_for(r"^presence/lamp2 = online")
    watcher = clients.paho(broker)
    watcher.subscribe("presence/lamp2", 1)
    assert watcher.get_message().payload == b"online"
    device.proc.send_signal(signal.SIGTERM)
    assert device.wait() == 0
    assert device.out.snapshot()[-1] == "presence/lamp2 = offline"
    clients.paho(broker).publish("presence/lamp2", b"sentinel", qos=1)
    got = [m.payload for m in watcher.messages_until("presence/lamp2", b"sentinel")]
    assert got == [b"offline"], "one offline, from the client; the DISCONNECT discarded the will"


def test_presence_says_online_again_after_a_broker_restart(make_broker, clients, example):
    broker = make_broker()
    device = example("presence", broker, "--id", "lamp3")
    device.out.wait_for(r"^presence/lamp3 = online")
    broker.restart()  # forgets everything (no data directory), retained messages included
    lost = device.out.wait_for(r"^connection lost: .*; reconnecting$")
    device.out.wait_for(r"^presence/lamp3 = online", start=lost + 1)
    assert retained(clients, broker, "presence/lamp3") == ("online", 1)


# ---------------------------------------------------------------------------------------------
# example_persistent_session


def test_persistent_session_catches_up_on_messages_sent_while_offline(make_broker, clients):
    broker = make_broker()
    worker = unique_id("worker")
    assert lines(run("persistent_session", broker, "--id", worker, "--receive", "0")) == [
        f"connected as {worker}: session present = 0",
        "subscribed to jobs/# at QoS 1",
        "disconnected after 0 message(s); the broker keeps the session for 3600 s",
    ]
    pub = clients.paho(broker)
    pub.publish("jobs/0", b"not queued", qos=0)  # QoS 0 is not kept for offline sessions
    for i in range(1, 4):
        pub.publish(f"jobs/{i}", f"job {i}".encode(), qos=1)  # PUBACK: the broker holds it for us
    out = lines(run("persistent_session", broker, "--id", worker, "--receive", "3"))
    assert out == [
        f"connected as {worker}: session present = 1",
        "received jobs/1 job 1",
        "received jobs/2 job 2",
        "received jobs/3 job 3",
        "disconnected after 3 message(s); the broker keeps the session for 3600 s",
    ]


@pytest.mark.hermod_only("--data-dir is Hermod's option")
def test_persistent_session_survives_a_broker_restart_with_a_data_dir(make_broker, clients, tmp_path):
    broker = make_broker(args=("--data-dir", str(tmp_path / "data")))
    worker = unique_id("worker")
    assert "session present = 0" in lines(run("persistent_session", broker, "--id", worker))[0]
    broker.restart()
    clients.paho(broker).publish("jobs/after-restart", b"still here", qos=1)
    out = lines(run("persistent_session", broker, "--id", worker, "--receive", "1"))
    assert out[:2] == [f"connected as {worker}: session present = 1", "received jobs/after-restart still here"]


# ---------------------------------------------------------------------------------------------
# example_qos2_exactly_once


def test_qos2_example_delivers_every_message_exactly_once(make_broker):
    broker = make_broker()
    out = lines(run("qos2_exactly_once", broker, "--count", "50"))
    assert out[-3:] == [
        "sent 50: 50 completed (PUBCOMP), 0 failed",
        "received 50 distinct: 50 exactly once, 0 more than once, 0 missing",
        "exactly once: OK",
    ]
    # The four-packet handshake of the first message, on each hop, in order.
    for who, steps in (("sender", ["-> PUBLISH", "<- PUBREC", "-> PUBREL", "<- PUBCOMP"]),
                       ("receiver", ["<- PUBLISH", "-> PUBREC", "<- PUBREL", "-> PUBCOMP"])):
        seen = [" ".join(l.split()[1:3]) for l in out if l.startswith("  ") and l.split()[0] == who]
        assert seen == steps, f"{who}: {seen}"


# ---------------------------------------------------------------------------------------------
# example_keepalive

PING_LINE = re.compile(r"^\s*(\d+\.\d+) s  (-> PINGREQ|<- PINGRESP)")


def ping_times(out: List[str], kind: str) -> List[float]:
    return [float(m.group(1)) for m in map(PING_LINE.match, out) if m and m.group(2) == kind]


def test_keepalive_pings_after_each_quiet_interval(make_broker):
    broker = make_broker()
    out = lines(run("keepalive", broker, "--id", unique_id("ka"), "--keepalive", "1", "--pings", "2"))
    assert re.match(r"^\s*\d+\.\d+ s  connected, keepalive 1 s$", out[0]), out
    sent, answered = ping_times(out, "-> PINGREQ"), ping_times(out, "<- PINGRESP")
    assert len(sent) == 2 and len(answered) == 2, out
    # PINGREQ when nothing was sent or heard for one keepalive interval [MQTT-3.1.2-23].
    assert 0.9 <= sent[0] <= 1.5, out
    assert 0.9 <= sent[1] - answered[0] <= 1.5, out


def test_keepalive_finds_a_stopped_broker_and_reconnects_when_it_resumes(make_broker, example):
    broker = make_broker()
    client = example("keepalive", broker, "--id", unique_id("ka"), "--keepalive", "1",
                     "--ping-timeout-ms", "500", "--pings", "2")
    client.out.wait_for(r"<- PINGRESP")
    broker.proc.send_signal(signal.SIGSTOP)  # the process hangs; its socket stays open
    try:
        lost = client.out.wait_for(r"connection lost: keepalive timeout: the broker stopped answering; "
                                   r"reconnecting$", timeout=5.0)
    finally:
        broker.proc.send_signal(signal.SIGCONT)
    client.out.wait_for(r"connected, keepalive 1 s$", start=lost + 1)
    assert client.wait() == 0
    out = client.out.snapshot()
    unanswered = PING_LINE.match(out[lost - 1])
    assert unanswered and unanswered.group(2) == "-> PINGREQ", out
    # Declared dead once the 500 ms ping timeout has passed, not 1.5 keepalives or TCP's minutes.
    assert 0.4 <= float(out[lost].split()[0]) - float(unanswered.group(1)) <= 1.5, out
