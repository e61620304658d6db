//! `teardown report` and the load-run analysis behind it, checked against numbers taken
//! independently from `teardown sessions --format csv`, `teardown summary` and the ground
//! truth of the recorded load run; the page is checked in headless Chromium when
//! `chromium` is installed.

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;
use teardown::loadrun::LoadRun;
use teardown::report::{self, Meta};
use teardown::Verdict;

/// One row of `teardown sessions --format csv`, the fields these tests need.
#[derive(Debug, Clone)]
struct Row {
    id: u64,
    client_port: u16,
    server: String,
    start: i64,
    /// Teardown start, else last packet.
    close: i64,
    verdict: String,
    close_code: Option<u16>,
    /// The teardown started by the server.
    by_server: bool,
    /// Its 101, if any.
    established: Option<i64>,
    /// Whether it had a teardown start.
    torn_down: bool,
    established_at_start: usize,
    established_at_teardown: Option<usize>,
    connecting_at_teardown: Option<usize>,
}

impl Row {
    /// Established at `t` (its 101 at or before `t`, its teardown not before `t`).
    fn established_at(&self, t: i64) -> bool {
        self.established.is_some_and(|e| e <= t && e <= self.close) && self.close >= t
    }

    /// Connecting at `t` (started, not yet established; through its teardown when it
    /// never was).
    fn connecting_at(&self, t: i64) -> bool {
        self.start <= t
            && match self.established.filter(|e| *e <= self.close) {
                Some(e) => t < e,
                None => t <= self.close,
            }
    }
}

/// Epoch seconds with nanoseconds (`1764331200.123456789`) as ns.
fn ns(text: &str) -> i64 {
    let (s, f) = text.split_once('.').unwrap();
    s.parse::<i64>().unwrap() * 1_000_000_000 + f.parse::<i64>().unwrap()
}

