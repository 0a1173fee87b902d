"""MQTT 5.0 for the integration tests: a raw packet codec with properties and reason codes, a raw
client on top of mqtt_raw.RawClient, a paho-mqtt MQTT 5 client with deadlines, and the fixtures
the test_v5_*.py modules share (import them: `from mqtt5_raw import make_broker5, v5`).

Encoders build packets by hand so tests can also build broken ones: properties are given as a
list of (identifier, value) pairs, in order, repeats allowed, and `props_raw` replaces the whole
encoded property block (length included) with arbitrary bytes. `parse` decodes one complete
packet sent by a server (MQTT 5.0 chapter 3). Nothing here sleeps or retries: every read has a
deadline (inherited from RawClient).

Test modules load this file as a pytest plugin (`pytest_plugins = ["mqtt5_raw"]`) after
importing it, so pytest cannot rewrite its asserts (they carry their own messages):
PYTEST_DONT_REWRITE
"""

from __future__ import annotations

import dataclasses
import itertools
import queue
import socket
import struct
import threading
import time
from typing import Any, Callable, Iterable, Optional, Sequence, Union

import paho.mqtt.client as paho
import pytest
from paho.mqtt.properties import Properties

import mqtt_raw
from broker_process import (DEFAULT_CONFIG, IS_MOSQUITTO, Broker, free_port, hermod_toml,
                            mosquitto_conf, unique_id, wait_for)
from mqtt_raw import (CONNACK, CONNECT, DISCONNECT, PINGREQ, PINGRESP,  # noqa: F401 (re-exported)
                      PUBACK, PUBCOMP, PUBLISH, PUBREC, PUBREL, SUBACK, SUBSCRIBE, UNSUBACK,
                      UNSUBSCRIBE, ConnectionClosed, Timeout, encode_string, encode_varint,
                      packet)

AUTH = 15
MQTT_V5 = 5
TYPE_NAMES = {**mqtt_raw.TYPE_NAMES, AUTH: "AUTH"}

# --------------------------------------------------------------------------------------------
# Properties (MQTT 5.0 section 2.2.2.2)

PAYLOAD_FORMAT_INDICATOR = 0x01
MESSAGE_EXPIRY_INTERVAL = 0x02
CONTENT_TYPE = 0x03
RESPONSE_TOPIC = 0x08
CORRELATION_DATA = 0x09
SUBSCRIPTION_IDENTIFIER = 0x0B
SESSION_EXPIRY_INTERVAL = 0x11
ASSIGNED_CLIENT_IDENTIFIER = 0x12
SERVER_KEEP_ALIVE = 0x13
AUTHENTICATION_METHOD = 0x15
AUTHENTICATION_DATA = 0x16
REQUEST_PROBLEM_INFORMATION = 0x17
WILL_DELAY_INTERVAL = 0x18
REQUEST_RESPONSE_INFORMATION = 0x19
RESPONSE_INFORMATION = 0x1A
SERVER_REFERENCE = 0x1C
REASON_STRING = 0x1F
RECEIVE_MAXIMUM = 0x21
TOPIC_ALIAS_MAXIMUM = 0x22
TOPIC_ALIAS = 0x23
MAXIMUM_QOS = 0x24
RETAIN_AVAILABLE = 0x25
USER_PROPERTY = 0x26
MAXIMUM_PACKET_SIZE = 0x27
WILDCARD_SUBSCRIPTION_AVAILABLE = 0x28
SUBSCRIPTION_IDENTIFIER_AVAILABLE = 0x29
SHARED_SUBSCRIPTION_AVAILABLE = 0x2A

