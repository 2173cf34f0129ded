//! Opening a store: a database that cannot be opened fails at once with
//! the driver's reason, a missing SQLite file is created only when asked
//! for, and libpq's keyword strings work like URLs.

mod common;

use std::time::{Duration, Instant};

use common::postgres_admin_url;
use strongroom::{Backend, Error, Store, StoreOptions};

/// Far longer than any failure here takes: reaching it would mean the
/// open waited out its retries instead of failing at once.
const PATIENT: Duration = Duration::from_secs(60);

#[test]
fn a_missing_sqlite_file_is_an_error_and_nothing_is_created() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sensitiv.db");
    let url = format!("sqlite://{}", path.display());
    let err = Store::open(&url).unwrap_err();
    assert!(matches!(err, Error::NoDatabase { .. }), "{err:?}");
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "{err}"
    );
    assert!(!path.exists(), "opening a missing file created it");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn open_or_create_creates_a_missing_sqlite_file_and_reopens_it() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("sensitive.db").display());
    let id = Store::open_or_create(&url).unwrap().database_id().unwrap();
    assert_eq!(Store::open(&url).unwrap().database_id().unwrap(), id);
}

#[test]
fn a_missing_folder_is_named_and_nothing_is_created() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("nosuchdir");
    let url = format!("sqlite://{}", folder.join("x.db").display());
    let err = Store::open_or_create(&url).unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, Error::Connect { .. }), "{err:?}");
    assert!(text.contains(&folder.display().to_string()), "{text}");
    assert!(!folder.exists());
}

/// The admin URL with another database name.
fn postgres_url_for(database: &str) -> String {
    let admin = postgres_admin_url();
    let (base, _) = admin.rsplit_once('/').expect("a database url has a path");
    format!("{base}/{database}")
}

/// Opens `url` with a patient timeout and expects `Error::Connect` long
/// before it (a failure retrying cannot fix); returns the error's text.
fn connect_fails_at_once(url: &str) -> String {
    let started = Instant::now();
    let err =
        Store::open_with(url, StoreOptions::default().connection_timeout(PATIENT)).unwrap_err();
    assert!(
        started.elapsed() < PATIENT / 2,
        "waited {:?}",
        started.elapsed()
    );
    assert!(matches!(err, Error::Connect { .. }), "{err:?}");
    err.to_string()
}

#[test]
fn a_missing_postgres_database_fails_at_once_naming_it() {
    let Some(_server) = common::postgres_db("a_missing_postgres_database_fails_at_once_naming_it")
    else {
        return;
    };
    let url = postgres_url_for("strongroom_no_such_database");
    let text = connect_fails_at_once(&url);
    assert!(
        text.contains("\"strongroom_no_such_database\" does not exist"),
        "libpq's reason should reach the error: {text}"
    );
    assert!(!text.contains('\n'), "one line: {text:?}");
}

#[test]
fn an_sqlite_file_that_is_no_database_fails_at_once_and_is_left_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("photo.jpg");
    let bytes: Vec<u8> = (0..8192u32).map(|i| (i * 7 + 3) as u8).collect();
    std::fs::write(&path, &bytes).unwrap();
    let text = connect_fails_at_once(&format!("sqlite://{}", path.display()));
    assert!(
        text.contains("not a database") && !text.contains("timed out"),
        "the driver's reason, not the pool's: {text}"
    );
    assert_eq!(std::fs::read(&path).unwrap(), bytes, "the file was changed");
}

#[test]
fn an_unknown_host_fails_at_once_naming_it() {
    let url = "postgres://postgres@no-such-host.invalid:5432/app";
    let text = connect_fails_at_once(url);
    assert!(text.contains("no-such-host.invalid"), "{text}");
    assert!(
        !text.contains("timed out") && !text.contains("multiconnection"),
        "the driver's reason, not the pool's: {text}"
    );
}

