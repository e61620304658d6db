//! The media tables: `rtp_streams` and `stun_transactions` (the export) and `media`
//! (`teardown media`, both kinds in one table).

use super::{Column, ColumnType::*, Rows, Table, Value};
use crate::analysis::Analysis;
use crate::flow::{MediaFlow, StunStats};
use crate::media::RtpStream;
use crate::session::JoinRule;
use std::net::SocketAddr;

/// The session a flow was joined to: its id and join rule (`None`: an orphan flow).
pub type SessionRef = Option<(u64, Option<JoinRule>)>;

/// A media flow with the session it belongs to.
#[derive(Copy, Clone)]
pub struct FlowRow<'a> {
    /// Its session.
    pub session: SessionRef,
    /// The flow.
    pub flow: &'a MediaFlow,
}

/// One RTP stream of a flow.
#[derive(Copy, Clone)]
pub struct RtpRow<'a> {
    /// Its flow and session.
    pub flow: FlowRow<'a>,
    /// Sent by the flow's first sender (`a`).
    pub from_a: bool,
    /// The stream.
    pub stream: &'a RtpStream,
}

impl RtpRow<'_> {
    /// Sender and receiver.
    pub fn ends(&self) -> (SocketAddr, SocketAddr) {
        let f = self.flow.flow;
        if self.from_a {
            (f.a, f.b)
        } else {
            (f.b, f.a)
        }
    }
}

/// A row of `teardown media`: a flow's STUN counters, or one of its RTP streams.
#[derive(Copy, Clone)]
pub enum MediaRow<'a> {
    /// The STUN/TURN counters of a flow that carried STUN.
    Stun(FlowRow<'a>),
    /// An RTP stream.
    Rtp(RtpRow<'a>),
}

/// Every media flow with the session it belongs to, in time order.
pub fn media_flows(a: &Analysis) -> Vec<FlowRow<'_>> {
    let mut all: Vec<_> = a
        .sessions
        .iter()
        .flat_map(|s| {
            s.media.iter().map(move |flow| FlowRow {
                session: Some((s.id, s.join_rule)),
                flow,
            })
        })
        .chain(a.orphan_media.iter().map(|flow| FlowRow {
            session: None,
            flow,
        }))
        .collect();
    all.sort_by_key(|r| (r.flow.first_ts, r.flow.a, r.flow.b));
    all
}

/// The flows that carried STUN.
pub fn stun_rows<'a>(flows: &[FlowRow<'a>]) -> Vec<FlowRow<'a>> {
    flows
        .iter()
        .filter(|r| r.flow.stun.seen())
        .copied()
        .collect()
}

/// Every RTP stream of the flows.
pub fn rtp_rows<'a>(flows: &[FlowRow<'a>]) -> Vec<RtpRow<'a>> {
    flows
        .iter()
        .flat_map(|&flow| {
            flow.flow.rtp.iter().map(move |(from_a, stream)| RtpRow {
                flow,
                from_a: *from_a,
                stream,
            })
        })
        .collect()
}

/// The rows of `teardown media`: per flow, its STUN row, then its RTP streams.
pub fn media_rows<'a>(flows: &[FlowRow<'a>]) -> Vec<MediaRow<'a>> {
    flows
        .iter()
        .flat_map(|&f| {
            let stun = f.flow.stun.seen().then_some(MediaRow::Stun(f));
            stun.into_iter()
                .chain(rtp_rows(&[f]).into_iter().map(MediaRow::Rtp))
        })
        .collect()
}

/// STUN error responses as `code:count` pairs.
fn error_codes(st: &StunStats) -> Option<String> {
    (!st.errors.is_empty()).then(|| {
        st.errors
            .iter()
            .map(|(code, k)| format!("{code}:{k}"))
            .collect::<Vec<_>>()
            .join(" ")
    })
}

/// STUN usernames seen, space-separated.
fn usernames(st: &StunStats) -> Option<String> {
    (!st.usernames.is_empty()).then(|| {
        st.usernames
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join(" ")
    })
}

/// The rows of the RTP table.
pub struct RtpRows;

impl Rows for RtpRows {
    type Row<'a> = RtpRow<'a>;
}

/// The rows of the STUN table.
pub struct FlowRows;

impl Rows for FlowRows {
    type Row<'a> = FlowRow<'a>;
}

/// The rows of the media table.
pub struct MediaRows;

impl Rows for MediaRows {
    type Row<'a> = MediaRow<'a>;
}

