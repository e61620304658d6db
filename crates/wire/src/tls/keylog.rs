//! The NSS key log format (`SSLKEYLOGFILE`), as browsers, curl, Node.js, Java agents and
//! OpenSSL's `SSL_CTX_set_keylog_callback` (Python's `SSLContext.keylog_filename`) write it:
//! one `LABEL <client_random hex> <secret hex>` per line, `#` comments.
//!
//! Labels read: `CLIENT_RANDOM` (TLS 1.2 master secret, 48 bytes) and, for TLS 1.3,
//! `CLIENT_HANDSHAKE_TRAFFIC_SECRET`, `SERVER_HANDSHAKE_TRAFFIC_SECRET`,
//! `CLIENT_TRAFFIC_SECRET_0`, `SERVER_TRAFFIC_SECRET_0`. Other labels (early data,
//! exporter secrets) are skipped.

use crate::diag::{Diagnostics, Location, Warning, WarningKind};
use rustc_hash::FxHashMap;
use std::path::Path;

/// The secrets logged for one TLS session (keyed by its ClientHello random).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SessionSecrets {
    /// TLS 1.2 master secret.
    pub master: Option<Vec<u8>>,
    /// TLS 1.3 client handshake traffic secret.
    pub client_handshake: Option<Vec<u8>>,
    /// TLS 1.3 server handshake traffic secret.
    pub server_handshake: Option<Vec<u8>>,
    /// TLS 1.3 first client application traffic secret.
    pub client_traffic: Option<Vec<u8>>,
    /// TLS 1.3 first server application traffic secret.
    pub server_traffic: Option<Vec<u8>>,
}

/// A key log file that could not be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyLogError {
    /// It could not be opened or read.
    #[error("cannot read the key log {}: {source}", path.display())]
    Read {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Its first lines are not key log lines (or its first line is longer than any key
    /// log line): it is some other file.
    #[error("{} is not an NSS key log (SSLKEYLOGFILE): {why}", path.display())]
    NotAKeyLog {
        /// The file.
        path: std::path::PathBuf,
        /// What was found instead.
        why: String,
    },
}

/// The longest key log line read, in bytes (the longest real one, a TLS 1.3 label with
/// a 32-byte random and a 64-byte secret, has about 230); a longer line is skipped.
pub const MAX_LINE: usize = 1024;
/// Lines that cannot be read before the first one that can, after which the file is
/// taken for something other than a key log.
pub const MAX_BAD_LINES_FIRST: usize = 16;

/// Secrets by client random.
#[derive(Clone, Debug, Default)]
pub struct KeyLog {
    sessions: FxHashMap<[u8; 32], SessionSecrets>,
}

impl KeyLog {
    /// Reads a key log file as a stream, a line (at most [`MAX_LINE`] bytes) at a time:
    /// memory follows the secrets, not the file. A file that cannot be read, or that is
    /// not a key log (its first [`MAX_BAD_LINES_FIRST`] lines, or its first line longer
    /// than [`MAX_LINE`], unreadable), is an error naming it; other lines that cannot be
    /// read become warnings naming the file and line.
    pub fn load(path: &Path, diags: &mut Diagnostics) -> Result<KeyLog, KeyLogError> {
        let read_error = |source| KeyLogError::Read {
            path: path.to_path_buf(),
            source,
        };
        let file = std::fs::File::open(path).map_err(read_error)?;
        let mut input = std::io::BufReader::new(file);
        let name = path.display().to_string();
        let mut log = KeyLog::default();
        let mut reader = LineReader::default();
        let mut line = Vec::new();
        let mut number = 0;
        loop {
            let read = read_line(&mut input, &mut line).map_err(read_error)?;
            number += 1;
            let too_long = format!("longer than {MAX_LINE} bytes");
            let outcome = match read {
                Line::End => break,
                // Before any key: /dev/zero, a binary file. Not read any further.
                Line::TooLong if !reader.seen_key => Err(too_long.clone()),
                Line::TooLong => {
                    skip_line(&mut input).map_err(read_error)?;
                    Err(too_long.clone())
                }
                Line::Whole => log.add_text(&String::from_utf8_lossy(&line)),
            };
            let first_too_long = matches!(read, Line::TooLong) && !reader.seen_key;
            if let Err(why) = reader.judge(outcome, first_too_long) {
                return Err(KeyLogError::NotAKeyLog {
                    path: path.to_path_buf(),
                    why: format!("line {number}: {why}"),
                });
            }
            if let Some(why) = reader.warning.take() {
                diags.push(line_warning(&name, number, &why));
            }
        }
        Ok(log)
    }

    /// Parses key log text; `name` is the file name for warnings.
    pub fn parse(text: &str, name: &str, diags: &mut Diagnostics) -> KeyLog {
        let mut log = KeyLog::default();
        for (i, line) in text.lines().enumerate() {
            if let Err(why) = log.add_text(line) {
                diags.push(line_warning(name, i + 1, &why));
            }
        }
        log
    }

    /// One line of text: a comment and a blank line are fine (`Ok(false)`), a key log
    /// line is read (`Ok(true)`), anything else is why not.
    fn add_text(&mut self, line: &str) -> Result<bool, String> {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            return Ok(false);
        }
        self.add_line(line).map(|()| true).map_err(str::to_string)
    }

    fn add_line(&mut self, line: &str) -> Result<(), &'static str> {
        let mut parts = line.split_ascii_whitespace();
        let (Some(label), Some(random), Some(secret), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err("not `LABEL CLIENT_RANDOM SECRET`");
        };
        let random: [u8; 32] = hex(random)
            .and_then(|r| r.try_into().ok())
            .ok_or("the client random is not 32 bytes of hex")?;
        let secret = hex(secret).ok_or("the secret is not hex")?;
        let slot: fn(&mut SessionSecrets) -> &mut Option<Vec<u8>> = match label {
            "CLIENT_RANDOM" if secret.len() != 48 => {
                return Err("a TLS 1.2 master secret has 48 bytes")
            }
            "CLIENT_RANDOM" => |s: &mut SessionSecrets| &mut s.master,
            "CLIENT_HANDSHAKE_TRAFFIC_SECRET" => |s: &mut SessionSecrets| &mut s.client_handshake,
            "SERVER_HANDSHAKE_TRAFFIC_SECRET" => |s: &mut SessionSecrets| &mut s.server_handshake,
            "CLIENT_TRAFFIC_SECRET_0" => |s: &mut SessionSecrets| &mut s.client_traffic,
            "SERVER_TRAFFIC_SECRET_0" => |s: &mut SessionSecrets| &mut s.server_traffic,
            _ => return Ok(()),
        };
        *slot(self.sessions.entry(random).or_default()) = Some(secret);
        Ok(())
    }

    /// The secrets of the session whose ClientHello carried `client_random`.
    pub fn get(&self, client_random: &[u8; 32]) -> Option<&SessionSecrets> {
        self.sessions.get(client_random)
    }

    /// Sessions with at least one secret.
    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    /// True when no session has a secret.
    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }
}

