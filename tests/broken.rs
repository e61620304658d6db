//! Damaged copies of a real capture: truncated, corrupt, cut by the snaplen, with segments
//! missing, split over files. Nothing panics, every problem is a warning naming the file
//! and packet, and what can still be computed is still right.

mod common;

use common::*;
use std::collections::HashMap;
use std::net::SocketAddr;
use teardown::diag::WarningKind;
use teardown::{Analysis, Session};

type Key = (SocketAddr, SocketAddr, i64);

fn by_key(a: &Analysis) -> HashMap<Key, &Session> {
    a.sessions
        .iter()
        .map(|s| ((s.client, s.server, s.start_ts.0), s))
        .collect()
}

fn same_outcome(a: &Session, b: &Session) -> bool {
    a.verdict == b.verdict
        && a.client_observed_code == b.client_observed_code
        && a.close_code() == b.close_code()
        && a.c2s.frames == b.c2s.frames
        && a.s2c.frames == b.s2c.frames
}

fn scenarios() -> Pcap {
    Pcap::read(&samples().join("scenarios.pcap"))
}

const WS_PORTS: [u16; 2] = [9999, 8080];

#[test]
fn truncated_at_many_offsets_keeps_every_finished_session() {
    let pcap = scenarios();
    let full_bytes = pcap.bytes();
    let dir = tempfile::tempdir().unwrap();
    let full = analyze(&[samples().join("scenarios.pcap")], &WS_PORTS);
    let full_map = by_key(&full);
    let n = full_bytes.len();
    let mut offsets: Vec<usize> = (1..40).map(|k| 24 + (n - 24) * k / 40).collect();
    offsets.extend([24 + 5, pcap.offset_of(10) + 3, pcap.offset_of(10) + 17]); // mid header, mid record
    for cut in offsets {
        let p = dir.path().join(format!("cut{cut}.pcap"));
        std::fs::write(&p, &full_bytes[..cut]).unwrap();
        let a = analyze(std::slice::from_ref(&p), &WS_PORTS);
        let on_boundary = (0..pcap.records.len()).any(|i| pcap.offset_of(i) == cut);
        let truncated = a
            .diagnostics
            .warnings()
            .iter()
            .filter(|w| w.kind == WarningKind::TruncatedFile)
            .collect::<Vec<_>>();
        if !on_boundary {
            assert_eq!(truncated.len(), 1, "cut at {cut}");
            assert!(
                truncated[0]
                    .location
                    .file
                    .ends_with(&format!("cut{cut}.pcap"))
                    && truncated[0].location.packet.is_some()
            );
        }
        // Every session whose packets all precede the cut has exactly its full result.
        let complete = (0..pcap.records.len())
            .take_while(|&i| pcap.offset_of(i + 1) <= cut)
            .last();
        let Some(last) = complete else { continue };
        let horizon = pcap.ts(last);
        for s in a.sessions.iter().filter(|s| s.end_ts.0 < horizon) {
            let f = full_map
                .get(&(s.client, s.server, s.start_ts.0))
                .unwrap_or_else(|| panic!("cut at {cut}: {} is not in the full run", s.client));
            assert!(
                same_outcome(s, f),
                "cut at {cut}: {} differs: {} vs {}",
                s.client,
                s.verdict,
                f.verdict
            );
        }
        let finished_before = full
            .sessions
            .iter()
            .filter(|f| f.end_ts.0 < horizon)
            .count();
        let kept = a.sessions.iter().filter(|s| s.end_ts.0 < horizon).count();
        assert_eq!(kept, finished_before, "cut at {cut}");
    }
}

