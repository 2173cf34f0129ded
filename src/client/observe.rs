//! What a client tells about its work: one `tracing` span per public
//! operation, and [`Counters`].
//!
//! A span is opened with [`op_span!`] (the operation's name, the client id,
//! the operation's own fields, and `duration_ms` and `error` left to fill)
//! and run with [`Client::observe`], which records how long the operation
//! took and, if it failed, the error's message (errors never carry
//! plaintext, keys or ciphertext). Spans carry ids, record types, counts and
//! timings only: never a field value, a key, a ciphertext or a passphrase.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use tracing::Span;

use super::rewrap::RewrapReport;
use super::Client;
use crate::error::{Error, Result};
use crate::store::tx::write_transaction;
use crate::store::AnyConnection;

/// A snapshot of what a client has done since it was made, from
/// [`Client::counters`]. Each count only grows.
///
/// ```
/// use strongroom::{Client, Fields, NewRecord, Plain, Query, Store};
///
/// let dir = tempfile::tempdir()?;
/// let store = Store::open("sqlite::memory:")?;
/// let alice = Client::open_or_create(dir.path().join("alice.profile"), &store)?;
/// let notes: Vec<NewRecord> = (0..3)
///     .map(|n| Ok(NewRecord::new("note", Fields::new().with("n", &n)?, Plain::new())))
///     .collect::<strongroom::Result<_>>()?;
/// alice.put_many(&notes)?;
/// alice.query(&Query::new().record_type("note"))?;
///
/// let counters = alice.counters();
/// assert_eq!(counters.records_written, 3);
/// assert_eq!(counters.records_read, 3);
/// assert_eq!(counters.records_skipped, 0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Counters {
    /// Record versions this client stored: each record of a committed
    /// `put`, `put_many` or `import_batch`, and each committed `update`.
    pub records_written: u64,
    /// Records returned verified (and decrypted, unless the query asked for
    /// meta only): each successful `get`, and each record of a page of
    /// `query` or `query_pages` (or of a typed query's page).
    pub records_read: u64,
    /// Records a query passed over: every entry of [`crate::Page::skipped`]
    /// (a malformed row, a failed verification, no key shared, an unknown
    /// writer), and of a typed query's page (also a record that does not
    /// fit the model). A single `get` that fails is an error, counted in
    /// neither.
    pub records_skipped: u64,
    /// Access keys unwrapped (HPKE opens of wrapped access keys), as in
    /// [`crate::ClientStats::key_unwraps`].
    pub key_unwraps: u64,
    /// Look-ups answered by the client's caches: unwrapped access keys
    /// and verified record batches together.
    pub cache_hits: u64,
    /// Look-ups of those caches that found nothing (the key was then
    /// unwrapped, or the batch fetched and verified, or neither could be).
    pub cache_misses: u64,
    /// Write transactions that ended in [`Error::Conflict`]: a stale
    /// version given to `update` or `delete`, a key version moved by a
    /// concurrent rotation, a serialization failure.
    pub conflicts: u64,
}

/// The counters a client keeps itself (key and cache counts live in its
/// keyring and caches).
#[derive(Debug, Default)]
pub(super) struct Tally {
    written: AtomicU64,
    read: AtomicU64,
    skipped: AtomicU64,
    conflicts: AtomicU64,
}

impl Tally {
    pub(super) fn written(&self, n: usize) {
        add(&self.written, n);
    }

    pub(super) fn read(&self, n: usize) {
        add(&self.read, n);
    }

    pub(super) fn skipped(&self, n: usize) {
        add(&self.skipped, n);
    }

    /// Takes back `n` records counted read that a layer above did not
    /// return after all.
    fn unread(&self, n: usize) {
        let n = u64::try_from(n).unwrap_or(u64::MAX);
        // Never below zero: `fetch_update` retries until it applies.
        let _ = self
            .read
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |read| {
                Some(read.saturating_sub(n))
            });
    }
}

