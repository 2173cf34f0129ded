//! `file put|get|ls`: file records, streamed in and out one chunk at a
//! time. `get` writes beside its destination and renames only after the
//! whole body verified, so a failed or tampered read leaves no file.

use std::fs::File;
use std::io::{self, Read, Write};
use std::ops::Deref;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use strongroom::{Client, FileReader, Plain, RecordId};

use crate::cli::FileCommand;
use crate::commands::{parse_record_id, Listing};
use crate::partial::Partial;
use crate::progress::{Meter, Metered};
use crate::values;

/// Runs a `file` command; `client` opens the client once the arguments
/// were checked.
pub fn run<C: Deref<Target = Client>>(
    command: &FileCommand,
    client: impl FnOnce() -> Result<C>,
) -> Result<()> {
    match command {
        FileCommand::Put {
            path,
            record_type,
            plain,
        } => {
            let plain: Plain = values::plain_pairs(plain)?.into_iter().collect();
            put(path, record_type, &plain, client)
        }
        FileCommand::Get { id, out, force } => {
            let id = parse_record_id(id)?;
            if out.as_os_str() == "-" {
                get_to_stdout(&*client()?, id)
            } else {
                let target = Target::check(out, *force)?;
                get_to_path(&*client()?, id, &target)
            }
        }
        FileCommand::Ls {
            record_type,
            writer,
            all_writers,
            plain,
            limit,
            after,
        } => {
            let listing = Listing {
                record_type: Some(record_type),
                writers: writer,
                all_writers: *all_writers,
                plain,
                limit: *limit,
                after: after.as_deref(),
                data: false,
            };
            let query = listing.query()?;
            listing.print(&*client()?, query, |r| r.meta().file_size.is_some())
        }
    }
}

/// `file put`: the source is opened (and a directory refused) before the
/// client; the id is printed alone on the last line.
fn put<C: Deref<Target = Client>>(
    path: &Path,
    record_type: &str,
    plain: &Plain,
    client: impl FnOnce() -> Result<C>,
) -> Result<()> {
    let (source, total, name): (Box<dyn Read>, Option<u64>, String) = if path.as_os_str() == "-" {
        // Not locked here: a passphrase may still be asked for.
        (Box::new(io::stdin()), None, "standard input".into())
    } else {
        let name = path.display().to_string();
        let file = File::open(path).with_context(|| format!("opening {name}"))?;
        let about = file.metadata().with_context(|| format!("opening {name}"))?;
        if about.is_dir() {
            bail!("{name} is a directory (file put takes one file, or - for standard input)");
        }
        // A pipe or device has no length to show.
        let total = about.is_file().then_some(about.len());
        (Box::new(file), total, name)
    };
    let client = client()?;
    let body = Metered::new(source, Meter::new(total, "encrypting"));
    let meta = client
        .put_file(record_type, plain, body)
        .map_err(|err| match err {
            err @ strongroom::Error::BodyIo { .. } => {
                anyhow::Error::new(err).context(format!("reading {name}; the file was not stored"))
            }
            other => other.into(),
        })?;
    crate::out!("{}", meta.id);
    Ok(())
}

/// `file get --out -`: the body to stdout as it verifies; on failure
/// stdout holds at most a prefix (never the last chunk).
///
/// A reader that goes away (`file get ID --out - | head -c 100`) ends the
/// command quietly with status 0, as `ls | head` does: it took what it
/// wanted, every byte of which came from a chunk that authenticated (the
/// body as a whole is verified only at its end, never reached).
fn get_to_stdout(client: &Client, id: RecordId) -> Result<()> {
    let mut reader = open(client, id)?;
    let mut out = io::BufWriter::with_capacity(COPY_BUFFER, io::stdout().lock());
    match copy_body(&mut reader, &mut out) {
        Ok(()) => Ok(()),
        Err(err) if err.is::<ReaderGone>() => {
            // Nothing more can be written; the buffer's bytes are dropped.
            let _ = out.into_parts();
            Ok(())
        }
        Err(err) => Err(err.context(format!(
            "reading file {id} (standard output may hold a prefix of its body, never its end)"
        ))),
    }
}

/// The reader of what `copy_body` writes went away (a broken pipe).
#[derive(Debug)]
struct ReaderGone;

impl std::fmt::Display for ReaderGone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("writing the body: the reader went away (broken pipe)")
    }
}

impl std::error::Error for ReaderGone {}

/// A write error of `copy_body`: [`ReaderGone`] for a broken pipe.
fn write_error(err: io::Error) -> anyhow::Error {
    if err.kind() == io::ErrorKind::BrokenPipe {
        anyhow::Error::new(ReaderGone)
    } else {
        anyhow::Error::new(err).context("writing the body")
    }
}

