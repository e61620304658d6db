//! Sessions: one per connection that tried to become a WebSocket, with its timeline and
//! its verdict.
//!
//! [`connection`] tracks the facts of one TCP connection while packets arrive;
//! [`verdict`] decides who started the teardown and how, from those facts alone.

pub mod connection;
pub mod join;
pub mod verdict;

pub use connection::{Connection, ConnectionEnd, Membership};
pub use verdict::{decide, Decision, Facts, Initiator, TlsFacts, Verdict};

use crate::flow::{MediaEventKind, MediaFlow};
use serde::Serialize;
use std::fmt;
use std::net::SocketAddr;
use teardown_wire::diag::WarningKind;
use teardown_wire::media::{RtpStream, SdpFacts};
use teardown_wire::time::Timestamp;
use teardown_wire::tls::TlsSummary;
use teardown_wire::ws::{UpgradeRequest, UpgradeResponse};

/// Which way an event travelled.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum Direction {
    /// From the client (the side that opened the connection) to the server.
    #[serde(rename = "c2s")]
    ClientToServer,
    /// From the server to the client.
    #[serde(rename = "s2c")]
    ServerToClient,
}

impl Direction {
    /// The side that sent an event going this way.
    pub fn sender(self) -> Initiator {
        match self {
            Direction::ClientToServer => Initiator::Client,
            Direction::ServerToClient => Initiator::Server,
        }
    }
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Direction::ClientToServer => "c->s",
            Direction::ServerToClient => "s->c",
        })
    }
}

