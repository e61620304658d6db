//! The output: a classic libpcap file (little-endian, microsecond timestamps, Ethernet),
//! and the Ethernet/IP/TCP/UDP packets, built with etherparse so checksums are right.

use etherparse::{IpHeaders, PacketBuilder, PacketBuilderStep, TcpHeader};
use std::io::{self, Write};
use std::net::{IpAddr, SocketAddr};

/// Capture time zero: 2024-05-14 09:00:00 UTC, in microseconds since the epoch.
pub(crate) const EPOCH_US: u64 = 1_715_677_200_000_000;
/// Snapshot length declared in the file header (no packet is cut).
const SNAPLEN: u32 = 262_144;

/// The Ethernet and IP layers of a packet from `src` to `dst` (both IPv4 or both IPv6).
fn ip_layer(
    link: &Link,
    src: SocketAddr,
    dst: SocketAddr,
) -> io::Result<PacketBuilderStep<IpHeaders>> {
    let b = PacketBuilder::ethernet2(link.src_mac, link.dst_mac);
    match (src.ip(), dst.ip()) {
        (IpAddr::V4(s), IpAddr::V4(d)) => Ok(b.ipv4(s.octets(), d.octets(), link.ttl)),
        (IpAddr::V6(s), IpAddr::V6(d)) => Ok(b.ipv6(s.octets(), d.octets(), link.ttl)),
        _ => Err(io::Error::other("mixed IP versions")),
    }
}

/// Writes pcap records in the order given (the caller keeps them in time order).
pub(crate) struct PcapWriter<W: Write> {
    out: W,
    frame: Vec<u8>,
    /// Records written.
    pub(crate) packets: u64,
    /// Bytes written, file header included.
    pub(crate) bytes: u64,
    /// Time of the last record, µs since capture start.
    pub(crate) last_t: u64,
}

impl<W: Write> PcapWriter<W> {
    /// Writes the file header.
    pub(crate) fn new(mut out: W) -> io::Result<PcapWriter<W>> {
        let mut h = Vec::with_capacity(24);
        h.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
        h.extend_from_slice(&2u16.to_le_bytes());
        h.extend_from_slice(&4u16.to_le_bytes());
        h.extend_from_slice(&0i32.to_le_bytes()); // thiszone
        h.extend_from_slice(&0u32.to_le_bytes()); // sigfigs
        h.extend_from_slice(&SNAPLEN.to_le_bytes());
        h.extend_from_slice(&1u32.to_le_bytes()); // LINKTYPE_ETHERNET
        out.write_all(&h)?;
        Ok(PcapWriter {
            out,
            frame: Vec::with_capacity(2048),
            packets: 0,
            bytes: 24,
            last_t: 0,
        })
    }

    fn record(&mut self, t: u64) -> io::Result<()> {
        debug_assert!(t >= self.last_t, "records out of time order");
        self.last_t = t;
        let abs = EPOCH_US + t;
        let len = self.frame.len() as u32;
        let mut h = [0u8; 16];
        h[0..4].copy_from_slice(&((abs / 1_000_000) as u32).to_le_bytes());
        h[4..8].copy_from_slice(&((abs % 1_000_000) as u32).to_le_bytes());
        h[8..12].copy_from_slice(&len.to_le_bytes());
        h[12..16].copy_from_slice(&len.to_le_bytes());
        self.out.write_all(&h)?;
        self.out.write_all(&self.frame)?;
        self.packets += 1;
        self.bytes += 16 + u64::from(len);
        Ok(())
    }

    /// Writes one TCP segment.
    pub(crate) fn tcp(
        &mut self,
        t: u64,
        link: &Link,
        src: SocketAddr,
        dst: SocketAddr,
        header: TcpHeader,
        payload: &[u8],
    ) -> io::Result<()> {
        let ip = ip_layer(link, src, dst)?;
        self.frame.clear();
        ip.tcp_header(header)
            .write(&mut self.frame, payload)
            .map_err(io::Error::other)?;
        self.record(t)
    }

    /// Writes one UDP datagram.
    pub(crate) fn udp(
        &mut self,
        t: u64,
        link: &Link,
        src: SocketAddr,
        dst: SocketAddr,
        payload: &[u8],
    ) -> io::Result<()> {
        let ip = ip_layer(link, src, dst)?;
        self.frame.clear();
        ip.udp(src.port(), dst.port())
            .write(&mut self.frame, payload)
            .map_err(io::Error::other)?;
        self.record(t)
    }

    /// Flushes and returns the writer.
    pub(crate) fn finish(mut self) -> io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }
}

/// Link-layer facts of one direction as the capture (on the server host) sees it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Link {
    pub(crate) src_mac: [u8; 6],
    pub(crate) dst_mac: [u8; 6],
    pub(crate) ttl: u8,
}

/// The default gateway that every client packet comes through.
pub(crate) const GATEWAY_MAC: [u8; 6] = [0x02, 0x42, 0x0a, 0x00, 0x00, 0x01];

/// The MAC address of a server interface (derived from its address).
pub(crate) fn server_mac(ip: IpAddr) -> [u8; 6] {
    let last = match ip {
        IpAddr::V4(v) => v.octets()[3],
        IpAddr::V6(v) => v.octets()[15],
    };
    [0x02, 0x42, 0x0a, 0x00, 0x00, last]
}
