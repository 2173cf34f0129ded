//! What the tool prints for scripts: JSON.

use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::{json, Value};
use strongroom::{Record, RecordMeta, Share, ShareKind};

/// A record's meta; a file record's also has `file_size`, its body's
/// length in bytes.
pub fn meta(meta: &RecordMeta) -> Value {
    let mut out = json!({
        "id": meta.id.to_string(),
        "version": meta.version,
        "writer_id": meta.writer_id.to_string(),
        "record_type": meta.record_type,
        "key_version": meta.key_version,
        "plain": meta.plain,
        "created_at": meta.created_at.to_rfc3339(),
        "updated_at": meta.updated_at.to_rfc3339(),
    });
    if let Some(size) = meta.file_size {
        out["file_size"] = size.into();
    }
    out
}

/// Prints a record on one line: `{"data":{…},"meta":{…}}`, or only its
/// meta. The data is the fields as stored (`Record::data_json_text`), so a
/// program's `u128` prints exactly, not as a float.
pub fn record_line(record: &Record, with_data: bool) -> anyhow::Result<()> {
    let meta = meta(record.meta());
    if with_data {
        let data = record.data_json_text()?;
        stdout_line(format_args!(
            "{{\"data\":{},\"meta\":{meta}}}",
            data.as_str()
        ));
    } else {
        line(&json!({ "meta": meta }));
    }
    Ok(())
}

pub fn share(share: &Share, direction: &str) -> Value {
    let kind = match share.kind {
        ShareKind::Read => "read",
        ShareKind::Authorize => "authorize",
        _ => "other",
    };
    json!({
        "direction": direction,
        "writer_id": share.writer_id.to_string(),
        "record_type": share.record_type,
        "client_id": share.reader_id.to_string(),
        "kind": kind,
        "granted_by": share.granted_by.to_string(),
        "since": share.since.to_rfc3339(),
    })
}

/// Prints one JSON value on one line.
pub fn line(value: &Value) {
    stdout_line(format_args!("{value}"));
}

/// Whether the reader of standard output went away (a broken pipe).
static READER_GONE: AtomicBool = AtomicBool::new(false);

/// Whether the reader of standard output went away: listings stop
/// fetching pages nobody reads.
pub fn reader_gone() -> bool {
    READER_GONE.load(Ordering::Relaxed)
}

/// Prints one line on standard output. A reader that went away
/// (`strongroom whoami | head -n1`) takes no more lines, quietly, as with
/// ripgrep; the command still ends with its own verdict: status 0 only if
/// it succeeded (an `import --verify` that found a mismatch still exits 1
/// under `… | head`). Any other write error (a full disk behind a
/// redirection) is one `error:` line and status 1, not a panic.
pub fn stdout_line(line: std::fmt::Arguments<'_>) {
    use std::io::Write;
    if reader_gone() {
        return;
    }
    let mut out = std::io::stdout().lock();
    if let Err(err) = out.write_fmt(line).and_then(|()| out.write_all(b"\n")) {
        if err.kind() == std::io::ErrorKind::BrokenPipe {
            READER_GONE.store(true, Ordering::Relaxed);
            return;
        }
        crate::say_error(format_args!(
            "error: writing to standard output: {err}{}",
            crate::held_stderr::as_suffix()
        ));
        std::process::exit(1);
    }
}

/// `println!` through [`stdout_line`].
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::output::stdout_line(format_args!($($arg)*))
    };
}
