"""systemd's side of sd_notify(3) for tests: the socket a Type=notify service reports to."""
from __future__ import annotations

import itertools
import os
import socket

_sockets = itertools.count(1)


class NotifySocket:
    """systemd's side of sd_notify: a unix datagram socket (in the abstract namespace, so no
    path length limit) whose datagrams are the broker's notifications."""

    def __init__(self):
        self.name = f"@hermod-test-{os.getpid()}-{next(_sockets)}"
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind("\0" + self.name[1:])

    def next(self, timeout: float = 10.0) -> dict[str, str]:
        """The next notification as a dict of its KEY=VALUE lines."""
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(4096)
        except socket.timeout:
            raise AssertionError(f"no sd_notify message within {timeout:g} s") from None
        return dict(line.split("=", 1) for line in data.decode().splitlines())

    def close(self):
        self.sock.close()
