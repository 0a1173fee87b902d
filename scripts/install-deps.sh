#!/usr/bin/env bash
# Installs the Debian packages Hermod needs to build and test. Idempotent: runs apt-get update and
# apt-get install only when a package is missing. Debian's mosquitto package would start a system
# broker on port 1883; a temporary policy-rc.d forbids service starts during the install, and where
# systemd runs the unit is disabled afterwards, so that `make run` can own 1883.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config clang libclang-rt-dev
  libboost-dev libssl-dev libtomlplusplus-dev libcli11-dev libspdlog-dev libfmt-dev
  librocksdb-dev libmimalloc-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  mosquitto mosquitto-clients python3 python3-paho-mqtt python3-pytest python3-pytest-xdist
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
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

# Where systemd runs, make sure the packaged broker neither runs now nor at the next boot.
if [ -d /run/systemd/system ] && command -v systemctl >/dev/null; then
  $sudo systemctl disable --now mosquitto >/dev/null 2>&1 || true
fi
# Without systemd, a broker started by the package's init script despite the policy is stopped too.
if command -v pgrep >/dev/null && pgrep -x mosquitto >/dev/null && [ -f /etc/init.d/mosquitto ]; then
  $sudo /etc/init.d/mosquitto stop >/dev/null 2>&1 || true
fi
