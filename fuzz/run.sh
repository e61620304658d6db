#!/usr/bin/env bash
# Usage: fuzz/run.sh TARGET [SECONDS] [EXTRA LIBFUZZER FLAGS...]  -- one fuzzer process, niced, log in fuzz/logs/.
set -euo pipefail
cd "$(dirname "$0")"
t=$1; secs=${2:-600}; shift 2 || shift $#
mkdir -p logs "corpus/$t" "artifacts/$t"
RUSTC_BOOTSTRAP=1 nice -n 10 cargo fuzz run -O -a "$t" -- \
  -max_total_time="$secs" -rss_limit_mb=2048 -timeout=10 -jobs=1 -workers=1 "$@" \
  > "logs/$t.out" 2>&1 || true
# with -jobs, libFuzzer writes the worker's log to fuzz-0.log in the working directory
[ -f fuzz-0.log ] && mv fuzz-0.log "logs/$t.log"
tail -5 "logs/$t.log" 2>/dev/null || tail -5 "logs/$t.out"
