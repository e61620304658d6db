//! From link-layer bytes to a TCP segment: Ethernet (802.1Q/QinQ), Linux cooked SLL and
//! SLL2, raw IPv4/IPv6 and BSD loopback (NULL/LOOP), with etherparse for the IP and TCP
//! headers.
//!
//! Decoding is lax on purpose: a packet cut by the snaplen still yields its TCP header,
//! with the missing payload length recorded, because the flags (FIN, RST) are what a
//! teardown analysis needs most.

use super::reader::{LinkType, RawPacket};
use crate::time::Timestamp;
use etherparse::{EtherType, IpNumber, LaxNetSlice, LaxSlicedPacket, TcpSlice};
use std::net::{IpAddr, SocketAddr};

/// LINKTYPE_NULL: BSD loopback, 4-byte address family in host byte order.
pub const LINKTYPE_NULL: LinkType = LinkType(0);
/// LINKTYPE_ETHERNET.
pub const LINKTYPE_ETHERNET: LinkType = LinkType(1);
/// LINKTYPE_RAW (101), and the values some platforms write for it (12, 14).
pub const LINKTYPE_RAW: LinkType = LinkType(101);
/// LINKTYPE_LOOP: OpenBSD loopback, address family in network byte order.
pub const LINKTYPE_LOOP: LinkType = LinkType(108);
/// LINKTYPE_LINUX_SLL: Linux cooked capture v1 (16-byte header).
pub const LINKTYPE_LINUX_SLL: LinkType = LinkType(113);
/// LINKTYPE_IPV4.
pub const LINKTYPE_IPV4: LinkType = LinkType(228);
/// LINKTYPE_IPV6.
pub const LINKTYPE_IPV6: LinkType = LinkType(229);
/// LINKTYPE_LINUX_SLL2: Linux cooked capture v2 (20-byte header), written by `tcpdump -i any`.
pub const LINKTYPE_LINUX_SLL2: LinkType = LinkType(276);

/// TCP header flags.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct TcpFlags(pub u8);

impl TcpFlags {
    /// FIN: the sender has no more data (RFC 9293 §3.1).
    pub const FIN: u8 = 0x01;
    /// SYN: synchronise sequence numbers.
    pub const SYN: u8 = 0x02;
    /// RST: reset the connection.
    pub const RST: u8 = 0x04;
    /// ACK: the acknowledgment field is significant.
    pub const ACK: u8 = 0x10;

    /// True when all bits of `flag` are set.
    pub fn has(self, flag: u8) -> bool {
        self.0 & flag == flag
    }
}

/// A decoded TCP segment, borrowing its payload from the capture.
#[derive(Copy, Clone, Debug)]
pub struct Segment<'a> {
    /// Capture timestamp.
    pub ts: Timestamp,
    /// Sender address and port.
    pub src: SocketAddr,
    /// Receiver address and port.
    pub dst: SocketAddr,
    /// Sequence number of the first payload byte (or of the SYN/FIN).
    pub seq: u32,
    /// Acknowledgment number (meaningful when ACK is set).
    pub ack: u32,
    /// Header flags.
    pub flags: TcpFlags,
    /// Advertised receive window, unscaled.
    pub window: u16,
    /// The payload bytes present in the capture.
    pub payload: &'a [u8],
    /// Payload bytes that were on the wire but cut by the snaplen.
    pub missing: u32,
    /// Index of the capture file.
    pub file: u32,
    /// Packet number within that file.
    pub number: u64,
}

/// A UDP datagram, borrowing its payload from the capture.
#[derive(Copy, Clone, Debug)]
pub struct Datagram<'a> {
    /// Capture timestamp.
    pub ts: Timestamp,
    /// Sender address and port.
    pub src: SocketAddr,
    /// Receiver address and port.
    pub dst: SocketAddr,
    /// The payload bytes present in the capture.
    pub payload: &'a [u8],
    /// Payload bytes cut by the snaplen.
    pub missing: u32,
    /// Index of the capture file.
    pub file: u32,
    /// Packet number within that file.
    pub number: u64,
}

