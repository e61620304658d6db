//! RTP headers and RTCP compound packets (RFC 3550 §5.1, §6). SRTP and SRTCP leave the
//! headers these statistics need in clear (RFC 3711 §3).

/// An RTP fixed header (RFC 3550 §5.1).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct RtpHeader {
    /// Marker bit.
    pub marker: bool,
    /// Payload type.
    pub payload_type: u8,
    /// Sequence number.
    pub seq: u16,
    /// Media timestamp.
    pub timestamp: u32,
    /// Synchronisation source.
    pub ssrc: u32,
    /// Bytes after the header (and CSRCs, extension and padding).
    pub payload_len: usize,
}

/// True when `b` is RTP: first byte 128-191 (RFC 7983 §7), a second byte outside RTCP's
/// packet types 192-223 (RFC 5761 §4: RTP must not use payload types 64-95 there), and a
/// header, CSRCs and extension that fit.
pub fn probe_rtp(b: &[u8]) -> bool {
    shares_rtp_range(b) && !(192..=223).contains(&b[1]) && parse_rtp(b).is_some()
}

/// True when `b` is RTCP: first byte 128-191 (RFC 7983 §7), a second byte among the packet
/// types 192-223 (RFC 5761 §4), and a first length (32-bit words, minus one) that fits.
pub fn probe_rtcp(b: &[u8]) -> bool {
    shares_rtp_range(b)
        && (192..=223).contains(&b[1])
        && (u16::from_be_bytes([b[2], b[3]]) as usize + 1) * 4 <= b.len()
}

/// First byte 128-191 and the 8 bytes that RTP and RTCP headers both start with.
fn shares_rtp_range(b: &[u8]) -> bool {
    b.len() >= 8 && (128..=191).contains(&b[0])
}

/// Parses an RTP header; `None` when it is not version 2 or its lengths do not fit.
pub fn parse_rtp(b: &[u8]) -> Option<RtpHeader> {
    if b.len() < 12 || b[0] >> 6 != 2 {
        return None;
    }
    let csrc = (b[0] & 0x0f) as usize;
    let mut header = 12 + 4 * csrc;
    if b[0] & 0x10 != 0 {
        // RFC 3550 §5.3.1: 16-bit profile, 16-bit length in 32-bit words.
        let words = u16::from_be_bytes([*b.get(header + 2)?, *b.get(header + 3)?]) as usize;
        header += 4 + 4 * words;
    }
    let padding = if b[0] & 0x20 != 0 {
        *b.last()? as usize
    } else {
        0
    };
    let payload_len = b.len().checked_sub(header)?.checked_sub(padding)?;
    Some(RtpHeader {
        marker: b[1] & 0x80 != 0,
        payload_type: b[1] & 0x7f,
        seq: u16::from_be_bytes([b[2], b[3]]),
        timestamp: u32::from_be_bytes([b[4], b[5], b[6], b[7]]),
        ssrc: u32::from_be_bytes([b[8], b[9], b[10], b[11]]),
        payload_len,
    })
}

/// A reception report block (RFC 3550 §6.4.1).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct ReportBlock {
    /// The source this block reports on.
    pub ssrc: u32,
    /// Fraction lost since the last report, in 1/256.
    pub fraction_lost: u8,
    /// Cumulative packets lost (24-bit signed).
    pub cumulative_lost: i32,
    /// Interarrival jitter, in timestamp units.
    pub jitter: u32,
}

/// One packet of an RTCP compound.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RtcpPacket {
    /// Sender report (200) with its report blocks.
    SenderReport {
        /// Sender.
        ssrc: u32,
        /// Reports on the sources it receives.
        blocks: Vec<ReportBlock>,
    },
    /// Receiver report (201).
    ReceiverReport {
        /// Sender.
        ssrc: u32,
        /// Reports.
        blocks: Vec<ReportBlock>,
    },
    /// Source description (202): CNAMEs.
    Sdes {
        /// (SSRC, CNAME) pairs.
        cnames: Vec<(u32, String)>,
    },
    /// Goodbye (203): a clean end of these sources (RFC 3550 §6.6).
    Bye {
        /// Sources leaving.
        ssrcs: Vec<u32>,
        /// Optional reason.
        reason: Option<String>,
    },
    /// Any other type (APP, feedback...), by number.
    Other(u8),
}

/// The result of walking an RTCP compound packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Compound {
    /// The packets read.
    pub packets: Vec<RtcpPacket>,
    /// True when the lengths did not add up to the datagram: SRTCP (encrypted after the
    /// first 8 bytes, RFC 3711 §3.4) or damage. Only the first header was trusted then.
    pub encrypted: bool,
}