_BYTE, _TWO, _FOUR, _VARINT, _UTF8, _BINARY, _PAIR = range(7)
PROPERTY_TYPES = {
    PAYLOAD_FORMAT_INDICATOR: _BYTE, MESSAGE_EXPIRY_INTERVAL: _FOUR, CONTENT_TYPE: _UTF8,
    RESPONSE_TOPIC: _UTF8, CORRELATION_DATA: _BINARY, SUBSCRIPTION_IDENTIFIER: _VARINT,
    SESSION_EXPIRY_INTERVAL: _FOUR, ASSIGNED_CLIENT_IDENTIFIER: _UTF8, SERVER_KEEP_ALIVE: _TWO,
    AUTHENTICATION_METHOD: _UTF8, AUTHENTICATION_DATA: _BINARY,
    REQUEST_PROBLEM_INFORMATION: _BYTE, WILL_DELAY_INTERVAL: _FOUR,
    REQUEST_RESPONSE_INFORMATION: _BYTE, RESPONSE_INFORMATION: _UTF8, SERVER_REFERENCE: _UTF8,
    REASON_STRING: _UTF8, RECEIVE_MAXIMUM: _TWO, TOPIC_ALIAS_MAXIMUM: _TWO, TOPIC_ALIAS: _TWO,
    MAXIMUM_QOS: _BYTE, RETAIN_AVAILABLE: _BYTE, USER_PROPERTY: _PAIR,
    MAXIMUM_PACKET_SIZE: _FOUR, WILDCARD_SUBSCRIPTION_AVAILABLE: _BYTE,
    SUBSCRIPTION_IDENTIFIER_AVAILABLE: _BYTE, SHARED_SUBSCRIPTION_AVAILABLE: _BYTE,
}
PROPERTY_NAMES = {v: k.lower() for k, v in globals().items()
                  if k.isupper() and isinstance(v, int) and v in PROPERTY_TYPES
                  and not k.startswith("_") and k not in ("MQTT_V5", "AUTH")}

# Application-message properties a server forwards with a PUBLISH (3.3.2.3).
MESSAGE_PROPERTIES = (PAYLOAD_FORMAT_INDICATOR, MESSAGE_EXPIRY_INTERVAL, CONTENT_TYPE,
                      RESPONSE_TOPIC, CORRELATION_DATA, USER_PROPERTY)

# Reason codes (2.4) used by the tests.
SUCCESS = 0x00
DISCONNECT_WITH_WILL = 0x04
NO_MATCHING_SUBSCRIBERS = 0x10
NO_SUBSCRIPTION_EXISTED = 0x11
CONTINUE_AUTHENTICATION = 0x18
UNSPECIFIED_ERROR = 0x80
MALFORMED_PACKET = 0x81
PROTOCOL_ERROR = 0x82
NOT_AUTHORIZED = 0x87
BAD_AUTHENTICATION_METHOD = 0x8C
KEEP_ALIVE_TIMEOUT = 0x8D
SESSION_TAKEN_OVER = 0x8E
TOPIC_FILTER_INVALID = 0x8F
RECEIVE_MAXIMUM_EXCEEDED = 0x93
TOPIC_ALIAS_INVALID = 0x94
PACKET_TOO_LARGE = 0x95
PAYLOAD_FORMAT_INVALID = 0x99
RETAIN_NOT_SUPPORTED = 0x9A
QOS_NOT_SUPPORTED = 0x9B
SHARED_SUBSCRIPTIONS_NOT_SUPPORTED = 0x9E
SUBSCRIPTION_IDENTIFIERS_NOT_SUPPORTED = 0xA1
WILDCARD_SUBSCRIPTIONS_NOT_SUPPORTED = 0xA2

Prop = tuple[int, Any]


def encode_property(pid: int, value: Any) -> bytes:
    kind = PROPERTY_TYPES[pid]
    head = encode_varint(pid)
    if kind == _BYTE:
        return head + bytes([value])
    if kind == _TWO:
        return head + struct.pack("!H", value)
    if kind == _FOUR:
        return head + struct.pack("!I", value)
    if kind == _VARINT:
        return head + encode_varint(value)
    if kind in (_UTF8, _BINARY):
        return head + encode_string(value)
    key, val = value
    return head + encode_string(key) + encode_string(val)


def encode_properties(props: Iterable[Prop] = (), raw: Optional[bytes] = None) -> bytes:
    """The property block: its length (a variable byte integer) and the properties in order.
    `raw` replaces the whole block, length included."""
    if raw is not None:
        return raw
    body = b"".join(encode_property(pid, value) for pid, value in props)
    return encode_varint(len(body)) + body


class Props:
    """Decoded properties, in the order received (repeats kept)."""

    def __init__(self, items: Sequence[Prop] = ()):
        self.items = list(items)

    def get(self, pid: int, default: Any = None) -> Any:
        for k, v in self.items:
            if k == pid:
                return v
        return default

    def all(self, pid: int) -> list:
        return [v for k, v in self.items if k == pid]

    def __contains__(self, pid: int) -> bool:
        return any(k == pid for k, _ in self.items)

    def ids(self) -> list[int]:
        return [k for k, _ in self.items]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Props) and self.items == other.items

    def __repr__(self) -> str:
        inner = ", ".join(f"{PROPERTY_NAMES.get(k, hex(k))}={v!r}" for k, v in self.items)
        return "{" + inner + "}"


