//! One direction of TCP reassembly under arbitrary segments, acks and FINs.
//!
//! Every payload byte is a function of its stream offset, so the target can check that
//! each delivered byte sits at the offset it was sent at, that deliveries are contiguous
//! (a running counter: no offset is delivered twice or skipped), and that data plus gaps
//! never run past the highest offset a segment or an ack vouched for.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use teardown_wire::tcp::{Delivery, Reassembler, SeqNum, MAX_BUFFERED_BYTES};
use teardown_wire::time::Timestamp;

#[derive(Arbitrary, Debug)]
enum Op {
    /// Sequence number relative to the next expected one.
    Near {
        rel: i16,
        len: u16,
        missing: u8,
    },
    /// Any sequence number, any cut length.
    Far {
        seq: u32,
        len: u16,
        missing: u32,
    },
    Syn(u32),
    Ack {
        rel: i32,
    },
    Fin {
        rel: i16,
        len: u16,
    },
    Finish,
}

#[derive(Arbitrary, Debug)]
struct Input {
    base: u32,
    ops: Vec<Op>,
}

fn pattern(off: i128) -> u8 {
    let o = off as u64;
    (o ^ (o >> 8) ^ (o >> 16) ^ (o >> 24)).wrapping_mul(31) as u8
}

#[derive(Default)]
struct Model {
    /// Bytes accounted for by deliveries (data and gaps), in order.
    delivered: u64,
    data: u64,
    gaps: u64,
}

impl Model {
    fn take(&mut self, d: Delivery<'_>) {
        match d {
            Delivery::Data { bytes, .. } => {
                assert!(!bytes.is_empty(), "empty data delivery");
                for (i, b) in bytes.iter().enumerate() {
                    let off = self.delivered as i128 + i as i128;
                    assert_eq!(*b, pattern(off), "byte delivered at the wrong offset {off}");
                }
                self.delivered += bytes.len() as u64;
                self.data += bytes.len() as u64;
            }
            Delivery::Gap { len, .. } => {
                assert!(len > 0, "empty gap");
                self.delivered += len;
                self.gaps += len;
            }
        }
    }
}

/// Stream offset of `seq` as the reassembler numbers it.
fn offset_of(r: &Reassembler, seq: u32) -> i128 {
    let next = r.next_seq().unwrap_or(SeqNum(seq));
    r.offset() as i128 + SeqNum(seq).diff(next) as i128
}

fuzz_target!(|input: Input| {
    let mut r = Reassembler::default();
    let mut m = Model::default();
    // Highest stream offset that a segment (its end) or an ack vouched for.
    let mut high: i128 = 0;
    let mut payload = Vec::new();
    for (i, op) in input.ops.into_iter().enumerate() {
        let ts = Timestamp(i as i64);
        let next = r.next_seq().map_or(input.base, |s| s.0);
        match op {
            Op::Near { .. } | Op::Far { .. } => {
                let (seq, len, missing) = match op {
                    Op::Near { rel, len, missing } => {
                        (next.wrapping_add(rel as i32 as u32), len, missing as u32)
                    }
                    Op::Far { seq, len, missing } => (seq, len, missing),
                    _ => unreachable!(),
                };
                let off = offset_of(&r, seq);
                payload.clear();
                payload.extend((0..len as i128).map(|k| pattern(off + k)));
                if len as u64 + missing as u64 > 0 {
                    high = high.max(off + len as i128 + missing as i128);
                }
                r.segment(ts, seq, &payload, missing, &mut |d| m.take(d));
            }
            Op::Syn(isn) => r.syn(isn),
            Op::Ack { rel } => {
                let ack = next.wrapping_add(rel as u32);
                if r.next_seq().is_some() {
                    high = high.max(offset_of(&r, ack));
                }
                r.peer_ack(ts, ack, &mut |d| m.take(d));
            }
            Op::Fin { rel, len } => r.fin(next.wrapping_add(rel as i32 as u32), len as u32),
            Op::Finish => r.finish(ts, &mut |d| m.take(d)),
        }
        assert_eq!(m.delivered, r.offset(), "deliveries and offset disagree");
        assert!(
            (r.offset() as i128) <= high,
            "{} bytes accounted for, only {high} could exist",
            r.offset()
        );
        assert_eq!(r.stats.delivered_bytes, m.data);
        assert_eq!(r.stats.gap_bytes, m.gaps);
    }
    r.finish(Timestamp(-1), &mut |d| m.take(d));
    assert!(!r.has_buffered(), "finish left segments buffered");
    assert_eq!(m.delivered, r.offset());
    let _ = MAX_BUFFERED_BYTES;
});
