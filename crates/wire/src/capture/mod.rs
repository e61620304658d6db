//! Capture input: files and folders, memory-mapped, merged into one packet stream.
//!
//! A capture can be one file, a rotated set (`tcpdump -C`/`-G`) or a folder. Connections
//! cross file boundaries, so all files are read together and merged by timestamp
//! (a k-way merge; each file is assumed to be in time order, which tcpdump guarantees, and
//! a file that is not gets a warning).

#[cfg(feature = "libpcap")]
pub mod bpf;
mod link;
mod reader;

pub use link::{decode, Datagram, Packet, Segment, Skip, TcpFlags};
pub use reader::{prefetch, sniff_format, Format, LinkType, RawPacket, RecordReader, MAX_SNAPLEN};

use crate::diag::{Diagnostics, Location, Warning, WarningKind};
use memmap2::Mmap;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Where a capture's bytes live.
enum Storage {
    /// A read-only memory map of the file.
    Mapped(Mmap),
    /// Bytes already in memory (tests, fuzzing, stdin-like sources).
    Owned(Vec<u8>),
}

/// One opened capture file.
pub struct CaptureFile {
    /// The path, as given or as found in a folder.
    pub path: PathBuf,
    /// The display name used in warnings.
    pub name: String,
    storage: Storage,
    /// Bytes at the start already released with [`CaptureSet::release_before`].
    released: AtomicUsize,
}

impl CaptureFile {
    /// The file's bytes.
    pub fn bytes(&self) -> &[u8] {
        match &self.storage {
            Storage::Mapped(m) => m,
            Storage::Owned(v) => v,
        }
    }
}

/// All files of one capture, opened and mapped.
pub struct CaptureSet {
    /// The usable files, in the order given (folders expanded, sorted by name).
    pub files: Vec<CaptureFile>,
}

