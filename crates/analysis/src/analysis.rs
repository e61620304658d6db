//! The pipeline: capture files → packets → connections (sharded) → sessions.
//!
//! Packets are read in timestamp order in batches, in a two-stage pipeline: while the
//! shards analyse batch k, batch k+1 is read (one thread: records are found one after the
//! other), decoded (in parallel) and routed: each packet goes to the shard that owns its
//! connection (a hash of the canonical address pair). The shards run in parallel on rayon:
//! one connection lives in exactly one shard, so reassembly needs no locks, and results do
//! not depend on the thread count.
//! Memory grows with the connections open at one time: a connection is finished and turned
//! into a compact [`Session`] once it has closed and lingered [`CLOSED_LINGER`].

use crate::flow::{MediaFlow, UdpFlow};
use crate::session::connection::{Scratch, ShardContext};
use crate::session::join::join;
use crate::session::{Connection, ConnectionEnd, Evidence, Membership, Session, Verdict};
use rayon::prelude::*;
use rustc_hash::{FxBuildHasher, FxHashMap};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::hash::BuildHasher;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use teardown_wire::capture::{
    self, CaptureSet, Datagram, Merged, Packet, RawPacket, Segment, Skip,
};
use teardown_wire::diag::{Diagnostics, Location, Warning, WarningKind};
use teardown_wire::time::Timestamp;
use teardown_wire::tls::KeyLog;

/// Packets read per batch.
pub const BATCH_PACKETS: usize = 16 * 1024;
/// How long a closed connection is kept for late packets (retransmitted FINs, final ACKs)
/// before it is finished, in capture time.
pub const CLOSED_LINGER: Timestamp = Timestamp(30_000_000_000);
/// How long a connection that carried no payload (a SYN, a refused or unanswered attempt)
/// is kept without packets before it is finished: longer than Linux's SYN retries (~63 s
/// for 6 retries would be too long to hold under a SYN flood; 3 retries take 15 s).
pub const EMPTY_IDLE: Timestamp = Timestamp(20_000_000_000);
/// Connections open at one time, over all shards, before empty ones are evicted early.
/// An open WebSocket connection costs about 3.3 KiB, the session it becomes included
/// (peak RSS of the release build, measured with `examples/openconns.rs`, README "Hostile
/// input and bounded memory"): 128 Ki of them take about 420 MiB. Connections that
/// carried data are never evicted, so more than this many can be open; the shard then
/// scans for empty ones at most once per second of capture time.
pub const MAX_OPEN_CONNECTIONS: usize = 1 << 17;
/// Empty connections (attempts that carried nothing) kept as full sessions, over all
/// shards; beyond this, a SYN flood is counted by server port and verdict, not listed.
pub const MAX_EMPTY_SESSIONS: usize = 1 << 16;
/// TCP connections that are not sessions listed in [`Analysis::other_tcp`] (each without
/// its application events); beyond, only counted in [`RunStats::other_connections`].
pub const MAX_OTHER_LISTED: usize = 1 << 15;

/// The most worker threads an analysis runs on ([`Options::threads`]).
pub const MAX_THREADS: usize = 256;

/// What to analyse and how.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Worker threads (default, or 0: one per core); at most [`MAX_THREADS`].
    pub threads: Option<usize>,
    /// Server ports to treat as WebSocket even where no upgrade was captured.
    pub ws_ports: Vec<u16>,
    /// Told how far the reading has come (the CLI draws a progress bar with it).
    pub progress: Option<Progress>,
    /// Stop before analysing anything when an input cannot be used.
    pub strict: bool,
    /// An NSS key log (`SSLKEYLOGFILE`) to decrypt TLS sessions with.
    pub keylog: Option<PathBuf>,
    /// Keep the start of each direction's first and last text message (inflated) for the
    /// timeline: content from the capture, so off unless asked for.
    pub payloads: bool,
    /// A BPF filter compiled by libpcap and applied to every packet.
    #[cfg(feature = "libpcap")]
    pub filter: Option<String>,
}

/// Receives the reading's progress: the total bytes once, then the bytes read so far.
pub trait ProgressSink: Send + Sync {
    /// Reading starts; `total_bytes` is the size of all inputs.
    fn start(&self, total_bytes: u64);
    /// `bytes` of the inputs have been analysed.
    fn advance(&self, bytes: u64);
    /// Reading is over.
    fn finish(&self);
}

/// A shared [`ProgressSink`] (cloned with the options).
#[derive(Clone)]
pub struct Progress(pub Arc<dyn ProgressSink>);

impl std::fmt::Debug for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Progress")
    }
}

