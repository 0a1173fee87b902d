#!/usr/bin/env bash
# Whole-broker benchmarks: Hermod against Debian's Mosquitto, in one run, interleaved, so every
# figure can be given as a ratio that survives a noisy machine. Called by `make bench` as
#   bash bench/run.sh build/release
# Each measurement starts a fresh broker pinned to core 0 (taskset), runs `hermod-cli bench`
# pinned to core 1, and samples the broker's CPU time (/proc/PID/stat utime+stime) and memory
# (/proc/PID/status VmRSS, VmHWM) before and after. Scenarios x brokers x BENCH_REPS repetitions,
# the two brokers alternating which goes first. Then one unpinned pairs run of Hermod with 2
# workers against 1. The Google Benchmark micro-benchmarks (codec, router) run first.
# Output: bench/results/latest.md (summarised by bench/summarize.py). Every broker this script
# starts is stopped on exit, whatever the exit path.
#
# The latency scenario runs broker and generator under SCHED_FIFO (chrt -f 10) when allowed: at
# 10 000 msg/s they use a third of a core each, and without it the percentiles measure how long
# other processes on the machine (compilers, test suites) hold the core, not the broker.
# Throughput scenarios keep normal priority (a broker at 100 % under SCHED_FIFO would starve the
# machine's other users); their figures are ratios of CPU time and survive the noise.
#
# Environment: BENCH_REPS (3), BENCH_DURATION (seconds per throughput run, 5), MOSQUITTO
# (/usr/sbin/mosquitto), BENCH_OUT (bench/results/latest.md), BENCH_SKIP_MICRO=1, BENCH_RT=0
# (latency at normal priority).
# A/B against an older build: BENCH_BASELINE=/path/to/old/hermod adds a third broker,
# `hermod-base`, to every one-core scenario, interleaved with the other two (each repetition
# rotates the order), and the report gives this build ÷ the baseline of the same run: the fair
# reading of "did this change make the broker slower" on a machine whose speed drifts between
# runs. BENCH_QUICK=1 runs only the one-core scenarios (no latency, unpinned, durability,
# recovery or micro-benchmarks), for that A/B; BENCH_BROKERS="hermod hermod-base" leaves
# Mosquitto out of it. BENCH_TRANSPORTS=0/1 leaves out or adds the TLS and WebSocket scenarios;
# BENCH_CORE=0 leaves out the one-core TCP ones. BENCH_ACL=0/1 leaves out or adds the ACL
# scenarios (10,000 rules against none).
set -euo pipefail

BUILD=${1:-build/release}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
HERMOD=$BUILD/hermod
CLI=$BUILD/hermod-cli
MOSQUITTO=${MOSQUITTO:-/usr/sbin/mosquitto}
REPS=${BENCH_REPS:-3}
DURATION=${BENCH_DURATION:-5}
OUT=${BENCH_OUT:-$ROOT/bench/results/latest.md}
BROKER_CPU=0
GEN_CPU=1

BASELINE=${BENCH_BASELINE:-}
QUICK=${BENCH_QUICK:-0}
for f in "$HERMOD" "$CLI" ${BASELINE:+"$BASELINE"}; do
  [[ -x $f ]] || { echo "run.sh: $f not found; build first (make release)" >&2; exit 1; }
done
[[ -x $MOSQUITTO ]] || { echo "run.sh: $MOSQUITTO not found (apt-get install mosquitto)" >&2; exit 1; }
command -v taskset >/dev/null || { echo "run.sh: taskset not found (util-linux)" >&2; exit 1; }

WORK=$(mktemp -d /tmp/hermod-bench.XXXXXX)
RESULTS=$WORK/results.jsonl
: >"$RESULTS"
BROKER_PIDS=()

