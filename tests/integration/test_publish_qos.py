"""PUBLISH at QoS 0, 1 and 2 in both directions (MQTT 3.1.1 sections 3.3–3.7, 4.3, 4.4, 4.6):
the acknowledgement handshakes byte by byte, the delivered QoS, exactly-once for QoS 2, the
in-flight window and redelivery to a reconnecting persistent session."""

import pytest

import mqtt_raw
from broker_process import unique_id
from mqtt_raw import PUBACK, PUBCOMP, PUBLISH, PUBREC, PUBREL


def test_qos0_message_delivered_without_packet_id(broker, clients):
    sub = clients.raw_connected()
    sub.subscribe([("q0/t", 0)])
    pub = clients.raw_connected()
    pub.send(mqtt_raw.publish("q0/t", b"zero", qos=0))
    got = sub.receive_publish()
    assert (got.topic, got.payload, got.qos) == ("q0/t", b"zero", 0), got
    assert got.packet_id is None, "a QoS 0 PUBLISH has no packet identifier [MQTT-2.3.1-5]"
    assert not got.dup, "DUP is 0 for QoS 0 [MQTT-3.3.1-2]"


def test_qos1_publish_acknowledged_with_its_packet_id(broker, clients):
    pub = clients.raw_connected()
    pub.send(mqtt_raw.publish("q1/in", b"one", qos=1, packet_id=0x1234))
    ack = pub.expect(PUBACK)
    assert ack.packet_id == 0x1234, \
        f"PUBACK carries the PUBLISH's packet identifier [MQTT-4.3.2-2] [MQTT-2.3.1-6], got {ack}"
    assert ack.flags == 0, f"PUBACK fixed header flags are 0, got {ack}"


def test_qos1_delivery_to_subscriber_completes_with_puback(broker, clients):
    sub = clients.raw_connected()
    sub.subscribe([("q1/out", 1)])
    pub = clients.raw_connected()
    pub.publish("q1/out", b"first", qos=1)
    got = sub.receive_publish(ack=False)
    assert (got.payload, got.qos, got.dup) == (b"first", 1, False), \
        f"new QoS 1 delivery: QoS 1, DUP 0 [MQTT-4.3.2-1], got {got}"
    assert got.packet_id, "QoS 1 PUBLISH has a non-zero packet identifier [MQTT-2.3.1-1]"
    sub.send(mqtt_raw.puback(got.packet_id))
    pub.publish("q1/out", b"second", qos=1)
    got2 = sub.receive_publish()
    assert got2.payload == b"second", got2


def test_qos2_inbound_handshake_pubrec_pubrel_pubcomp(broker, clients):
    pub = clients.raw_connected()
    pub.send(mqtt_raw.publish("q2/in", b"two", qos=2, packet_id=0x0102))
    rec = pub.expect(PUBREC)
    assert rec.packet_id == 0x0102, f"PUBREC carries the PUBLISH's id [MQTT-4.3.3-2], got {rec}"
    assert rec.flags == 0, f"PUBREC flags are 0, got {rec}"
    pub.send(mqtt_raw.pubrel(0x0102))
    comp = pub.expect(PUBCOMP)
    assert comp.packet_id == 0x0102, f"PUBCOMP carries the PUBREL's id [MQTT-4.3.3-2], got {comp}"
    assert comp.flags == 0, f"PUBCOMP flags are 0, got {comp}"


def test_qos2_outbound_handshake_pubrec_pubrel_pubcomp(broker, clients):
    sub = clients.raw_connected()
    sub.subscribe([("q2/out", 2)])
    pub = clients.raw_connected()
    pub.publish("q2/out", b"exactly", qos=2)
    got = sub.receive_publish(ack=False)
    assert (got.payload, got.qos, got.dup) == (b"exactly", 2, False), \
        f"new QoS 2 delivery: QoS 2, DUP 0 [MQTT-4.3.3-1], got {got}"
    assert got.packet_id, "[MQTT-2.3.1-1]"
    sub.send(mqtt_raw.pubrec(got.packet_id))
    rel = sub.expect(PUBREL)
    assert rel.packet_id == got.packet_id, f"PUBREL has the PUBLISH's id [MQTT-4.3.3-1], got {rel}"
    assert rel.flags == 0x02, f"PUBREL fixed header flags are 0010 [MQTT-3.6.1-1], got {rel}"
    sub.send(mqtt_raw.pubcomp(rel.packet_id))
    # The id is free again and the session keeps working.
    pub.publish("q2/out", b"next", qos=2)
    assert sub.receive_publish().payload == b"next"
    sub.finish_qos2()


