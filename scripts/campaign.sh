#!/usr/bin/env bash
# A campaign of captures, run the way a cluster runs it: a map over files, one task per
# capture (`teardown export CAPTURE --out DIR`, which is what a Spark or Ray task or one
# pod of a Kubernetes job array runs), then one query over DIR as a single Parquet dataset.
#
#   scripts/campaign.sh DIR [CAPTURE...]    # default: every capture in samples/
#
# Environment: JOBS (tasks at a time, default nproc; each task runs with --threads 1).
# The query step needs python3 with duckdb and polars (pip install duckdb polars); the
# map step needs nothing but teardown.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${1:?usage: scripts/campaign.sh DIR [CAPTURE...]}
shift
if [ $# -eq 0 ]; then
  set -- "$ROOT"/samples/scenarios.pcap "$ROOT"/samples/lossy.pcap "$ROOT"/samples/loadrun \
    "$ROOT"/samples/sll2.pcap "$ROOT"/samples/media/calls.pcap "$ROOT"/samples/media/turn.pcap \
    "$ROOT"/samples/tls/ws.pcap
fi
JOBS=${JOBS:-$(nproc)}

(cd "$ROOT" && cargo build --release --quiet --bin teardown)
TD="$ROOT/target/release/teardown"

# The map: one independent task per capture. A failed task fails only its capture.
printf '%s\0' "$@" |
  xargs -0 -P "$JOBS" -I{} "$TD" export {} --out "$OUT" --threads 1 --quiet

# The query: every table is one dataset; the capture is a column taken from the folder.
python3 - "$OUT" <<'EOF'
import sys
import duckdb
import polars as pl

out = sys.argv[1]
print("DuckDB: sessions per capture, abnormal ones, and the first abnormal teardown")
duckdb.sql(f"""
    SELECT capture,
           count(*) AS sessions,
           count(*) FILTER (WHERE abnormal) AS abnormal,
           min(teardown_start_ts) FILTER (WHERE abnormal) AS first_abnormal
    FROM read_parquet('{out}/sessions/*/*.parquet', hive_partitioning = true)
    GROUP BY capture ORDER BY capture
""").show()

print("polars: verdicts over the whole campaign, with the captures they occur in")
sessions = pl.scan_parquet(f"{out}/sessions/**/*.parquet", hive_partitioning=True)
with pl.Config(tbl_rows=40, fmt_str_lengths=60):
    print(
        sessions.group_by("verdict")
        .agg(pl.len().alias("sessions"), pl.col("capture").unique().sort().str.join(",").alias("captures"))
        .sort("sessions", descending=True)
        .collect()
    )

print("DuckDB: RTP streams and loss per capture (joined to their sessions)")
duckdb.sql(f"""
    SELECT r.capture, count(*) AS streams, sum(r.packets) AS packets, sum(r.lost) AS lost,
           count(s.session_id) AS joined
    FROM read_parquet('{out}/rtp_streams/*/*.parquet', hive_partitioning = true) r
    LEFT JOIN read_parquet('{out}/sessions/*/*.parquet', hive_partitioning = true) s
      ON s.capture = r.capture AND s.session_id = r.session_id
    GROUP BY r.capture ORDER BY r.capture
""").show()
EOF
