//! Who started the teardown, and how: the verdict rules, in one place.
//!
//! The rules (RFC 6455 §7; README, "Verdicts"):
//! - The first teardown event on the wire decides. A close frame first means a close by its
//!   sender, clean for 1000, 1001 or an empty close frame, an error otherwise, whatever TCP
//!   does afterwards (an RST after a close handshake is normal). A FIN or RST first, with no
//!   close frame before it in either direction, is that side's FIN/RST "no close".
//! - A handshake answered with any status but 101 is rejected, whoever closes TCP after it.
//! - The client-observed code follows RFC 6455 §7.1.5: the code of the first close frame the
//!   client received (1005 when it had none), or 1006 when the client's TCP connection ended
//!   first, even if the client had sent a close frame that was never answered; a client's FIN
//!   after its own close frame ends it (it gave up waiting, as browsers do). A client whose
//!   WebSocket never opened (refused, unanswered, rejected) also sees 1006, as browsers report.
//! - TLS (`wss://`): a handshake that did not finish is `tls_handshake_failed`, started by
//!   the first alert before it finished, else by the first FIN or RST, and its client
//!   observed 1006 (the WebSocket never opened). A session whose
//!   application data could not be decrypted gets the first end of its connection and
//!   nothing it cannot see: `{client,server}_{fin,rst}_encrypted`, with no client-observed
//!   code. A TLS alert after the handshake (close_notify, or TLS 1.2's encrypted alert
//!   record) ends its sender's TLS as a FIN ends its TCP (RFC 8446 §6.1), so it counts as
//!   that side's FIN, with or without keys.
//! - TLS without keys, AEAD suite: the WebSocket layer is inferred from record lengths
//!   (`teardown_wire::tls::infer`) and the rules above apply to it, with two differences:
//!   a close frame's code is unreadable, so a close first is `client_close_encrypted` or
//!   `server_close_encrypted` and the client-observed code of a close it received is
//!   unknown; a rejected upgrade's status is unknown.

use super::Direction;
use serde::Serialize;
use std::fmt;
use teardown_wire::time::Timestamp;

/// The verdict of a session. The names are the exact strings of the CSV and JSON output.
#[derive(
    Copy,
    Clone,
    Debug,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    strum::IntoStaticStr,
    strum::EnumIter,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Verdict {
    /// Client sent the first close frame, with 1000, 1001 or no code.
    CleanCloseClient,
    /// Server sent the first close frame, with 1000, 1001 or no code.
    CleanCloseServer,
    /// Client sent the first close frame, with another code.
    ClientCloseError,
    /// Server sent the first close frame, with another code.
    ServerCloseError,
    /// Server reset TCP with no close frame before it (the client sees 1006).
    ServerRstNoClose,
    /// Server closed TCP (FIN) with no close frame before it (the client sees 1006).
    ServerFinNoClose,
    /// Client reset TCP with no close frame before it.
    ClientRstNoClose,
    /// Client closed TCP (FIN) with no close frame before it.
    ClientFinNoClose,
    /// The upgrade was answered with an HTTP status other than 101.
    HandshakeRejected,
    /// TCP ended before any answer to the upgrade.
    HandshakeNoResponse,
    /// The SYN was answered by RST.
    ConnectRefused,
    /// The SYN was never answered.
    SynUnanswered,
    /// No teardown before the capture ended.
    OpenAtCaptureEnd,
    /// TLS without keys: the server reset TCP first; the frames were not readable.
    ServerRstEncrypted,
    /// TLS without keys: the server closed (FIN or TLS alert) first.
    ServerFinEncrypted,
    /// TLS without keys: the client reset TCP first.
    ClientRstEncrypted,
    /// TLS without keys: the client closed (FIN or TLS alert) first.
    ClientFinEncrypted,
    /// The TLS handshake did not finish (an alert, or TCP ended during it).
    TlsHandshakeFailed,
    /// TLS without keys, inferred from record lengths: the client sent the first close
    /// frame (its code is unreadable).
    ClientCloseEncrypted,
    /// TLS without keys, inferred from record lengths: the server sent the first close
    /// frame (its code is unreadable: 1001 and 1013 look alike).
    ServerCloseEncrypted,
}

