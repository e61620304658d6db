//! The load-run view of an analysis: concurrency over time as the servers see it
//! (established and connecting), where abnormal teardowns begin, the range of established
//! concurrency at which each server dropped sessions, drops per session-minute at risk by
//! band of established concurrency, age of sessions at teardown, handshake and STUN
//! latency against established load, verdicts and close codes over time, and the findings
//! in plain sentences with their numbers.
//!
//! A session counts as open from its first packet up to the start of its teardown (its
//! last packet when it had none): the half-open interval `[start_ts, teardown)`; of that,
//! it is established from its 101 ([`Session::established_at`]) and connecting before.
//! The "load" of a session is the number of sessions open just after it began, itself
//! included; the per-server counts at its start and teardown are set by
//! [`set_server_load`].

mod findings;
mod server_load;
mod stats;

pub use findings::{clock_ms, describe, duration, percent};
pub use server_load::set_server_load;
pub use stats::{nice_step, Spread};

use crate::analysis::Analysis;
use crate::session::{Session, Verdict};
use crate::summary::{summarize, Summary};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use teardown_wire::time::Timestamp;

/// One change of the concurrency step function.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    /// When it changed.
    pub ts: Timestamp,
    /// Sessions open from `ts` until the next step: `established + connecting`.
    pub open: usize,
    /// Of those, established ([`Session::established_at`] reached, teardown not started).
    pub established: usize,
    /// Of those, connecting (first packet seen, not yet established).
    pub connecting: usize,
    /// Sessions that started at `ts`.
    pub started: usize,
    /// Sessions whose teardown started at `ts` (or that ended there without one).
    pub ended: usize,
    /// Of those, abnormal ones ([`Verdict::is_abnormal`]).
    pub ended_abnormal: usize,
}

/// Concurrency and teardowns in one second of the run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Second {
    /// Start of the second.
    pub ts: Timestamp,
    /// Sessions open at its first instant.
    pub open_at_start: usize,
    /// Most sessions open at any instant in it.
    pub max_open: usize,
    /// Most sessions established at any instant in it.
    pub max_established: usize,
    /// Sessions that started in it.
    pub started: usize,
    /// Teardowns in it.
    pub ended: usize,
    /// Abnormal teardowns in it.
    pub ended_abnormal: usize,
}

/// One band of established concurrency on one server (`low..=high` sessions
/// established on it).
#[derive(Clone, Debug)]
pub struct Band {
    /// Lowest count in the band.
    pub low: usize,
    /// Highest count in the band.
    pub high: usize,
    /// Session-minutes spent established on the server while its established count was in
    /// the band: the time at risk of a drop.
    pub session_minutes: f64,
    /// Teardowns of established sessions that started with an established count in the
    /// band ([`Session::established_at_teardown`]).
    pub teardowns: usize,
    /// Of those, server drops ([`Session::server_dropped`]).
    pub drops: usize,
    /// Those drops by verdict.
    pub by_verdict: BTreeMap<Verdict, usize>,
    /// Sessions that began with an established count in the band
    /// ([`Session::established_at_start`]).
    pub sessions: usize,
    /// Their handshake latency (SYN to upgrade response), ms.
    pub handshake_ms: Option<Spread>,
    /// Their STUN round trip (each session's mean), ms.
    pub stun_rtt_ms: Option<Spread>,
}

impl Band {
    /// Server drops per session-minute at risk in the band (`None` without time at risk).
    pub fn hazard(&self) -> Option<f64> {
        (self.session_minutes > 0.0).then(|| self.drops as f64 / self.session_minutes)
    }

    /// `low–high`, or `low` for a band of one.
    pub fn label(&self) -> String {
        range_label(self.low, self.high)
    }
}

/// `low–high`, or `low` when they are equal.
fn range_label(low: usize, high: usize) -> String {
    if low == high {
        low.to_string()
    } else {
        format!("{low}–{high}")
    }
}

