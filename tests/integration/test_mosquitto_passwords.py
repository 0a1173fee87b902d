"""Mosquitto's password files in Hermod (docs/security.md): files written by Debian's
mosquitto_passwd ($7$ PBKDF2-SHA512, its default, and $6$ SHA-512 with -H sha512) accepted as they
are for user name and password logins with mosquitto_pub/mosquitto_sub and paho at 3.1.1 and 5;
SCRAM-SHA-256 failing for such users exactly as for unknown ones; plain-text `user:password` lines
refused at start-up with file:line; and `hermod passwd -U`, which hashes them in place."""

from __future__ import annotations

import re
from typing import Optional
import stat

import pytest

from auth_broker import hermod_passwd, mosquitto_passwd, reload
from broker_process import unique_id, wait_for
from clients import mosquitto_pub
from mqtt5_raw import AUTHENTICATION_DATA, NOT_AUTHORIZED, SUCCESS
from scram import ScramClient, begin, check_challenge, connect_scram
from test_auth import (BAD_USER_NAME_OR_PASSWORD, BAD_USER_NAME_OR_PASSWORD_V3, NOT_AUTHORIZED_V3,
                       mosquitto_sub_once, paho_connack)
from test_config import start_expecting_failure

pytest_plugins = ["mqtt5_raw", "auth_broker"]  # the v5 and make_auth_broker fixtures
pytestmark = pytest.mark.hermod_only("Hermod reading mosquitto_passwd's files, and hermod passwd -U")

# alice gets mosquitto_passwd's default ($7$), bob -H sha512 ($6$).
USERS = {"alice": "alice's secret", "bob": "b0b:pa$$"}


@pytest.fixture
def mosquitto_file(tmp_path) -> str:
    """The text of a password file made by Debian's mosquitto_passwd for USERS."""
    path = tmp_path / "mosquitto.pw"
    alice = mosquitto_passwd(path, "alice", USERS["alice"])
    bob = mosquitto_passwd(path, "bob", USERS["bob"], "-H", "sha512")
    assert re.fullmatch(r"alice:\$7\$101\$[A-Za-z0-9+/]{16}\$[A-Za-z0-9+/]{86}==", alice), alice
    assert re.fullmatch(r"bob:\$6\$[A-Za-z0-9+/]{16}\$[A-Za-z0-9+/]{86}==", bob), bob
    return path.read_text()


# -------------------------------------------------------------------------------------------
# Logging in with mosquitto_passwd's hashes


@pytest.mark.parametrize("version", ["311", "5"])
def test_mosquitto_clients_log_in_with_mosquitto_passwd_users(make_auth_broker, clients, mosquitto_file,
                                                              version):
    b = make_auth_broker(password_text=mosquitto_file)
    sub = clients.mosquitto_sub("-t", "mpw/right", "-C", "1", "-u", "bob", "-P", USERS["bob"],
                                "-V", version, broker=b)
    sub.wait_subscribed()
    done = mosquitto_pub(b, "-t", "mpw/right", "-m", "hello", "-u", "alice", "-P", USERS["alice"],
                         "-V", version)
    assert done.returncode == 0, f"a $7$ user with the right password is accepted: {done.stderr}"
    sub.wait_line(lambda l: l == "hello")
    assert sub.wait_exit() == 0, "a $6$ user with the right password is accepted"


@pytest.mark.parametrize("version, text", [
    ("311", "Connection Refused: bad user name or password"),
    ("5", "Bad User Name or Password"),
])
@pytest.mark.parametrize("user, password", [("alice", "alice's guess"), ("bob", USERS["alice"]),
                                            ("mallory", USERS["alice"])],
                         ids=["7-wrong-password", "6-wrong-password", "unknown-user"])
def test_mosquitto_clients_refused_with_wrong_passwords(make_auth_broker, mosquitto_file, version, text,
                                                        user, password):
    b = make_auth_broker(password_text=mosquitto_file)
    done = mosquitto_pub(b, "-t", "mpw/x", "-m", "no", "-u", user, "-P", password, "-V", version)
    assert done.returncode != 0 and text in done.stderr, \
        f"CONNACK bad user name or password (3.1.1: 4, 5: 0x86): {done.returncode} {done.stderr}"
    done = mosquitto_sub_once(b, "-u", user, "-P", password, "-V", version)
    assert done.returncode != 0 and text in done.stderr + done.stdout, (done.returncode, done.stderr)
    assert password not in b.stderr_text(), "passwords are never logged"


