"""A Node.js script driven over JSON lines: commands on its stdin, one JSON answer per line on
its stdout, its stderr kept in a file for failure messages. The browser drivers of
test_websocket (ws_broker.BrowserDriver, js/browser.mjs) and test_dashboard (js/dashboard.mjs)
are built on it."""
from __future__ import annotations

import json
import os
import pathlib
import queue
import subprocess
import threading
import time
from typing import Any, Optional


class NodeDriver:
    def __init__(self, name: str, script: pathlib.Path, options: dict[str, Any], log_path: pathlib.Path,
                 node: str = "node", env: Optional[dict[str, str]] = None):
        self.name = name
        self.log_path = log_path
        self._log = open(log_path, "wb")
        self.proc = subprocess.Popen([node, str(script), json.dumps(options)], cwd=script.parent,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log, text=True,
                                     bufsize=1, env=env if env is not None else dict(os.environ))
        self._lines: "queue.Queue[Optional[str]]" = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self._lines.put(line)
        self._lines.put(None)

    def send(self, message: dict[str, Any]) -> None:
        self.proc.stdin.write(json.dumps(message) + "\n")
        self.proc.stdin.flush()

    def reply(self, timeout: float, what: str) -> dict[str, Any]:
        """The next JSON line (other lines are the script's chatter), within `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no answer from the {self.name} driver within {timeout:g} s ({what})\n"
                                     f"{self.stderr()}")
            try:
                line = self._lines.get(timeout=remaining)
            except queue.Empty:
                continue
            if line is None:
                raise AssertionError(f"the {self.name} driver exited ({what}):\n{self.stderr()}")
            if line.startswith("{"):
                return json.loads(line)

    def stderr(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")[-3000:]

    def close(self, quit_message: dict[str, Any], wait: float = 10) -> None:
        """Asks the script to quit with `quit_message`, then kills it after `wait` seconds."""
        if self.proc.poll() is None:
            try:
                self.send(quit_message)
                self.proc.stdin.close()
            except OSError:
                pass
            try:
                self.proc.wait(timeout=wait)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._reader.join(5)
        self._log.close()
