//! WebRTC media beside the signalling: the protocols multiplexed on UDP (RFC 7983) —
//! STUN/TURN (ICE), DTLS, RTP and RTCP — and the SDP that joins them to a session.

pub mod demux;
pub mod dtls;
pub mod flow;
pub mod rtp;
pub mod sdp;
pub mod stream;
pub mod stun;

pub use flow::{MediaEvent, MediaEventKind, MediaFlow, UdpFlow};
pub use sdp::SdpFacts;
pub use stream::RtpStream;
