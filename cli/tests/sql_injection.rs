//! SQL injection through `strongroom import` (issue 19, point 5): a source
//! table, id column and columns whose names would break out of an SQL
//! identifier or literal are imported as they are (the names become the
//! records' field and plain names, the values round-trip, `--verify`
//! agrees), or refused with a clear error when no such table or column
//! exists; the source file is never changed, and the sensitive database
//! gains only the imported records. On SQLite and PostgreSQL (the
//! sensitive database; the source is an SQLite file).

#[path = "../../tests/common/mod.rs"]
mod common;
mod support;

use std::path::{Path, PathBuf};

use common::{each_backend, TestDb};
use support::{json_lines, last_line, ok, run};

const TABLE: &str = "people\"; DROP TABLE people; --";
const ID: &str = "id\" FROM people; --";
/// (column name, whether sensitive): plain columns become plain meta.
const COLUMNS: [(&str, bool); 8] = [
    ("na\"me", true),
    ("x'00'", true),
    ("'; DROP TABLE records; --", true),
    (") ; DELETE FROM people; --", true),
    ("$1", true),
    ("\u{2019}quoted\u{2018} \\", true),
    ("%", false),
    ("_ OR 1=1", false),
];
const TYPE: &str = "'; DROP TABLE records; --";

/// `"name"` with quotes doubled: how the test itself creates the source.
fn q(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn source(db: &TestDb) -> PathBuf {
    use diesel::{Connection, RunQueryDsl};
    let path = db.dir.path().join("legacy.db");
    let mut conn = diesel::SqliteConnection::establish(path.to_str().unwrap()).unwrap();
    let columns: Vec<String> = COLUMNS
        .iter()
        .map(|(c, _)| format!("{} TEXT", q(c)))
        .collect();
    diesel::sql_query(format!(
        "CREATE TABLE {} ({} INTEGER PRIMARY KEY, {})",
        q(TABLE),
        q(ID),
        columns.join(", ")
    ))
    .execute(&mut conn)
    .unwrap();
    diesel::sql_query("CREATE TABLE people (id INTEGER PRIMARY KEY, name TEXT)")
        .execute(&mut conn)
        .unwrap();
    diesel::sql_query("INSERT INTO people VALUES (1, 'must stay')")
        .execute(&mut conn)
        .unwrap();
    for i in 0..3 {
        let values: Vec<String> = COLUMNS
            .iter()
            .map(|(c, _)| format!("'{}'", value(c, i).replace('\'', "''")))
            .collect();
        diesel::sql_query(format!(
            "INSERT INTO {} VALUES ({i}, {})",
            q(TABLE),
            values.join(", ")
        ))
        .execute(&mut conn)
        .unwrap();
    }
    path
}

/// The value of `column` in row `i`: itself an injection string.
fn value(column: &str, i: usize) -> String {
    format!("{column}' OR '1'='1 -- {i}")
}

fn import_args<'a>(
    from: &'a str,
    table: &'a str,
    id: &'a str,
    sensitive: &'a str,
    plain: &'a str,
) -> Vec<&'a str> {
    let mut args = vec![
        "import",
        "--from",
        from,
        "--table",
        table,
        "--id-column",
        id,
        "--type",
        TYPE,
    ];
    if !sensitive.is_empty() {
        args.extend(["--sensitive", sensitive]);
    }
    if !plain.is_empty() {
        args.extend(["--plain", plain]);
    }
    args
}

fn tables(db: &TestDb) -> Vec<String> {
    match db.backend {
        strongroom::Backend::Sqlite => {
            db.texts("SELECT name AS t FROM sqlite_master WHERE type = 'table' ORDER BY name")
        }
        _ => db.texts(
            "SELECT CAST(tablename AS TEXT) AS t FROM pg_catalog.pg_tables \
             WHERE schemaname = 'public' ORDER BY tablename",
        ),
    }
}

fn stderr_of(db: &TestDb, args: &[&str]) -> String {
    let out = run(db, "importer", args);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "{args:?} succeeded");
    assert!(stderr.contains("error: "), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    stderr
}

