//! Capture input: files, folders and streams, read in chunks, merged into one packet stream.
//!
//! A capture can be one file, a rotated set (`tcpdump -C`/`-G`), a folder, or a stream
//! (`-` for standard input, a pipe or a FIFO). Connections cross file boundaries, so all
//! files are read together and merged by timestamp (a k-way merge; each file is assumed to
//! be in time order, which tcpdump guarantees, and a file that is not gets a warning).
//!
//! Files are read with ordinary reads into chunks, not memory-mapped: a file truncated or
//! replaced while it is read ends early with a warning (a mapping would raise SIGBUS), and
//! a folder of any number of files needs no mapping per file. A file is opened only from
//! the time its first packet comes up in the merge until its last, so a rotated capture
//! of any number of files holds one or two open at a time.

#[cfg(feature = "libpcap")]
pub mod bpf;
mod link;
mod reader;

pub use link::{decode, Datagram, Packet, Segment, Skip, TcpFlags};
pub use reader::{
    prefetch, sniff_format, Format, LinkType, RawPacket, RecordReader, Step, MAX_SNAPLEN,
};

use crate::diag::{Diagnostics, Location, Warning, WarningKind};
use crate::time::Timestamp;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Where a capture's bytes come from.
enum Source {
    /// A regular file, opened again when its turn in the merge comes; `id` tells whether
    /// the path still names the file that was probed.
    File { size: u64, id: FileId },
    /// A stream (standard input, a pipe, a FIFO): read once, front to back. The bytes read
    /// while probing it are kept.
    Stream(Mutex<Option<StreamStart>>),
    /// Bytes already in memory (tests, fuzzing).
    Owned(Arc<Vec<u8>>),
}

/// A stream's first bytes (read to find its first packet) and the rest of it.
struct StreamStart {
    head: Vec<u8>,
    more: bool,
    input: Box<dyn Read + Send>,
}

/// What identifies a file on disk (device and inode on Unix).
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
struct FileId(u64, u64);

impl FileId {
    fn of(meta: &std::fs::Metadata) -> FileId {
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            FileId(meta.dev(), meta.ino())
        }
        #[cfg(not(unix))]
        {
            let _ = meta;
            FileId(0, 0)
        }
    }
}

/// One capture file (or stream), checked to be a capture.
pub struct CaptureFile {
    /// The path, as given or as found in a folder (`-`: standard input).
    pub path: PathBuf,
    /// The display name used in warnings.
    pub name: String,
    source: Source,
    /// The time of its first packet (`None`: it has none before something goes wrong).
    first_ts: Option<Timestamp>,
}

impl CaptureFile {
    /// The file's size when it was opened (`None` for a stream).
    pub fn size(&self) -> Option<u64> {
        match &self.source {
            Source::File { size, .. } => Some(*size),
            Source::Stream(_) => None,
            Source::Owned(v) => Some(v.len() as u64),
        }
    }
}

/// All files of one capture, checked; read with [`CaptureSet::packets`].
pub struct CaptureSet {
    /// The usable files, in the order given (folders expanded, sorted by name).
    pub files: Vec<CaptureFile>,
    /// Chunks the readers have moved past, kept while packets may still borrow from them.
    retired: Mutex<Retired>,
}

/// Chunks no reader uses any more, in the order they were left, and how many of them
/// were already released.
#[derive(Default)]
struct Retired {
    released: u64,
    chunks: VecDeque<Arc<Vec<u8>>>,
    /// Buffers of released chunks, kept for the next chunks (at most [`SPARE_CHUNKS`]): a
    /// fresh buffer costs a page fault per 4 KiB page, about a fifth of the reading's
    /// time on a fast file.
    spare: Vec<Vec<u8>>,
}

/// How many released chunk buffers are kept for reuse.
const SPARE_CHUNKS: usize = 4;

/// Expands folders into the capture files they hold (by content, not by extension),
/// sorted by name; plain paths are kept as given. A file in a folder that cannot be read
/// is reported (kind [`WarningKind::UnusableFile`]) rather than skipped silently; files
/// that are readable but not captures are left out.
pub fn expand_inputs(inputs: &[PathBuf], diags: &mut Diagnostics) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for input in inputs {
        if input.is_dir() {
            let entries: Vec<PathBuf> = match std::fs::read_dir(input) {
                Ok(rd) => rd.filter_map(|e| e.ok().map(|e| e.path())).collect(),
                Err(e) => {
                    diags.push(unusable(input, format!("cannot read folder: {e}")));
                    continue;
                }
            };
            let mut found = Vec::new();
            for p in entries.into_iter().filter(|p| p.is_file()) {
                match looks_like_capture(&p) {
                    Ok(true) => found.push(p),
                    Ok(false) => {}
                    Err(e) => diags.push(unusable(&p, format!("cannot read: {e}"))),
                }
            }
            found.sort();
            if found.is_empty() {
                diags.push(unusable(
                    input,
                    "folder holds no pcap or pcapng file".into(),
                ));
            }
            out.extend(found);
        } else {
            out.push(input.clone());
        }
    }
    out
}

/// Whether the file starts like a capture; an error when it cannot be read at all.
fn looks_like_capture(path: &Path) -> std::io::Result<bool> {
    let mut magic = [0u8; 4];
    match File::open(path)?.read_exact(&mut magic) {
        Ok(()) => Ok(sniff_format(&magic).is_some()),
        // Shorter than a magic number: not a capture.
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(false),
        Err(e) => Err(e),
    }
}

fn unusable(path: &Path, message: String) -> Warning {
    Warning {
        kind: WarningKind::UnusableFile,
        location: Location {
            file: path.display().to_string(),
            packet: None,
            offset: None,
        },
        message,
    }
}

/// The name that stands for standard input.
pub const STDIN: &str = "-";

