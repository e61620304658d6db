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

/// The values of header `name`, joined with ", " as RFC 9110 §5.3 combines repeated fields.
fn header(headers: &[(&str, &[u8])], name: &str) -> Option<String> {
    let values: Vec<String> = headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| String::from_utf8_lossy(v).trim().to_string())
        .collect();
    (!values.is_empty()).then(|| values.join(", "))
}

fn request(method: &str, path: &str, headers: &[(&str, &[u8])]) -> UpgradeRequest {
    let upgrade = header(headers, "upgrade").unwrap_or_default();
    UpgradeRequest {
        method: method.to_string(),
        path: path.to_string(),
        host: header(headers, "host"),
        user_agent: header(headers, "user-agent"),
        key: header(headers, "sec-websocket-key"),
        protocols: header(headers, "sec-websocket-protocol"),
        extensions: header(headers, "sec-websocket-extensions"),
        is_websocket: upgrade
            .to_ascii_lowercase()
            .split(',')
            .any(|t| t.trim() == "websocket"),
    }
}

fn response(status: u16, reason: &str, headers: &[(&str, &[u8])]) -> UpgradeResponse {
    UpgradeResponse {
        status,
        reason: reason.to_string(),
        accept: header(headers, "sec-websocket-accept"),
        protocol: header(headers, "sec-websocket-protocol"),
        extensions: header(headers, "sec-websocket-extensions"),
    }
}

fn pairs<'h>(headers: &'h [httparse::Header<'h>]) -> Vec<(&'h str, &'h [u8])> {
    headers.iter().map(|h| (h.name, h.value)).collect()
}

/// Parses a request head.
pub fn parse_request(buf: &[u8]) -> HeadResult<UpgradeRequest> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) => {
            let method = req.method.unwrap_or_default();
            let path = req.path.unwrap_or_default();
            HeadResult::Complete(request(method, path, &pairs(req.headers)), n)
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
        Ok(httparse::Status::Complete(n)) => {
            let status = resp.code.unwrap_or_default();
            let reason = resp.reason.unwrap_or_default();
            HeadResult::Complete(response(status, reason, &pairs(resp.headers)), n)
        }
        Ok(httparse::Status::Partial) => HeadResult::Partial,
        Err(e) => HeadResult::Invalid(e.to_string()),
    }
}

/// Where a head ends: just after its blank line (`\r\n\r\n`, or `\n\n`), if `buf` has one.
pub fn head_end(buf: &[u8]) -> Option<usize> {
    (0..buf.len()).find_map(|i| {
        let rest = &buf[i..];
        if rest.starts_with(b"\r\n\r\n") {
            Some(i + 4)
        } else if rest.starts_with(b"\n\n") {
            Some(i + 2)
        } else {
            None
        }
    })
}

/// A head's start line and its `Name: value` lines, read line by line without judging
/// the bytes (lossy UTF-8 for the start line; lines without a colon are left out).
fn lenient_lines(head: &[u8]) -> (String, Vec<(&str, &[u8])>) {
    let mut lines = head
        .split(|&c| c == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    let first = String::from_utf8_lossy(lines.next().unwrap_or_default()).into_owned();
    let headers = lines
        .filter_map(|l| {
            let colon = l.iter().position(|&c| c == b':')?;
            let name = std::str::from_utf8(&l[..colon]).ok()?.trim();
            Some((name, &l[colon + 1..]))
        })
        .collect();
    (first, headers)
}

/// Reads a request head that [`parse_request`] rejects (bytes HTTP does not allow, such
/// as control characters or 0xFF in the target or a header) or that is cut (longer than
/// the decoder keeps): the request line split at spaces, the header lines at their first
/// colon, every byte kept (lossy UTF-8). Used so that a client cannot hide its upgrade by
/// sending a head a strict parser refuses.
pub fn parse_request_lenient(head: &[u8]) -> UpgradeRequest {
    let (first, headers) = lenient_lines(head);
    let (method, target) = first.split_once(' ').unwrap_or((&first, ""));
    // The target runs to the protocol version, which follows its last space.
    let path = match target.rsplit_once(' ') {
        Some((path, version)) if version.starts_with("HTTP/") => path,
        _ => target,
    };
    request(method, path, &headers)
}

/// Reads a response head that [`parse_response`] rejects, as
/// [`parse_request_lenient`] does: the status is the number after the version (0 when
/// there is none).
pub fn parse_response_lenient(head: &[u8]) -> UpgradeResponse {
    let (first, headers) = lenient_lines(head);
    let mut words = first.splitn(3, ' ').skip(1);
    let status = words.next().and_then(|w| w.parse().ok()).unwrap_or(0);
    response(status, words.next().unwrap_or_default(), &headers)
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

    #[test]
    fn reads_heads_a_strict_parser_refuses() {
        let raw = b"GET /a\x1b[2J\xff HTTP/1.1\r\nHost: h\r\nUser-Agent: x\x1b\x07y\r\nUpgrade: websocket\r\nSec-WebSocket-Key: k\r\n\r\n";
        assert!(matches!(parse_request(raw), HeadResult::Invalid(_)));
        let end = head_end(raw).unwrap();
        assert_eq!(end, raw.len());
        let r = parse_request_lenient(&raw[..end]);
        assert_eq!(r.method, "GET");
        assert_eq!(r.path, "/a\u{1b}[2J\u{fffd}");
        assert_eq!(r.user_agent.as_deref(), Some("x\u{1b}\u{7}y"));
        assert_eq!(r.key.as_deref(), Some("k"));
        assert!(r.is_websocket);
        let resp =
            parse_response_lenient(b"HTTP/1.1 101 Switching\x01\r\nUpgrade: websocket\r\n\r\n");
        assert_eq!((resp.status, resp.reason.as_str()), (101, "Switching\u{1}"));
    }
}
