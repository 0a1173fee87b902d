"""MQTT 5 enhanced authentication (section 4.12) and the AUTH packet (3.15) with SCRAM-SHA-256
against the password file: the CONNECT exchange, its failures, the rules while it runs, and
re-authentication (4.12.1). The client side is tests/integration/scram.py (raw packets)."""

from __future__ import annotations

import time

import pytest

from broker_process import unique_id
from mqtt5_raw import (AUTH, AUTHENTICATION_DATA, AUTHENTICATION_METHOD,
                       BAD_AUTHENTICATION_METHOD, CONNACK, CONTINUE_AUTHENTICATION, DISCONNECT,
                       NOT_AUTHORIZED, PROTOCOL_ERROR, SUCCESS, Will5, auth, publish, sub_options)
from scram import (METHOD, RE_AUTHENTICATE, ScramClient, auth_props, begin, check_challenge,
                   connect_scram, reauthenticate)

pytest_plugins = ["mqtt5_raw", "auth_broker"]  # the v5 and make_auth_broker fixtures
pytestmark = pytest.mark.hermod_only("SCRAM-SHA-256 against Hermod's password file; "
                                     "mosquitto 2.0 offers no enhanced authentication method")

USERS = {"alice": "alice secret", "bob": "bob's, = password"}


def assert_refused(ack, code: int, client, rule: str) -> None:
    assert ack.type == CONNACK and ack.reason_code == code, \
        f"expected CONNACK {code:#04x} {rule}, got {ack}"
    assert client.wait_closed(5), f"the server closes after CONNACK {code:#04x} [MQTT-3.2.2-7]"


def scram_connected(v5, broker, user="alice", client_id=None, **kw):
    c = v5.raw(broker)
    ack, scram = connect_scram(c, client_id or unique_id("scram"), user, USERS[user], **kw)
    assert ack.reason_code == SUCCESS, \
        f"SCRAM-SHA-256 with the right password → CONNACK 0x00: {ack}"
    return c, ack, scram


# -------------------------------------------------------------------------------------------
# The CONNECT exchange


def test_scram_exchange_succeeds_and_server_proves_itself(make_auth_broker, v5):
    b = make_auth_broker(users=USERS)
    c, ack, scram = scram_connected(v5, b)
    assert ack.props.get(AUTHENTICATION_METHOD) == METHOD, \
        f"a successful CONNACK names the CONNECT's Authentication Method [MQTT-4.12.0-5]: {ack}"
    assert scram.verify_server_final(ack.props.get(AUTHENTICATION_DATA)), \
        f"the CONNACK carries the server-final message with the right ServerSignature: {ack}"
    c.subscribe([("scram/t", sub_options(qos=1))])
    c.publish("scram/t", b"authenticated", qos=1)
    got = c.receive_publish()
    assert got.payload == b"authenticated", got


def test_scram_user_with_special_characters(make_auth_broker, v5):
    b = make_auth_broker(users=USERS)
    scram_connected(v5, b, user="bob")  # ',' and '=' in the password; the user name is plain


@pytest.mark.parametrize("user, password", [("alice", "not alice's"), ("mallory", "alice secret")],
                         ids=["wrong-password", "unknown-user"])
def test_scram_with_wrong_credentials_gets_connack_0x87(make_auth_broker, v5, user, password):
    b = make_auth_broker(users=USERS)
    c = v5.raw(b)
    ack, scram = connect_scram(c, unique_id("bad"), user, password)
    assert_refused(ack, NOT_AUTHORIZED, c, "[MQTT-4.12.0-4]")
    assert not scram.verify_server_final(ack.props.get(AUTHENTICATION_DATA)), \
        "no server signature for a failed proof"
    assert password not in b.stderr_text(), "passwords are never logged"


def test_unknown_user_gets_a_challenge_like_any_other(make_auth_broker, v5):
    """The server-first message does not tell whether the user exists."""
    b = make_auth_broker(users=USERS)
    c = v5.raw(b)
    first = begin(c, unique_id("who"), ScramClient("mallory", "x"))
    assert "i=4096" in check_challenge(first).decode()


def test_unknown_method_gets_connack_0x8c(make_auth_broker, v5):
    b = make_auth_broker(users=USERS)
    c = v5.raw(b)
    ack = begin(c, unique_id("m"), ScramClient("alice", USERS["alice"]), method="SCRAM-SHA-1")
    assert_refused(ack, BAD_AUTHENTICATION_METHOD, c, "[MQTT-4.12.0-1]")


