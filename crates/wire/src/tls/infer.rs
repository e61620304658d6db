//! The WebSocket layer of a `wss://` connection without its keys, inferred from the
//! lengths, order and timing of its TLS records. Pure: records in, inferred facts out.
//!
//! What makes it possible:
//!
//! - An AEAD record reveals its plaintext length: the body minus the suite's overhead
//!   ([`Suite::record_overhead`]: TLS 1.2 AES-GCM 24, ChaCha20-Poly1305 16, TLS 1.3 17).
//!   TLS 1.3 padding (RFC 8446 §5.4) is measured per direction on the encrypted Finished,
//!   whose length is known (4 + the hash length): the JDK, for one, pads every record by 16.
//!   CBC and unknown suites are not inferred ([`NotInferred::Cipher`]).
//! - TLS 1.3 hides record types: the server's encrypted flight and the client's Finished
//!   come as [`RecordKind::Handshake`] records (the caller knows them by position);
//!   NewSessionTickets are the server's records before the upgrade response; a side's last
//!   record of 2 plaintext bytes is its close_notify alert.
//! - The upgrade: the client's first application record is the HTTP request, the server's
//!   answer follows. Nothing after it but the end of the connection, within
//!   [`REJECT_WINDOW_NS`], is a rejected upgrade.
//! - A WebSocket frame's header is 2 bytes (+4 mask from the client, RFC 6455 §5.2), a
//!   close frame's payload 0 or 2..=125 bytes (§5.5.1). A close is the *last* frame of its
//!   sender; the peer's answer is its own last frame, echoing the payload (so ±4 with the
//!   mask) or just a code, before the first side's end; then the connection ends at once
//!   and cleanly. After a close handshake the endpoint that must close TCP does so as soon
//!   as the answer is sent or received (RFC 6455 §7.1.1: the server, echoing a client's
//!   close or receiving the echo of its own), so the first end of either side (close_notify,
//!   alert, FIN) follows the answer within [`CLOSE_PROMPT_NS`] plus a round trip
//!   ([`Params::round_trip_ns`]: at the client, a server's end comes a round trip after the
//!   client's echo left); an RST before any close_notify is an abort, not the end of a
//!   close handshake. A message echoed just before a drop has the lengths of a close and
//!   its answer, but the drop comes at a time of its own, or as an RST. A close the peer
//!   never answered is recognised only with a bare code (8 bytes from a client: Chromium
//!   gives up its closing handshake after 60 s and ends the connection itself).
//!   Pings and pongs look like closes but are not last; a data message echoed just before
//!   the client drops the connection looks like a client close, but after a client's close
//!   the server ends first (RFC 6455 §7.1.1), so a client ending first rules it out unless
//!   its record held a bare code.
//!
//! Known limits (README, "Secure WebSockets"): close codes and reasons stay unreadable; a
//! ping/pong or a 2-byte message as the last exchange before a drop reads as a close, and
//! so does any message echo followed within [`CLOSE_PROMPT_NS`] by a drop with
//! close_notify or FIN; a close handshake ended by an RST, or by a server that leaves the
//! TCP close to the client for longer, reads as no close; an upgrade accepted and closed
//! without frames within [`REJECT_WINDOW_NS`] reads as rejected.

use super::crypto::Suite;
use crate::time::Timestamp;
use crate::ws::MAX_CONTROL_PAYLOAD;
use std::collections::VecDeque;

/// Records kept from the start of a connection (handshake, upgrade, first frames).
pub const HEAD_RECORDS: usize = 16;
/// Records kept from the end of a connection (the close handshake).
pub const TAIL_RECORDS: usize = 48;
/// A rejected upgrade ends the connection within this time after the response, ns (1 s).
pub const REJECT_WINDOW_NS: i64 = 1_000_000_000;
/// After a close handshake the endpoint that must close TCP does so at once (RFC 6455
/// §7.1.1): the connection's first end (close_notify, alert, FIN) follows the answer
/// within this time, ns, plus [`Params::round_trip_ns`] (a server close captured at the
/// client: the server's end comes a round trip after the client's echo left).
pub const CLOSE_PROMPT_NS: i64 = 100_000_000;
/// An encrypted alert's plaintext: level and description (RFC 8446 §6).
const ALERT_LEN: usize = 2;
/// TLS 1.3 padding larger than this is not believed (a coalesced flight, not padding).
const MAX_PADDING: usize = 255;
/// An HTTP upgrade request or response is at least this long (request line, Host,
/// Upgrade, Connection and the key or accept headers).
const MIN_HTTP: usize = 100;
/// A client record shorter than this after the upgrade is a frame, not an HTTP request.
const MIN_HTTP_REQUEST: usize = 64;
/// WebSocket frame header of a short frame, and the client's masking key (RFC 6455 §5.2).
const FRAME_HEADER: usize = 2;
const MASK_LEN: usize = 4;

