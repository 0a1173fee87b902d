"""The admin API against its contract, docs/admin-api.yaml, endpoint by endpoint: every path and
method with and without a valid bearer token, bad input (400 with a reason), oversized bodies
(413), wrong methods (405), paging over thousands of clients, sessions and subscriptions, the
client details against what the test's clients did, disconnecting and ending sessions, bans
(flapping and the failed-login delay), reload of the tokens and the audit log.

The contract is read from the YAML itself, so a path or method added to it later without a
sample request here fails test_every_operation_of_the_contract_has_a_sample.

Where Hermod disagrees with the contract the test keeps the contract's answer and is marked
xfail(strict=True) with the difference in its reason, so fixing the broker turns it into an
XPASS failure that asks for the mark to go (none is left: the four this suite found are fixed).
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import http.client
import json
import pathlib
import re
import resource
import select
import socket
import time
import urllib.parse
from typing import Any, Optional

import pytest
import yaml

import mqtt5_raw
import mqtt_raw
from auth_broker import set_user
from broker_process import (DEFAULT_CONFIG, HOST, REPO, Broker, free_port,
                            port_accepts, unique_id, wait_for)

pytestmark = pytest.mark.hermod_only("the HTTP listener and admin API are Hermod's")

TOKEN = "test-token-0123456789abcdef"
OTHER_TOKEN = "other-token-9876543210fedcba"
SPEC = yaml.safe_load((REPO / "docs/admin-api.yaml").read_text())
HTTP_METHODS = ("get", "put", "post", "delete", "patch", "head", "options")
NEVER_EXPIRES = 4294967295


def _operations(spec: dict) -> list[tuple[str, str]]:
    return [(path, method.upper()) for path, item in spec["paths"].items()
            for method in item if method in HTTP_METHODS]


OPERATIONS = _operations(SPEC)


def _is_open(path: str, method: str) -> bool:
    op = SPEC["paths"][path][method.lower()]
    return op.get("security", SPEC.get("security")) == []


def _documented_statuses(path: str, method: str) -> set[int]:
    return {int(s) for s in SPEC["paths"][path][method.lower()]["responses"]}


# --------------------------------------------------------------------------------------------
# The broker with an HTTP listener, and HTTP calls with full control over the headers


@dataclasses.dataclass
class Resp:
    status: int
    headers: dict[str, str]
    text: str

    @property
    def json(self) -> Any:
        return json.loads(self.text)

    def __repr__(self) -> str:
        return f"HTTP {self.status} {self.text[:300]!r}"


def admin_toml(mqtt_port: int, http_port: int, tokens: dict[str, str], limits: str = "",
               http: str = "", extra: str = "", workers: int = 2) -> str:
    token_lines = "\n".join(f'{name} = "{value}"' for name, value in tokens.items())
    return f"""
[broker]
workers = {workers}
sys_interval = 1
log_level = "{DEFAULT_CONFIG['log_level']}"

[[listeners]]
bind = "{HOST}"
port = {mqtt_port}

[limits]
{limits}

{extra}

[http]
bind = "{HOST}"
port = {http_port}
{http}

