//! `strongroom import`: encrypt the rows of an existing plaintext table
//! (PostgreSQL or SQLite) into strongroom.
//!
//! Each batch of rows and its source id → record id mapping are written in
//! one transaction of the sensitive database; rows already mapped are
//! skipped. Killed at any point and run again, an import ends with every
//! row imported exactly once. The source is only ever read: SQLite is
//! opened read-only, PostgreSQL sessions are set read-only.

use anyhow::{bail, Context, Result};
use diesel::{Connection, PgConnection, QueryableByName, RunQueryDsl, SqliteConnection};
use serde_json::json;
use strongroom::{Client, Fields, ImportRow, NewRecord, Plain};

use crate::cli::ImportArgs;
use crate::{output, progress, Usage};

enum Source {
    Sqlite(SqliteConnection),
    Postgres(PgConnection),
}

#[derive(QueryableByName)]
struct SourceRow {
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    source_id: Option<String>,
    #[diesel(sql_type = diesel::sql_types::Text)]
    vals: String,
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

/// `"name"`, with embedded quotes doubled; `schema.table` quotes each part.
fn quote(name: &str) -> Result<String> {
    if name.is_empty() || name.chars().any(char::is_control) {
        return Err(Usage(format!("`{name}` is not a valid table or column name")).into());
    }
    Ok(name
        .split('.')
        .map(|part| format!("\"{}\"", part.replace('"', "\"\"")))
        .collect::<Vec<_>>()
        .join("."))
}

impl Source {
    fn open(url: &str) -> Result<Source> {
        if let Some(path) = url.strip_prefix("sqlite://") {
            if !std::path::Path::new(path).exists() {
                bail!("the source database {path} does not exist");
            }
            let conn = SqliteConnection::establish(&format!("file:{path}?mode=ro"))
                .with_context(|| format!("opening {path} read-only"))?;
            Ok(Source::Sqlite(conn))
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let mut conn = PgConnection::establish(url).map_err(|err| {
                anyhow::anyhow!(
                    "cannot connect to the source {}: {err}",
                    strongroom::redacted_url(url)
                )
            })?;
            diesel::sql_query("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
                .execute(&mut conn)?;
            Ok(Source::Postgres(conn))
        } else {
            Err(Usage("--from takes postgres://… or sqlite://PATH".into()).into())
        }
    }

    fn count(&mut self, table: &str) -> Result<u64> {
        let sql = format!("SELECT COUNT(*) AS n FROM {table}");
        let rows: Vec<Count> = match self {
            Source::Sqlite(c) => diesel::sql_query(sql).load(c)?,
            Source::Postgres(c) => diesel::sql_query(sql).load(c)?,
        };
        Ok(rows.first().map_or(0, |r| r.n.max(0) as u64))
    }

    /// One batch of rows, in id order: the id and every column as text (or
    /// null), as a JSON array.
    fn batch(
        &mut self,
        table: &str,
        id: &str,
        columns: &[String],
        offset: u64,
        limit: usize,
    ) -> Result<Vec<SourceRow>> {
        let casts: Vec<String> = columns
            .iter()
            .map(|c| format!("CAST({c} AS TEXT)"))
            .collect();
        let array = match self {
            Source::Sqlite(_) => format!("json_array({})", casts.join(", ")),
            Source::Postgres(_) => format!("json_build_array({})::text", casts.join(", ")),
        };
        let sql = format!(
            "SELECT CAST({id} AS TEXT) AS source_id, {array} AS vals FROM {table} ORDER BY {id} LIMIT {limit} OFFSET {offset}"
        );
        Ok(match self {
            Source::Sqlite(c) => diesel::sql_query(sql).load(c)?,
            Source::Postgres(c) => diesel::sql_query(sql).load(c)?,
        })
    }
}

struct Plan {
    source_key: String,
    table: String,
    id: String,
    columns: Vec<String>,
    sensitive: Vec<String>,
    plain: Vec<String>,
}

/// A stable name for the source: whose import (a client imports a table
/// once), which database (a SQLite path made absolute; a URL without its
/// password) and which table.
fn source_key(client: &Client, from: &str, table: &str) -> Result<String> {
    let database = match from.strip_prefix("sqlite://") {
        Some(path) => format!(
            "sqlite://{}",
            std::fs::canonicalize(path)
                .with_context(|| format!("the source database {path}"))?
                .display()
        ),
        None => strongroom::redacted_url(from),
    };
    Ok(format!("{}:{database}#{table}", client.id()))
}

impl Plan {
    fn new(client: &Client, args: &ImportArgs) -> Result<Plan> {
        if args.sensitive.is_empty() {
            return Err(Usage("--sensitive names at least one column".into()).into());
        }
        if args.batch == 0 || args.batch > 10_000 {
            return Err(Usage("--batch is 1 to 10000".into()).into());
        }
        let mut all: Vec<&String> = args.sensitive.iter().chain(&args.plain).collect();
        all.sort();
        if all.windows(2).any(|w| w[0] == w[1]) {
            return Err(Usage("a column is named twice in --sensitive/--plain".into()).into());
        }
        let columns = args
            .sensitive
            .iter()
            .chain(&args.plain)
            .map(|c| quote(c))
            .collect::<Result<Vec<_>>>()?;
        Ok(Plan {
            source_key: source_key(client, &args.from, &args.table)?,
            table: quote(&args.table)?,
            id: quote(&args.id_column)?,
            columns,
            sensitive: args.sensitive.clone(),
            plain: args.plain.clone(),
        })
    }

