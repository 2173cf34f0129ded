//! Test databases: every store test runs on SQLite and on the real
//! PostgreSQL server, each in a database of its own that is dropped after.
//!
//! PostgreSQL is found at `STRONGROOM_TEST_POSTGRES` (default
//! `postgres://postgres@127.0.0.1:5432/test`). Outside CI a missing server
//! skips the PostgreSQL half with a loud message; with `CI=true` it fails.
#![allow(dead_code)]

pub mod notes;

use std::path::PathBuf;

use diesel::{Connection, PgConnection, RunQueryDsl};
use strongroom::{Backend, Store};

pub const DEFAULT_POSTGRES: &str = "postgres://postgres@127.0.0.1:5432/test";

pub fn postgres_admin_url() -> String {
    std::env::var("STRONGROOM_TEST_POSTGRES").unwrap_or_else(|_| DEFAULT_POSTGRES.to_owned())
}

/// One isolated database for one test.
pub struct TestDb {
    pub backend: Backend,
    pub url: String,
    pub dir: tempfile::TempDir,
    pg_name: Option<String>,
}

impl TestDb {
    pub fn store(&self) -> Store {
        Store::open_or_create(&self.url).expect("open test store")
    }

    /// A profile path in this test's own temporary folder.
    pub fn profile(&self, name: &str) -> PathBuf {
        self.dir.path().join(format!("{name}.profile"))
    }

    /// The SQLite file, for byte scans.
    pub fn sqlite_path(&self) -> Option<PathBuf> {
        (self.backend == Backend::Sqlite).then(|| self.dir.path().join("sensitive.db"))
    }

    /// A raw connection to the SQLite file that waits for a lock another
    /// connection holds (a store's, a killed process's WAL being
    /// recovered) instead of failing at once.
    fn sqlite_conn(&self, wait: bool) -> diesel::SqliteConnection {
        use diesel::connection::SimpleConnection;
        let mut conn =
            diesel::SqliteConnection::establish(self.sqlite_path().unwrap().to_str().unwrap())
                .expect("sqlite connect");
        if wait {
            conn.batch_execute("PRAGMA busy_timeout = 10000")
                .expect("sqlite busy timeout");
        }
        conn
    }

    /// Runs raw SQL on the test database (to tamper, inspect, dump).
    /// On SQLite it waits for a lock another connection holds.
    pub fn sql(&self, statement: &str) {
        self.execute(statement, true).expect(statement);
    }

    /// Runs raw SQL and returns the database's own answer at once: the
    /// rows it changed, or its error (on SQLite, "locked" without waiting:
    /// how a test sees that another process holds the write lock).
    pub fn try_sql(&self, statement: &str) -> Result<usize, diesel::result::Error> {
        self.execute(statement, false)
    }

    fn execute(&self, statement: &str, wait: bool) -> Result<usize, diesel::result::Error> {
        match self.backend {
            Backend::Sqlite => {
                let mut conn = self.sqlite_conn(wait);
                diesel::sql_query(statement).execute(&mut conn)
            }
            _ => {
                let mut conn = PgConnection::establish(&self.url).expect("postgres connect");
                diesel::sql_query(statement).execute(&mut conn)
            }
        }
    }

    /// Loads the rows `statement` selects, on whichever backend this is.
    fn load<R>(&self, statement: &str) -> Vec<R>
    where
        R: diesel::QueryableByName<diesel::sqlite::Sqlite>
            + diesel::QueryableByName<diesel::pg::Pg>
            + 'static,
    {
        match self.backend {
            Backend::Sqlite => diesel::sql_query(statement)
                .load(&mut self.sqlite_conn(true))
                .expect(statement),
            _ => {
                let mut conn = PgConnection::establish(&self.url).unwrap();
                diesel::sql_query(statement)
                    .load(&mut conn)
                    .expect(statement)
            }
        }
    }

