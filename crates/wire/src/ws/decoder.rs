//! One direction of a WebSocket connection, decoded from the reassembled byte stream.
//!
//! A state machine, one transition per input (bytes or a gap):
//!
//! ```text
//! Start ──"GET "──► HttpHead(request) ──upgrade──► Header ◄──► Payload
//!   │    "HTTP/"──► HttpHead(response) ──101────►   │  ▲
//!   │                        └─other status─► Opaque │  │ resynchronised
//!   └──anything else (joined mid-stream)──► Resync ◄─┘──┘ (gap inside a header)
//! ```
//!
//! Payload bytes are never buffered, except control-frame payloads (at most 125 bytes,
//! RFC 6455 §5.5) which are kept and unmasked for close codes and ping/pong matching. A gap
//! inside a payload does not lose the framing (the length is known); a gap inside or at a
//! header does, and the decoder then scans for a plausible header chain to resynchronise.

use super::frame::{parse_head, unmask, FrameHead, HeadParse, Opcode};
use super::http::{
    head_end, parse_request, parse_request_lenient, parse_response, parse_response_lenient,
    HeadResult, UpgradeRequest, UpgradeResponse,
};
use crate::time::Timestamp;

/// The largest HTTP head accepted before the stream is deemed not to be a WebSocket.
pub const MAX_HTTP_HEAD: usize = 64 * 1024;
/// How many bytes the resynchronisation scan looks at before giving up on a window.
pub const MAX_RESYNC_WINDOW: usize = 64 * 1024;
/// A frame longer than this is not accepted as a resynchronisation point.
const MAX_PLAUSIBLE_RESYNC_LEN: u64 = 1 << 24;
/// Bytes looked at before deciding what a stream carries (enough for a framed STUN
/// message's magic cookie).
const PROBE_LEN: usize = 10;
/// Longest possible frame header (2 + 8 length + 4 mask).
const MAX_HEADER: usize = 14;
/// Bytes of one text message kept (for the SDP in signalling); the rest is counted only.
pub const MAX_TEXT_MESSAGE: usize = 64 * 1024;
/// Control frame payloads are at most 125 bytes (RFC 6455 §5.5).
const MAX_CONTROL_PAYLOAD: usize = 125;

/// A decoded frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FrameEvent {
    /// Capture time of the packet that carried the frame's first byte.
    pub ts: Timestamp,
    /// The header.
    pub head: FrameHead,
    /// Unmasked payload of a control frame; `None` for data frames and for control frames
    /// whose payload the capture lost.
    pub payload: Option<Vec<u8>>,
    /// False when part of the payload was not in the capture.
    pub complete: bool,
}

/// What the decoder found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WsEvent {
    /// An HTTP request head.
    Request {
        /// Time of its first byte.
        ts: Timestamp,
        /// The parsed request (boxed: it is large, and a connection keeps a list of
        /// events between segments).
        request: Box<UpgradeRequest>,
    },
    /// An HTTP response head.
    Response {
        /// Time of its first byte.
        ts: Timestamp,
        /// The parsed response (boxed, as the request).
        response: Box<UpgradeResponse>,
    },
    /// A whole frame (payload consumed).
    Frame(FrameEvent),
    /// Bytes missing from the capture.
    Gap {
        /// When the gap was declared.
        ts: Timestamp,
        /// Missing bytes.
        len: u64,
        /// True when the gap broke the framing (resynchronisation follows).
        lost_sync: bool,
    },
    /// Framing was found again after `skipped` bytes.
    Resynced {
        /// Time of the packet in which framing was found.
        ts: Timestamp,
        /// Bytes that could not be framed.
        skipped: u64,
    },
    /// The HTTP head before it (the `Request` or `Response` event that follows) was
    /// read leniently: bytes HTTP does not allow, or longer than [`MAX_HTTP_HEAD`].
    MalformedHead {
        /// Time of the head's first byte.
        ts: Timestamp,
        /// What was wrong with it.
        reason: String,
    },
    /// The stream is not (or no longer) WebSocket.
    NotWebSocket {
        /// When this was decided.
        ts: Timestamp,
        /// Why.
        reason: String,
    },
    /// A whole text message (its frames reassembled and unmasked; still compressed when
    /// `compressed`), for the signalling it carries.
    Message(TextMessage),
    /// A STUN message or TURN ChannelData framed on this TCP stream (ICE-TCP, RFC 6544
    /// with RFC 4571 framing, or TURN over TCP, RFC 8656 §12.5): not WebSocket, but media.
    Stun {
        /// Time of the packet that completed it.
        ts: Timestamp,
        /// The message, without the RFC 4571 length prefix.
        bytes: Vec<u8>,
    },
}

