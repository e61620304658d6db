//! SDP extraction from signalling messages (`media::SdpFacts::scan`): raw SDP, SDP in a
//! JSON string with escaped line ends (`{"type":"offer","sdp":"v=0\r\n..."}`), and
//! SIP-over-WebSocket (RFC 7118) INVITE and 200 OK carrying it as a body, and BYE
//! without one. `scan` is all of the SIP handling there is: the offer/answer labelling
//! (`INVITE ` / `SIP/2.0 200` prefixes) is in `session::connection`, which the `pipeline`
//! target covers.
//!
//! Input: arbitrary text, scanned as is, then an SDP body built from structured lines.
//! Beyond "no panic": each set stays within its cap (64); scanning is idempotent; the body
//! yields the same facts raw, in JSON and in a SIP message (the wrapping never changes
//! what is read); each ufrag, candidate and SSRC line is found; a BYE holds no SDP.
#![no_main]

use arbitrary::Arbitrary;
use fuzz_util::check_alloc;
use libfuzzer_sys::fuzz_target;
use std::net::{IpAddr, SocketAddr};
use teardown_wire::media::SdpFacts;

#[derive(Arbitrary, Debug)]
enum Line<'a> {
    /// `a=ice-ufrag:`, the bytes mapped onto ice-chars.
    Ufrag(&'a [u8]),
    Candidate(IpAddr, u16),
    Connection(IpAddr),
    Media(u16),
    Ssrc(u32),
    Rtpmap {
        pt: u8,
        name: Encoding,
        rate: Option<u32>,
    },
    /// Any other line (line ends, backslashes and quotes removed).
    Other(&'a str),
}

#[derive(Arbitrary, Debug)]
enum Encoding {
    Opus,
    Pcmu,
    Vp8,
    Unknown,
}

#[derive(Arbitrary, Debug)]
enum Wrap {
    Json,
    SipInvite,
    SipOk,
}

#[derive(Arbitrary, Debug)]
struct Input<'a> {
    wrap: Wrap,
    call_id: u64,
    lines: Vec<Line<'a>>,
    /// Any signalling text, scanned on its own.
    text: &'a [u8],
}

const ICE_CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
/// `SdpFacts` keeps at most this many values of each kind.
const MAX_ITEMS: usize = 64;

fn scan(text: &str) -> (bool, SdpFacts) {
    let mut f = SdpFacts::default();
    let found = check_alloc(text.len(), 8, 4096, || f.scan(text));
    for n in [
        f.ufrags.len(),
        f.candidates.len(),
        f.media_addrs.len(),
        f.ssrcs.len(),
    ] {
        assert!(n <= MAX_ITEMS);
    }
    assert!(f.clock_rates.len() <= MAX_ITEMS);
    assert!(f.media_addrs.iter().all(|a| !a.ip().is_unspecified()));
    assert_eq!(f.bodies, u32::from(found));
    // Idempotent: the same message again adds no value.
    let mut again = f.clone();
    assert_eq!(again.scan(text), found);
    again.bodies = f.bodies;
    assert_eq!(again, f, "a second scan changed the facts");
    (found, f)
}

fn sip(start_line: &str, call_id: u64, cseq: &str, body: &str) -> String {
    let ctype = if body.is_empty() {
        ""
    } else {
        "Content-Type: application/sdp\r\n"
    };
    format!(
        "{start_line}\r\nVia: SIP/2.0/WSS df7jal23ls0d.invalid;branch=z9hG4bK56sdasks\r\n\
         From: <sip:alice@example.com>;tag=1928301774\r\nTo: <sip:bob@example.com>\r\n\
         Call-ID: {call_id:x}@example.com\r\nCSeq: {cseq}\r\n{ctype}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

fuzz_target!(|input: Input<'_>| {
    scan(&String::from_utf8_lossy(input.text));

    let mut body = String::from("v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n");
    body.push_str("m=audio 9 UDP/TLS/RTP/SAVPF 111\r\n");
    let mut expect_ufrags = Vec::new();
    let mut expect_candidates = Vec::new();
    let mut expect_ssrcs = Vec::new();
    for line in &input.lines {
        let text = match line {
            Line::Ufrag(b) => {
                let u: String = b
                    .iter()
                    .map(|c| ICE_CHARS[*c as usize % 64] as char)
                    .collect();
                if !u.is_empty() {
                    expect_ufrags.push(u.clone());
                }
                format!("a=ice-ufrag:{u}")
            }
            Line::Candidate(ip, port) => {
                expect_candidates.push(SocketAddr::new(*ip, *port));
                format!("a=candidate:1 1 udp 2130706431 {ip} {port} typ host")
            }
            Line::Connection(ip) => {
                let v = if ip.is_ipv4() { 4 } else { 6 };
                format!("c=IN IP{v} {ip}")
            }
            Line::Media(port) => format!("m=audio {port} UDP/TLS/RTP/SAVPF 111"),
            Line::Ssrc(x) => {
                expect_ssrcs.push(*x);
                format!("a=ssrc:{x} cname:fuzz")
            }
            Line::Rtpmap { pt, name, rate } => {
                let name = match name {
                    Encoding::Opus => "opus",
                    Encoding::Pcmu => "PCMU",
                    Encoding::Vp8 => "VP8",
                    Encoding::Unknown => "x-fuzz",
                };
                match rate {
                    Some(r) => format!("a=rtpmap:{pt} {name}/{r}"),
                    None => format!("a=rtpmap:{pt} {name}"),
                }
            }
            Line::Other(s) => s.replace(['\r', '\n', '\\', '"'], ""),
        };
        body.push_str(&text);
        body.push_str("\r\n");
    }

    let (found, raw) = scan(&body);
    assert!(found, "an SDP body was not recognised");
    for u in &expect_ufrags {
        assert!(
            raw.ufrags.contains(u) || raw.ufrags.len() == MAX_ITEMS,
            "ufrag {u} lost"
        );
    }
    for c in &expect_candidates {
        assert!(
            raw.candidates.contains(c) || raw.candidates.len() == MAX_ITEMS,
            "{c} lost"
        );
    }
    for x in &expect_ssrcs {
        assert!(
            raw.ssrcs.contains(x) || raw.ssrcs.len() == MAX_ITEMS,
            "SSRC {x} lost"
        );
    }

    let wrapped = match input.wrap {
        Wrap::Json => {
            let escaped = body.replace("\r\n", "\\r\\n");
            format!("{{\"type\":\"offer\",\"sdp\":\"{escaped}\"}}")
        }
        Wrap::SipInvite => sip(
            "INVITE sip:bob@example.com SIP/2.0",
            input.call_id,
            "1 INVITE",
            &body,
        ),
        Wrap::SipOk => sip("SIP/2.0 200 OK", input.call_id, "1 INVITE", &body),
    };
    assert_eq!(
        scan(&wrapped),
        (true, raw),
        "the wrapping changed the facts"
    );

    let bye = sip(
        "BYE sip:bob@example.com SIP/2.0",
        input.call_id,
        "2 BYE",
        "",
    );
    assert!(!scan(&bye).0, "a BYE without a body read as SDP");
});
