//! The facts of one TCP connection, kept while its packets arrive.
//!
//! Directions are first kept relative to the endpoint that sent the first captured packet
//! ("A"); who is client is decided at the end (the SYN sender, else the sender of the HTTP
//! upgrade request, else the side whose frames are masked), because a connection joined
//! mid-stream only reveals it later.

use super::verdict::{decide, Answer, Decision, Facts, StartKind, TlsFacts};
use super::Session;
use super::{CloseInfo, Direction, DirectionStats, Event, EventKind, Evidence, InferredEvent};
use crate::flow::{MediaFlow, UdpFlow};
use crate::MAX_TIMELINE_EVENTS;
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use teardown_wire::capture::{Segment, TcpFlags};
use teardown_wire::diag::{Diagnostics, Location, Warning, WarningKind};
use teardown_wire::media::SdpFacts;
use teardown_wire::tcp::{Delivery, Reassembler, SegmentClass, SeqAnalysis};
use teardown_wire::time::Timestamp;
use teardown_wire::tls::infer::{Inferred, NotInferred};
use teardown_wire::tls::{alert_name, KeyLog, TlsConnection, TlsEvent, TlsOutcome, TlsSummary};
use teardown_wire::ws::{
    accept_key, keeps_context, parse_close, violations, FrameContext, FrameEvent, Inflater, Opcode,
    StreamDecoder, TextMessage, UpgradeRequest, UpgradeResponse, WsEvent,
};

/// Ping and pong events kept for the timeline (the most recent; all are counted).
const CONTROL_EVENTS_KEPT: usize = 64;
/// Pings awaiting a pong, per connection.
const PINGS_PENDING: usize = 32;
/// FIN, RST and gap events kept per direction (all are counted).
const REPEATS_KEPT: u64 = 8;
/// Protocol violation events kept on the timeline per direction (all are warnings).
const VIOLATIONS_KEPT: u64 = 16;

/// Why a connection's tracking ended.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum ConnectionEnd {
    /// It closed and lingered long enough for late packets.
    Closed,
    /// A new connection reused its addresses and ports.
    Reused,
    /// The capture ended.
    CaptureEnd,
    /// It carried nothing and went idle (see `analysis::EMPTY_IDLE`).
    Idle,
}

/// Whether a finished connection is a session.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Membership {
    /// It sent an upgrade request or carried WebSocket frames.
    WebSocket,
    /// It never got far enough to tell: a session if its server port is a WebSocket port.
    IfWebSocketPort,
    /// Something else (plain HTTP, another protocol).
    Other,
}

#[derive(Clone, Debug)]
struct RawEvent {
    ts: Timestamp,
    from_a: bool,
    kind: EventKind,
}

#[derive(Default)]
struct Side {
    reasm: Reassembler,
    decoder: StreamDecoder,
    stats: OpenStats,
    syn: Option<(Timestamp, u32)>,
    syn_attempts: u32,
    synack: Option<Timestamp>,
    first_fin: Option<Timestamp>,
    first_rst: Option<Timestamp>,
    first_zero_window: Option<Timestamp>,
    first_data_frame: Option<Timestamp>,
    last_data_frame: Option<Timestamp>,
    /// The first close frame: time, code, reason (boxed: most connections are open).
    first_close: Option<Box<(Timestamp, Option<u16>, String)>>,
    /// A fragmented data message is open; `None` while unknown (see [`FrameContext`]).
    message_open: Option<bool>,
    /// RFC 6455 violations seen in this direction.
    violations: u64,
    not_websocket: bool,
    /// The first byte of this direction was delivered (and checked for TLS).
    started: bool,
    /// permessage-deflate context, created at the first compressed message.
    inflater: Option<Box<Inflater>>,
    /// The start of the first and the last text message, with `--payloads`.
    text: Option<Box<MessageText>>,
}

/// A direction's counters while its connection is open: the ones every WebSocket
/// connection moves inline, the rest of its [`DirectionStats`] (retransmissions, FINs and
/// RSTs, gaps, close frames...) boxed at the first of them, as most open connections
/// have none.
#[derive(Default)]
struct OpenStats {
    packets: u64,
    payload_bytes: u64,
    frames: u64,
    text_frames: u64,
    binary_frames: u64,
    continuation_frames: u64,
    messages: u64,
    control_frames: u64,
    pings: u64,
    pongs: u64,
    masked_frames: u64,
    compressed_frames: u64,
    ws_payload_bytes: u64,
    /// The other counters (its fields above stay zero until [`OpenStats::finish`]).
    rare: Option<Box<DirectionStats>>,
}

impl OpenStats {
    /// The counters kept boxed, boxed now if they were not.
    fn rare(&mut self) -> &mut DirectionStats {
        self.rare.get_or_insert_with(Box::default)
    }

    /// A rare counter's value (0 until the first count).
    fn get(&self, f: impl Fn(&DirectionStats) -> u64) -> u64 {
        self.rare.as_deref().map_or(0, f)
    }

    /// All the counters, as the session keeps them.
    fn finish(self) -> DirectionStats {
        DirectionStats {
            packets: self.packets,
            payload_bytes: self.payload_bytes,
            frames: self.frames,
            text_frames: self.text_frames,
            binary_frames: self.binary_frames,
            continuation_frames: self.continuation_frames,
            messages: self.messages,
            control_frames: self.control_frames,
            pings: self.pings,
            pongs: self.pongs,
            masked_frames: self.masked_frames,
            compressed_frames: self.compressed_frames,
            ws_payload_bytes: self.ws_payload_bytes,
            ..self.rare.map(|b| *b).unwrap_or_default()
        }
    }
}

/// The start of a direction's first and last text message (inflated), as the timeline
/// shows them with `--payloads`.
struct MessageText {
    first: String,
    last: String,
}

/// Characters of a message kept for the timeline.
pub const MESSAGE_TEXT_CHARS: usize = 64;

/// The first [`MESSAGE_TEXT_CHARS`] characters of `text`, with `…` when it goes on.
fn message_start(text: &str) -> String {
    let mut chars = text.chars();
    let mut out: String = chars.by_ref().take(MESSAGE_TEXT_CHARS).collect();
    if chars.next().is_some() {
        out.push('…');
    }
    out
}

/// The pings and pongs of a connection (boxed: most connections send none).
#[derive(Default)]
struct Pings {
    /// Ping and pong events kept for the timeline (the most recent; all are counted).
    events: VecDeque<RawEvent>,
    /// Pings awaiting a pong: sent by side A, payload, time.
    pending: VecDeque<(bool, Vec<u8>, Timestamp)>,
    /// Round trips matched: count, sum and largest, in milliseconds.
    rtt_count: u64,
    rtt_sum_ms: f64,
    rtt_max_ms: f64,
}