/// How STUN is framed on a TCP stream.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum StunFraming {
    /// RFC 4571: a 2-byte length before each message (ICE-TCP).
    LengthPrefixed,
    /// Bare STUN and padded ChannelData back to back (TURN over TCP).
    Bare,
}

/// Recognises STUN at the start of a TCP stream by its magic cookie (RFC 8489 §5).
fn stun_framing(b: &[u8]) -> Option<StunFraming> {
    let cookie = crate::media::demux::MAGIC_COOKIE.to_be_bytes();
    if b.len() >= 8 && b[0] < 0x40 && b[4..8] == cookie {
        Some(StunFraming::Bare)
    } else if b.len() >= 10 && b[2] < 0x40 && b[6..10] == cookie {
        Some(StunFraming::LengthPrefixed)
    } else {
        None
    }
}

/// True while `probe`, shorter than [`PROBE_LEN`], could still grow into bytes that
/// [`stun_framing`] recognises: the decision must wait for them, or a stream whose first
/// segments are short would not be found to carry STUN.
fn could_be_stun(probe: &[u8]) -> bool {
    let cookie = crate::media::demux::MAGIC_COOKIE.to_be_bytes();
    let cookie_at = |at: usize| probe.iter().skip(at).zip(cookie).all(|(a, b)| *a == b);
    let bare = probe.first().is_some_and(|&b| b < 0x40) && cookie_at(4);
    let prefixed = probe.get(2).is_none_or(|&b| b < 0x40) && cookie_at(6);
    bare || prefixed
}

/// The length of the next STUN-stream message at the start of `b`: (bytes to skip before
/// it, its length); `None` while incomplete, `Some(Err)` when the framing is broken.
fn next_stun_message(b: &[u8], framing: StunFraming) -> Option<Result<(usize, usize), ()>> {
    match framing {
        StunFraming::LengthPrefixed => {
            let len = u16::from_be_bytes([*b.first()?, *b.get(1)?]) as usize;
            Some(Ok((2, len)))
        }
        StunFraming::Bare => {
            let (first, len) = (
                *b.first()?,
                u16::from_be_bytes([*b.get(2)?, *b.get(3)?]) as usize,
            );
            match first {
                0x00..=0x3f => Some(Ok((0, 20 + len))),
                // ChannelData over TCP is padded to a multiple of 4 (RFC 8656 §12.5).
                0x40..=0x7f => Some(Ok((0, (4 + len).div_ceil(4) * 4))),
                _ => Some(Err(())),
            }
        }
    }
}

/// A text message's bytes (up to [`MAX_TEXT_MESSAGE`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TextMessage {
    /// Time of its first frame.
    pub ts: Timestamp,
    /// Payload, unmasked.
    pub data: Vec<u8>,
    /// RSV1 set on the first frame: compressed under permessage-deflate (RFC 7692 §6).
    pub compressed: bool,
    /// False when bytes were lost or beyond the size kept.
    pub complete: bool,
}

