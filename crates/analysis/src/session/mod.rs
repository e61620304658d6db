//! Sessions: one per connection that tried to become a WebSocket, with its timeline and
//! its verdict.
//!
//! [`connection`] tracks the facts of one TCP connection while packets arrive;
//! [`verdict`] decides who started the teardown and how, from those facts alone.

pub mod connection;
pub mod join;
pub mod verdict;

pub use connection::{Connection, ConnectionEnd, Membership};
pub use verdict::{decide, Answer, Decision, Facts, Initiator, TlsFacts, Verdict};

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
    /// Its name in tables and JSON: `c2s` or `s2c`.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::ClientToServer => "c2s",
            Direction::ServerToClient => "s2c",
        }
    }

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
    FirstMessage {
        /// With `--payloads`, the start of its text message (inflated).
        #[serde(skip_serializing_if = "Option::is_none")]
        text: Option<String>,
    },
    /// Last data frame in this direction.
    LastMessage {
        /// With `--payloads`, the start of its text message (inflated).
        #[serde(skip_serializing_if = "Option::is_none")]
        text: Option<String>,
    },
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
    /// Without keys, why the WebSocket layer was not inferred from the record lengths.
    NotInferred {
        /// Why.
        reason: String,
    },
    /// Something read from an encrypted record's length, not its content (no keys).
    Inferred {
        /// What the record was taken for.
        what: InferredEvent,
        /// The record's body length on the wire.
        record_len: usize,
    },
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

/// What an encrypted record was inferred to be (`teardown_wire::tls::infer`).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum InferredEvent {
    /// The HTTP upgrade request.
    UpgradeRequest,
    /// The answer to it, followed by frames.
    UpgradeAccepted,
    /// The answer to it, followed only by the end of the connection.
    UpgradeRejected,
    /// The answer to it; what followed does not tell whether it was accepted.
    UpgradeAnswer,
    /// A close frame.
    CloseFrame,
    /// A TLS close_notify alert (TLS 1.3 hides the record type).
    CloseNotify,
}

impl fmt::Display for InferredEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            InferredEvent::UpgradeRequest => "upgrade request",
            InferredEvent::UpgradeAccepted => "upgrade accepted",
            InferredEvent::UpgradeRejected => "upgrade rejected",
            InferredEvent::UpgradeAnswer => "upgrade answer",
            InferredEvent::CloseFrame => "close frame",
            InferredEvent::CloseNotify => "TLS alert close_notify",
        })
    }
}

/// How a session's WebSocket facts are known.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, strum::IntoStaticStr)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Evidence {
    /// Read from a plain `ws://` stream.
    Plaintext,
    /// Read from TLS decrypted with the key log.
    Decrypted,
    /// Inferred from TLS record lengths, order and timing (no keys): close codes unknown.
    RecordLengths,
    /// Only TCP (and visible TLS alerts) tell: no keys and nothing inferred (a CBC suite,
    /// records lost in a capture gap, a TLS handshake that did not finish).
    TcpOnly,
}

impl Evidence {
    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
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
            EventKind::FirstMessage { text: None } => write!(f, "first data message"),
            EventKind::FirstMessage { text: Some(t) } => write!(f, "first data message {t:?}"),
            EventKind::LastMessage { text: None } => write!(f, "last data message"),
            EventKind::LastMessage { text: Some(t) } => write!(f, "last data message {t:?}"),
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
            EventKind::NotInferred { reason } => {
                write!(
                    f,
                    "WebSocket layer not inferred from record lengths: {reason}"
                )
            }
            EventKind::Inferred { what, record_len } => {
                write!(f, "{what} (inferred from a {record_len}-byte record)")
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
    /// The upgrade request, if captured (boxed, as the response: the list of all
    /// sessions holds them inline, and the attempts of a SYN flood have neither).
    pub request: Option<Box<UpgradeRequest>>,
    /// The response, if captured.
    pub response: Option<Box<UpgradeResponse>>,
    /// When the response was captured (its first byte).
    pub response_ts: Option<Timestamp>,
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
    /// Client-to-server counters (boxed, as the server-to-client ones and the SDP facts:
    /// the list of all sessions holds them inline, one allocation while freed
    /// connections leave small ones to reuse).
    pub c2s: Box<DirectionStats>,
    /// Server-to-client counters.
    pub s2c: Box<DirectionStats>,
    /// Events in time order.
    pub timeline: Vec<Event>,
    /// Events left out of the timeline once it held its maximum.
    pub timeline_events_dropped: u64,
    /// True when tracking stopped because the connection carried nothing and went idle
    /// (an unanswered attempt), rather than because it closed or the capture ended.
    pub evicted_idle: bool,
    /// ICE credentials, candidates, SSRCs and clock rates from the signalling's SDP.
    pub sdp: Box<SdpFacts>,
    /// Media flows joined to this session.
    pub media: Vec<MediaFlow>,
    /// The rule that joined its media, the most trusted one when several did.
    pub join_rule: Option<JoinRule>,
    /// What the media says about the ending, if anything stands out.
    pub media_finding: Option<MediaFinding>,
    /// The TLS facts of a `wss://` session (boxed, as the request).
    pub tls: Option<Box<TlsSummary>>,
    /// How its WebSocket facts are known.
    pub evidence: Evidence,
    /// Sessions open just after it began, itself included (set once all sessions are
    /// known; see [`crate::loadrun::concurrency_steps`]).
    pub open_at_start: usize,
    /// Sessions established on its server 1 ns before it began (set once all sessions
    /// are known, as the next two; see [`crate::loadrun::set_server_load`]).
    pub established_at_start: usize,
    /// Sessions established on its server at the instant its teardown started, itself
    /// included when it was established; `None` without a teardown.
    pub established_at_teardown: Option<usize>,
    /// Sessions connecting to its server at the instant its teardown started, itself
    /// included when it was still connecting; `None` without a teardown.
    pub connecting_at_teardown: Option<usize>,
}

/// How a session's connecting phase ended (see [`Session::connecting_until`]).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum ConnectingEnd {
    /// The server established it at this instant (no longer connecting then).
    Established(Timestamp),
    /// It was torn down at this instant without being established (still connecting then).
    TornDown(Timestamp),
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

/// What a TCP connection carried, as far as teardown can tell.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, strum::IntoStaticStr)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Protocol {
    /// TLS records (`wss://`, HTTPS, ...): the session columns say whether it carried a
    /// WebSocket.
    Tls,
    /// A WebSocket upgrade, or WebSocket frames from the middle of a stream.
    #[serde(rename = "websocket")]
    #[strum(serialize = "websocket")]
    WebSocket,
    /// An HTTP request without a WebSocket upgrade.
    Http,
    /// No payload either way.
    None,
    /// Payload that is none of the above.
    Other,
}