impl Verdict {
    /// Every verdict, in declaration order (the order of summaries and legends). Derived
    /// from the enum, so a new variant cannot be left out.
    pub fn all() -> impl Iterator<Item = Verdict> {
        <Verdict as strum::IntoEnumIterator>::iter()
    }

    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// Abnormal: everything but a clean close, a client's close whose code is unreadable,
    /// and a session still open. A server's close with an unreadable code is abnormal: it
    /// is a server-initiated teardown, and may be 1011 or 1013 as well as 1001.
    pub fn is_abnormal(self) -> bool {
        !matches!(
            self,
            Verdict::CleanCloseClient
                | Verdict::CleanCloseServer
                | Verdict::ClientCloseEncrypted
                | Verdict::OpenAtCaptureEnd
        )
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who started the teardown.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Initiator {
    /// The client.
    Client,
    /// The server.
    Server,
    /// Nobody (still open, or never answered).
    None,
}

impl Initiator {
    /// `client`, `server` or `none`.
    pub fn as_str(self) -> &'static str {
        match self {
            Initiator::Client => "client",
            Initiator::Server => "server",
            Initiator::None => "none",
        }
    }
}

/// What kind of event started the teardown (to mark it on the timeline).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum StartKind {
    /// A close frame.
    Close,
    /// A FIN.
    Fin,
    /// An RST.
    Rst,
    /// The HTTP response to the upgrade.
    Response,
    /// A TLS alert.
    Alert,
}

/// The teardown-relevant facts of one connection, by direction (index 0 is client to
/// server, 1 is server to client).
#[derive(Clone, Debug, Default)]
pub struct Facts {
    /// The client's SYN was captured.
    pub syn_seen: bool,
    /// The server's SYN-ACK was captured.
    pub synack_seen: bool,
    /// The server sent any payload.
    pub server_sent_data: bool,
    /// The answer to the upgrade.
    pub response: Option<Answer>,
    /// WebSocket frames were decoded (for connections joined mid-stream).
    pub frames_seen: bool,
    /// Payload bytes are missing from the capture (snaplen, capture loss), so a response
    /// or frames may have gone unseen.
    pub payload_incomplete: bool,
    /// First close frame per direction: time and code.
    pub first_close: [Option<(Timestamp, Option<u16>)>; 2],
    /// First FIN per direction.
    pub first_fin: [Option<Timestamp>; 2],
    /// First RST per direction.
    pub first_rst: [Option<Timestamp>; 2],
    /// What TLS showed, for a connection that carried TLS.
    pub tls: Option<TlsFacts>,
}

/// The server's answer to the upgrade request.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    /// When.
    pub ts: Timestamp,
    /// The HTTP status; `None` when inferred from record lengths.
    pub status: Option<u16>,
    /// The WebSocket opened (101, or frames followed an inferred answer).
    pub accepted: bool,
}

impl Answer {
    /// An HTTP response read from the wire.
    pub fn http(status: u16, ts: Timestamp) -> Answer {
        Answer {
            ts,
            status: Some(status),
            accepted: status == 101,
        }
    }
}

/// The teardown-relevant TLS facts, by direction like [`Facts`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsFacts {
    /// The handshake finished.
    pub handshake_done: bool,
    /// Application data was decrypted: the WebSocket rules apply.
    pub decrypted: bool,
    /// The first alert before the handshake finished, and its direction.
    pub failure: Option<(Timestamp, usize)>,
    /// First alert after the handshake per direction (the sender's TLS ends there).
    pub alert_close: [Option<Timestamp>; 2],
    /// The WebSocket layer (answer, close frames) was inferred from record lengths: the
    /// rules apply, but close codes are unreadable.
    pub inferred: bool,
}

/// The outcome for one session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    /// The verdict.
    pub verdict: Verdict,
    /// Who started the teardown.
    pub initiator: Initiator,
    /// The event that started it: time, direction and kind.
    pub start: Option<(Timestamp, Direction, StartKind)>,
    /// What the client's WebSocket API reports.
    pub client_observed_code: Option<u16>,
}

fn dir(i: usize) -> Direction {
    if i == 0 {
        Direction::ClientToServer
    } else {
        Direction::ServerToClient
    }
}

