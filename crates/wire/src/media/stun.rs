//! STUN and TURN messages (RFC 8489, RFC 8656): a checked view and the facts we keep.

use super::demux::MAGIC_COOKIE;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// STUN header length (RFC 8489 §5).
pub const HEADER_LEN: usize = 20;

/// Message class (RFC 8489 §5).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum Class {
    /// Request.
    Request,
    /// Indication.
    Indication,
    /// Success response.
    Success,
    /// Error response.
    Error,
}

/// A method number (open: unknown methods are values).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Method(pub u16);

impl Method {
    /// Binding (RFC 8489).
    pub const BINDING: Method = Method(0x001);
    /// Allocate (RFC 8656).
    pub const ALLOCATE: Method = Method(0x003);
    /// Refresh (RFC 8656).
    pub const REFRESH: Method = Method(0x004);
    /// Send indication (RFC 8656).
    pub const SEND: Method = Method(0x006);
    /// Data indication (RFC 8656).
    pub const DATA: Method = Method(0x007);
    /// CreatePermission (RFC 8656).
    pub const CREATE_PERMISSION: Method = Method(0x008);
    /// ChannelBind (RFC 8656).
    pub const CHANNEL_BIND: Method = Method(0x009);
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Method::BINDING => f.write_str("Binding"),
            Method::ALLOCATE => f.write_str("Allocate"),
            Method::REFRESH => f.write_str("Refresh"),
            Method::SEND => f.write_str("Send"),
            Method::DATA => f.write_str("Data"),
            Method::CREATE_PERMISSION => f.write_str("CreatePermission"),
            Method::CHANNEL_BIND => f.write_str("ChannelBind"),
            Method(m) => write!(f, "method 0x{m:03x}"),
        }
    }
}

/// Attribute types used here (RFC 8489 §18.3, RFC 8656 §18, RFC 8445 §16.1).
mod attr {
    pub const USERNAME: u16 = 0x0006;
    pub const ERROR_CODE: u16 = 0x0009;
    pub const CHANNEL_NUMBER: u16 = 0x000C;
    pub const LIFETIME: u16 = 0x000D;
    pub const XOR_PEER_ADDRESS: u16 = 0x0012;
    pub const DATA: u16 = 0x0013;
    pub const XOR_RELAYED_ADDRESS: u16 = 0x0016;
    pub const XOR_MAPPED_ADDRESS: u16 = 0x0020;
    pub const PRIORITY: u16 = 0x0024;
    pub const USE_CANDIDATE: u16 = 0x0025;
    pub const SOFTWARE: u16 = 0x8022;
    pub const ICE_CONTROLLED: u16 = 0x8029;
    pub const ICE_CONTROLLING: u16 = 0x802A;
}

/// A parsed STUN message: header fields and the attributes that matter for teardown.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Message<'a> {
    /// Class.
    pub class: Option<Class>,
    /// Method.
    pub method: u16,
    /// Transaction id (96 bits).
    pub transaction_id: [u8; 12],
    /// USERNAME (for ICE: `remote-ufrag:local-ufrag`).
    pub username: Option<String>,
    /// ERROR-CODE: code and reason.
    pub error: Option<(u16, String)>,
    /// XOR-MAPPED-ADDRESS.
    pub mapped: Option<SocketAddr>,
    /// XOR-RELAYED-ADDRESS.
    pub relayed: Option<SocketAddr>,
    /// XOR-PEER-ADDRESS.
    pub peer: Option<SocketAddr>,
    /// CHANNEL-NUMBER.
    pub channel: Option<u16>,
    /// LIFETIME in seconds.
    pub lifetime: Option<u32>,
    /// PRIORITY.
    pub priority: Option<u32>,
    /// USE-CANDIDATE present.
    pub use_candidate: bool,
    /// ICE-CONTROLLING present.
    pub ice_controlling: bool,
    /// ICE-CONTROLLED present.
    pub ice_controlled: bool,
    /// SOFTWARE.
    pub software: Option<String>,
    /// DATA (Send and Data indications carry the relayed datagram here).
    pub data: Option<&'a [u8]>,
}

