//! The output tables, each defined once: a list of [`Column`]s (name, type, unit, one-line
//! doc, how to read the value from a row). The CSV and JSON writers here, the Parquet
//! export and the README's column tables all come from these lists, so a column cannot
//! exist in one output and be missing from another (`ARCHITECTURE.md`, "add a column").

mod concurrency;
mod events;
mod media;
mod sessions;
mod tcp;

pub use concurrency::{Steps, CONCURRENCY};
pub use events::{event_rows, is_frame, EventRow, EventRows, EVENTS, WS_FRAMES};
pub use media::{
    media_flows, media_rows, rtp_rows, stun_rows, FlowRow, FlowRows, MediaRow, MediaRows, RtpRow,
    RtpRows, SessionRef, MEDIA, RTP_STREAMS, STUN_TRANSACTIONS,
};
pub use sessions::{Sessions, SESSIONS};
pub use tcp::{connection_rows, ConnRow, ConnRows, TCP_CONNECTIONS};

use crate::text::escape_controls;
use crate::time::Timestamp;
use serde::ser::{Serialize, SerializeMap, Serializer};
use std::borrow::Cow;
use std::io::{self, Write};

/// The type of a column, as Parquet and Arrow store it (CSV and JSON write it as text and
/// JSON values).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum ColumnType {
    /// 32-bit signed integer (ports, codes, statuses).
    Int32,
    /// 64-bit signed integer (ids, counts; signed because Spark has no unsigned types).
    Int64,
    /// 64-bit float (durations in ms).
    Float64,
    /// true/false.
    Bool,
    /// UTF-8 text.
    Text,
    /// A UTC instant with nanoseconds (CSV: epoch seconds with nine decimals).
    Timestamp,
}

impl ColumnType {
    /// The name the README uses.
    pub fn name(self) -> &'static str {
        match self {
            ColumnType::Int32 => "int32",
            ColumnType::Int64 => "int64",
            ColumnType::Float64 => "float64",
            ColumnType::Bool => "bool",
            ColumnType::Text => "text",
            ColumnType::Timestamp => "timestamp",
        }
    }
}

/// One cell.
#[derive(Clone, Debug, PartialEq)]
pub enum Value<'a> {
    /// No value (an empty CSV cell, a JSON and Parquet null).
    Null,
    /// An integer (either integer type).
    Int(i64),
    /// A float.
    Float(f64),
    /// A boolean.
    Bool(bool),
    /// Text, as read from the capture or named by teardown.
    Text(Cow<'a, str>),
    /// A capture timestamp.
    Ts(Timestamp),
}

impl<'a> Value<'a> {
    /// An unsigned count (saturating at `i64::MAX`, which no capture reaches).
    pub fn count(n: u64) -> Value<'a> {
        Value::Int(i64::try_from(n).unwrap_or(i64::MAX))
    }

    /// An optional value.
    pub fn opt<T: Into<Value<'a>>>(v: Option<T>) -> Value<'a> {
        v.map_or(Value::Null, Into::into)
    }

    /// Borrowed text.
    pub fn text(s: &'a str) -> Value<'a> {
        Value::Text(Cow::Borrowed(s))
    }
}

impl<'a> From<u16> for Value<'a> {
    fn from(v: u16) -> Self {
        Value::Int(v.into())
    }
}

impl<'a> From<u8> for Value<'a> {
    fn from(v: u8) -> Self {
        Value::Int(v.into())
    }
}

impl<'a> From<u32> for Value<'a> {
    fn from(v: u32) -> Self {
        Value::Int(v.into())
    }
}

impl<'a> From<f64> for Value<'a> {
    fn from(v: f64) -> Self {
        Value::Float(v)
    }
}

impl<'a> From<bool> for Value<'a> {
    fn from(v: bool) -> Self {
        Value::Bool(v)
    }
}

impl<'a> From<Timestamp> for Value<'a> {
    fn from(v: Timestamp) -> Self {
        Value::Ts(v)
    }
}

impl<'a> From<&'a str> for Value<'a> {
    fn from(v: &'a str) -> Self {
        Value::text(v)
    }
}

impl<'a> From<String> for Value<'a> {
    fn from(v: String) -> Self {
        Value::Text(Cow::Owned(v))
    }
}

