//! SDP (RFC 8866) as signalling carries it: inside JSON strings with escaped line ends, or
//! as SIP bodies (RFC 7118). Only what joins media to a session is kept: ICE credentials
//! (RFC 8839 §5.4), candidates (§5.1), connection addresses and ports, SSRCs (RFC 5576)
//! and payload-type clock rates (`a=rtpmap`).

use super::rtp::clock_rate_of_encoding;
use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddr};

/// Most values of each kind kept per session (hostile signalling cannot grow them).
const MAX_ITEMS: usize = 64;

/// What the SDP of one session said.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct SdpFacts {
    /// ICE usernames fragments (`a=ice-ufrag`), both sides.
    pub ufrags: BTreeSet<String>,
    /// Candidate transport addresses (`a=candidate`).
    pub candidates: BTreeSet<SocketAddr>,
    /// `c=` address with each `m=` port.
    pub media_addrs: BTreeSet<SocketAddr>,
    /// SSRCs (`a=ssrc`).
    pub ssrcs: BTreeSet<u32>,
    /// Clock rate per payload type (`a=rtpmap`).
    pub clock_rates: BTreeMap<u8, u32>,
    /// SDP bodies seen.
    pub bodies: u32,
}

fn insert<T: Ord>(set: &mut BTreeSet<T>, v: T) {
    if set.len() < MAX_ITEMS {
        set.insert(v);
    }
}

/// `ice-char = ALPHA / DIGIT / "+" / "/"` (RFC 8839 §5.4).
fn ice_token(s: &str) -> &str {
    let end = s
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '+' || c == '/'))
        .unwrap_or(s.len());
    &s[..end]
}

impl SdpFacts {
    /// Scans a signalling message for SDP lines; returns true when it held an SDP body.
    pub fn scan(&mut self, text: &str) -> bool {
        if !text.contains("v=0") || !(text.contains("m=") || text.contains("a=ice-ufrag")) {
            return false;
        }
        self.bodies += 1;
        // JSON escapes line ends; SIP and raw SDP use real ones. Normalise both.
        let normalised = text
            .replace("\\r\\n", "\n")
            .replace("\\n", "\n")
            .replace("\\r", "\n");
        let mut conn_addr: Option<IpAddr> = None;
        for raw in normalised.split(['\n', '\r']) {
            let line = raw.trim_start_matches(|c: char| c.is_whitespace() || c == '"');
            if let Some(v) = line.strip_prefix("a=ice-ufrag:") {
                let u = ice_token(v);
                if !u.is_empty() {
                    insert(&mut self.ufrags, u.to_string());
                }
            } else if let Some(v) = line.strip_prefix("a=candidate:") {
                // foundation component transport priority address port "typ" type ...
                let f: Vec<&str> = v.split_whitespace().collect();
                if let (Some(ip), Some(port)) = (
                    f.get(4).and_then(|a| a.parse().ok()),
                    f.get(5).and_then(|p| p.parse().ok()),
                ) {
                    insert(&mut self.candidates, SocketAddr::new(ip, port));
                }
            } else if let Some(v) = line.strip_prefix("c=IN ") {
                conn_addr = v
                    .split_whitespace()
                    .nth(1)
                    .and_then(|a| a.split('/').next())
                    .and_then(|a| a.parse().ok());
            } else if let Some(v) = line.strip_prefix("m=") {
                let port = v
                    .split_whitespace()
                    .nth(1)
                    .and_then(|p| p.parse::<u16>().ok());
                if let (Some(ip), Some(port)) = (conn_addr, port) {
                    // A media address of 0.0.0.0 (ICE-only offers) joins nothing; kept out
                    // here, it cannot take a place under the cap from a real one.
                    if port > 9 && !ip.is_unspecified() {
                        insert(&mut self.media_addrs, SocketAddr::new(ip, port));
                    }
                }
            } else if let Some(v) = line.strip_prefix("a=ssrc:") {
                if let Some(ssrc) = v.split_whitespace().next().and_then(|s| s.parse().ok()) {
                    insert(&mut self.ssrcs, ssrc);
                }
            } else if let Some(v) = line.strip_prefix("a=rtpmap:") {
                // a=rtpmap:<pt> <encoding>/<clock rate>[/<channels>]
                let mut it = v.split_whitespace();
                let pt = it.next().and_then(|p| p.parse::<u8>().ok());
                let mut enc = it.next().unwrap_or("").split('/');
                let name = enc.next().unwrap_or("");
                if name.eq_ignore_ascii_case("telephone-event") {
                    // RFC 4733 §2.2.1: an event's timestamp stays frozen while it lasts, so
                    // its clock says nothing about arrival jitter (Wireshark leaves it out).
                    continue;
                }
                let rate = enc.next().and_then(|r| {
                    r.trim_end_matches(|c: char| !c.is_ascii_digit())
                        .parse()
                        .ok()
                });
                if let (Some(pt), Some(rate)) = (pt, rate.or_else(|| clock_rate_of_encoding(name)))
                {
                    if self.clock_rates.len() < MAX_ITEMS {
                        self.clock_rates.insert(pt, rate);
                    }
                }
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_offer_with_escaped_line_ends() {
        let msg = r#"{"type":"offer","sdp":"v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 40000 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 10.0.0.9\r\na=rtpmap:111 opus/48000/2\r\na=ice-ufrag:F7gI\r\na=ice-pwd:x9cml/YzichV2+XlhiMu8g\r\na=candidate:1 1 udp 2130706431 10.0.0.9 40000 typ host\r\na=ssrc:3735928559 cname:abc\r\n"}"#;
        let mut f = SdpFacts::default();
        assert!(f.scan(msg));
        assert_eq!(f.ufrags.iter().collect::<Vec<_>>(), ["F7gI"]);
        assert!(f.candidates.contains(&"10.0.0.9:40000".parse().unwrap()));
        assert!(f.ssrcs.contains(&3735928559));
        assert_eq!(f.clock_rates.get(&111), Some(&48000));
        // c= comes after m= here, as the media-level line it is: no media address yet.
        assert!(f.media_addrs.is_empty());
    }

    #[test]
    fn unspecified_media_addresses_take_no_place_under_the_cap() {
        let mut sdp = String::from("v=0\r\nc=IN IP4 0.0.0.0\r\n");
        for port in 0..MAX_ITEMS as u16 {
            sdp.push_str(&format!("m=audio {} RTP/AVP 0\r\n", 1000 + port));
        }
        sdp.push_str("c=IN IP4 192.0.2.5\r\nm=audio 5004 RTP/AVP 0\r\n");
        let mut f = SdpFacts::default();
        assert!(f.scan(&sdp));
        let want: Vec<SocketAddr> = vec!["192.0.2.5:5004".parse().unwrap()];
        assert_eq!(f.media_addrs.into_iter().collect::<Vec<_>>(), want);
    }

    #[test]
    fn sip_body_and_non_sdp_text() {
        let sip = "INVITE sip:a@b SIP/2.0\r\nCall-ID: x\r\n\r\nv=0\r\nc=IN IP4 192.0.2.5\r\nm=audio 5004 RTP/AVP 0\r\n";
        let mut f = SdpFacts::default();
        assert!(f.scan(sip));
        assert!(f.media_addrs.contains(&"192.0.2.5:5004".parse().unwrap()));
        assert!(!f.scan(r#"{"type":"ping"}"#));
        assert_eq!(f.bodies, 1);
    }
}