/// What a packet carries, as far as this tool is concerned.
#[derive(Copy, Clone, Debug)]
pub enum Packet<'a> {
    /// A TCP segment (signalling).
    Tcp(Segment<'a>),
    /// A UDP datagram (media, STUN, TURN, DTLS).
    Udp(Datagram<'a>),
}

impl Packet<'_> {
    /// The payload bytes present in the capture.
    pub fn payload(&self) -> &[u8] {
        match self {
            Packet::Tcp(s) => s.payload,
            Packet::Udp(d) => d.payload,
        }
    }

    /// Sender and receiver.
    pub fn endpoints(&self) -> (SocketAddr, SocketAddr) {
        match self {
            Packet::Tcp(s) => (s.src, s.dst),
            Packet::Udp(d) => (d.src, d.dst),
        }
    }
}

/// Why a packet produced nothing to analyse.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Skip {
    /// Not TCP or UDP over IP (ARP, ICMP, ...): nothing to report.
    Unhandled,
    /// An IP fragment; TCP over fragmented IP is not reassembled.
    IpFragment,
    /// A link type this tool does not decode.
    UnsupportedLink(LinkType),
    /// Headers are damaged or cut before the TCP header ends.
    Malformed(String),
}

/// Decodes one captured packet down to its TCP segment or UDP datagram.
///
/// The common case (Ethernet, Linux cooked or raw IP; IPv4 unfragmented or IPv6 without
/// extension headers; complete TCP or UDP headers) is read directly at fixed offsets;
/// everything else goes through etherparse's lax slicing. Both give the same result
/// wherever the direct path applies (see `direct_path_agrees_with_etherparse`).
pub fn decode<'a>(packet: &RawPacket<'a>) -> Result<Packet<'a>, Skip> {
    match direct(packet) {
        Some(p) => Ok(p),
        None => decode_sliced(packet),
    }
}

/// The direct path of [`decode`]: `None` for anything it does not handle (VLAN tags,
/// other link types, IP options it cannot vouch for, fragments, extension headers, cut or
/// damaged headers, protocols other than TCP and UDP), which etherparse then decodes or
/// reports. Without etherparse's general slicing structures, whose copies were a fifth of
/// a one-thread profile on recorded traffic (BENCHMARKS.md).
#[inline]
fn direct<'a>(packet: &RawPacket<'a>) -> Option<Packet<'a>> {
    let data = packet.data;
    let ip = match packet.link {
        LINKTYPE_ETHERNET => ip_after(data, 12, 14)?,
        LINKTYPE_LINUX_SLL => ip_after(data, 14, 16)?,
        LINKTYPE_LINUX_SLL2 => ip_after(data, 0, 20)?,
        LINKTYPE_RAW | LinkType(12) | LinkType(14) | LINKTYPE_IPV4 | LINKTYPE_IPV6 => data,
        _ => return None,
    };
    let (src_ip, dst_ip, proto, l4): (IpAddr, IpAddr, u8, &'a [u8]) = match ip.first()? >> 4 {
        4 => {
            let ihl = usize::from(ip.first()? & 0x0f) * 4;
            let total = usize::from(be16(ip, 2)?);
            // Cut, damaged, or a fragment (MF or an offset): etherparse's call.
            if ihl < 20 || total < ihl || total > ip.len() || be16(ip, 6)? & 0x3fff != 0 {
                return None;
            }
            let src: [u8; 4] = ip[12..16].try_into().ok()?;
            let dst: [u8; 4] = ip[16..20].try_into().ok()?;
            (src.into(), dst.into(), ip[9], &ip[ihl..total])
        }
        6 => {
            let len = usize::from(be16(ip, 4)?);
            if len == 0 || 40 + len > ip.len() {
                return None;
            }
            let src: [u8; 16] = ip[8..24].try_into().ok()?;
            let dst: [u8; 16] = ip[24..40].try_into().ok()?;
            (src.into(), dst.into(), ip[6], &ip[40..40 + len])
        }
        _ => return None,
    };
    match proto {
        17 if l4.len() >= 8 => Some(Packet::Udp(Datagram {
            ts: packet.ts,
            src: SocketAddr::new(src_ip, be16(l4, 0)?),
            dst: SocketAddr::new(dst_ip, be16(l4, 2)?),
            payload: &l4[8..],
            missing: 0,
            file: packet.file,
            number: packet.number,
        })),
        6 if l4.len() >= 20 => {
            let header = usize::from(l4[12] >> 4) * 4;
            if header < 20 || header > l4.len() {
                return None;
            }
            let be32 = |at: usize| u32::from_be_bytes([l4[at], l4[at + 1], l4[at + 2], l4[at + 3]]);
            Some(Packet::Tcp(Segment {
                ts: packet.ts,
                src: SocketAddr::new(src_ip, be16(l4, 0)?),
                dst: SocketAddr::new(dst_ip, be16(l4, 2)?),
                seq: be32(4),
                ack: be32(8),
                // The wire's flag bits are the ones `TcpFlags` uses.
                flags: TcpFlags(
                    l4[13] & (TcpFlags::FIN | TcpFlags::SYN | TcpFlags::RST | TcpFlags::ACK),
                ),
                window: be16(l4, 14)?,
                payload: &l4[header..],
                missing: 0,
                file: packet.file,
                number: packet.number,
            }))
        }
        _ => None,
    }
}

