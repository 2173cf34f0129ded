//! Hostile input: the entry points of the fuzz targets (`fuzz/`,
//! `strongroom::__fuzz`) as property tests — on arbitrary bytes and on
//! real encodings flipped, cut, extended or spliced — for a bounded number
//! of cases. Nothing may panic (each entry point also asserts its own
//! properties: decoded values encode back to their input, only what the
//! fixed writer signed verifies), and no parse may allocate more than its
//! input justifies.
//!
//! # The allocation bound
//! A counting global allocator keeps, per thread, the bytes live and their
//! peak. [`peak_during`] measures the peak a parse adds on its thread, and
//! every case asserts `peak <= per_byte * input_len + FIXED`:
//! - `FIXED` = 8 KiB: what any input may cost whatever its length — error
//!   values, AAD and HPKE buffers, the signed message's buffer, a profile
//!   saved and loaded again. Measured: under 100 bytes for the empty input
//!   (the keys and seed records made once per process are made in a
//!   warm-up run first, and not counted).
//! - `per_byte` = 16 for the binary formats: each entry point copies its
//!   input a few times (the column, the decoded values, the encoding it
//!   compares with, the text form: ~4/3 for base64, the signed message);
//!   the seeds measure 1 to 8.3 bytes per input byte.
//! - `per_byte` = 64 for JSON (profiles, `--json`): a JSON value costs
//!   more than its text (`[0,0,…]` is 32 bytes of `Value` per 2 bytes, a
//!   doubling `Vec` and its copy on growth), but never more than a
//!   constant per byte.
//!
//! A length field that made a parser reserve what it announces (a `u32`
//! length or a `u16` count taken at its word) breaks the bound at once:
//! the first cases are inputs of a few bytes.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use proptest::prelude::*;
use proptest::sample::Index;
use strongroom::__fuzz::{self, seeds};

struct Counting;

thread_local! {
    static LIVE: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

fn note(delta: isize) {
    let _ = LIVE.try_with(|live| {
        let now = live.get() + delta;
        live.set(now);
        let _ = PEAK.try_with(|peak| peak.set(peak.get().max(now)));
    });
}

// SAFETY: every call is passed to the system allocator unchanged; only
// the sizes are counted (in thread-locals without destructors, which
// never allocate).
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            note(layout.size() as isize);
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let ptr = unsafe { System.alloc_zeroed(layout) };
        if !ptr.is_null() {
            note(layout.size() as isize);
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        note(-(layout.size() as isize));
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            // Both blocks may be live while the old one is copied.
            note(new_size as isize);
            note(-(layout.size() as isize));
        }
        new
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// The most bytes `f` had allocated at once on this thread, beyond what
/// was live when it started.
fn peak_during<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let start = LIVE.with(Cell::get);
    PEAK.with(|peak| peak.set(start));
    let out = f();
    let peak = PEAK.with(Cell::get) - start;
    (out, usize::try_from(peak).unwrap_or(0))
}

const FIXED: usize = 8 * 1024;
const BINARY_PER_BYTE: usize = 16;
const JSON_PER_BYTE: usize = 64;

type Entry = fn(&[u8]) -> strongroom::Result<()>;

/// Each entry point, its seeds and its bytes-per-input-byte bound.
fn entries() -> Vec<(&'static str, Entry, Vec<Vec<u8>>, usize)> {
    vec![
        (
            "envelope",
            __fuzz::envelope,
            seeds::envelope(),
            BINARY_PER_BYTE,
        ),
        (
            "record_encoding",
            __fuzz::record_encoding,
            seeds::record_encoding(),
            BINARY_PER_BYTE,
        ),
        (
            "wrapped_key",
            __fuzz::wrapped_key,
            seeds::wrapped_key(),
            BINARY_PER_BYTE,
        ),
        ("grant", __fuzz::grant, seeds::grant(), BINARY_PER_BYTE),
        ("profile", __fuzz::profile, seeds::profile(), JSON_PER_BYTE),
    ]
}

/// Runs `entry` on `input` (after one warm-up run, so that the fixed keys
/// and seed records made once per process are not counted) and checks the
/// allocation bound.
fn run_bounded(name: &str, entry: Entry, per_byte: usize, input: &[u8]) -> strongroom::Result<()> {
    let _ = entry(b"");
    let (result, peak) = peak_during(|| entry(input));
    let bound = per_byte * input.len() + FIXED;
    assert!(
        peak <= bound,
        "{name}: {peak} bytes allocated at once for {} input bytes (bound {bound})",
        input.len()
    );
    result
}

/// A change to an encoding.
#[derive(Debug, Clone)]
enum Mutation {
    Flip {
        at: Index,
        bit: u8,
    },
    Truncate {
        at: Index,
    },
    Extend {
        bytes: Vec<u8>,
    },
    Splice {
        at: Index,
        bytes: Vec<u8>,
    },
    /// Sets 4 bytes (a length field, most likely) to a big value.
    Big {
        at: Index,
        value: u32,
    },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<Index>(), 0u8..8).prop_map(|(at, bit)| Mutation::Flip { at, bit }),
        any::<Index>().prop_map(|at| Mutation::Truncate { at }),
        prop::collection::vec(any::<u8>(), 1..64).prop_map(|bytes| Mutation::Extend { bytes }),
        (any::<Index>(), prop::collection::vec(any::<u8>(), 1..16))
            .prop_map(|(at, bytes)| Mutation::Splice { at, bytes }),
        (
            any::<Index>(),
            prop_oneof![
                Just(u32::MAX),
                Just(0x7fff_ffff),
                Just(0xffff),
                any::<u32>()
            ]
        )
            .prop_map(|(at, value)| Mutation::Big { at, value }),
    ]
}

