"""Brokers with a topic ACL, for test_acl.py: an acl_file in Mosquitto's format next to the
configuration, a password file, and reloads that wait until the broker applies the new rules.
Test modules load it as a plugin (`pytest_plugins = ["acl_broker"]`) for the `make_acl_broker`
fixture; `start_acl_broker` also serves module-scoped brokers.

Both brokers run from the same ACL text: Hermod reads `[auth] acl_file` (named relative to the
configuration's directory while the broker runs in another working directory, so every test
also checks that the path is resolved against the configuration file), mosquitto reads
`acl_file` (an absolute path). The password file is written by `hermod passwd` (SCRAM entries)
for Hermod and by Debian's `mosquitto_passwd -U` ($7$ entries) for mosquitto, or by
`mosquitto_passwd` for Hermod too when a test asks for `password_tool="mosquitto"`.

Reloads do not depend on the wording of the broker's log: every ACL file written here ends with
a probe rule, `pattern write acl-probe/<generation>/%u`, whose generation counts the files
written. After a reload the probe user publishes (MQTT 5, QoS 1) to the new generation's topic
until the PUBACK's reason code says it is allowed (below 0x80): from then on the new file is in
force. Rules are never checked with that user or those topics, so the probe grants nothing a
test looks at. Lines of a test's text keep their numbers (the probe comes after them).

PYTEST_DONT_REWRITE
"""

from __future__ import annotations

import itertools
import os
import pathlib
import signal
import subprocess
import time
from typing import Any, Optional

import pytest

from auth_broker import set_user
from broker_process import (DEFAULT_CONFIG, IS_MOSQUITTO, Broker, free_port, hermod_toml,
                            mosquitto_conf, unique_id, wait_for)
from mqtt5_raw import RawClient5

ACL_FILE = "topics.acl"
PASSWORD_FILE = "users.pw"
PROBE_USER = "acl-probe"
PROBE_PASSWORD = "probe password"
RELOAD_DEADLINE = 5.0


def acl_text(text: str, generation: int) -> str:
    """The file as written: the test's lines, then the reload probe of `generation`."""
    if text and not text.endswith("\n"):
        text += "\n"
    return (text + f"\n# reload probe (acl_broker.py), generation {generation}\n"
            f"pattern write acl-probe/{generation}/%u\n")


def write_password_file(path: pathlib.Path, users: dict[str, str], tool: str) -> None:
    """Writes `users` (name → password) with `hermod passwd` (tool="hermod") or
    `mosquitto_passwd -U` (tool="mosquitto")."""
    if tool == "mosquitto":
        # -U hashes a file of plain `name:password` lines in place, all in one process.
        path.write_text("".join(f"{u}:{p}\n" for u, p in users.items()))
        done = subprocess.run(["mosquitto_passwd", "-U", str(path)], stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, timeout=30)
        assert done.returncode == 0, f"mosquitto_passwd -U: {done.stderr}"
        assert all(line.split(":", 1)[1].startswith("$7$")
                   for line in path.read_text().splitlines()), path.read_text()
        return
    assert tool == "hermod", tool
    path.touch()
    for user, password in users.items():
        set_user(path, user, password)


def replace_file(path: pathlib.Path, text: str) -> None:
    """Replaces `path` in one rename (a reader never sees half a file)."""
    tmp = path.with_name(path.name + ".new")
    tmp.write_text(text)
    os.replace(tmp, path)


class AclBroker:
    """What a test needs besides the Broker: its ACL file and the reload probe."""

    def __init__(self, broker: Broker, confdir: pathlib.Path, acl_path: pathlib.Path,
                 generation: int):
        self.broker = broker
        self.confdir = confdir
        self.acl_path = acl_path
        self.generation = generation
        self._probe: Optional[RawClient5] = None

    def write_acl(self, text: str) -> int:
        """Writes the next generation of the ACL file (no reload); returns its generation."""
        self.generation += 1
        replace_file(self.acl_path, acl_text(text, self.generation))
        # A file check compares modification times: make the new file's differ from the old
        # one's even on a file system with coarse timestamps.
        stamp = time.time() + self.generation
        os.utime(self.acl_path, (stamp, stamp))
        return self.generation

    def write_raw(self, text: str) -> None:
        """Writes `text` as the ACL file exactly (no probe line): for files that must not load."""
        replace_file(self.acl_path, text)
        stamp = time.time() + self.generation + 0.5
        os.utime(self.acl_path, (stamp, stamp))

    def sighup(self) -> None:
        self.broker.proc.send_signal(signal.SIGHUP)

    def reload(self, text: str, signal_broker: bool = True,
               deadline: float = RELOAD_DEADLINE) -> None:
        """Writes `text` as the new ACL, sends SIGHUP (unless `signal_broker` is false: the
        broker's own file check must find it) and returns once the new rules are in force."""
        generation = self.write_acl(text)
        if signal_broker:
            self.sighup()
        self.wait_generation(generation, deadline)

    def probe_allowed(self, generation: int) -> bool:
        """Whether the probe user may publish to `generation`'s probe topic right now."""
        if self._probe is None or self._probe.closed:
            c = RawClient5(self.broker.host, self.broker.port)
            ack = c.connect(unique_id("probe"), username=PROBE_USER,
                            password=PROBE_PASSWORD.encode())
            assert ack.reason_code == 0, f"the reload probe user cannot connect: {ack}"
            self._probe = c
        puback = self._probe.publish(f"acl-probe/{generation}/{PROBE_USER}", b"probe", qos=1)
        return puback.reason_code < 0x80

    def wait_generation(self, generation: int, deadline: float = RELOAD_DEADLINE) -> None:
        wait_for(lambda: self.probe_allowed(generation), timeout=deadline, interval=0.05,
                 message=f"ACL file generation {generation} to be in force "
                         f"(the probe user's publish to acl-probe/{generation}/{PROBE_USER})")

    def close(self) -> None:
        if self._probe is not None:
            self._probe.close()


