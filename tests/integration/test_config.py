"""The hermod command line and its TOML configuration: --help, --version, -p/--bind/--workers,
and configuration errors that name the file, the line and the key. Also: SIGINT/SIGTERM end the
broker cleanly."""

import os
import re
import signal
import subprocess

import pytest

from broker_process import free_port, hermod_bin, port_accepts
from clients import round_trip

hermod_only = pytest.mark.hermod_only("the hermod command line and TOML configuration")


def run_hermod(*args: str, timeout: float = 10.0) -> subprocess.CompletedProcess:
    """Runs hermod to completion (these invocations must exit by themselves)."""
    if not os.access(hermod_bin(), os.X_OK):
        pytest.fail(f"no Hermod binary at {hermod_bin()}", pytrace=False)
    return subprocess.run([str(hermod_bin()), *args], stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=timeout)


def start_expecting_failure(tmp_path, text: str, name: str = "config.toml",
                            add_listener: bool = True):
    """Writes `text` as a configuration file and runs hermod on it; it must exit non-zero.
    A listener on a free port is appended (after the lines under test, so their numbers stay)
    so that a wrongly accepted configuration does not try to take port 1883."""
    path = tmp_path / name
    if add_listener:
        text += f'\n[[listeners]]\nbind = "127.0.0.1"\nport = {free_port()}\n'
    path.write_text(text)
    done = run_hermod("-c", str(path))
    assert done.returncode != 0, \
        f"hermod accepted a bad configuration (exit 0):\n{text}\nstderr:\n{done.stderr}"
    assert "AddressSanitizer" not in done.stderr and "runtime error:" not in done.stderr, done.stderr
    return done


def assert_names(stderr: str, filename: str, line: int, *words: str) -> None:
    assert re.search(rf"{re.escape(filename)}:{line}\b", stderr), \
        f"the error names the file and line as '{filename}:{line}':\n{stderr}"
    for w in words:
        assert w in stderr, f"the error mentions {w!r}:\n{stderr}"


@hermod_only
def test_version_option_prints_version_and_exits_0():
    done = run_hermod("--version")
    assert done.returncode == 0, done.stderr
    assert re.search(r"\d+\.\d+\.\d+", done.stdout + done.stderr), \
        f"--version prints a version number: {done.stdout!r} {done.stderr!r}"


@hermod_only
def test_help_option_lists_options_and_exits_0():
    done = run_hermod("--help")
    assert done.returncode == 0, done.stderr
    text = done.stdout + done.stderr
    for option in ("-c", "-p", "--bind", "--workers", "--data-dir", "--version"):
        assert option in text, f"--help mentions {option}:\n{text}"


@hermod_only
def test_unknown_command_line_option_is_an_error():
    done = run_hermod("--no-such-option")
    assert done.returncode != 0
    assert "no-such-option" in done.stderr, done.stderr


@hermod_only
def test_toml_syntax_error_names_file_and_line(tmp_path):
    done = start_expecting_failure(tmp_path, "[broker]\nworkers = 1\nlog_level = \"info\n", "bad.toml")
    assert_names(done.stderr, "bad.toml", 3)


@hermod_only
def test_unknown_key_is_an_error(tmp_path):
    text = "[broker]\nworkers = 1\n\n[limits]\nmax_infligth = 5\n"
    done = start_expecting_failure(tmp_path, text)
    assert_names(done.stderr, "config.toml", 5, "max_infligth")


@hermod_only
def test_unknown_table_is_an_error(tmp_path):
    done = start_expecting_failure(tmp_path, "[broker]\nworkers = 1\n[brokre]\nworkers = 2\n")
    assert_names(done.stderr, "config.toml", 3, "brokre")


@hermod_only
@pytest.mark.parametrize("table, key, value", [
    ("limits", "max_inflight", "0"),
    ("limits", "max_inflight", "65536"),
    ("limits", "max_packet_size", "-1"),
    ("limits", "connect_timeout", "-5"),
    ("broker", "workers", "-1"),
    ("broker", "log_level", '"loud"'),
    ("broker", "workers", '"two"'),
    ("limits", "queue_qos0", '"yes"'),
])
def test_out_of_range_or_mistyped_value_names_file_line_and_key(tmp_path, table, key, value):
    lines = ["# hermod test configuration", "", f"[{table}]", "", "", "", f"{key} = {value}", ""]
    done = start_expecting_failure(tmp_path, "\n".join(lines))
    assert_names(done.stderr, "config.toml", 7, f"{table}.{key}")


@hermod_only
def test_missing_config_file_is_an_error(tmp_path):
    missing = tmp_path / "nowhere.toml"
    done = run_hermod("-c", str(missing))
    assert done.returncode != 0
    assert "nowhere.toml" in done.stderr, done.stderr


@hermod_only
def test_listener_with_bad_port_is_an_error(tmp_path):
    text = '[[listeners]]\nbind = "127.0.0.1"\nport = 70000\n'
    done = start_expecting_failure(tmp_path, text, add_listener=False)
    assert_names(done.stderr, "config.toml", 3, "port")


@hermod_only
def test_port_option_replaces_configured_listeners(make_broker, clients):
    cli_port, config_port = free_port(), free_port()
    b = make_broker(port=cli_port, config_port=config_port,
                    args=("-p", str(cli_port), "--bind", "127.0.0.1", "--workers", "2"))
    assert not port_accepts(b.host, config_port), \
        "-p replaces the configured listeners: the configuration's port must stay closed"
    round_trip(clients, b)


@hermod_only
def test_runs_without_config_file(make_broker, clients):
    port = free_port()
    b = make_broker(port=port, config_file=False, args=("-p", str(port)))
    round_trip(clients, b)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_stops_broker_with_exit_0(make_broker, clients, sig):
    b = make_broker()
    c = clients.raw_connected(b)
    c.subscribe([("bye/#", 1)])
    b.proc.send_signal(sig)
    try:
        rc = b.proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pytest.fail(f"broker still running 10 s after {sig.name}")
    assert rc == 0, f"{sig.name} → exit 0, got {rc}:\n{b.stderr_tail()}"
    assert c.wait_closed(5), "clients are disconnected when the broker stops"
    b.proc = None  # already stopped; the fixture checks only stderr now
    text = b.stderr_text()
    for mark in ("AddressSanitizer", "LeakSanitizer", "runtime error:"):
        assert mark not in text, text
