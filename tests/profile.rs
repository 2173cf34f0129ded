//! Client profiles: creation, loading, passphrase sealing, atomic 0600
//! writes, pinning, and one clear error for each kind of bad file.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use strongroom::{Error, Identity};
use strongroom::{Profile, ProfileOptions, PROFILE_VERSION};

mod common;

use common::Immutable;

/// A named edit of a profile's JSON.
type JsonEdit = Box<dyn Fn(&mut serde_json::Value)>;

fn temp_path(dir: &tempfile::TempDir, name: &str) -> PathBuf {
    dir.path().join(name)
}

fn sealed_options(passphrase: &str) -> ProfileOptions<'_> {
    ProfileOptions::named("alice").passphrase(passphrase)
}

/// Applies each edit to a fresh copy of `original` (a profile sealed under
/// "pass phrase") and expects the load to refuse it as the seal's failure.
fn assert_each_edit_is_detected(path: &Path, original: &[u8], edits: Vec<(&str, JsonEdit)>) {
    for (what, edit) in edits {
        fs::write(path, original).unwrap();
        edit_json(path, edit);
        let err = Profile::load(path, Some("pass phrase")).unwrap_err();
        assert!(
            matches!(
                err,
                Error::Profile(strongroom::ProfileError::WrongPassphrase { .. })
            ),
            "{what}: {err:?}"
        );
    }
}

fn edit_json(path: &Path, edit: impl FnOnce(&mut serde_json::Value)) {
    let mut value: serde_json::Value = serde_json::from_slice(&fs::read(path).unwrap()).unwrap();
    edit(&mut value);
    fs::write(path, serde_json::to_vec(&value).unwrap()).unwrap();
}

#[test]
fn create_then_load_gives_the_same_identity() {
    let dir = tempfile::tempdir().unwrap();
    let path = temp_path(&dir, "alice.profile");
    let created = Profile::create(&path, ProfileOptions::named("alice")).unwrap();
    let loaded = Profile::load(&path, None).unwrap();
    assert_eq!(created.identity().public(), loaded.identity().public());
    assert_eq!(
        created.identity().signing_secret(),
        loaded.identity().signing_secret()
    );
    assert_eq!(loaded.name(), Some("alice"));
    assert!(!loaded.is_sealed());
}

/// A save killed before its rename leaves its temporary file (a whole copy
/// of the profile, secret keys included, named `.<profile>.tmp-…`): the
/// next save of that profile removes it, and leaves another profile's in
/// the same folder alone (its save may be under way).
#[test]
fn the_next_save_removes_the_temporary_copies_a_killed_save_left() {
    let dir = tempfile::tempdir().unwrap();
    let path = temp_path(&dir, "p.profile");
    let mut profile = Profile::create(&path, ProfileOptions::default()).unwrap();
    let copy = fs::read(&path).unwrap();
    let another = temp_path(&dir, "other");
    Profile::create(&another, ProfileOptions::default()).unwrap();
    let another = fs::read(&another).unwrap();
    for (name, bytes) in [
        (".p.profile.tmp-a1B2c3", &copy),
        (".p.profile.tmp-Zz9y8x", &copy[..copy.len() / 2].to_vec()),
        (".p.profile.tmp-000000", &Vec::new()),
        // Another profile's temporary file, or a file that only shares
        // the prefix (not six letters or digits after it, or not this
        // client's profile): left alone.
        (".q.profile.tmp-a1B2c3", &copy),
        (".p.profile.tmp-2.tmp-a1B2c3", &copy),
        (".p.profile.tmp-backup", &another),
    ] {
        fs::write(dir.path().join(name), bytes).unwrap();
    }
    profile.pin(Identity::generate().unwrap().public()).unwrap();
    assert_eq!(
        names_in(dir.path()),
        [
            ".p.profile.tmp-2.tmp-a1B2c3",
            ".p.profile.tmp-backup",
            ".q.profile.tmp-a1B2c3",
            "other",
            "p.profile",
            "p.profile.lock"
        ]
    );
}

/// The names of the files in `dir`, sorted.
fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[cfg(unix)]
#[test]
fn profiles_are_written_with_mode_0600_and_no_temp_files_left() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = temp_path(&dir, "p.profile");
    let mut profile = Profile::create(&path, ProfileOptions::default()).unwrap();
    assert_eq!(
        fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    profile.pin(Identity::generate().unwrap().public()).unwrap();
    assert_eq!(
        fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(
        names_in(dir.path()),
        ["p.profile", "p.profile.lock"],
        "no temporary file left, only the lock file beside the profile"
    );
    let lock = dir.path().join("p.profile.lock");
    assert_eq!(
        fs::metadata(&lock).unwrap().permissions().mode() & 0o777,
        0o600
    );
}

#[test]
fn create_refuses_to_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let path = temp_path(&dir, "p.profile");
    let first = Profile::create(&path, ProfileOptions::default()).unwrap();
    let err = Profile::create(&path, ProfileOptions::default()).unwrap_err();
    assert!(
        matches!(err, Error::Profile(strongroom::ProfileError::Exists { .. })),
        "{err:?}"
    );
    let still = Profile::load(&path, None).unwrap();
    assert_eq!(still.identity().client_id(), first.identity().client_id());
}

#[test]
fn sealed_profile_round_trip_and_passphrase_errors() {
    let dir = tempfile::tempdir().unwrap();
    let path = temp_path(&dir, "sealed.profile");
    let created = Profile::create(&path, sealed_options("correct horse battery staple")).unwrap();
    let text = fs::read_to_string(&path).unwrap();
    let secret = base64_of(created.identity().signing_secret().unprotected_as_bytes());
    assert!(
        !text.contains(&secret),
        "sealed profile holds no clear secret key"
    );
    assert!(text.contains("argon2id"));

    let loaded = Profile::load(&path, Some("correct horse battery staple")).unwrap();
    assert!(loaded.is_sealed());
    assert_eq!(loaded.identity().public(), created.identity().public());

    let err = Profile::load(&path, Some("wrong horse")).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Profile(strongroom::ProfileError::WrongPassphrase { .. })
        ),
        "{err:?}"
    );
    let err = Profile::load(&path, None).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Profile(strongroom::ProfileError::PassphraseRequired { .. })
        ),
        "{err:?}"
    );
    assert!(!err.to_string().contains("horse"));
}

