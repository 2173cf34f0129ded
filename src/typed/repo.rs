//! `Repo<T>`: insert, get, update, delete and query values of one model.

use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};

use super::Sensitive;
use crate::client::{Client, Cursor, Order, Query, SkipReason, Skipped};
use crate::error::{Error, Result};
use crate::ids::RecordId;
use crate::model::{NewRecord, Plain, Record, RecordMeta};

/// A value read from or written to the store, with its record's meta (id,
/// version, writer, timestamps). Derefs to the value.
///
/// A value read through a model that does not name every field of its
/// record (an older build of the model, while a newer one has added a
/// field) keeps those fields aside, and [`Repo::update`] writes them back
/// unchanged: an update through an older model loses nothing it does not
/// know, a sealed field it knows only as plain meta included. A plain
/// entry the model names as a sealed field is not written back: the model
/// never puts a value it holds sensitive in the clear. (This needs the
/// model to list its fields, as
/// `#[derive(Sensitive)]` does; a hand-written [`Sensitive`] whose
/// [`Sensitive::model_fields`] lists none keeps nothing aside.)
///
/// `Debug` shows the meta and the model's type name, never the value: a
/// model's own `Debug` (derived) would print its sensitive fields.
#[derive(Clone, PartialEq)]
#[non_exhaustive]
pub struct Stored<T> {
    meta: RecordMeta,
    value: T,
    unmodelled: Unmodelled,
}

/// The sealed fields and plain entries of a record that its model does not
/// name, kept to be written back by an update. `Debug` shows names only.
#[derive(Clone, Default, PartialEq)]
struct Unmodelled {
    fields: std::collections::BTreeMap<String, zeroize::Zeroizing<Vec<u8>>>,
    plain: Plain,
}

impl std::fmt::Debug for Unmodelled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Unmodelled")
            .field("fields", &self.fields.keys().collect::<Vec<_>>())
            .field("plain", &self.plain.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// The names a model gives its sealed fields and its plain ones, or `None`
/// when it lists none (a hand-written model: nothing can be told apart).
struct ModelNames {
    sealed: std::collections::BTreeSet<String>,
    plain: std::collections::BTreeSet<String>,
}

fn model_names<T: Sensitive>() -> Option<ModelNames> {
    let fields = T::model_fields();
    if fields.is_empty() {
        return None;
    }
    let (sealed, plain): (Vec<_>, Vec<_>) = fields.into_iter().partition(|f| f.sealed);
    Some(ModelNames {
        sealed: sealed.into_iter().map(|f| f.name).collect(),
        plain: plain.into_iter().map(|f| f.name).collect(),
    })
}

impl Unmodelled {
    /// What `record` holds that the model does not know: a sealed field
    /// the model has no sealed field of that name for (a newer build that
    /// sealed a field the model keeps plain: the sealed value is kept, never
    /// lost), and a plain entry whose name the model gives no field at all.
    /// A plain entry the model names as a sealed field is not kept: the
    /// model holds that value to be sensitive and never writes it in the
    /// clear.
    fn of(record: &Record, names: Option<&ModelNames>) -> Self {
        let Some(names) = names else {
            return Self::default();
        };
        Unmodelled {
            fields: record
                .encoded_fields()
                .filter(|(name, _)| !names.sealed.contains(*name))
                .map(|(name, json)| (name.to_owned(), json.clone()))
                .collect(),
            plain: record
                .meta()
                .plain
                .iter()
                .filter(|(name, _)| {
                    !names.plain.contains(name.as_str()) && !names.sealed.contains(name.as_str())
                })
                .map(|(name, value)| (name.clone(), value.clone()))
                .collect(),
        }
    }
}

impl<T> std::fmt::Debug for Stored<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stored")
            .field("meta", &self.meta)
            .field("value", &format_args!("<{}>", std::any::type_name::<T>()))
            .field("unmodelled", &self.unmodelled)
            .finish()
    }
}

