"""The dashboard (docs/dashboard.md): its files served from the broker's binary with their
headers, then the page itself in a real headless browser, Debian's Chromium through
playwright-core and Debian's Firefox ESR through puppeteer-core (js/dashboard.mjs), against a
real broker with real MQTT clients.

Every request the page makes is recorded and must stay on the broker (its HTTP origin and its
WebSocket listener). Screenshots of each view, desktop and a 375x812 phone, go to
$HERMOD_DASHBOARD_SHOTS (default build/test-results/dashboard/), named BROWSER-VIEWPORT-VIEW.png.
"""
from __future__ import annotations

import json
import os
import pathlib
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from typing import Any, Optional

import pytest

import mqtt_raw
from broker_process import HOST, free_ports, port_accepts, unique_id, wait_for
from node_driver import NodeDriver

pytestmark = pytest.mark.hermod_only("the dashboard is Hermod's")
# ws_broker marks every test using a fixture named `browser` with the `browser` marker
# (-m "not browser" deselects them); this module's own `browser` fixture below takes the place
# of ws_broker's Chromium-only one here.
pytest_plugins = ["tls_broker", "ws_broker"]

TOKEN = "dash-token-0123456789abcdef"
CSP = ("default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; frame-ancestors 'none'; "
       "base-uri 'none'; form-action 'self'")
JS_DIR = pathlib.Path(__file__).resolve().parent / "js"
REPO = pathlib.Path(__file__).resolve().parents[2]
SHOTS = pathlib.Path(os.environ.get("HERMOD_DASHBOARD_SHOTS", REPO / "build" / "test-results" / "dashboard"))
BROWSERS = {"chromium": "/usr/bin/chromium", "firefox": "/usr/bin/firefox-esr"}
DESKTOP = (1280, 900)
PHONE = (375, 812)


# --------------------------------------------------------------------------------------------
# The broker: a TCP listener, a WebSocket listener and [http] with one admin token


class DashBroker:
    def __init__(self, broker, http_port: int, ws_port: int):
        self.broker = broker
        self.port = broker.port
        self.http_port = http_port
        self.ws_port = ws_port
        self.origin = f"http://{HOST}:{http_port}"
        self.ws_url = f"ws://{HOST}:{ws_port}/mqtt"

    def get(self, path: str, headers: Optional[dict[str, str]] = None):
        """(status, headers, body bytes) of GET path, redirects not followed."""
        class NoRedirect(urllib.request.HTTPRedirectHandler):
            def redirect_request(self, *args, **kwargs):
                return None
        opener = urllib.request.build_opener(NoRedirect)
        req = urllib.request.Request(self.origin + path, headers=headers or {})
        try:
            with opener.open(req, timeout=10) as r:
                return r.status, r.headers, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.headers, e.read()

    def api(self, path: str) -> Any:
        req = urllib.request.Request(self.origin + path, headers={"Authorization": f"Bearer {TOKEN}"})
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.loads(r.read())


@pytest.fixture
def dash(make_broker, tmp_path):
    mqtt_port, ws_port, http_port = free_ports(3)
    conf = tmp_path / "dashboard.toml"
    conf.write_text(f"""
[broker]
workers = 2

[[listeners]]
bind = "{HOST}"
port = {mqtt_port}

[[listeners]]
bind = "{HOST}"
port = {ws_port}
transport = "ws"

[http]
bind = "{HOST}"
port = {http_port}

[http.admin_tokens]
tests = "{TOKEN}"
""")
    b = make_broker(port=mqtt_port, config_file=False, args=("-c", str(conf)))
    wait_for(lambda: port_accepts(HOST, http_port) and port_accepts(HOST, ws_port), timeout=10,
             message="the HTTP and WebSocket listeners")
    return DashBroker(b, http_port, ws_port)


# --------------------------------------------------------------------------------------------
# The files and their headers, without a browser


def test_root_redirects_to_the_dashboard(dash):
    status, headers, _ = dash.get("/")
    assert status == 302 and headers["Location"] == "/dashboard/"
    status, headers, _ = dash.get("/dashboard")
    assert status == 302 and headers["Location"] == "/dashboard/"