@pytest.mark.parametrize("v5, bad, anonymous", [
    (False, BAD_USER_NAME_OR_PASSWORD_V3, NOT_AUTHORIZED_V3),
    (True, BAD_USER_NAME_OR_PASSWORD, NOT_AUTHORIZED),
], ids=["mqtt311", "mqtt5"])
def test_paho_return_codes_for_mosquitto_passwd_users(make_auth_broker, mosquitto_file, v5, bad, anonymous):
    b = make_auth_broker(password_text=mosquitto_file)
    for user in USERS:
        assert paho_connack(b, user, USERS[user], v5) == 0, f"{user}: right password → accepted [MQTT-3.1.4-4]"
        assert paho_connack(b, user, "wrong", v5) == bad, f"{user}: wrong password → bad user name or password"
        assert paho_connack(b, user, None, v5) == bad, f"{user}: user name without password → refused"
    assert paho_connack(b, "eve", "x", v5) == bad, "unknown user → bad user name or password"
    assert paho_connack(b, None, None, v5) == anonymous, "no user name, anonymous not allowed → not authorized"


def test_mosquitto_and_hermod_entries_in_one_file(make_auth_broker, mosquitto_file, tmp_path):
    """A file migrated user by user: `hermod passwd` replaces one Mosquitto entry and keeps the other."""
    path = tmp_path / "mixed.pw"
    path.write_text(mosquitto_file)
    done = hermod_passwd(path, "alice", "-p", "new alice")
    assert done.returncode == 0, done.stderr
    lines = path.read_text().splitlines()
    assert lines[0].startswith("alice:$scram-sha-256$") and lines[1] == mosquitto_file.splitlines()[1], lines
    b = make_auth_broker(password_text=path.read_text())
    assert paho_connack(b, "alice", "new alice") == 0
    assert paho_connack(b, "alice", USERS["alice"]) == BAD_USER_NAME_OR_PASSWORD_V3, "the old password is gone"
    assert paho_connack(b, "bob", USERS["bob"]) == 0
    assert "2 users (1 with Mosquitto password hashes" in b.stderr_text(), b.stderr_tail()


# -------------------------------------------------------------------------------------------
# SCRAM-SHA-256 cannot work for them


def test_scram_for_a_mosquitto_user_fails_like_an_unknown_user(make_auth_broker, mosquitto_file, v5):
    b = make_auth_broker(password_text=mosquitto_file, log_level="debug")
    salt = mosquitto_file.splitlines()[0].split("$")[3]
    first = begin(v5.raw(b), unique_id("who"), ScramClient("alice", USERS["alice"]))
    challenge = check_challenge(first).decode()
    assert ",i=4096" in challenge and salt not in challenge, \
        f"the challenge of an unknown user (default iterations, a made-up salt): {challenge}"
    for user in ("alice", "mallory"):
        c = v5.raw(b)
        ack, scram = connect_scram(c, unique_id("scram"), user, USERS["alice"])
        assert ack.reason_code == NOT_AUTHORIZED, \
            f"{user}: SCRAM without a SCRAM credential → CONNACK 0x87 [MQTT-4.12.0-4]: {ack}"
        assert ack.props.get(AUTHENTICATION_DATA) == b"e=invalid-proof", \
            f"{user}: the same error for a Mosquitto user as for an unknown one: {ack}"
        assert not scram.verify_server_final(ack.props.get(AUTHENTICATION_DATA))
    log = log_until_plain_login(b, v5)
    assert re.search(r'debug.*SCRAM-SHA-256 for user "alice" will fail: the password file holds a Mosquitto '
                     r'\$7\$ hash', log), log[-3000:]
    assert 'user "alice" has a Mosquitto $7$ password hash, no SCRAM-SHA-256 credential' in log, log[-3000:]
    assert USERS["alice"] not in log, "passwords are never logged"


def log_until_plain_login(b, v5) -> str:
    """Logs alice in with her plain password (which still works) and returns the broker's log
    once it shows that connection: every line logged before it is in the text then."""
    cid = unique_id("plain")
    ack = v5.raw(b).connect(cid, username="alice", password=USERS["alice"].encode())
    assert ack.reason_code == SUCCESS, f"the plain password still works: {ack}"

    def logged() -> Optional[str]:
        log = b.stderr_text()
        return log if f"connected as {cid}" in log else None

    return wait_for(logged, message=f"the log line of {cid}'s connection")


def test_scram_debug_line_is_not_logged_at_info(make_auth_broker, mosquitto_file, v5):
    b = make_auth_broker(password_text=mosquitto_file, log_level="info")
    ack, _ = connect_scram(v5.raw(b), unique_id("scram"), "alice", USERS["alice"])
    assert ack.reason_code == NOT_AUTHORIZED, ack
    assert "will fail" not in log_until_plain_login(b, v5), "the explanation is for debug level only"


# -------------------------------------------------------------------------------------------
# Plain-text passwords and hermod passwd -U


