//! Synthetic load-run captures with ground truth, for testing `teardown` at scale.
//!
//! [`generate`] writes a deterministic pcap of a WebSocket/WebRTC load test (the story of
//! the README: signalling over WebSocket, STUN and RTP media over UDP, and from a given
//! concurrency on, a proxy that resets sessions at a fixed age) and returns the [`Truth`]:
//! for every session the verdict, client-observed code, close code and frame counts that
//! `teardown` must find, and for every RTP stream the packets and losses that an RTP
//! analyser must find.
//!
//! What is on the wire:
//!
//! - every session is a fresh TCP connection from its own client address (`10.1.x.y`, some
//!   `fd00:1::x`) and an ephemeral port to `10.0.0.5:8443`, `10.0.0.6:8443` or
//!   `[fd00::5]:8443`: SYN with MSS, SACK-permitted, timestamps and window scale, SYN-ACK,
//!   ACK, random initial sequence numbers (a quarter of them within 40 000 of 2^32 so they
//!   wrap), MSS-sized segments, delayed ACKs, SACK on duplicate ACKs; the capture point is
//!   the server host, so client packets show their round trip after the server's;
//! - a few adjacent data segments swapped (`reorder`), and segments retransmitted about
//!   200 ms plus a round trip after the original (`retransmit`): a server segment lost
//!   after the capture point (the client's duplicate ACKs follow) or a client segment
//!   whose ACK was lost (a spurious retransmission). No packet is missing from the
//!   capture;
//! - the HTTP upgrade with a random key and the right `Sec-WebSocket-Accept`, masked
//!   client frames, JSON signalling (register, SDP offer and answer over several segments,
//!   some fragmented into continuation frames, trickled candidates, stats reports, server
//!   events), server pings every 5 s answered by pongs with the same payload;
//! - teardowns with the README's verdicts: mostly `clean_close_client`, some
//!   `clean_close_server`, `server_close_error` (1011, 1013), `client_rst_no_close`,
//!   `server_fin_no_close`, `handshake_rejected` (503), `connect_refused`,
//!   `syn_unanswered`; once more than [`SynthConfig::fail_above`] sessions are open, most
//!   new sessions are reset by the server at 60 s of age (`server_rst_no_close`) and more
//!   attempts fail; sessions still running at the end are `open_at_capture_end`;
//! - with [`SynthConfig::media`], one UDP flow per session: STUN Binding requests and
//!   success responses every 2.5 s, Opus RTP both ways at 50 packets/s (some sequence
//!   numbers wrap, `loss` skips sequence numbers), RTCP SR+SDES every 5 s, and SR+SDES+BYE
//!   at clean ends.
//!
//! With [`SynthConfig::load`], a load run of long calls against one server that sheds load
//! instead (see [`LoadShape`]); its truth adds, per session, the server's own count of
//! established and connecting sessions at its start and its teardown.
//!
//! The capture is streamed: sessions wait in a priority queue keyed by the time of their
//! next packet, so memory follows the sessions open at one time, not the duration.

mod loadrun;
mod media;
mod pcap;
mod rng;
mod session;
mod tcp;
mod ws;

pub use loadrun::LoadShape;
use rng::Rng;
use session::{Session, Shared};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io::{self, BufWriter, Write};
use std::net::SocketAddr;

/// Share of the duration over which sessions arrive (a load tool's ramp-up).
pub const RAMP_SHARE: f64 = 0.85;

/// What to generate.
#[derive(Clone, Debug)]
pub struct SynthConfig {
    /// Sessions (connection attempts) started during the ramp-up.
    pub sessions: usize,
    /// Capture length in seconds; no step starts after it (a teardown or retransmission
    /// under way finishes, so the last packets may be up to about a second later).
    pub duration_s: f64,
    /// Seed of every random choice: the same configuration gives the same bytes.
    pub seed: u64,
    /// Concurrency (established sessions) above which failures start.
    pub fail_above: usize,
    /// Generate the STUN/RTP/RTCP flow of each session.
    pub media: bool,
    /// Share of sessions over IPv6.
    pub ipv6_share: f64,
    /// Probability that an RTP packet is lost before the capture point (its sequence
    /// number is skipped).
    pub loss: f64,
    /// Probability that two adjacent data segments of a message are swapped.
    pub reorder: f64,
    /// Probability that a data segment is retransmitted.
    pub retransmit: f64,
    /// A load run against one server that sheds load above a cap (`fail_above` and the
    /// normal mix of endings do not apply then); every call should end within
    /// `duration_s`, as the server's counts treat a session still open as open forever.
    pub load: Option<LoadShape>,
    /// The audio codec of the RTP streams (packet size and clock).
    pub codec: Codec,
}

