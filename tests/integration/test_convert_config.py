"""`hermod convert-config`: a mosquitto.conf is converted, then Debian's mosquitto runs on the
original and Hermod on the conversion, one after the other on the same ports of 127.0.0.1, and
both must accept and refuse the same clients: anonymous ones, users with passwords, TLS clients
with and without certificates, WebSocket clients. Also: the warnings (file:line: key: why) for
what is not carried over, include_dir, relative paths, persistence, and the errors.

Where the conversion cannot be exact (plain-text password files, which mosquitto 2 ignores and
Hermod refuses until `hermod passwd -U` hashes them) the test checks the documented behaviour
instead.

PYTEST_DONT_REWRITE
"""

from __future__ import annotations

import os
import pathlib
import queue
import re
import shutil
import signal
import socket
import ssl
import subprocess
import time
from typing import Callable, Optional

import paho.mqtt.client as paho
import pytest

import broker_process
from broker_process import HOST, MOSQUITTO_BIN, SANITIZER_MARKS, hermod_bin, port_accepts, unique_id, wait_for

pytest_plugins = ["tls_broker"]  # the tls_pki fixture
pytestmark = pytest.mark.hermod_only("compares Hermod on the conversion with mosquitto on the original")

# mosquitto started as root drops to the mosquitto user, who cannot read pytest's temporary
# directories: keep root (the conversion warns that `user` is not carried over).
USER_LINE = "user root\n" if os.geteuid() == 0 else ""
START_DEADLINE = 10.0

_XDIST_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
_next_port = iter(range(10**9))


def free_port() -> int:
    """A free port on 127.0.0.1 from a range of this module's own under pytest-xdist (26000 +
    500 per worker, below the ephemeral range), so that suites of other checkouts running on
    the same machine, which take broker_process's ranges from 20000 up, do not take them too:
    mosquitto cannot share a port, and Hermod would share it silently (SO_REUSEPORT)."""
    if not _XDIST_WORKER.startswith("gw"):
        return broker_process.free_port()
    base = 26000 + int(_XDIST_WORKER[2:]) * 500
    for _ in range(500):
        port = base + next(_next_port) % 500
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind((HOST, port))
            except OSError:
                continue
        if not listening_on(port):  # nor on another address (a WebSocket listener of mosquitto's)
            return port
    raise RuntimeError(f"no free port in {base}-{base + 499}")


# --------------------------------------------------------------------------------------------
# Converting


def convert(conf: pathlib.Path, cwd: Optional[pathlib.Path] = None) -> subprocess.CompletedProcess:
    """Runs `hermod convert-config conf` in `cwd` (default: the file's directory)."""
    if not os.access(hermod_bin(), os.X_OK):
        pytest.fail(f"no Hermod binary at {hermod_bin()}", pytrace=False)
    cwd = cwd or conf.parent
    name = conf.name if conf.parent == cwd else str(conf)  # warnings then name "mosquitto.conf:N"
    done = subprocess.run([str(hermod_bin()), "convert-config", name], cwd=cwd,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30)
    for mark in SANITIZER_MARKS:
        assert mark not in done.stderr, done.stderr
    return done


def convert_ok(conf: pathlib.Path) -> tuple[pathlib.Path, list[str]]:
    """Converts `conf` (exit 0 expected) into converted.toml beside it; returns that path and the
    warning lines."""
    done = convert(conf)
    assert done.returncode == 0, f"convert-config failed ({done.returncode}):\n{done.stderr}"
    assert done.stdout.startswith("# Hermod configuration converted from "), done.stdout[:200]
    toml = conf.with_name("converted.toml")
    toml.write_text(done.stdout)
    return toml, done.stderr.splitlines()


def has_warning(warnings: list[str], pattern: str) -> bool:
    return any(re.match(pattern, w) for w in warnings)


# --------------------------------------------------------------------------------------------
# The two brokers


def listening_on(port: int) -> bool:
    """Whether some socket listens on `port` (any address, IPv4 or IPv6), read from /proc/net:
    no connection is made. (mosquitto 2.0.11 miscounts a connection that closes before CONNECT
    against max_connections, eclipse-mosquitto/mosquitto#1460, so readiness must not connect.)"""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = pathlib.Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for fields in (row.split() for row in rows):
            if len(fields) > 3 and fields[3] == "0A" and fields[1].endswith(f":{port:04X}"):
                return True
    return False


