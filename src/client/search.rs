//! Blind indexes on the client side: declaring them, computing a record's
//! entries on write, turning a searched value into lookup values, and
//! checking candidates (see [`crate::index`]).

use std::collections::BTreeMap;

use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use super::access::KeyUnavailable;
use super::observe::op_span;
use super::Client;
use crate::crypto::blind;
use crate::crypto::keys::{AccessKey, IndexKey};
use crate::error::{Error, Result};
use crate::format::blind_index::{BlindIndexes, IndexEntry};
use crate::ids::ClientId;
use crate::index::values::{inputs, integers_exact};
use crate::index::{IndexInfo, IndexQuery, IndexSpec, Leakage, ModelField};
use crate::record::SealedRecord;
use crate::store::indexes::{self, IndexValueRow, IndexVersionRow};
use crate::store::rows::RecordRow;
use crate::store::tx::read_transaction;
use crate::store::{records, AnyConnection};

use super::query::Query;

/// The indexes a write computes for one record type, with their keys at
/// the version it writes under.
pub(crate) struct PreparedIndexes {
    version: u32,
    indexes: Vec<(IndexSpec, Vec<u8>, IndexKey)>,
}

impl PreparedIndexes {
    /// The entries of a record with these field values (JSON encodings by
    /// name); a record lacking a covered field has no entry for that index.
    pub(crate) fn entries<V: AsRef<[u8]>>(
        &self,
        values: &BTreeMap<String, V>,
    ) -> Result<BlindIndexes> {
        let mut entries = Vec::with_capacity(self.indexes.len());
        for (spec, spec_bytes, key) in &self.indexes {
            let Some(inputs) = inputs(spec, values) else {
                continue;
            };
            entries.push(IndexEntry {
                name: spec.name().to_owned(),
                spec: spec_bytes.clone(),
                value: blind::blind_value(key, &inputs, spec.bits_kept())?,
            });
        }
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(BlindIndexes {
            index_version: self.version,
            entries,
        })
    }
}

/// The lookup rows of a record row's entries.
pub(crate) fn lookup_rows(row: &RecordRow, sealed: &SealedRecord) -> Vec<IndexValueRow> {
    sealed
        .indexes
        .as_ref()
        .map(|i| indexes::value_rows(row, i))
        .unwrap_or_default()
}

/// An index condition of a query, with the caller's own declaration of
/// the index (for a custom normaliser).
pub(crate) struct IndexCondition<'q> {
    pub(crate) condition: &'q IndexQuery,
    pub(crate) declared: Option<IndexSpec>,
}

impl IndexCondition<'_> {
    /// Whether a verified record's decrypted values equal the searched
    /// ones, normalised as the record's own signed index description says.
    /// That description must cover exactly the searched fields: one over
    /// fewer (another writer's index of the same name, or this index before
    /// it changed) would let a record match on some of them only.
    pub(crate) fn matches(
        &self,
        sealed: &SealedRecord,
        data: &BTreeMap<String, Zeroizing<Vec<u8>>>,
    ) -> bool {
        let Some(entry) = sealed
            .indexes
            .as_ref()
            .and_then(|i| i.entry(&self.condition.name))
        else {
            return false;
        };
        let Ok(spec) = IndexSpec::from_bytes(&entry.name, &entry.spec, self.declared.as_ref())
        else {
            return false;
        };
        // `inputs` below needs every field of the description among the
        // searched ones; equal counts make the two sets the same.
        if self.condition.values.len() != spec.fields().len() {
            return false;
        }
        let (Some(searched), Some(stored)) = (
            inputs(&spec, self.condition.values.encoded()),
            inputs(&spec, data),
        ) else {
            return false;
        };
        searched.len() == stored.len()
            && searched
                .iter()
                .zip(&stored)
                .all(|(a, b)| a.len() == b.len() && bool::from(a.ct_eq(b)))
    }
}

