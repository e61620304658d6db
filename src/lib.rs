//! `teardown`: the post-mortem of WebSocket load runs from packet captures.
//!
//! This crate is the top layer: rendering ([`output`]), the one-page [`report`], the typed
//! [`export`] (polars), and the column definitions they all share ([`columns`]). The layers
//! below are their own crates, so none of them can import from here (`ARCHITECTURE.md`):
//!
//! - `teardown-wire`: capture reading, link/IP/TCP, TCP reassembly, TLS, WebSocket and the
//!   WebRTC media parsers;
//! - `teardown-analysis`: connections, sessions, verdicts, media joins, the pipeline and the
//!   load-run model.
//!
//! Their modules are re-exported here under their own names, so that a user of the library
//! has one path (`teardown::session::Verdict`, `teardown::ws::parse_close`, ...).

pub mod columns;
/// `teardown export`: typed tables (polars) as Parquet or CSV, one hive partition per capture.
#[cfg(feature = "export")]
pub mod export;
pub mod output;
/// `teardown report`: the load run on one self-contained HTML page (or Markdown).
pub mod report;
pub mod text;

pub use teardown_analysis::{
    analysis, analyze, analyze_bytes, flow, loadrun, session, summary, Analysis, AnalysisError,
    Options, Session, Verdict, MAX_TIMELINE_EVENTS,
};
pub use teardown_wire::{capture, diag, media, tcp, time, tls, ws};
