//! Writes a SYN flood capture: N SYNs from distinct sources to one WebSocket port, to
//! measure that memory stays bounded (README, "Bounded memory").
//!
//! `cargo run --release --example synflood -- 5000000 flood.pcap`

use etherparse::PacketBuilder;
use std::io::{BufWriter, Write};

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let count: u64 = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let path = args.next().unwrap_or_else(|| "flood.pcap".into());
    let mut out = BufWriter::new(std::fs::File::create(&path)?);
    // pcap header: LE, µs, snaplen 65535, Ethernet
    out.write_all(&0xa1b2_c3d4u32.to_le_bytes())?;
    out.write_all(&2u16.to_le_bytes())?;
    out.write_all(&4u16.to_le_bytes())?;
    out.write_all(&[0; 8])?;
    out.write_all(&65535u32.to_le_bytes())?;
    out.write_all(&1u32.to_le_bytes())?;
    let mut packet = Vec::with_capacity(64);
    for i in 0..count {
        let src = [10, 1 + (i >> 24) as u8, (i >> 16) as u8, (i >> 8) as u8];
        let builder = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
            .ipv4(src, [10, 0, 0, 5], 64)
            .tcp(
                1024 + (i % 60000) as u16,
                8443,
                (i as u32).wrapping_mul(2_654_435_761),
                64240,
            )
            .syn();
        packet.clear();
        builder
            .write(&mut packet, &[])
            .map_err(std::io::Error::other)?;
        // 100 000 SYNs per second of capture time
        let t_us = i * 10;
        out.write_all(&((1_700_000_000 + t_us / 1_000_000) as u32).to_le_bytes())?;
        out.write_all(&((t_us % 1_000_000) as u32).to_le_bytes())?;
        out.write_all(&(packet.len() as u32).to_le_bytes())?;
        out.write_all(&(packet.len() as u32).to_le_bytes())?;
        out.write_all(&packet)?;
    }
    out.flush()
}
