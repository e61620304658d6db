//! One simulated WebSocket session (and its media flow): a script of timed steps that
//! schedule packets, and the emission of those packets in time order.
//!
//! A step at time `t` only schedules packets at `t` or later, so a session's next event
//! (earliest pending packet or timer) is a valid key for the global time-ordered merge.

use super::media::{self, StreamState};
use super::pcap::{server_mac, Link, PcapWriter, EPOCH_US, GATEWAY_MAC};
use super::rng::Rng;
use super::tcp::{Arrival, Seg, SeqAt, Tcp, C2S, S2C};
use super::ws::{self, Frame, Talk};
use super::Codec;
use super::{RtpTruth, SessionTruth, SynthConfig, Truth};
use etherparse::{TcpHeader, TcpOptionElement};
use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::io::{self, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Server port of the WebSocket service.
pub(crate) const WS_PORT: u16 = 8443;
/// Age at which the overloaded proxy resets sessions, µs.
pub(crate) const PROXY_TIMEOUT_US: u64 = 60_000_000;
/// Share of sessions established under overload that the proxy resets at that age.
const OVERLOAD_RST_SHARE: f64 = 0.85;
/// Retransmission timeout (Linux minimum), µs; the round trip is added.
const RTO_US: u64 = 200_000;
/// Delayed-ACK timer, µs.
const DELACK_US: u64 = 40_000;
const MS: u64 = 1000;
const S: u64 = 1_000_000;

/// State shared by all sessions: the output, the clock bounds, the load and the truth.
pub(crate) struct Shared<W: Write> {
    pub(crate) w: PcapWriter<W>,
    /// No step runs at or after this time (µs since capture start).
    pub(crate) end: u64,
    pub(crate) cfg: SynthConfig,
    /// Sessions established and not torn down.
    pub(crate) concurrency: usize,
    /// Load mode: sessions shed so far (the kind of the next one goes in turn).
    pub(crate) shed: usize,
    /// Load mode: drops the server has decided on (when, and how), for the generator to
    /// give to a random established session.
    pub(crate) sheds: Vec<(u64, End)>,
    pub(crate) truth: Truth,
}

impl<W: Write> Shared<W> {
    fn overloaded(&self) -> bool {
        self.concurrency
            > self
                .cfg
                .load
                .as_ref()
                .map_or(self.cfg.fail_above, |l| l.cap)
    }

    /// Load mode: the delay the server adds to an upgrade, growing with its sessions, µs.
    fn handshake_delay(&self) -> u64 {
        self.cfg
            .load
            .as_ref()
            .map_or(0, |l| l.delay_per_session_us * self.concurrency as u64)
    }
}

/// Load mode: how the server sheds the sessions over its cap, in turn.
const SHED: [End; 4] = [
    End::ServerRst,
    End::ServerFin,
    End::CloseServer(1011),
    End::CloseServer(1013),
];

/// How the connection attempt goes.
/// What the last segment of a send carries, for the ground truth: a close frame's code,
/// an HTTP status.
#[derive(Copy, Clone, Debug, Default)]
struct Marks {
    close: Option<u16>,
    http_status: Option<u16>,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Pre {
    Open,
    Rejected,
    Refused,
    Unanswered,
}

/// How an established session ends.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum End {
    /// Client close frame with this code, server echoes it, server FIN, client FIN.
    CloseClient(u16),
    /// Server close frame with this code, client echoes it, server FIN, client FIN.
    CloseServer(u16),
    ClientRst,
    ServerFin,
    ServerRst,
}

impl End {
    fn verdict(self) -> &'static str {
        match self {
            End::CloseClient(_) => "clean_close_client",
            End::CloseServer(1000 | 1001) => "clean_close_server",
            End::CloseServer(_) => "server_close_error",
            End::ClientRst => "client_rst_no_close",
            End::ServerFin => "server_fin_no_close",
            End::ServerRst => "server_rst_no_close",
        }
    }
}

/// A packet waiting for its time.
enum Pkt {
    Tcp(Seg),
    Udp { dir: usize, payload: Vec<u8> },
}

struct Pending {
    t: u64,
    n: u64,
    pkt: Pkt,
}

