//! The TLS record layer over one reassembled direction (RFC 8446 §5.1, RFC 5246 §6.2):
//! 5-byte headers (content type, version, length), records split across segments and
//! several per segment. A gap inside a record's body loses that one record and keeps the
//! framing (its length is known); a gap over a header loses the framing, and the reader
//! scans for a header confirmed by the one after it (or by ending exactly where the
//! captured bytes end), or gives up on the direction.

use crate::time::Timestamp;

/// Record header length.
pub const HEADER_LEN: usize = 5;
/// Largest record body: TLSCiphertext of TLS 1.2 (2^14 + 2048, RFC 5246 §6.2.3); TLS 1.3
/// allows less (2^14 + 256, RFC 8446 §5.2).
pub const MAX_BODY: usize = (1 << 14) + 2048;
/// Bytes scanned for a header after the framing was lost before giving up.
const MAX_SCAN: u64 = 1 << 20;

/// Content type: change_cipher_spec.
pub const CHANGE_CIPHER_SPEC: u8 = 20;
/// Content type: alert.
pub const ALERT: u8 = 21;
/// Content type: handshake.
pub const HANDSHAKE: u8 = 22;
/// Content type: application_data.
pub const APPLICATION_DATA: u8 = 23;

/// What the reader found.
#[derive(Debug, PartialEq, Eq)]
pub enum RecordEvent<'a> {
    /// A whole record.
    Record {
        /// Capture time of the packet that carried its first byte.
        ts: Timestamp,
        /// The header as on the wire.
        header: [u8; HEADER_LEN],
        /// The body.
        body: &'a [u8],
    },
    /// One record lost to a capture gap; the framing is kept.
    RecordLost {
        /// When.
        ts: Timestamp,
        /// Its declared body length.
        body_len: usize,
    },
    /// The framing was lost (a gap over a header, or bytes that are not a record).
    FramingLost {
        /// When.
        ts: Timestamp,
    },
    /// Framing found again after `skipped` bytes.
    Resynced {
        /// When.
        ts: Timestamp,
        /// Bytes that could not be framed.
        skipped: u64,
    },
    /// Nothing plausible within the scan limit: the rest of the direction is not read.
    GaveUp {
        /// When.
        ts: Timestamp,
    },
}

/// A plausible record header: a known content type, version 3.x, a length within limits.
pub fn plausible_header(h: &[u8]) -> bool {
    h.len() >= HEADER_LEN
        && (CHANGE_CIPHER_SPEC..=APPLICATION_DATA).contains(&h[0])
        && h[1] == 3
        && h[2] <= 4
        && usize::from(u16::from_be_bytes([h[3], h[4]])) <= MAX_BODY
}

fn body_len(h: &[u8]) -> usize {
    usize::from(u16::from_be_bytes([h[3], h[4]]))
}

#[derive(Debug, PartialEq, Eq)]
enum State {
    /// At a record boundary or inside a record held in `buf`.
    Framed,
    /// Inside a record lost to a gap: skip this many bytes, then framed again.
    Skipping(usize),
    /// Looking for a header; `scanned` bytes so far.
    Scanning { scanned: u64 },
    /// Gave up.
    Done,
}

/// Reads the records of one direction.
#[derive(Debug)]
pub struct RecordReader {
    state: State,
    /// A partial record (header and body so far), or bytes held while scanning.
    buf: Vec<u8>,
    /// Capture time of `buf`'s first byte.
    buf_ts: Timestamp,
}

impl Default for RecordReader {
    fn default() -> Self {
        RecordReader {
            state: State::Framed,
            buf: Vec::new(),
            buf_ts: Timestamp(0),
        }
    }
}

