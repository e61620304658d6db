//! The load run's findings (`teardown report`, `teardown summary`), each pinned on a
//! capture crafted by the test: the calls are planned (server, start, handshake time, age
//! and ending), written packet by packet, and every number a finding states is counted
//! again here from the plan by brute force — sessions open and established at every
//! instant, percentiles by linear interpolation — not taken from teardown. Each finding
//! also has its negative case: a run where its condition does not hold and it is absent.
//!
//! Findings pinned elsewhere: the first abnormal teardown and the drop range
//! (`tests/report.rs`, `tests/loadrun_shed.rs`, `tests/synth.rs`); the TLS sessions whose
//! upgrade is hidden (`tests/tls.rs`).

mod common;

use common::*;
use std::net::SocketAddr;
use teardown::loadrun::{duration, percent, LoadRun};
use teardown::Analysis;

/// The server that drops sessions in the crafted runs.
const A: ([u8; 4], u16) = ([10, 0, 0, 2], 8080);
/// A server that never does.
const B: ([u8; 4], u16) = ([10, 0, 0, 3], 8080);
const MS: u64 = 1000;

/// Calls planned by a test, in order of their start.
#[derive(Default)]
struct Plan {
    calls: Vec<Call>,
}

/// Handshake time (SYN to the server's answer) of the calls of [`Plan::push_on_a`]: 5 ms
/// and 3 ms more for each session established on the server when the call began, so that
/// each band of established load has one latency.
fn handshake_us(established_at_start: usize) -> u64 {
    5 * MS + 3 * MS * established_at_start as u64
}

impl Plan {
    /// A call to `server` starting at `start_us`, answered `handshake` later, ending
    /// `age_us` after its start (a rejection is answered at once and the FINs follow at
    /// `age_us`).
    fn push(
        &mut self,
        server: ([u8; 4], u16),
        start_us: u64,
        handshake: u64,
        age_us: u64,
        ending: Ending,
    ) {
        let i = self.calls.len();
        assert!(self.calls.last().is_none_or(|c| c.start_us < start_us));
        self.calls.push(Call {
            client: SocketAddr::from(([10, 1, (i / 200) as u8, (i % 200 + 1) as u8], 40000)),
            server: server.into(),
            start_us,
            answer_us: start_us + handshake,
            offer: None,
            end_us: start_us + age_us,
            ending,
        });
    }

    /// A call on [`A`] whose handshake time follows [`handshake_us`].
    fn push_on_a(&mut self, start_us: u64, age_us: u64, ending: Ending) {
        let established = self.established_before(A.into(), start_us);
        self.push(A, start_us, handshake_us(established), age_us, ending);
    }

    fn capture(&self, name: &str) -> Analysis {
        let mut k = Capture::default();
        for c in &self.calls {
            k.ws_call(c);
        }
        k.analyze(name)
    }

    fn on(&self, server: Option<SocketAddr>) -> impl Iterator<Item = &Call> {
        self.calls
            .iter()
            .filter(move |c| server.is_none_or(|s| c.server == s))
    }

    /// Sessions open at `t` (first packet ≤ t < teardown start).
    fn open(&self, server: Option<SocketAddr>, t: u64) -> usize {
        self.on(server)
            .filter(|c| c.start_us <= t && t < teardown(c))
            .count()
    }

    /// Sessions established at `t` (101 ≤ t < teardown start).
    fn established(&self, server: Option<SocketAddr>, t: u64) -> usize {
        self.on(server)
            .filter(|c| established(c).is_some_and(|e| e <= t && t < teardown(c)))
            .count()
    }

    /// Sessions established on `server` at `t`, those whose teardown starts at `t`
    /// included.
    fn established_on(&self, server: SocketAddr, t: u64) -> usize {
        self.on(Some(server))
            .filter(|c| established(c).is_some_and(|e| e <= t && t <= teardown(c)))
            .count()
    }

    /// Sessions established on `server` just before `t`.
    fn established_before(&self, server: SocketAddr, t: u64) -> usize {
        self.on(Some(server))
            .filter(|c| established(c).is_some_and(|e| e < t && t <= teardown(c)))
            .count()
    }

