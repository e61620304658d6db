//! WebSocket frames of one direction (RFC 6455 §5), after a captured upgrade or found by
//! resynchronising (a mid-stream join, or a gap inside or at a header).
//!
//! ```text
//! Header ◄──► Payload
//!   │  ▲
//!   ▼  │ a header chain found again
//! Resync ◄── a gap at or inside a header; a mid-stream join (the decoder starts here)
//! ```
//!
//! Payload bytes are never buffered, except control-frame payloads (at most 125 bytes,
//! RFC 6455 §5.5) which are kept and unmasked for close codes and ping/pong matching, and
//! text messages up to [`MAX_TEXT_MESSAGE`]. A gap inside a payload does not lose the
//! framing (the length is known); a gap inside or at a header does, and the reader then
//! scans for a plausible header chain to resynchronise.

use super::event::{FrameEvent, NotFramed, TextMessage, WsEvent};
use super::frame::{parse_head, unmask, FrameHead, HeadParse, Opcode, MAX_CONTROL_PAYLOAD};
use crate::time::Timestamp;

/// How many bytes the resynchronisation scan looks at before giving up on a window.
pub const MAX_RESYNC_WINDOW: usize = 64 * 1024;
/// A frame longer than this is not accepted as a resynchronisation point.
const MAX_PLAUSIBLE_RESYNC_LEN: u64 = 1 << 24;
/// Longest possible frame header (2 + 8 length + 4 mask).
const MAX_HEADER: usize = 14;
/// Bytes of one text message kept (for the SDP in signalling); the rest is counted only.
pub const MAX_TEXT_MESSAGE: usize = 64 * 1024;

#[derive(Debug)]
enum State {
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
        /// Started by a mid-stream join: giving up after [`MAX_RESYNC_WINDOW`] bytes
        /// means the stream is not WebSocket.
        midstream: bool,
    },
}

/// Reads the frames of one direction.
#[derive(Debug)]
pub(super) struct FrameReader {
    state: State,
    /// Whether this direction's frames are masked, learnt from the first frame.
    masked: Option<bool>,
    /// The text message being reassembled.
    message: Option<TextMessage>,
    /// The framing comes from a captured upgrade, not from a guess after a gap or a
    /// mid-stream join: only then is a header with a reserved opcode taken as a frame (a
    /// protocol violation) rather than as a sign that the framing was lost.
    upgraded: bool,
}

enum Candidate {
    Accept,
    Reject,
    NeedMore,
}

impl FrameReader {
    /// Frames from the next byte, after a captured upgrade.
    pub(super) fn upgraded() -> Self {
        FrameReader {
            state: State::Header {
                buf: Vec::new(),
                ts: Timestamp(0),
            },
            masked: None,
            message: None,
            upgraded: true,
        }
    }

    /// Frames to be found by scanning, `skipped` bytes after the last known byte:
    /// `midstream` when the capture joined the stream inside it (no head), `upgraded` when
    /// an upgrade was captured before the framing was lost.
    pub(super) fn resync(skipped: u64, midstream: bool, upgraded: bool) -> Self {
        FrameReader {
            state: State::Resync {
                buf: Vec::new(),
                skipped,
                midstream,
            },
            masked: None,
            message: None,
            upgraded,
        }
    }

    /// Reads in-order bytes that arrived at `ts`, all of them; `Err` when a mid-stream
    /// join found no framing.
    pub(super) fn feed(
        &mut self,
        ts: Timestamp,
        mut data: &[u8],
        out: &mut Vec<WsEvent>,
    ) -> Result<(), NotFramed> {
        while !data.is_empty() {
            match &mut self.state {
                State::Header { .. } => self.read_header(ts, &mut data, out)?,
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
                State::Resync { .. } => self.resync_step(ts, &mut data, out)?,
            }
        }
        Ok(())
    }