/// The IP packet after a link header whose EtherType is at `at`, when it is plain IPv4
/// or IPv6 and the version nibble agrees.
#[inline]
fn ip_after(data: &[u8], at: usize, ip_at: usize) -> Option<&[u8]> {
    let ip = data.get(ip_at..)?;
    match (be16(data, at)?, ip.first()? >> 4) {
        (0x0800, 4) | (0x86DD, 6) => Some(ip),
        _ => None,
    }
}

/// [`decode`] through etherparse's lax slicing: every link type and case.
fn decode_sliced<'a>(packet: &RawPacket<'a>) -> Result<Packet<'a>, Skip> {
    let data = packet.data;
    let sliced = match packet.link {
        LINKTYPE_ETHERNET => {
            LaxSlicedPacket::from_ethernet(data).map_err(|e| Skip::Malformed(e.to_string()))?
        }
        LINKTYPE_RAW | LinkType(12) | LinkType(14) | LINKTYPE_IPV4 | LINKTYPE_IPV6 => {
            from_ip(data)?
        }
        LINKTYPE_NULL | LINKTYPE_LOOP => {
            // The 4-byte family is host order (NULL) or network order (LOOP); the IP
            // version nibble tells v4 from v6 either way.
            from_ip(
                data.get(4..)
                    .ok_or_else(|| Skip::Malformed("loopback header cut".into()))?,
            )?
        }
        LINKTYPE_LINUX_SLL => {
            let proto = be16(data, 14).ok_or_else(|| Skip::Malformed("SLL header cut".into()))?;
            from_ether_type(proto, &data[16..])?
        }
        LINKTYPE_LINUX_SLL2 => {
            let proto = be16(data, 0).ok_or_else(|| Skip::Malformed("SLL2 header cut".into()))?;
            if data.len() < 20 {
                return Err(Skip::Malformed("SLL2 header cut".into()));
            }
            from_ether_type(proto, &data[20..])?
        }
        other => return Err(Skip::UnsupportedLink(other)),
    };
    let net = sliced.net.as_ref().ok_or(Skip::Unhandled)?;
    let (src_ip, dst_ip, ip_payload) = match net {
        LaxNetSlice::Ipv4(v4) => (
            IpAddr::V4(v4.header().source_addr()),
            IpAddr::V4(v4.header().destination_addr()),
            v4.payload(),
        ),
        LaxNetSlice::Ipv6(v6) => (
            IpAddr::V6(v6.header().source_addr()),
            IpAddr::V6(v6.header().destination_addr()),
            v6.payload(),
        ),
        LaxNetSlice::Arp(_) => return Err(Skip::Unhandled),
    };
    if ip_payload.fragmented {
        return Err(Skip::IpFragment);
    }
    // Bytes the snaplen removed: what the wire had beyond what the file kept. An IP length
    // running past a frame the snaplen did not cut is a damaged (truncated) packet.
    let missing = if ip_payload.incomplete {
        let cut = packet.orig_len.saturating_sub(packet.data.len() as u32);
        if cut == 0 {
            return Err(Skip::Malformed(
                "IP length goes beyond the end of the frame (truncated IP packet)".into(),
            ));
        }
        cut
    } else {
        0
    };
    if ip_payload.ip_number == IpNumber::UDP {
        let udp = ip_payload.payload;
        if udp.len() < 8 {
            return Err(Skip::Malformed("UDP header cut".into()));
        }
        return Ok(Packet::Udp(Datagram {
            ts: packet.ts,
            src: SocketAddr::new(src_ip, u16::from_be_bytes([udp[0], udp[1]])),
            dst: SocketAddr::new(dst_ip, u16::from_be_bytes([udp[2], udp[3]])),
            payload: &udp[8..],
            missing,
            file: packet.file,
            number: packet.number,
        }));
    }
    if ip_payload.ip_number != IpNumber::TCP {
        return Err(Skip::Unhandled);
    }
    let tcp = TcpSlice::from_slice(ip_payload.payload)
        .map_err(|e| Skip::Malformed(format!("TCP header: {e}")))?;
    let payload = tcp.payload();
    let mut flags = 0u8;
    for (set, bit) in [
        (tcp.fin(), TcpFlags::FIN),
        (tcp.syn(), TcpFlags::SYN),
        (tcp.rst(), TcpFlags::RST),
        (tcp.ack(), TcpFlags::ACK),
    ] {
        if set {
            flags |= bit;
        }
    }
    Ok(Packet::Tcp(Segment {
        ts: packet.ts,
        src: SocketAddr::new(src_ip, tcp.source_port()),
        dst: SocketAddr::new(dst_ip, tcp.destination_port()),
        seq: tcp.sequence_number(),
        ack: tcp.acknowledgment_number(),
        flags: TcpFlags(flags),
        window: tcp.window_size(),
        payload,
        missing,
        file: packet.file,
        number: packet.number,
    }))
}

