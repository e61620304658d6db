//! One direction of a TCP connection decoded from the reassembled byte stream: probe, then
//! parse (retina's model).
//!
//! The first bytes go to [`probe`]; the kind it decides picks the parser, each its own
//! state machine in its own file, and [`StreamDecoder::feed`] only dispatches:
//!
//! ```text
//! Start ──probe──► HTTP head (head_reader) ──upgrade or 101──► frames (frame_reader)
//!   │                 │  └─ longer than 64 KiB: its tail skipped ──┘        ▲
//!   │                 └─ no upgrade, other status ─► Opaque                 │
//!   ├──STUN cookie──► STUN framer (stun_framer) ─ framing lost ─► Opaque    │
//!   ├──other, the capture joined mid-stream ──► frames, resynchronising ────┘
//!   └──other, the capture holds the start ────► Opaque
//! ```
//!
//! A gap before frames are found sends the stream to the frame reader, resynchronising;
//! TLS is taken off by the connection before these bytes (`tls::TlsConnection`), so bytes
//! that still look like TLS here are read as [`StreamKind::Other`].

use super::event::{NotFramed, WsEvent};
use super::frame_reader::FrameReader;
use super::head_reader::{Head, HeadReader, HeadTail, ReadHead};
use super::stun_framer::StunFramer;
use crate::tcp::{probe, Probe, StreamKind, PROBE_LEN};
use crate::time::Timestamp;

/// The first bytes of a direction, gathered until [`probe`] is certain.
#[derive(Debug, Default)]
struct Probing {
    bytes: Vec<u8>,
    /// Time of the first byte.
    ts: Timestamp,
    /// True when the capture holds the stream from its first byte (the SYN was seen), so
    /// a stream that does not open with an HTTP head is not plain WebSocket.
    known_start: bool,
}

impl Probing {
    /// Takes bytes from `data` (advanced past them) that arrived at `ts`; once the probe
    /// is certain, the kind and what was gathered.
    fn feed(&mut self, ts: Timestamp, data: &mut &[u8]) -> Option<(StreamKind, Probing)> {
        if self.bytes.is_empty() {
            self.ts = ts;
        }
        let take = data.len().min(PROBE_LEN - self.bytes.len());
        self.bytes.extend_from_slice(&data[..take]);
        *data = &data[take..];
        match probe(&self.bytes) {
            Probe::Certain(kind) => Some((kind, std::mem::take(self))),
            Probe::Unsure => None,
        }
    }
}

#[derive(Debug)]
enum State {
    Start(Probing),
    Head(HeadReader),
    /// The rest of a head longer than `MAX_HTTP_HEAD` (an upgrade), then frames.
    HeadTail(HeadTail),
    Frames(FrameReader),
    Stun(StunFramer),
    /// Not (or no longer) read: not WebSocket, or a rejected handshake's body.
    Opaque,
}

/// Decodes one direction of a connection.
#[derive(Debug)]
pub struct StreamDecoder {
    state: State,
}

impl Default for StreamDecoder {
    fn default() -> Self {
        StreamDecoder {
            state: State::Start(Probing::default()),
        }
    }
}

impl StreamDecoder {
    /// True once the stream was found not to be WebSocket (or a rejected handshake's body).
    pub fn is_opaque(&self) -> bool {
        matches!(self.state, State::Opaque)
    }

    /// True while the decoder has seen no bytes at all.
    pub fn is_fresh(&self) -> bool {
        matches!(&self.state, State::Start(p) if p.bytes.is_empty())
    }

    /// Tells the decoder that the capture holds this stream from its first byte (it
    /// matters only before the first bytes are probed).
    pub fn stream_started(&mut self) {
        if let State::Start(p) = &mut self.state {
            p.known_start = true;
        }
    }

    /// Tells the decoder that a handshake on the other side succeeded, so this direction
    /// carries frames from its next byte (used for the client side after a 101).
    pub fn expect_frames(&mut self) {
        if self.is_fresh() {
            self.state = State::Frames(FrameReader::upgraded());
        }
    }

