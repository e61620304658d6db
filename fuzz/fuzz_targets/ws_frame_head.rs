//! WebSocket frame headers, close payloads and unmasking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use teardown_wire::ws::{parse_close, parse_head, unmask, HeadParse};

fuzz_target!(|data: &[u8]| {
    if let HeadParse::Complete(h) = parse_head(data) {
        assert!((2..=14).contains(&h.header_len));
        assert!(h.header_len <= data.len());
        let ext = match data[1] & 0x7f {
            126 => 2,
            127 => 8,
            _ => 0,
        };
        let mask = if h.mask.is_some() { 4 } else { 0 };
        assert_eq!(h.header_len, 2 + ext + mask);
        // The header alone is enough, and nothing shorter is.
        assert_eq!(parse_head(&data[..h.header_len]), HeadParse::Complete(h));
        for cut in 0..h.header_len {
            assert!(!matches!(parse_head(&data[..cut]), HeadParse::Complete(_)));
        }
        let _ = h.control_is_valid();
    }

    let close = parse_close(data);
    assert_eq!(close.code.is_some(), data.len() >= 2);

    // Unmasking twice restores the bytes; unmasking in two pieces equals unmasking once.
    if data.len() >= 5 {
        let key = [data[0], data[1], data[2], data[3]];
        let body = &data[4..];
        let mut once = body.to_vec();
        unmask(&mut once, key, 0);
        let split = body.len() / 3;
        let mut pieces = body.to_vec();
        let (a, b) = pieces.split_at_mut(split);
        unmask(a, key, 0);
        unmask(b, key, split as u64);
        assert_eq!(once, pieces);
        unmask(&mut once, key, 0);
        assert_eq!(once, body);
    }
});