[http.admin_tokens]
{token_lines}
"""


class Api:
    """One broker with an [http] table: `request` sends one HTTP/1.1 request on a connection of
    its own and returns a Resp; `call` returns (status, parsed JSON)."""

    def __init__(self, broker: Broker, http_port: int, conf: pathlib.Path, settings: dict):
        self.broker = broker
        self.port = broker.port
        self.http_port = http_port
        self.conf = conf
        self.settings = settings

    def request(self, method: str, path: str, body: Any = None, token: Optional[str] = TOKEN,
                authorization: Optional[str] = None, timeout: float = 15) -> Resp:
        data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
        headers = {}
        if authorization is not None:
            headers["Authorization"] = authorization
        elif token:
            headers["Authorization"] = f"Bearer {token}"
        if data is not None:
            headers["Content-Type"] = "application/json"
        conn = http.client.HTTPConnection(HOST, self.http_port, timeout=timeout)
        try:
            conn.request(method, path, body=data, headers=headers)
            r = conn.getresponse()
            text = r.read().decode("utf-8", errors="replace")
            return Resp(r.status, {k.lower(): v for k, v in r.getheaders()}, text)
        finally:
            conn.close()

    def call(self, method: str, path: str, body: Any = None, token: Optional[str] = TOKEN) -> tuple[int, Any]:
        r = self.request(method, path, body, token)
        return r.status, r.json

    def rewrite(self, **changes: Any) -> None:
        self.settings.update(changes)
        self.conf.write_text(admin_toml(self.port, self.http_port, **self.settings))


def start_api(make_broker, workdir: pathlib.Path, tokens: Optional[dict[str, str]] = None,
              **settings: Any) -> Api:
    mqtt_port, http_port = free_port(), free_port()
    while http_port == mqtt_port:
        http_port = free_port()
    settings = {"tokens": dict({"tests": TOKEN} if tokens is None else tokens), **settings}
    workdir.mkdir(parents=True, exist_ok=True)
    conf = workdir / "admin.toml"
    conf.write_text(admin_toml(mqtt_port, http_port, **settings))
    b = make_broker(port=mqtt_port, config_file=False, args=("-c", str(conf)))
    # The HTTP listener opens after the MQTT listeners the fixture waits for.
    wait_for(lambda: port_accepts(HOST, http_port), timeout=10, message="the HTTP listener")
    return Api(b, http_port, conf, settings)


@pytest.fixture
def make_api(make_broker, tmp_path):
    """Factory: make_api(tokens=..., limits="...", http="...", extra="...") starts a broker with
    those TOML lines in its [limits] and [http] tables (extra: more tables) and returns an Api."""
    serial = iter(range(1, 100))

    def make(**settings: Any) -> Api:
        return start_api(make_broker, tmp_path / f"api{next(serial)}", **settings)

    return make


@pytest.fixture
def api(make_api) -> Api:
    return make_api()


@pytest.fixture(scope="module")
def shared_api(tmp_path_factory):
    """One broker for the many read-only bad-input cases (a broker per case would spend the
    suite's time starting brokers). Stopped with make_broker's exit checks."""
    brokers: list[Broker] = []

    def make(*, port=None, args=(), config_file=True, **config):
        b = Broker(tmp_path_factory.mktemp("shared-broker"), {**DEFAULT_CONFIG, **config},
                   port=port, args=args, config_file=config_file)
        brokers.append(b)
        return b.start()

    a = start_api(make, tmp_path_factory.mktemp("shared-api"), http="max_body_size = 200000")
    yield a
    for b in brokers:
        problems = b.stop()
        assert not problems, f"{b}: {problems}\n{b.stderr_tail()}"


def assert_error(r: Resp, status: int, error: str) -> dict:
    """The contract's error answer: JSON {"error": CODE, "message": TEXT} with a reason."""
    assert r.status == status, f"expected {status} {error}, got {r}"
    assert r.headers.get("content-type", "").startswith("application/json"), r.headers
    body = r.json
    assert isinstance(body, dict) and body.get("error") == error, f"error body {body!r}"
    assert isinstance(body.get("message"), str) and body["message"].strip(), \
        f"the error carries a reason in `message`: {body!r}"
    return body


def q(value: str) -> str:
    return urllib.parse.quote(value, safe="")


# --------------------------------------------------------------------------------------------
# Many raw MQTT connections at once


def raise_nofile(wanted: int) -> None:
    """Raises this process's open-file limit (a broker started afterwards inherits it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] >= min(wanted, target)


def _readable(sock: socket.socket, seconds: float) -> bool:
    """poll(), not select(): with thousands of sockets the descriptors pass FD_SETSIZE."""
    p = select.poll()
    p.register(sock, select.POLLIN)
    return bool(p.poll(max(0, int(seconds * 1000))))


def _read_exactly(sock: socket.socket, n: int, deadline: float) -> bytes:
    out = b""
    while len(out) < n:
        left = deadline - time.monotonic()
        if left <= 0:
            raise mqtt_raw.Timeout(f"read {len(out)} of {n} bytes before the deadline")
        if not _readable(sock, left):
            continue
        chunk = sock.recv(n - len(out))
        if not chunk:
            raise mqtt_raw.ConnectionClosed("EOF")
        out += chunk
    return out


def connect_many(port: int, ids: list[str], clean: bool = True, timeout: float = 20.0) -> list[socket.socket]:
    """Connects one 3.1.1 client per id, pipelined (CONNECT sent on every socket before the
    CONNACKs are read); every CONNACK must be 'accepted'."""
    socks = []
    deadline = time.monotonic() + timeout
    try:
        for cid in ids:
            s = socket.create_connection((HOST, port), timeout=timeout)
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            s.sendall(mqtt_raw.connect(cid, clean=clean, keepalive=300))
            socks.append(s)
        for cid, s in zip(ids, socks):
            ack = _read_exactly(s, 4, deadline)
            assert ack[0] == 0x20 and ack[3] == 0, f"CONNACK of {cid}: {ack!r}"
        return socks
    except BaseException:
        close_all(socks)
        raise


def subscribe_many(socks: list[socket.socket], filters: list[list[tuple[str, int]]],
                   timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    for s, fs in zip(socks, filters):
        s.sendall(mqtt_raw.subscribe(1, fs))
    for s, fs in zip(socks, filters):
        head = _read_exactly(s, 2, deadline)
        assert head[0] == 0x90, head
        body = _read_exactly(s, head[1], deadline)
        assert list(body[2:]) == [qos for _, qos in fs], body


def disconnect_many(socks: list[socket.socket], timeout: float = 20.0) -> None:
    """Sends DISCONNECT on each and waits for the broker to close each (so it has processed it)."""
    deadline = time.monotonic() + timeout
    for s in socks:
        s.sendall(mqtt_raw.disconnect())
    for s in socks:
        while True:
            left = deadline - time.monotonic()
            assert left > 0, "the broker did not close every connection after DISCONNECT"
            if _readable(s, left):
                try:
                    if not s.recv(4096):
                        break
                except ConnectionResetError:
                    break
        s.close()


def close_all(socks: list[socket.socket]) -> None:
    for s in socks:
        try:
            s.close()
        except OSError:
            pass


def scrambled_ids(prefix: str, n: int) -> list[str]:
    """n distinct client ids whose connection order is not their sort order."""
    return [f"{prefix}-{hashlib.sha1(str(i).encode()).hexdigest()[:10]}-{i}" for i in range(n)]


def read_pages(api: Api, path: str, limit: int, key=lambda item: item["client_id"],
               max_pages: int = 10_000, between=None) -> tuple[list[dict], int]:
    """Follows `next` from the first page to the last; returns (items, pages)."""
    sep = "&" if "?" in path else "?"
    items: list[dict] = []
    after, pages = None, 0
    while True:
        url = f"{path}{sep}limit={limit}" + ("" if after is None else f"&after={q(after)}")
        status, page = api.call("GET", url)
        assert status == 200, page
        pages += 1
        assert len(page["items"]) <= limit, f"page {pages} has {len(page['items'])} items, limit {limit}"
        items += page["items"]
        if page["next"] is None:
            return items, pages
        assert page["items"], "a page with a `next` is not empty"
        after = page["next"]
        assert pages < max_pages, "paging does not end"
        if between:
            between(items)


# --------------------------------------------------------------------------------------------
# 1. Every operation of the contract, with and without a valid token

# A request for each operation of the contract on a fresh broker: its concrete path, its body,
# and the status the contract's responses give for it there (nothing exists yet).
SAMPLES: dict[tuple[str, str], tuple[str, Any, int]] = {
    ("/healthz", "GET"): ("/healthz", None, 200),
    ("/readyz", "GET"): ("/readyz", None, 200),
    ("/metrics", "GET"): ("/metrics", None, 200),
    ("/api/v1/overview", "GET"): ("/api/v1/overview", None, 200),
    ("/api/v1/clients", "GET"): ("/api/v1/clients", None, 200),
    ("/api/v1/clients/{client_id}", "GET"): ("/api/v1/clients/nobody", None, 404),
    ("/api/v1/clients/{client_id}", "DELETE"): ("/api/v1/clients/nobody", None, 404),
    ("/api/v1/sessions", "GET"): ("/api/v1/sessions", None, 200),
    ("/api/v1/sessions/{client_id}", "DELETE"): ("/api/v1/sessions/nobody", None, 404),
    ("/api/v1/subscriptions", "GET"): ("/api/v1/subscriptions", None, 200),
    ("/api/v1/retained", "GET"): ("/api/v1/retained", None, 200),
    ("/api/v1/retained/{topic}", "GET"): ("/api/v1/retained/no/such/topic", None, 404),
    ("/api/v1/retained/{topic}", "PUT"): ("/api/v1/retained/sample/topic", {"payload": "x"}, 200),
    ("/api/v1/retained/{topic}", "DELETE"): ("/api/v1/retained/no/such/topic", None, 404),
    ("/api/v1/publish", "POST"): ("/api/v1/publish", {"topic": "sample", "payload": "x"}, 200),
    ("/api/v1/bans", "GET"): ("/api/v1/bans", None, 200),
    ("/api/v1/bans/{kind}/{key}", "DELETE"): ("/api/v1/bans/client/nobody", None, 404),
    ("/api/v1/reload", "POST"): ("/api/v1/reload", None, 200),
    ("/api/v1/config", "GET"): ("/api/v1/config", None, 200),
}

SECURED = [op for op in OPERATIONS if not _is_open(*op)]
OPEN = [op for op in OPERATIONS if _is_open(*op)]

# Authorization headers that must not pass: (id, header value or None for no header).
BAD_AUTHORIZATIONS = [
    ("no-header", None),
    ("wrong-token", "Bearer wrong-token-0123456789abcdef"),
    ("token-prefix", f"Bearer {TOKEN[:-1]}"),
    ("token-longer", f"Bearer {TOKEN}x"),
    ("basic-scheme", "Basic " + base64.b64encode(f"tests:{TOKEN}".encode()).decode()),
    ("basic-with-token", f"Basic {TOKEN}"),
    ("token-without-scheme", TOKEN),
    ("bearer-without-value", "Bearer"),
    ("bearer-and-space", "Bearer "),
    ("empty", ""),
]


def test_every_operation_of_the_contract_has_a_sample():
    """A path or method added to docs/admin-api.yaml needs its sample here (and its tests)."""
    assert OPERATIONS, "no operations read from docs/admin-api.yaml"
    missing = sorted(set(OPERATIONS) - set(SAMPLES))
    stale = sorted(set(SAMPLES) - set(OPERATIONS))
    assert not missing, f"operations of the contract without a test: {missing}"
    assert not stale, f"samples of operations the contract no longer has: {stale}"
    for op, (_, _, status) in SAMPLES.items():
        if op in OPERATIONS:
            assert status in _documented_statuses(*op), f"{op}: {status} is not a documented answer"


@pytest.mark.parametrize("op", SECURED, ids=[f"{m} {p}" for p, m in SECURED])
def test_operation_needs_a_valid_bearer_token(api, op):
    path, method = op
    assert 401 in _documented_statuses(path, method), f"{op} documents no 401"
    concrete, body, expected = SAMPLES[op]
    for name, authorization in BAD_AUTHORIZATIONS:
        r = api.request(method, concrete, body, token=None, authorization=authorization)
        try:
            assert_error(r, 401, "unauthorized")
        except AssertionError as e:
            raise AssertionError(f"{method} {concrete} with {name} ({authorization!r}): {e}") from None
    # The scheme is case-insensitive (RFC 9110 section 11.1), the token is not.
    r = api.request(method, concrete, body, token=None, authorization=f"bearer {TOKEN}")
    assert r.status == expected, f"{method} {concrete} with 'bearer TOKEN': {r}"
    r = api.request(method, concrete, body, token=None, authorization=f"Bearer {TOKEN.upper()}")
    assert_error(r, 401, "unauthorized")
    r = api.request(method, concrete, body)
    assert r.status == expected, f"{method} {concrete} with the token: {r}"
    assert r.headers.get("content-type", "").startswith("application/json"), r.headers
    r.json  # noqa: B018 (every /api/v1 answer is JSON)


@pytest.mark.parametrize("op", OPEN, ids=[f"{m} {p}" for p, m in OPEN])
def test_open_operation_needs_no_token(api, op):
    path, method = op
    concrete, body, expected = SAMPLES[op]
    for name, authorization in [("none", None), ("wrong", "Bearer wrong-token-0123456789abcdef"),
                                ("basic", "Basic dXNlcjpwYXNz")]:
        r = api.request(method, concrete, body, token=None, authorization=authorization)
        assert r.status == expected, f"{method} {concrete} with {name} authorization: {r}"
    if path == "/metrics":
        assert r.headers.get("content-type", "").startswith("text/plain"), r.headers
        assert "hermod_" in r.text
    elif path == "/healthz":
        assert r.json == {"status": "ok"}
    elif path == "/readyz":
        assert r.json == {"ready": True, "listeners": True, "store": True}


def test_metrics_need_the_token_when_metrics_auth_is_on(make_api):
    a = make_api(http="metrics_auth = true")
    assert_error(a.request("GET", "/metrics", token=None), 401, "unauthorized")
    assert_error(a.request("GET", "/metrics", token="wrong-token-0123456789abcdef"), 401, "unauthorized")
    r = a.request("GET", "/metrics")
    assert r.status == 200 and "hermod_" in r.text, r
    assert a.request("GET", "/healthz", token=None).status == 200


def test_no_tokens_configured_refuses_every_api_call(make_api):
    a = make_api(tokens={})
    assert_error(a.request("GET", "/api/v1/overview"), 401, "unauthorized")
    assert_error(a.request("GET", "/api/v1/overview", token=None), 401, "unauthorized")
    assert a.request("GET", "/healthz", token=None).status == 200


def test_a_second_token_works_too(make_api):
    a = make_api(tokens={"tests": TOKEN, "other": OTHER_TOKEN})
    assert a.request("GET", "/api/v1/overview", token=OTHER_TOKEN).status == 200
    assert a.request("GET", "/api/v1/overview", token=TOKEN).status == 200


def test_unknown_path_is_404_json(shared_api):
    assert_error(shared_api.request("GET", "/api/v1/nothing"), 404, "not_found")
    assert_error(shared_api.request("GET", "/api/v2/clients"), 404, "not_found")
    # "/" redirects to the dashboard (test_dashboard.py); other paths outside the API are 404.
    assert_error(shared_api.request("GET", "/nothing"), 404, "not_found")


def test_overview_answers_the_documented_fields(api):
    with mqtt_raw.RawClient(HOST, api.port) as c:
        c.connect(unique_id("ov"))
        c.subscribe([("ov/a", 0), ("ov/b", 1)])
        status, o = api.call("GET", "/api/v1/overview")
    assert status == 200
    props = SPEC["components"]["schemas"]["Overview"]["properties"]
    assert set(props) <= set(o), f"missing {sorted(set(props) - set(o))}"
    assert o["workers"] == 2 and o["connections"] == 1 and o["sessions"] == 1
    assert o["subscriptions"] == 2
    # `retained` counts every retained message, the broker's own $SYS ones included.
    def counted_as_listed():
        listed = sum(len(read_pages(api, f"/api/v1/retained?filter={q(f)}", 1000)[0]) for f in ("#", "$SYS/#"))
        return api.call("GET", "/api/v1/overview")[1]["retained"] == listed
    # ($SYS topics appear during the first $SYS interval: wait for two equal readings.)
    wait_for(counted_as_listed, message="overview's retained == the retained messages listed")
    assert abs(o["time_ms"] - time.time() * 1000) < 5000
    assert o["listeners"] == [{"name": f"{HOST}:{api.port}", "bind": HOST, "port": api.port,
                               "transport": "tcp"}]


# --------------------------------------------------------------------------------------------
# 2. Bad input: 400 with a reason, 404, 405, 413

PAGED = ["/api/v1/clients", "/api/v1/sessions", "/api/v1/subscriptions", "/api/v1/retained"]
BAD_LIMITS = ["0", "-1", "-0", "1001", "4294967296", "18446744073709551617",
              "99999999999999999999999", "abc", "1.5", "1e3", "", "%20%35", "5abc", "0x10", "+5"]


@pytest.mark.parametrize("path", PAGED)
@pytest.mark.parametrize("limit", BAD_LIMITS)
def test_bad_limit_is_400(shared_api, path, limit):
    body = assert_error(shared_api.request("GET", f"{path}?limit={limit}"), 400, "bad_request")
    assert "limit" in body["message"], body


@pytest.mark.parametrize("path", PAGED)
@pytest.mark.parametrize("limit", ["1", "1000", "100"])
def test_limits_in_range_are_accepted(shared_api, path, limit):
    status, page = shared_api.call("GET", f"{path}?limit={limit}")
    assert status == 200 and set(page) == {"items", "next"}, page


@pytest.mark.parametrize("path", PAGED)
@pytest.mark.parametrize("query", ["limit=%zz", "limit=%4", "after=%zz", "after=%", "after=a%g0"])
def test_malformed_percent_encoding_in_a_query_is_400(shared_api, path, query):
    assert_error(shared_api.request("GET", f"{path}?{query}"), 400, "bad_request")


@pytest.mark.parametrize("path", PAGED)
def test_odd_after_values_are_keys(shared_api, path):
    """`after` is a key: empty is the first page, past every key is an empty last page."""
    first = shared_api.call("GET", path)
    assert first[0] == 200
    assert shared_api.call("GET", f"{path}?after=") == first
    for after in ["\U0010ffff" * 3, "~~~~~~~~", "\xff"]:
        status, page = shared_api.call("GET", f"{path}?after={q(after)}")
        assert status == 200 and page == {"items": [], "next": None}, (after, page)
    status, page = shared_api.call("GET", f"{path}?after={q('~' * 10000)}")
    assert status == 200 and page == {"items": [], "next": None}, page


@pytest.mark.parametrize("state", ["bogus", "ONLINE", "Online", "", "online,offline", "on", "1",
                                   "true", "%00"])
def test_bad_session_state_is_400(shared_api, state):
    body = assert_error(shared_api.request("GET", f"/api/v1/sessions?state={state}"), 400, "bad_request")
    assert "state" in body["message"], body


@pytest.mark.parametrize("state", ["all", "online", "offline"])
def test_session_states_are_accepted(shared_api, state):
    assert shared_api.call("GET", f"/api/v1/sessions?state={state}")[0] == 200



def _not_utf8(value, why):
    # [MQTT-1.5.4-1] [MQTT-1.5.4-2]: well-formed UTF-8 without U+0000, as from clients.
    return pytest.param(value, why, id=why)


BAD_FILTERS = [pytest.param(v, w, id=w) for v, w in [
    ("a/#/b", "'#' not last"), ("a#", "'#' inside a level"), ("a+/b", "'+' inside a level"),
    ("+a", "'+' inside a level"), ("", "empty"), ("$share/g/a/#", "a shared subscription"),
    ("a" * 65536, "longer than 65535 bytes")]] + [
    _not_utf8("a\x00b", "NUL"), _not_utf8(b"\xff\xfe", "invalid UTF-8"),
    _not_utf8(b"a/\xc0\xaf", "overlong UTF-8"), _not_utf8(b"\xed\xa0\x80", "a UTF-16 surrogate")]


def _encoded(v) -> str:
    return urllib.parse.quote_from_bytes(v if isinstance(v, bytes) else v.encode(), safe="")


@pytest.mark.parametrize("value,why", BAD_FILTERS)
def test_bad_retained_filter_is_400(shared_api, value, why):
    r = shared_api.request("GET", f"/api/v1/retained?filter={_encoded(value)}")
    if len(value) > 60000:
        assert r.status in (400, 431), r  # the request line may be refused as too large first
        return
    assert_error(r, 400, "bad_request")


BAD_TOPICS = [pytest.param(v, w, id=w) for v, w in [
    ("a/+", "'+'"), ("+", "'+' alone"), ("a/#", "'#'"), ("#", "'#' alone"), ("", "empty")]] + [
    _not_utf8("a\x00b", "NUL"), _not_utf8(b"\xff", "invalid UTF-8"), _not_utf8(b"\xc3", "truncated UTF-8"),
    _not_utf8(b"\xed\xa0\x80", "a UTF-16 surrogate")]


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
@pytest.mark.parametrize("value,why", BAD_TOPICS)
def test_bad_retained_topic_in_the_path_is_400(shared_api, method, value, why):
    body = {"payload": "x"} if method == "PUT" else None
    assert_error(shared_api.request(method, f"/api/v1/retained/{_encoded(value)}", body), 400, "bad_request")


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
@pytest.mark.parametrize("path", ["/api/v1/retained/", "/api/v1/retained/%zz", "/api/v1/retained/a%2"])
def test_empty_or_malformed_retained_path_is_400(shared_api, method, path):
    body = {"payload": "x"} if method == "PUT" else None
    assert_error(shared_api.request(method, path, body), 400, "bad_request")


def test_percent_encoded_retained_topic_is_decoded(shared_api):
    topic = f"enc/{unique_id('t')}/a b/ü"
    r = shared_api.request("PUT", f"/api/v1/retained/{q(topic)}", {"payload": "v"})
    assert r.status == 200 and r.json == {"topic": topic, "retain": True}, r
    status, m = shared_api.call("GET", f"/api/v1/retained/{q(topic)}")
    assert status == 200 and m == {"topic": topic, "payload": "v", "encoding": "utf8", "qos": 0, "size": 1}
    assert shared_api.call("DELETE", f"/api/v1/retained/{q(topic)}")[0] == 200
    assert shared_api.call("GET", f"/api/v1/retained/{q(topic)}")[0] == 404


BAD_BODIES = [  # (id, body, the word the reason must contain)
    ("not-json", b"not json", ""),
    ("truncated-json", b'{"topic": "a", "payload": "x"', ""),
    ("empty-body", b"", ""),
    ("json-array", b'[{"topic": "a", "payload": "x"}]', "object"),
    ("json-string", b'"text"', "object"),
    ("json-number", b"42", "object"),
    ("json-null", b"null", "object"),
    ("json-true", b"true", "object"),
    ("lone-surrogate", b'{"topic": "a", "payload": "\\ud800"}', ""),
    ("invalid-utf8-in-json", b'{"topic": "a", "payload": "\xff"}', ""),
    ("missing-payload", {"topic": "a"}, "payload"),
    ("payload-number", {"topic": "a", "payload": 1}, "payload"),
    ("payload-null", {"topic": "a", "payload": None}, "payload"),
    ("payload-object", {"topic": "a", "payload": {"x": 1}}, "payload"),
    ("payload-array", {"topic": "a", "payload": ["x"]}, "payload"),
    ("qos-3", {"topic": "a", "payload": "x", "qos": 3}, "qos"),
    ("qos-negative", {"topic": "a", "payload": "x", "qos": -1}, "qos"),
    ("qos-string", {"topic": "a", "payload": "x", "qos": "1"}, "qos"),
    ("qos-float", {"topic": "a", "payload": "x", "qos": 1.5}, "qos"),
    ("qos-float-integral", {"topic": "a", "payload": "x", "qos": 1.0}, "qos"),
    ("qos-bool", {"topic": "a", "payload": "x", "qos": True}, "qos"),
    ("qos-null", {"topic": "a", "payload": "x", "qos": None}, "qos"),
    pytest.param("qos-2**32", {"topic": "a", "payload": "x", "qos": 2 ** 32}, "qos"),
    pytest.param("qos-2**32+1", {"topic": "a", "payload": "x", "qos": 2 ** 32 + 1}, "qos"),
    ("qos-2**64", {"topic": "a", "payload": "x", "qos": 2 ** 64}, "qos"),
    ("encoding-unknown", {"topic": "a", "payload": "x", "encoding": "hex"}, "encoding"),
    ("encoding-upper", {"topic": "a", "payload": "x", "encoding": "BASE64"}, "encoding"),
    ("encoding-number", {"topic": "a", "payload": "x", "encoding": 64}, ""),
    ("base64-bad-chars", {"topic": "a", "payload": "!!!!", "encoding": "base64"}, "base64"),
    ("base64-bad-length", {"topic": "a", "payload": "AAE", "encoding": "base64"}, "base64"),
    ("base64-inner-padding", {"topic": "a", "payload": "AA==AAEC", "encoding": "base64"}, "base64"),
    ("base64-space", {"topic": "a", "payload": "AA EC", "encoding": "base64"}, "base64"),
]

PUBLISH_ONLY = [
    ("missing-topic", {"payload": "x"}, "topic"),
    ("topic-number", {"topic": 7, "payload": "x"}, "topic"),
    ("topic-null", {"topic": None, "payload": "x"}, "topic"),
    ("topic-empty", {"topic": "", "payload": "x"}, "topic"),
    ("topic-plus", {"topic": "a/+", "payload": "x"}, "topic"),
    ("topic-hash", {"topic": "a/#", "payload": "x"}, "topic"),
    pytest.param("topic-nul", {"topic": "a\x00b", "payload": "x"}, "topic"),
    ("topic-too-long", {"topic": "a" * 65536, "payload": "x"}, "topic"),
    ("retain-string", {"topic": "a", "payload": "x", "retain": "yes"}, "retain"),
    ("retain-number", {"topic": "a", "payload": "x", "retain": 1}, "retain"),
    ("retain-null", {"topic": "a", "payload": "x", "retain": None}, "retain"),
]


def _body_cases(cases):
    out = []
    for c in cases:
        if hasattr(c, "marks"):  # already a pytest.param (a ParameterSet is a tuple too)
            out.append(pytest.param(*c.values, id=c.values[0], marks=c.marks))
        else:
            out.append(pytest.param(*c, id=c[0]))
    return out


@pytest.mark.parametrize("name,body,word", _body_cases(BAD_BODIES + PUBLISH_ONLY))
def test_bad_publish_body_is_400(shared_api, name, body, word):
    r = shared_api.request("POST", "/api/v1/publish", body)
    err = assert_error(r, 400, "bad_request")
    assert word.lower() in err["message"].lower(), f"the reason names {word!r}: {err}"


def _put_body(body):
    if isinstance(body, dict):
        return {k: v for k, v in body.items() if k != "topic"}
    return body


@pytest.mark.parametrize("name,body,word", _body_cases(BAD_BODIES + [
    ("empty-payload", {"payload": ""}, "payload"),
    ("empty-base64-payload", {"payload": "", "encoding": "base64"}, "payload")]))
def test_bad_retained_put_body_is_400(shared_api, name, body, word):
    topic = f"put/{unique_id('bad')}"
    err = assert_error(shared_api.request("PUT", f"/api/v1/retained/{topic}", _put_body(body)), 400, "bad_request")
    assert word.lower() in err["message"].lower(), f"the reason names {word!r}: {err}"
    assert shared_api.call("GET", f"/api/v1/retained/{topic}")[0] == 404, "nothing was retained"


@pytest.mark.parametrize("value", ["yes", "2", "", "TRUE", "on", "-1"])
def test_bad_drop_session_is_400(shared_api, value):
    cid = unique_id("drop")
    with mqtt_raw.RawClient(HOST, shared_api.port) as c:
        c.connect(cid)
        err = assert_error(shared_api.request("DELETE", f"/api/v1/clients/{cid}?drop_session={value}"),
                           400, "bad_request")
        assert "drop_session" in err["message"], err
        c.ping()  # still connected


@pytest.mark.parametrize("path", ["/api/v1/bans/nobody/x", "/api/v1/bans/clients/x", "/api/v1/bans/Client/x",
                                  "/api/v1/bans/client", "/api/v1/bans/client/", "/api/v1/bans/address/",
                                  "/api/v1/bans/address/%zz", "/api/v1/bans/", "/api/v1/bans//x"])
def test_bad_ban_path_is_400(shared_api, path):
    assert_error(shared_api.request("DELETE", path), 400, "bad_request")


@pytest.mark.parametrize("method,path", [
    ("GET", "/api/v1/clients/nobody"), ("DELETE", "/api/v1/clients/nobody"),
    ("DELETE", "/api/v1/clients/nobody?drop_session=true"), ("DELETE", "/api/v1/sessions/nobody"),
    ("GET", "/api/v1/clients/no%2Fbody"), ("GET", "/api/v1/retained/no/such"),
    ("DELETE", "/api/v1/retained/no/such"), ("DELETE", "/api/v1/bans/client/nobody"),
    ("DELETE", "/api/v1/bans/address/10.9.8.7%2F32")])
def test_unknown_thing_is_404(shared_api, method, path):
    assert_error(shared_api.request(method, path), 404, "not_found")


@pytest.mark.parametrize("path", ["/api/v1/clients/", "/api/v1/clients/%zz", "/api/v1/sessions/",
                                  "/api/v1/sessions/%g1"])
def test_empty_or_malformed_client_id_is_400(shared_api, path):
    method = "DELETE" if "sessions" in path else "GET"
    assert_error(shared_api.request(method, path), 400, "bad_request")


def _wrong_methods():
    out = []
    for path, item in SPEC["paths"].items():
        listed = {m.upper() for m in item if m in HTTP_METHODS}
        concrete = SAMPLES.get((path, sorted(listed)[0]), (path,))[0]
        for method in ["GET", "PUT", "POST", "DELETE", "PATCH"]:
            if method not in listed:
                out.append(pytest.param(method, concrete, id=f"{method} {path}"))
    return out


@pytest.mark.parametrize("method,path", _wrong_methods())
def test_wrong_method_is_405(shared_api, method, path):
    body = {} if method in ("PUT", "POST", "PATCH") else None
    assert_error(shared_api.request(method, path, body), 405, "method_not_allowed")


def test_oversized_body_is_413(make_api):
    a = make_api(http="max_body_size = 1024")
    big = json.dumps({"topic": "big", "payload": "x" * 3000}).encode()
    assert_error(a.request("POST", "/api/v1/publish", big), 413, "payload_too_large")
    assert_error(a.request("PUT", "/api/v1/retained/big", json.dumps({"payload": "y" * 3000}).encode()),
                 413, "payload_too_large")
    # Exactly the limit is allowed.
    body = json.dumps({"topic": "big", "payload": ""}).encode()
    body = json.dumps({"topic": "big", "payload": "x" * (1024 - len(body))}).encode()
    assert len(body) == 1024
    assert a.request("POST", "/api/v1/publish", body).status == 200
    # Unauthenticated oversized bodies are refused too (401 or 413, never served).
    r = a.request("POST", "/api/v1/publish", big, token=None)
    assert r.status in (401, 413), r
    assert a.request("GET", "/healthz", token=None).status == 200


# --------------------------------------------------------------------------------------------
# 3. Paging over thousands


@pytest.mark.time_limit(60)
def test_two_thousand_clients_in_pages_of_500_and_137(make_api):
    raise_nofile(8192)
    a = make_api()
    ids = scrambled_ids("pg", 2000)
    socks = connect_many(a.port, ids)
    try:
        for limit, pages in [(500, 4), (137, 15), (1000, 2), (1999, None)]:
            if limit > 1000:
                assert_error(a.request("GET", f"/api/v1/clients?limit={limit}"), 400, "bad_request")
                continue
            items, n = read_pages(a, "/api/v1/clients", limit)
            got = [i["client_id"] for i in items]
            assert len(got) == len(set(got)), f"pages of {limit}: a client listed twice"
            assert got == sorted(ids), f"pages of {limit}: every client once, in client id order"
            assert n == pages, f"pages of {limit}: {n} pages"
        # The default limit is 100.
        status, page = a.call("GET", "/api/v1/clients")
        assert status == 200 and len(page["items"]) == 100 and page["next"] == sorted(ids)[99]
        # `search` pages the same way.
        # (letters: every address, 127.0.0.1:PORT, has digits).
        items, _ = read_pages(a, "/api/v1/clients?search=ab", 37)
        got = [i["client_id"] for i in items]
        assert got == sorted(i for i in ids if "ab" in i) and got, "search matches the client id"
        status, ov = a.call("GET", "/api/v1/overview")
        assert ov["connections"] == 2000
    finally:
        close_all(socks)


@pytest.mark.time_limit(60)
def test_sessions_online_and_offline_are_counted_exactly(make_api):
    raise_nofile(8192)
    a = make_api()
    persistent = scrambled_ids("ps", 1200)
    clean = scrambled_ids("cl", 400)
    p_socks = connect_many(a.port, persistent, clean=False)
    c_socks = connect_many(a.port, clean, clean=True)
    try:
        subscribe_many(p_socks, [[(f"s/{i}/a", 1)] for i in range(len(p_socks))])
        gone, stay = persistent[::2], persistent[1::2]
        disconnect_many(p_socks[::2])
        offline = sorted(gone)
        online = sorted(stay + clean)

        def listed(state: str, limit: int) -> list[dict]:
            return read_pages(a, f"/api/v1/sessions?state={state}", limit)[0]

        wait_for(lambda: [s["client_id"] for s in listed("offline", 1000)] == offline, timeout=10,
                 message="the 600 disconnected persistent sessions listed offline")
        for limit in (137, 500):
            off = listed("offline", limit)
            on = listed("online", limit)
            every = listed("all", limit)
            assert [s["client_id"] for s in off] == offline
            assert [s["client_id"] for s in on] == online
            assert [s["client_id"] for s in every] == sorted(persistent + clean)
            assert all(s["online"] is False for s in off) and all(s["online"] is True for s in on)
        by_id = {s["client_id"]: s for s in listed("all", 1000)}
        for cid in gone[:5] + stay[:5]:
            assert by_id[cid] == {"client_id": cid, "online": cid in stay, "persistent": True,
                                  "expiry_interval": NEVER_EXPIRES, "queued": 0, "inflight": 0,
                                  "subscriptions": 1}, by_id[cid]
        for cid in clean[:5]:
            assert by_id[cid] == {"client_id": cid, "online": True, "persistent": False,
                                  "expiry_interval": 0, "queued": 0, "inflight": 0,
                                  "subscriptions": 0}, by_id[cid]
        status, ov = a.call("GET", "/api/v1/overview")
        assert (ov["connections"], ov["sessions"]) == (1000, 1600), ov
    finally:
        close_all(p_socks[1::2] + c_socks)


@pytest.mark.time_limit(60)
def test_subscriptions_are_paged_by_client_then_filter(make_api):
    raise_nofile(8192)
    a = make_api()
    ids = scrambled_ids("sb", 420)
    socks = connect_many(a.port, ids)
    try:
        filters = {}
        for i, cid in enumerate(ids):
            # Several filters per client, sent in an order that is not their sort order.
            fs = [(f"z/{i}", 0), (f"a/{i}/#", 1), (f"m/+/{i}", 2), ("shared/all", i % 3), (f"a/{i}", 1)]
            filters[cid] = fs
        subscribe_many(socks, [filters[c] for c in ids])
        expected = sorted((cid, f, qos) for cid, fs in filters.items() for f, qos in fs)
        assert len(expected) == 2100
        for limit in (137, 500, 1000):
            items, pages = read_pages(a, "/api/v1/subscriptions", limit)
            got = [(s["client_id"], s["filter"], s["qos"]) for s in items]
            assert len(set(got)) == len(got), f"pages of {limit}: a subscription listed twice"
            assert got == expected, f"pages of {limit}: by client id, then filter"
            assert pages == -(-2100 // limit)
            assert all(s["no_local"] is False and s["retain_as_published"] is False
                       and s["retain_handling"] == 0 and s["subscription_id"] == 0 for s in items)
        # One client's, paged.
        cid = sorted(ids)[7]
        items, pages = read_pages(a, f"/api/v1/subscriptions?client_id={q(cid)}", 2)
        assert [(s["filter"], s["qos"]) for s in items] == sorted(filters[cid]) and pages == 3
        status, page = a.call("GET", "/api/v1/subscriptions?client_id=nobody")
        assert (status, page) == (200, {"items": [], "next": None})
    finally:
        close_all(socks)


@pytest.mark.time_limit(60)
def test_clients_connecting_while_pages_are_read_appear_at_most_once(make_api):
    raise_nofile(8192)
    a = make_api()
    ids = [f"cw-{i:05d}" for i in range(0, 3000, 2)]  # even numbers: odd ones fit between them
    ids_set = set(ids)
    socks = connect_many(a.port, ids)
    late_socks: list[socket.socket] = []
    late_before: list[str] = []
    late_after: list[str] = []
    late_ends = iter(range(90000, 99999))
    used: set[str] = set()

    def connect_more(seen: list[dict]) -> None:
        """Between pages: clients just below and just above the cursor, and past every id."""
        cursor = seen[-1]["client_id"]
        n = int(cursor.split("-")[1])
        fresh = [f"cw-{k:05d}" for k in (n - 1, n - 3, n + 1, n + 3, n + 5, next(late_ends))]
        fresh = [c for c in fresh if c not in used and c not in ids_set]
        used.update(fresh)
        late_before.extend(c for c in fresh if c < cursor)
        late_after.extend(c for c in fresh if c > cursor)
        late_socks.extend(connect_many(a.port, fresh))

    try:
        items, pages = read_pages(a, "/api/v1/clients", 137, between=connect_more)
        got = [i["client_id"] for i in items]
        assert len(got) == len(set(got)), "a client listed twice"
        assert got == sorted(got), "pages in client id order"
        assert [c for c in got if c in set(ids)] == ids, "every client present throughout, once"
        assert not set(late_before) & set(got), "clients sorting before the cursor cannot appear"
        assert late_before and late_after
        assert set(late_after) <= set(got), \
            "clients connected before a page that covers their key are on it (key order)"
    finally:
        close_all(socks + late_socks)


# --------------------------------------------------------------------------------------------
# 4. Client details, disconnect, sessions


def _now_ms() -> int:
    return int(time.time() * 1000)


def test_client_detail_of_a_3_1_1_client(make_api):
    a = make_api(limits="max_inflight = 2")
    cid = unique_id("det")
    t0 = _now_ms()
    c = mqtt_raw.RawClient(HOST, a.port)
    pub = mqtt_raw.RawClient(HOST, a.port)
    try:
        assert c.connect(cid, clean=False, keepalive=37, username="dora").return_code == 0
        t1 = _now_ms() + 1
        c.subscribe([("det/q2", 2), ("det/+/q0", 0), ("det/q1/#", 1)])
        pub.connect(unique_id("detpub"))
        for i in range(5):
            pub.publish("det/q1/x", b"m%d" % i, qos=1)
        # The subscriber does not acknowledge: 2 in flight (max_inflight), 3 queued.
        c.expect(mqtt_raw.PUBLISH)
        c.expect(mqtt_raw.PUBLISH)
        d = wait_for(lambda: (lambda r: r[1] if r[0] == 200 and r[1]["queued"] == 3 else None)(
            a.call("GET", f"/api/v1/clients/{q(cid)}")), message="3 queued messages")
        assert d["client_id"] == cid and d["username"] == "dora"
        assert d["address"] == f"127.0.0.1:{c.sock.getsockname()[1]}"
        assert d["listener"] == f"{HOST}:{a.port}" and d["transport"] == "tcp"
        assert d["protocol"] == "3.1.1" and d["keepalive"] == 37
        assert t0 <= d["connected_since_ms"] <= t1, (t0, d["connected_since_ms"], t1)
        assert d["inflight"] == 2 and d["queued"] == 3 and d["subscriptions"] == 3
        assert d["session_expiry"] == NEVER_EXPIRES
        assert sorted(d["filters"], key=lambda f: f["filter"]) == [
            {"client_id": cid, "filter": f, "qos": qos, "no_local": False, "retain_as_published": False,
             "retain_handling": 0, "subscription_id": 0}
            for f, qos in sorted([("det/q2", 2), ("det/+/q0", 0), ("det/q1/#", 1)])]
        # The list shows the same client without the filters.
        status, page = a.call("GET", f"/api/v1/clients?search={cid}")
        assert status == 200 and len(page["items"]) == 1
        listed = page["items"][0]
        assert {k: v for k, v in d.items() if k != "filters"} == listed
        # A search by user name and by address finds it.
        assert [i["client_id"] for i in a.call("GET", "/api/v1/clients?search=dora")[1]["items"]] == [cid]
        port = c.sock.getsockname()[1]
        assert cid in [i["client_id"] for i in a.call("GET", f"/api/v1/clients?search=%3A{port}")[1]["items"]]
        # Anonymous clients have a null user name.
        pub_id = [i for i in a.call("GET", "/api/v1/clients")[1]["items"] if i["client_id"] != cid]
        assert len(pub_id) == 1 and pub_id[0]["username"] is None and pub_id[0]["session_expiry"] == 0
    finally:
        c.close()
        pub.close()


def test_client_detail_of_an_mqtt_3_1_client(api):
    cid = unique_id("v31")
    with mqtt_raw.RawClient(HOST, api.port) as c:
        assert c.connect(cid, protocol=mqtt_raw.MQTT_V31, keepalive=5).return_code == 0
        status, d = api.call("GET", f"/api/v1/clients/{cid}")
        assert status == 200 and d["protocol"] == "3.1" and d["keepalive"] == 5 and d["filters"] == []


def test_client_detail_of_an_mqtt_5_client(api):
    cid = unique_id("v5")
    t0 = _now_ms()
    c = mqtt5_raw.RawClient5(HOST, api.port)
    try:
        ack = c.connect(cid, keepalive=91, props=[(mqtt5_raw.SESSION_EXPIRY_INTERVAL, 120)],
                        username="eve", password=b"ignored")
        assert ack.reason_code == 0, ack
        t1 = _now_ms() + 1
        so = mqtt5_raw.sub_options
        sub = c.subscribe([("v5/nl", so(1, no_local=True)), ("v5/rap", so(2, retain_as_published=True)),
                           ("v5/rh/#", so(0, retain_handling=2))],
                          props=[(mqtt5_raw.SUBSCRIPTION_IDENTIFIER, 7)])
        assert sub.reason_codes == [1, 2, 0], sub
        status, d = api.call("GET", f"/api/v1/clients/{cid}")
        assert status == 200
        assert (d["protocol"], d["keepalive"], d["username"], d["session_expiry"]) == ("5.0", 91, "eve", 120)
        assert t0 <= d["connected_since_ms"] <= t1
        assert d["address"] == f"127.0.0.1:{c.sock.getsockname()[1]}"
        assert sorted(d["filters"], key=lambda f: f["filter"]) == [
            {"client_id": cid, "filter": "v5/nl", "qos": 1, "no_local": True, "retain_as_published": False,
             "retain_handling": 0, "subscription_id": 7},
            {"client_id": cid, "filter": "v5/rap", "qos": 2, "no_local": False, "retain_as_published": True,
             "retain_handling": 0, "subscription_id": 7},
            {"client_id": cid, "filter": "v5/rh/#", "qos": 0, "no_local": False, "retain_as_published": False,
             "retain_handling": 2, "subscription_id": 7}]
        status, subs = api.call("GET", f"/api/v1/subscriptions?client_id={cid}")
        assert status == 200 and subs["items"] == sorted(d["filters"], key=lambda f: f["filter"])
        status, sessions = api.call("GET", "/api/v1/sessions")
        assert {"client_id": cid, "online": True, "persistent": True, "expiry_interval": 120, "queued": 0,
                "inflight": 0, "subscriptions": 3} in sessions["items"]
    finally:
        c.close()


def test_client_shows_clean_start(api):
    a, b = unique_id("cs"), unique_id("cs")
    with mqtt_raw.RawClient(HOST, api.port) as c1, mqtt5_raw.RawClient5(HOST, api.port) as c2:
        c1.connect(a, clean=True)
        c2.connect(b, clean_start=False, props=[(mqtt5_raw.SESSION_EXPIRY_INTERVAL, 60)])
        assert api.call("GET", f"/api/v1/clients/{a}")[1].get("clean_start") is True
        assert api.call("GET", f"/api/v1/clients/{b}")[1].get("clean_start") is False
        items = api.call("GET", "/api/v1/clients")[1]["items"]
        assert [i.get("clean_start") for i in items] == [c == a for c in sorted([a, b])]


def _session_ids(a: Api, state: str = "all") -> list[str]:
    return [s["client_id"] for s in read_pages(a, f"/api/v1/sessions?state={state}", 1000)[0]]


def test_disconnect_with_drop_session_ends_the_persistent_session(api):
    cid = unique_id("drop")
    c = mqtt_raw.RawClient(HOST, api.port)
    c.connect(cid, clean=False)
    c.subscribe([("drop/#", 1)])
    status, d = api.call("DELETE", f"/api/v1/clients/{cid}?drop_session=true")
    assert (status, d) == (200, {"client_id": cid, "disconnected": True, "session_dropped": True})
    assert c.wait_closed(5)
    c.close()
    wait_for(lambda: cid not in _session_ids(api), message="the session no longer listed")
    assert api.call("GET", f"/api/v1/subscriptions?client_id={cid}")[1]["items"] == []
    with mqtt_raw.RawClient(HOST, api.port) as again:
        ack = again.connect(cid, clean=False)
        assert ack.return_code == 0 and ack.session_present is False, ack
        assert api.call("GET", f"/api/v1/clients/{cid}")[1]["subscriptions"] == 0


@pytest.mark.parametrize("query", ["", "?drop_session=false", "?drop_session=0"])
def test_disconnect_without_drop_session_keeps_the_persistent_session(api, query):
    cid = unique_id("keep")
    c = mqtt_raw.RawClient(HOST, api.port)
    c.connect(cid, clean=False)
    c.subscribe([("keep/#", 1)])
    status, d = api.call("DELETE", f"/api/v1/clients/{cid}{query}")
    assert (status, d) == (200, {"client_id": cid, "disconnected": True, "session_dropped": False})
    assert c.wait_closed(5)
    c.close()
    wait_for(lambda: cid in _session_ids(api, "offline"), message="the session listed offline")
    assert_error(api.request("GET", f"/api/v1/clients/{cid}"), 404, "not_found")
    # Disconnecting an offline client is 404: there is no connection.
    assert_error(api.request("DELETE", f"/api/v1/clients/{cid}"), 404, "not_found")
    with mqtt_raw.RawClient(HOST, api.port) as again:
        ack = again.connect(cid, clean=False)
        assert ack.return_code == 0 and ack.session_present is True, ack
        status, sub = api.call("GET", f"/api/v1/subscriptions?client_id={cid}")
        assert [s["filter"] for s in sub["items"]] == ["keep/#"]


def test_mqtt_5_client_gets_disconnect_0x98_and_its_will(api):
    cid = unique_id("adm5")
    watcher = mqtt_raw.RawClient(HOST, api.port)
    c = mqtt5_raw.RawClient5(HOST, api.port)
    try:
        watcher.connect(unique_id("watch"))
        watcher.subscribe([(f"will/{cid}", 0)])
        c.connect(cid, will=mqtt5_raw.Will5(topic=f"will/{cid}", payload=b"gone"))
        status, d = api.call("DELETE", f"/api/v1/clients/{cid}")
        assert (status, d) == (200, {"client_id": cid, "disconnected": True, "session_dropped": False})
        c.expect_disconnect(0x98, "(Administrative action, admin-api.yaml)")
        p = watcher.receive_publish(timeout=5)
        assert (p.topic, p.payload) == (f"will/{cid}", b"gone")
    finally:
        c.close()
        watcher.close()


def test_mqtt_5_client_gets_0x98_on_drop_session_too(api):
    cid = unique_id("adm5d")
    c = mqtt5_raw.RawClient5(HOST, api.port)
    try:
        c.connect(cid, clean_start=False, props=[(mqtt5_raw.SESSION_EXPIRY_INTERVAL, 300)])
        status, d = api.call("DELETE", f"/api/v1/sessions/{cid}")
        assert (status, d) == (200, {"client_id": cid, "disconnected": True, "session_dropped": True})
        c.expect_disconnect(0x98, "(Administrative action)")
        wait_for(lambda: cid not in _session_ids(api), message="the session ended")
    finally:
        c.close()


def test_delete_of_an_offline_session(api):
    cid = unique_id("off")
    c = mqtt_raw.RawClient(HOST, api.port)
    c.connect(cid, clean=False)
    c.subscribe([("off/#", 1)])
    c.disconnect(wait=True)
    wait_for(lambda: cid in _session_ids(api, "offline"), message="the session offline")
    # A QoS 1 message queued for it.
    assert api.call("POST", "/api/v1/publish", {"topic": "off/x", "payload": "q", "qos": 1})[0] == 200
    wait_for(lambda: any(s["client_id"] == cid and s["queued"] == 1 for s in
                         api.call("GET", "/api/v1/sessions?state=offline")[1]["items"]),
             message="one queued message")
    status, d = api.call("DELETE", f"/api/v1/sessions/{cid}")
    assert (status, d) == (200, {"client_id": cid, "disconnected": False, "session_dropped": True})
    assert cid not in _session_ids(api)
    assert_error(api.request("DELETE", f"/api/v1/sessions/{cid}"), 404, "not_found")
    with mqtt_raw.RawClient(HOST, api.port) as again:
        ack = again.connect(cid, clean=False)
        assert ack.session_present is False, ack
        again.expect_nothing(0.3)  # the queued message went with the session


def test_percent_encoded_client_ids(api):
    cid = f"we ird/{unique_id('id')}?&%"
    with mqtt_raw.RawClient(HOST, api.port) as c:
        c.connect(cid)
        status, d = api.call("GET", f"/api/v1/clients/{q(cid)}")
        assert status == 200 and d["client_id"] == cid
        status, d = api.call("DELETE", f"/api/v1/clients/{q(cid)}")
        assert (status, d["client_id"], d["disconnected"]) == (200, cid, True)
        assert c.wait_closed(5)


# --------------------------------------------------------------------------------------------
# 5. Bans: flapping client ids and delayed logins


def _bans(a: Api) -> list[dict]:
    status, b = a.call("GET", "/api/v1/bans")
    assert status == 200 and set(b) == {"items"}, b
    return b["items"]


@pytest.mark.parametrize("version", ["3.1.1", "5"])
def test_flapping_ban_is_listed_and_lifted(make_api, version):
    a = make_api(limits="flapping_connects = 3\nflapping_window = 60\nflapping_ban = 120")
    cid = unique_id("flap")
    client = mqtt_raw.RawClient if version == "3.1.1" else mqtt5_raw.RawClient5
    refused = 5 if version == "3.1.1" else 0x8A
    for _ in range(3):
        c = client(HOST, a.port)
        assert c.connect(cid).return_code == 0
        c.disconnect(wait=True)
    with client(HOST, a.port) as c:
        assert c.connect(cid).return_code == refused
    assert _bans(a) != [], "the ban is listed"
    [ban] = _bans(a)
    assert set(ban) == {"kind", "key", "reason", "seconds_left"}, ban
    assert (ban["kind"], ban["key"], ban["reason"]) == ("client", cid, "flapping")
    assert 110 < ban["seconds_left"] <= 120, ban
    # Other ids are not banned.
    with client(HOST, a.port) as other:
        assert other.connect(unique_id("flap")).return_code == 0
    status, lifted = a.call("DELETE", f"/api/v1/bans/client/{q(cid)}")
    assert (status, lifted) == (200, {"kind": "client", "key": cid, "lifted": True})
    assert _bans(a) == []
    assert_error(a.request("DELETE", f"/api/v1/bans/client/{q(cid)}"), 404, "not_found")
    start = time.monotonic()
    with client(HOST, a.port) as c:
        assert c.connect(cid).return_code == 0, "the client connects at once after the lift"
    assert time.monotonic() - start < 1.0


def test_login_delay_is_listed_and_lifted(make_api, tmp_path):
    pw = tmp_path / "users.pw"
    pw.touch()
    set_user(pw, "alice", "right-password")
    a = make_api(limits="login_failure_delay_ms = 2000\nlogin_failure_delay_max_ms = 10000\n"
                        "login_failure_quiet_period = 60",
                 extra=f'[auth]\npassword_file = "{pw}"')

    def fail_once() -> mqtt_raw.RawClient:
        """A CONNECT with a wrong password whose (held) answer the test does not wait for."""
        bad = mqtt_raw.RawClient(HOST, a.port)
        bad.send(mqtt_raw.connect(unique_id("bad"), username="alice", password=b"wrong"))
        return bad

    def good_login_seconds() -> float:
        start = time.monotonic()
        with mqtt_raw.RawClient(HOST, a.port, timeout=10) as good:
            assert good.connect(unique_id("good"), username="alice", password=b"right-password").return_code == 0
        return time.monotonic() - start

    held = []
    try:
        # Without a lift, a good login from the group waits for the rest of the delay.
        held.append(fail_once())
        [ban] = wait_for(lambda: _bans(a), message="the delayed address group listed")
        assert set(ban) == {"kind", "key", "reason", "seconds_left", "delay_ms"}, ban
        assert (ban["kind"], ban["key"], ban["reason"], ban["delay_ms"]) == \
            ("address", "127.0.0.1/32", "failed_logins", 2000)
        assert 0 < ban["seconds_left"] <= 60, ban
        assert good_login_seconds() > 1.0, "a good login waits for the rest of the delay"
        assert _bans(a) == [], "a successful login forgets the failures"
        # Two failures: the delay doubles; lifted, a good login is answered at once.
        held.append(fail_once())
        wait_for(lambda: _bans(a), message="the first failure listed")
        held.append(fail_once())
        [ban] = wait_for(lambda: [b for b in _bans(a) if b["delay_ms"] == 4000],
                         message="a delay of 4000 ms after two failures")
        status, lifted = a.call("DELETE", f"/api/v1/bans/address/{q('127.0.0.1/32')}")
        assert (status, lifted) == (200, {"kind": "address", "key": "127.0.0.1/32", "lifted": True})
        assert _bans(a) == []
        assert good_login_seconds() < 0.5, "after the lift the good login is not delayed"
        assert_error(a.request("DELETE", f"/api/v1/bans/address/{q('127.0.0.1/32')}"), 404, "not_found")
        for bad in held:
            ack = bad.expect(mqtt_raw.CONNACK, timeout=10)
            assert ack.return_code in (4, 5), ack
    finally:
        for bad in held:
            bad.close()


# --------------------------------------------------------------------------------------------
# 6. Reload and the audit log

AUDIT = re.compile(r'\[admin\] 127\.0\.0\.1:\d+ \(token "(?P<name>[^"]*)"\) (?P<method>[A-Z]+) (?P<path>\S+): (?P<what>.*)$')


def audit_lines(a: Api) -> list[re.Match]:
    return [m for m in (AUDIT.search(l) for l in a.broker.stderr_text().splitlines()) if m]


def test_reload_takes_a_changed_admin_token(api):
    status, r = api.call("POST", "/api/v1/reload")
    assert (status, r) == (200, {"reloaded": True, "errors": []})
    assert api.call("GET", "/api/v1/overview")[0] == 200, "an unchanged configuration keeps the token"
    api.rewrite(tokens={"renamed": OTHER_TOKEN})
    status, r = api.call("POST", "/api/v1/reload")
    assert (status, r) == (200, {"reloaded": True, "errors": []})
    wait_for(lambda: api.request("GET", "/api/v1/overview").status == 401, message="the old token refused")
    assert_error(api.request("GET", "/api/v1/overview"), 401, "unauthorized")
    assert api.request("GET", "/api/v1/overview", token=OTHER_TOKEN).status == 200
    status, c = api.call("GET", "/api/v1/config", token=OTHER_TOKEN)
    assert status == 200 and c["http"]["admin_tokens"] == {"renamed": "<redacted>"}
    assert OTHER_TOKEN not in json.dumps(c) and TOKEN not in json.dumps(c)
    assert api.call("POST", "/api/v1/publish", {"topic": "after/reload", "payload": "x"}, token=OTHER_TOKEN)[0] == 200
    lines = [(m["name"], m["method"], m["path"]) for m in audit_lines(api)]
    assert lines == [("tests", "POST", "/api/v1/reload"), ("tests", "POST", "/api/v1/reload"),
                     ("renamed", "POST", "/api/v1/publish")], lines


def test_reload_keeps_the_tokens_when_the_file_is_broken(api):
    api.conf.write_text(api.conf.read_text() + "\n[http\nbroken")
    r = api.request("POST", "/api/v1/reload")
    # Answered 200 with reloaded false and the file, line and reason (docs/admin-api.yaml Reloaded).
    assert r.status == 200 and r.json["reloaded"] is False, r
    assert len(r.json["errors"]) == 1 and f"{api.conf}:" in r.json["errors"][0], r.json
    assert api.request("GET", "/api/v1/overview").status == 200, "the tokens in force stay"


def test_every_changing_call_is_audited_with_the_token_name(make_api):
    a = make_api(tokens={"tests": TOKEN, "auditor": OTHER_TOKEN}, limits="flapping_connects = 1")
    cid, sid, fid = unique_id("aud"), unique_id("auds"), unique_id("audf")
    c = mqtt_raw.RawClient(HOST, a.port)
    s = mqtt_raw.RawClient(HOST, a.port)
    try:
        c.connect(cid)
        s.connect(sid, clean=False)
        s.disconnect(wait=True)
        f = mqtt_raw.RawClient(HOST, a.port)
        f.connect(fid)
        f.disconnect(wait=True)
        with mqtt_raw.RawClient(HOST, a.port) as f2:
            assert f2.connect(fid).return_code == 5, "banned for flapping"
        wait_for(lambda: sid in _session_ids(a, "offline"), message="the offline session")
        # Reads are not audited.
        for path in ["/api/v1/overview", "/api/v1/clients", f"/api/v1/clients/{cid}", "/api/v1/sessions",
                     "/api/v1/subscriptions", "/api/v1/retained", "/api/v1/bans", "/api/v1/config"]:
            assert a.call("GET", path)[0] == 200, path
        assert audit_lines(a) == []
        calls = [
            ("tests", "POST", "/api/v1/publish", {"topic": "aud/t", "payload": "x"}),
            ("auditor", "PUT", "/api/v1/retained/aud/r", {"payload": "r"}),
            ("tests", "DELETE", "/api/v1/retained/aud/r", None),
            ("auditor", "DELETE", f"/api/v1/clients/{cid}", None),
            ("tests", "DELETE", f"/api/v1/sessions/{sid}", None),
            ("auditor", "DELETE", f"/api/v1/bans/client/{fid}", None),
            ("tests", "POST", "/api/v1/reload", None),
        ]
        for name, method, path, body in calls:
            token = TOKEN if name == "tests" else OTHER_TOKEN
            r = a.request(method, path, body, token=token)
            assert r.status == 200, (method, path, r)
        got = wait_for(lambda: (lambda ls: ls if len(ls) >= len(calls) else None)(audit_lines(a)),
                       message="an audit line per changing call")
        assert [(m["name"], m["method"], m["path"]) for m in got] == \
            [(n, m, p) for n, m, p, _ in calls], [m.group(0) for m in got]
        whats = [m["what"] for m in got]
        assert cid in whats[3] and sid in whats[4] and fid in whats[5], whats
        # Refused calls (no token) are not audited as done by a token.
        assert a.request("DELETE", f"/api/v1/clients/{sid}", token=None).status == 401
        assert len(audit_lines(a)) == len(calls)
    finally:
        c.close()
        s.close()
