"""The conformance table: one row per normative statement of MQTT 3.1.1 and 5.0 on what a server
receives, with the exact bytes a client sends and the exact answer the server must give.

Each Row names the statement (`rule`: the standard's [MQTT-x.y.z-n] ids, or a section where the
standard states the rule without an id), says which protocol versions it applies to (3 = MQTT 3.1
"MQIsdp", 4 = 3.1.1, 5 = 5.0), gives the bytes sent (a function of the version; unless
`connect=False` they follow a valid CONNECT that got CONNACK 0x00), and the expected answer:

  * Closed()            the server closes the connection without sending anything;
  * Disconnect(rc)      (5.0) DISCONNECT with reason code rc, then the connection closes;
  * Connack(rc, sp)     CONNACK with that code (3.1.1 return code or 5.0 reason code), then the
                        connection closes when rc is a failure;
  * Packets(b, ...)     exactly these packets, and the connection stays open (PINGREQ → PINGRESP);
  * Silent()            nothing within 0.3 s, and the connection stays open.

For MQTT 5 packets a server may add properties the standard leaves to it (Reason String, User
Property, CONNACK capabilities): the comparison of 5.0 packets ignores the property block and
nothing else. 3.1/3.1.1 packets are compared byte for byte.

`choice` says which answer Hermod chose where the standard allows several, and why (listed in
docs/conformance.md). `pending_broker` marks a row the broker (src/broker) must still implement:
the runner expects it to fail (strict xfail) so it fails the day it passes. A `scenario` row needs
more than one exchange (a second client, a message in flight, a reconnect); the runner's function
of that name plays it, and `send` gives the bytes the row is about.

The rows are written from the two OASIS standards, not from any broker or test suite.
"""

from __future__ import annotations

import dataclasses
import struct
from typing import Any, Callable, Optional, Union

V31, V311, V5 = 3, 4, 5
ALL = (V31, V311, V5)
V3 = (V31, V311)
ONLY5 = (V5,)


# --------------------------------------------------------------------------------------------
# Expected answers


@dataclasses.dataclass(frozen=True)
class Closed:
    def __str__(self) -> str:
        return "connection closed, nothing sent"


@dataclasses.dataclass(frozen=True)
class Disconnect:
    rc: int

    def __str__(self) -> str:
        return f"DISCONNECT {self.rc:#04x}, then closed"


@dataclasses.dataclass(frozen=True)
class Connack:
    rc: int
    sp: int = 0

    def __str__(self) -> str:
        return f"CONNACK sp={self.sp} rc={self.rc:#04x}" + (", then closed" if self.rc else "")


@dataclasses.dataclass(frozen=True)
class Packets:
    packets: tuple[bytes, ...]

    def __init__(self, *packets: bytes):
        object.__setattr__(self, "packets", tuple(packets))

    def __str__(self) -> str:
        return "packets " + " | ".join(p.hex(" ") for p in self.packets) + ", connection open"


@dataclasses.dataclass(frozen=True)
class Silent:
    def __str__(self) -> str:
        return "nothing sent, connection open"


Expect = Union[Closed, Disconnect, Connack, Packets, Silent]


def err(rc: int) -> dict[int, Expect]:
    """A Malformed Packet or Protocol Error after CONNACK: 3.1/3.1.1 close the connection
    (3.1.1 section 4.8, [MQTT-4.8.0-1]), 5.0 sends DISCONNECT with the reason code and closes
    ([MQTT-4.13.1-1])."""
    return {V31: Closed(), V311: Closed(), V5: Disconnect(rc)}


def connect_err(rc5: int, v3: Optional[int] = None) -> dict[int, Expect]:
    """A refused CONNECT: 5.0 lets the server send CONNACK with a reason code >= 0x80 before
    closing ([MQTT-3.1.4-2]), which Hermod does; 3.1/3.1.1 close without CONNACK
    ([MQTT-3.1.4-1]) unless a return code fits (`v3`)."""
    three = Connack(v3) if v3 is not None else Closed()
    return {V31: three, V311: three, V5: Connack(rc5)}


# --------------------------------------------------------------------------------------------
# Byte builders (written out here so a row's bytes can be read without another module)


def vbi(n: int) -> bytes:
    out = bytearray()
    while True:
        b, n = n % 128, n // 128
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def s(x: Union[str, bytes]) -> bytes:
    data = x.encode() if isinstance(x, str) else x
    return struct.pack("!H", len(data)) + data


def u16(n: int) -> bytes:
    return struct.pack("!H", n)


def pkt(first: int, body: bytes = b"") -> bytes:
    return bytes([first]) + vbi(len(body)) + body


def props(*items: bytes) -> bytes:
    """A property block from encoded properties (identifier byte + value)."""
    body = b"".join(items)
    return vbi(len(body)) + body


def pv(v: int, block: bytes = b"\x00") -> bytes:
    """The property block, present in 5.0 only."""
    return block if v == V5 else b""


# Encoded properties (identifier + value), MQTT 5.0 table 2-4.
def p_byte(pid: int, value: int) -> bytes:
    return bytes([pid, value])


def p_u16(pid: int, value: int) -> bytes:
    return bytes([pid]) + u16(value)


def p_u32(pid: int, value: int) -> bytes:
    return bytes([pid]) + struct.pack("!I", value)


def p_str(pid: int, value: Union[str, bytes]) -> bytes:
    return bytes([pid]) + s(value)


def p_user(k: Union[str, bytes], val: Union[str, bytes]) -> bytes:
    return b"\x26" + s(k) + s(val)


PFI, MEI, CT, RT, CD, SID, SEI, ACI, SKA, AM, AD, RPI, WDI, RRI, RI, SR, RS, RM, TAM, TA, MQ, RA, \
    UP, MPS = (0x01, 0x02, 0x03, 0x08, 0x09, 0x0B, 0x11, 0x12, 0x13, 0x15, 0x16, 0x17, 0x18, 0x19,
               0x1A, 0x1C, 0x1F, 0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27)


def connect(v: int, cid: Union[str, bytes] = "cid", flags: int = 0x02, payload: bytes = b"",
            cprops: bytes = b"\x00", name: Optional[Union[str, bytes]] = None,
            level: Optional[int] = None, keepalive: int = 60) -> bytes:
    """CONNECT: protocol name and level for `v` unless given, `flags`, keep alive, (5.0)
    properties, client id, then `payload` (will, user name, password fields as raw bytes)."""
    name = name if name is not None else ("MQIsdp" if v == V31 else "MQTT")
    level = level if level is not None else v
    var = s(name) + bytes([level, flags]) + u16(keepalive) + (cprops if v == V5 else b"")
    return pkt(0x10, var + s(cid) + payload)


def will(v: int, topic: Union[str, bytes] = "will/t", payload: bytes = b"w",
         wprops: bytes = b"\x00") -> bytes:
    """The will fields of the CONNECT payload (will properties in 5.0 only)."""
    return (wprops if v == V5 else b"") + s(topic) + s(payload)


def publish(v: int, topic: Union[str, bytes] = "t/a", payload: bytes = b"x", qos: int = 0,
            pid: int = 1, flags: Optional[int] = None, block: bytes = b"\x00") -> bytes:
    f = flags if flags is not None else (qos << 1)
    body = s(topic) + (u16(pid) if (f >> 1) & 3 else b"") + pv(v, block) + payload
    return pkt(0x30 | f, body)


def ack(first: int, pid: int, rc: Optional[int] = None, block: Optional[bytes] = None) -> bytes:
    body = u16(pid)
    if rc is not None:
        body += bytes([rc])
        if block is not None:
            body += block
    return pkt(first, body)


def subscribe(v: int, pid: int, *filters: tuple[Union[str, bytes], int], flags: int = 0x02,
              block: bytes = b"\x00") -> bytes:
    body = u16(pid) + pv(v, block) + b"".join(s(f) + bytes([o]) for f, o in filters)
    return pkt(0x80 | flags, body)


def unsubscribe(v: int, pid: int, *filters: Union[str, bytes], flags: int = 0x02,
                block: bytes = b"\x00") -> bytes:
    body = u16(pid) + pv(v, block) + b"".join(s(f) for f in filters)
    return pkt(0xA0 | flags, body)


def suback(v: int, pid: int, *codes: int) -> bytes:
    return pkt(0x90, u16(pid) + pv(v) + bytes(codes))


def unsuback(v: int, pid: int, *codes: int) -> bytes:
    return pkt(0xB0, u16(pid) + (pv(v) + bytes(codes) if v == V5 else b""))


def puback(v: int, pid: int, rc: int = 0) -> bytes:
    return ack(0x40, pid) if rc == 0 else ack(0x40, pid, rc)


def pubcomp(v: int, pid: int, rc: int = 0) -> bytes:
    return ack(0x70, pid) if rc == 0 or v != V5 else ack(0x70, pid, rc)


PINGREQ = b"\xc0\x00"
PINGRESP = b"\xd0\x00"


def granted(v: int, qos: int) -> int:
    return qos


def sub_fail(v: int) -> int:
    """The SUBACK code for a filter Hermod refuses as invalid: 0x80 in 3.1.1 (its only failure
    code), 0x8F Topic Filter invalid in 5.0."""
    return 0x8F if v == V5 else 0x80


# --------------------------------------------------------------------------------------------
# The rows


@dataclasses.dataclass
class Row:
    id: str
    rule: str
    versions: tuple[int, ...]
    send: Callable[[int], bytes]
    expect: Union[Expect, dict[int, Expect]]
    quote: str = ""
    connect: bool = True
    choice: str = ""
    pending_broker: str = ""
    scenario: str = ""
    config: dict[str, Any] = dataclasses.field(default_factory=dict)

    def expected(self, v: int) -> Expect:
        return self.expect[v] if isinstance(self.expect, dict) else self.expect


ROWS: list[Row] = []


def row(id: str, rule: str, versions: tuple[int, ...], send: Callable[[int], bytes],
        expect: Union[Expect, dict[int, Expect], Callable[[int], Expect]], quote: str = "",
        **kw: Any) -> None:
    if callable(expect) and not isinstance(expect, (Closed, Disconnect, Connack, Packets, Silent)):
        expect = {v: expect(v) for v in versions}
    ROWS.append(Row(id, rule, versions, send, expect, quote, **kw))