impl PartialEq for Pending {
    fn eq(&self, o: &Self) -> bool {
        (self.t, self.n) == (o.t, o.n)
    }
}
impl Eq for Pending {}
impl PartialOrd for Pending {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Pending {
    fn cmp(&self, o: &Self) -> Ordering {
        (self.t, self.n).cmp(&(o.t, o.n))
    }
}

// Timers.
const T_SYN: usize = 0;
const T_CLIENT: usize = 1;
const T_SERVER: usize = 2;
const T_PING: usize = 3;
const T_END: usize = 4;
const T_STUN: usize = 5;
const T_RTP: usize = 6; // and 7
const T_RTCP: usize = 8; // and 9
const N_TIMERS: usize = 10;

/// Teardown facts as written on the wire (µs), from which the truth is decided.
#[derive(Default, Debug)]
struct Facts {
    syn: bool,
    synack: bool,
    server_data: bool,
    response: Option<u16>,
    response_at: Option<u64>,
    close: [Option<(u64, u16)>; 2],
    fin: [Option<u64>; 2],
    rst: [Option<u64>; 2],
}

/// The media flow of a session.
struct Media {
    addr: [SocketAddr; 2],
    ssrc: [u32; 2],
    st: [StreamState; 2],
    first_us: [u64; 2],
    nominal: [u64; 2],
    username: String,
    tiebreaker: u64,
    cname: [String; 2],
    checks: u64,
}

/// One session.
pub(crate) struct Session {
    /// Unique, in creation order (the global merge's tie-break).
    pub(crate) id: u64,
    index: usize,
    ti: usize,
    rng: Rng,
    client: SocketAddr,
    server: SocketAddr,
    link: [Link; 2],
    tcp: Tcp,
    pending: BinaryHeap<Reverse<Pending>>,
    counter: u64,
    timers: [Option<u64>; N_TIMERS],
    pre: Pre,
    end: Option<End>,
    torn_down: bool,
    /// Load mode: the server has chosen it to drop.
    shed: bool,
    syn_left: u8,
    stage: u8,
    cands_left: u64,
    ping_n: u32,
    talk: Talk,
    s2c_hole_until: u64,
    media: Option<Box<Media>>,
    media_ports: [u16; 2],
    facts: Facts,
    frames: [u64; 2],
    retrans: u64,
    reordered: u64,
    close_frames: Vec<u16>,
    ssrc_c: u32,
}

fn client_ip(i: usize, v6: bool) -> IpAddr {
    if v6 {
        let n = i as u64 + 1;
        IpAddr::V6(Ipv6Addr::new(
            0xfd00,
            1,
            0,
            0,
            0,
            (n >> 32) as u16,
            (n >> 16) as u16,
            n as u16,
        ))
    } else {
        let per_b = 254 * 256;
        IpAddr::V4(Ipv4Addr::new(
            10,
            (1 + i / per_b).min(255) as u8,
            ((i / 254) % 256) as u8,
            (i % 254 + 1) as u8,
        ))
    }
}

impl Session {
    /// A new session arriving at `t0`; schedules its connection attempt.
    pub(crate) fn start<W: Write>(
        index: usize,
        id: u64,
        t0: u64,
        mut rng: Rng,
        sh: &mut Shared<W>,
    ) -> Session {
        // Load mode: one IPv4 server, IPv4 clients.
        let v6 = sh.cfg.load.is_none() && rng.chance(sh.cfg.ipv6_share);
        let cip = client_ip(index, v6);
        let sip = if sh.cfg.load.is_some() {
            IpAddr::V4(Ipv4Addr::new(10, 0, 0, 5))
        } else if v6 {
            IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 5))
        } else if rng.chance(0.5) {
            IpAddr::V4(Ipv4Addr::new(10, 0, 0, 5))
        } else {
            IpAddr::V4(Ipv4Addr::new(10, 0, 0, 6))
        };
        let client = SocketAddr::new(cip, 32768 + rng.below(28232) as u16);
        let server = SocketAddr::new(sip, WS_PORT);
        let smac = server_mac(sip);
        let link = [
            Link {
                src_mac: GATEWAY_MAC,
                dst_mac: smac,
                ttl: 60,
            },
            Link {
                src_mac: smac,
                dst_mac: GATEWAY_MAC,
                ttl: 64,
            },
        ];
        let mut isn = [rng.next_u32(), rng.next_u32()];
        for v in &mut isn {
            if rng.chance(0.25) {
                // Close to 2^32: the sequence numbers wrap inside the session.
                *v = u32::MAX - rng.below(40_000) as u32;
            }
        }
        let tcp = Tcp {
            isn,
            ts_base: [rng.next_u32(), rng.next_u32()],
            h: rng.range(2 * MS, 40 * MS),
            alloc: [0; 2],
            busy: [0; 2],
            sent_max: [0; 2],
            rx: Default::default(),
            last_ack: [None; 2],
            unacked: [0; 2],
            mss: if v6 { 1428 } else { 1448 },
        };
        let over = sh.overloaded();
        let (pu, pr, pf) = if let Some(l) = &sh.cfg.load {
            // At the cap, the server answers half the upgrades with a 503.
            (0.0, if sh.concurrency >= l.cap { 0.5 } else { 0.0 }, 0.0)
        } else if over {
            (0.08, 0.06, 0.02)
        } else {
            (0.015, 0.02, 0.015)
        };
        let x = rng.f64();
        let pre = if x < pu {
            Pre::Unanswered
        } else if x < pu + pr {
            Pre::Rejected
        } else if x < pu + pr + pf {
            Pre::Refused
        } else {
            Pre::Open
        };
        let ssrc_c = rng.next_u32();
        let talk = Talk::new(&mut rng, index, ssrc_c);
        let media_ports = [
            30000 + 2 * rng.below(15000) as u16,
            20002 + 2 * (index % 4999) as u16,
        ];
        let ti = sh.truth.sessions.len();
        sh.truth.sessions.push(SessionTruth {
            client,
            server,
            start_us: EPOCH_US + t0,
            verdict: "open_at_capture_end",
            client_observed_code: None,
            close_code: None,
            close_frames: Vec::new(),
            frames_c2s: 0,
            frames_s2c: 0,
            retransmissions: 0,
            reordered: 0,
            http_status: None,
            established_us: None,
            teardown_us: None,
            server_dropped: false,
            established_at_start: 0,
            established_at_teardown: None,
            connecting_at_teardown: None,
        });
        let mut s = Session {
            id,
            index,
            ti,
            rng,
            client,
            server,
            link,
            tcp,
            pending: BinaryHeap::new(),
            counter: 0,
            timers: [None; N_TIMERS],
            pre,
            end: None,
            torn_down: false,
            shed: false,
            syn_left: 0,
            stage: 0,
            cands_left: 0,
            ping_n: 0,
            talk,
            s2c_hole_until: 0,
            media: None,
            media_ports,
            facts: Facts::default(),
            frames: [0; 2],
            retrans: 0,
            reordered: 0,
            close_frames: Vec::new(),
            ssrc_c,
        };
        s.connect(t0, sh);
        s
    }

    // ---- scheduling helpers -------------------------------------------------------

    fn push(&mut self, t: u64, pkt: Pkt) {
        self.counter += 1;
        self.pending.push(Reverse(Pending {
            t,
            n: self.counter,
            pkt,
        }));
    }

    /// Capture time of `side`'s reaction, a random delay in `lo..=hi` µs after it received what the capture
    /// saw at `t` (the client only sees server bytes once any hole before them is filled).
    fn react(&mut self, side: usize, t: u64, lo: u64, hi: u64) -> u64 {
        let delay = self.rng.range(lo, hi);
        let t = if side == C2S {
            t.max(self.s2c_hole_until)
        } else {
            t
        };
        self.tcp
            .reaction(side, self.tcp.delivered_at(1 - side, t), delay)
    }

    /// Serialisation gap after a segment of `len` bytes: the server has 1 Gbit/s, the
    /// client's uplink 50 Mbit/s.
    fn gap(dir: usize, len: usize) -> u64 {
        if dir == S2C {
            2 + len as u64 * 8 / 1000
        } else {
            20 + len as u64 * 8 / 50
        }
    }

    /// Schedules `bytes` in direction `dir` from `t` on, MSS-sized segments; with
    /// `faults`, adjacent segments may be swapped and segments retransmitted. Returns
    /// the capture time of the last segment.
    fn send<W: Write>(
        &mut self,
        t: u64,
        dir: usize,
        bytes: Vec<u8>,
        faults: bool,
        marks: Marks,
        sh: &Shared<W>,
    ) -> u64 {
        let mss = self.tcp.mss;
        let chunks: Vec<&[u8]> = bytes.chunks(mss).collect();
        let n = chunks.len();
        let mut times = Vec::with_capacity(n);
        let mut at = t.max(self.tcp.busy[dir]);
        for c in &chunks {
            times.push(at);
            at += Self::gap(dir, c.len());
        }
        self.tcp.busy[dir] = at;
        let mut swapped = vec![false; n];
        if faults && n >= 2 {
            for i in 0..n - 1 {
                if !swapped[i] && self.rng.chance(sh.cfg.reorder) {
                    times.swap(i, i + 1);
                    swapped[i] = true;
                    swapped[i + 1] = true;
                    self.reordered += 1;
                }
            }
        }
        let mut off = self.tcp.alloc[dir];
        for (i, c) in chunks.iter().enumerate() {
            let mut seg = Seg::new(dir, SeqAt::Off(off));
            seg.payload = c.to_vec();
            seg.psh = i + 1 == n;
            if i == 0 {
                seg.close = marks.close;
                seg.http_status = marks.http_status;
            }
            if faults && !swapped[i] && self.rng.chance(sh.cfg.retransmit) {
                let rt = times[i] + RTO_US + 2 * self.tcp.h + self.rng.below(20 * MS);
                let mut copy = seg.clone();
                copy.retrans = true;
                if dir == S2C {
                    // Lost between the capture point and the client.
                    seg.lost = true;
                    self.s2c_hole_until = self.s2c_hole_until.max(rt);
                }
                self.push(rt, Pkt::Tcp(copy));
                self.retrans += 1;
            }
            self.push(times[i], Pkt::Tcp(seg));
            off += c.len() as u64;
        }
        self.tcp.alloc[dir] = off;
        times.into_iter().max().unwrap_or(t)
    }

    /// Schedules WebSocket frames (masked from the client). Returns the capture time of
    /// the last segment.
    fn send_ws<W: Write>(
        &mut self,
        t: u64,
        dir: usize,
        frames: Vec<Frame>,
        faults: bool,
        sh: &Shared<W>,
    ) -> u64 {
        let mut bytes = Vec::with_capacity(frames.iter().map(|f| f.payload.len() + 14).sum());
        let mut close = None;
        for f in &frames {
            let mask = (dir == C2S).then(|| self.rng.next_u32().to_be_bytes());
            ws::push_frame(&mut bytes, f, mask);
            if f.opcode == ws::OP_CLOSE {
                let code = u16::from_be_bytes([f.payload[0], f.payload[1]]);
                close = Some(code);
                self.close_frames.push(code);
            }
        }
        self.frames[dir] += frames.len() as u64;
        self.send(
            t,
            dir,
            bytes,
            faults,
            Marks {
                close,
                http_status: None,
            },
            sh,
        )
    }

    fn fin(&mut self, t: u64, dir: usize) -> u64 {
        let at = t.max(self.tcp.busy[dir]);
        let mut seg = Seg::new(dir, SeqAt::Off(self.tcp.alloc[dir]));
        seg.fin = true;
        self.tcp.alloc[dir] += 1;
        self.tcp.busy[dir] = at + 1;
        self.push(at, Pkt::Tcp(seg));
        at
    }

    fn rst(&mut self, t: u64, dir: usize) {
        let at = t.max(self.tcp.busy[dir]);
        let mut seg = Seg::new(dir, SeqAt::Next);
        seg.rst = true;
        self.push(at, Pkt::Tcp(seg));
    }

    fn now_ms(t: u64) -> u64 {
        (EPOCH_US + t) / 1000
    }

    // ---- the script ----------------------------------------------------------------

    fn connect<W: Write>(&mut self, t0: u64, sh: &mut Shared<W>) {
        let mut syn = Seg::new(C2S, SeqAt::Isn);
        syn.syn = true;
        syn.ack = false;
        self.push(t0, Pkt::Tcp(syn.clone()));
        match self.pre {
            Pre::Unanswered => {
                self.syn_left = 2;
                self.timers[T_SYN] = Some(t0 + S);
            }
            Pre::Refused => {
                let mut rst = Seg::new(S2C, SeqAt::Zero);
                rst.rst = true;
                let t = t0 + self.rng.range(20, 90);
                self.push(t, Pkt::Tcp(rst));
            }
            Pre::Open | Pre::Rejected => {
                let mut synack = Seg::new(S2C, SeqAt::Isn);
                synack.syn = true;
                let t_sa = t0 + self.rng.range(30, 150);
                self.push(t_sa, Pkt::Tcp(synack));
                let t_ack = self.react(C2S, t_sa, 20, 100);
                let mut ack = Seg::new(C2S, SeqAt::Next);
                ack.force = true;
                self.push(t_ack, Pkt::Tcp(ack));
                self.tcp.busy = [t_ack + 1, t_sa + 1];
                let path = format!("/ws/signal?agent=agent-{:05}&v=3", self.index + 1);
                let (req, key) = ws::upgrade_request(&mut self.rng, self.server, &path);
                let t_req = t_ack + self.rng.range(30, 300);
                let t_req = self.send(t_req, C2S, req, false, Marks::default(), sh);
                if self.pre == Pre::Rejected {
                    let t = self.react(S2C, t_req, 300, 5 * MS);
                    let t = self.send(
                        t,
                        S2C,
                        ws::response_503(),
                        false,
                        Marks {
                            close: None,
                            http_status: Some(503),
                        },
                        sh,
                    );
                    let tf = t + self.rng.range(20, 60);
                    let tf = self.fin(tf, S2C);
                    let tc = self.react(C2S, tf, 200, 3 * MS);
                    self.fin(tc, C2S);
                } else {
                    let extra = sh.handshake_delay();
                    let t = self.react(S2C, t_req, 300 + extra, 3 * MS + extra);
                    let t101 = self.send(
                        t,
                        S2C,
                        ws::response_101(&key),
                        false,
                        Marks {
                            close: None,
                            http_status: Some(101),
                        },
                        sh,
                    );
                    self.established(t101, sh);
                }
            }
        }
    }

    fn established<W: Write>(&mut self, t101: u64, sh: &mut Shared<W>) {
        sh.concurrency += 1;
        sh.truth.max_concurrency = sh.truth.max_concurrency.max(sh.concurrency);
        let over = sh.overloaded();
        if over && sh.truth.overload_start_us.is_none() {
            sh.truth.overload_start_us = Some(EPOCH_US + t101);
        }
        let life;
        let end = if let Some(l) = &sh.cfg.load {
            if over {
                let at = t101 + self.rng.range(300 * MS, 3 * S);
                sh.shed += 1;
                sh.sheds.push((at, SHED[sh.shed % SHED.len()]));
            }
            let (lo, hi) = l.call_s;
            life = self.rng.range((lo * 1e6) as u64, (hi * 1e6) as u64);
            End::CloseClient(1000)
        } else if over && self.rng.chance(OVERLOAD_RST_SHARE) {
            life = PROXY_TIMEOUT_US;
            End::ServerRst
        } else {
            life = 30 * S + self.rng.below(210 * S);
            let x = self.rng.f64();
            if x < 0.80 {
                End::CloseClient(1000)
            } else if x < 0.86 {
                End::CloseServer(1001)
            } else if x < 0.91 {
                End::CloseServer(if self.rng.chance(0.6) { 1011 } else { 1013 })
            } else if x < 0.96 {
                End::ClientRst
            } else {
                End::ServerFin
            }
        };
        self.end = Some(end);
        self.timers[T_END] = Some(t101 + life);
        self.timers[T_CLIENT] = Some(self.react(C2S, t101, 5 * MS, 60 * MS));
        self.timers[T_PING] = Some(t101 + 5 * S + self.rng.below(100 * MS));
    }

    /// Load mode: true while established, not torn down and not yet chosen to drop.
    pub(crate) fn sheddable(&self) -> bool {
        self.end.is_some() && !self.torn_down && !self.shed
    }

    /// Load mode: the server drops it at `at` (or at its own end, if sooner), as `end`.
    pub(crate) fn shed(&mut self, at: u64, end: End) {
        self.shed = true;
        self.end = Some(end);
        self.timers[T_END] = Some(self.timers[T_END].map_or(at, |t| t.min(at)));
    }

    fn step<W: Write>(&mut self, timer: usize, now: u64, sh: &mut Shared<W>) {
        match timer {
            T_SYN => {
                let mut syn = Seg::new(C2S, SeqAt::Isn);
                syn.syn = true;
                syn.ack = false;
                self.push(now, Pkt::Tcp(syn));
                self.retrans += 1;
                self.syn_left -= 1;
                if self.syn_left > 0 {
                    self.timers[T_SYN] = Some(now + 2 * S);
                }
            }
            T_CLIENT => self.client_step(now, sh),
            T_SERVER => {
                let text = self.talk.server_event(&mut self.rng, Self::now_ms(now));
                self.send_ws(
                    now,
                    S2C,
                    vec![Frame::new(ws::OP_TEXT, text.into_bytes())],
                    true,
                    sh,
                );
                self.timers[T_SERVER] = Some(now + self.rng.range(5 * S, 20 * S));
            }
            T_PING => {
                self.ping_n += 1;
                let mut payload = self.ping_n.to_be_bytes().to_vec();
                payload.extend_from_slice(&self.rng.next_u32().to_be_bytes());
                let tp = self.send_ws(
                    now,
                    S2C,
                    vec![Frame::new(ws::OP_PING, payload.clone())],
                    false,
                    sh,
                );
                let tr = self.react(C2S, tp, 100, 2 * MS);
                self.send_ws(tr, C2S, vec![Frame::new(ws::OP_PONG, payload)], false, sh);
                self.timers[T_PING] = Some(now + 5 * S - 50 * MS + self.rng.below(100 * MS));
            }
            T_END => {
                // Tear down only when no data is in flight (retransmissions included).
                let busy = self
                    .pending
                    .iter()
                    .filter_map(|Reverse(p)| match &p.pkt {
                        Pkt::Tcp(s) if !s.is_pure_ack() => Some(p.t),
                        _ => None,
                    })
                    .max();
                match busy {
                    Some(t) => self.timers[T_END] = Some(t.max(self.s2c_hole_until) + 5 * MS),
                    None if now < self.s2c_hole_until + 2 * self.tcp.h + MS => {
                        self.timers[T_END] = Some(self.s2c_hole_until + 2 * self.tcp.h + 5 * MS)
                    }
                    None => self.teardown(now, sh),
                }
            }
            T_STUN => self.stun_step(now),
            T_RTP | 7 => self.rtp_step(timer - T_RTP, now, sh),
            T_RTCP | 9 => self.rtcp_step(timer - T_RTCP, now, false),
            _ => unreachable!("timer {timer}"),
        }
    }

    fn client_step<W: Write>(&mut self, now: u64, sh: &mut Shared<W>) {
        let ms = Self::now_ms(now);
        match self.stage {
            0 => {
                let text = self.talk.register(&mut self.rng, ms);
                let t = self.send_ws(
                    now,
                    C2S,
                    vec![Frame::new(ws::OP_TEXT, text.into_bytes())],
                    true,
                    sh,
                );
                let reply = self.talk.registered(self.server, ms);
                let tr = self.react(S2C, t, 500, 3 * MS);
                self.send_ws(
                    tr,
                    S2C,
                    vec![Frame::new(ws::OP_TEXT, reply.into_bytes())],
                    true,
                    sh,
                );
                self.stage = 1;
                self.timers[T_CLIENT] = Some(now + self.rng.range(300 * MS, 1500 * MS));
            }
            1 => {
                let maddr = [
                    SocketAddr::new(self.client.ip(), self.media_ports[0]),
                    SocketAddr::new(self.server.ip(), self.media_ports[1]),
                ];
                let target = self.rng.range(2500, 4500) as usize;
                let offer = self.talk.sdp(&mut self.rng, true, maddr[0], target);
                let parts = if self.rng.chance(0.3) {
                    self.rng.range(2, 4)
                } else {
                    1
                };
                let t = self.send_ws(now, C2S, ws::fragments(offer, parts as usize), true, sh);
                let target = self.rng.range(2000, 3500) as usize;
                let answer = self.talk.sdp(&mut self.rng, false, maddr[1], target);
                let parts = if self.rng.chance(0.2) { 2 } else { 1 };
                let ta = self.react(S2C, t, 5 * MS, 30 * MS);
                let ta = self.send_ws(ta, S2C, ws::fragments(answer, parts), true, sh);
                let mut tc = ta;
                for _ in 0..self.rng.range(1, 3) {
                    tc += self.rng.range(2 * MS, 10 * MS);
                    let c = self.talk.candidate(&mut self.rng, maddr[1], false);
                    tc = self.send_ws(
                        tc,
                        S2C,
                        vec![Frame::new(ws::OP_TEXT, c.into_bytes())],
                        true,
                        sh,
                    );
                }
                if sh.cfg.media {
                    let tm = self.react(C2S, ta, 10 * MS, 50 * MS);
                    self.start_media(tm, maddr);
                }
                self.stage = 2;
                self.cands_left = self.rng.range(2, 5);
                self.timers[T_CLIENT] = Some(now + self.rng.range(10 * MS, 80 * MS));
            }
            2 => {
                let maddr = SocketAddr::new(self.client.ip(), self.media_ports[0]);
                let c = self.talk.candidate(&mut self.rng, maddr, true);
                self.send_ws(
                    now,
                    C2S,
                    vec![Frame::new(ws::OP_TEXT, c.into_bytes())],
                    true,
                    sh,
                );
                self.cands_left -= 1;
                if self.cands_left == 0 {
                    self.stage = 3;
                    self.timers[T_CLIENT] = Some(now + self.rng.range(8 * S, 12 * S));
                    self.timers[T_SERVER] = Some(now + self.rng.range(5 * S, 20 * S));
                } else {
                    self.timers[T_CLIENT] = Some(now + self.rng.range(10 * MS, 80 * MS));
                }
            }
            _ => {
                let frames = if self.rng.chance(0.8) {
                    let target = self.rng.range(1500, 6000) as usize;
                    let text = self.talk.stats(&mut self.rng, ms, target);
                    let parts = if self.rng.chance(0.3) {
                        self.rng.range(2, 4)
                    } else {
                        1
                    };
                    ws::fragments(text, parts as usize)
                } else {
                    let text = self.talk.client_event(&mut self.rng, ms);
                    vec![Frame::new(ws::OP_TEXT, text.into_bytes())]
                };
                self.send_ws(now, C2S, frames, true, sh);
                self.timers[T_CLIENT] = Some(now + self.rng.range(9 * S, 11 * S));
            }
        }
    }

    fn teardown<W: Write>(&mut self, now: u64, sh: &mut Shared<W>) {
        sh.concurrency -= 1;
        self.torn_down = true;
        for t in [T_CLIENT, T_SERVER, T_PING, T_END] {
            self.timers[t] = None;
        }
        let end = self.end.expect("teardown of an established session");
        let close = |code| vec![Frame::new(ws::OP_CLOSE, ws::close_payload(code))];
        match end {
            End::CloseClient(code) => {
                let t1 = self.send_ws(now, C2S, close(code), false, sh);
                let t2 = self.react(S2C, t1, 100, MS);
                let t2 = self.send_ws(t2, S2C, close(code), false, sh);
                let tf = t2 + self.rng.range(20, 80);
                let tf = self.fin(tf, S2C);
                let tc = self.react(C2S, tf, 200, 3 * MS);
                self.fin(tc, C2S);
            }
            End::CloseServer(code) => {
                let t1 = self.send_ws(now, S2C, close(code), false, sh);
                let t2 = self.react(C2S, t1, 200, 3 * MS);
                let t2 = self.send_ws(t2, C2S, close(code), false, sh);
                let tf = self.react(S2C, t2, 50, 300);
                let tf = self.fin(tf, S2C);
                let tc = self.react(C2S, tf, 200, 3 * MS);
                self.fin(tc, C2S);
            }
            End::ClientRst => self.rst(now, C2S),
            End::ServerFin => {
                let tf = self.fin(now, S2C);
                let tc = self.react(C2S, tf, 500, 5 * MS);
                self.fin(tc, C2S);
            }
            End::ServerRst => self.rst(now, S2C),
        }
        let clean = matches!(end, End::CloseClient(_) | End::CloseServer(_));
        self.stop_media(now, clean);
    }

    // ---- media ---------------------------------------------------------------------

    fn start_media(&mut self, t: u64, addr: [SocketAddr; 2]) {
        let st = [
            StreamState::new(&mut self.rng),
            StreamState::new(&mut self.rng),
        ];
        let ssrc_s = self.rng.next_u32();
        let m = Media {
            addr,
            ssrc: [self.ssrc_c, ssrc_s],
            st,
            first_us: [0; 2],
            nominal: [0; 2],
            username: format!("{}:{}", self.talk.ufrag_s, self.talk.ufrag_c),
            tiebreaker: self.rng.next_u64(),
            cname: [self.rng.ice_chars(16), self.rng.ice_chars(16)],
            checks: 0,
        };
        self.timers[T_STUN] = Some(t);
        // The server sends as soon as it saw the first check; the client once the
        // response came back.
        let t_s = t + self.rng.range(MS, 5 * MS);
        let t_c = t + 2 * self.tcp.h + self.rng.range(2 * MS, 10 * MS);
        let mut m = Box::new(m);
        m.nominal = [t_c, t_s];
        self.timers[T_RTP] = Some(t_c);
        self.timers[T_RTP + 1] = Some(t_s);
        self.timers[T_RTCP] = Some(t_c + S + self.rng.below(S));
        self.timers[T_RTCP + 1] = Some(t_s + S + self.rng.below(S));
        self.media = Some(m);
    }

    fn stun_step(&mut self, now: u64) {
        let Some(m) = self.media.as_mut() else { return };
        let mut txid = [0u8; 12];
        self.rng.fill(&mut txid);
        m.checks += 1;
        let req = media::stun_request(
            &mut self.rng,
            &txid,
            &m.username,
            m.tiebreaker,
            m.checks == 1,
        );
        let resp = media::stun_success(&mut self.rng, &txid, m.addr[0]);
        self.push(
            now,
            Pkt::Udp {
                dir: C2S,
                payload: req,
            },
        );
        let tr = now + self.rng.range(60, 250);
        self.push(
            tr,
            Pkt::Udp {
                dir: S2C,
                payload: resp,
            },
        );
        self.timers[T_STUN] = Some(now + 2400 * MS + self.rng.below(200 * MS));
    }

    fn rtp_step<W: Write>(&mut self, d: usize, now: u64, sh: &Shared<W>) {
        let Some(m) = self.media.as_mut() else { return };
        let st = &mut m.st[d];
        let ext = st.next_ext;
        st.next_ext += 1;
        let mut out = None;
        if self.rng.chance(sh.cfg.loss) {
            st.skipped += 1;
        } else {
            let len = match sh.cfg.codec {
                Codec::Opus => self.rng.range(60, 140) as usize,
                Codec::Pcmu => 160,
            };
            let pkt = media::rtp(
                &mut self.rng,
                sh.cfg.codec,
                m.ssrc[d],
                ext as u16,
                st.rtp_ts,
                st.base_ext.is_none(),
                len,
            );
            if st.base_ext.is_none() {
                st.base_ext = Some(ext);
                m.first_us[d] = EPOCH_US + now;
            }
            st.max_ext = ext;
            st.packets += 1;
            st.octets += len as u64;
            out = Some(pkt);
        }
        st.rtp_ts = st.rtp_ts.wrapping_add(sh.cfg.codec.ticks_per_packet());
        m.nominal[d] += 20 * MS;
        self.timers[T_RTP + d] = Some(m.nominal[d] + self.rng.below(1500));
        if let Some(pkt) = out {
            self.push(
                now,
                Pkt::Udp {
                    dir: d,
                    payload: pkt,
                },
            );
        }
    }

    fn rtcp_step(&mut self, d: usize, now: u64, bye: bool) {
        let Some(m) = self.media.as_ref() else { return };
        let pkt = media::rtcp(
            EPOCH_US + now,
            m.ssrc[d],
            &m.st[d],
            m.ssrc[1 - d],
            &m.st[1 - d],
            &m.cname[d],
            bye,
        );
        self.push(
            now,
            Pkt::Udp {
                dir: d,
                payload: pkt,
            },
        );
        if !bye {
            self.timers[T_RTCP + d] = Some(now + 4800 * MS + self.rng.below(400 * MS));
        }
    }

    fn stop_media(&mut self, now: u64, clean: bool) {
        if self.media.is_none() {
            return;
        }
        for t in [T_STUN, T_RTP, T_RTP + 1, T_RTCP, T_RTCP + 1] {
            self.timers[t] = None;
        }
        if clean {
            self.rtcp_step(C2S, now, true);
            let t = now + self.rng.range(100, 500);
            self.rtcp_step(S2C, t, true);
        }
    }

    // ---- emission ------------------------------------------------------------------

    /// The time of the next thing this session does, if any.
    pub(crate) fn next_time(&self) -> Option<u64> {
        let p = self.pending.peek().map(|Reverse(p)| p.t);
        self.timers.iter().flatten().copied().chain(p).min()
    }

    /// Does everything due at `now`: writes the packets and runs the steps.
    pub(crate) fn run<W: Write>(&mut self, now: u64, sh: &mut Shared<W>) -> io::Result<()> {
        loop {
            if self.pending.peek().is_some_and(|Reverse(p)| p.t <= now) {
                let Some(Reverse(p)) = self.pending.pop() else {
                    break;
                };
                self.emit(p, sh)?;
                continue;
            }
            if let Some(i) = (0..N_TIMERS).find(|&i| self.timers[i].is_some_and(|t| t <= now)) {
                self.timers[i] = None;
                if now < sh.end {
                    self.step(i, now, sh);
                }
                continue;
            }
            break;
        }
        Ok(())
    }

    fn emit<W: Write>(&mut self, p: Pending, sh: &mut Shared<W>) -> io::Result<()> {
        match p.pkt {
            Pkt::Udp { dir, payload } => {
                let Some(m) = self.media.as_ref() else {
                    return Ok(());
                };
                let (src, dst) = (m.addr[dir], m.addr[1 - dir]);
                sh.w.udp(p.t, &self.link[dir], src, dst, &payload)
            }
            Pkt::Tcp(seg) => self.emit_tcp(p.t, seg, sh),
        }
    }

    fn emit_tcp<W: Write>(&mut self, t: u64, seg: Seg, sh: &mut Shared<W>) -> io::Result<()> {
        if self.facts.rst.iter().any(Option::is_some) {
            debug_assert!(
                seg.is_pure_ack(),
                "session {}: {seg:?} after RST",
                self.index
            );
            return Ok(());
        }
        let d = seg.dir;
        let r = 1 - d;
        let (ack, sack) = if seg.ack {
            let at = self.tcp.sent_at(d, t);
            let v = self.tcp.rx[r].view(at);
            let blocks: Vec<(u64, u64)> = v.ooo.iter().take(3).copied().collect();
            (v.nxt, blocks)
        } else {
            (0, Vec::new())
        };
        if seg.is_pure_ack() && !seg.force && self.tcp.last_ack[d] == Some(ack) {
            return Ok(());
        }
        let tcp = &mut self.tcp;
        if seg.ack {
            tcp.last_ack[d] = Some(ack);
            tcp.unacked[r] = 0;
        }
        let seq = match seg.seq {
            SeqAt::Isn => tcp.isn[d],
            SeqAt::Off(o) => tcp.wire(d, o),
            SeqAt::Next => tcp.wire(d, tcp.sent_max[d]),
            SeqAt::Zero => 0,
        };
        let window = if seg.syn {
            64240
        } else if seg.rst {
            0
        } else {
            502
        };
        let mut h = TcpHeader::new(
            if d == C2S {
                self.client.port()
            } else {
                self.server.port()
            },
            if d == C2S {
                self.server.port()
            } else {
                self.client.port()
            },
            seq,
            window,
        );
        h.syn = seg.syn;
        h.fin = seg.fin;
        h.rst = seg.rst;
        h.psh = seg.psh;
        h.ack = seg.ack;
        if seg.ack {
            h.acknowledgment_number = tcp.wire(r, ack);
        }
        let tsval = tcp.tsval(d, t);
        let tsecr = if seg.ack { tcp.tsecr(d, t) } else { 0 };
        let mss = tcp.mss as u16 + 12;
        let opts: Vec<TcpOptionElement> = if seg.rst {
            Vec::new()
        } else if seg.syn {
            vec![
                TcpOptionElement::MaximumSegmentSize(mss),
                TcpOptionElement::SelectiveAcknowledgementPermitted,
                TcpOptionElement::Timestamp(tsval, tsecr),
                TcpOptionElement::Noop,
                TcpOptionElement::WindowScale(7),
            ]
        } else {
            let mut o = vec![
                TcpOptionElement::Noop,
                TcpOptionElement::Noop,
                TcpOptionElement::Timestamp(tsval, tsecr),
            ];
            if seg.is_pure_ack() && !sack.is_empty() {
                let w = |b: (u64, u64)| (tcp.wire(r, b.0), tcp.wire(r, b.1));
                let mut rest = [None; 3];
                for (i, b) in sack.iter().skip(1).enumerate() {
                    rest[i] = Some(w(*b));
                }
                o.push(TcpOptionElement::Noop);
                o.push(TcpOptionElement::Noop);
                o.push(TcpOptionElement::SelectiveAcknowledgement(w(sack[0]), rest));
            }
            o
        };
        h.set_options(&opts).map_err(io::Error::other)?;
        let link = self.link[d];
        let (src, dst) = if d == C2S {
            (self.client, self.server)
        } else {
            (self.server, self.client)
        };
        sh.w.tcp(t, &link, src, dst, h, &seg.payload)?;

        // Facts for the truth.
        let f = &mut self.facts;
        if seg.syn && d == C2S {
            f.syn = true;
        }
        if seg.syn && d == S2C {
            f.synack = true;
        }
        if d == S2C && !seg.payload.is_empty() {
            f.server_data = true;
        }
        if let Some(st) = seg.http_status {
            f.response.get_or_insert(st);
            f.response_at.get_or_insert(t);
        }
        if let Some(code) = seg.close {
            f.close[d].get_or_insert((t, code));
        }
        if seg.fin {
            f.fin[d].get_or_insert(t);
        }
        if seg.rst {
            f.rst[d].get_or_insert(t);
            // Nothing of this connection follows an RST.
            self.pending
                .retain(|Reverse(p)| !matches!(p.pkt, Pkt::Tcp(_)));
            return Ok(());
        }

        // Delivery and the receiver's acknowledgment.
        let SeqAt::Off(start) = seg.seq else {
            return Ok(());
        };
        let end = start + seg.payload.len() as u64 + u64::from(seg.fin);
        if end == start {
            return Ok(());
        }
        let tcp = &mut self.tcp;
        tcp.sent_max[d] = tcp.sent_max[d].max(end);
        if seg.lost {
            return Ok(());
        }
        let at = tcp.delivered_at(d, t);
        let (quick, force) = match tcp.rx[d].deliver(at, start, end) {
            Arrival::InOrder if !seg.fin => {
                tcp.unacked[d] += 1;
                if tcp.unacked[d] >= 2 {
                    tcp.unacked[d] = 0;
                    (true, false)
                } else {
                    (false, false)
                }
            }
            Arrival::InOrder | Arrival::FillsHole => (true, false),
            Arrival::OutOfOrder | Arrival::Duplicate => (true, true),
        };
        let delay = if quick {
            self.rng.range(20, if r == C2S { 150 } else { 60 })
        } else {
            DELACK_US
        };
        let ta = self.tcp.reaction(r, at, delay);
        let mut ack = Seg::new(r, SeqAt::Next);
        ack.force = force;
        self.push(ta, Pkt::Tcp(ack));
        Ok(())
    }

    // ---- the truth -----------------------------------------------------------------

    /// True when nothing is left to do.
    pub(crate) fn done(&self) -> bool {
        self.next_time().is_none()
    }

    /// Records the session's ground truth (call once it is done).
    pub(crate) fn finish<W: Write>(self, sh: &mut Shared<W>) {
        let (verdict, observed, close_code) = decide(&self.facts);
        let planned = match self.pre {
            Pre::Unanswered => "syn_unanswered",
            Pre::Refused => "connect_refused",
            Pre::Rejected => "handshake_rejected",
            Pre::Open => match self.end {
                Some(e) if self.torn_down => e.verdict(),
                _ => "open_at_capture_end",
            },
        };
        debug_assert_eq!(verdict, planned, "session {}: {:?}", self.index, self.facts);
        let t = &mut sh.truth.sessions[self.ti];
        t.verdict = verdict;
        t.client_observed_code = observed;
        t.close_code = close_code;
        t.close_frames = self.close_frames;
        t.frames_c2s = self.frames[C2S];
        t.frames_s2c = self.frames[S2C];
        t.retransmissions = self.retrans;
        t.reordered = self.reordered;
        t.http_status = self.facts.response;
        t.established_us = (self.facts.response == Some(101))
            .then_some(self.facts.response_at)
            .flatten()
            .map(|t| EPOCH_US + t);
        t.teardown_us = teardown_start(&self.facts).map(|t| EPOCH_US + t);
        t.server_dropped = matches!(
            verdict,
            "server_close_error"
                | "server_rst_no_close"
                | "server_fin_no_close"
                | "handshake_rejected"
                | "connect_refused"
        );
        if let Some(m) = self.media {
            for d in [C2S, S2C] {
                let st = &m.st[d];
                if st.packets > 0 {
                    sh.truth.rtp_streams.push(RtpTruth {
                        src: m.addr[d],
                        dst: m.addr[1 - d],
                        ssrc: m.ssrc[d],
                        session: self.ti,
                        first_us: m.first_us[d],
                        packets: st.packets,
                        lost: st.lost(),
                        skipped: st.skipped,
                    });
                }
            }
            sh.truth.stun.requests += m.checks;
            sh.truth.stun.responses += m.checks;
        }
    }
}

