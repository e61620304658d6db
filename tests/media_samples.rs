//! Real WebRTC calls (aiortc peers, coturn, samples/media): every call's verdict, its
//! media joined by ICE ufrag with the SSRCs the recorder logged, relaying through TURN, and
//! the media findings, against samples/media/truth.tsv.

mod common;

use common::*;
use std::collections::{BTreeMap, HashMap};
use teardown::flow::MediaEventKind;
use teardown::media::demux::Kind;
use teardown::session::EventKind;

fn truth_rows() -> Vec<HashMap<String, String>> {
    let text = std::fs::read_to_string(samples().join("media/truth.tsv")).unwrap();
    let mut lines = text.lines();
    let header: Vec<String> = lines
        .next()
        .unwrap()
        .split('\t')
        .map(String::from)
        .collect();
    lines
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            header
                .iter()
                .cloned()
                .zip(l.split('\t').map(String::from))
                .collect()
        })
        .collect()
}

/// The RTP legs of `file` in `samples/media/stats.txt` (written by the recording, with
/// its own RTP parser): (sender, SSRC) → (packets, lost).
fn recorded_legs(file: &str) -> BTreeMap<(String, u32), (u64, i64)> {
    let text = std::fs::read_to_string(samples().join("media/stats.txt")).unwrap();
    let section = text
        .split("=== ")
        .find(|s| s.starts_with(&format!("{file}:")))
        .unwrap_or_else(|| panic!("stats.txt has no {file}"));
    section
        .lines()
        .skip_while(|l| !l.starts_with("-- RTP legs"))
        .skip(2)
        .take_while(|l| !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let ssrc = u32::from_str_radix(f[2].trim_start_matches("0x"), 16).unwrap();
            (
                (f[0].to_string(), ssrc),
                (f[3].parse().unwrap(), f[4].parse().unwrap()),
            )
        })
        .collect()
}

