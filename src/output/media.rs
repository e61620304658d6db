//! `teardown media`: one row per RTP stream and per STUN/TURN flow, joined or orphan.

use crate::analysis::Analysis;
use crate::columns::round3;
use crate::flow::MediaFlow;
use crate::media::RtpStream;
use crate::session::JoinRule;
use crate::time::Timestamp;
use serde::Serialize;
use std::io::{self, Write};
use std::net::{IpAddr, SocketAddr};

/// One row of the media table. RTP rows fill the stream columns, STUN rows the
/// transaction columns; the others stay empty.
#[derive(Serialize)]
pub struct MediaRow<'a> {
    /// `rtp` or `stun`.
    pub kind: &'static str,
    /// Session it was joined to; empty for an orphan flow.
    pub session_id: Option<u64>,
    /// The rule that joined the flow.
    pub join_rule: Option<&'static str>,
    /// Sender address (RTP), or the flow's first sender (STUN).
    pub src_ip: IpAddr,
    /// Sender port.
    pub src_port: u16,
    /// Receiver address.
    pub dst_ip: IpAddr,
    /// Receiver port.
    pub dst_port: u16,
    /// First packet.
    pub first_ts: Timestamp,
    /// Last packet.
    pub last_ts: Timestamp,
    /// RTP SSRC.
    pub ssrc: Option<u32>,
    /// RTP payload type.
    pub payload_type: Option<u8>,
    /// Clock rate used for jitter.
    pub clock_rate: Option<u32>,
    /// Packets (RTP) or STUN messages.
    pub packets: u64,
    /// RTP packets lost (RFC 3550 A.3).
    pub lost: Option<i64>,
    /// RTP packets expected.
    pub expected: Option<u64>,
    /// RTP duplicates.
    pub duplicates: Option<u64>,
    /// RTP packets out of order.
    pub out_of_order: Option<u64>,
    /// Largest gap between packets, ms (Wireshark's rule: marker packets left out).
    pub max_delta_ms: Option<f64>,
    /// Largest gap between packets, ms, every packet counted.
    pub max_gap_ms: Option<f64>,
    /// Jitter at the end, ms.
    pub jitter_ms: Option<f64>,
    /// Largest jitter, ms.
    pub max_jitter_ms: Option<f64>,
    /// Mean jitter, ms.
    pub mean_jitter_ms: Option<f64>,
    /// Carried through TURN.
    pub relayed: bool,
    /// STUN requests.
    pub stun_requests: Option<u64>,
    /// STUN success responses.
    pub stun_successes: Option<u64>,
    /// STUN error responses as `code:count` pairs.
    pub stun_errors: Option<String>,
    /// STUN requests never answered.
    pub stun_unanswered: Option<u64>,
    /// STUN requests retransmitted.
    pub stun_retransmissions: Option<u64>,
    /// Mean STUN round trip, ms.
    pub stun_rtt_mean_ms: Option<f64>,
    /// Largest STUN round trip, ms.
    pub stun_rtt_max_ms: Option<f64>,
    /// STUN usernames seen.
    pub stun_usernames: Option<&'a str>,
    /// DTLS handshake finished at.
    pub dtls_handshake_done: Option<Timestamp>,
    /// DTLS alerts.
    pub dtls_alerts: Option<usize>,
}

fn rtp_row(
    session: SessionRef,
    flow: &MediaFlow,
    from_a: bool,
    s: &RtpStream,
) -> MediaRow<'static> {
    let (src, dst): (SocketAddr, SocketAddr) = if from_a {
        (flow.a, flow.b)
    } else {
        (flow.b, flow.a)
    };
    MediaRow {
        kind: "rtp",
        session_id: session.map(|s| s.0),
        join_rule: session.and_then(|s| s.1).map(JoinRule::as_str),
        src_ip: src.ip(),
        src_port: src.port(),
        dst_ip: dst.ip(),
        dst_port: dst.port(),
        first_ts: s.first_ts,
        last_ts: s.last_ts,
        ssrc: Some(s.ssrc),
        payload_type: Some(s.payload_type),
        clock_rate: s.clock_rate,
        packets: s.packets,
        lost: Some(s.lost),
        expected: Some(s.expected),
        duplicates: Some(s.duplicates),
        out_of_order: Some(s.out_of_order),
        max_delta_ms: Some(round3(s.max_delta_ms)),
        max_gap_ms: Some(round3(s.max_gap_ms)),
        jitter_ms: s.jitter_ms.map(round3),
        max_jitter_ms: s.max_jitter_ms.map(round3),
        mean_jitter_ms: s.mean_jitter_ms.map(round3),
        relayed: s.relayed,
        stun_requests: None,
        stun_successes: None,
        stun_errors: None,
        stun_unanswered: None,
        stun_retransmissions: None,
        stun_rtt_mean_ms: None,
        stun_rtt_max_ms: None,
        stun_usernames: None,
        dtls_handshake_done: None,
        dtls_alerts: None,
    }
}

