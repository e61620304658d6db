//! The self-contained HTML report: inline CSS and SVG, no scripts, fonts or links to
//! anything outside the file. Every text from the capture goes through [`esc`].

use super::svg::{number, Axis, Plot, WIDTH};
use super::tables::{self, Table};
use super::{esc, Meta};
use crate::analysis::Analysis;
use crate::loadrun::{clock_ms, duration, percent, LoadRun, ServerRow, Step};
use crate::session::{Direction, EventKind, InferredEvent, Session, Verdict};
use crate::time::Timestamp;
use std::fmt::Write as _;
use std::io::{self, Write};

/// Colour of a verdict in every chart.
pub fn verdict_color(v: Verdict) -> &'static str {
    match v {
        Verdict::CleanCloseClient => "#4e9a6b",
        Verdict::CleanCloseServer => "#93c9a4",
        Verdict::ClientCloseError => "#d9a23b",
        Verdict::ServerCloseError => "#e8793a",
        Verdict::ServerRstNoClose => "#c62f2f",
        Verdict::ServerFinNoClose => "#e06666",
        Verdict::ClientRstNoClose => "#7b4ea3",
        Verdict::ClientFinNoClose => "#b08fd0",
        Verdict::HandshakeRejected => "#8d5b3a",
        Verdict::HandshakeNoResponse => "#b89478",
        Verdict::ConnectRefused => "#36506b",
        Verdict::SynUnanswered => "#7d8a96",
        Verdict::OpenAtCaptureEnd => "#c3c9cf",
        Verdict::ServerRstEncrypted => "#9e2a2a",
        Verdict::ServerFinEncrypted => "#c98b8b",
        Verdict::ClientRstEncrypted => "#5c3a7d",
        Verdict::ClientFinEncrypted => "#9c86b5",
        Verdict::TlsHandshakeFailed => "#6b4a2f",
        Verdict::ClientCloseEncrypted => "#76b08a",
        Verdict::ServerCloseEncrypted => "#d98a5a",
    }
}

/// Line colours of the per-server concurrency curves.
const SERVER_COLORS: [&str; 6] = [
    "#2f7ebc", "#d9822b", "#7b4ea3", "#3a9d8f", "#b8487a", "#6d7f2a",
];