/// Sessions of one server address.
#[derive(Clone, Debug)]
pub struct ServerRow {
    /// The server.
    pub server: SocketAddr,
    /// Its sessions.
    pub sessions: usize,
    /// Of those, abnormal.
    pub abnormal: usize,
    /// Abnormal sessions by verdict.
    pub by_verdict: BTreeMap<Verdict, usize>,
    /// The step function of its sessions open, established and connecting.
    pub steps: Vec<Step>,
    /// Most sessions open on it at one time (connecting ones included).
    pub peak_open: usize,
    /// Most sessions established on it at one time.
    pub peak_established: usize,
    /// Its first abnormal teardown, and the sessions established on it at that instant
    /// ([`Session::established_at_teardown`]).
    pub first_abnormal: Option<(Timestamp, u64, usize)>,
    /// Handshake latency, ms.
    pub handshake_ms: Option<Spread>,
    /// Width of its bands of established concurrency.
    pub band_width: usize,
    /// Its bands of established concurrency, from 0 up to its peak.
    pub bands: Vec<Band>,
}

impl ServerRow {
    /// Abnormal sessions over sessions.
    pub fn failure_rate(&self) -> f64 {
        ratio(self.abnormal, self.sessions)
    }
}

/// Teardowns in one interval of the run.
#[derive(Clone, Debug)]
pub struct TimeBucket {
    /// Start of the interval.
    pub ts: Timestamp,
    /// Teardowns by verdict.
    pub by_verdict: BTreeMap<Verdict, usize>,
    /// Teardowns by the code the client observed (`None`: still open).
    pub by_observed_code: BTreeMap<Option<u16>, usize>,
}

/// One bar of the age histogram.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AgeBin {
    /// Lower edge, ms (inclusive).
    pub from_ms: u64,
    /// Upper edge, ms (exclusive).
    pub to_ms: u64,
    /// Sessions torn down normally at that age.
    pub normal: usize,
    /// Sessions torn down abnormally at that age.
    pub abnormal: usize,
}

/// Abnormal teardowns of one verdict with one code from one server, with their ages.
#[derive(Clone, Debug)]
pub struct Cause {
    /// The verdict.
    pub verdict: Verdict,
    /// The code that tells its story ([`cause_code`]): 1011 "internal error" and 1013
    /// "try again later" are different causes.
    pub code: Option<u16>,
    /// The server.
    pub server: SocketAddr,
    /// Sessions.
    pub sessions: usize,
    /// Age at teardown (first packet to teardown start), ms.
    pub age_ms: Option<Spread>,
}

/// The code that groups an abnormal teardown: the HTTP status of a rejected upgrade, else
/// the code of the first close frame (`None` without one).
pub fn cause_code(s: &Session) -> Option<u16> {
    match s.verdict {
        Verdict::HandshakeRejected => s.handshake_status(),
        _ => s.close_code(),
    }
}

impl Cause {
    /// True when the ages cluster tightly: at least three sessions, a median of at least
    /// 100 ms and an interquartile range within 5% of it — the mark of a fixed timeout.
    pub fn is_fixed_timeout(&self) -> bool {
        self.age_ms
            .as_ref()
            .is_some_and(|a| a.n >= 3 && a.p50 >= 100.0 && a.iqr() <= 0.05 * a.p50)
    }
}

/// The whole load-run view.
#[derive(Clone, Debug)]
pub struct LoadRun {
    /// Sessions.
    pub sessions: usize,
    /// Abnormal sessions.
    pub abnormal: usize,
    /// First session start.
    pub start: Option<Timestamp>,
    /// Last teardown or last packet of a session.
    pub end: Option<Timestamp>,
    /// The step function of sessions open.
    pub steps: Vec<Step>,
    /// Per second of the run.
    pub seconds: Vec<Second>,
    /// Most sessions open at once, and the first instant it was reached.
    pub peak: Option<(usize, Timestamp)>,
    /// Most sessions established at once (all servers), and the first instant.
    pub peak_established: Option<(usize, Timestamp)>,
    /// Each session's load (sessions open just after it began, itself included), in the
    /// order of [`Analysis::sessions`].
    pub load: Vec<usize>,
    /// The counts of `teardown summary`, first abnormal teardown included.
    pub summary: Summary,
    /// Per server address, most sessions first.
    pub servers: Vec<ServerRow>,
    /// Width of the time buckets, ns.
    pub bucket_ns: i64,
    /// Teardowns over time.
    pub buckets: Vec<TimeBucket>,
    /// Age at teardown histogram.
    pub ages: Vec<AgeBin>,
    /// Abnormal teardowns grouped by verdict, code and server, largest group first.
    pub causes: Vec<Cause>,
    /// Sessions by the code of the first close frame on the wire (`None`: no close frame),
    /// those whose close frame was inferred without keys left out.
    pub by_close_code: BTreeMap<Option<u16>, usize>,
    /// Sessions whose first close frame was inferred from a TLS record's length: its code
    /// is unread.
    pub close_code_unknown: usize,
    /// The findings, one sentence each, with their numbers.
    pub findings: Vec<String>,
}

