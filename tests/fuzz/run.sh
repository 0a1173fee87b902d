#!/usr/bin/env bash
# Runs every libFuzzer target (fuzz_*) found in a build directory for SECONDS each, as many at
# once as there are cores (FUZZ_JOBS overrides), each on a temporary copy of its seed corpus so the fuzzer never writes into the repository.
# Prints one summary line per target; exits non-zero if any target crashed, leaked, timed out or ran
# out of memory. Crash inputs and logs are kept under BUILD_DIR/fuzz-findings/<target>/.
# Usage: tests/fuzz/run.sh BUILD_DIR [SECONDS]      (make fuzz FUZZ_SECONDS=600)
set -uo pipefail

if ! command -v clang++ >/dev/null 2>&1; then
  echo "fuzz: clang++ is not installed: the fuzz targets cannot run (scripts/install-deps.sh installs clang)" >&2
  exit 1
fi

build=${1:?usage: run.sh BUILD_DIR [SECONDS]}
seconds=${2:-30}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
if [ ! -d "$build" ]; then
  echo "fuzz: no build directory $build (make fuzz-build)" >&2
  exit 1
fi

build=$(cd "$build" && pwd)
mapfile -t targets < <(find "$build" -type f -name 'fuzz_*' -perm -u+x | sort)
if [ ${#targets[@]} -eq 0 ]; then
  echo "fuzz: no fuzz_* binaries under $build (configure with CXX=clang++ -DHERMOD_FUZZ=ON)" >&2
  exit 1
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/hermod-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT
findings="$build/fuzz-findings"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

# One target: fuzz, then write its summary line and exit status beside its log.
fuzz_one() {
  local bin=$1 name dir seeds rc execs rate cov ft corpus summary
  name=$(basename "$bin")
  dir="$work/$name"
  mkdir -p "$dir/corpus" "$dir/artifacts"
  seeds=0
  if [ -d "$here/corpus/$name" ]; then
    cp -R "$here/corpus/$name/." "$dir/corpus/"
    seeds=$(find "$dir/corpus" -type f | wc -l)
  fi
  # libFuzzer writes crash-*/leak-*/timeout-* files under -artifact_prefix and new inputs into the
  # first corpus directory: both live in the temporary directory.
  (cd "$dir" && "$bin" -max_len=4096 -max_total_time="$seconds" -timeout=25 -rss_limit_mb=2048 \
      -print_final_stats=1 -artifact_prefix="$dir/artifacts/" "$dir/corpus" >"$dir/log" 2>&1)
  rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$dir/log" | tail -n1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$dir/log" | tail -n1)
  cov=$(grep -oE 'cov: [0-9]+' "$dir/log" | tail -n1 | cut -d' ' -f2)
  ft=$(grep -oE 'ft: [0-9]+' "$dir/log" | tail -n1 | cut -d' ' -f2)
  corpus=$(find "$dir/corpus" -type f | wc -l)
  summary="execs ${execs:-?} (${rate:-?}/s), cov ${cov:-?}, ft ${ft:-?}, corpus ${seeds} -> ${corpus}"
  if [ $rc -eq 0 ]; then
    printf '%-22s ok     %s\n' "$name" "$summary" >"$dir/summary"
  else
    mkdir -p "$findings/$name"
    cp "$dir/log" "$findings/$name/log"
    cp -R "$dir/artifacts/." "$findings/$name/" 2>/dev/null || true
    { printf '%-22s FAILED (exit %d) %s; inputs and log in %s\n' "$name" "$rc" "$summary" "$findings/$name"
      grep -m1 -E 'ERROR: |FUZZ_CHECK failed|runtime error' "$dir/log" | sed 's/^/    /'; } >"$dir/summary"
  fi
  echo "$rc" >"$dir/rc"
}

jobs_max=${FUZZ_JOBS:-$(nproc)}
for bin in "${targets[@]}"; do
  while [ "$(jobs -rp | wc -l)" -ge "$jobs_max" ]; do wait -n || true; done
  fuzz_one "$bin" &
done
wait

failed=0
for bin in "${targets[@]}"; do
  dir="$work/$(basename "$bin")"
  cat "$dir/summary"
  [ "$(cat "$dir/rc" 2>/dev/null)" = 0 ] || failed=1
done
exit $failed
