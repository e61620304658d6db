//! The kinds of payload that share a WebRTC media port (RFC 7983 §7, RFC 5764 §5.1.2).
//!
//! Each kind is recognised by its protocol's own probe (`stun::probe`, `dtls::probe`,
//! `rtp::probe_rtp`, ...): the first byte only narrows the candidates, and the probe
//! confirms them by the header and lengths, so text protocols whose first letter falls in a
//! range (SIP's `INVITE` in ChannelData's 64–79, Megaco's `!` in DTLS's 20–63) are not
//! taken for media. The analysis crate's dissector registry (`flow/dissector.rs`) runs the
//! probes; the ranges are disjoint, so at most one claims a datagram.

use std::fmt;

/// The protocols that share a WebRTC media port.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum Kind {
    /// STUN (first byte 0-3, with the RFC 5389 magic cookie).
    Stun,
    /// ZRTP (16-19).
    Zrtp,
    /// DTLS (20-63).
    Dtls,
    /// TURN ChannelData (64-79).
    ChannelData,
    /// RTP (128-191, second byte's payload type not in 192-223).
    Rtp,
    /// RTCP (128-191, second byte 192-223).
    Rtcp,
    /// Anything else.
    #[cfg_attr(feature = "serde", serde(rename = "other"))]
    Unknown,
}

impl Kind {
    /// Every kind, in declaration order.
    pub const ALL: [Kind; 7] = [
        Kind::Stun,
        Kind::Zrtp,
        Kind::Dtls,
        Kind::ChannelData,
        Kind::Rtp,
        Kind::Rtcp,
        Kind::Unknown,
    ];

    /// Its name in outputs: `stun`, `zrtp`, `dtls`, `channel_data`, `rtp`, `rtcp`, `other`.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Stun => "stun",
            Kind::Zrtp => "zrtp",
            Kind::Dtls => "dtls",
            Kind::ChannelData => "channel_data",
            Kind::Rtp => "rtp",
            Kind::Rtcp => "rtcp",
            Kind::Unknown => "other",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The STUN magic cookie (RFC 8489 §5).
pub const MAGIC_COOKIE: u32 = 0x2112_A442;
