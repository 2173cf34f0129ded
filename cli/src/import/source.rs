//! The source database of an import: opened read-only, and identified by
//! what it is rather than by how it was reached.
//!
//! - PostgreSQL: the server's system identifier (`pg_control_system()`,
//!   made once by `initdb`, shared by its physical replicas), the database
//!   name (`current_database()`), and the table's schema-qualified name as
//!   the server resolves it (`to_regclass`): `localhost` or `127.0.0.1`,
//!   `patients` or `public.patients`, are one source.
//! - SQLite: the file, as its canonical absolute path (symbolic links and
//!   relative paths resolved) and, on unix, its device and inode numbers;
//!   the table as `main` and its name as stored in the schema (SQLite's
//!   names are case-insensitive). A copy of the file, a file moved or
//!   replaced (a new inode), or a hard link reached under another name is a
//!   new source; so is a dump restored into another PostgreSQL cluster.

use anyhow::{anyhow, bail, Context, Result};
use diesel::connection::SimpleConnection;
use diesel::sql_types::Text;
use diesel::{Connection, PgConnection, QueryableByName, RunQueryDsl, SqliteConnection};

use crate::Usage;

/// The PostgreSQL settings that shape values read as text, pinned for the
/// source session (the time zone is UTC already, as diesel sets it).
const PINNED_TEXT_SETTINGS: &str = "SET DateStyle = 'ISO, MDY'; SET IntervalStyle = 'postgres'; \
     SET bytea_output = 'hex'; SET extra_float_digits = 1; SET lc_monetary = 'C'; \
     SET TimeZone = 'UTC'";

/// An open source database. Only ever read: SQLite is opened read-only
/// (and `query_only`), a PostgreSQL session is set read-only.
pub(super) enum Source {
    Sqlite {
        conn: SqliteConnection,
        /// The file's identity, as part of a source key.
        identity: String,
    },
    Postgres(PgConnection),
}

/// A table as the source names it: schema and name, unquoted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Table {
    pub schema: String,
    pub name: String,
}

impl Table {
    /// The table in SQL: `"schema"."name"`, each part quoted.
    pub fn sql(&self) -> String {
        format!("{}.{}", quote_part(&self.schema), quote_part(&self.name))
    }

    /// The table the first row of a look-up names, if it names one whole.
    fn first_of(rows: Vec<Resolved>) -> Option<Table> {
        match rows.into_iter().next()? {
            Resolved {
                schema: Some(schema),
                name: Some(name),
            } => Some(Table { schema, name }),
            _ => None,
        }
    }
}

/// A source row as bytes: a SQLite text value need not be UTF-8, and one
/// that is not must fail its own row (named), not the whole batch's read.
#[derive(QueryableByName)]
pub(super) struct SourceRow {
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Binary>)]
    pub source_id: Option<Vec<u8>>,
    #[diesel(sql_type = diesel::sql_types::Binary)]
    pub vals: Vec<u8>,
    /// The id's type: SQLite's storage class (`typeof`), PostgreSQL's
    /// column type (`pg_typeof`), for the next page's bound.
    #[diesel(sql_type = diesel::sql_types::Nullable<Text>)]
    id_type: Option<String>,
    /// A SQLite id stored as a REAL, exactly (its text may round).
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Double>)]
    id_real: Option<f64>,
}

/// Where the next page of the source starts: after the last id read, in
/// the id column's own order and type (keyset paging: rows the
/// application deletes or adds meanwhile never shift the rows still to
/// read, as an `OFFSET` would, and a page costs the same at any depth).
#[derive(Debug, Clone, PartialEq)]
enum After {
    Integer(i64),
    Real(f64),
    Text(String),
    Bytes(Vec<u8>),
    /// PostgreSQL: the id's text, cast back to its type.
    Typed {
        text: String,
        type_name: String,
    },
}

/// Reads a source table page by page, in id order.
#[derive(Default)]
pub(super) struct Pages {
    after: Option<After>,
    read: u64,
    /// Why the page after the last one read cannot be asked for (its
    /// last id cannot be a bound): told at the next call, so that the
    /// caller first names the row that is at fault.
    stuck: Option<String>,
    /// PostgreSQL: the id column's declared type, length included
    /// (`character(8)`: `pg_typeof` says `character`, which casts to one
    /// character), once looked up.
    declared_type: Option<Option<String>>,
}

