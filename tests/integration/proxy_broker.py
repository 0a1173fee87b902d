"""Brokers behind the PROXY protocol, for test_proxy_protocol.py: PROXY headers built by hand
(version 1 text lines, version 2 binary headers with TLVs such as PP2_TYPE_SSL), a raw MQTT
client (and a TLS one) that sends a header first, Debian's haproxy run in the foreground per
test, and a broker with a plain listener on the Broker's own port (so its readiness check and the
usual helpers work) plus the `proxy_protocol` listeners a test asks for. Test modules load it as
a plugin (`pytest_plugins = ["tls_broker", "proxy_broker"]`) for the `make_proxy_broker` and
`make_haproxy` fixtures.

haproxy: `/usr/sbin/haproxy -f CFG -db` (foreground, no daemon, no master), one thread, mode
tcp, its log on its own stdout (`log stdout format raw`) in a file of the test's directory with a
fixed line format ("client ADDRESS:PORT via ADDRESS:PORT to BACKEND/SERVER TERMINATION"), so a
test learns which source address and port haproxy saw for each client and which address haproxy
itself connected to the broker from. Every haproxy gets SIGTERM (then SIGKILL) at teardown.

Every wait has a deadline; the only pauses are between the pieces of a header deliberately
split across several writes.

PYTEST_DONT_REWRITE
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import pathlib
import re
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import time
from collections import deque
from typing import Any, Optional, Sequence

import pytest

import mqtt_raw
from auth_broker import set_user
from broker_process import DEFAULT_CONFIG, HOST, Broker, free_ports, hermod_toml, wait_for
from tls_broker import Endpoint, TlsClient, listening, toml_value

HAPROXY = "/usr/sbin/haproxy"
CONFIG_NAME = "hermod.toml"
PASSWORD_FILE = "users.pw"

# Log marks of the broker (src/broker/worker.cpp, src/net/proxy_protocol.cpp).
NOT_TRUSTED = "refused: not a trusted proxy of listener"
NO_HEADER = "no PROXY protocol header"

# --------------------------------------------------------------------------------------------
# PROXY protocol headers (https://www.haproxy.org/download/2.6/doc/proxy-protocol.txt)

V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"
V2_LOCAL, V2_PROXY = 0x0, 0x1
AF_UNSPEC, TCP4, TCP6 = 0x00, 0x11, 0x21
PP2_TYPE_ALPN, PP2_TYPE_AUTHORITY, PP2_TYPE_NOOP = 0x01, 0x02, 0x04
PP2_TYPE_SSL, PP2_SUBTYPE_SSL_VERSION, PP2_SUBTYPE_SSL_CN = 0x20, 0x21, 0x22
PP2_CLIENT_SSL, PP2_CLIENT_CERT_CONN, PP2_CLIENT_CERT_SESS = 0x01, 0x02, 0x04


def v1_header(source: str, source_port: int, dest: str = "127.0.0.1",
              dest_port: int = 1883) -> bytes:
    """`PROXY TCP4|TCP6 SRC DST SPORT DPORT\\r\\n` (the family follows `source`)."""
    family = "TCP6" if ipaddress.ip_address(source).version == 6 else "TCP4"
    return f"PROXY {family} {source} {dest} {source_port} {dest_port}\r\n".encode()


V1_UNKNOWN = b"PROXY UNKNOWN\r\n"


def tlv(kind: int, value: bytes) -> bytes:
    return struct.pack("!BH", kind, len(value)) + value


def ssl_tlv(client: int = PP2_CLIENT_SSL | PP2_CLIENT_CERT_CONN, verify: int = 0,
            cn: Optional[str] = None, version: Optional[str] = "TLSv1.3") -> bytes:
    """PP2_TYPE_SSL: the client flags, the verify result (0: the certificate verified) and the
    sub-TLVs haproxy's send-proxy-v2-ssl-cn sends (the TLS version, the certificate's CN)."""
    sub = b""
    if version is not None:
        sub += tlv(PP2_SUBTYPE_SSL_VERSION, version.encode())
    if cn is not None:
        sub += tlv(PP2_SUBTYPE_SSL_CN, cn.encode())
    return tlv(PP2_TYPE_SSL, struct.pack("!BI", client, verify) + sub)


def v2_header(source: Optional[str] = None, source_port: int = 0, dest: Optional[str] = None,
              dest_port: int = 1883, command: int = V2_PROXY, tlvs: bytes = b"",
              version: int = 2, family: Optional[int] = None) -> bytes:
    """A version 2 header: the signature, version/command, family, length, the addresses (none
    if `source` is None: AF_UNSPEC) and `tlvs`."""
    if source is None:
        fam, addresses = AF_UNSPEC, b""
    else:
        src = ipaddress.ip_address(source)
        dst = ipaddress.ip_address(dest or ("127.0.0.1" if src.version == 4 else "::1"))
        fam = TCP4 if src.version == 4 else TCP6
        addresses = src.packed + dst.packed + struct.pack("!HH", source_port, dest_port)
    if family is not None:
        fam = family
    body = addresses + tlvs
    return (V2_SIGNATURE + bytes([(version << 4) | command, fam]) + struct.pack("!H", len(body))
            + body)


# --------------------------------------------------------------------------------------------
# Clients that speak first with a PROXY header

SPLIT_PAUSE = 0.03  # between the pieces of a header split across writes (not a synchronisation)


def open_socket(host: str, port: int, source: Optional[str], timeout: float) -> socket.socket:
    sock = socket.create_connection((host, port), timeout=timeout,
                                    source_address=(source, 0) if source else None)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def send_pieces(sock: socket.socket, data: bytes, cuts: Sequence[int] = ()) -> None:
    """Sends `data` in one write, or cut at the offsets `cuts` into several writes with a short
    pause between them (TCP_NODELAY is on, so each write leaves as its own segment)."""
    start = 0
    for cut in sorted(set(cuts)) + [len(data)]:
        if cut <= start:
            continue
        if start:
            time.sleep(SPLIT_PAUSE)
        sock.sendall(data[start:cut])
        start = cut


class ProxyClient(mqtt_raw.RawClient):
    """mqtt_raw's RawClient on a connection that starts with `header` (sent at once, or in
    pieces cut at `cuts`), from the source address `source` (127.0.0.x; default: the kernel's
    choice, 127.0.0.1). Nothing is sent after the header until the test sends it."""

    def __init__(self, host: str, port: int, header: bytes = b"", source: Optional[str] = None,
                 cuts: Sequence[int] = (), timeout: float = 5.0):
        # As RawClient.__init__, on a socket bound to `source`.
        self.timeout = timeout
        self.sock = open_socket(host, port, source, timeout)
        self._buf = bytearray()
        self._backlog = deque()
        self._closed = False
        self._next_id = 0
        try:
            if header:
                send_pieces(self.sock, header, cuts)
        except BaseException:
            self.sock.close()
            raise

    @property
    def local(self) -> tuple[str, int]:
        """This connection's own address and port (what the broker sees as its peer)."""
        return self.sock.getsockname()[:2]