def test_files_are_served_without_a_token_with_their_headers(dash):
    status, headers, body = dash.get("/dashboard/")
    assert status == 200
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    assert headers["Content-Security-Policy"] == CSP
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Cache-Control"] == "no-cache"
    assert b'<script type="module" src="js/app.js"></script>' in body
    index_tag = headers["ETag"]
    assert len(index_tag) == 18 and index_tag.startswith('"') and index_tag.endswith('"')
    assert dash.get("/dashboard/index.html")[2] == body
    for path, kind in [("js/app.js", "text/javascript; charset=utf-8"), ("js/mqtt.js", "text/javascript; charset=utf-8"),
                       ("style.css", "text/css; charset=utf-8")]:
        status, headers, body = dash.get("/dashboard/" + path)
        assert (status, headers["Content-Type"]) == (200, kind), path
        assert headers["ETag"] != index_tag and len(body) > 500, path
    # The source files are what is served, byte for byte.
    src = REPO / "src" / "http" / "dashboard"
    assert dash.get("/dashboard/js/mqtt.js")[2] == (src / "js" / "mqtt.js").read_bytes()


def test_if_none_match_answers_304_and_a_changed_tag_the_file(dash):
    _, headers, body = dash.get("/dashboard/style.css")
    tag = headers["ETag"]
    status, headers, again = dash.get("/dashboard/style.css", {"If-None-Match": tag})
    assert (status, again) == (304, b"")
    assert headers["ETag"] == tag and headers["Content-Security-Policy"] == CSP
    assert dash.get("/dashboard/style.css", {"If-None-Match": f'"x", W/{tag}'})[0] == 304
    status, _, again = dash.get("/dashboard/style.css", {"If-None-Match": '"0000000000000000"'})
    assert (status, again) == (200, body)


def test_unknown_files_are_404(dash):
    for path in ["/dashboard/nope.js", "/dashboard/../README.md", "/dashboard/js/", "/dashboard/%2e%2e/x"]:
        status, headers, body = dash.get(path)
        assert status == 404, path
        assert json.loads(body)["error"] == "not_found"


# --------------------------------------------------------------------------------------------
# The browser


class Browser(NodeDriver):
    """One browser process running js/dashboard.mjs; `do(cmd, ...)` sends a command and returns
    its answer, failing the test with the driver's error."""

    def __init__(self, name: str, log_path: pathlib.Path):
        args = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"] if name == "chromium" else []
        options = {"browser": name, "executablePath": BROWSERS[name], "args": args}
        env = dict(os.environ, HOME=str(log_path.parent))  # Firefox writes its profile bookkeeping there
        super().__init__(name, JS_DIR / "dashboard.mjs", options, log_path, env=env)
        self._serial = 0
        ready = self.reply(60, "the browser to start")
        if not ready.get("ready"):
            self.close()
            pytest.fail(f"{name} did not start: {ready}\n{self.stderr()}", pytrace=False)
        self.version = ready["version"]

    def do(self, cmd: str, check: bool = True, **args: Any) -> dict[str, Any]:
        self._serial += 1
        self.send({"id": self._serial, "cmd": cmd, **args})
        wait = args.get("timeout_ms", 10000) / 1000 + 20
        while True:
            reply = self.reply(wait, f"{cmd} {args}")
            if reply.get("id") == self._serial:
                break
        if check and not reply["ok"]:
            raise AssertionError(f"{self.name}: {cmd} {args} failed: {reply['error']}")
        return reply

    def wait(self, selector: str, text: Optional[str] = None, attr: Optional[str] = None,
             timeout: float = 10) -> str:
        return self.do("wait", selector=selector, text=text, attr=attr, timeout_ms=int(timeout * 1000))["text"]

    def text(self, selector: str, attr: Optional[str] = None) -> Optional[str]:
        return self.do("text", selector=selector, attr=attr)["text"]

    def eval(self, expression: str) -> Any:
        return self.do("eval", expression=expression)["value"]

    def screenshot(self, viewport: str, view: str) -> pathlib.Path:
        SHOTS.mkdir(parents=True, exist_ok=True)
        path = SHOTS / f"{self.name}-{viewport}-{view}.png"
        self.do("screenshot", path=str(path))
        assert path.stat().st_size > 1000, path
        return path

    def close(self) -> None:
        super().close({"cmd": "quit"}, wait=15)


