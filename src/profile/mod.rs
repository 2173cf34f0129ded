//! The client profile: one JSON file holding a client's identity (secret
//! keys included) and the public keys of the peers it has pinned.
//!
//! # Use case
//! A client process loads its profile at start. The store registers the
//! public half; the secret half never leaves this file and memory.
//!
//! # Parameters
//! A profile may be sealed under a passphrase: Argon2id (orion, 64 MiB,
//! 3 passes, a random 16-byte salt) derives a key that seals the secret keys
//! with XChaCha20-Poly1305; everything else in the file (id, name, public
//! keys, KDF parameters, pinned peers, peer trust, key version marks,
//! recovery client, verified pins) is the AAD of that seal, so an edit to
//! it is detected when the profile is opened.
//!
//! # Errors
//! A missing passphrase, a wrong passphrase, a truncated or edited file and
//! an unknown format version each have their own [`Error`] variant; none
//! panics.
//!
//! # Security
//! Files are written atomically (a temporary file in the same folder, synced,
//! then renamed over the old one) with mode 0600. Loading a profile that
//! other users can read logs a warning (tracing). Without a passphrase the
//! secret keys are stored in the clear in the file: its permissions are the
//! only protection.
//!
//! # Example
//! ```
//! use strongroom::{Profile, ProfileOptions};
//!
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("alice.profile");
//! let created = Profile::create(&path, ProfileOptions::named("alice"))?;
//! let loaded = Profile::load(&path, None)?;
//! assert_eq!(created.identity().client_id(), loaded.identity().client_id());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, Zeroizing};

use crate::crypto::aead;
use crate::crypto::kdf::passphrase_key;
use crate::crypto::keys::{
    EncryptionPublicKey, EncryptionSecretKey, PassphraseKey, SigningPublicKey, SigningSecretKey,
    KEY_LEN,
};
use crate::crypto::rng;
use crate::error::{Error, ProfileError, Result};
use crate::format::{b64, canonical::Canonical};
use crate::identity::{Identity, PublicIdentity};
use crate::ids::{ClientId, DatabaseId};

mod disk;
mod file;
mod sealing;

use disk::*;
use file::*;
use sealing::*;

/// The profile format version this build writes and reads.
pub const PROFILE_VERSION: u32 = 2;
/// Argon2id passes for new sealed profiles.
pub const ARGON2_ITERATIONS: u32 = 3;
/// Argon2id memory (KiB) for new sealed profiles: 64 MiB.
pub const ARGON2_MEMORY_KIB: u32 = 64 * 1024;
/// The smallest Argon2id memory a profile may name (OWASP's minimum, 19 MiB).
const MIN_MEMORY_KIB: u32 = 19 * 1024;
/// The largest Argon2id memory a profile may name (4 GiB), so an edited
/// file cannot make loading exhaust memory.
const MAX_MEMORY_KIB: u32 = 4 * 1024 * 1024;
const MAX_ITERATIONS: u32 = 64;
const SALT_LEN: usize = 16;
const MAX_FILE_LEN: u64 = 64 * 1024 * 1024;
const AAD_LABEL: &str = "strongroom/profile";

/// How to create a profile: `ProfileOptions::default()` (no name, no
/// passphrase), [`ProfileOptions::named`] and [`ProfileOptions::passphrase`].
#[derive(Default)]
#[non_exhaustive]
pub struct ProfileOptions<'a> {
    /// A human-readable name for the client (stored in the clear).
    pub name: Option<&'a str>,
    /// Seal the secret keys under this passphrase.
    pub passphrase: Option<&'a str>,
}

impl<'a> ProfileOptions<'a> {
    /// Options with a name and no passphrase.
    pub fn named(name: &'a str) -> Self {
        ProfileOptions {
            name: Some(name),
            passphrase: None,
        }
    }

    /// Seal the secret keys under `passphrase` (Argon2id).
    #[must_use]
    pub fn passphrase(mut self, passphrase: &'a str) -> Self {
        self.passphrase = Some(passphrase);
        self
    }
}

