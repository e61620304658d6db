//! DTLS record headers packed in one datagram.
//!
//! Beyond "no panic": a DTLS 1.2 datagram the probe claims gives a record; at most 16 records, each a whole record of the input (a record is
//! kept only when all its bytes are present, so a prefix of the datagram gives a prefix of
//! the records); handshake types and alerts are read only in clear (epoch 0).
#![no_main]

use fuzz_util::check_alloc;
use libfuzzer_sys::fuzz_target;
use teardown_wire::media::dtls::{parse_records, probe, ALERT, HANDSHAKE};

fuzz_target!(|data: &[u8]| {
    let records = check_alloc(data.len(), 2, 1024, || parse_records(data));
    assert!(records.len() <= 16 && records.len() <= data.len() / 13);
    // A DTLS 1.2 header the probe claims is a record (the 1.3 unified header is not read).
    assert!(!probe(data) || data[0] > 25 || !records.is_empty(), "probed, no record");
    for r in &records {
        assert!((20..=63).contains(&r.content_type));
        assert!(r.handshake_type.is_none() || (r.epoch == 0 && r.content_type == HANDSHAKE));
        assert!(r.alert.is_none() || (r.epoch == 0 && r.content_type == ALERT));
    }
    for cut in [data.len() / 2, data.len().saturating_sub(1)] {
        let part = parse_records(&data[..cut]);
        assert!(records.starts_with(&part), "a prefix read differently");
    }
});