impl RecordReader {
    /// Reads bytes delivered in order; whole records go to `out` (borrowed from `bytes`
    /// when a record lies in one delivery, from the reader's buffer otherwise).
    pub fn feed(&mut self, ts: Timestamp, mut bytes: &[u8], out: &mut dyn FnMut(RecordEvent<'_>)) {
        while !bytes.is_empty() {
            match self.state {
                State::Done => return,
                State::Skipping(n) => {
                    let k = n.min(bytes.len());
                    bytes = &bytes[k..];
                    self.state = if n == k {
                        State::Framed
                    } else {
                        State::Skipping(n - k)
                    };
                }
                State::Scanning { .. } => {
                    self.scan(ts, bytes, out);
                    return;
                }
                State::Framed if self.buf.is_empty() => {
                    if bytes.len() >= HEADER_LEN {
                        if !plausible_header(bytes) {
                            out(RecordEvent::FramingLost { ts });
                            self.state = State::Scanning { scanned: 0 };
                            continue;
                        }
                        let end = HEADER_LEN + body_len(bytes);
                        if bytes.len() >= end {
                            let header = header_of(bytes);
                            out(RecordEvent::Record {
                                ts,
                                header,
                                body: &bytes[HEADER_LEN..end],
                            });
                            bytes = &bytes[end..];
                            continue;
                        }
                    }
                    self.buf.extend_from_slice(bytes);
                    self.buf_ts = ts;
                    return;
                }
                State::Framed => {
                    let want = if self.buf.len() < HEADER_LEN {
                        HEADER_LEN
                    } else {
                        HEADER_LEN + body_len(&self.buf)
                    };
                    let k = (want - self.buf.len()).min(bytes.len());
                    self.buf.extend_from_slice(&bytes[..k]);
                    bytes = &bytes[k..];
                    if self.buf.len() == HEADER_LEN && !plausible_header(&self.buf) {
                        out(RecordEvent::FramingLost { ts: self.buf_ts });
                        let held = std::mem::take(&mut self.buf);
                        self.state = State::Scanning { scanned: 0 };
                        self.scan(self.buf_ts, &held, out);
                        continue;
                    }
                    if self.buf.len() >= HEADER_LEN
                        && self.buf.len() == HEADER_LEN + body_len(&self.buf)
                    {
                        let header = header_of(&self.buf);
                        out(RecordEvent::Record {
                            ts: self.buf_ts,
                            header,
                            body: &self.buf[HEADER_LEN..],
                        });
                        self.buf.clear();
                    }
                }
            }
        }
    }

    /// Bytes of this direction missing from the capture.
    pub fn gap(&mut self, ts: Timestamp, len: u64, out: &mut dyn FnMut(RecordEvent<'_>)) {
        match self.state {
            State::Done => {}
            State::Scanning { .. } => {
                self.buf.clear();
            }
            State::Skipping(n) if len < n as u64 => self.state = State::Skipping(n - len as usize),
            State::Skipping(n) if len == n as u64 => self.state = State::Framed,
            State::Framed if self.buf.len() >= HEADER_LEN => {
                let blen = body_len(&self.buf);
                let rest = (HEADER_LEN + blen - self.buf.len()) as u64;
                self.buf.clear();
                out(RecordEvent::RecordLost { ts, body_len: blen });
                if len < rest {
                    self.state = State::Skipping((rest - len) as usize);
                } else if len > rest {
                    self.lose_framing(ts, out);
                }
            }
            _ => self.lose_framing(ts, out),
        }
    }

    fn lose_framing(&mut self, ts: Timestamp, out: &mut dyn FnMut(RecordEvent<'_>)) {
        self.buf.clear();
        out(RecordEvent::FramingLost { ts });
        self.state = State::Scanning { scanned: 0 };
    }

    /// Scans held and new bytes for a header confirmed by the next header, or by ending
    /// exactly at the end of what was captured so far.
    fn scan(&mut self, ts: Timestamp, bytes: &[u8], out: &mut dyn FnMut(RecordEvent<'_>)) {
        let State::Scanning { scanned } = self.state else {
            return;
        };
        if self.buf.is_empty() {
            self.buf_ts = ts;
        }
        self.buf.extend_from_slice(bytes);
        let b = std::mem::take(&mut self.buf);
        let found = (0..b.len()).find(|&i| {
            let h = &b[i..];
            if !plausible_header(h) {
                return false;
            }
            let end = HEADER_LEN + body_len(h);
            end == h.len() || h.get(end..).is_some_and(plausible_header)
        });
        match found {
            Some(i) => {
                out(RecordEvent::Resynced {
                    ts,
                    skipped: scanned + i as u64,
                });
                self.state = State::Framed;
                self.feed(ts, &b[i..], out);
            }
            None => {
                // Keep the tail that may still hold the start of a header and its record.
                let keep = b.len().min(HEADER_LEN + MAX_BODY + HEADER_LEN);
                let dropped = (b.len() - keep) as u64;
                let scanned = scanned + dropped;
                if scanned > MAX_SCAN {
                    out(RecordEvent::GaveUp { ts });
                    self.state = State::Done;
                    return;
                }
                self.state = State::Scanning { scanned };
                self.buf = b[b.len() - keep..].to_vec();
            }
        }
    }
}

fn header_of(b: &[u8]) -> [u8; HEADER_LEN] {
    [b[0], b[1], b[2], b[3], b[4]]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(t: u8, body: &[u8]) -> Vec<u8> {
        let mut v = vec![t, 3, 3];
        v.extend_from_slice(&(body.len() as u16).to_be_bytes());
        v.extend_from_slice(body);
        v
    }

    fn collect(r: &mut RecordReader, parts: &[Result<&[u8], u64>]) -> Vec<String> {
        let mut got = Vec::new();
        for (i, p) in parts.iter().enumerate() {
            let ts = Timestamp(i as i64);
            let mut f = |e: RecordEvent<'_>| {
                got.push(match e {
                    RecordEvent::Record { ts, header, body } => {
                        format!("rec {} t{} {}", header[0], ts.0, body.len())
                    }
                    RecordEvent::RecordLost { body_len, .. } => format!("lost {body_len}"),
                    RecordEvent::FramingLost { .. } => "framing lost".into(),
                    RecordEvent::Resynced { skipped, .. } => format!("resynced {skipped}"),
                    RecordEvent::GaveUp { .. } => "gave up".into(),
                })
            };
            match p {
                Ok(b) => r.feed(ts, b, &mut f),
                Err(n) => r.gap(ts, *n, &mut f),
            }
        }
        got
    }

    #[test]
    fn records_split_across_segments_and_packed_in_one() {
        let mut wire = rec(22, &[1; 40]);
        wire.extend(rec(23, &[2; 30]));
        wire.extend(rec(21, &[3; 2]));
        let mut r = RecordReader::default();
        let got = collect(&mut r, &[Ok(&wire[..3]), Ok(&wire[3..50]), Ok(&wire[50..])]);
        assert_eq!(got, ["rec 22 t0 40", "rec 23 t1 30", "rec 21 t2 2"]);
    }

    #[test]
    fn gap_inside_a_body_loses_one_record_and_keeps_framing() {
        let a = rec(23, &[1; 100]);
        let b = rec(23, &[2; 10]);
        let mut r = RecordReader::default();
        let got = collect(&mut r, &[Ok(&a[..20]), Err(30), Ok(&a[50..]), Ok(&b)]);
        assert_eq!(got, ["lost 100", "rec 23 t3 10"]);
    }

    #[test]
    fn gap_over_a_header_resynchronises_on_a_confirmed_header() {
        let a = rec(23, &[1; 100]);
        let mut b = rec(23, &[0x17; 10]);
        b.extend(rec(23, &[2; 20]));
        let mut r = RecordReader::default();
        let got = collect(&mut r, &[Err(105), Ok(&a[..0]), Ok(&[9, 9, 9]), Ok(&b)]);
        assert_eq!(
            got,
            ["framing lost", "resynced 3", "rec 23 t3 10", "rec 23 t3 20"]
        );
    }

    #[test]
    fn bytes_that_are_not_records_lose_the_framing() {
        let mut r = RecordReader::default();
        let got = collect(&mut r, &[Ok(b"GET / HTTP/1.1\r\n")]);
        assert_eq!(got, ["framing lost"]);
    }
}