fn line_warning(name: &str, number: usize, why: &str) -> Warning {
    Warning {
        kind: WarningKind::TlsKeys,
        location: Location {
            file: name.to_string(),
            packet: None,
            offset: None,
        },
        message: format!("key log line {number}: {why}; line skipped"),
    }
}

/// Decides, line after line, whether a file is a key log at all.
#[derive(Default)]
struct LineReader {
    /// A key log line was read.
    seen_key: bool,
    /// Lines that could not be read before the first key log line.
    bad_first: usize,
    /// The warning for the line just judged.
    warning: Option<String>,
}

impl LineReader {
    /// `Err` when the file is not a key log: a line longer than [`MAX_LINE`] before any
    /// key log line (`fatal`: `/dev/zero`, a binary file), or [`MAX_BAD_LINES_FIRST`]
    /// bad lines before the first good one.
    fn judge(&mut self, outcome: Result<bool, String>, fatal: bool) -> Result<(), String> {
        match outcome {
            Ok(key) => self.seen_key |= key,
            Err(why) if fatal => return Err(why),
            Err(why) if self.seen_key => self.warning = Some(why),
            Err(why) => {
                self.bad_first += 1;
                if self.bad_first >= MAX_BAD_LINES_FIRST {
                    return Err(format!(
                        "{why} (and the {} lines before it)",
                        self.bad_first - 1
                    ));
                }
                self.warning = Some(why);
            }
        }
        Ok(())
    }
}

/// What [`read_line`] read.
enum Line {
    /// A line (without its `\n`), at most [`MAX_LINE`] bytes.
    Whole,
    /// A line longer than [`MAX_LINE`]: its first bytes were read, the rest not.
    TooLong,
    /// The end of the file.
    End,
}

