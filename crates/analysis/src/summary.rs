//! The numbers of `teardown summary`: counts by verdict and by client-observed code, and
//! the first abnormal teardown with the concurrency at that moment.

use crate::analysis::Analysis;
use crate::session::{EventKind, Session, Verdict};
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
    /// The first abnormal teardown, if any.
    pub first_abnormal: Option<FirstAbnormal>,
    /// Sessions over TLS (`wss://`).
    pub tls_sessions: usize,
    /// TLS sessions whose frames were decrypted with the key log.
    pub tls_decrypted: usize,
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
    for s in &a.sessions {
        *by_verdict.entry(s.verdict).or_default() += 1;
        *by_code.entry(s.client_observed_code).or_default() += 1;
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
    });
    Summary {
        sessions: a.sessions.len(),
        // Verdict's order is its declaration order, the order summaries list them in.
        by_verdict: by_verdict.into_iter().collect(),
        by_observed_code: by_code.into_iter().collect(),
        first_abnormal,
        tls_sessions: a.sessions.iter().filter(|s| s.tls.is_some()).count(),
        tls_decrypted: a
            .sessions
            .iter()
            .filter(|s| s.tls.as_ref().is_some_and(|t| t.decrypted))
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
