//! Media packets of a WebRTC call: STUN connectivity checks (RFC 8489/8445), RTP
//! (RFC 3550, Opus) and RTCP sender reports, SDES and BYE, multiplexed on one UDP flow
//! (rtcp-mux), as a browser and an ICE-lite media server send them.

use super::rng::Rng;
use super::Codec;
use std::net::SocketAddr;

/// STUN magic cookie.
const MAGIC: u32 = 0x2112_A442;
/// Seconds from 1900 (NTP) to 1970 (Unix).
const NTP_UNIX_OFFSET: u64 = 2_208_988_800;

/// CRC-32 (IEEE 802.3, reflected), for the STUN FINGERPRINT.
fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = (crc >> 1) ^ (0xEDB8_8320 & (crc & 1).wrapping_neg());
        }
    }
    !crc
}

fn attr(out: &mut Vec<u8>, kind: u16, value: &[u8]) {
    out.extend_from_slice(&kind.to_be_bytes());
    out.extend_from_slice(&(value.len() as u16).to_be_bytes());
    out.extend_from_slice(value);
    while out.len() % 4 != 0 {
        out.push(0);
    }
}

/// Sets the header length to cover everything after the header plus `extra` bytes.
fn set_len(out: &mut [u8], extra: usize) {
    let len = (out.len() - 20 + extra) as u16;
    out[2..4].copy_from_slice(&len.to_be_bytes());
}

/// Ends a STUN message with MESSAGE-INTEGRITY (random: the key is not ours to know)
/// and a real FINGERPRINT.
fn finish(rng: &mut Rng, mut out: Vec<u8>) -> Vec<u8> {
    let mut hmac = [0u8; 20];
    rng.fill(&mut hmac);
    set_len(&mut out, 24);
    attr(&mut out, 0x0008, &hmac);
    set_len(&mut out, 8);
    let fp = crc32(&out) ^ 0x5354_554E;
    attr(&mut out, 0x8028, &fp.to_be_bytes());
    out
}

fn header(kind: u16, txid: &[u8; 12]) -> Vec<u8> {
    let mut out = Vec::with_capacity(128);
    out.extend_from_slice(&kind.to_be_bytes());
    out.extend_from_slice(&0u16.to_be_bytes());
    out.extend_from_slice(&MAGIC.to_be_bytes());
    out.extend_from_slice(txid);
    out
}

/// A Binding request (ICE connectivity check / consent freshness) from the browser.
pub(crate) fn stun_request(
    rng: &mut Rng,
    txid: &[u8; 12],
    username: &str,
    tiebreaker: u64,
    use_candidate: bool,
) -> Vec<u8> {
    let mut out = header(0x0001, txid);
    attr(&mut out, 0x0006, username.as_bytes()); // USERNAME
    attr(&mut out, 0xC057, &[0, 1, 0, 10]); // GOOG-NETWORK-INFO
    attr(&mut out, 0x802A, &tiebreaker.to_be_bytes()); // ICE-CONTROLLING
    if use_candidate {
        attr(&mut out, 0x0025, &[]); // USE-CANDIDATE
    }
    attr(&mut out, 0x0024, &1_845_501_695u32.to_be_bytes()); // PRIORITY
    finish(rng, out)
}

/// A Binding success response with the client's reflexive address.
pub(crate) fn stun_success(rng: &mut Rng, txid: &[u8; 12], mapped: SocketAddr) -> Vec<u8> {
    let mut out = header(0x0101, txid);
    let port = mapped.port() ^ (MAGIC >> 16) as u16;
    let mut v = vec![0u8];
    match mapped {
        SocketAddr::V4(a) => {
            v.push(0x01);
            v.extend_from_slice(&port.to_be_bytes());
            let x = u32::from(*a.ip()) ^ MAGIC;
            v.extend_from_slice(&x.to_be_bytes());
        }
        SocketAddr::V6(a) => {
            v.push(0x02);
            v.extend_from_slice(&port.to_be_bytes());
            let mut key = MAGIC.to_be_bytes().to_vec();
            key.extend_from_slice(txid);
            v.extend(a.ip().octets().iter().zip(&key).map(|(b, k)| b ^ k));
        }
    }
    attr(&mut out, 0x0020, &v); // XOR-MAPPED-ADDRESS
    finish(rng, out)
}

/// What was sent and received on one RTP stream (RFC 3550 A.3 counting).
#[derive(Clone, Debug, Default)]
pub(crate) struct StreamState {
    /// Next extended sequence number to use (lost packets consume one too).
    pub(crate) next_ext: u64,
    /// First extended sequence number written.
    pub(crate) base_ext: Option<u64>,
    /// Highest extended sequence number written.
    pub(crate) max_ext: u64,
    /// Packets written.
    pub(crate) packets: u64,
    /// Payload octets written.
    pub(crate) octets: u64,
    /// RTP timestamp of the next packet.
    pub(crate) rtp_ts: u32,
    /// Sequence numbers skipped (lost before the capture point).
    pub(crate) skipped: u64,
}

