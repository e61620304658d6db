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

/// A key log file that could not be read.
#[derive(Debug, thiserror::Error)]
#[error("cannot read the key log {}: {source}", path.display())]
pub struct KeyLogError {
    /// The file.
    pub path: std::path::PathBuf,
    /// Why.
    pub source: std::io::Error,
}

/// Secrets by client random.
#[derive(Clone, Debug, Default)]
pub struct KeyLog {
    sessions: FxHashMap<[u8; 32], SessionSecrets>,
}

impl KeyLog {
    /// Reads a key log file. A file that cannot be read is an error naming it; lines that
    /// cannot be read become warnings naming the file and line.
    pub fn load(path: &Path, diags: &mut Diagnostics) -> Result<KeyLog, KeyLogError> {
        let text = std::fs::read(path).map_err(|source| KeyLogError {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(KeyLog::parse(
            &String::from_utf8_lossy(&text),
            &path.display().to_string(),
            diags,
        ))
    }

    /// Parses key log text; `name` is the file name for warnings.
    pub fn parse(text: &str, name: &str, diags: &mut Diagnostics) -> KeyLog {
        let mut log = KeyLog::default();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if let Err(why) = log.add_line(line) {
                diags.push(Warning {
                    kind: WarningKind::TlsKeys,
                    location: Location {
                        file: name.to_string(),
                        packet: None,
                        offset: None,
                    },
                    message: format!("key log line {}: {why}; line skipped", i + 1),
                });
            }
        }
        log
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
}
