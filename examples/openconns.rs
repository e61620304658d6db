//! Writes a capture of N WebSocket connections that are all open at its end: each does
//! its TCP handshake, its upgrade (101) and one small frame each way, and none closes.
//! To measure the memory per open connection (README, "Hostile input and bounded memory").
//!
//! `cargo run --example openconns -- 200000 open.pcap`

use etherparse::PacketBuilder;
use std::io::{BufWriter, Write};

/// One TCP segment of connection `i` (client 10.x.y.z:port, server 10.0.0.5:8080).
struct Conn {
    client: [u8; 4],
    port: u16,
    seq: [u32; 2],
}

impl Conn {
    fn segment(
        &mut self,
        out: &mut impl Write,
        t_us: u64,
        from_client: bool,
        flags: &str,
        data: &[u8],
    ) -> std::io::Result<()> {
        let (d, o) = if from_client { (0, 1) } else { (1, 0) };
        let (src, dst, sport, dport) = if from_client {
            (self.client, [10, 0, 0, 5], self.port, 8080)
        } else {
            ([10, 0, 0, 5], self.client, 8080, self.port)
        };
        let mut b = PacketBuilder::ipv4(src, dst, 64).tcp(sport, dport, self.seq[d], 64240);
        if flags.contains('S') {
            b = b.syn();
        }
        if flags.contains('A') {
            b = b.ack(self.seq[o]);
        }
        if flags.contains('P') {
            b = b.psh();
        }
        let mut packet = Vec::with_capacity(80 + data.len());
        b.write(&mut packet, data).map_err(std::io::Error::other)?;
        out.write_all(&((1_700_000_000 + t_us / 1_000_000) as u32).to_le_bytes())?;
        out.write_all(&((t_us % 1_000_000) as u32).to_le_bytes())?;
        out.write_all(&(packet.len() as u32).to_le_bytes())?;
        out.write_all(&(packet.len() as u32).to_le_bytes())?;
        out.write_all(&packet)?;
        let syn = u32::from(flags.contains('S'));
        self.seq[d] = self.seq[d].wrapping_add(data.len() as u32 + syn);
        Ok(())
    }
}

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let count: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(200_000);
    let path = args.next().unwrap_or_else(|| "open.pcap".into());
    let mut out = BufWriter::new(std::fs::File::create(&path)?);
    // pcap header: LE, µs, snaplen 65535, raw IP
    for x in [0xa1b2_c3d4u32, 0x0004_0002, 0, 0, 65535, 101] {
        out.write_all(&x.to_le_bytes())?;
    }
    let request = b"GET /ws HTTP/1.1\r\nHost: 10.0.0.5:8080\r\nUpgrade: websocket\r\n\
        Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
        Sec-WebSocket-Version: 13\r\n\r\n";
    let response = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
        Connection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";
    let client_frame = [0x81, 0x82, 1, 2, 3, 4, b'h' ^ 1, b'i' ^ 2];
    let server_frame = [0x81, 0x02, b'o', b'k'];
    for i in 0..count {
        let mut c = Conn {
            client: [10, 1 + (i >> 24) as u8, (i >> 16) as u8, (i >> 8) as u8],
            port: 1024 + (i & 0xff) as u16,
            seq: [(i as u32).wrapping_mul(2_654_435_761), 1000],
        };
        // 10 000 new connections per second of capture time, 100 µs between segments.
        let t = i * 100;
        c.segment(&mut out, t, true, "S", &[])?;
        c.segment(&mut out, t + 10, false, "SA", &[])?;
        c.segment(&mut out, t + 20, true, "A", &[])?;
        c.segment(&mut out, t + 30, true, "AP", request)?;
        c.segment(&mut out, t + 40, false, "AP", response)?;
        c.segment(&mut out, t + 50, true, "AP", &client_frame)?;
        c.segment(&mut out, t + 60, false, "AP", &server_frame)?;
    }
    out.flush()
}
