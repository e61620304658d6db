//! The sessions table: `teardown sessions` (CSV, JSON) and the export's `sessions`.
//!
//! The first fifteen columns are the documented interface; new columns go after them.

use super::{Column, ColumnType::*, Rows, Table, Value};
use crate::session::Session;

/// The sessions table's rows: the [`Session`]s themselves.
pub struct Sessions;

impl Rows for Sessions {
    type Row<'a> = Session;
}

const SESSION_ID: Column<Sessions> = Column {
    name: "session_id",
    ty: Int64,
    unit: "",
    doc: "1-based, in order of start time",
    get: |s| Value::count(s.id),
};

/// The columns the `tcp_connections` table shares (its rows dereference to a [`Session`]):
/// the four address columns, then `teardown_start_ts`.
macro_rules! shared_columns {
    ($rows:ty) => {
        [
            Column::<$rows> {
                name: "client_ip",
                ty: Text,
                unit: "",
                doc: "client address",
                get: |s| Value::from(s.client.ip().to_string()),
            },
            Column::<$rows> {
                name: "client_port",
                ty: Int32,
                unit: "",
                doc: "client port",
                get: |s| Value::from(s.client.port()),
            },
            Column::<$rows> {
                name: "server_ip",
                ty: Text,
                unit: "",
                doc: "server address",
                get: |s| Value::from(s.server.ip().to_string()),
            },
            Column::<$rows> {
                name: "server_port",
                ty: Int32,
                unit: "",
                doc: "server port",
                get: |s| Value::from(s.server.port()),
            },
            Column::<$rows> {
                name: "teardown_start_ts",
                ty: Timestamp,
                unit: "",
                doc: "the first teardown event (empty while open)",
                get: |s| Value::opt(s.teardown_start_ts),
            },
        ]
    };
}
pub(super) use shared_columns;

const SHARED: [Column<Sessions>; 5] = shared_columns!(Sessions);

