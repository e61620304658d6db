//! WebSocket over a reassembled TCP stream: the HTTP/1.1 upgrade (RFC 6455 §4) and the
//! framing (RFC 6455 §5), one [`StreamDecoder`] per direction. The decoder probes the
//! first bytes (`tcp::probe`) and hands them to one parser, each in its own file: the HTTP
//! head reader, the frame reader, the STUN framer (STUN on TCP is media, but shares the
//! probe), or none.

mod decoder;
mod deflate;
mod event;
mod frame;
mod frame_reader;
mod head_reader;
mod http;
mod stun_framer;
mod violation;

pub use decoder::StreamDecoder;
pub use deflate::{keeps_context, Inflater, MAX_INFLATED};
pub use event::{FrameEvent, TextMessage, WsEvent};
pub use frame::{
    parse_close, parse_head, unmask, CloseFrame, FrameHead, HeadParse, Opcode, MAX_CONTROL_PAYLOAD,
};
pub use frame_reader::{MAX_RESYNC_WINDOW, MAX_TEXT_MESSAGE};
pub use head_reader::MAX_HTTP_HEAD;
pub use http::{
    accept_key, head_end, parse_request, parse_request_lenient, parse_response,
    parse_response_lenient, HeadResult, UpgradeRequest, UpgradeResponse,
};
pub use violation::{close_code_forbidden, violations, FrameContext};
