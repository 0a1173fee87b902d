"""GET /metrics (docs/metrics.md): values counted exactly for a known run of real clients,
`promtool check metrics` on the exposition, and Debian's Prometheus scraping the broker with and
without a token."""
import contextlib
import json
import pathlib
import re
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request

import pytest

import mqtt5_raw
import mqtt_raw
from auth_broker import set_user
from broker_process import HOST, free_port, free_ports, port_accepts, unique_id, wait_for

pytestmark = pytest.mark.hermod_only("the Prometheus endpoint is Hermod's")

TOKEN = "metrics-token-0123456789abcdef"


def parse(text: str) -> dict[tuple[str, frozenset], float]:
    """The samples of an exposition: {(name, frozenset(labels.items())): value}."""
    samples = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        head, value = line.rsplit(" ", 1)
        labels = frozenset()
        if "{" in head:
            name, rest = head.split("{", 1)
            pairs = []
            for part in rest.rstrip("}").split('",'):
                if not part:
                    continue
                k, v = part.split('="', 1)
                pairs.append((k, v.rstrip('"')))
            labels = frozenset(pairs)
        else:
            name = head
        samples[(name, labels)] = float(value)
    return samples


class Metrics:
    def __init__(self, port: int, token=None):
        self.port, self.token = port, token

    def text(self, token="default") -> tuple[int, str, str]:
        token = self.token if token == "default" else token
        req = urllib.request.Request(f"http://{HOST}:{self.port}/metrics")
        if token:
            req.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, r.headers.get("Content-Type"), r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.headers.get("Content-Type"), e.read().decode()

    def get(self) -> dict:
        status, _, body = self.text()
        assert status == 200, body
        return parse(body)


def value(samples: dict, name: str, **labels) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


@pytest.fixture
def metrics_broker(make_broker, tmp_path):
    """Factory: a broker with [http] (metrics open unless metrics_auth), a data directory, and
    optionally a password file with the given users. Returns (broker, Metrics, http_port)."""
    def make(metrics_auth=False, users=None, extra=""):
        mqtt_port, http_port = free_ports(2)
        auth = ""
        if users is not None:
            pw = tmp_path / "passwords"
            pw.touch()
            for u, p in users.items():
                set_user(pw, u, p)
            auth = f'\n[auth]\npassword_file = "{pw}"\nallow_anonymous = true\n'
        conf = tmp_path / "metrics.toml"
        conf.write_text(f"""
[broker]
workers = 2
sys_interval = 0

[[listeners]]
bind = "{HOST}"
port = {mqtt_port}

[limits]
max_inflight = 3
{extra}
[http]
bind = "{HOST}"
port = {http_port}
metrics_auth = {"true" if metrics_auth else "false"}

[http.admin_tokens]
scraper = "{TOKEN}"
{auth}""")
        b = make_broker(port=mqtt_port, config_file=False,
                        args=("-c", str(conf), "--data-dir", str(tmp_path / "data")))
        wait_for(lambda: port_accepts(HOST, http_port), timeout=10, message="the HTTP listener")
        return b, Metrics(http_port, TOKEN if metrics_auth else None), http_port
    return make


