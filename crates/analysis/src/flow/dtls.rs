//! DTLS on a media flow (RFC 6347, RFC 9147): records, the ClientHello, the end of the
//! handshake and alerts.

use super::dissector::{Dissector, Message};
use super::{MediaEventKind, MediaFlow, MAX_LIST};
use serde::Serialize;
use teardown_wire::media::demux::Kind;
use teardown_wire::media::dtls;
use teardown_wire::time::Timestamp;

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

/// Reads DTLS records into [`MediaFlow::dtls`].
#[derive(Default)]
pub(crate) struct Dtls {
    /// A DTLS handshake record was seen on the flow.
    handshake_seen: bool,
}

impl Dissector for Dtls {
    const KIND: Kind = Kind::Dtls;

    fn probe(bytes: &[u8]) -> bool {
        dtls::probe(bytes)
    }

    fn on_message<'a>(&mut self, facts: &mut MediaFlow, m: Message<'a>) -> Option<&'a [u8]> {
        let (ts, from_a) = (m.ts, m.from_a);
        for r in dtls::parse_records(m.bytes) {
            facts.dtls.records += 1;
            match r.content_type {
                dtls::HANDSHAKE => {
                    self.handshake_seen = true;
                    if r.handshake_type == Some(1) {
                        facts.dtls.client_hello.get_or_insert(ts);
                    }
                }
                // Application data ends a handshake only if one was seen: a flow whose first
                // record is application data began before the capture (or migrated here).
                dtls::APPLICATION_DATA
                    if facts.dtls.handshake_done.is_none() && self.handshake_seen =>
                {
                    facts.dtls.handshake_done = Some(ts);
                    facts.event(ts, from_a, MediaEventKind::DtlsHandshakeDone);
                }
                dtls::ALERT if facts.dtls.alerts.len() < MAX_LIST => {
                    let alert = r.alert;
                    facts.dtls.alerts.push(DtlsAlert { ts, from_a, alert });
                    facts.event(ts, from_a, MediaEventKind::DtlsAlert { alert });
                }
                _ => {}
            }
        }
        None
    }
}
