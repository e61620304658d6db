//! The exported tables as polars data frames. The README's "Report and export" section
//! documents every column; keep the two in step.

use crate::analysis::Analysis;
use crate::columns::{ColumnType, Table, Value as Cell, SESSIONS};
use crate::flow::MediaFlow;
use crate::loadrun::LoadRun;
use crate::output::{media_flows, SessionRef};
use crate::session::{DirectionStats, Event, EventKind, Session};
use crate::time::Timestamp;
use polars::prelude::*;
use serde_json::Value;

/// Every table, in the order they are written.
pub const TABLES: [&str; 7] = [
    "sessions",
    "events",
    "tcp_connections",
    "ws_frames",
    "rtp_streams",
    "stun_transactions",
    "concurrency",
];

/// Columns of one table, built one column at a time.
#[derive(Default)]
struct Cols(Vec<Column>);

impl Cols {
    fn i64(&mut self, name: &str, v: impl Iterator<Item = i64>) {
        self.0
            .push(Column::new(name.into(), v.collect::<Vec<i64>>()));
    }
    fn opt_i64(&mut self, name: &str, v: impl Iterator<Item = Option<i64>>) {
        self.0
            .push(Column::new(name.into(), v.collect::<Vec<Option<i64>>>()));
    }
    fn i32(&mut self, name: &str, v: impl Iterator<Item = i32>) {
        self.0
            .push(Column::new(name.into(), v.collect::<Vec<i32>>()));
    }
    fn opt_i32(&mut self, name: &str, v: impl Iterator<Item = Option<i32>>) {
        self.0
            .push(Column::new(name.into(), v.collect::<Vec<Option<i32>>>()));
    }
    fn f64(&mut self, name: &str, v: impl Iterator<Item = f64>) {
        self.0
            .push(Column::new(name.into(), v.collect::<Vec<f64>>()));
    }
    fn opt_f64(&mut self, name: &str, v: impl Iterator<Item = Option<f64>>) {
        self.0
            .push(Column::new(name.into(), v.collect::<Vec<Option<f64>>>()));
    }
    fn str(&mut self, name: &str, v: impl Iterator<Item = String>) {
        self.0
            .push(Column::new(name.into(), v.collect::<Vec<String>>()));
    }
    fn opt_str(&mut self, name: &str, v: impl Iterator<Item = Option<String>>) {
        self.0
            .push(Column::new(name.into(), v.collect::<Vec<Option<String>>>()));
    }
    fn bool(&mut self, name: &str, v: impl Iterator<Item = bool>) {
        self.0
            .push(Column::new(name.into(), v.collect::<Vec<bool>>()));
    }
    /// A UTC timestamp column with nanoseconds.
    fn ts(&mut self, name: &str, v: impl Iterator<Item = Option<Timestamp>>) {
        let ca: Int64Chunked = v.map(|t| t.map(|t| t.0)).collect();
        let col = ca
            .with_name(name.into())
            .into_datetime(TimeUnit::Nanoseconds, Some(TimeZone::UTC))
            .into_column();
        self.0.push(col);
    }
    fn finish(self) -> PolarsResult<DataFrame> {
        DataFrame::new_infer_height(self.0)
    }
}

