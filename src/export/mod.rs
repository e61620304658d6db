//! `teardown export`: the analysis as typed tables (polars), written as Parquet, CSV or
//! Arrow IPC streams in a hive-style layout, `DIR/<table>/capture=<name>/part-0.<ext>`, so
//! that the exports of many captures read as one dataset in polars, DuckDB or Spark; or,
//! for a host process such as a Spark task, as Arrow IPC streams one after the other on
//! one writer ([`write_arrow_streams`], `--format arrow --out -`).
//!
//! Columns are typed: timestamps are UTC timestamps with nanoseconds, codes and counts
//! integers (signed, as Spark has no unsigned types), durations `f64` in ms (`_ms`),
//! sizes in bytes (`_bytes`); a missing value is a null.
//!
//! A capture's partitions change together ([`export`]): its tables are written into
//! hidden staging folders first, swapped into place only once all were written, and
//! `DIR/_manifests/capture=<name>.json` is removed before the swap and written after it,
//! so a reader that finds the manifest finds every table of the run it names. A run
//! killed or out of space leaves the previous export as it was (or, killed during the
//! swap, no manifest); the next run removes what it left.

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

/// The folder of the manifests, beside the tables (readers skip `_` folders).
pub const MANIFESTS: &str = "_manifests";

/// Exports the tables of `a` into `opts.dir`; returns the files written, in table order.
///
/// The capture's partitions are replaced as a whole: every table is written into
/// `DIR/<table>/.capture=<name>.staging/` first; only when all were written is the
/// manifest `DIR/_manifests/capture=<name>.json` removed, each staging folder renamed to
/// `capture=<name>` (the old partition moved aside and removed; a table this run does
/// not write, such as `ws_frames` without `--frames`, loses its old partition), and the
/// manifest written anew, naming the tables and their rows. On an error before the swap
/// the staging folders are removed and the previous export stays whole. Staging folders
/// and temporary files that a killed run of this capture left are removed first.
pub fn export(
    a: &Analysis,
    run: &LoadRun,
    opts: &ExportOptions,
) -> Result<Vec<Written>, ExportError> {
    let name = partition_name(&opts.name);
    let layout = Layout {
        dir: opts.dir.clone(),
        part: format!("capture={name}"),
    };
    layout.clean_stale()?;
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
        if let Some(b) = &bar {
            b.set_message(table);
        }
        match layout.stage(table, df, opts.format) {
            Ok(w) => written.push(w),
            Err(e) => {
                for w in &written {
                    let _ = fs::remove_dir_all(layout.staging(w.table));
                }
                let _ = fs::remove_dir_all(layout.staging(table));
                return Err(e);
            }
        }
        if let Some(b) = &bar {
            b.inc(1);
        }
    }
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    layout.swap(&written, opts.format)?;
    Ok(written)
}

/// Where one capture's partitions, their staging folders and its manifest live.
struct Layout {
    dir: PathBuf,
    /// `capture=<name>`.
    part: String,
}

impl Layout {
    fn partition(&self, table: &str) -> PathBuf {
        self.dir.join(table).join(&self.part)
    }

    fn staging(&self, table: &str) -> PathBuf {
        self.dir.join(table).join(format!(".{}.staging", self.part))
    }

    fn aside(&self, table: &str) -> PathBuf {
        self.dir.join(table).join(format!(".{}.old", self.part))
    }

    fn manifest(&self) -> PathBuf {
        self.dir.join(MANIFESTS).join(format!("{}.json", self.part))
    }

    /// Removes what a killed run of this capture left: staging and set-aside folders,
    /// and the `.tmp-*.partial` files of earlier versions in its partitions.
    fn clean_stale(&self) -> Result<(), ExportError> {
        let io_err = |path: &PathBuf| {
            let path = path.clone();
            move |source| ExportError::Io { path, source }
        };
        for table in TABLES {
            for p in [self.staging(table), self.aside(table)] {
                if p.is_dir() {
                    fs::remove_dir_all(&p).map_err(io_err(&p))?;
                }
            }
            let part = self.partition(table);
            let Ok(entries) = fs::read_dir(&part) else {
                continue;
            };
            for e in entries.flatten() {
                let file = e.file_name().to_string_lossy().into_owned();
                if file.starts_with(".tmp-") && file.ends_with(".partial") {
                    fs::remove_file(e.path()).map_err(io_err(&e.path()))?;
                }
            }
        }
        Ok(())
    }

    /// Writes one table into its staging folder (synced to disk).
    fn stage(
        &self,
        table: &'static str,
        df: PolarsResult<DataFrame>,
        format: Format,
    ) -> Result<Written, ExportError> {
        let mut df = df.map_err(|source| ExportError::Polars { table, source })?;
        let dir = self.staging(table);
        let file_name = format!("part-0.{}", format.extension());
        let path = dir.join(&file_name);
        let io_err = |source| ExportError::Io {
            path: path.clone(),
            source,
        };
        fs::create_dir_all(&dir).map_err(io_err)?;
        let file = fs::File::create(&path).map_err(io_err)?;
        let mut w = io::BufWriter::new(&file);
        write_table(table, &mut df, format, &mut w).map_err(|source| match source {
            PolarsError::IO { error, .. } => {
                io_err(io::Error::new(error.kind(), error.to_string()))
            }
            source => ExportError::Polars { table, source },
        })?;
        w.flush().map_err(io_err)?;
        drop(w);
        file.sync_all().map_err(io_err)?;
        Ok(Written {
            table,
            rows: df.height(),
            path: self.partition(table).join(file_name),
        })
    }

    /// Moves the staged tables into place between removing the manifest and writing it.
    fn swap(&self, written: &[Written], format: Format) -> Result<(), ExportError> {
        let manifest = self.manifest();
        let io_err = |path: &PathBuf| {
            let path = path.clone();
            move |source| ExportError::Io { path, source }
        };
        match fs::remove_file(&manifest) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(io_err(&manifest)(e)),
            _ => {}
        }
        for table in TABLES {
            let part = self.partition(table);
            let aside = self.aside(table);
            if part.exists() {
                fs::rename(&part, &aside).map_err(io_err(&part))?;
            }
            if written.iter().any(|w| w.table == table) {
                fs::rename(self.staging(table), &part).map_err(io_err(&part))?;
            }
            if aside.exists() {
                fs::remove_dir_all(&aside).map_err(io_err(&aside))?;
            }
        }
        let dir = self.dir.join(MANIFESTS);
        fs::create_dir_all(&dir).map_err(io_err(&dir))?;
        let tables: Vec<serde_json::Value> = written
            .iter()
            .map(|w| serde_json::json!({ "table": w.table, "rows": w.rows }))
            .collect();
        let body = serde_json::json!({
            "capture": self.part.trim_start_matches("capture="),
            "format": format.extension(),
            "tables": tables,
        });
        write_atomic(&manifest, |w| {
            serde_json::to_writer_pretty(&mut *w, &body)?;
            w.write_all(b"\n")
        })
        .map_err(io_err(&manifest))
    }
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
