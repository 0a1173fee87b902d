"""Smoke tests with the stock command-line clients: mosquitto_sub and mosquitto_pub talk through
the broker."""

from clients import mosquitto_pub


def test_mosquitto_sub_receives_mosquitto_pub_message(broker, clients):
    sub = clients.mosquitto_sub("-t", "#", "-v", "-C", "1", "-W", "10")
    sub.wait_subscribed()
    done = mosquitto_pub(broker, "-t", "a/b", "-m", "hi")
    assert done.returncode == 0, f"mosquitto_pub failed: {done.stderr}"
    assert sub.wait_exit(10) == 0, f"mosquitto_sub did not exit cleanly: {sub.lines}"
    assert "a/b hi" in sub.lines, f"expected 'a/b hi' in mosquitto_sub output: {sub.lines}"


def test_mosquitto_pub_qos2_reaches_mosquitto_sub_qos2(broker, clients):
    sub = clients.mosquitto_sub("-t", "q/#", "-q", "2", "-v", "-C", "3", "-W", "10")
    sub.wait_subscribed()
    for i in range(3):
        done = mosquitto_pub(broker, "-t", f"q/{i}", "-m", f"m{i}", "-q", "2")
        assert done.returncode == 0, f"mosquitto_pub failed: {done.stderr}"
    assert sub.wait_exit(10) == 0, f"mosquitto_sub did not exit cleanly: {sub.lines}"
    received = [l for l in sub.lines if l.startswith("q/")]
    assert received == ["q/0 m0", "q/1 m1", "q/2 m2"], \
        f"QoS 2 messages from one publisher arrive once each, in order [MQTT-4.6.0-6]: {sub.lines}"
    assert any("received PUBLISH (d0, q2" in l for l in sub.lines), \
        f"delivered at QoS 2 = min(2, 2) [MQTT-3.8.4-6]: {sub.lines}"


def test_mosquitto_sub_gets_retained_message_published_before(broker, clients):
    done = mosquitto_pub(broker, "-t", "keep/me", "-m", "stored", "-r", "-q", "1")
    assert done.returncode == 0, done.stderr
    sub = clients.mosquitto_sub("-t", "keep/#", "-q", "1", "-v", "-C", "1", "-W", "10")
    assert sub.wait_exit(10) == 0, sub.lines
    assert "keep/me stored" in sub.lines, f"retained message delivered [MQTT-3.3.1-6]: {sub.lines}"
    assert any("received PUBLISH (d0, q1, r1" in l for l in sub.lines), \
        f"retained delivery has RETAIN=1 [MQTT-3.3.1-8]: {sub.lines}"