impl Pings {
    fn event(&mut self, ts: Timestamp, from_a: bool, kind: EventKind) {
        if self.events.len() == CONTROL_EVENTS_KEPT {
            self.events.pop_front();
        }
        self.events.push_back(RawEvent { ts, from_a, kind });
    }
}

/// Tracks one TCP connection.
pub struct Connection {
    a: SocketAddr,
    b: SocketAddr,
    first_ts: Timestamp,
    last_ts: Timestamp,
    sides: [Side; 2],
    events: Vec<RawEvent>,
    // Boxed as the decoder made them (moved in, not copied); a SYN flood has neither.
    request: Option<(bool, Timestamp, Box<UpgradeRequest>)>,
    response: Option<(bool, Timestamp, Box<UpgradeResponse>)>,
    /// Pings and pongs, once one was seen.
    pings: Option<Box<Pings>>,
    closed_at: Option<Timestamp>,
    events_dropped: u64,
    /// What the SDP in the signalling said, once it held some.
    sdp: Option<Box<SdpFacts>>,
    /// STUN/TURN framed on this connection instead of WebSocket (ICE-TCP, TURN over TCP).
    stun: Option<Box<UdpFlow>>,
    /// File and packet number of the last segment, for warnings raised at the end.
    last_loc: (u32, u64),
    /// TLS state, when a direction started with a TLS handshake record.
    tls: Option<Box<TlsConnection>>,
    /// Retransmissions as tshark counts them.
    seq_analysis: SeqAnalysis,
}

/// The buffers a connection's decoders fill and the connection empties before its call
/// returns: one set per shard, lent to each connection in turn, rather than one per open
/// connection.
#[derive(Default)]
pub struct Scratch {
    ws_events: Vec<WsEvent>,
    tls_events: Vec<TlsEvent>,
}

/// What a connection borrows from its shard for one call: where warnings go (file names
/// by index), the analysis options it needs, and the shard's [`Scratch`] buffers.
pub struct ShardContext<'a> {
    /// Capture file names, indexed by [`Segment::file`].
    pub files: &'a [String],
    /// Where warnings go.
    pub diags: &'a mut Diagnostics,
    /// The key log to decrypt TLS with.
    pub keys: Option<&'a Arc<KeyLog>>,
    /// Keep the start of each direction's first and last text message (`--payloads`).
    pub keep_text: bool,
    /// The shard's scratch buffers.
    pub scratch: &'a mut Scratch,
}

impl ShardContext<'_> {
    fn warn(&mut self, seg: (u32, u64), kind: WarningKind, message: String) {
        let file = self.files.get(seg.0 as usize).cloned().unwrap_or_default();
        self.diags.push(Warning {
            kind,
            location: Location {
                file,
                packet: Some(seg.1),
                offset: None,
            },
            message,
        });
    }
}

impl Connection {
    /// Starts tracking at the first captured segment.
    pub fn new(first: &Segment<'_>) -> Connection {
        Connection {
            a: first.src,
            b: first.dst,
            first_ts: first.ts,
            last_ts: first.ts,
            sides: Default::default(),
            events: Vec::new(),
            request: None,
            response: None,
            pings: None,
            closed_at: None,
            events_dropped: 0,
            sdp: None,
            stun: None,
            last_loc: (first.file, first.number),
            tls: None,
            seq_analysis: SeqAnalysis::default(),
        }
    }

    /// When the connection was closed (RST, or FIN both ways), if it was.
    pub fn closed_at(&self) -> Option<Timestamp> {
        self.closed_at
    }

    /// Time of the last captured segment.
    pub fn last_ts(&self) -> Timestamp {
        self.last_ts
    }

    /// True when no payload went either way: a connection attempt (answered or not) that
    /// carried nothing yet. Under a SYN flood these are the entries that pile up.
    pub fn is_empty(&self) -> bool {
        self.sides.iter().all(|s| s.stats.payload_bytes == 0)
    }

    /// True when `seg` opens a new connection on the same addresses rather than belonging
    /// to this one: a SYN after this one closed, or with another initial sequence number.
    /// A first SYN from a side that has sent nothing yet is this connection's own,
    /// captured after the peer's SYN-ACK (a reordered handshake).
    pub fn is_reused_by(&self, seg: &Segment<'_>) -> bool {
        if !seg.flags.has(TcpFlags::SYN) || seg.flags.has(TcpFlags::ACK) {
            return false;
        }
        let side = &self.sides[usize::from(seg.src != self.a)];
        match side.syn {
            _ if self.closed_at.is_some() => true,
            Some((_, isn)) => isn != seg.seq,
            None => side.stats.packets > 0,
        }
    }

    fn event(&mut self, ts: Timestamp, from_a: bool, kind: EventKind) {
        if self.events.len() < MAX_TIMELINE_EVENTS {
            if self.events.len() == self.events.capacity() {
                // Grown by half, not doubled: the list lives as long as the connection
                // (and becomes its session's timeline), so its slack is paid per
                // connection. Six events: an upgrade and a message each way.
                self.events.reserve_exact((self.events.len() / 2).max(6));
            }
            self.events.push(RawEvent { ts, from_a, kind });
        } else {
            self.events_dropped += 1;
        }
    }

    /// Adds one segment of this connection.
    pub fn on_segment(&mut self, seg: &Segment<'_>, ctx: &mut ShardContext<'_>) {
        let from_a = seg.src == self.a;
        let d = usize::from(!from_a);
        self.last_ts = self.last_ts.max(seg.ts);
        let loc = (seg.file, seg.number);
        self.last_loc = loc;
        self.count_segment(d, seg, ctx);
        let data_seq = self.on_flags(d, seg);
        // An ACK tells which bytes of the other direction reached the peer.
        if seg.flags.has(TcpFlags::ACK) {
            let o = 1 - d;
            self.stream(o, ctx, |reasm, out| reasm.peer_ack(seg.ts, seg.ack, out));
            self.process_events(o, loc, ctx);
        }
        if seg.payload.len() as u32 + seg.missing > 0 {
            self.on_payload(d, seg, data_seq, ctx);
        }
        if seg.flags.has(TcpFlags::FIN) {
            self.on_fin(d, seg, data_seq);
        }
    }