cleanup() {
  local pid
  for pid in "${BROKER_PIDS[@]}"; do
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null || true
      for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -KILL "$pid" 2>/dev/null || true
    fi
  done
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Idle connections need descriptors in the brokers too: they inherit this limit.
ulimit -n "$(ulimit -Hn)"
FD_LIMIT=$(ulimit -n)
# The generator keeps 32 descriptors for itself; the brokers need a few for listeners and epoll.
CONNS=$((FD_LIMIT - 100))
CLK_TCK=$(getconf CLK_TCK)
RT_LATENCY=0
if [[ ${BENCH_RT:-1} != 0 ]] && command -v chrt >/dev/null && chrt -f 10 true 2>/dev/null; then RT_LATENCY=1; fi
RUN_RT=0  # set by measure() for the run in progress
START=$(date +%s)
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)

log() { printf '[%s] %s\n' "$(date +%T)" "$*" >&2; }

free_port() {
  /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# CPU seconds (utime+stime, all threads) of a process.
cpu_of() {
  local stat
  stat=$(cat "/proc/$1/stat")
  stat=${stat##*) }  # fields after "(comm) "; utime and stime are fields 14 and 15 of the line
  awk -v tck="$CLK_TCK" '{ printf "%.2f", ($12 + $13) / tck }' <<<"$stat"
}
# VmRSS or VmHWM of a process, in KiB.
mem_of() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }
# Kernel slab memory of the whole machine, in KiB (sockets, files, epoll items live there).
slab_kb() { awk '$1 == "Slab:" { print $2 }' /proc/meminfo; }
now() { date +%s.%N; }

# start_broker NAME PORT CPUS [hermod options] -> sets BROKER_PID. CPUS "" means unpinned.
start_broker() {
  local name=$1 port=$2 cpus=$3
  shift 3
  local pin=()
  [[ -n $cpus ]] && pin=(taskset -c "$cpus")
  ((RUN_RT)) && pin+=(chrt -f 10)
  case $name in
    hermod*)
      local conf=$WORK/hermod.toml exe=$HERMOD
      [[ $name == *-written ]] && conf=$WORK/hermod-written.toml
      [[ $name == hermod-acl ]] && conf=$WORK/hermod-acl.toml
      [[ $name == hermod-base ]] && exe=$BASELINE
      if [[ -n $TRANSPORT ]]; then
        # A TLS or WebSocket listener of its own instead of -p's plain one.
        { cat "$conf"; hermod_listener "$port"; } >"$WORK/hermod-transport.toml"
        "${pin[@]}" "$exe" -c "$WORK/hermod-transport.toml" "$@" >>"$WORK/$name.log" 2>&1 &
      else
        "${pin[@]}" "$exe" -c "$conf" -p "$port" "$@" >>"$WORK/$name.log" 2>&1 &
      fi
      ;;
    mosquitto)
      { sed "s/@PORT@/$port/" "$WORK/mosquitto.conf.in"; mosquitto_listener "$port"; } >"$WORK/mosquitto.conf"
      "${pin[@]}" "$MOSQUITTO" -c "$WORK/mosquitto.conf" >>"$WORK/$name.log" 2>&1 &
      ;;
  esac
  BROKER_PID=$!
  BROKER_PIDS+=("$BROKER_PID")
  for _ in $(seq 100); do
    if ss -Hltn "sport = :$port" | grep -q LISTEN; then return 0; fi
    kill -0 "$BROKER_PID" 2>/dev/null || break
    sleep 0.05
  done
  echo "run.sh: $name did not start on port $port; its log:" >&2
  tail -20 "$WORK/$name.log" >&2
  return 1
}

# TRANSPORT (tls, ws, or empty for plain TCP) and SERVER_KEY (ec, rsa) choose the listener of
# the brokers start_broker starts, and the generator's flags (generator_target).
TRANSPORT=""
SERVER_KEY=ec
hermod_listener() {
  printf '\n[[listeners]]\nbind = "127.0.0.1"\nport = %s\ntransport = "%s"\n' "$1" "$TRANSPORT"
  if [[ $TRANSPORT == tls ]]; then
    printf 'cert_file = "%s"\nkey_file = "%s"\n' "$PKI/server-$SERVER_KEY.pem" "$PKI/server-$SERVER_KEY.key"
  fi
}
# Lines added to the mosquitto listener (mosquitto.conf.in's last listener is the one).
mosquitto_listener() {
  case $TRANSPORT in
    tls) printf 'certfile %s\nkeyfile %s\n' "$PKI/server-$SERVER_KEY.pem" "$PKI/server-$SERVER_KEY.key" ;;
    # Mosquitto 2.0.11 starts no WebSocket listener alone: a plain one beside it.
    ws)
      local extra
      extra=$(free_port)
      while [[ $extra == "$1" ]]; do extra=$(free_port); done
      printf 'protocol websockets\nlistener %s 127.0.0.1\nprotocol mqtt\n' "$extra"
      ;;
  esac
}
generator_target() {
  case $TRANSPORT in
    tls) echo "-h 127.0.0.1 -p $1 --cafile $PKI/ca.pem" ;;
    ws) echo "-L ws://127.0.0.1:$1/mqtt" ;;
    *) echo "-p $1" ;;
  esac
}

