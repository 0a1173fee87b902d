"""Keep Alive (MQTT 3.1.1 sections 3.1.2.10, 3.12, 3.13): PINGREQ is answered, a silent client is
disconnected after 1.5 × Keep Alive but not before 1 ×, and any traffic counts as activity."""

import time

import pytest

import mqtt_raw
from broker_process import KEEPALIVE_1S_DEADLINE, unique_id
from clients import round_trip
from mqtt_raw import PINGRESP


def test_pingreq_answered_with_pingresp(broker, clients):
    c = clients.raw_connected()
    for _ in range(3):
        c.send(mqtt_raw.pingreq())
        resp = c.expect(PINGRESP)
        assert (resp.flags, resp.body) == (0, b""), \
            f"PINGRESP is 0xD0 0x00 [MQTT-3.12.4-1]: {resp}"


@pytest.mark.time_limit(15)
def test_silent_client_disconnected_after_one_and_a_half_keepalive(broker, clients):
    c = clients.raw()
    assert c.connect(unique_id("mute"), keepalive=1).return_code == 0
    start = time.monotonic()
    assert c.wait_closed(KEEPALIVE_1S_DEADLINE + 1), \
        "no packet within 1.5 × Keep Alive → server disconnects [MQTT-3.1.2-24]"
    elapsed = time.monotonic() - start
    assert 1.0 <= elapsed <= KEEPALIVE_1S_DEADLINE, \
        (f"keepalive 1 s: closed after {elapsed:.2f} s; must be after 1 s and within 1.5 s "
         f"(+ slack) of silence [MQTT-3.1.2-24]")
    round_trip(clients, broker)


@pytest.mark.time_limit(15)
def test_pingreqs_keep_connection_alive(broker, clients):
    c = clients.raw_connected(keepalive=1)
    for _ in range(6):  # 3 s, twice the keepalive window
        c.expect_nothing(0.5)  # paces the pings; asserts nothing (not even a close) arrives
        c.ping()
    assert not c.closed


@pytest.mark.time_limit(15)
def test_publishes_count_as_keepalive_activity(broker, clients):
    sub = clients.raw_connected()
    sub.subscribe([("ka/busy", 0)])
    c = clients.raw_connected(keepalive=1)
    for i in range(6):
        c.expect_nothing(0.5)
        c.send(mqtt_raw.publish("ka/busy", b"%d" % i, qos=0))
    got = [sub.receive_publish().payload for _ in range(6)]
    assert got == [b"%d" % i for i in range(6)], got
    c.ping()


def test_keepalive_zero_disables_timeout_for_that_client(broker, clients):
    c = clients.raw_connected(keepalive=0)
    c.expect_nothing(2.0)  # would exceed 1.5 × any non-zero keepalive of 1 s
    c.ping()