    /// Counts the segment in its direction, as tshark classifies it.
    #[inline]
    fn count_segment(&mut self, d: usize, seg: &Segment<'_>, ctx: &mut ShardContext<'_>) {
        let class = self.seq_analysis.segment(d, seg);
        let s = &mut self.sides[d];
        s.stats.packets += 1;
        s.stats.payload_bytes += seg.payload.len() as u64;
        match class {
            SegmentClass::Retransmission => s.stats.rare().retransmitted += 1,
            SegmentClass::FastRetransmission => {
                let rare = s.stats.rare();
                rare.retransmitted += 1;
                rare.fast_retransmissions += 1;
            }
            SegmentClass::SpuriousRetransmission => {
                let rare = s.stats.rare();
                rare.retransmitted += 1;
                rare.spurious_retransmissions += 1;
            }
            SegmentClass::Normal | SegmentClass::OutOfOrder | SegmentClass::KeepAlive => {}
        }
        if seg.missing > 0 {
            ctx.warn(
                (seg.file, seg.number),
                WarningKind::SnaplenCut,
                format!("{} payload bytes cut by the snaplen", seg.missing),
            );
        }
    }

    /// SYN, SYN-ACK, RST and zero-window; returns the sequence number of the segment's
    /// first data byte (RFC 9293 §3.5: a SYN opens, a SYN-ACK answers; both take one).
    #[inline]
    fn on_flags(&mut self, d: usize, seg: &Segment<'_>) -> u32 {
        let (ts, flags, from_a) = (seg.ts, seg.flags, d == 0);
        let mut data_seq = seg.seq;
        if flags.has(TcpFlags::SYN) {
            data_seq = seg.seq.wrapping_add(1);
            let s = &mut self.sides[d];
            s.reasm.syn(seg.seq);
            s.decoder.stream_started();
            if flags.has(TcpFlags::ACK) {
                if s.synack.is_none() {
                    s.synack = Some(ts);
                    self.event(ts, from_a, EventKind::SynAck);
                }
            } else {
                s.syn_attempts += 1;
                if s.syn.is_none() {
                    s.syn = Some((ts, seg.seq));
                }
            }
        }
        if flags.has(TcpFlags::RST) {
            let s = &mut self.sides[d];
            let rare = s.stats.rare();
            rare.rsts += 1;
            let rsts = rare.rsts;
            s.first_rst.get_or_insert(ts);
            if rsts <= REPEATS_KEPT {
                self.event(ts, from_a, EventKind::Rst);
            }
            self.closed_at.get_or_insert(ts);
        } else if seg.window == 0 && !flags.has(TcpFlags::SYN) {
            let s = &mut self.sides[d];
            s.stats.rare().zero_windows += 1;
            if s.first_zero_window.is_none() {
                s.first_zero_window = Some(ts);
                self.event(ts, from_a, EventKind::ZeroWindow);
            }
        }
        data_seq
    }

    /// The segment's payload into reassembly (a keep-alive counted, a retransmission with
    /// other bytes reported), and what it completed through the decoders.
    fn on_payload(
        &mut self,
        d: usize,
        seg: &Segment<'_>,
        data_seq: u32,
        ctx: &mut ShardContext<'_>,
    ) {
        let (ts, loc) = (seg.ts, (seg.file, seg.number));
        let len = seg.payload.len() as u32 + seg.missing;
        let s = &mut self.sides[d];
        if len <= 1
            && s.reasm
                .next_seq()
                .is_some_and(|n| n.0 == data_seq.wrapping_add(1))
            && !seg.flags.has(TcpFlags::FIN)
        {
            s.stats.rare().keepalives += 1;
        }
        let inconsistent = s.reasm.stats.inconsistent;
        self.stream(d, ctx, |reasm, out| {
            reasm.segment(ts, data_seq, seg.payload, seg.missing, out)
        });
        let r = &self.sides[d].reasm.stats;
        if r.inconsistent > inconsistent {
            let bytes = r.last_inconsistent_len;
            self.event(ts, d == 0, EventKind::InconsistentRetransmission { bytes });
            ctx.warn(
                loc,
                WarningKind::RexmitInconsistency,
                format!(
                    "{} -> {} ({}): a retransmission of {bytes} bytes differs from the \
                     first copy; the first copy is used",
                    self.src(d),
                    self.dst(d),
                    self.what(d)
                ),
            );
        }
        self.process_events(d, loc, ctx);
    }

    /// A FIN: the end of the direction's bytes; both ways closes the connection.
    fn on_fin(&mut self, d: usize, seg: &Segment<'_>, data_seq: u32) {
        let ts = seg.ts;
        let s = &mut self.sides[d];
        s.reasm
            .fin(data_seq, seg.payload.len() as u32 + seg.missing);
        let rare = s.stats.rare();
        rare.fins += 1;
        let fins = rare.fins;
        let retransmission = s.first_fin.is_some();
        s.first_fin.get_or_insert(ts);
        if fins <= REPEATS_KEPT {
            self.event(ts, d == 0, EventKind::Fin { retransmission });
        }
        if self.sides[0].first_fin.is_some() && self.sides[1].first_fin.is_some() {
            self.closed_at.get_or_insert(ts);
        }
    }

