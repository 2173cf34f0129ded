//! The async front (feature `tokio`): [`AsyncClient`] and [`AsyncRepo`],
//! for async programs — a tokio web backend keeping its sensitive data in
//! strongroom beside its main database.
//!
//! strongroom's API blocks: diesel's connections, r2d2's pool, Argon2id,
//! HPKE and signatures. Each async call here runs its blocking work on
//! tokio's blocking pool ([`tokio::task::spawn_blocking`]), after taking a
//! permit of an async semaphore sized to the store's connection pool
//! ([`Store::pool_size`](crate::Store::pool_size)): at most that many calls
//! hold a blocking thread at once, so the others wait as futures (holding
//! no thread) instead of as threads blocked on the pool. Tokio's own
//! blocking pool serves the threads; no pool of strongroom's own is needed,
//! since the semaphore bounds what it takes from it. Waiting for a permit
//! has no time limit of its own (the pool's connection timeout starts only
//! once the work runs): while the database hangs, calls queue up as
//! futures. Give requests a deadline of your own (`tokio::time::timeout`,
//! tower's `TimeoutLayer`); a call dropped while it waits did nothing. A
//! deadline drops only the wait: a call already running keeps its permit
//! and connection until the database answers (a statement behind a table
//! another session locked may never answer), so on PostgreSQL also set
//! [`StoreOptions::postgres_statement_timeout`](crate::StoreOptions::postgres_statement_timeout),
//! which the server enforces ([`Error::StatementTimeout`]). The
//! permits belong to
//! one handle and its clones: two `AsyncClient`s made from two clients on
//! one store may together ask for twice the pool (the extra calls then wait
//! on the pool, up to its connection timeout), so make one per client and
//! clone it.
//!
//! # Cancellation
//! Dropping a future of this module (a timed-out request, a disconnected
//! client, `tokio::select!`) never leaves half a write. Before the work
//! starts the future only waits for a permit, and dropping it there does
//! nothing. Once the work has started it runs to its end on its blocking
//! thread whether or not anyone awaits it (dropping a `JoinHandle` does not
//! stop a blocking task), and each write is one database transaction: it
//! commits whole, or rolls back whole on an error. The caller of a dropped
//! write does not learn which; read the record (or query) to find out.
//!
//! # Errors
//! As the blocking methods, plus [`Error::Internal`] if the blocking work
//! panicked (the panic's message is not kept or logged by strongroom: it
//! could name anything; Rust's default panic hook still prints it to
//! stderr, so install a hook of your own if a message could name data) or the runtime shut down before it ran, and
//! [`Error::InvalidInput`] if a method is called outside a tokio runtime.
//!
//! # Tracing
//! The work runs inside the span that is current when the future is first
//! polled (where it is awaited: a future passed to `.instrument(span)`
//! runs in that span), so a request's span (and its request id) is the
//! parent of the client's operation spans.
//!
//! # Example
//! ```
//! use strongroom::asynk::AsyncClient;
//! use strongroom::{Client, Fields, Plain, Query, Store};
//!
//! # #[tokio::main(flavor = "multi_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let dir = tempfile::tempdir()?;
//! let store = Store::open("sqlite::memory:")?;
//! let client = Client::open_or_create(dir.path().join("app.profile"), &store)?;
//! let strongroom = AsyncClient::new(client); // Clone + Send + Sync: handler state
//!
//! let fields = Fields::new().with("name", "Ada Lovelace")?;
//! let plain = Plain::from([("clinic".to_owned(), "north".to_owned())]);
//! let meta = strongroom.put("patient", fields, plain).await?;
//! let record = strongroom.get(meta.id).await?;
//! assert_eq!(record.field::<String>("name")?, "Ada Lovelace");
//! let page = strongroom
//!     .query(Query::new().record_type("patient").plain_eq("clinic", "north"))
//!     .await?;
//! assert_eq!(page.records.len(), 1);
//! # Ok(())
//! # }
//! ```

mod repo;

use std::fmt;
use std::sync::Arc;

use tokio::sync::Semaphore;

