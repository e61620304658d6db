//! Oracle: RTP stream statistics and STUN message counts equal what tshark computes
//! (`tshark -z rtp,streams`, and the `stun.type` fields), on every RTP stream of every
//! public capture in ../shared/captures, of samples/media, and of a crafted capture with
//! what none of those shows (RFC 4733 events and comfort noise inside a stream, a payload
//! type switch to another clock, a timestamp reset).
//!
//! Documented exceptions, and only these: a stream whose timestamp was reset
//! (`timestamp_resets`) is compared on packets and loss only, since tshark keeps the old
//! reference there (README, "Media"); jitter is compared when tshark knows the payload
//! type's clock (a static type, or a dynamic one named by SDP it read).

mod common;

use common::*;
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use teardown::flow::Transport;

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

/// Streams compared in one capture, and those compared under a documented exception.
#[derive(Default)]
struct Compared {
    streams: usize,
    exceptions: usize,
}

fn compare(file: &Path, with_stun: bool) -> Compared {
    let a = analyze(&[file.to_path_buf()], &[]);
    let mut ours = HashMap::new();
    let mut stun: BTreeMap<String, u64> = BTreeMap::new();
    for flow in a
        .sessions
        .iter()
        .flat_map(|s| &s.media)
        .chain(&a.orphan_media)
    {
        // tshark finds RTP heuristically on UDP and inside TURN over TCP, not framed on
        // ICE-TCP (RFC 4571): a TCP stream of ours it lacks is not an error.
        for (from_a, s) in &flow.rtp {
            let (src, dst) = if *from_a {
                (flow.a, flow.b)
            } else {
                (flow.b, flow.a)
            };
            ours.insert((src, dst, s.ssrc), (s, flow.transport == Transport::Udp));
        }
        for (k, n) in &flow.stun.by_type {
            *stun.entry(k.clone()).or_default() += n;
        }
    }
    let theirs = tshark_rtp(file);
    let mut errors = Vec::new();
    let mut exceptions = 0;
    for (key, t) in &theirs {
        let Some(&(s, _)) = ours.get(key) else {
            errors.push(format!(
                "{key:?}: tshark has {} packets, we have no stream",
                t.packets
            ));
            continue;
        };
        if s.packets != t.packets || s.lost != t.lost {
            errors.push(format!(
                "{key:?}: packets {} / {}, lost {} / {}",
                s.packets, t.packets, s.lost, t.lost
            ));
        }
        let (mean, max) = (
            s.mean_jitter_ms.unwrap_or(-1.0),
            s.max_jitter_ms.unwrap_or(-1.0),
        );
        if s.timestamp_resets > 0 {
            // tshark's reference stays before the reset: its jitter and later deltas jump
            // to seconds. Ours starts again; the end-of-stream jitter stays within the max.
            exceptions += 1;
            if s.jitter_ms.unwrap_or(0.0) > max || s.max_gap_ms < s.max_delta_ms {
                errors.push(format!(
                    "{key:?}: after a timestamp reset, jitter {:?} > max {max}",
                    s.jitter_ms
                ));
            }
            continue;
        }
        if (s.max_delta_ms - t.max_delta).abs() > 0.0015 {
            errors.push(format!(
                "{key:?}: max delta {:.3} / {:.3}",
                s.max_delta_ms, t.max_delta
            ));
        }
        // tshark names a dynamic type it has no SDP for "RTPType-N" (events "rtpevent")
        // and reports no jitter for it.
        let tshark_knows_clock = !(t.payload.starts_with("RTPType-") || t.payload == "rtpevent");
        if tshark_knows_clock && (!close(mean, t.mean_jitter) || !close(max, t.max_jitter)) {
            errors.push(format!(
                "{key:?} ({}): jitter mean {mean:.3} / {:.3}, max {max:.3} / {:.3}",
                t.payload, t.mean_jitter, t.max_jitter
            ));
        }
    }
    for (key, (s, on_udp)) in &ours {
        if *on_udp && !theirs.contains_key(key) {
            errors.push(format!(
                "{key:?}: {} packets here, no stream in tshark",
                s.packets
            ));
        }
    }
    if with_stun {
        let tstun = tshark_stun(file);
        if stun != tstun {
            errors.push(format!("STUN messages: ours {stun:?}, tshark {tstun:?}"));
        }
    }
    assert!(
        errors.is_empty(),
        "{}:\n{}",
        file.display(),
        errors.join("\n")
    );
    Compared {
        streams: theirs.len(),
        exceptions,
    }
}