/// Applies the rules in this module's documentation.
pub fn decide(f: &Facts) -> Decision {
    let established = f.synack_seen || f.server_sent_data || f.response.is_some() || f.frames_seen;
    // The first TCP ending, any side: FIN before RST on equal times (a FIN+RST pair).
    let alert_close = f.tls.as_ref().map(|t| t.alert_close).unwrap_or_default();
    let tcp_end: Option<(Timestamp, usize, StartKind)> = [
        f.first_fin[0].map(|t| (t, 0, StartKind::Fin)),
        f.first_fin[1].map(|t| (t, 1, StartKind::Fin)),
        f.first_rst[0].map(|t| (t, 0, StartKind::Rst)),
        f.first_rst[1].map(|t| (t, 1, StartKind::Rst)),
        alert_close[0].map(|t| (t, 0, StartKind::Alert)),
        alert_close[1].map(|t| (t, 1, StartKind::Alert)),
    ]
    .into_iter()
    .flatten()
    .min_by_key(|(t, i, k)| (*t, *k as u8, *i));

    if f.syn_seen && !established {
        return match f.first_rst[1] {
            Some(t) => Decision {
                verdict: Verdict::ConnectRefused,
                initiator: Initiator::Server,
                start: Some((t, Direction::ServerToClient, StartKind::Rst)),
                client_observed_code: Some(1006),
            },
            None => Decision {
                verdict: Verdict::SynUnanswered,
                initiator: Initiator::None,
                start: None,
                client_observed_code: Some(1006),
            },
        };
    }
    if let Some(tls) = f
        .tls
        .as_ref()
        .filter(|t| !t.handshake_done || !(t.decrypted || t.inferred))
    {
        return tls_decision(tls, tcp_end);
    }
    let inferred = f.tls.as_ref().is_some_and(|t| t.inferred && !t.decrypted);
    if let Some(answer) = f.response {
        if !answer.accepted {
            return Decision {
                verdict: Verdict::HandshakeRejected,
                initiator: Initiator::Server,
                start: Some((answer.ts, Direction::ServerToClient, StartKind::Response)),
                client_observed_code: Some(1006),
            };
        }
    } else if !f.frames_seen && !f.payload_incomplete {
        return match tcp_end {
            Some((t, i, kind)) => Decision {
                verdict: Verdict::HandshakeNoResponse,
                initiator: dir(i).sender(),
                start: Some((t, dir(i), kind)),
                client_observed_code: Some(1006),
            },
            None => open(),
        };
    }

    // The WebSocket was open: the first close frame, FIN or RST decides.
    let first_close = [0, 1]
        .into_iter()
        .filter_map(|i| f.first_close[i].map(|(t, code)| (t, i, code)))
        .min_by_key(|(t, i, _)| (*t, *i));
    let closed_first = match (first_close, tcp_end) {
        (Some(c), Some(e)) => c.0 <= e.0,
        (Some(_), None) => true,
        (None, _) => false,
    };
    let (verdict, initiator, start) = if closed_first {
        let (t, i, code) = first_close.expect("closed_first implies a close frame");
        let clean = matches!(code, None | Some(1000) | Some(1001));
        let verdict = match (i, clean) {
            (0, _) if inferred => Verdict::ClientCloseEncrypted,
            (_, _) if inferred => Verdict::ServerCloseEncrypted,
            (0, true) => Verdict::CleanCloseClient,
            (_, true) => Verdict::CleanCloseServer,
            (0, false) => Verdict::ClientCloseError,
            (_, false) => Verdict::ServerCloseError,
        };
        (verdict, dir(i).sender(), (t, dir(i), StartKind::Close))
    } else if let Some((t, i, kind)) = tcp_end {
        let verdict = match (i, kind) {
            (0, StartKind::Rst) => Verdict::ClientRstNoClose,
            (0, _) => Verdict::ClientFinNoClose,
            (_, StartKind::Rst) => Verdict::ServerRstNoClose,
            (_, _) => Verdict::ServerFinNoClose,
        };
        (verdict, dir(i).sender(), (t, dir(i), kind))
    } else {
        return open();
    };
    Decision {
        verdict,
        initiator,
        start: Some(start),
        client_observed_code: observed_code(f, inferred),
    }
}