#[test]
fn a_server_that_never_answers_is_given_up_after_the_connection_timeout() {
    // A listener that completes TCP handshakes (the kernel's backlog) but
    // never says a word: libpq waits for the server's reply until its
    // connect_timeout, which the store sets from its connection timeout.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let url = format!("postgres://postgres@127.0.0.1:{port}/app");
    let started = Instant::now();
    let err = Store::open_with(
        &url,
        StoreOptions::default().connection_timeout(Duration::from_secs(2)),
    )
    .unwrap_err();
    let waited = started.elapsed();
    assert!(matches!(err, Error::Connect { .. }), "{err:?}");
    // Not a speed target: a bound far above the 2 s asked for, to tell
    // "gave up" from "hung" (libpq's default is to wait forever).
    assert!(waited < PATIENT / 2, "waited {waited:?}");
    assert!(err.to_string().contains("timeout"), "{err}");
    drop(silent);
}

#[test]
fn an_unsupported_connection_option_fails_at_once_naming_it() {
    let url = "postgres://postgres@127.0.0.1:5432/app?no_such_option=1";
    let text = connect_fails_at_once(url);
    assert!(text.contains("no_such_option"), "{text}");
}

#[test]
fn a_libpq_keyword_string_opens_postgres_and_prints_without_its_password() {
    let Some(db) = common::postgres_db(
        "a_libpq_keyword_string_opens_postgres_and_prints_without_its_password",
    ) else {
        return;
    };
    // The test database's URL as keywords (the password, if the URL has
    // none, is ignored by a trust server; it must not be printed either way).
    let rest = db.url.split_once("://").unwrap().1;
    let (authority, database) = rest.split_once('/').unwrap();
    let (user, hostport) = authority
        .rsplit_once('@')
        .unwrap_or(("postgres", authority));
    let user = user.split(':').next().unwrap();
    let (host, port) = hostport.split_once(':').unwrap_or((hostport, "5432"));
    let database = database.split('?').next().unwrap();
    let keywords = format!(
        "host={host} port={port} user={user} dbname={database} password='not printed' application_name=strongroom_test"
    );
    let store = Store::open(&keywords).unwrap();
    assert_eq!(store.backend(), Backend::Postgres);
    store.database_id().unwrap();
    let printed = format!("{} {store:?}", store.redacted_url());
    assert!(printed.contains(&format!("dbname={database}")), "{printed}");
    assert!(!printed.contains("not printed"), "{printed}");

    let err = Store::open(&format!(
        "host={host} port={port} user={user} dbname=strongroom_no_such_database password=s3cret"
    ))
    .unwrap_err();
    let text = format!("{err} {err:?}");
    assert!(text.contains("does not exist"), "{text}");
    assert!(!text.contains("s3cret"), "{text}");
}

#[test]
fn words_that_are_not_a_connection_string_are_an_invalid_url() {
    for text in [
        "just words",
        "mysql://root@h/db",
        "sqlite://",
        "dbname='open",
    ] {
        assert!(
            matches!(Store::open(text), Err(Error::InvalidUrl { .. })),
            "{text}"
        );
    }
}

const SECRET: &str = "Sekr3tPw";

/// The error of a failed open, and every source under it, Display and
/// Debug, holds no part of [`SECRET`].
fn assert_no_secret(what: &str, result: strongroom::Result<Store>) {
    let Err(err) = result else {
        return;
    };
    let mut text = format!("{err} / {err:?}");
    let mut source = std::error::Error::source(&err);
    while let Some(s) = source {
        text.push_str(&format!(" / {s} / {s:?}"));
        source = s.source();
    }
    assert!(
        !text.contains("Sekr") && !text.contains("3tPw"),
        "{what}: the password is in the error: {text}"
    );
}