    /// Feeds in-order bytes that arrived at `ts`.
    pub fn feed(&mut self, ts: Timestamp, mut data: &[u8], out: &mut Vec<WsEvent>) {
        while !data.is_empty() {
            match &mut self.state {
                State::Opaque => return,
                State::Start(p) => {
                    if let Some((kind, probed)) = p.feed(ts, &mut data) {
                        self.begin(kind, probed.known_start, probed.ts, out);
                        self.feed(probed.ts, &probed.bytes, out);
                    }
                }
                State::Head(r) => {
                    if let Some(read) = r.feed(ts, &mut data) {
                        self.head_read(ts, read, out);
                    }
                }
                State::HeadTail(t) => {
                    if t.skip(&mut data) {
                        self.state = State::Frames(FrameReader::upgraded());
                    }
                }
                // These two read all they are given.
                State::Frames(f) => {
                    let read = f.feed(ts, std::mem::take(&mut data), out);
                    self.unless_lost(ts, read, out);
                }
                State::Stun(s) => {
                    let read = s.feed(ts, std::mem::take(&mut data), out);
                    self.unless_lost(ts, read, out);
                }
            }
        }
    }

    /// Tells the decoder that `len` bytes of the stream are not in the capture.
    pub fn gap(&mut self, ts: Timestamp, len: u64, out: &mut Vec<WsEvent>) {
        if len == 0 {
            return;
        }
        let (midstream, upgraded) = match &mut self.state {
            State::Opaque => return,
            State::Stun(_) => {
                return self.opaque(ts, "bytes missing from a STUN stream; framing lost", out)
            }
            State::Frames(f) => return f.gap(ts, len, out),
            State::Start(_) => (true, false),
            State::Head(_) => (false, false),
            State::HeadTail(_) => (false, true),
        };
        // Before any frame: the framing is to be found after the gap.
        out.push(WsEvent::Gap {
            ts,
            len,
            lost_sync: true,
        });
        self.state = State::Frames(FrameReader::resync(len, midstream, upgraded));
    }

    /// Starts the parser for what the probe found (the probed bytes are fed to it next).
    fn begin(
        &mut self,
        kind: StreamKind,
        known_start: bool,
        ts: Timestamp,
        out: &mut Vec<WsEvent>,
    ) {
        self.state = match kind {
            StreamKind::HttpResponse => State::Head(HeadReader::new(true)),
            StreamKind::HttpRequest => State::Head(HeadReader::new(false)),
            StreamKind::Stun(framing) => State::Stun(StunFramer::new(framing)),
            StreamKind::Tls | StreamKind::Other if known_start => {
                return self.opaque(ts, "stream does not open with an HTTP head", out);
            }
            // Joined mid-stream: WebSocket frames, if a header chain is found.
            StreamKind::Tls | StreamKind::Other => {
                State::Frames(FrameReader::resync(0, true, false))
            }
        };
    }

    /// A head was read (at `ts`): its events, then frames after an upgrade, or nothing.
    fn head_read(&mut self, ts: Timestamp, read: ReadHead, out: &mut Vec<WsEvent>) {
        let ReadHead {
            ts: head_ts,
            head,
            problem,
            cut,
            rest,
        } = read;
        if let Some(reason) = problem {
            out.push(WsEvent::MalformedHead {
                ts: head_ts,
                reason,
            });
        }
        let upgraded = match head {
            Head::Request(request) => {
                let upgrade = request.is_websocket;
                out.push(WsEvent::Request {
                    ts: head_ts,
                    request: Box::new(request),
                });
                if !upgrade {
                    self.opaque(ts, "HTTP request without Upgrade: websocket", out);
                }
                upgrade
            }
            Head::Response(response) => {
                let upgrade = response.status == 101;
                out.push(WsEvent::Response {
                    ts: head_ts,
                    response: Box::new(response),
                });
                if !upgrade {
                    // A rejected handshake: its body is not read.
                    self.state = State::Opaque;
                }
                upgrade
            }
        };
        if upgraded {
            self.state = if cut {
                State::HeadTail(HeadTail::default())
            } else {
                State::Frames(FrameReader::upgraded())
            };
        }
        self.feed(ts, &rest, out);
    }

    /// Turns opaque when a parser lost its framing.
    fn unless_lost(&mut self, ts: Timestamp, read: Result<(), NotFramed>, out: &mut Vec<WsEvent>) {
        if let Err(NotFramed(reason)) = read {
            self.opaque(ts, reason, out);
        }
    }