def _read_varint(buf: bytes, pos: int) -> tuple[int, int]:
    value, mult = 0, 1
    for i in range(4):
        if pos >= len(buf):
            raise ValueError("truncated variable byte integer")
        byte = buf[pos]
        pos += 1
        value += (byte & 0x7F) * mult
        if not byte & 0x80:
            return value, pos
        mult *= 128
    raise ValueError("variable byte integer longer than 4 bytes")


def _read_string(buf: bytes, pos: int) -> tuple[bytes, int]:
    (n,) = struct.unpack_from("!H", buf, pos)
    pos += 2
    if pos + n > len(buf):
        raise ValueError("string runs past the end of the packet")
    return buf[pos:pos + n], pos + n


def decode_properties(buf: bytes, pos: int) -> tuple[Props, int]:
    length, pos = _read_varint(buf, pos)
    end = pos + length
    if end > len(buf):
        raise ValueError(f"property length {length} runs past the end of the packet")
    items: list[Prop] = []
    while pos < end:
        pid, pos = _read_varint(buf, pos)
        kind = PROPERTY_TYPES.get(pid)
        if kind is None:
            raise ValueError(f"unknown property identifier {pid:#x}")
        if kind == _BYTE:
            value, pos = buf[pos], pos + 1
        elif kind == _TWO:
            (value,), pos = struct.unpack_from("!H", buf, pos), pos + 2
        elif kind == _FOUR:
            (value,), pos = struct.unpack_from("!I", buf, pos), pos + 4
        elif kind == _VARINT:
            value, pos = _read_varint(buf, pos)
        elif kind == _UTF8:
            raw, pos = _read_string(buf, pos)
            value = raw.decode("utf-8")
        elif kind == _BINARY:
            value, pos = _read_string(buf, pos)
        else:
            k, pos = _read_string(buf, pos)
            v, pos = _read_string(buf, pos)
            value = (k.decode("utf-8"), v.decode("utf-8"))
        items.append((pid, value))
    if pos != end:
        raise ValueError("properties overrun their length")
    return Props(items), end


# --------------------------------------------------------------------------------------------
# Encoding client packets


@dataclasses.dataclass
class Will5:
    topic: Union[str, bytes]
    payload: bytes = b""
    qos: int = 0
    retain: bool = False
    props: Sequence[Prop] = ()


def connect(client_id: Union[str, bytes] = "", clean_start: bool = True, keepalive: int = 60,
            props: Sequence[Prop] = (), will: Optional[Will5] = None,
            username: Optional[str] = None, password: Optional[bytes] = None,
            protocol: int = MQTT_V5, props_raw: Optional[bytes] = None) -> bytes:
    """CONNECT (3.1) at protocol level 5."""
    flags = 0x02 if clean_start else 0
    payload = encode_string(client_id)
    if will is not None:
        flags |= 0x04 | (will.qos << 3) | (0x20 if will.retain else 0)
        payload += (encode_properties(will.props) + encode_string(will.topic)
                    + encode_string(will.payload))
    if username is not None:
        flags |= 0x80
        payload += encode_string(username)
    if password is not None:
        flags |= 0x40
        payload += encode_string(password)
    variable = (encode_string("MQTT") + bytes([protocol, flags]) + struct.pack("!H", keepalive)
                + encode_properties(props, props_raw))
    return packet(CONNECT, 0, variable + payload)


def publish(topic: Union[str, bytes], payload: bytes = b"", qos: int = 0, retain: bool = False,
            dup: bool = False, packet_id: Optional[int] = None, props: Sequence[Prop] = (),
            props_raw: Optional[bytes] = None) -> bytes:
    """PUBLISH (3.3); `qos` is written as given (3 builds the forbidden value)."""
    flags = (0x08 if dup else 0) | ((qos & 0x03) << 1) | (0x01 if retain else 0)
    body = encode_string(topic)
    if qos > 0:
        assert packet_id is not None, "QoS > 0 needs a packet id"
        body += struct.pack("!H", packet_id)
    return packet(PUBLISH, flags, body + encode_properties(props, props_raw) + payload)


def ack(ptype: int, packet_id: int, reason: int = SUCCESS, props: Sequence[Prop] = ()) -> bytes:
    """PUBACK, PUBREC, PUBREL or PUBCOMP with a reason code (and properties when given)."""
    flags = 0x02 if ptype == PUBREL else 0
    body = struct.pack("!H", packet_id)
    if reason != SUCCESS or props:
        body += bytes([reason])
        if props:
            body += encode_properties(props)
    return packet(ptype, flags, body)


