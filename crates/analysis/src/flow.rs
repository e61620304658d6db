//! One UDP flow (an address pair) and everything decoded on it: STUN transactions, TURN
//! relaying, DTLS, RTP streams and RTCP. Like TCP connections, a flow lives in one shard
//! and is finished into a compact [`MediaFlow`] that is joined to a session at the end.

use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::fmt;
use std::net::SocketAddr;
use teardown_wire::capture::Datagram;
use teardown_wire::media::demux::{classify, Kind};
use teardown_wire::media::dtls;
use teardown_wire::media::rtp::{parse_rtcp, parse_rtp, static_clock_rate, RtcpPacket};
use teardown_wire::media::stream::RtpStream;
use teardown_wire::media::stun::{self, Class, Method};
use teardown_wire::time::Timestamp;

/// Open transactions tracked per flow; older ones are dropped (counted unanswered).
const MAX_OPEN_TRANSACTIONS: usize = 1024;
/// RTP streams tracked per flow (a hostile flow cannot create more).
pub const MAX_STREAMS: usize = 64;
/// Usernames, alerts and other lists kept per flow.
const MAX_LIST: usize = 16;
/// TURN nesting: a relayed datagram is not itself unwrapped again.
const MAX_DEPTH: u8 = 1;

/// A media event for the timeline, direction relative to the flow's first sender.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "media_event", rename_all = "snake_case")]
pub enum MediaEventKind {
    /// First STUN request of a method on this flow.
    StunRequest {
        /// Method name.
        method: String,
    },
    /// First success response of a method, with its round trip.
    StunSuccess {
        /// Method name.
        method: String,
        /// Request to response, ms.
        rtt_ms: f64,
    },
    /// An error response (first of each code).
    StunError {
        /// Method name.
        method: String,
        /// Error code (RFC 8489 §14.8).
        code: u16,
        /// Reason phrase.
        reason: String,
    },
    /// The last answered connectivity check (ICE consent, RFC 7675).
    LastAnsweredCheck,
    /// The first check after it that was never answered.
    FirstUnansweredCheck {
        /// Unanswered checks from here to the end of the flow.
        unanswered: u64,
    },
    /// DTLS handshake finished (first application data).
    DtlsHandshakeDone,
    /// DTLS alert (level and description when in clear).
    DtlsAlert {
        /// Level and description, if not encrypted.
        alert: Option<(u8, u8)>,
    },
    /// First RTP packet of a stream.
    RtpFirst {
        /// Its SSRC.
        ssrc: u32,
    },
    /// Last RTP packet of a stream.
    RtpLast {
        /// Its SSRC.
        ssrc: u32,
    },
    /// RTCP BYE: the sender ended its stream cleanly.
    RtcpBye {
        /// Sources leaving.
        ssrcs: Vec<u32>,
        /// Reason, if given.
        reason: Option<String>,
    },
}

impl std::fmt::Display for MediaEventKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MediaEventKind::StunRequest { method } => write!(f, "STUN {method} request"),
            MediaEventKind::StunSuccess { method, rtt_ms } => {
                write!(f, "STUN {method} success (rtt {rtt_ms:.3} ms)")
            }
            MediaEventKind::StunError {
                method,
                code,
                reason,
            } => write!(f, "STUN {method} error {code} {reason:?}"),
            MediaEventKind::LastAnsweredCheck => write!(f, "last answered ICE check"),
            MediaEventKind::FirstUnansweredCheck { unanswered } => {
                write!(f, "ICE checks unanswered from here ({unanswered} in all)")
            }
            MediaEventKind::DtlsHandshakeDone => write!(f, "DTLS handshake done"),
            MediaEventKind::DtlsAlert {
                alert: Some((level, desc)),
            } => write!(f, "DTLS alert level {level} description {desc}"),
            MediaEventKind::DtlsAlert { alert: None } => write!(f, "DTLS alert (encrypted)"),
            MediaEventKind::RtpFirst { ssrc } => write!(f, "first RTP of SSRC 0x{ssrc:08x}"),
            MediaEventKind::RtpLast { ssrc } => write!(f, "last RTP of SSRC 0x{ssrc:08x}"),
            MediaEventKind::RtcpBye { ssrcs, .. } => write!(f, "RTCP BYE {ssrcs:08x?}"),
        }
    }
}