#[test]
fn a_password_anywhere_in_the_connection_string_stays_out_of_the_error() {
    // libpq takes the password in the user information, as a query
    // parameter (its name percent-decoded too) or as a keyword; one with a
    // bad `%` escape it refuses, echoing the token. Each case: the string,
    // and the password as a driver could echo it (decoded where it
    // decodes).
    let bad = format!("{SECRET}%zz");
    for (what, url, echoed) in [
        (
            "query parameter",
            format!("postgres://postgres@127.0.0.1:5432/nosuchdb?password={bad}"),
            bad.clone(),
        ),
        (
            "query parameter, percent-encoded",
            "postgres://postgres@127.0.0.1:5432/nosuchdb?sslmode=bogus&password=Sekr%33tPw"
                .to_owned(),
            SECRET.to_owned(),
        ),
        (
            "query parameter with a percent-encoded name",
            format!("postgres://postgres@127.0.0.1:5432/nosuchdb?pass%77ord={bad}"),
            bad.clone(),
        ),
        (
            "TLS key passphrase",
            format!("postgres://postgres@127.0.0.1:5432/nosuchdb?sslpassword={bad}"),
            bad.clone(),
        ),
        (
            "user information",
            format!("postgres://postgres:{bad}@127.0.0.1:5432/nosuchdb"),
            bad.clone(),
        ),
        (
            "keywords",
            format!("host=127.0.0.1 dbname=nosuchdb password='{SECRET}' sslmode=bogus"),
            SECRET.to_owned(),
        ),
        // libpq's user information runs to the first `@` (a `?` does not
        // end it); a password it reads as something else (a host after an
        // `@` in it, a port before a `/` in it) is scrubbed where quoted.
        (
            "user information with a `?`",
            "postgres://postgres:Sekr?3tPw@127.0.0.1:5432/nosuchdb".to_owned(),
            "Sekr?3tPw".to_owned(),
        ),
        (
            "user information with an `@`",
            "postgres://postgres:Sekr@3tPw@127.0.0.1:5432/nosuchdb".to_owned(),
            "3tPw".to_owned(),
        ),
        (
            "user information with a `/`",
            "postgres://postgres:Sekr/3tPw@127.0.0.1:5432/nosuchdb".to_owned(),
            "Sekr".to_owned(),
        ),
        (
            "a query password with an `@`, no database path",
            "postgres://127.0.0.1:5432?password=Sekr@3tPw".to_owned(),
            "3tPw".to_owned(),
        ),
        (
            "OAuth client secret",
            format!("postgres://postgres@127.0.0.1:5432/nosuchdb?oauth_client_secret={bad}"),
            bad.clone(),
        ),
        (
            "OAuth client secret keyword",
            format!("host=127.0.0.1 dbname=nosuchdb oauth_client_secret='{SECRET}'"),
            SECRET.to_owned(),
        ),
    ] {
        assert_no_secret(what, Store::open(&url));
        let printed = strongroom::redacted_url(&url);
        assert!(
            !printed.contains("Sekr") && !printed.contains("3tPw"),
            "{what}: {printed}"
        );
        let message = format!("password \"{echoed}\" rejected for {url}");
        let safe = strongroom::redacted_driver_message(&url, &message);
        assert!(
            !safe.contains("Sekr") && !safe.contains("3tPw"),
            "{what}: {safe}"
        );
    }
}

