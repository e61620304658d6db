//! Rendering: session tables (terminal, CSV, JSON), timelines, the summary, warnings and
//! the progress bar. Everything here writes to a `Write` given by the caller and returns
//! I/O errors; nothing here decides anything about the capture.

mod media;
mod summary;

pub use media::{media_flows, write_media_csv, write_media_json, write_media_table, MediaRow};
pub use summary::{concurrency_at, summarize, Summary};

use crate::analysis::Analysis;
use crate::diag::{Diagnostics, MESSAGES_KEPT_PER_KIND};
use crate::session::Session;
use crate::time::Timestamp;
use comfy_table::{presets::UTF8_FULL_CONDENSED, ContentArrangement, Table};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use std::borrow::Cow;
use std::io::{self, IsTerminal, Write};
use std::net::IpAddr;

/// A progress bar over `total` bytes on stderr, when asked for and stderr is a terminal.
pub fn progress_bar(wanted: bool, total: u64) -> Option<ProgressBar> {
    if !wanted || !io::stderr().is_terminal() {
        return None;
    }
    let bar = ProgressBar::new(total);
    let style = ProgressStyle::with_template(
        "{spinner} reading captures {bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    Some(bar)
}

/// `HH:MM:SS.ffffff` in UTC, for people.
pub fn clock(ts: Timestamp) -> String {
    let secs = ts.0.div_euclid(1_000_000_000);
    let micros = ts.0.rem_euclid(1_000_000_000) / 1000;
    let day = secs.rem_euclid(86_400);
    format!(
        "{:02}:{:02}:{:02}.{micros:06}",
        day / 3600,
        day / 60 % 60,
        day % 60
    )
}

/// One CSV row of the sessions table. The first fifteen columns are the documented
/// interface (README); more may be added after them, never before.
#[derive(Serialize)]
pub struct SessionRow<'a> {
    /// Session id.
    pub session_id: u64,
    /// Client address.
    pub client_ip: IpAddr,
    /// Client port.
    pub client_port: u16,
    /// Server address.
    pub server_ip: IpAddr,
    /// Server port.
    pub server_port: u16,
    /// First packet.
    pub start_ts: Timestamp,
    /// Last packet.
    pub end_ts: Timestamp,
    /// HTTP status of the upgrade response.
    pub handshake_status: Option<u16>,
    /// Verdict.
    pub verdict: &'a str,
    /// `client`, `server` or `none`.
    pub teardown_initiator: &'a str,
    /// Teardown start.
    pub teardown_start_ts: Option<Timestamp>,
    /// First close frame's code (1005 when it had none).
    pub close_code: Option<u16>,
    /// What the client's WebSocket API reports.
    pub client_observed_code: Option<u16>,
    /// Frames client to server.
    pub frames_c2s: u64,
    /// Frames server to client.
    pub frames_s2c: u64,
    /// Who sent the first close frame.
    pub close_sender: Option<&'a str>,
    /// Its reason text.
    pub close_reason: Option<Cow<'a, str>>,
    /// Upgrade request target.
    pub http_path: Option<Cow<'a, str>>,
    /// SYN to upgrade response, ms.
    pub handshake_ms: Option<f64>,
    /// Data messages client to server.
    pub messages_c2s: u64,
    /// Data messages server to client.
    pub messages_s2c: u64,
    /// Pings, both ways.
    pub pings: u64,
    /// Pongs, both ways.
    pub pongs: u64,
    /// Mean ping round trip, ms.
    pub ping_rtt_mean_ms: Option<f64>,
    /// Retransmitted segments, both ways.
    pub retransmissions: u64,
    /// Bytes missing from the capture, both ways.
    pub capture_gap_bytes: u64,
    /// permessage-deflate negotiated.
    pub permessage_deflate: bool,
    /// The capture did not hold the SYN.
    pub midstream: bool,
    /// RTP streams joined to the session.
    pub rtp_streams: usize,
    /// RTP packets in them.
    pub rtp_packets: u64,
    /// RTP packets lost in them (RFC 3550 A.3).
    pub rtp_lost: i64,
    /// Last RTP packet of the session.
    pub media_last_ts: Option<Timestamp>,
    /// Mean STUN round trip on its flows, ms.
    pub stun_rtt_ms: Option<f64>,
    /// The rule that joined its media.
    pub join_rule: Option<&'a str>,
    /// The media finding, if any.
    pub media_finding: Option<&'a str>,
    /// TLS version of a `wss://` session.
    pub tls_version: Option<&'a str>,
    /// Its cipher suite (IANA name).
    pub tls_cipher: Option<&'a str>,
    /// The server name of its ClientHello.
    pub tls_sni: Option<Cow<'a, str>>,
    /// Its negotiated application protocol, when visible.
    pub tls_alpn: Option<Cow<'a, str>>,
    /// Whether its frames were decrypted with the key log (empty without TLS).
    pub tls_decrypted: Option<bool>,
    /// ClientHello to the handshake's last Finished, ms.
    pub tls_handshake_ms: Option<f64>,
}