/// Why bytes are not a STUN message.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Error {
    /// Shorter than its header or its declared length.
    Truncated,
    /// Not STUN: bad leading bits, cookie or length.
    Invalid,
}

fn xor_address(v: &[u8], tid: &[u8; 12]) -> Option<SocketAddr> {
    let family = *v.get(1)?;
    let port = u16::from_be_bytes([*v.get(2)?, *v.get(3)?]) ^ (MAGIC_COOKIE >> 16) as u16;
    let cookie = MAGIC_COOKIE.to_be_bytes();
    match family {
        0x01 => {
            let a: [u8; 4] = v.get(4..8)?.try_into().ok()?;
            let ip = Ipv4Addr::from(std::array::from_fn::<u8, 4, _>(|i| a[i] ^ cookie[i]));
            Some(SocketAddr::new(IpAddr::V4(ip), port))
        }
        0x02 => {
            let a: [u8; 16] = v.get(4..20)?.try_into().ok()?;
            let key: [u8; 16] = std::array::from_fn(|i| if i < 4 { cookie[i] } else { tid[i - 4] });
            let ip = Ipv6Addr::from(std::array::from_fn::<u8, 16, _>(|i| a[i] ^ key[i]));
            Some(SocketAddr::new(IpAddr::V6(ip), port))
        }
        _ => None,
    }
}

/// True when `b` is a STUN message: first byte 0-3 (RFC 7983 §7), confirmed by the magic
/// cookie and a length in 4-byte words that fits (RFC 8489 §5-6).
pub fn probe(b: &[u8]) -> bool {
    matches!(b.first(), Some(0..=3))
        && b.len() >= HEADER_LEN
        && b[4..8] == MAGIC_COOKIE.to_be_bytes()
        && be16(b, 2).is_some_and(|len| len % 4 == 0 && HEADER_LEN + len <= b.len())
}

/// True when `b` is a TURN ChannelData message: first byte 64-79 (RFC 7983 §7), and its
/// length, padded to 4 at most over UDP, is the rest (RFC 8656 §12.4).
pub fn probe_channel_data(b: &[u8]) -> bool {
    matches!(b.first(), Some(64..=79))
        && be16(b, 2).is_some_and(|len| (4 + len..4 + len + 4).contains(&b.len()))
}

/// The big-endian `u16` at `at`, when it is there.
fn be16(b: &[u8], at: usize) -> Option<usize> {
    b.get(at..at + 2)
        .map(|x| u16::from_be_bytes([x[0], x[1]]) as usize)
}

