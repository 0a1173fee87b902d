"""Brokers with WebSocket listeners, for test_websocket.py: a WebSocket client on raw sockets
(RFC 6455 by hand: the opening handshake, masked frames out, frames in, MQTT over binary
frames), paho-mqtt over `transport="websockets"`, runs of MQTT.js under Node and a headless
Chromium driven by playwright-core (tests/integration/js/), a tiny HTTP server for the browser's
page, and the broker fixture. Test modules load it as a plugin (`pytest_plugins = ["tls_broker",
"ws_broker"]`) for the `make_ws_broker`, `ws`, `mqttjs`, `page_server` and `browser` fixtures.

The broker: a plain TCP listener on the Broker's own port (so its readiness check and the usual
helpers work), a `ws` listener and, if asked, a `wss` one with the test PKI's ECDSA server
certificate (tls_broker.py) copied into the configuration's directory and named relative to it.
Under BROKER=mosquitto the same listeners are written as mosquitto's `protocol websockets`
listeners; Hermod-only keys (ws_origins, trusted_proxies, ...) have no equivalent there and are
left out (tests that need them are hermod_only).

Every read has a deadline, every loop is bounded by one, and nothing here sleeps.

PYTEST_DONT_REWRITE
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import http.server
import json
import os
import pathlib
import select
import shutil
import socket
import ssl
import struct
import subprocess
import threading
import time
from typing import Any, Iterable, Optional, Sequence

import paho.mqtt.client as paho
import pytest

import mqtt5_raw
import mqtt_raw
from broker_process import (DEFAULT_CONFIG, HOST, IS_MOSQUITTO, Broker, free_port, free_ports, hermod_toml,
                            mosquitto_conf, unique_id, wait_for)
from clients import PahoClient
from mqtt_raw import ConnectionClosed, Timeout
from node_driver import NodeDriver
from tls_broker import Endpoint, client_context, openssl, toml_value

JS_DIR = pathlib.Path(__file__).resolve().parent / "js"
NODE = shutil.which("node")
CHROMIUM = "/usr/bin/chromium"
WS_PATH = "/mqtt"
GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 section 1.3

# Opcodes (RFC 6455 section 5.2).
OP_CONTINUATION, OP_TEXT, OP_BINARY = 0x0, 0x1, 0x2
OP_CLOSE, OP_PING, OP_PONG = 0x8, 0x9, 0xA
OPCODE_NAMES = {OP_CONTINUATION: "continuation", OP_TEXT: "text", OP_BINARY: "binary",
                OP_CLOSE: "close", OP_PING: "ping", OP_PONG: "pong"}

# Close codes (RFC 6455 section 7.4.1).
CLOSE_NORMAL = 1000
CLOSE_PROTOCOL_ERROR = 1002
CLOSE_UNSUPPORTED_DATA = 1003
CLOSE_TOO_BIG = 1009



# Markers, given by fixture: a test that uses `browser` is marked `browser`, one that uses
# `mqttjs` is marked `node` (-m "not browser" deselects the Chromium tests). They are added here
# rather than by decorators because this plugin registers them only once its test module has
# been imported.
FIXTURE_MARKERS = {"browser": "browser", "mqttjs": "node"}


def pytest_configure(config):
    config.addinivalue_line("markers", "browser: runs MQTT.js in a headless Chromium (deselect "
                                       "with -m 'not browser')")
    config.addinivalue_line("markers", "node: runs MQTT.js under Node (deselect with -m 'not node')")


@pytest.hookimpl(tryfirst=True)  # before -m selects by marker
def pytest_collection_modifyitems(config, items):
    for item in items:
        for fixture, marker in FIXTURE_MARKERS.items():
            if fixture in getattr(item, "fixturenames", ()):
                item.add_marker(marker)


# --------------------------------------------------------------------------------------------
# The opening handshake


def new_key() -> str:
    """A Sec-WebSocket-Key: 16 random bytes, base64 (section 4.1)."""
    return base64.b64encode(os.urandom(16)).decode()


def accept_value(key: str) -> str:
    """The Sec-WebSocket-Accept a server must answer `key` with (section 4.2.2, item 5.4)."""
    return base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()


def handshake_request(path: str = WS_PATH, host: Optional[str] = "127.0.0.1",
                      key: Optional[str] = None, protocols: Optional[Sequence[str]] = ("mqtt",),
                      origin: Optional[str] = None, version: Optional[str] = "13",
                      method: str = "GET", upgrade: Optional[str] = "websocket",
                      connection: Optional[str] = "Upgrade", http_version: str = "HTTP/1.1",
                      extra: Iterable[tuple[str, str]] = ()) -> bytes:
    """An HTTP upgrade request (section 4.1). A header whose argument is None is left out, so
    tests can build every kind of bad request; `protocols` () sends no Sec-WebSocket-Protocol."""
    lines = [f"{method} {path} {http_version}"]
    if host is not None:
        lines.append(f"Host: {host}")
    if upgrade is not None:
        lines.append(f"Upgrade: {upgrade}")
    if connection is not None:
        lines.append(f"Connection: {connection}")
    if key is not None:
        lines.append(f"Sec-WebSocket-Key: {key}")
    if version is not None:
        lines.append(f"Sec-WebSocket-Version: {version}")
    if protocols:
        lines.append("Sec-WebSocket-Protocol: " + ", ".join(protocols))
    if origin is not None:
        lines.append(f"Origin: {origin}")
    lines += [f"{name}: {value}" for name, value in extra]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


@dataclasses.dataclass
class HttpResponse:
    status: int
    reason: str
    headers: dict[str, str]  # lower-case names; repeated headers joined with ", "
    raw: bytes

    def header(self, name: str) -> Optional[str]:
        return self.headers.get(name.lower())

    def header_tokens(self, name: str) -> list[str]:
        """A comma-separated header's values, lower-case."""
        value = self.header(name)
        return [t.strip().lower() for t in value.split(",")] if value else []

    def __repr__(self) -> str:
        return f"HttpResponse({self.raw.decode('latin-1')!r})"