/// What happened, for the timeline.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum EventKind {
    /// TCP SYN (connection attempt); `attempts` counts retransmissions too.
    Syn {
        /// SYN segments sent with this sequence number.
        attempts: u32,
    },
    /// TCP SYN-ACK.
    SynAck,
    /// HTTP upgrade request.
    HandshakeRequest {
        /// Request target.
        path: String,
    },
    /// HTTP response to the upgrade.
    HandshakeResponse {
        /// HTTP status.
        status: u16,
        /// Whether `Sec-WebSocket-Accept` matched the key (when both were seen).
        accept_valid: Option<bool>,
    },
    /// First data frame in this direction.
    FirstMessage,
    /// Last data frame in this direction.
    LastMessage,
    /// Ping frame.
    Ping {
        /// Payload length.
        payload_len: u64,
    },
    /// Pong frame, with the round trip from its ping when the payloads matched.
    Pong {
        /// Ping-to-pong time in milliseconds.
        rtt_ms: Option<f64>,
    },
    /// Close frame.
    Close {
        /// Status code (`None` for an empty close frame).
        code: Option<u16>,
        /// Reason text.
        reason: String,
    },
    /// TCP FIN.
    Fin {
        /// True for a FIN sent again.
        retransmission: bool,
    },
    /// TCP RST.
    Rst,
    /// The sender advertised a zero receive window.
    ZeroWindow,
    /// Bytes of this direction missing from the capture.
    CaptureGap {
        /// How many.
        bytes: u64,
    },
    /// WebSocket framing found again after a gap.
    Resynced {
        /// Bytes that could not be framed.
        skipped: u64,
    },
    /// The stream is not WebSocket.
    NotWebSocket {
        /// Why.
        reason: String,
    },
    /// A signalling message carrying SDP.
    Sdp {
        /// `offer`, `answer`, or the message that carried it (`in SIP 183 Session
        /// Progress`, `in a signalling message`).
        kind: String,
    },
    /// Something on a media flow joined to this session.
    Media(MediaEventKind),
    /// TLS ClientHello.
    TlsClientHello {
        /// Server name asked for.
        sni: Option<String>,
    },
    /// TLS ServerHello.
    TlsServerHello {
        /// Negotiated version.
        version: String,
        /// Negotiated cipher suite.
        cipher: String,
    },
    /// The TLS handshake finished.
    TlsHandshakeDone {
        /// True when the key log held the session's secrets (the frames are decrypted).
        decrypted: bool,
    },
    /// A TLS alert.
    TlsAlert {
        /// `fatal` or `warning`; `None` when the alert was encrypted.
        level: Option<&'static str>,
        /// Its description (`close_notify`, `unknown_ca`, ...), when readable.
        description: Option<String>,
    },
    /// Last TLS application data record in this direction (frames not decrypted).
    TlsLastApplicationData,
    /// A TCP retransmission carrying other bytes than the first copy (Zeek's
    /// `rexmit_inconsistency`); the first copy is the one decoded.
    InconsistentRetransmission {
        /// Bytes compared.
        bytes: u64,
    },
    /// A frame breaking RFC 6455 (also a warning of the same kind).
    Violation {
        /// Which rule, as the warning kind names it.
        kind: WarningKind,
        /// What was seen.
        detail: String,
    },
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EventKind::Syn { attempts } if *attempts > 1 => write!(f, "SYN ({attempts} attempts)"),
            EventKind::Syn { .. } => write!(f, "SYN"),
            EventKind::SynAck => write!(f, "SYN-ACK"),
            EventKind::HandshakeRequest { path } => write!(f, "upgrade request GET {path}"),
            EventKind::HandshakeResponse {
                status,
                accept_valid,
            } => {
                write!(f, "HTTP {status}")?;
                match accept_valid {
                    Some(false) => write!(f, " (Sec-WebSocket-Accept does not match the key)"),
                    _ => Ok(()),
                }
            }
            EventKind::FirstMessage => write!(f, "first data message"),
            EventKind::LastMessage => write!(f, "last data message"),
            EventKind::Ping { payload_len } => write!(f, "ping ({payload_len} bytes)"),
            EventKind::Pong { rtt_ms: Some(rtt) } => write!(f, "pong (rtt {rtt:.3} ms)"),
            EventKind::Pong { rtt_ms: None } => write!(f, "pong (unsolicited)"),
            EventKind::Close {
                code: Some(c),
                reason,
            } if reason.is_empty() => write!(f, "close frame {c}"),
            EventKind::Close {
                code: Some(c),
                reason,
            } => write!(f, "close frame {c} {reason:?}"),
            EventKind::Close { code: None, .. } => write!(f, "close frame (no status code)"),
            EventKind::Fin {
                retransmission: false,
            } => write!(f, "FIN"),
            EventKind::Fin {
                retransmission: true,
            } => write!(f, "FIN (retransmitted)"),
            EventKind::Rst => write!(f, "RST"),
            EventKind::ZeroWindow => write!(f, "zero window"),
            EventKind::CaptureGap { bytes } => write!(f, "{bytes} bytes missing from the capture"),
            EventKind::Resynced { skipped } => write!(
                f,
                "WebSocket framing resynchronised ({skipped} bytes skipped)"
            ),
            EventKind::NotWebSocket { reason } => write!(f, "not WebSocket: {reason}"),
            EventKind::Sdp { kind } => write!(f, "SDP {kind}"),
            EventKind::Media(m) => write!(f, "{m}"),
            EventKind::TlsClientHello { sni: Some(sni) } => {
                write!(f, "TLS ClientHello (SNI {sni})")
            }
            EventKind::TlsClientHello { sni: None } => write!(f, "TLS ClientHello"),
            EventKind::TlsServerHello { version, cipher } => {
                write!(f, "TLS ServerHello: {version}, {cipher}")
            }
            EventKind::TlsHandshakeDone { decrypted: true } => {
                write!(f, "TLS handshake done; frames decrypted with the key log")
            }
            EventKind::TlsHandshakeDone { decrypted: false } => write!(
                f,
                "TLS handshake done; WebSocket frames are encrypted (no key for this session)"
            ),
            EventKind::TlsAlert {
                level: Some(level),
                description: Some(d),
            } => write!(f, "TLS alert {d} ({level})"),
            EventKind::TlsAlert { .. } => write!(f, "TLS alert (encrypted)"),
            EventKind::TlsLastApplicationData => {
                write!(f, "last TLS application data (encrypted)")
            }
            EventKind::InconsistentRetransmission { bytes } => write!(
                f,
                "retransmission of {bytes} bytes differs from the first copy (the first copy is used)"
            ),
            EventKind::Violation { kind, detail } => {
                write!(f, "protocol violation [{kind}]: {detail}")
            }
        }
    }
}

/// One timeline entry.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Event {
    /// Capture time of the packet that carried it (its first byte).
    pub ts: Timestamp,
    /// Which way it went.
    pub direction: Direction,
    /// What it was.
    #[serde(flatten)]
    pub kind: EventKind,
    /// True on the event where the teardown started.
    pub teardown_start: bool,
}

