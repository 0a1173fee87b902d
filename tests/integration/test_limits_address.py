"""Limits per address and per listener, the delay after failed logins and the flapping ban
(docs/security.md, "Limits per address"): each at its boundary, with what a client sees.

Clients bind 127.0.0.x source addresses so that one test has several "addresses". A socket a
limit refuses is closed as it is accepted, before the broker reads or writes a byte: the client
sees its connection end with nothing received. Brokers run two workers, so the counts are shown
to span workers (a connection is accepted by either and handed to its client id's home worker).
"""

from __future__ import annotations

import pathlib
import select
import signal
import socket
import time
from typing import Any, Optional

import pytest

import mqtt5_raw
import mqtt_raw
from auth_broker import PASSWORD_FILE, set_user
from broker_process import DEFAULT_CONFIG, HOST, free_ports, unique_id, wait_for
from mqtt5_raw import CONTINUE_AUTHENTICATION, RawClient5
from mqtt_raw import CONNACK, PINGRESP, PUBLISH, RawClient
from proxy_broker import v1_header
from scram import auth_props, begin, check_challenge, connect_scram, ScramClient
from tls_broker import listening, tls_pki  # noqa: F401 (tls_pki: a fixture, the test PKI)

pytestmark = pytest.mark.hermod_only("per-address limits, login delay and flapping ban are Hermod's")

CONFIG_NAME = "hermod.toml"
# A refused socket is closed at once; this is how long a client waits to see that.
REFUSED_DEADLINE = 3.0
BANNED = 0x8A
V3_NOT_AUTHORIZED = 5
V3_BAD_CREDENTIALS = 4


def toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return '"' + v + '"'
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    return str(v)


def config_text(port: int, limits: dict[str, Any], listener: dict[str, Any],
                extra_listeners: list[dict[str, Any]], users: bool) -> str:
    lines = ["[broker]", "workers = 2", f"sys_interval = {DEFAULT_CONFIG['sys_interval']}",
             f"log_level = {toml_value(DEFAULT_CONFIG['log_level'])}", ""]
    for keys in [{"port": port, **listener}, *extra_listeners]:
        lines += ["[[listeners]]", f'bind = "{HOST}"']
        lines += [f"{k} = {toml_value(v)}" for k, v in keys.items()]
        lines.append("")
    lines.append("[limits]")
    lines += [f"{k} = {toml_value(v)}" for k, v in limits.items()]
    if users:
        lines += ["", "[auth]", f'password_file = "{PASSWORD_FILE}"']
    return "\n".join(lines) + "\n"


@pytest.fixture
def limits_broker(make_broker, tmp_path):
    """Factory: limits_broker(limits={...}, listener={...}, extra_listeners=[...], users={...})
    writes a configuration file (two workers; the first listener on the broker's port with
    `listener`'s keys; `users` in a password file) and starts the broker on it. The broker gets
    rewrite(limits=..., listener=...) to change the file (then SIGHUP it), and `ports` for
    extra_listeners."""
    serial = iter(range(1, 1000))

    def make(limits: Optional[dict[str, Any]] = None, listener: Optional[dict[str, Any]] = None,
             extra_listeners: Optional[list[dict[str, Any]]] = None,
             users: Optional[dict[str, str]] = None):
        confdir = tmp_path / f"limitsconf{next(serial)}"
        confdir.mkdir()
        extra = [dict(l) for l in (extra_listeners or [])]
        port, *ports = free_ports(1 + len(extra))
        for l, p in zip(extra, ports):
            l["port"] = p
        if users:
            (confdir / PASSWORD_FILE).touch()
            for user, password in users.items():
                set_user(confdir / PASSWORD_FILE, user, password)
        path = confdir / CONFIG_NAME

        def rewrite(limits: Optional[dict[str, Any]] = None,
                    listener: Optional[dict[str, Any]] = None) -> None:
            path.write_text(config_text(port, limits or {}, listener or {}, extra, bool(users)))

        rewrite(limits, listener)
        b = make_broker(port=port, config_file=False, args=("-c", str(path)))
        b.rewrite, b.ports = rewrite, ports
        for p in ports:  # without connecting: that would count against the limits under test
            wait_for(lambda: listening(p), message=f"the listener on port {p}")
        return b

    return make