@pytest.fixture(scope="module", params=sorted(BROWSERS))
def browser(request, tmp_path_factory):
    name = request.param
    if not os.access(BROWSERS[name], os.X_OK):
        pytest.skip(f"{BROWSERS[name]} is missing (scripts/install-deps.sh installs it)")
    if not (JS_DIR / "node_modules").is_dir():
        pytest.fail("tests/integration/js/node_modules is missing: run scripts/install-deps.sh", pytrace=False)
    b = Browser(name, tmp_path_factory.mktemp(name) / "driver.stderr")
    yield b
    b.close()


def check_requests_stay_on_the_broker(browser: Browser, dash: DashBroker, expected_errors: tuple[str, ...] = ()) -> list[str]:
    seen = browser.do("requests")
    # Playwright reports a WebSocket by its ws:// URL; puppeteer over BiDi reports Firefox's
    # upgrade request, as http:// to the same host, port and path.
    ws_as_http = "http" + dash.ws_url[2:]
    urls = [dash.ws_url if u == ws_as_http else u for u in seen["requests"] + seen["websockets"]]
    outside = [u for u in urls if not (u.startswith(dash.origin + "/") or u == dash.ws_url or u.startswith("data:"))]
    assert outside == [], f"the page asked for URLs outside the broker: {outside}"
    assert dash.origin + "/dashboard/js/app.js" in urls
    problems = [p for p in seen["problems"] if not any(e in p for e in expected_errors)]
    assert problems == [], f"script or console errors (a CSP violation is one): {problems}"
    return urls


def sign_in(browser: Browser, dash: DashBroker, size: tuple[int, int]) -> None:
    browser.do("open", width=size[0], height=size[1])
    browser.do("goto", url=dash.origin + "/")  # the redirect to /dashboard/ included
    browser.wait("#login-token")
    browser.do("fill", selector="#login-token", value=TOKEN)
    browser.do("click", selector="#login-submit")
    browser.wait("#stat-connections")


def received(browser: Browser) -> int:
    return int(browser.wait("#stats", attr="data-received"))


@pytest.mark.time_limit(60)
def test_a_wrong_token_shows_the_login_error(dash, browser):
    browser.do("open", width=DESKTOP[0], height=DESKTOP[1])
    browser.do("goto", url=dash.origin + "/dashboard/")
    browser.wait("#login-token")
    browser.do("fill", selector="#login-token", value="not-the-token-0123456789")
    browser.do("click", selector="#login-submit")
    assert browser.wait("#login-error", "refused this token (401)") == (
        "The broker refused this token (401): it is not one of [http.admin_tokens].")
    assert browser.eval("document.getElementById('app').hidden") is True
    assert browser.eval("sessionStorage.getItem('hermod.token')") is None
    browser.screenshot("desktop", "login-error")
    # Chromium logs the refused call itself.
    check_requests_stay_on_the_broker(browser, dash, expected_errors=("status of 401",))


@pytest.mark.time_limit(60)
def test_a_token_refused_later_signs_out_with_the_reason(dash, browser):
    sign_in(browser, dash, DESKTOP)
    browser.wait("#stats", attr="data-received")
    # As after a reload that removed the token: the next poll of the overview gets a 401.
    browser.eval("sessionStorage.setItem('hermod.token', 'revoked-token-0123456789'), true")
    assert browser.wait("#login-error", "Signed out") == (
        "Signed out: the broker refused the token (401: the bearer token is not one of http.admin_tokens).")
    assert browser.eval("document.getElementById('app').hidden") is True
    assert browser.eval("sessionStorage.getItem('hermod.token')") is None


