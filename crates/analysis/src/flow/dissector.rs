//! The UDP dissectors behind one trait (retina's probe → parse): every protocol that shares
//! a WebRTC media port (RFC 7983) is one file in this folder implementing [`Dissector`],
//! and one line in the `registry!` list at the bottom of this file.
//!
//! A flow holds one value of each registered dissector ([`Dissectors`], a plain struct:
//! static dispatch, no allocation per datagram). Each datagram goes to the first dissector
//! whose probe claims it; the probes are disjoint (a test checks), so the order of the list
//! only decides which probes run first (and, reversed, the order of the end-of-flow events). A dissector writes its facts straight into the
//! flow's [`MediaFlow`] and keeps only its own bounded tracking state.

use super::{dtls, rtp, stun, zrtp, MediaFlow};
use teardown_wire::media::demux::Kind;
use teardown_wire::time::Timestamp;

/// One message handed to a dissector: a datagram's payload, a message framed on TCP, or
/// what a TURN message carried.
#[derive(Copy, Clone, Debug)]
pub(crate) struct Message<'a> {
    /// Capture time.
    pub ts: Timestamp,
    /// Sent by the flow's first sender (`a`).
    pub from_a: bool,
    /// The bytes, starting at the protocol's header.
    pub bytes: &'a [u8],
    /// Carried inside TURN (a Send or Data indication, or ChannelData).
    pub relayed: bool,
}

/// One protocol on a media flow: how to recognise its messages and what to keep of them.
pub(crate) trait Dissector: Default {
    /// How its messages are counted in [`MediaFlow::kinds`].
    const KIND: Kind;

    /// True when `bytes` are one of its messages: the RFC 7983 first-byte range, confirmed
    /// by the header and lengths. Must not claim what another registered probe claims.
    fn probe(bytes: &[u8]) -> bool;

    /// Reads one message that [`Dissector::probe`] claimed, into `facts`. Returns the
    /// datagram it carries, if any (TURN), which is dissected in turn.
    fn on_message<'a>(&mut self, facts: &mut MediaFlow, m: Message<'a>) -> Option<&'a [u8]>;

    /// At the end of the flow: the facts known only then.
    fn finish(&mut self, _facts: &mut MediaFlow) {}
}

/// Calls `finish` on the listed fields, last first.
macro_rules! finish_in_reverse {
    ($self:ident, $facts:ident; $first:ident $(, $rest:ident)*) => {
        finish_in_reverse!($self, $facts; $($rest),*);
        $self.$first.finish($facts);
    };
    ($self:ident, $facts:ident;) => {};
}

/// Declares [`Dissectors`]: one field per registered dissector, the probe chain and the
/// end of the flow, all from one list of `field: Type` lines.
macro_rules! registry {
    ($($field:ident: $ty:ty,)+) => {
        /// One dissector of each registered protocol, for one flow.
        #[derive(Default)]
        pub(crate) struct Dissectors {
            $($field: $ty,)+
        }

        impl Dissectors {
            /// Hands `m` to the dissector whose probe claims it: the kind it was counted
            /// as, and the datagram it carries, if any.
            pub(crate) fn dissect<'a>(
                &mut self,
                facts: &mut MediaFlow,
                m: Message<'a>,
            ) -> (Kind, Option<&'a [u8]>) {
                $(
                    if <$ty as Dissector>::probe(m.bytes) {
                        return (<$ty as Dissector>::KIND, self.$field.on_message(facts, m));
                    }
                )+
                (Kind::Unknown, None)
            }

            /// Ends the flow: each dissector adds what it knows only at the end, in the
            /// reverse order of the list (as values are dropped), so the end-of-flow
            /// events of the rarer protocols (STUN's ICE consent) come before RTP's.
            pub(crate) fn finish(&mut self, facts: &mut MediaFlow) {
                finish_in_reverse!(self, facts; $($field),+);
            }

            /// The kinds of the probes that claim `bytes` (at most one when they are
            /// disjoint, as they must be).
            #[cfg(test)]
            fn claims(bytes: &[u8]) -> Vec<Kind> {
                let mut kinds = Vec::new();
                $(
                    if <$ty as Dissector>::probe(bytes) {
                        kinds.push(<$ty as Dissector>::KIND);
                    }
                )+
                kinds
            }
        }
    };
}