# --------------------------------------------------------------------------------------------
# What a client sees


def connect_from(broker, source: str, client_id: Optional[str] = None, port: Optional[int] = None,
                 **kw: Any) -> RawClient:
    """A 3.1.1 client from `source` whose CONNECT was accepted."""
    c = RawClient(HOST, port or broker.port, source=source)
    ack = c.connect(client_id or unique_id("lim"), **kw)
    assert ack.return_code == 0, f"CONNECT from {source} accepted: {ack}"
    return c


def refused_at_accept(port: int, source: str, what: str) -> None:
    """A socket from `source` is closed by the broker with nothing sent, even after a CONNECT."""
    s = socket.create_connection((HOST, port), timeout=REFUSED_DEADLINE, source_address=(source, 0))
    try:
        try:
            s.sendall(mqtt_raw.connect(unique_id("ref")))
        except OSError:
            pass  # already closed: a reset is as good an answer
        data = b""
        deadline = time.monotonic() + REFUSED_DEADLINE
        while time.monotonic() < deadline:
            readable, _, _ = select.select([s], [], [], deadline - time.monotonic())
            if not readable:
                break
            try:
                chunk = s.recv(4096)
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                assert data == b"", f"{what}: closed with no byte sent (no CONNACK), got {data!r}"
                return
            data += chunk
        raise AssertionError(f"{what}: the broker closes the socket from {source} at once "
                             f"(within {REFUSED_DEADLINE:g} s), got {data!r} and no close")
    finally:
        s.close()


def still_connected(c: RawClient, what: str) -> None:
    c.send(mqtt_raw.pingreq())
    c.expect(PINGRESP, what=f"PINGRESP: {what}")


def log_lines(broker, text: str) -> list[str]:
    return [l for l in broker.stderr_text().splitlines() if text in l]


def sys_value(broker, topic: str, at_least: int, **login: Any) -> int:
    """The value of a $SYS counter once it reaches `at_least` (sys_interval is 1 s)."""
    with RawClient(HOST, broker.port) as c:
        assert c.connect(unique_id("sys"), **login).return_code == 0
        c.subscribe([(topic, 0)])
        deadline = time.monotonic() + 5.0
        value = -1
        while time.monotonic() < deadline:
            p = c.expect(PUBLISH, timeout=max(0.1, deadline - time.monotonic()), what=topic)
            value = int(p.payload)
            if value >= at_least:
                return value
        raise AssertionError(f"{topic} reaches {at_least} within 5 s (last {value})")


def close_all(clients: list) -> None:
    for c in clients:
        c.close()


# --------------------------------------------------------------------------------------------
# Connections per address


def test_max_connections_per_address_refuses_the_next_socket_of_that_address(limits_broker):
    b = limits_broker(limits={"max_connections_per_address": 2})
    held = [connect_from(b, "127.0.0.2"), connect_from(b, "127.0.0.2")]
    try:
        for i in range(4):
            refused_at_accept(b.port, "127.0.0.2", f"connection {3 + i} from 127.0.0.2 with max 2")
        others = [connect_from(b, "127.0.0.3"), connect_from(b, "127.0.0.3")]
        close_all(others)
        for c in held:
            still_connected(c, "the connections within the limit are untouched")
        # The four refusals: counted, and logged once (the rest go into a summary 10 s later).
        assert sys_value(b, "$SYS/broker/connections/refused/address_full", 4) == 4
        lines = log_lines(b, "(max_connections_per_address)")
        assert len(lines) == 1 and "refused a connection from 127.0.0.2/32" in lines[0], \
            f"one log line for four refusals, naming the address: {lines}"
        held.pop().close()
        # The broker sees the close when it reads it: the slot comes back then.
        wait_for(lambda: try_connect(b, "127.0.0.2"), timeout=3.0,
                 message="a connection from 127.0.0.2 once one of its two closed")
    finally:
        close_all(held)