use crate::client::{Client, Page, Query, RevokeOutcome, ShareOutcome};
use crate::error::{Error, Result};
use crate::ids::{ClientId, RecordId};
use crate::model::{Fields, NewRecord, Plain, Record, RecordMeta};
use crate::typed::Sensitive;

pub use repo::AsyncRepo;

/// An async handle on a [`Client`]: `Clone + Send + Sync + 'static`, so it
/// goes into a web framework's shared state as it is. Clones share one
/// client — one key cache, one connection pool, one set of permits — so a
/// key unwrapped, rotated or revoked through one clone is seen by all.
///
/// See [the module docs](self) for how the work runs, cancellation and
/// errors.
///
/// ```
/// use strongroom::asynk::AsyncClient;
/// use strongroom::{Client, Store};
///
/// # let dir = tempfile::tempdir()?;
/// let store = Store::open("sqlite::memory:")?;
/// let client = Client::open_or_create(dir.path().join("app.profile"), &store)?;
/// let strongroom = AsyncClient::new(client);
/// assert_eq!(strongroom.max_in_flight(), 1); // the in-memory store's one connection
/// let for_a_handler = strongroom.clone();
/// assert_eq!(for_a_handler.id(), strongroom.id());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct AsyncClient {
    client: Arc<Client>,
    permits: Arc<Semaphore>,
    max_in_flight: usize,
}

impl fmt::Debug for AsyncClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncClient")
            .field("client", &self.client)
            .field("max_in_flight", &self.max_in_flight)
            .field("free_permits", &self.permits.available_permits())
            .finish()
    }
}

impl AsyncClient {
    /// Wraps `client`. At most [`Store::pool_size`](crate::Store::pool_size)
    /// calls run their blocking work at once.
    pub fn new(client: Client) -> Self {
        Self::from_arc(Arc::new(client))
    }