/// Why an analysis did not run.
#[derive(Debug, thiserror::Error)]
pub enum AnalysisError {
    /// `--strict`: an input could not be used.
    #[error("{location}: {message} (--strict)")]
    UnusableInput {
        /// The input.
        location: Location,
        /// Why it cannot be used.
        message: String,
    },
    /// Bytes given as a capture are not one.
    #[error(transparent)]
    NotACapture(#[from] teardown_wire::capture::NotACapture),
    /// The key log could not be read.
    #[error(transparent)]
    KeyLog(#[from] teardown_wire::tls::KeyLogError),
    /// More worker threads were asked for than [`MAX_THREADS`].
    #[error("--threads {requested}: at most {MAX_THREADS} worker threads")]
    TooManyThreads {
        /// The number asked for.
        requested: usize,
    },
    /// The BPF filter is invalid.
    #[cfg(feature = "libpcap")]
    #[error(transparent)]
    Filter(#[from] teardown_wire::capture::bpf::FilterError),
}

/// Counters over the whole run.
#[derive(Clone, Debug, Default, Serialize)]
pub struct RunStats {
    /// Capture files read.
    pub files: usize,
    /// Bytes in those files.
    pub bytes: u64,
    /// Packets read.
    pub packets: u64,
    /// TCP segments decoded.
    pub tcp_segments: u64,
    /// UDP datagrams decoded.
    pub udp_datagrams: u64,
    /// UDP flows that carried no STUN, DTLS, RTP or RTCP.
    pub other_udp_flows: u64,
    /// Packets that were neither TCP nor UDP over IP.
    pub not_tcp_udp: u64,
    /// IP fragments (not reassembled).
    pub ip_fragments: u64,
    /// Packets that could not be decoded.
    pub malformed: u64,
    /// Packets dropped by the BPF filter.
    pub filtered_out: u64,
    /// TCP connections tracked.
    pub connections: u64,
    /// Connections that were not WebSocket sessions (listed in [`Analysis::other_tcp`] up
    /// to [`MAX_OTHER_LISTED`]).
    pub other_connections: u64,
    /// Of those, the TLS connections not decrypted, by server port: neither an upgrade
    /// seen on their port, nor `--ws-port`, nor the WebSocket shape of their records made
    /// them sessions.
    pub tls_left_out: Vec<(u16, u64)>,
    /// Connections that carried nothing and were finished after going idle.
    pub evicted_idle: u64,
    /// Empty connection attempts to WebSocket ports counted but not listed as sessions
    /// (beyond [`MAX_EMPTY_SESSIONS`]: a SYN flood), by server port and verdict.
    pub unlisted_attempts: Vec<(u16, Verdict, u64)>,
    /// First packet time.
    pub first_ts: Option<Timestamp>,
    /// Last packet time.
    pub last_ts: Option<Timestamp>,
}

/// The result of an analysis.
#[derive(Debug, Default, Serialize)]
pub struct Analysis {
    /// Sessions sorted by start time, ids from 1.
    pub sessions: Vec<Session>,
    /// Media flows no session could be joined to.
    pub orphan_media: Vec<MediaFlow>,
    /// TCP connections that are not sessions (plain HTTP, TLS without WebSocket, other
    /// protocols), by start time, up to [`MAX_OTHER_LISTED`]; their `id` is 0 and their
    /// timeline keeps only the TCP events ([`Session::keep_tcp_only`]).
    pub other_tcp: Vec<Session>,
    /// Run counters.
    pub stats: RunStats,
    /// Warnings about the input.
    #[serde(skip)]
    pub diagnostics: Diagnostics,
    /// True when at least one input could not be used at all.
    pub unusable_input: bool,
}

/// Canonical key of a connection: the two endpoints in a fixed order.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
struct ConnKey(SocketAddr, SocketAddr);

impl ConnKey {
    fn of((src, dst): (SocketAddr, SocketAddr)) -> ConnKey {
        if src <= dst {
            ConnKey(src, dst)
        } else {
            ConnKey(dst, src)
        }
    }
}

/// How long a UDP flow may be silent before it is finished (capture time).
pub const FLOW_IDLE: Timestamp = Timestamp(60_000_000_000);
/// UDP flows open at one time, over all shards, before idle ones are finished early.
pub const MAX_OPEN_FLOWS: usize = 1 << 17;

struct Shard {
    flows: FxHashMap<ConnKey, Box<UdpFlow>>,
    /// Finished flows that carried STUN, DTLS, RTP or RTCP.
    media: Vec<MediaFlow>,
    other_udp_flows: u64,
    // Boxed: the table keeps entries inline and, with connections coming and going, its
    // capacity runs well ahead of its length; boxes keep that slack at 72 bytes a slot.
    conns: FxHashMap<ConnKey, Box<Connection>>,
    /// Sessions and connections that may still turn out to be sessions.
    finished: Vec<(Session, Membership)>,
    /// Empty connections finished beyond its share of [`MAX_EMPTY_SESSIONS`]: counted by server port and
    /// verdict instead of kept.
    empty_overflow: BTreeMap<(u16, Verdict), u64>,
    empty_kept: usize,
    max_empty_kept: usize,
    other_connections: u64,
    /// Connections that are not sessions, up to its share of [`MAX_OTHER_LISTED`].
    other: Vec<Session>,
    max_other_kept: usize,
    tls_left_out: BTreeMap<u16, u64>,
    /// What the shard lends its connections, and their warnings.
    env: ConnEnv,
    now: Timestamp,
    last_sweep: Timestamp,
    /// While over its share of open connections (or flows) with nothing to evict, the
    /// shard does not scan again before this time: one scan per second of capture time,
    /// not one per new connection (which made a run over the cap quadratic).
    evict_blocked_until: Timestamp,
    flows_blocked_until: Timestamp,
    connections: u64,
    evicted: u64,
}

/// A shard's warnings and what it lends each connection in turn ([`ShardContext`]).
struct ConnEnv {
    diags: Diagnostics,
    keys: Option<Arc<KeyLog>>,
    /// `Options::payloads`.
    payloads: bool,
    scratch: Scratch,
}

impl ConnEnv {
    fn context<'s>(&'s mut self, files: &'s [String]) -> ShardContext<'s> {
        ShardContext {
            files,
            diags: &mut self.diags,
            keys: self.keys.as_ref(),
            keep_text: self.payloads,
            scratch: &mut self.scratch,
        }
    }
}

impl Shard {
    fn new(shard_count: usize, keys: Option<Arc<KeyLog>>, payloads: bool) -> Shard {
        Shard {
            max_empty_kept: MAX_EMPTY_SESSIONS / shard_count,
            max_other_kept: MAX_OTHER_LISTED / shard_count,
            other: Vec::new(),
            flows: FxHashMap::default(),
            media: Vec::new(),
            other_udp_flows: 0,
            conns: FxHashMap::default(),
            finished: Vec::new(),
            empty_overflow: BTreeMap::new(),
            empty_kept: 0,
            other_connections: 0,
            tls_left_out: BTreeMap::new(),
            env: ConnEnv {
                diags: Diagnostics::default(),
                keys,
                payloads,
                scratch: Scratch::default(),
            },
            now: Timestamp(i64::MIN),
            last_sweep: Timestamp(i64::MIN),
            evict_blocked_until: Timestamp(i64::MIN),
            flows_blocked_until: Timestamp(i64::MIN),
            connections: 0,
            evicted: 0,
        }
    }

    fn on_segment(&mut self, seg: &Segment<'_>, files: &[String], max_open: usize) {
        self.now = self.now.max(seg.ts);
        let key = ConnKey::of((seg.src, seg.dst));
        if self.conns.get(&key).is_some_and(|c| c.is_reused_by(seg)) {
            if let Some(old) = self.conns.remove(&key) {
                self.finish(old, ConnectionEnd::Reused, files);
            }
        }
        if self.conns.len() >= max_open
            && self.now >= self.evict_blocked_until
            && !self.conns.contains_key(&key)
        {
            self.evict_empty(files, Timestamp(self.now.0.saturating_sub(1_000_000_000)));
            if self.conns.len() >= max_open {
                self.evict_blocked_until = Timestamp(self.now.0.saturating_add(1_000_000_000));
            }
        }
        let conn = self.conns.entry(key).or_insert_with(|| {
            self.connections += 1;
            Box::new(Connection::new(seg))
        });
        let mut ctx = self.env.context(files);
        conn.on_segment(seg, &mut ctx);
    }

    fn on_datagram(&mut self, d: &Datagram<'_>, files: &[String], max_open: usize) {
        self.now = self.now.max(d.ts);
        let key = ConnKey::of((d.src, d.dst));
        if self.flows.len() >= max_open
            && self.now >= self.flows_blocked_until
            && !self.flows.contains_key(&key)
        {
            let before = Timestamp(self.now.0.saturating_sub(1_000_000_000));
            self.finish_idle_flows(files, before);
            if self.flows.len() >= max_open {
                self.flows_blocked_until = Timestamp(self.now.0.saturating_add(1_000_000_000));
            }
        }
        self.flows
            .entry(key)
            .or_insert_with(|| Box::new(UdpFlow::new(d)))
            .on_datagram(d);
    }

    fn finish_flow(&mut self, flow: Box<UdpFlow>, files: &[String]) {
        if let (n @ 1.., Some((file, packet))) = flow.rtp_untracked() {
            self.env.diags.push(Warning {
                kind: WarningKind::RtpStreamCap,
                location: Location {
                    file: files.get(file as usize).cloned().unwrap_or_default(),
                    packet: Some(packet),
                    offset: None,
                },
                message: format!(
                    "UDP flow {} <-> {}: more than {} RTP streams; {n} packets of the \
                     streams beyond them counted, not analysed",
                    flow.endpoints().0,
                    flow.endpoints().1,
                    crate::flow::MAX_STREAMS
                ),
            });
        }
        let f = flow.finish();
        if f.is_media() {
            self.media.push(f);
        } else {
            self.other_udp_flows += 1;
        }
    }

    fn finish_idle_flows(&mut self, files: &[String], before: Timestamp) {
        let idle: Vec<ConnKey> = self
            .flows
            .iter()
            .filter(|(_, f)| f.last_ts() < before)
            .map(|(k, _)| *k)
            .collect();
        for key in idle {
            if let Some(f) = self.flows.remove(&key) {
                self.finish_flow(f, files);
            }
        }
    }

    fn finish(&mut self, conn: Box<Connection>, why: ConnectionEnd, files: &[String]) {
        let empty = conn.is_empty();
        let mut ctx = self.env.context(files);
        let (session, membership, stun) = conn.finish(why, &mut ctx);
        self.media.extend(stun);
        match membership {
            Membership::Other => {
                self.other_connections += 1;
                if session.tls.as_ref().is_some_and(|t| !t.decrypted) {
                    *self.tls_left_out.entry(session.server.port()).or_default() += 1;
                }
                if self.other.len() < self.max_other_kept {
                    let mut session = session;
                    session.keep_tcp_only();
                    self.other.push(session);
                }
            }
            Membership::IfWebSocketPort if empty && self.empty_kept >= self.max_empty_kept => {
                *self
                    .empty_overflow
                    .entry((session.server.port(), session.verdict))
                    .or_default() += 1;
            }
            _ => {
                if empty {
                    self.empty_kept += 1;
                }
                self.finished.push((session, membership));
            }
        }
    }

    /// Finishes connections that carried no payload and were idle since `before`.
    fn evict_empty(&mut self, files: &[String], before: Timestamp) {
        let victims: Vec<ConnKey> = self
            .conns
            .iter()
            .filter(|(_, c)| c.is_empty() && c.last_ts() < before)
            .map(|(k, _)| *k)
            .collect();
        for key in victims {
            if let Some(c) = self.conns.remove(&key) {
                self.evicted += 1;
                self.finish(c, ConnectionEnd::Idle, files);
            }
        }
    }

    /// Once per second of capture time: finishes connections that closed more than
    /// [`CLOSED_LINGER`] ago, and empty ones idle for [`EMPTY_IDLE`].
    fn sweep(&mut self, files: &[String]) {
        if self.now.0.saturating_sub(self.last_sweep.0) < 1_000_000_000 {
            return;
        }
        self.last_sweep = self.now;
        let horizon = Timestamp(self.now.0.saturating_sub(CLOSED_LINGER.0));
        let done: Vec<ConnKey> = self
            .conns
            .iter()
            .filter(|(_, c)| c.closed_at().is_some_and(|t| t < horizon))
            .map(|(k, _)| *k)
            .collect();
        for key in done {
            if let Some(c) = self.conns.remove(&key) {
                self.finish(c, ConnectionEnd::Closed, files);
            }
        }
        self.evict_empty(files, Timestamp(self.now.0.saturating_sub(EMPTY_IDLE.0)));
        self.finish_idle_flows(files, Timestamp(self.now.0.saturating_sub(FLOW_IDLE.0)));
    }

    fn finish_all(&mut self, files: &[String]) {
        let conns: Vec<Box<Connection>> = self.conns.drain().map(|(_, c)| c).collect();
        // Most become sessions: reserved whole rather than grown by doubling.
        self.finished.reserve_exact(conns.len());
        for c in conns {
            self.finish(c, ConnectionEnd::CaptureEnd, files);
        }
        let flows: Vec<Box<UdpFlow>> = self.flows.drain().map(|(_, f)| f).collect();
        for f in flows {
            self.finish_flow(f, files);
        }
    }
}

/// Analyses the capture made of `inputs` (files or folders). Errors only on an invalid
/// option (a `--filter` libpcap cannot compile); damaged input becomes warnings, and an
/// input that cannot be used at all sets [`Analysis::unusable_input`].
pub fn analyze(inputs: &[PathBuf], opts: &Options) -> Result<Analysis, AnalysisError> {
    check_threads(opts)?;
    let mut diags = Diagnostics::default();
    let paths = capture::expand_inputs(inputs, &mut diags);
    let set = CaptureSet::open(&paths, &mut diags);
    if opts.strict {
        if let Some(w) = diags
            .warnings()
            .iter()
            .find(|w| w.kind == WarningKind::UnusableFile)
        {
            return Err(AnalysisError::UnusableInput {
                location: w.location.clone(),
                message: w.message.clone(),
            });
        }
    }
    analyze_set(&set, diags, opts)
}

/// Analyses a capture held in memory (one pcap or pcapng file's bytes).
pub fn analyze_bytes(
    name: &str,
    bytes: Vec<u8>,
    opts: &Options,
) -> Result<Analysis, AnalysisError> {
    check_threads(opts)?;
    let set = CaptureSet::from_bytes(name, bytes)?;
    analyze_set(&set, Diagnostics::default(), opts)
}

/// Refuses a thread count over [`MAX_THREADS`] before anything is read or started.
fn check_threads(opts: &Options) -> Result<(), AnalysisError> {
    match opts.threads {
        Some(requested) if requested > MAX_THREADS => {
            Err(AnalysisError::TooManyThreads { requested })
        }
        _ => Ok(()),
    }
}

fn analyze_set(
    set: &CaptureSet,
    diags: Diagnostics,
    opts: &Options,
) -> Result<Analysis, AnalysisError> {
    match pool(opts.threads.unwrap_or(0)) {
        Some(pool) => pool.install(|| analyze_in_pool(set, diags, opts)),
        None => analyze_in_pool(set, diags, opts),
    }
}

/// The worker pool for `threads` (0: all cores), built on first use and kept for the
/// next analyses: a library user analysing many small captures (tests, fuzzing, a
/// service) no longer starts and stops threads for each. `None` if the threads could not
/// be started (the analysis then runs on the caller's thread).
fn pool(threads: usize) -> Option<Arc<rayon::ThreadPool>> {
    static POOLS: std::sync::Mutex<Vec<(usize, Arc<rayon::ThreadPool>)>> =
        std::sync::Mutex::new(Vec::new());
    let mut pools = POOLS.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, p)) = pools.iter().find(|(n, _)| *n == threads) {
        return Some(p.clone());
    }
    let pool = Arc::new(
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .ok()?,
    );
    pools.push((threads, pool.clone()));
    Some(pool)
}

/// The buffers of one batch, reused batch after batch.
#[derive(Default)]
struct Buffers<'a> {
    packets: Vec<RawPacket<'a>>,
    decoded: Vec<Result<Packet<'a>, Skip>>,
    /// Per packet, its [`Route`] (beside `decoded`, not in it: larger decoded entries made
    /// the run slower, measured in BENCHMARKS.md).
    route_of: Vec<Route>,
    /// Per shard, the indices in `decoded` of the packets it owns.
    routes: Vec<Vec<u32>>,
}

