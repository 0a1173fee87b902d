"""Topic ACLs from an acl_file in Mosquitto's format (`[auth] acl_file`): the matrix users ×
rules × actions for MQTT 3.1.1 and 5 with raw packets, paho-mqtt and mosquitto_pub/mosquitto_sub;
`%u`/`%c` patterns, deny over grant, the anonymous section, Hermod's `client` sections; SUBACK
per filter, PUBACK/PUBREC 0x87, refused wills, `$SYS` and other `$` topics, shared subscriptions,
retained messages; reloads (SIGHUP and the file check) that revoke grants from connected
clients and from messages queued for an offline session, a broken file on reload, load errors;
a password file written by Debian's mosquitto_passwd; a TLS certificate's identity as the user.

The semantics (issue 15): read = subscribe and receive, write = publish (and will topic),
deny = neither, and a matching deny wins over any grant; with an acl_file, what no rule grants
is denied. A SUBSCRIBE filter is granted when a read rule covers it (every topic it matches is
readable) and no deny rule covers it; a deny that only overlaps it stops those messages on
delivery. Every message is checked again on delivery, against the rules in force then.

Under BROKER=mosquitto (2.0.11) the same files run against Debian's mosquitto, which checks the
tests where the two agree. Where it differs the test or the assertion is Hermod's only:
  * mosquitto grants every SUBSCRIBE (its acl_file check has no subscription check) and filters
    on delivery, so SUBACK codes are asserted for Hermod only (SUBACK_CHECKED), and filters that
    a read rule overlaps without covering (rule `news/+`, filter `news/#`) are Hermod's;
  * mosquitto checks a user's section before the patterns and stops at the first grant, so a
    pattern deny does not override a user grant there;
  * mosquitto does not check the will topic at CONNECT; after a reload of a file that does not
    parse it lets every client do everything (measured: a PUBLISH denied before is accepted);
    it has no `client` sections, file check or file:line messages.
It agrees on the rest, `$` topics with an explicit grant and the re-check of messages queued
for an offline session included.
The broker for the matrix is one per test module and xdist process (MATRIX_ACL), with two
workers so that deliveries cross workers; tests that reload or need other rules start their
own."""

from __future__ import annotations

import os
import re
from typing import Any, Optional

import paho.mqtt.client as paho
import pytest

import mqtt5_raw
import mqtt_raw
from acl_broker import (ACL_FILE, PASSWORD_FILE, prepare, start_acl_broker, stop_acl_broker,
                        write_password_file)
from broker_process import IS_MOSQUITTO, Broker, hermod_bin, unique_id, wait_for
from clients import mosquitto_pub
from mqtt5_raw import (NOT_AUTHORIZED, SESSION_EXPIRY_INTERVAL, SUCCESS, Will5, sub_options)
from mqtt_raw import PUBACK, PUBREC, Timeout, Will

pytest_plugins = ["acl_broker", "mqtt5_raw", "tls_broker"]

hermod_only = pytest.mark.hermod_only

VERSIONS = ["311", "5"]
KINDS = ["raw", "paho", "mosquitto"]
# mosquitto 2.0.11 grants every SUBSCRIBE whatever its acl_file says (and filters on delivery).
SUBACK_CHECKED = not IS_MOSQUITTO
NOT_AUTHORIZED_V3 = 5          # CONNACK return code (3.1.1)
SUBACK_FAILURE_V3 = 0x80       # SUBACK return code (3.1.1)

USERS = {
    "alice": "alice's password",
    "bob": "bob's password",
    "carol": "carol's password",     # in the password file, in no section of the ACL
    "admin": "admin's password",
    "reader": "reader's password",
    "dora": "dora's password",
    "eve adams": "eve's password",   # a user name with a space
}

MATRIX_ACL = """\
# Hermod's ACL test matrix, in Mosquitto's acl_file format.

# Anonymous clients: the topic lines before the first user line.
topic read public/#
topic write public/anon

user alice
topic readwrite alice/#
topic deny alice/secret/#
topic read news/+
topic write news/alice
topic readwrite shared/#
topic write $app/alice

user bob
topic read alice/#
topic deny alice/private
topic write bob/out
topic bob/rw/#

user admin
topic readwrite #
topic readwrite $SYS/#
topic read $app/#

user reader
topic read #

# dora's rules decide which SUBSCRIBE filters a read rule covers.
user dora
topic read cov/a/#
topic read cov/b/+
topic read cov/c/+/c
topic read cov/d/x
topic read cov/e
topic deny cov/a/no/#

user eve adams
topic readwrite eve/#

# A second section for alice adds to her first.
user alice
topic read extra/#

# Patterns apply to every client, wherever they stand in the file.
pattern readwrite users/%u/#
pattern write devices/%c/status
pattern read devices/%c/cmd
pattern deny shared/%u/#
pattern readwrite sentinel/%c
pattern readwrite home/%c/#
"""


# --------------------------------------------------------------------------------------------
# Brokers


@pytest.fixture(scope="module")
def matrix_broker(tmp_path_factory):
    if not IS_MOSQUITTO and not os.access(hermod_bin(), os.X_OK):
        pytest.fail(f"no Hermod binary at {hermod_bin()}", pytrace=False)
    a = start_acl_broker(tmp_path_factory.mktemp("aclmatrix"), MATRIX_ACL, USERS, workers=2)
    yield a
    stop_acl_broker(a)


@pytest.fixture
def matrix(matrix_broker, request) -> Broker:
    """The module's matrix broker (its stderr goes into a failing test's report)."""
    request.node.hermod_brokers = [matrix_broker.broker]
    assert matrix_broker.broker.alive, "the matrix broker died in an earlier test"
    return matrix_broker.broker


# --------------------------------------------------------------------------------------------
# Clients as a user, of each kind


def creds(user: Optional[str]) -> dict[str, Any]:
    return {} if user is None else {"username": user, "password": USERS[user].encode()}


def cli_creds(user: Optional[str]) -> list[str]:
    return [] if user is None else ["-u", user, "-P", USERS[user]]


def raw_as(clients, v5, broker, version: str, user: Optional[str], cid: Optional[str] = None,
           **kw: Any):
    """A raw client of `version` connected as `user` (None: anonymous)."""
    cid = cid or unique_id("raw")
    if version == "5":
        return v5.raw_connected(broker, client_id=cid, **creds(user), **kw)
    return clients.raw_connected(broker, client_id=cid, **creds(user), **kw)


def paho_as(clients, v5, broker, version: str, user: Optional[str], cid: str):
    c = (v5.paho(broker, client_id=cid, connect=False) if version == "5"
         else clients.paho(broker, client_id=cid, connect=False))
    if user is not None:
        c.client.username_pw_set(user, USERS[user])
    c.connect()
    return c


def refused_code(version: str) -> int:
    """The SUBACK code of a filter the ACL does not grant [MQTT-3.8.4-5] (3.1.1) / 0x87."""
    return NOT_AUTHORIZED if version == "5" else SUBACK_FAILURE_V3


def subscribe_raw(c, version: str, filters: list[str], qos: int = 1) -> list[int]:
    if version == "5":
        return c.subscribe([(f, sub_options(qos=qos)) for f in filters]).reason_codes
    return c.subscribe([(f, qos) for f in filters]).return_codes


def observer(clients, broker, topics: list[str]):
    """admin (readwrite #, $SYS/#, read $app/#) subscribed at QoS 1 to `topics`: sees what is
    delivered there."""
    c = raw_as(clients, None, broker, "311", "admin", unique_id("obs"))
    codes = subscribe_raw(c, "311", topics)
    assert codes == [1] * len(topics), f"admin may read {topics}: SUBACK {codes}"
    return c


