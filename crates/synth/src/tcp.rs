//! TCP state of one synthetic connection, seen from a capture point on the server host.
//!
//! Sequence numbers are kept as 64-bit stream offsets (0 is the first byte after the SYN)
//! and written modulo 2^32 from a random initial sequence number. Each receiver is
//! modelled twice: eagerly (to decide at once whether a segment arrives in order, fills a
//! hole or is out of order, and so when to ACK) and lazily, as of the moment the receiver
//! sends a packet (to fill in its acknowledgment number and SACK blocks). A segment the
//! server sends reaches the client `h` µs after the capture saw it; a segment the client
//! sends was sent `h` µs before the capture saw it.

use std::collections::VecDeque;

/// Client to server; also the index of the client side.
pub(crate) const C2S: usize = 0;
/// Server to client; also the index of the server side.
pub(crate) const S2C: usize = 1;

/// How a segment arrived at its receiver.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum Arrival {
    /// The next expected bytes.
    InOrder,
    /// The next expected bytes, and it closed a hole.
    FillsHole,
    /// Beyond a hole.
    OutOfOrder,
    /// Everything in it was received before.
    Duplicate,
}

/// What a receiver holds: everything below `nxt`, and out-of-order blocks above it.
#[derive(Clone, Debug, Default)]
pub(crate) struct RxState {
    pub(crate) nxt: u64,
    pub(crate) ooo: Vec<(u64, u64)>,
}

impl RxState {
    fn apply(&mut self, start: u64, end: u64) -> Arrival {
        if end <= self.nxt {
            return Arrival::Duplicate;
        }
        if start <= self.nxt {
            let had_hole = !self.ooo.is_empty();
            self.nxt = end;
            loop {
                let before = self.ooo.len();
                let nxt = &mut self.nxt;
                self.ooo.retain(|&(s, e)| {
                    if s <= *nxt {
                        *nxt = (*nxt).max(e);
                        false
                    } else {
                        true
                    }
                });
                if self.ooo.len() == before {
                    break;
                }
            }
            return if had_hole {
                Arrival::FillsHole
            } else {
                Arrival::InOrder
            };
        }
        let (mut s, mut e) = (start, end);
        self.ooo.retain(|&(bs, be)| {
            if bs <= e && s <= be {
                s = s.min(bs);
                e = e.max(be);
                false
            } else {
                true
            }
        });
        // Most recent block first, as SACK reports it (RFC 2018 §4).
        self.ooo.insert(0, (s, e));
        Arrival::OutOfOrder
    }
}

/// One receiver (of one direction).
#[derive(Clone, Debug, Default)]
pub(crate) struct Rx {
    /// Deliveries not yet seen by the lazy view: (delivery time, start, end).
    queue: VecDeque<(u64, u64, u64)>,
    lazy: RxState,
    eager: RxState,
}

impl Rx {
    /// A segment reaches the receiver at `at` (delivery times never go back).
    pub(crate) fn deliver(&mut self, at: u64, start: u64, end: u64) -> Arrival {
        self.queue.push_back((at, start, end));
        self.eager.apply(start, end)
    }

    /// What the receiver holds at `at`.
    pub(crate) fn view(&mut self, at: u64) -> &RxState {
        while let Some(&(t, s, e)) = self.queue.front() {
            if t > at {
                break;
            }
            self.queue.pop_front();
            self.lazy.apply(s, e);
        }
        &self.lazy
    }
}

/// Where a segment's sequence number comes from.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum SeqAt {
    /// The initial sequence number (SYN, SYN-ACK).
    Isn,
    /// A stream offset allocated when the data or FIN was scheduled.
    Off(u64),
    /// The sender's next sequence number when the packet leaves (pure ACK, RST).
    Next,
    /// Zero (the RST answering a SYN to a closed port).
    Zero,
}

/// One TCP segment waiting to be written.
#[derive(Clone, Debug)]
pub(crate) struct Seg {
    /// Direction ([`C2S`] or [`S2C`]).
    pub(crate) dir: usize,
    pub(crate) seq: SeqAt,
    pub(crate) payload: Vec<u8>,
    pub(crate) syn: bool,
    pub(crate) fin: bool,
    pub(crate) rst: bool,
    pub(crate) psh: bool,
    pub(crate) ack: bool,
    /// Write this pure ACK even when it acknowledges nothing new (a duplicate ACK).
    pub(crate) force: bool,
    /// Lost after the capture point: the receiver never gets this copy.
    pub(crate) lost: bool,
    /// A retransmission of bytes sent before.
    pub(crate) retrans: bool,
    /// Code of the close frame this segment starts with, for the ground truth.
    pub(crate) close: Option<u16>,
    /// Status of the HTTP response this segment carries.
    pub(crate) http_status: Option<u16>,
}