/// A media event with its time and direction.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MediaEvent {
    /// Capture time.
    pub ts: Timestamp,
    /// Sent by the flow's first sender (`a`).
    pub from_a: bool,
    /// What.
    #[serde(flatten)]
    pub kind: MediaEventKind,
}

#[derive(Clone, Debug)]
struct Transaction {
    ts: Timestamp,
    from_a: bool,
    method: u16,
    answered: bool,
}

/// STUN/TURN counters of a flow.
#[derive(Clone, Debug, Default, Serialize)]
pub struct StunStats {
    /// Messages on the wire by method name and class (the tshark oracle counts the same).
    pub by_type: BTreeMap<String, u64>,
    /// Messages carried inside TURN (ICE checks between the peers), by method and class.
    pub relayed_by_type: BTreeMap<String, u64>,
    /// Requests (first transmissions).
    pub requests: u64,
    /// Requests sent again with the same transaction id.
    pub retransmissions: u64,
    /// Success responses.
    pub successes: u64,
    /// Error responses by code.
    pub errors: BTreeMap<u16, u64>,
    /// Requests never answered.
    pub unanswered: u64,
    /// Round trips matched.
    pub rtt_count: u64,
    /// Sum of round trips, ms.
    pub rtt_sum_ms: f64,
    /// Largest round trip, ms.
    pub rtt_max_ms: f64,
    /// ICE USERNAMEs seen (`remote:local` ufrag pairs) and TURN usernames.
    pub usernames: BTreeSet<String>,
    /// TURN relayed address granted.
    pub relayed_address: Option<SocketAddr>,
}

impl StunStats {
    /// STUN messages on the wire.
    pub fn messages(&self) -> u64 {
        self.by_type.values().sum()
    }

    /// STUN messages carried inside TURN (Send/Data indications, ChannelData).
    pub fn relayed_messages(&self) -> u64 {
        self.relayed_by_type.values().sum()
    }

    /// True when the flow carried STUN, on the wire or inside TURN.
    pub fn seen(&self) -> bool {
        !self.by_type.is_empty() || !self.relayed_by_type.is_empty()
    }

    /// Mean round trip of the matched transactions, ms.
    pub fn rtt_mean_ms(&self) -> Option<f64> {
        (self.rtt_count > 0).then(|| self.rtt_sum_ms / self.rtt_count as f64)
    }

    /// Largest round trip, ms, when any was matched.
    pub fn rtt_max(&self) -> Option<f64> {
        (self.rtt_count > 0).then_some(self.rtt_max_ms)
    }
}

/// The mean STUN round trip over several flows (each transaction weighs the same), ms.
pub fn stun_rtt_mean_ms<'a>(flows: impl IntoIterator<Item = &'a MediaFlow>) -> Option<f64> {
    let (n, sum) = flows.into_iter().fold((0u64, 0.0), |(n, sum), f| {
        (n + f.stun.rtt_count, sum + f.stun.rtt_sum_ms)
    });
    (n > 0).then(|| sum / n as f64)
}

/// DTLS facts of a flow.
#[derive(Clone, Debug, Default, Serialize)]
pub struct DtlsStats {
    /// Records seen.
    pub records: u64,
    /// ClientHello time.
    pub client_hello: Option<Timestamp>,
    /// First application data: the handshake is done.
    pub handshake_done: Option<Timestamp>,
    /// Alerts.
    pub alerts: Vec<DtlsAlert>,
}

/// A DTLS alert.
#[derive(Clone, Debug, Serialize)]
pub struct DtlsAlert {
    /// When.
    pub ts: Timestamp,
    /// Sent by the flow's first sender.
    pub from_a: bool,
    /// Level and description, when in clear (epoch 0).
    pub alert: Option<(u8, u8)>,
}

/// What carries a media flow.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// UDP datagrams.
    Udp,
    /// STUN, TURN or RTP framed on a TCP connection (ICE-TCP, TURN over TCP).
    Tcp,
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
        })
    }
}