#[test]
fn set_passphrase_seals_changes_and_removes_keeping_the_identity_and_pins() {
    let dir = tempfile::tempdir().unwrap();
    let path = temp_path(&dir, "passwd.profile");
    let mut profile = Profile::create(&path, ProfileOptions::named("alice")).unwrap();
    let peer = Identity::generate().unwrap();
    profile.pin(peer.public()).unwrap();
    let secret = base64_of(profile.identity().signing_secret().unprotected_as_bytes());
    let public = *profile.identity().public();
    let passphrase_required = |err: &Error| {
        matches!(
            err,
            Error::Profile(strongroom::ProfileError::PassphraseRequired { .. })
        )
    };
    let wrong_passphrase = |err: &Error| {
        matches!(
            err,
            Error::Profile(strongroom::ProfileError::WrongPassphrase { .. })
        )
    };

    // Unsealed -> sealed: the clear secret leaves the file.
    assert!(fs::read_to_string(&path).unwrap().contains(&secret));
    profile.set_passphrase(Some("first passphrase")).unwrap();
    assert!(profile.is_sealed());
    assert!(!fs::read_to_string(&path).unwrap().contains(&secret));
    assert!(passphrase_required(
        &Profile::load(&path, None).unwrap_err()
    ));
    let loaded = Profile::load(&path, Some("first passphrase")).unwrap();
    assert_eq!(*loaded.identity().public(), public);
    assert!(loaded.pinned(peer.public().client_id).is_some());

    // Sealed -> another passphrase: the old one no longer opens it.
    let mut loaded = loaded;
    loaded.set_passphrase(Some("second passphrase")).unwrap();
    assert!(wrong_passphrase(
        &Profile::load(&path, Some("first passphrase")).unwrap_err()
    ));
    let loaded = Profile::load(&path, Some("second passphrase")).unwrap();
    assert_eq!(*loaded.identity().public(), public);

    // Sealed -> unsealed.
    let mut loaded = loaded;
    loaded.set_passphrase(None).unwrap();
    assert!(!loaded.is_sealed());
    let plain = Profile::load(&path, None).unwrap();
    assert!(!plain.is_sealed());
    assert_eq!(*plain.identity().public(), public);
    assert!(plain.pinned(peer.public().client_id).is_some());

    // An empty passphrase is refused and changes nothing.
    let mut plain = plain;
    assert!(matches!(
        plain.set_passphrase(Some("")),
        Err(Error::InvalidInput(_))
    ));
    assert!(!Profile::load(&path, None).unwrap().is_sealed());
    let leftovers: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .filter(|name| name != "passwd.profile" && name != "passwd.profile.lock")
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn sealed_profile_detects_edits_to_its_clear_parts() {
    let dir = tempfile::tempdir().unwrap();
    let path = temp_path(&dir, "sealed.profile");
    let mut profile = Profile::create(&path, sealed_options("pass phrase")).unwrap();
    let peer = Identity::generate().unwrap();
    profile.pin(peer.public()).unwrap();
    let original = fs::read(&path).unwrap();
    let other_key = Identity::generate()
        .unwrap()
        .public()
        .signing_key
        .to_base64();

    let edits: Vec<(&str, JsonEdit)> = vec![
        ("name", Box::new(|v| v["name"] = "mallory".into())),
        (
            "pinned peer key",
            Box::new(move |v| {
                let pins = v["pinned"].as_object_mut().unwrap();
                let pin = pins.values_mut().next().unwrap();
                pin["signing_public_key"] = other_key.clone().into();
            }),
        ),
        (
            "iterations",
            Box::new(|v| v["secrets"]["sealed"]["iterations"] = 4.into()),
        ),
        // A pin the owner vouched for is recorded as such, and covered:
        // dropping it (or adding one) is an edit too.
        (
            "verified pins",
            Box::new(|v| {
                v.as_object_mut().unwrap().remove("verified_pins").unwrap();
            }),
        ),
    ];
    assert_each_edit_is_detected(&path, &original, edits);
}

/// The sealed secret keys themselves (nonce ‖ ciphertext ‖ tag): a byte
/// flipped in any part, or another client id for the same seal, fails the
/// seal (`WrongPassphrase`); a seal a byte short is malformed.
#[test]
fn a_sealed_profile_detects_edits_to_its_sealed_keys() {
    use base64::Engine;
    let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let dir = tempfile::tempdir().unwrap();
    let path = temp_path(&dir, "sealed.profile");
    Profile::create(&path, sealed_options("pass phrase")).unwrap();
    let original = fs::read(&path).unwrap();
    let value: serde_json::Value = serde_json::from_slice(&original).unwrap();
    let sealed = engine
        .decode(value["secrets"]["sealed"]["sealed_keys"].as_str().unwrap())
        .unwrap();
    assert_eq!(sealed.len(), 24 + 64 + 16);
    let mut edits: Vec<(&str, JsonEdit)> = Vec::new();
    // In the nonce, the ciphertext and the tag.
    for at in [0, 23, 24, 60, 87, 88, 103] {
        let mut flipped = sealed.clone();
        flipped[at] ^= 0x01;
        let text = engine.encode(&flipped);
        edits.push((
            "a byte of the sealed keys",
            Box::new(move |v| v["secrets"]["sealed"]["sealed_keys"] = text.clone().into()),
        ));
    }
    let other_id = uuid::Uuid::new_v4().to_string();
    edits.push((
        "the client id",
        Box::new(move |v| v["client_id"] = other_id.clone().into()),
    ));
    assert_each_edit_is_detected(&path, &original, edits);
    fs::write(&path, &original).unwrap();
    let short = engine.encode(&sealed[..sealed.len() - 1]);
    edit_json(&path, |v| {
        v["secrets"]["sealed"]["sealed_keys"] = short.into()
    });
    let err = Profile::load(&path, Some("pass phrase")).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Profile(strongroom::ProfileError::Malformed { .. })
        ),
        "{err:?}"
    );
}

