//! Two imports of one source at once, on SQLite and PostgreSQL: two
//! clients of one identity (one profile, a `Store` each, as two processes
//! would be) import the same rows in batches that overlap, one going
//! forwards and one backwards. The promise (src/client/import.rs): every
//! source row becomes exactly one record, and each call succeeds.

mod common;

use std::sync::Barrier;

use common::each_backend;
use strongroom::{Client, Fields, ImportRow, NewRecord, Plain};

const ROWS: usize = 300;
const BATCH: usize = 40;

fn rows() -> Vec<ImportRow> {
    (0..ROWS)
        .map(|i| {
            let mut fields = Fields::new();
            fields.insert("name", &format!("name {i}")).unwrap();
            ImportRow::new(
                i.to_string(),
                NewRecord::new("person", fields, Plain::new()),
            )
        })
        .collect()
}

#[test]
fn two_imports_of_one_source_at_once_import_each_row_once() {
    each_backend(
        "two_imports_of_one_source_at_once_import_each_row_once",
        |db| {
            Client::open_or_create(db.profile("alice"), &db.store()).unwrap();
            let rows = rows();
            // Batches of overlapping windows: 0..40, 20..60, …
            let windows: Vec<&[ImportRow]> = (0..ROWS)
                .step_by(BATCH / 2)
                .map(|start| &rows[start..(start + BATCH).min(ROWS)])
                .collect();
            let barrier = Barrier::new(2);
            let imported: Vec<usize> = std::thread::scope(|scope| {
                let runs: Vec<_> = [false, true]
                    .into_iter()
                    .map(|backwards| {
                        let (windows, barrier) = (&windows, &barrier);
                        scope.spawn(move || {
                            let store = db.store();
                            let me = Client::open_or_create(db.profile("alice"), &store).unwrap();
                            barrier.wait();
                            let mut order: Vec<&&[ImportRow]> = windows.iter().collect();
                            if backwards {
                                order.reverse();
                            }
                            order
                                .into_iter()
                                .map(|batch| {
                                    me.import_batch("legacy#people", batch).unwrap().imported
                                })
                                .sum::<usize>()
                        })
                    })
                    .collect();
                runs.into_iter().map(|r| r.join().unwrap()).collect()
            });
            assert_eq!(imported.iter().sum::<usize>(), ROWS, "{imported:?}");
            assert_eq!(db.count("SELECT COUNT(*) AS n FROM records"), ROWS as i64);
            assert_eq!(
                db.count("SELECT COUNT(*) AS n FROM import_map"),
                ROWS as i64
            );
            assert_eq!(
                db.count("SELECT COUNT(*) AS n FROM (SELECT DISTINCT record_id FROM import_map) d"),
                ROWS as i64
            );
            let alice = Client::open_or_create(db.profile("alice"), &db.store()).unwrap();
            assert_eq!(alice.imported_count("legacy#people").unwrap(), ROWS as u64);
        },
    );
}

/// `MAX_IMPORT_NAME_LEN`: a source name or source id over 1,024 bytes is
/// `InvalidInput` before anything is written, on both engines (the
/// PostgreSQL index on the import map cannot hold a much longer one); at
/// the limit it imports.
#[test]
fn a_source_name_or_id_over_the_limit_is_invalid_input_and_nothing_is_written() {
    each_backend(
        "a_source_name_or_id_over_the_limit_is_invalid_input_and_nothing_is_written",
        |db| {
            let client = Client::open_or_create(db.profile("importer"), &db.store()).unwrap();
            let at_limit = "i".repeat(strongroom::MAX_IMPORT_NAME_LEN);
            let over = "o".repeat(strongroom::MAX_IMPORT_NAME_LEN + 1);
            let row = |id: &str| {
                let mut fields = Fields::new();
                fields.insert("name", "n").unwrap();
                ImportRow::new(id, NewRecord::new("person", fields, Plain::new()))
            };
            for (source, id) in [(over.as_str(), "1"), ("legacy", over.as_str())] {
                let refused = client.import_batch(source, &[row(id)]);
                assert!(
                    matches!(refused, Err(strongroom::Error::InvalidInput(_))),
                    "{refused:?}"
                );
            }
            assert_eq!(db.count("SELECT COUNT(*) AS n FROM records"), 0);
            let outcome = client.import_batch(&at_limit, &[row(&at_limit)]).unwrap();
            assert_eq!(outcome.imported, 1);
            // Looking one up is no error (an older build's import may hold
            // one): it is simply not there.
            let found = client
                .imported("legacy", std::slice::from_ref(&over))
                .unwrap();
            assert!(found.is_empty(), "{found:?}");
            assert_eq!(client.imported_count(&over).unwrap(), 0);
        },
    );
}
