//! The timeline tables: `events` (every timeline event) and `ws_frames` (the frames the
//! timelines hold), both over [`EventRow`]s.

use super::{Column, ColumnType::*, Rows, Table, Value};
use crate::analysis::Analysis;
use crate::session::{Event, EventKind, Session};
use serde_json::Value as Json;

/// One timeline event with its session and its typed fields.
pub struct EventRow<'a> {
    /// The session it belongs to.
    pub session: &'a Session,
    /// Its position in the session's timeline.
    pub index: usize,
    /// The event.
    pub event: &'a Event,
    fields: EventFields,
}

/// The rows of the timeline tables.
pub struct EventRows;

impl Rows for EventRows {
    type Row<'a> = EventRow<'a>;
}

/// The typed fields of an event, read from its serde form (the JSON of `teardown
/// timeline --format json`), so that every kind of event exports without a list here.
struct EventFields {
    event: String,
    media_event: Option<String>,
    http_status: Option<u16>,
    close_code: Option<u16>,
    close_reason: Option<String>,
    rtt_ms: Option<f64>,
    bytes: Option<u64>,
    text: Option<String>,
}

impl EventFields {
    fn of(kind: &EventKind) -> EventFields {
        let v = serde_json::to_value(kind).unwrap_or(Json::Null);
        let text = |k: &str| v.get(k).and_then(Json::as_str).map(String::from);
        let int = |k: &str| v.get(k).and_then(Json::as_u64);
        let code = |k: &str| int(k).and_then(|c| u16::try_from(c).ok());
        let close = matches!(kind, EventKind::Close { .. });
        EventFields {
            event: text("event").unwrap_or_default(),
            media_event: text("media_event"),
            http_status: matches!(kind, EventKind::HandshakeResponse { .. })
                .then(|| code("status"))
                .flatten(),
            close_code: close.then(|| code("code")).flatten(),
            close_reason: close.then(|| text("reason")).flatten(),
            rtt_ms: v.get("rtt_ms").and_then(Json::as_f64),
            text: text("text"),
            bytes: int("payload_len")
                .or(int("bytes"))
                .or(int("skipped"))
                .or(int("record_len")),
        }
    }
}

/// The events of every session's timeline, in session then timeline order, that `keep`
/// accepts.
pub fn event_rows(a: &Analysis, keep: fn(&EventKind) -> bool) -> Vec<EventRow<'_>> {
    a.sessions
        .iter()
        .flat_map(|session| {
            session
                .timeline
                .iter()
                .enumerate()
                .map(move |(index, event)| (session, index, event))
        })
        .filter(|(_, _, e)| keep(&e.kind))
        .map(|(session, index, event)| EventRow {
            session,
            index,
            event,
            fields: EventFields::of(&event.kind),
        })
        .collect()
}

/// The events `ws_frames` lists: data messages first and last, pings, pongs, closes.
pub fn is_frame(k: &EventKind) -> bool {
    matches!(
        k,
        EventKind::FirstMessage { .. }
            | EventKind::LastMessage { .. }
            | EventKind::Ping { .. }
            | EventKind::Pong { .. }
            | EventKind::Close { .. }
    )
}

/// Columns both timeline tables have.
mod col {
    use super::*;

    pub const SESSION_ID: Column<EventRows> = Column {
        name: "session_id",
        ty: Int64,
        unit: "",
        doc: "the session",
        get: |r| Value::count(r.session.id),
    };
    pub const TS: Column<EventRows> = Column {
        name: "ts",
        ty: Timestamp,
        unit: "",
        doc: "packet that carried it",
        get: |r| Value::from(r.event.ts),
    };
    pub const OFFSET_MS: Column<EventRows> = Column {
        name: "offset_ms",
        ty: Float64,
        unit: "ms",
        doc: "since the session's first packet",
        get: |r| Value::from(r.event.ts.millis_since(r.session.start_ts)),
    };
    pub const DIRECTION: Column<EventRows> = Column {
        name: "direction",
        ty: Text,
        unit: "",
        doc: "`c2s` or `s2c`",
        get: |r| Value::text(r.event.direction.as_str()),
    };
    pub const TEARDOWN_START: Column<EventRows> = Column {
        name: "teardown_start",
        ty: Bool,
        unit: "",
        doc: "the event that started the teardown",
        get: |r| Value::from(r.event.teardown_start),
    };
    pub const CLOSE_CODE: Column<EventRows> = Column {
        name: "close_code",
        ty: Int32,
        unit: "",
        doc: "`close` (empty: empty close frame)",
        get: |r| Value::opt(r.fields.close_code),
    };
    pub const CLOSE_REASON: Column<EventRows> = Column {
        name: "close_reason",
        ty: Text,
        unit: "",
        doc: "`close`",
        get: |r| Value::opt(r.fields.close_reason.as_deref()),
    };
    pub const RTT_MS: Column<EventRows> = Column {
        name: "rtt_ms",
        ty: Float64,
        unit: "ms",
        doc: "`pong` (from its ping), `stun_success`",
        get: |r| Value::opt(r.fields.rtt_ms),
    };
}