#[test]
fn injection_names_of_a_source_table_and_columns_import_as_they_are_or_are_refused() {
    each_backend(
        "injection_names_of_a_source_table_and_columns_import_as_they_are_or_are_refused",
        |db| {
            let legacy = source(db);
            let before_source = std::fs::read(&legacy).unwrap();
            ok(db, "importer", &["init"]);
            let bystander = last_line(&ok(
                db,
                "importer",
                &["write", "note", "-f", "note=bystander", "-p", "k=v"],
            ));
            let tables_before = tables(db);
            let from = format!("sqlite://{}", legacy.display());
            let join = |sensitive: bool| {
                COLUMNS
                    .iter()
                    .filter(|(_, s)| *s == sensitive)
                    .map(|(c, _)| *c)
                    .collect::<Vec<_>>()
                    .join(",")
            };
            let (sensitive, plain) = (join(true), join(false));

            // Refused: names that are no table or column of the source,
            // with an error saying which; nothing imported.
            for (table, id, sensitive, plain, says) in [
                (
                    "people; DROP TABLE people",
                    ID,
                    sensitive.as_str(),
                    "",
                    "no table",
                ),
                ("people\" --", ID, sensitive.as_str(), "", "no table"),
                ("other.people", ID, sensitive.as_str(), "", "main schema"),
                (
                    TABLE,
                    "id' OR 1=1 --",
                    sensitive.as_str(),
                    "",
                    "id' OR 1=1 --",
                ),
                (
                    TABLE,
                    ID,
                    "name) FROM people; --",
                    "",
                    "name) FROM people; --",
                ),
                // (a NUL cannot be an argument: a control character)
                (TABLE, ID, "a\u{1}b", "", "not a valid table or column name"),
                (
                    TABLE,
                    ID,
                    sensitive.as_str(),
                    "x\ny",
                    "not a valid table or column name",
                ),
            ] {
                let stderr = stderr_of(db, &import_args(&from, table, id, sensitive, plain));
                assert!(
                    stderr.contains(says),
                    "{table:?} {id:?} {sensitive:?} {plain:?}: {stderr}"
                );
            }
            assert_eq!(db.count("SELECT COUNT(*) AS n FROM records"), 1);

            // Imported as they are, and verified.
            let mut args = import_args(&from, TABLE, ID, &sensitive, &plain);
            args.push("--json");
            let summary =
                serde_json::from_str::<serde_json::Value>(&last_line(&ok(db, "importer", &args)))
                    .unwrap();
            assert_eq!(summary["imported"], 3, "{summary}");
            let mut verify = import_args(&from, TABLE, ID, &sensitive, &plain);
            verify.push("--verify");
            let verified = json_lines(&ok(db, "importer", &verify));
            assert_eq!(verified.last().unwrap()["ok"], true, "{verified:?}");

            // Each record holds the columns by their names, the values
            // exactly.
            let mut map = import_args(&from, TABLE, ID, "", "");
            map.push("--map");
            let mapped = json_lines(&ok(db, "importer", &map));
            assert_eq!(mapped.len(), 3, "{mapped:?}");
            for line in mapped {
                let i: usize = line["source_id"].as_str().unwrap().parse().unwrap();
                let record = &json_lines(&ok(
                    db,
                    "importer",
                    &["read", line["record_id"].as_str().unwrap()],
                ))[0];
                assert_eq!(record["meta"]["record_type"], TYPE, "{record}");
                for (column, is_sensitive) in COLUMNS {
                    let stored = if is_sensitive {
                        &record["data"][column]
                    } else {
                        &record["meta"]["plain"][column]
                    };
                    assert_eq!(
                        stored.as_str(),
                        Some(value(column, i).as_str()),
                        "{column:?} in {record}"
                    );
                }
            }

            // Nothing else changed: the source file, the sensitive
            // database's tables, the bystander record.
            assert_eq!(
                std::fs::read(&legacy).unwrap(),
                before_source,
                "the source changed"
            );
            assert_eq!(tables(db), tables_before);
            assert_eq!(db.count("SELECT COUNT(*) AS n FROM records"), 4);
            let read = json_lines(&ok(db, "importer", &["read", &bystander]));
            assert_eq!(read[0]["data"]["note"], "bystander");
            assert_eq!(read[0]["meta"]["plain"]["k"], "v");
            check_source_untouched(&legacy);
        },
    );
}

/// The other table of the source is as it was.
fn check_source_untouched(path: &Path) {
    use diesel::{Connection, RunQueryDsl};
    #[derive(diesel::QueryableByName)]
    struct Name {
        #[diesel(sql_type = diesel::sql_types::Text)]
        name: String,
    }
    let mut conn = diesel::SqliteConnection::establish(path.to_str().unwrap()).unwrap();
    let names: Vec<Name> = diesel::sql_query("SELECT name FROM people")
        .load(&mut conn)
        .unwrap();
    assert_eq!(
        names.iter().map(|n| n.name.as_str()).collect::<Vec<_>>(),
        ["must stay"]
    );
}

/// Regression: SQLite reads a double-quoted name that is no column as a
/// string literal, so a mistyped column imported its own name as every
/// row's value (and a mistyped id column gave every row one id); now the
/// import is refused naming the column, and nothing is imported.
#[test]
fn a_column_the_sqlite_source_lacks_is_refused_not_imported_as_its_name() {
    let db = TestDb::sqlite();
    let legacy = support::sqlite_source(&db, 5);
    let from = format!("sqlite://{}", legacy.display());
    ok(&db, "importer", &["init"]);
    for (id, sensitive, plain, missing) in [
        ("id", "nmae", "city", "nmae"),
        ("id", "name", "ctiy", "ctiy"),
        ("ID_", "name", "", "ID_"),
    ] {
        let stderr = stderr_of(&db, &import_args(&from, "people", id, sensitive, plain));
        assert!(
            stderr.contains(&format!(
                "the source table `people` has no column `{missing}`"
            )),
            "{stderr}"
        );
    }
    assert_eq!(db.count("SELECT COUNT(*) AS n FROM records"), 0);
    // Names are matched as SQLite matches them: without regard to case.
    let out = ok(
        &db,
        "importer",
        &import_args(&from, "people", "ID", "Name", "CITY"),
    );
    assert_eq!(last_line(&out), "5");
}
