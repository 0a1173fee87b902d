"""The broker under test as a process: settings from the environment, configuration files for
Hermod (TOML) and mosquitto, start with a readiness deadline, stop with exit checks, and the
small waiting helpers every test uses.

Which broker runs:
  * default: Hermod, the binary named by $HERMOD_BIN (else build/asan/hermod, else
    build/release/hermod in the repository);
  * BROKER=mosquitto: Debian's /usr/sbin/mosquitto with an equivalent generated configuration,
    to check that the tests themselves are right.
"""

from __future__ import annotations

import itertools
import os
import pathlib
import signal
import socket
import subprocess
import time
from typing import Any, Callable, Optional

import pytest

HOST = "127.0.0.1"
REPO = pathlib.Path(__file__).resolve().parents[2]
BROKER_KIND = os.environ.get("BROKER", "hermod")
MOSQUITTO_BIN = "/usr/sbin/mosquitto"
START_DEADLINE = 10.0
STOP_DEADLINE = 10.0
SANITIZER_MARKS = ("AddressSanitizer", "LeakSanitizer", "ThreadSanitizer", "runtime error:")

# Keys of Hermod's TOML configuration, by table.
BROKER_KEYS = ("workers", "log_level", "log_format", "sys_interval", "file_check_interval")
LIMIT_KEYS = ("max_packet_size", "max_connections", "max_inflight", "max_queued_messages",
              "max_queued_bytes", "connect_timeout", "max_tls_handshakes", "queue_qos0",
              "message_rate", "byte_rate", "max_subscriptions", "max_topic_length", "max_topic_depth",
              "max_write_buffer", "memory_budget")
STORE_KEYS = ("ack_on_delivery_ms",)
# Values every test broker starts with unless the test says otherwise. sys_interval=1 keeps the
# $SYS publisher running during every test (as the mosquitto configuration does).
DEFAULT_CONFIG: dict[str, Any] = {"sys_interval": 1,
                                  "log_level": os.environ.get("HERMOD_LOG_LEVEL", "info")}

IS_MOSQUITTO = BROKER_KIND == "mosquitto"

# Keepalive 1 s must end a silent connection after 1.5 s; allow scheduling slack up to 2.5 s.
# mosquitto 2.0.11 checks keepalives only every 5 s (measured: keepalive 1 → closed after ~4.8 s),
# so only under BROKER=mosquitto is the bound widened; Hermod must meet 2.5 s.
KEEPALIVE_1S_DEADLINE = 7.0 if IS_MOSQUITTO else 2.5


def hermod_bin() -> pathlib.Path:
    env = os.environ.get("HERMOD_BIN")
    if env:
        return pathlib.Path(env).resolve()  # brokers run with their own working directory
    for candidate in (REPO / "build/asan/hermod", REPO / "build/release/hermod"):
        if candidate.exists():
            return candidate
    return REPO / "build/asan/hermod"


# --------------------------------------------------------------------------------------------
# Waiting