def parse_response(head: bytes) -> HttpResponse:
    text = head.decode("latin-1")
    status_line, *header_lines = text.split("\r\n")
    parts = status_line.split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
        raise AssertionError(f"not an HTTP/1.x status line: {status_line!r} (response {text!r})")
    headers: dict[str, str] = {}
    for line in header_lines:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep:
            raise AssertionError(f"malformed header line {line!r} in {text!r}")
        name = name.strip().lower()
        headers[name] = f"{headers[name]}, {value.strip()}" if name in headers else value.strip()
    return HttpResponse(int(parts[1]), parts[2] if len(parts) > 2 else "", headers, head)


# --------------------------------------------------------------------------------------------
# Frames


@dataclasses.dataclass
class Frame:
    fin: bool
    rsv: int  # RSV1..RSV3 as 3 bits
    opcode: int
    masked: bool
    payload: bytes

    @property
    def close_code(self) -> Optional[int]:
        return struct.unpack("!H", self.payload[:2])[0] if len(self.payload) >= 2 else None

    @property
    def close_reason(self) -> bytes:
        return self.payload[2:]

    def __repr__(self) -> str:
        name = OPCODE_NAMES.get(self.opcode, f"opcode {self.opcode:#x}")
        extra = f", code={self.close_code}, reason={self.close_reason!r}" if self.opcode == OP_CLOSE else ""
        body = self.payload if len(self.payload) <= 40 else self.payload[:40] + b"..."
        return (f"Frame({name}, fin={int(self.fin)}, rsv={self.rsv}, masked={int(self.masked)}, "
                f"{len(self.payload)} bytes {body!r}{extra})")


def encode_frame(opcode: int, payload: bytes = b"", fin: bool = True, rsv: int = 0,
                 mask: bool = True, mask_key: Optional[bytes] = None) -> bytes:
    """One frame (section 5.2), masked as a client must (section 5.3) unless `mask` is false;
    `opcode` and `rsv` are written as given, so tests can build forbidden frames."""
    head = bytes([(0x80 if fin else 0) | ((rsv & 0x7) << 4) | (opcode & 0x0F)])
    n = len(payload)
    bit = 0x80 if mask else 0
    if n < 126:
        head += bytes([bit | n])
    elif n < 65536:
        head += bytes([bit | 126]) + struct.pack("!H", n)
    else:
        head += bytes([bit | 127]) + struct.pack("!Q", n)
    if not mask:
        return head + payload
    key = mask_key if mask_key is not None else os.urandom(4)
    return head + key + xor_mask(payload, key)