    /// The `Header` state: gathers a header and starts its frame.
    fn read_header(
        &mut self,
        ts: Timestamp,
        data: &mut &[u8],
        out: &mut Vec<WsEvent>,
    ) -> Result<(), NotFramed> {
        let State::Header { buf, ts: head_ts } = &mut self.state else {
            return Ok(());
        };
        let (head, already) = if buf.is_empty() {
            *head_ts = ts;
            match parse_head(data) {
                HeadParse::Incomplete => {
                    buf.extend_from_slice(data);
                    *data = &[];
                    return Ok(());
                }
                HeadParse::Complete(head) => (head, 0),
            }
        } else {
            let old = buf.len();
            let take = data.len().min(MAX_HEADER - old);
            buf.extend_from_slice(&data[..take]);
            match parse_head(buf) {
                HeadParse::Incomplete => {
                    *data = &data[take..];
                    return Ok(());
                }
                HeadParse::Complete(head) => (head, old),
            }
        };
        if head.opcode.is_reserved() && !self.upgraded {
            // Framing guessed after a gap or a mid-stream join: not a header.
            let mut rest = std::mem::take(buf);
            rest.truncate(already);
            rest.extend_from_slice(data);
            *data = &[];
            self.state = State::Resync {
                buf: Vec::new(),
                skipped: 0,
                midstream: false,
            };
            return self.feed(ts, &rest, out);
        }
        let frame_ts = *head_ts;
        *data = &data[head.header_len - already..];
        self.start_frame(frame_ts, head, out);
        Ok(())
    }

    /// The `Resync` state: scans the bytes kept for a header chain; `Err` when a mid-stream
    /// join gave up.
    fn resync_step(
        &mut self,
        ts: Timestamp,
        data: &mut &[u8],
        out: &mut Vec<WsEvent>,
    ) -> Result<(), NotFramed> {
        let masked = self.masked;
        let State::Resync {
            buf,
            skipped,
            midstream,
        } = &mut self.state
        else {
            return Ok(());
        };
        let take = data
            .len()
            .min(MAX_RESYNC_WINDOW.saturating_sub(buf.len()).max(1));
        buf.extend_from_slice(&data[..take]);
        *data = &data[take..];
        let (found, scanned) = scan(buf, masked);
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
            return self.feed(ts, &rest, out);
        }
        // Nothing found in [0, scanned): drop it (keep a header's worth when everything
        // was rejected, in case a header straddles the boundary).
        let keep_from = if scanned == buf.len() {
            buf.len().saturating_sub(MAX_HEADER - 1)
        } else {
            scanned
        };
        *skipped = skipped.saturating_add(keep_from as u64);
        buf.drain(..keep_from);
        if *midstream && *skipped > MAX_RESYNC_WINDOW as u64 {
            return Err(NotFramed("no WebSocket framing found"));
        }
        Ok(())
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

    /// `len` bytes (more than zero) of the stream are not in the capture.
    pub(super) fn gap(&mut self, ts: Timestamp, len: u64, out: &mut Vec<WsEvent>) {
        match &mut self.state {
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
            State::Header { .. } | State::Payload { .. } => {
                if let State::Payload { lost, .. } = &mut self.state {
                    *lost = true;
                    self.finish_frame(ts, out);
                }
                self.message = None;
                out.push(WsEvent::Gap {
                    ts,
                    len,
                    lost_sync: true,
                });
                self.state = State::Resync {
                    buf: Vec::new(),
                    skipped: len,
                    midstream: false,
                };
            }
        }
    }
}

/// Looks for a resynchronisation point in `buf`: its offset if one is found, and how far
/// the scan could judge (short of the end when a candidate needs more bytes).
fn scan(buf: &[u8], masked: Option<bool>) -> (Option<usize>, usize) {
    let full = buf.len() >= MAX_RESYNC_WINDOW;
    for p in 0..buf.len() {
        match candidate(&buf[p..], masked) {
            Candidate::Accept => return (Some(p), buf.len()),
            Candidate::NeedMore if !full => return (None, p),
            _ => {}
        }
    }
    (None, buf.len())
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