def try_connect(broker, source: str, port: Optional[int] = None) -> bool:
    """Whether a CONNECT from `source` is accepted now (the client then disconnects)."""
    try:
        c = RawClient(HOST, port or broker.port, timeout=2.0, source=source)
    except OSError:
        return False
    try:
        ok = c.connect(unique_id("try")).return_code == 0
        if ok:
            # Closed by the broker once it handled the DISCONNECT: the slot is back by then.
            c.send(mqtt_raw.disconnect())
            c.wait_closed(2.0)
        return ok
    except (mqtt_raw.ConnectionClosed, mqtt_raw.Timeout, OSError):
        return False
    finally:
        c.close()


def test_address_prefix_counts_a_block_as_one_address(limits_broker):
    # Not 127.0.0.0/24: the start-up check's connection from 127.0.0.1 may still count there.
    b = limits_broker(limits={"max_connections_per_address": 1, "address_prefix_v4": 24})
    first = connect_from(b, "127.0.2.2")
    try:
        refused_at_accept(b.port, "127.0.2.3", "127.0.2.3 is in 127.0.2.0/24 with 127.0.2.2")
        lines = log_lines(b, "(max_connections_per_address)")
        assert any("127.0.2.0/24" in l for l in lines), f"the group is logged as 127.0.2.0/24: {lines}"
        other = connect_from(b, "127.0.3.2")  # another /24
        other.close()
    finally:
        first.close()


def test_listener_max_connections_counts_every_address_and_worker(limits_broker):
    b = limits_broker(listener={"max_connections": 3})
    held = [connect_from(b, f"127.0.0.{i}", client_id=f"lmax-{i}") for i in (2, 3, 4)]
    try:
        refused_at_accept(b.port, "127.0.0.5", "the 4th connection of a listener with max_connections 3")
        held.pop().close()
        # Until the broker has read the close, a try is refused (and counted) too.
        tries = []
        wait_for(lambda: tries.append(1) or try_connect(b, "127.0.0.5"), timeout=3.0,
                 message="room once one closed")
        refused = len(tries)  # the 4th connection, and every try but the last
        assert sys_value(b, "$SYS/broker/connections/refused/listener_full", refused) == refused
    finally:
        close_all(held)


def test_deny_and_allow_lists_close_the_socket_before_any_byte(limits_broker):
    b = limits_broker(listener={"allow": ["127.0.0.0/29"], "deny": ["127.0.0.3"]})
    connect_from(b, "127.0.0.2").close()
    refused_at_accept(b.port, "127.0.0.3", "an address in the deny list (deny wins over allow)")
    refused_at_accept(b.port, "127.0.0.9", "an address outside the allow list")
    assert sys_value(b, "$SYS/broker/connections/refused/denied", 2) == 2


def test_connect_rate_per_address_allows_one_seconds_burst(limits_broker):
    b = limits_broker(limits={"connect_rate_per_address": 3})
    start = time.monotonic()
    clients = [connect_from(b, "127.0.0.4") for _ in range(3)]
    close_all(clients)
    assert time.monotonic() - start < 0.9, "the burst went fast enough to test the rate"
    refused_at_accept(b.port, "127.0.0.4", "the 4th connection within a second at 3 per second")
    connect_from(b, "127.0.0.5").close()  # another address has its own bucket
    # One token comes back every third of a second.
    wait_for(lambda: try_connect(b, "127.0.0.4"), timeout=2.0, interval=0.1,
             message="a connection from 127.0.0.4 once its bucket refilled")
    assert sys_value(b, "$SYS/broker/connections/refused/connect_rate", 1) >= 1