MALFORMED, PROTOCOL = 0x81, 0x82
CTRL_CHOICE = ("control characters U+0001..U+001F and U+007F..U+009F in client identifiers, user "
               "names, topic names and topic filters are treated as malformed (5.0 1.5.4 and 3.1.1 "
               "1.5.3 let a receiver do so): they only ever come from a bug or an attack (log and "
               "terminal injection through $SYS, logs and hermod-cli output), and refusing them at "
               "the server spares every subscriber (5.0 5.4.9); payloads, user properties and other "
               "strings keep them")

# ---- 1.5 data representation and 2.x fixed header -----------------------------------------

row("remaining-length-five-bytes", "5.0 1.5.5; 3.1.1 2.2.3", ALL,
    lambda v: b"\x30\xff\xff\xff\xff\x7f", err(MALFORMED),
    "a variable byte integer has at most four bytes; a fifth cannot be parsed")
row("remaining-length-not-minimal-pingreq", "[MQTT-1.5.5-1]", ALL,
    lambda v: b"\xc0\x80\x00", err(MALFORMED),
    "the encoded value MUST use the minimum number of bytes necessary",
    choice="3.1.1 has no minimal-encoding rule; Hermod reads the same bytes the same way in every "
           "version (malformed), as 3.1.1 2.2.3's table gives only minimal encodings")
row("remaining-length-not-minimal-publish", "[MQTT-1.5.5-1]", ALL,
    lambda v: b"\x30\x87\x00" + (s("t/a") + pv(v) + b"xx")[:7],
    err(MALFORMED), "the encoded value MUST use the minimum number of bytes necessary")
row("packet-type-0", "5.0 2.1.2; 3.1.1 2.2.1", ALL, lambda v: b"\x00\x00", err(MALFORMED),
    "packet type 0 is Reserved / Forbidden")
row("packet-type-15-before-5", "3.1.1 2.2.1", V3, lambda v: b"\xf0\x00", Closed(),
    "packet type 15 is Reserved / Forbidden in 3.1.1")
for name, first, body in [
        ("puback", 0x41, u16(1)), ("puback-0x08", 0x48, u16(1)), ("pubrec", 0x52, u16(1)),
        ("pubcomp", 0x74, u16(1)), ("pingreq", 0xc1, b""), ("pingreq-0x08", 0xc8, b"")]:
    row(f"reserved-flags-{name}", "[MQTT-2.1.3-1] [MQTT-2.2.2-1] [MQTT-2.2.2-2]", ALL,
        lambda v, first=first, body=body: pkt(first, body), err(MALFORMED),
        "reserved flag bits MUST be set to the value listed; other values are malformed")
row("reserved-flags-disconnect", "[MQTT-2.1.3-1]", ONLY5, lambda v: b"\xe1\x00",
    Disconnect(MALFORMED), "DISCONNECT flags are reserved 0000")
row("reserved-flags-auth", "[MQTT-3.15.1-1]", ONLY5, lambda v: b"\xf1\x02\x18\x00",
    Disconnect(MALFORMED), "bits 3,2,1,0 of the AUTH fixed header are reserved and MUST be 0")
row("reserved-flags-pubrel-0", "[MQTT-3.6.1-1]", ALL, lambda v: pkt(0x60, u16(1)), err(MALFORMED),
    "PUBREL fixed header bits MUST be 0,0,1,0; any other value is malformed")
row("reserved-flags-pubrel-4", "[MQTT-3.6.1-1]", ALL, lambda v: pkt(0x64, u16(1)), err(MALFORMED),
    "PUBREL fixed header bits MUST be 0,0,1,0")
row("pubrel-dup-3.1", "MQTT 3.1 section 3.6", (V31,), lambda v: pkt(0x6A, u16(7)),
    Packets(pkt(0x70, u16(7))),
    "MQTT 3.1 PUBREL carries QoS 1 and a DUP flag that may be set; the unknown id gets PUBCOMP")
row("pubrel-dup-3.1.1", "[MQTT-3.6.1-1]", (V311, V5), lambda v: pkt(0x6A, u16(7)), err(MALFORMED),
    "from 3.1.1 on PUBREL flags MUST be 0,0,1,0: DUP is no longer allowed")
row("pingreq-with-body", "5.0 3.12; 3.1.1 3.12", ALL, lambda v: b"\xc0\x01\x00", err(MALFORMED),
    "PINGREQ has no variable header and no payload")
row("packet-shorter-than-fields", "5.0 1.2 (Malformed Packet)", ALL,
    lambda v: pkt(0x30, u16(100) + b"t/a"), err(MALFORMED),
    "a topic length running past the packet cannot be parsed")

# ---- 3.1 CONNECT ------------------------------------------------------------------------

row("first-packet-publish", "[MQTT-3.1.0-1]", ALL, lambda v: publish(v), Closed(),
    "the first packet sent from the client to the server MUST be CONNECT", connect=False,
    choice="the server closes without DISCONNECT: 5.0 forbids DISCONNECT before CONNACK "
           "[MQTT-3.14.0-1]")
row("first-packet-pingreq", "[MQTT-3.1.0-1]", ALL, lambda v: PINGREQ, Closed(),
    "the first packet MUST be CONNECT", connect=False)
row("first-packet-subscribe", "[MQTT-3.1.0-1]", ALL, lambda v: subscribe(v, 1, ("a", 0)), Closed(),
    "the first packet MUST be CONNECT", connect=False)
row("first-packet-disconnect", "[MQTT-3.1.0-1]", ALL, lambda v: b"\xe0\x00", Closed(),
    "the first packet MUST be CONNECT", connect=False)
row("first-packet-huge-publish", "[MQTT-3.1.0-1]", ALL,
    lambda v: b"\x30" + vbi(500_000) + s("t/a"), Closed(),
    "the first packet MUST be CONNECT: a PUBLISH header is refused before its 500 kB body comes",
    connect=False)
row("first-packet-huge-connack", "[MQTT-3.1.0-1]", ALL,
    lambda v: b"\x20" + vbi(500_000) + b"\x00", Closed(),
    "the first packet MUST be CONNECT, even when it declares a large remaining length",
    connect=False)
row("second-connect", "[MQTT-3.1.0-2]", ALL, lambda v: connect(v, "second"), err(PROTOCOL),
    "a second CONNECT is a Protocol Error; 3.1.1: the server MUST disconnect the client")
row("protocol-name-wrong", "[MQTT-3.1.2-1]", ALL,
    lambda v: connect(v, "pn", name="MQTX", level=4), Closed(),
    "if the protocol name is incorrect the server MAY disconnect the client", connect=False,
    choice="close without CONNACK: an unknown protocol name means the peer is not speaking MQTT, "
           "so no CONNACK format is known to fit")
row("protocol-name-lowercase", "[MQTT-3.1.2-1]", ALL,
    lambda v: connect(v, "pn", name="mqtt", level=4), Closed(),
    "the protocol name is case sensitive 'MQTT'", connect=False)
row("protocol-level-6", "[MQTT-3.1.2-2]", (V311,), lambda v: connect(V311, "pl", level=6),
    Connack(0x01),
    "an unsupported protocol level is answered with CONNACK 0x01 (unacceptable protocol level)",
    connect=False,
    choice="the 3.1.1 CONNACK form: a client at an unknown level is more likely to read the "
           "older, shorter CONNACK (5.0 3.1.2.2 allows either 0x84 or the 3.1.1 answer)")
row("protocol-level-2", "[MQTT-3.1.2-2]", (V311,), lambda v: connect(V311, "pl", level=2),
    Connack(0x01), "an unsupported protocol level gets CONNACK 0x01", connect=False)
row("protocol-name-mqisdp-level-4", "[MQTT-3.1.2-2]", (V311,),
    lambda v: connect(V311, "pl", name="MQIsdp", level=4), Connack(0x01),
    "MQIsdp is the 3.1 name: at level 4 the level is unacceptable", connect=False)
row("connect-reserved-flag", "[MQTT-3.1.2-3]", ALL,
    lambda v: connect(v, "rf", flags=0x03), connect_err(MALFORMED),
    "the server MUST validate that the reserved flag is 0 (5.0: else Malformed Packet)",
    connect=False)
row("will-qos-3", "[MQTT-3.1.2-12] (5.0) [MQTT-3.1.2-14] (3.1.1)", ALL,
    lambda v: connect(v, "wq", flags=0x02 | 0x04 | 0x18, payload=will(v)), connect_err(MALFORMED),
    "Will QoS 3 MUST NOT be used (5.0: Malformed Packet)", connect=False)
row("will-qos-without-will-flag", "[MQTT-3.1.2-11] (5.0) [MQTT-3.1.2-13] (3.1.1)", ALL,
    lambda v: connect(v, "wq", flags=0x02 | 0x08), connect_err(MALFORMED),
    "if the Will Flag is 0 the Will QoS MUST be 0", connect=False)
row("will-retain-without-will-flag", "[MQTT-3.1.2-13] (5.0) [MQTT-3.1.2-15] (3.1.1)", ALL,
    lambda v: connect(v, "wr", flags=0x02 | 0x20), connect_err(MALFORMED),
    "if the Will Flag is 0 the Will Retain MUST be 0", connect=False)
row("will-flag-without-will-fields", "[MQTT-3.1.2-9]", ALL,
    lambda v: connect(v, "wf", flags=0x02 | 0x04), connect_err(MALFORMED),
    "with the Will Flag set, the will fields MUST be present in the payload", connect=False)
row("password-without-user-name-3.1.1", "[MQTT-3.1.2-22] (3.1.1)", V3,
    lambda v: connect(v, "pw", flags=0x02 | 0x40, payload=s(b"secret")), Closed(),
    "3.1.1: if the User Name Flag is 0, the Password Flag MUST be 0", connect=False)
row("password-without-user-name-5", "5.0 3.1.2.9", ONLY5,
    lambda v: connect(v, "pw", flags=0x02 | 0x40, payload=s(b"secret")), Connack(0),
    "5.0 allows a password without a user name", connect=False)
row("user-name-flag-without-user-name", "[MQTT-3.1.2-17] (5.0) [MQTT-3.1.2-19] (3.1.1)", ALL,
    lambda v: connect(v, "un", flags=0x02 | 0x80), connect_err(MALFORMED),
    "if the User Name Flag is 1, a user name MUST be present", connect=False)