#[test]
fn truncated_profiles_are_malformed_never_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    for passphrase in [None, Some("pass phrase")] {
        let path = temp_path(
            &dir,
            if passphrase.is_some() {
                "s.profile"
            } else {
                "p.profile"
            },
        );
        Profile::create(
            &path,
            match passphrase {
                Some(passphrase) => ProfileOptions::named("a").passphrase(passphrase),
                None => ProfileOptions::named("a"),
            },
        )
        .unwrap();
        let bytes = fs::read(&path).unwrap();
        for len in (0..bytes.len() - 2).step_by(7) {
            fs::write(&path, &bytes[..len]).unwrap();
            let err = Profile::load(&path, passphrase).unwrap_err();
            assert!(
                matches!(
                    err,
                    Error::Profile(strongroom::ProfileError::Malformed { .. })
                ),
                "len {len}: {err:?}"
            );
        }
    }
}

#[test]
fn edited_plain_profiles_are_malformed() {
    let dir = tempfile::tempdir().unwrap();
    let path = temp_path(&dir, "p.profile");
    Profile::create(&path, ProfileOptions::default()).unwrap();
    let original = fs::read(&path).unwrap();
    let other = Identity::generate().unwrap();
    let other_sign = other.public().signing_key.to_base64();
    let edits: Vec<(&str, JsonEdit)> = vec![
        (
            "public key swapped",
            Box::new(move |v| v["signing_public_key"] = other_sign.clone().into()),
        ),
        (
            "secret key not base64",
            Box::new(|v| v["secrets"]["plain"]["signing_key"] = "%%".into()),
        ),
        (
            "secret key too short",
            Box::new(|v| v["secrets"]["plain"]["encryption_key"] = "AAAA".into()),
        ),
        (
            "client id not a uuid",
            Box::new(|v| v["client_id"] = "nope".into()),
        ),
        ("unknown field", Box::new(|v| v["extra"] = 1.into())),
        (
            "secrets missing",
            Box::new(|v| {
                v.as_object_mut().unwrap().remove("secrets");
            }),
        ),
        (
            "version missing",
            Box::new(|v| {
                v.as_object_mut().unwrap().remove("strongroom_profile");
            }),
        ),
    ];
    for (what, edit) in edits {
        fs::write(&path, &original).unwrap();
        edit_json(&path, edit);
        let err = Profile::load(&path, None).unwrap_err();
        assert!(
            matches!(
                err,
                Error::Profile(strongroom::ProfileError::Malformed { .. })
            ),
            "{what}: {err:?}"
        );
    }
    fs::write(&path, b"\x00\xff not json").unwrap();
    assert!(matches!(
        Profile::load(&path, None),
        Err(Error::Profile(strongroom::ProfileError::Malformed { .. }))
    ));
}

#[test]
fn unknown_versions_are_reported_as_such() {
    let dir = tempfile::tempdir().unwrap();
    let path = temp_path(&dir, "p.profile");
    Profile::create(&path, ProfileOptions::default()).unwrap();
    edit_json(&path, |v| {
        v["strongroom_profile"] = (PROFILE_VERSION + 1).into()
    });
    let err = Profile::load(&path, None).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Profile(strongroom::ProfileError::Version {
                found: 3,
                supported: 2,
                ..
            })
        ),
        "{err:?}"
    );
}

#[test]
fn missing_profile_is_an_io_error() {
    let dir = tempfile::tempdir().unwrap();
    let err = Profile::load(temp_path(&dir, "absent"), None).unwrap_err();
    assert!(
        matches!(err, Error::Profile(strongroom::ProfileError::Io { .. })),
        "{err:?}"
    );
}

#[test]
fn pinning_accepts_the_same_keys_and_refuses_changed_ones() {
    let dir = tempfile::tempdir().unwrap();
    let path = temp_path(&dir, "p.profile");
    let mut profile = Profile::create(&path, ProfileOptions::default()).unwrap();
    let peer = Identity::generate().unwrap();
    profile.pin(peer.public()).unwrap();
    profile.pin(peer.public()).unwrap();
    let mut substituted = *peer.public();
    substituted.signing_key = Identity::generate().unwrap().public().signing_key;
    let err = profile.pin(&substituted).unwrap_err();
    assert!(matches!(err, Error::KeyChanged { client_id } if client_id == peer.client_id()));
    // The pin survives a reload, unchanged.
    let reloaded = Profile::load(&path, None).unwrap();
    assert_eq!(reloaded.pinned(peer.client_id()), Some(peer.public()));
}

#[cfg(unix)]
#[test]
fn loading_a_profile_others_can_read_logs_a_warning() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = temp_path(&dir, "p.profile");
    let profile = Profile::create(&path, ProfileOptions::default()).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();

    let text = logs_of(|| {
        Profile::load(&path, None).unwrap();
    });
    assert!(
        text.contains("WARN") && text.contains("readable by other users"),
        "{text}"
    );
    let secret = base64_of(profile.identity().signing_secret().unprotected_as_bytes());
    assert!(!text.contains(&secret));
}

/// What `f` logs (every level the default subscriber writes), as text.
fn logs_of(f: impl FnOnce()) -> String {
    let logs = Arc::new(Mutex::new(Vec::new()));
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || LogWriter(writer.clone()))
        .with_ansi(false)
        .finish();
    tracing::subscriber::with_default(subscriber, f);
    let bytes = logs.lock().unwrap().clone();
    String::from_utf8(bytes).unwrap()
}

