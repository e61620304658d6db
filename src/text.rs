//! Text taken from a capture, made safe to show.
//!
//! A capture's text (request paths, user agents, close reasons, STUN usernames) is
//! written by whoever sent the packets. Shown raw, control characters act on the
//! terminal that prints it (`ESC [2J` clears it, OSC 8 plants a link, BEL rings) and
//! bidirectional overrides reorder what a reader sees (Trojan Source, CVE-2021-42574).
//! [`escape_controls`] is applied to such text in every text output: the timelines, the
//! CSV on standard output (unless `--csv-raw`), the Markdown and HTML report.

use std::borrow::Cow;

/// True for a character shown escaped: C0 controls (tab and line ends included), DEL,
/// C1 controls, and the Unicode marks that change the direction of what follows them
/// (U+061C, U+200E, U+200F, U+202A-U+202E, U+2066-U+2069).
fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
        )
}

/// Writes every character [`is_unsafe`] calls unsafe as Rust writes it in a literal,
/// `\u{1b}`; other text, a backslash included, is kept. Borrowed when nothing changes.
pub fn escape_controls(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_unsafe) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if is_unsafe(c) {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_and_direction_marks_are_escaped_and_nothing_else() {
        assert_eq!(
            escape_controls("a\u{1b}[2J\u{7}\u{9b}1m\u{202e}txt.exe\u{2066}\n"),
            "a\\u{1b}[2J\\u{7}\\u{9b}1m\\u{202e}txt.exe\\u{2066}\\u{a}"
        );
        assert_eq!(escape_controls("é/ü 中 \\ ok"), "é/ü 中 \\ ok");
        assert!(matches!(escape_controls("/chat?x=1"), Cow::Borrowed(_)));
    }
}
