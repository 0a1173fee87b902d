"""hermod-cli pub/sub against Debian's mosquitto broker and the mosquitto_pub/mosquitto_sub tools.

Each test starts its own `/usr/sbin/mosquitto` on a free 127.0.0.1 port with `log_type all`, and
synchronises on events, never on sleeps: a line in the broker's log ("Sending SUBACK to <id>"),
a line a client prints, a process exiting. Every wait has a deadline, so a broken build fails
fast instead of hanging.

The binary is $HERMOD_CLI, by default build/release/hermod-cli of this checkout.
"""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import List, Optional, Sequence

import pytest

from broker_process import free_port

ROOT = Path(__file__).resolve().parents[2]
HERMOD_CLI = os.environ.get("HERMOD_CLI", str(ROOT / "build" / "release" / "hermod-cli"))
MOSQUITTO = "/usr/sbin/mosquitto"
MOSQUITTO_PUB = "/usr/bin/mosquitto_pub"
MOSQUITTO_SUB = "/usr/bin/mosquitto_sub"
HOST = "127.0.0.1"
DEADLINE = 10.0  # seconds for any single expected event

pytestmark = [
    pytest.mark.skipif(not Path(HERMOD_CLI).exists(), reason=f"{HERMOD_CLI} not built"),
    pytest.mark.skipif(not Path(MOSQUITTO).exists(), reason="mosquitto not installed"),
]


# ---------------------------------------------------------------------------------------------
# helpers


class Lines:
    """Collects the lines of a pipe on a thread so that tests can wait for them with a deadline."""

    def __init__(self, pipe):
        self._lines: List[str] = []
        self._cond = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._pump, args=(pipe,), daemon=True)
        self._thread.start()

    def _pump(self, pipe):
        for raw in iter(pipe.readline, b""):
            with self._cond:
                self._lines.append(raw.decode("utf-8", "replace").rstrip("\n"))
                self._cond.notify_all()
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def snapshot(self) -> List[str]:
        with self._cond:
            return list(self._lines)

    def wait(self, predicate, timeout: float = DEADLINE, what: str = "") -> List[str]:
        """Waits until predicate(lines) is true; returns the lines. Fails the test at the deadline."""
        end = time.monotonic() + timeout
        with self._cond:
            while not predicate(self._lines):
                left = end - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"timed out waiting for {what or predicate}; lines: {self._lines[-20:]}")
                self._cond.wait(left)
            return list(self._lines)

    def wait_for(self, pattern: str, timeout: float = DEADLINE, start: int = 0) -> int:
        """Waits for a line (at index >= start) matching regex `pattern`; returns its index."""
        rx = re.compile(pattern)
        found: List[int] = []

        def match(lines):
            for i in range(start, len(lines)):
                if rx.search(lines[i]):
                    found.append(i)
                    return True
            return False

        self.wait(match, timeout, f"/{pattern}/")
        return found[0]

    def wait_closed(self, timeout: float = DEADLINE) -> None:
        end = time.monotonic() + timeout
        with self._cond:
            while not self._closed:
                left = end - time.monotonic()
                if left <= 0:
                    raise AssertionError("pipe did not close")
                self._cond.wait(left)


class CollectedProcess:
    """A program running in the background, its stdout and stderr collected line by line."""

    def __init__(self, argv: List[str], stdin=subprocess.DEVNULL, name: str = ""):
        self.argv = argv
        self.name = name or Path(argv[0]).name  # for the timeout message
        self.proc = subprocess.Popen(argv, stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.out = Lines(self.proc.stdout)
        self.err = Lines(self.proc.stderr)

    def wait(self, timeout: float = DEADLINE) -> int:
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"{self.name} still running after {timeout:g} s; "
                                 f"stdout: {self.out.snapshot()[-10:]}; stderr: {self.err.snapshot()[-10:]}")
        self.out.wait_closed()
        self.err.wait_closed()
        return rc

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)


_started: List["Process"] = []  # every child of the current test, killed at its end


