"""spark/teardown_campaign.py on a real Spark in local mode (local[2]) over every capture in
samples/, checked against the teardown CLI of the same captures.

Needs a JRE, `pip install 'pyspark[sql]' pytest duckdb` and the binary: TEARDOWN_BIN, else
$CARGO_TARGET_DIR/debug/teardown, else target/debug/teardown (`cargo build --bin teardown`).
.ci/run installs and builds all of it.
"""

from __future__ import annotations

import csv
import glob
import io
import os
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "spark"))

import teardown_campaign as tc  # noqa: E402

SAMPLES = os.path.join(ROOT, "samples")


def teardown_bin() -> str:
    for p in (
        os.environ.get("TEARDOWN_BIN"),
        os.path.join(os.environ.get("CARGO_TARGET_DIR", ""), "debug", "teardown")
        if os.environ.get("CARGO_TARGET_DIR") else None,
        os.path.join(ROOT, "target", "debug", "teardown"),
    ):
        if p and os.access(p, os.X_OK):
            return os.path.abspath(p)
    pytest.fail("no teardown binary: run `cargo build --bin teardown` or set TEARDOWN_BIN")


def sample_captures() -> dict[str, str]:
    """Every capture in samples/: {partition name: path}. samples/loadrun is one capture
    (three rotated files); every other .pcap/.pcapng file is one."""
    caps = {"loadrun": os.path.join(SAMPLES, "loadrun")}
    for p in sorted(glob.glob(os.path.join(SAMPLES, "**", "*.pcap*"), recursive=True)):
        if os.path.dirname(p) == caps["loadrun"]:
            continue
        caps[os.path.basename(p)] = p
    # Stems are unique but for scenarios.pcap / scenarios.pcapng, which keep their file names.
    names = {}
    for base, p in caps.items():
        stem = os.path.splitext(base)[0] if base != "loadrun" else base
        names[stem] = names.get(stem, 0) + 1
    out = {}
    for base, p in caps.items():
        stem = os.path.splitext(base)[0] if base != "loadrun" else base
        out[stem if names[stem] == 1 else base] = p
    return out


@pytest.fixture(scope="module")
def spark():
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    from pyspark.sql import SparkSession

    s = (
        SparkSession.builder.master("local[2]")
        .appName("teardown-campaign-test")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .getOrCreate()
    )
    s.sparkContext.setLogLevel("ERROR")
    yield s
    s.stop()


@pytest.fixture(scope="module")
def campaign(spark, tmp_path_factory):
    """The job over every sample, a damaged capture and an empty one, run once."""
    tmp = tmp_path_factory.mktemp("campaign")
    damaged = tmp / "inputs" / "damaged.pcap"
    damaged.parent.mkdir()
    damaged.write_bytes(b"\x00garbage, not a capture" * 100)
    empty = tmp / "inputs" / "empty.pcap"
    empty.write_bytes(tc.empty_pcap())
    caps = sample_captures()
    listing = tmp / "captures.txt"
    # A glob per folder and extension of samples/ (so a new sample folder is in the job by
    # itself), the rotated load run by its folder.
    globs = sorted({
        os.path.join(os.path.dirname(p), "*" + os.path.splitext(p)[1])
        for p in caps.values()
        if p != caps["loadrun"]
    })
    listing.write_text(
        "# every sample, by glob and by folder\n"
        + "\n".join(globs + [caps["loadrun"], str(damaged), f"empty\t{empty}"])
        + "\n"
    )
    out = tmp / "out"
    res = tc.run_campaign(spark, f"@{listing}", f"file://{out}", teardown=teardown_bin(),
                          log=lambda *a: None)
    tc.register_views(spark, res["out"], res["tables"])
    return {"res": res, "out": out, "caps": caps, "damaged": damaged, "empty": empty}


def cli_sessions(path: str) -> list[dict[str, str]]:
    p = subprocess.run([teardown_bin(), "sessions", "--format", "csv", "--csv-raw", path],
                       capture_output=True, text=True, check=True)
    return list(csv.DictReader(io.StringIO(p.stdout)))


def cli_table_rows(path: str) -> dict[str, int]:
    p = subprocess.run([teardown_bin(), "export", path, "--format", "arrow", "--out", "-",
                        "--quiet"], capture_output=True, check=True)
    return {t: n for t, n, _ in tc.split_streams(p.stdout)}