impl<T> Stored<T> {
    /// The record's meta.
    pub fn meta(&self) -> &RecordMeta {
        &self.meta
    }

    /// The record's id.
    pub fn id(&self) -> RecordId {
        self.meta.id
    }

    /// The version this value was read or written at.
    pub fn version(&self) -> u64 {
        self.meta.version
    }

    /// The value.
    pub fn value(&self) -> &T {
        &self.value
    }

    /// The value, dropping the meta.
    pub fn into_inner(self) -> T {
        self.value
    }
}

impl<T> Deref for Stored<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T> DerefMut for Stored<T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.value
    }
}

/// A typed repository: values of `T` through one client.
pub struct Repo<'c, T> {
    client: &'c Client,
    /// Why the model's index declaration was refused, if it was: every
    /// write and query then returns it.
    refused: Option<&'static str>,
    _model: PhantomData<fn() -> T>,
}

impl<T> std::fmt::Debug for Repo<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Repo")
            .field("model", &std::any::type_name::<T>())
            .field("client", &self.client.id())
            .finish()
    }
}

impl Client {
    /// The typed repository of model `T`. A model with blind indexes
    /// (`#[sensitive(index)]`) declares them for its record type on this
    /// client ([`Client::declare_indexes`], replacing an earlier
    /// declaration of the type).
    pub fn repo<T: Sensitive>(&self) -> Repo<'_, T> {
        let specs = T::indexes();
        // Made per request in a web handler: declared once, then only
        // compared.
        let refused = if specs.is_empty() || self.declares(T::RECORD_TYPE, &specs) {
            None
        } else {
            match self.declare_indexes(T::RECORD_TYPE, specs) {
                Ok(()) => None,
                Err(Error::InvalidInput(why)) => Some(why),
                Err(_) => Some("the model's indexes could not be declared"),
            }
        };
        Repo {
            client: self,
            refused,
            _model: PhantomData,
        }
    }
}

impl<'c, T: Sensitive> Repo<'c, T> {
    fn declared(&self) -> Result<()> {
        match self.refused {
            Some(why) => Err(Error::InvalidInput(why)),
            None => Ok(()),
        }
    }

    fn new_record(value: &T) -> Result<NewRecord> {
        let (fields, plain) = value.to_parts()?;
        Ok(NewRecord::new(T::RECORD_TYPE, fields, plain))
    }

    /// Stores a new value (version 1).
    pub fn insert(&self, value: T) -> Result<Stored<T>> {
        self.declared()?;
        let record = Self::new_record(&value)?;
        let meta = self
            .client
            .put(&record.record_type, &record.fields, &record.plain)?;
        Ok(Stored {
            meta,
            value,
            unmodelled: Unmodelled::default(),
        })
    }

    /// Stores many new values in one transaction: all or none.
    pub fn insert_many(&self, values: Vec<T>) -> Result<Vec<Stored<T>>> {
        self.declared()?;
        let records = values
            .iter()
            .map(Self::new_record)
            .collect::<Result<Vec<_>>>()?;
        let metas = self.client.put_many(&records)?;
        Ok(metas
            .into_iter()
            .zip(values)
            .map(|(meta, value)| Stored {
                meta,
                value,
                unmodelled: Unmodelled::default(),
            })
            .collect())
    }

    /// Reads one value. Errors as [`Client::get`]; a record of another
    /// type that this client can read is [`Error::NotFound`] (one it
    /// cannot read is [`Error::AccessDenied`], as with [`Client::get`]),
    /// and so is a file record of the type (a body, never a value of the
    /// model: [`Client::open_file`] reads it); a
    /// record of the type that does not fit the model is the error
    /// [`Sensitive::from_record`] gives ([`Error::MissingField`],
    /// [`Error::ValueType`]).
    pub fn get(&self, id: RecordId) -> Result<Stored<T>> {
        let record = self.client.get(id)?;
        if record.meta().record_type != T::RECORD_TYPE || record.meta().file_size.is_some() {
            self.client.count_unreturned_get();
            return Err(Error::NotFound { record_id: id });
        }
        let value = T::from_record(&record).inspect_err(|_| self.client.count_unreturned_get())?;
        let unmodelled = Unmodelled::of(&record, model_names::<T>().as_ref());
        Ok(Stored {
            value,
            meta: record.into_meta(),
            unmodelled,
        })
    }