/// What a record is, as far as the caller could tell without keys.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum RecordKind {
    /// An encrypted handshake record: TLS 1.3 server flight or a Finished.
    Handshake,
    /// Application data (TLS 1.3: any encrypted record after the handshake).
    Data,
    /// An alert record whose type is visible (TLS 1.2).
    Alert,
}

/// One encrypted record.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// When its last byte arrived.
    pub ts: Timestamp,
    /// The side that sent it (connection side index, 0 or 1).
    pub side: usize,
    /// What it is.
    pub kind: RecordKind,
    /// Its body length on the wire.
    pub len: usize,
}

/// The records of a connection, bounded: the first [`HEAD_RECORDS`] and the last
/// [`TAIL_RECORDS`]; data records in between are only counted.
#[derive(Clone, Debug, Default)]
pub struct RecordLog {
    head: Vec<Record>,
    tail: VecDeque<Record>,
    /// Data records dropped from the middle, per side.
    skipped: [u64; 2],
    /// A record was lost in a capture gap.
    lost: bool,
}

impl RecordLog {
    /// Adds a record.
    pub fn push(&mut self, r: Record) {
        if self.head.len() < HEAD_RECORDS {
            self.head.push(r);
            return;
        }
        if self.tail.len() == TAIL_RECORDS {
            if let Some(old) = self.tail.pop_front() {
                if old.kind == RecordKind::Data {
                    self.skipped[old.side & 1] += 1;
                }
            }
        }
        self.tail.push_back(r);
    }

    /// Notes a record lost in a capture gap: its length is unknown, so nothing is inferred.
    pub fn lost(&mut self) {
        self.lost = true;
    }

    /// The kept records, in order.
    pub fn records(&self) -> impl Iterator<Item = &Record> {
        self.head.iter().chain(self.tail.iter())
    }
}

/// The connection, as the inference needs it.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Params {
    /// Negotiated version code (0x0303, 0x0304).
    pub version: u16,
    /// Negotiated cipher suite (IANA code).
    pub cipher: u16,
    /// The client's side index.
    pub client: usize,
    /// Per side index, its first FIN or RST.
    pub tcp_end: [Option<Timestamp>; 2],
    /// Per side index, its first RST.
    pub tcp_rst: [Option<Timestamp>; 2],
    /// The path's round trip as the capture point sees it, ns: the client's SYN to the
    /// server's SYN-ACK (a full round trip captured at the client, about 0 at the server;
    /// 0 when unknown).
    pub round_trip_ns: i64,
    /// The client offered HTTP/2 first in its ALPN, or the server chose it: HTTP/2 has
    /// no RFC 6455 upgrade (browsers offer only `http/1.1` for `wss://`), so the records
    /// are HTTPS requests, whatever their lengths.
    pub http2: bool,
}

/// Why nothing was inferred.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum NotInferred {
    /// Not an AEAD suite (CBC, unknown): record lengths do not give plaintext lengths.
    Cipher,
    /// Records were lost in a capture gap.
    RecordsLost,
}

impl std::fmt::Display for NotInferred {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            NotInferred::Cipher => {
                "not an AEAD cipher suite, record lengths do not give plaintext lengths"
            }
            NotInferred::RecordsLost => "TLS records were lost in a capture gap",
        })
    }
}

/// One inferred fact's record: when, and its lengths.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Seen {
    /// Side index of the sender.
    pub side: usize,
    /// When.
    pub ts: Timestamp,
    /// Record body length on the wire.
    pub record_len: usize,
    /// Plaintext length inferred from it.
    pub plaintext_len: usize,
}

/// An inferred close frame, and the peer's answer.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct InferredClose {
    /// The first close frame.
    pub frame: Seen,
    /// The peer's close frame, when it answered.
    pub answer: Option<Seen>,
}

