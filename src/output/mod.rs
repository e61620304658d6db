//! Rendering: session tables (terminal, CSV, JSON), timelines, the summary, warnings and
//! the progress bar. Everything here writes to a `Write` given by the caller and returns
//! I/O errors; nothing here decides anything about the capture.

mod connections;
mod file;
mod media;

pub use connections::{write_connections_csv, write_connections_json, write_connections_table};
pub use file::write_atomic;
pub use media::{write_media_csv, write_media_json, write_media_table};

use crate::analysis::{Analysis, Progress, ProgressSink};
use crate::columns::SESSIONS;
use crate::diag::{Diagnostics, MESSAGES_KEPT_PER_KIND};
use crate::session::Session;
use crate::text::escape_controls;
use comfy_table::{presets::UTF8_FULL_CONDENSED, ContentArrangement, Table};
use indicatif::{ProgressBar, ProgressStyle};
use serde::ser::{Serialize, SerializeMap};
use std::io::{self, IsTerminal, Write};
use std::sync::Arc;

/// The reading's progress as a bar on stderr (the analysis reports to it).
struct ProgressBarSink(ProgressBar);

impl ProgressSink for ProgressBarSink {
    fn start(&self, total_bytes: u64) {
        self.0.set_length(total_bytes);
    }
    fn advance(&self, bytes: u64) {
        self.0.set_position(bytes);
    }
    fn finish(&self) {
        self.0.finish_and_clear();
    }
}

/// A progress bar over the bytes read, on stderr, when asked for and stderr is a terminal.
pub fn progress_bar(wanted: bool) -> Option<Progress> {
    if !wanted || !io::stderr().is_terminal() {
        return None;
    }
    let bar = ProgressBar::new(0);
    let style = ProgressStyle::with_template(
        "{spinner} reading captures {bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    Some(Progress(Arc::new(ProgressBarSink(bar))))
}

/// Writes the sessions as CSV (the [`SESSIONS`] columns, header row first); `raw` skips
/// [`spreadsheet_safe`](crate::columns::spreadsheet_safe).
pub fn write_sessions_csv(sessions: &[Session], raw: bool, out: impl Write) -> io::Result<()> {
    SESSIONS.write_csv(sessions, raw, out)
}

/// A session as JSON: the [`SESSIONS`] columns, then its timeline.
struct SessionJson<'a>(&'a Session);

impl Serialize for SessionJson<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        SESSIONS.json_row(self.0).serialize_entries(&mut map)?;
        map.serialize_entry("timeline", &self.0.timeline)?;
        map.end()
    }
}

/// Writes the sessions as a JSON array: every column of the sessions table, and the
/// timeline of each.
pub fn write_sessions_json(sessions: &[Session], mut out: impl Write) -> io::Result<()> {
    let rows: Vec<SessionJson<'_>> = sessions.iter().map(SessionJson).collect();
    serde_json::to_writer_pretty(&mut out, &rows).map_err(io::Error::other)?;
    writeln!(out)
}

/// A table in the house style.
pub(crate) fn new_table() -> Table {
    let mut table = Table::new();
    table
        .load_style(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic);
    table
}

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map(|x| x.to_string()).unwrap_or_default()
}

/// Writes the sessions as a terminal table.
pub fn write_sessions_table(sessions: &[Session], mut out: impl Write) -> io::Result<()> {
    let mut table = new_table();
    table.set_header(vec![
        "id",
        "client",
        "server",
        "start (UTC)",
        "http",
        "verdict",
        "by",
        "close",
        "client saw",
        "frames c>s",
        "frames s>c",
    ]);
    for s in sessions {
        table.add_row(vec![
            s.id.to_string(),
            s.client.to_string(),
            s.server.to_string(),
            s.start_ts.clock(),
            opt(s.handshake_status()),
            s.verdict.to_string(),
            s.teardown_initiator.as_str().to_string(),
            opt(s.close_code()),
            opt(s.client_observed_code),
            s.c2s.frames.to_string(),
            s.s2c.frames.to_string(),
        ]);
    }
    writeln!(out, "{table}")
}

