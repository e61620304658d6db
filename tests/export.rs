//! `teardown export`: the files are read back with polars and checked against
//! `teardown sessions`, `teardown media` and `teardown timeline` of the same captures.

mod common;
mod frames;

use common::*;
use frames::*;
use polars::prelude::*;
use std::fs::File;
use std::path::{Path, PathBuf};

fn read_parquet(path: &Path) -> DataFrame {
    ParquetReader::new(File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
        .finish()
        .unwrap()
}

fn part(dir: &Path, table: &str, capture: &str, ext: &str) -> PathBuf {
    dir.join(table)
        .join(format!("capture={capture}"))
        .join(format!("part-0.{ext}"))
}

fn export(args: &[&str]) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let mut all = vec!["export", "--out", dir.path().to_str().unwrap()];
    all.extend_from_slice(args);
    let (code, out, err) = run(&all);
    assert_eq!(code, 0, "{err}");
    (dir, out)
}

fn timestamps(df: &DataFrame, name: &str) -> Vec<Option<i64>> {
    let c = df.column(name).unwrap();
    assert_eq!(
        c.dtype(),
        &DataType::Datetime(TimeUnit::Nanoseconds, Some(TimeZone::UTC)),
        "{name}"
    );
    c.datetime().unwrap().physical().iter().collect()
}

#[test]
fn sessions_table_equals_teardown_sessions() {
    for (capture, name) in [
        (samples().join("loadrun"), "loadrun"),
        (samples().join("scenarios.pcap"), "scenarios"),
    ] {
        let (dir, _) = export(&[capture.to_str().unwrap()]);
        let df = read_parquet(&part(dir.path(), "sessions", name, "parquet"));
        let (h, rows) = sessions_csv(&capture);
        assert_eq!(df.height(), rows.len(), "{name}");
        let ids: Vec<Option<i64>> = csv_col(&h, &rows, "session_id")
            .iter()
            .map(|v| v.parse().ok())
            .collect();
        assert_eq!(ints(&df, "session_id"), ids);
        let verdicts: Vec<Option<String>> = csv_col(&h, &rows, "verdict")
            .iter()
            .map(|v| Some(v.to_string()))
            .collect();
        assert_eq!(strings(&df, "verdict"), verdicts, "{name}");
        // Codes are integers and an empty CSV cell is a null.
        for col in ["close_code", "client_observed_code", "handshake_status"] {
            let want: Vec<Option<i64>> = csv_col(&h, &rows, col)
                .iter()
                .map(|v| v.parse().ok())
                .collect();
            assert_eq!(ints(&df, col), want, "{name} {col}");
        }
        let reasons: Vec<Option<String>> = {
            let sender = csv_col(&h, &rows, "close_sender");
            csv_col(&h, &rows, "close_reason")
                .iter()
                .zip(sender)
                .map(|(r, s)| (!s.is_empty()).then(|| r.to_string()))
                .collect()
        };
        assert_eq!(strings(&df, "close_reason"), reasons, "{name}");
        let starts: Vec<Option<i64>> = csv_col(&h, &rows, "start_ts")
            .iter()
            .map(|v| Some(ns(v)))
            .collect();
        assert_eq!(timestamps(&df, "start_ts"), starts, "{name}");
        let teardowns: Vec<Option<i64>> = csv_col(&h, &rows, "teardown_start_ts")
            .iter()
            .map(|v| (!v.is_empty()).then(|| ns(v)))
            .collect();
        assert_eq!(timestamps(&df, "teardown_start_ts"), teardowns, "{name}");
        // Durations in ms: the CSV rounds to 3 decimals.
        let hs = df.column("handshake_ms").unwrap().f64().unwrap().clone();
        for (got, want) in hs.iter().zip(csv_col(&h, &rows, "handshake_ms")) {
            match (got, want.parse::<f64>().ok()) {
                (Some(g), Some(w)) => assert!((g - w).abs() < 0.0006, "{g} {w}"),
                (g, w) => assert_eq!(g.is_none(), w.is_none()),
            }
        }
    }
}

