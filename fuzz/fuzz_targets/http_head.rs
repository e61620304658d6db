//! HTTP upgrade request and response heads (httparse underneath).
#![no_main]

use libfuzzer_sys::fuzz_target;
use teardown_wire::ws::{accept_key, parse_request, parse_response, HeadResult};

fuzz_target!(|data: &[u8]| {
    if let HeadResult::Complete(req, n) = parse_request(data) {
        assert!(n <= data.len());
        // The head alone parses to the same thing.
        assert_eq!(
            parse_request(&data[..n]),
            HeadResult::Complete(req.clone(), n)
        );
        if let Some(key) = &req.key {
            let _ = accept_key(key);
        }
    }
    if let HeadResult::Complete(resp, n) = parse_response(data) {
        assert!(n <= data.len());
        assert_eq!(
            parse_response(&data[..n]),
            HeadResult::Complete(resp.clone(), n)
        );
        let _ = resp.permessage_deflate();
    }
});
