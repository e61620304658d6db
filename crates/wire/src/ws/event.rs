//! What a [`StreamDecoder`](super::StreamDecoder) finds in one direction: the events its
//! readers emit.

use super::frame::FrameHead;
use super::http::{UpgradeRequest, UpgradeResponse};
use crate::time::Timestamp;

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
    /// read leniently: bytes HTTP does not allow, or longer than [`MAX_HTTP_HEAD`](super::MAX_HTTP_HEAD).
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

/// A text message's bytes (up to [`MAX_TEXT_MESSAGE`](super::MAX_TEXT_MESSAGE)).
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

/// A reader found that the stream is not (or no longer) what it reads: the decoder reads
/// nothing more of it and says why in [`WsEvent::NotWebSocket`].
#[derive(Debug)]
pub(super) struct NotFramed(pub &'static str);
