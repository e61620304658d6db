//! The `teardown` command line: parses arguments and calls the library.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use teardown::analysis::Analysis;
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
        #[command(flatten)]
        table: TableOut,
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
        #[command(flatten)]
        table: TableOut,
    },
    /// One row per TCP connection, sessions and the others (plain HTTP, HTTPS, other
    /// protocols): what it carried, who ended it and how, bytes, retransmissions, gaps.
    Connections {
        #[command(flatten)]
        input: Input,
        #[command(flatten)]
        table: TableOut,
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

/// How a table command writes its rows.
#[derive(Args)]
struct TableOut {
    /// Output format.
    #[arg(long, value_enum, default_value_t = TableFormat::Table)]
    format: TableFormat,
    #[command(flatten)]
    csv: CsvText,
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
    /// Keep the start (64 characters) of each direction's first and last text message,
    /// inflated under permessage-deflate, and show it in the timeline and the export's
    /// ws_frames: content from the capture, so off by default.
    #[arg(long)]
    payloads: bool,
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

impl From<ExportFormat> for teardown::export::Format {
    fn from(f: ExportFormat) -> Self {
        match f {
            ExportFormat::Parquet => teardown::export::Format::Parquet,
            ExportFormat::Csv => teardown::export::Format::Csv,
            ExportFormat::Arrow => teardown::export::Format::Arrow,
        }
    }
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

impl Command {
    /// The input options every command has.
    fn input(&self) -> &Input {
        match self {
            Command::Sessions { input, .. }
            | Command::Timeline { input, .. }
            | Command::Media { input, .. }
            | Command::Connections { input, .. }
            | Command::Summary { input, .. }
            | Command::Report { input, .. }
            | Command::Export { input, .. } => input,
        }
    }

    /// For the commands that have nothing to say when no capture could be read: what
    /// they would have made (empty for the summary, whose warnings say it all). The
    /// tables print their header row.
    fn needs_a_capture(&self) -> Option<&'static str> {
        match self {
            Command::Summary { .. } => Some(""),
            Command::Report { .. } => Some("report"),
            Command::Export { .. } => Some("export"),
            _ => None,
        }
    }
}

/// The analysis options the command line sets.
fn options(input: &Input) -> teardown::Options {
    teardown::Options {
        threads: input.threads,
        ws_ports: input.ws_ports.clone(),
        progress: output::progress_bar(!input.quiet),
        strict: input.strict,
        keylog: input.keylog.clone(),
        payloads: input.payloads,
        #[cfg(feature = "libpcap")]
        filter: input.filter.clone(),
    }
}

/// Warnings on stderr: all of them, or with `--quiet` only the inputs that could not be
/// used.
fn write_warnings(analysis: &Analysis, quiet: bool, err: &mut impl Write) -> io::Result<()> {
    if !quiet {
        return output::write_warnings(&analysis.diagnostics, err);
    }
    for w in analysis
        .diagnostics
        .warnings()
        .iter()
        .filter(|w| w.kind == teardown::diag::WarningKind::UnusableFile)
    {
        writeln!(err, "{w}")?;
    }
    Ok(())
}

fn run(cli: Cli) -> io::Result<ExitCode> {
    let input = cli.command.input();
    let analysis = match teardown::analyze(&input.captures, &options(input)) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("teardown: {e}");
            return Ok(ExitCode::from(2));
        }
    };
    let quiet = input.quiet;
    let mut err = io::stderr().lock();
    write_warnings(&analysis, quiet, &mut err)?;
    if analysis.stats.files == 0 {
        if let Some(what) = cli.command.needs_a_capture() {
            if !what.is_empty() {
                writeln!(err, "teardown: nothing to {what}: no capture could be read")?;
            }
            return Ok(ExitCode::from(2));
        }
    }
    let mut out = io::stdout().lock();
    let code = if analysis.unusable_input {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    };
    let code = match cli.command {
        Command::Sessions { table, .. } => {
            tables(&table, &analysis, &mut out, TableKind::Sessions)?;
            code
        }
        Command::Timeline {
            session, format, ..
        } => timeline(&analysis, session, format, code, &mut out, &mut err)?,
        Command::Media { table, .. } => {
            tables(&table, &analysis, &mut out, TableKind::Media)?;
            code
        }
        Command::Connections { table, .. } => {
            tables(&table, &analysis, &mut out, TableKind::Connections)?;
            code
        }
        Command::Summary { format, .. } => {
            summary(&analysis, format, &mut out)?;
            code
        }
        Command::Report {
            input,
            output,
            markdown,
        } => {
            report(&analysis, &input, output, markdown, quiet, &mut out)?;
            code
        }
        Command::Export {
            input,
            out: dir,
            format,
            frames,
            name,
            csv,
        } => {
            let opts = teardown::export::ExportOptions {
                dir,
                name: name.unwrap_or_else(|| teardown::report::capture_name(&input.captures)),
                format: format.into(),
                frames,
                csv_raw: csv.csv_raw,
                progress: !quiet,
            };
            export(&analysis, &opts, quiet, code, &mut out, &mut err)?
        }
    };
    out.flush()?;
    Ok(code)
}

/// The table commands.
#[derive(Copy, Clone)]
enum TableKind {
    Sessions,
    Media,
    Connections,
}