/// Packets of a batch that were or were not analysed, by kind.
#[derive(Default)]
struct PacketCounts {
    tcp_segments: u64,
    udp_datagrams: u64,
    not_tcp_udp: u64,
    ip_fragments: u64,
    malformed: u64,
}

/// Packets read from the capture, decoded and routed to their shards.
struct Batch<'a> {
    bufs: Buffers<'a>,
    /// Packets read (before the filter).
    read: u64,
    filtered_out: u64,
    counts: PacketCounts,
    warnings: Diagnostics,
    /// The capture set's [`CaptureSet::retired_mark`] when this batch was complete: the
    /// chunks its packets borrow from are before it or still being read.
    retired_mark: u64,
    /// Bytes read over all files when this batch was complete.
    position: u64,
}

/// The first stage of the pipeline: reads batches (sequential: records are found one
/// after the other), decodes them (in parallel) and routes each packet to its shard.
struct BatchReader<'a, 'f> {
    set: &'a CaptureSet,
    merged: Merged<'a>,
    #[cfg(feature = "libpcap")]
    filter: Option<teardown_wire::capture::bpf::Filter>,
    files: &'f [String],
    shard_count: usize,
    hasher: FxBuildHasher,
}

impl<'a> BatchReader<'a, '_> {
    fn next_batch(&mut self, mut bufs: Buffers<'a>) -> Batch<'a> {
        bufs.packets.clear();
        self.merged.read_into(&mut bufs.packets, BATCH_PACKETS);
        let mut warnings = Diagnostics::default();
        self.merged.drain_warnings(&mut warnings);
        let read = bufs.packets.len() as u64;
        #[cfg(feature = "libpcap")]
        if let Some(f) = &mut self.filter {
            bufs.packets.retain(|p| f.matches(p));
        }
        let filtered_out = read - bufs.packets.len() as u64;
        let retired_mark = self.set.retired_mark();
        let position = self.merged.position();
        // The batch (16 Ki packets of 200+ bytes) is larger than L2: the records read first
        // have left the cache by the time they are decoded. Ask for each packet's bytes a
        // few packets ahead.
        // Each packet's shard is hashed here, in parallel, while its decoded entry is in
        // the cache; the serial routing then reads only the 4-byte routes.
        let packets = &bufs.packets;
        let (shards, hasher) = (self.shard_count, &self.hasher);
        packets
            .par_iter()
            .enumerate()
            .with_min_len(4096)
            .map(|(j, p)| {
                if let Some(ahead) = packets.get(j + LOOKAHEAD) {
                    capture::prefetch(ahead.data.as_ptr());
                }
                let d = capture::decode(p);
                let route = Route::of(&d, shards, hasher);
                (d, route)
            })
            .unzip_into_vecs(&mut bufs.decoded, &mut bufs.route_of);
        let counts = self.route(&mut bufs, &mut warnings);
        Batch {
            bufs,
            read,
            filtered_out,
            counts,
            warnings,
            retired_mark,
            position,
        }
    }

    /// Fills `bufs.routes` from `bufs.decoded`, counting what was skipped and why.
    fn route(&self, bufs: &mut Buffers<'a>, warnings: &mut Diagnostics) -> PacketCounts {
        let mut counts = PacketCounts::default();
        bufs.routes.resize_with(self.shard_count, Vec::new);
        for r in bufs.routes.iter_mut() {
            r.clear();
        }
        for (i, route) in bufs.route_of.iter().enumerate() {
            match *route {
                Route::Tcp(shard) => {
                    counts.tcp_segments += 1;
                    bufs.routes[shard as usize].push(i as u32);
                }
                Route::Udp(shard) => {
                    counts.udp_datagrams += 1;
                    bufs.routes[shard as usize].push(i as u32);
                }
                Route::Skipped => {
                    let Err(skip) = &bufs.decoded[i] else {
                        continue;
                    };
                    match skip {
                        Skip::Unhandled => counts.not_tcp_udp += 1,
                        Skip::IpFragment => counts.ip_fragments += 1,
                        _ => counts.malformed += 1,
                    }
                    if let Some(w) = skip_warning(self.files, &bufs.packets[i], skip) {
                        warnings.push(w);
                    }
                }
            }
        }
        counts
    }
}