/// Reads one line into `line` (cleared first), at most [`MAX_LINE`] bytes of it (and
/// one more, to tell a longer line): bounded memory whatever the input, `/dev/zero`
/// included. The rest of a longer line is left unread ([`skip_line`]).
fn read_line(input: &mut impl std::io::BufRead, line: &mut Vec<u8>) -> std::io::Result<Line> {
    use std::io::{BufRead, Read};
    line.clear();
    let n = input
        .by_ref()
        .take(MAX_LINE as u64 + 1)
        .read_until(b'\n', line)?;
    if n == 0 {
        return Ok(Line::End);
    }
    if line.last() == Some(&b'\n') {
        line.pop();
        return Ok(Line::Whole);
    }
    if line.len() <= MAX_LINE {
        // The last line, without a line end.
        return Ok(Line::Whole);
    }
    Ok(Line::TooLong)
}

/// Skips the rest of a line, to its `\n` or the end of the input.
fn skip_line(input: &mut impl std::io::BufRead) -> std::io::Result<()> {
    loop {
        let buf = input.fill_buf()?;
        if buf.is_empty() {
            return Ok(());
        }
        match buf.iter().position(|&c| c == b'\n') {
            Some(i) => {
                input.consume(i + 1);
                return Ok(());
            }
            None => {
                let n = buf.len();
                input.consume(n);
            }
        }
    }
}

fn hex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_tls12_and_tls13_lines_and_warns_on_bad_ones() {
        let r = "ab".repeat(32);
        let text = format!(
            "# comment\nCLIENT_RANDOM {r} {}\nCLIENT_TRAFFIC_SECRET_0 {r} {}\n\
             SERVER_TRAFFIC_SECRET_0 {r} {}\nEXPORTER_SECRET {r} 00\nCLIENT_RANDOM zz 00\n",
            "01".repeat(48),
            "02".repeat(32),
            "03".repeat(48)
        );
        let mut diags = Diagnostics::default();
        let log = KeyLog::parse(&text, "k.log", &mut diags);
        assert_eq!(log.len(), 1);
        let s = log.get(&[0xab; 32]).expect("session");
        assert_eq!(s.master.as_deref(), Some(&[1u8; 48][..]));
        assert_eq!(s.client_traffic.as_deref(), Some(&[2u8; 32][..]));
        assert_eq!(s.server_traffic.as_deref(), Some(&[3u8; 48][..]));
        assert_eq!(s.client_handshake, None);
        assert_eq!(diags.count(WarningKind::TlsKeys), 1);
        assert!(diags.warnings()[0].to_string().contains("k.log"));
        assert!(diags.warnings()[0].message.contains("line 6"));
    }

    fn load_text(bytes: &[u8]) -> (Result<KeyLog, KeyLogError>, Diagnostics) {
        let p = std::env::temp_dir().join(format!(
            "teardown-keylog-{}-{}",
            std::process::id(),
            bytes.len()
        ));
        std::fs::write(&p, bytes).unwrap();
        let mut diags = Diagnostics::default();
        let r = KeyLog::load(&p, &mut diags);
        let _ = std::fs::remove_file(&p);
        (r, diags)
    }

    #[test]
    fn a_file_that_is_not_a_key_log_is_said_to_be_one_in_bounded_memory() {
        // /dev/zero has no line end: nothing past the first MAX_LINE bytes is read.
        let mut diags = Diagnostics::default();
        let e = KeyLog::load(Path::new("/dev/zero"), &mut diags).unwrap_err();
        assert!(matches!(e, KeyLogError::NotAKeyLog { .. }), "{e}");
        assert!(e.to_string().contains("is not an NSS key log"), "{e}");
        // A text file of something else.
        let (r, _) = load_text(&b"hello world\n".repeat(100));
        assert!(matches!(r, Err(KeyLogError::NotAKeyLog { .. })));
        // A key log with a long line and a bad one after its first key: warnings, the
        // keys before and after kept.
        let r1 = "ab".repeat(32);
        let r2 = "cd".repeat(32);
        let mut text = format!("CLIENT_RANDOM {r1} {}\n", "01".repeat(48)).into_bytes();
        text.extend(vec![b'x'; 5000]);
        text.extend(format!("\nnonsense\nCLIENT_RANDOM {r2} {}", "02".repeat(48)).bytes());
        let (r, diags) = load_text(&text);
        let log = r.unwrap();
        assert_eq!(log.len(), 2);
        assert_eq!(diags.count(WarningKind::TlsKeys), 2);
        assert!(diags.warnings()[0]
            .message
            .contains("line 2: longer than 1024 bytes"));
        assert!(diags.warnings()[1].message.contains("line 3"));
    }
}
