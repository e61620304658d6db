//! Runs the analysis pipeline alone on a capture, for profiling without the CLI's build
//! (no polars, no rendering):
//!
//! ```sh
//! cargo build --profile profiling -p teardown-analysis --example pipeline
//! perf record -g target/profiling/examples/pipeline capture.pcap 2
//! ```
//!
//! Arguments: the capture (file or folder) and, optionally, the thread count. Prints the
//! packets read, the sessions and the RTP streams found.

use std::path::PathBuf;
use teardown_analysis::analysis::{analyze, Options};

fn main() {
    let mut args = std::env::args().skip(1);
    let path = PathBuf::from(args.next().expect("usage: pipeline CAPTURE [THREADS]"));
    let threads = args.next().map(|t| t.parse().expect("THREADS is a number"));
    let opts = Options {
        threads,
        ..Options::default()
    };
    let a = analyze(&[path], &opts).expect("analysis");
    let streams: usize = a
        .sessions
        .iter()
        .flat_map(|s| &s.media)
        .chain(&a.orphan_media)
        .map(|m| m.rtp.len())
        .sum();
    println!(
        "packets {} sessions {} rtp_streams {}",
        a.stats.packets,
        a.sessions.len(),
        streams
    );
}