/// The `session_id` and `join_rule` columns, reading the row's session with `$session`.
macro_rules! session_columns {
    ($rows:ty, $session:expr) => {
        [
            Column::<$rows> {
                name: "session_id",
                ty: Int64,
                unit: "",
                doc: "session it was joined to (empty: orphan)",
                get: |r| Value::opt($session(r).map(|s| Value::count(s.0))),
            },
            Column::<$rows> {
                name: "join_rule",
                ty: Text,
                unit: "",
                doc: "how it was joined (README, \"Media\")",
                get: |r| Value::opt($session(r).and_then(|s| s.1).map(|j| j.as_str())),
            },
        ]
    };
}

/// The sender and receiver columns of rows with `ends()`; `$sender` says who the sender is.
macro_rules! end_columns {
    ($rows:ty, $sender:literal) => {
        [
            Column::<$rows> {
                name: "src_ip",
                ty: Text,
                unit: "",
                doc: $sender,
                get: |r| Value::from(r.ends().0.ip().to_string()),
            },
            Column::<$rows> {
                name: "src_port",
                ty: Int32,
                unit: "",
                doc: "sender port",
                get: |r| Value::from(r.ends().0.port()),
            },
            Column::<$rows> {
                name: "dst_ip",
                ty: Text,
                unit: "",
                doc: "receiver",
                get: |r| Value::from(r.ends().1.ip().to_string()),
            },
            Column::<$rows> {
                name: "dst_port",
                ty: Int32,
                unit: "",
                doc: "receiver port",
                get: |r| Value::from(r.ends().1.port()),
            },
        ]
    };
}

const RTP_ENDS: [Column<RtpRows>; 4] = end_columns!(RtpRows, "sender");
const RTP_SESSION: [Column<RtpRows>; 2] = session_columns!(RtpRows, |r: &RtpRow| r.flow.session);
const STUN_SESSION: [Column<FlowRows>; 2] = session_columns!(FlowRows, |r: &FlowRow| r.session);

/// One row per RTP stream (as `teardown media`, kind `rtp`).
pub static RTP_STREAMS: Table<RtpRows> = Table {
    name: "rtp_streams",
    columns: &[
        RTP_SESSION[0],
        RTP_SESSION[1],
        RTP_ENDS[0],
        RTP_ENDS[1],
        RTP_ENDS[2],
        RTP_ENDS[3],
        Column {
            name: "ssrc",
            ty: Int64,
            unit: "",
            doc: "synchronisation source",
            get: |r| Value::from(r.stream.ssrc),
        },
        Column {
            name: "payload_type",
            ty: Int32,
            unit: "",
            doc: "of the first packet",
            get: |r| Value::from(r.stream.payload_type),
        },
        Column {
            name: "clock_rate_hz",
            ty: Int64,
            unit: "Hz",
            doc: "used for jitter (empty: unknown)",
            get: |r| Value::opt(r.stream.clock_rate),
        },
        Column {
            name: "first_ts",
            ty: Timestamp,
            unit: "",
            doc: "first packet",
            get: |r| Value::from(r.stream.first_ts),
        },
        Column {
            name: "last_ts",
            ty: Timestamp,
            unit: "",
            doc: "last packet",
            get: |r| Value::from(r.stream.last_ts),
        },
        Column {
            name: "packets",
            ty: Int64,
            unit: "packets",
            doc: "received",
            get: |r| Value::count(r.stream.packets),
        },
        Column {
            name: "payload_bytes",
            ty: Int64,
            unit: "bytes",
            doc: "RTP payload received",
            get: |r| Value::count(r.stream.payload_bytes),
        },
        Column {
            name: "expected",
            ty: Int64,
            unit: "packets",
            doc: "RFC 3550 A.3",
            get: |r| Value::count(r.stream.expected),
        },
        Column {
            name: "lost",
            ty: Int64,
            unit: "packets",
            doc: "RFC 3550 A.3 (negative with duplicates)",
            get: |r| Value::Int(r.stream.lost),
        },
        Column {
            name: "duplicates",
            ty: Int64,
            unit: "packets",
            doc: "sequence numbers seen before",
            get: |r| Value::count(r.stream.duplicates),
        },
        Column {
            name: "out_of_order",
            ty: Int64,
            unit: "packets",
            doc: "arrived after a later sequence number",
            get: |r| Value::count(r.stream.out_of_order),
        },
        Column {
            name: "seq_jumps",
            ty: Int64,
            unit: "jumps",
            doc: "sequence jumps too large to be loss (a new sender state)",
            get: |r| Value::count(r.stream.seq_jumps),
        },
        Column {
            name: "jitter_ms",
            ty: Float64,
            unit: "ms",
            doc: "RFC 3550 A.8 interarrival jitter at the end",
            get: |r| Value::opt(r.stream.jitter_ms),
        },
        Column {
            name: "max_jitter_ms",
            ty: Float64,
            unit: "ms",
            doc: "largest jitter",
            get: |r| Value::opt(r.stream.max_jitter_ms),
        },
        Column {
            name: "mean_jitter_ms",
            ty: Float64,
            unit: "ms",
            doc: "mean jitter",
            get: |r| Value::opt(r.stream.mean_jitter_ms),
        },
        Column {
            name: "max_delta_ms",
            ty: Float64,
            unit: "ms",
            doc: "largest gap between packets (Wireshark's rule: marker packets left out)",
            get: |r| Value::from(r.stream.max_delta_ms),
        },
        Column {
            name: "relayed",
            ty: Bool,
            unit: "",
            doc: "carried through TURN",
            get: |r| Value::from(r.stream.relayed),
        },
    ],
};