fn index_keys(
    access_key: &AccessKey,
    writer: ClientId,
    record_type: &str,
    version: u32,
    specs: &[IndexSpec],
) -> Result<Vec<(IndexSpec, Vec<u8>, IndexKey)>> {
    let secret = blind::index_secret(access_key, writer, record_type, version)?;
    specs
        .iter()
        .map(|spec| {
            let bytes = spec.to_bytes();
            let key = blind::index_key(&secret, spec.name(), &bytes)?;
            Ok((spec.clone(), bytes, key))
        })
        .collect()
}

impl Client {
    /// Declares the blind indexes of `record_type` for this client: every
    /// record of the type it writes from now on (put, put_many, update,
    /// import) gets an entry in each index whose fields it has, and
    /// [`Client::reindex`] indexes older records. Replaces an earlier
    /// declaration. An index cannot change within a key version: a write
    /// whose declaration differs from the one its key version was first
    /// indexed with is [`Error::InvalidInput`] (rotate the type, then
    /// re-index, to change an index): another description of an index, an
    /// index added, or one left out that a record of the version carries.
    ///
    /// Without a declaration, a client indexes its writes of a type with
    /// the indexes its newest index version names in the store, each as
    /// its newest record that verifies and carries it was signed with
    /// ([`Client::indexes_in_use`]; so the CLI and code that never
    /// declared keep a type indexed). The version rows are not signed:
    /// they never decide an index's fields, bits or normaliser.
    pub fn declare_indexes(
        &self,
        record_type: &str,
        specs: impl IntoIterator<Item = IndexSpec>,
    ) -> Result<()> {
        super::validate::record_type(record_type)?;
        self.indexes
            .declare(record_type, specs.into_iter().collect())
    }

    /// This client's declared indexes of `record_type`.
    pub fn declared_indexes(&self, record_type: &str) -> Vec<IndexSpec> {
        self.indexes
            .of(record_type)
            .map(|specs| specs.as_ref().clone())
            .unwrap_or_default()
    }

    /// Whether `specs` is already this client's declaration of
    /// `record_type` (a typed repository made again need not declare).
    pub(crate) fn declares(&self, record_type: &str, specs: &[IndexSpec]) -> bool {
        self.indexes
            .of(record_type)
            .is_some_and(|declared| declared.as_slice() == specs)
    }

    pub(crate) fn declared_index(&self, record_type: &str, name: &str) -> Option<IndexSpec> {
        self.indexes.index(record_type, name)
    }

    /// The indexes this client's writes of `record_type` compute: its
    /// declaration, else the indexes of its newest index version, each as
    /// its records signed it (see `signed_spec`).
    pub(crate) fn effective_indexes(
        &self,
        conn: &mut AnyConnection,
        record_type: &str,
    ) -> Result<Vec<IndexSpec>> {
        Ok(self.indexes_to_compute(conn, record_type)?.0)
    }

    /// [`Client::effective_indexes`], and whether they are this client's
    /// declaration (`false`: taken from its signed records).
    fn indexes_to_compute(
        &self,
        conn: &mut AnyConnection,
        record_type: &str,
    ) -> Result<(Vec<IndexSpec>, bool)> {
        if let Some(specs) = self.indexes.of(record_type) {
            return Ok((specs.as_ref().clone(), true));
        }
        let live = indexes::live_versions(conn, record_type, None, Some(self.id()))?;
        let Some(newest) = live.iter().map(|v| v.index_version).max() else {
            return Ok((Vec::new(), false));
        };
        let names: std::collections::BTreeSet<&str> = live
            .iter()
            .filter(|v| v.index_version == newest)
            .map(|v| v.index_name.as_str())
            .collect();
        let mut specs = Vec::with_capacity(names.len());
        for name in names {
            match self.signed_spec(conn, record_type, name)? {
                Some(spec) => specs.push(spec),
                None => tracing::warn!(
                    record_type,
                    index = name,
                    "the store lists this index of this client, but none of its records that verify carries it: not computed (declare the type's indexes to compute it)"
                ),
            }
        }
        Ok((specs, false))
    }

