//! Statistics of one RTP stream (one SSRC on one flow direction).
//!
//! Loss follows RFC 3550 A.3: expected = extended highest sequence number − first + 1,
//! lost = expected − received (duplicates count as received, so it can go negative).
//! Interarrival jitter is RFC 3550 A.8, J += (|D| − J)/16, computed in milliseconds the way
//! Wireshark's RTP analysis does (so `tshark -z rtp,streams` is an oracle for it): each
//! packet's timestamp since the stream's base is read at the clock of its own payload type
//! (another static type at its own clock; an RFC 4733 telephone event, whose timestamp stays
//! frozen while it lasts, or another dynamic type not at all), its expected arrival is the
//! last packet in timestamp order plus the nominal time since the last packet read at a
//! clock, and the maximum delta and jitter skip the first packet, marker packets and comfort
//! noise.
//!
//! One difference from Wireshark, on purpose: a timestamp that jumps back by more than a
//! second of the stream's clock while the sequence goes on (a sender resetting its clock at a
//! media switch) starts a new timestamp base, as a new stream would. Wireshark keeps the old
//! reference, so every later packet is "in the past" for it: its jitter grows without end
//! and its maximum delta jumps once the timestamps pass the old reference again.

use super::rtp::static_clock_rate;
use crate::time::Timestamp;

/// RFC 3550 A.1: a jump forward of less than this is in order (packets lost).
const MAX_DROPOUT: u16 = 3000;
/// RFC 3550 A.1: a step back of less than this is a late packet, not a restart.
const MAX_MISORDER: u16 = 100;
/// Comfort noise payload types (RFC 3389 and the old 19), left out of the timing maxima.
fn is_comfort_noise(pt: u8) -> bool {
    pt == 13 || pt == 19
}

/// Clock rates tried for a dynamic payload type until the SDP says which it is.
const CANDIDATE_RATES: [u32; 4] = [48_000, 90_000, 8_000, 16_000];
/// The clock assumed for the timestamp-reset threshold while a dynamic type's is unknown
/// (the fastest candidate, so that a reset is never claimed early).
const FASTEST_RATE: u32 = 90_000;

/// The clock at which a packet of payload type `pt` is read, in a stream whose own payload
/// type `own_pt` runs at `own_rate`: another static type at its own clock (RFC 3551 §6),
/// another dynamic type at none (the SDP names it for the stream's own type only; an RFC
/// 4733 event has a frozen timestamp), as Wireshark reads them.
fn packet_rate(pt: u8, own_pt: u8, own_rate: u32) -> Option<u32> {
    if pt == own_pt {
        Some(own_rate)
    } else {
        static_clock_rate(pt)
    }
}

/// RFC 3550 A.8 jitter at one clock rate, in ms.
#[derive(Clone, Debug)]
struct Jitter {
    rate: u32,
    value: f64,
    max: f64,
    mean: f64,
    /// The last packet read at a clock: its timestamp since the base, in ms.
    last_nominal_ms: f64,
}

impl Jitter {
    fn new(rate: u32) -> Jitter {
        Jitter {
            rate,
            value: 0.0,
            max: 0.0,
            mean: 0.0,
            last_nominal_ms: 0.0,
        }
    }

    /// A packet arriving at `now_ms` whose timestamp is `since_base` units after the base,
    /// read at `rate`; `ref_time_ms` is the arrival of the last packet in timestamp order.
    /// As Wireshark: its expected arrival is that reference plus the nominal time since
    /// the last packet that was read at a clock.
    fn update(&mut self, now_ms: f64, ref_time_ms: f64, since_base: f64, rate: u32) {
        // Integer division as Wireshark does; exact for 8, 16, 48 and 90 kHz.
        let nominal_ms = since_base / (rate / 1000).max(1) as f64;
        let expected = ref_time_ms + (nominal_ms - self.last_nominal_ms);
        self.value = (15.0 * self.value + (now_ms - expected).abs()) / 16.0;
        self.last_nominal_ms = nominal_ms;
    }
}

