"""TLS listeners ([[listeners]] transport = "tls"): mosquitto_pub/mosquitto_sub, `openssl
s_client` and Python's ssl module against a broker with a plain and a TLS listener; server
certificates (ECDSA, RSA, with a chain, an encrypted key), client certificates (off, optional,
required; CA file or directory; CRL), the certificate's CN or subject as the user name,
protocol versions and ciphers, handshakes that fail or stall, configuration errors, SIGHUP
reloads, and TLS connections handed over to their session's home worker. The PKI and the
broker fixture are in tls_broker.py."""

from __future__ import annotations

import re
import shutil
import socket
import ssl
import subprocess
import threading
import time
from typing import Any, Optional

import pytest

import mqtt_raw
from broker_process import HOST, free_port, unique_id, wait_for
from clients import mosquitto_pub, round_trip
from mqtt_raw import ConnectionClosed
from test_config import run_hermod
from tls_broker import (CONFIG_NAME, HANDSHAKE_FAILED, KEY_PASSPHRASE, NOT_RELOADED, RELOADED,
                        Pair, TlsClient, client_context, der_of, line_of, log_count,
                        read_until_closed, reload_tls, replace_file, s_client, serial_of,
                        tls_config_text)

pytest_plugins = ["tls_broker"]  # the tls_pki and make_tls_broker fixtures
pytestmark = pytest.mark.hermod_only("TLS listeners as Hermod's TOML configures them")

CONNACK_ACCEPTED, BAD_USER_NAME_OR_PASSWORD, NOT_AUTHORIZED = 0, 4, 5


# --------------------------------------------------------------------------------------------
# Helpers


class TlsClients:
    """Opens TLS clients for a test and closes them all at teardown."""

    def __init__(self, pki):
        self.pki = pki
        self._open: list[TlsClient] = []

    def open(self, broker, cert: Optional[Pair] = None, ca=None,
             context: Optional[ssl.SSLContext] = None,
             session: Optional[ssl.SSLSession] = None) -> TlsClient:
        """A TLS connection with its handshake done, no MQTT yet."""
        c = TlsClient(broker.host, broker.tls_port,
                      context or client_context(ca or self.pki.ca.cert, cert), session=session)
        self._open.append(c)
        return c

    def connect(self, broker, cert: Optional[Pair] = None, client_id: Optional[str] = None,
                **connect_kw: Any) -> TlsClient:
        """A TLS client whose CONNECT was accepted."""
        c = self.open(broker, cert)
        cid = unique_id("tls") if client_id is None else client_id
        ack = c.connect(cid, **connect_kw)
        assert ack.return_code == CONNACK_ACCEPTED, f"CONNECT over TLS refused: {ack}"
        c.client_id = cid
        return c

    def attempt(self, broker, cert: Optional[Pair] = None, ca=None,
                context: Optional[ssl.SSLContext] = None,
                session: Optional[ssl.SSLSession] = None, **connect_kw: Any):
        """The CONNACK return code of a TLS client with `cert`, or None if the connection was
        refused: the handshake failed, or (TLS 1.3 checks the client's certificate after the
        client has finished its side) the connection was closed before any CONNACK."""
        try:
            c = self.open(broker, cert, ca, context=context, session=session)
        except (ssl.SSLError, ConnectionError):
            return None
        try:
            return c.connect(unique_id("try"), **connect_kw).return_code
        except ConnectionClosed:
            return None
        finally:
            c.close()

    def round_trip(self, broker, cert: Optional[Pair] = None) -> None:
        """A fresh TLS subscriber gets a fresh TLS publisher's QoS 1 message."""
        topic = f"alive/{unique_id()}"
        sub = self.connect(broker, cert)
        sub.subscribe([(topic, 1)])
        pub = self.connect(broker, cert)
        pub.publish(topic, b"ping", qos=1)
        got = sub.receive_publish()
        assert (got.topic, got.payload) == (topic, b"ping"), f"round trip over TLS failed: {got!r}"
        pub.disconnect()
        sub.disconnect()

    def close_all(self) -> None:
        for c in self._open:
            c.close()


@pytest.fixture
def tls(tls_pki):
    c = TlsClients(tls_pki)
    yield c
    c.close_all()


def tls_args(pki, cert: Optional[Pair] = None, ca=None) -> list[str]:
    """mosquitto_pub/mosquitto_sub options for TLS: the CA that signs the server, and a client
    certificate if given."""
    args = ["--cafile", str(ca or pki.ca.cert)]
    if cert is not None:
        args += ["--cert", str(cert.cert), "--key", str(cert.key)]
    return args


def wait_handshake_failures(broker, more_than: int, what: str) -> None:
    wait_for(lambda: log_count(broker, HANDSHAKE_FAILED) > more_than,
             message=f"the broker to log {HANDSHAKE_FAILED!r} for {what}")


def wait_log(broker, pattern: str, what: str, timeout: float = 5.0) -> str:
    rx = re.compile(pattern)
    return wait_for(lambda: next((l for l in broker.stderr_text().splitlines() if rx.search(l)),
                                 None), timeout, message=what)


def connected_as(cid: str, user: str) -> str:
    """The broker's log line for client id `cid` connected with user name `user`."""
    return rf'connected as {re.escape(cid)} \([^)]*user "{re.escape(user)}"'


def refused_by_broker(broker, tls, cert: Optional[Pair], what: str, ca=None) -> None:
    """Asserts the broker refuses this client's TLS connection (and logs the failed
    handshake)."""
    before = log_count(broker, HANDSHAKE_FAILED)
    code = tls.attempt(broker, cert, ca)
    assert code is None, f"{what}: refused during the TLS handshake, not CONNACK {code}"
    wait_handshake_failures(broker, before, what)


