//! The HTTP/1.1 head that opens a direction (RFC 6455 §4: the upgrade request or its
//! response), read to its blank line over any number of segments.
//!
//! A head the strict parser (`httparse`) refuses is still read, line by line
//! ([`parse_request_lenient`]), and said to be malformed; a head longer than
//! [`MAX_HTTP_HEAD`] is read as far as kept and its rest skipped by [`HeadTail`].

use super::http::{
    head_end, parse_request, parse_request_lenient, parse_response, parse_response_lenient,
    HeadResult, UpgradeRequest, UpgradeResponse,
};
use crate::time::Timestamp;

/// The largest HTTP head accepted before the stream is deemed not to be a WebSocket.
pub const MAX_HTTP_HEAD: usize = 64 * 1024;

/// A parsed head.
#[derive(Debug)]
pub(super) enum Head {
    /// What a client sent.
    Request(UpgradeRequest),
    /// What a server answered.
    Response(UpgradeResponse),
}

/// A head read to its end, and what came after it.
#[derive(Debug)]
pub(super) struct ReadHead {
    /// Time of the head's first byte.
    pub(super) ts: Timestamp,
    /// The head.
    pub(super) head: Head,
    /// Why it was read leniently, if it was.
    pub(super) problem: Option<String>,
    /// It goes on past the bytes kept: its rest is to be skipped ([`HeadTail`]).
    pub(super) cut: bool,
    /// Bytes after the head already read (the start of what follows it).
    pub(super) rest: Vec<u8>,
}

/// Reads one head: the bytes are kept until it ends.
#[derive(Debug)]
pub(super) struct HeadReader {
    buf: Vec<u8>,
    /// Time of the first byte.
    ts: Timestamp,
    response: bool,
    /// Why the strict parser refused the head: it is read line by line once it ends.
    refused: Option<String>,
}

impl HeadReader {
    /// A reader for a response head (`response`) or a request head.
    pub(super) fn new(response: bool) -> Self {
        HeadReader {
            buf: Vec::new(),
            ts: Timestamp(0),
            response,
            refused: None,
        }
    }

    /// Reads from `data` (advanced past the bytes taken) what arrived at `ts`; the head
    /// once it ends.
    pub(super) fn feed(&mut self, ts: Timestamp, data: &mut &[u8]) -> Option<ReadHead> {
        if self.buf.is_empty() {
            self.ts = ts;
        }
        let old = self.buf.len();
        let take = data.len().min(MAX_HTTP_HEAD - old);
        // A head ends at a line end: without a `\n` the new bytes cannot complete it, and
        // re-parsing the whole buffer for every tiny segment would cost O(n²) in the
        // head's length.
        let may_complete = data[..take].contains(&b'\n') || old + take >= MAX_HTTP_HEAD;
        self.buf.extend_from_slice(&data[..take]);
        *data = &data[take..];
        if !may_complete {
            return None;
        }
        let (head, n, problem, cut) = self.parse(old)?;
        Some(ReadHead {
            ts: self.ts,
            head,
            problem,
            cut,
            rest: self.buf.split_off(n),
        })
    }

    /// Parses the bytes kept (`old` of them before the last read): the head, its length,
    /// what was wrong with it, and whether it goes on past the bytes kept; `None` while it
    /// has not ended.
    fn parse(&mut self, old: usize) -> Option<(Head, usize, Option<String>, bool)> {
        let buf = &self.buf;
        let parsed = match &self.refused {
            // Refused already: only its end is looked for, in the new bytes.
            Some(why) => HeadResult::Invalid(why.clone()),
            None if self.response => parse_response(buf).map_head(Head::Response),
            None => parse_request(buf).map_head(Head::Request),
        };
        let lenient = |head: &[u8]| {
            if self.response {
                Head::Response(parse_response_lenient(head))
            } else {
                Head::Request(parse_request_lenient(head))
            }
        };
        match parsed {
            HeadResult::Complete(head, n) => Some((head, n, None, false)),
            HeadResult::Partial if buf.len() < MAX_HTTP_HEAD => None,
            HeadResult::Partial => {
                let why = "HTTP head longer than 64 KiB: its first 64 KiB were read";
                Some((lenient(buf), buf.len(), Some(why.to_string()), true))
            }
            HeadResult::Invalid(e) => {
                let from = if self.refused.is_some() {
                    old.saturating_sub(3)
                } else {
                    0
                };
                let why =
                    format!("HTTP head with bytes HTTP does not allow ({e}), read line by line");
                let found = match head_end(&buf[from..]) {
                    Some(end) => Some((lenient(&buf[..from + end]), from + end, Some(why), false)),
                    None if buf.len() >= MAX_HTTP_HEAD => Some((
                        lenient(buf),
                        buf.len(),
                        Some(format!(
                            "{why}; longer than 64 KiB: its first 64 KiB were read"
                        )),
                        true,
                    )),
                    None => None,
                };
                self.refused = Some(e);
                found
            }
        }
    }
}

