//! Client profiles: creation, loading, passphrase sealing, atomic 0600
//! writes, pinning, and one clear error for each kind of bad file.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use strongroom::profile::{Profile, ProfileOptions, PROFILE_VERSION};
use strongroom::{Error, Identity};

/// A named edit of a profile's JSON.
type JsonEdit = Box<dyn Fn(&mut serde_json::Value)>;

fn temp_path(dir: &tempfile::TempDir, name: &str) -> PathBuf {
    dir.path().join(name)
}

fn sealed_options(passphrase: &str) -> ProfileOptions<'_> {
    ProfileOptions {
        name: Some("alice"),
        passphrase: Some(passphrase),
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
    let mut names: Vec<String> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
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
    assert!(matches!(err, Error::ProfileExists { .. }), "{err:?}");
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
    assert!(matches!(err, Error::WrongPassphrase { .. }), "{err:?}");
    let err = Profile::load(&path, None).unwrap_err();
    assert!(matches!(err, Error::PassphraseRequired { .. }), "{err:?}");
    assert!(!err.to_string().contains("horse"));
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
    ];
    for (what, edit) in edits {
        fs::write(&path, &original).unwrap();
        edit_json(&path, edit);
        let err = Profile::load(&path, Some("pass phrase")).unwrap_err();
        assert!(
            matches!(err, Error::WrongPassphrase { .. }),
            "{what}: {err:?}"
        );
    }
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
            ProfileOptions {
                name: Some("a"),
                passphrase,
            },
        )
        .unwrap();
        let bytes = fs::read(&path).unwrap();
        for len in (0..bytes.len() - 2).step_by(7) {
            fs::write(&path, &bytes[..len]).unwrap();
            let err = Profile::load(&path, passphrase).unwrap_err();
            assert!(
                matches!(err, Error::ProfileMalformed { .. }),
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
            matches!(err, Error::ProfileMalformed { .. }),
            "{what}: {err:?}"
        );
    }
    fs::write(&path, b"\x00\xff not json").unwrap();
    assert!(matches!(
        Profile::load(&path, None),
        Err(Error::ProfileMalformed { .. })
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
            Error::ProfileVersion {
                found: 3,
                supported: 2,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn missing_profile_is_an_io_error() {
    let dir = tempfile::tempdir().unwrap();
    let err = Profile::load(temp_path(&dir, "absent"), None).unwrap_err();
    assert!(matches!(err, Error::ProfileIo { .. }), "{err:?}");
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

    let logs = Arc::new(Mutex::new(Vec::new()));
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || LogWriter(writer.clone()))
        .with_ansi(false)
        .finish();
    tracing::subscriber::with_default(subscriber, || {
        Profile::load(&path, None).unwrap();
    });
    let text = String::from_utf8(logs.lock().unwrap().clone()).unwrap();
    assert!(
        text.contains("WARN") && text.contains("readable by other users"),
        "{text}"
    );
    let secret = base64_of(profile.identity().signing_secret().unprotected_as_bytes());
    assert!(!text.contains(&secret));
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