impl Pages {
    /// The next page of at most `limit` rows (empty at the end).
    pub fn next(
        &mut self,
        source: &mut Source,
        table: &Table,
        id: &str,
        columns: &[String],
        limit: usize,
    ) -> Result<Vec<SourceRow>> {
        if let Some(why) = self.stuck.take() {
            bail!("{why}");
        }
        let rows = source
            .page(table, id, columns, self.after.as_ref(), limit)
            .with_context(|| {
                format!(
                    "reading source rows {} to {} in id order",
                    self.read + 1,
                    self.read.saturating_add(limit as u64)
                )
            })?;
        let Some(last) = rows.last() else {
            return Ok(rows);
        };
        self.read += rows.len() as u64;
        match last.after(source) {
            Ok(mut after) => {
                if let After::Typed { type_name, .. } = &mut after {
                    if let Some(declared) = self.declared_type(source, table, id)? {
                        *type_name = declared;
                    }
                }
                // A page must move past the last one: one that ends on
                // the same id would be asked for again and again.
                if self.after.as_ref() == Some(&after) {
                    bail!(
                        "reading the source in id order did not get past the id after row {} (the id column's type does not order as its text casts back); nothing more was read",
                        self.read
                    );
                }
                self.after = Some(after);
            }
            Err(err) => self.stuck = Some(err.to_string()),
        }
        Ok(rows)
    }

    /// The id column's declared type on PostgreSQL (`format_type` of the
    /// table's column, length included), looked up once; `None` for
    /// SQLite or an id that is not one of the table's columns.
    fn declared_type(
        &mut self,
        source: &mut Source,
        table: &Table,
        id: &str,
    ) -> Result<Option<String>> {
        if let Some(known) = &self.declared_type {
            return Ok(known.clone());
        }
        let found = match source {
            Source::Sqlite { .. } => None,
            Source::Postgres(conn) => {
                #[derive(QueryableByName)]
                struct Declared {
                    #[diesel(sql_type = diesel::sql_types::Nullable<Text>)]
                    t: Option<String>,
                }
                // The column as `quote` spells it: "name", quotes doubled.
                let rows: Vec<Declared> = diesel::sql_query(
                    "SELECT pg_catalog.format_type(a.atttypid, a.atttypmod) AS t \
                     FROM pg_catalog.pg_attribute a \
                     WHERE a.attrelid = pg_catalog.to_regclass($1) AND a.attnum > 0 \
                     AND NOT a.attisdropped \
                     AND '\"' || pg_catalog.replace(a.attname, '\"', '\"\"') || '\"' = $2",
                )
                .bind::<Text, _>(table.sql())
                .bind::<Text, _>(id)
                .load(conn)
                .context("looking up the source id column's type")?;
                rows.into_iter().next().and_then(|row| row.t)
            }
        };
        self.declared_type = Some(found.clone());
        Ok(found)
    }
}

