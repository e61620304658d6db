//! WebSocket over a reassembled TCP stream: the HTTP/1.1 upgrade (RFC 6455 §4) and the
//! framing (RFC 6455 §5), one [`StreamDecoder`] per direction.

mod decoder;
mod deflate;
mod frame;
mod http;
mod violation;

pub use decoder::{
    FrameEvent, StreamDecoder, TextMessage, WsEvent, MAX_HTTP_HEAD, MAX_RESYNC_WINDOW,
    MAX_TEXT_MESSAGE,
};
pub use deflate::{keeps_context, Inflater, MAX_INFLATED};
pub use frame::{parse_close, parse_head, unmask, CloseFrame, FrameHead, HeadParse, Opcode};
pub use http::{
    accept_key, head_end, parse_request, parse_request_lenient, parse_response,
    parse_response_lenient, HeadResult, UpgradeRequest, UpgradeResponse,
};
pub use violation::{close_code_forbidden, violations, FrameContext};