def xor_mask(data: bytes, key: bytes) -> bytes:
    if not data:
        return b""
    repeated = (key * (len(data) // 4 + 1))[:len(data)]
    return (int.from_bytes(data, "big") ^ int.from_bytes(repeated, "big")).to_bytes(len(data), "big")


def close_payload(code: int, reason: bytes = b"") -> bytes:
    return struct.pack("!H", code) + reason


@dataclasses.dataclass
class CloseResult:
    """How a connection ended: the server's close frame (None if none came), whether TCP was
    closed within the deadline, and the frames read before the close frame."""
    frame: Optional[Frame]
    tcp_closed: bool
    before: list[Frame]

    @property
    def code(self) -> Optional[int]:
        return self.frame.close_code if self.frame else None


# --------------------------------------------------------------------------------------------
# A WebSocket client on one socket


class WsClient(mqtt_raw.RawClient):
    """One WebSocket connection over TCP (or TLS with `context`), on raw sockets.

    Before the opening handshake `send_raw` and `read_http_response` speak HTTP; `handshake()`
    sends an upgrade request and reads the answer. Once upgraded, `send()` (and so every
    RawClient MQTT helper) sends its bytes as one masked binary frame, `send_frame` sends any
    frame, `recv_frame` reads the next frame, and the MQTT reads (`recv`, `expect`, ...) take
    MQTT bytes from binary and continuation frames, answer pings, and end with ConnectionClosed at
    a close frame (kept in `close_frame`; echoed, as section 5.5.1 asks) or at TCP's end.

    Frames from the server are checked as they are read: none may be masked (section 5.1) and,
    while reading MQTT, data comes only in binary messages [MQTT-6.0.0-1] whose fragments follow
    section 5.4; a violation raises AssertionError."""

    def __init__(self, host: str, port: int, context: Optional[ssl.SSLContext] = None,
                 server_hostname: str = "localhost", timeout: float = 5.0):
        super().__init__(host, port, timeout)
        if context is not None:
            raw = self.sock
            try:
                self.sock = context.wrap_socket(raw, server_hostname=server_hostname)
            except BaseException:
                raw.close()
                raise
        self.tls = context is not None
        self._raw = bytearray()  # bytes read from the socket, not yet taken as HTTP or frames
        self.eof = False
        self.upgraded = False
        self.key: Optional[str] = None
        self.response: Optional[HttpResponse] = None
        self.close_frame: Optional[Frame] = None
        self.pongs: list[bytes] = []
        self._in_message = False  # a fragmented data message from the server is in progress

    # -- bytes

    def send_raw(self, data: bytes) -> None:
        try:
            self.sock.sendall(data)
        except (ssl.SSLError, ConnectionResetError, BrokenPipeError) as e:
            self._closed = True
            raise ConnectionClosed(f"{type(e).__name__}: {e}") from e

    def send(self, data: bytes) -> None:
        """MQTT bytes: one masked binary frame once upgraded (as RawClient's helpers expect)."""
        if not self.upgraded:
            raise AssertionError("no MQTT before the WebSocket handshake")
        self.send_frame(OP_BINARY, data)

    def _read_socket(self, deadline: float) -> None:
        """Appends what the socket has to `_raw`; Timeout at the deadline, ConnectionClosed at the
        end of the stream."""
        if self.eof:
            raise ConnectionClosed("EOF")
        while True:
            pending = self.tls and self.sock.pending()
            if not pending:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not select.select([self.sock], [], [], remaining)[0]:
                    raise Timeout(f"nothing received within the deadline ({len(self._raw)} bytes "
                                  f"buffered: {bytes(self._raw[:200])!r})")
            self.sock.settimeout(0)
            try:
                chunk = self.sock.recv(1 << 20)
            except (ssl.SSLWantReadError, BlockingIOError):
                continue  # a TLS record without application data, or not all of one yet
            except (ssl.SSLError, ConnectionResetError, BrokenPipeError) as e:
                self.eof = True
                raise ConnectionClosed(f"{type(e).__name__}: {e}") from e
            finally:
                try:
                    self.sock.settimeout(self.timeout)
                except OSError:
                    pass
            if not chunk:
                self.eof = True
                raise ConnectionClosed("EOF")
            self._raw += chunk
            return

    # -- HTTP

    def read_http_response(self, timeout: Optional[float] = None) -> HttpResponse:
        """The HTTP response's status line and headers (bytes after them stay for the frame
        reader). ConnectionClosed (with what arrived) if the server closes before the end of
        the headers."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            end = self._raw.find(b"\r\n\r\n")
            if end >= 0:
                head = bytes(self._raw[:end])
                del self._raw[:end + 4]
                return parse_response(head)
            if len(self._raw) > 65536:
                raise AssertionError(f"no end of the HTTP header in {bytes(self._raw[:300])!r}...")
            try:
                self._read_socket(deadline)
            except ConnectionClosed as e:
                raise ConnectionClosed(f"closed before a complete HTTP response ({e}); received "
                                       f"{bytes(self._raw)!r}") from e

    def handshake(self, path: str = WS_PATH, protocols: Optional[Sequence[str]] = ("mqtt",),
                  key: Optional[str] = "new", **request: Any) -> HttpResponse:
        """Sends an upgrade request (handshake_request's arguments; `key` "new" is a fresh
        valid key) and returns the response; a 101 makes this connection a WebSocket."""
        self.key = new_key() if key == "new" else key
        self.send_raw(handshake_request(path, key=self.key, protocols=protocols, **request))
        self.response = self.read_http_response()
        if self.response.status == 101:
            self.upgraded = True
        return self.response

    def read_until_closed(self, timeout: float) -> bytes:
        """Everything the server sends until it closes TCP (AssertionError if it does not
        within `timeout`)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                self._read_socket(deadline)
            except ConnectionClosed:
                data = bytes(self._raw)
                self._raw.clear()
                return data
            except Timeout:
                raise AssertionError(f"the server did not close the connection within {timeout:g} s; "
                                     f"received {bytes(self._raw[:300])!r}") from None

    # -- frames

    def send_frame(self, opcode: int, payload: bytes = b"", fin: bool = True, rsv: int = 0,
                   mask: bool = True) -> None:
        self.send_raw(encode_frame(opcode, payload, fin=fin, rsv=rsv, mask=mask))

    def _take_frame(self) -> Optional[Frame]:
        buf = self._raw
        if len(buf) < 2:
            return None
        b0, b1 = buf[0], buf[1]
        n, i = b1 & 0x7F, 2
        if n == 126:
            if len(buf) < 4:
                return None
            n, i = struct.unpack_from("!H", buf, 2)[0], 4
        elif n == 127:
            if len(buf) < 10:
                return None
            n, i = struct.unpack_from("!Q", buf, 2)[0], 10
        masked = bool(b1 & 0x80)
        key = b""
        if masked:
            if len(buf) < i + 4:
                return None
            key, i = bytes(buf[i:i + 4]), i + 4
        if len(buf) < i + n:
            return None
        payload = bytes(buf[i:i + n])
        del buf[:i + n]
        if masked:
            payload = xor_mask(payload, key)
        frame = Frame(bool(b0 & 0x80), (b0 >> 4) & 0x7, b0 & 0x0F, masked, payload)
        if masked:
            raise AssertionError(f"the server sent a masked frame (RFC 6455 section 5.1 forbids it): {frame}")
        if frame.rsv:
            raise AssertionError(f"the server set reserved bits without an extension (section 5.2): {frame}")
        return frame

    def recv_frame(self, timeout: Optional[float] = None) -> Frame:
        """The next frame from the server, whatever it is."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            frame = self._take_frame()
            if frame is not None:
                return frame
            self._read_socket(deadline)

    def ws_ping(self, payload: bytes = b"hermod", timeout: Optional[float] = None) -> Frame:
        """Sends a WebSocket ping (RawClient's `ping` is MQTT's PINGREQ) and returns the server's pong (data frames read meanwhile go to the
        MQTT buffer). A WebSocket-level round trip: once it is back, the server has read
        everything sent before the ping."""
        self.send_frame(OP_PING, payload)
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            frame = self._next_frame(max(0.0, deadline - time.monotonic()))
            if frame.opcode == OP_PONG:
                return frame

    def _next_frame(self, timeout: float) -> Frame:
        """The next frame, with data frames' payloads added to the MQTT buffer (and checked
        [MQTT-6.0.0-1], section 5.4), pings answered, a close frame recorded and echoed
        (ConnectionClosed)."""
        try:
            frame = self.recv_frame(timeout)
        except ConnectionClosed:
            self._closed = True
            raise
        if frame.opcode == OP_BINARY:
            if self._in_message:
                raise AssertionError(f"a new binary message inside a fragmented one (section 5.4): {frame}")
            self._in_message = not frame.fin
            self._buf += frame.payload
        elif frame.opcode == OP_CONTINUATION:
            if not self._in_message:
                raise AssertionError(f"a continuation frame with no message to continue (section 5.4): {frame}")
            self._in_message = not frame.fin
            self._buf += frame.payload
        elif frame.opcode == OP_PING:
            self.send_frame(OP_PONG, frame.payload)
        elif frame.opcode == OP_PONG:
            self.pongs.append(frame.payload)
        elif frame.opcode == OP_CLOSE:
            self.close_frame = frame
            self._closed = True
            try:
                self.send_frame(OP_CLOSE, frame.payload[:2])
            except (ConnectionClosed, OSError):
                pass
            raise ConnectionClosed(f"close frame {frame.close_code} {frame.close_reason!r}")
        else:
            raise AssertionError(f"the server sent MQTT in a frame that is not binary [MQTT-6.0.0-1]: {frame}")
        return frame

    def _fill(self, deadline: float) -> None:
        """RawClient's read step: more MQTT bytes from data frames."""
        if self._closed:
            raise ConnectionClosed("connection already closed by peer"
                                   + (f" (close frame {self.close_frame.close_code})" if self.close_frame else ""))
        while True:
            frame = self._next_frame(max(0.0, deadline - time.monotonic()))
            if frame.opcode in (OP_BINARY, OP_CONTINUATION):
                return

    def wait_close(self, timeout: float = 5.0, echo: bool = True) -> CloseResult:
        """Reads until the server's close frame and then until TCP closes (each within the
        deadline). With `echo` the close frame is answered with one of the same code, as a
        client does (section 5.5.1); the server may close TCP before or after that."""
        deadline = time.monotonic() + timeout
        before: list[Frame] = []
        close: Optional[Frame] = self.close_frame
        try:
            while close is None:
                frame = self.recv_frame(max(0.0, deadline - time.monotonic()))
                if frame.opcode == OP_CLOSE:
                    close = self.close_frame = frame
                    if echo:
                        try:
                            self.send_frame(OP_CLOSE, frame.payload[:2])
                        except (ConnectionClosed, OSError):
                            pass
                else:
                    before.append(frame)
            while True:
                frame = self.recv_frame(max(0.0, deadline - time.monotonic()))
                before.append(frame)  # nothing may follow a close frame (section 5.5.1)
                raise AssertionError(f"the server sent {frame} after its close frame {close}")
        except ConnectionClosed:
            self._closed = True
            return CloseResult(close, True, before)
        except Timeout:
            return CloseResult(close, False, before)

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