def topics_until_sentinel(c, sentinel: str) -> list[str]:
    return [p.topic for p in c.receive_until(sentinel, b"end")]


def assert_delivered(got: list[str], expected: list[str], why: str) -> None:
    assert got == expected, f"delivered {got}, expected {expected}: {why}"


# --------------------------------------------------------------------------------------------
# The matrix: PUBLISH


WRITE_CASES = [
    # (publisher, topic ({cid}: the publisher's client id), allowed, why)
    ("alice", "alice/{cid}", True, "user alice: topic readwrite alice/#"),
    ("alice", "alice/secret/{cid}", False,
     "topic deny alice/secret/# wins over readwrite alice/# in the same section"),
    ("alice", "alice/private", True, "bob's deny alice/private is bob's, not alice's"),
    ("alice", "news/alice", True, "topic write news/alice"),
    ("alice", "news/bob", False, "topic read news/+ grants no write"),
    ("alice", "bob/out", False, "bob's write grant is not alice's"),
    ("bob", "bob/out", True, "user bob: topic write bob/out"),
    ("bob", "bob/rw/{cid}", True, "`topic bob/rw/#` without an access word is readwrite"),
    ("bob", "alice/{cid}", False, "bob may read alice/#, not write it"),
    ("carol", "carol/{cid}", False, "carol has no section: what no rule grants is denied"),
    ("carol", "users/carol/{cid}", True, "pattern readwrite users/%u/# with carol's name"),
    ("alice", "users/bob/{cid}", False, "%u is the client's own user name"),
    (None, "public/anon", True, "the anonymous section: topic write public/anon"),
    (None, "public/{cid}", False, "the anonymous section grants read only on public/#"),
    ("alice", "public/anon", False,
     "the lines before the first user line apply to anonymous clients only"),
    (None, "users//{cid}", False, "a %u pattern never matches an anonymous client"),
    (None, "devices/{cid}/status", True, "pattern write devices/%c/status, anonymous client"),
    ("alice", "devices/{cid}/status", True, "pattern write devices/%c/status"),
    ("alice", "devices/other-{cid}/status", False, "%c is the client's own id"),
    ("alice", "devices/{cid}/cmd", False, "pattern read devices/%c/cmd grants no write"),
    ("eve adams", "eve/{cid}", True, "`user eve adams`: the name is the rest of the line"),
    ("admin", "any/{cid}", True, "topic readwrite #"),
    ("alice", "shared/other/{cid}", True, "topic readwrite shared/#"),
    pytest.param("alice", "shared/alice/{cid}", False,
                 "pattern deny shared/%u/# wins over alice's readwrite shared/#",
                 marks=hermod_only("mosquitto stops at the user section's grant before "
                                   "looking at pattern denies")),
    ("alice", "$app/alice", True, "a $ topic with an explicit write grant"),
    ("admin", "$app/{cid}", False,
     "readwrite # does not cover $app/...: wildcards at the first level never match $ topics "
     "[MQTT-4.7.2-1]"),
    ("admin", "$SYS/broker/{cid}", False,
     "clients never publish to $SYS, not even with topic readwrite $SYS/#"),
]


def write_ids(case) -> str:
    values = case.values if hasattr(case, "values") else case
    user, topic, allowed = values[:3]
    return f"{user or 'anonymous'}:{topic.replace('{cid}', 'ID')}:{'ok' if allowed else 'no'}"


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("user, template, allowed, why", WRITE_CASES,
                         ids=[write_ids(c) for c in WRITE_CASES])
def test_publish_is_delivered_only_with_a_write_grant(matrix, clients, v5, version, kind, user,
                                                      template, allowed, why):
    cid = unique_id("pub")
    topic = template.format(cid=cid)
    sentinel_cid = cid if kind != "mosquitto" else cid + "s"
    sentinel = f"sentinel/{sentinel_cid}"
    watch = observer(clients, matrix, [topic, sentinel])
    rule = "[MQTT-3.3.5-2]" if version == "311" else "(MQTT 5 PUBACK 0x87, section 3.4.2.1)"
    if kind == "raw":
        c = raw_as(clients, v5, matrix, version, user, cid)
        ack = c.publish(topic, b"m", qos=1)
        if version == "5":
            expected = SUCCESS if allowed else NOT_AUTHORIZED
            assert ack.reason_code == expected, \
                f"PUBACK {ack.reason_code:#04x}, expected {expected:#04x}: {why} {rule}"
        c.publish(sentinel, b"end", qos=1)  # 3.1.1: acknowledged normally either way
    elif kind == "paho":
        c = paho_as(clients, v5, matrix, version, user, cid)
        c.publish(topic, b"m", qos=1)
        c.publish(sentinel, b"end", qos=1)
    else:
        done = mosquitto_pub(matrix, "-d", "-i", cid, "-V", version, "-q", "1", "-t", topic,
                             "-m", "m", *cli_creds(user))
        assert done.returncode == 0, f"mosquitto_pub: {done.stdout} {done.stderr}"
        acked = re.search(r"received PUBACK \(Mid: \d+, RC:(\d+)\)", done.stdout)
        assert acked, f"mosquitto_pub saw a PUBACK: {done.stdout}"
        if version == "5":
            expected = SUCCESS if allowed else NOT_AUTHORIZED
            assert int(acked.group(1)) == expected, \
                f"mosquitto_pub: PUBACK RC {acked.group(1)}, expected {expected}: {why} {rule}"
            assert ("Not authorized" in done.stderr) == (not allowed), done.stderr
        # The PUBACK came, so the broker has decided; the sentinel comes after it.
        s = raw_as(clients, v5, matrix, version, user, sentinel_cid)
        s.publish(sentinel, b"end", qos=1)
    assert_delivered(topics_until_sentinel(watch, sentinel), [topic] if allowed else [],
                     f"{why} [MQTT-4.6.0-6] orders the sentinel after it")


# --------------------------------------------------------------------------------------------
# The matrix: SUBSCRIBE and delivery