/// Where a decoded packet goes: a TCP segment or a UDP datagram and its shard, or nowhere.
#[derive(Copy, Clone)]
enum Route {
    /// A TCP segment for this shard.
    Tcp(u32),
    /// A UDP datagram for this shard.
    Udp(u32),
    /// Not analysed (its `Skip` says why).
    Skipped,
}

impl Route {
    /// The route of a decoded packet: its connection's shard, by a hash of the canonical
    /// address pair.
    fn of(d: &Result<Packet<'_>, Skip>, shard_count: usize, hasher: &FxBuildHasher) -> Route {
        let Ok(packet) = d else {
            return Route::Skipped;
        };
        // High bits: the low ones also pick the hash-map bucket in the shard.
        let h = hasher.hash_one(ConnKey::of(packet.endpoints()));
        let shard = ((h >> 40) as usize % shard_count) as u32;
        match packet {
            Packet::Tcp(_) => Route::Tcp(shard),
            Packet::Udp(_) => Route::Udp(shard),
        }
    }
}

/// The second stage: runs the shards in parallel, each on the packets routed to it.
fn run_shards(shards: &mut [Shard], batch: &Batch<'_>, files: &[String], max_open: usize) {
    let decoded = &batch.bufs.decoded;
    shards
        .par_iter_mut()
        .zip(batch.bufs.routes.par_iter())
        .for_each(|(shard, route)| {
            for (j, &i) in route.iter().enumerate() {
                // A batch is larger than L2: by now its bytes have left the cache. Ask for
                // the payload a few packets ahead (its decoded entry further ahead).
                if let Some(&far) = route.get(j + 2 * LOOKAHEAD) {
                    prefetch_entry(&decoded[far as usize]);
                }
                if let Some(Ok(ahead)) = route.get(j + LOOKAHEAD).map(|&k| &decoded[k as usize]) {
                    capture::prefetch(ahead.payload().as_ptr());
                }
                match &decoded[i as usize] {
                    Ok(Packet::Tcp(seg)) => shard.on_segment(seg, files, max_open),
                    Ok(Packet::Udp(d)) => shard.on_datagram(d, files, max_open),
                    Err(_) => {}
                }
            }
            shard.sweep(files);
        });
}

