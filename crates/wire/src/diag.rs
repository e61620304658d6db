//! Warnings about the input: what was skipped or damaged, and where.
//!
//! Nothing is dropped silently: every skipped record, unparseable packet or capture gap
//! becomes a [`Warning`] naming the file and the packet number (or byte offset). The
//! [`Diagnostics`] collector keeps a count per [`WarningKind`] and the first few messages
//! of each kind, so a hostile capture cannot make it grow without bound.

use std::collections::BTreeMap;
use std::fmt;

/// How many messages of one kind are kept verbatim; the rest are only counted.
pub const MESSAGES_KEPT_PER_KIND: usize = 20;

/// What went wrong, as a category users can grep for.
#[derive(
    Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, strum::IntoStaticStr, strum::EnumIter,
)]
#[strum(serialize_all = "snake_case")]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum WarningKind {
    /// A file could not be opened or is not a capture.
    UnusableFile,
    /// The file ends in the middle of a record or block.
    TruncatedFile,
    /// A record or block is malformed; the rest of the file could not be read.
    CorruptRecord,
    /// A link type this tool does not decode.
    UnsupportedLinkType,
    /// A packet whose headers could not be decoded.
    MalformedPacket,
    /// A packet cut short by the capture's snaplen.
    SnaplenCut,
    /// Bytes of a TCP stream that are not in the capture.
    LostSegments,
    /// WebSocket bytes that could not be framed (skipped to resynchronise).
    WebSocketResync,
    /// Reassembly buffer limit reached; buffered data was skipped.
    BufferOverflow,
    /// An HTTP upgrade head with bytes HTTP does not allow, or longer than 64 KiB: read
    /// line by line, and its connection still analysed.
    MalformedHandshake,
    /// RTP streams beyond the 64 tracked on one UDP flow: their packets are counted only.
    RtpStreamCap,
    /// Packets whose timestamps go backwards within one file.
    TimestampOrder,
    /// A key log line that could not be read, or TLS records the logged keys did not open.
    TlsKeys,
    /// TLS records that could not be framed (lost in a capture gap, or not a record).
    TlsRecords,
    /// A TCP retransmission whose bytes differ from the first copy (Zeek's name); the first
    /// copy is the one used.
    RexmitInconsistency,
    /// A WebSocket control frame with a payload over 125 bytes (RFC 6455 §5.5).
    WebsocketControlFrameTooLong,
    /// A WebSocket control frame without the FIN bit (control frames are not fragmented).
    WebsocketFragmentedControlFrame,
    /// A WebSocket frame with a reserved opcode (0x3–0x7, 0xB–0xF).
    WebsocketReservedOpcode,
    /// A WebSocket frame with an RSV bit no negotiated extension defines.
    WebsocketRsvWithoutExtension,
    /// A client-to-server WebSocket frame without a mask (RFC 6455 §5.1).
    WebsocketUnmaskedClientFrame,
    /// A server-to-client WebSocket frame with a mask (RFC 6455 §5.1).
    WebsocketMaskedServerFrame,
    /// A close frame with a code that must not be sent (RFC 6455 §7.4), or a 1-byte payload.
    WebsocketInvalidCloseCode,
    /// A close frame whose reason is not UTF-8 (RFC 6455 §5.5.1).
    WebsocketCloseReasonNotUtf8,
    /// A data frame sent after its sender's close frame (RFC 6455 §5.5.1).
    WebsocketDataAfterClose,
    /// A continuation frame with no fragmented message open (RFC 6455 §5.4).
    WebsocketContinuationWithoutStart,
}

