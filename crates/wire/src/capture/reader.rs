//! Record-level readers for pcap and pcapng over the bytes of a file, whole or in chunks.
//!
//! Both readers borrow packet bytes from the buffer they are given (zero copy) and never
//! fail hard: a truncated or corrupt record ends that file's packets with a [`Warning`],
//! and what was read before it stays valid. Over a chunk that more bytes may follow
//! ([`RecordReader::step`]), a record running past the chunk's end asks for more instead.

use crate::diag::{Location, Warning, WarningKind};
use crate::time::Timestamp;
use pcap_parser::pcapng::{Block, OptionCode, PcapNGOption};

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
        framing: PcapFraming,
        link: LinkType,
    },
    PcapNg {
        big_endian: bool,
        interfaces: Vec<Interface>,
    },
    Done,
}

/// What [`RecordReader::step`] found.
#[derive(Debug)]
pub enum Step<'a> {
    /// The next packet.
    Packet(RawPacket<'a>),
    /// The chunk ends inside a record (or a search for one): give the reader the bytes
    /// from [`RecordReader::chunk_position`] on, at least this many, with
    /// [`RecordReader::refill`].
    NeedMore(usize),
    /// No more packets in this file.
    End,
}

/// Iterates over the packets of one file, recording problems as warnings.
pub struct RecordReader<'a> {
    name: String,
    file: u32,
    bytes: &'a [u8],
    /// File offset of `bytes[0]`.
    base: u64,
    /// More bytes of the file may follow `bytes`.
    more: bool,
    pos: usize,
    number: u64,
    state: State,
    last_ts: Timestamp,
    /// Bytes before this offset have been prefetched (see [`RecordReader::prefetch`]).
    prefetched: usize,
    /// Warnings found so far; drained by the caller.
    pub warnings: Vec<Warning>,
}

impl<'a> RecordReader<'a> {
    /// Opens a reader over `bytes` (a whole file). Errors when the file is not a capture
    /// this tool reads; the message names the file.
    pub fn new(name: &str, file: u32, bytes: &'a [u8]) -> Result<Self, String> {
        Self::new_partial(name, file, bytes, false)
    }

