//! The `tcp_connections` table (`teardown connections`, and the export's
//! `tcp_connections`): one row per TCP connection, sessions and the others.

use super::sessions::shared_columns;
use super::{Column, ColumnType::*, Rows, Table, Value};
use crate::analysis::Analysis;
use crate::session::{Direction, EventKind, Session};
use crate::time::Timestamp as Ts;
use std::ops::Deref;

/// A TCP connection: a session's, or one that is not a session.
#[derive(Copy, Clone)]
pub struct ConnRow<'a> {
    /// Its facts (for a connection that is not a session, TCP only).
    pub conn: &'a Session,
    /// True when it is a WebSocket session.
    pub is_session: bool,
}

impl Deref for ConnRow<'_> {
    type Target = Session;
    fn deref(&self) -> &Session {
        self.conn
    }
}

/// The rows of the TCP connections table.
pub struct ConnRows;

impl Rows for ConnRows {
    type Row<'a> = ConnRow<'a>;
}

/// Every TCP connection, sessions and the others, by start time.
pub fn connection_rows(a: &Analysis) -> Vec<ConnRow<'_>> {
    let sessions = a.sessions.iter().map(|conn| ConnRow {
        conn,
        is_session: true,
    });
    let others = a.other_tcp.iter().map(|conn| ConnRow {
        conn,
        is_session: false,
    });
    let mut rows: Vec<_> = sessions.chain(others).collect();
    rows.sort_by_key(|r| (r.start_ts, r.client, r.server));
    rows
}

/// The first event of a session's timeline that `pred` accepts, going `dir` (any way when
/// `None`).
fn first_event(s: &Session, dir: Option<Direction>, pred: fn(&EventKind) -> bool) -> Option<Ts> {
    s.timeline
        .iter()
        .find(|e| pred(&e.kind) && dir.is_none_or(|d| e.direction == d))
        .map(|e| e.ts)
}

/// The column `name` with the first `pred` event going `dir`.
macro_rules! first {
    ($name:literal, $dir:expr, $pat:pat, $doc:literal) => {
        Column {
            name: $name,
            ty: Timestamp,
            unit: "",
            doc: $doc,
            get: |s| Value::opt(first_event(s, $dir, |k| matches!(k, $pat))),
        }
    };
}

/// The column `name` reading counter `field` of one direction's `DirectionStats`.
macro_rules! counter {
    ($name:literal, $dir:ident . $field:ident, $unit:literal, $doc:literal) => {
        Column {
            name: $name,
            ty: Int64,
            unit: $unit,
            doc: $doc,
            get: |s| Value::count(s.$dir.$field),
        }
    };
}

/// Both directions of a counter, client to server first.
macro_rules! counters {
    ($c2s:literal, $s2c:literal, $field:ident, $unit:literal, $doc:literal) => {
        [
            counter!($c2s, c2s.$field, $unit, $doc),
            counter!($s2c, s2c.$field, $unit, $doc),
        ]
    };
}

const C2S: Option<Direction> = Some(Direction::ClientToServer);
const S2C: Option<Direction> = Some(Direction::ServerToClient);

/// The counters of each direction, in output order.
const COUNTERS: [[Column<ConnRows>; 2]; 11] = [
    counters!(
        "c2s_packets",
        "s2c_packets",
        packets,
        "segments",
        "TCP segments"
    ),
    counters!(
        "c2s_payload_bytes",
        "s2c_payload_bytes",
        payload_bytes,
        "bytes",
        "TCP payload captured"
    ),
    counters!(
        "c2s_retransmitted",
        "s2c_retransmitted",
        retransmitted,
        "segments",
        "retransmissions as tshark flags them (`tcp.analysis.retransmission`: after a \
         timeout, fast or spurious; SYNs and FINs sent again included)"
    ),
    counters!(
        "c2s_out_of_order",
        "s2c_out_of_order",
        out_of_order,
        "segments",
        "arrived ahead of a hole"
    ),
    counters!(
        "c2s_overlapping",
        "s2c_overlapping",
        overlapping,
        "segments",
        "partly seen before"
    ),
    counters!(
        "c2s_capture_gaps",
        "s2c_capture_gaps",
        capture_gaps,
        "holes",
        "missing from the capture"
    ),
    counters!(
        "c2s_capture_gap_bytes",
        "s2c_capture_gap_bytes",
        capture_gap_bytes,
        "bytes",
        "in those holes"
    ),
    counters!("c2s_fins", "s2c_fins", fins, "segments", "FIN segments"),
    counters!("c2s_rsts", "s2c_rsts", rsts, "segments", "RST segments"),
    counters!(
        "c2s_zero_windows",
        "s2c_zero_windows",
        zero_windows,
        "segments",
        "advertising a zero window"
    ),
    counters!(
        "c2s_keepalives",
        "s2c_keepalives",
        keepalives,
        "segments",
        "TCP keep-alive probes"
    ),
];

