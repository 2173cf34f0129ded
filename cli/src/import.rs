//! `strongroom import`: encrypt the rows of an existing plaintext table
//! (PostgreSQL or SQLite) into strongroom.
//!
//! Each batch of rows and its source id → record id mapping are written in
//! one transaction of the sensitive database; rows already mapped are
//! skipped. Killed at any point and run again, an import ends with every
//! row imported exactly once; two imports of the same source and type
//! running at once take turns batch by batch and never import a row twice.
//! The source is only ever read: SQLite is opened read-only, PostgreSQL
//! sessions are set read-only.
//!
//! # How a source is identified
//! "Imported once" is kept per source key: this client, the record type
//! (another `--type` imports every row again, into that type), the source
//! database and the table, identified by what they are rather than by the
//! URL or table text that reached them (see [`source`]):
//! - PostgreSQL: the server's system identifier (`pg_control_system()`), the
//!   database name and the table's schema-qualified name (`to_regclass`), so
//!   `localhost` and `127.0.0.1`, or `patients` and `public.patients`, are
//!   one source. A physical replica is the same source as its primary; a
//!   dump restored into another cluster is a new one. Any user may read the
//!   system identifier on a stock server; where that is revoked, the
//!   import fails saying so rather than fall back to the URL.
//! - SQLite: the file's canonical path and, on unix, its device and inode.
//!   A copy (or a moved or replaced file, or a hard link under another
//!   name) is a new source.
//!
//! The key is text, versioned and length-prefixed:
//! `strongroom-import/1 client=ID type=LEN:TYPE SOURCE table=LEN:SCHEMA.LEN:NAME`
//! where SOURCE is `postgres system=N database=LEN:NAME` or
//! `sqlite dev=N inode=N path=LEN:PATH` (`sqlite path=LEN:PATH` off unix).
//!
//! # Verify and map
//! `--verify` decrypts every imported record and compares it with its
//! source row; each source id that does not match is printed as a line
//! `{"source_id": …, "mismatch": …}` before the summary, and the command
//! fails. `--map` imports nothing and prints the record each source row
//! became, one line `{"source_id": …, "record_id": …}` per row (null if not
//! imported; then the command fails after printing).

mod source;

use crate::held_stderr::note;
use anyhow::{bail, Context, Result};
use serde_json::json;
use strongroom::{Client, Fields, ImportRow, NewRecord, Plain};

use self::source::{framed, quote, Pages, Source, SourceRow, Table};
use crate::cli::ImportArgs;
use crate::{output, progress, Usage};

/// The version of the source key format (see the module docs).
const SOURCE_KEY_VERSION: &str = "strongroom-import/1";

struct Plan {
    source_key: String,
    table: Table,
    id: String,
    columns: Vec<String>,
    sensitive: Vec<String>,
    plain: Vec<String>,
}

/// The source key: whose import, into which record type, of which source
/// database and table (see the module docs).
fn source_key(client: &Client, record_type: &str, database: &str, table: &Table) -> String {
    format!(
        "{SOURCE_KEY_VERSION} client={} type={} {database} table={}.{}",
        client.id(),
        framed(record_type),
        framed(&table.schema),
        framed(&table.name)
    )
}

impl Plan {
    /// Checks the arguments (usage errors, before any connection); returns
    /// the quoted columns to read.
    fn columns(args: &ImportArgs) -> Result<Vec<String>> {
        if args.sensitive.is_empty() && !args.map {
            return Err(Usage("--sensitive names at least one column".into()).into());
        }
        if args.batch == 0 || args.batch > 10_000 {
            return Err(Usage("--batch is 1 to 10000".into()).into());
        }
        // Compared without case: SQLite's column names ignore it, and a
        // column named twice could land in the clear as plain meta.
        let mut all: Vec<String> = args
            .sensitive
            .iter()
            .chain(&args.plain)
            .map(|c| c.to_lowercase())
            .collect();
        all.sort();
        if all.windows(2).any(|w| w[0] == w[1]) {
            return Err(Usage("a column is named twice in --sensitive/--plain".into()).into());
        }
        // The id is kept in the clear in the import map (SECURITY.md, "What
        // is not hidden"): a column that needs sealing cannot be the id.
        let id = args.id_column.to_lowercase();
        if args.sensitive.iter().any(|c| c.to_lowercase() == id) {
            return Err(Usage(
                "--id-column is stored in the clear (the import map); it cannot also be --sensitive: pick another id column".into(),
            )
            .into());
        }
        quote(&args.id_column)?;
        quote(&args.table)?;
        args.sensitive
            .iter()
            .chain(&args.plain)
            .map(|c| quote(c))
            .collect()
    }