/// Every timeline event (as `teardown timeline --format json`).
pub static EVENTS: Table<EventRows> = Table {
    name: "events",
    columns: &[
        col::SESSION_ID,
        Column {
            name: "event_index",
            ty: Int32,
            unit: "",
            doc: "position in the timeline",
            get: |r| Value::count(r.index as u64),
        },
        col::TS,
        col::OFFSET_MS,
        col::DIRECTION,
        Column {
            name: "event",
            ty: Text,
            unit: "",
            doc: "`syn`, `syn_ack`, `handshake_request`, `handshake_response`, `first_message`, \
                  `last_message`, `ping`, `pong`, `close`, `fin`, `rst`, `zero_window`, \
                  `capture_gap`, `resynced`, `not_web_socket`, `sdp`, `media`, `violation` \
                  (RFC 6455), `inconsistent_retransmission`, and for TLS \
                  `tls_client_hello`, `tls_server_hello`, `tls_handshake_done`, `tls_alert`, \
                  `tls_last_application_data`, `not_inferred`, `inferred` (without keys, from \
                  a record's length: what in `detail`, e.g. \"close frame (inferred from a \
                  32-byte record)\")",
            get: |r| Value::text(&r.fields.event),
        },
        Column {
            name: "media_event",
            ty: Text,
            unit: "",
            doc: "for `media`: `stun_request`, `stun_success`, `stun_error`, \
                  `last_answered_check`, `first_unanswered_check`, `dtls_handshake_done`, \
                  `dtls_alert`, `rtp_first`, `rtp_last`, `rtcp_bye`",
            get: |r| Value::opt(r.fields.media_event.as_deref()),
        },
        Column {
            name: "detail",
            ty: Text,
            unit: "",
            doc: "the event as `teardown timeline` prints it",
            get: |r| Value::from(r.event.kind.to_string()),
        },
        col::TEARDOWN_START,
        Column {
            name: "http_status",
            ty: Int32,
            unit: "",
            doc: "`handshake_response`",
            get: |r| Value::opt(r.fields.http_status),
        },
        col::CLOSE_CODE,
        col::CLOSE_REASON,
        col::RTT_MS,
        Column {
            name: "bytes",
            ty: Int64,
            unit: "bytes",
            doc: "`ping` payload, `capture_gap` missing, `resynced` skipped, `inferred` the \
                  record's length",
            get: |r| Value::opt(r.fields.bytes.map(Value::count)),
        },
    ],
};

/// The frames the timelines hold (`export --frames`): every ping, pong and close frame,
/// and the first and last data message of each direction.
pub static WS_FRAMES: Table<EventRows> = Table {
    name: "ws_frames",
    columns: &[
        col::SESSION_ID,
        col::TS,
        col::OFFSET_MS,
        col::DIRECTION,
        Column {
            name: "frame",
            ty: Text,
            unit: "",
            doc: "`ping`, `pong`, `close`, `first_message`, `last_message`",
            get: |r| Value::text(&r.fields.event),
        },
        Column {
            name: "payload_bytes",
            ty: Int64,
            unit: "bytes",
            doc: "ping payload",
            get: |r| {
                Value::opt(
                    matches!(r.event.kind, EventKind::Ping { .. })
                        .then_some(r.fields.bytes)
                        .flatten()
                        .map(Value::count),
                )
            },
        },
        col::CLOSE_CODE,
        col::CLOSE_REASON,
        col::RTT_MS,
        col::TEARDOWN_START,
        Column {
            name: "text",
            ty: Text,
            unit: "",
            doc: "with `--payloads`, the start of a first or last message's text (inflated \
                  under permessage-deflate; 64 characters, `…` when cut)",
            get: |r| Value::opt(r.fields.text.as_deref()),
        },
    ],
};
