//! Oracle: RTP stream statistics and STUN message counts equal what tshark computes
//! (`tshark -z rtp,streams`, and the `stun.type` fields), on the public WebRTC/VoIP
//! captures in ../shared/captures and on samples/media.

mod common;

use common::*;
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

#[derive(Debug)]
struct TsharkStream {
    payload: String,
    packets: u64,
    lost: i64,
    max_delta: f64,
    mean_jitter: f64,
    max_jitter: f64,
}

fn tshark_rtp(file: &Path) -> HashMap<(SocketAddr, SocketAddr, u32), TsharkStream> {
    // Two passes (-2): in one, tshark 4.0 can drop the streams of a call whose DTLS flight
    // was retransmitted (seen while recording samples/media).
    let out = Command::new("tshark")
        .args([
            "-n",
            "-2",
            "-o",
            "rtp.heuristic_rtp:TRUE",
            "-q",
            "-z",
            "rtp,streams",
            "-r",
        ])
        .arg(file)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let mut map = HashMap::new();
    for line in text.lines() {
        let t: Vec<&str> = line.split_whitespace().collect();
        // start end src sport dst dport ssrc payload... pkts lost (pct) min mean max minj meanj maxj [X]
        let Some(pct) = t
            .iter()
            .position(|x| x.starts_with('(') && x.ends_with("%)"))
        else {
            continue;
        };
        if t.len() < pct + 7 || !t[6].starts_with("0x") {
            continue;
        }
        let addr =
            |ip: &str, port: &str| SocketAddr::new(ip.parse().unwrap(), port.parse().unwrap());
        let key = (
            addr(t[2], t[3]),
            addr(t[4], t[5]),
            u32::from_str_radix(&t[6][2..], 16).unwrap(),
        );
        let f = |i: usize| t[i].parse::<f64>().unwrap();
        map.insert(
            key,
            TsharkStream {
                payload: t[7..pct - 2].join(" "),
                packets: t[pct - 2].parse().unwrap(),
                lost: t[pct - 1].parse().unwrap(),
                max_delta: f(pct + 3),
                mean_jitter: f(pct + 5),
                max_jitter: f(pct + 6),
            },
        );
    }
    map
}

/// tshark's STUN messages on the wire, as "Method class" counts like ours.
fn tshark_stun(file: &Path) -> BTreeMap<String, u64> {
    let out = Command::new("tshark")
        .args(["-n", "-r"])
        .arg(file)
        // STUN quoted inside ICMP errors is not STUN traffic; tshark decodes it, we do not.
        .args([
            "-Y",
            "stun && !icmp && !icmpv6",
            "-T",
            "fields",
            "-E",
            "occurrence=f",
            "-e",
            "stun.type.method",
            "-e",
            "stun.type.class",
        ])
        .output()
        .unwrap();
    let mut counts = BTreeMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let f: Vec<&str> = line.split('\t').collect();
        let (Some(m), Some(c)) = (f.first().filter(|s| !s.is_empty()), f.get(1)) else {
            continue;
        };
        let method = match u16::from_str_radix(m.trim_start_matches("0x"), 16).unwrap() {
            1 => "Binding",
            3 => "Allocate",
            4 => "Refresh",
            6 => "Send",
            7 => "Data",
            8 => "CreatePermission",
            9 => "ChannelBind",
            _ => "other",
        };
        let class = match u16::from_str_radix(c.trim_start_matches("0x"), 16).unwrap() {
            0x00 => "request",
            0x01 => "indication",
            0x10 => "success",
            _ => "error",
        };
        *counts.entry(format!("{method} {class}")).or_default() += 1;
    }
    counts
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= (0.01f64).max(b.abs() * 0.01)
}