class ProxyTlsClient(TlsClient):
    """tls_broker's TlsClient on a connection whose first bytes, before the TLS handshake, are
    the PROXY `header`."""

    def __init__(self, host: str, port: int, header: bytes, context: ssl.SSLContext,
                 server_hostname: str = "localhost", timeout: float = 5.0):
        mqtt_raw.RawClient.__init__(self, host, port, timeout)
        raw = self.sock
        try:
            raw.sendall(header)
            self.sock = context.wrap_socket(raw, server_hostname=server_hostname)
        except BaseException:
            raw.close()
            raise


# --------------------------------------------------------------------------------------------
# The broker


def toml_of(v: Any) -> str:
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    return toml_value(v)


def listener_toml(port: int, keys: dict[str, Any]) -> str:
    text = f'\n[[listeners]]\nbind = "{HOST}"\nport = {port}\n'
    return text + "".join(f"{k} = {toml_of(v)}\n" for k, v in keys.items() if v is not None)


def proxy_listener(**keys: Any) -> dict[str, Any]:
    """A proxy_protocol listener's keys: trusted_proxies 127.0.0.1 unless `keys` say otherwise;
    a transport "tls"/"wss" one gets the broker's server.pem / server.key."""
    listener = {"proxy_protocol": True, "trusted_proxies": ["127.0.0.1"]}
    if keys.get("transport") in ("tls", "wss"):
        listener.update({"cert_file": "server.pem", "key_file": "server.key"})
    listener.update(keys)
    return listener