def accepted(broker, tls, cert: Optional[Pair], what: str) -> None:
    code = tls.attempt(broker, cert)
    assert code == CONNACK_ACCEPTED, f"{what}: TLS handshake and CONNECT accepted, got {code}"


# --------------------------------------------------------------------------------------------
# Basic traffic


@pytest.mark.parametrize("qos", [0, 1])
def test_mosquitto_pub_to_mosquitto_sub_over_tls(make_tls_broker, tls_pki, clients, qos):
    b = make_tls_broker()
    topic = f"tls/{unique_id()}"
    sub = clients.mosquitto_sub("-t", topic, "-q", str(qos), "-C", "1", "-v", *tls_args(tls_pki),
                                broker=b.tls)
    sub.wait_subscribed()
    done = mosquitto_pub(b.tls, "-t", topic, "-q", str(qos), "-m", "over tls", *tls_args(tls_pki))
    assert done.returncode == 0, f"mosquitto_pub over TLS with --cafile: {done.stderr}"
    sub.wait_line(lambda l: l == f"{topic} over tls")
    assert sub.wait_exit() == 0
    assert log_count(b, HANDSHAKE_FAILED) == 0, b.stderr_tail()


def test_tls_and_plain_clients_exchange_messages(make_tls_broker, tls, clients):
    b = make_tls_broker()
    topic = f"mixed/{unique_id()}"
    plain = clients.raw_connected(b)
    plain.subscribe([(topic + "/to-plain", 1)])
    secure = tls.connect(b)
    secure.subscribe([(topic + "/to-tls", 1)])
    secure.publish(topic + "/to-plain", b"from tls", qos=1)
    got = plain.receive_publish()
    assert (got.topic, got.payload) == (topic + "/to-plain", b"from tls")
    plain.publish(topic + "/to-tls", b"from plain", qos=1)
    got = secure.receive_publish()
    assert (got.topic, got.payload) == (topic + "/to-tls", b"from plain")


def test_client_that_does_not_trust_the_servers_ca_fails(make_tls_broker, tls_pki, tls):
    b = make_tls_broker()
    before = log_count(b, HANDSHAKE_FAILED)
    done = mosquitto_pub(b.tls, "-t", "tls/x", "-m", "no", *tls_args(tls_pki, ca=tls_pki.other_ca.cert))
    assert done.returncode != 0, \
        f"mosquitto_pub trusting another CA must fail the handshake: {done.stdout} {done.stderr}"
    with pytest.raises(ssl.SSLCertVerificationError):
        tls.open(b, ca=tls_pki.other_ca.cert)
    wait_for(lambda: log_count(b, HANDSHAKE_FAILED) >= before + 2,
             message=f"two {HANDSHAKE_FAILED!r} log lines")
    tls.round_trip(b)


def test_plain_mqtt_on_the_tls_port_is_closed_and_others_are_served(make_tls_broker, tls,
                                                                    clients):
    b = make_tls_broker()
    before = log_count(b, HANDSHAKE_FAILED)
    with socket.create_connection((b.host, b.tls_port), timeout=5) as s:
        s.sendall(mqtt_raw.connect(unique_id("plain")))
        data, closed = read_until_closed(s, 5.0)
    assert closed, "a plain MQTT CONNECT on the TLS port gets the connection closed"
    assert data[:1] in (b"", b"\x15"), \
        f"no MQTT bytes (no CONNACK), at most a TLS alert record: {data!r}"
    wait_handshake_failures(b, before, "a plain CONNECT")
    tls.round_trip(b)
    round_trip(clients, b)


def client_hello() -> bytes:
    """The first flight of a real TLS client (its ClientHello), without any server."""
    ctx = ssl.create_default_context()
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    conn = ctx.wrap_bio(incoming, outgoing, server_hostname="localhost")
    with pytest.raises(ssl.SSLWantReadError):
        conn.do_handshake()
    return outgoing.read()


CONNECT_TIMEOUT = 2


def trickle(sock: socket.socket, data: bytes, interval: float, until: float) -> threading.Thread:
    """Sends `data` one byte every `interval` seconds on a thread, until the peer closes or
    `until` (a time.monotonic() value) passes."""
    def run() -> None:
        for byte in data:
            if time.monotonic() > until:
                return
            try:
                sock.send(bytes([byte]))
            except OSError:
                return
            time.sleep(interval)
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


@pytest.mark.time_limit(15)
@pytest.mark.parametrize("what", ["garbage", "silent", "half-client-hello",
                                  "trickled-client-hello"])
