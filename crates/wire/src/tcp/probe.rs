//! What one direction of a TCP connection carries, decided from its first bytes: the probe
//! step of retina's probe → parse, in one function ([`probe`]) for every TCP protocol
//! teardown reads.
//!
//! Two callers ask it, each about the first bytes it sees of a direction:
//!
//! - the connection (`teardown_analysis::session::connection`), on the first delivered
//!   bytes: [`StreamKind::Tls`] sends the connection through `tls::TlsConnection`;
//! - the stream decoder (`ws::StreamDecoder`), on what TLS left (the plaintext under TLS,
//!   the bytes themselves otherwise): the kind picks its parser (HTTP head reader, frame
//!   reader, STUN framer, or none).
//!
//! The order of the tests is the precedence: TLS, HTTP response, HTTP request, STUN. TLS
//! is certain from its first byte, so the connection never holds bytes back to decide it.

use crate::media::demux::MAGIC_COOKIE;

/// Bytes looked at before deciding (enough for a framed STUN message's magic cookie):
/// [`probe`] is certain once it has this many.
pub const PROBE_LEN: usize = 10;

/// How STUN is framed on a TCP stream.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum StunFraming {
    /// RFC 4571: a 2-byte length before each message (ICE-TCP, RFC 6544).
    LengthPrefixed,
    /// Bare STUN and padded ChannelData back to back (TURN over TCP, RFC 8656 §12.5).
    Bare,
}

/// What the first bytes of a direction are.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum StreamKind {
    /// A TLS handshake record (`tls::starts_tls`).
    Tls,
    /// An HTTP response head (`HTTP/`): the answer to an upgrade request, or not.
    HttpResponse,
    /// An HTTP request head (a method token of 3 to 7 capitals and a space): an upgrade
    /// request, or plain HTTP.
    HttpRequest,
    /// STUN or TURN ChannelData framed on TCP, recognised by the magic cookie
    /// (RFC 8489 §5).
    Stun(StunFraming),
    /// None of these. From the first bytes alone, WebSocket frames joined mid-stream and
    /// any other protocol look alike: the stream decoder looks for frames when the capture
    /// missed the stream's start, and reads nothing when it holds it.
    Other,
}

/// The answer of [`probe`] (retina's Certain / Unsure).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Probe {
    /// The bytes decide.
    Certain(StreamKind),
    /// More bytes could still change the answer (never with [`PROBE_LEN`] bytes).
    Unsure,
}

impl Probe {
    /// True when the bytes are certainly TLS.
    pub fn is_tls(self) -> bool {
        self == Probe::Certain(StreamKind::Tls)
    }
}

/// Decides what a direction carries from its first bytes (all of them so far, up to
/// [`PROBE_LEN`]).
pub fn probe(first: &[u8]) -> Probe {
    let kind = if crate::tls::starts_tls(first) {
        StreamKind::Tls
    } else if first.starts_with(b"HTTP/") {
        StreamKind::HttpResponse
    } else if looks_like_request(first) {
        StreamKind::HttpRequest
    } else if first.len() < PROBE_LEN
        && (first.iter().all(u8::is_ascii_uppercase) || could_be_stun(first))
    {
        // Capitals could still become a method and a space; the cookie may be on its way.
        return Probe::Unsure;
    } else if let Some(framing) = stun_framing(first) {
        StreamKind::Stun(framing)
    } else {
        StreamKind::Other
    };
    Probe::Certain(kind)
}

/// A method token (3 to 7 capitals, `GET` to `OPTIONS`) and a space (RFC 9112 §3).
fn looks_like_request(b: &[u8]) -> bool {
    let token_len = b.iter().take_while(|c| c.is_ascii_uppercase()).count();
    (3..=7).contains(&token_len) && b.get(token_len) == Some(&b' ')
}

/// Recognises STUN at the start of a TCP stream by its magic cookie (RFC 8489 §5): right
/// after the type and length (bare), or 2 bytes later (after an RFC 4571 length).
fn stun_framing(b: &[u8]) -> Option<StunFraming> {
    let cookie = MAGIC_COOKIE.to_be_bytes();
    if b.len() >= 8 && b[0] < 0x40 && b[4..8] == cookie {
        Some(StunFraming::Bare)
    } else if b.len() >= 10 && b[2] < 0x40 && b[6..10] == cookie {
        Some(StunFraming::LengthPrefixed)
    } else {
        None
    }
}