fn ratio(n: usize, d: usize) -> f64 {
    if d == 0 {
        0.0
    } else {
        n as f64 / d as f64
    }
}

/// Changes at one instant: sessions started, ended, ended abnormally; and the changes of
/// the established and connecting counts.
#[derive(Default)]
struct Change {
    started: usize,
    ended: usize,
    ended_abnormal: usize,
    established: i64,
    connecting: i64,
}

/// The step function of the sessions open over time (half-open intervals
/// `[start_ts, closed_at)`), split into established (`[established_at, closed_at)`) and
/// connecting (the rest).
pub fn concurrency_steps<'a>(sessions: impl IntoIterator<Item = &'a Session>) -> Vec<Step> {
    let mut changes: BTreeMap<Timestamp, Change> = BTreeMap::new();
    for s in sessions {
        let closed = s.closed_at();
        changes.entry(s.start_ts).or_default().started += 1;
        let c = changes.entry(closed).or_default();
        c.ended += 1;
        if s.verdict.is_abnormal() {
            c.ended_abnormal += 1;
        }
        let connected = s.established_span().map_or(closed, |(t, _)| t);
        if s.start_ts < connected {
            changes.entry(s.start_ts).or_default().connecting += 1;
            changes.entry(connected).or_default().connecting -= 1;
        }
        if connected < closed {
            changes.entry(connected).or_default().established += 1;
            changes.entry(closed).or_default().established -= 1;
        }
    }
    let (mut open, mut established, mut connecting) = (0usize, 0i64, 0i64);
    changes
        .into_iter()
        .map(|(ts, c)| {
            open = open + c.started - c.ended;
            established += c.established;
            connecting += c.connecting;
            Step {
                ts,
                open,
                established: established as usize,
                connecting: connecting as usize,
                started: c.started,
                ended: c.ended,
                ended_abnormal: c.ended_abnormal,
            }
        })
        .collect()
}

/// Sessions open at `t` by the step function (`steps` sorted by time).
pub fn open_at(steps: &[Step], t: Timestamp) -> usize {
    step_at(steps, t).map_or(0, |s| s.open)
}

/// The step in force at `t` (`steps` sorted by time), if any.
fn step_at(steps: &[Step], t: Timestamp) -> Option<&Step> {
    steps[..steps.partition_point(|s| s.ts <= t)].last()
}

/// The largest value of `count` over the steps, and the first instant it is reached.
fn peak(steps: &[Step], count: fn(&Step) -> usize) -> Option<(usize, Timestamp)> {
    steps
        .iter()
        .fold(None, |best: Option<(usize, Timestamp)>, s| match best {
            Some((n, _)) if n >= count(s) => best,
            _ => Some((count(s), s.ts)),
        })
}

const NS: i64 = 1_000_000_000;

fn per_second(steps: &[Step]) -> Vec<Second> {
    let (Some(first), Some(last)) = (steps.first(), steps.last()) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut sec = first.ts.0.div_euclid(NS) * NS;
    let mut i = 0;
    while sec <= last.ts.0 {
        let open_at_start = open_at(steps, Timestamp(sec));
        let mut row = Second {
            ts: Timestamp(sec),
            open_at_start,
            max_open: open_at_start,
            max_established: step_at(steps, Timestamp(sec)).map_or(0, |s| s.established),
            started: 0,
            ended: 0,
            ended_abnormal: 0,
        };
        while i < steps.len() && steps[i].ts.0 < sec + NS {
            let s = &steps[i];
            if s.ts.0 >= sec {
                row.max_open = row.max_open.max(s.open);
                row.max_established = row.max_established.max(s.established);
                row.started += s.started;
                row.ended += s.ended;
                row.ended_abnormal += s.ended_abnormal;
            }
            i += 1;
        }
        out.push(row);
        sec += NS;
    }
    out
}