#[test]
fn corrupt_record_length_skips_one_record_and_goes_on() {
    let mut pcap = scenarios();
    let k = pcap.records.len() / 2;
    pcap.records[k].0[8..12].copy_from_slice(&0x7fff_fff0u32.to_le_bytes());
    let dir = tempfile::tempdir().unwrap();
    let p = pcap.write(dir.path(), "corrupt.pcap");
    let a = analyze(&[p], &WS_PORTS);
    let w: Vec<_> = a
        .diagnostics
        .warnings()
        .iter()
        .filter(|w| w.kind == WarningKind::CorruptRecord)
        .collect();
    assert_eq!(w.len(), 1, "{w:?}");
    assert_eq!(w[0].location.packet, Some(k as u64 + 1));
    assert!(w[0].message.contains("skipped"), "{}", w[0].message);
    // All packets but record k were read: sessions that did not need record k are intact.
    let full = analyze(&[samples().join("scenarios.pcap")], &WS_PORTS);
    assert_eq!(a.stats.packets + 1, full.stats.packets);
    let t = pcap.ts(k);
    let full_map = by_key(&full);
    for s in &a.sessions {
        let f = full_map[&(s.client, s.server, s.start_ts.0)];
        if f.end_ts.0 < t || f.start_ts.0 > t {
            assert!(same_outcome(s, f), "{} changed", s.client);
        }
    }
}

#[test]
fn unknown_link_type_is_a_warning_per_packet_not_a_failure() {
    let mut pcap = scenarios();
    pcap.header[20..24].copy_from_slice(&147u32.to_le_bytes());
    let dir = tempfile::tempdir().unwrap();
    let p = pcap.write(dir.path(), "user0.pcap");
    let a = analyze(&[p], &[]);
    assert!(a.sessions.is_empty());
    assert_eq!(
        a.diagnostics.count(WarningKind::UnsupportedLinkType),
        pcap.records.len() as u64
    );
    assert!(!a.unusable_input);
}

