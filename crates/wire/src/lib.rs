//! `teardown-wire`: the bytes-on-the-wire layer of `teardown`.
//!
//! Everything here reads packets or one direction of a stream and returns typed facts;
//! nothing here knows about sessions, verdicts or output formats (no serde unless the
//! `serde` feature asks for it, no polars, no rayon). See `ARCHITECTURE.md`.
//!
//! - [`capture`] reads pcap and pcapng files (memory-mapped, several files merged by
//!   timestamp) and decodes link, IP and TCP/UDP headers into [`capture::Packet`]s;
//! - [`tcp`] reassembles each direction of a connection;
//! - [`tls`] reads TLS records and handshakes (`wss://`) and, with a key log, decrypts them;
//! - [`ws`] decodes the HTTP upgrade and the WebSocket frames of one direction;
//! - [`media`] parses the UDP protocols of WebRTC (STUN/TURN, DTLS, RTP/RTCP) and SDP;
//! - [`diag`] collects the warnings about damaged input, naming file and packet;
//! - [`time`] is the capture timestamp.

pub mod capture;
pub mod diag;
pub mod media;
pub mod tcp;
pub mod time;
pub mod tls;
pub mod ws;
