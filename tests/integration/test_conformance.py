"""Runs the conformance table (conformance_table.py): every row, for every protocol version it
names, against one broker per distinct configuration (started once for the module).

    HERMOD_BIN=build/release/hermod /usr/bin/python3 -m pytest -q -p no:cacheprovider \\
        tests/integration/test_conformance.py
    BROKER=mosquitto /usr/bin/python3 -m pytest -q -p no:cacheprovider \\
        tests/integration/test_conformance.py          # the same table against mosquitto

A row marked pending_broker is expected to fail against Hermod (strict xfail: it fails the run the
day it passes, so the mark gets removed). Against mosquitto every row runs as written; where
mosquitto differs, docs/conformance.md says so, row by row.
"""

from __future__ import annotations

import itertools
import socket
import time
from typing import Optional

import pytest

import conformance_table as T
import mqtt5_raw
import mqtt_raw
from broker_process import DEFAULT_CONFIG, IS_MOSQUITTO, Broker, hermod_bin

CLOSE_DEADLINE = 2.0   # a connection that must be closed is closed within this
QUIET = 0.3            # how long "nothing is sent" is watched
VERSION_NAMES = {T.V31: "3.1", T.V311: "3.1.1", T.V5: "5.0"}
_ids = itertools.count(1)


def _cases():
    for r in T.ROWS:
        for v in r.versions:
            marks = [pytest.mark.time_limit(30)]
            if r.pending_broker and not IS_MOSQUITTO:
                marks.append(pytest.mark.xfail(strict=True, reason=f"pending broker: {r.pending_broker}"))
            yield pytest.param(r, v, id=f"{r.id}-{VERSION_NAMES[v]}", marks=marks)


# --------------------------------------------------------------------------------------------
# Brokers: one per configuration, for the whole module


@pytest.fixture(scope="module")
def brokers(tmp_path_factory):
    started: dict[tuple, Broker] = {}

    def get(config: dict) -> Broker:
        key = tuple(sorted(config.items()))
        b = started.get(key)
        if b is None or not b.alive:
            workdir = tmp_path_factory.mktemp("conformance-broker")
            if not IS_MOSQUITTO and not hermod_bin().exists():
                pytest.fail(f"no Hermod binary at {hermod_bin()}", pytrace=False)
            b = Broker(workdir, {**DEFAULT_CONFIG, **config}).start()
            started[key] = b
        return b

    yield get
    problems = []
    for b in started.values():
        for p in b.stop():
            problems.append(f"{b}: {p}\n{b.stderr_tail()}")
    assert not problems, "\n".join(problems)


# --------------------------------------------------------------------------------------------
# A raw connection that keeps packets as bytes


class Conn(mqtt_raw.RawClient):
    """RawClient whose packets stay uninterpreted (type, flags, body): the table compares bytes."""

    def _parse(self, first_byte: int, body: bytes) -> mqtt_raw.Packet:
        return mqtt_raw.Packet(type=first_byte >> 4, flags=first_byte & 0x0F, body=body)


def wire(p: mqtt_raw.Packet) -> bytes:
    return T.pkt((p.type << 4) | p.flags, p.body)


def open_conn(b: Broker) -> Conn:
    return Conn(b.host, b.port, timeout=5.0)


def client_id(v: int) -> str:
    return f"cf{next(_ids)}v{v}"  # at most 23 characters, as MQTT 3.1 requires


def connected(b: Broker, v: int, cid: Optional[str] = None, cprops: bytes = b"\x00",
              clean: bool = True) -> Conn:
    c = open_conn(b)
    c.send(T.connect(v, cid or client_id(v), flags=0x02 if clean else 0x00, cprops=cprops))
    ack = c.recv()
    assert ack.type == mqtt_raw.CONNACK and ack.body[1] == 0, \
        f"setup: a valid {VERSION_NAMES[v]} CONNECT must be accepted [MQTT-3.1.4-5]: {wire(ack).hex(' ')}"
    return c


# --------------------------------------------------------------------------------------------
# Comparing packets


