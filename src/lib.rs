//! `teardown`: the post-mortem of WebSocket load runs from packet captures.
//!
//! The pipeline, layer by layer (see the README's architecture section):
//!
//! - [`capture`] reads pcap and pcapng files (memory-mapped, several files merged by
//!   timestamp) and decodes link, IP and TCP headers into [`capture::Segment`]s;
//! - [`tcp`] reassembles each direction of every connection;
//! - [`tls`] reads TLS records and handshakes (`wss://`) and, with a key log, decrypts them;
//! - [`ws`] decodes the HTTP upgrade and the WebSocket frames of a reassembled stream;
//! - [`session`] keeps per-connection facts, builds the timeline and decides the verdict;
//! - [`analysis`] drives it all, sharding connections over rayon workers;
//! - [`output`] renders sessions, timelines and summaries as tables, CSV or JSON.

pub mod analysis;
pub mod capture;
pub mod diag;
/// `teardown export`: typed tables (polars) as Parquet or CSV, one hive partition per capture.
pub mod export;
/// The load-run view: concurrency over time, failure rate by load and by server, age at
/// teardown, latency against load, and the findings in plain sentences.
pub mod loadrun;
pub mod media;
pub mod output;
/// `teardown report`: the load run on one self-contained HTML page (or Markdown).
pub mod report;
pub mod session;
/// Deterministic synthetic load-run captures with ground truth (for tests and benchmarks).
pub mod synth;
pub mod tcp;
pub mod time;
/// TLS under WebSocket: handshake facts without keys, decryption with an NSS key log.
pub mod tls;
pub mod ws;

pub use analysis::{analyze, analyze_bytes, Analysis, Options};
pub use session::{Session, Verdict};