class WsClient5(WsClient, mqtt5_raw.RawClient5):
    """WsClient speaking MQTT 5: mqtt5_raw's packets and helpers over WebSocket frames."""


def ws_client(broker: Broker, secure: bool = False, pki=None, timeout: float = 5.0,
              v5: bool = False) -> WsClient:
    """A connection to the broker's ws (or wss, verified against the test CA) listener, no
    handshake yet."""
    cls = WsClient5 if v5 else WsClient
    if secure:
        return cls(broker.host, broker.wss_port, client_context(pki.ca.cert), timeout=timeout)
    return cls(broker.host, broker.ws_port, timeout=timeout)


class WsClients:
    """Opens WebSocket clients for a test and closes them all at teardown."""

    def __init__(self, pki):
        self.pki = pki
        self._open: list[WsClient] = []

    def open(self, broker: Broker, secure: bool = False, timeout: float = 5.0,
             v5: bool = False) -> WsClient:
        """A TCP (or TLS) connection to the ws (wss) listener; no handshake yet."""
        c = ws_client(broker, secure, self.pki, timeout, v5)
        self._open.append(c)
        return c

    def upgraded(self, broker: Broker, secure: bool = False, path: str = WS_PATH,
                 protocols: Sequence[str] = ("mqtt",), v5: bool = False,
                 **request: Any) -> WsClient:
        """A WebSocket connection whose opening handshake succeeded (and was checked)."""
        c = self.open(broker, secure, v5=v5)
        r = c.handshake(path, protocols, **request)
        check_upgrade(r, c.key, protocols[0] if protocols else None)
        return c

    def connect(self, broker: Broker, client_id: Optional[str] = None, secure: bool = False,
                v5: bool = False, **connect_kw: Any) -> WsClient:
        """A WebSocket connection with its MQTT CONNECT accepted."""
        c = self.upgraded(broker, secure, v5=v5)
        cid = unique_id("ws") if client_id is None else client_id
        ack = c.connect(cid, **connect_kw)
        assert ack.return_code == 0, f"CONNECT over WebSocket refused: {ack}"
        c.client_id = cid
        return c

    def close_all(self) -> None:
        for c in self._open:
            c.close()


