//! Ctrl-C (SIGINT), SIGTERM and SIGHUP around work that must clean up
//! first.
//!
//! Outside a [`Guard`] these signals end the tool at once, as they always
//! did. Inside one, the first signal it covers only raises a flag: the work
//! sees it ([`check`]) and ends through its own error path (a named
//! temporary file of `file get --out`, which holds decrypted plaintext,
//! removed; the terminal the passphrase prompt set to no echo restored),
//! and when the guard drops the signal's default action runs, so the tool
//! still ends as interrupted (the shell sees the signal, not an exit
//! status). A second signal while guarded ends the tool at once: work
//! waiting on the database, which checks no flag, is never left
//! unstoppable but by SIGKILL.

/// The signals a guard may cover.
#[derive(Clone, Copy)]
pub enum Signals {
    /// Ctrl-C only: what the passphrase prompt itself raises when Ctrl-C is
    /// typed (its terminal mode turns the key into a byte, not a signal).
    Interrupt,
    /// Ctrl-C, SIGTERM and SIGHUP: for work that checks [`check`] often.
    Stop,
}

/// The tool was interrupted inside a guard (an error that unwinds to it).
#[derive(Debug)]
pub struct Interrupted;

impl std::fmt::Display for Interrupted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("interrupted")
    }
}

impl std::error::Error for Interrupted {}

#[cfg(unix)]
mod imp {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, OnceLock};

    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};

    use super::Signals;

    /// Per signal: whether it arrived, and whether its default action
    /// runs at once (outside a guard).
    struct Watch {
        signal: i32,
        arrived: Arc<AtomicBool>,
        immediate: Arc<AtomicBool>,
    }

    fn watches() -> Option<&'static [Watch]> {
        static WATCHES: OnceLock<Option<Vec<Watch>>> = OnceLock::new();
        WATCHES
            .get_or_init(|| {
                let mut watches = Vec::new();
                for signal in [SIGINT, SIGTERM, SIGHUP] {
                    let watch = Watch {
                        signal,
                        arrived: Arc::new(AtomicBool::new(false)),
                        immediate: Arc::new(AtomicBool::new(true)),
                    };
                    // The handlers run in this order: the default action
                    // when not guarded; then when one arrived before (a
                    // second signal); then the flag.
                    signal_hook::flag::register_conditional_default(
                        signal,
                        watch.immediate.clone(),
                    )
                    .ok()?;
                    signal_hook::flag::register_conditional_default(signal, watch.arrived.clone())
                        .ok()?;
                    signal_hook::flag::register(signal, watch.arrived.clone()).ok()?;
                    watches.push(watch);
                }
                Some(watches)
            })
            .as_deref()
    }

    fn covers(signals: Signals, signal: i32) -> bool {
        match signals {
            Signals::Interrupt => signal == SIGINT,
            Signals::Stop => true,
        }
    }

    pub struct Guard {
        signals: Signals,
        /// Each covered signal's `immediate` before this guard.
        before: Vec<bool>,
    }

    impl Guard {
        pub fn new(signals: Signals) -> Guard {
            let before = watches()
                .unwrap_or_default()
                .iter()
                .filter(|w| covers(signals, w.signal))
                .map(|w| w.immediate.swap(false, Ordering::SeqCst))
                .collect();
            Guard { signals, before }
        }
    }

    impl Drop for Guard {
        fn drop(&mut self) {
            let covered = watches()
                .unwrap_or_default()
                .iter()
                .filter(|w| covers(self.signals, w.signal));
            for (watch, before) in covered.zip(&self.before) {
                watch.immediate.store(*before, Ordering::SeqCst);
                if *before && watch.arrived.load(Ordering::SeqCst) {
                    // The cleanup is done: end as the signal would have.
                    let _ = signal_hook::low_level::emulate_default_handler(watch.signal);
                }
            }
        }
    }

    pub fn arrived() -> bool {
        watches()
            .unwrap_or_default()
            .iter()
            .any(|w| !w.immediate.load(Ordering::SeqCst) && w.arrived.load(Ordering::SeqCst))
    }
}

#[cfg(not(unix))]
mod imp {
    use super::Signals;

    pub struct Guard;

    impl Guard {
        pub fn new(_: Signals) -> Guard {
            Guard
        }
    }

    pub fn arrived() -> bool {
        false
    }
}

/// While alive, the covered signals only raise a flag; when dropped, a
/// signal that arrived meanwhile ends the tool by its default action.
/// Declare it before what must be cleaned up (dropped after it).
pub struct Guard(#[allow(dead_code)] imp::Guard);

impl Guard {
    pub fn new(signals: Signals) -> Guard {
        Guard(imp::Guard::new(signals))
    }
}

/// [`Interrupted`] if a signal a live guard covers has arrived.
pub fn check() -> anyhow::Result<()> {
    if imp::arrived() {
        return Err(Interrupted.into());
    }
    Ok(())
}