class Process:
    """A child process with its stdout and stderr collected line by line."""

    def __init__(self, argv: Sequence[str], stdin=subprocess.DEVNULL):
        self.argv = list(argv)
        self.proc = subprocess.Popen(self.argv, stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.out = Lines(self.proc.stdout)
        self.err = Lines(self.proc.stderr)
        _started.append(self)

    def wait(self, timeout: float = DEADLINE) -> int:
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"{self.argv[:3]} did not exit; stderr: {self.err.snapshot()[-10:]}")
        self.out.wait_closed()
        self.err.wait_closed()
        return rc

    def signal(self, sig) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)


class Broker:
    """A mosquitto broker on 127.0.0.1:port; restartable on the same port and persistence dir."""

    def __init__(self, workdir: Path, port: int, persistence: bool = False, anonymous: bool = True):
        self.port = port
        self.workdir = workdir
        self.conf = workdir / f"mosquitto-{port}.conf"
        lines = [
            f"listener {port} {HOST}",
            f"allow_anonymous {'true' if anonymous else 'false'}",
            "log_type all",
            "log_dest stderr",
        ]
        if os.geteuid() == 0:
            lines.append("user root")  # else mosquitto drops to 'mosquitto', which cannot write here
        if persistence:
            data = workdir / "data"
            data.mkdir(exist_ok=True)
            lines += ["persistence true", f"persistence_location {data}/"]
        self.conf.write_text("\n".join(lines) + "\n")
        self.process: Optional[Process] = None
        self.start()

    def start(self) -> None:
        self.process = Process([MOSQUITTO, "-c", str(self.conf)])
        self.process.err.wait_for(r"mosquitto version .* running")

    @property
    def log(self) -> Lines:
        assert self.process
        return self.process.err

    def wait_subscribed(self, client_id: str, start: int = 0) -> int:
        return self.log.wait_for(rf"Sending SUBACK to {re.escape(client_id)}$", start=start)

    def stop(self) -> None:
        """SIGTERM: mosquitto saves its persistence database on the way out."""
        if self.process:
            self.process.signal(signal.SIGTERM)
            self.process.wait()
            self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()


@pytest.fixture(autouse=True)
def _no_process_outlives_its_test():
    """A failing test must not leave clients or brokers running (set up first, torn down last)."""
    yield
    while _started:
        _started.pop().kill()


@pytest.fixture
def mosquitto(tmp_path):
    """A fresh mosquitto for one test. (Not named `broker`: conftest.py's `broker` is Hermod.)"""
    b = Broker(tmp_path, free_port())
    yield b
    b.stop()


def hermod(*args: str, stdin=subprocess.DEVNULL) -> Process:
    return Process([HERMOD_CLI, *args], stdin=stdin)


def mosquitto_pub(port: int, *args: str) -> None:
    subprocess.run([MOSQUITTO_PUB, "-h", HOST, "-p", str(port), *args], check=True, timeout=DEADLINE)


def start_hermod_sub(broker: Broker, client_id: str, *args: str) -> Process:
    """Starts `hermod-cli sub` and returns once the broker has acknowledged its subscription."""
    mark = len(broker.log.snapshot())
    p = hermod("sub", "-h", HOST, "-p", str(broker.port), "-i", client_id, *args)
    broker.wait_subscribed(client_id, start=mark)
    return p


def start_mosquitto_sub(broker: Broker, client_id: str, *args: str) -> Process:
    mark = len(broker.log.snapshot())
    p = Process([MOSQUITTO_SUB, "-h", HOST, "-p", str(broker.port), "-i", client_id, *args])
    broker.wait_subscribed(client_id, start=mark)
    return p


VERSIONS = ["mqttv311", "mqttv5"]


# ---------------------------------------------------------------------------------------------
# hermod-cli sub receives from mosquitto_pub


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("qos", [0, 1, 2])
def test_sub_receives_from_mosquitto_pub(mosquitto, version, qos):
    sub = start_hermod_sub(mosquitto, f"hsub-{qos}", "-t", "interop/#", "-q", str(qos), "-V", version,
                           "-C", "1", "-F", "%t|%p|%q|%r")
    mosquitto_pub(mosquitto.port, "-t", "interop/a", "-m", f"hello {qos}", "-q", str(qos), "-V", version)
    assert sub.wait() == 0
    assert sub.out.snapshot() == [f"interop/a|hello {qos}|{qos}|0"]


