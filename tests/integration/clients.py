"""Clients of the three kinds the tests use, besides the raw one in mqtt_raw.py: paho-mqtt with
blocking calls that wait with deadlines, mosquitto_sub / mosquitto_pub subprocesses, and the
`Clients` factory that closes everything a test opened."""

from __future__ import annotations

import queue
import socket
import subprocess
import threading
import time
from typing import Any, Callable, Optional

import paho.mqtt.client as paho

import mqtt_raw
from broker_process import Broker, unique_id, wait_for

# --------------------------------------------------------------------------------------------
# Clients


class PahoClient:
    """paho-mqtt with its network loop on a thread, and blocking calls that wait with deadlines."""

    def __init__(self, broker: Broker, client_id: str = "", clean_session: bool = True,
                 protocol: int = paho.MQTTv311, keepalive: int = 60,
                 will: Optional[tuple[str, bytes, int, bool]] = None):
        self.broker = broker
        self.keepalive = keepalive
        self.client = paho.Client(client_id=client_id, clean_session=clean_session,
                                  protocol=protocol, reconnect_on_failure=False)
        if will is not None:
            topic, payload, qos, retain = will
            self.client.will_set(topic, payload, qos, retain)
        self.messages: "queue.Queue[paho.MQTTMessage]" = queue.Queue()
        self._lock = threading.Lock()
        self.connack: Optional[tuple[int, dict]] = None
        self.disconnected = threading.Event()
        self._subacks: dict[int, tuple] = {}
        self._unsubacks: set[int] = set()
        self.client.on_connect = self._on_connect
        self.client.on_message = lambda c, u, m: self.messages.put(m)
        self.client.on_subscribe = self._on_subscribe
        self.client.on_unsubscribe = self._on_unsubscribe
        self.client.on_disconnect = lambda c, u, rc: self.disconnected.set()

    def _on_connect(self, client, userdata, flags, rc):
        with self._lock:
            self.connack = (rc, flags)

    def _on_subscribe(self, client, userdata, mid, granted):
        with self._lock:
            self._subacks[mid] = tuple(granted)

    def _on_unsubscribe(self, client, userdata, mid):
        with self._lock:
            self._unsubacks.add(mid)

    def connect(self, timeout: float = 5.0) -> dict:
        """Connects; returns the CONNACK flags. Fails unless the return code is 0."""
        self.client.connect(self.broker.host, self.broker.port, keepalive=self.keepalive)
        self.client.loop_start()
        rc, flags = wait_for(lambda: self.connack, timeout, message="CONNACK (paho)")
        assert rc == 0, f"paho CONNECT refused with return code {rc}"
        return flags

    def subscribe(self, topic, qos: int = 0, timeout: float = 5.0) -> tuple:
        """`topic` is a filter or a list of (filter, qos); returns the granted QoS list."""
        result, mid = self.client.subscribe(topic, qos)
        assert result == paho.MQTT_ERR_SUCCESS, f"paho subscribe failed: {result}"
        return wait_for(lambda: self._subacks.get(mid), timeout, message=f"SUBACK for mid {mid}")

    def unsubscribe(self, topic, timeout: float = 5.0) -> None:
        result, mid = self.client.unsubscribe(topic)
        assert result == paho.MQTT_ERR_SUCCESS
        wait_for(lambda: mid in self._unsubacks, timeout, message=f"UNSUBACK for mid {mid}")

    def publish(self, topic: str, payload: bytes = b"", qos: int = 0, retain: bool = False,
                timeout: float = 5.0) -> None:
        """Publishes and waits until the handshake completes (QoS 0: until written)."""
        info = self.client.publish(topic, payload, qos, retain)
        info.wait_for_publish(timeout)
        assert info.is_published(), f"paho publish to {topic!r} not acknowledged in {timeout:g} s"

    def get_message(self, timeout: float = 5.0) -> paho.MQTTMessage:
        try:
            return self.messages.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no message arrived within {timeout:g} s") from None

    def messages_until(self, topic: str, payload: bytes, timeout: float = 5.0) -> list:
        """Messages received before the sentinel (`topic`, `payload`)."""
        deadline = time.monotonic() + timeout
        got = []
        while True:
            m = self.get_message(max(0.0, deadline - time.monotonic()))
            if m.topic == topic and m.payload == payload:
                return got
            got.append(m)

    def disconnect(self) -> None:
        self.client.disconnect()
        self.disconnected.wait(5.0)
        self.client.loop_stop()

    def close(self) -> None:
        """Drops the connection without a DISCONNECT and stops the network thread. Shutting the
        socket down first wakes the thread at once (else loop_stop waits out a 1 s select)."""
        sock = self.client.socket()
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.client.loop_stop()
        sock = self.client.socket()
        if sock is not None:
            try:
                sock.close()
            except OSError:
                pass