@pytest.mark.parametrize("granted", [0, 1, 2])
@pytest.mark.parametrize("published", [0, 1, 2])
def test_delivery_qos_is_minimum_of_published_and_granted(broker, clients, published, granted):
    sub = clients.raw_connected()
    ack = sub.subscribe([("minq/t", granted)])
    assert ack.return_codes == [granted], f"requested QoS {granted} granted, got {ack}"
    pub = clients.raw_connected()
    pub.publish("minq/t", b"m", qos=published)
    got = sub.receive_publish()
    assert got.qos == min(published, granted), \
        f"delivered at min(published {published}, granted {granted}) [MQTT-3.8.4-6], got {got}"
    if got.qos == 2:
        sub.finish_qos2()


def test_qos2_publish_resent_with_dup_before_pubrel_is_delivered_once(broker, clients):
    sub = clients.raw_connected()
    sub.subscribe([("once/t", 2)])
    pub = clients.raw_connected()
    pub.send(mqtt_raw.publish("once/t", b"only-once", qos=2, packet_id=7))
    assert pub.expect(PUBREC).packet_id == 7
    pub.send(mqtt_raw.publish("once/t", b"only-once", qos=2, packet_id=7, dup=True))
    assert pub.expect(PUBREC).packet_id == 7, \
        "a re-sent PUBLISH with the same id before PUBREL is answered with PUBREC [MQTT-4.3.3-2]"
    pub.send(mqtt_raw.pubrel(7))
    assert pub.expect(PUBCOMP).packet_id == 7
    pub.publish("once/t", b"end", qos=2)  # the sentinel, from the same client on the same topic
    got = sub.receive_until("once/t", b"end")
    assert [p.payload for p in got] == [b"only-once"], \
        f"the duplicate PUBLISH must not be delivered again [MQTT-4.3.3-2], got {got}"
    assert not got[0].dup, "DUP is not propagated to subscribers [MQTT-3.3.1-3]"


def test_qos2_packet_id_reusable_after_pubcomp(broker, clients):
    sub = clients.raw_connected()
    sub.subscribe([("reuse/t", 2)])
    pub = clients.raw_connected()
    for payload in (b"first", b"second"):
        pub.send(mqtt_raw.publish("reuse/t", payload, qos=2, packet_id=9))
        assert pub.expect(PUBREC).packet_id == 9
        pub.send(mqtt_raw.pubrel(9))
        assert pub.expect(PUBCOMP).packet_id == 9
    got = [sub.receive_publish().payload, sub.receive_publish().payload]
    assert got == [b"first", b"second"], \
        f"after PUBCOMP the same id is a new publication [MQTT-4.3.3-2], got {got}"


def test_inflight_window_limits_unacknowledged_qos1_messages(make_broker, clients):
    b = make_broker(max_inflight=2)
    sub = clients.raw_connected(b)
    sub.subscribe([("win/t", 1)])
    pub = clients.raw_connected(b)
    for i in range(5):
        pub.publish("win/t", b"m%d" % i, qos=1)
    first = sub.receive_publish(ack=False)
    second = sub.receive_publish(ack=False)
    assert [first.payload, second.payload] == [b"m0", b"m1"], [first, second]
    sub.expect_nothing(0.5)  # max_inflight=2: nothing more until an acknowledgement
    unacked = [first, second]
    received = [b"m0", b"m1"]
    for _ in range(3):
        sub.send(mqtt_raw.puback(unacked.pop(0).packet_id))
        nxt = sub.receive_publish(ack=False)
        unacked.append(nxt)
        received.append(nxt.payload)
    assert received == [b"m0", b"m1", b"m2", b"m3", b"m4"], \
        f"each PUBACK releases the next message, in order [MQTT-4.6.0-6], got {received}"
    for p in unacked:
        sub.send(mqtt_raw.puback(p.packet_id))
    sub.ping()


def test_unacknowledged_qos1_resent_with_dup_when_persistent_session_reconnects(broker, clients):
    cid = unique_id("redo1")
    sub = clients.raw_connected(client_id=cid, clean=False)
    sub.subscribe([("redo/q1", 1)])
    pub = clients.raw_connected()
    pub.publish("redo/q1", b"unacked", qos=1)
    original = sub.receive_publish(ack=False)
    sub.close()  # no PUBACK, no DISCONNECT
    again = clients.raw()
    ack = again.connect(cid, clean=False)
    assert (ack.return_code, ack.session_present) == (0, True), f"[MQTT-3.2.2-2], got {ack}"
    resent = again.receive_publish(ack=False)
    assert (resent.payload, resent.packet_id, resent.qos) == \
        (b"unacked", original.packet_id, 1), \
        f"unacknowledged PUBLISH re-sent with its original id [MQTT-4.4.0-1], got {resent}"
    assert resent.dup, f"a re-delivered PUBLISH has DUP=1 [MQTT-3.3.1-1], got {resent}"
    again.send(mqtt_raw.puback(resent.packet_id))
    again.ping()