/// Bytes read at first to find a file's header and first packet (more when its first
/// record is larger).
const PROBE: usize = 4096;
/// The most bytes read to find a file's first packet; a file whose first packet lies
/// further is read first of all.
const PROBE_MAX: usize = 64 << 20;
/// Chunk sizes: the memory for chunks is about [`CHUNK_BUDGET`] over the files being
/// read at one time, each chunk between [`CHUNK_MIN`] and [`CHUNK_MAX`] (or one record,
/// when a record is larger).
const CHUNK_BUDGET: usize = 64 << 20;
// The unit tests read in tiny chunks, so that records and resynchronisations cross them.
const CHUNK_MIN: usize = if cfg!(test) { 256 } else { 16 << 10 };
const CHUNK_MAX: usize = if cfg!(test) { 1024 } else { 4 << 20 };

impl CaptureSet {
    /// Checks every file: that it can be opened and is a capture, and the time of its
    /// first packet. A file that cannot be used is reported in `diags` (kind
    /// [`WarningKind::UnusableFile`]) and left out; the others are still read. `-` is
    /// standard input; pipes, FIFOs and other files that are not regular are read as
    /// streams. Nothing stays open: a file is opened again when it is read.
    pub fn open(paths: &[PathBuf], diags: &mut Diagnostics) -> CaptureSet {
        let mut files = Vec::new();
        for path in paths {
            match open_one(path) {
                Ok(f) => files.push(f),
                Err(message) => diags.push(unusable(path, message)),
            }
        }
        CaptureSet::of(files)
    }

    fn of(files: Vec<CaptureFile>) -> CaptureSet {
        CaptureSet {
            files,
            retired: Mutex::default(),
        }
    }

    /// A capture held in memory, named `name` in warnings. Errors when it is not a capture.
    pub fn from_bytes(name: &str, bytes: Vec<u8>) -> Result<CaptureSet, NotACapture> {
        let first_ts = RecordReader::new(name, 0, &bytes)
            .map_err(|reason| NotACapture {
                name: name.to_string(),
                reason,
            })?
            .next()
            .map(|p| p.ts);
        let file = CaptureFile {
            path: PathBuf::from(name),
            name: name.to_string(),
            source: Source::Owned(Arc::new(bytes)),
            first_ts,
        };
        Ok(CaptureSet::of(vec![file]))
    }

    /// A count of the chunks the readers have left so far: after every packet read before
    /// this call has been dropped, [`CaptureSet::release_retired`] with it frees them.
    pub fn retired_mark(&self) -> u64 {
        let r = lock(&self.retired);
        r.released + r.chunks.len() as u64
    }

    /// Frees the chunks left before `mark` (a [`CaptureSet::retired_mark`]), so memory
    /// stays flat however large the capture.
    ///
    /// # Safety
    ///
    /// Packets borrow their bytes from the chunks: no packet read from this set (by any
    /// [`Merged`]) before the call to `retired_mark` that returned `mark` may be used
    /// after this call.
    pub unsafe fn release_retired(&self, mark: u64) {
        let mut freed = Vec::new();
        {
            let mut r = lock(&self.retired);
            let n = mark.saturating_sub(r.released).min(r.chunks.len() as u64);
            r.released += n;
            for chunk in r.chunks.drain(..n as usize).collect::<Vec<_>>() {
                match Arc::try_unwrap(chunk) {
                    Ok(mut bytes) if r.spare.len() < SPARE_CHUNKS => {
                        bytes.clear();
                        r.spare.push(bytes);
                    }
                    other => freed.push(other),
                }
            }
        }
        // Freed outside the lock.
        drop(freed);
    }

    /// An empty buffer with room for `want` bytes: a released chunk's when one is kept.
    fn chunk_buffer(&self, want: usize) -> Vec<u8> {
        let mut bytes = lock(&self.retired).spare.pop().unwrap_or_default();
        bytes.reserve(want);
        bytes
    }

    fn retire(&self, chunk: Arc<Vec<u8>>) {
        lock(&self.retired).chunks.push_back(chunk);
    }

    /// Total size of all files in bytes, as they were when opened (streams count 0).
    pub fn total_bytes(&self) -> u64 {
        self.files.iter().filter_map(CaptureFile::size).sum()
    }

