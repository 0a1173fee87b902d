"""Hermod under a service manager: the sd_notify messages systemd's Type=notify waits for
(READY=1 only once the listeners accept and the store is recovered, RELOADING=1/READY=1 around a
SIGHUP reload, STOPPING=1 on SIGTERM), and log lines as JSON for a log collector
(`[broker] log_format = "json"`)."""
from __future__ import annotations

import calendar
import json
import os
import re
import signal
import socket
import subprocess
import time

import pytest

import mqtt_raw
from broker_process import HOST, free_port, hermod_bin, port_accepts, unique_id, wait_for
from notify_socket import NotifySocket

pytestmark = pytest.mark.hermod_only("sd_notify and log_format are Hermod's")

@pytest.fixture
def notify():
    n = NotifySocket()
    yield n
    n.close()


def start(tmp_path, conf_text: str, env_extra: dict[str, str]):
    conf = tmp_path / "hermod.toml"
    conf.write_text(conf_text)
    err = open(tmp_path / "broker.stderr", "wb")
    env = {**os.environ, **env_extra}
    proc = subprocess.Popen([str(hermod_bin()), "-c", str(conf)], stdin=subprocess.DEVNULL,
                            stdout=err, stderr=err, cwd=tmp_path, env=env)
    err.close()
    return proc


def stderr_of(tmp_path) -> str:
    return (tmp_path / "broker.stderr").read_text(errors="replace")


@pytest.mark.time_limit(40)
def test_ready_after_listeners_and_store_then_reloading_and_stopping(tmp_path, notify):
    mqtt_port, http_port = free_port(), free_port()
    data = tmp_path / "data"
    proc = start(tmp_path, f"""
[broker]
workers = 2
[store]
path = "{data}"
[[listeners]]
bind = "{HOST}"
port = {mqtt_port}
[http]
bind = "{HOST}"
port = {http_port}
""", {"NOTIFY_SOCKET": notify.name})
    try:
        ready = notify.next()
        # The moment systemd hears READY=1, both listeners accept and the store is open.
        assert port_accepts(HOST, mqtt_port), "READY=1 came before the MQTT listener accepted"
        assert port_accepts(HOST, http_port), "READY=1 came before the HTTP listener accepted"
        assert f"store in {data}" in stderr_of(tmp_path)
        status = f"accepting MQTT connections on {HOST}:{mqtt_port}; data in {data}"
        assert ready == {"READY": "1", "STATUS": status}

        before = time.monotonic()
        proc.send_signal(signal.SIGHUP)
        reloading = notify.next()
        after = time.monotonic()
        assert set(reloading) == {"RELOADING", "MONOTONIC_USEC", "STATUS"}, reloading
        assert reloading["RELOADING"] == "1"
        assert reloading["STATUS"] == "reloading the configuration"
        # systemd compares it with its own CLOCK_MONOTONIC: the time the signal was handled.
        usec = int(reloading["MONOTONIC_USEC"])
        assert int(before * 1e6) <= usec <= int(after * 1e6) + 1, (before, usec, after)
        assert notify.next() == {"READY": "1", "STATUS": status}
        assert port_accepts(HOST, mqtt_port)

        proc.send_signal(signal.SIGTERM)
        assert notify.next() == {"STOPPING": "1", "STATUS": "stopping"}
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    # Nothing more was sent after STOPPING=1.
    notify.sock.setblocking(False)
    with pytest.raises(BlockingIOError):
        notify.sock.recv(4096)