def same_packet(v: int, expected: bytes, actual: bytes) -> bool:
    """3.1/3.1.1: byte for byte. 5.0: the same packet, with every property the expected one has;
    properties the server adds (a Reason String, user properties) are allowed."""
    if v != T.V5:
        return expected == actual
    e = _parse5(expected)
    a = _parse5(actual)
    if a is None or e is None:
        return expected == actual
    fields = ("type", "flags", "packet_id", "reason_code", "reason_codes", "topic", "payload",
              "session_present")
    if any(getattr(e, f) != getattr(a, f) for f in fields):
        return False
    return all(item in a.props.items for item in e.props.items)


def _parse5(data: bytes) -> Optional[mqtt5_raw.Packet5]:
    try:
        n = 1
        while data[n] & 0x80:
            n += 1
        return mqtt5_raw.parse(data[0], data[n + 1:])
    except (ValueError, IndexError, UnicodeDecodeError, Exception):
        return None


def describe(r: T.Row, v: int, sent: bytes) -> str:
    what = f"{r.rule} ({r.quote})" if r.quote else r.rule
    return f"{what}\n  version {VERSION_NAMES[v]}, sent {sent.hex(' ')}\n  expected {r.expected(v)}"


def check(c: Conn, v: int, exp: T.Expect, context: str) -> None:
    """Asserts that what `c` receives next is `exp`."""
    if isinstance(exp, T.Closed):
        closed = c.wait_closed(CLOSE_DEADLINE)
        got = [wire(p).hex(" ") for p in c.pending()]
        assert closed and not got, \
            f"{context}\n  got: {'packets ' + str(got) if got else ''}" \
            f"{'' if closed else ' connection still open after %gs' % CLOSE_DEADLINE}"
        return
    if isinstance(exp, T.Disconnect):
        p = _next(c, context)
        assert p.type == mqtt5_raw.DISCONNECT and p.body[:1] == bytes([exp.rc]), \
            f"{context}\n  got: {wire(p).hex(' ')}"
        assert c.wait_closed(CLOSE_DEADLINE), f"{context}\n  DISCONNECT came but the connection stayed open [MQTT-4.13.1-1]"
        return
    if isinstance(exp, T.Connack):
        p = _next(c, context)
        ok = p.type == mqtt_raw.CONNACK and (
            wire(p) == bytes([0x20, 0x02, exp.sp, exp.rc]) if v != T.V5
            else p.body[:2] == bytes([exp.sp, exp.rc]))
        assert ok, f"{context}\n  got: {wire(p).hex(' ')}"
        if exp.rc:
            assert c.wait_closed(CLOSE_DEADLINE), f"{context}\n  refused CONNECT, but the connection stayed open [MQTT-3.2.2-7]"
        return
    if isinstance(exp, T.Packets):
        for want in exp.packets:
            p = _next(c, context)
            assert same_packet(v, want, wire(p)), f"{context}\n  got: {wire(p).hex(' ')}"
        _still_open(c, context)
        return
    if isinstance(exp, T.Silent):
        try:
            p = c.recv(timeout=QUIET)
        except mqtt_raw.Timeout:
            _still_open(c, context)
            return
        except mqtt_raw.ConnectionClosed:
            raise AssertionError(f"{context}\n  got: connection closed") from None
        raise AssertionError(f"{context}\n  got: {wire(p).hex(' ')}")
    raise AssertionError(f"unknown expectation {exp!r}")


def _next(c: Conn, context: str) -> mqtt_raw.Packet:
    try:
        return c.recv(timeout=CLOSE_DEADLINE)
    except mqtt_raw.ConnectionClosed:
        raise AssertionError(f"{context}\n  got: connection closed with nothing sent") from None
    except mqtt_raw.Timeout:
        raise AssertionError(f"{context}\n  got: nothing within {CLOSE_DEADLINE:g} s, connection open") from None


def _still_open(c: Conn, context: str) -> None:
    """PINGREQ must be answered by exactly PINGRESP [MQTT-3.12.4-1]: the connection is open."""
    try:
        c.send(T.PINGREQ)
        p = c.recv(timeout=CLOSE_DEADLINE)
    except (mqtt_raw.ConnectionClosed, mqtt_raw.Timeout, OSError) as e:
        raise AssertionError(f"{context}\n  got: the connection did not stay open ({e})") from None
    assert wire(p) == T.PINGRESP, f"{context}\n  got (after the expected answer): {wire(p).hex(' ')}"