    /// Index `name` of `record_type` as this client's newest record that
    /// verifies and carries it was signed with. The index version rows
    /// are unsigned, so a client that declared nothing takes only the
    /// names from them and each spec from its signed records: a database
    /// cannot make it index other fields or keep more bits, only offer an
    /// older record (one of this client's own earlier choices) or hide
    /// the index.
    fn signed_spec(
        &self,
        conn: &mut AnyConnection,
        record_type: &str,
        name: &str,
    ) -> Result<Option<IndexSpec>> {
        Ok(self
            .signed_entry(conn, record_type, name)?
            .map(|(_, spec)| spec))
    }

    /// [`Client::signed_spec`], with the index version the record signed
    /// it at.
    fn signed_entry(
        &self,
        conn: &mut AnyConnection,
        record_type: &str,
        name: &str,
    ) -> Result<Option<(u32, IndexSpec)>> {
        for stored in records::newest_with_index(conn, self.id(), record_type, name, 4)? {
            let Ok(row) = stored.parse() else {
                continue;
            };
            let Ok(sealed) = row.to_sealed() else {
                continue;
            };
            if sealed.writer_id != self.id() || sealed.record_type != record_type {
                continue;
            }
            match self.check_record(conn, &sealed) {
                Ok(()) => {}
                Err(Error::Decryption) => continue,
                Err(other) => return Err(other),
            }
            let entry = sealed.indexes.as_ref().and_then(|indexes| {
                let entry = indexes.entries.iter().find(|e| e.name == name)?;
                Some((indexes.index_version, entry))
            });
            if let Some((version, entry)) = entry {
                return IndexSpec::from_bytes(&entry.name, &entry.spec, None)
                    .map(|spec| Some((version, spec)));
            }
        }
        Ok(None)
    }

    /// The indexes this client's next write of `record_type` computes: its
    /// declaration ([`Client::declare_indexes`]), else those its newest
    /// index version names in the store, each as its newest record that
    /// verifies and carries it was signed with (the store's unsigned index
    /// rows never decide a spec; see SECURITY.md).
    pub fn indexes_in_use(&self, record_type: &str) -> Result<Vec<IndexSpec>> {
        super::validate::record_type(record_type)?;
        let mut conn = self.store.conn()?;
        read_transaction(&mut conn, |conn| self.effective_indexes(conn, record_type))
    }

    /// Prepares the indexes of a write of `record_type` under `version`
    /// of `access_key` that adds `adding` records, registering the version
    /// (inside the write's transaction); `None` when the type has no
    /// indexes.
    pub(crate) fn prepare_indexes(
        &self,
        conn: &mut AnyConnection,
        record_type: &str,
        access_key: &AccessKey,
        version: u32,
        adding: u64,
    ) -> Result<Option<PreparedIndexes>> {
        let (specs, declared) = self.indexes_to_compute(conn, record_type)?;
        if specs.is_empty() {
            // An empty declaration still may not leave out the version's
            // indexes.
            if declared {
                self.register_index_versions(conn, record_type, version, &[], true)?;
            }
            return Ok(None);
        }
        let prepared = PreparedIndexes {
            version,
            indexes: index_keys(access_key, self.id(), record_type, version, &specs)?,
        };
        let rows: Vec<IndexVersionRow> = prepared
            .indexes
            .iter()
            .map(|(spec, bytes, _)| {
                Ok(IndexVersionRow {
                    writer_id: self.id().into(),
                    record_type: record_type.to_owned(),
                    index_name: spec.name().to_owned(),
                    index_version: i32::try_from(version)
                        .map_err(|_| Error::InvalidInput("key version overflow"))?,
                    spec: bytes.clone(),
                })
            })
            .collect::<Result<_>>()?;
        self.register_index_versions(conn, record_type, version, &rows, declared)?;
        self.plan_once(conn, record_type, &specs, adding)?;
        Ok(Some(prepared))
    }

