//! The media join rules and findings (README, "Media"), each pinned on a capture crafted
//! so that its construction decides the answer:
//!
//! - every join rule in its order of trust (ICE ufrag in a STUN USERNAME, SSRC, SDP
//!   candidate or `c=`/`m=` address, client address), a flow that several rules would join
//!   going to the most trusted one, a session's `join_rule` being the most trusted of its
//!   flows', the client-address rule's choice among sessions of one address (the one that
//!   started last among those alive when the flow began, else the one it overlaps most),
//!   and an orphan;
//! - `ice_consent_lost` at exactly three unanswered checks after the last answered one
//!   (not at two), `stun_unanswered` only when no request was answered,
//!   `media_stopped_first` on both sides of its 2 s threshold (to the microsecond) and not
//!   after an RTCP BYE, and the findings' priority.

mod common;

use common::*;
use std::net::SocketAddr;
use teardown::flow::{MediaEventKind, MediaFlow};
use teardown::session::{EventKind, FindingKind, JoinRule};
use teardown::time::Timestamp;
use teardown::{Analysis, Session};

fn sa(ip: [u8; 4], port: u16) -> SocketAddr {
    SocketAddr::from((ip, port))
}

/// An RTCP BYE for `ssrc` (RFC 3550 §6.6).
fn rtcp_bye(ssrc: u32) -> Vec<u8> {
    let mut b = vec![0x81, 203, 0, 1];
    b.extend_from_slice(&ssrc.to_be_bytes());
    b
}

fn session_of(a: &Analysis, client: SocketAddr) -> &Session {
    let found: Vec<&Session> = a.sessions.iter().filter(|s| s.client == client).collect();
    assert_eq!(found.len(), 1, "{client}: {} sessions", found.len());
    found[0]
}

/// The client of the session holding the flow with endpoints `x` and `y`, or `None` for an
/// orphan (and it must be exactly one of the two).
fn holder(a: &Analysis, x: SocketAddr, y: SocketAddr) -> Option<SocketAddr> {
    let is = |f: &MediaFlow| (f.a == x && f.b == y) || (f.a == y && f.b == x);
    let holders: Vec<SocketAddr> = a
        .sessions
        .iter()
        .filter(|s| s.media.iter().any(is))
        .map(|s| s.client)
        .collect();
    let orphans = a.orphan_media.iter().filter(|f| is(f)).count();
    assert_eq!(
        holders.len() + orphans,
        1,
        "flow {x} <-> {y}: held by {holders:?} and {orphans} orphan(s)"
    );
    holders.first().copied()
}

/// µs into a crafted capture.
fn since_craft(t: Timestamp) -> u64 {
    let ns = t.0 as u64 - CRAFT_EPOCH_US * 1000;
    assert_eq!(ns % 1000, 0);
    ns / 1000
}