/// The bands of established concurrency of one server's sessions (`steps` their step
/// function): time at risk, teardowns and drops by the established count at each
/// teardown, handshake and STUN latency by the established count when each began.
fn bands(sessions: &[&Session], steps: &[Step], peak: usize) -> (usize, Vec<Band>) {
    let width = nice_step(peak as f64 / 8.0).max(1.0) as usize;
    let count = peak / width + 1;
    let mut out: Vec<Band> = (0..count)
        .map(|i| Band {
            low: i * width,
            high: (i + 1) * width - 1,
            session_minutes: 0.0,
            teardowns: 0,
            drops: 0,
            by_verdict: BTreeMap::new(),
            sessions: 0,
            handshake_ms: None,
            stun_rtt_ms: None,
        })
        .collect();
    for w in steps.windows(2) {
        let ns = (w[1].ts.0 - w[0].ts.0) as f64;
        out[w[0].established / width].session_minutes += w[0].established as f64 * ns / 60e9;
    }
    let mut hs: Vec<Vec<f64>> = vec![Vec::new(); count];
    let mut stun: Vec<Vec<f64>> = vec![Vec::new(); count];
    for s in sessions {
        if let (Some(n), Some(_)) = (s.established_at_teardown, s.established_span()) {
            let b = &mut out[(n / width).min(count - 1)];
            b.teardowns += 1;
            if s.server_dropped() {
                b.drops += 1;
                *b.by_verdict.entry(s.verdict).or_default() += 1;
            }
        }
        let i = (s.established_at_start / width).min(count - 1);
        out[i].sessions += 1;
        hs[i].extend(s.handshake_ms);
        stun[i].extend(s.stun_rtt_mean_ms());
    }
    for ((b, h), st) in out.iter_mut().zip(hs).zip(stun) {
        b.handshake_ms = Spread::of(h);
        b.stun_rtt_ms = Spread::of(st);
    }
    (width, out)
}

fn servers(sessions: &[Session]) -> Vec<ServerRow> {
    let mut by: BTreeMap<SocketAddr, Vec<&Session>> = BTreeMap::new();
    for s in sessions {
        by.entry(s.server).or_default().push(s);
    }
    let mut rows: Vec<ServerRow> = by
        .into_iter()
        .map(|(server, list)| {
            let steps = concurrency_steps(list.iter().copied());
            let mut by_verdict = BTreeMap::new();
            for s in list.iter().filter(|s| s.verdict.is_abnormal()) {
                *by_verdict.entry(s.verdict).or_default() += 1;
            }
            let first_abnormal = list
                .iter()
                .filter(|s| s.verdict.is_abnormal())
                .min_by_key(|s| (s.closed_at(), s.id))
                .map(|s| {
                    (
                        s.closed_at(),
                        s.id,
                        s.established_at_teardown.unwrap_or_default(),
                    )
                });
            let peak_established = peak(&steps, |s| s.established).map_or(0, |p| p.0);
            let (band_width, bands) = bands(&list, &steps, peak_established);
            ServerRow {
                server,
                sessions: list.len(),
                abnormal: by_verdict.values().sum(),
                by_verdict,
                peak_open: peak(&steps, |s| s.open).map_or(0, |p| p.0),
                peak_established,
                steps,
                first_abnormal,
                handshake_ms: Spread::of(list.iter().filter_map(|s| s.handshake_ms).collect()),
                band_width,
                bands,
            }
        })
        .collect();
    rows.sort_by(|a, b| b.sessions.cmp(&a.sessions).then(a.server.cmp(&b.server)));
    rows
}

/// Width of the time buckets: a round number of seconds giving about 20 buckets.
fn bucket_width(span_ns: i64) -> i64 {
    const STEPS_MS: [i64; 16] = [
        100, 200, 500, 1_000, 2_000, 5_000, 10_000, 15_000, 30_000, 60_000, 120_000, 300_000,
        600_000, 900_000, 1_800_000, 3_600_000,
    ];
    let want = span_ns / 20;
    STEPS_MS
        .iter()
        .map(|ms| ms * 1_000_000)
        .find(|w| *w >= want)
        .unwrap_or(((want / 3_600_000_000_000) + 1) * 3_600_000_000_000)
}

