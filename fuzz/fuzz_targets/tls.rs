//! One TLS connection (`tls::TlsConnection::deliver`), both directions fed arbitrary
//! record streams and gaps, without keys or with the key log of the real `wss://` samples
//! (`samples/tls/wss12.keylog`, `wss13.keylog`), so that the seeds, cut from those
//! captures, decrypt and the fuzzer can drop, repeat, reorder and damage real records. The
//! plaintext goes on to a `ws::StreamDecoder` per direction, as in `session::connection`.
//!
//! The input is `[keys][chunk]...`, each chunk `[ctrl][length: u16 BE][payload]` (the last
//! one takes what is left). `keys` & 3: 0 no key log, 1 the TLS 1.2 one, 2 the TLS 1.3
//! one, 3 both. `ctrl` bit 0: the side (0 sent first, the client in the seeds); bit 1: a
//! gap of `length << (ctrl >> 2)` bytes instead of data (so any size up to 2^63);
//! bit 2 of `keys`: every data chunk is also delivered a second time, cut into 1-7 byte
//! pieces, to a second connection (its events and plaintext must be the same while the
//! record framing holds).
//!
//! Beyond "no panic": no plaintext without keys; the plaintext of a direction (data and
//! holes) is no more than its ciphertext plus one record; events stay within the bytes
//! fed; the outcome is consistent (decrypted implies keys found, unopened records at most
//! the records); the record-length inference runs on what was kept; memory stays
//! proportional to the input.
#![no_main]

use fuzz_util::check_alloc;
use libfuzzer_sys::fuzz_target;
use std::sync::{Arc, LazyLock};
use teardown_wire::diag::Diagnostics;
use teardown_wire::tcp::Delivery;
use teardown_wire::time::Timestamp;
use teardown_wire::tls::record::{HEADER_LEN, MAX_BODY};
use teardown_wire::tls::{KeyLog, TlsConnection, TlsEvent};
use teardown_wire::ws::StreamDecoder;

const KEYLOG12: &str = include_str!("../../samples/tls/wss12.keylog");
const KEYLOG13: &str = include_str!("../../samples/tls/wss13.keylog");

static KEYLOGS: LazyLock<[Arc<KeyLog>; 3]> = LazyLock::new(|| {
    let mut d = Diagnostics::default();
    let both = format!("{KEYLOG12}\n{KEYLOG13}");
    [KEYLOG12, KEYLOG13, &both].map(|t| Arc::new(KeyLog::parse(t, "fuzz.keylog", &mut d)))
});

/// One connection and what came out of it.
struct Run {
    tls: TlsConnection,
    decoders: [StreamDecoder; 2],
    events: Vec<TlsEvent>,
    /// Plaintext bytes and plaintext holes, per side.
    plain: [u64; 2],
    plain_gaps: [u64; 2],
    /// The plaintext itself, per side (for the comparison of cut and whole deliveries).
    text: [Vec<u8>; 2],
    keys: bool,
}

impl Run {
    fn new(keylog: Option<Arc<KeyLog>>) -> Run {
        Run {
            keys: keylog.is_some(),
            tls: TlsConnection::new(keylog),
            decoders: Default::default(),
            events: Vec::new(),
            plain: [0; 2],
            plain_gaps: [0; 2],
            text: Default::default(),
        }
    }

    fn deliver(&mut self, d: usize, dl: Delivery<'_>) {
        let Run {
            tls,
            decoders,
            events,
            plain,
            plain_gaps,
            text,
            keys,
        } = self;
        let mut ws = Vec::new();
        tls.deliver(d, dl, events, &mut |p| {
            assert!(*keys, "plaintext without a key log");
            match p {
                Delivery::Data { ts, bytes } => {
                    plain[d] += bytes.len() as u64;
                    if text[d].len() < 1 << 16 {
                        text[d].extend_from_slice(bytes);
                    }
                    decoders[d].feed(ts, bytes, &mut ws);
                }
                Delivery::Gap { ts, len } => {
                    plain_gaps[d] = plain_gaps[d].saturating_add(len);
                    decoders[d].gap(ts, len, &mut ws);
                }
            }
            ws.clear();
        });
    }
}