@pytest.fixture
def make_proxy_broker(make_broker, tmp_path, request):
    """Factory: make_proxy_broker(*listeners, config=None, auth=None) writes a configuration
    with a plain listener on the broker's port and one more listener per dict in `listeners`
    (its keys in order; proxy_listener() builds the usual ones), starts the broker and waits
    until every listener listens. `config` holds [broker]/[limits] settings; `auth` =
    {"users": {name: password}, "allow_anonymous": bool} writes a password file with `hermod
    passwd`. With a "tls" or "wss" listener the test PKI's ECDSA server certificate is in the
    configuration's directory as server.pem / server.key.

    The broker gets attributes ports (one per extra listener, in order), endpoints (Endpoints
    of those, for clients.py's mosquitto helpers), confdir, config_path and config_text."""
    serial = iter(range(1, 1000))

    def make(*listeners: dict[str, Any], config: Optional[dict[str, Any]] = None,
             auth: Optional[dict[str, Any]] = None) -> Broker:
        confdir = tmp_path / f"proxyconf{next(serial)}"
        confdir.mkdir()
        if any(keys.get("transport") in ("tls", "wss") for keys in listeners):
            pki = request.getfixturevalue("tls_pki")  # made once per session, when needed
            shutil.copy(pki.server_ec.cert, confdir / "server.pem")
            shutil.copy(pki.server_ec.key, confdir / "server.key")
        tcp_port, *ports = free_ports(1 + len(listeners))
        # debug: each refused or closed connection's own line (the info level has one line per
        # 10 s for all).
        text = hermod_toml(tcp_port, {**DEFAULT_CONFIG, "log_level": "debug", **(config or {})})
        for p, keys in zip(ports, listeners):
            text += listener_toml(p, keys)
        if auth is not None:
            password_file = confdir / PASSWORD_FILE
            password_file.touch()
            for user, password in auth.get("users", {}).items():
                set_user(password_file, user, password)
            text += f'\n[auth]\npassword_file = "{PASSWORD_FILE}"\n'
            if "allow_anonymous" in auth:
                text += f"allow_anonymous = {toml_value(auth['allow_anonymous'])}\n"
        config_path = confdir / CONFIG_NAME
        config_path.write_text(text)
        broker = make_broker(port=tcp_port, config_file=False, args=("-c", str(config_path)),
                             **(config or {}))
        broker.ports = ports
        broker.endpoints = [Endpoint(HOST, p) for p in ports]
        broker.confdir, broker.config_path, broker.config_text = confdir, config_path, text
        for p in ports:
            wait_for(lambda: listening(p) or not broker.alive, timeout=5.0,
                     message=f"the listener on port {p}")
        assert broker.alive, f"broker exited after start-up:\n{broker.stderr_tail()}"
        return broker

    return make


# --------------------------------------------------------------------------------------------
# haproxy

HAPROXY_START_DEADLINE = 10.0
HAPROXY_LOG_FORMAT = "client %ci:%cp via %bi:%bp to %b/%s %ts"
HAPROXY_LOG_LINE = re.compile(r"client (?P<client>\S+):(?P<client_port>\d+) "
                              r"via (?P<proxy>\S+):(?P<proxy_port>\d+) "
                              r"to (?P<backend>\S+)/(?P<server>\S+) (?P<termination>\S+)")


@dataclasses.dataclass
class Frontend:
    """One haproxy frontend on 127.0.0.1:`port` with one backend server, the broker listener
    on `server_port`. `server` holds the server line's options (send-proxy, send-proxy-v2,
    send-proxy-v2-ssl-cn, source ADDRESS, ssl ...); `bind` the bind line's (ssl crt ...)."""
    server_port: int
    server: str = "send-proxy-v2"
    bind: str = ""
    port: int = 0  # set by make_haproxy

    @property
    def endpoint(self) -> Endpoint:
        return Endpoint(HOST, self.port)


@dataclasses.dataclass
class HaproxyLogLine:
    client: str
    client_port: int
    proxy: str
    proxy_port: int
    backend: str
    server: str
    termination: str


def haproxy_config(frontends: Sequence[Frontend]) -> str:
    lines = [
        "global",
        "    log stdout format raw local0 info",
        # Without SO_REUSEPORT nobody else (a broker of a concurrent test run) can share a
        # frontend's port: a port taken makes haproxy fail to start (and it is retried).
        "    noreuseport",
        "    nbthread 1",
        "    maxconn 256",
        "",
        "defaults",
        "    mode tcp",
        "    log global",
        f'    log-format "{HAPROXY_LOG_FORMAT}"',
        "    timeout connect 5s",
        "    timeout client 30s",
        "    timeout server 30s",
    ]
    for i, f in enumerate(frontends):
        lines += ["", f"frontend fe{i}", f"    bind {HOST}:{f.port} {f.bind}".rstrip(),
                  f"    default_backend be{i}",
                  "", f"backend be{i}", f"    server s{i} {HOST}:{f.server_port} {f.server}"]
    return "\n".join(lines) + "\n"


def listening_inodes(port: int) -> set[str]:
    """The inodes of the sockets listening on 127.0.0.1:port (/proc/net/tcp)."""
    want = f"0100007F:{port:04X}"
    try:
        lines = pathlib.Path("/proc/net/tcp").read_text().splitlines()[1:]
    except OSError:
        return set()
    rows = (l.split() for l in lines)
    return {f[9] for f in rows if len(f) > 9 and f[1] == want and f[3] == "0A"}


