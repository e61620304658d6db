//! One direction of a TCP connection, put back in order.
//!
//! Bytes are numbered by a 64-bit stream offset, so the 32-bit sequence wrap is handled
//! once, in [`Reassembler::offset_of`]. In-order data is handed straight through without
//! copying; only segments that arrive ahead of a hole are copied into a bounded buffer.
//!
//! A hole is declared lost (and reported as a [`Delivery::Gap`] so the decoder above can
//! resynchronise) when the capture cannot fill it any more: the receiver already
//! acknowledged bytes past it (the capture missed a segment the peer got), the buffer limit
//! is reached, or the connection ends.

use super::seq::SeqNum;
use crate::time::Timestamp;
use std::collections::{BTreeMap, VecDeque};
use std::hash::Hasher;

/// Out-of-order bytes buffered per direction before the oldest hole is given up.
pub const MAX_BUFFERED_BYTES: usize = 4 << 20;
/// Out-of-order segments buffered per direction before the oldest hole is given up.
pub const MAX_BUFFERED_SEGMENTS: usize = 4096;
/// Delivered segments remembered (start, length, hash of the bytes) per direction, to tell
/// a retransmission carrying other bytes than the first copy.
const RECENT_SEGMENTS: usize = 16;

/// What the reassembler hands to the stream decoder, in stream order.
#[derive(Debug, PartialEq, Eq)]
pub enum Delivery<'a> {
    /// Contiguous bytes, with the capture time of the packet that carried them.
    Data {
        /// Capture time of the carrying packet.
        ts: Timestamp,
        /// The bytes.
        bytes: &'a [u8],
    },
    /// Bytes that exist in the stream but not in the capture.
    Gap {
        /// Time at which the gap was declared.
        ts: Timestamp,
        /// How many bytes are missing.
        len: u64,
    },
}

/// Counters of what reassembly saw.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReassemblyStats {
    /// Segments whose bytes had all been delivered already.
    pub retransmitted: u64,
    /// Segments that partly overlapped delivered bytes (the first copy wins).
    pub overlapping: u64,
    /// Segments that arrived ahead of a hole.
    pub out_of_order: u64,
    /// Holes given up as lost.
    pub gaps: u64,
    /// Bytes in those holes (including bytes cut by the snaplen).
    pub gap_bytes: u64,
    /// Times the buffer limit forced a hole to be given up.
    pub overflows: u64,
    /// Bytes delivered as data.
    pub delivered_bytes: u64,
    /// Retransmissions whose bytes differ from the first copy (Zeek's
    /// `rexmit_inconsistency`); the first copy is the one delivered.
    pub inconsistent: u64,
    /// Bytes compared and found different in the last of those.
    pub last_inconsistent_len: u64,
}

struct Buffered {
    ts: Timestamp,
    bytes: Vec<u8>,
    missing: u64,
}

fn hash(bytes: &[u8]) -> u64 {
    let mut h = rustc_hash::FxHasher::default();
    h.write(bytes);
    h.finish()
}

/// Reassembles one direction of one connection.
#[derive(Default)]
pub struct Reassembler {
    /// Sequence number of the next byte expected.
    next: Option<SeqNum>,
    /// Stream offset of `next` (bytes delivered plus bytes given up).
    offset: u64,
    /// Stream offset of the FIN, once seen.
    fin_offset: Option<u64>,
    buffered: BTreeMap<u64, Buffered>,
    buffered_bytes: usize,
    /// The last segments delivered whole: stream offset, length, hash of their bytes
    /// (32 bits of it: 16 bytes an entry, kept for every open connection).
    recent: VecDeque<(u64, u32, u32)>,
    /// Counters.
    pub stats: ReassemblyStats,
}

impl Reassembler {
    /// Starts the stream at the byte after the SYN (RFC 9293 §3.4: the SYN takes one
    /// sequence number).
    pub fn syn(&mut self, isn: u32) {
        if self.next.is_none() {
            self.next = Some(SeqNum(isn).advance(1));
        }
    }

    /// The next sequence number expected, if known.
    pub fn next_seq(&self) -> Option<SeqNum> {
        self.next
    }

    /// Bytes of the stream accounted for so far (delivered or given up).
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// True when segments wait behind a hole.
    pub fn has_buffered(&self) -> bool {
        !self.buffered.is_empty()
    }

    fn offset_of(&self, seq: SeqNum) -> i128 {
        let next = self.next.unwrap_or(seq);
        self.offset as i128 + seq.diff(next) as i128
    }

