//! Record-level readers for pcap and pcapng over a memory-mapped file.
//!
//! Both readers borrow packet bytes from the mapping (zero copy) and never fail hard: a
//! truncated or corrupt record ends that file's packets with a [`Warning`], and what was
//! read before it stays valid.

use crate::diag::{Location, Warning, WarningKind};
use crate::time::Timestamp;
use pcap_parser::nom;
use pcap_parser::pcapng::Block;
use pcap_parser::{PcapError, PcapHeader};

/// A link-layer type number as stored in pcap/pcapng (LINKTYPE_*), open: unknown values
/// are values, not errors.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LinkType(pub u32);

/// One captured packet, borrowing its bytes from the mapped file.
#[derive(Copy, Clone, Debug)]
pub struct RawPacket<'a> {
    /// Capture timestamp.
    pub ts: Timestamp,
    /// Link type of the interface that captured it.
    pub link: LinkType,
    /// The captured bytes (possibly fewer than were on the wire).
    pub data: &'a [u8],
    /// Length on the wire; larger than `data.len()` when the snaplen cut the packet.
    pub orig_len: u32,
    /// Index of the file in the capture set.
    pub file: u32,
    /// 1-based packet number within its file (as Wireshark counts frames).
    pub number: u64,
}

/// The two container formats.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Format {
    /// Legacy libpcap format, either byte order, µs or ns timestamps.
    Pcap,
    /// pcapng, any number of sections and interfaces.
    PcapNg,
}

/// Recognises a capture file by its first four bytes.
pub fn sniff_format(bytes: &[u8]) -> Option<Format> {
    let magic: [u8; 4] = bytes.get(..4)?.try_into().ok()?;
    match u32::from_le_bytes(magic) {
        0xa1b2_c3d4 | 0xd4c3_b2a1 | 0xa1b2_3c4d | 0x4d3c_b2a1 | 0xa1b2_cd34 | 0x34cd_b2a1 => {
            Some(Format::Pcap)
        }
        0x0a0d_0d0a => Some(Format::PcapNg),
        _ => None,
    }
}

/// Per-interface facts a pcapng section declares.
#[derive(Copy, Clone, Debug)]
struct Interface {
    link: LinkType,
    units_per_sec: u64,
    offset_secs: i64,
    snaplen: u32,
}

enum State {
    Pcap {
        big_endian: bool,
        units_per_sec: u64,
        link: LinkType,
    },
    PcapNg {
        big_endian: bool,
        interfaces: Vec<Interface>,
    },
    Done,
}

/// Iterates over the packets of one file, recording problems as warnings.
pub struct RecordReader<'a> {
    name: String,
    file: u32,
    bytes: &'a [u8],
    pos: usize,
    number: u64,
    state: State,
    last_ts: Timestamp,
    /// Warnings found so far; drained by the caller.
    pub warnings: Vec<Warning>,
}

impl<'a> RecordReader<'a> {
    /// Opens a reader over `bytes` (a whole file). Errors when the file is not a capture
    /// this tool reads; the message names the file.
    pub fn new(name: &str, file: u32, bytes: &'a [u8]) -> Result<Self, String> {
        let format = sniff_format(bytes).ok_or_else(|| {
            if bytes.len() < 4 {
                format!(
                    "{name}: file is too short to be a capture ({} bytes)",
                    bytes.len()
                )
            } else {
                format!(
                    "{name}: not a pcap or pcapng file (magic {:02x}{:02x}{:02x}{:02x})",
                    bytes[0], bytes[1], bytes[2], bytes[3]
                )
            }
        })?;
        let mut r = RecordReader {
            name: name.to_string(),
            file,
            bytes,
            pos: 0,
            number: 0,
            state: State::Done,
            last_ts: Timestamp(i64::MIN),
            warnings: Vec::new(),
        };
        match format {
            Format::Pcap => {
                let (_, header) = pcap_parser::parse_pcap_header(bytes)
                    .map_err(|_| format!("{name}: pcap file header is incomplete"))?;
                r.pos = header.size();
                r.state = pcap_state(&header);
            }
            Format::PcapNg => {
                r.state = State::PcapNg {
                    big_endian: false,
                    interfaces: Vec::new(),
                }
            }
        }
        Ok(r)
    }

    /// Bytes consumed so far (for progress reporting).
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Index of the file in the capture set.
    pub fn file(&self) -> u32 {
        self.file
    }

    fn warn(&mut self, kind: WarningKind, packet: Option<u64>, message: String) {
        self.warnings.push(Warning {
            kind,
            location: Location {
                file: self.name.clone(),
                packet,
                offset: Some(self.pos as u64),
            },
            message,
        });
    }