def test_bad_or_stalled_handshake_does_not_block_other_clients(make_tls_broker, tls, clients,
                                                               what):
    # One worker: a handshake that blocked it would stall every other client.
    b = make_tls_broker(config={"workers": 1, "connect_timeout": CONNECT_TIMEOUT})
    bad = socket.create_connection((b.host, b.tls_port), timeout=5)
    sender = None
    try:
        started = time.monotonic()
        if what == "garbage":
            bad.sendall(bytes(range(256)) * 4)
        elif what == "half-client-hello":
            hello = client_hello()
            bad.sendall(hello[:len(hello) // 2])
        elif what == "trickled-client-hello":
            # Every byte is progress, but the handshake never ends within connect_timeout.
            sender = trickle(bad, client_hello(), 0.2, started + CONNECT_TIMEOUT + 3)
        # Meanwhile other clients, TLS and plain, connect and exchange messages.
        tls.round_trip(b)
        round_trip(clients, b)
        limit = CONNECT_TIMEOUT + 2.5
        _, closed = read_until_closed(bad, max(0.1, limit - (time.monotonic() - started)))
        elapsed = time.monotonic() - started
    finally:
        if sender is not None:
            sender.join(CONNECT_TIMEOUT + 4)
        bad.close()
    assert closed, (f"{what}: the broker closes the connection within connect_timeout "
                    f"({CONNECT_TIMEOUT} s) plus slack; still open after {elapsed:.1f} s")
    tls.round_trip(b)


def test_large_and_many_messages_over_tls(make_tls_broker, tls, clients):
    """A 1 MiB message (many TLS records, partial writes) and a burst of small ones, from a TLS
    publisher to a TLS and a plain subscriber, whole and in order."""
    b = make_tls_broker()
    topic = f"bulk/{unique_id()}"
    secure = tls.connect(b)
    secure.subscribe([(topic, 1)])
    plain = clients.raw_connected(b)
    plain.subscribe([(topic, 1)])
    pub = tls.connect(b)
    big = bytes((i * 7919 + (i >> 8)) & 0xFF for i in range(1 << 20))
    pub.publish(topic, big, qos=1)
    for who, c in (("tls", secure), ("plain", plain)):
        got = c.receive_publish(timeout=10)
        assert got.payload == big, f"{who} subscriber: the 1 MiB payload arrives intact"
    small = [b"m%d" % i for i in range(500)]
    pub.send(b"".join(mqtt_raw.publish(topic, m) for m in small))
    pub.publish(topic, b"end", qos=1)
    for who, c in (("tls", secure), ("plain", plain)):
        got = [p.payload for p in c.receive_until(topic, b"end", timeout=10)]
        assert got == small, f"{who} subscriber: 500 QoS 0 messages, all and in order"


# --------------------------------------------------------------------------------------------
# Server certificates and keys


@pytest.mark.parametrize("kind", ["ecdsa", "rsa", "chain"])
def test_server_certificate_is_presented_and_verifies(make_tls_broker, tls_pki, tls, clients,
                                                      kind):
    pair = {"ecdsa": tls_pki.server_ec, "rsa": tls_pki.server_rsa,
            "chain": tls_pki.server_chain}[kind]
    b = make_tls_broker(server=pair)
    c = tls.open(b)  # verifies against the root CA only: the chain must come from the server
    assert c.sock.getpeercert(binary_form=True) == der_of(pair.cert), \
        f"the broker presents the configured {kind} certificate (serial {serial_of(pair.cert)})"
    c.close()
    topic = f"cert/{unique_id()}"
    sub = clients.mosquitto_sub("-t", topic, "-C", "1", *tls_args(tls_pki), broker=b.tls)
    sub.wait_subscribed()
    done = mosquitto_pub(b.tls, "-t", topic, "-m", kind, *tls_args(tls_pki))
    assert done.returncode == 0, done.stderr
    sub.wait_line(lambda l: l == kind)


def test_encrypted_key_with_key_password_file(make_tls_broker, tls_pki, tls):
    b = make_tls_broker(key_file=tls_pki.encrypted_key, key_password_file=tls_pki.key_password_file)
    c = tls.open(b)
    assert c.sock.getpeercert(binary_form=True) == der_of(tls_pki.server_ec.cert)
    c.close()
    tls.round_trip(b)
    assert KEY_PASSPHRASE not in b.stderr_text(), "the key's passphrase is never logged"


# --------------------------------------------------------------------------------------------
# Protocol versions and ciphers


def negotiated(done: subprocess.CompletedProcess) -> str:
    return done.stdout + done.stderr


@pytest.mark.parametrize("setting", [{}, {"tls_min_version": "1.2"}], ids=["default", "1.2"])
def test_tls_1_2_and_1_3_are_accepted_but_not_1_1(make_tls_broker, tls_pki, setting):
    b = make_tls_broker(**setting)
    for flag, version in (("-tls1_2", "TLSv1.2"), ("-tls1_3", "TLSv1.3")):
        done = s_client(b.tls_port, flag, ca=tls_pki.ca.cert)
        assert done.returncode == 0 and version in negotiated(done), \
            f"openssl s_client {flag} completes a {version} handshake:\n{negotiated(done)}"
    before = log_count(b, HANDSHAKE_FAILED)
    # Security level 0 lets this OpenSSL offer TLS 1.1 at all: the broker is what refuses it.
    done = s_client(b.tls_port, "-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0", ca=tls_pki.ca.cert)
    assert done.returncode != 0, f"TLS 1.1 is refused:\n{negotiated(done)}"
    assert "no protocols available" not in negotiated(done), \
        f"the client did offer TLS 1.1 (else this test proves nothing):\n{negotiated(done)}"
    wait_handshake_failures(b, before, "a TLS 1.1 ClientHello")


def test_tls_min_version_1_3_refuses_tls_1_2(make_tls_broker, tls_pki):
    b = make_tls_broker(tls_min_version="1.3")
    before = log_count(b, HANDSHAKE_FAILED)
    done = s_client(b.tls_port, "-tls1_2", ca=tls_pki.ca.cert)
    assert done.returncode != 0, f"tls_min_version = 1.3 refuses TLS 1.2:\n{negotiated(done)}"
    wait_handshake_failures(b, before, "a TLS 1.2 ClientHello")
    done = s_client(b.tls_port, "-tls1_3", ca=tls_pki.ca.cert)
    assert done.returncode == 0 and "TLSv1.3" in negotiated(done), negotiated(done)


def test_ciphers_limit_tls_1_2_cipher_suites(make_tls_broker, tls_pki):
    b = make_tls_broker(ciphers="ECDHE-ECDSA-AES128-GCM-SHA256")
    done = s_client(b.tls_port, "-tls1_2", "-cipher", "ECDHE-ECDSA-AES256-GCM-SHA384",
                    ca=tls_pki.ca.cert)
    assert done.returncode != 0, f"a cipher outside `ciphers` is refused:\n{negotiated(done)}"
    done = s_client(b.tls_port, "-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-GCM-SHA256",
                    ca=tls_pki.ca.cert)
    assert done.returncode == 0 and "ECDHE-ECDSA-AES128-GCM-SHA256" in negotiated(done), \
        negotiated(done)


def test_ciphersuites_limit_tls_1_3_suites(make_tls_broker, tls_pki, tls):
    b = make_tls_broker(ciphersuites="TLS_CHACHA20_POLY1305_SHA256")
    c = tls.open(b, context=client_context(tls_pki.ca.cert, minimum=ssl.TLSVersion.TLSv1_3))
    assert c.sock.cipher()[0] == "TLS_CHACHA20_POLY1305_SHA256", \
        f"the only suite allowed is negotiated: {c.sock.cipher()}"
    c.close()
    done = s_client(b.tls_port, "-tls1_3", "-ciphersuites", "TLS_AES_128_GCM_SHA256",
                    ca=tls_pki.ca.cert)
    assert done.returncode != 0, f"a suite outside `ciphersuites` is refused:\n{negotiated(done)}"


# --------------------------------------------------------------------------------------------
# Client certificates


def required(pki, **extra: Any) -> dict[str, Any]:
    return {"client_certificates": "required", "ca_file": pki.ca.cert, **extra}


def test_required_client_certificate_lets_alice_in(make_tls_broker, tls_pki, tls, clients):
    b = make_tls_broker(**required(tls_pki))
    topic = f"certs/{unique_id()}"
    sub = clients.mosquitto_sub("-t", topic, "-C", "1", *tls_args(tls_pki, tls_pki.alice),
                                broker=b.tls)
    sub.wait_subscribed()
    done = mosquitto_pub(b.tls, "-t", topic, "-m", "alice was here",
                         *tls_args(tls_pki, tls_pki.alice))
    assert done.returncode == 0, f"alice's certificate is accepted: {done.stderr}"
    sub.wait_line(lambda l: l == "alice was here")
    tls.round_trip(b, tls_pki.alice)


@pytest.mark.parametrize("who", ["no-certificate", "other-ca", "expired"])
def test_required_client_certificate_refuses(make_tls_broker, tls_pki, tls, clients, who):
    b = make_tls_broker(**required(tls_pki))
    cert = {"no-certificate": None, "other-ca": tls_pki.stranger, "expired": tls_pki.expired}[who]
    refused_by_broker(b, tls, cert, who)
    # mosquitto_pub too: its message never arrives.
    topic = f"certs/{unique_id()}"
    watcher = clients.raw_connected(b)
    watcher.subscribe([(topic, 0)])
    try:
        done = mosquitto_pub(b.tls, "-t", topic, "-m", "should not arrive",
                             *tls_args(tls_pki, cert), timeout=8)
        assert done.returncode != 0, f"mosquitto_pub ({who}) fails: {done.stdout}"
    except subprocess.TimeoutExpired:
        pass  # retrying to connect until killed: refused just the same
    mosquitto_pub(b, "-t", topic, "-m", "sentinel")
    got = watcher.receive_until(topic, b"sentinel")
    assert got == [], f"a refused client's message must not be published: {got}"
    accepted(b, tls, tls_pki.alice, "alice, on the same listener")


def test_client_certificates_from_ca_dir(make_tls_broker, tls_pki, tls):
    b = make_tls_broker(client_certificates="required", ca_dir=tls_pki.ca_dir)
    accepted(b, tls, tls_pki.alice, "alice, her CA found in ca_dir")
    refused_by_broker(b, tls, tls_pki.stranger, "a certificate from a CA not in ca_dir")


def test_crl_file_refuses_revoked_bob(make_tls_broker, tls_pki, tls):
    without_crl = make_tls_broker(**required(tls_pki))
    accepted(without_crl, tls, tls_pki.bob, "bob, without a CRL (his certificate is valid)")
    b = make_tls_broker(**required(tls_pki, crl_file=tls_pki.crl))
    refused_by_broker(b, tls, tls_pki.bob, "bob, revoked in crl_file")
    accepted(b, tls, tls_pki.alice, "alice, not revoked")


def test_crl_file_must_cover_every_trusted_ca(make_tls_broker, tls_pki, tls):
    both = tls_pki.ca.cert.read_text() + tls_pki.other_ca.cert.read_text()
    without_crl = make_tls_broker(client_certificates="required", ca_file="cas.pem",
                                  files={"cas.pem": both})
    accepted(without_crl, tls, tls_pki.stranger, "the other CA's client, both CAs trusted")
    b = make_tls_broker(client_certificates="required", ca_file="cas.pem", crl_file=tls_pki.crl,
                        files={"cas.pem": both})
    accepted(b, tls, tls_pki.alice, "alice, whose CA's CRL is in crl_file")
    refused_by_broker(b, tls, tls_pki.stranger, "a client of a CA with no CRL in crl_file")


def test_expired_crl_refuses_every_certificate(make_tls_broker, tls_pki, tls):
    b = make_tls_broker(**required(tls_pki, crl_file=tls_pki.crl_expired))
    refused_by_broker(b, tls, tls_pki.alice, "alice, checked against a CRL past its next update")


def test_optional_client_certificate(make_tls_broker, tls_pki, tls):
    b = make_tls_broker(client_certificates="optional", ca_file=tls_pki.ca.cert)
    accepted(b, tls, None, "no certificate, optional")
    accepted(b, tls, tls_pki.alice, "alice's certificate, optional")
    refused_by_broker(b, tls, tls_pki.stranger, "a certificate from another CA, optional")
    refused_by_broker(b, tls, tls_pki.expired, "an expired certificate, optional")


def test_client_certificates_off_ignores_them(make_tls_broker, tls_pki, tls):
    b = make_tls_broker()
    accepted(b, tls, None, "no certificate, off")
    accepted(b, tls, tls_pki.stranger, "a certificate nobody checks, off")


# --------------------------------------------------------------------------------------------
# The certificate's identity as the user name


IDENTITY_USERS = {"alice": "alice's password", "carol": "carol's password",
                  "CN=alice,O=Hermod Tests": "unused"}


def test_identity_as_username_cn_logs_alice_in_without_password(make_tls_broker, tls_pki, tls,
                                                                clients):
    # Two workers: the identity must reach the session's home worker with the connection.
    b = make_tls_broker(config={"workers": 2}, identity_as_username="cn",
                        auth={"users": IDENTITY_USERS, "allow_anonymous": False},
                        **required(tls_pki))
    for _ in range(4):
        c = tls.connect(b, tls_pki.alice)  # no user name, no password
        wait_log(b, connected_as(c.client_id, "alice"),
                 f'the log line "connected as {c.client_id} (... user "alice")"')
        c.disconnect()
    # bob has no entry in the password file: his certificate is all he needs.
    c = tls.connect(b, tls_pki.bob)
    wait_log(b, connected_as(c.client_id, "bob"), "bob, not in the password file, by certificate")
    cid = unique_id("idpub")
    done = mosquitto_pub(b.tls, "-i", cid, "-t", "id/x", "-m", "hi",
                         *tls_args(tls_pki, tls_pki.alice))
    assert done.returncode == 0, f"mosquitto_pub with alice's certificate, no -u/-P: {done.stderr}"
    wait_log(b, connected_as(cid, "alice"), "mosquitto_pub logged in as alice")


def test_identity_as_username_replaces_the_connects_user_name(make_tls_broker, tls_pki, tls):
    b = make_tls_broker(identity_as_username="cn",
                        auth={"users": IDENTITY_USERS, "allow_anonymous": False},
                        **required(tls_pki))
    c = tls.connect(b, tls_pki.alice, username="carol")
    wait_log(b, connected_as(c.client_id, "alice"),
             "the certificate's CN, not the user name in CONNECT, is the user")
    assert not re.search(connected_as(c.client_id, "carol"), b.stderr_text())


def test_identity_as_username_with_optional_certificates(make_tls_broker, tls_pki, tls):
    b = make_tls_broker(identity_as_username="cn",
                        auth={"users": IDENTITY_USERS, "allow_anonymous": False},
                        client_certificates="optional", ca_file=tls_pki.ca.cert)
    c = tls.connect(b, tls_pki.alice)
    wait_log(b, connected_as(c.client_id, "alice"), "alice by her certificate")
    assert tls.attempt(b, None) == NOT_AUTHORIZED, \
        "no certificate and no user name: anonymous, not allowed → return code 5"
    assert tls.attempt(b, None, username="alice") == BAD_USER_NAME_OR_PASSWORD, \
        "without the certificate alice needs her password → return code 4"
    c = tls.connect(b, None, username="carol", password=IDENTITY_USERS["carol"].encode())
    wait_log(b, connected_as(c.client_id, "carol"), "carol by password, without a certificate")


def test_identity_as_username_subject(make_tls_broker, tls_pki, tls):
    b = make_tls_broker(identity_as_username="subject",
                        auth={"users": IDENTITY_USERS, "allow_anonymous": False},
                        **required(tls_pki))
    c = tls.connect(b, tls_pki.alice)
    wait_log(b, connected_as(c.client_id, "CN=alice,O=Hermod Tests"),
             "the subject in RFC 2253 form as the user name")


def test_identity_as_username_survives_tls_session_resumption(make_tls_broker, tls_pki, tls):
    """A client resuming a TLS session sends no certificate: the session's certificate must
    still give the user name."""
    b = make_tls_broker(config={"workers": 2}, identity_as_username="cn",
                        auth={"users": IDENTITY_USERS, "allow_anonymous": False},
                        **required(tls_pki))
    context = client_context(tls_pki.ca.cert, tls_pki.alice)
    first = tls.open(b, context=context)
    assert first.connect(unique_id("res")).return_code == 0  # reading CONNACK takes the tickets
    session = first.sock.session
    first.disconnect()
    for _ in range(3):
        again = tls.open(b, context=context, session=session)
        assert again.sock.session_reused, \
            "the broker resumes TLS sessions (OpenSSL's default), else this test proves nothing"
        cid = unique_id("res")
        assert again.connect(cid).return_code == 0, "a resumed session's client is alice"
        wait_log(b, connected_as(cid, "alice"), "alice on a resumed TLS session")
        again.disconnect()


# --------------------------------------------------------------------------------------------
# Configuration errors


def start_tls_expecting_failure(tmp_path, pki, listener: dict[str, Any],
                                files: Optional[dict[str, Any]] = None):
    """Writes a configuration with a plain and a TLS listener (server.pem / server.key in the
    configuration's directory, `listener` changing the TLS listener's keys) and runs hermod; it
    must exit non-zero. Returns (completed process, configuration text, its path)."""
    confdir = tmp_path / "conf"
    confdir.mkdir()
    shutil.copy(pki.server_ec.cert, confdir / "server.pem")
    shutil.copy(pki.server_ec.key, confdir / "server.key")
    for name, content in (files or {}).items():
        (confdir / name).write_text(content)
    keys = {"transport": "tls", "cert_file": "server.pem", "key_file": "server.key", **listener}
    text = tls_config_text(free_port(), free_port(), {"log_level": "info"}, keys)
    path = confdir / CONFIG_NAME
    path.write_text(text)
    done = run_hermod("-c", str(path))
    assert done.returncode != 0, \
        f"hermod accepted a bad TLS configuration (exit 0):\n{text}\nstderr:\n{done.stderr}"
    assert "AddressSanitizer" not in done.stderr and "runtime error:" not in done.stderr, done.stderr
    return done, text, path


GARBAGE_PEM = "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n"

# (id, TLS listener keys, files to write in the configuration directory, keys of which one must
# be named (with its line), or None: only the key's name and some line are checked)
CONFIG_ERRORS = [
    ("no-cert-file", {"cert_file": None}, {}, None, "cert_file"),
    ("no-key-file", {"key_file": None}, {}, None, "key_file"),
    ("missing-cert-file", {"cert_file": "nowhere.pem"}, {}, ("cert_file",), "nowhere.pem"),
    ("garbage-cert-file", {"cert_file": "garbage.pem"}, {"garbage.pem": GARBAGE_PEM},
     ("cert_file",), None),
    ("garbage-key-file", {"key_file": "garbage.key"}, {"garbage.key": "not a key\n"},
     ("key_file",), None),
    ("key-does-not-match", {"key_file": "@rsa-key"}, {}, ("key_file", "cert_file"), None),
    ("encrypted-key-without-password", {"key_file": "@encrypted-key"}, {}, ("key_file",), None),
    ("wrong-key-password", {"key_file": "@encrypted-key", "key_password_file": "@wrong-pass"}, {},
     ("key_file", "key_password_file"), None),
    ("required-without-ca", {"client_certificates": "required"}, {}, None, "client_certificates"),
    ("missing-ca-file", {"client_certificates": "required", "ca_file": "no-ca.pem"}, {},
     ("ca_file",), "no-ca.pem"),
    ("missing-crl-file", {"client_certificates": "required", "ca_file": "@ca",
                          "crl_file": "no-crl.pem"}, {}, ("crl_file",), "no-crl.pem"),
    ("bad-transport", {"transport": "ssl"}, {}, ("transport",), None),
    ("bad-client-certificates", {"client_certificates": "yes"}, {}, ("client_certificates",), None),
    ("bad-identity-as-username", {"identity_as_username": "email"}, {},
     ("identity_as_username",), None),
    ("bad-tls-min-version", {"tls_min_version": "1.1"}, {}, ("tls_min_version",), None),
    ("misspelt-key", {"cafile": "@ca"}, {}, ("cafile",), None),
]


@pytest.mark.parametrize("listener, files, named, word",
                         [c[1:] for c in CONFIG_ERRORS], ids=[c[0] for c in CONFIG_ERRORS])
def test_tls_configuration_error_names_file_line_and_key(tmp_path, tls_pki, listener, files,
                                                         named, word):
    specials = {"@rsa-key": tls_pki.server_rsa.key, "@encrypted-key": tls_pki.encrypted_key,
                "@wrong-pass": tls_pki.wrong_password_file, "@ca": tls_pki.ca.cert}
    listener = {k: specials.get(v, v) if isinstance(v, str) else v for k, v in listener.items()}
    done, text, path = start_tls_expecting_failure(tmp_path, tls_pki, listener, files)
    err = done.stderr
    if named is None:
        assert re.search(rf"{re.escape(CONFIG_NAME)}:\d+:", err), \
            f"the error names the file and a line:\n{err}"
    else:
        places = [(k, line_of(text, k)) for k in named]
        assert any(re.search(rf"{re.escape(CONFIG_NAME)}:{n}\b", err) and k in err
                   for k, n in places), \
            f"the error names the file, the line and the key, one of {places}:\n{err}"
    if word:
        assert word in err, f"the error mentions {word!r}:\n{err}"
    assert KEY_PASSPHRASE not in err


def test_listener_that_cannot_start_stops_startup_naming_it(tmp_path, tls_pki):
    confdir = tmp_path / "conf"
    confdir.mkdir()
    shutil.copy(tls_pki.server_ec.cert, confdir / "server.pem")
    shutil.copy(tls_pki.server_ec.key, confdir / "server.key")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind((HOST, 0))  # no SO_REUSEPORT: nobody else may bind it
        taken.listen(1)
        tls_port = taken.getsockname()[1]
        text = tls_config_text(free_port(), tls_port, {"log_level": "info"},
                               {"transport": "tls", "cert_file": "server.pem",
                                "key_file": "server.key"})
        (confdir / CONFIG_NAME).write_text(text)
        done = run_hermod("-c", str(confdir / CONFIG_NAME))
    assert done.returncode != 0, f"hermod started with its TLS port taken:\n{done.stderr}"
    assert HOST in done.stderr and re.search(rf"\b{tls_port}\b", done.stderr), \
        f"the error names the listener ({HOST}, port {tls_port}):\n{done.stderr}"


# --------------------------------------------------------------------------------------------
# SIGHUP


def peer_der(tls, broker) -> bytes:
    c = tls.open(broker)
    try:
        return c.sock.getpeercert(binary_form=True)
    finally:
        c.close()


def install(broker, pair: Pair, key: Optional[bytes] = None) -> None:
    """Puts `pair` in place of the broker's server.pem / server.key, each in one rename."""
    replace_file(broker.confdir / "server.key", key if key is not None else pair.key.read_bytes())
    replace_file(broker.confdir / "server.pem", pair.cert.read_bytes())


def test_sighup_presents_a_new_certificate_and_keeps_clients(make_tls_broker, tls_pki, tls,
                                                            tmp_path):
    b = make_tls_broker()
    old = der_of(tls_pki.server_ec.cert)
    topic = f"reload/{unique_id()}"
    sub = tls.connect(b)
    sub.subscribe([(topic, 1)])
    assert peer_der(tls, b) == old
    new = tls_pki.new_server_cert(tmp_path, "reloaded")
    assert serial_of(new.cert) != serial_of(tls_pki.server_ec.cert)
    install(b, new)
    line = reload_tls(b)
    assert RELOADED in line, f"SIGHUP reloads the TLS files: {line}"
    assert peer_der(tls, b) == der_of(new.cert), \
        f"a new handshake gets the new certificate (serial {serial_of(new.cert)})"
    pub = tls.connect(b)
    pub.publish(topic, b"after reload", qos=1)
    got = sub.receive_publish()
    assert (got.topic, got.payload) == (topic, b"after reload"), \
        "a TLS client connected before the reload stays connected and receives"
    sub.ping()


@pytest.mark.parametrize("broken", ["garbage-cert", "key-does-not-match"])
def test_sighup_with_a_broken_file_keeps_the_old_context(make_tls_broker, tls_pki, tls,
                                                         tmp_path, broken):
    b = make_tls_broker()
    old = der_of(tls_pki.server_ec.cert)
    topic = f"reload/{unique_id()}"
    sub = tls.connect(b)
    sub.subscribe([(topic, 1)])
    new = tls_pki.new_server_cert(tmp_path, "next")
    if broken == "garbage-cert":
        replace_file(b.confdir / "server.pem", GARBAGE_PEM)
    else:
        replace_file(b.confdir / "server.pem", new.cert.read_bytes())  # the old key stays
    line = reload_tls(b)
    assert NOT_RELOADED in line and re.search(r"\bwarn", line), \
        f"a broken file is a warning and the old context stays: {line}"
    assert peer_der(tls, b) == old, "new handshakes still work, with the old certificate"
    pub = tls.connect(b)
    pub.publish(topic, b"still here", qos=1)
    assert sub.receive_publish().payload == b"still here"
    # Once the files are right again the next SIGHUP takes them.
    install(b, new)
    line = reload_tls(b)
    assert RELOADED in line, line
    assert peer_der(tls, b) == der_of(new.cert)


def test_sighup_reloads_the_crl(make_tls_broker, tls_pki, tls):
    b = make_tls_broker(**required(tls_pki, crl_file="crl.pem"),
                        files={"crl.pem": tls_pki.crl_empty})
    topic = f"crl/{unique_id()}"
    bobs_context = client_context(tls_pki.ca.cert, tls_pki.bob)
    bob = tls.open(b, context=bobs_context)
    assert bob.connect(unique_id("bob")).return_code == 0
    bob.subscribe([(topic, 1)])
    bobs_session = bob.sock.session  # a TLS session bob could resume later
    replace_file(b.confdir / "crl.pem", tls_pki.crl.read_bytes())
    line = reload_tls(b)
    assert RELOADED in line, line
    refused_by_broker(b, tls, tls_pki.bob, "bob, revoked by the reloaded CRL")
    assert tls.attempt(b, context=bobs_context, session=bobs_session) is None, \
        "bob cannot skip the new CRL by resuming a TLS session from before the reload"
    alice = tls.connect(b, tls_pki.alice)
    alice.publish(topic, b"bob is still connected", qos=1)
    got = bob.receive_publish()
    assert got.payload == b"bob is still connected", \
        "a connection made before the reload stays, even one whose certificate is now revoked"


def test_sighup_reloads_the_ca_file(make_tls_broker, tls_pki, tls):
    b = make_tls_broker(client_certificates="required", ca_file="clients-ca.pem",
                        files={"clients-ca.pem": tls_pki.other_ca.cert})
    stranger = tls.connect(b, tls_pki.stranger)
    refused_by_broker(b, tls, tls_pki.alice, "alice, before her CA is trusted")
    replace_file(b.confdir / "clients-ca.pem", tls_pki.ca.cert.read_bytes())
    line = reload_tls(b)
    assert RELOADED in line, line
    accepted(b, tls, tls_pki.alice, "alice, once ca_file names her CA")
    refused_by_broker(b, tls, tls_pki.stranger, "the other CA's client, no longer trusted")
    stranger.ping()  # connected before the reload: stays


# --------------------------------------------------------------------------------------------
# Hand-over to the session's home worker


@pytest.mark.time_limit(30)
def test_tls_clients_work_from_either_worker(make_tls_broker, tls_pki, tls):
    """With two workers about half the connections land on the worker that is not their
    session's home and are handed over, TLS state included. Half the clients send SUBSCRIBE in
    the same write as CONNECT, so bytes after the CONNECT travel with the connection too."""
    b = make_tls_broker(config={"workers": 2})
    subs = []
    for i in range(10):
        cid = unique_id(f"hand{i}")
        topic = f"hand/{cid}"
        c = tls.open(b)
        if i % 2:
            c.send(mqtt_raw.connect(cid) + mqtt_raw.subscribe(1, [(topic, 1)]))
            ack = c.expect(mqtt_raw.CONNACK)
            assert ack.return_code == 0, ack
            suback = c.expect(mqtt_raw.SUBACK, packet_id=1)
            assert suback.return_codes == [1], suback
            c._next_id = 1
        else:
            assert c.connect(cid).return_code == 0
            assert c.subscribe([(topic, 1)]).return_codes == [1]
        subs.append((c, topic))
    pub = tls.connect(b)
    for c, topic in subs:
        pub.publish(topic, topic.encode(), qos=1)
    for c, topic in subs:
        got = c.receive_publish()
        assert (got.topic, got.payload) == (topic, topic.encode()), got
        c.ping()


def test_takeover_across_tls_connections(make_tls_broker, tls):
    """A second TLS connection with the same client id takes over the first [MQTT-3.1.4-2],
    wherever each was accepted, and resumes its subscription."""
    b = make_tls_broker(config={"workers": 2})
    for n in range(4):
        cid = unique_id(f"take{n}")
        topic = f"take/{cid}"
        first = tls.connect(b, client_id=cid, clean=False)
        first.subscribe([(topic, 1)])
        second = tls.connect(b, client_id=cid, clean=False)
        assert first.wait_closed(5.0), "the first connection is closed by the takeover"
        pub = tls.connect(b)
        pub.publish(topic, b"to the new one", qos=1)
        got = second.receive_publish()
        assert (got.topic, got.payload) == (topic, b"to the new one"), got
        second.disconnect()
        pub.disconnect()


@pytest.mark.time_limit(40)
def test_persistent_session_over_tls_gets_its_queued_message(make_tls_broker, tls_pki):
    b = make_tls_broker(config={"workers": 2})
    ids = [unique_id(f"tlsp{i}") for i in range(4)]

    def sub(cid: str, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["mosquitto_sub", "-h", b.host, "-p", str(b.tls_port), "-c", "-i", cid,
                               "-q", "1", "-t", f"persist/{cid}", *tls_args(tls_pki), *args],
                              stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=15)

    for cid in ids:
        done = sub(cid, "-E")  # subscribe, then disconnect: the session stays
        assert done.returncode == 0, f"mosquitto_sub -c -i {cid} -E: {done.stderr}"
    for cid in ids:
        done = mosquitto_pub(b.tls, "-q", "1", "-t", f"persist/{cid}", "-m", f"queued for {cid}",
                             *tls_args(tls_pki))
        assert done.returncode == 0, done.stderr
    for cid in ids:
        done = sub(cid, "-C", "1", "-W", "5")
        assert done.returncode == 0 and done.stdout.strip() == f"queued for {cid}", \
            (f"{cid} reconnects over TLS and gets the QoS 1 message queued while it was away: "
             f"rc {done.returncode} {done.stdout!r} {done.stderr!r}")
        wait_log(b, rf"connected as {re.escape(cid)} \([^)]*session resumed",
                 f"{cid}'s session resumed")


# --------------------------------------------------------------------------------------------
# Reload without a signal; a bound on handshakes in progress


def test_file_check_reloads_changed_files_without_a_signal(make_tls_broker, tls_pki, tls, tmp_path):
    b = make_tls_broker(config={"file_check_interval": 1})
    sub = tls.connect(b)
    new = tls_pki.new_server_cert(tmp_path, "checked")
    install(b, new)
    wait_for(lambda: log_count(b, RELOADED) >= 1, timeout=5.0,
             message="the file check notices the new files and reloads (no SIGHUP sent)")
    assert "a TLS file changed" in b.stderr_text()
    assert peer_der(tls, b) == der_of(new.cert), "new handshakes get the new certificate"
    sub.ping()  # the client connected before the reload stays
    time.sleep(2.5)  # two more checks with no change: nothing is reloaded again
    assert log_count(b, RELOADED) == 1, "unchanged files are not reloaded at every check"


def test_handshakes_beyond_the_bound_wait_until_one_ends(make_tls_broker, tls, clients):
    """limits.max_tls_handshakes: with one handshake in progress (a client that connected and
    sent nothing), the single worker leaves the next TLS connection in the kernel's queue; when
    the stalled one goes away the waiting client's handshake runs."""
    b = make_tls_broker(config={"workers": 1, "max_tls_handshakes": 1, "connect_timeout": 30})
    staller = socket.create_connection((HOST, b.tls_port), timeout=5)
    result: dict[str, Any] = {}

    def handshake() -> None:
        started = time.monotonic()
        try:
            c = tls.open(b)
            result["seconds"] = time.monotonic() - started
            c.close()
        except Exception as e:  # noqa: BLE001 - reported by the assertion below
            result["error"] = repr(e)

    t = threading.Thread(target=handshake, daemon=True)
    t.start()
    t.join(1.0)
    assert t.is_alive(), f"the second handshake waits while the first is in progress: {result}"
    round_trip(clients, b)  # plain MQTT on the same worker is not held up meanwhile
    staller.close()
    t.join(5.0)
    assert "seconds" in result, f"once the stalled handshake ended the waiting one completes: {result}"