    /// As [`RecordReader::new`], over the first bytes of a file that `more` bytes may
    /// follow (they are asked for with [`Step::NeedMore`]). `bytes` must hold the file
    /// header (the first 24 bytes) when the file has them.
    pub fn new_partial(name: &str, file: u32, bytes: &'a [u8], more: bool) -> Result<Self, String> {
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
            base: 0,
            more,
            pos: 0,
            number: 0,
            state: State::Done,
            last_ts: Timestamp(i64::MIN),
            prefetched: 0,
            warnings: Vec::new(),
        };
        match format {
            Format::Pcap => {
                let (framing, link) = pcap_header(bytes)
                    .ok_or_else(|| format!("{name}: pcap file header is incomplete"))?;
                r.pos = PCAP_FILE_HEADER;
                r.state = State::Pcap { framing, link };
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

    /// Bytes of the file consumed so far (for progress reporting).
    pub fn position(&self) -> u64 {
        self.base + self.pos as u64
    }

    /// Where in the current chunk the reader stands: the bytes from here on are the ones
    /// to give again, followed by more, after a [`Step::NeedMore`].
    pub fn chunk_position(&self) -> usize {
        self.pos
    }

    /// Goes on over `bytes`, the file's bytes from [`RecordReader::position`] on (the
    /// rest of the current chunk, then new ones); `more`: further bytes may follow.
    pub fn refill(&mut self, bytes: &'a [u8], more: bool) {
        self.base += self.pos as u64;
        self.bytes = bytes;
        self.pos = 0;
        self.prefetched = 0;
        self.more = more;
    }

    /// Records a problem the caller found with this file (e.g. it shrank while read),
    /// at the next packet and the current offset.
    pub fn warn_next(&mut self, kind: WarningKind, message: String) {
        let next = self.number + 1;
        self.warn(kind, Some(next), message);
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
                offset: Some(self.base + self.pos as u64),
            },
            message,
        });
    }

    #[inline]
    fn check_order(&mut self, ts: Timestamp) {
        if ts < self.last_ts {
            self.warn_order(ts);
        }
        // Compared with the packet before, so one step back is one warning.
        self.last_ts = ts;
    }

    #[cold]
    #[inline(never)]
    fn warn_order(&mut self, ts: Timestamp) {
        let n = self.number;
        self.warn(
            WarningKind::TimestampOrder,
            Some(n),
            format!(
                "timestamp goes back {:.6} s from the packet before it",
                // abs_diff: the two can be further apart than i64 holds.
                self.last_ts.0.abs_diff(ts.0) as f64 / 1e9
            ),
        );
    }

    /// The next pcap record, in a file of byte order `BIG` (a constant, so that the
    /// record walk has no branch on it).
    #[inline(always)]
    fn next_pcap<const BIG: bool>(&mut self, f: PcapFraming, link: LinkType) -> Step<'a> {
        debug_assert_eq!(f.big_endian, BIG);
        loop {
            let rest = &self.bytes[self.pos..];
            // The header was read by the check: the record is taken from it, not parsed
            // again.
            let r = match f.record(rest, None) {
                Check::Record(r) => r,
                other => match self.no_pcap_record(f, other) {
                    Some(step) => return step,
                    None => continue,
                },
            };
            let data: &'a [u8] = &rest[f.header..f.len(&r)];
            self.pos += f.len(&r);
            self.number += 1;
            let ts = Timestamp::from_parts(r.sec as i64, r.frac as u64, f.units);
            self.check_order(ts);
            return Step::Packet(RawPacket {
                ts,
                link,
                data,
                orig_len: r.origlen.max(r.caplen),
                file: self.file,
                number: self.number,
            });
        }
    }

    /// Where no complete, plausible pcap record starts (`check` says why): the end of
    /// the chunk or of the file, or a corrupt record to resynchronise over (`None`: go on
    /// from where the reader stands now).
    #[cold]
    #[inline(never)]
    fn no_pcap_record(&mut self, f: PcapFraming, check: Check<PcapRecord>) -> Option<Step<'a>> {
        match check {
            Check::Record(_) => None,
            Check::Short(need) => Some(self.short(need, "a packet record")),
            Check::Bad(why) => {
                let last_sec = (self.last_ts.0 > 0).then_some(self.last_ts.0 / 1_000_000_000);
                self.resync(why, 1, |b| f.check(b, last_sec))
            }
        }
    }

    /// At the end of the chunk, `need` bytes short (0: on a record boundary): asks for
    /// more when more may follow, else the file is over.
    fn at_end(&mut self, need: usize) -> Step<'a> {
        if self.more {
            return Step::NeedMore(need.max(1));
        }
        self.state = State::Done;
        Step::End
    }

    /// The chunk ends inside `what` (`need` bytes would hold it): at a boundary, the end;
    /// otherwise more bytes when they may follow, else a truncated file.
    fn short(&mut self, need: usize, what: &str) -> Step<'a> {
        let left = self.bytes.len() - self.pos;
        if left == 0 {
            return self.at_end(0);
        }
        if self.more {
            return Step::NeedMore(need);
        }
        let msg = format!("file ends inside {what} ({left} bytes left); the rest is ignored");
        self.give_up(WarningKind::TruncatedFile, msg);
        Step::End
    }

    fn give_up(&mut self, kind: WarningKind, message: String) {
        let next = self.number + 1;
        self.warn(kind, Some(next), message);
        self.state = State::Done;
    }

    /// After a malformed record or block at `self.pos`: finds the next position (on
    /// `align`-byte steps, at most [`RESYNC_WINDOW`] ahead) where `check` accepts a record
    /// that is followed by another acceptable one or by the end of the file, and goes on
    /// from there (returns `None`). Otherwise returns what the caller returns:
    /// [`Step::NeedMore`] when the search runs past the chunk and more may follow,
    /// [`Step::End`] (and the file ends) when there is no such record.
    fn resync(
        &mut self,
        why: Bad,
        align: usize,
        check: impl Fn(&[u8]) -> Check,
    ) -> Option<Step<'a>> {
        let start = self.pos;
        let window_end = start + RESYNC_WINDOW;
        let limit = self.bytes.len().min(window_end);
        // Enough to hold the whole window and the records that confirm it, doubling.
        let grow = ((self.bytes.len() - start) * 2).max(RESYNC_WINDOW + (1 << 16));
        let mut p = start + align;
        while p < limit {
            let found = check(&self.bytes[p..]);
            if let Check::Short(_) = found {
                if self.more {
                    return Some(Step::NeedMore(grow));
                }
            }
            if let Check::Record(len) = found {
                let next = p + len;
                let confirmed = if next == self.bytes.len() {
                    if self.more {
                        return Some(Step::NeedMore(grow));
                    }
                    true
                } else {
                    match check(&self.bytes[next..]) {
                        Check::Record(_) => true,
                        Check::Short(_) if self.more => return Some(Step::NeedMore(grow)),
                        _ => false,
                    }
                };
                if confirmed {
                    let next_packet = self.number + 1;
                    self.warn(
                        WarningKind::CorruptRecord,
                        Some(next_packet),
                        format!(
                            "{why}; skipped {} bytes to the next plausible record",
                            p - start
                        ),
                    );
                    self.pos = p;
                    return None;
                }
            }
            p += align;
        }
        if self.more && limit < window_end {
            return Some(Step::NeedMore(grow));
        }
        self.give_up(
            WarningKind::CorruptRecord,
            format!("{why}; no plausible record follows, the rest is ignored"),
        );
        Some(Step::End)
    }

    /// The next packet of a pcapng file.
    fn next_pcapng(&mut self) -> Step<'a> {
        loop {
            let step = match self.state {
                State::PcapNg {
                    big_endian: false, ..
                } => self.next_in_section::<false>(),
                State::PcapNg {
                    big_endian: true, ..
                } => self.next_in_section::<true>(),
                _ => return Step::End,
            };
            if let Some(step) = step {
                return step;
            }
        }
    }

    /// The next packet of a pcapng section of byte order `BIG` (a constant, so that the
    /// block walk has no branch on it); `None` when a section header changed the byte
    /// order: the caller goes on in the other. Enhanced packet blocks are read here, the
    /// other blocks (rare) by [`RecordReader::other_block`].
    #[inline]
    fn next_in_section<const BIG: bool>(&mut self) -> Option<Step<'a>> {
        let framing = NgFraming { big_endian: BIG };
        loop {
            // A section header block read since the last packet may change the byte order.
            let State::PcapNg { big_endian, .. } = self.state else {
                return Some(Step::End);
            };
            if big_endian != BIG {
                return None;
            }
            let rest = &self.bytes[self.pos..];
            let len = match framing.check(rest) {
                Check::Record(len) => len,
                other => match self.no_pcapng_block(framing, other) {
                    Some(step) => return Some(step),
                    None => continue,
                },
            };
            if framing.u32_at(rest, 0) == EPB_TYPE {
                if let Some(epb) = framing.enhanced_packet(&rest[..len]) {
                    self.pos += len;
                    match self.enhanced_packet(epb) {
                        Some(step) => return Some(step),
                        None => continue,
                    }
                }
            }
            if let Some(step) = self.other_block(framing, len) {
                return Some(step);
            }
        }
    }

    /// Where no complete, plausible pcapng block starts (`check` says why): the end of
    /// the chunk or of the file, or a corrupt block to resynchronise over (`None`: go on
    /// from where the reader stands now).
    #[cold]
    #[inline(never)]
    fn no_pcapng_block(&mut self, framing: NgFraming, check: Check) -> Option<Step<'a>> {
        match check {
            Check::Record(_) => None,
            Check::Short(need) => Some(self.short(need, "a pcapng block")),
            Check::Bad(why) => self.resync(why, 4, |b| framing.check(b)),
        }
    }

    /// Reads the block of `len` bytes (framing checked) where the reader stands that is
    /// not a well-formed enhanced packet block, with pcap-parser: a section header, an
    /// interface description, a simple packet (returned), others (skipped), or a
    /// malformed block (skipped with a warning). `None`: go on with the next block.
    #[cold]
    #[inline(never)]
    fn other_block(&mut self, framing: NgFraming, len: usize) -> Option<Step<'a>> {
        let rest = &self.bytes[self.pos..];
        if framing.u32_at(rest, 0) == EPB_TYPE {
            // Not well-formed (`enhanced_packet` said so): as pcap-parser would fail on it.
            self.malformed_block(len);
            return None;
        }
        // A section header block carries its own byte order; parse it first.
        let parsed = if rest.len() >= 4 && rest[..4] == SHB_MAGIC {
            pcap_parser::pcapng::parse_sectionheaderblock(rest)
                .map(|(r, b)| (r, Block::SectionHeader(b)))
        } else if framing.big_endian {
            pcap_parser::pcapng::parse_block_be(rest)
        } else {
            pcap_parser::pcapng::parse_block_le(rest)
        };
        let consumed = match &parsed {
            Ok((remaining, _)) => rest.len() - remaining.len(),
            Err(_) => 0,
        };
        let Ok((_, block)) = parsed.ok().filter(|_| consumed > 0).ok_or(()) else {
            // The framing is sound (checked above) but the body is not: skip this block.
            self.malformed_block(len);
            return None;
        };
        self.pos += consumed;
        let State::PcapNg {
            big_endian,
            interfaces,
        } = &mut self.state
        else {
            return Some(Step::End);
        };
        match block {
            Block::SectionHeader(shb) => {
                *big_endian = shb.big_endian();
                interfaces.clear();
            }
            Block::InterfaceDescription(idb) => {
                let (units_per_sec, offset_secs) = ts_options(&idb.options, *big_endian);
                interfaces.push(Interface {
                    link: LinkType(idb.linktype.0 as u32),
                    units_per_sec,
                    offset_secs,
                    snaplen: idb.snaplen,
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
                    return None;
                };
                let mut data: &'a [u8] = &spb.data[..(spb.origlen as usize).min(spb.data.len())];
                if iface.snaplen > 0 && data.len() > iface.snaplen as usize {
                    data = &data[..iface.snaplen as usize];
                }
                let ts = self.last_ts.max(Timestamp(0));
                return Some(Step::Packet(RawPacket {
                    ts,
                    link: iface.link,
                    data,
                    orig_len: spb.origlen.max(data.len() as u32),
                    file: self.file,
                    number: self.number,
                }));
            }
            _ => {}
        }
        None
    }

    /// Skips a block of `len` bytes whose framing is sound but whose body is not.
    fn malformed_block(&mut self, len: usize) {
        let next_packet = self.number + 1;
        self.warn(
            WarningKind::CorruptRecord,
            Some(next_packet),
            format!("malformed pcapng block of {len} bytes skipped"),
        );
        self.pos += len;
    }

    /// The packet of an enhanced packet block (the reader stands after it); `None` when
    /// it is skipped (with a warning) because no interface block declared its interface.
    #[inline(always)]
    fn enhanced_packet(&mut self, epb: EnhancedPacket<'a>) -> Option<Step<'a>> {
        let State::PcapNg { interfaces, .. } = &self.state else {
            return Some(Step::End);
        };
        self.number += 1;
        let Some(iface) = interfaces.get(epb.if_id as usize).copied() else {
            let n = self.number;
            self.warn(
                WarningKind::CorruptRecord,
                Some(n),
                format!(
                    "packet names interface {} which no interface block declared; skipped",
                    epb.if_id
                ),
            );
            return None;
        };
        let ts = Timestamp::from_parts(
            // Both come from the file: saturate rather than overflow.
            iface
                .offset_secs
                .saturating_add(i64::try_from(epb.ts / iface.units_per_sec).unwrap_or(i64::MAX)),
            epb.ts % iface.units_per_sec,
            iface.units_per_sec,
        );
        self.check_order(ts);
        Some(Step::Packet(RawPacket {
            ts,
            link: iface.link,
            data: epb.data,
            orig_len: epb.origlen.max(epb.data.len() as u32),
            file: self.file,
            number: self.number,
        }))
    }
}