    /// Registers the index versions of a write under key `version`
    /// ([`indexes::register`]). A declaration must be the version's whole
    /// set of indexes: one that leaves out an index some record of this
    /// client signed at the version is [`Error::InvalidInput`], since the
    /// write's records would be missing from an index every reader still
    /// searches. An index row no signed record of the version carries
    /// (one the database made up) is passed over, as are the ones the
    /// signed records cannot name (`declared` false: the indexes were
    /// taken from those records already).
    fn register_index_versions(
        &self,
        conn: &mut AnyConnection,
        record_type: &str,
        version: u32,
        rows: &[IndexVersionRow],
        declared: bool,
    ) -> Result<()> {
        let left_out = indexes::register(conn, self.id(), record_type, version, rows)?;
        if !declared {
            return Ok(());
        }
        for name in left_out {
            if self
                .signed_entry(conn, record_type, &name)?
                .is_some_and(|(signed_at, _)| signed_at == version)
            {
                return Err(Error::InvalidInput(
                    "this declaration leaves out an index the type's current key version has (the records written would be missing from it): declare the type's indexes as they are, or rotate the type, then reindex, to drop one",
                ));
            }
        }
        Ok(())
    }

    /// On this client's first indexed write of `record_type`, asks
    /// the planner about each index at the count of this writer's own
    /// entries of it (its largest key version's) once the write's `adding`
    /// records are in, and logs its warnings at WARN (as
    /// [`Client::leakage`] does).
    fn plan_once(
        &self,
        conn: &mut AnyConnection,
        record_type: &str,
        specs: &[IndexSpec],
        adding: u64,
    ) -> Result<()> {
        if !self.indexes.first_plan(record_type) {
            return Ok(());
        }
        // This writer's own entries of each index (its values are keyed
        // per writer and key version), its largest group, with the write's.
        let own = indexes::entry_counts(conn, record_type, Some(self.id()))?;
        for spec in specs {
            let records = own
                .iter()
                .filter(|(name, _)| name == spec.name())
                .map(|(_, n)| *n)
                .max()
                .unwrap_or(0)
                .saturating_add(adding);
            let plan = crate::index::plan(records, spec.bits_kept());
            if let Some(warning) = plan.warning {
                tracing::warn!(
                    record_type,
                    index = spec.name(),
                    bits = plan.bits,
                    records,
                    expected_per_value = plan.expected_per_value,
                    "{warning}"
                );
            }
        }
        Ok(())
    }

