"""Brokers with a TLS listener, for test_tls.py: a throw-away PKI made with the `openssl` command
line, a TLS client on raw sockets (Python's ssl module under mqtt_raw's RawClient), `openssl
s_client` runs, and a configuration with two listeners: plain TCP on the Broker's own port (so
its readiness check and the usual helpers work) and TLS on a second port. Test modules load it
as a plugin (`pytest_plugins = ["tls_broker"]`) for the `tls_pki` and `make_tls_broker` fixtures.

The PKI (one per test session, in a temporary directory):
  * `ca` and an unrelated `other_ca`; an `intermediate` CA signed by `ca`;
  * server certificates for CN=localhost with subjectAltName DNS:localhost, IP:127.0.0.1, signed
    by `ca`: ECDSA P-256 (`server_ec`) and RSA 2048 (`server_rsa`); one signed by the
    intermediate, whose PEM file holds the leaf and then the intermediate (`server_chain`);
    the ECDSA key again, encrypted with the passphrase in `key_password_file`;
  * client certificates (subject O=Hermod Tests, CN=<name>): `alice` (valid), `bob` (revoked in
    `crl`; `crl_empty` is the same CA's CRL from before; `crl_expired` is one whose next update
    was in February 2020), `expired` (CN=carol, valid only in
    January 2020), `stranger` (CN=alice, but signed by `other_ca`);
  * `ca_dir`: a hashed directory (`openssl rehash`) holding `ca`.

The TLS listener's configuration lives in its own directory with the server certificate and key
copied there as `server.pem` / `server.key` and named relative to it, while the broker runs in
another working directory: so every test also checks that relative TLS paths are resolved
against the configuration file's directory. Tests replace those two files for SIGHUP reloads.

PYTEST_DONT_REWRITE
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
import select
import shutil
import signal
import socket
import ssl
import subprocess
import time
from typing import Any, Optional, Union

import pytest

import mqtt_raw
from auth_broker import set_user
from broker_process import (DEFAULT_CONFIG, HOST, Broker, free_ports, hermod_toml,
                            wait_for)
from mqtt_raw import ConnectionClosed, Timeout

OPENSSL = "openssl"
KEY_PASSPHRASE = "correct horse battery staple"
CLIENT_ORG = "Hermod Tests"
HANDSHAKE_FAILED = "TLS handshake failed"
RELOADED = "reloaded TLS context"
NOT_RELOADED = "TLS context not reloaded"
SERVER_SAN = "DNS:localhost, IP:127.0.0.1"
CONFIG_NAME = "hermod.toml"
PASSWORD_FILE = "users.pw"


# --------------------------------------------------------------------------------------------
# The throw-away PKI


def openssl(*args: str, cwd: Optional[pathlib.Path] = None, timeout: float = 30.0) -> str:
    """Runs one openssl command; fails the test with its output if it does not exit 0."""
    done = subprocess.run([OPENSSL, *args], cwd=cwd, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        pytest.fail(f"openssl {' '.join(args)} failed ({done.returncode}):\n{done.stdout}\n"
                    f"{done.stderr}", pytrace=False)
    return done.stdout


CA_CNF = """\
# Minimal configuration for `openssl ca` and `openssl req` in the test PKI.
[ req ]
distinguished_name = req_dn
prompt = no
[ req_dn ]
CN = unused

[ ca ]
default_ca = {name}

[ {name} ]
dir = {db}
database = $dir/index.txt
new_certs_dir = $dir/new
serial = $dir/serial
crlnumber = $dir/crlnumber
certificate = {cert}
private_key = {key}
default_md = sha256
default_days = 30
default_crl_days = 30
policy = policy_any
unique_subject = no
email_in_dn = no
copy_extensions = none

[ policy_any ]
organizationName = optional
commonName = supplied

[ ca_ext ]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always

