"""hermod-cli pub, sub and bench over TLS and WebSocket, against Hermod and against Debian's mosquitto.

Hermod: brokers from tls_broker.py's `make_tls_broker` (a plain listener on the broker's port and
a second listener with transport tls, ws or wss); its throw-away PKI (`tls_pki`) gives the CAs,
the server certificates (CN=localhost, subjectAltName DNS:localhost, IP:127.0.0.1) and a client
certificate (alice). Checked: --cafile, --capath, a client certificate for a listener that
requires one, --insecure against a certificate for another name, a wrong CA refused with a clear
message and exit status 1, -L with mqtt://, mqtts://, ws:// and wss:// URLs (paths, default
path, a wrong path refused), and `hermod-cli bench` over tls, ws and wss with small bounded
counts.

Mosquitto (an implementation we did not write, for both TLS and WebSocket): one mosquitto with
four listeners, plain, TLS, websockets and websockets over TLS (mosquitto 2.0.11 starts a
websockets listener only next to a plain one: with websockets alone it exits with "Unable to start
any listening sockets"). hermod-cli talks to each, and mosquitto_pub/mosquitto_sub on the plain
listener see the same messages.

Synchronisation is on events with deadlines: the -d trace line "received SUBACK", process exits.
The binary is $HERMOD_CLI (default build/release/hermod-cli).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
from pathlib import Path
from typing import List

import pytest

from broker_process import HOST, REPO, free_port
from test_cli_interop import CollectedProcess
from tls_broker import Pair, new_key, openssl

pytest_plugins = ["tls_broker"]

HERMOD_CLI = Path(os.environ.get("HERMOD_CLI", REPO / "build" / "release" / "hermod-cli"))
MOSQUITTO = "/usr/sbin/mosquitto"
MOSQUITTO_PUB = "/usr/bin/mosquitto_pub"
MOSQUITTO_SUB = "/usr/bin/mosquitto_sub"
DEADLINE = 10.0
VERSIONS = ["mqttv311", "mqttv5"]
BENCH_PROBLEMS = ("lost", "duplicated", "reordered", "misrouted", "corrupt", "wrong_qos", "unacked")

# Tests on make_tls_broker configure Hermod's listeners in its TOML.
hermod_only = pytest.mark.hermod_only("TLS and WebSocket listeners as Hermod's TOML configures them")

pytestmark = pytest.mark.skipif(not os.access(HERMOD_CLI, os.X_OK),
                                reason=f"{HERMOD_CLI} is not built (make, or set HERMOD_CLI)")


# ---------------------------------------------------------------------------------------------
# helpers


@pytest.fixture
def procs():
    """Factory: procs(argv) starts a program with its output collected; all are killed at the end."""
    started: List[CollectedProcess] = []

    def start(argv: List[str]) -> CollectedProcess:
        p = CollectedProcess([str(a) for a in argv])
        started.append(p)
        return p

    yield start
    for p in started:
        p.close()


def cli(*args) -> subprocess.CompletedProcess:
    """Runs hermod-cli to its end (bounded by DEADLINE)."""
    return subprocess.run([str(HERMOD_CLI), *map(str, args)], stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=DEADLINE)


def start_sub(procs, *args) -> CollectedProcess:
    """hermod-cli sub -d, returned once the broker has acknowledged its subscription."""
    sub = procs([HERMOD_CLI, "sub", "-d", *args])
    sub.err.wait_for(r"received SUBACK")
    return sub


def round_trip(procs, sub_args, pub_args, topic: str = "tls/ws/t", payload: str = "hello",
               qos: int = 1) -> None:
    """hermod-cli sub (with sub_args) receives what hermod-cli pub (with pub_args) publishes."""
    sub = start_sub(procs, *sub_args, "-t", topic, "-C", "1", "-q", str(qos))
    r = cli("pub", *pub_args, "-t", topic, "-m", payload, "-q", str(qos))
    assert r.returncode == 0, r.stderr
    assert sub.wait() == 0, sub.err.snapshot()
    assert sub.out.snapshot() == [payload]


def tls_endpoint(broker, pki) -> list:
    return ["-h", HOST, "-p", broker.tls_port, "--cafile", pki.ca.cert]


def server_cert_for(pki, directory: Path, name: str) -> Pair:
    """A server certificate from the test CA for DNS:`name` only (not localhost, not 127.0.0.1)."""
    key, csr, cert, ext = (directory / f"{name}.{x}" for x in ("key", "csr", "pem", "ext"))
    new_key(key, "ec")
    openssl("req", "-new", "-key", str(key), "-subj", f"/CN={name}", "-out", str(csr))
    ext.write_text("basicConstraints = critical, CA:FALSE\nkeyUsage = critical, digitalSignature\n"
                   f"extendedKeyUsage = serverAuth\nsubjectAltName = DNS:{name}\n")
    openssl("x509", "-req", "-in", str(csr), "-CA", str(pki.ca.cert), "-CAkey", str(pki.ca.key),
            "-set_serial", "0x" + secrets.token_hex(8), "-days", "30", "-extfile", str(ext), "-out", str(cert))
    return Pair(cert, key)


# ---------------------------------------------------------------------------------------------
# TLS against Hermod


@hermod_only
@pytest.mark.parametrize("version", VERSIONS)
def test_pub_sub_over_tls_with_cafile(make_tls_broker, tls_pki, procs, version):
    broker = make_tls_broker()
    args = [*tls_endpoint(broker, tls_pki), "-V", version]
    round_trip(procs, args, args)


@hermod_only
def test_host_name_is_checked_against_the_certificate(make_tls_broker, tls_pki, procs):
    # The certificate names DNS:localhost: connecting by that name verifies.
    broker = make_tls_broker()
    args = ["-h", "localhost", "-p", broker.tls_port, "--cafile", tls_pki.ca.cert]
    round_trip(procs, args, args)


@hermod_only
def test_capath_is_a_hashed_ca_directory(make_tls_broker, tls_pki, procs):
    broker = make_tls_broker()
    args = ["-h", HOST, "-p", broker.tls_port, "--capath", tls_pki.ca_dir, "--tls-version", "tlsv1.3"]
    round_trip(procs, args, args)


@hermod_only
def test_client_certificate_for_a_listener_that_requires_one(make_tls_broker, tls_pki, procs):
    broker = make_tls_broker(client_certificates="required", ca_file="ca.pem", files={"ca.pem": tls_pki.ca.cert})
    args = [*tls_endpoint(broker, tls_pki), "--cert", tls_pki.alice.cert, "--key", tls_pki.alice.key]
    round_trip(procs, args, args)
    # Without one the broker ends the handshake; the tool says so and exits 1.
    r = cli("pub", *tls_endpoint(broker, tls_pki), "-t", "t", "-m", "x")
    assert r.returncode == 1, r.stderr
    assert "certificate" in r.stderr.lower(), r.stderr


@hermod_only
def test_insecure_accepts_a_certificate_for_another_name(make_tls_broker, tls_pki, procs, tmp_path):
    other = server_cert_for(tls_pki, tmp_path, "other.example")
    broker = make_tls_broker(server=other)
    r = cli("pub", *tls_endpoint(broker, tls_pki), "-t", "t", "-m", "x")
    assert r.returncode == 1
    assert "did not verify: IP address mismatch" in r.stderr, r.stderr
    r = cli("pub", "-h", "localhost", "-p", broker.tls_port, "--cafile", tls_pki.ca.cert, "-t", "t", "-m", "x")
    assert r.returncode == 1
    assert "did not verify: hostname mismatch" in r.stderr, r.stderr
    args = [*tls_endpoint(broker, tls_pki), "--insecure"]
    round_trip(procs, args, args)


@hermod_only
def test_insecure_still_verifies_the_certificate_chain(make_tls_broker, tls_pki):
    # mosquitto's meaning: --insecure skips the name check only.
    broker = make_tls_broker()
    r = cli("pub", "-h", HOST, "-p", broker.tls_port, "--cafile", tls_pki.other_ca.cert, "--insecure",
            "-t", "t", "-m", "x")
    assert r.returncode == 1
    assert "did not verify" in r.stderr, r.stderr


@hermod_only
@pytest.mark.parametrize("tool", ["pub", "sub"])
def test_wrong_ca_is_refused_with_a_clear_message(make_tls_broker, tls_pki, tool):
    broker = make_tls_broker()
    extra = ["-m", "x"] if tool == "pub" else ["-C", "1"]
    r = cli(tool, "-h", HOST, "-p", broker.tls_port, "--cafile", tls_pki.other_ca.cert, "-t", "t", *extra)
    assert r.returncode == 1
    assert r.stderr.startswith("Error: "), r.stderr
    assert "the broker's TLS certificate did not verify: unable to get local issuer certificate" in r.stderr, r.stderr


@hermod_only
def test_unusable_tls_files_are_reported_before_connecting(make_tls_broker, tls_pki, tmp_path):
    broker = make_tls_broker()
    missing = cli("pub", "-p", broker.tls_port, "--cafile", tmp_path / "nope.pem", "-t", "t", "-m", "x")
    assert missing.returncode != 0
    assert "nope.pem" in missing.stderr, missing.stderr
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n")
    r = cli("pub", "-p", broker.tls_port, "--cafile", garbage, "-t", "t", "-m", "x")
    assert r.returncode == 1
    assert "cannot load CA file" in r.stderr and "garbage.pem" in r.stderr, r.stderr
    r = cli("pub", "-p", broker.tls_port, "--cafile", tls_pki.ca.cert, "--cert", tls_pki.alice.cert,
            "--key", tls_pki.bob.key, "-t", "t", "-m", "x")
    assert r.returncode == 1
    assert "cannot load key file" in r.stderr and "mismatch" in r.stderr, r.stderr


@hermod_only
def test_tls_to_a_plain_listener_fails(make_tls_broker, tls_pki):
    broker = make_tls_broker()
    r = cli("pub", "-h", HOST, "-p", broker.port, "--cafile", tls_pki.ca.cert, "-t", "t", "-m", "x")
    assert r.returncode == 1
    assert r.stderr.startswith("Error: "), r.stderr


@hermod_only
def test_mqtts_url_with_cafile(make_tls_broker, tls_pki, procs):
    broker = make_tls_broker()
    url = f"mqtts://{HOST}:{broker.tls_port}"
    sub = start_sub(procs, "-L", url + "/url/+", "--cafile", tls_pki.ca.cert, "-C", "1", "-v")
    r = cli("pub", "-L", url + "/url/tls", "--cafile", tls_pki.ca.cert, "-m", "over mqtts")
    assert r.returncode == 0, r.stderr
    assert sub.wait() == 0
    assert sub.out.snapshot() == ["url/tls over mqtts"]


# ---------------------------------------------------------------------------------------------
# URLs and WebSocket against Hermod


def test_mqtt_url_path_is_the_topic(broker, procs):
    url = f"mqtt://{HOST}:{broker.port}"
    sub = start_sub(procs, "-L", url + "/url/#", "-C", "1", "-v")
    r = cli("pub", "-L", url + "/url/topic", "-m", "via url")
    assert r.returncode == 0, r.stderr
    assert sub.wait() == 0
    assert sub.out.snapshot() == ["url/topic via url"]


def test_url_cannot_be_combined_with_host_or_port(broker):
    r = cli("pub", "-L", f"mqtt://{HOST}:{broker.port}/t", "-p", broker.port, "-m", "x")
    assert r.returncode == 1
    assert "-h or -p" in r.stderr, r.stderr


@hermod_only
@pytest.mark.parametrize("version", ["mqttv31", "mqttv311", "mqttv5"])
def test_pub_sub_over_ws(make_tls_broker, procs, version):
    broker = make_tls_broker(transport="ws", cert_file=None, key_file=None, ws_path="/mqtt")
    url = f"ws://{HOST}:{broker.tls_port}/mqtt"
    round_trip(procs, ["-L", url, "-V", version], ["-L", url, "-V", version], topic="ws/t")


@hermod_only
def test_ws_default_path_is_mqtt_and_reaches_tcp_clients(make_tls_broker, procs):
    broker = make_tls_broker(transport="ws", cert_file=None, key_file=None)
    # A WebSocket publisher, a plain TCP subscriber of the same broker.
    round_trip(procs, ["-h", HOST, "-p", broker.port], ["-L", f"ws://{HOST}:{broker.tls_port}"], topic="mixed/t")


@hermod_only
def test_ws_wrong_path_is_refused_with_the_servers_answer(make_tls_broker):
    broker = make_tls_broker(transport="ws", cert_file=None, key_file=None, ws_path="/mqtt")
    r = cli("pub", "-L", f"ws://{HOST}:{broker.tls_port}/elsewhere", "-t", "t", "-m", "x")
    assert r.returncode == 1
    assert "refused the WebSocket upgrade" in r.stderr and "404" in r.stderr, r.stderr


@hermod_only
@pytest.mark.parametrize("version", VERSIONS)
def test_pub_sub_over_wss(make_tls_broker, tls_pki, procs, version):
    broker = make_tls_broker(transport="wss", ws_path="/mqtt")
    args = ["-L", f"wss://{HOST}:{broker.tls_port}/mqtt", "--cafile", tls_pki.ca.cert, "-V", version]
    round_trip(procs, args, args, topic="wss/t")


@hermod_only
def test_wss_verifies_the_certificate(make_tls_broker, tls_pki):
    broker = make_tls_broker(transport="wss")
    r = cli("pub", "-L", f"wss://{HOST}:{broker.tls_port}/mqtt", "--cafile", tls_pki.other_ca.cert,
            "-t", "t", "-m", "x")
    assert r.returncode == 1
    assert "did not verify" in r.stderr, r.stderr


@hermod_only
def test_large_message_over_wss_arrives_whole(make_tls_broker, tls_pki, procs, tmp_path):
    # 300 kB: many TLS records and several reads; one WebSocket frame each way.
    broker = make_tls_broker(transport="wss")
    args = ["-L", f"wss://{HOST}:{broker.tls_port}/mqtt", "--cafile", tls_pki.ca.cert]
    payload = tmp_path / "big.bin"
    payload.write_bytes(bytes(range(256)) * 1200)
    sub = start_sub(procs, *args, "-t", "big/t", "-C", "1", "-F", "%l %x")
    r = cli("pub", *args, "-t", "big/t", "-f", payload, "-q", "1")
    assert r.returncode == 0, r.stderr
    assert sub.wait() == 0
    length, hexed = sub.out.snapshot()[0].split(" ")
    assert int(length) == 256 * 1200
    assert bytes.fromhex(hexed) == payload.read_bytes()


# ---------------------------------------------------------------------------------------------
# hermod-cli bench over TLS and WebSocket against Hermod


def bench(*args, timeout: float = 60.0) -> tuple[int, dict, str]:
    r = subprocess.run([str(HERMOD_CLI), "bench", "--json", *map(str, args)], capture_output=True, text=True,
                       timeout=timeout)
    results = [json.loads(l) for l in r.stdout.splitlines() if l.startswith("{")]
    results = [x for x in results if "event" not in x]
    assert len(results) == 1, f"one JSON result expected; stdout {r.stdout!r} stderr {r.stderr!r}"
    return r.returncode, results[0], r.stderr


def assert_clean(rc: int, result: dict) -> None:
    assert result["error"] == "", result
    assert {k: result[k] for k in BENCH_PROBLEMS} == {k: 0 for k in BENCH_PROBLEMS}, result
    assert result["delivered"] == result["expected"] > 0, result
    assert rc == 0, result


@hermod_only
@pytest.mark.time_limit(60)
@pytest.mark.parametrize("qos", [0, 1])
def test_bench_pairs_over_tls(make_tls_broker, tls_pki, qos):
    broker = make_tls_broker(config={"max_inflight": 1000})
    rc, r, _ = bench("pairs", "-h", HOST, "-p", broker.tls_port, "--cafile", tls_pki.ca.cert, "--clients", "3",
                     "--qos", qos, "--count", "300", "--duration", "10", "--drain", "10")
    assert_clean(rc, r)
    assert r["transport"] == "tls"
    assert r["sent"] == r["expected"] == 900


@hermod_only
@pytest.mark.time_limit(60)
def test_bench_fanout_over_ws(make_tls_broker):
    broker = make_tls_broker(transport="ws", cert_file=None, key_file=None, config={"max_inflight": 1000})
    rc, r, _ = bench("fanout", "-L", f"ws://{HOST}:{broker.tls_port}/mqtt", "--clients", "4", "--qos", "1",
                     "--count", "200", "--duration", "10", "--drain", "10")
    assert_clean(rc, r)
    assert r["transport"] == "ws"
    assert r["expected"] == 800


@hermod_only
@pytest.mark.time_limit(60)
def test_bench_pairs_over_wss_with_large_payloads(make_tls_broker, tls_pki):
    # Payloads larger than a TLS record and than one read: frames split across reads are joined.
    broker = make_tls_broker(transport="wss", config={"max_inflight": 1000})
    rc, r, _ = bench("pairs", "-L", f"wss://{HOST}:{broker.tls_port}", "--cafile", tls_pki.ca.cert, "-V", "5",
                     "--clients", "2", "--qos", "2", "--size", "70000", "--count", "50", "--duration", "10",
                     "--drain", "10")
    assert_clean(rc, r)
    assert r["transport"] == "wss"


@hermod_only
@pytest.mark.time_limit(60)
@pytest.mark.parametrize("transport", ["tls", "wss"])
def test_bench_conns_over_tls_and_wss(make_tls_broker, tls_pki, transport):
    broker = make_tls_broker(transport=transport)
    target = (["-h", HOST, "-p", broker.tls_port] if transport == "tls"
              else ["-L", f"wss://{HOST}:{broker.tls_port}/mqtt"])
    rc, r, _ = bench("conns", *target, "--cafile", tls_pki.ca.cert, "--connections", "20", "--sources", "2",
                     "--hold", "0.2")
    assert rc == 0, r
    assert (r["connected"], r["failed"], r["dropped"], r["transport"]) == (20, 0, 0, transport)


@hermod_only
def test_bench_reports_a_refused_certificate(make_tls_broker, tls_pki):
    broker = make_tls_broker()
    rc, r, _ = bench("pairs", "-h", HOST, "-p", broker.tls_port, "--cafile", tls_pki.other_ca.cert,
                     "--clients", "1", "--count", "10", "--setup-timeout", "5")
    assert rc == 1
    assert "unable to get local issuer certificate" in r["error"], r


# ---------------------------------------------------------------------------------------------
# Against Debian's mosquitto: TLS, websockets and websockets over TLS


class Mosquitto:
    """One mosquitto with a plain, a TLS, a websockets and a websockets-over-TLS listener."""

    def __init__(self, procs, workdir: Path, pki):
        self.tcp, self.tls, self.ws, self.wss = (free_port() for _ in range(4))
        tls = f"cafile {pki.ca.cert}\ncertfile {pki.server_ec.cert}\nkeyfile {pki.server_ec.key}\n"
        conf = (f"listener {self.tcp} {HOST}\n"
                f"listener {self.tls} {HOST}\n{tls}"
                f"listener {self.ws} {HOST}\nprotocol websockets\n"
                f"listener {self.wss} {HOST}\nprotocol websockets\n{tls}"
                "allow_anonymous true\nlog_type all\nlog_dest stderr\n")
        if os.geteuid() == 0:
            conf += "user root\n"
        path = workdir / "mosquitto.conf"
        path.write_text(conf)
        self.process = procs([MOSQUITTO, "-c", path])
        self.process.err.wait_for(r"mosquitto version .* running")

    def stop(self) -> None:
        self.process.proc.terminate()
        self.process.wait()


@pytest.fixture
def mosquitto(procs, tmp_path, tls_pki):
    if not Path(MOSQUITTO).exists():
        pytest.skip("mosquitto not installed")
    m = Mosquitto(procs, tmp_path, tls_pki)
    yield m
    m.stop()


def mosquitto_pub(port: int, *args) -> None:
    subprocess.run([MOSQUITTO_PUB, "-h", HOST, "-p", str(port), *map(str, args)], check=True, timeout=DEADLINE)


@pytest.mark.parametrize("version", VERSIONS)
def test_mosquitto_tls(mosquitto, tls_pki, procs, version):
    args = ["-h", HOST, "-p", mosquitto.tls, "--cafile", tls_pki.ca.cert, "-V", version]
    round_trip(procs, args, args, topic="m/tls")
    # mosquitto_pub on the plain listener reaches hermod-cli sub over TLS.
    sub = start_sub(procs, *args, "-t", "m/tls2", "-C", "1")
    mosquitto_pub(mosquitto.tcp, "-t", "m/tls2", "-m", "from mosquitto_pub", "-V", version)
    assert sub.wait() == 0
    assert sub.out.snapshot() == ["from mosquitto_pub"]


@pytest.mark.parametrize("version", VERSIONS)
def test_mosquitto_websockets(mosquitto, procs, version):
    url = f"ws://{HOST}:{mosquitto.ws}/mqtt"
    round_trip(procs, ["-L", url, "-V", version], ["-L", url, "-V", version], topic="m/ws")
    # hermod-cli pub over websockets reaches mosquitto_sub on the plain listener.
    sub = procs([MOSQUITTO_SUB, "-h", HOST, "-p", mosquitto.tcp, "-t", "m/ws2", "-C", "1", "-i", "msub-ws"])
    mosquitto.process.err.wait_for(r"Sending SUBACK to msub-ws$")
    r = cli("pub", "-L", url, "-V", version, "-t", "m/ws2", "-m", "from hermod-cli over ws", "-q", "1")
    assert r.returncode == 0, r.stderr
    assert sub.wait() == 0
    assert sub.out.snapshot() == ["from hermod-cli over ws"]


def test_mosquitto_websockets_over_tls(mosquitto, tls_pki, procs):
    args = ["-L", f"wss://{HOST}:{mosquitto.wss}/mqtt", "--cafile", tls_pki.ca.cert]
    round_trip(procs, args, args, topic="m/wss")
    # Across transports: a wss publisher, a ws subscriber.
    round_trip(procs, ["-L", f"ws://{HOST}:{mosquitto.ws}"], args, topic="m/mixed")


def test_mosquitto_tls_wrong_ca(mosquitto, tls_pki):
    r = cli("pub", "-h", HOST, "-p", mosquitto.tls, "--cafile", tls_pki.other_ca.cert, "-t", "t", "-m", "x")
    assert r.returncode == 1
    assert "did not verify" in r.stderr, r.stderr


@pytest.mark.time_limit(60)
@pytest.mark.parametrize("transport", ["tls", "ws", "wss"])
def test_bench_against_mosquitto(mosquitto, tls_pki, transport):
    # QoS 1 within mosquitto's in-flight limit of 20.
    target = {"tls": ["-h", HOST, "-p", mosquitto.tls, "--cafile", tls_pki.ca.cert],
              "ws": ["-L", f"ws://{HOST}:{mosquitto.ws}/mqtt"],
              "wss": ["-L", f"wss://{HOST}:{mosquitto.wss}/mqtt", "--cafile", tls_pki.ca.cert]}[transport]
    rc, r, _ = bench("pairs", *target, "--clients", "2", "--qos", "1", "--window", "16", "--count", "200",
                     "--duration", "10", "--drain", "10")
    assert_clean(rc, r)
    assert r["transport"] == transport
