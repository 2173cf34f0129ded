//! Backup and recovery without key escrow: a recovery client that every
//! record type is shared with and authorised to (now and later), reading a
//! lost client's data back and sharing it on; and the way out of a
//! restored older database (`restart_key_lineage`).

mod common;

use std::sync::{Arc, Mutex};

use common::{each_backend, Immutable, TestDb};
use strongroom::{Client, Error, Fields, Plain, Profile, ProfileOptions, RecordId, Store};

fn client(db: &TestDb, name: &str) -> Client {
    Client::open_or_create(db.profile(name), &db.store()).unwrap()
}

fn write(client: &Client, record_type: &str, text: &str) -> RecordId {
    client
        .put(
            record_type,
            &Fields::new().with("note", text).unwrap(),
            &Plain::new(),
        )
        .unwrap()
        .id
}

fn read(client: &Client, id: RecordId) -> strongroom::Result<String> {
    client.get(id).and_then(|r| r.field::<String>("note"))
}

/// A sealed recovery profile, registered in the database.
fn recovery(db: &TestDb) -> Client {
    let profile = Profile::create(
        db.profile("recovery"),
        ProfileOptions::named("recovery").passphrase("kept offline"),
    )
    .unwrap();
    Client::from_profile(profile, &db.store()).unwrap()
}

#[test]
fn the_recovery_client_reads_every_type_now_later_and_after_rotations() {
    each_backend(
        "the_recovery_client_reads_every_type_now_later_and_after_rotations",
        |db| {
            let alice = client(db, "alice");
            let note = write(&alice, "note", "before");
            let patient = write(&alice, "patient", "ada");
            let recovery = recovery(db);
            let outcome = alice.set_recovery_client(recovery.public()).unwrap();
            assert_eq!(outcome.record_types, ["note", "patient"]);
            assert_eq!(alice.recovery_client(), Some(recovery.id()));
            assert_eq!(read(&recovery, note).unwrap(), "before");
            assert_eq!(read(&recovery, patient).unwrap(), "ada");

            // A type created later reaches it with its first key.
            let lab = write(&alice, "lab", "created later");
            assert_eq!(read(&recovery, lab).unwrap(), "created later");
            // A rotation keeps it.
            alice.rotate("note").unwrap();
            let rotated = write(&alice, "note", "after rotation");
            assert_eq!(read(&recovery, rotated).unwrap(), "after rotation");
            // Setting it again is a no-op that succeeds; the setting is in
            // the profile, so it survives a reload.
            alice.set_recovery_client(recovery.public()).unwrap();
            drop(alice);
            let alice = client(db, "alice");
            assert_eq!(alice.recovery_client(), Some(recovery.id()));
            let later = write(&alice, "visit", "after reload");
            assert_eq!(read(&recovery, later).unwrap(), "after reload");
            // It cannot be revoked for one type: the next rotation would
            // wrap to it again. The refusal changes nothing.
            for revoke in [Client::revoke, Client::revoke_and_rewrap] {
                assert!(matches!(
                    revoke(&alice, "note", recovery.id()),
                    Err(Error::InvalidInput(_))
                ));
            }
            let still = write(&alice, "note", "after the refused revocation");
            assert_eq!(
                read(&recovery, still).unwrap(),
                "after the refused revocation"
            );
        },
    );
}

#[test]
fn a_lost_profile_is_recovered_by_sharing_on_to_a_new_client() {
    each_backend(
        "a_lost_profile_is_recovered_by_sharing_on_to_a_new_client",
        |db| {
            let alice = client(db, "alice");
            let recovery = recovery(db);
            alice.set_recovery_client(recovery.public()).unwrap();
            let id = write(&alice, "note", "only alice had this");
            let lost = alice.id();
            drop(alice);
            std::fs::remove_file(db.profile("alice")).unwrap();

            // The replacement cannot read until recovery shares on.
            let replacement = client(db, "alice-2");
            assert!(matches!(
                read(&replacement, id),
                Err(Error::AccessDenied { .. })
            ));
            recovery
                .share_on_behalf(lost, "note", replacement.id())
                .unwrap();
            assert_eq!(read(&replacement, id).unwrap(), "only alice had this");
        },
    );
}

#[test]
fn the_recovery_client_stays_an_authoriser_of_every_type() {
    each_backend(
        "the_recovery_client_stays_an_authoriser_of_every_type",
        |db| {
            let alice = client(db, "alice");
            let recovery = recovery(db);
            alice.set_recovery_client(recovery.public()).unwrap();
            write(&alice, "note", "before");
            // Refused through the API, and nothing changes.
            assert!(matches!(
                alice.remove_authorizer("note", recovery.id()),
                Err(Error::InvalidInput(_))
            ));
            // A database that dropped only its authorise grant: the next
            // rotation authorises it again (it still held a read grant).
            let dropped = db.try_sql("DELETE FROM policies WHERE kind = 'authorize'");
            assert_eq!(dropped.unwrap(), 1);
            alice.rotate("note").unwrap();
            assert_eq!(
                db.count("SELECT COUNT(*) AS n FROM policies WHERE kind = 'authorize'"),
                1
            );
            let id = write(&alice, "note", "after the rotation");
            let lost = alice.id();
            drop(alice);
            std::fs::remove_file(db.profile("alice")).unwrap();
            let replacement = client(db, "alice-2");
            recovery
                .share_on_behalf(lost, "note", replacement.id())
                .unwrap();
            assert_eq!(read(&replacement, id).unwrap(), "after the rotation");
        },
    );
}