fn n(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// A registry table as a data frame: one polars column per registry column, typed by
/// its [`ColumnType`].
pub fn frame<R>(table: &Table<R>, rows: &[R]) -> PolarsResult<DataFrame> {
    let columns = table.columns.iter().map(|c| {
        let cells = rows.iter().map(|r| (c.get)(r));
        let name = c.name.into();
        match c.ty {
            ColumnType::Int32 => {
                let v: Vec<Option<i32>> = cells
                    .map(|v| int(v).and_then(|i| i32::try_from(i).ok()))
                    .collect();
                Column::new(name, v)
            }
            ColumnType::Int64 => Column::new(name, cells.map(int).collect::<Vec<_>>()),
            ColumnType::Float64 => {
                let v: Vec<Option<f64>> = cells
                    .map(|v| match v {
                        Cell::Float(f) => Some(f),
                        _ => None,
                    })
                    .collect();
                Column::new(name, v)
            }
            ColumnType::Bool => {
                let v: Vec<Option<bool>> = cells
                    .map(|v| match v {
                        Cell::Bool(b) => Some(b),
                        _ => None,
                    })
                    .collect();
                Column::new(name, v)
            }
            ColumnType::Text => {
                let v: Vec<Option<String>> = cells
                    .map(|v| match v {
                        Cell::Text(t) => Some(t.into_owned()),
                        _ => None,
                    })
                    .collect();
                Column::new(name, v)
            }
            ColumnType::Timestamp => cells
                .map(|v| match v {
                    Cell::Ts(t) => Some(t.0),
                    _ => None,
                })
                .collect::<Int64Chunked>()
                .with_name(name)
                .into_datetime(TimeUnit::Nanoseconds, Some(TimeZone::UTC))
                .into_column(),
        }
    });
    DataFrame::new_infer_height(columns.collect())
}

fn int(v: Cell<'_>) -> Option<i64> {
    match v {
        Cell::Int(i) => Some(i),
        _ => None,
    }
}

/// The typed fields of an event, read from its serde form (the JSON of `teardown
/// timeline --format json`), so that every kind of event exports without a list here.
struct EventFields {
    event: String,
    media_event: Option<String>,
    http_status: Option<i32>,
    close_code: Option<i32>,
    close_reason: Option<String>,
    rtt_ms: Option<f64>,
    bytes: Option<i64>,
}

fn fields(kind: &EventKind) -> EventFields {
    let v = serde_json::to_value(kind).unwrap_or(Value::Null);
    let text = |k: &str| v.get(k).and_then(Value::as_str).map(String::from);
    let int = |k: &str| v.get(k).and_then(Value::as_i64);
    let event = text("event").unwrap_or_default();
    let close = matches!(kind, EventKind::Close { .. });
    EventFields {
        media_event: text("media_event"),
        http_status: if matches!(kind, EventKind::HandshakeResponse { .. }) {
            int("status").and_then(|s| i32::try_from(s).ok())
        } else {
            None
        },
        close_code: if close {
            int("code").and_then(|s| i32::try_from(s).ok())
        } else {
            None
        },
        close_reason: if close { text("reason") } else { None },
        rtt_ms: v.get("rtt_ms").and_then(Value::as_f64),
        bytes: int("payload_len")
            .or(int("bytes"))
            .or(int("skipped"))
            .or(int("record_len")),
        event,
    }
}

fn event_rows<'a>(
    a: &'a Analysis,
    keep: impl Fn(&EventKind) -> bool + 'a,
) -> Vec<(&'a Session, usize, &'a Event, EventFields)> {
    a.sessions
        .iter()
        .flat_map(|s| s.timeline.iter().enumerate().map(move |(i, e)| (s, i, e)))
        .filter(|(_, _, e)| keep(&e.kind))
        .map(|(s, i, e)| (s, i, e, fields(&e.kind)))
        .collect()
}

fn events(a: &Analysis) -> PolarsResult<DataFrame> {
    let rows = event_rows(a, |_| true);
    let mut c = Cols::default();
    c.i64("session_id", rows.iter().map(|r| n(r.0.id)));
    c.i32("event_index", rows.iter().map(|r| r.1 as i32));
    c.ts("ts", rows.iter().map(|r| Some(r.2.ts)));
    c.f64(
        "offset_ms",
        rows.iter().map(|r| r.2.ts.millis_since(r.0.start_ts)),
    );
    c.str("direction", rows.iter().map(|r| direction(r.2)));
    c.str("event", rows.iter().map(|r| r.3.event.clone()));
    c.opt_str("media_event", rows.iter().map(|r| r.3.media_event.clone()));
    c.str("detail", rows.iter().map(|r| r.2.kind.to_string()));
    c.bool("teardown_start", rows.iter().map(|r| r.2.teardown_start));
    c.opt_i32("http_status", rows.iter().map(|r| r.3.http_status));
    c.opt_i32("close_code", rows.iter().map(|r| r.3.close_code));
    c.opt_str(
        "close_reason",
        rows.iter().map(|r| r.3.close_reason.clone()),
    );
    c.opt_f64("rtt_ms", rows.iter().map(|r| r.3.rtt_ms));
    c.opt_i64("bytes", rows.iter().map(|r| r.3.bytes));
    c.finish()
}

