#!/usr/bin/env bash
# Installs the Debian packages Hermod needs to build and test. Idempotent: runs apt-get update and
# apt-get install only when a package is missing, and `npm ci` for the WebSocket tests' Node
# packages (tests/integration/js) only when node_modules is missing or older than its lock file.
# Debian's mosquitto package would start a system broker on port 1883 (haproxy, for the
# PROXY protocol tests, a system proxy; prometheus, for the metrics tests, a server on 9090); a
# temporary policy-rc.d forbids service starts during the install, and where systemd runs the
# units are disabled afterwards, so that `make run` can own 1883 and the tests run their own.
# dpkg-dev (dpkg-shlibdeps), systemd (systemd-analyze) and strace (the unit's system call filter)
# are for `make deb` and its tests.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config clang libclang-rt-dev ccache
  libboost-dev libssl-dev libtomlplusplus-dev libcli11-dev libspdlog-dev libfmt-dev
  librocksdb-dev libmimalloc-dev nlohmann-json3-dev libsystemd-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  mosquitto mosquitto-clients python3 python3-paho-mqtt python3-pytest python3-pytest-xdist
  nodejs npm chromium firefox-esr haproxy prometheus
  dpkg-dev systemd strace
)

missing=()
for p in "${packages[@]}"; do
  # A nodejs from elsewhere (NodeSource's) bundles npm and declares it provided: Debian's npm
  # would replace that nodejs, so any working npm counts.
  if [ "$p" = npm ] && command -v npm >/dev/null; then
    continue
  fi
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

js_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/tests/integration/js"
npm_ci() {
  # MQTT.js and playwright-core (which never downloads a browser: the tests run Debian's
  # chromium) at the versions in package-lock.json.
  if [ ! -d "$js_dir/node_modules" ] || [ "$js_dir/package-lock.json" -nt "$js_dir/node_modules" ]; then
    echo "install-deps: npm ci in tests/integration/js"
    (cd "$js_dir" && npm ci --no-audit --no-fund --loglevel=error)
    touch "$js_dir/node_modules"
  fi
}

if [ ${#missing[@]} -eq 0 ]; then
  npm_ci
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
sudo=""
if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi

policy=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null
  $sudo chmod 755 "$policy"
  created_policy=1
fi
cleanup() { if [ "$created_policy" = 1 ]; then $sudo rm -f "$policy"; fi; }
trap cleanup EXIT

export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"

# Where systemd runs, make sure the packaged broker and proxy neither run now nor at the next
# boot (the integration tests start their own haproxy and prometheus, in the foreground, per test).
for service in mosquitto haproxy prometheus; do
  if [ -d /run/systemd/system ] && command -v systemctl >/dev/null; then
    $sudo systemctl disable --now "$service" >/dev/null 2>&1 || true
  fi
  # Without systemd, one started by the package's init script despite the policy is stopped too.
  if command -v pgrep >/dev/null && pgrep -x "$service" >/dev/null && [ -f "/etc/init.d/$service" ]; then
    $sudo "/etc/init.d/$service" stop >/dev/null 2>&1 || true
  fi
done

npm_ci