#[test]
fn every_call_matches_its_truth() {
    let rows = truth_rows();
    assert_eq!(rows.len(), 6);
    let mut checked = 0;
    for file in ["calls.pcap", "turn.pcap"] {
        let a = analyze(&[samples().join("media").join(file)], &[]);
        let calls: Vec<_> = rows.iter().filter(|r| r["capture"] == file).collect();
        assert_eq!(a.sessions.len(), calls.len(), "{file}");
        for r in calls {
            let call = &r["call"];
            let port: u16 = r["client_port"].parse().unwrap();
            let s = a
                .sessions
                .iter()
                .find(|s| s.client.port() == port)
                .unwrap_or_else(|| panic!("call {call}"));
            assert_eq!(s.verdict.as_str(), r["expected_verdict"], "call {call}");
            assert_eq!(
                s.client_observed_code.map(|c| c.to_string()).as_deref(),
                Some(r["client_observed_code"].as_str()),
                "call {call}"
            );
            let finding = s.media_finding.as_ref().map(|f| f.kind.as_str());
            match r["media"].as_str() {
                "no_media" => {
                    // The TURN allocation was refused (486): no RTP, and the finding says so.
                    assert_eq!(finding, Some("turn_allocation_failed"), "call {call}");
                    assert!(s.media.iter().all(|f| f.rtp.is_empty()));
                    checked += 1;
                    continue;
                }
                "media_stopped_first" => {
                    assert_eq!(finding, Some("media_stopped_first"), "call {call}")
                }
                _ => assert_eq!(finding, None, "call {call}: {:?}", s.media_finding),
            }
            assert_eq!(
                s.join_rule.map(|r| r.as_str()),
                Some("ice_ufrag"),
                "call {call}"
            );
            assert!(
                s.sdp.ufrags.contains(&r["client_ufrag"])
                    && s.sdp.ufrags.contains(&r["server_ufrag"]),
                "call {call}"
            );
            let relayed = r["relayed"] == "yes";
            for col in ["ssrc_client_to_server", "ssrc_server_to_client"] {
                let ssrc: u32 = r[col].parse().unwrap();
                let streams: Vec<_> = s
                    .media
                    .iter()
                    .flat_map(|f| &f.rtp)
                    .filter(|(_, st)| st.ssrc == ssrc)
                    .collect();
                assert!(!streams.is_empty(), "call {call}: no stream for {col}");
                assert_eq!(
                    streams.iter().any(|(_, st)| st.relayed),
                    relayed,
                    "call {call}: {col} relayed"
                );
                // Opus at 48 kHz from the SDP's a=rtpmap: jitter is known, loss is real.
                assert!(streams
                    .iter()
                    .all(|(_, st)| st.clock_rate == Some(48_000) && st.jitter_ms.is_some()));
            }
            let byes = s
                .timeline
                .iter()
                .filter(|e| matches!(&e.kind, EventKind::Media(MediaEventKind::RtcpBye { .. })))
                .count();
            assert_eq!(
                byes > 0,
                r["rtcp_bye_expected_from"] != "none",
                "call {call}"
            );
            if r["media"] == "media_after_signalling" {
                // Media went on after the server reset the WebSocket.
                let after: f64 = r["media_after_ws_teardown_s"].parse().unwrap();
                let last = s.media.iter().filter_map(|f| f.last_rtp()).max().unwrap();
                let gap = last.millis_since(s.teardown_start_ts.unwrap()) / 1000.0;
                assert!(
                    (gap - after).abs() < 0.1,
                    "call {call}: media {gap:.3} s after, truth {after}"
                );
            }
            checked += 1;
        }
        // Every RTP leg: packets and loss as the recording's own parser counted them.
        let ours: BTreeMap<(String, u32), (u64, i64)> = a
            .sessions
            .iter()
            .flat_map(|s| &s.media)
            .chain(&a.orphan_media)
            .flat_map(|f| f.rtp.iter().map(move |(from_a, st)| (f, from_a, st)))
            .map(|(f, from_a, st)| {
                let src = if *from_a { f.a } else { f.b };
                ((src.to_string(), st.ssrc), (st.packets, st.lost))
            })
            .collect();
        let legs = recorded_legs(file);
        assert!(
            legs.values().map(|l| l.1).sum::<i64>() > 0,
            "{file}: no loss"
        );
        assert_eq!(ours, legs, "{file}");
    }
    assert_eq!(checked, 6);
}

#[test]
fn text_signalling_is_not_taken_for_media() {
    let Some(dir) = shared_captures_for("text_signalling_is_not_taken_for_media") else {
        return;
    };
    // SIP over UDP on 5060 (its requests start with letters in ChannelData's first-byte
    // range) and MGCP on 2427/2727: nothing there is STUN, TURN, DTLS or RTP, so no media
    // flow is listed for those ports; the RTP of the same calls still is.
    for (name, rtp_streams) in [
        ("nDPI__sip.pcap", 1),
        ("heplify__rtp_rtcp_sip_ipv4_udp.pcap", 5),
    ] {
        let a = analyze(&[dir.join(name)], &[]);
        let flows: Vec<_> = a
            .sessions
            .iter()
            .flat_map(|s| &s.media)
            .chain(&a.orphan_media)
            .collect();
        let signalling: Vec<String> = flows
            .iter()
            .filter(|f| {
                [f.a.port(), f.b.port()]
                    .iter()
                    .any(|p| [5060, 2427, 2727, 2944].contains(p))
            })
            .map(|f| format!("{} <-> {}: {:?}", f.a, f.b, f.kinds))
            .collect();
        assert!(signalling.is_empty(), "{name}: {signalling:?}");
        // As many RTP streams as tshark finds (tests/oracle_media compares them).
        let streams: usize = flows.iter().map(|f| f.rtp.len()).sum();
        assert_eq!(streams, rtp_streams, "{name}");
        assert!(flows
            .iter()
            .all(|f| f.kinds.contains_key(&Kind::Rtp) != f.rtp.is_empty()));
    }
}