    /// The values of the one text column `t` that `statement` selects.
    pub fn texts(&self, statement: &str) -> Vec<String> {
        #[derive(diesel::QueryableByName)]
        struct Text {
            #[diesel(sql_type = diesel::sql_types::Text)]
            t: String,
        }
        self.load::<Text>(statement)
            .into_iter()
            .map(|r| r.t)
            .collect()
    }

    /// An id as an SQL literal for this backend: a 16-byte BLOB on SQLite,
    /// a `uuid` on PostgreSQL (ids are stored binary, see FORMAT.md).
    pub fn id(&self, id: impl std::fmt::Display) -> String {
        let uuid: uuid::Uuid = id.to_string().parse().expect("an id");
        match self.backend {
            Backend::Sqlite => format!("x'{}'", uuid.simple()),
            _ => format!("'{uuid}'::uuid"),
        }
    }

    /// Bytes as an SQL literal for this backend (BLOB / bytea).
    pub fn blob(&self, bytes: &[u8]) -> String {
        let hex = hex::encode(bytes);
        match self.backend {
            Backend::Sqlite => format!("x'{hex}'"),
            _ => format!("'\\x{hex}'::bytea"),
        }
    }

    /// The blind index value `record` stores for `index` (its lookup row).
    pub fn index_value(&self, record: impl std::fmt::Display, index: &str) -> Vec<u8> {
        let hex = self
            .texts(&format!(
                "SELECT {} AS t FROM blind_index_values WHERE record_id = {} AND index_name = '{index}'",
                self.hex("value"),
                self.id(record)
            ))
            .pop()
            .expect("a lookup row");
        unhex(&hex)
    }

    /// Replaces `record`'s lookup row for `index` with one holding `value`,
    /// as a hostile database could.
    pub fn forge_index_value(
        &self,
        record: impl std::fmt::Display,
        index: &str,
        record_type: &str,
        value: &[u8],
    ) {
        let id = self.id(record);
        self.sql(&format!(
            "DELETE FROM blind_index_values WHERE record_id = {id} AND index_name = '{index}'"
        ));
        self.sql(&format!(
            "INSERT INTO blind_index_values (record_id, index_name, record_type, value) \
             VALUES ({id}, '{index}', '{record_type}', {})",
            self.blob(value)
        ));
    }

    /// An SQL expression giving a binary column (BLOB / bytea) as
    /// lower-case hex text, to select with [`TestDb::texts`].
    pub fn hex(&self, column: &str) -> String {
        match self.backend {
            Backend::Sqlite => format!("lower(hex({column}))"),
            _ => format!("encode({column}, 'hex')"),
        }
    }

    /// An SQL expression giving an id column as hyphenated UUID text.
    pub fn id_text(&self, column: &str) -> String {
        match self.backend {
            Backend::Sqlite => format!(
                "lower(substr(hex({column}), 1, 8) || '-' || substr(hex({column}), 9, 4) || '-' \
                 || substr(hex({column}), 13, 4) || '-' || substr(hex({column}), 17, 4) || '-' \
                 || substr(hex({column}), 21, 12))"
            ),
            _ => format!("{column}::text"),
        }
    }

    /// The length in bytes of `record`'s `sealed_fields` column.
    pub fn sealed_fields_len(&self, record: impl std::fmt::Display) -> i64 {
        self.count(&format!(
            "SELECT CAST(length(sealed_fields) AS BIGINT) AS n FROM records WHERE record_id = {}",
            self.id(record)
        ))
    }

    /// Counts rows matching a `SELECT COUNT(*) AS n FROM …` statement.
    pub fn count(&self, statement: &str) -> i64 {
        #[derive(diesel::QueryableByName)]
        struct Count {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        self.load::<Count>(statement)[0].n
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some(name) = &self.pg_name {
            if let Ok(mut admin) = PgConnection::establish(&postgres_admin_url()) {
                let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut admin);
            }
        }
    }
}

impl TestDb {
    /// A fresh SQLite database in a temporary folder.
    pub fn sqlite() -> TestDb {
        sqlite_db()
    }
}

fn sqlite_db() -> TestDb {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("sensitive.db").display());
    TestDb {
        backend: Backend::Sqlite,
        url,
        dir,
        pg_name: None,
    }
}