    /// The values to look up for `condition`: the searched values' index
    /// value under every live index version of the type that this client
    /// holds the key of (its own, and shared ones when the query reads
    /// shared records).
    pub(crate) fn index_lookup_values(
        &self,
        conn: &mut AnyConnection,
        query: &Query,
        condition: &IndexQuery,
    ) -> Result<Vec<Vec<u8>>> {
        let record_type = query.record_type.as_deref().ok_or(Error::InvalidInput(
            "an index condition needs the query's record type",
        ))?;
        if !condition
            .values
            .encoded()
            .values()
            .all(|value| integers_exact(value.as_ref()))
        {
            return Err(Error::InvalidInput(
                "an integer beyond the 64-bit range is not indexed (JSON reads it as an inexact float), so it cannot be searched",
            ));
        }
        let declared = self.declared_index(record_type, &condition.name);
        // A caller that declared the index and searches its own records
        // has its condition checked against the declaration, the only
        // `InvalidInput` it gets: a stored version row of its own
        // (unsigned) that cannot take the condition is the database's
        // doing, passed over, never blamed on the query.
        let own_only = match (&query.writers, query.shared) {
            (Some(writers), _) => writers.iter().all(|w| *w == self.id()),
            (None, shared) => !shared,
        };
        if let (Some(spec), true) = (&declared, own_only) {
            let fits = condition.values.len() == spec.fields().len()
                && inputs(spec, condition.values.encoded()).is_some();
            if !fits {
                return Err(Error::InvalidInput(
                    "an index condition gives a value for each field of the index, and no other",
                ));
            }
        }
        let live = indexes::live_versions(conn, record_type, Some(&condition.name), None)?;
        let mut values = Vec::new();
        // A version that cannot take this condition (another writer's
        // index of the same name over other fields, one with a custom
        // normaliser this client did not declare, or a row the database
        // made up) is passed over; its error is the answer only when no
        // version could take the condition.
        let mut refused = None;
        let mut usable = false;
        for version in live {
            let wanted = match (&query.writers, query.shared) {
                (Some(writers), _) => writers.contains(&version.writer_id),
                (None, false) => version.writer_id == self.id(),
                (None, true) => true,
            };
            if !wanted {
                continue;
            }
            // A version of this client's own index that cannot take a
            // condition its declaration fits is the database's doing: passed
            // over without blaming the query.
            let blames_query = !(declared.is_some() && version.writer_id == self.id());
            let spec =
                match IndexSpec::from_bytes(&condition.name, &version.spec, declared.as_ref()) {
                    Ok(spec) => spec,
                    Err(Error::InvalidInput(why)) => {
                        tracing::warn!(
                            record_type,
                            writer_id = %version.writer_id,
                            "an index version cannot take this condition; passed over"
                        );
                        if blames_query {
                            refused.get_or_insert(Error::InvalidInput(why));
                        }
                        continue;
                    }
                    Err(_) => {
                        tracing::warn!(
                            record_type,
                            "a stored index version is malformed; passed over"
                        );
                        continue;
                    }
                };
            let searched = inputs(&spec, condition.values.encoded())
                .filter(|_| condition.values.len() == spec.fields().len());
            let Some(searched) = searched else {
                tracing::warn!(
                    record_type,
                    writer_id = %version.writer_id,
                    "an index version covers other fields than the condition; passed over"
                );
                if blames_query {
                    refused.get_or_insert(Error::InvalidInput(
                        "an index condition gives a value for each field of the index, and no other",
                    ));
                }
                continue;
            };
            let key = match self.access_key(
                conn,
                version.writer_id,
                record_type,
                version.index_version,
            ) {
                Ok(key) => key,
                // Another writer's version this client cannot open (not
                // shared, shared through a client it cannot trust, a
                // malformed key row): its records cannot be read here.
                Err(KeyUnavailable::NotShared | KeyUnavailable::UntrustedWrapper(_)) => continue,
                Err(KeyUnavailable::Failed(Error::Decryption)) => continue,
                Err(KeyUnavailable::Failed(other)) => return Err(other),
            };
            let keys = index_keys(
                &key,
                version.writer_id,
                record_type,
                version.index_version,
                std::slice::from_ref(&spec),
            )?;
            let value = blind::blind_value(&keys[0].2, &searched, spec.bits_kept())?;
            usable = true;
            if !values.contains(&value) {
                values.push(value);
            }
        }
        match refused {
            Some(err) if !usable => Err(err),
            _ => Ok(values),
        }
    }

    /// Every writer's indexes of `record_type` in the store, with their
    /// live versions.
    pub fn indexes(&self, record_type: &str) -> Result<Vec<IndexInfo>> {
        let mut conn = self.store.conn()?;
        let live = indexes::live_versions(&mut conn, record_type, None, None)?;
        let mut out: Vec<IndexInfo> = Vec::new();
        for version in live {
            let Ok((normalizer, fields, bits)) = crate::index::spec_parts(&version.spec) else {
                continue;
            };
            match out
                .iter_mut()
                .find(|i| i.name == version.index_name && i.writer_id == version.writer_id)
            {
                Some(info) => {
                    info.versions.push(version.index_version);
                    info.fields = fields;
                    info.bits = bits;
                    info.normalizer = normalizer;
                }
                None => out.push(IndexInfo {
                    name: version.index_name,
                    writer_id: version.writer_id,
                    fields,
                    bits,
                    normalizer,
                    versions: vec![version.index_version],
                }),
            }
        }
        Ok(out)
    }