/// One RTP stream's counters.
#[derive(Clone, Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct RtpStream {
    /// Synchronisation source.
    pub ssrc: u32,
    /// Payload type of the first packet.
    pub payload_type: u8,
    /// Clock rate used for jitter (from SDP, else the static table); `None` while unknown,
    /// and then the jitter columns are empty.
    pub clock_rate: Option<u32>,
    /// Packets received (duplicates included).
    pub packets: u64,
    /// Payload bytes.
    pub payload_bytes: u64,
    /// First packet's capture time.
    pub first_ts: Timestamp,
    /// Last packet's capture time.
    pub last_ts: Timestamp,
    /// Packets lost (RFC 3550 A.3).
    pub lost: i64,
    /// Packets expected (RFC 3550 A.3).
    pub expected: u64,
    /// Packets seen twice.
    pub duplicates: u64,
    /// Packets that arrived after a later one.
    pub out_of_order: u64,
    /// Forward jumps in the sequence (one or more packets missing).
    pub seq_jumps: u64,
    /// Times the RTP timestamp jumped back by more than a second while the sequence went
    /// on; each starts a new timestamp base for the jitter.
    pub timestamp_resets: u64,
    /// Interarrival jitter at the end, ms.
    pub jitter_ms: Option<f64>,
    /// Largest jitter, ms.
    pub max_jitter_ms: Option<f64>,
    /// Mean jitter, ms.
    pub mean_jitter_ms: Option<f64>,
    /// Largest gap between consecutive packets, ms, as Wireshark counts it: packets with
    /// the marker bit (a talkspurt start, RFC 3551 §4.1) and comfort noise are left out.
    pub max_delta_ms: f64,
    /// Largest gap between consecutive packets in arrival order, ms, every packet counted
    /// (some senders, aiortc among them, set the marker bit on every packet).
    pub max_gap_ms: f64,
    /// Carried inside TURN (ChannelData or Send/Data indications).
    pub relayed: bool,
    #[cfg_attr(feature = "serde", serde(skip))]
    base_seq: u16,
    #[cfg_attr(feature = "serde", serde(skip))]
    max_seq: u16,
    #[cfg_attr(feature = "serde", serde(skip))]
    cycles: u64,
    /// Bit i set: sequence `max_seq - i` was received (duplicate detection, 64 deep).
    #[cfg_attr(feature = "serde", serde(skip))]
    recent: u64,
    #[cfg_attr(feature = "serde", serde(skip))]
    ext_ts: i64,
    #[cfg_attr(feature = "serde", serde(skip))]
    last_rtp_ts: u32,
    #[cfg_attr(feature = "serde", serde(skip))]
    ref_time_ms: f64,
    #[cfg_attr(feature = "serde", serde(skip))]
    last_arrival_ms: f64,
    #[cfg_attr(feature = "serde", serde(skip))]
    ref_ext_ts: i64,
    /// The timestamp base: the first packet's, or the one after a reset.
    #[cfg_attr(feature = "serde", serde(skip))]
    base_rtp_ts: u32,
    #[cfg_attr(feature = "serde", serde(skip))]
    last_pt: u8,
    /// Jitter kept for each clock rate the stream may turn out to use: a dynamic payload
    /// type's rate is only known once the SDP is joined, after the packets went by.
    #[cfg_attr(feature = "serde", serde(skip))]
    jitter: Vec<Jitter>,
    /// Packets counted before a sequence restart (not part of the current loss count).
    #[cfg_attr(feature = "serde", serde(skip))]
    received_before_base: u64,
}

