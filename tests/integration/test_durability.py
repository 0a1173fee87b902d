"""Durability: once Hermod has sent PUBACK (QoS 1) or PUBREC (QoS 2), the message reaches every
persistent session that must get it, across SIGKILL and graceful restarts; QoS 2 exactly once.

The crash loop: a publisher sends numbered QoS 1 and QoS 2 messages and records which the broker
acknowledged; the broker is killed with SIGKILL at a random moment; it restarts on the same data
directory; the persistent subscriber (offline during the round, or online and receiving while the
kill happens) reconnects and drains. Every acknowledged number must arrive, QoS 2 ones once.
HERMOD_CRASH_ROUNDS sets the number of rounds (make crash-test ROUNDS=N)."""

import os
import random
import signal
import socket
import threading
import time

import pytest

import mqtt_raw
from broker_process import unique_id
from mqtt_raw import PUBACK, PUBCOMP, PUBLISH, PUBREC, PUBREL, ConnectionClosed, Timeout

pytestmark = pytest.mark.hermod_only("durability across SIGKILL is Hermod's promise; "
                                     "mosquitto's tests run with persistence off")

ROUNDS = int(os.environ.get("HERMOD_CRASH_ROUNDS", "10"))
TOPIC = "durable/n"


def data_broker(make_broker, tmp_path, **config):
    return make_broker(args=("--data-dir", str(tmp_path / "data")), **config)


def kill9(broker) -> None:
    broker.proc.send_signal(signal.SIGKILL)
    broker.proc.wait()
    broker.proc = None


class Publisher(threading.Thread):
    """Publishes numbered messages, QoS alternating 1 and 2, with up to `window` unacknowledged;
    records each number the broker acknowledged (PUBACK or PUBREC) until the connection dies."""

    def __init__(self, port: int, start_n: int, limit: int = 100_000, window: int = 16):
        super().__init__(daemon=True)
        self.port, self.next_n, self.limit, self.window = port, start_n, start_n + limit, window
        self.acked: dict[int, int] = {}  # number -> QoS
        self.sent = 0
        self.error = None

    def run(self) -> None:
        try:
            c = mqtt_raw.RawClient("127.0.0.1", self.port, timeout=2.0)
            assert c.connect(unique_id("pub"), clean=True).return_code == 0
            outstanding: dict[int, tuple[int, int]] = {}  # packet id -> (number, qos)
            pid = 0
            while self.next_n < self.limit:
                while len(outstanding) < self.window and self.next_n < self.limit:
                    n, qos = self.next_n, 1 + self.next_n % 2
                    pid = pid % 65535 + 1
                    c.send(mqtt_raw.publish(TOPIC, str(n).encode(), qos=qos, packet_id=pid))
                    outstanding[pid] = (n, qos)
                    self.next_n += 1
                    self.sent += 1
                p = c.expect_any((PUBACK, PUBREC, PUBCOMP), 2.0)
                if p.type == PUBACK or p.type == PUBREC:
                    n, qos = outstanding[p.packet_id]
                    self.acked[n] = qos
                    if p.type == PUBREC:
                        c.send(mqtt_raw.pubrel(p.packet_id))
                    else:
                        del outstanding[p.packet_id]
                else:
                    del outstanding[p.packet_id]
        except (ConnectionClosed, Timeout, OSError, ConnectionError) as e:
            self.error = e  # the broker was killed: expected


class Subscriber:
    """A persistent-session subscriber that keeps its QoS 2 receiver state (ids awaiting PUBREL)
    across reconnects, as a client must, and counts every number delivered to it."""

    def __init__(self, client_id: str):
        self.client_id = client_id
        self.received: dict[int, int] = {}  # number -> times delivered
        self.qos2_pending: set[int] = set()
        self.client = None
        self.lock = threading.Lock()

    def connect(self, port: int, subscribe: bool = False) -> bool:
        self.client = mqtt_raw.RawClient("127.0.0.1", port, timeout=5.0)
        ack = self.client.connect(self.client_id, clean=False)
        assert ack.return_code == 0, ack
        if subscribe:
            self.client.subscribe([(TOPIC, 2)])
        return ack.session_present

    def _handle(self, p) -> None:
        c = self.client
        if p.type == PUBREL:
            self.qos2_pending.discard(p.packet_id)
            c.send(mqtt_raw.pubcomp(p.packet_id))
            return
        n = int(p.payload)
        if p.qos == 2:
            # Delivered on first receipt; a resend of an id awaiting PUBREL is the same message.
            if p.packet_id not in self.qos2_pending:
                self.qos2_pending.add(p.packet_id)
                with self.lock:
                    self.received[n] = self.received.get(n, 0) + 1
            c.send(mqtt_raw.pubrec(p.packet_id))
        else:
            with self.lock:
                self.received[n] = self.received.get(n, 0) + 1
            c.send(mqtt_raw.puback(p.packet_id))

    def drain(self, idle: float, deadline: float) -> None:
        """Handles packets until none came for `idle` seconds or `deadline` passed."""
        end = time.monotonic() + deadline
        while time.monotonic() < end:
            try:
                p = self.client.expect_any((PUBLISH, PUBREL), idle)
            except Timeout:
                return
            except (ConnectionClosed, OSError):
                return
            try:
                self._handle(p)
            except OSError:  # the broker was killed while this client answered
                return

    def close(self) -> None:
        if self.client:
            self.client.close()


