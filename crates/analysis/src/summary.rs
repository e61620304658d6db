//! The numbers of `teardown summary`: counts by verdict and by client-observed code, and
//! the first abnormal teardown with the concurrency at that moment.

use crate::analysis::Analysis;
use crate::session::{EventKind, Evidence, Session, Verdict};
use serde::Serialize;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use teardown_wire::diag::WarningKind;
use teardown_wire::time::Timestamp;

/// The first abnormal teardown of the run.
#[derive(Clone, Debug, Serialize)]
pub struct FirstAbnormal {
    /// When its teardown started.
    pub ts: Timestamp,
    /// Which session.
    pub session_id: u64,
    /// Its verdict.
    pub verdict: Verdict,
    /// Its client.
    pub client: SocketAddr,
    /// Its server.
    pub server: SocketAddr,
    /// Sessions open at that instant (itself included).
    pub open_sessions: usize,
    /// Sessions established on its server then ([`Session::established_at_teardown`]).
    pub established: Option<usize>,
    /// Sessions connecting to its server then ([`Session::connecting_at_teardown`]).
    pub connecting: Option<usize>,
}

/// The sessions one server dropped, by the sessions established on it when it did.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ServerDrops {
    /// The server.
    pub server: SocketAddr,
    /// Its drops ([`Session::server_dropped`]).
    pub drops: usize,
    /// Fewest sessions established on it at a drop: the threshold.
    pub established_min: usize,
    /// Most sessions established on it at a drop.
    pub established_max: usize,
    /// Drops by kind ([`drop_kind`]), most first.
    pub by_kind: Vec<(String, usize)>,
    /// Teardowns on it that started with fewer than `established_min` established (none
    /// of them a drop).
    pub teardowns_below: usize,
    /// Teardowns on it that started with `established_min` or more established.
    pub teardowns_from: usize,
}

/// What a drop was, naming its code: `close 1011`, `close 1013`, `HTTP 503`, else the
/// verdict (`server_rst_no_close`, ...).
pub fn drop_kind(s: &Session) -> String {
    match (s.verdict, s.close_code(), s.handshake_status()) {
        (Verdict::ServerCloseError, Some(code), _) => format!("close {code}"),
        (Verdict::HandshakeRejected, _, Some(status)) => format!("HTTP {status}"),
        (v, _, _) => v.as_str().to_string(),
    }
}

/// The drops of each server that dropped any, most drops first.
pub fn server_drops(sessions: &[Session]) -> Vec<ServerDrops> {
    // (established at teardown, dropped) of every teardown, per server.
    let mut by: BTreeMap<SocketAddr, Vec<(usize, &Session)>> = BTreeMap::new();
    for s in sessions {
        if let Some(n) = s.established_at_teardown {
            by.entry(s.server).or_default().push((n, s));
        }
    }
    let mut out: Vec<ServerDrops> = by
        .into_iter()
        .filter_map(|(server, teardowns)| {
            let dropped = teardowns.iter().filter(|(_, s)| s.server_dropped());
            let established_min = dropped.clone().map(|(n, _)| *n).min()?;
            let established_max = dropped.clone().map(|(n, _)| *n).max()?;
            let mut kinds: BTreeMap<String, usize> = BTreeMap::new();
            for (_, s) in dropped.clone() {
                *kinds.entry(drop_kind(s)).or_default() += 1;
            }
            let mut by_kind: Vec<(String, usize)> = kinds.into_iter().collect();
            by_kind.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
            let below = teardowns
                .iter()
                .filter(|(n, _)| *n < established_min)
                .count();
            Some(ServerDrops {
                server,
                drops: dropped.count(),
                established_min,
                established_max,
                by_kind,
                teardowns_below: below,
                teardowns_from: teardowns.len() - below,
            })
        })
        .collect();
    out.sort_by(|a, b| b.drops.cmp(&a.drops).then(a.server.cmp(&b.server)));
    out
}