fn direction(e: &Event) -> String {
    serde_json::to_value(e.direction)
        .ok()
        .and_then(|v| v.as_str().map(String::from))
        .unwrap_or_default()
}

fn ws_frames(a: &Analysis) -> PolarsResult<DataFrame> {
    let rows = event_rows(a, |k| {
        matches!(
            k,
            EventKind::FirstMessage
                | EventKind::LastMessage
                | EventKind::Ping { .. }
                | EventKind::Pong { .. }
                | EventKind::Close { .. }
        )
    });
    let mut c = Cols::default();
    c.i64("session_id", rows.iter().map(|r| n(r.0.id)));
    c.ts("ts", rows.iter().map(|r| Some(r.2.ts)));
    c.f64(
        "offset_ms",
        rows.iter().map(|r| r.2.ts.millis_since(r.0.start_ts)),
    );
    c.str("direction", rows.iter().map(|r| direction(r.2)));
    c.str("frame", rows.iter().map(|r| r.3.event.clone()));
    c.opt_i64(
        "payload_bytes",
        rows.iter().map(|r| {
            matches!(r.2.kind, EventKind::Ping { .. })
                .then_some(r.3.bytes)
                .flatten()
        }),
    );
    c.opt_i32("close_code", rows.iter().map(|r| r.3.close_code));
    c.opt_str(
        "close_reason",
        rows.iter().map(|r| r.3.close_reason.clone()),
    );
    c.opt_f64("rtt_ms", rows.iter().map(|r| r.3.rtt_ms));
    c.bool("teardown_start", rows.iter().map(|r| r.2.teardown_start));
    c.finish()
}

fn first_event(s: &Session, dir: &str, pred: impl Fn(&EventKind) -> bool) -> Option<Timestamp> {
    s.timeline
        .iter()
        .find(|e| pred(&e.kind) && (dir.is_empty() || direction(e) == dir))
        .map(|e| e.ts)
}

fn tcp_connections(a: &Analysis) -> PolarsResult<DataFrame> {
    let s = &a.sessions;
    let mut c = Cols::default();
    c.i64("session_id", s.iter().map(|s| n(s.id)));
    c.str("client_ip", s.iter().map(|s| s.client.ip().to_string()));
    c.i32("client_port", s.iter().map(|s| s.client.port().into()));
    c.str("server_ip", s.iter().map(|s| s.server.ip().to_string()));
    c.i32("server_port", s.iter().map(|s| s.server.port().into()));
    c.ts(
        "syn_ts",
        s.iter()
            .map(|s| first_event(s, "", |k| matches!(k, EventKind::Syn { .. }))),
    );
    c.opt_i64(
        "syn_attempts",
        s.iter().map(|s| {
            s.timeline.iter().find_map(|e| match e.kind {
                EventKind::Syn { attempts } => Some(i64::from(attempts)),
                _ => None,
            })
        }),
    );
    c.ts(
        "synack_ts",
        s.iter()
            .map(|s| first_event(s, "", |k| matches!(k, EventKind::SynAck))),
    );
    for dir in ["c2s", "s2c"] {
        c.ts(
            &format!("{dir}_first_fin_ts"),
            s.iter()
                .map(|s| first_event(s, dir, |k| matches!(k, EventKind::Fin { .. }))),
        );
        c.ts(
            &format!("{dir}_first_rst_ts"),
            s.iter()
                .map(|s| first_event(s, dir, |k| matches!(k, EventKind::Rst))),
        );
    }
    c.ts("teardown_start_ts", s.iter().map(|s| s.teardown_start_ts));
    c.ts("open_until_ts", s.iter().map(|s| Some(s.closed_at())));
    let counters: [(&str, Counter); 11] = [
        ("packets", |d| d.packets),
        ("payload_bytes", |d| d.payload_bytes),
        ("retransmitted", |d| d.retransmitted),
        ("out_of_order", |d| d.out_of_order),
        ("overlapping", |d| d.overlapping),
        ("capture_gaps", |d| d.capture_gaps),
        ("capture_gap_bytes", |d| d.capture_gap_bytes),
        ("fins", |d| d.fins),
        ("rsts", |d| d.rsts),
        ("zero_windows", |d| d.zero_windows),
        ("keepalives", |d| d.keepalives),
    ];
    for (dir, pick) in [
        (
            "c2s",
            (|s: &Session| &s.c2s) as fn(&Session) -> &DirectionStats,
        ),
        ("s2c", |s: &Session| &s.s2c),
    ] {
        for (name, get) in counters {
            c.i64(&format!("{dir}_{name}"), s.iter().map(|s| n(get(pick(s)))));
        }
    }
    c.finish()
}