/// A fresh PostgreSQL database, or `None` (loudly) when the server is not
/// reachable outside CI.
pub fn postgres_db(test: &str) -> Option<TestDb> {
    let admin_url = postgres_admin_url();
    let mut admin = match PgConnection::establish(&admin_url) {
        Ok(conn) => conn,
        Err(err) => {
            let message = format!(
                "PostgreSQL not reachable at {admin_url} ({err}); set STRONGROOM_TEST_POSTGRES or start the server"
            );
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("{test}: {message} (CI=true: this is a failure)");
            }
            // Straight to the process's stderr, past the test harness's
            // capture, so the skip shows even when the test passes.
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr().lock(),
                "\n!!!!!!!! SKIPPED the PostgreSQL half of `{test}`: {message} !!!!!!!!\n"
            );
            return None;
        }
    };
    let name = format!("strongroom_test_{}", uuid::Uuid::new_v4().simple());
    diesel::sql_query(format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .expect("create test database");
    let (base, _) = admin_url.rsplit_once('/').expect("database url has a path");
    Some(TestDb {
        backend: Backend::Postgres,
        url: format!("{base}/{name}"),
        dir: tempfile::tempdir().unwrap(),
        pg_name: Some(name),
    })
}

/// Runs `test` on SQLite, then on PostgreSQL.
pub fn each_backend(test: &str, body: impl Fn(&TestDb)) {
    let sqlite = sqlite_db();
    body(&sqlite);
    if let Some(pg) = postgres_db(test) {
        body(&pg);
    }
}

/// One step of the xorshift64 generator the file tests make bodies with:
/// cheap bytes that differ from chunk to chunk and within each, so a
/// swapped or shifted chunk could not go unseen. Not for keys.
pub fn xorshift64(state: &mut u64) -> u64 {
    let mut x = *state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *state = x;
    x
}

/// Lower-case hex text (as [`TestDb::hex`] selects it) back to bytes.
pub fn unhex(text: &str) -> Vec<u8> {
    hex::decode(text).expect("hex")
}

/// The database refuses every re-wrap (an update moving a record to key
/// version 2) with the error "interrupted by test".
pub fn refuse_rewraps_to_version_2(db: &TestDb) {
    match db.backend {
        Backend::Sqlite => db.sql(
            "CREATE TRIGGER stop_rewrap BEFORE UPDATE ON records WHEN NEW.key_version = 2 \
             BEGIN SELECT RAISE(ABORT, 'interrupted by test'); END",
        ),
        _ => {
            db.sql(
                "CREATE FUNCTION stop_rewrap() RETURNS trigger AS $$ BEGIN \
                 IF NEW.key_version = 2 THEN RAISE EXCEPTION 'interrupted by test'; END IF; \
                 RETURN NEW; END $$ LANGUAGE plpgsql",
            );
            db.sql("CREATE TRIGGER stop_rewrap BEFORE UPDATE ON records FOR EACH ROW EXECUTE FUNCTION stop_rewrap()");
        }
    }
}

/// Makes the directory `dir` immutable (`chattr +i`: no file can be made
/// in it, even by root) for the life of the guard; `None`, after saying so
/// loudly, where the file system or the user cannot.
pub struct Immutable(std::path::PathBuf);

impl Immutable {
    pub fn set(dir: &std::path::Path, test: &str) -> Option<Immutable> {
        let done = std::process::Command::new("chattr")
            .arg("+i")
            .arg(dir)
            .status()
            .is_ok_and(|s| s.success());
        if !done {
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr().lock(),
                "\n!!!!!!!! SKIPPED `{test}`: `chattr +i` is not available here (needs root and ext4-like file system) !!!!!!!!\n"
            );
            return None;
        }
        Some(Immutable(dir.to_path_buf()))
    }
}

impl Drop for Immutable {
    fn drop(&mut self) {
        let _ = std::process::Command::new("chattr")
            .arg("-i")
            .arg(&self.0)
            .status();
    }
}
