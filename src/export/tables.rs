//! The exported tables as polars data frames, each built from its definition in the
//! column registry (`src/columns`), which also feeds the README's column tables.

use crate::analysis::Analysis;
use crate::columns::{
    self, connection_rows, event_rows, is_frame, media_flows, rtp_rows, stun_rows, ColumnType,
    Rows, Table, Value as Cell, CONCURRENCY, EVENTS, RTP_STREAMS, SESSIONS, STUN_TRANSACTIONS,
    TCP_CONNECTIONS, WS_FRAMES,
};
use crate::loadrun::LoadRun;
use polars::prelude::*;

/// Every table, in the order they are written.
pub const TABLES: [&str; 7] = [
    SESSIONS.name,
    EVENTS.name,
    TCP_CONNECTIONS.name,
    WS_FRAMES.name,
    RTP_STREAMS.name,
    STUN_TRANSACTIONS.name,
    CONCURRENCY.name,
];

/// A registry table as a data frame: one polars column per registry column, typed by
/// its [`ColumnType`]; with `csv_safe`, text cells are made
/// [`csv_safe`](crate::columns::csv_safe) as in every CSV teardown writes.
pub fn frame<'a, F: Rows>(
    table: &Table<F>,
    rows: &[F::Row<'a>],
    csv_safe: bool,
) -> PolarsResult<DataFrame> {
    let columns = table.columns.iter().map(|c| {
        let cells = rows.iter().map(|r| (c.get)(r));
        let name = c.name.into();
        match c.ty {
            ColumnType::Int32 => {
                let v: Vec<Option<i32>> = cells
                    .map(|v| int(v).and_then(|i| i32::try_from(i).ok()))
                    .collect();
                Column::new(name, v)
            }
            ColumnType::Int64 => Column::new(name, cells.map(int).collect::<Vec<_>>()),
            ColumnType::Float64 => {
                let v: Vec<Option<f64>> = cells
                    .map(|v| match v {
                        Cell::Float(f) => Some(f),
                        _ => None,
                    })
                    .collect();
                Column::new(name, v)
            }
            ColumnType::Bool => {
                let v: Vec<Option<bool>> = cells
                    .map(|v| match v {
                        Cell::Bool(b) => Some(b),
                        _ => None,
                    })
                    .collect();
                Column::new(name, v)
            }
            ColumnType::Text => {
                let v: Vec<Option<String>> = cells
                    .map(|v| match v {
                        Cell::Text(t) if csv_safe => Some(columns::csv_safe(&t).into_owned()),
                        Cell::Text(t) => Some(t.into_owned()),
                        _ => None,
                    })
                    .collect();
                Column::new(name, v)
            }
            ColumnType::Timestamp => cells
                .map(|v| match v {
                    Cell::Ts(t) => Some(t.0),
                    _ => None,
                })
                .collect::<Int64Chunked>()
                .with_name(name)
                .into_datetime(TimeUnit::Nanoseconds, Some(TimeZone::UTC))
                .into_column(),
        }
    });
    DataFrame::new_infer_height(columns.collect())
}

fn int(v: Cell<'_>) -> Option<i64> {
    match v {
        Cell::Int(i) => Some(i),
        _ => None,
    }
}

/// The tables of an analysis, named, in [`TABLES`] order; `ws_frames` only when `frames`;
/// text made spreadsheet-safe when `csv_safe`.
pub fn tables(
    a: &Analysis,
    run: &LoadRun,
    frames: bool,
    csv_safe: bool,
) -> Vec<(&'static str, PolarsResult<DataFrame>)> {
    let flows = media_flows(a);
    let safe = csv_safe;
    let mut out = vec![
        (SESSIONS.name, frame(&SESSIONS, &a.sessions, safe)),
        (EVENTS.name, frame(&EVENTS, &event_rows(a, |_| true), safe)),
        (
            TCP_CONNECTIONS.name,
            frame(&TCP_CONNECTIONS, &connection_rows(a), safe),
        ),
    ];
    if frames {
        let rows = event_rows(a, is_frame);
        out.push((WS_FRAMES.name, frame(&WS_FRAMES, &rows, safe)));
    }
    out.push((
        RTP_STREAMS.name,
        frame(&RTP_STREAMS, &rtp_rows(&flows), safe),
    ));
    let rows = stun_rows(&flows);
    out.push((
        STUN_TRANSACTIONS.name,
        frame(&STUN_TRANSACTIONS, &rows, safe),
    ));
    out.push((CONCURRENCY.name, frame(&CONCURRENCY, &run.steps, safe)));
    out
}
