//! TLS under WebSocket (`wss://`): what a capture shows without keys, and the decrypted
//! stream with them.
//!
//! A direction is TLS when its first byte is a handshake record (0x16) of version 3.x
//! ([`starts_tls`], asked through the TCP probe, `tcp::probe`, on the first delivered
//! bytes); that one check per direction is all non-TLS traffic pays. Then:
//!
//! - [`record`] frames records over the reassembled direction (split across segments,
//!   several per segment; a gap loses one record or the framing, which is searched for);
//! - [`handshake`] reads the ClientHello and ServerHello with `tls-parser`;
//! - [`keylog`] reads an NSS key log (`SSLKEYLOGFILE`);
//! - [`crypto`] derives record keys (TLS 1.2 PRF, TLS 1.3 HKDF-Expand-Label) and opens
//!   AES-GCM and ChaCha20-Poly1305 records with the RustCrypto crates;
//! - [`stream`] ties them together per connection: handshake facts, alerts, and the
//!   decrypted application data handed to the WebSocket decoder as if it were plain TCP.

pub mod crypto;
pub mod handshake;
pub mod infer;
pub mod keylog;
pub mod record;
pub mod stream;

pub use keylog::{KeyLog, KeyLogError};
pub use stream::{TlsConnection, TlsEvent, TlsOutcome};

/// True when the first bytes of a direction are a TLS handshake record: content type 22
/// and, when the bytes reach it, major version 3 (RFC 8446 §5.1; never the first byte of
/// an HTTP request, and an invalid WebSocket frame header: RSV3 set, opcode 6).
pub fn starts_tls(first: &[u8]) -> bool {
    first.first() == Some(&record::HANDSHAKE) && first.get(1).is_none_or(|&v| v == 3)
}

/// `TLS 1.2`, `TLS 1.3`, ... for a version code.
pub fn version_name(v: u16) -> String {
    match v {
        0x0300 => "SSL 3.0".into(),
        0x0301..=0x0304 => format!("TLS 1.{}", v - 0x0301),
        _ => format!("0x{v:04x}"),
    }
}

/// The IANA name of a cipher suite (`TLS_AES_128_GCM_SHA256`), or its code in hex.
pub fn cipher_name(id: u16) -> String {
    tls_parser::TlsCipherSuite::from_id(id)
        .map(|c| c.name.to_string())
        .unwrap_or_else(|| format!("0x{id:04x}"))
}

/// The name of an alert description (RFC 8446 §6), `close_notify`, `unknown_ca`, ...;
/// `alert_N` for one tls-parser does not name.
pub fn alert_name(description: u8) -> String {
    let camel = tls_parser::TlsAlertDescription(description).to_string();
    if !camel.chars().all(|c| c.is_ascii_alphanumeric()) {
        return format!("alert_{description}");
    }
    let mut out = String::new();
    for (i, c) in camel.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

/// What a session's TLS showed.
#[derive(Clone, Debug, Default, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct TlsSummary {
    /// Negotiated version, `TLS 1.2` or `TLS 1.3`.
    pub version: Option<String>,
    /// Negotiated cipher suite (IANA name).
    pub cipher: Option<String>,
    /// Server name from the ClientHello.
    pub sni: Option<String>,
    /// Negotiated application protocol, when visible (TLS 1.3 needs the keys).
    pub alpn: Option<String>,
    /// ClientHello to the handshake's last Finished, ms.
    pub handshake_ms: Option<f64>,
    /// The key log held this session's secrets.
    pub keys_found: bool,
    /// Application data was decrypted, so the WebSocket analysis is complete.
    pub decrypted: bool,
    /// Records that did not open with the logged keys.
    pub unopened_records: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(starts_tls(&[22, 3, 1, 2, 0]));
        assert!(starts_tls(&[22]));
        assert!(!starts_tls(b"GET / HTTP/1.1"));
        assert!(!starts_tls(&[0x81, 0x05]));
        assert_eq!(version_name(0x0304), "TLS 1.3");
        assert_eq!(version_name(0x0303), "TLS 1.2");
        assert_eq!(cipher_name(0x1301), "TLS_AES_128_GCM_SHA256");
        assert_eq!(alert_name(0), "close_notify");
        assert_eq!(alert_name(48), "unknown_ca");
        assert_eq!(alert_name(200), "alert_200");
    }
}
