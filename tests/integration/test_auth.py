"""Authentication by user name and password (MQTT 3.1.1 section 3.1.3.4/3.1.3.5, MQTT 5 3.1.3.5/
3.1.3.6) against a password file: the `hermod passwd` tool that writes it, the `[auth]`
configuration, CONNACK refusals for mosquitto_pub/mosquitto_sub and paho at 3.1.1 and 5, anonymous
clients allowed or not, and reloading the file on SIGHUP. Enhanced authentication (SCRAM, AUTH)
is in test_v5_auth.py."""

from __future__ import annotations

import re
import subprocess

import paho.mqtt.client as paho
import pytest

import mqtt_raw
from auth_broker import hermod_passwd, reload, remove_user, set_user
from broker_process import unique_id, wait_for
from clients import mosquitto_pub, round_trip
from mqtt_raw import CONNACK, MQTT_V311, ConnectionClosed
from test_config import assert_names, start_expecting_failure

pytest_plugins = ["auth_broker"]  # the make_auth_broker fixture
pytestmark = pytest.mark.hermod_only("hermod passwd, the [auth] table and its password file format")

BAD_USER_NAME_OR_PASSWORD_V3, NOT_AUTHORIZED_V3 = 4, 5
BAD_USER_NAME_OR_PASSWORD, NOT_AUTHORIZED = 0x86, 0x87
USERS = {"alice": "alice secret", "bob": "b0b:pa$$word"}


def paho_connack(broker, user=None, password=None, v5=False) -> int:
    """Connects paho (3.1.1 or 5) with these credentials; returns the CONNACK's return code or
    reason code, and disconnects."""
    client = paho.Client(client_id=unique_id("pa"), protocol=paho.MQTTv5 if v5 else paho.MQTTv311,
                         reconnect_on_failure=False)
    if user is not None:
        client.username_pw_set(user, password)
    got = {}

    def on_connect(c, userdata, flags, rc, properties=None):
        got["rc"] = rc.value if v5 else rc

    client.on_connect = on_connect
    client.connect(broker.host, broker.port, keepalive=30)
    client.loop_start()
    try:
        wait_for(lambda: "rc" in got, message="CONNACK (paho)")
        return got["rc"]
    finally:
        client.disconnect()
        client.loop_stop()


def mosquitto_sub_once(broker, *args: str) -> subprocess.CompletedProcess:
    """mosquitto_sub that exits after one message or 5 s; for refused connections."""
    return subprocess.run(["mosquitto_sub", "-h", broker.host, "-p", str(broker.port),
                           "-t", "auth/x", "-C", "1", "-W", "5", *args], stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=15)


# -------------------------------------------------------------------------------------------
# hermod passwd


def test_passwd_writes_scram_entries_without_the_password(tmp_path):
    path = tmp_path / "pw"
    done = hermod_passwd(path, "alice", "-p", "correct horse")
    assert done.returncode == 0, done.stderr
    text = path.read_text()
    assert re.fullmatch(r"alice:\$scram-sha-256\$4096\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]{44}"
                        r"\$[A-Za-z0-9+/=]{44}\n", text), \
        f"one SCRAM-SHA-256 entry per user: {text!r}"
    assert "correct horse" not in text, "the password itself is never stored"
    assert path.stat().st_mode & 0o077 == 0, "a new password file is readable by its owner only"


def test_passwd_reads_the_password_from_stdin(tmp_path, make_auth_broker):
    path = tmp_path / "pw"
    done = hermod_passwd(path, "carol", stdin="from stdin\n")
    assert done.returncode == 0, done.stderr
    b = make_auth_broker(users={})
    b.password_file.write_text(path.read_text())
    reload(b)
    assert paho_connack(b, "carol", "from stdin") == 0, "the first line of stdin is the password"


def test_passwd_updates_one_user_and_keeps_other_lines(tmp_path):
    path = tmp_path / "pw"
    path.write_text("# our users\n\n")
    set_user(path, "alice", "one")
    set_user(path, "bob", "two")
    before = path.read_text().splitlines()
    set_user(path, "alice", "three")
    after = path.read_text().splitlines()
    assert after[:2] == ["# our users", ""] and after[3] == before[3], \
        f"comments and other users' lines stay as they were: {before} → {after}"
    assert after[2] != before[2] and after[2].startswith("alice:"), \
        "alice's line is replaced in place"
    remove_user(path, "alice")
    assert [l.split(":")[0] for l in path.read_text().splitlines()] == ["# our users", "", "bob"]