impl fmt::Debug for ProfileOptions<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProfileOptions")
            .field("name", &self.name)
            .field("passphrase", &self.passphrase.map(|_| "<redacted>"))
            .finish()
    }
}

/// Which peers a client trusts the database to name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum PeerTrust {
    /// A peer's keys are taken from the database the first time they are
    /// needed and pinned (trust on first use); later changes are refused.
    #[default]
    FirstUse,
    /// Only peers pinned from a fingerprint checked out of band
    /// ([`crate::Client::pin_peer`]) are used; any other — not pinned, or
    /// pinned on first use before the switch — is
    /// [`Error::PeerNotVerified`] until pinned that way. Closes trust on
    /// first use. (A profile file from before pins were told apart, saved
    /// under this setting, keeps its pins.)
    Verified,
}

/// The key-version marks of one database, by record type.
type Marks = BTreeMap<String, u32>;

/// A loaded client profile.
pub struct Profile {
    path: PathBuf,
    name: Option<String>,
    identity: Identity,
    pinned: BTreeMap<ClientId, PublicIdentity>,
    peer_trust: PeerTrust,
    /// The databases this client has written to, with its marks there.
    databases: BTreeMap<DatabaseId, Marks>,
    /// Every record type of this client is shared with and authorised to
    /// this client too (for recovery).
    recovery_client: Option<ClientId>,
    /// The pins the caller vouched for ([`Profile::pin`],
    /// [`crate::Client::pin_peer`]), not taken on first use.
    verified_pins: BTreeSet<ClientId>,
    sealing: Option<Sealing>,
    stamp: Option<FileStamp>,
}

impl fmt::Debug for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Profile")
            .field("path", &self.path)
            .field("name", &self.name)
            .field("identity", &self.identity)
            .field("pinned", &self.pinned.len())
            .field("peer_trust", &self.peer_trust)
            .field("databases", &self.databases.len())
            .field("recovery_client", &self.recovery_client)
            .field("sealed", &self.sealing.is_some())
            .finish()
    }
}

/// A sealing under `passphrase` with a fresh salt and today's parameters.
fn new_sealing(passphrase: &str) -> Result<Sealing> {
    let salt: [u8; SALT_LEN] = rng::bytes();
    Ok(Sealing {
        key: passphrase_key(passphrase, &salt, ARGON2_ITERATIONS, ARGON2_MEMORY_KIB)?,
        salt,
        iterations: ARGON2_ITERATIONS,
        memory_kib: ARGON2_MEMORY_KIB,
    })
}

/// `path`, or the file it points to if it is a symbolic link.
fn followed(path: &Path) -> Result<PathBuf> {
    let is_link = std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink());
    if !is_link {
        return Ok(path.to_path_buf());
    }
    std::fs::canonicalize(path).map_err(|source| {
        Error::Profile(ProfileError::Io {
            path: path.to_path_buf(),
            source,
        })
    })
}

