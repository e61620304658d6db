//! permessage-deflate (RFC 7692): inflating compressed text messages to read the SDP in
//! them, with a cap on the output so a small message cannot inflate without bound.

use flate2::{Decompress, FlushDecompress, Status};

/// Most bytes one message may inflate to; beyond this the message is cut and the
/// direction's compression context is given up.
pub const MAX_INFLATED: usize = 1 << 20;

/// One direction's decompression context (RFC 7692 §7.2.2: shared across messages unless
/// "no_context_takeover" was negotiated for that direction).
pub struct Inflater {
    inner: Decompress,
    context_takeover: bool,
    broken: bool,
}

impl Inflater {
    /// A context; `context_takeover` false resets it before every message.
    pub fn new(context_takeover: bool) -> Inflater {
        Inflater {
            inner: Decompress::new(false),
            context_takeover,
            broken: false,
        }
    }

    /// Inflates one whole message. `None` when the context is lost (a message was
    /// missing or cut before this one) or the data is not valid deflate.
    pub fn inflate(&mut self, data: &[u8], complete: bool) -> Option<Vec<u8>> {
        if !self.context_takeover {
            self.inner.reset(false);
            self.broken = false;
        }
        if self.broken || !complete {
            // Without the whole message the shared dictionary is unknown from here on.
            self.broken = true;
            return None;
        }
        // RFC 7692 §7.2.2: append 0x00 0x00 0xff 0xff before inflating.
        let mut input = Vec::with_capacity(data.len() + 4);
        input.extend_from_slice(data);
        input.extend_from_slice(&[0x00, 0x00, 0xff, 0xff]);
        let mut out = Vec::with_capacity((data.len() * 4).min(MAX_INFLATED));
        let start_in = self.inner.total_in();
        loop {
            let consumed = (self.inner.total_in() - start_in) as usize;
            if out.len() >= MAX_INFLATED {
                out.truncate(MAX_INFLATED);
                self.broken = true;
                return Some(out);
            }
            if out.len() == out.capacity() {
                // Exact: the capacity is what bounds decompress_vec's output.
                out.reserve_exact(out.len().clamp(1024, MAX_INFLATED - out.len()));
            }
            match self
                .inner
                .decompress_vec(&input[consumed..], &mut out, FlushDecompress::Sync)
            {
                Ok(Status::StreamEnd) => return Some(out),
                Ok(_)
                    if (self.inner.total_in() - start_in) as usize >= input.len()
                        && out.len() < out.capacity() =>
                {
                    return Some(out)
                }
                Ok(_) => {}
                Err(_) => {
                    self.broken = true;
                    return None;
                }
            }
        }
    }
}

/// Whether a direction keeps its compression context, from the negotiated extension
/// parameters: `client_no_context_takeover` for client frames, `server_...` for server ones.
pub fn keeps_context(extensions: &str, from_client: bool) -> bool {
    let param = if from_client {
        "client_no_context_takeover"
    } else {
        "server_no_context_takeover"
    };
    !extensions.to_ascii_lowercase().contains(param)
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::{Compress, Compression, FlushCompress};

    fn deflate_messages(msgs: &[&[u8]]) -> Vec<Vec<u8>> {
        let mut c = Compress::new(Compression::default(), false);
        msgs.iter()
            .map(|m| {
                let mut out = Vec::with_capacity(m.len() + 64);
                c.compress_vec(m, &mut out, FlushCompress::Sync).unwrap();
                assert!(out.ends_with(&[0, 0, 0xff, 0xff]));
                out.truncate(out.len() - 4);
                out
            })
            .collect()
    }

    #[test]
    fn context_takeover_across_messages() {
        let msgs = deflate_messages(&[
            b"a=ice-ufrag:abcd a=ice-ufrag:abcd",
            b"a=ice-ufrag:abcd again",
        ]);
        let mut inf = Inflater::new(true);
        assert_eq!(
            inf.inflate(&msgs[0], true).unwrap(),
            b"a=ice-ufrag:abcd a=ice-ufrag:abcd"
        );
        assert_eq!(
            inf.inflate(&msgs[1], true).unwrap(),
            b"a=ice-ufrag:abcd again"
        );
    }

    #[test]
    fn a_lost_message_breaks_the_context() {
        let msgs = deflate_messages(&[b"first", b"second"]);
        let mut inf = Inflater::new(true);
        assert_eq!(inf.inflate(&msgs[0], false), None);
        assert_eq!(inf.inflate(&msgs[1], true), None);
    }

    #[test]
    fn a_bomb_is_capped() {
        let zeros = vec![0u8; 4 * MAX_INFLATED];
        let msgs = deflate_messages(&[&zeros]);
        assert!(msgs[0].len() < 16 * 1024);
        let out = Inflater::new(true).inflate(&msgs[0], true).unwrap();
        assert_eq!(out.len(), MAX_INFLATED);
    }

    #[test]
    fn parameters() {
        assert!(!keeps_context(
            "permessage-deflate; client_no_context_takeover",
            true
        ));
        assert!(keeps_context(
            "permessage-deflate; client_no_context_takeover",
            false
        ));
    }
}
