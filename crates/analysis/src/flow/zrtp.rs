//! ZRTP (RFC 6189), first byte 16-19 (RFC 7983 §7): counted, not read. The smallest
//! dissector there is — a probe and a kind.

use super::dissector::{Dissector, Message};
use super::MediaFlow;
use teardown_wire::media::demux::Kind;

/// Counts ZRTP messages.
#[derive(Default)]
pub(crate) struct Zrtp;

impl Dissector for Zrtp {
    const KIND: Kind = Kind::Zrtp;

    fn probe(bytes: &[u8]) -> bool {
        matches!(bytes.first(), Some(16..=19))
    }

    fn on_message<'a>(&mut self, _: &mut MediaFlow, _: Message<'a>) -> Option<&'a [u8]> {
        None
    }
}