/// What a finished UDP flow carried.
#[derive(Clone, Debug, Serialize)]
pub struct MediaFlow {
    /// UDP, or TCP for STUN framed on a TCP connection.
    pub transport: Transport,
    /// First sender.
    pub a: SocketAddr,
    /// The other endpoint.
    pub b: SocketAddr,
    /// First packet.
    pub first_ts: Timestamp,
    /// Last packet.
    pub last_ts: Timestamp,
    /// Datagrams a→b and b→a.
    pub packets: [u64; 2],
    /// Datagrams by kind, as the demultiplexer confirmed them (kinds with none left out).
    pub kinds: BTreeMap<Kind, u64>,
    /// STUN/TURN.
    pub stun: StunStats,
    /// DTLS.
    pub dtls: DtlsStats,
    /// RTP streams: sent by `a`?, and the stream.
    pub rtp: Vec<(bool, RtpStream)>,
    /// RTP packets of streams beyond the first [`MAX_STREAMS`] of the flow: counted, not
    /// analysed (a `rtp_stream_cap` warning says so).
    pub rtp_untracked_packets: u64,
    /// RTCP compound packets, and how many were encrypted (SRTCP).
    pub rtcp_packets: u64,
    /// SRTCP packets (reports not readable).
    pub rtcp_encrypted: u64,
    /// Timeline events.
    pub events: Vec<MediaEvent>,
}

impl MediaFlow {
    /// Time of the last RTP packet, any stream.
    pub fn last_rtp(&self) -> Option<Timestamp> {
        self.rtp.iter().map(|(_, s)| s.last_ts).max()
    }

    /// True when nothing in it was recognised as WebRTC media or ICE.
    pub fn is_media(&self) -> bool {
        self.kinds.keys().any(|k| *k != Kind::Unknown)
    }
}

/// Tracks one UDP flow (or the STUN carried on one TCP connection).
pub struct UdpFlow {
    transport: Transport,
    a: SocketAddr,
    b: SocketAddr,
    first_ts: Timestamp,
    last_ts: Timestamp,
    packets: [u64; 2],
    /// Datagrams per kind, in the order of [`Kind::ALL`] (no allocation per packet).
    kinds: [u64; Kind::ALL.len()],
    stun: StunStats,
    dtls: DtlsStats,
    rtp: Vec<(bool, RtpStream)>,
    rtp_untracked_packets: u64,
    /// The first datagram with an RTP packet beyond [`MAX_STREAMS`]: (file, packet).
    first_untracked: Option<(u32, u64)>,
    rtcp_packets: u64,
    rtcp_encrypted: u64,
    transactions: HashMap<[u8; 12], Transaction>,
    order: VecDeque<[u8; 12]>,
    seen_methods: BTreeSet<(u16, u8)>,
    seen_errors: BTreeSet<u16>,
    events: Vec<MediaEvent>,
    last_answered: Option<(Timestamp, bool)>,
    /// A DTLS handshake record was seen on the flow.
    dtls_handshake_seen: bool,
}

fn class_name(c: Class) -> &'static str {
    match c {
        Class::Request => "request",
        Class::Indication => "indication",
        Class::Success => "success",
        Class::Error => "error",
    }
}

impl UdpFlow {
    /// Starts tracking at the first datagram.
    pub fn new(d: &Datagram<'_>) -> UdpFlow {
        UdpFlow::with_endpoints(Transport::Udp, d.src, d.dst, d.ts)
    }

    /// Tracks STUN/TURN framed on a TCP connection from `a` to `b` (ICE-TCP, TURN over TCP).
    pub fn on_tcp(a: SocketAddr, b: SocketAddr, ts: Timestamp) -> UdpFlow {
        UdpFlow::with_endpoints(Transport::Tcp, a, b, ts)
    }

    fn with_endpoints(
        transport: Transport,
        a: SocketAddr,
        b: SocketAddr,
        ts: Timestamp,
    ) -> UdpFlow {
        UdpFlow {
            transport,
            a,
            b,
            first_ts: ts,
            last_ts: ts,
            packets: [0; 2],
            kinds: [0; Kind::ALL.len()],
            stun: StunStats::default(),
            dtls: DtlsStats::default(),
            rtp: Vec::new(),
            rtp_untracked_packets: 0,
            first_untracked: None,
            rtcp_packets: 0,
            rtcp_encrypted: 0,
            transactions: HashMap::new(),
            order: VecDeque::new(),
            seen_methods: BTreeSet::new(),
            seen_errors: BTreeSet::new(),
            events: Vec::new(),
            last_answered: None,
            dtls_handshake_seen: false,
        }
    }

