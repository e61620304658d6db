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
        #[command(flatten)]
        csv: CsvText,
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
        #[command(flatten)]
        csv: CsvText,
    },
    /// One row per TCP connection, sessions and the others (plain HTTP, HTTPS, other
    /// protocols): what it carried, who ended it and how, bytes, retransmissions, gaps.
    Connections {
        #[command(flatten)]
        input: Input,
        /// Output format.
        #[arg(long, value_enum, default_value_t = TableFormat::Table)]
        format: TableFormat,
        #[command(flatten)]
        csv: CsvText,
    },
    /// Counts by verdict and by client-observed close code, and the first abnormal teardown.
    Summary {
        #[command(flatten)]
        input: Input,
        /// Output format.
        #[arg(long, value_enum, default_value_t = TextFormat::Text)]
        format: TextFormat,
    },
    /// One self-contained HTML page on the load run: where the knee is, who dropped the
    /// sessions, with charts and the findings in sentences.
    Report {
        #[command(flatten)]
        input: Input,
        /// Output file (`-`: standard output) [default: report.html, or report.md]
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
        /// Write the findings and tables as Markdown instead of HTML.
        #[arg(long)]
        markdown: bool,
    },
    /// The tables (sessions, events, TCP connections, media, concurrency) as Parquet, CSV or
    /// Arrow, in DIR/<table>/capture=<name>/part-0.<ext>; with `--format arrow --out -`, as
    /// Arrow IPC streams on standard output, one per table (its name in the schema metadata
    /// `teardown.table`), for a host process such as a Spark task.
    Export {
        #[command(flatten)]
        input: Input,
        /// Dataset folder; each capture writes its own partition in it (`-`: standard
        /// output, with --format arrow only; the summary then goes to standard error).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// File format.
        #[arg(long, value_enum, default_value_t = ExportFormat::Parquet)]
        format: ExportFormat,
        /// Also write the ws_frames table (the frames the timelines hold).
        #[arg(long)]
        frames: bool,
        /// Partition name of this capture [default: the input's file or folder name].
        #[arg(long, value_name = "NAME")]
        name: Option<String>,
        #[command(flatten)]
        csv: CsvText,
    },
}

/// How CSV writes text read from the capture.
#[derive(Args)]
struct CsvText {
    /// In CSV, keep text from the capture exactly as it was. By default a cell starting
    /// with = + - @ gets a leading ' so spreadsheets do not run it as a formula, and
    /// control characters and direction marks are written as \u{..}.
    #[arg(long)]
    csv_raw: bool,
}