/// How many packets ahead the decoding and the shard loop prefetch.
const LOOKAHEAD: usize = 8;

/// Prefetches every cache line of a decoded entry: at 128 bytes and 16-byte aligned, one
/// entry spans two or three lines, and the payload's address is not in the first.
fn prefetch_entry<T>(entry: &T) {
    let start = entry as *const T as *const u8;
    let size = std::mem::size_of::<T>();
    for offset in (0..size).step_by(64).chain([size - 1]) {
        capture::prefetch(start.wrapping_add(offset));
    }
}

fn skip_warning(files: &[String], p: &RawPacket<'_>, skip: &Skip) -> Option<Warning> {
    let (kind, message) = match skip {
        Skip::Unhandled | Skip::IpFragment => return None,
        Skip::UnsupportedLink(l) => (
            WarningKind::UnsupportedLinkType,
            format!("link type {} is not decoded; packet skipped", l.0),
        ),
        Skip::Malformed(e) => (WarningKind::MalformedPacket, format!("{e}; packet skipped")),
    };
    let file = files.get(p.file as usize).cloned().unwrap_or_default();
    Some(Warning {
        kind,
        location: Location {
            file,
            packet: Some(p.number),
            offset: None,
        },
        message,
    })
}

fn analyze_in_pool(
    set: &CaptureSet,
    mut diags: Diagnostics,
    opts: &Options,
) -> Result<Analysis, AnalysisError> {
    let unusable_input = diags.count(WarningKind::UnusableFile) > 0;
    let files: Vec<String> = set.files.iter().map(|f| f.name.clone()).collect();
    let mut stats = RunStats {
        files: set.files.len(),
        bytes: set.total_bytes(),
        ..RunStats::default()
    };
    #[cfg(feature = "libpcap")]
    let filter = opts
        .filter
        .as_deref()
        .map(teardown_wire::capture::bpf::Filter::new)
        .transpose()?;
    let keys = match &opts.keylog {
        Some(path) => Some(Arc::new(KeyLog::load(path, &mut diags)?)),
        None => None,
    };
    let shard_count = (rayon::current_num_threads() * 16).max(1);
    let mut shards: Vec<Shard> = (0..shard_count)
        .map(|_| Shard::new(shard_count, keys.clone(), opts.payloads))
        .collect();
    let progress = opts.progress.as_ref().map(|p| &p.0);
    if let Some(p) = progress {
        p.start(stats.bytes);
    }
    let mut reader = BatchReader {
        set,
        merged: set.packets(),
        #[cfg(feature = "libpcap")]
        filter,
        files: &files,
        shard_count,
        hasher: FxBuildHasher,
    };
    read_all(&mut reader, &mut shards, &mut stats, &mut diags, progress);
    #[cfg(feature = "libpcap")]
    if let Some(f) = reader.filter.take() {
        filter_failures(f, &files, &mut diags);
    }
    shards.par_iter_mut().for_each(|s| s.finish_all(&files));
    if let Some(p) = progress {
        p.finish();
    }
    let collected = Collected::of(shards, &mut stats, &mut diags);
    let (mut sessions, other_tcp, media) = collected.classify(&opts.ws_ports, &mut stats);
    number_and_load(&mut sessions);
    let orphan_media = join(&mut sessions, media);
    Ok(Analysis {
        sessions,
        orphan_media,
        other_tcp,
        stats,
        diagnostics: diags,
        unusable_input,
    })
}