def test_traffic_is_counted_exactly_by_qos_and_protocol(metrics_broker):
    b, m, _ = metrics_broker()
    before = m.get()
    listener = f"{HOST}:{b.port}"

    sub = mqtt_raw.RawClient(HOST, b.port)
    assert sub.connect(unique_id("sub")).return_code == 0
    sub.subscribe([("m/#", 2)])
    pub = mqtt5_raw.RawClient5(HOST, b.port)
    assert pub.connect(unique_id("pub")).reason_code == 0

    during = m.get()
    assert value(during, "hermod_connections", listener=listener, protocol="3.1.1") == 1
    assert value(during, "hermod_connections", listener=listener, protocol="5.0") == 1
    assert sum(value(during, "hermod_worker_connections", worker=str(w)) for w in (0, 1)) == 2
    assert (value(during, "hermod_connections_accepted_total", listener=listener)
            - value(before, "hermod_connections_accepted_total", listener=listener)) == 2

    sent = {0: 37, 1: 23, 2: 11}
    payload = b"x" * 10
    for qos, n in sent.items():
        for _ in range(n):
            pub.publish("m/t", payload, qos=qos)
    for _ in range(sum(sent.values())):
        sub.receive_publish()

    def delta(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    after = wait_for(lambda: (lambda s: s if value(s, "hermod_messages_sent_total", qos="2")
                              - value(before, "hermod_messages_sent_total", qos="2") == 11 else None)(m.get()),
                     message="the QoS 2 deliveries counted")
    for qos, n in sent.items():
        assert delta("hermod_messages_received_total", qos=str(qos)) == n
        assert delta("hermod_messages_sent_total", qos=str(qos)) == n
        assert delta("hermod_payload_received_bytes_total", qos=str(qos)) == n * len(payload)
        assert delta("hermod_payload_sent_bytes_total", qos=str(qos)) == n * len(payload)
    assert delta("hermod_network_received_bytes_total") > 71 * len(payload)
    assert delta("hermod_network_sent_bytes_total") > 71 * len(payload)
    assert sum(delta("hermod_messages_dropped_total", reason=r) for r in (
        "queue_full", "write_buffer", "memory_budget", "expired", "too_large", "offline",
        "not_authorized", "rate_limit", "topic_limits", "closed")) == 0
    assert value(after, "hermod_subscriptions") == 1

    pub.close()
    sub.close()
    # A scrape is not one atomic snapshot: the session scan runs on the workers before the
    # counters are read, so the two may disagree for a moment while clients leave.
    wait_for(lambda: (lambda s: value(s, "hermod_connections", listener=listener, protocol="5.0") == 0
                      and value(s, "hermod_connections", listener=listener, protocol="3.1.1") == 0
                      and value(s, "hermod_sessions", state="online") == 0
                      and value(s, "hermod_sessions", state="offline") == 0)(m.get()),
             message="the connection gauges and the clean sessions back at 0")


def test_sessions_queued_inflight_and_drops_by_reason(metrics_broker):
    b, m, _ = metrics_broker()
    before = m.get()
    slow_id, away_id = unique_id("slow"), unique_id("away")

    # A subscriber that never acknowledges: max_inflight (3) in flight, the rest queued.
    slow = mqtt_raw.RawClient(HOST, b.port)
    assert slow.connect(slow_id, clean=False).return_code == 0
    slow.subscribe([("q/#", 1)])
    # A persistent session whose client left: QoS 1 queued for it, QoS 0 dropped as offline.
    away = mqtt_raw.RawClient(HOST, b.port)
    assert away.connect(away_id, clean=False).return_code == 0
    away.subscribe([("q/#", 1)])
    away.send(mqtt_raw.disconnect())
    assert away.wait_closed(5)

    pub = mqtt_raw.RawClient(HOST, b.port)
    assert pub.connect(unique_id("pub")).return_code == 0
    for i in range(8):
        pub.publish("q/t", b"%d" % i, qos=1)
    for i in range(5):
        pub.publish("q/zero", b"z", qos=0)
    pub.publish("$SYS/fake", b"no", qos=1)  # a client may not publish to $SYS
    for _ in range(3):
        slow.receive_publish(ack=False)

    def settled():
        s = m.get()
        ok = (value(s, "hermod_inflight_messages") == 3
              and value(s, "hermod_messages_dropped_total", reason="offline")
              - value(before, "hermod_messages_dropped_total", reason="offline") == 5)
        return s if ok else None

    s = wait_for(settled, message="in-flight and offline drops counted")
    # slow: 8 QoS 1 sent, 3 in flight, 5 queued; 5 QoS 0 to it go out at once (QoS 0 skips the
    # window). away: 8 QoS 1 queued, its 5 QoS 0 dropped as offline.
    assert value(s, "hermod_queued_messages") == 5 + 8
    assert value(s, "hermod_sessions", state="online") == 2
    assert value(s, "hermod_sessions", state="offline") == 1
    assert (value(s, "hermod_messages_dropped_total", reason="not_authorized")
            - value(before, "hermod_messages_dropped_total", reason="not_authorized")) == 1
    # The persistent sessions' writes went through the store's group commit.
    commits = value(s, "hermod_store_commit_duration_seconds_count") - value(before, "hermod_store_commit_duration_seconds_count")
    assert commits >= 1
    assert value(s, "hermod_store_commit_duration_seconds_bucket", le="+Inf") == value(
        s, "hermod_store_commit_duration_seconds_count")
    assert value(s, "hermod_store_commit_duration_seconds_sum") > 0
    for c in (slow, pub):
        c.close()


def test_logins_are_counted_by_result(metrics_broker):
    b, m, _ = metrics_broker(users={"alice": "right-password"})
    before = m.get()
    ok = mqtt_raw.RawClient(HOST, b.port)
    assert ok.connect(unique_id("a"), username="alice", password="right-password").return_code == 0
    for _ in range(2):
        bad = mqtt_raw.RawClient(HOST, b.port)
        assert bad.connect(unique_id("b"), username="alice", password="wrong").return_code == 4
        bad.close()
    after = wait_for(lambda: (lambda s: s if value(s, "hermod_logins_total", result="failure")
                              - value(before, "hermod_logins_total", result="failure") == 2 else None)(m.get()),
                     message="two failed logins counted")
    assert value(after, "hermod_logins_total", result="success") - value(before, "hermod_logins_total", result="success") == 1
    ok.close()


def test_exposition_passes_promtool_and_has_the_types(metrics_broker):
    promtool = shutil.which("promtool")
    assert promtool, "promtool is missing: scripts/install-deps.sh installs Debian's prometheus"
    b, m, _ = metrics_broker()
    c = mqtt_raw.RawClient(HOST, b.port)
    assert c.connect(unique_id("p")).return_code == 0
    c.publish("lint/me", b"1", qos=1)
    status, ctype, body = m.text()
    assert status == 200 and ctype.startswith("text/plain; version=0.0.4")
    done = subprocess.run([promtool, "check", "metrics"], input=body, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip() == "" and done.stderr.strip() == "", done.stdout + done.stderr
    types = {l.split()[2]: l.split()[3] for l in body.splitlines() if l.startswith("# TYPE ")}
    assert types["hermod_messages_received_total"] == "counter"
    assert types["hermod_connections"] == "gauge"
    assert types["hermod_store_commit_duration_seconds"] == "histogram"
    assert all(n.endswith("_total") for n, t in types.items() if t == "counter")
    c.close()


def test_metrics_auth_needs_the_token(metrics_broker):
    _, m, _ = metrics_broker(metrics_auth=True)
    status, _, body = m.text(token=None)
    assert status == 401 and json.loads(body)["error"] == "unauthorized"
    assert m.text(token="not-the-token-0123456789")[0] == 401
    assert m.text()[0] == 200


@contextlib.contextmanager
def run_prometheus(tmp_path: pathlib.Path, http_port: int, token=None):
    """Debian's Prometheus scraping the broker's /metrics every 2 s; yields its web port."""
    prometheus = shutil.which("prometheus")
    assert prometheus, "prometheus is missing: scripts/install-deps.sh installs it"
    web_port = free_port()
    auth = f"\n    authorization:\n      credentials: {token}" if token else ""
    cfg = tmp_path / "prometheus.yml"
    cfg.write_text(f"""global:
  scrape_interval: 2s
  scrape_timeout: 2s
scrape_configs:
  - job_name: hermod
    static_configs:
      - targets: ["{HOST}:{http_port}"]{auth}
""")
    proc = subprocess.Popen([prometheus, f"--config.file={cfg}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                             f"--web.listen-address={HOST}:{web_port}"],
                            # A file, not a pipe nobody reads: a full pipe would stall Prometheus.
                            stdout=subprocess.DEVNULL, stderr=(tmp_path / "prometheus.log").open("w"))
    try:
        yield web_port
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def query(web_port: int, q: str):
    url = f"http://{HOST}:{web_port}/api/v1/query?query={urllib.request.quote(q)}"
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            res = json.loads(r.read())["data"]["result"]
    except (OSError, ValueError, KeyError):
        return None
    return res


@pytest.mark.parametrize("with_token", [False, True], ids=["open", "token"])
def test_prometheus_scrapes_the_broker(metrics_broker, tmp_path, with_token):
    b, m, http_port = metrics_broker(metrics_auth=with_token)
    c = mqtt_raw.RawClient(HOST, b.port)
    assert c.connect(unique_id("scraped")).return_code == 0
    for _ in range(4):
        c.publish("scrape/me", b"v", qos=1)
    with run_prometheus(tmp_path, http_port, TOKEN if with_token else None) as web_port:
        def received():
            res = query(web_port, 'sum(hermod_messages_received_total{job="hermod",qos="1"})')
            return res[0]["value"][1] if res else None
        assert wait_for(received, timeout=60, interval=0.5, message="Prometheus's first scrape") == "4"
        up = query(web_port, 'up{job="hermod"}')
        assert up and up[0]["value"][1] == "1"
    c.close()


def test_a_scrape_without_the_token_is_seen_down_by_prometheus(metrics_broker, tmp_path):
    _, _, http_port = metrics_broker(metrics_auth=True)
    with run_prometheus(tmp_path, http_port, token=None) as web_port:
        def down():
            res = query(web_port, 'up{job="hermod"}')
            return res if res else None
        up = wait_for(down, timeout=60, interval=0.5, message="Prometheus's first scrape")
        assert up[0]["value"][1] == "0"


def test_the_grafana_example_uses_only_names_the_broker_serves(metrics_broker):
    dashboard = json.loads((pathlib.Path(__file__).resolve().parents[2] / "examples/grafana/hermod-dashboard.json")
                           .read_text())
    _, m, _ = metrics_broker()
    _, _, body = m.text()
    families = {l.split()[2] for l in body.splitlines() if l.startswith("# TYPE ")}
    used = set()
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            used |= set(re.findall(r"\b(?:hermod|process)_[a-z_]+", target["expr"]))
    assert len(used) >= 15
    missing = {n for n in used if n not in families and re.sub(r"_(bucket|sum|count)$", "", n) not in families}
    assert not missing, missing


def test_metrics_auth_is_reloaded(metrics_broker, tmp_path):
    b, m, _ = metrics_broker()
    assert m.text(token=None)[0] == 200
    conf = tmp_path / "metrics.toml"
    conf.write_text(conf.read_text().replace("metrics_auth = false", "metrics_auth = true"))
    b.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: m.text(token=None)[0] == 401, message="/metrics refused without a token after the reload")
    assert m.text(token=TOKEN)[0] == 200
    conf.write_text(conf.read_text().replace("metrics_auth = true", "metrics_auth = false"))
    b.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: m.text(token=None)[0] == 200, message="/metrics open again after the next reload")