#[derive(Debug)]
enum State {
    Start {
        probe: Vec<u8>,
        ts: Timestamp,
    },
    HttpHead {
        buf: Vec<u8>,
        ts: Timestamp,
        response: bool,
        /// Why the strict parser refused the head: it is read line by line once it ends.
        refused: Option<String>,
    },
    /// The rest of a head longer than [`MAX_HTTP_HEAD`], skipped to its blank line;
    /// `matched` is how far the last bytes went into one (see [`blank_line_step`]).
    SkipHead {
        matched: u8,
    },
    Header {
        buf: Vec<u8>,
        ts: Timestamp,
    },
    Payload {
        head: FrameHead,
        ts: Timestamp,
        remaining: u64,
        keep: Option<Vec<u8>>,
        /// How many bytes `keep` may hold.
        cap: usize,
        lost: bool,
    },
    Resync {
        buf: Vec<u8>,
        skipped: u64,
        midstream: bool,
    },
    Stun {
        buf: Vec<u8>,
        framing: StunFraming,
    },
    Opaque,
}

/// Decodes one direction of a connection.
#[derive(Debug)]
pub struct StreamDecoder {
    state: State,
    /// Whether this direction's frames are masked, learnt from the first frame.
    masked: Option<bool>,
    /// True when the capture holds the stream from its first byte (the SYN was seen), so
    /// a stream that does not open with an HTTP head is not plain WebSocket.
    known_start: bool,
    /// The text message being reassembled.
    message: Option<TextMessage>,
    /// The framing comes from a captured upgrade, not from a guess after a gap or a
    /// mid-stream join: only then is a header with a reserved opcode taken as a frame (a
    /// protocol violation) rather than as a sign that the framing was lost.
    upgraded: bool,
}

impl Default for StreamDecoder {
    fn default() -> Self {
        StreamDecoder {
            state: State::Start {
                probe: Vec::new(),
                ts: Timestamp(0),
            },
            masked: None,
            known_start: false,
            message: None,
            upgraded: false,
        }
    }
}

enum Candidate {
    Accept,
    Reject,
    NeedMore,
}

fn looks_like_request(b: &[u8]) -> bool {
    let token_len = b.iter().take_while(|c| c.is_ascii_uppercase()).count();
    (3..=7).contains(&token_len) && b.get(token_len) == Some(&b' ')
}

impl StreamDecoder {
    /// True once the stream was found not to be WebSocket (or a rejected handshake's body).
    pub fn is_opaque(&self) -> bool {
        matches!(self.state, State::Opaque)
    }

    /// True while the decoder has seen no bytes at all.
    pub fn is_fresh(&self) -> bool {
        matches!(&self.state, State::Start { probe, .. } if probe.is_empty())
    }

    /// Tells the decoder that the capture holds this stream from its first byte.
    pub fn stream_started(&mut self) {
        self.known_start = true;
    }

    /// Tells the decoder that a handshake on the other side succeeded, so this direction
    /// carries frames from its next byte (used for the client side after a 101).
    pub fn expect_frames(&mut self) {
        if self.is_fresh() {
            self.upgraded = true;
            self.state = State::Header {
                buf: Vec::new(),
                ts: Timestamp(0),
            };
        }
    }