/// Opens file record `id`, its record verified; a record that is not a
/// file is named as such, with the command that reads it.
fn open(client: &Client, id: RecordId) -> Result<FileReader> {
    client.open_file(id).map_err(|err| match err {
        strongroom::Error::NotAFile { .. } => {
            anyhow::anyhow!("record {id} is not a file (read it with `strongroom read {id}`)")
        }
        other => other.into(),
    })
}

/// Where `file get` puts a body: the path, and the folder its temporary
/// file goes in (the same one, so the rename is atomic).
struct Target {
    path: PathBuf,
    dir: PathBuf,
    force: bool,
}

impl Target {
    /// Checks `--out` before anything is read: an existing file only with
    /// `--force` and only a regular one, never a directory.
    fn check(path: &Path, force: bool) -> Result<Target> {
        let name = path.display();
        // `out/` names a folder, existing or not: refused before anything
        // is decrypted, not at the rename after.
        if path
            .as_os_str()
            .to_string_lossy()
            .ends_with(std::path::MAIN_SEPARATOR)
        {
            bail!("--out {name} names a folder; give the file's path");
        }
        match path.symlink_metadata() {
            Ok(about) if about.is_dir() => bail!("--out {name} is a directory"),
            Ok(_) if !force => {
                bail!("{name} already exists; refusing to overwrite it (use --force to replace it)")
            }
            // The rename would replace a link, a device or a pipe itself.
            Ok(about) if !about.is_file() => {
                bail!("--out {name} is not a regular file (a symbolic link, device or pipe); refusing to replace it")
            }
            Ok(_) => {}
            Err(err) if err.kind() == io::ErrorKind::NotFound => {}
            Err(err) => return Err(anyhow::Error::new(err).context(format!("checking {name}"))),
        }
        let dir = match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.to_owned(),
            _ => PathBuf::from("."),
        };
        if !dir.is_dir() {
            bail!("--out {name}: the folder {} does not exist", dir.display());
        }
        Ok(Target {
            path: path.to_owned(),
            dir,
            force,
        })
    }
}

/// `file get --out PATH`: the body into a partial file in PATH's folder
/// ([`Partial`]: on Linux one with no name), synced, then put at PATH once
/// the whole body verified. Any failure drops the partial file, which
/// removes it.
fn get_to_path(client: &Client, id: RecordId, target: &Target) -> Result<()> {
    let name = target.path.display();
    let mut reader = open(client, id)?;
    let mut partial = Partial::create(&target.dir)
        .with_context(|| format!("creating a temporary file in {}", target.dir.display()))?;
    copy_body(&mut reader, partial.file_mut())
        .map_err(|err| err.context(format!("reading file {id} (nothing was written to {name})")))?;
    partial
        .file()
        .sync_all()
        .with_context(|| format!("writing {name} (nothing was written to it)"))?;
    // Not over a file that appeared since `Target::check`, unless --force.
    partial
        .persist(&target.path, &target.dir, target.force)
        .map_err(|err| {
            let hint = if err.kind() == io::ErrorKind::AlreadyExists {
                " (it appeared while the body was read; use --force to replace it)"
            } else {
                ""
            };
            anyhow::Error::new(err).context(format!("putting the body at {name}{hint}"))
        })?;
    sync_dir(&target.dir);
    Ok(())
}

/// Makes the rename durable where the platform allows it. The body is in
/// place already, so a failure here is not reported: the file is whole,
/// only a crash in the next moments could lose the rename.
fn sync_dir(dir: &Path) {
    #[cfg(unix)]
    if let Ok(dir) = File::open(dir) {
        let _ = dir.sync_all();
    }
    #[cfg(not(unix))]
    let _ = dir;
}

/// One chunk of the default size: what the reader returns at most at once.
const COPY_BUFFER: usize = 64 * 1024;

/// Copies a file body to `out` with a progress bar for large bodies,
/// naming which side failed: the body (the library's error, e.g.
/// [`strongroom::Error::Decryption`]) or the destination.
fn copy_body(reader: &mut FileReader, out: &mut impl Write) -> Result<()> {
    let mut meter = Meter::new(reader.meta().file_size, "decrypting");
    let mut buf = vec![0u8; COPY_BUFFER];
    loop {
        crate::interrupt::check()?;
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(body_error(err)),
        };
        out.write_all(&buf[..n]).map_err(write_error)?;
        meter.add(n);
    }
    out.flush().map_err(write_error)
}

/// The library's own error back out of the reader's [`io::Error`].
fn body_error(err: io::Error) -> anyhow::Error {
    if !err
        .get_ref()
        .is_some_and(|inner| inner.is::<strongroom::Error>())
    {
        return err.into();
    }
    match err
        .into_inner()
        .map(|inner| inner.downcast::<strongroom::Error>())
    {
        Some(Ok(inner)) => (*inner).into(),
        Some(Err(other)) => anyhow::anyhow!(other),
        None => anyhow::anyhow!("reading the body failed"),
    }
}