#[test]
fn unknown_pcapng_blocks_are_skipped() {
    let ng = std::fs::read(samples().join("scenarios.pcapng")).unwrap();
    // Walk the blocks (little-endian file) and insert an unknown block after every tenth.
    let mut out = Vec::new();
    let mut pos = 0;
    let mut n = 0;
    while pos + 8 <= ng.len() {
        let len = u32::from_le_bytes(ng[pos + 4..pos + 8].try_into().unwrap()) as usize;
        out.extend_from_slice(&ng[pos..pos + len]);
        pos += len;
        n += 1;
        if n % 10 == 2 {
            out.extend_from_slice(&0x0000_0badu32.to_le_bytes());
            out.extend_from_slice(&16u32.to_le_bytes());
            out.extend_from_slice(b"junk");
            out.extend_from_slice(&16u32.to_le_bytes());
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("extra-blocks.pcapng");
    std::fs::write(&p, out).unwrap();
    let (code, with_blocks, err) = run(&["sessions", "--format", "csv", p.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let (code, plain, err) = run(&[
        "sessions",
        "--format",
        "csv",
        samples().join("scenarios.pcapng").to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(plain.lines().count() > 1, "no sessions: {plain}");
    assert_eq!(with_blocks, plain);
}

#[test]
fn corrupt_pcapng_block_length_skips_one_block_and_goes_on() {
    let path = samples().join("scenarios.pcapng");
    let ng = std::fs::read(&path).unwrap();
    // Walk the blocks (little-endian file); give the 101st packet's block a total length
    // of almost 4 GB.
    let (mut pos, mut packets_before) = (0, 0u64);
    loop {
        let kind = u32::from_le_bytes(ng[pos..pos + 4].try_into().unwrap());
        if kind == 6 && packets_before == 100 {
            break;
        }
        packets_before += u64::from(kind == 6);
        pos += u32::from_le_bytes(ng[pos + 4..pos + 8].try_into().unwrap()) as usize;
    }
    let mut bad = ng.clone();
    bad[pos + 4..pos + 8].copy_from_slice(&0xffff_fff0u32.to_le_bytes());
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("bad-block.pcapng");
    std::fs::write(&p, &bad).unwrap();
    let a = analyze(std::slice::from_ref(&p), &WS_PORTS);
    let w: Vec<_> = a.diagnostics.warnings().iter().collect();
    assert_eq!(w.len(), 1, "{w:?}");
    assert_eq!(w[0].kind, WarningKind::CorruptRecord);
    assert!(
        w[0].location.file.ends_with("bad-block.pcapng"),
        "{:?}",
        w[0]
    );
    assert_eq!(w[0].location.packet, Some(101));
    assert_eq!(w[0].location.offset, Some(pos as u64));
    // Only that block is lost: the reader finds the next one and goes on, and sessions
    // that did not need the lost packet are exactly as in the intact file.
    let full = analyze(&[path], &WS_PORTS);
    assert_eq!(a.stats.packets + 1, full.stats.packets);
    let t = Pcap::read(&samples().join("scenarios.pcap")).ts(100);
    let full_map = by_key(&full);
    let mut intact = 0;
    for s in &a.sessions {
        match full_map.get(&(s.client, s.server, s.start_ts.0)) {
            Some(f) if f.end_ts.0 < t || f.start_ts.0 > t => {
                assert!(same_outcome(s, f), "{} changed", s.client);
                intact += 1;
            }
            Some(_) => {}
            // The lost packet was this connection's first (its SYN): it now starts later.
            None => assert!(s.start_ts.0 > t, "{} is new", s.client),
        }
    }
    assert!(
        intact >= full.sessions.len() - 1,
        "{intact} of {}",
        full.sessions.len()
    );
}

#[test]
fn snaplen_cut_keeps_the_tcp_teardown() {
    let mut pcap = scenarios();
    let mut cut = 0;
    for (h, d) in &mut pcap.records {
        if d.len() > 96 {
            d.truncate(96);
            h[8..12].copy_from_slice(&96u32.to_le_bytes());
            cut += 1;
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let p = pcap.write(dir.path(), "s96.pcap");
    let a = analyze(&[p], &WS_PORTS);
    let full = analyze(&[samples().join("scenarios.pcap")], &WS_PORTS);
    // One warning per cut segment (every packet over 96 bytes here is TCP with payload).
    assert_eq!(a.diagnostics.count(WarningKind::SnaplenCut), cut);
    let cut_map = by_key(&a);
    let tcp_level = [
        "server_rst_no_close",
        "server_fin_no_close",
        "client_rst_no_close",
        "client_fin_no_close",
        "connect_refused",
    ];
    let mut checked = 0;
    for f in full
        .sessions
        .iter()
        .filter(|f| tcp_level.contains(&f.verdict.as_str()))
    {
        let s = cut_map
            .get(&(f.client, f.server, f.start_ts.0))
            .unwrap_or_else(|| panic!("{} lost", f.client));
        assert_eq!(s.verdict, f.verdict, "{}", f.client);
        assert_eq!(s.teardown_start_ts, f.teardown_start_ts);
        checked += 1;
    }
    assert!(checked >= 4);
}

/// Index of the records of one session and direction that carry payload, from the
/// analysis of the whole file: matched by addresses and ports in the raw bytes.
fn payload_records(pcap: &Pcap, src: SocketAddr, dst: SocketAddr) -> Vec<usize> {
    let (SocketAddr::V4(s), SocketAddr::V4(d)) = (src, dst) else {
        panic!("IPv4 expected")
    };
    (0..pcap.records.len())
        .filter(|&i| {
            let b = &pcap.records[i].1;
            b.len() > 54
                && b[26..30] == s.ip().octets()
                && b[30..34] == d.ip().octets()
                && b[34..36] == s.port().to_be_bytes()
                && b[36..38] == d.port().to_be_bytes()
                && b.len() > 14 + 20 + ((b[46] >> 4) as usize) * 4
        })
        .collect()
}

#[test]
fn lost_segment_inside_a_payload_keeps_the_framing() {
    let full = analyze(&[samples().join("scenarios.pcap")], &WS_PORTS);
    let s = full
        .sessions
        .iter()
        .find(|s| {
            s.request
                .as_ref()
                .is_some_and(|r| r.path == "/large_messages")
        })
        .unwrap();
    let mut pcap = scenarios();
    let recs = payload_records(&pcap, s.server, s.client);
    // A full-sized segment from the middle of the server's data: inside a large message.
    let victim = recs
        .iter()
        .copied()
        .filter(|&i| pcap.records[i].1.len() >= 1400)
        .nth(3)
        .expect("large segments");
    let lost = pcap.records[victim].1.len() as u64 - 66;
    pcap.records.remove(victim);
    let dir = tempfile::tempdir().unwrap();
    let a = analyze(&[pcap.write(dir.path(), "hole.pcap")], &WS_PORTS);
    let t = a.sessions.iter().find(|x| x.client == s.client).unwrap();
    assert!(same_outcome(t, s), "{} vs {}", t.verdict, s.verdict);
    assert_eq!(t.s2c.capture_gap_bytes, lost);
    assert_eq!(t.s2c.resyncs, 0);
    assert!(a.diagnostics.count(WarningKind::LostSegments) >= 1);
}

#[test]
fn lost_segment_at_a_frame_boundary_resynchronises() {
    let full = analyze(&[samples().join("scenarios.pcap")], &WS_PORTS);
    let s = full
        .sessions
        .iter()
        .find(|s| s.request.as_ref().is_some_and(|r| r.path == "/ping_pong"))
        .unwrap();
    let mut pcap = scenarios();
    let recs = payload_records(&pcap, s.client, s.server);
    // The client's second data-carrying segment: the first frame after the upgrade request.
    let victim = recs[1];
    pcap.records.remove(victim);
    let dir = tempfile::tempdir().unwrap();
    let a = analyze(&[pcap.write(dir.path(), "hole.pcap")], &WS_PORTS);
    let t = a.sessions.iter().find(|x| x.client == s.client).unwrap();
    assert_eq!(t.verdict, s.verdict);
    assert_eq!(t.client_observed_code, s.client_observed_code);
    assert_eq!(
        t.c2s.frames,
        s.c2s.frames - 1,
        "exactly the lost frame is missing"
    );
    assert!(t.c2s.capture_gap_bytes > 0);
}

#[test]
fn files_interleaved_by_time_merge_back() {
    let pcap = scenarios();
    let mut odd = pcap.clone();
    let mut even = pcap.clone();
    odd.records = pcap.records.iter().skip(1).step_by(2).cloned().collect();
    even.records = pcap.records.iter().step_by(2).cloned().collect();
    let dir = tempfile::tempdir().unwrap();
    let a = odd.write(dir.path(), "b.pcap");
    let b = even.write(dir.path(), "a.pcap");
    let (code, merged, err) = run(&[
        "sessions",
        "--format",
        "csv",
        a.to_str().unwrap(),
        b.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let (code, whole, err) = run(&[
        "sessions",
        "--format",
        "csv",
        samples().join("scenarios.pcap").to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(whole.lines().count() > 1, "no sessions: {whole}");
    assert_eq!(merged, whole);
}

#[test]
fn timestamps_going_back_are_reported() {
    let mut pcap = scenarios();
    let k = pcap.records.len() / 3;
    let later = pcap.records[k + 1].0;
    pcap.records[k].0[..8].copy_from_slice(&later[..8]);
    pcap.records[k].0[0..4]
        .copy_from_slice(&(u32::from_le_bytes(later[0..4].try_into().unwrap()) + 1).to_le_bytes());
    let dir = tempfile::tempdir().unwrap();
    let a = analyze(&[pcap.write(dir.path(), "back.pcap")], &WS_PORTS);
    let w: Vec<_> = a
        .diagnostics
        .warnings()
        .iter()
        .filter(|w| w.kind == WarningKind::TimestampOrder)
        .collect();
    assert_eq!(w.len(), 1);
    assert_eq!(w[0].location.packet, Some(k as u64 + 2));
}

#[test]
fn a_plain_http_connection_with_lost_segments_is_not_called_websocket() {
    // An HTTP download whose first response segment and two more are not in the capture
    // (the client acknowledged past them): the lost_segments warnings must not speak of
    // WebSocket framing, and it is not a session.
    let c: SocketAddr = "10.3.0.1:42000".parse().unwrap();
    let s: SocketAddr = "10.3.0.2:80".parse().unwrap();
    let ack = Flags {
        ack: true,
        ..Flags::default()
    };
    let mut k = Craft::default();
    k.tcp(
        0,
        c,
        s,
        100,
        0,
        Flags {
            syn: true,
            ..Flags::default()
        },
        &[],
    );
    k.tcp(1000, s, c, 900, 101, Flags { syn: true, ..ack }, &[]);
    k.tcp(2000, c, s, 101, 901, ack, &[]);
    let req = b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n";
    k.tcp(3000, c, s, 101, 901, Flags { psh: true, ..ack }, req);
    let after_req = 101 + req.len() as u32;
    let body = [b'x'; 1000];
    for i in 0..8u32 {
        let seq = 901 + i * 1000;
        if ![0, 3, 6].contains(&i) {
            k.tcp(4000 + u64::from(i) * 100, s, c, seq, after_req, ack, &body);
        }
        k.tcp(
            4050 + u64::from(i) * 100,
            c,
            s,
            after_req,
            seq + 1000,
            ack,
            &[],
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let p = k.write(dir.path(), "http_lossy.pcap");
    let a = analyze(std::slice::from_ref(&p), &[]);
    assert!(a.sessions.is_empty());
    let lost: Vec<&str> = a
        .diagnostics
        .warnings()
        .iter()
        .filter(|w| w.kind == WarningKind::LostSegments)
        .map(|w| w.message.as_str())
        .collect();
    assert_eq!(lost.len(), 3, "{lost:?}");
    assert!(lost.iter().all(|m| !m.contains("WebSocket")), "{lost:?}");
}

/// Synthetic one-packet captures: a SYN from a distinct port at second `i`.
fn syn_capture(i: u32) -> Vec<u8> {
    let mut v = Vec::new();
    for x in [0xa1b2_c3d4u32, 0x0004_0002, 0, 0, 65535, 101] {
        v.extend_from_slice(&x.to_le_bytes());
    }
    let mut ip = vec![
        0x45, 0, 0, 40, 0, 0, 0x40, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
    ];
    let port = 10_000 + (i % 50_000) as u16;
    ip.extend_from_slice(&port.to_be_bytes());
    ip.extend_from_slice(&9999u16.to_be_bytes());
    ip.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 0xff, 0xff, 0, 0, 0, 0]);
    for x in [1_700_000_000 + i, 0, ip.len() as u32, ip.len() as u32] {
        v.extend_from_slice(&x.to_le_bytes());
    }
    v.extend_from_slice(&ip);
    v
}

/// More files than the kernel allows memory maps (`vm.max_map_count`, 65 530): a long run
/// rotated with `tcpdump -G`. Every file is read, one at a time.
#[test]
fn a_folder_of_more_files_than_the_map_count_limit_is_read_whole() {
    const FILES: u32 = 70_000;
    let dir = tempfile::tempdir().unwrap();
    for i in 0..FILES {
        std::fs::write(dir.path().join(format!("run-{i:06}.pcap")), syn_capture(i)).unwrap();
    }
    let a = analyze(&[dir.path().to_path_buf()], &[9999]);
    assert!(a.diagnostics.is_empty(), "{:?}", a.diagnostics.warnings());
    assert_eq!(a.stats.files, FILES as usize);
    assert_eq!(a.stats.packets, u64::from(FILES));
    assert_eq!(a.stats.tcp_segments, u64::from(FILES));
}

/// A file in a folder that cannot be read is a warning (exit status 2 on the command
/// line), as the same file named directly is; a file that is readable but not a capture
/// is left out quietly.
#[test]
fn an_unreadable_file_in_a_folder_is_reported() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.pcap"), syn_capture(1)).unwrap();
    std::fs::write(dir.path().join("notes.txt"), "not a capture").unwrap();
    let locked = dir.path().join("b.pcap");
    std::fs::write(&locked, syn_capture(2)).unwrap();
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o000)).unwrap();
    if std::fs::File::open(&locked).is_ok() {
        // Running as root, which reads anything: a file whose read fails instead.
        std::fs::remove_file(&locked).unwrap();
        std::os::unix::fs::symlink("/proc/self/mem", &locked).unwrap();
    }
    let a = analyze(&[dir.path().to_path_buf()], &[9999]);
    let unusable: Vec<_> = a
        .diagnostics
        .warnings()
        .iter()
        .filter(|w| w.kind == WarningKind::UnusableFile)
        .collect();
    assert_eq!(unusable.len(), 1, "{unusable:?}");
    assert!(unusable[0].location.file.ends_with("b.pcap"));
    assert!(a.unusable_input);
    assert_eq!(a.stats.files, 1);
    assert_eq!(a.stats.packets, 1);
}

/// A client cannot hide its session behind a head a strict HTTP parser refuses: over 64
/// KiB, control bytes in the User-Agent, ESC and 0xFF in the path. Each is still a
/// session, with its frames and close, and a `malformed_handshake` warning.
#[test]
fn upgrades_with_heads_http_refuses_are_still_sessions() {
    let mut pad = b"X-Pad: ".to_vec();
    pad.resize(70_000, b'a');
    pad.extend_from_slice(b"\r\n");
    let heads = [
        upgrade_head(b"/plain", b""),
        upgrade_head(b"/big", &pad),
        upgrade_head(b"/ua", b"User-Agent: evil\x1b]0;x\x07\r\n"),
        upgrade_head(b"/p\x1b[2J\xff", b""),
    ];
    let mut bytes = raw_ip_pcap_header();
    for (i, h) in heads.iter().enumerate() {
        bytes.extend(ws_session(40_000 + i as u16, 1000 * i as u64, h));
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("heads.pcap");
    std::fs::write(&path, bytes).unwrap();
    let a = analyze(std::slice::from_ref(&path), &[]);
    assert_eq!(a.sessions.len(), 4, "{:?}", a.diagnostics.warnings());
    for s in &a.sessions {
        assert_eq!(s.verdict.to_string(), "clean_close_client", "{}", s.client);
        assert_eq!((s.c2s.frames, s.s2c.frames), (2, 2), "{}", s.client);
    }
    let paths: Vec<&str> = a
        .sessions
        .iter()
        .map(|s| s.request.as_ref().unwrap().path.as_str())
        .collect();
    assert_eq!(paths, ["/plain", "/big", "/ua", "/p\u{1b}[2J\u{fffd}"]);
    assert_eq!(
        a.sessions[2]
            .request
            .as_ref()
            .unwrap()
            .user_agent
            .as_deref(),
        Some("evil\u{1b}]0;x\u{7}")
    );
    let malformed: Vec<_> = a
        .diagnostics
        .warnings()
        .iter()
        .filter(|w| w.kind == WarningKind::MalformedHandshake)
        .collect();
    assert_eq!(malformed.len(), 3, "{malformed:?}");
    for w in malformed {
        assert!(w.location.file.ends_with("heads.pcap") && w.location.packet.is_some());
    }
    assert_eq!(
        a.diagnostics.counts().len(),
        1,
        "{:?}",
        a.diagnostics.warnings()
    );
}

/// A flow with more RTP streams than are tracked (64) says so: a `rtp_stream_cap`
/// warning naming the file and the first packet left out, and the packets counted.
#[test]
fn rtp_streams_beyond_the_cap_are_counted_and_reported() {
    let mut bytes = Vec::new();
    for x in [0xa1b2_c3d4u32, 0x0004_0002, 0, 0, 65535, 101] {
        bytes.extend_from_slice(&x.to_le_bytes());
    }
    let mut n = 0u32;
    // 100 SSRCs, 3 packets each, round after round.
    for round in 0..3u16 {
        for ssrc in 0..100u32 {
            let mut rtp = vec![0x80, 96];
            rtp.extend_from_slice(&round.to_be_bytes());
            rtp.extend_from_slice(&(u32::from(round) * 160).to_be_bytes());
            rtp.extend_from_slice(&(0x1000 + ssrc).to_be_bytes());
            rtp.extend_from_slice(&[0; 20]);
            let len = 28 + rtp.len();
            let mut ip = vec![0x45, 0, 0, len as u8, 0, 0, 0x40, 0, 64, 17, 0, 0];
            ip.extend_from_slice(&[10, 0, 0, 1, 10, 0, 0, 2]);
            ip.extend_from_slice(&5004u16.to_be_bytes());
            ip.extend_from_slice(&5006u16.to_be_bytes());
            ip.extend_from_slice(&((len - 20) as u16).to_be_bytes());
            ip.extend_from_slice(&[0, 0]);
            ip.extend_from_slice(&rtp);
            for x in [
                1_700_000_000 + n / 1000,
                (n % 1000) * 1000,
                len as u32,
                len as u32,
            ] {
                bytes.extend_from_slice(&x.to_le_bytes());
            }
            bytes.extend_from_slice(&ip);
            n += 1;
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ssrcs.pcap");
    std::fs::write(&path, bytes).unwrap();
    let a = analyze(std::slice::from_ref(&path), &[]);
    let flows: Vec<_> = a.orphan_media.iter().collect();
    assert_eq!(flows.len(), 1);
    assert_eq!(flows[0].rtp.len(), 64);
    assert_eq!(flows[0].rtp_untracked_packets, 36 * 3);
    let w: Vec<_> = a
        .diagnostics
        .warnings()
        .iter()
        .filter(|w| w.kind == WarningKind::RtpStreamCap)
        .collect();
    assert_eq!(w.len(), 1, "{:?}", a.diagnostics.warnings());
    assert!(w[0].location.file.ends_with("ssrcs.pcap"));
    assert_eq!(w[0].location.packet, Some(65));
    assert!(w[0].message.contains("108 packets"), "{}", w[0].message);
}

/// A file larger than several read chunks (4 MiB each) gives exactly what the same bytes
/// in memory give: records across chunk ends, chunks freed batch after batch.
#[test]
fn a_file_read_in_chunks_gives_what_its_bytes_in_memory_give() {
    let cfg = teardown_synth::SynthConfig {
        sessions: 200,
        duration_s: 120.0,
        seed: 3,
        ..teardown_synth::SynthConfig::default()
    };
    let mut bytes = Vec::new();
    teardown_synth::generate(&cfg, &mut bytes).unwrap();
    assert!(bytes.len() > 12 << 20, "{} bytes", bytes.len());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.pcap");
    std::fs::write(&path, &bytes).unwrap();
    let opts = teardown::Options::default();
    let file = teardown::analyze(std::slice::from_ref(&path), &opts).unwrap();
    let memory = teardown::analyze_bytes(&path.display().to_string(), bytes, &opts).unwrap();
    assert_eq!(file.stats.packets, memory.stats.packets);
    assert_eq!(file.stats.bytes, memory.stats.bytes);
    assert_eq!(file.sessions.len(), memory.sessions.len());
    for (a, b) in file.sessions.iter().zip(&memory.sessions) {
        assert!(
            same_outcome(a, b),
            "{} {} vs {}",
            a.client,
            a.verdict,
            b.verdict
        );
        assert_eq!(a.rtp_packets(), b.rtp_packets());
    }
    assert_eq!(file.orphan_media.len(), memory.orphan_media.len());
    assert_eq!(file.diagnostics.counts(), memory.diagnostics.counts());
}
