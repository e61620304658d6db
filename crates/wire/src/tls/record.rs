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
    pub fn feed(&mut self, ts: Timestamp, bytes: &[u8], out: &mut dyn FnMut(RecordEvent<'_>)) {
        // Framing found again in bytes held from earlier deliveries: the rest is read from
        // that buffer, in a loop (each round drops the previous buffer, so neither the
        // stack nor the memory held grows with the number of resynchronisations).
        let mut held = self.feed_slice(ts, bytes, out);
        while let Some((b, from)) = held {
            held = self.feed_slice(ts, &b[from..], out);
        }
    }

    /// [`RecordReader::feed`] on one slice; returns the held bytes to go on with (and
    /// where in them) when the search for a header found one in them.
    fn feed_slice(
        &mut self,
        ts: Timestamp,
        mut bytes: &[u8],
        out: &mut dyn FnMut(RecordEvent<'_>),
    ) -> Option<(Vec<u8>, usize)> {
        while !bytes.is_empty() {
            match self.state {
                State::Done => return None,
                State::Skipping(n) => {
                    let k = n.min(bytes.len());
                    bytes = &bytes[k..];
                    self.state = if n == k {
                        State::Framed
                    } else {
                        State::Skipping(n - k)
                    };
                }
                State::Scanning { scanned } => {
                    // Searched in place when nothing is held; otherwise in the held bytes
                    // followed by the new ones.
                    let held = (!self.buf.is_empty()).then(|| {
                        self.buf.extend_from_slice(bytes);
                        std::mem::take(&mut self.buf)
                    });
                    let b = held.as_deref().unwrap_or(bytes);
                    let Some(i) = find_header(b) else {
                        if held.is_none() {
                            self.buf_ts = ts;
                        }
                        self.keep_scanning(ts, b, scanned, out);
                        return None;
                    };
                    out(RecordEvent::Resynced {
                        ts,
                        skipped: scanned + i as u64,
                    });
                    self.state = State::Framed;
                    match held {
                        Some(h) => return Some((h, i)),
                        None => bytes = &bytes[i..],
                    }
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
                    return None;
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
                        // The held header is searched with the bytes after it (alone, its
                        // five bytes cannot hold a header).
                        out(RecordEvent::FramingLost { ts: self.buf_ts });
                        self.state = State::Scanning { scanned: 0 };
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
        None
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

    /// No header found in `b` (the held bytes and the new ones) after `scanned` bytes
    /// dropped before: keeps the tail that may still hold the start of a header and its
    /// record, or gives up past the scan limit.
    fn keep_scanning(
        &mut self,
        ts: Timestamp,
        b: &[u8],
        scanned: u64,
        out: &mut dyn FnMut(RecordEvent<'_>),
    ) {
        let keep = b.len().min(HEADER_LEN + MAX_BODY + HEADER_LEN);
        let scanned = scanned + (b.len() - keep) as u64;
        if scanned > MAX_SCAN {
            out(RecordEvent::GaveUp { ts });
            self.state = State::Done;
            self.buf = Vec::new();
            return;
        }
        self.state = State::Scanning { scanned };
        let tail = &b[b.len() - keep..];
        self.buf.clear();
        self.buf.extend_from_slice(tail);
    }
}

/// The first offset of `b` holding a header confirmed by the next header, or by ending
/// exactly at the end of what was captured so far.
fn find_header(b: &[u8]) -> Option<usize> {
    (0..b.len()).find(|&i| {
        let h = &b[i..];
        if !plausible_header(h) {
            return false;
        }
        let end = HEADER_LEN + body_len(h);
        end == h.len() || h.get(end..).is_some_and(plausible_header)
    })
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
    fn many_resynchronisations_in_one_delivery_are_read_in_a_loop() {
        // Junk, then (empty record, empty record, one stray byte) many times over, then a
        // record: every stray byte loses the framing and the two headers after it find it
        // again. This once recursed once per round, each round holding a copy of the rest
        // (memory quadratic in the delivery, stack linear).
        const ROUNDS: usize = 5000;
        let mut wire = vec![0u8; 5];
        let mut want = vec!["framing lost", "resynced 5"];
        for _ in 0..ROUNDS {
            wire.extend(rec(22, &[]));
            wire.extend(rec(22, &[]));
            wire.push(0xff);
            want.extend(["rec 22 t0 0", "rec 22 t0 0", "framing lost", "resynced 1"]);
        }
        wire.extend(rec(23, &[7; 3]));
        want.push("rec 23 t0 3");
        let first_difference = |got: &[String], want: &[&str]| {
            (got.len() != want.len() || got.iter().zip(want).any(|(g, w)| g != w)).then(|| {
                let i = got.iter().zip(want).take_while(|(g, w)| g == w).count();
                format!(
                    "{} events, {} wanted; from {i}: {:?}",
                    got.len(),
                    want.len(),
                    &got[i..]
                )
            })
        };
        let mut r = RecordReader::default();
        let got = collect(&mut r, &[Ok(&wire)]);
        assert_eq!(first_difference(&got, &want), None);
        // Held across deliveries, the search reads the held bytes with the new ones.
        let mut r = RecordReader::default();
        let got = collect(&mut r, &[Ok(&wire[..7]), Ok(&wire[7..])]);
        let want: Vec<&str> = want
            .iter()
            .map(|w| w.replace(" t0 ", " t1 "))
            .map(|w| &*w.leak())
            .collect();
        assert_eq!(first_difference(&got, &want), None);
    }

    #[test]
    fn bytes_that_are_not_records_lose_the_framing() {
        let mut r = RecordReader::default();
        let got = collect(&mut r, &[Ok(b"GET / HTTP/1.1\r\n")]);
        assert_eq!(got, ["framing lost"]);
    }
}