/// The client-to-server counters, then the server-to-client ones.
const fn by_direction(d: usize) -> [Column<ConnRows>; 11] {
    let mut i = 0;
    let mut out = [COUNTERS[0][0]; 11];
    while i < 11 {
        out[i] = COUNTERS[i][d];
        i += 1;
    }
    out
}

const C2S_COUNTERS: [Column<ConnRows>; 11] = by_direction(0);
const S2C_COUNTERS: [Column<ConnRows>; 11] = by_direction(1);

const SHARED: [Column<ConnRows>; 5] = shared_columns!(ConnRows);

/// One row per TCP connection: what it carried, handshake and teardown instants, and the
/// segment counters of each direction.
pub static TCP_CONNECTIONS: Table<ConnRows> = Table {
    name: "tcp_connections",
    columns: &concat_columns(),
};

/// The identity, instants and counters, as one array.
const fn concat_columns() -> [Column<ConnRows>; 41] {
    let head: [Column<ConnRows>; 17] = [
        Column {
            name: "session_id",
            ty: Int64,
            unit: "",
            doc: "the session (empty: not a WebSocket session)",
            get: |r| Value::opt(r.is_session.then(|| Value::count(r.id))),
        },
        SHARED[0],
        SHARED[1],
        SHARED[2],
        SHARED[3],
        Column {
            name: "protocol",
            ty: Text,
            unit: "",
            doc: "`tls`, `websocket`, `http` (a request without upgrade), `none` (no payload) \
                  or `other`",
            get: |r| Value::text(r.protocol().as_str()),
        },
        Column {
            name: "start_ts",
            ty: Timestamp,
            unit: "",
            doc: "first packet",
            get: |r| Value::from(r.start_ts),
        },
        Column {
            name: "end_ts",
            ty: Timestamp,
            unit: "",
            doc: "last packet",
            get: |r| Value::from(r.end_ts),
        },
        Column {
            name: "tcp_closed_by",
            ty: Text,
            unit: "",
            doc: "who sent the first FIN or RST: `client` or `server` (empty: neither)",
            get: |r| Value::opt(r.first_tcp_close().map(|e| e.direction.sender().as_str())),
        },
        Column {
            name: "tcp_close",
            ty: Text,
            unit: "",
            doc: "`fin` or `rst`: the first of them, either way",
            get: |r| {
                Value::opt(r.first_tcp_close().map(|e| match e.kind {
                    EventKind::Rst => "rst",
                    _ => "fin",
                }))
            },
        },
        first!("syn_ts", None, EventKind::Syn { .. }, "first SYN"),
        Column {
            name: "syn_attempts",
            ty: Int64,
            unit: "segments",
            doc: "SYNs with the first sequence number",
            get: |s| {
                Value::opt(s.timeline.iter().find_map(|e| match e.kind {
                    EventKind::Syn { attempts } => Some(Value::count(attempts.into())),
                    _ => None,
                }))
            },
        },
        first!("synack_ts", None, EventKind::SynAck, "first SYN-ACK"),
        first!(
            "c2s_first_fin_ts",
            C2S,
            EventKind::Fin { .. },
            "first FIN client to server"
        ),
        first!(
            "c2s_first_rst_ts",
            C2S,
            EventKind::Rst,
            "first RST client to server"
        ),
        first!(
            "s2c_first_fin_ts",
            S2C,
            EventKind::Fin { .. },
            "first FIN server to client"
        ),
        first!(
            "s2c_first_rst_ts",
            S2C,
            EventKind::Rst,
            "first RST server to client"
        ),
    ];
    let tail: [Column<ConnRows>; 2] = [
        SHARED[4],
        Column {
            name: "open_until_ts",
            ty: Timestamp,
            unit: "",
            doc: "end of its open interval (teardown start, else last packet): the \
                  concurrency counts it until here",
            get: |s| Value::from(s.closed_at()),
        },
    ];
    let mut out = [SHARED[0]; 41];
    let mut i = 0;
    while i < head.len() {
        out[i] = head[i];
        i += 1;
    }
    let mut j = 0;
    while j < tail.len() {
        out[i + j] = tail[j];
        j += 1;
    }
    let mut k = 0;
    while k < 11 {
        out[i + j + k] = C2S_COUNTERS[k];
        out[i + j + 11 + k] = S2C_COUNTERS[k];
        k += 1;
    }
    out
}