/// The WebSocket layer as the records show it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Inferred {
    /// The client's first application record: the HTTP upgrade request.
    pub request: Option<Seen>,
    /// The server's answer to it.
    pub response: Option<Seen>,
    /// `Some(false)`: rejected (nothing but the end followed the answer);
    /// `Some(true)`: frames followed; `None`: cannot tell.
    pub accepted: Option<bool>,
    /// The records have the upgrade-then-frames shape of a WebSocket (an HTTPS
    /// request/response connection does not).
    pub websocket: bool,
    /// Not [`Inferred::websocket`], and every client record after the first is as long as
    /// an HTTP request: more requests on a keep-alive HTTPS connection.
    pub http_like: bool,
    /// Frame-carrying records after the upgrade, per side index.
    pub data_records: [u64; 2],
    /// TLS 1.3 NewSessionTicket records recognised (and not counted as data).
    pub tickets: u64,
    /// The first close frame, when one was recognised.
    pub close: Option<InferredClose>,
    /// Per side index, its close_notify recognised by length (TLS 1.3; TLS 1.2 shows the
    /// alert's type).
    pub close_notify: [Option<Seen>; 2],
}

/// Infers the WebSocket layer of a connection from its records.
pub fn infer(p: &Params, log: &RecordLog) -> Result<Inferred, NotInferred> {
    let suite = Suite::from_id(p.cipher).ok_or(NotInferred::Cipher)?;
    if log.lost {
        return Err(NotInferred::RecordsLost);
    }
    let tls13 = p.version == 0x0304;
    let overhead = suite.record_overhead(tls13);
    let padding = if tls13 {
        measured_padding(log, p.client, 4 + suite.hash_len(), overhead)
    } else {
        [0, 0]
    };
    let seen = |r: &Record| Seen {
        side: r.side,
        ts: r.ts,
        record_len: r.len,
        plaintext_len: r.len.saturating_sub(overhead + padding[r.side & 1]),
    };
    let mut data: Vec<Seen> = log
        .records()
        .filter(|r| r.kind == RecordKind::Data)
        .map(seen)
        .collect();
    let mut out = Inferred::default();

    // TLS 1.3: a side's last record of an alert's length is its close_notify.
    if tls13 {
        for side in 0..2 {
            let last = data.iter().rposition(|s| s.side == side);
            if let Some(i) = last.filter(|&i| data[i].plaintext_len == ALERT_LEN) {
                out.close_notify[side] = Some(data.remove(i));
            }
        }
    }
    let client = p.client;
    let server = 1 - client;
    let Some(req_i) = data.iter().position(|s| s.side == client) else {
        return Ok(out);
    };
    out.request = Some(data[req_i]);

    // The server's records up to its answer: TLS 1.3 tickets come before it (sent at the
    // client's Finished), the answer is the last long one before the client writes again.
    let next_client = data[req_i + 1..]
        .iter()
        .position(|s| s.side == client)
        .map_or(data.len(), |k| req_i + 1 + k);
    let run: Vec<usize> = (0..next_client)
        .filter(|&i| data[i].side == server)
        .collect();
    let resp_i = if tls13 {
        run.iter()
            .rev()
            .find(|&&i| i > req_i && data[i].plaintext_len >= MIN_HTTP)
            .or_else(|| run.iter().find(|&&i| i > req_i))
            .copied()
    } else {
        run.iter().find(|&&i| i > req_i).copied()
    };
    let Some(resp_i) = resp_i else {
        return Ok(out);
    };
    out.response = Some(data[resp_i]);
    out.tickets = run.iter().filter(|&&i| i < resp_i).count() as u64;
    let frames: Vec<Seen> = data
        .iter()
        .enumerate()
        .filter(|&(i, s)| (s.side == client && i > req_i) || (s.side == server && i > resp_i))
        .map(|(_, s)| *s)
        .collect();
    for side in 0..2 {
        out.data_records[side] =
            frames.iter().filter(|s| s.side == side).count() as u64 + log.skipped[side];
    }

    let end = |side: usize| {
        [
            p.tcp_end[side],
            out.close_notify[side].map(|s| s.ts),
            log.records()
                .find(|r| r.side == side && r.kind == RecordKind::Alert)
                .map(|r| r.ts),
        ]
        .into_iter()
        .flatten()
        .min()
    };
    let first_end = [end(0), end(1)].into_iter().flatten().min();
    if frames.is_empty() {
        out.http_like = p.http2;
        let response_ts = data[resp_i].ts;
        out.accepted = first_end
            .filter(|e| e.0 - response_ts.0 <= REJECT_WINDOW_NS)
            .map(|_| false);
        return Ok(out);
    }
    out.accepted = Some(true);
    out.close = find_close(&frames, p, &end);
    let upgrade_shaped = out.request.is_some_and(|s| s.plaintext_len >= MIN_HTTP)
        && out.response.is_some_and(|s| s.plaintext_len >= MIN_HTTP);
    let small_client_frame = frames
        .iter()
        .any(|s| s.side == client && s.plaintext_len < MIN_HTTP_REQUEST);
    out.websocket = !p.http2 && upgrade_shaped && (out.close.is_some() || small_client_frame);
    let mut client_frames = frames.iter().filter(|s| s.side == client).peekable();
    out.http_like = p.http2
        || (!out.websocket
            && client_frames.peek().is_some()
            && client_frames.all(|s| s.plaintext_len >= MIN_HTTP));
    Ok(out)
}

