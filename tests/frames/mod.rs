//! Helpers shared by the tests that read teardown's tables back (Parquet, Arrow, CSV).

use crate::common::run;
use polars::prelude::*;
use std::path::Path;

/// A CSV column by name.
pub fn csv_col<'a>(
    h: &csv::StringRecord,
    rows: &'a [csv::StringRecord],
    name: &str,
) -> Vec<&'a str> {
    let i = h.iter().position(|c| c == name).unwrap();
    rows.iter().map(|r| r.get(i).unwrap()).collect()
}

/// Epoch text (`secs.nanos`) as nanoseconds.
pub fn ns(text: &str) -> i64 {
    let (s, f) = text.split_once('.').unwrap();
    s.parse::<i64>().unwrap() * 1_000_000_000 + f.parse::<i64>().unwrap()
}

/// A text column of a frame.
pub fn strings(df: &DataFrame, name: &str) -> Vec<Option<String>> {
    df.column(name)
        .unwrap()
        .str()
        .unwrap()
        .iter()
        .map(|v| v.map(String::from))
        .collect()
}

/// An integer column of a frame, as i64.
pub fn ints(df: &DataFrame, name: &str) -> Vec<Option<i64>> {
    let c = df.column(name).unwrap().cast(&DataType::Int64).unwrap();
    c.i64().unwrap().iter().collect()
}

/// `teardown sessions --format csv` as records with a header lookup.
pub fn sessions_csv(capture: &Path) -> (csv::StringRecord, Vec<csv::StringRecord>) {
    let (code, out, err) = run(&[
        "sessions",
        "--format",
        "csv",
        "--csv-raw",
        capture.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let mut r = csv::Reader::from_reader(out.as_bytes());
    let h = r.headers().unwrap().clone();
    (h, r.records().map(Result::unwrap).collect())
}
