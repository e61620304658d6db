#!/usr/bin/env python3
"""A campaign of captures as one Spark job: one task per capture runs the `teardown` binary
on an executor (`teardown export CAPTURE --format arrow --out -`, Arrow IPC streams on its
standard output), and the tables land as one Parquet dataset partitioned by table and
capture, `OUT/<table>/capture=<name>/`, as `teardown export` writes them.

    python spark/teardown_campaign.py --captures 'samples/*.pcap' --out file:///tmp/campaign \
        [--master local[2]] [--teardown target/debug/teardown]

The same file runs under `spark-submit` (see the README, "Scale beyond one machine").

--captures is a glob or a comma-separated list of globs (any URI Hadoop lists: local paths,
file://, s3a://, hdfs://, gs://), or @FILE: a list file, one glob or URI a line, or
`NAME<TAB>URI` to name the capture; `#` starts a comment. A match that is a folder is one
capture made of the files in it (a capture rotated with tcpdump -C/-G). A capture's name is
its file stem or folder name (its file name, then its parent folders, while two captures
would get the same name), reduced as `teardown export` does.

Failed captures (the binary exits non-zero, e.g. an unreadable file; no input found) are a
row in OUT/failures/capture=<name>/ (capture, inputs, exit_code, message, failed_at), not a
failed job. The last run of a capture wins: rerunning it replaces its partitions (dynamic
partition overwrite); a failed rerun removes its tables' partitions, a successful one its
failure row. The schema of every table comes from the binary itself (its Arrow output for
an empty capture), so a table without rows in a capture still gets a typed, empty Parquet
file in that capture's partition. Timestamps are UTC, in microseconds (Spark's precision;
`teardown export` keeps nanoseconds).

The binary reads local files: with file:// captures (or plain paths on a filesystem every
executor mounts) it is given the paths; with any other scheme (or --ship-bytes) Spark reads
the files (binaryFile, at most 2 GiB a file) and the task writes them to a temporary folder.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import posixpath
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from urllib.parse import unquote, urlparse

# Spark SQL answering the load-run questions over the views sessions, concurrency and
# rtp_streams; scripts/campaign.sh runs the same file with DuckDB.
QUERIES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "queries.sql")

# The raw output of the capture tasks: one row per (capture, table), or one failure row.
RAW_SCHEMA = (
    "capture string, inputs string, tbl string, nrows long, arrow binary, "
    "exit_code int, message string, seconds double"
)
FAILURES_SCHEMA = (
    "capture string, inputs string, exit_code int, message string, failed_at timestamp"
)
TABLE_KEY = b"teardown.table"


# --------------------------------------------------------------------------- naming


def partition_name(name: str) -> str:
    """As `teardown::export::partition_name`: letters, digits, `.`, `-`, `_`, not hidden."""
    s = "".join(c if (c.isascii() and c.isalnum()) or c in ".-_" else "_" for c in name)
    if not s or s[0] in "._":
        s = "c" + s
    return s


def _stem(uri: str) -> str:
    base = posixpath.basename(uri.rstrip("/"))
    stem, ext = posixpath.splitext(base)
    return stem if ext and stem else base


def name_captures(uris: list[str]) -> list[str]:
    """File stem or folder name; where two collide, the file name, then parent folders."""

    def candidate(uri: str, depth: int) -> str:
        if depth == 0:
            return _stem(uri)
        parts = [p for p in urlparse(uri).path.rstrip("/").split("/") if p]
        return "_".join(parts[-depth:])

    depth = [0] * len(uris)
    names = [partition_name(candidate(u, 0)) for u in uris]
    for _ in range(16):
        dup = {n for n in names if names.count(n) > 1}
        if not dup:
            break
        for i, u in enumerate(uris):
            if names[i] in dup:
                depth[i] += 1
                names[i] = partition_name(candidate(u, depth[i]))
    return names


# --------------------------------------------------------------------------- the task


def empty_pcap() -> bytes:
    """A pcap global header (microseconds, Ethernet) and no packet: the schema probe."""
    return struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)


def resolve_binary(spec: tuple[str, str]) -> str:
    """On an executor: the binary shipped with SparkFiles, or one installed on PATH."""
    kind, value = spec
    if kind == "shipped":
        from pyspark import SparkFiles

        path = SparkFiles.get(value)
        if not os.access(path, os.X_OK):
            try:
                os.chmod(path, 0o755)
            except OSError:
                copy = os.path.join(tempfile.mkdtemp(prefix="teardown-bin-"), value)
                shutil.copy(path, copy)
                os.chmod(copy, 0o755)
                path = copy
        return path
    return shutil.which(value) or value


def split_streams(data: bytes):
    """The Arrow IPC streams of `teardown export --format arrow --out -`, one per table:
    (table, rows, the stream's bytes)."""
    import pyarrow as pa
    import pyarrow.ipc

    buf = pa.BufferReader(data)
    while buf.tell() < len(data):
        start = buf.tell()
        reader = pa.ipc.open_stream(buf)
        table = reader.read_all()
        name = (reader.schema.metadata or {}).get(TABLE_KEY, b"").decode()
        if not name:
            raise ValueError("an Arrow stream without teardown.table metadata")
        yield name, table.num_rows, data[start : buf.tell()]


def run_teardown(binary: str, inputs: list[str], args: list[str]) -> tuple[int, bytes, str, float]:
    cmd = [binary, "export", *inputs, "--format", "arrow", "--out", "-", "--quiet", *args]
    t0 = time.monotonic()
    try:
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False)
    except OSError as e:
        return 127, b"", f"cannot run {binary}: {e}", time.monotonic() - t0
    return proc.returncode, proc.stdout, proc.stderr.decode(errors="replace"), time.monotonic() - t0