#[test]
fn timeouts_out_of_range_are_invalid_input_not_a_panic() {
    let db = common::TestDb::sqlite();
    drop(db.store());
    for options in [
        StoreOptions::default().connection_timeout(Duration::ZERO),
        StoreOptions::default().connection_timeout(Duration::MAX),
        StoreOptions::default().connection_timeout(Duration::from_secs(24 * 3600 + 1)),
        StoreOptions::default().sqlite_busy_timeout(Duration::MAX),
    ] {
        let result = std::panic::catch_unwind(|| Store::open_with(&db.url, options.clone()));
        match result {
            Err(_) => panic!("Store::open_with panicked on {options:?}"),
            Ok(Err(Error::InvalidInput(_))) => {}
            Ok(other) => panic!("{options:?}: expected InvalidInput, got {other:?}"),
        }
    }
    // The bounds themselves are accepted. Whether a connection comes within
    // 1 ms depends on the machine's load: a timeout is the store's answer
    // then, never InvalidInput or a panic.
    match Store::open_with(
        &db.url,
        StoreOptions::default().connection_timeout(Duration::from_millis(1)),
    ) {
        Ok(_) | Err(Error::Connect { .. }) => {}
        Err(other) => panic!("a 1 ms connection timeout: {other:?}"),
    }
    Store::open_with(
        &db.url,
        StoreOptions::default().connection_timeout(Duration::from_secs(24 * 3600)),
    )
    .unwrap();
}

/// A PostgreSQL login role for one test, with a password (so the test
/// works whatever the server's authentication method); dropped, with every
/// privilege it was granted in the test database, when it goes.
struct TempRole {
    name: String,
    password: String,
    /// The test database, as its owner: where its privileges are revoked.
    owner_url: String,
}

impl TempRole {
    fn create(db: &common::TestDb) -> TempRole {
        let name = format!("strongroom_app_{}", uuid::Uuid::new_v4().simple());
        let password = uuid::Uuid::new_v4().simple().to_string();
        db.sql(&format!("CREATE ROLE {name} LOGIN PASSWORD '{password}'"));
        TempRole {
            name,
            password,
            owner_url: db.url.clone(),
        }
    }

    /// `url` (a URL of the test database) as this role.
    fn url(&self, url: &str) -> String {
        let (scheme, rest) = url.split_once("://").expect("a URL");
        let host_and_database = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
        format!(
            "{scheme}://{}:{}@{host_and_database}",
            self.name, self.password
        )
    }
}

impl Drop for TempRole {
    fn drop(&mut self) {
        use diesel::{Connection, PgConnection, RunQueryDsl};
        if let Ok(mut owner) = PgConnection::establish(&self.owner_url) {
            let _ = diesel::sql_query(format!("DROP OWNED BY {}", self.name)).execute(&mut owner);
            let _ =
                diesel::sql_query(format!("DROP ROLE IF EXISTS {}", self.name)).execute(&mut owner);
        }
    }
}