    fn new(
        client: &Client,
        args: &ImportArgs,
        columns: Vec<String>,
        source: &mut Source,
    ) -> Result<Plan> {
        let id = quote(&args.id_column)?;
        let table = source.resolve(&args.table)?;
        source.check_columns(
            &table,
            std::iter::once(&args.id_column)
                .chain(if args.map {
                    &[][..]
                } else {
                    &args.sensitive[..]
                })
                .chain(if args.map { &[][..] } else { &args.plain[..] })
                .map(String::as_str),
        )?;
        let database = source.identity()?;
        // `--map` reads only the ids.
        let (columns, sensitive, plain) = if args.map {
            (Vec::new(), Vec::new(), Vec::new())
        } else {
            (columns, args.sensitive.clone(), args.plain.clone())
        };
        Ok(Plan {
            source_key: source_key(client, &args.record_type, &database, &table),
            table,
            id,
            columns,
            sensitive,
            plain,
        })
    }

    /// Splits a source row into its id and (sensitive, plain) values. Every
    /// value is imported as UTF-8 text: a row holding another encoding (a
    /// SQLite text value of any bytes) is an error naming its id and the
    /// columns that hold such bytes.
    fn parse(&self, row: &SourceRow) -> Result<(String, Vec<Option<String>>)> {
        let id = row
            .source_id
            .as_deref()
            .context("a source row has a NULL id")?;
        let id = std::str::from_utf8(id)
            .map_err(|_| {
                anyhow::anyhow!(
                    "source row {:?}: its id is not UTF-8 text; nothing of its batch was imported",
                    String::from_utf8_lossy(id)
                )
            })?
            .to_owned();
        let Ok(vals) = std::str::from_utf8(&row.vals) else {
            bail!(
                "source row {id:?}: {} not UTF-8 text (strongroom imports text: convert the value); nothing of its batch was imported",
                self.columns_not_utf8(&row.vals)
            );
        };
        let values: Vec<Option<String>> =
            serde_json::from_str(vals).context("the source returned a malformed row")?;
        if values.len() != self.sensitive.len() + self.plain.len() {
            bail!("the source returned a row with the wrong number of columns");
        }
        Ok((id, values))
    }

