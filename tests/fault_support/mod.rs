//! Shared by the fault tests (`fault_postgres_restart`,
//! `fault_sqlite_processes`, `fault_disk_full`): a write workload whose
//! every outcome is written down, and the check of a database's final
//! state against those outcomes.
//!
//! Every record written carries a unique tag, in a sealed field and in its
//! plain meta, and a body derived from the tag, so a record read back is
//! known to be exactly what one write wrote. What a writer saw is an
//! [`Outcome`]: an acknowledged write must be in the database as written
//! (or as a later update left it); a failed write must be wholly absent or
//! — where the failure came after the commit, which a lost connection can
//! hide — wholly present, never partly.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use strongroom::{Client, Error, Fields, NewRecord, Plain, Query, RecordId};

/// The record type every fault test writes.
pub const TYPE: &str = "fault";

/// What one write saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A new record, acknowledged (version 1).
    Put { id: RecordId, tag: String },
    /// An update, acknowledged: the record is now at `version` with `tag`.
    Update {
        id: RecordId,
        version: u64,
        tag: String,
    },
    /// A `put` or `put_many` that failed: its records are all stored or
    /// none is.
    FailedPut { tags: Vec<String>, error: String },
    /// An update that failed: the record is still at `from_version`, or at
    /// `from_version + 1` with `tag`.
    FailedUpdate {
        id: RecordId,
        from_version: u64,
        tag: String,
        error: String,
    },
    /// An update refused because the record had moved on (a lost race).
    Conflict { id: RecordId, expected: u64 },
}

impl fmt::Display for Outcome {
    /// One line, read back by [`Outcome::parse`] (children report this way).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Put { id, tag } => write!(f, "OUTCOME put {id} {tag}"),
            Outcome::Update { id, version, tag } => {
                write!(f, "OUTCOME update {id} {version} {tag}")
            }
            Outcome::FailedPut { tags, error } => {
                write!(f, "OUTCOME failed-put {} {error}", tags.join(","))
            }
            Outcome::FailedUpdate {
                id,
                from_version,
                tag,
                error,
            } => write!(f, "OUTCOME failed-update {id} {from_version} {tag} {error}"),
            Outcome::Conflict { id, expected } => write!(f, "OUTCOME conflict {id} {expected}"),
        }
    }
}

impl Outcome {
    /// The outcome a line of [`Outcome`]'s `Display` describes, if it is one.
    pub fn parse(line: &str) -> Option<Outcome> {
        let (kind, rest) = line.strip_prefix("OUTCOME ")?.split_once(' ')?;
        // The error text, last, may hold spaces.
        let words = |n: usize| -> Vec<String> { rest.splitn(n, ' ').map(str::to_owned).collect() };
        let id = |text: &str| text.parse::<RecordId>().ok();
        Some(match (kind, words(4).as_slice()) {
            ("put", [i, tag]) => Outcome::Put {
                id: id(i)?,
                tag: tag.clone(),
            },
            ("update", [i, version, tag]) => Outcome::Update {
                id: id(i)?,
                version: version.parse().ok()?,
                tag: tag.clone(),
            },
            ("failed-put", _) => match words(2).as_slice() {
                [tags, error] => Outcome::FailedPut {
                    tags: tags.split(',').map(str::to_owned).collect(),
                    error: error.clone(),
                },
                _ => return None,
            },
            ("failed-update", [i, from, tag, error]) => Outcome::FailedUpdate {
                id: id(i)?,
                from_version: from.parse().ok()?,
                tag: tag.clone(),
                error: error.clone(),
            },
            ("conflict", [i, expected]) => Outcome::Conflict {
                id: id(i)?,
                expected: expected.parse().ok()?,
            },
            _ => return None,
        })
    }

    /// Whether the write was acknowledged.
    pub fn acknowledged(&self) -> bool {
        matches!(self, Outcome::Put { .. } | Outcome::Update { .. })
    }
}

/// The body a record with `tag` carries, `size` bytes or more.
pub fn body(tag: &str, size: usize) -> String {
    let mut body = format!("{tag}:");
    while body.len() < size {
        body.push_str("0123456789abcdef");
    }
    body
}

