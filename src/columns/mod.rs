//! The output tables, each defined once: a list of [`Column`]s (name, type, unit, one-line
//! doc, how to read the value from a row). The CSV and JSON writers here, the Parquet
//! export and the README's column tables all come from these lists, so a column cannot
//! exist in one output and be missing from another (`ARCHITECTURE.md`, "add a column").

mod sessions;

pub use sessions::SESSIONS;

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

/// One column of a table over rows of type `R`.
pub struct Column<R: 'static> {
    /// The column name (CSV header, JSON key, Parquet field).
    pub name: &'static str,
    /// Its type.
    pub ty: ColumnType,
    /// Its unit (`ms`, `bytes`, ...), empty when it has none.
    pub unit: &'static str,
    /// What it holds, in one line (the README's column table).
    pub doc: &'static str,
    /// Reads the cell of one row.
    pub get: fn(&R) -> Value<'_>,
}

/// A table: its name and its columns, in output order.
pub struct Table<R: 'static> {
    /// The table's name (the export's folder).
    pub name: &'static str,
    /// Its columns.
    pub columns: &'static [Column<R>],
}

impl<R> Table<R> {
    /// The column names, in order.
    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.columns.iter().map(|c| c.name)
    }

    /// Writes the rows as CSV with a header row. Floats are rounded to three decimals (a
    /// microsecond on the `_ms` columns); `raw` keeps capture text as it was, otherwise
    /// every text cell has its controls escaped ([`escape_controls`]) and is made
    /// [`spreadsheet_safe`].
    pub fn write_csv<'r>(
        &self,
        rows: impl IntoIterator<Item = &'r R>,
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
    pub fn json_row<'r>(&'r self, row: &'r R) -> JsonRow<'r, R> {
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
            Value::Text(t) => s.serialize_str(&spreadsheet_safe(&escape_controls(t))),
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
pub struct JsonRow<'r, R: 'static> {
    table: &'r Table<R>,
    row: &'r R,
}

impl<R> JsonRow<'_, R> {
    /// Serializes the row's columns into an open map (so callers can add entries).
    pub fn serialize_entries<M: SerializeMap>(&self, map: &mut M) -> Result<(), M::Error> {
        for c in self.table.columns {
            map.serialize_entry(c.name, &(c.get)(self.row))?;
        }
        Ok(())
    }
}

impl<R> Serialize for JsonRow<'_, R> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.table.columns.len()))?;
        self.serialize_entries(&mut map)?;
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_names_are_unique_snake_case() {
        let names: Vec<_> = SESSIONS.names().collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), names.len(), "a column name is used twice");
        for n in names {
            assert!(
                n.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
                "{n}"
            );
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
        let want = SESSIONS.markdown();
        assert!(
            readme_section(SESSIONS.name) == want,
            "README's sessions table differs from src/columns; paste this between the markers:\n{want}"
        );
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