def micros(epoch: str) -> int | None:
    if not epoch:
        return None
    s, f = epoch.split(".")
    return int(s) * 1_000_000 + int(f.ljust(9, "0")) // 1000


INT_COLS = ["session_id", "client_port", "server_port", "handshake_status", "close_code",
            "client_observed_code", "frames_c2s", "frames_s2c", "messages_c2s",
            "messages_s2c"]
STR_COLS = ["client_ip", "server_ip", "verdict", "teardown_initiator", "close_sender",
            "http_path"]


def spark_sessions(spark, capture: str):
    cols = ", ".join(INT_COLS + STR_COLS + ["close_reason"])
    return spark.sql(
        f"SELECT {cols}, unix_micros(start_ts) AS start_us, "
        f"unix_micros(teardown_start_ts) AS teardown_us "
        f"FROM sessions WHERE capture = '{capture}' ORDER BY session_id"
    ).collect()


def test_every_sample_is_a_capture_of_the_dataset(campaign):
    res = campaign["res"]
    assert sorted(res["ok"]) == sorted(list(campaign["caps"]) + ["empty"])
    assert res["failures"] == ["damaged"]


def test_sessions_equal_teardown_sessions_csv_row_by_row(spark, campaign):
    compared = 0
    for name, path in campaign["caps"].items():
        want = cli_sessions(path)
        got = spark_sessions(spark, name)
        assert len(got) == len(want), name
        for g, w in zip(got, want):
            for c in INT_COLS:
                assert g[c] == (int(w[c]) if w[c] else None), (name, w["session_id"], c)
            for c in STR_COLS:
                assert g[c] == (w[c] or None), (name, w["session_id"], c)
            # A close reason is "" when a close frame had none, null without a close frame.
            assert g["close_reason"] == (w["close_reason"] if w["close_sender"] else None)
            assert g["start_us"] == micros(w["start_ts"]), (name, w["session_id"])
            assert g["teardown_us"] == micros(w["teardown_start_ts"]), (name, w["session_id"])
            compared += 1
    assert compared >= 150


def test_every_table_has_the_rows_of_the_binary(spark, campaign):
    for name, path in campaign["caps"].items():
        want = cli_table_rows(path)
        for table, n in want.items():
            got = spark.sql(f"SELECT count(*) AS n FROM {table} WHERE capture = '{name}'")
            assert got.collect()[0].n == n, (name, table)


def test_damaged_capture_is_a_failure_row_not_a_failed_job(spark, campaign):
    rows = spark.sql("SELECT * FROM failures").collect()
    assert [r.capture for r in rows] == ["damaged"]
    assert rows[0].exit_code == 2
    assert "not a pcap or pcapng file" in rows[0].message
    assert str(campaign["damaged"]) in rows[0].inputs
    assert spark.sql("SELECT count(*) AS n FROM sessions WHERE capture = 'damaged'").first().n == 0
    assert not (campaign["out"] / "sessions" / "capture=damaged").exists()


def test_empty_capture_writes_typed_columns(campaign):
    import pyarrow.ipc
    import pyarrow.parquet as pq

    p = subprocess.run([teardown_bin(), "export", str(campaign["empty"]), "--format", "arrow",
                        "--out", "-", "--quiet"], capture_output=True, check=True)
    streams = {t: b for t, _, b in tc.split_streams(p.stdout)}
    for table, blob in streams.items():
        files = list((campaign["out"] / table / "capture=empty").glob("*.parquet"))
        assert len(files) == 1, table
        t = pq.read_table(files[0])
        assert t.num_rows == 0
        binary = pyarrow.ipc.open_stream(blob).schema
        assert t.schema.names == binary.names, table
        for f, b in zip(t.schema, binary):
            assert f.type == tc.spark_arrow_type(b.type)[0], (table, f.name)