/// An interface's timestamp units per second and offset in seconds: its `if_tsresol` and
/// `if_tsoffset` options (pcapng §4.2), read here rather than by pcap-parser 0.17, which
/// takes a binary `if_tsresol` (high bit set: 2^-n s) for an invalid one and reads
/// `if_tsoffset` as little-endian in a big-endian section too. Without the option (or
/// with a resolution no `u64` holds), microseconds and no offset.
fn ts_options(options: &[PcapNGOption<'_>], big_endian: bool) -> (u64, i64) {
    let mut units = 1_000_000;
    let mut offset = 0;
    for opt in options {
        if opt.code == OptionCode::IfTsresol {
            if let Some(&v) = opt.value.first() {
                let exp = u32::from(v & 0x7f);
                let base: u64 = if v & 0x80 != 0 { 2 } else { 10 };
                if let Some(u) = base.checked_pow(exp) {
                    units = u;
                }
            }
        } else if opt.code == OptionCode::IfTsoffset {
            if let Some(b) = opt.value.get(..8).and_then(|b| <[u8; 8]>::try_from(b).ok()) {
                offset = if big_endian {
                    i64::from_be_bytes(b)
                } else {
                    i64::from_le_bytes(b)
                };
            }
        }
    }
    (units, offset)
}

/// Length of the pcap file header.
const PCAP_FILE_HEADER: usize = 24;

/// Reads a pcap file header (any of the six magics: either byte order, µs or ns
/// timestamps, and the "modified" format of old Red Hat tcpdump, whose record headers are
/// 8 bytes longer); `None` when it is incomplete.
fn pcap_header(bytes: &[u8]) -> Option<(PcapFraming, LinkType)> {
    let h = bytes.first_chunk::<PCAP_FILE_HEADER>()?;
    let magic = u32::from_le_bytes([h[0], h[1], h[2], h[3]]);
    let big_endian = matches!(magic, 0xd4c3_b2a1 | 0x4d3c_b2a1 | 0x34cd_b2a1);
    let units = if matches!(magic, 0xa1b2_3c4d | 0x4d3c_b2a1) {
        1_000_000_000
    } else {
        1_000_000
    };
    let header = if matches!(magic, 0xa1b2_cd34 | 0x34cd_b2a1) {
        24
    } else {
        16
    };
    let word = |i: usize| {
        let v = [h[i], h[i + 1], h[i + 2], h[i + 3]];
        if big_endian {
            u32::from_be_bytes(v)
        } else {
            u32::from_le_bytes(v)
        }
    };
    let framing = PcapFraming {
        big_endian,
        units,
        max_record: word(16).clamp(MAX_SNAPLEN, 1 << 24),
        header,
    };
    // The link type is the low 16 bits; the upper ones carry FCS flags (pcap-linktype(7)).
    Some((framing, LinkType(word(20) & 0xffff)))
}

/// How far ahead of the record being read the reader asks the CPU to load the file.
const PREFETCH_AHEAD: usize = 4096;
/// Cache line size assumed for the prefetch.
const CACHE_LINE: usize = 64;

/// Asks the CPU to start loading the cache line at `p` (a hint only: it never faults,
/// whatever `p` is; a no-op on other architectures than x86-64).
#[inline]
pub fn prefetch<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch does not access memory architecturally: it cannot fault or change
    // anything, for any address.
    unsafe {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        _mm_prefetch::<_MM_HINT_T0>(p.cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

impl RecordReader<'_> {
    /// Asks the CPU to start loading the next [`PREFETCH_AHEAD`] bytes. Each record's
    /// header says where the next one starts, so the walk is a chain of dependent loads,
    /// and between two records the analysis touches enough other memory that the
    /// hardware prefetcher loses the stream: without this, the first load of a record
    /// header was a cache miss for most packets (measured: 45% of a one-thread run).
    ///
    /// In bursts: when less than three quarters of [`PREFETCH_AHEAD`] are left ahead, up
    /// to all of it again (one comparison for most records).
    #[inline]
    fn prefetch(&mut self) {
        if self.prefetched < self.pos + (PREFETCH_AHEAD - PREFETCH_AHEAD / 4) {
            self.prefetch_ahead();
        }
    }

    /// Prefetches from where the last burst ended (or the reader stands) to
    /// [`PREFETCH_AHEAD`] bytes ahead.
    fn prefetch_ahead(&mut self) {
        let end = (self.pos + PREFETCH_AHEAD).min(self.bytes.len());
        let mut at = self.prefetched.max(self.pos);
        while at < end {
            prefetch(self.bytes.as_ptr().wrapping_add(at));
            at += CACHE_LINE;
        }
        self.prefetched = at;
    }
}

impl<'a> RecordReader<'a> {
    /// The next packet, the end of the file, or a request for more bytes (only when the
    /// reader was told more may follow).
    #[inline]
    pub fn step(&mut self) -> Step<'a> {
        self.prefetch();
        match self.state {
            State::Pcap { framing, link } if framing.big_endian => {
                self.next_pcap::<true>(framing, link)
            }
            State::Pcap { framing, link } => self.next_pcap::<false>(framing, link),
            State::PcapNg { .. } => self.next_pcapng(),
            State::Done => Step::End,
        }
    }
}

impl<'a> RecordReader<'a> {
    /// Appends this file's packets to `out` while it holds fewer than `max` and each comes
    /// before `bound` in a merge (a key: timestamp, file index, packet number; `None`: no
    /// bound), and returns what ended the run: the first packet not appended (read: the
    /// caller keeps it), [`Step::NeedMore`] or [`Step::End`]. The same steps as
    /// [`RecordReader::step`] in a loop, with the pcap record walk inlined in the loop.
    pub fn read_run(
        &mut self,
        out: &mut Vec<RawPacket<'a>>,
        max: usize,
        bound: Option<(Timestamp, u32, u64)>,
    ) -> Step<'a> {
        loop {
            let ended = match self.state {
                State::Pcap { framing, link } if framing.big_endian => {
                    return self.run_pcap::<true>(out, max, bound, framing, link)
                }
                State::Pcap { framing, link } => {
                    return self.run_pcap::<false>(out, max, bound, framing, link)
                }
                State::PcapNg {
                    big_endian: false, ..
                } => self.run_section::<false>(out, max, bound),
                State::PcapNg {
                    big_endian: true, ..
                } => self.run_section::<true>(out, max, bound),
                State::Done => return Step::End,
            };
            if let Some(step) = ended {
                return step;
            }
            // A section header changed the byte order: on in the other.
        }
    }

    /// [`RecordReader::read_run`] over a pcapng section of byte order `BIG`; `None` when
    /// a section header changed the byte order.
    fn run_section<const BIG: bool>(
        &mut self,
        out: &mut Vec<RawPacket<'a>>,
        max: usize,
        bound: Option<(Timestamp, u32, u64)>,
    ) -> Option<Step<'a>> {
        loop {
            self.prefetch();
            match self.next_in_section::<BIG>()? {
                Step::Packet(p) if takes(&p, self.file, out.len(), max, bound) => out.push(p),
                other => return Some(other),
            }
        }
    }

    /// [`RecordReader::read_run`] over a pcap file of byte order `BIG`, with its units per
    /// second, largest record and link type.
    fn run_pcap<const BIG: bool>(
        &mut self,
        out: &mut Vec<RawPacket<'a>>,
        max: usize,
        bound: Option<(Timestamp, u32, u64)>,
        framing: PcapFraming,
        link: LinkType,
    ) -> Step<'a> {
        loop {
            self.prefetch();
            match self.next_pcap::<BIG>(framing, link) {
                Step::Packet(p) if takes(&p, self.file, out.len(), max, bound) => out.push(p),
                other => return other,
            }
        }
    }
}