/// The rest of a head longer than [`MAX_HTTP_HEAD`], skipped to its blank line.
#[derive(Debug, Default)]
pub(super) struct HeadTail {
    /// How far the last bytes went into a blank line (see [`blank_line_step`]).
    matched: u8,
}

impl HeadTail {
    /// Skips `data` (advanced past the bytes skipped) up to the head's end; true once
    /// found.
    pub(super) fn skip(&mut self, data: &mut &[u8]) -> bool {
        let mut m = self.matched;
        let end = data.iter().position(|&c| {
            m = blank_line_step(m, c);
            m == BLANK_LINE_END
        });
        self.matched = m;
        match end {
            Some(i) => {
                *data = &data[i + 1..];
                true
            }
            None => {
                *data = &[];
                false
            }
        }
    }
}

/// [`blank_line_step`] found the blank line that ends a head.
const BLANK_LINE_END: u8 = 4;

/// One byte of the search for a head's blank line (`\r\n\r\n`, `\n\n` or `\r\n\n`, as
/// [`head_end`] finds it), from `m`: 0 nothing, 1 after `\r`, 2 after a line end, 3 after
/// a line end and `\r`, [`BLANK_LINE_END`] found.
fn blank_line_step(m: u8, c: u8) -> u8 {
    match (m, c) {
        (2 | 3, b'\n') => BLANK_LINE_END,
        (_, b'\n') => 2,
        (2, b'\r') => 3,
        (_, b'\r') => 1,
        _ => 0,
    }
}

trait MapHead<T> {
    fn map_head(self, f: impl FnOnce(T) -> Head) -> HeadResult<Head>;
}

impl<T> MapHead<T> for HeadResult<T> {
    fn map_head(self, f: impl FnOnce(T) -> Head) -> HeadResult<Head> {
        match self {
            HeadResult::Complete(t, n) => HeadResult::Complete(f(t), n),
            HeadResult::Partial => HeadResult::Partial,
            HeadResult::Invalid(e) => HeadResult::Invalid(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn head_tail_finds_the_blank_line_across_segments() {
        let mut t = HeadTail::default();
        let mut a: &[u8] = b"x: y\r\n\r";
        assert!(!t.skip(&mut a));
        assert!(a.is_empty());
        let mut b: &[u8] = b"\n\x81\x00";
        assert!(t.skip(&mut b));
        assert_eq!(b, b"\x81\x00");
    }

    #[test]
    fn refused_head_is_read_line_by_line_to_its_end() {
        let mut r = HeadReader::new(false);
        let mut a: &[u8] = b"GET /ws HTTP/1.1\r\nUpgrade: web\x01socket\r\n";
        assert!(r.feed(Timestamp(3), &mut a).is_none());
        let mut b: &[u8] = b"\r\nrest";
        let read = r.feed(Timestamp(4), &mut b).unwrap();
        assert_eq!(read.ts, Timestamp(3));
        assert!(read.problem.unwrap().contains("read line by line"));
        assert!(!read.cut);
        assert_eq!(read.rest, b"rest");
        assert!(matches!(read.head, Head::Request(_)));
    }
}
