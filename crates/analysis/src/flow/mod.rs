//! One UDP flow (an address pair) and everything decoded on it: STUN transactions, TURN
//! relaying, DTLS, RTP streams and RTCP. Like TCP connections, a flow lives in one shard
//! and is finished into a compact [`MediaFlow`] that is joined to a session at the end.
//!
//! Each protocol is a dissector in its own file (`stun.rs`, `dtls.rs`, `rtp.rs`,
//! `zrtp.rs`), registered in `dissector.rs`; this file holds the flow and its facts.

mod dissector;
mod dtls;
mod rtp;
mod stun;
mod zrtp;

pub use dtls::{DtlsAlert, DtlsStats};
pub use rtp::MAX_STREAMS;
pub use stun::{stun_rtt_mean_ms, StunStats};

use dissector::{Dissectors, Message};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use teardown_wire::capture::Datagram;
use teardown_wire::media::demux::Kind;
use teardown_wire::media::stream::RtpStream;
use teardown_wire::time::Timestamp;

/// Usernames, alerts and other lists kept per flow.
const MAX_LIST: usize = 16;
/// TURN nesting: a relayed datagram is not itself unwrapped again.
const MAX_DEPTH: u8 = 1;

/// A media event for the timeline, direction relative to the flow's first sender.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "media_event", rename_all = "snake_case")]
pub enum MediaEventKind {
    /// First STUN request of a method on this flow.
    StunRequest {
        /// Method name.
        method: String,
    },
    /// First success response of a method, with its round trip.
    StunSuccess {
        /// Method name.
        method: String,
        /// Request to response, ms.
        rtt_ms: f64,
    },
    /// An error response (first of each code).
    StunError {
        /// Method name.
        method: String,
        /// Error code (RFC 8489 §14.8).
        code: u16,
        /// Reason phrase.
        reason: String,
    },
    /// The last answered connectivity check (ICE consent, RFC 7675).
    LastAnsweredCheck,
    /// The first check after it that was never answered.
    FirstUnansweredCheck {
        /// Unanswered checks from here to the end of the flow.
        unanswered: u64,
    },
    /// DTLS handshake finished (first application data).
    DtlsHandshakeDone,
    /// DTLS alert (level and description when in clear).
    DtlsAlert {
        /// Level and description, if not encrypted.
        alert: Option<(u8, u8)>,
    },
    /// First RTP packet of a stream.
    RtpFirst {
        /// Its SSRC.
        ssrc: u32,
    },
    /// Last RTP packet of a stream.
    RtpLast {
        /// Its SSRC.
        ssrc: u32,
    },
    /// RTCP BYE: the sender ended its stream cleanly.
    RtcpBye {
        /// Sources leaving.
        ssrcs: Vec<u32>,
        /// Reason, if given.
        reason: Option<String>,
    },
}

impl std::fmt::Display for MediaEventKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MediaEventKind::StunRequest { method } => write!(f, "STUN {method} request"),
            MediaEventKind::StunSuccess { method, rtt_ms } => {
                write!(f, "STUN {method} success (rtt {rtt_ms:.3} ms)")
            }
            MediaEventKind::StunError {
                method,
                code,
                reason,
            } => write!(f, "STUN {method} error {code} {reason:?}"),
            MediaEventKind::LastAnsweredCheck => write!(f, "last answered ICE check"),
            MediaEventKind::FirstUnansweredCheck { unanswered } => {
                write!(f, "ICE checks unanswered from here ({unanswered} in all)")
            }
            MediaEventKind::DtlsHandshakeDone => write!(f, "DTLS handshake done"),
            MediaEventKind::DtlsAlert {
                alert: Some((level, desc)),
            } => write!(f, "DTLS alert level {level} description {desc}"),
            MediaEventKind::DtlsAlert { alert: None } => write!(f, "DTLS alert (encrypted)"),
            MediaEventKind::RtpFirst { ssrc } => write!(f, "first RTP of SSRC 0x{ssrc:08x}"),
            MediaEventKind::RtpLast { ssrc } => write!(f, "last RTP of SSRC 0x{ssrc:08x}"),
            MediaEventKind::RtcpBye { ssrcs, .. } => write!(f, "RTCP BYE {ssrcs:08x?}"),
        }
    }
}

/// A media event with its time and direction.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MediaEvent {
    /// Capture time.
    pub ts: Timestamp,
    /// Sent by the flow's first sender (`a`).
    pub from_a: bool,
    /// What.
    #[serde(flatten)]
    pub kind: MediaEventKind,
}