fn buckets(sessions: &[Session], start: Timestamp, end: Timestamp) -> (i64, Vec<TimeBucket>) {
    let width = bucket_width(end.0 - start.0);
    let first = start.0.div_euclid(width) * width;
    let count = ((end.0 - first) / width + 1) as usize;
    let mut out: Vec<TimeBucket> = (0..count)
        .map(|i| TimeBucket {
            ts: Timestamp(first + i as i64 * width),
            by_verdict: BTreeMap::new(),
            by_observed_code: BTreeMap::new(),
        })
        .collect();
    for s in sessions.iter().filter(|s| s.teardown_start_ts.is_some()) {
        let i = ((s.closed_at().0 - first) / width) as usize;
        if let Some(b) = out.get_mut(i) {
            *b.by_verdict.entry(s.verdict).or_default() += 1;
            *b.by_observed_code
                .entry(s.client_observed_code)
                .or_default() += 1;
        }
    }
    (width, out)
}

fn age_histogram(sessions: &[Session]) -> Vec<AgeBin> {
    let ages: Vec<(f64, bool)> = sessions
        .iter()
        .filter_map(|s| s.age_at_teardown_ms().map(|a| (a, s.verdict.is_abnormal())))
        .collect();
    let Some(max) = ages.iter().map(|a| a.0).reduce(f64::max) else {
        return Vec::new();
    };
    let width = (nice_step(max / 24.0).max(1.0)) as u64;
    let count = (max as u64 / width + 1) as usize;
    let mut out: Vec<AgeBin> = (0..count as u64)
        .map(|i| AgeBin {
            from_ms: i * width,
            to_ms: (i + 1) * width,
            normal: 0,
            abnormal: 0,
        })
        .collect();
    for (age, abnormal) in ages {
        let bin = &mut out[((age as u64) / width) as usize];
        if abnormal {
            bin.abnormal += 1;
        } else {
            bin.normal += 1;
        }
    }
    out
}

fn causes(sessions: &[Session]) -> Vec<Cause> {
    type Key = (Verdict, Option<u16>, SocketAddr);
    let mut by: BTreeMap<Key, (usize, Vec<f64>)> = BTreeMap::new();
    for s in sessions.iter().filter(|s| s.verdict.is_abnormal()) {
        let group = by.entry((s.verdict, cause_code(s), s.server)).or_default();
        group.0 += 1;
        group.1.extend(s.age_at_teardown_ms());
    }
    let mut out: Vec<Cause> = by
        .into_iter()
        .map(|((verdict, code, server), (sessions, ages))| Cause {
            verdict,
            code,
            server,
            sessions,
            age_ms: Spread::of(ages),
        })
        .collect();
    out.sort_by_key(|c| std::cmp::Reverse(c.sessions));
    out
}

impl LoadRun {
    /// Computes the load-run view of an analysis.
    pub fn of(a: &Analysis) -> LoadRun {
        let sessions = &a.sessions;
        let steps = concurrency_steps(sessions);
        let load: Vec<usize> = sessions.iter().map(|s| s.open_at_start).collect();
        let start = sessions.iter().map(|s| s.start_ts).min();
        let end = sessions.iter().map(|s| s.end_ts.max(s.closed_at())).max();
        let (bucket_ns, buckets) = match (start, end) {
            (Some(s), Some(e)) => buckets(sessions, s, e),
            _ => (NS, Vec::new()),
        };
        let mut by_close_code = BTreeMap::new();
        let mut close_code_unknown = 0;
        for s in sessions {
            if matches!(
                s.verdict,
                Verdict::ClientCloseEncrypted | Verdict::ServerCloseEncrypted
            ) {
                close_code_unknown += 1;
            } else {
                *by_close_code.entry(s.close_code()).or_default() += 1;
            }
        }
        let mut run = LoadRun {
            sessions: sessions.len(),
            abnormal: sessions.iter().filter(|s| s.verdict.is_abnormal()).count(),
            start,
            end,
            seconds: per_second(&steps),
            peak: peak(&steps, |s| s.open),
            peak_established: peak(&steps, |s| s.established),
            steps,
            load,
            summary: summarize(a),
            servers: servers(sessions),
            bucket_ns,
            buckets,
            ages: age_histogram(sessions),
            causes: causes(sessions),
            by_close_code,
            close_code_unknown,
            findings: Vec::new(),
        };
        run.findings = findings::write(a, &run);
        run
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_widths_are_round() {
        assert_eq!(bucket_width(10 * NS), 500_000_000);
        assert_eq!(bucket_width(3600 * NS), 300 * NS);
        assert_eq!(bucket_width(100 * 3600 * NS), 6 * 3600 * NS);
    }
}