/// The deployment OPERATIONS.md describes (review U of 2026-12-07): the
/// owner applies the migrations, the application's role may only read and
/// write strongroom's tables. Its default open (which runs pending
/// migrations) finds nothing pending with `SELECT`s alone, and writes and
/// reads; diesel's harness would have tried `CREATE TABLE IF NOT EXISTS`
/// and failed with "permission denied for schema". Without `SELECT` on
/// diesel's table, the store is not taken for an empty database: opening
/// it is the permission error.
#[test]
fn a_role_that_may_only_read_and_write_the_tables_opens_a_migrated_store() {
    let test = "a_role_that_may_only_read_and_write_the_tables_opens_a_migrated_store";
    let Some(db) = common::postgres_db(test) else {
        return;
    };
    let role = TempRole::create(&db);
    let owner = Store::open_or_create(&db.url).unwrap();
    let all = owner.migration_status().unwrap().applied;
    assert!(!all.is_empty());
    drop(owner);
    let database = db.url.rsplit_once('/').unwrap().1;
    let owner = db.texts("SELECT CAST(current_user AS TEXT) AS t").remove(0);
    for grant in [
        "REVOKE CREATE ON SCHEMA public FROM PUBLIC".to_owned(),
        format!("GRANT CONNECT ON DATABASE {database} TO {}", role.name),
        format!("GRANT USAGE ON SCHEMA public TO {}", role.name),
        format!(
            "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {}",
            role.name
        ),
        format!(
            "ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA public \
             GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {}",
            role.name
        ),
    ] {
        db.sql(&grant);
    }
    let app_url = role.url(&db.url);
    let app = Store::open(&app_url).unwrap();
    let status = app.migration_status().unwrap();
    assert_eq!((status.applied, status.pending.len()), (all, 0));
    let alice = strongroom::Client::open_or_create(db.profile("alice"), &app).unwrap();
    let fields = strongroom::Fields::new()
        .with("note", "least privilege")
        .unwrap();
    let id = alice
        .put("note", &fields, &strongroom::Plain::new())
        .unwrap()
        .id;
    let read = alice.get(id).unwrap().field::<String>("note").unwrap();
    assert_eq!(read, "least privilege");
    drop((alice, app));
    // A table the owner makes later (a migration that rebuilds one, as
    // 000004 does) comes with the same grants: OPERATIONS.md's
    // `ALTER DEFAULT PRIVILEGES` line.
    db.sql("CREATE TABLE rebuilt_later (x INTEGER)");
    {
        use diesel::{Connection, PgConnection, RunQueryDsl};
        let mut app = PgConnection::establish(&app_url).unwrap();
        diesel::sql_query("INSERT INTO rebuilt_later VALUES (1)")
            .execute(&mut app)
            .unwrap();
        let denied = diesel::sql_query("CREATE TABLE not_allowed (x INTEGER)").execute(&mut app);
        assert!(
            denied.is_err_and(|e| e
                .to_string()
                .contains("permission denied for schema public")),
            "the application role may not create tables"
        );
    }

    db.sql(&format!(
        "REVOKE SELECT ON __diesel_schema_migrations FROM {}",
        role.name
    ));
    let app = Store::open_with(&app_url, StoreOptions::default().without_migrations()).unwrap();
    for err in [
        app.has_schema().unwrap_err(),
        app.migration_status().unwrap_err(),
        Store::open(&app_url).err().unwrap(),
    ] {
        assert!(
            err.to_string()
                .contains("permission denied for table __diesel_schema_migrations"),
            "{err}"
        );
    }
}

/// A store opened with a password that holds a `?` (libpq reads it whole,
/// up to the `@`) prints no part of it: neither its URL nor its `Debug`
/// (the "opened store" log line) nor, if the server refuses it, the error.
#[test]
fn a_password_with_a_question_mark_is_never_printed() {
    let admin = postgres_admin_url();
    let Some((scheme, rest)) = admin.split_once("://") else {
        return;
    };
    let Some((user, host)) = rest.split_once('@').filter(|(user, _)| !user.contains(':')) else {
        eprintln!(
            "\n!!!!!!!! SKIPPED `a_password_with_a_question_mark_is_never_printed`: the test URL has no user or a password of its own !!!!!!!!\n"
        );
        return;
    };
    let url = format!("{scheme}://{user}:Sekr?3tPw@{host}");
    match Store::open(&url) {
        Ok(store) => {
            let printed = format!("{} {store:?}", store.redacted_url());
            assert!(
                !printed.contains("Sekr") && !printed.contains("3tPw"),
                "{printed}"
            );
        }
        Err(err) => assert_no_secret("a refused password with a `?`", Err(err)),
    }
}