@pytest.mark.parametrize("args, message", [
    (("-D", "nobody"), 'no user "nobody"'),
    (("a:b", "-p", "x"), "cannot contain ':'"),
    (("alice", "-p", ""), "the password is empty"),
    (("alice", "-p", "x", "--iterations", "100"), "iterations"),
], ids=["delete-unknown", "colon-in-name", "empty-password", "too-few-iterations"])
def test_passwd_refuses_bad_requests(tmp_path, args, message):
    path = tmp_path / "pw"
    set_user(path, "bob", "b")
    before = path.read_text()
    done = hermod_passwd(path, *args)
    assert done.returncode != 0 and message in done.stderr, (done.returncode, done.stderr)
    assert path.read_text() == before, "a refused request leaves the file as it was"


def test_passwd_refuses_to_edit_a_broken_file(tmp_path):
    path = tmp_path / "pw"
    path.write_text("# fine\nalice:plaintext\n")
    done = hermod_passwd(path, "bob", "-p", "b")
    assert done.returncode != 0 and f"{path}:2:" in done.stderr, done.stderr


# -------------------------------------------------------------------------------------------
# Configuration


def test_bad_password_file_stops_startup_naming_file_and_line(tmp_path):
    pw = tmp_path / "pw"
    pw.write_text("# users\nalice:$scram-sha-256$4096$c2FsdA==$AAAA$AAAA\n")
    done = start_expecting_failure(tmp_path, f'[auth]\npassword_file = "{pw}"\n')
    assert f"{pw}:2:" in done.stderr and "StoredKey" in done.stderr, done.stderr


def test_missing_password_file_stops_startup(tmp_path):
    done = start_expecting_failure(tmp_path, '[auth]\npassword_file = "missing.pw"\n')
    assert str(tmp_path / "missing.pw") in done.stderr and "cannot open" in done.stderr, \
        f"a relative path is resolved against the configuration's directory: {done.stderr}"


def test_allow_anonymous_false_without_password_file_is_a_config_error(tmp_path):
    done = start_expecting_failure(tmp_path, "[auth]\nallow_anonymous = false\n")
    assert_names(done.stderr, "config.toml", 2, "auth.allow_anonymous")


# -------------------------------------------------------------------------------------------
# CONNECT with user name and password


@pytest.mark.parametrize("version", ["311", "5"])
def test_mosquitto_pub_with_right_password_publishes(make_auth_broker, clients, version):
    b = make_auth_broker(users=USERS)
    sub = clients.mosquitto_sub("-t", "auth/right", "-C", "1", "-u", "bob", "-P", USERS["bob"],
                                "-V", version, broker=b)
    sub.wait_subscribed()
    done = mosquitto_pub(b, "-t", "auth/right", "-m", "hello", "-u", "alice", "-P", USERS["alice"],
                         "-V", version)
    assert done.returncode == 0, f"right user name and password → accepted: {done.stderr}"
    sub.wait_line(lambda l: l == "hello")
    assert sub.wait_exit() == 0


@pytest.mark.parametrize("version, text", [
    ("311", "Connection Refused: bad user name or password"),
    ("5", "Bad User Name or Password"),
])
@pytest.mark.parametrize("user, password", [("alice", "xyzzy-guess"), ("mallory", "alice secret")],
                         ids=["wrong-password", "unknown-user"])
def test_mosquitto_clients_refused_with_wrong_credentials(make_auth_broker, version, text, user,
                                                          password):
    b = make_auth_broker(users=USERS)
    done = mosquitto_pub(b, "-t", "auth/x", "-m", "no", "-u", user, "-P", password, "-V", version)
    assert done.returncode != 0 and text in done.stderr, \
        f"CONNACK 'bad user name or password' (3.1.1: 4, 5: 0x86): {done.returncode} {done.stderr}"
    done = mosquitto_sub_once(b, "-u", user, "-P", password, "-V", version)
    assert done.returncode != 0 and text in done.stderr + done.stdout, \
        (done.returncode, done.stderr)
    assert password not in b.stderr_text(), "passwords are never logged"