def test_scram_is_offered_only_with_a_password_file(make_auth_broker, v5):
    with_file, without = make_auth_broker(users=USERS), make_auth_broker(users=None)
    scram_connected(v5, with_file)
    c = v5.raw(without)
    ack = begin(c, unique_id("m"), ScramClient("alice", USERS["alice"]))
    assert_refused(ack, BAD_AUTHENTICATION_METHOD, c,
                   "(no password file, no method) [MQTT-4.12.0-1]")


def test_plain_password_still_works_beside_scram(make_auth_broker, v5):
    b = make_auth_broker(users=USERS)
    ack = v5.raw(b).connect(unique_id("plain"), username="alice", password=b"alice secret")
    assert ack.reason_code == SUCCESS and AUTHENTICATION_METHOD not in ack.props, \
        f"no Authentication Method in CONNECT → none in CONNACK [MQTT-4.12.0-6]: {ack}"


# -------------------------------------------------------------------------------------------
# While the exchange runs


@pytest.mark.parametrize("packet", [
    publish("scram/early", b"too soon"),
    b"\xc0\x00",  # PINGREQ
], ids=["publish", "pingreq"])
def test_other_packet_during_exchange_is_a_protocol_error(make_auth_broker, v5, packet):
    b = make_auth_broker(users=USERS)
    c = v5.raw(b)
    check_challenge(begin(c, unique_id("early"), ScramClient("alice", USERS["alice"])))
    c.send(packet)
    ack = c.expect_any([CONNACK, DISCONNECT], 5)
    # Before CONNACK the server may not send DISCONNECT [MQTT-3.14.0-1]; the CONNECT fails with
    # the reason code instead (4.13.1).
    assert_refused(ack, PROTOCOL_ERROR, c,
                   "for a packet other than AUTH before CONNACK [MQTT-3.1.2-30]")


def test_auth_with_another_method_during_exchange_is_a_protocol_error(make_auth_broker, v5):
    b = make_auth_broker(users=USERS)
    c = v5.raw(b)
    scram = ScramClient("alice", USERS["alice"])
    server_first = check_challenge(begin(c, unique_id("other"), scram))
    c.send(auth(CONTINUE_AUTHENTICATION, auth_props(scram.client_final(server_first), "PLAIN")))
    assert_refused(c.expect(CONNACK), PROTOCOL_ERROR, c, "[MQTT-4.12.0-5]")


def test_auth_with_reauthenticate_code_during_exchange_is_a_protocol_error(make_auth_broker, v5):
    b = make_auth_broker(users=USERS)
    c = v5.raw(b)
    scram = ScramClient("alice", USERS["alice"])
    server_first = check_challenge(begin(c, unique_id("re"), scram))
    c.send(auth(RE_AUTHENTICATE, auth_props(scram.client_final(server_first))))
    assert_refused(c.expect(CONNACK), PROTOCOL_ERROR, c, "(0x18 expected [MQTT-4.12.0-3])")


@pytest.mark.time_limit(15)
def test_connect_timeout_applies_during_the_exchange(make_auth_broker, v5):
    b = make_auth_broker(users=USERS, connect_timeout=1)
    c = v5.raw(b)
    check_challenge(begin(c, unique_id("slow"), ScramClient("alice", USERS["alice"])))
    start = time.monotonic()
    assert c.wait_closed(5), "an exchange the client never finishes ends at the connect timeout"
    assert time.monotonic() - start < 3, "closed within connect_timeout (1 s) plus slack"
    assert not [p for p in c.pending() if p.type == CONNACK and p.reason_code == SUCCESS]


def test_will_waits_for_the_exchange_and_is_kept(make_auth_broker, v5):
    b = make_auth_broker(users=USERS)
    watcher, _, _ = scram_connected(v5, b, user="bob")
    watcher.subscribe([("scram/will/#", sub_options(qos=1))])
    # A failed exchange never establishes the connection: its will is not published.
    failed = v5.raw(b)
    ack, _ = connect_scram(failed, unique_id("nowill"), "alice", "wrong",
                           will=Will5("scram/will/failed", b"must not appear", qos=1))
    assert ack.reason_code == NOT_AUTHORIZED, ack
    # A successful one keeps the CONNECT's will until CONNACK, and publishes it on a drop.
    c, _, _ = scram_connected(v5, b, will=Will5("scram/will/ok", b"gone", qos=1))
    c.close()
    got = watcher.receive_publish()
    assert (got.topic, got.payload) == ("scram/will/ok", b"gone"), \
        f"the will of the authenticated connection, and only it: {got}"


def test_exchange_runs_on_the_home_worker_for_every_client_id(make_auth_broker, v5):
    """With 4 workers most client ids are handed over to another worker after CONNECT: the
    exchange, the CONNECT and the session set-up follow the hand-off."""
    b = make_auth_broker(users=USERS, workers=4)
    conns = [scram_connected(v5, b, client_id=f"home-{i}")[0] for i in range(12)]
    for i, c in enumerate(conns):
        c.publish(f"scram/home/{i}", b"x", qos=1)  # a PUBACK: each one is connected