[ server_ext ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = {san}
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid

[ client_ext ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
"""


@dataclasses.dataclass
class Pair:
    """A certificate and its private key (PEM files)."""
    cert: pathlib.Path
    key: pathlib.Path


class CA:
    """A certificate authority with an `openssl ca` database, able to issue and revoke."""

    def __init__(self, directory: pathlib.Path, name: str, subject: str,
                 signer: Optional["CA"] = None):
        self.name = name
        self.dir = directory / name
        db = self.dir / "db"
        (db / "new").mkdir(parents=True)
        (db / "index.txt").write_text("")
        # Each CA numbers from its own range, so serials never collide across CAs.
        (db / "serial").write_text({"ca": "1000", "other-ca": "5000", "intermediate": "7000"}
                                   .get(name, "9000") + "\n")
        (db / "crlnumber").write_text("01\n")
        self.key = self.dir / "ca.key"
        self.cert = self.dir / "ca.pem"
        self.cnf = self.dir / "openssl.cnf"
        self.cnf.write_text(CA_CNF.format(name=name.replace("-", "_"), db=db, cert=self.cert,
                                          key=self.key, san=SERVER_SAN))
        new_key(self.key, "ec")
        if signer is None:
            openssl("req", "-config", str(self.cnf), "-x509", "-new", "-key", str(self.key),
                    "-subj", subject, "-days", "30", "-extensions", "ca_ext", "-out", str(self.cert))
        else:
            csr = self.dir / "ca.csr"
            openssl("req", "-config", str(self.cnf), "-new", "-key", str(self.key), "-subj", subject,
                    "-out", str(csr))
            signer.sign(csr, self.cert, "ca_ext")

    def sign(self, csr: pathlib.Path, out: pathlib.Path, extensions: str,
             startdate: Optional[str] = None, enddate: Optional[str] = None) -> None:
        args = ["ca", "-batch", "-config", str(self.cnf), "-extensions", extensions,
                "-notext", "-in", str(csr), "-out", str(out)]
        if startdate:
            args += ["-startdate", startdate]
        if enddate:
            args += ["-enddate", enddate]
        else:
            args += ["-days", "30"]
        openssl(*args)

    def issue(self, directory: pathlib.Path, name: str, subject: str, extensions: str,
              key_type: str = "ec", **dates: str) -> Pair:
        key = directory / f"{name}.key"
        csr = directory / f"{name}.csr"
        cert = directory / f"{name}.pem"
        new_key(key, key_type)
        openssl("req", "-config", str(self.cnf), "-new", "-key", str(key), "-subj", subject,
                "-out", str(csr))
        self.sign(csr, cert, extensions, **dates)
        return Pair(cert, key)

    def revoke(self, cert: pathlib.Path) -> None:
        openssl("ca", "-config", str(self.cnf), "-revoke", str(cert), "-crl_reason", "keyCompromise")

    def crl(self, out: pathlib.Path, *dates: str) -> pathlib.Path:
        openssl("ca", "-config", str(self.cnf), "-gencrl", *dates, "-out", str(out))
        return out


def new_key(path: pathlib.Path, key_type: str) -> None:
    if key_type == "ec":
        openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                "-out", str(path))
    elif key_type == "rsa":
        openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", str(path))
    else:
        raise ValueError(key_type)
    path.chmod(0o600)


def serial_of(cert: pathlib.Path) -> str:
    """The certificate's serial number in upper-case hex, as Python's getpeercert() gives it."""
    out = openssl("x509", "-in", str(cert), "-noout", "-serial").strip()
    return out.split("=", 1)[1].upper()


def der_of(cert: pathlib.Path) -> bytes:
    """The first certificate of a PEM file, DER-encoded."""
    text = cert.read_text()
    end = text.index("-----END CERTIFICATE-----") + len("-----END CERTIFICATE-----")
    return ssl.PEM_cert_to_DER_cert(text[text.index("-----BEGIN CERTIFICATE-----"):end])


def subject_rfc2253(cert: pathlib.Path) -> str:
    out = openssl("x509", "-in", str(cert), "-noout", "-subject", "-nameopt", "RFC2253").strip()
    return out.split("=", 1)[1].strip() if out.startswith("subject=") else out


class PKI:
    def __init__(self, root: pathlib.Path):
        self.dir = root
        self.ca = CA(root, "ca", "/O=Hermod Tests/CN=Hermod Test CA")
        self.other_ca = CA(root, "other-ca", "/O=Somebody Else/CN=Unrelated CA")
        self.intermediate = CA(root, "intermediate", "/O=Hermod Tests/CN=Hermod Intermediate CA",
                               signer=self.ca)
        leaves = root / "leaves"
        leaves.mkdir()
        self.leaves = leaves
        server_subject = "/CN=localhost"
        self.server_ec = self.ca.issue(leaves, "server-ec", server_subject, "server_ext", "ec")
        self.server_rsa = self.ca.issue(leaves, "server-rsa", server_subject, "server_ext", "rsa")
        leaf = self.intermediate.issue(leaves, "server-leaf", server_subject, "server_ext", "ec")
        self.server_chain = Pair(leaves / "server-chain.pem", leaf.key)
        self.server_chain.cert.write_text(leaf.cert.read_text() + self.intermediate.cert.read_text())
        # The ECDSA server key again, encrypted (PKCS#8, AES-256) with a passphrase in a file.
        self.key_password_file = leaves / "server-key.pass"
        self.key_password_file.write_text(KEY_PASSPHRASE + "\n")
        self.encrypted_key = leaves / "server-ec.enc.key"
        openssl("pkey", "-in", str(self.server_ec.key), "-aes256", "-passout",
                f"pass:{KEY_PASSPHRASE}", "-out", str(self.encrypted_key))
        self.wrong_password_file = leaves / "wrong.pass"
        self.wrong_password_file.write_text("not the passphrase\n")

        def client(name: str, cn: str, ca: CA = self.ca, **dates: str) -> Pair:
            return ca.issue(leaves, name, f"/O={CLIENT_ORG}/CN={cn}", "client_ext", "ec", **dates)

        self.alice = client("alice", "alice")
        self.bob = client("bob", "bob")
        self.expired = client("expired", "carol", startdate="20200101000000Z",
                              enddate="20200201000000Z")
        self.stranger = client("stranger", "alice", ca=self.other_ca)
        self.crl_empty = self.ca.crl(leaves / "crl-empty.pem")
        self.ca.revoke(self.bob.cert)
        self.crl = self.ca.crl(leaves / "crl.pem")
        self.crl_expired = self.ca.crl(leaves / "crl-expired.pem", "-crl_lastupdate", "20200101000000Z",
                                       "-crl_nextupdate", "20200201000000Z")
        self.ca_dir = root / "ca-dir"
        self.ca_dir.mkdir()
        shutil.copy(self.ca.cert, self.ca_dir / "hermod-test-ca.pem")
        openssl("rehash", str(self.ca_dir))

    def new_server_cert(self, directory: pathlib.Path, name: str, key_type: str = "ec") -> Pair:
        """A fresh server certificate (new key, new serial) from the CA, e.g. for a reload."""
        return self.ca.issue(directory, name, "/CN=localhost", "server_ext", key_type)


@pytest.fixture(scope="session")
def tls_pki(tmp_path_factory) -> PKI:
    return PKI(tmp_path_factory.mktemp("pki"))


# --------------------------------------------------------------------------------------------
# Clients


def client_context(ca: Optional[pathlib.Path], cert: Optional[Pair] = None,
                   minimum: Optional[ssl.TLSVersion] = None,
                   maximum: Optional[ssl.TLSVersion] = None) -> ssl.SSLContext:
    """A client context that verifies the server against `ca` (hostname included) and presents
    `cert` if given."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if ca is not None:
        ctx.load_verify_locations(cafile=str(ca))
    if cert is not None:
        ctx.load_cert_chain(str(cert.cert), str(cert.key))
    if minimum is not None:
        ctx.minimum_version = minimum
    if maximum is not None:
        ctx.maximum_version = maximum
    return ctx


class TlsClient(mqtt_raw.RawClient):
    """mqtt_raw's RawClient over TLS. The handshake runs in the constructor (ssl.SSLError or
    OSError if it fails); `session` (an earlier connection's `sock.session`) asks to resume it. Reads never block beyond their deadline: a TLS record that carries no
    application data (a TLS 1.3 session ticket) just means reading again."""

    def __init__(self, host: str, port: int, context: ssl.SSLContext,
                 server_hostname: str = "localhost", timeout: float = 5.0,
                 session: Optional[ssl.SSLSession] = None):
        super().__init__(host, port, timeout)
        raw = self.sock
        try:
            self.sock = context.wrap_socket(raw, server_hostname=server_hostname, session=session)
        except BaseException:
            raw.close()
            raise

    def _buffered(self) -> bool:
        return bool(self.sock.pending())

    def _recv(self) -> Optional[bytes]:
        # select() said readable, but a whole TLS record may not be there yet: do not block on it.
        self.sock.settimeout(0)
        try:
            return self.sock.recv(65536)
        except ssl.SSLWantReadError:
            return None
        except (ssl.SSLError, ConnectionResetError, BrokenPipeError) as e:
            self._closed = True
            raise ConnectionClosed(f"{type(e).__name__}: {e}") from e
        finally:
            try:
                self.sock.settimeout(self.timeout)
            except OSError:
                pass

    def send(self, data: bytes) -> None:
        try:
            self.sock.sendall(data)
        except (ssl.SSLError, ConnectionResetError, BrokenPipeError) as e:
            self._closed = True
            raise ConnectionClosed(f"{type(e).__name__}: {e}") from e


@dataclasses.dataclass
class Endpoint:
    """A host and port, enough for clients.py's mosquitto helpers (`broker=` arguments)."""
    host: str
    port: int


def read_until_closed(sock: socket.socket, timeout: float) -> tuple[bytes, bool]:
    """Reads raw bytes until the peer closes or `timeout` passes: (bytes, closed)."""
    deadline = time.monotonic() + timeout
    data = b""
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return data, False
        readable, _, _ = select.select([sock], [], [], remaining)
        if not readable:
            return data, False
        try:
            chunk = sock.recv(65536)
        except (ConnectionResetError, BrokenPipeError):
            return data, True
        if not chunk:
            return data, True
        data += chunk


def s_client(port: int, *args: str, ca: Optional[pathlib.Path] = None,
             timeout: float = 10.0) -> subprocess.CompletedProcess:
    """`openssl s_client` to 127.0.0.1:port that verifies the server (CA and host name), does
    the handshake and quits at once (stdin is empty). Exit status 0 = handshake done."""
    command = [OPENSSL, "s_client", "-connect", f"{HOST}:{port}", "-servername", "localhost",
               "-verify_return_error", "-verify_hostname", "localhost", "-brief", "-showcerts"]
    if ca is not None:
        command += ["-CAfile", str(ca)]
    return subprocess.run(command + list(args), stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=timeout)


# --------------------------------------------------------------------------------------------
# The broker


def toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, pathlib.Path):
        v = str(v)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return str(v)


def tls_config_text(tcp_port: int, tls_port: int, config: dict[str, Any],
                    listener: dict[str, Any], auth_text: str = "", extra_toml: str = "") -> str:
    """Hermod's TOML: [broker]/[limits]/[store] from `config` and the plain listener (as
    broker_process renders them), then the TLS listener with `listener`'s keys in order (a
    value of None leaves the key out), then `auth_text` and `extra_toml`."""
    text = hermod_toml(tcp_port, config)
    text += f'\n[[listeners]]\nbind = "{HOST}"\nport = {tls_port}\n'
    text += "".join(f"{k} = {toml_value(v)}\n" for k, v in listener.items() if v is not None)
    if auth_text:
        text += "\n" + auth_text
    if extra_toml:
        text += "\n" + extra_toml
    return text


def line_of(text: str, key: str, table_index: int = 1) -> int:
    """1-based line of `key = ...` in the `table_index`th [[listeners]] table of `text`."""
    seen = -1
    for n, line in enumerate(text.splitlines(), 1):
        if line.strip() == "[[listeners]]":
            seen += 1
        elif seen == table_index and line.split("=", 1)[0].strip() == key:
            return n
    raise KeyError(key)


def listening(port: int) -> bool:
    """Whether a socket listens on 127.0.0.1:port, read from /proc/net/tcp (no connection is
    made, so the broker logs nothing about it)."""
    want = f"0100007F:{port:04X}"
    try:
        lines = pathlib.Path("/proc/net/tcp").read_text().splitlines()[1:]
    except OSError:
        return False
    return any(f[1] == want and f[3] == "0A" for f in (l.split() for l in lines) if len(f) > 3)


def log_count(broker: Broker, mark: str) -> int:
    return broker.stderr_text().count(mark)


def reload_tls(broker: Broker) -> str:
    """Sends SIGHUP and waits for the broker's log line about the TLS context (reloaded or
    kept); returns that line."""
    def marks() -> list[str]:
        return [l for l in broker.stderr_text().splitlines() if RELOADED in l or NOT_RELOADED in l]
    before = len(marks())
    broker.proc.send_signal(signal.SIGHUP)
    return wait_for(lambda: marks()[before] if len(marks()) > before else None,
                    message="the broker's log line about reloading the TLS context")


def replace_file(path: pathlib.Path, content: Union[str, bytes]) -> None:
    """Replaces `path` in one rename, as a careful administrator (or certbot) would."""
    tmp = path.with_name(path.name + ".new")
    if isinstance(content, bytes):
        tmp.write_bytes(content)
    else:
        tmp.write_text(content)
    os.replace(tmp, path)


@pytest.fixture
def make_tls_broker(make_broker, tmp_path, tls_pki):
    """Factory: make_tls_broker(server=None, config=None, auth=None, extra_toml="", files=None,
    **listener_keys) writes a configuration with a plain listener on the broker's port and a
    TLS listener on another, starts the broker and waits until both listen.

    `server` (a Pair, default the ECDSA one) is copied into the configuration's directory as
    server.pem / server.key, which are the default cert_file / key_file (relative names);
    `listener_keys` add to or override the TLS listener's keys (None removes one); `config` holds
    [broker]/[limits] settings (workers, connect_timeout, ...); `auth` = {"users": {name: pw},
    "allow_anonymous": bool} writes a password file with `hermod passwd`; `files` = {name: Path
    to copy, or text} puts more files in the configuration's directory.

    The broker gets attributes tls_port, tls (an Endpoint for mosquitto helpers), confdir,
    config_path and config_text."""
    serial = iter(range(1, 1000))

    def make(server: Optional[Pair] = None, config: Optional[dict[str, Any]] = None,
             auth: Optional[dict[str, Any]] = None, extra_toml: str = "",
             files: Optional[dict[str, Union[pathlib.Path, str]]] = None,
             **listener_keys: Any) -> Broker:
        confdir = tmp_path / f"tlsconf{next(serial)}"
        confdir.mkdir()
        server = server or tls_pki.server_ec
        shutil.copy(server.cert, confdir / "server.pem")
        shutil.copy(server.key, confdir / "server.key")
        for name, source in (files or {}).items():
            if isinstance(source, pathlib.Path):
                shutil.copy(source, confdir / name)
            else:
                (confdir / name).write_text(source)
        listener = {"transport": "tls", "cert_file": "server.pem", "key_file": "server.key"}
        listener.update(listener_keys)
        auth_text = ""
        if auth is not None:
            password_file = confdir / PASSWORD_FILE
            password_file.touch()
            for user, password in auth.get("users", {}).items():
                set_user(password_file, user, password)
            auth_text = f'[auth]\npassword_file = "{PASSWORD_FILE}"\n'
            if "allow_anonymous" in auth:
                auth_text += f"allow_anonymous = {toml_value(auth['allow_anonymous'])}\n"
        # debug: a failed handshake's own line (the info level has one line per 10 s for all).
        settings = {**DEFAULT_CONFIG, "log_level": "debug", **(config or {})}
        port, tls_port = free_ports(2)
        text = tls_config_text(port, tls_port, settings, listener, auth_text, extra_toml)
        config_path = confdir / CONFIG_NAME
        config_path.write_text(text)
        broker = make_broker(port=port, config_file=False, args=("-c", str(config_path)),
                             **(config or {}))
        broker.tls_port = tls_port
        broker.tls = Endpoint(broker.host, tls_port)
        broker.confdir = confdir
        broker.config_path = config_path
        broker.config_text = text
        wait_for(lambda: listening(tls_port) or not broker.alive, timeout=5.0,
                 message=f"the TLS listener on port {tls_port}")
        assert broker.alive, f"broker exited after start-up:\n{broker.stderr_tail()}"
        return broker

    return make

