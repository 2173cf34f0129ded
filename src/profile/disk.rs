//! The profile on disk: atomic writes with mode 0600, the stamp that tells
//! whether another process replaced the file, its lock file, and the
//! warning for a file others can read.

use super::*;

/// What identifies the file last read or written, so that a re-read is
/// skipped when nothing replaced it (every save is a rename: a new inode).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct FileStamp {
    dev: u64,
    ino: u64,
    len: u64,
    modified: Option<std::time::SystemTime>,
}

/// The stamp of the file at `path` now (`None` if it cannot be read).
pub(super) fn file_stamp(path: &Path) -> Option<FileStamp> {
    std::fs::metadata(path).ok().as_ref().and_then(stamp_of)
}

#[cfg(unix)]
pub(super) fn stamp_of(metadata: &std::fs::Metadata) -> Option<FileStamp> {
    use std::os::unix::fs::MetadataExt;
    Some(FileStamp {
        dev: metadata.dev(),
        ino: metadata.ino(),
        len: metadata.len(),
        modified: metadata.modified().ok(),
    })
}

/// Without inode numbers a stamp cannot prove the file unchanged: every
/// refresh reads it again.
#[cfg(not(unix))]
pub(super) fn stamp_of(_metadata: &std::fs::Metadata) -> Option<FileStamp> {
    None
}

#[cfg(unix)]
pub(super) fn warn_if_readable_by_others(path: &Path, metadata: &std::fs::Metadata) {
    use std::os::unix::fs::PermissionsExt;
    let mode = metadata.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        tracing::warn!(
            path = %path.display(),
            mode = format_args!("{mode:o}"),
            "profile is readable by other users; it holds secret keys (chmod 600 it)"
        );
    }
}

#[cfg(not(unix))]
pub(super) fn warn_if_readable_by_others(_path: &Path, _metadata: &std::fs::Metadata) {}

/// The folder `path` is in.
fn folder_of(path: &Path) -> &Path {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    }
}

/// The name every temporary file of the profile at `path` starts with:
/// `.<file name>.tmp-`, its own (another profile in the same folder has
/// another).
fn temp_prefix(path: &Path) -> std::ffi::OsString {
    let mut prefix = std::ffi::OsString::from(".");
    prefix.push(path.file_name().unwrap_or_default());
    prefix.push(".tmp-");
    prefix
}

/// Removes the temporary files a save of the profile at `path` left when
/// its process was killed before the rename (each a whole copy of the
/// profile, secret keys included). Called under the profile's exclusive
/// lock, when no save of it is under way; returns how many it removed.
/// Only a file named as a save names its temporary file (the prefix and
/// six letters or digits) that holds a profile of `client_id`, or what a
/// killed save left of one, is removed: never another file that happens
/// to share the prefix.
pub(super) fn remove_leftover_temps(path: &Path, client_id: ClientId) -> std::io::Result<usize> {
    let prefix = temp_prefix(path);
    let prefix = prefix.as_encoded_bytes();
    let mut removed = 0;
    for entry in std::fs::read_dir(folder_of(path))? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(suffix) = name.as_encoded_bytes().strip_prefix(prefix) else {
            continue;
        };
        if suffix.len() != 6 || !suffix.iter().all(u8::is_ascii_alphanumeric) {
            continue;
        }
        if !entry.file_type()?.is_file() || !holds_profile_of(&entry.path(), client_id) {
            continue;
        }
        std::fs::remove_file(entry.path())?;
        removed += 1;
    }
    Ok(removed)
}

/// Whether the file at `path` is a profile of `client_id`, or what a save
/// killed part-way left of one: empty, or holding the client's id (a save
/// writes it near the start), read up to the size a profile may have.
fn holds_profile_of(path: &Path, client_id: ClientId) -> bool {
    let Ok(bytes) = read_bounded(path) else {
        return false;
    };
    let id = client_id.to_string();
    bytes.len() as u64 <= MAX_FILE_LEN
        && (bytes.is_empty() || bytes.windows(id.len()).any(|w| w == id.as_bytes()))
}

/// Writes `bytes` to `path` through a 0600 temporary file in the same folder,
/// synced and renamed into place. With `replace` false an existing file is
/// left alone and the error is `AlreadyExists`.
pub(super) fn write_atomically(path: &Path, bytes: &[u8], replace: bool) -> std::io::Result<()> {
    let dir = folder_of(path);
    let mut temp = tempfile::Builder::new()
        .prefix(&temp_prefix(path))
        .tempfile_in(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        temp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    temp.write_all(bytes)?;
    temp.as_file().sync_all()?;
    if replace {
        temp.persist(path).map_err(|e| e.error)?;
    } else {
        temp.persist_noclobber(path).map_err(|e| e.error)?;
    }
    #[cfg(unix)]
    std::fs::File::open(dir)?.sync_all()?;
    Ok(())
}

impl Profile {
    /// Opens (creating) `<profile>.lock` and locks it, shared or
    /// exclusive; the lock is released when the file is dropped.
    pub(super) fn lock(&self, exclusive: bool) -> Result<std::fs::File> {
        let mut lock_path = self.path.clone().into_os_string();
        lock_path.push(".lock");
        let io = |source| {
            Error::Profile(ProfileError::Io {
                path: self.path.clone(),
                source,
            })
        };
        let mut options = std::fs::OpenOptions::new();
        options.create(true).truncate(false).write(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let lock = options.open(&lock_path).map_err(io)?;
        if exclusive {
            lock.lock().map_err(io)?;
        } else {
            lock.lock_shared().map_err(io)?;
        }
        Ok(lock)
    }
}