#[test]
fn loadrun_tables_agree_with_each_other_and_the_truth() {
    let capture = samples().join("loadrun");
    let (dir, stdout) = export(&["--frames", capture.to_str().unwrap()]);
    assert!(stdout.starts_with("exported 7 tables to "), "{stdout}");
    let sessions = read_parquet(&part(dir.path(), "sessions", "loadrun", "parquet"));
    let truth = truth("loadrun.truth.tsv");
    let resets = strings(&sessions, "verdict")
        .iter()
        .filter(|v| v.as_deref() == Some("server_rst_no_close"))
        .count();
    assert_eq!(
        resets,
        truth
            .iter()
            .filter(|t| t.verdict == "server_rst_no_close")
            .count()
    );

    // events: every timeline event of every session, one teardown start per torn-down one.
    let (code, json, _) = run(&["sessions", "--format", "json", capture.to_str().unwrap()]);
    assert_eq!(code, 0);
    let json: serde_json::Value = serde_json::from_str(&json).unwrap();
    let timelines: usize = json
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["timeline"].as_array().unwrap().len())
        .sum();
    let events = read_parquet(&part(dir.path(), "events", "loadrun", "parquet"));
    assert_eq!(events.height(), timelines);
    let starts = events
        .column("teardown_start")
        .unwrap()
        .bool()
        .unwrap()
        .iter()
        .filter(|b| *b == Some(true))
        .count();
    let torn_down = timestamps(&sessions, "teardown_start_ts")
        .iter()
        .filter(|t| t.is_some())
        .count();
    assert_eq!(starts, torn_down);
    // The first session the truth has closed with 1013 by the capped server: its
    // timeline as `teardown timeline --format json` has it, and that close code first.
    let t = truth.iter().find(|t| t.observed == Some(1013)).unwrap();
    let ports = ints(&sessions, "client_port");
    let row = ports
        .iter()
        .position(|p| *p == Some(i64::from(t.client.port())))
        .unwrap();
    let id = ints(&sessions, "session_id")[row].unwrap();
    let (_, one, _) = run(&[
        "timeline",
        "--format",
        "json",
        "--session",
        &id.to_string(),
        capture.to_str().unwrap(),
    ]);
    let one: serde_json::Value = serde_json::from_str(&one).unwrap();
    let want: Vec<Option<String>> = one["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().map(String::from))
        .collect();
    let ids = ints(&events, "session_id");
    let got: Vec<Option<String>> = strings(&events, "event")
        .into_iter()
        .zip(&ids)
        .filter(|(_, i)| **i == Some(id))
        .map(|(e, _)| e)
        .collect();
    assert_eq!(got, want);
    let codes: Vec<i64> = ints(&events, "close_code")
        .into_iter()
        .zip(&ids)
        .filter(|(_, i)| **i == Some(id))
        .filter_map(|(c, _)| c)
        .collect();
    assert_eq!(codes.first(), Some(&1013));

    // tcp_connections: one row per session; every server reset shows in s2c_rsts.
    let tcp = read_parquet(&part(dir.path(), "tcp_connections", "loadrun", "parquet"));
    assert_eq!(tcp.height(), sessions.height());
    // FIN and RST segments each way: tshark's count on the same files.
    if have_tshark() {
        let files: Vec<PathBuf> = walk(&capture);
        let client: Vec<String> = strings(&tcp, "client_ip")
            .into_iter()
            .zip(ints(&tcp, "client_port"))
            .map(|(ip, port)| format!("{}:{}", ip.unwrap(), port.unwrap()))
            .collect();
        let server: Vec<String> = strings(&tcp, "server_ip")
            .into_iter()
            .zip(ints(&tcp, "server_port"))
            .map(|(ip, port)| format!("{}:{}", ip.unwrap(), port.unwrap()))
            .collect();
        for (flag, col) in [("reset", "rsts"), ("fin", "fins")] {
            let theirs = tshark_segments(&files, &format!("tcp.flags.{flag}==1"));
            let count = |from: &String, to: &String| {
                i64::try_from(
                    theirs
                        .get(&(from.clone(), to.clone()))
                        .copied()
                        .unwrap_or(0),
                )
                .unwrap()
            };
            let c2s: Vec<i64> = client
                .iter()
                .zip(&server)
                .map(|(c, s)| count(c, s))
                .collect();
            let s2c: Vec<i64> = client
                .iter()
                .zip(&server)
                .map(|(c, s)| count(s, c))
                .collect();
            let ours =
                |name: &str| -> Vec<i64> { ints(&tcp, name).into_iter().flatten().collect() };
            assert_eq!(ours(&format!("c2s_{col}")), c2s, "c2s_{col}");
            assert_eq!(ours(&format!("s2c_{col}")), s2c, "s2c_{col}");
        }
    } else {
        skip(
            "loadrun_tables_agree_with_each_other_and_the_truth",
            "tshark is not installed",
        );
    }

    // ws_frames (asked for): the control frames and first/last messages of the timelines.
    let frames = read_parquet(&part(dir.path(), "ws_frames", "loadrun", "parquet"));
    let kinds = strings(&frames, "frame");
    let closes = kinds
        .iter()
        .filter(|k| k.as_deref() == Some("close"))
        .count();
    let close_events = strings(&events, "event")
        .iter()
        .filter(|k| k.as_deref() == Some("close"))
        .count();
    assert_eq!(closes, close_events);
    assert!(closes > 0);

    // concurrency: the step function's maximum is the independent peak.
    let conc = read_parquet(&part(dir.path(), "concurrency", "loadrun", "parquet"));
    let peak = ints(&conc, "open_sessions").iter().flatten().max().copied();
    let starts = timestamps(&sessions, "start_ts");
    let open_until = timestamps(&tcp, "open_until_ts");
    let independent = starts
        .iter()
        .map(|t| {
            starts
                .iter()
                .zip(&open_until)
                .filter(|(s, e)| *s <= t && *e > t)
                .count() as i64
        })
        .max();
    assert_eq!(peak, independent);
    assert_eq!(
        ints(&conc, "started").iter().flatten().sum::<i64>(),
        sessions.height() as i64
    );
    // Open is established plus connecting, at every step.
    let (open, established, connecting) = (
        ints(&conc, "open_sessions"),
        ints(&conc, "established"),
        ints(&conc, "connecting"),
    );
    for ((o, e), c) in open.iter().zip(&established).zip(&connecting) {
        assert_eq!(*o, Some(e.unwrap() + c.unwrap()));
    }

    // No temporary files are left anywhere: the tables and the capture's manifest.
    for entry in walk(dir.path()) {
        let name = entry.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            name == "part-0.parquet" || entry.ends_with("_manifests/capture=loadrun.json"),
            "unexpected file {}",
            entry.display()
        );
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn captures_share_one_hive_dataset_and_frames_are_opt_in() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_str().unwrap();
    for (capture, name) in [("loadrun", None), ("scenarios.pcap", Some("lab run #2"))] {
        let path = samples().join(capture);
        let mut args = vec!["export", "-q", "--out", out, path.to_str().unwrap()];
        if let Some(n) = name {
            args.extend(["--name", n]);
        }
        let (code, stdout, err) = run(&args);
        assert_eq!(code, 0, "{err}");
        assert!(stdout.is_empty(), "--quiet prints nothing: {stdout}");
    }
    let tables: Vec<String> = {
        let mut t: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|t| t != teardown::export::MANIFESTS)
            .collect();
        t.sort();
        t
    };
    assert_eq!(
        tables,
        [
            "concurrency",
            "events",
            "rtp_streams",
            "sessions",
            "stun_transactions",
            "tcp_connections"
        ]
    );
    let mut documented: Vec<&str> = teardown::export::TABLES
        .iter()
        .copied()
        .filter(|t| *t != "ws_frames")
        .collect();
    documented.sort();
    assert_eq!(tables, documented);
    let mut total = 0;
    for (part_name, capture) in [("loadrun", "loadrun"), ("lab_run__2", "scenarios.pcap")] {
        let df = read_parquet(&part(dir.path(), "sessions", part_name, "parquet"));
        let (_, rows) = sessions_csv(&samples().join(capture));
        assert_eq!(df.height(), rows.len());
        total += df.height();
    }
    assert_eq!(
        total,
        100 + sessions_csv(&samples().join("scenarios.pcap")).1.len()
    );
}

