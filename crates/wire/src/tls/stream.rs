//! One TLS connection, both directions: the handshake in clear, alerts, and — with the
//! session's secrets from the key log — the decrypted application data, handed on as a
//! plaintext stream to the WebSocket decoder.
//!
//! Directions are the connection's side indices (0: the first sender, 1: the other); the
//! client is the side that sent the ClientHello.

use super::crypto::{RecordKeys, Suite};
use super::handshake::{parse_client_hello, parse_server_hello, ClientHello, ServerHello};
use super::infer::{infer, Inferred, NotInferred, Params, Record, RecordKind, RecordLog};
use super::keylog::KeyLog;
use super::record::{RecordEvent, RecordReader, ALERT, APPLICATION_DATA, CHANGE_CIPHER_SPEC};
use super::record::{HANDSHAKE, HEADER_LEN};
use super::{version_name, TlsSummary};
use crate::diag::WarningKind;
use crate::tcp::Delivery;
use crate::time::Timestamp;
use std::sync::Arc;

/// Clear handshake bytes buffered per direction to read the first message (a ClientHello
/// with many extensions fits; a larger one is not read).
const MAX_HELLO: usize = 1 << 16;
/// Decrypted TLS 1.3 handshake bytes buffered per direction (EncryptedExtensions,
/// Certificate ... Finished); beyond it the rest of the handshake is skipped unread.
const MAX_INNER_HANDSHAKE: usize = 1 << 17;
/// After the framing was lost, sequence numbers tried to open the next record.
const SEQ_WINDOW: u64 = 256;
/// An encrypted TLS 1.3 alert: 2 bytes, the inner content type, a 16-byte tag (no padding).
const TLS13_ALERT_RECORD: usize = 19;
/// TLS 1.3's version code (RFC 8446 §4.2.1).
const TLS13: u16 = 0x0304;

/// What happened at the TLS level, in one direction (the direction of the delivery that
/// produced it).
#[derive(Clone, Debug, PartialEq)]
pub enum TlsEvent {
    /// The ClientHello.
    ClientHello {
        /// When.
        ts: Timestamp,
        /// The server name asked for.
        sni: Option<String>,
    },
    /// The ServerHello.
    ServerHello {
        /// When.
        ts: Timestamp,
        /// The negotiated version (`TLS 1.3`, ...).
        version: String,
        /// The cipher suite's IANA name.
        cipher: String,
    },
    /// The handshake finished (the last Finished of it was sent).
    HandshakeDone {
        /// When.
        ts: Timestamp,
        /// Whether the key log held this session's secrets.
        keys: bool,
    },
    /// An alert: level and description when readable, `None` when encrypted.
    Alert {
        /// When.
        ts: Timestamp,
        /// Level (1 warning, 2 fatal) and description.
        alert: Option<(u8, u8)>,
    },
    /// Something to warn about on this connection.
    Warning {
        /// Category.
        kind: WarningKind,
        /// What happened.
        message: String,
    },
}

/// TLS facts the verdict needs, by side index.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsOutcome {
    /// The handshake finished.
    pub handshake_done: bool,
    /// Application data was decrypted.
    pub decrypted: bool,
    /// The first alert before the handshake finished: time and sending side.
    pub failure: Option<(Timestamp, usize)>,
    /// Per side, the first alert after the handshake (close_notify, or an encrypted alert
    /// record): the sender's TLS ends there, as its TCP ends with a FIN.
    pub closed: [Option<Timestamp>; 2],
    /// Per side, the last application data record.
    pub last_application_data: [Option<Timestamp>; 2],
    /// The side that sent the ClientHello.
    pub client: Option<usize>,
}

