//! Oracle: the WebSocket frames we decode (count per opcode and direction, close codes)
//! equal what Wireshark's tshark decodes, connection by connection, on every sample and on
//! the public WebSocket captures in ../shared/captures.

mod common;

use common::*;
use std::path::PathBuf;

fn compare(name: &str, paths: &[PathBuf]) {
    let ours = our_frames(&analyze(paths, &[]));
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
    let theirs = tshark_frames(&one);
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
    if !have_tshark() {
        return skip(
            "samples_agree_with_tshark",
            "tshark is not installed (apt-get install tshark)",
        );
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
    let Some(dir) = shared_captures() else {
        return skip(test, "../shared/captures is not here");
    };
    if !have_tshark() {
        return skip(test, "tshark is not installed (apt-get install tshark)");
    }
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