fn sessions_csv(capture: &Path) -> Vec<Row> {
    let (code, out, err) = run(&["sessions", "--format", "csv", capture.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let mut r = csv::Reader::from_reader(out.as_bytes());
    let h = r.headers().unwrap().clone();
    let col = |name: &str| h.iter().position(|c| c == name).unwrap();
    let cport = col("client_port");
    let (id, sip, sport, start, end, td, verdict, cc) = (
        col("session_id"),
        col("server_ip"),
        col("server_port"),
        col("start_ts"),
        col("end_ts"),
        col("teardown_start_ts"),
        col("verdict"),
        col("close_code"),
    );
    let (init, est, eas, eat, cat) = (
        col("teardown_initiator"),
        col("established_ts"),
        col("established_at_start"),
        col("established_at_teardown"),
        col("connecting_at_teardown"),
    );
    r.records()
        .map(|rec| {
            let rec = rec.unwrap();
            let start = ns(&rec[start]);
            let close = if rec[td].is_empty() {
                ns(&rec[end])
            } else {
                ns(&rec[td])
            };
            Row {
                id: rec[id].parse().unwrap(),
                client_port: rec[cport].parse().unwrap(),
                server: format!("{}:{}", &rec[sip], &rec[sport]),
                start,
                close: close.max(start),
                verdict: rec[verdict].to_string(),
                close_code: rec[cc].parse().ok(),
                by_server: &rec[init] == "server",
                established: (!rec[est].is_empty()).then(|| ns(&rec[est])),
                torn_down: !rec[td].is_empty(),
                established_at_start: rec[eas].parse().unwrap(),
                established_at_teardown: rec[eat].parse().ok(),
                connecting_at_teardown: rec[cat].parse().ok(),
            }
        })
        .collect()
}

fn abnormal(verdict: &str) -> bool {
    !matches!(
        verdict,
        "clean_close_client" | "clean_close_server" | "open_at_capture_end"
    )
}

fn loadrun() -> PathBuf {
    samples().join("loadrun")
}

fn analysis_and_run() -> (teardown::Analysis, LoadRun) {
    let a = analyze(&[loadrun()], &[]);
    let run = LoadRun::of(&a);
    (a, run)
}

fn html_of(a: &teardown::Analysis, run: &LoadRun) -> String {
    let mut out = Vec::new();
    report::write_html(a, run, &Meta::for_inputs(&[loadrun()]), &mut out).unwrap();
    String::from_utf8(out).unwrap()
}

#[test]
fn first_abnormal_teardown_matches_the_sessions_table_and_summary() {
    let rows = sessions_csv(&loadrun());
    // Independently: the earliest abnormal teardown, and the sessions open at that instant
    // (started at or before it, not torn down before it), as `teardown summary` counts.
    let first = rows
        .iter()
        .filter(|r| abnormal(&r.verdict))
        .min_by_key(|r| (r.close, r.id))
        .unwrap();
    let open = rows
        .iter()
        .filter(|r| r.start <= first.close && r.close >= first.close)
        .count();
    let (code, summary, _) = run(&["summary", "--format", "json", loadrun().to_str().unwrap()]);
    assert_eq!(code, 0);
    let summary: serde_json::Value = serde_json::from_str(&summary).unwrap();
    let fa = &summary["summary"]["first_abnormal"];
    assert_eq!(fa["session_id"].as_u64(), Some(first.id));
    assert_eq!(fa["open_sessions"].as_u64(), Some(open as u64));

    let (a, run) = analysis_and_run();
    let f = run.summary.first_abnormal.as_ref().unwrap();
    assert_eq!((f.session_id, f.open_sessions), (first.id, open));
    assert_eq!(f.verdict.as_str(), first.verdict);
    assert_eq!(f.server.to_string(), first.server);
    // What the recording client saw of that session: the same teardown.
    let t = truth("loadrun.truth.tsv")
        .into_iter()
        .find(|t| t.client.port() == first.client_port)
        .unwrap();
    assert_eq!(t.verdict, first.verdict);
    if first.verdict == "server_close_error" {
        assert_eq!(t.observed, first.close_code);
    }
    // On its server: established and connecting at that instant, itself included.
    let on = |pred: &dyn Fn(&Row) -> bool| {
        rows.iter()
            .filter(|r| r.server == first.server && pred(r))
            .count()
    };
    let established = on(&|r| r.established_at(first.close));
    let connecting = on(&|r| r.connecting_at(first.close));
    assert_eq!(
        (f.established, f.connecting),
        (Some(established), Some(connecting))
    );
    let sentence = run
        .findings
        .iter()
        .find(|s| s.starts_with("Abnormal teardowns begin at"))
        .unwrap();
    assert!(
        sentence.contains(&format!(
            "with {established} established and {connecting} connecting on 10.99.0.3:8080: session {} (server_close_error, close 1013 \"try again later\")",
            first.id
        )),
        "{sentence}"
    );
    let html = html_of(&a, &run);
    assert!(html.contains(&format!("{established} established")));
}

#[test]
fn server_resets_match_the_ground_truth_and_show_a_fixed_timeout() {
    let truth = truth("loadrun.truth.tsv");
    let expected = truth
        .iter()
        .filter(|t| t.verdict == "server_rst_no_close")
        .count();
    assert_eq!(expected, 6);
    let (a, run) = analysis_and_run();
    let resets = run
        .summary
        .by_verdict
        .iter()
        .find(|(v, _)| *v == Verdict::ServerRstNoClose)
        .map(|(_, n)| *n);
    assert_eq!(resets, Some(expected));
    // All of them from the capped server: the main cause.
    let cause = &run.causes[0];
    assert_eq!(cause.verdict, Verdict::ServerRstNoClose);
    assert_eq!(cause.server.to_string(), "10.99.0.3:8080");
    assert_eq!(cause.sessions, expected);
    // The server resets exactly 1.5 s after the handshake (1.501-1.511 s on the wire
    // between the 101 and the RST), so the age from the SYN clusters just above 1.5 s.
    let age = cause.age_ms.as_ref().unwrap();
    assert!(age.p50 > 1500.0 && age.p50 < 1515.0, "{age:?}");
    assert!(cause.is_fixed_timeout());
    let abnormal = truth.iter().filter(|t| abnormal(&t.verdict)).count();
    assert_eq!(run.abnormal, abnormal);
    let sentence = run
        .findings
        .iter()
        .find(|s| s.starts_with("Abnormal teardowns begin at"))
        .unwrap();
    assert!(
        sentence.contains(&format!(
            "({expected} of {abnormal}) are server resets without a close frame from 10.99.0.3:8080"
        )),
        "{sentence}"
    );
    assert!(sentence.ends_with("— a fixed timeout."), "{sentence}");
    // The verdict table of the page has the same count.
    let html = html_of(&a, &run);
    assert!(html.contains(&format!(
        "<td>server_rst_no_close</td><td class=\"w\">server resets without a close frame</td><td class=\"n\">{expected}</td>"
    )));
}

#[test]
fn concurrency_peak_matches_an_independent_count() {
    let rows = sessions_csv(&loadrun());
    // Brute force: at every session start, count the sessions open then (half-open
    // intervals from the first packet to the teardown start).
    let open_at = |t: i64| rows.iter().filter(|r| r.start <= t && r.close > t).count();
    let peak = rows.iter().map(|r| open_at(r.start)).max().unwrap();
    let (_, run) = analysis_and_run();
    assert_eq!(run.peak.map(|p| p.0), Some(peak));
    assert_eq!(run.steps.iter().map(|s| s.open).max(), Some(peak));
    assert_eq!(run.steps.last().map(|s| s.open), Some(0));
    // Each session's load is the count at its start.
    for (r, load) in rows.iter().zip(&run.load) {
        assert_eq!(*load, open_at(r.start), "session {}", r.id);
    }
    // Per second: the maximum over seconds is the peak, and the starts add up.
    assert_eq!(run.seconds.iter().map(|s| s.max_open).max(), Some(peak));
    assert_eq!(
        run.seconds.iter().map(|s| s.started).sum::<usize>(),
        rows.len()
    );
}

#[test]
fn readme_lists_the_sample_findings() {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let (_, run) = analysis_and_run();
    let want: Vec<String> = run
        .findings
        .iter()
        .enumerate()
        .map(|(i, f)| format!("{}. {f}", i + 1))
        .collect();
    let start = readme
        .find(&want[0])
        .expect("README lacks the sample's first finding; paste the list from `teardown report samples/loadrun/ --markdown -o -`");
    let listed: Vec<&str> = readme[start..]
        .lines()
        .take_while(|l| !l.is_empty())
        .collect();
    assert_eq!(
        listed, want,
        "README's sample findings differ from the report's"
    );
}

#[test]
fn server_load_columns_match_a_brute_force_count() {
    let rows = sessions_csv(&loadrun());
    let on = |server: &str, pred: &dyn Fn(&Row) -> bool| {
        rows.iter()
            .filter(|o| o.server == server && pred(o))
            .count()
    };
    for r in &rows {
        let s = r.server.as_str();
        assert_eq!(
            r.established_at_start,
            on(s, &|o| o.established_at(r.start - 1)),
            "session {}",
            r.id
        );
        let at_teardown = |pred: &dyn Fn(&Row) -> bool| r.torn_down.then(|| on(s, pred));
        assert_eq!(
            r.established_at_teardown,
            at_teardown(&|o| o.established_at(r.close)),
            "session {}",
            r.id
        );
        assert_eq!(
            r.connecting_at_teardown,
            at_teardown(&|o| o.connecting_at(r.close)),
            "session {}",
            r.id
        );
    }
}

#[test]
fn drop_range_and_threshold_match_an_independent_count() {
    let rows = sessions_csv(&loadrun());
    let server = "10.99.0.3:8080";
    let established = |t: i64| {
        rows.iter()
            .filter(|o| o.server == server && o.established_at(t))
            .count()
    };
    let drops: Vec<usize> = rows
        .iter()
        .filter(|r| r.server == server && r.by_server && abnormal(&r.verdict))
        .map(|r| established(r.close))
        .collect();
    let (lo, hi) = (*drops.iter().min().unwrap(), *drops.iter().max().unwrap());
    let teardowns: Vec<usize> = rows
        .iter()
        .filter(|r| r.server == server && r.torn_down)
        .map(|r| established(r.close))
        .collect();
    let below = teardowns.iter().filter(|n| **n < lo).count();
    let (_, run) = analysis_and_run();
    let d = &run.summary.server_drops[0];
    assert_eq!(d.server.to_string(), server);
    assert_eq!(
        (d.drops, d.established_min, d.established_max),
        (drops.len(), lo, hi)
    );
    assert_eq!(
        (d.teardowns_below, d.teardowns_from),
        (below, teardowns.len() - below)
    );
    // The codes are named: resets and 1013 closes apart.
    let resets = rows
        .iter()
        .filter(|r| r.verdict == "server_rst_no_close")
        .count();
    let c1013 = rows.iter().filter(|r| r.close_code == Some(1013)).count();
    let sentence = run
        .findings
        .iter()
        .find(|s| s.starts_with("Server drops on"))
        .unwrap();
    assert!(
        sentence.starts_with(&format!(
            "Server drops on {server} ({resets} server_rst_no_close and {c1013} close 1013): all {} server drops happened with {lo} to {hi} established on it; below {lo}, 0 of the {below} teardowns were drops",
            drops.len()
        )),
        "{sentence}"
    );
    // Sessions of this run last 40% of it: no load-at-start finding, and no claim about
    // "every load".
    assert!(run.findings.iter().all(|f| !f.starts_with("By load")));
    assert!(run.findings.iter().all(|f| !f.contains("every load")));
    // By server: the capped one has all the failures.
    let srv = run
        .servers
        .iter()
        .find(|s| s.server.to_string() == server)
        .unwrap();
    assert_eq!(
        srv.abnormal,
        rows.iter()
            .filter(|r| r.server == server && abnormal(&r.verdict))
            .count()
    );
    // The bands' teardowns are those of established sessions, each once.
    assert_eq!(
        srv.bands.iter().map(|b| b.teardowns).sum::<usize>(),
        rows.iter()
            .filter(|r| r.server == server && r.torn_down && r.established.is_some())
            .count()
    );
}

/// The scenarios capture with hostile text put into what the capture could carry.
fn hostile() -> (teardown::Analysis, LoadRun) {
    let mut a = analyze(&[samples().join("scenarios.pcap")], &[]);
    let evil = "<script>alert(1)</script><img src=x onerror=alert(2)>\"'&";
    for s in &mut a.sessions {
        if let Some(c) = s.first_close.as_mut() {
            c.reason = evil.to_string();
        }
        if let Some(r) = s.request.as_mut() {
            r.path = format!("/{evil}");
            r.user_agent = Some(evil.to_string());
        }
        for e in &mut s.timeline {
            if let teardown::session::EventKind::Close { reason, .. } = &mut e.kind {
                *reason = evil.to_string();
            }
        }
    }
    let run = LoadRun::of(&a);
    (a, run)
}

#[test]
fn html_escapes_capture_text_and_is_self_contained() {
    let (a, run) = hostile();
    assert!(run.abnormal > 0);
    let mut out = Vec::new();
    report::write_html(
        &a,
        &run,
        &Meta::for_inputs(&[samples().join("scenarios.pcap")]),
        &mut out,
    )
    .unwrap();
    let html = String::from_utf8(out).unwrap();
    let lower = html.to_ascii_lowercase();
    assert!(!lower.contains("<script"), "a script element got through");
    assert!(!lower.contains("<img"), "an img element got through");
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(html.contains("&lt;img src=x onerror=alert(2)&gt;&quot;&#x27;&amp;"));
    // Nothing is fetched: no links, sources, imports or URLs but the SVG namespace name
    // (checked on the sample report, whose capture text holds no such words).
    let (a, run) = analysis_and_run();
    let html = html_of(&a, &run);
    let lower = html.to_ascii_lowercase();
    for bad in ["<link", " src=", "href=", "@import", "url(", "https://"] {
        assert!(!lower.contains(bad), "found {bad}");
    }
    assert_eq!(
        lower.matches("http://").count(),
        lower
            .matches("xmlns=\"http://www.w3.org/2000/svg\"")
            .count()
    );
    assert!(html.contains("Content-Security-Policy"));
}

#[test]
fn markdown_has_the_same_findings_escaped() {
    let (a, run) = hostile();
    let mut out = Vec::new();
    report::write_markdown(
        &a,
        &run,
        &Meta::for_inputs(&[samples().join("scenarios.pcap")]),
        &mut out,
    )
    .unwrap();
    let md = String::from_utf8(out).unwrap();
    assert!(!md.to_ascii_lowercase().contains("<script"));
    assert!(md.contains("&lt;script&gt;"));
    for (i, f) in run.findings.iter().enumerate() {
        let line = format!("{}. {}", i + 1, teardown::report::markdown::md_escape(f));
        assert!(md.contains(&line), "missing finding {line}");
    }
    for heading in [
        "## Findings",
        "## Verdicts",
        "## Drops and latency by established concurrency",
        "## By server",
        "## First failing sessions",
    ] {
        assert!(md.contains(heading), "{heading}");
    }
    // Every table row has as many cells as its header: no `|` from the capture got in.
    for block in md.split("\n\n").filter(|b| b.starts_with("| ")) {
        let cells: Vec<usize> = block
            .lines()
            .map(|l| l.replace("\\|", "").matches('|').count())
            .collect();
        assert!(cells.iter().all(|c| *c == cells[0]), "{block}");
    }
}

#[test]
fn cli_writes_the_report_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("r.html");
    let (code, stdout, err) = run(&[
        "report",
        loadrun().to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(stdout.starts_with(&format!(
        "wrote {}: 100 sessions, 9 abnormal",
        out.display()
    )));
    let html = std::fs::read_to_string(&out).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>") && html.trim_end().ends_with("</html>"));
    // Nothing else left in the folder (the temporary file was renamed into place).
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    // --quiet: no summary; Markdown to standard output.
    let (code, md, _) = run(&[
        "report",
        "--quiet",
        "--markdown",
        "-o",
        "-",
        loadrun().to_str().unwrap(),
    ]);
    assert_eq!(code, 0);
    assert!(md.starts_with("# Load run: loadrun"));
}

#[test]
fn cli_names_missing_inputs_and_unwritable_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("r.html");
    let (code, _, err) = run(&[
        "report",
        "/nonexistent/capture.pcap",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 2);
    assert!(
        err.contains("/nonexistent/capture.pcap: cannot open"),
        "{err}"
    );
    assert!(err.contains("nothing to report"), "{err}");
    assert!(!out.exists());
    let (code, _, err) = run(&[
        "report",
        loadrun().to_str().unwrap(),
        "-o",
        "/nonexistent/folder/r.html",
    ]);
    assert_eq!(code, 2);
    assert!(
        err.contains(
            "cannot write /nonexistent/folder/r.html: folder /nonexistent/folder does not exist"
        ),
        "{err}"
    );
}

#[test]
fn report_renders_in_headless_chromium() {
    if Command::new("chromium").arg("--version").output().is_err() {
        return skip(
            "report_renders_in_headless_chromium",
            "chromium is not installed (apt-get install chromium)",
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/render_report.sh");
    // The sample report, and the hostile one: both render with no console message, and
    // the hostile one holds no script element in the browser's DOM.
    let html = dir.path().join("loadrun.html");
    let (code, _, err) = run(&[
        "report",
        "-q",
        loadrun().to_str().unwrap(),
        "-o",
        html.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let (a, run) = hostile();
    let evil = dir.path().join("hostile.html");
    report::write_file(
        &evil,
        &a,
        &run,
        &Meta::for_inputs(&[samples().join("scenarios.pcap")]),
        false,
    )
    .unwrap();
    for page in [html, evil] {
        let png = page.with_extension("png");
        let out = Command::new("bash")
            .arg(&script)
            .arg(&page)
            .arg(&png)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}: {}{}",
            page.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let bytes = std::fs::read(&png).unwrap();
        assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n") && bytes.len() > 20_000);
    }
}