fn be16(data: &[u8], at: usize) -> Option<u16> {
    data.get(at..at + 2)
        .map(|b| u16::from_be_bytes([b[0], b[1]]))
}

fn from_ip(data: &[u8]) -> Result<LaxSlicedPacket<'_>, Skip> {
    LaxSlicedPacket::from_ip(data).map_err(|e| Skip::Malformed(format!("IP header: {e}")))
}

fn from_ether_type(proto: u16, data: &[u8]) -> Result<LaxSlicedPacket<'_>, Skip> {
    Ok(LaxSlicedPacket::from_ether_type(EtherType(proto), data))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// IPv4 + TCP (SYN, 10.0.0.1:40000 -> 10.0.0.2:8080), 40 bytes.
    const IPV4_SYN: [u8; 40] = [
        0x45, 0x00, 0x00, 0x28, 0x00, 0x01, 0x40, 0x00, 0x40, 0x06, 0x00, 0x00, 10, 0, 0, 1, 10, 0,
        0, 2, //
        0x9c, 0x40, 0x1f, 0x90, 0x00, 0x00, 0x03, 0xe8, 0x00, 0x00, 0x00, 0x00, 0x50, 0x02, 0xff,
        0xff, 0x00, 0x00, 0x00, 0x00,
    ];

    fn raw(link: LinkType, data: &[u8]) -> RawPacket<'_> {
        RawPacket {
            ts: Timestamp(0),
            link,
            data,
            orig_len: data.len() as u32,
            file: 0,
            number: 1,
        }
    }

    fn check_syn(p: Packet<'_>) {
        let Packet::Tcp(seg) = p else {
            panic!("not TCP")
        };
        assert_eq!(seg.src, "10.0.0.1:40000".parse().unwrap());
        assert_eq!(seg.dst, "10.0.0.2:8080".parse().unwrap());
        assert_eq!(seg.seq, 1000);
        assert!(seg.flags.has(TcpFlags::SYN));
        assert!(!seg.flags.has(TcpFlags::ACK));
    }

    #[test]
    fn every_link_type_reaches_the_same_segment() {
        let mut eth = vec![0u8; 12];
        eth.extend_from_slice(&[0x81, 0x00, 0x00, 0x05, 0x88, 0xa8, 0x00, 0x06, 0x08, 0x00]); // QinQ-ish: 802.1Q then 802.1ad
        eth.extend_from_slice(&IPV4_SYN);
        let mut plain_eth = vec![0u8; 12];
        plain_eth.extend_from_slice(&[0x08, 0x00]);
        plain_eth.extend_from_slice(&IPV4_SYN);
        let mut sll = vec![0u8; 14];
        sll.extend_from_slice(&[0x08, 0x00]);
        sll.extend_from_slice(&IPV4_SYN);
        let mut sll2 = vec![0x08, 0x00];
        sll2.extend_from_slice(&[0u8; 18]);
        sll2.extend_from_slice(&IPV4_SYN);
        let mut null = 2u32.to_le_bytes().to_vec();
        null.extend_from_slice(&IPV4_SYN);
        for (link, bytes) in [
            (LINKTYPE_ETHERNET, &plain_eth),
            (LINKTYPE_ETHERNET, &eth),
            (LINKTYPE_LINUX_SLL, &sll),
            (LINKTYPE_LINUX_SLL2, &sll2),
            (LINKTYPE_NULL, &null),
            (LINKTYPE_RAW, &IPV4_SYN.to_vec()),
        ] {
            check_syn(decode(&raw(link, bytes)).unwrap_or_else(|e| panic!("{link:?}: {e:?}")));
        }
    }

    #[test]
    fn unknown_link_type_is_reported_not_guessed() {
        assert_eq!(
            decode(&raw(LinkType(147), &IPV4_SYN)).unwrap_err(),
            Skip::UnsupportedLink(LinkType(147))
        );
    }

    #[test]
    fn snaplen_cut_keeps_flags_and_counts_missing_bytes() {
        let mut pkt = IPV4_SYN;
        pkt[3] = 0x28 + 100; // total length says 100 payload bytes follow
        let mut r = raw(LINKTYPE_RAW, &pkt);
        r.orig_len = 140;
        let Packet::Tcp(seg) = decode(&r).unwrap() else {
            panic!()
        };
        assert!(seg.flags.has(TcpFlags::SYN));
        assert_eq!(seg.payload.len(), 0);
        assert_eq!(seg.missing, 100);
    }

    /// Every cut and many one-byte changes of Ethernet, SLL, SLL2 and raw packets (IPv4
    /// with options and Ethernet padding, IPv6, TCP with options and payload, UDP, a
    /// fragment, a VLAN tag): the direct path gives what etherparse gives, or defers to it.
    #[test]
    fn direct_path_agrees_with_etherparse() {
        let mut tcp4 = IPV4_SYN.to_vec();
        tcp4[0] = 0x46; // IHL 6: one option word
        tcp4.splice(20..20, [1, 1, 1, 0]);
        tcp4[32] = 0x60; // data offset 6: one option word
        tcp4.splice(40..40, [1, 1, 1, 1]);
        tcp4.extend_from_slice(b"payload");
        tcp4[3] = tcp4.len() as u8;
        tcp4[33] = 0x19; // FIN PSH ACK
        let mut udp4 = IPV4_SYN[..20].to_vec();
        udp4[9] = 17;
        udp4.extend_from_slice(&[0x0d, 0x96, 0x13, 0x88, 0, 12, 0, 0, 0x80, 0, 0, 1]);
        udp4[3] = udp4.len() as u8;
        let mut frag = udp4.clone();
        frag[6] = 0x20; // more fragments
        let mut v6 = vec![0x60, 0, 0, 0, 0, 12, 17, 64];
        v6.extend_from_slice(&[0xfd; 16]);
        v6.extend_from_slice(&[0xfe; 16]);
        v6.extend_from_slice(&udp4[20..]);
        let mut tcp6 = v6[..40].to_vec();
        tcp6[5] = 20;
        tcp6[6] = 6;
        tcp6.extend_from_slice(&IPV4_SYN[20..]);
        let mut packets = Vec::new();
        for ip in [&tcp4, &udp4, &frag, &v6, &tcp6] {
            let ether: &[u8] = if ip[0] >> 4 == 4 {
                &[8, 0]
            } else {
                &[0x86, 0xdd]
            };
            let mut eth = vec![0u8; 12];
            eth.extend_from_slice(ether);
            eth.extend_from_slice(ip);
            let mut padded = eth.clone();
            padded.extend_from_slice(&[0; 20]); // Ethernet padding after the IP packet
            let mut vlan = vec![0u8; 12];
            vlan.extend_from_slice(&[0x81, 0, 0, 5]);
            vlan.extend_from_slice(ether);
            vlan.extend_from_slice(ip);
            let mut sll = vec![0u8; 14];
            sll.extend_from_slice(ether);
            sll.extend_from_slice(ip);
            let mut sll2 = ether.to_vec();
            sll2.extend_from_slice(&[0; 18]);
            sll2.extend_from_slice(ip);
            packets.push((LINKTYPE_ETHERNET, eth));
            packets.push((LINKTYPE_ETHERNET, padded));
            packets.push((LINKTYPE_ETHERNET, vlan));
            packets.push((LINKTYPE_LINUX_SLL, sll));
            packets.push((LINKTYPE_LINUX_SLL2, sll2));
            packets.push((LINKTYPE_RAW, ip.clone()));
        }
        let mut direct_hits = 0;
        for (link, bytes) in &packets {
            let mut variants: Vec<Vec<u8>> =
                (0..=bytes.len()).map(|n| bytes[..n].to_vec()).collect();
            for at in 0..bytes.len().min(80) {
                for v in [0x00, 0x01, 0x06, 0x11, 0x20, 0x45, 0x60, 0xff] {
                    let mut b = bytes.clone();
                    b[at] = v;
                    variants.push(b);
                }
            }
            for b in &variants {
                let mut r = raw(*link, b);
                r.orig_len = bytes.len() as u32 + 7;
                let direct = direct(&r);
                direct_hits += usize::from(direct.is_some());
                assert_eq!(
                    format!("{:?}", decode(&r)),
                    format!("{:?}", decode_sliced(&r)),
                    "{link:?} {b:02x?}"
                );
            }
        }
        assert!(
            direct_hits > 1000,
            "the direct path took only {direct_hits} packets"
        );
    }

    #[test]
    fn ip_length_beyond_an_uncut_frame_is_malformed() {
        let mut pkt = IPV4_SYN;
        pkt[3] = 0x28 + 100; // total length says 100 payload bytes follow; none do
        let r = raw(LINKTYPE_RAW, &pkt); // orig_len = caplen: the snaplen cut nothing
        let Err(Skip::Malformed(why)) = decode(&r) else {
            panic!("decoded")
        };
        assert!(why.contains("truncated IP packet"), "{why}");
    }

    #[test]
    fn cut_tcp_header_is_malformed() {
        assert!(matches!(
            decode(&raw(LINKTYPE_RAW, &IPV4_SYN[..30])),
            Err(Skip::Malformed(_))
        ));
    }
}