/// Parses a STUN message. Every length is checked before use: an attribute that runs past
/// the message ends the attribute walk (the header fields stay valid).
pub fn parse(b: &[u8]) -> Result<Message<'_>, Error> {
    if b.len() < HEADER_LEN {
        return Err(Error::Truncated);
    }
    let msg_type = u16::from_be_bytes([b[0], b[1]]);
    let len = u16::from_be_bytes([b[2], b[3]]) as usize;
    if msg_type & 0xC000 != 0 || b[4..8] != MAGIC_COOKIE.to_be_bytes() || len % 4 != 0 {
        return Err(Error::Invalid);
    }
    if b.len() < HEADER_LEN + len {
        return Err(Error::Truncated);
    }
    // RFC 8489 §5: the class bits are interleaved with the method bits.
    let class = match ((msg_type >> 4) & 1) | ((msg_type >> 7) & 2) {
        0 => Class::Request,
        1 => Class::Indication,
        2 => Class::Success,
        _ => Class::Error,
    };
    let method = (msg_type & 0x000F) | ((msg_type >> 1) & 0x0070) | ((msg_type >> 2) & 0x0F80);
    let mut m = Message {
        class: Some(class),
        method,
        ..Message::default()
    };
    m.transaction_id.copy_from_slice(&b[8..20]);
    let mut rest = &b[HEADER_LEN..HEADER_LEN + len];
    while rest.len() >= 4 {
        let t = u16::from_be_bytes([rest[0], rest[1]]);
        let l = u16::from_be_bytes([rest[2], rest[3]]) as usize;
        let Some(v) = rest.get(4..4 + l) else { break };
        let text = || String::from_utf8_lossy(v).into_owned();
        match t {
            attr::USERNAME => m.username = Some(text()),
            attr::ERROR_CODE if l >= 4 => {
                let code = (v[2] & 0x07) as u16 * 100 + v[3] as u16;
                m.error = Some((code, String::from_utf8_lossy(&v[4..]).into_owned()));
            }
            attr::CHANNEL_NUMBER if l >= 2 => m.channel = Some(u16::from_be_bytes([v[0], v[1]])),
            attr::LIFETIME if l >= 4 => {
                m.lifetime = Some(u32::from_be_bytes([v[0], v[1], v[2], v[3]]))
            }
            attr::XOR_PEER_ADDRESS => m.peer = m.peer.or(xor_address(v, &m.transaction_id)),
            attr::DATA => m.data = Some(v),
            attr::XOR_RELAYED_ADDRESS => {
                m.relayed = m.relayed.or(xor_address(v, &m.transaction_id))
            }
            attr::XOR_MAPPED_ADDRESS => m.mapped = xor_address(v, &m.transaction_id),
            attr::PRIORITY if l >= 4 => {
                m.priority = Some(u32::from_be_bytes([v[0], v[1], v[2], v[3]]))
            }
            attr::USE_CANDIDATE => m.use_candidate = true,
            attr::SOFTWARE => m.software = Some(text()),
            attr::ICE_CONTROLLED => m.ice_controlled = true,
            attr::ICE_CONTROLLING => m.ice_controlling = true,
            _ => {}
        }
        let padded = (4 + l).div_ceil(4) * 4;
        rest = rest.get(padded..).unwrap_or(&[]);
    }
    Ok(m)
}