/// Whether [`RecordReader::read_run`] appends packet `p` of file `file` to a batch of
/// `len` packets.
#[inline]
fn takes(
    p: &RawPacket<'_>,
    file: u32,
    len: usize,
    max: usize,
    bound: Option<(Timestamp, u32, u64)>,
) -> bool {
    len < max && bound.is_none_or(|b| (p.ts, file, p.number) < b)
}

/// Over a whole file: its packets (a reader made with more bytes to follow stops where
/// its chunk ends).
impl<'a> Iterator for RecordReader<'a> {
    type Item = RawPacket<'a>;

    fn next(&mut self) -> Option<RawPacket<'a>> {
        match self.step() {
            Step::Packet(p) => Some(p),
            Step::NeedMore(_) | Step::End => None,
        }
    }
}

/// The largest snaplen libpcap writes (MAXIMUM_SNAPLEN, 256 KiB); a record longer than
/// this and the file's own snaplen is corrupt, not a big packet.
pub const MAX_SNAPLEN: u32 = 262_144;
/// How far past a corrupt record the reader looks for the next plausible one.
pub const RESYNC_WINDOW: usize = 1 << 20;
/// Largest pcapng block accepted (a block can hold one packet and its options).
const MAX_BLOCK: usize = 16 << 20;
const SHB_MAGIC: [u8; 4] = [0x0a, 0x0d, 0x0d, 0x0a];
/// The block type of an enhanced packet block.
const EPB_TYPE: u32 = 6;