fn round3(x: Option<f64>) -> Option<f64> {
    x.map(|v| (v * 1000.0).round() / 1000.0)
}

/// Neutralises a text cell for spreadsheets: a cell starting with `=`, `+`, `-`, `@`, tab
/// or carriage return would be read as a formula (CSV injection), so it gets a leading `'`.
pub fn spreadsheet_safe(text: &str) -> Cow<'_, str> {
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        Cow::Owned(format!("'{text}"))
    } else {
        Cow::Borrowed(text)
    }
}

impl<'a> SessionRow<'a> {
    /// The row of a session; `raw` keeps capture text as it was, otherwise text cells are
    /// made [`spreadsheet_safe`].
    pub fn new(s: &'a Session, raw: bool) -> Self {
        let text = |t: &'a str| {
            if raw {
                Cow::Borrowed(t)
            } else {
                spreadsheet_safe(t)
            }
        };
        SessionRow {
            session_id: s.id,
            client_ip: s.client.ip(),
            client_port: s.client.port(),
            server_ip: s.server.ip(),
            server_port: s.server.port(),
            start_ts: s.start_ts,
            end_ts: s.end_ts,
            handshake_status: s.handshake_status(),
            verdict: s.verdict.as_str(),
            teardown_initiator: s.teardown_initiator.as_str(),
            teardown_start_ts: s.teardown_start_ts,
            close_code: s.close_code(),
            client_observed_code: s.client_observed_code,
            frames_c2s: s.c2s.frames,
            frames_s2c: s.s2c.frames,
            close_sender: s
                .first_close
                .as_ref()
                .map(|c| c.direction.sender().as_str()),
            close_reason: s.first_close.as_ref().map(|c| text(&c.reason)),
            http_path: s.request.as_ref().map(|r| text(&r.path)),
            handshake_ms: round3(s.handshake_ms),
            messages_c2s: s.c2s.messages,
            messages_s2c: s.s2c.messages,
            pings: s.c2s.pings + s.s2c.pings,
            pongs: s.c2s.pongs + s.s2c.pongs,
            ping_rtt_mean_ms: round3(s.ping_rtt_mean_ms),
            retransmissions: s.c2s.retransmitted + s.s2c.retransmitted,
            capture_gap_bytes: s.c2s.capture_gap_bytes + s.s2c.capture_gap_bytes,
            permessage_deflate: s.permessage_deflate(),
            midstream: s.midstream,
            rtp_streams: s.media.iter().map(|f| f.rtp.len()).sum(),
            rtp_packets: s
                .media
                .iter()
                .flat_map(|f| &f.rtp)
                .map(|(_, r)| r.packets)
                .sum(),
            rtp_lost: s
                .media
                .iter()
                .flat_map(|f| &f.rtp)
                .map(|(_, r)| r.lost)
                .sum(),
            media_last_ts: s.media.iter().filter_map(|f| f.last_rtp()).max(),
            stun_rtt_ms: {
                let (n, sum) = s.media.iter().fold((0, 0.0), |(n, sum), f| {
                    (n + f.stun.rtt_count, sum + f.stun.rtt_sum_ms)
                });
                (n > 0).then(|| (sum / n as f64 * 1000.0).round() / 1000.0)
            },
            join_rule: s.join_rule,
            media_finding: s.media_finding.as_ref().map(|m| m.kind),
            tls_version: s.tls.as_ref().and_then(|t| t.version.as_deref()),
            tls_cipher: s.tls.as_ref().and_then(|t| t.cipher.as_deref()),
            tls_sni: s.tls.as_ref().and_then(|t| t.sni.as_deref()).map(text),
            tls_alpn: s.tls.as_ref().and_then(|t| t.alpn.as_deref()).map(text),
            tls_decrypted: s.tls.as_ref().map(|t| t.decrypted),
            tls_handshake_ms: round3(s.tls.as_ref().and_then(|t| t.handshake_ms)),
        }
    }
}

