//! Oracle: TCP retransmissions per direction as tshark's TCP analysis flags them
//! (`tcp.analysis.retransmission`, `.fast_retransmission`, `.spurious_retransmission`),
//! retransmitted SYNs and FINs included, on every session of the samples and on a crafted
//! connection with each kind; and a retransmission carrying other bytes (Zeek's
//! `rexmit_inconsistency`) as a warning and a timeline event saying which copy was used.

mod common;

use common::*;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use teardown::diag::WarningKind;
use teardown::session::EventKind;
use teardown::Analysis;

/// (retransmission, fast, spurious) flags per (sender, receiver), for frames in [from, to]
/// epoch nanoseconds.
type Counts = (u64, u64, u64);

struct TsharkTcp(Vec<(SocketAddr, SocketAddr, i64, [bool; 3])>);

impl TsharkTcp {
    fn read(file: &Path) -> TsharkTcp {
        let out = Command::new("tshark")
            .args(["-n", "-r"])
            .arg(file)
            .args([
                "-Y",
                "tcp.analysis.retransmission || tcp.analysis.fast_retransmission \
                 || tcp.analysis.spurious_retransmission",
                "-T",
                "fields",
                "-e",
                "ip.src",
                "-e",
                "tcp.srcport",
                "-e",
                "ip.dst",
                "-e",
                "tcp.dstport",
                "-e",
                "frame.time_epoch",
                "-e",
                "tcp.analysis.retransmission",
                "-e",
                "tcp.analysis.fast_retransmission",
                "-e",
                "tcp.analysis.spurious_retransmission",
            ])
            .output()
            .unwrap();
        let rows = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| {
                let f: Vec<&str> = l.split('\t').collect();
                let addr = |i: usize| -> Option<SocketAddr> {
                    Some(SocketAddr::new(
                        f.get(i)?.parse().ok()?,
                        f.get(i + 1)?.parse().ok()?,
                    ))
                };
                let (secs, frac) = f.get(4)?.split_once('.')?;
                let ns = secs.parse::<i64>().ok()? * 1_000_000_000
                    + format!("{frac:0<9}")[..9].parse::<i64>().ok()?;
                let set = |i: usize| f.get(i).is_some_and(|v| !v.is_empty());
                Some((addr(0)?, addr(2)?, ns, [set(5), set(6), set(7)]))
            })
            .collect();
        TsharkTcp(rows)
    }

    fn counts(&self, src: SocketAddr, dst: SocketAddr, from: i64, to: i64) -> Counts {
        let mut c = (0, 0, 0);
        for (s, d, ts, flags) in &self.0 {
            if *s == src && *d == dst && (from..=to).contains(ts) {
                c.0 += u64::from(flags[0]);
                c.1 += u64::from(flags[1]);
                c.2 += u64::from(flags[2]);
            }
        }
        c
    }
}

/// Compares every session of an analysis; returns (directions compared, tshark's flags).
fn compare(file: &Path, a: &Analysis) -> (usize, Counts) {
    let t = TsharkTcp::read(file);
    let mut errors = Vec::new();
    let mut total = (0, 0, 0);
    let mut n = 0;
    for s in &a.sessions {
        for (src, dst, st) in [(s.client, s.server, &s.c2s), (s.server, s.client, &s.s2c)] {
            let theirs = t.counts(src, dst, s.start_ts.0, s.end_ts.0);
            let ours = (
                st.retransmitted,
                st.fast_retransmissions,
                st.spurious_retransmissions,
            );
            n += 1;
            total = (total.0 + theirs.0, total.1 + theirs.1, total.2 + theirs.2);
            if ours != theirs {
                errors.push(format!(
                    "session {} {src} -> {dst}: ours {ours:?}, tshark {theirs:?}",
                    s.id
                ));
            }
        }
    }
    assert!(
        errors.is_empty(),
        "{}:\n{}",
        file.display(),
        errors.join("\n")
    );
    (n, total)
}

#[test]
fn retransmissions_agree_with_tshark_on_every_sample_session() {
    if tshark_missing("retransmissions_agree_with_tshark_on_every_sample_session") {
        return;
    }
    let mut files: Vec<PathBuf> = Vec::new();
    for dir in ["", "loadrun", "media", "tls", "browser"] {
        let rd = std::fs::read_dir(samples().join(dir)).unwrap();
        files.extend(
            rd.map(|e| e.unwrap().path())
                .filter(|p| p.extension().is_some_and(|e| e == "pcap" || e == "pcapng")),
        );
    }
    files.sort();
    let (mut dirs, mut flagged) = (0, 0);
    for f in &files {
        let (n, c) = compare(f, &analyze(std::slice::from_ref(f), &[]));
        dirs += n;
        flagged += c.0 + c.2;
    }
    eprintln!(
        "{} captures, {dirs} directions, {flagged} retransmissions",
        files.len()
    );
    assert!(dirs > 200, "only {dirs} directions compared");
}

