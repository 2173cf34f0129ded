//! Blind indexes on the command line (equality search on sealed fields):
//! `--index` on `write` and `reindex`, `ls --where`, `reindex` and
//! `leakage`.

use crate::held_stderr::note;
use std::collections::BTreeSet;

use anyhow::{bail, Result};
use serde_json::json;
use strongroom::index::{IndexInfo, IndexQuery, IndexSpec, Normalize};
use strongroom::{Client, ClientId, Query};

use crate::cli::{IndexArgs, IndexNormalize};
use crate::{output, progress, Usage};

/// One `--index`: an index's name and the fields it covers, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexArg {
    pub name: String,
    pub fields: Vec<String>,
}

/// Parses `--index FIELD` (an index named after the field) or `--index
/// NAME=FIELD+FIELD…` (a clap value parser: a bad one is a usage error).
/// Index and field names are stored in the clear, so naming them in an
/// error reveals nothing.
pub fn index_arg(text: &str) -> std::result::Result<IndexArg, String> {
    let (name, fields): (&str, Vec<String>) = match text.split_once('=') {
        None => (text, vec![text.to_owned()]),
        Some((name, list)) => (name, list.split('+').map(str::to_owned).collect()),
    };
    if name.is_empty() {
        return Err("an index needs a name: FIELD, or NAME=FIELD+FIELD".into());
    }
    if fields.iter().any(String::is_empty) {
        return Err(format!(
            "index `{name}` names an empty field (FIELD, or NAME=FIELD+FIELD)"
        ));
    }
    IndexSpec::new(name, fields.clone())
        .check()
        .map_err(|err| format!("index `{name}`: {}", reason(&err)))?;
    Ok(IndexArg {
        name: name.to_owned(),
        fields,
    })
}

/// The library's reason without its "invalid input: " prefix.
fn reason(err: &strongroom::Error) -> String {
    match err {
        strongroom::Error::InvalidInput(why) => (*why).to_owned(),
        other => other.to_string(),
    }
}

/// Checks what can be checked of `--index` before the client is opened:
/// each index named once, each field a sealed field of the record being
/// written (`fields`; `None` for `reindex`, which writes none), never a
/// plain one.
pub fn check_args(
    args: &IndexArgs,
    fields: Option<&BTreeSet<String>>,
    plain: &BTreeSet<String>,
) -> Result<()> {
    let mut names = BTreeSet::new();
    for index in &args.indexes {
        if !names.insert(index.name.as_str()) {
            return Err(Usage(format!("--index names index `{}` twice", index.name)).into());
        }
        for field in &index.fields {
            if fields.is_some_and(|f| f.contains(field)) {
                continue;
            }
            if plain.contains(field) {
                return Err(Usage(format!(
                    "--index {}: `{field}` is plain meta (-p), stored in the clear and found with `ls -p`; an index covers sealed fields (-f)",
                    index.name
                ))
                .into());
            }
            if fields.is_some() {
                return Err(Usage(format!(
                    "--index {}: the record has no field `{field}` (give it with -f or --json)",
                    index.name
                ))
                .into());
            }
        }
    }
    Ok(())
}

/// What declaring `--index` changed: the indexes it adds or changes.
pub struct Declared {
    added: Vec<String>,
}

/// Declares the indexes `client` computes for `record_type` from now on
/// in this process: those it computes now (`Client::indexes_in_use`),
/// with each `--index` added (an index of the same name and
/// fields keeps its bits and normaliser unless `--index-bits` or
/// `--index-normalize` say otherwise). `None` without `--index`: the
/// client then keeps the store's indexes by itself.
pub fn declare(client: &Client, record_type: &str, args: &IndexArgs) -> Result<Option<Declared>> {
    if args.indexes.is_empty() {
        return Ok(None);
    }
    // What the client's writes compute now: each spec as its records
    // signed it, never as the store's unsigned index rows say.
    let mut specs = client.indexes_in_use(record_type)?;
    let mut added = Vec::new();
    for index in &args.indexes {
        let existing = specs.iter().position(|s| s.name() == index.name);
        let same_fields = existing.is_some_and(|at| specs[at].fields() == index.fields);
        let explicit = args.index_bits.is_some() || args.index_normalize.is_some();
        if same_fields && !explicit {
            continue;
        }
        // Only what a flag names changes: the index's other setting stays.
        let mut spec = match existing {
            Some(at) if same_fields => specs[at].clone(),
            _ => IndexSpec::new(index.name.clone(), index.fields.clone()),
        };
        if let Some(bits) = args.index_bits {
            spec = spec.bits(bits);
        }
        if let Some(normalize) = args.index_normalize {
            spec = spec.normalize(match normalize {
                IndexNormalize::Lowercase => Normalize::Lowercase,
                IndexNormalize::Trim => Normalize::Trim,
            });
        }
        match existing {
            Some(at) if specs[at] == spec => {}
            Some(at) => {
                specs[at] = spec;
                added.push(index.name.clone());
            }
            None => {
                specs.push(spec);
                added.push(index.name.clone());
            }
        }
    }
    client.declare_indexes(record_type, specs)?;
    Ok(Some(Declared { added }))
}