row("password-flag-without-password", "[MQTT-3.1.2-19] (5.0) [MQTT-3.1.2-21] (3.1.1)", ALL,
    lambda v: connect(v, "pw", flags=0x02 | 0x80 | 0x40, payload=s("user")),
    connect_err(MALFORMED), "if the Password Flag is 1, a password MUST be present",
    connect=False)
row("user-name-present-without-flag", "[MQTT-3.1.2-16] (5.0) [MQTT-3.1.2-18] (3.1.1)", ALL,
    lambda v: connect(v, "un", payload=s("user")), connect_err(MALFORMED),
    "if the User Name Flag is 0, a user name MUST NOT be present", connect=False)
row("connect-truncated", "5.0 1.2 (Malformed Packet); [MQTT-3.1.4-1] (3.1.1)", ALL,
    lambda v: pkt(0x10, s("MQIsdp" if v == V31 else "MQTT") + bytes([v])), connect_err(MALFORMED),
    "a CONNECT cut short after the protocol level cannot be parsed", connect=False)
row("client-id-invalid-utf8", "[MQTT-1.5.4-1] [MQTT-3.1.3-4]", ALL,
    lambda v: connect(v, b"a\xff"), connect_err(MALFORMED),
    "the client identifier MUST be a UTF-8 encoded string; ill-formed UTF-8 is malformed",
    connect=False)
row("client-id-surrogate", "[MQTT-1.5.4-1]", ALL, lambda v: connect(v, b"a\xed\xa0\x80"),
    connect_err(MALFORMED), "UTF-8 MUST NOT include encodings of U+D800..U+DFFF", connect=False)
row("client-id-overlong", "[MQTT-1.5.4-1]", ALL, lambda v: connect(v, b"a\xc0\xaf"),
    connect_err(MALFORMED), "character data MUST be well-formed UTF-8 (no overlong forms)",
    connect=False)
row("client-id-null", "[MQTT-1.5.4-2]", ALL, lambda v: connect(v, b"a\x00b"),
    connect_err(MALFORMED), "a UTF-8 string MUST NOT include U+0000", connect=False)
for cp, enc in [("U+0001", b"\x01"), ("U+001F", b"\x1f"), ("U+007F", b"\x7f"),
                ("U+0080", b"\xc2\x80"), ("U+009F", b"\xc2\x9f")]:
    row(f"client-id-control-{cp}", "5.0 1.5.4; 3.1.1 1.5.3 (MAY treat as malformed)", ALL,
        lambda v, enc=enc: connect(v, b"id" + enc), connect_err(MALFORMED),
        "control characters SHOULD NOT be sent; a receiver MAY treat them as malformed",
        connect=False, choice=CTRL_CHOICE)
row("client-id-U+00A0-accepted", "5.0 1.5.4", ALL, lambda v: connect(v, b"id\xc2\xa0"), Connack(0),
    "U+00A0 is not a control character: accepted", connect=False)
row("client-id-noncharacter-accepted", "5.0 1.5.4", ALL, lambda v: connect(v, b"id\xef\xbf\xbf"),
    Connack(0), "U+FFFF SHOULD NOT be sent but is valid UTF-8", connect=False,
    choice="non-characters are accepted everywhere: unlike control characters they do not act on "
           "terminals or logs")
row("client-id-empty-no-clean-session", "[MQTT-3.1.3-8] (3.1.1)", (V311,),
    lambda v: connect(v, "", flags=0x00), Connack(0x02),
    "a zero-byte ClientId with CleanSession 0 MUST get CONNACK 0x02 and close", connect=False)
row("client-id-empty-5-assigned", "[MQTT-3.1.3-6] (5.0)", ONLY5,
    lambda v: connect(v, "", flags=0x00), Connack(0),
    "5.0: a zero-length client id is accepted and an id assigned", connect=False)
row("user-name-invalid-utf8", "[MQTT-3.1.3-12] (5.0) [MQTT-3.1.3-11] (3.1.1)", ALL,
    lambda v: connect(v, "un", flags=0x82, payload=s(b"u\xff")), connect_err(MALFORMED),
    "the user name MUST be a UTF-8 encoded string", connect=False)
row("user-name-control-character", "5.0 1.5.4 (MAY treat as malformed)", ALL,
    lambda v: connect(v, "un", flags=0x82, payload=s(b"u\x1b[2J")), connect_err(MALFORMED),
    "control characters in a user name", connect=False, choice=CTRL_CHOICE)
row("will-topic-invalid-utf8", "[MQTT-3.1.3-11] (5.0) [MQTT-3.1.3-10] (3.1.1)", ALL,
    lambda v: connect(v, "wt", flags=0x06, payload=will(v, b"w\xff")), connect_err(MALFORMED),
    "the will topic MUST be a UTF-8 encoded string", connect=False)
row("will-topic-wildcard", "[MQTT-4.7.0-1] (5.0) [MQTT-4.7.1-1] (3.1.1)", ALL,
    lambda v: connect(v, "wt", flags=0x06, payload=will(v, "w/+")), connect_err(0x90),
    "wildcards MUST NOT be used within a topic name; the will topic is one", connect=False,
    choice="5.0: CONNACK 0x90 (Topic Name invalid, which table 3-1 names for the will topic); "
           "3.1.1: close without CONNACK, no return code fits")
row("will-topic-empty", "[MQTT-4.7.3-1]", ALL,
    lambda v: connect(v, "wt", flags=0x06, payload=will(v, "")), connect_err(0x90),
    "topic names MUST be at least one character long", connect=False)
row("will-topic-control-character", "5.0 1.5.4 (MAY treat as malformed)", ALL,
    lambda v: connect(v, "wt", flags=0x06, payload=will(v, b"w\x07")), connect_err(MALFORMED),
    "control characters in the will topic", connect=False, choice=CTRL_CHOICE)

# CONNECT properties (5.0 3.1.2.11) and will properties (3.1.3.2)
C5 = lambda block: (lambda v: connect(v, "cp", cprops=block))  # noqa: E731
row("connect-property-unknown-id", "5.0 2.2.2.2; 1.2 (Malformed Packet)", ONLY5,
    C5(props(b"\x7f\x00")), Connack(MALFORMED),
    "an identifier the standard does not define cannot be parsed: malformed", connect=False)
row("connect-property-id-over-0xff", "5.0 2.2.2.2", ONLY5, C5(props(b"\x81\x02\x00")),
    Connack(MALFORMED), "identifier 257 names no property: malformed", connect=False)
row("connect-property-id-not-minimal", "[MQTT-1.5.5-1]", ONLY5, C5(props(b"\x91\x00" + b"\x00" * 4)),
    Connack(MALFORMED), "identifier 0x11 encoded in two bytes is not minimal", connect=False)
row("connect-property-length-not-minimal", "[MQTT-1.5.5-1]", ONLY5, C5(b"\x80\x00"),
    Connack(MALFORMED), "property length 0 encoded in two bytes", connect=False)
row("connect-property-value-cut-short", "5.0 1.2 (Malformed Packet)", ONLY5,
    C5(props(b"\x11\x00\x00")), Connack(MALFORMED),
    "Session Expiry Interval with 2 of its 4 bytes", connect=False)
row("connect-property-length-past-packet", "5.0 1.2 (Malformed Packet)", ONLY5,
    lambda v: pkt(0x10, s("MQTT") + b"\x05\x02\x00\x3c" + b"\x20" + b"\x11\x00\x00\x00\x00"),
    Connack(MALFORMED), "a property length running past the end of the packet", connect=False)
row("connect-property-not-allowed", "5.0 2.2.2.2 (table 2-4)", ONLY5,
    C5(props(p_u16(TA, 1))), Connack(PROTOCOL),
    "Topic Alias is not a CONNECT property: it parses, and is not allowed", connect=False)
row("connect-property-not-allowed-cut-short", "5.0 2.2.2.2; 1.2", ONLY5,
    C5(props(b"\x23\x00")), Connack(MALFORMED),
    "a disallowed property whose value is cut short cannot be parsed: malformed first",
    connect=False)
row("connect-property-not-allowed-then-unknown", "5.0 2.2.2.2; 1.2", ONLY5,
    C5(props(p_u16(TA, 1), b"\x7f")), Connack(MALFORMED),
    "the whole block is parsed first: a later unknown identifier makes it malformed",
    connect=False)
row("connect-session-expiry-twice", "5.0 3.1.2.11.2", ONLY5,
    C5(props(p_u32(SEI, 1), p_u32(SEI, 2))), Connack(PROTOCOL),
    "it is a Protocol Error to include the Session Expiry Interval more than once", connect=False)
row("connect-receive-maximum-0", "5.0 3.1.2.11.3", ONLY5, C5(props(p_u16(RM, 0))),
    Connack(PROTOCOL), "it is a Protocol Error for Receive Maximum to be 0", connect=False)
row("connect-maximum-packet-size-0", "5.0 3.1.2.11.4", ONLY5, C5(props(p_u32(MPS, 0))),
    Connack(PROTOCOL), "it is a Protocol Error for Maximum Packet Size to be 0", connect=False)
row("connect-request-problem-information-2", "5.0 3.1.2.11.7", ONLY5, C5(props(p_byte(RPI, 2))),
    Connack(PROTOCOL), "a value other than 0 or 1 is a Protocol Error", connect=False)
row("connect-request-response-information-2", "5.0 3.1.2.11.6", ONLY5,
    C5(props(p_byte(RRI, 2))), Connack(PROTOCOL), "a value other than 0 or 1 is a Protocol Error",
    connect=False)
row("connect-topic-alias-maximum-twice", "5.0 3.1.2.11.5", ONLY5,
    C5(props(p_u16(TAM, 1), p_u16(TAM, 1))), Connack(PROTOCOL),
    "it is a Protocol Error to include Topic Alias Maximum more than once", connect=False)
row("connect-user-property-repeats", "5.0 3.1.2.11.8", ONLY5,
    C5(props(p_user("a", "1"), p_user("a", "2"))), Connack(0),
    "the User Property may appear multiple times", connect=False)
row("connect-user-property-invalid-utf8", "[MQTT-1.5.7-1]", ONLY5,
    C5(props(p_user(b"a\xff", "1"))), Connack(MALFORMED),
    "both strings of a UTF-8 string pair MUST be UTF-8 encoded strings", connect=False)