/// The audio codec of the generated RTP (both are in the SDP offer's `a=rtpmap` lines).
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub enum Codec {
    /// Opus at 48 kHz (payload type 111): 20 ms packets of 60-140 bytes, a browser's.
    #[default]
    Opus,
    /// PCMU, G.711 µ-law at 8 kHz (payload type 0): 20 ms packets of 160 bytes, as a SIP
    /// gateway or the recorded benchmark run (`bench/record_loadrun.sh`) sends them.
    Pcmu,
}

impl Codec {
    /// RTP payload type.
    pub(crate) fn payload_type(self) -> u8 {
        match self {
            Codec::Opus => 111,
            Codec::Pcmu => 0,
        }
    }

    /// RTP clock ticks per 20 ms packet.
    pub(crate) fn ticks_per_packet(self) -> u32 {
        match self {
            Codec::Opus => 960,
            Codec::Pcmu => 160,
        }
    }
}

impl Default for SynthConfig {
    fn default() -> SynthConfig {
        SynthConfig {
            sessions: 200,
            duration_s: 300.0,
            seed: 1,
            fail_above: 300,
            media: true,
            ipv6_share: 0.1,
            loss: 0.01,
            reorder: 0.02,
            retransmit: 0.005,
            load: None,
            codec: Codec::Opus,
        }
    }
}

/// The ground truth of a generated capture.
#[derive(Clone, Debug, Default)]
pub struct Truth {
    /// Sessions in order of their first packet (as `teardown` numbers them).
    pub sessions: Vec<SessionTruth>,
    /// RTP streams that have at least one packet, in order of their first packet.
    pub rtp_streams: Vec<RtpTruth>,
    /// STUN totals.
    pub stun: StunTruth,
    /// Packets written.
    pub packets: u64,
    /// File size in bytes.
    pub bytes: u64,
    /// Time of the last packet, µs since the epoch.
    pub last_us: u64,
    /// Most sessions established at one time.
    pub max_concurrency: usize,
    /// When the concurrency first went above `fail_above`, µs since the epoch.
    pub overload_start_us: Option<u64>,
}

impl Truth {
    /// Adjacent segment pairs written swapped, over all sessions.
    pub fn reordered_segments(&self) -> u64 {
        self.sessions.iter().map(|s| s.reordered).sum()
    }

    /// Segments written twice (data, SYNs), over all sessions.
    pub fn retransmissions(&self) -> u64 {
        self.sessions.iter().map(|s| s.retransmissions).sum()
    }

    /// Sessions per verdict, sorted by verdict.
    pub fn verdict_counts(&self) -> Vec<(&'static str, usize)> {
        let mut m = std::collections::BTreeMap::new();
        for s in &self.sessions {
            *m.entry(s.verdict).or_insert(0) += 1;
        }
        m.into_iter().collect()
    }
}

/// What `teardown` must find for one session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionTruth {
    /// Client address (the SYN sender).
    pub client: SocketAddr,
    /// Server address.
    pub server: SocketAddr,
    /// First packet (the SYN), µs since the epoch.
    pub start_us: u64,
    /// The verdict, spelled as `teardown` spells it.
    pub verdict: &'static str,
    /// What the client's WebSocket API reports (README, "Verdicts").
    pub client_observed_code: Option<u16>,
    /// Code of the first close frame on the wire.
    pub close_code: Option<u16>,
    /// Codes of every close frame written, in order.
    pub close_frames: Vec<u16>,
    /// WebSocket frames from the client (control frames included).
    pub frames_c2s: u64,
    /// WebSocket frames from the server.
    pub frames_s2c: u64,
    /// Segments written a second time: data, and SYNs sent again (what tshark counts as
    /// retransmissions).
    pub retransmissions: u64,
    /// Adjacent segment pairs written swapped.
    pub reordered: u64,
    /// HTTP status of the upgrade response.
    pub http_status: Option<u16>,
    /// When the server's 101 went out, µs since the epoch.
    pub established_us: Option<u64>,
    /// When its teardown started on the wire (README, "Verdicts"), µs since the epoch.
    pub teardown_us: Option<u64>,
    /// The server started the teardown and it was abnormal: a drop.
    pub server_dropped: bool,
    /// Load mode: sessions established on its server just before its SYN.
    pub established_at_start: usize,
    /// Load mode: sessions established on its server at its teardown, itself included.
    pub established_at_teardown: Option<usize>,
    /// Load mode: sessions connecting to its server at its teardown, itself included.
    pub connecting_at_teardown: Option<usize>,
}

