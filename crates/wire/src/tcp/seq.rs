//! Sequence numbers with wrapping comparison (RFC 9293 §3.4).

use std::cmp::Ordering;

/// A TCP sequence number. Ordering is modulo 2^32: `a < b` when `b` is less than 2^31
/// ahead of `a`, as RFC 9293 §3.4 and every real stack compare them.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct SeqNum(pub u32);

impl SeqNum {
    /// The signed distance from `other` to `self` (positive when `self` is ahead).
    pub fn diff(self, other: SeqNum) -> i64 {
        self.0.wrapping_sub(other.0) as i32 as i64
    }

    /// `self` advanced by `n` bytes, wrapping.
    pub fn advance(self, n: u32) -> SeqNum {
        SeqNum(self.0.wrapping_add(n))
    }
}

impl PartialOrd for SeqNum {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.diff(*other).cmp(&0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compares_across_the_wrap() {
        let before = SeqNum(u32::MAX - 10);
        let after = before.advance(20);
        assert_eq!(after.0, 9);
        assert!(before < after);
        assert_eq!(after.diff(before), 20);
        assert_eq!(before.diff(after), -20);
    }
}
