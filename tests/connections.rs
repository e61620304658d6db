//! `teardown connections`: every TCP connection of a capture is a row (sessions and the
//! others), checked against tshark's TCP streams: the same connections, and the same side
//! sending the first FIN or RST.

mod common;

use common::*;
use std::collections::BTreeMap;
use std::path::Path;

/// Per TCP connection (client, server as `ip:port`): who sent the first FIN or RST and
/// which, as tshark reads the capture. The client sent the SYN (the receiver of a SYN-ACK,
/// else the first packet's sender).
fn tshark_connections(file: &Path) -> BTreeMap<(String, String), Option<(String, String)>> {
    let fields = [
        "tcp.stream",
        "ip.src",
        "ipv6.src",
        "tcp.srcport",
        "ip.dst",
        "ipv6.dst",
        "tcp.dstport",
        "tcp.flags.syn",
        "tcp.flags.ack",
        "tcp.flags.fin",
        "tcp.flags.reset",
    ];
    struct Seg {
        src: String,
        dst: String,
        flags: [bool; 4],
    }
    let mut streams: BTreeMap<u64, Vec<Seg>> = BTreeMap::new();
    for f in tshark_fields(file, "tcp", &fields) {
        let addr = |ip4: &str, ip6: &str, port: &str| {
            if ip4.is_empty() {
                format!("[{ip6}]:{port}")
            } else {
                format!("{ip4}:{port}")
            }
        };
        let flag = |v: &str| v == "1" || v == "True";
        streams.entry(f[0].parse().unwrap()).or_default().push(Seg {
            src: addr(&f[1], &f[2], &f[3]),
            dst: addr(&f[4], &f[5], &f[6]),
            flags: [flag(&f[7]), flag(&f[8]), flag(&f[9]), flag(&f[10])],
        });
    }
    streams
        .into_values()
        .map(|segs| {
            let [syn, ack] = [0, 1];
            let client = segs
                .iter()
                .find(|s| s.flags[syn] && !s.flags[ack])
                .map(|s| s.src.clone())
                .or_else(|| {
                    segs.iter()
                        .find(|s| s.flags[syn] && s.flags[ack])
                        .map(|s| s.dst.clone())
                })
                .unwrap_or_else(|| segs[0].src.clone());
            let server = if segs[0].src == client {
                segs[0].dst.clone()
            } else {
                segs[0].src.clone()
            };
            let close = segs.iter().find(|s| s.flags[2] || s.flags[3]).map(|s| {
                let by = if s.src == client { "client" } else { "server" };
                let how = if s.flags[3] { "rst" } else { "fin" };
                (by.to_string(), how.to_string())
            });
            ((client, server), close)
        })
        .collect()
}

fn ours(file: &Path) -> Vec<BTreeMap<String, String>> {
    let (code, out, err) = run(&["connections", "--format", "csv", file.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let mut r = csv::Reader::from_reader(out.as_bytes());
    let h = r.headers().unwrap().clone();
    r.records()
        .map(|row| {
            h.iter()
                .zip(row.unwrap().iter())
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        })
        .collect()
}

#[test]
fn every_tcp_connection_is_listed_as_tshark_sees_it() {
    if tshark_missing("every_tcp_connection_is_listed_as_tshark_sees_it") {
        return;
    }
    for file in [
        samples().join("scenarios.pcap"),
        samples().join("browser/chromium12.pcap"),
        samples().join("tls/wss13.pcap"),
    ] {
        compare_with_tshark(&file);
    }
}

#[test]
fn shared_captures_list_every_connection_as_tshark_sees_it() {
    let test = "shared_captures_list_every_connection_as_tshark_sees_it";
    let Some(dir) = shared_captures_with_tshark(test) else {
        return;
    };
    // A handshake captured SYN-ACK first, a plain HTTP download, a WebSocket trace.
    // (Traces that start mid-connection are left out: there teardown tells the client by
    // its masked frames, tshark by nothing.)
    for name in [
        "zeek__handshake-reorder.pcap",
        "PcapPlusPlus__one_tcp_stream.pcap",
        "zeek__websocket.pcap",
    ] {
        compare_with_tshark(&dir.join(name));
    }
}

/// The connections of `file` against tshark's TCP streams, and its session rows against
/// `teardown sessions`.
fn compare_with_tshark(file: &Path) {
    let name = file.display().to_string();
    let rows = ours(file);
    let got: BTreeMap<(String, String), Option<(String, String)>> = rows
        .iter()
        .map(|r| {
            let end = |side: &str| {
                let ip = &r[&format!("{side}_ip")];
                let port = &r[&format!("{side}_port")];
                if ip.contains(':') {
                    format!("[{ip}]:{port}")
                } else {
                    format!("{ip}:{port}")
                }
            };
            let close = (!r["tcp_closed_by"].is_empty())
                .then(|| (r["tcp_closed_by"].clone(), r["tcp_close"].clone()));
            ((end("client"), end("server")), close)
        })
        .collect();
    assert_eq!(got.len(), rows.len(), "{name}: a connection listed twice");
    assert_eq!(got, tshark_connections(file), "{name}");

    // The session rows are the sessions, with their ids.
    let (code, sessions, _) = run(&["sessions", "--format", "csv", file.to_str().unwrap()]);
    assert_eq!(code, 0);
    let mut ids: Vec<String> = csv::Reader::from_reader(sessions.as_bytes())
        .records()
        .map(|r| r.unwrap()[0].to_string())
        .collect();
    let mut listed: Vec<String> = rows
        .iter()
        .map(|r| r["session_id"].clone())
        .filter(|id| !id.is_empty())
        .collect();
    ids.sort();
    listed.sort();
    assert_eq!(listed, ids, "{name}");
}

#[test]
fn connections_that_are_not_sessions_say_what_they_carried() {
    // The browser's HTTPS page loads are TLS connections, never sessions; the scenarios'
    // filler connections sent nothing.
    let https = ours(&samples().join("browser/chromium12.pcap"));
    let browser = std::fs::read_to_string(samples().join("browser/chromium12.truth.tsv")).unwrap();
    let plain_https: Vec<(String, String)> = browser
        .lines()
        .filter(|l| l.contains("\tnot_websocket\t"))
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            (f[1].to_string(), f[2].to_string())
        })
        .collect();
    assert!(!plain_https.is_empty());
    for (ip, port) in plain_https {
        let row = https
            .iter()
            .find(|r| r["client_ip"] == ip && r["client_port"] == port)
            .unwrap_or_else(|| panic!("{ip}:{port} not listed"));
        assert_eq!(row["protocol"], "tls", "{row:?}");
        assert_eq!(row["session_id"], "", "{row:?}");
    }
    let scenarios = ours(&samples().join("scenarios.pcap"));
    for t in truth("scenarios.truth.tsv") {
        if t.verdict == "not_websocket" {
            let row = scenarios
                .iter()
                .find(|r| r["client_port"] == t.client.port().to_string())
                .unwrap();
            assert_eq!(
                (row["protocol"].as_str(), row["session_id"].as_str()),
                ("none", "")
            );
        }
    }
}