#[test]
fn csv_format_writes_the_same_rows() {
    let capture = samples().join("loadrun");
    let (dir, _) = export(&["--format", "csv", capture.to_str().unwrap()]);
    let path = part(dir.path(), "sessions", "loadrun", "csv");
    let mut r = csv::Reader::from_path(&path).unwrap();
    let h = r.headers().unwrap().clone();
    let rows: Vec<csv::StringRecord> = r.records().map(Result::unwrap).collect();
    let (h2, want) = sessions_csv(&capture);
    assert_eq!(rows.len(), want.len());
    assert_eq!(
        csv_col(&h, &rows, "verdict"),
        csv_col(&h2, &want, "verdict")
    );
    // Timestamps as ISO 8601 UTC, the same instants as the epoch seconds of `sessions`.
    let iso = csv_col(&h, &rows, "start_ts");
    let epoch = csv_col(&h2, &want, "start_ts");
    assert_eq!(iso.len(), epoch.len());
    for (i, e) in iso.iter().zip(epoch) {
        assert_eq!(iso_ns(i), ns(e), "{i} vs {e}");
    }
}

/// `2026-11-28T12:50:17.584395000Z` as nanoseconds since the epoch.
fn iso_ns(text: &str) -> i64 {
    let (date, time) = text
        .strip_suffix('Z')
        .and_then(|t| t.split_once('T'))
        .unwrap_or_else(|| panic!("not ISO 8601 UTC: {text}"));
    let d: Vec<i64> = date.split('-').map(|v| v.parse().unwrap()).collect();
    let (hms, frac) = time.split_once('.').unwrap_or((time, "0"));
    let t: Vec<i64> = hms.split(':').map(|v| v.parse().unwrap()).collect();
    // Days from 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil).
    let (y, m) = if d[1] <= 2 {
        (d[0] - 1, d[1] + 9)
    } else {
        (d[0], d[1] - 3)
    };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * m + 2) / 5 + d[2] - 1;
    let days = era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468;
    let nanos: i64 = format!("{frac:0<9}")[..9].parse().unwrap();
    ((days * 24 + t[0]) * 60 + t[1]) * 60_000_000_000 + t[2] * 1_000_000_000 + nanos
}

