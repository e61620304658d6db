//! RFC 6455 violations in one frame: evidence for a post-mortem (a proxy or server bug can
//! be why a connection dropped), reported as warnings named like Zeek's `weird`s.

use super::event::FrameEvent;
use super::frame::{Opcode, MAX_CONTROL_PAYLOAD};
use crate::diag::WarningKind;

/// What is known about a frame's sender when it arrives.
#[derive(Copy, Clone, Debug, Default)]
pub struct FrameContext {
    /// True when the client sent it, false for the server, `None` while unknown.
    pub from_client: Option<bool>,
    /// Whether the handshake negotiated permessage-deflate (the only extension using an
    /// RSV bit, RSV1); `None` when the handshake was not seen.
    pub deflate: Option<bool>,
    /// The sender already sent a close frame.
    pub closed: bool,
    /// Whether a fragmented data message is open in this direction; `None` while unknown
    /// (joined mid-stream, or framing lost in a gap).
    pub message_open: Option<bool>,
}

impl FrameContext {
    /// The fragmented-message state after `f` (RFC 6455 §5.4): a text or binary frame
    /// without FIN opens a message, a data frame with FIN ends it, control frames change
    /// nothing.
    pub fn message_open_after(&self, f: &FrameEvent) -> Option<bool> {
        let op = f.head.opcode;
        if op.is_control() || op.is_reserved() {
            self.message_open
        } else if op == Opcode::CONTINUATION && self.message_open.is_none() {
            // Still unknown until a message starts, unless this one ends it.
            f.head.fin.then_some(false)
        } else {
            Some(!f.head.fin)
        }
    }
}

