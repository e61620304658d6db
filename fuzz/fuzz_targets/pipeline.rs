//! The whole pipeline on arbitrary capture bytes: reader, merge, decode, reassembly,
//! WebSocket decoding, verdicts, and every output format.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::io::sink;
use teardown::{analyze_bytes, output, Options};

fuzz_target!(|data: &[u8]| {
    let opts = Options {
        threads: Some(1),
        ..Default::default()
    };
    let Ok(a) = analyze_bytes("fuzz.pcap", data.to_vec(), &opts) else {
        return;
    };
    output::write_sessions_csv(&a.sessions, false, sink()).unwrap();
    output::write_sessions_csv(&a.sessions, true, sink()).unwrap();
    output::write_sessions_json(&a.sessions, sink()).unwrap();
    output::write_sessions_table(&a.sessions, sink()).unwrap();
    output::write_summary_text(&a, sink()).unwrap();
    output::write_warnings(&a.diagnostics, sink()).unwrap();
    for s in &a.sessions {
        output::write_timeline(s, sink()).unwrap();
    }
});