    /// What the database learns of `record_type`: each field seen in its
    /// records (every record of every writer, read a page at a time; field
    /// names are stored in the clear), sealed or plain (plain if it is
    /// plain meta in any of them), the indexes in the store (per index name, over every writer
    /// and every live version: the fields any of them covers, at the most
    /// bits any keeps) and the planner's view at the current record count.
    /// Planner warnings are also logged at WARN.
    pub fn leakage(&self, record_type: &str) -> Result<Leakage> {
        self.observe(op_span!(self, "leakage", record_type), |_| {
            self.leakage_with(record_type, Vec::new(), &[])
        })
    }

    /// What the database learns of `record_type` as the model `fields`
    /// and `specs` declare it and as the store holds it already (the
    /// derive's `Repo::leakage`): [`Client::leakage`]'s report with the
    /// model's fields and indexes added, so a field plain in any record
    /// (an older model's) is plain, and an index counts at the most bits
    /// the model or any live version keeps.
    pub fn leakage_of_model(
        &self,
        record_type: &str,
        fields: Vec<ModelField>,
        specs: &[IndexSpec],
    ) -> Result<Leakage> {
        self.observe(op_span!(self, "leakage", record_type), |_| {
            self.leakage_with(record_type, fields, specs)
        })
    }

    fn leakage_with(
        &self,
        record_type: &str,
        model: Vec<ModelField>,
        specs: &[IndexSpec],
    ) -> Result<Leakage> {
        super::validate::record_type(record_type)?;
        let mut conn = self.store.conn()?;
        let records = records::count_of_type(&mut conn, record_type)?;
        let stored = records::field_names_of_type(&mut conn, record_type)?;
        let live = indexes::live_versions(&mut conn, record_type, None, None)?;
        let groups = indexes::entry_counts(&mut conn, record_type, None)?;
        drop(conn);
        let model_indexes = specs
            .iter()
            .map(|s| (s.name().to_owned(), s.fields().to_vec(), s.bits_kept()));
        let report = Leakage::build(
            record_type,
            records,
            model.into_iter().chain(
                stored
                    .sealed
                    .into_iter()
                    .map(ModelField::sealed)
                    .chain(stored.plain.into_iter().map(ModelField::plain)),
            ),
            most_leaking(model_indexes.chain(live_parts(live))),
            &groups,
        );
        report.log_warnings();
        Ok(report)
    }
}

/// Each live version as (name, fields, bits); a description that does not
/// parse, or names a field no declaration accepts, is left out.
fn live_parts(live: Vec<indexes::LiveVersion>) -> impl Iterator<Item = (String, Vec<String>, u16)> {
    live.into_iter().filter_map(|version| {
        let (_, fields, bits) = crate::index::spec_parts(&version.spec).ok()?;
        fields
            .iter()
            .all(|field| crate::check_name(field).is_ok())
            .then_some((version.index_name, fields, bits))
    })
}

/// One (name, fields, bits) per index name over `indexes` (every live
/// version of every writer, and a model's): the union of the fields they
/// cover and the most bits any keeps (the most leakage; an older version
/// not yet retired by a reindex still leaks what it kept).
fn most_leaking(
    indexes: impl IntoIterator<Item = (String, Vec<String>, u16)>,
) -> Vec<(String, Vec<String>, u16)> {
    let mut by_name: BTreeMap<String, (Vec<String>, u16)> = BTreeMap::new();
    for (name, fields, bits) in indexes {
        let entry = by_name.entry(name).or_insert_with(|| (Vec::new(), bits));
        for field in fields {
            if !entry.0.contains(&field) {
                entry.0.push(field);
            }
        }
        entry.1 = entry.1.max(bits);
    }
    by_name.into_iter().map(|(n, (f, b))| (n, f, b)).collect()
}
