"""The operators' HTTP listener over TLS (`[http] tls = true` with a listener's TLS keys): health,
metrics and the admin API over HTTPS verified against the test CA, client certificates when
required, and no plain HTTP on that port."""
import http.client
import json
import socket
import ssl

import pytest

import mqtt_raw
from broker_process import HOST, free_ports, port_accepts, unique_id, wait_for
from tls_broker import client_context

pytest_plugins = ["tls_broker"]  # the tls_pki fixture
pytestmark = pytest.mark.hermod_only("the HTTP listener is Hermod's")

TOKEN = "https-token-0123456789abcdef"


@pytest.fixture
def https_broker(make_broker, tmp_path, tls_pki):
    def make(client_certificates="off"):
        mqtt_port, http_port = free_ports(2)
        ca = f'ca_file = "{tls_pki.ca.cert}"\n' if client_certificates != "off" else ""
        conf = tmp_path / "https.toml"
        conf.write_text(f"""
[[listeners]]
bind = "{HOST}"
port = {mqtt_port}

[http]
bind = "{HOST}"
port = {http_port}
tls = true
cert_file = "{tls_pki.server_ec.cert}"
key_file = "{tls_pki.server_ec.key}"
client_certificates = "{client_certificates}"
{ca}
[http.admin_tokens]
ops = "{TOKEN}"
""")
        b = make_broker(port=mqtt_port, config_file=False, args=("-c", str(conf)))
        wait_for(lambda: port_accepts(HOST, http_port), timeout=10, message="the HTTPS listener")
        return b, http_port
    return make


def get(port, path, context, token=None):
    conn = http.client.HTTPSConnection(HOST, port, context=context, timeout=10)
    try:
        conn.request("GET", path, headers={"Authorization": f"Bearer {token}"} if token else {})
        r = conn.getresponse()
        return r.status, r.read().decode()
    finally:
        conn.close()


def test_health_metrics_and_api_over_https(https_broker, tls_pki):
    b, port = https_broker()
    ctx = client_context(tls_pki.ca.cert)
    ctx.check_hostname = False  # we connect to 127.0.0.1; the certificate also names it
    assert get(port, "/healthz", ctx) == (200, '{"status":"ok"}')
    c = mqtt_raw.RawClient(HOST, b.port)
    cid = unique_id("https")
    assert c.connect(cid).return_code == 0
    status, body = get(port, "/api/v1/clients", ctx, TOKEN)
    assert status == 200 and [i["client_id"] for i in json.loads(body)["items"]] == [cid]
    assert get(port, "/api/v1/clients", ctx)[0] == 401
    status, body = get(port, "/metrics", ctx)
    assert status == 200 and 'hermod_connections{listener="127.0.0.1:%d",protocol="3.1.1"} 1' % b.port in body
    c.close()


def test_the_certificate_is_checked_by_name_and_ca(https_broker, tls_pki):
    _, port = https_broker()
    ctx = ssl.create_default_context(cafile=str(tls_pki.ca.cert))
    with socket.create_connection((HOST, port), timeout=10) as raw, ctx.wrap_socket(raw, server_hostname="localhost") as s:
        assert s.version() in ("TLSv1.2", "TLSv1.3")
    other = client_context(tls_pki.other_ca.cert)
    with pytest.raises(ssl.SSLCertVerificationError):
        get(port, "/healthz", other)


def test_plain_http_gets_no_answer_on_the_tls_port(https_broker):
    _, port = https_broker()
    with socket.create_connection((HOST, port), timeout=10) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        s.settimeout(10)
        try:
            data = s.recv(4096)
        except ConnectionResetError:
            data = b""
    assert b"200 OK" not in data and b'"status"' not in data, data


def test_client_certificates_required(https_broker, tls_pki):
    _, port = https_broker(client_certificates="required")
    with_cert = client_context(tls_pki.ca.cert, tls_pki.alice)
    with_cert.check_hostname = False
    assert get(port, "/healthz", with_cert)[0] == 200
    without = client_context(tls_pki.ca.cert)
    without.check_hostname = False
    with pytest.raises((ssl.SSLError, ConnectionResetError, BrokenPipeError)):
        get(port, "/healthz", without)
    stranger = client_context(tls_pki.ca.cert, tls_pki.stranger)
    stranger.check_hostname = False
    with pytest.raises((ssl.SSLError, ConnectionResetError, BrokenPipeError)):
        get(port, "/healthz", stranger)