struct LogWriter(Arc<Mutex<Vec<u8>>>);

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn base64_of(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[test]
fn two_processes_pinning_through_one_profile_keep_both_pins() {
    let dir = tempfile::tempdir().unwrap();
    let path = temp_path(&dir, "shared.profile");
    Profile::create(&path, sealed_options("pass phrase")).unwrap();
    let mut first = Profile::load(&path, Some("pass phrase")).unwrap();
    let mut second = Profile::load(&path, Some("pass phrase")).unwrap();
    let (x, y) = (Identity::generate().unwrap(), Identity::generate().unwrap());
    first.pin(x.public()).unwrap();
    second.pin(y.public()).unwrap();
    let reloaded = Profile::load(&path, Some("pass phrase")).unwrap();
    assert_eq!(
        reloaded.pinned(x.client_id()),
        Some(x.public()),
        "the first process's pin survives"
    );
    assert_eq!(reloaded.pinned(y.client_id()), Some(y.public()));
}

/// A sealed profile that has pinned a peer, written to a database (so it
/// holds a database identity with a key-version mark) and set verified
/// trust: every clear part the AAD covers is present.
fn full_sealed_profile(dir: &tempfile::TempDir) -> (PathBuf, strongroom::DatabaseId) {
    let path = temp_path(dir, "full.profile");
    let store = strongroom::Store::open_or_create(&format!(
        "sqlite://{}",
        dir.path().join("db.sqlite").display()
    ))
    .unwrap();
    let client =
        strongroom::Client::open_or_create_with(&path, &store, sealed_options("pass phrase"))
            .unwrap();
    let fields = strongroom::Fields::new().with("note", "x").unwrap();
    client
        .put("patient", &fields, &strongroom::Plain::new())
        .unwrap();
    client.rotate("patient").unwrap();
    let peer = Identity::generate().unwrap();
    let mut profile = Profile::load(&path, Some("pass phrase")).unwrap();
    profile.pin(peer.public()).unwrap();
    profile
        .set_peer_trust(strongroom::PeerTrust::Verified)
        .unwrap();
    (path, store.database_id().unwrap())
}

#[test]
fn every_clear_part_of_a_sealed_profile_is_protected() {
    let dir = tempfile::tempdir().unwrap();
    let (path, database) = full_sealed_profile(&dir);
    let loaded = Profile::load(&path, Some("pass phrase")).unwrap();
    assert_eq!(loaded.key_version_mark(database, "patient"), Some(2));
    let original = fs::read(&path).unwrap();
    let other = Identity::generate().unwrap();
    let (other_sign, other_enc) = (
        other.public().signing_key.to_base64(),
        other.public().encryption_key.to_base64(),
    );
    let db = database.to_string();
    let db2 = db.clone();
    let db3 = db.clone();
    let salt = base64_of(&[7u8; 16]);
    let edits: Vec<(&str, JsonEdit)> = vec![
        (
            "a rollback mark lowered",
            Box::new(move |v| v["databases"][&db]["key_versions"]["patient"] = 1.into()),
        ),
        (
            "a rollback mark removed",
            Box::new(move |v| {
                v["databases"][&db2]["key_versions"]
                    .as_object_mut()
                    .unwrap()
                    .remove("patient");
            }),
        ),
        (
            "a database forgotten",
            Box::new(move |v| {
                v["databases"].as_object_mut().unwrap().remove(&db3);
            }),
        ),
        (
            "a database added",
            Box::new(|v| {
                v["databases"][strongroom::DatabaseId::random().to_string()] =
                    serde_json::json!({ "key_versions": {} })
            }),
        ),
        (
            "peer trust relaxed",
            Box::new(|v| {
                v.as_object_mut().unwrap().remove("peer_trust");
            }),
        ),
        (
            "salt",
            Box::new(move |v| v["secrets"]["sealed"]["salt"] = salt.clone().into()),
        ),
        (
            "iterations",
            Box::new(|v| v["secrets"]["sealed"]["iterations"] = 4.into()),
        ),
        (
            "memory",
            Box::new(|v| v["secrets"]["sealed"]["memory_kib"] = (64 * 1024 + 1024).into()),
        ),
        (
            "signing public key",
            Box::new(move |v| v["signing_public_key"] = other_sign.clone().into()),
        ),
        (
            "encryption public key",
            Box::new(move |v| v["encryption_public_key"] = other_enc.clone().into()),
        ),
        (
            "a pin removed",
            Box::new(|v| {
                let pins = v["pinned"].as_object_mut().unwrap();
                let first = pins.keys().next().unwrap().clone();
                pins.remove(&first);
            }),
        ),
    ];
    assert_each_edit_is_detected(&path, &original, edits);
    fs::write(&path, &original).unwrap();
    assert!(Profile::load(&path, Some("pass phrase")).is_ok());
}

#[test]
fn argon2_parameters_out_of_bounds_are_malformed_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    let path = temp_path(&dir, "sealed.profile");
    Profile::create(&path, sealed_options("pass phrase")).unwrap();
    let original = fs::read(&path).unwrap();
    for (field, value) in [
        ("iterations", 0u64),
        ("iterations", 65),
        ("memory_kib", 19 * 1024 - 1),
        ("memory_kib", 4 * 1024 * 1024 + 1),
        ("memory_kib", u64::from(u32::MAX)),
    ] {
        fs::write(&path, &original).unwrap();
        edit_json(&path, |v| v["secrets"]["sealed"][field] = value.into());
        let started = std::time::Instant::now();
        match Profile::load(&path, Some("pass phrase")) {
            Err(Error::Profile(strongroom::ProfileError::Malformed { reason, .. })) => {
                assert_eq!(
                    reason, "passphrase KDF parameters out of range",
                    "{field}={value}"
                )
            }
            other => panic!("{field}={value}: {other:?}"),
        }
        // Refused before Argon2id runs (which takes far longer than this).
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
    }
}