    /// All packets of all files, merged in timestamp order. A stream's packets can be read
    /// once: a second call sees the stream empty.
    pub fn packets(&self) -> Merged<'_> {
        let mut merged = Merged {
            set: self,
            cursors: (0..self.files.len()).map(|_| Cursor::Waiting).collect(),
            heads: BinaryHeap::new(),
            head: None,
            pending: vec![None; self.files.len()],
            reading: 0,
            done_bytes: 0,
            stream_bytes: 0,
            lost: Vec::new(),
        };
        for (i, f) in self.files.iter().enumerate() {
            // A file without a first packet still has its warnings to give: first of all.
            let ts = f.first_ts.unwrap_or(Timestamp(i64::MIN));
            merged.heads.push(Reverse((ts, i as u32, 0)));
        }
        merged
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Bytes given as a capture that are neither pcap nor pcapng.
#[derive(Debug, thiserror::Error)]
#[error("{reason}")]
pub struct NotACapture {
    /// The name the bytes were given under.
    pub name: String,
    /// What the reader found (it names the file).
    pub reason: String,
}

fn open_one(path: &Path) -> Result<CaptureFile, String> {
    let name = path.display().to_string();
    if path.as_os_str() == STDIN {
        let stdin: Box<dyn Read + Send> = Box::new(std::io::stdin());
        return open_stream(path, name, stdin);
    }
    let mut file = File::open(path).map_err(|e| format!("cannot open: {e}"))?;
    let meta = file.metadata().map_err(|e| format!("cannot stat: {e}"))?;
    if meta.is_dir() {
        return Err("is a folder".into());
    }
    if !meta.is_file() {
        return open_stream(path, name, Box::new(file));
    }
    if meta.len() == 0 {
        return Err("file is empty".into());
    }
    let size = meta.len();
    let first_ts = probe(&name, |buf, want| {
        let more = read_up_to(&mut file, buf, want).map_err(|e| format!("cannot read: {e}"))?;
        Ok(more && (buf.len() as u64) < size)
    })?
    .first_ts;
    Ok(CaptureFile {
        path: path.to_path_buf(),
        name,
        source: Source::File {
            size,
            id: FileId::of(&meta),
        },
        first_ts,
    })
}

fn open_stream(
    path: &Path,
    name: String,
    mut input: Box<dyn Read + Send>,
) -> Result<CaptureFile, String> {
    let Probe {
        head,
        more,
        first_ts,
    } = probe(&name, |buf, want| {
        read_up_to(&mut input, buf, want).map_err(|e| format!("cannot read: {e}"))
    })?;
    if head.is_empty() {
        return Err("stream is empty".into());
    }
    Ok(CaptureFile {
        path: path.to_path_buf(),
        name,
        source: Source::Stream(Mutex::new(Some(StreamStart { head, more, input }))),
        first_ts,
    })
}

/// The start of a file, read to find its first packet.
struct Probe {
    /// The bytes read.
    head: Vec<u8>,
    /// More bytes may follow them.
    more: bool,
    /// The first packet's time, when one was found.
    first_ts: Option<Timestamp>,
}

/// Reads the start of a file with `read(buf, want)` (appends until `buf` holds `want`
/// bytes or the input ends; returns whether more may follow) until its first packet:
/// errors when it is not a capture.
fn probe(
    name: &str,
    mut read: impl FnMut(&mut Vec<u8>, usize) -> Result<bool, String>,
) -> Result<Probe, String> {
    let mut head = Vec::new();
    let mut more = read(&mut head, PROBE)?;
    loop {
        let mut reader = RecordReader::new_partial(name, 0, &head, more)
            .map_err(|e| e.trim_start_matches(&format!("{name}: ")).to_string())?;
        let need = match reader.step() {
            Step::Packet(p) => Some(p.ts),
            Step::End => None,
            Step::NeedMore(_) if head.len() >= PROBE_MAX => None,
            Step::NeedMore(n) => {
                let have = head.len();
                let want = (reader.chunk_position() + n).max(have * 2);
                more = read(&mut head, want.min(PROBE_MAX).max(have + 1))?;
                continue;
            }
        };
        return Ok(Probe {
            head,
            more,
            first_ts: need,
        });
    }
}

/// Appends to `buf` from `input` until it holds `want` bytes or the input ends; returns
/// whether the input may hold more.
fn read_up_to(input: &mut dyn Read, buf: &mut Vec<u8>, want: usize) -> std::io::Result<bool> {
    if buf.len() >= want {
        return Ok(true);
    }
    let missing = (want - buf.len()) as u64;
    let got = input.take(missing).read_to_end(buf)? as u64;
    Ok(got == missing)
}

/// A k-way merge of the files' packets by timestamp (ties: file order, then packet order).
///
/// A file is opened when its first packet is the next in the merge and closed after its
/// last; while open it holds one chunk of its bytes (the packets borrow from it).
pub struct Merged<'a> {
    set: &'a CaptureSet,
    cursors: Vec<Cursor<'a>>,
    /// Per file being read, its next packet's key; per file waiting, its first packet's
    /// key with packet number 0. Except the key of the file read last, which is in `head`.
    heads: BinaryHeap<Reverse<Key>>,
    /// The key of the file read last (after [`Merged::refill`]), kept out of the heap: it
    /// is usually the next one again (always with one file), and a comparison with the
    /// heap's top says so without a push and a pop.
    head: Option<Reverse<Key>>,
    pending: Vec<Option<RawPacket<'a>>>,
    /// Files open now.
    reading: usize,
    /// Bytes of the files already read to their end.
    done_bytes: u64,
    /// Bytes of streams read to their end.
    stream_bytes: u64,
    /// Warnings about files that could not be read when their turn came.
    lost: Vec<Warning>,
}

/// A packet's place in the merge: timestamp, file index, packet number (0: the file's
/// first packet, before the file is opened).
type Key = (Timestamp, u32, u64);

/// One file's place in the merge.
enum Cursor<'a> {
    /// Not opened yet.
    Waiting,
    /// Being read.
    Reading(Box<Reading<'a>>),
    /// Read to its end (or given up on, with a warning).
    Done,
}

/// A file being read: its reader over the current chunk, and where more bytes come from.
struct Reading<'a> {
    reader: RecordReader<'a>,
    chunk: Arc<Vec<u8>>,
    input: Input,
}

/// Where a file being read gets its next chunk.
enum Input {
    /// A regular file: read up to the size it had when opened (bytes appended later are
    /// not read), its size checked again at every chunk.
    File { file: File, size: u64 },
    /// A stream, to its end.
    Stream(Box<dyn Read + Send>),
    /// Nothing more: the chunk is all there is.
    None,
}

/// Borrows a chunk's bytes for as long as the capture set lives.
///
/// # Safety
///
/// The chunk must stay alive that long or until [`CaptureSet::release_retired`] frees it:
/// the caller keeps it in a [`Reading`] and hands it to the set's retired chunks when it
/// leaves it (also when the [`Merged`] is dropped). Its bytes are never written again.
unsafe fn borrow_chunk<'a>(chunk: &Arc<Vec<u8>>) -> &'a [u8] {
    // SAFETY: see above; the `Vec`'s heap buffer does not move while the `Arc` holds it.
    unsafe { std::slice::from_raw_parts(chunk.as_ptr(), chunk.len()) }
}