    /// "column `a` is" / "columns `a`, `b` are" / "a value is": the columns
    /// of a row (`vals`, a JSON array that is not UTF-8) whose value holds
    /// bytes that are not UTF-8, as far as they can be told apart (a
    /// replacement character already in a value cannot).
    fn columns_not_utf8(&self, vals: &[u8]) -> String {
        let lossy = String::from_utf8_lossy(vals);
        let names: Vec<String> = serde_json::from_str::<Vec<Option<String>>>(&lossy)
            .ok()
            .filter(|values| values.len() == self.sensitive.len() + self.plain.len())
            .map(|values| {
                self.sensitive
                    .iter()
                    .chain(&self.plain)
                    .zip(values)
                    .filter(|(_, v)| v.as_ref().is_some_and(|v| v.contains('\u{FFFD}')))
                    .map(|(name, _)| format!("`{name}`"))
                    .collect()
            })
            .unwrap_or_default();
        match names.len() {
            0 => "a value is".to_owned(),
            1 => format!("column {} is", names[0]),
            _ => format!("columns {} are", names.join(", ")),
        }
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

/// Imports (or maps, or verifies) the source table; a sensitive value
/// over `max_field_size` bytes (`--max-field-size`) fails the import,
/// naming its row, before its batch is written.
pub fn run(client: &Client, args: &ImportArgs, max_field_size: u64) -> Result<()> {
    let columns = Plan::columns(args)?;
    let mut source = Source::open(&args.from)?;
    let plan = Plan::new(client, args, columns, &mut source)?;
    if args.map {
        return map(client, &plan, &mut source, args);
    }
    // Each row needs its own id: a repeated one would be taken for a row
    // imported earlier and skipped. Refused before anything is written.
    let nulls = source.null_ids(&plan.table, &plan.id)?;
    if nulls > 0 {
        bail!(
            "{nulls} source row(s) have a NULL id; each row needs its own --id-column value; nothing was imported"
        );
    }
    let repeated = source.repeated_ids(&plan.table, &plan.id)?;
    if repeated > 0 {
        bail!(
            "{repeated} source row(s) repeat another row's id (compared as text, as strongroom keeps it); each row needs its own --id-column value; nothing was imported"
        );
    }
    let total = source.count(&plan.table)?;
    let already = client.imported_count(&plan.source_key)?;
    let bar = progress::bar(Some(total), "importing");
    bar.set_position(already.min(total));
    let (mut imported, mut skipped) = (0usize, 0usize);
    let mut pages = Pages::default();
    loop {
        let rows = pages.next(
            &mut source,
            &plan.table,
            &plan.id,
            &plan.columns,
            args.batch,
        )?;
        if rows.is_empty() {
            break;
        }
        let mut batch = Vec::with_capacity(rows.len());
        for row in &rows {
            let (source_id, values) = plan.parse(row)?;
            if source_id.len() > strongroom::MAX_IMPORT_NAME_LEN {
                let start: String = source_id.chars().take(40).collect();
                bail!(
                    "source row {start:?}…: its id is longer than {} bytes, the most an import keeps; nothing of its batch was imported",
                    strongroom::MAX_IMPORT_NAME_LEN
                );
            }
            for (name, value) in plan.sensitive.iter().zip(&values) {
                let len = value.as_ref().map_or(0, String::len) as u64;
                crate::values::check_size(name, len, max_field_size).with_context(|| {
                    format!("source row {source_id:?}: nothing of its batch was imported")
                })?;
            }
            let record = plan.record(&args.record_type, &values)?;
            // Checked here, so the error names the row (a bad value would
            // otherwise fail the whole batch, unnamed).
            strongroom::check_plain(&record.plain).with_context(|| {
                format!("source row {source_id:?}: a --plain column's value cannot be stored as plain meta; nothing of its batch was imported")
            })?;
            batch.push(ImportRow::new(source_id, record));
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
        note!("imported {imported} row(s), {skipped} already imported earlier; {in_store} of {total} source rows are in strongroom");
    }
    if args.verify {
        verify(client, &plan, &mut source, args, total)?;
    } else if !args.json {
        crate::out!("{in_store}");
    }
    Ok(())
}

/// How a source row fails verification.
#[derive(Clone, Copy)]
enum Mismatch {
    /// No mapping row (or one whose record id is malformed).
    NotImported,
    /// The mapping names a record that is not there (any more).
    RecordMissing,
    /// The record is there but does not decrypt or verify.
    Unreadable,
    /// The record decrypts but differs from the source row (or is not
    /// this client's, or of another type).
    Differs,
}

impl Mismatch {
    fn name(self) -> &'static str {
        match self {
            Mismatch::NotImported => "not imported",
            Mismatch::RecordMissing => "record missing",
            Mismatch::Unreadable => "record unreadable",
            Mismatch::Differs => "differs",
        }
    }
}

/// Decrypts every imported record and compares it with its source row;
/// prints a line per source id that does not match, then the summary.
fn verify(
    client: &Client,
    plan: &Plan,
    source: &mut Source,
    args: &ImportArgs,
    total: u64,
) -> Result<()> {
    let bar = progress::bar(Some(total), "verifying");
    let (mut checked, mut missing, mut different) = (0usize, 0usize, 0usize);
    let mut named: Vec<String> = Vec::new();
    let mut pages = Pages::default();
    loop {
        let rows = pages.next(source, &plan.table, &plan.id, &plan.columns, args.batch)?;
        if rows.is_empty() {
            break;
        }
        let parsed = rows
            .iter()
            .map(|r| plan.parse(r))
            .collect::<Result<Vec<_>>>()?;
        let ids: Vec<String> = parsed.iter().map(|(id, _)| id.clone()).collect();
        let mapping = client.imported(&plan.source_key, &ids)?;
        for (id, values) in &parsed {
            let mismatch = match mapping.get(id) {
                None => Some(Mismatch::NotImported),
                Some(record_id) => {
                    checked += 1;
                    check(client, plan, args, *record_id, values)?
                }
            };
            let Some(mismatch) = mismatch else {
                continue;
            };
            match mismatch {
                Mismatch::NotImported | Mismatch::RecordMissing => missing += 1,
                Mismatch::Unreadable | Mismatch::Differs => different += 1,
            }
            bar.suspend(|| output::line(&json!({ "source_id": id, "mismatch": mismatch.name() })));
            if named.len() < 10 {
                named.push(id.clone());
            }
        }
        bar.inc(rows.len() as u64);
    }
    bar.finish_and_clear();
    let ok = missing == 0 && different == 0;
    let summary =
        json!({ "verified": checked, "missing": missing, "different": different, "ok": ok });
    output::line(&summary);
    if !ok {
        let more = (missing + different).saturating_sub(named.len());
        let more = if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        };
        bail!(
            "verification failed: {missing} row(s) not imported, {different} record(s) differ from their source row (source ids {}{more})",
            named.join(", ")
        );
    }
    Ok(())
}

/// Whether the record `record_id` holds the source row `values`; an error
/// only when the sensitive database cannot be asked.
fn check(
    client: &Client,
    plan: &Plan,
    args: &ImportArgs,
    record_id: strongroom::RecordId,
    values: &[Option<String>],
) -> Result<Option<Mismatch>> {
    let record = match client.get(record_id) {
        Ok(record) => record,
        Err(strongroom::Error::NotFound { .. }) => return Ok(Some(Mismatch::RecordMissing)),
        Err(
            err @ (strongroom::Error::Database(_)
            | strongroom::Error::Connect { .. }
            | strongroom::Error::PoolTimeout { .. }),
        ) => return Err(err.into()),
        Err(_) => return Ok(Some(Mismatch::Unreadable)),
    };
    let same_fields = plan
        .sensitive
        .iter()
        .zip(values)
        .all(|(name, value)| record.field::<Option<String>>(name).ok().as_ref() == Some(value));
    let same_plain = plan
        .plain
        .iter()
        .zip(values.get(plan.sensitive.len()..).unwrap_or_default())
        .all(|(name, value)| record.meta().plain.get(name) == value.as_ref());
    let meta = record.meta();
    let same = same_fields
        && same_plain
        && meta.record_type == args.record_type
        && meta.writer_id == client.id();
    Ok((!same).then_some(Mismatch::Differs))
}

/// `--map`: prints `{"source_id": …, "record_id": …}` per source id (the
/// `--source-id`s given, or every row of the table in id order), null for
/// a row not imported; fails after printing if there was one.
fn map(client: &Client, plan: &Plan, source: &mut Source, args: &ImportArgs) -> Result<()> {
    let (mut printed, mut absent) = (0usize, 0usize);
    let mut print = |ids: &[String]| -> Result<()> {
        let mapping = client.imported(&plan.source_key, ids)?;
        for id in ids {
            let record_id = mapping.get(id).map(ToString::to_string);
            absent += usize::from(record_id.is_none());
            printed += 1;
            output::line(&json!({ "source_id": id, "record_id": record_id }));
        }
        Ok(())
    };
    if args.source_ids.is_empty() {
        let mut pages = Pages::default();
        loop {
            let rows = pages.next(source, &plan.table, &plan.id, &[], args.batch)?;
            if rows.is_empty() {
                break;
            }
            let ids = rows
                .iter()
                .map(|r| plan.parse(r).map(|(id, _)| id))
                .collect::<Result<Vec<_>>>()?;
            print(&ids)?;
        }
    } else {
        for chunk in args.source_ids.chunks(args.batch) {
            print(chunk)?;
        }
    }
    if absent > 0 {
        bail!("{absent} of {printed} source id(s) are not imported into `{}` (their record_id is null)", args.record_type);
    }
    Ok(())
}