/// The profile AAD of FORMAT.md, built by hand from a profile file's clear
/// parts (the specification, independent of the library's encoder).
fn profile_aad_by_hand(v: &serde_json::Value) -> Vec<u8> {
    fn lp(out: &mut Vec<u8>, bytes: &[u8]) {
        out.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
        out.extend_from_slice(bytes);
    }
    fn b64(text: &serde_json::Value) -> Vec<u8> {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(text.as_str().unwrap())
            .unwrap()
    }
    fn uuid(text: &str) -> [u8; 16] {
        *uuid::Uuid::parse_str(text).unwrap().as_bytes()
    }
    let sealed = &v["secrets"]["sealed"];
    let mut out = Vec::new();
    lp(&mut out, b"strongroom/profile");
    let version = v["strongroom_profile"].as_u64().unwrap_or(2) as u32;
    out.extend_from_slice(&version.to_be_bytes());
    out.extend_from_slice(&uuid(v["client_id"].as_str().unwrap()));
    match v["name"].as_str() {
        None => out.extend_from_slice(&0u32.to_be_bytes()),
        Some(name) => {
            out.extend_from_slice(&1u32.to_be_bytes());
            lp(&mut out, name.as_bytes());
        }
    }
    lp(&mut out, &b64(&v["encryption_public_key"]));
    lp(&mut out, &b64(&v["signing_public_key"]));
    lp(&mut out, b"argon2id");
    lp(&mut out, &b64(&sealed["salt"]));
    out.extend_from_slice(&(sealed["iterations"].as_u64().unwrap() as u32).to_be_bytes());
    out.extend_from_slice(&(sealed["memory_kib"].as_u64().unwrap() as u32).to_be_bytes());
    let pins = v["pinned"].as_object().unwrap();
    out.extend_from_slice(&(pins.len() as u32).to_be_bytes());
    let mut pin_ids: Vec<&String> = pins.keys().collect();
    pin_ids.sort_by_key(|id| uuid(id));
    for id in pin_ids {
        out.extend_from_slice(&uuid(id));
        lp(&mut out, &b64(&pins[id]["encryption_public_key"]));
        lp(&mut out, &b64(&pins[id]["signing_public_key"]));
    }
    if version == 1 {
        // Version 1: the marks by URL, as str ‖ u32 pairs in key order.
        let marks = v["key_versions"].as_object().unwrap();
        out.extend_from_slice(&(marks.len() as u32).to_be_bytes());
        let mut keys: Vec<&String> = marks.keys().collect();
        keys.sort();
        for key in keys {
            lp(&mut out, key.as_bytes());
            out.extend_from_slice(&(marks[key].as_u64().unwrap() as u32).to_be_bytes());
        }
        return out;
    }
    let trust = match v.get("peer_trust").and_then(|t| t.as_str()) {
        None | Some("first_use") => 0u32,
        Some("verified") => 1,
        Some(other) => panic!("unknown trust {other}"),
    };
    out.extend_from_slice(&trust.to_be_bytes());
    let databases = v["databases"].as_object().unwrap();
    out.extend_from_slice(&(databases.len() as u32).to_be_bytes());
    let mut db_ids: Vec<&String> = databases.keys().collect();
    db_ids.sort_by_key(|id| uuid(id));
    for id in db_ids {
        out.extend_from_slice(&uuid(id));
        let marks = databases[id]["key_versions"].as_object().unwrap();
        out.extend_from_slice(&(marks.len() as u32).to_be_bytes());
        let mut types: Vec<&String> = marks.keys().collect();
        types.sort();
        for record_type in types {
            lp(&mut out, record_type.as_bytes());
            out.extend_from_slice(&(marks[record_type].as_u64().unwrap() as u32).to_be_bytes());
        }
    }
    if let Some(recovery) = v.get("recovery_client").and_then(|r| r.as_str()) {
        lp(&mut out, b"recovery_client");
        out.extend_from_slice(&uuid(recovery));
    }
    // The pins vouched for, when there are any, in ascending id.
    if let Some(verified) = v.get("verified_pins").and_then(|p| p.as_array()) {
        lp(&mut out, b"verified_pins");
        out.extend_from_slice(&(verified.len() as u32).to_be_bytes());
        let mut ids: Vec<[u8; 16]> = verified
            .iter()
            .map(|id| uuid(id.as_str().unwrap()))
            .collect();
        ids.sort();
        for id in ids {
            out.extend_from_slice(&id);
        }
    }
    out
}

#[test]
fn the_sealed_profile_aad_is_the_one_format_md_specifies() {
    use orion::hazardous::aead::xchacha20poly1305::{Nonce, XChaCha20Poly1305};

    let dir = tempfile::tempdir().unwrap();
    let (path, _) = full_sealed_profile(&dir);
    let v: serde_json::Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
    let key = passphrase_key(&v);
    let blob = sealed_keys(&v);
    let (nonce, ciphertext) = blob.split_at(24);
    let aad = profile_aad_by_hand(&v);
    let mut keys = vec![0u8; ciphertext.len() - 16];
    let nonce = Nonce::try_from(nonce).unwrap();
    XChaCha20Poly1305::open(&key, &nonce, ciphertext, Some(&aad), &mut keys)
        .expect("the hand-built AAD opens the sealed keys");
    // One bit off in the AAD and it does not.
    let mut off = aad.clone();
    let last = off.len() - 1;
    off[last] ^= 1;
    assert!(XChaCha20Poly1305::open(&key, &nonce, ciphertext, Some(&off), &mut keys).is_err());
    // And the keys are the profile's own.
    let profile = Profile::load(&path, Some("pass phrase")).unwrap();
    assert_eq!(
        &keys[32..],
        profile.identity().signing_secret().unprotected_as_bytes()
    );
}

