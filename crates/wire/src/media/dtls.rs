//! DTLS record headers (RFC 6347 §4.1, RFC 9147 §4): content types, handshake messages in
//! clear (epoch 0) and alerts, enough to tell whether the handshake finished and who ended.

/// Content type: change_cipher_spec.
pub const CHANGE_CIPHER_SPEC: u8 = 20;
/// Content type: alert.
pub const ALERT: u8 = 21;
/// Content type: handshake.
pub const HANDSHAKE: u8 = 22;
/// Content type: application_data.
pub const APPLICATION_DATA: u8 = 23;

/// DTLS record header length.
const HEADER: usize = 13;

/// One record, as far as it can be read.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// Content type.
    pub content_type: u8,
    /// Epoch (0: before ChangeCipherSpec, in clear).
    pub epoch: u16,
    /// Handshake message type, when in clear (1 ClientHello, 2 ServerHello, ...).
    pub handshake_type: Option<u8>,
    /// Alert level and description, when in clear.
    pub alert: Option<(u8, u8)>,
}

/// True when `b` is DTLS: first byte 20-63 (RFC 7983 §7), confirmed by its header.
/// RFC 6347 §4.1: a content type in use (20-25), version 0xfeXX, a length that fits.
/// RFC 9147 §4: the DTLS 1.3 unified header (32-63), taken only with its length (L bit, no
/// connection id): without one, text such as Megaco's `!/1` would pass.
pub fn probe(b: &[u8]) -> bool {
    let be16 = |at: usize| {
        b.get(at..at + 2)
            .map(|x| u16::from_be_bytes([x[0], x[1]]) as usize)
    };
    match b.first() {
        Some(20..=25) => {
            b.len() >= HEADER && b[1] == 0xfe && be16(11).is_some_and(|len| HEADER + len <= b.len())
        }
        Some(&first @ 32..=63) => {
            let (cid, seq16, has_len) = (first & 0x10 != 0, first & 0x08 != 0, first & 0x04 != 0);
            let at = 1 + if seq16 { 2 } else { 1 };
            !cid && has_len && be16(at).is_some_and(|len| len > 0 && at + 2 + len <= b.len())
        }
        _ => false,
    }
}

/// Most records read from one datagram.
const MAX_RECORDS: usize = 16;

/// Reads the records of a datagram (several may be packed in one).
pub fn parse_records(b: &[u8]) -> Vec<Record> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos + HEADER <= b.len() && out.len() < MAX_RECORDS {
        let h = &b[pos..];
        let content_type = h[0];
        if !(20..=63).contains(&content_type) || h[1] != 0xfe {
            break;
        }
        let epoch = u16::from_be_bytes([h[3], h[4]]);
        let len = u16::from_be_bytes([h[11], h[12]]) as usize;
        let Some(body) = b.get(pos + HEADER..pos + HEADER + len) else {
            break;
        };
        let clear = epoch == 0;
        out.push(Record {
            content_type,
            epoch,
            handshake_type: (clear && content_type == HANDSHAKE)
                .then(|| body.first().copied())
                .flatten(),
            alert: (clear && content_type == ALERT && body.len() >= 2).then(|| (body[0], body[1])),
        });
        pos += HEADER + len;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_confirms_the_header() {
        assert!(probe(&[22, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1]));
        assert!(!probe(&[22, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 1]));
        // A DTLS 1.3 unified header with its length; Megaco text without one.
        assert!(probe(&[0x2c, 0x00, 0x01, 0x00, 0x02, 7, 7]));
        assert!(!probe(
            b"!/1 [10.0.0.1]:2944 T=1{C=-{SC=ROOT{SV{MT=RS,RE=\"901\"}}}}"
        ));
    }

    #[test]
    fn client_hello_then_alert() {
        let mut b = vec![22, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 1, 0, 0, 0];
        b.extend_from_slice(&[21, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 1, 0, 2, 2, 40]);
        b.extend_from_slice(&[23, 0xfe, 0xfd, 0, 1, 0, 0, 0, 0, 0, 9, 0, 50]); // cut short
        let r = parse_records(&b);
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].handshake_type, Some(1));
        assert_eq!(r[1].alert, Some((2, 40)));
    }
}
