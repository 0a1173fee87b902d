"""The HTTP listener's health checks and admin API (docs/admin-api.yaml), against a real broker
with real MQTT clients (raw sockets, mosquitto_sub) and HTTP from urllib."""
import json
import subprocess
import urllib.error
import urllib.request

import pytest

import mqtt_raw
from broker_process import HOST, free_port, port_accepts, unique_id, wait_for

pytestmark = pytest.mark.hermod_only("the HTTP listener and admin API are Hermod's")

TOKEN = "test-token-0123456789abcdef"


@pytest.fixture
def api(make_broker, tmp_path):
    """A broker with an [http] table; yields (broker, call) where call(method, path, body=None,
    token=TOKEN) returns (status, parsed JSON)."""
    mqtt_port, http_port = free_port(), free_port()
    conf = tmp_path / "admin.toml"
    conf.write_text(f"""
[broker]
workers = 2
sys_interval = 1

[[listeners]]
bind = "{HOST}"
port = {mqtt_port}

[http]
bind = "{HOST}"
port = {http_port}

[http.admin_tokens]
tests = "{TOKEN}"
""")
    b = make_broker(port=mqtt_port, config_file=False, args=("-c", str(conf)))
    # The HTTP listener opens after the MQTT listeners the fixture waits for.
    wait_for(lambda: port_accepts(HOST, http_port), timeout=10, message="the HTTP listener")

    def call(method, path, body=None, token=TOKEN):
        data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
        req = urllib.request.Request(f"http://{HOST}:{http_port}{path}", data=data, method=method)
        if token:
            req.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())

    return b, call


def test_health_is_open_and_the_api_needs_the_token(api):
    _, call = api
    assert call("GET", "/healthz", token=None) == (200, {"status": "ok"})
    status, ready = call("GET", "/readyz", token=None)
    assert status == 200 and ready["ready"] is True
    status, err = call("GET", "/api/v1/overview", token=None)
    assert status == 401 and err["error"] == "unauthorized"
    status, err = call("GET", "/api/v1/overview", token="wrong-token-0123456789")
    assert status == 401
    status, overview = call("GET", "/api/v1/overview")
    assert status == 200 and overview["workers"] == 2
    assert call("GET", "/no/such/path")[0] == 404
    assert call("POST", "/api/v1/overview", body={})[0] == 405


def test_clients_are_listed_in_pages_without_repeats(api):
    b, call = api
    ids = sorted(unique_id("page") for _ in range(250))
    conns = []
    try:
        for cid in ids:
            c = mqtt_raw.RawClient(HOST, b.port)
            c.connect(cid)
            conns.append(c)
        seen, after, pages = [], "", 0
        while True:
            status, page = call("GET", f"/api/v1/clients?limit=100&search=page-" + (f"&after={after}" if after else ""))
            assert status == 200, page
            pages += 1
            seen += [c["client_id"] for c in page["items"]]
            if page["next"] is None:
                break
            after = page["next"]
            assert pages < 10
        assert pages == 3
        assert seen == ids, "every client once, in client id order"
        status, one = call("GET", f"/api/v1/clients/{ids[0]}")
        assert status == 200 and one["protocol"] == "3.1.1" and one["address"].startswith("127.0.0.1:")
    finally:
        for c in conns:
            c.close()


def test_disconnect_closes_the_client_and_it_is_gone(api):
    b, call = api
    cid = unique_id("kick")
    c = mqtt_raw.RawClient(HOST, b.port)
    c.connect(cid)
    c.subscribe([("kick/#", 1)])
    status, sub = call("GET", f"/api/v1/subscriptions?client_id={cid}")
    assert status == 200 and [s["filter"] for s in sub["items"]] == ["kick/#"]
    status, d = call("DELETE", f"/api/v1/clients/{cid}")
    assert status == 200 and d["disconnected"] is True
    assert c.wait_closed(5), "the client's connection was closed"
    assert call("GET", f"/api/v1/clients/{cid}")[0] == 404
    assert call("DELETE", f"/api/v1/clients/{cid}")[0] == 404
    c.close()


def test_publish_and_retained_messages(api):
    b, call = api
    topic = f"api/{unique_id('t')}"
    sub = subprocess.Popen(["mosquitto_sub", "-h", HOST, "-p", str(b.port), "-t", topic, "-C", "1", "-W", "10"],
                           stdout=subprocess.PIPE, text=True)
    try:
        # mosquitto_sub has subscribed once it shows up in the subscription list.
        wait_for(lambda: any(s["filter"] == topic for s in call("GET", "/api/v1/subscriptions")[1]["items"]),
                 message="mosquitto_sub's subscription")
        status, r = call("POST", "/api/v1/publish", {"topic": topic, "payload": "from the API", "qos": 1})
        assert status == 200, r
        out, _ = sub.communicate(timeout=10)
        assert out.strip() == "from the API"
    finally:
        sub.kill()
    assert call("POST", "/api/v1/publish", {"topic": "a/+", "payload": "x"})[0] == 400
    assert call("POST", "/api/v1/publish", {"topic": "a", "payload": "x", "qos": 3})[0] == 400
    assert call("POST", "/api/v1/publish", b"not json")[0] == 400
    assert call("GET", "/api/v1/clients?limit=0")[0] == 400

    status, _ = call("PUT", f"/api/v1/retained/{topic}", {"payload": "AAEC", "encoding": "base64"})
    assert status == 200
    status, m = call("GET", f"/api/v1/retained/{topic}")
    assert status == 200 and m["encoding"] == "base64" and m["payload"] == "AAEC" and m["size"] == 3
    with mqtt_raw.RawClient(HOST, b.port) as c:
        c.connect(unique_id("ret"))
        c.subscribe([(topic, 0)])
        p = c.receive_publish(timeout=5)
        assert p.payload == b"\x00\x01\x02" and p.retain
    assert call("DELETE", f"/api/v1/retained/{topic}")[0] == 200
    assert call("GET", f"/api/v1/retained/{topic}")[0] == 404


def test_config_hides_the_tokens(api):
    _, call = api
    status, c = call("GET", "/api/v1/config")
    assert status == 200
    assert c["http"]["admin_tokens"] == {"tests": "<redacted>"}
    assert TOKEN not in json.dumps(c)
    assert call("POST", "/api/v1/reload")[0] == 200