/// Reads every batch and runs the shards on it, counting as it goes.
fn read_all(
    reader: &mut BatchReader<'_, '_>,
    shards: &mut [Shard],
    stats: &mut RunStats,
    diags: &mut Diagnostics,
    progress: Option<&Arc<dyn ProgressSink>>,
) {
    let (set, files) = (reader.set, reader.files);
    let max_open = MAX_OPEN_CONNECTIONS / shards.len();
    let mut current = reader.next_batch(Buffers::default());
    // Two sets of buffers, reused batch after batch.
    let mut spare = Buffers::default();
    while !current.bufs.packets.is_empty() {
        stats.packets += current.read;
        stats.filtered_out += current.filtered_out;
        let c = &current.counts;
        stats.tcp_segments += c.tcp_segments;
        stats.udp_datagrams += c.udp_datagrams;
        stats.not_tcp_udp += c.not_tcp_udp;
        stats.ip_fragments += c.ip_fragments;
        stats.malformed += c.malformed;
        diags.merge(std::mem::take(&mut current.warnings));
        let packets = &current.bufs.packets;
        if let (Some(first), Some(last)) = (packets.first(), packets.last()) {
            stats.first_ts = Some(stats.first_ts.map_or(first.ts, |t| t.min(first.ts)));
            stats.last_ts = Some(stats.last_ts.map_or(last.ts, |t| t.max(last.ts)));
        }
        // Pipelined: the next batch is read, decoded and routed while the shards analyse
        // this one. The two stages cost about the same, and work stealing lends idle
        // threads to the decoding of the first (see BENCHMARKS.md).
        let (next, ()) = rayon::join(
            || reader.next_batch(std::mem::take(&mut spare)),
            || run_shards(shards, &current, files, max_open),
        );
        // This batch and the one before it have been analysed: free the chunks only they
        // borrow from, once this batch's packets are gone.
        let mark = current.retired_mark;
        if let Some(p) = &progress {
            p.advance(current.position);
        }
        spare = std::mem::replace(&mut current, next).bufs;
        spare.packets.clear();
        spare.decoded.clear();
        // SAFETY: the packets read before `mark` are in this batch or earlier ones, all
        // analysed; their buffers were just cleared, and the shards keep no borrowed bytes
        // (`Shard` has no lifetime).
        unsafe { set.release_retired(mark) };
    }
    stats.bytes += reader.merged.stream_bytes();
    // The last read found the end of the input, and what was wrong with it.
    diags.merge(current.warnings);
}