fn compare(file: &Path) -> usize {
    let a = analyze(&[file.to_path_buf()], &[]);
    let mut ours = HashMap::new();
    let mut stun: BTreeMap<String, u64> = BTreeMap::new();
    for flow in a
        .sessions
        .iter()
        .flat_map(|s| &s.media)
        .chain(&a.orphan_media)
    {
        // tshark finds RTP heuristically on UDP only; we also read it framed on ICE-TCP.
        for (from_a, s) in flow.rtp.iter().filter(|_| flow.transport == "udp") {
            let (src, dst) = if *from_a {
                (flow.a, flow.b)
            } else {
                (flow.b, flow.a)
            };
            ours.insert((src, dst, s.ssrc), s);
        }
        for (k, n) in &flow.stun.by_type {
            *stun.entry(k.clone()).or_default() += n;
        }
    }
    let theirs = tshark_rtp(file);
    let mut errors = Vec::new();
    for (key, t) in &theirs {
        let Some(s) = ours.get(key) else {
            errors.push(format!(
                "{key:?}: tshark has {} packets, we have no stream",
                t.packets
            ));
            continue;
        };
        if s.packets != t.packets
            || s.lost != t.lost
            || (s.max_delta_ms - t.max_delta).abs() > 0.0015
        {
            errors.push(format!(
                "{key:?}: packets {} / {}, lost {} / {}, max delta {:.3} / {:.3}",
                s.packets, t.packets, s.lost, t.lost, s.max_delta_ms, t.max_delta
            ));
        }
        // tshark knows the clock of static payload types only (dynamic ones report 0).
        if s.payload_type < 96 {
            let (mean, max) = (
                s.mean_jitter_ms.unwrap_or(-1.0),
                s.max_jitter_ms.unwrap_or(-1.0),
            );
            if !close(mean, t.mean_jitter) || !close(max, t.max_jitter) {
                errors.push(format!(
                    "{key:?} ({}): jitter mean {mean:.3} / {:.3}, max {max:.3} / {:.3}",
                    t.payload, t.mean_jitter, t.max_jitter
                ));
            }
        }
    }
    if ours.len() != theirs.len() {
        errors.push(format!(
            "{} streams here, {} in tshark",
            ours.len(),
            theirs.len()
        ));
    }
    let tstun = tshark_stun(file);
    if stun != tstun {
        errors.push(format!("STUN messages: ours {stun:?}, tshark {tstun:?}"));
    }
    assert!(
        errors.is_empty(),
        "{}:\n{}",
        file.display(),
        errors.join("\n")
    );
    theirs.len()
}

#[test]
fn rtp_and_stun_agree_with_tshark_on_public_captures() {
    let test = "rtp_and_stun_agree_with_tshark_on_public_captures";
    let Some(dir) = shared_captures() else {
        return skip(test, "../shared/captures is not here");
    };
    if !have_tshark() {
        return skip(test, "tshark is not installed (apt-get install tshark)");
    }
    let mut streams = 0;
    for name in [
        "heplify__rtp_rtcp_sip_ipv4_udp.pcap",
        "sipp__g711a.pcap",
        "sipp__dtmf_2833_1.pcap",
        "nDPI__rtp.pcapng",
        "srtp_decoder__webrtc_opus_p2p.pcap",
        "srtp_decoder__WebRTC_OPUS_Turn_SDES_Call_1.pcap",
        "srtp_decoder__WebRTC_PCMA_p2p_SDES_Call_1.pcap",
        "zeek__webrtc-stun.pcap",
    ] {
        let p = dir.join(name);
        assert!(
            p.exists(),
            "{}: missing from ../shared/captures",
            p.display()
        );
        streams += compare(&p);
    }
    assert!(streams >= 10, "only {streams} streams compared");
}

#[test]
fn media_samples_agree_with_tshark() {
    if !have_tshark() {
        return skip(
            "media_samples_agree_with_tshark",
            "tshark is not installed (apt-get install tshark)",
        );
    }
    let dir = samples().join("media");
    let files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|rd| {
            rd.map(|e| e.unwrap().path())
                .filter(|p| p.extension().is_some_and(|e| e == "pcap"))
                .collect()
        })
        .unwrap_or_default();
    assert!(!files.is_empty(), "samples/media holds no capture");
    for f in files {
        let n = compare(&f);
        assert!(n > 0, "{}: no RTP stream", f.display());
    }
}