def test_plain_text_file_is_refused_at_start_naming_file_and_line(tmp_path):
    pw = tmp_path / "plain.pw"
    pw.write_text("# from mosquitto 1.x\ncarol:carol's secret\n")
    done = start_expecting_failure(tmp_path, f'[auth]\npassword_file = "{pw}"\n')
    assert f'{pw}:2: user "carol" has a plain-text password; run `hermod passwd -U {pw}`' in done.stderr, \
        done.stderr
    assert "carol's secret" not in done.stderr, "the password is never printed"


def test_sighup_with_plain_text_keeps_the_old_users(make_auth_broker, mosquitto_file):
    b = make_auth_broker(password_text=mosquitto_file)
    b.password_file.write_text(mosquitto_file + "carol:carol's secret\n")
    line = reload(b)
    assert "not reloaded" in line and f"{b.password_file}:3:" in line and "hermod passwd -U" in line, line
    assert paho_connack(b, "alice", USERS["alice"]) == 0, "the previous table stays in force"


def test_passwd_upgrade_then_login(make_auth_broker, mosquitto_file, v5, tmp_path):
    path = tmp_path / "users.pw"
    path.write_text("# migrated\n" + mosquitto_file + "carol:carol's secret\n  dave :  d pw  \n")
    path.chmod(0o640)
    done = hermod_passwd(path, "-U")
    assert done.returncode == 0, done.stderr
    assert "hashed the plain-text passwords of carol, dave in " + str(path) in done.stdout, done.stdout
    assert re.search(r"kept the Mosquitto password hashes of alice, bob: .*cannot be converted without the "
                     r"password; `hermod passwd \S+ USER` sets a new one", done.stdout), done.stdout
    text = path.read_text()
    assert "secret" not in text and "d pw" not in text, text
    assert text.startswith("# migrated\n" + mosquitto_file), "other lines stay byte for byte"
    assert re.search(r"^carol:\$scram-sha-256\$4096\$", text, re.M) and re.search(r"^dave:\$scram", text, re.M)
    assert stat.S_IMODE(path.stat().st_mode) == 0o640, "the file keeps its permissions"

    b = make_auth_broker(password_text=text)
    assert paho_connack(b, "carol", "carol's secret") == 0
    assert paho_connack(b, "dave", "d pw") == 0, "blanks around the password were not part of it"
    assert paho_connack(b, "alice", USERS["alice"]) == 0
    ack, _ = connect_scram(v5.raw(b), unique_id("scram"), "carol", "carol's secret")
    assert ack.reason_code == SUCCESS, f"an upgraded user can use SCRAM-SHA-256: {ack}"

    again = hermod_passwd(path, "-U")
    assert again.returncode == 0 and "no plain-text passwords" in again.stdout, (again.stdout, again.stderr)
    assert path.read_text() == text, "a second -U changes nothing (it never hashes a hash)"


@pytest.mark.parametrize("content, args, message", [
    ("carol:a:b\n", (), "users.pw:1: user \"carol\": the plain-text password holds ':'"),
    ("carol:c\nbob:\n", (), "users.pw:2: user \"bob\" has an empty plain-text password"),
    ("carol:c\nbob:$7$101$AAAA\n", (), "users.pw:2: user \"bob\": a $7$ entry is"),
    ("carol:c\n", ("carol",), "no user name with it"),
    ("carol:c\n", ("--iterations", "100"), "iterations"),
], ids=["colon", "empty", "bad-hash", "user-given", "too-few-iterations"])
def test_passwd_upgrade_refusals_leave_the_file_alone(tmp_path, content, args, message):
    path = tmp_path / "users.pw"
    path.write_text(content)
    done = hermod_passwd(path, "-U", *args)
    # 1 as for every refusal of hermod passwd; a command line CLI11 refuses gets CLI11's code.
    cli11_refuses = args[:1] == ("--iterations",)
    assert (done.returncode != 0 if cli11_refuses else done.returncode == 1) and message in done.stderr, \
        (done.returncode, done.stderr)
    assert path.read_text() == content, "nothing is written when -U refuses"
    assert list(tmp_path.iterdir()) == [path], "no temporary file is left behind"


def test_passwd_upgrade_of_a_missing_file_fails(tmp_path):
    done = hermod_passwd(tmp_path / "missing.pw", "-U")
    assert done.returncode == 1 and "missing.pw: no such file" in done.stderr, done.stderr
    assert not (tmp_path / "missing.pw").exists()


def test_passwd_upgrade_excludes_password_and_delete(tmp_path):
    path = tmp_path / "users.pw"
    path.write_text("carol:c\n")
    for extra in (("-p", "x"), ("-D",)):
        done = hermod_passwd(path, "-U", *extra)
        assert done.returncode != 0 and "excludes" in done.stderr, (extra, done.returncode, done.stderr)
    assert path.read_text() == "carol:c\n"
