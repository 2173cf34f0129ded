//! SQL injection (issue 19, point 5): strings that would break out of an
//! SQL literal or identifier, used as record types, field names, plain meta
//! names and values, blind index names, query filter values and import
//! source names and ids, each round-trip exactly or are refused with
//! `Error::InvalidInput`; and nothing else in the database changes: every
//! row of every table that was there before is there after, unchanged, and
//! the rows added are the accepted writes'. On SQLite and PostgreSQL.
//!
//! Also a static check of the library's sources: every piece of SQL text
//! the library builds itself (`sql_query`, `dsl::sql`, `.sql(…)`,
//! `batch_execute`) is a literal, or a `format!` of whitelisted
//! identifiers and numbers; values go through binds. (The import source's
//! SQL in the CLI is checked through the binary, in
//! `cli/tests/sql_injection.rs`.)

mod common;

use std::collections::BTreeSet;

use common::{each_backend, TestDb};
use strongroom::index::{IndexQuery, IndexSpec};
use strongroom::{Backend, Client, Error, Fields, ImportRow, NewRecord, Plain, Query};

/// Strings that mean something to an SQL parser (or to LIKE, or to a
/// driver's placeholders).
fn injections() -> Vec<String> {
    let mut all: Vec<String> = [
        "'; DROP TABLE records; --",
        "\" OR 1=1 --",
        "' OR '1'='1",
        "x'00'",
        "\\",
        "\\'",
        "$1",
        "?1",
        ":name",
        "%",
        "_",
        "%' OR '%'='",
        ") ; DELETE FROM records; --",
        "') ; DELETE FROM access_keys; --",
        "1; UPDATE clients SET name = 'owned'",
        "Robert'); DROP TABLE clients;--",
        "/* comment */ records",
        "E'\\x27'",
        "$$; DROP TABLE policies; $$",
        "\u{2019} OR \u{2018}1\u{2019}=\u{2018}1",
        "\u{ff07}; DROP TABLE records; --",
        "a\u{0}b",
        "\u{0}",
        "\n; DROP TABLE records",
    ]
    .map(str::to_owned)
    .to_vec();
    all.push("'".repeat(255));
    all.push("'".repeat(256));
    all.push(format!("{}\u{e9}", "\"".repeat(254)));
    all
}

/// Every table and its rows, each row as one text with all its columns.
type Dump = Vec<(String, BTreeSet<String>)>;

fn dump(db: &TestDb) -> Dump {
    let tables = match db.backend {
        Backend::Sqlite => db.texts(
            "SELECT name AS t FROM sqlite_master WHERE type = 'table' \
             AND name NOT LIKE 'sqlite%' ORDER BY name",
        ),
        _ => db.texts(
            "SELECT CAST(tablename AS TEXT) AS t FROM pg_catalog.pg_tables \
             WHERE schemaname = 'public' ORDER BY tablename",
        ),
    };
    assert!(tables.iter().any(|t| t == "records"), "{tables:?}");
    tables
        .into_iter()
        .map(|table| {
            let columns = match db.backend {
                Backend::Sqlite => {
                    db.texts(&format!("SELECT name AS t FROM pragma_table_info('{table}')"))
                }
                _ => db.texts(&format!(
                    "SELECT CAST(column_name AS TEXT) AS t FROM information_schema.columns \
                     WHERE table_schema = 'public' AND table_name = '{table}' ORDER BY ordinal_position"
                )),
            };
            let row = columns
                .iter()
                .map(|c| match db.backend {
                    Backend::Sqlite => format!("quote(\"{c}\")"),
                    _ => format!("COALESCE(quote_literal(\"{c}\"), 'NULL')"),
                })
                .collect::<Vec<_>>()
                .join(" || ',' || ");
            let rows = db.texts(&format!("SELECT {row} AS t FROM \"{table}\""));
            (table, rows.into_iter().collect())
        })
        .collect()
}

/// Rows of `after` not in `before`, by table; panics if a table or a row
/// of `before` is gone or changed.
fn added(before: &Dump, after: &Dump) -> Vec<(String, usize)> {
    let names = |d: &Dump| d.iter().map(|(t, _)| t.clone()).collect::<Vec<_>>();
    assert_eq!(names(before), names(after), "the tables changed");
    before
        .iter()
        .zip(after)
        .map(|((table, old), (_, new))| {
            let gone: Vec<_> = old.difference(new).collect();
            assert!(gone.is_empty(), "{table}: rows gone or changed: {gone:?}");
            (table.clone(), new.len() - old.len())
        })
        .collect()
}

