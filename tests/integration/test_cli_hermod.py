"""hermod-cli pub/sub against the Hermod broker (test_cli_interop.py runs them against mosquitto).

Interoperability: `hermod-cli sub` receives from `mosquitto_pub` and `mosquitto_sub` receives from
`hermod-cli pub`, at QoS 0, 1 and 2, over MQTT 3.1.1 and 5. Reconnect: Hermod is killed with
SIGKILL and restarted on the same port under a running `hermod-cli sub` and a publishing
`hermod-cli pub -l`; with `--data-dir` the sessions survive, so QoS 1 messages published around
the outage all arrive (at least once) and QoS 2 messages exactly once; without it the broker
forgets the subscriber, which must notice (CONNACK session present 0) and subscribe again.

The broker comes from the `make_broker` fixture ($HERMOD_BIN; BROKER=mosquitto runs the tests that
do not need Hermod's --data-dir against mosquitto, to check the tests). The tool is $HERMOD_CLI,
by default build/release/hermod-cli. Synchronisation is on events with deadlines: `-d` trace
lines ("received SUBACK"), printed messages, process exits; never a sleep.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path
from typing import List

import pytest

from broker_process import REPO, unique_id
from clients import mosquitto_pub
from test_cli_interop import CollectedProcess

HERMOD_CLI = Path(os.environ.get("HERMOD_CLI", REPO / "build" / "release" / "hermod-cli"))
DEADLINE = 10.0  # seconds for any single expected event
VERSIONS = ["mqttv311", "mqttv5"]

pytestmark = pytest.mark.skipif(not os.access(HERMOD_CLI, os.X_OK),
                                reason=f"{HERMOD_CLI} is not built (make, or set HERMOD_CLI)")


class Cli(CollectedProcess):
    """A running hermod-cli, its stdout and stderr collected line by line."""

    def __init__(self, broker, command: str, *args: str, stdin=subprocess.DEVNULL):
        super().__init__([str(HERMOD_CLI), command, "-h", broker.host, "-p", str(broker.port), *args], stdin,
                         name=f"hermod-cli {command}")

    def subacks(self) -> int:
        return sum("received SUBACK" in line for line in self.err.snapshot())

    def wait_subacks(self, n: int, timeout: float = DEADLINE) -> None:
        """Waits until the -d trace shows the n-th SUBACK."""
        self.err.wait(lambda lines: sum("received SUBACK" in l for l in lines) >= n, timeout, f"SUBACK #{n}")


@pytest.fixture
def cli():
    """Factory: cli(broker, "sub", args...) starts hermod-cli; every one is killed at teardown."""
    started: List[Cli] = []

    def start(broker, command: str, *args: str, **kw) -> Cli:
        c = Cli(broker, command, *args, **kw)
        started.append(c)
        return c

    yield start
    for c in started:
        c.close()


def start_sub(cli, broker, *args: str) -> Cli:
    """hermod-cli sub with -d, returned once its subscription is acknowledged."""
    sub = cli(broker, "sub", "-d", *args)
    sub.wait_subacks(1)
    return sub


# ---------------------------------------------------------------------------------------------
# interoperability with the mosquitto tools, through Hermod


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("qos", [0, 1, 2])
def test_sub_receives_from_mosquitto_pub(broker, cli, version, qos):
    sub = start_sub(cli, broker, "-t", "interop/#", "-q", str(qos), "-V", version, "-C", "1",
                    "-F", "%t|%p|%q|%r")
    r = mosquitto_pub(broker, "-t", "interop/a", "-m", f"hello {qos}", "-q", str(qos), "-V", version)
    assert r.returncode == 0, r.stderr
    assert sub.wait() == 0
    assert sub.out.snapshot() == [f"interop/a|hello {qos}|{qos}|0"]


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("qos", [0, 1, 2])
def test_mosquitto_sub_receives_from_pub(broker, clients, cli, version, qos):
    sub = clients.mosquitto_sub("-t", "out/#", "-q", str(qos), "-V", version, "-C", "1", "-F", "MSG %t|%p|%q")
    sub.wait_subscribed()
    pub = cli(broker, "pub", "-t", "out/x", "-m", f"from hermod-cli {qos}", "-q", str(qos), "-V", version)
    assert pub.wait() == 0, pub.err.snapshot()
    assert sub.wait_exit(DEADLINE) == 0
    assert [l for l in sub.lines if l.startswith("MSG ")] == [f"MSG out/x|from hermod-cli {qos}|{qos}"]


@pytest.mark.parametrize("qos", [0, 1, 2])
def test_sub_receives_from_pub(broker, cli, qos):
    sub = start_sub(cli, broker, "-t", "ours/t", "-q", str(qos), "-V", "5", "-C", "3", "-v")
    pub = cli(broker, "pub", "-t", "ours/t", "-l", "-q", str(qos), "-V", "5", stdin=subprocess.PIPE)
    pub.proc.stdin.write(b"one\ntwo\nthree\n")
    pub.proc.stdin.close()
    assert pub.wait() == 0
    assert sub.wait() == 0
    assert sub.out.snapshot() == ["ours/t one", "ours/t two", "ours/t three"]


def test_retained_message_with_v5_properties(broker, cli):
    pub = cli(broker, "pub", "-t", "devices/t1/status", "-m", "online", "-r", "-q", "1", "-V", "5",
              "-D", "publish", "user-property", "site", "lab", "-D", "publish", "content-type", "text/plain")
    assert pub.wait() == 0
    sub = cli(broker, "sub", "-t", "devices/+/status", "-V", "5", "-C", "1", "-F", "%j")
    assert sub.wait() == 0
    obj = json.loads(sub.out.snapshot()[0])
    assert (obj["topic"], obj["payload"], obj["retain"]) == ("devices/t1/status", "online", 1)
    assert obj["properties"] == {"user-properties": {"site": "lab"}, "content-type": "text/plain"}


def test_will_is_published_when_the_client_dies(broker, clients, cli):
    watcher = clients.paho(broker)
    watcher.subscribe("presence/cli", 1)
    dying = start_sub(cli, broker, "-t", "anything", "--will-topic", "presence/cli", "--will-payload", "offline",
                      "--will-qos", "1")
    dying.proc.kill()  # no DISCONNECT: the broker must publish the will
    assert watcher.get_message(DEADLINE).payload == b"offline"


# ---------------------------------------------------------------------------------------------
# reconnect: Hermod is killed (SIGKILL) and restarted under running clients


def kill9_and_restart(broker) -> None:
    broker.proc.send_signal(signal.SIGKILL)
    broker.proc.wait()
    broker.proc = None
    broker.start()  # same port, same arguments (and data directory, if any)


def wait_payloads(sub: Cli, expected: set, timeout: float = 30.0) -> List[str]:
    return sub.out.wait(lambda lines: expected <= set(lines), timeout, f"{len(expected)} distinct messages")


@pytest.mark.hermod_only("restarts with Hermod's --data-dir")
@pytest.mark.time_limit(60)
@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("qos", [1, 2])
def test_messages_published_around_a_sigkill_arrive(make_broker, cli, tmp_path, version, qos):
    """Both clients keep persistent sessions (-c) on a broker that stores them: QoS 1 messages
    published before, during and after the outage all arrive at least once, QoS 2 exactly once."""
    broker = make_broker(args=("--data-dir", str(tmp_path / "data")))
    sub_id, pub_id = unique_id("rsub"), unique_id("rpub")
    sub = start_sub(cli, broker, "-i", sub_id, "-c", "-q", str(qos), "-V", version, "-t", "restart/t")
    pub = cli(broker, "pub", "-d", "-i", pub_id, "-c", "-q", str(qos), "-V", version, "-t", "restart/t", "-l",
              stdin=subprocess.PIPE)

    def send(lo: int, hi: int) -> None:
        pub.proc.stdin.write("".join(f"m{i}\n" for i in range(lo, hi)).encode())
        pub.proc.stdin.flush()

    send(0, 10)
    wait_payloads(sub, {f"m{i}" for i in range(10)})
    send(10, 30)  # some of these are in flight when the broker dies
    broker.proc.send_signal(signal.SIGKILL)
    broker.proc.wait()
    broker.proc = None
    send(30, 40)  # published while the broker is down: the client buffers them
    broker.start()
    send(40, 50)
    pub.proc.stdin.close()
    assert pub.wait(30) == 0, pub.err.snapshot()  # exits once every message is acknowledged
    lines = wait_payloads(sub, {f"m{i}" for i in range(50)})
    assert any("Connection lost" in l for l in sub.err.snapshot()), "the subscriber saw the outage"
    assert sum("sending CONNECT" in l for l in pub.err.snapshot()) >= 2, "the publisher reconnected"
    if qos == 2:
        duplicates = sorted({l for l in lines if lines.count(l) > 1})
        assert not duplicates, f"QoS 2 delivered more than once: {duplicates} [MQTT-4.3.3-2]"
        assert len(lines) == 50
    sub.proc.send_signal(signal.SIGTERM)
    assert sub.wait() == 0


@pytest.mark.hermod_only("restarts with Hermod's --data-dir")
@pytest.mark.time_limit(40)
def test_persistent_subscriber_does_not_resubscribe_when_the_session_survived(make_broker, cli, tmp_path):
    broker = make_broker(args=("--data-dir", str(tmp_path / "data")))
    sub_id = unique_id("keep")
    sub = start_sub(cli, broker, "-i", sub_id, "-c", "-q", "1", "-t", "kept/t")
    mark = len(sub.err.snapshot())
    kill9_and_restart(broker)
    # The CONNACK after the restart says "session present": the subscription is still there.
    sub.err.wait_for(rf"Client {sub_id} received CONNACK", start=mark)
    assert mosquitto_pub(broker, "-t", "kept/t", "-m", "after", "-q", "1").returncode == 0
    sub.out.wait_for("^after$")
    assert sub.subacks() == 1, "no SUBSCRIBE needed while the broker kept the session"


@pytest.mark.time_limit(40)
@pytest.mark.parametrize("persistent", [True, False], ids=["c", "clean"])
@pytest.mark.parametrize("version", VERSIONS)
def test_subscriber_resubscribes_when_the_broker_lost_its_session(make_broker, cli, version, persistent):
    """No data directory: the restarted broker knows nothing of the subscriber, which must notice
    (CONNACK session present 0) and subscribe again by itself."""
    broker = make_broker()
    sub_id = unique_id("resub")
    sub = start_sub(cli, broker, "-i", sub_id, *(["-c"] if persistent else []), "-q", "1", "-V", version,
                    "-t", "resub/t")
    assert mosquitto_pub(broker, "-t", "resub/t", "-m", "before", "-q", "1").returncode == 0
    sub.out.wait_for("^before$")
    if broker.kind == "hermod":
        kill9_and_restart(broker)
    else:
        broker.restart()  # mosquitto: SIGTERM; it runs without persistence, so the session is lost too
    sub.wait_subacks(2)  # its own re-subscription, answered by the new broker
    assert mosquitto_pub(broker, "-t", "resub/t", "-m", "after", "-q", "1").returncode == 0
    sub.out.wait_for("^after$")
    assert sub.out.snapshot() == ["before", "after"]
    assert any("Connection lost" in l for l in sub.err.snapshot())
    sub.proc.send_signal(signal.SIGINT)
    assert sub.wait() == 0
