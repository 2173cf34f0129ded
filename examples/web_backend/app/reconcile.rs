//! Reconciliation: the strongroom records no primary row references.
//!
//! A create writes strongroom first and the primary row second, and a
//! delete removes the row before the record, so the only inconsistency a
//! crash (or a failed undo) can leave is an orphan record: sealed data
//! nothing points at. This finds and removes them.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use strongroom::{Client, Sensitive};

use super::{AppError, PatientSecret, Primary};

/// What a reconciliation did (the JSON of `POST /admin/reconcile`).
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
/// looks at every record, for when nothing else writes). The library's
/// [`Client::reconcile`] pages through the records' meta (nothing is
/// decrypted) and asks the primary database about a page of ids at a time.
/// Blocking.
pub fn reconcile(
    client: &Client,
    primary: &Primary,
    grace: Duration,
) -> Result<ReconcileReport, AppError> {
    let report = client.reconcile(PatientSecret::RECORD_TYPE, grace, |ids| {
        primary.referenced(ids).map_err(AppError::from)
    })?;
    Ok(ReconcileReport {
        scanned: report.scanned,
        orphans: report.orphans,
        removed: report.removed,
        skipped: report.skipped,
    })
}