/// One RTP stream as written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RtpTruth {
    /// Sender.
    pub src: SocketAddr,
    /// Receiver.
    pub dst: SocketAddr,
    /// Synchronisation source.
    pub ssrc: u32,
    /// The session whose call it belongs to: its index in [`Truth::sessions`] (teardown
    /// numbers sessions from 1, so its `session_id` is this plus one).
    pub session: usize,
    /// First packet, µs since the epoch.
    pub first_us: u64,
    /// Packets written.
    pub packets: u64,
    /// Expected minus received, as RFC 3550 A.3 counts it (losses after the last
    /// packet written do not count).
    pub lost: u64,
    /// Sequence numbers skipped in all (trailing ones included).
    pub skipped: u64,
}

/// STUN totals.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StunTruth {
    /// Binding requests written.
    pub requests: u64,
    /// Binding success responses written.
    pub responses: u64,
}

/// Writes the capture described by `cfg` to `out` as a classic pcap, in timestamp order,
/// and returns its ground truth. The capture is streamed (buffered 1 MiB at a time).
pub fn generate(cfg: &SynthConfig, out: &mut impl Write) -> io::Result<Truth> {
    if !(cfg.duration_s > 0.0 && cfg.duration_s < 1e7) {
        return Err(io::Error::other("duration must be positive"));
    }
    for p in [cfg.ipv6_share, cfg.loss, cfg.reorder, cfg.retransmit] {
        if !(0.0..=1.0).contains(&p) {
            return Err(io::Error::other(
                "shares and probabilities must be within 0..=1",
            ));
        }
    }
    let end = (cfg.duration_s * 1e6).round() as u64;
    let mut sh = Shared {
        w: pcap::PcapWriter::new(BufWriter::with_capacity(1 << 20, out))?,
        end,
        cfg: cfg.clone(),
        concurrency: 0,
        shed: 0,
        sheds: Vec::new(),
        truth: Truth::default(),
    };
    let mut master = Rng::new(cfg.seed ^ 0x7EA2_D0C5_5EED_0001);
    let ramp = end as f64 * RAMP_SHARE;
    let n = cfg.sessions;
    let mut prev = 0u64;
    let mut arrival = |i: usize, rng: &mut Rng| -> u64 {
        let u = rng.f64();
        let t = match &cfg.load {
            Some(shape) => shape.arrival_us(i, u),
            None => ramp * (i as f64 + 0.9 * u) / n as f64,
        } as u64
            + 1000;
        prev = if i == 0 { t } else { t.max(prev + 1) };
        prev
    };
    let mut heap: BinaryHeap<Reverse<(u64, u64, usize)>> = BinaryHeap::new();
    let mut slots: Vec<Option<Session>> = Vec::new();
    // The time of each slot's live heap entry; an entry at another time is stale (a shed
    // session was rescheduled earlier).
    let mut due: Vec<u64> = Vec::new();
    let mut free: Vec<usize> = Vec::new();
    let mut i = 0usize;
    let mut next_arrival = (n > 0).then(|| arrival(0, &mut master));
    loop {
        let top = heap.peek().map(|Reverse((t, _, _))| *t);
        let (t, slot) = match (next_arrival, top) {
            (Some(a), top) if a < end && top.is_none_or(|t| a <= t) => {
                let s = Session::start(i, i as u64, a, master.fork(), &mut sh);
                i += 1;
                next_arrival = (i < n).then(|| arrival(i, &mut master));
                let slot = match free.pop() {
                    Some(k) => {
                        slots[k] = Some(s);
                        k
                    }
                    None => {
                        slots.push(Some(s));
                        due.push(0);
                        slots.len() - 1
                    }
                };
                (a, slot)
            }
            (_, Some(_)) => {
                let Some(Reverse((t, id, slot))) = heap.pop() else {
                    break;
                };
                if due[slot] != t || slots[slot].as_ref().is_none_or(|s| s.id != id) {
                    continue;
                }
                (t, slot)
            }
            _ => break,
        };
        let s = slots[slot].as_mut().expect("live slot");
        s.run(t, &mut sh)?;
        match s.next_time() {
            Some(nt) => {
                heap.push(Reverse((nt, s.id, slot)));
                due[slot] = nt;
            }
            None => {
                let s = slots[slot].take().expect("live slot");
                debug_assert!(s.done());
                s.finish(&mut sh);
                free.push(slot);
            }
        }
        // Load mode: the server drops a random established session for each one over its
        // cap.
        for (at, end) in std::mem::take(&mut sh.sheds) {
            let live: Vec<usize> = (0..slots.len())
                .filter(|&k| slots[k].as_ref().is_some_and(Session::sheddable))
                .collect();
            if live.is_empty() {
                continue;
            }
            let k = live[master.below(live.len() as u64) as usize];
            let victim = slots[k].as_mut().expect("live slot");
            victim.shed(at, end);
            let nt = victim
                .next_time()
                .expect("a shed session has its teardown to do");
            if nt < due[k] {
                heap.push(Reverse((nt, victim.id, k)));
                due[k] = nt;
            }
        }
    }
    let mut truth = std::mem::take(&mut sh.truth);
    truth.packets = sh.w.packets;
    truth.bytes = sh.w.bytes;
    truth.last_us = pcap::EPOCH_US + sh.w.last_t;
    sh.w.finish()?.flush()?;
    truth
        .rtp_streams
        .sort_by_key(|r| (r.first_us, r.src, r.ssrc));
    if cfg.load.is_some() {
        loadrun::server_counts(&mut truth);
    }
    Ok(truth)
}