/// Writes one session's timeline, one event per line, the teardown start marked.
pub fn write_timeline(s: &Session, mut out: impl Write) -> io::Result<()> {
    let path = s
        .request
        .as_ref()
        .map(|r| format!("  GET {}", escape_controls(&r.path)))
        .unwrap_or_default();
    writeln!(out, "session {}  {} -> {}{path}", s.id, s.client, s.server)?;
    write!(
        out,
        "verdict {} (teardown started by {})",
        s.verdict,
        s.teardown_initiator.as_str()
    )?;
    if let Some(code) = s.client_observed_code {
        write!(out, ", client observed {code}")?;
    }
    writeln!(out)?;
    write!(
        out,
        "on its server: {} established when it began",
        s.established_at_start
    )?;
    if let (Some(e), Some(c)) = (s.established_at_teardown, s.connecting_at_teardown) {
        write!(
            out,
            "; {e} established and {c} connecting when its teardown started (itself included)"
        )?;
    }
    writeln!(out)?;
    for e in &s.timeline {
        let mark = if e.teardown_start { ">>" } else { "  " };
        let rel = e.ts.millis_since(s.start_ts) / 1000.0;
        let note = if e.teardown_start {
            "   <- teardown starts"
        } else {
            ""
        };
        writeln!(
            out,
            "{mark} {} {rel:>+12.6}s  {}  {}{note}",
            e.ts.clock(),
            e.direction,
            escape_controls(&e.kind.to_string())
        )?;
    }
    Ok(())
}

/// Prints warnings to `out`: the kept messages, then how many more of each kind.
pub fn write_warnings(diags: &Diagnostics, mut out: impl Write) -> io::Result<()> {
    for w in diags.warnings() {
        writeln!(out, "{w}")?;
    }
    for (kind, n) in diags.counts() {
        if *n as usize > MESSAGES_KEPT_PER_KIND {
            writeln!(
                out,
                "warning[{kind}]: {} more not shown ({n} in all)",
                *n as usize - MESSAGES_KEPT_PER_KIND
            )?;
        }
    }
    Ok(())
}

/// Writes the run summary as text.
pub fn write_summary_text(a: &Analysis, mut out: impl Write) -> io::Result<()> {
    let sum = crate::summary::summarize(a);
    write_capture_lines(a, &sum, &mut out)?;
    write_count_tables(&sum, &mut out)?;
    write_teardown_lines(&sum, &mut out)?;
    write_run_notes(a, &mut out)
}

/// The capture's size and time range, what its connections were, and the TLS ones.
fn write_capture_lines(
    a: &Analysis,
    sum: &crate::summary::Summary,
    out: &mut impl Write,
) -> io::Result<()> {
    let st = &a.stats;
    let range = match (st.first_ts, st.last_ts) {
        (Some(f), Some(l)) if f.same_day(l) => format!(
            "{} to {} UTC ({:.3} s)",
            f.clock(),
            l.clock(),
            l.millis_since(f) / 1000.0
        ),
        (Some(f), Some(l)) => format!(
            "{} {} to {} {} UTC ({:.3} s)",
            f.date(),
            f.clock(),
            l.date(),
            l.clock(),
            l.millis_since(f) / 1000.0
        ),
        _ => "no packets".to_string(),
    };
    writeln!(
        out,
        "capture: {} file(s), {:.1} MB, {} packets ({} TCP), {range}",
        st.files,
        st.bytes as f64 / 1e6,
        st.packets,
        st.tcp_segments,
    )?;
    writeln!(
        out,
        "sessions: {} WebSocket sessions, {} other TCP connections",
        a.sessions.len(),
        st.other_connections
    )?;
    if sum.tls_sessions > 0 {
        writeln!(
            out,
            "TLS: {} sessions over TLS, {} decrypted with the key log, {} inferred from record lengths",
            sum.tls_sessions, sum.tls_decrypted, sum.tls_inferred
        )?;
    }
    if !st.tls_left_out.is_empty() {
        let n: u64 = st.tls_left_out.iter().map(|(_, n)| n).sum();
        let ports: Vec<String> = st
            .tls_left_out
            .iter()
            .map(|(port, n)| format!("{n} to port {port}"))
            .collect();
        writeln!(
            out,
            "TLS connections not counted as WebSocket sessions: {n} ({}): not decrypted, and \
             their records do not show an upgrade followed by frames; if they carry wss://, \
             name the port with --ws-port or give the key log with --keylog",
            ports.join(", ")
        )?;
    }
    Ok(())
}

