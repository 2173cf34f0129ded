//! `strongroom import`'s promises, through the binary: a source is
//! identified by what it is (not the URL or table text that reached it),
//! the record type is part of what was imported, `--verify` names the
//! source ids that do not match, `--map` gives each source row's record,
//! and two imports at once never import a row twice. (That the source
//! connection refuses writes is a unit test in `src/import/source.rs`.)

#[path = "../../tests/common/mod.rs"]
mod common;
mod support;

use std::path::Path;
use std::process::{Command, Output, Stdio};

use common::{each_backend, TestDb};
use support::{bin, json_lines, last_line, ok, sqlite_source};

fn sqlite_sql(path: &Path, statement: &str) {
    use diesel::{Connection, RunQueryDsl};
    let mut conn = diesel::SqliteConnection::establish(path.to_str().unwrap()).unwrap();
    diesel::sql_query(statement).execute(&mut conn).unwrap();
}

/// The import arguments for `from`, `table` and `record_type` (the source
/// columns of [`sqlite_source`]).
fn import_args(from: &str, table: &str, record_type: &str) -> Vec<String> {
    [
        "import",
        "--from",
        from,
        "--table",
        table,
        "--id-column",
        "id",
        "--sensitive",
        "name,ssn",
        "--plain",
        "city",
        "--type",
        record_type,
        "--batch",
        "50",
    ]
    .map(str::to_owned)
    .to_vec()
}

/// Runs `strongroom` as `profile` on `db` in the folder `cwd`.
fn run_in(db: &TestDb, profile: &str, cwd: &Path, args: &[String]) -> Output {
    Command::new(bin())
        .current_dir(cwd)
        .args(["--db", &db.url, "--profile"])
        .arg(db.profile(profile))
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .expect("run strongroom")
}

/// Runs an import with `--json` and returns its summary.
fn import_json(db: &TestDb, cwd: &Path, args: &[String]) -> serde_json::Value {
    import_json_as(db, "importer", cwd, args)
}

