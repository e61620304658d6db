//! The findings: sentences computed from the numbers, each with its numbers.

use super::{Cause, LoadRun, Spread};
use crate::analysis::Analysis;
use crate::session::{Session, Verdict};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use teardown_wire::time::Timestamp;

/// A verdict as a plural noun phrase, for sentences and legends.
pub fn describe(v: Verdict) -> &'static str {
    match v {
        Verdict::CleanCloseClient => "clean closes by the client",
        Verdict::CleanCloseServer => "clean closes by the server",
        Verdict::ClientCloseError => "client close frames with an error code",
        Verdict::ServerCloseError => "server close frames with an error code",
        Verdict::ServerRstNoClose => "server resets without a close frame",
        Verdict::ServerFinNoClose => "server FINs without a close frame",
        Verdict::ClientRstNoClose => "client resets without a close frame",
        Verdict::ClientFinNoClose => "client FINs without a close frame",
        Verdict::HandshakeRejected => "rejected upgrades (HTTP status other than 101)",
        Verdict::HandshakeNoResponse => "upgrades never answered",
        Verdict::ConnectRefused => "refused connections (SYN answered by RST)",
        Verdict::SynUnanswered => "unanswered SYNs",
        Verdict::OpenAtCaptureEnd => "sessions still open at capture end",
        Verdict::ServerRstEncrypted => "server resets of TLS sessions without keys",
        Verdict::ServerFinEncrypted => "server closes of TLS sessions without keys",
        Verdict::ClientRstEncrypted => "client resets of TLS sessions without keys",
        Verdict::ClientFinEncrypted => "client closes of TLS sessions without keys",
        Verdict::TlsHandshakeFailed => "failed TLS handshakes",
        Verdict::ClientCloseEncrypted => "client close frames inferred without keys (code unread)",
        Verdict::ServerCloseEncrypted => "server close frames inferred without keys (code unread)",
    }
}

/// `HH:MM:SS.mmm` UTC.
pub fn clock_ms(ts: Timestamp) -> String {
    let c = ts.clock();
    c[..c.len() - 3].to_string()
}

/// A duration given in ms, with three significant digits and a unit that fits.
pub fn duration(ms: f64) -> String {
    let a = ms.abs();
    if a >= 100_000.0 {
        format!("{:.0} s", ms / 1000.0)
    } else if a >= 10_000.0 {
        format!("{:.1} s", ms / 1000.0)
    } else if a >= 1000.0 {
        format!("{:.2} s", ms / 1000.0)
    } else if a >= 100.0 {
        format!("{ms:.0} ms")
    } else if a >= 10.0 {
        format!("{ms:.1} ms")
    } else if a >= 1.0 {
        format!("{ms:.2} ms")
    } else {
        format!("{ms:.3} ms")
    }
}

/// `n sessions`, `1 session`.
fn sessions(n: usize) -> String {
    if n == 1 {
        "1 session".into()
    } else {
        format!("{n} sessions")
    }
}

/// `lo to hi`, or `lo` when they are equal.
fn span(lo: usize, hi: usize) -> String {
    if lo >= hi {
        lo.to_string()
    } else {
        format!("{lo} to {hi}")
    }
}

/// `n / d` as a whole percentage.
pub fn percent(n: usize, d: usize) -> String {
    if d == 0 {
        return "0%".into();
    }
    let p = 100.0 * n as f64 / d as f64;
    if p > 0.0 && p < 1.0 {
        format!("{p:.1}%")
    } else {
        format!("{p:.0}%")
    }
}

/// The close frame of a session as `close 1013 "try again later"`, if it had one.
fn close_text(s: &Session) -> Option<String> {
    let c = s.first_close.as_ref()?;
    let code = c.code.unwrap_or(1005);
    Some(if c.reason.is_empty() {
        format!("close {code}")
    } else {
        format!("close {code} {:?}", c.reason)
    })
}

/// Most common close frame (code and reason) of a group of sessions.
fn common_close<'a>(sessions: impl Iterator<Item = &'a Session>) -> Option<String> {
    let mut by: BTreeMap<String, usize> = BTreeMap::new();
    for t in sessions.filter_map(close_text) {
        *by.entry(t).or_default() += 1;
    }
    by.into_iter().max_by_key(|(_, n)| *n).map(|(t, _)| t)
}

fn of_cause<'a>(a: &'a Analysis, c: &'a Cause) -> impl Iterator<Item = &'a Session> + 'a {
    a.sessions
        .iter()
        .filter(move |s| s.verdict == c.verdict && s.server == c.server)
}