def sub_options(qos: int = 0, no_local: bool = False, retain_as_published: bool = False,
                retain_handling: int = 0) -> int:
    """The Subscription Options byte (3.8.3.1)."""
    return (qos | (0x04 if no_local else 0) | (0x08 if retain_as_published else 0)
            | (retain_handling << 4))


def subscribe(packet_id: int, filters: Sequence[tuple[Union[str, bytes], int]],
              props: Sequence[Prop] = (), flags: int = 0x02) -> bytes:
    """SUBSCRIBE (3.8); each filter comes with its Subscription Options byte."""
    body = struct.pack("!H", packet_id) + encode_properties(props)
    for topic_filter, options in filters:
        body += encode_string(topic_filter) + bytes([options])
    return packet(SUBSCRIBE, flags, body)


def unsubscribe(packet_id: int, filters: Iterable[Union[str, bytes]],
                props: Sequence[Prop] = ()) -> bytes:
    body = struct.pack("!H", packet_id) + encode_properties(props)
    return packet(UNSUBSCRIBE, 0x02, body + b"".join(encode_string(f) for f in filters))


def disconnect(reason: int = SUCCESS, props: Sequence[Prop] = ()) -> bytes:
    if reason == SUCCESS and not props:
        return packet(DISCONNECT, 0)
    return packet(DISCONNECT, 0, bytes([reason]) + encode_properties(props))


def auth(reason: int = CONTINUE_AUTHENTICATION, props: Sequence[Prop] = ()) -> bytes:
    return packet(AUTH, 0, bytes([reason]) + encode_properties(props))


# --------------------------------------------------------------------------------------------
# Decoding server packets


@dataclasses.dataclass
class Packet5:
    """One decoded MQTT 5 packet. Fields that do not apply to `type` keep their defaults."""
    type: int
    flags: int
    body: bytes
    packet_id: Optional[int] = None
    reason_code: Optional[int] = None
    props: Props = dataclasses.field(default_factory=Props)
    # CONNACK
    session_present: bool = False
    # PUBLISH: `topic` is resolved through the connection's topic aliases; `wire_topic` is what
    # the packet carried (empty when only an alias was sent).
    topic: str = ""
    wire_topic: str = ""
    payload: bytes = b""
    qos: int = 0
    dup: bool = False
    retain: bool = False
    # SUBACK / UNSUBACK
    reason_codes: list[int] = dataclasses.field(default_factory=list)

    @property
    def name(self) -> str:
        return TYPE_NAMES.get(self.type, f"type{self.type}")

    @property
    def return_code(self) -> Optional[int]:  # the name mqtt_raw's helpers use
        return self.reason_code

    def __repr__(self) -> str:
        rc = "" if self.reason_code is None else f", rc={self.reason_code:#04x}"
        if self.type == PUBLISH:
            return (f"PUBLISH(topic={self.topic!r}, wire_topic={self.wire_topic!r}, "
                    f"payload={self.payload[:40]!r}{'...' if len(self.payload) > 40 else ''}, "
                    f"qos={self.qos}, dup={int(self.dup)}, retain={int(self.retain)}, "
                    f"id={self.packet_id}, props={self.props})")
        if self.type == CONNACK:
            return f"CONNACK(sp={int(self.session_present)}{rc}, props={self.props})"
        if self.type in (SUBACK, UNSUBACK):
            codes = [hex(c) for c in self.reason_codes]
            return f"{self.name}(id={self.packet_id}, codes={codes}, props={self.props})"
        pid = "" if self.packet_id is None else f"id={self.packet_id}"
        return f"{self.name}({pid}{rc}, props={self.props})"