/// Verdict on the bytes at a record boundary.
enum Check<R = usize> {
    /// A plausible record, all present: its length in bytes (or, from
    /// [`PcapFraming::record`], its header).
    Record(R),
    /// A plausible record whose bytes run past the end of the bytes given; it needs this
    /// many bytes from its start.
    Short(usize),
    /// Not a plausible record, and why.
    Bad(Bad),
}

/// Why the bytes at a record boundary are not a plausible record (the message is made
/// only when it is reported: the resynchronisation checks up to a megabyte of offsets).
#[derive(Copy, Clone, Debug)]
enum Bad {
    /// pcap: a captured length above the snaplen.
    RecordLength(u32),
    /// pcap: a timestamp fraction of a second or more.
    Fraction(u32),
    /// pcap, while resynchronising: a time more than a day from the last packet's, or a
    /// captured length above the original one.
    Implausible,
    /// pcapng: a block length under 12, not a multiple of 4, or over [`MAX_BLOCK`].
    BlockLength(usize),
    /// pcapng: a block length its trailer does not repeat.
    Trailer(usize),
}

impl std::fmt::Display for Bad {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Bad::RecordLength(len) => write!(f, "record length {len} exceeds the snaplen"),
            Bad::Fraction(frac) => write!(f, "timestamp fraction {frac} out of range"),
            Bad::Implausible => f.write_str("implausible record"),
            Bad::BlockLength(len) => write!(f, "pcapng block length {len} is invalid"),
            Bad::Trailer(len) => write!(f, "pcapng block length {len} does not match its trailer"),
        }
    }
}