@pytest.mark.time_limit(90)
def test_overview_explorer_clients_and_publish(dash, browser):
    sign_in(browser, dash, DESKTOP)
    assert browser.eval("sessionStorage.getItem('hermod.token')") == TOKEN
    browser.wait("#nav a.active", "Overview")

    # Overview: the counters follow a publisher sending a known number of messages, and the
    # in/s figure shows it while it runs.
    publisher = mqtt_raw.RawClient(HOST, dash.port)
    publisher.connect(unique_id("dashpub"))
    wait_for(lambda: browser.text("#stats", attr="data-connections") == "1", 10, message="1 connection shown")
    before = received(browser)
    # 60 messages over about 3 s: the page polls once a second, so it sees them arrive.
    count, rates = 60, set()
    for i in range(count):
        publisher.publish(f"dash/load/{i % 3}", b"x")
        time.sleep(0.05)
        if i % 10 == 9:
            rates.add(browser.text("#stat-in-rate"))
    wait_for(lambda: received(browser) == before + count, 10,
             message=f"messages received to reach {before + count}")
    assert rates - {"0", "–"}, f"the in/s figure never showed the publisher's rate: {rates}"
    assert dash.api("/api/v1/overview")["messages_received"] == before + count
    browser.screenshot("desktop", "overview")

    # Explorer: the URL defaults to the broker's WebSocket listener; a retained message and a
    # live one show with their exact values.
    retained_topic, live_topic = "dash/room1/temp", "dash/room2/humidity"
    publisher.publish(retained_topic, "21.5 °C".encode(), retain=True)
    browser.do("click", selector='#nav a[data-view="explorer"]')
    wait_for(lambda: browser.eval("document.getElementById('explorer-url').value") == dash.ws_url, 10,
             message=f"the explorer's URL to default to {dash.ws_url}")
    browser.do("fill", selector="#explorer-filter", value="dash/#")
    browser.do("click", selector="#explorer-connect")
    browser.wait("#explorer-status", "Subscribed to dash/# on " + dash.ws_url)
    assert browser.wait(f'li[data-topic="{retained_topic}"]', attr="data-value") == "21.5 °C"
    assert browser.eval(f"!document.querySelector('li[data-topic=\"{retained_topic}\"] .retained').hidden") is True
    for i in range(3):
        publisher.publish(live_topic, f"{40 + i}%".encode())
    browser.wait(f'li[data-topic="{live_topic}"]', "42%", attr="data-value")
    assert browser.wait(f'li[data-topic="{live_topic}"]', "3", attr="data-count") == "3"
    assert browser.text('li[data-topic="dash"]', attr="data-count") == "4"
    assert browser.eval(f"document.querySelector('li[data-topic=\"{live_topic}\"] .retained').hidden") is True
    browser.do("click", selector=f'li[data-topic="{live_topic}"] > .node')
    assert browser.wait("#detail-value", "42%") == "42%"
    browser.screenshot("desktop", "explorer")

    # Clients: a test client found by search and disconnected from the page.
    victim_id = unique_id("dashkick")
    victim = mqtt_raw.RawClient(HOST, dash.port)
    victim.connect(victim_id)
    browser.do("click", selector='#nav a[data-view="clients"]')
    browser.do("fill", selector="#clients-search", value=victim_id)
    browser.do("click", selector='#clients-form button[type="submit"]')
    row = f'tr[data-client="{victim_id}"]'
    browser.wait(row, victim_id)
    assert browser.eval("document.querySelectorAll('#clients-body tr').length") == 1
    browser.screenshot("desktop", "clients")
    browser.do("click", selector=f"{row} button")
    assert browser.wait("#disconnect-id", victim_id) == victim_id
    browser.screenshot("desktop", "clients-disconnect")
    browser.do("click", selector="#disconnect-confirm")
    assert victim.wait_closed(5), "the client saw the broker close its connection"
    browser.do("gone", selector=row)
    assert browser.wait("#clients-status", f"Disconnected {victim_id}")
    assert browser.eval("document.getElementById('clients-empty').hidden") is False
    victim.close()

    # Publish: the form's message reaches a mosquitto_sub subscriber with the exact payload.
    payload = "hello from the dashboard ✓"
    sub = subprocess.Popen(["mosquitto_sub", "-h", HOST, "-p", str(dash.port), "-t", "dash/form", "-C", "1",
                            "-W", "20", "-i", unique_id("dashsub")], stdout=subprocess.PIPE)
    try:
        wait_for(lambda: any(c["client_id"].startswith("dashsub") and c["subscriptions"] == 1
                             for c in dash.api("/api/v1/clients?search=dashsub")["items"]), 10,
                 message="mosquitto_sub to subscribe")
        browser.do("click", selector='#nav a[data-view="publish"]')
        browser.do("fill", selector="#publish-topic", value="dash/form")
        browser.do("fill", selector="#publish-payload", value=payload)
        browser.do("fill", selector="#publish-qos", value="1")
        browser.do("click", selector="#publish-submit")
        assert browser.wait("#publish-result", "Published") == "Published to dash/form (QoS 1)."
        out, _ = sub.communicate(timeout=20)
    finally:
        if sub.poll() is None:
            sub.kill()
            sub.wait()
    assert out.decode() == payload + "\n"
    browser.screenshot("desktop", "publish")
    publisher.close()

    assert dash.ws_url in check_requests_stay_on_the_broker(browser, dash)


