//! The cost floor: the cryptography the design mandates for the benchmark's
//! records, done alone — no database, no parsing, no encoding, no
//! allocation beyond the output buffers — on one core.
//!
//! Per record, writing: three fresh 32-byte data keys, six
//! XChaCha20-Poly1305 seals with random 24-byte nonces (each data key under
//! the access key, each value under its data key) with AADs of the real
//! lengths, one BLAKE2b-256 over a message as long as the record's signed
//! message, and a 200th of an Ed25519 batch signature (over 200 digests).
//! Reading warm: the six opens and the digest (a warm read finds its
//! batches verified and its access key unwrapped in the client's caches).
//! Reading cold (a fresh client): also the Ed25519 verification of every
//! batch signature (over 200 digests) and the HPKE unwrap of the access
//! key, once.
//!
//! Each is measured on one core, and (strongroom's shape) again spread over every core (the
//! records split between one thread per core, wall time), to show how
//! much of the perfect spread the bound assumes this machine gives.
//!
//! The digest runs over a message as long as the record's signed message.
//! Since the binary stored shape (issue 13) strongroom's message holds the
//! envelopes' raw bytes, as the least shape's does (see `least_shape`); the
//! text-length message (`srf1.` + base64url, the shape before) is kept only
//! to compare with earlier runs and is no longer used for a floor.
//!
//! [`Floor::bound`] turns it into a lower bound on strongroom's time over
//! plain diesel's: the database work plus this crypto, split perfectly over
//! the machine's cores. With the plain path's own database time it bounds
//! any encrypted store on this machine (an encrypted row, ≈ 3.5× larger,
//! costs the database at least what a plain row does); with the time plain
//! diesel takes to insert or fetch strongroom's stored rows, it bounds any
//! writer or reader of strongroom's stored shape (binary ids, envelopes and
//! signatures, a batch reference and meta-index rows).

use std::time::{Duration, Instant};

use ed25519_dalek::{Signer, SigningKey};
use orion::hazardous::aead::xchacha20poly1305::{Nonce, SecretKey, XChaCha20Poly1305};
use orion::hazardous::hash::blake2::blake2b::Blake2b;
use rand::RngCore;
use strongroom::hazmat::wrap::{self, WrapContext};
use strongroom::hazmat::{AccessKey, EncryptionSecretKey};
use strongroom::ClientId;

/// The records a batch signature covers (as strongroom writes them).
const BATCH: usize = 200;
const NONCE: usize = 24;
const TAG: usize = 16;
const KEY: usize = 32;
/// The batch message beyond its digests: label, format version, batch and
/// writer ids, the digests' length prefix.
const BATCH_HEADER: usize = (4 + 16) + 4 + 16 + 16 + 4;

/// A time for the mandated cryptography of `n` records.
#[derive(Clone, Copy)]
pub struct Floor {
    pub write: Duration,
    /// Warm read: opens and digests.
    pub read: Duration,
    /// What a cold read adds: the batch verifications and one unwrap.
    pub verify: Duration,
}

impl Floor {
    /// A cold read: the warm read plus verifying and unwrapping.
    pub fn read_cold(&self) -> Duration {
        self.read + self.verify
    }

    /// The least `strongroom / plain` ratio possible when the database work
    /// takes `base` (at best what the plain path takes) and the
    /// cryptography `crypto` more, both spread perfectly over `cores`:
    /// never below `base` itself, which one connection does one step at a
    /// time. On SQLite `base` is one thread's work in this process; on
    /// PostgreSQL it is the wall time of client, server and round trips
    /// together, so there the bound is an estimate, not a proof.
    pub fn bound(base: Duration, crypto: Duration, cores: usize, plain: Duration) -> f64 {
        Self::least_time(base, crypto, cores).as_secs_f64() / plain.as_secs_f64()
    }

    /// The least time itself (see [`Floor::bound`]).
    pub fn least_time(base: Duration, crypto: Duration, cores: usize) -> Duration {
        ((base + crypto) / u32::try_from(cores).unwrap_or(1)).max(base)
    }
}

/// The floor for each stored shape on one core, and for strongroom's spread
/// over every core.
pub struct Floors {
    /// strongroom's stored shape, one core: its signed message holds the
    /// envelopes' raw bytes (named `text` from the shape before).
    pub text: Floor,
    /// Envelopes as raw bytes (the least shape), one core.
    pub binary: Floor,
    /// strongroom's shape, one thread per core (wall time).
    pub text_spread: Floor,
}

/// A sealed field: the data-key box and the value box.
struct SealedField {
    dk_box: Vec<u8>,
    value_box: Vec<u8>,
}

/// A sealed record: its digest and fields.
type SealedRecord = ([u8; 32], Vec<SealedField>);

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

/// What every measurement shares: the fields' shapes, the access key, the
/// writer's signing key, a wrapped copy of the access key.
struct Setup {
    shapes: Vec<FieldShape>,
    access_key: [u8; KEY],
    signer: SigningKey,
    wrapped: String,
    reader: EncryptionSecretKey,
    wrapper: strongroom::EncryptionPublicKey,
    context: (ClientId, ClientId),
}

impl Setup {
    fn new() -> Self {
        let mut access_key = [0u8; KEY];
        rand::thread_rng().fill_bytes(&mut access_key);
        let reader = EncryptionSecretKey::generate();
        let writer = EncryptionSecretKey::generate();
        let context = (ClientId::random(), ClientId::random());
        let wrapped = wrap::wrap_access_key(
            &AccessKey::from_bytes(access_key),
            &wrap_context(context),
            &reader.public_key().expect("public key"),
            &writer,
        )
        .expect("wrap")
        .into_string();
        Setup {
            shapes: shapes(),
            access_key,
            signer: SigningKey::from_bytes(&[7u8; 32]),
            wrapped,
            reader,
            wrapper: writer.public_key().expect("public key"),
            context,
        }
    }