/// Segments that arrived ahead of a hole, per direction, counted from tshark's fields for
/// every TCP segment (raw sequence number, length, SYN, FIN): the bytes below the first
/// hole are contiguous; a segment starting beyond them is out of order. tshark's own
/// `tcp.analysis.out_of_order` is another notion (the late segment that fills a hole,
/// judged by timing), so the count is made here from its per-segment fields.
fn out_of_order_from_tshark(file: &Path) -> HashMap<(SocketAddr, SocketAddr), u64> {
    let rows = tshark_fields(
        file,
        "tcp",
        &[
            "ip.src",
            "tcp.srcport",
            "ip.dst",
            "tcp.dstport",
            "tcp.seq_raw",
            "tcp.len",
            "tcp.flags.syn",
            "tcp.flags.fin",
        ],
    );
    let flag = |v: &str| v == "1" || v == "True";
    // Per direction: the end of the contiguous bytes, and the held segments beyond it.
    type Contiguous = (i64, Vec<(i64, i64)>);
    let mut state: HashMap<(SocketAddr, SocketAddr), Contiguous> = HashMap::new();
    let mut counts = HashMap::new();
    for r in rows {
        let src: SocketAddr = format!("{}:{}", r[0], r[1]).parse().unwrap();
        let dst: SocketAddr = format!("{}:{}", r[2], r[3]).parse().unwrap();
        let seq: i64 = r[4].parse().unwrap();
        if flag(&r[6]) {
            state.insert((src, dst), (seq + 1, Vec::new()));
            continue;
        }
        let Some((cur, held)) = state.get_mut(&(src, dst)) else {
            continue;
        };
        let len = r[5].parse::<i64>().unwrap() + i64::from(flag(&r[7]));
        if len == 0 {
            continue;
        }
        // The sequence number nearest the contiguous end (32-bit wrap).
        let start = *cur + (seq - *cur).rem_euclid(1 << 32);
        let start = if start - *cur >= 1 << 31 {
            start - (1 << 32)
        } else {
            start
        };
        let end = start + len;
        if end <= *cur {
            continue;
        }
        if start > *cur {
            *counts.entry((src, dst)).or_default() += 1;
            held.push((start, end));
            continue;
        }
        *cur = end;
        while let Some(i) = held.iter().position(|h| h.0 <= *cur) {
            *cur = (*cur).max(held.swap_remove(i).1);
        }
    }
    counts
}

#[test]
fn out_of_order_segments_agree_with_tsharks_fields_on_the_lossy_sample() {
    if tshark_missing("out_of_order_segments_agree_with_tsharks_fields_on_the_lossy_sample") {
        return;
    }
    // netem reordering on the recording's link (samples/record.sh).
    let file = samples().join("lossy.pcap");
    let expected = out_of_order_from_tshark(&file);
    let a = analyze(std::slice::from_ref(&file), &[]);
    let mut ours = HashMap::new();
    for s in &a.sessions {
        for (from, to, n) in [
            (s.client, s.server, s.c2s.out_of_order),
            (s.server, s.client, s.s2c.out_of_order),
        ] {
            if n > 0 {
                ours.insert((from, to), n);
            }
        }
    }
    assert!(
        expected.values().sum::<u64>() > 0,
        "the sample has reordering"
    );
    assert_eq!(ours, expected);
}

/// A masked binary frame of 100 bytes of `fill`.
fn frame(fill: u8) -> Vec<u8> {
    let mask = [9, 8, 7, 6];
    let mut b = vec![0x82, 0x80 | 100];
    b.extend_from_slice(&mask);
    b.extend((0..100).map(|i| fill ^ mask[i % 4]));
    b
}