@pytest.mark.parametrize("v5, bad, anonymous", [
    (False, BAD_USER_NAME_OR_PASSWORD_V3, NOT_AUTHORIZED_V3),
    (True, BAD_USER_NAME_OR_PASSWORD, NOT_AUTHORIZED),
], ids=["mqtt311", "mqtt5"])
def test_paho_return_codes(make_auth_broker, v5, bad, anonymous):
    b = make_auth_broker(users=USERS)
    assert paho_connack(b, "bob", USERS["bob"], v5) == 0, \
        "right password → accepted [MQTT-3.1.4-4]"
    assert paho_connack(b, "bob", "wrong", v5) == bad, \
        "wrong password → bad user name or password"
    assert paho_connack(b, "eve", "x", v5) == bad, "unknown user → bad user name or password"
    assert paho_connack(b, "bob", None, v5) == bad, "user name without the password → refused"
    assert paho_connack(b, None, None, v5) == anonymous, \
        "no user name, anonymous not allowed (the default with a password file) → not authorized"


@pytest.mark.parametrize("v5", [False, True], ids=["mqtt311", "mqtt5"])
def test_anonymous_allowed_when_configured(make_auth_broker, clients, v5):
    b = make_auth_broker(users=USERS, allow_anonymous=True)
    assert paho_connack(b, None, None, v5) == 0, "allow_anonymous = true: no user name is fine"
    assert paho_connack(b, "alice", "wrong", v5) == (BAD_USER_NAME_OR_PASSWORD if v5 else
                                                     BAD_USER_NAME_OR_PASSWORD_V3), \
        "a wrong password is refused even when anonymous clients are allowed"
    round_trip(clients, b)


def test_credentials_are_checked_only_with_a_password_file(make_auth_broker):
    without, with_file = make_auth_broker(users=None), make_auth_broker(users=USERS)
    assert paho_connack(without, "anyone", "anything") == 0, "no password file: nothing to check"
    assert paho_connack(without) == 0
    assert paho_connack(with_file, "anyone", "anything") == BAD_USER_NAME_OR_PASSWORD_V3


def test_password_without_user_name_closes_a_311_connection(make_auth_broker, clients):
    b = make_auth_broker(users=USERS, allow_anonymous=True)
    c = clients.raw(b)
    c.send(mqtt_raw.connect(unique_id("nouser"), password=b"alice secret", protocol=MQTT_V311))
    with pytest.raises(ConnectionClosed):
        c.expect(CONNACK, timeout=5)  # [MQTT-3.1.2-22]: a protocol violation, no CONNACK


def test_refused_client_does_not_take_over_the_session(make_auth_broker, clients):
    b = make_auth_broker(users=USERS)
    cid = unique_id("owner")
    owner = clients.raw_connected(b, client_id=cid, username="alice", password=b"alice secret")
    intruder = clients.raw(b)
    ack = intruder.connect(cid, username="alice", password=b"guess")
    assert ack.return_code == BAD_USER_NAME_OR_PASSWORD_V3, ack
    owner.ping()  # still connected: only an accepted CONNECT takes a session over [MQTT-3.1.4-3]


# -------------------------------------------------------------------------------------------
# Reload on SIGHUP


@pytest.mark.parametrize("v5", [False, True], ids=["mqtt311", "mqtt5"])
def test_sighup_reload_adds_and_removes_users(make_auth_broker, clients, v5):
    b = make_auth_broker(users={"alice": "a-pw"})
    alice = clients.paho(b, connect=False)
    alice.client.username_pw_set("alice", "a-pw")
    alice.connect()
    alice.subscribe("reload/#", qos=1)
    set_user(b.password_file, "bob", "b-pw")
    remove_user(b.password_file, "alice")
    assert paho_connack(b, "bob", "b-pw", v5) != 0, "no reload yet: bob is unknown"
    line = reload(b)
    assert "reloaded password file" in line and "1 user" in line, line
    assert paho_connack(b, "bob", "b-pw", v5) == 0, "after SIGHUP a new user can connect"
    assert paho_connack(b, "alice", "a-pw", v5) != 0, "after SIGHUP a removed user cannot"
    bob = clients.paho(b, connect=False)
    bob.client.username_pw_set("bob", "b-pw")
    bob.connect()
    bob.publish("reload/x", b"still here", qos=1)
    got = alice.get_message()
    assert (got.topic, got.payload) == ("reload/x", b"still here"), \
        "a connection made before the reload stays connected"


def test_sighup_with_a_broken_file_keeps_the_old_users(make_auth_broker):
    b = make_auth_broker(users={"alice": "a-pw"})
    good = b.password_file.read_text()
    b.password_file.write_text(good + "bob:not an entry\n")
    line = reload(b)
    assert "not reloaded" in line and f"{b.password_file}:2:" in line, line
    assert paho_connack(b, "alice", "a-pw") == 0, "the previous table stays in force"
    assert b.alive
