//! What a UDP payload is, from its first byte (RFC 7983 §7, RFC 5764 §5.1.2) and, for
//! RTP versus RTCP on a shared port, its second (RFC 5761 §4). The first byte only narrows
//! the candidates: each kind is confirmed by a check of its header and lengths, so text
//! protocols whose first letter falls in a range (SIP's `INVITE` in ChannelData's 64–79,
//! Megaco's `!` in DTLS's 20–63) are not taken for media.

use super::rtp::parse_rtp;
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

/// Classifies a UDP payload: the first byte's range, confirmed by the kind's own lengths.
pub fn classify(b: &[u8]) -> Kind {
    let Some(&first) = b.first() else {
        return Kind::Unknown;
    };
    let be16 = |at: usize| {
        b.get(at..at + 2)
            .map(|x| u16::from_be_bytes([x[0], x[1]]) as usize)
    };
    let confirmed = match first {
        // RFC 8489 §5-6: the magic cookie, and a length in 4-byte words that fits.
        0..=3 => {
            b.len() >= 20
                && b[4..8] == MAGIC_COOKIE.to_be_bytes()
                && be16(2).is_some_and(|len| len % 4 == 0 && 20 + len <= b.len())
        }
        16..=19 => true,
        // RFC 6347 §4.1: a content type in use (20-25), version 0xfeXX, a length that fits.
        20..=25 => b.len() >= 13 && b[1] == 0xfe && be16(11).is_some_and(|len| 13 + len <= b.len()),
        // RFC 9147 §4: the DTLS 1.3 unified header, confirmed only with its length (L bit,
        // no connection id): without one, text such as Megaco's `!/1` would pass.
        32..=63 => {
            let (cid, seq16, has_len) = (first & 0x10 != 0, first & 0x08 != 0, first & 0x04 != 0);
            let at = 1 + if seq16 { 2 } else { 1 };
            !cid && has_len && be16(at).is_some_and(|len| len > 0 && at + 2 + len <= b.len())
        }
        // RFC 8656 §12.4: the length, padded to 4 at most over UDP, is the rest.
        64..=79 => be16(2).is_some_and(|len| (4 + len..4 + len + 4).contains(&b.len())),
        128..=191 => b.len() >= 8,
        _ => false,
    };
    if !confirmed {
        return Kind::Unknown;
    }
    match first {
        0..=3 => Kind::Stun,
        16..=19 => Kind::Zrtp,
        20..=63 => Kind::Dtls,
        64..=79 => Kind::ChannelData,
        // RFC 5761 §4: RTCP packet types 192-223 collide with RTP payload types 64-95
        // (marker bit included), which RTP must therefore not use. RTCP's length (in
        // 32-bit words, minus one) must fit; RTP's header, CSRCs and extension must.
        _ if (192..=223).contains(&b[1]) => match be16(2) {
            Some(words) if (words + 1) * 4 <= b.len() => Kind::Rtcp,
            _ => Kind::Unknown,
        },
        _ if parse_rtp(b).is_some() => Kind::Rtp,
        _ => Kind::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_byte_ranges() {
        let mut stun = vec![0x00, 0x01, 0x00, 0x00];
        stun.extend_from_slice(&MAGIC_COOKIE.to_be_bytes());
        stun.extend_from_slice(&[7; 12]);
        assert_eq!(classify(&stun), Kind::Stun);
        assert_eq!(
            classify(&[22, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1]),
            Kind::Dtls
        );
        assert_eq!(
            classify(&[0x40, 0x00, 0x00, 0x04, 1, 2, 3, 4]),
            Kind::ChannelData
        );
        assert_eq!(
            classify(&[0x80, 0x6f, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1]),
            Kind::Rtp
        );
        assert_eq!(classify(&[0x81, 200, 0, 1, 0, 0, 0, 1]), Kind::Rtcp);
        assert_eq!(classify(&[0x81, 200, 0, 6, 0, 0, 0, 1]), Kind::Unknown); // 28 bytes said
        assert_eq!(classify(&[0x81, 0xc9, 0, 1, 0, 0, 0, 1]), Kind::Rtcp);
        assert_eq!(classify(&[0x00, 0x01, 0, 0, 1, 2, 3, 4]), Kind::Unknown);
        assert_eq!(classify(&[]), Kind::Unknown);
    }

    #[test]
    fn text_protocols_are_not_media() {
        // SIP requests on 5060: their first letters fall in ChannelData's range.
        for sip in [
            &b"INVITE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1\r\n\r\n"[..],
            b"OPTIONS sip:x SIP/2.0\r\n\r\n",
            b"ACK sip:x SIP/2.0\r\n\r\n",
        ] {
            assert_eq!(classify(sip), Kind::Unknown);
        }
        // Megaco (H.248) text on 2944: `!` and `M` fall in DTLS's and ChannelData's ranges.
        assert_eq!(
            classify(b"!/1 [10.0.0.1]:2944 T=1{C=-{SC=ROOT{SV{MT=RS,RE=\"901\"}}}}"),
            Kind::Unknown
        );
        assert_eq!(
            classify(b"MEGACO/1 [10.0.0.1]:2944\r\nTransaction = 1 {}"),
            Kind::Unknown
        );
        // A ChannelData message whose length leaves more than its padding is not one.
        assert_eq!(
            classify(&[0x40, 0x00, 0x00, 0x04, 1, 2, 3, 4, 0, 0, 0, 0]),
            Kind::Unknown
        );
        assert_eq!(
            classify(&[0x40, 0x00, 0x00, 0x03, 1, 2, 3, 0]),
            Kind::ChannelData
        );
        // A DTLS 1.3 unified header with its length.
        assert_eq!(classify(&[0x2c, 0x00, 0x01, 0x00, 0x02, 7, 7]), Kind::Dtls);
    }
}
