"""Listeners behind a load balancer speaking the PROXY protocol (`proxy_protocol = true`,
`trusted_proxies`, docs/listeners.md section 9): headers by hand on raw sockets (version 1 and
2, IPv4 and IPv6, split across writes, coalesced with the CONNECT, UNKNOWN / LOCAL, garbage, none,
from an untrusted peer, stalled), the client's address in the broker's log, the CN of a
certificate a proxy verified as the user name, the header under TLS and WebSocket, and Debian's
haproxy in front of the broker (send-proxy, send-proxy-v2, TLS terminated by haproxy with
send-proxy-v2-ssl-cn, TLS passed through) driven by mosquitto_pub / mosquitto_sub bound to
127.0.0.5 / 127.0.0.6, so the broker's log must show those while its TCP peer is haproxy on
127.0.0.1. Configuration errors last. Helpers and fixtures are in proxy_broker.py."""

from __future__ import annotations

import re
import struct
import subprocess
import time
import types
from typing import Any, Optional, Sequence

import pytest

import mqtt_raw
from broker_process import HOST, free_port, unique_id, wait_for
from clients import mosquitto_pub
from mqtt_raw import ConnectionClosed
from proxy_broker import (CONFIG_NAME, NO_HEADER, NOT_TRUSTED, PP2_CLIENT_CERT_CONN,
                          PP2_CLIENT_CERT_SESS, PP2_CLIENT_SSL, PP2_TYPE_ALPN,
                          PP2_TYPE_AUTHORITY, PP2_TYPE_NOOP, TCP4, V1_UNKNOWN, V2_LOCAL,
                          Frontend, ProxyClient, ProxyTlsClient, proxy_listener,
                          ssl_tlv, tlv, v1_header, v2_header)
from test_config import assert_names, start_expecting_failure
from tls_broker import TlsClient, client_context, read_until_closed
from ws_broker import PahoWsClient, WsClient, check_upgrade

pytest_plugins = ["tls_broker", "proxy_broker"]  # tls_pki, make_proxy_broker, make_haproxy
pytestmark = pytest.mark.hermod_only("PROXY protocol listeners (mosquitto 2.0.11 has none)")

CONNACK_ACCEPTED, NOT_AUTHORIZED = 0, 5
PUB_SOURCE, SUB_SOURCE = "127.0.0.5", "127.0.0.6"  # client source addresses behind haproxy
CLOSE_DEADLINE = 3.0  # a refused or broken connection is closed within this


# --------------------------------------------------------------------------------------------
# Helpers


class ProxyClients:
    """Opens ProxyClients for a test and closes them all at teardown."""

    def __init__(self):
        self._open: list[Any] = []

    def open(self, port: int, header: bytes = b"", source: Optional[str] = None,
             cuts: Sequence[int] = (), timeout: float = 5.0) -> ProxyClient:
        c = ProxyClient(HOST, port, header, source=source, cuts=cuts, timeout=timeout)
        self._open.append(c)
        return c

    def add(self, c):
        self._open.append(c)
        return c

    def connect(self, port: int, header: bytes, client_id: Optional[str] = None,
                source: Optional[str] = None, **connect_kw: Any) -> ProxyClient:
        """A client whose header and CONNECT were accepted (CONNACK 0)."""
        c = self.open(port, header, source=source)
        cid = unique_id("pp") if client_id is None else client_id
        ack = c.connect(cid, **connect_kw)
        assert ack.return_code == CONNACK_ACCEPTED, f"CONNECT after {header!r} refused: {ack}"
        c.client_id = cid
        return c

    def close_all(self) -> None:
        for c in self._open:
            c.close()


@pytest.fixture
def pp():
    c = ProxyClients()
    yield c
    c.close_all()


def connect_line(broker, client_id: str, timeout: float = 5.0) -> str:
    """The broker's "<address> connected as <client id> (...)" log line."""
    mark = f" connected as {client_id} ("
    return wait_for(lambda: next((l for l in broker.stderr_text().splitlines() if mark in l), None),
                    timeout, message=f"the broker's log line for {client_id} connecting")


def assert_logged_address(broker, client_id: str, address: str, what: str) -> str:
    line = connect_line(broker, client_id)
    assert f"{address} connected as {client_id} (" in line, \
        f"{what}: the broker logs the client as {address}: {line}"
    return line


def wait_log(broker, pattern: str, what: str, timeout: float = 5.0) -> str:
    rx = re.compile(pattern)
    return wait_for(lambda: next((l for l in broker.stderr_text().splitlines() if rx.search(l)),
                                 None), timeout, message=what)


def connected_as(cid: str, user: str) -> str:
    return rf'connected as {re.escape(cid)} \([^)]*user "{re.escape(user)}"'


def closed_line(broker, peer: tuple[str, int], what: str) -> str:
    """The "proxy" logger's line closing the connection from `peer` (its reason follows)."""
    return wait_log(broker, rf"\[proxy\] {re.escape(peer[0])}:{peer[1]} closed: \S",
                    f'the broker to log "{peer[0]}:{peer[1]} closed: <reason>" for {what}')