impl SourceRow {
    /// The bound of the page after this row.
    fn after(&self, source: &Source) -> Result<After> {
        let Some(id) = &self.source_id else {
            bail!("a source row has a NULL id");
        };
        let text = || {
            String::from_utf8(id.clone())
                .map_err(|_| anyhow!("a source row's id is not UTF-8 text"))
        };
        Ok(match (source, self.id_type.as_deref()) {
            (Source::Postgres(_), Some(type_name)) => After::Typed {
                text: text()?,
                type_name: type_name.to_owned(),
            },
            (Source::Postgres(_), None) => bail!("the source did not give its id's type"),
            (Source::Sqlite { .. }, Some("integer")) => After::Integer(
                text()?
                    .parse()
                    .context("the source returned a malformed integer id")?,
            ),
            (Source::Sqlite { .. }, Some("real")) => After::Real(
                self.id_real
                    .context("the source returned a malformed real id")?,
            ),
            (Source::Sqlite { .. }, Some("text")) => After::Text(text()?),
            (Source::Sqlite { .. }, _) => After::Bytes(id.clone()),
        })
    }
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

#[derive(QueryableByName)]
struct PgIdentity {
    #[diesel(sql_type = diesel::sql_types::Nullable<Text>)]
    system: Option<String>,
    #[diesel(sql_type = diesel::sql_types::Nullable<Text>)]
    database: Option<String>,
}

#[derive(QueryableByName)]
struct Resolved {
    #[diesel(sql_type = diesel::sql_types::Nullable<Text>)]
    schema: Option<String>,
    #[diesel(sql_type = diesel::sql_types::Nullable<Text>)]
    name: Option<String>,
}

/// `"part"`, with embedded quotes doubled.
fn quote_part(part: &str) -> String {
    format!("\"{}\"", part.replace('"', "\"\""))
}

/// `"name"`, with embedded quotes doubled; `schema.table` quotes each part.
pub(super) fn quote(name: &str) -> Result<String> {
    if name.is_empty() || name.chars().any(char::is_control) {
        return Err(Usage(format!("`{name}` is not a valid table or column name")).into());
    }
    Ok(name
        .split('.')
        .map(quote_part)
        .collect::<Vec<_>>()
        .join("."))
}

/// A length-prefixed component of a source key: `LEN:TEXT`, the length in
/// bytes, so no text can pass for another split.
pub(super) fn framed(text: &str) -> String {
    format!("{}:{text}", text.len())
}

/// A path as an SQLite URI path: the characters a URI gives a meaning to
/// are percent-encoded.
fn uri_path(path: &str) -> String {
    path.replace('%', "%25")
        .replace('?', "%3f")
        .replace('#', "%23")
}

/// The identity of an SQLite file, as part of a source key (see the module
/// docs).
fn sqlite_identity(canonical: &std::path::Path) -> Result<String> {
    let path = framed(&canonical.to_string_lossy());
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let meta = std::fs::metadata(canonical)
            .with_context(|| format!("the source database {}", canonical.display()))?;
        Ok(format!(
            "sqlite dev={} inode={} path={path}",
            meta.dev(),
            meta.ino()
        ))
    }
    #[cfg(not(unix))]
    {
        Ok(format!("sqlite path={path}"))
    }
}

/// The encoding a PostgreSQL source's text is read in: UTF-8, but an
/// SQL_ASCII database's bytes as they are (PostgreSQL cannot convert them).
const ENCODING: &str = "CASE WHEN pg_catalog.current_setting('server_encoding') = 'SQL_ASCII' \
     THEN 'SQL_ASCII' ELSE 'UTF8' END";

/// How long connecting to a PostgreSQL source may take before the import
/// gives up (libpq's `connect_timeout`, unless the URL sets its own): the
/// same as the store's connection timeout.
const SOURCE_CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

