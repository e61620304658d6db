//! STUN and TURN on a media flow (RFC 8489, RFC 8656): transactions and their round trips,
//! ICE consent (RFC 7675), and the datagrams TURN relays (Send and Data indications,
//! ChannelData), handed back to be dissected in turn.

use super::dissector::{Dissector, Message};
use super::{MediaEventKind, MediaFlow, MAX_LIST};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::net::SocketAddr;
use teardown_wire::media::demux::Kind;
use teardown_wire::media::stun::{self, Class, Method};
use teardown_wire::time::Timestamp;

/// Open transactions tracked per flow; older ones are dropped (counted unanswered).
const MAX_OPEN_TRANSACTIONS: usize = 1024;

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

/// A request waiting for its answer.
#[derive(Copy, Clone, Debug)]
struct Transaction {
    ts: Timestamp,
    from_a: bool,
    method: u16,
    answered: bool,
}

fn class_name(c: Class) -> &'static str {
    match c {
        Class::Request => "request",
        Class::Indication => "indication",
        Class::Success => "success",
        Class::Error => "error",
    }
}

/// Reads STUN messages into [`MediaFlow::stun`]: transactions (at most
/// `MAX_OPEN_TRANSACTIONS` open), first request/answer of each method on the timeline.
#[derive(Default)]
pub(crate) struct Stun {
    transactions: HashMap<[u8; 12], Transaction>,
    /// Transaction ids, oldest first, to drop the oldest beyond the cap.
    order: VecDeque<[u8; 12]>,
    /// (method, 0 request / 2 success) already on the timeline.
    seen_methods: BTreeSet<(u16, u8)>,
    /// Error codes already on the timeline.
    seen_errors: BTreeSet<u16>,
    /// The last answered Binding request: its time and sender.
    last_answered: Option<(Timestamp, bool)>,
}

impl Dissector for Stun {
    const KIND: Kind = Kind::Stun;

    fn probe(bytes: &[u8]) -> bool {
        stun::probe(bytes)
    }

    /// RFC 8656 §11: Send and Data indications carry the peer's datagram.
    fn on_message<'a>(&mut self, facts: &mut MediaFlow, m: Message<'a>) -> Option<&'a [u8]> {
        let msg = stun::parse(m.bytes).ok()?;
        if let Some(class) = msg.class {
            count(&mut facts.stun, &msg, class, m.relayed);
            match class {
                Class::Request => self.on_request(facts, &m, &msg),
                Class::Success | Class::Error => self.on_answer(facts, &m, &msg, class),
                Class::Indication => {}
            }
        }
        msg.data
    }

    /// Unanswered requests, and ICE consent (RFC 7675): checks sent after the last answered
    /// one, never answered.
    fn finish(&mut self, facts: &mut MediaFlow) {
        let open = self.transactions.values().filter(|t| !t.answered).count();
        facts.stun.unanswered += open as u64;
        let Some((answered_ts, side)) = self.last_answered else {
            return;
        };
        facts.event(answered_ts, side, MediaEventKind::LastAnsweredCheck);
        let late = self.transactions.values().filter(|t| {
            !t.answered && t.from_a == side && t.method == Method::BINDING.0 && t.ts > answered_ts
        });
        let (unanswered, first) = late.fold((0u64, None::<&Transaction>), |(n, first), t| {
            (
                n + 1,
                Some(first.map_or(t, |f| if t.ts < f.ts { t } else { f })),
            )
        });
        if let Some(first) = first {
            let kind = MediaEventKind::FirstUnansweredCheck { unanswered };
            facts.event(first.ts, first.from_a, kind);
        }
    }
}

/// Counts a message by method and class, and keeps its USERNAME.
fn count(stats: &mut StunStats, msg: &stun::Message<'_>, class: Class, relayed: bool) {
    let counts = if relayed {
        &mut stats.relayed_by_type
    } else {
        &mut stats.by_type
    };
    let name = format!("{} {}", Method(msg.method), class_name(class));
    *counts.entry(name).or_default() += 1;
    if let Some(u) = &msg.username {
        if stats.usernames.len() < MAX_LIST {
            stats.usernames.insert(u.clone());
        }
    }
}