/// Most packets read from one compound (a hostile datagram cannot cost more).
const MAX_PACKETS: usize = 16;

fn blocks(b: &[u8], count: usize) -> Vec<ReportBlock> {
    b.chunks_exact(24)
        .take(count)
        .map(|r| {
            let lost = i32::from_be_bytes([r[5], r[6], r[7], 0]) >> 8;
            ReportBlock {
                ssrc: u32::from_be_bytes([r[0], r[1], r[2], r[3]]),
                fraction_lost: r[4],
                cumulative_lost: lost,
                jitter: u32::from_be_bytes([r[12], r[13], r[14], r[15]]),
            }
        })
        .collect()
}

fn sdes_cnames(b: &[u8], count: usize) -> Vec<(u32, String)> {
    let mut out = Vec::new();
    let mut rest = b;
    for _ in 0..count {
        let Some(ssrc) = rest
            .get(..4)
            .map(|s| u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
        else {
            break;
        };
        let mut p = 4;
        while let Some(&item) = rest.get(p) {
            if item == 0 {
                break;
            }
            let Some(&len) = rest.get(p + 1) else { break };
            let Some(value) = rest.get(p + 2..p + 2 + len as usize) else {
                break;
            };
            if item == 1 {
                out.push((ssrc, String::from_utf8_lossy(value).into_owned()));
            }
            p += 2 + len as usize;
        }
        // Each chunk ends with a null item and padding to 32 bits.
        let end = (p + 1).div_ceil(4) * 4;
        rest = rest.get(end..).unwrap_or(&[]);
    }
    out
}

/// Walks an RTCP compound packet (RFC 3550 §6.1).
pub fn parse_rtcp(b: &[u8]) -> Compound {
    let mut packets = Vec::new();
    let mut pos = 0;
    while pos + 4 <= b.len() && packets.len() < MAX_PACKETS {
        let h = &b[pos..];
        if h[0] >> 6 != 2 {
            break;
        }
        let count = (h[0] & 0x1f) as usize;
        let pt = h[1];
        let len = (u16::from_be_bytes([h[2], h[3]]) as usize + 1) * 4;
        let Some(body) = b.get(pos + 4..pos + len) else {
            break;
        };
        let ssrc = body
            .get(..4)
            .map(|s| u32::from_be_bytes([s[0], s[1], s[2], s[3]]));
        let p = match (pt, ssrc) {
            (200, Some(ssrc)) => RtcpPacket::SenderReport {
                ssrc,
                blocks: blocks(body.get(24..).unwrap_or(&[]), count),
            },
            (201, Some(ssrc)) => RtcpPacket::ReceiverReport {
                ssrc,
                blocks: blocks(body.get(4..).unwrap_or(&[]), count),
            },
            (202, _) => RtcpPacket::Sdes {
                cnames: sdes_cnames(body, count),
            },
            (203, _) => {
                let ssrcs: Vec<u32> = body
                    .chunks_exact(4)
                    .take(count)
                    .map(|s| u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
                    .collect();
                let reason = body
                    .get(4 * count)
                    .and_then(|&l| body.get(4 * count + 1..4 * count + 1 + l as usize));
                RtcpPacket::Bye {
                    ssrcs,
                    reason: reason.map(|r| String::from_utf8_lossy(r).into_owned()),
                }
            }
            (other, _) => RtcpPacket::Other(other),
        };
        packets.push(p);
        pos += len;
    }
    let encrypted = pos != b.len();
    if encrypted {
        // Only the first header and the sender's SSRC are in clear.
        packets.truncate(1);
        if let Some(first) = packets.first_mut() {
            *first = match (&*first, b.get(1)) {
                (RtcpPacket::SenderReport { ssrc, .. }, _) => RtcpPacket::SenderReport {
                    ssrc: *ssrc,
                    blocks: Vec::new(),
                },
                (RtcpPacket::ReceiverReport { ssrc, .. }, _) => RtcpPacket::ReceiverReport {
                    ssrc: *ssrc,
                    blocks: Vec::new(),
                },
                // A BYE leading its compound: its first source is in the clear part.
                (RtcpPacket::Bye { ssrcs, .. }, _) => RtcpPacket::Bye {
                    ssrcs: ssrcs.iter().take(1).copied().collect(),
                    reason: None,
                },
                (_, Some(&pt)) => RtcpPacket::Other(pt),
                (_, None) => RtcpPacket::Other(0),
            };
        }
    }
    Compound { packets, encrypted }
}

/// Clock rate of a static payload type (RFC 3551 §6), for streams whose SDP was not seen.
pub fn static_clock_rate(pt: u8) -> Option<u32> {
    match pt {
        0 | 3 | 4 | 5 | 7 | 8 | 9 | 12 | 13 | 15 | 18 | 19 => Some(8000),
        6 => Some(16000),
        10 | 11 => Some(44100),
        16 => Some(11025),
        17 => Some(22050),
        14 | 25 | 26 | 28 | 31 | 32 | 33 | 34 => Some(90000),
        _ => None,
    }
}

/// Clock rate from an `a=rtpmap` encoding name when it carries none, as tshark does.
pub fn clock_rate_of_encoding(name: &str) -> Option<u32> {
    let n = name.to_ascii_lowercase();
    match n.as_str() {
        "opus" => Some(48000),
        "pcmu" | "pcma" | "g722" | "g729" | "amr" => Some(8000),
        "amr-wb" | "g7221" | "evs" => Some(16000),
        "h264" | "h265" | "vp8" | "vp9" | "av1" => Some(90000),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rtp_header_with_csrc_extension_and_padding() {
        let mut b = vec![
            0xb1, 0xe0, 0x12, 0x34, 0, 0, 0x03, 0xc0, 0xde, 0xad, 0xbe, 0xef,
        ]; // V2 P X CC=1, M, PT 96
        b.extend_from_slice(&[1, 2, 3, 4]); // CSRC
        b.extend_from_slice(&[0xbe, 0xde, 0x00, 0x01, 9, 9, 9, 9]); // one-word extension
        b.extend_from_slice(&[0xaa; 10]);
        b.extend_from_slice(&[0, 0, 3]); // 3 bytes of padding
        let h = parse_rtp(&b).unwrap();
        assert!(h.marker);
        assert_eq!(
            (h.payload_type, h.seq, h.timestamp, h.ssrc),
            (96, 0x1234, 960, 0xdeadbeef)
        );
        assert_eq!(h.payload_len, 10);
        assert_eq!(parse_rtp(&b[..14]), None);
    }

    #[test]
    fn compound_sr_sdes_bye() {
        let mut b = vec![0x81, 200, 0, 12, 0, 0, 0, 7];
        b.extend_from_slice(&[0; 20]); // NTP, RTP ts, counts
        b.extend_from_slice(&[
            0, 0, 0, 9, 25, 0xff, 0xff, 0xfe, 0, 0, 0, 0, 0, 0, 0, 40, 0, 0, 0, 0, 0, 0, 0, 0,
        ]);
        b.extend_from_slice(&[0x81, 202, 0, 3, 0, 0, 0, 7, 1, 3, b'a', b'b', b'c', 0, 0, 0]);
        b.extend_from_slice(&[0x81, 203, 0, 1, 0, 0, 0, 7]);
        let c = parse_rtcp(&b);
        assert!(!c.encrypted);
        assert_eq!(
            c.packets[0],
            RtcpPacket::SenderReport {
                ssrc: 7,
                blocks: vec![ReportBlock {
                    ssrc: 9,
                    fraction_lost: 25,
                    cumulative_lost: -2,
                    jitter: 40
                }]
            }
        );
        assert_eq!(
            c.packets[1],
            RtcpPacket::Sdes {
                cnames: vec![(7, "abc".into())]
            }
        );
        assert_eq!(
            c.packets[2],
            RtcpPacket::Bye {
                ssrcs: vec![7],
                reason: None
            }
        );
    }

    #[test]
    fn probes_tell_rtp_from_rtcp() {
        let rtp = [0x80, 0x6f, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1];
        assert!(probe_rtp(&rtp) && !probe_rtcp(&rtp));
        for rtcp in [
            [0x81, 200, 0, 1, 0, 0, 0, 1],
            [0x81, 0xc9, 0, 1, 0, 0, 0, 1],
        ] {
            assert!(probe_rtcp(&rtcp) && !probe_rtp(&rtcp));
        }
        // RTCP saying 28 bytes in 8 is neither.
        let short = [0x81, 200, 0, 6, 0, 0, 0, 1];
        assert!(!probe_rtcp(&short) && !probe_rtp(&short));
    }

    #[test]
    fn srtcp_trailer_marks_encrypted() {
        let mut b = vec![0x80, 201, 0, 1, 0, 0, 0, 7];
        b.extend_from_slice(&[0x80, 0, 0, 1]); // E flag + index
        b.extend_from_slice(&[0x55; 10]); // auth tag
        let c = parse_rtcp(&b);
        assert!(c.encrypted);
        assert_eq!(
            c.packets,
            vec![RtcpPacket::ReceiverReport {
                ssrc: 7,
                blocks: vec![]
            }]
        );
    }
}