    /// The first sender and the other endpoint.
    pub fn endpoints(&self) -> (SocketAddr, SocketAddr) {
        (self.a, self.b)
    }

    /// Time of the last datagram.
    pub fn last_ts(&self) -> Timestamp {
        self.last_ts
    }

    fn event(&mut self, ts: Timestamp, from_a: bool, kind: MediaEventKind) {
        if self.events.len() < crate::MAX_TIMELINE_EVENTS {
            self.events.push(MediaEvent { ts, from_a, kind });
        }
    }

    /// Adds one datagram.
    pub fn on_datagram(&mut self, d: &Datagram<'_>) {
        self.on_message(d.ts, d.src == self.a, d.payload);
        if self.rtp_untracked_packets > 0 && self.first_untracked.is_none() {
            self.first_untracked = Some((d.file, d.number));
        }
    }

    /// RTP packets beyond [`MAX_STREAMS`] streams so far, and the datagram (file index,
    /// packet number) of the first.
    pub fn rtp_untracked(&self) -> (u64, Option<(u32, u64)>) {
        (self.rtp_untracked_packets, self.first_untracked)
    }

    /// Adds one message (a datagram's payload, or a message framed on TCP).
    pub fn on_message(&mut self, ts: Timestamp, from_a: bool, bytes: &[u8]) {
        self.packets[usize::from(!from_a)] += 1;
        self.last_ts = self.last_ts.max(ts);
        self.payload(ts, from_a, bytes, 0);
    }

    fn payload(&mut self, ts: Timestamp, from_a: bool, b: &[u8], depth: u8) {
        let kind = classify(b);
        if let Some(i) = Kind::ALL.iter().position(|k| *k == kind) {
            self.kinds[i] += 1;
        }
        let relayed = depth > 0;
        match kind {
            Kind::Stun => {
                if let Ok(m) = stun::parse(b) {
                    self.on_stun(ts, from_a, &m, relayed);
                    // RFC 8656 §11: Send and Data indications carry the peer's datagram.
                    if let (Some(data), true) = (m.data, depth < MAX_DEPTH) {
                        self.payload(ts, from_a, data, depth + 1);
                    }
                }
            }
            Kind::ChannelData if depth < MAX_DEPTH => {
                if let Some((_, inner)) = stun::parse_channel_data(b) {
                    self.payload(ts, from_a, inner, depth + 1);
                }
            }
            Kind::Dtls => self.on_dtls(ts, from_a, b),
            Kind::Rtp => {
                if let Some(h) = parse_rtp(b) {
                    self.on_rtp(ts, from_a, &h, relayed);
                }
            }
            Kind::Rtcp => self.on_rtcp(ts, from_a, b),
            _ => {}
        }
    }