def socket_inodes(pid: int) -> set[str]:
    """The inodes of process `pid`'s sockets."""
    found = set()
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return found
    for fd in fds:
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            found.add(target[len("socket:["):-1])
    return found


class Haproxy:
    """One haproxy process in the foreground; `log_lines()` parses what it logged so far."""

    def __init__(self, workdir: pathlib.Path, frontends: Sequence[Frontend]):
        self.workdir = workdir
        self.frontends = list(frontends)
        self.config_path = workdir / "haproxy.cfg"
        self.config_path.write_text(haproxy_config(self.frontends))
        self.stdout_path = workdir / "haproxy.stdout"
        self.stderr_path = workdir / "haproxy.stderr"
        with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen([HAPROXY, "-f", str(self.config_path), "-db"],
                                         stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                         cwd=workdir)

    def ready(self) -> bool:
        """Every frontend listens, on a socket of this haproxy (not of anyone else)."""
        mine = socket_inodes(self.proc.pid)
        return all(listening_inodes(f.port) & mine for f in self.frontends)

    def wait_ready(self) -> bool:
        """True once ready; False if haproxy exited because a port was taken meanwhile (a
        concurrent test run); fails the test on any other exit or after the deadline."""
        deadline = time.monotonic() + HAPROXY_START_DEADLINE
        while not self.ready():
            if self.proc.poll() is not None:
                if "cannot bind socket" in self.output():
                    return False
                pytest.fail(f"haproxy exited with {self.proc.returncode} during startup:\n"
                            f"{self.output()}\n--- {self.config_path} ---\n"
                            f"{self.config_path.read_text()}", pytrace=False)
            if time.monotonic() > deadline:
                self.stop()
                pytest.fail(f"haproxy did not listen within {HAPROXY_START_DEADLINE:g} s:\n"
                            f"{self.output()}", pytrace=False)
            time.sleep(0.02)
        return True

    def output(self) -> str:
        text = ""
        for path in (self.stdout_path, self.stderr_path):
            if path.exists():
                text += path.read_text(errors="replace")
        return text

    def log_lines(self) -> list[HaproxyLogLine]:
        out = []
        for line in self.stdout_path.read_text(errors="replace").splitlines():
            m = HAPROXY_LOG_LINE.search(line)
            if m:
                d = m.groupdict()
                out.append(HaproxyLogLine(d["client"], int(d["client_port"]), d["proxy"],
                                          int(d["proxy_port"]), d["backend"], d["server"],
                                          d["termination"]))
        return out

    def wait_log(self, client: str, timeout: float = 5.0) -> HaproxyLogLine:
        """haproxy's log line (written when the connection ends) for the client whose source
        address is `client`; fails if there is more than one."""
        def found() -> Optional[HaproxyLogLine]:
            lines = [l for l in self.log_lines() if l.client == client]
            assert len(lines) <= 1, f"one connection from {client} expected: {lines}"
            return lines[0] if lines else None
        return wait_for(found, timeout, message=f"haproxy's log line for the client {client}\n"
                                                f"haproxy output:\n{self.output()}")

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # hard stop: haproxy exits at once
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def haproxy_available() -> bool:
    return os.access(HAPROXY, os.X_OK)


@pytest.fixture
def make_haproxy(tmp_path, request):
    """Factory: make_haproxy(*frontends) starts one haproxy with those frontends (each on a
    fresh port, written into its `port`) and returns it; skips the test without haproxy. Every
    haproxy it started is stopped at teardown; a failing test's report ends with its output."""
    if not haproxy_available():
        pytest.skip(f"no haproxy at {HAPROXY}: scripts/install-deps.sh installs Debian's haproxy")
    started: list[Haproxy] = []
    serial = iter(range(1, 1000))

    def make(*frontends: Frontend) -> Haproxy:
        for attempt in range(5):
            workdir = tmp_path / f"haproxy{next(serial)}"
            workdir.mkdir()
            for f, p in zip(frontends, free_ports(len(frontends))):
                f.port = p
            h = Haproxy(workdir, frontends)
            started.append(h)
            if h.wait_ready():
                return h
        pytest.fail(f"haproxy found its ports taken 5 times:\n{h.output()}", pytrace=False)

    request.node.haproxies = started
    yield make
    for h in started:
        h.stop()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        for i, h in enumerate(getattr(item, "haproxies", [])):
            report.sections.append((f"haproxy {i} output", h.output()[-6000:]))