fn rows_added(added: &[(String, usize)], table: &str) -> usize {
    added
        .iter()
        .find(|(t, _)| t == table)
        .map_or(0, |(_, n)| *n)
}

fn invalid<T: std::fmt::Debug>(what: &str, input: &str, result: strongroom::Result<T>) {
    match result {
        Err(Error::InvalidInput(message)) => assert!(!message.is_empty()),
        other => panic!("{what} {input:?}: expected InvalidInput, got {other:?}"),
    }
}

/// Data of other clients that must stay exactly as it is: records, a
/// share, a file, an import, an index.
fn bystanders(db: &TestDb) -> (Client, Client) {
    let store = db.store();
    let bob = Client::open_or_create(db.profile("bob"), &store).unwrap();
    let carol = Client::open_or_create(db.profile("carol"), &store).unwrap();
    bob.declare_indexes("note", [IndexSpec::on_field("note")])
        .unwrap();
    for i in 0..3 {
        let plain = Plain::from([("k".to_owned(), format!("bystander {i}"))]);
        bob.put(
            "note",
            &Fields::new().with("note", &format!("b{i}")).unwrap(),
            &plain,
        )
        .unwrap();
    }
    bob.share("note", carol.id()).unwrap();
    bob.put_file("scan", &Plain::new(), &b"a body"[..]).unwrap();
    let row = ImportRow::new("1", NewRecord::new("note", Fields::new(), Plain::new()));
    bob.import_batch("bystander-source", &[row]).unwrap();
    (bob, carol)
}