#[derive(Args)]
struct Input {
    /// Capture files or folders.
    #[arg(required = true, value_name = "CAPTURE")]
    captures: Vec<PathBuf>,
    /// Treat connections to this server port as WebSocket sessions even when no upgrade
    /// was captured on it (e.g. refused connections); a connection that shows another
    /// protocol (an HTTP request without upgrade, payload that is not WebSocket framing)
    /// stays out, listed by `teardown connections`. Repeat or separate with commas.
    #[arg(long = "ws-port", value_delimiter = ',', value_name = "PORT")]
    ws_ports: Vec<u16>,
    /// Worker threads (default, or 0: one per core; at most 256).
    #[arg(long, value_parser = threads_in_range)]
    threads: Option<usize>,
    /// No progress bar, and warnings only as a count per kind.
    #[arg(long, short)]
    quiet: bool,
    /// Stop without results when any input cannot be used (default: report it, exit 2,
    /// and still analyse the other inputs).
    #[arg(long)]
    strict: bool,
    /// Decrypt TLS (wss://) with this NSS key log (the SSLKEYLOGFILE that browsers, curl,
    /// Node.js and OpenSSL-based clients write). Without it, TLS sessions get what TLS
    /// shows in clear.
    #[arg(long, value_name = "FILE")]
    keylog: Option<PathBuf>,
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
enum ExportFormat {
    /// Apache Parquet, typed columns.
    Parquet,
    /// CSV with a header row.
    Csv,
    /// Arrow IPC stream format (.arrows), typed as Parquet.
    Arrow,
}

#[derive(Copy, Clone, ValueEnum)]
enum TextFormat {
    /// Plain text.
    Text,
    /// JSON.
    Json,
}

/// `--threads`: a number up to [`teardown::analysis::MAX_THREADS`].
fn threads_in_range(s: &str) -> Result<usize, String> {
    let n: usize = s.parse().map_err(|e| format!("{e}"))?;
    if n > teardown::analysis::MAX_THREADS {
        return Err(format!(
            "at most {} worker threads",
            teardown::analysis::MAX_THREADS
        ));
    }
    Ok(n)
}

fn run(cli: Cli) -> io::Result<ExitCode> {
    let input = match &cli.command {
        Command::Sessions { input, .. }
        | Command::Timeline { input, .. }
        | Command::Media { input, .. }
        | Command::Connections { input, .. }
        | Command::Summary { input, .. }
        | Command::Report { input, .. }
        | Command::Export { input, .. } => input,
    };
    let opts = teardown::Options {
        threads: input.threads,
        ws_ports: input.ws_ports.clone(),
        progress: output::progress_bar(!input.quiet),
        strict: input.strict,
        keylog: input.keylog.clone(),
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
    let quiet = input.quiet;
    let mut err = io::stderr().lock();
    if quiet {
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
        Command::Sessions { format, csv, .. } => match format {
            TableFormat::Table => output::write_sessions_table(&analysis.sessions, &mut out)?,
            TableFormat::Csv => {
                output::write_sessions_csv(&analysis.sessions, csv.csv_raw, &mut out)?
            }
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
        Command::Media { format, csv, .. } => match format {
            TableFormat::Table => output::write_media_table(&analysis, &mut out)?,
            TableFormat::Csv => output::write_media_csv(&analysis, csv.csv_raw, &mut out)?,
            TableFormat::Json => output::write_media_json(&analysis, &mut out)?,
        },
        // Nothing could be read: the warning naming the input is all there is to say.
        Command::Summary { .. } if analysis.stats.files == 0 => return Ok(ExitCode::from(2)),
        Command::Connections { format, csv, .. } => match format {
            TableFormat::Table => output::write_connections_table(&analysis, &mut out)?,
            TableFormat::Csv => output::write_connections_csv(&analysis, csv.csv_raw, &mut out)?,
            TableFormat::Json => output::write_connections_json(&analysis, &mut out)?,
        },
        Command::Summary { format, .. } => match format {
            TextFormat::Text => output::write_summary_text(&analysis, &mut out)?,
            TextFormat::Json => {
                let doc = serde_json::json!({ "stats": analysis.stats, "summary": teardown::summary::summarize(&analysis) });
                serde_json::to_writer_pretty(&mut out, &doc).map_err(io::Error::other)?;
                writeln!(out)?;
            }
        },
        Command::Report {
            input,
            output,
            markdown,
        } => {
            if analysis.stats.files == 0 {
                writeln!(err, "teardown: nothing to report: no capture could be read")?;
                return Ok(ExitCode::from(2));
            }
            let run = teardown::loadrun::LoadRun::of(&analysis);
            let meta = teardown::report::Meta::for_inputs(&input.captures);
            let default = if markdown { "report.md" } else { "report.html" };
            let path = output.unwrap_or_else(|| default.into());
            if path.as_os_str() == "-" {
                if markdown {
                    teardown::report::write_markdown(&analysis, &run, &meta, &mut out)?;
                } else {
                    teardown::report::write_html(&analysis, &run, &meta, &mut out)?;
                }
            } else {
                teardown::report::write_file(&path, &analysis, &run, &meta, markdown).map_err(
                    |e| io::Error::new(e.kind(), format!("cannot write {}: {e}", path.display())),
                )?;
                if !quiet {
                    writeln!(out, "{}", teardown::report::summary(&run, &path))?;
                }
            }
        }
        Command::Export {
            input,
            out: dir,
            format,
            frames,
            name,
            csv,
        } => {
            if analysis.stats.files == 0 {
                writeln!(err, "teardown: nothing to export: no capture could be read")?;
                return Ok(ExitCode::from(2));
            }
            let run = teardown::loadrun::LoadRun::of(&analysis);
            if dir.as_os_str() == "-" {
                if !matches!(format, ExportFormat::Arrow) {
                    writeln!(err, "teardown: --out - needs --format arrow")?;
                    return Ok(ExitCode::from(2));
                }
                let written = teardown::export::write_arrow_streams(
                    &analysis,
                    &run,
                    frames,
                    // stdout is line-buffered: Arrow is binary.
                    &mut io::BufWriter::new(&mut out),
                )
                .map_err(|e| match e {
                    teardown::export::ExportError::Io { source, .. } => source,
                    e => io::Error::other(e.to_string()),
                })?;
                if !quiet {
                    let rows: Vec<String> =
                        written.iter().map(|(t, n)| format!("{t} {n}")).collect();
                    writeln!(
                        err,
                        "exported {} tables to standard output (arrow): {}",
                        written.len(),
                        rows.join(", ")
                    )?;
                }
                out.flush()?;
                return Ok(code);
            }
            let opts = teardown::export::ExportOptions {
                dir,
                name: name.unwrap_or_else(|| teardown::report::capture_name(&input.captures)),
                format: match format {
                    ExportFormat::Parquet => teardown::export::Format::Parquet,
                    ExportFormat::Csv => teardown::export::Format::Csv,
                    ExportFormat::Arrow => teardown::export::Format::Arrow,
                },
                frames,
                csv_raw: csv.csv_raw,
                progress: !quiet,
            };
            let written = teardown::export::export(&analysis, &run, &opts)
                .map_err(|e| io::Error::other(e.to_string()))?;
            if !quiet {
                writeln!(out, "{}", teardown::export::summary(&written, &opts))?;
            }
        }
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