READ_CASES = [
    # (subscriber, filter, granted, topics published by admin, topics delivered, why)
    ("alice", "alice/#", True, ["alice/{cid}", "alice/secret/{cid}"], ["alice/{cid}"],
     "a deny that only overlaps the filter: granted, and its topics are not delivered"),
    ("alice", "alice/secret/#", False, ["alice/secret/{cid}"], [],
     "topic deny alice/secret/# covers the filter"),
    ("alice", "news/+", True, ["news/{cid}"], ["news/{cid}"], "topic read news/+"),
    ("bob", "alice/#", True, ["alice/{cid}", "alice/private"], ["alice/{cid}"],
     "bob: read alice/# but deny alice/private"),
    ("alice", "alice/private", True, ["alice/private"], ["alice/private"],
     "bob's deny is not alice's"),
    ("bob", "bob/out", False, ["bob/out"], [], "a write grant gives no read"),
    ("bob", "bob/rw/#", True, ["bob/rw/{cid}"], ["bob/rw/{cid}"],
     "`topic bob/rw/#` without an access word is readwrite"),
    ("alice", "bob/#", False, ["bob/{cid}"], [], "no rule for alice covers bob/#"),
    ("carol", "carol/#", False, ["carol/{cid}"], [],
     "carol has no section: what no rule grants is denied"),
    ("carol", "users/carol/#", True, ["users/carol/{cid}"], ["users/carol/{cid}"],
     "pattern readwrite users/%u/#"),
    ("alice", "users/bob/#", False, ["users/bob/{cid}"], [], "%u is the client's own name"),
    (None, "public/#", True, ["public/{cid}"], ["public/{cid}"],
     "the anonymous section: topic read public/#"),
    ("alice", "public/#", False, ["public/{cid}"], [],
     "the anonymous section is for anonymous clients only"),
    (None, "devices/{cid}/cmd", True, ["devices/{cid}/cmd"], ["devices/{cid}/cmd"],
     "pattern read devices/%c/cmd, anonymous client"),
    ("alice", "devices/{cid}/cmd", True, ["devices/{cid}/cmd"], ["devices/{cid}/cmd"],
     "pattern read devices/%c/cmd"),
    ("alice", "devices/{cid}/status", False, ["devices/{cid}/status"], [],
     "pattern write devices/%c/status gives no read"),
    ("eve adams", "eve/#", True, ["eve/{cid}"], ["eve/{cid}"], "`user eve adams`"),
    ("alice", "extra/#", True, ["extra/{cid}"], ["extra/{cid}"],
     "a second `user alice` section adds to the first"),
    ("reader", "+/{cid}", True, ["x/{cid}"], ["x/{cid}"], "topic read #"),
    pytest.param("alice", "shared/alice/#", False, ["shared/alice/{cid}"], [],
                 "pattern deny shared/%u/# wins over alice's readwrite shared/#",
                 marks=hermod_only("mosquitto stops at the user section's grant before "
                                   "looking at pattern denies")),
    pytest.param("alice", "news/#", False, ["news/{cid}"], [],
                 "rule news/+ does not cover the filter news/#",
                 marks=hermod_only("mosquitto grants the subscription and delivers what "
                                   "news/+ allows")),
]


def read_ids(case) -> str:
    values = case.values if hasattr(case, "values") else case
    user, filt, granted = values[:3]
    return f"{user or 'anonymous'}:{filt.replace('{cid}', 'ID')}:{'ok' if granted else 'no'}"


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("user, template, granted, published, delivered, why", READ_CASES,
                         ids=[read_ids(c) for c in READ_CASES])
def test_subscription_receives_only_what_read_grants_allow(matrix, clients, v5, version, kind,
                                                           user, template, granted, published,
                                                           delivered, why):
    cid = unique_id("sub")
    filt = template.format(cid=cid)
    sentinel = f"sentinel/{cid}"
    expected_code = 1 if granted else refused_code(version)
    if kind == "raw":
        c = raw_as(clients, v5, matrix, version, user, cid)
        codes = subscribe_raw(c, version, [filt, sentinel])
    elif kind == "paho":
        c = paho_as(clients, v5, matrix, version, user, cid)
        codes = list(c.subscribe([(filt, 1), (sentinel, 1)]))
    else:
        c = clients.mosquitto_sub("-i", cid, "-V", version, "-q", "1", "-t", filt,
                                  "-t", sentinel, "-F", "MSG %t", *cli_creds(user),
                                  broker=matrix)
        line = c.wait_line(lambda l: l.startswith("Subscribed (mid:"))
        codes = [int(x) for x in line.split(":", 2)[2].split(",")]
    if SUBACK_CHECKED:
        assert codes == [expected_code, 1], \
            f"SUBACK {codes}, expected [{expected_code:#04x}, 0x01]: {why} " \
            "[MQTT-3.8.4-5] [MQTT-3.9.3-1]"
    pub = raw_as(clients, v5, matrix, "311", "admin", unique_id("adm"))
    for t in published:
        pub.publish(t.format(cid=cid), b"m", qos=1)
    pub.publish(sentinel, b"end", qos=1)
    if kind == "raw":
        got = topics_until_sentinel(c, sentinel)
    elif kind == "paho":
        got = [m.topic for m in c.messages_until(sentinel, b"end")]
    else:
        c.wait_line(lambda l: l == f"MSG {sentinel}")
        got = [l[4:] for l in c.lines if l.startswith("MSG ")]
        got = got[:got.index(sentinel)]
    assert_delivered(got, [t.format(cid=cid) for t in delivered], why)


# --------------------------------------------------------------------------------------------
# SUBACK, byte-exact


@hermod_only("mosquitto 2.0.11 grants every SUBSCRIBE")
@pytest.mark.parametrize("version", VERSIONS)
def test_suback_refuses_only_the_filters_not_granted(matrix, clients, v5, version):
    c = raw_as(clients, v5, matrix, version, "alice")
    pid = c.next_packet_id()
    filters = [("alice/#", 1), ("bob/#", 1), ("news/+", 0), ("alice/secret/#", 2), ("news/x", 2)]
    if version == "5":
        c.send(mqtt5_raw.subscribe(pid, [(f, sub_options(qos=q)) for f, q in filters]))
        ack = c.expect(mqtt_raw.SUBACK, packet_id=pid)
        codes = bytes(ack.reason_codes)
    else:
        c.send(mqtt_raw.subscribe(pid, filters))
        ack = c.expect(mqtt_raw.SUBACK, packet_id=pid)
        codes = ack.body[2:]
    no = refused_code(version)
    assert codes == bytes([1, no, 0, no, 2]), \
        f"one code per filter, in order, only the ungranted ones refused: {codes.hex(' ')} " \
        "[MQTT-3.8.4-5] [MQTT-3.9.3-1]"
    c.ping()  # a refused filter does not end the connection


COVERAGE = [
    # dora: read cov/a/#, cov/b/+, cov/c/+/c, cov/d/x, cov/e; deny cov/a/no/#, which also
    # covers cov/a/no itself ([MQTT-4.7.1-2]) and only overlaps cov/a/+
    ("cov/a/#", True), ("cov/a", True), ("cov/a/+/b", True), ("cov/a/x/#", True),
    ("cov/a/+", True),
    ("cov/a/no/#", False), ("cov/a/no/x", False), ("cov/a/no", False),
    ("cov/b/+", True), ("cov/b/x", True), ("cov/b/#", False), ("cov/b/x/y", False),
    ("cov/b", False),
    ("cov/c/+/c", True), ("cov/c/b/c", True), ("cov/c/+/+", False), ("cov/c/#", False),
    ("cov/d/x", True), ("cov/d/+", False), ("cov/d/#", False),
    ("cov/e", True), ("cov/e/#", False), ("cov/+", False), ("cov/#", False), ("#", False),
    ("+/a/#", False), ("$SYS/#", False),
]


@hermod_only("mosquitto 2.0.11 grants every SUBSCRIBE")
@pytest.mark.parametrize("version", VERSIONS)
def test_filter_is_granted_only_when_a_read_rule_covers_it(matrix, clients, v5, version):
    """A rule covers a filter when every topic the filter matches also matches the rule: rule
    `a/#` covers `a/+/b` and `a` itself ([MQTT-4.7.1-2]), rule `b/+` does not cover `b/#`."""
    c = raw_as(clients, v5, matrix, version, "dora")
    got = {}
    for filt, _ in COVERAGE:
        got[filt] = subscribe_raw(c, version, [filt])[0]
    expected = {f: (1 if ok else refused_code(version)) for f, ok in COVERAGE}
    wrong = {f: (hex(got[f]), hex(expected[f])) for f in expected if got[f] != expected[f]}
    assert not wrong, f"filter: (SUBACK code, expected) {wrong}"


# --------------------------------------------------------------------------------------------
# PUBLISH at each QoS, byte-exact


