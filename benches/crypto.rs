//! Cost of the cryptographic core: the field envelope beside the bare
//! primitives it is built from, access-key wrapping, record signatures.
//!
//! Run with `cargo bench --bench crypto`. After criterion's report, the
//! bench prints the envelope-to-primitives ratio for each size, measured in
//! interleaved rounds in one run (the ratio is what is compared; absolute
//! times depend on the machine).

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, BenchmarkId, Criterion, Throughput};
use orion::hazardous::aead::xchacha20poly1305::{Nonce, SecretKey, XChaCha20Poly1305};
use rand::RngCore;
use strongroom::hazmat::envelope::{self, FieldContext};
use strongroom::hazmat::record;
use strongroom::hazmat::signature::RecordHeader;
use strongroom::hazmat::wrap::{self, WrapContext};
use strongroom::hazmat::{AccessKey, EncryptionSecretKey};
use strongroom::{ClientId, Identity, RecordId};

const SIZES: [usize; 3] = [16, 200, 4096];
/// AAD of the same length as the envelope's for `ctx()` (label, version,
/// type, ids, field, key version).
const AAD_LEN: usize = 4 + 16 + 4 + 4 + 7 + 16 + 16 + 4 + 4 + 4;

fn ctx() -> FieldContext<'static> {
    FieldContext {
        record_type: "patient",
        record_id: RecordId::random(),
        writer_id: ClientId::random(),
        field: "name",
        key_version: 1,
    }
}

/// The primitives an envelope seal is made of: 32 + 24 + 24 random bytes
/// and two XChaCha20-Poly1305 seals (data key under the access key, value
/// under the data key).
fn primitives_seal(ak: &SecretKey, aad: &[u8], value: &[u8], dk_out: &mut [u8], out: &mut [u8]) {
    let mut rng = rand::thread_rng();
    let mut dk = [0u8; 32];
    let mut n1 = [0u8; 24];
    let mut n2 = [0u8; 24];
    rng.fill_bytes(&mut dk);
    rng.fill_bytes(&mut n1);
    rng.fill_bytes(&mut n2);
    XChaCha20Poly1305::seal(ak, &Nonce::from(n1), &dk, Some(aad), dk_out).unwrap();
    let dk = SecretKey::try_from(&dk[..]).unwrap();
    XChaCha20Poly1305::seal(&dk, &Nonce::from(n2), value, Some(aad), out).unwrap();
}

struct Opened {
    n1: Nonce,
    n2: Nonce,
    dk_box: Vec<u8>,
    value_box: Vec<u8>,
}

fn primitives_sealed(ak: &SecretKey, aad: &[u8], value: &[u8]) -> Opened {
    let mut dk = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut dk);
    let (n1, n2) = (Nonce::from([1u8; 24]), Nonce::from([2u8; 24]));
    let mut dk_box = vec![0u8; 48];
    let mut value_box = vec![0u8; value.len() + 16];
    XChaCha20Poly1305::seal(ak, &n1, &dk, Some(aad), &mut dk_box).unwrap();
    let dk = SecretKey::try_from(&dk[..]).unwrap();
    XChaCha20Poly1305::seal(&dk, &n2, value, Some(aad), &mut value_box).unwrap();
    Opened {
        n1,
        n2,
        dk_box,
        value_box,
    }
}

/// The primitives an envelope open is made of: two XChaCha20-Poly1305 opens.
fn primitives_open(ak: &SecretKey, aad: &[u8], sealed: &Opened, out: &mut [u8]) {
    let mut dk = [0u8; 32];
    XChaCha20Poly1305::open(ak, &sealed.n1, &sealed.dk_box, Some(aad), &mut dk).unwrap();
    let dk = SecretKey::try_from(&dk[..]).unwrap();
    XChaCha20Poly1305::open(&dk, &sealed.n2, &sealed.value_box, Some(aad), out).unwrap();
}

fn bench_envelope(c: &mut Criterion) {
    let ak = AccessKey::generate();
    let orion_ak = SecretKey::try_from(&ak.unprotected_as_bytes()[..]).unwrap();
    let aad = vec![7u8; AAD_LEN];
    let ctx = ctx();
    let mut group = c.benchmark_group("field");
    for size in SIZES {
        let value = vec![0x5Au8; size];
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_with_input(BenchmarkId::new("envelope_seal", size), &value, |b, v| {
            b.iter(|| envelope::seal_field(&ak, &ctx, black_box(v)).unwrap())
        });
        let sealed = envelope::seal_field(&ak, &ctx, &value).unwrap();
        group.bench_with_input(BenchmarkId::new("envelope_open", size), &sealed, |b, s| {
            b.iter(|| envelope::open_field(&ak, &ctx, black_box(s)).unwrap())
        });
        let (mut dk_out, mut out) = (vec![0u8; 48], vec![0u8; size + 16]);
        group.bench_with_input(BenchmarkId::new("primitives_seal", size), &value, |b, v| {
            b.iter(|| primitives_seal(&orion_ak, &aad, black_box(v), &mut dk_out, &mut out))
        });
        let raw = primitives_sealed(&orion_ak, &aad, &value);
        let mut plain = vec![0u8; size];
        group.bench_with_input(BenchmarkId::new("primitives_open", size), &raw, |b, r| {
            b.iter(|| primitives_open(&orion_ak, &aad, black_box(r), &mut plain))
        });
    }
    group.finish();
}

