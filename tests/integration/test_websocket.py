"""WebSocket listeners ([[listeners]] transport = "ws" / "wss"): MQTT over WebSocket (MQTT 3.1.1
and 5.0 section 6, RFC 6455) from a raw client that builds every byte itself, from paho-mqtt,
from MQTT.js under Node and from MQTT.js in a headless Chromium; the opening handshake and its
refusals, frames split, coalesced, fragmented and broken, close codes, allowed origins, a
trusted proxy's forwarded address, large messages, and sessions handed over between workers.
The broker fixture and the clients are in ws_broker.py.

Tests of behaviour RFC 6455 or MQTT leave to the server (status codes, close codes, Hermod's
configuration keys) are hermod_only; the rest also run against mosquitto (BROKER=mosquitto).
Browser tests carry the `browser` marker and MQTT.js-under-Node tests the `node` marker.
"""

from __future__ import annotations

import re
import subprocess

import pytest

import mqtt5_raw
import mqtt_raw
from broker_process import HOST, IS_MOSQUITTO, free_port, unique_id, wait_for
from clients import mosquitto_pub
from mqtt_raw import ConnectionClosed
from test_config import run_hermod
from tls_broker import line_of
from ws_broker import (CLOSE_NORMAL, CLOSE_PROTOCOL_ERROR, CLOSE_TOO_BIG, CLOSE_UNSUPPORTED_DATA,
                       OP_BINARY, OP_CLOSE, OP_CONTINUATION, OP_PING, OP_PONG, OP_TEXT,
                       PahoWsClient, accept_value, check_upgrade, close_payload,
                       connect_log_line, encode_frame, handshake_request, toml_of)

# tls_pki; make_ws_broker, ws, mqttjs, page_server, browser (and the markers `node`, `browser`)
pytest_plugins = ["tls_broker", "ws_broker"]

MESSAGE = b"over websocket"


# --------------------------------------------------------------------------------------------
# Helpers


@pytest.fixture
def paho_ws(tls_pki):
    """Factory: paho_ws(broker, secure=False, client_id=None, connect=True, **PahoWsClient
    keywords); every client is closed at teardown."""
    made: list[PahoWsClient] = []

    def make(broker, secure: bool = False, client_id=None, connect: bool = True, **kw):
        c = PahoWsClient(broker, unique_id("pws") if client_id is None else client_id,
                         secure=secure, ca=tls_pki.ca.cert, **kw)
        made.append(c)
        if connect:
            c.connect()
        return c

    yield make
    for c in reversed(made):
        try:
            c.close()
        except Exception:  # teardown must reach every client
            pass


def publish_of_size(topic: str, total: int) -> bytes:
    """A QoS 0 PUBLISH whose encoding takes exactly `total` bytes (128 < total < 16386)."""
    remaining = total - 3  # one header byte, two of Remaining Length
    packet = mqtt_raw.publish(topic, b"x" * (remaining - 2 - len(topic)))
    assert len(packet) == total, (len(packet), total)
    return packet


def remote_address(log_line: str) -> str:
    """The address the broker logged before " connected as ", without the port that Hermod
    always appends (":port", after "[address]" or, as Link::remote writes IPv6 now, after the
    bare address)."""
    remote = log_line.split(" connected as ", 1)[0].split()[-1]
    if remote.startswith("["):
        return remote[1:remote.index("]")]
    return remote.rsplit(":", 1)[0]


def ws_round_trip(ws, broker, secure: bool = False) -> None:
    """A fresh WebSocket subscriber gets a fresh WebSocket publisher's QoS 1 message."""
    topic = f"alive/{unique_id()}"
    sub = ws.connect(broker, secure=secure)
    sub.subscribe([(topic, 1)])
    pub = ws.connect(broker, secure=secure)
    pub.publish(topic, b"ping", qos=1)
    got = sub.receive_publish()
    assert (got.topic, got.payload) == (topic, b"ping"), f"round trip over WebSocket failed: {got!r}"
    pub.disconnect()
    sub.disconnect()


# --------------------------------------------------------------------------------------------
# The opening handshake


