//! `--payloads`: the start of each direction's first and last text message, inflated under
//! permessage-deflate, against what tshark decodes (and inflates) from the same frames.

mod common;

use common::*;
use std::collections::BTreeMap;
use std::path::Path;

/// Per (sender, receiver) `ip:port` whose messages are all single frames: the texts of its
/// text messages, in order, as tshark reads them (a direction with fragmented or binary
/// messages is left out).
fn tshark_texts(file: &Path) -> BTreeMap<(String, String), Vec<String>> {
    let fields = [
        "ip.src",
        "tcp.srcport",
        "ip.dst",
        "tcp.dstport",
        "websocket.opcode",
        "websocket.fin",
        "websocket.payload.text",
    ];
    let mut out: BTreeMap<_, Vec<String>> = BTreeMap::new();
    let mut fragmented = Vec::new();
    for f in tshark_fields(file, "websocket", &fields) {
        let key = (format!("{}:{}", f[0], f[1]), format!("{}:{}", f[2], f[3]));
        let fin = f[5] == "1" || f[5] == "True";
        match f[4].as_str() {
            "1" if fin => out.entry(key).or_default().push(f[6].clone()),
            "0" | "1" | "2" => fragmented.push(key),
            _ => {}
        }
    }
    for key in fragmented {
        out.remove(&key);
    }
    out
}

/// The first 64 characters, `…` when cut.
fn start(text: &str) -> String {
    let mut s: String = text.chars().take(64).collect();
    if text.chars().count() > 64 {
        s.push('…');
    }
    s
}

#[test]
fn first_and_last_text_messages_equal_tsharks_inflated_text() {
    if tshark_missing("first_and_last_text_messages_equal_tsharks_inflated_text") {
        return;
    }
    let file = samples().join("scenarios.pcap");
    let theirs = tshark_texts(&file);
    let (code, json, err) = run(&[
        "sessions",
        "--format",
        "json",
        "--payloads",
        file.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let sessions: serde_json::Value = serde_json::from_str(&json).unwrap();
    let mut compared = 0;
    for s in sessions.as_array().unwrap() {
        let client = format!("{}:{}", s["client_ip"].as_str().unwrap(), s["client_port"]);
        let server = format!("{}:{}", s["server_ip"].as_str().unwrap(), s["server_port"]);
        for (dir, key) in [
            ("c2s", (client.clone(), server.clone())),
            ("s2c", (server, client)),
        ] {
            let texts = |event: &str| -> Vec<String> {
                s["timeline"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|e| e["event"] == event && e["direction"] == dir)
                    .filter_map(|e| e["text"].as_str().map(String::from))
                    .collect()
            };
            let (first, last) = (texts("first_message"), texts("last_message"));
            let Some(want) = theirs.get(&key) else {
                continue;
            };
            assert_eq!(first, vec![start(&want[0])], "{key:?}");
            if want.len() > 1 {
                assert_eq!(last, vec![start(want.last().unwrap())], "{key:?}");
            }
            compared += 1;
        }
    }
    assert!(compared >= 10, "only {compared} directions with text");
    // Without the option, no text from the capture is in the output.
    let (_, plain, _) = run(&["sessions", "--format", "json", file.to_str().unwrap()]);
    assert!(!plain.contains("\"text\""));
}
