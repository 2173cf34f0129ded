//! Reconciliation with the application's own database: removing the
//! records nothing references any more.
//!
//! # Use case
//! A backend keeps its ordinary rows in a primary database and each
//! entity's sensitive part in strongroom, under a [`RecordId`] the row
//! holds. Two databases have no shared transaction, so the safe order is
//! "strongroom first, the row second" on create and "the row first,
//! strongroom second" on delete: the only inconsistency a crash can leave is
//! a record no row points at. [`Client::reconcile`] finds and deletes those.

use std::collections::HashSet;
use std::time::Duration;

use chrono::Utc;

use tracing::field::Empty;

use super::observe::{op_span, record_duration};
use super::{Client, Query};
use crate::error::Error;
use crate::ids::RecordId;

/// Records looked up in the application's database at once.
const RECONCILE_PAGE: usize = 500;

/// What [`Client::reconcile`] did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReconcileReport {
    /// This client's records of the type that were looked at.
    pub scanned: usize,
    /// Of those, the ones the application did not reference.
    pub orphans: usize,
    /// Orphans deleted.
    pub removed: usize,
    /// Orphans left because they changed or went away in the meantime.
    pub skipped: usize,
    /// Stored rows of the type that failed verification: never deleted
    /// here (they are evidence), see [`Query`]'s skipped list.
    pub unverified: usize,
}

impl Client {
    /// Deletes this client's records of `record_type` that `referenced`
    /// does not name and that were created more than `older_than` ago.
    ///
    /// `referenced` is given the ids of one page of records (at most 500)
    /// and answers which of them the application still references,
    /// typically with one `SELECT … WHERE secret_id IN (…)` on its own
    /// database. A record younger than `older_than` may belong to a create
    /// whose primary row is being written right now, so it is left alone;
    /// `Duration::ZERO` looks at every record (for when nothing else
    /// writes).
    ///
    /// Pages through meta only (nothing is decrypted). A record updated or
    /// deleted by someone else between the page and its delete is counted
    /// in `skipped`, never deleted at its new version. Records of the type
    /// that fail verification are counted in `unverified` and left.
    ///
    /// Generic over the caller's error type, so that `referenced` can fail
    /// with the application's own error; strongroom's errors convert into
    /// it.
    ///
    /// # Example
    /// ```
    /// use std::collections::HashSet;
    /// use std::time::Duration;
    /// use strongroom::{Client, Fields, Plain, Store};
    ///
    /// let dir = tempfile::tempdir()?;
    /// let store = Store::open("sqlite::memory:")?;
    /// let api = Client::open_or_create(dir.path().join("api.profile"), &store)?;
    /// let fields = Fields::new().with("name", "Ada")?;
    /// let kept = api.put("patient", &fields, &Plain::new())?.id;
    /// let orphan = api.put("patient", &fields, &Plain::new())?.id;
    ///
    /// // The application's rows reference `kept` only.
    /// let report = api.reconcile("patient", Duration::ZERO, |ids| {
    ///     Ok::<_, strongroom::Error>(ids.iter().copied().filter(|id| *id == kept).collect::<HashSet<_>>())
    /// })?;
    /// assert_eq!((report.scanned, report.removed), (2, 1));
    /// assert!(api.get(orphan).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn reconcile<E: From<Error>>(
        &self,
        record_type: &str,
        older_than: Duration,
        referenced: impl FnMut(&[RecordId]) -> Result<HashSet<RecordId>, E>,
    ) -> Result<ReconcileReport, E> {
        // Its own span, which its pages' queries and its deletes nest in
        // (the error is the application's type: recorded as failed only).
        let span = op_span!(
            self,
            "reconcile",
            record_type,
            scanned = Empty,
            removed = Empty
        );
        let start = std::time::Instant::now();
        let outcome = span.in_scope(|| self.reconcile_in(record_type, older_than, referenced));
        record_duration(&span, start);
        match &outcome {
            Ok(report) => {
                span.record("scanned", report.scanned);
                span.record("removed", report.removed);
            }
            Err(_) => {
                span.record("error", "the reconcile failed");
            }
        }
        outcome
    }

    fn reconcile_in<E: From<Error>>(
        &self,
        record_type: &str,
        older_than: Duration,
        mut referenced: impl FnMut(&[RecordId]) -> Result<HashSet<RecordId>, E>,
    ) -> Result<ReconcileReport, E> {
        super::check_record_type(record_type)?;
        let created_before = if older_than.is_zero() {
            None
        } else {
            let grace = chrono::Duration::from_std(older_than)
                .map_err(|_| Error::InvalidInput("older_than is too large"))?;
            Some(
                Utc::now()
                    .checked_sub_signed(grace)
                    .ok_or(Error::InvalidInput("older_than is too large"))?,
            )
        };
        let mut report = ReconcileReport::default();
        let mut cursor = None;
        loop {
            let mut query = Query::new()
                .record_type(record_type)
                .writers([self.id()])
                .meta_only()
                .limit(RECONCILE_PAGE)
                .created_between(None, created_before);
            if let Some(cursor) = cursor.take() {
                query = query.after(cursor);
            }
            let page = self.query(&query)?;
            report.unverified += page.skipped.len();
            let found: Vec<(RecordId, u64)> = page
                .records
                .iter()
                .map(|record| (record.meta().id, record.meta().version))
                .collect();
            report.scanned += found.len();
            let ids: Vec<RecordId> = found.iter().map(|(id, _)| *id).collect();
            let keep = if ids.is_empty() {
                HashSet::new()
            } else {
                referenced(&ids)?
            };
            for (id, version) in found {
                if keep.contains(&id) {
                    continue;
                }
                report.orphans += 1;
                match self.delete(id, version) {
                    Ok(()) => report.removed += 1,
                    Err(Error::Conflict { .. } | Error::NotFound { .. }) => report.skipped += 1,
                    Err(err) => return Err(err.into()),
                }
            }
            match page.next {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        tracing::info!(
            record_type,
            scanned = report.scanned,
            orphans = report.orphans,
            removed = report.removed,
            skipped = report.skipped,
            unverified = report.unverified,
            "reconciled"
        );
        Ok(report)
    }
}