/// Expands folders into the capture files they hold (by content, not by extension),
/// sorted by name; plain paths are kept as given.
pub fn expand_inputs(inputs: &[PathBuf], diags: &mut Diagnostics) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for input in inputs {
        if input.is_dir() {
            let mut found: Vec<PathBuf> = match std::fs::read_dir(input) {
                Ok(rd) => rd
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.is_file() && looks_like_capture(p))
                    .collect(),
                Err(e) => {
                    diags.push(unusable(input, format!("cannot read folder: {e}")));
                    continue;
                }
            };
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

fn looks_like_capture(path: &Path) -> bool {
    use std::io::Read;
    let mut magic = [0u8; 4];
    File::open(path)
        .and_then(|mut f| f.read_exact(&mut magic))
        .is_ok()
        && sniff_format(&magic).is_some()
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

impl CaptureSet {
    /// Opens and maps every file. A file that cannot be used is reported in `diags` (kind
    /// [`WarningKind::UnusableFile`]) and left out; the others are still read.
    pub fn open(paths: &[PathBuf], diags: &mut Diagnostics) -> CaptureSet {
        let mut files = Vec::new();
        for path in paths {
            match open_one(path) {
                Ok(f) => files.push(f),
                Err(message) => diags.push(unusable(path, message)),
            }
        }
        CaptureSet { files }
    }

    /// A capture held in memory, named `name` in warnings. Errors when it is not a capture.
    pub fn from_bytes(name: &str, bytes: Vec<u8>) -> Result<CaptureSet, NotACapture> {
        RecordReader::new(name, 0, &bytes).map_err(|reason| NotACapture {
            name: name.to_string(),
            reason,
        })?;
        let file = CaptureFile {
            path: PathBuf::from(name),
            name: name.to_string(),
            storage: Storage::Owned(bytes),
            released: AtomicUsize::new(0),
        };
        Ok(CaptureSet { files: vec![file] })
    }

    /// Tells the kernel that the first `offset` bytes of file `file` will not be read
    /// again, so their pages leave this process's resident set: memory stays flat however
    /// large the capture. Best effort; errors are ignored.
    pub fn release_before(&self, file: u32, offset: usize) {
        const CHUNK: usize = 4 << 20;
        if let Some(CaptureFile {
            storage: Storage::Mapped(map),
            released,
            ..
        }) = self.files.get(file as usize)
        {
            let start = released.load(Ordering::Relaxed);
            let end = offset / CHUNK * CHUNK;
            if end > start {
                // SAFETY: MADV_DONTNEED on a read-only, file-backed mapping only drops page
                // table entries; a later access faults the same bytes back in from the
                // file, so any slice still borrowed from the range stays valid.
                let _ = unsafe {
                    map.unchecked_advise_range(
                        memmap2::UncheckedAdvice::DontNeed,
                        start,
                        end - start,
                    )
                };
                released.store(end, Ordering::Relaxed);
            }
        }
    }

    /// Total size of all files in bytes.
    pub fn total_bytes(&self) -> u64 {
        self.files.iter().map(|f| f.bytes().len() as u64).sum()
    }

    /// All packets of all files, merged in timestamp order.
    pub fn packets(&self) -> Merged<'_> {
        let mut readers = Vec::new();
        for (i, f) in self.files.iter().enumerate() {
            // open_one already checked the header, so this cannot fail here.
            if let Ok(r) = RecordReader::new(&f.name, i as u32, f.bytes()) {
                readers.push(r);
            }
        }
        let mut merged = Merged {
            readers,
            heads: BinaryHeap::new(),
            pending: Vec::new(),
        };
        for i in 0..merged.readers.len() {
            merged.refill(i);
        }
        merged
    }
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
    let file = File::open(path).map_err(|e| format!("cannot open: {e}"))?;
    let meta = file.metadata().map_err(|e| format!("cannot stat: {e}"))?;
    if meta.is_dir() {
        return Err("is a folder".into());
    }
    if meta.len() == 0 {
        return Err("file is empty".into());
    }
    // SAFETY: the map is read-only and lives as long as the CaptureFile. Another process
    // truncating the file while we read it would raise SIGBUS; capture files being analysed
    // post-mortem are not being written, which is the documented assumption of this tool.
    let map = unsafe { Mmap::map(&file) }.map_err(|e| format!("cannot map into memory: {e}"))?;
    RecordReader::new(&name, 0, &map)
        .map_err(|e| e.trim_start_matches(&format!("{name}: ")).to_string())?;
    Ok(CaptureFile {
        path: path.to_path_buf(),
        name,
        storage: Storage::Mapped(map),
        released: AtomicUsize::new(0),
    })
}

/// A k-way merge of the files' packets by timestamp (ties: file order, then packet order).
pub struct Merged<'a> {
    readers: Vec<RecordReader<'a>>,
    heads: BinaryHeap<Reverse<(crate::time::Timestamp, u32, u64)>>,
    pending: Vec<Option<RawPacket<'a>>>,
}

impl<'a> Merged<'a> {
    fn refill(&mut self, i: usize) {
        if self.pending.len() <= i {
            self.pending.resize(i + 1, None);
        }
        let next = self.readers[i].next();
        if let Some(p) = &next {
            self.heads.push(Reverse((p.ts, i as u32, p.number)));
        }
        self.pending[i] = next;
    }

    /// Moves the warnings the readers found so far into `diags`.
    pub fn drain_warnings(&mut self, diags: &mut Diagnostics) {
        for r in &mut self.readers {
            for w in r.warnings.drain(..) {
                diags.push(w);
            }
        }
    }

    /// Per file: its index and how far it has been read.
    pub fn positions(&self) -> impl Iterator<Item = (u32, usize)> + '_ {
        self.readers.iter().map(|r| (r.file(), r.position()))
    }

    /// Bytes read so far over all files.
    pub fn position(&self) -> u64 {
        self.readers.iter().map(|r| r.position() as u64).sum()
    }
}

impl<'a> Iterator for Merged<'a> {
    type Item = RawPacket<'a>;

    fn next(&mut self) -> Option<RawPacket<'a>> {
        let Reverse((_, i, _)) = self.heads.pop()?;
        let i = i as usize;
        let p = self.pending[i].take();
        self.refill(i);
        p
    }
}
