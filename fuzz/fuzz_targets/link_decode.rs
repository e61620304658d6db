//! Link → IP → TCP/UDP decoding of one captured packet, for every link type we decode and a
//! few we do not.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use teardown_wire::capture::{decode, LinkType, Packet, RawPacket};
use teardown_wire::time::Timestamp;

#[derive(Arbitrary, Debug)]
enum Link {
    Null,
    Ethernet,
    Raw,
    Raw12,
    Raw14,
    Loop,
    Sll,
    Ipv4,
    Ipv6,
    Sll2,
    Other(u32),
}

#[derive(Arbitrary, Debug)]
struct Input<'a> {
    link: Link,
    /// Bytes the snaplen cut (orig_len = captured + extra); may wrap to less.
    extra: u32,
    data: &'a [u8],
}

fuzz_target!(|input: Input<'_>| {
    let link = match input.link {
        Link::Null => 0,
        Link::Ethernet => 1,
        Link::Raw => 101,
        Link::Raw12 => 12,
        Link::Raw14 => 14,
        Link::Loop => 108,
        Link::Sll => 113,
        Link::Ipv4 => 228,
        Link::Ipv6 => 229,
        Link::Sll2 => 276,
        Link::Other(n) => n,
    };
    let packet = RawPacket {
        ts: Timestamp(0),
        link: LinkType(link),
        data: input.data,
        orig_len: (input.data.len() as u32).wrapping_add(input.extra),
        file: 0,
        number: 1,
    };
    let (payload, missing) = match decode(&packet) {
        Ok(Packet::Tcp(seg)) => (seg.payload, seg.missing),
        Ok(Packet::Udp(dg)) => (dg.payload, dg.missing),
        Err(_) => return,
    };
    let range = input.data.as_ptr_range();
    assert!(payload.is_empty() || range.contains(&payload.as_ptr()));
    assert!(payload.len() <= input.data.len());
    assert!(missing <= packet.orig_len);
});
