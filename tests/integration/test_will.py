"""Will messages (MQTT 3.1.1 sections 3.1.2.5–3.1.2.7, 3.14): published when the connection ends
without DISCONNECT — socket closed, keepalive expired, protocol error, session takeover — never
after DISCONNECT, and with the will's QoS and retain flag."""

import time

import pytest

import mqtt_raw
from broker_process import KEEPALIVE_1S_DEADLINE, unique_id
from mqtt_raw import MQTT_V31, MQTT_V311, Will


def _watch(clients, topic_filter: str = "will/#", qos: int = 2) -> mqtt_raw.RawClient:
    w = clients.raw_connected()
    w.subscribe([(topic_filter, qos)])
    return w


def _assert_no_will(clients, watcher, will_topic: str) -> None:
    """After the will's connection is certainly gone, the watcher gets nothing but its own
    sentinel on the will topic."""
    watcher.publish(will_topic, b"sentinel", qos=1)
    got = watcher.receive_until(will_topic, b"sentinel")
    assert got == [], f"no will message may be published [MQTT-3.14.4-3]: {got}"


@pytest.mark.parametrize("protocol", [MQTT_V31, MQTT_V311], ids=["mqtt31", "mqtt311"])
def test_will_published_when_socket_closes_without_disconnect(broker, clients, protocol):
    watcher = _watch(clients)
    c = clients.raw_connected(will=Will("will/closed", b"bye", qos=1), protocol=protocol)
    c.close()
    got = watcher.receive_publish()
    assert (got.topic, got.payload) == ("will/closed", b"bye"), \
        f"connection closed without DISCONNECT → will published [MQTT-3.1.2-8]: {got}"


def test_will_published_when_paho_client_drops_connection(broker, clients):
    watcher = _watch(clients)
    c = clients.paho(will=("will/paho", b"paho gone", 1, False))
    c.close()  # stops the network thread and closes the socket, no DISCONNECT
    got = watcher.receive_publish()
    assert (got.topic, got.payload) == ("will/paho", b"paho gone"), f"[MQTT-3.1.2-8]: {got}"


@pytest.mark.time_limit(15)
def test_will_published_on_keepalive_timeout(broker, clients):
    watcher = _watch(clients)
    c = clients.raw()
    ack = c.connect(unique_id("silent"), keepalive=1, will=Will("will/silent", b"timed out"))
    assert ack.return_code == 0
    start = time.monotonic()
    got = watcher.receive_publish(timeout=KEEPALIVE_1S_DEADLINE + 1)
    elapsed = time.monotonic() - start
    assert (got.topic, got.payload) == ("will/silent", b"timed out"), f"[MQTT-3.1.2-8]: {got}"
    assert 1.0 <= elapsed <= KEEPALIVE_1S_DEADLINE, \
        (f"keepalive 1 s: disconnect (and will) after 1.5 s of silence, not before 1 s "
         f"[MQTT-3.1.2-24]; will came after {elapsed:.2f} s")


@pytest.mark.parametrize("bad_packet", [
    pytest.param(mqtt_raw.publish("will/x", b"", qos=3, packet_id=1), id="qos3-publish"),
    pytest.param(mqtt_raw.connect("again"), id="second-connect",
                 marks=pytest.mark.hermod_only("mosquitto 2.0.11 drops the will when it closes "
                                               "a connection for a second CONNECT")),
    pytest.param(mqtt_raw.subscribe(1, [("a", 0)], flags=0), id="subscribe-bad-flags"),
])
def test_will_published_on_protocol_error(broker, clients, bad_packet):
    watcher = _watch(clients)
    c = clients.raw_connected(will=Will("will/violator", b"broke the rules"))
    c.send(bad_packet)
    assert c.wait_closed(5), "protocol violation closes the connection [MQTT-4.8.0-1]"
    got = watcher.receive_publish()
    assert (got.topic, got.payload) == ("will/violator", b"broke the rules"), \
        f"a connection closed for a protocol error publishes its will [MQTT-3.1.2-8]: {got}"