def check_upgrade(r: HttpResponse, key: str, protocol: Optional[str]) -> None:
    """Asserts `r` accepts the upgrade requested with `key` (RFC 6455 section 4.2.2), choosing
    `protocol`."""
    assert r.status == 101, f"the upgrade is accepted with 101 (RFC 6455 section 4.2.2): {r}"
    assert "websocket" in r.header_tokens("upgrade"), f"Upgrade: websocket (section 4.2.2): {r}"
    assert "upgrade" in r.header_tokens("connection"), f"Connection: Upgrade (section 4.2.2): {r}"
    assert r.header("sec-websocket-accept") == accept_value(key), \
        f"Sec-WebSocket-Accept is base64(SHA-1(key + GUID)) = {accept_value(key)} (section 4.2.2): {r}"
    if protocol is not None:
        assert r.header("sec-websocket-protocol") == protocol, \
            f"the server chooses the subprotocol {protocol!r} (section 4.2.2, [MQTT-6.0.0-4]): {r}"


@pytest.fixture
def ws(tls_pki):
    c = WsClients(tls_pki)
    yield c
    c.close_all()


# --------------------------------------------------------------------------------------------
# paho-mqtt over WebSocket


class PahoWsClient(PahoClient):
    """clients.PahoClient with paho's `transport="websockets"` on the broker's ws listener, or
    wss (`ca`: the CA file that verifies the server, host name 127.0.0.1 included)."""

    def __init__(self, broker: Broker, client_id: str = "", clean_session: bool = True,
                 protocol: int = paho.MQTTv311, keepalive: int = 60, secure: bool = False,
                 ca: Optional[pathlib.Path] = None, path: str = WS_PATH,
                 headers: Optional[dict[str, str]] = None):
        super().__init__(broker, client_id, clean_session, protocol, keepalive)
        tcp_client = self.client
        self.client = paho.Client(client_id=client_id, clean_session=clean_session,
                                  protocol=protocol, transport="websockets",
                                  reconnect_on_failure=False)
        for callback in ("on_connect", "on_message", "on_subscribe", "on_unsubscribe",
                         "on_disconnect"):
            setattr(self.client, callback, getattr(tcp_client, callback))
        self.client.ws_set_options(path=path, headers=headers)
        self.port = broker.wss_port if secure else broker.ws_port
        if secure:
            self.client.tls_set(ca_certs=str(ca), tls_version=ssl.PROTOCOL_TLS_CLIENT)

    def close(self) -> None:
        """As PahoClient.close, on the TCP socket under paho's WebSocket wrapper."""
        wrapper = self.client.socket()
        sock = getattr(wrapper, "_socket", wrapper)
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.client.loop_stop()
        if sock is not None:
            try:
                sock.close()
            except OSError:
                pass

    def connect(self, timeout: float = 5.0) -> dict:
        self.client.connect(self.broker.host, self.port, keepalive=self.keepalive)
        self.client.loop_start()
        rc, flags = wait_for(lambda: self.connack, timeout, message="CONNACK (paho over WebSocket)")
        assert rc == 0, f"paho CONNECT over WebSocket refused with return code {rc}"
        return flags


