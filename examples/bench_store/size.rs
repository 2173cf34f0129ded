//! Stored bytes, measured from the database itself: every table with its
//! indexes (and on PostgreSQL its TOAST data and free-space and visibility
//! maps), in bytes.
//!
//! - PostgreSQL: `pg_total_relation_size` of each table of the schema.
//! - SQLite: the `dbstat` virtual table (the bundled SQLite is built with
//!   `SQLITE_ENABLE_DBSTAT_VTAB`; [`SizeDb::table_bytes`] fails loudly if
//!   it is not): the size of every page of each table's and each index's
//!   b-tree, overflow pages included, summed by table. Free pages belong to
//!   no table and are not counted.
//!
//! A shape's bytes per record are taken as a difference: its tables
//! holding the records minus the same tables empty (a table's or index's
//! first page, which an empty store has too), divided by the records.

use std::collections::BTreeMap;

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};

/// Bytes per table, indexes included.
pub type Sizes = BTreeMap<String, u64>;

#[derive(QueryableByName)]
struct TableSize {
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = BigInt)]
    bytes: i64,
}

fn collect(rows: Vec<TableSize>) -> anyhow::Result<Sizes> {
    rows.into_iter()
        .map(|r| Ok((r.name, u64::try_from(r.bytes)?)))
        .collect()
}

/// A database that can say how large its tables are.
pub trait SizeDb {
    /// Every table of the database, with its size (indexes included).
    fn table_bytes(&mut self) -> anyhow::Result<Sizes>;
}

impl SizeDb for diesel::SqliteConnection {
    fn table_bytes(&mut self) -> anyhow::Result<Sizes> {
        let rows = diesel::sql_query(
            "SELECT s.tbl_name AS name, SUM(d.pgsize) AS bytes \
             FROM dbstat AS d JOIN sqlite_schema AS s ON s.name = d.name \
             WHERE s.type IN ('table', 'index') AND s.tbl_name NOT LIKE 'sqlite%' \
             GROUP BY s.tbl_name",
        )
        .load::<TableSize>(self)
        .map_err(|err| {
            anyhow::anyhow!(
                "SQLite's dbstat table is unavailable ({err}): this SQLite was built \
                 without SQLITE_ENABLE_DBSTAT_VTAB"
            )
        })?;
        collect(rows)
    }
}

impl SizeDb for diesel::PgConnection {
    fn table_bytes(&mut self) -> anyhow::Result<Sizes> {
        let rows = diesel::sql_query(
            "SELECT c.relname::text AS name, pg_total_relation_size(c.oid)::bigint AS bytes \
             FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace \
             WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p')",
        )
        .load::<TableSize>(self)?;
        collect(rows)
    }
}

/// The bytes of the tables `which` picks.
pub fn total(sizes: &Sizes, which: impl Fn(&str) -> bool) -> u64 {
    sizes
        .iter()
        .filter(|(name, _)| which(name))
        .map(|(_, bytes)| bytes)
        .sum()
}

/// Bytes per record of the tables `which` picks: `full` (holding `n`
/// records) minus `empty`, divided by `n`.
pub fn per_record(empty: &Sizes, full: &Sizes, n: usize, which: impl Fn(&str) -> bool) -> f64 {
    let full = total(full, &which) as f64;
    let empty = total(empty, &which) as f64;
    (full - empty) / n as f64
}

/// [`per_record`] of each table `which` picks.
pub fn per_table(
    empty: &Sizes,
    full: &Sizes,
    n: usize,
    which: impl Fn(&str) -> bool,
) -> BTreeMap<String, f64> {
    full.keys()
        .filter(|name| which(name))
        .map(|name| {
            let only = |t: &str| t == name;
            (name.clone(), per_record(empty, full, n, only))
        })
        .collect()
}