/// `StoreOptions::postgres_statement_timeout`: a statement stuck behind a
/// table another session locked is cancelled by the server after the
/// timeout, as `Error::StatementTimeout`, with nothing written and its
/// pooled connection back in the pool; once the lock goes, the same calls
/// succeed. Migrations run whatever the timeout.
#[test]
fn a_statement_past_the_statement_timeout_is_cancelled_and_nothing_is_written() {
    use diesel::connection::SimpleConnection;
    use diesel::Connection;
    let Some(db) = common::postgres_db(
        "a_statement_past_the_statement_timeout_is_cancelled_and_nothing_is_written",
    ) else {
        return;
    };
    let options = StoreOptions::default()
        .pool_size(1)
        .postgres_statement_timeout(Duration::from_millis(300))
        .create_if_missing();
    let store = Store::open_with(&db.url, options).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let alice = strongroom::Client::open_or_create(dir.path().join("a.profile"), &store).unwrap();
    let fields = strongroom::Fields::new().with("name", &"Ada").unwrap();
    let id = alice
        .put("note", &fields, &strongroom::Plain::new())
        .unwrap()
        .id;

    let mut locker = diesel::PgConnection::establish(&db.url).unwrap();
    locker
        .batch_execute("BEGIN; LOCK TABLE records IN ACCESS EXCLUSIVE MODE")
        .unwrap();
    let started = Instant::now();
    match alice.get(id) {
        Err(Error::StatementTimeout) => {}
        other => panic!("expected StatementTimeout, got {other:?}"),
    }
    match alice.put("note", &fields, &strongroom::Plain::new()) {
        Err(Error::StatementTimeout) => {}
        other => panic!("expected StatementTimeout, got {other:?}"),
    }
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "cancelled by the server, not left waiting: {:?}",
        started.elapsed()
    );
    locker.batch_execute("ROLLBACK").unwrap();
    // The pool's one connection is usable again, and the stuck write left
    // nothing: one record.
    assert_eq!(
        alice.get(id).unwrap().field::<String>("name").unwrap(),
        "Ada"
    );
    let page = alice
        .query(&strongroom::Query::new().record_type("note").meta_only())
        .unwrap();
    assert_eq!(page.records.len(), 1);
}

#[test]
fn a_statement_timeout_out_of_range_is_refused_at_open() {
    for timeout in [Duration::ZERO, Duration::from_secs(25 * 60 * 60)] {
        let options = StoreOptions::default().postgres_statement_timeout(timeout);
        match Store::open_with("sqlite::memory:", options) {
            Err(Error::InvalidInput(_)) => {}
            other => panic!("{timeout:?}: {other:?}"),
        }
    }
}

/// `Error::StatementTimeout` in a later batch of a call made of several
/// transactions (`rewrap_existing`, committing batch by batch) leaves the
/// batches before committed, and its message does not claim that nothing
/// was written.
#[test]
fn a_statement_timeout_in_a_later_rewrap_batch_does_not_claim_nothing_was_written() {
    use diesel::connection::SimpleConnection;
    use diesel::Connection;
    use std::time::Duration;
    let Some(db) = common::postgres_db(
        "a_statement_timeout_in_a_later_rewrap_batch_does_not_claim_nothing_was_written",
    ) else {
        return;
    };
    let options = strongroom::StoreOptions::default()
        .pool_size(2)
        .postgres_statement_timeout(Duration::from_millis(300))
        .create_if_missing();
    let store = strongroom::Store::open_with(&db.url, options).unwrap();
    let alice = strongroom::Client::open_or_create(db.profile("alice"), &store).unwrap();
    for i in 0..4 {
        alice
            .put(
                "note",
                &common::notes::note(&format!("n{i}")),
                &strongroom::Plain::new(),
            )
            .unwrap();
    }
    alice.rotate("note").unwrap();
    let mut locker = diesel::PgConnection::establish(&db.url).unwrap();
    let mut locked = false;
    let result = alice.rewrap_existing_with_progress("note", 2, |_| {
        if !locked {
            locker
                .batch_execute("BEGIN; LOCK TABLE records IN ACCESS EXCLUSIVE MODE")
                .unwrap();
            locked = true;
        }
    });
    locker.batch_execute("ROLLBACK").unwrap();
    let rewrapped =
        db.texts("SELECT CAST(count(*) AS TEXT) AS t FROM records WHERE key_version = 2");
    let err = result.expect_err("the second batch timed out");
    assert!(matches!(err, Error::StatementTimeout), "{err:?}");
    assert_eq!(rewrapped, ["2"], "the first batch stays committed");
    assert!(
        !err.to_string().contains("nothing was written"),
        "error {err:?} ({err}) while {rewrapped:?} records were re-wrapped and committed"
    );
}
