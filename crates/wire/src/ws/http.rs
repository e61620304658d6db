//! The HTTP/1.1 upgrade handshake (RFC 6455 §4.1, §4.2), parsed with `httparse`.

use base64::Engine;
use sha1::{Digest, Sha1};

/// Headers parsed per message; more are an invalid head for our purposes.
const MAX_HEADERS: usize = 64;

/// The GUID appended to the client's key (RFC 6455 §1.3).
const WS_GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// The client's opening handshake.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct UpgradeRequest {
    /// Request method (`GET` for a WebSocket upgrade).
    pub method: String,
    /// Request target.
    pub path: String,
    /// `Host` header.
    pub host: Option<String>,
    /// `User-Agent` header.
    pub user_agent: Option<String>,
    /// `Sec-WebSocket-Key` header.
    pub key: Option<String>,
    /// `Sec-WebSocket-Protocol` offered.
    pub protocols: Option<String>,
    /// `Sec-WebSocket-Extensions` offered.
    pub extensions: Option<String>,
    /// True when this asks for a WebSocket upgrade (`Upgrade: websocket`).
    pub is_websocket: bool,
}

/// The server's answer.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct UpgradeResponse {
    /// HTTP status (101 when the upgrade succeeded).
    pub status: u16,
    /// Reason phrase.
    pub reason: String,
    /// `Sec-WebSocket-Accept` header.
    pub accept: Option<String>,
    /// `Sec-WebSocket-Protocol` chosen.
    pub protocol: Option<String>,
    /// `Sec-WebSocket-Extensions` accepted (e.g. `permessage-deflate`).
    pub extensions: Option<String>,
}

impl UpgradeResponse {
    /// True when the server accepted permessage-deflate (RFC 7692).
    pub fn permessage_deflate(&self) -> bool {
        self.extensions
            .as_deref()
            .is_some_and(|e| e.to_ascii_lowercase().contains("permessage-deflate"))
    }
}

/// Outcome of parsing an HTTP head from the start of a buffer.
#[derive(Debug, PartialEq, Eq)]
pub enum HeadResult<T> {
    /// A whole head, and how many bytes it took.
    Complete(T, usize),
    /// More bytes are needed.
    Partial,
    /// Not a valid HTTP head.
    Invalid(String),
}

/// `Sec-WebSocket-Accept` for a key: base64(SHA-1(key + GUID)) (RFC 6455 §4.2.2).
pub fn accept_key(key: &str) -> String {
    let digest = Sha1::digest(format!("{}{WS_GUID}", key.trim()).as_bytes());
    base64::engine::general_purpose::STANDARD.encode(digest)
}

fn header(headers: &[httparse::Header<'_>], name: &str) -> Option<String> {
    let values: Vec<String> = headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case(name))
        .map(|h| String::from_utf8_lossy(h.value).trim().to_string())
        .collect();
    (!values.is_empty()).then(|| values.join(", "))
}

/// Parses a request head.
pub fn parse_request(buf: &[u8]) -> HeadResult<UpgradeRequest> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) => {
            let upgrade = header(req.headers, "upgrade").unwrap_or_default();
            let r = UpgradeRequest {
                method: req.method.unwrap_or_default().to_string(),
                path: req.path.unwrap_or_default().to_string(),
                host: header(req.headers, "host"),
                user_agent: header(req.headers, "user-agent"),
                key: header(req.headers, "sec-websocket-key"),
                protocols: header(req.headers, "sec-websocket-protocol"),
                extensions: header(req.headers, "sec-websocket-extensions"),
                is_websocket: upgrade
                    .to_ascii_lowercase()
                    .split(',')
                    .any(|t| t.trim() == "websocket"),
            };
            HeadResult::Complete(r, n)
        }
        Ok(httparse::Status::Partial) => HeadResult::Partial,
        Err(e) => HeadResult::Invalid(e.to_string()),
    }
}

/// Parses a response head.
pub fn parse_response(buf: &[u8]) -> HeadResult<UpgradeResponse> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut resp = httparse::Response::new(&mut headers);
    match resp.parse(buf) {
        Ok(httparse::Status::Complete(n)) => HeadResult::Complete(
            UpgradeResponse {
                status: resp.code.unwrap_or_default(),
                reason: resp.reason.unwrap_or_default().to_string(),
                accept: header(resp.headers, "sec-websocket-accept"),
                protocol: header(resp.headers, "sec-websocket-protocol"),
                extensions: header(resp.headers, "sec-websocket-extensions"),
            },
            n,
        ),
        Ok(httparse::Status::Partial) => HeadResult::Partial,
        Err(e) => HeadResult::Invalid(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_key_matches_rfc_example() {
        // RFC 6455 §1.3
        assert_eq!(
            accept_key("dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn parses_upgrade_request() {
        let raw = b"GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Extensions: permessage-deflate\r\nUser-Agent: jmeter\r\n\r\nrest";
        let HeadResult::Complete(r, n) = parse_request(raw) else {
            panic!()
        };
        assert_eq!(n, raw.len() - 4);
        assert_eq!(r.path, "/chat");
        assert!(r.is_websocket);
        assert_eq!(r.key.as_deref(), Some("dGhlIHNhbXBsZSBub25jZQ=="));
        assert_eq!(r.user_agent.as_deref(), Some("jmeter"));
        assert_eq!(parse_request(&raw[..20]), HeadResult::Partial);
    }

    #[test]
    fn parses_rejection() {
        let HeadResult::Complete(r, _) =
            parse_response(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n")
        else {
            panic!()
        };
        assert_eq!(r.status, 503);
        assert_eq!(r.reason, "Service Unavailable");
        assert!(matches!(
            parse_response(b"\x16\x03\x01garbage\r\n\r\n"),
            HeadResult::Invalid(_)
        ));
    }
}