    /// Feeds in-order bytes that arrived at `ts`.
    pub fn feed(&mut self, ts: Timestamp, mut data: &[u8], out: &mut Vec<WsEvent>) {
        while !data.is_empty() {
            match &mut self.state {
                State::Opaque => return,
                State::Start {
                    probe,
                    ts: first_ts,
                } => {
                    if probe.is_empty() {
                        *first_ts = ts;
                    }
                    let take = data.len().min(PROBE_LEN - probe.len());
                    probe.extend_from_slice(&data[..take]);
                    data = &data[take..];
                    // Wait for more bytes only while they could still start an HTTP head
                    // or a framed STUN message.
                    let decided = probe.len() >= PROBE_LEN
                        || probe.starts_with(b"HTTP/")
                        || looks_like_request(probe)
                        || !(probe.iter().all(|c| c.is_ascii_uppercase()) || could_be_stun(probe));
                    if !decided {
                        continue;
                    }
                    let probe = std::mem::take(probe);
                    let probe_ts = *first_ts;
                    self.state = if probe.starts_with(b"HTTP/") {
                        State::HttpHead {
                            buf: Vec::new(),
                            ts: probe_ts,
                            response: true,
                            refused: None,
                        }
                    } else if looks_like_request(&probe) {
                        State::HttpHead {
                            buf: Vec::new(),
                            ts: probe_ts,
                            response: false,
                            refused: None,
                        }
                    } else if let Some(framing) = stun_framing(&probe) {
                        State::Stun {
                            buf: Vec::new(),
                            framing,
                        }
                    } else if self.known_start {
                        self.opaque(probe_ts, "stream does not open with an HTTP head", out);
                        return;
                    } else {
                        State::Resync {
                            buf: Vec::new(),
                            skipped: 0,
                            midstream: true,
                        }
                    };
                    self.feed(probe_ts, &probe, out);
                }
                State::HttpHead {
                    buf,
                    ts: head_ts,
                    response,
                    refused,
                } => {
                    if buf.is_empty() {
                        *head_ts = ts;
                    }
                    let old = buf.len();
                    let take = data.len().min(MAX_HTTP_HEAD - old);
                    // A head ends at a line end: without a `\n` the new bytes cannot complete
                    // it, and re-parsing the whole buffer for every tiny segment would cost
                    // O(n²) in the head's length.
                    let may_complete = data[..take].contains(&b'\n') || old + take >= MAX_HTTP_HEAD;
                    buf.extend_from_slice(&data[..take]);
                    data = &data[take..];
                    if !may_complete {
                        continue;
                    }
                    let (head_ts, response) = (*head_ts, *response);
                    let parsed = match refused {
                        // Refused already: only its end is looked for, in the new bytes.
                        Some(why) => HeadResult::Invalid(why.clone()),
                        None if response => parse_response(buf).map_head(Head::Response),
                        None => parse_request(buf).map_head(Head::Request),
                    };
                    let lenient = |head: &[u8]| {
                        if response {
                            Head::Response(parse_response_lenient(head))
                        } else {
                            Head::Request(parse_request_lenient(head))
                        }
                    };
                    // The head, its length, what was wrong with it, and whether it goes on
                    // past the bytes kept.
                    let (head, n, problem, cut) = match parsed {
                        HeadResult::Complete(head, n) => (head, n, None, false),
                        HeadResult::Partial if buf.len() < MAX_HTTP_HEAD => continue,
                        HeadResult::Partial => {
                            let why = "HTTP head longer than 64 KiB: its first 64 KiB were read";
                            (lenient(buf), buf.len(), Some(why.to_string()), true)
                        }
                        HeadResult::Invalid(e) => {
                            let from = if refused.is_some() {
                                old.saturating_sub(3)
                            } else {
                                0
                            };
                            *refused = Some(e.clone());
                            let why = format!(
                                "HTTP head with bytes HTTP does not allow ({e}), read line by line"
                            );
                            match head_end(&buf[from..]) {
                                Some(end) => {
                                    (lenient(&buf[..from + end]), from + end, Some(why), false)
                                }
                                None if buf.len() >= MAX_HTTP_HEAD => (
                                    lenient(buf),
                                    buf.len(),
                                    Some(format!(
                                        "{why}; longer than 64 KiB: its first 64 KiB were read"
                                    )),
                                    true,
                                ),
                                None => continue,
                            }
                        }
                    };
                    let rest = buf.split_off(n);
                    if let Some(reason) = problem {
                        out.push(WsEvent::MalformedHead {
                            ts: head_ts,
                            reason,
                        });
                    }
                    match head {
                        Head::Request(request) => {
                            let upgrade = request.is_websocket;
                            out.push(WsEvent::Request {
                                ts: head_ts,
                                request: Box::new(request),
                            });
                            if upgrade {
                                self.upgraded = true;
                                self.state = State::Header {
                                    buf: Vec::new(),
                                    ts,
                                };
                            } else {
                                self.opaque(ts, "HTTP request without Upgrade: websocket", out);
                            }
                        }
                        Head::Response(response) => {
                            let upgraded = response.status == 101;
                            out.push(WsEvent::Response {
                                ts: head_ts,
                                response: Box::new(response),
                            });
                            self.upgraded |= upgraded;
                            self.state = if upgraded {
                                State::Header {
                                    buf: Vec::new(),
                                    ts,
                                }
                            } else {
                                State::Opaque
                            };
                        }
                    }
                    if cut && matches!(self.state, State::Header { .. }) {
                        self.state = State::SkipHead { matched: 0 };
                    }
                    self.feed(ts, &rest, out);
                }
                State::SkipHead { matched } => {
                    let mut m = *matched;
                    let end = data.iter().position(|&c| {
                        m = blank_line_step(m, c);
                        m == BLANK_LINE_END
                    });
                    *matched = m;
                    match end {
                        Some(i) => {
                            data = &data[i + 1..];
                            self.state = State::Header {
                                buf: Vec::new(),
                                ts,
                            };
                        }
                        None => data = &[],
                    }
                }
                State::Header { buf, ts: head_ts } => {
                    let (head, already) = if buf.is_empty() {
                        *head_ts = ts;
                        match parse_head(data) {
                            HeadParse::Incomplete => {
                                buf.extend_from_slice(data);
                                return;
                            }
                            HeadParse::Complete(head) => (head, 0),
                        }
                    } else {
                        let old = buf.len();
                        let take = data.len().min(MAX_HEADER - old);
                        buf.extend_from_slice(&data[..take]);
                        match parse_head(buf) {
                            HeadParse::Incomplete => {
                                data = &data[take..];
                                continue;
                            }
                            HeadParse::Complete(head) => (head, old),
                        }
                    };
                    if head.opcode.is_reserved() && !self.upgraded {
                        // Framing guessed after a gap or a mid-stream join: not a header.
                        let mut rest = std::mem::take(buf);
                        rest.truncate(already);
                        rest.extend_from_slice(data);
                        data = &[];
                        self.state = State::Resync {
                            buf: Vec::new(),
                            skipped: 0,
                            midstream: false,
                        };
                        self.feed(ts, &rest, out);
                        continue;
                    }
                    let frame_ts = *head_ts;
                    data = &data[head.header_len - already..];
                    self.start_frame(frame_ts, head, out);
                }
                State::Payload {
                    remaining,
                    keep,
                    cap,
                    ..
                } => {
                    let n = (*remaining).min(data.len() as u64) as usize;
                    if let Some(k) = keep {
                        let room = cap.saturating_sub(k.len()).min(n);
                        k.extend_from_slice(&data[..room]);
                    }
                    *remaining -= n as u64;
                    data = &data[n..];
                    if *remaining == 0 {
                        self.finish_frame(ts, out);
                    }
                }
                State::Stun { buf, framing } => {
                    let framing = *framing;
                    buf.extend_from_slice(data);
                    data = &[];
                    let mut start = 0;
                    let mut broken = false;
                    while let Some(next) = next_stun_message(&buf[start..], framing) {
                        let Ok((skip, len)) = next else {
                            broken = true;
                            break;
                        };
                        let Some(msg) = buf.get(start + skip..start + skip + len) else {
                            break;
                        };
                        out.push(WsEvent::Stun {
                            ts,
                            bytes: msg.to_vec(),
                        });
                        start += skip + len;
                    }
                    buf.drain(..start);
                    if broken {
                        self.opaque(ts, "STUN framing lost on the TCP stream", out);
                    }
                }
                State::Resync {
                    buf,
                    skipped,
                    midstream,
                } => {
                    let take = data
                        .len()
                        .min(MAX_RESYNC_WINDOW.saturating_sub(buf.len()).max(1));
                    buf.extend_from_slice(&data[..take]);
                    data = &data[take..];
                    let masked = self.masked;
                    let full = buf.len() >= MAX_RESYNC_WINDOW;
                    let mut found = None;
                    let mut scanned = buf.len();
                    for p in 0..buf.len() {
                        match candidate(&buf[p..], masked) {
                            Candidate::Accept => {
                                found = Some(p);
                                break;
                            }
                            Candidate::NeedMore if !full => {
                                scanned = p;
                                break;
                            }
                            _ => {}
                        }
                    }
                    if let Some(p) = found {
                        let total = skipped.saturating_add(p as u64);
                        let rest = buf.split_off(p);
                        if total > 0 {
                            out.push(WsEvent::Resynced { ts, skipped: total });
                        }
                        self.state = State::Header {
                            buf: Vec::new(),
                            ts,
                        };
                        self.feed(ts, &rest, out);
                        continue;
                    }
                    // Nothing found in [0, scanned): drop it (keep a header's worth when
                    // everything was rejected, in case a header straddles the boundary).
                    let keep_from = if scanned == buf.len() {
                        buf.len().saturating_sub(MAX_HEADER - 1)
                    } else {
                        scanned
                    };
                    *skipped = skipped.saturating_add(keep_from as u64);
                    buf.drain(..keep_from);
                    if *midstream && *skipped > MAX_RESYNC_WINDOW as u64 {
                        self.opaque(ts, "no WebSocket framing found", out);
                    }
                }
            }
        }
    }

