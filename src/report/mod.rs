//! `teardown report`: one page that says where the knee is and who dropped the sessions.
//!
//! [`html`] writes a self-contained HTML file (inline CSS and SVG charts, no scripts, no
//! fonts or anything else fetched); [`markdown`] writes the same findings and tables as
//! Markdown. Both take the [`LoadRun`] view of an analysis; every text that comes from the
//! capture (paths, user agents, close reasons) is escaped for the format.

pub mod html;
pub mod markdown;
mod svg;
pub mod tables;

use crate::analysis::Analysis;
use crate::loadrun::LoadRun;
use std::borrow::Cow;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// What the report is about.
#[derive(Clone, Debug)]
pub struct Meta {
    /// Shown as the heading: the capture's name.
    pub title: String,
    /// The inputs as given.
    pub inputs: Vec<String>,
}

impl Meta {
    /// The heading and inputs of a report on `inputs`: the name of a single input
    /// (file stem or folder name), else the first one's and how many more.
    pub fn for_inputs(inputs: &[PathBuf]) -> Meta {
        Meta {
            title: capture_name(inputs),
            inputs: inputs.iter().map(|p| p.display().to_string()).collect(),
        }
    }
}

/// The name of a capture made of `inputs`: a single input's file stem or folder name;
/// with several inputs, the first one's followed by `+N` (how many more).
pub fn capture_name(inputs: &[PathBuf]) -> String {
    let name = |p: &Path| {
        let p = p.canonicalize().unwrap_or_else(|_| p.to_path_buf());
        if p.is_dir() {
            p.file_name()
        } else {
            p.file_stem()
        }
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "capture".into())
    };
    match inputs {
        [] => "capture".into(),
        [one] => name(one),
        [first, rest @ ..] => format!("{}+{}", name(first), rest.len()),
    }
}

/// Escapes text for HTML: `&`, `<`, `>`, `"` and `'` become entities, so the result is
/// safe both as element text and inside a quoted attribute; controls and direction marks
/// are written out ([`escape_controls`](crate::text::escape_controls)).
pub fn esc(s: &str) -> Cow<'_, str> {
    match crate::text::escape_controls(s) {
        Cow::Borrowed(s) => html_escape::encode_quoted_attribute(s),
        Cow::Owned(s) => Cow::Owned(html_escape::encode_quoted_attribute(&s).into_owned()),
    }
}

/// Writes the HTML report.
pub fn write_html(a: &Analysis, run: &LoadRun, meta: &Meta, out: impl Write) -> io::Result<()> {
    html::write(a, run, meta, out)
}

/// Writes the Markdown report.
pub fn write_markdown(a: &Analysis, run: &LoadRun, meta: &Meta, out: impl Write) -> io::Result<()> {
    markdown::write(a, run, meta, out)
}

/// Writes the report to `path` atomically (HTML, or Markdown when `markdown`).
pub fn write_file(
    path: &Path,
    a: &Analysis,
    run: &LoadRun,
    meta: &Meta,
    markdown: bool,
) -> io::Result<()> {
    crate::output::write_atomic(path, |w| {
        if markdown {
            write_markdown(a, run, meta, w)
        } else {
            write_html(a, run, meta, w)
        }
    })
}

/// A short account of a report, for the end of the command.
pub fn summary(run: &LoadRun, path: &Path) -> String {
    let mut s = format!(
        "wrote {}: {} sessions, {} abnormal ({})",
        path.display(),
        run.sessions,
        run.abnormal,
        crate::loadrun::percent(run.abnormal, run.sessions)
    );
    if let Some(f) = &run.summary.first_abnormal {
        s.push_str(&format!(
            "; first abnormal teardown at {} UTC with {} established on {}",
            crate::loadrun::clock_ms(f.ts),
            f.established.unwrap_or_default(),
            f.server
        ));
    }
    for d in &run.summary.server_drops {
        s.push_str(&format!(
            "; {} server drops with {}–{} established on {}",
            d.drops, d.established_min, d.established_max, d.server
        ));
    }
    if let Some(c) = run.causes.first() {
        s.push_str(&format!("; mostly {} from {}", c.verdict, c.server));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_from_the_capture_is_escaped() {
        assert_eq!(
            esc(r#"<script>alert("x")</script>&'"#),
            "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#x27;"
        );
        assert_eq!(esc("<b>\u{7}\u{202e}"), "&lt;b&gt;\\u{7}\\u{202e}");
    }

    #[test]
    fn capture_names() {
        let p = |s: &str| PathBuf::from(s);
        assert_eq!(capture_name(&[p("/nonexistent/run1.pcapng")]), "run1");
        assert_eq!(
            capture_name(&[p("a.pcap"), p("b.pcap"), p("c.pcap")]),
            "a+2"
        );
    }
}