def test_queries_give_the_same_answers_in_spark_and_duckdb(spark, campaign):
    duckdb = pytest.importorskip("duckdb")
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    for t in ("sessions", "concurrency", "rtp_streams"):
        con.execute(
            f"CREATE VIEW {t} AS SELECT * FROM read_parquet("
            f"'{campaign['out']}/{t}/*/*.parquet', hive_partitioning = true, "
            "hive_types = {'capture': VARCHAR})"
        )

    def norm(v):
        # Timestamps as epoch microseconds: Spark gives naive local times, DuckDB aware ones.
        if hasattr(v, "timestamp"):
            return round(v.timestamp() * 1e6)
        if isinstance(v, (int, float)) or type(v).__name__ == "Decimal":
            return float(v)
        return v

    queries = tc.read_queries()
    assert len(queries) == 5
    for title, sql in queries:
        got = [[norm(v) for v in r] for r in spark.sql(sql).collect()]
        want = [[norm(v) for v in r] for r in con.sql(sql).fetchall()]
        assert got == want, title
        assert got, title
    first = spark.sql(queries[1][1]).where("capture = 'loadrun'").first()
    # The report's finding: abnormal teardowns begin with 60 sessions open, session 60.
    assert (first.session_id, first.open_sessions) == (60, 60)
    drops = spark.sql(queries[2][1]).where("capture = 'loadrun'").first()
    # The report's finding: all 9 drops with 25 to 30 established on 10.99.0.3:8080.
    assert (drops.server_ip, drops.drops, drops.threshold, drops.most) == ("10.99.0.3", 9, 25, 30)


def test_ship_bytes_through_the_command_line(tmp_path):
    """The script as a command, with Spark reading the files (the object-store route)."""
    out = tmp_path / "out"
    env = dict(os.environ, PYSPARK_PYTHON=sys.executable)
    p = subprocess.run(
        [sys.executable, os.path.join(ROOT, "spark", "teardown_campaign.py"),
         "--captures", f"{SAMPLES}/loadrun,{SAMPLES}/scenarios.pcap",
         "--out", f"file://{out}", "--master", "local[2]", "--teardown", teardown_bin(),
         "--ship-bytes"],
        capture_output=True, text=True, env=env, timeout=600,
    )
    assert p.returncode == 0, p.stderr[-3000:]
    assert "2 captures written, 0 failed" in p.stdout
    assert "bytes read by Spark" in p.stdout
    for title, _ in tc.read_queries():
        assert title in p.stdout
    import pyarrow.parquet as pq

    for name, path in (("loadrun", f"{SAMPLES}/loadrun"), ("scenarios", f"{SAMPLES}/scenarios.pcap")):
        t = pq.read_table(out / "sessions" / f"capture={name}").sort_by("session_id")
        want = cli_sessions(path)
        assert t.column("session_id").to_pylist() == [int(w["session_id"]) for w in want]
        assert t.column("verdict").to_pylist() == [w["verdict"] for w in want]
        assert t.column("close_code").to_pylist() == [
            int(w["close_code"]) if w["close_code"] else None for w in want]


def test_rerun_replaces_partitions_and_does_not_duplicate(spark, campaign):
    res, out = campaign["res"], campaign["out"]
    before = {r.capture: r.n for r in spark.sql(
        "SELECT capture, count(*) AS n FROM sessions GROUP BY capture").collect()}
    old_files = sorted(p.name for p in (out / "sessions" / "capture=loadrun").iterdir())
    # The damaged capture is fixed: its failure row goes, its sessions come.
    shutil.copy(os.path.join(SAMPLES, "sll2.pcap"), campaign["damaged"])
    listing = out.parent / "rerun.txt"
    listing.write_text(f"{SAMPLES}/loadrun\n{campaign['damaged']}\n")
    res2 = tc.run_campaign(spark, f"@{listing}", res["out"], teardown=teardown_bin(),
                           log=lambda *a: None)
    assert res2["failures"] == [] and sorted(res2["ok"]) == ["damaged", "loadrun"]
    tc.register_views(spark, res["out"], res["tables"])
    after = {r.capture: r.n for r in spark.sql(
        "SELECT capture, count(*) AS n FROM sessions GROUP BY capture").collect()}
    assert after.pop("damaged") == len(cli_sessions(os.path.join(SAMPLES, "sll2.pcap")))
    assert after == before
    assert after["loadrun"] == 100
    new_files = sorted(p.name for p in (out / "sessions" / "capture=loadrun").iterdir())
    assert len([f for f in new_files if f.endswith(".parquet")]) == 1
    assert new_files != old_files  # replaced, not added to
    assert spark.sql("SELECT count(*) AS n FROM failures").first().n == 0
    ids = spark.sql("SELECT session_id FROM sessions WHERE capture = 'loadrun' "
                    "GROUP BY session_id HAVING count(*) > 1").collect()
    assert ids == []
