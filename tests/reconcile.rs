//! `Client::reconcile` (issue 18, point 4), on SQLite and PostgreSQL:
//! orphans removed, referenced records kept, young records spared by the
//! grace period, other types and other writers untouched, a failing
//! `referenced` stops before deleting anything of its page, and records
//! that fail verification are counted and left.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::notes::{client, notes};
use common::{each_backend, TestDb};
use strongroom::{Error, Fields, Plain, RecordId};

fn keep_only(
    keep: &HashSet<RecordId>,
) -> impl FnMut(&[RecordId]) -> Result<HashSet<RecordId>, Error> + '_ {
    move |ids| Ok(ids.iter().copied().filter(|id| keep.contains(id)).collect())
}

#[test]
fn orphans_are_removed_and_referenced_records_kept() {
    each_backend("reconcile_orphans", |db: &TestDb| {
        let alice = client(db, "alice");
        // More than one page of 500, so the paging is exercised.
        let ids = notes(&alice, 1_203);
        let keep: HashSet<RecordId> = ids.iter().copied().step_by(3).collect();
        let other_type = alice
            .put(
                "letter",
                &Fields::new().with("note", "x").unwrap(),
                &Plain::new(),
            )
            .unwrap()
            .id;
        let bob = client(db, "bob");
        let bobs = notes(&bob, 3);

        let report = alice
            .reconcile("note", Duration::ZERO, keep_only(&keep))
            .unwrap();
        assert_eq!(report.scanned, 1_203);
        assert_eq!(report.orphans, 1_203 - keep.len());
        assert_eq!(report.removed, report.orphans);
        assert_eq!((report.skipped, report.unverified), (0, 0));
        for id in &ids {
            assert_eq!(alice.get(*id).is_ok(), keep.contains(id), "{id}");
        }
        assert!(alice.get(other_type).is_ok(), "another type is untouched");
        for id in bobs {
            assert!(
                bob.get(id).is_ok(),
                "another writer's records are untouched"
            );
        }

        // Nothing left to do on a second run.
        let again = alice
            .reconcile("note", Duration::ZERO, keep_only(&keep))
            .unwrap();
        assert_eq!((again.scanned, again.removed), (keep.len(), 0));
    });
}

#[test]
fn records_younger_than_the_grace_period_are_left() {
    each_backend("reconcile_grace", |db: &TestDb| {
        let alice = client(db, "alice");
        let ids = notes(&alice, 5);
        let report = alice
            .reconcile("note", Duration::from_secs(3600), |_| {
                Ok::<_, Error>(HashSet::new())
            })
            .unwrap();
        assert_eq!((report.scanned, report.removed), (0, 0));
        for id in ids {
            assert!(alice.get(id).is_ok());
        }
    });
}

#[test]
fn a_failing_lookup_stops_before_deleting_its_page() {
    each_backend("reconcile_lookup_fails", |db: &TestDb| {
        let alice = client(db, "alice");
        let ids = notes(&alice, 4);
        let outcome = alice.reconcile("note", Duration::ZERO, |_| {
            Err::<HashSet<RecordId>, _>(anyhow::anyhow!("the primary database is down"))
        });
        let err = outcome.unwrap_err();
        assert_eq!(err.to_string(), "the primary database is down");
        for id in ids {
            assert!(alice.get(id).is_ok(), "nothing deleted");
        }
    });
}

#[test]
fn records_failing_verification_are_counted_and_left() {
    each_backend("reconcile_unverified", |db: &TestDb| {
        let alice = client(db, "alice");
        let ids = notes(&alice, 3);
        db.sql(&format!(
            "UPDATE records SET batch_index = 7 WHERE record_id = {}",
            db.id(ids[0])
        ));
        let report = alice
            .reconcile("note", Duration::ZERO, |_| Ok::<_, Error>(HashSet::new()))
            .unwrap();
        assert_eq!(report.unverified, 1);
        assert_eq!((report.scanned, report.removed), (2, 2));
        let left = db.count(&format!(
            "SELECT COUNT(*) AS n FROM records WHERE record_id = {}",
            db.id(ids[0])
        ));
        assert_eq!(left, 1, "the tampered row stays, as evidence");
    });
}

#[test]
fn a_bad_record_type_is_refused() {
    each_backend("reconcile_bad_type", |db: &TestDb| {
        let alice = client(db, "alice");
        let outcome = alice.reconcile(" padded ", Duration::ZERO, |_| {
            Ok::<_, Error>(HashSet::new())
        });
        assert!(
            matches!(outcome, Err(Error::InvalidInput(_))),
            "{outcome:?}"
        );
    });
}

#[test]
fn a_grace_period_beyond_the_calendar_is_invalid_input_not_a_panic() {
    let db = TestDb::sqlite();
    let alice = client(&db, "alice");
    notes(&alice, 1);
    // A million years fits chrono's duration, not `now` minus it.
    for grace in [Duration::from_secs(1_000_000 * 365 * 86_400), Duration::MAX] {
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            alice.reconcile("note", grace, |_ids: &[RecordId]| {
                Ok::<HashSet<RecordId>, Error>(HashSet::new())
            })
        }));
        match result {
            Err(_) => panic!("reconcile panicked on {grace:?}"),
            Ok(Err(Error::InvalidInput(_))) => {}
            Ok(other) => panic!("{grace:?}: expected InvalidInput, got {other:?}"),
        }
    }
}