def test_refused_exchange_does_not_take_over_the_session(make_auth_broker, v5):
    b = make_auth_broker(users=USERS)
    cid = unique_id("own")
    owner, _, _ = scram_connected(v5, b, client_id=cid)
    intruder = v5.raw(b)
    ack, _ = connect_scram(intruder, cid, "alice", "guess")
    assert ack.reason_code == NOT_AUTHORIZED, ack
    owner.ping()


# -------------------------------------------------------------------------------------------
# Re-authentication


def test_reauthentication_succeeds_with_auth_0x00(make_auth_broker, v5):
    b = make_auth_broker(users=USERS)
    c, _, _ = scram_connected(v5, b)
    for _ in range(2):
        last, scram = reauthenticate(c, "alice", USERS["alice"])
        assert last.type == AUTH and last.reason_code == SUCCESS, \
            f"a successful re-authentication ends with AUTH 0x00 [MQTT-4.12.1-1]: {last}"
        assert last.props.get(AUTHENTICATION_METHOD) == METHOD, f"[MQTT-4.12.0-5]: {last}"
        assert scram.verify_server_final(last.props.get(AUTHENTICATION_DATA)), last
    c.ping()


def test_packets_flow_during_reauthentication(make_auth_broker, v5):
    b = make_auth_broker(users=USERS)
    c, _, _ = scram_connected(v5, b)
    scram = ScramClient("alice", USERS["alice"])
    c.send(auth(RE_AUTHENTICATE, auth_props(scram.client_first())))
    server_first = check_challenge(c.expect(AUTH))
    c.ping()  # other packets are fine while re-authenticating
    c.send(auth(CONTINUE_AUTHENTICATION, auth_props(scram.client_final(server_first))))
    done = c.expect(AUTH)
    assert done.reason_code == SUCCESS, done
    assert scram.verify_server_final(done.props.get(AUTHENTICATION_DATA)), done


@pytest.mark.parametrize("user, password", [("alice", "wrong"), ("bob", USERS["bob"])],
                         ids=["wrong-password", "another-user"])
def test_failed_reauthentication_disconnects_with_0x87(make_auth_broker, v5, user, password):
    b = make_auth_broker(users=USERS)
    c, _, _ = scram_connected(v5, b)
    last, _ = reauthenticate(c, user, password)
    assert last.type == DISCONNECT and last.reason_code == NOT_AUTHORIZED, \
        f"a failed re-authentication → DISCONNECT 0x87 [MQTT-4.12.1-2]: {last}"
    assert c.wait_closed(5), "then the server closes the connection [MQTT-4.12.1-2]"


def test_reauthentication_with_another_method_is_a_protocol_error(make_auth_broker, v5):
    b = make_auth_broker(users=USERS)
    c, _, _ = scram_connected(v5, b)
    c.send(auth(RE_AUTHENTICATE, auth_props(b"n,,n=alice,r=abc", "SCRAM-SHA-512")))
    c.expect_disconnect(PROTOCOL_ERROR, "[MQTT-4.12.1-1]")


def test_auth_continue_without_exchange_is_a_protocol_error(make_auth_broker, v5):
    b = make_auth_broker(users=USERS)
    c, _, _ = scram_connected(v5, b)
    c.send(auth(CONTINUE_AUTHENTICATION, auth_props(b"c=biws,r=x,p=AAAA")))
    c.expect_disconnect(PROTOCOL_ERROR, "(AUTH 0x18 with no exchange running)")


def test_auth_without_enhanced_auth_at_connect_is_a_protocol_error(make_auth_broker, v5):
    b = make_auth_broker(users=USERS)
    c = v5.raw(b)
    ack = c.connect(unique_id("pw"), username="alice", password=b"alice secret")
    assert ack.reason_code == SUCCESS, ack
    c.send(auth(RE_AUTHENTICATE, auth_props(b"n,,n=alice,r=abc")))
    c.expect_disconnect(PROTOCOL_ERROR, "[MQTT-4.12.0-7]")



def test_authentication_data_without_method_is_a_protocol_error(make_auth_broker, v5):
    b = make_auth_broker(users=USERS, allow_anonymous=True)
    c = v5.raw(b)
    ack = c.connect(unique_id("data"), props=[(AUTHENTICATION_DATA, b"n,,n=alice,r=abc")])
    assert_refused(ack, PROTOCOL_ERROR, c, "(Authentication Data without a method, 3.1.2.11.10)")