/// Per-direction counters of a session.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct DirectionStats {
    /// TCP segments.
    pub packets: u64,
    /// TCP payload bytes captured.
    pub payload_bytes: u64,
    /// WebSocket frames.
    pub frames: u64,
    /// Text frames (opcode 1).
    pub text_frames: u64,
    /// Binary frames (opcode 2).
    pub binary_frames: u64,
    /// Continuation frames (opcode 0).
    pub continuation_frames: u64,
    /// Data messages (final data frames).
    pub messages: u64,
    /// Control frames (close, ping, pong).
    pub control_frames: u64,
    /// Ping frames.
    pub pings: u64,
    /// Pong frames.
    pub pongs: u64,
    /// Close frames.
    pub close_frames: u64,
    /// Frames with a masking key.
    pub masked_frames: u64,
    /// Frames compressed under permessage-deflate (RSV1 set).
    pub compressed_frames: u64,
    /// WebSocket payload bytes declared by frame headers.
    pub ws_payload_bytes: u64,
    /// Segments retransmitted, as tshark flags `tcp.analysis.retransmission` (after a
    /// timeout, fast or spurious; SYNs and FINs sent again included).
    pub retransmitted: u64,
    /// Of those, fast retransmissions (after duplicate ACKs).
    pub fast_retransmissions: u64,
    /// Of those, spurious ones: sent again although the peer had acknowledged them.
    pub spurious_retransmissions: u64,
    /// Segments that arrived ahead of a hole.
    pub out_of_order: u64,
    /// Segments partly overlapping bytes seen before.
    pub overlapping: u64,
    /// Holes in the capture.
    pub capture_gaps: u64,
    /// Bytes in those holes.
    pub capture_gap_bytes: u64,
    /// Times the framing was found again after a gap.
    pub resyncs: u64,
    /// Bytes skipped to resynchronise the framing.
    pub resync_skipped_bytes: u64,
    /// FIN segments (more than one means the FIN was retransmitted).
    pub fins: u64,
    /// RST segments.
    pub rsts: u64,
    /// Segments advertising a zero window.
    pub zero_windows: u64,
    /// TCP keep-alive probes.
    pub keepalives: u64,
    /// Compressed text messages that could not be inflated (context lost or invalid).
    pub unreadable_messages: u64,
}

/// A close frame and who sent it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CloseInfo {
    /// Status code; `None` for an empty close frame.
    pub code: Option<u16>,
    /// Reason text.
    pub reason: String,
    /// Who sent it.
    pub direction: Direction,
    /// When.
    pub ts: Timestamp,
}

/// One session: a connection that tried to become a WebSocket.
#[derive(Clone, Debug, Serialize)]
pub struct Session {
    /// 1-based, in order of start time.
    pub id: u64,
    /// Client address.
    pub client: SocketAddr,
    /// Server address.
    pub server: SocketAddr,
    /// First packet.
    pub start_ts: Timestamp,
    /// Last packet.
    pub end_ts: Timestamp,
    /// True when the capture did not hold the connection's SYN.
    pub midstream: bool,
    /// The upgrade request, if captured.
    pub request: Option<UpgradeRequest>,
    /// The response, if captured.
    pub response: Option<UpgradeResponse>,
    /// SYN to upgrade response, in milliseconds.
    pub handshake_ms: Option<f64>,
    /// The verdict.
    pub verdict: Verdict,
    /// Who started the teardown.
    pub teardown_initiator: Initiator,
    /// When the teardown started.
    pub teardown_start_ts: Option<Timestamp>,
    /// The first close frame on the wire.
    pub first_close: Option<CloseInfo>,
    /// What the client's WebSocket API reports (RFC 6455 §7.1.5); `None` while open.
    pub client_observed_code: Option<u16>,
    /// Ping round trips matched: count.
    pub ping_rtt_count: u64,
    /// Mean ping round trip, ms.
    pub ping_rtt_mean_ms: Option<f64>,
    /// Largest ping round trip, ms.
    pub ping_rtt_max_ms: Option<f64>,
    /// Client-to-server counters.
    pub c2s: DirectionStats,
    /// Server-to-client counters.
    pub s2c: DirectionStats,
    /// Events in time order.
    pub timeline: Vec<Event>,
    /// Events left out of the timeline once it held its maximum.
    pub timeline_events_dropped: u64,
    /// True when tracking stopped because the connection carried nothing and went idle
    /// (an unanswered attempt), rather than because it closed or the capture ended.
    pub evicted_idle: bool,
    /// ICE credentials, candidates, SSRCs and clock rates from the signalling's SDP.
    pub sdp: SdpFacts,
    /// Media flows joined to this session.
    pub media: Vec<MediaFlow>,
    /// The rule that joined its media, the most trusted one when several did.
    pub join_rule: Option<JoinRule>,
    /// What the media says about the ending, if anything stands out.
    pub media_finding: Option<MediaFinding>,
    /// The TLS facts of a `wss://` session.
    pub tls: Option<TlsSummary>,
    /// Sessions open just after it began, itself included (set once all sessions are
    /// known; see [`crate::loadrun::concurrency_steps`]).
    pub open_at_start: usize,
}