/// Writes the sessions as CSV (header row first); `raw` skips [`spreadsheet_safe`].
pub fn write_sessions_csv(sessions: &[Session], raw: bool, out: impl Write) -> io::Result<()> {
    let mut w = csv::Writer::from_writer(out);
    for s in sessions {
        w.serialize(SessionRow::new(s, raw))
            .map_err(io::Error::other)?;
    }
    if sessions.is_empty() {
        // csv writes the header with the first row; an empty table still gets its header.
        w.write_record(csv_header())?;
    }
    w.flush()
}

fn csv_header() -> Vec<&'static str> {
    vec![
        "session_id",
        "client_ip",
        "client_port",
        "server_ip",
        "server_port",
        "start_ts",
        "end_ts",
        "handshake_status",
        "verdict",
        "teardown_initiator",
        "teardown_start_ts",
        "close_code",
        "client_observed_code",
        "frames_c2s",
        "frames_s2c",
        "close_sender",
        "close_reason",
        "http_path",
        "handshake_ms",
        "messages_c2s",
        "messages_s2c",
        "pings",
        "pongs",
        "ping_rtt_mean_ms",
        "retransmissions",
        "capture_gap_bytes",
        "permessage_deflate",
        "midstream",
        "rtp_streams",
        "rtp_packets",
        "rtp_lost",
        "media_last_ts",
        "stun_rtt_ms",
        "join_rule",
        "media_finding",
        "tls_version",
        "tls_cipher",
        "tls_sni",
        "tls_alpn",
        "tls_decrypted",
        "tls_handshake_ms",
    ]
}

/// Writes the sessions as a JSON array (with their timelines).
pub fn write_sessions_json(sessions: &[Session], mut out: impl Write) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut out, sessions).map_err(io::Error::other)?;
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
            clock(s.start_ts),
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
        .map(|r| format!("  GET {}", r.path))
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
            clock(e.ts),
            e.direction,
            e.kind
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
    let sum = summarize(a);
    let st = &a.stats;
    writeln!(
        out,
        "capture: {} file(s), {:.1} MB, {} packets ({} TCP), {}",
        st.files,
        st.bytes as f64 / 1e6,
        st.packets,
        st.tcp_segments,
        match (st.first_ts, st.last_ts) {
            (Some(f), Some(l)) => format!(
                "{} to {} UTC ({:.3} s)",
                clock(f),
                clock(l),
                l.millis_since(f) / 1000.0
            ),
            _ => "no packets".to_string(),
        }
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
            "TLS: {} sessions over TLS, {} decrypted with the key log",
            sum.tls_sessions, sum.tls_decrypted
        )?;
    }
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
    writeln!(out, "{table}")?;
    match &sum.first_abnormal {
        Some(f) => writeln!(
            out,
            "first abnormal teardown: {} UTC, session {} ({}, {} -> {}), with {} sessions open",
            clock(f.ts),
            f.session_id,
            f.verdict,
            f.client,
            f.server,
            f.open_sessions
        )?,
        None => writeln!(out, "first abnormal teardown: none")?,
    }
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
        let parts: Vec<String> = a
            .diagnostics
            .counts()
            .iter()
            .map(|(k, n)| format!("{n} {k}"))
            .collect();
        writeln!(out, "warnings: {}", parts.join(", "))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_are_neutralised_and_plain_text_is_not() {
        assert_eq!(spreadsheet_safe("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(spreadsheet_safe("-1+2"), "'-1+2");
        assert_eq!(spreadsheet_safe("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(spreadsheet_safe("going away"), "going away");
        assert!(matches!(spreadsheet_safe("/chat"), Cow::Borrowed(_)));
    }

    #[test]
    fn clock_is_utc_time_of_day() {
        assert_eq!(
            clock(Timestamp(1_764_331_200_123_456_789)),
            "12:00:00.123456"
        );
    }
}