impl Source {
    pub fn open(url: &str) -> Result<Source> {
        if let Some(path) = url.strip_prefix("sqlite://") {
            if !std::path::Path::new(path).exists() {
                bail!("the source database {path} does not exist");
            }
            let canonical = std::fs::canonicalize(path)
                .with_context(|| format!("the source database {path}"))?;
            let identity = sqlite_identity(&canonical)?;
            let uri = format!("file:{}?mode=ro", uri_path(&canonical.to_string_lossy()));
            let mut conn = SqliteConnection::establish(&uri)
                .with_context(|| format!("opening {path} read-only"))?;
            diesel::sql_query("PRAGMA query_only = ON")
                .execute(&mut conn)
                .context("setting the source read-only")?;
            // The application may be writing it: wait for its write lock
            // as the store does, instead of failing at once.
            diesel::sql_query("PRAGMA busy_timeout = 5000")
                .execute(&mut conn)
                .context("setting the source's busy timeout")?;
            Ok(Source::Sqlite { conn, identity })
        } else if let Ok(connection) =
            strongroom::postgres_connection_string(url, SOURCE_CONNECT_TIMEOUT)
        {
            // A URL or libpq keywords, with a connect timeout, as `--db`.
            let mut conn = PgConnection::establish(&connection).map_err(|err| {
                anyhow!(
                    "cannot connect to the source {}: {}",
                    strongroom::redacted_url(url),
                    strongroom::redacted_driver_message(&connection, &err.to_string())
                )
            })?;
            diesel::sql_query("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
                .execute(&mut conn)
                .context("setting the source session read-only")?;
            // Every value, the id included, is read as text: its text must
            // not depend on the server's or database's settings, or a run
            // under other settings would see new ids (and import every row
            // again) and other values.
            conn.batch_execute(PINNED_TEXT_SETTINGS)
                .context("pinning the source session's text formats")?;
            Ok(Source::Postgres(conn))
        } else {
            Err(Usage(
                "--from takes postgres://…, libpq keywords (host=… dbname=…) or sqlite://PATH"
                    .into(),
            )
            .into())
        }
    }

    /// What the source database is, as part of a source key: the same for
    /// every way of reaching it (see the module docs).
    pub fn identity(&mut self) -> Result<String> {
        match self {
            Source::Sqlite { identity, .. } => Ok(identity.clone()),
            Source::Postgres(conn) => {
                let rows: Vec<PgIdentity> = diesel::sql_query(
                    "SELECT system_identifier::text AS system, current_database()::text AS database \
                     FROM pg_catalog.pg_control_system()",
                )
                .load(conn)
                .context("reading the source server's system identifier (pg_control_system())")?;
                let (Some(system), Some(database)) = rows
                    .into_iter()
                    .next()
                    .map_or((None, None), |r| (r.system, r.database))
                else {
                    bail!("the source server did not give its system identifier");
                };
                if system.is_empty() || !system.bytes().all(|b| b.is_ascii_digit()) {
                    bail!("the source server gave a malformed system identifier");
                }
                Ok(format!(
                    "postgres system={system} database={}",
                    framed(&database)
                ))
            }
        }
    }

    /// The table `--table` names, as the source resolves it; an error if
    /// there is none.
    pub fn resolve(&mut self, table: &str) -> Result<Table> {
        let quoted = quote(table)?;
        let not_found = || anyhow!("the source has no table `{table}`");
        match self {
            Source::Sqlite { conn, .. } => {
                let name = match table.split_once('.') {
                    None => table,
                    Some((schema, name)) if schema.eq_ignore_ascii_case("main") => name,
                    Some(_) => {
                        return Err(
                            not_found().context("only the main schema of an SQLite source is read")
                        )
                    }
                };
                let rows: Vec<Resolved> = diesel::sql_query(
                    "SELECT 'main' AS schema, name FROM main.sqlite_master \
                     WHERE type IN ('table', 'view') AND name = ?1 COLLATE NOCASE",
                )
                .bind::<Text, _>(name)
                .load(conn)
                .context("looking up the source table")?;
                Table::first_of(rows).ok_or_else(not_found)
            }
            Source::Postgres(conn) => {
                let rows: Vec<Resolved> = diesel::sql_query(
                    "SELECT n.nspname::text AS schema, c.relname::text AS name \
                     FROM pg_catalog.pg_class c \
                     JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
                     WHERE c.oid = pg_catalog.to_regclass($1)",
                )
                .bind::<Text, _>(&quoted)
                .load(conn)
                .map_err(|err| not_found().context(err.to_string().replace('\n', " ")))?;
                Table::first_of(rows).ok_or_else(not_found)
            }
        }
    }

    /// Fails naming the first of `columns` that `table` does not have.
    /// SQLite reads a double-quoted name that is no column as a string
    /// literal (its "double-quoted string" misfeature): unchecked, a
    /// mistyped column would import its own name as every row's value, and
    /// a mistyped id column would give every row the same id. PostgreSQL
    /// refuses an unknown column itself; a dotted (qualified) name cannot
    /// be read as a literal and is left to the source.
    pub fn check_columns<'a>(
        &mut self,
        table: &Table,
        columns: impl IntoIterator<Item = &'a str>,
    ) -> Result<()> {
        let Source::Sqlite { conn, .. } = self else {
            return Ok(());
        };
        #[derive(QueryableByName)]
        struct Column {
            #[diesel(sql_type = Text)]
            name: String,
        }
        let known: Vec<Column> =
            diesel::sql_query("SELECT name FROM pragma_table_info(?1, 'main')")
                .bind::<Text, _>(&table.name)
                .load(conn)
                .context("looking up the source table's columns")?;
        for column in columns {
            if !column.contains('.') && !known.iter().any(|k| k.name.eq_ignore_ascii_case(column)) {
                bail!("the source table `{}` has no column `{column}`", table.name);
            }
        }
        Ok(())
    }

    /// `count` and the text type as the source's SQL names them. On
    /// PostgreSQL by their schema, as pg_dump does: a function of the same
    /// name matching the arguments better, in a schema on the session's
    /// `search_path` (anyone's `public` before PostgreSQL 15), would
    /// otherwise be called instead (CVE-2018-1058) and could forge what is
    /// read. An SQLite file cannot define functions.
    fn builtins(&self) -> (&'static str, &'static str) {
        match self {
            Source::Sqlite { .. } => ("COUNT", "TEXT"),
            Source::Postgres(_) => ("pg_catalog.count", "pg_catalog.text"),
        }
    }

