//! Every session of every sample capture gets exactly the verdict and the client-observed
//! close code that the real client library reported while the capture was recorded
//! (`samples/*.truth.tsv`, written by `samples/ws_lab.py`).

mod common;

use common::*;
use std::collections::BTreeMap;
use std::path::PathBuf;
use teardown::session::Initiator;

/// Server ports of sessions that never reached the upgrade (refused, unanswered): the
/// user of the tool names them with `--ws-port`, as the test does here.
fn ports_without_upgrade(truth: &[Truth]) -> Vec<u16> {
    truth
        .iter()
        .filter(|t| {
            matches!(
                t.verdict.as_str(),
                "connect_refused" | "syn_unanswered" | "handshake_no_response"
            )
        })
        .map(|t| t.server.port())
        .collect()
}

fn check(name: &str, paths: &[PathBuf], truth_file: &str) {
    let truth = truth(truth_file);
    assert!(!truth.is_empty(), "{truth_file} is empty");
    let ws_ports = ports_without_upgrade(&truth);
    let a = analyze(paths, &ws_ports);
    let mut errors = Vec::new();
    let mut expected_sessions = 0;
    for t in &truth {
        let found: Vec<_> = a
            .sessions
            .iter()
            .filter(|s| s.client == t.client && s.server == t.server)
            .collect();
        if t.verdict == "not_websocket" {
            // A plain connection that sent nothing looks, on the wire, like a WebSocket
            // attempt that never sent its request: a session only when its port is named.
            let expect_session = ws_ports.contains(&t.server.port());
            // The truth says whether the client closed it ("then FIN"): then the client
            // started the teardown of an attempt the server never answered, and a
            // WebSocket client reports 1006 for a connection that never opened (as the
            // client library did for the refused and unanswered attempts); else it is
            // still open when the capture ends.
            let (verdict, initiator, code) = if t.detail.ends_with("then FIN") {
                ("handshake_no_response", Initiator::Client, Some(1006))
            } else {
                ("open_at_capture_end", Initiator::None, None)
            };
            let ok = match found.as_slice() {
                [] => !expect_session,
                [s] => {
                    expect_session
                        && s.c2s.payload_bytes == 0
                        && s.verdict.as_str() == verdict
                        && s.teardown_initiator == initiator
                        && s.client_observed_code == code
                }
                _ => false,
            };
            if !ok {
                errors.push(format!(
                    "{}: {} -> {}: {} session(s)",
                    t.scenario,
                    t.client,
                    t.server,
                    found.len()
                ));
            }
            expected_sessions += usize::from(expect_session);
            continue;
        }
        expected_sessions += 1;
        match found.as_slice() {
            [s] => {
                if s.verdict.as_str() != t.verdict || s.client_observed_code != t.observed {
                    errors.push(format!(
                        "{} ({} -> {}): expected {} / {:?}, got {} / {:?}",
                        t.scenario,
                        t.client,
                        t.server,
                        t.verdict,
                        t.observed,
                        s.verdict,
                        s.client_observed_code
                    ));
                }
            }
            other => errors.push(format!(
                "{}: {} sessions for {} -> {}",
                t.scenario,
                other.len(),
                t.client,
                t.server
            )),
        }
    }
    if a.sessions.len() != expected_sessions {
        errors.push(format!(
            "{} sessions found, {} expected",
            a.sessions.len(),
            expected_sessions
        ));
    }
    assert!(errors.is_empty(), "{name}:\n{}", errors.join("\n"));
}

#[test]
fn scenarios_pcap_matches_truth() {
    check(
        "scenarios.pcap",
        &[samples().join("scenarios.pcap")],
        "scenarios.truth.tsv",
    );
}

#[test]
fn scenarios_pcapng_matches_truth() {
    check(
        "scenarios.pcapng",
        &[samples().join("scenarios.pcapng")],
        "scenarios.truth.tsv",
    );
}

#[test]
fn lossy_capture_with_retransmissions_matches_truth() {
    let p = samples().join("lossy.pcap");
    check("lossy.pcap", std::slice::from_ref(&p), "lossy.truth.tsv");
    let a = analyze(&[p], &[]);
    // The exact counts are checked against tshark in tests/oracle_tcp.rs
    // (retransmissions per direction, and out-of-order segments from its fields).
    let gaps: u64 = a
        .sessions
        .iter()
        .map(|s| s.c2s.capture_gap_bytes + s.s2c.capture_gap_bytes)
        .sum();
    assert_eq!(
        gaps, 0,
        "the capture point saw every byte, so nothing may be declared lost"
    );
}

#[test]
fn rotated_load_run_matches_truth() {
    let dir = samples().join("loadrun");
    let files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert!(files.len() >= 2, "the load run is a rotated set");
    check("loadrun/", &[dir], "loadrun.truth.tsv");
}

#[test]
fn sll2_capture_matches_truth() {
    check(
        "sll2.pcap",
        &[samples().join("sll2.pcap")],
        "sll2.truth.tsv",
    );
}

#[test]
fn every_verdict_of_the_scenarios_is_covered() {
    // The recording covers every teardown kind, and teardown finds each as often as the
    // truth says (the per-session check is `scenarios_pcap_matches_truth`).
    let truth = truth("scenarios.truth.tsv");
    let count = |verdicts: &mut dyn Iterator<Item = String>| {
        verdicts.fold(BTreeMap::new(), |mut m: BTreeMap<String, usize>, v| {
            *m.entry(v).or_default() += 1;
            m
        })
    };
    let want = count(
        &mut truth
            .iter()
            .filter(|t| t.verdict != "not_websocket")
            .map(|t| t.verdict.clone()),
    );
    let a = analyze(
        &[samples().join("scenarios.pcap")],
        &ports_without_upgrade(&truth),
    );
    let got = count(
        &mut a
            .sessions
            .iter()
            .filter(|s| {
                !truth
                    .iter()
                    .any(|t| t.verdict == "not_websocket" && t.client == s.client)
            })
            .map(|s| s.verdict.as_str().to_string()),
    );
    assert_eq!(got, want);
    for v in [
        "clean_close_client",
        "clean_close_server",
        "server_close_error",
        "server_rst_no_close",
        "server_fin_no_close",
        "client_rst_no_close",
        "client_fin_no_close",
        "handshake_rejected",
        "connect_refused",
    ] {
        assert!(want.contains_key(v), "no scenario for {v}: {want:?}");
    }
}