impl Stun {
    /// A request: a retransmission, or a new transaction (the oldest dropped beyond the cap).
    fn on_request(&mut self, facts: &mut MediaFlow, m: &Message<'_>, msg: &stun::Message<'_>) {
        let id = msg.transaction_id;
        if self
            .transactions
            .get(&id)
            .is_some_and(|t| t.from_a == m.from_a)
        {
            facts.stun.retransmissions += 1;
            return;
        }
        facts.stun.requests += 1;
        if self.seen_methods.insert((msg.method, 0)) {
            let method = Method(msg.method).to_string();
            facts.event(m.ts, m.from_a, MediaEventKind::StunRequest { method });
        }
        if self.order.len() == MAX_OPEN_TRANSACTIONS {
            if let Some(old) = self.order.pop_front() {
                if self.transactions.remove(&old).is_some_and(|t| !t.answered) {
                    facts.stun.unanswered += 1;
                }
            }
        }
        self.order.push_back(id);
        let t = Transaction {
            ts: m.ts,
            from_a: m.from_a,
            method: msg.method,
            answered: false,
        };
        self.transactions.insert(id, t);
    }

    /// A success or error response: the first answer from the other side closes its
    /// transaction.
    fn on_answer(
        &mut self,
        facts: &mut MediaFlow,
        m: &Message<'_>,
        msg: &stun::Message<'_>,
        class: Class,
    ) {
        let Some(t) = self.transactions.get_mut(&msg.transaction_id) else {
            return;
        };
        if t.from_a == m.from_a || t.answered {
            return;
        }
        t.answered = true;
        let request = *t;
        let method = Method(msg.method);
        if class == Class::Success {
            self.on_success(facts, m, msg, &request);
        } else if let Some((code, reason)) = &msg.error {
            *facts.stun.errors.entry(*code).or_default() += 1;
            if self.seen_errors.insert(*code) {
                let kind = MediaEventKind::StunError {
                    method: method.to_string(),
                    code: *code,
                    reason: reason.clone(),
                };
                facts.event(m.ts, m.from_a, kind);
            }
        }
    }

    /// A success response: its round trip, the relayed address, the last answered check.
    fn on_success(
        &mut self,
        facts: &mut MediaFlow,
        m: &Message<'_>,
        msg: &stun::Message<'_>,
        request: &Transaction,
    ) {
        let rtt = m.ts.millis_since(request.ts);
        let stats = &mut facts.stun;
        stats.successes += 1;
        stats.rtt_count += 1;
        stats.rtt_sum_ms += rtt;
        stats.rtt_max_ms = stats.rtt_max_ms.max(rtt);
        if let Some(r) = msg.relayed {
            stats.relayed_address = Some(r);
        }
        if request.method == Method::BINDING.0 {
            self.last_answered = Some((request.ts, request.from_a));
        }
        if self.seen_methods.insert((msg.method, 2)) {
            let method = Method(msg.method).to_string();
            let kind = MediaEventKind::StunSuccess {
                method,
                rtt_ms: rtt,
            };
            facts.event(m.ts, m.from_a, kind);
        }
    }
}

/// Unwraps TURN ChannelData (RFC 8656 §12.4): the datagram it carries is dissected in turn.
#[derive(Default)]
pub(crate) struct ChannelData;

impl Dissector for ChannelData {
    const KIND: Kind = Kind::ChannelData;

    fn probe(bytes: &[u8]) -> bool {
        stun::probe_channel_data(bytes)
    }

    fn on_message<'a>(&mut self, _: &mut MediaFlow, m: Message<'a>) -> Option<&'a [u8]> {
        stun::parse_channel_data(m.bytes).map(|(_, inner)| inner)
    }
}