    /// Ends the file after a truncated or corrupt record.
    fn stop<E>(&mut self, err: nom::Err<PcapError<E>>, what: &str) {
        let next = self.number + 1;
        let (kind, msg) = match err {
            nom::Err::Incomplete(_) => (
                WarningKind::TruncatedFile,
                format!(
                    "file ends inside a {what} ({} bytes left); the rest of the file is ignored",
                    self.bytes.len() - self.pos
                ),
            ),
            _ => (
                WarningKind::CorruptRecord,
                format!("malformed {what}; the rest of the file is ignored"),
            ),
        };
        self.warn(kind, Some(next), msg);
        self.state = State::Done;
    }

    fn check_order(&mut self, ts: Timestamp) {
        if ts < self.last_ts {
            let n = self.number;
            self.warn(
                WarningKind::TimestampOrder,
                Some(n),
                format!(
                    "timestamp goes back {:.6} s",
                    (self.last_ts.0 - ts.0) as f64 / 1e9
                ),
            );
        }
        self.last_ts = self.last_ts.max(ts);
    }

    fn next_pcap(&mut self, big_endian: bool, units: u64, link: LinkType) -> Option<RawPacket<'a>> {
        let rest = &self.bytes[self.pos..];
        if rest.is_empty() {
            self.state = State::Done;
            return None;
        }
        let parsed = if big_endian {
            pcap_parser::parse_pcap_frame_be(rest)
        } else {
            pcap_parser::parse_pcap_frame(rest)
        };
        match parsed {
            Ok((remaining, frame)) => {
                self.pos = self.bytes.len() - remaining.len();
                self.number += 1;
                let ts = Timestamp::from_parts(frame.ts_sec as i64, frame.ts_usec as u64, units);
                self.check_order(ts);
                Some(RawPacket {
                    ts,
                    link,
                    data: frame.data,
                    orig_len: frame.origlen.max(frame.caplen),
                    file: self.file,
                    number: self.number,
                })
            }
            Err(e) => {
                self.stop(e, "packet record");
                None
            }
        }
    }

    fn next_pcapng(&mut self) -> Option<RawPacket<'a>> {
        loop {
            let State::PcapNg { big_endian, .. } = &self.state else {
                return None;
            };
            let rest = &self.bytes[self.pos..];
            if rest.is_empty() {
                self.state = State::Done;
                return None;
            }
            // A section header block carries its own byte order; parse it first.
            let parsed = if rest.len() >= 4 && rest[..4] == [0x0a, 0x0d, 0x0d, 0x0a] {
                pcap_parser::pcapng::parse_sectionheaderblock(rest)
                    .map(|(r, b)| (r, Block::SectionHeader(b)))
            } else if *big_endian {
                pcap_parser::pcapng::parse_block_be(rest)
            } else {
                pcap_parser::pcapng::parse_block_le(rest)
            };
            let (remaining, block) = match parsed {
                Ok(v) => v,
                Err(e) => {
                    self.stop(e, "pcapng block");
                    return None;
                }
            };
            let consumed = rest.len() - remaining.len();
            if consumed == 0 {
                self.stop::<&[u8]>(
                    nom::Err::Error(PcapError::HeaderNotRecognized),
                    "pcapng block",
                );
                return None;
            }
            self.pos += consumed;
            let State::PcapNg {
                big_endian,
                interfaces,
            } = &mut self.state
            else {
                return None;
            };
            match block {
                Block::SectionHeader(shb) => {
                    *big_endian = shb.big_endian();
                    interfaces.clear();
                }
                Block::InterfaceDescription(idb) => {
                    let units_per_sec = idb.ts_resolution().unwrap_or(1_000_000);
                    interfaces.push(Interface {
                        link: LinkType(idb.linktype.0 as u32),
                        units_per_sec,
                        offset_secs: idb.ts_offset(),
                        snaplen: idb.snaplen,
                    });
                }
                Block::EnhancedPacket(epb) => {
                    self.number += 1;
                    let Some(iface) = interfaces.get(epb.if_id as usize).copied() else {
                        let n = self.number;
                        self.warn(
                            WarningKind::CorruptRecord,
                            Some(n),
                            format!("packet names interface {} which no interface block declared; skipped", epb.if_id),
                        );
                        continue;
                    };
                    let raw = ((epb.ts_high as u64) << 32) | epb.ts_low as u64;
                    let ts = Timestamp::from_parts(
                        iface.offset_secs + (raw / iface.units_per_sec) as i64,
                        raw % iface.units_per_sec,
                        iface.units_per_sec,
                    );
                    self.check_order(ts);
                    // The block's data is padded to 32 bits; the captured length says where it ends.
                    let data: &'a [u8] = &epb.data[..(epb.caplen as usize).min(epb.data.len())];
                    return Some(RawPacket {
                        ts,
                        link: iface.link,
                        data,
                        orig_len: epb.origlen.max(data.len() as u32),
                        file: self.file,
                        number: self.number,
                    });
                }
                Block::SimplePacket(spb) => {
                    self.number += 1;
                    // A simple packet belongs to interface 0 and has no timestamp (RFC draft
                    // pcapng §4.4): it takes the time of the packet before it.
                    let Some(iface) = interfaces.first().copied() else {
                        let n = self.number;
                        self.warn(
                            WarningKind::CorruptRecord,
                            Some(n),
                            "simple packet before any interface block; skipped".into(),
                        );
                        continue;
                    };
                    let mut data: &'a [u8] =
                        &spb.data[..(spb.origlen as usize).min(spb.data.len())];
                    if iface.snaplen > 0 && data.len() > iface.snaplen as usize {
                        data = &data[..iface.snaplen as usize];
                    }
                    let ts = self.last_ts.max(Timestamp(0));
                    return Some(RawPacket {
                        ts,
                        link: iface.link,
                        data,
                        orig_len: spb.origlen.max(data.len() as u32),
                        file: self.file,
                        number: self.number,
                    });
                }
                _ => {}
            }
        }
    }
}