/// STUN/TURN counters per UDP flow that carried STUN (as `teardown media`, kind `stun`).
pub static STUN_TRANSACTIONS: Table<FlowRows> = Table {
    name: "stun_transactions",
    columns: &[
        STUN_SESSION[0],
        STUN_SESSION[1],
        Column {
            name: "a_ip",
            ty: Text,
            unit: "",
            doc: "first sender",
            get: |r| Value::from(r.flow.a.ip().to_string()),
        },
        Column {
            name: "a_port",
            ty: Int32,
            unit: "",
            doc: "first sender's port",
            get: |r| Value::from(r.flow.a.port()),
        },
        Column {
            name: "b_ip",
            ty: Text,
            unit: "",
            doc: "the other end",
            get: |r| Value::from(r.flow.b.ip().to_string()),
        },
        Column {
            name: "b_port",
            ty: Int32,
            unit: "",
            doc: "the other end's port",
            get: |r| Value::from(r.flow.b.port()),
        },
        Column {
            name: "first_ts",
            ty: Timestamp,
            unit: "",
            doc: "first datagram",
            get: |r| Value::from(r.flow.first_ts),
        },
        Column {
            name: "last_ts",
            ty: Timestamp,
            unit: "",
            doc: "last datagram",
            get: |r| Value::from(r.flow.last_ts),
        },
        Column {
            name: "messages",
            ty: Int64,
            unit: "messages",
            doc: "STUN messages on the wire",
            get: |r| Value::count(r.flow.stun.messages()),
        },
        Column {
            name: "relayed_messages",
            ty: Int64,
            unit: "messages",
            doc: "STUN messages inside TURN",
            get: |r| Value::count(r.flow.stun.relayed_messages()),
        },
        Column {
            name: "requests",
            ty: Int64,
            unit: "requests",
            doc: "first transmissions",
            get: |r| Value::count(r.flow.stun.requests),
        },
        Column {
            name: "retransmissions",
            ty: Int64,
            unit: "requests",
            doc: "sent again",
            get: |r| Value::count(r.flow.stun.retransmissions),
        },
        Column {
            name: "successes",
            ty: Int64,
            unit: "responses",
            doc: "success responses",
            get: |r| Value::count(r.flow.stun.successes),
        },
        Column {
            name: "error_responses",
            ty: Int64,
            unit: "responses",
            doc: "error responses",
            get: |r| Value::count(r.flow.stun.errors.values().sum()),
        },
        Column {
            name: "error_codes",
            ty: Text,
            unit: "",
            doc: "`code:count` pairs, e.g. `401:1 438:1`",
            get: |r| Value::opt(error_codes(&r.flow.stun)),
        },
        Column {
            name: "unanswered",
            ty: Int64,
            unit: "requests",
            doc: "never answered",
            get: |r| Value::count(r.flow.stun.unanswered),
        },
        Column {
            name: "rtt_count",
            ty: Int64,
            unit: "requests",
            doc: "answered with a success (round trips measured)",
            get: |r| Value::count(r.flow.stun.rtt_count),
        },
        Column {
            name: "rtt_mean_ms",
            ty: Float64,
            unit: "ms",
            doc: "mean request to success response",
            get: |r| Value::opt(r.flow.stun.rtt_mean_ms()),
        },
        Column {
            name: "rtt_max_ms",
            ty: Float64,
            unit: "ms",
            doc: "largest request to success response",
            get: |r| Value::opt(r.flow.stun.rtt_max()),
        },
        Column {
            name: "relayed_address",
            ty: Text,
            unit: "",
            doc: "TURN relayed address granted",
            get: |r| Value::opt(r.flow.stun.relayed_address.map(|a| a.to_string())),
        },
        Column {
            name: "usernames",
            ty: Text,
            unit: "",
            doc: "ICE `remote:local` ufrag pairs and TURN usernames seen",
            get: |r| Value::opt(usernames(&r.flow.stun)),
        },
    ],
};