@pytest.mark.parametrize("version", VERSIONS)
def test_sub_receives_retained_message(mosquitto, version):
    mosquitto_pub(mosquitto.port, "-t", "status/dev1", "-m", "online", "-r", "-q", "1")
    sub = hermod("sub", "-h", HOST, "-p", str(mosquitto.port), "-t", "status/+", "-V", version, "-C", "1",
                 "-F", "%r %t %p")
    assert sub.wait() == 0
    assert sub.out.snapshot() == ["1 status/dev1 online"]


def test_sub_verbose_prints_topic_and_payload_one_line_each(mosquitto):
    sub = start_hermod_sub(mosquitto, "hsub-v", "-t", "v/#", "-v", "-C", "3", "-q", "1")
    for i in range(3):
        mosquitto_pub(mosquitto.port, "-t", f"v/{i}", "-m", f"m{i}", "-q", "1")
    assert sub.wait() == 0
    assert sub.out.snapshot() == ["v/0 m0", "v/1 m1", "v/2 m2"]


def test_sub_json_format_matches_mosquitto_fields(mosquitto):
    sub = start_hermod_sub(mosquitto, "hsub-j", "-t", "j/t", "-q", "2", "-C", "1", "-F", "%j")
    mosquitto_pub(mosquitto.port, "-t", "j/t", "-m", 'say "hi"\\', "-q", "2")
    assert sub.wait() == 0
    obj = json.loads(sub.out.snapshot()[0])
    assert obj["topic"] == "j/t"
    assert obj["qos"] == 2
    assert obj["retain"] == 0
    assert obj["payload"] == 'say "hi"\\'
    assert obj["payloadlen"] == len('say "hi"\\')
    assert obj["mid"] > 0
    assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", obj["tst"])


def test_sub_v5_properties_reach_the_output(mosquitto):
    sub = start_hermod_sub(mosquitto, "hsub-p5", "-t", "p5/t", "-V", "mqttv5", "-C", "1", "-F", "%j")
    mosquitto_pub(mosquitto.port, "-t", "p5/t", "-m", "x", "-V", "mqttv5",
                  "-D", "publish", "user-property", "k", "v", "-D", "publish", "content-type", "text/plain")
    assert sub.wait() == 0
    props = json.loads(sub.out.snapshot()[0])["properties"]
    assert props["user-properties"] == {"k": "v"}
    assert props["content-type"] == "text/plain"


def test_sub_count_exits_after_c_messages(mosquitto):
    sub = start_hermod_sub(mosquitto, "hsub-c", "-t", "c/t", "-C", "2", "-q", "1")
    mosquitto_pub(mosquitto.port, "-t", "c/t", "-m", "one", "-q", "1")
    mosquitto_pub(mosquitto.port, "-t", "c/t", "-m", "two", "-q", "1")
    assert sub.wait() == 0
    assert sub.out.snapshot() == ["one", "two"]


def test_sub_timeout_exits_27(mosquitto):
    started = time.monotonic()
    sub = hermod("sub", "-h", HOST, "-p", str(mosquitto.port), "-t", "quiet/t", "-W", "1")
    assert sub.wait() == 27  # as mosquitto_sub
    assert time.monotonic() - started < 5
    assert "Timed out" in sub.err.snapshot()


# ---------------------------------------------------------------------------------------------
# mosquitto_sub receives from hermod-cli pub


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("qos", [0, 1, 2])
def test_mosquitto_sub_receives_from_pub(mosquitto, version, qos):
    sub = start_mosquitto_sub(mosquitto, f"msub-{qos}", "-t", "out/#", "-q", str(qos), "-V", version, "-C", "1",
                              "-F", "%t|%p|%q")
    pub = hermod("pub", "-h", HOST, "-p", str(mosquitto.port), "-t", "out/x", "-m", f"from hermod {qos}",
                 "-q", str(qos), "-V", version)
    assert pub.wait() == 0
    assert sub.wait() == 0
    assert sub.out.snapshot() == [f"out/x|from hermod {qos}|{qos}"]