/// Reads at most one byte more than [`MAX_FILE_LEN`] from `path`, so a
/// file that grows (or a device that never ends) cannot exhaust memory.
fn read_bounded(path: &Path) -> std::io::Result<Zeroizing<Vec<u8>>> {
    use std::io::Read;
    let mut bytes = Zeroizing::new(Vec::new());
    std::fs::File::open(path)?
        .take(MAX_FILE_LEN + 1)
        .read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// A client's name: 1 to 255 bytes without control characters (it is
/// stored in the clear in the profile and in the database's `clients`
/// table, where PostgreSQL refuses a NUL).
fn check_client_name(name: &str) -> Result<()> {
    if !name.is_empty() && name.len() <= 255 && !name.chars().any(char::is_control) {
        Ok(())
    } else {
        Err(Error::InvalidInput(
            "a client name is 1 to 255 bytes without control characters",
        ))
    }
}

impl Profile {
    /// Creates a new identity and writes it to a new profile at `path`.
    /// Refuses to overwrite an existing file ([`ProfileError::Exists`](crate::ProfileError::Exists)),
    /// and a name that is empty, over 255 bytes or holds control characters
    /// ([`Error::InvalidInput`], before anything is written).
    pub fn create(path: impl AsRef<Path>, options: ProfileOptions<'_>) -> Result<Profile> {
        let path = path.as_ref().to_path_buf();
        if let Some(name) = options.name {
            check_client_name(name)?;
        }
        let sealing = options.passphrase.map(new_sealing).transpose()?;
        let profile = Profile {
            path,
            name: options.name.map(str::to_owned),
            identity: Identity::generate()?,
            pinned: BTreeMap::new(),
            peer_trust: PeerTrust::FirstUse,
            databases: BTreeMap::new(),
            recovery_client: None,
            verified_pins: BTreeSet::new(),
            sealing,
            stamp: None,
        };
        let mut profile = profile;
        let bytes = profile.to_json()?;
        write_atomically(&profile.path, &bytes, false).map_err(|source| {
            if source.kind() == std::io::ErrorKind::AlreadyExists {
                Error::Profile(ProfileError::Exists {
                    path: profile.path.clone(),
                })
            } else {
                Error::Profile(ProfileError::Io {
                    path: profile.path.clone(),
                    source,
                })
            }
        })?;
        profile.stamp = file_stamp(&profile.path);
        tracing::info!(client_id = %profile.identity.client_id(), sealed = profile.sealing.is_some(), "created profile");
        Ok(profile)
    }

    /// Loads the profile at `path`, opening it with `passphrase` if it is
    /// sealed.
    ///
    /// A `path` that is a symbolic link is followed once, here: the profile
    /// is read from, locked beside and saved to the file the link points
    /// to, and the link stays a link (an atomic save would otherwise
    /// replace the link with a file and leave its target behind, an older
    /// copy that no longer learns of rotations).
    pub fn load(path: impl AsRef<Path>, passphrase: Option<&str>) -> Result<Profile> {
        let path = followed(path.as_ref())?;
        let io = |source| {
            Error::Profile(ProfileError::Io {
                path: path.clone(),
                source,
            })
        };
        let metadata = std::fs::metadata(&path).map_err(io)?;
        // A file replaced between this stat and the read below is only read
        // again at the next refresh: the stamp is never newer than the data.
        warn_if_readable_by_others(&path, &metadata);
        if !metadata.is_file() {
            // A FIFO would block the read, a device never end it.
            return Err(malformed(&path, "not a regular file"));
        }
        if metadata.len() > MAX_FILE_LEN {
            return Err(malformed(&path, "file is too large to be a profile"));
        }
        let bytes = read_bounded(&path).map_err(io)?;
        if bytes.len() as u64 > MAX_FILE_LEN {
            return Err(malformed(&path, "file is too large to be a profile"));
        }
        let mut profile = Self::from_json_bytes(path, &bytes, Unlock::Passphrase(passphrase))?;
        profile.stamp = stamp_of(&metadata);
        Ok(profile)
    }

    /// The profile a file's bytes hold (what [`Profile::load`] does after
    /// reading the file); `path` only names it in errors.
    fn from_json_bytes(path: PathBuf, bytes: &[u8], unlock: Unlock<'_>) -> Result<Profile> {
        let probe: VersionProbe = serde_json::from_slice(bytes)
            .map_err(|_| malformed(&path, "not JSON (truncated or edited)"))?;
        let version = probe
            .strongroom_profile
            .as_ref()
            .and_then(serde_json::Value::as_u64)
            .ok_or_else(|| malformed(&path, "no format version: not a strongroom profile"))?;
        if !(u64::from(OLDEST_READABLE_VERSION)..=u64::from(PROFILE_VERSION)).contains(&version) {
            return Err(Error::Profile(ProfileError::Version {
                path,
                found: version,
                supported: PROFILE_VERSION,
            }));
        }
        let file: ProfileFile = serde_json::from_slice(bytes)
            .map_err(|_| malformed(&path, "fields missing, unknown or of the wrong type"))?;
        let version_1 = file.strongroom_profile == 1;
        if version_1 != file.key_versions.is_some()
            || (version_1
                && (!file.databases.is_empty()
                    || file.peer_trust != PeerTrust::FirstUse
                    || file.recovery_client.is_some()))
        {
            return Err(malformed(&path, "fields of another format version"));
        }
        if version_1 {
            tracing::warn!(
                path = %path.display(),
                "reading a version 1 profile: its rollback marks were kept by database URL and cannot be matched to a database identity; each database it wrote to must be adopted once (see SECURITY.md); it is saved as version 2 on its next change"
            );
        }
        Self::from_file(path, file, unlock)
    }

    /// Re-reads this profile's file (written meanwhile by another process
    /// using the same profile) and merges what it learnt: pins it lacks,
    /// higher key version marks, and the verified pins of keys it pinned
    /// too. A missing file merges nothing; a file this process cannot read
    /// or open, or another client's profile, is refused
    /// (`ProfileError::Malformed`), never overwritten.
    fn merge_from_disk(&mut self) -> Result<()> {
        let refuse = |reason| malformed(&self.path, reason);
        let unreadable = || {
            refuse("the file changed into something this process cannot read; not overwriting it")
        };
        if std::fs::metadata(&self.path).is_ok_and(|metadata| !metadata.is_file()) {
            return Err(unreadable());
        }
        let bytes = match read_bounded(&self.path) {
            Ok(bytes) if bytes.len() as u64 > MAX_FILE_LEN => return Err(unreadable()),
            Ok(bytes) => bytes,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(source) => {
                return Err(Error::Profile(ProfileError::Io {
                    path: self.path.clone(),
                    source,
                }))
            }
        };
        let file = serde_json::from_slice::<ProfileFile>(&bytes).map_err(|_| unreadable())?;
        let unlock = match &self.sealing {
            Some(sealing) => Unlock::Known(sealing),
            None => Unlock::Passphrase(None),
        };
        let other = Self::from_file(self.path.clone(), file, unlock).map_err(|_| {
            refuse("the file changed into something this process cannot open; not overwriting it")
        })?;
        if other.identity.public() != self.identity.public() {
            return Err(refuse(
                "the file now holds another client's profile; not overwriting it",
            ));
        }
        for (id, peer) in other.pinned {
            match self.pinned.get(&id) {
                None => {
                    self.pinned.insert(id, peer);
                }
                Some(mine) if *mine != peer => {
                    tracing::warn!(client_id = %id, "another process pinned different keys for a peer; keeping this process's pin");
                }
                Some(_) => {}
            }
        }
        for (database, marks) in other.databases {
            let mine = self.databases.entry(database).or_default();
            for (record_type, version) in marks {
                let mark = mine.entry(record_type).or_insert(version);
                *mark = (*mark).max(version);
            }
        }
        // A pin another process checked against a fingerprint, of the keys
        // this one pinned too.
        for id in other.verified_pins {
            if self.pinned.contains_key(&id) {
                self.verified_pins.insert(id);
            }
        }
        // Only ever changed through `update_file`, so the file's values are
        // the newest.
        self.peer_trust = other.peer_trust;
        self.recovery_client = other.recovery_client;
        Ok(())
    }
    /// Re-reads the profile file, under its lock, if another process (or
    /// another `Client` on this profile) replaced it since this one last
    /// read or wrote it, and merges what it learnt: pins, databases and
    /// higher key-version marks. Called before every decision that depends
    /// on the marks; when nothing changed it costs a lock and a `stat`.
    pub fn refresh(&mut self) -> Result<()> {
        let _lock = self.lock(false)?;
        let stamp = file_stamp(&self.path);
        if stamp.is_some() && stamp == self.stamp {
            return Ok(());
        }
        self.merge_from_disk()?;
        self.stamp = stamp;
        Ok(())
    }

    /// Runs `update` between re-reading the file and saving it, under an
    /// exclusive lock on `<profile>.lock`, so processes sharing the profile
    /// do not lose each other's pins and key marks.
    ///
    /// A change that cannot be saved is undone in this value too (the peer
    /// trust and the recovery client as the file holds them), so it never
    /// acts on a setting its file does not hold; pins and marks learnt
    /// stay, for the next save to record (a raised mark only refuses more).
    fn update_file<T>(&mut self, update: impl FnOnce(&mut Self) -> Result<T>) -> Result<T> {
        let _lock = self.lock(true)?;
        self.merge_from_disk()?;
        let saved = (self.peer_trust, self.recovery_client);
        let out = update(self)?;
        // A save killed before its rename left a whole copy of the profile
        // beside it; under the lock no save is under way, so each such
        // file is a leftover. Failing to remove one does not stop the save.
        match disk::remove_leftover_temps(&self.path, self.identity.client_id()) {
            Ok(0) => {}
            Ok(removed) => tracing::info!(
                removed,
                "removed temporary profile files a killed save left"
            ),
            Err(err) => {
                tracing::warn!(error = %err, "could not remove the temporary profile files a killed save left")
            }
        }
        if let Err(err) = self.write_file() {
            (self.peer_trust, self.recovery_client) = saved;
            return Err(err);
        }
        self.stamp = file_stamp(&self.path);
        Ok(out)
    }

    /// The newest access key version this client has used for its
    /// `record_type` in `database`, if any.
    pub fn key_version_mark(&self, database: DatabaseId, record_type: &str) -> Option<u32> {
        self.databases.get(&database)?.get(record_type).copied()
    }

    /// Whether this client has written to (or adopted) `database`.
    pub fn knows_database(&self, database: DatabaseId) -> bool {
        self.databases.contains_key(&database)
    }

    /// The databases this client has written to or adopted.
    pub fn databases(&self) -> impl Iterator<Item = DatabaseId> + '_ {
        self.databases.keys().copied()
    }

    /// Records `database` as one this client writes to (saved at once).
    pub(crate) fn remember_database(&mut self, database: DatabaseId) -> Result<()> {
        if self.knows_database(database) {
            return Ok(());
        }
        self.update_file(|profile| {
            profile.databases.entry(database).or_default();
            Ok(())
        })
    }

    /// Records that this client has used `version` of its access key for
    /// `record_type` in `database` (saved at once; lower values are
    /// ignored).
    pub(crate) fn raise_key_version_mark(
        &mut self,
        database: DatabaseId,
        record_type: &str,
        version: u32,
    ) -> Result<()> {
        if self
            .key_version_mark(database, record_type)
            .is_some_and(|mark| mark >= version)
        {
            return Ok(());
        }
        self.update_file(|profile| {
            let marks = profile.databases.entry(database).or_default();
            let mark = marks.entry(record_type.to_owned()).or_insert(version);
            *mark = (*mark).max(version);
            Ok(())
        })
    }

    /// Writes the profile back to its file, under its lock and merged with
    /// what other processes recorded there (pins, marks), atomically. A
    /// file this process can no longer read (another client's profile,
    /// or garbled) is refused, as every change refuses it, not replaced.
    pub fn save(&mut self) -> Result<()> {
        self.update_file(|_| Ok(()))
    }

    /// Writes this value to the profile's file, atomically (the caller
    /// holds the lock and merged the file first).
    fn write_file(&self) -> Result<()> {
        let bytes = self.to_json()?;
        write_atomically(&self.path, &bytes, true).map_err(|source| {
            Error::Profile(ProfileError::Io {
                path: self.path.clone(),
                source,
            })
        })
    }

    /// Which peers this client trusts the database to name.
    pub fn peer_trust(&self) -> PeerTrust {
        self.peer_trust
    }

    /// Sets which peers this client trusts (saved at once).
    pub fn set_peer_trust(&mut self, trust: PeerTrust) -> Result<()> {
        self.update_file(|profile| {
            profile.peer_trust = trust;
            Ok(())
        })
    }

    /// Every pinned peer, in ascending client id.
    pub fn pinned_peers(&self) -> impl Iterator<Item = &PublicIdentity> + '_ {
        self.pinned.values()
    }

    /// The client's identity.
    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    /// The client's name, if it was given one.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// Where the profile lives.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The recovery client every record type of this client is shared with
    /// and authorised to, if one is set ([`crate::Client::set_recovery_client`]).
    pub fn recovery_client(&self) -> Option<ClientId> {
        self.recovery_client
    }

    /// Sets the recovery client (saved at once).
    pub(crate) fn set_recovery_client(&mut self, recovery: Option<ClientId>) -> Result<()> {
        self.update_file(|profile| {
            profile.recovery_client = recovery;
            Ok(())
        })
    }

    /// Whether the secret keys are sealed under a passphrase.
    pub fn is_sealed(&self) -> bool {
        self.sealing.is_some()
    }

    /// Seals the secret keys under `passphrase` (a new random salt, the
    /// default Argon2id parameters), or with `None` stores them in the
    /// clear; the file is replaced atomically, under the profile's lock, so
    /// it holds either the old sealing or the new one, never a mix. A
    /// change that cannot be saved (an error) changes nothing: the file and
    /// this value keep the old sealing.
    ///
    /// Another process that has this profile open keeps the old key. After
    /// a new passphrase, its next change to the file is refused (it cannot
    /// open the new file) until it loads the profile again. After the
    /// passphrase is *removed*, it can open the plain file, and its next
    /// change saves the profile sealed under the old passphrase again:
    /// restart every process that has the profile open after any change of
    /// passphrase.
    ///
    /// ```
    /// use strongroom::{Profile, ProfileOptions};
    ///
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("alice.profile");
    /// let mut profile = Profile::create(&path, ProfileOptions::named("alice"))?;
    /// profile.set_passphrase(Some("correct horse battery staple"))?;
    /// assert!(Profile::load(&path, None).is_err());
    /// assert!(Profile::load(&path, Some("correct horse battery staple"))?.is_sealed());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn set_passphrase(&mut self, passphrase: Option<&str>) -> Result<()> {
        // Argon2id runs before the lock is taken: it takes a while.
        let sealing = passphrase.map(new_sealing).transpose()?;
        let mut before = None;
        let changed = self.update_file(|profile| {
            before = Some(std::mem::replace(&mut profile.sealing, sealing));
            Ok(())
        });
        if let Err(err) = changed {
            // Not saved: the file keeps the old sealing, and so does this
            // value (or it could no longer open its own file).
            if let Some(before) = before {
                self.sealing = before;
            }
            return Err(err);
        }
        tracing::info!(client_id = %self.identity.client_id(), sealed = self.sealing.is_some(), "changed the profile's passphrase");
        Ok(())
    }

    /// The keys pinned for `client_id`, if any.
    pub fn pinned(&self, client_id: ClientId) -> Option<&PublicIdentity> {
        self.pinned.get(&client_id)
    }

    /// Whether `client_id`'s pin was vouched for — checked against a
    /// fingerprint ([`crate::Client::pin_peer`]) or given by the caller
    /// ([`Profile::pin`]) — rather than taken from the database on first
    /// use: under [`PeerTrust::Verified`] only such pins are used.
    pub fn is_pin_verified(&self, client_id: ClientId) -> bool {
        self.verified_pins.contains(&client_id)
    }

    /// Pins `peer`'s public keys, which the caller vouches for (its own
    /// copy, or keys it checked against a fingerprint), and saves the
    /// profile; keys pinned already are checked against them: a
    /// difference is [`Error::KeyChanged`] and nothing is changed. Such a
    /// pin counts under [`PeerTrust::Verified`] ([`Profile::is_pin_verified`]).
    pub fn pin(&mut self, peer: &PublicIdentity) -> Result<()> {
        self.pin_keys(peer, true)
    }

    /// Pins the keys the database serves for a peer not pinned yet (trust
    /// on first use): such a pin does not count under
    /// [`PeerTrust::Verified`].
    pub(crate) fn pin_on_first_use(&mut self, peer: &PublicIdentity) -> Result<()> {
        self.pin_keys(peer, false)
    }

    fn pin_keys(&mut self, peer: &PublicIdentity, vouched: bool) -> Result<()> {
        let id = peer.client_id;
        match self.pinned.get(&id) {
            Some(pinned) if pinned != peer => {
                tracing::warn!(client_id = %id, "peer public keys differ from the pinned ones");
                return Err(Error::KeyChanged { client_id: id });
            }
            Some(_) if !vouched || self.is_pin_verified(id) => return Ok(()),
            _ => {}
        }
        self.update_file(|profile| {
            match profile.pinned.get(&id) {
                Some(pinned) if pinned != peer => return Err(Error::KeyChanged { client_id: id }),
                Some(_) => {}
                None => {
                    profile.pinned.insert(id, *peer);
                    tracing::debug!(client_id = %id, vouched, "pinned peer public keys");
                }
            }
            if vouched {
                profile.verified_pins.insert(id);
            }
            Ok(())
        })
    }
}