/// A record with `tag`: the tag sealed and in plain meta, and a body.
pub fn record(tag: &str, size: usize) -> NewRecord {
    NewRecord::new(TYPE, fields(tag, size), plain(tag))
}

pub fn fields(tag: &str, size: usize) -> Fields {
    Fields::new()
        .with("tag", tag)
        .unwrap()
        .with("body", &body(tag, size))
        .unwrap()
}

pub fn plain(tag: &str) -> Plain {
    Plain::from([("tag".to_owned(), tag.to_owned())])
}

/// The variant of a strongroom error, by name.
pub fn variant(err: &Error) -> &'static str {
    match err {
        Error::Connect { .. } => "Connect",
        Error::PoolTimeout { .. } => "PoolTimeout",
        Error::Database(_) => "Database",
        Error::Conflict { .. } => "Conflict",
        Error::Constraint(_) => "Constraint",
        Error::Decryption => "Decryption",
        Error::Internal(_) => "Internal",
        Error::NotFound { .. } => "NotFound",
        Error::Profile(_) => "Profile",
        Error::KeyRollback { .. } => "KeyRollback",
        Error::Migration(_) => "Migration",
        _ => "other",
    }
}

/// `Variant: message`, on one line.
pub fn describe(err: &Error) -> String {
    let text = err.to_string();
    let words: Vec<&str> = text.split_whitespace().collect();
    format!("{}: {}", variant(err), words.join(" "))
}

/// One writer's workload step `step`: a `put`, a `put_many` of three, or an
/// update of the record in `target` (taken from it on a failure, which
/// leaves the record's version unknown). `size` is each body's length.
pub fn step(
    client: &Client,
    writer: &str,
    step: u64,
    size: usize,
    target: &mut Option<(RecordId, u64)>,
) -> Vec<Outcome> {
    let tag = |i: usize| format!("{writer}-{step}-{i}");
    match (step % 3, *target) {
        (2, Some((id, version))) => {
            let new_tag = tag(0);
            match client.update(id, version, &fields(&new_tag, size), &plain(&new_tag)) {
                Ok(meta) => {
                    *target = Some((id, meta.version));
                    vec![Outcome::Update {
                        id,
                        version: meta.version,
                        tag: new_tag,
                    }]
                }
                Err(Error::Conflict { .. }) => {
                    *target = None;
                    vec![Outcome::Conflict {
                        id,
                        expected: version,
                    }]
                }
                Err(err) => {
                    *target = None;
                    vec![Outcome::FailedUpdate {
                        id,
                        from_version: version,
                        tag: new_tag,
                        error: describe(&err),
                    }]
                }
            }
        }
        (1, _) => {
            let tags: Vec<String> = (0..3).map(tag).collect();
            let batch: Vec<NewRecord> = tags.iter().map(|t| record(t, size)).collect();
            match client.put_many(&batch) {
                Ok(metas) => {
                    assert_eq!(metas.len(), tags.len());
                    *target = Some((metas[0].id, metas[0].version));
                    metas
                        .into_iter()
                        .zip(tags)
                        .map(|(meta, tag)| Outcome::Put { id: meta.id, tag })
                        .collect()
                }
                Err(err) => vec![Outcome::FailedPut {
                    tags,
                    error: describe(&err),
                }],
            }
        }
        _ => {
            let tag = tag(0);
            match client.put(TYPE, &fields(&tag, size), &plain(&tag)) {
                Ok(meta) => {
                    *target = Some((meta.id, meta.version));
                    vec![Outcome::Put { id: meta.id, tag }]
                }
                Err(err) => vec![Outcome::FailedPut {
                    tags: vec![tag],
                    error: describe(&err),
                }],
            }
        }
    }
}

/// A stored record as read back, verified and decrypted.
#[derive(Debug, Clone)]
pub struct Found {
    pub version: u64,
    pub tag: String,
}

