//! `AsyncRepo<T>`: the typed repository, async.

use std::fmt;
use std::marker::PhantomData;

use super::AsyncClient;
use crate::error::{Error, Result};
use crate::ids::RecordId;
use crate::typed::{Sensitive, Stored, TypedPage, TypedQuery};

/// The typed repository of model `T` over an [`AsyncClient`]: what
/// [`Repo`](crate::Repo) does, each call on tokio's blocking pool (see
/// [the module docs](super) for cancellation and errors).
/// `Clone + Send + Sync` whatever `T` is; made by [`AsyncClient::repo`].
///
/// ```
/// use strongroom::asynk::AsyncClient;
/// use strongroom::{Client, Sensitive, Store};
///
/// #[derive(Debug, Clone, Sensitive)]
/// #[sensitive(record_type = "patient")]
/// struct Patient {
///     clinic: String,            // plain meta, filterable
///     #[sensitive] name: String, // sealed
/// }
///
/// # #[tokio::main(flavor = "multi_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// let store = Store::open("sqlite::memory:")?;
/// let client = Client::open_or_create(dir.path().join("app.profile"), &store)?;
/// let patients = AsyncClient::new(client).repo::<Patient>();
///
/// let saved = patients.insert(Patient { clinic: "north".into(), name: "Ada".into() }).await?;
/// let mut ada = patients.get(saved.id()).await?;
/// ada.name = "Ada King".into();
/// let ada = patients.update(ada).await?;       // a stale version is Error::Conflict
/// let north = patients.query(|q| q.filter(|p| p.clinic("north"))).await?;
/// assert_eq!(north.records[0].name, "Ada King");
/// patients.delete(ada.id(), ada.version()).await?;
/// # Ok(())
/// # }
/// ```
pub struct AsyncRepo<T> {
    client: AsyncClient,
    _model: PhantomData<fn() -> T>,
}

impl<T> Clone for AsyncRepo<T> {
    fn clone(&self) -> Self {
        AsyncRepo {
            client: self.client.clone(),
            _model: PhantomData,
        }
    }
}

impl<T> fmt::Debug for AsyncRepo<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncRepo")
            .field("model", &std::any::type_name::<T>())
            .field("client", &self.client.id())
            .finish()
    }
}

impl<T: Sensitive + Send + 'static> AsyncRepo<T> {
    pub(super) fn new(client: AsyncClient) -> Self {
        // Declares the model's indexes now, as `Client::repo` does (in
        // memory only: nothing blocks); each call declares them again in
        // its task, which changes nothing.
        let _ = client.client().repo::<T>();
        AsyncRepo {
            client,
            _model: PhantomData,
        }
    }

    /// The async client underneath.
    pub fn client(&self) -> &AsyncClient {
        &self.client
    }

    /// [`Repo::insert`](crate::Repo::insert): stores a new value
    /// (version 1).
    pub async fn insert(&self, value: T) -> Result<Stored<T>> {
        self.client
            .run(move |client| client.repo::<T>().insert(value))
            .await
    }

    /// [`Repo::insert_many`](crate::Repo::insert_many): stores many new
    /// values in one transaction, all or none.
    pub async fn insert_many(&self, values: Vec<T>) -> Result<Vec<Stored<T>>> {
        self.client
            .run(move |client| client.repo::<T>().insert_many(values))
            .await
    }

    /// [`Repo::get`](crate::Repo::get): reads one value. A record of
    /// another type is [`Error::NotFound`].
    pub async fn get(&self, id: RecordId) -> Result<Stored<T>> {
        self.client
            .run(move |client| client.repo::<T>().get(id))
            .await
    }

    /// [`Repo::update`](crate::Repo::update): writes a changed value back,
    /// if its record is still at the version it was read at
    /// ([`Error::Conflict`] otherwise; nothing is written).
    pub async fn update(&self, stored: Stored<T>) -> Result<Stored<T>> {
        self.client
            .run(move |client| client.repo::<T>().update(stored))
            .await
    }

    /// Deletes the value `id`, if its record is still at
    /// `expected_version` ([`Error::Conflict`] otherwise). The record is
    /// read (and verified) first, so that a record of another type is
    /// [`Error::NotFound`] and stays; [`AsyncClient::delete`] deletes any
    /// record of this client's without reading it.
    pub async fn delete(&self, id: RecordId, expected_version: u64) -> Result<()> {
        self.client
            .run(move |client| {
                let record = client.get(id)?;
                // Read for the type check only: no record is returned.
                client.count_unreturned_get();
                if record.meta().record_type != T::RECORD_TYPE {
                    return Err(Error::NotFound { record_id: id });
                }
                client.delete(id, expected_version)
            })
            .await
    }

    /// Runs a typed query: `build` gets [`Repo::query`](crate::Repo::query)
    /// (this client's own records of the model) and returns the query to
    /// run, `|q| q.filter(|p| p.clinic("north")).limit(50)`.
    pub async fn query<F>(&self, build: F) -> Result<TypedPage<T>>
    where
        F: for<'c> FnOnce(TypedQuery<'c, T>) -> TypedQuery<'c, T> + Send + 'static,
    {
        self.client
            .run(move |client| build(client.repo::<T>().query()).fetch())
            .await
    }
}