    /// How many rows share their id's text with another row (NULL ids
    /// not counted): 0 when every row has its own id.
    pub fn repeated_ids(&mut self, table: &Table, id: &str) -> Result<u64> {
        let (count, text) = self.builtins();
        let sql = format!(
            "SELECT {count}(CAST({id} AS {text})) - {count}(DISTINCT CAST({id} AS {text})) AS n FROM {}",
            table.sql()
        );
        let rows: Vec<Count> = match self {
            Source::Sqlite { conn, .. } => diesel::sql_query(sql).load(conn)?,
            Source::Postgres(conn) => diesel::sql_query(sql).load(conn)?,
        };
        Ok(rows.first().map_or(0, |r| u64::try_from(r.n).unwrap_or(0)))
    }

    pub fn count(&mut self, table: &Table) -> Result<u64> {
        let (count, _) = self.builtins();
        let sql = format!("SELECT {count}(*) AS n FROM {}", table.sql());
        let rows: Vec<Count> = match self {
            Source::Sqlite { conn, .. } => diesel::sql_query(sql).load(conn)?,
            Source::Postgres(conn) => diesel::sql_query(sql).load(conn)?,
        };
        Ok(rows.first().map_or(0, |r| u64::try_from(r.n).unwrap_or(0)))
    }

    /// The page of at most `limit` rows after `after`, in id order: the
    /// id and every column as text (or null), as a JSON array; both read
    /// as bytes (see [`SourceRow`]).
    fn page(
        &mut self,
        table: &Table,
        id: &str,
        columns: &[String],
        after: Option<&After>,
        limit: usize,
    ) -> diesel::QueryResult<Vec<SourceRow>> {
        use diesel::sql_types::{BigInt, Binary, Double};
        let (_, text) = self.builtins();
        let casts: Vec<String> = columns
            .iter()
            .map(|c| format!("CAST({c} AS {text})"))
            .collect();
        let selected = match self {
            Source::Sqlite { .. } => format!(
                "CAST(CAST({id} AS TEXT) AS BLOB) AS source_id, \
                 CAST(json_array({}) AS BLOB) AS vals, typeof({id}) AS id_type, \
                 CASE WHEN typeof({id}) = 'real' THEN {id} END AS id_real",
                casts.join(", ")
            ),
            // Bytes as the database holds them: an SQL_ASCII database's
            // text is not converted (a value that is not UTF-8 then fails
            // its own row, named, instead of the whole page's read).
            Source::Postgres(_) => format!(
                "pg_catalog.convert_to(CAST({id} AS {text}), {ENCODING}) AS source_id, \
                 pg_catalog.convert_to(CAST(pg_catalog.json_build_array({}) AS {text}), {ENCODING}) AS vals, \
                 pg_catalog.pg_typeof({id})::text AS id_type, NULL::float8 AS id_real",
                casts.join(", ")
            ),
        };
        let from = table.sql();
        let page = |bound: &str| {
            format!("SELECT {selected} FROM {from}{bound} ORDER BY {id} LIMIT {limit}")
        };
        match (self, after) {
            (Source::Sqlite { conn, .. }, None) => diesel::sql_query(page("")).load(conn),
            (Source::Postgres(conn), None) => diesel::sql_query(page("")).load(conn),
            (Source::Sqlite { conn, .. }, Some(after)) => {
                let query = diesel::sql_query(page(&format!(" WHERE {id} > ?1")));
                match after {
                    After::Integer(v) => query.bind::<BigInt, _>(*v).load(conn),
                    After::Real(v) => query.bind::<Double, _>(*v).load(conn),
                    After::Text(v) => query.bind::<Text, _>(v).load(conn),
                    After::Bytes(v) => query.bind::<Binary, _>(v).load(conn),
                    // Not made for SQLite; as text if it were.
                    After::Typed { text, .. } => query.bind::<Text, _>(text).load(conn),
                }
            }
            (Source::Postgres(conn), Some(after)) => {
                let After::Typed { text, type_name } = after else {
                    // Only made for SQLite.
                    return Err(diesel::result::Error::QueryBuilderError(
                        "a PostgreSQL page needs a typed bound".into(),
                    ));
                };
                // The type's name as the server spells it (`pg_typeof`,
                // quoted where it needs to be): the id's text cast back to
                // its own type, so the bound compares as the ordering does.
                diesel::sql_query(page(&format!(" WHERE {id} > CAST($1 AS {type_name})")))
                    .bind::<Text, _>(text)
                    .load(conn)
            }
        }
    }

