//! Joining media flows to sessions, and what the media says about the ending.
//!
//! Rules, in order of trust ([`JoinRule`]): an ICE ufrag seen in a STUN USERNAME that the
//! session's SDP announced (`ice_ufrag`); an RTP SSRC the SDP announced (`ssrc`); a flow
//! endpoint that is a candidate or `c=`/`m=` address of the SDP (`sdp_address`); last, the
//! session's client address with overlapping time (`client_address`). The rule that joined
//! each flow is kept; a flow nothing joins stays an orphan and is still reported.

use super::{Direction, Event, EventKind, FindingKind, JoinRule, MediaFinding, Session};
use crate::flow::{MediaEventKind, MediaFlow};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use teardown_wire::time::Timestamp;

/// Media that ended more than this before the signalling teardown started "stopped first".
pub const MEDIA_STOPPED_FIRST: Timestamp = Timestamp(2_000_000_000);
/// Unanswered consent checks (sent every ~5 s, RFC 7675) that mean consent was lost.
pub const CONSENT_LOST_CHECKS: u64 = 3;
/// TURN error codes that refuse service (RFC 8656 §19): 401 and 438 are the normal first
/// round of authentication and not failures.
const TURN_REFUSALS: [u16; 4] = [437, 441, 486, 508];

/// Joins `flows` to `sessions`; returns the orphans. Settles each RTP stream's clock rate
/// from its session's SDP, merges media events into the timelines and sets the findings.
pub fn join(sessions: &mut [Session], flows: Vec<MediaFlow>) -> Vec<MediaFlow> {
    let mut by_ufrag: HashMap<String, usize> = HashMap::new();
    let mut by_ssrc: HashMap<u32, usize> = HashMap::new();
    let mut by_addr: HashMap<SocketAddr, usize> = HashMap::new();
    let mut by_ip: HashMap<IpAddr, Vec<usize>> = HashMap::new();
    for (i, s) in sessions.iter().enumerate() {
        for u in &s.sdp.ufrags {
            by_ufrag.entry(u.clone()).or_insert(i);
        }
        for x in &s.sdp.ssrcs {
            by_ssrc.entry(*x).or_insert(i);
        }
        for a in s.sdp.candidates.iter().chain(&s.sdp.media_addrs) {
            by_addr.entry(*a).or_insert(i);
        }
        by_ip.entry(s.client.ip()).or_default().push(i);
    }
    let mut orphans = Vec::new();
    for mut flow in flows {
        let by_user = || {
            flow.stun
                .usernames
                .iter()
                .flat_map(|u| u.split(':'))
                .find_map(|part| by_ufrag.get(part).copied())
        };
        let by_stream = || {
            flow.rtp
                .iter()
                .find_map(|(_, s)| by_ssrc.get(&s.ssrc).copied())
        };
        let by_endpoint = || {
            [flow.a, flow.b]
                .iter()
                .find_map(|a| by_addr.get(a).copied())
        };
        // Media is set up right after the signalling: among the sessions of the same
        // client address alive when the flow began, the one that started last; else the
        // one it overlaps most.
        let by_client = || {
            let same_ip = || {
                [flow.a.ip(), flow.b.ip()]
                    .into_iter()
                    .filter_map(|ip| by_ip.get(&ip))
                    .flatten()
                    .copied()
            };
            same_ip()
                .filter(|&i| {
                    sessions[i].start_ts <= flow.first_ts && flow.first_ts <= sessions[i].end_ts
                })
                .max_by_key(|&i| (sessions[i].start_ts, std::cmp::Reverse(i)))
                .or_else(|| {
                    same_ip()
                        .map(|i| (overlap(&sessions[i], &flow), i))
                        .filter(|(o, _)| *o > 0)
                        .max_by_key(|(o, i)| (*o, std::cmp::Reverse(*i)))
                        .map(|(_, i)| i)
                })
        };
        let found = by_user()
            .map(|i| (i, JoinRule::IceUfrag))
            .or_else(|| by_stream().map(|i| (i, JoinRule::Ssrc)))
            .or_else(|| by_endpoint().map(|i| (i, JoinRule::SdpAddress)))
            .or_else(|| by_client().map(|i| (i, JoinRule::ClientAddress)));
        match found {
            Some((i, rule)) => {
                let s = &mut sessions[i];
                for (_, stream) in &mut flow.rtp {
                    let rate = s.sdp.clock_rates.get(&stream.payload_type).copied();
                    stream.settle_clock_rate(rate);
                }
                // The most trusted rule that joined any of its flows (Ord: most trusted first).
                if s.join_rule.is_none_or(|best| rule < best) {
                    s.join_rule = Some(rule);
                }
                add_events(s, &flow);
                s.media.push(flow);
            }
            None => {
                for (_, stream) in &mut flow.rtp {
                    stream.settle_clock_rate(None);
                }
                orphans.push(flow);
            }
        }
    }
    for s in sessions.iter_mut() {
        if !s.media.is_empty() {
            s.timeline.sort_by_key(|e| e.ts);
            s.media_finding = finding(s);
        }
    }
    orphans
}