def parse(first_byte: int, body: bytes) -> Packet5:
    """Decodes a complete packet sent by a server. Raises ValueError on a malformed one."""
    p = Packet5(type=first_byte >> 4, flags=first_byte & 0x0F, body=body)
    if p.type == CONNACK:
        if len(body) < 3:
            raise ValueError(f"CONNACK body {body!r}")
        if body[0] & 0xFE:
            raise ValueError(f"CONNACK reserved flag bits set [MQTT-3.2.2-1]: {body!r}")
        p.session_present = bool(body[0] & 0x01)
        p.reason_code = body[1]
        p.props, _ = decode_properties(body, 2)
    elif p.type == PUBLISH:
        p.dup = bool(p.flags & 0x08)
        p.qos = (p.flags >> 1) & 0x03
        p.retain = bool(p.flags & 0x01)
        raw, pos = _read_string(body, 0)
        p.topic = p.wire_topic = raw.decode("utf-8")
        if p.qos > 0:
            (p.packet_id,) = struct.unpack_from("!H", body, pos)
            pos += 2
        p.props, pos = decode_properties(body, pos)
        p.payload = body[pos:]
    elif p.type in (PUBACK, PUBREC, PUBREL, PUBCOMP):
        (p.packet_id,) = struct.unpack_from("!H", body, 0)
        p.reason_code = body[2] if len(body) > 2 else SUCCESS
        if len(body) > 3:
            p.props, _ = decode_properties(body, 3)
    elif p.type in (SUBACK, UNSUBACK):
        (p.packet_id,) = struct.unpack_from("!H", body, 0)
        p.props, pos = decode_properties(body, 2)
        p.reason_codes = list(body[pos:])
    elif p.type in (DISCONNECT, AUTH):
        p.reason_code = body[0] if body else SUCCESS
        if len(body) > 1:
            p.props, _ = decode_properties(body, 1)
    return p


# --------------------------------------------------------------------------------------------
# A raw MQTT 5 client


class RawClient5(mqtt_raw.RawClient):
    """mqtt_raw.RawClient speaking MQTT 5: packets decode to Packet5, and topic aliases the server
    assigns are resolved (`Packet5.topic`) while `wire_topic` keeps what was sent. The acks
    RawClient sends (PUBACK etc. without a reason code) are valid MQTT 5 (reason 0x00)."""

    def __init__(self, host: str, port: int, timeout: float = 5.0, source: Optional[str] = None):
        super().__init__(host, port, timeout, source)
        self.aliases: dict[int, str] = {}

    def _parse(self, first: int, body: bytes) -> Packet5:
        # RawClient's framing; only the packet parser and alias resolution differ.
        p = parse(first, body)
        if p.type == PUBLISH and TOPIC_ALIAS in p.props:
            alias = p.props.get(TOPIC_ALIAS)
            if p.wire_topic:
                self.aliases[alias] = p.wire_topic
            else:
                p.topic = self.aliases.get(alias, "")
        return p

    # -- MQTT 5 conveniences

    def connect(self, client_id: Union[str, bytes] = "", clean_start: bool = True,
                keepalive: int = 60, props: Sequence[Prop] = (), will: Optional[Will5] = None,
                **kw: Any) -> Packet5:
        """Sends CONNECT and returns the CONNACK (any reason code)."""
        self.send(connect(client_id, clean_start=clean_start, keepalive=keepalive, props=props,
                          will=will, **kw))
        return self.expect(CONNACK, what="CONNECT answer")

    def subscribe(self, filters: Sequence[tuple[Union[str, bytes], int]],
                  props: Sequence[Prop] = (), packet_id: Optional[int] = None) -> Packet5:
        """Sends SUBSCRIBE (filters with their option bytes); returns the SUBACK."""
        pid = packet_id or self.next_packet_id()
        self.send(subscribe(pid, filters, props))
        return self.expect(SUBACK, packet_id=pid)

    def unsubscribe(self, filters: Iterable[Union[str, bytes]], props: Sequence[Prop] = (),
                    packet_id: Optional[int] = None) -> Packet5:
        pid = packet_id or self.next_packet_id()
        self.send(unsubscribe(pid, list(filters), props))
        return self.expect(UNSUBACK, packet_id=pid)

    def publish(self, topic: Union[str, bytes], payload: bytes = b"", qos: int = 0,
                retain: bool = False, props: Sequence[Prop] = ()) -> Optional[Packet5]:
        """Publishes; for QoS 1 returns the PUBACK, for QoS 2 the PUBREC (after completing the
        PUBREL/PUBCOMP exchange when the PUBREC reason code is below 0x80)."""
        if qos == 0:
            self.send(publish(topic, payload, 0, retain, props=props))
            return None
        pid = self.next_packet_id()
        self.send(publish(topic, payload, qos, retain, packet_id=pid, props=props))
        if qos == 1:
            return self.expect(PUBACK, packet_id=pid)
        rec = self.expect(PUBREC, packet_id=pid)
        if rec.reason_code < 0x80:
            self.send(ack(PUBREL, pid))
            self.expect(PUBCOMP, packet_id=pid)
        return rec

    def publishes_within(self, seconds: float) -> list[Packet5]:
        """Every PUBLISH (acknowledged) that arrives within `seconds`: a bounded check for
        messages that must not come, not a synchronisation step."""
        deadline = time.monotonic() + seconds
        got = []
        while True:
            try:
                got.append(self.receive_publish(max(0.0, deadline - time.monotonic())))
            except Timeout:
                return got

    def expect_disconnect(self, reason: int, rule: str, timeout: float = 5.0) -> Packet5:
        """Asserts that the server sends DISCONNECT with `reason` and then closes the connection
        ([MQTT-4.13.1-1], [MQTT-4.13.2-1]); returns the DISCONNECT."""
        try:
            p = self.expect(DISCONNECT, timeout=timeout)
        except ConnectionClosed as e:
            raise AssertionError(f"expected DISCONNECT {reason:#04x} {rule}; the server closed "
                                 f"the connection without one ({e})") from None
        except Timeout as e:
            raise AssertionError(f"expected DISCONNECT {reason:#04x} {rule}; nothing within "
                                 f"{timeout:g} s ({e})") from None
        assert p.reason_code == reason, \
            f"expected DISCONNECT {reason:#04x} {rule}, got {p}"
        assert self.wait_closed(timeout), \
            f"after DISCONNECT {reason:#04x} the server closes the connection [MQTT-4.13.2-1]"
        return p

    def disconnect5(self, reason: int = SUCCESS, props: Sequence[Prop] = (),
                    wait: bool = True, timeout: float = 5.0) -> None:
        """Sends DISCONNECT with a reason code (and properties) and, with `wait`, waits for the
        server to close its end (which shows it has processed the DISCONNECT)."""
        try:
            self.send(disconnect(reason, props))
            if wait and not self.wait_closed(timeout):
                raise Timeout(f"server did not close the connection within {timeout:g} s "
                              "after DISCONNECT")
        finally:
            self.close()


