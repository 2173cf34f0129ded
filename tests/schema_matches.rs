//! The migrations, applied in order to an empty database, give exactly the
//! tables, columns, types, nullability and primary keys that
//! `src/store/schema.rs` (diesel's view of them) declares — on SQLite and
//! PostgreSQL. Migrations are append-only: a change that makes the two
//! disagree fails here.

mod common;

use std::collections::BTreeMap;

use common::{each_backend, TestDb};
use diesel::{Connection, PgConnection, QueryableByName, RunQueryDsl, SqliteConnection};
use strongroom::Backend;

/// A column as declared or as found: its SQL type family and whether it
/// may be NULL.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Column {
    kind: String,
    nullable: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
struct Table {
    primary_key: Vec<String>,
    columns: BTreeMap<String, Column>,
}

/// The `diesel::table!` blocks of `src/store/schema.rs`.
fn declared() -> BTreeMap<String, Table> {
    let text = include_str!("../src/store/schema.rs");
    let mut tables = BTreeMap::new();
    for block in text.split("diesel::table! {").skip(1) {
        let block = &block[..block.find("\n}").expect("a table! block ends")];
        let mut lines = block
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with("use "));
        let head = lines.next().expect("a table name line");
        let (name, rest) = head.split_once(' ').expect("name (primary key) {");
        let key = rest
            .trim_start_matches('(')
            .split_once(')')
            .expect("a primary key")
            .0;
        let mut table = Table {
            primary_key: key.split(',').map(|k| k.trim().to_owned()).collect(),
            ..Table::default()
        };
        for line in lines {
            let Some((column, ty)) = line.trim_end_matches(',').split_once("->") else {
                continue;
            };
            let ty = ty.trim();
            let (nullable, ty) = match ty.strip_prefix("Nullable<") {
                Some(inner) => (true, inner.trim_end_matches('>')),
                None => (false, ty),
            };
            let kind = match ty {
                "Text" => "text",
                "BigInt" => "bigint",
                "Integer" => "integer",
                "Binary" => "binary",
                "Uuid" => "uuid",
                other => panic!("schema.rs uses a type this test does not know: {other}"),
            };
            table.columns.insert(
                column.trim().to_owned(),
                Column {
                    kind: kind.to_owned(),
                    nullable,
                },
            );
        }
        tables.insert(name.to_owned(), table);
    }
    tables
}

#[derive(QueryableByName)]
struct SqliteColumn {
    #[diesel(sql_type = diesel::sql_types::Text)]
    tbl: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    name: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    ty: String,
    #[diesel(sql_type = diesel::sql_types::Integer)]
    not_null: i32,
    #[diesel(sql_type = diesel::sql_types::Integer)]
    pk: i32,
}

#[derive(QueryableByName)]
struct PgColumn {
    #[diesel(sql_type = diesel::sql_types::Text)]
    tbl: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    name: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    ty: String,
    #[diesel(sql_type = diesel::sql_types::Bool)]
    nullable: bool,
    #[diesel(sql_type = diesel::sql_types::Integer)]
    pk: i32,
}

/// An SQL type name as either engine spells it, as a type family.
fn family(sql_type: &str) -> String {
    match sql_type.to_ascii_lowercase().as_str() {
        "text" | "character varying" => "text",
        "bigint" => "bigint",
        "integer" | "int" => "integer",
        "blob" | "bytea" => "binary",
        "uuid" => "uuid",
        other => other,
    }
    .to_owned()
}