def config_text(port: int, config: dict[str, Any], confdir: pathlib.Path,
                password_file: Optional[str], allow_anonymous: bool,
                acl_file: Optional[str]) -> str:
    """The broker's configuration (Hermod's TOML or a mosquitto.conf)."""
    if IS_MOSQUITTO:
        lines = [l for l in mosquitto_conf(port, config).splitlines()
                 if not l.startswith("allow_anonymous")]
        lines.append(f"allow_anonymous {'true' if allow_anonymous else 'false'}")
        # Started as root, mosquitto reads these files after dropping to the mosquitto user,
        # who cannot enter pytest's private temporary directories.
        lines.append("user root")
        if password_file:
            lines.append(f"password_file {confdir / password_file}")
        if acl_file:
            lines.append(f"acl_file {confdir / acl_file}")
        return "\n".join(lines) + "\n"
    text = hermod_toml(port, config) + "\n[auth]\n"
    if password_file:
        text += f'password_file = "{password_file}"\n'
    text += f"allow_anonymous = {'true' if allow_anonymous else 'false'}\n"
    if acl_file:
        text += f'acl_file = "{acl_file}"\n'
    return text


_serial = itertools.count(1)


def prepare(confdir: pathlib.Path, acl: Optional[str], users: dict[str, str],
            allow_anonymous: bool, password_tool: Optional[str],
            config: dict[str, Any]) -> tuple[int, pathlib.Path, pathlib.Path]:
    """Writes the ACL, the password file (users + the probe user) and the configuration into
    `confdir`; returns (port, configuration path, ACL path)."""
    confdir.mkdir(parents=True)
    tool = password_tool or ("mosquitto" if IS_MOSQUITTO else "hermod")
    write_password_file(confdir / PASSWORD_FILE, {**users, PROBE_USER: PROBE_PASSWORD}, tool)
    acl_path = confdir / ACL_FILE
    if acl is not None:
        acl_path.write_text(acl_text(acl, 1))
    port = free_port()
    name = "mosquitto.conf" if IS_MOSQUITTO else "hermod.toml"
    config_path = confdir / name
    config_path.write_text(config_text(port, {**DEFAULT_CONFIG, **config}, confdir,
                                       PASSWORD_FILE, allow_anonymous,
                                       ACL_FILE if acl is not None else None))
    return port, config_path, acl_path


@pytest.fixture
def make_acl_broker(make_broker, tmp_path):
    """Factory: make_acl_broker(acl_text, users={"alice": "pw"}, allow_anonymous=True,
    password_tool=None, **config) starts a broker whose acl_file holds `acl_text` (None: no
    acl_file at all) and returns an AclBroker (`.broker` is the Broker)."""
    made: list[AclBroker] = []

    def make(acl: Optional[str], users: Optional[dict[str, str]] = None,
             allow_anonymous: bool = True, password_tool: Optional[str] = None,
             **config: Any) -> AclBroker:
        confdir = tmp_path / f"aclconf{next(_serial)}"
        port, config_path, acl_path = prepare(confdir, acl, users or {}, allow_anonymous,
                                              password_tool, config)
        broker = make_broker(port=port, config_file=False, args=("-c", str(config_path)),
                             **config)
        a = AclBroker(broker, confdir, acl_path, 1)
        made.append(a)
        return a

    yield make
    for a in made:
        a.close()


def start_acl_broker(directory: pathlib.Path, acl: str, users: dict[str, str],
                     **config: Any) -> AclBroker:
    """Starts a broker outside the make_broker fixture (for a module-scoped broker); the caller
    stops it with `stop_acl_broker`."""
    confdir = directory / f"aclconf{next(_serial)}"
    port, config_path, acl_path = prepare(confdir, acl, users, True, None, config)
    workdir = directory / f"aclrun{next(_serial)}"
    workdir.mkdir()
    broker = Broker(workdir, {**DEFAULT_CONFIG, **config}, port=port, args=("-c", str(config_path)),
                    config_file=False)
    broker.start()
    return AclBroker(broker, confdir, acl_path, 1)


def stop_acl_broker(a: AclBroker) -> None:
    a.close()
    problems = a.broker.stop()
    if problems:
        pytest.fail(f"{a.broker}: " + "; ".join(problems) + "\n--- stderr ---\n"
                    + a.broker.stderr_tail(), pytrace=False)
