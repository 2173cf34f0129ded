//! A hostile database cannot make a file's reader load what it put in the
//! chunk rows: a row longer than a sealed chunk arrives as NULL, never
//! loaded, and the read fails as tampered. Alone in its own test binary,
//! so the process's peak memory is this test's.

mod common;

use common::notes::client;
use common::TestDb;
use strongroom::{Error, Plain};

const CHUNK: usize = 64 * 1024;

/// The process's peak resident memory (Linux), in KiB.
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

#[test]
fn chunk_rows_the_database_made_huge_are_never_loaded() {
    let Some(before) = peak_rss_kib() else {
        eprintln!("\n!!!!!!!! SKIPPED chunk_rows_the_database_made_huge_are_never_loaded: no /proc/self/status to read peak memory from !!!!!!!!\n");
        return;
    };
    let db = TestDb::sqlite();
    let alice = client(&db, "alice");
    let mut state = 5u64;
    let body: Vec<u8> = (0..20 * CHUNK)
        .map(|_| (common::xorshift64(&mut state) >> 32) as u8)
        .collect();
    let id = alice.put_file("scan", &Plain::new(), &body[..]).unwrap().id;
    // 16 rows (a whole fetch window) of 16 MiB each: 256 MiB if loaded.
    db.sql(&format!(
        "UPDATE file_chunks SET chunk = zeroblob(16 * 1024 * 1024) WHERE record_id = {} AND seq BETWEEN 1 AND 16",
        db.id(id)
    ));
    let before = peak_rss_kib().unwrap_or(before);
    let mut out = Vec::new();
    let result = alice.read_file(id, &mut out);
    assert!(matches!(result, Err(Error::Decryption)), "{result:?}");
    let grew_mib = (peak_rss_kib().unwrap() - before) / 1024;
    assert!(
        grew_mib < 64,
        "reading a 1.3 MiB file whose chunk rows the database inflated to 256 MiB raised peak memory by {grew_mib} MiB"
    );
}
