//! `teardown export`: the analysis as typed tables (polars), written as Parquet, CSV or
//! Arrow IPC streams in a hive-style layout, `DIR/<table>/capture=<name>/part-0.<ext>`, so
//! that the exports of many captures read as one dataset in polars, DuckDB or Spark; or,
//! for a host process such as a Spark task, as Arrow IPC streams one after the other on
//! one writer ([`write_arrow_streams`], `--format arrow --out -`).
//!
//! Columns are typed: timestamps are UTC timestamps with nanoseconds, codes and counts
//! integers (signed, as Spark has no unsigned types), durations `f64` in ms (`_ms`),
//! sizes in bytes (`_bytes`); a missing value is a null. Every file is written to a
//! temporary file in its folder and renamed into place: it appears whole or not at all.

mod tables;

pub use tables::{tables, TABLES};

use crate::analysis::Analysis;
use crate::loadrun::LoadRun;
use crate::output::write_atomic;
use indicatif::{ProgressBar, ProgressStyle};
use polars::prelude::*;
use std::fs;
use std::io::{self, IsTerminal, Write};
use std::path::PathBuf;

/// File format of the export.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Format {
    /// Apache Parquet (zstd), typed.
    Parquet,
    /// CSV with a header row; timestamps as ISO 8601 text, nulls as empty cells.
    Csv,
    /// Arrow IPC stream format (`.arrows`), typed as Parquet; each stream's schema carries
    /// the table name as metadata [`TABLE_METADATA_KEY`].
    Arrow,
}

/// Schema metadata key of an Arrow stream: the table it holds.
pub const TABLE_METADATA_KEY: &str = "teardown.table";

impl Format {
    /// File extension.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Parquet => "parquet",
            Format::Csv => "csv",
            Format::Arrow => "arrows",
        }
    }
}

/// What to export and where.
#[derive(Clone, Debug)]
pub struct ExportOptions {
    /// The dataset folder (`DIR`).
    pub dir: PathBuf,
    /// The partition value of this capture (`capture=<name>`); made safe by
    /// [`partition_name`].
    pub name: String,
    /// File format.
    pub format: Format,
    /// Also write `ws_frames`.
    pub frames: bool,
    /// In CSV, keep capture text as it was (no [`spreadsheet_safe`](crate::columns::spreadsheet_safe)).
    pub csv_raw: bool,
    /// Show a progress bar on stderr (when it is a terminal).
    pub progress: bool,
}

/// One file written.
#[derive(Clone, Debug)]
pub struct Written {
    /// Table name.
    pub table: &'static str,
    /// Rows in it.
    pub rows: usize,
    /// Where.
    pub path: PathBuf,
}

/// Why an export failed.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// A file or folder could not be written.
    #[error("cannot write {}: {source}", path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
    /// polars refused a table.
    #[error("table {table}: {source}")]
    Polars {
        /// The table.
        table: &'static str,
        /// The error.
        source: PolarsError,
    },
}

/// A partition value that every reader keeps as it is: ASCII letters, digits, `.`, `-`
/// and `_` (anything else becomes `_`), not starting with `.` or `_` (Spark and Hive skip
/// such folders), never empty.
pub fn partition_name(name: &str) -> String {
    let mut s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if s.is_empty() || s.starts_with(['.', '_']) {
        s.insert(0, 'c');
    }
    s
}

fn write_table(
    table: &str,
    df: &mut DataFrame,
    format: Format,
    w: &mut impl Write,
) -> PolarsResult<()> {
    match format {
        Format::Parquet => {
            ParquetWriter::new(w)
                .with_compression(ParquetCompression::Zstd(None))
                .finish(df)?;
        }
        Format::Csv => CsvWriter::new(w)
            .include_header(true)
            .with_datetime_format(Some("%Y-%m-%dT%H:%M:%S%.9fZ".into()))
            .finish(df)?,
        Format::Arrow => {
            let mut writer = IpcStreamWriter::new(w);
            writer.set_custom_schema_metadata(Arc::new(
                [(TABLE_METADATA_KEY.into(), table.into())]
                    .into_iter()
                    .collect(),
            ));
            writer.finish(df)?;
        }
    }
    Ok(())
}

/// Writes the tables of `a` to `w` as Arrow IPC streams, one whole stream per table (schema,
/// batches, end-of-stream marker), one after the other in [`TABLES`] order (`ws_frames`
/// only when `frames`). Each stream's schema names its table under
/// [`TABLE_METADATA_KEY`]; a table without rows is a stream with its schema and no batch.
/// Returns the tables and their row counts.
pub fn write_arrow_streams(
    a: &Analysis,
    run: &LoadRun,
    frames: bool,
    w: &mut impl Write,
) -> Result<Vec<(&'static str, usize)>, ExportError> {
    let mut written = Vec::new();
    for (table, df) in tables(a, run, frames, false) {
        let mut df = df.map_err(|source| ExportError::Polars { table, source })?;
        write_table(table, &mut df, Format::Arrow, w)
            .map_err(|source| ExportError::Polars { table, source })?;
        written.push((table, df.height()));
    }
    w.flush().map_err(|source| ExportError::Io {
        path: PathBuf::from("-"),
        source,
    })?;
    Ok(written)
}

/// Exports the tables of `a` into `opts.dir`; returns the files written, in table order.
pub fn export(
    a: &Analysis,
    run: &LoadRun,
    opts: &ExportOptions,
) -> Result<Vec<Written>, ExportError> {
    let name = partition_name(&opts.name);
    let csv_safe = opts.format == Format::Csv && !opts.csv_raw;
    let frames = tables(a, run, opts.frames, csv_safe);
    let bar = (opts.progress && io::stderr().is_terminal()).then(|| {
        let bar = ProgressBar::new(frames.len() as u64);
        if let Ok(style) =
            ProgressStyle::with_template("{spinner} writing {msg:20} {bar:30} {pos}/{len}")
        {
            bar.set_style(style);
        }
        bar
    });
    let mut written = Vec::new();
    for (table, df) in frames {
        let mut df = df.map_err(|source| ExportError::Polars { table, source })?;
        if let Some(b) = &bar {
            b.set_message(table);
        }
        let dir = opts.dir.join(table).join(format!("capture={name}"));
        fs::create_dir_all(&dir).map_err(|source| ExportError::Io {
            path: dir.clone(),
            source,
        })?;
        let path = dir.join(format!("part-0.{}", opts.format.extension()));
        write_atomic(&path, |w| {
            write_table(table, &mut df, opts.format, w).map_err(io::Error::other)
        })
        .map_err(|source| ExportError::Io {
            path: path.clone(),
            source,
        })?;
        written.push(Written {
            table,
            rows: df.height(),
            path,
        });
        if let Some(b) = &bar {
            b.inc(1);
        }
    }
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    Ok(written)
}

/// A short account of an export, for the end of the command.
pub fn summary(written: &[Written], opts: &ExportOptions) -> String {
    let rows: Vec<String> = written
        .iter()
        .map(|w| format!("{} {}", w.table, w.rows))
        .collect();
    format!(
        "exported {} tables to {} ({}, capture={}): {}",
        written.len(),
        opts.dir.display(),
        opts.format.extension(),
        partition_name(&opts.name),
        rows.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_names_are_safe() {
        assert_eq!(partition_name("load"), "load");
        assert_eq!(partition_name("run 1/a=b"), "run_1_a_b");
        assert_eq!(partition_name(".hidden"), "c.hidden");
        assert_eq!(partition_name("_x"), "c_x");
        assert_eq!(partition_name(""), "c");
        assert_eq!(partition_name("load+2"), "load_2");
    }
}
