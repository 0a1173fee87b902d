"""MQTT 5.0 shared subscriptions `$share/{group}/{filter}` (section 4.8.2): one delivery per group,
balanced across its members, non-shared subscribers unaffected, QoS 1 messages in flight to a
member that leaves redelivered to another, and the SUBSCRIBE errors around them."""

import time

import pytest

import mqtt5_raw
from broker_process import wait_for
from clients import MosquittoSub
from mqtt5_raw import (PROTOCOL_ERROR, SHARED_SUBSCRIPTION_AVAILABLE,
                       SHARED_SUBSCRIPTIONS_NOT_SUPPORTED, TOPIC_FILTER_INVALID,
                       sub_options)
from mqtt_raw import Timeout

pytest_plugins = ["mqtt5_raw"]  # the v5 and make_broker5 fixtures

COUNT = 10


def _members(v5, broker, share_filter, n, qos=1):
    members = []
    for _ in range(n):
        m = v5.raw_connected(broker)
        ack = m.subscribe([(share_filter, sub_options(qos=qos))])
        assert ack.reason_codes == [qos], f"SUBACK for {share_filter!r}: {ack}"
        members.append(m)
    return members


def _publish_all(v5, broker, topic, count=COUNT, qos=1):
    pub = v5.raw_connected(broker)
    for i in range(count):
        pub.publish(topic, b"%d" % i, qos=qos)


def _collect(members, total, timeout=5.0):
    """Reads (and acknowledges) PUBLISHes from all members until `total` arrived, then checks
    for a bounded short time that no member gets any more. Returns the payloads per member."""
    got = [[] for _ in members]
    deadline = time.monotonic() + timeout
    while sum(map(len, got)) < total:
        if time.monotonic() > deadline:
            raise AssertionError(f"only {sum(map(len, got))} of {total} messages reached the "
                                 f"group within {timeout:g} s: {got}")
        for i, m in enumerate(members):
            try:
                got[i].append(m.receive_publish(timeout=0.05).payload)
            except Timeout:
                pass
    for i, m in enumerate(members):
        try:  # one bounded window: by the time later members are checked it has passed
            m.expect_nothing(0.3 if i == 0 else 0.02)
        except AssertionError as e:
            raise AssertionError(f"a message reached the group more than once: member {i} got "
                                 f"more after {got}: {e}") from None
    return got


@pytest.fixture
def one_worker(make_broker5):
    """A broker with one worker, where round robin over the members is deterministic."""
    return make_broker5(workers=1)


def test_shared_subscription_delivers_each_message_once_per_group(one_worker, v5):
    members = _members(v5, one_worker, "$share/g/v5/shared/once", 2)
    _publish_all(v5, one_worker, "v5/shared/once")
    got = _collect(members, COUNT)
    everything = sorted(int(p) for member in got for p in member)
    assert everything == list(range(COUNT)), \
        (f"each message goes to exactly one member of the share group (4.8.2), got {got}")


def test_shared_subscription_balances_across_members(one_worker, v5):
    members = _members(v5, one_worker, "$share/g/v5/shared/balance", 2)
    _publish_all(v5, one_worker, "v5/shared/balance")
    got = _collect(members, COUNT)
    counts = [len(m) for m in got]
    assert sum(counts) == COUNT and min(counts) >= 3, \
        (f"{COUNT} messages over 2 members: each gets a fair share (round robin: 5 each), "
         f"got {counts}: {got}")


def test_non_shared_subscriber_gets_every_message(one_worker, v5):
    members = _members(v5, one_worker, "$share/g/v5/shared/plain", 2)
    plain = _members(v5, one_worker, "v5/shared/plain", 1)[0]
    _publish_all(v5, one_worker, "v5/shared/plain")
    plain_got = [plain.receive_publish().payload for _ in range(COUNT)]
    assert plain_got == [b"%d" % i for i in range(COUNT)], \
        f"a non-shared subscription gets every message, in order (4.8.2): {plain_got}"
    assert sum(map(len, _collect(members, COUNT))) == COUNT


def test_each_share_group_gets_every_message(one_worker, v5):
    solo = _members(v5, one_worker, "$share/a/v5/shared/groups", 1)
    pair = _members(v5, one_worker, "$share/b/v5/shared/groups", 2)
    _publish_all(v5, one_worker, "v5/shared/groups")
    assert len(_collect(solo, COUNT)[0]) == COUNT, "group a (one member) gets every message (4.8.2)"
    assert sum(map(len, _collect(pair, COUNT))) == COUNT, "group b gets every message once (4.8.2)"


def test_shared_subscription_respects_granted_qos(one_worker, v5):
    member = _members(v5, one_worker, "$share/g/v5/shared/qos", 1, qos=0)[0]
    v5.raw_connected(one_worker).publish("v5/shared/qos", b"x", qos=1)
    got = member.receive_publish()
    assert got.qos == 0, f"the member's granted QoS 0 is respected [MQTT-4.8.2-3]: {got}"