def test_counts_return_to_zero_whatever_closes_the_connection(limits_broker):
    """With max 1 per address, a last connection from each address succeeds only if every
    earlier one was released exactly once: after clean disconnects, lost connections, protocol
    errors, takeovers and hand-offs to the client id's home worker (two workers)."""
    b = limits_broker(limits={"max_connections_per_address": 1, "connect_timeout": 1})
    for i in range(6):
        cid = f"zero-{i}"  # ids whose home is either worker
        c = connect_from(b, "127.0.0.6", client_id=cid)
        c.send(mqtt_raw.disconnect())
        assert c.wait_closed(3.0), "DISCONNECT closes"
        c.close()
        wait_for(lambda: try_connect(b, "127.0.0.6"), timeout=3.0, message=f"room after {cid}")
        c = connect_from(b, "127.0.0.6", client_id=cid)
        c.close()  # lost, without DISCONNECT
        wait_for(lambda: try_connect(b, "127.0.0.6"), timeout=3.0, message=f"room after losing {cid}")
    # A protocol error before CONNECT, and a socket that never sends CONNECT (connect timeout).
    bad = RawClient(HOST, b.port, source="127.0.0.6")
    bad.send(mqtt_raw.pingreq())
    assert bad.wait_closed(3.0), "a first packet other than CONNECT closes the connection"
    bad.close()
    wait_for(lambda: try_connect(b, "127.0.0.6"), timeout=3.0, message="room after a protocol error")
    silent = RawClient(HOST, b.port, source="127.0.0.6")
    assert silent.wait_closed(4.0), "no CONNECT within connect_timeout closes the connection"
    silent.close()
    # Takeover: the same client id from two addresses; the first is closed by the second.
    first = connect_from(b, "127.0.0.7", client_id="zero-takeover")
    second = connect_from(b, "127.0.0.8", client_id="zero-takeover")
    assert first.wait_closed(3.0), "the session's old connection is closed [MQTT-3.1.4-2]"
    first.close()
    try:
        for source in ("127.0.0.6", "127.0.0.7"):
            wait_for(lambda: try_connect(b, source), timeout=3.0, message=f"room for {source}")
        refused_at_accept(b.port, "127.0.0.8", "127.0.0.8 still holds its one connection")
    finally:
        second.close()
    wait_for(lambda: try_connect(b, "127.0.0.8"), timeout=3.0, message="room for 127.0.0.8")


def test_proxied_clients_are_counted_by_the_address_the_header_names(limits_broker):
    b = limits_broker(limits={"max_connections_per_address": 1},
                      extra_listeners=[{"proxy_protocol": True, "trusted_proxies": ["127.0.0.1"]}])
    port = b.ports[0]

    def via_proxy(client: str, source_port: int) -> RawClient:
        c = RawClient(HOST, port)
        c.send(v1_header(client, source_port))
        return c

    a = via_proxy("192.0.2.1", 4001)
    assert a.connect(unique_id("px")).return_code == 0, "the first client behind the proxy"
    other = via_proxy("192.0.2.2", 4002)
    assert other.connect(unique_id("px")).return_code == 0, \
        "another client behind the same proxy: the proxy's own address is not what counts"
    again = via_proxy("192.0.2.1", 4003)
    again.send(mqtt_raw.connect(unique_id("px")))
    assert again.wait_closed(REFUSED_DEADLINE), "a second connection of 192.0.2.1 is closed"
    assert again.pending() == [], f"with no CONNACK: {again.pending()}"
    lines = log_lines(b, "(max_connections_per_address)")
    assert lines and "192.0.2.1/32 via PROXY protocol" in lines[0], lines
    close_all([a, other, again])


# --------------------------------------------------------------------------------------------
# Failed logins


def timed_connect(broker, source: str, password: str, user: str = "alice") -> tuple[int, float]:
    c = RawClient(HOST, broker.port, timeout=10.0, source=source)
    try:
        start = time.monotonic()
        ack = c.connect(unique_id("pw"), username=user, password=password.encode())
        return ack.return_code, time.monotonic() - start
    finally:
        c.close()


