//! The `concurrency` table: the step function of sessions open.

use super::{Column, ColumnType::*, Rows, Table, Value};
use crate::loadrun::Step;

/// The rows of the concurrency table: the load run's steps.
pub struct Steps;

impl Rows for Steps {
    type Row<'a> = Step;
}

/// One row per instant where the number of open sessions changes.
pub static CONCURRENCY: Table<Steps> = Table {
    name: "concurrency",
    columns: &[
        Column {
            name: "ts",
            ty: Timestamp,
            unit: "",
            doc: "an instant where it changes",
            get: |s| Value::from(s.ts),
        },
        Column {
            name: "open_sessions",
            ty: Int64,
            unit: "sessions",
            doc: "open from `ts` until the next row",
            get: |s| Value::count(s.open as u64),
        },
        Column {
            name: "established",
            ty: Int64,
            unit: "sessions",
            doc: "of those, established (upgrade answered 101, teardown not started)",
            get: |s| Value::count(s.established as u64),
        },
        Column {
            name: "connecting",
            ty: Int64,
            unit: "sessions",
            doc: "of those, connecting (SYN seen, not yet established or rejected)",
            get: |s| Value::count(s.connecting as u64),
        },
        Column {
            name: "started",
            ty: Int64,
            unit: "sessions",
            doc: "sessions starting at `ts`",
            get: |s| Value::count(s.started as u64),
        },
        Column {
            name: "torn_down",
            ty: Int64,
            unit: "sessions",
            doc: "sessions ending their open interval at `ts`",
            get: |s| Value::count(s.ended as u64),
        },
        Column {
            name: "abnormal_teardowns",
            ty: Int64,
            unit: "sessions",
            doc: "of those ending, abnormal ones",
            get: |s| Value::count(s.ended_abnormal as u64),
        },
    ],
};