def capture_rows(cap: dict, binary_spec, args: list[str], files=None):
    """One capture on an executor: the rows of RAW_SCHEMA. `files` are (uri, bytes) pairs
    when Spark read them (they are written to a temporary folder first)."""
    inputs = " ".join(cap["uris"])
    base = {"capture": cap["name"], "inputs": inputs}
    try:
        if cap.get("error"):
            return [dict(base, tbl=None, nrows=None, arrow=None, exit_code=None,
                         message=cap["error"], seconds=0.0)]
        binary = resolve_binary(binary_spec)
        with tempfile.TemporaryDirectory(prefix="teardown-") as tmp:
            if files is not None:
                folder = os.path.join(tmp, cap["name"])
                os.mkdir(folder)
                paths = []
                for i, (uri, content) in enumerate(sorted(files)):
                    p = os.path.join(folder, f"{i:05d}-{posixpath.basename(uri)}")
                    with open(p, "wb") as f:
                        f.write(content)
                    paths.append(p)
            else:
                paths = cap["paths"]
            code, out, err, secs = run_teardown(binary, paths, args)
        if code != 0:
            msg = err.strip() or f"teardown exited with status {code}"
            return [dict(base, tbl=None, nrows=None, arrow=None, exit_code=code,
                         message=msg[-4000:], seconds=secs)]
        return [dict(base, tbl=t, nrows=n, arrow=b, exit_code=0, message=None, seconds=secs)
                for t, n, b in split_streams(out)]
    except Exception as e:  # a failure of this capture, not of the job
        return [dict(base, tbl=None, nrows=None, arrow=None, exit_code=None,
                     message=f"{type(e).__name__}: {e}"[-4000:], seconds=0.0)]


# --------------------------------------------------------------------------- schemas


def spark_arrow_type(t):
    """The Arrow type Spark exchanges for a teardown column type, and its Spark SQL name."""
    import pyarrow as pa

    if pa.types.is_int64(t):
        return pa.int64(), "bigint"
    if pa.types.is_int32(t):
        return pa.int32(), "int"
    if pa.types.is_float64(t):
        return pa.float64(), "double"
    if pa.types.is_boolean(t):
        return pa.bool_(), "boolean"
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return pa.string(), "string"
    if pa.types.is_timestamp(t):
        return pa.timestamp("us", tz="UTC"), "timestamp"
    raise TypeError(f"no Spark type for Arrow type {t}")


def table_schemas(streams: dict[str, bytes]):
    """{table: (arrow schema as Spark takes it, Spark DDL)} from each table's Arrow stream."""
    import pyarrow as pa
    import pyarrow.ipc

    out = {}
    for table, data in streams.items():
        schema = pa.ipc.open_stream(pa.BufferReader(data)).schema
        fields, ddl = [], []
        for f in schema:
            at, st = spark_arrow_type(f.type)
            fields.append(pa.field(f.name, at, nullable=True))
            ddl.append(f"`{f.name}` {st}")
        out[table] = (pa.schema(fields), ", ".join(ddl))
    return out