/// When the teardown started on the wire (README, "Verdicts"): a rejected upgrade's
/// response; else the first close frame, FIN or RST (none for an unanswered SYN or a
/// session still open).
fn teardown_start(f: &Facts) -> Option<u64> {
    match f.response {
        Some(101) | None => f
            .close
            .iter()
            .map(|c| c.map(|(t, _)| t))
            .chain(f.fin)
            .chain(f.rst)
            .flatten()
            .min(),
        Some(_) => f.response_at,
    }
}

/// The README's verdict rules, applied to what was written: (verdict, client-observed
/// code, close code).
fn decide(f: &Facts) -> (&'static str, Option<u16>, Option<u16>) {
    let established = f.synack || f.server_data || f.response.is_some();
    if f.syn && !established {
        let v = if f.rst[S2C].is_some() {
            "connect_refused"
        } else {
            "syn_unanswered"
        };
        return (v, Some(1006), None);
    }
    // (time, 0 = FIN / 1 = RST, direction)
    let tcp_end = [
        f.fin[C2S].map(|t| (t, 0, C2S)),
        f.fin[S2C].map(|t| (t, 0, S2C)),
        f.rst[C2S].map(|t| (t, 1, C2S)),
        f.rst[S2C].map(|t| (t, 1, S2C)),
    ]
    .into_iter()
    .flatten()
    .min();
    match f.response {
        Some(101) => {}
        Some(_) => return ("handshake_rejected", Some(1006), None),
        None if tcp_end.is_some() => return ("handshake_no_response", Some(1006), None),
        None => return ("open_at_capture_end", None, None),
    }
    let first_close = [C2S, S2C]
        .into_iter()
        .filter_map(|d| f.close[d].map(|(t, c)| (t, d, c)))
        .min();
    let verdict = match (first_close, tcp_end) {
        (Some((tc, d, code)), e) if e.is_none_or(|e| tc <= e.0) => {
            let clean = matches!(code, 1000 | 1001);
            match (d, clean) {
                (C2S, true) => "clean_close_client",
                (_, true) => "clean_close_server",
                (C2S, false) => "client_close_error",
                _ => "server_close_error",
            }
        }
        (_, Some((_, kind, d))) => match (d, kind) {
            (C2S, 1) => "client_rst_no_close",
            (C2S, _) => "client_fin_no_close",
            (_, 1) => "server_rst_no_close",
            _ => "server_fin_no_close",
        },
        _ => return ("open_at_capture_end", None, None),
    };
    // RFC 6455 §7.1.5 from the client: its connection ends at the server's FIN or RST or
    // its own RST.
    let client_end = [f.fin[S2C], f.rst[S2C], f.rst[C2S]]
        .into_iter()
        .flatten()
        .min();
    let observed = match (f.close[S2C], client_end) {
        (Some((t, code)), e) if e.is_none_or(|e| t <= e) => Some(code),
        (_, Some(_)) => Some(1006),
        _ => None,
    };
    (verdict, observed, first_close.map(|c| c.2))
}
