//! Oracle: the WebSocket frames we decode (count per opcode and direction, close codes)
//! equal what Wireshark's tshark decodes, connection by connection, on every sample and on
//! the public WebSocket captures in ../shared/captures; on the wss:// samples, both
//! decrypting with the recording's key log.

mod common;

use common::*;
use std::path::{Path, PathBuf};

fn compare(name: &str, paths: &[PathBuf]) {
    compare_keyed(name, paths, None);
}

/// [`compare`], teardown and tshark both decrypting with `keylog` when given.
fn compare_keyed(name: &str, paths: &[PathBuf], keylog: Option<&Path>) {
    let opts = teardown::Options {
        keylog: keylog.map(Path::to_path_buf),
        ..teardown::Options::default()
    };
    let ours = our_frames(&teardown::analyze(paths, &opts).expect("analysis"));
    // tshark reads one file: a rotated set is merged first (mergecap, from Wireshark too),
    // since connections cross the file boundaries.
    let dir = tempfile::tempdir().unwrap();
    let one = if let [p] = paths {
        p.clone()
    } else {
        let merged = dir.path().join("merged.pcap");
        let st = std::process::Command::new("mergecap")
            .arg("-F")
            .arg("pcap")
            .arg("-w")
            .arg(&merged)
            .args(paths)
            .status()
            .unwrap();
        assert!(st.success(), "mergecap failed");
        merged
    };
    let theirs = tshark_frames_keyed(&one, keylog);
    assert!(
        !theirs.is_empty(),
        "{name}: tshark decoded no WebSocket frame"
    );
    let mut diffs = Vec::new();
    for (key, t) in &theirs {
        match ours.get(key) {
            Some(o) if o == t => {}
            other => diffs.push(format!(
                "{} -> {}: tshark {:?}, teardown {:?}",
                key.0, key.1, t, other
            )),
        }
    }
    for key in ours.keys().filter(|k| !theirs.contains_key(k)) {
        diffs.push(format!(
            "{} -> {}: teardown {:?}, tshark nothing",
            key.0, key.1, ours[key]
        ));
    }
    diffs.sort();
    assert!(
        diffs.is_empty(),
        "{name}: {} direction(s) differ:\n{}",
        diffs.len(),
        diffs.join("\n")
    );
    eprintln!("{name}: {} directions agree with tshark", theirs.len());
}

#[test]
fn samples_agree_with_tshark() {
    if tshark_missing("samples_agree_with_tshark") {
        return;
    }
    let mut checked = 0;
    // The plaintext captures: samples/ itself, and the ws:// ones beside the wss:// samples.
    let plain = [
        samples().join("tls/ws.pcap"),
        samples().join("shed/shed.pcap"),
    ];
    for p in std::fs::read_dir(samples())
        .unwrap()
        .map(|e| e.unwrap().path())
        .chain(plain)
    {
        if p.extension().is_some_and(|e| e == "pcap" || e == "pcapng") {
            compare(&p.display().to_string(), std::slice::from_ref(&p));
            checked += 1;
        }
    }
    let rotated: Vec<PathBuf> = std::fs::read_dir(samples().join("loadrun"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    compare("samples/loadrun", &rotated);
    assert!(
        checked >= 6,
        "expected the sample captures, found {checked}"
    );
}

#[test]
fn shared_websocket_captures_agree_with_tshark() {
    let test = "shared_websocket_captures_agree_with_tshark";
    let Some(dir) = shared_captures_with_tshark(test) else {
        return;
    };
    for name in [
        "zeek__websocket.pcap",
        "zeek__broker-websocket.pcap",
        "zeek__jupyter-websocket.pcap",
        "zeek__fragmented-http-reply.pcap",
        "zeek__two-binary-fragments.pcap",
        "zeek__reply-ping-coalesced.pcap",
        "zeek__reply-ping-separate.pcap",
        "zeek__message-too-big-status.pcap",
        "suricata-verify__websocket__basic_websockets.pcap",
        "suricata-verify__websocket-ping__input.pcap",
        "suricata-verify__websocket-control-frag__input.pcap",
    ] {
        let p = dir.join(name);
        assert!(
            p.exists(),
            "{}: missing from ../shared/captures",
            p.display()
        );
        compare(name, &[p]);
    }
}

#[test]
fn decrypted_wss_samples_agree_with_tshark() {
    // samples/tls, samples/browser and samples/shed_wss (Python, Chromium, the JVM over
    // TLS 1.2 and 1.3):
    // every capture that has a key log beside it, teardown and tshark both given it.
    if tshark_missing("decrypted_wss_samples_agree_with_tshark") {
        return;
    }
    let mut checked = 0;
    for dir in [
        samples().join("tls"),
        samples().join("browser"),
        samples().join("shed_wss"),
    ] {
        let mut pcaps: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "pcap"))
            .filter(|p| p.with_extension("keylog").exists())
            .collect();
        pcaps.sort();
        for p in pcaps {
            let keylog = p.with_extension("keylog");
            compare_keyed(
                &p.display().to_string(),
                std::slice::from_ref(&p),
                Some(&keylog),
            );
            checked += 1;
        }
    }
    assert!(
        checked >= 10,
        "expected the wss samples with key logs, found {checked}"
    );
}

/// Empty close frames (no status code) in real captures: each WebSocket's first close
/// frame and its answer as tshark reads them, against teardown's verdict, teardown start
/// and the code the client observed (1005, RFC 6455 §7.1.5).
#[test]
fn empty_close_frames_in_real_captures() {
    let test = "empty_close_frames_in_real_captures";
    let Some(dir) = shared_captures_with_tshark(test) else {
        return;
    };
    let mut checked = 0;
    for name in ["zeek__websocket.pcap", "zeek__jupyter-websocket.pcap"] {
        let p = dir.join(name);
        let closes = tshark_fields(
            &p,
            "websocket.opcode == 8",
            &[
                "frame.time_epoch",
                "ip.src",
                "tcp.srcport",
                "websocket.mask",
                "websocket.payload_length",
            ],
        );
        // One WebSocket each: the client's (masked) empty close, the server's empty answer.
        assert_eq!(closes.len(), 2, "{name}: {closes:?}");
        let (first, answer) = (&closes[0], &closes[1]);
        assert_eq!((first[3].as_str(), first[4].as_str()), ("1", "0"), "{name}");
        assert_eq!(
            (answer[3].as_str(), answer[4].as_str()),
            ("0", "0"),
            "{name}"
        );
        let client: std::net::SocketAddr = format!("{}:{}", first[1], first[2]).parse().unwrap();
        let a = teardown::analyze(std::slice::from_ref(&p), &teardown::Options::default()).unwrap();
        let s = a
            .sessions
            .iter()
            .find(|s| s.client == client)
            .unwrap_or_else(|| panic!("{name}: no session for {client}"));
        assert_eq!(s.verdict, teardown::Verdict::CleanCloseClient, "{name}");
        // No code on the wire; the close code column says 1005, as RFC 6455 §7.1.5 does.
        assert_eq!(s.first_close.as_ref().map(|c| c.code), Some(None), "{name}");
        assert_eq!(s.close_code(), Some(1005), "{name}");
        assert_eq!(s.client_observed_code, Some(1005), "{name}");
        assert_eq!(
            s.teardown_start_ts.map(|t| t.0),
            Some(epoch_ns(&first[0])),
            "{name}"
        );
        checked += 1;
    }
    assert_eq!(checked, 2);
}