/// [`import_json`] as `profile`.
fn import_json_as(db: &TestDb, profile: &str, cwd: &Path, args: &[String]) -> serde_json::Value {
    let mut args = args.to_vec();
    args.push("--json".into());
    let out = run_in(db, profile, cwd, &args);
    assert!(
        out.status.success(),
        "strongroom {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(&last_line(&String::from_utf8(out.stdout).unwrap())).unwrap()
}

/// Imports `table` of `from` into `db` in batches of 5, as `importer`, and
/// expects it to stop with exit status 1; returns its stderr.
fn import_in_fives_fails(db: &TestDb, from: &str, table: &str) -> String {
    let mut args = import_args(from, table, "person");
    let batch = args.iter().position(|a| a == "--batch").unwrap();
    args[batch + 1] = "5".into();
    let out = run_in(db, "importer", db.dir.path(), &args);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    stderr
}

fn counts(summary: &serde_json::Value) -> (Option<u64>, Option<u64>) {
    (
        summary["imported"].as_u64(),
        summary["already_imported"].as_u64(),
    )
}

fn strs(args: &[&str]) -> Vec<String> {
    args.iter().map(|a| (*a).to_owned()).collect()
}

#[test]
fn a_sqlite_source_reached_another_way_imports_nothing_new_and_another_type_imports_all() {
    let db = TestDb::sqlite();
    let source = sqlite_source(&db, 60);
    ok(&db, "importer", &["init"]);
    let dir = db.dir.path();
    let first = import_json(
        &db,
        dir,
        &import_args(
            &format!("sqlite://{}", source.display()),
            "people",
            "person",
        ),
    );
    assert_eq!(counts(&first), (Some(60), Some(0)));

    // The same file as a relative path, through a symbolic link, with the
    // table schema-qualified or in another case: the same source.
    let mut ways = vec![
        ("sqlite://legacy.db".to_owned(), "main.people"),
        ("sqlite://./sub/../legacy.db".to_owned(), "PEOPLE"),
    ];
    #[cfg(unix)]
    {
        let link = dir.join("link-to-legacy.db");
        std::os::unix::fs::symlink(&source, &link).unwrap();
        ways.push((format!("sqlite://{}", link.display()), "Main.People"));
    }
    for (from, table) in ways {
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        let again = import_json(&db, dir, &import_args(&from, table, "person"));
        assert_eq!(counts(&again), (Some(0), Some(60)), "{from} {table}");
        assert_eq!(again["source"], first["source"], "{from} {table}");
    }
    assert_eq!(db.count("SELECT COUNT(*) AS n FROM records"), 60);

    // Another record type: every row again, into that type; then once.
    let other = import_json(
        &db,
        dir,
        &import_args("sqlite://legacy.db", "people", "contact"),
    );
    assert_eq!(counts(&other), (Some(60), Some(0)));
    let other = import_json(
        &db,
        dir,
        &import_args("sqlite://legacy.db", "main.people", "contact"),
    );
    assert_eq!(counts(&other), (Some(0), Some(60)));
    for record_type in ["person", "contact"] {
        let listed = json_lines(&ok(
            &db,
            "importer",
            &["ls", "--type", record_type, "--limit", "500"],
        ));
        assert_eq!(listed.len(), 60, "{record_type}");
    }

    // A copy of the file is a new source (documented).
    std::fs::copy(&source, dir.join("copy.db")).unwrap();
    let copy = import_json(
        &db,
        dir,
        &import_args("sqlite://copy.db", "people", "person"),
    );
    assert_eq!(counts(&copy), (Some(60), Some(0)));
}

#[test]
fn a_postgres_source_reached_as_localhost_or_by_its_schema_imports_nothing_new_and_another_type_imports_all(
) {
    let Some(db) = common::postgres_db(
        "a_postgres_source_reached_as_localhost_or_by_its_schema_imports_nothing_new_and_another_type_imports_all",
    ) else {
        return;
    };
    // The server is reached once by address and once by name (localhost);
    // a test server named otherwise is reached as named both times.
    let by_address = db.url.clone();
    let by_name = by_address.replace("@127.0.0.1:", "@localhost:");
    if by_name == by_address {
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr().lock(),
            "\n!!!!!!!! the test server is not at 127.0.0.1: the localhost half of this test only reaches it as named !!!!!!!!\n"
        );
    }
    // The source table lives in the test's own database (as the sensitive
    // store does, in other tables).
    db.sql("CREATE TABLE people (id BIGINT PRIMARY KEY, name TEXT NOT NULL, ssn TEXT, city TEXT)");
    db.sql(
        "INSERT INTO people SELECT g, 'name ' || g, CASE WHEN g % 10 = 0 THEN NULL ELSE 'ssn-' || g END, \
         'city ' || (g % 4) FROM generate_series(1, 70) g",
    );
    ok(&db, "importer", &["init"]);
    let dir = db.dir.path();
    let first = import_json(&db, dir, &import_args(&by_address, "people", "person"));
    assert_eq!(counts(&first), (Some(70), Some(0)));
    for (from, table) in [
        (&by_name, "public.people"),
        (&by_name, "people"),
        (&by_address, "public.people"),
    ] {
        let again = import_json(&db, dir, &import_args(from, table, "person"));
        assert_eq!(counts(&again), (Some(0), Some(70)), "{from} {table}");
        assert_eq!(again["source"], first["source"], "{from} {table}");
    }
    assert_eq!(db.count("SELECT COUNT(*) AS n FROM records"), 70);

    let other = import_json(&db, dir, &import_args(&by_name, "public.people", "contact"));
    assert_eq!(counts(&other), (Some(70), Some(0)));
    let other = import_json(&db, dir, &import_args(&by_address, "people", "contact"));
    assert_eq!(counts(&other), (Some(0), Some(70)));
    assert_eq!(
        db.count("SELECT COUNT(*) AS n FROM records WHERE record_type = 'contact'"),
        70
    );
    assert_eq!(
        db.count("SELECT COUNT(*) AS n FROM records WHERE record_type = 'person'"),
        70
    );
    // The source key names the server by its system identifier and the
    // table by its schema, never by the URL.
    let key = first["source"].as_str().unwrap();
    assert!(
        key.starts_with("strongroom-import/1 ") && key.contains(" postgres system="),
        "{key}"
    );
    assert!(key.ends_with("table=6:public.6:people"), "{key}");
    assert!(
        !key.contains("127.0.0.1") && !key.contains("localhost"),
        "{key}"
    );
}