/// The row type of a table. Rows usually borrow the analysis (an event with its session,
/// an RTP stream with its flow), so a table is defined once over a row *family* and read
/// over rows of any lifetime.
pub trait Rows: 'static {
    /// One row, borrowing data that lives for `'a`.
    type Row<'a>;
}

/// One column of a table whose rows are `F::Row`.
pub struct Column<F: Rows> {
    /// The column name (CSV header, JSON key, Parquet field).
    pub name: &'static str,
    /// Its type.
    pub ty: ColumnType,
    /// Its unit (`ms`, `bytes`, ...), empty when it has none.
    pub unit: &'static str,
    /// What it holds, in one line (the README's column table).
    pub doc: &'static str,
    /// Reads the cell of one row.
    pub get: for<'r, 'a> fn(&'r F::Row<'a>) -> Value<'r>,
}

// Not derived: a derive would ask `F: Clone`, and `F` is only a marker.
impl<F: Rows> Clone for Column<F> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<F: Rows> Copy for Column<F> {}

/// A table: its name and its columns, in output order.
pub struct Table<F: Rows> {
    /// The table's name (the export's folder).
    pub name: &'static str,
    /// Its columns.
    pub columns: &'static [Column<F>],
}

impl<F: Rows> Table<F> {
    /// The column names, in order.
    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.columns.iter().map(|c| c.name)
    }

    /// Writes the rows as CSV with a header row. Floats are rounded to three decimals (a
    /// microsecond on the `_ms` columns); `raw` keeps capture text as it was, otherwise
    /// every text cell is made [`csv_safe`].
    pub fn write_csv<'r, 'a: 'r>(
        &self,
        rows: impl IntoIterator<Item = &'r F::Row<'a>>,
        raw: bool,
        out: impl Write,
    ) -> io::Result<()> {
        let mut w = csv::Writer::from_writer(out);
        w.write_record(self.names())?;
        for row in rows {
            let cells = self.columns.iter().map(|c| CsvCell {
                value: (c.get)(row),
                raw,
            });
            w.serialize(cells.collect::<Vec<_>>())
                .map_err(io::Error::other)?;
        }
        w.flush()
    }

    /// One row as a JSON object (column name → value).
    pub fn json_row<'r, 'a>(&'r self, row: &'r F::Row<'a>) -> JsonRow<'r, 'a, F> {
        JsonRow { table: self, row }
    }

    /// The README's table of the columns: name, type, unit, meaning.
    pub fn markdown(&self) -> String {
        let mut s = String::from("| column | type | unit | meaning |\n|---|---|---|---|\n");
        for c in self.columns {
            s.push_str(&format!(
                "| `{}` | {} | {} | {} |\n",
                c.name,
                c.ty.name(),
                c.unit,
                c.doc
            ));
        }
        s
    }
}

/// Rounds to three decimals.
pub fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

/// A text cell as every CSV teardown writes it (unless `--csv-raw`): control characters
/// and direction marks escaped ([`escape_controls`]), then [`spreadsheet_safe`].
pub fn csv_safe(text: &str) -> Cow<'_, str> {
    match escape_controls(text) {
        Cow::Borrowed(t) => spreadsheet_safe(t),
        Cow::Owned(t) => Cow::Owned(spreadsheet_safe(&t).into_owned()),
    }
}

/// Neutralises a text cell for spreadsheets: a cell starting with `=`, `+`, `-`, `@`, tab
/// or carriage return would be read as a formula (CSV injection), so it gets a leading `'`.
pub fn spreadsheet_safe(text: &str) -> Cow<'_, str> {
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        Cow::Owned(format!("'{text}"))
    } else {
        Cow::Borrowed(text)
    }
}

/// A cell as CSV writes it.
struct CsvCell<'a> {
    value: Value<'a>,
    raw: bool,
}

impl Serialize for CsvCell<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match &self.value {
            Value::Null => s.serialize_none(),
            Value::Int(v) => s.serialize_i64(*v),
            Value::Float(v) => s.serialize_f64(round3(*v)),
            Value::Bool(v) => s.serialize_bool(*v),
            Value::Text(t) if self.raw => s.serialize_str(t),
            Value::Text(t) => s.serialize_str(&csv_safe(t)),
            Value::Ts(t) => s.collect_str(t),
        }
    }
}