#[test]
fn each_join_rule_and_its_order_of_trust() {
    let mut k = Capture::default();
    let client = |n: u8| sa([10, 0, n, 1], 40000);
    let ep = |n: u8, h: u8, port: u16| sa([10, 8, n, h], port);

    // A: only its ufrag can join the flow (the flow's addresses are nobody's).
    k.call(client(1), 0, &sdp_ufrag("ufA"), 20 * S);
    k.check(S, ep(1, 1, 5000), ep(1, 2, 6000), "peer:ufA", Some(1000));
    // B: only an SSRC its SDP announced.
    let b_sdp = sdp(&["m=audio 9 RTP/AVP 0", "a=ssrc:2222 cname:b"]);
    k.call(client(2), 10, &b_sdp, 20 * S);
    k.rtp(ep(2, 1, 5000), ep(2, 2, 6000), 2222, S, 50);
    // C: only its c=/m= address (the flow's sender).
    let c_sdp = sdp(&["c=IN IP4 10.8.3.1", "m=audio 5004 RTP/AVP 0"]);
    k.call(client(3), 20, &c_sdp, 20 * S);
    k.rtp(ep(3, 1, 5004), ep(3, 2, 6000), 3333, S, 50);
    // D: only a candidate address (the flow's receiver).
    let d_sdp = sdp(&[
        "m=audio 9 RTP/AVP 0",
        "a=candidate:1 1 udp 2130706431 10.8.4.1 5006 typ host",
    ]);
    k.call(client(4), 30, &d_sdp, 20 * S);
    k.rtp(ep(4, 2, 6000), ep(4, 1, 5006), 4444, S, 50);
    // E: only its client address, alive when the flow began.
    k.call(client(5), 40, &sdp_ufrag("ufE"), 20 * S);
    k.rtp(sa([10, 0, 5, 1], 5008), ep(5, 2, 6000), 5555, S, 50);
    // No rule: an orphan.
    k.rtp(ep(6, 1, 5000), ep(6, 2, 6000), 6666, S, 50);

    // F: a flow that F's ufrag, B's SSRC and C's address would all join goes to F.
    k.call(client(7), 50, &sdp_ufrag("ufF"), 20 * S);
    k.check(2 * S, ep(3, 1, 5004), ep(7, 2, 6000), "ufF:x", Some(1000));
    k.rtp(ep(3, 1, 5004), ep(7, 2, 6000), 2222, 2 * S + 5000, 50);
    // G: a flow that G's SSRC and D's candidate would join goes to G.
    let g_sdp = sdp(&["m=audio 9 RTP/AVP 0", "a=ssrc:7777 cname:g"]);
    k.call(client(8), 60, &g_sdp, 20 * S);
    k.rtp(ep(4, 1, 5006), ep(8, 2, 6000), 7777, S, 50);
    // A flow from E's client address to C's media address goes to C.
    k.rtp(sa([10, 0, 5, 1], 5010), ep(3, 1, 5004), 3334, S, 50);
    // H: one flow joined by client address, one by SSRC: H's rule is the SSRC.
    let h_sdp = sdp(&["m=audio 9 RTP/AVP 0", "a=ssrc:8888 cname:h"]);
    k.call(client(9), 70, &h_sdp, 20 * S);
    k.rtp(sa([10, 0, 9, 1], 5000), ep(9, 2, 6000), 9001, S, 50);
    k.rtp(ep(9, 3, 5000), ep(9, 4, 6000), 8888, S, 50);

    // The client address, two sessions alive when the flow began: the later one (I2).
    let i1 = sa([10, 0, 10, 1], 40000);
    let i2 = sa([10, 0, 10, 1], 40001);
    k.call(i1, 80, &sdp_ufrag("ufI1"), 20 * S);
    k.call(i2, 2 * S, &sdp_ufrag("ufI2"), 20 * S);
    k.rtp(sa([10, 0, 10, 1], 5000), ep(10, 2, 6000), 1010, 3 * S, 50);
    // The client address, the flow began before both: the one it overlaps most (J1,
    // 1 s to 19 s) and not the one that started last (J2, 1.5 s to 5 s).
    let j1 = sa([10, 0, 11, 1], 40000);
    let j2 = sa([10, 0, 11, 1], 40001);
    k.call(j1, S, &sdp_ufrag("ufJ1"), 19 * S);
    k.call(j2, 3 * S / 2, &sdp_ufrag("ufJ2"), 5 * S);
    for i in 0..20 {
        // One packet a second from 0.5 s to 19.5 s.
        k.udp(
            S / 2 + i * S,
            sa([10, 0, 11, 1], 5000),
            ep(11, 2, 6000),
            rtp(i as u16, i as u32 * 8000, 1111),
        );
    }

    let a = k.analyze("joins.pcap");
    assert_eq!(a.sessions.len(), 12);
    let rule = |c: SocketAddr| session_of(&a, c).join_rule;
    let flows = |c: SocketAddr| session_of(&a, c).media.len();

    assert_eq!(holder(&a, ep(1, 1, 5000), ep(1, 2, 6000)), Some(client(1)));
    assert_eq!(
        (rule(client(1)), flows(client(1))),
        (Some(JoinRule::IceUfrag), 1)
    );
    assert_eq!(holder(&a, ep(2, 1, 5000), ep(2, 2, 6000)), Some(client(2)));
    assert_eq!(
        (rule(client(2)), flows(client(2))),
        (Some(JoinRule::Ssrc), 1)
    );
    assert_eq!(holder(&a, ep(3, 1, 5004), ep(3, 2, 6000)), Some(client(3)));
    assert_eq!(holder(&a, ep(4, 2, 6000), ep(4, 1, 5006)), Some(client(4)));
    assert_eq!(
        (rule(client(4)), flows(client(4))),
        (Some(JoinRule::SdpAddress), 1)
    );
    let e_flow = (sa([10, 0, 5, 1], 5008), ep(5, 2, 6000));
    assert_eq!(holder(&a, e_flow.0, e_flow.1), Some(client(5)));
    assert_eq!(
        (rule(client(5)), flows(client(5))),
        (Some(JoinRule::ClientAddress), 1)
    );
    assert_eq!(holder(&a, ep(6, 1, 5000), ep(6, 2, 6000)), None);
    assert_eq!(a.orphan_media.len(), 1);

    assert_eq!(holder(&a, ep(3, 1, 5004), ep(7, 2, 6000)), Some(client(7)));
    assert_eq!(
        (rule(client(7)), flows(client(7))),
        (Some(JoinRule::IceUfrag), 1)
    );
    assert_eq!(holder(&a, ep(4, 1, 5006), ep(8, 2, 6000)), Some(client(8)));
    assert_eq!(
        (rule(client(8)), flows(client(8))),
        (Some(JoinRule::Ssrc), 1)
    );
    let to_c = (sa([10, 0, 5, 1], 5010), ep(3, 1, 5004));
    assert_eq!(holder(&a, to_c.0, to_c.1), Some(client(3)));
    assert_eq!(
        (rule(client(3)), flows(client(3))),
        (Some(JoinRule::SdpAddress), 2)
    );
    assert_eq!(holder(&a, ep(9, 3, 5000), ep(9, 4, 6000)), Some(client(9)));
    assert_eq!(
        holder(&a, sa([10, 0, 9, 1], 5000), ep(9, 2, 6000)),
        Some(client(9))
    );
    assert_eq!(
        (rule(client(9)), flows(client(9))),
        (Some(JoinRule::Ssrc), 2)
    );

    assert_eq!(
        holder(&a, sa([10, 0, 10, 1], 5000), ep(10, 2, 6000)),
        Some(i2)
    );
    assert_eq!((rule(i1), rule(i2)), (None, Some(JoinRule::ClientAddress)));
    assert_eq!(
        holder(&a, sa([10, 0, 11, 1], 5000), ep(11, 2, 6000)),
        Some(j1)
    );
    assert_eq!((rule(j1), rule(j2)), (Some(JoinRule::ClientAddress), None));
}

