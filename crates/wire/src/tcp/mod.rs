//! TCP: sequence-number arithmetic and per-direction stream reassembly.
//!
//! Heads up: read RFC 9293 §3.4 (sequence numbers) before changing this module. Sequence
//! numbers wrap at 2^32; all comparisons go through [`SeqNum`].

mod analysis;
mod reassembly;
mod seq;

pub use analysis::{SegmentClass, SeqAnalysis};
pub use reassembly::{
    Delivery, Reassembler, ReassemblyStats, MAX_BUFFERED_BYTES, MAX_BUFFERED_SEGMENTS,
};
pub use seq::SeqNum;
