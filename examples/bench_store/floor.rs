//! The cost floor: the cryptography the design mandates for the benchmark's
//! records, done alone — no database, no parsing, no encoding, no
//! allocation beyond the output buffers — on one core.
//!
//! Per record, writing: three fresh 32-byte data keys, six
//! XChaCha20-Poly1305 seals with random 24-byte nonces (each data key under
//! the access key, each value under its data key) with AADs of the real
//! lengths, one BLAKE2b-256 over a message as long as the record's signed
//! message, and a 200th of an Ed25519 batch signature (over 200 digests).
//! Reading: the six opens and the digest. No batch verification: the reads
//! the benchmark keeps (the median of three by one client) find their
//! batches already verified in the client's cache.
//!
//! The digest runs over a message as long as the record's signed message in
//! each stored shape: with the envelopes as base64url text (strongroom's
//! shape) or as raw bytes (the least shape, see `least_shape`).
//!
//! [`Floor::bound`] turns it into a lower bound on strongroom's time over
//! plain diesel's: the database work plus this crypto, split perfectly over
//! the machine's cores. With the plain path's own database time it bounds
//! any encrypted store on this machine (an encrypted row, ≈ 3.5× larger,
//! costs the database at least what a plain row does); with the time plain
//! diesel takes to insert or fetch strongroom's stored rows, it bounds any
//! writer or reader of the design's stored shape (base64url envelopes in a
//! JSON column, text ids, a batch reference and meta-index rows).

use std::time::{Duration, Instant};

use ed25519_dalek::{Signer, SigningKey};
use orion::hazardous::aead::xchacha20poly1305::{Nonce, SecretKey, XChaCha20Poly1305};
use orion::hazardous::hash::blake2::blake2b::Blake2b;
use rand::RngCore;

/// The records a batch signature covers (as strongroom writes them).
const BATCH: usize = 200;
const NONCE: usize = 24;
const TAG: usize = 16;
const KEY: usize = 32;

/// One core's time for the mandated cryptography of `n` records.
#[derive(Clone, Copy)]
pub struct Floor {
    pub write: Duration,
    pub read: Duration,
}

/// The floor for each stored shape.
pub struct Floors {
    /// Envelopes as base64url text (strongroom's stored shape).
    pub text: Floor,
    /// Envelopes as raw bytes (the least shape).
    pub binary: Floor,
}

impl Floor {
    /// The least `strongroom / plain` ratio possible when the database work
    /// takes `base` (at best what the plain path takes) and the
    /// cryptography `crypto` more, both spread perfectly over `cores`:
    /// never below `base` itself, which one connection does one step at a
    /// time. On SQLite `base` is one thread's work in this process; on
    /// PostgreSQL it is the wall time of client, server and round trips
    /// together, so there the bound is an estimate, not a proof.
    pub fn bound(base: Duration, crypto: Duration, cores: usize, plain: Duration) -> f64 {
        let spread = (base + crypto).as_secs_f64() / cores as f64;
        spread.max(base.as_secs_f64()) / plain.as_secs_f64()
    }
}

/// A sealed field: the data-key box and the value box.
struct SealedField {
    dk_box: Vec<u8>,
    value_box: Vec<u8>,
}

/// The stored name, AAD lengths and JSON value of the three sensitive
/// fields of one benchmark record (values of 16, 11 and 200 bytes).
struct FieldShape {
    value_aad: Vec<u8>,
    dk_aad: Vec<u8>,
    json: Vec<u8>,
}

fn shapes() -> Vec<FieldShape> {
    [("name", 16), ("national_id", 11), ("notes", 200)]
        .into_iter()
        .map(|(field, len)| {
            // label, format version, type "patient", record id, writer id,
            // field name, role — each length-prefixed as FORMAT.md says —
            // and, for the data key, the key version.
            let value_aad_len = (4 + 16) + 4 + (4 + 7) + 16 + 16 + (4 + field.len()) + 4;
            FieldShape {
                value_aad: vec![0xa5; value_aad_len],
                dk_aad: vec![0x5a; value_aad_len + 4],
                json: vec![b'x'; len + 2], // a JSON string: the value and two quotes
            }
        })
        .collect()
}

