//! What the CLI says on stderr besides the error, held back at the
//! default verbosity so that a failing command ends with exactly one line
//! on stderr (README: "one line `error: …` on stderr").
//!
//! Without `-v` or `RUST_LOG`, the library's warnings (tracing events) and
//! the CLI's own notes ([`note!`]) are kept in memory. When the command
//! succeeds they are written out in the order they came; when it fails,
//! they are folded into the one `error: …` line as `(after warnings: …)`.
//! With `-v` or `RUST_LOG` everything is written as it happens. None of it
//! carries plaintext, keys or ciphertext (the library's events never do;
//! the notes hold counts, ids, names and paths).

use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};

/// At most this many of the library's lines are kept; later ones are only
/// counted. The CLI's own notes ([`note!`]) are always kept: they are few,
/// and some are part of a command's answer (`more: --after …`).
const MAX_HELD: usize = 100;

static HOLDING: AtomicBool = AtomicBool::new(false);

static HELD: Mutex<Held> = Mutex::new(Held {
    text: Vec::new(),
    lines: 0,
    dropped: 0,
    messages: Vec::new(),
});

struct Held {
    /// Whole lines, each ending in a newline.
    text: Vec<u8>,
    /// The library's lines kept.
    lines: usize,
    /// The library's lines only counted.
    dropped: usize,
    /// The library's lines kept, without their time: a line given again
    /// (one check made twice in one command) is neither kept nor counted.
    messages: Vec<Vec<u8>>,
}

fn held() -> MutexGuard<'static, Held> {
    HELD.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Holds stderr from now on (the default verbosity).
pub fn hold() {
    HOLDING.store(true, Ordering::SeqCst);
}

/// Whether stderr is held.
pub fn holding() -> bool {
    HOLDING.load(Ordering::SeqCst)
}

fn keep(bytes: &[u8], own: bool) {
    let mut held = held();
    if own {
        held.text.extend_from_slice(bytes);
        return;
    }
    for line in bytes.split_inclusive(|&b| b == b'\n') {
        let message = without_time(line).to_vec();
        if held.messages.contains(&message) {
            continue;
        }
        if held.lines >= MAX_HELD {
            held.dropped += 1;
        } else {
            held.lines += 1;
            held.text.extend_from_slice(line);
            held.messages.push(message);
        }
    }
}

/// A library line without the time it starts with (`<time>  WARN …`).
fn without_time(line: &[u8]) -> &[u8] {
    match line.iter().position(|&b| b == b' ') {
        Some(space) => &line[space..],
        None => line,
    }
}

/// Says `line` on stderr: now, or when the command ends if stderr is held.
pub fn say(line: std::fmt::Arguments<'_>) {
    if holding() {
        keep(format!("{line}\n").as_bytes(), true);
    } else {
        // A closed stderr loses the line, not the exit status.
        let _ = writeln!(io::stderr().lock(), "{line}");
    }
}

/// `eprintln!` for the CLI's notes and warnings, through [`say`].
macro_rules! note {
    ($($arg:tt)*) => {
        $crate::held_stderr::say(format_args!($($arg)*))
    };
}
pub(crate) use note;

/// A `tracing_subscriber` writer into the held lines (each formatted
/// event is written whole, ending in a newline).
pub struct HeldWriter;

impl Write for HeldWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        keep(buf, false);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Writes the held lines to stderr in their order (the command
/// succeeded); nothing when stderr is not held.
pub fn release() {
    if !holding() {
        return;
    }
    let held = held();
    let mut stderr = io::stderr().lock();
    let _ = stderr.write_all(&held.text);
    if held.dropped > 0 {
        let _ = writeln!(stderr, "... and {} more line(s)", held.dropped);
    }
}

/// The held lines as a suffix for the error line (the command failed):
/// empty when there were none (or stderr is not held), else
/// ` (after warnings: …; …)`.
pub fn as_suffix() -> String {
    if !holding() {
        return String::new();
    }
    let held = held();
    let text = String::from_utf8_lossy(&held.text);
    let mut lines: Vec<&str> = text
        .lines()
        .map(|line| {
            // A library event, "<time>  WARN <message> <fields>": what
            // follows the level. A note of the CLI: the whole line.
            match line.find(" WARN ") {
                Some(at) => line[at + " WARN ".len()..].trim(),
                None => line.trim(),
            }
        })
        .filter(|line| !line.is_empty())
        .collect();
    let more = format!("and {} more", held.dropped);
    if held.dropped > 0 {
        lines.push(&more);
    }
    if lines.is_empty() {
        String::new()
    } else {
        format!(" (after warnings: {})", lines.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn held_warnings_and_notes_fold_into_one_suffix_in_their_order() {
        assert_eq!(as_suffix(), "", "nothing held before hold()");
        hold();
        assert_eq!(as_suffix(), "");
        HeldWriter
            .write_all(
                b"2026-12-06T19:00:00.000000Z  WARN a record batch failed verification batch_id=7\n",
            )
            .unwrap();
        note!("warning: {} record(s) were left as they were", 2);
        // The same warning again is told once.
        HeldWriter
            .write_all(
                b"2026-12-06T19:00:01.000000Z  WARN a record batch failed verification batch_id=7\n",
            )
            .unwrap();
        assert_eq!(
            as_suffix(),
            " (after warnings: a record batch failed verification batch_id=7; \
             warning: 2 record(s) were left as they were)"
        );
        for n in 0..MAX_HELD + 3 {
            HeldWriter
                .write_all(format!("2026-12-06T19:00:00.000000Z  WARN line {n}\n").as_bytes())
                .unwrap();
        }
        // The CLI's own notes are kept past the library's cap.
        note!("more: --after 42");
        let suffix = as_suffix();
        assert!(
            suffix.ends_with("; more: --after 42; and 4 more)"),
            "{suffix}"
        );
        assert!(!suffix.contains('\n'), "{suffix}");
    }
}
