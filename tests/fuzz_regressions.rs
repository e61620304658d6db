//! Inputs the fuzz targets (`fuzz/fuzz_targets/`) once crashed on, replayed through the same
//! code path as their target, so `cargo test` keeps them fixed. `FUZZING.md` tells each
//! finding's cause and fix.
//!
//! Byte-input targets keep their regressions as the raw fuzz input in
//! `fuzz/regressions/<target>/`. Targets whose input is structured (decoded by `arbitrary`,
//! which this crate does not depend on) keep a small text script instead, one operation a
//! line, described at the function that replays it.

use std::path::PathBuf;
use teardown::capture::RecordReader;
use teardown::time::Timestamp;
use teardown::ws::{StreamDecoder, WsEvent};
use teardown::{analyze_bytes, output, Options};

/// The files of `fuzz/regressions/<target>/`, sorted by name (none when it does not exist).
fn regressions(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/regressions")
        .join(target);
    let Ok(rd) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = rd
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            let bytes = std::fs::read(&p).unwrap();
            (name, bytes)
        })
        .collect()
}

/// Runs `replay` on every regression of `target`, naming the files that panic.
fn replay_all(target: &str, replay: impl Fn(&[u8])) {
    let failed: Vec<String> = regressions(target)
        .into_iter()
        .filter(|(_, bytes)| {
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| replay(bytes))).is_err()
        })
        .map(|(name, _)| format!("fuzz/regressions/{target}/{name}"))
        .collect();
    assert!(failed.is_empty(), "panicked: {failed:?}");
}

#[test]
fn capture_reader() {
    replay_all("capture_reader", |data| {
        if let Ok(mut reader) = RecordReader::new("fuzz.pcap", 0, data) {
            for p in reader.by_ref() {
                assert!(p.orig_len as usize >= p.data.len());
            }
            assert!(reader.position() <= data.len());
        }
    });
}

#[test]
fn pipeline() {
    replay_all("pipeline", |data| {
        let opts = Options {
            threads: Some(1),
            ..Default::default()
        };
        let Ok(a) = analyze_bytes("fuzz.pcap", data.to_vec(), &opts) else {
            return;
        };
        output::write_sessions_csv(&a.sessions, false, std::io::sink()).unwrap();
        output::write_sessions_csv(&a.sessions, true, std::io::sink()).unwrap();
        output::write_sessions_json(&a.sessions, std::io::sink()).unwrap();
        output::write_sessions_table(&a.sessions, std::io::sink()).unwrap();
        output::write_summary_text(&a, std::io::sink()).unwrap();
        output::write_warnings(&a.diagnostics, std::io::sink()).unwrap();
        for s in &a.sessions {
            output::write_timeline(s, std::io::sink()).unwrap();
        }
    });
}

/// `stun`: STUN framed on a TCP stream gives the same messages however the stream is cut
/// into segments (here one byte each and whole).
#[test]
fn stun() {
    fn framed<'a>(chunks: impl Iterator<Item = &'a [u8]>) -> Vec<Vec<u8>> {
        let mut d = StreamDecoder::default();
        d.stream_started();
        let mut out = Vec::new();
        for c in chunks {
            d.feed(Timestamp(0), c, &mut out);
        }
        out.into_iter()
            .filter_map(|e| match e {
                WsEvent::Stun { bytes, .. } => Some(bytes),
                _ => None,
            })
            .collect()
    }
    replay_all("stun", |data| {
        let _ = teardown::media::stun::parse(data);
        let whole = framed(std::iter::once(data));
        assert_eq!(framed(data.chunks(1)), whole);
    });
}

/// `ws_stream` scripts: one operation a line, `feed HEX`, `gap N`, `stream_started` or
/// `expect_frames`; blank lines and `#` comments are ignored.
#[test]
fn ws_stream() {
    replay_all("ws_stream", |script| {
        let script = std::str::from_utf8(script).expect("script is text");
        let mut d = StreamDecoder::default();
        let mut out: Vec<WsEvent> = Vec::new();
        for (i, line) in script.lines().map(str::trim).enumerate() {
            let ts = Timestamp(i as i64);
            let (op, arg) = line.split_once(' ').unwrap_or((line, ""));
            match op {
                "" | "#" => {}
                "feed" => d.feed(ts, &hex(arg), &mut out),
                "gap" => d.gap(ts, arg.trim().parse().expect("gap length"), &mut out),
                "stream_started" => d.stream_started(),
                "expect_frames" => d.expect_frames(),
                other if other.starts_with('#') => {}
                other => panic!("unknown ws_stream operation {other:?}"),
            }
        }
    });
}

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex byte"))
        .collect()
}