fn bench_wrap(c: &mut Criterion) {
    let (writer, reader) = (
        EncryptionSecretKey::generate(),
        EncryptionSecretKey::generate(),
    );
    let (writer_pk, reader_pk) = (writer.public_key().unwrap(), reader.public_key().unwrap());
    let ctx = WrapContext {
        writer_id: ClientId::random(),
        record_type: "patient",
        key_version: 1,
        reader_id: ClientId::random(),
        wrapper_id: ClientId::random(),
    };
    let ak = AccessKey::generate();
    let mut group = c.benchmark_group("access_key");
    group.bench_function("wrap", |b| {
        b.iter(|| wrap::wrap_access_key(&ak, &ctx, &reader_pk, &writer).unwrap())
    });
    let wrapped = wrap::wrap_access_key(&ak, &ctx, &reader_pk, &writer).unwrap();
    group.bench_function("unwrap", |b| {
        b.iter(|| wrap::unwrap_access_key(wrapped.as_str(), &ctx, &reader, &writer_pk).unwrap())
    });
    group.finish();
}

fn three_field_record(
    identity: &Identity,
    ak: &AccessKey,
    batch_id: strongroom::BatchId,
    index: u32,
) -> record::SealedRecord {
    let values = BTreeMap::from([
        ("a".to_owned(), vec![1u8; 16]),
        ("b".to_owned(), vec![2u8; 11]),
        ("c".to_owned(), vec![3u8; 200]),
    ]);
    let header = RecordHeader {
        record_id: RecordId::random(),
        version: 1,
        record_type: "patient",
        writer_id: identity.client_id(),
        key_version: 1,
    };
    let plain = BTreeMap::from([("clinic".to_owned(), "north".to_owned())]);
    record::seal_record(ak, header, plain, &values, batch_id, index).unwrap()
}

fn bench_signature(c: &mut Criterion) {
    let identity = Identity::generate().unwrap();
    let ak = AccessKey::generate();
    let batch_id = strongroom::BatchId::random();
    let batch: Vec<record::SealedRecord> = (0..200)
        .map(|i| three_field_record(&identity, &ak, batch_id, i))
        .collect();
    let sealed = batch[0].clone();
    let signed = record::sign_batch(identity.signer(), batch_id, &batch).unwrap();
    let key = identity.public().signing_key;
    let verified = signed.clone().verify(identity.client_id(), &key).unwrap();
    let mut group = c.benchmark_group("record_3_fields");
    group.bench_function("seal", |b| {
        b.iter(|| three_field_record(&identity, &ak, batch_id, 0))
    });
    group.bench_function("digest", |b| {
        b.iter(|| black_box(&sealed).digest().unwrap())
    });
    group.bench_function("sign_batch_of_1", |b| {
        b.iter(|| record::sign_batch(identity.signer(), batch_id, black_box(&batch[..1])).unwrap())
    });
    group.bench_function("sign_batch_of_200", |b| {
        b.iter(|| record::sign_batch(identity.signer(), batch_id, black_box(&batch)).unwrap())
    });
    group.bench_function("verify_batch_of_200", |b| {
        b.iter(|| {
            signed
                .clone()
                .verify(identity.client_id(), black_box(&key))
                .unwrap()
        })
    });
    group.bench_function("check_in_batch_and_open", |b| {
        b.iter(|| record::open_record(black_box(&sealed), &verified, &ak).unwrap())
    });
    group.finish();
}

/// Median time per call of `f`, over `rounds` rounds of `iters` calls.
fn time_per_call(rounds: &mut Vec<Duration>, iters: u32, mut f: impl FnMut()) {
    let start = Instant::now();
    for _ in 0..iters {
        f();
    }
    rounds.push(start.elapsed() / iters);
}

fn median(mut d: Vec<Duration>) -> Duration {
    d.sort();
    d[d.len() / 2]
}

/// Envelope-to-primitives ratios, measured in interleaved rounds so that
/// both sides see the same machine load.
fn print_ratios() {
    let ak = AccessKey::generate();
    let orion_ak = SecretKey::try_from(&ak.unprotected_as_bytes()[..]).unwrap();
    let aad = vec![7u8; AAD_LEN];
    let ctx = ctx();
    println!("\nenvelope / primitives (median of 41 interleaved rounds; target <= 1.25x)");
    println!(
        "{:>6}  {:>12} {:>12} {:>6}   {:>12} {:>12} {:>6}",
        "size", "seal", "prims", "ratio", "open", "prims", "ratio"
    );
    for size in SIZES {
        let value = vec![0x5Au8; size];
        let sealed = envelope::seal_field(&ak, &ctx, &value).unwrap();
        let raw = primitives_sealed(&orion_ak, &aad, &value);
        let (mut dk_out, mut out, mut plain) =
            (vec![0u8; 48], vec![0u8; size + 16], vec![0u8; size]);
        let iters = if size > 1000 { 2_000 } else { 10_000 };
        let (mut es, mut ps, mut eo, mut po) = (vec![], vec![], vec![], vec![]);
        for _ in 0..41 {
            time_per_call(&mut es, iters, || {
                black_box(envelope::seal_field(&ak, &ctx, black_box(&value)).unwrap());
            });
            time_per_call(&mut ps, iters, || {
                primitives_seal(&orion_ak, &aad, black_box(&value), &mut dk_out, &mut out);
            });
            time_per_call(&mut eo, iters, || {
                black_box(envelope::open_field(&ak, &ctx, black_box(&sealed)).unwrap());
            });
            time_per_call(&mut po, iters, || {
                primitives_open(&orion_ak, &aad, black_box(&raw), &mut plain);
            });
        }
        let (es, ps, eo, po) = (median(es), median(ps), median(eo), median(po));
        println!(
            "{:>5}B  {:>12?} {:>12?} {:>5.2}x   {:>12?} {:>12?} {:>5.2}x",
            size,
            es,
            ps,
            es.as_secs_f64() / ps.as_secs_f64(),
            eo,
            po,
            eo.as_secs_f64() / po.as_secs_f64()
        );
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = bench_envelope, bench_wrap, bench_signature
}

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    print_ratios();
}