    /// How many rows have a NULL id.
    pub fn null_ids(&mut self, table: &Table, id: &str) -> Result<u64> {
        let (count, _) = self.builtins();
        let sql = format!(
            "SELECT {count}(*) - {count}({id}) AS n FROM {}",
            table.sql()
        );
        let rows: Vec<Count> = match self {
            Source::Sqlite { conn, .. } => diesel::sql_query(sql).load(conn)?,
            Source::Postgres(conn) => diesel::sql_query(sql).load(conn)?,
        };
        Ok(rows.first().map_or(0, |r| u64::try_from(r.n).unwrap_or(0)))
    }

    /// Runs a statement on the source connection (tests: a write must fail).
    #[cfg(test)]
    fn execute(&mut self, sql: &str) -> diesel::QueryResult<usize> {
        match self {
            Source::Sqlite { conn, .. } => diesel::sql_query(sql).execute(conn),
            Source::Postgres(conn) => diesel::sql_query(sql).execute(conn),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sqlite_source_refuses_writes_through_its_connection() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("legacy #1?.db");
        {
            let mut conn = SqliteConnection::establish(path.to_str().unwrap()).unwrap();
            diesel::sql_query("CREATE TABLE people (id INTEGER PRIMARY KEY, name TEXT)")
                .execute(&mut conn)
                .unwrap();
            diesel::sql_query("INSERT INTO people VALUES (1, 'Ada')")
                .execute(&mut conn)
                .unwrap();
        }
        let before = std::fs::read(&path).unwrap();
        let mut source = Source::open(&format!("sqlite://{}", path.display())).unwrap();
        let table = source.resolve("People").unwrap();
        assert_eq!(source.count(&table).unwrap(), 1);
        for write in [
            "INSERT INTO people VALUES (2, 'Grace')",
            "UPDATE people SET name = 'x'",
            "DELETE FROM people",
            "CREATE TABLE other (x INTEGER)",
        ] {
            assert!(source.execute(write).is_err(), "{write} went through");
        }
        drop(source);
        assert_eq!(std::fs::read(&path).unwrap(), before, "the file changed");
        assert!(
            !dir.path().join("legacy #1").exists(),
            "the path was read as a URI"
        );
    }

    /// A schema of the test's own on the test server, dropped with the
    /// guard; `None` (after saying so loudly) when there is no server
    /// outside CI.
    struct PgSchema {
        url: String,
        name: String,
        admin: PgConnection,
    }

    impl PgSchema {
        fn create(test: &str) -> Option<PgSchema> {
            let url = std::env::var("STRONGROOM_TEST_POSTGRES")
                .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
            let admin = match PgConnection::establish(&url) {
                Ok(conn) => conn,
                Err(err) => {
                    if std::env::var("CI").is_ok_and(|v| v == "true") {
                        panic!("PostgreSQL not reachable at {url} ({err}) (CI=true: a failure)");
                    }
                    use std::io::Write;
                    let _ = writeln!(
                        std::io::stderr().lock(),
                        "\n!!!!!!!! SKIPPED {test}: PostgreSQL not reachable at {url} ({err}) !!!!!!!!\n"
                    );
                    return None;
                }
            };
            let mut schema = PgSchema {
                url,
                name: format!("strongroom_src_{}", uuid::Uuid::new_v4().simple()),
                admin,
            };
            let create = format!("CREATE SCHEMA {}", schema.name);
            schema.admin.batch_execute(&create).unwrap();
            Some(schema)
        }
    }

    impl Drop for PgSchema {
        fn drop(&mut self) {
            let drop = format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name);
            let _ = self.admin.batch_execute(&drop);
        }
    }