/// Counts over the sessions.
#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    /// Number of sessions.
    pub sessions: usize,
    /// Sessions per verdict (verdicts with none left out).
    pub by_verdict: Vec<(Verdict, usize)>,
    /// Sessions per client-observed code (`None`: still open).
    pub by_observed_code: Vec<(Option<u16>, usize)>,
    /// Sessions torn down whose client-observed code is unknown: a close frame's code
    /// unreadable without keys, or TLS that never carried a WebSocket. Never "still open".
    pub observed_code_unknown: usize,
    /// The first abnormal teardown, if any.
    pub first_abnormal: Option<FirstAbnormal>,
    /// Sessions over TLS (`wss://`).
    pub tls_sessions: usize,
    /// TLS sessions whose frames were decrypted with the key log.
    pub tls_decrypted: usize,
    /// The drops of each server that dropped sessions, with the established sessions on
    /// it at each.
    pub server_drops: Vec<ServerDrops>,
    /// TLS sessions whose WebSocket layer was inferred from record lengths (no keys).
    pub tls_inferred: usize,
    /// RFC 6455 violations by kind (every one, from the warnings).
    pub violations: Vec<(WarningKind, u64)>,
    /// Sessions with a violation on their timeline.
    pub sessions_with_violations: usize,
}

/// Sessions open at `t`: started at or before it, and not torn down before it.
pub fn concurrency_at(sessions: &[Session], t: Timestamp) -> usize {
    sessions.iter().filter(|s| s.is_open_at(t)).count()
}

/// Computes the summary.
pub fn summarize(a: &Analysis) -> Summary {
    let mut by_verdict: BTreeMap<Verdict, usize> = BTreeMap::new();
    let mut by_code: BTreeMap<Option<u16>, usize> = BTreeMap::new();
    let mut observed_code_unknown = 0;
    for s in &a.sessions {
        *by_verdict.entry(s.verdict).or_default() += 1;
        if s.client_observed_code.is_none() && s.verdict != Verdict::OpenAtCaptureEnd {
            observed_code_unknown += 1;
        } else {
            *by_code.entry(s.client_observed_code).or_default() += 1;
        }
    }
    let first = a
        .sessions
        .iter()
        .filter(|s| s.verdict.is_abnormal())
        .filter_map(|s| s.teardown_start_ts.or(Some(s.end_ts)).map(|t| (t, s)))
        .min_by_key(|(t, s)| (*t, s.id));
    let first_abnormal = first.map(|(ts, s)| FirstAbnormal {
        ts,
        session_id: s.id,
        verdict: s.verdict,
        client: s.client,
        server: s.server,
        open_sessions: concurrency_at(&a.sessions, ts),
        established: s.established_at_teardown,
        connecting: s.connecting_at_teardown,
    });
    Summary {
        sessions: a.sessions.len(),
        // Verdict's order is its declaration order, the order summaries list them in.
        by_verdict: by_verdict.into_iter().collect(),
        by_observed_code: by_code.into_iter().collect(),
        observed_code_unknown,
        first_abnormal,
        tls_sessions: a.sessions.iter().filter(|s| s.tls.is_some()).count(),
        tls_decrypted: a
            .sessions
            .iter()
            .filter(|s| s.tls.as_ref().is_some_and(|t| t.decrypted))
            .count(),
        server_drops: server_drops(&a.sessions),
        tls_inferred: a
            .sessions
            .iter()
            .filter(|s| s.evidence == Evidence::RecordLengths)
            .count(),
        violations: a
            .diagnostics
            .counts()
            .iter()
            .filter(|(k, _)| k.is_protocol_violation())
            .map(|(k, n)| (*k, *n))
            .collect(),
        sessions_with_violations: a
            .sessions
            .iter()
            .filter(|s| {
                s.timeline
                    .iter()
                    .any(|e| matches!(e.kind, EventKind::Violation { .. }))
            })
            .count(),
    }
}