/// A warning per link type the BPF filter did not compile for.
#[cfg(feature = "libpcap")]
fn filter_failures(
    f: teardown_wire::capture::bpf::Filter,
    files: &[String],
    diags: &mut Diagnostics,
) {
    for (link, e) in f.failures {
        diags.push(Warning {
            kind: WarningKind::UnsupportedLinkType,
            location: Location {
                file: files.join(", "),
                packet: None,
                offset: None,
            },
            message: format!(
                "--filter does not compile for link type {}: {e}; its packets were dropped",
                link.0
            ),
        });
    }
}

/// What the shards finished, gathered.
struct Collected {
    finished: Vec<(Session, Membership)>,
    other_tcp: Vec<Session>,
    media: Vec<MediaFlow>,
    overflow: BTreeMap<(u16, Verdict), u64>,
    tls_left_out: BTreeMap<u16, u64>,
}

impl Collected {
    /// Gathers the shards' results and counters.
    fn of(shards: Vec<Shard>, stats: &mut RunStats, diags: &mut Diagnostics) -> Collected {
        let mut c = Collected {
            finished: Vec::new(),
            other_tcp: Vec::new(),
            media: Vec::new(),
            overflow: BTreeMap::new(),
            tls_left_out: BTreeMap::new(),
        };
        // Reserved whole: grown by doubling, this list of all sessions would hold up to
        // twice their inline size while the shards' lists are still alive.
        c.finished
            .reserve_exact(shards.iter().map(|s| s.finished.len()).sum());
        for s in shards {
            for (port, n) in s.tls_left_out {
                *c.tls_left_out.entry(port).or_default() += n;
            }
            stats.other_udp_flows += s.other_udp_flows;
            c.media.extend(s.media);
            stats.connections += s.connections;
            stats.other_connections += s.other_connections;
            stats.evicted_idle += s.evicted;
            diags.merge(s.env.diags);
            c.finished.extend(s.finished);
            c.other_tcp.extend(s.other);
            for (k, n) in s.empty_overflow {
                *c.overflow.entry(k).or_default() += n;
            }
        }
        c
    }