// The registered dissectors. A new protocol: its file in this folder, and one line here.
// Probed in this order, the most frequent first: RTP is most of a media flow's datagrams,
// and probing it last cost 3-4 % more instructions per datagram (callgrind, the datagrams
// of samples/media/).
registry! {
    rtp: rtp::Rtp,
    rtcp: rtp::Rtcp,
    stun: stun::Stun,
    dtls: dtls::Dtls,
    channel_data: stun::ChannelData,
    zrtp: zrtp::Zrtp,
}

#[cfg(test)]
mod tests {
    use super::*;
    use teardown_wire::media::demux::MAGIC_COOKIE;

    fn kind_of(b: &[u8]) -> Kind {
        match Dissectors::claims(b)[..] {
            [] => Kind::Unknown,
            [k] => k,
            ref many => panic!("{b:?} claimed by {many:?}"),
        }
    }

    #[test]
    fn first_byte_ranges() {
        let mut stun = vec![0x00, 0x01, 0x00, 0x00];
        stun.extend_from_slice(&MAGIC_COOKIE.to_be_bytes());
        stun.extend_from_slice(&[7; 12]);
        assert_eq!(kind_of(&stun), Kind::Stun);
        assert_eq!(kind_of(&[16, 0, 0]), Kind::Zrtp);
        assert_eq!(
            kind_of(&[22, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1]),
            Kind::Dtls
        );
        assert_eq!(
            kind_of(&[0x40, 0x00, 0x00, 0x04, 1, 2, 3, 4]),
            Kind::ChannelData
        );
        assert_eq!(
            kind_of(&[0x80, 0x6f, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1]),
            Kind::Rtp
        );
        assert_eq!(kind_of(&[0x81, 200, 0, 1, 0, 0, 0, 1]), Kind::Rtcp);
        assert_eq!(kind_of(&[0x81, 200, 0, 6, 0, 0, 0, 1]), Kind::Unknown); // 28 bytes said
        assert_eq!(kind_of(&[0x81, 0xc9, 0, 1, 0, 0, 0, 1]), Kind::Rtcp);
        assert_eq!(kind_of(&[0x00, 0x01, 0, 0, 1, 2, 3, 4]), Kind::Unknown);
        assert_eq!(kind_of(&[]), Kind::Unknown);
    }

    #[test]
    fn text_protocols_are_not_media() {
        // SIP requests on 5060: their first letters fall in ChannelData's range.
        for sip in [
            &b"INVITE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1\r\n\r\n"[..],
            b"OPTIONS sip:x SIP/2.0\r\n\r\n",
            b"ACK sip:x SIP/2.0\r\n\r\n",
        ] {
            assert_eq!(kind_of(sip), Kind::Unknown);
        }
        // Megaco (H.248) text on 2944: `!` and `M` fall in DTLS's and ChannelData's ranges.
        assert_eq!(
            kind_of(b"!/1 [10.0.0.1]:2944 T=1{C=-{SC=ROOT{SV{MT=RS,RE=\"901\"}}}}"),
            Kind::Unknown
        );
        assert_eq!(
            kind_of(b"MEGACO/1 [10.0.0.1]:2944\r\nTransaction = 1 {}"),
            Kind::Unknown
        );
        // A DTLS 1.3 unified header with its length.
        assert_eq!(kind_of(&[0x2c, 0x00, 0x01, 0x00, 0x02, 7, 7]), Kind::Dtls);
    }

    #[test]
    fn probes_are_disjoint() {
        // Every first and second byte, with lengths that satisfy each protocol's check.
        for first in 0..=255u8 {
            for second in 0..=255u8 {
                let mut b = [0u8; 64];
                b[..2].copy_from_slice(&[first, second]);
                b[4..8].copy_from_slice(&MAGIC_COOKIE.to_be_bytes());
                for len in [8, 13, 16, 20, 24, 64] {
                    let n = Dissectors::claims(&b[..len]).len();
                    assert!(n <= 1, "{:?}", &b[..len]);
                }
            }
        }
    }
}