fn age_clause(c: &Cause) -> String {
    let Some(age) = &c.age_ms else {
        return String::new();
    };
    if age.n == 1 {
        return format!("; age at teardown {}", duration(age.p50));
    }
    let verdict = if c.is_fixed_timeout() {
        " — a fixed timeout".to_string()
    } else if age.n >= 3 && age.p50 >= 100.0 {
        format!(
            " — ages spread from {} to {}, not one timeout",
            duration(age.min),
            duration(age.max)
        )
    } else {
        String::new()
    };
    format!(
        "; median age at teardown {} (IQR {}){verdict}",
        duration(age.p50),
        duration(age.iqr())
    )
}

fn overview(run: &LoadRun) -> Option<String> {
    let (start, end) = (run.start?, run.end?);
    let (peak, peak_ts) = run.peak?;
    Some(format!(
        "{} sessions from {} to {} UTC ({}); at most {} open at once (first at {}); {} ended abnormally ({}).",
        run.sessions,
        clock_ms(start),
        clock_ms(end),
        duration(end.millis_since(start)),
        peak,
        clock_ms(peak_ts),
        run.abnormal,
        percent(run.abnormal, run.sessions)
    ))
}

fn first_and_cause(a: &Analysis, run: &LoadRun) -> Option<String> {
    let f = run.summary.first_abnormal.as_ref()?;
    let s = a.sessions.iter().find(|s| s.id == f.session_id)?;
    let close = close_text(s).map(|c| format!(", {c}")).unwrap_or_default();
    let mut text = format!(
        "Abnormal teardowns begin at {} UTC with {} open: session {} ({}{close}) from {}",
        clock_ms(f.ts),
        sessions(f.open_sessions),
        f.session_id,
        f.verdict,
        f.server
    );
    if let Some(c) = run.causes.first() {
        text.push_str(&format!(
            "; {} of the abnormal teardowns ({} of {}) are {} from {}",
            percent(c.sessions, run.abnormal),
            c.sessions,
            run.abnormal,
            describe(c.verdict),
            c.server
        ));
        if let Some(close) = common_close(of_cause(a, c)) {
            text.push_str(&format!(" ({close})"));
        }
        text.push_str(&age_clause(c));
    }
    text.push('.');
    Some(text)
}

fn other_causes(a: &Analysis, run: &LoadRun) -> Option<String> {
    let rest: Vec<String> = run
        .causes
        .iter()
        .skip(1)
        .take(3)
        .map(|c| {
            let close = common_close(of_cause(a, c))
                .map(|t| format!(" ({t})"))
                .unwrap_or_default();
            format!(
                "{} from {}{close}: {}{}",
                describe(c.verdict),
                c.server,
                c.sessions,
                age_clause(c)
            )
        })
        .collect();
    if rest.is_empty() {
        return None;
    }
    let more = run.causes.len().saturating_sub(4);
    let tail = if more > 0 {
        format!(" and {more} smaller groups")
    } else {
        String::new()
    };
    Some(format!(
        "Other abnormal teardowns: {}{tail}.",
        rest.join("; ")
    ))
}

fn by_server(run: &LoadRun) -> Vec<String> {
    let mut out = Vec::new();
    let failing: Vec<_> = run.servers.iter().filter(|s| s.abnormal > 0).collect();
    for s in &failing {
        let mut text = format!(
            "{}: {} of its {} sessions ended abnormally ({}), {} of all abnormal teardowns; at most {} open on it at once",
            s.server,
            s.abnormal,
            s.sessions,
            percent(s.abnormal, s.sessions),
            percent(s.abnormal, run.abnormal),
            s.peak_open
        );
        if let Some((ts, id, open)) = s.first_abnormal {
            text.push_str(&format!(
                ", {open} when its first one (session {id}) went at {}",
                clock_ms(ts)
            ));
        }
        text.push('.');
        out.push(text);
    }
    let healthy: Vec<String> = run
        .servers
        .iter()
        .filter(|s| s.abnormal == 0)
        .map(|s| format!("{} ({})", s.server, sessions(s.sessions)))
        .collect();
    if !failing.is_empty() && !healthy.is_empty() {
        out.push(format!("No abnormal teardown on {}.", join_and(&healthy)));
    }
    out
}

