"""Shared fixtures for Hermod's integration tests: a real broker on 127.0.0.1 and real clients.

Which broker runs:
  * default: Hermod, the binary named by $HERMOD_BIN (else build/asan/hermod, else
    build/release/hermod in the repository);
  * BROKER=mosquitto: Debian's /usr/sbin/mosquitto with an equivalent generated configuration,
    to check that the tests themselves are right. Tests of Hermod-only behaviour carry
    `@pytest.mark.hermod_only(reason)` and are skipped there (RUN_HERMOD_ONLY=1 runs them
    anyway, to see how the reference broker differs).

Modules: broker_process.py (the broker process, settings, waiting helpers), clients.py
(paho-mqtt, mosquitto_sub/mosquitto_pub, the `clients` factory), mqtt_raw.py (byte-level MQTT),
and one test_*.py per area.

Rules the helpers enforce: only 127.0.0.1; every wait has a deadline (`wait_for`, socket reads
with a timeout); each test runs under an alarm (`@pytest.mark.time_limit(seconds)`, default
DEFAULT_TIME_LIMIT) so a broken broker fails fast instead of hanging. At teardown every broker
gets SIGTERM and must exit 0 within 10 s with no sanitizer report on stderr.
"""

from __future__ import annotations

import os
import signal
from typing import Any, Optional

import pytest

from broker_process import (BROKER_KIND, DEFAULT_CONFIG, IS_MOSQUITTO, MOSQUITTO_BIN, Broker,
                            hermod_bin)
from clients import Clients

DEFAULT_TIME_LIMIT = 20.0

# --------------------------------------------------------------------------------------------
# pytest hooks: markers, the per-test alarm, broker stderr in failure reports


def pytest_configure(config):
    config.addinivalue_line("markers", "hermod_only(reason): Hermod-specific behaviour; "
                                       "skipped when BROKER=mosquitto")
    config.addinivalue_line("markers", "time_limit(seconds): per-test alarm (default "
                                       f"{DEFAULT_TIME_LIMIT:g} s)")
    if BROKER_KIND not in ("hermod", "mosquitto"):
        raise pytest.UsageError(f"BROKER must be 'hermod' or 'mosquitto', not {BROKER_KIND!r}")


def pytest_report_header(config):
    what = MOSQUITTO_BIN if IS_MOSQUITTO else str(hermod_bin())
    return f"broker under test: {BROKER_KIND} ({what})"


def pytest_collection_modifyitems(config, items):
    if not IS_MOSQUITTO or os.environ.get("RUN_HERMOD_ONLY"):
        return
    for item in items:
        marker = item.get_closest_marker("hermod_only")
        if marker:
            reason = marker.args[0] if marker.args else "Hermod-only behaviour"
            item.add_marker(pytest.mark.skip(reason=f"hermod only: {reason}"))


class TimeLimitExceeded(Exception):
    pass


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    marker = item.get_closest_marker("time_limit")
    limit = float(marker.args[0]) if marker else DEFAULT_TIME_LIMIT

    def on_alarm(signum, frame):
        raise TimeLimitExceeded(f"test still running after {limit:g} s (time_limit)")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, limit)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        for i, b in enumerate(getattr(item, "hermod_brokers", [])):
            report.sections.append((f"broker {i} stderr ({b.kind}, port {b.port})",
                                    b.stderr_tail()))


@pytest.fixture
def make_broker(tmp_path, request):
    """Factory: `make_broker(workers=2, max_inflight=2, ...)` starts a broker and returns it.
    Every broker it made is stopped at teardown; an unclean exit fails the test."""
    brokers: list[Broker] = []
    request.node.hermod_brokers = brokers

    def make(*, port: Optional[int] = None, args: tuple[str, ...] = (), config_file: bool = True,
             config_port: Optional[int] = None, **config: Any) -> Broker:
        if not IS_MOSQUITTO and not os.access(hermod_bin(), os.X_OK):
            pytest.fail(f"no Hermod binary at {hermod_bin()}: build it (make asan) or set "
                        "HERMOD_BIN, or run with BROKER=mosquitto", pytrace=False)
        workdir = tmp_path / f"broker{len(brokers)}"
        workdir.mkdir()
        b = Broker(workdir, {**DEFAULT_CONFIG, **config}, port=port, args=args,
                   config_file=config_file, config_port=config_port)
        brokers.append(b)
        return b.start()

    yield make
    failures = []
    for b in brokers:
        b.stop()
        if b.problems:
            failures.append(f"{b}: " + "; ".join(b.problems) + "\n--- stderr ---\n" + b.stderr_tail())
    if failures:
        pytest.fail("\n".join(failures), pytrace=False)


@pytest.fixture
def broker(make_broker) -> Broker:
    """A broker with the default test configuration."""
    return make_broker()


@pytest.fixture
def clients(request):
    """Client factory; its default broker is the test's `broker` fixture (started lazily)."""
    c = Clients(lambda: request.getfixturevalue("broker"))
    yield c
    c.close_all()