#[test]
fn a_client_is_not_its_own_recovery_client() {
    let db = TestDb::sqlite();
    let alice = client(&db, "alice");
    assert!(matches!(
        alice.set_recovery_client(alice.public()),
        Err(Error::InvalidInput(_))
    ));
    assert_eq!(alice.recovery_client(), None);
}

/// Runs `f` with this thread's tracing output (every level) captured.
fn logged<T>(f: impl FnOnce() -> T) -> (T, String) {
    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Buffer {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let buffer = Buffer::default();
    let writer = buffer.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let out = tracing::subscriber::with_default(subscriber, f);
    let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
    (out, text)
}

/// `VACUUM INTO` a backup of the SQLite database.
fn backup(db: &TestDb, to: &std::path::Path) {
    db.sql(&format!("VACUUM INTO '{}'", to.display()));
}

/// Puts the backup in place of the database (no store open).
fn restore(db: &TestDb, from: &std::path::Path) {
    let path = db.sqlite_path().unwrap();
    for suffix in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    std::fs::copy(from, &path).unwrap();
}

#[test]
fn after_restoring_an_older_database_the_lineage_restarts_only_when_asked() {
    let db = TestDb::sqlite();
    let backup_path = db.dir.path().join("backup.db");
    let old_id;
    {
        let alice = client(&db, "alice");
        let bob = client(&db, "bob");
        let carol = client(&db, "carol");
        old_id = write(&alice, "note", "in the backup");
        alice.share("note", bob.id()).unwrap();
        alice.share("note", carol.id()).unwrap();
        backup(&db, &backup_path);
        // After the backup: a rotation (version 2), which the profile marks.
        alice.rotate("note").unwrap();
        write(&alice, "note", "lost with the restore");
    }
    restore(&db, &backup_path);

    let alice = client(&db, "alice");
    let bob = client(&db, "bob");
    let carol = client(&db, "carol");
    // The restored database offers version 1 below the mark: refused.
    let err = alice
        .put(
            "note",
            &Fields::new().with("note", "x").unwrap(),
            &Plain::new(),
        )
        .unwrap_err();
    assert!(matches!(err, Error::KeyRollback { .. }), "{err:?}");

    // The explicit way out: above the mark, only bob confirmed; logged as a
    // warning that names the versions.
    let (outcome, log) = logged(|| alice.restart_key_lineage("note", &[bob.id()]).unwrap());
    let warning = log
        .lines()
        .find(|l| l.contains("restarted the key lineage"))
        .unwrap_or_else(|| panic!("no log line: {log}"));
    assert!(warning.contains("WARN"), "{warning}");
    assert!(warning.contains("profile_mark=2"), "{warning}");
    assert!(warning.contains("new_version=3"), "{warning}");
    assert_eq!(outcome.new_version, Some(3));
    assert_eq!(outcome.removed_readers, vec![carol.id()]);
    let new_id = write(&alice, "note", "after the restart");
    assert_eq!(read(&alice, new_id).unwrap(), "after the restart");
    assert_eq!(read(&bob, new_id).unwrap(), "after the restart");
    assert!(read(&carol, new_id).is_err(), "carol was not confirmed");
    // What the backup held stays readable by those who held its key.
    assert_eq!(read(&alice, old_id).unwrap(), "in the backup");
    assert_eq!(read(&carol, old_id).unwrap(), "in the backup");
    // A second restart moves on again (it is never a rollback).
    let again = alice.restart_key_lineage("note", &[]).unwrap();
    assert_eq!(again.new_version, Some(4));
    assert!(read(&bob, write(&alice, "note", "v4")).is_err());
    // A mistyped type (no key in the database, no mark in the profile) is
    // refused, and starts nothing.
    assert!(matches!(
        alice.restart_key_lineage("nots", &[]),
        Err(Error::InvalidInput(_))
    ));
    assert_eq!(
        db.count("SELECT COUNT(*) AS n FROM key_heads WHERE record_type = 'nots'"),
        0
    );
    assert_eq!(
        db.count("SELECT COUNT(*) AS n FROM access_keys WHERE record_type = 'nots'"),
        0
    );

    // Nothing automatic: a fresh store on the restored file still works
    // with version 4 and no error.
    drop(alice);
    let store = Store::open(&db.url).unwrap();
    let alice = Client::open_or_create(db.profile("alice"), &store).unwrap();
    write(&alice, "note", "still fine");
}

/// `Client::set_recovery_client` records the recovery client in the
/// profile: a call whose profile cannot be saved (a frozen folder) fails,
/// and this client neither names that client afterwards nor authorises it
/// on a type created later.
#[test]
fn a_recovery_client_that_cannot_be_recorded_is_not_used() {
    let test = "a_recovery_client_that_cannot_be_recorded_is_not_used";
    let db = TestDb::sqlite();
    let store = db.store();
    let folder = db.dir.path().join("profiles");
    std::fs::create_dir(&folder).unwrap();
    let alice = Client::open_or_create(folder.join("alice.profile"), &store).unwrap();
    write(&alice, "note", "first");
    let recovery = recovery(&db);
    // Pinned first: only the recovery setting is left to save.
    alice
        .pin_peer(recovery.id(), &recovery.fingerprint().unwrap())
        .unwrap();
    let Some(frozen) = Immutable::set(&folder, test) else {
        return;
    };
    let set = alice.set_recovery_client(recovery.public());
    drop(frozen);
    assert!(matches!(set, Err(Error::Profile(_))), "{set:?}");
    assert_eq!(alice.recovery_client(), None);
    let later = write(&alice, "lab", "a type created after the failed call");
    assert!(read(&recovery, later).is_err());
    assert_eq!(
        Profile::load(folder.join("alice.profile"), None)
            .unwrap()
            .recovery_client(),
        None
    );
}