#[test]
fn media_tables_equal_teardown_media() {
    let Some(shared) = shared_captures_for("media_tables_equal_teardown_media") else {
        return;
    };
    let capture = shared.join("srtp_decoder__webrtc_opus_p2p.pcap");
    let (code, media, err) = run(&["media", "--format", "csv", capture.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let mut r = csv::Reader::from_reader(media.as_bytes());
    let h = r.headers().unwrap().clone();
    let rows: Vec<csv::StringRecord> = r.records().map(Result::unwrap).collect();
    let kinds = csv_col(&h, &rows, "kind");
    let (dir, _) = export(&[capture.to_str().unwrap()]);
    let name = "srtp_decoder__webrtc_opus_p2p";
    let rtp = read_parquet(&part(dir.path(), "rtp_streams", name, "parquet"));
    let stun = read_parquet(&part(dir.path(), "stun_transactions", name, "parquet"));
    assert_eq!(rtp.height(), kinds.iter().filter(|k| **k == "rtp").count());
    assert_eq!(
        stun.height(),
        kinds.iter().filter(|k| **k == "stun").count()
    );
    assert!(rtp.height() > 0 && stun.height() > 0);
    // Same streams, same counts, in the same order as `teardown media`.
    let rtp_rows: Vec<&csv::StringRecord> = rows.iter().filter(|r| &r[0] == "rtp").collect();
    let ssrc_i = h.iter().position(|c| c == "ssrc").unwrap();
    let packets_i = h.iter().position(|c| c == "packets").unwrap();
    let lost_i = h.iter().position(|c| c == "lost").unwrap();
    let want: Vec<(Option<i64>, Option<i64>, Option<i64>)> = rtp_rows
        .iter()
        .map(|r| {
            (
                r[ssrc_i].parse().ok(),
                r[packets_i].parse().ok(),
                r[lost_i].parse().ok(),
            )
        })
        .collect();
    let got: Vec<(Option<i64>, Option<i64>, Option<i64>)> = ints(&rtp, "ssrc")
        .into_iter()
        .zip(ints(&rtp, "packets"))
        .zip(ints(&rtp, "lost"))
        .map(|((a, b), c)| (a, b, c))
        .collect();
    assert_eq!(got, want);
    let req_i = h.iter().position(|c| c == "stun_requests").unwrap();
    let want: Vec<Option<i64>> = rows
        .iter()
        .filter(|r| &r[0] == "stun")
        .map(|r| r[req_i].parse().ok())
        .collect();
    assert_eq!(ints(&stun, "requests"), want);
}

/// `samples/scenarios.pcap` with the server's close reason "going away" (unmasked on the
/// wire) replaced by a spreadsheet formula of the same length.
fn capture_with_formula(dir: &Path) -> PathBuf {
    let bytes = std::fs::read(samples().join("scenarios.pcap")).unwrap();
    let (from, to) = (b"going away", b"=1+2+3+4+5");
    let mut out = bytes.clone();
    let mut hits = 0;
    for i in 0..bytes.len() - from.len() {
        if &bytes[i..i + from.len()] == from {
            out[i..i + from.len()].copy_from_slice(to);
            hits += 1;
        }
    }
    assert!(hits > 0, "no close reason to replace");
    let path = dir.join("formula.pcap");
    std::fs::write(&path, out).unwrap();
    path
}

/// Cells of `column` in a CSV text that hold the formula, neutralised or not.
fn formula_cells(csv_text: &str, column: &str) -> (usize, usize) {
    let mut r = csv::Reader::from_reader(csv_text.as_bytes());
    let h = r.headers().unwrap().clone();
    let rows: Vec<_> = r.records().map(Result::unwrap).collect();
    let cells = csv_col(&h, &rows, column);
    let safe = cells.iter().filter(|c| **c == "'=1+2+3+4+5").count();
    let raw = cells.iter().filter(|c| **c == "=1+2+3+4+5").count();
    (safe, raw)
}

#[test]
fn every_csv_neutralises_formulas_unless_raw() {
    let tmp = tempfile::tempdir().unwrap();
    let capture = capture_with_formula(tmp.path());
    let capture = capture.to_str().unwrap();
    let (code, out, err) = run(&["sessions", "--format", "csv", capture]);
    assert_eq!(code, 0, "{err}");
    let (safe, raw) = formula_cells(&out, "close_reason");
    assert!(safe > 0, "{out}");
    assert_eq!(raw, 0);
    let (code, out, _) = run(&["sessions", "--format", "csv", "--csv-raw", capture]);
    assert_eq!(code, 0);
    assert_eq!(formula_cells(&out, "close_reason"), (0, safe));

    for raw_flag in [false, true] {
        let mut args = vec!["--format", "csv", "--frames", capture];
        if raw_flag {
            args.push("--csv-raw");
        }
        let (dir, _) = export(&args);
        for table in ["sessions", "events", "ws_frames"] {
            let text = std::fs::read_to_string(part(dir.path(), table, "formula", "csv")).unwrap();
            let (s, r) = formula_cells(&text, "close_reason");
            if raw_flag {
                assert_eq!((s, r.min(1)), (0, 1), "{table} --csv-raw");
            } else {
                assert_eq!((s.min(1), r), (1, 0), "{table}");
            }
        }
    }
}

/// The README's column table of `table`: (name, type) in order.
fn readme_columns(table: &str) -> Vec<(String, String)> {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let open = format!("<!-- columns:{table} -->");
    let start = readme
        .find(&open)
        .unwrap_or_else(|| panic!("README: no {open}"));
    let end = readme[start..].find("<!-- /columns:").unwrap() + start;
    readme[start..end]
        .lines()
        .filter_map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            let name = cells.get(1)?.strip_prefix('`')?.strip_suffix('`')?;
            Some((name.to_string(), cells[2].to_string()))
        })
        .collect()
}

