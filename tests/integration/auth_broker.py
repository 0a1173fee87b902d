"""Brokers with a password file, for test_auth.py, test_v5_auth.py and test_mosquitto_passwords.py:
password files written by `hermod passwd` (itself under test) or given as text (Debian's
mosquitto_passwd writes some), a configuration with an `[auth]` table, and SIGHUP reloads that
wait for the broker to log the outcome. Test modules load it as a plugin
(`pytest_plugins = ["auth_broker"]`) for the `make_auth_broker` fixture.

The configuration lives in its own directory and names the password file relative to it, while
the broker runs in another working directory: so every test also checks that a relative
`password_file` is resolved against the configuration file's directory.

PYTEST_DONT_REWRITE
"""

from __future__ import annotations

import os
import pathlib
import signal
import subprocess
from typing import Any, Optional

import pytest

from broker_process import DEFAULT_CONFIG, Broker, free_port, hermod_bin, hermod_toml, wait_for

PASSWORD_FILE = "users.pw"
RELOAD_MARKS = ("reloaded password file", "password file not reloaded")


def hermod_passwd(path: pathlib.Path, *args: str, stdin: Optional[str] = None,
                  timeout: float = 10.0) -> subprocess.CompletedProcess:
    """Runs `hermod passwd <path> <args...>` to completion."""
    if not os.access(hermod_bin(), os.X_OK):
        pytest.fail(f"no Hermod binary at {hermod_bin()}", pytrace=False)
    return subprocess.run([str(hermod_bin()), "passwd", str(path), *args], input=stdin,
                          stdin=None if stdin is not None else subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=timeout)


def mosquitto_passwd(path: pathlib.Path, user: str, password: str, *args: str) -> str:
    """Adds `user` to `path` with Debian's mosquitto_passwd in batch mode (creating the file if
    missing); `args` go before the file (`-H sha512` for a $6$ entry). Returns the user's line."""
    create = [] if path.exists() else ["-c"]
    done = subprocess.run(["mosquitto_passwd", *args, *create, "-b", str(path), user, password],
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, f"mosquitto_passwd {user}: {done.stderr}"
    return next(l for l in path.read_text().splitlines() if l.startswith(user + ":"))


def set_user(path: pathlib.Path, user: str, password: str) -> None:
    done = hermod_passwd(path, user, "-p", password)
    assert done.returncode == 0, f"hermod passwd {user}: {done.stderr}"


def remove_user(path: pathlib.Path, user: str) -> None:
    done = hermod_passwd(path, "-D", user)
    assert done.returncode == 0, f"hermod passwd -D {user}: {done.stderr}"


def reload(broker: Broker) -> str:
    """Sends SIGHUP and waits for the broker to log that it reloaded (or kept) the password
    file; returns that log line."""
    def marks() -> list[str]:
        return [l for l in broker.stderr_text().splitlines() if any(m in l for m in RELOAD_MARKS)]
    before = len(marks())
    broker.proc.send_signal(signal.SIGHUP)
    return wait_for(lambda: marks()[before] if len(marks()) > before else None,
                    message="the broker's log line about reloading the password file")


@pytest.fixture
def make_auth_broker(make_broker, tmp_path):
    """Factory: make_auth_broker(users={"alice": "pw"}, allow_anonymous=None, **config) writes
    the users' password file with `hermod passwd` (users=None: no [auth] table at all) and starts
    a broker on it; password_text="..." writes that text as the file instead. The broker gets
    `password_file` (a pathlib.Path) as an attribute."""
    serial = iter(range(1, 1000))

    def make(users: Optional[dict[str, str]] = None, allow_anonymous: Optional[bool] = None,
             password_text: Optional[str] = None, **config: Any) -> Broker:
        confdir = tmp_path / f"conf{next(serial)}"
        confdir.mkdir()
        password_file = confdir / PASSWORD_FILE
        port = free_port()
        text = hermod_toml(port, {**DEFAULT_CONFIG, **config})
        if password_text is not None:
            password_file.write_text(password_text)
        if users is not None:
            password_file.touch()
            for user, password in users.items():
                set_user(password_file, user, password)
        if users is not None or password_text is not None:
            text += f'\n[auth]\npassword_file = "{PASSWORD_FILE}"\n'
            if allow_anonymous is not None:
                text += f"allow_anonymous = {'true' if allow_anonymous else 'false'}\n"
        (confdir / "hermod.toml").write_text(text)
        broker = make_broker(port=port, config_file=False,
                             args=("-c", str(confdir / "hermod.toml")), **config)
        broker.password_file = password_file
        return broker

    return make
