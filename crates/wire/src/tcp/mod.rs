//! TCP: sequence-number arithmetic, per-direction stream reassembly, and the probe of what
//! a direction carries.
//!
//! Heads up: read RFC 9293 §3.4 (sequence numbers) before changing this module. Sequence
//! numbers wrap at 2^32; all comparisons go through [`SeqNum`].

mod analysis;
mod probe;
mod reassembly;
mod seq;

pub use analysis::{SegmentClass, SeqAnalysis};
pub use probe::{probe, Probe, StreamKind, StunFraming, PROBE_LEN};
pub use reassembly::{
    Delivery, Reassembler, ReassemblyStats, MAX_BUFFERED_BYTES, MAX_BUFFERED_SEGMENTS,
};
pub use seq::SeqNum;