impl<'a> Merged<'a> {
    /// The chunk size while `reading` files are open.
    fn chunk_len(&self) -> usize {
        (CHUNK_BUDGET / self.reading.max(1)).clamp(CHUNK_MIN, CHUNK_MAX)
    }

    /// Opens file `i`: its first chunk and its reader. `None` when it cannot be read (a
    /// warning says why) or a stream was already read.
    fn start(&mut self, i: usize) -> Option<Box<Reading<'a>>> {
        let f = &self.set.files[i];
        let (bytes, more, input) = match &f.source {
            Source::Owned(bytes) => (bytes.clone(), false, Input::None),
            Source::Stream(start) => {
                let StreamStart { head, more, input } = lock(start).take()?;
                (Arc::new(head), more, Input::Stream(input))
            }
            Source::File { size, id } => {
                let size = *size;
                let opened = File::open(&f.path).and_then(|file| {
                    let meta = file.metadata()?;
                    Ok((file, meta))
                });
                let mut file = match opened {
                    Ok((file, meta)) if FileId::of(&meta) == *id => file,
                    Ok(_) => {
                        self.warn_lost(i, "another file took its name since it was opened");
                        return None;
                    }
                    Err(e) => {
                        self.warn_lost(i, &format!("cannot open it again: {e}"));
                        return None;
                    }
                };
                let mut head = Vec::new();
                let want = self
                    .chunk_len()
                    .min(usize::try_from(size).unwrap_or(usize::MAX));
                let more = match read_up_to(&mut file, &mut head, want) {
                    Ok(_) if head.len() < want => {
                        // It shrank since it was probed: what is left is read.
                        self.lost.push(Warning {
                            kind: WarningKind::TruncatedFile,
                            location: Location {
                                file: f.name.clone(),
                                packet: None,
                                offset: Some(head.len() as u64),
                            },
                            message: format!(
                                "the file shrank from {size} to {} bytes before its turn came; \
                                 what is left of it is read",
                                head.len()
                            ),
                        });
                        false
                    }
                    Ok(more) => more && (head.len() as u64) < size,
                    Err(e) => {
                        self.warn_lost(i, &format!("cannot read: {e}"));
                        return None;
                    }
                };
                (Arc::new(head), more, Input::File { file, size })
            }
        };
        // SAFETY: the chunk is kept in the Reading, and retired when it is left.
        let slice = unsafe { borrow_chunk(&bytes) };
        match RecordReader::new_partial(&f.name, i as u32, slice, more) {
            Ok(reader) => Some(Box::new(Reading {
                reader,
                chunk: bytes,
                input,
            })),
            Err(e) => {
                self.set.retire(bytes);
                let why = format!("it changed since it was opened: {e}");
                self.warn_lost(i, &why);
                None
            }
        }
    }

    /// A file that could not be read when its turn came.
    fn warn_lost(&mut self, i: usize, why: &str) {
        self.lost.push(Warning {
            kind: WarningKind::TruncatedFile,
            location: Location {
                file: self.set.files[i].name.clone(),
                packet: None,
                offset: None,
            },
            message: format!("{why}; none of its packets were read"),
        });
    }

    /// Gives the reader of file `i` the bytes from where it stands on, at least `need`
    /// (fewer when the file ends there). The chunk it leaves is retired.
    #[cold]
    #[inline(never)]
    fn read_more(&mut self, i: usize, need: usize) {
        let chunk_len = self.chunk_len();
        let Cursor::Reading(r) = &mut self.cursors[i] else {
            return;
        };
        let rest = &r.chunk[r.reader.chunk_position()..];
        let want = need.max(chunk_len).max(rest.len() + 1);
        let mut bytes = self.set.chunk_buffer(want);
        bytes.extend_from_slice(rest);
        let offset = r.reader.position();
        let more = match &mut r.input {
            Input::None => false,
            Input::Stream(input) => match read_up_to(input, &mut bytes, want) {
                Ok(more) => more,
                Err(e) => {
                    r.reader.warn_next(
                        WarningKind::TruncatedFile,
                        format!("read failed: {e}; the rest is ignored"),
                    );
                    false
                }
            },
            Input::File { file, size } => {
                read_file_chunk(file, *size, offset, &mut bytes, want, &mut r.reader)
            }
        };
        let new = Arc::new(bytes);
        // SAFETY: the chunk is kept in the Reading, and retired when it is left.
        r.reader.refill(unsafe { borrow_chunk(&new) }, more);
        let old = std::mem::replace(&mut r.chunk, new);
        self.set.retire(old);
    }

    /// Reads file `i`'s next packet into `pending` and its key into `head` (empty before:
    /// see [`Merged::next`]); closes the file at its end.
    fn refill(&mut self, i: usize) {
        let next = self.step_file(i);
        match &next {
            Some(p) => self.head = Some(Reverse((p.ts, i as u32, p.number))),
            None => self.close(i),
        }
        self.pending[i] = next;
    }

    /// File `i`'s next packet, reading more of the file as needed; `None` at its end (the
    /// caller closes it).
    #[inline]
    fn step_file(&mut self, i: usize) -> Option<RawPacket<'a>> {
        loop {
            let Cursor::Reading(r) = &mut self.cursors[i] else {
                return None;
            };
            match r.reader.step() {
                Step::Packet(p) => return Some(p),
                Step::End => return None,
                Step::NeedMore(need) => self.read_more(i, need),
            }
        }
    }

    /// Appends the next packets to `out` until it holds `max` or the capture ends: the
    /// packets `max - out.len()` calls of [`Iterator::next`] return, in the same order,
    /// with the same reading ahead. While one file stays first (always, with one file),
    /// its packets go to `out` as they are read, with one comparison each against the
    /// first packet of the other files, instead of a pass through the merge per packet.
    pub fn read_into(&mut self, out: &mut Vec<RawPacket<'a>>, max: usize) {
        out.reserve(max.saturating_sub(out.len()));
        while out.len() < max {
            // The file read last, when it is still first (before every key in the heap).
            let first = self
                .head
                .filter(|Reverse(head)| self.heads.peek().is_none_or(|Reverse(top)| head < top));
            let Some(Reverse((_, i, _))) = first else {
                // Another file is first (or is to be opened): one packet through the merge.
                match self.next() {
                    Some(p) => out.push(p),
                    None => return,
                }
                continue;
            };
            let i = i as usize;
            // The heap does not change while file `i` is read: its top bounds the run.
            let bound = self.heads.peek().map(|Reverse(top)| *top);
            self.head = None;
            let Some(p) = self.pending[i].take() else {
                continue;
            };
            out.push(p);
            loop {
                let Cursor::Reading(r) = &mut self.cursors[i] else {
                    self.close(i);
                    break;
                };
                match r.reader.read_run(out, max, bound) {
                    Step::Packet(n) => {
                        // Read ahead, as `refill` does: the file's next packet waits in
                        // the merge.
                        self.head = Some(Reverse((n.ts, i as u32, n.number)));
                        self.pending[i] = Some(n);
                        break;
                    }
                    Step::NeedMore(need) => self.read_more(i, need),
                    Step::End => {
                        self.close(i);
                        break;
                    }
                }
            }
        }
    }

    /// Closes file `i`: its chunk is retired, its warnings kept.
    fn close(&mut self, i: usize) {
        if let Cursor::Reading(r) = std::mem::replace(&mut self.cursors[i], Cursor::Done) {
            let Reading {
                mut reader,
                chunk,
                input,
            } = *r;
            self.done_bytes += reader.position();
            if let Input::Stream(_) = input {
                self.stream_bytes += reader.position();
            }
            self.lost.append(&mut reader.warnings);
            self.set.retire(chunk);
            self.reading -= 1;
        }
    }

    /// Moves the warnings the readers found so far into `diags`.
    pub fn drain_warnings(&mut self, diags: &mut Diagnostics) {
        for w in self.lost.drain(..) {
            diags.push(w);
        }
        for c in &mut self.cursors {
            if let Cursor::Reading(r) = c {
                for w in r.reader.warnings.drain(..) {
                    diags.push(w);
                }
            }
        }
    }

    /// Bytes read from streams (which [`CaptureSet::total_bytes`] cannot count), once
    /// they were read to their end.
    pub fn stream_bytes(&self) -> u64 {
        self.stream_bytes
    }

    /// Bytes read so far over all files.
    pub fn position(&self) -> u64 {
        let reading: u64 = self
            .cursors
            .iter()
            .map(|c| match c {
                Cursor::Reading(r) => r.reader.position(),
                _ => 0,
            })
            .sum();
        self.done_bytes + reading
    }
}