#[derive(Copy, Clone)]
struct PcapFraming {
    big_endian: bool,
    units: u64,
    max_record: u32,
    /// Record header length: 16, or 24 in the modified format.
    header: usize,
}

/// The four fields of a pcap record header, in the file's byte order.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
struct PcapRecord {
    sec: u32,
    frac: u32,
    caplen: u32,
    origlen: u32,
}

impl PcapFraming {
    /// A record's whole length: header and captured bytes.
    #[inline]
    fn len(&self, r: &PcapRecord) -> usize {
        self.header + r.caplen as usize
    }

    /// Checks a record header and returns it when the record is plausible and complete.
    /// With `near_sec`, the timestamp must also lie within a day of it (used while
    /// resynchronising, where random bytes must not pass).
    #[inline]
    fn record(&self, b: &[u8], near_sec: Option<i64>) -> Check<PcapRecord> {
        let Some(header) = b.first_chunk::<16>().filter(|_| b.len() >= self.header) else {
            return Check::Short(self.header);
        };
        let word = |i: usize| {
            let v = [header[i], header[i + 1], header[i + 2], header[i + 3]];
            if self.big_endian {
                u32::from_be_bytes(v)
            } else {
                u32::from_le_bytes(v)
            }
        };
        let r = PcapRecord {
            sec: word(0),
            frac: word(4),
            caplen: word(8),
            origlen: word(12),
        };
        if r.caplen > self.max_record {
            return Check::Bad(Bad::RecordLength(r.caplen));
        }
        if r.frac as u64 >= self.units {
            return Check::Bad(Bad::Fraction(r.frac));
        }
        if near_sec.is_some_and(|n| (r.sec as i64 - n).abs() > 86_400)
            || (near_sec.is_some() && r.origlen < r.caplen)
        {
            return Check::Bad(Bad::Implausible);
        }
        if self.len(&r) > b.len() {
            Check::Short(self.len(&r))
        } else {
            Check::Record(r)
        }
    }

    /// As [`PcapFraming::record`], the record's length only.
    fn check(&self, b: &[u8], near_sec: Option<i64>) -> Check {
        match self.record(b, near_sec) {
            Check::Record(r) => Check::Record(self.len(&r)),
            Check::Short(need) => Check::Short(need),
            Check::Bad(why) => Check::Bad(why),
        }
    }
}