def check(acked: dict[int, int], sub: Subscriber, round_no: int) -> None:
    missing = sorted(n for n in acked if n not in sub.received)
    assert not missing, (f"round {round_no}: {len(missing)} acknowledged messages lost after "
                         f"SIGKILL (first: {missing[:10]})")
    twice = sorted(n for n, count in sub.received.items() if count > 1 and n % 2 == 1)
    assert not twice, f"round {round_no}: QoS 2 messages delivered more than once: {twice[:10]}"


@pytest.mark.time_limit(300)
def test_acknowledged_messages_survive_sigkill(make_broker, tmp_path):
    rng = random.Random(int(os.environ.get("HERMOD_CRASH_SEED", time.time_ns() % 1_000_000)))
    # The offline queue must hold every round's messages: a full queue drops the newest by
    # policy (max_queued_messages), which is not what this test is about.
    b = data_broker(make_broker, tmp_path, workers=2, max_queued_messages=10_000_000)
    sub = Subscriber(unique_id("durable"))
    sub.connect(b.port, subscribe=True)
    sub.client.disconnect(wait=True)
    acked: dict[int, int] = {}
    next_n = 0
    for round_no in range(ROUNDS):
        online = rng.random() < 0.5
        reader = None
        if online:
            sub.connect(b.port)
            reader = threading.Thread(target=sub.drain, args=(5.0, 10.0), daemon=True)
            reader.start()
        pub = Publisher(b.port, next_n)
        pub.start()
        # Kill once something was acknowledged, at a random moment.
        deadline = time.monotonic() + 5
        while not pub.acked and pub.is_alive() and time.monotonic() < deadline:
            time.sleep(0.005)
        time.sleep(rng.uniform(0.0, 0.3))
        kill9(b)
        pub.join(10)
        if reader:
            reader.join(15)
            sub.close()
        assert pub.acked, f"round {round_no}: nothing acknowledged before the kill ({pub.error})"
        acked.update(pub.acked)
        next_n = pub.next_n
        b.start()
        assert sub.connect(b.port), f"round {round_no}: persistent session lost after SIGKILL"
        sub.drain(idle=1.0, deadline=30.0)
        sub.client.disconnect(wait=True)
        check(acked, sub, round_no)
    assert len(acked) > ROUNDS, "each round acknowledged messages"


def gated_pair(make_broker, tmp_path, ack_on_delivery_ms: int, topic: str):
    """A one-worker broker with a store and `ack_on_delivery_ms`, a persistent QoS 1 subscriber of
    `topic` (acknowledging nothing by itself) and a publisher: (broker, subscriber id, sub, pub)."""
    b = data_broker(make_broker, tmp_path, workers=1, ack_on_delivery_ms=ack_on_delivery_ms)
    cid = unique_id("gsub")
    sub = mqtt_raw.RawClient("127.0.0.1", b.port)
    sub.connect(cid, clean=False)
    sub.subscribe([(topic, 1)])
    pub = mqtt_raw.RawClient("127.0.0.1", b.port)
    pub.connect(unique_id("gpub"))
    return b, cid, sub, pub


