//! STUN/TURN messages and their attributes, TURN ChannelData, and STUN framed on a TCP
//! stream (RFC 4571 length prefix or bare, as `ws::StreamDecoder` recognises it).
//!
//! Beyond "no panic": what `probe` and `probe_channel_data` claim, the parsers read; a
//! parsed message depends only on its header and declared length
//! (trailing bytes change nothing); the DATA attribute and ChannelData payloads are views
//! into the message; text attributes cost at most the bytes they came from (lossy UTF-8
//! can triple them); a TCP stream costs at most an event per two bytes, gives the same
//! STUN messages however its bytes are cut into segments, and those messages add up to no
//! more than the stream.
#![no_main]

use fuzz_util::{check_alloc, lies_in};
use libfuzzer_sys::fuzz_target;
use teardown_wire::media::stun::{self, HEADER_LEN};
use teardown_wire::time::Timestamp;
use teardown_wire::ws::{StreamDecoder, WsEvent};

/// The STUN messages a TCP stream carried, fed in `chunks` (the capture's segments).
fn framed<'a>(chunks: impl Iterator<Item = &'a [u8]>) -> Vec<Vec<u8>> {
    let mut d = StreamDecoder::default();
    d.stream_started();
    let mut out = Vec::new();
    for c in chunks {
        d.feed(Timestamp(0), c, &mut out);
    }
    out.into_iter()
        .filter_map(|e| match e {
            WsEvent::Stun { bytes, .. } => Some(bytes),
            _ => None,
        })
        .collect()
}

fuzz_target!(|data: &[u8]| {
    let parsed = check_alloc(data.len(), 4, 1024, || stun::parse(data));
    // What the probes claim, the parsers read.
    assert!(!stun::probe(data) || parsed.is_ok(), "probed but not parsed");
    let channel_data = stun::parse_channel_data(data);
    assert!(!stun::probe_channel_data(data) || channel_data.is_some());
    if let Ok(m) = &parsed {
        let end = HEADER_LEN + u16::from_be_bytes([data[2], data[3]]) as usize;
        assert_eq!(
            stun::parse(&data[..end]),
            parsed,
            "bytes past the message mattered"
        );
        if let Some(v) = m.data {
            assert!(
                lies_in(v, &data[HEADER_LEN..end]),
                "DATA outside the message"
            );
        }
        let text = |s: &Option<String>| s.as_ref().map_or(0, String::len);
        let reason = m.error.as_ref().map_or(0, |e| e.1.len());
        assert!(text(&m.username) + text(&m.software) + reason <= 3 * end);
    }
    if let Some((channel, inner)) = channel_data {
        assert!((0x4000..=0x4FFF).contains(&channel));
        assert!(lies_in(inner, &data[4..]));
        assert_eq!(inner.len(), u16::from_be_bytes([data[2], data[3]]) as usize);
    }
    // Each message is an event (even an empty RFC 4571 frame, two bytes of input), and
    // the event list grows by doubling.
    let per_byte = 4 + std::mem::size_of::<WsEvent>();
    let whole = check_alloc(data.len(), per_byte, 4096, || framed(std::iter::once(data)));
    assert!(whole.iter().map(Vec::len).sum::<usize>() <= data.len());
    // Cut into segments of one to four bytes, the decoder must find the same messages.
    let cut = (data.first().copied().unwrap_or(0) % 4 + 1) as usize;
    assert_eq!(
        framed(data.chunks(cut)),
        whole,
        "segmentation changed the messages"
    );
});