/// A passphrase key known in advance, for the hostile-input entry points
/// (`crate::__fuzz`): the key and the parameters that derived it.
pub(crate) struct KnownSealing {
    pub(crate) key: [u8; KEY_LEN],
    pub(crate) salt: [u8; SALT_LEN],
    pub(crate) iterations: u32,
    pub(crate) memory_kib: u32,
}

impl KnownSealing {
    fn sealing(&self) -> Sealing {
        Sealing {
            key: PassphraseKey::from_bytes(self.key),
            salt: self.salt,
            iterations: self.iterations,
            memory_kib: self.memory_kib,
        }
    }
}

/// Parses a profile file's bytes as [`Profile::load`] does once it has read
/// them: with no passphrase (a sealed file then stops before Argon2id), or
/// as a process that already derived `known`'s key (what a re-read does),
/// so that a sealed file's parameters, AAD and seal are checked without
/// running Argon2id. For the hostile-input entry points (`crate::__fuzz`).
pub(crate) fn parse_untrusted(bytes: &[u8], known: Option<&KnownSealing>) -> Result<Profile> {
    let path = PathBuf::from("<untrusted bytes>");
    match known {
        None => Profile::from_json_bytes(path, bytes, Unlock::Passphrase(None)),
        Some(known) => Profile::from_json_bytes(path, bytes, Unlock::Known(&known.sealing())),
    }
}

/// The file [`Profile::save`] writes for `identity` with these pins, plain
/// or sealed under `known`'s key: real files for the hostile-input seeds.
pub(crate) fn encode_for_seeds(
    identity: Identity,
    name: Option<&str>,
    pinned: &[PublicIdentity],
    databases: &[(DatabaseId, &str, u32)],
    known: Option<&KnownSealing>,
) -> Result<Vec<u8>> {
    let mut marks: BTreeMap<DatabaseId, Marks> = BTreeMap::new();
    for (database, record_type, version) in databases {
        marks
            .entry(*database)
            .or_default()
            .insert((*record_type).to_owned(), *version);
    }
    let profile = Profile {
        path: PathBuf::from("<seed>"),
        name: name.map(str::to_owned),
        identity,
        pinned: pinned.iter().map(|peer| (peer.client_id, *peer)).collect(),
        peer_trust: PeerTrust::FirstUse,
        databases: marks,
        recovery_client: None,
        verified_pins: BTreeSet::new(),
        sealing: known.map(KnownSealing::sealing),
        stamp: None,
    };
    Ok(profile.to_json()?.to_vec())
}
