//! Writes a synthetic load-run capture and its ground truth (`teardown_synth`).
//!
//! ```sh
//! cargo run --release --example synth -- --sessions 2000 --minutes 10 --seed 7 -o big.pcap
//! teardown summary big.pcap
//! ```
//!
//! `--load-cap 300` writes the load run of issue 14 instead: 50 calls every 10 s lasting
//! 60–120 s against one server that sheds load above 300 established sessions (reset,
//! FIN, close 1011 and 1013, HTTP 503), its handshake slower by 1.5 ms per established
//! session; the truth then carries the server's own counts.
//!
//! Writes `big.pcap`, the sessions' truth as `big.pcap.truth.csv` (or `--truth PATH`) and
//! the RTP streams' truth (with the session each belongs to) as `big.pcap.rtp.csv`;
//! prints a summary on stderr.

use clap::{Parser, ValueEnum};
use std::fs::File;
use std::io::BufWriter;
use std::path::PathBuf;
use std::time::Instant;
use teardown_synth::{self as synth, Codec, SynthConfig};

/// On or off.
#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
enum Switch {
    On,
    Off,
}

/// Generate a deterministic WebSocket/WebRTC load-run capture with ground truth.
#[derive(Parser, Debug)]
#[command(name = "synth")]
struct Cli {
    /// Sessions (connection attempts), started over the first 85% of the run.
    #[arg(long, default_value_t = 200)]
    sessions: usize,
    /// Capture length in minutes.
    #[arg(long, default_value_t = 5.0)]
    minutes: f64,
    /// Seed: the same arguments give the same bytes.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Output capture (pcap).
    #[arg(short, long, default_value = "synth.pcap")]
    out: PathBuf,
    /// Sessions' ground truth CSV (default: <out>.truth.csv).
    #[arg(long)]
    truth: Option<PathBuf>,
    /// Concurrency above which failures start (proxy resets at 60 s of age).
    #[arg(long, default_value_t = 300)]
    fail_above: usize,
    /// STUN/RTP/RTCP media flows.
    #[arg(long, value_enum, default_value_t = Switch::On)]
    media: Switch,
    /// Share of sessions over IPv6.
    #[arg(long, default_value_t = 0.1)]
    ipv6_share: f64,
    /// RTP packet loss before the capture point.
    #[arg(long, default_value_t = 0.01)]
    loss: f64,
    /// Probability of swapping two adjacent TCP data segments.
    #[arg(long, default_value_t = 0.02)]
    reorder: f64,
    /// Probability of retransmitting a TCP data segment.
    #[arg(long, default_value_t = 0.005)]
    retransmit: f64,
    /// Load mode: the established sessions above which the one server sheds load.
    #[arg(long)]
    load_cap: Option<usize>,
    /// RTP audio codec: opus (48 kHz, 60-140-byte packets) or pcmu (8 kHz, 160 bytes, the
    /// recorded benchmark's shape).
    #[arg(long, value_enum, default_value_t = CodecArg::Opus)]
    codec: CodecArg,
}

/// The `--codec` values.
#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
enum CodecArg {
    Opus,
    Pcmu,
}

fn with_suffix(p: &std::path::Path, suffix: &str) -> PathBuf {
    let mut s = p.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

fn main() -> std::io::Result<()> {
    let cli = Cli::parse();
    let cfg = SynthConfig {
        sessions: cli.sessions,
        duration_s: cli.minutes * 60.0,
        seed: cli.seed,
        fail_above: cli.fail_above,
        media: cli.media == Switch::On,
        ipv6_share: cli.ipv6_share,
        loss: cli.loss,
        reorder: cli.reorder,
        retransmit: cli.retransmit,
        load: cli.load_cap.map(|cap| synth::LoadShape {
            cap,
            ..synth::LoadShape::default()
        }),
        codec: match cli.codec {
            CodecArg::Opus => Codec::Opus,
            CodecArg::Pcmu => Codec::Pcmu,
        },
    };
    let started = Instant::now();
    let mut out = BufWriter::new(File::create(&cli.out)?);
    let truth = synth::generate(&cfg, &mut out)?;
    drop(out);
    let secs = started.elapsed().as_secs_f64();
    let truth_path = cli
        .truth
        .clone()
        .unwrap_or_else(|| with_suffix(&cli.out, ".truth.csv"));
    synth::write_sessions_csv(&truth, File::create(&truth_path)?)?;
    let rtp_path = with_suffix(&cli.out, ".rtp.csv");
    synth::write_rtp_csv(&truth, File::create(&rtp_path)?)?;

    eprintln!(
        "{}: {} packets, {:.1} MB in {:.1} s ({:.0} packets/s, {:.0} MB/s)",
        cli.out.display(),
        truth.packets,
        truth.bytes as f64 / 1e6,
        secs,
        truth.packets as f64 / secs,
        truth.bytes as f64 / 1e6 / secs
    );
    eprintln!(
        "{} sessions, max concurrency {}, overload from {}",
        truth.sessions.len(),
        truth.max_concurrency,
        truth
            .overload_start_us
            .map(|t| format!("{:.1} s", (t - truth.sessions[0].start_us) as f64 / 1e6))
            .unwrap_or_else(|| "never".into())
    );
    for (v, n) in truth.verdict_counts() {
        eprintln!("  {v:<22} {n}");
    }
    eprintln!(
        "{} RTP streams, {} STUN transactions, {} TCP retransmissions, {} swapped segment pairs",
        truth.rtp_streams.len(),
        truth.stun.requests,
        truth.retransmissions(),
        truth.reordered_segments()
    );
    eprintln!("truth: {}, {}", truth_path.display(), rtp_path.display());
    Ok(())
}