#[test]
fn injection_strings_round_trip_or_are_refused_and_nothing_else_changes() {
    each_backend(
        "injection_strings_round_trip_or_are_refused_and_nothing_else_changes",
        |db| {
            let (bob, _carol) = bystanders(db);
            let alice = Client::open_or_create(db.profile("alice"), &db.store()).unwrap();
            // A record whose plain value the wildcard strings would match
            // through LIKE.
            let decoy = alice
                .put(
                    "decoy",
                    &Fields::new().with("f", "decoy").unwrap(),
                    &Plain::from([("k".to_owned(), "anything".to_owned())]),
                )
                .unwrap();
            let before = dump(db);
            let (mut records, mut accepted_types, mut imports) = (0, 0, 0);
            for s in injections() {
                let name_ok = !s.is_empty()
                    && s.len() <= 255
                    && !s.chars().any(char::is_control)
                    && s.trim() == s;

                // As record type, field name, plain meta name and value.
                let fields = Fields::new().with(s.as_str(), &s).unwrap();
                let plain = Plain::from([(s.clone(), s.clone())]);
                let put = alice.put(&s, &fields, &plain);
                if !name_ok {
                    invalid("record type / field / plain name", &s, put);
                    // Queried by such a type: refused the same way, on both
                    // backends (not a database error on PostgreSQL, whose
                    // text cannot hold a NUL).
                    invalid(
                        "query by record type",
                        &s,
                        alice.query(&Query::new().record_type(&s)),
                    );
                } else {
                    let meta = put.unwrap_or_else(|e| panic!("{s:?}: {e:?}"));
                    records += 1;
                    accepted_types += 1;
                    let back = alice.get(meta.id).unwrap();
                    assert_eq!(back.meta().record_type, s);
                    assert_eq!(back.field::<String>(&s).unwrap(), s);
                    assert_eq!(back.meta().plain.get(&s), Some(&s));
                    assert_eq!(back.field_names().collect::<Vec<_>>(), [s.as_str()]);
                    let found = alice
                        .query(&Query::new().record_type(&s).plain_eq(&s, &s))
                        .unwrap();
                    assert_eq!(found.records.len(), 1, "{s:?}");
                    assert_eq!(found.records[0].meta().id, meta.id);
                    assert_eq!(
                        alice
                            .query(&Query::new().record_type(&s))
                            .unwrap()
                            .records
                            .len(),
                        1,
                        "{s:?}"
                    );

                    // As a blind index's name and field, and the value
                    // searched for.
                    alice
                        .declare_indexes(&s, [IndexSpec::on_field(&s)])
                        .unwrap();
                    let indexed = alice.put(&s, &fields, &Plain::new()).unwrap();
                    records += 1;
                    let search = Query::new()
                        .record_type(&s)
                        .index_eq(IndexQuery::new(&s).with(&s, &s));
                    let found = alice.query(&search).unwrap();
                    assert_eq!(
                        found
                            .records
                            .iter()
                            .map(|r| r.meta().id)
                            .collect::<Vec<_>>(),
                        [indexed.id],
                        "{s:?}"
                    );
                }

                // As a plain meta value (any string is a value) and the
                // filter on it, in a type of their own.
                let value_plain = Plain::from([("k".to_owned(), s.clone())]);
                let meta = alice
                    .put(
                        "values",
                        &Fields::new().with("f", &s).unwrap(),
                        &value_plain,
                    )
                    .unwrap_or_else(|e| panic!("value {s:?}: {e:?}"));
                records += 1;
                assert_eq!(alice.get(meta.id).unwrap().meta().plain.get("k"), Some(&s));
                let found = alice
                    .query(&Query::new().record_type("values").plain_eq("k", &s))
                    .unwrap();
                assert_eq!(
                    found
                        .records
                        .iter()
                        .map(|r| r.meta().id)
                        .collect::<Vec<_>>(),
                    [meta.id],
                    "plain_eq {s:?}"
                );
                // A filter value that matches nothing finds nothing (not
                // the decoy, not every record).
                let none = alice
                    .query(&Query::new().record_type("decoy").plain_eq("k", &s))
                    .unwrap();
                assert!(none.records.is_empty(), "{s:?} matched {:?}", none.records);

                // As an import source name and a source row id.
                let row = ImportRow::new(
                    s.clone(),
                    NewRecord::new(
                        "imported",
                        Fields::new().with("f", &s).unwrap(),
                        Plain::new(),
                    ),
                );
                // Refused only if it holds a NUL (see below).
                match alice.import_batch(&s, std::slice::from_ref(&row)) {
                    Ok(outcome) if !s.contains('\0') => {
                        assert_eq!(outcome.imported, 1, "{s:?}");
                        records += 1;
                        imports += 1;
                        let mapping = alice.imported(&s, std::slice::from_ref(&s)).unwrap();
                        let id = mapping
                            .get(&s)
                            .unwrap_or_else(|| panic!("{s:?} not mapped"));
                        assert_eq!(alice.get(*id).unwrap().field::<String>("f").unwrap(), s);
                        assert_eq!(alice.imported_count(&s).unwrap(), 1);
                        let again = alice.import_batch(&s, &[row]).unwrap();
                        assert_eq!((again.imported, again.already_imported), (0, 1), "{s:?}");
                    }
                    Err(Error::InvalidInput(_)) if s.contains('\0') => {
                        // No import could have stored it: looking it up is
                        // refused too.
                        invalid("imported", &s, alice.imported(&s, std::slice::from_ref(&s)));
                        invalid("imported_count", &s, alice.imported_count(&s));
                    }
                    other => panic!("import source/id {s:?}: {other:?}"),
                }
            }

            // The decoy and every bystander row are untouched; what was
            // added is alice's writes only.
            assert_eq!(
                alice.get(decoy.id).unwrap().field::<String>("f").unwrap(),
                "decoy"
            );
            assert_eq!(
                bob.query(&Query::new().record_type("note"))
                    .unwrap()
                    .records
                    .len(),
                4 // three notes and the imported row
            );
            let after = dump(db);
            let added = added(&before, &after);
            assert_eq!(rows_added(&added, "records"), records, "{added:?}");
            assert_eq!(rows_added(&added, "import_map"), imports, "{added:?}");
            assert_eq!(rows_added(&added, "clients"), 0, "{added:?}");
            assert_eq!(rows_added(&added, "policies"), 0, "{added:?}");
            // One key head per record type alice wrote ("values",
            // "imported" and each accepted injection type).
            assert_eq!(
                rows_added(&added, "key_heads"),
                accepted_types + 2,
                "{added:?}"
            );
            let writers = db.texts(&format!(
                "SELECT DISTINCT {} AS t FROM records",
                db.id_text("writer_id")
            ));
            assert_eq!(writers.len(), 2, "{writers:?}");
        },
    );
}

/// The argument of a call whose `(` was just passed: its text with every
/// string literal emptied (`""`) and whitespace removed, and the literals.
fn argument(after: &str) -> (String, Vec<String>) {
    let (mut depth, mut skeleton, mut literals) = (1, String::new(), Vec::new());
    let mut chars = after.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                let mut literal = String::new();
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => literal.extend(chars.next()),
                        '"' => break,
                        c => literal.push(c),
                    }
                }
                literals.push(literal);
                skeleton.push_str("\"\"");
            }
            '(' => {
                depth += 1;
                skeleton.push(c);
            }
            ')' => {
                depth -= 1;
                if depth == 0 {
                    break;
                }
                skeleton.push(c);
            }
            c => skeleton.push(c),
        }
    }
    (skeleton.split_whitespace().collect(), literals)
}