# --------------------------------------------------------------------------------------------
# The broker


def listening_any(port: int) -> bool:
    """Whether a socket listens on port `port` on 127.0.0.1 or a wildcard address (IPv4 or
    IPv6), read from /proc/net (no connection is made, so the broker logs nothing about it).
    mosquitto 2.0.11's websockets listeners ignore the bind address."""
    wanted = {f"0100007F:{port:04X}", f"00000000:{port:04X}", f"{'0' * 32}:{port:04X}"}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = pathlib.Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        if any(f[1] in wanted and f[3] == "0A" for f in (l.split() for l in lines) if len(f) > 3):
            return True
    return False


def ws_listener_toml(port: int, transport: str, keys: dict[str, Any]) -> str:
    text = f'\n[[listeners]]\nbind = "{HOST}"\nport = {port}\ntransport = "{transport}"\n'
    if transport == "wss":
        keys = {"cert_file": "server.pem", "key_file": "server.key", **keys}
    return text + "".join(f"{k} = {toml_of(v)}\n" for k, v in keys.items() if v is not None)


def toml_array(values: list) -> str:
    return "[" + ", ".join(toml_value(v) for v in values) + "]"


def toml_of(v: Any) -> str:
    return toml_array(v) if isinstance(v, list) else toml_value(v)


def ws_listener_mosquitto(port: int, secure: bool, confdir: pathlib.Path) -> str:
    # mosquitto 2.0.11 binds a websockets listener to every address whatever its configuration
    # says (socket_domain at least keeps it to IPv4); the tests still only connect to 127.0.0.1.
    lines = [f"listener {port} {HOST}", "socket_domain ipv4", "protocol websockets"]
    if secure:
        lines += [f"certfile {confdir / 'server.pem'}", f"keyfile {confdir / 'server.key'}"]
    return "\n".join(lines) + "\n"


# mosquitto started as root drops to its own user before it builds a websockets listener's TLS
# context, and then cannot read the key under pytest's private temporary directory.
MOSQUITTO_KEEP_ROOT = "user root\n" if os.geteuid() == 0 else ""


