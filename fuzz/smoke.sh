#!/usr/bin/env bash
# Usage: fuzz/smoke.sh [SECONDS]
# Builds every fuzz target (cargo-fuzz, address sanitizer, debug assertions on) and runs
# each for SECONDS (default 10) starting from its regression inputs and local seeds; stops
# with the fuzzer's log at the first crash, leak or timeout. CI runs it; the long runs
# are fuzz/run.sh (FUZZING.md).
set -euo pipefail
cd "$(dirname "$0")"
secs=${1:-10}
export RUSTC_BOOTSTRAP=1   # cargo-fuzz's -Zsanitizer flags on the stable toolchain
cargo fuzz build -O -a
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for t in $(cargo fuzz list); do
  corpus="$work/corpus-$t"
  mkdir -p "$corpus"
  for seeds in "regressions/$t" "corpus/$t"; do
    if [ -d "$seeds" ]; then cp -r "$seeds/." "$corpus/"; fi
  done
  # pipeline: the rayon pool's exiting worker threads look like leaks (FUZZING.md).
  leaks=1
  if [ "$t" = pipeline ]; then leaks=0; fi
  if ! ASAN_OPTIONS="detect_leaks=$leaks" cargo fuzz run -O -a "$t" "$corpus" -- \
      -max_total_time="$secs" -rss_limit_mb=2048 -timeout=10 -detect_leaks="$leaks" \
      -artifact_prefix="$work/" >"$work/$t.log" 2>&1; then
    echo "fuzz target $t failed:" >&2
    tail -40 "$work/$t.log" >&2
    exit 1
  fi
  echo "$t: $(grep -E '^#[0-9]+' "$work/$t.log" | tail -1)"
done
