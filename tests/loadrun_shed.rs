//! Real load runs against a server that sheds load (`samples/record_shed.sh`), over ws://
//! and over wss:// with the client's key log: the sessions established on the server at
//! each drop, as teardown counts them from the capture, against the server's own log of
//! its count at that moment (`samples/shed.truth.tsv`, `samples/shed_wss.truth.tsv`);
//! and the wss:// run without the key log, read from TLS record lengths.

mod common;

use common::*;
use std::collections::HashMap;
use teardown::loadrun::LoadRun;
use teardown::summary::drop_kind;

/// One drop or rejection in the server's log.
struct Logged {
    client_port: u16,
    kind: String,
    established: usize,
}

fn server_log(name: &str) -> Vec<Logged> {
    let text = std::fs::read_to_string(samples().join(format!("{name}.truth.tsv"))).unwrap();
    text.lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            Logged {
                client_port: f[0].parse().unwrap(),
                kind: f[1].to_string(),
                established: f[2].parse().unwrap(),
            }
        })
        .collect()
}

/// Within 2% of the server's count.
fn close_to(ours: usize, server: usize) -> bool {
    ours.abs_diff(server) as f64 <= 0.02 * server as f64
}

#[test]
fn established_at_each_drop_matches_the_servers_log() {
    check("shed", false);
}

#[test]
fn over_wss_with_the_key_log_too() {
    check("shed_wss", true);
}

/// What the server's log implies for a session without keys: verdict, initiator and
/// client-observed code. Only drops and rejections are logged; every other session is the
/// client's clean close, whose code is unreadable without keys.
fn implied_without_keys(kind: Option<&str>) -> (&'static str, &'static str, Option<u16>) {
    match kind {
        Some("rst") => ("server_rst_no_close", "server", Some(1006)),
        Some("fin") => ("server_fin_no_close", "server", Some(1006)),
        Some(k) if k.starts_with("close ") => ("server_close_encrypted", "server", None),
        Some(k) if k.starts_with("http ") => ("handshake_rejected", "server", Some(1006)),
        Some(k) => panic!("unknown kind {k:?} in the server's log"),
        None => ("client_close_encrypted", "client", None),
    }
}

#[test]
fn over_wss_without_keys_from_record_lengths() {
    let log = server_log("shed_wss");
    let capture = samples().join("shed_wss").join("shed_wss.pcap");
    let a = teardown::analyze(&[capture], &teardown::Options::default()).unwrap();
    assert!(a
        .sessions
        .iter()
        .all(|s| s.tls.as_ref().is_some_and(|t| !t.decrypted)));
    let kinds: HashMap<u16, &str> = log
        .iter()
        .map(|l| (l.client_port, l.kind.as_str()))
        .collect();
    let mut hits = 0;
    let mut misses = Vec::new();
    for s in &a.sessions {
        let (verdict, initiator, code) = implied_without_keys(kinds.get(&s.client.port()).copied());
        let got = (
            s.verdict.as_str(),
            s.teardown_initiator.as_str(),
            s.client_observed_code,
        );
        if got == (verdict, initiator, code) {
            hits += 1;
        } else {
            misses.push(format!("port {}: {got:?}, not {verdict}", s.client.port()));
        }
    }
    println!(
        "shed_wss without keys: {hits} of {} sessions",
        a.sessions.len()
    );
    // The client made 150 calls; every one is a session.
    assert_eq!(a.sessions.len(), 150);
    assert!(
        hits * 100 >= 95 * a.sessions.len(),
        "{hits} of {}: {misses:#?}",
        a.sessions.len()
    );

    // The concurrency of each logged drop and rejection, as without keys it is counted.
    let by_port: HashMap<u16, &teardown::Session> =
        a.sessions.iter().map(|s| (s.client.port(), s)).collect();
    let within = log
        .iter()
        .filter(|l| {
            by_port[&l.client_port]
                .established_at_teardown
                .is_some_and(|n| close_to(n, l.established))
        })
        .count();
    assert!(
        within * 100 >= 95 * log.len(),
        "{within} of {} within 2%",
        log.len()
    );
}

/// Checks the recording `samples/NAME/NAME.pcap` (with `NAME.keylog` when `tls`).
fn check(name: &str, tls: bool) {
    let log = server_log(name);
    assert!(log.len() >= 50, "{} drops in the log", log.len());
    let capture = samples().join(name).join(format!("{name}.pcap"));
    let keylog = tls.then(|| samples().join(name).join(format!("{name}.keylog")));
    let opts = teardown::Options {
        keylog: keylog.clone(),
        ..teardown::Options::default()
    };
    let a = teardown::analyze(std::slice::from_ref(&capture), &opts).unwrap();
    if tls {
        assert!(a
            .sessions
            .iter()
            .all(|s| s.tls.as_ref().is_some_and(|t| t.decrypted)));
    }
    let by_port: HashMap<u16, &teardown::Session> =
        a.sessions.iter().map(|s| (s.client.port(), s)).collect();
    let mut within = 0;
    for l in &log {
        let s = by_port[&l.client_port];
        assert!(s.server_dropped(), "port {}: {}", l.client_port, s.verdict);
        let kind = match l.kind.as_str() {
            "rst" => "server_rst_no_close".to_string(),
            "fin" => "server_fin_no_close".to_string(),
            k => k.replace("http", "HTTP"),
        };
        assert_eq!(drop_kind(s), kind, "port {}", l.client_port);
        within += usize::from(close_to(s.established_at_teardown.unwrap(), l.established));
    }
    // The issue asks for 95%; the recording gives every one exactly.
    assert!(
        within * 100 >= 95 * log.len(),
        "{within} of {} within 2%",
        log.len()
    );
    // Nothing else was dropped.
    let dropped = a.sessions.iter().filter(|s| s.server_dropped()).count();
    assert_eq!(dropped, log.len());

    // The range stated by the summary and the findings, against the log's.
    let lo = log.iter().map(|l| l.established).min().unwrap();
    let hi = log.iter().map(|l| l.established).max().unwrap();
    let load = LoadRun::of(&a);
    let d = &load.summary.server_drops[0];
    assert_eq!(d.drops, log.len());
    assert!(close_to(d.established_min, lo) && close_to(d.established_max, hi));
    let sentence = load
        .findings
        .iter()
        .find(|f| f.starts_with("Server drops on 10.99.0.2:"))
        .unwrap();
    assert!(
        sentence.contains(&format!(
            "all {} server drops happened with {} to {} established on it",
            log.len(),
            d.established_min,
            d.established_max
        )),
        "{sentence}"
    );
    assert!(load.findings.iter().all(|f| !f.contains("every load")));
    let mut args = vec!["summary".to_string(), capture.display().to_string()];
    if let Some(k) = &keylog {
        args.extend(["--keylog".to_string(), k.display().to_string()]);
    }
    let (code, text, err) = run(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(code, 0, "{err}");
    assert!(text.contains(&format!(
        "with {} to {} established on it",
        d.established_min, d.established_max
    )));
}