#[test]
fn verify_names_the_source_ids_whose_record_does_not_match() {
    each_backend(
        "verify_names_the_source_ids_whose_record_does_not_match",
        |db| {
            let source = sqlite_source(db, 40);
            ok(db, "importer", &["init"]);
            let args = import_args(
                &format!("sqlite://{}", source.display()),
                "people",
                "person",
            );
            let mut verify = args.clone();
            verify.push("--verify".into());
            let out = run_in(db, "importer", db.dir.path(), &verify);
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let clean = String::from_utf8(out.stdout).unwrap();
            assert!(clean.contains("\"ok\":true"), "{clean}");
            assert!(!clean.contains("mismatch"), "{clean}");

            let record_of = |source_id: &str| -> String {
                let mut map = args.clone();
                map.extend(strs(&["--map", "--source-id", source_id]));
                let out = run_in(db, "importer", db.dir.path(), &map);
                assert!(
                    out.status.success(),
                    "{}",
                    String::from_utf8_lossy(&out.stderr)
                );
                json_lines(&String::from_utf8(out.stdout).unwrap())[0]["record_id"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            };
            // Injected after the import: a sensitive value changed in the
            // source (row 3), the strongroom record of row 5 deleted, the
            // stored record of row 8 tampered with (its plain meta).
            sqlite_sql(&source, "UPDATE people SET ssn = 'changed' WHERE id = 3");
            let deleted = db.id(record_of("5"));
            db.sql(&format!(
                "DELETE FROM meta_index WHERE record_id = {deleted}"
            ));
            db.sql(&format!("DELETE FROM records WHERE record_id = {deleted}"));
            let tampered = db.id(record_of("8"));
            db.sql(&format!(
                "UPDATE records SET plain = '{{\"city\":\"elsewhere\"}}' WHERE record_id = {tampered}"
            ));

            let out = run_in(db, "importer", db.dir.path(), &verify);
            let stdout = String::from_utf8(out.stdout).unwrap();
            let stderr = String::from_utf8(out.stderr).unwrap();
            assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
            let lines = json_lines(&stdout);
            let mismatches: Vec<(&str, &str)> = lines
                .iter()
                .filter(|l| l.get("mismatch").is_some())
                .map(|l| {
                    (
                        l["source_id"].as_str().unwrap(),
                        l["mismatch"].as_str().unwrap(),
                    )
                })
                .collect();
            assert_eq!(
                mismatches,
                [
                    ("3", "differs"),
                    ("5", "record missing"),
                    ("8", "record unreadable")
                ]
            );
            let summary = lines.last().unwrap();
            assert_eq!(summary["ok"], false, "{stdout}");
            assert_eq!(
                (summary["missing"].as_u64(), summary["different"].as_u64()),
                (Some(1), Some(2)),
                "{stdout}"
            );
            assert!(stderr.contains("source ids 3, 5, 8"), "{stderr}");
            assert!(
                !stderr.contains("changed") && !stderr.contains("ssn-"),
                "{stderr}"
            );
            assert!(!stderr.contains("panicked"), "{stderr}");
        },
    );
}

#[test]
fn map_prints_the_record_each_source_row_became() {
    each_backend("map_prints_the_record_each_source_row_became", |db| {
        let source = sqlite_source(db, 30);
        ok(db, "importer", &["init"]);
        let from = format!("sqlite://{}", source.display());
        let args = import_args(&from, "people", "person");
        import_json(db, db.dir.path(), &args);

        // Every row, in id order, each with its own record.
        let mut all = strs(&[
            "import",
            "--from",
            &from,
            "--table",
            "people",
            "--id-column",
            "id",
            "--type",
            "person",
            "--map",
        ]);
        let out = run_in(db, "importer", db.dir.path(), &all);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let lines = json_lines(&String::from_utf8(out.stdout).unwrap());
        assert_eq!(lines.len(), 30);
        let mut ids: Vec<String> = Vec::new();
        for (i, line) in lines.iter().enumerate() {
            assert_eq!(line["source_id"], i.to_string());
            let record_id = line["record_id"].as_str().unwrap().to_owned();
            if i % 7 == 0 {
                let read: serde_json::Value =
                    serde_json::from_str(&ok(db, "importer", &["read", &record_id])).unwrap();
                assert_eq!(read["data"]["name"], format!("name {i}"));
                assert_eq!(read["meta"]["plain"]["city"], format!("city {}", i % 4));
            }
            ids.push(record_id);
        }
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 30, "distinct records");
        let stored: Vec<String> = {
            let mut v = db.texts(&format!(
                "SELECT {} AS t FROM import_map",
                db.id_text("record_id")
            ));
            v.sort();
            v
        };
        assert_eq!(ids, stored, "--map prints the stored mapping");

        // Some source ids: one line each, in the order given; one not
        // imported is null and the command fails after printing.
        let mut some = args.clone();
        some.extend(strs(&[
            "--map",
            "--source-id",
            "12",
            "--source-id",
            "999",
            "--source-id",
            "4",
        ]));
        let out = run_in(db, "importer", db.dir.path(), &some);
        assert_eq!(out.status.code(), Some(1));
        let lines = json_lines(&String::from_utf8(out.stdout).unwrap());
        assert_eq!(lines.len(), 3);
        assert_eq!(
            (
                lines[0]["source_id"].as_str(),
                lines[1]["source_id"].as_str()
            ),
            (Some("12"), Some("999"))
        );
        assert!(lines[1]["record_id"].is_null());
        let read: serde_json::Value = serde_json::from_str(&ok(
            db,
            "importer",
            &["read", lines[2]["record_id"].as_str().unwrap()],
        ))
        .unwrap();
        assert_eq!(read["data"]["name"], "name 4");
        assert!(String::from_utf8(out.stderr)
            .unwrap()
            .contains("1 of 3 source id(s) are not imported"));

        // Another type: nothing imported there yet.
        let n = all.len();
        all[n - 2] = "contact".into();
        let out = run_in(db, "importer", db.dir.path(), &all);
        assert_eq!(out.status.code(), Some(1));
        let lines = json_lines(&String::from_utf8(out.stdout).unwrap());
        assert_eq!(lines.len(), 30);
        assert!(lines.iter().all(|l| l["record_id"].is_null()));
    });
}