    /// Sessions and the other TCP connections (README, "Which sessions"), and the media
    /// flows in a deterministic order (shards finish them in any order).
    fn classify(
        mut self,
        named_ports: &[u16],
        stats: &mut RunStats,
    ) -> (Vec<Session>, Vec<Session>, Vec<MediaFlow>) {
        // Server ports where an upgrade was seen (decrypted, or inferred from TLS record
        // lengths), plus the ones the user named.
        let ws_ports: BTreeSet<u16> = self
            .finished
            .iter()
            .filter(|(s, m)| {
                *m == Membership::WebSocket
                    && (s.request.is_some() || s.evidence == Evidence::RecordLengths)
            })
            .map(|(s, _)| s.server.port())
            .chain(named_ports.iter().copied())
            .collect();
        // Collected in place (a `vec::IntoIter` collected into a `Vec` of elements no
        // larger reuses its allocation): a second list of all sessions would double the
        // peak memory of a run with many open connections.
        let other_tcp = &mut self.other_tcp;
        let tls_left_out = &mut self.tls_left_out;
        let mut sessions: Vec<Session> = self
            .finished
            .into_iter()
            .filter_map(|(mut s, m)| {
                let member = match m {
                    Membership::WebSocket => true,
                    Membership::IfWebSocketPort => ws_ports.contains(&s.server.port()),
                    Membership::Other => false,
                };
                if member {
                    return Some(s);
                }
                stats.other_connections += 1;
                if s.tls.as_ref().is_some_and(|t| !t.decrypted) {
                    *tls_left_out.entry(s.server.port()).or_default() += 1;
                }
                s.keep_tcp_only();
                other_tcp.push(s);
                None
            })
            .collect();
        stats.tls_left_out = self.tls_left_out.into_iter().collect();
        for ((port, verdict), n) in self.overflow {
            if ws_ports.contains(&port) {
                stats.unlisted_attempts.push((port, verdict, n));
            } else {
                stats.other_connections += n;
            }
        }
        sort_by_start(&mut sessions);
        sort_by_start(&mut self.other_tcp);
        self.other_tcp.truncate(MAX_OTHER_LISTED);
        self.media.sort_by_key(|f| (f.first_ts, f.a, f.b));
        (sessions, self.other_tcp, self.media)
    }
}

/// Sorts sessions by start time, client and server, equal ones kept in their order, as a
/// stable sort would, but without its scratch copy of half the sessions (1.3 KB each): the
/// keys are sorted, then the sessions swapped into place, one cycle of the permutation at
/// a time.
fn sort_by_start(sessions: &mut [Session]) {
    let mut keys: Vec<(Timestamp, SocketAddr, SocketAddr, usize)> = sessions
        .iter()
        .enumerate()
        .map(|(i, s)| (s.start_ts, s.client, s.server, i))
        .collect();
    keys.sort_unstable();
    // `from[i]`: where the session to be at `i` is now; `i` once it is in place.
    let mut from: Vec<usize> = keys.into_iter().map(|k| k.3).collect();
    for start in 0..from.len() {
        let mut i = start;
        while from[i] != start {
            let j = from[i];
            sessions.swap(i, j);
            from[i] = i;
            i = j;
        }
        from[i] = i;
    }
}

/// Session ids in start order, and the load each saw (open at its start, established on
/// its server at its start and teardown).
fn number_and_load(sessions: &mut [Session]) {
    for (i, s) in sessions.iter_mut().enumerate() {
        s.id = i as u64 + 1;
    }
    let steps = crate::loadrun::concurrency_steps(sessions.iter());
    for s in sessions.iter_mut() {
        s.open_at_start = crate::loadrun::open_at(&steps, s.start_ts);
    }
    crate::loadrun::set_server_load(sessions);
}

#[cfg(test)]
mod tests {
    use super::*;
    use teardown_wire::capture::TcpFlags;

    /// A shard over its share of open connections, all of which carried data (nothing to
    /// evict), does not scan its connections again for every new one: that made 200 000
    /// open connections take 272 s instead of 32 s (README, "Hostile input and bounded
    /// memory"). 30 000 connections over a cap of 100 within 30 ms of capture time: one
    /// scan instead of 30 000 scans of up to 30 000 connections (0.3 s against 180 s in a
    /// debug build).
    #[test]
    fn a_full_shard_with_nothing_to_evict_does_not_rescan_per_connection() {
        let files = ["t.pcap".to_string()];
        let mut shard = Shard::new(16, None, false);
        let server: SocketAddr = "10.0.0.5:8080".parse().unwrap();
        let start = std::time::Instant::now();
        for i in 0..30_000u32 {
            let seg = Segment {
                ts: Timestamp(1_000_000_000 + i64::from(i) * 1000),
                src: SocketAddr::from(([10, 1, (i >> 8) as u8, i as u8], 40_000)),
                dst: server,
                seq: 1,
                ack: 1,
                flags: TcpFlags(TcpFlags::ACK),
                window: 1000,
                payload: b"GET / HTTP/1.1\r\n",
                missing: 0,
                file: 0,
                number: u64::from(i) + 1,
            };
            shard.on_segment(&seg, &files, 100);
        }
        let took = start.elapsed();
        assert_eq!(shard.conns.len(), 30_000);
        assert!(took < std::time::Duration::from_secs(3), "{took:?}");
    }
}