    /// Every instant at which a count can change.
    fn instants(&self) -> Vec<u64> {
        let mut v: Vec<u64> = self
            .calls
            .iter()
            .flat_map(|c| [Some(c.start_us), established(c), Some(teardown(c))])
            .flatten()
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    }

    /// The largest value of `count` at any instant, and the first instant it is reached.
    fn peak(&self, count: impl Fn(u64) -> usize) -> (usize, u64) {
        let mut best = (0, 0);
        for t in self.instants() {
            let n = count(t);
            if n > best.0 {
                best = (n, t);
            }
        }
        best
    }

    fn abnormal(&self) -> impl Iterator<Item = &Call> {
        self.calls.iter().filter(|c| abnormal(c))
    }

    /// Start of the run and its last packet.
    fn span(&self) -> (u64, u64) {
        let start = self.calls.iter().map(|c| c.start_us).min().unwrap();
        let end = self.calls.iter().map(last_packet).max().unwrap();
        (start, end)
    }
}

/// When the teardown starts: the server's answer for a rejection, the ending otherwise
/// (for a call still open, its last packet).
fn teardown(c: &Call) -> u64 {
    match c.ending {
        Ending::Rejected(_) => c.answer_us,
        _ => c.end_us,
    }
}

fn established(c: &Call) -> Option<u64> {
    (!matches!(c.ending, Ending::Rejected(_))).then_some(c.answer_us)
}

fn last_packet(c: &Call) -> u64 {
    match c.ending {
        Ending::ClientClose(_) | Ending::ServerClose(_) => c.end_us + 400,
        Ending::Rejected(_) => c.end_us + 200,
        Ending::ServerRst | Ending::Open => c.end_us,
    }
}

/// RFC 6455 §7.4.1: 1000 (normal closure) and 1001 (going away) end a session cleanly;
/// any other code sent by the server, a reset and a rejected upgrade are abnormal.
fn abnormal(c: &Call) -> bool {
    match c.ending {
        Ending::ClientClose(_) | Ending::Open => false,
        Ending::ServerClose(code) => !matches!(code, 1000 | 1001),
        Ending::ServerRst | Ending::Rejected(_) => true,
    }
}

/// The code the client's WebSocket reports: the close frame's, or 1006 when the
/// connection ended without one (RFC 6455 §7.1.5).
fn observed(c: &Call) -> Option<u16> {
    match c.ending {
        Ending::ClientClose(code) | Ending::ServerClose(code) => Some(code),
        Ending::ServerRst | Ending::Rejected(_) => Some(1006),
        Ending::Open => None,
    }
}

fn age_ms(c: &Call) -> Option<f64> {
    (c.ending != Ending::Open).then(|| (teardown(c) - c.start_us) as f64 / 1000.0)
}

/// The `p` quantile by linear interpolation between order statistics.
fn quantile(values: &[f64], p: f64) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let pos = p * (v.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    v[lo] + (v[hi] - v[lo]) * (pos - lo as f64)
}

/// `HH:MM:SS.mmm` of `us` into a crafted capture (which starts at 12:00 UTC).
fn clock(us: u64) -> String {
    let ms = us / 1000;
    let s = ms / 1000;
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        12 + s / 3600,
        s / 60 % 60,
        s % 60,
        ms % 1000
    )
}

fn ms_between(from: u64, to: u64) -> f64 {
    (to - from) as f64 / 1000.0
}

fn id_of(a: &Analysis, c: &Call) -> u64 {
    a.sessions.iter().find(|s| s.client == c.client).unwrap().id
}

fn finding<'a>(run: &'a LoadRun, prefix: &str) -> Option<&'a str> {
    let found: Vec<&str> = run
        .findings
        .iter()
        .filter(|f| f.starts_with(prefix))
        .map(String::as_str)
        .collect();
    assert!(found.len() <= 1, "{found:#?}");
    found.first().copied()
}