/// TLS 1.3 padding per side: the Finished's plaintext (4 + hash length) against its record
/// (the client's first encrypted record, the server's last before it).
fn measured_padding(
    log: &RecordLog,
    client: usize,
    finished: usize,
    overhead: usize,
) -> [usize; 2] {
    let mut pad = [0; 2];
    let handshake = || log.records().filter(|r| r.kind == RecordKind::Handshake);
    let client_fin = handshake().find(|r| r.side == client);
    let server_fin = handshake()
        .filter(|r| r.side != client && client_fin.is_none_or(|c| r.ts <= c.ts))
        .last();
    for r in [client_fin, server_fin].into_iter().flatten() {
        let extra = r.len.saturating_sub(overhead + finished);
        if r.len >= overhead + finished && extra <= MAX_PADDING {
            pad[r.side & 1] = extra;
        }
    }
    pad
}

/// The close payload a frame of this plaintext length would carry, when it can be a close
/// frame (payload 0 or 2..=125, RFC 6455 §5.5.1).
fn close_payload(side_is_client: bool, plaintext_len: usize) -> Option<usize> {
    let header = FRAME_HEADER + if side_is_client { MASK_LEN } else { 0 };
    let payload = plaintext_len.checked_sub(header)?;
    (payload != 1 && payload <= MAX_CONTROL_PAYLOAD).then_some(payload)
}