const CSS: &str = r#"
:root { --ink:#1d2430; --muted:#5d6878; --line:#d8dde4; --bg:#f5f7fa; --bad:#c62f2f; }
* { box-sizing: border-box; }
body { margin:0; background:var(--bg); color:var(--ink);
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", Arial, sans-serif; }
main { max-width: 1200px; margin: 0 auto; padding: 24px 28px 48px; }
header h1 { font-size: 24px; margin: 0 0 4px; }
header p { margin: 0; color: var(--muted); }
.cards { display:grid; grid-template-columns: repeat(5, 1fr); gap: 12px; margin: 20px 0; }
.card { background:#fff; border:1px solid var(--line); border-radius:8px; padding:12px 14px; }
.card .k { color:var(--muted); font-size:12px; text-transform:uppercase; letter-spacing:.04em; }
.card .v { font-size:22px; font-weight:650; margin-top:2px; }
.card .s { color:var(--muted); font-size:12px; overflow-wrap:anywhere; }
.card.alert .v { color: var(--bad); }
section { background:#fff; border:1px solid var(--line); border-radius:8px; padding:16px 18px; margin:16px 0; overflow-x:auto; }
section h2 { font-size:17px; margin:0 0 4px; }
section p.note { margin:0 0 10px; color:var(--muted); font-size:13px; }
ol.findings { margin:6px 0 0; padding-left: 22px; }
ol.findings li { margin: 5px 0; }
.chart { width:100%; height:auto; display:block; }
.chart text { font-size:12px; fill:#3b4554; }
.chart .tick { fill:#5d6878; }
.chart .axis-title { font-size:12.5px; fill:#1d2430; font-weight:600; }
.chart .grid { stroke:#e9edf2; }
.chart .axis, .chart .tickmark { stroke:#8792a2; }
.chart .label { font-size:11.5px; }
.chart .mono { font-family: ui-monospace, "DejaVu Sans Mono", Menlo, monospace; font-size:11px; }
.legend { display:flex; flex-wrap:wrap; gap:6px 16px; margin:6px 0 0 70px; font-size:12.5px; color:#3b4554; }
.legend span { display:inline-flex; align-items:center; gap:6px; }
.legend i { display:inline-block; width:14px; height:10px; border-radius:2px; }
.legend i.line { height:3px; }
.legend i.dot { width:10px; height:10px; border-radius:50%; }
table { border-collapse: collapse; width:100%; font-size:13px; }
th, td { text-align:left; padding:5px 8px; border-bottom:1px solid #edf0f4; vertical-align:top; white-space:nowrap; }
td.w { white-space:normal; overflow-wrap:anywhere; min-width:13em; }
th { white-space:normal; }
th { color:var(--muted); font-weight:600; font-size:12px; border-bottom:1px solid var(--line); }
td.n { text-align:right; font-variant-numeric: tabular-nums; white-space:nowrap; }
th.n { text-align:right; }
.two { display:grid; grid-template-columns: 3fr 2fr; gap:16px; }
.two section { margin:0; }
details summary { cursor:pointer; color:var(--muted); }
footer { color:var(--muted); font-size:12px; margin-top:24px; }
"#;

fn legend(items: &[(String, &str, &str)]) -> String {
    let mut s = String::from(r#"<div class="legend">"#);
    for (label, color, class) in items {
        let _ = write!(
            s,
            r#"<span><i class="{class}" style="background:{color}"></i>{}</span>"#,
            esc(label)
        );
    }
    s.push_str("</div>");
    s
}

fn verdict_legend(verdicts: &[Verdict]) -> String {
    let items: Vec<(String, &str, &str)> = verdicts
        .iter()
        .map(|v| (v.to_string(), verdict_color(*v), ""))
        .collect();
    legend(&items)
}

/// A step path (`M`/`H`/`V` commands) of one count of a concurrency step function, at
/// most a few points per pixel column.
fn step_path(p: &Plot, steps: &[Step], count: fn(&Step) -> usize, end: Timestamp) -> String {
    let mut d = String::new();
    let Some(first) = steps.first() else {
        return d;
    };
    let _ = write!(d, "M{:.1},{:.1}", p.px(first.ts.0 as f64), p.py(0.0));
    let mut col = f64::NAN;
    let (mut lo, mut hi, mut last) = (0usize, 0usize, 0usize);
    let flush = |d: &mut String, x: f64, lo: usize, hi: usize, last: usize| {
        let _ = write!(d, "H{x:.1}");
        // Several changes within one pixel column: keep a visible peak only when it
        // stands out.
        if hi >= lo + 2 {
            let _ = write!(d, "V{:.1}V{:.1}", p.py(hi as f64), p.py(lo as f64));
        }
        let _ = write!(d, "V{:.1}", p.py(last as f64));
    };
    for s in steps {
        let n = count(s);
        let x = (p.px(s.ts.0 as f64) * 2.0).round() / 2.0;
        if x != col {
            if !col.is_nan() {
                flush(&mut d, col, lo, hi, last);
            }
            col = x;
            lo = n;
            hi = n;
        }
        lo = lo.min(n);
        hi = hi.max(n);
        last = n;
    }
    flush(&mut d, col, lo, hi, last);
    let _ = write!(d, "H{:.1}", p.px(end.0 as f64));
    d
}

fn concurrency_chart(a: &Analysis, run: &LoadRun) -> String {
    let (Some(start), Some(end), Some((peak, _))) = (run.start, run.end, run.peak) else {
        return String::new();
    };
    let mut p = Plot::new(
        340.0,
        Axis::time(start, end, "time (UTC)"),
        Axis::linear(0.0, peak as f64, 6, "sessions", number),
    );
    let mut items: Vec<(String, &str, &str)> = vec![
        ("established, all servers".into(), "#1d2430", "line"),
        (
            "connecting (SYN seen, not yet established)".into(),
            "#9aa5b1",
            "line",
        ),
    ];
    let mut body = String::new();
    if run.servers.len() > 1 && run.servers.len() <= SERVER_COLORS.len() {
        for (srv, color) in run.servers.iter().zip(SERVER_COLORS) {
            let _ = write!(
                body,
                r#"<path d="{}" fill="none" stroke="{color}" stroke-width="1.6" opacity="0.85"/>"#,
                step_path(&p, &srv.steps, |s| s.established, end)
            );
            items.push((format!("established on {}", srv.server), color, "line"));
        }
    }
    let _ = write!(
        body,
        r##"<path d="{}" fill="none" stroke="#9aa5b1" stroke-width="1.4" stroke-dasharray="4 3"/><path d="{}" fill="none" stroke="#1d2430" stroke-width="2.2"/>"##,
        step_path(&p, &run.steps, |s| s.connecting, end),
        step_path(&p, &run.steps, |s| s.established, end)
    );
    if let Some(f) = &run.summary.first_abnormal {
        let x = p.px(f.ts.0 as f64);
        let anchor = if x > WIDTH * 0.7 { "end" } else { "start" };
        let dx = if anchor == "end" { -6.0 } else { 6.0 };
        let _ = write!(
            body,
            r##"<line x1="{x:.1}" x2="{x:.1}" y1="{t}" y2="{b}" stroke="#c62f2f" stroke-dasharray="5 4" stroke-width="1.3"/><text x="{tx:.1}" y="{ty}" text-anchor="{anchor}" style="fill:#c62f2f;font-weight:600">{}</text>"##,
            esc(&format!(
                "first abnormal teardown {} UTC, {} established on {}",
                clock_ms(f.ts),
                f.established.unwrap_or_default(),
                f.server
            )),
            t = p.top,
            b = p.floor(),
            tx = x + dx,
            ty = p.top + 12.0,
        );
    }
    let mut seen: Vec<Verdict> = Vec::new();
    for s in a.sessions.iter().filter(|s| s.verdict.is_abnormal()) {
        let t = s.closed_at();
        let established = s.established_at_teardown.unwrap_or_default();
        let (x, y) = (p.px(t.0 as f64), p.py(established as f64));
        let _ = write!(
            body,
            r##"<path d="M{:.1},{:.1}l5,-9l5,9z" fill="{}" stroke="#fff" stroke-width="0.8"><title>{}</title></path>"##,
            x - 5.0,
            y + 3.0,
            verdict_color(s.verdict),
            esc(&format!(
                "session {} {} at {} UTC with {established} established on its server ({} → {})",
                s.id,
                s.verdict,
                t.clock(),
                s.client,
                s.server
            ))
        );
        if !seen.contains(&s.verdict) {
            seen.push(s.verdict);
        }
    }
    seen.sort();
    for v in seen {
        items.push((format!("{v} (teardown)"), verdict_color(v), ""));
    }
    p.body = body;
    let mut out =
        p.finish("Sessions established and connecting over time, abnormal teardowns marked");
    out.push_str(&legend(&items));
    out
}

fn teardowns_chart(run: &LoadRun) -> String {
    let (Some(first), Some(last)) = (run.buckets.first(), run.buckets.last()) else {
        return String::new();
    };
    let width = run.bucket_ns;
    let max = run
        .buckets
        .iter()
        .map(|b| b.by_verdict.values().sum::<usize>())
        .max()
        .unwrap_or(0);
    let mut p = Plot::new(
        260.0,
        Axis::time(first.ts, Timestamp(last.ts.0 + width), "time (UTC)"),
        Axis::linear(0.0, max as f64, 5, "teardowns", number),
    );
    let mut used: Vec<Verdict> = Vec::new();
    for b in &run.buckets {
        let x0 = p.px(b.ts.0 as f64) + 1.0;
        let x1 = p.px((b.ts.0 + width) as f64) - 1.0;
        let mut acc = 0usize;
        for v in Verdict::all() {
            let Some(n) = b.by_verdict.get(&v).copied() else {
                continue;
            };
            let (y0, y1) = (p.py(acc as f64), p.py((acc + n) as f64));
            let _ = write!(
                p.body,
                r#"<rect x="{x0:.1}" y="{y1:.1}" width="{w:.1}" height="{h:.1}" fill="{}"><title>{}</title></rect>"#,
                verdict_color(v),
                esc(&format!(
                    "{} to {} UTC: {n} {v}",
                    clock_ms(b.ts),
                    clock_ms(Timestamp(b.ts.0 + width))
                )),
                w = (x1 - x0).max(1.0),
                h = y0 - y1
            );
            acc += n;
            if !used.contains(&v) {
                used.push(v);
            }
        }
    }
    used.sort();
    let mut out = p.finish("Teardowns over time by verdict");
    out.push_str(&verdict_legend(&used));
    out
}

fn age_chart(run: &LoadRun) -> String {
    let (Some(first), Some(last)) = (run.ages.first(), run.ages.last()) else {
        return String::new();
    };
    let max = run
        .ages
        .iter()
        .map(|b| b.normal + b.abnormal)
        .max()
        .unwrap_or(0);
    let mut p = Plot::new(
        260.0,
        Axis::linear(
            first.from_ms as f64 / 1000.0,
            last.to_ms as f64 / 1000.0,
            10,
            "age at teardown (s, first packet to teardown start)",
            number,
        ),
        Axis::linear(0.0, max as f64, 5, "sessions", number),
    );
    for b in &run.ages {
        let x0 = p.px(b.from_ms as f64 / 1000.0) + 1.0;
        let x1 = p.px(b.to_ms as f64 / 1000.0) - 1.0;
        let mut acc = 0;
        for (n, color, what) in [
            (b.normal, "#4e9a6b", "normal"),
            (b.abnormal, "#c62f2f", "abnormal"),
        ] {
            if n == 0 {
                continue;
            }
            let (y0, y1) = (p.py(acc as f64), p.py((acc + n) as f64));
            let _ = write!(
                p.body,
                r#"<rect x="{x0:.1}" y="{y1:.1}" width="{w:.1}" height="{h:.1}" fill="{color}"><title>{n} {what} teardowns at {} to {}</title></rect>"#,
                duration(b.from_ms as f64),
                duration(b.to_ms as f64),
                w = (x1 - x0).max(1.0),
                h = y0 - y1
            );
            acc += n;
        }
    }
    let mut out = p.finish("Age of sessions at teardown");
    out.push_str(&legend(&[
        ("normal teardown".into(), "#4e9a6b", ""),
        ("abnormal teardown".into(), "#c62f2f", ""),
    ]));
    out
}

/// The server whose bands the latency chart draws: the one with the most drops, else the
/// one with the most sessions.
fn main_server(run: &LoadRun) -> Option<&ServerRow> {
    match run.summary.server_drops.first() {
        Some(d) => run.servers.iter().find(|r| r.server == d.server),
        None => run.servers.first(),
    }
}

fn latency_chart(a: &Analysis, run: &LoadRun) -> String {
    let Some(peak) = run.servers.iter().map(|s| s.peak_established).max() else {
        return String::new();
    };
    let points: Vec<(usize, f64, &Session)> = a
        .sessions
        .iter()
        .filter_map(|s| s.handshake_ms.map(|h| (s.established_at_start, h, s)))
        .collect();
    if points.is_empty() {
        return String::new();
    }
    let mut all: Vec<f64> = points.iter().map(|p| p.1).collect();
    all.sort_by(f64::total_cmp);
    // Outliers beyond 3× the 99th percentile are drawn on the top edge.
    let p99 = all[((all.len() - 1) as f64 * 0.99) as usize];
    let top = all[all.len() - 1].min(p99 * 3.0).max(0.001);
    let mut p = Plot::new(
        300.0,
        Axis::linear(
            0.0,
            peak as f64,
            10,
            "sessions established on its server when the session began",
            number,
        ),
        Axis::linear(0.0, top, 5, "handshake SYN → 101 (ms)", number),
    );
    let ymax = p.y.max;
    for (l, h, s) in &points {
        let color = if s.verdict.is_abnormal() {
            verdict_color(s.verdict)
        } else {
            "#8fa3b8"
        };
        let _ = write!(
            p.body,
            r#"<circle cx="{:.1}" cy="{:.1}" r="3.2" fill="{color}" fill-opacity="0.75"><title>{}</title></circle>"#,
            p.px(*l as f64),
            p.py(h.min(ymax)),
            esc(&format!(
                "session {}: {} established, handshake {}, {}",
                s.id,
                l,
                duration(*h),
                s.verdict
            ))
        );
    }
    let bands = main_server(run)
        .map(|r| r.bands.as_slice())
        .unwrap_or_default();
    for (pick, dash, color) in [(0, "", "#1d2430"), (1, "6 4", "#5d6878")] {
        let pts: Vec<String> = bands
            .iter()
            .filter_map(|b| {
                let h = b.handshake_ms.as_ref()?;
                let v = if pick == 0 { h.p50 } else { h.p90 };
                Some(format!(
                    "{:.1},{:.1}",
                    p.px((b.low + b.high) as f64 / 2.0),
                    p.py(v.min(ymax))
                ))
            })
            .collect();
        if pts.len() > 1 {
            let _ = write!(
                p.body,
                r#"<polyline points="{}" fill="none" stroke="{color}" stroke-width="2" stroke-dasharray="{dash}"/>"#,
                pts.join(" ")
            );
        }
    }
    let mut out = p.finish("Handshake latency against established sessions");
    let on = main_server(run)
        .map(|r| format!(" on {}", r.server))
        .unwrap_or_default();
    out.push_str(&legend(&[
        ("normal session".into(), "#8fa3b8", "dot"),
        ("abnormal session (verdict colour)".into(), "#c62f2f", "dot"),
        (format!("median per band{on}"), "#1d2430", "line"),
        (format!("90th percentile per band{on}"), "#5d6878", "line"),
    ]));
    out
}

/// One marker of the timeline chart for an event, if it is one worth drawing.
fn event_mark(kind: &EventKind, dir: Direction) -> Option<(&'static str, &'static str)> {
    let server = dir == Direction::ServerToClient;
    match kind {
        EventKind::HandshakeResponse { status: 101, .. } => Some(("tick", "#2f7ebc")),
        EventKind::HandshakeResponse { .. } => Some(("tick", "#8d5b3a")),
        EventKind::Close { .. }
        | EventKind::Inferred {
            what: InferredEvent::CloseFrame,
            ..
        } => Some(("diamond", if server { "#e8793a" } else { "#4e9a6b" })),
        EventKind::Fin { .. } => Some(("bar", "#36506b")),
        EventKind::Rst => Some(("cross", "#c62f2f")),
        EventKind::ZeroWindow => Some(("dot", "#7b4ea3")),
        _ => None,
    }
}

fn timeline_chart(sessions: &[&Session]) -> String {
    let (Some(t0), Some(t1)) = (
        sessions.iter().map(|s| s.start_ts).min(),
        sessions.iter().map(|s| s.end_ts).max(),
    ) else {
        return String::new();
    };
    let row = 24.0;
    let height = 60.0 + row * sessions.len() as f64;
    let mut p = Plot::new(
        height,
        Axis::time(t0, t1, "time (UTC)"),
        Axis {
            min: 0.0,
            max: sessions.len() as f64,
            ticks: Vec::new(),
            title: String::new(),
        },
    );
    p.left = 215.0;
    p.right = 170.0;
    p.top = 8.0;
    for (i, s) in sessions.iter().enumerate() {
        let y = p.top + row * i as f64 + row / 2.0;
        let (xs, xc, xe) = (
            p.px(s.start_ts.0 as f64),
            p.px(s.closed_at().0 as f64),
            p.px(s.end_ts.0 as f64),
        );
        let color = verdict_color(s.verdict);
        let bad = s.verdict.is_abnormal();
        let _ = write!(
            p.body,
            r##"<text class="mono" x="{lx}" y="{ty:.1}" text-anchor="end" style="fill:{lc}">{}</text><line x1="{xs:.1}" x2="{xe:.1}" y1="{y:.1}" y2="{y:.1}" stroke="#b7c0cb" stroke-width="1.5"/><rect x="{xs:.1}" y="{ry:.1}" width="{w:.1}" height="10" rx="2" fill="{color}" fill-opacity="{op}"><title>{}</title></rect><text class="label" x="{vx}" y="{ty:.1}" style="fill:{lc}">{}</text>"##,
            esc(&format!("#{} :{} → {}", s.id, s.client.port(), s.server)),
            esc(&format!(
                "session {}: {} → {}, {} to {} UTC, {}",
                s.id,
                s.client,
                s.server,
                s.start_ts.clock(),
                s.closed_at().clock(),
                s.verdict
            )),
            esc(&format!(
                "{}{}",
                s.verdict,
                s.client_observed_code
                    .map(|c| format!(" · {c}"))
                    .unwrap_or_default()
            )),
            lx = p.left - 8.0,
            ty = y + 4.0,
            lc = if bad { "#8f1f1f" } else { "#3b4554" },
            ry = y - 5.0,
            w = (xc - xs).max(1.5),
            op = if bad { 0.55 } else { 0.35 },
            vx = WIDTH - p.right + 8.0,
        );
        for e in &s.timeline {
            let Some((shape, c)) = event_mark(&e.kind, e.direction) else {
                continue;
            };
            let x = p.px(e.ts.0 as f64);
            let title = esc(&format!(
                "{} {} {}{}",
                e.ts.clock(),
                e.direction,
                e.kind,
                if e.teardown_start {
                    " (teardown starts)"
                } else {
                    ""
                }
            ))
            .into_owned();
            let stroke = if e.teardown_start {
                r##" stroke="#000" stroke-width="1.4""##
            } else {
                ""
            };
            let _ = match shape {
                "tick" => write!(
                    p.body,
                    r#"<rect x="{:.1}" y="{:.1}" width="3" height="14" fill="{c}"{stroke}><title>{title}</title></rect>"#,
                    x - 1.5,
                    y - 7.0
                ),
                "diamond" => write!(
                    p.body,
                    r#"<path d="M{x:.1},{:.1}l6,7l-6,7l-6,-7z" fill="{c}"{stroke}><title>{title}</title></path>"#,
                    y - 7.0
                ),
                "bar" => write!(
                    p.body,
                    r#"<rect x="{:.1}" y="{:.1}" width="2.4" height="18" fill="{c}"{stroke}><title>{title}</title></rect>"#,
                    x - 1.2,
                    y - 9.0
                ),
                "cross" => write!(
                    p.body,
                    r#"<path d="M{:.1},{:.1}l12,12m0,-12l-12,12" stroke="{c}" stroke-width="3"><title>{title}</title></path>"#,
                    x - 6.0,
                    y - 6.0
                ),
                _ => write!(
                    p.body,
                    r#"<circle cx="{x:.1}" cy="{y:.1}" r="4" fill="{c}"{stroke}><title>{title}</title></circle>"#
                ),
            };
        }
    }
    let mut out = p.finish("Timeline of the first failing sessions and healthy ones for contrast");
    out.push_str(&legend(&[
        (
            "open (bar: until the teardown starts, line: until the last packet)".into(),
            "#b7c0cb",
            "",
        ),
        ("HTTP 101".into(), "#2f7ebc", ""),
        ("close frame from client".into(), "#4e9a6b", ""),
        ("close frame from server".into(), "#e8793a", ""),
        ("FIN".into(), "#36506b", ""),
        ("RST".into(), "#c62f2f", ""),
        ("zero window".into(), "#7b4ea3", "dot"),
    ]));
    out
}

fn table_html(t: &Table) -> String {
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<section id="{}"><h2>{}</h2><p class="note">{}</p>"#,
        t.id,
        esc(&t.title),
        esc(&t.note)
    );
    s.push_str(&table_body(t));
    s.push_str("</section>");
    s
}

fn table_body(t: &Table) -> String {
    let mut s = String::from("<table><thead><tr>");
    for (h, n) in t.headers.iter().zip(&t.numeric) {
        let _ = write!(
            s,
            r#"<th{}>{}</th>"#,
            if *n { r#" class="n""# } else { "" },
            esc(h)
        );
    }
    s.push_str("</tr></thead><tbody>");
    for row in &t.rows {
        s.push_str("<tr>");
        for ((c, n), w) in row.iter().zip(&t.numeric).zip(&t.wrap) {
            let class = match (n, w) {
                (true, _) => r#" class="n""#,
                (_, true) => r#" class="w""#,
                _ => "",
            };
            let _ = write!(s, "<td{class}>{}</td>", esc(c));
        }
        s.push_str("</tr>");
    }
    if t.rows.is_empty() {
        let _ = write!(
            s,
            r#"<tr><td colspan="{}">(none)</td></tr>"#,
            t.headers.len()
        );
    }
    s.push_str("</tbody></table>");
    s
}

fn section(id: &str, title: &str, note: &str, body: &str) -> String {
    if body.is_empty() {
        return String::new();
    }
    format!(
        r#"<section id="{id}"><h2>{}</h2><p class="note">{}</p>{body}</section>"#,
        esc(title),
        esc(note)
    )
}

/// An interval as `1 s`, `5 min` or `500 ms`.
fn interval(ns: i64) -> String {
    match ns {
        n if n % 60_000_000_000 == 0 => format!("{} min", n / 60_000_000_000),
        n if n % 1_000_000_000 == 0 => format!("{} s", n / 1_000_000_000),
        n => format!("{} ms", n / 1_000_000),
    }
}

fn card(key: &str, value: &str, sub: &str, alert: bool) -> String {
    format!(
        r#"<div class="card{}"><div class="k">{}</div><div class="v">{}</div><div class="s">{}</div></div>"#,
        if alert { " alert" } else { "" },
        esc(key),
        esc(value),
        esc(sub)
    )
}

fn cards(run: &LoadRun) -> String {
    let mut s = String::from(r#"<div class="cards">"#);
    s.push_str(&card(
        "sessions",
        &run.sessions.to_string(),
        &match (run.start, run.end) {
            (Some(a), Some(b)) => format!("over {}", duration(b.millis_since(a))),
            _ => String::new(),
        },
        false,
    ));
    s.push_str(&card(
        "abnormal",
        &run.abnormal.to_string(),
        &format!("{} of all sessions", percent(run.abnormal, run.sessions)),
        run.abnormal > 0,
    ));
    s.push_str(&card(
        "peak established",
        &run.peak_established
            .map(|p| p.0.to_string())
            .unwrap_or_default(),
        &run.peak_established
            .map(|p| format!("first at {} UTC", clock_ms(p.1)))
            .unwrap_or_default(),
        false,
    ));
    match &run.summary.first_abnormal {
        Some(f) => s.push_str(&card(
            "first abnormal",
            &format!("{} established", f.established.unwrap_or_default()),
            &format!(
                "{} UTC, session {}, {}",
                clock_ms(f.ts),
                f.session_id,
                f.verdict
            ),
            true,
        )),
        None => s.push_str(&card("first abnormal", "none", "", false)),
    }
    match run.causes.first() {
        Some(c) => s.push_str(&card(
            "main cause",
            &percent(c.sessions, run.abnormal),
            &format!("{} from {}", c.verdict, c.server),
            true,
        )),
        None => s.push_str(&card("main cause", "–", "no abnormal teardown", false)),
    }
    s.push_str("</div>");
    s
}

/// Writes the HTML report.
pub fn write(a: &Analysis, run: &LoadRun, meta: &Meta, mut out: impl Write) -> io::Result<()> {
    let mut h = String::with_capacity(256 * 1024);
    let _ = write!(
        h,
        r#"<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:"><title>{}</title><style>{CSS}</style></head><body><main>"#,
        esc(&format!("teardown report: {}", meta.title))
    );
    let span = match (a.stats.first_ts, a.stats.last_ts) {
        (Some(f), Some(l)) => format!(
            "capture {} to {} UTC ({})",
            clock_ms(f),
            clock_ms(l),
            duration(l.millis_since(f))
        ),
        _ => "no packets".into(),
    };
    let _ = write!(
        h,
        r#"<header><h1>Load run: {}</h1><p>{}</p><p>{}</p></header>"#,
        esc(&meta.title),
        esc(&format!(
            "{} file(s): {}",
            a.stats.files,
            meta.inputs.join(", ")
        )),
        esc(&format!(
            "{span} · {} packets · {} WebSocket sessions · {} other TCP connections",
            a.stats.packets,
            a.sessions.len(),
            a.stats.other_connections
        ))
    );
    h.push_str(&cards(run));
    h.push_str(r#"<section id="findings"><h2>Findings</h2><ol class="findings">"#);
    for f in &run.findings {
        let _ = write!(h, "<li>{}</li>", esc(f));
    }
    h.push_str("</ol></section>");
    h.push_str(&section(
        "concurrency",
        "Concurrency over time",
        "Sessions established at every instant (101 sent, teardown not started), overall and per server, and connecting (SYN seen, not yet established or rejected); ▲ an abnormal teardown, at the sessions established on its server at that instant (itself included).",
        &concurrency_chart(a, run),
    ));
    let timeline = tables::timeline_sessions(a, 12, 5);
    if run.abnormal > 0 {
        h.push_str(&section(
            "timeline",
            "First failing sessions, and healthy ones for contrast",
            "One row per session, in start order: the bar runs from the first packet to the start of the teardown (the black outline marks the event that started it); hover a mark for the event.",
            &timeline_chart(&timeline),
        ));
    }
    h.push_str(&section(
        "teardowns",
        "Verdicts over time",
        &format!("Teardowns per {} by verdict.", interval(run.bucket_ns)),
        &teardowns_chart(run),
    ));
    h.push_str(r#"<div class="two">"#);
    h.push_str(&table_html(&tables::verdicts(a, run)));
    h.push_str(&table_html(&tables::close_codes(run)));
    h.push_str("</div>");
    h.push_str(&table_html(&tables::codes_over_time(run)));
    h.push_str(&section(
        "ages",
        "Age at teardown",
        "How long sessions lived before their teardown started; a tall narrow bar of abnormal teardowns points at a timeout.",
        &age_chart(run),
    ));
    h.push_str(&section(
        "latency",
        "Latency against established sessions",
        "Handshake latency of each session against the sessions established on its server just before it began: does the server slow down before it drops?",
        &latency_chart(a, run),
    ));
    h.push_str(&table_html(&tables::bands(run)));
    h.push_str(&table_html(&tables::servers(run)));
    if run.abnormal > 0 {
        h.push_str(&table_html(&tables::first_failing(a, 20)));
    }
    let seconds = tables::per_second(run);
    let _ = write!(
        h,
        r#"<section id="{}"><details><summary>{} ({} rows)</summary><p class="note">{}</p>{}</details></section>"#,
        seconds.id,
        esc(&seconds.title),
        seconds.rows.len(),
        esc(&seconds.note),
        table_body(&seconds)
    );
    let _ = writeln!(
        h,
        "<footer>{}</footer></main></body></html>",
        esc(&format!(
            "Written by teardown {} from the packet captures alone. Times are UTC.",
            env!("CARGO_PKG_VERSION")
        ))
    );
    out.write_all(h.as_bytes())
}