fn pcap_state(header: &PcapHeader) -> State {
    State::Pcap {
        big_endian: header.is_bigendian(),
        units_per_sec: if header.is_nanosecond_precision() {
            1_000_000_000
        } else {
            1_000_000
        },
        link: LinkType(header.network.0 as u32),
    }
}

impl<'a> Iterator for RecordReader<'a> {
    type Item = RawPacket<'a>;

    fn next(&mut self) -> Option<RawPacket<'a>> {
        match self.state {
            State::Pcap {
                big_endian,
                units_per_sec,
                link,
            } => self.next_pcap(big_endian, units_per_sec, link),
            State::PcapNg { .. } => self.next_pcapng(),
            State::Done => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A little-endian µs pcap with one 4-byte packet at t = 1.5 s.
    fn tiny_pcap() -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
        v.extend_from_slice(&2u16.to_le_bytes());
        v.extend_from_slice(&4u16.to_le_bytes());
        v.extend_from_slice(&[0; 8]);
        v.extend_from_slice(&65535u32.to_le_bytes());
        v.extend_from_slice(&101u32.to_le_bytes());
        v.extend_from_slice(&1u32.to_le_bytes());
        v.extend_from_slice(&500_000u32.to_le_bytes());
        v.extend_from_slice(&4u32.to_le_bytes());
        v.extend_from_slice(&4u32.to_le_bytes());
        v.extend_from_slice(&[1, 2, 3, 4]);
        v
    }

    #[test]
    fn reads_a_record() {
        let bytes = tiny_pcap();
        let mut r = RecordReader::new("t.pcap", 0, &bytes).unwrap();
        let p = r.next().unwrap();
        assert_eq!(p.ts, Timestamp(1_500_000_000));
        assert_eq!(p.link, LinkType(101));
        assert_eq!(p.data, &[1, 2, 3, 4]);
        assert!(r.next().is_none());
        assert!(r.warnings.is_empty());
    }

    #[test]
    fn truncated_record_is_a_warning_naming_file_and_packet() {
        let bytes = tiny_pcap();
        let cut = &bytes[..bytes.len() - 2];
        let mut r = RecordReader::new("t.pcap", 0, cut).unwrap();
        assert!(r.next().is_none());
        assert_eq!(r.warnings.len(), 1);
        assert_eq!(r.warnings[0].kind, WarningKind::TruncatedFile);
        assert_eq!(r.warnings[0].location.packet, Some(1));
        assert_eq!(r.warnings[0].location.file, "t.pcap");
    }

    #[test]
    fn hostile_record_length_costs_nothing() {
        let mut bytes = tiny_pcap();
        bytes[32..36].copy_from_slice(&u32::MAX.to_le_bytes());
        let mut r = RecordReader::new("t.pcap", 0, &bytes).unwrap();
        assert!(r.next().is_none());
        assert_eq!(r.warnings[0].kind, WarningKind::TruncatedFile);
    }

    #[test]
    fn rejects_non_captures_by_name() {
        let err = RecordReader::new("notes.txt", 0, b"hello world")
            .err()
            .unwrap();
        assert!(
            err.starts_with("notes.txt: not a pcap or pcapng file"),
            "{err}"
        );
    }
}