#[derive(Default)]
struct Direction {
    reader: RecordReader,
    hello: Vec<u8>,
    hello_read: bool,
    /// TLS 1.2: ChangeCipherSpec sent; later records are encrypted.
    ccs: bool,
    /// Its Finished (TLS 1.2: first encrypted handshake record; TLS 1.3 client: its first
    /// encrypted handshake record).
    finished: Option<Timestamp>,
    keys: Option<RecordKeys>,
    /// TLS 1.3: the application keys, used once this direction's Finished went by.
    next_keys: Option<RecordKeys>,
    seq: u64,
    /// The framing was lost: the next record's sequence number is searched for.
    seq_unknown: bool,
    inner: Vec<u8>,
    inner_overflow: bool,
    last_app: Option<Timestamp>,
    closed: Option<Timestamp>,
    opened: u64,
    unopened: u64,
}

/// Tracks one TLS connection.
pub struct TlsConnection {
    keylog: Option<Arc<KeyLog>>,
    dirs: [Direction; 2],
    client: Option<usize>,
    client_hello: Option<ClientHello>,
    server_hello: Option<ServerHello>,
    client_hello_ts: Option<Timestamp>,
    done: Option<Timestamp>,
    failure: Option<(Timestamp, usize)>,
    keys_found: bool,
    alpn: Option<String>,
    /// The records that did not open, for [`TlsConnection::infer`].
    records: RecordLog,
}

impl TlsConnection {
    /// Starts on a direction whose first byte said TLS.
    pub fn new(keylog: Option<Arc<KeyLog>>) -> TlsConnection {
        TlsConnection {
            keylog,
            dirs: Default::default(),
            client: None,
            client_hello: None,
            server_hello: None,
            client_hello_ts: None,
            done: None,
            failure: None,
            keys_found: false,
            alpn: None,
            records: RecordLog::default(),
        }
    }

    fn tls13(&self) -> bool {
        self.server_hello
            .as_ref()
            .is_some_and(|s| s.version == TLS13)
    }