/// True while `first`, shorter than [`PROBE_LEN`], could still grow into bytes that
/// [`stun_framing`] recognises: the decision must wait for them, or a stream whose first
/// segments are short would not be found to carry STUN.
fn could_be_stun(first: &[u8]) -> bool {
    let cookie = MAGIC_COOKIE.to_be_bytes();
    let cookie_at = |at: usize| first.iter().skip(at).zip(cookie).all(|(a, b)| *a == b);
    let bare = first.first().is_some_and(|&b| b < 0x40) && cookie_at(4);
    let prefixed = first.get(2).is_none_or(|&b| b < 0x40) && cookie_at(6);
    bare || prefixed
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A STUN binding request header (type, length 0, cookie, transaction id).
    const BINDING: [u8; 20] = [
        0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,
    ];

    fn certain(b: &[u8]) -> StreamKind {
        match probe(b) {
            Probe::Certain(k) => k,
            Probe::Unsure => panic!("unsure about {b:?}"),
        }
    }

    #[test]
    fn tls_from_the_first_byte() {
        assert!(probe(&[22]).is_tls());
        assert!(probe(&[22, 3, 1, 2, 0]).is_tls());
        // Not version 3.x: not TLS, and not decided yet (it could be bare STUN).
        assert_eq!(probe(&[22, 5]), Probe::Unsure);
        // TLS wins over a STUN cookie in the same bytes.
        assert!(probe(&[22, 3, 0, 0, 0x21, 0x12, 0xa4, 0x42]).is_tls());
    }

    #[test]
    fn http_heads() {
        assert_eq!(certain(b"HTTP/1.1 101"), StreamKind::HttpResponse);
        assert_eq!(certain(b"HTTP/"), StreamKind::HttpResponse);
        assert_eq!(certain(b"GET / HTTP/1.1"), StreamKind::HttpRequest);
        assert_eq!(certain(b"OPTIONS *"), StreamKind::HttpRequest);
        // Capitals without their space yet may still be a method.
        assert_eq!(probe(b"GE"), Probe::Unsure);
        assert_eq!(probe(b"HTTP"), Probe::Unsure);
        // Too long for a method, or not followed by a space.
        assert_eq!(certain(b"ABCDEFGHIJ"), StreamKind::Other);
        assert_eq!(certain(b"GET/"), StreamKind::Other);
    }

    #[test]
    fn stun_bare_and_length_prefixed() {
        assert_eq!(certain(&BINDING), StreamKind::Stun(StunFraming::Bare));
        let mut prefixed = vec![0x00, 20];
        prefixed.extend_from_slice(&BINDING);
        assert_eq!(
            certain(&prefixed),
            StreamKind::Stun(StunFraming::LengthPrefixed)
        );
        // Every prefix shorter than PROBE_LEN waits for the cookie.
        for n in 0..PROBE_LEN {
            assert_eq!(probe(&BINDING[..n]), Probe::Unsure, "bare, {n} bytes");
            assert_eq!(probe(&prefixed[..n]), Probe::Unsure, "prefixed, {n} bytes");
        }
        // A wrong cookie byte decides at once.
        assert_eq!(
            certain(&[0x00, 0x01, 0x00, 0x00, 0x21, 0x13, 0x00]),
            StreamKind::Other
        );
    }

    #[test]
    fn websocket_frames_and_other_bytes_are_other() {
        // A masked text frame "Hello" and an unmasked close 1000 "bye".
        let hello = [
            0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
        ];
        assert_eq!(certain(&hello), StreamKind::Other);
        assert_eq!(
            certain(&[0x88, 0x05, 0x03, 0xe8, b'b', b'y', b'e']),
            StreamKind::Other
        );
        // Until a byte rules the cookie out, a frame could be a length-prefixed STUN.
        assert_eq!(probe(&hello[..6]), Probe::Unsure);
        assert_eq!(certain(b"SSH-2.0-x"), StreamKind::Other);
    }

    #[test]
    fn certain_with_probe_len_bytes() {
        for first in 0..=255u8 {
            let mut b = [first; PROBE_LEN];
            assert!(matches!(probe(&b), Probe::Certain(_)), "{b:?}");
            b[4..8].copy_from_slice(&MAGIC_COOKIE.to_be_bytes());
            assert!(matches!(probe(&b), Probe::Certain(_)), "{b:?}");
        }
        assert_eq!(probe(&[]), Probe::Unsure);
    }
}