    fn opaque(&mut self, ts: Timestamp, reason: &str, out: &mut Vec<WsEvent>) {
        self.state = State::Opaque;
        out.push(WsEvent::NotWebSocket {
            ts,
            reason: reason.to_string(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ws::{Opcode, MAX_HTTP_HEAD};

    const MASKED_HELLO: [u8; 11] = [
        0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
    ];
    /// Unmasked close 1000 "bye".
    const SERVER_CLOSE: [u8; 7] = [0x88, 0x05, 0x03, 0xe8, b'b', b'y', b'e'];

    fn frames(events: &[WsEvent]) -> Vec<(u8, Option<Vec<u8>>)> {
        events
            .iter()
            .filter_map(|e| match e {
                WsEvent::Frame(f) => Some((f.head.opcode.0, f.payload.clone())),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn handshake_then_frames_in_one_segment() {
        let mut d = StreamDecoder::default();
        let mut out = Vec::new();
        let mut bytes = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n".to_vec();
        bytes.extend_from_slice(&SERVER_CLOSE);
        d.feed(Timestamp(5), &bytes, &mut out);
        assert!(matches!(&out[0], WsEvent::Response { response, .. } if response.status == 101));
        assert_eq!(
            frames(&out),
            vec![(8, Some(vec![0x03, 0xe8, b'b', b'y', b'e']))]
        );
    }

    #[test]
    fn byte_by_byte_gives_the_same_frames_with_first_byte_time() {
        let mut d = StreamDecoder::default();
        d.expect_frames();
        let mut out = Vec::new();
        let mut all = MASKED_HELLO.to_vec();
        all.extend_from_slice(&[0x89, 0x82, 1, 2, 3, 4, b'p' ^ 1, b'1' ^ 2]);
        for (i, b) in all.iter().enumerate() {
            d.feed(Timestamp(i as i64), std::slice::from_ref(b), &mut out);
        }
        assert_eq!(frames(&out), vec![(1, None), (9, Some(b"p1".to_vec()))]);
        let ping = out
            .iter()
            .find_map(|e| match e {
                WsEvent::Frame(f) if f.head.opcode == Opcode::PING => Some(f),
                _ => None,
            })
            .unwrap();
        assert_eq!(ping.ts, Timestamp(11));
    }

    #[test]
    fn gap_inside_payload_keeps_framing() {
        let mut d = StreamDecoder::default();
        d.expect_frames();
        let mut out = Vec::new();
        d.feed(Timestamp(0), &[0x82, 0x0a, 1, 2], &mut out);
        d.gap(Timestamp(1), 5, &mut out);
        d.feed(Timestamp(2), &[8, 9, 10], &mut out);
        d.feed(Timestamp(3), &SERVER_CLOSE, &mut out);
        assert_eq!(out.len(), 3, "{out:?}");
        assert!(matches!(
            out[0],
            WsEvent::Gap {
                lost_sync: false,
                len: 5,
                ..
            }
        ));
        assert!(
            matches!(&out[1], WsEvent::Frame(f) if f.head.opcode == Opcode::BINARY && !f.complete)
        );
        assert_eq!(
            frames(&out)[1],
            (8, Some(vec![0x03, 0xe8, b'b', b'y', b'e']))
        );
    }

    #[test]
    fn gap_over_a_header_resynchronises_on_the_next_frames() {
        let mut d = StreamDecoder::default();
        d.expect_frames();
        let mut out = Vec::new();
        d.feed(Timestamp(0), &[0x82, 0x02, 1, 2], &mut out);
        d.gap(Timestamp(1), 3, &mut out); // lost: header + 1 byte of a 2-byte frame
                                          // tail of the lost frame, then two good frames
        let mut after = vec![0xee];
        after.extend_from_slice(&[0x82, 0x01, 7]);
        after.extend_from_slice(&SERVER_CLOSE);
        d.feed(Timestamp(2), &after, &mut out);
        let opcodes: Vec<u8> = frames(&out).iter().map(|f| f.0).collect();
        assert_eq!(opcodes, vec![2, 2, 8]);
        assert!(
            out.iter()
                .any(|e| matches!(e, WsEvent::Resynced { skipped: 4, .. })),
            "{out:?}"
        );
    }

    #[test]
    fn head_fed_one_byte_at_a_time_parses_identically() {
        let mut all = b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n".to_vec();
        all.extend_from_slice(&MASKED_HELLO);
        let decode = |chunk: usize| {
            let mut d = StreamDecoder::default();
            let mut out = Vec::new();
            for c in all.chunks(chunk) {
                d.feed(Timestamp(7), c, &mut out);
            }
            out
        };
        let whole = decode(all.len());
        assert!(matches!(&whole[0], WsEvent::Request { request, .. } if request.is_websocket));
        assert_eq!(frames(&whole), vec![(1, None)]);
        assert_eq!(decode(1), whole);
        assert_eq!(decode(3), whole);
    }

    #[test]
    fn long_head_in_one_byte_segments_costs_linear_time() {
        // Re-parsing the buffered head on every byte took about 2·10⁹ byte scans here.
        let mut d = StreamDecoder::default();
        let mut out = Vec::new();
        let start = std::time::Instant::now();
        d.feed(Timestamp(0), b"GET /", &mut out);
        for _ in 0..MAX_HTTP_HEAD {
            d.feed(Timestamp(0), b"a", &mut out);
        }
        let took = start.elapsed();
        assert!(d.is_opaque());
        // Read line by line as far as kept; no Upgrade header in it, so not WebSocket.
        assert!(matches!(
            &out[..],
            [WsEvent::MalformedHead { reason, .. }, WsEvent::Request { request, .. }, WsEvent::NotWebSocket { .. }]
                if reason.contains("64 KiB") && !request.is_websocket
        ));
        assert!(took < std::time::Duration::from_secs(2), "{took:?}");
    }

    #[test]
    fn plain_http_is_not_websocket() {
        let mut d = StreamDecoder::default();
        let mut out = Vec::new();
        d.feed(Timestamp(0), b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", &mut out);
        assert!(d.is_opaque());
        assert!(matches!(out.last(), Some(WsEvent::NotWebSocket { .. })));
    }

    #[test]
    fn rejected_handshake_body_is_not_framed() {
        let mut d = StreamDecoder::default();
        let mut out = Vec::new();
        d.feed(
            Timestamp(0),
            b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\n\r\n\x88\x02\x03\xe8",
            &mut out,
        );
        assert_eq!(out.len(), 1);
        assert!(d.is_opaque());
    }

    #[test]
    fn midstream_join_finds_frames() {
        let mut d = StreamDecoder::default();
        let mut out = Vec::new();
        let mut bytes = vec![0x55, 0x66, 0x77]; // tail of a frame we joined inside
        bytes.extend_from_slice(&MASKED_HELLO);
        bytes.extend_from_slice(&MASKED_HELLO);
        d.feed(Timestamp(0), &bytes, &mut out);
        assert_eq!(frames(&out).len(), 2, "{out:?}");
    }

    #[test]
    fn hostile_length_yields_no_frame() {
        // What it allocates meanwhile: crates/wire/tests/hostile_alloc.rs.
        let mut d = StreamDecoder::default();
        d.expect_frames();
        let mut out = Vec::new();
        d.feed(
            Timestamp(0),
            &[
                0x82, 0x7f, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1, 2, 3,
            ],
            &mut out,
        );
        d.gap(Timestamp(0), 1 << 40, &mut out);
        assert!(out.iter().all(|e| !matches!(e, WsEvent::Frame(_))));
    }

    #[test]
    fn bytes_probed_as_tls_here_are_other() {
        // Under TLS the connection takes records off before the decoder; a plaintext that
        // itself opens with a TLS handshake record is read like any other stream.
        let mut d = StreamDecoder::default();
        d.stream_started();
        let mut out = Vec::new();
        d.feed(Timestamp(4), &[22], &mut out);
        assert!(d.is_opaque());
        assert!(matches!(
            &out[..],
            [WsEvent::NotWebSocket { ts: Timestamp(4), reason }] if reason.contains("HTTP head")
        ));
    }

    #[test]
    fn stun_probe_waits_for_the_cookie_across_segments() {
        let mut d = StreamDecoder::default();
        d.stream_started();
        let mut out = Vec::new();
        let mut stream = vec![0, 20, 0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42];
        stream.extend_from_slice(&[7; 12]);
        for (i, b) in stream.iter().enumerate() {
            d.feed(Timestamp(i as i64), std::slice::from_ref(b), &mut out);
        }
        assert!(
            matches!(&out[..], [WsEvent::Stun { ts: Timestamp(21), bytes }] if bytes.len() == 20),
            "{out:?}"
        );
    }
}