/// True when the flow carried an RTCP BYE for this source (a clean end of its media).
fn said_bye(f: &MediaFlow, ssrc: u32) -> bool {
    f.events
        .iter()
        .any(|e| matches!(&e.kind, MediaEventKind::RtcpBye { ssrcs, .. } if ssrcs.contains(&ssrc)))
}

/// Nanoseconds during which both were alive (plus one when they touch), exact for any
/// two timestamps.
fn overlap(s: &Session, f: &MediaFlow) -> u64 {
    let end = s.end_ts.min(f.last_ts).0;
    let start = s.start_ts.max(f.first_ts).0;
    if end < start {
        0
    } else {
        end.abs_diff(start).saturating_add(1)
    }
}

/// Nanoseconds from `earlier` to `later`, in `i128`: timestamps read from a capture can be
/// further apart than `i64` holds (as in [`Timestamp::millis_since`]).
fn ns_between(later: Timestamp, earlier: Timestamp) -> i128 {
    i128::from(later.0) - i128::from(earlier.0)
}

fn add_events(s: &mut Session, flow: &MediaFlow) {
    // The flow's client side: the endpoint on the session's client address, else its
    // first sender.
    let a_is_client = flow.a.ip() == s.client.ip() || flow.b.ip() != s.client.ip();
    for e in &flow.events {
        let direction = if e.from_a == a_is_client {
            Direction::ClientToServer
        } else {
            Direction::ServerToClient
        };
        s.timeline.push(Event {
            ts: e.ts,
            direction,
            kind: EventKind::Media(e.kind.clone()),
            teardown_start: false,
        });
    }
}

/// Seconds from `earlier` to `later`.
fn secs(later: Timestamp, earlier: Timestamp) -> f64 {
    later.millis_since(earlier) / 1e3
}

/// The finding that stands out most, in this order: TURN refused, ICE consent lost, media
/// stopped before the signalling, STUN never answered.
fn finding(s: &Session) -> Option<MediaFinding> {
    let refusals: u64 = s
        .media
        .iter()
        .flat_map(|f| f.stun.errors.iter())
        .filter(|(c, _)| TURN_REFUSALS.contains(c))
        .map(|(_, n)| n)
        .sum();
    if refusals > 0 {
        let codes: Vec<String> = s
            .media
            .iter()
            .flat_map(|f| f.stun.errors.keys())
            .filter(|c| TURN_REFUSALS.contains(c))
            .map(|c| c.to_string())
            .collect();
        return Some(MediaFinding {
            kind: FindingKind::TurnAllocationFailed,
            detail: format!(
                "TURN refused {refusals} request(s) with {}",
                codes.join(", ")
            ),
        });
    }
    let end = s.teardown_start_ts.unwrap_or(s.end_ts);
    for f in &s.media {
        let unanswered = f.events.iter().find_map(|e| match e.kind {
            MediaEventKind::FirstUnansweredCheck { unanswered }
                if unanswered >= CONSENT_LOST_CHECKS =>
            {
                Some((e.ts, unanswered))
            }
            _ => None,
        });
        if let Some((from, n)) = unanswered {
            return Some(MediaFinding {
                kind: FindingKind::IceConsentLost,
                detail: format!(
                    "{n} ICE consent checks went unanswered over {:.1} s, from {:.1} s before the teardown",
                    secs(f.last_ts, from),
                    secs(end, from)
                ),
            });
        }
    }
    // A stream that just stopped (no RTCP BYE for it) well before the teardown began.
    if let Some(start) = s.teardown_start_ts {
        let stopped = s
            .media
            .iter()
            .flat_map(|f| f.rtp.iter().map(move |(from_a, r)| (f, *from_a, r)))
            .filter(|(f, _, r)| !said_bye(f, r.ssrc))
            .filter(|(_, _, r)| ns_between(start, r.last_ts) > i128::from(MEDIA_STOPPED_FIRST.0))
            .min_by_key(|(_, _, r)| r.last_ts);
        if let Some((f, from_a, r)) = stopped {
            let a_is_client = f.a.ip() == s.client.ip() || f.b.ip() != s.client.ip();
            let who = if from_a == a_is_client {
                "client"
            } else {
                "server"
            };
            return Some(MediaFinding {
                kind: FindingKind::MediaStoppedFirst,
                detail: format!(
                    "RTP from the {who} (SSRC 0x{:08x}) stopped {:.1} s before the teardown started, without an RTCP BYE",
                    r.ssrc,
                    secs(start, r.last_ts)
                ),
            });
        }
    }
    let unanswered_only = s
        .media
        .iter()
        .any(|f| f.stun.requests > 0 && f.stun.successes == 0 && f.stun.errors.is_empty());
    unanswered_only.then(|| MediaFinding {
        kind: FindingKind::StunUnanswered,
        detail: "STUN requests were sent and none was answered".to_string(),
    })
}