    /// Records the FIN's sequence number (the byte after the last data byte).
    pub fn fin(&mut self, seq: u32, payload_len: u32) {
        let off = self.offset_of(SeqNum(seq).advance(payload_len));
        if off >= 0 && self.fin_offset.is_none() {
            self.fin_offset = Some(off as u64);
        }
    }

    /// Adds a segment's payload (`missing` bytes of it cut by the snaplen) and delivers
    /// whatever became contiguous.
    pub fn segment(
        &mut self,
        ts: Timestamp,
        seq: u32,
        payload: &[u8],
        missing: u32,
        out: &mut dyn FnMut(Delivery<'_>),
    ) {
        let len = payload.len() as u64 + missing as u64;
        if len == 0 {
            return;
        }
        if self.next.is_none() {
            // The connection started before the capture: take the stream from here.
            self.next = Some(SeqNum(seq));
        }
        let off = self.offset_of(SeqNum(seq));
        let end = off + len as i128;
        let cur = self.offset as i128;
        if off < cur && missing == 0 {
            self.compare_with_first_copy(off as u64, payload);
        }
        if end <= cur {
            self.stats.retransmitted += 1;
            return;
        }
        if off > cur {
            self.stats.out_of_order += 1;
            self.buffer(ts, off as u64, payload, missing as u64, out);
            return;
        }
        if off < cur {
            self.stats.overlapping += 1;
        }
        let skip = (cur - off) as u64;
        if skip == 0 && missing == 0 {
            self.remember(off as u64, payload);
        }
        self.deliver(ts, payload, missing as u64, skip, out);
        self.drain(out);
    }

    /// Keeps a delivered segment's start, length and hash.
    fn remember(&mut self, off: u64, payload: &[u8]) {
        if self.recent.len() == RECENT_SEGMENTS {
            self.recent.pop_front();
        }
        // A captured segment is shorter than 4 GiB (its record length is a u32).
        self.recent
            .push_back((off, payload.len() as u32, hash(payload) as u32));
    }

    /// A segment starting at `off`, behind the delivered bytes, against the first copy of a
    /// remembered segment with the same start that it covers.
    fn compare_with_first_copy(&mut self, off: u64, payload: &[u8]) {
        let first = self
            .recent
            .iter()
            .find(|(o, len, _)| *o == off && *len as usize <= payload.len());
        if let Some(&(_, len, h)) = first {
            let len = len as usize;
            if hash(&payload[..len]) as u32 != h {
                self.note_inconsistent(len);
            }
        }
    }

    fn note_inconsistent(&mut self, len: usize) {
        self.stats.inconsistent += 1;
        self.stats.last_inconsistent_len = len as u64;
    }

    /// Delivers `payload` (then `missing` gap bytes), skipping the first `skip` bytes
    /// already delivered.
    fn deliver(
        &mut self,
        ts: Timestamp,
        payload: &[u8],
        missing: u64,
        skip: u64,
        out: &mut dyn FnMut(Delivery<'_>),
    ) {
        let present = payload.len() as u64;
        if skip < present {
            let bytes = &payload[skip as usize..];
            self.advance(bytes.len() as u64);
            self.stats.delivered_bytes += bytes.len() as u64;
            out(Delivery::Data { ts, bytes });
        }
        let missing_left = (missing + present).saturating_sub(skip.max(present));
        if missing_left > 0 {
            self.give_up(ts, missing_left, out);
        }
    }

    fn advance(&mut self, n: u64) {
        self.offset += n;
        if let Some(next) = self.next {
            // Sequence numbers count bytes modulo 2^32 (RFC 9293 §3.4), so the low 32 bits
            // of `n` move `next` exactly, even when a segment and its cut bytes (or a
            // payload slice handed to the public API) pass 2^32: `next` and `offset` stay
            // in step.
            self.next = Some(next.advance((n % (1 << 32)) as u32));
        }
    }

    fn give_up(&mut self, ts: Timestamp, len: u64, out: &mut dyn FnMut(Delivery<'_>)) {
        self.advance(len);
        self.stats.gaps += 1;
        self.stats.gap_bytes += len;
        out(Delivery::Gap { ts, len });
    }

    fn buffer(
        &mut self,
        ts: Timestamp,
        off: u64,
        payload: &[u8],
        missing: u64,
        out: &mut dyn FnMut(Delivery<'_>),
    ) {
        if let Some(first) = self.buffered.get(&off) {
            // Same start seen before: a retransmission of a buffered segment.
            let n = first.bytes.len().min(payload.len());
            if first.bytes[..n] != payload[..n] {
                self.note_inconsistent(n);
            }
            self.stats.retransmitted += 1;
            return;
        }
        while !self.buffered.is_empty()
            && (self.buffered_bytes + payload.len() > MAX_BUFFERED_BYTES
                || self.buffered.len() >= MAX_BUFFERED_SEGMENTS)
        {
            self.stats.overflows += 1;
            self.skip_to_buffered(ts, out);
        }
        if off == self.offset {
            // Giving up a hole above made this segment contiguous.
            self.deliver(ts, payload, missing, 0, out);
            self.drain(out);
            return;
        }
        self.buffered_bytes += payload.len();
        self.buffered.insert(
            off,
            Buffered {
                ts,
                bytes: payload.to_vec(),
                missing,
            },
        );
    }

    /// Delivers buffered segments that became contiguous.
    fn drain(&mut self, out: &mut dyn FnMut(Delivery<'_>)) {
        while let Some(entry) = self.buffered.first_entry() {
            let off = *entry.key();
            if off > self.offset {
                break;
            }
            let seg = entry.remove();
            self.buffered_bytes -= seg.bytes.len();
            let end = off + seg.bytes.len() as u64 + seg.missing;
            if end <= self.offset {
                self.stats.retransmitted += 1;
                continue;
            }
            let skip = self.offset - off;
            if skip == 0 && seg.missing == 0 {
                self.remember(off, &seg.bytes);
            }
            self.deliver(seg.ts, &seg.bytes, seg.missing, skip, out);
        }
    }

    /// Gives up the hole before the first buffered segment and delivers what follows it.
    fn skip_to_buffered(&mut self, ts: Timestamp, out: &mut dyn FnMut(Delivery<'_>)) {
        if let Some((&first, _)) = self.buffered.first_key_value() {
            if first > self.offset {
                self.give_up(ts, first - self.offset, out);
            }
            self.drain(out);
        }
    }

    /// The peer acknowledged up to `ack`: bytes before it reached the peer, so a hole
    /// there is a capture loss, not a network loss, and waiting for it is pointless.
    pub fn peer_ack(&mut self, ts: Timestamp, ack: u32, out: &mut dyn FnMut(Delivery<'_>)) {
        let Some(_) = self.next else { return };
        let acked = self.offset_of(SeqNum(ack));
        let limit = self.fin_offset.map(|f| f as i128).unwrap_or(i128::MAX);
        let acked = acked.min(limit);
        let cur = self.offset as i128;
        // A window more than 1 GiB ahead is not a plausible capture loss: ignore it.
        if acked <= cur || acked - cur > (1 << 30) {
            return;
        }
        let first_buffered = self.buffered.first_key_value().map(|(k, _)| *k as i128);
        match first_buffered {
            Some(first) if first <= acked => self.skip_to_buffered(ts, out),
            _ => {
                self.give_up(ts, (acked - cur) as u64, out);
                self.drain(out);
            }
        }
    }

    /// Ends the stream: every remaining hole is given up and buffered data delivered.
    pub fn finish(&mut self, ts: Timestamp, out: &mut dyn FnMut(Delivery<'_>)) {
        while self.has_buffered() {
            self.skip_to_buffered(ts, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(r: &mut Reassembler, steps: &[(u32, &[u8])]) -> (Vec<u8>, u64) {
        let mut data = Vec::new();
        let mut gaps = 0;
        for (seq, bytes) in steps {
            r.segment(Timestamp(0), *seq, bytes, 0, &mut |d| match d {
                Delivery::Data { bytes, .. } => data.extend_from_slice(bytes),
                Delivery::Gap { len, .. } => gaps += len,
            });
        }
        (data, gaps)
    }

    #[test]
    fn in_order_out_of_order_and_retransmitted() {
        let mut r = Reassembler::default();
        r.syn(99);
        let (data, gaps) = run(
            &mut r,
            &[
                (100, b"abc"),
                (106, b"ghi"),
                (103, b"def"),
                (100, b"abc"),
                (104, b"efg"),
            ],
        );
        assert_eq!(data, b"abcdefghi");
        assert_eq!(gaps, 0);
        assert_eq!(r.stats.out_of_order, 1);
        assert_eq!(r.stats.retransmitted, 2);
    }

    #[test]
    fn overlap_keeps_first_copy() {
        let mut r = Reassembler::default();
        r.syn(0);
        let (data, _) = run(&mut r, &[(1, b"abcd"), (3, b"XXyz")]);
        assert_eq!(data, b"abcdyz");
        assert_eq!(r.stats.overlapping, 1);
    }

    #[test]
    fn a_retransmission_with_other_bytes_is_inconsistent_and_the_first_copy_wins() {
        let mut r = Reassembler::default();
        r.syn(99);
        // Delivered, then sent again with the same bytes, then with others.
        let (data, _) = run(&mut r, &[(100, b"GOOD"), (100, b"GOOD"), (100, b"EVIL")]);
        assert_eq!(data, b"GOOD");
        assert_eq!((r.stats.retransmitted, r.stats.inconsistent), (2, 1));
        // Buffered behind a hole, then sent again with other bytes.
        let (data, _) = run(&mut r, &[(110, b"late"), (110, b"LATE"), (104, b"aaaaaa")]);
        assert_eq!(data, b"aaaaaalate");
        assert_eq!(
            (r.stats.inconsistent, r.stats.last_inconsistent_len),
            (2, 4)
        );
    }

    #[test]
    fn sequence_wrap_is_seamless() {
        let mut r = Reassembler::default();
        r.syn(u32::MAX - 2);
        let (data, _) = run(
            &mut r,
            &[(u32::MAX - 1, b"ab"), (0, b"cd"), (4, b"gh"), (2, b"ef")],
        );
        assert_eq!(data, b"abcdefgh");
    }

    #[test]
    fn ack_past_a_hole_declares_capture_loss() {
        let mut r = Reassembler::default();
        r.syn(0);
        let mut log = Vec::new();
        r.segment(Timestamp(1), 1, b"ab", 0, &mut |d| {
            log.push(format!("{d:?}"))
        });
        r.segment(Timestamp(2), 6, b"fg", 0, &mut |d| {
            log.push(format!("{d:?}"))
        });
        assert_eq!(log.len(), 1);
        r.peer_ack(Timestamp(3), 8, &mut |d| log.push(format!("{d:?}")));
        assert_eq!(log[1], "Gap { ts: Timestamp(3), len: 3 }");
        assert!(log[2].contains("bytes: [102, 103]"));
        assert_eq!(r.stats.gap_bytes, 3);
    }

    #[test]
    fn ack_of_fin_is_not_a_gap() {
        let mut r = Reassembler::default();
        r.syn(0);
        run(&mut r, &[(1, b"ab")]);
        r.fin(3, 0);
        let mut gaps = 0;
        r.peer_ack(Timestamp(0), 4, &mut |_| gaps += 1);
        assert_eq!(gaps, 0);
    }

    #[test]
    fn snaplen_cut_bytes_become_a_gap() {
        let mut r = Reassembler::default();
        r.syn(0);
        let mut out = Vec::new();
        r.segment(Timestamp(0), 1, b"ab", 5, &mut |d| {
            out.push(format!("{d:?}"))
        });
        r.segment(Timestamp(0), 8, b"z", 0, &mut |d| {
            out.push(format!("{d:?}"))
        });
        assert_eq!(out.len(), 3);
        assert!(out[1].starts_with("Gap") && out[1].contains("len: 5"));
        assert!(out[2].contains("[122]"));
    }

    #[test]
    fn a_segment_passing_2_to_the_32_keeps_seq_and_offset_in_step() {
        let mut r = Reassembler::default();
        r.syn(u32::MAX - 1);
        let mut out = Vec::new();
        let mut log = |d: Delivery<'_>| out.push(format!("{d:?}"));
        // 3 bytes present, u32::MAX cut by the snaplen: 2^32 + 2 bytes in all.
        r.segment(Timestamp(0), u32::MAX, b"abc", u32::MAX, &mut log);
        assert_eq!(r.offset(), (1 << 32) + 2);
        assert_eq!(r.next_seq(), Some(SeqNum(u32::MAX).advance(2)));
        // The sender's next segment starts 2^32 + 2 bytes on, i.e. at seq 1.
        r.segment(Timestamp(1), 1, b"de", 0, &mut log);
        r.segment(Timestamp(2), 1, b"de", 0, &mut log);
        assert_eq!(out.len(), 3, "{out:?}");
        assert!(out[1].contains(&format!("len: {}", u32::MAX)));
        assert!(out[2].contains("[100, 101]"));
        assert_eq!(r.stats.retransmitted, 1);
        assert_eq!(r.offset(), (1 << 32) + 4);
    }

    #[test]
    fn buffer_limit_gives_up_the_oldest_hole() {
        let mut r = Reassembler::default();
        r.syn(0);
        let chunk = vec![7u8; 1024];
        let mut gaps = 0u64;
        let mut seq = 10u32;
        for _ in 0..(MAX_BUFFERED_BYTES / 1024 + 10) {
            r.segment(Timestamp(0), seq, &chunk, 0, &mut |d| {
                if let Delivery::Gap { len, .. } = d {
                    gaps += len
                }
            });
            seq += 1024;
        }
        assert!(r.stats.overflows >= 1);
        assert_eq!(gaps, 9);
        assert!(r.buffered_bytes <= MAX_BUFFERED_BYTES);
    }
}