fn us_to_secs(us: u64) -> String {
    format!("{}.{:06}", us / 1_000_000, us % 1_000_000)
}

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map(|x| x.to_string()).unwrap_or_default()
}

/// Writes the sessions of `truth` as CSV: one row per session, in `teardown`'s order
/// (`session_id` matches `teardown sessions`).
pub fn write_sessions_csv(truth: &Truth, out: impl Write) -> io::Result<()> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record([
        "session_id",
        "client_ip",
        "client_port",
        "server_ip",
        "server_port",
        "start_ts",
        "verdict",
        "client_observed_code",
        "close_code",
        "frames_c2s",
        "frames_s2c",
        "handshake_status",
        "retransmissions",
        "reordered",
        "established_ts",
        "teardown_ts",
        "server_dropped",
        "established_at_start",
        "established_at_teardown",
        "connecting_at_teardown",
    ])?;
    for (i, s) in truth.sessions.iter().enumerate() {
        w.write_record([
            (i + 1).to_string(),
            s.client.ip().to_string(),
            s.client.port().to_string(),
            s.server.ip().to_string(),
            s.server.port().to_string(),
            us_to_secs(s.start_us),
            s.verdict.to_string(),
            opt(s.client_observed_code),
            opt(s.close_code),
            s.frames_c2s.to_string(),
            s.frames_s2c.to_string(),
            opt(s.http_status),
            s.retransmissions.to_string(),
            s.reordered.to_string(),
            opt(s.established_us.map(us_to_secs)),
            opt(s.teardown_us.map(us_to_secs)),
            s.server_dropped.to_string(),
            s.established_at_start.to_string(),
            opt(s.established_at_teardown),
            opt(s.connecting_at_teardown),
        ])?;
    }
    w.flush()
}

/// Writes the RTP streams of `truth` as CSV.
pub fn write_rtp_csv(truth: &Truth, out: impl Write) -> io::Result<()> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record([
        "src_ip",
        "src_port",
        "dst_ip",
        "dst_port",
        "ssrc",
        "first_ts",
        "packets",
        "lost",
        "session_id",
    ])?;
    for r in &truth.rtp_streams {
        w.write_record([
            r.src.ip().to_string(),
            r.src.port().to_string(),
            r.dst.ip().to_string(),
            r.dst.port().to_string(),
            format!("0x{:08x}", r.ssrc),
            us_to_secs(r.first_us),
            r.packets.to_string(),
            r.lost.to_string(),
            (r.session + 1).to_string(),
        ])?;
    }
    w.flush()
}