/// How a media flow was joined to a session (`session/join.rs`), most trusted first.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, strum::IntoStaticStr)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum JoinRule {
    /// An ICE username fragment of the session's SDP is in the flow's STUN USERNAME.
    IceUfrag,
    /// An SSRC of the session's SDP is a stream of the flow.
    Ssrc,
    /// An address of the session's SDP (candidate or media line) is an end of the flow.
    SdpAddress,
    /// The flow comes from the session's client address while the session was alive.
    ClientAddress,
}

impl JoinRule {
    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// What a session's media says about its ending.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, strum::IntoStaticStr)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum FindingKind {
    /// TURN refused the allocation (RFC 8656 §19).
    TurnAllocationFailed,
    /// ICE consent checks went unanswered (RFC 7675).
    IceConsentLost,
    /// RTP ended well before the signalling's teardown began.
    MediaStoppedFirst,
    /// STUN requests went unanswered.
    StunUnanswered,
}

impl FindingKind {
    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// A media-aware finding on a session (media often dies first).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MediaFinding {
    /// What kind of finding.
    pub kind: FindingKind,
    /// The finding in a sentence, with its numbers.
    pub detail: String,
}

impl Session {
    /// The close code column: the first close frame's code, 1005 when it had none
    /// (RFC 6455 §7.1.5), `None` without a close frame.
    pub fn close_code(&self) -> Option<u16> {
        self.first_close.as_ref().map(|c| c.code.unwrap_or(1005))
    }

    /// The HTTP status of the upgrade response, if one was captured.
    pub fn handshake_status(&self) -> Option<u16> {
        self.response.as_ref().map(|r| r.status)
    }

    /// True when permessage-deflate was negotiated.
    pub fn permessage_deflate(&self) -> bool {
        self.response
            .as_ref()
            .is_some_and(|r| r.permessage_deflate())
    }

    /// When it stops counting as open: the start of its teardown, else its last packet
    /// (never before its start).
    pub fn closed_at(&self) -> Timestamp {
        self.teardown_start_ts
            .unwrap_or(self.end_ts)
            .max(self.start_ts)
    }

    /// True while open at `t`, its teardown starting at `t` included.
    pub fn is_open_at(&self, t: Timestamp) -> bool {
        self.start_ts <= t && self.closed_at() >= t
    }

    /// First packet to last packet, ms.
    pub fn duration_ms(&self) -> f64 {
        self.end_ts.millis_since(self.start_ts)
    }

    /// Age at teardown in ms: first packet to the start of the teardown; `None` while open.
    pub fn age_at_teardown_ms(&self) -> Option<f64> {
        self.teardown_start_ts
            .map(|t| t.max(self.start_ts).millis_since(self.start_ts))
    }

    /// The RTP streams of its media flows (with who sent each).
    pub fn rtp_streams(&self) -> impl Iterator<Item = &RtpStream> {
        self.media.iter().flat_map(|f| &f.rtp).map(|(_, r)| r)
    }

    /// RTP packets over all its streams.
    pub fn rtp_packets(&self) -> u64 {
        self.rtp_streams().map(|r| r.packets).sum()
    }

    /// RTP packets lost over all its streams (RFC 3550 A.3; negative with duplicates).
    pub fn rtp_lost(&self) -> i64 {
        self.rtp_streams().map(|r| r.lost).sum()
    }

    /// Its last RTP packet, any stream.
    pub fn media_last_ts(&self) -> Option<Timestamp> {
        self.media.iter().filter_map(|f| f.last_rtp()).max()
    }

    /// Mean STUN round trip over its flows, ms.
    pub fn stun_rtt_mean_ms(&self) -> Option<f64> {
        crate::flow::stun_rtt_mean_ms(&self.media)
    }
}