# --------------------------------------------------------------------------------------------
# paho-mqtt speaking MQTT 5


def paho_props(packet_type: int, **values: Any) -> Properties:
    """paho Properties for `packet_type` (PacketTypes.CONNECT etc.) from paho's attribute names,
    e.g. paho_props(PacketTypes.PUBLISH, ContentType="text/plain", UserProperty=[("k", "v")])."""
    p = Properties(packet_type)
    for name, value in values.items():
        setattr(p, name, value)
    return p


class Paho5:
    """paho-mqtt 1.6.1 at MQTTv5 with its network loop on a thread and blocking calls with
    deadlines (paho's MQTT 5 callbacks have other signatures than clients.PahoClient's)."""

    def __init__(self, broker: Broker, client_id: str = "", keepalive: int = 60,
                 will: Optional[tuple[str, bytes, int, bool, Optional[Properties]]] = None):
        self.broker = broker
        self.keepalive = keepalive
        self.client = paho.Client(client_id=client_id, protocol=paho.MQTTv5,
                                  reconnect_on_failure=False)
        if will is not None:
            topic, payload, qos, retain, props = will
            self.client.will_set(topic, payload, qos, retain, properties=props)
        self.messages: "queue.Queue[paho.MQTTMessage]" = queue.Queue()
        self._lock = threading.Lock()
        self.connack: Optional[tuple[int, dict, Properties]] = None
        self.disconnected = threading.Event()
        self.disconnect_rc: Any = None
        self._subacks: dict[int, list[int]] = {}
        self._unsubacks: dict[int, list[int]] = {}
        self.client.on_connect = self._on_connect
        self.client.on_message = lambda c, u, m: self.messages.put(m)
        self.client.on_subscribe = self._on_subscribe
        self.client.on_unsubscribe = self._on_unsubscribe
        self.client.on_disconnect = self._on_disconnect

    def _on_connect(self, client, userdata, flags, reason, properties):
        with self._lock:
            self.connack = (reason.value, flags, properties)

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties):
        with self._lock:
            self._subacks[mid] = [rc.value for rc in reason_codes]

    def _on_unsubscribe(self, client, userdata, mid, properties, reason_codes):
        codes = reason_codes if isinstance(reason_codes, list) else [reason_codes]
        with self._lock:
            self._unsubacks[mid] = [rc.value for rc in codes]

    def _on_disconnect(self, client, userdata, rc, properties=None):
        self.disconnect_rc = rc
        self.disconnected.set()

    def connect(self, clean_start: bool = True, properties: Optional[Properties] = None,
                timeout: float = 5.0) -> tuple[dict, Properties]:
        """Connects; returns the CONNACK flags and properties. Fails unless the reason is 0."""
        self.client.connect(self.broker.host, self.broker.port, keepalive=self.keepalive,
                            clean_start=clean_start, properties=properties)
        self.client.loop_start()
        rc, flags, props = wait_for(lambda: self.connack, timeout, message="CONNACK (paho v5)")
        assert rc == 0, f"paho MQTT 5 CONNECT refused with reason code {rc:#04x}"
        return flags, props

    def subscribe(self, topic: str, qos: int = 0, options: Any = None,
                  properties: Optional[Properties] = None, timeout: float = 5.0) -> list[int]:
        """Subscribes (`options`: a paho SubscribeOptions); returns the SUBACK reason codes."""
        if options is not None:
            result, mid = self.client.subscribe(topic, options=options, properties=properties)
        else:
            result, mid = self.client.subscribe(topic, qos, properties=properties)
        assert result == paho.MQTT_ERR_SUCCESS, f"paho subscribe failed: {result}"
        return wait_for(lambda: self._subacks.get(mid), timeout, message=f"SUBACK for mid {mid}")

    def unsubscribe(self, topic: str, timeout: float = 5.0) -> list[int]:
        result, mid = self.client.unsubscribe(topic)
        assert result == paho.MQTT_ERR_SUCCESS
        return wait_for(lambda: self._unsubacks.get(mid), timeout,
                        message=f"UNSUBACK for mid {mid}")

    def publish(self, topic: str, payload: bytes = b"", qos: int = 0, retain: bool = False,
                properties: Optional[Properties] = None, timeout: float = 5.0) -> None:
        """Publishes and waits until the handshake completes (QoS 0: until written)."""
        info = self.client.publish(topic, payload, qos, retain, properties=properties)
        info.wait_for_publish(timeout)
        assert info.is_published(), f"paho publish to {topic!r} not acknowledged in {timeout:g} s"

    def get_message(self, timeout: float = 5.0) -> paho.MQTTMessage:
        try:
            return self.messages.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no message arrived within {timeout:g} s") from None

    def messages_until(self, topic: str, payload: bytes, timeout: float = 5.0) -> list:
        """Messages received before the sentinel (`topic`, `payload`)."""
        deadline = time.monotonic() + timeout
        got = []
        while True:
            m = self.get_message(max(0.0, deadline - time.monotonic()))
            if m.topic == topic and m.payload == payload:
                return got
            got.append(m)

    def disconnect(self, reasoncode: Any = None, properties: Optional[Properties] = None) -> None:
        self.client.disconnect(reasoncode, properties)
        self.disconnected.wait(5.0)
        self.client.loop_stop()

    def close(self) -> None:
        """Drops the connection without a DISCONNECT and stops the network thread."""
        sock = self.client.socket()
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.client.loop_stop()
        sock = self.client.socket()
        if sock is not None:
            try:
                sock.close()
            except OSError:
                pass