/// Sessions by verdict, and by the code their client observed.
fn write_count_tables(sum: &crate::summary::Summary, out: &mut impl Write) -> io::Result<()> {
    let mut table = new_table();
    table.set_header(vec!["verdict", "sessions", "share"]);
    for (v, n) in &sum.by_verdict {
        table.add_row(vec![
            v.to_string(),
            n.to_string(),
            format!("{:.1}%", 100.0 * *n as f64 / sum.sessions.max(1) as f64),
        ]);
    }
    writeln!(out, "{table}")?;
    let mut table = new_table();
    table.set_header(vec!["client-observed code", "sessions"]);
    for (code, n) in &sum.by_observed_code {
        table.add_row(vec![
            code.map(|c| c.to_string())
                .unwrap_or_else(|| "(still open)".into()),
            n.to_string(),
        ]);
    }
    if sum.observed_code_unknown > 0 {
        table.add_row(vec![
            "(unknown: encrypted)".to_string(),
            sum.observed_code_unknown.to_string(),
        ]);
    }
    writeln!(out, "{table}")
}

/// The first abnormal teardown, each server's drops and the protocol violations.
fn write_teardown_lines(sum: &crate::summary::Summary, out: &mut impl Write) -> io::Result<()> {
    match &sum.first_abnormal {
        Some(f) => writeln!(
            out,
            "first abnormal teardown: {} UTC, session {} ({}, {} -> {}), with {} sessions open: {} established on its server, {} connecting",
            f.ts.clock(),
            f.session_id,
            f.verdict,
            f.client,
            f.server,
            f.open_sessions,
            f.established.unwrap_or_default(),
            f.connecting.unwrap_or_default()
        )?,
        None => writeln!(out, "first abnormal teardown: none")?,
    }
    for d in &sum.server_drops {
        writeln!(
            out,
            "server drops on {}: {} ({}) with {} to {} established on it; {} teardowns below {} established, none a drop",
            d.server,
            d.drops,
            counted(d.by_kind.iter().map(|(k, n)| (k, n))),
            d.established_min,
            d.established_max,
            d.teardowns_below,
            d.established_min
        )?;
    }
    if !sum.violations.is_empty() {
        writeln!(
            out,
            "protocol violations (RFC 6455) in {} sessions: {}",
            sum.sessions_with_violations,
            counted(sum.violations.iter().map(|(k, n)| (k, n)))
        )?;
    }
    Ok(())
}

/// What was counted but not listed, and the warnings by kind.
fn write_run_notes(a: &Analysis, out: &mut impl Write) -> io::Result<()> {
    let st = &a.stats;
    if !st.unlisted_attempts.is_empty() {
        let parts: Vec<String> = st
            .unlisted_attempts
            .iter()
            .map(|(port, v, n)| format!("{n} {v} to port {port}"))
            .collect();
        writeln!(
            out,
            "not listed (too many empty connection attempts, a SYN flood?): {}",
            parts.join(", ")
        )?;
    }
    if st.evicted_idle > 0 {
        writeln!(
            out,
            "{} connection attempts carried nothing and were closed out after going idle",
            st.evicted_idle
        )?;
    }
    if !a.diagnostics.is_empty() {
        let counts = a.diagnostics.counts();
        writeln!(out, "warnings: {}", counted(counts.iter()))?;
    }
    Ok(())
}

/// `3 rst, 2 close 1011`: counts with what they count.
fn counted<K: std::fmt::Display, N: std::fmt::Display>(
    items: impl Iterator<Item = (K, N)>,
) -> String {
    items
        .map(|(k, n)| format!("{n} {k}"))
        .collect::<Vec<_>>()
        .join(", ")
}