@pytest.mark.time_limit(30)
def test_failed_logins_from_an_address_get_a_doubling_delay(limits_broker):
    b = limits_broker(limits={"login_failure_delay_ms": 200, "login_failure_delay_max_ms": 800},
                      users={"alice": "secret"})
    # Answers to failed logins: 200, 400, 800, then the cap.
    for expected in (0.2, 0.4, 0.8, 0.8):
        code, took = timed_connect(b, "127.0.0.2", "wrong")
        assert code == V3_BAD_CREDENTIALS, f"a wrong password is refused (4): {code}"
        assert expected * 0.9 <= took <= expected + 0.4, \
            f"failed login answered after {took:.3f} s, expected {expected} s (doubling, capped)"
    # Another address is not slowed, and the right password is answered at once there.
    code, took = timed_connect(b, "127.0.0.3", "secret")
    assert code == 0 and took < 0.15, f"another address: accepted at once ({code}, {took:.3f} s)"
    # The delay is over once its answer came: the right password from the same address goes
    # through at once, and that success forgets the failures.
    code, took = timed_connect(b, "127.0.0.2", "secret")
    assert code == 0 and took < 0.15, f"right password after the delay: at once ({code}, {took:.3f} s)"
    code, took = timed_connect(b, "127.0.0.2", "wrong")
    assert code == V3_BAD_CREDENTIALS and 0.18 <= took <= 0.6, \
        f"after a success the delay starts again from 200 ms: {took:.3f} s"
    assert sys_value(b, "$SYS/broker/clients/login_delays", 5, username="alice", password=b"secret") == 5
    lines = log_lines(b, "failed login")
    assert len(lines) == 1 and "127.0.0.2/32" in lines[0], f"one log line for five failures: {lines}"


def test_a_login_during_the_delay_is_checked_when_the_delay_ends(limits_broker):
    b = limits_broker(limits={"login_failure_delay_ms": 600, "login_failure_delay_max_ms": 600},
                      users={"alice": "secret"})
    wrong = RawClient(HOST, b.port, timeout=5.0, source="127.0.0.4")
    start = time.monotonic()
    wrong.send(mqtt_raw.connect(unique_id("pw"), username="alice", password=b"wrong"))
    # The failure is logged when it is recorded: from then on the address waits.
    wait_for(lambda: log_lines(b, "failed login from 127.0.0.4/32"), timeout=3.0,
             message="the failed login's log line")
    right = RawClient(HOST, b.port, timeout=5.0, source="127.0.0.4")
    right.send(mqtt_raw.connect(unique_id("pw"), username="alice", password=b"secret"))
    ack = wrong.expect(CONNACK)
    wrong_at = time.monotonic() - start
    ok = right.expect(CONNACK)
    right_at = time.monotonic() - start
    close_all([wrong, right])
    assert ack.return_code == V3_BAD_CREDENTIALS and 0.54 <= wrong_at <= 1.2, \
        f"the failure answered after the 600 ms delay: {ack}, {wrong_at:.3f} s"
    assert ok.return_code == 0, f"the right password is accepted: {ok}"
    assert right_at >= wrong_at - 0.05, \
        f"checked only once the delay was over ({right_at:.3f} s vs {wrong_at:.3f} s)"


def test_a_failed_scram_exchange_is_delayed_like_a_wrong_password(limits_broker):
    b = limits_broker(limits={"login_failure_delay_ms": 400, "login_failure_delay_max_ms": 400},
                      users={"alice": "secret"})
    c = RawClient5(HOST, b.port, timeout=5.0, source="127.0.0.9")
    scram = ScramClient("alice", "wrong")
    server_first = check_challenge(begin(c, unique_id("scram"), scram))
    start = time.monotonic()
    c.send(mqtt5_raw.auth(CONTINUE_AUTHENTICATION, auth_props(scram.client_final(server_first))))
    ack = c.expect(CONNACK, what="end of the SCRAM exchange")
    took = time.monotonic() - start
    c.close()
    assert ack.reason_code == mqtt5_raw.NOT_AUTHORIZED and 0.36 <= took <= 1.0, \
        f"a failed SCRAM exchange gets 0x87 [MQTT-4.12.0-4] after the 400 ms delay: {ack}, {took:.3f} s"
    with RawClient5(HOST, b.port, timeout=5.0, source="127.0.0.9") as ok:
        ack, _ = connect_scram(ok, unique_id("scram"), "alice", "secret")
        assert ack.reason_code == 0, f"the right password afterwards: {ack}"