def decoder(arrow_schema):
    """mapInArrow: (capture, arrow) rows of one table -> its typed rows and a capture column."""

    def decode(batches):
        import pyarrow as pa
        import pyarrow.compute as pc
        import pyarrow.ipc

        target = arrow_schema.append(pa.field("capture", pa.string()))
        for batch in batches:
            caps = batch.column("capture").to_pylist()
            blobs = batch.column("arrow").to_pylist()
            for cap, blob in zip(caps, blobs):
                for rb in pa.ipc.open_stream(pa.BufferReader(blob)):
                    cols = [
                        pc.cast(rb.column(f.name), f.type, safe=False) for f in arrow_schema
                    ]
                    cols.append(pa.array([cap] * rb.num_rows, pa.string()))
                    yield pa.RecordBatch.from_arrays(cols, schema=target)

    return decode


# --------------------------------------------------------------------------- driver


class Hadoop:
    """Listing, deleting and writing through Hadoop's FileSystem, so any URI Spark knows."""

    def __init__(self, spark):
        self.jvm = spark._jvm
        self.conf = spark._jsc.hadoopConfiguration()

    def path(self, uri):
        return self.jvm.org.apache.hadoop.fs.Path(uri)

    def fs(self, p):
        return p.getFileSystem(self.conf)

    def qualify(self, uri: str) -> str:
        p = self.path(uri)
        return self.fs(p).makeQualified(p).toString()

    def glob(self, pattern: str):
        """[(uri, [file uris])] for each match, a folder giving its visible files."""
        p = self.path(pattern)
        fs = self.fs(p)
        out = []
        for st in fs.globStatus(p) or []:
            uri = st.getPath().toString()
            if st.isDirectory():
                files = sorted(
                    s.getPath().toString()
                    for s in fs.listStatus(st.getPath())
                    if s.isFile() and not s.getPath().getName().startswith((".", "_"))
                )
                out.append((uri, files))
            else:
                out.append((uri, [uri]))
        return out

    def delete(self, uri: str):
        p = self.path(uri)
        self.fs(p).delete(p, True)

    def mkdirs(self, uri: str):
        p = self.path(uri)
        self.fs(p).mkdirs(p)

    def write_bytes(self, uri: str, data: bytes):
        p = self.path(uri)
        stream = self.fs(p).create(p, True)
        try:
            stream.write(bytearray(data))
        finally:
            stream.close()


def list_captures(hadoop: Hadoop, spec: str) -> list[dict]:
    """The captures of --captures: [{name, source, uris, error}]."""
    entries: list[tuple[str | None, str]] = []
    if spec.startswith("@"):
        with open(spec[1:], encoding="utf-8") as f:
            for line in f:
                line = line.split("#", 1)[0].strip()
                if not line:
                    continue
                name, _, uri = line.rpartition("\t")
                entries.append((name.strip() or None, uri.strip()))
    else:
        entries = [(None, s.strip()) for s in spec.split(",") if s.strip()]
    found: list[tuple[str | None, str, list[str], str | None]] = []
    for name, pattern in entries:
        matches = hadoop.glob(hadoop.qualify(pattern))
        if not matches:
            found.append((name, pattern, [], f"no input matches {pattern}"))
        for uri, files in matches:
            err = None if files else f"folder {uri} holds no file"
            found.append((name if len(matches) == 1 else None, uri, files, err))
    # Several globs may match the same capture: once is enough.
    seen, unique = set(), []
    for f in found:
        if f[1] not in seen:
            seen.add(f[1])
            unique.append(f)
    auto = name_captures([u for _, u, _, _ in unique])
    caps = []
    for (name, uri, files, err), default in zip(unique, auto):
        caps.append({"name": partition_name(name) if name else default, "source": uri,
                     "uris": files, "error": err})
    names = [c["name"] for c in caps]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise SystemExit(f"teardown_campaign: two captures named {', '.join(dup)}: "
                         "name them in a list file (NAME<TAB>URI)")
    return caps


def local_path(uri: str) -> str | None:
    u = urlparse(uri)
    if u.scheme in ("", "file"):
        return unquote(u.path)
    return None


def binary_spec(spark, teardown: str | None):
    """How the executors find the binary: shipped with SparkFiles, or on their PATH."""
    if teardown:
        if not urlparse(teardown).scheme:
            teardown = os.path.abspath(teardown)
        spark.sparkContext.addFile(teardown)
        return ("shipped", posixpath.basename(urlparse(teardown).path or teardown))
    shipped = [f for f in spark.conf.get("spark.files", "").split(",") if f]
    if any(posixpath.basename(urlparse(f).path) == "teardown" for f in shipped):
        return ("shipped", "teardown")
    return ("installed", "teardown")