    fn opaque(&mut self, ts: Timestamp, reason: &str, out: &mut Vec<WsEvent>) {
        self.state = State::Opaque;
        out.push(WsEvent::NotWebSocket {
            ts,
            reason: reason.to_string(),
        });
    }

    fn start_frame(&mut self, ts: Timestamp, head: FrameHead, out: &mut Vec<WsEvent>) {
        self.masked.get_or_insert(head.mask.is_some());
        let op = head.opcode;
        if op == Opcode::TEXT || op == Opcode::BINARY {
            // A new message; a text message left unfinished is dropped.
            self.message = (op == Opcode::TEXT).then(|| TextMessage {
                ts,
                data: Vec::new(),
                compressed: head.rsv1,
                complete: true,
            });
        }
        let cap = if op.is_control() {
            MAX_CONTROL_PAYLOAD
        } else if let Some(m) = &self.message {
            MAX_TEXT_MESSAGE.saturating_sub(m.data.len())
        } else {
            0
        };
        let keep = (op.is_control() || self.message.is_some())
            .then(|| Vec::with_capacity(head.payload_len.min(cap as u64) as usize));
        self.state = State::Payload {
            head,
            ts,
            remaining: head.payload_len,
            keep,
            cap,
            lost: false,
        };
        if head.payload_len == 0 {
            self.finish_frame(ts, out);
        }
    }