fn b64_field(v: &serde_json::Value) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(v.as_str().unwrap())
        .unwrap()
}

fn sealed_keys(v: &serde_json::Value) -> Vec<u8> {
    b64_field(&v["secrets"]["sealed"]["sealed_keys"])
}

/// K = Argon2id("pass phrase", salt, iterations, memory, parallelism 1).
fn passphrase_key(v: &serde_json::Value) -> orion::hazardous::aead::xchacha20poly1305::SecretKey {
    let sealed = &v["secrets"]["sealed"];
    let cost = orion::kdf::CostParams::new(
        sealed["iterations"].as_u64().unwrap() as u32,
        sealed["memory_kib"].as_u64().unwrap() as u32,
        1,
    )
    .unwrap();
    let key = orion::kdf::derive_key(
        &orion::kdf::Password::try_from(&b"pass phrase"[..]).unwrap(),
        &orion::kdf::Salt::try_from(&b64_field(&sealed["salt"])[..]).unwrap(),
        &cost,
        32,
    )
    .unwrap();
    orion::hazardous::aead::xchacha20poly1305::SecretKey::try_from(key.unprotected_as_ref())
        .unwrap()
}

#[test]
fn a_version_1_profile_is_read_and_upgraded_without_its_url_marks() {
    use orion::hazardous::aead::xchacha20poly1305::{Nonce, XChaCha20Poly1305};

    let dir = tempfile::tempdir().unwrap();
    let (path, _) = full_sealed_profile(&dir);
    let v2: serde_json::Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
    let key = passphrase_key(&v2);
    let blob = sealed_keys(&v2);
    let mut keys = vec![0u8; blob.len() - 40];
    XChaCha20Poly1305::open(
        &key,
        &Nonce::try_from(&blob[..24]).unwrap(),
        &blob[24..],
        Some(&profile_aad_by_hand(&v2)),
        &mut keys,
    )
    .unwrap();
    // The same profile as version 1 wrote it: marks keyed by URL, sealed
    // under the version 1 AAD.
    let mut v1 = v2.clone();
    let object = v1.as_object_mut().unwrap();
    object.remove("databases");
    object.remove("verified_pins");
    object.remove("peer_trust");
    object.insert("strongroom_profile".into(), 1.into());
    object.insert(
        "key_versions".into(),
        serde_json::json!({ "postgres://app@db/sensitive\npatient": 3 }),
    );
    let nonce = [9u8; 24];
    let mut sealed = vec![0u8; keys.len() + 16];
    XChaCha20Poly1305::seal(
        &key,
        &Nonce::from(nonce),
        &keys,
        Some(&profile_aad_by_hand(&v1)),
        &mut sealed,
    )
    .unwrap();
    let mut blob = nonce.to_vec();
    blob.extend_from_slice(&sealed);
    v1["secrets"]["sealed"]["sealed_keys"] = base64_of(&blob).into();
    fs::write(&path, serde_json::to_vec(&v1).unwrap()).unwrap();

    let mut loaded = Profile::load(&path, Some("pass phrase")).unwrap();
    assert_eq!(
        loaded.databases().count(),
        0,
        "URL marks are not carried over"
    );
    assert_eq!(loaded.pinned_peers().count(), 1, "pins are");
    assert_eq!(
        loaded.identity().signing_secret().unprotected_as_bytes(),
        &keys[32..]
    );
    // An edit of the version 1 marks is still detected.
    let original = fs::read(&path).unwrap();
    edit_json(&path, |v| {
        v["key_versions"]["postgres://app@db/sensitive\npatient"] = 1.into()
    });
    assert!(matches!(
        Profile::load(&path, Some("pass phrase")),
        Err(Error::Profile(
            strongroom::ProfileError::WrongPassphrase { .. }
        ))
    ));
    fs::write(&path, &original).unwrap();
    // Its next change saves it as version 2.
    loaded.pin(Identity::generate().unwrap().public()).unwrap();
    let saved: serde_json::Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
    assert_eq!(saved["strongroom_profile"], 2);
    assert!(saved.get("key_versions").is_none());
    assert_eq!(
        Profile::load(&path, Some("pass phrase"))
            .unwrap()
            .pinned_peers()
            .count(),
        2
    );
    // A version 2 file with version 1 marks is malformed.
    edit_json(&path, |v| v["key_versions"] = serde_json::json!({}));
    assert!(matches!(
        Profile::load(&path, Some("pass phrase")),
        Err(Error::Profile(strongroom::ProfileError::Malformed { .. }))
    ));
}

/// The clear parts the profile AAD known answers are computed from.
fn profile_aad_kat_inputs() -> serde_json::Value {
    serde_json::json!({
        "client_id": "00112233-4455-6677-8899-aabbccddeeff",
        "name": "alice",
        "encryption_public_key": base64_of(&[1u8; 32]),
        "signing_public_key": base64_of(&[2u8; 32]),
        "secrets": { "sealed": { "salt": base64_of(&[3u8; 16]), "iterations": 3, "memory_kib": 65536 } },
        "pinned": { "ffeeddcc-bbaa-9988-7766-554433221100": {
            "encryption_public_key": base64_of(&[4u8; 32]), "signing_public_key": base64_of(&[5u8; 32]) } },
        "peer_trust": "verified",
        "databases": { "0f0e0d0c-0b0a-0908-0706-050403020100": { "key_versions": { "patient": 2, "note": 1 } } }
    })
}

#[test]
fn the_hand_built_profile_aad_matches_its_known_answer() {
    // Fixed clear parts, and the bytes FORMAT.md's layout gives for them
    // (computed independently with Python's struct module).
    assert_eq!(
        hex::encode(profile_aad_by_hand(&profile_aad_kat_inputs())),
        include_str!("vectors/profile_aad.hex")
    );
}