def test_accept_value_matches_rfc_example():
    """The client's own check: RFC 6455 section 1.3's worked example."""
    assert accept_value("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


@pytest.mark.parametrize("secure", [False, True], ids=["ws", "wss"])
def test_upgrade_is_accepted_with_the_right_accept_value(make_ws_broker, ws, secure):
    """101 Switching Protocols with Upgrade: websocket, Connection: Upgrade, the
    Sec-WebSocket-Accept derived from the key, and the subprotocol "mqtt" (RFC 6455 section
    4.2.2, [MQTT-6.0.0-3], [MQTT-6.0.0-4]); then MQTT flows in binary frames."""
    b = make_ws_broker(wss={})
    c = ws.open(b, secure=secure)
    r = c.handshake()
    check_upgrade(r, c.key, "mqtt")
    ack = c.connect(unique_id("hs"))
    assert ack.return_code == 0, f"CONNECT over WebSocket accepted: {ack}"
    assert c.ws_ping(b"are you there").payload == b"are you there"
    c.ping()  # MQTT's PINGREQ / PINGRESP


@pytest.mark.parametrize("offered, chosen", [
    (("mqttv3.1",), "mqttv3.1"),
    (("mqtt", "mqttv3.1"), "mqtt"),
    (("mqttv3.1", "mqtt"), "mqttv3.1"),
    (("foo", "mqtt"), "mqtt"),
], ids=["mqttv3.1-alone", "mqtt-first", "mqttv3.1-first", "unknown-then-mqtt"])
def test_server_chooses_the_first_acceptable_subprotocol(make_ws_broker, ws, offered, chosen):
    """The server answers with one subprotocol of the client's list: the first it supports
    (RFC 6455 section 4.2.2 item 5.5, section 11.3.4). MQTT 3.1 clients offer "mqttv3.1"."""
    b = make_ws_broker()
    c = ws.open(b)
    r = c.handshake(protocols=offered)
    check_upgrade(r, c.key, chosen)
    version = mqtt_raw.MQTT_V31 if chosen == "mqttv3.1" else mqtt_raw.MQTT_V311
    assert c.connect(unique_id("sp"), protocol=version).return_code == 0


def test_query_string_is_ignored(make_ws_broker, ws):
    """The upgrade's path is matched without its query string."""
    b = make_ws_broker()
    c = ws.open(b)
    r = c.handshake(path="/mqtt?client=browser&x=1")
    check_upgrade(r, c.key, "mqtt")
    assert c.connect(unique_id("qs")).return_code == 0


@pytest.mark.hermod_only("ws_path is Hermod's key; mosquitto accepts any path")
def test_configured_path_is_served_and_the_default_is_not(make_ws_broker, ws):
    b = make_ws_broker(ws={"ws_path": "/custom/mqtt"})
    c = ws.open(b)
    check_upgrade(c.handshake(path="/custom/mqtt"), c.key, "mqtt")
    assert c.connect(unique_id("path")).return_code == 0
    other = ws.open(b)
    assert other.handshake(path="/mqtt").status == 404, "only the configured path upgrades"


BAD_REQUESTS = [
    # (id, handshake_request keywords, status, RFC 6455 rule)
    ("wrong-path", {"path": "/other"}, 404, "section 4.2.1: the resource name"),
    ("path-with-suffix", {"path": "/mqtt/more"}, 404, "section 4.2.1: the resource name"),
    ("path-prefix", {"path": "/mqttx"}, 404, "section 4.2.1: the resource name"),
    ("root-path", {"path": "/"}, 404, "section 4.2.1: the resource name"),
    ("post", {"method": "POST", "extra": [("Content-Length", "0")]}, 405,
     "section 4.2.1 item 1: the method MUST be GET"),
    ("put", {"method": "PUT", "extra": [("Content-Length", "0")]}, 405,
     "section 4.2.1 item 1: the method MUST be GET"),
    ("no-upgrade-header", {"upgrade": None}, 426, "section 4.2.1 item 3: Upgrade: websocket"),
    ("upgrade-to-something-else", {"upgrade": "h2c"}, 426,
     "section 4.2.1 item 3: Upgrade: websocket"),
    ("no-connection-header", {"connection": None}, 426,
     "section 4.2.1 item 4: Connection: Upgrade"),
    ("connection-keep-alive", {"connection": "keep-alive"}, 426,
     "section 4.2.1 item 4: Connection: Upgrade"),
    ("version-8", {"version": "8"}, 426, "section 4.4: Sec-WebSocket-Version 13"),
    ("version-14", {"version": "14"}, 426, "section 4.4: Sec-WebSocket-Version 13"),
    ("no-key", {"key": None}, 400, "section 4.2.1 item 5: Sec-WebSocket-Key"),
    ("key-not-base64", {"key": "not a base64 key!"}, 400,
     "section 4.2.1 item 5: base64 of 16 bytes"),
    ("key-of-15-bytes", {"key": "AAAAAAAAAAAAAAAAAAAA"}, 400,
     "section 4.2.1 item 5: base64 of 16 bytes"),
    ("key-of-17-bytes", {"key": "AAAAAAAAAAAAAAAAAAAAAAA="}, 400,
     "section 4.2.1 item 5: base64 of 16 bytes"),
    ("no-subprotocol", {"protocols": ()}, 400, "[MQTT-6.0.0-3]: the client offers mqtt"),
    ("only-foreign-subprotocol", {"protocols": ("foo",)}, 400,
     "[MQTT-6.0.0-3]: the client offers mqtt"),
    ("header-over-8-KiB", {"extra": [("X-Padding", "p" * 9000)]}, 431,
     "RFC 6585 section 5: request header fields too large"),
]


@pytest.mark.hermod_only("the status of each refusal is Hermod's choice (mosquitto's "
                         "libwebsockets answers differently or upgrades anyway)")
@pytest.mark.parametrize("request_kw, status, rule", [c[1:] for c in BAD_REQUESTS],
                         ids=[c[0] for c in BAD_REQUESTS])
def test_bad_upgrade_request_is_refused(make_ws_broker, ws, clients, request_kw, status, rule):
    """A request that is not an acceptable MQTT-over-WebSocket upgrade gets an HTTP error
    status and the connection is closed (RFC 6455 section 4.2.2: "the server MUST ... abort
    the WebSocket handshake"); the broker goes on serving."""
    b = make_ws_broker()
    c = ws.open(b)
    r = c.handshake(**{"key": "new", **request_kw})
    assert r.status == status, f"{rule}: expected HTTP {status}, got {r}"
    assert r.header("sec-websocket-accept") is None, f"a refusal is no upgrade: {r}"
    if status == 426 and "version" in request_kw:
        assert r.header("sec-websocket-version") == "13", \
            f"the refusal names the version the server speaks (section 4.4): {r}"
    c.read_until_closed(5.0)
    ws_round_trip(ws, b)


@pytest.mark.hermod_only("Hermod's refusal after a request that is not HTTP at all")
def test_plain_mqtt_on_the_ws_port_is_refused(make_ws_broker, ws):
    """MQTT where an HTTP upgrade request was due: no upgrade (at most an HTTP 4xx) and the
    connection closed, within the connect timeout at the latest."""
    b = make_ws_broker(config={"connect_timeout": 2})
    c = ws.open(b)
    c.send_raw(mqtt_raw.connect(unique_id("mqtt-on-ws")))
    data = c.read_until_closed(4.5)
    assert not data or data.startswith(b"HTTP/1.1 4"), \
        f"the broker answers no upgrade (at most an HTTP 4xx) and closes: {data!r}"
    ws_round_trip(ws, b)


@pytest.mark.hermod_only("connect_timeout is Hermod's key")
def test_incomplete_upgrade_request_is_closed_after_the_connect_timeout(make_ws_broker, ws):
    """A client that starts an upgrade request and never finishes it has connect_timeout
    seconds, as one that never sends CONNECT: the handshake is part of connecting."""
    b = make_ws_broker(config={"connect_timeout": 1})
    c = ws.open(b)
    c.send_raw(handshake_request(key="AAAAAAAAAAAAAAAAAAAAAA==")[:40])
    c.read_until_closed(3.5)
    ws_round_trip(ws, b)


def test_plain_tcp_mqtt_and_websocket_share_the_broker(make_ws_broker, ws, clients):
    """Messages flow both ways between a TCP client and a WebSocket client."""
    b = make_ws_broker()
    topic = f"mixed/{unique_id()}"
    tcp = clients.raw_connected(b)
    tcp.subscribe([(topic + "/to-tcp", 1)])
    w = ws.connect(b)
    w.subscribe([(topic + "/to-ws", 1)])
    w.publish(topic + "/to-tcp", b"from ws", qos=1)
    got = tcp.receive_publish()
    assert (got.topic, got.payload) == (topic + "/to-tcp", b"from ws")
    tcp.publish(topic + "/to-ws", b"from tcp", qos=1)
    got = w.receive_publish()
    assert (got.topic, got.payload) == (topic + "/to-ws", b"from tcp")


# --------------------------------------------------------------------------------------------
# Origins


@pytest.mark.hermod_only("ws_origins is Hermod's key")
def test_origin_allow_list(make_ws_broker, ws):
    """With ws_origins set, a request whose Origin is listed upgrades and one whose Origin is
    not gets 403 (RFC 6455 section 4.2.2: the server MAY check the origin and answer 403);
    a request with no Origin (a client that is no browser, section 4.1 item 8) upgrades."""
    allowed = ["http://127.0.0.1:8000", "https://app.example.test"]
    b = make_ws_broker(ws={"ws_origins": allowed})
    for origin in allowed + [None]:
        c = ws.open(b)
        check_upgrade(c.handshake(origin=origin), c.key, "mqtt")
        assert c.connect(unique_id("orig")).return_code == 0, f"Origin {origin} connects"
        c.disconnect()
    for origin in ["http://127.0.0.1:8001", "http://localhost:8000", "https://127.0.0.1:8000",
                   "null", "http://127.0.0.1:8000.evil.test"]:
        c = ws.open(b)
        r = c.handshake(origin=origin)
        assert r.status == 403, f"Origin {origin!r} is not allowed: 403 expected, got {r}"
        c.read_until_closed(5.0)


def test_any_origin_without_an_allow_list(make_ws_broker, ws):
    b = make_ws_broker()
    c = ws.open(b)
    check_upgrade(c.handshake(origin="http://anywhere.example.test"), c.key, "mqtt")
    assert c.connect(unique_id("anyo")).return_code == 0


# --------------------------------------------------------------------------------------------
# Frames carrying MQTT


def test_mqtt_packets_split_across_frames(make_ws_broker, ws, clients):
    """A packet may take several frames [MQTT-6.0.0-2]: CONNECT one byte per frame, then a
    PUBLISH in three frames of unequal sizes."""
    b = make_ws_broker()
    topic = f"split/{unique_id()}"
    tcp = clients.raw_connected(b)
    tcp.subscribe([(topic, 1)])
    c = ws.upgraded(b)
    for byte in mqtt_raw.connect(unique_id("split")):
        c.send_frame(OP_BINARY, bytes([byte]))
    assert c.expect(mqtt_raw.CONNACK).return_code == 0
    packet = mqtt_raw.publish(topic, MESSAGE, qos=1, packet_id=7)
    for part in (packet[:1], packet[1:9], packet[9:]):
        c.send_frame(OP_BINARY, part)
    c.expect(mqtt_raw.PUBACK, packet_id=7)
    got = tcp.receive_publish()
    assert (got.topic, got.payload) == (topic, MESSAGE)


def test_several_mqtt_packets_in_one_frame(make_ws_broker, ws):
    """One frame may hold several packets [MQTT-6.0.0-2]: CONNECT, SUBSCRIBE, PUBLISH and
    PINGREQ in one binary frame are each answered (CONNACK first)."""
    b = make_ws_broker()
    topic = f"coalesced/{unique_id()}"
    c = ws.upgraded(b)
    c.send(mqtt_raw.connect(unique_id("coal")) + mqtt_raw.subscribe(1, [(topic, 1)])
           + mqtt_raw.publish(topic, MESSAGE, qos=1, packet_id=2) + mqtt_raw.pingreq())
    assert c.recv().type == mqtt_raw.CONNACK
    got = [c.recv() for _ in range(4)]
    kinds = sorted(p.type for p in got)
    assert kinds == sorted([mqtt_raw.SUBACK, mqtt_raw.PUBACK, mqtt_raw.PUBLISH, mqtt_raw.PINGRESP]), got
    publish = next(p for p in got if p.type == mqtt_raw.PUBLISH)
    assert (publish.topic, publish.payload) == (topic, MESSAGE)


def test_fragmented_message_with_a_ping_between_fragments(make_ws_broker, ws):
    """A message may come in fragments: a binary frame without FIN, continuation frames, the
    last with FIN; control frames may come between them (RFC 6455 section 5.4). The MQTT
    packets in it are decoded across the fragments [MQTT-6.0.0-2]."""
    b = make_ws_broker()
    topic = f"fragments/{unique_id()}"
    c = ws.upgraded(b)
    data = (mqtt_raw.connect(unique_id("frag")) + mqtt_raw.subscribe(1, [(topic, 1)])
            + mqtt_raw.publish(topic, MESSAGE, qos=1, packet_id=2))
    third = len(data) // 3
    c.send_frame(OP_BINARY, data[:third], fin=False)
    pong = c.ws_ping(b"between fragments")
    assert pong.payload == b"between fragments", f"the pong echoes the ping (section 5.5.3): {pong}"
    c.send_frame(OP_CONTINUATION, data[third:2 * third], fin=False)
    c.send_frame(OP_CONTINUATION, data[2 * third:], fin=True)
    assert c.expect(mqtt_raw.CONNACK).return_code == 0
    c.expect(mqtt_raw.SUBACK, packet_id=1)
    c.expect(mqtt_raw.PUBACK, packet_id=2)
    got = c.receive_publish()
    assert (got.topic, got.payload) == (topic, MESSAGE)


@pytest.mark.parametrize("payload", [b"", b"hermod", bytes(range(125))],
                         ids=["empty", "short", "125-bytes"])
def test_ping_is_answered_with_a_pong_of_the_same_payload(make_ws_broker, ws, payload):
    """RFC 6455 section 5.5.2 / 5.5.3: a Pong answers a Ping with "identical Application data",
    before and after the MQTT CONNECT."""
    b = make_ws_broker()
    c = ws.upgraded(b)
    assert c.ws_ping(payload).payload == payload
    assert c.connect(unique_id("ping")).return_code == 0
    assert c.ws_ping(payload).payload == payload


def test_unsolicited_pong_is_ignored(make_ws_broker, ws):
    """RFC 6455 section 5.5.3: a Pong may be sent unsolicited; no response is expected."""
    b = make_ws_broker()
    c = ws.connect(b)
    c.send_frame(OP_PONG, b"heartbeat")
    assert c.ws_ping(b"after").payload == b"after"
    c.ping()


def test_broker_frames_are_unmasked_binary(make_ws_broker, ws):
    """Server frames are never masked (RFC 6455 section 5.1) and MQTT goes in binary frames
    [MQTT-6.0.0-1]: every frame read here is checked by WsClient; this reads a few kinds."""
    b = make_ws_broker()
    topic = f"frames/{unique_id()}"
    c = ws.upgraded(b)
    c.send(mqtt_raw.connect(unique_id("unm")))
    frame = c.recv_frame()
    assert (frame.opcode, frame.fin, frame.masked) == (OP_BINARY, True, False), frame
    assert frame.payload[0] >> 4 == mqtt_raw.CONNACK, frame
    c.send(mqtt_raw.subscribe(1, [(topic, 0)]) + mqtt_raw.publish(topic, MESSAGE))
    c.expect(mqtt_raw.SUBACK, packet_id=1)
    assert c.receive_publish().payload == MESSAGE


@pytest.mark.parametrize("code", [CLOSE_NORMAL, 1001, 4000])
def test_client_close_is_answered_with_the_same_code(make_ws_broker, ws, code):
    """A close frame is answered with a close frame that echoes its status code, then the
    server closes TCP (RFC 6455 sections 5.5.1, 7.1.1: the server closes first)."""
    b = make_ws_broker()
    c = ws.connect(b)
    c.send_frame(OP_CLOSE, close_payload(code, b"bye"))
    end = c.wait_close(5.0, echo=False)
    assert end.frame is not None, f"the broker answers a close frame with one (section 5.5.1): {end}"
    assert end.code == code, f"the answer echoes status code {code} (section 5.5.1): {end}"
    assert end.tcp_closed, "then the broker closes the TCP connection (section 7.1.1)"


def test_close_without_status_code_is_answered(make_ws_broker, ws):
    """An empty close frame (no status code, section 5.5.1) is answered and the connection
    ends."""
    b = make_ws_broker()
    c = ws.connect(b)
    c.send_frame(OP_CLOSE, b"")
    end = c.wait_close(5.0, echo=False)
    assert end.frame is not None and end.frame.opcode == OP_CLOSE, end
    assert end.code in (None, CLOSE_NORMAL), f"an empty close or 1000 answers it: {end}"
    assert end.tcp_closed


def test_mqtt_disconnect_ends_the_connection(make_ws_broker, ws):
    """On DISCONNECT the server closes the network connection (MQTT 3.1.1 section 3.14.4):
    here a close frame (if any, code 1000) and the end of TCP."""
    b = make_ws_broker()
    c = ws.connect(b)
    c.send(mqtt_raw.disconnect())
    end = c.wait_close(5.0)
    assert end.tcp_closed, f"the broker closes after DISCONNECT: {end}"
    assert end.frame is None or end.code in (None, CLOSE_NORMAL), \
        f"a close frame after DISCONNECT says 1000 (normal closure): {end}"


VIOLATIONS = [
    # (id, frames to send, close code, rule)
    ("unmasked-frame", [encode_frame(OP_BINARY, mqtt_raw.pingreq(), mask=False)],
     CLOSE_PROTOCOL_ERROR, "RFC 6455 section 5.1: a client MUST mask every frame"),
    ("text-frame", [encode_frame(OP_TEXT, b"hello")], CLOSE_UNSUPPORTED_DATA,
     "[MQTT-6.0.0-1]: MQTT goes in binary frames; RFC 6455 section 7.4.1: 1003"),
    ("rsv1", [encode_frame(OP_BINARY, mqtt_raw.pingreq(), rsv=0b100)], CLOSE_PROTOCOL_ERROR,
     "RFC 6455 section 5.2: RSV1 set without an extension"),
    ("rsv2", [encode_frame(OP_BINARY, mqtt_raw.pingreq(), rsv=0b010)], CLOSE_PROTOCOL_ERROR,
     "RFC 6455 section 5.2: RSV2 set without an extension"),
    ("rsv3", [encode_frame(OP_PING, b"", rsv=0b001)], CLOSE_PROTOCOL_ERROR,
     "RFC 6455 section 5.2: RSV3 set without an extension"),
    ("reserved-data-opcode", [encode_frame(0x3, b"x")], CLOSE_PROTOCOL_ERROR,
     "RFC 6455 section 5.2: opcode 0x3 is reserved"),
    ("reserved-control-opcode", [encode_frame(0xB, b"x")], CLOSE_PROTOCOL_ERROR,
     "RFC 6455 section 5.2: opcode 0xB is reserved"),
    ("fragmented-ping", [encode_frame(OP_PING, b"x", fin=False)], CLOSE_PROTOCOL_ERROR,
     "RFC 6455 section 5.5: control frames MUST NOT be fragmented"),
    ("ping-of-126-bytes", [encode_frame(OP_PING, b"x" * 126)], CLOSE_PROTOCOL_ERROR,
     "RFC 6455 section 5.5: control frames carry 125 bytes at most"),
    ("continuation-without-start", [encode_frame(OP_CONTINUATION, mqtt_raw.pingreq())],
     CLOSE_PROTOCOL_ERROR, "RFC 6455 section 5.4: a continuation continues a message"),
    ("new-message-inside-fragmented-one",
     [encode_frame(OP_BINARY, mqtt_raw.pingreq()[:1], fin=False),
      encode_frame(OP_BINARY, mqtt_raw.pingreq())],
     CLOSE_PROTOCOL_ERROR, "RFC 6455 section 5.4: fragments of one message are not interleaved "
                           "with another message's"),
    # The violation after a frame that leaves an MQTT packet incomplete, in the same write:
    # the broker must act on it although no whole packet came before it.
    ("unmasked-after-part-of-a-packet",
     [encode_frame(OP_BINARY, mqtt_raw.publish("t", b"x" * 20)[:6]),
      encode_frame(OP_BINARY, b"x", mask=False)],
     CLOSE_PROTOCOL_ERROR, "RFC 6455 section 5.1: a client MUST mask every frame"),
    ("text-after-part-of-a-packet",
     [encode_frame(OP_BINARY, mqtt_raw.publish("t", b"x" * 20)[:6]),
      encode_frame(OP_TEXT, b"hello")],
     CLOSE_UNSUPPORTED_DATA, "[MQTT-6.0.0-1]: MQTT goes in binary frames"),
]


@pytest.mark.hermod_only("close codes for each violation are Hermod's (mosquitto's "
                         "libwebsockets closes some without a code, tolerates others)")
@pytest.mark.parametrize("frames, code, rule", [v[1:] for v in VIOLATIONS],
                         ids=[v[0] for v in VIOLATIONS])
def test_protocol_violation_closes_with_its_code(make_ws_broker, ws, frames, code, rule):
    """The broker fails the WebSocket connection (RFC 6455 section 7.1.7): a close frame with
    the code for what was broken, then the end of TCP; the broker goes on serving. The frames go
    in one write, so the broker reads them together."""
    b = make_ws_broker()
    c = ws.connect(b)
    c.send_raw(b"".join(frames))
    end = c.wait_close(5.0)
    assert end.frame is not None, f"{rule}: a close frame {code} expected, got {end}"
    assert end.code == code, f"{rule}: close code {code} expected, got {end}"
    assert end.tcp_closed, f"{rule}: the broker closes TCP after its close frame"
    ws_round_trip(ws, b)


# --------------------------------------------------------------------------------------------
# Message size


@pytest.mark.hermod_only("ws_max_message_size is Hermod's key")
@pytest.mark.parametrize("fragments", [1, 3], ids=["one-frame", "three-fragments"])
def test_message_over_the_limit_closes_with_1009(make_ws_broker, ws, fragments):
    """A message over ws_max_message_size (fragments summed) fails the connection with 1009,
    "message too big" (RFC 6455 section 7.4.1)."""
    b = make_ws_broker(ws={"ws_max_message_size": 1024})
    c = ws.connect(b)
    data = publish_of_size(f"big/{unique_id()}", 1025)
    if fragments == 1:
        c.send_frame(OP_BINARY, data)
    else:  # in one write
        c.send_raw(encode_frame(OP_BINARY, data[:400], fin=False)
                   + encode_frame(OP_CONTINUATION, data[400:800], fin=False)
                   + encode_frame(OP_CONTINUATION, data[800:], fin=True))
    end = c.wait_close(5.0)
    assert end.code == CLOSE_TOO_BIG, f"a 1025-byte message over a 1024-byte limit: 1009, got {end}"
    assert end.tcp_closed


@pytest.mark.hermod_only("ws_max_message_size is Hermod's key")
def test_messages_at_the_limit_pass(make_ws_broker, ws, clients):
    """The limit is per message, inclusive: two 1024-byte messages (one in fragments) pass."""
    b = make_ws_broker(ws={"ws_max_message_size": 1024})
    topic = f"limit/{unique_id()}"
    tcp = clients.raw_connected(b)
    tcp.subscribe([(topic, 0)])
    c = ws.connect(b)
    data = publish_of_size(topic, 1024)
    c.send_frame(OP_BINARY, data)
    c.send_frame(OP_BINARY, data[:512], fin=False)
    c.send_frame(OP_CONTINUATION, data[512:], fin=True)
    c.ping()  # MQTT round trip: both PUBLISHes were read (and the connection is still open)
    for _ in range(2):
        got = tcp.receive_publish()
        assert got.topic == topic and len(got.payload) == 1024 - 5 - len(topic), got


MEGABYTE = bytes(range(256)) * 4096  # 1 MiB


@pytest.mark.time_limit(30)
def test_one_megabyte_payload_from_websocket_clients(make_ws_broker, ws, paho_ws, clients):
    """A 1 MiB QoS 1 payload from paho over WebSocket, and one a raw client sends in 64 KiB
    fragments (RFC 6455 section 5.4), reach a TCP subscriber intact."""
    b = make_ws_broker()
    topic = f"mega/{unique_id()}"
    tcp = clients.raw_connected(b)
    tcp.subscribe([(topic, 1)])
    paho_ws(b).publish(topic, MEGABYTE, qos=1, timeout=15)
    got = tcp.receive_publish(timeout=15)
    assert got.payload == MEGABYTE, f"1 MiB from paho intact ({len(got.payload)} bytes arrived)"
    c = ws.connect(b)
    data = mqtt_raw.publish(topic, MEGABYTE[::-1], qos=1, packet_id=9)
    chunks = [data[i:i + 65536] for i in range(0, len(data), 65536)]
    for i, chunk in enumerate(chunks):
        c.send_frame(OP_BINARY if i == 0 else OP_CONTINUATION, chunk, fin=i == len(chunks) - 1)
    c.expect(mqtt_raw.PUBACK, packet_id=9, timeout=15)
    got = tcp.receive_publish(timeout=15)
    assert got.payload == MEGABYTE[::-1], \
        f"1 MiB in 17 fragments intact ({len(got.payload)} bytes arrived)"


@pytest.mark.hermod_only("mosquitto 2.0.11 stalls sending large messages to websockets clients "
                         "(measured: a 300 kB message waits until the next packet comes in)")
@pytest.mark.time_limit(30)
def test_one_megabyte_payload_to_websocket_subscribers(make_ws_broker, ws, paho_ws):
    """A 1 MiB QoS 1 payload reaches a raw WebSocket subscriber (whose reader checks every
    frame: unmasked, binary, fragments in order) and a paho WebSocket subscriber intact."""
    b = make_ws_broker()
    topic = f"mega/{unique_id()}"
    raw_sub = ws.connect(b)
    raw_sub.subscribe([(topic, 1)])
    paho_sub = paho_ws(b)
    paho_sub.subscribe(topic, 1)
    paho_ws(b).publish(topic, MEGABYTE, qos=1, timeout=15)
    got = raw_sub.receive_publish(timeout=15)
    assert got.topic == topic and got.qos == 1
    assert got.payload == MEGABYTE, f"1 MiB intact ({len(got.payload)} bytes arrived)"
    m = paho_sub.get_message(timeout=15)
    assert m.payload == MEGABYTE, f"1 MiB intact at paho ({len(m.payload)} bytes arrived)"


# --------------------------------------------------------------------------------------------
# Forwarded addresses


@pytest.mark.hermod_only("trusted_proxies is Hermod's key")
@pytest.mark.parametrize("trusted, header, shown", [
    (["127.0.0.1"], ("X-Forwarded-For", "203.0.113.7"), "203.0.113.7"),
    (["127.0.0.0/8"], ("X-Real-IP", "198.51.100.23"), "198.51.100.23"),
    (["10.0.0.0/8", "127.0.0.1"], ("X-Forwarded-For", "2001:db8::17"), "2001:db8::17"),
    (None, ("X-Forwarded-For", "203.0.113.7"), "127.0.0.1"),
    (["10.0.0.0/8"], ("X-Forwarded-For", "203.0.113.7"), "127.0.0.1"),
    (["127.0.0.1"], ("X-Forwarded-For", "not an address"), "127.0.0.1"),
], ids=["xff-trusted", "x-real-ip-trusted-range", "xff-ipv6-trusted", "xff-no-proxies",
        "xff-untrusted-peer", "xff-garbage"])
def test_forwarded_address_only_from_a_trusted_proxy(make_ws_broker, ws, trusted, header, shown):
    """Behind a trusted proxy the broker logs the client's address from X-Forwarded-For /
    X-Real-IP; from any other peer (or with a header that names no address) it logs the TCP
    peer, 127.0.0.1, and never the header's value."""
    b = make_ws_broker(ws={"trusted_proxies": trusted} if trusted else {})
    c = ws.open(b)
    check_upgrade(c.handshake(extra=[header]), c.key, "mqtt")
    cid = unique_id("xff")
    assert c.connect(cid).return_code == 0
    line = connect_log_line(b, cid)
    assert remote_address(line) == shown, f"the broker logs {shown} for this client: {line}"
    if shown == "127.0.0.1":
        assert header[1] not in line, f"an untrusted header is not believed: {line}"


# --------------------------------------------------------------------------------------------
# Configuration


WS_CONFIG_ERRORS = [
    # (id, transport, listener keys, key that must be named)
    ("ws-option-on-tcp", "tcp", {"ws_path": "/mqtt"}, "ws_path"),
    ("origins-on-tls", "tls", {"ws_origins": ["http://a.test"]}, "ws_origins"),
    ("path-without-slash", "ws", {"ws_path": "mqtt"}, "ws_path"),
    ("path-with-query", "ws", {"ws_path": "/mqtt?x=1"}, "ws_path"),
    ("origin-with-path", "ws", {"ws_origins": ["http://a.test/page"]}, "ws_origins"),
    ("origins-not-strings", "ws", {"ws_origins": [1]}, "ws_origins"),
    ("max-message-size-zero", "ws", {"ws_max_message_size": 0}, "ws_max_message_size"),
    ("bad-proxy", "ws", {"trusted_proxies": ["10.0.0.0/33"]}, "trusted_proxies"),
    ("wss-without-cert", "wss", {"cert_file": None}, "cert_file"),
    ("misspelt-key", "ws", {"ws_origin": ["http://a.test"]}, "ws_origin"),
]


@pytest.mark.hermod_only("Hermod's configuration")
@pytest.mark.parametrize("transport, keys, named", [c[1:] for c in WS_CONFIG_ERRORS],
                         ids=[c[0] for c in WS_CONFIG_ERRORS])
def test_websocket_configuration_error_names_its_key(tmp_path, tls_pki, transport, keys, named):
    """A bad WebSocket option stops start-up with an error naming the file, the line and the
    key; so does a WebSocket option on a listener that is no WebSocket."""
    if transport in ("tls", "wss"):
        keys = {"cert_file": str(tls_pki.server_ec.cert), "key_file": str(tls_pki.server_ec.key),
                **keys}
    text = f'[[listeners]]\nbind = "{HOST}"\nport = {free_port()}\n'
    text += f'\n[[listeners]]\nbind = "{HOST}"\nport = {free_port()}\ntransport = "{transport}"\n'
    text += "".join(f"{k} = {toml_of(v)}\n" for k, v in keys.items() if v is not None)
    path = tmp_path / "ws.toml"
    path.write_text(text)
    try:
        done = run_hermod("-c", str(path), timeout=5.0)
    except subprocess.TimeoutExpired:
        pytest.fail(f"hermod accepted a bad WebSocket configuration and kept running:\n{text}",
                    pytrace=False)
    assert done.returncode != 0, f"hermod accepted a bad WebSocket configuration:\n{text}\n{done.stderr}"
    where = rf"ws\.toml:{line_of(text, named)}\b" if f"\n{named} =" in text else r"ws\.toml:\d+"
    assert named in done.stderr and re.search(where, done.stderr), \
        f"the error names the file, the line ({where}) and {named!r}:\n{done.stderr}\n--- config ---\n{text}"


# --------------------------------------------------------------------------------------------
# paho-mqtt over WebSocket


@pytest.mark.parametrize("secure", [False, True], ids=["ws", "wss"])
@pytest.mark.parametrize("qos", [0, 1, 2])
def test_paho_round_trip(make_ws_broker, paho_ws, secure, qos):
    """paho-mqtt with transport="websockets" publishes to and receives from the broker at each
    QoS, over ws and over wss (the server verified against the test CA)."""
    b = make_ws_broker(wss={} if secure else None)
    topic = f"paho/{unique_id()}"
    sub = paho_ws(b, secure=secure)
    assert sub.subscribe(topic, qos) == (qos,)
    pub = paho_ws(b, secure=secure)
    pub.publish(topic, MESSAGE, qos=qos)
    m = sub.get_message()
    assert (m.topic, m.payload, m.qos) == (topic, MESSAGE, qos)
    pub.disconnect()
    sub.disconnect()


def test_mosquitto_pub_on_tcp_reaches_paho_on_ws(make_ws_broker, paho_ws):
    b = make_ws_broker()
    topic = f"tcp2ws/{unique_id()}"
    sub = paho_ws(b)
    sub.subscribe(topic, 2)
    done = mosquitto_pub(b, "-t", topic, "-q", "2", "-m", "from mosquitto_pub")
    assert done.returncode == 0, done.stderr
    m = sub.get_message()
    assert (m.topic, m.payload, m.qos) == (topic, b"from mosquitto_pub", 2)


def test_paho_on_ws_reaches_mosquitto_sub_on_tcp(make_ws_broker, paho_ws, clients):
    b = make_ws_broker()
    topic = f"ws2tcp/{unique_id()}"
    sub = clients.mosquitto_sub("-t", topic, "-q", "1", "-C", "1", "-v", broker=b)
    sub.wait_subscribed()
    pub = paho_ws(b)
    pub.publish(topic, b"from paho over ws", qos=1)
    sub.wait_line(lambda l: l == f"{topic} from paho over ws")
    assert sub.wait_exit() == 0


# --------------------------------------------------------------------------------------------
# MQTT.js under Node


@pytest.mark.parametrize("secure", [False, True], ids=["ws", "wss"])
@pytest.mark.parametrize("version", [4, 5], ids=["mqtt311", "mqtt5"])
def test_mqttjs_node_round_trip(make_ws_broker, tls_pki, clients, mqttjs, secure, version):
    """MQTT.js 5 under Node connects over ws (or wss, trusting the test CA through its `ca`
    option), subscribes, publishes QoS 1 and gets its message back; a TCP client sees it too.
    Under MQTT 5 the user property survives the trip."""
    b = make_ws_broker(wss={} if secure else None)
    topic = f"mqttjs/{unique_id()}"
    watcher = clients.raw_connected(b)
    watcher.subscribe([(topic, 1)])
    options = {"url": b.wss_url if secure else b.ws_url, "topic": topic, "id": unique_id("mqttjs"),
               "protocolVersion": version, "timeout_ms": 10000}
    if secure:
        options["ca"] = str(tls_pki.ca.cert)
    out = mqttjs("client.mjs", options)
    assert out["exit"] == 0, f"MQTT.js failed: {out}"
    assert out["connack"]["reasonCode"] == 0 and out["granted"] == [1], out
    received = out["received"]
    assert (received["topic"], received["payload"], received["qos"]) == \
        (topic, "hello from mqtt.js", 1), out
    if version == 5:
        assert received["userProperties"] == {"origin": "mqtt.js"}, \
            f"the user property arrives [MQTT-3.3.2-17]: {out}"
    got = watcher.receive_publish()
    assert (got.topic, got.payload) == (topic, b"hello from mqtt.js")


# --------------------------------------------------------------------------------------------
# MQTT.js in Chromium


def browser_round_trip(browser, pages, broker_url: str, tcp, screenshot, version: int = 4):
    """Loads the page (served by `pages`) against `broker_url`: it publishes to <topic>/up,
    which the TCP client `tcp` gets and answers on <topic>/down; returns the driver's reply.
    If the page does not get as far as publishing, returns its reply at once."""
    topic = f"browser/{unique_id()}"
    tcp.subscribe([(topic + "/up", 1)])
    load = browser.begin(pages.page_url(url=broker_url, topic=topic, id=unique_id("chrome"),
                                        v=version), screenshot)
    try:
        got = tcp.receive_publish(timeout=10)
    except (mqtt_raw.Timeout, ConnectionClosed):
        return browser.finish(load)
    assert (got.topic, got.payload) == (topic + "/up", b"hello from the browser"), got
    tcp.publish(topic + "/down", b"hello from tcp", qos=1)
    reply = browser.finish(load)
    reply["topic"] = topic
    return reply


def browser_refused(browser, pages, broker_url: str, screenshot, what: str) -> None:
    """Loads the page against `broker_url` and asserts that it could not connect (the page
    reports that as soon as the connection fails)."""
    reply = browser.load(pages.page_url(url=broker_url, topic=f"refused/{unique_id()}",
                                        id=unique_id("chrome")), screenshot)
    result = reply.get("result") or {}
    assert result.get("ok") is False and result.get("stage") == "connect", \
        f"{what}: the page does not connect: {reply}"
    check_page_loaded_only_local(reply, pages)


def check_page_loaded_only_local(reply, pages) -> None:
    for url in reply.get("requests", []):
        # blob: URLs are the page's own (MQTT.js starts a timer worker from one).
        assert url.startswith((pages.origin + "/", f"blob:{pages.origin}/")), \
            f"the page loads nothing from outside {pages.origin}: {url} in {reply['requests']}"
    for url in reply.get("websockets", []):
        assert url.startswith(("ws://127.0.0.1:", "wss://127.0.0.1:")), reply["websockets"]


@pytest.mark.time_limit(45)
def test_browser_round_trip_over_ws_and_wss(make_ws_broker, tls_pki, browser, page_server,
                                            clients, tmp_path):
    """MQTT.js's browser bundle in headless Chromium, on a page from 127.0.0.1, connects over
    ws and over wss, receives a message from a TCP client and reaches it; MQTT 5 over ws too.
    Chromium was told to accept the ECDSA server key alone (by its SPKI hash): a wss listener
    with the RSA certificate from the same CA is refused, so that flag checks the key and
    accepts nothing else. Screenshots are in the test's tmp dir."""
    b = make_ws_broker(wss={})
    pages = page_server()
    tcp = clients.raw_connected(b)
    for name, url, version in (("ws", b.ws_url, 4), ("wss", b.wss_url, 4), ("ws-v5", b.ws_url, 5)):
        shot = tmp_path / f"page-{name}.png"
        reply = browser_round_trip(browser, pages, url, tcp, shot, version)
        result = reply.get("result") or {}
        assert result.get("ok"), f"the page over {name} ({url}) failed: {reply}"
        assert (result["topic"], result["payload"], result["qos"]) == \
            (reply["topic"] + "/down", "hello from tcp", 1), reply
        assert result["granted"] == [1], reply
        assert reply["websockets"] == [url], reply
        check_page_loaded_only_local(reply, pages)
        assert shot.stat().st_size > 0, f"a screenshot at {shot}"
    assert set(pages.requests) >= {"/mqtt.min.js"}, pages.requests
    unpinned = make_ws_broker(no_ws=True, wss={}, server=tls_pki.server_rsa)
    browser_refused(browser, pages, unpinned.wss_url, tmp_path / "page-unpinned.png",
                    "a server key Chromium was not told about fails the TLS handshake")


@pytest.mark.hermod_only("ws_origins is Hermod's key")
@pytest.mark.time_limit(45)
def test_browser_origin_allow_list(make_ws_broker, browser, page_server, clients, tmp_path):
    """With ws_origins naming one page server's origin, Chromium connects from a page of that
    origin and fails from the same page served on another port (its Origin header differs: the
    broker answers 403, which a page sees only as a failed connection)."""
    allowed, other = page_server(), page_server()
    b = make_ws_broker(ws={"ws_origins": [allowed.origin]})
    tcp = clients.raw_connected(b)
    reply = browser_round_trip(browser, allowed, b.ws_url, tcp, tmp_path / "page-allowed.png")
    assert (reply.get("result") or {}).get("ok"), f"the allowed origin {allowed.origin} connects: {reply}"
    check_page_loaded_only_local(reply, allowed)
    browser_refused(browser, other, b.ws_url, tmp_path / "page-refused.png",
                    f"from {other.origin}, not an allowed origin")
    refusal = re.compile(r"refused.*\b403\b")
    wait_for(lambda: any(refusal.search(l) for l in b.stderr_text().splitlines()),
             message="the broker's log line refusing Chromium's upgrade with 403")


# --------------------------------------------------------------------------------------------
# Sessions across workers


@pytest.mark.time_limit(30)
def test_ws_clients_work_from_either_worker(make_ws_broker, ws):
    """With two workers about half the connections land on the worker that is not their
    session's home and are handed over with their WebSocket state. Some clients send SUBSCRIBE
    in the same frame as CONNECT, some split CONNECT across two frames with a ping (answered
    by the accepting worker) between them, so bytes and partial packets travel too."""
    b = make_ws_broker(config={"workers": 2})
    subs = []
    for i in range(12):
        cid = unique_id(f"hand{i}")
        topic = f"hand/{cid}"
        c = ws.upgraded(b)
        connect = mqtt_raw.connect(cid)
        if i % 3 == 1:
            c.send(connect + mqtt_raw.subscribe(1, [(topic, 1)]))
        elif i % 3 == 2:
            c.send_frame(OP_BINARY, connect[:5])
            c.ws_ping(b"half a CONNECT")
            c.send_frame(OP_BINARY, connect[5:] + mqtt_raw.subscribe(1, [(topic, 1)])[:3])
            c.send_frame(OP_BINARY, mqtt_raw.subscribe(1, [(topic, 1)])[3:])
        else:
            c.send(connect)
            assert c.expect(mqtt_raw.CONNACK).return_code == 0
            c.send(mqtt_raw.subscribe(1, [(topic, 1)]))
        ack = c.expect(mqtt_raw.CONNACK) if i % 3 else None
        assert ack is None or ack.return_code == 0, ack
        assert c.expect(mqtt_raw.SUBACK, packet_id=1).return_codes == [1]
        c._next_id = 1
        subs.append((c, topic))
    pub = ws.connect(b)
    for c, topic in subs:
        pub.publish(topic, topic.encode(), qos=1)
    for c, topic in subs:
        got = c.receive_publish()
        assert (got.topic, got.payload) == (topic, topic.encode()), got
        assert c.ws_ping(b"still here").payload == b"still here"
        c.ping()


@pytest.mark.time_limit(40)
@pytest.mark.parametrize("version", [4, 5], ids=["clean-session-0", "session-expiry"])
def test_persistent_session_over_ws_gets_qos2_queued_while_offline(make_ws_broker, ws, clients,
                                                                   version):
    """A session created over WebSocket (MQTT 3.1.1 clean session 0, or MQTT 5 with a session
    expiry interval) survives reconnects over WebSocket, whichever worker each CONNECT lands
    on: the CONNACK says session present [MQTT-3.2.2-2] and the QoS 2 messages published while
    it was away arrive, each once [MQTT-3.1.2-5], [MQTT-4.3.3-2]."""
    b = make_ws_broker(config={"workers": 2})
    cid = unique_id(f"wsp{version}")
    topic = f"persist/{cid}"
    v5 = version == 5
    expiry = [(mqtt5_raw.SESSION_EXPIRY_INTERVAL, 300)]

    def connect(first: bool):
        c = ws.upgraded(b, v5=v5)
        ack = c.connect(cid, clean_start=first, props=expiry) if v5 else c.connect(cid, clean=False)
        assert ack.return_code == 0, ack
        return c, ack

    c, ack = connect(first=True)
    assert not ack.session_present
    c.subscribe([(topic, 2)])
    c.disconnect(wait=True)
    pub = clients.raw_connected(b)
    for n in range(6):
        pub.publish(topic, f"queued {n}a".encode(), qos=2)
        pub.publish(topic, f"queued {n}b".encode(), qos=2)
        c, ack = connect(first=False)
        assert ack.session_present, f"reconnect {n}: the session is still there [MQTT-3.2.2-2]"
        got = [c.receive_publish(), c.receive_publish()]
        assert [(p.topic, p.payload, p.qos) for p in got] == \
            [(topic, f"queued {n}a".encode(), 2), (topic, f"queued {n}b".encode(), 2)], got
        c.finish_qos2()
        c.finish_qos2()
        c.ping()  # nothing else is pending: no duplicate came
        assert not [p for p in c.pending() if p.type == mqtt_raw.PUBLISH], c.pending()
        c.disconnect(wait=True)
    if not IS_MOSQUITTO:
        resumed = [l for l in b.stderr_text().splitlines()
                   if f"connected as {cid} (" in l and "session resumed" in l]
        assert len(resumed) == 6, f"six resumed sessions logged: {resumed}"


@pytest.mark.time_limit(30)
def test_takeover_over_ws_closes_the_first_connection(make_ws_broker, ws, clients):
    """A second WebSocket connection with the same client id takes over the first
    [MQTT-3.1.4-2] (the first ends: a close frame or the end of TCP), wherever each was
    accepted, and resumes its subscription."""
    b = make_ws_broker(config={"workers": 2})
    pub = clients.raw_connected(b)
    for n in range(5):
        cid = unique_id(f"take{n}")
        topic = f"take/{cid}"
        first = ws.connect(b, client_id=cid, clean=False)
        first.subscribe([(topic, 1)])
        second = ws.connect(b, client_id=cid, clean=False)
        assert first.wait_closed(5.0), "the first connection is closed by the takeover [MQTT-3.1.4-2]"
        pub.publish(topic, b"to the new one", qos=1)
        got = second.receive_publish()
        assert (got.topic, got.payload) == (topic, b"to the new one"), got
        second.disconnect(wait=True)