def test_connects_without_credentials_are_not_delayed(limits_broker):
    b = limits_broker(limits={"login_failure_delay_ms": 1000, "login_failure_delay_max_ms": 1000},
                      users={"alice": "secret"})
    wrong = RawClient(HOST, b.port, timeout=5.0, source="127.0.0.5")
    wrong.send(mqtt_raw.connect(unique_id("pw"), username="alice", password=b"wrong"))
    wait_for(lambda: log_lines(b, "failed login from 127.0.0.5/32"), timeout=3.0,
             message="the failed login's log line")
    c = RawClient(HOST, b.port, timeout=5.0, source="127.0.0.5")
    start = time.monotonic()
    ack = c.connect(unique_id("anon"))
    took = time.monotonic() - start
    close_all([wrong, c])
    # allow_anonymous is false with a password file: refused, but not held.
    assert ack.return_code == V3_NOT_AUTHORIZED and took < 0.3, \
        f"a CONNECT without credentials is answered at once: {ack}, {took:.3f} s"


# --------------------------------------------------------------------------------------------
# Flapping


FLAP = {"flapping_connects": 3, "flapping_window": 10, "flapping_ban": 2}


@pytest.mark.parametrize("v5", [False, True], ids=["3.1.1", "5"])
def test_a_client_id_reconnecting_in_a_tight_loop_is_banned_for_a_while(limits_broker, v5):
    b = limits_broker(limits=FLAP)
    cid = unique_id("flap")

    def attempt():
        c = RawClient5(HOST, b.port) if v5 else RawClient(HOST, b.port)
        try:
            ack = c.connect(cid)
            code = ack.reason_code if v5 else ack.return_code
            if code == 0:
                c.send(mqtt5_raw.disconnect() if v5 else mqtt_raw.disconnect())
            return code
        finally:
            c.close()

    for i in range(3):
        assert attempt() == 0, f"connect {i + 1} of 3 within the window is accepted"
    banned = BANNED if v5 else V3_NOT_AUTHORIZED
    assert attempt() == banned, \
        f"the 4th CONNECT within 10 s is refused: {'0x8A Banned' if v5 else '5 (3.1.1 has no Banned)'}"
    start = time.monotonic()
    assert attempt() == banned, "and every CONNECT of that id during the ban"
    other = unique_id("steady")
    with (RawClient5(HOST, b.port) if v5 else RawClient(HOST, b.port)) as c:
        ack = c.connect(other)
        assert (ack.reason_code if v5 else ack.return_code) == 0, "another client id is not banned"
    wait_for(lambda: attempt() == 0, timeout=4.0, interval=0.2, message="the 2 s ban to end")
    assert time.monotonic() - start >= 1.5, "the ban lasted its 2 s"
    assert sys_value(b, "$SYS/broker/clients/banned", 2) >= 2
    assert sys_value(b, "$SYS/broker/clients/flapping_bans", 1) == 1
    assert len(log_lines(b, "(flapping ban)")) == 1, "the refusals are logged once per interval"


# --------------------------------------------------------------------------------------------
# Reload


def sighup(broker) -> None:
    broker.proc.send_signal(signal.SIGHUP)