def test_no_notify_socket_is_no_error(tmp_path):
    """Without NOTIFY_SOCKET (a broker started by hand) the notifications are no-ops; with one
    that nobody listens on, a failure to send is ignored too."""
    for env in ({}, {"NOTIFY_SOCKET": f"@hermod-test-nobody-{os.getpid()}"}):
        port = free_port()
        env_extra = dict(env)
        base_env = {k: v for k, v in os.environ.items() if k != "NOTIFY_SOCKET"}
        conf = tmp_path / f"hermod-{port}.toml"
        conf.write_text(f'[[listeners]]\nbind = "{HOST}"\nport = {port}\n')
        proc = subprocess.Popen([str(hermod_bin()), "-c", str(conf)], stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                env={**base_env, **env_extra})
        try:
            wait_for(lambda: port_accepts(HOST, port) or proc.poll() is not None, timeout=10,
                     message="the listener")
            assert proc.poll() is None, proc.stderr.read().decode(errors="replace")
            proc.send_signal(signal.SIGHUP)
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=10) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            proc.stderr.close()


RFC3339_MS_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


def json_lines(text: str) -> list[dict]:
    lines = text.splitlines()
    assert lines, "the broker logged nothing"
    out = []
    for line in lines:
        record = json.loads(line)  # every line is one JSON object
        assert list(record) == ["time", "level", "logger", "message"], line
        assert RFC3339_MS_UTC.match(record["time"]), line
        out.append(record)
    return out


def test_json_log_lines_name_a_connecting_client(make_broker, clients):
    b = make_broker(log_format="json")
    # A client id with a quote, a backslash and non-ASCII text, all legal in MQTT.
    client_id = unique_id('q"b\\é')
    c = clients.raw_connected(b, client_id=client_id)
    c.send(mqtt_raw.disconnect())
    wait_for(lambda: any(r["logger"] == "client" and " disconnected" in r["message"]
                         for r in json_lines(b.stderr_text())),
             message="the disconnect's log line")
    records = json_lines(b.stderr_text())
    connected = [r for r in records if r["logger"] == "client" and " connected as " in r["message"]]
    assert len(connected) == 1, records
    assert connected[0]["level"] == "info"
    assert f"connected as {client_id} (MQTT 3.1.1" in connected[0]["message"], connected[0]
    started = [r for r in records if r["logger"] == "broker" and r["message"].startswith("hermod ")]
    assert len(started) == 1 and " started with " in started[0]["message"], records
    # The time is now, in UTC (a local time would be off by the zone's offset).
    stamp = calendar.timegm(time.strptime(connected[0]["time"][:19], "%Y-%m-%dT%H:%M:%S"))
    assert abs(stamp - time.time()) < 60, connected[0]


def test_text_log_lines_by_default(make_broker, clients):
    b = make_broker()
    clients.raw_connected(b, client_id=unique_id("text"))
    line = wait_for(lambda: next((l for l in b.stderr_text().splitlines() if " connected as " in l), None),
                    message="the connect's log line")
    assert re.match(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3} info \[client\] ", line), line


def test_unknown_log_format_is_a_config_error(tmp_path):
    conf = tmp_path / "bad.toml"
    conf.write_text('[broker]\nworkers = 1\nlog_format = "xml"\n')
    r = subprocess.run([str(hermod_bin()), "-c", str(conf)], capture_output=True, text=True, timeout=10)
    assert r.returncode == 1
    assert r.stderr == f"hermod: {conf}:3: broker.log_format: must be text or json\n"


def test_json_start_up_error_is_a_json_line(tmp_path):
    """A listener that cannot start, with log_format = "json": the error is a log line too."""
    conf = tmp_path / "tls.toml"
    conf.write_text(f'[broker]\nworkers = 1\nlog_format = "json"\n[[listeners]]\nbind = "{HOST}"\n'
                    f'port = {free_port()}\ntransport = "tls"\ncert_file = "missing.crt"\nkey_file = "missing.key"\n')
    r = subprocess.run([str(hermod_bin()), "-c", str(conf)], capture_output=True, text=True, timeout=20)
    assert r.returncode == 1, r.stderr
    records = json_lines(r.stderr)
    errors = [x for x in records if x["level"] == "error"]
    assert len(errors) == 1 and errors[0]["logger"] == "broker", records
    assert str(tmp_path / "missing.crt") in errors[0]["message"], errors[0]
