#!/usr/bin/env bash
# A campaign of captures on one machine, run the way a cluster runs it: a map over files,
# one task per capture (`teardown export CAPTURE --out DIR`, which is what one pod of a
# Kubernetes job array runs; spark/teardown_campaign.py is the same on Spark), then the
# queries of spark/queries.sql over DIR as a single Parquet dataset, with DuckDB.
#
#   scripts/campaign.sh DIR [CAPTURE...]    # default: every capture in samples/
#
# Environment: JOBS (tasks at a time, default nproc; each task runs with --threads 1);
# TEARDOWN (a teardown binary to use instead of building the release one).
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

TD=${TEARDOWN:-}
if [ -z "$TD" ]; then
  (cd "$ROOT" && cargo build --release --quiet --bin teardown)
  TD="${CARGO_TARGET_DIR:-$ROOT/target}/release/teardown"
fi

# The map: one independent task per capture. A failed task fails only its capture.
printf '%s\0' "$@" |
  xargs -0 -P "$JOBS" -I{} "$TD" export {} --out "$OUT" --threads 1 --quiet

# The query: every table is one dataset; the capture is a column taken from the folder.
python3 - "$OUT" "$ROOT/spark/queries.sql" <<'EOF'
import sys
import duckdb
import polars as pl

out, queries = sys.argv[1], sys.argv[2]
con = duckdb.connect()
con.execute("SET TimeZone = 'UTC'")
for table in ("sessions", "concurrency", "rtp_streams"):
    con.execute(f"""CREATE VIEW {table} AS SELECT * FROM read_parquet('{out}/{table}/*/*.parquet',
                    hive_partitioning = true, hive_types = {{'capture': VARCHAR}})""")
# The load-run questions: the same SQL that spark/teardown_campaign.py runs with Spark.
for section in ("\n" + open(queries).read()).split("\n-- name:")[1:]:
    title, _, sql = section.partition("\n")
    print(f"DuckDB: {title.strip()}")
    con.sql(sql.strip().rstrip(";")).show(max_rows=40)

print("polars: verdicts over the whole campaign, with the captures they occur in")
sessions = pl.scan_parquet(f"{out}/sessions/**/*.parquet", hive_partitioning=True)
with pl.Config(tbl_rows=40, fmt_str_lengths=60):
    print(
        sessions.group_by("verdict")
        .agg(pl.len().alias("sessions"), pl.col("capture").unique().sort().str.join(",").alias("captures"))
        .sort("sessions", descending=True)
        .collect()
    )
EOF
