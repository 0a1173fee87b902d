"""SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK (MQTT 3.1.1 sections 3.8–3.11) and topic matching
(section 4.7): return codes, wildcard tables, $-topics, overlapping subscriptions."""

import pytest

from broker_process import wait_for
from mqtt_raw import SUBACK_FAILURE

SENTINEL = ("zz/sentinel", b"end")

# Topic names published for the matching table, in publish order.
TOPICS = [
    "sport", "sport/", "sport/tennis", "sport/tennis/player1", "sport/tennis/player1/ranking",
    "sport/tennis/player1/score/wimbledon", "sport/tennis/player2", "/finance", "finance",
    "a//b", "a/x/b", "a/b", "ACCOUNTS", "accounts", "zz/sentinel",
]

# Filter → the topic names above it matches (section 4.7.1 and its examples).
MATCHES = {
    "sport/tennis/player1/#": {"sport/tennis/player1", "sport/tennis/player1/ranking",
                               "sport/tennis/player1/score/wimbledon"},
    "sport/#": {"sport", "sport/", "sport/tennis", "sport/tennis/player1",
                "sport/tennis/player1/ranking", "sport/tennis/player1/score/wimbledon",
                "sport/tennis/player2"},
    "#": set(TOPICS),
    "sport/tennis/+": {"sport/tennis/player1", "sport/tennis/player2"},
    "sport/+": {"sport/", "sport/tennis"},
    "+": {"sport", "finance", "ACCOUNTS", "accounts"},
    "+/+": {"sport/", "sport/tennis", "/finance", "a/b", "zz/sentinel"},
    "/+": {"/finance"},
    "+/tennis/#": {"sport/tennis", "sport/tennis/player1", "sport/tennis/player1/ranking",
                   "sport/tennis/player1/score/wimbledon", "sport/tennis/player2"},
    "a/+/b": {"a//b", "a/x/b"},
    "+/+/+": {"a//b", "a/x/b", "sport/tennis/player1", "sport/tennis/player2"},
    "accounts": {"accounts"},
    "sport/tennis/player1": {"sport/tennis/player1"},
}

RULE = {"#": "[MQTT-4.7.1-2]", "+": "[MQTT-4.7.1-3]"}


@pytest.mark.parametrize("topic_filter", list(MATCHES))
def test_topic_filter_matches_exactly_the_expected_topics(broker, clients, topic_filter):
    sub = clients.raw_connected()
    filters = [(topic_filter, 0)]
    if "zz/sentinel" not in MATCHES[topic_filter]:
        filters.append(("zz/sentinel", 0))
    assert sub.subscribe(filters).return_codes == [0] * len(filters)
    pub = clients.raw_connected()
    for topic in TOPICS:
        pub.publish(topic, b"end" if topic == "zz/sentinel" else b"x", qos=1)
    got = [p.topic for p in sub.receive_until(*SENTINEL)]
    expected = [t for t in TOPICS if t in MATCHES[topic_filter] and t != "zz/sentinel"]
    rules = " ".join(r for ch, r in RULE.items() if ch in topic_filter) or "(section 4.7.3: case-sensitive, exact)"
    assert got == expected, f"filter {topic_filter!r} {rules}: expected {expected}, got {got}"


def test_suback_grants_requested_qos_per_filter_with_subscribe_packet_id(broker, clients):
    c = clients.raw_connected()
    ack = c.subscribe([("g/0", 0), ("g/1", 1), ("g/2", 2), ("g/+/x", 1), ("g/#", 2)],
                      packet_id=0x4242)
    assert ack.packet_id == 0x4242, f"SUBACK has the SUBSCRIBE's packet id [MQTT-3.8.4-2]: {ack}"
    assert ack.return_codes == [0, 1, 2, 1, 2], \
        f"one return code per filter, in order [MQTT-3.8.4-5] [MQTT-3.9.3-1]: {ack}"


@pytest.mark.hermod_only("mosquitto closes the connection on an invalid filter instead of "
                         "answering 0x80 (both are allowed by the spec)")
def test_suback_reports_failure_0x80_for_invalid_filters(broker, clients):
    c = clients.raw_connected()
    # (An empty filter is malformed and closes the connection: issue 17, test_conformance.py.)
    ack = c.subscribe([("ok/a", 0), ("a/#/b", 1), ("a+", 0), ("ok/+", 1), ("#a", 2),
                       ("a/b+/c", 0), ("ok/#", 2)])
    assert ack.return_codes == [0, SUBACK_FAILURE, SUBACK_FAILURE, 1, SUBACK_FAILURE,
                                SUBACK_FAILURE, 2], \
        (f"invalid filters ('#' not last [MQTT-4.7.1-2], '+' not a whole level [MQTT-4.7.1-3]) "
         f"get 0x80, valid ones their QoS [MQTT-3.8.4-5]: {ack}")
    # The valid filters of the same SUBSCRIBE are in force (each message matches several of
    # them and is delivered once).
    c.publish("ok/a", b"1", qos=1)
    c.publish("ok/z", b"2", qos=1)
    c.publish("ok/z", b"end", qos=1)
    got = [(p.topic, p.payload) for p in c.receive_until("ok/z", b"end")]
    assert got == [("ok/a", b"1"), ("ok/z", b"2")], got


