//! The client's profile as this process holds it: one lock around the
//! loaded file, so that pins, peer trust, the recovery client and the
//! key-version marks change one at a time. Each change writes the file
//! atomically and under its file lock (see [`crate::profile`]); the rules
//! that read it live with their jobs (`marks.rs`, `peers.rs`,
//! `recovery.rs`).

use std::sync::{Mutex, PoisonError};

use crate::profile::Profile;

/// The loaded profile, behind a lock.
pub(super) struct LocalProfile(Mutex<Profile>);

impl LocalProfile {
    pub(super) fn new(profile: Profile) -> Self {
        LocalProfile(Mutex::new(profile))
    }

    /// Runs `f` with the profile locked (a panic in another holder does
    /// not lock it out: the file on disk is only ever replaced whole).
    pub(super) fn with<T>(&self, f: impl FnOnce(&mut Profile) -> T) -> T {
        f(&mut self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }
}