#[test]
fn the_hand_built_profile_aad_with_its_optional_tails_matches_its_known_answer() {
    // The inputs above plus a recovery client and two verified pins given
    // out of order (FORMAT.md: the tails in that order, the pins ascending);
    // bytes computed independently with Python's struct and uuid modules.
    let mut v = profile_aad_kat_inputs();
    v["recovery_client"] = "11111111-2222-3333-4444-555555555555".into();
    v["verified_pins"] = serde_json::json!([
        "ffeeddcc-bbaa-9988-7766-554433221100",
        "00000000-0000-0000-0000-000000000001"
    ]);
    assert_eq!(
        hex::encode(profile_aad_by_hand(&v)),
        include_str!("vectors/profile_aad_recovery_verified.hex")
    );
}

#[test]
fn the_fingerprint_matches_its_known_answer() {
    // RFC 7748 §6.1 Alice's X25519 public key and RFC 8032 §7.1 test 1's
    // Ed25519 public key; the expected digits computed independently with
    // Python's hashlib.blake2b from FORMAT.md's construction.
    let enc =
        hex::decode("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a").unwrap();
    let sign =
        hex::decode("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a").unwrap();
    let identity = strongroom::PublicIdentity {
        client_id: "00112233-4455-6677-8899-aabbccddeeff".parse().unwrap(),
        encryption_key: strongroom::EncryptionPublicKey::from_bytes(enc.try_into().unwrap()),
        signing_key: strongroom::SigningPublicKey::from_bytes(sign.try_into().unwrap()),
    };
    let fingerprint = identity.fingerprint().unwrap();
    assert_eq!(
        fingerprint.to_string(),
        "74932 72640 62396 53985 05390 53559"
    );
    assert_eq!(
        "749327264062396539850539053559"
            .parse::<strongroom::Fingerprint>()
            .unwrap(),
        fingerprint
    );
    // Any change to the keys or the id changes it.
    let mut other = identity;
    other.client_id = strongroom::ClientId::random();
    assert_ne!(other.fingerprint().unwrap(), fingerprint);
}

#[test]
fn a_sealed_profiles_recovery_client_cannot_be_added_changed_or_removed_by_editing() {
    let dir = tempfile::tempdir().unwrap();
    let store = strongroom::Store::open("sqlite::memory:").unwrap();
    let path = temp_path(&dir, "alice.profile");
    let alice = strongroom::Client::from_profile(
        Profile::create(&path, sealed_options("alice's passphrase")).unwrap(),
        &store,
    )
    .unwrap();
    let recovery = strongroom::Client::from_profile(
        Profile::create(temp_path(&dir, "r.profile"), ProfileOptions::named("r")).unwrap(),
        &store,
    )
    .unwrap();
    let original = fs::read(&path).unwrap();
    let wrong = |err: Error| {
        matches!(
            err,
            Error::Profile(strongroom::ProfileError::WrongPassphrase { .. })
        )
    };
    // Added by an edit to a profile without one.
    edit_json(&path, |json| {
        json["recovery_client"] = serde_json::json!(recovery.id().to_string());
    });
    assert!(wrong(
        Profile::load(&path, Some("alice's passphrase")).unwrap_err()
    ));
    fs::write(&path, &original).unwrap();

    alice.set_recovery_client(recovery.public()).unwrap();
    let loaded = Profile::load(&path, Some("alice's passphrase")).unwrap();
    assert_eq!(loaded.recovery_client(), Some(recovery.id()));
    let with_recovery = fs::read(&path).unwrap();
    // Removed, or pointed at another client.
    edit_json(&path, |json| {
        json.as_object_mut().unwrap().remove("recovery_client");
    });
    assert!(wrong(
        Profile::load(&path, Some("alice's passphrase")).unwrap_err()
    ));
    fs::write(&path, &with_recovery).unwrap();
    edit_json(&path, |json| {
        json["recovery_client"] = serde_json::json!(alice.id().to_string());
    });
    assert!(wrong(
        Profile::load(&path, Some("alice's passphrase")).unwrap_err()
    ));
}

/// A profile path that is a symbolic link is followed: saves replace the
/// file it points to, and the link stays a link (it used to be replaced by
/// a file, leaving the target behind as an older copy).
#[cfg(unix)]
#[test]
fn a_profile_behind_a_symbolic_link_is_saved_to_its_target() {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir(dir.path().join("safe")).unwrap();
    let target = dir.path().join("safe").join("alice.profile");
    let created = Profile::create(&target, ProfileOptions::named("alice")).unwrap();
    let link = temp_path(&dir, "alice.profile");
    std::os::unix::fs::symlink(&target, &link).unwrap();

    let mut profile = Profile::load(&link, None).unwrap();
    profile.set_passphrase(Some("through the link")).unwrap();
    assert!(fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    let saved = Profile::load(&target, Some("through the link")).unwrap();
    assert!(saved.is_sealed());
    assert_eq!(saved.identity().client_id(), created.identity().client_id());
    assert!(Profile::load(&link, None).is_err());
    assert!(dir.path().join("safe").join("alice.profile.lock").exists());
}

#[test]
fn a_bad_client_name_is_refused_before_any_file_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let long = "n".repeat(256);
    for name in ["", "nul\0name", "tab\tname", "line\nbreak", long.as_str()] {
        let path = temp_path(&dir, "named.profile");
        assert!(
            matches!(
                Profile::create(&path, ProfileOptions::named(name)),
                Err(Error::InvalidInput(_))
            ),
            "{name:?}"
        );
        assert!(!path.exists(), "{name:?}: a profile file was written");
    }
    let path = temp_path(&dir, "named.profile");
    let profile = Profile::create(&path, ProfileOptions::named("Ärztin Ada")).unwrap();
    assert_eq!(profile.name(), Some("Ärztin Ada"));
}

