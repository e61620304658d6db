//! One direction of a WebSocket stream: an arbitrary sequence of byte chunks and gaps (some
//! huge) through `StreamDecoder`.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use teardown_wire::time::Timestamp;
use teardown_wire::ws::{StreamDecoder, WsEvent};

#[derive(Arbitrary, Debug)]
enum Op {
    /// Raw bytes.
    Feed(Vec<u8>),
    /// A well-formed frame header (and as much of the payload as `payload` holds).
    Frame {
        first: u8,
        masked: bool,
        len: u16,
        wide: bool,
        payload: Vec<u8>,
    },
    /// A canned upgrade request or 101 response.
    Handshake(bool),
    /// Missing bytes, small.
    SmallGap(u8),
    /// Missing bytes, any length.
    Gap(u64),
    StreamStarted,
    ExpectFrames,
}

const REQUEST: &[u8] = b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";
const RESPONSE: &[u8] = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";

fn frame(first: u8, masked: bool, len: u16, wide: bool, payload: &[u8]) -> Vec<u8> {
    let m = if masked { 0x80 } else { 0 };
    let mut v = vec![first];
    if wide {
        v.push(m | 127);
        v.extend_from_slice(&(len as u64).to_be_bytes());
    } else if len >= 126 {
        v.push(m | 126);
        v.extend_from_slice(&len.to_be_bytes());
    } else {
        v.push(m | len as u8);
    }
    if masked {
        v.extend_from_slice(&[0x37, 0xfa, 0x21, 0x3d]);
    }
    v.extend_from_slice(&payload[..payload.len().min(len as usize)]);
    v
}

/// Checks the events of one call. `budget` counts events allowed so far: a frame takes at
/// least 2 bytes and each call adds at most a few events of its own (gap, resync, head),
/// so over the whole run the decoder cannot emit more events than bytes fed plus a
/// constant per call. (Per call there is no such bound: bytes held back while
/// resynchronising are decoded by a later call.)
fn check(events: &[WsEvent], budget: &mut usize) {
    *budget = budget
        .checked_sub(events.len())
        .unwrap_or_else(|| panic!("{} events over the budget", events.len() - *budget));
    for e in events {
        match e {
            WsEvent::Frame(f) => {
                if let Some(p) = &f.payload {
                    assert!(f.head.opcode.is_control(), "data payload kept");
                    assert!(f.complete);
                    assert_eq!(p.len() as u64, f.head.payload_len.min(125));
                } else {
                    assert!(!f.head.opcode.is_control() || !f.complete);
                }
            }
            WsEvent::Gap { len, .. } => assert!(*len > 0),
            WsEvent::Resynced { skipped, .. } => assert!(*skipped > 0),
            _ => {}
        }
    }
}

fuzz_target!(|ops: Vec<Op>| {
    let mut d = StreamDecoder::default();
    let mut out = Vec::new();
    let mut budget = 0usize;
    for (i, op) in ops.into_iter().enumerate() {
        budget += 4;
        let ts = Timestamp(i as i64);
        out.clear();
        let bytes = match op {
            Op::Feed(b) => b,
            Op::Frame {
                first,
                masked,
                len,
                wide,
                payload,
            } => frame(first, masked, len, wide, &payload),
            Op::Handshake(response) => if response { RESPONSE } else { REQUEST }.to_vec(),
            Op::SmallGap(n) => {
                d.gap(ts, n as u64, &mut out);
                check(&out, &mut budget);
                continue;
            }
            Op::Gap(n) => {
                d.gap(ts, n, &mut out);
                check(&out, &mut budget);
                continue;
            }
            Op::StreamStarted => {
                d.stream_started();
                continue;
            }
            Op::ExpectFrames => {
                d.expect_frames();
                continue;
            }
        };
        budget += bytes.len();
        d.feed(ts, &bytes, &mut out);
        check(&out, &mut budget);
    }
});