/// The tables the migrations made, without diesel's own.
fn found(db: &TestDb) -> BTreeMap<String, Table> {
    drop(db.store()); // applies the embedded migrations, in order
    let mut tables: BTreeMap<String, Table> = BTreeMap::new();
    let mut keys: BTreeMap<String, Vec<(i32, String)>> = BTreeMap::new();
    let mut add = |tbl: String, name: String, ty: &str, nullable: bool, pk: i32| {
        if pk > 0 {
            keys.entry(tbl.clone())
                .or_default()
                .push((pk, name.clone()));
        }
        tables.entry(tbl).or_default().columns.insert(
            name,
            Column {
                kind: family(ty),
                nullable,
            },
        );
    };
    match db.backend {
        Backend::Sqlite => {
            let mut conn =
                SqliteConnection::establish(db.sqlite_path().unwrap().to_str().unwrap()).unwrap();
            let rows: Vec<SqliteColumn> = diesel::sql_query(
                "SELECT m.name AS tbl, p.name AS name, p.type AS ty, p.\"notnull\" AS not_null, p.pk AS pk \
                 FROM sqlite_master m, pragma_table_info(m.name) p \
                 WHERE m.type = 'table' AND m.name NOT LIKE '__diesel%' AND m.name NOT LIKE 'sqlite_%'",
            )
            .load(&mut conn)
            .unwrap();
            for r in rows {
                // SQLite lets a primary key column be NULL unless it says
                // NOT NULL; an INTEGER PRIMARY KEY is the rowid, never NULL.
                let rowid = r.pk == 1 && r.ty.eq_ignore_ascii_case("integer");
                add(r.tbl, r.name, &r.ty, r.not_null == 0 && !rowid, r.pk);
            }
        }
        _ => {
            let mut conn = PgConnection::establish(&db.url).unwrap();
            let rows: Vec<PgColumn> = diesel::sql_query(
                "SELECT c.table_name::text AS tbl, c.column_name::text AS name, c.data_type::text AS ty, \
                        (c.is_nullable = 'YES') AS nullable, \
                        COALESCE((SELECT k.ordinal_position FROM information_schema.key_column_usage k \
                                  JOIN information_schema.table_constraints t \
                                    ON t.constraint_name = k.constraint_name AND t.table_name = k.table_name \
                                  WHERE t.constraint_type = 'PRIMARY KEY' AND k.table_name = c.table_name \
                                    AND k.column_name = c.column_name AND k.table_schema = 'public'), 0)::int AS pk \
                 FROM information_schema.columns c \
                 WHERE c.table_schema = 'public' AND c.table_name NOT LIKE '__diesel%'",
            )
            .load(&mut conn)
            .unwrap();
            for r in rows {
                add(r.tbl, r.name, &r.ty, r.nullable, r.pk);
            }
        }
    }
    for (tbl, mut key) in keys {
        key.sort();
        tables.get_mut(&tbl).unwrap().primary_key = key.into_iter().map(|(_, n)| n).collect();
    }
    tables
}

#[test]
fn the_migrations_give_exactly_the_schema_diesel_declares() {
    let declared = declared();
    assert!(declared.len() >= 9, "parsed {} tables", declared.len());
    each_backend(
        "the_migrations_give_exactly_the_schema_diesel_declares",
        |db| {
            let found = found(db);
            assert_eq!(
                found.keys().collect::<Vec<_>>(),
                declared.keys().collect::<Vec<_>>(),
                "{:?}: tables",
                db.backend
            );
            for (name, table) in &declared {
                // An id is a `uuid` on PostgreSQL and a 16-byte BLOB on
                // SQLite (which has no uuid type).
                let mut expected = table.clone();
                if db.backend == Backend::Sqlite {
                    for column in expected.columns.values_mut() {
                        if column.kind == "uuid" {
                            column.kind = "binary".to_owned();
                        }
                    }
                }
                // PostgreSQL's meta index has no primary-key constraint
                // since migration 000005: a plain (deduplicated) b-tree on
                // (tag, created_at) serves it, checked below.
                if db.backend != Backend::Sqlite && name == "meta_index" {
                    expected.primary_key.clear();
                }
                assert_eq!(found[name], expected, "{:?}: table {name}", db.backend);
            }
            if db.backend != Backend::Sqlite {
                assert_eq!(
                    postgres_index_columns(db, "meta_index_lookup"),
                    ["tag", "created_at"],
                    "PostgreSQL: the meta index's b-tree"
                );
            }
        },
    );
}

#[derive(QueryableByName)]
struct IndexColumn {
    #[diesel(sql_type = diesel::sql_types::Text)]
    name: String,
}

/// The key columns of PostgreSQL index `index` in the test's schema, in
/// order (empty if there is no such index).
fn postgres_index_columns(db: &TestDb, index: &str) -> Vec<String> {
    let mut conn = PgConnection::establish(&db.url).unwrap();
    diesel::sql_query(
        "SELECT a.attname::text AS name \
         FROM pg_index i \
         JOIN pg_class c ON c.oid = i.indexrelid \
         JOIN pg_namespace n ON n.oid = c.relnamespace \
         CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, position) \
         JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum \
         WHERE n.nspname = current_schema() AND c.relname = $1 AND NOT i.indisunique \
         ORDER BY k.position",
    )
    .bind::<diesel::sql_types::Text, _>(index)
    .load::<IndexColumn>(&mut conn)
    .unwrap()
    .into_iter()
    .map(|c| c.name)
    .collect()
}