fn join_and(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// The lowest load at which a session that ended abnormally began.
fn knee(run: &LoadRun, a: &Analysis) -> Option<usize> {
    a.sessions
        .iter()
        .zip(&run.load)
        .filter(|(s, _)| s.verdict.is_abnormal())
        .map(|(_, l)| *l)
        .min()
}

/// The failure rate of each band of load, and whether it follows the load: bands of at
/// least 10 sessions whose rates lie within 10 points of each other do not.
fn failure_by_band(run: &LoadRun) -> Option<String> {
    let bands: Vec<&super::Band> = run.bands.iter().filter(|b| b.sessions > 0).collect();
    if bands.len() < 2 || run.abnormal == 0 {
        return None;
    }
    let list: Vec<String> = bands
        .iter()
        .map(|b| format!("{} open {}", b.label(), percent(b.abnormal, b.sessions)))
        .collect();
    let rates: Vec<f64> = bands
        .iter()
        .filter(|b| b.sessions >= 10)
        .map(|b| b.failure_rate())
        .collect();
    let verdict = match (
        rates.iter().copied().reduce(f64::min),
        rates.iter().copied().reduce(f64::max),
    ) {
        (Some(lo), Some(hi)) if rates.len() >= 2 && hi - lo <= 0.10 => {
            ": about the same at every load, so the failures do not follow the load"
        }
        _ => "",
    };
    Some(format!(
        "Failure rate by band of load: {}{verdict}.",
        list.join(", ")
    ))
}

fn failure_by_load(a: &Analysis, run: &LoadRun) -> Option<String> {
    let k = knee(run, a)?;
    let (peak, _) = run.peak?;
    let count = |pred: &dyn Fn(usize) -> bool| {
        a.sessions
            .iter()
            .zip(&run.load)
            .filter(|(_, l)| pred(**l))
            .fold((0, 0), |(n, bad), (s, _)| {
                (n + 1, bad + usize::from(s.verdict.is_abnormal()))
            })
    };
    let (n_hi, bad_hi) = count(&|l| l >= k);
    let above = format!(
        "{} ({bad_hi} of {n_hi}) of the sessions that began with {} open",
        percent(bad_hi, n_hi),
        span(k, peak)
    );
    if k <= 1 {
        return Some(format!(
            "Sessions fail at every load: {above} ended abnormally."
        ));
    }
    let (n_lo, bad_lo) = count(&|l| l < k);
    Some(format!(
        "By load (sessions open when a session began): {} ({bad_lo} of {n_lo}) of the sessions that began with fewer than {k} open ended abnormally, {above}.",
        percent(bad_lo, n_lo)
    ))
}

/// A median at least twice the baseline's, and 1 ms more: a slowdown.
fn slow(base: &Spread, x: &Spread) -> bool {
    x.p50 >= 2.0 * base.p50 && x.p50 - base.p50 >= 1.0
}

/// Median of `value` over the sessions of `server` (all when `None`) whose load is in
/// `range`.
fn median_where(
    a: &Analysis,
    run: &LoadRun,
    server: Option<SocketAddr>,
    range: std::ops::RangeInclusive<usize>,
    value: &dyn Fn(&Session) -> Option<f64>,
) -> Option<Spread> {
    let v: Vec<f64> = a
        .sessions
        .iter()
        .zip(&run.load)
        .filter(|(s, l)| range.contains(l) && server.is_none_or(|x| s.server == x))
        .filter_map(|(s, _)| value(s))
        .collect();
    Spread::of(v)
}

fn latency(
    a: &Analysis,
    run: &LoadRun,
    what: &str,
    value: &dyn Fn(&Session) -> Option<f64>,
) -> Option<String> {
    let (peak, _) = run.peak?;
    let server = run.causes.first().map(|c| c.server);
    let w = run.band_width.max(1);
    let low = median_where(a, run, server, 1..=w, value)?;
    let on = server.map(|s| format!(" on {s}")).unwrap_or_default();
    if peak <= w {
        // One band: nothing to compare.
        return Some(format!(
            "{what}{on}: median {} (p90 {}) with up to {} open.",
            duration(low.p50),
            duration(low.p90),
            sessions(peak)
        ));
    }
    let knee = knee(run, a).filter(|k| *k > w);
    let Some(k) = knee else {
        let from = (peak + 1).saturating_sub(w).max(w + 1);
        let high = median_where(a, run, server, from..=peak, value)?;
        let trend = if slow(&low, &high) {
            format!("it rises {:.1}× with load", high.p50 / low.p50)
        } else {
            "no slowdown with load".to_string()
        };
        return Some(format!(
            "{what}{on}, median: {} with {} open, {} (p90 {}) with {} open: {trend}.",
            duration(low.p50),
            span(1, w),
            duration(high.p50),
            duration(high.p90),
            span(from, peak),
        ));
    };
    let before = (k > w + 1)
        .then(|| median_where(a, run, server, (k - w).max(w + 1)..=k - 1, value))
        .flatten();
    let after = median_where(a, run, server, k..=peak, value);
    let mut parts = vec![format!("{} with {} open", duration(low.p50), span(1, w))];
    if let Some(b) = &before {
        parts.push(format!(
            "{} with {} open",
            duration(b.p50),
            span((k - w).max(w + 1), k - 1)
        ));
    }
    if let Some(x) = &after {
        parts.push(format!(
            "{} (p90 {}) from {k} open on, where the failures are",
            duration(x.p50),
            duration(x.p90)
        ));
    }
    let conclusion = match (&before, &after) {
        (Some(b), _) if slow(&low, b) => format!(
            "the server slowed down ({:.1}×) before it started dropping",
            b.p50 / low.p50
        ),
        (_, Some(x)) if slow(&low, x) => format!(
            "latency rose ({:.1}×) only once sessions were being dropped",
            x.p50 / low.p50
        ),
        _ => "no slowdown before the drops".to_string(),
    };
    Some(format!(
        "{what}{on}, median: {}: {conclusion}.",
        parts.join(", ")
    ))
}

fn close_codes(run: &LoadRun) -> Option<String> {
    let codes: Vec<String> = run
        .summary
        .by_observed_code
        .iter()
        .filter_map(|(c, n)| c.map(|c| format!("{c} in {n}")))
        .collect();
    if codes.is_empty() {
        return None;
    }
    let has_1006 = run
        .summary
        .by_observed_code
        .iter()
        .any(|(c, _)| *c == Some(1006));
    let note = if has_1006 {
        " (1006: the connection ended without a close frame reaching the client)"
    } else {
        ""
    };
    Some(format!("Clients observed {}{note}.", join_and(&codes)))
}

fn last_abnormal(a: &Analysis, run: &LoadRun) -> Option<String> {
    let first = run.summary.first_abnormal.as_ref()?;
    let last = a
        .sessions
        .iter()
        .filter(|s| s.verdict.is_abnormal())
        .map(Session::closed_at)
        .max()?;
    if last == first.ts {
        return None;
    }
    let second = run
        .seconds
        .iter()
        .max_by_key(|s| (s.ended_abnormal, std::cmp::Reverse(s.ts)))?;
    Some(format!(
        "Abnormal teardowns go on until {} UTC ({} after the first); the worst second, from {}, had {} of them with up to {} open.",
        clock_ms(last),
        duration(last.millis_since(first.ts)),
        clock_ms(second.ts),
        second.ended_abnormal,
        sessions(second.max_open)
    ))
}

fn still_open(a: &Analysis) -> Option<String> {
    let n = a
        .sessions
        .iter()
        .filter(|s| s.verdict == Verdict::OpenAtCaptureEnd)
        .count();
    (n > 0).then(|| {
        format!("{n} sessions were still open when the capture ended (no verdict on them).")
    })
}

/// The findings of a run, most important first.
pub fn write(a: &Analysis, run: &LoadRun) -> Vec<String> {
    if a.sessions.is_empty() {
        return vec!["No WebSocket session in the capture.".into()];
    }
    let mut out: Vec<String> = Vec::new();
    out.extend(overview(run));
    if run.abnormal == 0 {
        out.push(
            "No abnormal teardown: every session closed cleanly or was still open at the end."
                .into(),
        );
    }
    out.extend(first_and_cause(a, run));
    out.extend(other_causes(a, run));
    out.extend(by_server(run));
    out.extend(failure_by_load(a, run));
    out.extend(failure_by_band(run));
    out.extend(last_abnormal(a, run));
    out.extend(latency(a, run, "Handshake latency (SYN to 101)", &|s| {
        s.handshake_ms
    }));
    out.extend(latency(
        a,
        run,
        "STUN round trip",
        &Session::stun_rtt_mean_ms,
    ));
    out.extend(close_codes(run));
    out.extend(still_open(a));
    // Age of every torn-down session, when one age dominates the whole run.
    let ages: Vec<f64> = a
        .sessions
        .iter()
        .filter_map(Session::age_at_teardown_ms)
        .collect();
    if let Some(all) = Spread::of(ages) {
        if run.abnormal > 0 && all.n >= 3 && all.iqr() <= 0.05 * all.p50 && all.p50 >= 100.0 {
            out.push(format!(
                "Most sessions of the run end at the same age, {} (IQR {}): the test plan's own duration or a timeout common to all.",
                duration(all.p50),
                duration(all.iqr())
            ));
        }
    }
    out
}