/// Every place the library's sources hand SQL text to diesel
/// (`sql_query`, `dsl::sql`, `.sql(…)`, `batch_execute`): each is a
/// string literal (a choice between literals at most), or one of the
/// reviewed `format!`s below, whose interpolations are identifiers chosen
/// from literals or numbers. Values are bound. A new place fails this test
/// until it is reviewed and listed.
#[test]
fn the_library_builds_sql_only_from_literals_and_reviewed_formats() {
    // (file, argument skeleton, its literals, why it is safe)
    let reviewed: [(&str, &str, &[&str], &str); 4] = [
        (
            "src/store/records.rs",
            "&format!(\"\")",
            &["({column}, {id_column}) {op} ("],
            "column, id_column and op are each chosen from literals just above (the table \
             name a `concat!` of the macro's literal argument, \"records\" or \"meta_index\"); \
             the values are bound",
        ),
        (
            "src/store/mod.rs",
            "&sql",
            &[],
            "sql is format!(\"PRAGMA busy_timeout = {}; …\", a Duration's milliseconds): a number",
        ),
        (
            "src/store/records.rs",
            "ifafter.text{\"\"}else{\"\"}",
            &[],
            "a choice between two literals",
        ),
        (
            "src/store/mod.rs",
            "&format!(\"\",timeout.as_millis())",
            &["SET statement_timeout = {}"],
            "a Duration's milliseconds: a number",
        ),
    ];
    let mut found = Vec::new();
    let mut stack = vec![std::path::PathBuf::from("src")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") || path.ends_with("__fuzz.rs") {
                continue;
            }
            // The code without comment lines (doc examples included).
            let code: String = std::fs::read_to_string(&path)
                .unwrap()
                .lines()
                .filter(|l| !l.trim_start().starts_with("//"))
                .collect::<Vec<_>>()
                .join("\n");
            for sink in ["sql_query(", "dsl::sql::<", "batch_execute(", ".sql("] {
                for (at, _) in code.match_indices(sink) {
                    let open = at + code[at..].find('(').unwrap() + 1;
                    let (skeleton, literals) = argument(&code[open..]);
                    let skeleton = skeleton.trim_end_matches(',').trim_end().to_owned();
                    let place = format!("{}: {sink}{skeleton}", path.display());
                    if skeleton == "\"\"" {
                        found.push(place);
                        continue;
                    }
                    let ok = reviewed.iter().any(|(file, shape, lits, _)| {
                        path.ends_with(file)
                            && skeleton == *shape
                            && (lits.is_empty() || literals == *lits)
                    });
                    assert!(
                        ok,
                        "{place}: SQL text not a literal nor reviewed: {literals:?}"
                    );
                    found.push(place);
                }
            }
        }
    }
    // The known ones are all there (the scan is not vacuous).
    assert!(found.len() >= 8, "{found:#?}");
    for (file, shape, _, _) in reviewed {
        assert!(
            found
                .iter()
                .any(|p| p.starts_with(file) && p.ends_with(shape)),
            "{file} {shape} not found: {found:#?}"
        );
    }
}

/// Regression: on PostgreSQL, whose text cannot hold a NUL, a query by a
/// record type holding one, and an import source name or id holding one,
/// reached the database and failed with its error ("invalid byte
/// sequence"); they are `InvalidInput` on both backends, like the writes.
#[test]
fn a_nul_in_a_queried_type_or_an_import_name_is_invalid_input_on_both_backends() {
    each_backend(
        "a_nul_in_a_queried_type_or_an_import_name_is_invalid_input_on_both_backends",
        |db| {
            let alice = Client::open_or_create(db.profile("alice"), &db.store()).unwrap();
            let record = || NewRecord::new("note", Fields::new(), Plain::new());
            invalid(
                "query",
                "a\\0b",
                alice.query(&Query::new().record_type("a\0b")),
            );
            invalid(
                "source",
                "a\\0b",
                alice.import_batch("a\0b", &[ImportRow::new("1", record())]),
            );
            invalid(
                "source id",
                "a\\0b",
                alice.import_batch("src", &[ImportRow::new("a\0b", record())]),
            );
            invalid("imported", "a\\0b", alice.imported("a\0b", &[]));
            invalid(
                "imported",
                "a\\0b",
                alice.imported("src", &["\0".to_owned()]),
            );
            invalid("imported_count", "a\\0b", alice.imported_count("a\0b"));
            assert_eq!(db.count("SELECT COUNT(*) AS n FROM records"), 0);
        },
    );
}