/// A TLS session whose handshake failed or whose frames could not be read.
fn tls_decision(tls: &TlsFacts, tcp_end: Option<(Timestamp, usize, StartKind)>) -> Decision {
    let failed = !tls.handshake_done;
    let start = match tls.failure {
        Some((t, i)) if failed => Some((t, i, StartKind::Alert)),
        _ => tcp_end,
    };
    let Some((t, i, kind)) = start else {
        return open();
    };
    let verdict = match (failed, i, kind) {
        (true, _, _) => Verdict::TlsHandshakeFailed,
        (_, 0, StartKind::Rst) => Verdict::ClientRstEncrypted,
        (_, 0, _) => Verdict::ClientFinEncrypted,
        (_, _, StartKind::Rst) => Verdict::ServerRstEncrypted,
        (_, _, _) => Verdict::ServerFinEncrypted,
    };
    Decision {
        verdict,
        initiator: dir(i).sender(),
        start: Some((t, dir(i), kind)),
        // A WebSocket whose TLS handshake failed never opened: 1006, as for a refused
        // connection; past the handshake, without keys, the code is unknown.
        client_observed_code: failed.then_some(1006),
    }
}

fn open() -> Decision {
    Decision {
        verdict: Verdict::OpenAtCaptureEnd,
        initiator: Initiator::None,
        start: None,
        client_observed_code: None,
    }
}

