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
    // Session 60's timeline as `teardown timeline --format json` has it.
    let (_, one, _) = run(&[
        "timeline",
        "--format",
        "json",
        "--session",
        "60",
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
        .filter(|(_, id)| **id == Some(60))
        .map(|(e, _)| e)
        .collect();
    assert_eq!(got, want);
    let codes: Vec<i64> = ints(&events, "close_code")
        .into_iter()
        .zip(&ids)
        .filter(|(_, id)| **id == Some(60))
        .filter_map(|(c, _)| c)
        .collect();
    assert_eq!(codes.first(), Some(&1013));

    // tcp_connections: one row per session; every server reset shows in s2c_rsts.
    let tcp = read_parquet(&part(dir.path(), "tcp_connections", "loadrun", "parquet"));
    assert_eq!(tcp.height(), sessions.height());
    let rst = ints(&tcp, "s2c_rsts");
    for (v, r) in strings(&sessions, "verdict").iter().zip(&rst) {
        if v.as_deref() == Some("server_rst_no_close") {
            assert!(r.unwrap() >= 1);
        }
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
    assert_eq!(peak, Some(64));
    assert_eq!(
        ints(&conc, "started").iter().flatten().sum::<i64>(),
        sessions.height() as i64
    );

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
    // Timestamps as ISO 8601 UTC.
    let first = csv_col(&h, &rows, "start_ts")[0];
    assert!(
        first.starts_with("20") && first.ends_with('Z') && first.contains('T'),
        "{first}"
    );
}

#[test]
fn media_tables_equal_teardown_media() {
    let Some(shared) = shared_captures() else {
        eprintln!("SKIPPED media_tables_equal_teardown_media: ../shared/captures is not here");
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