stop_broker() {
  local pid=$1
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

# measure KEY BROKER REP GEN_CPUS BROKER_CPUS [hermod options] -- [hermod-cli bench args]
# Appends one JSON line to $RESULTS: the generator's result plus the broker's CPU and memory.
measure() {
  local key=$1 broker=$2 rep=$3 gcpus=$4 bcpus=$5
  shift 5
  local bopts=()
  while [[ $# -gt 0 && $1 != -- ]]; do bopts+=("$1"); shift; done
  shift
  local port pid out cpu0 cpu1 rss0 rss1 hwm hold slab0 slab_hold t0 t1 rc=0
  RUN_RT=0
  [[ $key == latency || $key == durable_ack ]] && RUN_RT=$RT_LATENCY
  port=$(free_port)
  # A port free on 127.0.0.1 may still be taken on 0.0.0.0, where Mosquitto's WebSocket
  # listener binds whatever it is told: a few tries on other ports.
  local tries=0
  until start_broker "$broker" "$port" "$bcpus" "${bopts[@]}"; do
    ((++tries < 3)) || return 1
    port=$(free_port)
  done
  pid=$BROKER_PID
  sleep 0.2  # let start-up work (and its page faults) settle before the baseline
  cpu0=$(cpu_of "$pid"); rss0=$(mem_of "$pid" VmRSS); t0=$(now)
  out=$WORK/gen.out
  local target
  read -r -a target <<<"$(generator_target "$port")"
  local gen=("$CLI" bench "$@" "${target[@]}" --json --label "$broker")
  ((RUN_RT)) && gen=(chrt -f 10 "${gen[@]}")
  [[ -n $gcpus ]] && gen=(taskset -c "$gcpus" "${gen[@]}")
  hold=""
  slab0=$(slab_kb)
  slab_hold=""
  if [[ $1 == conns ]]; then
    "${gen[@]}" >"$out" 2>"$WORK/gen.err" &
    local gpid=$!
    # Sample the broker's memory while the generator holds every connection open.
    for _ in $(seq 1200); do
      if grep -q '"event":"holding"' "$out" 2>/dev/null; then
        hold=$(mem_of "$pid" VmRSS)
        slab_hold=$(slab_kb)
        break
      fi
      kill -0 "$gpid" 2>/dev/null || break
      sleep 0.05
    done
    wait "$gpid" || rc=$?
  else
    "${gen[@]}" >"$out" 2>"$WORK/gen.err" || rc=$?
  fi
  t1=$(now); cpu1=$(cpu_of "$pid"); rss1=$(mem_of "$pid" VmRSS); hwm=$(mem_of "$pid" VmHWM)
  stop_broker "$pid"
  local line
  line=$(grep -v '"event"' "$out" | tail -1)
  [[ -n $line ]] || line=$(printf '{"error":"generator failed (exit %s): %s"}' "$rc" "$(tr -d '"\\\n' <"$WORK/gen.err" | head -c 300)")
  printf '{"key":"%s","broker":"%s","rep":%s,"rc":%s,"rt":%s,"broker_cpu_s":%s,"wall_s":%s,"rss_before_kb":%s,"rss_after_kb":%s,"hwm_kb":%s,"rss_hold_kb":%s,"slab_before_kb":%s,"slab_hold_kb":%s,"gen":%s}\n' \
    "$key" "$broker" "$rep" "$rc" "$RUN_RT" "$(awk -v a="$cpu0" -v b="$cpu1" 'BEGIN{printf "%.2f", b-a}')" \
    "$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.3f", b-a}')" "$rss0" "$rss1" "$hwm" "${hold:-null}" "$slab0" "${slab_hold:-null}" "$line" >>"$RESULTS"
  log "$key $broker rep $rep: $(/usr/bin/python3 "$ROOT/bench/summarize.py" --one "$(tail -1 "$RESULTS")")"
}

# ------------------------------------------------------------------------------ configurations
# Same limits for both: deep queues, so a QoS 0 loss would be the broker's choice, not a limit.
cat >"$WORK/hermod.toml" <<'EOF'
[broker]
log_level = "warn"

[limits]
max_inflight = 65535
max_queued_messages = 100000
EOF
# The ACL variant: 10,000 rules (bench/acl_rules.py) that grant the bench clients their topics.
/usr/bin/python3 "$ROOT/bench/acl_rules.py" "$WORK/acl" 10000
{ cat "$WORK/hermod.toml"; printf '\n[auth]\nacl_file = "%s"\n' "$WORK/acl"; } >"$WORK/hermod-acl.toml"
# The durability variant in which every QoS 1 message is written before its PUBACK.
{ cat "$WORK/hermod.toml"; printf '\n[store]\nack_on_delivery_ms = 0\n'; } >"$WORK/hermod-written.toml"
cat >"$WORK/mosquitto.conf.in" <<'EOF'
listener @PORT@ 127.0.0.1
allow_anonymous true
persistence false
max_queued_messages 100000
max_inflight_messages 0
set_tcp_nodelay true
log_dest stderr
log_type error
log_type warning
connection_messages false
EOF

# ---------------------------------------------------------------------------- micro-benchmarks
# First, before the broker runs load the machine. Matching among 1M subscriptions is bound by
# memory latency, which on a VM moves with how the host backs guest memory: the same binary
# measured 0.19-0.56x of its 1k rate inside make bench and 0.8-1.1x alone (docs/performance.md).
MICRO=()
if [[ ${BENCH_SKIP_MICRO:-0} != 1 && $QUICK != 1 ]]; then
  for b in codec router; do
    exe=$BUILD/bench/hermod_${b}_bench
    if [[ -x $exe ]]; then
      log "micro-benchmark $b"
      taskset -c "$GEN_CPU" "$exe" --benchmark_out="$WORK/$b.json" --benchmark_out_format=json \
        >"$WORK/$b.txt" 2>&1 || log "hermod_${b}_bench failed (see output above)"
      [[ -s $WORK/$b.json ]] && MICRO+=("--micro" "$WORK/$b.json")
    else
      log "no $exe (built with HERMOD_BENCH=OFF?); micro-benchmarks skipped"
    fi
  done
fi

# ---------------------------------------------------------------------------------- scenarios
# KEY and the hermod-cli bench arguments; 64-byte payloads throughout.
SCENARIOS=(
  "pairs_q0|pairs --clients 16 --qos 0 --size 64 --duration $DURATION"
  "pairs_q1|pairs --clients 16 --qos 1 --size 64 --duration $DURATION"
  "fanout|fanout --clients 100 --qos 0 --size 64 --duration $DURATION"
  "fanin|fanin --clients 100 --qos 0 --size 64 --duration $DURATION"
  "latency|latency --clients 1 --qos 0 --size 64 --rate 10000 --duration $DURATION"
  "conns|conns --connections $CONNS --sources 16 --hold 3 --setup-timeout 60"
)

read -r -a BROKERS <<<"${BENCH_BROKERS:-hermod mosquitto ${BASELINE:+hermod-base}}"

if [[ $QUICK == 1 ]]; then
  quick=()
  for s in "${SCENARIOS[@]}"; do [[ ${s%%|*} == latency ]] || quick+=("$s"); done
  SCENARIOS=("${quick[@]}")
fi
log "Hermod vs Mosquitto${BASELINE:+ vs baseline $BASELINE}: ${#SCENARIOS[@]} scenarios x ${#BROKERS[@]} brokers x $REPS repetitions, ${DURATION} s each; fd limit $FD_LIMIT"
# BENCH_CORE=0 leaves the one-core TCP scenarios out (to run only the transports, say).
((${BENCH_CORE:-1})) || SCENARIOS=()
for rep in $(seq "$REPS"); do
  # Rotate which broker goes first, so none always runs on a machine warmed by the same other.
  order=()
  for i in "${!BROKERS[@]}"; do order+=("${BROKERS[(i + rep - 1) % ${#BROKERS[@]}]}"); done
  for s in "${SCENARIOS[@]}"; do
    key=${s%%|*}
    read -r -a args <<<"${s#*|}"
    for broker in "${order[@]}"; do
      if [[ $broker == hermod* ]]; then
        measure "$key" "$broker" "$rep" "$GEN_CPU" "$BROKER_CPU" --workers 1 -- "${args[@]}"
      else
        measure "$key" mosquitto "$rep" "$GEN_CPU" "$BROKER_CPU" -- "${args[@]}"
      fi
    done
  done
done

if [[ $QUICK != 1 ]]; then
log "unpinned: Hermod pairs with 2 workers against 1"
for rep in $(seq "$REPS"); do
  for w in 1 2; do
    measure pairs_unpinned "hermod-w$w" "$rep" "" "" --workers "$w" -- \
      pairs --clients 16 --qos 0 --size 64 --duration "$DURATION" --threads 2
  done
done

# ------------------------------------------------------------------------- durability (issue 5)
# QoS 1 from 16 publishers to 16 persistent subscribers. By default (acknowledgement on delivery)
# a message the subscriber acknowledges within store.ack_on_delivery_ms is never written;
# `fsync-written` turns that off (ack_on_delivery_ms = 0), so every message is stored before its
# PUBACK (body + queue entry) and deleted after the subscriber's PUBACK: the group commit alone.
# The store lives on the build disk, not tmpfs, so that fsync means a disk flush. Mosquitto (no
# persistence) is run once per repetition as a reference.
STORE_DIR=${BENCH_STORE_DIR:-$ROOT/build/bench-store}
rm -rf "$STORE_DIR"
mkdir -p "$STORE_DIR"
log "durability: QoS 1 to persistent subscribers in store modes memory, wal, fsync, fsync-written"
for rep in $(seq "$REPS"); do
  for mode in memory wal fsync fsync-written; do
    rm -rf "$STORE_DIR/durable"
    measure durable_tput "hermod-$mode" "$rep" "$GEN_CPU" "$BROKER_CPU" --workers 1 \
      --data-dir "$STORE_DIR/durable" --store-mode "${mode%-written}" -- \
      pairs --clients 16 --qos 1 --size 64 --persistent --duration "$DURATION"
    rm -rf "$STORE_DIR/durable"
    measure durable_ack "hermod-$mode" "$rep" "$GEN_CPU" "$BROKER_CPU" --workers 1 \
      --data-dir "$STORE_DIR/durable" --store-mode "${mode%-written}" -- \
      latency --clients 16 --qos 1 --size 64 --persistent --rate 2000 --duration "$DURATION"
  done
  measure durable_tput mosquitto "$rep" "$GEN_CPU" "$BROKER_CPU" -- \
    pairs --clients 16 --qos 1 --size 64 --persistent --duration "$DURATION"
done
rm -rf "$STORE_DIR/durable"

# Recovery: a store with 100 000 offline persistent sessions and 10 000 000 queued QoS 1
# messages (written by hermod_store_fill with the broker's own record encoders; each body shared
# by 100 sessions), then the broker started on it (2 workers, unpinned) BENCH_REPS times. Each
# start: time to listening and the broker's own "recovered ... in N ms", RSS, then one session
# reconnects and must receive exactly its 100 messages, and the broker stops gracefully.
RECOVERY_SESSIONS=${BENCH_RECOVERY_SESSIONS:-100000}
RECOVERY_QUEUED=${BENCH_RECOVERY_QUEUED:-100}
FILL=$BUILD/bench/hermod_store_fill
if [[ -x $FILL ]]; then
  log "recovery: filling a store with $RECOVERY_SESSIONS sessions x $RECOVERY_QUEUED queued messages"
  sed 's/^log_level = "warn"/log_level = "info"/' "$WORK/hermod.toml" >"$WORK/hermod-recovery.toml"
  fill_json=$("$FILL" --dir "$STORE_DIR/recovery" --sessions "$RECOVERY_SESSIONS" --queued "$RECOVERY_QUEUED" --sharing 100)
  store_kb=$(du -sk "$STORE_DIR/recovery" | cut -f1)
  for rep in $(seq "$REPS"); do
    port=$(free_port)
    t0=$(now)
    # At info level: the broker logs "recovered ... in N ms".
    "$HERMOD" -c "$WORK/hermod-recovery.toml" -p "$port" --workers 2 --data-dir "$STORE_DIR/recovery" \
      >"$WORK/recovery.log" 2>&1 &
    pid=$!
    BROKER_PIDS+=("$pid")
    listening=0
    for _ in $(seq 1200); do
      if ss -Hltn "sport = :$port" | grep -q LISTEN; then listening=1; break; fi
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.05
    done
    t1=$(now)
    rss=$(mem_of "$pid" VmRSS || echo 0)
    recovered_ms=$(sed -n 's/.*recovered .* in \([0-9]*\) ms.*/\1/p' "$WORK/recovery.log" | tail -1)
    device=$((rep * 997 % RECOVERY_SESSIONS + 1))
    group=$(((device - 1) / 100))
    got=0
    if ((listening)); then
      got=$(timeout 30 mosquitto_sub -p "$port" -i "device-$device" -c -q 1 -t "fleet/group$group/cmd" \
        -C "$RECOVERY_QUEUED" -W 20 2>/dev/null | wc -l || true)
    fi
    t2=$(now)
    stop_broker "$pid"
    t3=$(now)
    printf '{"key":"recovery","broker":"hermod","rep":%s,"rc":%s,"fill":%s,"store_kb":%s,"listen_s":%s,"recovered_ms":%s,"rss_kb":%s,"received":%s,"expected":%s,"stop_s":%s,"gen":{}}\n' \
      "$rep" "$((1 - listening))" "$fill_json" "$store_kb" "$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.3f", b-a}')" \
      "${recovered_ms:-null}" "${rss:-0}" "$got" "$RECOVERY_QUEUED" "$(awk -v a="$t2" -v b="$t3" 'BEGIN{printf "%.3f", b-a}')" >>"$RESULTS"
    log "recovery rep $rep: listening after $(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.2f", b-a}') s (recovered in ${recovered_ms:-?} ms), RSS ${rss:-?} KiB, session drained $got of $RECOVERY_QUEUED"
  done
  rm -rf "$STORE_DIR/recovery"
else
  log "no $FILL (built with HERMOD_BENCH=OFF?); recovery benchmark skipped"
fi
fi  # QUICK

# ------------------------------------------------------------------------------ transports
# TLS and WebSocket (issue 14), both brokers on one core: handshakes per broker CPU-second with
# an ECDSA P-256 and an RSA 2048 certificate (`openssl s_time`, a new full handshake per
# connection, TLS 1.3); pairs and fanout over TLS and over WebSocket; idle connections over
# both (BENCH_TRANSPORT_CONNS, 5000); and 1 MB payloads over WebSocket against the same over
# TCP. They run unless BENCH_TRANSPORTS=0; with BENCH_QUICK=1 only if BENCH_TRANSPORTS=1.
PKI=$WORK/pki
TRANSPORT_CONNS=${BENCH_TRANSPORT_CONNS:-5000}
make_pki() {
  mkdir -p "$PKI"
  openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$PKI/ca.key" \
    -out "$PKI/ca.pem" -days 2 -subj "/CN=bench CA" 2>/dev/null
  local kind
  for kind in ec rsa; do
    local newkey=(-newkey ec -pkeyopt ec_paramgen_curve:P-256)
    [[ $kind == rsa ]] && newkey=(-newkey rsa:2048)
    openssl req -new "${newkey[@]}" -nodes -keyout "$PKI/server-$kind.key" -out "$PKI/server-$kind.csr" \
      -subj "/CN=localhost" 2>/dev/null
    openssl x509 -req -in "$PKI/server-$kind.csr" -CA "$PKI/ca.pem" -CAkey "$PKI/ca.key" -CAcreateserial \
      -days 2 -extfile <(printf 'subjectAltName=DNS:localhost,IP:127.0.0.1') -out "$PKI/server-$kind.pem" 2>/dev/null
  done
  # Mosquitto drops privileges before it reads its certificate and key.
  chmod 755 "$WORK" "$PKI"
  chmod 644 "$PKI"/*
}

# measure_handshakes KEY BROKER REP: full TLS handshakes with `openssl s_time` (one process,
# one connection at a time, pinned to the generator's core) for DURATION seconds.
measure_handshakes() {
  local key=$1 broker=$2 rep=$3 port pid cpu0 cpu1 t0 t1 out n secs
  port=$(free_port)
  local tries=0
  until start_broker "$broker" "$port" "$BROKER_CPU" "${@:4}"; do
    ((++tries < 3)) || return 1
    port=$(free_port)
  done
  pid=$BROKER_PID
  sleep 0.2
  cpu0=$(cpu_of "$pid"); t0=$(now)
  out=$(taskset -c "$GEN_CPU" openssl s_time -connect "127.0.0.1:$port" -new -time "$DURATION" 2>&1 || true)
  t1=$(now); cpu1=$(cpu_of "$pid")
  stop_broker "$pid"
  # "N connections in T real seconds": N over our own wall time (T is whole seconds).
  n=$(sed -n 's/^\([0-9][0-9]*\) connections in [0-9]* real seconds.*/\1/p' <<<"$out" | head -1)
  secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.3f", b-a}')
  printf '{"key":"%s","broker":"%s","rep":%s,"rc":%s,"rt":0,"broker_cpu_s":%s,"wall_s":%s,"gen":{"scenario":"handshakes","delivered":%s,"msgs_per_s":%s}}\n' \
    "$key" "$broker" "$rep" "$([[ -n $n ]] && echo 0 || echo 1)" "$(awk -v a="$cpu0" -v b="$cpu1" 'BEGIN{printf "%.2f", b-a}')" \
    "$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.3f", b-a}')" "${n:-0}" \
    "$(awk -v n="${n:-0}" -v s="$secs" 'BEGIN { if (s > 0) printf "%.1f", n / s; else printf "0" }')" >>"$RESULTS"
  log "$key $broker rep $rep: $(/usr/bin/python3 "$ROOT/bench/summarize.py" --one "$(tail -1 "$RESULTS")")"
}