row("connect-authentication-data-without-method", "5.0 3.1.2.11.10", ONLY5,
    C5(props(p_str(AD, b"x"))), Connack(PROTOCOL),
    "it is a Protocol Error to include Authentication Data if there is no Authentication Method",
    connect=False)
row("connect-unknown-authentication-method", "[MQTT-4.12.0-1]", ONLY5,
    C5(props(p_str(AM, "NO-SUCH-METHOD"))), Connack(0x8C),
    "a server that does not support the method MAY send CONNACK 0x8C or 0x87 and MUST close",
    connect=False, choice="0x8C (Bad authentication method): it tells the client what to fix")
W5 = lambda block, topic="will/t": (  # noqa: E731
    lambda v: connect(v, "wp", flags=0x06, payload=will(v, topic, b"w", block)))
row("will-property-not-allowed", "5.0 3.1.3.2 (table 2-4)", ONLY5, W5(props(p_u32(SEI, 1))),
    Connack(PROTOCOL), "Session Expiry Interval is not a will property", connect=False)
row("will-delay-twice", "5.0 3.1.3.2.2", ONLY5, W5(props(p_u32(WDI, 1), p_u32(WDI, 1))),
    Connack(PROTOCOL), "it is a Protocol Error to include the Will Delay Interval more than once",
    connect=False)
row("will-payload-format-2", "5.0 3.1.3.2.3", ONLY5, W5(props(p_byte(PFI, 2))), Connack(PROTOCOL),
    "Payload Format Indicator is 0 or 1", connect=False)
row("will-property-cut-short", "5.0 1.2 (Malformed Packet)", ONLY5, W5(props(b"\x18\x00")),
    Connack(MALFORMED), "a will property value cut short", connect=False)
row("will-response-topic-wildcard", "[MQTT-3.3.2-14]", ONLY5, W5(props(p_str(RT, "reply/+"))),
    Connack(PROTOCOL), "the Response Topic MUST NOT contain wildcard characters (in a will too)",
    connect=False)
row("will-response-topic-hash", "[MQTT-3.3.2-14]", ONLY5, W5(props(p_str(RT, "reply/#"))),
    Connack(PROTOCOL), "the Response Topic MUST NOT contain wildcard characters", connect=False)
row("will-response-topic-valid", "5.0 3.1.3.2.5", ONLY5, W5(props(p_str(RT, "reply/x"))),
    Connack(0), "a Response Topic without wildcards is accepted", connect=False)
row("will-content-type-invalid-utf8", "5.0 3.1.3.2.5 [MQTT-1.5.4-1]", ONLY5,
    W5(props(p_str(CT, b"text\xff"))), Connack(MALFORMED),
    "Content Type is a UTF-8 encoded string", connect=False)
row("mqtt-3.1-connack-no-session-present", "MQTT 3.1 section 3.2", (V31,),
    lambda v: connect(v, "sp31", flags=0x00), Connack(0, 0),
    "MQTT 3.1's CONNACK has no Session Present flag: its first byte is reserved (0), even when "
    "the server holds a session for the client", connect=False, scenario="reconnect_same")
row("connack-respects-client-maximum-packet-size", "[MQTT-3.1.2-24]", ONLY5,
    C5(props(p_u32(MPS, 2))), Closed(),
    "the server MUST NOT send packets exceeding the client's Maximum Packet Size, CONNACK "
    "included: a client announcing 2 bytes gets no CONNACK", connect=False,
    choice="close the connection: no CONNACK can be sent, and [MQTT-3.1.2-25] discarding only "
           "fits application messages")

# ---- 3.3 PUBLISH ------------------------------------------------------------------------

row("publish-qos-3", "[MQTT-3.3.1-4]", ALL, lambda v: publish(v, flags=0x06), err(MALFORMED),
    "a PUBLISH MUST NOT have both QoS bits set to 1 (malformed)")
row("publish-qos-3-retain", "[MQTT-3.3.1-4]", ALL, lambda v: publish(v, flags=0x07), err(MALFORMED),
    "a PUBLISH MUST NOT have both QoS bits set to 1")
row("publish-dup-on-qos-0", "[MQTT-3.3.1-2]", ALL, lambda v: publish(v, flags=0x08), err(MALFORMED),
    "the DUP flag MUST be 0 for all QoS 0 messages",
    choice="malformed: the flags of the fixed header are not a valid combination")
row("publish-topic-plus", "[MQTT-3.3.2-2]", ALL, lambda v: publish(v, "a/+"), err(0x90),
    "the topic name MUST NOT contain wildcard characters",
    choice="5.0: 0x90 Topic Name invalid (the packet parses; table 3-10 names this code), not "
           "0x81; independent suites disagree, the standard's wording for 0x90 decides")
row("publish-topic-hash", "[MQTT-3.3.2-2]", ALL, lambda v: publish(v, "a/#", qos=1), err(0x90),
    "the topic name MUST NOT contain wildcard characters")
row("publish-topic-plus-alone", "[MQTT-4.7.0-1] (5.0) [MQTT-4.7.1-1] (3.1.1)", ALL,
    lambda v: publish(v, "+"), err(0x90), "wildcards MUST NOT be used within a topic name")
row("publish-topic-empty-3", "[MQTT-4.7.3-1]", V3, lambda v: publish(v, ""), Closed(),
    "topic names MUST be at least one character long")
row("publish-topic-empty-no-alias-5", "5.0 3.3.2.1", ONLY5, lambda v: publish(v, ""),
    Disconnect(PROTOCOL), "a zero-length topic name without a Topic Alias is a Protocol Error")
row("publish-topic-invalid-utf8", "[MQTT-1.5.4-1] [MQTT-3.3.2-1]", ALL,
    lambda v: publish(v, b"a/\xff\xfe"), err(MALFORMED),
    "the topic name MUST be a UTF-8 encoded string; ill-formed UTF-8 is malformed")
row("publish-topic-surrogate", "[MQTT-1.5.4-1]", ALL, lambda v: publish(v, b"a/\xed\xa0\x80"),
    err(MALFORMED), "UTF-8 MUST NOT encode U+D800..U+DFFF")
row("publish-topic-overlong", "[MQTT-1.5.4-1]", ALL, lambda v: publish(v, b"a/\xc0\xaf"),
    err(MALFORMED), "overlong UTF-8 is not well-formed")
row("publish-topic-truncated-sequence", "[MQTT-1.5.4-1]", ALL, lambda v: publish(v, b"a/\xe2\x82"),
    err(MALFORMED), "a multi-byte sequence cut short is not well-formed")
row("publish-topic-above-U+10FFFF", "[MQTT-1.5.4-1]", ALL, lambda v: publish(v, b"a/\xf4\x90\x80\x80"),
    err(MALFORMED), "UTF-8 beyond U+10FFFF is not well-formed")
row("publish-topic-null", "[MQTT-1.5.4-2] [MQTT-4.7.3-2]", ALL, lambda v: publish(v, b"a/\x00b"),
    err(MALFORMED), "topic names MUST NOT include U+0000")
for cp, enc in [("U+0001", b"\x01"), ("U+000A", b"\n"), ("U+001B", b"\x1b"), ("U+001F", b"\x1f"),
                ("U+007F", b"\x7f"), ("U+0085", b"\xc2\x85"), ("U+009F", b"\xc2\x9f")]:
    row(f"publish-topic-control-{cp}", "5.0 1.5.4; 3.1.1 1.5.3 (MAY treat as malformed)", ALL,
        lambda v, enc=enc: publish(v, b"a/" + enc, qos=1), err(MALFORMED),
        "control characters in a topic name", choice=CTRL_CHOICE)
row("publish-topic-U+00A0-accepted", "5.0 1.5.4", ALL,
    lambda v: publish(v, b"a/\xc2\xa0", qos=1, pid=3),
    lambda v: Packets(puback(v, 3, 0x10 if v == V5 else 0)),
    "U+00A0 is not a control character: the PUBLISH is accepted (PUBACK; 5.0: 0x10 no matching "
    "subscribers)")
row("publish-topic-U+FFFF-accepted", "5.0 1.5.4", ALL,
    lambda v: publish(v, b"a/\xef\xbf\xbf", qos=1, pid=3),
    lambda v: Packets(puback(v, 3, 0x10 if v == V5 else 0)),
    "a non-character SHOULD NOT be sent but is accepted")
row("publish-topic-bom-kept", "[MQTT-1.5.4-3] [MQTT-4.7.3-4]", ALL,
    lambda v: publish(v, b"\xef\xbb\xbfbom/t", b"bom"),
    lambda v: Packets(publish(v, b"\xef\xbb\xbfbom/t", b"bom")),
    "a BOM MUST NOT be skipped or stripped; topic names MUST NOT be normalized",
    scenario="loopback")
row("publish-qos1-packet-id-0", "[MQTT-2.2.1-3] (5.0) [MQTT-2.3.1-1] (3.1.1)", ALL,
    lambda v: publish(v, qos=1, pid=0), err(PROTOCOL),
    "a QoS > 0 PUBLISH MUST carry a non-zero packet identifier",
    choice="5.0: protocol error (0x82): the packet parses, the value is not allowed")
row("publish-qos2-packet-id-0", "[MQTT-2.2.1-3] (5.0) [MQTT-2.3.1-1] (3.1.1)", ALL,
    lambda v: publish(v, qos=2, pid=0), err(PROTOCOL), "non-zero packet identifier")
row("publish-qos1-no-packet-id", "5.0 1.2 (Malformed Packet)", ALL,
    lambda v: pkt(0x32, s("t/a")), err(MALFORMED), "a QoS 1 PUBLISH that ends after its topic")
row("publish-qos0-accepted", "[MQTT-2.2.1-2]", ALL, lambda v: publish(v, "t/a", b"payload"),
    Silent(), "a QoS 0 PUBLISH has no packet identifier and gets no answer")
P5 = lambda block, **kw: (lambda v: publish(v, "t/p", b"x", block=block, **kw))  # noqa: E731
row("publish-property-unknown-id", "5.0 2.2.2.2; 1.2", ONLY5, P5(props(b"\x7f\x00")),
    Disconnect(MALFORMED), "an undefined property identifier cannot be parsed")