impl RtpStream {
    /// Starts a stream at its first packet.
    pub fn new(
        ts: Timestamp,
        ssrc: u32,
        pt: u8,
        seq: u16,
        rtp_ts: u32,
        clock_rate: Option<u32>,
        relayed: bool,
    ) -> RtpStream {
        RtpStream {
            ssrc,
            payload_type: pt,
            clock_rate,
            packets: 0,
            payload_bytes: 0,
            first_ts: ts,
            last_ts: ts,
            lost: 0,
            expected: 0,
            duplicates: 0,
            out_of_order: 0,
            seq_jumps: 0,
            timestamp_resets: 0,
            jitter_ms: None,
            max_jitter_ms: None,
            mean_jitter_ms: None,
            max_delta_ms: 0.0,
            max_gap_ms: 0.0,
            relayed,
            base_seq: seq,
            max_seq: seq.wrapping_sub(1),
            cycles: 0,
            recent: 0,
            ext_ts: rtp_ts as i64,
            last_rtp_ts: rtp_ts,
            ref_time_ms: 0.0,
            last_arrival_ms: 0.0,
            ref_ext_ts: rtp_ts as i64,
            base_rtp_ts: rtp_ts,
            last_pt: pt,
            received_before_base: 0,
            jitter: match clock_rate {
                Some(rate) => vec![Jitter::new(rate)],
                None => CANDIDATE_RATES.iter().map(|&r| Jitter::new(r)).collect(),
            },
        }
    }

    /// Settles the clock rate (from the SDP when the payload type is dynamic) and fills
    /// the jitter columns from the matching accumulator; an unknown rate leaves them empty.
    pub fn settle_clock_rate(&mut self, sdp_rate: Option<u32>) {
        let rate = self.clock_rate.or(sdp_rate);
        self.clock_rate = rate;
        let acc = rate.and_then(|r| self.jitter.iter().find(|j| j.rate == r));
        self.jitter_ms = acc.map(|j| j.value);
        self.max_jitter_ms = acc.map(|j| j.max);
        self.mean_jitter_ms = acc.map(|j| j.mean);
    }

    /// Adds a packet.
    pub fn push(
        &mut self,
        ts: Timestamp,
        marker: bool,
        pt: u8,
        seq: u16,
        rtp_ts: u32,
        payload_len: usize,
    ) {
        let first = self.packets == 0;
        self.packets += 1;
        self.payload_bytes += payload_len as u64;
        self.last_ts = self.last_ts.max(ts);
        let advanced = self.sequence(seq);

        // Extended RTP timestamp (32-bit wrap).
        self.ext_ts += rtp_ts.wrapping_sub(self.last_rtp_ts) as i32 as i64;
        self.last_rtp_ts = rtp_ts;
        let now_ms = ts.millis_since(self.first_ts);
        let one_second = i64::from(self.clock_rate.unwrap_or(FASTEST_RATE));
        let reset = advanced && self.ref_ext_ts - self.ext_ts > one_second;
        if first || reset {
            self.timestamp_resets += u64::from(reset);
            self.max_gap_ms = self.max_gap_ms.max(now_ms - self.last_arrival_ms);
            self.last_arrival_ms = now_ms;
            self.ref_time_ms = now_ms;
            self.ref_ext_ts = self.ext_ts;
            self.base_rtp_ts = rtp_ts;
            for j in &mut self.jitter {
                j.last_nominal_ms = 0.0;
            }
            self.last_pt = pt;
            return;
        }
        let in_time_order = self.ref_ext_ts <= self.ext_ts;
        let delta = now_ms - self.ref_time_ms;
        self.max_gap_ms = self.max_gap_ms.max(now_ms - self.last_arrival_ms);
        self.last_arrival_ms = now_ms;
        // Modulo 2^32 from the base, as Wireshark reads it.
        let since_base = f64::from(rtp_ts.wrapping_sub(self.base_rtp_ts));
        let regular =
            !marker && !is_comfort_noise(pt) && !is_comfort_noise(self.last_pt) && in_time_order;
        let n = (self.packets - 1) as f64;
        for j in &mut self.jitter {
            let Some(rate) = packet_rate(pt, self.payload_type, j.rate) else {
                continue;
            };
            j.update(now_ms, self.ref_time_ms, since_base, rate);
            if regular {
                j.max = j.max.max(j.value);
                j.mean = (j.mean * (n - 1.0) + j.value) / n;
            }
        }
        if regular {
            self.max_delta_ms = self.max_delta_ms.max(delta);
        }
        if in_time_order {
            self.ref_time_ms = now_ms;
            self.ref_ext_ts = self.ext_ts;
        }
        self.last_pt = pt;
    }