def with_packet_id(data: bytes, pid: int) -> bytes:
    """An acknowledgement's bytes with its packet identifier replaced (1-byte remaining length)."""
    return data[:2] + T.u16(pid) + data[4:]


# --------------------------------------------------------------------------------------------
# Scenarios: rows that need more than one exchange


def run_plain(b: Broker, r: T.Row, v: int) -> None:
    data = r.send(v)
    c = connected(b, v) if r.connect else open_conn(b)
    with c:
        c.send(data)
        check(c, v, r.expected(v), describe(r, v, data))


def run_loopback(b: Broker, r: T.Row, v: int) -> None:
    data = r.send(v)
    with connected(b, v) as c:
        pid = c.next_packet_id()
        c.send(T.subscribe(v, pid, ("#", 0)))
        ack = c.recv()
        assert ack.type == mqtt_raw.SUBACK, f"setup: SUBACK for '#': {wire(ack).hex(' ')}"
        c.send(data)
        check(c, v, r.expected(v), describe(r, v, data))


def run_sys_publish(b: Broker, r: T.Row, v: int) -> None:
    data = r.send(v)
    tlen = int.from_bytes(data[2:4], "big")
    topic = data[4:4 + tlen]
    with connected(b, T.V311) as watcher, connected(b, v) as c:
        watcher.send(T.subscribe(T.V311, 1, (topic, 0)))
        assert watcher.recv().type == mqtt_raw.SUBACK
        c.send(data)
        context = describe(r, v, data)
        check(c, v, r.expected(v), context)
        deadline = time.monotonic() + 0.5
        while True:
            try:
                p = watcher.recv(timeout=max(0.01, deadline - time.monotonic()))
            except mqtt_raw.Timeout:
                break
            assert not p.body.endswith(b"666"), \
                f"{context}\n  got: the client's $-topic PUBLISH reached a subscriber: {wire(p).hex(' ')}"


def run_oversize(b: Broker, r: T.Row, v: int) -> None:
    data = r.send(v)
    with connected(b, v, cprops=T.props(T.p_u32(T.MPS, 64))) as c, connected(b, T.V311) as pub:
        c.send(T.subscribe(v, 1, ("big/t", 0)))
        assert c.recv().type == mqtt_raw.SUBACK
        pub.send(data)
        pub.send(T.publish(T.V311, "big/t", b"small"))
        check(c, v, r.expected(v), describe(r, v, data))


def run_inflight(b: Broker, r: T.Row, v: int, qos: int, after_pubrec: bool) -> None:
    topic = f"inflight/{next(_ids)}"
    with connected(b, v) as c, connected(b, T.V311) as pub:
        c.send(T.subscribe(v, 1, (topic, 2)))
        assert c.recv().type == mqtt_raw.SUBACK
        pub.send(T.publish(T.V311, topic, b"m", qos=qos, pid=9))
        if qos == 2:  # complete the publisher's side: a server may deliver only after PUBREL
            assert wire(pub.recv()) == T.pkt(0x50, T.u16(9)), "setup: PUBREC to the publisher"
            pub.send(T.pkt(0x62, T.u16(9)))
        p = c.expect(mqtt_raw.PUBLISH)
        tlen = int.from_bytes(p.body[0:2], "big")
        pid = int.from_bytes(p.body[2 + tlen:4 + tlen], "big")
        if after_pubrec:
            c.send(T.ack(0x50, pid))
            rel = c.recv()
            assert wire(rel) == T.pkt(0x62, T.u16(pid)), f"setup: PUBREL after PUBREC: {wire(rel).hex(' ')}"
        data = with_packet_id(r.send(v), pid)
        exp = r.expected(v)
        if isinstance(exp, T.Packets):
            exp = T.Packets(*(with_packet_id(x, pid) for x in exp.packets))
        c.send(data)
        check(c, v, exp, describe(r, v, data))