row("publish-property-id-0", "5.0 2.2.2.2", ONLY5, P5(props(b"\x00")), Disconnect(MALFORMED),
    "identifier 0 names no property")
row("publish-property-id-over-0xff", "5.0 2.2.2.2", ONLY5, P5(props(b"\x81\x02\x00")),
    Disconnect(MALFORMED), "identifier 257 names no property")
row("publish-property-id-not-minimal", "[MQTT-1.5.5-1]", ONLY5, P5(props(b"\x81\x00\x01")),
    Disconnect(MALFORMED), "identifier 1 (Payload Format Indicator) encoded in two bytes")
row("publish-property-length-not-minimal", "[MQTT-1.5.5-1]", ONLY5, P5(b"\x80\x00"),
    Disconnect(MALFORMED), "property length 0 encoded in two bytes")
row("publish-property-length-past-packet", "5.0 1.2", ONLY5,
    lambda v: pkt(0x30, s("t/p") + b"\x10\x01\x01"), Disconnect(MALFORMED),
    "a property length longer than the rest of the packet")
row("publish-property-cut-short", "5.0 1.2", ONLY5, P5(props(b"\x02\x00\x00\x01")),
    Disconnect(MALFORMED), "Message Expiry Interval with 3 of its 4 bytes")
row("publish-correlation-data-cut-short", "5.0 1.2", ONLY5, P5(props(b"\x09\x00\x05ab")),
    Disconnect(MALFORMED), "binary data whose length runs past the property block")
row("publish-property-not-allowed", "5.0 2.2.2.2 (table 2-4)", ONLY5, P5(props(p_u32(SEI, 5))),
    Disconnect(PROTOCOL), "Session Expiry Interval is not a PUBLISH property")
row("publish-property-not-allowed-2", "5.0 2.2.2.2 (table 2-4)", ONLY5, P5(props(p_str(RS, "r"))),
    Disconnect(PROTOCOL), "Reason String is not a PUBLISH property")
row("publish-property-not-allowed-cut-short", "5.0 2.2.2.2; 1.2", ONLY5, P5(props(b"\x11\x00\x00")),
    Disconnect(MALFORMED), "a disallowed property cut short is malformed, not a protocol error")
row("publish-property-not-allowed-then-unknown", "5.0 2.2.2.2; 1.2", ONLY5,
    P5(props(p_u32(SEI, 5), b"\x7f\x00")), Disconnect(MALFORMED),
    "the whole block is parsed before placement is judged")
row("publish-property-duplicate-then-cut-short", "5.0 2.2.2.2; 1.2", ONLY5,
    P5(props(p_byte(PFI, 0), p_byte(PFI, 0), b"\x02\x00")), Disconnect(MALFORMED),
    "a repeated property followed by bytes that cannot be parsed: malformed")
row("publish-payload-format-twice", "5.0 3.3.2.3.2", ONLY5, P5(props(p_byte(PFI, 0), p_byte(PFI, 0))),
    Disconnect(PROTOCOL), "a property other than User Property / Subscription Identifier twice")
row("publish-message-expiry-twice", "5.0 3.3.2.3.3", ONLY5, P5(props(p_u32(MEI, 1), p_u32(MEI, 1))),
    Disconnect(PROTOCOL), "it is a Protocol Error to include Message Expiry Interval more than once")
row("publish-content-type-twice", "5.0 3.3.2.3.9", ONLY5, P5(props(p_str(CT, "a"), p_str(CT, "b"))),
    Disconnect(PROTOCOL), "it is a Protocol Error to include the Content Type more than once")
row("publish-correlation-data-twice", "5.0 3.3.2.3.6", ONLY5,
    P5(props(p_str(CD, b"a"), p_str(CD, b"b"))), Disconnect(PROTOCOL),
    "it is a Protocol Error to include Correlation Data more than once")
row("publish-response-topic-twice", "5.0 3.3.2.3.5", ONLY5,
    P5(props(p_str(RT, "r/a"), p_str(RT, "r/b"))), Disconnect(PROTOCOL),
    "it is a Protocol Error to include the Response Topic more than once")
row("publish-topic-alias-twice", "5.0 3.3.2.3.4", ONLY5, P5(props(p_u16(TA, 1), p_u16(TA, 1))),
    Disconnect(PROTOCOL), "it is a Protocol Error to include the Topic Alias more than once")
row("publish-payload-format-2", "5.0 3.3.2.3.2", ONLY5, P5(props(p_byte(PFI, 2))),
    Disconnect(PROTOCOL), "Payload Format Indicator is 0 or 1")
row("publish-payload-format-utf8-invalid-qos1", "[MQTT-3.3.2-4] 5.0 3.3.2.3.2", ONLY5,
    lambda v: publish(v, "t/p", b"\xff", qos=1, pid=4, block=props(p_byte(PFI, 1))),
    Packets(puback(V5, 4, 0x99)),
    "a receiver MAY validate that the payload is UTF-8 and answer 0x99 Payload format invalid",
    choice="validated: PUBACK 0x99 for QoS 1 (and DISCONNECT 0x99 for QoS 0, which has no ack)")
row("publish-payload-format-utf8-invalid-qos0", "5.0 3.3.2.3.2", ONLY5,
    lambda v: publish(v, "t/p", b"\xff", block=props(p_byte(PFI, 1))), Disconnect(0x99),
    "a QoS 0 PUBLISH whose payload is not the UTF-8 it claims")
row("publish-topic-alias-0", "[MQTT-3.3.2-8]", ONLY5, P5(props(p_u16(TA, 0))), Disconnect(0x94),
    "a Topic Alias of 0 is not permitted; 0x94 Topic Alias invalid")
row("publish-topic-alias-too-large", "[MQTT-3.3.2-9]", ONLY5, P5(props(p_u16(TA, 65535))),
    Disconnect(0x94), "a client MUST NOT send a Topic Alias above the server's Topic Alias Maximum")
row("publish-topic-alias-unknown", "5.0 3.3.2.3.4", ONLY5,
    lambda v: publish(v, "", b"x", block=props(p_u16(TA, 1))), Disconnect(PROTOCOL),
    "an empty topic with an alias the receiver has no mapping for is a Protocol Error")
row("publish-subscription-identifier-from-client", "[MQTT-3.3.4-6]", ONLY5,
    P5(props(b"\x0b\x01")), Disconnect(PROTOCOL),
    "a PUBLISH from a client MUST NOT contain a Subscription Identifier")
row("publish-response-topic-plus", "[MQTT-3.3.2-14]", ONLY5, P5(props(p_str(RT, "reply/+"))),
    Disconnect(PROTOCOL), "the Response Topic MUST NOT contain wildcard characters")
row("publish-response-topic-hash", "[MQTT-3.3.2-14]", ONLY5, P5(props(p_str(RT, "#"))),
    Disconnect(PROTOCOL), "the Response Topic MUST NOT contain wildcard characters")
row("publish-response-topic-empty", "[MQTT-3.3.2-13] [MQTT-4.7.3-1]", ONLY5, P5(props(p_str(RT, ""))),
    Disconnect(PROTOCOL), "the Response Topic is a topic name: at least one character",
    choice="protocol error: the property parses; an empty topic name is not allowed")
row("publish-response-topic-invalid-utf8", "[MQTT-3.3.2-13]", ONLY5, P5(props(p_str(RT, b"r\xff"))),
    Disconnect(MALFORMED), "the Response Topic MUST be a UTF-8 encoded string")
row("publish-response-topic-control-character", "5.0 1.5.4", ONLY5, P5(props(p_str(RT, b"r/\x01"))),
    Disconnect(PROTOCOL), "a Response Topic with a control character is not a valid topic name",
    choice=CTRL_CHOICE + "; in a property that parsed it is a protocol error")
row("publish-content-type-invalid-utf8", "[MQTT-3.3.2-19]", ONLY5, P5(props(p_str(CT, b"\xff"))),
    Disconnect(MALFORMED), "the Content Type MUST be a UTF-8 encoded string")
row("publish-user-property-invalid-utf8", "[MQTT-1.5.7-1]", ONLY5,
    P5(props(p_user("k", b"\xc3"))), Disconnect(MALFORMED),
    "both strings of a user property MUST be well-formed UTF-8")
row("publish-user-property-control-accepted", "5.0 1.5.4", ONLY5,
    lambda v: publish(v, "t/p", b"x", qos=1, pid=5, block=props(p_user("k", b"\x01"))),
    Packets(puback(V5, 5, 0x10)), "control characters outside identifiers are accepted",
    choice=CTRL_CHOICE)
row("publish-response-topic-forwarded", "5.0 3.3.2.3.5", ONLY5,
    P5(props(p_str(RT, "reply/x"))), Packets(publish(V5, "t/p", b"x", block=props(p_str(RT, "reply/x")))),
    "a valid Response Topic is accepted and forwarded", scenario="loopback")
row("publish-sys-topic-qos1", "5.0 4.7.2", ONLY5,
    lambda v: publish(v, "$SYS/broker/clients/connected", b"666", qos=1, pid=6),
    Packets(puback(V5, 6, 0x87)),
    "topics beginning with $ are the server's: a client's $SYS publish MUST NOT reach "
    "subscribers; refused with PUBACK 0x87 Not authorized", scenario="sys_publish",
    choice="0x87 Not authorized: the topic exists, the client may not publish to it")
row("publish-sys-topic-qos0-dropped", "3.1.1 4.7.2", ALL,
    lambda v: publish(v, "$SYS/broker/uptime", b"666"), Silent(),
    "a client's $SYS publish is dropped (3.1.1 has no refusal code) and not delivered",
    scenario="sys_publish")
row("publish-dollar-topic-dropped", "5.0 4.7.2", ALL,
    lambda v: publish(v, "$app/x", b"666"), Silent(),
    "any topic starting with $ is reserved to the server", scenario="sys_publish")
row("publish-oversize-for-client-not-delivered", "[MQTT-3.1.2-25]", ONLY5,
    lambda v: publish(v, "big/t", b"x" * 200), Packets(publish(V5, "big/t", b"small")),
    "a packet above the client's Maximum Packet Size MUST be discarded, not sent",
    scenario="oversize")