@pytest.fixture
def make_ws_broker(make_broker, tmp_path, tls_pki):
    """Factory: make_ws_broker(ws={}, wss=None, config=None, extra_toml="", no_ws=False,
    server=None) writes a configuration with a plain listener on the broker's port, a `ws`
    listener with the keys in `ws` (`no_ws`: none) and, if `wss` is a dict, a `wss` listener
    with those keys (`server`, by default the test PKI's ECDSA certificate, as server.pem /
    server.key beside the configuration), starts
    the broker and waits until every listener listens. `config` holds [broker]/[limits]
    settings (workers, max_packet_size, ...).

    The broker gets attributes ws_port / wss_port, ws / wss (Endpoints), ws_url / wss_url
    (ws://127.0.0.1:PORT/PATH), confdir, config_path and config_text."""
    serial = iter(range(1, 1000))

    def make(ws: Optional[dict[str, Any]] = None, wss: Optional[dict[str, Any]] = None,
             config: Optional[dict[str, Any]] = None, extra_toml: str = "",
             no_ws: bool = False, server=None) -> Broker:
        ws_keys = None if no_ws else dict(ws or {})
        confdir = tmp_path / f"wsconf{next(serial)}"
        confdir.mkdir()
        server = server or tls_pki.server_ec
        shutil.copy(server.cert, confdir / "server.pem")
        shutil.copy(server.key, confdir / "server.key")
        settings = {**DEFAULT_CONFIG, **(config or {})}
        tcp_port, ws_port, wss_port = free_ports(3)
        ws_port = ws_port if ws_keys is not None else None
        wss_port = wss_port if wss is not None else None
        if IS_MOSQUITTO:
            text = mosquitto_conf(tcp_port, settings)
            if wss_port:
                text = MOSQUITTO_KEEP_ROOT + text
            if ws_port:
                text += ws_listener_mosquitto(ws_port, False, confdir)
            if wss_port:
                text += ws_listener_mosquitto(wss_port, True, confdir)
            config_path = confdir / "mosquitto.conf"
        else:
            text = hermod_toml(tcp_port, settings)
            if ws_port:
                text += ws_listener_toml(ws_port, "ws", ws_keys)
            if wss_port:
                text += ws_listener_toml(wss_port, "wss", wss)
            if extra_toml:
                text += "\n" + extra_toml
            config_path = confdir / "hermod.toml"
        config_path.write_text(text)
        broker = make_broker(port=tcp_port, config_file=False, args=("-c", str(config_path)),
                             **(config or {}))
        broker.ws_port, broker.wss_port = ws_port, wss_port
        broker.ws = Endpoint(broker.host, ws_port) if ws_port else None
        broker.wss = Endpoint(broker.host, wss_port) if wss_port else None
        path = (ws_keys or {}).get("ws_path", WS_PATH)
        broker.ws_url = f"ws://{HOST}:{ws_port}{path}" if ws_port else None
        broker.wss_url = f"wss://{HOST}:{wss_port}{(wss or {}).get('ws_path', WS_PATH)}" if wss_port else None
        broker.confdir, broker.config_path, broker.config_text = confdir, config_path, text
        for p in (ws_port, wss_port):
            if p:
                wait_for(lambda: listening_any(p) or not broker.alive, timeout=5.0,
                         message=f"the WebSocket listener on port {p}")
        assert broker.alive, f"broker exited after start-up:\n{broker.stderr_tail()}"
        return broker

    return make


def connect_log_line(broker: Broker, client_id: str, timeout: float = 5.0) -> str:
    """The broker's "<address> connected as <client id> (...)" log line for `client_id`."""
    mark = f" connected as {client_id} ("
    return wait_for(lambda: next((l for l in broker.stderr_text().splitlines() if mark in l), None),
                    timeout, message=f"the broker's log line for {client_id} connecting")


# --------------------------------------------------------------------------------------------
# Node and Chromium


def js_ready(need_browser: bool = False) -> None:
    """Skips the test (with the reason) if Node, MQTT.js or, for browser tests, Chromium is not
    installed; scripts/install-deps.sh installs them all."""
    if NODE is None:
        pytest.skip("no `node` on PATH (scripts/install-deps.sh installs Debian's nodejs)")
    if not (JS_DIR / "node_modules" / "mqtt" / "package.json").exists():
        pytest.skip(f"MQTT.js is not installed in {JS_DIR}/node_modules (scripts/install-deps.sh "
                    "runs npm ci there)")
    if need_browser:
        if not os.access(CHROMIUM, os.X_OK):
            pytest.skip(f"no Chromium at {CHROMIUM} (scripts/install-deps.sh installs Debian's chromium)")
        if not (JS_DIR / "node_modules" / "playwright-core" / "package.json").exists():
            pytest.skip(f"playwright-core is not installed in {JS_DIR}/node_modules")


@pytest.fixture
def mqttjs():
    """run_node, once Node and MQTT.js are known to be installed (else the test is skipped)."""
    js_ready()
    return run_node


def run_node(script: str, options: dict[str, Any], timeout: float = 15.0) -> dict[str, Any]:
    """Runs js/<script> with `options` as JSON in argv[2]; returns the JSON object on its last
    stdout line, with "exit" (its exit status) and "stderr" added."""
    js_ready()
    done = subprocess.run([NODE, str(JS_DIR / script), json.dumps(options)], cwd=JS_DIR,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout)
    lines = [l for l in done.stdout.splitlines() if l.startswith("{")]
    try:
        result = json.loads(lines[-1]) if lines else {}
    except json.JSONDecodeError:
        result = {"unparsed": lines[-1]}
    result["exit"] = done.returncode
    result["stderr"] = done.stderr[-3000:]
    return result