impl WarningKind {
    /// True for the kinds that are a peer breaking the WebSocket protocol (RFC 6455), as
    /// opposed to damage in the capture: evidence for a post-mortem, also on the timeline.
    pub fn is_protocol_violation(self) -> bool {
        matches!(
            self,
            WarningKind::WebsocketControlFrameTooLong
                | WarningKind::WebsocketFragmentedControlFrame
                | WarningKind::WebsocketReservedOpcode
                | WarningKind::WebsocketRsvWithoutExtension
                | WarningKind::WebsocketUnmaskedClientFrame
                | WarningKind::WebsocketMaskedServerFrame
                | WarningKind::WebsocketInvalidCloseCode
                | WarningKind::WebsocketCloseReasonNotUtf8
                | WarningKind::WebsocketDataAfterClose
                | WarningKind::WebsocketContinuationWithoutStart
        )
    }
}

impl fmt::Display for WarningKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.into())
    }
}

/// Where in the input a warning points.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Location {
    /// The capture file, as given on the command line (or found in a folder).
    pub file: String,
    /// 1-based packet number within that file, where one applies.
    pub packet: Option<u64>,
    /// Byte offset within that file, where one applies.
    pub offset: Option<u64>,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(p) = self.packet {
            write!(f, ", packet {p}")?;
        }
        if let Some(o) = self.offset {
            write!(f, ", offset {o}")?;
        }
        Ok(())
    }
}

/// One warning: its kind, where it points, and what happened.
#[derive(Clone, Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Warning {
    /// The category.
    pub kind: WarningKind,
    /// File and packet or offset.
    pub location: Location,
    /// A sentence saying what happened.
    pub message: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "warning[{}]: {}: {}",
            self.kind, self.location, self.message
        )
    }
}

/// Collects warnings: a count per kind and the first [`MESSAGES_KEPT_PER_KIND`] of each.
#[derive(Clone, Debug, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Diagnostics {
    counts: BTreeMap<WarningKind, u64>,
    kept: Vec<Warning>,
}

impl Diagnostics {
    /// Records a warning.
    pub fn push(&mut self, warning: Warning) {
        let n = self.counts.entry(warning.kind).or_insert(0);
        *n += 1;
        if *n as usize <= MESSAGES_KEPT_PER_KIND {
            self.kept.push(warning);
        }
    }

    /// Adds everything another collector holds.
    pub fn merge(&mut self, other: Diagnostics) {
        for w in other.kept {
            self.push(w);
        }
        for (kind, n) in other.counts {
            let kept = (n as usize).min(MESSAGES_KEPT_PER_KIND) as u64;
            *self.counts.entry(kind).or_insert(0) += n - kept;
        }
    }

    /// The warnings kept verbatim, in the order they were recorded.
    pub fn warnings(&self) -> &[Warning] {
        &self.kept
    }

    /// How many warnings of each kind were recorded (kept or not).
    pub fn counts(&self) -> &BTreeMap<WarningKind, u64> {
        &self.counts
    }

    /// Number of warnings of one kind.
    pub fn count(&self, kind: WarningKind) -> u64 {
        self.counts.get(&kind).copied().unwrap_or(0)
    }

    /// True when nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.counts.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn warning(kind: WarningKind, packet: u64) -> Warning {
        Warning {
            kind,
            location: Location {
                file: "a.pcap".into(),
                packet: Some(packet),
                offset: None,
            },
            message: "x".into(),
        }
    }

    #[test]
    fn keeps_first_messages_and_counts_all() {
        let mut d = Diagnostics::default();
        for p in 0..50 {
            d.push(warning(WarningKind::LostSegments, p));
        }
        assert_eq!(d.count(WarningKind::LostSegments), 50);
        assert_eq!(d.warnings().len(), MESSAGES_KEPT_PER_KIND);
        let mut other = Diagnostics::default();
        for p in 0..30 {
            other.push(warning(WarningKind::LostSegments, p));
        }
        d.merge(other);
        assert_eq!(d.count(WarningKind::LostSegments), 80);
        assert_eq!(d.warnings().len(), MESSAGES_KEPT_PER_KIND);
    }

    #[test]
    fn display_names_file_and_packet() {
        let w = warning(WarningKind::TruncatedFile, 7);
        assert_eq!(
            w.to_string(),
            "warning[truncated_file]: a.pcap, packet 7: x"
        );
    }
}