/// A WebSocket connection whose client retransmits after a timeout, spuriously (data
/// already acknowledged), fast (after three duplicate ACKs), with other bytes than the first
/// copy, and its FIN twice; the server retransmits its FIN once.
fn crafted(dir: &Path) -> PathBuf {
    let c: SocketAddr = "10.2.0.1:41000".parse().unwrap();
    let s: SocketAddr = "10.2.0.2:8080".parse().unwrap();
    let mut k = Craft::default();
    let ack = Flags {
        ack: true,
        ..Flags::default()
    };
    let psh = Flags { psh: true, ..ack };
    let fin = Flags { fin: true, ..ack };
    let ms = |v: f64| (v * 1000.0) as u64;
    k.tcp(
        ms(0.0),
        c,
        s,
        1000,
        0,
        Flags {
            syn: true,
            ..Flags::default()
        },
        &[],
    );
    k.tcp(ms(1.0), s, c, 5000, 1001, Flags { syn: true, ..ack }, &[]);
    k.tcp(ms(2.0), c, s, 1001, 5001, ack, &[]);
    let req = b"GET /r HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
    let resp = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                 Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";
    let mut cs = 1001u32;
    let ss0 = 5001u32;
    k.tcp(ms(3.0), c, s, cs, ss0, psh, req);
    cs += req.len() as u32;
    k.tcp(ms(5.0), s, c, ss0, cs, psh, resp);
    let ss = ss0 + resp.len() as u32;
    k.tcp(ms(6.0), c, s, cs, ss, ack, &[]);
    let (a, b, cc, d, e) = (
        frame(b'a'),
        frame(b'b'),
        frame(b'c'),
        frame(b'd'),
        frame(b'e'),
    );
    let len = a.len() as u32;
    let a0 = cs;
    k.tcp(ms(10.0), c, s, a0, ss, psh, &a);
    k.tcp(ms(300.0), c, s, a0, ss, psh, &a); // after a timeout
    k.tcp(ms(305.0), s, c, ss, a0 + len, ack, &[]);
    k.tcp(ms(600.0), c, s, a0, ss, psh, &a); // already acknowledged: spurious
                                             // B is lost on the way (not in the capture); C and D arrive; three duplicate ACKs.
    k.tcp(ms(611.0), c, s, a0 + 2 * len, ss, psh, &cc);
    k.tcp(ms(612.0), c, s, a0 + 3 * len, ss, psh, &d);
    for t in [612.5, 613.0, 613.5] {
        k.tcp(ms(t), s, c, ss, a0 + len, ack, &[]);
    }
    k.tcp(ms(615.0), c, s, a0 + len, ss, psh, &b); // fast retransmission
    k.tcp(ms(620.0), s, c, ss, a0 + 4 * len, ack, &[]);
    let e0 = a0 + 4 * len;
    let mut other = e.clone();
    other[10] ^= 0xff; // same header, one payload byte different
    k.tcp(ms(700.0), c, s, e0, ss, psh, &e);
    k.tcp(ms(1000.0), c, s, e0, ss, psh, &other); // other bytes than the first copy
    k.tcp(ms(1005.0), s, c, ss, e0 + len, ack, &[]);
    let f0 = e0 + len;
    k.tcp(ms(1200.0), c, s, f0, ss, fin, &[]);
    k.tcp(ms(1201.0), s, c, ss, f0, fin, &[]);
    k.tcp(ms(1500.0), c, s, f0, ss, fin, &[]);
    k.tcp(ms(1800.0), s, c, ss, f0, fin, &[]);
    k.tcp(ms(2100.0), c, s, f0, ss, fin, &[]);
    k.write(dir, "retransmissions.pcap")
}

#[test]
fn crafted_retransmissions_agree_with_tshark() {
    let dir = tempfile::tempdir().unwrap();
    let path = crafted(dir.path());
    let a = analyze(std::slice::from_ref(&path), &[]);
    assert_eq!(a.sessions.len(), 1);
    let s = &a.sessions[0];
    // By construction: client A after a timeout, A again (spurious: acknowledged), B fast,
    // E with other bytes, the FIN twice; the server's FIN once.
    assert_eq!(
        (
            s.c2s.retransmitted,
            s.c2s.fast_retransmissions,
            s.c2s.spurious_retransmissions
        ),
        (6, 1, 1)
    );
    assert_eq!(s.s2c.retransmitted, 1);
    // The first copy of E was decoded: its frame counted once, the rest too.
    assert_eq!(s.c2s.frames, 5);
    let inconsistent: Vec<String> = s
        .timeline
        .iter()
        .filter(|e| matches!(e.kind, EventKind::InconsistentRetransmission { .. }))
        .map(|e| e.kind.to_string())
        .collect();
    assert_eq!(
        inconsistent,
        ["retransmission of 106 bytes differs from the first copy (the first copy is used)"]
    );
    assert_eq!(a.diagnostics.count(WarningKind::RexmitInconsistency), 1);
    if tshark_missing("crafted_retransmissions_agree_with_tshark (tshark part)") {
        return;
    }
    let (_, theirs) = compare(&path, &a);
    assert_eq!(theirs, (7, 1, 1)); // both directions
}

#[test]
fn retransmissions_on_public_traces() {
    let Some(dir) = shared_captures_for("retransmissions_on_public_traces") else {
        return;
    };
    // Suricata's overlap test: "GOOD" then "EVIL" at the same sequence number; the first
    // copy wins (its test.yaml) and the second is inconsistent.
    let a = analyze(
        &[dir.join("suricata-verify__eve-overlap-payload-01__tcp-overlap.pcap")],
        &[],
    );
    assert_eq!(a.diagnostics.count(WarningKind::RexmitInconsistency), 1);
    // Zeek's FIN retransmission trace as a session (--ws-port): the client's FIN twice
    // more (tshark flags frames 2 and 4).
    let p = dir.join("zeek__fin_retransmission.pcap");
    let a = analyze(std::slice::from_ref(&p), &[443]);
    if tshark_missing("retransmissions_on_public_traces (tshark part)") {
        return;
    }
    let (n, theirs) = compare(&p, &a);
    assert!(n > 0 && theirs.0 == 2, "{n} {theirs:?}");
}
