//! Retransmissions as Wireshark's TCP analysis counts them (`tcp.analysis.retransmission`,
//! `tcp.analysis.fast_retransmission`, `tcp.analysis.spurious_retransmission`), so that
//! tshark is an oracle for the counts: a segment carrying data, a SYN or a FIN that does
//! not start at or after the highest sequence number seen is a retransmission, unless it is
//! a keep-alive; it is fast when it starts at the peer's last ACK after two or more
//! duplicate ACKs less than 20 ms earlier, spurious when the peer had already acknowledged
//! all of it, and otherwise out of order (not a retransmission) when it came within the
//! handshake's round trip (3 ms without one) of the highest segment. tshark 4.0 is the
//! reference (the order of these checks is its order).

use super::seq::SeqNum;
use crate::capture::{Segment, TcpFlags};
use crate::time::Timestamp;

/// What a segment is to the sequence analysis.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum SegmentClass {
    /// New data, or nothing to say.
    Normal,
    /// Sent again after a timeout (`tcp.analysis.retransmission`).
    Retransmission,
    /// Sent again after duplicate ACKs (`tcp.analysis.fast_retransmission`, which tshark
    /// also flags as a retransmission).
    FastRetransmission,
    /// Sent again although the peer had acknowledged it
    /// (`tcp.analysis.spurious_retransmission`).
    SpuriousRetransmission,
    /// Behind the highest sequence number, but too soon after it to be a retransmission.
    OutOfOrder,
    /// A keep-alive probe (one byte before the next sequence number).
    KeepAlive,
}

/// Out-of-order threshold without a handshake round trip (Wireshark's default).
const OOO_DEFAULT_NS: i64 = 3_000_000;
/// A fast retransmission comes within this of the last duplicate ACK.
const FAST_WINDOW_NS: i64 = 20_000_000;

#[derive(Clone, Debug, Default)]
struct Direction {
    /// The sequence number after the highest segment sent, and when it was sent.
    nextseq: Option<(SeqNum, Timestamp)>,
    /// The last acknowledgment number sent, and when.
    lastack: Option<(SeqNum, Timestamp)>,
    /// Duplicate ACKs sent in a row.
    dupacks: u32,
    /// The last window advertised.
    window: Option<u16>,
}

/// The sequence analysis of one connection, both directions (index 0 and 1).
#[derive(Clone, Debug, Default)]
pub struct SeqAnalysis {
    dirs: [Direction; 2],
    /// The first SYN (direction, time), for the handshake's round trip.
    syn: Option<(usize, Timestamp)>,
    /// SYN to the ACK completing the handshake, in ns.
    first_rtt_ns: Option<i64>,
}