def test_unacknowledged_qos2_resent_with_dup_when_persistent_session_reconnects(broker, clients):
    cid = unique_id("redo2")
    sub = clients.raw_connected(client_id=cid, clean=False)
    sub.subscribe([("redo/q2", 2)])
    pub = clients.raw_connected()
    pub.publish("redo/q2", b"no-pubrec", qos=2)
    original = sub.receive_publish(ack=False)
    sub.close()
    again = clients.raw()
    assert again.connect(cid, clean=False).session_present
    resent = again.receive_publish(ack=False)
    assert (resent.payload, resent.packet_id, resent.qos, resent.dup) == \
        (b"no-pubrec", original.packet_id, 2, True), \
        f"QoS 2 PUBLISH re-sent with original id and DUP=1 [MQTT-4.4.0-1] [MQTT-3.3.1-1], got {resent}"
    again.send(mqtt_raw.pubrec(resent.packet_id))
    rel = again.expect(PUBREL)
    again.send(mqtt_raw.pubcomp(rel.packet_id))
    again.ping()


def test_unacknowledged_pubrel_resent_when_persistent_session_reconnects(broker, clients):
    cid = unique_id("redorel")
    sub = clients.raw_connected(client_id=cid, clean=False)
    sub.subscribe([("redo/rel", 2)])
    pub = clients.raw_connected()
    pub.publish("redo/rel", b"half-done", qos=2)
    got = sub.receive_publish(ack=False)
    sub.send(mqtt_raw.pubrec(got.packet_id))
    rel = sub.expect(PUBREL)
    sub.close()  # no PUBCOMP
    again = clients.raw()
    assert again.connect(cid, clean=False).session_present
    again.subscribe([("redo/end", 0)])
    resent = again.expect_any((PUBLISH, PUBREL), timeout=5)
    assert (resent.type, resent.packet_id) == (PUBREL, rel.packet_id), \
        f"the unacknowledged PUBREL is re-sent with its id, not the PUBLISH [MQTT-4.4.0-1], got {resent}"
    again.send(mqtt_raw.pubcomp(resent.packet_id))
    pub.publish("redo/end", b"end", qos=0)
    assert again.receive_until("redo/end", b"end") == [], "the message is not delivered twice"


def test_qos1_messages_from_one_client_arrive_in_order(broker, clients):
    sub = clients.raw_connected()
    sub.subscribe([("order/t", 1)])
    pub = clients.raw_connected()
    n = 50
    ids = []
    for i in range(n):  # pipelined: all sent before any PUBACK is read
        pid = pub.next_packet_id()
        ids.append(pid)
        pub.send(mqtt_raw.publish("order/t", b"%03d" % i, qos=1, packet_id=pid))
    for pid in ids:
        pub.expect(PUBACK, packet_id=pid)
    got = [sub.receive_publish().payload for _ in range(n)]
    assert got == [b"%03d" % i for i in range(n)], \
        f"PUBLISHes forwarded in the order received from the client [MQTT-4.6.0-6], got {got}"


@pytest.mark.time_limit(30)
def test_fan_out_to_subscribers_on_several_workers(make_broker, clients):
    b = make_broker(workers=2)
    subs = [clients.raw_connected(b) for _ in range(6)]
    for s in subs:
        s.subscribe([("fan/t", 1)])
    pub = clients.raw_connected(b)
    for i in range(20):
        pub.publish("fan/t", b"%02d" % i, qos=1)
    expected = [b"%02d" % i for i in range(20)]
    for n, s in enumerate(subs):
        got = [s.receive_publish().payload for _ in range(20)]
        assert got == expected, f"subscriber {n} got every message once, in order: {got}"


def test_large_payload_round_trip(broker, clients):
    payload = bytes(range(256)) * 1024  # 256 KiB, several TCP reads on each side
    sub = clients.raw_connected()
    sub.subscribe([("big/t", 1)])
    pub = clients.raw_connected()
    pub.publish("big/t", payload, qos=1)
    got = sub.receive_publish(timeout=10)
    assert got.payload == payload, f"payload of {len(got.payload)} bytes differs"


def test_paho_qos2_round_trip(broker, clients):
    sub = clients.paho()
    assert sub.subscribe("paho/q2", qos=2) == (2,)
    pub = clients.paho()
    pub.publish("paho/q2", b"via paho", qos=2)
    m = sub.get_message()
    assert (m.topic, m.payload, m.qos, m.retain) == ("paho/q2", b"via paho", 2, False), \
        (m.topic, m.payload, m.qos, m.retain)