@pytest.mark.parametrize("qos", [0, 1, 2])
@pytest.mark.parametrize("version", VERSIONS)
def test_denied_publish_is_acknowledged_by_qos_and_never_delivered(matrix, clients, v5, version,
                                                                   qos):
    cid = unique_id("pubq")
    topic, sentinel = f"bob/{cid}", f"sentinel/{cid}"
    watch = observer(clients, matrix, [topic, sentinel])
    c = raw_as(clients, v5, matrix, version, "alice", cid)
    pid = c.next_packet_id()
    if version == "5":
        c.send(mqtt5_raw.publish(topic, b"no", qos=qos, packet_id=pid if qos else None))
        if qos == 1:
            ack = c.expect(PUBACK, packet_id=pid)
            assert ack.reason_code == NOT_AUTHORIZED, f"QoS 1 → PUBACK 0x87: {ack}"
        elif qos == 2:
            ack = c.expect(PUBREC, packet_id=pid)
            assert ack.reason_code == NOT_AUTHORIZED, \
                f"QoS 2 → PUBREC 0x87, which ends the exchange (sections 3.5.2.1, 4.3.3): {ack}"
    else:
        c.send(mqtt_raw.publish(topic, b"no", qos=qos, packet_id=pid if qos else None))
        if qos == 1:
            ack = c.expect(PUBACK, packet_id=pid)
            assert ack.body == pid.to_bytes(2, "big"), \
                f"3.1.1: a normal PUBACK [MQTT-3.3.5-2]: {ack}"
        elif qos == 2:
            c.expect(PUBREC, packet_id=pid)
            c.send(mqtt_raw.pubrel(pid))
            c.expect(mqtt_raw.PUBCOMP, packet_id=pid)
    c.publish(sentinel, b"end", qos=1)  # the connection stays open
    assert_delivered(topics_until_sentinel(watch, sentinel), [],
                     f"a denied QoS {qos} PUBLISH reaches no subscriber")


@hermod_only("the log line of a refused 3.1.1 PUBLISH is Hermod's")
def test_denied_311_publish_is_logged_once_per_connection(matrix, clients):
    a = matrix
    cid = unique_id("log")
    c = raw_as(clients, None, a, "311", "alice", cid)
    for i in range(3):
        c.publish(f"bob/{cid}/{i}", b"no", qos=1)
    c.publish(f"sentinel/{cid}", b"end", qos=1)
    denial = re.compile(r"(?i)denied|not authori[sz]ed|\bacl\b")

    def lines() -> list[str]:
        return [l for l in a.stderr_text().splitlines() if cid in l and denial.search(l)]

    wait_for(lines, message=f"a log line about {cid}'s refused PUBLISH")
    c.ping()
    assert len(lines()) == 1, f"one line per connection, not per PUBLISH: {lines()}"


@pytest.mark.parametrize("version", VERSIONS)
def test_wildcards_in_a_client_id_do_not_widen_a_pattern(matrix, clients, v5, version):
    """pattern write devices/%c/status with the client id "+": the id is a literal level, so
    devices/anything/status stays closed to it."""
    watch = observer(clients, matrix, ["devices/x/status"])
    c = raw_as(clients, v5, matrix, version, "alice", "+")
    ack = c.publish("devices/x/status", b"no", qos=1)
    if version == "5":
        assert ack.reason_code == NOT_AUTHORIZED, ack
    c.disconnect(wait=True)
    sentinel_cid = unique_id("wc")
    watch.subscribe([(f"sentinel/{sentinel_cid}", 1)])
    raw_as(clients, v5, matrix, "311", "admin", sentinel_cid).publish(
        f"sentinel/{sentinel_cid}", b"end", qos=1)
    assert_delivered(topics_until_sentinel(watch, f"sentinel/{sentinel_cid}"), [],
                     "client id + must not match every device")


@pytest.mark.parametrize("version", VERSIONS)
def test_a_pattern_grants_the_client_its_own_subtree(matrix, clients, v5, version):
    cid = unique_id("home")
    topic, sentinel = f"home/{cid}/x/y", f"sentinel/{cid}"
    watch = observer(clients, matrix, [topic, sentinel])
    c = raw_as(clients, v5, matrix, version, "alice", cid)
    ack = c.publish(topic, b"m", qos=1)
    if version == "5":
        assert ack.reason_code == SUCCESS, f"pattern readwrite home/%c/#: {ack}"
    c.publish(sentinel, b"end", qos=1)
    assert_delivered(topics_until_sentinel(watch, sentinel), [topic], "home/%c/#")


@hermod_only("mosquitto puts the client id into the pattern as text, so the id victim/x gets "
             "home/victim/x/#")
@pytest.mark.parametrize("version", VERSIONS)
def test_a_slash_in_the_client_id_does_not_reach_into_another_clients_subtree(matrix, clients,
                                                                              v5, version):
    """%c stands for one whole level: the client id "<victim>/x" matches no level at all, so
    pattern readwrite home/%c/# gives it nothing, least of all home/<victim>/x/#."""
    victim = unique_id("vic")
    topic = f"home/{victim}/x/y"
    watch = observer(clients, matrix, [topic])
    c = raw_as(clients, v5, matrix, version, "alice", f"{victim}/x")
    ack = c.publish(topic, b"intruder", qos=1)
    if version == "5":
        assert ack.reason_code == NOT_AUTHORIZED, ack
    codes = subscribe_raw(c, version, [f"home/{victim}/x/#"])
    assert codes == [refused_code(version)], f"nor read it: {codes}"
    c.disconnect(wait=True)
    sentinel_cid = unique_id("vs")
    sentinel = f"sentinel/{sentinel_cid}"
    watch.subscribe([(sentinel, 1)])
    raw_as(clients, v5, matrix, "311", "admin", sentinel_cid).publish(sentinel, b"end", qos=1)
    assert_delivered(topics_until_sentinel(watch, sentinel), [],
                     "the intruder's PUBLISH was refused")


# --------------------------------------------------------------------------------------------
# $SYS and other $ topics


@pytest.mark.parametrize("version", VERSIONS)
def test_reading_sys_needs_a_rule_for_sys(matrix, clients, v5, version):
    """reader has `topic read #`, which does not cover $SYS/# [MQTT-4.7.2-1]; admin has
    `topic readwrite $SYS/#`. Both subscribe to $SYS/#; once admin has seen a periodic (not
    retained) $SYS message, published after both subscribed, reader must have got none."""
    reader = raw_as(clients, v5, matrix, version, "reader")
    codes = subscribe_raw(reader, version, ["$SYS/#"], qos=0)
    if SUBACK_CHECKED:
        assert codes == [refused_code(version)], f"reader's SUBACK for $SYS/#: {codes}"
    admin = raw_as(clients, v5, matrix, version, "admin")
    assert subscribe_raw(admin, version, ["$SYS/#"], qos=0) == [0]
    wait_for(lambda: not admin.receive_publish(timeout=3).retain, timeout=6,
             message="a periodic $SYS message for admin (sys_interval = 1)")
    try:
        p = reader.recv(timeout=0.3)
    except Timeout:
        p = None
    assert p is None and not reader.pending(), \
        f"a client whose rules do not name $SYS gets no $SYS message: {p} {reader.pending()}"