impl SeqAnalysis {
    /// Classifies a segment sent in direction `d`.
    pub fn segment(&mut self, d: usize, seg: &Segment<'_>) -> SegmentClass {
        let (ts, seq, ack, flags, window) = (seg.ts, seg.seq, seg.ack, seg.flags, seg.window);
        let len = (seg.payload.len() as u32).saturating_add(seg.missing);
        let (syn, fin, rst, has_ack) = (
            flags.has(TcpFlags::SYN),
            flags.has(TcpFlags::FIN),
            flags.has(TcpFlags::RST),
            flags.has(TcpFlags::ACK),
        );
        if syn && !has_ack && self.syn.is_none() {
            self.syn = Some((d, ts));
        }
        if let (Some((syn_d, syn_ts)), None) = (self.syn, self.first_rtt_ns) {
            if syn_d == d && has_ack && !syn {
                self.first_rtt_ns = Some(ts.0.saturating_sub(syn_ts.0));
            }
        }
        let seq = SeqNum(seq);
        let (fwd, rev) = if d == 0 {
            let [a, b] = &mut self.dirs;
            (a, &*b)
        } else {
            let [a, b] = &mut self.dirs;
            (b, &*a)
        };
        let mut class = SegmentClass::Normal;
        let nextseq = fwd.nextseq;
        let keepalive = len <= 1
            && !(syn || fin || rst)
            && nextseq.is_some_and(|(n, _)| seq == n.advance(u32::MAX));
        let dupack = len == 0
            && window != 0
            && fwd.window == Some(window)
            && nextseq.is_some_and(|(n, _)| seq == n)
            && has_ack
            && fwd.lastack.is_some_and(|(a, _)| a.0 == ack)
            && !(syn || fin || rst);
        if keepalive {
            class = SegmentClass::KeepAlive;
        } else if let Some((n, n_ts)) = nextseq.filter(|(n, _)| (len > 0 || syn || fin) && seq < *n)
        {
            let fast = rev.dupacks >= 2
                && rev.lastack.is_some_and(|(a, a_ts)| {
                    a == seq && ts.0.saturating_sub(a_ts.0) < FAST_WINDOW_NS
                });
            let ooo_thres = self.first_rtt_ns.unwrap_or(OOO_DEFAULT_NS);

            class = if fast {
                SegmentClass::FastRetransmission
            } else if len > 0 && rev.lastack.is_some_and(|(a, _)| seq.advance(len) <= a) {
                SegmentClass::SpuriousRetransmission
            } else if ts.0.saturating_sub(n_ts.0) < ooo_thres
                && n != seq.advance(len.wrapping_add(u32::from(syn || fin)))
            {
                SegmentClass::OutOfOrder
            } else {
                SegmentClass::Retransmission
            };
        }
        let end = seq.advance(len.wrapping_add(u32::from(syn || fin)));
        if nextseq.is_none_or(|(n, _)| end > n) {
            fwd.nextseq = Some((end, ts));
        }
        fwd.window = Some(window);
        // As Wireshark: the count goes on until the acknowledgment number changes (data
        // sent meanwhile does not end a run of duplicate ACKs).
        if dupack {
            fwd.dupacks += 1;
        } else if fwd.lastack.is_none_or(|(a, _)| a.0 != ack) {
            fwd.dupacks = 0;
        }
        if has_ack {
            fwd.lastack = Some((SeqNum(ack), ts));
        }
        class
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ACK: TcpFlags = TcpFlags(TcpFlags::ACK);

    fn ms(v: i64) -> Timestamp {
        Timestamp(v * 1_000_000)
    }

    /// A segment in direction `d` at `t` ms with `len` payload bytes (their content does
    /// not matter here).
    fn c(
        a: &mut SeqAnalysis,
        d: usize,
        t: i64,
        seq: u32,
        ack: u32,
        flags: TcpFlags,
        len: u32,
    ) -> SegmentClass {
        let seg = Segment {
            ts: ms(t),
            src: "10.0.0.1:1".parse().unwrap(),
            dst: "10.0.0.2:2".parse().unwrap(),
            seq,
            ack,
            flags,
            window: 1000,
            payload: &[],
            missing: len,
            file: 0,
            number: 0,
        };
        a.segment(d, &seg)
    }

    #[test]
    fn timeout_fast_and_spurious_retransmissions() {
        let mut a = SeqAnalysis::default();
        assert_eq!(c(&mut a, 0, 0, 100, 0, ACK, 10), SegmentClass::Normal);
        // The same bytes 200 ms later: a retransmission after a timeout.
        assert_eq!(
            c(&mut a, 0, 200, 100, 0, ACK, 10),
            SegmentClass::Retransmission
        );
        // The peer acknowledges them; sending them again is spurious.
        assert_eq!(c(&mut a, 1, 210, 500, 110, ACK, 0), SegmentClass::Normal);
        assert_eq!(
            c(&mut a, 0, 400, 100, 500, ACK, 10),
            SegmentClass::SpuriousRetransmission
        );
        // 110..120 lost, 120..130 sent; three ACKs of 110; 110 sent again: fast.
        assert_eq!(c(&mut a, 0, 500, 120, 500, ACK, 10), SegmentClass::Normal);
        for t in [501, 502, 503] {
            assert_eq!(c(&mut a, 1, t, 500, 110, ACK, 0), SegmentClass::Normal);
        }
        assert_eq!(
            c(&mut a, 0, 504, 110, 500, ACK, 10),
            SegmentClass::FastRetransmission
        );
        // Behind the highest segment but 1 ms after it: out of order.
        assert_eq!(c(&mut a, 0, 505, 140, 500, ACK, 10), SegmentClass::Normal);
        assert_eq!(
            c(&mut a, 0, 506, 130, 500, ACK, 10),
            SegmentClass::OutOfOrder
        );
        // A keep-alive: one byte before the next sequence number.
        assert_eq!(
            c(&mut a, 0, 9000, 149, 500, ACK, 0),
            SegmentClass::KeepAlive
        );
        // A FIN sent twice.
        let fin = TcpFlags(TcpFlags::FIN | TcpFlags::ACK);
        assert_eq!(c(&mut a, 1, 9100, 500, 150, fin, 0), SegmentClass::Normal);
        assert_eq!(
            c(&mut a, 1, 9400, 500, 150, fin, 0),
            SegmentClass::Retransmission
        );
        // The same FIN captured twice at the same instant is a retransmission too.
        assert_eq!(
            c(&mut a, 1, 9400, 500, 150, fin, 0),
            SegmentClass::Retransmission
        );
    }
}