    /// Runs `f` on direction `d`'s reassembler with the delivery path of this connection:
    /// the first delivered bytes of a direction are probed for TLS (`tcp::probe`, certain
    /// from the first byte; the only cost TLS adds to other traffic); TLS goes through
    /// [`TlsConnection`], whose plaintext (and everything else) reaches the stream decoder,
    /// which probes it for the rest.
    fn stream(
        &mut self,
        d: usize,
        ctx: &mut ShardContext<'_>,
        f: impl FnOnce(&mut Reassembler, &mut dyn FnMut(Delivery<'_>)),
    ) {
        let Connection { sides, tls, .. } = self;
        let (keys, scratch) = (ctx.keys, &mut *ctx.scratch);
        let Side {
            reasm,
            decoder,
            started,
            ..
        } = &mut sides[d];
        let mut deliver = |dl: Delivery<'_>| {
            if !*started {
                *started = true;
                if let Delivery::Data { bytes, .. } = dl {
                    if tls.is_none() && teardown_wire::tcp::probe(bytes).is_tls() {
                        *tls = Some(Box::new(TlsConnection::new(keys.cloned())));
                    }
                }
            }
            match tls {
                Some(t) => t.deliver(d, dl, &mut scratch.tls_events, &mut |plain| {
                    feed(decoder, plain, &mut scratch.ws_events)
                }),
                None => feed(decoder, dl, &mut scratch.ws_events),
            }
        };
        f(reasm, &mut deliver);
    }

    fn process_events(&mut self, d: usize, loc: (u32, u64), ctx: &mut ShardContext<'_>) {
        if !ctx.scratch.tls_events.is_empty() {
            self.process_tls_events(d, loc, ctx);
        }
        self.process_ws_events(d, loc, ctx);
    }

    fn process_tls_events(&mut self, d: usize, loc: (u32, u64), ctx: &mut ShardContext<'_>) {
        let from_a = d == 0;
        let mut events = std::mem::take(&mut ctx.scratch.tls_events);
        for ev in events.drain(..) {
            let (ts, kind) = match ev {
                TlsEvent::ClientHello { ts, sni } => (ts, EventKind::TlsClientHello { sni }),
                TlsEvent::ServerHello {
                    ts,
                    version,
                    cipher,
                } => (ts, EventKind::TlsServerHello { version, cipher }),
                TlsEvent::HandshakeDone { ts, keys } => {
                    (ts, EventKind::TlsHandshakeDone { decrypted: keys })
                }
                TlsEvent::Alert { ts, alert } => (
                    ts,
                    EventKind::TlsAlert {
                        level: alert.map(|(l, _)| if l == 2 { "fatal" } else { "warning" }),
                        description: alert.map(|(_, a)| alert_name(a)),
                    },
                ),
                TlsEvent::Warning { kind, message } => {
                    let message = format!("{} -> {}: {message}", self.src(d), self.dst(d));
                    ctx.warn(loc, kind, message);
                    continue;
                }
            };
            self.event(ts, from_a, kind);
        }
        ctx.scratch.tls_events = events;
    }

    fn process_ws_events(&mut self, d: usize, loc: (u32, u64), ctx: &mut ShardContext<'_>) {
        let from_a = d == 0;
        let mut events = std::mem::take(&mut ctx.scratch.ws_events);
        // By value: the request and response move into the connection, uncopied.
        for ev in events.drain(..) {
            match ev {
                WsEvent::Request { ts, request } => {
                    self.event(
                        ts,
                        from_a,
                        EventKind::HandshakeRequest {
                            path: request.path.clone(),
                        },
                    );
                    self.request.get_or_insert((from_a, ts, request));
                }
                WsEvent::Response { ts, response } => self.on_response(d, ts, response),
                WsEvent::Frame(f) => {
                    self.check_frame(d, &f, loc, ctx);
                    self.on_frame(d, &f);
                }
                WsEvent::Gap { ts, len, lost_sync } => self.on_gap(d, ts, len, lost_sync, loc, ctx),
                WsEvent::Resynced { ts, skipped } => self.on_resync(d, ts, skipped, loc, ctx),
                WsEvent::Message(m) => self.on_message(d, &m, ctx.keep_text),
                WsEvent::Stun { ts, bytes } => {
                    let (a, b) = (self.a, self.b);
                    let flow = self
                        .stun
                        .get_or_insert_with(|| Box::new(UdpFlow::on_tcp(a, b, ts)));
                    flow.on_message(ts, from_a, &bytes);
                }
                WsEvent::MalformedHead { reason, .. } => ctx.warn(
                    loc,
                    WarningKind::MalformedHandshake,
                    format!(
                        "{} -> {}: {reason}; the session is kept",
                        self.src(d),
                        self.dst(d)
                    ),
                ),
                WsEvent::NotWebSocket { ts, reason } => {
                    self.sides[d].not_websocket = true;
                    self.event(ts, from_a, EventKind::NotWebSocket { reason });
                }
            }
        }
        ctx.scratch.ws_events = events;
    }

    /// The upgrade response: its accept key checked against the request's key; after a
    /// 101 the other direction carries frames.
    fn on_response(&mut self, d: usize, ts: Timestamp, response: Box<UpgradeResponse>) {
        let accept_valid = match (&self.request, &response.accept) {
            (Some((_, _, req)), Some(acc)) => req.key.as_deref().map(|k| accept_key(k) == *acc),
            _ => None,
        };
        self.event(
            ts,
            d == 0,
            EventKind::HandshakeResponse {
                status: response.status,
                accept_valid,
            },
        );
        if response.status == 101 {
            self.sides[1 - d].decoder.expect_frames();
        }
        self.response.get_or_insert((d == 0, ts, response));
    }

    /// Bytes missing from the capture in direction `d`: counted, on the timeline, warned.
    fn on_gap(
        &mut self,
        d: usize,
        ts: Timestamp,
        len: u64,
        lost_sync: bool,
        loc: (u32, u64),
        ctx: &mut ShardContext<'_>,
    ) {
        let s = &mut self.sides[d];
        if lost_sync {
            s.message_open = None;
        }
        let rare = s.stats.rare();
        rare.capture_gaps += 1;
        rare.capture_gap_bytes += len;
        if rare.capture_gaps <= REPEATS_KEPT {
            self.event(ts, d == 0, EventKind::CaptureGap { bytes: len });
        }
        let framing = match (self.what(d), lost_sync) {
            ("WebSocket", true) => "WebSocket framing lost, resynchronising",
            ("WebSocket", false) => "inside a frame payload, framing kept",
            (other, _) => other,
        };
        ctx.warn(
            loc,
            WarningKind::LostSegments,
            format!(
                "{} -> {}: {len} bytes not in the capture ({framing})",
                self.src(d),
                self.dst(d)
            ),
        );
    }

    /// WebSocket framing found again after a gap.
    fn on_resync(
        &mut self,
        d: usize,
        ts: Timestamp,
        skipped: u64,
        loc: (u32, u64),
        ctx: &mut ShardContext<'_>,
    ) {
        let stats = self.sides[d].stats.rare();
        stats.resync_skipped_bytes += skipped;
        stats.resyncs += 1;
        if stats.resyncs <= REPEATS_KEPT {
            self.event(ts, d == 0, EventKind::Resynced { skipped });
        }
        ctx.warn(
            loc,
            WarningKind::WebSocketResync,
            format!(
                "{} -> {}: framing found again after {skipped} bytes",
                self.src(d),
                self.dst(d)
            ),
        );
    }

    /// What this direction is known to carry so far, for warnings: a connection is named
    /// WebSocket only once an upgrade or a frame was seen.
    fn what(&self, d: usize) -> &'static str {
        let s = &self.sides[d];
        if s.stats.frames > 0 || self.response.as_ref().is_some_and(|r| r.2.status == 101) {
            "WebSocket"
        } else if self.tls.is_some() {
            "TLS"
        } else if s.not_websocket || s.decoder.is_opaque() {
            "not WebSocket"
        } else {
            "TCP, not identified yet"
        }
    }