/// RFC 6455 §7.1.5 from the client's side: its connection ends when the server's FIN,
/// RST or TLS closing alert reaches it, or when it resets the connection itself. Its own FIN
/// (or closing alert) only half-closes, unless it had sent a close frame before: real
/// clients (Chromium after its 60 s closing-handshake timeout, Python `websockets` after its
/// `close_timeout`) end the connection that way when the server's close frame is late, and
/// report 1006 whatever arrives after. The code of an inferred close frame is unknown.
fn observed_code(f: &Facts, inferred: bool) -> Option<u16> {
    let alert = |d: usize| f.tls.as_ref().and_then(|t| t.alert_close[d]);
    let gave_up = [f.first_fin[0], alert(0)]
        .into_iter()
        .flatten()
        .filter(|&t| f.first_close[0].is_some_and(|(close, _)| close <= t))
        .min();
    let client_end = [
        f.first_fin[1],
        f.first_rst[1],
        f.first_rst[0],
        alert(1),
        gave_up,
    ]
    .into_iter()
    .flatten()
    .min();
    match (f.first_close[1], client_end) {
        (Some((t, code)), end) if end.is_none_or(|e| t <= e) => {
            (!inferred).then(|| code.unwrap_or(1005))
        }
        (_, Some(_)) => Some(1006),
        (_, None) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(ms: i64) -> Timestamp {
        Timestamp(ms * 1_000_000)
    }

    /// The verdict on `f` and the code the client's API reported.
    fn verdict_and_code(f: &Facts) -> (Verdict, Option<u16>) {
        let d = decide(f);
        (d.verdict, d.client_observed_code)
    }

    fn open_ws() -> Facts {
        Facts {
            syn_seen: true,
            synack_seen: true,
            server_sent_data: true,
            response: Some(Answer::http(101, t(1))),
            ..Facts::default()
        }
    }

    #[test]
    fn clean_client_close_then_server_fin() {
        let mut f = open_ws();
        f.first_close = [Some((t(10), Some(1000))), Some((t(11), Some(1000)))];
        f.first_fin = [Some(t(13)), Some(t(12))];
        let d = decide(&f);
        assert_eq!(d.verdict, Verdict::CleanCloseClient);
        assert_eq!(d.initiator, Initiator::Client);
        assert_eq!(d.client_observed_code, Some(1000));
        assert_eq!(
            d.start,
            Some((t(10), Direction::ClientToServer, StartKind::Close))
        );
    }

    #[test]
    fn a_client_that_gave_up_after_its_close_frame_observes_1006() {
        // Chromium's closing-handshake timeout: close 1000, FIN 60 s later, the server's
        // close frame 64 s later (answered by RST from the client's kernel).
        let mut f = open_ws();
        f.first_close = [Some((t(10), Some(1000))), Some((t(64_010), Some(1000)))];
        f.first_fin[0] = Some(t(60_010));
        f.first_rst[0] = Some(t(64_011));
        let d = decide(&f);
        assert_eq!(d.verdict, Verdict::CleanCloseClient);
        assert_eq!(d.client_observed_code, Some(1006));
        // A FIN without a close frame of its own still only half-closes (RFC 6455).
        let mut f = open_ws();
        f.first_fin[0] = Some(t(10));
        f.first_close[1] = Some((t(11), Some(1001)));
        f.first_fin[1] = Some(t(12));
        assert_eq!(decide(&f).client_observed_code, Some(1001));
    }

    #[test]
    fn server_error_close_then_rst_is_still_a_close() {
        let mut f = open_ws();
        f.first_close[1] = Some((t(10), Some(1011)));
        f.first_rst[1] = Some(t(11));
        let d = decide(&f);
        assert_eq!(d.verdict, Verdict::ServerCloseError);
        assert_eq!(d.client_observed_code, Some(1011));
    }

    #[test]
    fn server_rst_without_close_is_1006() {
        let mut f = open_ws();
        f.first_rst[1] = Some(t(10));
        let d = decide(&f);
        assert_eq!(d.verdict, Verdict::ServerRstNoClose);
        assert_eq!(d.client_observed_code, Some(1006));
        assert_eq!(d.initiator, Initiator::Server);
    }

    #[test]
    fn unanswered_client_close_is_1006_for_the_client() {
        let mut f = open_ws();
        f.first_close[0] = Some((t(10), Some(1000)));
        f.first_fin[1] = Some(t(20));
        let d = decide(&f);
        assert_eq!(d.verdict, Verdict::CleanCloseClient);
        assert_eq!(d.client_observed_code, Some(1006));
    }

    #[test]
    fn close_frame_after_server_fin_does_not_count_for_the_client() {
        let mut f = open_ws();
        f.first_fin[1] = Some(t(10));
        f.first_close[1] = Some((t(12), Some(1000)));
        let d = decide(&f);
        assert_eq!(d.verdict, Verdict::ServerFinNoClose);
        assert_eq!(d.client_observed_code, Some(1006));
    }

    #[test]
    fn ties_at_one_instant() {
        // A close frame and a FIN in one segment: the close frame started the teardown.
        let mut f = open_ws();
        f.first_close[1] = Some((t(10), Some(1011)));
        f.first_fin[1] = Some(t(10));
        assert_eq!(
            verdict_and_code(&f),
            (Verdict::ServerCloseError, Some(1011))
        );
        // Close frames both ways at one instant: the client's.
        let mut f = open_ws();
        f.first_close = [Some((t(10), Some(1000))), Some((t(10), Some(1000)))];
        let d = decide(&f);
        assert_eq!(
            (d.verdict, d.initiator, d.client_observed_code),
            (Verdict::CleanCloseClient, Initiator::Client, Some(1000))
        );
        // The server's FIN and RST at one instant (a FIN+RST pair): the FIN.
        let mut f = open_ws();
        f.first_fin[1] = Some(t(10));
        f.first_rst[1] = Some(t(10));
        assert_eq!(decide(&f).verdict, Verdict::ServerFinNoClose);
        // A client RST and a server FIN at one instant: the FIN, before any RST.
        let mut f = open_ws();
        f.first_rst[0] = Some(t(10));
        f.first_fin[1] = Some(t(10));
        assert_eq!(decide(&f).verdict, Verdict::ServerFinNoClose);
        // FINs both ways at one instant: the client's.
        let mut f = open_ws();
        f.first_fin = [Some(t(10)), Some(t(10))];
        assert_eq!(
            verdict_and_code(&f),
            (Verdict::ClientFinNoClose, Some(1006))
        );
    }

    #[test]
    fn codes_1005_and_1006_on_the_wire_are_errors_reported_as_sent() {
        // RFC 6455 §7.4.1 reserves both for reporting; a close frame carrying one is not a
        // clean close, and the client's API reports what it received.
        for code in [1005, 1006] {
            let mut f = open_ws();
            f.first_close[1] = Some((t(10), Some(code)));
            f.first_fin[1] = Some(t(11));
            assert_eq!(
                verdict_and_code(&f),
                (Verdict::ServerCloseError, Some(code))
            );
        }
    }

    #[test]
    fn client_close_error_observes_the_servers_answer() {
        let mut f = open_ws();
        f.first_close = [Some((t(10), Some(4001))), Some((t(11), Some(4001)))];
        f.first_fin[1] = Some(t(12));
        let d = decide(&f);
        assert_eq!(
            (d.verdict, d.initiator, d.client_observed_code),
            (Verdict::ClientCloseError, Initiator::Client, Some(4001))
        );
        // Unanswered, the server's FIN ends it for the client: 1006.
        f.first_close[1] = None;
        assert_eq!(
            verdict_and_code(&f),
            (Verdict::ClientCloseError, Some(1006))
        );
    }

    #[test]
    fn empty_close_frame_is_clean_and_1005() {
        let mut f = open_ws();
        f.first_close[1] = Some((t(10), None));
        let d = decide(&f);
        assert_eq!(d.verdict, Verdict::CleanCloseServer);
        assert_eq!(d.client_observed_code, Some(1005));
    }

    #[test]
    fn handshake_outcomes() {
        let mut f = Facts {
            syn_seen: true,
            ..Facts::default()
        };
        assert_eq!(decide(&f).verdict, Verdict::SynUnanswered);
        f.first_rst[1] = Some(t(1));
        assert_eq!(decide(&f).verdict, Verdict::ConnectRefused);
        let mut f = Facts {
            syn_seen: true,
            synack_seen: true,
            ..Facts::default()
        };
        assert_eq!(decide(&f).verdict, Verdict::OpenAtCaptureEnd);
        assert_eq!(decide(&f).client_observed_code, None);
        f.first_fin[1] = Some(t(5));
        assert_eq!(decide(&f).verdict, Verdict::HandshakeNoResponse);
        assert_eq!(decide(&f).initiator, Initiator::Server);
        f.response = Some(Answer::http(503, t(4)));
        let d = decide(&f);
        assert_eq!(d.verdict, Verdict::HandshakeRejected);
        assert_eq!(d.client_observed_code, Some(1006));
    }

    #[test]
    fn client_fin_first_then_server_fin() {
        let mut f = open_ws();
        f.first_fin = [Some(t(10)), Some(t(11))];
        let d = decide(&f);
        assert_eq!(d.verdict, Verdict::ClientFinNoClose);
        assert_eq!(d.client_observed_code, Some(1006));
    }

    #[test]
    fn unreadable_payload_still_gives_the_tcp_teardown() {
        // tcpdump -s 96: the 101 and the frames were cut, the RST was not.
        let mut f = Facts {
            syn_seen: true,
            synack_seen: true,
            server_sent_data: true,
            payload_incomplete: true,
            ..Facts::default()
        };
        f.first_rst[1] = Some(t(9));
        assert_eq!(decide(&f).verdict, Verdict::ServerRstNoClose);
    }

    fn tls(handshake_done: bool, decrypted: bool) -> Facts {
        Facts {
            tls: Some(TlsFacts {
                handshake_done,
                decrypted,
                ..TlsFacts::default()
            }),
            ..open_ws()
        }
    }

    #[test]
    fn tls_without_keys_gives_the_first_end_and_no_observed_code() {
        let mut f = tls(true, false);
        f.response = None;
        f.first_rst[1] = Some(t(10));
        f.first_fin[0] = Some(t(11));
        let d = decide(&f);
        assert_eq!(d.verdict, Verdict::ServerRstEncrypted);
        assert_eq!(d.client_observed_code, None);
        f.first_fin[0] = Some(t(9));
        assert_eq!(decide(&f).verdict, Verdict::ClientFinEncrypted);
        f.tls.as_mut().unwrap().alert_close[1] = Some(t(8));
        let d = decide(&f);
        assert_eq!(d.verdict, Verdict::ServerFinEncrypted);
        assert_eq!(
            d.start,
            Some((t(8), Direction::ServerToClient, StartKind::Alert))
        );
        f.first_rst[0] = Some(t(7));
        assert_eq!(decide(&f).verdict, Verdict::ClientRstEncrypted);
    }

    #[test]
    fn tls_handshake_failure_starts_at_the_alert() {
        let mut f = tls(false, false);
        f.response = None;
        f.tls.as_mut().unwrap().failure = Some((t(5), 0));
        f.first_fin[1] = Some(t(6));
        let d = decide(&f);
        assert_eq!(d.verdict, Verdict::TlsHandshakeFailed);
        assert_eq!(d.initiator, Initiator::Client);
        assert_eq!(
            d.client_observed_code,
            Some(1006),
            "the WebSocket never opened"
        );
        f.tls.as_mut().unwrap().failure = None;
        assert_eq!(decide(&f).initiator, Initiator::Server);
        f.first_fin[1] = None;
        assert_eq!(decide(&f).verdict, Verdict::OpenAtCaptureEnd);
    }

    #[test]
    fn decrypted_tls_follows_the_websocket_rules_with_close_notify_as_fin() {
        let mut f = tls(true, true);
        f.tls.as_mut().unwrap().alert_close[1] = Some(t(10));
        f.first_fin[0] = Some(t(11));
        let d = decide(&f);
        assert_eq!(d.verdict, Verdict::ServerFinNoClose);
        assert_eq!(d.client_observed_code, Some(1006));
        f.first_close[0] = Some((t(9), Some(1000)));
        assert_eq!(decide(&f).verdict, Verdict::CleanCloseClient);
    }

    #[test]
    fn midstream_frames_count_as_open() {
        let mut f = Facts {
            frames_seen: true,
            ..Facts::default()
        };
        f.first_close[0] = Some((t(3), Some(4001)));
        assert_eq!(decide(&f).verdict, Verdict::ClientCloseError);
    }

    fn inferred_ws() -> Facts {
        let mut f = open_ws();
        f.response = Some(Answer {
            ts: t(1),
            status: None,
            accepted: true,
        });
        f.frames_seen = true;
        f.tls = Some(TlsFacts {
            handshake_done: true,
            inferred: true,
            ..TlsFacts::default()
        });
        f
    }

    #[test]
    fn inferred_client_close_has_no_readable_code() {
        let mut f = inferred_ws();
        f.first_close = [Some((t(10), None)), Some((t(11), None))];
        f.first_fin = [Some(t(13)), Some(t(12))];
        let d = decide(&f);
        assert_eq!(d.verdict, Verdict::ClientCloseEncrypted);
        assert_eq!(d.initiator, Initiator::Client);
        assert_eq!(d.client_observed_code, None);
        assert!(!d.verdict.is_abnormal());
    }

    #[test]
    fn inferred_unanswered_client_close_is_1006() {
        let mut f = inferred_ws();
        f.first_close[0] = Some((t(10), None));
        f.first_fin = [Some(t(60_010)), Some(t(60_020))];
        let d = decide(&f);
        assert_eq!(d.verdict, Verdict::ClientCloseEncrypted);
        assert_eq!(d.client_observed_code, Some(1006));
    }

    #[test]
    fn inferred_server_close_is_server_initiated_and_abnormal() {
        let mut f = inferred_ws();
        f.first_close = [Some((t(11), None)), Some((t(10), None))];
        f.tls.as_mut().unwrap().alert_close[1] = Some(t(12));
        let d = decide(&f);
        assert_eq!(d.verdict, Verdict::ServerCloseEncrypted);
        assert_eq!(d.initiator, Initiator::Server);
        assert_eq!(d.client_observed_code, None);
        assert!(d.verdict.is_abnormal());
    }

    #[test]
    fn inferred_without_close_uses_the_plaintext_verdicts() {
        let mut f = inferred_ws();
        f.first_rst[1] = Some(t(10));
        let d = decide(&f);
        assert_eq!(d.verdict, Verdict::ServerRstNoClose);
        assert_eq!(d.client_observed_code, Some(1006));
        // A close_notify counts as its sender's FIN.
        let mut f = inferred_ws();
        f.tls.as_mut().unwrap().alert_close[1] = Some(t(10));
        f.first_close[0] = Some((t(20), None));
        let d = decide(&f);
        assert_eq!(d.verdict, Verdict::ServerFinNoClose);
        assert_eq!(d.client_observed_code, Some(1006));
    }

    #[test]
    fn inferred_rejection_has_no_status() {
        let mut f = inferred_ws();
        f.frames_seen = false;
        f.response = Some(Answer {
            ts: t(4),
            status: None,
            accepted: false,
        });
        f.first_fin[0] = Some(t(5));
        let d = decide(&f);
        assert_eq!(d.verdict, Verdict::HandshakeRejected);
        assert_eq!(d.initiator, Initiator::Server);
        assert_eq!(d.client_observed_code, Some(1006));
    }
}