    /// RFC 3550 A.1, without the probation of new sources (a capture sees them whole).
    /// Returns true when the packet moved the highest sequence number forward.
    fn sequence(&mut self, seq: u16) -> bool {
        let udelta = seq.wrapping_sub(self.max_seq);
        let mut advanced = true;
        if self.packets == 1 {
            self.max_seq = seq;
            self.recent = 1;
        } else if udelta == 0 {
            self.duplicates += 1;
            advanced = false;
        } else if udelta < MAX_DROPOUT {
            if seq < self.max_seq {
                self.cycles += 1 << 16;
            }
            if udelta > 1 && self.packets > 1 {
                self.seq_jumps += 1;
            }
            self.recent = if udelta >= 64 {
                1
            } else {
                (self.recent << udelta) | 1
            };
            self.max_seq = seq;
        } else if udelta <= u16::MAX - MAX_MISORDER {
            // A big jump: the source restarted its sequence; take it as the new base.
            self.seq_jumps += 1;
            self.base_seq = seq;
            self.cycles = 0;
            self.max_seq = seq;
            self.recent = 1;
            self.received_before_base = self.packets - 1;
        } else {
            // Late: behind the highest seen.
            advanced = false;
            let back = self.max_seq.wrapping_sub(seq) as u32;
            if back < 64 && self.recent & (1 << back) != 0 {
                self.duplicates += 1;
            } else {
                self.out_of_order += 1;
                if back < 64 {
                    self.recent |= 1 << back;
                }
            }
        }
        self.expected = self.cycles + self.max_seq as u64 + 1 - self.base_seq as u64;
        self.lost = self.expected as i64 - (self.packets - self.received_before_base) as i64;
        advanced
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: i64) -> Timestamp {
        Timestamp(v * 1_000_000)
    }

    #[test]
    fn loss_across_the_sequence_wrap() {
        let mut s = RtpStream::new(ms(0), 1, 111, 65530, 0, Some(48000), false);
        let mut t = 0;
        for seq in [65530u16, 65531, 65533, 65534, 65535, 0, 1, 3, 4] {
            s.push(ms(t), false, 111, seq, (t as u32) * 48, 10);
            t += 20;
        }
        assert_eq!(s.expected, 11);
        assert_eq!(s.packets, 9);
        assert_eq!(s.lost, 2);
        assert_eq!(s.seq_jumps, 2);
    }

    #[test]
    fn a_stream_starting_at_zero_has_no_wrap() {
        let mut s = RtpStream::new(ms(0), 1, 8, 0, 219, Some(8000), false);
        for seq in 0..6u16 {
            s.push(
                ms(seq as i64 * 20),
                seq == 0,
                8,
                seq,
                219 + 160 * seq as u32,
                160,
            );
        }
        assert_eq!((s.expected, s.lost), (6, 0));
    }

    #[test]
    fn duplicates_and_late_packets() {
        let mut s = RtpStream::new(ms(0), 1, 0, 10, 0, Some(8000), false);
        for (i, seq) in [10u16, 11, 13, 12, 13, 14].into_iter().enumerate() {
            s.push(ms(i as i64 * 20), false, 0, seq, seq as u32 * 160, 160);
        }
        assert_eq!(s.out_of_order, 1);
        assert_eq!(s.duplicates, 1);
        assert_eq!(s.lost, -1); // RFC 3550 A.3: duplicates make loss negative
    }

    #[test]
    fn jitter_of_a_perfect_stream_is_zero_and_grows_with_delay() {
        let mut s = RtpStream::new(ms(0), 1, 0, 0, 0, Some(8000), false);
        for i in 0..50u16 {
            s.push(ms(i as i64 * 20), false, 0, i, i as u32 * 160, 160);
        }
        s.settle_clock_rate(None);
        assert_eq!(s.jitter_ms, Some(0.0));
        assert_eq!(s.max_delta_ms, 20.0);
        // One packet 16 ms late: D = 16 ms, J = 16/16 = 1 ms.
        s.push(ms(50 * 20 + 16), false, 0, 50, 50 * 160, 160);
        s.settle_clock_rate(None);
        assert!((s.jitter_ms.unwrap() - 1.0).abs() < 1e-9);
        assert_eq!(s.max_delta_ms, 36.0);
    }

