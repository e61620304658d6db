//! pcap/pcapng record reader: any bytes, read to the end, must not panic, and every packet
//! borrows a slice of the input with `orig_len >= data.len()`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use teardown_wire::capture::RecordReader;

fuzz_target!(|data: &[u8]| {
    let Ok(mut reader) = RecordReader::new("fuzz.pcap", 0, data) else {
        return;
    };
    let range = data.as_ptr_range();
    let mut last_number = 0;
    for p in reader.by_ref() {
        assert!(
            p.orig_len as usize >= p.data.len(),
            "orig_len below captured length"
        );
        assert!(p.data.is_empty() || range.contains(&p.data.as_ptr()));
        assert!(p.number > last_number, "packet numbers must increase");
        last_number = p.number;
    }
    assert!(reader.position() <= data.len() as u64);
    assert!(reader.next().is_none(), "a finished reader stays finished");
});
