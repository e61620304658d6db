//! `teardown-analysis`: connections, sessions, verdicts, media joins, the pipeline and the
//! load-run model of `teardown`.
//!
//! It builds on the wire crate (`teardown-wire`) and knows nothing of output formats: every
//! result is data (serde-serializable) for the CLI to render. See `ARCHITECTURE.md`.
//!
//! - [`analysis`] drives the pipeline: capture → packets → connections (sharded over rayon
//!   workers) → [`Session`]s and media flows;
//! - [`session`] keeps per-connection facts, builds the timeline and decides the verdict;
//! - [`flow`] keeps per-UDP-flow media facts (STUN, DTLS, RTP/RTCP);
//! - [`summary`] and [`loadrun`] are the numbers of `teardown summary` and of the load-run
//!   view (concurrency, failure by load, findings).

pub mod analysis;
pub mod flow;
pub mod loadrun;
pub mod session;
pub mod summary;

pub use analysis::{analyze, analyze_bytes, Analysis, AnalysisError, Options};
pub use session::{Session, Verdict};

/// Timeline events kept per connection or media flow, whatever the input: a hostile stream
/// cannot make a timeline grow without bound (the verdict does not depend on it).
pub const MAX_TIMELINE_EVENTS: usize = 512;