def test_pub_retained_with_v5_properties(mosquitto):
    pub = hermod("pub", "-h", HOST, "-p", str(mosquitto.port), "-t", "ret/t", "-m", "kept", "-r", "-q", "1",
                 "-V", "5", "-D", "publish", "user-property", "who", "hermod",
                 "-D", "publish", "content-type", "text/plain")
    assert pub.wait() == 0
    sub = Process([MOSQUITTO_SUB, "-h", HOST, "-p", str(mosquitto.port), "-t", "ret/t", "-C", "1", "-V", "5",
                   "-F", "%j"])
    assert sub.wait() == 0
    obj = json.loads(sub.out.snapshot()[0])
    assert obj["retain"] == 1
    assert obj["payload"] == "kept"
    assert obj["properties"]["user-properties"] == {"who": "hermod"}
    assert obj["properties"]["content-type"] == "text/plain"


def test_pub_line_mode_sends_each_line(mosquitto):
    sub = start_mosquitto_sub(mosquitto, "msub-l", "-t", "lines/t", "-q", "1", "-C", "3")
    pub = hermod("pub", "-h", HOST, "-p", str(mosquitto.port), "-t", "lines/t", "-l", "-q", "1",
                 stdin=subprocess.PIPE)
    pub.proc.stdin.write(b"first\nsecond\n\nthird\n")  # the blank line is not sent
    pub.proc.stdin.close()
    assert pub.wait() == 0
    assert sub.wait() == 0
    assert sub.out.snapshot() == ["first", "second", "third"]


def test_pub_file_and_null_message(mosquitto, tmp_path):
    sub = start_mosquitto_sub(mosquitto, "msub-f", "-t", "f/t", "-C", "2", "-F", "%l:%p")
    payload = tmp_path / "payload.txt"
    payload.write_bytes(b"file contents")
    assert hermod("pub", "-h", HOST, "-p", str(mosquitto.port), "-t", "f/t", "-f", str(payload)).wait() == 0
    assert hermod("pub", "-h", HOST, "-p", str(mosquitto.port), "-t", "f/t", "-n").wait() == 0
    assert sub.wait() == 0
    assert sub.out.snapshot() == ["13:file contents", "0:"]


def test_will_is_published_when_the_client_dies(mosquitto):
    watcher = start_mosquitto_sub(mosquitto, "msub-w", "-t", "presence/dev1", "-C", "1", "-v")
    dying = start_hermod_sub(mosquitto, "hsub-dies", "-t", "anything", "--will-topic", "presence/dev1",
                             "--will-payload", "offline", "--will-qos", "1")
    dying.kill()  # no DISCONNECT: the broker must publish the will
    assert watcher.wait() == 0
    assert watcher.out.snapshot() == ["presence/dev1 offline"]


def test_debug_trace_names_packets_on_stderr(mosquitto):
    pub = hermod("pub", "-h", HOST, "-p", str(mosquitto.port), "-t", "d/t", "-m", "x", "-q", "2", "-d",
                 "-i", "dbg")
    assert pub.wait() == 0
    err = pub.err.snapshot()
    for packet in ["sending CONNECT", "received CONNACK (0)", "sending PUBLISH (d0, q2", "received PUBREC",
                   "sending PUBREL", "received PUBCOMP", "sending DISCONNECT"]:
        assert any(f"Client dbg {packet}" in line for line in err), packet
    assert pub.out.snapshot() == []


# ---------------------------------------------------------------------------------------------
# failures and exit codes


def test_unreachable_broker_exits_1():
    port = free_port()  # nothing listens there
    for cmd in (["sub", "-t", "x"], ["pub", "-t", "x", "-m", "y"]):
        p = hermod(*cmd, "-h", HOST, "-p", str(port))
        assert p.wait() == 1
        assert any("Connection refused" in line for line in p.err.snapshot())