/// Reads a cell of an RTP row (empty on a STUN row).
macro_rules! rtp {
    (|$r:ident| $e:expr) => {
        |row| match row {
            MediaRow::Rtp($r) => Value::from($e),
            MediaRow::Stun(_) => Value::Null,
        }
    };
}

/// Reads a cell of a STUN row (empty on an RTP row).
macro_rules! stun {
    (|$f:ident| $e:expr) => {
        |row| match row {
            MediaRow::Stun(FlowRow { flow: $f, .. }) => Value::from($e),
            MediaRow::Rtp(_) => Value::Null,
        }
    };
}

impl<'a> MediaRow<'a> {
    /// The flow and session of the row.
    pub fn flow(&self) -> FlowRow<'a> {
        match self {
            MediaRow::Stun(f) => *f,
            MediaRow::Rtp(r) => r.flow,
        }
    }

    /// Sender and receiver: the stream's, or the flow's first sender and the other end.
    fn ends(&self) -> (SocketAddr, SocketAddr) {
        match self {
            MediaRow::Stun(f) => (f.flow.a, f.flow.b),
            MediaRow::Rtp(r) => r.ends(),
        }
    }
}

const MEDIA_SESSION: [Column<MediaRows>; 2] =
    session_columns!(MediaRows, |r: &MediaRow| r.flow().session);

const MEDIA_ENDS: [Column<MediaRows>; 4] =
    end_columns!(MediaRows, "sender (RTP), or the flow's first sender (STUN)");

