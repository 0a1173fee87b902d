"""$SYS topics: with sys_interval=1 the broker publishes (retained) its version, uptime and
counters under the same names as mosquitto, and the values follow what happens."""

import re
import time

import pytest

import mqtt_raw

SYS_TOPICS = [
    "$SYS/broker/version",
    "$SYS/broker/uptime",
    "$SYS/broker/clients/connected",
    "$SYS/broker/clients/total",
    "$SYS/broker/messages/received",
    "$SYS/broker/messages/sent",
    "$SYS/broker/bytes/received",
    "$SYS/broker/bytes/sent",
    "$SYS/broker/subscriptions/count",
    "$SYS/broker/retained messages/count",
]


def number(payload: bytes) -> int:
    """The leading integer of a $SYS value ("12", or mosquitto's "12 seconds")."""
    m = re.match(rb"\s*(\d+)", payload)
    assert m, f"not a number: {payload!r}"
    return int(m.group(1))


class SysWatcher:
    """A raw client subscribed to $SYS/#, keeping the latest value of each topic."""

    def __init__(self, client: mqtt_raw.RawClient):
        self.client = client
        self.latest: dict[str, bytes] = {}
        client.subscribe([("$SYS/#", 0)])

    def wait(self, topic: str, predicate=lambda v: True, timeout: float = 5.0) -> bytes:
        """Reads $SYS publications until `topic`'s latest value satisfies `predicate`."""
        deadline = time.monotonic() + timeout
        while topic not in self.latest or not predicate(self.latest[topic]):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"{topic} never satisfied the condition within {timeout:g} s; "
                                     f"last value {self.latest.get(topic)!r}")
            try:
                p = self.client.receive_publish(timeout=remaining)
            except mqtt_raw.Timeout:
                continue
            self.latest[p.topic] = p.payload
        return self.latest[topic]


@pytest.fixture
def sys_watcher(make_broker, clients):
    b = make_broker(sys_interval=1)
    return b, SysWatcher(clients.raw_connected(b))


def test_sys_topics_are_published(sys_watcher):
    _, w = sys_watcher
    for topic in SYS_TOPICS:
        w.wait(topic)
    assert w.latest["$SYS/broker/version"].strip(), "version is not empty"
    for topic in SYS_TOPICS[1:]:
        assert number(w.latest[topic]) >= 0, f"{topic} = {w.latest[topic]!r}"


def test_sys_uptime_increases(sys_watcher):
    _, w = sys_watcher
    first = number(w.wait("$SYS/broker/uptime"))
    later = number(w.wait("$SYS/broker/uptime", lambda v: number(v) > first, timeout=4))
    assert later > first


def test_sys_clients_connected_follows_connections(sys_watcher, clients):
    b, w = sys_watcher
    base = number(w.wait("$SYS/broker/clients/connected", lambda v: number(v) >= 1))
    extra = [clients.raw_connected(b) for _ in range(3)]
    w.wait("$SYS/broker/clients/connected", lambda v: number(v) == base + 3, timeout=5)
    total = number(w.wait("$SYS/broker/clients/total", lambda v: number(v) >= base + 3))
    assert total >= base + 3, "clients/total counts connected clients too"
    for c in extra:
        c.disconnect()
    w.wait("$SYS/broker/clients/connected", lambda v: number(v) == base, timeout=5)


def test_sys_message_counters_grow_with_traffic(sys_watcher, clients):
    b, w = sys_watcher
    received = number(w.wait("$SYS/broker/messages/received"))
    sent = number(w.wait("$SYS/broker/messages/sent"))
    bytes_received = number(w.wait("$SYS/broker/bytes/received"))
    sub = clients.raw_connected(b)
    sub.subscribe([("sysc/t", 1)])
    pub = clients.raw_connected(b)
    for i in range(10):
        pub.publish("sysc/t", b"x" * 100, qos=1)
    for _ in range(10):
        sub.receive_publish()
    w.wait("$SYS/broker/messages/received", lambda v: number(v) >= received + 10)
    w.wait("$SYS/broker/messages/sent", lambda v: number(v) >= sent + 10)
    w.wait("$SYS/broker/bytes/received", lambda v: number(v) >= bytes_received + 1000)


def test_sys_subscription_and_retained_counts(sys_watcher, clients):
    b, w = sys_watcher
    subs = number(w.wait("$SYS/broker/subscriptions/count"))
    retained = number(w.wait("$SYS/broker/retained messages/count"))
    c = clients.raw_connected(b)
    c.subscribe([("sysn/a", 0), ("sysn/b", 0), ("sysn/+", 0)])
    for t in ("sysn/r1", "sysn/r2", "sysn/r3"):
        c.publish(t, b"kept", qos=1, retain=True)
    w.wait("$SYS/broker/subscriptions/count", lambda v: number(v) >= subs + 3)
    w.wait("$SYS/broker/retained messages/count", lambda v: number(v) >= retained + 3)


def test_sys_messages_are_retained(make_broker, clients):
    b = make_broker(sys_interval=1)
    first = SysWatcher(clients.raw_connected(b))
    first.wait("$SYS/broker/uptime")
    late = clients.raw_connected(b)
    late.subscribe([("$SYS/broker/version", 0)])
    got = late.receive_publish(timeout=3)
    assert (got.topic, got.retain) == ("$SYS/broker/version", True), \
        f"$SYS values are retained, so a new subscriber gets them at once: {got}"


@pytest.mark.hermod_only("sys_interval = 0 semantics (off) of Hermod's configuration")
def test_sys_interval_zero_publishes_nothing(make_broker, clients):
    b = make_broker(sys_interval=1)
    SysWatcher(clients.raw_connected(b)).wait("$SYS/broker/uptime")
    b.restart(sys_interval=0)  # same port, new process: no retained $SYS values survive
    c = clients.raw_connected(b)
    c.subscribe([("$SYS/#", 0)])
    c.expect_nothing(2.0)  # two would-be intervals