def run_reconnect_same(b: Broker, r: T.Row, v: int) -> None:
    data = r.send(v)
    first = open_conn(b)
    with first:
        first.send(data)
        assert first.recv().type == mqtt_raw.CONNACK
        first.send(b"\xe0\x00")
        first.wait_closed(CLOSE_DEADLINE)
    with open_conn(b) as c:
        c.send(data)
        p = _next(c, describe(r, v, data))
        exp = r.expected(v)
        assert wire(p) == bytes([0x20, 0x02, exp.sp, exp.rc]), \
            f"{describe(r, v, data)}\n  got (reconnecting to a stored session): {wire(p).hex(' ')}"


def _will_watcher(b: Broker, topic: str) -> Conn:
    w = connected(b, T.V5)
    w.send(T.subscribe(T.V5, 1, (topic, 0)))
    assert w.recv().type == mqtt_raw.SUBACK
    return w


def _drop(c: Conn) -> None:
    """Ends the connection without DISCONNECT, so the will applies."""
    c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    c.close()


def run_will_reconnect(b: Broker, r: T.Row, v: int) -> None:
    data = r.send(v)
    cid = data[data.index(b"\x00\x03wd1") + 2:][:3].decode()
    with _will_watcher(b, "will/wd1") as w:
        c = open_conn(b)
        c.send(data)
        assert c.recv().type == mqtt_raw.CONNACK
        _drop(c)
        with connected(b, v, cid=cid, cprops=T.props(T.p_u32(T.SEI, 30))):
            try:
                p = w.recv(timeout=3.0)  # the will delay is 2 s
            except mqtt_raw.Timeout:
                return
            raise AssertionError(f"{describe(r, v, data)}\n  got: the will was published: {wire(p).hex(' ')}")


def run_will_due(b: Broker, r: T.Row, v: int) -> None:
    data = r.send(v)
    with _will_watcher(b, "will/wd2") as w:
        for attempt in range(3):
            c = open_conn(b)
            c.send(data)
            assert c.recv().type == mqtt_raw.CONNACK
            _drop(c)
            dropped = time.monotonic()
            time.sleep(max(0.0, dropped + 1.03 - time.monotonic()))  # 30 ms past the 1 s delay
            with connected(b, v, cid="wd2", cprops=T.props(T.p_u32(T.SEI, 30)), clean=False) as again:
                again.send(b"\xe0\x00")
                again.wait_closed(CLOSE_DEADLINE)
            check_will = describe(r, v, data) + f"\n  attempt {attempt + 1}"
            try:
                p = w.recv(timeout=1.0)
            except mqtt_raw.Timeout:
                raise AssertionError(f"{check_will}\n  got: no will") from None
            assert same_packet(v, r.expected(v).packets[0], wire(p)), f"{check_will}\n  got: {wire(p).hex(' ')}"


SCENARIOS = {
    "": run_plain,
    "loopback": run_loopback,
    "sys_publish": run_sys_publish,
    "oversize": run_oversize,
    "inflight:1": lambda b, r, v: run_inflight(b, r, v, 1, False),
    "inflight:2": lambda b, r, v: run_inflight(b, r, v, 2, False),
    "inflight:2rec": lambda b, r, v: run_inflight(b, r, v, 2, True),
    "reconnect_same": run_reconnect_same,
    "will_reconnect": run_will_reconnect,
    "will_due": run_will_due,
}


def test_table_is_well_formed():
    """Every row has a unique id, a rule, versions and an expectation for each version."""
    seen = set()
    for r in T.ROWS:
        assert r.id not in seen, f"duplicate row id {r.id}"
        seen.add(r.id)
        assert r.rule and r.versions and r.scenario in SCENARIOS, r.id
        for v in r.versions:
            assert r.expected(v) is not None, (r.id, v)
            assert isinstance(r.send(v), bytes), r.id


@pytest.mark.parametrize("r,v", list(_cases()))
def test_conformance(brokers, r: T.Row, v: int):
    b = brokers(r.config)
    SCENARIOS[r.scenario](b, r, v)
    assert b.alive, f"the broker died handling row {r.id}"
