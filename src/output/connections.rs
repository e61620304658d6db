//! `teardown connections`: one row per TCP connection, sessions and the others.

use crate::analysis::Analysis;
use crate::columns::{connection_rows, TCP_CONNECTIONS};
use std::io::{self, Write};

/// Writes the connections table ([`TCP_CONNECTIONS`]) as CSV; `raw` keeps capture text as
/// it was.
pub fn write_connections_csv(a: &Analysis, raw: bool, out: impl Write) -> io::Result<()> {
    TCP_CONNECTIONS.write_csv(&connection_rows(a), raw, out)
}

/// Writes the connections as a JSON array of objects, the [`TCP_CONNECTIONS`] columns.
pub fn write_connections_json(a: &Analysis, mut out: impl Write) -> io::Result<()> {
    let rows = connection_rows(a);
    let json: Vec<_> = rows.iter().map(|r| TCP_CONNECTIONS.json_row(r)).collect();
    serde_json::to_writer_pretty(&mut out, &json).map_err(io::Error::other)?;
    writeln!(out)
}

/// Writes the connections for the terminal: what each carried, who ended it and how,
/// bytes, retransmissions and capture gaps each way.
pub fn write_connections_table(a: &Analysis, mut out: impl Write) -> io::Result<()> {
    let mut table = super::new_table();
    table.set_header(vec![
        "session",
        "protocol",
        "client",
        "server",
        "start (UTC)",
        "closed by",
        "bytes c>s",
        "bytes s>c",
        "retrans c>s",
        "retrans s>c",
        "gaps",
    ]);
    for r in connection_rows(a) {
        let closed = r.first_tcp_close().map_or_else(String::new, |e| {
            format!("{} {}", e.direction.sender().as_str(), e.kind)
        });
        table.add_row(vec![
            if r.is_session {
                r.id.to_string()
            } else {
                String::new()
            },
            r.protocol().as_str().to_string(),
            r.client.to_string(),
            r.server.to_string(),
            r.start_ts.clock(),
            closed,
            r.c2s.payload_bytes.to_string(),
            r.s2c.payload_bytes.to_string(),
            r.c2s.retransmitted.to_string(),
            r.s2c.retransmitted.to_string(),
            (r.c2s.capture_gaps + r.s2c.capture_gaps).to_string(),
        ]);
    }
    writeln!(out, "{table}")?;
    let listed = a.other_tcp.len() as u64;
    if a.stats.other_connections > listed {
        writeln!(
            out,
            "{} more connections that are not sessions were counted but not listed",
            a.stats.other_connections - listed
        )?;
    }
    Ok(())
}