/// One call from 10.0.0.1 (ufrag `uf1`, close frame at 20 s) and its media flow
/// 10.0.0.1:5000 <-> 10.8.0.2:6000, filled by `media`.
fn call_with(media: impl FnOnce(&mut Capture, SocketAddr, SocketAddr)) -> Analysis {
    let mut k = Capture::default();
    let client = sa([10, 0, 0, 1], 40000);
    k.call(client, 0, &sdp_ufrag("uf1"), 20 * S);
    media(&mut k, sa([10, 0, 0, 1], 5000), sa([10, 8, 0, 2], 6000));
    let a = k.analyze("call.pcap");
    assert_eq!(a.sessions.len(), 1);
    let s = &a.sessions[0];
    assert_eq!(s.teardown_start_ts, Some(craft_ts(20 * S)));
    assert_eq!(s.media.len(), 1, "the flow is joined");
    a
}

/// Checks from `x` to `y` once a second from 1 s: `answered` answered (1 ms later), then
/// `unanswered` never answered.
fn checks(k: &mut Capture, x: SocketAddr, y: SocketAddr, answered: u64, unanswered: u64) {
    for i in 0..answered + unanswered {
        let answer = (i < answered).then_some(1000);
        k.check(S + i * S, x, y, "peer:uf1", answer);
    }
}