    /// Wraps a client already shared (with blocking code, say); both sides
    /// then share its caches. Each call makes a handle with permits of its
    /// own: call it once and clone the handle (two handles from one client
    /// may together ask for twice the pool).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use strongroom::asynk::AsyncClient;
    /// use strongroom::{Client, Store};
    ///
    /// # let dir = tempfile::tempdir()?;
    /// let store = Store::open("sqlite::memory:")?;
    /// let client = Arc::new(Client::open_or_create(dir.path().join("app.profile"), &store)?);
    /// let strongroom = AsyncClient::from_arc(client.clone());
    /// assert!(std::ptr::eq(strongroom.client(), &*client));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_arc(client: Arc<Client>) -> Self {
        let pool = usize::try_from(client.store().pool_size()).unwrap_or(usize::MAX);
        let max_in_flight = pool.clamp(1, Semaphore::MAX_PERMITS);
        AsyncClient {
            client,
            permits: Arc::new(Semaphore::new(max_in_flight)),
            max_in_flight,
        }
    }

    /// The blocking client underneath (for calls this front does not
    /// wrap: run them with [`AsyncClient::run`], not on an async thread).
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The client's id.
    pub fn id(&self) -> ClientId {
        self.client.id()
    }

    /// How many calls may run their blocking work at once: the store's
    /// pool size when this handle was made.
    pub fn max_in_flight(&self) -> usize {
        self.max_in_flight
    }

    /// Runs `work` with the blocking client on tokio's blocking pool, after
    /// a permit (see [the module docs](self)): any blocking call this front
    /// does not wrap, or several calls in one go.
    ///
    /// A panic in `work` is [`Error::Internal`]; the permit is given back
    /// either way.
    ///
    /// ```
    /// # use strongroom::asynk::AsyncClient;
    /// # use strongroom::{Client, Store};
    /// # #[tokio::main(flavor = "multi_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = tempfile::tempdir()?;
    /// # let store = Store::open("sqlite::memory:")?;
    /// # let strongroom = AsyncClient::new(Client::open_or_create(dir.path().join("a.profile"), &store)?);
    /// let shares = strongroom.run(|client| client.outgoing_shares()).await?;
    /// assert!(shares.is_empty());
    /// let fingerprint = strongroom.run(|client| client.fingerprint()).await?;
    /// # let _ = fingerprint;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn run<T, F>(&self, work: F) -> Result<T>
    where
        F: FnOnce(&Client) -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| {
            Error::InvalidInput("an AsyncClient method was called outside a tokio runtime")
        })?;
        // Waiting here holds no thread; a future dropped here did nothing.
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| Error::Internal("the async client's semaphore was closed"))?;
        let client = self.client.clone();
        let span = tracing::Span::current();
        // From here the work runs to its end even if this future is
        // dropped: the task is detached, not stopped, with its permit.
        let task = runtime.spawn_blocking(move || {
            let _permit = permit;
            span.in_scope(|| work(&client))
        });
        match task.await {
            Ok(result) => result,
            Err(err) if err.is_panic() => {
                tracing::error!("a blocking task of the async client panicked");
                Err(Error::Internal(
                    "a blocking task of the async client panicked",
                ))
            }
            Err(_) => Err(Error::Internal(
                "the tokio runtime shut down before the blocking task ran",
            )),
        }
    }

    /// [`Client::put`]: stores a new record (version 1).
    pub async fn put(
        &self,
        record_type: impl Into<String>,
        fields: Fields,
        plain: Plain,
    ) -> Result<RecordMeta> {
        let record_type = record_type.into();
        self.run(move |client| client.put(&record_type, &fields, &plain))
            .await
    }

    /// [`Client::put_many`]: stores new records in one transaction, all or
    /// none (also when the future is dropped part-way).
    ///
    /// ```
    /// # use strongroom::asynk::AsyncClient;
    /// # use strongroom::{Client, Fields, NewRecord, Plain, Store};
    /// # #[tokio::main(flavor = "multi_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = tempfile::tempdir()?;
    /// # let store = Store::open("sqlite::memory:")?;
    /// # let strongroom = AsyncClient::new(Client::open_or_create(dir.path().join("a.profile"), &store)?);
    /// let records = (0..3)
    ///     .map(|i| Ok(NewRecord::new("note", Fields::new().with("n", &i)?, Plain::new())))
    ///     .collect::<strongroom::Result<Vec<_>>>()?;
    /// let metas = strongroom.put_many(records).await?;
    /// assert_eq!(metas.len(), 3);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn put_many(&self, records: Vec<NewRecord>) -> Result<Vec<RecordMeta>> {
        self.run(move |client| client.put_many(&records)).await
    }

    /// [`Client::get`]: reads, verifies and decrypts one record.
    pub async fn get(&self, id: RecordId) -> Result<Record> {
        self.run(move |client| client.get(id)).await
    }

    /// [`Client::update`]: writes a new version, if the record is still at
    /// `expected_version` ([`Error::Conflict`] otherwise).
    ///
    /// ```
    /// # use strongroom::asynk::AsyncClient;
    /// # use strongroom::{Client, Error, Fields, Plain, Store};
    /// # #[tokio::main(flavor = "multi_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = tempfile::tempdir()?;
    /// # let store = Store::open("sqlite::memory:")?;
    /// # let strongroom = AsyncClient::new(Client::open_or_create(dir.path().join("a.profile"), &store)?);
    /// let meta = strongroom.put("note", Fields::new().with("text", "draft")?, Plain::new()).await?;
    /// let fields = Fields::new().with("text", "final")?;
    /// let updated = strongroom.update(meta.id, meta.version, fields.clone(), Plain::new()).await?;
    /// assert_eq!(updated.version, 2);
    /// let stale = strongroom.update(meta.id, meta.version, fields, Plain::new()).await;
    /// assert!(matches!(stale, Err(Error::Conflict { .. })));
    /// strongroom.delete(meta.id, updated.version).await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn update(
        &self,
        id: RecordId,
        expected_version: u64,
        fields: Fields,
        plain: Plain,
    ) -> Result<RecordMeta> {
        self.run(move |client| client.update(id, expected_version, &fields, &plain))
            .await
    }

    /// [`Client::delete`]: deletes a record, if it is still at
    /// `expected_version`.
    pub async fn delete(&self, id: RecordId, expected_version: u64) -> Result<()> {
        self.run(move |client| client.delete(id, expected_version))
            .await
    }

    /// [`Client::query`]: one page of records.
    pub async fn query(&self, query: Query) -> Result<Page> {
        self.run(move |client| client.query(&query)).await
    }

    /// [`Client::share`]: lets `reader` read this client's records of
    /// `record_type`.
    ///
    /// ```
    /// # use strongroom::asynk::AsyncClient;
    /// # use strongroom::{Client, Error, Fields, Plain, Store};
    /// # #[tokio::main(flavor = "multi_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = tempfile::tempdir()?;
    /// # let url = format!("sqlite://{}", dir.path().join("s.db").display());
    /// # let store = Store::open_or_create(&url)?;
    /// let alice = AsyncClient::new(Client::open_or_create(dir.path().join("alice.profile"), &store)?);
    /// let bob = AsyncClient::new(Client::open_or_create(dir.path().join("bob.profile"), &store)?);
    /// let note = alice.put("note", Fields::new().with("text", "hi")?, Plain::new()).await?;
    /// alice.share("note", bob.id()).await?;
    /// assert_eq!(bob.get(note.id).await?.field::<String>("text")?, "hi");
    ///
    /// alice.revoke("note", bob.id()).await?; // rotates the key: later records are closed to bob
    /// let later = alice.put("note", Fields::new().with("text", "bye")?, Plain::new()).await?;
    /// assert!(matches!(bob.get(later.id).await, Err(Error::AccessDenied { .. })));
    /// # Ok(())
    /// # }
    /// ```
    pub async fn share(
        &self,
        record_type: impl Into<String>,
        reader: ClientId,
    ) -> Result<ShareOutcome> {
        let record_type = record_type.into();
        self.run(move |client| client.share(&record_type, reader))
            .await
    }

    /// [`Client::revoke`]: removes `reader`'s access to this client's
    /// records of `record_type` and rotates its key, so records written
    /// after — through any clone — are closed to it.
    pub async fn revoke(
        &self,
        record_type: impl Into<String>,
        reader: ClientId,
    ) -> Result<RevokeOutcome> {
        let record_type = record_type.into();
        self.run(move |client| client.revoke(&record_type, reader))
            .await
    }

    /// The typed repository of model `T`, async: see [`AsyncRepo`]. Like
    /// [`Client::repo`], it declares the model's blind indexes on the
    /// client.
    pub fn repo<T: Sensitive + Send + 'static>(&self) -> AsyncRepo<T> {
        AsyncRepo::new(self.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_shareable<T: Send + Sync + Clone + 'static>() {}

    #[test]
    fn the_handle_is_shareable() {
        is_shareable::<AsyncClient>();
    }

    #[test]
    fn outside_a_runtime_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::Store::open("sqlite::memory:").unwrap();
        let client = Client::open_or_create(dir.path().join("a.profile"), &store).unwrap();
        let strongroom = AsyncClient::new(client);
        // Polled by a runtime-less executor: a minimal one, by hand.
        let future = strongroom.run(|client| Ok(client.id()));
        let result = block_on_without_runtime(future);
        assert!(matches!(result, Err(Error::InvalidInput(_))), "{result:?}");
    }

    /// Polls a future to its end on this thread, with no tokio runtime.
    fn block_on_without_runtime<F: std::future::Future>(future: F) -> F::Output {
        use std::task::{Context, Poll, Wake, Waker};
        struct Nothing;
        impl Wake for Nothing {
            fn wake(self: Arc<Self>) {}
        }
        let waker = Waker::from(Arc::new(Nothing));
        let mut context = Context::from_waker(&waker);
        let mut future = std::pin::pin!(future);
        loop {
            if let Poll::Ready(output) = future.as_mut().poll(&mut context) {
                return output;
            }
            std::thread::yield_now();
        }
    }
}