def test_sighup_changes_address_limits_under_connected_clients(limits_broker):
    b = limits_broker(limits={"max_connections_per_address": 3})
    held = [connect_from(b, "127.0.0.2") for _ in range(3)]
    try:
        b.rewrite(limits={"max_connections_per_address": 1}, listener={"deny": ["127.0.0.4"]})
        sighup(b)
        # The new limit applies once the workers have the new policy: 127.0.0.4 is denied then.
        wait_for(lambda: not try_connect(b, "127.0.0.4"), timeout=5.0,
                 message="the reloaded deny list to refuse 127.0.0.4")
        for c in held:
            still_connected(c, "clients connected before the reload stay")
        refused_at_accept(b.port, "127.0.0.2", "127.0.0.2 holds 3 connections, the limit is now 1")
        kept = connect_from(b, "127.0.0.3")
        refused_at_accept(b.port, "127.0.0.3", "a second connection of 127.0.0.3 with limit 1")
        kept.close()
        b.rewrite(limits={"max_connections_per_address": 0})
        sighup(b)
        wait_for(lambda: try_connect(b, "127.0.0.4"), timeout=5.0,
                 message="127.0.0.4 allowed again after the next reload")
        connect_from(b, "127.0.0.2").close()  # 0: unlimited
    finally:
        close_all(held)


def test_sighup_changes_the_flapping_ban(limits_broker):
    b = limits_broker(limits={"flapping_connects": 0})
    cid = unique_id("reflap")
    for _ in range(5):
        try_connect_id(b, cid, expect=0)
    b.rewrite(limits={"flapping_connects": 2, "flapping_window": 10, "flapping_ban": 5})
    sighup(b)
    # Counting starts with the reload (connections while it was off were not counted).
    wait_for(lambda: try_connect_id(b, cid) == BANNED_V3, timeout=5.0, interval=0.05,
             message="the reloaded flapping ban to refuse the id")


BANNED_V3 = V3_NOT_AUTHORIZED


def try_connect_id(broker, cid: str, expect: Optional[int] = None) -> int:
    with RawClient(HOST, broker.port) as c:
        code = c.connect(cid).return_code
        if code == 0:
            c.send(mqtt_raw.disconnect())
    if expect is not None:
        assert code == expect, f"CONNECT of {cid}: {code}, expected {expect}"
    return code


# --------------------------------------------------------------------------------------------
# Per-connection refusals of the transports, one log line per interval


def closed_silently(port: int, data: bytes, source: str = "127.0.0.1") -> None:
    with socket.create_connection((HOST, port), timeout=5.0, source_address=(source, 0)) as s:
        try:
            s.sendall(data)
        except OSError:
            pass
        deadline = time.monotonic() + 5.0
        got = b""
        while time.monotonic() < deadline:
            readable, _, _ = select.select([s], [], [], deadline - time.monotonic())
            if not readable:
                break
            try:
                chunk = s.recv(4096)
            except ConnectionResetError:
                return
            if not chunk:
                break
            got += chunk
        else:
            raise AssertionError("the broker closes the connection within 5 s")
        assert b"\x20" not in got[:1], f"no CONNACK: {got!r}"


def test_proxy_and_tls_refusals_are_logged_once_per_interval(limits_broker, tls_pki):
    pki = tls_pki
    b = limits_broker(extra_listeners=[
        {"proxy_protocol": True, "trusted_proxies": ["127.0.0.2"]},
        {"transport": "tls", "cert_file": str(pki.server_ec.cert), "key_file": str(pki.server_ec.key)}])
    proxy_port, tls_port = b.ports
    for _ in range(3):
        closed_silently(proxy_port, v1_header("192.0.2.1", 1000))  # from 127.0.0.1: not trusted
        closed_silently(proxy_port, b"GET / HTTP/1.0\r\n\r\n", source="127.0.0.2")  # no header
        closed_silently(tls_port, mqtt_raw.connect(unique_id("plain")))  # not TLS
    assert sys_value(b, "$SYS/broker/connections/refused/untrusted_proxy", 3) == 3
    for reason in ("(not a trusted proxy of the listener)", "(no valid PROXY protocol header)",
                   "(failed TLS handshake)"):
        wait_for(lambda: log_lines(b, reason), message=f"a line {reason}")
        lines = log_lines(b, reason)
        assert len(lines) == 1, f"three refusals, one line {reason} at info level: {lines}"
    # The per-connection lines are at debug level, which this broker does not log.
    assert not log_lines(b, "refused: not a trusted proxy"), b.stderr_tail()