fn finding(a: &Analysis) -> Option<FindingKind> {
    a.sessions[0].media_finding.as_ref().map(|f| f.kind)
}

/// The media events of the session's timeline, with their times in µs since the craft's
/// epoch.
fn media_events(a: &Analysis) -> Vec<(u64, MediaEventKind)> {
    a.sessions[0]
        .timeline
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Media(m) => Some((since_craft(e.ts), m.clone())),
            _ => None,
        })
        .collect()
}

#[test]
fn ice_consent_is_lost_at_three_unanswered_checks_not_two() {
    let lost = call_with(|k, x, y| checks(k, x, y, 3, 3));
    assert_eq!(finding(&lost), Some(FindingKind::IceConsentLost));
    let events = media_events(&lost);
    assert!(
        events.contains(&(3 * S, MediaEventKind::LastAnsweredCheck)),
        "{events:?}"
    );
    assert!(
        events.contains(&(
            4 * S,
            MediaEventKind::FirstUnansweredCheck { unanswered: 3 }
        )),
        "{events:?}"
    );
    assert_eq!(lost.sessions[0].media[0].stun.unanswered, 3);

    let kept = call_with(|k, x, y| checks(k, x, y, 3, 2));
    assert_eq!(finding(&kept), None, "two unanswered checks are not a loss");
    assert!(media_events(&kept).contains(&(
        4 * S,
        MediaEventKind::FirstUnansweredCheck { unanswered: 2 }
    )));
}

#[test]
fn stun_unanswered_only_when_no_request_was_answered() {
    let none = call_with(|k, x, y| checks(k, x, y, 0, 2));
    assert_eq!(finding(&none), Some(FindingKind::StunUnanswered));
    assert_eq!(none.sessions[0].media[0].stun.unanswered, 2);
    let one = call_with(|k, x, y| checks(k, x, y, 1, 2));
    assert_eq!(finding(&one), None, "one request was answered");
    assert_eq!(one.sessions[0].media[0].stun.unanswered, 2);
}

#[test]
fn media_stopped_first_is_more_than_two_seconds_before_the_teardown() {
    // 50 packets 20 ms apart, the last one `gap_us` before the close frame at 20 s.
    let stream = |gap_us: u64, bye: bool| {
        call_with(move |k, x, y| {
            let last = 20 * S - gap_us;
            k.rtp(x, y, 0xabcd, last - 49 * 20_000, 50);
            if bye {
                k.udp(last + 1000, x, y, rtcp_bye(0xabcd));
            }
        })
    };
    let at = stream(2 * S, false);
    assert_eq!(
        finding(&at),
        None,
        "exactly 2 s before is not more than 2 s"
    );
    let past = stream(2 * S + 1, false);
    assert_eq!(finding(&past), Some(FindingKind::MediaStoppedFirst));
    let detail = &past.sessions[0].media_finding.as_ref().unwrap().detail;
    assert!(
        detail.contains("RTP from the client (SSRC 0x0000abcd)"),
        "{detail}"
    );
    let with_bye = stream(5 * S, true);
    assert_eq!(
        finding(&with_bye),
        None,
        "an RTCP BYE ends the media cleanly"
    );
}

#[test]
fn findings_priority_consent_lost_over_media_stopped_over_stun_unanswered() {
    // Consent lost and media stopped 5 s before the teardown: consent lost.
    let both = call_with(|k, x, y| {
        checks(k, x, y, 3, 3);
        k.rtp(x, y, 0xabcd, 15 * S - 49 * 20_000, 50);
    });
    assert_eq!(finding(&both), Some(FindingKind::IceConsentLost));
    // Media stopped and no request answered: media stopped.
    let stopped = call_with(|k, x, y| {
        checks(k, x, y, 0, 2);
        k.rtp(x, y, 0xabcd, 15 * S - 49 * 20_000, 50);
    });
    assert_eq!(finding(&stopped), Some(FindingKind::MediaStoppedFirst));
}
