//! WebSocket bytes: the HTTP upgrade (RFC 6455 §4), frames (§5) and the JSON signalling
//! messages of a WebRTC contact-centre client.

use super::rng::Rng;
use base64::Engine;
use sha1::{Digest, Sha1};
use std::net::SocketAddr;

const WS_GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// WebSocket opcodes used here.
pub(crate) const OP_CONT: u8 = 0x0;
/// Text frame.
pub(crate) const OP_TEXT: u8 = 0x1;
/// Close frame.
pub(crate) const OP_CLOSE: u8 = 0x8;
/// Ping frame.
pub(crate) const OP_PING: u8 = 0x9;
/// Pong frame.
pub(crate) const OP_PONG: u8 = 0xA;

/// One frame to send.
pub(crate) struct Frame {
    pub(crate) fin: bool,
    pub(crate) opcode: u8,
    pub(crate) payload: Vec<u8>,
}

impl Frame {
    /// A final frame.
    pub(crate) fn new(opcode: u8, payload: Vec<u8>) -> Frame {
        Frame {
            fin: true,
            opcode,
            payload,
        }
    }
}

/// `Sec-WebSocket-Accept` for a key.
pub(crate) fn accept_key(key: &str) -> String {
    let digest = Sha1::digest(format!("{key}{WS_GUID}").as_bytes());
    base64::engine::general_purpose::STANDARD.encode(digest)
}

/// Appends one frame; `mask` is set on client frames.
pub(crate) fn push_frame(out: &mut Vec<u8>, f: &Frame, mask: Option<[u8; 4]>) {
    out.push(if f.fin { 0x80 } else { 0 } | f.opcode);
    let m = if mask.is_some() { 0x80 } else { 0 };
    let n = f.payload.len();
    if n < 126 {
        out.push(m | n as u8);
    } else if n <= 0xFFFF {
        out.push(m | 126);
        out.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        out.push(m | 127);
        out.extend_from_slice(&(n as u64).to_be_bytes());
    }
    match mask {
        Some(k) => {
            out.extend_from_slice(&k);
            out.extend(f.payload.iter().enumerate().map(|(i, b)| b ^ k[i & 3]));
        }
        None => out.extend_from_slice(&f.payload),
    }
}

/// The text of a data message split into `parts` frames (text, then continuations).
pub(crate) fn fragments(text: String, parts: usize) -> Vec<Frame> {
    let bytes = text.into_bytes();
    let parts = parts.clamp(1, bytes.len().max(1));
    let step = bytes.len().div_ceil(parts);
    let chunks: Vec<&[u8]> = bytes.chunks(step.max(1)).collect();
    let n = chunks.len();
    chunks
        .into_iter()
        .enumerate()
        .map(|(i, c)| Frame {
            fin: i + 1 == n,
            opcode: if i == 0 { OP_TEXT } else { OP_CONT },
            payload: c.to_vec(),
        })
        .collect()
}

/// A close frame payload: status code and reason.
pub(crate) fn close_payload(code: u16) -> Vec<u8> {
    let reason: &[u8] = match code {
        1000 => b"call ended",
        1001 => b"server going away",
        1011 => b"internal error",
        1013 => b"try again later",
        _ => b"",
    };
    let mut p = code.to_be_bytes().to_vec();
    p.extend_from_slice(reason);
    p
}

/// The `Host` header value for a server address.
fn host(server: SocketAddr) -> String {
    match server {
        SocketAddr::V4(a) => format!("{}:{}", a.ip(), a.port()),
        SocketAddr::V6(a) => format!("[{}]:{}", a.ip(), a.port()),
    }
}

/// The upgrade request and its key.
pub(crate) fn upgrade_request(rng: &mut Rng, server: SocketAddr, path: &str) -> (Vec<u8>, String) {
    let mut raw = [0u8; 16];
    rng.fill(&mut raw);
    let key = base64::engine::general_purpose::STANDARD.encode(raw);
    let ua = [
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:125.0) Gecko/20100101 Firefox/125.0",
        "Apache-HttpClient/4.5.14 (Java/17.0.10) JMeter/5.6.3",
    ][rng.below(3) as usize];
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: {}\r\nUser-Agent: {ua}\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\
         Origin: https://contact.example.com\r\nSec-WebSocket-Protocol: sip-json\r\n\
         Cookie: JSESSIONID={}\r\n\r\n",
        host(server),
        rng.hex(32).to_uppercase()
    );
    (req.into_bytes(), key)
}

/// `101 Switching Protocols` for a key.
pub(crate) fn response_101(key: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {}\r\nSec-WebSocket-Protocol: sip-json\r\n\r\n",
        accept_key(key)
    )
    .into_bytes()
}

