//! The verdict rules at their edges (issue 19, "behaviours no test pins"): events at the
//! same instant, close codes that must not be on the wire, and the client-observed code of
//! each kind of close. The expectations are RFC 6455 §7 as the module documentation of
//! `session::verdict` states it.

use teardown_analysis::session::verdict::StartKind;
use teardown_analysis::session::{decide, Answer, Direction, Facts, Initiator, Verdict};
use teardown_wire::time::Timestamp;

const C2S: usize = 0;
const S2C: usize = 1;

fn t(ms: i64) -> Timestamp {
    Timestamp(ms * 1_000_000)
}

/// A WebSocket that opened (101 at 1 ms) and then saw what `f` adds.
fn open_ws(f: impl FnOnce(&mut Facts)) -> Facts {
    let mut facts = Facts {
        syn_seen: true,
        synack_seen: true,
        server_sent_data: true,
        response: Some(Answer::http(101, t(1))),
        ..Facts::default()
    };
    f(&mut facts);
    facts
}

#[test]
fn a_close_frame_and_a_fin_at_the_same_instant_is_a_close() {
    // The close frame and the FIN in one segment: the frame is read first.
    let d = decide(&open_ws(|f| {
        f.first_close[S2C] = Some((t(10), Some(1011)));
        f.first_fin[S2C] = Some(t(10));
    }));
    assert_eq!(d.verdict, Verdict::ServerCloseError);
    assert_eq!(d.initiator, Initiator::Server);
    assert_eq!(
        d.start,
        Some((t(10), Direction::ServerToClient, StartKind::Close))
    );
    assert_eq!(d.client_observed_code, Some(1011));
}

#[test]
fn a_fin_and_an_rst_at_the_same_instant_is_a_fin() {
    // FIN then RST in one instant (SO_LINGER with unread data): the FIN came first.
    let d = decide(&open_ws(|f| {
        f.first_fin[S2C] = Some(t(10));
        f.first_rst[S2C] = Some(t(10));
    }));
    assert_eq!(d.verdict, Verdict::ServerFinNoClose);
    assert_eq!(
        d.start,
        Some((t(10), Direction::ServerToClient, StartKind::Fin))
    );
    assert_eq!(d.client_observed_code, Some(1006));
}

#[test]
fn close_frames_both_ways_at_the_same_instant_count_for_the_client() {
    let d = decide(&open_ws(|f| {
        f.first_close[C2S] = Some((t(10), Some(1000)));
        f.first_close[S2C] = Some((t(10), Some(1001)));
    }));
    assert_eq!(d.verdict, Verdict::CleanCloseClient);
    assert_eq!(d.initiator, Initiator::Client);
    // The client received the server's close frame: its code is what the client reports.
    assert_eq!(d.client_observed_code, Some(1001));
}

#[test]
fn a_client_and_a_server_fin_at_the_same_instant_is_the_clients() {
    let d = decide(&open_ws(|f| {
        f.first_fin[C2S] = Some(t(10));
        f.first_fin[S2C] = Some(t(10));
    }));
    assert_eq!(d.verdict, Verdict::ClientFinNoClose);
    assert_eq!(d.client_observed_code, Some(1006));
}

#[test]
fn close_codes_that_must_not_be_sent_are_errors_and_reported_as_received() {
    // 1005 and 1006 are reserved for the API (RFC 6455 §7.4.1): on the wire they are not a
    // clean close, and the client reports the code it received.
    for code in [1005, 1006, 1015] {
        let d = decide(&open_ws(|f| {
            f.first_close[S2C] = Some((t(10), Some(code)));
            f.first_fin[S2C] = Some(t(11));
        }));
        assert_eq!(d.verdict, Verdict::ServerCloseError, "{code}");
        assert_eq!(d.client_observed_code, Some(code), "{code}");
    }
}

#[test]
fn an_empty_close_frame_is_clean_and_reported_as_1005() {
    let d = decide(&open_ws(|f| {
        f.first_close[S2C] = Some((t(10), None));
        f.first_close[C2S] = Some((t(11), None));
        f.first_fin[S2C] = Some(t(12));
    }));
    assert_eq!(d.verdict, Verdict::CleanCloseServer);
    assert_eq!(d.client_observed_code, Some(1005));
}

#[test]
fn a_client_error_close_reports_the_servers_answer() {
    // The client closes with 1002 and the server echoes 1002 (RFC 6455 §5.5.1): the client
    // reports the code of the close frame it received.
    let d = decide(&open_ws(|f| {
        f.first_close[C2S] = Some((t(10), Some(1002)));
        f.first_close[S2C] = Some((t(11), Some(1002)));
        f.first_fin[S2C] = Some(t(12));
    }));
    assert_eq!(d.verdict, Verdict::ClientCloseError);
    assert_eq!(d.initiator, Initiator::Client);
    assert_eq!(d.client_observed_code, Some(1002));
}

#[test]
fn a_client_error_close_never_answered_is_1006() {
    // The server never answers and resets: the client's connection ended without a close
    // frame received.
    let d = decide(&open_ws(|f| {
        f.first_close[C2S] = Some((t(10), Some(1008)));
        f.first_rst[S2C] = Some(t(11));
    }));
    assert_eq!(d.verdict, Verdict::ClientCloseError);
    assert_eq!(d.client_observed_code, Some(1006));
}