    /// Reads one delivery of side `d`: TLS events go to `events`, decrypted application
    /// data (and the holes in it) to `plain`.
    pub fn deliver(
        &mut self,
        d: usize,
        delivery: Delivery<'_>,
        events: &mut Vec<TlsEvent>,
        plain: &mut dyn FnMut(Delivery<'_>),
    ) {
        let mut reader = std::mem::take(&mut self.dirs[d].reader);
        let mut on = |e: RecordEvent<'_>| self.on_record_event(d, e, events, plain);
        match delivery {
            Delivery::Data { ts, bytes } => reader.feed(ts, bytes, &mut on),
            Delivery::Gap { ts, len } => reader.gap(ts, len, &mut on),
        }
        self.dirs[d].reader = reader;
    }

    fn on_record_event(
        &mut self,
        d: usize,
        e: RecordEvent<'_>,
        events: &mut Vec<TlsEvent>,
        plain: &mut dyn FnMut(Delivery<'_>),
    ) {
        match e {
            RecordEvent::Record { ts, header, body } => {
                self.on_record(d, ts, &header, body, events, plain)
            }
            RecordEvent::RecordLost { ts, body_len } => {
                self.records.lost();
                let dir = &mut self.dirs[d];
                dir.seq += 1;
                if let Some(keys) = &dir.keys {
                    plain(Delivery::Gap {
                        ts,
                        len: keys.plaintext_len(body_len) as u64,
                    });
                }
            }
            RecordEvent::FramingLost { .. } => {
                self.records.lost();
                self.dirs[d].seq_unknown = true;
                events.push(TlsEvent::Warning {
                    kind: WarningKind::TlsRecords,
                    message: "TLS record framing lost, resynchronising".into(),
                });
            }
            RecordEvent::Resynced { ts, skipped } => {
                if self.dirs[d].keys.is_some() {
                    plain(Delivery::Gap { ts, len: skipped });
                }
                events.push(TlsEvent::Warning {
                    kind: WarningKind::TlsRecords,
                    message: format!("TLS records found again after {skipped} bytes"),
                });
            }
            RecordEvent::GaveUp { .. } => events.push(TlsEvent::Warning {
                kind: WarningKind::TlsRecords,
                message: "no TLS record found after a gap; the rest of this direction is not read"
                    .into(),
            }),
        }
    }

    fn on_record(
        &mut self,
        d: usize,
        ts: Timestamp,
        header: &[u8; HEADER_LEN],
        body: &[u8],
        events: &mut Vec<TlsEvent>,
        plain: &mut dyn FnMut(Delivery<'_>),
    ) {
        let content_type = header[0];
        let encrypted = self.dirs[d].ccs
            || (self.tls13() && content_type == APPLICATION_DATA)
            || (self.done.is_some() && content_type == APPLICATION_DATA);
        if !encrypted {
            match content_type {
                HANDSHAKE => self.on_clear_handshake(d, ts, body, events),
                // RFC 8446 §5: a TLS 1.3 ChangeCipherSpec is only for middleboxes.
                CHANGE_CIPHER_SPEC if !self.tls13() => {
                    self.dirs[d].ccs = true;
                    self.dirs[d].seq = 0;
                }
                ALERT if body.len() == 2 => self.on_alert(d, ts, Some((body[0], body[1])), events),
                _ => {}
            }
            return;
        }
        match self.open(d, header, body) {
            Some(opened) => match opened.content_type {
                APPLICATION_DATA => {
                    self.dirs[d].last_app = Some(ts);
                    plain(Delivery::Data {
                        ts,
                        bytes: &opened.data,
                    });
                }
                ALERT if opened.data.len() >= 2 => {
                    self.on_alert(d, ts, Some((opened.data[0], opened.data[1])), events)
                }
                HANDSHAKE => self.on_inner_handshake(d, ts, &opened.data, events),
                _ => {}
            },
            None => self.on_unopened(d, ts, content_type, body.len(), events),
        }
    }

    /// An encrypted record without keys: its kind as far as position and type tell, kept
    /// for [`TlsConnection::infer`].
    fn on_unopened(
        &mut self,
        d: usize,
        ts: Timestamp,
        content_type: u8,
        len: usize,
        events: &mut Vec<TlsEvent>,
    ) {
        let kind = match content_type {
            ALERT => Some(RecordKind::Alert),
            APPLICATION_DATA if self.done.is_some() => Some(RecordKind::Data),
            APPLICATION_DATA if self.tls13() => Some(RecordKind::Handshake),
            _ => None,
        };
        if let Some(kind) = kind {
            self.records.push(Record {
                ts,
                side: d,
                kind,
                len,
            });
        }
        match content_type {
            ALERT => self.on_alert(d, ts, None, events),
            // TLS 1.2: the first encrypted handshake record is the Finished.
            HANDSHAKE if !self.tls13() => self.on_finished(d, ts, events),
            APPLICATION_DATA
                if self.tls13() && self.is_client(d) && self.dirs[d].finished.is_none() =>
            {
                // Without keys, the client's first encrypted record is its Finished,
                // unless it has exactly the size of an alert.
                if len == TLS13_ALERT_RECORD {
                    self.on_alert(d, ts, None, events);
                } else {
                    self.on_finished(d, ts, events);
                }
            }
            APPLICATION_DATA if self.done.is_some() => self.dirs[d].last_app = Some(ts),
            _ => {}
        }
    }

    fn is_client(&self, d: usize) -> bool {
        self.client == Some(d)
    }

    fn on_clear_handshake(
        &mut self,
        d: usize,
        ts: Timestamp,
        body: &[u8],
        events: &mut Vec<TlsEvent>,
    ) {
        let dir = &mut self.dirs[d];
        if dir.hello_read || dir.hello.len() + body.len() > MAX_HELLO {
            return;
        }
        dir.hello.extend_from_slice(body);
        let msg_len = match dir.hello.get(..4) {
            Some(h) => 4 + (usize::from(h[1]) << 16 | usize::from(h[2]) << 8 | usize::from(h[3])),
            None => return,
        };
        if dir.hello.len() < msg_len {
            return;
        }
        let msg = std::mem::take(&mut dir.hello);
        dir.hello_read = true;
        let msg = &msg[..msg_len];
        if let Some(ch) = parse_client_hello(msg) {
            if self.client.is_none() {
                self.client = Some(d);
                self.client_hello_ts = Some(ts);
                events.push(TlsEvent::ClientHello {
                    ts,
                    sni: ch.sni.clone(),
                });
                self.client_hello = Some(ch);
            }
        } else if let Some(sh) = parse_server_hello(msg) {
            if sh.retry {
                // RFC 8446 §4.1.4: a HelloRetryRequest; the real ServerHello follows.
                self.dirs[d].hello_read = false;
                return;
            }
            self.client.get_or_insert(1 - d);
            events.push(TlsEvent::ServerHello {
                ts,
                version: version_name(sh.version),
                cipher: super::cipher_name(sh.cipher),
            });
            if sh.alpn.is_some() {
                self.alpn = sh.alpn.clone();
            }
            self.server_hello = Some(sh);
            self.install_keys(d, events);
        }
    }

    /// Looks the session up in the key log and derives both directions' keys; `server` is
    /// the side that sent the ServerHello.
    fn install_keys(&mut self, server: usize, events: &mut Vec<TlsEvent>) {
        let (Some(keylog), Some(ch), Some(sh)) =
            (&self.keylog, &self.client_hello, &self.server_hello)
        else {
            return;
        };
        let Some(secrets) = keylog.get(&ch.random) else {
            return;
        };
        let Some(suite) = Suite::from_id(sh.cipher) else {
            events.push(TlsEvent::Warning {
                kind: WarningKind::TlsKeys,
                message: format!(
                    "cipher suite {} is not decrypted (AES-GCM and ChaCha20-Poly1305 only)",
                    super::cipher_name(sh.cipher)
                ),
            });
            return;
        };
        let client = 1 - server;
        if sh.version == TLS13 {
            let k = |s: &Option<Vec<u8>>| s.as_deref().and_then(|s| RecordKeys::tls13(suite, s));
            let (ch_keys, sh_keys) = (k(&secrets.client_handshake), k(&secrets.server_handshake));
            let (ca, sa) = (k(&secrets.client_traffic), k(&secrets.server_traffic));
            self.keys_found = ch_keys.is_some() || ca.is_some();
            for (side, hs, app) in [(client, ch_keys, ca), (server, sh_keys, sa)] {
                let dir = &mut self.dirs[side];
                // Without handshake secrets, the application keys are tried from the start.
                (dir.keys, dir.next_keys) = match (hs, app) {
                    (Some(h), a) => (Some(h), a),
                    (None, a) => (a, None),
                };
            }
        } else if let Some(master) = &secrets.master {
            if let Some((c, s)) = RecordKeys::tls12(suite, master, &ch.random, &sh.random) {
                self.dirs[client].keys = Some(c);
                self.dirs[server].keys = Some(s);
                self.keys_found = true;
            }
        }
    }

    /// Opens an encrypted record with this direction's keys, moving to the application
    /// keys when the handshake keys do not open it.
    fn open(
        &mut self,
        d: usize,
        header: &[u8; HEADER_LEN],
        body: &[u8],
    ) -> Option<super::crypto::Opened> {
        let dir = &mut self.dirs[d];
        let keys = dir.keys.as_ref()?;
        let tries = if dir.seq_unknown { SEQ_WINDOW } else { 1 };
        for k in 0..tries {
            if let Some(o) = keys.open(dir.seq + k, header, body) {
                dir.seq += k + 1;
                dir.seq_unknown = false;
                dir.opened += 1;
                return Some(o);
            }
        }
        if let Some(next) = &dir.next_keys {
            if let Some(o) = next.open(0, header, body) {
                dir.keys = dir.next_keys.take();
                dir.seq = 1;
                dir.seq_unknown = false;
                dir.opened += 1;
                return Some(o);
            }
        }
        dir.unopened += 1;
        None
    }

    fn on_inner_handshake(
        &mut self,
        d: usize,
        ts: Timestamp,
        data: &[u8],
        events: &mut Vec<TlsEvent>,
    ) {
        if !self.tls13() {
            // TLS 1.2: the only encrypted handshake message is the Finished.
            self.on_finished(d, ts, events);
            return;
        }
        let dir = &mut self.dirs[d];
        if dir.inner_overflow || dir.inner.len() + data.len() > MAX_INNER_HANDSHAKE {
            dir.inner_overflow = true;
            dir.inner.clear();
            return;
        }
        dir.inner.extend_from_slice(data);
        let mut pos = 0;
        let mut finished = false;
        while let Some(h) = dir.inner.get(pos..pos + 4) {
            let len = usize::from(h[1]) << 16 | usize::from(h[2]) << 8 | usize::from(h[3]);
            let Some(msg) = dir.inner.get(pos..pos + 4 + len) else {
                break;
            };
            match msg[0] {
                // EncryptedExtensions (RFC 8446 §4.3.1) hold the negotiated ALPN.
                8 => {
                    if let Some(alpn) = super::handshake::alpn_of_encrypted_extensions(msg) {
                        self.alpn = Some(alpn);
                    }
                }
                20 => finished = true,
                _ => {}
            }
            pos += 4 + len;
        }
        dir.inner.drain(..pos);
        if finished && dir.finished.is_none() {
            // RFC 8446 §7.2: this direction's application keys start after its Finished.
            if let Some(next) = dir.next_keys.take() {
                dir.keys = Some(next);
                dir.seq = 0;
            }
            self.on_finished(d, ts, events);
        }
    }

    fn on_finished(&mut self, d: usize, ts: Timestamp, events: &mut Vec<TlsEvent>) {
        self.dirs[d].finished.get_or_insert(ts);
        if self.done.is_some() || self.failure.is_some() {
            return;
        }
        // TLS 1.2: done when both Finished went by; TLS 1.3: when the client's did.
        let done = if self.tls13() {
            self.is_client(d)
        } else {
            self.dirs.iter().all(|x| x.finished.is_some())
        };
        if done {
            self.done = Some(ts);
            events.push(TlsEvent::HandshakeDone {
                ts,
                keys: self.keys_found,
            });
        }
    }

    fn on_alert(
        &mut self,
        d: usize,
        ts: Timestamp,
        alert: Option<(u8, u8)>,
        events: &mut Vec<TlsEvent>,
    ) {
        events.push(TlsEvent::Alert { ts, alert });
        if self.done.is_none() {
            self.failure.get_or_insert((ts, d));
        } else {
            self.dirs[d].closed.get_or_insert(ts);
        }
    }

    /// The facts for the verdict.
    pub fn outcome(&self) -> TlsOutcome {
        TlsOutcome {
            handshake_done: self.done.is_some(),
            decrypted: self.dirs.iter().any(|d| d.opened > 0) && self.keys_found,
            failure: self.failure,
            closed: [self.dirs[0].closed, self.dirs[1].closed],
            last_application_data: [self.dirs[0].last_app, self.dirs[1].last_app],
            client: self.client,
        }
    }

    /// The WebSocket layer inferred from the records that did not open ([`super::infer`]),
    /// once the handshake finished; `tcp_end` is each side's first FIN or RST, `tcp_rst`
    /// its first RST, `round_trip_ns` SYN to SYN-ACK ([`Params::round_trip_ns`]).
    pub fn infer(
        &self,
        tcp_end: [Option<Timestamp>; 2],
        tcp_rst: [Option<Timestamp>; 2],
        round_trip_ns: i64,
    ) -> Option<Result<Inferred, NotInferred>> {
        let sh = self.server_hello.as_ref()?;
        self.done?;
        let params = Params {
            version: sh.version,
            cipher: sh.cipher,
            client: self.client?,
            tcp_end,
            tcp_rst,
            round_trip_ns,
            http2: [
                self.client_hello.as_ref().and_then(|c| c.alpn.as_deref()),
                self.alpn.as_deref(),
            ]
            .contains(&Some("h2")),
        };
        Some(infer(&params, &self.records))
    }

    /// Records that did not open with the logged keys, both directions.
    pub fn unopened_records(&self) -> u64 {
        if self.keys_found {
            self.dirs.iter().map(|d| d.unopened).sum()
        } else {
            0
        }
    }

    /// The session's TLS facts for the sessions table.
    pub fn summary(&self) -> TlsSummary {
        let sh = self.server_hello.as_ref();
        TlsSummary {
            version: sh.map(|s| version_name(s.version)),
            cipher: sh.map(|s| super::cipher_name(s.cipher)),
            sni: self.client_hello.as_ref().and_then(|c| c.sni.clone()),
            alpn: self.alpn.clone(),
            handshake_ms: match (self.client_hello_ts, self.done) {
                (Some(a), Some(b)) => Some(b.millis_since(a)),
                _ => None,
            },
            keys_found: self.keys_found,
            decrypted: self.outcome().decrypted,
            unopened_records: self.unopened_records(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(content_type: u8, body: &[u8]) -> Vec<u8> {
        let mut r = vec![content_type, 3, 3];
        r.extend_from_slice(&(body.len() as u16).to_be_bytes());
        r.extend_from_slice(body);
        r
    }

    fn deliver(t: &mut TlsConnection, d: usize, ts: i64, bytes: &[u8]) -> Vec<TlsEvent> {
        let mut events = Vec::new();
        let data = Delivery::Data {
            ts: Timestamp(ts),
            bytes,
        };
        t.deliver(d, data, &mut events, &mut |_| {
            panic!("no plaintext without keys")
        });
        events
    }

    #[test]
    fn a_fatal_alert_in_clear_fails_the_handshake_and_names_its_sender() {
        let mut t = TlsConnection::new(None);
        let hello = record(HANDSHAKE, &super::super::handshake::client_hello("a.test"));
        // The ClientHello split over two segments: its time is its first byte's.
        assert!(deliver(&mut t, 0, 1, &hello[..7]).is_empty());
        let ev = deliver(&mut t, 0, 2, &hello[7..]);
        assert_eq!(
            ev,
            [TlsEvent::ClientHello {
                ts: Timestamp(1),
                sni: Some("a.test".into())
            }]
        );
        // protocol_version (70), fatal (2), from the server.
        let ev = deliver(&mut t, 1, 3, &record(ALERT, &[2, 70]));
        assert_eq!(
            ev,
            [TlsEvent::Alert {
                ts: Timestamp(3),
                alert: Some((2, 70))
            }]
        );
        let o = t.outcome();
        assert_eq!(o.client, Some(0));
        assert!(!o.handshake_done && !o.decrypted);
        assert_eq!(o.failure, Some((Timestamp(3), 1)));
        assert_eq!(t.summary().sni.as_deref(), Some("a.test"));
    }

    #[test]
    fn tls12_encrypted_alert_after_the_handshake_closes_its_sender() {
        let mut t = TlsConnection::new(None);
        deliver(
            &mut t,
            0,
            1,
            &record(HANDSHAKE, &super::super::handshake::client_hello("x")),
        );
        for (d, ts) in [(0, 2), (1, 3)] {
            deliver(&mut t, d, ts, &record(CHANGE_CIPHER_SPEC, &[1]));
            deliver(&mut t, d, ts, &record(HANDSHAKE, &[0; 40]));
        }
        assert!(t.outcome().handshake_done);
        deliver(&mut t, 1, 4, &record(APPLICATION_DATA, &[0; 30]));
        let ev = deliver(&mut t, 1, 5, &record(ALERT, &[0; 26]));
        assert_eq!(
            ev,
            [TlsEvent::Alert {
                ts: Timestamp(5),
                alert: None
            }]
        );
        let o = t.outcome();
        assert_eq!(o.closed, [None, Some(Timestamp(5))]);
        assert_eq!(o.last_application_data, [None, Some(Timestamp(4))]);
        assert_eq!(o.failure, None);
    }
}
