//! `teardown media`: one row per RTP stream and per STUN/TURN flow, joined or orphan.

use crate::analysis::Analysis;
use crate::columns::{media_flows, media_rows, FlowRow, MediaRow, MEDIA};
use crate::flow::MediaFlow;
use crate::session::JoinRule;
use serde::Serialize;
use std::io::{self, Write};

/// Writes the media table ([`MEDIA`]) as CSV; `raw` keeps capture text as it was.
pub fn write_media_csv(a: &Analysis, raw: bool, out: impl Write) -> io::Result<()> {
    MEDIA.write_csv(&media_rows(&media_flows(a)), raw, out)
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
        .map(|FlowRow { session, flow }| Item {
            session_id: session.map(|s| s.0),
            join_rule: session.and_then(|s| s.1).map(JoinRule::as_str),
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
    for row in media_rows(&media_flows(a)) {
        let sid = row
            .flow()
            .session
            .map_or_else(|| "orphan".into(), |s| s.0.to_string());
        table.add_row(match row {
            MediaRow::Stun(FlowRow { flow, .. }) => {
                let st = &flow.stun;
                let rtt = st
                    .rtt_mean_ms()
                    .map(|m| format!("{m:.3}"))
                    .unwrap_or_default();
                let errs: Vec<String> = st.errors.iter().map(|(c, n)| format!("{c}x{n}")).collect();
                vec![
                    sid,
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
                    st.messages().to_string(),
                    String::new(),
                    String::new(),
                    String::new(),
                    rtt,
                ]
            }
            MediaRow::Rtp(r) => {
                let s = r.stream;
                let (src, dst) = r.ends();
                vec![
                    sid,
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
                ]
            }
        });
    }
    writeln!(out, "{table}")
}
