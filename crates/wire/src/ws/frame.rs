//! WebSocket frame headers (RFC 6455 §5.2), parsed by tungstenite, and the few pieces
//! tungstenite keeps private: unmasking and the close payload.

use std::io::Cursor;
use tungstenite::protocol::frame::FrameHeader;

/// A frame opcode as a number (RFC 6455 §5.2); unknown values stay values.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Opcode(pub u8);

impl Opcode {
    /// Continuation frame.
    pub const CONTINUATION: Opcode = Opcode(0x0);
    /// Text frame.
    pub const TEXT: Opcode = Opcode(0x1);
    /// Binary frame.
    pub const BINARY: Opcode = Opcode(0x2);
    /// Connection close.
    pub const CLOSE: Opcode = Opcode(0x8);
    /// Ping.
    pub const PING: Opcode = Opcode(0x9);
    /// Pong.
    pub const PONG: Opcode = Opcode(0xa);

    /// Control frames have the high bit of the opcode set (RFC 6455 §5.5).
    pub fn is_control(self) -> bool {
        self.0 & 0x8 != 0
    }

    /// Opcodes RFC 6455 §5.2 reserves (0x3–0x7, 0xB–0xF).
    pub fn is_reserved(self) -> bool {
        !matches!(self.0, 0x0 | 0x1 | 0x2 | 0x8 | 0x9 | 0xa)
    }

    /// A short name: `text`, `binary`, `continuation`, `close`, `ping`, `pong` or `opN`.
    pub fn name(self) -> String {
        match self.0 {
            0x0 => "continuation".into(),
            0x1 => "text".into(),
            0x2 => "binary".into(),
            0x8 => "close".into(),
            0x9 => "ping".into(),
            0xa => "pong".into(),
            n => format!("op{n}"),
        }
    }
}

/// A parsed frame header.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct FrameHead {
    /// FIN bit: last frame of a message.
    pub fin: bool,
    /// RSV1: set on compressed messages under permessage-deflate (RFC 7692 §6).
    pub rsv1: bool,
    /// RSV2 or RSV3 set (no extension we know uses them).
    pub rsv23: bool,
    /// The opcode.
    pub opcode: Opcode,
    /// Masking key (client-to-server frames carry one, RFC 6455 §5.3).
    pub mask: Option<[u8; 4]>,
    /// Payload length as declared (may be up to 2^63; never trusted for allocation).
    pub payload_len: u64,
    /// Header length in bytes (2 to 14).
    pub header_len: usize,
}

/// Largest payload of a control frame (RFC 6455 §5.5).
pub const MAX_CONTROL_PAYLOAD: usize = 125;

impl FrameHead {
    /// RFC 6455 §5.5: control frames are not fragmented and carry at most
    /// [`MAX_CONTROL_PAYLOAD`] bytes.
    pub fn control_is_valid(&self) -> bool {
        !self.opcode.is_control() || (self.fin && self.payload_len <= MAX_CONTROL_PAYLOAD as u64)
    }
}

/// Outcome of parsing a frame header.
#[derive(Debug, PartialEq, Eq)]
pub enum HeadParse {
    /// A header.
    Complete(FrameHead),
    /// More bytes are needed.
    Incomplete,
}

/// Parses the frame header at the start of `bytes`. A reserved opcode is kept as it is:
/// the header is laid out as any other, and the frame is a protocol violation to report,
/// not a reason to lose the framing (tungstenite refuses it, so it parses a copy with the
/// binary opcode).
pub fn parse_head(bytes: &[u8]) -> HeadParse {
    let Some(&first) = bytes.first() else {
        return HeadParse::Incomplete;
    };
    let opcode = Opcode(first & 0x0f);
    let mut copy = [0u8; 14];
    let bytes = if opcode.is_reserved() {
        let n = bytes.len().min(copy.len());
        copy[..n].copy_from_slice(&bytes[..n]);
        copy[0] = (first & 0xf0) | Opcode::BINARY.0;
        &copy[..n]
    } else {
        bytes
    };
    let mut cursor = Cursor::new(bytes);
    match FrameHeader::parse(&mut cursor) {
        Ok(Some((h, len))) => HeadParse::Complete(FrameHead {
            fin: h.is_final,
            rsv1: h.rsv1,
            rsv23: h.rsv2 || h.rsv3,
            opcode,
            mask: h.mask,
            payload_len: len,
            header_len: cursor.position() as usize,
        }),
        // A slice cursor fails only by running out of bytes; the opcode was made valid.
        Ok(None) | Err(_) => HeadParse::Incomplete,
    }
}