    /// Seals and digests `n` records, signing every 200 digests.
    fn seal_all(&self, n: usize, message: &[u8]) -> (Vec<SealedRecord>, Vec<Vec<u8>>) {
        let mut rng = rand::thread_rng();
        let mut sealed = Vec::with_capacity(n);
        let mut batches = Vec::with_capacity(n.div_ceil(BATCH));
        let mut batch = vec![0u8; BATCH_HEADER];
        for i in 0..n {
            let fields = self
                .shapes
                .iter()
                .map(|s| {
                    let mut data_key = [0u8; KEY];
                    rng.fill_bytes(&mut data_key);
                    SealedField {
                        dk_box: seal(&self.access_key, &s.dk_aad, &data_key, &mut rng),
                        value_box: seal(&data_key, &s.value_aad, &s.json, &mut rng),
                    }
                })
                .collect();
            let record_digest = digest(message);
            batch.extend_from_slice(&record_digest);
            if (i + 1) % BATCH == 0 || i + 1 == n {
                let signature = self.signer.sign(&batch);
                batch.extend_from_slice(&signature.to_bytes());
                batches.push(std::mem::replace(&mut batch, vec![0u8; BATCH_HEADER]));
            }
            sealed.push((record_digest, fields));
        }
        (sealed, batches)
    }

    /// Digests and opens every record.
    fn open_all(&self, sealed: &[SealedRecord], message: &[u8]) {
        let mut value = vec![0u8; 256];
        for (expected, fields) in sealed {
            assert_eq!(&digest(message), expected);
            for (field, shape) in fields.iter().zip(&self.shapes) {
                let mut data_key = [0u8; KEY];
                open(
                    &self.access_key,
                    &shape.dk_aad,
                    &field.dk_box,
                    &mut data_key,
                );
                let len = field.value_box.len() - NONCE - TAG;
                open(
                    &data_key,
                    &shape.value_aad,
                    &field.value_box,
                    &mut value[..len],
                );
            }
        }
    }

    /// Verifies every batch signature (each batch: its message, then the
    /// 64-byte signature) and, when `unwrap`, unwraps the access key once.
    fn verify_all(&self, batches: &[Vec<u8>], unwrap: bool) {
        let key = self.signer.verifying_key();
        for batch in batches {
            let (message, signature) = batch.split_at(batch.len() - 64);
            let signature = ed25519_dalek::Signature::from_slice(signature).expect("signature");
            key.verify_strict(message, &signature).expect("verify");
        }
        if unwrap {
            let opened = wrap::unwrap_access_key(
                &self.wrapped,
                &wrap_context(self.context),
                &self.reader,
                &self.wrapper,
            )
            .expect("unwrap");
            std::hint::black_box(opened);
        }
    }
}

fn wrap_context((writer_id, reader_id): (ClientId, ClientId)) -> WrapContext<'static> {
    WrapContext {
        writer_id,
        record_type: "patient",
        key_version: 1,
        reader_id,
        wrapper_id: writer_id,
    }
}

/// Measures the floors for `n` records, on one core and (strongroom's
/// shape) on `cores`.
pub fn measure(n: usize, cores: usize) -> Floors {
    let setup = Setup::new();
    // strongroom's signed message is the binary one since issue 13's
    // stored shape; `message_len(.., true)` is the text shape's before it.
    let text = vec![0x3c; message_len(&setup.shapes, false)];
    let binary = vec![0x3c; message_len(&setup.shapes, false)];
    Floors {
        text: measure_one(&setup, n, &text),
        binary: measure_one(&setup, n, &binary),
        text_spread: measure_spread(&setup, n, &text, cores),
    }
}

/// One core, records whose signed message is `message` long.
fn measure_one(setup: &Setup, n: usize, message: &[u8]) -> Floor {
    let t = Instant::now();
    let (sealed, batches) = setup.seal_all(n, message);
    let write = t.elapsed();
    let t = Instant::now();
    setup.open_all(&sealed, message);
    let read = t.elapsed();
    let t = Instant::now();
    setup.verify_all(&batches, true);
    Floor {
        write,
        read,
        verify: t.elapsed(),
    }
}

/// The same work split between `cores` threads: the wall time of each
/// step, from the threads' start until the last one is done.
fn measure_spread(setup: &Setup, n: usize, message: &[u8], cores: usize) -> Floor {
    let cores = cores.max(1);
    // Whole batches per thread, as a reader verifies whole batches.
    let per_thread = n.div_ceil(cores).div_ceil(BATCH) * BATCH;
    let counts: Vec<usize> = (0..cores)
        .map(|k| n.saturating_sub(k * per_thread).min(per_thread))
        .collect();
    let t = Instant::now();
    let parts: Vec<(Vec<SealedRecord>, Vec<Vec<u8>>)> = std::thread::scope(|scope| {
        let handles: Vec<_> = counts
            .iter()
            .map(|&count| scope.spawn(move || setup.seal_all(count, message)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("seal"))
            .collect()
    });
    let write = t.elapsed();
    let t = Instant::now();
    std::thread::scope(|scope| {
        for (sealed, _) in &parts {
            scope.spawn(move || setup.open_all(sealed, message));
        }
    });
    let read = t.elapsed();
    let t = Instant::now();
    std::thread::scope(|scope| {
        for (k, (_, batches)) in parts.iter().enumerate() {
            scope.spawn(move || setup.verify_all(batches, k == 0));
        }
    });
    Floor {
        write,
        read,
        verify: t.elapsed(),
    }
}