    /// Writes a changed value back, if the record is still at the version
    /// it was read at ([`Error::Conflict`] otherwise; nothing is written).
    /// Fields and plain entries of the record that the model does not name
    /// (written by a newer build of the model) are written back as read.
    pub fn update(&self, stored: Stored<T>) -> Result<Stored<T>> {
        self.declared()?;
        let (mut fields, mut plain) = stored.value.to_parts()?;
        for (name, json) in &stored.unmodelled.fields {
            fields.insert_encoded_if_absent(name, json);
        }
        for (name, value) in &stored.unmodelled.plain {
            plain.entry(name.clone()).or_insert_with(|| value.clone());
        }
        let meta = self
            .client
            .update(stored.meta.id, stored.meta.version, &fields, &plain)?;
        Ok(Stored {
            meta,
            value: stored.value,
            unmodelled: stored.unmodelled,
        })
    }

    /// Deletes a value, if its record is still at the version it was read
    /// at ([`Error::Conflict`] otherwise).
    pub fn delete(&self, stored: &Stored<T>) -> Result<()> {
        self.client.delete(stored.meta.id, stored.meta.version)
    }

    /// A query over this model's records (this client's own by default).
    pub fn query(&self) -> TypedQuery<'c, T> {
        TypedQuery {
            client: self.client,
            refused: self.refused,
            query: Query::new().record_type(T::RECORD_TYPE),
            filter: Some(T::Filter::default()),
            _model: PhantomData,
        }
    }

    /// Indexes this client's records of the model under the current key
    /// version with the model's indexes ([`Client::reindex`]): after a
    /// rotation, or after adding the first index to a model. An index
    /// added to a model whose records are already indexed at the current
    /// key version needs a rotation first ([`Client::rotate`]): until
    /// then, writes through the new model and this call are
    /// [`Error::InvalidInput`].
    pub fn reindex(&self, batch_size: usize) -> Result<crate::index::ReindexOutcome> {
        self.declared()?;
        self.client.reindex(T::RECORD_TYPE, batch_size)
    }

    /// What the database learns of this model's records: each field
    /// sealed, indexed or plain, its indexes, and the planner's view at
    /// the current record count, as the model declares them and as the
    /// records already stored hold them, whichever leaks more (a field an
    /// older model kept plain is plain; an index counts at the most bits
    /// any live version keeps): [`Client::leakage_of_model`].
    pub fn leakage(&self) -> Result<crate::index::Leakage> {
        self.client
            .leakage_of_model(T::RECORD_TYPE, T::model_fields(), &T::indexes())
    }
}

/// A typed query: the key-value [`Query`] plus filters on the model's plain
/// fields and blind indexes. Filtering on a sensitive field without an
/// index does not compile: the generated filter has no method for it.
pub struct TypedQuery<'c, T: Sensitive> {
    client: &'c Client,
    refused: Option<&'static str>,
    query: Query,
    filter: Option<T::Filter>,
    _model: PhantomData<fn() -> T>,
}

impl<'c, T: Sensitive> TypedQuery<'c, T> {
    /// Adds equality filters on plain fields, `.filter(|p| p.clinic("north"))`,
    /// or on an indexed sensitive field, `.filter(|p| p.ssn_eq("123"))`. A
    /// query uses at most one index condition (a second is
    /// [`Error::InvalidInput`] when it runs); plain filters combine freely
    /// with it.
    pub fn filter(mut self, build: impl FnOnce(T::Filter) -> T::Filter) -> Self {
        let current = self.filter.take().unwrap_or_default();
        self.filter = Some(build(current));
        self
    }