class MosquittoSub:
    """A mosquitto_sub process run with -d; its output lines are collected by a thread."""

    def __init__(self, broker: Broker, *args: str):
        self.proc = subprocess.Popen(
            # stdbuf: mosquitto_sub block-buffers stdout on a pipe; lines must arrive as printed.
            ["stdbuf", "-oL", "mosquitto_sub", "-h", broker.host, "-p", str(broker.port), "-d", *args],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True, bufsize=1)
        self.lines: list[str] = []
        self._cond = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            with self._cond:
                self.lines.append(line.rstrip("\n"))
                self._cond.notify_all()

    def wait_line(self, predicate: Callable[[str], bool], timeout: float = 5.0) -> str:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for line in self.lines:
                    if predicate(line):
                        return line
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"mosquitto_sub printed no matching line in {timeout:g} s; "
                                         f"output: {self.lines}")
                self._cond.wait(remaining)

    def wait_subscribed(self, timeout: float = 5.0) -> None:
        self.wait_line(lambda l: "received SUBACK" in l, timeout)

    def wait_exit(self, timeout: float = 5.0) -> int:
        rc = self.proc.wait(timeout=timeout)
        self._reader.join(timeout)
        return rc

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._reader.join(5)


def mosquitto_pub(broker: Broker, *args: str, timeout: float = 10.0) -> subprocess.CompletedProcess:
    return subprocess.run(["mosquitto_pub", "-h", broker.host, "-p", str(broker.port), *args],
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout)


class Clients:
    """Creates clients of the three kinds and closes them all at teardown."""

    def __init__(self, default_broker: Callable[[], Broker]):
        self._default_broker = default_broker
        self._open: list[Any] = []

    def raw(self, broker: Optional[Broker] = None, timeout: float = 5.0) -> mqtt_raw.RawClient:
        b = broker or self._default_broker()
        c = mqtt_raw.RawClient(b.host, b.port, timeout=timeout)
        self._open.append(c)
        return c

    def raw_connected(self, broker: Optional[Broker] = None, client_id: Optional[str] = None,
                      **connect_kw: Any) -> mqtt_raw.RawClient:
        """A raw client whose CONNECT was accepted (CONNACK return code 0)."""
        c = self.raw(broker)
        ack = c.connect(unique_id("raw") if client_id is None else client_id, **connect_kw)
        assert ack.return_code == 0, f"CONNECT refused: {ack} [MQTT-3.1.4-4]"
        return c

    def paho(self, broker: Optional[Broker] = None, client_id: Optional[str] = None,
             connect: bool = True, **kw: Any) -> PahoClient:
        c = PahoClient(broker or self._default_broker(),
                       unique_id("paho") if client_id is None else client_id, **kw)
        self._open.append(c)
        if connect:
            c.connect()
        return c

    def mosquitto_sub(self, *args: str, broker: Optional[Broker] = None) -> MosquittoSub:
        s = MosquittoSub(broker or self._default_broker(), *args)
        self._open.append(s)
        return s

    def close_all(self) -> None:
        for c in reversed(self._open):
            try:
                c.close()
            except Exception:  # teardown must reach every client
                pass


def round_trip(clients: Clients, broker: Broker, topic: Optional[str] = None) -> None:
    """Asserts the broker still routes: a fresh subscriber gets a fresh publisher's message."""
    topic = topic or f"alive/{unique_id()}"
    sub = clients.raw_connected(broker)
    sub.subscribe([(topic, 1)])
    pub = clients.raw_connected(broker)
    pub.publish(topic, b"ping", qos=1)
    got = sub.receive_publish()
    assert (got.topic, got.payload) == (topic, b"ping"), f"round trip failed: {got!r}"
    pub.disconnect()
    sub.disconnect()