    #[test]
    fn a_postgres_source_refuses_writes_through_its_connection() {
        let Some(mut pg) =
            PgSchema::create("a_postgres_source_refuses_writes_through_its_connection")
        else {
            return;
        };
        let (url, schema) = (pg.url.clone(), pg.name.clone());
        pg.admin
            .batch_execute(&format!(
                "CREATE TABLE {schema}.people (id INT PRIMARY KEY, name TEXT); \
                 INSERT INTO {schema}.people VALUES (1, 'Ada')"
            ))
            .unwrap();
        let admin = &mut pg.admin;
        let mut source = Source::open(&url).unwrap();
        let table = source.resolve(&format!("{schema}.people")).unwrap();
        assert_eq!(
            table,
            Table {
                schema: schema.clone(),
                name: "people".into()
            }
        );
        assert_eq!(source.count(&table).unwrap(), 1);
        for write in [
            format!("INSERT INTO {schema}.people VALUES (2, 'Grace')"),
            format!("UPDATE {schema}.people SET name = 'x'"),
            format!("DELETE FROM {schema}.people"),
            format!("CREATE TABLE {schema}.other (x INT)"),
        ] {
            let err = source.execute(&write).expect_err(&write);
            assert!(err.to_string().contains("read-only"), "{write}: {err}");
        }
        #[derive(QueryableByName)]
        struct Name {
            #[diesel(sql_type = Text)]
            name: String,
        }
        let names: Vec<Name> =
            diesel::sql_query(format!("SELECT name FROM {schema}.people ORDER BY id"))
                .load(admin)
                .unwrap();
        assert_eq!(
            names.iter().map(|n| n.name.as_str()).collect::<Vec<_>>(),
            ["Ada"]
        );
    }