def wait_for(predicate: Callable[[], Any], timeout: float = 5.0, interval: float = 0.02,
             message: str = "condition") -> Any:
    """Polls `predicate` until it returns a truthy value (returned) or `timeout` passes
    (AssertionError naming `message`)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {message}")
        time.sleep(interval)


# Under pytest-xdist (make test runs the suite in several processes) each process takes ports
# from its own range below the kernel's ephemeral range (32768-60999): two processes never hand
# out the same port, and a client's ephemeral port never takes a broker's. Hermod listens with
# SO_REUSEPORT, so a port handed out twice would have two brokers share its connections.
_XDIST_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
_PORTS_PER_WORKER = 1000
_next_port = itertools.count()


def free_port() -> int:
    if not _XDIST_WORKER.startswith("gw"):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind((HOST, 0))
            return s.getsockname()[1]
    base = 20000 + int(_XDIST_WORKER[2:]) * _PORTS_PER_WORKER
    for _ in range(_PORTS_PER_WORKER):
        port = base + next(_next_port) % _PORTS_PER_WORKER
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind((HOST, port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {base}-{base + _PORTS_PER_WORKER - 1}")


def free_ports(count: int) -> list[int]:
    """`count` distinct free ports (free_port can hand out a port again while nobody has bound
    it yet)."""
    ports: list[int] = []
    while len(ports) < count:
        p = free_port()
        if p not in ports:
            ports.append(p)
    return ports


def port_accepts(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


_ids = itertools.count(1)


def unique_id(prefix: str = "c") -> str:
    """A client id no other test uses (short enough for MQTT 3.1's 23-byte limit)."""
    return f"{prefix[:12]}-{os.getpid() % 10000}-{next(_ids)}"


# --------------------------------------------------------------------------------------------
# The broker process


def hermod_toml(port: int, cfg: dict[str, Any]) -> str:
    def value(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, str):
            return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
        return str(v)

    lines = ["[broker]"]
    lines += [f"{k} = {value(cfg[k])}" for k in BROKER_KEYS if k in cfg]
    lines += ["", "[[listeners]]", f'bind = "{HOST}"', f"port = {port}", "", "[limits]"]
    lines += [f"{k} = {value(cfg[k])}" for k in LIMIT_KEYS if k in cfg]
    if any(k in cfg for k in STORE_KEYS):
        lines += ["", "[store]"] + [f"{k} = {value(cfg[k])}" for k in STORE_KEYS if k in cfg]
    return "\n".join(lines) + "\n"


def mosquitto_conf(port: int, cfg: dict[str, Any]) -> str:
    lines = [f"listener {port} {HOST}"]
    if "max_connections" in cfg:
        lines.append(f"max_connections {cfg['max_connections']}")
    lines += [
        "allow_anonymous true",
        "persistence false",
        "log_dest stderr",
        "log_type all",
        f"sys_interval {cfg.get('sys_interval', 1)}",
        f"max_queued_messages {cfg.get('max_queued_messages', 1000)}",
        f"max_inflight_messages {cfg.get('max_inflight', 20)}",
    ]
    if "max_queued_bytes" in cfg:
        lines.append(f"max_queued_bytes {cfg['max_queued_bytes']}")
    if "max_packet_size" in cfg:
        lines.append(f"max_packet_size {cfg['max_packet_size']}")
    if cfg.get("queue_qos0"):
        lines.append("queue_qos0_messages true")
    # workers, log_level and connect_timeout have no mosquitto equivalent.
    return "\n".join(lines) + "\n"


class Broker:
    """One broker process on HOST:port, configured from keyword values (see LIMIT_KEYS and
    BROKER_KEYS). `restart(**changes)` stops it (with the exit checks) and starts it again on the
    same port with the changed configuration."""

    _serial = itertools.count(1)

    def __init__(self, workdir: pathlib.Path, config: dict[str, Any], port: Optional[int] = None,
                 args: tuple[str, ...] = (), config_file: bool = True,
                 config_port: Optional[int] = None):
        """`port` is where the broker is expected to listen (a free one by default); the
        configuration file's listener uses `config_port` (default: `port`); `args` are extra
        command-line arguments; `config_file=False` starts it without -c."""
        unknown = set(config) - set(BROKER_KEYS) - set(LIMIT_KEYS) - set(STORE_KEYS)
        if unknown:
            raise TypeError(f"unknown broker setting(s): {sorted(unknown)}")
        self.kind = BROKER_KIND
        self.host = HOST
        self.port = port or free_port()
        self.config_port = config_port or self.port
        self.args = tuple(args)
        self.config_file = config_file
        self.config = dict(config)
        self.workdir = workdir
        self.proc: Optional[subprocess.Popen] = None
        self.stderr_path: Optional[pathlib.Path] = None
        self.problems: list[str] = []

    # -- lifecycle

    def start(self) -> "Broker":
        n = next(self._serial)
        command = [MOSQUITTO_BIN if IS_MOSQUITTO else str(hermod_bin())]
        if self.config_file:
            conf_path = self.workdir / (f"mosquitto-{n}.conf" if IS_MOSQUITTO else f"hermod-{n}.toml")
            render = mosquitto_conf if IS_MOSQUITTO else hermod_toml
            conf_path.write_text(render(self.config_port, self.config))
            command += ["-c", str(conf_path)]
        command += self.args
        self.stderr_path = self.workdir / f"broker-{n}.stderr"
        with open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen(command, stdin=subprocess.DEVNULL,
                                         stdout=err, stderr=err, cwd=self.workdir)
        deadline = time.monotonic() + START_DEADLINE
        while not port_accepts(self.host, self.port):
            if self.proc.poll() is not None:
                pytest.fail(f"broker exited with {self.proc.returncode} during startup:\n"
                            f"{self.stderr_text()}", pytrace=False)
            if time.monotonic() > deadline:
                self.proc.kill()
                self.proc.wait()
                pytest.fail(f"broker did not accept connections on port {self.port} within "
                            f"{START_DEADLINE:g} s:\n{self.stderr_text()}", pytrace=False)
            time.sleep(0.02)
        return self

    def stop(self) -> list[str]:
        """SIGTERM, wait, and return what went wrong (empty if the exit was clean)."""
        proc, self.proc = self.proc, None
        if proc is None:
            return []
        problems = []
        if proc.poll() is not None:
            problems.append(f"broker had already exited with {proc.returncode} before SIGTERM")
        else:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=STOP_DEADLINE)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                problems.append(f"broker still running {STOP_DEADLINE:g} s after SIGTERM (killed)")
            else:
                if proc.returncode != 0:
                    problems.append(f"broker exited with {proc.returncode} after SIGTERM")
        text = self.stderr_text()
        for mark in SANITIZER_MARKS:
            if mark in text:
                problems.append(f"broker stderr contains {mark!r}")
        self.problems += problems
        return problems

    def restart(self, **changes: Any) -> "Broker":
        problems = self.stop()
        if problems:
            pytest.fail("; ".join(problems) + f"\n{self.stderr_text()}", pytrace=False)
        self.config.update(changes)
        return self.start()

    # -- inspection

    def stderr_text(self) -> str:
        if self.stderr_path is None or not self.stderr_path.exists():
            return ""
        return self.stderr_path.read_text(errors="replace")

    def stderr_tail(self, lines: int = 150) -> str:
        return "\n".join(self.stderr_text().splitlines()[-lines:])

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def __repr__(self) -> str:
        return f"Broker({self.kind}, {self.host}:{self.port})"