    /// Splits a source row into its id and (sensitive, plain) values.
    fn parse(&self, row: &SourceRow) -> Result<(String, Vec<Option<String>>)> {
        let id = row
            .source_id
            .clone()
            .context("a source row has a NULL id")?;
        let values: Vec<Option<String>> =
            serde_json::from_str(&row.vals).context("the source returned a malformed row")?;
        if values.len() != self.sensitive.len() + self.plain.len() {
            bail!("the source returned a row with the wrong number of columns");
        }
        Ok((id, values))
    }

    fn record(&self, record_type: &str, values: &[Option<String>]) -> Result<NewRecord> {
        let mut fields = Fields::new();
        for (name, value) in self.sensitive.iter().zip(values) {
            fields.insert(name.clone(), value)?;
        }
        let plain: Plain = self
            .plain
            .iter()
            .zip(&values[self.sensitive.len()..])
            .filter_map(|(name, value)| value.clone().map(|v| (name.clone(), v)))
            .collect();
        Ok(NewRecord::new(record_type, fields, plain))
    }
}

pub fn run(client: &Client, args: &ImportArgs) -> Result<()> {
    let plan = Plan::new(client, args)?;
    let mut source = Source::open(&args.from)?;
    let total = source.count(&plan.table)?;
    let already = client.imported_count(&plan.source_key)?;
    let bar = progress::bar(Some(total), "importing");
    bar.set_position(already.min(total));
    let (mut imported, mut skipped, mut offset) = (0usize, 0usize, 0u64);
    loop {
        let rows = source.batch(&plan.table, &plan.id, &plan.columns, offset, args.batch)?;
        if rows.is_empty() {
            break;
        }
        offset += rows.len() as u64;
        let mut batch = Vec::with_capacity(rows.len());
        for row in &rows {
            let (source_id, values) = plan.parse(row)?;
            batch.push(ImportRow::new(
                source_id,
                plan.record(&args.record_type, &values)?,
            ));
        }
        let outcome = client.import_batch(&plan.source_key, &batch)?;
        imported += outcome.imported;
        skipped += outcome.already_imported;
        bar.inc(outcome.imported as u64);
    }
    bar.finish_and_clear();
    let in_store = client.imported_count(&plan.source_key)?;
    let summary = json!({
        "source": plan.source_key, "source_rows": total, "imported": imported,
        "already_imported": skipped, "imported_total": in_store,
    });
    if args.json {
        output::line(&summary);
    } else {
        eprintln!("imported {imported} row(s), {skipped} already imported earlier; {in_store} of {total} source rows are in strongroom");
    }
    if args.verify {
        verify(client, &plan, &mut source, args, total)?;
    } else if !args.json {
        println!("{in_store}");
    }
    Ok(())
}

/// Decrypts every imported record and compares it with its source row.
fn verify(
    client: &Client,
    plan: &Plan,
    source: &mut Source,
    args: &ImportArgs,
    total: u64,
) -> Result<()> {
    let bar = progress::bar(Some(total), "verifying");
    let (mut checked, mut missing, mut different) = (0usize, 0usize, 0usize);
    let mut offset = 0u64;
    loop {
        let rows = source.batch(&plan.table, &plan.id, &plan.columns, offset, args.batch)?;
        if rows.is_empty() {
            break;
        }
        offset += rows.len() as u64;
        let parsed = rows
            .iter()
            .map(|r| plan.parse(r))
            .collect::<Result<Vec<_>>>()?;
        let ids: Vec<String> = parsed.iter().map(|(id, _)| id.clone()).collect();
        let mapping = client.imported(&plan.source_key, &ids)?;
        for (id, values) in &parsed {
            let Some(record_id) = mapping.get(id) else {
                missing += 1;
                continue;
            };
            let record = client.get(*record_id)?;
            let same_fields = plan.sensitive.iter().zip(values).all(|(name, value)| {
                record.field::<Option<String>>(name).ok().as_ref() == Some(value)
            });
            let same_plain = plan
                .plain
                .iter()
                .zip(&values[plan.sensitive.len()..])
                .all(|(name, value)| record.meta().plain.get(name) == value.as_ref());
            if !(same_fields && same_plain && record.meta().record_type == args.record_type) {
                different += 1;
            }
            checked += 1;
        }
        bar.inc(rows.len() as u64);
    }
    bar.finish_and_clear();
    let ok = missing == 0 && different == 0;
    let summary =
        json!({ "verified": checked, "missing": missing, "different": different, "ok": ok });
    output::line(&summary);
    if !ok {
        bail!("verification failed: {missing} row(s) not imported, {different} record(s) differ from their source row");
    }
    Ok(())
}