impl Client {
    /// A typed page left out `n` records its model cannot hold, which the
    /// key-value page counted read: they count as skipped instead.
    pub(crate) fn count_not_fitting(&self, n: usize) {
        self.tally.unread(n);
        self.tally.skipped(n);
    }

    /// A `get` made by a layer above whose record it did not return: a
    /// typed `get` that failed (another type, or not fitting the model),
    /// or the type check of an async typed delete. An error or a check,
    /// not a read.
    pub(crate) fn count_unreturned_get(&self) {
        self.tally.unread(1);
    }
}

fn add(counter: &AtomicU64, n: usize) {
    counter.fetch_add(u64::try_from(n).unwrap_or(u64::MAX), Ordering::Relaxed);
}

/// Opens the span of one public operation of a client: named after the
/// operation, with the client's id, the given fields, and `duration_ms`
/// and `error` for [`Client::observe`] to record. Fields recorded later
/// must be declared here, as `tracing::field::Empty`.
macro_rules! op_span {
    ($client:expr, $name:literal $(, $($field:tt)+)?) => {
        tracing::info_span!(
            $name,
            $($($field)+ ,)?
            client_id = %$client.id(),
            duration_ms = tracing::field::Empty,
            error = tracing::field::Empty,
        )
    };
}
pub(super) use op_span;

/// Records on an operation's span how long it took since `start`, in
/// milliseconds to the microsecond.
pub(super) fn record_duration(span: &Span, start: Instant) {
    let micros = (start.elapsed().as_secs_f64() * 1e6).round();
    span.record("duration_ms", micros / 1000.0);
}

/// What an operation's outcome says about failure.
pub(super) trait Outcome {
    /// The error it ended with, if any.
    fn error(&self) -> Option<&Error>;
}

impl<T> Outcome for Result<T> {
    fn error(&self) -> Option<&Error> {
        self.as_ref().err()
    }
}

impl Outcome for RewrapReport {
    fn error(&self) -> Option<&Error> {
        self.interrupted.as_ref()
    }
}

impl Client {
    /// Runs `op` inside `span`, then records on it the time taken
    /// (`duration_ms`) and the error, if the operation failed.
    pub(super) fn observe<T: Outcome>(&self, span: Span, op: impl FnOnce(&Span) -> T) -> T {
        let start = Instant::now();
        let outcome = span.in_scope(|| op(&span));
        record_duration(&span, start);
        if let Some(err) = outcome.error() {
            span.record("error", tracing::field::display(err));
        }
        outcome
    }

    /// [`write_transaction`], counting a conflict it ends with.
    pub(super) fn write_tx<T>(
        &self,
        conn: &mut AnyConnection,
        f: impl FnOnce(&mut AnyConnection) -> Result<T>,
    ) -> Result<T> {
        let result = write_transaction(conn, f);
        if let Err(Error::Conflict { .. }) = &result {
            add(&self.tally.conflicts, 1);
        }
        result
    }

    /// What this client has done so far: records written, read and
    /// skipped, access keys unwrapped, cache hits and misses, conflicts.
    /// See [`Counters`] for what each one counts.
    pub fn counters(&self) -> Counters {
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        Counters {
            records_written: load(&self.tally.written),
            records_read: load(&self.tally.read),
            records_skipped: load(&self.tally.skipped),
            key_unwraps: self.keyring.unwraps(),
            cache_hits: self.keyring.hits().saturating_add(self.batches.hits()),
            cache_misses: self.keyring.misses().saturating_add(self.batches.misses()),
            conflicts: load(&self.tally.conflicts),
        }
    }
}

/// An optional value as a log field shows it: the value, or `none` (never
/// Rust's `Some(…)`, which a CLI user reads in its error line).
pub(super) fn shown<T: std::fmt::Display>(value: Option<T>) -> String {
    value.map_or_else(|| "none".to_owned(), |value| value.to_string())
}