/// Reads one counter of a direction.
type Counter = fn(&DirectionStats) -> u64;

type FlowRef<'a> = (SessionRef, &'a MediaFlow);

fn rtp_streams(flows: &[FlowRef<'_>]) -> PolarsResult<DataFrame> {
    let rows: Vec<_> = flows
        .iter()
        .flat_map(|(sess, f)| f.rtp.iter().map(move |(from_a, r)| (sess, f, *from_a, r)))
        .collect();
    let ends = |from_a: bool, f: &MediaFlow| if from_a { (f.a, f.b) } else { (f.b, f.a) };
    let mut c = Cols::default();
    c.opt_i64("session_id", rows.iter().map(|r| r.0.map(|s| n(s.0))));
    c.opt_str(
        "join_rule",
        rows.iter()
            .map(|r| r.0.and_then(|s| s.1).map(|j| j.as_str().to_string())),
    );
    c.str(
        "src_ip",
        rows.iter().map(|r| ends(r.2, r.1).0.ip().to_string()),
    );
    c.i32(
        "src_port",
        rows.iter().map(|r| ends(r.2, r.1).0.port().into()),
    );
    c.str(
        "dst_ip",
        rows.iter().map(|r| ends(r.2, r.1).1.ip().to_string()),
    );
    c.i32(
        "dst_port",
        rows.iter().map(|r| ends(r.2, r.1).1.port().into()),
    );
    c.i64("ssrc", rows.iter().map(|r| i64::from(r.3.ssrc)));
    c.i32(
        "payload_type",
        rows.iter().map(|r| i32::from(r.3.payload_type)),
    );
    c.opt_i64(
        "clock_rate_hz",
        rows.iter().map(|r| r.3.clock_rate.map(i64::from)),
    );
    c.ts("first_ts", rows.iter().map(|r| Some(r.3.first_ts)));
    c.ts("last_ts", rows.iter().map(|r| Some(r.3.last_ts)));
    c.i64("packets", rows.iter().map(|r| n(r.3.packets)));
    c.i64("payload_bytes", rows.iter().map(|r| n(r.3.payload_bytes)));
    c.i64("expected", rows.iter().map(|r| n(r.3.expected)));
    c.i64("lost", rows.iter().map(|r| r.3.lost));
    c.i64("duplicates", rows.iter().map(|r| n(r.3.duplicates)));
    c.i64("out_of_order", rows.iter().map(|r| n(r.3.out_of_order)));
    c.i64("seq_jumps", rows.iter().map(|r| n(r.3.seq_jumps)));
    c.opt_f64("jitter_ms", rows.iter().map(|r| r.3.jitter_ms));
    c.opt_f64("max_jitter_ms", rows.iter().map(|r| r.3.max_jitter_ms));
    c.opt_f64("mean_jitter_ms", rows.iter().map(|r| r.3.mean_jitter_ms));
    c.f64("max_delta_ms", rows.iter().map(|r| r.3.max_delta_ms));
    c.bool("relayed", rows.iter().map(|r| r.3.relayed));
    c.finish()
}

fn stun_transactions(flows: &[FlowRef<'_>]) -> PolarsResult<DataFrame> {
    let rows: Vec<&FlowRef<'_>> = flows
        .iter()
        .filter(|(_, f)| !f.stun.by_type.is_empty() || !f.stun.relayed_by_type.is_empty())
        .collect();
    let mut c = Cols::default();
    c.opt_i64("session_id", rows.iter().map(|r| r.0.map(|s| n(s.0))));
    c.opt_str(
        "join_rule",
        rows.iter()
            .map(|r| r.0.and_then(|s| s.1).map(|j| j.as_str().to_string())),
    );
    c.str("a_ip", rows.iter().map(|r| r.1.a.ip().to_string()));
    c.i32("a_port", rows.iter().map(|r| r.1.a.port().into()));
    c.str("b_ip", rows.iter().map(|r| r.1.b.ip().to_string()));
    c.i32("b_port", rows.iter().map(|r| r.1.b.port().into()));
    c.ts("first_ts", rows.iter().map(|r| Some(r.1.first_ts)));
    c.ts("last_ts", rows.iter().map(|r| Some(r.1.last_ts)));
    c.i64(
        "messages",
        rows.iter().map(|r| n(r.1.stun.by_type.values().sum())),
    );
    c.i64(
        "relayed_messages",
        rows.iter()
            .map(|r| n(r.1.stun.relayed_by_type.values().sum())),
    );
    c.i64("requests", rows.iter().map(|r| n(r.1.stun.requests)));
    c.i64(
        "retransmissions",
        rows.iter().map(|r| n(r.1.stun.retransmissions)),
    );
    c.i64("successes", rows.iter().map(|r| n(r.1.stun.successes)));
    c.i64(
        "error_responses",
        rows.iter().map(|r| n(r.1.stun.errors.values().sum())),
    );
    c.opt_str(
        "error_codes",
        rows.iter().map(|r| {
            (!r.1.stun.errors.is_empty()).then(|| {
                r.1.stun
                    .errors
                    .iter()
                    .map(|(code, k)| format!("{code}:{k}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            })
        }),
    );
    c.i64("unanswered", rows.iter().map(|r| n(r.1.stun.unanswered)));
    c.i64("rtt_count", rows.iter().map(|r| n(r.1.stun.rtt_count)));
    c.opt_f64("rtt_mean_ms", rows.iter().map(|r| r.1.stun.rtt_mean_ms()));
    c.opt_f64("rtt_max_ms", rows.iter().map(|r| r.1.stun.rtt_max()));
    c.opt_str(
        "relayed_address",
        rows.iter()
            .map(|r| r.1.stun.relayed_address.map(|a| a.to_string())),
    );
    c.opt_str(
        "usernames",
        rows.iter().map(|r| {
            (!r.1.stun.usernames.is_empty()).then(|| {
                r.1.stun
                    .usernames
                    .iter()
                    .map(String::as_str)
                    .collect::<Vec<_>>()
                    .join(" ")
            })
        }),
    );
    c.finish()
}

fn concurrency(run: &LoadRun) -> PolarsResult<DataFrame> {
    let s = &run.steps;
    let mut c = Cols::default();
    c.ts("ts", s.iter().map(|s| Some(s.ts)));
    c.i64("open_sessions", s.iter().map(|s| s.open as i64));
    c.i64("started", s.iter().map(|s| s.started as i64));
    c.i64("torn_down", s.iter().map(|s| s.ended as i64));
    c.i64(
        "abnormal_teardowns",
        s.iter().map(|s| s.ended_abnormal as i64),
    );
    c.finish()
}

/// The tables of an analysis, named, in [`TABLES`] order; `ws_frames` only when `frames`.
pub fn tables(
    a: &Analysis,
    run: &LoadRun,
    frames: bool,
) -> Vec<(&'static str, PolarsResult<DataFrame>)> {
    let flows = media_flows(a);
    let mut out = vec![
        ("sessions", frame(&SESSIONS, &a.sessions)),
        ("events", events(a)),
        ("tcp_connections", tcp_connections(a)),
    ];
    if frames {
        out.push(("ws_frames", ws_frames(a)));
    }
    out.push(("rtp_streams", rtp_streams(&flows)));
    out.push(("stun_transactions", stun_transactions(&flows)));
    out.push(("concurrency", concurrency(run)));
    out
}