def assert_closed_silently(c: ProxyClient, what: str, timeout: float = CLOSE_DEADLINE) -> None:
    data, closed = read_until_closed(c.sock, timeout)
    assert closed, f"{what}: the broker closes the connection within {timeout:g} s"
    assert data == b"", f"{what}: nothing is sent back (no CONNACK): {data!r}"


def self_round_trip(c: mqtt_raw.RawClient) -> None:
    """The connection works past the header: SUBSCRIBE, PUBLISH to itself, get it back."""
    topic = f"pp/{unique_id()}"
    assert c.subscribe([(topic, 1)]).return_codes == [1]
    c.publish(topic, b"through the header", qos=1)
    got = c.receive_publish()
    assert (got.topic, got.payload) == (topic, b"through the header"), got


def plain_proxy_broker(make_proxy_broker, **keys: Any):
    """A broker with one proxy_protocol listener (trusted 127.0.0.1) plus `keys`."""
    return make_proxy_broker(proxy_listener(**keys))


# --------------------------------------------------------------------------------------------
# Headers on raw sockets


def check_header(b, pp, header: bytes, shown: str, what: str) -> None:
    """`header` then CONNECT, in two writes and in one: accepted, and the broker logs the
    client as `shown`; the connection works."""
    for coalesced in (False, True):
        cid = unique_id("hdr")
        if coalesced:
            c = pp.open(b.ports[0])
            c.send(header + mqtt_raw.connect(cid))
            ack = c.expect(mqtt_raw.CONNACK)
        else:
            c = pp.open(b.ports[0], header)
            ack = c.connect(cid)
        how = "in one write with the CONNECT" if coalesced else "then the CONNECT"
        assert ack.return_code == CONNACK_ACCEPTED, f"{what} {how}: {header!r}: {ack}"
        assert_logged_address(b, cid, shown, f"{what} {how}")
        self_round_trip(c)


@pytest.mark.parametrize("family", ["tcp4", "tcp6"])
def test_v1_header_gives_the_clients_address(make_proxy_broker, pp, family):
    b = plain_proxy_broker(make_proxy_broker)
    source, port, shown = {"tcp4": ("203.0.113.7", 40001, "203.0.113.7:40001"),
                           "tcp6": ("2001:db8::7", 40002, "[2001:db8::7]:40002")}[family]
    check_header(b, pp, v1_header(source, port, dest_port=b.ports[0]), shown,
                 f"a v1 {family} header")


@pytest.mark.parametrize("family", ["ipv4", "ipv6"])
def test_v2_header_gives_the_clients_address(make_proxy_broker, pp, family):
    b = plain_proxy_broker(make_proxy_broker)
    source, port, shown = {"ipv4": ("198.51.100.23", 50123, "198.51.100.23:50123"),
                           "ipv6": ("2001:db8:0:1::23", 50124, "[2001:db8:0:1::23]:50124")}[family]
    check_header(b, pp, v2_header(source, port, dest_port=b.ports[0]), shown,
                 f"a v2 {family} header")


def test_v2_tlvs_the_broker_does_not_use_are_skipped(make_proxy_broker, pp):
    """ALPN, authority, a custom type, TLS information without a certificate, and padding
    (3000 bytes: a header longer than one read) are skipped."""
    b = plain_proxy_broker(make_proxy_broker)
    tlvs = (tlv(PP2_TYPE_ALPN, b"mqtt") + tlv(PP2_TYPE_AUTHORITY, b"mqtt.example.com")
            + tlv(0xE0, b"custom") + ssl_tlv(client=PP2_CLIENT_SSL, cn=None)
            + tlv(PP2_TYPE_NOOP, b"\0" * 3000))
    check_header(b, pp, v2_header("192.0.2.44", 1234, tlvs=tlvs), "192.0.2.44:1234",
                 "a v2 header with TLVs")


def split_cases():
    def v1(b):
        return v1_header("203.0.113.9", 40009, dest_port=b.ports[0])

    def v2_4(b):
        return v2_header("198.51.100.9", 50009, tlvs=tlv(PP2_TYPE_NOOP, b"pad"))

    def v2_6(b):
        return v2_header("2001:db8::9", 50010, tlvs=ssl_tlv(client=PP2_CLIENT_SSL))

    return [("v1", v1, "203.0.113.9:40009", [1, 3, 6, 9, 20]),
            # inside the signature, before and after the version and the length bytes, and
            # inside the addresses and the TLVs
            ("v2-ipv4", v2_4, "198.51.100.9:50009", [1, 5, 11, 12, 13, 14, 15, 16, 20, 29]),
            ("v2-ipv6", v2_6, "[2001:db8::9]:50010", [6, 12, 13, 16, 30, 52, 60])]


@pytest.mark.parametrize("make_header, shown, cuts", [c[1:] for c in split_cases()],
                         ids=[c[0] for c in split_cases()])
def test_header_split_across_writes(make_proxy_broker, pp, make_header, shown, cuts):
    b = plain_proxy_broker(make_proxy_broker)
    header = make_header(b)
    cid = unique_id("split")
    data = header + mqtt_raw.connect(cid)
    # The header's last byte alone, then its end together with the CONNECT's first 3 bytes.
    cuts = [c for c in cuts if c < len(header) - 1] + [len(header) - 1, len(header) + 3]
    c = pp.open(b.ports[0], data, cuts=cuts)
    ack = c.expect(mqtt_raw.CONNACK)
    assert ack.return_code == CONNACK_ACCEPTED, f"{header!r} in pieces cut at {cuts}: {ack}"
    assert_logged_address(b, cid, shown, f"a header split at {cuts}")
    self_round_trip(c)


