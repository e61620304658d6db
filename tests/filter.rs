//! `--filter` (feature `libpcap`): a BPF expression keeps only the packets it matches, so
//! only the sessions of the port it names remain, with the verdicts they have unfiltered.

#![cfg(feature = "libpcap")]

mod common;

use common::*;

fn sessions(args: &[&str]) -> Vec<(String, String)> {
    let (code, out, err) = run(args);
    assert_eq!(code, 0, "{err}");
    let mut r = csv::Reader::from_reader(out.as_bytes());
    let h = r.headers().unwrap().clone();
    let col = |name: &str| h.iter().position(|c| c == name).unwrap();
    let (port, verdict) = (col("client_port"), col("verdict"));
    r.records()
        .map(|row| {
            let row = row.unwrap();
            (row[port].to_string(), row[verdict].to_string())
        })
        .collect()
}

#[test]
fn a_bpf_filter_keeps_only_the_sessions_it_matches() {
    let pcap = samples().join("scenarios.pcap");
    let p = pcap.to_str().unwrap();
    let all = sessions(&["sessions", "--format", "csv", "--ws-port", "8081,9999", p]);
    let kept = sessions(&[
        "sessions",
        "--format",
        "csv",
        "--ws-port",
        "8081,9999",
        "--filter",
        "tcp port 8080",
        p,
    ]);
    // The truth's sessions to port 8080, with the verdicts teardown gives unfiltered.
    let on_8080: Vec<String> = truth("scenarios.truth.tsv")
        .iter()
        .filter(|t| t.server.port() == 8080)
        .map(|t| t.client.port().to_string())
        .collect();
    let want: Vec<(String, String)> = all
        .iter()
        .filter(|(port, _)| on_8080.contains(port))
        .cloned()
        .collect();
    assert_eq!(want.len(), on_8080.len());
    assert_eq!(kept, want);
    assert!(kept.len() < all.len());
}
