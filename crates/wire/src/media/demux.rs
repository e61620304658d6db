//! What a UDP payload is, from its first byte (RFC 7983 §7, RFC 5764 §5.1.2) and, for
//! RTP versus RTCP on a shared port, its second (RFC 5761 §4).

/// The protocols that share a WebRTC media port.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
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
    Unknown,
}

/// The STUN magic cookie (RFC 8489 §5).
pub const MAGIC_COOKIE: u32 = 0x2112_A442;

/// Classifies a UDP payload.
pub fn classify(b: &[u8]) -> Kind {
    let Some(&first) = b.first() else {
        return Kind::Unknown;
    };
    match first {
        0..=3 if b.len() >= 20 && b[4..8] == MAGIC_COOKIE.to_be_bytes() => Kind::Stun,
        16..=19 => Kind::Zrtp,
        20..=63 if b.len() >= 13 => Kind::Dtls,
        64..=79 if b.len() >= 4 => Kind::ChannelData,
        128..=191 if b.len() >= 8 => {
            // RFC 5761 §4: RTCP packet types 192-223 collide with RTP payload types 64-95
            // (marker bit included), which RTP must therefore not use.
            if (192..=223).contains(&b[1]) {
                Kind::Rtcp
            } else if b.len() >= 12 {
                Kind::Rtp
            } else {
                Kind::Unknown
            }
        }
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
            classify(&[22, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 10]),
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
        assert_eq!(classify(&[0x81, 200, 0, 6, 0, 0, 0, 1]), Kind::Rtcp);
        assert_eq!(classify(&[0x81, 0xc9, 0, 1, 0, 0, 0, 1]), Kind::Rtcp);
        assert_eq!(classify(&[0x00, 0x01, 0, 0, 1, 2, 3, 4]), Kind::Unknown);
        assert_eq!(classify(&[]), Kind::Unknown);
    }
}