/// Unmasks `data` in place; `offset` is the position of `data[0]` within the payload
/// (RFC 6455 §5.3: octet i is XORed with mask[i mod 4]).
pub fn unmask(data: &mut [u8], mask: [u8; 4], offset: u64) {
    for (i, b) in data.iter_mut().enumerate() {
        *b ^= mask[((offset + i as u64) % 4) as usize];
    }
}

/// The body of a close frame (RFC 6455 §5.5.1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CloseFrame {
    /// Status code; `None` for an empty close frame (the receiver reports 1005).
    pub code: Option<u16>,
    /// UTF-8 reason (lossy when invalid).
    pub reason: String,
}

/// Parses a close frame's (unmasked) payload. A 1-byte payload is invalid; it is kept as
/// "no code" with the reason saying so.
pub fn parse_close(payload: &[u8]) -> CloseFrame {
    match payload {
        [] => CloseFrame {
            code: None,
            reason: String::new(),
        },
        [_] => CloseFrame {
            code: None,
            reason: "(invalid 1-byte close payload)".into(),
        },
        [a, b, rest @ ..] => CloseFrame {
            code: Some(u16::from_be_bytes([*a, *b])),
            reason: String::from_utf8_lossy(rest).into_owned(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6455 §5.7: a masked "Hello" from the client.
    const MASKED_HELLO: [u8; 11] = [
        0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
    ];

    #[test]
    fn rfc_masked_text_frame() {
        let HeadParse::Complete(h) = parse_head(&MASKED_HELLO) else {
            panic!()
        };
        assert!(h.fin);
        assert_eq!(h.opcode, Opcode::TEXT);
        assert_eq!(h.payload_len, 5);
        assert_eq!(h.header_len, 6);
        let mut p = MASKED_HELLO[6..].to_vec();
        unmask(&mut p, h.mask.unwrap(), 0);
        assert_eq!(p, b"Hello");
    }

    #[test]
    fn rfc_64bit_length_and_incomplete() {
        // RFC 6455 §5.7: 64 KiB binary message in a single unmasked frame.
        let bytes = [0x82, 0x7f, 0, 0, 0, 0, 0, 1, 0, 0];
        let HeadParse::Complete(h) = parse_head(&bytes) else {
            panic!()
        };
        assert_eq!(h.payload_len, 65536);
        assert_eq!(h.header_len, 10);
        assert_eq!(parse_head(&bytes[..5]), HeadParse::Incomplete);
    }

    #[test]
    fn hostile_length_is_just_a_number() {
        let bytes = [0x82, 0x7f, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff];
        let HeadParse::Complete(h) = parse_head(&bytes) else {
            panic!()
        };
        assert_eq!(h.payload_len, (1u64 << 63) - 1);
    }

    #[test]
    fn reserved_opcode_is_kept_with_its_length() {
        let HeadParse::Complete(h) = parse_head(&[0x8b, 0x7e, 0x01, 0x00]) else {
            panic!()
        };
        assert_eq!(
            (h.opcode, h.payload_len, h.header_len),
            (Opcode(0xb), 256, 4)
        );
        assert!(h.opcode.is_reserved() && h.opcode.is_control());
        assert_eq!(parse_head(&[0x83]), HeadParse::Incomplete);
    }

    #[test]
    fn close_payloads() {
        assert_eq!(
            parse_close(&[0x03, 0xf3, b'b', b'y', b'e']),
            CloseFrame {
                code: Some(1011),
                reason: "bye".into()
            }
        );
        assert_eq!(parse_close(&[]).code, None);
        assert_eq!(parse_close(&[1]).code, None);
    }

    #[test]
    fn unmask_continues_at_offset() {
        let mask = [1, 2, 3, 4];
        let mut whole = *b"abcdefg";
        unmask(&mut whole, mask, 0);
        let mut tail = *b"defg";
        unmask(&mut tail, mask, 3);
        assert_eq!(&whole[3..], &tail);
    }
}