fn mutate(seed: &[u8], mutation: &Mutation) -> Vec<u8> {
    let mut out = seed.to_vec();
    if out.is_empty() {
        return out;
    }
    match mutation {
        Mutation::Flip { at, bit } => out[at.index(seed.len())] ^= 1 << bit,
        Mutation::Truncate { at } => out.truncate(at.index(seed.len())),
        Mutation::Extend { bytes } => out.extend_from_slice(bytes),
        Mutation::Splice { at, bytes } => {
            let at = at.index(seed.len());
            out.splice(at..at, bytes.iter().copied());
        }
        Mutation::Big { at, value } => {
            let at = at.index(seed.len()).min(seed.len().saturating_sub(4));
            let end = (at + 4).min(out.len());
            out[at..end].copy_from_slice(&value.to_be_bytes()[..end - at]);
        }
    }
    out
}

#[test]
fn every_seed_parses_and_opens() {
    for (name, entry, seeds, per_byte) in entries() {
        assert!(!seeds.is_empty(), "{name}");
        for (n, seed) in seeds.iter().enumerate() {
            let result = run_bounded(name, entry, per_byte, seed);
            assert!(result.is_ok(), "{name} seed {n}: {result:?}");
        }
    }
}

#[test]
fn the_empty_input_is_refused_within_the_fixed_allowance() {
    for (name, entry, _, per_byte) in entries() {
        assert!(run_bounded(name, entry, per_byte, b"").is_err(), "{name}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic_nor_over_allocate(
        which in 0usize..5,
        input in prop::collection::vec(any::<u8>(), 0..1024),
    ) {
        let (name, entry, _, per_byte) = entries().swap_remove(which);
        let _ = run_bounded(name, entry, per_byte, &input);
    }

    #[test]
    fn arbitrary_record_encodings_never_panic_nor_over_allocate(
        which in 0u8..6,
        input in prop::collection::vec(any::<u8>(), 0..512),
    ) {
        let input = [&[which][..], &input].concat();
        let _ = run_bounded("record_encoding", __fuzz::record_encoding, BINARY_PER_BYTE, &input);
    }

    #[test]
    fn changed_encodings_never_panic_nor_over_allocate(
        which in 0usize..5,
        seed in any::<Index>(),
        changes in prop::collection::vec(mutation(), 1..4),
    ) {
        let (name, entry, seeds, per_byte) = entries().swap_remove(which);
        let seed = &seeds[seed.index(seeds.len())];
        let input = changes.iter().fold(seed.to_vec(), |bytes, change| mutate(&bytes, change));
        let _ = run_bounded(name, entry, per_byte, &input);
    }

    /// Envelopes and wrapped keys are authenticated whole: any change,
    /// to the stored bytes or the text form, is refused.
    #[test]
    fn a_changed_envelope_or_wrapped_key_never_opens(
        wrapped in any::<bool>(),
        seed in any::<Index>(),
        change in mutation(),
    ) {
        let (name, entry, seeds, per_byte) = entries().swap_remove(if wrapped { 2 } else { 0 });
        let seed = &seeds[seed.index(seeds.len())];
        let input = mutate(seed, &change);
        prop_assume!(input != *seed);
        prop_assert!(run_bounded(name, entry, per_byte, &input).is_err());
    }
}

#[test]
fn the_counter_sees_what_a_parse_allocates() {
    let (_, peak) = peak_during(|| std::hint::black_box(Vec::<u8>::with_capacity(1 << 20)));
    assert!(peak >= 1 << 20, "{peak}");
    let (_, none) = peak_during(|| std::hint::black_box(1 + 1));
    assert_eq!(none, 0);
}

/// Regression: a count field reserved room for as many entries as it
/// announced (255 index fields, 64 blind index entries) before a byte of
/// them was read — kilobytes for an input of a few bytes.
#[test]
fn a_count_reserves_no_more_than_its_input_can_hold() {
    // An index description: version 1, 12 bits, no normaliser, 255 fields.
    let spec = [3, 1, 0, 12, 0, 255];
    // A blind index column: version 1, index version 1, 65535 entries.
    let indexes = [2, 1, 0, 0, 0, 1, 0xff, 0xff];
    for input in [&spec[..], &indexes[..]] {
        let _ = __fuzz::record_encoding(input);
        let (result, peak) = peak_during(|| __fuzz::record_encoding(input));
        assert!(result.is_err());
        assert!(peak < 1024, "{peak} bytes for {input:?}");
    }
}

/// The seed corpus committed under `fuzz/corpus/` (written by
/// `fuzz/examples/write_seeds.rs` in another process: other nonces, the
/// same fixed keys) still parses and opens, so the fuzz targets start
/// from inputs that reach the deepest checks.
#[test]
fn the_committed_fuzz_seeds_still_parse_and_open() {
    let corpus = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
    for (name, entry, _, per_byte) in entries() {
        let dir = corpus.join(name);
        let mut seen = 0;
        for file in std::fs::read_dir(&dir).unwrap_or_else(|err| panic!("{dir:?}: {err}")) {
            let path = file.expect("a corpus entry").path();
            let seed = std::fs::read(&path).expect("a seed file");
            let result = run_bounded(name, entry, per_byte, &seed);
            assert!(result.is_ok(), "{path:?}: {result:?}");
            seen += 1;
        }
        assert!(seen > 0, "{name}");
    }
}