#[derive(Copy, Clone)]
struct NgFraming {
    big_endian: bool,
}

/// An enhanced packet block's fields (pcapng §4.3) that make its packet.
#[derive(Debug, PartialEq, Eq)]
struct EnhancedPacket<'a> {
    if_id: u32,
    /// The timestamp in the interface's units: the high word, then the low one.
    ts: u64,
    origlen: u32,
    /// The captured bytes, without the padding.
    data: &'a [u8],
}

impl NgFraming {
    /// The 32-bit word at `i` in the section's byte order (`b` holds it).
    fn u32_at(&self, b: &[u8], i: usize) -> u32 {
        let v = [b[i], b[i + 1], b[i + 2], b[i + 3]];
        if self.big_endian {
            u32::from_be_bytes(v)
        } else {
            u32::from_le_bytes(v)
        }
    }

    /// Reads an enhanced packet block, `block` being all of it (its framing checked). `None`
    /// where pcap-parser 0.17 fails on it: a block shorter than its fixed fields, or a
    /// captured length (padded to 32 bits) running past them. Its options are not read (a
    /// packet's options carry nothing used here; pcap-parser never fails on them).
    #[inline]
    fn enhanced_packet<'a>(&self, block: &'a [u8]) -> Option<EnhancedPacket<'a>> {
        if block.len() < 32 {
            return None;
        }
        let caplen = u64::from(self.u32_at(block, 20));
        if caplen.next_multiple_of(4) > (block.len() - 32) as u64 {
            return None;
        }
        Some(EnhancedPacket {
            if_id: self.u32_at(block, 8),
            ts: (u64::from(self.u32_at(block, 12)) << 32) | u64::from(self.u32_at(block, 16)),
            origlen: self.u32_at(block, 24),
            data: &block[28..28 + caplen as usize],
        })
    }

    fn block_len(&self, b: &[u8]) -> Option<usize> {
        let v: [u8; 4] = b.get(4..8)?.try_into().ok()?;
        // A section header's length is in the byte order its own magic announces.
        let big = if b.starts_with(&SHB_MAGIC) {
            b.get(8..12)? == [0x1a, 0x2b, 0x3c, 0x4d]
        } else {
            self.big_endian
        };
        Some(if big {
            u32::from_be_bytes(v)
        } else {
            u32::from_le_bytes(v)
        } as usize)
    }

    /// Checks block framing: a length that is a multiple of 4, at least 12, repeated at
    /// the block's end (pcapng §3.1).
    #[inline]
    fn check(&self, b: &[u8]) -> Check {
        let Some(len) = self.block_len(b) else {
            return Check::Short(12);
        };
        if len < 12 || len % 4 != 0 || len > MAX_BLOCK {
            return Check::Bad(Bad::BlockLength(len));
        }
        if len > b.len() {
            return Check::Short(len);
        }
        let trailer = NgFraming {
            big_endian: self.big_endian,
        }
        .block_len(&b[len - 8..]);
        if trailer != Some(len) && !b.starts_with(&SHB_MAGIC) {
            return Check::Bad(Bad::Trailer(len));
        }
        Check::Record(len)
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
        assert_eq!(r.warnings[0].kind, WarningKind::CorruptRecord);
        assert!(
            r.warnings[0].message.contains("exceeds the snaplen"),
            "{}",
            r.warnings[0].message
        );
    }

    #[test]
    fn corrupt_record_in_the_middle_is_skipped() {
        let one = tiny_pcap();
        let record = &one[24..];
        let mut bytes = one.clone();
        bytes.extend_from_slice(&[0xff; 16]); // garbage where a record header should be
        bytes.extend_from_slice(&[0xee; 7]);
        bytes.extend_from_slice(record);
        bytes.extend_from_slice(record);
        let r = RecordReader::new("t.pcap", 0, &bytes).unwrap();
        let mut r = r;
        let packets: Vec<_> = r.by_ref().collect();
        assert_eq!(packets.len(), 3);
        assert_eq!(r.warnings.len(), 1, "{:?}", r.warnings);
        assert_eq!(r.warnings[0].kind, WarningKind::CorruptRecord);
        assert!(
            r.warnings[0].message.contains("skipped 23 bytes"),
            "{}",
            r.warnings[0].message
        );
    }

    /// A small deterministic generator (xorshift64*) for the property tests below.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
        fn bytes(&mut self, n: usize) -> Vec<u8> {
            (0..n).map(|_| self.next() as u8).collect()
        }
    }

    fn word(big: bool, x: u32) -> [u8; 4] {
        if big {
            x.to_be_bytes()
        } else {
            x.to_le_bytes()
        }
    }

    /// The record walk reads what pcap-parser's `parse_pcap_frame`(`_be`) reads wherever
    /// the check accepts a record: both byte orders, µs and ns, lengths in and out of range.
    #[test]
    fn pcap_record_walk_agrees_with_pcap_parser() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let mut accepted = 0;
        for _ in 0..20_000 {
            let big = rng.below(2) == 1;
            let units = if rng.below(2) == 1 {
                1_000_000_000
            } else {
                1_000_000
            };
            let f = PcapFraming {
                big_endian: big,
                units,
                max_record: MAX_SNAPLEN,
                header: 16,
            };
            let caplen = match rng.below(8) {
                0 => rng.next() as u32,
                1 => MAX_SNAPLEN + rng.below(3) as u32 - 1,
                _ => rng.below(300) as u32,
            };
            let frac = match rng.below(4) {
                0 => rng.next() as u32,
                _ => rng.below(units) as u32,
            };
            let origlen = caplen.wrapping_add(rng.below(3) as u32).wrapping_sub(1);
            let mut b = Vec::new();
            for x in [rng.next() as u32, frac, caplen, origlen] {
                b.extend_from_slice(&word(big, x));
            }
            let extra = rng.below(320) as usize;
            b.extend(rng.bytes(extra));
            b.truncate(rng.below(b.len() as u64 + 1) as usize);
            let parsed = if big {
                pcap_parser::parse_pcap_frame_be(&b)
            } else {
                pcap_parser::parse_pcap_frame(&b)
            };
            match f.record(&b, None) {
                Check::Record(r) => {
                    accepted += 1;
                    let (rest, frame) = parsed.expect("pcap-parser reads an accepted record");
                    assert_eq!(
                        (r.sec, r.frac, r.caplen, r.origlen),
                        (frame.ts_sec, frame.ts_usec, frame.caplen, frame.origlen)
                    );
                    assert_eq!(&b[16..f.len(&r)], frame.data);
                    assert_eq!(b.len() - f.len(&r), rest.len());
                    assert!(matches!(f.check(&b, None), Check::Record(n) if n == f.len(&r)));
                }
                Check::Short(need) => {
                    assert!(need > b.len());
                    assert!(parsed.is_err(), "a short record does not parse");
                }
                Check::Bad(_) => {}
            }
        }
        assert!(accepted > 2_000, "{accepted}");
    }

    /// The enhanced packet block is read as pcap-parser's `parse_block_le`/`_be` reads it
    /// (or fails) wherever the block framing is sound: both byte orders, captured lengths
    /// in and past the block, options, blocks shorter than the fixed fields.
    #[test]
    fn enhanced_packet_blocks_agree_with_pcap_parser() {
        use pcap_parser::pcapng::{parse_block_be, parse_block_le};
        let mut rng = Rng(0x0123_4567_89ab_cdef);
        let (mut read, mut refused) = (0, 0);
        for _ in 0..20_000 {
            let big = rng.below(2) == 1;
            let f = NgFraming { big_endian: big };
            let data_len = rng.below(200) as usize;
            let caplen = match rng.below(6) {
                0 => rng.next() as u32,
                1 => (data_len + rng.below(8) as usize) as u32,
                _ => data_len as u32,
            };
            let mut body = Vec::new();
            for x in [
                rng.below(3) as u32,
                rng.next() as u32,
                rng.next() as u32,
                caplen,
                rng.next() as u32,
            ] {
                body.extend_from_slice(&word(big, x));
            }
            body.extend(rng.bytes(data_len));
            body.resize(body.len().next_multiple_of(4), 0);
            if rng.below(3) == 0 {
                let n = 4 * rng.below(6) as usize;
                body.extend(rng.bytes(n));
            }
            if rng.below(8) == 0 {
                body.truncate(4 * rng.below(6) as usize);
            }
            let len = 12 + body.len() as u32;
            let mut b = word(big, EPB_TYPE).to_vec();
            b.extend_from_slice(&word(big, len));
            b.extend_from_slice(&body);
            b.extend_from_slice(&word(big, len));
            let Check::Record(n) = f.check(&b) else {
                continue;
            };
            assert_eq!(n, b.len());
            let parsed = if big {
                parse_block_be(&b)
            } else {
                parse_block_le(&b)
            };
            match (f.enhanced_packet(&b), parsed) {
                (Some(epb), Ok((rest, Block::EnhancedPacket(e)))) => {
                    read += 1;
                    assert!(rest.is_empty());
                    let data = &e.data[..(e.caplen as usize).min(e.data.len())];
                    let ts = (u64::from(e.ts_high) << 32) | u64::from(e.ts_low);
                    let expected = EnhancedPacket {
                        if_id: e.if_id,
                        ts,
                        origlen: e.origlen,
                        data,
                    };
                    assert_eq!(epb, expected);
                }
                (None, Err(_)) => refused += 1,
                (ours, theirs) => panic!("ours {ours:?}, pcap-parser {theirs:?}"),
            }
        }
        assert!(read > 5_000 && refused > 1_000, "{read} {refused}");
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