#[test]
fn parquet_schemas_are_the_readme_tables() {
    let capture = samples().join("loadrun");
    let (dir, _) = export(&["--frames", capture.to_str().unwrap()]);
    for table in [
        "sessions",
        "events",
        "tcp_connections",
        "ws_frames",
        "rtp_streams",
        "stun_transactions",
        "concurrency",
    ] {
        let df = read_parquet(&part(dir.path(), table, "loadrun", "parquet"));
        let got: Vec<(String, String)> = df
            .columns()
            .iter()
            .map(|c| {
                let ty = match c.dtype() {
                    DataType::Int32 => "int32",
                    DataType::Int64 => "int64",
                    DataType::Float64 => "float64",
                    DataType::Boolean => "bool",
                    DataType::String => "text",
                    DataType::Datetime(TimeUnit::Nanoseconds, Some(tz)) if tz.as_str() == "UTC" => {
                        "timestamp"
                    }
                    other => panic!("{table}.{}: unexpected type {other}", c.name()),
                };
                (c.name().to_string(), ty.to_string())
            })
            .collect();
        assert_eq!(got, readme_columns(table), "{table}");
    }
}

/// TCP segments matching `filter` in `files`, per (sender, receiver) as `ip:port`.
fn tshark_segments(
    files: &[PathBuf],
    filter: &str,
) -> std::collections::HashMap<(String, String), u64> {
    let mut out = std::collections::HashMap::new();
    let fields = ["ip.src", "tcp.srcport", "ip.dst", "tcp.dstport"];
    for file in files {
        for f in tshark_fields(file, filter, &fields) {
            *out.entry((format!("{}:{}", f[0], f[1]), format!("{}:{}", f[2], f[3])))
                .or_default() += 1;
        }
    }
    out
}