impl StreamState {
    /// A stream starting at a random sequence number (sometimes close to the wrap) and
    /// timestamp.
    pub(crate) fn new(rng: &mut Rng) -> StreamState {
        let seq = if rng.chance(0.3) {
            65535 - rng.below(400)
        } else {
            rng.below(30000)
        };
        StreamState {
            next_ext: seq,
            rtp_ts: rng.next_u32(),
            ..StreamState::default()
        }
    }

    /// Packets expected minus packets received, as RFC 3550 A.3 counts it.
    pub(crate) fn lost(&self) -> u64 {
        match self.base_ext {
            Some(b) => self.max_ext - b + 1 - self.packets,
            None => 0,
        }
    }
}

/// One RTP packet (V=2, no padding, no extension, no CSRC) of `codec`.
pub(crate) fn rtp(
    rng: &mut Rng,
    codec: Codec,
    ssrc: u32,
    seq: u16,
    ts: u32,
    marker: bool,
    payload_len: usize,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(12 + payload_len);
    out.push(0x80);
    out.push(if marker { 0x80 } else { 0 } | codec.payload_type());
    out.extend_from_slice(&seq.to_be_bytes());
    out.extend_from_slice(&ts.to_be_bytes());
    out.extend_from_slice(&ssrc.to_be_bytes());
    let start = out.len();
    out.resize(start + payload_len, 0);
    rng.fill(&mut out[start..]);
    if codec == Codec::Opus {
        // An Opus TOC byte: config 15 (SILK/CELT hybrid FB 20 ms), mono, one frame.
        out[start] = 0x78;
    }
    out
}

/// NTP timestamp (64 bits) of a capture time in µs since the epoch.
fn ntp(abs_us: u64) -> (u32, u32) {
    let secs = abs_us / 1_000_000 + NTP_UNIX_OFFSET;
    let frac = ((abs_us % 1_000_000) << 32) / 1_000_000;
    (secs as u32, frac as u32)
}

/// A compound RTCP packet: SR with one report block about the peer's stream, SDES CNAME,
/// and BYE when `bye`.
pub(crate) fn rtcp(
    abs_us: u64,
    ssrc: u32,
    sent: &StreamState,
    peer_ssrc: u32,
    peer: &StreamState,
    cname: &str,
    bye: bool,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(128);
    // SR: header, sender info (20), one report block (24).
    out.extend_from_slice(&[0x81, 200]);
    out.extend_from_slice(&12u16.to_be_bytes());
    out.extend_from_slice(&ssrc.to_be_bytes());
    let (msw, lsw) = ntp(abs_us);
    out.extend_from_slice(&msw.to_be_bytes());
    out.extend_from_slice(&lsw.to_be_bytes());
    out.extend_from_slice(&sent.rtp_ts.to_be_bytes());
    out.extend_from_slice(&(sent.packets as u32).to_be_bytes());
    out.extend_from_slice(&(sent.octets as u32).to_be_bytes());
    out.extend_from_slice(&peer_ssrc.to_be_bytes());
    let lost = peer.lost().min(0x7F_FFFF) as u32;
    out.push(0); // fraction lost since the last report: not tracked
    out.extend_from_slice(&lost.to_be_bytes()[1..]);
    out.extend_from_slice(&(peer.max_ext as u32).to_be_bytes());
    out.extend_from_slice(&48u32.to_be_bytes()); // interarrival jitter, in ticks
    out.extend_from_slice(&0u32.to_be_bytes()); // LSR
    out.extend_from_slice(&0u32.to_be_bytes()); // DLSR
                                                // SDES: one chunk, CNAME item, END, padding to 32 bits.
    let start = out.len();
    out.extend_from_slice(&[0x81, 202, 0, 0]);
    out.extend_from_slice(&ssrc.to_be_bytes());
    out.push(1);
    out.push(cname.len() as u8);
    out.extend_from_slice(cname.as_bytes());
    out.push(0);
    while (out.len() - start) % 4 != 0 {
        out.push(0);
    }
    let words = ((out.len() - start) / 4 - 1) as u16;
    out[start + 2..start + 4].copy_from_slice(&words.to_be_bytes());
    if bye {
        out.extend_from_slice(&[0x81, 203, 0, 1]);
        out.extend_from_slice(&ssrc.to_be_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_check_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn lost_counts_gaps_not_tail() {
        let mut s = StreamState {
            next_ext: 65534,
            ..StreamState::default()
        };
        for skip in [false, true, false, false, true] {
            let e = s.next_ext;
            s.next_ext += 1;
            if !skip {
                s.base_ext.get_or_insert(e);
                s.max_ext = e;
                s.packets += 1;
            }
        }
        assert_eq!(s.lost(), 1);
    }
}
