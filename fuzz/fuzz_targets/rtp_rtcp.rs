//! RTP headers, RTCP compound packets, and `RtpStream` statistics over an arbitrary
//! sequence of packets (sequence number, media timestamp, arrival time).
//!
//! Beyond "no panic": `probe_rtp` and `probe_rtcp` never both claim a datagram, and an
//! RTP claim parses; the RTP payload fits in the packet; an RTCP compound holds at most
//! 16 packets, at most 31 report blocks or sources each, every block backed by 24 bytes,
//! and a compound whose lengths add up is not empty; the stream's counters agree
//! (received = expected − lost is at least 1 and at most the packets pushed, duplicates
//! and late packets are among them) and, while every packet moves the sequence forward by
//! less than the dropout limit, loss is exactly the holes in the sequence; jitter values
//! are finite and non-negative.
#![no_main]

use arbitrary::Arbitrary;
use fuzz_util::check_alloc;
use libfuzzer_sys::fuzz_target;
use teardown_wire::media::rtp::{
    parse_rtcp, parse_rtp, probe_rtcp, probe_rtp, static_clock_rate, RtcpPacket,
};
use teardown_wire::media::RtpStream;
use teardown_wire::time::Timestamp;

/// One RTP packet of the stream.
#[derive(Arbitrary, Debug)]
struct Update {
    seq: u16,
    rtp_ts: u32,
    /// Arrival time after the previous packet, microseconds (may go back).
    arrival_us: i32,
    marker: bool,
    pt: u8,
    len: u16,
}

#[derive(Arbitrary, Debug)]
struct Input<'a> {
    first: Update,
    /// Clock rate known up front (static payload types); else candidates are tried.
    clock_rate: Option<u32>,
    /// Clock rate the SDP gives at the join.
    sdp_rate: Option<u32>,
    relayed: bool,
    updates: Vec<Update>,
    /// One datagram read as RTP and as RTCP.
    packet: &'a [u8],
}

/// RFC 3550 A.1's dropout limit: a forward step below it is in order.
const MAX_DROPOUT: u16 = 3000;

fn check_rtcp(b: &[u8]) {
    let c = check_alloc(b.len(), 8, 1024, || parse_rtcp(b));
    assert!(c.packets.len() <= 16);
    assert!(!c.encrypted || c.packets.len() <= 1);
    assert!(c.encrypted || b.is_empty() || !c.packets.is_empty());
    for p in &c.packets {
        match p {
            RtcpPacket::SenderReport { blocks, .. } | RtcpPacket::ReceiverReport { blocks, .. } => {
                assert!(blocks.len() <= 31 && blocks.len() * 24 <= b.len());
            }
            RtcpPacket::Sdes { cnames } => {
                let text: usize = cnames.iter().map(|(_, s)| s.len()).sum();
                assert!(text <= 3 * b.len());
            }
            RtcpPacket::Bye { ssrcs, reason } => {
                assert!(ssrcs.len() <= 31 && ssrcs.len() * 4 <= b.len());
                assert!(reason.as_ref().map_or(0, String::len) <= 3 * b.len());
            }
            RtcpPacket::Other(_) => {}
        }
    }
}

fuzz_target!(|input: Input<'_>| {
    let b = input.packet;
    // The two probes never both claim a datagram, and an RTP claim parses.
    assert!(!(probe_rtp(b) && probe_rtcp(b)));
    assert!(!probe_rtp(b) || parse_rtp(b).is_some());
    if let Some(h) = parse_rtp(b) {
        assert!(12 + h.payload_len <= b.len());
        assert_eq!(h.seq, u16::from_be_bytes([b[2], b[3]]));
        let _ = static_clock_rate(h.payload_type);
    }
    check_rtcp(b);

    let f = &input.first;
    let mut ts = Timestamp(0);
    let mut s = RtpStream::new(
        ts,
        7,
        f.pt,
        f.seq,
        f.rtp_ts,
        input.clock_rate,
        input.relayed,
    );
    // Extended highest sequence number while every step has been a small forward one.
    let mut clean = Some(f.seq as u64);
    let mut last_seq = f.seq;
    let (mut packets, mut bytes) = (0u64, 0u64);
    for (i, u) in std::iter::once(f).chain(&input.updates).enumerate() {
        if i > 0 {
            ts = Timestamp(ts.0.saturating_add(i64::from(u.arrival_us) * 1000));
            let step = u.seq.wrapping_sub(last_seq);
            last_seq = u.seq;
            clean = clean
                .filter(|_| (1..MAX_DROPOUT).contains(&step))
                .map(|m| m + step as u64);
        }
        s.push(ts, u.marker, u.pt, u.seq, u.rtp_ts, u.len as usize);
        packets += 1;
        bytes += u.len as u64;
        assert_eq!((s.packets, s.payload_bytes), (packets, bytes));
        let received = s.expected as i64 - s.lost;
        assert!(received >= 1 && received as u64 <= packets, "{s:?}");
        assert!(s.duplicates + s.out_of_order < packets);
        assert!(s.seq_jumps < packets);
        if let Some(max) = clean {
            assert_eq!(s.expected, max - f.seq as u64 + 1, "{s:?}");
            assert_eq!(s.lost, s.expected as i64 - packets as i64);
        }
        assert!(s.max_gap_ms >= 0.0 && s.max_gap_ms.is_finite());
        assert!(s.max_delta_ms >= 0.0 && s.max_delta_ms.is_finite());
    }
    s.settle_clock_rate(input.sdp_rate);
    for v in [s.jitter_ms, s.max_jitter_ms, s.mean_jitter_ms]
        .into_iter()
        .flatten()
    {
        assert!(v.is_finite() && v >= 0.0, "{s:?}");
    }
});
