//! Where `file get --out PATH` writes a body until it is whole and
//! verified.
//!
//! On Linux, a file with no name (`O_TMPFILE`) in PATH's folder, linked
//! into place only at the end: a kill at any moment, `kill -9` included,
//! leaves no decrypted part behind (the kernel drops a file nothing names).
//! Elsewhere, or on a filesystem without unnamed files, a named
//! `.strongroom-XXXXXX.part` (mode 0600) beside PATH, removed on any
//! failure and on Ctrl-C, SIGTERM or SIGHUP ([`crate::interrupt`]); only
//! SIGKILL or a crash can leave it.

use std::fs::File;
use std::io;
use std::path::Path;

use crate::interrupt::{Guard, Signals};

/// A body being written.
pub enum Partial {
    /// No name until [`Partial::persist`] links it into place.
    #[cfg(target_os = "linux")]
    Unnamed(File),
    /// A named temporary file, and the guard that lets a signal remove it
    /// first (fields drop in order: the file, then the guard).
    Named(tempfile::NamedTempFile, Guard),
}

impl Partial {
    /// A new, empty partial body in `dir`.
    pub fn create(dir: &Path) -> io::Result<Partial> {
        #[cfg(target_os = "linux")]
        if let Some(file) = unnamed(dir) {
            return Ok(Partial::Unnamed(file));
        }
        // The guard first: a signal between the file's creation and the
        // guard would leave the file.
        let guard = Guard::new(Signals::Stop);
        Ok(Partial::Named(part_names().tempfile_in(dir)?, guard))
    }

    pub fn file(&self) -> &File {
        match self {
            #[cfg(target_os = "linux")]
            Partial::Unnamed(file) => file,
            Partial::Named(temp, _) => temp.as_file(),
        }
    }

    pub fn file_mut(&mut self) -> &mut File {
        match self {
            #[cfg(target_os = "linux")]
            Partial::Unnamed(file) => file,
            Partial::Named(temp, _) => temp.as_file_mut(),
        }
    }

    /// Puts the body at `target` (in `dir`): never over an existing file
    /// unless `force` ([`io::ErrorKind::AlreadyExists`]), and with `force`
    /// by a rename, so `target` is the old file or the whole new one.
    pub fn persist(self, target: &Path, dir: &Path, force: bool) -> io::Result<()> {
        match self {
            #[cfg(target_os = "linux")]
            Partial::Unnamed(file) => {
                if force {
                    // A name of its own first (it exists only for the
                    // moment of the rename, the body whole by then).
                    let named = part_names().make_in(dir, |path| link(&file, path))?;
                    named.persist(target).map_err(|err| err.error)?;
                    Ok(())
                } else {
                    link(&file, target)
                }
            }
            Partial::Named(temp, _guard) => {
                let _ = dir;
                if force {
                    temp.persist(target).map(drop).map_err(|err| err.error)
                } else {
                    temp.persist_noclobber(target)
                        .map(drop)
                        .map_err(|err| err.error)
                }
            }
        }
    }
}

/// `.strongroom-XXXXXX.part`, mode 0600.
fn part_names() -> tempfile::Builder<'static, 'static> {
    let mut builder = tempfile::Builder::new();
    builder.prefix(".strongroom-").suffix(".part");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o600));
    }
    builder
}

/// A file with no name in `dir` (mode 0600), if the kernel, the
/// filesystem and `/proc` (which linking it needs) allow one.
#[cfg(target_os = "linux")]
fn unnamed(dir: &Path) -> Option<File> {
    use rustix::fs::{Mode, OFlags};
    if !Path::new("/proc/self/fd").is_dir() {
        return None;
    }
    rustix::fs::open(
        dir,
        OFlags::WRONLY | OFlags::TMPFILE | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o600),
    )
    .ok()
    .map(File::from)
}

/// Gives the unnamed `file` the name `to` (failing if `to` exists).
#[cfg(target_os = "linux")]
fn link(file: &File, to: &Path) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let open_file = format!("/proc/self/fd/{}", file.as_raw_fd());
    rustix::fs::linkat(
        rustix::fs::CWD,
        open_file.as_str(),
        rustix::fs::CWD,
        to,
        rustix::fs::AtFlags::SYMLINK_FOLLOW,
    )
    .map_err(io::Error::from)
}
