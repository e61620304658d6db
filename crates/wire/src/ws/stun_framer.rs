//! STUN and TURN ChannelData framed on a TCP stream, once the probe found the magic cookie:
//! RFC 4571 length-prefixed (ICE-TCP, RFC 6544) or back to back (TURN over TCP,
//! RFC 8656 §12.5). Not WebSocket, but media: each message becomes a [`WsEvent::Stun`].

use super::event::{NotFramed, WsEvent};
use crate::tcp::StunFraming;
use crate::time::Timestamp;

/// Cuts one direction into STUN messages; the bytes of an incomplete one are kept.
#[derive(Debug)]
pub(super) struct StunFramer {
    buf: Vec<u8>,
    framing: StunFraming,
}

impl StunFramer {
    /// A framer for a stream the probe found framed this way.
    pub(super) fn new(framing: StunFraming) -> Self {
        StunFramer {
            buf: Vec::new(),
            framing,
        }
    }

    /// Reads in-order bytes that arrived at `ts`: every message they complete is an event.
    pub(super) fn feed(
        &mut self,
        ts: Timestamp,
        data: &[u8],
        out: &mut Vec<WsEvent>,
    ) -> Result<(), NotFramed> {
        let buf = &mut self.buf;
        buf.extend_from_slice(data);
        let mut start = 0;
        let mut broken = false;
        while let Some(next) = next_message(&buf[start..], self.framing) {
            let Ok((skip, len)) = next else {
                broken = true;
                break;
            };
            let Some(msg) = buf.get(start + skip..start + skip + len) else {
                break;
            };
            out.push(WsEvent::Stun {
                ts,
                bytes: msg.to_vec(),
            });
            start += skip + len;
        }
        buf.drain(..start);
        if broken {
            return Err(NotFramed("STUN framing lost on the TCP stream"));
        }
        Ok(())
    }
}

/// The length of the next message at the start of `b`: (bytes to skip before it, its
/// length); `None` while incomplete, `Some(Err)` when the framing is broken.
fn next_message(b: &[u8], framing: StunFraming) -> Option<Result<(usize, usize), ()>> {
    match framing {
        StunFraming::LengthPrefixed => {
            let len = u16::from_be_bytes([*b.first()?, *b.get(1)?]) as usize;
            Some(Ok((2, len)))
        }
        StunFraming::Bare => {
            let (first, len) = (
                *b.first()?,
                u16::from_be_bytes([*b.get(2)?, *b.get(3)?]) as usize,
            );
            match first {
                0x00..=0x3f => Some(Ok((0, 20 + len))),
                // ChannelData over TCP is padded to a multiple of 4 (RFC 8656 §12.5).
                0x40..=0x7f => Some(Ok((0, (4 + len).div_ceil(4) * 4))),
                _ => Some(Err(())),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A STUN binding request with no attributes.
    const BINDING: [u8; 20] = [
        0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,
    ];

    fn messages(out: &[WsEvent]) -> Vec<&[u8]> {
        out.iter()
            .filter_map(|e| match e {
                WsEvent::Stun { bytes, .. } => Some(&bytes[..]),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn length_prefixed_messages_across_segments() {
        let mut f = StunFramer::new(StunFraming::LengthPrefixed);
        let mut stream = vec![0, 20];
        stream.extend_from_slice(&BINDING);
        stream.extend_from_slice(&[0, 20]);
        stream.extend_from_slice(&BINDING);
        let mut out = Vec::new();
        f.feed(Timestamp(0), &stream[..15], &mut out).unwrap();
        assert!(out.is_empty());
        f.feed(Timestamp(1), &stream[15..], &mut out).unwrap();
        assert_eq!(messages(&out), vec![&BINDING[..], &BINDING[..]]);
        assert!(matches!(
            out[0],
            WsEvent::Stun {
                ts: Timestamp(1),
                ..
            }
        ));
    }

    #[test]
    fn bare_channel_data_is_padded_and_a_high_first_byte_breaks_framing() {
        let mut f = StunFramer::new(StunFraming::Bare);
        let mut stream = BINDING.to_vec();
        // ChannelData 0x4000, 1 byte of data, 3 bytes of padding.
        stream.extend_from_slice(&[0x40, 0x00, 0x00, 0x01, 0xaa, 0, 0, 0]);
        let mut out = Vec::new();
        f.feed(Timestamp(0), &stream, &mut out).unwrap();
        assert_eq!(messages(&out).len(), 2);
        assert_eq!(messages(&out)[1], &[0x40, 0x00, 0x00, 0x01, 0xaa, 0, 0, 0]);
        assert!(f.feed(Timestamp(1), &[0x81, 0, 0, 0], &mut out).is_err());
    }
}
