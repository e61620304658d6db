//! RTP and RTCP on a media flow (RFC 3550): per-stream statistics (capped at
//! [`MAX_STREAMS`] streams), compound packets and BYE.

use super::dissector::{Dissector, Message};
use super::{push_event, MediaEventKind, MediaFlow};
use teardown_wire::media::demux::Kind;
use teardown_wire::media::rtp::{self, RtcpPacket, RtpHeader};
use teardown_wire::media::stream::RtpStream;

/// RTP streams tracked per flow (a hostile flow cannot create more).
pub const MAX_STREAMS: usize = 64;

/// Reads RTP packets into [`MediaFlow::rtp`], one stream per direction, SSRC and relaying.
#[derive(Default)]
pub(crate) struct Rtp;

impl Dissector for Rtp {
    const KIND: Kind = Kind::Rtp;

    fn probe(bytes: &[u8]) -> bool {
        rtp::probe_rtp(bytes)
    }

    fn on_message<'a>(&mut self, facts: &mut MediaFlow, m: Message<'a>) -> Option<&'a [u8]> {
        if let Some(h) = rtp::parse_rtp(m.bytes) {
            if let Some(stream) = stream_of(facts, &m, &h) {
                let (ts, pt) = (m.ts, h.payload_type);
                stream.push(ts, h.marker, pt, h.seq, h.timestamp, h.payload_len);
            }
        }
        None
    }

    /// The last packet of each stream on the timeline.
    fn finish(&mut self, facts: &mut MediaFlow) {
        let MediaFlow { rtp, events, .. } = facts;
        for (from_a, s) in rtp.iter() {
            let kind = MediaEventKind::RtpLast { ssrc: s.ssrc };
            push_event(events, s.last_ts, *from_a, kind);
        }
    }
}

/// The stream of packet `h`, started here if new; `None` (and counted untracked) beyond
/// [`MAX_STREAMS`].
fn stream_of<'f>(
    facts: &'f mut MediaFlow,
    m: &Message<'_>,
    h: &RtpHeader,
) -> Option<&'f mut RtpStream> {
    let (from_a, relayed) = (m.from_a, m.relayed);
    let found = facts
        .rtp
        .iter()
        .position(|(fa, s)| *fa == from_a && s.ssrc == h.ssrc && s.relayed == relayed);
    let index = match found {
        Some(i) => i,
        None if facts.rtp.len() < MAX_STREAMS => {
            let clock = rtp::static_clock_rate(h.payload_type);
            let (pt, seq, ts) = (h.payload_type, h.seq, h.timestamp);
            let s = RtpStream::new(m.ts, h.ssrc, pt, seq, ts, clock, relayed);
            facts.rtp.push((from_a, s));
            facts.event(m.ts, from_a, MediaEventKind::RtpFirst { ssrc: h.ssrc });
            facts.rtp.len() - 1
        }
        None => {
            facts.rtp_untracked_packets += 1;
            return None;
        }
    };
    Some(&mut facts.rtp[index].1)
}

/// Counts RTCP compound packets (and SRTCP ones) and puts BYE on the timeline.
#[derive(Default)]
pub(crate) struct Rtcp;

impl Dissector for Rtcp {
    const KIND: Kind = Kind::Rtcp;

    fn probe(bytes: &[u8]) -> bool {
        rtp::probe_rtcp(bytes)
    }

    fn on_message<'a>(&mut self, facts: &mut MediaFlow, m: Message<'a>) -> Option<&'a [u8]> {
        let c = rtp::parse_rtcp(m.bytes);
        facts.rtcp_packets += 1;
        if c.encrypted {
            facts.rtcp_encrypted += 1;
        }
        for p in c.packets {
            if let RtcpPacket::Bye { ssrcs, reason } = p {
                let kind = MediaEventKind::RtcpBye { ssrcs, reason };
                facts.event(m.ts, m.from_a, kind);
            }
        }
        None
    }
}