    #[test]
    fn dynamic_payload_type_waits_for_the_sdp_rate() {
        let mut s = RtpStream::new(ms(0), 1, 111, 0, 0, None, false);
        for i in 0..10u16 {
            s.push(
                ms(i as i64 * 20 + (i as i64 % 2) * 8),
                false,
                111,
                i,
                i as u32 * 960,
                100,
            );
        }
        let mut unknown = s.clone();
        unknown.settle_clock_rate(None);
        assert_eq!(unknown.jitter_ms, None);
        s.settle_clock_rate(Some(48000));
        // Transit alternates by 8 ms: |D| = 8 ms at each of the 9 steps, so RFC 3550 A.8
        // gives J = 8 (1 - (15/16)^9) ms.
        let want = 8.0 * (1.0 - (15.0f64 / 16.0).powi(9));
        assert!(
            (s.jitter_ms.unwrap() - want).abs() < 1e-9,
            "{:?}",
            s.jitter_ms
        );
        assert_eq!(s.clock_rate, Some(48000));
    }

    #[test]
    fn a_timestamp_reset_starts_a_new_base() {
        // 20 ms packets at 8 kHz; at packet 50 the sender's clock restarts at 0 (347 200
        // units, 43.4 s, back) while the sequence goes on.
        let mut s = RtpStream::new(ms(0), 1, 0, 0, 347_200 - 50 * 160, Some(8000), false);
        for i in 0..100u16 {
            let rtp_ts = if i < 50 {
                347_200 - 50 * 160 + i as u32 * 160
            } else {
                (i as u32 - 50) * 160
            };
            s.push(ms(i as i64 * 20), false, 0, i, rtp_ts, 160);
        }
        s.settle_clock_rate(None);
        assert_eq!(s.timestamp_resets, 1);
        assert_eq!((s.jitter_ms, s.max_jitter_ms), (Some(0.0), Some(0.0)));
        assert_eq!((s.max_delta_ms, s.max_gap_ms, s.lost), (20.0, 20.0, 0));
    }

    #[test]
    fn a_telephone_event_is_not_fed_into_the_jitter() {
        // PCMU every 20 ms; an RFC 4733 event (PT 101) 5 ms after packet 10 carries that
        // packet's timestamp; the next audio packet is on time. Only the audio packet after
        // the event counts: D = |15 ms − 160 units at 8 kHz| = 5 ms, J = 5/16.
        let mut s = RtpStream::new(ms(0), 1, 0, 0, 0, Some(8000), false);
        for i in 0..=10u16 {
            s.push(ms(i as i64 * 20), false, 0, i, i as u32 * 160, 160);
        }
        s.push(ms(205), true, 101, 11, 1600, 4);
        s.push(ms(220), false, 0, 12, 1760, 160);
        s.settle_clock_rate(None);
        assert_eq!(s.jitter_ms, Some(5.0 / 16.0));
    }

    #[test]
    fn another_static_type_is_read_at_its_own_clock_as_wireshark_does() {
        // PCMA (8 kHz) every 20 ms, then DVI4 (PT 6, 16 kHz) 20 ms later, 320 units on.
        // Wireshark reads the timestamp since the base at the packet's own clock: 1920 units
        // at 16 kHz are 120 ms against the last 1600 at 8 kHz (200 ms), so the packet is
        // expected at 200 + (120 − 200) = 120 ms and came at 220: D = 100, J = 100/16.
        let mut s = RtpStream::new(ms(0), 1, 8, 0, 0, Some(8000), false);
        for i in 0..=10u16 {
            s.push(ms(i as i64 * 20), false, 8, i, i as u32 * 160, 160);
        }
        s.push(ms(220), false, 6, 11, 1920, 160);
        s.settle_clock_rate(None);
        assert_eq!(s.jitter_ms, Some(100.0 / 16.0));
    }
}