def test_puback_waits_for_the_subscribers_puback_or_the_store(make_broker, tmp_path):
    """Acknowledgement on delivery: a QoS 1 message sent at once to an online persistent subscriber
    is acknowledged to its publisher as soon as the subscriber acknowledges it (nothing left to
    lose, nothing written) or, when the subscriber has not within store.ack_on_delivery_ms, once
    the message is written: then it survives a SIGKILL and is resent with DUP."""
    b, cid, sub, pub = gated_pair(make_broker, tmp_path, 1500, "durable/gate")

    pub.send(mqtt_raw.publish("durable/gate", b"acked", qos=1, packet_id=1))
    first = sub.expect(PUBLISH, timeout=5)
    pub.expect_nothing(0.3)  # the subscriber has not acknowledged it, nor is it stored yet
    sub.send(mqtt_raw.puback(first.packet_id))
    pub.expect(PUBACK, timeout=1.0, packet_id=1)  # follows the subscriber's, well before 1.5 s

    pub.send(mqtt_raw.publish("durable/gate", b"unacked", qos=1, packet_id=2))
    second = sub.expect(PUBLISH, timeout=5)
    pub.expect_nothing(0.3)
    pub.expect(PUBACK, timeout=5, packet_id=2)  # after the wait: written, then acknowledged
    sub.close()
    pub.close()
    kill9(b)
    b.start()
    again = mqtt_raw.RawClient("127.0.0.1", b.port)
    assert again.connect(cid, clean=False).session_present
    p = again.expect(PUBLISH, timeout=5)
    assert (p.payload, p.dup, p.packet_id) == (b"unacked", True, second.packet_id), p
    again.send(mqtt_raw.puback(p.packet_id))
    again.expect_nothing(0.5)  # the acknowledged one is not resent


def test_held_acknowledgements_keep_publish_order(make_broker, tmp_path):
    """[MQTT-4.6.0-2] PUBACKs go out in the order of their PUBLISHes, even when an earlier one
    waits for a subscriber and a later one waits for nothing."""
    _, _, sub, pub = gated_pair(make_broker, tmp_path, 800, "durable/order")
    pub.send(mqtt_raw.publish("durable/order", b"held", qos=1, packet_id=1))
    pub.send(mqtt_raw.publish("durable/nobody", b"free", qos=1, packet_id=2))
    sub.expect(PUBLISH, timeout=5)  # not acknowledged
    pub.expect_nothing(0.3)
    acks = [pub.expect(PUBACK, timeout=5).packet_id for _ in range(2)]
    assert acks == [1, 2], acks


def test_ack_on_delivery_off_acknowledges_once_stored(make_broker, tmp_path):
    _, _, sub, pub = gated_pair(make_broker, tmp_path, 0, "durable/nogate")
    pub.send(mqtt_raw.publish("durable/nogate", b"x", qos=1, packet_id=7))
    sub.expect(PUBLISH, timeout=5)  # never acknowledged by the subscriber
    pub.expect(PUBACK, timeout=2, packet_id=7)


def test_retained_messages_survive_sigkill(make_broker, tmp_path):
    b = data_broker(make_broker, tmp_path)
    c = mqtt_raw.RawClient("127.0.0.1", b.port)
    c.connect(unique_id("ret"))
    for i in range(20):
        c.publish(f"durable/retained/{i % 5}", f"v{i}".encode(), qos=1, retain=True)
    c.publish("durable/retained/gone", b"x", qos=1, retain=True)
    c.publish("durable/retained/gone", b"", qos=1, retain=True)  # deleted
    c.close()
    kill9(b)
    b.start()
    s = mqtt_raw.RawClient("127.0.0.1", b.port)
    s.connect(unique_id("reader"))
    s.subscribe([("durable/retained/#", 1)])
    got = {}
    for _ in range(5):
        p = s.receive_publish(timeout=5)
        got[p.topic] = p.payload
    assert got == {f"durable/retained/{k}": f"v{15 + k}".encode() for k in range(5)}, got
    s.expect_nothing(0.3)  # "gone" was deleted before the kill


def test_inflight_qos2_exactly_once_across_graceful_restart(make_broker, tmp_path):
    b = data_broker(make_broker, tmp_path)
    sub = mqtt_raw.RawClient("127.0.0.1", b.port)
    cid = unique_id("inflight")
    sub.connect(cid, clean=False)
    sub.subscribe([("durable/q2", 2)])
    pub = mqtt_raw.RawClient("127.0.0.1", b.port)
    pub.connect(unique_id("p"))
    pub.publish("durable/q2", b"once", qos=2)
    first = sub.receive_publish(ack=False)  # received, PUBREC not sent: in flight at the stop
    assert first.payload == b"once"
    sub.close()
    pub.close()
    t0 = time.monotonic()
    b.restart()
    assert time.monotonic() - t0 < 8, "graceful restart within a few seconds"
    again = mqtt_raw.RawClient("127.0.0.1", b.port)
    ack = again.connect(cid, clean=False)
    assert ack.session_present, "persistent session survives a graceful restart"
    p = again.expect(PUBLISH, timeout=5)
    assert p.payload == b"once" and p.dup and p.packet_id == first.packet_id, \
        f"[MQTT-4.4.0-1] the in-flight QoS 2 message is resent with DUP and its packet id: {p}"
    again.send(mqtt_raw.pubrec(p.packet_id))
    rel = again.expect(PUBREL, timeout=5)
    again.send(mqtt_raw.pubcomp(rel.packet_id))
    again.expect_nothing(0.3)