@pytest.mark.parametrize("version,code", [("mqttv311", 5), ("mqttv5", 0x87)])
def test_refused_connection_exits_with_the_connack_code(tmp_path, version, code):
    b = Broker(tmp_path, free_port(), anonymous=False)
    try:
        p = hermod("sub", "-h", HOST, "-p", str(b.port), "-t", "x", "-V", version)
        assert p.wait() == code  # what mosquitto_sub returns
        assert any("not authorized" in line for line in p.err.snapshot())
    finally:
        b.stop()


def test_bad_arguments_exit_1():
    assert hermod("pub", "-t", "x").wait() == 1  # no message source
    assert hermod("sub", "-t", "x", "-c").wait() == 1  # -c needs -i
    assert hermod("pub", "-t", "x", "-m", "y", "-D", "publish", "content-type", "t").wait() == 1  # -D needs v5
    assert hermod("sub", "-t", "x", "-V", "mqttv4").wait() == 1


# ---------------------------------------------------------------------------------------------
# reconnect: the broker goes away and comes back under running clients


def wait_lines(p: Process, expected: set, timeout: float = 20.0) -> List[str]:
    return p.out.wait(lambda lines: expected <= set(lines), timeout, f"{len(expected)} distinct lines")


@pytest.mark.parametrize("qos", [1, 2])
def test_messages_published_around_a_broker_restart_arrive(tmp_path, qos):
    """A persistent publisher and subscriber ride out a broker restart: QoS 1 messages all arrive
    (at least once), QoS 2 messages exactly once. mosquitto keeps both sessions on disk."""
    b = Broker(tmp_path, free_port(), persistence=True)
    sub = pub = None
    try:
        sub = start_hermod_sub(b, f"rsub-{qos}", "-c", "-q", str(qos), "-t", "restart/t")
        pub = hermod("pub", "-h", HOST, "-p", str(b.port), "-i", f"rpub-{qos}", "-c", "-q", str(qos),
                     "-t", "restart/t", "-l", stdin=subprocess.PIPE)

        def send(lo, hi):
            pub.proc.stdin.write("".join(f"m{i}\n" for i in range(lo, hi)).encode())
            pub.proc.stdin.flush()

        send(0, 10)
        wait_lines(sub, {f"m{i}" for i in range(10)})
        send(10, 20)  # some of these are in flight when the broker stops
        b.stop()
        send(20, 30)  # published while the broker is down: buffered by the client
        b.start()
        send(30, 40)
        pub.proc.stdin.close()
        assert pub.wait(20) == 0  # exits only once every message is acknowledged
        lines = wait_lines(sub, {f"m{i}" for i in range(40)})
        if qos == 2:
            assert sorted(lines) == sorted(f"m{i}" for i in range(40)), "QoS 2: exactly once"
        sub.signal(signal.SIGTERM)
        assert sub.wait() == 0
    finally:
        for p in (pub, sub):
            if p:
                p.kill()
        b.stop()


def test_subscriber_resubscribes_when_the_broker_lost_its_session(tmp_path):
    """No persistence: the restarted broker knows nothing of the subscriber, which must notice
    (CONNACK session present = 0) and subscribe again by itself."""
    b = Broker(tmp_path, free_port())
    sub = None
    try:
        sub = start_hermod_sub(b, "resub", "-q", "1", "-t", "resub/t", "-d")
        mosquitto_pub(b.port, "-t", "resub/t", "-m", "before", "-q", "1")
        sub.out.wait_for("^before$")
        b.stop()
        b.start()
        b.wait_subscribed("resub")  # the client's own re-subscription, from the new broker's log
        mosquitto_pub(b.port, "-t", "resub/t", "-m", "after", "-q", "1")
        sub.out.wait_for("^after$")
        assert sub.out.snapshot() == ["before", "after"]
        assert any("Connection lost" in line for line in sub.err.snapshot())
        sub.signal(signal.SIGINT)
        assert sub.wait() == 0
    finally:
        if sub:
            sub.kill()
        b.stop()