@pytest.mark.time_limit(60)
def test_disconnect_from_the_page_can_end_the_session(dash, browser):
    def session_of(cid):
        return [s for s in dash.api("/api/v1/sessions?limit=1000")["items"] if s["client_id"] == cid]

    sign_in(browser, dash, DESKTOP)
    browser.do("click", selector='#nav a[data-view="clients"]')
    for drop in (False, True):
        cid = unique_id("dashsess")
        c = mqtt_raw.RawClient(HOST, dash.port)
        c.connect(cid, clean=False)
        c.subscribe([("sess/#", 1)])
        browser.do("fill", selector="#clients-search", value=cid)
        browser.do("click", selector='#clients-form button[type="submit"]')
        browser.do("click", selector=f'tr[data-client="{cid}"] button')
        browser.wait("#disconnect-id", cid)
        browser.do("check", selector="#disconnect-drop", value=drop)
        browser.do("click", selector="#disconnect-confirm")
        assert c.wait_closed(5), "the client saw the broker close its connection"
        c.close()
        browser.wait("#clients-status", f"Disconnected {cid}{' and ended its session' if drop else '.'}")
        if drop:
            assert session_of(cid) == [], "the session ended with the connection"
        else:
            wait_for(lambda: [s["online"] for s in session_of(cid)] == [False], 5,
                     message="the persistent session to stay, offline")


@pytest.mark.time_limit(60)
def test_the_client_list_comes_in_pages_of_50(dash, browser):
    ids = sorted(unique_id("dashpage") for _ in range(55))
    conns = []
    try:
        for cid in ids:
            c = mqtt_raw.RawClient(HOST, dash.port)
            c.connect(cid)
            conns.append(c)
        sign_in(browser, dash, DESKTOP)
        browser.do("click", selector='#nav a[data-view="clients"]')
        browser.do("fill", selector="#clients-search", value="dashpage-")
        browser.do("click", selector='#clients-form button[type="submit"]')
        browser.wait("#clients-status", "50 clients matching")
        shown = "[...document.querySelectorAll('#clients-body tr')].map((r) => r.dataset.client)"
        assert browser.eval(shown) == ids[:50]
        browser.do("click", selector="#clients-next")
        browser.wait("#clients-status", "5 clients matching")
        assert browser.eval(shown) == ids[50:]
        assert browser.eval("document.getElementById('clients-next').disabled") is True
        browser.do("click", selector="#clients-first")
        browser.wait("#clients-status", "50 clients matching")
        assert browser.eval(shown) == ids[:50]
    finally:
        for c in conns:
            c.close()


@pytest.mark.time_limit(60)
def test_every_view_fits_a_phone(dash, browser):
    publisher = mqtt_raw.RawClient(HOST, dash.port)
    publisher.connect(unique_id("dashphone"))
    publisher.publish("phone/a/b", b"on a phone", retain=True)
    sign_in(browser, dash, PHONE)
    for view in ["overview", "clients", "explorer", "publish"]:
        browser.do("click", selector=f'#nav a[data-view="{view}"]')
        browser.wait(f"#view-{view}")
        if view == "clients":
            browser.wait('#clients-body tr', "dashphone")
            right = browser.eval("document.querySelector('#clients-body tr button').getBoundingClientRect().right")
            assert right <= PHONE[0], f"the Disconnect button ends at {right} px, off a {PHONE[0]} px screen"
        if view == "explorer":
            wait_for(lambda: browser.eval("document.getElementById('explorer-url').value") == dash.ws_url, 10,
                     message="the explorer's default URL")
            browser.do("fill", selector="#explorer-filter", value="phone/#")
            browser.do("click", selector="#explorer-connect")
            browser.wait('li[data-topic="phone/a/b"]', "on a phone", attr="data-value")
        if view == "overview":
            browser.wait("#stat-uptime", "s")
        width = browser.eval("document.documentElement.scrollWidth")
        assert width <= PHONE[0], f"{view}: the page is {width} px wide on a {PHONE[0]} px screen"
        browser.screenshot("phone", view)
    publisher.close()
    check_requests_stay_on_the_broker(browser, dash)
