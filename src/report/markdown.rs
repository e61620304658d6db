//! The Markdown report: the findings and the tables of the HTML report, without charts.

use super::tables::{self, Table};
use super::Meta;
use crate::analysis::Analysis;
use crate::loadrun::LoadRun;
use std::io::{self, Write};

/// Escapes text for a Markdown table cell or list item: HTML markup becomes entities
/// (Markdown renderers pass raw HTML through), Markdown punctuation gets a backslash, line
/// breaks become spaces, and other controls and direction marks are written out
/// ([`escape_controls`](crate::text::escape_controls)).
pub fn md_escape(s: &str) -> String {
    let one_line = s.replace(['\n', '\r'], " ");
    let s = crate::text::escape_controls(&one_line);
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\n' | '\r' => out.push(' '),
            '\\' | '|' | '`' | '*' | '_' | '[' | ']' | '#' | '!' | '~' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

fn table(t: &Table, mut out: impl Write) -> io::Result<()> {
    writeln!(
        out,
        "## {}\n\n{}\n",
        md_escape(&t.title),
        md_escape(&t.note)
    )?;
    let head: Vec<String> = t.headers.iter().map(|h| md_escape(h)).collect();
    writeln!(out, "| {} |", head.join(" | "))?;
    let align: Vec<&str> = t
        .numeric
        .iter()
        .map(|n| if *n { "---:" } else { "---" })
        .collect();
    writeln!(out, "| {} |", align.join(" | "))?;
    for row in &t.rows {
        let cells: Vec<String> = row.iter().map(|c| md_escape(c)).collect();
        writeln!(out, "| {} |", cells.join(" | "))?;
    }
    if t.rows.is_empty() {
        writeln!(
            out,
            "| (none) |{}",
            " |".repeat(t.headers.len().saturating_sub(1))
        )?;
    }
    writeln!(out)
}

/// Writes the Markdown report.
pub fn write(a: &Analysis, run: &LoadRun, meta: &Meta, mut out: impl Write) -> io::Result<()> {
    writeln!(out, "# Load run: {}\n", md_escape(&meta.title))?;
    writeln!(
        out,
        "{} file(s): {}; {} packets, {} WebSocket sessions.\n",
        a.stats.files,
        md_escape(&meta.inputs.join(", ")),
        a.stats.packets,
        a.sessions.len()
    )?;
    writeln!(out, "## Findings\n")?;
    for (i, f) in run.findings.iter().enumerate() {
        writeln!(out, "{}. {}", i + 1, md_escape(f))?;
    }
    writeln!(out)?;
    table(&tables::verdicts(a, run), &mut out)?;
    table(&tables::close_codes(run), &mut out)?;
    table(&tables::codes_over_time(run), &mut out)?;
    table(&tables::bands(run), &mut out)?;
    table(&tables::servers(run), &mut out)?;
    if run.abnormal > 0 {
        table(&tables::first_failing(a, 20), &mut out)?;
    }
    table(&tables::per_second(run), &mut out)?;
    writeln!(
        out,
        "Written by teardown {} from the packet captures alone. Times are UTC.",
        env!("CARGO_PKG_VERSION")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_cannot_break_the_table_or_inject_html() {
        assert_eq!(
            md_escape("<script>a|b</script>\n*x*"),
            "&lt;script&gt;a\\|b&lt;/script&gt; \\*x\\*"
        );
        assert_eq!(
            md_escape("a\u{1b}[2J\u{202e}b"),
            "a\\\\u{1b}\\[2J\\\\u{202e}b"
        );
    }
}
