//! WebRTC media beside the signalling: the protocols multiplexed on UDP (RFC 7983) —
//! STUN/TURN (ICE), DTLS, RTP and RTCP — and the SDP that names a session's media.
//! Per-flow state (which flow belongs to which session) lives in the analysis crate.

pub mod demux;
pub mod dtls;
pub mod rtp;
pub mod sdp;
pub mod stream;
pub mod stun;

pub use sdp::SdpFacts;
pub use stream::RtpStream;