row("publish-larger-than-server-maximum", "5.0 3.2.2.3.6; 3.1.1 (implementation limit)", ALL,
    lambda v: publish(v, "t/a", b"x" * 2000), err(0x95),
    "a packet above the server's Maximum Packet Size: DISCONNECT 0x95 Packet too large",
    config={"max_packet_size": 1024})

# ---- 3.4-3.7 PUBACK, PUBREC, PUBREL, PUBCOMP ----------------------------------------------

row("puback-packet-id-0", "[MQTT-2.2.1-5]", ALL, lambda v: ack(0x40, 0), err(PROTOCOL),
    "an acknowledgement carries the packet identifier of a PUBLISH, which is never 0",
    choice="protocol error: id 0 can match nothing in flight")
row("pubrel-packet-id-0", "[MQTT-2.2.1-5]", ALL, lambda v: ack(0x62, 0), err(PROTOCOL),
    "packet identifier 0 is never in use")
row("puback-unknown-id-ignored", "5.0 4.3.2", ALL, lambda v: ack(0x40, 999), Silent(),
    "a PUBACK for nothing in flight", choice="ignored: it may be a late duplicate")
row("pubrel-unknown-id-3", "[MQTT-4.3.3-11] (3.1.1: [MQTT-4.3.3-2])", V3, lambda v: ack(0x62, 998),
    Packets(pubcomp(V311, 998)), "a PUBREL for an unknown id is answered with PUBCOMP")
row("pubrel-unknown-id-5", "[MQTT-4.3.3-11] 5.0 3.7.2.1", ONLY5, lambda v: ack(0x62, 998),
    Packets(pubcomp(V5, 998, 0x92)),
    "a PUBREL for an unknown id is answered with PUBCOMP 0x92 Packet Identifier not found")
row("puback-3.1.1-with-reason-byte", "3.1.1 3.4", V3, lambda v: ack(0x40, 1, 0x00), Closed(),
    "a 3.1.1 PUBACK has exactly 2 bytes of variable header")
row("puback-cut-short", "5.0 1.2", ALL, lambda v: pkt(0x40, b"\x00"), err(MALFORMED),
    "a PUBACK of 1 byte cannot hold its packet identifier")
for name, first, code, rule in [
        ("puback-0x92", 0x40, 0x92, "[MQTT-3.4.2-1]"), ("puback-0x05", 0x40, 0x05, "[MQTT-3.4.2-1]"),
        ("puback-0x04", 0x40, 0x04, "[MQTT-3.4.2-1]"), ("pubrec-0x92", 0x50, 0x92, "[MQTT-3.5.2-1]"),
        ("pubrec-0x11", 0x50, 0x11, "[MQTT-3.5.2-1]"), ("pubrel-0x10", 0x62, 0x10, "[MQTT-3.6.2-1]"),
        ("pubrel-0x80", 0x62, 0x80, "[MQTT-3.6.2-1]"), ("pubcomp-0x80", 0x70, 0x80, "[MQTT-3.7.2-1]"),
        ("pubcomp-0x10", 0x70, 0x10, "[MQTT-3.7.2-1]"), ("pubcomp-0x87", 0x70, 0x87, "[MQTT-3.7.2-1]")]:
    row(f"reason-code-not-allowed-{name}", rule, ONLY5,
        lambda v, first=first, code=code: ack(first, 100, code), Disconnect(PROTOCOL),
        "the sender MUST use one of that packet's reason codes; any other is a Protocol Error")
row("puback-reason-code-0x10-accepted", "[MQTT-3.4.2-1]", ONLY5, lambda v: ack(0x40, 100, 0x10),
    Silent(), "0x10 is a PUBACK reason code (for an id not in flight: ignored)")
row("pubcomp-reason-code-0x92-accepted", "[MQTT-3.7.2-1]", ONLY5, lambda v: ack(0x70, 100, 0x92),
    Silent(), "0x92 is a PUBCOMP reason code")
A5 = lambda first, block: (lambda v: ack(first, 100, 0x00, block))  # noqa: E731
row("puback-property-not-allowed", "5.0 3.4.2.2 (table 2-4)", ONLY5, A5(0x40, props(p_u16(TA, 1))),
    Disconnect(PROTOCOL), "Topic Alias is not a PUBACK property")
row("puback-reason-string-twice", "5.0 3.4.2.2.2", ONLY5,
    A5(0x40, props(p_str(RS, "a"), p_str(RS, "b"))), Disconnect(PROTOCOL),
    "it is a Protocol Error to include the Reason String more than once")
row("puback-property-cut-short", "5.0 1.2", ONLY5, A5(0x40, props(b"\x1f\x00\x09ab")),
    Disconnect(MALFORMED), "a Reason String running past the block")
row("pubrec-property-unknown", "5.0 2.2.2.2", ONLY5, A5(0x50, props(b"\x7f\x00")),
    Disconnect(MALFORMED), "an undefined property identifier")
row("pubrel-property-not-allowed", "5.0 3.6.2.2", ONLY5, A5(0x62, props(p_byte(PFI, 0))),
    Disconnect(PROTOCOL), "Payload Format Indicator is not a PUBREL property")
row("pubcomp-property-not-allowed-cut-short", "5.0 2.2.2.2; 1.2", ONLY5,
    A5(0x70, props(b"\x01")), Disconnect(MALFORMED),
    "a disallowed property with no value: malformed before placement")
row("pubcomp-user-property-accepted", "5.0 3.7.2.2.3", ONLY5,
    A5(0x70, props(p_user("a", "b"), p_user("a", "c"))), Silent(),
    "user properties may repeat in PUBCOMP")
# Wrong-kind acknowledgements for a packet id the server has in flight towards the client.
row("pubrec-for-qos1-in-flight", "[MQTT-4.3.2-1] 5.0 4.13", ALL,
    lambda v: ack(0x50, 1), err(PROTOCOL),
    "a QoS 1 PUBLISH is acknowledged by PUBACK; PUBREC for it is a protocol violation",
    scenario="inflight:1")
row("pubcomp-for-qos1-in-flight", "[MQTT-4.3.2-1] 5.0 4.13", ALL,
    lambda v: ack(0x70, 1), err(PROTOCOL), "PUBCOMP for a QoS 1 message in flight",
    scenario="inflight:1")
row("puback-for-qos2-in-flight", "[MQTT-4.3.3-3] 5.0 4.13", ALL,
    lambda v: ack(0x40, 1), err(PROTOCOL),
    "a QoS 2 PUBLISH is unacknowledged until PUBREC; PUBACK for it is a protocol violation",
    scenario="inflight:2")
row("pubcomp-for-qos2-before-pubrec", "[MQTT-4.3.3-3] 5.0 4.13", ALL,
    lambda v: ack(0x70, 1), err(PROTOCOL), "PUBCOMP before PUBREC",
    scenario="inflight:2")
row("puback-while-awaiting-pubcomp", "[MQTT-4.3.3-5] 5.0 4.13", ALL,
    lambda v: ack(0x40, 1), err(PROTOCOL), "PUBACK after PUBREC/PUBREL, where PUBCOMP is due",
    scenario="inflight:2rec")
row("pubrec-failure-ends-exchange", "[MQTT-4.3.3-4]", ONLY5,
    lambda v: ack(0x50, 1, 0x80), Silent(),
    "the sender MUST send PUBREL when it receives a PUBREC with a reason code below 0x80: a "
    "failure code ends the exchange, no PUBREL follows", scenario="inflight:2")
row("pubrec-success-gets-pubrel", "[MQTT-4.3.3-4]", ALL, lambda v: ack(0x50, 1),
    Packets(pkt(0x62, u16(1))), "a PUBREC below 0x80 gets PUBREL", scenario="inflight:2")

# ---- 3.8 SUBSCRIBE ---------------------------------------------------------------------

row("subscribe-flags-0", "[MQTT-3.8.1-1]", ALL, lambda v: subscribe(v, 1, ("a/b", 0), flags=0),
    err(MALFORMED), "SUBSCRIBE fixed header bits MUST be 0,0,1,0")
row("subscribe-flags-3", "[MQTT-3.8.1-1]", ALL, lambda v: subscribe(v, 1, ("a/b", 0), flags=3),
    err(MALFORMED), "SUBSCRIBE fixed header bits MUST be 0,0,1,0")
row("subscribe-dup-3.1", "MQTT 3.1 section 3.8", (V31,),
    lambda v: subscribe(v, 2, ("a/b", 1), flags=0x0A), Packets(suback(V31, 2, 1)),
    "MQTT 3.1 SUBSCRIBE has QoS 1 and a DUP flag that may be set")
row("subscribe-dup-3.1.1", "[MQTT-3.8.1-1]", (V311, V5),
    lambda v: subscribe(v, 2, ("a/b", 1), flags=0x0A), err(MALFORMED),
    "from 3.1.1 on, SUBSCRIBE fixed header bits MUST be 0,0,1,0")
row("subscribe-packet-id-0", "[MQTT-2.2.1-3] (5.0) [MQTT-2.3.1-1] (3.1.1)", ALL,
    lambda v: subscribe(v, 0, ("a/b", 0)), err(PROTOCOL), "SUBSCRIBE needs a non-zero packet id")
row("subscribe-no-filter", "[MQTT-3.8.3-2] (5.0) [MQTT-3.8.3-3] (3.1.1)", ALL,
    lambda v: subscribe(v, 1), err(PROTOCOL),
    "the payload MUST contain at least one topic filter / options pair")
row("subscribe-qos-3", "[MQTT-3-8.3-4] (3.1.1) 5.0 3.8.3.1", ALL,
    lambda v: subscribe(v, 1, ("a/b", 3)), err(PROTOCOL),
    "requested QoS 3: 3.1.1 MUST close; 5.0: Protocol Error")
row("subscribe-reserved-option-bits-3", "[MQTT-3-8.3-4] (3.1.1)", V3,
    lambda v: subscribe(v, 1, ("a/b", 0x04)), Closed(),
    "3.1.1: the upper 6 bits of the requested QoS byte are reserved; non-zero MUST close")
row("subscribe-reserved-option-bits-5", "[MQTT-3.8.3-5]", ONLY5,
    lambda v: subscribe(v, 1, ("a/b", 0x40)), Disconnect(MALFORMED),
    "5.0: the server MUST treat reserved subscription option bits set as malformed")
row("subscribe-reserved-option-bit-7", "[MQTT-3.8.3-5]", ONLY5,
    lambda v: subscribe(v, 1, ("a/b", 0x80)), Disconnect(MALFORMED), "bit 7 is reserved too")
