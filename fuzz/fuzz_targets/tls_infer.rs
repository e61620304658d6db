//! The inference of the WebSocket layer from TLS record lengths (`tls::infer::infer`) over
//! arbitrary record sequences: any suite code (AEAD, CBC, unknown), TLS 1.2 or 1.3, either
//! side as client, records of any kind, length, side and time (in order or not), FIN/RST
//! times, and a lost record.
//!
//! Beyond "no panic": the result is only `Err(Cipher)` for a suite that is not AEAD and
//! `Err(RecordsLost)` after a loss; every inferred fact comes from a kept record of the
//! side it names; a close's answer comes from the other side; a rejected upgrade has no
//! close; the WebSocket shape implies a request and a response; data records are counted
//! no more than the records pushed.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use teardown_wire::time::Timestamp;
use teardown_wire::tls::crypto::Suite;
use teardown_wire::tls::infer::{
    infer, NotInferred, Params, Record, RecordKind, RecordLog, Seen,
};

#[derive(Arbitrary, Debug)]
struct Input {
    tls13: bool,
    http2: bool,
    cipher: u16,
    client: bool,
    ends: [Option<i32>; 2],
    rsts: [Option<i32>; 2],
    round_trip: i32,
    lost_at: Option<u16>,
    records: Vec<(i32, bool, u8, u16)>,
}

fuzz_target!(|input: Input| {
    let mut log = RecordLog::default();
    let mut lost = false;
    let mut pushed = 0u64;
    for (i, &(ts, side, kind, len)) in input.records.iter().enumerate() {
        if input.lost_at == Some(i as u16) {
            log.lost();
            lost = true;
        }
        let kind = match kind % 3 {
            0 => RecordKind::Handshake,
            1 => RecordKind::Data,
            _ => RecordKind::Alert,
        };
        log.push(Record {
            ts: Timestamp(i64::from(ts)),
            side: usize::from(side),
            kind,
            len: usize::from(len),
        });
        pushed += 1;
    }
    let params = Params {
        version: if input.tls13 { 0x0304 } else { 0x0303 },
        cipher: input.cipher,
        client: usize::from(input.client),
        tcp_end: input.ends.map(|e| e.map(|t| Timestamp(i64::from(t)))),
        tcp_rst: input.rsts.map(|e| e.map(|t| Timestamp(i64::from(t)))),
        round_trip_ns: i64::from(input.round_trip),
        http2: input.http2,
    };
    let kept: Vec<Record> = log.records().copied().collect();
    match infer(&params, &log) {
        Err(NotInferred::Cipher) => assert!(Suite::from_id(input.cipher).is_none()),
        Err(NotInferred::RecordsLost) => assert!(lost),
        Ok(r) => {
            assert!(Suite::from_id(input.cipher).is_some() && !lost);
            let from_log = |s: &Seen| {
                kept.iter()
                    .any(|k| k.side == s.side && k.ts == s.ts && k.len == s.record_len)
            };
            let facts = [r.request, r.response]
                .into_iter()
                .chain(r.close_notify)
                .chain(r.close.iter().flat_map(|c| [Some(c.frame), c.answer]))
                .flatten();
            for s in facts {
                assert!(s.side < 2 && s.plaintext_len <= s.record_len && from_log(&s));
            }
            if let Some(req) = r.request {
                assert_eq!(req.side, params.client);
            }
            if let Some(c) = r.close {
                assert!(c.answer.is_none_or(|a| a.side != c.frame.side));
                assert_ne!(r.accepted, Some(false));
            }
            assert!(!r.websocket || (r.request.is_some() && r.response.is_some()));
            assert!(!(r.websocket && r.http_like));
            assert!(!(r.websocket && input.http2));
            assert!(r.data_records.iter().sum::<u64>() + r.tickets <= pushed);
        }
    }
});