def test_will_published_on_session_takeover(broker, clients):
    watcher = _watch(clients)
    cid = unique_id("taken")
    old = clients.raw_connected(client_id=cid, will=Will("will/taken", b"replaced"))
    new = clients.raw_connected(client_id=cid)
    assert old.wait_closed(5), "[MQTT-3.1.4-2]"
    got = watcher.receive_publish()
    assert (got.topic, got.payload) == ("will/taken", b"replaced"), \
        f"the taken-over connection did not DISCONNECT, so its will is published [MQTT-3.1.2-8]: {got}"
    new.ping()


@pytest.mark.parametrize("protocol", [MQTT_V31, MQTT_V311], ids=["mqtt31", "mqtt311"])
def test_no_will_after_disconnect(broker, clients, protocol):
    watcher = _watch(clients)
    cid = unique_id("polite")
    c = clients.raw_connected(client_id=cid, will=Will("will/polite", b"must not appear", qos=1),
                              protocol=protocol)
    c.send(mqtt_raw.disconnect())
    # The server closing its end shows it has processed the DISCONNECT (3.14.4: it SHOULD
    # close). Closing our end first, or reconnecting with the same id at once, would race the
    # DISCONNECT still unread in the socket against a close or a takeover.
    assert c.wait_closed(5), "the server closes the connection after DISCONNECT (3.14.4)"
    _assert_no_will(clients, watcher, "will/polite")


def test_no_will_without_will_flag(broker, clients):
    watcher = _watch(clients, "#", 0)
    cid = unique_id("nowill")
    c = clients.raw_connected(client_id=cid)
    c.close()
    clients.raw_connected(client_id=cid).disconnect()
    watcher.publish("nowill/sentinel", b"end", qos=1)
    got = watcher.receive_until("nowill/sentinel", b"end")
    assert got == [], f"Will Flag 0 → no will is published [MQTT-3.1.2-12]: {got}"


@pytest.mark.parametrize("will_qos", [0, 1, 2])
def test_will_delivered_with_its_qos(broker, clients, will_qos):
    watcher = _watch(clients, "will/qos", 2)
    c = clients.raw_connected(will=Will("will/qos", b"q", qos=will_qos))
    c.close()
    got = watcher.receive_publish()
    assert (got.payload, got.qos) == (b"q", will_qos), \
        f"the will is published with its Will QoS [MQTT-3.1.2-14]: {got}"


def test_will_with_retain_is_retained(broker, clients):
    watcher = _watch(clients, "will/retained", 2)
    c = clients.raw_connected(will=Will("will/retained", b"last words", qos=1, retain=True))
    c.close()
    live = watcher.receive_publish()
    assert (live.payload, live.qos, live.retain) == (b"last words", 1, False), \
        f"live delivery of the will has RETAIN=0 [MQTT-3.3.1-9]: {live}"
    later = clients.raw_connected()
    later.subscribe([("will/retained", 2)])
    got = later.receive_publish()
    assert (got.payload, got.qos, got.retain) == (b"last words", 1, True), \
        f"Will Retain 1 → published as a retained message [MQTT-3.1.2-17]: {got}"


def test_will_without_retain_is_not_retained(broker, clients):
    watcher = _watch(clients, "will/plain", 1)
    c = clients.raw_connected(will=Will("will/plain", b"once", qos=1, retain=False))
    c.close()
    assert watcher.receive_publish().payload == b"once"
    later = clients.raw_connected()
    later.subscribe([("will/plain", 1), ("will/plain-end", 0)])
    later.publish("will/plain-end", b"end", qos=1)
    got = later.receive_until("will/plain-end", b"end")
    assert got == [], f"Will Retain 0 → published as a non-retained message [MQTT-3.1.2-16]: {got}"
