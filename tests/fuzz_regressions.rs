//! Inputs the fuzz targets (`fuzz/fuzz_targets/`) once crashed on, replayed through the same
//! code path as their target, so `cargo test` keeps them fixed. `FUZZING.md` tells each
//! finding's cause and fix.
//!
//! Byte-input targets keep their regressions as the raw fuzz input in
//! `fuzz/regressions/<target>/`. Targets whose input is structured (decoded by `arbitrary`,
//! which this crate does not depend on) keep a small text script instead, one operation a
//! line, described at the function that replays it.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::path::PathBuf;
use std::sync::Arc;
use teardown::capture::RecordReader;
use teardown::diag::Diagnostics;
use teardown::tcp::Delivery;
use teardown::time::Timestamp;
use teardown::tls::{KeyLog, TlsConnection};
use teardown::ws::{StreamDecoder, WsEvent};
use teardown::{analyze_bytes, output, Options};

/// The files of `fuzz/regressions/<target>/`, sorted by name. Every target replayed here
/// has at least one: a missing or empty folder fails rather than passing on nothing.
fn regressions(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/regressions")
        .join(target);
    let rd = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let mut files: Vec<PathBuf> = rd
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{}: no regression inputs", dir.display());
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
            assert!(reader.position() <= data.len() as u64);
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

/// The system allocator, counting the bytes each thread holds and their high-water mark
/// (per thread, since the tests run in parallel), for the `check_alloc` bounds of the fuzz
/// targets (`fuzz/src/lib.rs`).
struct Counting;

thread_local! {
    static LIVE: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

fn grew(by: isize) {
    let _ = LIVE.try_with(|l| {
        l.set(l.get() + by);
        let _ = PEAK.try_with(|p| p.set(p.get().max(l.get())));
    });
}

// SAFETY: every call is forwarded unchanged to `System`; the counters only observe.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc(layout);
        if !p.is_null() {
            grew(layout.size() as isize);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc_zeroed(layout);
        if !p.is_null() {
            grew(layout.size() as isize);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout);
        grew(-(layout.size() as isize));
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = System.realloc(ptr, layout, new_size);
        if !p.is_null() {
            grew(new_size as isize - layout.size() as isize);
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Runs `f` and panics when this thread held more than `per_byte * input_len + slack`
/// bytes at once beyond what it held before (`fuzz_util::check_alloc`).
fn check_alloc<R>(input_len: usize, per_byte: usize, slack: usize, f: impl FnOnce() -> R) -> R {
    let base = LIVE.with(Cell::get);
    PEAK.with(|p| p.set(base));
    let r = f();
    let peak = (PEAK.with(Cell::get) - base).max(0) as usize;
    let bound = per_byte * input_len + slack;
    assert!(
        peak <= bound,
        "{peak} bytes allocated at once for {input_len} input bytes (bound {bound})"
    );
    r
}

/// `tls`: the target's input, `[keys][ctrl][len u16 BE][payload]...` (see
/// `fuzz/fuzz_targets/tls.rs`), through one `TlsConnection`, within the target's memory
/// bound.
#[test]
fn tls() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("samples/tls");
    let mut diags = Diagnostics::default();
    let text = |f: &str| std::fs::read_to_string(root.join(f)).unwrap();
    let (k12, k13) = (text("wss12.keylog"), text("wss13.keylog"));
    let logs: Vec<Arc<KeyLog>> = [k12.clone(), k13.clone(), format!("{k12}\n{k13}")]
        .iter()
        .map(|t| Arc::new(KeyLog::parse(t, "fuzz.keylog", &mut diags)))
        .collect();
    replay_all("tls", |data| {
        let Some((&keys, mut rest)) = data.split_first() else {
            return;
        };
        let keylog = match keys & 3 {
            0 => None,
            k => Some(logs[k as usize - 1].clone()),
        };
        check_alloc(data.len(), 16, 256 << 10, || {
            let mut t = TlsConnection::new(keylog);
            let mut events = Vec::new();
            let mut i = 0;
            while let Some((&ctrl, tail)) = rest.split_first() {
                let len = match tail {
                    [hi, lo, ..] => u16::from_be_bytes([*hi, *lo]) as usize,
                    _ => 0,
                };
                let tail = tail.get(2..).unwrap_or(&[]);
                let ts = Timestamp(i);
                i += 1;
                let d = usize::from(ctrl & 1);
                let dl = if ctrl & 2 != 0 {
                    rest = tail;
                    let len = (len as u64).saturating_mul(1 << (ctrl >> 2));
                    Delivery::Gap { ts, len }
                } else {
                    let (bytes, next) = tail.split_at(len.min(tail.len()));
                    rest = next;
                    Delivery::Data { ts, bytes }
                };
                t.deliver(d, dl, &mut events, &mut |_| {});
            }
            let _ = (t.outcome(), t.summary());
        });
    });
}