    fn on_stun(&mut self, ts: Timestamp, from_a: bool, m: &stun::Message<'_>, relayed: bool) {
        let Some(class) = m.class else { return };
        let method = Method(m.method);
        let counts = if relayed {
            &mut self.stun.relayed_by_type
        } else {
            &mut self.stun.by_type
        };
        *counts
            .entry(format!("{method} {}", class_name(class)))
            .or_default() += 1;
        if let Some(u) = &m.username {
            if self.stun.usernames.len() < MAX_LIST {
                self.stun.usernames.insert(u.clone());
            }
        }
        match class {
            Class::Request => {
                if let Some(t) = self.transactions.get(&m.transaction_id) {
                    if t.from_a == from_a {
                        self.stun.retransmissions += 1;
                        return;
                    }
                }
                self.stun.requests += 1;
                if self.seen_methods.insert((m.method, 0)) {
                    self.event(
                        ts,
                        from_a,
                        MediaEventKind::StunRequest {
                            method: method.to_string(),
                        },
                    );
                }
                if self.order.len() == MAX_OPEN_TRANSACTIONS {
                    if let Some(old) = self.order.pop_front() {
                        if self.transactions.remove(&old).is_some_and(|t| !t.answered) {
                            self.stun.unanswered += 1;
                        }
                    }
                }
                self.order.push_back(m.transaction_id);
                self.transactions.insert(
                    m.transaction_id,
                    Transaction {
                        ts,
                        from_a,
                        method: m.method,
                        answered: false,
                    },
                );
            }
            Class::Success | Class::Error => {
                let Some(t) = self.transactions.get_mut(&m.transaction_id) else {
                    return;
                };
                if t.from_a == from_a || t.answered {
                    return;
                }
                t.answered = true;
                let (req_ts, req_from_a, req_method) = (t.ts, t.from_a, t.method);
                let rtt = ts.millis_since(req_ts);
                if class == Class::Success {
                    self.stun.successes += 1;
                    self.stun.rtt_count += 1;
                    self.stun.rtt_sum_ms += rtt;
                    self.stun.rtt_max_ms = self.stun.rtt_max_ms.max(rtt);
                    if let Some(r) = m.relayed {
                        self.stun.relayed_address = Some(r);
                    }
                    if req_method == Method::BINDING.0 {
                        self.last_answered = Some((req_ts, req_from_a));
                    }
                    if self.seen_methods.insert((m.method, 2)) {
                        self.event(
                            ts,
                            from_a,
                            MediaEventKind::StunSuccess {
                                method: method.to_string(),
                                rtt_ms: rtt,
                            },
                        );
                    }
                } else if let Some((code, reason)) = &m.error {
                    *self.stun.errors.entry(*code).or_default() += 1;
                    if self.seen_errors.insert(*code) {
                        let kind = MediaEventKind::StunError {
                            method: method.to_string(),
                            code: *code,
                            reason: reason.clone(),
                        };
                        self.event(ts, from_a, kind);
                    }
                }
            }
            Class::Indication => {}
        }
    }

    fn on_dtls(&mut self, ts: Timestamp, from_a: bool, b: &[u8]) {
        for r in dtls::parse_records(b) {
            self.dtls.records += 1;
            match r.content_type {
                dtls::HANDSHAKE => {
                    self.dtls_handshake_seen = true;
                    if r.handshake_type == Some(1) {
                        self.dtls.client_hello.get_or_insert(ts);
                    }
                }
                // Application data ends a handshake only if one was seen: a flow whose first
                // record is application data began before the capture (or migrated here).
                dtls::APPLICATION_DATA
                    if self.dtls.handshake_done.is_none() && self.dtls_handshake_seen =>
                {
                    self.dtls.handshake_done = Some(ts);
                    self.event(ts, from_a, MediaEventKind::DtlsHandshakeDone);
                }
                dtls::ALERT if self.dtls.alerts.len() < MAX_LIST => {
                    self.dtls.alerts.push(DtlsAlert {
                        ts,
                        from_a,
                        alert: r.alert,
                    });
                    self.event(ts, from_a, MediaEventKind::DtlsAlert { alert: r.alert });
                }
                _ => {}
            }
        }
    }

    fn on_rtp(
        &mut self,
        ts: Timestamp,
        from_a: bool,
        h: &teardown_wire::media::rtp::RtpHeader,
        relayed: bool,
    ) {
        let found = self
            .rtp
            .iter()
            .position(|(fa, s)| *fa == from_a && s.ssrc == h.ssrc && s.relayed == relayed);
        let index = match found {
            Some(i) => i,
            None if self.rtp.len() < MAX_STREAMS => {
                let s = RtpStream::new(
                    ts,
                    h.ssrc,
                    h.payload_type,
                    h.seq,
                    h.timestamp,
                    static_clock_rate(h.payload_type),
                    relayed,
                );
                self.rtp.push((from_a, s));
                self.event(ts, from_a, MediaEventKind::RtpFirst { ssrc: h.ssrc });
                self.rtp.len() - 1
            }
            None => {
                self.rtp_untracked_packets += 1;
                return;
            }
        };
        let stream = &mut self.rtp[index].1;
        stream.push(
            ts,
            h.marker,
            h.payload_type,
            h.seq,
            h.timestamp,
            h.payload_len,
        );
    }