class Mosquitto:
    """Debian's mosquitto on a configuration file, in `cwd`, until stop(); started when every
    port in `ports` listens."""

    def __init__(self, conf: pathlib.Path, ports: list[int], cwd: pathlib.Path):
        self.log = cwd / "mosquitto.log"
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen([MOSQUITTO_BIN, "-c", str(conf)], cwd=cwd,
                                         stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        deadline = time.monotonic() + START_DEADLINE
        for port in ports:
            while not listening_on(port):
                if self.proc.poll() is not None:
                    pytest.fail(f"mosquitto exited with {self.proc.returncode}:\n{self.log.read_text()}",
                                pytrace=False)
                if time.monotonic() > deadline:
                    self.stop()
                    pytest.fail(f"mosquitto did not listen on {port}:\n{self.log.read_text()}",
                                pytrace=False)
                time.sleep(0.02)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_hermod(make_broker, toml: pathlib.Path, ports: list[int]):
    """Hermod on the converted file (from its own working directory, so relative paths would
    not work), ready when every port accepts."""
    broker = make_broker(port=ports[0], config_file=False, args=("-c", str(toml)))
    for port in ports[1:]:
        wait_for(lambda: port_accepts(HOST, port) or not broker.alive, timeout=START_DEADLINE,
                 message=f"Hermod listening on {port}")
        assert broker.alive, broker.stderr_tail()
    return broker


Probe = Callable[[], tuple[bool, str]]


def run_probes(probes: dict[str, Probe]) -> dict[str, tuple[bool, str]]:
    return {name: probe() for name, probe in probes.items()}


def compare(make_broker, conf: pathlib.Path, ports: list[int], probes: dict[str, Probe],
            expected: dict[str, bool]) -> tuple[list[str], object]:
    """Converts `conf`, runs the probes against mosquitto on it and then against Hermod on the
    conversion, and checks that both accept exactly the clients `expected` says (mosquitto too:
    that the test is about what it believes). Returns the warnings and the Hermod broker."""
    toml, warnings = convert_ok(conf)
    mosquitto = Mosquitto(conf, ports, conf.parent)
    try:
        by_mosquitto = run_probes(probes)
    finally:
        mosquitto.stop()
    hermod = start_hermod(make_broker, toml, ports)
    by_hermod = run_probes(probes)
    for name, want in expected.items():
        got_m, why_m = by_mosquitto[name]
        got_h, why_h = by_hermod[name]
        verb = "accept" if want else "refuse"
        assert got_m == want, f"mosquitto should {verb} {name}: {why_m}\n{conf.read_text()}"
        assert got_h == want, (f"Hermod should {verb} {name} as mosquitto does: {why_h}\n"
                               f"{toml.read_text()}\n--- Hermod's log ---\n{hermod.stderr_tail()}")
    return warnings, hermod


# --------------------------------------------------------------------------------------------
# Clients


def pub(port: int, *args: str, topic: str = "convert/test", message: str = "x") -> tuple[bool, str]:
    """mosquitto_pub to 127.0.0.1:port: (accepted, why)."""
    done = subprocess.run(["mosquitto_pub", "-h", HOST, "-p", str(port), "-t", topic, "-m", message,
                           "-i", unique_id("conv"), *args], stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=15)
    return done.returncode == 0, (done.stderr or done.stdout).strip() or f"exit {done.returncode}"


def tls_args(pki, cert=None) -> list[str]:
    args = ["--cafile", str(pki.ca.cert)]
    if cert is not None:
        args += ["--cert", str(cert.cert), "--key", str(cert.key)]
    return args


def paho_connect(port: int, ca: Optional[pathlib.Path] = None, websockets: bool = False,
                 tls_version: Optional[ssl.TLSVersion] = None, path: str = "/mqtt",
                 timeout: float = 5.0) -> tuple[bool, str]:
    """paho-mqtt over TCP or WebSocket, with TLS if `ca` (then `tls_version`, if given, is the
    only version it offers): (CONNACK 0 received, why). mosquitto_pub cannot cap the version:
    its --tls-version is a minimum."""
    client = paho.Client(client_id=unique_id("paho"), transport="websockets" if websockets else "tcp")
    if websockets:
        client.ws_set_options(path=path)
    if ca is not None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.load_verify_locations(cafile=str(ca))
        if tls_version is not None:
            context.minimum_version = context.maximum_version = tls_version
        client.tls_set_context(context)
    events: "queue.Queue[object]" = queue.Queue()
    client.on_connect = lambda c, u, flags, rc: events.put(rc)
    client.on_disconnect = lambda c, u, rc: events.put(f"disconnected ({rc})")
    try:
        client.connect(HOST, port, keepalive=10)
    except (OSError, ssl.SSLError, ValueError) as e:
        return False, f"connect failed: {e!r}"
    client.loop_start()
    try:
        rc = events.get(timeout=timeout)
    except queue.Empty:
        rc = f"no CONNACK within {timeout:g} s"
    finally:
        client.disconnect()
        client.loop_stop()
    return rc == 0, f"CONNACK {rc}" if isinstance(rc, int) else str(rc)


class Held:
    """A paho connection kept open (to fill max_connections)."""

    def __init__(self, port: int):
        self.client = paho.Client(client_id=unique_id("held"))
        self.rc: "queue.Queue[int]" = queue.Queue()
        self.client.on_connect = lambda c, u, flags, rc: self.rc.put(rc)
        self.client.connect(HOST, port, keepalive=30)
        self.client.loop_start()
        assert self.rc.get(timeout=5) == 0

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


# --------------------------------------------------------------------------------------------
# Fixtures


@pytest.fixture
def confdir(tmp_path) -> pathlib.Path:
    d = tmp_path / "mosquitto"
    d.mkdir()
    return d


@pytest.fixture
def pki_here(confdir, tls_pki):
    """The test PKI's files copied into the configuration directory, to be named relatively."""
    names = {"ca.pem": tls_pki.ca.cert, "server.pem": tls_pki.server_ec.cert,
             "server.key": tls_pki.server_ec.key, "crl.pem": tls_pki.crl}
    for name, source in names.items():
        shutil.copy(source, confdir / name)
    return tls_pki


def mosquitto_passwd(path: pathlib.Path, user: str, password: str, *options: str) -> None:
    args = ["mosquitto_passwd", *options, "-b"] + (["-c"] if not path.exists() else []) + [str(path), user, password]
    done = subprocess.run(args, capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr


# --------------------------------------------------------------------------------------------
# The command


def test_output_loads_in_hermod_and_warnings_name_file_line_key_and_why(confdir, make_broker):
    port = free_port()
    conf = confdir / "mosquitto.conf"
    conf.write_text(
        "# a mosquitto configuration\n"
        "pid_file /run/mosquitto/mosquitto.pid\n"
        f"listener {port} 127.0.0.1\n"
        "allow_anonymous true\n"
        "check_retain_source true\n"
        "log_dest syslog\n"
        "connection upstream\n"
        "address 192.0.2.1:1883\n")
    toml, warnings = convert_ok(conf)
    assert warnings == [
        "mosquitto.conf:2: pid_file: Hermod writes no pid file (under systemd it reports readiness with "
        "Type=notify)",
        "mosquitto.conf:5: check_retain_source: not supported by Hermod: a retained message is not checked again "
        "against its publisher's write access (every delivery is checked against the subscriber's read access)",
        "mosquitto.conf:6: log_dest: Hermod logs to stderr (the journal under systemd); [broker] log_level "
        "chooses how much",
        "mosquitto.conf:7: connection: bridges are not supported by Hermod (bridge \"upstream\" is not carried "
        "over)",
        "mosquitto.conf:8: address: belongs to bridge \"upstream\"; bridges are not supported by Hermod",
    ]
    assert f"converted from {conf}" in toml.read_text()
    start_hermod(make_broker, toml, [port])
    assert pub(port)[0]


def test_unreadable_file_is_an_error_with_exit_1(confdir):
    done = convert(confdir / "missing.conf")
    assert done.returncode == 1
    assert "missing.conf: cannot read: No such file or directory" in done.stderr
    assert done.stdout == ""


def test_value_mosquitto_refuses_is_an_error_naming_file_and_line(confdir):
    conf = confdir / "bad.conf"
    conf.write_text(f"{USER_LINE}listener {free_port()} 127.0.0.1\n\nallow_anonymous yes\n")
    line = 3 + (1 if USER_LINE else 0)
    done = convert(conf)
    assert done.returncode == 1, done.stdout
    assert re.search(rf"bad\.conf:{line}: allow_anonymous: \"yes\" is not true or false", done.stderr), done.stderr
    assert done.stdout == ""
    refused = subprocess.run([MOSQUITTO_BIN, "-c", str(conf)], cwd=confdir, capture_output=True, text=True,
                             timeout=10, stdin=subprocess.DEVNULL)
    assert refused.returncode != 0, "mosquitto refuses the same file"
    assert f"bad.conf:{line}" in refused.stdout + refused.stderr


# --------------------------------------------------------------------------------------------
# Listeners and anonymous clients


def test_anonymous_clients_on_a_listener(confdir, make_broker):
    port = free_port()
    conf = confdir / "mosquitto.conf"
    conf.write_text(f"{USER_LINE}listener {port} 127.0.0.1\nallow_anonymous true\n")
    compare(make_broker, conf, [port], {"anonymous": lambda: pub(port),
                                        "any user": lambda: pub(port, "-u", "x", "-P", "y")},
            {"anonymous": True, "any user": True})


def test_listener_without_auth_refuses_everyone_as_in_mosquitto_2(confdir, make_broker):
    port = free_port()
    conf = confdir / "mosquitto.conf"
    conf.write_text(f"{USER_LINE}listener {port} 127.0.0.1\n")
    warnings, _ = compare(make_broker, conf, [port],
                          {"anonymous": lambda: pub(port), "a user": lambda: pub(port, "-u", "x", "-P", "y")},
                          {"anonymous": False, "a user": False})
    assert has_warning(warnings, r"mosquitto\.conf: allow_anonymous: false \(mosquitto's default"), warnings


def test_default_listener_from_port_and_bind_address(confdir, make_broker):
    port = free_port()
    conf = confdir / "mosquitto.conf"
    conf.write_text(f"{USER_LINE}bind_address 127.0.0.1\nport {port}\nallow_anonymous true\n")
    compare(make_broker, conf, [port], {"anonymous": lambda: pub(port)}, {"anonymous": True})


def test_settings_after_a_listener_line_belong_to_it(confdir, make_broker, pki_here):
    plain, tls = free_port(), free_port()
    conf = confdir / "mosquitto.conf"
    conf.write_text(f"{USER_LINE}allow_anonymous true\n"
                    f"listener {plain} 127.0.0.1\n"
                    f"listener {tls} 127.0.0.1\ncertfile server.pem\nkeyfile server.key\n")
    compare(make_broker, conf, [plain, tls],
            {"plain on the plain listener": lambda: pub(plain),
             "TLS on the plain listener": lambda: pub(plain, *tls_args(pki_here)),
             "TLS on the TLS listener": lambda: pub(tls, *tls_args(pki_here)),
             "plain on the TLS listener": lambda: pub(tls)},
            {"plain on the plain listener": True, "TLS on the plain listener": False,
             "TLS on the TLS listener": True, "plain on the TLS listener": False})


def test_max_connections_of_a_listener(confdir, make_broker):
    port = free_port()
    conf = confdir / "mosquitto.conf"
    conf.write_text(f"{USER_LINE}listener {port} 127.0.0.1\nmax_connections 1\nallow_anonymous true\n")

    def second() -> tuple[bool, str]:
        first = Held(port)
        try:
            return pub(port)
        finally:
            first.close()

    # The held client must be mosquitto's first connection: once one has closed, mosquitto 2.0.11
    # counts too few (eclipse-mosquitto/mosquitto#1460) and lets a second client in.
    compare(make_broker, conf, [port], {"a second client": second}, {"a second client": False})


@pytest.mark.time_limit(40)
def test_max_connections_stays_with_its_listener(confdir, make_broker):
    limited, open_port = free_port(), free_port()
    conf = confdir / "mosquitto.conf"
    conf.write_text(f"{USER_LINE}allow_anonymous true\nlistener {limited} 127.0.0.1\nmax_connections 1\n"
                    f"listener {open_port} 127.0.0.1\n")

    def with_one_held(port: int) -> Probe:
        def probe() -> tuple[bool, str]:
            first = Held(limited)
            try:
                return pub(port)
            finally:
                first.close()
        return probe

    # One probe per broker start on the limited listener: see mosquitto#1460 above.
    warnings, _ = compare(make_broker, conf, [limited, open_port],
                          {"a second client on the limited listener": with_one_held(limited)},
                          {"a second client on the limited listener": False})
    assert not has_warning(warnings, r".*max_connections"), warnings
    text = conf.with_name("converted.toml").read_text()
    assert text.count("max_connections = 1") == 1 and "[limits]\nmax_connections" not in text, text
    # Fresh ports for the second pair of brokers: the first pair's may still be closing, and a
    # broker taken for started on a port its predecessor held got SIGTERM before its handler.
    limited, open_port = free_port(), free_port()
    conf.write_text(f"{USER_LINE}allow_anonymous true\nlistener {limited} 127.0.0.1\nmax_connections 1\n"
                    f"listener {open_port} 127.0.0.1\n")
    compare(make_broker, conf, [limited, open_port],
            {"a client on the other listener while the limited one is full": with_one_held(open_port)},
            {"a client on the other listener while the limited one is full": True})


def test_per_listener_settings_that_agree(confdir, make_broker):
    a, b = free_port(), free_port()
    conf = confdir / "mosquitto.conf"
    conf.write_text(f"{USER_LINE}per_listener_settings true\n"
                    f"listener {a} 127.0.0.1\nallow_anonymous true\n"
                    f"listener {b} 127.0.0.1\nallow_anonymous true\n")
    warnings, _ = compare(make_broker, conf, [a, b], {"first": lambda: pub(a), "second": lambda: pub(b)},
                          {"first": True, "second": True})
    assert not has_warning(warnings, r".*per_listener_settings"), warnings


@pytest.mark.time_limit(40)
def test_per_listener_settings_that_differ_become_the_strictest(confdir, make_broker):
    a, b = free_port(), free_port()
    conf = confdir / "mosquitto.conf"
    conf.write_text(f"{USER_LINE}per_listener_settings true\n"
                    f"listener {a} 127.0.0.1\nallow_anonymous true\n"
                    f"listener {b} 127.0.0.1\nallow_anonymous false\n")
    toml, warnings = convert_ok(conf)
    assert has_warning(warnings, r"mosquitto\.conf:\d+: per_listener_settings: the listeners differ in "
                                 r"allow_anonymous"), warnings
    mosquitto = Mosquitto(conf, [a, b], confdir)
    try:
        assert pub(a)[0] and not pub(b)[0]
    finally:
        mosquitto.stop()
    start_hermod(make_broker, toml, [a, b])
    assert not pub(a)[0] and not pub(b)[0], "Hermod's one [auth] takes the stricter listener's setting"


# --------------------------------------------------------------------------------------------
# Passwords


@pytest.mark.time_limit(40)
def test_mosquitto_password_file_is_carried_over_as_it_is(confdir, make_broker):
    port = free_port()
    mosquitto_passwd(confdir / "passwd", "alice", "secret")
    mosquitto_passwd(confdir / "passwd", "bob", "hunter2", "-H", "sha512")
    conf = confdir / "mosquitto.conf"
    conf.write_text(f"{USER_LINE}listener {port} 127.0.0.1\npassword_file passwd\nallow_anonymous false\n")
    warnings, _ = compare(make_broker, conf, [port],
                          {"alice ($7$)": lambda: pub(port, "-u", "alice", "-P", "secret"),
                           "bob ($6$)": lambda: pub(port, "-u", "bob", "-P", "hunter2"),
                           "alice, wrong password": lambda: pub(port, "-u", "alice", "-P", "wrong"),
                           "bob, alice's password": lambda: pub(port, "-u", "bob", "-P", "secret"),
                           "anonymous": lambda: pub(port)},
                          {"alice ($7$)": True, "bob ($6$)": True, "alice, wrong password": False,
                           "bob, alice's password": False, "anonymous": False})
    assert not has_warning(warnings, r".*password_file"), warnings
    assert f'password_file = "{confdir / "passwd"}"' in conf.with_name("converted.toml").read_text()


@pytest.mark.time_limit(60)
def test_plain_text_password_file_warns_to_run_hermod_passwd_u(confdir, make_broker):
    port = free_port()
    passwd = confdir / "passwd"
    mosquitto_passwd(passwd, "alice", "secret")
    with passwd.open("a") as f:
        f.write("carol:carol-pw\n")
    conf = confdir / "mosquitto.conf"
    conf.write_text(f"{USER_LINE}listener {port} 127.0.0.1\npassword_file passwd\nallow_anonymous false\n")
    probes = {"alice": lambda: pub(port, "-u", "alice", "-P", "secret"),
              "carol (plain text)": lambda: pub(port, "-u", "carol", "-P", "carol-pw"),
              "anonymous": lambda: pub(port)}
    toml, warnings = convert_ok(conf)
    assert has_warning(warnings, r"mosquitto\.conf:\d+: password_file: the file holds plain-text passwords, "
                                 r"which mosquitto 2 ignores and Hermod refuses \(.*passwd:2: user \"carol\".*\)\. "
                                 rf"Run `hermod passwd -U {re.escape(str(passwd))}` before starting Hermod"), warnings
    mosquitto = Mosquitto(conf, [port], confdir)
    try:
        by_mosquitto = {k: v[0] for k, v in run_probes(probes).items()}
    finally:
        mosquitto.stop()
    assert by_mosquitto == {"alice": True, "carol (plain text)": False, "anonymous": False}, \
        "mosquitto 2 drops the plain-text line"
    # As the warning says: Hermod refuses the file until it is hashed, naming file and line.
    refused = subprocess.run([str(hermod_bin()), "-c", str(toml)], stdin=subprocess.DEVNULL,
                             capture_output=True, text=True, timeout=30)
    assert refused.returncode != 0 and f"{passwd}:2:" in refused.stderr and "hermod passwd -U" in refused.stderr, \
        refused.stderr
    done = subprocess.run([str(hermod_bin()), "passwd", "-U", str(passwd)], stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    start_hermod(make_broker, toml, [port])
    assert {k: v[0] for k, v in run_probes(probes).items()} == {
        "alice": True, "carol (plain text)": True, "anonymous": False}, "Hermod now accepts carol as well"


ACL = ("user alice\ntopic write conv/alice/#\n\n"
       "user bob\ntopic read conv/#\n\n"
       "user watch\ntopic readwrite conv/#\n")
ACL_USERS = {"alice": "alice-pw", "bob": "bob-pw", "watch": "watch-pw"}


class Watcher:
    """paho as user watch, subscribed to conv/#: publish_seen() tells whether a PUBLISH arrives,
    by a sentinel published after it (no waiting for something not to happen)."""

    def __init__(self, port: int):
        self.client = paho.Client(client_id=unique_id("watch"))
        self.client.username_pw_set("watch", ACL_USERS["watch"])
        self.got: "queue.Queue[object]" = queue.Queue()
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = lambda c, u, mid, granted: self.got.put(("suback", tuple(granted)))
        self.client.on_message = lambda c, u, m: self.got.put((m.topic, m.payload.decode()))
        self.client.connect(HOST, port, keepalive=30)
        self.client.loop_start()
        assert self.got.get(timeout=5) == 0, "watch connects"
        assert self.got.get(timeout=5) == ("suback", (1,)), "watch may read conv/#"

    def _on_connect(self, client, userdata, flags, rc) -> None:
        self.got.put(rc)
        if rc == 0:
            client.subscribe("conv/#", qos=1)

    def publish_seen(self, port: int, user: str, topic: str) -> tuple[bool, str]:
        payload, sentinel = unique_id("probe"), unique_id("sentinel")
        sent = pub(port, "-u", user, "-P", ACL_USERS[user], "-q", "1", topic=topic, message=payload)
        if not sent[0]:
            return False, sent[1]
        assert pub(port, "-u", "watch", "-P", ACL_USERS["watch"], "-q", "1", topic="conv/sentinel",
                   message=sentinel)[0]
        seen = []
        while True:
            got = self.got.get(timeout=5)
            seen.append(got)
            if got == ("conv/sentinel", sentinel):
                return (topic, payload) in seen, f"watch received {seen}"

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.mark.time_limit(60)
def test_acl_file_is_carried_over_as_it_is(confdir, make_broker):
    port = free_port()
    for user, password in ACL_USERS.items():
        mosquitto_passwd(confdir / "passwd", user, password)
    (confdir / "topics.acl").write_text(ACL)
    conf = confdir / "mosquitto.conf"
    conf.write_text(f"{USER_LINE}listener {port} 127.0.0.1\npassword_file passwd\nacl_file topics.acl\n")
    cases = {"alice writes conv/alice/x": ("alice", "conv/alice/x"),
             "alice writes conv/bob/x": ("alice", "conv/bob/x"),
             "bob writes conv/bob/x (read only)": ("bob", "conv/bob/x")}
    expected = {"alice writes conv/alice/x": True, "alice writes conv/bob/x": False,
                "bob writes conv/bob/x (read only)": False}

    def run_cases() -> dict[str, tuple[bool, str]]:
        watcher = Watcher(port)
        try:
            return {name: watcher.publish_seen(port, *case) for name, case in cases.items()}
        finally:
            watcher.close()

    toml, warnings = convert_ok(conf)
    assert not has_warning(warnings, r".*acl_file"), warnings
    assert f'acl_file = "{confdir / "topics.acl"}"' in toml.read_text()
    mosquitto = Mosquitto(conf, [port], confdir)
    try:
        by_mosquitto = run_cases()
    finally:
        mosquitto.stop()
    hermod = start_hermod(make_broker, toml, [port])
    by_hermod = run_cases()
    for name, want in expected.items():
        assert by_mosquitto[name][0] == want, f"mosquitto: {name}: {by_mosquitto[name][1]}"
        assert by_hermod[name][0] == want, (f"Hermod as mosquitto: {name}: {by_hermod[name][1]}\n"
                                            f"{hermod.stderr_tail()}")


@pytest.mark.time_limit(40)
def test_anonymous_clients_beside_a_password_file(confdir, make_broker):
    port = free_port()
    mosquitto_passwd(confdir / "passwd", "alice", "secret")
    conf = confdir / "mosquitto.conf"
    conf.write_text(f"{USER_LINE}listener {port} 127.0.0.1\npassword_file passwd\nallow_anonymous true\n")
    compare(make_broker, conf, [port],
            {"anonymous": lambda: pub(port), "unknown user": lambda: pub(port, "-u", "mallory", "-P", "x")},
            {"anonymous": True, "unknown user": False})


# --------------------------------------------------------------------------------------------
# TLS


@pytest.mark.time_limit(40)
def test_tls_listener_with_cafile_certfile_keyfile(confdir, make_broker, pki_here):
    port = free_port()
    conf = confdir / "mosquitto.conf"
    conf.write_text(f"{USER_LINE}listener {port} 127.0.0.1\ncafile ca.pem\ncertfile server.pem\n"
                    "keyfile server.key\nallow_anonymous true\n")
    compare(make_broker, conf, [port],
            {"TLS": lambda: pub(port, *tls_args(pki_here)),
             "TLS with a client certificate": lambda: pub(port, *tls_args(pki_here, pki_here.alice)),
             "plain MQTT": lambda: pub(port)},
            {"TLS": True, "TLS with a client certificate": True, "plain MQTT": False})


@pytest.mark.time_limit(40)
@pytest.mark.parametrize("ca", ["cafile ca.pem", "capath ca-dir"])
def test_require_certificate(confdir, make_broker, pki_here, ca):
    port = free_port()
    shutil.copytree(pki_here.ca_dir, confdir / "ca-dir", symlinks=True)
    conf = confdir / "mosquitto.conf"
    conf.write_text(f"{USER_LINE}listener {port} 127.0.0.1\n{ca}\ncertfile server.pem\n"
                    "keyfile server.key\nrequire_certificate true\nallow_anonymous true\n")
    compare(make_broker, conf, [port],
            {"alice's certificate": lambda: pub(port, *tls_args(pki_here, pki_here.alice)),
             "no certificate": lambda: pub(port, *tls_args(pki_here)),
             "another CA's certificate": lambda: pub(port, *tls_args(pki_here, pki_here.stranger))},
            {"alice's certificate": True, "no certificate": False, "another CA's certificate": False})


@pytest.mark.time_limit(40)
def test_crlfile(confdir, make_broker, pki_here):
    port = free_port()
    conf = confdir / "mosquitto.conf"
    conf.write_text(f"{USER_LINE}listener {port} 127.0.0.1\ncafile ca.pem\ncertfile server.pem\n"
                    "keyfile server.key\nrequire_certificate true\ncrlfile crl.pem\nallow_anonymous true\n")
    compare(make_broker, conf, [port],
            {"alice": lambda: pub(port, *tls_args(pki_here, pki_here.alice)),
             "bob (revoked)": lambda: pub(port, *tls_args(pki_here, pki_here.bob))},
            {"alice": True, "bob (revoked)": False})


@pytest.mark.time_limit(40)
@pytest.mark.parametrize("key", ["use_identity_as_username", "use_subject_as_username"])
def test_certificate_identity_as_username(confdir, make_broker, pki_here, key):
    # No password file and no anonymous clients: only a certificate gets a client in.
    port = free_port()
    conf = confdir / "mosquitto.conf"
    conf.write_text(f"{USER_LINE}listener {port} 127.0.0.1\ncafile ca.pem\ncertfile server.pem\n"
                    f"keyfile server.key\nrequire_certificate true\n{key} true\n"
                    "allow_anonymous false\n")
    compare(make_broker, conf, [port],
            {"alice's certificate": lambda: pub(port, *tls_args(pki_here, pki_here.alice)),
             "no certificate": lambda: pub(port, *tls_args(pki_here))},
            {"alice's certificate": True, "no certificate": False})


@pytest.mark.time_limit(40)
def test_require_certificate_false_asks_for_none(confdir, make_broker, pki_here):
    port = free_port()
    conf = confdir / "mosquitto.conf"
    conf.write_text(f"{USER_LINE}listener {port} 127.0.0.1\ncafile ca.pem\ncertfile server.pem\n"
                    "keyfile server.key\nrequire_certificate false\nallow_anonymous true\n")
    compare(make_broker, conf, [port],
            {"no certificate": lambda: pub(port, *tls_args(pki_here)),
             "another CA's certificate": lambda: pub(port, *tls_args(pki_here, pki_here.stranger))},
            {"no certificate": True, "another CA's certificate": True})


@pytest.mark.time_limit(40)
def test_tls_version(confdir, make_broker, pki_here):
    port = free_port()
    conf = confdir / "mosquitto.conf"
    conf.write_text(f"{USER_LINE}listener {port} 127.0.0.1\ncertfile server.pem\nkeyfile server.key\n"
                    "tls_version tlsv1.3\nallow_anonymous true\n")
    compare(make_broker, conf, [port],
            {"TLS 1.3": lambda: paho_connect(port, ca=pki_here.ca.cert, tls_version=ssl.TLSVersion.TLSv1_3),
             "TLS 1.2": lambda: paho_connect(port, ca=pki_here.ca.cert, tls_version=ssl.TLSVersion.TLSv1_2)},
            {"TLS 1.3": True, "TLS 1.2": False})


@pytest.mark.time_limit(40)
def test_ciphers(confdir, make_broker, pki_here):
    # The server key is ECDSA: an ECDHE-RSA-only list leaves TLS 1.2 no cipher.
    port = free_port()
    conf = confdir / "mosquitto.conf"
    conf.write_text(f"{USER_LINE}listener {port} 127.0.0.1\ncertfile server.pem\nkeyfile server.key\n"
                    "ciphers ECDHE-RSA-AES128-GCM-SHA256\nciphers_tls1.3 TLS_AES_256_GCM_SHA384\n"
                    "allow_anonymous true\n")
    compare(make_broker, conf, [port],
            {"TLS 1.2": lambda: paho_connect(port, ca=pki_here.ca.cert, tls_version=ssl.TLSVersion.TLSv1_2),
             "TLS 1.3": lambda: paho_connect(port, ca=pki_here.ca.cert, tls_version=ssl.TLSVersion.TLSv1_3)},
            {"TLS 1.2": False, "TLS 1.3": True})


# --------------------------------------------------------------------------------------------
# WebSocket


@pytest.mark.time_limit(40)
def test_websockets_listener(confdir, make_broker):
    # mosquitto 2.0.11 cannot start with WebSocket listeners only: a plain one comes first.
    plain, ws = free_port(), free_port()
    conf = confdir / "mosquitto.conf"
    conf.write_text(f"{USER_LINE}allow_anonymous true\nlistener {plain} 127.0.0.1\n"
                    f"listener {ws} 127.0.0.1\nprotocol websockets\n")
    toml, _ = convert_ok(conf)
    assert 'transport = "ws"' in toml.read_text()
    compare(make_broker, conf, [plain, ws],
            {"WebSocket": lambda: paho_connect(ws, websockets=True), "plain MQTT on the WebSocket port": lambda: pub(ws)},
            {"WebSocket": True, "plain MQTT on the WebSocket port": False})


@pytest.mark.time_limit(40)
def test_websockets_listener_with_tls(confdir, make_broker, pki_here):
    plain, wss = free_port(), free_port()
    conf = confdir / "mosquitto.conf"
    conf.write_text(f"{USER_LINE}allow_anonymous true\nlistener {plain} 127.0.0.1\n"
                    f"listener {wss} 127.0.0.1\nprotocol websockets\ncertfile server.pem\nkeyfile server.key\n")
    toml, _ = convert_ok(conf)
    assert 'transport = "wss"' in toml.read_text()
    compare(make_broker, conf, [plain, wss],
            {"WebSocket over TLS": lambda: paho_connect(wss, ca=pki_here.ca.cert, websockets=True),
             "WebSocket without TLS": lambda: paho_connect(wss, websockets=True)},
            {"WebSocket over TLS": True, "WebSocket without TLS": False})


# --------------------------------------------------------------------------------------------
# Files: include_dir, relative paths, persistence


@pytest.mark.time_limit(40)
def test_include_dir_files_are_read_in_order_and_warnings_name_them(confdir, make_broker, pki_here):
    plain, tls = free_port(), free_port()
    (confdir / "conf.d").mkdir()
    (confdir / "conf.d" / "B-tls.conf").write_text(
        f"listener {tls} 127.0.0.1\ncertfile server.pem\nkeyfile server.key\n")
    (confdir / "conf.d" / "a-auth.conf").write_text("allow_anonymous true\nlog_type all\n")
    (confdir / "conf.d" / "A-plain.conf").write_text(f"listener {plain} 127.0.0.1\n")
    (confdir / "conf.d" / "notes.txt").write_text("not read\n")
    conf = confdir / "mosquitto.conf"
    conf.write_text(f"{USER_LINE}include_dir conf.d\n")
    warnings, _ = compare(make_broker, conf, [plain, tls],
                          {"plain": lambda: pub(plain), "TLS": lambda: pub(tls, *tls_args(pki_here))},
                          {"plain": True, "TLS": True})
    assert "conf.d/a-auth.conf:2: log_type: Hermod logs to stderr (the journal under systemd); [broker] " \
           "log_level chooses how much" in warnings, warnings
    toml = (confdir / "converted.toml").read_text()
    # mosquitto's order: upper case before lower case of the same letter, then B.
    assert toml.index(f"port = {plain}") < toml.index(f"port = {tls}")


def test_converted_file_names_absolute_paths(confdir, pki_here, tmp_path):
    conf = confdir / "mosquitto.conf"
    conf.write_text(f"listener {free_port()} 127.0.0.1\ncertfile ./server.pem\nkeyfile sub/../server.key\n"
                    "allow_anonymous true\n")
    done = convert(conf, cwd=confdir)
    assert done.returncode == 0, done.stderr
    assert f'cert_file = "{confdir}/server.pem"' in done.stdout
    assert f'key_file = "{confdir}/server.key"' in done.stdout
    # Relative to the working directory, as mosquitto opens them: from elsewhere, other files.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    assert f'cert_file = "{elsewhere}/server.pem"' in convert(conf, cwd=elsewhere).stdout


@pytest.mark.time_limit(60)
def test_persistence_location_holds_both_stores(confdir, make_broker):
    port = free_port()
    (confdir / "data").mkdir()
    conf = confdir / "mosquitto.conf"
    conf.write_text(f"{USER_LINE}listener {port} 127.0.0.1\nallow_anonymous true\n"
                    "persistence true\npersistence_location data/\n")
    toml, _ = convert_ok(conf)
    assert f'path = "{confdir}/data/hermod"' in toml.read_text()
    mosquitto = Mosquitto(conf, [port], confdir)
    try:
        assert pub(port)[0]
    finally:
        mosquitto.stop()
    assert (confdir / "data" / "mosquitto.db").exists(), "mosquitto saved its database there"
    broker = start_hermod(make_broker, toml, [port])
    stored = pub(port, "-r", "-q", "1", topic="convert/retained", message="kept")
    assert stored[0], f"{stored[1]}\n{broker.stderr_tail()}"
    broker.stop()
    assert (confdir / "data" / "hermod").is_dir()
    start_hermod(make_broker, toml, [port])
    got = subprocess.run(["mosquitto_sub", "-h", HOST, "-p", str(port), "-t", "convert/retained", "-C", "1",
                          "-W", "5"], capture_output=True, text=True, timeout=15, stdin=subprocess.DEVNULL)
    assert got.stdout.strip() == "kept", got


@pytest.mark.time_limit(40)
def test_limits_are_carried_over_and_load(confdir, make_broker):
    port = free_port()
    conf = confdir / "mosquitto.conf"
    conf.write_text(f"{USER_LINE}listener {port} 127.0.0.1\nallow_anonymous true\nmax_inflight_messages 10\n"
                    "max_queued_messages 500\nmessage_size_limit 4096\nmax_keepalive 300\n"
                    "max_connections 100\nsys_interval 5\nmemory_limit 268435456\n")
    warnings, _ = compare(make_broker, conf, [port], {"anonymous": lambda: pub(port)}, {"anonymous": True})
    text = (confdir / "converted.toml").read_text()
    for line in ("max_inflight = 10", "max_queued_messages = 500", "max_keepalive = 300",
                 "max_connections = 100", "sys_interval = 5", "max_packet_size = 69640",
                 "memory_budget = 268435456"):
        assert line in text, text
    assert has_warning(warnings, r"mosquitto\.conf:\d+: message_size_limit: mosquitto limits a PUBLISH payload"), \
        warnings