/// After a write or reindex that declared `declared`: says on stderr how
/// the records written earlier get into the indexes it added (`wrote`:
/// after a write, which indexes only its own record). An index cannot be
/// added at a key version that already has indexes: the library refuses
/// that write with the way on (rotate, then reindex). Advice only: what it
/// cannot look up, it leaves unsaid (the command's work is done).
pub fn after_declaring(client: &Client, record_type: &str, declared: &Declared, wrote: bool) {
    if declared.added.is_empty() || !wrote {
        return;
    }
    let Ok(now) = own_indexes(client, record_type) else {
        return;
    };
    let need_reindex: Vec<&str> = declared
        .added
        .iter()
        .filter(|name| now.iter().any(|i| &&i.name == name))
        .map(String::as_str)
        .collect();
    if !need_reindex.is_empty() {
        let earlier = client.query(&Query::new().record_type(record_type).meta_only().limit(2));
        if earlier.is_ok_and(|page| page.records.len() > 1) {
            note!(
                "records of `{record_type}` written before are not in index {} yet: `strongroom reindex {record_type}` adds them",
                need_reindex
                    .iter()
                    .map(|n| format!("`{n}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
    }
}

/// This client's indexes of `record_type` in the store.
fn own_indexes(client: &Client, record_type: &str) -> Result<Vec<IndexInfo>> {
    let mut own = client.indexes(record_type)?;
    own.retain(|i| i.writer_id == client.id());
    Ok(own)
}

/// `ls --where` pairs, checked before the client is opened: each field
/// once.
pub fn check_where(pairs: &[(String, String)]) -> Result<()> {
    let mut seen = BTreeSet::new();
    for (field, _) in pairs {
        if !seen.insert(field) {
            return Err(Usage(format!("--where names field `{field}` twice")).into());
        }
    }
    Ok(())
}

/// The writers an `ls` searches: the ones `--writer` names, else this
/// client and (with `--all-writers`) every writer sharing `record_type`
/// with it, else this client alone: those whose indexes `--where` may use.
pub fn searched_writers(
    client: &Client,
    record_type: &str,
    named: &[ClientId],
    all_writers: bool,
) -> Result<BTreeSet<ClientId>> {
    if !named.is_empty() {
        return Ok(named.iter().copied().collect());
    }
    let mut writers = BTreeSet::from([client.id()]);
    if all_writers {
        writers.extend(
            client
                .incoming_shares()?
                .into_iter()
                .filter(|share| share.record_type == record_type)
                .map(|share| share.writer_id),
        );
    }
    Ok(writers)
}

/// The index condition of `ls --where`: the index of `record_type` over
/// exactly the fields named, searched for the values given, each as the
/// JSON text `-f` writes. The index is taken from the writers searched
/// when one of them has such an index (another client's index of another
/// name must not take its place); only when none has does any writer's
/// index give the name (the search then finds what the writers searched
/// indexed under it: usually nothing).
pub fn where_condition(
    client: &Client,
    record_type: &str,
    pairs: &[(String, String)],
    writers: &BTreeSet<ClientId>,
) -> Result<IndexQuery> {
    let wanted: BTreeSet<&str> = pairs.iter().map(|(f, _)| f.as_str()).collect();
    let all = client.indexes(record_type)?;
    let covering = |info: &IndexInfo| {
        info.fields
            .iter()
            .map(String::as_str)
            .collect::<BTreeSet<_>>()
            == wanted
    };
    let searched_cover = all
        .iter()
        .any(|info| writers.contains(&info.writer_id) && covering(info));
    let infos: Vec<&IndexInfo> = all
        .iter()
        .filter(|info| !searched_cover || writers.contains(&info.writer_id))
        .collect();
    let mut names: Vec<&str> = infos
        .iter()
        .filter(|info| covering(info))
        .map(|i| i.name.as_str())
        .collect();
    names.sort_unstable();
    names.dedup();
    let fields = wanted.iter().copied().collect::<Vec<_>>().join("+");
    let name = match names[..] {
        [name] => name,
        [] if infos.is_empty() => bail!(
            "record type `{record_type}` has no indexes, so --where cannot search it (write with `--index FIELD`, then `strongroom reindex {record_type}` for the records written before)"
        ),
        [] => bail!(
            "no index of record type `{record_type}` covers exactly the field(s) of --where ({fields}); its indexes: {}",
            describe(&all)
        ),
        _ => match names.iter().find(|n| wanted.len() == 1 && wanted.contains(*n)) {
            Some(name) => name,
            None => bail!(
                "several indexes of record type `{record_type}` cover exactly {fields}: {} (one search uses one index name: name the writers with --writer)",
                names.join(", ")
            ),
        },
    };
    Ok(pairs
        .iter()
        .fold(IndexQuery::new(name), |q, (field, value)| {
            q.with(field.as_str(), value.as_str())
        }))
}

/// `name (field+field)` for each index, once per name.
fn describe(infos: &[IndexInfo]) -> String {
    let mut seen = BTreeSet::new();
    infos
        .iter()
        .filter(|i| seen.insert(i.name.as_str()))
        .map(|i| format!("{} ({})", i.name, i.fields.join("+")))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `strongroom reindex`: declares any `--index`, re-indexes with a spinner
/// on a terminal, and prints one JSON line of what it did.
pub fn reindex(client: &Client, record_type: &str, batch: u16, args: &IndexArgs) -> Result<()> {
    let declared = declare(client, record_type, args)?;
    if declared.is_none() && own_indexes(client, record_type)?.is_empty() {
        bail!(
            "record type `{record_type}` has no indexes of this client's: name one with --index FIELD"
        );
    }
    // The spinner starts after the first batch, so that the planner's
    // warning, logged as the first batch begins, is not drawn over.
    let mut bar = None;
    let outcome = client.reindex_with_progress(record_type, usize::from(batch), |done| {
        bar.get_or_insert_with(|| progress::bar(None, "re-indexing"))
            .set_position(done.reindexed as u64);
    });
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let outcome = outcome?;
    output::line(&json!({
        "record_type": record_type,
        "reindexed": outcome.reindexed,
        "invalid": outcome.invalid,
        "remaining": outcome.remaining,
        "retired_versions": outcome.retired,
        "batches": outcome.batches,
    }));
    if outcome.invalid > 0 {
        note!(
            "warning: {} record(s) failed verification or could not be opened and were left as they were",
            outcome.invalid
        );
    }
    if let Some(remaining @ 1..) = outcome.remaining {
        note!(
            "warning: {remaining} record(s) are not indexed under the current key version, so older index versions are kept"
        );
    }
    if let Some(declared) = &declared {
        after_declaring(client, record_type, declared, false);
    }
    Ok(())
}

/// `strongroom leakage`: the report on stdout, its planner warnings on
/// stderr. The library also logs those warnings; unless logs were asked
/// for (`quiet_library` false), that copy is left out.
pub fn leakage(client: &Client, record_type: &str, quiet_library: bool) -> Result<()> {
    let report = if quiet_library {
        tracing::subscriber::with_default(tracing::subscriber::NoSubscriber::default(), || {
            client.leakage(record_type)
        })
    } else {
        client.leakage(record_type)
    }?;
    if report.records == 0 && report.fields.is_empty() && report.indexes.is_empty() {
        // A mistyped type must not pass for one that leaks nothing.
        bail!("no record or index of record type `{record_type}` is in this database: nothing to report");
    }
    for line in report.to_string().lines() {
        if line.starts_with("warning: ") {
            note!("{line}");
        } else {
            crate::out!("{line}");
        }
    }
    Ok(())
}