/// `teardown media`: one row per STUN/TURN flow and per RTP stream, joined or orphan.
pub static MEDIA: Table<MediaRows> = Table {
    name: "media",
    columns: &[
        Column {
            name: "kind",
            ty: Text,
            unit: "",
            doc: "`rtp` or `stun`",
            get: |r| {
                Value::text(match r {
                    MediaRow::Stun(_) => "stun",
                    MediaRow::Rtp(_) => "rtp",
                })
            },
        },
        MEDIA_SESSION[0],
        MEDIA_SESSION[1],
        MEDIA_ENDS[0],
        MEDIA_ENDS[1],
        MEDIA_ENDS[2],
        MEDIA_ENDS[3],
        Column {
            name: "first_ts",
            ty: Timestamp,
            unit: "",
            doc: "first packet",
            get: |r| match r {
                MediaRow::Stun(f) => Value::from(f.flow.first_ts),
                MediaRow::Rtp(s) => Value::from(s.stream.first_ts),
            },
        },
        Column {
            name: "last_ts",
            ty: Timestamp,
            unit: "",
            doc: "last packet",
            get: |r| match r {
                MediaRow::Stun(f) => Value::from(f.flow.last_ts),
                MediaRow::Rtp(s) => Value::from(s.stream.last_ts),
            },
        },
        Column {
            name: "ssrc",
            ty: Int64,
            unit: "",
            doc: "RTP synchronisation source",
            get: rtp!(|s| s.stream.ssrc),
        },
        Column {
            name: "payload_type",
            ty: Int32,
            unit: "",
            doc: "RTP payload type of the first packet",
            get: rtp!(|s| s.stream.payload_type),
        },
        Column {
            name: "clock_rate",
            ty: Int64,
            unit: "Hz",
            doc: "RTP clock rate used for jitter",
            get: rtp!(|s| Value::opt(s.stream.clock_rate)),
        },
        Column {
            name: "packets",
            ty: Int64,
            unit: "packets",
            doc: "RTP packets, or STUN messages",
            get: |r| {
                Value::count(match r {
                    MediaRow::Stun(f) => f.flow.stun.messages(),
                    MediaRow::Rtp(s) => s.stream.packets,
                })
            },
        },
        Column {
            name: "lost",
            ty: Int64,
            unit: "packets",
            doc: "RTP packets lost (RFC 3550 A.3)",
            get: rtp!(|s| Value::Int(s.stream.lost)),
        },
        Column {
            name: "expected",
            ty: Int64,
            unit: "packets",
            doc: "RTP packets expected",
            get: rtp!(|s| Value::count(s.stream.expected)),
        },
        Column {
            name: "duplicates",
            ty: Int64,
            unit: "packets",
            doc: "RTP duplicates",
            get: rtp!(|s| Value::count(s.stream.duplicates)),
        },
        Column {
            name: "out_of_order",
            ty: Int64,
            unit: "packets",
            doc: "RTP packets out of order",
            get: rtp!(|s| Value::count(s.stream.out_of_order)),
        },
        Column {
            name: "max_delta_ms",
            ty: Float64,
            unit: "ms",
            doc: "largest gap between packets (Wireshark's rule: marker packets left out)",
            get: rtp!(|s| s.stream.max_delta_ms),
        },
        Column {
            name: "max_gap_ms",
            ty: Float64,
            unit: "ms",
            doc: "largest gap between packets, every packet counted",
            get: rtp!(|s| s.stream.max_gap_ms),
        },
        Column {
            name: "jitter_ms",
            ty: Float64,
            unit: "ms",
            doc: "jitter at the end",
            get: rtp!(|s| Value::opt(s.stream.jitter_ms)),
        },
        Column {
            name: "max_jitter_ms",
            ty: Float64,
            unit: "ms",
            doc: "largest jitter",
            get: rtp!(|s| Value::opt(s.stream.max_jitter_ms)),
        },
        Column {
            name: "mean_jitter_ms",
            ty: Float64,
            unit: "ms",
            doc: "mean jitter",
            get: rtp!(|s| Value::opt(s.stream.mean_jitter_ms)),
        },
        Column {
            name: "relayed",
            ty: Bool,
            unit: "",
            doc: "carried through TURN",
            get: |r| Value::from(matches!(r, MediaRow::Rtp(s) if s.stream.relayed)),
        },
        Column {
            name: "stun_requests",
            ty: Int64,
            unit: "requests",
            doc: "STUN requests",
            get: stun!(|f| Value::count(f.stun.requests)),
        },
        Column {
            name: "stun_successes",
            ty: Int64,
            unit: "responses",
            doc: "STUN success responses",
            get: stun!(|f| Value::count(f.stun.successes)),
        },
        Column {
            name: "stun_errors",
            ty: Text,
            unit: "",
            doc: "STUN error responses as `code:count` pairs",
            get: stun!(|f| Value::opt(error_codes(&f.stun))),
        },
        Column {
            name: "stun_unanswered",
            ty: Int64,
            unit: "requests",
            doc: "STUN requests never answered",
            get: stun!(|f| Value::count(f.stun.unanswered)),
        },
        Column {
            name: "stun_retransmissions",
            ty: Int64,
            unit: "requests",
            doc: "STUN requests retransmitted",
            get: stun!(|f| Value::count(f.stun.retransmissions)),
        },
        Column {
            name: "stun_rtt_mean_ms",
            ty: Float64,
            unit: "ms",
            doc: "mean STUN round trip",
            get: stun!(|f| Value::opt(f.stun.rtt_mean_ms())),
        },
        Column {
            name: "stun_rtt_max_ms",
            ty: Float64,
            unit: "ms",
            doc: "largest STUN round trip",
            get: stun!(|f| Value::opt(f.stun.rtt_max())),
        },
        Column {
            name: "stun_usernames",
            ty: Text,
            unit: "",
            doc: "STUN usernames seen",
            get: stun!(|f| Value::opt(usernames(&f.stun))),
        },
        Column {
            name: "dtls_handshake_done",
            ty: Timestamp,
            unit: "",
            doc: "DTLS handshake finished at",
            get: stun!(|f| Value::opt(f.dtls.handshake_done)),
        },
        Column {
            name: "dtls_alerts",
            ty: Int64,
            unit: "alerts",
            doc: "DTLS alerts",
            get: stun!(|f| Value::opt(
                (f.dtls.records > 0).then(|| Value::count(f.dtls.alerts.len() as u64))
            )),
        },
    ],
};