/// A close code that must not be on the wire (RFC 6455 §7.4.1, §7.4.2): below 1000, 1004
/// (reserved), 1005, 1006 and 1015 (for APIs only), 1016–2999 (unassigned, for RFCs), or
/// from 5000 on (undefined).
pub fn close_code_forbidden(code: u16) -> bool {
    !matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

/// The violations in one frame, each with a sentence saying what was seen.
pub fn violations(f: &FrameEvent, ctx: &FrameContext) -> Vec<(WarningKind, String)> {
    let h = &f.head;
    let op = h.opcode;
    let mut found = Vec::new();
    if op.is_reserved() {
        found.push((
            WarningKind::WebsocketReservedOpcode,
            format!("frame with reserved opcode 0x{:x}", op.0),
        ));
    }
    if op.is_control() && h.payload_len > MAX_CONTROL_PAYLOAD as u64 {
        let cut = if op == Opcode::CLOSE {
            format!(
                "; its reason is cut to 123 of {} bytes here",
                h.payload_len - 2
            )
        } else {
            String::new()
        };
        found.push((
            WarningKind::WebsocketControlFrameTooLong,
            format!(
                "{} frame with a {}-byte payload (at most 125){cut}",
                op.name(),
                h.payload_len
            ),
        ));
    }
    if op.is_control() && !h.fin {
        found.push((
            WarningKind::WebsocketFragmentedControlFrame,
            format!("{} frame without FIN", op.name()),
        ));
    }
    let rsv1_allowed = !op.is_control() && ctx.deflate == Some(true);
    if h.rsv23 || (h.rsv1 && ctx.deflate.is_some() && !rsv1_allowed) {
        let bits = if h.rsv23 { "RSV2/RSV3" } else { "RSV1" };
        let why = if h.rsv23 || ctx.deflate == Some(false) {
            "no extension was negotiated for it"
        } else {
            "permessage-deflate does not compress control frames"
        };
        found.push((
            WarningKind::WebsocketRsvWithoutExtension,
            format!("{} frame with {bits} set: {why}", op.name()),
        ));
    }
    match (ctx.from_client, h.mask.is_some()) {
        (Some(true), false) => found.push((
            WarningKind::WebsocketUnmaskedClientFrame,
            format!("{} frame from the client without a mask", op.name()),
        )),
        (Some(false), true) => found.push((
            WarningKind::WebsocketMaskedServerFrame,
            format!("{} frame from the server with a mask", op.name()),
        )),
        _ => {}
    }
    if !op.is_control() && !op.is_reserved() {
        if ctx.closed {
            found.push((
                WarningKind::WebsocketDataAfterClose,
                format!("{} frame after its sender's close frame", op.name()),
            ));
        }
        if op == Opcode::CONTINUATION && ctx.message_open == Some(false) {
            found.push((
                WarningKind::WebsocketContinuationWithoutStart,
                "continuation frame with no fragmented message open".to_string(),
            ));
        }
    }
    if op == Opcode::CLOSE {
        if let Some(p) = &f.payload {
            close_violations(p, h.payload_len, &mut found);
        }
    }
    found
}

/// A close payload's code and reason; `declared` is its length on the wire (the payload
/// kept is cut at 125 bytes).
fn close_violations(p: &[u8], declared: u64, found: &mut Vec<(WarningKind, String)>) {
    match p {
        [_] => found.push((
            WarningKind::WebsocketInvalidCloseCode,
            "close frame with a 1-byte payload (a code takes 2)".to_string(),
        )),
        [a, b, reason @ ..] => {
            let code = u16::from_be_bytes([*a, *b]);
            if close_code_forbidden(code) {
                found.push((
                    WarningKind::WebsocketInvalidCloseCode,
                    format!("close frame with code {code}, which must not be sent"),
                ));
            }
            // A reason cut at 125 bytes may end inside a character: only a byte that can
            // never be UTF-8 there counts.
            if let Err(e) = std::str::from_utf8(reason) {
                if e.error_len().is_some() || declared as usize == p.len() {
                    found.push((
                        WarningKind::WebsocketCloseReasonNotUtf8,
                        format!(
                            "close frame {code} whose reason is not UTF-8 (byte {})",
                            e.valid_up_to()
                        ),
                    ));
                }
            }
        }
        [] => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::Timestamp;
    use crate::ws::{parse_head, HeadParse};

    /// A frame from its header bytes and (unmasked) payload.
    fn frame(header: &[u8], payload: &[u8]) -> FrameEvent {
        let HeadParse::Complete(head) = parse_head(header) else {
            panic!("incomplete header")
        };
        FrameEvent {
            ts: Timestamp(0),
            head,
            payload: Some(payload.iter().copied().take(125).collect()),
            complete: true,
        }
    }

    fn kinds(f: &FrameEvent, ctx: &FrameContext) -> Vec<WarningKind> {
        violations(f, ctx).into_iter().map(|(k, _)| k).collect()
    }

    const CLIENT: FrameContext = FrameContext {
        from_client: Some(true),
        deflate: Some(false),
        closed: false,
        message_open: Some(false),
    };
    const SERVER: FrameContext = FrameContext {
        from_client: Some(false),
        ..CLIENT
    };

    #[test]
    fn a_clean_exchange_has_none() {
        let close = frame(&[0x88, 0x05], &[0x03, 0xe8, b'b', b'y', b'e']);
        assert!(kinds(&close, &SERVER).is_empty());
        let text = frame(&[0x81, 0x82, 1, 2, 3, 4], b"hi");
        assert!(kinds(&text, &CLIENT).is_empty());
    }

    #[test]
    fn a_258_byte_close_is_too_long_and_its_reason_cut() {
        let mut payload = vec![0x03, 0xe8];
        payload.extend(std::iter::repeat_n(b'x', 256));
        let f = frame(&[0x88, 0x7e, 0x01, 0x02], &payload);
        let v = violations(&f, &SERVER);
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].0, WarningKind::WebsocketControlFrameTooLong);
        assert!(v[0].1.contains("cut to 123 of 256 bytes"), "{}", v[0].1);
    }

    #[test]
    fn each_header_violation() {
        let ping_no_fin = frame(&[0x09, 0x00], &[]);
        assert_eq!(
            kinds(&ping_no_fin, &SERVER),
            [WarningKind::WebsocketFragmentedControlFrame]
        );
        let reserved = frame(&[0x83, 0x00], &[]);
        assert_eq!(
            kinds(&reserved, &SERVER),
            [WarningKind::WebsocketReservedOpcode]
        );
        let rsv1 = frame(&[0xc1, 0x00], &[]);
        assert_eq!(
            kinds(&rsv1, &SERVER),
            [WarningKind::WebsocketRsvWithoutExtension]
        );
        let deflate = FrameContext {
            deflate: Some(true),
            ..SERVER
        };
        assert!(kinds(&rsv1, &deflate).is_empty());
        let rsv1_ping = frame(&[0xc9, 0x00], &[]);
        assert_eq!(
            kinds(&rsv1_ping, &deflate),
            [WarningKind::WebsocketRsvWithoutExtension]
        );
        let unmasked = frame(&[0x81, 0x00], &[]);
        assert_eq!(
            kinds(&unmasked, &CLIENT),
            [WarningKind::WebsocketUnmaskedClientFrame]
        );
        let masked = frame(&[0x81, 0x80, 1, 2, 3, 4], &[]);
        assert_eq!(
            kinds(&masked, &SERVER),
            [WarningKind::WebsocketMaskedServerFrame]
        );
        let unknown = FrameContext::default();
        assert!(kinds(&masked, &unknown).is_empty() && kinds(&rsv1, &unknown).is_empty());
    }

    #[test]
    fn close_codes_and_reasons() {
        for (code, bad) in [
            (999u16, true),
            (1000, false),
            (1004, true),
            (1005, true),
            (1006, true),
            (1011, false),
            (1014, false),
            (1015, true),
            (1016, true),
            (2999, true),
            (3000, false),
            (4999, false),
            (5000, true),
        ] {
            let f = frame(&[0x88, 0x02], &code.to_be_bytes());
            assert_eq!(
                kinds(&f, &SERVER) == [WarningKind::WebsocketInvalidCloseCode],
                bad,
                "{code}"
            );
        }
        let one_byte = frame(&[0x88, 0x01], &[0x03]);
        assert_eq!(
            kinds(&one_byte, &SERVER),
            [WarningKind::WebsocketInvalidCloseCode]
        );
        let latin1 = frame(&[0x88, 0x04], &[0x03, 0xe8, b'o', 0xff]);
        assert_eq!(
            kinds(&latin1, &SERVER),
            [WarningKind::WebsocketCloseReasonNotUtf8]
        );
    }

    #[test]
    fn message_order() {
        let cont = frame(&[0x80, 0x00], &[]);
        assert_eq!(
            kinds(&cont, &SERVER),
            [WarningKind::WebsocketContinuationWithoutStart]
        );
        let open = FrameContext {
            message_open: Some(true),
            ..SERVER
        };
        assert!(kinds(&cont, &open).is_empty());
        let start = frame(&[0x01, 0x00], &[]);
        assert_eq!(SERVER.message_open_after(&start), Some(true));
        assert_eq!(open.message_open_after(&cont), Some(false));
        let closed = FrameContext {
            closed: true,
            ..SERVER
        };
        assert_eq!(
            kinds(&frame(&[0x82, 0x00], &[]), &closed),
            [WarningKind::WebsocketDataAfterClose]
        );
        assert!(kinds(&frame(&[0x8a, 0x00], &[]), &closed).is_empty());
    }
}