def test_session_expiry_counts_down_across_restart(make_broker, tmp_path):
    import mqtt5_raw
    b = data_broker(make_broker, tmp_path)
    short, long_ = unique_id("short"), unique_id("long")
    for cid, expiry in ((short, 1), (long_, 600)):
        c = mqtt5_raw.RawClient5("127.0.0.1", b.port)
        c.connect(cid, clean_start=True, props=[(mqtt5_raw.SESSION_EXPIRY_INTERVAL, expiry)])
        c.disconnect()
    b.restart()
    time.sleep(1.5)  # the 1 s session expires while the broker runs after the restart
    for cid, present in ((short, False), (long_, True)):
        c = mqtt5_raw.RawClient5("127.0.0.1", b.port)
        ack = c.connect(cid, clean_start=False, props=[(mqtt5_raw.SESSION_EXPIRY_INTERVAL, 600)])
        assert ack.session_present == present, \
            f"{cid}: session expiry counted across the restart (present={ack.session_present})"
        c.disconnect()


def test_unusable_store_stops_startup_with_advice(make_broker, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "CURRENT").write_text("garbage\n")  # not a RocksDB store
    import subprocess
    from broker_process import hermod_bin, free_port
    r = subprocess.run([str(hermod_bin()), "-p", str(free_port()), "--data-dir", str(data)],
                       capture_output=True, text=True, timeout=20)
    assert r.returncode == 1, r.stderr
    assert "cannot open store" in r.stderr and str(data) in r.stderr, r.stderr
    b = make_broker(args=("--data-dir", str(data), "--store-reset"))
    assert "moved the old store to" in b.stderr_text()
    assert any(p.name.startswith("data.bad-") for p in tmp_path.iterdir())


def test_locked_store_names_the_other_hermod(make_broker, tmp_path):
    import subprocess
    from broker_process import hermod_bin, free_port
    data_broker(make_broker, tmp_path)
    r = subprocess.run([str(hermod_bin()), "-p", str(free_port()), "--data-dir", str(tmp_path / "data")],
                       capture_output=True, text=True, timeout=20)
    assert r.returncode == 1 and "another hermod" in r.stderr, r.stderr


@pytest.fixture
def small_filesystem(tmp_path):
    """A 24 MiB tmpfs (needs root; skipped otherwise), grown to 128 MiB by calling the result."""
    import subprocess
    mount = tmp_path / "small"
    mount.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", str(mount)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a size-limited tmpfs here: {r.stderr.strip()}")

    def grow():
        subprocess.run(["mount", "-o", "remount,size=128m", str(mount)], check=True)

    try:
        yield mount, grow
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)


@pytest.mark.time_limit(120)
def test_full_disk_refuses_acknowledgements_and_loses_none(make_broker, small_filesystem):
    mount, grow = small_filesystem
    b = make_broker(args=("--data-dir", str(mount / "data")))
    sub = mqtt_raw.RawClient("127.0.0.1", b.port)
    cid = unique_id("fullsub")
    sub.connect(cid, clean=False)
    sub.subscribe([("durable/full", 1)])
    sub.disconnect(wait=True)

    payload = os.urandom(48 * 1024)
    pub = mqtt_raw.RawClient("127.0.0.1", b.port, timeout=5.0)
    pub.connect(unique_id("fullpub"))
    acked = 0
    refused = None
    for n in range(2000):  # 24 MiB fills long before 2000 × 48 KiB
        try:
            pub.publish("durable/full", n.to_bytes(4, "big") + payload, qos=1)
        except (Timeout, ConnectionClosed, OSError) as e:
            refused = e
            break
        acked += 1
    assert refused is not None, "the disk never filled"
    assert acked > 0
    assert b.alive, "a full disk does not crash the broker"
    assert "store write failed" in b.stderr_text(), "the failed write is logged as an error"

    # Room again: every acknowledged message is there after a restart, none was acknowledged
    # without being stored.
    grow()
    b.restart()
    again = mqtt_raw.RawClient("127.0.0.1", b.port, timeout=10.0)
    assert again.connect(cid, clean=False).session_present
    got = set()
    while len(got) < acked:
        p = again.receive_publish(timeout=10)
        got.add(int.from_bytes(p.payload[:4], "big"))
    assert got >= set(range(acked)), f"acknowledged messages lost on a full disk: {sorted(set(range(acked)) - got)[:10]}"