/// A capture's partitions change together. An export that fails part-way (here a table's
/// folder cannot be made; a full disk is the same) leaves the previous export of that
/// capture whole, with its manifest and no temporary files; a rerun without `--frames`
/// drops the old `ws_frames` partition; stale temporaries of a killed run are removed.
#[test]
fn a_capture_is_exported_as_a_whole_or_not_at_all() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_str().unwrap();
    let scenarios = samples().join("scenarios.pcap");
    let loadrun = samples().join("loadrun");
    let export = |input: &Path, extra: &[&str]| {
        let mut args = vec!["export", "-q", "--out", out, "--name", "x"];
        args.extend_from_slice(extra);
        args.push(input.to_str().unwrap());
        run(&args)
    };
    let (code, _, err) = export(&scenarios, &["--frames"]);
    assert_eq!(code, 0, "{err}");
    let sessions = part(dir.path(), "sessions", "x", "parquet");
    let first = std::fs::read(&sessions).unwrap();
    let manifest = dir.path().join("_manifests/capture=x.json");
    let m1 = std::fs::read_to_string(&manifest).unwrap();
    assert!(m1.contains("\"ws_frames\""), "{m1}");

    // The last table cannot be written: nothing of the second run may show.
    let blocked = dir.path().join("concurrency");
    std::fs::remove_dir_all(&blocked).unwrap();
    std::fs::write(&blocked, "in the way").unwrap();
    let (code, _, err) = export(&loadrun, &[]);
    assert_ne!(code, 0);
    assert!(err.contains("concurrency"), "{err}");
    assert_eq!(
        std::fs::read(&sessions).unwrap(),
        first,
        "sessions is still the first run's"
    );
    assert!(part(dir.path(), "ws_frames", "x", "parquet").exists());
    assert_eq!(std::fs::read_to_string(&manifest).unwrap(), m1);

    // A killed run's leftovers are cleaned; the rerun replaces every partition.
    std::fs::remove_file(&blocked).unwrap();
    let events = dir.path().join("events/capture=x");
    std::fs::write(events.join(".tmp-abc.partial"), "half").unwrap();
    std::fs::create_dir_all(dir.path().join("events/.capture=x.staging")).unwrap();
    let (code, _, err) = export(&loadrun, &[]);
    assert_eq!(code, 0, "{err}");
    assert_ne!(std::fs::read(&sessions).unwrap(), first);
    assert!(!dir.path().join("ws_frames/capture=x").exists());
    let m2 = std::fs::read_to_string(&manifest).unwrap();
    assert!(
        !m2.contains("ws_frames") && m2.contains("\"concurrency\""),
        "{m2}"
    );
    for entry in walk(dir.path()) {
        let name = entry.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            name == "part-0.parquet" || name == "capture=x.json",
            "{}",
            entry.display()
        );
    }
    for table in ["events", "sessions"] {
        let hidden: Vec<_> = std::fs::read_dir(dir.path().join(table))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .filter(|n| n.to_string_lossy().starts_with('.'))
            .collect();
        assert!(hidden.is_empty(), "{table}: {hidden:?}");
    }
}
