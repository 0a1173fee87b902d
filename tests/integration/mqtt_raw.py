"""A tiny raw MQTT 3.1 / 3.1.1 client for byte-exact integration tests.

Encoders build packets by hand (so tests can also build *broken* packets), `parse` turns one
complete packet into a `Packet`, and `RawClient` owns one TCP socket and reads packets with a
deadline. Nothing here retries, sleeps or runs threads: every read is bounded by a timeout and a
test that waits too long gets an exception, never a hang.
"""

from __future__ import annotations

import dataclasses
import select
import socket
import struct
import time
from collections import deque
from typing import Iterable, Optional, Sequence, Union

# Control packet types (MQTT 3.1.1 section 2.2.1).
CONNECT = 1
CONNACK = 2
PUBLISH = 3
PUBACK = 4
PUBREC = 5
PUBREL = 6
PUBCOMP = 7
SUBSCRIBE = 8
SUBACK = 9
UNSUBSCRIBE = 10
UNSUBACK = 11
PINGREQ = 12
PINGRESP = 13
DISCONNECT = 14

TYPE_NAMES = {
    CONNECT: "CONNECT", CONNACK: "CONNACK", PUBLISH: "PUBLISH", PUBACK: "PUBACK",
    PUBREC: "PUBREC", PUBREL: "PUBREL", PUBCOMP: "PUBCOMP", SUBSCRIBE: "SUBSCRIBE",
    SUBACK: "SUBACK", UNSUBSCRIBE: "UNSUBSCRIBE", UNSUBACK: "UNSUBACK", PINGREQ: "PINGREQ",
    PINGRESP: "PINGRESP", DISCONNECT: "DISCONNECT",
}

MQTT_V31 = 3
MQTT_V311 = 4
SUBACK_FAILURE = 0x80

Text = Union[str, bytes]


class ConnectionClosed(Exception):
    """The peer closed (or reset) the connection."""


class Timeout(Exception):
    """Nothing (or not enough) arrived before the deadline."""


# --------------------------------------------------------------------------------------------
# Encoding


def encode_varint(n: int) -> bytes:
    """Remaining Length encoding (section 2.2.3): 7 bits per byte, high bit = more bytes."""
    assert n >= 0
    out = bytearray()
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def encode_string(s: Text) -> bytes:
    """A length-prefixed string; bytes pass through unchecked so tests can send invalid UTF-8."""
    data = s.encode("utf-8") if isinstance(s, str) else s
    return struct.pack("!H", len(data)) + data


def packet(ptype: int, flags: int, body: bytes = b"") -> bytes:
    return bytes([(ptype << 4) | (flags & 0x0F)]) + encode_varint(len(body)) + body


@dataclasses.dataclass
class Will:
    topic: Text
    payload: bytes = b""
    qos: int = 0
    retain: bool = False


def connect(client_id: Text = "", clean: bool = True, keepalive: int = 60,
            will: Optional[Will] = None, username: Optional[Text] = None,
            password: Optional[bytes] = None, protocol: int = MQTT_V311,
            protocol_name: Optional[Text] = None, reserved_flag: bool = False) -> bytes:
    """CONNECT (section 3.1). `protocol` 3 means MQTT 3.1 ("MQIsdp"), 4 means 3.1.1 ("MQTT");
    any other level is sent as given, with the name "MQTT" unless `protocol_name` says otherwise."""
    if protocol_name is None:
        protocol_name = "MQIsdp" if protocol == MQTT_V31 else "MQTT"
    flags = 0x01 if reserved_flag else 0
    if clean:
        flags |= 0x02
    payload = encode_string(client_id)
    if will is not None:
        flags |= 0x04 | (will.qos << 3) | (0x20 if will.retain else 0)
        payload += encode_string(will.topic) + encode_string(will.payload)
    if username is not None:
        flags |= 0x80
        payload += encode_string(username)
    if password is not None:
        flags |= 0x40
        payload += encode_string(password)
    variable = encode_string(protocol_name) + bytes([protocol, flags]) + struct.pack("!H", keepalive)
    return packet(CONNECT, 0, variable + payload)


def publish(topic: Text, payload: bytes = b"", qos: int = 0, retain: bool = False,
            dup: bool = False, packet_id: Optional[int] = None) -> bytes:
    """PUBLISH (section 3.3). `qos` is written as given, so 3 builds the forbidden value."""
    flags = (0x08 if dup else 0) | ((qos & 0x03) << 1) | (0x01 if retain else 0)
    body = encode_string(topic)
    if qos > 0:
        assert packet_id is not None, "QoS > 0 needs a packet id"
        body += struct.pack("!H", packet_id)
    return packet(PUBLISH, flags, body + payload)