@pytest.mark.parametrize("version", VERSIONS)
def test_sys_publish_is_refused_even_with_a_grant(matrix, clients, v5, version):
    cid = unique_id("sys")
    topic, sentinel = f"$SYS/broker/{cid}", f"sentinel/{cid}"
    watch = observer(clients, matrix, [topic, sentinel])
    c = raw_as(clients, v5, matrix, version, "admin", cid)
    ack = c.publish(topic, b"forged statistics", qos=1, retain=True)
    if version == "5":
        assert ack.reason_code == NOT_AUTHORIZED, f"$SYS publish → PUBACK 0x87: {ack}"
    c.publish(sentinel, b"end", qos=1)
    assert_delivered(topics_until_sentinel(watch, sentinel), [],
                     "a client's $SYS publish is never delivered")
    late = observer(clients, matrix, [topic, sentinel])
    c.publish(sentinel, b"end", qos=1)
    assert_delivered(topics_until_sentinel(late, sentinel), [],
                     "nor kept as a retained message")


# --------------------------------------------------------------------------------------------
# Wills


WILL_CASES = [("alice", "bob/out", False), ("alice", "$SYS/broker/will", False),
              ("bob", "bob/out", True), (None, "public/anon", True),
              (None, "users//will", False)]


@hermod_only("mosquitto 2.0.11 does not check the will topic at CONNECT")
@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("user, will_topic, allowed", WILL_CASES,
                         ids=[f"{u or 'anonymous'}:{t}" for u, t, _ in WILL_CASES])
def test_will_topic_needs_a_write_grant(matrix, clients, v5, version, user, will_topic, allowed):
    cid = unique_id("will")
    if version == "5":
        c = v5.raw(matrix)
        ack = c.connect(cid, will=Will5(will_topic, b"gone", qos=1), **creds(user))
        expected, rule = (SUCCESS if allowed else NOT_AUTHORIZED), "[MQTT-3.2.2-7]"
    else:
        c = clients.raw(matrix)
        ack = c.connect(cid, will=Will(will_topic, b"gone", qos=1), **creds(user))
        expected, rule = (0 if allowed else NOT_AUTHORIZED_V3), "[MQTT-3.2.2-5]"
    assert ack.return_code == expected, \
        f"CONNACK {ack.return_code:#04x}, expected {expected:#04x} for will topic {will_topic}"
    if not allowed:
        assert c.wait_closed(5), f"the server closes the connection after a refusal {rule}"
        return
    watch = observer(clients, matrix, [will_topic])
    c.close()  # no DISCONNECT: the will is published [MQTT-3.1.2-8]
    got = watch.receive_publish(timeout=5)
    assert (got.topic, got.payload) == (will_topic, b"gone"), got


@hermod_only("mosquitto 2.0.11 does not check the will topic at CONNECT")
@pytest.mark.parametrize("version, text", [("311", "not authorised"), ("5", "Not authorized")])
def test_mosquitto_pub_with_a_refused_will_is_not_connected(matrix, version, text):
    done = mosquitto_pub(matrix, "-V", version, "-t", "alice/x", "-m", "m",
                         "--will-topic", "bob/out", "--will-payload", "x", *cli_creds("alice"))
    assert done.returncode != 0 and text.lower() in (done.stdout + done.stderr).lower(), \
        (done.returncode, done.stdout, done.stderr)


@hermod_only("mosquitto 2.0.11 does not check the will topic at CONNECT")
@pytest.mark.parametrize("version", VERSIONS)
def test_paho_with_a_refused_will_gets_not_authorized(matrix, version):
    v = paho.MQTTv5 if version == "5" else paho.MQTTv311
    client = paho.Client(client_id=unique_id("pw"), protocol=v, reconnect_on_failure=False)
    client.username_pw_set("alice", USERS["alice"])
    client.will_set("bob/out", b"x", 1)
    got = {}

    def on_connect(c, userdata, flags, rc, properties=None):
        got["rc"] = rc.value if version == "5" else rc

    client.on_connect = on_connect
    client.connect(matrix.host, matrix.port, keepalive=30)
    client.loop_start()
    try:
        wait_for(lambda: "rc" in got, message="CONNACK (paho)")
    finally:
        client.loop_stop()
        client.disconnect()
    assert got["rc"] == (NOT_AUTHORIZED if version == "5" else NOT_AUTHORIZED_V3), got


# --------------------------------------------------------------------------------------------
# Shared subscriptions and retained messages


@pytest.mark.parametrize("version", VERSIONS)
def test_shared_subscription_delivers_only_readable_topics(matrix, clients, v5, version):
    cid = unique_id("shr")
    group = f"g{cid}"
    c = raw_as(clients, v5, matrix, version, "alice", cid)
    codes = subscribe_raw(c, version, [f"$share/{group}/alice/#", f"$share/{group}/bob/#",
                                       f"sentinel/{cid}"])
    if SUBACK_CHECKED:
        assert codes == [1, refused_code(version), 1], \
            f"a shared subscription is checked as its filter (alice/#, bob/#): {codes}"
    pub = raw_as(clients, v5, matrix, "311", "admin")
    for t in (f"alice/{cid}", f"alice/secret/{cid}", f"bob/{cid}"):
        pub.publish(t, b"m", qos=1)
    pub.publish(f"sentinel/{cid}", b"end", qos=1)
    assert_delivered(topics_until_sentinel(c, f"sentinel/{cid}"), [f"alice/{cid}"],
                     "the shared subscription delivers what alice may read, nothing else")


@pytest.mark.parametrize("version", VERSIONS)
def test_retained_messages_follow_the_read_rules(matrix, clients, v5, version):
    cid = unique_id("ret")
    admin = raw_as(clients, v5, matrix, "311", "admin")
    admin.publish(f"alice/open/{cid}", b"r", qos=1, retain=True)
    admin.publish(f"alice/secret/{cid}", b"r", qos=1, retain=True)
    alice = raw_as(clients, v5, matrix, version, "alice", cid)
    codes = subscribe_raw(alice, version, [f"alice/+/{cid}"])
    assert codes == [1], f"alice/+/{cid} is covered by alice/# and only overlaps the deny"
    assert subscribe_raw(alice, version, [f"sentinel/{cid}"]) == [1]
    admin.publish(f"sentinel/{cid}", b"end", qos=1)
    assert_delivered(topics_until_sentinel(alice, f"sentinel/{cid}"), [f"alice/open/{cid}"],
                     "a retained message is delivered on SUBSCRIBE only if it is readable")
    # A refused retained PUBLISH is not stored either.
    alice.publish(f"bob/{cid}", b"r", qos=1, retain=True)
    assert subscribe_raw(admin, "311", [f"bob/{cid}", f"sentinel/{cid}"]) == [1, 1]
    admin.publish(f"sentinel/{cid}", b"end", qos=1)
    assert_delivered(topics_until_sentinel(admin, f"sentinel/{cid}"), [],
                     "a denied retained PUBLISH leaves no retained message")
    for t in (f"alice/open/{cid}", f"alice/secret/{cid}"):
        admin.publish(t, b"", qos=1, retain=True)  # leave the module's broker clean


# --------------------------------------------------------------------------------------------
# Client sections (a Hermod extension)


CLIENT_ACL = """\
user alice
topic readwrite alice/#

client gateway-1
topic readwrite gw/#
topic deny alice/gw-locked/#

client gateway 2
topic write gw2/in
"""