/// The first close frame among the frames (see the module documentation for the rules).
fn find_close(
    frames: &[Seen],
    p: &Params,
    end: &dyn Fn(usize) -> Option<Timestamp>,
) -> Option<InferredClose> {
    let client = p.client;
    let last = |side: usize| frames.iter().rposition(|s| s.side == side);
    let payload = |i: usize| close_payload(frames[i].side == client, frames[i].plaintext_len);
    let (first, second) = match (last(0), last(1)) {
        (Some(a), Some(b)) => (Some(a.min(b)), a.max(b)),
        (a, b) => (None, a.or(b)?),
    };
    if let Some(first) = first {
        let (x, y) = (frames[first], frames[second]);
        let connection_end = [end(0), end(1)].into_iter().flatten().min();
        let echoed = match (payload(first), payload(second)) {
            (Some(px), Some(py)) => py == px || py == 2 || py == 0,
            _ => false,
        };
        let answered_in_time = end(x.side).is_none_or(|e| y.ts <= e);
        // The closing endpoint ends at once after the answer (RFC 6455 §7.1.1), and
        // cleanly: a drop comes at a time of its own, an RST before any close_notify is
        // an abort.
        let window = CLOSE_PROMPT_NS.saturating_add(p.round_trip_ns.max(0));
        let prompt = connection_end.is_some_and(|e| e.0.saturating_sub(y.ts.0) <= window);
        let first_rst = p.tcp_rst.into_iter().flatten().min();
        let aborted = first_rst.is_some_and(|r| connection_end.is_some_and(|e| r <= e));
        let ended_after = prompt && !aborted;
        // After a client's close the server ends first (RFC 6455 §7.1.1), unless the
        // client's record held a bare code, which a data message rarely is.
        let order_fits = x.side != client
            || payload(first) == Some(2)
            || match (end(client), end(1 - client)) {
                (Some(c), Some(s)) => s <= c,
                (Some(_), None) => false,
                (None, _) => true,
            };
        if echoed && answered_in_time && ended_after && order_fits {
            return Some(InferredClose {
                frame: x,
                answer: Some(y),
            });
        }
    }
    // Unanswered: the very last frame, holding a bare code (or nothing).
    matches!(payload(second), Some(0 | 2)).then(|| InferredClose {
        frame: frames[second],
        answer: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const C: usize = 0;
    const S: usize = 1;
    /// TLS 1.2 ECDHE-RSA-AES128-GCM-SHA256 (overhead 24).
    const GCM12: u16 = 0xc02f;
    /// TLS 1.2 ECDHE-RSA-CHACHA20-POLY1305 (overhead 16).
    const CHACHA12: u16 = 0xcca8;
    /// TLS_AES_256_GCM_SHA384 (overhead 17, Finished 52).
    const AES256_13: u16 = 0x1302;
    /// TLS 1.2 ECDHE-RSA-AES128-CBC-SHA.
    const CBC12: u16 = 0xc013;

    fn ms(v: i64) -> Timestamp {
        Timestamp(v * 1_000_000)
    }

    /// A connection's records from a compact script: (ms, side, kind, plaintext length);
    /// lengths become record lengths with the suite's overhead (and `pad` in TLS 1.3).
    struct Script {
        version: u16,
        cipher: u16,
        pad: [usize; 2],
        log: RecordLog,
    }

    impl Script {
        fn new(version: u16, cipher: u16) -> Script {
            Script::padded(version, cipher, [0, 0])
        }

        /// TLS 1.3 starts with the server's flight and the client's Finished.
        fn padded(version: u16, cipher: u16, pad: [usize; 2]) -> Script {
            let mut s = Script {
                version,
                cipher,
                pad,
                log: RecordLog::default(),
            };
            if version == 0x0304 {
                s.handshake13(0);
            }
            s
        }

        fn overhead(&self) -> usize {
            Suite::from_id(self.cipher).map_or(0, |s| s.record_overhead(self.version == 0x0304))
        }

        fn handshake13(&mut self, t: i64) {
            let fin = 4 + Suite::from_id(self.cipher).map_or(0, |s| s.hash_len());
            for (side, len) in [(S, 6), (S, 846), (S, 264), (S, fin), (C, fin)] {
                self.rec(t, side, RecordKind::Handshake, len);
            }
        }

        fn rec(&mut self, t: i64, side: usize, kind: RecordKind, plaintext: usize) -> &mut Self {
            let len = plaintext + self.overhead() + self.pad[side];
            self.log.push(Record {
                ts: ms(t),
                side,
                kind,
                len,
            });
            self
        }

        fn data(&mut self, t: i64, side: usize, plaintext: usize) -> &mut Self {
            self.rec(t, side, RecordKind::Data, plaintext)
        }

        /// TLS 1.2: a visible alert record; TLS 1.3: a 2-byte encrypted record.
        fn alert(&mut self, t: i64, side: usize) -> &mut Self {
            let kind = if self.version == 0x0304 {
                RecordKind::Data
            } else {
                RecordKind::Alert
            };
            self.rec(t, side, kind, ALERT_LEN)
        }

        fn upgrade(&mut self) -> &mut Self {
            self.data(1, C, 290).data(2, S, 203)
        }

        fn infer(&self, tcp_end: [Option<i64>; 2]) -> Result<Inferred, NotInferred> {
            self.infer_with(tcp_end, false)
        }

        fn infer_with(
            &self,
            tcp_end: [Option<i64>; 2],
            http2: bool,
        ) -> Result<Inferred, NotInferred> {
            self.infer_ends(tcp_end, [None, None], 0, http2)
        }

        /// With each side's first RST and the SYN to SYN-ACK time too (ms).
        fn infer_ends(
            &self,
            tcp_end: [Option<i64>; 2],
            tcp_rst: [Option<i64>; 2],
            round_trip_ms: i64,
            http2: bool,
        ) -> Result<Inferred, NotInferred> {
            infer(
                &Params {
                    version: self.version,
                    cipher: self.cipher,
                    client: C,
                    tcp_end: tcp_end.map(|t| t.map(ms)),
                    tcp_rst: tcp_rst.map(|t| t.map(ms)),
                    round_trip_ns: ms(round_trip_ms).0,
                    http2,
                },
                &self.log,
            )
        }
    }

    fn close_of(r: &Inferred) -> Option<(usize, usize, Option<usize>)> {
        r.close.map(|c| {
            (
                c.frame.side,
                c.frame.plaintext_len,
                c.answer.map(|a| a.plaintext_len),
            )
        })
    }

    #[test]
    fn client_close_with_code_only_answered_by_the_server() {
        let mut s = Script::new(0x0303, GCM12);
        s.upgrade()
            .data(3, C, 15)
            .data(4, S, 11)
            .data(5, C, 8)
            .data(6, S, 4);
        s.alert(7, S).alert(8, C);
        let r = s.infer([Some(9), Some(9)]).unwrap();
        assert!(r.websocket);
        assert_eq!(r.accepted, Some(true));
        assert_eq!(r.request.unwrap().plaintext_len, 290);
        assert_eq!(r.response.unwrap().plaintext_len, 203);
        assert_eq!(close_of(&r), Some((C, 8, Some(4))));
        assert_eq!(r.data_records, [2, 2]);
    }

    #[test]
    fn server_close_with_a_reason_echoed_with_the_mask() {
        // 1011 "internal error": payload 16, server frame 18, client echo 22.
        let mut s = Script::new(0x0303, CHACHA12);
        s.upgrade()
            .data(3, C, 18)
            .data(4, S, 18)
            .data(5, S, 18)
            .data(6, C, 22);
        s.alert(7, S);
        let r = s.infer([Some(8), Some(8)]).unwrap();
        assert_eq!(close_of(&r), Some((S, 18, Some(22))));
    }

    #[test]
    fn server_close_answered_with_a_bare_code() {
        // The JDK answers a server close with its code only (8 bytes), and may FIN first.
        let mut s = Script::new(0x0303, GCM12);
        s.upgrade()
            .data(3, C, 18)
            .data(4, S, 18)
            .data(5, S, 14)
            .data(6, C, 8);
        s.alert(8, S);
        let r = s.infer([Some(7), None]).unwrap();
        assert_eq!(close_of(&r), Some((S, 14, Some(8))));
    }

    #[test]
    fn pings_are_not_closes_unless_last() {
        // Client pings (8) answered by pongs (4), then a data message, then a FIN: no close.
        let mut s = Script::new(0x0303, GCM12);
        s.upgrade();
        for t in 3..6 {
            s.data(t, C, 8).data(t, S, 4);
        }
        s.data(7, C, 20).data(8, S, 30);
        let r = s.infer([None, Some(60)]).unwrap();
        assert_eq!(r.close, None);
        assert!(r.websocket, "small client frames make the WebSocket shape");
        // The same, ended by a close pair: the last pair is the close.
        s.data(9, C, 8).data(10, S, 4);
        let r = s.infer([None, Some(11)]).unwrap();
        assert_eq!(close_of(&r), Some((C, 8, Some(4))));
    }

    #[test]
    fn a_server_dropping_after_its_last_message_is_no_close() {
        let mut s = Script::new(0x0303, GCM12);
        s.upgrade().data(3, C, 20).data(4, S, 20);
        let r = s.infer([None, Some(50)]).unwrap();
        assert_eq!(r.close, None);
        assert_eq!(r.accepted, Some(true));
    }

    #[test]
    fn an_echoed_message_before_the_client_drops_is_no_close() {
        // Payload 3 echoed (9 masked, 5 unmasked) looks like a close with a 1-byte reason,
        // but the client ends first.
        let mut s = Script::new(0x0303, GCM12);
        s.upgrade().data(3, C, 9).data(4, S, 5).alert(5, C);
        let r = s.infer([Some(6), Some(6)]).unwrap();
        assert_eq!(r.close, None);
        // An RST from the client and nothing from the server: no close either.
        let mut s = Script::new(0x0303, GCM12);
        s.upgrade().data(3, C, 9).data(4, S, 5);
        assert_eq!(s.infer([Some(6), None]).unwrap().close, None);
    }

    /// A text message of 8 payload bytes from the client (masked: 14) echoed by the server
    /// (10): the lengths of a close with a 6-byte reason and its echo.
    fn message_echo_at(t: i64) -> Script {
        let mut s = Script::new(0x0304, AES256_13);
        s.upgrade().data(3, C, 14).data(4, S, 10);
        for k in 1..4 {
            s.data(t - 1500 * k, C, 14).data(t - 1500 * k, S, 10);
        }
        s.data(t, C, 14).data(t, S, 10);
        s
    }

    #[test]
    fn a_message_echo_then_an_rst_is_no_close() {
        // The server aborts 170 ms after the echo, without close_notify.
        let s = message_echo_at(6000);
        let r = s.infer_ends([None, Some(6170)], [None, Some(6170)], 0, false);
        assert_eq!(r.unwrap().close, None);
        // An RST before any close_notify is an abort even right after the echo.
        let r = s.infer_ends([None, Some(6000)], [None, Some(6000)], 0, false);
        assert_eq!(r.unwrap().close, None);
    }

    #[test]
    fn a_message_echo_then_a_late_close_notify_is_no_close() {
        // The server closes TCP 600 ms after the echo (close_notify both ways, FINs).
        let mut s = message_echo_at(6000);
        s.alert(6600, S).alert(6601, C);
        let r = s.infer([Some(6601), Some(6600)]).unwrap();
        assert_eq!(r.close, None);
        assert!(r.close_notify[S].is_some() && r.websocket);
    }

    #[test]
    fn a_close_echoed_then_an_immediate_close_notify_and_fin_is_a_close() {
        // The client's close with a 6-byte reason, echoed; the server ends at once.
        let mut s = message_echo_at(6000);
        s.data(7000, C, 14).data(7000, S, 10).alert(7000, S);
        let r = s.infer([Some(7001), Some(7000)]).unwrap();
        assert_eq!(close_of(&r), Some((C, 14, Some(10))));
        // A server close echoed by the client; the server ends as the echo arrives.
        let mut s = message_echo_at(6000);
        s.data(7000, S, 18).data(7001, C, 22).alert(7001, S);
        let r = s.infer([Some(7002), Some(7001)]).unwrap();
        assert_eq!(close_of(&r), Some((S, 18, Some(22))));
        // Captured at the client, 150 ms from the server: the server's end comes a round
        // trip after the echo left, which the SYN to SYN-ACK time allows for.
        let mut s = message_echo_at(6000);
        s.data(7000, S, 18).data(7075, C, 22).alert(7230, S);
        let ends = [Some(7231), Some(7230)];
        let r = s.infer_ends(ends, [None, None], 150, false).unwrap();
        assert_eq!(close_of(&r), Some((S, 18, Some(22))));
        assert_eq!(s.infer(ends).unwrap().close, None);
    }

    #[test]
    fn fragmented_messages_then_close() {
        let mut s = Script::new(0x0303, GCM12);
        s.upgrade();
        for (t, len) in [
            (3, 10),
            (3, 13),
            (3, 11),
            (3, 6),
            (4, 1408),
            (4, 1408),
            (4, 106),
        ] {
            s.data(t, C, len);
        }
        for len in [9, 13, 7, 2] {
            s.data(5, S, len);
        }
        s.data(6, C, 8).data(6, S, 4).alert(7, S);
        let r = s.infer([Some(8), Some(8)]).unwrap();
        assert_eq!(close_of(&r), Some((C, 8, Some(4))));
        assert_eq!(r.data_records, [8, 5]);
    }

    #[test]
    fn unanswered_client_close_is_recognised_by_its_bare_code() {
        // Chromium's close (1000), the server silent for 60 s, then Chromium's FIN.
        let mut s = Script::new(0x0304, AES256_13);
        s.upgrade().data(3, C, 13).data(4, S, 9).data(30, C, 8);
        let r = s.infer([Some(60_030), Some(60_040)]).unwrap();
        assert_eq!(close_of(&r), Some((C, 8, None)));
    }

    #[test]
    fn tls13_tickets_and_close_notify() {
        let mut s = Script::new(0x0304, AES256_13);
        s.data(1, S, 233).data(1, S, 233); // NewSessionTickets
        s.upgrade()
            .data(3, C, 15)
            .data(4, S, 11)
            .data(5, C, 8)
            .data(5, S, 4);
        s.alert(6, S).alert(6, C);
        let r = s.infer([Some(7), Some(7)]).unwrap();
        assert_eq!(r.tickets, 2);
        assert_eq!(r.response.unwrap().plaintext_len, 203);
        assert_eq!(close_of(&r), Some((C, 8, Some(4))));
        assert_eq!(r.close_notify[S].unwrap().ts, ms(6));
        assert!(r.close_notify[C].is_some());
        assert_eq!(r.data_records, [2, 2]);
    }

    #[test]
    fn tls13_ticket_after_the_request() {
        // Chromium sends its Finished and the request together: the ticket follows the
        // request and precedes the response.
        let mut s = Script::new(0x0304, AES256_13);
        s.data(1, C, 532)
            .data(2, S, 249)
            .data(2, S, 249)
            .data(3, S, 303);
        s.data(4, C, 20)
            .data(5, S, 20)
            .data(6, S, 18)
            .data(7, C, 22)
            .alert(8, S);
        let r = s.infer([Some(9), Some(9)]).unwrap();
        assert_eq!(r.tickets, 2);
        assert_eq!(r.response.unwrap().plaintext_len, 303);
        assert_eq!(close_of(&r), Some((S, 18, Some(22))));
    }

    #[test]
    fn tls13_padding_is_measured_on_the_finished() {
        // The JDK pads its records by 16 bytes; the server does not.
        let mut s = Script::padded(0x0304, AES256_13, [16, 0]);
        s.data(1, S, 233).data(2, C, 254).data(3, S, 203);
        s.data(4, C, 13)
            .data(5, S, 9)
            .data(6, C, 8)
            .data(6, S, 4)
            .alert(7, S);
        let r = s.infer([Some(8), Some(8)]).unwrap();
        assert_eq!(close_of(&r), Some((C, 8, Some(4))));
        assert_eq!(r.request.unwrap().plaintext_len, 254);
    }

    #[test]
    fn rejected_upgrade_ends_right_after_the_response() {
        let mut s = Script::new(0x0304, AES256_13);
        s.data(1, C, 249)
            .data(1, S, 233)
            .data(2, S, 212)
            .alert(2, S);
        let r = s.infer([Some(3), Some(3)]).unwrap();
        assert_eq!(r.accepted, Some(false));
        assert_eq!(r.response.unwrap().plaintext_len, 212);
        assert!(!r.websocket);
        // Answered, then silent for longer than the window: cannot tell.
        let mut s = Script::new(0x0303, GCM12);
        s.upgrade();
        assert_eq!(s.infer([None, Some(5_000)]).unwrap().accepted, None);
    }

    #[test]
    fn https_requests_are_not_websocket() {
        let mut s = Script::new(0x0303, GCM12);
        for t in 0..5 {
            s.data(t * 10, C, 1000 + t as usize)
                .data(t * 10 + 1, S, 116);
        }
        s.alert(60, S);
        let r = s.infer([Some(61), Some(62)]).unwrap();
        assert!(!r.websocket);
        assert!(r.http_like);
        assert_eq!(r.close, None);
        // HTTP/2 offered or chosen: small records are HTTP/2 frames, not WebSocket ones.
        let mut s = Script::new(0x0304, AES256_13);
        s.upgrade()
            .data(3, C, 15)
            .data(4, S, 11)
            .data(5, C, 8)
            .data(6, S, 4);
        assert!(s.infer([Some(7), Some(7)]).unwrap().websocket);
        let r = s.infer_with([Some(7), Some(7)], true).unwrap();
        assert!(!r.websocket && r.http_like);
    }

    #[test]
    fn cbc_and_lost_records_are_not_inferred() {
        let mut s = Script::new(0x0303, CBC12);
        s.data(1, C, 290);
        assert_eq!(s.infer([None, None]), Err(NotInferred::Cipher));
        let mut s = Script::new(0x0303, GCM12);
        s.upgrade().data(3, C, 8);
        s.log.lost();
        assert_eq!(s.infer([None, None]), Err(NotInferred::RecordsLost));
    }

    #[test]
    fn a_long_connection_keeps_its_start_and_end() {
        let mut s = Script::new(0x0303, GCM12);
        s.upgrade();
        for t in 0..1000 {
            s.data(3 + t, C, 40).data(3 + t, S, 40);
        }
        s.data(2000, C, 8).data(2001, S, 4).alert(2002, S);
        let r = s.infer([Some(2003), Some(2003)]).unwrap();
        assert_eq!(close_of(&r), Some((C, 8, Some(4))));
        assert_eq!(r.data_records, [1001, 1001]);
        assert!(r.websocket);
    }
}