impl Serialize for Value<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Null => s.serialize_none(),
            Value::Int(v) => s.serialize_i64(*v),
            Value::Float(v) => s.serialize_f64(*v),
            Value::Bool(v) => s.serialize_bool(*v),
            Value::Text(t) => s.serialize_str(t),
            Value::Ts(t) => t.serialize(s),
        }
    }
}

/// A row as a JSON object, columns in table order.
pub struct JsonRow<'r, 'a, F: Rows> {
    table: &'r Table<F>,
    row: &'r F::Row<'a>,
}

impl<F: Rows> JsonRow<'_, '_, F> {
    /// Serializes the row's columns into an open map (so callers can add entries).
    pub fn serialize_entries<M: SerializeMap>(&self, map: &mut M) -> Result<(), M::Error> {
        for c in self.table.columns {
            map.serialize_entry(c.name, &(c.get)(self.row))?;
        }
        Ok(())
    }
}

impl<F: Rows> Serialize for JsonRow<'_, '_, F> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.table.columns.len()))?;
        self.serialize_entries(&mut map)?;
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every table: its name, its column names and its README table.
    fn tables() -> Vec<(&'static str, Vec<&'static str>, String)> {
        fn one<F: Rows>(t: &Table<F>) -> (&'static str, Vec<&'static str>, String) {
            (t.name, t.names().collect(), t.markdown())
        }
        vec![
            one(&SESSIONS),
            one(&EVENTS),
            one(&TCP_CONNECTIONS),
            one(&WS_FRAMES),
            one(&RTP_STREAMS),
            one(&STUN_TRANSACTIONS),
            one(&CONCURRENCY),
            one(&MEDIA),
        ]
    }

    #[test]
    fn column_names_are_unique_snake_case() {
        for (table, names, _) in tables() {
            let mut sorted = names.clone();
            sorted.sort_unstable();
            sorted.dedup();
            assert_eq!(
                sorted.len(),
                names.len(),
                "{table}: a column name is used twice"
            );
            for n in names {
                assert!(
                    n.chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
                    "{table}: {n}"
                );
            }
        }
    }

    /// The README's column table of `table`, between its `<!-- columns:NAME -->` markers.
    fn readme_section(name: &str) -> String {
        let readme = include_str!("../../README.md");
        let open = format!("<!-- columns:{name} -->\n");
        let close = format!("<!-- /columns:{name} -->");
        let start = readme.find(&open).expect("README marker") + open.len();
        let end = readme[start..].find(&close).expect("README end marker") + start;
        readme[start..end].to_string()
    }

    #[test]
    fn readme_column_tables_match_the_registry() {
        for (table, _, want) in tables() {
            assert!(
                readme_section(table) == want,
                "README's {table} table differs from src/columns; paste this between the \
                 <!-- columns:{table} --> markers:\n{want}"
            );
        }
    }

    #[test]
    fn formulas_are_neutralised_and_plain_text_is_not() {
        assert_eq!(spreadsheet_safe("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(spreadsheet_safe("-1+2"), "'-1+2");
        assert_eq!(spreadsheet_safe("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(spreadsheet_safe("going away"), "going away");
        assert!(matches!(spreadsheet_safe("/chat"), Cow::Borrowed(_)));
    }

    #[test]
    fn csv_cells_round_and_neutralise() {
        let cell = |value, raw| {
            let mut w = csv::Writer::from_writer(Vec::new());
            w.serialize([CsvCell { value, raw }]).unwrap();
            String::from_utf8(w.into_inner().unwrap()).unwrap()
        };
        assert_eq!(cell(Value::Float(1.23456), false), "1.235\n");
        assert_eq!(cell(Value::text("=1+1"), false), "'=1+1\n");
        assert_eq!(cell(Value::text("=1+1"), true), "=1+1\n");
        assert_eq!(cell(Value::Null, false), "\"\"\n");
        assert_eq!(
            cell(Value::Ts(Timestamp(1_500_000_001)), false),
            "1.500000001\n"
        );
    }
}
