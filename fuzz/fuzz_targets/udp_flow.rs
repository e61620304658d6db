//! One UDP flow fed arbitrary datagrams: the RFC 7983 demultiplexer, STUN transactions,
//! TURN relaying (ChannelData, Send and Data indications, unwrapped once), DTLS, RTP
//! streams and RTCP, then `finish` and the timeline texts.
//!
//! The input is a list of datagrams, each `[ctrl][length: u16 BE][payload]` (the last one
//! takes what is left), so real flows cut from `samples/media/` seed it as they are. `ctrl`
//! bit 0: sent by the second endpoint; bits 1-2: sent as is, in TURN ChannelData, in a
//! Send indication or in a Data indication; bits 3-7: `n`, the time since the previous
//! datagram is 2^n ns (n = 31: one second back).
//!
//! Beyond "no panic": datagrams are counted once per direction and once or twice per kind
//! (relayed ones also as what they carry); streams, events, alerts and usernames stay
//! within their caps; STUN answers never outnumber requests; each RTP stream's counters
//! agree; memory stays proportional to the input.
#![no_main]

use fuzz_util::check_alloc;
use libfuzzer_sys::fuzz_target;
use std::net::SocketAddr;
use teardown_wire::capture::Datagram;
use teardown_wire::media::demux::{Kind, MAGIC_COOKIE};
use teardown_analysis::flow::UdpFlow;
use teardown_analysis::MAX_TIMELINE_EVENTS;
use teardown_wire::time::Timestamp;

/// A STUN indication (RFC 8489 §5) of `method` with XOR-PEER-ADDRESS and DATA.
fn indication(method: u16, tid: u32, data: &[u8]) -> Vec<u8> {
    let peer = [0, 1, 0x21, 0x12, 0x2b, 0x12, 0xa4, 0x43]; // 10.0.0.1:0 XORed
    let mut body = Vec::new();
    for (t, v) in [(0x0012u16, &peer[..]), (0x0013, data)] {
        body.extend_from_slice(&t.to_be_bytes());
        body.extend_from_slice(&(v.len() as u16).to_be_bytes());
        body.extend_from_slice(v);
        body.resize(body.len().div_ceil(4) * 4, 0);
    }
    let mut m = (method | 0x0010).to_be_bytes().to_vec();
    m.extend_from_slice(&(body.len() as u16).to_be_bytes());
    m.extend_from_slice(&MAGIC_COOKIE.to_be_bytes());
    m.extend_from_slice(&[0; 8]);
    m.extend_from_slice(&tid.to_be_bytes());
    m.extend_from_slice(&body);
    m
}

fn run(data: &[u8]) {
    let a: SocketAddr = "10.0.0.1:5000".parse().unwrap();
    let b: SocketAddr = "10.0.0.2:6000".parse().unwrap();
    let mut rest = data;
    let mut ts = Timestamp(1 << 60);
    let mut flow: Option<UdpFlow> = None;
    let mut datagrams = 0u64;
    let mut wrapped = Vec::new();
    while let Some((&ctrl, tail)) = rest.split_first() {
        let len = match tail {
            [hi, lo, ..] => u16::from_be_bytes([*hi, *lo]) as usize,
            _ => 0,
        };
        let tail = tail.get(2..).unwrap_or(&[]);
        let (payload, next) = tail.split_at(len.min(tail.len()));
        rest = next;
        ts = match ctrl >> 3 {
            31 => Timestamp(ts.0 - 1_000_000_000),
            n => Timestamp(ts.0 + (1 << n)),
        };
        let payload = match (ctrl >> 1) & 3 {
            0 => payload,
            1 => {
                wrapped.clear();
                wrapped.extend_from_slice(&[0x40, 0x01]);
                wrapped.extend_from_slice(&(payload.len() as u16).to_be_bytes());
                wrapped.extend_from_slice(payload);
                &wrapped[..]
            }
            m => {
                wrapped = indication(5 + m as u16, datagrams as u32, payload);
                &wrapped[..]
            }
        };
        let (src, dst) = if ctrl & 1 == 0 { (a, b) } else { (b, a) };
        let d = Datagram {
            ts,
            src,
            dst,
            payload,
            missing: 0,
            file: 0,
            number: datagrams + 1,
        };
        flow.get_or_insert_with(|| UdpFlow::new(&d)).on_datagram(&d);
        datagrams += 1;
    }
    let Some(flow) = flow else { return };
    let f = flow.finish();
    assert_eq!(f.packets[0] + f.packets[1], datagrams);
    let kinds: u64 = f.kinds.values().sum();
    assert!(
        datagrams <= kinds && kinds <= 2 * datagrams,
        "{:?}",
        f.kinds
    );
    assert!(f.rtp.len() <= 64);
    assert!(f.events.len() <= MAX_TIMELINE_EVENTS);
    assert!(f.dtls.alerts.len() <= 16 && f.stun.usernames.len() <= 16);
    let st = &f.stun;
    let answered = st.successes + st.errors.values().sum::<u64>();
    assert!(answered <= st.requests, "{st:?}");
    assert!(st.unanswered <= st.requests && st.rtt_count == st.successes);
    let messages: u64 = st.by_type.values().chain(st.relayed_by_type.values()).sum();
    assert!(st.requests + st.retransmissions <= messages);
    let mut rtp = 0;
    for (_, s) in &f.rtp {
        rtp += s.packets;
        let received = s.expected as i64 - s.lost;
        assert!(received >= 1 && received as u64 <= s.packets, "{s:?}");
        assert!(s.duplicates + s.out_of_order < s.packets);
    }
    assert!(rtp <= f.kinds.get(&Kind::Rtp).copied().unwrap_or(0));
    for e in &f.events {
        let _ = e.kind.to_string();
    }
}

fuzz_target!(|data: &[u8]| {
    check_alloc(data.len(), 64, 64 << 10, || run(data));
});
