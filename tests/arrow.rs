//! `teardown export --format arrow --out -`: the Arrow IPC streams on standard output are
//! read back with polars, one stream after the other, and checked against
//! `teardown sessions --format csv` and against the Parquet export of the same capture.

mod common;
mod frames;

use common::*;
use frames::*;
use polars::prelude::*;
use std::io::Cursor;
use std::path::Path;
use std::process::Command;

/// Runs `teardown ARGS` and returns its exit code, raw stdout and stderr.
fn run_raw(args: &[&str]) -> (i32, Vec<u8>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_teardown"))
        .args(args)
        .output()
        .expect("run teardown");
    (
        out.status.code().unwrap_or(-1),
        out.stdout,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Every stream of `bytes`, in order: the table named in its schema metadata, its frame.
fn read_streams(bytes: &[u8]) -> Vec<(String, DataFrame)> {
    let mut cursor = Cursor::new(bytes);
    let mut tables = Vec::new();
    while (cursor.position() as usize) < bytes.len() {
        let mut reader = IpcStreamReader::new(&mut cursor);
        let meta = reader.custom_metadata().unwrap().expect("schema metadata");
        let table = meta
            .get(teardown::export::TABLE_METADATA_KEY)
            .expect("table name")
            .to_string();
        let df = reader.finish().unwrap();
        tables.push((table, df));
    }
    tables
}

fn arrow_export(capture: &Path, extra: &[&str]) -> Vec<(String, DataFrame)> {
    let mut args = vec![
        "export",
        capture.to_str().unwrap(),
        "--format",
        "arrow",
        "--out",
        "-",
        "--quiet",
    ];
    args.extend_from_slice(extra);
    let (code, out, err) = run_raw(&args);
    assert_eq!(code, 0, "{err}");
    read_streams(&out)
}

#[test]
fn arrow_sessions_equal_teardown_sessions_csv_row_by_row() {
    for capture in [
        samples().join("loadrun"),
        samples().join("scenarios.pcap"),
        samples().join("media/calls.pcap"),
    ] {
        let streams = arrow_export(&capture, &[]);
        let names: Vec<&str> = streams.iter().map(|(t, _)| t.as_str()).collect();
        let want: Vec<&str> = teardown::export::TABLES
            .into_iter()
            .filter(|t| *t != "ws_frames")
            .collect();
        assert_eq!(names, want, "{}", capture.display());
        let df = &streams[0].1;

        let (h, rows) = sessions_csv(&capture);
        assert_eq!(df.height(), rows.len());
        assert!(!rows.is_empty());

        for col in [
            "session_id",
            "client_port",
            "server_port",
            "handshake_status",
            "close_code",
            "client_observed_code",
            "frames_c2s",
            "frames_s2c",
            "messages_c2s",
            "messages_s2c",
        ] {
            let want: Vec<Option<i64>> = csv_col(&h, &rows, col)
                .iter()
                .map(|v| v.parse().ok())
                .collect();
            assert_eq!(ints(df, col), want, "{} {col}", capture.display());
        }
        for col in [
            "client_ip",
            "server_ip",
            "verdict",
            "teardown_initiator",
            "close_sender",
        ] {
            let want: Vec<Option<String>> = csv_col(&h, &rows, col)
                .iter()
                .map(|v| (!v.is_empty()).then(|| v.to_string()))
                .collect();
            assert_eq!(strings(df, col), want, "{} {col}", capture.display());
        }
        let reasons: Vec<Option<String>> = csv_col(&h, &rows, "close_reason")
            .iter()
            .zip(csv_col(&h, &rows, "close_sender"))
            .map(|(r, s)| (!s.is_empty()).then(|| r.to_string()))
            .collect();
        assert_eq!(strings(df, "close_reason"), reasons);
        // Timestamps: UTC, nanoseconds, as the CSV's epoch seconds.
        let c = df.column("start_ts").unwrap();
        assert_eq!(
            c.dtype(),
            &DataType::Datetime(TimeUnit::Nanoseconds, Some(TimeZone::UTC))
        );
        let got: Vec<Option<i64>> = c.datetime().unwrap().physical().iter().collect();
        let want: Vec<Option<i64>> = csv_col(&h, &rows, "start_ts")
            .iter()
            .map(|v| Some(ns(v)))
            .collect();
        assert_eq!(got, want);
    }
}

#[test]
fn arrow_tables_equal_the_parquet_export() {
    let capture = samples().join("media/turn.pcap");
    let streams = arrow_export(&capture, &["--frames"]);
    assert_eq!(streams.len(), teardown::export::TABLES.len());
    let dir = tempfile::tempdir().unwrap();
    let (code, _, err) = run(&[
        "export",
        capture.to_str().unwrap(),
        "--frames",
        "--quiet",
        "--out",
        dir.path().to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    for (table, df) in &streams {
        let path = dir
            .path()
            .join(table)
            .join("capture=turn")
            .join("part-0.parquet");
        let parquet = ParquetReader::new(std::fs::File::open(&path).unwrap())
            .finish()
            .unwrap();
        assert_eq!(df.schema(), parquet.schema(), "{table}");
        assert!(df.equals_missing(&parquet), "{table}");
    }
    // The directory export writes the same streams as files.
    let (code, _, err) = run(&[
        "export",
        capture.to_str().unwrap(),
        "--format",
        "arrow",
        "--quiet",
        "--out",
        dir.path().to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let bytes = std::fs::read(dir.path().join("rtp_streams/capture=turn/part-0.arrows")).unwrap();
    let file = read_streams(&bytes);
    assert_eq!(file.len(), 1);
    assert_eq!(file[0].0, "rtp_streams");
    assert!(file[0].1.height() > 0);
    assert!(file[0].1.equals_missing(&streams[4].1));
}

#[test]
fn empty_capture_streams_typed_empty_tables() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("empty.pcap");
    // A pcap global header (microseconds, Ethernet) and no packet.
    let mut header = Vec::new();
    for v in [
        0xa1b2_c3d4u32.to_le_bytes().as_slice(),
        &2u16.to_le_bytes(),
        &4u16.to_le_bytes(),
    ] {
        header.extend_from_slice(v);
    }
    for v in [0u32, 0, 65535, 1] {
        header.extend_from_slice(&v.to_le_bytes());
    }
    std::fs::write(&path, header).unwrap();
    let streams = arrow_export(&path, &["--frames"]);
    let full = arrow_export(&samples().join("loadrun"), &["--frames"]);
    assert_eq!(streams.len(), full.len());
    for ((t, empty), (t2, df)) in streams.iter().zip(&full) {
        assert_eq!(t, t2);
        assert_eq!(empty.height(), 0, "{t}");
        assert_eq!(empty.schema(), df.schema(), "{t}");
    }
}

#[test]
fn stdout_needs_arrow_and_unreadable_input_writes_nothing() {
    let capture = samples().join("scenarios.pcap");
    let (code, out, err) = run_raw(&["export", capture.to_str().unwrap(), "--out", "-"]);
    assert_eq!(code, 2);
    assert!(out.is_empty());
    assert!(err.contains("--out - needs --format arrow"), "{err}");

    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.pcap");
    std::fs::write(&junk, b"this is not a capture at all, not even close").unwrap();
    let (code, out, err) = run_raw(&[
        "export",
        junk.to_str().unwrap(),
        "--format",
        "arrow",
        "--out",
        "-",
    ]);
    assert_eq!(code, 2);
    assert!(out.is_empty());
    assert!(err.contains("unusable_file"), "{err}");
}