    fn finish_frame(&mut self, now: Timestamp, out: &mut Vec<WsEvent>) {
        let state = std::mem::replace(
            &mut self.state,
            State::Header {
                buf: Vec::new(),
                ts: now,
            },
        );
        let State::Payload {
            head,
            ts,
            keep,
            lost,
            ..
        } = state
        else {
            return;
        };
        let mut kept = keep.map(|mut p| {
            if let Some(mask) = head.mask {
                unmask(&mut p, mask, 0);
            }
            p
        });
        if !head.opcode.is_control() {
            if let (Some(m), Some(bytes)) = (&mut self.message, kept.take()) {
                m.complete &= !lost && bytes.len() as u64 == head.payload_len;
                m.data.extend_from_slice(&bytes);
            }
            if head.fin {
                if let Some(m) = self.message.take() {
                    out.push(WsEvent::Message(m));
                }
            }
        }
        let payload = if lost { None } else { kept };
        out.push(WsEvent::Frame(FrameEvent {
            ts,
            head,
            payload,
            complete: !lost,
        }));
    }

    /// Tells the decoder that `len` bytes of the stream are not in the capture.
    pub fn gap(&mut self, ts: Timestamp, len: u64, out: &mut Vec<WsEvent>) {
        if len == 0 {
            return;
        }
        match &mut self.state {
            State::Opaque => {}
            State::Stun { .. } => {
                self.opaque(ts, "bytes missing from a STUN stream; framing lost", out)
            }
            State::Payload {
                remaining, lost, ..
            } if len <= *remaining => {
                *remaining -= len;
                *lost = true;
                out.push(WsEvent::Gap {
                    ts,
                    len,
                    lost_sync: false,
                });
                if *remaining == 0 {
                    self.finish_frame(ts, out);
                }
            }
            State::Resync { buf, skipped, .. } => {
                // Saturating: `len` comes from the caller and may be any u64.
                *skipped = skipped.saturating_add(buf.len() as u64).saturating_add(len);
                buf.clear();
                out.push(WsEvent::Gap {
                    ts,
                    len,
                    lost_sync: true,
                });
            }
            _ => {
                if let State::Payload { lost, .. } = &mut self.state {
                    *lost = true;
                    self.finish_frame(ts, out);
                }
                let midstream = matches!(self.state, State::Start { .. });
                self.message = None;
                out.push(WsEvent::Gap {
                    ts,
                    len,
                    lost_sync: true,
                });
                self.state = State::Resync {
                    buf: Vec::new(),
                    skipped: len,
                    midstream,
                };
            }
        }
    }
}