/// `a, b and c`.
fn listed(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// The overload run: on [`A`], calm calls (one every 2 s, 3 s long), then a burst (one
/// every 400 ms) in which the server resets, closes with 1013 and rejects with 503, then
/// calm again; on [`B`], a call every 9 s that closes cleanly and two still open at the
/// end. Sessions are short against the run, so the load when each began is meaningful.
fn overload() -> Plan {
    let mut p = Plan::default();
    let mut starts: Vec<(u64, u8)> = Vec::new();
    starts.extend((0..20).map(|k| (k * 2 * S, 0)));
    starts.extend((0..30).map(|k| (40 * S + k * 400 * MS + MS, 1)));
    starts.extend((0..10).map(|k| (60 * S + k * 3 * S + 2 * MS, 2)));
    starts.extend((0..10).map(|k| (S / 2 + k * 9 * S + 3 * MS, 3)));
    starts.extend([(90 * S + 4 * MS, 4), (91 * S + 5 * MS, 5)]);
    starts.sort_unstable();
    let mut burst = 0u64;
    for (t, kind) in starts {
        match kind {
            0 => p.push_on_a(t, 3 * S, Ending::ClientClose(1000)),
            1 => {
                let k = burst;
                burst += 1;
                let (age, ending) = match k {
                    ..8 => (2 * S, Ending::ClientClose(1000)),
                    _ if k % 2 == 0 => (S + k * 50 * MS, Ending::ServerRst),
                    _ if k % 6 == 1 => (3 * S / 2, Ending::ServerClose(1013)),
                    _ if k % 6 == 3 => (S, Ending::Rejected(503)),
                    _ => (2 * S, Ending::ClientClose(1000)),
                };
                p.push_on_a(t, age, ending);
            }
            2 => p.push_on_a(t, 3 * S / 2, Ending::ClientClose(1000)),
            3 => p.push(B, t, 7 * MS, S, Ending::ClientClose(1000)),
            4 => p.push(B, t, 7 * MS, 9 * S, Ending::Open),
            _ => p.push(B, t, 7 * MS, 8 * S + 500 * MS, Ending::Open),
        }
    }
    // Bands of width one: the latency and hazard checks below count per established
    // count (the band width is a round step of a ninth of the peak or more).
    assert!(p.peak(|t| p.established(Some(A.into()), t)).0 <= 8);
    p
}

#[test]
fn overview_counts_sessions_peaks_and_abnormal_endings() {
    let p = overload();
    let a = p.capture("overload.pcap");
    let run = LoadRun::of(&a);
    let (start, end) = p.span();
    let (est, est_at) = p.peak(|t| p.established(None, t));
    let (open, _) = p.peak(|t| p.open(None, t));
    let bad = p.abnormal().count();
    assert_eq!(
        run.findings[0],
        format!(
            "{} sessions from {} to {} UTC ({}); at most {est} established at once (first at {}), {open} open counting connections still in their handshake; {bad} ended abnormally ({}).",
            p.calls.len(),
            clock(start),
            clock(end),
            duration(ms_between(start, end)),
            clock(est_at),
            percent(bad, p.calls.len())
        )
    );
    assert!(finding(&run, "No abnormal teardown:").is_none());
}

#[test]
fn other_causes_name_their_code_count_and_ages() {
    let p = overload();
    let run = LoadRun::of(&p.capture("overload.pcap"));
    let ages = |pred: &dyn Fn(&Call) -> bool| -> Vec<f64> {
        p.abnormal()
            .filter(|c| pred(c))
            .filter_map(age_ms)
            .collect()
    };
    let rejected = ages(&|c| matches!(c.ending, Ending::Rejected(_)));
    let closed = ages(&|c| matches!(c.ending, Ending::ServerClose(_)));
    // The resets are the largest group (the first cause); then the rejections (4), then
    // the 1013 closes (3), all on A. The rejections' ages are their handshakes (under
    // 100 ms: no judgement on them); the closes all went 1.5 s in: a fixed timeout.
    assert_eq!((rejected.len(), closed.len()), (4, 3));
    assert!(closed.iter().all(|a| *a == 1500.0));
    let iqr = |v: &[f64]| quantile(v, 0.75) - quantile(v, 0.25);
    assert_eq!(
        finding(&run, "Other abnormal teardowns:"),
        Some(
            format!(
                "Other abnormal teardowns: rejected upgrades (HTTP 503) from 10.0.0.2:8080: 4; median age at teardown {} (IQR {}); server close frames with an error code (close 1013) from 10.0.0.2:8080: 3; median age at teardown 1.50 s (IQR 0.000 ms) — a fixed timeout.",
                duration(quantile(&rejected, 0.5)),
                duration(iqr(&rejected)),
            )
            .as_str()
        )
    );
}

/// Six causes of different sizes: three are named after the first, two more counted.
#[test]
fn other_causes_beyond_three_are_counted() {
    let mut p = Plan::default();
    let endings = [
        (6, Ending::ServerRst),
        (5, Ending::ServerClose(1011)),
        (4, Ending::ServerClose(1013)),
        (3, Ending::ServerClose(1008)),
        (2, Ending::Rejected(503)),
        (1, Ending::ServerClose(1002)),
    ];
    let mut t = 0;
    for (n, ending) in endings {
        for _ in 0..n {
            t += 300 * MS;
            p.push(A, t, 2 * MS, S, ending);
        }
    }
    let run = LoadRun::of(&p.capture("causes.pcap"));
    let text = finding(&run, "Other abnormal teardowns:").unwrap();
    assert!(
        text.starts_with(
            "Other abnormal teardowns: server close frames with an error code (close 1011) from 10.0.0.2:8080: 5; "
        ),
        "{text}"
    );
    assert!(
        text.contains("(close 1013) from 10.0.0.2:8080: 4; "),
        "{text}"
    );
    assert!(
        text.contains("(close 1008) from 10.0.0.2:8080: 3; "),
        "{text}"
    );
    assert!(text.ends_with(" and 2 smaller groups."), "{text}");
    assert!(
        !text.contains("HTTP 503") && !text.contains("1002"),
        "{text}"
    );
}

#[test]
fn by_server_names_the_failing_server_and_the_healthy_one() {
    let p = overload();
    let a = p.capture("overload.pcap");
    let run = LoadRun::of(&a);
    let (sa, sb) = (SocketAddr::from(A), SocketAddr::from(B));
    let on_a: Vec<&Call> = p.on(Some(sa)).collect();
    let bad_a = on_a.iter().filter(|c| abnormal(c)).count();
    let first = on_a
        .iter()
        .filter(|c| abnormal(c))
        .min_by_key(|c| teardown(c))
        .unwrap();
    let (peak_est, _) = p.peak(|t| p.established(Some(sa), t));
    let (peak_open, _) = p.peak(|t| p.open(Some(sa), t));
    assert_eq!(
        finding(&run, "10.0.0.2:8080: "),
        Some(
            format!(
                "10.0.0.2:8080: {bad_a} of its {} sessions ended abnormally ({}), {} of all abnormal teardowns; at most {peak_est} established on it at once ({peak_open} open counting connections in their handshake), {} established when its first one (session {}) went at {}.",
                on_a.len(),
                percent(bad_a, on_a.len()),
                percent(bad_a, p.abnormal().count()),
                p.established_on(sa, teardown(first)),
                id_of(&a, first),
                clock(teardown(first)),
            )
            .as_str()
        )
    );
    assert_eq!(
        finding(&run, "No abnormal teardown on"),
        Some(
            format!(
                "No abnormal teardown on 10.0.0.3:8080 ({} sessions).",
                p.on(Some(sb)).count()
            )
            .as_str()
        )
    );
    assert!(finding(&run, "10.0.0.3:8080: ").is_none());
}

#[test]
fn failure_by_load_splits_at_the_lowest_load_of_a_failure() {
    let p = overload();
    let run = LoadRun::of(&p.capture("overload.pcap"));
    let load = |c: &Call| p.open(None, c.start_us);
    let knee = p.abnormal().map(load).min().unwrap();
    let (peak, _) = p.peak(|t| p.open(None, t));
    let count = |pred: &dyn Fn(usize) -> bool| {
        let of: Vec<&Call> = p.calls.iter().filter(|c| pred(load(c))).collect();
        (of.len(), of.iter().filter(|c| abnormal(c)).count())
    };
    let (n_lo, bad_lo) = count(&|l| l < knee);
    let (n_hi, bad_hi) = count(&|l| l >= knee);
    let ages: Vec<f64> = p.calls.iter().filter_map(age_ms).collect();
    let median = quantile(&ages, 0.5);
    let (start, end) = p.span();
    let span = ms_between(start, end);
    assert!(bad_lo == 0 && n_lo > 0 && median <= 0.05 * span);
    assert_eq!(
        finding(&run, "By load when sessions began"),
        Some(
            format!(
                "By load when sessions began (sessions open, connecting ones included; meaningful here as sessions are short: median age at teardown {}, {} of the run): 0% (0 of {n_lo}) of the sessions that began with fewer than {knee} open ended abnormally, {} ({bad_hi} of {n_hi}) of those that began with {knee} to {peak} open did.",
                duration(median),
                percent((median * 1000.0) as usize, (span * 1000.0) as usize),
                percent(bad_hi, n_hi),
            )
            .as_str()
        )
    );
}

#[test]
fn last_abnormal_gives_the_end_and_the_worst_second() {
    let p = overload();
    let run = LoadRun::of(&p.capture("overload.pcap"));
    let tds: Vec<u64> = p.abnormal().map(teardown).collect();
    let (first, last) = (*tds.iter().min().unwrap(), *tds.iter().max().unwrap());
    // The second (from the run's first whole second) with the most abnormal teardowns,
    // the earliest of equals, and the most sessions established at any instant of it.
    let worst = (0..=last / S)
        .map(|s| (tds.iter().filter(|t| **t / S == s).count(), s))
        .max_by_key(|(n, s)| (*n, std::cmp::Reverse(*s)))
        .unwrap();
    let from = worst.1 * S;
    let most = p
        .instants()
        .into_iter()
        .filter(|t| (from..from + S).contains(t))
        .chain([from])
        .map(|t| p.established(None, t))
        .max()
        .unwrap();
    assert_eq!(
        finding(&run, "Abnormal teardowns go on until"),
        Some(
            format!(
                "Abnormal teardowns go on until {} UTC ({} after the first); the worst second, from {}, had {} of them with up to {most} sessions established.",
                clock(last),
                duration(ms_between(first, last)),
                clock(from),
                worst.0,
            )
            .as_str()
        )
    );
}

/// One abnormal teardown: nothing goes on after it.
#[test]
fn last_abnormal_is_absent_after_a_single_failure() {
    let mut p = Plan::default();
    for k in 0..4 {
        p.push(A, k * S, 2 * MS, 3 * S / 2, Ending::ClientClose(1000));
    }
    p.push(A, 4 * S, 2 * MS, 3 * S / 2, Ending::ServerRst);
    let run = LoadRun::of(&p.capture("one.pcap"));
    assert!(finding(&run, "Abnormal teardowns begin at").is_some());
    assert!(finding(&run, "Abnormal teardowns go on").is_none());
    assert!(finding(&run, "Other abnormal teardowns").is_none());
    assert_eq!(
        finding(&run, "Clients observed"),
        Some(
            "Clients observed 1000 in 4 and 1006 in 1 (1006: the connection ended without a close frame reaching the client)."
        )
    );
}

#[test]
fn close_codes_and_sessions_still_open() {
    let p = overload();
    let run = LoadRun::of(&p.capture("overload.pcap"));
    let mut codes: Vec<u16> = p.calls.iter().filter_map(observed).collect();
    codes.sort_unstable();
    codes.dedup();
    let items: Vec<String> = codes
        .iter()
        .map(|code| {
            let n = p
                .calls
                .iter()
                .filter(|c| observed(c) == Some(*code))
                .count();
            format!("{code} in {n}")
        })
        .collect();
    assert_eq!(items.len(), 3, "1000, 1006 and 1013");
    assert_eq!(
        finding(&run, "Clients observed"),
        Some(
            format!(
                "Clients observed {} (1006: the connection ended without a close frame reaching the client).",
                listed(&items)
            )
            .as_str()
        )
    );
    assert_eq!(
        finding(&run, "2 sessions were still open"),
        Some("2 sessions were still open when the capture ended (no verdict on them).")
    );
}

/// Handshake time rises with the sessions established on A when each call began
/// ([`handshake_us`]): each band's median is its own latency.
#[test]
fn handshake_latency_rises_with_established_load() {
    let p = overload();
    let run = LoadRun::of(&p.capture("overload.pcap"));
    let sa = SocketAddr::from(A);
    let mut levels: Vec<usize> = p
        .on(Some(sa))
        .map(|c| p.established_before(sa, c.start_us))
        .collect();
    levels.sort_unstable();
    levels.dedup();
    let ms = |n: usize| handshake_us(n) as f64 / 1000.0;
    let (lo, hi) = (levels[0], *levels.last().unwrap());
    let list: Vec<String> = levels
        .iter()
        .map(|n| format!("{} at {n}", duration(ms(*n))))
        .collect();
    assert_eq!(
        finding(&run, "Handshake latency"),
        Some(
            format!(
                "Handshake latency (SYN to 101) on 10.0.0.2:8080, by sessions established on it when each began, median: {}: it rises {:.1}× with established load (p90 {} at {hi}).",
                list.join(", "),
                ms(hi) / ms(lo),
                duration(ms(hi)),
            )
            .as_str()
        )
    );
    assert!(
        finding(&run, "STUN round trip").is_none(),
        "no STUN in the run"
    );
}

/// Drops per session-minute spent established on A, by its established count: the time
/// at each count integrated over the plan, the drops counted at their teardown.
#[test]
fn hazard_is_drops_per_session_minute_by_established_count() {
    let p = overload();
    let run = LoadRun::of(&p.capture("overload.pcap"));
    let sa = SocketAddr::from(A);
    let on_a = Plan {
        calls: p.on(Some(sa)).cloned().collect(),
    };
    let instants = on_a.instants();
    let peak = on_a.peak(|t| on_a.established(None, t)).0;
    let mut minutes = vec![0.0; peak + 1];
    for w in instants.windows(2) {
        let n = on_a.established(None, w[0]);
        minutes[n] += n as f64 * (w[1] - w[0]) as f64 / 60e6;
    }
    let mut drops = vec![0usize; peak + 1];
    for c in on_a
        .calls
        .iter()
        .filter(|c| abnormal(c) && established(c).is_some())
    {
        drops[on_a.established_on(sa, teardown(c))] += 1;
    }
    // Counts with time at risk; neighbours without a drop merged.
    let mut runs: Vec<(usize, usize, usize, f64)> = Vec::new();
    for n in (0..=peak).filter(|n| minutes[*n] > 0.0) {
        match runs.last_mut() {
            Some(last) if last.2 == 0 && drops[n] == 0 => {
                last.1 = n;
                last.3 += minutes[n];
            }
            _ => runs.push((n, n, drops[n], minutes[n])),
        }
    }
    assert!(runs.len() >= 2 && runs[0].2 == 0, "{runs:?}");
    let list: Vec<String> = runs
        .iter()
        .map(|&(lo, hi, d, m)| {
            let rate = match d {
                0 => "no drop".to_string(),
                1 => format!("1 drop, {:.2} per session-minute", 1.0 / m),
                d => format!("{d} drops, {:.2} per session-minute", d as f64 / m),
            };
            let counts = if lo == hi {
                lo.to_string()
            } else {
                format!("{lo}–{hi}")
            };
            format!("{counts} established: {rate} in {m:.1} session-min")
        })
        .collect();
    assert_eq!(
        finding(&run, "Hazard on"),
        Some(
            format!(
                "Hazard on 10.0.0.2:8080 (drops of established sessions per session-minute spent established, by sessions established on it): {}.",
                list.join("; ")
            )
            .as_str()
        )
    );
}

/// Every session closed by the client with 1000: the run says so, and nothing about
/// failures, loads or hazards; the handshake does not slow down.
#[test]
fn a_clean_run_has_no_failure_findings() {
    let mut p = Plan::default();
    for k in 0..6 {
        p.push(A, k * S, 4 * MS, 3 * S / 2, Ending::ClientClose(1000));
    }
    let run = LoadRun::of(&p.capture("clean.pcap"));
    assert_eq!(
        finding(&run, "No abnormal teardown:"),
        Some("No abnormal teardown: every session closed cleanly or was still open at the end.")
    );
    for absent in [
        "Abnormal teardowns",
        "Other abnormal",
        "Server drops",
        "Hazard",
        "10.0.0.2:8080:",
        "By load",
        "Most sessions",
    ] {
        assert!(
            finding(&run, absent).is_none(),
            "{absent}: {:#?}",
            run.findings
        );
    }
    assert_eq!(
        finding(&run, "Clients observed"),
        Some("Clients observed 1000 in 6.")
    );
    // Calls 1 s apart lasting 1.5 s: each began with 0 or 1 established, all 4 ms.
    assert_eq!(
        finding(&run, "Handshake latency"),
        Some("Handshake latency (SYN to 101) on 10.0.0.2:8080, by sessions established on it when each began, median: 4.00 ms at 0, 4.00 ms at 1: no slowdown with established load.")
    );
    assert!(finding(&run, "still open").is_none());
}

/// Every session reset by the server 30 s after it began: one age for the whole run, a
/// fixed timeout; the sessions are long against the run, so no view by load.
#[test]
fn one_age_for_all_is_a_fixed_timeout() {
    let mut p = Plan::default();
    for k in 0..5 {
        p.push(A, k * S, 2 * MS, 30 * S, Ending::ServerRst);
    }
    let run = LoadRun::of(&p.capture("timeout.pcap"));
    assert_eq!(
        finding(&run, "Most sessions of the run end at the same age"),
        Some("Most sessions of the run end at the same age, 30.0 s (IQR 0.000 ms): the test plan's own duration or a timeout common to all.")
    );
    let first = finding(&run, "Abnormal teardowns begin at").unwrap();
    assert!(
        first.ends_with("; median age at teardown 30.0 s (IQR 0.000 ms) — a fixed timeout."),
        "{first}"
    );
    assert!(finding(&run, "By load").is_none());
    // One reset per second from 30 s: the first such second; at its first instant the
    // first reset has begun its teardown, so four are established.
    assert_eq!(
        finding(&run, "Abnormal teardowns go on until"),
        Some("Abnormal teardowns go on until 12:00:34.000 UTC (4.00 s after the first); the worst second, from 12:00:30.000, had 1 of them with up to 4 sessions established.")
    );
}

/// Ages spread from 1 s to 5 s: no common age, and the cause says the ages spread.
#[test]
fn spread_ages_are_not_one_timeout() {
    let mut p = Plan::default();
    for k in 0..5 {
        p.push(A, k * S, 2 * MS, (k + 1) * S, Ending::ServerRst);
    }
    let run = LoadRun::of(&p.capture("spread.pcap"));
    assert!(finding(&run, "Most sessions of the run").is_none());
    let first = finding(&run, "Abnormal teardowns begin at").unwrap();
    assert!(
        first.ends_with(
            "; median age at teardown 3.00 s (IQR 2.00 s) — ages spread from 1.00 s to 5.00 s, not one timeout."
        ),
        "{first}"
    );
}

/// Three calls, one after the other, each with two ICE checks answered 5 ms later: one
/// band (nothing established when each began), one STUN round trip.
#[test]
fn stun_round_trip_in_one_band() {
    let mut k = Capture::default();
    for i in 0..3u64 {
        let client = SocketAddr::from(([10, 0, 0, 1], 40000 + i as u16));
        let ufrag = format!("uf{i}");
        k.call(client, i * 10 * S, &sdp_ufrag(&ufrag), i * 10 * S + 5 * S);
        let (x, y) = (
            SocketAddr::from(([10, 0, 0, 1], 5000 + i as u16)),
            SocketAddr::from(([10, 8, 0, 2], 6000)),
        );
        for j in 1..=2 {
            k.check(
                i * 10 * S + j * S,
                x,
                y,
                &format!("peer:{ufrag}"),
                Some(5 * MS),
            );
        }
    }
    let a = k.analyze("stun.pcap");
    assert!(
        a.sessions.iter().all(|s| s.media.len() == 1),
        "every flow joined"
    );
    let run = LoadRun::of(&a);
    assert_eq!(
        finding(&run, "STUN round trip"),
        Some("STUN round trip on 10.0.0.2:8080, by sessions established on it when each began: median 5.00 ms (p90 5.00 ms) at 0 established.")
    );
    // The crafted call answers its upgrade 400 µs after the SYN.
    assert_eq!(
        finding(&run, "Handshake latency"),
        Some("Handshake latency (SYN to 101) on 10.0.0.2:8080, by sessions established on it when each began: median 0.400 ms (p90 0.400 ms) at 0 established.")
    );
}