#[cfg(unix)]
#[test]
fn a_profile_path_that_is_no_regular_file_is_malformed_not_a_hang() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = temp_path(&dir, "fifo.profile");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    let mut cases = vec![PathBuf::from("/dev/zero"), dir.path().to_path_buf()];
    if made {
        cases.push(fifo);
    } else {
        let _ = writeln!(
            std::io::stderr().lock(),
            "\n!!!!!!!! mkfifo failed: the FIFO case of this test is SKIPPED !!!!!!!!\n"
        );
    }
    for path in cases {
        assert!(
            matches!(
                Profile::load(&path, None),
                Err(Error::Profile(strongroom::ProfileError::Malformed { .. }))
            ),
            "{}",
            path.display()
        );
    }
}

#[test]
fn a_passphrase_for_a_profile_that_is_not_sealed_is_warned_about() {
    let dir = tempfile::tempdir().unwrap();
    let path = temp_path(&dir, "p.profile");
    Profile::create(&path, ProfileOptions::default()).unwrap();
    let text = logs_of(|| {
        let profile = Profile::load(&path, Some("a passphrase")).unwrap();
        assert!(!profile.is_sealed());
    });
    assert!(
        text.contains("WARN") && text.contains("not sealed"),
        "{text}"
    );
    assert!(!text.contains("a passphrase\""), "{text}");
}

/// A sealed profile in a folder of its own (to be frozen), loaded, with
/// one peer pinned (so the lock file exists before the folder is frozen).
fn sealed_in_folder(dir: &tempfile::TempDir, passphrase: Option<&str>) -> (PathBuf, Profile) {
    let folder = dir.path().join("profiles");
    fs::create_dir(&folder).unwrap();
    let path = folder.join("alice.profile");
    let options = ProfileOptions::named("alice");
    let options = match passphrase {
        Some(passphrase) => options.passphrase(passphrase),
        None => options,
    };
    Profile::create(&path, options).unwrap();
    let mut profile = Profile::load(&path, passphrase).unwrap();
    profile.pin(Identity::generate().unwrap().public()).unwrap();
    (path, profile)
}

/// `Profile::set_passphrase`: the file holds the old sealing or the new
/// one. One that cannot be saved (a frozen folder) changes nothing, in
/// the file or in the value: the value keeps opening its own file, so the
/// next change (a pin) is saved under the old sealing, and a passphrase
/// whose setting failed never takes effect with a later save.
#[test]
fn a_passphrase_change_that_cannot_be_saved_changes_nothing() {
    let test = "a_passphrase_change_that_cannot_be_saved_changes_nothing";
    for (old, new) in [
        (Some("old pass"), None),
        (Some("old pass"), Some("new pass")),
        (None, Some("typed once")),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let (path, mut profile) = sealed_in_folder(&dir, old);
        let folder = path.parent().unwrap().to_owned();
        let Some(frozen) = Immutable::set(&folder, test) else {
            return;
        };
        let changed = profile.set_passphrase(new);
        drop(frozen);
        assert!(
            matches!(
                changed,
                Err(Error::Profile(strongroom::ProfileError::Io { .. }))
            ),
            "{old:?} -> {new:?}: {changed:?}"
        );
        assert_eq!(profile.is_sealed(), old.is_some(), "{old:?} -> {new:?}");
        profile.pin(Identity::generate().unwrap().public()).unwrap();
        let reloaded = Profile::load(&path, old).unwrap();
        assert_eq!(reloaded.is_sealed(), old.is_some(), "{old:?} -> {new:?}");
        assert_eq!(reloaded.pinned_peers().count(), 2, "{old:?} -> {new:?}");
    }
}

/// `Profile::save` merges under the file's lock, as every change does: an
/// older value saved never lowers a mark another process recorded since.
#[test]
fn saving_an_older_profile_value_keeps_the_marks_recorded_since() {
    let db = common::TestDb::sqlite();
    let store = db.store();
    let path = db.profile("alice");
    let alice = common::notes::client(&db, "alice");
    common::notes::notes(&alice, 1);
    let mut stale = Profile::load(&path, None).unwrap();
    alice.rotate("note").unwrap();
    let database = store.database_id().unwrap();
    let mark = || {
        Profile::load(&path, None)
            .unwrap()
            .key_version_mark(database, "note")
    };
    assert_eq!(mark(), Some(2));
    stale.save().unwrap();
    assert_eq!(mark(), Some(2));
    assert_eq!(stale.key_version_mark(database, "note"), Some(2));
}

/// A profile an older build wrote has no `verified_pins`: under verified
/// trust that build used every pin, and so does this one (the next save
/// lists them); under first-use trust no pin counts as verified. A file
/// this build wrote always lists them, an empty list too.
#[test]
fn a_profile_from_before_verified_pins_keeps_its_pins_under_verified_trust() {
    let dir = tempfile::tempdir().unwrap();
    let path = temp_path(&dir, "p.profile");
    let mut profile = Profile::create(&path, ProfileOptions::default()).unwrap();
    let peer = Identity::generate().unwrap();
    let peer_id = peer.client_id();
    profile.pin(peer.public()).unwrap();
    assert!(profile.is_pin_verified(peer_id));
    for (trust, kept) in [
        (strongroom::PeerTrust::Verified, true),
        (strongroom::PeerTrust::FirstUse, false),
    ] {
        profile.set_peer_trust(trust).unwrap();
        edit_json(&path, |v| {
            assert!(v.as_object_mut().unwrap().remove("verified_pins").is_some());
        });
        let mut older = Profile::load(&path, None).unwrap();
        assert_eq!(older.is_pin_verified(peer_id), kept, "{trust:?}");
        older.save().unwrap();
        let saved: serde_json::Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
        assert_eq!(
            saved["verified_pins"].as_array().unwrap().len(),
            usize::from(kept)
        );
        profile = Profile::load(&path, None).unwrap();
    }
}