def paho_message_props(message: paho.MQTTMessage) -> dict[str, Any]:
    """The MQTT 5 properties paho decoded on a received message, by paho's attribute names."""
    props = getattr(message, "properties", None)
    if props is None:
        return {}
    names = ("PayloadFormatIndicator", "MessageExpiryInterval", "ContentType", "ResponseTopic",
             "CorrelationData", "UserProperty", "SubscriptionIdentifier", "TopicAlias")
    return {n: getattr(props, n) for n in names if hasattr(props, n)}


# --------------------------------------------------------------------------------------------
# Fixtures: brokers with MQTT 5 settings, and MQTT 5 clients

# Hermod's MQTT 5 settings by table; broker_process.Broker does not know them, so a broker that
# needs one gets a configuration file written here (the base rendered by broker_process).
V5_LIMIT_KEYS = ("receive_maximum", "topic_alias_maximum", "max_session_expiry",
                 "max_keepalive", "max_qos")
V5_FEATURE_KEYS = ("retain_available", "wildcard_subscriptions", "subscription_identifiers",
                   "shared_subscriptions")


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def v5_hermod_toml(port: int, base: dict[str, Any], v5: dict[str, Any]) -> str:
    text = hermod_toml(port, base)
    tables = [line for line in text.splitlines() if line.startswith("[")]
    if not tables or tables[-1] != "[limits]":
        raise RuntimeError("broker_process.hermod_toml no longer ends with the [limits] table; "
                           "update mqtt5_raw.v5_hermod_toml")
    lines = [f"{k} = {_toml_value(v5[k])}" for k in V5_LIMIT_KEYS if k in v5]
    features = [f"{k} = {_toml_value(v5[k])}" for k in V5_FEATURE_KEYS if k in v5]
    if features:
        lines += ["", "[features]"] + features
    return text + "\n".join(lines) + "\n"