fn run(data: &[u8]) {
    let Some((&keys, mut rest)) = data.split_first() else {
        return;
    };
    let keylog = match keys & 3 {
        0 => None,
        k => Some(KEYLOGS[k as usize - 1].clone()),
    };
    let cut = keys & 4 != 0;
    let mut a = Run::new(keylog.clone());
    let mut b = cut.then(|| Run::new(keylog));
    let (mut fed, mut gaps) = ([0u64; 2], [0u64; 2]);
    let mut calls = 0u64;
    let mut i = 0i64;
    while let Some((&ctrl, tail)) = rest.split_first() {
        let len = match tail {
            [hi, lo, ..] => u16::from_be_bytes([*hi, *lo]) as usize,
            _ => 0,
        };
        let tail = tail.get(2..).unwrap_or(&[]);
        let d = usize::from(ctrl & 1);
        let ts = Timestamp(i);
        i += 1;
        calls += 1;
        if ctrl & 2 != 0 {
            rest = tail;
            let len = (len as u64).saturating_mul(1 << (ctrl >> 2));
            gaps[d] = gaps[d].saturating_add(len);
            a.deliver(d, Delivery::Gap { ts, len });
            if let Some(b) = &mut b {
                b.deliver(d, Delivery::Gap { ts, len });
            }
            continue;
        }
        let (bytes, next) = tail.split_at(len.min(tail.len()));
        rest = next;
        fed[d] += bytes.len() as u64;
        a.deliver(d, Delivery::Data { ts, bytes });
        if let Some(b) = &mut b {
            let mut piece = bytes;
            let mut k = 0;
            while !piece.is_empty() {
                let (p, r) = piece.split_at((1 + k % 7).min(piece.len()));
                b.deliver(d, Delivery::Data { ts, bytes: p });
                piece = r;
                k += 1;
            }
        }
    }

    for d in 0..2 {
        // Data records never yield more plaintext than their ciphertext; a record lost
        // to a gap counts for its declared length, at most one record beyond the bytes.
        let cipher = fed[d].saturating_add(gaps[d]);
        let out = a.plain[d].saturating_add(a.plain_gaps[d]);
        assert!(
            out <= cipher.saturating_add((HEADER_LEN + MAX_BODY) as u64),
            "side {d}: {out} plaintext bytes from {cipher} ciphertext bytes"
        );
    }
    let total: u64 = fed.iter().sum();
    assert!(
        a.events.len() as u64 <= total / HEADER_LEN as u64 + 4 * calls,
        "{} events from {total} bytes in {calls} deliveries",
        a.events.len()
    );
    let o = a.tls.outcome();
    let s = a.tls.summary();
    assert!(!o.decrypted || s.keys_found);
    assert!(s.decrypted == o.decrypted);
    assert!(a.keys || !s.keys_found);
    assert!(s.unopened_records <= total / (HEADER_LEN as u64));
    if let Some(ms) = s.handshake_ms {
        assert!(ms.is_finite());
    }
    assert!(o.client.is_none_or(|c| c < 2));
    // The inference over the records kept without keys (tls_infer fuzzes it alone).
    if let Some(Ok(inf)) = a.tls.infer([None, None], [None, None], 0) {
        assert!(o.handshake_done && inf.close.is_none_or(|c| c.frame.side < 2));
    }
    if o.handshake_done {
        assert!(a
            .events
            .iter()
            .any(|e| matches!(e, TlsEvent::HandshakeDone { .. })));
    }

    if let Some(b) = b {
        // Cutting the deliveries changes nothing while the framing holds (searching for a
        // header after the framing was lost may end at a delivery's end, so it can differ).
        let lost = |r: &Run| {
            r.events.iter().any(
                |e| matches!(e, TlsEvent::Warning { message, .. } if message.contains("framing")),
            )
        };
        if !lost(&a) && !lost(&b) {
            assert_eq!(a.events, b.events, "events differ when cut");
            assert_eq!(a.text, b.text, "plaintext differs when cut");
            assert_eq!(a.plain_gaps, b.plain_gaps);
            assert_eq!(a.tls.outcome(), b.tls.outcome());
            assert_eq!(a.tls.summary(), b.tls.summary());
        }
    }
}

fuzz_target!(|data: &[u8]| {
    LazyLock::force(&KEYLOGS);
    check_alloc(data.len(), 16, 256 << 10, || run(data));
});