/// What carries a media flow.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// UDP datagrams.
    Udp,
    /// STUN, TURN or RTP framed on a TCP connection (ICE-TCP, TURN over TCP).
    Tcp,
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
        })
    }
}

/// What a finished UDP flow carried.
#[derive(Clone, Debug, Serialize)]
pub struct MediaFlow {
    /// UDP, or TCP for STUN framed on a TCP connection.
    pub transport: Transport,
    /// First sender.
    pub a: SocketAddr,
    /// The other endpoint.
    pub b: SocketAddr,
    /// First packet.
    pub first_ts: Timestamp,
    /// Last packet.
    pub last_ts: Timestamp,
    /// Datagrams a→b and b→a.
    pub packets: [u64; 2],
    /// Datagrams by kind, as the dissectors' probes confirmed them (kinds with none left out;
    /// a relayed datagram counts also as what it carries).
    pub kinds: BTreeMap<Kind, u64>,
    /// STUN/TURN.
    pub stun: StunStats,
    /// DTLS.
    pub dtls: DtlsStats,
    /// RTP streams: sent by `a`?, and the stream.
    pub rtp: Vec<(bool, RtpStream)>,
    /// RTP packets of streams beyond the first [`MAX_STREAMS`] of the flow: counted, not
    /// analysed (a `rtp_stream_cap` warning says so).
    pub rtp_untracked_packets: u64,
    /// RTCP compound packets, and how many were encrypted (SRTCP).
    pub rtcp_packets: u64,
    /// SRTCP packets (reports not readable).
    pub rtcp_encrypted: u64,
    /// Timeline events.
    pub events: Vec<MediaEvent>,
}

impl MediaFlow {
    /// Time of the last RTP packet, any stream.
    pub fn last_rtp(&self) -> Option<Timestamp> {
        self.rtp.iter().map(|(_, s)| s.last_ts).max()
    }

    /// True when nothing in it was recognised as WebRTC media or ICE.
    pub fn is_media(&self) -> bool {
        self.kinds.keys().any(|k| *k != Kind::Unknown)
    }
}

impl MediaFlow {
    /// The facts of a flow that starts at `ts`, before its first message.
    fn start(transport: Transport, a: SocketAddr, b: SocketAddr, ts: Timestamp) -> MediaFlow {
        MediaFlow {
            transport,
            a,
            b,
            first_ts: ts,
            last_ts: ts,
            packets: [0; 2],
            kinds: BTreeMap::new(),
            stun: StunStats::default(),
            dtls: DtlsStats::default(),
            rtp: Vec::new(),
            rtp_untracked_packets: 0,
            rtcp_packets: 0,
            rtcp_encrypted: 0,
            events: Vec::new(),
        }
    }

    /// Puts an event on the flow's timeline (up to [`crate::MAX_TIMELINE_EVENTS`]).
    fn event(&mut self, ts: Timestamp, from_a: bool, kind: MediaEventKind) {
        push_event(&mut self.events, ts, from_a, kind);
    }
}

/// Puts an event on a timeline, up to [`crate::MAX_TIMELINE_EVENTS`].
fn push_event(events: &mut Vec<MediaEvent>, ts: Timestamp, from_a: bool, kind: MediaEventKind) {
    if events.len() < crate::MAX_TIMELINE_EVENTS {
        events.push(MediaEvent { ts, from_a, kind });
    }
}

/// Tracks one UDP flow (or the STUN carried on one TCP connection).
pub struct UdpFlow {
    /// The facts so far, written by the dissectors; [`UdpFlow::finish`] completes them.
    facts: MediaFlow,
    /// Datagrams per kind, in the order of [`Kind::ALL`] (no allocation per packet).
    kinds: [u64; Kind::ALL.len()],
    /// One dissector per protocol, with its tracking state.
    dissectors: Dissectors,
    /// The first datagram with an RTP packet beyond [`MAX_STREAMS`]: (file, packet).
    first_untracked: Option<(u32, u64)>,
}

impl UdpFlow {
    /// Starts tracking at the first datagram.
    pub fn new(d: &Datagram<'_>) -> UdpFlow {
        UdpFlow::with_endpoints(Transport::Udp, d.src, d.dst, d.ts)
    }