impl Seg {
    /// A segment with no flags but ACK.
    pub(crate) fn new(dir: usize, seq: SeqAt) -> Seg {
        Seg {
            dir,
            seq,
            payload: Vec::new(),
            syn: false,
            fin: false,
            rst: false,
            psh: false,
            ack: true,
            force: false,
            lost: false,
            retrans: false,
            close: None,
            http_status: None,
        }
    }

    /// True for a segment carrying nothing but an acknowledgment.
    pub(crate) fn is_pure_ack(&self) -> bool {
        self.payload.is_empty() && !self.syn && !self.fin && !self.rst
    }
}

/// Per-connection TCP state.
#[derive(Clone, Debug)]
pub(crate) struct Tcp {
    /// Initial sequence number per direction.
    pub(crate) isn: [u32; 2],
    /// TCP timestamp clock offset per side.
    pub(crate) ts_base: [u32; 2],
    /// One-way delay between the capture point and the client, µs.
    pub(crate) h: u64,
    /// Next stream offset to allocate per direction.
    pub(crate) alloc: [u64; 2],
    /// Earliest capture time of the next new segment per direction (serialisation).
    pub(crate) busy: [u64; 2],
    /// Highest offset end written per direction.
    pub(crate) sent_max: [u64; 2],
    /// Receiver of each direction.
    pub(crate) rx: [Rx; 2],
    /// Last acknowledgment (offset) sent by each side.
    pub(crate) last_ack: [Option<u64>; 2],
    /// Segments of each direction delivered since the receiver last acknowledged.
    pub(crate) unacked: [u32; 2],
    /// Largest segment payload.
    pub(crate) mss: usize,
}

impl Tcp {
    /// The wire sequence number of an offset of a direction.
    pub(crate) fn wire(&self, dir: usize, off: u64) -> u32 {
        self.isn[dir].wrapping_add(1).wrapping_add(off as u32)
    }

    /// When a segment of `dir` captured at `t` reaches its receiver.
    pub(crate) fn delivered_at(&self, dir: usize, t: u64) -> u64 {
        if dir == S2C {
            t + self.h
        } else {
            t
        }
    }

    /// When a packet of `side` captured at `t` left that side.
    pub(crate) fn sent_at(&self, side: usize, t: u64) -> u64 {
        if side == C2S {
            t.saturating_sub(self.h)
        } else {
            t
        }
    }

    /// Capture time of `side`'s reaction to something it received at delivery time `at`
    /// after `delay` µs.
    pub(crate) fn reaction(&self, side: usize, at: u64, delay: u64) -> u64 {
        if side == C2S {
            at + delay + self.h
        } else {
            at + delay
        }
    }

    /// The TCP timestamp option value of `side` at capture time `t`.
    pub(crate) fn tsval(&self, side: usize, t: u64) -> u32 {
        self.ts_base[side].wrapping_add((self.sent_at(side, t) / 1000) as u32)
    }

    /// The timestamp `side` echoes at capture time `t` (the peer's clock when it sent the
    /// latest segment this side could have received).
    pub(crate) fn tsecr(&self, side: usize, t: u64) -> u32 {
        let peer = 1 - side;
        let seen = if side == C2S {
            t.saturating_sub(2 * self.h)
        } else {
            t
        };
        self.tsval(peer, seen)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holes_and_sack_blocks() {
        let mut r = RxState::default();
        assert_eq!(r.apply(0, 10), Arrival::InOrder);
        assert_eq!(r.apply(20, 30), Arrival::OutOfOrder);
        assert_eq!(r.ooo, vec![(20, 30)]);
        assert_eq!(r.apply(0, 10), Arrival::Duplicate);
        assert_eq!(r.apply(10, 20), Arrival::FillsHole);
        assert_eq!(r.nxt, 30);
        assert!(r.ooo.is_empty());
    }

    #[test]
    fn lazy_view_lags() {
        let mut rx = Rx::default();
        rx.deliver(100, 0, 10);
        rx.deliver(200, 10, 20);
        assert_eq!(rx.view(50).nxt, 0);
        assert_eq!(rx.view(150).nxt, 10);
        assert_eq!(rx.view(250).nxt, 20);
    }
}
