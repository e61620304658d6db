//! The findings: sentences computed from the numbers, each with its numbers.

use super::{Band, Cause, LoadRun, Spread};
use crate::analysis::Analysis;
use crate::session::{Evidence, Session, Verdict};
use std::collections::BTreeMap;
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
fn span_of(lo: usize, hi: usize) -> String {
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
    a.sessions.iter().filter(move |s| {
        s.verdict == c.verdict && s.server == c.server && super::cause_code(s) == c.code
    })
}

/// A cause as a noun phrase naming its code: `server close frames with an error code
/// (close 1013 "try again later")`, `rejected upgrades (...) (HTTP 503)`.
fn cause_label(a: &Analysis, c: &Cause) -> String {
    match (c.verdict, c.code) {
        (Verdict::HandshakeRejected, Some(status)) => format!("rejected upgrades (HTTP {status})"),
        _ => match common_close(of_cause(a, c)) {
            Some(close) => format!("{} ({close})", describe(c.verdict)),
            None => describe(c.verdict).to_string(),
        },
    }
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
    let (peak, peak_ts) = run.peak_established?;
    let (open, _) = run.peak?;
    Some(format!(
        "{} sessions from {} to {} UTC ({}); at most {} established at once (first at {}), {} open counting connections still in their handshake; {} ended abnormally ({}).",
        run.sessions,
        clock_ms(start),
        clock_ms(end),
        duration(end.millis_since(start)),
        peak,
        clock_ms(peak_ts),
        open,
        run.abnormal,
        percent(run.abnormal, run.sessions)
    ))
}

