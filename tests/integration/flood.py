"""A QoS 0 flood past subscribers that stop reading, and the broker's memory while it lasts: the
pieces of the memory budget test (test_memory_budget.py) and of its measurement for
docs/performance.md (bench/memory_flood.py).

* `home_worker(client_id, workers)`: the worker a client id's session lives on, as Hermod's
  LocalSessionDirectory computes it (libstdc++'s std::hash<std::string_view>, a 64-bit Murmur
  variant), so a test can put publishers and subscribers on different workers and exercise the
  batches posted between them.
* `StalledSubscriber`: a raw socket that connects, subscribes and then never reads again.
* `Flooder`: a publisher thread writing pre-encoded batches of QoS 0 PUBLISH packets as fast as
  the socket takes them, for a bounded time.
* `rss_bytes(pid)`: VmRSS from /proc/PID/status.

Everything is bounded: the flood by its duration, every socket operation by a timeout.
"""

from __future__ import annotations

import socket
import threading
import time
from typing import Optional

import mqtt_raw

_MASK = (1 << 64) - 1
_MUL = (0xC6A4A793 << 32) + 0x5BD1E995
_SEED = 0xC70F6907


def _shift_mix(v: int) -> int:
    return v ^ (v >> 47)


def std_hash(data: bytes) -> int:
    """libstdc++'s std::_Hash_bytes(data, len, 0xc70f6907) on a 64-bit target: what
    std::hash<std::string_view> returns."""
    n = len(data)
    h = (_SEED ^ (n * _MUL)) & _MASK
    end = n & ~7
    for i in range(0, end, 8):
        d = (_shift_mix((int.from_bytes(data[i:i + 8], "little") * _MUL) & _MASK) * _MUL) & _MASK
        h = ((h ^ d) * _MUL) & _MASK
    if n & 7:
        h = ((h ^ int.from_bytes(data[end:], "little")) * _MUL) & _MASK
    h = (_shift_mix(h) * _MUL) & _MASK
    return _shift_mix(h)


def home_worker(client_id: str, workers: int) -> int:
    return std_hash(client_id.encode()) % workers


def client_id_on(worker: int, workers: int, prefix: str) -> str:
    """The first client id `prefix-N` whose session lives on `worker`."""
    for n in range(1000):
        cid = f"{prefix}-{n}"
        if home_worker(cid, workers) == worker:
            return cid
    raise AssertionError(f"no client id for worker {worker} of {workers}")


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for pid {pid}")


class StalledSubscriber:
    """Connects, subscribes to `topic` at `qos` and from then on never reads its socket: the
    broker's output to it piles up in the kernel's buffers, then in the broker."""

    def __init__(self, host: str, port: int, client_id: str, topic: str, qos: int = 0,
                 rcvbuf: Optional[int] = None):
        self.client = mqtt_raw.RawClient(host, port)
        if rcvbuf:
            self.client.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.client.connect(client_id)
        self.client.subscribe([(topic, qos)])

    def close(self) -> None:
        self.client.close()


class Flooder:
    """Writes QoS 0 PUBLISHes of `payload_size` bytes to `topic`, batches of `batch` packets per
    sendall, from a thread, until `duration` seconds pass or stop() is called. A socket the
    broker stops reading blocks sendall; the thread notices the end within `tick` seconds (the
    socket's send timeout)."""

    def __init__(self, host: str, port: int, client_id: str, topic: str, payload_size: int = 1024,
                 batch: int = 256, duration: float = 20.0, tick: float = 0.2):
        self.client = mqtt_raw.RawClient(host, port)
        self.client.connect(client_id)
        self.client.sock.settimeout(tick)
        one = mqtt_raw.publish(topic, b"x" * payload_size)
        self._chunk = one * batch
        self._per_chunk = batch
        self.duration = duration
        self.sent_messages = 0
        self.sent_bytes = 0
        self.error: Optional[BaseException] = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> "Flooder":
        self.started = time.monotonic()
        self._thread.start()
        return self

    def _run(self) -> None:
        view = memoryview(self._chunk)
        deadline = self.started + self.duration
        try:
            while not self._stop.is_set() and time.monotonic() < deadline:
                # A partial send under the timeout: keep the offset so packets stay whole.
                offset = 0
                while offset < len(view) and not self._stop.is_set():
                    try:
                        offset += self.client.sock.send(view[offset:])
                    except socket.timeout:
                        if time.monotonic() >= deadline:
                            return
                self.sent_bytes += offset
                if offset == len(view):
                    self.sent_messages += self._per_chunk
        except OSError as e:
            self.error = e

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "flood thread did not stop"

    def running(self) -> bool:
        return self._thread.is_alive()

    def close(self) -> None:
        self.stop()
        self.client.close()