fn stun_row<'a>(session: SessionRef, flow: &MediaFlow, usernames: &'a str) -> MediaRow<'a> {
    let st = &flow.stun;
    let errors: Vec<String> = st.errors.iter().map(|(c, n)| format!("{c}:{n}")).collect();
    MediaRow {
        kind: "stun",
        session_id: session.map(|s| s.0),
        join_rule: session.and_then(|s| s.1).map(JoinRule::as_str),
        src_ip: flow.a.ip(),
        src_port: flow.a.port(),
        dst_ip: flow.b.ip(),
        dst_port: flow.b.port(),
        first_ts: flow.first_ts,
        last_ts: flow.last_ts,
        ssrc: None,
        payload_type: None,
        clock_rate: None,
        packets: st.by_type.values().sum(),
        lost: None,
        expected: None,
        duplicates: None,
        out_of_order: None,
        max_delta_ms: None,
        max_gap_ms: None,
        jitter_ms: None,
        max_jitter_ms: None,
        mean_jitter_ms: None,
        relayed: false,
        stun_requests: Some(st.requests),
        stun_successes: Some(st.successes),
        stun_errors: (!errors.is_empty()).then(|| errors.join(" ")),
        stun_unanswered: Some(st.unanswered),
        stun_retransmissions: Some(st.retransmissions),
        stun_rtt_mean_ms: st.rtt_mean_ms().map(round3),
        stun_rtt_max_ms: st.rtt_max().map(round3),
        stun_usernames: (!usernames.is_empty()).then_some(usernames),
        dtls_handshake_done: flow.dtls.handshake_done,
        dtls_alerts: (flow.dtls.records > 0).then_some(flow.dtls.alerts.len()),
    }
}

/// The session a flow was joined to: its id and join rule (`None`: an orphan flow).
pub type SessionRef = Option<(u64, Option<JoinRule>)>;

/// Every media flow with the session it belongs to, in time order.
pub fn media_flows(a: &Analysis) -> Vec<(SessionRef, &MediaFlow)> {
    let mut all: Vec<_> = a
        .sessions
        .iter()
        .flat_map(|s| s.media.iter().map(move |f| (Some((s.id, s.join_rule)), f)))
        .chain(a.orphan_media.iter().map(|f| (None, f)))
        .collect();
    all.sort_by_key(|(_, f)| (f.first_ts, f.a, f.b));
    all
}

/// Writes the media table as CSV.
pub fn write_media_csv(a: &Analysis, out: impl Write) -> io::Result<()> {
    let mut w = csv::Writer::from_writer(out);
    for (session, flow) in media_flows(a) {
        let usernames: Vec<&str> = flow.stun.usernames.iter().map(String::as_str).collect();
        let usernames = usernames.join(" ");
        if !flow.stun.by_type.is_empty() || !flow.stun.relayed_by_type.is_empty() {
            w.serialize(stun_row(session, flow, &usernames))
                .map_err(io::Error::other)?;
        }
        for (from_a, s) in &flow.rtp {
            w.serialize(rtp_row(session, flow, *from_a, s))
                .map_err(io::Error::other)?;
        }
    }
    w.flush()
}

/// Writes the media flows as JSON, each with its session id.
pub fn write_media_json(a: &Analysis, mut out: impl Write) -> io::Result<()> {
    #[derive(Serialize)]
    struct Item<'a> {
        session_id: Option<u64>,
        join_rule: Option<&'static str>,
        #[serde(flatten)]
        flow: &'a MediaFlow,
    }
    let items: Vec<Item<'_>> = media_flows(a)
        .into_iter()
        .map(|(s, flow)| Item {
            session_id: s.map(|s| s.0),
            join_rule: s.and_then(|s| s.1).map(JoinRule::as_str),
            flow,
        })
        .collect();
    serde_json::to_writer_pretty(&mut out, &items).map_err(io::Error::other)?;
    writeln!(out)
}

/// Writes the media table for the terminal.
pub fn write_media_table(a: &Analysis, mut out: impl Write) -> io::Result<()> {
    let mut table = super::new_table();
    table.set_header(vec![
        "session",
        "kind",
        "from",
        "to",
        "ssrc / stun",
        "packets",
        "lost",
        "max gap ms",
        "jitter ms",
        "rtt ms",
    ]);
    for (session, flow) in media_flows(a) {
        let sid = session
            .map(|s| s.0.to_string())
            .unwrap_or_else(|| "orphan".into());
        if !flow.stun.by_type.is_empty() || !flow.stun.relayed_by_type.is_empty() {
            let st = &flow.stun;
            let rtt = st
                .rtt_mean_ms()
                .map(|m| format!("{m:.3}"))
                .unwrap_or_default();
            let errs: Vec<String> = st.errors.iter().map(|(c, n)| format!("{c}x{n}")).collect();
            table.add_row(vec![
                sid.clone(),
                "stun".into(),
                flow.a.to_string(),
                flow.b.to_string(),
                format!(
                    "{} req, {} ok, {} unanswered {}",
                    st.requests,
                    st.successes,
                    st.unanswered,
                    errs.join(" ")
                ),
                st.by_type.values().sum::<u64>().to_string(),
                String::new(),
                String::new(),
                String::new(),
                rtt,
            ]);
        }
        for (from_a, s) in &flow.rtp {
            let (src, dst) = if *from_a {
                (flow.a, flow.b)
            } else {
                (flow.b, flow.a)
            };
            table.add_row(vec![
                sid.clone(),
                if s.relayed {
                    "rtp (relayed)".into()
                } else {
                    "rtp".into()
                },
                src.to_string(),
                dst.to_string(),
                format!("0x{:08x} pt {}", s.ssrc, s.payload_type),
                s.packets.to_string(),
                s.lost.to_string(),
                format!("{:.2}", s.max_gap_ms),
                s.jitter_ms.map(|j| format!("{j:.2}")).unwrap_or_default(),
                String::new(),
            ]);
        }
    }
    writeln!(out, "{table}")
}