fn first_and_cause(a: &Analysis, run: &LoadRun) -> Option<String> {
    let f = run.summary.first_abnormal.as_ref()?;
    let s = a.sessions.iter().find(|s| s.id == f.session_id)?;
    let close = close_text(s).map(|c| format!(", {c}")).unwrap_or_default();
    let mut text = format!(
        "Abnormal teardowns begin at {} UTC with {} established and {} connecting on {}: session {} ({}{close})",
        clock_ms(f.ts),
        f.established.unwrap_or_default(),
        f.connecting.unwrap_or_default(),
        f.server,
        f.session_id,
        f.verdict,
    );
    if let Some(c) = run.causes.first() {
        text.push_str(&format!(
            "; {} of the abnormal teardowns ({} of {}) are {} from {}",
            percent(c.sessions, run.abnormal),
            c.sessions,
            run.abnormal,
            cause_label(a, c),
            c.server
        ));
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
            format!(
                "{} from {}: {}{}",
                cause_label(a, c),
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
        format!(
            " and {more} smaller group{}",
            if more == 1 { "" } else { "s" }
        )
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
            "{}: {} of its {} sessions ended abnormally ({}), {} of all abnormal teardowns; at most {} established on it at once ({} open counting connections in their handshake)",
            s.server,
            s.abnormal,
            s.sessions,
            percent(s.abnormal, s.sessions),
            percent(s.abnormal, run.abnormal),
            s.peak_established,
            s.peak_open
        );
        if let Some((ts, id, established)) = s.first_abnormal {
            text.push_str(&format!(
                ", {established} established when its first one (session {id}) went at {}",
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

/// Sessions are short when the median age at teardown is at most this share of the run:
/// then the load when a session began is close to the load when it ended.
const SHORT_SESSION_SHARE: f64 = 0.05;

/// The failure rate by the load when sessions began — only for runs of short sessions,
/// where that load is close to the load at their teardown; said so in the sentence.
fn failure_by_load(a: &Analysis, run: &LoadRun) -> Option<String> {
    let k = knee(run, a)?;
    let (peak, _) = run.peak?;
    let span = run.end?.millis_since(run.start?);
    let ages = Spread::of(
        a.sessions
            .iter()
            .filter_map(Session::age_at_teardown_ms)
            .collect(),
    )?;
    if ages.p50 > SHORT_SESSION_SHARE * span {
        return None;
    }
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
    let (n_lo, bad_lo) = count(&|l| l < k);
    let below = if n_lo > 0 {
        format!(
            "{} ({bad_lo} of {n_lo}) of the sessions that began with fewer than {k} open ended abnormally, ",
            percent(bad_lo, n_lo)
        )
    } else {
        String::new()
    };
    Some(format!(
        "By load when sessions began (sessions open, connecting ones included; meaningful here as sessions are short: median age at teardown {}, {} of the run): {below}{} ({bad_hi} of {n_hi}) of those that began with {} open did.",
        duration(ages.p50),
        percent((ages.p50 * 1000.0) as usize, (span * 1000.0) as usize),
        percent(bad_hi, n_hi),
        span_of(k, peak)
    ))
}

/// `label (count)` pairs joined: `120 server_rst_no_close, 20 close 1013`.
fn kinds(by_kind: &[(String, usize)]) -> String {
    let list: Vec<String> = by_kind.iter().map(|(k, n)| format!("{n} {k}")).collect();
    join_and(&list)
}

/// The range of established concurrency at which each server dropped sessions, its
/// threshold, and whether the drops went on above it.
fn drop_range(run: &LoadRun) -> Vec<String> {
    let mut out = Vec::new();
    for d in &run.summary.server_drops {
        if d.established_max == 0 {
            out.push(format!(
                "Server drops on {} ({}): {} in all; no session was seen established on it, so the concurrency at which it dropped them is not known.",
                d.server,
                kinds(&d.by_kind),
                d.drops
            ));
            continue;
        }
        let all = if d.drops == 1 {
            "its 1 server drop".to_string()
        } else {
            format!("all {} server drops", d.drops)
        };
        let mut text = format!(
            "Server drops on {} ({}): {all} happened with {} established on it",
            d.server,
            kinds(&d.by_kind),
            span_of(d.established_min, d.established_max),
        );
        if d.teardowns_below > 0 {
            text.push_str(&format!(
                "; below {}, 0 of the {} teardowns were drops",
                d.established_min, d.teardowns_below
            ));
        }
        text.push_str(&format!(
            "; from {} established on, {} of {} teardowns ({}) were",
            d.established_min,
            d.drops,
            d.teardowns_from,
            percent(d.drops, d.teardowns_from)
        ));
        if let Some(row) = run.servers.iter().find(|r| r.server == d.server) {
            let above: Vec<&Band> = row
                .bands
                .iter()
                .filter(|b| b.high >= d.established_min && b.session_minutes > 0.0)
                .collect();
            let quiet: Vec<String> = above
                .iter()
                .filter(|b| b.drops == 0)
                .map(|b| b.label())
                .collect();
            if above.len() > 1 && quiet.is_empty() {
                text.push_str(", and drops went on in every band of established sessions above it");
            } else if !quiet.is_empty() {
                text.push_str(&format!(
                    ", but none in the bands {} established",
                    join_and(&quiet)
                ));
            }
        }
        text.push('.');
        out.push(text);
    }
    out
}

/// Server drops per session-minute at risk in each band of established concurrency, on
/// each server that dropped sessions; neighbouring bands without a drop are merged.
fn hazard(run: &LoadRun) -> Vec<String> {
    let mut out = Vec::new();
    for d in &run.summary.server_drops {
        let Some(row) = run.servers.iter().find(|r| r.server == d.server) else {
            continue;
        };
        // (low, high, drops, session-minutes), quiet neighbours merged.
        let mut runs: Vec<(usize, usize, usize, f64)> = Vec::new();
        for b in row.bands.iter().filter(|b| b.session_minutes > 0.0) {
            match runs.last_mut() {
                Some(last) if last.2 == 0 && b.drops == 0 => {
                    last.1 = b.high;
                    last.3 += b.session_minutes;
                }
                _ => runs.push((b.low, b.high, b.drops, b.session_minutes)),
            }
        }
        if runs.len() < 2 {
            continue;
        }
        let list: Vec<String> = runs
            .iter()
            .map(|&(lo, hi, drops, minutes)| {
                let rate = match drops {
                    0 => "no drop".to_string(),
                    1 => format!("1 drop, {:.2} per session-minute", 1.0 / minutes),
                    n => format!("{n} drops, {:.2} per session-minute", n as f64 / minutes),
                };
                format!(
                    "{} established: {rate} in {minutes:.1} session-min",
                    super::range_label(lo, hi)
                )
            })
            .collect();
        out.push(format!(
            "Hazard on {} (drops of established sessions per session-minute spent established, by sessions established on it): {}.",
            d.server,
            list.join("; ")
        ));
    }
    out
}

/// A median at least twice the baseline's, and 1 ms more: a slowdown.
fn slow(base: &Spread, x: &Spread) -> bool {
    x.p50 >= 2.0 * base.p50 && x.p50 - base.p50 >= 1.0
}

/// A latency against the sessions established on the server when each session began,
/// per band, on the server with the most drops (else the one with the most sessions).
fn latency(run: &LoadRun, what: &str, value: fn(&Band) -> &Option<Spread>) -> Option<String> {
    let row = match run.summary.server_drops.first() {
        Some(d) => run.servers.iter().find(|r| r.server == d.server)?,
        None => run.servers.first()?,
    };
    let bands: Vec<(&Band, &Spread)> = row
        .bands
        .iter()
        .filter_map(|b| value(b).as_ref().map(|v| (b, v)))
        .collect();
    let ((low_b, low), (high_b, high)) = (*bands.first()?, *bands.last()?);
    let on = format!(
        "{what} on {}, by sessions established on it when each began",
        row.server
    );
    if bands.len() == 1 {
        return Some(format!(
            "{on}: median {} (p90 {}) at {} established.",
            duration(low.p50),
            duration(low.p90),
            low_b.label()
        ));
    }
    let list: Vec<String> = bands
        .iter()
        .map(|(b, v)| format!("{} at {}", duration(v.p50), b.label()))
        .collect();
    let trend = if slow(low, high) {
        format!(
            "it rises {:.1}× with established load (p90 {} at {})",
            high.p50 / low.p50,
            duration(high.p90),
            high_b.label()
        )
    } else {
        "no slowdown with established load".to_string()
    };
    Some(format!("{on}, median: {}: {trend}.", list.join(", ")))
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
        "Abnormal teardowns go on until {} UTC ({} after the first); the worst second, from {}, had {} of them with up to {} established.",
        clock_ms(last),
        duration(last.millis_since(first.ts)),
        clock_ms(second.ts),
        second.ended_abnormal,
        sessions(second.max_established)
    ))
}

/// TLS sessions whose frames were neither decrypted nor inferred hide their upgrade:
/// they count as connecting until their teardown, and not in the established counts.
/// Said when any. A failed TLS handshake hides nothing: no upgrade followed it.
fn hidden_upgrades(a: &Analysis) -> Option<String> {
    let hidden = a
        .sessions
        .iter()
        .filter(|s| {
            s.tls.is_some()
                && s.evidence == Evidence::TcpOnly
                && s.verdict != Verdict::TlsHandshakeFailed
        })
        .count();
    (hidden > 0).then(|| {
        format!(
            "TLS sessions that could be neither decrypted (no key for them in a key log) nor read from their record lengths: {hidden}. Their upgrade is not visible, so they count as connecting until their teardown and are left out of the established counts; give the client's key log (--keylog) to count them."
        )
    })
}

fn still_open(a: &Analysis) -> Option<String> {
    let n = a
        .sessions
        .iter()
        .filter(|s| s.verdict == Verdict::OpenAtCaptureEnd)
        .count();
    let were = if n == 1 { "was" } else { "were" };
    (n > 0).then(|| {
        format!(
            "{} {were} still open when the capture ended (no verdict on them).",
            sessions(n)
        )
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
    out.extend(drop_range(run));
    out.extend(hazard(run));
    out.extend(by_server(run));
    out.extend(failure_by_load(a, run));
    out.extend(last_abnormal(a, run));
    out.extend(latency(run, "Handshake latency (SYN to 101)", |b| {
        &b.handshake_ms
    }));
    out.extend(latency(run, "STUN round trip", |b| &b.stun_rtt_ms));
    out.extend(close_codes(run));
    out.extend(still_open(a));
    out.extend(hidden_upgrades(a));
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