#[test]
fn two_imports_at_once_never_import_a_row_twice() {
    each_backend("two_imports_at_once_never_import_a_row_twice", |db| {
        const ROWS: i64 = 400;
        let source = sqlite_source(db, ROWS as usize);
        ok(db, "importer", &["init"]);
        let mut args = import_args(
            &format!("sqlite://{}", source.display()),
            "people",
            "person",
        );
        args.push("--json".into());
        let start = || {
            Command::new(bin())
                .args(["--db", &db.url, "--profile"])
                .arg(db.profile("importer"))
                .args(&args)
                .env_remove("RUST_LOG")
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        };
        let (a, b) = (start(), start());
        let mut imported = 0;
        for child in [a, b] {
            let out = child.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "{:?}: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
            let summary: serde_json::Value =
                serde_json::from_str(&last_line(&String::from_utf8(out.stdout).unwrap())).unwrap();
            assert_eq!(summary["imported_total"].as_i64(), Some(ROWS));
            imported += summary["imported"].as_i64().unwrap();
        }
        assert_eq!(
            imported, ROWS,
            "the two imports together imported each row once"
        );
        assert_eq!(
            db.count("SELECT COUNT(*) AS n FROM records WHERE record_type = 'person'"),
            ROWS
        );
        assert_eq!(db.count("SELECT COUNT(*) AS n FROM import_map"), ROWS);
        assert_eq!(
            db.count(
                "SELECT COUNT(*) AS n FROM (SELECT DISTINCT source, source_id FROM import_map) d"
            ),
            ROWS
        );
        assert_eq!(
            db.count("SELECT COUNT(*) AS n FROM (SELECT DISTINCT record_id FROM import_map) d"),
            ROWS
        );
    });
}

/// A source whose id column repeats a value (as text: SQLite's integer 1
/// and text '1' are one id) is refused before anything is written: the
/// second row would otherwise be taken for one imported earlier and
/// skipped, with a successful exit.
#[test]
fn a_source_whose_ids_repeat_is_refused_before_anything_is_written() {
    let db = TestDb::sqlite();
    let source = sqlite_source(&db, 120);
    ok(&db, "importer", &["init"]);
    let dir = db.dir.path();
    let from = format!("sqlite://{}", source.display());
    // The same id twice, in different batches of 50.
    sqlite_sql(
        &source,
        "CREATE TABLE twice (id INTEGER, name TEXT, ssn TEXT, city TEXT)",
    );
    sqlite_sql(&source, "INSERT INTO twice SELECT * FROM people");
    sqlite_sql(
        &source,
        "INSERT INTO twice VALUES (119, 'second 119', NULL, 'x')",
    );
    // An integer and a text id with the same text.
    sqlite_sql(
        &source,
        "CREATE TABLE classes (id, name TEXT, ssn TEXT, city TEXT)",
    );
    sqlite_sql(
        &source,
        "INSERT INTO classes VALUES (1, 'Ada', NULL, 'a'), ('1', 'Text one', NULL, 'b'), (2, 'Bob', NULL, 'c')",
    );
    // A NULL id, last in id order on PostgreSQL, first on SQLite: refused
    // before anything is written either way.
    sqlite_sql(
        &source,
        "CREATE TABLE nulls (id INTEGER, name TEXT, ssn TEXT, city TEXT)",
    );
    sqlite_sql(&source, "INSERT INTO nulls SELECT * FROM people");
    sqlite_sql(
        &source,
        "INSERT INTO nulls VALUES (NULL, 'no id', NULL, 'x')",
    );
    for (table, refused) in [
        ("twice", "repeat another row's id"),
        ("classes", "repeat another row's id"),
        ("nulls", "1 source row(s) have a NULL id"),
    ] {
        let out = run_in(&db, "importer", dir, &import_args(&from, table, "person"));
        assert_eq!(out.status.code(), Some(1), "{table}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains(refused) && stderr.contains("nothing was imported"),
            "{table}: {stderr}"
        );
        assert_eq!(db.count("SELECT COUNT(*) AS n FROM records"), 0, "{table}");
    }
    // The table without repeats imports every row.
    let all = import_json(&db, dir, &import_args(&from, "people", "person"));
    assert_eq!(counts(&all), (Some(120), Some(0)));
}

