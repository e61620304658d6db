//! The report's tables, as plain text cells: the HTML and the Markdown report render the
//! same tables, each escaping the cells its own way.

use crate::analysis::Analysis;
use crate::loadrun::{clock_ms, duration, percent, LoadRun, Spread};
use crate::session::{Session, Verdict};
use std::collections::BTreeMap;

/// A table of text cells.
pub struct Table {
    /// Anchor id (HTML).
    pub id: &'static str,
    /// Heading.
    pub title: String,
    /// A sentence under the heading.
    pub note: String,
    /// Column headers.
    pub headers: Vec<String>,
    /// Which columns are numbers (right-aligned).
    pub numeric: Vec<bool>,
    /// Which columns hold long text that may wrap (the others stay on one line).
    pub wrap: Vec<bool>,
    /// Rows of cells.
    pub rows: Vec<Vec<String>>,
}

impl Table {
    fn new(id: &'static str, title: &str, note: &str, columns: &[(&str, Col)]) -> Table {
        Table {
            id,
            title: title.to_string(),
            note: note.to_string(),
            headers: columns.iter().map(|c| c.0.to_string()).collect(),
            numeric: columns.iter().map(|c| c.1 == Col::Num).collect(),
            wrap: columns.iter().map(|c| c.1 == Col::Wrap).collect(),
            rows: Vec::new(),
        }
    }
}

/// How a column is laid out.
#[derive(Copy, Clone, PartialEq, Eq)]
enum Col {
    /// A number, right-aligned.
    Num,
    /// Short text on one line.
    Text,
    /// Long text that may wrap.
    Wrap,
}

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map(|x| x.to_string()).unwrap_or_default()
}

fn ms(v: Option<f64>) -> String {
    v.map(duration).unwrap_or_default()
}