def probe_schemas(spark, spec, args):
    """One tiny task: the binary's Arrow streams for an empty capture (the fixed schema)."""

    def probe(_):
        with tempfile.TemporaryDirectory(prefix="teardown-schema-") as tmp:
            path = os.path.join(tmp, "empty.pcap")
            with open(path, "wb") as f:
                f.write(empty_pcap())
            code, out, err, _ = run_teardown(resolve_binary(spec), [path], args)
        if code != 0:
            raise RuntimeError(f"teardown on an empty capture: exit {code}: {err}")
        return [(t, b) for t, _, b in split_streams(out)]

    streams = spark.sparkContext.parallelize([0], 1).flatMap(probe).collect()
    return dict(streams)


def run_campaign(spark, captures: str, out: str, teardown: str | None = None,
                 threads: int | None = None, frames: bool = False,
                 ship_bytes: bool = False, log=print) -> dict:
    """Runs the campaign; returns {"captures", "failures", "rows", "tables"}."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    conf = {
        "spark.sql.sources.partitionOverwriteMode": "dynamic",
        "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.execution.arrow.useLargeVarTypes": "false",
    }
    for k, v in conf.items():
        spark.conf.set(k, v)
    sc = spark.sparkContext
    if __name__ != "__main__":
        # Imported (a test, a notebook): the tasks' functions live in this module, which
        # the executors need too (run as a script, they travel with the tasks).
        sc.addPyFile(os.path.abspath(__file__))
    hadoop = Hadoop(spark)
    out = hadoop.qualify(out).rstrip("/")
    caps = list_captures(hadoop, captures)
    if not caps:
        raise SystemExit(f"teardown_campaign: no capture matches {captures}")
    if threads is None:
        threads = int(spark.conf.get("spark.task.cpus", "1"))
    args = ["--threads", str(threads)] + (["--frames"] if frames else [])
    spec = binary_spec(spark, teardown)
    schemas = table_schemas(probe_schemas(spark, spec, args))

    local = not ship_bytes and all(
        local_path(u) is not None for c in caps for u in c["uris"]
    )
    for c in caps:
        c["paths"] = [local_path(u) for u in c["uris"]] if local else None
    n = len(caps)
    log(f"teardown_campaign: {n} captures, {'paths' if local else 'bytes read by Spark'}, "
        f"{threads} thread(s) a task, out {out}")
    if local:
        rdd = sc.parallelize(list(enumerate(caps)), n).flatMap(
            lambda ic: capture_rows(ic[1], spec, args))
    else:
        index = {u: i for i, c in enumerate(caps) for u in c["uris"]}
        uris = sorted(index)
        idx_b = sc.broadcast(index)
        caps_b = sc.broadcast(caps)
        files = (
            spark.read.format("binaryFile").load(uris).select("path", "content").rdd
            .map(lambda r: (idx_b.value[r.path], (r.path, bytes(r.content))))
        ) if uris else sc.parallelize([], 1)
        # Every capture gets its partition (one task each), with or without files.
        seeds = sc.parallelize([(i, None) for i in range(n)], n)

        def task(it):
            got: dict[int, list] = {}
            for i, f in it:
                got.setdefault(i, [])
                if f is not None:
                    got[i].append(f)
            for i, fs in got.items():
                yield from capture_rows(caps_b.value[i], spec, args, files=fs)

        rdd = files.union(seeds).partitionBy(n, lambda i: i).mapPartitions(task)

    raw = spark.createDataFrame(rdd, RAW_SCHEMA).persist()
    t0 = time.monotonic()
    summary = raw.drop("arrow").collect()
    log(f"teardown_campaign: tasks done in {time.monotonic() - t0:.1f} s")
    failed = {r.capture: r for r in summary if r.tbl is None}
    ok = sorted({r.capture for r in summary} - set(failed))
    rows = {(r.capture, r.tbl): r.nrows for r in summary if r.tbl is not None}

    # Tables: Spark writes the partitions that have rows, replacing them.
    import pyspark.sql.functions as F

    for table, (arrow_schema, ddl) in schemas.items():
        hadoop.mkdirs(f"{out}/{table}")
        if not any(rows.get((c, table)) for c in ok):
            continue
        (
            raw.where((F.col("tbl") == table) & (F.col("nrows") > 0))
            .select("capture", "arrow")
            .mapInArrow(decoder(arrow_schema), f"{ddl}, capture string")
            .write.mode("overwrite")
            .partitionBy("capture")
            .parquet(f"{out}/{table}")
        )
    # A table without rows in a capture still gets a typed file (Spark writes none).
    for table, (arrow_schema, _) in schemas.items():
        empty = pa.BufferOutputStream()
        pq.write_table(arrow_schema.empty_table(), empty)
        for c in ok:
            if (c, table) in rows and rows[(c, table)] == 0:
                part = f"{out}/{table}/capture={c}"
                hadoop.delete(part)
                hadoop.write_bytes(f"{part}/part-00000-empty.parquet", empty.getvalue().to_pybytes())
    # The last run of a capture wins.
    for c in ok:
        hadoop.delete(f"{out}/failures/capture={c}")
    for c in failed:
        for table in schemas:
            hadoop.delete(f"{out}/{table}/capture={c}")
    hadoop.mkdirs(f"{out}/failures")
    if failed:
        now = dt.datetime.now(dt.timezone.utc)
        spark.createDataFrame(
            [(r.capture, r.inputs, r.exit_code, r.message, now) for r in failed.values()],
            FAILURES_SCHEMA,
        ).write.mode("overwrite").partitionBy("capture").parquet(f"{out}/failures")
        for r in failed.values():
            log(f"teardown_campaign: FAILED {r.capture}: {r.message.splitlines()[-1] if r.message else ''}")
    raw.unpersist()
    return {"captures": caps, "failures": sorted(failed), "ok": ok, "rows": rows,
            "tables": {t: ddl for t, (_, ddl) in schemas.items()}, "out": out}


def register_views(spark, out: str, tables: dict[str, str]):
    """The campaign's tables as temporary views, with the binary's schema."""
    for table, ddl in {**tables, "failures": FAILURES_SCHEMA}.items():
        cols = ddl if "capture string" in ddl else f"{ddl}, capture string"
        spark.read.schema(cols).parquet(f"{out}/{table}").createOrReplaceTempView(table)


def read_queries(path: str = QUERIES) -> list[tuple[str, str]]:
    """[(title, sql)] from a file of `-- name: TITLE` sections."""
    out, title, lines = [], None, []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.startswith("-- name:"):
                if title:
                    out.append((title, "".join(lines).strip().rstrip(";")))
                title, lines = line[len("-- name:"):].strip(), []
            elif title is not None:
                lines.append(line)
    if title:
        out.append((title, "".join(lines).strip().rstrip(";")))
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--captures", required=True,
                    help="glob, comma-separated globs, or @LISTFILE (one URI or NAME<TAB>URI a line)")
    ap.add_argument("--out", required=True, help="dataset URI (file://, s3a://, hdfs://, ...)")
    ap.add_argument("--master", help="Spark master, e.g. local[2] (default: spark-submit's)")
    ap.add_argument("--teardown", help="teardown binary to ship to the executors "
                    "(default: one shipped with --files, else `teardown` on the executors' PATH)")
    ap.add_argument("--threads", type=int,
                    help="teardown --threads per task (default: spark.task.cpus)")
    ap.add_argument("--frames", action="store_true", help="also the ws_frames table")
    ap.add_argument("--ship-bytes", action="store_true",
                    help="Spark reads the capture files even when they are local paths")
    ap.add_argument("--no-queries", action="store_true", help="do not print the queries")
    a = ap.parse_args(argv)

    from pyspark.sql import SparkSession

    if a.master and a.master.startswith("local"):
        # The workers run the same Python as the driver.
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder.appName("teardown-campaign").config(
        "spark.ui.showConsoleProgress", "false")
    if a.master:
        builder = builder.master(a.master)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    t0 = time.monotonic()
    res = run_campaign(spark, a.captures, a.out, a.teardown, a.threads, a.frames, a.ship_bytes)
    wall = time.monotonic() - t0
    print(f"teardown_campaign: {len(res['ok'])} captures written, "
          f"{len(res['failures'])} failed, to {res['out']} in {wall:.1f} s")
    if not a.no_queries:
        register_views(spark, res["out"], res["tables"])
        for title, sql in read_queries():
            print(f"\n{title}")
            spark.sql(sql).show(100, truncate=False)
        fails = spark.table("failures").select("capture", "exit_code", "message")
        if fails.count():
            print("\nfailures")
            fails.show(100, truncate=100)
    spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