/// The id is kept in the clear in the import map, so it cannot also be a
/// sealed column; a column named twice in any case (SQLite's names ignore
/// case) is refused, so that it cannot land in the clear as plain meta.
#[test]
fn the_id_column_cannot_be_sensitive_nor_a_column_named_twice_in_another_case() {
    let db = TestDb::sqlite();
    let source = sqlite_source(&db, 10);
    ok(&db, "importer", &["init"]);
    let from = format!("sqlite://{}", source.display());
    for (sensitive, plain, id) in [
        ("name,ssn", "SSN", "id"),
        ("name,ssn", "city,Name", "id"),
        ("name,id", "city", "id"),
        ("name,ID", "city", "id"),
    ] {
        let args = strs(&[
            "import",
            "--from",
            &from,
            "--table",
            "people",
            "--id-column",
            id,
            "--sensitive",
            sensitive,
            "--plain",
            plain,
            "--type",
            "person",
        ]);
        let out = run_in(&db, "importer", db.dir.path(), &args);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{sensitive} / {plain}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_eq!(db.count("SELECT COUNT(*) AS n FROM records"), 0);
}

/// Ids are read as text in a session whose text formats are pinned: a run
/// under other date settings (here the connection's own options) sees the
/// same ids and imports nothing again, and `--verify` still matches.
#[test]
fn a_postgres_source_read_under_other_date_settings_imports_nothing_new() {
    let Some(db) =
        common::postgres_db("a_postgres_source_read_under_other_date_settings_imports_nothing_new")
    else {
        return;
    };
    db.sql("CREATE TABLE events (id TIMESTAMPTZ PRIMARY KEY, name TEXT, ssn TEXT, city TEXT)");
    db.sql(
        "INSERT INTO events SELECT TIMESTAMPTZ '2026-01-02 03:04:05+00' + g * INTERVAL '1 day', \
         'name ' || g, NULL, 'city' FROM generate_series(1, 12) g",
    );
    ok(&db, "importer", &["init"]);
    let dir = db.dir.path();
    let first = import_json(&db, dir, &import_args(&db.url, "events", "event"));
    assert_eq!(counts(&first), (Some(12), Some(0)));
    let separator = if db.url.contains('?') { '&' } else { '?' };
    let other_settings = format!(
        "{}{separator}options=-c%20DateStyle%3DSQL%2CDMY%20-c%20TimeZone%3DAsia%2FTokyo",
        db.url
    );
    let again = import_json(&db, dir, &import_args(&other_settings, "events", "event"));
    assert_eq!(counts(&again), (Some(0), Some(12)));
    assert_eq!(again["imported_total"].as_u64(), Some(12));
    assert_eq!(db.count("SELECT COUNT(*) AS n FROM records"), 12);
    let mut verify = import_args(&other_settings, "events", "event");
    verify.push("--verify".into());
    let out = run_in(&db, "importer", dir, &verify);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// README: "once" is per importing client and record type: another
/// profile importing the same table imports every row again, into its own
/// records, and a re-run of either imports nothing.
#[test]
fn another_client_importing_the_same_source_imports_every_row_again() {
    let db = TestDb::sqlite();
    let source = sqlite_source(&db, 30);
    let from = format!("sqlite://{}", source.display());
    let dir = db.dir.path();
    for profile in ["importer", "second"] {
        ok(&db, profile, &["init"]);
    }
    let args = import_args(&from, "people", "person");
    let import = |profile: &str| counts(&import_json_as(&db, profile, dir, &args));
    assert_eq!(import("importer"), (Some(30), Some(0)));
    assert_eq!(import("second"), (Some(30), Some(0)));
    assert_eq!(import("importer"), (Some(0), Some(30)));
    assert_eq!(import("second"), (Some(0), Some(30)));
    assert_eq!(db.count("SELECT COUNT(*) AS n FROM records"), 60);
}

/// `--from` as libpq keywords (`host=… dbname=…`), as `--db` takes them:
/// the import reads the source and imports every row.
#[test]
fn import_from_takes_libpq_keywords_like_db_does() {
    let Some(db) = common::postgres_db("import_from_takes_libpq_keywords_like_db_does") else {
        return;
    };
    // postgres://USER@HOST:PORT/NAME, as `postgres_db` makes it.
    let rest = db
        .url
        .strip_prefix("postgres://")
        .expect("a postgres:// URL");
    let (user, rest) = rest.split_once('@').expect("a user");
    let (address, name) = rest.split_once('/').expect("a database name");
    let (host, port) = address.rsplit_once(':').unwrap_or((address, "5432"));
    assert!(
        !user.contains(':'),
        "the test server's URL carries a password"
    );
    let keywords = format!("host={host} port={port} user={user} dbname={name}");
    db.sql("CREATE TABLE people (id BIGINT PRIMARY KEY, name TEXT NOT NULL, ssn TEXT, city TEXT)");
    db.sql(
        "INSERT INTO people SELECT g, 'name ' || g, 'ssn-' || g, 'city ' || (g % 4) \
         FROM generate_series(1, 12) g",
    );
    ok(&db, "importer", &["init"]);
    let summary = import_json(
        &db,
        db.dir.path(),
        &import_args(&keywords, "people", "person"),
    );
    assert_eq!(counts(&summary), (Some(12), Some(0)));
    assert_eq!(db.count("SELECT COUNT(*) AS n FROM records"), 12);
}

/// A `--from` URL libpq cannot parse: whatever the error, the password in
/// it is printed nowhere.
#[test]
fn import_from_a_malformed_postgres_url_does_not_print_its_password() {
    let db = TestDb::sqlite();
    ok(&db, "importer", &["init"]);
    for from in [
        "postgres://app:hunter2@[::1/app",
        "postgres://app:hunter2@db:notaport/app",
        "postgresql://app:hunter2@/app?sslmode=bogus",
        "host=db password=hunter2 dbname=app sslmode=bogus",
    ] {
        let out = run_in(
            &db,
            "importer",
            db.dir.path(),
            &import_args(from, "people", "person"),
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{from}: {stderr}");
        assert!(
            !stdout.contains("hunter2") && !stderr.contains("hunter2"),
            "{from}: the password was printed: {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{from}: {stderr}");
    }
}

/// A source server that accepts the connection and never answers: the
/// import gives up (the 5 s connect timeout) and says so, instead of
/// waiting for the operating system. The 120 s bound only catches a hang;
/// it measures nothing.
#[test]
fn import_from_a_server_that_never_answers_gives_up() {
    let db = TestDb::sqlite();
    ok(&db, "importer", &["init"]);
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let from = format!("postgres://app:hunter2@127.0.0.1:{port}/app");
    let mut child = Command::new(bin())
        .args(["--db", &db.url, "--profile"])
        .arg(db.profile("importer"))
        .args(import_args(&from, "people", "person"))
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > std::time::Duration::from_secs(120) {
            let _ = child.kill();
            panic!("the import still waits for a silent server after 120 s");
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("cannot connect to the source"), "{stderr}");
    assert!(!stderr.contains("hunter2"), "{stderr}");
    drop(silent);
}

/// A `--plain` value too long to be plain meta (over 64 KiB) fails the
/// import naming its source row, and nothing of its batch is written.
#[test]
fn a_plain_value_too_long_names_its_source_row() {
    let db = TestDb::sqlite();
    let source = sqlite_source(&db, 20);
    sqlite_sql(
        &source,
        &format!(
            "UPDATE people SET city = '{}' WHERE id = 13",
            "c".repeat(64 * 1024 + 1)
        ),
    );
    ok(&db, "importer", &["init"]);
    let from = format!("sqlite://{}", source.display());
    let out = run_in(
        &db,
        "importer",
        db.dir.path(),
        &import_args(&from, "people", "person"),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("source row \"13\""), "{stderr}");
    assert!(stderr.contains("64 KiB"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    // The batch of 50 holding row 13 (all 20 rows) wrote nothing.
    assert_eq!(db.count("SELECT COUNT(*) AS n FROM records"), 0);
}

/// `--max-field-size` holds for an import's sensitive columns as for
/// `write`: a larger value fails the import naming its row, before its
/// batch is written.
#[test]
fn max_field_size_applies_to_the_sensitive_columns_of_an_import() {
    let db = TestDb::sqlite();
    let source = sqlite_source(&db, 20);
    sqlite_sql(
        &source,
        "UPDATE people SET name = 'a name longer than forty bytes, far longer' WHERE id = 7",
    );
    ok(&db, "importer", &["init"]);
    let from = format!("sqlite://{}", source.display());
    let mut args = vec!["--max-field-size".to_owned(), "40".to_owned()];
    args.extend(import_args(&from, "people", "person"));
    let out = run_in(&db, "importer", db.dir.path(), &args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("source row \"7\"") && stderr.contains("--max-field-size"),
        "{stderr}"
    );
    assert_eq!(db.count("SELECT COUNT(*) AS n FROM records"), 0);
    // Within the limit, the same import goes through.
    let summary = import_json(&db, db.dir.path(), &import_args(&from, "people", "person"));
    assert_eq!(counts(&summary), (Some(20), Some(0)));
}

/// Source rows 0 to 19, row 13 made bad by `bad`: an import in batches
/// of 5 stops at it with exit status 1 naming it, rows 0 to 9 imported and
/// the batch holding it not; once `fix` mends the row, a run goes on from
/// there and imports the other 10. Returns the first run's stderr.
fn an_import_stops_at_row_13_and_resumes(bad: &str, fix: &str) -> String {
    let db = TestDb::sqlite();
    let source = sqlite_source(&db, 20);
    sqlite_sql(&source, bad);
    ok(&db, "importer", &["init"]);
    let from = format!("sqlite://{}", source.display());
    let mut args = import_args(&from, "people", "person");
    let batch = args.iter().position(|a| a == "--batch").unwrap();
    args[batch + 1] = "5".into();
    let out = run_in(&db, "importer", db.dir.path(), &args);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("source row \"13\""), "{stderr}");
    // Rows 0-9 (two batches of 5) went in; the batch of 10-14 did not.
    assert_eq!(db.count("SELECT COUNT(*) AS n FROM records"), 10);
    sqlite_sql(&source, fix);
    let summary = import_json(&db, db.dir.path(), &args);
    assert_eq!(counts(&summary), (Some(10), Some(10)));
    assert_eq!(db.count("SELECT COUNT(*) AS n FROM records"), 20);
    stderr
}

/// README: a row that stops the import leaves the batches before it
/// imported, and a run after the row is fixed goes on from there.
#[test]
fn an_import_stopped_by_a_bad_row_keeps_the_batches_before_it_and_resumes() {
    let long = "c".repeat(64 * 1024 + 1);
    an_import_stops_at_row_13_and_resumes(
        &format!("UPDATE people SET city = '{long}' WHERE id = 13"),
        "UPDATE people SET city = 'city 1' WHERE id = 13",
    );
}

/// A SQLite source value that is not UTF-8 text (review R): the import
/// stops at its row, naming the row's id and its column, with the batches
/// before it imported, instead of failing the whole batch's read unnamed.
#[test]
fn a_value_that_is_not_utf8_names_its_source_row_and_column() {
    let stderr = an_import_stops_at_row_13_and_resumes(
        "UPDATE people SET ssn = CAST(x'ff00fe' AS TEXT) WHERE id = 13",
        "UPDATE people SET ssn = 'ssn-13' WHERE id = 13",
    );
    assert!(
        stderr.contains("source row \"13\": column `ssn` is not UTF-8 text"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}

/// An SQLite source of `rows` people with text ids `a00`, `a01`, … (the
/// columns of [`sqlite_source`]), for a test to add a bad row to.
fn text_id_source(db: &TestDb, rows: usize) -> std::path::PathBuf {
    let source = db.dir.path().join("ids.db");
    sqlite_sql(
        &source,
        "CREATE TABLE people (id TEXT PRIMARY KEY, name TEXT, ssn TEXT, city TEXT)",
    );
    for n in 0..rows {
        sqlite_sql(
            &source,
            &format!("INSERT INTO people VALUES ('a{n:02}', 'n', 's', 'c')"),
        );
    }
    source
}

/// README: an id over 1,024 bytes stops the import at its row, naming it,
/// with the batches before it imported, on either store (PostgreSQL's
/// index on the import map cannot hold a much longer one).
#[test]
fn an_id_over_1024_bytes_stops_the_import_at_its_row() {
    each_backend("an_id_over_1024_bytes_stops_the_import_at_its_row", |db| {
        let source = text_id_source(db, 10);
        let long = format!("b{}", "x".repeat(1100));
        sqlite_sql(
            &source,
            &format!("INSERT INTO people VALUES ('{long}', 'n', 's', 'c')"),
        );
        ok(db, "importer", &["init"]);
        let stderr = import_in_fives_fails(db, &format!("sqlite://{}", source.display()), "people");
        assert!(
            stderr.contains("source row \"bxxx") && stderr.contains("longer than 1024 bytes"),
            "{stderr}"
        );
        assert!(!stderr.contains(&long), "the whole id is not printed");
        assert_eq!(db.count("SELECT COUNT(*) AS n FROM records"), 10);
    });
}

/// README: the import waits up to 5 s for the application's write lock on
/// an SQLite source, instead of failing at once ("database is locked").
#[test]
fn an_sqlite_source_the_application_holds_locked_for_a_moment_is_waited_for() {
    use diesel::connection::SimpleConnection;
    use diesel::Connection;
    let db = TestDb::sqlite();
    let source = sqlite_source(&db, 30);
    ok(&db, "importer", &["init"]);
    let mut app = diesel::SqliteConnection::establish(source.to_str().unwrap()).unwrap();
    app.batch_execute("BEGIN EXCLUSIVE; UPDATE people SET city = 'moved' WHERE id = 1")
        .unwrap();
    let from = format!("sqlite://{}", source.display());
    let mut import = Command::new(bin());
    import
        .current_dir(db.dir.path())
        .args(["--db", &db.url, "--profile"])
        .arg(db.profile("importer"))
        .args(import_args(&from, "people", "person"))
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = import.spawn().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    app.batch_execute("COMMIT").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(db.count("SELECT COUNT(*) AS n FROM records"), 30);
}

/// README: a value that is not UTF-8 text in a PostgreSQL database in
/// `SQL_ASCII` (which keeps any bytes) stops the import at its row, named,
/// as on SQLite, instead of failing the read of its whole batch unnamed.
#[test]
fn a_value_that_is_not_utf8_in_an_sql_ascii_postgres_source_names_its_row() {
    use diesel::connection::SimpleConnection;
    use diesel::Connection;
    let Some(admin_db) = common::postgres_db(
        "a_value_that_is_not_utf8_in_an_sql_ascii_postgres_source_names_its_row",
    ) else {
        return;
    };
    let name = format!("strongroom_test_ascii_{}", uuid::Uuid::new_v4().simple());
    admin_db.sql(&format!(
        "CREATE DATABASE {name} ENCODING 'SQL_ASCII' TEMPLATE template0 LC_COLLATE 'C' LC_CTYPE 'C'"
    ));
    struct DropDb<'a>(&'a TestDb, String);
    impl Drop for DropDb<'_> {
        fn drop(&mut self) {
            let _ = self
                .0
                .try_sql(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.1));
        }
    }
    let _dropped = DropDb(&admin_db, name.clone());
    let (base, _) = admin_db.url.rsplit_once('/').unwrap();
    let from = format!("{base}/{name}");
    let mut source = diesel::PgConnection::establish(&from).unwrap();
    source
        .batch_execute(
            "CREATE TABLE people (id INTEGER PRIMARY KEY, name TEXT, ssn TEXT, city TEXT); \
             INSERT INTO people SELECT n, 'name ' || n, 'ssn-' || n, 'city' FROM generate_series(0, 19) AS n; \
             UPDATE people SET ssn = E'caf\\xe9' WHERE id = 13;",
        )
        .unwrap();
    drop(source);
    let store = TestDb::sqlite();
    ok(&store, "importer", &["init"]);
    let stderr = import_in_fives_fails(&store, &from, "people");
    assert!(
        stderr.contains("source row \"13\": column `ssn` is not UTF-8 text"),
        "{stderr}"
    );
    assert_eq!(store.count("SELECT COUNT(*) AS n FROM records"), 10);
}

/// README: an id that is not UTF-8 text stops the import at its row,
/// naming it, also when it is the last of its batch (whose id bounds the
/// next batch's read).
#[test]
fn an_id_that_is_not_utf8_at_the_end_of_a_batch_names_its_row() {
    let db = TestDb::sqlite();
    let source = text_id_source(&db, 4);
    sqlite_sql(
        &source,
        "INSERT INTO people VALUES (CAST(x'61ff' AS TEXT), 'n', 's', 'c')",
    );
    ok(&db, "importer", &["init"]);
    let stderr = import_in_fives_fails(&db, &format!("sqlite://{}", source.display()), "people");
    assert!(
        stderr.contains("source row \"a\u{fffd}\": its id is not UTF-8 text"),
        "{stderr}"
    );
}
