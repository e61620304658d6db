//! The `teardown` command line: parses arguments and calls the library.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use teardown::output;

/// Post-mortem of WebSocket load runs from packet captures: for every WebSocket session,
/// where its teardown started and who started it.
///
/// CAPTURE is a pcap or pcapng file, several files of one capture (rotated with tcpdump
/// -C/-G; they are merged by timestamp), or a folder holding them.
///
/// Exit status: 0 success; 1 the requested session does not exist; 2 an input could not
/// be used (the message names it) or the arguments are wrong.
#[derive(Parser)]
#[command(name = "teardown", version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// One row per session: verdict, who started the teardown, close codes, frame counts.
    Sessions {
        #[command(flatten)]
        input: Input,
        /// Output format.
        #[arg(long, value_enum, default_value_t = TableFormat::Table)]
        format: TableFormat,
        /// In CSV, keep text from the capture exactly as it was. By default a cell starting
        /// with = + - @ gets a leading ' so spreadsheets do not run it as a formula.
        #[arg(long)]
        csv_raw: bool,
    },
    /// The events of one session in time order, with the teardown start marked.
    Timeline {
        #[command(flatten)]
        input: Input,
        /// Session id (the `session_id` column of `teardown sessions`).
        #[arg(long)]
        session: u64,
        /// Output format.
        #[arg(long, value_enum, default_value_t = TextFormat::Text)]
        format: TextFormat,
    },
    /// One row per RTP stream and per STUN/TURN flow, with the session it joined.
    Media {
        #[command(flatten)]
        input: Input,
        /// Output format.
        #[arg(long, value_enum, default_value_t = TableFormat::Table)]
        format: TableFormat,
    },
    /// Counts by verdict and by client-observed close code, and the first abnormal teardown.
    Summary {
        #[command(flatten)]
        input: Input,
        /// Output format.
        #[arg(long, value_enum, default_value_t = TextFormat::Text)]
        format: TextFormat,
    },
}

#[derive(Args)]
struct Input {
    /// Capture files or folders.
    #[arg(required = true, value_name = "CAPTURE")]
    captures: Vec<PathBuf>,
    /// Treat connections to this server port as WebSocket sessions even when no upgrade
    /// was captured on it (e.g. refused connections). Repeat or separate with commas.
    #[arg(long = "ws-port", value_delimiter = ',', value_name = "PORT")]
    ws_ports: Vec<u16>,
    /// Worker threads (default: one per core).
    #[arg(long)]
    threads: Option<usize>,
    /// No progress bar, and warnings only as a count per kind.
    #[arg(long, short)]
    quiet: bool,
    /// Stop without results when any input cannot be used (default: report it, exit 2,
    /// and still analyse the other inputs).
    #[arg(long)]
    strict: bool,
    /// Only analyse packets matching this BPF expression (libpcap syntax, as tcpdump).
    #[cfg(feature = "libpcap")]
    #[arg(long, value_name = "BPF")]
    filter: Option<String>,
}

#[derive(Copy, Clone, ValueEnum)]
enum TableFormat {
    /// A table for the terminal.
    Table,
    /// CSV with a header row.
    Csv,
    /// A JSON array, timelines included.
    Json,
}

#[derive(Copy, Clone, ValueEnum)]
enum TextFormat {
    /// Plain text.
    Text,
    /// JSON.
    Json,
}

fn run(cli: Cli) -> io::Result<ExitCode> {
    let input = match &cli.command {
        Command::Sessions { input, .. }
        | Command::Timeline { input, .. }
        | Command::Media { input, .. }
        | Command::Summary { input, .. } => input,
    };
    let opts = teardown::Options {
        threads: input.threads,
        ws_ports: input.ws_ports.clone(),
        progress: !input.quiet,
        strict: input.strict,
        #[cfg(feature = "libpcap")]
        filter: input.filter.clone(),
    };
    let analysis = match teardown::analyze(&input.captures, &opts) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("teardown: {e}");
            return Ok(ExitCode::from(2));
        }
    };
    let mut err = io::stderr().lock();
    if input.quiet {
        for w in analysis
            .diagnostics
            .warnings()
            .iter()
            .filter(|w| w.kind == teardown::diag::WarningKind::UnusableFile)
        {
            writeln!(err, "{w}")?;
        }
    } else {
        output::write_warnings(&analysis.diagnostics, &mut err)?;
    }
    let mut out = io::stdout().lock();
    let mut code = if analysis.unusable_input {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    };
    match cli.command {
        Command::Sessions {
            format, csv_raw, ..
        } => match format {
            TableFormat::Table => output::write_sessions_table(&analysis.sessions, &mut out)?,
            TableFormat::Csv => output::write_sessions_csv(&analysis.sessions, csv_raw, &mut out)?,
            TableFormat::Json => output::write_sessions_json(&analysis.sessions, &mut out)?,
        },
        Command::Timeline {
            session, format, ..
        } => match analysis.sessions.iter().find(|s| s.id == session) {
            Some(s) => match format {
                TextFormat::Text => output::write_timeline(s, &mut out)?,
                TextFormat::Json => {
                    serde_json::to_writer_pretty(&mut out, s).map_err(io::Error::other)?;
                    writeln!(out)?;
                }
            },
            None => {
                writeln!(
                    err,
                    "teardown: no session {session} (the capture has {} sessions)",
                    analysis.sessions.len()
                )?;
                if code == ExitCode::SUCCESS {
                    code = ExitCode::from(1);
                }
            }
        },
        Command::Media { format, .. } => match format {
            TableFormat::Table => output::write_media_table(&analysis, &mut out)?,
            TableFormat::Csv => output::write_media_csv(&analysis, &mut out)?,
            TableFormat::Json => output::write_media_json(&analysis, &mut out)?,
        },
        Command::Summary { format, .. } => match format {
            TextFormat::Text => output::write_summary_text(&analysis, &mut out)?,
            TextFormat::Json => {
                let doc = serde_json::json!({ "stats": analysis.stats, "summary": output::summarize(&analysis) });
                serde_json::to_writer_pretty(&mut out, &doc).map_err(io::Error::other)?;
                writeln!(out)?;
            }
        },
    }
    out.flush()?;
    Ok(code)
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(code) => code,
        // `teardown sessions big.pcap | head` is not an error.
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("teardown: {e}");
            ExitCode::from(2)
        }
    }
}