HEALTH_CHECKS = [
    ("v1 UNKNOWN", V1_UNKNOWN),
    ("v1 UNKNOWN with addresses (the rest of the line is ignored)",
     b"PROXY UNKNOWN 2001:db8::1 2001:db8::2 1111 2222\r\n"),
    ("v2 LOCAL with addresses (ignored)", v2_header("192.0.2.1", 1, command=V2_LOCAL)),
    ("v2 LOCAL, AF_UNSPEC", v2_header(None, command=V2_LOCAL)),
    ("v2 PROXY, AF_UNSPEC (no address to take)", v2_header(None)),
]


def test_unknown_and_local_headers_keep_the_peer_address(make_proxy_broker, pp):
    b = plain_proxy_broker(make_proxy_broker)
    for what, header in HEALTH_CHECKS:
        c = pp.connect(b.ports[0], header)
        host, port = c.local
        assert_logged_address(b, c.client_id, f"{host}:{port}",
                              f"{what}, {header!r}: the peer's own address")
        self_round_trip(c)


def test_connection_without_header_is_closed(make_proxy_broker, pp, clients):
    b = plain_proxy_broker(make_proxy_broker)
    c = pp.open(b.ports[0])
    c.send(mqtt_raw.connect(unique_id("nohdr")))
    assert_closed_silently(c, "a plain CONNECT on a proxy_protocol listener")
    line = closed_line(b, c.local, "a connection without a header")
    assert NO_HEADER in line and "proxy" in line, \
        f'logged by the "proxy" logger with the reason {NO_HEADER!r}: {line}'
    assert " connected as " not in b.stderr_text()
    pp.connect(b.ports[0], v1_header("192.0.2.5", 5555))  # the listener still serves
    clients.raw_connected(b)  # and so does the plain one