/// `503 Service Unavailable`, as an overloaded proxy answers.
pub(crate) fn response_503() -> Vec<u8> {
    let body = "{\"error\":\"overloaded\",\"retryAfter\":5}";
    format!(
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nRetry-After: 5\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// The signalling messages of one call.
pub(crate) struct Talk {
    session: String,
    agent: u64,
    pub(crate) ufrag_c: String,
    pub(crate) ufrag_s: String,
    ssrc_c: u32,
    msg: u64,
}

impl Talk {
    /// Identities for one session.
    pub(crate) fn new(rng: &mut Rng, index: usize, ssrc_c: u32) -> Talk {
        Talk {
            session: rng.hex(16),
            agent: index as u64 + 1,
            ufrag_c: rng.ice_chars(4),
            ufrag_s: rng.ice_chars(8),
            ssrc_c,
            msg: 0,
        }
    }

    fn next_id(&mut self) -> u64 {
        self.msg += 1;
        self.msg
    }

    /// The first client message.
    pub(crate) fn register(&mut self, rng: &mut Rng, now_ms: u64) -> String {
        let id = self.next_id();
        format!(
            "{{\"type\":\"register\",\"id\":{id},\"agent\":\"agent-{:05}\",\"session\":\"{}\",\
             \"token\":\"{}\",\"capabilities\":[\"audio\",\"dtmf\",\"hold\"],\"ts\":{now_ms}}}",
            self.agent,
            self.session,
            rng.ice_chars(64)
        )
    }

    /// The server's answer to `register`.
    pub(crate) fn registered(&mut self, server: SocketAddr, now_ms: u64) -> String {
        format!(
            "{{\"type\":\"registered\",\"session\":\"{}\",\"iceServers\":[{{\"urls\":\"stun:{}\"}}],\
             \"heartbeat\":5000,\"ts\":{now_ms}}}",
            self.session,
            host(SocketAddr::new(server.ip(), 3478))
        )
    }

    /// An SDP offer (client) or answer (server), JSON-escaped, of about `target` bytes.
    pub(crate) fn sdp(
        &mut self,
        rng: &mut Rng,
        offer: bool,
        media: SocketAddr,
        target: usize,
    ) -> String {
        let (ufrag, kind) = if offer {
            (self.ufrag_c.clone(), "offer")
        } else {
            (self.ufrag_s.clone(), "answer")
        };
        let ipv = if media.is_ipv4() { "IP4" } else { "IP6" };
        let mut s = String::with_capacity(target + 256);
        s.push_str(&format!(
            "v=0\\r\\no=- {} 2 IN {ipv} {}\\r\\ns=-\\r\\nt=0 0\\r\\na=group:BUNDLE 0\\r\\n\
             a=extmap-allow-mixed\\r\\na=msid-semantic: WMS {}\\r\\n\
             m=audio {} UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126\\r\\nc=IN {ipv} {}\\r\\n\
             a=rtcp:{} IN {ipv} {}\\r\\na=ice-ufrag:{ufrag}\\r\\na=ice-pwd:{}\\r\\n\
             a=ice-options:trickle\\r\\na=fingerprint:sha-256 ",
            rng.next_u64() >> 2,
            media.ip(),
            rng.hex(8),
            media.port(),
            media.ip(),
            media.port(),
            media.ip(),
            rng.ice_chars(24)
        ));
        for i in 0..32 {
            if i > 0 {
                s.push(':');
            }
            s.push_str(&rng.hex(2).to_uppercase());
        }
        s.push_str(&format!(
            "\\r\\na=setup:{}\\r\\na=mid:0\\r\\n\
             a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level\\r\\n\
             a=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time\\r\\n\
             a=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01\\r\\n\
             a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid\\r\\na=sendrecv\\r\\n\
             a=msid:stream track-{}\\r\\na=rtcp-mux\\r\\na=rtpmap:111 opus/48000/2\\r\\n\
             a=rtcp-fb:111 transport-cc\\r\\na=fmtp:111 minptime=10;useinbandfec=1\\r\\n\
             a=rtpmap:63 red/48000/2\\r\\na=fmtp:63 111/111\\r\\na=rtpmap:9 G722/8000\\r\\n\
             a=rtpmap:0 PCMU/8000\\r\\na=rtpmap:8 PCMA/8000\\r\\na=rtpmap:13 CN/8000\\r\\n\
             a=rtpmap:110 telephone-event/48000\\r\\na=rtpmap:126 telephone-event/8000\\r\\n\
             a=ssrc:{} cname:{}\\r\\na=ssrc:{} msid:stream track-{}\\r\\n",
            if offer { "actpass" } else { "passive" },
            rng.hex(8),
            self.ssrc_c,
            rng.ice_chars(16),
            self.ssrc_c,
            rng.hex(8)
        ));
        let mut prio = 2_122_260_223u64;
        let mut n = 1;
        while s.len() + 64 < target {
            s.push_str(&format!(
                "a=candidate:{} {n} udp {prio} {} {} typ host generation 0 network-id {n}\\r\\n",
                rng.next_u32(),
                media.ip(),
                media.port()
            ));
            prio = prio.saturating_sub(rng.range(1, 1_000_000));
            n += 1;
        }
        let id = self.next_id();
        format!(
            "{{\"type\":\"{kind}\",\"id\":{id},\"session\":\"{}\",\"sdp\":\"{s}\"}}",
            self.session
        )
    }

    /// A trickled ICE candidate.
    pub(crate) fn candidate(&mut self, rng: &mut Rng, media: SocketAddr, client: bool) -> String {
        let id = self.next_id();
        let ufrag = if client { &self.ufrag_c } else { &self.ufrag_s };
        format!(
            "{{\"type\":\"candidate\",\"id\":{id},\"candidate\":\"candidate:{} 1 udp {} {} {} typ {} \
             generation 0 ufrag {ufrag} network-cost 10\",\"sdpMid\":\"0\",\"sdpMLineIndex\":0}}",
            rng.next_u32(),
            rng.range(1_677_000_000, 2_122_260_223),
            media.ip(),
            media.port(),
            if rng.chance(0.5) { "host" } else { "srflx" }
        )
    }

    /// A periodic `getStats()` report of about `target` bytes.
    pub(crate) fn stats(&mut self, rng: &mut Rng, now_ms: u64, target: usize) -> String {
        let id = self.next_id();
        let mut s = format!(
            "{{\"type\":\"stats\",\"id\":{id},\"session\":\"{}\",\"ts\":{now_ms},\"report\":[",
            self.session
        );
        let mut first = true;
        while s.len() + 8 < target {
            if !first {
                s.push(',');
            }
            first = false;
            let kind = [
                "inbound-rtp",
                "outbound-rtp",
                "candidate-pair",
                "transport",
                "codec",
            ][rng.below(5) as usize];
            s.push_str(&format!(
                "{{\"id\":\"{}_{}\",\"type\":\"{kind}\",\"timestamp\":{now_ms}.{},\
                 \"ssrc\":{},\"packets\":{},\"bytes\":{},\"packetsLost\":{},\"jitter\":0.00{},\
                 \"roundTripTime\":0.0{},\"audioLevel\":0.{}}}",
                kind.replace('-', ""),
                rng.hex(6),
                rng.below(1000),
                self.ssrc_c,
                rng.below(100_000),
                rng.below(10_000_000),
                rng.below(50),
                rng.range(1, 9),
                rng.range(10, 99),
                rng.range(1000, 9999)
            ));
        }
        s.push_str("]}");
        s
    }

    /// A small client event.
    pub(crate) fn client_event(&mut self, rng: &mut Rng, now_ms: u64) -> String {
        let id = self.next_id();
        let ev = ["mute", "unmute", "hold", "resume", "dtmf"][rng.below(5) as usize];
        format!(
            "{{\"type\":\"{ev}\",\"id\":{id},\"session\":\"{}\",\"ts\":{now_ms}}}",
            self.session
        )
    }

    /// A server push: queue position, agent status or (sometimes) a large directory update.
    pub(crate) fn server_event(&mut self, rng: &mut Rng, now_ms: u64) -> String {
        match rng.below(10) {
            0..=4 => format!(
                "{{\"type\":\"queue\",\"session\":\"{}\",\"position\":{},\"waiting\":{},\"ts\":{now_ms}}}",
                self.session,
                rng.below(40),
                rng.below(400)
            ),
            5..=7 => format!(
                "{{\"type\":\"agent_status\",\"agent\":\"agent-{:05}\",\"status\":\"{}\",\"ts\":{now_ms}}}",
                self.agent,
                ["talking", "ready", "wrapup"][rng.below(3) as usize]
            ),
            _ => {
                let mut s = format!("{{\"type\":\"directory\",\"ts\":{now_ms},\"agents\":[");
                let n = rng.range(20, 90);
                for i in 0..n {
                    if i > 0 {
                        s.push(',');
                    }
                    s.push_str(&format!(
                        "{{\"id\":\"agent-{:05}\",\"name\":\"{}\",\"status\":\"{}\"}}",
                        rng.below(5000),
                        rng.ice_chars(10).replace(['+', '/'], "x"),
                        ["talking", "ready", "away"][rng.below(3) as usize]
                    ));
                }
                s.push_str("]}");
                s
            }
        }
    }
}