/// One row per session, in id order.
pub static SESSIONS: Table<Sessions> = Table {
    name: "sessions",
    columns: &[
        SESSION_ID,
        SHARED[0],
        SHARED[1],
        SHARED[2],
        SHARED[3],
        Column {
            name: "start_ts",
            ty: Timestamp,
            unit: "",
            doc: "first packet",
            get: |s| Value::from(s.start_ts),
        },
        Column {
            name: "end_ts",
            ty: Timestamp,
            unit: "",
            doc: "last packet",
            get: |s| Value::from(s.end_ts),
        },
        Column {
            name: "handshake_status",
            ty: Int32,
            unit: "",
            doc: "HTTP status of the upgrade response (empty: none captured)",
            get: |s| Value::opt(s.handshake_status()),
        },
        Column {
            name: "verdict",
            ty: Text,
            unit: "",
            doc: "who started the teardown, and how (README, \"Verdicts\")",
            get: |s| Value::text(s.verdict.as_str()),
        },
        Column {
            name: "teardown_initiator",
            ty: Text,
            unit: "",
            doc: "`client`, `server` or `none`",
            get: |s| Value::text(s.teardown_initiator.as_str()),
        },
        SHARED[4],
        Column {
            name: "close_code",
            ty: Int32,
            unit: "",
            doc: "the first close frame's code, 1005 when it had none (empty: no close frame)",
            get: |s| Value::opt(s.close_code()),
        },
        Column {
            name: "client_observed_code",
            ty: Int32,
            unit: "",
            doc: "the code the client's WebSocket API reports (RFC 6455 §7.1.5; 1006: dropped)",
            get: |s| Value::opt(s.client_observed_code),
        },
        Column {
            name: "frames_c2s",
            ty: Int64,
            unit: "frames",
            doc: "WebSocket frames client to server",
            get: |s| Value::count(s.c2s.frames),
        },
        Column {
            name: "frames_s2c",
            ty: Int64,
            unit: "frames",
            doc: "WebSocket frames server to client",
            get: |s| Value::count(s.s2c.frames),
        },
        Column {
            name: "close_sender",
            ty: Text,
            unit: "",
            doc: "who sent the first close frame",
            get: |s| {
                Value::opt(
                    s.first_close
                        .as_ref()
                        .map(|c| c.direction.sender().as_str()),
                )
            },
        },
        Column {
            name: "close_reason",
            ty: Text,
            unit: "",
            doc: "its reason text",
            get: |s| Value::opt(s.first_close.as_ref().map(|c| c.reason.as_str())),
        },
        Column {
            name: "http_path",
            ty: Text,
            unit: "",
            doc: "the upgrade request's target",
            get: |s| Value::opt(s.request.as_ref().map(|r| r.path.as_str())),
        },
        Column {
            name: "handshake_ms",
            ty: Float64,
            unit: "ms",
            doc: "SYN (or first packet) to the upgrade response",
            get: |s| Value::opt(s.handshake_ms),
        },
        Column {
            name: "messages_c2s",
            ty: Int64,
            unit: "messages",
            doc: "data messages client to server",
            get: |s| Value::count(s.c2s.messages),
        },
        Column {
            name: "messages_s2c",
            ty: Int64,
            unit: "messages",
            doc: "data messages server to client",
            get: |s| Value::count(s.s2c.messages),
        },
        Column {
            name: "pings",
            ty: Int64,
            unit: "frames",
            doc: "ping frames, both ways",
            get: |s| Value::count(s.c2s.pings + s.s2c.pings),
        },
        Column {
            name: "pongs",
            ty: Int64,
            unit: "frames",
            doc: "pong frames, both ways",
            get: |s| Value::count(s.c2s.pongs + s.s2c.pongs),
        },
        Column {
            name: "ping_rtt_mean_ms",
            ty: Float64,
            unit: "ms",
            doc: "mean ping → pong round trip",
            get: |s| Value::opt(s.ping_rtt_mean_ms),
        },
        Column {
            name: "retransmissions",
            ty: Int64,
            unit: "segments",
            doc: "TCP segments retransmitted, both ways",
            get: |s| Value::count(s.c2s.retransmitted + s.s2c.retransmitted),
        },
        Column {
            name: "capture_gap_bytes",
            ty: Int64,
            unit: "bytes",
            doc: "stream bytes missing from the capture, both ways",
            get: |s| Value::count(s.c2s.capture_gap_bytes + s.s2c.capture_gap_bytes),
        },
        Column {
            name: "permessage_deflate",
            ty: Bool,
            unit: "",
            doc: "permessage-deflate negotiated",
            get: |s| Value::from(s.permessage_deflate()),
        },
        Column {
            name: "midstream",
            ty: Bool,
            unit: "",
            doc: "the capture did not hold the SYN",
            get: |s| Value::from(s.midstream),
        },
        Column {
            name: "rtp_streams",
            ty: Int64,
            unit: "streams",
            doc: "RTP streams joined to the session",
            get: |s| Value::count(s.rtp_streams().count() as u64),
        },
        Column {
            name: "rtp_packets",
            ty: Int64,
            unit: "packets",
            doc: "RTP packets in them",
            get: |s| Value::count(s.rtp_packets()),
        },
        Column {
            name: "rtp_lost",
            ty: Int64,
            unit: "packets",
            doc: "RTP packets lost in them (RFC 3550 A.3)",
            get: |s| Value::Int(s.rtp_lost()),
        },
        Column {
            name: "media_last_ts",
            ty: Timestamp,
            unit: "",
            doc: "the session's last RTP packet",
            get: |s| Value::opt(s.media_last_ts()),
        },
        Column {
            name: "stun_rtt_mean_ms",
            ty: Float64,
            unit: "ms",
            doc: "mean STUN round trip on its flows",
            get: |s| Value::opt(s.stun_rtt_mean_ms()),
        },
        Column {
            name: "join_rule",
            ty: Text,
            unit: "",
            doc: "the rule that joined its media (README, \"Media\")",
            get: |s| Value::opt(s.join_rule.map(|r| r.as_str())),
        },
        Column {
            name: "media_finding",
            ty: Text,
            unit: "",
            doc: "what the media says about the ending, if anything stands out",
            get: |s| Value::opt(s.media_finding.as_ref().map(|m| m.kind.as_str())),
        },
        Column {
            name: "tls_version",
            ty: Text,
            unit: "",
            doc: "TLS version of a `wss://` session",
            get: |s| Value::opt(s.tls.as_ref().and_then(|t| t.version.as_deref())),
        },
        Column {
            name: "tls_cipher",
            ty: Text,
            unit: "",
            doc: "its cipher suite (IANA name)",
            get: |s| Value::opt(s.tls.as_ref().and_then(|t| t.cipher.as_deref())),
        },
        Column {
            name: "tls_sni",
            ty: Text,
            unit: "",
            doc: "the server name of its ClientHello",
            get: |s| Value::opt(s.tls.as_ref().and_then(|t| t.sni.as_deref())),
        },
        Column {
            name: "tls_alpn",
            ty: Text,
            unit: "",
            doc: "its negotiated application protocol, when visible",
            get: |s| Value::opt(s.tls.as_ref().and_then(|t| t.alpn.as_deref())),
        },
        Column {
            name: "tls_decrypted",
            ty: Bool,
            unit: "",
            doc: "its frames were decrypted with the key log (empty without TLS)",
            get: |s| Value::opt(s.tls.as_ref().map(|t| t.decrypted)),
        },
        Column {
            name: "tls_handshake_ms",
            ty: Float64,
            unit: "ms",
            doc: "ClientHello to the handshake's last Finished",
            get: |s| Value::opt(s.tls.as_ref().and_then(|t| t.handshake_ms)),
        },
        Column {
            name: "duration_ms",
            ty: Float64,
            unit: "ms",
            doc: "first packet to last packet",
            get: |s| Value::from(s.duration_ms()),
        },
        Column {
            name: "abnormal",
            ty: Bool,
            unit: "",
            doc: "the verdict is neither a clean close nor still open",
            get: |s| Value::from(s.verdict.is_abnormal()),
        },
        Column {
            name: "age_at_teardown_ms",
            ty: Float64,
            unit: "ms",
            doc: "first packet to the start of the teardown",
            get: |s| Value::opt(s.age_at_teardown_ms()),
        },
        Column {
            name: "open_at_start",
            ty: Int64,
            unit: "sessions",
            doc: "sessions open just after it began, itself included",
            get: |s| Value::count(s.open_at_start as u64),
        },
        Column {
            name: "established_ts",
            ty: Timestamp,
            unit: "",
            doc: "when the server established it: its HTTP 101 (empty: never)",
            get: |s| Value::opt(s.established_at()),
        },
        Column {
            name: "established_at_start",
            ty: Int64,
            unit: "sessions",
            doc: "sessions established on its server just before it began",
            get: |s| Value::count(s.established_at_start as u64),
        },
        Column {
            name: "established_at_teardown",
            ty: Int64,
            unit: "sessions",
            doc: "sessions established on its server when its teardown started, itself included",
            get: |s| {
                s.established_at_teardown
                    .map_or(Value::Null, |n| Value::count(n as u64))
            },
        },
        Column {
            name: "connecting_at_teardown",
            ty: Int64,
            unit: "sessions",
            doc: "sessions connecting to its server when its teardown started, itself included",
            get: |s| {
                s.connecting_at_teardown
                    .map_or(Value::Null, |n| Value::count(n as u64))
            },
        },
        Column {
            name: "http_host",
            ty: Text,
            unit: "",
            doc: "the upgrade request's Host",
            get: |s| Value::opt(s.request.as_ref().and_then(|r| r.host.as_deref())),
        },
        Column {
            name: "user_agent",
            ty: Text,
            unit: "",
            doc: "the upgrade request's User-Agent",
            get: |s| Value::opt(s.request.as_ref().and_then(|r| r.user_agent.as_deref())),
        },
        Column {
            name: "subprotocol",
            ty: Text,
            unit: "",
            doc: "the subprotocol the server chose",
            get: |s| Value::opt(s.response.as_ref().and_then(|r| r.protocol.as_deref())),
        },
        Column {
            name: "ws_payload_bytes_c2s",
            ty: Int64,
            unit: "bytes",
            doc: "WebSocket payload bytes client to server (frame headers' lengths)",
            get: |s| Value::count(s.c2s.ws_payload_bytes),
        },
        Column {
            name: "ws_payload_bytes_s2c",
            ty: Int64,
            unit: "bytes",
            doc: "WebSocket payload bytes server to client",
            get: |s| Value::count(s.s2c.ws_payload_bytes),
        },
        Column {
            name: "ping_rtt_max_ms",
            ty: Float64,
            unit: "ms",
            doc: "largest ping → pong round trip",
            get: |s| Value::opt(s.ping_rtt_max_ms),
        },
        Column {
            name: "media_finding_detail",
            ty: Text,
            unit: "",
            doc: "the media finding in a sentence, with its numbers",
            get: |s| Value::opt(s.media_finding.as_ref().map(|m| m.detail.as_str())),
        },
        Column {
            name: "timeline_events",
            ty: Int64,
            unit: "events",
            doc: "events in its timeline",
            get: |s| Value::count(s.timeline.len() as u64),
        },
        Column {
            name: "timeline_events_dropped",
            ty: Int64,
            unit: "events",
            doc: "events left out once the timeline held its maximum",
            get: |s| Value::count(s.timeline_events_dropped),
        },
        Column {
            name: "evidence",
            ty: Text,
            unit: "",
            doc: "how its WebSocket facts are known: `plaintext`, `decrypted` (key log), \
                  `record_lengths` (inferred from TLS record lengths without keys: close codes \
                  unread) or `tcp_only` (TCP and visible TLS alerts only)",
            get: |s| Value::text(s.evidence.as_str()),
        },
    ],
};