def v5_mosquitto_conf(port: int, base: dict[str, Any], v5: dict[str, Any]) -> str:
    lines = []
    # mosquitto announces max_inflight_messages as its Receive Maximum (the last line wins).
    if "receive_maximum" in v5:
        lines.append(f"max_inflight_messages {v5['receive_maximum']}")
    if "topic_alias_maximum" in v5:
        lines.append(f"max_topic_alias {v5['topic_alias_maximum']}")
    for key in ("max_keepalive", "max_qos"):
        if key in v5:
            lines.append(f"{key} {v5[key]}")
    if "retain_available" in v5:
        lines.append(f"retain_available {_toml_value(v5['retain_available'])}")
    # max_session_expiry and the other features have no mosquitto 2.0 equivalent: tests that
    # set them are hermod_only.
    return mosquitto_conf(port, base) + "\n".join(lines) + "\n"


@pytest.fixture
def make_broker5(make_broker, tmp_path):
    """Factory like make_broker that also takes Hermod's MQTT 5 settings (V5_LIMIT_KEYS,
    V5_FEATURE_KEYS), e.g. make_broker5(receive_maximum=2, shared_subscriptions=False)."""
    serial = itertools.count(1)

    def make(**config: Any) -> Broker:
        v5 = {k: config.pop(k) for k in list(config) if k in V5_LIMIT_KEYS + V5_FEATURE_KEYS}
        if not v5:
            return make_broker(**config)
        port = free_port()
        full = {**DEFAULT_CONFIG, **config}
        if IS_MOSQUITTO:
            path = tmp_path / f"v5-mosquitto-{next(serial)}.conf"
            path.write_text(v5_mosquitto_conf(port, full, v5))
        else:
            path = tmp_path / f"v5-hermod-{next(serial)}.toml"
            path.write_text(v5_hermod_toml(port, full, v5))
        return make_broker(port=port, config_file=False, args=("-c", str(path)), **config)

    return make


class V5Clients:
    """Creates MQTT 5 clients (raw and paho) and closes them all at teardown."""

    def __init__(self, default_broker: Callable[[], Broker]):
        self._default_broker = default_broker
        self._open: list[Any] = []

    def raw(self, broker: Optional[Broker] = None, timeout: float = 5.0) -> RawClient5:
        b = broker or self._default_broker()
        c = RawClient5(b.host, b.port, timeout=timeout)
        self._open.append(c)
        return c

    def raw_connected(self, broker: Optional[Broker] = None, client_id: Optional[str] = None,
                      **connect_kw: Any) -> RawClient5:
        """A raw MQTT 5 client whose CONNECT was accepted (CONNACK reason code 0x00)."""
        c = self.raw(broker)
        ack_ = c.connect(unique_id("raw5") if client_id is None else client_id, **connect_kw)
        assert ack_.reason_code == SUCCESS, f"CONNECT refused: {ack_} [MQTT-3.1.4-5]"
        c.connack = ack_
        return c

    def paho(self, broker: Optional[Broker] = None, client_id: Optional[str] = None,
             connect: bool = True, clean_start: bool = True,
             properties: Optional[Properties] = None, **kw: Any) -> Paho5:
        c = Paho5(broker or self._default_broker(),
                  unique_id("paho5") if client_id is None else client_id, **kw)
        self._open.append(c)
        if connect:
            c.connect(clean_start=clean_start, properties=properties)
        return c

    def close_all(self) -> None:
        for c in reversed(self._open):
            try:
                c.close()
            except Exception:  # teardown must reach every client
                pass


@pytest.fixture
def v5(request):
    """MQTT 5 client factory; its default broker is the test's `broker` fixture (started lazily)."""
    c = V5Clients(lambda: request.getfixturevalue("broker"))
    yield c
    c.close_all()


def let_time_pass(seconds: float) -> None:
    """Lets wall-clock time pass when the passing of time is itself what a test examines (an
    expiry interval counting down). Not a synchronisation step: never use it to wait for the
    broker to do something."""
    time.sleep(seconds)
