//! Helpers shared by the tests that read teardown's tables back (Parquet, Arrow, CSV).

use polars::prelude::*;

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