fn verdict_list(by: &BTreeMap<Verdict, usize>) -> String {
    let mut v: Vec<(&Verdict, &usize)> = by.iter().collect();
    v.sort_by(|a, b| b.1.cmp(a.1));
    v.iter()
        .map(|(v, n)| format!("{n} {v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Sessions per verdict, with who started the teardown and what the clients saw.
pub fn verdicts(a: &Analysis, run: &LoadRun) -> Table {
    let mut t = Table::new(
        "verdicts",
        "Verdicts",
        "Who started each session's teardown and how (the first teardown event on the wire decides).",
        &[
            ("verdict", Col::Text),
            ("meaning", Col::Wrap),
            ("sessions", Col::Num),
            ("share", Col::Num),
            ("teardown started by", Col::Text),
            ("client observed", Col::Wrap),
        ],
    );
    for (v, n) in &run.summary.by_verdict {
        let mut codes: BTreeMap<Option<u16>, usize> = BTreeMap::new();
        let mut by: BTreeMap<&str, usize> = BTreeMap::new();
        for s in a.sessions.iter().filter(|s| s.verdict == *v) {
            *codes.entry(s.client_observed_code).or_default() += 1;
            *by.entry(s.teardown_initiator.as_str()).or_default() += 1;
        }
        t.rows.push(vec![
            v.to_string(),
            crate::loadrun::describe(*v).to_string(),
            n.to_string(),
            percent(*n, run.sessions),
            by.keys().copied().collect::<Vec<_>>().join(", "),
            codes
                .iter()
                .map(|(c, n)| match c {
                    Some(c) => format!("{c} ×{n}"),
                    None if *v == Verdict::OpenAtCaptureEnd => format!("(open) ×{n}"),
                    None => format!("(unknown) ×{n}"),
                })
                .collect::<Vec<_>>()
                .join(", "),
        ]);
    }
    t
}

fn spread_cells(s: &Option<Spread>) -> [String; 3] {
    match s {
        Some(s) => [duration(s.p50), duration(s.p90), duration(s.p99)],
        None => Default::default(),
    }
}

/// Time at risk, drops and latency by band of established concurrency, per server.
pub fn bands(run: &LoadRun) -> Table {
    let stun = run
        .servers
        .iter()
        .flat_map(|s| &s.bands)
        .any(|b| b.stun_rtt_ms.is_some());
    let mut cols = vec![
        ("server", Col::Text),
        ("established on it", Col::Text),
        ("session-min at risk", Col::Num),
        ("teardowns", Col::Num),
        ("server drops", Col::Num),
        ("drops per session-min", Col::Num),
        ("drop verdicts", Col::Wrap),
        ("sessions began", Col::Num),
        ("handshake p50", Col::Num),
        ("p90", Col::Num),
        ("p99", Col::Num),
    ];
    if stun {
        cols.extend([
            ("STUN rtt p50", Col::Num),
            ("p90", Col::Num),
            ("p99", Col::Num),
        ]);
    }
    let mut t = Table::new(
        "bands",
        "Drops and latency by established concurrency",
        &format!(
            "Per server, bands of the sessions established on it. Time at risk: session-minutes spent established while the count was in the band; teardowns and server drops of established sessions by the count when their teardown started (itself included); hazard: drops per session-minute at risk. Sessions began, handshake (SYN to the upgrade response){}: by the count just before each session began. Empty bands left out.",
            if stun { " and STUN (each session's mean round trip)" } else { "" }
        ),
        &cols,
    );
    for s in &run.servers {
        for b in s
            .bands
            .iter()
            .filter(|b| b.session_minutes > 0.0 || b.sessions > 0)
        {
            let mut row = vec![
                s.server.to_string(),
                b.label(),
                format!("{:.1}", b.session_minutes),
                b.teardowns.to_string(),
                b.drops.to_string(),
                b.hazard().map(|h| format!("{h:.3}")).unwrap_or_default(),
                verdict_list(&b.by_verdict),
                b.sessions.to_string(),
            ];
            row.extend(spread_cells(&b.handshake_ms));
            if stun {
                row.extend(spread_cells(&b.stun_rtt_ms));
            }
            t.rows.push(row);
        }
    }
    t
}

/// Sessions and failures per server address.
pub fn servers(run: &LoadRun) -> Table {
    let mut t = Table::new(
        "servers",
        "By server",
        "Each server address with its failures, the most sessions established on it at once (and open, counting connections still in their handshake), and the sessions established on it at its first abnormal teardown.",
        &[
            ("server", Col::Text),
            ("sessions", Col::Num),
            ("abnormal", Col::Num),
            ("failure rate", Col::Num),
            ("abnormal verdicts", Col::Wrap),
            ("peak established on it", Col::Num),
            ("peak open on it", Col::Num),
            ("first abnormal (UTC)", Col::Text),
            ("established on it then", Col::Num),
            ("handshake p50", Col::Num),
            ("p90", Col::Num),
        ],
    );
    for s in &run.servers {
        let hs = spread_cells(&s.handshake_ms);
        t.rows.push(vec![
            s.server.to_string(),
            s.sessions.to_string(),
            s.abnormal.to_string(),
            percent(s.abnormal, s.sessions),
            verdict_list(&s.by_verdict),
            s.peak_established.to_string(),
            s.peak_open.to_string(),
            s.first_abnormal
                .map(|(ts, id, _)| format!("{} (session {id})", clock_ms(ts)))
                .unwrap_or_default(),
            opt(s.first_abnormal.map(|f| f.2)),
            hs[0].clone(),
            hs[1].clone(),
        ]);
    }
    t
}

/// Close codes: of the first close frame on the wire, and what clients observed.
pub fn close_codes(run: &LoadRun) -> Table {
    let mut t = Table::new(
        "codes",
        "Close codes",
        "The code of the first close frame on the wire (1005: it had none) and the code the client's WebSocket API reports (1006: no close frame reached it).",
        &[
            ("code", Col::Text),
            ("first close frame on the wire", Col::Num),
            ("client observed", Col::Num),
        ],
    );
    let observed: BTreeMap<Option<u16>, usize> =
        run.summary.by_observed_code.iter().copied().collect();
    let mut codes: Vec<Option<u16>> = run
        .by_close_code
        .keys()
        .chain(observed.keys())
        .copied()
        .collect();
    codes.sort();
    codes.dedup();
    for c in codes {
        t.rows.push(vec![
            c.map(|c| c.to_string())
                .unwrap_or_else(|| "(none / still open)".into()),
            run.by_close_code.get(&c).copied().unwrap_or(0).to_string(),
            observed.get(&c).copied().unwrap_or(0).to_string(),
        ]);
    }
    if run.summary.observed_code_unknown + run.close_code_unknown > 0 {
        t.rows.push(vec![
            "(unknown: encrypted, no key)".into(),
            run.close_code_unknown.to_string(),
            run.summary.observed_code_unknown.to_string(),
        ]);
    }
    t
}

/// The sessions of the timeline chart: the first failing ones, and healthy ones that
/// began among them for contrast; in start order.
pub fn timeline_sessions(a: &Analysis, failing: usize, healthy: usize) -> Vec<&Session> {
    let mut bad: Vec<&Session> = a
        .sessions
        .iter()
        .filter(|s| s.verdict.is_abnormal())
        .collect();
    bad.sort_by_key(|s| (s.closed_at(), s.id));
    bad.truncate(failing);
    let mut out = bad.clone();
    if let Some(first) = bad.iter().map(|s| s.start_ts).min() {
        let mut good: Vec<&Session> = a
            .sessions
            .iter()
            .filter(|s| !s.verdict.is_abnormal())
            .collect();
        good.sort_by_key(|s| ((s.start_ts.0 - first.0).abs(), s.id));
        out.extend(good.into_iter().take(healthy));
    }
    out.sort_by_key(|s| (s.start_ts, s.id));
    out
}

/// The first failing sessions in detail.
pub fn first_failing(a: &Analysis, limit: usize) -> Table {
    let mut t = Table::new(
        "failing",
        "First failing sessions",
        &format!("The first {limit} abnormal teardowns in time order, with the sessions established on and connecting to its server when its teardown started (itself included); text from the capture is shown as it was sent."),
        &[
            ("session", Col::Num),
            ("teardown (UTC)", Col::Text),
            ("established then", Col::Num),
            ("connecting then", Col::Num),
            ("client", Col::Text),
            ("server", Col::Text),
            ("path", Col::Wrap),
            ("user agent", Col::Wrap),
            ("verdict", Col::Text),
            ("close frame", Col::Wrap),
            ("age", Col::Num),
            ("client saw", Col::Num),
        ],
    );
    let mut bad: Vec<&Session> = a
        .sessions
        .iter()
        .filter(|s| s.verdict.is_abnormal())
        .collect();
    bad.sort_by_key(|s| (s.closed_at(), s.id));
    for s in bad.into_iter().take(limit) {
        t.rows.push(vec![
            s.id.to_string(),
            s.closed_at().clock(),
            opt(s.established_at_teardown),
            opt(s.connecting_at_teardown),
            s.client.to_string(),
            s.server.to_string(),
            opt(s.request.as_ref().map(|r| r.path.clone())),
            opt(s.request.as_ref().and_then(|r| r.user_agent.clone())),
            s.verdict.to_string(),
            s.first_close
                .as_ref()
                .map(|c| {
                    let code = c.code.unwrap_or(1005);
                    if c.reason.is_empty() {
                        format!("{code} from {}", c.direction.sender().as_str())
                    } else {
                        format!(
                            "{code} {:?} from {}",
                            c.reason,
                            c.direction.sender().as_str()
                        )
                    }
                })
                .unwrap_or_default(),
            ms(s.age_at_teardown_ms()),
            opt(s.client_observed_code),
        ]);
    }
    t
}

/// Client-observed close codes of the teardowns over time (intervals with any).
pub fn codes_over_time(run: &LoadRun) -> Table {
    let mut codes: Vec<Option<u16>> = run
        .buckets
        .iter()
        .flat_map(|b| b.by_observed_code.keys().copied())
        .collect();
    codes.sort();
    codes.dedup();
    let headers: Vec<String> = codes
        .iter()
        // Buckets hold teardowns only: no code there is one unreadable without keys.
        .map(|c| c.map_or("(unknown)".to_string(), |c| c.to_string()))
        .collect();
    let mut cols: Vec<(&str, Col)> = vec![("from (UTC)", Col::Text)];
    cols.extend(headers.iter().map(|h| (h.as_str(), Col::Num)));
    let mut t = Table::new(
        "codes-over-time",
        "Close codes over time",
        "Teardowns in each interval by the code the client observed.",
        &cols,
    );
    for b in run
        .buckets
        .iter()
        .filter(|b| !b.by_observed_code.is_empty())
    {
        let mut row = vec![clock_ms(b.ts)];
        row.extend(
            codes
                .iter()
                .map(|c| b.by_observed_code.get(c).copied().unwrap_or(0).to_string()),
        );
        t.rows.push(row);
    }
    t
}

/// Concurrency and teardowns per second.
pub fn per_second(run: &LoadRun) -> Table {
    let mut t = Table::new(
        "seconds",
        "Concurrency per second",
        "Sessions open at the start of each second and at most during it (connecting ones included), most established during it, sessions started and torn down in it.",
        &[
            ("second (UTC)", Col::Text),
            ("open at start", Col::Num),
            ("max open", Col::Num),
            ("max established", Col::Num),
            ("started", Col::Num),
            ("torn down", Col::Num),
            ("abnormal", Col::Num),
        ],
    );
    for s in &run.seconds {
        t.rows.push(vec![
            s.ts.clock()[..8].to_string(),
            s.open_at_start.to_string(),
            s.max_open.to_string(),
            s.max_established.to_string(),
            s.started.to_string(),
            s.ended.to_string(),
            s.ended_abnormal.to_string(),
        ]);
    }
    t
}
