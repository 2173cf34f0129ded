//! Random bytes for keys and nonces.
//!
//! Uses `rand`'s thread-local generator: a ChaCha12 CSPRNG in user space,
//! seeded from the operating system (`getrandom`) and reseeded from it
//! periodically. Drawing a nonce costs no system call.

use rand::RngCore;

/// Fills `out` with cryptographically secure random bytes.
pub(crate) fn fill(out: &mut [u8]) {
    rand::thread_rng().fill_bytes(out);
}

/// Returns `N` random bytes.
pub(crate) fn bytes<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    fill(&mut out);
    out
}