def puback(packet_id: int) -> bytes:
    return packet(PUBACK, 0, struct.pack("!H", packet_id))


def pubrec(packet_id: int) -> bytes:
    return packet(PUBREC, 0, struct.pack("!H", packet_id))


def pubrel(packet_id: int) -> bytes:
    return packet(PUBREL, 0x02, struct.pack("!H", packet_id))


def pubcomp(packet_id: int) -> bytes:
    return packet(PUBCOMP, 0, struct.pack("!H", packet_id))


def subscribe(packet_id: int, filters: Sequence[tuple[Text, int]], flags: int = 0x02) -> bytes:
    """SUBSCRIBE (section 3.8); `flags` other than 0x02 builds a malformed header."""
    body = struct.pack("!H", packet_id)
    for topic_filter, qos in filters:
        body += encode_string(topic_filter) + bytes([qos])
    return packet(SUBSCRIBE, flags, body)


def unsubscribe(packet_id: int, filters: Iterable[Text], flags: int = 0x02) -> bytes:
    body = struct.pack("!H", packet_id) + b"".join(encode_string(f) for f in filters)
    return packet(UNSUBSCRIBE, flags, body)


def pingreq() -> bytes:
    return packet(PINGREQ, 0)


def disconnect() -> bytes:
    return packet(DISCONNECT, 0)


# --------------------------------------------------------------------------------------------
# Decoding


@dataclasses.dataclass
class Packet:
    """One decoded packet. Fields that do not apply to `type` keep their defaults."""
    type: int
    flags: int
    body: bytes
    packet_id: Optional[int] = None
    # CONNACK
    session_present: bool = False
    return_code: Optional[int] = None
    # PUBLISH
    topic: str = ""
    payload: bytes = b""
    qos: int = 0
    dup: bool = False
    retain: bool = False
    # SUBACK
    return_codes: list[int] = dataclasses.field(default_factory=list)

    @property
    def name(self) -> str:
        return TYPE_NAMES.get(self.type, f"type{self.type}")

    def __repr__(self) -> str:
        if self.type == PUBLISH:
            return (f"PUBLISH(topic={self.topic!r}, payload={self.payload!r}, qos={self.qos}, "
                    f"dup={int(self.dup)}, retain={int(self.retain)}, id={self.packet_id})")
        if self.type == CONNACK:
            return f"CONNACK(sp={int(self.session_present)}, rc={self.return_code})"
        if self.type == SUBACK:
            return f"SUBACK(id={self.packet_id}, codes={self.return_codes})"
        if self.packet_id is not None:
            return f"{self.name}(id={self.packet_id}, flags={self.flags:#x})"
        return f"{self.name}(flags={self.flags:#x}, body={self.body!r})"


def parse(first_byte: int, body: bytes) -> Packet:
    """Decodes a complete packet from the server. Raises ValueError on a malformed one."""
    p = Packet(type=first_byte >> 4, flags=first_byte & 0x0F, body=body)
    if p.type == CONNACK:
        if len(body) != 2:
            raise ValueError(f"CONNACK body {body!r}")
        p.session_present = bool(body[0] & 0x01)
        p.return_code = body[1]
    elif p.type == PUBLISH:
        p.dup = bool(p.flags & 0x08)
        p.qos = (p.flags >> 1) & 0x03
        p.retain = bool(p.flags & 0x01)
        (tlen,) = struct.unpack_from("!H", body, 0)
        p.topic = body[2:2 + tlen].decode("utf-8")
        rest = body[2 + tlen:]
        if p.qos > 0:
            (p.packet_id,) = struct.unpack_from("!H", rest, 0)
            rest = rest[2:]
        p.payload = rest
    elif p.type in (PUBACK, PUBREC, PUBREL, PUBCOMP, UNSUBACK):
        if len(body) != 2:
            raise ValueError(f"{p.name} body {body!r}")
        (p.packet_id,) = struct.unpack("!H", body)
    elif p.type == SUBACK:
        (p.packet_id,) = struct.unpack_from("!H", body, 0)
        p.return_codes = list(body[2:])
    return p


# --------------------------------------------------------------------------------------------
# A client on one socket