TRANSPORT_SCENARIOS=(
  "tls|tls_pairs_q0|pairs --clients 16 --qos 0 --size 64 --duration $DURATION"
  "tls|tls_pairs_q1|pairs --clients 16 --qos 1 --size 64 --duration $DURATION"
  "tls|tls_fanout|fanout --clients 100 --qos 0 --size 64 --duration $DURATION"
  "ws|ws_pairs_q0|pairs --clients 16 --qos 0 --size 64 --duration $DURATION"
  "ws|ws_pairs_q1|pairs --clients 16 --qos 1 --size 64 --duration $DURATION"
  "ws|ws_fanout|fanout --clients 100 --qos 0 --size 64 --duration $DURATION"
  "tls|tls_conns|conns --connections $TRANSPORT_CONNS --sources 16 --hold 3 --setup-timeout 120"
  "ws|ws_conns|conns --connections $TRANSPORT_CONNS --sources 16 --hold 3 --setup-timeout 120"
  "|tcp_1mb|pairs --clients 2 --qos 1 --size 1000000 --window 4 --duration $DURATION"
  "ws|ws_1mb|pairs --clients 2 --qos 1 --size 1000000 --window 4 --duration $DURATION"
)
RUN_TRANSPORTS=${BENCH_TRANSPORTS:-$((QUICK == 1 ? 0 : 1))}
if [[ $RUN_TRANSPORTS == 1 ]]; then
  make_pki
  log "transports: TLS handshakes, TLS and WebSocket throughput, idle connections, 1 MB payloads"
  for rep in $(seq "$REPS"); do
    order=(hermod mosquitto)
    ((rep % 2 == 0)) && order=(mosquitto hermod)
    TRANSPORT=tls
    for SERVER_KEY in ec rsa; do
      for broker in "${order[@]}"; do
        opts=()
        [[ $broker == hermod ]] && opts=(--workers 1)
        measure_handshakes "tls_handshake_$SERVER_KEY" "$broker" "$rep" "${opts[@]}"
      done
    done
    SERVER_KEY=ec
    for s in "${TRANSPORT_SCENARIOS[@]}"; do
      TRANSPORT=${s%%|*}
      rest=${s#*|}
      key=${rest%%|*}
      read -r -a args <<<"${rest#*|}"
      for broker in "${order[@]}"; do
        if [[ $broker == hermod ]]; then
          measure "$key" hermod "$rep" "$GEN_CPU" "$BROKER_CPU" --workers 1 -- "${args[@]}"
        else
          measure "$key" mosquitto "$rep" "$GEN_CPU" "$BROKER_CPU" -- "${args[@]}"
        fi
      done
    done
    TRANSPORT=""
  done
fi

# ------------------------------------------------------------------------------------ ACL
# Topic ACL checking (issue 15): pairs and fanout with an ACL of 10,000 rules against the same
# broker without one, interleaved; reported as messages per broker CPU-second, ACL ÷ none
# (target >= 0.9). BENCH_ACL=0/1 leaves it out or adds it (off with BENCH_QUICK=1 by default).
ACL_SCENARIOS=(
  "acl_pairs_q0|pairs --clients 16 --qos 0 --size 64 --duration $DURATION"
  "acl_pairs_q1|pairs --clients 16 --qos 1 --size 64 --duration $DURATION"
  "acl_fanout|fanout --clients 100 --qos 0 --size 64 --duration $DURATION"
)
if [[ ${BENCH_ACL:-$((QUICK == 1 ? 0 : 1))} == 1 ]]; then
  log "ACL: pairs and fanout with 10,000 rules against none"
  for rep in $(seq "$REPS"); do
    order=(hermod hermod-acl)
    ((rep % 2 == 0)) && order=(hermod-acl hermod)
    for s in "${ACL_SCENARIOS[@]}"; do
      key=${s%%|*}
      read -r -a args <<<"${s#*|}"
      for broker in "${order[@]}"; do
        measure "$key" "$broker" "$rep" "$GEN_CPU" "$BROKER_CPU" --workers 1 -- "${args[@]}"
      done
    done
  done
fi

# --------------------------------------------------------------------------------------- report
BUILD_TYPE=$(awk -F= '/^CMAKE_BUILD_TYPE:/ { print $2 }' "$BUILD/CMakeCache.txt" 2>/dev/null || true)
SANITIZE=$(awk -F= '/^HERMOD_SANITIZE:/ { print $2 }' "$BUILD/CMakeCache.txt" 2>/dev/null || true)
COMMIT=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
git diff --quiet HEAD 2>/dev/null || COMMIT="$COMMIT (with uncommitted changes)"
mkdir -p "$(dirname "$OUT")"
/usr/bin/python3 "$ROOT/bench/summarize.py" --results "$RESULTS" "${MICRO[@]}" \
  --commit "$COMMIT" --build-type "${BUILD_TYPE:-unknown}" --sanitize "${SANITIZE:-}" \
  --cpu "$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo) ($(nproc) cores)" \
  --kernel "$(uname -r)" ${BASELINE:+--baseline "$BASELINE"} --mosquitto "$("$MOSQUITTO" -h 2>/dev/null | head -1)" \
  --fd-limit "$FD_LIMIT" --rt-latency "$RT_LATENCY" --reps "$REPS" --duration "$DURATION" --elapsed "$(($(date +%s) - START))" \
  --load "$LOAD_START / $(cut -d' ' -f1-3 /proc/loadavg)" >"$OUT"
log "wrote $OUT in $(($(date +%s) - START)) s"
cat "$OUT"