@hermod_only("`client` sections are a Hermod extension; mosquitto refuses the line")
@pytest.mark.parametrize("version", VERSIONS)
def test_client_section_grants_to_that_client_id_only(make_acl_broker, clients, v5, version):
    a = make_acl_broker(CLIENT_ACL, users={"alice": USERS["alice"], "bob": USERS["bob"]})
    b = a.broker
    for user in (None, "bob"):
        gw = raw_as(clients, v5, b, version, user, "gateway-1")
        assert subscribe_raw(gw, version, ["gw/#"]) == [1], \
            f"client gateway-1 ({user or 'anonymous'}) may read gw/#"
        gw.publish("gw/x", b"m", qos=1)
        got = gw.receive_publish()
        assert got.topic == "gw/x", got
        gw.disconnect(wait=True)
    other = raw_as(clients, v5, b, version, "bob", "gateway-10")
    assert subscribe_raw(other, version, ["gw/#"]) == [refused_code(version)], \
        "another client id gets nothing from the client section"
    spaced = raw_as(clients, v5, b, version, None, "gateway 2")
    ack = spaced.publish("gw2/in", b"m", qos=1)
    if version == "5":
        assert ack.reason_code < 0x80, \
            f"`client gateway 2`: the id is the rest of the line: {ack}"


@hermod_only("`client` sections are a Hermod extension; mosquitto refuses the line")
@pytest.mark.parametrize("version", VERSIONS)
def test_client_section_adds_to_the_user_section_and_its_deny_wins(make_acl_broker, clients,
                                                                    v5, version):
    a = make_acl_broker(CLIENT_ACL, users={"alice": USERS["alice"]})
    c = raw_as(clients, v5, a.broker, version, "alice", "gateway-1")
    codes = subscribe_raw(c, version, ["alice/#", "gw/#", "alice/gw-locked/#"])
    assert codes == [1, 1, refused_code(version)], \
        f"alice as gateway-1 has both sections, and the client section's deny wins: {codes}"
    for t in ("alice/gw-locked/x", "alice/x", "gw/y"):
        c.publish(t, b"m", qos=1)
    c.publish("gw/end", b"end", qos=1)
    assert_delivered(topics_until_sentinel(c, "gw/end"), ["alice/x", "gw/y"],
                     "alice/gw-locked/x is denied by the client section")


# --------------------------------------------------------------------------------------------
# Reload


RELOAD_BEFORE = """\
user alice
topic readwrite alice/#
user bob
topic read alice/#
pattern readwrite sentinel/%c
"""
RELOAD_AFTER = """\
user alice
topic read alice/#
user bob
topic read bob/#
pattern readwrite sentinel/%c
"""
RELOAD_USERS = {u: USERS[u] for u in ("alice", "bob", "admin")}


@pytest.mark.parametrize("version", VERSIONS)
def test_reload_revokes_read_from_a_live_subscription(make_acl_broker, clients, v5, version):
    a = make_acl_broker(RELOAD_BEFORE + "user admin\ntopic readwrite #\n", users=RELOAD_USERS)
    b = a.broker
    cid = unique_id("live")
    sentinel = f"sentinel/{cid}"
    bob = raw_as(clients, v5, b, version, "bob", cid)
    assert subscribe_raw(bob, version, ["alice/#", sentinel]) == [1, 1]
    admin = raw_as(clients, v5, b, "311", "admin")
    admin.publish("alice/before", b"m", qos=1)
    admin.publish(sentinel, b"end", qos=1)
    assert_delivered(topics_until_sentinel(bob, sentinel), ["alice/before"],
                     "before the reload bob reads alice/#")
    a.reload(RELOAD_AFTER + "user admin\ntopic readwrite #\n")
    admin.publish("alice/after", b"m", qos=1)
    admin.publish(sentinel, b"end", qos=1)
    assert_delivered(topics_until_sentinel(bob, sentinel), [],
                     "after a reload that revokes the read grant, the existing subscription "
                     "gets no new message (checked again on delivery)")
    if SUBACK_CHECKED:
        assert subscribe_raw(bob, version, ["alice/#"]) == [refused_code(version)], \
            "and a new SUBSCRIBE is refused"


@pytest.mark.parametrize("version", VERSIONS)
def test_reload_revokes_write_from_a_connected_publisher(make_acl_broker, clients, v5, version):
    a = make_acl_broker(RELOAD_BEFORE + "user admin\ntopic readwrite #\n", users=RELOAD_USERS)
    b = a.broker
    cid = unique_id("wr")
    watch = observer(clients, b, ["alice/#", f"sentinel/{cid}"])
    alice = raw_as(clients, v5, b, version, "alice", cid)
    alice.publish("alice/before", b"m", qos=1)
    a.reload(RELOAD_AFTER + "user admin\ntopic readwrite #\n")
    ack = alice.publish("alice/after", b"m", qos=1)
    if version == "5":
        assert ack.reason_code == NOT_AUTHORIZED, f"write revoked → PUBACK 0x87: {ack}"
    alice.publish(f"sentinel/{cid}", b"end", qos=1)
    assert_delivered(topics_until_sentinel(watch, f"sentinel/{cid}"), ["alice/before"],
                     "the reload applies to the connected client's next PUBLISH")


@pytest.mark.parametrize("version", VERSIONS)
def test_reload_revokes_write_from_a_connected_clients_will(make_acl_broker, clients, v5,
                                                            version):
    """The will was allowed at CONNECT; a reload then takes alice's write grant away. Publishing
    the will is alice's next action, so the rules in force then refuse it (mosquitto 2.0.11 does
    not publish it either)."""
    a = make_acl_broker(RELOAD_BEFORE + "user admin\ntopic readwrite #\n", users=RELOAD_USERS)
    b = a.broker
    cid = unique_id("wrev")
    will_topic = f"alice/will/{cid}"
    if version == "5":
        c = v5.raw(b)
        ack = c.connect(cid, will=Will5(will_topic, b"gone", qos=1), **creds("alice"))
    else:
        c = clients.raw(b)
        ack = c.connect(cid, will=Will(will_topic, b"gone", qos=1), **creds("alice"))
    assert ack.return_code == 0, f"alice may write {will_topic} when she connects: {ack}"
    watch = observer(clients, b, [will_topic, "alice/end"])
    a.reload(RELOAD_AFTER + "user admin\ntopic readwrite #\n")
    c.close()  # no DISCONNECT: the broker would publish the will now [MQTT-3.1.2-8]
    # The will goes out when the broker sees the connection close; admin's sentinel, published
    # once the broker has logged the close, comes after it.
    closed = re.compile(rf"{re.escape(cid)}\b.*(disconnected|closed)")
    wait_for(lambda: closed.search(b.stderr_text()),
             message=f"the broker to log that {cid}'s connection closed")
    raw_as(clients, v5, b, "311", "admin").publish("alice/end", b"end", qos=1)
    assert_delivered(topics_until_sentinel(watch, "alice/end"), [],
                     "a will whose write grant a reload revoked is not published")
    watch.expect_nothing(0.5)  # bounded: nor a moment later


def session_connect(clients, v5, broker, version: str, user: str, cid: str, first: bool):
    """A persistent session (3.1.1 clean session 0, MQTT 5 a session expiry of 5 minutes):
    (client, CONNACK)."""
    if version == "5":
        c = v5.raw(broker)
        ack = c.connect(cid, clean_start=first, props=[(SESSION_EXPIRY_INTERVAL, 300)],
                        **creds(user))
    else:
        c = clients.raw(broker)
        ack = c.connect(cid, clean=False, **creds(user))
    assert ack.return_code == 0, ack
    assert ack.session_present == (not first), \
        f"session present {ack.session_present} [MQTT-3.2.2-2]"
    return c