    fn on_rtcp(&mut self, ts: Timestamp, from_a: bool, b: &[u8]) {
        let c = parse_rtcp(b);
        self.rtcp_packets += 1;
        if c.encrypted {
            self.rtcp_encrypted += 1;
        }
        for p in c.packets {
            if let RtcpPacket::Bye { ssrcs, reason } = p {
                self.event(ts, from_a, MediaEventKind::RtcpBye { ssrcs, reason });
            }
        }
    }

    /// Ends tracking (dynamic payload types' clock rates are settled later, at the join).
    pub fn finish(mut self) -> MediaFlow {
        self.stun.unanswered += self.transactions.values().filter(|t| !t.answered).count() as u64;
        // ICE consent (RFC 7675): checks sent after the last answered one, never answered.
        if let Some((answered_ts, side)) = self.last_answered {
            self.event(answered_ts, side, MediaEventKind::LastAnsweredCheck);
            let mut late: Vec<&Transaction> = self
                .transactions
                .values()
                .filter(|t| {
                    !t.answered
                        && t.from_a == side
                        && t.method == Method::BINDING.0
                        && t.ts > answered_ts
                })
                .collect();
            late.sort_by_key(|t| t.ts);
            if let Some(first) = late.first() {
                let kind = MediaEventKind::FirstUnansweredCheck {
                    unanswered: late.len() as u64,
                };
                let (ts, from_a) = (first.ts, first.from_a);
                self.event(ts, from_a, kind);
            }
        }
        for (from_a, s) in &self.rtp {
            let (ts, ssrc) = (s.last_ts, s.ssrc);
            if self.events.len() < crate::MAX_TIMELINE_EVENTS {
                self.events.push(MediaEvent {
                    ts,
                    from_a: *from_a,
                    kind: MediaEventKind::RtpLast { ssrc },
                });
            }
        }
        MediaFlow {
            transport: self.transport,
            a: self.a,
            b: self.b,
            first_ts: self.first_ts,
            last_ts: self.last_ts,
            packets: self.packets,
            kinds: Kind::ALL
                .into_iter()
                .zip(self.kinds)
                .filter(|(_, n)| *n > 0)
                .collect(),
            stun: self.stun,
            dtls: self.dtls,
            rtp: self.rtp,
            rtp_untracked_packets: self.rtp_untracked_packets,
            rtcp_packets: self.rtcp_packets,
            rtcp_encrypted: self.rtcp_encrypted,
            events: self.events,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flow_of(records: &[&[u8]]) -> MediaFlow {
        let (a, b) = (
            "10.0.0.1:5000".parse().unwrap(),
            "10.0.0.2:6000".parse().unwrap(),
        );
        let mut f = UdpFlow::on_tcp(a, b, Timestamp(0));
        for (i, r) in records.iter().enumerate() {
            f.on_message(Timestamp(i as i64), i % 2 == 0, r);
        }
        f.finish()
    }

    /// A DTLS 1.2 record of `content_type` with a 2-byte body.
    fn record(content_type: u8, epoch: u8, body: [u8; 2]) -> Vec<u8> {
        let mut r = vec![content_type, 0xfe, 0xfd, 0, epoch, 0, 0, 0, 0, 0, 1, 0, 2];
        r.extend_from_slice(&body);
        r
    }

    #[test]
    fn dtls_application_data_ends_a_handshake_only_after_one() {
        let app = record(dtls::APPLICATION_DATA, 1, [9, 9]);
        // An association that began before the capture: application data first.
        let f = flow_of(&[&app, &app]);
        assert_eq!(f.dtls.records, 2);
        assert_eq!(f.dtls.handshake_done, None);
        assert!(f.events.is_empty());
        // A ClientHello, then application data: done at the latter.
        let hello = record(dtls::HANDSHAKE, 0, [1, 0]);
        let f = flow_of(&[&hello, &app]);
        assert_eq!(f.dtls.handshake_done, Some(Timestamp(1)));
        assert_eq!(f.kinds.get(&Kind::Dtls), Some(&2));
    }
}