GARBAGE = {
    "not-proxy": [
        ("http", b"GET /mqtt HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"),
        ("tls-client-hello-like", b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03" + b"\x00" * 32),
        ("proxy-lowercase", b"proxy TCP4 192.0.2.1 127.0.0.1 1 1883\r\n"),
        ("v2-signature-mangled", b"\r\n\r\n\x00\r\nQUIT\r" + b"\x21\x11\x00\x0c" + b"\x00" * 12),
    ],
    "v1": [
        ("bad-family", b"PROXY TCP5 192.0.2.1 127.0.0.1 1 1883\r\n"),
        ("missing-fields", b"PROXY TCP4 192.0.2.1 127.0.0.1\r\n"),
        ("bad-address", b"PROXY TCP4 192.0.2.400 127.0.0.1 1 1883\r\n"),
        ("family-mismatch", b"PROXY TCP4 2001:db8::1 127.0.0.1 1 1883\r\n"),
        ("port-too-big", b"PROXY TCP4 192.0.2.1 127.0.0.1 65536 1883\r\n"),
        ("port-not-a-number", b"PROXY TCP4 192.0.2.1 127.0.0.1 http 1883\r\n"),
        ("no-crlf-within-107-bytes", b"PROXY TCP6 " + b"2" * 120),
    ],
    "v2": [
        ("version-1", v2_header("192.0.2.1", 1, version=1)),
        ("command-2", v2_header("192.0.2.1", 1, command=2)),
        ("shorter-than-its-addresses", v2_header(None, family=TCP4, tlvs=b"\0" * 6)),
        ("tlv-past-the-end", v2_header("192.0.2.1", 1,
                                       tlvs=struct.pack("!BH", PP2_TYPE_NOOP, 40) + b"x")),
    ],
}


@pytest.mark.parametrize("kind", list(GARBAGE))
def test_invalid_header_is_closed_with_a_reason(make_proxy_broker, pp, kind):
    b = plain_proxy_broker(make_proxy_broker)
    for what, garbage in GARBAGE[kind]:
        c = pp.open(b.ports[0])
        c.send(garbage + mqtt_raw.connect(unique_id("bad")))
        assert_closed_silently(c, f"{kind} {what}: {garbage!r}")
        line = closed_line(b, c.local, f"{kind} {what}: {garbage!r}")
        if kind == "not-proxy":
            assert NO_HEADER in line, line
    assert " connected as " not in b.stderr_text(), b.stderr_tail()
    pp.connect(b.ports[0], v2_header("192.0.2.5", 5555))  # the listener still serves


def test_untrusted_peer_is_closed_at_once(make_proxy_broker, pp):
    b = plain_proxy_broker(make_proxy_broker, trusted_proxies=["127.0.0.2"])
    c = pp.open(b.ports[0])  # from 127.0.0.1, sending nothing
    peer = c.local
    assert peer[0] == "127.0.0.1"
    assert_closed_silently(c, "a peer not in trusted_proxies, before it sends anything")
    line = wait_log(b, rf"{re.escape(peer[0])}:{peer[1]} {re.escape(NOT_TRUSTED)}",
                    f"the log line {NOT_TRUSTED!r} for {peer}")
    assert "proxy" in line, line
    # A valid header from that peer changes nothing. (One write: the broker may have closed
    # before a second one, which would then fail with EPIPE.)
    c = pp.open(b.ports[0], v1_header("192.0.2.8", 8888) + mqtt_raw.connect(unique_id("untr")))
    assert_closed_silently(c, "a header from a peer not in trusted_proxies")
    wait_log(b, rf"127\.0\.0\.1:{c.local[1]} {re.escape(NOT_TRUSTED)}", "the second refusal")
    # The trusted proxy's header is taken.
    good = pp.connect(b.ports[0], v1_header("192.0.2.8", 8888), source="127.0.0.2")
    assert_logged_address(b, good.client_id, "192.0.2.8:8888", "from the trusted 127.0.0.2")
    assert b.stderr_text().count(" connected as ") == 1, \
        f"only the trusted proxy's client got in:\n{b.stderr_tail()}"


def test_trusted_proxies_ranges(make_proxy_broker, pp):
    b = plain_proxy_broker(make_proxy_broker, trusted_proxies=["192.0.2.0/24", "127.0.0.8/30",
                                                               "::1"])
    for source in ("127.0.0.8", "127.0.0.11"):
        c = pp.connect(b.ports[0], v2_header("192.0.2.77", 7777), source=source)
        assert_logged_address(b, c.client_id, "192.0.2.77:7777", f"from {source} in 127.0.0.8/30")
    for source in ("127.0.0.1", "127.0.0.12", "127.0.0.7"):
        c = pp.open(b.ports[0], source=source)
        assert_closed_silently(c, f"{source}, outside every range")
        wait_log(b, rf"{re.escape(source)}:{c.local[1]} {re.escape(NOT_TRUSTED)}",
                 f"the refusal of {source}")


@pytest.mark.time_limit(15)
def test_stalled_header_is_closed_by_connect_timeout(make_proxy_broker, pp, clients):
    # One worker, so a blocking header read would stall the other clients.
    b = make_proxy_broker(proxy_listener(), config={"workers": 1, "connect_timeout": 1})
    started = time.monotonic()
    silent = pp.open(b.ports[0])
    half = pp.open(b.ports[0], v2_header("192.0.2.1", 1)[:20])
    half_v1 = pp.open(b.ports[0], b"PROXY TCP4 192.0.2.1 ")
    # Meanwhile others get in, through the header and on the plain listener.
    c = pp.connect(b.ports[0], v1_header("192.0.2.2", 2))
    self_round_trip(c)
    clients.raw_connected(b)
    for what, s in (("silent", silent), ("half a v2 header", half), ("half a v1 line", half_v1)):
        limit = 1 + 2.5 - (time.monotonic() - started)
        assert_closed_silently(s, f"{what}: closed by connect_timeout (1 s)", max(0.1, limit))


def test_header_on_a_plain_listener_is_not_taken(make_proxy_broker, pp, clients):
    """Only a proxy_protocol listener reads a header: on the plain one it is no MQTT."""
    b = plain_proxy_broker(make_proxy_broker)
    c = pp.open(b.port, v1_header("192.0.2.66", 6666) + mqtt_raw.connect(unique_id("plain")))
    data, closed = read_until_closed(c.sock, CLOSE_DEADLINE)
    assert closed and data == b"", f"closed without a CONNACK: {data!r} closed={closed}"
    assert "192.0.2.66" not in b.stderr_text(), b.stderr_tail()
    clients.raw_connected(b)


def test_clients_handed_to_another_worker_keep_address_and_bytes(make_proxy_broker, pp):
    """With two workers about half the connections are handed over to their session's home
    worker after the header was read: the address from the header and the bytes read past it
    (a SUBSCRIBE in the same write as the header and the CONNECT) travel with them."""
    b = make_proxy_broker(proxy_listener(), config={"workers": 2})
    subs = []
    for i in range(10):
        cid = unique_id(f"hand{i}")
        topic = f"hand/{cid}"
        header = (v2_header(f"198.51.100.{i + 1}", 41000 + i) if i % 2
                  else v1_header(f"2001:db8::{i + 1:x}", 41000 + i))
        c = pp.open(b.ports[0])
        c.send(header + mqtt_raw.connect(cid) + mqtt_raw.subscribe(1, [(topic, 1)]))
        assert c.expect(mqtt_raw.CONNACK).return_code == CONNACK_ACCEPTED
        assert c.expect(mqtt_raw.SUBACK, packet_id=1).return_codes == [1]
        c._next_id = 1
        shown = f"198.51.100.{i + 1}:{41000 + i}" if i % 2 else f"[2001:db8::{i + 1:x}]:{41000 + i}"
        subs.append((c, cid, topic, shown))
    pub = pp.connect(b.ports[0], v2_header("192.0.2.99", 9999))
    for c, cid, topic, shown in subs:
        pub.publish(topic, topic.encode(), qos=1)
    for c, cid, topic, shown in subs:
        got = c.receive_publish()
        assert (got.topic, got.payload) == (topic, topic.encode()), got
        c.ping()
        assert_logged_address(b, cid, shown, "after a hand-over between workers")


# --------------------------------------------------------------------------------------------
# The CN of a certificate the proxy verified (PP2_TYPE_SSL, PP2_SUBTYPE_SSL_CN)

USERS = {"carol": "carol's password"}  # alice is not in the password file
CAROL = {"username": "carol", "password": USERS["carol"].encode()}
VERIFIED = PP2_CLIENT_SSL | PP2_CLIENT_CERT_CONN


def identity_broker(make_proxy_broker, identity: str = "cn", **config: Any):
    return make_proxy_broker(proxy_listener(identity_as_username=identity),
                             config=config or None,
                             auth={"users": USERS, "allow_anonymous": False})


def test_cn_verified_by_the_proxy_is_the_user_name(make_proxy_broker, pp):
    b = identity_broker(make_proxy_broker)
    for what, ssl_info, connect_kw in [
            ("SSL and CERT_CONN, verify 0", ssl_tlv(VERIFIED, 0, "alice"), {}),
            ("as haproxy sends it (CERT_SESS too)",
             ssl_tlv(VERIFIED | PP2_CLIENT_CERT_SESS, 0, "alice", "TLSv1.2"), {}),
            ("the CN replaces the CONNECT's user name", ssl_tlv(VERIFIED, 0, "alice"), CAROL)]:
        header = v2_header("192.0.2.50", 5050, tlvs=ssl_info)
        c = pp.open(b.ports[0], header)
        cid = unique_id("cn")
        ack = c.connect(cid, **connect_kw)
        assert ack.return_code == CONNACK_ACCEPTED, f"{what}: {header!r}: {ack}"
        wait_log(b, connected_as(cid, "alice"), f'{what}: {cid} logged in as "alice"')
        assert_logged_address(b, cid, "192.0.2.50:5050", what)
        self_round_trip(c)


def test_no_verified_certificate_no_user_name(make_proxy_broker, pp):
    """Without a certificate the proxy says it verified on this connection, the client is
    anonymous (refused: allow_anonymous = false) and may log in with a password."""
    b = identity_broker(make_proxy_broker)
    src = ("192.0.2.51", 5151)
    for what, header in [
            ("verification failed (verify 10)",
             v2_header(*src, tlvs=ssl_tlv(VERIFIED, 10, "alice"))),
            ("no certificate (no CERT_CONN)",
             v2_header(*src, tlvs=ssl_tlv(PP2_CLIENT_SSL, 0, "alice"))),
            ("not TLS (no PP2_CLIENT_SSL)",
             v2_header(*src, tlvs=ssl_tlv(PP2_CLIENT_CERT_CONN, 0, "alice"))),
            ("no PP2_TYPE_SSL at all", v2_header(*src)),
            ("LOCAL: the TLVs are discarded too",
             v2_header(*src, command=V2_LOCAL, tlvs=ssl_tlv(VERIFIED, 0, "alice"))),
            ("a v1 header", v1_header(*src)),
            ("a verified certificate without a CN",
             v2_header(*src, tlvs=ssl_tlv(VERIFIED, 0, None)))]:
        c = pp.open(b.ports[0], header)
        cid = unique_id("anon")
        ack = c.connect(cid)
        assert ack.return_code == NOT_AUTHORIZED, \
            f"{what}: {header!r}: anonymous, refused with CONNACK {NOT_AUTHORIZED}: {ack}"
        assert not re.search(rf"connected as {re.escape(cid)} ", b.stderr_text()), b.stderr_tail()
        if "without a CN" in what:
            continue  # verified, but with no name to use: refused (as on a TLS listener)
        c = pp.open(b.ports[0], header)
        cid = unique_id("pw")
        ack = c.connect(cid, **CAROL)
        assert ack.return_code == CONNACK_ACCEPTED, f"{what}: carol by password: {ack}"
        wait_log(b, connected_as(cid, "carol"), f"{what}: carol by password")


def test_cn_as_subject_and_across_workers(make_proxy_broker, pp):
    """identity_as_username = "subject": only the CN travels, so the user is "CN=alice"; with
    two workers the identity survives a hand-over."""
    b = identity_broker(make_proxy_broker, "subject", workers=2)
    for i in range(4):
        c = pp.connect(b.ports[0], v2_header("192.0.2.51", 5100 + i,
                                             tlvs=ssl_tlv(VERIFIED, 0, "alice")))
        wait_log(b, connected_as(c.client_id, "CN=alice"), f"{c.client_id} as CN=alice")
        self_round_trip(c)


# --------------------------------------------------------------------------------------------
# The header under TLS and WebSocket


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_tls_listener_reads_the_header_before_the_handshake(make_proxy_broker, tls_pki, pp,
                                                            version):
    b = make_proxy_broker(proxy_listener(transport="tls"))
    header = (v1_header("203.0.113.40", 4040) if version == "v1"
              else v2_header("2001:db8::40", 4040))
    shown = "203.0.113.40:4040" if version == "v1" else "[2001:db8::40]:4040"
    c = pp.add(ProxyTlsClient(HOST, b.ports[0], header, client_context(tls_pki.ca.cert)))
    cid = unique_id("tlspp")
    assert c.connect(cid).return_code == CONNACK_ACCEPTED
    assert_logged_address(b, cid, shown, f"a {version} header, then TLS")
    self_round_trip(c)
    # A TLS client that sends no header first: its ClientHello is no header.
    bare = pp.open(b.ports[0])
    peer = bare.local  # wrap_socket takes the socket over, and closes it when it fails
    with pytest.raises((ConnectionError, OSError)):
        client_context(tls_pki.ca.cert).wrap_socket(bare.sock, server_hostname="localhost")
    line = closed_line(b, peer, "a TLS client without a header")
    assert NO_HEADER in line, line


def test_tls_listener_certificate_identity_after_the_header(make_proxy_broker, tls_pki, pp):
    """With TLS after the header, the broker verifies the client certificate itself."""
    b = make_proxy_broker(proxy_listener(transport="tls", client_certificates="required",
                                         ca_file=str(tls_pki.ca.cert),
                                         identity_as_username="cn"),
                          auth={"users": USERS, "allow_anonymous": False})
    c = pp.add(ProxyTlsClient(HOST, b.ports[0], v2_header("203.0.113.41", 4141),
                              client_context(tls_pki.ca.cert, tls_pki.alice)))
    cid = unique_id("tlscn")
    assert c.connect(cid).return_code == CONNACK_ACCEPTED
    wait_log(b, connected_as(cid, "alice"), "alice by her certificate, after the header")
    assert_logged_address(b, cid, "203.0.113.41:4141", "TLS with a client certificate")


def test_ws_listener_reads_the_header_before_the_upgrade(make_proxy_broker, pp):
    b = make_proxy_broker(proxy_listener(transport="ws"))
    c = pp.add(WsClient(HOST, b.ports[0]))
    c.sock.sendall(v1_header("203.0.113.42", 4242))
    r = c.handshake()
    check_upgrade(r, c.key, "mqtt")
    cid = unique_id("wspp")
    assert c.connect(cid).return_code == CONNACK_ACCEPTED
    assert_logged_address(b, cid, "203.0.113.42:4242", "a v1 header, then a WebSocket")
    self_round_trip(c)


# --------------------------------------------------------------------------------------------
# Through haproxy


def run_pub(endpoint, *args: str, timeout: float = 10.0) -> subprocess.CompletedProcess:
    return mosquitto_pub(endpoint, "-A", PUB_SOURCE, *args, timeout=timeout)


def through_haproxy(b, clients, h, frontend: Frontend, extra: Sequence[str] = (),
                    pub_extra: Optional[Sequence[str]] = None) -> tuple[str, str]:
    """mosquitto_sub (from SUB_SOURCE) and mosquitto_pub (from PUB_SOURCE) through
    `frontend`: the message arrives, and the broker logs each client with the address and port
    haproxy logged for it, not haproxy's own. Returns the two client ids."""
    topic = f"haproxy/{unique_id()}"
    sub_id, pub_id = unique_id("hsub"), unique_id("hpub")
    sub = clients.mosquitto_sub("-A", SUB_SOURCE, "-i", sub_id, "-t", topic, "-q", "1", "-C", "1",
                                *extra, broker=frontend.endpoint)
    sub.wait_subscribed()
    done = run_pub(frontend.endpoint, "-i", pub_id, "-t", topic, "-q", "1", "-m", "via haproxy",
                   *(extra if pub_extra is None else pub_extra))
    assert done.returncode == 0, f"mosquitto_pub through haproxy: {done.stdout} {done.stderr}"
    sub.wait_line(lambda l: l == "via haproxy")
    assert sub.wait_exit() == 0
    for source, cid in ((SUB_SOURCE, sub_id), (PUB_SOURCE, pub_id)):
        seen = h.wait_log(source)
        assert seen.proxy == HOST, f"haproxy connects to the broker from {HOST}: {seen}"
        assert_logged_address(b, cid, f"{source}:{seen.client_port}",
                              f"{cid} through haproxy ({frontend.server})")
        assert f"{seen.proxy}:{seen.proxy_port} connected as" not in b.stderr_text(), \
            "the broker logs the client's address, not haproxy's"
    return sub_id, pub_id


@pytest.mark.parametrize("send_proxy", ["send-proxy", "send-proxy-v2"])
def test_mosquitto_clients_through_haproxy(make_proxy_broker, make_haproxy, clients,
                                           send_proxy):
    b = make_proxy_broker(proxy_listener())
    fe = Frontend(b.ports[0], send_proxy)
    h = make_haproxy(fe)
    through_haproxy(b, clients, h, fe)


def test_haproxy_from_an_untrusted_address_is_refused(make_proxy_broker, make_haproxy, pp):
    """haproxy connecting from 127.0.0.9 (`source`): refused by a listener that trusts only
    127.0.0.1, accepted by one that trusts 127.0.0.8/30."""
    b = make_proxy_broker(proxy_listener(),
                          proxy_listener(trusted_proxies=["192.0.2.0/24", "127.0.0.8/30"]))
    untrusted = Frontend(b.ports[0], "send-proxy-v2 source 127.0.0.9")
    trusted = Frontend(b.ports[1], "send-proxy-v2 source 127.0.0.9")
    h = make_haproxy(untrusted, trusted)
    c = pp.open(untrusted.port, source=PUB_SOURCE)
    with pytest.raises(ConnectionClosed):
        c.connect(unique_id("untr"))
    seen = h.wait_log(PUB_SOURCE)
    assert seen.proxy == "127.0.0.9", seen
    wait_log(b, rf"127\.0\.0\.9:{seen.proxy_port} {re.escape(NOT_TRUSTED)}",
             f"the broker refusing haproxy's connection from 127.0.0.9:{seen.proxy_port}")
    c = pp.open(trusted.port, source=SUB_SOURCE)
    cid = unique_id("trus")
    assert c.connect(cid).return_code == CONNACK_ACCEPTED
    local_port = c.local[1]
    assert_logged_address(b, cid, f"{SUB_SOURCE}:{local_port}", "through haproxy on 127.0.0.9")
    c.disconnect()
    seen = h.wait_log(SUB_SOURCE)
    assert (seen.proxy, seen.client_port) == ("127.0.0.9", local_port), seen


def haproxy_tls_bind(pki, directory) -> str:
    """The bind options of a frontend that terminates TLS with the test PKI's server
    certificate and requires a client certificate signed by its CA."""
    combined = directory / "haproxy-server.pem"
    combined.write_text(pki.server_ec.cert.read_text() + pki.server_ec.key.read_text())
    return f"ssl crt {combined} ca-file {pki.ca.cert} verify required"


def tls_args(pki, cert=None, ca=None) -> list[str]:
    args = ["--cafile", str(ca or pki.ca.cert)]
    if cert is not None:
        args += ["--cert", str(cert.cert), "--key", str(cert.key)]
    return args


def test_haproxy_terminating_tls_passes_the_cn(make_proxy_broker, make_haproxy, clients,
                                               tls_pki, tmp_path):
    """haproxy checks the client certificates and sends their CN (send-proxy-v2-ssl-cn) to a
    plain proxy_protocol listener with identity_as_username = "cn": alice and bob, unknown to
    the password file, get in without passwords."""
    b = identity_broker(make_proxy_broker)
    fe = Frontend(b.ports[0], "send-proxy-v2-ssl-cn", bind=haproxy_tls_bind(tls_pki, tmp_path))
    h = make_haproxy(fe)
    sub_id, pub_id = through_haproxy(b, clients, h, fe, tls_args(tls_pki, tls_pki.alice),
                                     tls_args(tls_pki, tls_pki.bob))
    wait_log(b, connected_as(sub_id, "alice"), "mosquitto_sub with alice's certificate as alice")
    wait_log(b, connected_as(pub_id, "bob"), "mosquitto_pub with bob's certificate as bob")


def test_haproxy_resumed_tls_session_keeps_the_cn(make_proxy_broker, make_haproxy, pp, tls_pki,
                                                  tmp_path):
    """A client that resumes its TLS session with haproxy sends no certificate again: haproxy
    then sends PP2_CLIENT_SSL | PP2_CLIENT_CERT_SESS (no CERT_CONN), verify 0 and the session's
    CN. The certificate was verified when the session began, so, as on the broker's own TLS
    listeners (test_tls.py: the identity survives TLS session resumption), the client is still
    alice."""
    b = identity_broker(make_proxy_broker)
    fe = Frontend(b.ports[0], "send-proxy-v2-ssl-cn", bind=haproxy_tls_bind(tls_pki, tmp_path))
    make_haproxy(fe)
    context = client_context(tls_pki.ca.cert, tls_pki.alice)
    first = pp.add(TlsClient(HOST, fe.port, context))
    cid = unique_id("full")
    assert first.connect(cid).return_code == CONNACK_ACCEPTED  # reading it takes the tickets
    wait_log(b, connected_as(cid, "alice"), "alice after a full handshake with haproxy")
    session = first.sock.session
    first.disconnect()
    again = pp.add(TlsClient(HOST, fe.port, context, session=session))
    assert again.sock.session_reused, \
        "haproxy resumes TLS sessions (its default), else this test proves nothing"
    cid = unique_id("resumed")
    ack = again.connect(cid)
    assert ack.return_code == CONNACK_ACCEPTED, \
        (f"a client resuming its TLS session with haproxy is still alice: {ack}\n"
         f"{b.stderr_tail()}")
    wait_log(b, connected_as(cid, "alice"), "alice on a resumed TLS session with haproxy")


@pytest.mark.parametrize("who", ["no-certificate", "other-ca"])
def test_haproxy_terminating_tls_refuses_clients_without_a_valid_certificate(
        make_proxy_broker, make_haproxy, tls_pki, tmp_path, who):
    b = identity_broker(make_proxy_broker)
    fe = Frontend(b.ports[0], "send-proxy-v2-ssl-cn", bind=haproxy_tls_bind(tls_pki, tmp_path))
    h = make_haproxy(fe)
    cert = {"no-certificate": None, "other-ca": tls_pki.stranger}[who]
    cid = unique_id("nocert")
    try:
        done = run_pub(fe.endpoint, "-i", cid, "-t", "t", "-m", "refused",
                       *tls_args(tls_pki, cert), timeout=5)
        assert done.returncode != 0, f"mosquitto_pub ({who}) through haproxy fails: {done.stdout}"
    except subprocess.TimeoutExpired:
        pass  # retrying until killed: refused just the same
    # "SSL handshake failure", "SSL client certificate not trusted", ...
    failed = re.compile(rf"{re.escape(PUB_SOURCE)}:\d+ \[[^]]*\] fe0/\d+: SSL ")
    wait_for(lambda: failed.search(h.output()), 5.0,
             message=f"haproxy to log the failed handshake ({who})")
    assert cid not in b.stderr_text() and " connected as " not in b.stderr_text(), \
        f"the broker never sees a client haproxy refused:\n{b.stderr_tail()}"
    # alice still gets in.
    done = run_pub(fe.endpoint, "-i", unique_id("alice"), "-t", "t", "-m", "ok",
                   *tls_args(tls_pki, tls_pki.alice))
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("send_proxy", ["send-proxy", "send-proxy-v2"])
def test_tls_listener_behind_tcp_mode_haproxy(make_proxy_broker, make_haproxy, clients,
                                              tls_pki, send_proxy):
    """haproxy passes TLS through (mode tcp): the header comes first, then the client's own
    TLS handshake with the broker."""
    b = make_proxy_broker(proxy_listener(transport="tls"))
    fe = Frontend(b.ports[0], send_proxy)
    h = make_haproxy(fe)
    through_haproxy(b, clients, h, fe, tls_args(tls_pki))


def test_wss_listener_behind_tcp_mode_haproxy(make_proxy_broker, make_haproxy, tls_pki):
    """PROXY header, then TLS, then WebSocket: paho-mqtt over wss through haproxy (mode tcp,
    send-proxy-v2). The client connects from 127.0.0.1 as haproxy does: the port tells them
    apart."""
    b = make_proxy_broker(proxy_listener(transport="wss"))
    fe = Frontend(b.ports[0], "send-proxy-v2")
    h = make_haproxy(fe)
    cid = unique_id("wss")
    c = PahoWsClient(types.SimpleNamespace(host=HOST, port=fe.port, wss_port=fe.port), cid,
                     secure=True, ca=tls_pki.ca.cert)
    try:
        c.connect()
        topic = f"wss/{cid}"
        c.subscribe(topic, 1)
        c.publish(topic, b"wss via haproxy", qos=1)
        assert c.get_message().payload == b"wss via haproxy"
        line = connect_line(b, cid)
        c.disconnect()
    finally:
        c.close()
    seen = h.wait_log(HOST)
    assert f"{HOST}:{seen.client_port} connected as {cid} (" in line, \
        f"the broker logs paho's address and port {seen}, not haproxy's: {line}"


# --------------------------------------------------------------------------------------------
# Configuration errors


def listener_config(keys: str) -> str:
    """A configuration whose second listener has the TOML lines `keys`."""
    return ('[broker]\nworkers = 1\n\n[[listeners]]\nbind = "127.0.0.1"\n'
            f"port = {free_port()}\n\n[[listeners]]\nbind = \"127.0.0.1\"\nport = {free_port()}\n"
            + keys + "\n")


def line_number(text: str, start: str) -> int:
    return next(n for n, l in enumerate(text.splitlines(), 1) if l.startswith(start))


CONFIG_ERRORS = [
    # id, the second listener's lines, the key whose line is named, words the error mentions
    ("proxy-protocol-without-trusted-proxies", "proxy_protocol = true", "proxy_protocol",
     ("listeners[1].proxy_protocol", "needs trusted_proxies")),
    ("proxy-protocol-with-empty-trusted-proxies", "trusted_proxies = []\nproxy_protocol = true",
     "proxy_protocol", ("listeners[1].proxy_protocol", "needs trusted_proxies")),
    ("proxy-protocol-not-a-boolean", 'proxy_protocol = "yes"\ntrusted_proxies = ["127.0.0.1"]',
     "proxy_protocol", ("listeners[1].proxy_protocol",)),
    ("trusted-proxy-not-an-address", 'proxy_protocol = true\ntrusted_proxies = ["proxy.local"]',
     "trusted_proxies", ("listeners[1].trusted_proxies",)),
    ("trusted-proxy-bad-prefix", 'proxy_protocol = true\ntrusted_proxies = ["10.0.0.0/33"]',
     "trusted_proxies", ("listeners[1].trusted_proxies",)),
    ("identity-without-tls-or-proxy-protocol", 'identity_as_username = "cn"',
     "identity_as_username", ("listeners[1].identity_as_username",)),
]


@pytest.mark.parametrize("keys, key, words", [c[1:] for c in CONFIG_ERRORS],
                         ids=[c[0] for c in CONFIG_ERRORS])
def test_configuration_error_names_file_line_and_key(tmp_path, keys, key, words):
    text = listener_config(keys)
    done = start_expecting_failure(tmp_path, text, CONFIG_NAME, add_listener=False)
    assert_names(done.stderr, CONFIG_NAME, line_number(text, key), *words)


def test_proxy_protocol_listener_configuration_is_accepted(make_proxy_broker, pp):
    """identity_as_username on a plain TCP listener is allowed with proxy_protocol; CIDR
    ranges of both families are valid trusted_proxies."""
    b = make_proxy_broker(proxy_listener(trusted_proxies=["127.0.0.1", "10.0.0.0/8",
                                                          "2001:db8::/32", "::1"],
                                         identity_as_username="cn"))
    pp.connect(b.ports[0], V1_UNKNOWN)