/// Every record of [`TYPE`] `client` reads, by id. Panics if any record is
/// skipped (fails verification, has no key…) or is not whole: its sealed
/// tag, plain tag and body must agree.
pub fn read_all(client: &Client, size: usize) -> BTreeMap<RecordId, Found> {
    let mut found = BTreeMap::new();
    client
        .query_pages(&Query::new().record_type(TYPE).limit(500), |page| {
            assert!(
                page.skipped.is_empty(),
                "records that do not verify: {:?}",
                page.skipped
            );
            for record in page.records {
                let tag: String = record.field("tag")?;
                let stored_body: String = record.field("body")?;
                assert_eq!(
                    record.meta().plain.get("tag"),
                    Some(&tag),
                    "sealed and plain tags of {} differ",
                    record.id()
                );
                assert!(
                    stored_body == body(&tag, size),
                    "the body of {} is not the one written with it",
                    record.id()
                );
                found.insert(
                    record.id(),
                    Found {
                        version: record.version(),
                        tag,
                    },
                );
            }
            Ok(())
        })
        .expect("read every record back");
    found
}

/// What [`check`] counted.
#[derive(Debug, Default)]
pub struct Checked {
    pub records: usize,
    pub acknowledged_puts: usize,
    pub acknowledged_updates: usize,
    pub failed_puts_absent: usize,
    pub failed_puts_present: usize,
    pub failed_updates_absent: usize,
    pub failed_updates_present: usize,
    pub conflicts: usize,
}

/// Checks the records read back (`found`, from [`read_all`]) against every
/// outcome any writer saw; panics on the first disagreement.
///
/// - every acknowledged put is there, as written or as updates left it;
/// - each record's versions 2..=v were each made by exactly one update,
///   acknowledged or failed-but-committed, and its fields are those of the
///   update that made v (no lost update, no acknowledgement twice);
/// - a failed put's records are all there (version 1, as written) or none;
/// - nothing else is there.
pub fn check(outcomes: &[Outcome], found: &BTreeMap<RecordId, Found>) -> Checked {
    let mut checked = Checked {
        records: found.len(),
        ..Checked::default()
    };
    let by_tag: BTreeMap<&str, (RecordId, &Found)> = found
        .iter()
        .map(|(id, f)| (f.tag.as_str(), (*id, f)))
        .collect();
    // Per record: its put's tag, and the updates that may have made each version.
    let mut puts: BTreeMap<RecordId, &str> = BTreeMap::new();
    let mut acked: BTreeMap<RecordId, BTreeMap<u64, &str>> = BTreeMap::new();
    let mut maybe: BTreeMap<RecordId, Vec<(u64, &str)>> = BTreeMap::new();
    for outcome in outcomes {
        match outcome {
            Outcome::Put { id, tag } => {
                assert!(
                    puts.insert(*id, tag).is_none(),
                    "record {id} acknowledged as new twice"
                );
                checked.acknowledged_puts += 1;
            }
            Outcome::Update { id, version, tag } => {
                let previous = acked.entry(*id).or_default().insert(*version, tag);
                assert!(
                    previous.is_none(),
                    "version {version} of {id} acknowledged to two updates ({previous:?} and {tag})"
                );
                checked.acknowledged_updates += 1;
            }
            Outcome::FailedUpdate {
                id,
                from_version,
                tag,
                ..
            } => {
                maybe
                    .entry(*id)
                    .or_default()
                    .push((from_version + 1, tag.as_str()));
                let landed = found.get(id).is_some_and(|f| &f.tag == tag);
                if landed {
                    checked.failed_updates_present += 1;
                } else {
                    checked.failed_updates_absent += 1;
                }
            }
            Outcome::FailedPut { tags, error } => {
                let present: Vec<&String> = tags
                    .iter()
                    .filter(|t| by_tag.contains_key(t.as_str()))
                    .collect();
                assert!(
                    present.is_empty() || present.len() == tags.len(),
                    "a failed write ({error}) is half there: {present:?} of {tags:?}"
                );
                for tag in &present {
                    assert_eq!(
                        by_tag[tag.as_str()].1.version,
                        1,
                        "a failed put's record {tag} was updated"
                    );
                }
                if present.is_empty() {
                    checked.failed_puts_absent += 1;
                } else {
                    checked.failed_puts_present += 1;
                }
            }
            Outcome::Conflict { .. } => checked.conflicts += 1,
        }
    }
    for (id, put_tag) in &puts {
        let Some(now) = found.get(id) else {
            panic!("acknowledged record {id} ({put_tag}) is missing");
        };
        let acked = acked.remove(id).unwrap_or_default();
        let maybe = maybe.remove(id).unwrap_or_default();
        for version in 2..=now.version {
            let makers = usize::from(acked.contains_key(&version))
                + maybe.iter().filter(|(v, _)| *v == version).count();
            assert!(
                makers >= 1,
                "version {version} of {id} was made by no update anyone saw"
            );
        }
        if let Some((&last, _)) = acked.last_key_value() {
            assert!(
                last <= now.version,
                "{id} is at version {} but version {last} was acknowledged (a lost update)",
                now.version
            );
        }
        let expected: Vec<&str> = if now.version == 1 {
            vec![put_tag]
        } else {
            acked
                .get(&now.version)
                .into_iter()
                .copied()
                .chain(
                    maybe
                        .iter()
                        .filter(|(v, _)| *v == now.version)
                        .map(|(_, t)| *t),
                )
                .collect()
        };
        assert!(
            expected.contains(&now.tag.as_str()),
            "{id} at version {} holds {}, written by none of {expected:?}",
            now.version,
            now.tag
        );
    }
    assert!(
        acked.is_empty(),
        "updates acknowledged on records never acknowledged as new: {acked:?}"
    );
    let failed_tags: BTreeSet<&str> = outcomes
        .iter()
        .filter_map(|o| match o {
            Outcome::FailedPut { tags, .. } => Some(tags.iter().map(String::as_str)),
            _ => None,
        })
        .flatten()
        .collect();
    for (id, f) in found {
        assert!(
            puts.contains_key(id) || failed_tags.contains(f.tag.as_str()),
            "record {id} ({}) was written by no write anyone saw",
            f.tag
        );
    }
    checked
}