    fn src(&self, d: usize) -> SocketAddr {
        if d == 0 {
            self.a
        } else {
            self.b
        }
    }

    fn dst(&self, d: usize) -> SocketAddr {
        self.src(1 - d)
    }

    /// A whole text message: inflated when compressed, then read for SDP; its start kept
    /// with `keep_text`.
    fn on_message(&mut self, d: usize, m: &TextMessage, keep_text: bool) {
        let from_a = d == 0;
        let plain = if m.compressed {
            let Some(ext) = self.response.as_ref().and_then(|r| r.2.extensions.clone()) else {
                self.sides[d].stats.rare().unreadable_messages += 1;
                return;
            };
            let from_client = self.request.as_ref().is_none_or(|r| r.0 == from_a);
            let inflater = self.sides[d]
                .inflater
                .get_or_insert_with(|| Box::new(Inflater::new(keeps_context(&ext, from_client))));
            match inflater.inflate(&m.data, m.complete) {
                Some(v) => v,
                None => {
                    self.sides[d].stats.rare().unreadable_messages += 1;
                    return;
                }
            }
        } else {
            m.data.clone()
        };
        let text = String::from_utf8_lossy(&plain);
        if keep_text {
            let start = message_start(&text);
            match &mut self.sides[d].text {
                Some(t) => t.last = start,
                None => {
                    self.sides[d].text = Some(Box::new(MessageText {
                        first: start.clone(),
                        last: start,
                    }))
                }
            }
        }
        let found = match &mut self.sdp {
            Some(sdp) => sdp.scan(&text),
            None => {
                // Scanned into an empty one (which allocates nothing), kept if it found SDP.
                let mut sdp = SdpFacts::default();
                let found = sdp.scan(&text);
                if found {
                    self.sdp = Some(Box::new(sdp));
                }
                found
            }
        };
        if found {
            let kind = sdp_kind(&text);
            self.event(m.ts, from_a, EventKind::Sdp { kind });
        }
    }

    /// Reports the RFC 6455 violations of a frame (before [`Self::on_frame`] counts it) as
    /// warnings and timeline events.
    fn check_frame(
        &mut self,
        d: usize,
        f: &FrameEvent,
        loc: (u32, u64),
        ctx: &mut ShardContext<'_>,
    ) {
        // Only where the upgrade was captured: after a mid-stream join the framing is a
        // guess, and a wrong guess is not the peer's fault.
        let Some((resp_a, _, response)) = self.response.as_ref() else {
            return;
        };
        let from_a = d == 0;
        // The client sent the upgrade request, the server the response.
        let from_client = match self.request.as_ref() {
            Some((req_a, ..)) => *req_a == from_a,
            None => *resp_a != from_a,
        };
        let side = &self.sides[d];
        let frame_ctx = FrameContext {
            from_client: Some(from_client),
            deflate: Some(response.permessage_deflate()),
            closed: side.first_close.is_some(),
            // After the handshake the first frame starts with no message open.
            message_open: if side.stats.frames == 0 {
                Some(false)
            } else {
                side.message_open
            },
        };
        self.sides[d].message_open = frame_ctx.message_open_after(f);
        for (kind, detail) in violations(f, &frame_ctx) {
            self.sides[d].violations += 1;
            if self.sides[d].violations <= VIOLATIONS_KEPT {
                self.event(
                    f.ts,
                    from_a,
                    EventKind::Violation {
                        kind,
                        detail: detail.clone(),
                    },
                );
            }
            ctx.warn(
                loc,
                kind,
                format!("{} -> {}: {detail}", self.src(d), self.dst(d)),
            );
        }
    }

    fn on_frame(&mut self, d: usize, f: &FrameEvent) {
        let from_a = d == 0;
        let s = &mut self.sides[d];
        s.stats.frames += 1;
        s.stats.ws_payload_bytes += f.head.payload_len;
        if f.head.mask.is_some() {
            s.stats.masked_frames += 1;
        }
        if f.head.rsv1 {
            s.stats.compressed_frames += 1;
        }
        let op = f.head.opcode;
        if op.is_reserved() {
            // Neither data nor control: counted as a frame, reported as a violation.
            return;
        }
        if !op.is_control() {
            match op {
                Opcode::TEXT => s.stats.text_frames += 1,
                Opcode::BINARY => s.stats.binary_frames += 1,
                _ => s.stats.continuation_frames += 1,
            }
            if f.head.fin {
                s.stats.messages += 1;
            }
            if s.first_data_frame.is_none() {
                s.first_data_frame = Some(f.ts);
                self.event(f.ts, from_a, EventKind::FirstMessage { text: None });
            }
            self.sides[d].last_data_frame = Some(f.ts);
            return;
        }
        s.stats.control_frames += 1;
        match op {
            Opcode::CLOSE => {
                s.stats.rare().close_frames += 1;
                let close = match &f.payload {
                    Some(p) => parse_close(p),
                    None => teardown_wire::ws::CloseFrame {
                        code: None,
                        reason: "(payload not in the capture)".into(),
                    },
                };
                if s.first_close.is_none() {
                    s.first_close = Some(Box::new((f.ts, close.code, close.reason.clone())));
                }
                if s.stats.get(|r| r.close_frames) > REPEATS_KEPT {
                    return;
                }
                self.event(
                    f.ts,
                    from_a,
                    EventKind::Close {
                        code: close.code,
                        reason: close.reason,
                    },
                );
            }
            Opcode::PING => {
                s.stats.pings += 1;
                let pings = self.pings.get_or_insert_with(Box::default);
                if pings.pending.len() == PINGS_PENDING {
                    pings.pending.pop_front();
                }
                pings
                    .pending
                    .push_back((from_a, f.payload.clone().unwrap_or_default(), f.ts));
                pings.event(
                    f.ts,
                    from_a,
                    EventKind::Ping {
                        payload_len: f.head.payload_len,
                    },
                );
            }
            Opcode::PONG => {
                s.stats.pongs += 1;
                // RFC 6455 §5.5.3: a pong echoes the payload of the ping it answers.
                let payload = f.payload.clone().unwrap_or_default();
                let pings = self.pings.get_or_insert_with(Box::default);
                let matched = pings
                    .pending
                    .iter()
                    .position(|(pa, p, _)| *pa != from_a && *p == payload);
                let rtt_ms = matched.map(|i| {
                    let (_, _, ping_ts) = pings.pending.remove(i).expect("index from position");
                    f.ts.millis_since(ping_ts)
                });
                if let Some(rtt) = rtt_ms {
                    pings.rtt_count += 1;
                    pings.rtt_sum_ms += rtt;
                    pings.rtt_max_ms = pings.rtt_max_ms.max(rtt);
                }
                pings.event(f.ts, from_a, EventKind::Pong { rtt_ms });
            }
            _ => {}
        }
    }