/// The public captures whose STUN messages we count as tshark does (classic RFC 3489
/// STUN and STUN inside TURN-over-TCP framing are counted differently and left out).
const STUN_AGREES: [&str; 8] = [
    "heplify__rtp_rtcp_sip_ipv4_udp.pcap",
    "sipp__g711a.pcap",
    "sipp__dtmf_2833_1.pcap",
    "nDPI__rtp.pcapng",
    "srtp_decoder__webrtc_opus_p2p.pcap",
    "srtp_decoder__WebRTC_OPUS_Turn_SDES_Call_1.pcap",
    "srtp_decoder__WebRTC_PCMA_p2p_SDES_Call_1.pcap",
    "zeek__webrtc-stun.pcap",
];

#[test]
fn rtp_and_stun_agree_with_tshark_on_public_captures() {
    let test = "rtp_and_stun_agree_with_tshark_on_public_captures";
    let Some(dir) = shared_captures_with_tshark(test) else {
        return;
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "pcap" || e == "pcapng"))
        .collect();
    files.sort();
    let (mut streams, mut exceptions) = (0, 0);
    for p in &files {
        let name = p.file_name().unwrap().to_str().unwrap();
        let c = compare(p, STUN_AGREES.contains(&name));
        streams += c.streams;
        exceptions += c.exceptions;
    }
    eprintln!(
        "{} captures, {streams} RTP streams compared, {exceptions} under an exception",
        files.len()
    );
    assert!(streams >= 30, "only {streams} streams compared");
}

/// A little deterministic noise (an LCG), ±`amp_us` microseconds.
fn noise(state: &mut u64, amp_us: i64) -> i64 {
    *state = state
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    ((*state >> 33) as i64 % (2 * amp_us + 1)) - amp_us
}

fn rtp(marker: bool, pt: u8, seq: u16, ts: u32, ssrc: u32, payload_len: usize) -> Vec<u8> {
    let mut b = vec![0x80, (u8::from(marker) << 7) | pt];
    b.extend_from_slice(&seq.to_be_bytes());
    b.extend_from_slice(&ts.to_be_bytes());
    b.extend_from_slice(&ssrc.to_be_bytes());
    b.resize(12 + payload_len, 0xd5);
    b
}

/// Three streams sent every 20 ms with a few ms of arrival noise: PCMU with an RFC 4733
/// event in the middle (PT 101, its timestamp frozen at the event's start, audio paused);
/// PCMA with comfort noise (PT 13) and then a switch to DVI4 at 16 kHz (PT 6); PCMA whose
/// timestamp goes back from 347 200 to 0 halfway, one packet lost after it.
fn crafted_rtp(dir: &Path) -> PathBuf {
    let from = |port: u16| SocketAddr::from(([10, 0, 0, 1], port));
    let to = |port: u16| SocketAddr::from(([10, 0, 0, 2], port));
    let mut packets: Vec<(u64, SocketAddr, SocketAddr, Vec<u8>)> = Vec::new();
    let mut rng = 7u64;
    let at = |i: u64, rng: &mut u64| (1_000_000 + i * 20_000) as i64 + noise(rng, 4000);
    for i in 0..150u16 {
        let t = at(i as u64, &mut rng) as u64;
        let (pt, ts, marker) = match i {
            60..=69 => (101, 60 * 160, i == 60),
            _ => (0, i as u32 * 160, i == 70),
        };
        let len = if pt == 101 { 4 } else { 160 };
        packets.push((t, from(40000), to(50000), rtp(marker, pt, i, ts, 0xa, len)));
    }
    let mut ts = 1000u32;
    for i in 0..160u16 {
        let t = at(i as u64, &mut rng) as u64 + 5000;
        let (pt, step, len) = match i {
            80..=89 => (13, 160, 1),
            110.. => (6, 320, 160),
            _ => (8, 160, 160),
        };
        if i > 0 {
            ts += step;
        }
        packets.push((t, from(40002), to(50002), rtp(false, pt, i, ts, 0xb, len)));
    }
    for i in (0..120u16).filter(|&i| i != 75) {
        let t = at(i as u64, &mut rng) as u64 + 9000;
        let ts = if i < 50 {
            347_200 - 50 * 160 + i as u32 * 160
        } else {
            (i as u32 - 50) * 160
        };
        packets.push((t, from(40004), to(50004), rtp(false, 8, i, ts, 0xc, 160)));
    }
    packets.sort_by_key(|p| p.0);
    let mut craft = Craft::default();
    for (t, src, dst, payload) in &packets {
        craft.udp(*t, *src, *dst, payload);
    }
    craft.write(dir, "rtp_clocks.pcap")
}

#[test]
fn crafted_clocks_and_reset_agree_with_tshark() {
    if tshark_missing("crafted_clocks_and_reset_agree_with_tshark") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let c = compare(&crafted_rtp(dir.path()), false);
    assert_eq!((c.streams, c.exceptions), (3, 1));
}

#[test]
fn media_samples_agree_with_tshark() {
    if tshark_missing("media_samples_agree_with_tshark") {
        return;
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
        let c = compare(&f, true);
        assert!(c.streams > 0, "{}: no RTP stream", f.display());
    }
}