class RawClient:
    """One TCP connection speaking hand-made MQTT.

    `recv()` returns the next packet (or raises Timeout / ConnectionClosed). Helpers that wait for
    a particular packet (`expect`) put the packets they skip on a backlog that later `recv()` calls
    return first, so interleaved traffic is never lost.
    """

    def __init__(self, host: str, port: int, timeout: float = 5.0, source: Optional[str] = None):
        """`source`: the local address to connect from (127.0.0.x), for per-address limits."""
        self.timeout = timeout
        self.sock = socket.create_connection((host, port), timeout=timeout,
                                             source_address=(source, 0) if source else None)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._buf = bytearray()
        self._backlog: deque[Packet] = deque()
        self._closed = False
        self._next_id = 0

    # -- plumbing

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self) -> "RawClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def next_packet_id(self) -> int:
        self._next_id = self._next_id % 65535 + 1
        return self._next_id

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _fill(self, deadline: float) -> None:
        """Reads more bytes into the buffer before `deadline`."""
        if self._closed:
            raise ConnectionClosed("connection already closed by peer")
        if not self._buffered():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise Timeout("deadline passed")
            readable, _, _ = select.select([self.sock], [], [], remaining)
            if not readable:
                raise Timeout(f"nothing received within the deadline (buffered {bytes(self._buf)!r})")
        chunk = self._recv()
        if chunk is None:
            return  # nothing complete yet (a TLS record still arriving)
        if not chunk:
            self._closed = True
            raise ConnectionClosed("EOF")
        self._buf += chunk

    def _buffered(self) -> bool:
        """True if bytes are readable without waiting on the socket (a TLS layer's own buffer)."""
        return False

    def _recv(self) -> Optional[bytes]:
        """One read from a readable socket: bytes, b"" at the end, None for nothing yet."""
        try:
            return self.sock.recv(65536)
        except (ConnectionResetError, BrokenPipeError) as e:
            self._closed = True
            raise ConnectionClosed(str(e)) from e

    def _try_decode(self) -> Optional[Packet]:
        buf = self._buf
        if len(buf) < 2:
            return None
        length, mult, i = 0, 1, 1
        while True:
            if i >= len(buf):
                return None
            byte = buf[i]
            length += (byte & 0x7F) * mult
            mult *= 128
            i += 1
            if not byte & 0x80:
                break
            if i > 4:
                raise ValueError("server sent a remaining length of more than 4 bytes")
        if len(buf) < i + length:
            return None
        first, body = buf[0], bytes(buf[i:i + length])
        del buf[:i + length]
        return self._parse(first, body)

    def _parse(self, first_byte: int, body: bytes) -> Packet:
        """Decodes one complete packet; subclasses speaking another version override this."""
        return parse(first_byte, body)

    def recv(self, timeout: Optional[float] = None) -> Packet:
        """The next packet, waiting at most `timeout` seconds."""
        if self._backlog:
            return self._backlog.popleft()
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            p = self._try_decode()
            if p is not None:
                return p
            self._fill(deadline)

    def expect(self, ptype: int, timeout: Optional[float] = None, packet_id: Optional[int] = None,
               what: str = "") -> Packet:
        """Waits for a packet of `ptype` (and `packet_id`, if given); others go to the backlog."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        skipped: list[Packet] = []
        try:
            # Packets already on the backlog are searched first.
            for i, p in enumerate(self._backlog):
                if p.type == ptype and (packet_id is None or p.packet_id == packet_id):
                    del self._backlog[i]
                    return p
            while True:
                p = self._try_decode()
                if p is None:
                    self._fill(deadline)
                    continue
                if p.type == ptype and (packet_id is None or p.packet_id == packet_id):
                    return p
                skipped.append(p)
        except (Timeout, ConnectionClosed) as e:
            want = TYPE_NAMES.get(ptype, ptype)
            raise type(e)(f"waiting for {want}{f' id {packet_id}' if packet_id else ''}"
                          f"{f' ({what})' if what else ''}: {e}; other packets seen: {skipped}") from e
        finally:
            self._backlog.extend(skipped)

    def expect_nothing(self, within: float) -> None:
        """Asserts that no packet arrives (and the connection stays open) for `within` seconds.
        This is a bounded check for absence, not a synchronisation step."""
        try:
            p = self.recv(timeout=within)
        except Timeout:
            return
        raise AssertionError(f"expected no packet, got {p!r}")

    def wait_closed(self, timeout: float) -> bool:
        """True if the server closes the connection within `timeout`; packets read meanwhile
        are kept on the backlog."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                p = self._try_decode()
            except ValueError:
                p = None
            if p is not None:
                self._backlog.append(p)
                continue
            try:
                self._fill(deadline)
            except ConnectionClosed:
                return True
            except Timeout:
                return False

    @property
    def closed(self) -> bool:
        return self._closed

    def pending(self) -> list[Packet]:
        """Packets received but not yet consumed (e.g. read by `wait_closed`)."""
        return list(self._backlog)

    # -- MQTT conveniences

    def connect(self, client_id: Text = "", clean: bool = True, keepalive: int = 60,
                will: Optional[Will] = None, protocol: int = MQTT_V311, **kw) -> Packet:
        """Sends CONNECT and returns the CONNACK (any return code)."""
        self.send(connect(client_id, clean=clean, keepalive=keepalive, will=will,
                          protocol=protocol, **kw))
        return self.expect(CONNACK, what="CONNECT answer")

    def subscribe(self, filters: Sequence[tuple[Text, int]], packet_id: Optional[int] = None) -> Packet:
        """Sends SUBSCRIBE and returns the SUBACK (checking its packet id)."""
        pid = packet_id or self.next_packet_id()
        self.send(subscribe(pid, filters))
        return self.expect(SUBACK, packet_id=pid)

    def unsubscribe(self, filters: Iterable[Text], packet_id: Optional[int] = None) -> Packet:
        pid = packet_id or self.next_packet_id()
        self.send(unsubscribe(pid, list(filters)))
        return self.expect(UNSUBACK, packet_id=pid)

    def publish(self, topic: Text, payload: bytes = b"", qos: int = 0, retain: bool = False) -> None:
        """Publishes and, for QoS 1/2, completes the handshake before returning."""
        if qos == 0:
            self.send(publish(topic, payload, 0, retain))
            return
        pid = self.next_packet_id()
        self.send(publish(topic, payload, qos, retain, packet_id=pid))
        if qos == 1:
            self.expect(PUBACK, packet_id=pid)
            return
        self.expect(PUBREC, packet_id=pid)
        self.send(pubrel(pid))
        self.expect(PUBCOMP, packet_id=pid)

    def receive_publish(self, timeout: Optional[float] = None, ack: bool = True) -> Packet:
        """The next PUBLISH; with `ack`, answers it (PUBACK, or PUBREC and later PUBCOMP).
        A PUBREL seen on the way is answered with PUBCOMP when `ack` is set."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        wanted = (PUBLISH, PUBREL) if ack else (PUBLISH,)
        while True:
            p = self.expect_any(wanted, max(0.0, deadline - time.monotonic()))
            if p.type == PUBREL:
                self.send(pubcomp(p.packet_id))
                continue
            if ack and p.qos == 1:
                self.send(puback(p.packet_id))
            elif ack and p.qos == 2:
                self.send(pubrec(p.packet_id))
            return p

    def expect_any(self, ptypes: Sequence[int], timeout: float) -> Packet:
        """The next packet whose type is one of `ptypes`; others go to the backlog."""
        deadline = time.monotonic() + timeout
        skipped: list[Packet] = []
        try:
            for i, p in enumerate(self._backlog):
                if p.type in ptypes:
                    del self._backlog[i]
                    return p
            while True:
                p = self._try_decode()
                if p is None:
                    self._fill(deadline)
                    continue
                if p.type in ptypes:
                    return p
                skipped.append(p)
        finally:
            self._backlog.extend(skipped)

    def receive_until(self, topic: str, payload: bytes, timeout: Optional[float] = None,
                      ack: bool = True) -> list[Packet]:
        """Collects PUBLISHes up to and excluding the sentinel (`topic`, `payload`)."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        got: list[Packet] = []
        while True:
            try:
                p = self.receive_publish(max(0.0, deadline - time.monotonic()), ack=ack)
            except Timeout as e:
                raise Timeout(f"sentinel {topic!r} {payload!r} not received; got {got}") from e
            if p.topic == topic and p.payload == payload:
                return got
            got.append(p)

    def finish_qos2(self, timeout: Optional[float] = None) -> None:
        """Answers outstanding PUBRELs (after PUBRECs sent by `receive_publish`)."""
        p = self.expect(PUBREL, timeout=timeout)
        self.send(pubcomp(p.packet_id))

    def ping(self, timeout: Optional[float] = None) -> None:
        self.send(pingreq())
        self.expect(PINGRESP, timeout=timeout)

    def disconnect(self, wait: bool = False, timeout: float = 5.0) -> None:
        """Sends DISCONNECT and closes. With `wait`, first waits for the server to close its end,
        which shows it has processed the DISCONNECT (before, a new connection with the same id
        could overtake the DISCONNECT still unread in this socket)."""
        try:
            self.send(disconnect())
            if wait and not self.wait_closed(timeout):
                raise Timeout(f"server did not close the connection within {timeout:g} s "
                              "after DISCONNECT")
        finally:
            self.close()