/// A TURN ChannelData message (RFC 8656 §12.4): channel number and the relayed datagram.
pub fn parse_channel_data(b: &[u8]) -> Option<(u16, &[u8])> {
    let channel = u16::from_be_bytes([*b.first()?, *b.get(1)?]);
    let len = u16::from_be_bytes([*b.get(2)?, *b.get(3)?]) as usize;
    (0x4000..=0x4FFF).contains(&channel).then_some(())?;
    Some((channel, b.get(4..4 + len)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 5769 §2.2: sample IPv4 Binding success response.
    const RESPONSE_V4: [u8; 80] = [
        0x01, 0x01, 0x00, 0x3c, 0x21, 0x12, 0xa4, 0x42, 0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6,
        0x86, 0xfa, 0x87, 0xdf, 0xae, 0x80, 0x22, 0x00, 0x0b, 0x74, 0x65, 0x73, 0x74, 0x20, 0x76,
        0x65, 0x63, 0x74, 0x6f, 0x72, 0x20, 0x00, 0x20, 0x00, 0x08, 0x00, 0x01, 0xa1, 0x47, 0xe1,
        0x12, 0xa6, 0x43, 0x00, 0x08, 0x00, 0x14, 0x2b, 0x91, 0xf5, 0x99, 0xfd, 0x9e, 0x90, 0xc3,
        0x8c, 0x74, 0x89, 0xf9, 0x2a, 0xf9, 0xba, 0x53, 0xf0, 0x6b, 0xe7, 0xd7, 0x80, 0x28, 0x00,
        0x04, 0xc0, 0x7d, 0x4c, 0x96,
    ];

    /// RFC 5769 §2.1: sample request (USERNAME "evtj:h6vY", PRIORITY, ICE-CONTROLLED).
    const REQUEST: [u8; 108] = [
        0x00, 0x01, 0x00, 0x58, 0x21, 0x12, 0xa4, 0x42, 0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6,
        0x86, 0xfa, 0x87, 0xdf, 0xae, 0x80, 0x22, 0x00, 0x10, 0x53, 0x54, 0x55, 0x4e, 0x20, 0x74,
        0x65, 0x73, 0x74, 0x20, 0x63, 0x6c, 0x69, 0x65, 0x6e, 0x74, 0x00, 0x24, 0x00, 0x04, 0x6e,
        0x00, 0x01, 0xff, 0x80, 0x29, 0x00, 0x08, 0x93, 0x2f, 0xf9, 0xb1, 0x51, 0x26, 0x3b, 0x36,
        0x00, 0x06, 0x00, 0x09, 0x65, 0x76, 0x74, 0x6a, 0x3a, 0x68, 0x36, 0x76, 0x59, 0x20, 0x20,
        0x20, 0x00, 0x08, 0x00, 0x14, 0x9a, 0xea, 0xa7, 0x0c, 0xbf, 0xd8, 0xcb, 0x56, 0x78, 0x1e,
        0xf2, 0xb5, 0xb2, 0xd3, 0xf2, 0x49, 0xc1, 0xb5, 0x71, 0xa2, 0x80, 0x28, 0x00, 0x04, 0xe5,
        0x7a, 0x3b, 0xcf,
    ];

    #[test]
    fn rfc5769_response() {
        let m = parse(&RESPONSE_V4).unwrap();
        assert_eq!(m.class, Some(Class::Success));
        assert_eq!(Method(m.method), Method::BINDING);
        assert_eq!(m.mapped, Some("192.0.2.1:32853".parse().unwrap()));
        assert_eq!(m.software.as_deref(), Some("test vector"));
    }

    #[test]
    fn rfc5769_request() {
        let m = parse(&REQUEST).unwrap();
        assert_eq!(m.class, Some(Class::Request));
        assert_eq!(m.username.as_deref(), Some("evtj:h6vY"));
        assert_eq!(m.priority, Some(0x6e0001ff));
        assert!(m.ice_controlled && !m.ice_controlling);
    }

    #[test]
    fn error_response_and_hostile_attribute_length() {
        // Allocate error 486, then an attribute claiming 0xffff bytes.
        let mut b = vec![0x01, 0x13, 0x00, 0x14, 0x21, 0x12, 0xa4, 0x42];
        b.extend_from_slice(&[9; 12]);
        b.extend_from_slice(&[0x00, 0x09, 0x00, 0x0c, 0, 0, 4, 86]);
        b.extend_from_slice(b"Quota...");
        b.extend_from_slice(&[0x00, 0x06, 0xff, 0xff]);
        let m = parse(&b).unwrap();
        assert_eq!(m.class, Some(Class::Error));
        assert_eq!(Method(m.method), Method::ALLOCATE);
        assert_eq!(m.error.as_ref().map(|e| e.0), Some(486));
        assert_eq!(m.username, None);
        assert_eq!(parse(&b[..30]), Err(Error::Truncated));
    }

    #[test]
    fn probes() {
        let mut stun = vec![0x00, 0x01, 0x00, 0x00];
        stun.extend_from_slice(&MAGIC_COOKIE.to_be_bytes());
        stun.extend_from_slice(&[7; 12]);
        assert!(probe(&stun) && probe(&REQUEST) && probe(&RESPONSE_V4));
        assert!(!probe(&[0x00, 0x01, 0, 0, 1, 2, 3, 4]));
        assert!(!probe(&[]));
        assert!(probe_channel_data(&[0x40, 0x00, 0x00, 0x04, 1, 2, 3, 4]));
        assert!(probe_channel_data(&[0x40, 0x00, 0x00, 0x03, 1, 2, 3, 0]));
        // A length that leaves more than its padding is not ChannelData.
        assert!(!probe_channel_data(&[
            0x40, 0, 0, 4, 1, 2, 3, 4, 0, 0, 0, 0
        ]));
    }

    #[test]
    fn channel_data() {
        assert_eq!(
            parse_channel_data(&[0x40, 0x01, 0x00, 0x02, 7, 8, 0, 0]),
            Some((0x4001, &[7u8, 8][..]))
        );
        assert_eq!(parse_channel_data(&[0x40, 0x01, 0x00, 0x09, 7, 8]), None);
    }
}