/// Reads the bytes of a regular file of `size` bytes (when opened) from `offset +
/// bytes.len()` on, appending to `bytes` until it holds `want` or the file ends; returns
/// whether more may follow. A file that shrank meanwhile (truncated, rewritten) ends
/// there, with a `truncated_file` warning on `reader`.
fn read_file_chunk(
    file: &mut File,
    size: u64,
    offset: u64,
    bytes: &mut Vec<u8>,
    want: usize,
    reader: &mut RecordReader<'_>,
) -> bool {
    let from = offset + bytes.len() as u64;
    let end = size.min(offset.saturating_add(want as u64));
    let shrank = |reader: &mut RecordReader<'_>, now: u64| {
        reader.warn_next(
            WarningKind::TruncatedFile,
            format!(
                "the file shrank from {size} to {now} bytes while it was read (truncated or \
                 rewritten); the packets read before byte {from} are kept, the rest is ignored"
            ),
        );
        false
    };
    let now = file.metadata().map(|m| m.len()).unwrap_or(0);
    if now < size {
        return shrank(reader, now);
    }
    let read = file.seek(SeekFrom::Start(from)).and_then(|_| {
        let missing = end.saturating_sub(from);
        (&mut *file).take(missing).read_to_end(bytes)
    });
    let got_to = offset + bytes.len() as u64;
    if let Err(e) = read {
        reader.warn_next(
            WarningKind::TruncatedFile,
            format!("read failed at byte {got_to}: {e}; the rest is ignored"),
        );
        return false;
    }
    if got_to < end {
        return shrank(reader, got_to);
    }
    got_to < size
}

impl<'a> Iterator for Merged<'a> {
    type Item = RawPacket<'a>;

    fn next(&mut self) -> Option<RawPacket<'a>> {
        loop {
            // The smallest key of `head` and the heap's, which takes the other's place.
            // Keys are unique (file index, packet number), so this is the heap's order.
            let Reverse((_, i, number)) = match self.head.take() {
                None => self.heads.pop()?,
                Some(head) => match self.heads.peek_mut() {
                    Some(mut top) if *top > head => std::mem::replace(&mut *top, head),
                    _ => head,
                },
            };
            let i = i as usize;
            if number == 0 && matches!(self.cursors[i], Cursor::Waiting) {
                // This file's first packet is next: open it.
                match self.start(i) {
                    Some(r) => {
                        self.cursors[i] = Cursor::Reading(r);
                        self.reading += 1;
                        self.refill(i);
                    }
                    None => self.cursors[i] = Cursor::Done,
                }
                continue;
            }
            let p = self.pending[i].take();
            self.refill(i);
            return p;
        }
    }
}

