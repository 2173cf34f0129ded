//! Progress bars for long work: drawn on a terminal, silent otherwise.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A bar of `total` steps (or a spinner without a total) on stderr, hidden
/// when stderr is not a terminal.
pub fn bar(total: Option<u64>, what: &str) -> ProgressBar {
    let bar = match total {
        Some(total) => ProgressBar::new(total),
        None => ProgressBar::new_spinner(),
    };
    if std::io::stderr().is_terminal() {
        bar.set_draw_target(ProgressDrawTarget::stderr());
        let template = if total.is_some() {
            "{msg} [{bar:40}] {pos}/{len} ({per_sec}, {eta})"
        } else {
            "{msg} {spinner} {pos}"
        };
        if let Ok(style) = ProgressStyle::with_template(template) {
            bar.set_style(style.progress_chars("=> "));
        }
    } else {
        bar.set_draw_target(ProgressDrawTarget::hidden());
    }
    bar.set_message(what.to_owned());
    bar
}

/// Transfers of at least this many bytes get a bar (on a terminal).
pub const BYTES_BAR_FROM: u64 = 4 * 1024 * 1024;

/// Counts the bytes of a file transfer and shows them on a bar of `total`
/// bytes once the transfer is known to reach [`BYTES_BAR_FROM`]: at once
/// when `total` says so, or (no total) once that many bytes went by, as a
/// spinner. Cleared when dropped.
pub struct Meter {
    what: &'static str,
    total: Option<u64>,
    done: u64,
    bar: Option<ProgressBar>,
}

impl Meter {
    pub fn new(total: Option<u64>, what: &'static str) -> Meter {
        let bar = total
            .filter(|total| *total >= BYTES_BAR_FROM)
            .map(|total| bytes_bar(Some(total), what));
        Meter {
            what,
            total,
            done: 0,
            bar,
        }
    }

    pub fn add(&mut self, bytes: usize) {
        self.done += bytes as u64;
        if self.bar.is_none() && self.total.is_none() && self.done >= BYTES_BAR_FROM {
            self.bar = Some(bytes_bar(None, self.what));
        }
        if let Some(bar) = &self.bar {
            bar.set_position(self.done);
        }
    }
}

impl Drop for Meter {
    fn drop(&mut self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

fn bytes_bar(total: Option<u64>, what: &str) -> ProgressBar {
    let bar = bar(total, what);
    if std::io::stderr().is_terminal() {
        let template = if total.is_some() {
            "{msg} [{bar:40}] {bytes}/{total_bytes} ({bytes_per_sec}, {eta})"
        } else {
            "{msg} {spinner} {bytes} ({bytes_per_sec})"
        };
        if let Ok(style) = ProgressStyle::with_template(template) {
            bar.set_style(style.progress_chars("=> "));
        }
    }
    bar
}

/// A reader whose bytes are counted on a [`Meter`].
pub struct Metered<R> {
    inner: R,
    meter: Meter,
}

impl<R> Metered<R> {
    pub fn new(inner: R, meter: Meter) -> Metered<R> {
        Metered { inner, meter }
    }
}

impl<R: std::io::Read> std::io::Read for Metered<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.meter.add(n);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn a_metered_reader_passes_every_byte_and_counts_them() {
        let body: Vec<u8> = (0..5 * 1024 * 1024u32).map(|i| i as u8).collect();
        let mut reader = Metered::new(&body[..], Meter::new(None, "test"));
        let mut back = Vec::new();
        reader.read_to_end(&mut back).unwrap();
        assert_eq!(back, body);
        assert_eq!(reader.meter.done, body.len() as u64);
        assert!(reader.meter.bar.is_some(), "a spinner past the threshold");
        assert!(Meter::new(Some(BYTES_BAR_FROM - 1), "small").bar.is_none());
        assert!(Meter::new(Some(BYTES_BAR_FROM), "large").bar.is_some());
    }
}