def test_dollar_topics_not_matched_by_filters_starting_with_wildcards(broker, clients):
    # $SYS topics are published (retained) by the broker every sys_interval=1 s.
    sys_sub = clients.raw_connected()
    sys_sub.subscribe([("$SYS/#", 0)])
    first = sys_sub.receive_publish()
    assert first.topic.startswith("$SYS/"), f"'$SYS/#' matches $SYS topics: {first}"

    sub = clients.raw_connected()
    sub.subscribe([("#", 0), ("+/broker/#", 0), ("+/+/uptime", 0)])
    sub.publish("dollar/sentinel", b"one", qos=1)
    early = sub.receive_until("dollar/sentinel", b"one")
    # Wait for a live $SYS publication after the subscription, then check again.
    wait_for(lambda: _next_live_sys(sys_sub), 5, message="a live $SYS publication")
    sub.publish("dollar/sentinel", b"two", qos=1)
    late = sub.receive_until("dollar/sentinel", b"two")
    leaked = [p.topic for p in early + late if p.topic.startswith("$")]
    assert not leaked, f"filters starting with '#' or '+' must not match $-topics [MQTT-4.7.2-1]: {leaked}"


def _next_live_sys(sub) -> bool:
    p = sub.receive_publish(timeout=3)
    return not p.retain


@pytest.mark.hermod_only("mosquitto 2.0.11 delivers once but at the QoS of one matching "
                         "subscription, not the highest (it fails (0, 2, 2, 2))")
@pytest.mark.parametrize("plus_qos, hash_qos, published, expected", [
    (0, 2, 2, 2), (1, 0, 2, 1), (2, 1, 1, 1), (0, 0, 2, 0),
])
def test_overlapping_subscriptions_deliver_once_at_highest_granted_qos(
        broker, clients, plus_qos, hash_qos, published, expected):
    c = clients.raw_connected()
    c.subscribe([("ov/+", plus_qos), ("ov/#", hash_qos)])
    pub = clients.raw_connected()
    pub.publish("ov/x", b"m", qos=published)
    pub.publish("ov/x", b"end", qos=published)
    got = c.receive_until("ov/x", b"end")
    assert [(p.payload, p.qos) for p in got] == [(b"m", expected)], \
        (f"one copy at min(published, max granted) = {expected} [MQTT-3.3.5-1] "
         f"[MQTT-3.8.4-6], got {got}")


def test_resubscribing_same_filter_replaces_subscription(broker, clients):
    c = clients.raw_connected()
    assert c.subscribe([("re/t", 2)]).return_codes == [2]
    assert c.subscribe([("re/t", 0)]).return_codes == [0]
    pub = clients.raw_connected()
    pub.publish("re/t", b"m", qos=2)
    pub.publish("re/t", b"end", qos=2)
    got = c.receive_until("re/t", b"end")
    assert [(p.payload, p.qos) for p in got] == [(b"m", 0)], \
        f"an identical filter replaces the subscription, with the new QoS [MQTT-3.8.4-3]: {got}"


def test_unsubscribe_stops_delivery(broker, clients):
    c = clients.raw_connected()
    c.subscribe([("un/a", 1), ("un/keep", 1)])
    pub = clients.raw_connected()
    pub.publish("un/a", b"before", qos=1)
    assert c.receive_publish().payload == b"before"
    ack = c.unsubscribe(["un/a"], packet_id=0x0A0B)
    assert ack.packet_id == 0x0A0B, f"UNSUBACK has the UNSUBSCRIBE's id [MQTT-3.10.4-4]: {ack}"
    pub.publish("un/a", b"after", qos=1)
    pub.publish("un/keep", b"end", qos=1)
    got = c.receive_until("un/keep", b"end")
    assert got == [], f"no new messages after the subscription is deleted [MQTT-3.10.4-2]: {got}"


def test_unsuback_sent_even_when_no_subscription_matched(broker, clients):
    c = clients.raw_connected()
    ack = c.unsubscribe(["never/subscribed", "nor/+/this"], packet_id=77)
    assert ack.packet_id == 77, f"UNSUBACK even if nothing was deleted [MQTT-3.10.4-5]: {ack}"
    c.ping()


def test_unsubscribe_compares_filters_character_by_character(broker, clients):
    c = clients.raw_connected()
    c.subscribe([("lit/+", 1)])
    c.unsubscribe(["lit/x"])  # not the same filter: the subscription stays
    pub = clients.raw_connected()
    pub.publish("lit/x", b"still", qos=1)
    got = c.receive_publish()
    assert got.payload == b"still", \
        f"UNSUBSCRIBE deletes only an exactly equal filter [MQTT-3.10.4-1]: {got}"


def test_unsubscribe_several_filters_in_one_packet(broker, clients):
    c = clients.raw_connected()
    c.subscribe([("multi/a", 0), ("multi/b", 0), ("multi/c", 0)])
    c.unsubscribe(["multi/a", "multi/b"])
    pub = clients.raw_connected()
    for t in ("multi/a", "multi/b", "multi/c"):
        pub.publish(t, b"m", qos=1)
    pub.publish("multi/c", b"end", qos=1)
    got = [p.topic for p in c.receive_until("multi/c", b"end")]
    assert got == ["multi/c"], \
        f"UNSUBSCRIBE with several filters removes each [MQTT-3.10.4-6]: {got}"


def test_paho_subscriber_receives_through_wildcards(broker, clients):
    sub = clients.paho()
    assert sub.subscribe([("pw/+/temp", 1), ("pw/hall/#", 0)]) == (1, 0)
    pub = clients.paho()
    pub.publish("pw/kitchen/temp", b"21", qos=1)
    pub.publish("pw/hall/light/state", b"on", qos=1)
    got = sorted((m.topic, m.payload, m.qos) for m in (sub.get_message(), sub.get_message()))
    assert got == [("pw/hall/light/state", b"on", 0), ("pw/kitchen/temp", b"21", 1)], got