impl Drop for Merged<'_> {
    /// Packets read may outlive the merge: the chunks still in use go to the set.
    fn drop(&mut self) {
        for i in 0..self.cursors.len() {
            self.close(i);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file in the temporary folder, removed when dropped.
    struct Temp(PathBuf);

    impl Temp {
        fn new(name: &str, bytes: &[u8]) -> Temp {
            let p = std::env::temp_dir()
                .join(format!("teardown-capture-{}-{name}", std::process::id()));
            std::fs::write(&p, bytes).unwrap();
            Temp(p)
        }
    }

    impl Drop for Temp {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    /// A little-endian µs pcap (raw IP) with one record per `(seconds, bytes)`.
    fn pcap(records: &[(u32, Vec<u8>)]) -> Vec<u8> {
        let mut v = Vec::new();
        for x in [0xa1b2_c3d4u32, 0x0004_0002, 0, 0, 65535, 101] {
            v.extend_from_slice(&x.to_le_bytes());
        }
        for (sec, data) in records {
            for x in [*sec, 0, data.len() as u32, data.len() as u32] {
                v.extend_from_slice(&x.to_le_bytes());
            }
            v.extend_from_slice(data);
        }
        v
    }

    /// pcapng blocks in either byte order.
    struct Ng {
        big: bool,
        out: Vec<u8>,
    }

    impl Ng {
        fn u16(&self, x: u16) -> [u8; 2] {
            if self.big {
                x.to_be_bytes()
            } else {
                x.to_le_bytes()
            }
        }
        fn u32(&self, x: u32) -> [u8; 4] {
            if self.big {
                x.to_be_bytes()
            } else {
                x.to_le_bytes()
            }
        }
        fn block(&mut self, kind: u32, body: &[u8]) {
            let len = 12 + body.len() as u32;
            let mut b = self.u32(kind).to_vec();
            b.extend_from_slice(&self.u32(len));
            b.extend_from_slice(body);
            b.extend_from_slice(&self.u32(len));
            self.out.extend_from_slice(&b);
        }
        fn section(&mut self) {
            let mut body = self.u32(0x1a2b_3c4d).to_vec();
            body.extend_from_slice(&self.u16(1));
            body.extend_from_slice(&self.u16(0));
            body.extend_from_slice(&[0xff; 8]);
            self.block(0x0a0d_0d0a, &body);
        }
        /// An interface (raw IP) with these options (code, value).
        fn interface(&mut self, options: &[(u16, Vec<u8>)]) {
            let mut body = self.u16(101).to_vec();
            body.extend_from_slice(&self.u16(0));
            body.extend_from_slice(&self.u32(65535));
            for (code, value) in options {
                body.extend_from_slice(&self.u16(*code));
                body.extend_from_slice(&self.u16(value.len() as u16));
                body.extend_from_slice(value);
                body.resize(body.len().next_multiple_of(4), 0);
            }
            body.extend_from_slice(&[0; 4]);
            self.block(1, &body);
        }
        fn packet(&mut self, iface: u32, ts: u64, data: &[u8]) {
            let mut body = Vec::new();
            for x in [
                iface,
                (ts >> 32) as u32,
                ts as u32,
                data.len() as u32,
                data.len() as u32,
            ] {
                body.extend_from_slice(&self.u32(x));
            }
            body.extend_from_slice(data);
            body.resize(body.len().next_multiple_of(4), 0);
            self.block(6, &body);
        }
    }

    /// Packets (time, number, bytes) and warnings (kind, packet, offset) of a set.
    type Read = (
        Vec<(Timestamp, u64, Vec<u8>)>,
        Vec<(WarningKind, Option<u64>, Option<u64>)>,
    );

    fn warnings_of(m: &mut Merged<'_>) -> Vec<(WarningKind, Option<u64>, Option<u64>)> {
        let mut d = Diagnostics::default();
        m.drain_warnings(&mut d);
        d.warnings()
            .iter()
            .map(|w| (w.kind, w.location.packet, w.location.offset))
            .collect()
    }

    fn read_set(set: &CaptureSet) -> Read {
        let mut m = set.packets();
        let packets = m
            .by_ref()
            .map(|p| (p.ts, p.number, p.data.to_vec()))
            .collect();
        (packets, warnings_of(&mut m))
    }

    /// As [`read_set`], in batches of `batch` packets with [`Merged::read_into`].
    fn read_batched(set: &CaptureSet, batch: usize) -> Read {
        let mut m = set.packets();
        let mut packets = Vec::new();
        let mut out = Vec::new();
        loop {
            out.clear();
            m.read_into(&mut out, batch);
            if out.is_empty() {
                break;
            }
            packets.extend(out.iter().map(|p| (p.ts, p.number, p.data.to_vec())));
        }
        (packets, warnings_of(&mut m))
    }

    fn read_whole(bytes: &[u8]) -> Read {
        let mut r = RecordReader::new("x", 0, bytes).unwrap();
        let packets = r
            .by_ref()
            .map(|p| (p.ts, p.number, p.data.to_vec()))
            .collect();
        let w = r
            .warnings
            .iter()
            .map(|w| (w.kind, w.location.packet, w.location.offset));
        (packets, w.collect())
    }

    fn records(n: u32) -> Vec<(u32, Vec<u8>)> {
        (0..n)
            .map(|i| (i, vec![i as u8; (i as usize * 37) % 3000]))
            .collect()
    }

    #[test]
    fn chunked_reading_gives_what_a_whole_file_gives() {
        // Records larger and smaller than the test chunks, garbage to resynchronise over,
        // and a record cut at the end.
        let mut bytes = pcap(&records(300));
        let at = bytes.len();
        bytes.extend_from_slice(&[0xff; 23]);
        let more = pcap(&records(300));
        bytes.extend_from_slice(&more[24..]);
        bytes.extend_from_slice(&more[24..100]);
        let mut ng = Ng {
            big: true,
            out: Vec::new(),
        };
        ng.section();
        ng.interface(&[]);
        for i in 0..300u64 {
            ng.packet(0, i * 1_000_000, &vec![i as u8; (i as usize * 53) % 2000]);
        }
        ng.out.extend_from_slice(&[0x55; 4000]);
        ng.packet(0, 301_000_000, &[1, 2, 3]);
        for (name, bytes) in [("chunks.pcap", bytes), ("chunks.pcapng", ng.out)] {
            let t = Temp::new(name, &bytes);
            let mut diags = Diagnostics::default();
            let set = CaptureSet::open(std::slice::from_ref(&t.0), &mut diags);
            assert!(diags.is_empty(), "{name}");
            let whole = read_whole(&bytes);
            let chunked = read_set(&set);
            assert!(whole.0.len() >= 300, "{name}: {}", whole.0.len());
            assert!(!whole.1.is_empty(), "{name}");
            assert_eq!(chunked, whole, "{name}");
            for batch in [1, 7, 5000] {
                assert_eq!(
                    read_batched(&set, batch),
                    whole,
                    "{name}, batches of {batch}"
                );
            }
        }
        assert!(at > CHUNK_MAX);
    }

    #[test]
    fn a_file_truncated_while_read_ends_with_a_warning() {
        let bytes = pcap(&(0..2000).map(|i| (i, vec![7; 100])).collect::<Vec<_>>());
        let t = Temp::new("shrinks.pcap", &bytes);
        let mut diags = Diagnostics::default();
        let set = CaptureSet::open(std::slice::from_ref(&t.0), &mut diags);
        let mut m = set.packets();
        assert_eq!(m.by_ref().take(100).count(), 100);
        // tcpdump restarted on the same file, or a log rotation: the file is cut short.
        File::options()
            .write(true)
            .open(&t.0)
            .unwrap()
            .set_len(20_000)
            .unwrap();
        let rest = m.by_ref().count();
        m.drain_warnings(&mut diags);
        // What was read in chunks before the cut is kept; nothing past it is read.
        assert!(rest < 1900, "{rest}");
        let w = &diags.warnings()[0];
        assert_eq!(w.kind, WarningKind::TruncatedFile);
        assert!(
            w.message.contains("shrank from 232024 to 20000 bytes"),
            "{w}"
        );
        assert!(w.location.file.ends_with("shrinks.pcap") && w.location.packet.is_some());
    }

    #[test]
    fn a_file_truncated_before_its_turn_says_so() {
        let bytes = pcap(&(0..50).map(|i| (i, vec![7; 100])).collect::<Vec<_>>());
        let t = Temp::new("shrank-early.pcap", &bytes);
        let mut diags = Diagnostics::default();
        let set = CaptureSet::open(std::slice::from_ref(&t.0), &mut diags);
        // Cut on a record boundary, within the first chunk: the reader alone would see a
        // shorter, whole file.
        File::options()
            .write(true)
            .open(&t.0)
            .unwrap()
            .set_len(24 + 5 * 116)
            .unwrap();
        let mut m = set.packets();
        assert_eq!(m.by_ref().count(), 5);
        m.drain_warnings(&mut diags);
        let w = &diags.warnings()[0];
        assert_eq!(w.kind, WarningKind::TruncatedFile);
        assert!(
            w.message
                .contains("shrank from 5824 to 604 bytes before its turn"),
            "{w}"
        );
    }

    #[test]
    fn a_rotated_capture_is_read_one_file_at_a_time() {
        let temps: Vec<Temp> = (0..50)
            .map(|f| {
                let recs: Vec<_> = (0..5).map(|i| (f * 10 + i, vec![1; 60])).collect();
                Temp::new(&format!("rot{f:03}.pcap"), &pcap(&recs))
            })
            .collect();
        let paths: Vec<PathBuf> = temps.iter().map(|t| t.0.clone()).collect();
        let mut diags = Diagnostics::default();
        let set = CaptureSet::open(&paths, &mut diags);
        let mut m = set.packets();
        let mut most = 0;
        let mut n = 0;
        while m.next().is_some() {
            n += 1;
            most = most.max(m.reading);
        }
        assert_eq!(n, 250);
        assert_eq!(most, 1);
    }

    /// The merge's order is the smallest (timestamp, file, packet number) of the files'
    /// next packets, one packet at a time, whatever the files: equal timestamps within and
    /// across files, files out of time order, files starting at the same time.
    #[test]
    fn merge_order_is_timestamp_then_file_then_packet() {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut rng = move |n: u32| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % u64::from(n)) as u32
        };
        let files: Vec<Vec<(u32, Vec<u8>)>> = (0..5u8)
            .map(|f| {
                let mut sec = rng(3);
                (0..300u32)
                    .map(|i| {
                        // Mostly forward in small steps, often equal, sometimes back.
                        match rng(10) {
                            0 => sec = sec.saturating_sub(rng(4)),
                            1..=4 => {}
                            _ => sec += rng(3),
                        }
                        (sec, vec![f, i as u8, (i >> 8) as u8])
                    })
                    .collect()
            })
            .collect();
        let temps: Vec<Temp> = files
            .iter()
            .enumerate()
            .map(|(f, recs)| Temp::new(&format!("merge{f}.pcap"), &pcap(recs)))
            .collect();
        let paths: Vec<PathBuf> = temps.iter().map(|t| t.0.clone()).collect();
        let mut diags = Diagnostics::default();
        let set = CaptureSet::open(&paths, &mut diags);
        /// A packet as the test compares it: time, file, number, bytes.
        type Seen = (Timestamp, u32, u64, Vec<u8>);
        let merged: Vec<Seen> = set
            .packets()
            .map(|p| (p.ts, p.file, p.number, p.data.to_vec()))
            .collect();
        // The reference: each file read alone, then the smallest head taken, step by step.
        let mut alone: Vec<VecDeque<Seen>> = files
            .iter()
            .enumerate()
            .map(|(f, recs)| {
                let bytes = pcap(recs);
                let r = RecordReader::new("x", f as u32, &bytes).unwrap();
                r.map(|p| (p.ts, p.file, p.number, p.data.to_vec()))
                    .collect()
            })
            .collect();
        let mut expected = Vec::new();
        while let Some(f) = (0..alone.len())
            .filter(|&f| !alone[f].is_empty())
            .min_by_key(|&f| {
                let (ts, file, number, _) = &alone[f][0];
                (*ts, *file, *number)
            })
        {
            expected.extend(alone[f].pop_front());
        }
        assert_eq!(merged.len(), 1500);
        assert_eq!(merged, expected);
        // In batches, as the pipeline reads: the same order.
        let one_by_one = read_set(&set);
        for batch in [1, 2, 7, 64, 5000] {
            assert_eq!(read_batched(&set, batch), one_by_one, "batches of {batch}");
        }
    }

    /// Sections in alternating byte orders in one file: each section's blocks are read in
    /// its own order, one packet at a time and in batches.
    #[test]
    fn pcapng_sections_switch_byte_order() {
        let mut bytes = Vec::new();
        for (k, big) in [false, true, false, true].into_iter().enumerate() {
            let mut ng = Ng {
                big,
                out: Vec::new(),
            };
            ng.section();
            ng.interface(&[]);
            for j in 0..3u64 {
                let n = k as u64 * 3 + j;
                ng.packet(0, n * 1_000_000, &vec![n as u8; 5 + n as usize]);
            }
            bytes.extend_from_slice(&ng.out);
        }
        let (packets, warnings) = read_whole(&bytes);
        assert!(warnings.is_empty(), "{warnings:?}");
        let expected: Vec<_> = (0..12u64)
            .map(|n| {
                let ts = Timestamp(n as i64 * 1_000_000_000);
                (ts, n + 1, vec![n as u8; 5 + n as usize])
            })
            .collect();
        assert_eq!(packets, expected);
        let t = Temp::new("sections.pcapng", &bytes);
        let mut diags = Diagnostics::default();
        let set = CaptureSet::open(std::slice::from_ref(&t.0), &mut diags);
        for batch in [1, 5, 100] {
            assert_eq!(read_batched(&set, batch), (expected.clone(), vec![]));
        }
    }

    #[test]
    fn pcapng_binary_resolution_and_big_endian_offset() {
        // tshark reads these files as 1000.5 s and 1001.75 s after the epoch (checked with
        // `tshark -r x.pcapng -T fields -e frame.time_epoch`, TShark 4.x, both byte orders).
        for big in [false, true] {
            let mut ng = Ng {
                big,
                out: Vec::new(),
            };
            ng.section();
            let offset = if big {
                1000i64.to_be_bytes()
            } else {
                1000i64.to_le_bytes()
            };
            // if_tsresol 0x94: 2^-20 s; if_tsoffset 1000 s.
            ng.interface(&[(9, vec![0x94]), (14, offset.to_vec())]);
            ng.packet(0, 1 << 19, &[0x45]);
            ng.packet(0, (1 << 20) + (3 << 18), &[0x45]);
            let (packets, _) = read_whole(&ng.out);
            let ts: Vec<i64> = packets.iter().map(|p| p.0 .0).collect();
            assert_eq!(
                ts,
                [1_000_500_000_000, 1_001_750_000_000],
                "big-endian {big}"
            );
        }
    }

    /// A pcap file in one of the six layouts: byte order, ns timestamps, and the
    /// "modified" format (magic 0xa1b2cd34) whose record headers add ifindex, protocol,
    /// packet type and a pad byte (8 bytes).
    fn pcap_layout(records: &[(u32, Vec<u8>)], big: bool, nanos: bool, modified: bool) -> Vec<u8> {
        let word = |x: u32| {
            if big {
                x.to_be_bytes()
            } else {
                x.to_le_bytes()
            }
        };
        let magic = match (nanos, modified) {
            (true, _) => 0xa1b2_3c4d,
            (false, true) => 0xa1b2_cd34,
            (false, false) => 0xa1b2_c3d4,
        };
        let mut v = Vec::new();
        v.extend_from_slice(&word(magic));
        let version: [u16; 2] = [2, 4];
        for x in version {
            v.extend_from_slice(&if big {
                x.to_be_bytes()
            } else {
                x.to_le_bytes()
            });
        }
        for x in [0, 0, 65535, 101] {
            v.extend_from_slice(&word(x));
        }
        for (i, (sec, data)) in records.iter().enumerate() {
            let frac = (i as u32 * 7919) % 1_000_000 * if nanos { 1000 } else { 1 };
            let len = data.len() as u32;
            for x in [*sec, frac, len, len + 4] {
                v.extend_from_slice(&word(x));
            }
            if modified {
                v.extend_from_slice(&word(3)); // ifindex
                v.extend_from_slice(&[0x08, 0x00, 4, 0]); // protocol, packet type, pad
            }
            v.extend_from_slice(data);
        }
        v
    }

    #[test]
    fn every_pcap_layout_reads_the_same_packets() {
        let recs = records(50);
        let expected = read_whole(&pcap_layout(&recs, false, false, false));
        assert_eq!(expected.0.len(), 50);
        assert!(expected.1.is_empty(), "{:?}", expected.1);
        for big in [false, true] {
            for (nanos, modified) in [(false, false), (true, false), (false, true)] {
                let bytes = pcap_layout(&recs, big, nanos, modified);
                let what = format!("big-endian {big}, ns {nanos}, modified {modified}");
                assert_eq!(read_whole(&bytes), expected, "{what}");
                let mut r = RecordReader::new("x", 0, &bytes).unwrap();
                let p = r.nth(7).unwrap();
                assert_eq!((p.link, p.orig_len), (LinkType(101), 7 * 37 + 4), "{what}");
            }
        }
    }
}