    /// Ends tracking: gives up remaining holes, decides client and server and the verdict.
    /// The STUN/TURN the connection carried instead of WebSocket, if any, comes back as a
    /// media flow to be joined like a UDP one.
    pub fn finish(
        mut self: Box<Self>,
        why: ConnectionEnd,
        ctx: &mut ShardContext<'_>,
    ) -> (Session, Membership, Option<MediaFlow>) {
        self.flush(ctx);
        let tls = self.tls_outcome(ctx);
        let (inferred, not_inferred) = self.inference(tls.as_ref().map(|t| &t.0));
        let client_is_a = self.client_is_a(tls.as_ref().and_then(|(o, _)| o.client));
        let facts = self.facts(client_is_a, tls.as_ref().map(|t| &t.0), inferred.as_ref());
        let decision = decide(&facts);
        let timeline = self.timeline(
            client_is_a,
            tls.as_ref().map(|t| &t.0),
            inferred.as_ref(),
            not_inferred,
            &decision,
        );
        let first_close = self.first_close_info(client_is_a);
        let request = self.request.take().map(|r| r.2);
        let membership = self.membership(request.as_deref(), inferred.as_ref(), facts.frames_seen);
        let evidence = match &tls {
            Some((o, _)) if o.decrypted => Evidence::Decrypted,
            Some(_) if inferred.is_some() => Evidence::RecordLengths,
            Some(_) => Evidence::TcpOnly,
            None if self.is_empty() => Evidence::TcpOnly,
            None => Evidence::Plaintext,
        };
        let ci = usize::from(!client_is_a);
        let handshake_ms = match (self.sides[ci].syn, self.response.as_ref()) {
            (Some((syn_ts, _)), Some((_, resp_ts, _))) => Some(resp_ts.millis_since(syn_ts)),
            _ => None,
        };
        // The 101 read from the wire, else an upgrade answer inferred as accepted.
        let response_ts = self.response.as_ref().map(|b| b.1).or_else(|| {
            let inf = inferred.as_ref().filter(|i| i.accepted == Some(true))?;
            inf.response.map(|r| r.ts)
        });
        let stun = self.stun.take().map(|f| f.finish());
        let sdp = self.sdp.take().unwrap_or_default();
        let (rtt_count, rtt_sum_ms, rtt_max_ms) = self
            .pings
            .as_deref()
            .map_or((0, 0.0, 0.0), |p| (p.rtt_count, p.rtt_sum_ms, p.rtt_max_ms));
        let [sa, sb] = self.sides;
        let (c_side, s_side) = if client_is_a { (sa, sb) } else { (sb, sa) };
        let (client, server) = if client_is_a {
            (self.a, self.b)
        } else {
            (self.b, self.a)
        };
        let session = Session {
            id: 0,
            client,
            server,
            start_ts: self.first_ts,
            end_ts: self.last_ts,
            midstream: c_side.syn.is_none(),
            request,
            response_ts,
            response: self.response.map(|r| r.2),
            handshake_ms,
            verdict: decision.verdict,
            teardown_initiator: decision.initiator,
            teardown_start_ts: decision.start.map(|(t, _, _)| t),
            first_close,
            client_observed_code: decision.client_observed_code,
            ping_rtt_count: rtt_count,
            ping_rtt_mean_ms: (rtt_count > 0).then(|| rtt_sum_ms / rtt_count as f64),
            ping_rtt_max_ms: (rtt_count > 0).then_some(rtt_max_ms),
            c2s: Box::new(c_side.stats.finish()),
            s2c: Box::new(s_side.stats.finish()),
            timeline,
            timeline_events_dropped: self.events_dropped,
            evicted_idle: why == ConnectionEnd::Idle,
            sdp,
            media: Vec::new(),
            join_rule: None,
            media_finding: None,
            tls: tls.map(|(_, summary)| Box::new(summary)),
            evidence,
            open_at_start: 0,
            established_at_start: 0,
            established_at_teardown: None,
            connecting_at_teardown: None,
        };
        (session, membership, stun)
    }

    /// Delivers what reassembly still holds and copies its counters.
    fn flush(&mut self, ctx: &mut ShardContext<'_>) {
        let end_ts = self.last_ts;
        for d in 0..2 {
            self.stream(d, ctx, |reasm, out| reasm.finish(end_ts, out));
            self.process_events(d, self.last_loc, ctx);
        }
        for s in &mut self.sides {
            let r = &s.reasm.stats;
            if r.out_of_order + r.overlapping > 0 {
                let rare = s.stats.rare();
                rare.out_of_order = r.out_of_order;
                rare.overlapping = r.overlapping;
            }
        }
    }

    /// What TLS showed, with a warning when logged keys did not open its records.
    fn tls_outcome(&self, ctx: &mut ShardContext<'_>) -> Option<(TlsOutcome, TlsSummary)> {
        let tls = self.tls.as_deref().map(|t| (t.outcome(), t.summary()))?;
        if tls.1.unopened_records > 0 {
            ctx.warn(
                self.last_loc,
                WarningKind::TlsKeys,
                format!(
                    "{} <-> {}: {} TLS records did not open with the logged keys",
                    self.a, self.b, tls.1.unopened_records
                ),
            );
        }
        Some(tls)
    }

    /// Without keys, the WebSocket layer read from the record lengths (by side index), or
    /// why it could not be.
    fn inference(&self, tls: Option<&TlsOutcome>) -> (Option<Inferred>, Option<NotInferred>) {
        let inference = match (self.tls.as_deref(), tls) {
            (Some(t), Some(o)) if !o.decrypted => {
                // SYN to SYN-ACK, whichever side sent the SYN.
                let round_trip_ns = self
                    .sides
                    .iter()
                    .zip(self.sides.iter().rev())
                    .find_map(|(c, s)| Some(s.synack?.0 - c.syn?.0 .0))
                    .unwrap_or(0);
                t.infer(
                    [0, 1].map(|i| {
                        let s = &self.sides[i];
                        s.first_fin.into_iter().chain(s.first_rst).min()
                    }),
                    [0, 1].map(|i| self.sides[i].first_rst),
                    round_trip_ns,
                )
            }
            _ => None,
        };
        match inference {
            Some(Ok(inf)) => (Some(inf), None),
            Some(Err(why)) => (None, Some(why)),
            None => (None, None),
        }
    }