/// Row-level consistency of the tables a record write touches, as SQL
/// statements each counting what must be zero (`SELECT COUNT(*) AS n`):
/// a record whose batch is gone, a batch no record names, a meta index
/// entry of no record.
pub const ORPHANS: [(&str, &str); 3] = [
    (
        "records without their batch",
        "SELECT COUNT(*) AS n FROM records r WHERE NOT EXISTS \
         (SELECT 1 FROM record_batches b WHERE b.batch_id = r.batch_id)",
    ),
    (
        "batches no record names",
        "SELECT COUNT(*) AS n FROM record_batches b WHERE NOT EXISTS \
         (SELECT 1 FROM records r WHERE r.batch_id = b.batch_id)",
    ),
    (
        "meta index entries of no record",
        "SELECT COUNT(*) AS n FROM meta_index m WHERE NOT EXISTS \
         (SELECT 1 FROM records r WHERE r.record_id = m.record_id)",
    ),
];

#[derive(diesel::QueryableByName)]
pub struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub n: i64,
}

/// Runs the [`ORPHANS`] checks and counts `records`, on `conn`.
pub fn row_checks<C>(conn: &mut C) -> i64
where
    C: diesel::Connection,
    Count: diesel::QueryableByName<C::Backend>,
    diesel::query_builder::SqlQuery: diesel::query_dsl::LoadQuery<'static, C, Count>,
{
    use diesel::RunQueryDsl;
    for (what, sql) in ORPHANS {
        let n = diesel::sql_query(sql)
            .get_result::<Count>(conn)
            .expect(sql)
            .n;
        assert_eq!(n, 0, "{what}: {n}");
    }
    diesel::sql_query("SELECT COUNT(*) AS n FROM records")
        .get_result::<Count>(conn)
        .expect("count records")
        .n
}

/// Says loudly that a fault test could not run here; with `CI=true` that
/// is a failure.
pub fn skip(test: &str, why: &str) {
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{test}: {why} (CI=true: this is a failure)");
    }
    use std::io::Write;
    let _ = writeln!(
        std::io::stderr().lock(),
        "\n!!!!!!!! SKIPPED `{test}`: {why} !!!!!!!!\n"
    );
}