row("subscribe-retain-handling-3", "5.0 3.8.3.1", ONLY5,
    lambda v: subscribe(v, 1, ("a/b", 0x30)), Disconnect(PROTOCOL),
    "it is a Protocol Error to send a Retain Handling value of 3")
row("subscribe-no-local-shared", "[MQTT-3.8.3-4] (5.0)", ONLY5,
    lambda v: subscribe(v, 1, ("$share/g/a", 0x04)), Disconnect(PROTOCOL),
    "it is a Protocol Error to set No Local on a shared subscription")
row("subscribe-empty-filter", "[MQTT-4.7.3-1]", ALL, lambda v: subscribe(v, 1, ("", 0)),
    err(MALFORMED), "topic filters MUST be at least one character long",
    choice="malformed (5.0 DISCONNECT 0x81): an empty filter is no filter at all, so neither "
           "SUBACK 0x80 nor 0x8F ('correctly formed but not accepted') fits; 3.1.1 closes")
row("subscribe-empty-filter-second", "[MQTT-4.7.3-1]", ALL,
    lambda v: subscribe(v, 1, ("a/b", 0), ("", 0)), err(MALFORMED),
    "one empty filter makes the whole SUBSCRIBE malformed")
row("subscribe-filter-invalid-utf8", "[MQTT-3.8.3-1] [MQTT-1.5.4-1]", ALL,
    lambda v: subscribe(v, 1, (b"a/\xff", 0)), err(MALFORMED),
    "topic filters MUST be UTF-8 encoded strings")
row("subscribe-filter-null", "[MQTT-1.5.4-2] [MQTT-4.7.3-2]", ALL,
    lambda v: subscribe(v, 1, (b"a/\x00", 0)), err(MALFORMED), "filters MUST NOT include U+0000")
for cp, enc in [("U+0001", b"\x01"), ("U+007F", b"\x7f"), ("U+0080", b"\xc2\x80")]:
    row(f"subscribe-filter-control-{cp}", "5.0 1.5.4 (MAY treat as malformed)", ALL,
        lambda v, enc=enc: subscribe(v, 1, (b"a/" + enc, 0)), err(MALFORMED),
        "control characters in a topic filter", choice=CTRL_CHOICE)
row("subscribe-filter-cut-short", "5.0 1.2", ALL, lambda v: pkt(0x82, u16(1) + pv(v) + u16(9) + b"a/b"),
    err(MALFORMED), "a filter length running past the packet")
row("subscribe-filter-without-options", "5.0 1.2", ALL, lambda v: pkt(0x82, u16(1) + pv(v) + s("a/b")),
    err(MALFORMED), "a filter without its options byte")
for name, f, rule in [("hash-middle", "a/#/b", "[MQTT-4.7.1-1] (5.0) [MQTT-4.7.1-2] (3.1.1)"),
                      ("hash-glued", "a#", "[MQTT-4.7.1-1] (5.0) [MQTT-4.7.1-2] (3.1.1)"),
                      ("hash-after-glued", "a/b#", "[MQTT-4.7.1-1] (5.0) [MQTT-4.7.1-2] (3.1.1)"),
                      ("plus-glued", "a+/b", "[MQTT-4.7.1-2] (5.0) [MQTT-4.7.1-3] (3.1.1)"),
                      ("plus-leading", "+a", "[MQTT-4.7.1-2] (5.0) [MQTT-4.7.1-3] (3.1.1)"),
                      ("plus-hash", "+#", "[MQTT-4.7.1-2] (5.0) [MQTT-4.7.1-3] (3.1.1)")]:
    row(f"subscribe-filter-{name}", rule, ALL, lambda v, f=f: subscribe(v, 3, (f, 0)),
        lambda v: Packets(suback(v, 3, sub_fail(v))),
        "'#' MUST be last and alone in its level; '+' MUST occupy a whole level",
        choice="refused per filter in SUBACK (0x80 in 3.1.1, 0x8F Topic Filter invalid in 5.0): the "
               "filter is a well-formed string whose wildcards are misplaced, and the other filters "
               "of the same SUBSCRIBE still get their answer")
row("subscribe-filter-valid-wildcards", "[MQTT-4.7.1-1] [MQTT-4.7.1-2]", ALL,
    lambda v: subscribe(v, 4, ("+/+/#", 1), ("#", 0), ("/", 2)),
    lambda v: Packets(suback(v, 4, 1, 0, 2)), "valid wildcard filters are granted")
for name, f, rule in [("no-slash", "$share/g", "[MQTT-4.8.2-2]"),
                      ("no-filter", "$share/g/", "[MQTT-4.8.2-2]"),
                      ("empty-name", "$share//a", "[MQTT-4.8.2-1]"),
                      ("prefix-only", "$share/", "[MQTT-4.8.2-1]"),
                      ("name-plus", "$share/g+/a", "[MQTT-4.8.2-2]"),
                      ("name-hash", "$share/#/a", "[MQTT-4.8.2-2]"),
                      ("name-is-plus", "$share/+/a", "[MQTT-4.8.2-2]")]:
    row(f"subscribe-shared-{name}", rule, ONLY5, lambda v, f=f: subscribe(v, 5, (f, 0)),
        Disconnect(PROTOCOL),
        "a shared subscription's ShareName MUST be at least one character, MUST NOT contain "
        "'/', '+' or '#', and MUST be followed by '/' and a topic filter")
row("subscribe-shared-valid", "[MQTT-4.8.2-1] [MQTT-4.8.2-2]", ONLY5,
    lambda v: subscribe(v, 5, ("$share/g/a/+", 1)), Packets(suback(V5, 5, 1)),
    "a well-formed shared subscription is granted")
row("subscribe-shared-3.1.1-no-filter", "3.1.1 4.7", V3,
    lambda v: subscribe(v, 5, ("$share/g", 0)), Packets(suback(V311, 5, 0x80)),
    "3.1.1 has no shared subscriptions; Hermod gives them to 3.1.1 clients too",
    choice="a 3.1.1 $share filter without a filter part gets SUBACK 0x80 (the 3.1.1 failure "
           "code) rather than a close: 3.1.1 itself calls the string a valid filter")
S5 = lambda block: (lambda v: subscribe(v, 6, ("a/b", 0), block=block))  # noqa: E731
row("subscribe-subscription-identifier-0", "5.0 3.8.2.1.2", ONLY5, S5(props(b"\x0b\x00")),
    Disconnect(PROTOCOL), "it is a Protocol Error if the Subscription Identifier has a value of 0")
row("subscribe-subscription-identifier-twice", "5.0 3.8.2.1.2", ONLY5, S5(props(b"\x0b\x01\x0b\x02")),
    Disconnect(PROTOCOL), "it is a Protocol Error to include the Subscription Identifier more than once")
row("subscribe-subscription-identifier-cut-short", "5.0 1.2", ONLY5, S5(props(b"\x0b\x80")),
    Disconnect(MALFORMED), "a variable byte integer cut short")
row("subscribe-subscription-identifier-not-minimal", "[MQTT-1.5.5-1]", ONLY5,
    S5(props(b"\x0b\x81\x00")), Disconnect(MALFORMED), "subscription identifier 1 in two bytes")
row("subscribe-subscription-identifier-five-bytes", "5.0 1.5.5", ONLY5,
    S5(props(b"\x0b\xff\xff\xff\xff\x01")), Disconnect(MALFORMED),
    "a variable byte integer of five bytes")
row("subscribe-property-not-allowed", "5.0 3.8.2.1 (table 2-4)", ONLY5, S5(props(p_byte(PFI, 1))),
    Disconnect(PROTOCOL), "Payload Format Indicator is not a SUBSCRIBE property")
row("subscribe-property-not-allowed-2", "5.0 3.8.2.1 (table 2-4)", ONLY5, S5(props(p_u32(SEI, 1))),
    Disconnect(PROTOCOL), "Session Expiry Interval is not a SUBSCRIBE property")
row("subscribe-property-not-allowed-cut-short", "5.0 2.2.2.2; 1.2", ONLY5, S5(props(b"\x02\x00\x00")),
    Disconnect(MALFORMED), "a disallowed property cut short: malformed first")
row("subscribe-property-unknown", "5.0 2.2.2.2", ONLY5, S5(props(b"\x7f\x00")),
    Disconnect(MALFORMED), "an undefined property identifier")
row("subscribe-property-length-past-packet", "5.0 1.2", ONLY5,
    lambda v: pkt(0x82, u16(6) + b"\x30" + s("a/b") + b"\x00"), Disconnect(MALFORMED),
    "a property length running past the packet")
row("subscribe-user-property-repeats", "5.0 3.8.2.1.3", ONLY5,
    S5(props(p_user("a", "1"), p_user("a", "2"))), Packets(suback(V5, 6, 0)),
    "the User Property may appear more than once")

# ---- 3.10 UNSUBSCRIBE ------------------------------------------------------------------

row("unsubscribe-flags-0", "[MQTT-3.10.1-1]", ALL, lambda v: unsubscribe(v, 1, "a/b", flags=0),
    err(MALFORMED), "UNSUBSCRIBE fixed header bits MUST be 0,0,1,0")
row("unsubscribe-flags-6", "[MQTT-3.10.1-1]", ALL, lambda v: unsubscribe(v, 1, "a/b", flags=6),
    err(MALFORMED), "UNSUBSCRIBE fixed header bits MUST be 0,0,1,0")
row("unsubscribe-dup-3.1", "MQTT 3.1 section 3.10", (V31,),
    lambda v: unsubscribe(v, 2, "a/b", flags=0x0A), Packets(unsuback(V31, 2)),
    "MQTT 3.1 UNSUBSCRIBE has QoS 1 and a DUP flag that may be set")
row("unsubscribe-dup-3.1.1", "[MQTT-3.10.1-1]", (V311, V5),
    lambda v: unsubscribe(v, 2, "a/b", flags=0x0A), err(MALFORMED), "DUP set on UNSUBSCRIBE")
row("unsubscribe-packet-id-0", "[MQTT-2.2.1-3] (5.0) [MQTT-2.3.1-1] (3.1.1)", ALL,
    lambda v: unsubscribe(v, 0, "a/b"), err(PROTOCOL), "UNSUBSCRIBE needs a non-zero packet id")
