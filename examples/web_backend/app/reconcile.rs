//! Reconciliation: the strongroom records no primary row references.
//!
//! A create writes strongroom first and the primary row second, and a
//! delete removes the row before the record, so the only inconsistency a
//! crash (or a failed undo) can leave is an orphan record: sealed data
//! nothing points at. This finds and removes them.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use strongroom::{Client, Query, Sensitive};

use super::{AppError, PatientSecret, Primary};

/// What a reconciliation did.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReconcileReport {
    /// This client's patient records looked at.
    pub scanned: usize,
    /// Of those, the ones no primary row references.
    pub orphans: usize,
    /// Orphans deleted.
    pub removed: usize,
    /// Orphans left because they changed or went away meanwhile.
    pub skipped: usize,
}

/// Deletes this client's patient records that no primary row references
/// and that were created more than `grace` ago (a younger one may belong to
/// a create whose primary row is being written right now; a zero grace
/// looks at every record, for when nothing else writes). Pages through the
/// records' meta only (nothing is decrypted), a page of ids at a time
/// against the primary database. Blocking.
pub fn reconcile(
    client: &Client,
    primary: &Primary,
    grace: Duration,
) -> Result<ReconcileReport, AppError> {
    let before = (!grace.is_zero())
        .then(|| chrono::Duration::from_std(grace).ok())
        .flatten()
        .map(|grace| chrono::Utc::now() - grace);
    let mut report = ReconcileReport::default();
    let mut cursor = None;
    loop {
        let mut query = Query::new()
            .record_type(PatientSecret::RECORD_TYPE)
            .meta_only()
            .limit(500);
        if before.is_some() {
            query = query.created_between(None, before);
        }
        if let Some(cursor) = cursor.take() {
            query = query.after(cursor);
        }
        let page = client.query(&query)?;
        let metas: Vec<_> = page
            .records
            .iter()
            .map(|record| (record.meta().id, record.meta().version))
            .collect();
        report.scanned += metas.len();
        let ids: Vec<_> = metas.iter().map(|(id, _)| *id).collect();
        let referenced = primary.referenced(&ids)?;
        for (id, version) in metas {
            if referenced.contains(&id) {
                continue;
            }
            report.orphans += 1;
            match client.delete(id, version) {
                Ok(()) => report.removed += 1,
                Err(strongroom::Error::Conflict { .. } | strongroom::Error::NotFound { .. }) => {
                    report.skipped += 1
                }
                Err(err) => return Err(err.into()),
            }
        }
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    tracing::info!(
        scanned = report.scanned,
        orphans = report.orphans,
        removed = report.removed,
        skipped = report.skipped,
        "reconciled"
    );
    Ok(report)
}