@pytest.mark.parametrize("version", VERSIONS)
def test_reload_revokes_read_from_messages_queued_offline(make_acl_broker, clients, v5, version):
    a = make_acl_broker(RELOAD_BEFORE + "user admin\ntopic readwrite #\n", users=RELOAD_USERS)
    b = a.broker
    cid = unique_id("q")
    sentinel = f"sentinel/{cid}"
    bob = session_connect(clients, v5, b, version, "bob", cid, first=True)
    assert subscribe_raw(bob, version, ["alice/#", sentinel]) == [1, 1]
    bob.disconnect(wait=True)
    admin = raw_as(clients, v5, b, "311", "admin")
    for i in range(3):
        admin.publish(f"alice/queued/{i}", b"m", qos=1)  # queued for bob's session
    a.reload(RELOAD_AFTER + "user admin\ntopic readwrite #\n")
    admin.publish("alice/after", b"m", qos=1)
    admin.publish(sentinel, b"end", qos=1)
    bob = session_connect(clients, v5, b, version, "bob", cid, first=False)
    assert_delivered(topics_until_sentinel(bob, sentinel), [],
                     "messages queued before the reload revoked bob's read grant are not "
                     "delivered when he comes back; nor is one published after it")


@pytest.mark.parametrize("version", VERSIONS)
def test_queued_messages_are_delivered_while_the_grant_stands(make_acl_broker, clients, v5,
                                                              version):
    """The control for the test above: the same steps with a reload that keeps bob's grant."""
    a = make_acl_broker(RELOAD_BEFORE + "user admin\ntopic readwrite #\n", users=RELOAD_USERS)
    b = a.broker
    cid = unique_id("qk")
    sentinel = f"sentinel/{cid}"
    bob = session_connect(clients, v5, b, version, "bob", cid, first=True)
    assert subscribe_raw(bob, version, ["alice/#", sentinel]) == [1, 1]
    bob.disconnect(wait=True)
    admin = raw_as(clients, v5, b, "311", "admin")
    admin.publish("alice/queued", b"m", qos=1)
    a.reload(RELOAD_BEFORE + "user admin\ntopic readwrite #\n# unchanged rules\n")
    admin.publish(sentinel, b"end", qos=1)
    bob = session_connect(clients, v5, b, version, "bob", cid, first=False)
    assert_delivered(topics_until_sentinel(bob, sentinel), ["alice/queued"],
                     "a queued QoS 1 message is delivered on reconnect [MQTT-3.1.2-5]")


@hermod_only("mosquitto 2.0.11 drops the unacknowledged message, against [MQTT-4.4.0-1]")
@pytest.mark.parametrize("version", VERSIONS)
def test_message_in_flight_when_read_is_revoked_is_still_resent(make_acl_broker, clients, v5,
                                                                version):
    """A QoS 1 message bob received but did not acknowledge before the reload is sent again
    when he comes back: the server MUST resend unacknowledged PUBLISH packets of a present
    session [MQTT-4.4.0-1], and bob has seen its content already. Only messages not yet sent
    are held back by the revoked grant (the test above)."""
    a = make_acl_broker(RELOAD_BEFORE + "user admin\ntopic readwrite #\n", users=RELOAD_USERS)
    b = a.broker
    cid = unique_id("inf")
    bob = session_connect(clients, v5, b, version, "bob", cid, first=True)
    assert subscribe_raw(bob, version, ["alice/#", f"sentinel/{cid}"]) == [1, 1]
    admin = raw_as(clients, v5, b, "311", "admin")
    admin.publish("alice/in-flight", b"m", qos=1)
    first = bob.receive_publish(ack=False)
    assert first.topic == "alice/in-flight", first
    bob.close()  # no PUBACK, no DISCONNECT
    a.reload(RELOAD_AFTER + "user admin\ntopic readwrite #\n")
    admin.publish("alice/queued", b"m", qos=1)
    admin.publish(f"sentinel/{cid}", b"end", qos=1)
    bob = session_connect(clients, v5, b, version, "bob", cid, first=False)
    again = bob.receive_publish()
    assert (again.topic, again.packet_id, again.dup) == ("alice/in-flight", first.packet_id, True), \
        f"the unacknowledged PUBLISH again, same packet id, DUP set [MQTT-4.4.0-1]: {again}"
    assert_delivered(topics_until_sentinel(bob, f"sentinel/{cid}"), [],
                     "nothing published after the reload")


@hermod_only("mosquitto 2.0.11 fails open when the file is gone on reload (a PUBLISH denied "
             "before is accepted)")
def test_missing_file_on_reload_keeps_the_old_rules(make_acl_broker, clients, v5):
    a = make_acl_broker("user alice\ntopic readwrite alice/#\n", users={"alice": USERS["alice"]})
    b = a.broker
    alice = raw_as(clients, v5, b, "5", "alice")
    a.acl_path.unlink()
    a.sighup()
    wait_for(lambda: [l for l in b.stderr_text().splitlines()
                      if "not reloaded" in l and str(a.acl_path) in l],
             message="a log line saying the ACL file was not reloaded")
    assert alice.publish("alice/x", b"m", qos=1).reason_code < 0x80, "the old grant stands"
    assert alice.publish("bob/x", b"m", qos=1).reason_code == NOT_AUTHORIZED, \
        "and what it did not grant stays denied: a reload never fails open"
    assert b.alive


BROKEN_AFTER = """\
user alice
topic readwrite alice/#
topic write alice-new/x
topik read bob/#
"""


def log_lines_naming(broker: Broker, line: int) -> list[str]:
    rx = re.compile(rf"{re.escape(ACL_FILE)}:{line}\b")
    return [l for l in broker.stderr_text().splitlines() if rx.search(l)]


@hermod_only("mosquitto 2.0.11 fails open when the reloaded file does not parse (a PUBLISH "
             "denied before is accepted), and its message names no line")
@pytest.mark.parametrize("version", VERSIONS)
def test_broken_file_on_reload_keeps_the_old_rules_and_logs_one_line(make_acl_broker, clients,
                                                                      v5, version):
    a = make_acl_broker("user alice\ntopic readwrite alice/#\ntopic deny alice/no/#\n"
                        "pattern readwrite sentinel/%c\n", users={"alice": USERS["alice"]})
    b = a.broker
    cid = unique_id("brk")
    alice = raw_as(clients, v5, b, version, "alice", cid)
    assert subscribe_raw(alice, version, ["alice/#", f"sentinel/{cid}"]) == [1, 1]
    a.write_raw(BROKEN_AFTER)
    a.sighup()
    line = wait_for(lambda: log_lines_naming(b, 4), message=f"a log line naming {ACL_FILE}:4")
    assert "topik" in line[0] or "unknown" in line[0].lower() or "keyword" in line[0].lower(), \
        f"the line gives the reason: {line}"
    # The old rules, all of them and nothing of the new file, stay in force.
    ack = alice.publish("alice/still", b"m", qos=1)
    alice.publish("alice/no/x", b"m", qos=1)
    ack2 = alice.publish("alice-new/x", b"m", qos=1)
    ack3 = alice.publish("bob/x", b"m", qos=1)
    if version == "5":
        assert ack3.reason_code == NOT_AUTHORIZED, \
            f"a reload that fails never fails open: bob/x stays denied: {ack3}"
        assert ack.reason_code == SUCCESS, f"the old grant stands: {ack}"
        assert ack2.reason_code == NOT_AUTHORIZED, \
            f"no rule of the failed file applies, not even the lines before the error: {ack2}"
    alice.publish(f"sentinel/{cid}", b"end", qos=1)
    assert_delivered(topics_until_sentinel(alice, f"sentinel/{cid}"), ["alice/still"],
                     "old grant and old deny in force after a failed reload")
    assert b.alive, "a failed reload never stops the broker"
    assert len(log_lines_naming(b, 4)) == 1, \
        f"one log line for the failed reload: {log_lines_naming(b, 4)}"
    # A fixed file is taken on the next SIGHUP.
    a.reload("user alice\ntopic readwrite alice/#\ntopic write alice-new/x\n"
             "pattern readwrite sentinel/%c\n")
    ack = alice.publish("alice-new/x", b"m", qos=1)
    if version == "5":
        assert ack.reason_code < 0x80, f"the fixed file's new grant: {ack}"
    assert len(log_lines_naming(b, 4)) == 1