row("unsubscribe-no-filter", "[MQTT-3.10.3-2]", ALL, lambda v: unsubscribe(v, 1), err(PROTOCOL),
    "the payload MUST contain at least one topic filter")
row("unsubscribe-empty-filter", "[MQTT-4.7.3-1]", ALL, lambda v: unsubscribe(v, 1, ""),
    err(MALFORMED), "topic filters MUST be at least one character long",
    choice="malformed, as in SUBSCRIBE")
row("unsubscribe-filter-invalid-utf8", "[MQTT-3.10.3-1] [MQTT-1.5.4-1]", ALL,
    lambda v: unsubscribe(v, 1, b"a/\xff"), err(MALFORMED),
    "the topic filters in an UNSUBSCRIBE MUST be UTF-8 encoded strings")
row("unsubscribe-filter-null", "[MQTT-1.5.4-2]", ALL, lambda v: unsubscribe(v, 1, b"\x00"),
    err(MALFORMED), "no U+0000")
row("unsubscribe-filter-control", "5.0 1.5.4 (MAY treat as malformed)", ALL,
    lambda v: unsubscribe(v, 1, b"a/\x1f"), err(MALFORMED), "control characters in a filter",
    choice=CTRL_CHOICE)
row("unsubscribe-filter-cut-short", "5.0 1.2", ALL, lambda v: pkt(0xA2, u16(1) + pv(v) + u16(5) + b"a"),
    err(MALFORMED), "a filter length running past the packet")
for name, f in [("hash-middle", "a/#/b"), ("plus-glued", "a+")]:
    row(f"unsubscribe-filter-{name}-3", "[MQTT-4.7.1-2] [MQTT-4.7.1-3] (3.1.1)", V3,
        lambda v, f=f: unsubscribe(v, 3, f), Closed(),
        "an UNSUBSCRIBE filter is a topic filter: '#' last and alone, '+' a whole level",
        choice="3.1.1 UNSUBACK has no failure code, so an invalid filter closes the connection")
    row(f"unsubscribe-filter-{name}-5", "[MQTT-4.7.1-1] [MQTT-4.7.1-2] (5.0)", ONLY5,
        lambda v, f=f: unsubscribe(v, 3, f), Packets(unsuback(V5, 3, 0x8F)),
        "an invalid filter in UNSUBSCRIBE gets UNSUBACK 0x8F Topic Filter invalid",
        choice="per filter in UNSUBACK (0x8F), as SUBSCRIBE's SUBACK does")
for name, f in [("no-slash", "$share/g"), ("no-filter", "$share/g/"), ("empty-name", "$share//a")]:
    row(f"unsubscribe-shared-{name}", "[MQTT-4.8.2-1] [MQTT-4.8.2-2]", ONLY5,
        lambda v, f=f: unsubscribe(v, 3, f), Disconnect(PROTOCOL),
        "a shared subscription filter MUST have a ShareName followed by '/' and a filter")
U5 = lambda block: (lambda v: unsubscribe(v, 7, "a/b", block=block))  # noqa: E731
row("unsubscribe-property-not-allowed", "5.0 3.10.2.1 (table 2-4)", ONLY5, U5(props(b"\x0b\x01")),
    Disconnect(PROTOCOL), "Subscription Identifier is not an UNSUBSCRIBE property")
row("unsubscribe-property-not-allowed-twice", "5.0 3.10.2.1", ONLY5,
    U5(props(p_str(RS, "a"), p_str(RS, "a"))), Disconnect(PROTOCOL),
    "Reason String (twice) is not an UNSUBSCRIBE property")
row("unsubscribe-property-cut-short", "5.0 1.2", ONLY5, U5(props(b"\x26\x00\x01k\x00")),
    Disconnect(MALFORMED), "a user property cut short")
row("unsubscribe-property-unknown", "5.0 2.2.2.2", ONLY5, U5(props(b"\x7f")), Disconnect(MALFORMED),
    "an undefined property identifier")
row("unsubscribe-property-not-allowed-then-cut-short", "5.0 2.2.2.2; 1.2", ONLY5,
    U5(props(b"\x0b\x01\x26\x00")), Disconnect(MALFORMED),
    "a disallowed property then bytes that cannot be parsed: malformed")
row("unsubscribe-not-subscribed", "[MQTT-3.10.4-4] [MQTT-3.10.4-5] (3.1.1)", ALL,
    lambda v: unsubscribe(v, 8, "never/subscribed"),
    lambda v: Packets(unsuback(v, 8, 0x11) if v == V5 else unsuback(v, 8)),
    "an UNSUBSCRIBE is always answered with UNSUBACK (5.0: 0x11 No subscription existed)")

# ---- packets only a server sends ---------------------------------------------------------

row("client-sends-connack", "5.0 2.1.2 (table 2-1); 3.1.1 4.8", ALL,
    lambda v: pkt(0x20, b"\x00\x00" + pv(v)), err(PROTOCOL),
    "CONNACK travels from server to client only")
row("client-sends-suback", "5.0 2.1.2 (table 2-1)", ALL,
    lambda v: pkt(0x90, u16(1) + pv(v) + b"\x00"), err(PROTOCOL), "SUBACK: server to client only")
row("client-sends-unsuback", "5.0 2.1.2 (table 2-1)", ALL,
    lambda v: pkt(0xB0, u16(1) + (pv(v) + b"\x00" if v == V5 else b"")), err(PROTOCOL),
    "UNSUBACK: server to client only")
row("client-sends-pingresp", "5.0 2.1.2 (table 2-1)", ALL, lambda v: PINGRESP, err(PROTOCOL),
    "PINGRESP: server to client only")
row("client-sends-connack-malformed-body", "5.0 2.1.2; 4.13", ONLY5, lambda v: pkt(0x20, b"\x00"),
    err(PROTOCOL), "a server-only type is refused by its type, before its body is parsed",
    choice="protocol error (0x82): the type alone is not allowed from a client, whatever follows")
row("client-sends-suback-malformed-body", "5.0 2.1.2; 4.13", ONLY5, lambda v: pkt(0x90, b"\x00"),
    err(PROTOCOL), "refused by type")
row("client-sends-pingresp-with-body", "5.0 2.1.2; 4.13", ONLY5, lambda v: pkt(0xD0, b"\x00"),
    err(PROTOCOL), "refused by type")
row("client-sends-unsuback-bad-flags", "5.0 2.1.2; 4.13", ONLY5, lambda v: pkt(0xB1, u16(1)),
    err(PROTOCOL), "refused by type before its flags are checked")

# ---- 3.14 DISCONNECT and 3.15 AUTH -------------------------------------------------------

row("disconnect-reason-undefined", "[MQTT-3.14.2-1]", ONLY5, lambda v: b"\xe0\x01\x05",
    Disconnect(PROTOCOL), "the sender MUST use one of the DISCONNECT reason codes")
row("disconnect-reason-connack-only", "[MQTT-3.14.2-1]", ONLY5, lambda v: b"\xe0\x01\x84",
    Disconnect(PROTOCOL), "0x84 Unsupported Protocol Version is a CONNACK code only")
row("disconnect-reason-pubrel-only", "[MQTT-3.14.2-1]", ONLY5, lambda v: b"\xe0\x01\x92",
    Disconnect(PROTOCOL), "0x92 Packet Identifier not found is not a DISCONNECT code")
row("disconnect-property-unknown", "5.0 2.2.2.2", ONLY5, lambda v: b"\xe0\x03\x00" + props(b"\x7f"),
    Disconnect(MALFORMED), "an undefined property identifier")
row("disconnect-property-not-allowed", "5.0 3.14.2.2", ONLY5,
    lambda v: b"\xe0\x04\x00" + props(p_byte(PFI, 1)), Disconnect(PROTOCOL),
    "Payload Format Indicator is not a DISCONNECT property")
row("disconnect-property-cut-short", "5.0 1.2", ONLY5,
    lambda v: b"\xe0\x05\x00" + props(b"\x1f\x00\x05"), Disconnect(MALFORMED),
    "a Reason String running past the block")
row("disconnect-session-expiry-after-zero", "[MQTT-3.14.2-2]", ONLY5,
    lambda v: b"\xe0\x07\x00" + props(p_u32(SEI, 10)), Disconnect(PROTOCOL),
    "a non-zero Session Expiry Interval on DISCONNECT after 0 on CONNECT is a Protocol Error")
row("auth-without-method", "5.0 3.15; 4.12", ONLY5, lambda v: b"\xf0\x02\x18\x00",
    Disconnect(PROTOCOL),
    "it is a Protocol Error to send AUTH if the CONNECT had no Authentication Method")
row("auth-reason-undefined", "[MQTT-3.15.2-1]", ONLY5, lambda v: b"\xf0\x02\x05\x00",
    Disconnect(PROTOCOL), "the sender MUST use one of the AUTH reason codes")
row("auth-property-unknown", "5.0 2.2.2.2", ONLY5, lambda v: b"\xf0\x03\x18" + props(b"\x7f"),
    Disconnect(MALFORMED), "an undefined property identifier in AUTH")

# ---- will delay (5.0 3.1.2.5, 3.1.3.2.2) --------------------------------------------------

row("will-delay-reconnect-cancels-will", "[MQTT-3.1.3-9] [MQTT-3.1.2-8]", ONLY5,
    lambda v: connect(v, "wd1", flags=0x06,
                      cprops=props(p_u32(SEI, 30)), payload=will(v, "will/wd1", b"gone",
                                                                  props(p_u32(WDI, 2)))),
    Silent(), "a new network connection before the will delay has passed MUST NOT send the will, "
    "even with Clean Start 1", connect=False, scenario="will_reconnect")
row("will-delay-due-will-published-on-time", "[MQTT-3.1.3-9] 5.0 3.1.3.2.2", ONLY5,
    lambda v: connect(v, "wd2", flags=0x06, cprops=props(p_u32(SEI, 30)),
                      payload=will(v, "will/wd2", b"due", props(p_u32(WDI, 1)))),
    Packets(publish(V5, "will/wd2", b"due")),
    "a will whose delay has passed is published at its deadline, even if the client reconnects "
    "a moment later (three tries, reconnecting 30 ms after the deadline)", connect=False,
    scenario="will_due")