    /// The source's SQL names every built-in it calls by its schema
    /// (`pg_catalog.`), as pg_dump does: a function of the same name that
    /// matches the arguments better, in a schema on the session's
    /// `search_path` (anyone's `public` before PostgreSQL 15), is not
    /// called instead (CVE-2018-1058), so it cannot forge the values read.
    #[test]
    fn a_postgres_source_calls_no_lookalike_function_on_its_search_path() {
        let Some(mut pg) =
            PgSchema::create("a_postgres_source_calls_no_lookalike_function_on_its_search_path")
        else {
            return;
        };
        let (url, schema) = (pg.url.clone(), pg.name.clone());
        pg.admin
            .batch_execute(&format!(
                "CREATE TABLE {schema}.people (id INT PRIMARY KEY, name TEXT); \
                 INSERT INTO {schema}.people VALUES (1, 'Ada'), (2, 'Grace'); \
                 CREATE FUNCTION {schema}.json_build_array(text, text) RETURNS json \
                   LANGUAGE sql AS $$ SELECT '[\"forged\", \"forged\"]'::json $$; \
                 CREATE FUNCTION {schema}.convert_to(text, text) RETURNS bytea \
                   LANGUAGE sql AS $$ SELECT '\\x666f72676564'::bytea $$; \
                 CREATE FUNCTION {schema}.count(text) RETURNS bigint \
                   LANGUAGE sql AS $$ SELECT 7::bigint $$;"
            ))
            .unwrap();
        let sep = if url.contains('?') { '&' } else { '?' };
        let with_path = format!("{url}{sep}options=-csearch_path%3D{schema}");
        let mut source = Source::open(&with_path).unwrap();
        let table = source.resolve("people").unwrap();
        assert_eq!(table.schema, schema, "resolved through the search path");
        let rows = Pages::default()
            .next(
                &mut source,
                &table,
                "\"id\"",
                &["\"id\"".to_owned(), "\"name\"".to_owned()],
                10,
            )
            .unwrap();
        let read: Vec<(String, String)> = rows
            .iter()
            .map(|row| {
                (
                    String::from_utf8_lossy(row.source_id.as_deref().unwrap()).into_owned(),
                    String::from_utf8_lossy(&row.vals).into_owned(),
                )
            })
            .collect();
        assert_eq!(
            read,
            [
                ("1".to_owned(), r#"["1", "Ada"]"#.to_owned()),
                ("2".to_owned(), r#"["2", "Grace"]"#.to_owned())
            ]
        );
        assert_eq!(source.repeated_ids(&table, "\"id\"").unwrap(), 0);
        assert_eq!(source.null_ids(&table, "\"id\"").unwrap(), 0);
    }

    /// Every id of `table`, page by page (`limit` a page), running
    /// `between` after the first page.
    fn read_ids(
        source: &mut Source,
        table: &Table,
        limit: usize,
        mut between: impl FnMut(),
    ) -> Vec<String> {
        let mut pages = Pages::default();
        let mut ids = Vec::new();
        loop {
            let rows = pages
                .next(source, table, "\"id\"", &["\"id\"".to_owned()], limit)
                .unwrap();
            if rows.is_empty() {
                return ids;
            }
            if ids.is_empty() {
                between();
            }
            ids.extend(
                rows.iter()
                    .map(|r| String::from_utf8_lossy(r.source_id.as_deref().unwrap()).into_owned()),
            );
        }
    }

    /// Pages start after the last id read, compared in the id's own type:
    /// rows deleted meanwhile shift nothing (an OFFSET would skip rows),
    /// numbers order as numbers, and SQLite's mixed storage classes (an
    /// untyped id column) are each read once.
    #[test]
    fn a_sqlite_source_is_paged_by_id_and_rows_deleted_meanwhile_skip_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("legacy.db");
        let mut app = SqliteConnection::establish(path.to_str().unwrap()).unwrap();
        app.batch_execute(
            "CREATE TABLE people (id INTEGER PRIMARY KEY, name TEXT); \
             CREATE TABLE mixed (id, name TEXT);",
        )
        .unwrap();
        for n in 1..=12 {
            app.batch_execute(&format!("INSERT INTO people VALUES ({n}, 'p{n}')"))
                .unwrap();
        }
        app.batch_execute(
            "INSERT INTO mixed VALUES (10, 'a'), (9.5, 'b'), (2, 'c'), ('10', 'd'), ('9', 'e'), \
             (x'00ff', 'f'), (0.1, 'g');",
        )
        .unwrap();
        let mut source = Source::open(&format!("sqlite://{}", path.display())).unwrap();
        let people = source.resolve("people").unwrap();
        let ids = read_ids(&mut source, &people, 5, || {
            app.batch_execute("DELETE FROM people WHERE id <= 3")
                .unwrap();
        });
        let expected: Vec<String> = (1..=12).map(|n| n.to_string()).collect();
        assert_eq!(ids, expected);
        let mixed = source.resolve("mixed").unwrap();
        let ids = read_ids(&mut source, &mixed, 1, || {});
        assert_eq!(
            ids,
            ["0.1", "2", "9.5", "10", "10", "9", "\0\u{fffd}"],
            "numbers in order, then texts, then the blob, each once"
        );
    }

    /// On PostgreSQL too: each page starts after the last id, cast back to
    /// the id column's own type (integers, uuids, timestamps, numerics,
    /// text), and rows deleted meanwhile shift nothing.
    #[test]
    fn a_postgres_source_is_paged_by_id_in_its_own_type() {
        let Some(mut pg) = PgSchema::create("a_postgres_source_is_paged_by_id_in_its_own_type")
        else {
            return;
        };
        let schema = pg.name.clone();
        let types = [
            ("integer", "n"),
            ("bigint", "n::bigint * 1000000000"),
            ("numeric(10, 2)", "n / 4.0"),
            ("text", "'id' || n"),
            (
                "timestamptz",
                "timestamptz '2020-01-01 00:00:00+00' + n * interval '1 hour'",
            ),
            (
                "uuid",
                "('00000000-0000-0000-0000-' || lpad(n::text, 12, '0'))::uuid",
            ),
            // pg_typeof says `character` and `bit`: cast back without
            // their length, the bound would be one character or bit.
            ("char(8)", "'id' || lpad(n::text, 6, '0')"),
            ("bit(8)", "n::bit(8)"),
            ("varchar(10)", "'v' || lpad(n::text, 3, '0')"),
        ];
        for (column_type, value) in types {
            pg.admin
                .batch_execute(&format!(
                    "DROP TABLE IF EXISTS {schema}.t; \
                     CREATE TABLE {schema}.t (id {column_type} PRIMARY KEY); \
                     INSERT INTO {schema}.t SELECT {value} FROM generate_series(1, 12) AS n"
                ))
                .unwrap();
            let mut source = Source::open(&pg.url).unwrap();
            let table = source.resolve(&format!("{schema}.t")).unwrap();
            let mut all = Source::open(&pg.url).unwrap();
            let expected = read_ids(&mut all, &table, 100, || {});
            assert_eq!(expected.len(), 12, "{column_type}");
            let admin = &mut pg.admin;
            let ids = read_ids(&mut source, &table, 5, || {
                // The three smallest ids, already read.
                let delete = format!(
                    "DELETE FROM {schema}.t WHERE id IN (SELECT id FROM {schema}.t ORDER BY id LIMIT 3)"
                );
                admin.batch_execute(&delete).unwrap();
            });
            assert_eq!(ids, expected, "{column_type}");
        }
    }

    #[test]
    fn source_key_parts_are_framed() {
        assert_eq!(framed("a:b"), "3:a:b");
        assert_eq!(framed("é"), "2:é");
        assert_eq!(
            quote("public.pat\"ients").unwrap(),
            "\"public\".\"pat\"\"ients\""
        );
        assert!(quote("").is_err());
    }
}