def test_member_that_unsubscribes_leaves_the_group(one_worker, v5):
    leaver, stayer = _members(v5, one_worker, "$share/g/v5/shared/leave", 2)
    leaver.unsubscribe(["$share/g/v5/shared/leave"])
    _publish_all(v5, one_worker, "v5/shared/leave")
    got = _collect([leaver, stayer], COUNT)
    assert (len(got[0]), len(got[1])) == (0, COUNT), \
        f"after UNSUBSCRIBE the remaining member gets everything [MQTT-3.10.4-2]: {got}"


@pytest.mark.hermod_only("mosquitto 2.0.11 does not hand an unacknowledged message of a "
                         "departed member to another member")
def test_qos1_message_in_flight_to_departed_member_redelivered_to_another(one_worker, v5):
    group_filter, topic = "$share/g/v5/shared/redeliver", "v5/shared/redeliver"
    leaver = _members(v5, one_worker, group_filter, 1)[0]
    v5.raw_connected(one_worker).publish(topic, b"in flight", qos=1)
    first = leaver.receive_publish(ack=False)
    assert first.payload == b"in flight", first
    other = _members(v5, one_worker, group_filter, 1)[0]
    leaver.close()  # no PUBACK, no DISCONNECT; session expiry 0: the session ends now
    got = other.receive_publish(timeout=5)
    assert (got.topic, got.payload) == (topic, b"in flight"), \
        (f"a QoS 1 message unacknowledged by a member whose session ended goes to another "
         f"member of the group (4.8.2: SHOULD): {got}")


def test_shared_subscriptions_via_mosquitto_sub(one_worker, v5):
    subs = [MosquittoSub(one_worker, "-V", "5", "-q", "1", "-t", "$share/m/v5/shared/mosq",
                         "-F", "%t|%p") for _ in range(2)]
    try:
        for s in subs:
            s.wait_subscribed()
        _publish_all(v5, one_worker, "v5/shared/mosq")

        def lines(s):
            return [l for l in s.lines if l.startswith("v5/shared/mosq|")]

        wait_for(lambda: sum(len(lines(s)) for s in subs) >= COUNT,
                 message=f"{COUNT} messages printed by the two mosquitto_sub members")
        counts = [len(lines(s)) for s in subs]
        payloads = sorted(int(l.split("|")[1]) for s in subs for l in lines(s))
        assert payloads == list(range(COUNT)) and min(counts) >= 1, \
            f"two mosquitto_sub members share the messages (4.8.2): counts {counts}, {payloads}"
    finally:
        for s in subs:
            s.close()


# -------------------------------------------------------------------------------------------
# Errors


@pytest.mark.hermod_only("mosquitto 2.0.11 grants No Local on a shared subscription")
def test_no_local_on_shared_subscription_is_protocol_error(broker, v5):
    c = v5.raw_connected()
    c.send(mqtt5_raw.subscribe(1, [("$share/g/v5/shared/nl", sub_options(qos=1, no_local=True))]))
    c.expect_disconnect(PROTOCOL_ERROR, "[MQTT-3.8.3-4] (No Local on a Shared Subscription)")


@pytest.mark.hermod_only("mosquitto 2.0.11 disconnects (0x81) for + or # in a ShareName and "
                         "takes $share//x and $share/group for ordinary topic filters")
@pytest.mark.parametrize("bad_filter", ["$share/gr+oup/v5/x", "$share/gr#oup/v5/x",
                                        "$share//v5/x", "$share/group"])
def test_invalid_share_filter_is_protocol_error(broker, v5, bad_filter):
    # 0x8F is for a filter that is "correctly formed but not allowed"; a ShareName that is
    # empty, holds + # /, or is not followed by / and a filter breaks a MUST of the sender
    # [MQTT-4.8.2-1] [MQTT-4.8.2-2]: a Protocol Error (section 4.13), as the conformance table has it.
    c = v5.raw_connected()
    c.send(mqtt5_raw.subscribe(1, [("v5/ok", sub_options(qos=1)), (bad_filter, sub_options(qos=1))]))
    c.expect_disconnect(PROTOCOL_ERROR, f"{bad_filter!r}: [MQTT-4.8.2-1] [MQTT-4.8.2-2] → DISCONNECT 0x82")


@pytest.mark.hermod_only("mosquitto 2.0 cannot switch shared subscriptions off")
def test_shared_subscription_unavailable_gets_suback_0x9e(make_broker5, v5):
    b = make_broker5(shared_subscriptions=False)
    c = v5.raw_connected(b)
    assert c.connack.props.get(SHARED_SUBSCRIPTION_AVAILABLE) == 0, c.connack
    ack = c.subscribe([("v5/plain", sub_options(qos=1)), ("$share/g/v5/x", sub_options(qos=1))])
    assert ack.reason_codes == [1, SHARED_SUBSCRIPTIONS_NOT_SUPPORTED], \
        f"shared subscriptions off → 0x9E for the $share filter (3.9.3): {ack}"
    c.ping()