/// `teardown sessions`, `media` and `connections` in their format.
fn tables(table: &TableOut, a: &Analysis, out: &mut impl Write, kind: TableKind) -> io::Result<()> {
    use TableKind::*;
    let csv_raw = table.csv.csv_raw;
    match (table.format, kind) {
        (TableFormat::Table, Sessions) => output::write_sessions_table(&a.sessions, out),
        (TableFormat::Csv, Sessions) => output::write_sessions_csv(&a.sessions, csv_raw, out),
        (TableFormat::Json, Sessions) => output::write_sessions_json(&a.sessions, out),
        (TableFormat::Table, Media) => output::write_media_table(a, out),
        (TableFormat::Csv, Media) => output::write_media_csv(a, csv_raw, out),
        (TableFormat::Json, Media) => output::write_media_json(a, out),
        (TableFormat::Table, Connections) => output::write_connections_table(a, out),
        (TableFormat::Csv, Connections) => output::write_connections_csv(a, csv_raw, out),
        (TableFormat::Json, Connections) => output::write_connections_json(a, out),
    }
}

/// `teardown summary`: counts, the first abnormal teardown, the drops per server.
fn summary(a: &Analysis, format: TextFormat, out: &mut impl Write) -> io::Result<()> {
    match format {
        TextFormat::Text => output::write_summary_text(a, out),
        TextFormat::Json => {
            let doc =
                serde_json::json!({ "stats": a.stats, "summary": teardown::summary::summarize(a) });
            serde_json::to_writer_pretty(&mut *out, &doc).map_err(io::Error::other)?;
            writeln!(out)
        }
    }
}

/// `teardown timeline`: one session's events; exit 1 when there is no such session.
fn timeline(
    analysis: &Analysis,
    session: u64,
    format: TextFormat,
    code: ExitCode,
    out: &mut impl Write,
    err: &mut impl Write,
) -> io::Result<ExitCode> {
    let Some(s) = analysis.sessions.iter().find(|s| s.id == session) else {
        writeln!(
            err,
            "teardown: no session {session} (the capture has {} sessions)",
            analysis.sessions.len()
        )?;
        return Ok(if code == ExitCode::SUCCESS {
            ExitCode::from(1)
        } else {
            code
        });
    };
    match format {
        TextFormat::Text => output::write_timeline(s, out)?,
        TextFormat::Json => {
            serde_json::to_writer_pretty(&mut *out, s).map_err(io::Error::other)?;
            writeln!(out)?;
        }
    }
    Ok(code)
}

/// `teardown report`: the page to `path` (`-`: standard output; default `report.html`, or
/// `report.md` with `--markdown`).
fn report(
    analysis: &Analysis,
    input: &Input,
    path: Option<PathBuf>,
    markdown: bool,
    quiet: bool,
    out: &mut impl Write,
) -> io::Result<()> {
    let default = if markdown { "report.md" } else { "report.html" };
    let path = path.unwrap_or_else(|| default.into());
    let run = teardown::loadrun::LoadRun::of(analysis);
    let meta = teardown::report::Meta::for_inputs(&input.captures);
    if path.as_os_str() == "-" {
        return if markdown {
            teardown::report::write_markdown(analysis, &run, &meta, out)
        } else {
            teardown::report::write_html(analysis, &run, &meta, out)
        };
    }
    teardown::report::write_file(&path, analysis, &run, &meta, markdown)
        .map_err(|e| io::Error::new(e.kind(), format!("cannot write {}: {e}", path.display())))?;
    if !quiet {
        writeln!(out, "{}", teardown::report::summary(&run, &path))?;
    }
    Ok(())
}

/// `teardown export`: the tables into the dataset folder, or with `--out -` (Arrow only)
/// to standard output.
fn export(
    analysis: &Analysis,
    opts: &teardown::export::ExportOptions,
    quiet: bool,
    code: ExitCode,
    out: &mut impl Write,
    err: &mut impl Write,
) -> io::Result<ExitCode> {
    let run = teardown::loadrun::LoadRun::of(analysis);
    if opts.dir.as_os_str() == "-" {
        if opts.format != teardown::export::Format::Arrow {
            writeln!(err, "teardown: --out - needs --format arrow")?;
            return Ok(ExitCode::from(2));
        }
        arrow_to_stdout(analysis, &run, opts.frames, quiet, out, err)?;
        return Ok(code);
    }
    let written = teardown::export::export(analysis, &run, opts)
        .map_err(|e| io::Error::other(e.to_string()))?;
    if !quiet {
        writeln!(out, "{}", teardown::export::summary(&written, opts))?;
    }
    Ok(code)
}

/// `teardown export --format arrow --out -`: the tables as Arrow IPC streams on standard
/// output, what was written on standard error.
fn arrow_to_stdout(
    analysis: &Analysis,
    run: &teardown::loadrun::LoadRun,
    frames: bool,
    quiet: bool,
    out: &mut impl Write,
    err: &mut impl Write,
) -> io::Result<()> {
    let written = teardown::export::write_arrow_streams(
        analysis,
        run,
        frames,
        // stdout is line-buffered: Arrow is binary.
        &mut io::BufWriter::new(&mut *out),
    )
    .map_err(|e| match e {
        teardown::export::ExportError::Io { source, .. } => source,
        e => io::Error::other(e.to_string()),
    })?;
    if !quiet {
        let rows: Vec<String> = written.iter().map(|(t, n)| format!("{t} {n}")).collect();
        writeln!(
            err,
            "exported {} tables to standard output (arrow): {}",
            written.len(),
            rows.join(", ")
        )?;
    }
    out.flush()
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