    /// Tracks STUN/TURN framed on a TCP connection from `a` to `b` (ICE-TCP, TURN over TCP).
    pub fn on_tcp(a: SocketAddr, b: SocketAddr, ts: Timestamp) -> UdpFlow {
        UdpFlow::with_endpoints(Transport::Tcp, a, b, ts)
    }

    fn with_endpoints(
        transport: Transport,
        a: SocketAddr,
        b: SocketAddr,
        ts: Timestamp,
    ) -> UdpFlow {
        UdpFlow {
            facts: MediaFlow::start(transport, a, b, ts),
            kinds: [0; Kind::ALL.len()],
            dissectors: Dissectors::default(),
            first_untracked: None,
        }
    }

    /// The first sender and the other endpoint.
    pub fn endpoints(&self) -> (SocketAddr, SocketAddr) {
        (self.facts.a, self.facts.b)
    }

    /// Time of the last datagram.
    pub fn last_ts(&self) -> Timestamp {
        self.facts.last_ts
    }

    /// Adds one datagram.
    pub fn on_datagram(&mut self, d: &Datagram<'_>) {
        self.on_message(d.ts, d.src == self.facts.a, d.payload);
        if self.facts.rtp_untracked_packets > 0 && self.first_untracked.is_none() {
            self.first_untracked = Some((d.file, d.number));
        }
    }

    /// RTP packets beyond [`MAX_STREAMS`] streams so far, and the datagram (file index,
    /// packet number) of the first.
    pub fn rtp_untracked(&self) -> (u64, Option<(u32, u64)>) {
        (self.facts.rtp_untracked_packets, self.first_untracked)
    }

    /// Adds one message (a datagram's payload, or a message framed on TCP): the dissector
    /// whose probe claims it reads it, then what it carries (TURN), up to [`MAX_DEPTH`].
    pub fn on_message(&mut self, ts: Timestamp, from_a: bool, bytes: &[u8]) {
        self.facts.packets[usize::from(!from_a)] += 1;
        self.facts.last_ts = self.facts.last_ts.max(ts);
        let mut next = Some(bytes);
        for depth in 0..=MAX_DEPTH {
            let Some(bytes) = next else { break };
            let m = Message {
                ts,
                from_a,
                bytes,
                relayed: depth > 0,
            };
            let (kind, carried) = self.dissectors.dissect(&mut self.facts, m);
            if let Some(i) = Kind::ALL.iter().position(|k| *k == kind) {
                self.kinds[i] += 1;
            }
            next = carried;
        }
    }

    /// Ends tracking (dynamic payload types' clock rates are settled later, at the join).
    pub fn finish(mut self) -> MediaFlow {
        self.dissectors.finish(&mut self.facts);
        self.facts.kinds = Kind::ALL
            .into_iter()
            .zip(self.kinds)
            .filter(|(_, n)| *n > 0)
            .collect();
        self.facts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use teardown_wire::media::dtls;

    fn flow_of(records: &[&[u8]]) -> MediaFlow {
        let (a, b) = (
            "10.0.0.1:5000".parse().unwrap(),
            "10.0.0.2:6000".parse().unwrap(),
        );
        let mut f = UdpFlow::on_tcp(a, b, Timestamp(0));
        for (i, r) in records.iter().enumerate() {
            f.on_message(Timestamp(i as i64), i % 2 == 0, r);
        }
        f.finish()
    }

    /// A DTLS 1.2 record of `content_type` with a 2-byte body.
    fn record(content_type: u8, epoch: u8, body: [u8; 2]) -> Vec<u8> {
        let mut r = vec![content_type, 0xfe, 0xfd, 0, epoch, 0, 0, 0, 0, 0, 1, 0, 2];
        r.extend_from_slice(&body);
        r
    }

    #[test]
    fn dtls_application_data_ends_a_handshake_only_after_one() {
        let app = record(dtls::APPLICATION_DATA, 1, [9, 9]);
        // An association that began before the capture: application data first.
        let f = flow_of(&[&app, &app]);
        assert_eq!(f.dtls.records, 2);
        assert_eq!(f.dtls.handshake_done, None);
        assert!(f.events.is_empty());
        // A ClientHello, then application data: done at the latter.
        let hello = record(dtls::HANDSHAKE, 0, [1, 0]);
        let f = flow_of(&[&hello, &app]);
        assert_eq!(f.dtls.handshake_done, Some(Timestamp(1)));
        assert_eq!(f.kinds.get(&Kind::Dtls), Some(&2));
    }
}