@hermod_only("mosquitto has no file check")
def test_file_check_interval_reloads_a_changed_acl_without_sighup(make_acl_broker, clients, v5):
    a = make_acl_broker("user alice\ntopic read alice/#\n", users={"alice": USERS["alice"]},
                        file_check_interval=1)
    alice = raw_as(clients, v5, a.broker, "5", "alice")
    assert alice.publish("alice/x", b"m", qos=1).reason_code == NOT_AUTHORIZED
    a.reload("user alice\ntopic readwrite alice/#\n", signal_broker=False, deadline=5.0)
    assert alice.publish("alice/x", b"m", qos=1).reason_code < 0x80, \
        "the file check (every second) applied the changed file to a connected client"


@pytest.mark.parametrize("version", VERSIONS)
def test_without_acl_file_everything_but_dollar_topics_is_allowed(make_acl_broker, clients, v5,
                                                                   version):
    a = make_acl_broker(None, users={"alice": USERS["alice"], "bob": USERS["bob"]})
    b = a.broker
    cid = unique_id("noacl")
    alice = raw_as(clients, v5, b, version, "alice", cid)
    assert subscribe_raw(alice, version, ["#", "$app/#"]) == [1, 1], \
        "no acl_file: every filter is granted"
    bob = raw_as(clients, v5, b, version, "bob")
    for t in ("bob/x", "alice/y", "$app/x"):
        ack = bob.publish(t, b"m", qos=1)
        if version == "5" and t.startswith("$") and not IS_MOSQUITTO:
            assert ack.reason_code == NOT_AUTHORIZED, f"a client's $ topic PUBLISH: {ack}"
    bob.publish(f"sentinel/{cid}", b"end", qos=1)
    # mosquitto routes a client's $app/x; Hermod never does without a grant.
    expected = ["bob/x", "alice/y"] + (["$app/x"] if IS_MOSQUITTO else [])
    assert_delivered(topics_until_sentinel(alice, f"sentinel/{cid}"), expected,
                     "without an acl_file everything is allowed but publishing to $ topics")


# --------------------------------------------------------------------------------------------
# Load errors


def start_with_acl_expecting_failure(tmp_path, acl: Optional[str]):
    from test_config import start_expecting_failure
    if acl is not None:
        (tmp_path / "bad.acl").write_text(acl)
    return start_expecting_failure(tmp_path, '[auth]\nacl_file = "bad.acl"\n')


LOAD_ERRORS = [
    ("unknown-keyword", "user alice\ntopic read a/b\nsubscribe a/#\n", 3, "subscribe"),
    ("unknown-access", "# rules\ntopic readonly a/b\n", 2, "readonly"),
    ("hash-not-last", "topic read a/#/b\n", 1, "a/#/b"),
    ("plus-inside-a-level", "user bob\n\ntopic write a/b+/c\n", 3, "a/b+/c"),
    ("percent-u-not-a-level", "pattern read a/x%u\n", 1, "%u"),
    ("percent-c-not-a-level", "pattern write %cx/y\n", 1, "%c"),
    ("topic-without-filter", "topic\n", 1, "topic"),
    ("user-without-name", "user\ntopic read a\n", 1, "user"),
]


@hermod_only("Hermod's load errors name file:line")
@pytest.mark.parametrize("name, acl, line, word", LOAD_ERRORS, ids=[e[0] for e in LOAD_ERRORS])
def test_bad_acl_file_stops_startup_naming_file_and_line(tmp_path, name, acl, line, word):
    done = start_with_acl_expecting_failure(tmp_path, acl)
    assert re.search(rf"bad\.acl:{line}\b", done.stderr), \
        f"the error names the file and line as bad.acl:{line}:\n{done.stderr}"
    assert word in done.stderr, f"the error quotes {word!r}:\n{done.stderr}"


@hermod_only("Hermod's load errors")
def test_missing_acl_file_stops_startup(tmp_path):
    done = start_with_acl_expecting_failure(tmp_path, None)
    assert str(tmp_path / "bad.acl") in done.stderr, \
        f"a relative acl_file is resolved against the configuration's directory: {done.stderr}"


# --------------------------------------------------------------------------------------------
# Password file by mosquitto_passwd; certificate identity


@pytest.mark.parametrize("version", VERSIONS)
def test_acl_with_a_password_file_from_mosquitto_passwd(tmp_path, request, clients, v5, version):
    confdir = tmp_path / "conf"
    port, config_path, _ = prepare(confdir, "user alice\ntopic readwrite alice/#\n",
                                   {"alice": USERS["alice"]}, False, "mosquitto", {})
    assert (confdir / PASSWORD_FILE).read_text().startswith("alice:$7$")
    workdir = tmp_path / "run"
    workdir.mkdir()
    b = Broker(workdir, {}, port=port, args=("-c", str(config_path)), config_file=False)
    request.node.hermod_brokers = [b]
    try:
        b.start()
        alice = raw_as(clients, v5, b, version, "alice")
        assert subscribe_raw(alice, version, ["alice/#"]) == [1]
        ack = alice.publish("bob/x", b"m", qos=1)
        if version == "5":
            assert ack.reason_code == NOT_AUTHORIZED, ack
        alice.publish("alice/x", b"m", qos=1)
        assert alice.receive_publish().topic == "alice/x"
    finally:
        problems = b.stop()
    assert not problems, problems


@hermod_only("TLS listeners as Hermod's TOML configures them")
def test_certificate_identity_is_matched_as_the_user(make_tls_broker, tls_pki, tmp_path):
    from tls_broker import TlsClient, client_context
    pw = tmp_path / "users.pw"
    write_password_file(pw, {"carol": USERS["carol"]}, "hermod")
    acl = "user alice\ntopic readwrite alice/#\nuser bob\ntopic readwrite bob/#\n"
    b = make_tls_broker(identity_as_username="cn", client_certificates="required",
                        ca_file=tls_pki.ca.cert, files={"users.pw": pw, ACL_FILE: acl},
                        extra_toml=f'[auth]\npassword_file = "users.pw"\n'
                                   f'allow_anonymous = false\nacl_file = "{ACL_FILE}"\n')
    c = TlsClient(b.host, b.tls_port, client_context(tls_pki.ca.cert, tls_pki.alice))
    try:
        # The certificate says alice; the user name in CONNECT does not count.
        ack = c.connect(unique_id("cert"), username="bob")
        assert ack.return_code == 0, ack
        codes = c.subscribe([("alice/#", 1), ("bob/#", 1)]).return_codes
        assert codes == [1, SUBACK_FAILURE_V3], f"alice's rules, not bob's: {codes}"
        c.publish("bob/x", b"m", qos=1)
        c.publish("alice/x", b"m", qos=1)
        got = c.receive_publish()
        assert got.topic == "alice/x", f"bob/x is not alice's to publish: {got}"
    finally:
        c.close()