enum Head {
    Request(UpgradeRequest),
    Response(UpgradeResponse),
}

/// [`blank_line_step`] found the blank line that ends a head.
const BLANK_LINE_END: u8 = 4;

/// One byte of the search for a head's blank line (`\r\n\r\n`, `\n\n` or `\r\n\n`, as
/// [`head_end`] finds it), from `m`: 0 nothing, 1 after `\r`, 2 after a line end, 3 after
/// a line end and `\r`, [`BLANK_LINE_END`] found.
fn blank_line_step(m: u8, c: u8) -> u8 {
    match (m, c) {
        (2 | 3, b'\n') => BLANK_LINE_END,
        (_, b'\n') => 2,
        (2, b'\r') => 3,
        (_, b'\r') => 1,
        _ => 0,
    }
}

trait MapHead<T> {
    fn map_head(self, f: impl FnOnce(T) -> Head) -> HeadResult<Head>;
}

impl<T> MapHead<T> for HeadResult<T> {
    fn map_head(self, f: impl FnOnce(T) -> Head) -> HeadResult<Head> {
        match self {
            HeadResult::Complete(t, n) => HeadResult::Complete(f(t), n),
            HeadResult::Partial => HeadResult::Partial,
            HeadResult::Invalid(e) => HeadResult::Invalid(e),
        }
    }
}

/// Could a frame start at `b[0]`? `masked` is this direction's known masking.
fn plausible(h: &FrameHead, masked: Option<bool>) -> bool {
    !h.opcode.is_reserved()
        && !h.rsv23
        && h.control_is_valid()
        && h.payload_len <= MAX_PLAUSIBLE_RESYNC_LEN
        && masked.is_none_or(|m| m == h.mask.is_some())
}

/// Judges a resynchronisation point: the header must be plausible, must not be a
/// continuation or an empty data frame (zero bytes would otherwise chain forever), and
/// must be confirmed by the next header or by ending exactly where the bytes end.
fn candidate(b: &[u8], masked: Option<bool>) -> Candidate {
    let h = match parse_head(b) {
        HeadParse::Complete(h) => h,
        HeadParse::Incomplete => return Candidate::NeedMore,
    };
    if !plausible(&h, masked)
        || h.opcode == Opcode::CONTINUATION
        || (!h.opcode.is_control() && h.payload_len == 0)
    {
        return Candidate::Reject;
    }
    let end = h.header_len as u64 + h.payload_len;
    if end == b.len() as u64 {
        return Candidate::Accept;
    }
    if end > b.len() as u64 {
        return Candidate::NeedMore;
    }
    match parse_head(&b[end as usize..]) {
        HeadParse::Complete(next) if plausible(&next, masked.or(Some(h.mask.is_some()))) => {
            Candidate::Accept
        }
        HeadParse::Incomplete => Candidate::NeedMore,
        _ => Candidate::Reject,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn hostile_length_does_not_allocate() {
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
}