def spki_sha256(cert: pathlib.Path) -> str:
    """base64(SHA-256(the certificate's SubjectPublicKeyInfo, DER)), as Chromium's
    --ignore-certificate-errors-spki-list takes it."""
    pem = openssl("x509", "-in", str(cert), "-noout", "-pubkey")
    body = "".join(l for l in pem.splitlines() if l and not l.startswith("-----"))
    return base64.b64encode(hashlib.sha256(base64.b64decode(body)).digest()).decode()


class BrowserDriver(NodeDriver):
    """One headless Chromium, driven by js/browser.mjs (playwright-core) over JSON lines on its
    stdin and stdout. `load(url)` opens the page in a fresh browser context, waits until the
    page sets `window.hermodResult` (see js/page.html), takes a screenshot, and returns
    {"result": ..., "requests": [...], "websockets": [...], "console": [...]}."""

    START_DEADLINE = 30.0

    def __init__(self, spki: list[str], log_path: pathlib.Path):
        js_ready(need_browser=True)
        # No host name resolves (the pages use 127.0.0.1 only), so nothing can be loaded from
        # elsewhere even by accident.
        options = {"executablePath": CHROMIUM,
                   "args": ["--no-sandbox", "--headless=new",
                            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
                            "--ignore-certificate-errors-spki-list=" + ",".join(spki)]}
        super().__init__("browser", JS_DIR / "browser.mjs", options, log_path, node=NODE)
        self._serial = 0
        self._timeouts: dict[int, float] = {}
        ready = self.reply(self.START_DEADLINE, "Chromium to start")
        if not ready.get("ready"):
            self.close()
            pytest.fail(f"Chromium did not start: {ready}\n{self.stderr()}", pytrace=False)
        self.version = ready.get("version")

    def begin(self, url: str, screenshot: pathlib.Path, timeout: float = 10.0) -> int:
        """Starts loading `url`; returns the load's id for `finish`. The page waits at most
        `timeout` seconds for its result."""
        self._serial += 1
        self._timeouts[self._serial] = timeout
        self.send({"id": self._serial, "url": url, "screenshot": str(screenshot), "timeout_ms": int(timeout * 1000)})
        return self._serial

    def finish(self, load_id: int) -> dict[str, Any]:
        """The driver's reply for load `load_id` (replies to earlier, abandoned loads are
        skipped)."""
        while True:
            reply = self.reply(self._timeouts[load_id] + 10.0, f"load {load_id}")
            if reply.get("id") == load_id:
                return reply

    def load(self, url: str, screenshot: pathlib.Path, timeout: float = 10.0) -> dict[str, Any]:
        return self.finish(self.begin(url, screenshot, timeout))

    def close(self) -> None:
        super().close({"quit": True})


@pytest.fixture(scope="module")
def browser(tls_pki, tmp_path_factory):
    """One headless Chromium for the module's browser tests. It trusts the test PKI's server
    certificate by its key alone (--ignore-certificate-errors-spki-list with that key's SHA-256),
    so wss works with no certificate errors ignored for any other key."""
    d = BrowserDriver([spki_sha256(tls_pki.server_ec.cert)],
                      tmp_path_factory.mktemp("chromium") / "driver.stderr")
    yield d
    d.close()


class PageServer:
    """An HTTP server on 127.0.0.1 (its own thread) serving only the browser page and MQTT.js's
    browser bundle; `requests` lists the paths asked for."""

    FILES = {"/page.html": ("page.html", "text/html; charset=utf-8"),
             "/mqtt.min.js": ("node_modules/mqtt/dist/mqtt.min.js", "text/javascript")}

    def __init__(self):
        self.requests: list[str] = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                path = self.path.split("?", 1)[0]
                server.requests.append(self.path)
                if path not in PageServer.FILES:
                    self.send_error(404)
                    return
                name, kind = PageServer.FILES[path]
                body = (JS_DIR / name).read_bytes()
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.port = free_port()
        self.httpd = http.server.ThreadingHTTPServer((HOST, self.port), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.1},
                                       daemon=True)
        self.thread.start()
        self.origin = f"http://{HOST}:{self.port}"

    def page_url(self, **params: Any) -> str:
        from urllib.parse import urlencode
        return f"{self.origin}/page.html?{urlencode(params)}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


@pytest.fixture
def page_server():
    """Factory: page_server() starts a PageServer (each on its own port, so its own origin)."""
    servers: list[PageServer] = []

    def make() -> PageServer:
        s = PageServer()
        servers.append(s)
        return s

    yield make
    for s in servers:
        s.close()