    /// Who is client: the SYN sender; else the upgrade request's sender; else the side
    /// whose frames are masked (RFC 6455 §5.3); else the ClientHello's sender; else the
    /// first sender.
    fn client_is_a(&self, tls_client: Option<usize>) -> bool {
        if self.sides[0].syn.is_some() {
            true
        } else if self.sides[1].syn.is_some() {
            false
        } else if let Some((from_a, _, _)) = self.request.as_ref() {
            *from_a
        } else if let Some((from_a, _, _)) = self.response.as_ref() {
            !*from_a
        } else if let Some(c) = tls_client {
            c == 0
        } else {
            self.sides[1].stats.masked_frames <= self.sides[0].stats.masked_frames
        }
    }

    /// The facts the verdict is decided on, client side first; an inferred WebSocket layer
    /// fills in what the records showed.
    fn facts(
        &self,
        client_is_a: bool,
        tls: Option<&TlsOutcome>,
        inferred: Option<&Inferred>,
    ) -> Facts {
        let (ci, si) = if client_is_a { (0, 1) } else { (1, 0) };
        let mut first_close = [ci, si].map(|i| {
            self.sides[i]
                .first_close
                .as_deref()
                .map(|(t, c, _)| (*t, *c))
        });
        let mut response = self
            .response
            .as_ref()
            .map(|(_, t, r)| Answer::http(r.status, *t));
        let mut frames_seen = self.sides[0].stats.frames + self.sides[1].stats.frames > 0;
        let mut alert_close = tls
            .map(|o| [ci, si].map(|i| o.closed[i]))
            .unwrap_or_default();
        if let Some(inf) = inferred {
            response = response.or(inf.response.map(|r| Answer {
                ts: r.ts,
                status: None,
                accepted: inf.accepted != Some(false),
            }));
            frames_seen |= inf.data_records.iter().sum::<u64>() > 0;
            let closes = inf.close.iter().flat_map(|c| [Some(c.frame), c.answer]);
            for seen in closes.flatten() {
                first_close[usize::from(seen.side != ci)].get_or_insert((seen.ts, None));
            }
            for (k, i) in [ci, si].into_iter().enumerate() {
                let notify = inf.close_notify[i].map(|s| s.ts);
                alert_close[k] = alert_close[k].into_iter().chain(notify).min();
            }
        }
        Facts {
            syn_seen: self.sides[ci].syn.is_some(),
            synack_seen: self.sides[si].synack.is_some(),
            server_sent_data: self.sides[si].stats.payload_bytes > 0,
            response,
            frames_seen,
            payload_incomplete: self.sides.iter().any(|s| s.reasm.stats.gap_bytes > 0),
            first_close,
            first_fin: [ci, si].map(|i| self.sides[i].first_fin),
            first_rst: [ci, si].map(|i| self.sides[i].first_rst),
            tls: tls.map(|o| TlsFacts {
                handshake_done: o.handshake_done,
                decrypted: o.decrypted,
                failure: o.failure.map(|(t, i)| (t, usize::from(i != ci))),
                alert_close,
                inferred: inferred.is_some(),
            }),
        }
    }

    /// The timeline in time order, the event that started the teardown marked.
    fn timeline(
        &mut self,
        client_is_a: bool,
        tls: Option<&TlsOutcome>,
        inferred: Option<&Inferred>,
        not_inferred: Option<NotInferred>,
        decision: &Decision,
    ) -> Vec<Event> {
        let mut raw: Vec<RawEvent> = std::mem::take(&mut self.events);
        let client = &self.sides[usize::from(!client_is_a)];
        if let Some((ts, _)) = client.syn {
            let attempts = client.syn_attempts;
            raw.push(RawEvent {
                ts,
                from_a: client_is_a,
                kind: EventKind::Syn { attempts },
            });
        }
        for (i, side) in self.sides.iter().enumerate() {
            if let (Some(first), Some(last)) = (side.first_data_frame, side.last_data_frame) {
                if last != first || side.stats.messages > 1 {
                    raw.push(RawEvent {
                        ts: last,
                        from_a: i == 0,
                        kind: EventKind::LastMessage {
                            text: side.text.as_ref().map(|t| t.last.clone()),
                        },
                    });
                }
            }
        }
        if let Some(o) = tls.filter(|o| !o.decrypted) {
            for (i, last) in o.last_application_data.iter().enumerate() {
                if let Some(ts) = last {
                    raw.push(RawEvent {
                        ts: *ts,
                        from_a: i == 0,
                        kind: EventKind::TlsLastApplicationData,
                    });
                }
            }
        }
        if let Some(inf) = inferred {
            raw.extend(inferred_events(inf));
        }
        if let Some(why) = not_inferred {
            raw.push(RawEvent {
                ts: self.last_ts,
                from_a: client_is_a,
                kind: EventKind::NotInferred {
                    reason: why.to_string(),
                },
            });
        }
        if let Some(pings) = self.pings.as_deref_mut() {
            raw.extend(pings.events.drain(..));
        }
        for e in &mut raw {
            if let EventKind::FirstMessage { text } = &mut e.kind {
                let side = &self.sides[usize::from(!e.from_a)];
                *text = side.text.as_ref().map(|t| t.first.clone());
            }
        }
        let to_dir = direction_from(client_is_a);
        let mut timeline: Vec<Event> = raw
            .into_iter()
            .map(|e| Event {
                ts: e.ts,
                direction: to_dir(e.from_a),
                kind: e.kind,
                teardown_start: false,
            })
            .collect();
        timeline.sort_by_key(|e| e.ts);
        if let Some(start) = decision.start {
            mark_teardown_start(&mut timeline, start);
        }
        timeline
    }

    /// The first close frame on the wire, either way (the client's on equal times).
    fn first_close_info(&self, client_is_a: bool) -> Option<CloseInfo> {
        let to_dir = direction_from(client_is_a);
        self.sides
            .iter()
            .enumerate()
            .filter_map(|(i, side)| {
                side.first_close
                    .as_deref()
                    .map(|(ts, code, reason)| CloseInfo {
                        code: *code,
                        reason: reason.clone(),
                        direction: to_dir(i == 0),
                        ts: *ts,
                    })
            })
            .min_by_key(|c| (c.ts, c.direction != Direction::ClientToServer))
    }