impl Protocol {
    /// Its name in tables and JSON.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

impl Session {
    /// What the connection carried: TLS first (what is inside is in the other columns),
    /// then a WebSocket, an HTTP request, nothing, or something else.
    pub fn protocol(&self) -> Protocol {
        let not_ws = self
            .timeline
            .iter()
            .any(|e| matches!(e.kind, EventKind::NotWebSocket { .. }));
        if self.tls.is_some() {
            Protocol::Tls
        } else if let Some(r) = &self.request {
            if r.is_websocket {
                Protocol::WebSocket
            } else {
                Protocol::Http
            }
        } else if self.c2s.payload_bytes + self.s2c.payload_bytes == 0 {
            Protocol::None
        } else if self.c2s.frames + self.s2c.frames > 0 && !not_ws {
            Protocol::WebSocket
        } else {
            Protocol::Other
        }
    }

    /// The first FIN or RST segment, either way: who ended the TCP connection, and how.
    pub fn first_tcp_close(&self) -> Option<&Event> {
        self.timeline
            .iter()
            .find(|e| matches!(e.kind, EventKind::Fin { .. } | EventKind::Rst))
    }

    /// Drops what only a session needs (application events, SDP, media), keeping the TCP
    /// events of the timeline: for connections listed as
    /// [`Analysis::other_tcp`](crate::analysis::Analysis::other_tcp).
    pub fn keep_tcp_only(&mut self) {
        self.timeline.retain(|e| {
            matches!(
                e.kind,
                EventKind::Syn { .. }
                    | EventKind::SynAck
                    | EventKind::Fin { .. }
                    | EventKind::Rst
                    | EventKind::ZeroWindow
                    | EventKind::CaptureGap { .. }
                    | EventKind::NotWebSocket { .. }
            )
        });
        self.timeline.shrink_to_fit();
        *self.sdp = SdpFacts::default();
        self.media = Vec::new();
    }

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

    /// When the server established it: the capture time of its `101 Switching Protocols`,
    /// or over TLS without keys of the answer inferred as an accepted upgrade; for a
    /// session whose start the capture missed (no SYN, no upgrade seen), its first packet
    /// (inferred: it was already established). `None` when it never was.
    pub fn established_at(&self) -> Option<Timestamp> {
        match (self.handshake_status(), self.response_ts) {
            (Some(101), Some(t)) => Some(t),
            (None, Some(t)) if self.evidence == Evidence::RecordLengths => Some(t),
            (None, _) if self.midstream && self.request.is_none() => Some(self.start_ts),
            _ => None,
        }
    }

    /// The instants it was established: from [`Session::established_at`] until its
    /// teardown started (`closed_at`, inclusive); `None` when it never was, or only after
    /// its teardown had started.
    pub fn established_span(&self) -> Option<(Timestamp, Timestamp)> {
        let (from, to) = (self.established_at()?, self.closed_at());
        (from <= to).then_some((from, to))
    }

    /// The end of its connecting phase, which starts at its first packet: the instant it
    /// was established (excluded: then it counts as established), else its teardown
    /// (included, as an established session's teardown instant is).
    pub fn connecting_until(&self) -> ConnectingEnd {
        match self.established_span() {
            Some((t, _)) => ConnectingEnd::Established(t),
            None => ConnectingEnd::TornDown(self.closed_at()),
        }
    }

    /// True when the server started its teardown and the verdict is abnormal: a server
    /// drop (reset, FIN or error close of an established session, a refused connection or
    /// a rejected upgrade).
    pub fn server_dropped(&self) -> bool {
        self.teardown_initiator == Initiator::Server && self.verdict.is_abnormal()
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