    /// Also records of writers who share this model's type with this client.
    pub fn shared(mut self) -> Self {
        self.query = self.query.shared();
        self
    }

    /// Only records by these writers (records shared with this client).
    pub fn writers(mut self, writers: impl IntoIterator<Item = crate::ids::ClientId>) -> Self {
        self.query = self.query.writers(writers);
        self
    }

    /// Result order.
    pub fn order(mut self, order: Order) -> Self {
        self.query = self.query.order(order);
        self
    }

    /// Page size, 1 to 1,000.
    pub fn limit(mut self, limit: usize) -> Self {
        self.query = self.query.limit(limit);
        self
    }

    /// Continue after the page that returned `cursor`.
    pub fn after(mut self, cursor: Cursor) -> Self {
        self.query = self.query.after(cursor);
        self
    }

    /// Only records created in `[from, before)`.
    pub fn created_between(
        mut self,
        from: Option<chrono::DateTime<chrono::Utc>>,
        before: Option<chrono::DateTime<chrono::Utc>>,
    ) -> Self {
        self.query = self.query.created_between(from, before);
        self
    }

    /// Runs the query: one page of values, verified and decrypted.
    pub fn fetch(self) -> Result<TypedPage<T>> {
        if let Some(why) = self.refused {
            return Err(Error::InvalidInput(why));
        }
        let mut query = self.query;
        let filter = self.filter.unwrap_or_default();
        let mut conditions = T::filter_indexes(&filter).into_iter();
        if let Some(condition) = conditions.next() {
            query = query.index_eq(condition);
        }
        if conditions.next().is_some() {
            return Err(Error::InvalidInput(
                "a query uses at most one index condition",
            ));
        }
        for (name, value) in T::filter_pairs(filter)? {
            query = query.plain_eq(name, value);
        }
        let page = self.client.query(&query)?;
        let mut skipped = page.skipped;
        let skipped_before = skipped.len();
        let mut records = Vec::with_capacity(page.records.len());
        let names = model_names::<T>();
        for record in page.records {
            // A file record of the type is a body, never a value of the
            // model (one whose sealed fields are all optional would
            // otherwise read as a value of absent fields).
            let value = if record.meta().file_size.is_some() {
                Err(Error::InvalidInput(
                    "a file record is not a value of a model",
                ))
            } else if record.meta().record_type != T::RECORD_TYPE {
                // Never a record of another type, whatever the database
                // answered to the type filter.
                Err(Error::InvalidInput("a record of another type"))
            } else {
                T::from_record(&record)
            };
            match value {
                Ok(value) => records.push(Stored {
                    unmodelled: Unmodelled::of(&record, names.as_ref()),
                    value,
                    meta: record.into_meta(),
                }),
                // A record of the type that this model cannot hold (a field
                // missing or of another type): left out, as a record this
                // client cannot read is, never failing the page.
                Err(_) => {
                    let meta = record.meta();
                    tracing::warn!(record_id = %meta.id, "a record does not fit the model; skipped");
                    skipped.push(Skipped {
                        record_id: Some(meta.id),
                        writer_id: Some(meta.writer_id),
                        reason: SkipReason::DoesNotFit,
                    });
                }
            }
        }
        let not_fitting = skipped.len() - skipped_before;
        if not_fitting > 0 {
            self.client.count_not_fitting(not_fitting);
        }
        Ok(TypedPage {
            records,
            skipped,
            discarded: page.discarded,
            next: page.next,
        })
    }
}

/// One page of typed results.
#[derive(Debug)]
#[non_exhaustive]
pub struct TypedPage<T> {
    /// The values, with their meta.
    pub records: Vec<Stored<T>>,
    /// Matches that could not be returned, and why.
    pub skipped: Vec<Skipped>,
    /// Candidates of an index condition whose values did not match (see
    /// [`crate::Page::discarded`]).
    pub discarded: usize,
    /// Where the next page starts; `None` on the last page.
    pub next: Option<Cursor>,
}