    /// Whether the connection is a WebSocket session (README, "Which sessions").
    fn membership(
        &self,
        request: Option<&UpgradeRequest>,
        inferred: Option<&Inferred>,
        frames_seen: bool,
    ) -> Membership {
        if request.is_some_and(|r| r.is_websocket) {
            Membership::WebSocket
        } else if request.is_some()
            || self
                .sides
                .iter()
                .any(|s| s.not_websocket && s.stats.frames == 0)
        {
            Membership::Other
        } else if inferred.is_some_and(|i| i.websocket) {
            Membership::WebSocket
        } else if inferred.is_some_and(|i| i.http_like) {
            Membership::Other
        } else if frames_seen && self.sides.iter().all(|s| !s.not_websocket) {
            Membership::WebSocket
        } else {
            Membership::IfWebSocketPort
        }
    }
}

/// The direction of an event sent by side A (`from_a`) or B, once the client is known.
fn direction_from(client_is_a: bool) -> impl Fn(bool) -> Direction {
    move |from_a| {
        if from_a == client_is_a {
            Direction::ClientToServer
        } else {
            Direction::ServerToClient
        }
    }
}

/// Marks the timeline event that `decide` named as the teardown's start.
fn mark_teardown_start(timeline: &mut [Event], (ts, dir, kind): (Timestamp, Direction, StartKind)) {
    let is_start = |k: &EventKind| match kind {
        StartKind::Close => matches!(
            k,
            EventKind::Close { .. }
                | EventKind::Inferred {
                    what: InferredEvent::CloseFrame,
                    ..
                }
        ),
        StartKind::Fin => matches!(k, EventKind::Fin { .. }),
        StartKind::Rst => matches!(k, EventKind::Rst),
        StartKind::Response => matches!(
            k,
            EventKind::HandshakeResponse { .. }
                | EventKind::Inferred {
                    what: InferredEvent::UpgradeRejected,
                    ..
                }
        ),
        StartKind::Alert => matches!(
            k,
            EventKind::TlsAlert { .. }
                | EventKind::Inferred {
                    what: InferredEvent::CloseNotify,
                    ..
                }
        ),
    };
    if let Some(e) = timeline
        .iter_mut()
        .find(|e| e.ts == ts && e.direction == dir && is_start(&e.kind))
    {
        e.teardown_start = true;
    }
}

/// The timeline events of an inferred WebSocket layer (by side index: `from_a` is side 0).
fn inferred_events(inf: &Inferred) -> impl Iterator<Item = RawEvent> + '_ {
    let answer = match inf.accepted {
        Some(true) => InferredEvent::UpgradeAccepted,
        Some(false) => InferredEvent::UpgradeRejected,
        None => InferredEvent::UpgradeAnswer,
    };
    let close = inf.close.iter().flat_map(|c| [Some(c.frame), c.answer]);
    [
        inf.request.map(|s| (InferredEvent::UpgradeRequest, s)),
        inf.response.map(|s| (answer, s)),
    ]
    .into_iter()
    .chain(close.map(|s| s.map(|s| (InferredEvent::CloseFrame, s))))
    .chain(
        inf.close_notify
            .iter()
            .map(|s| s.map(|s| (InferredEvent::CloseNotify, s))),
    )
    .flatten()
    .map(|(what, s)| RawEvent {
        ts: s.ts,
        from_a: s.side == 0,
        kind: EventKind::Inferred {
            what,
            record_len: s.record_len,
        },
    })
}

/// What an SDP body is, from the message that carried it: `offer` or `answer` (JSON
/// signalling, a SIP INVITE or 200), else named after its SIP message (`in SIP 183 Session
/// Progress`, `in SIP UPDATE`), else `in a signalling message`.
fn sdp_kind(text: &str) -> String {
    /// A SIP start line is short; a hostile one is cut.
    const MAX_LINE: usize = 64;
    let first = text.lines().next().unwrap_or("").trim();
    let sip_request = first
        .ends_with(" SIP/2.0")
        .then(|| first.split(' ').next())
        .flatten();
    let sip_status = first.strip_prefix("SIP/2.0 ");
    if text.contains("\"offer\"") || sip_request == Some("INVITE") {
        "offer".into()
    } else if text.contains("\"answer\"") || sip_status.is_some_and(|s| s.starts_with("200")) {
        "answer".into()
    } else if let Some(line) = sip_status.or(sip_request) {
        let line: String = line.chars().take(MAX_LINE).collect();
        format!("in SIP {line}")
    } else {
        "in a signalling message".into()
    }
}

fn feed(decoder: &mut StreamDecoder, delivery: Delivery<'_>, out: &mut Vec<WsEvent>) {
    match delivery {
        Delivery::Data { ts, bytes } => decoder.feed(ts, bytes, out),
        Delivery::Gap { ts, len } => decoder.gap(ts, len, out),
    }
}

#[cfg(test)]
mod tests {
    use super::{sdp_kind, Connection, Session};

    /// Every open connection holds a `Connection`, and every session sits inline in the
    /// list of all sessions: what they hold inline is paid per connection (README,
    /// "Hostile input and bounded memory"). Before the rarely used parts were boxed and
    /// the scratch buffers moved to the shard, they were 2 048 and 1 352 bytes.
    #[test]
    #[cfg(target_pointer_width = "64")]
    fn connections_and_sessions_stay_small() {
        let (conn, session) = (size_of::<Connection>(), size_of::<Session>());
        assert!(conn <= 1600, "Connection is {conn} bytes");
        assert!(session <= 512, "Session is {session} bytes");
    }

    #[test]
    fn sdp_is_named_after_the_message_that_carried_it() {
        let sdp = "\r\n\r\nv=0\r\nm=audio 4000 RTP/AVP 0\r\n";
        let sip = |start: &str| sdp_kind(&format!("{start}\r\nVia: x{sdp}"));
        assert_eq!(sip("INVITE sip:bob@example.com SIP/2.0"), "offer");
        assert_eq!(sip("SIP/2.0 200 OK"), "answer");
        assert_eq!(
            sip("SIP/2.0 183 Session Progress"),
            "in SIP 183 Session Progress"
        );
        assert_eq!(sip("UPDATE sip:bob@example.com SIP/2.0"), "in SIP UPDATE");
        assert_eq!(sdp_kind(r#"{"type":"offer","sdp":"v=0"}"#), "offer");
        assert_eq!(
            sdp_kind(r#"{"type":"pranswer","sdp":"v=0"}"#),
            "in a signalling message"
        );
    }
}