/// The length of a record's signed message: header, two plain entries, and
/// the three envelopes, as text (`srf1.` + base64url of both boxes) or as
/// their raw bytes.
fn message_len(shapes: &[FieldShape], text: bool) -> usize {
    let envelope = |json: usize| {
        let raw = NONCE + KEY + TAG + NONCE + json + TAG;
        if text {
            5 + raw.div_ceil(3) * 4
        } else {
            raw
        }
    };
    let header = (4 + 17) + 4 + 16 + 8 + (4 + 7) + 16 + 4;
    let plain = 4 + (4 + 6 + 4 + 8) + (4 + 4 + 4 + 6);
    let fields: usize = 4 + [4, 11, 5]
        .iter()
        .zip(shapes)
        .map(|(name, s)| 4 + name + 4 + envelope(s.json.len()))
        .sum::<usize>();
    header + plain + fields + 4
}

fn seal(key: &[u8], aad: &[u8], plain: &[u8], rng: &mut impl RngCore) -> Vec<u8> {
    let mut nonce = [0u8; NONCE];
    rng.fill_bytes(&mut nonce);
    let mut out = vec![0u8; NONCE + plain.len() + TAG];
    out[..NONCE].copy_from_slice(&nonce);
    let key = SecretKey::try_from(key).expect("32-byte key");
    XChaCha20Poly1305::seal(
        &key,
        &Nonce::from(nonce),
        plain,
        Some(aad),
        &mut out[NONCE..],
    )
    .expect("seal");
    out
}

fn open(key: &[u8], aad: &[u8], sealed: &[u8], out: &mut [u8]) {
    let key = SecretKey::try_from(key).expect("32-byte key");
    let nonce = Nonce::try_from(&sealed[..NONCE]).expect("nonce");
    XChaCha20Poly1305::open(&key, &nonce, &sealed[NONCE..], Some(aad), out).expect("open");
}

fn digest(message: &[u8]) -> [u8; 32] {
    let mut hasher = Blake2b::new(32).expect("BLAKE2b-256");
    hasher.update(message).expect("hash");
    let mut out = [0u8; 32];
    out.copy_from_slice(hasher.finalize().expect("hash").as_ref());
    out
}

/// Measures the floors for `n` records, one core.
pub fn measure(n: usize) -> Floors {
    let shapes = shapes();
    Floors {
        text: measure_shape(n, &shapes, message_len(&shapes, true)),
        binary: measure_shape(n, &shapes, message_len(&shapes, false)),
    }
}

/// The floor for `n` records whose signed message is `message_len` long.
fn measure_shape(n: usize, shapes: &[FieldShape], message_len: usize) -> Floor {
    let message = vec![0x3c; message_len];
    let mut rng = rand::thread_rng();
    let mut access_key = [0u8; KEY];
    rng.fill_bytes(&mut access_key);
    let signer = SigningKey::from_bytes(&[7u8; 32]);

    {
        // Write: seal and digest every record, sign every 200 digests.
        let t = Instant::now();
        let mut sealed: Vec<([u8; 32], Vec<SealedField>)> = Vec::with_capacity(n);
        let mut digests = Vec::with_capacity(BATCH * 32);
        for i in 0..n {
            let fields = shapes
                .iter()
                .map(|s| {
                    let mut data_key = [0u8; KEY];
                    rng.fill_bytes(&mut data_key);
                    SealedField {
                        dk_box: seal(&access_key, &s.dk_aad, &data_key, &mut rng),
                        value_box: seal(&data_key, &s.value_aad, &s.json, &mut rng),
                    }
                })
                .collect();
            let record_digest = digest(&message);
            digests.extend_from_slice(&record_digest);
            if (i + 1) % BATCH == 0 || i + 1 == n {
                std::hint::black_box(signer.sign(&digests));
                digests.clear();
            }
            sealed.push((record_digest, fields));
        }
        let write = t.elapsed();

        // Read: digest and open every record.
        let t = Instant::now();
        let mut value = vec![0u8; 256];
        for (expected, fields) in &sealed {
            assert_eq!(&digest(&message), expected);
            for (field, shape) in fields.iter().zip(shapes) {
                let mut data_key = [0u8; KEY];
                open(&access_key, &shape.dk_aad, &field.dk_box, &mut data_key);
                let len = field.value_box.len() - NONCE - TAG;
                open(
                    &data_key,
                    &shape.value_aad,
                    &field.value_box,
                    &mut value[..len],
                );
            }
        }
        Floor {
            write,
            read: t.elapsed(),
        }
    }
}
