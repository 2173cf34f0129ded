//! Secrets hygiene (issue 19, point 4): the whole workflow — write, share,
//! read, revoke with re-wrap, `rewrap_existing`, files, import — runs with
//! every `tracing` event and span captured at TRACE, and errors provoked on
//! purpose (a tampered row and file chunk, a wrong passphrase, a denied
//! read, a conflict, malformed input); neither the captured log nor any
//! error's `Display` or `Debug` holds a plaintext marker, a plain meta
//! value, the passphrase, a secret key, an access key, or a stored
//! envelope, wrapped key or file chunk (in hex, base64 or `Debug` byte
//! form, see `tests/hygiene`). On SQLite and PostgreSQL.
//!
//! Data keys are not looked for as such: no API gives them out (they live
//! only inside `seal`/`open`), so they are covered through what holds them:
//! the envelopes (a data key sealed under the access key, then the value
//! under the data key) and file heads, whose bytes are looked for, and the
//! access keys that open them.

mod common;
mod hygiene;

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use common::{each_backend, TestDb};
use hygiene::{harvest, profile_secrets, Secrets};
use strongroom::{Client, Fields, ImportRow, NewRecord, Plain, Profile, ProfileOptions, Query};
use tracing_subscriber::fmt::format::FmtSpan;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// What the global subscriber has printed so far.
#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The log of this test binary: one global subscriber at TRACE (span opens
/// and closes included, every field), set once, so events on rayon's
/// worker threads are captured too (a thread's default would miss them);
/// `log` records (r2d2, diesel) are forwarded to it.
fn log() -> &'static Buffer {
    static LOG: OnceLock<Buffer> = OnceLock::new();
    LOG.get_or_init(|| {
        let buffer = Buffer::default();
        let writer = buffer.clone();
        tracing_subscriber::registry()
            .with(
                tracing_subscriber::fmt::layer()
                    .with_writer(move || writer.clone())
                    .with_ansi(false)
                    .with_span_events(FmtSpan::FULL),
            )
            .with(tracing_subscriber::filter::LevelFilter::TRACE)
            .try_init()
            .expect("the only global subscriber of this test binary");
        buffer
    })
}

fn logged() -> String {
    String::from_utf8_lossy(&log().0.lock().unwrap()).into_owned()
}

/// Every error met, as its `Display` and `Debug`.
#[derive(Default)]
struct Errors(Vec<(String, String)>);

impl Errors {
    /// Keeps `result`'s error, which there must be.
    fn expect_err<T: std::fmt::Debug, E: std::fmt::Display + std::fmt::Debug>(
        &mut self,
        what: &str,
        result: Result<T, E>,
    ) {
        match result {
            Ok(ok) => panic!("{what}: expected an error, got {ok:?}"),
            Err(err) => self.keep(what, &err),
        }
    }

    fn keep(&mut self, what: &str, err: &(impl std::fmt::Display + std::fmt::Debug)) {
        self.0
            .push((format!("{what} (Display)"), format!("{err} / {err:#}")));
        self.0
            .push((format!("{what} (Debug)"), format!("{err:?} / {err:#?}")));
    }
}

const PASSPHRASE: &str = "hygiene-passphrase-correct-horse-7f3a";

/// Unique markers for one run: the plaintext and plain values written.
struct Markers {
    text: String,
    json: String,
    file: String,
    import: String,
    plain: String,
    big: String,
}

impl Markers {
    fn new(db: &TestDb) -> Markers {
        let tag = format!("{:?}-{}", db.backend, uuid::Uuid::new_v4().simple());
        Markers {
            text: format!("hyg-text-{tag}"),
            json: format!("hyg-json-{tag}"),
            file: format!("hyg-file-{tag}"),
            import: format!("hyg-import-{tag}"),
            plain: format!("hyg-plain-{tag}"),
            big: format!("hyg-big-{tag}"),
        }
    }

    fn register(&self, secrets: &mut Secrets) {
        for (label, marker) in [
            ("text marker", &self.text),
            ("JSON marker", &self.json),
            ("file marker", &self.file),
            ("import marker", &self.import),
            ("plain meta marker", &self.plain),
            ("oversized value marker", &self.big),
        ] {
            secrets.literal(label, marker);
        }
        secrets.literal("passphrase", PASSPHRASE);
    }
}

fn note(text: &str) -> Fields {
    Fields::new().with("note", text).unwrap()
}

#[test]
fn the_scanner_finds_a_secret_in_each_form_and_not_a_short_overlap() {
    let secret: Vec<u8> = (0u8..40)
        .map(|i| i.wrapping_mul(37).wrapping_add(11))
        .collect();
    let mut secrets = Secrets::default();
    secrets.bytes("k", &secret);
    secrets.literal("m", "a-marker-0001");
    let b64 = |skip: usize| hygiene::encodings(&secret[skip..]);
    let mut forms = hygiene::encodings(&secret);
    forms.extend(b64(1));
    forms.push(format!("{:?}", &secret[5..]));
    forms.push(hex::encode(&secret[3..20]));
    for form in forms {
        let text = format!("event: key={form} done");
        assert!(!secrets.findings("t", &text).is_empty(), "{text}");
    }
    assert!(!secrets.findings("t", "x a-marker-0001 y").is_empty());
    // 11 bytes in hex (22 characters) is below the window.
    let short = format!("x {} y", hex::encode(&secret[..11]));
    assert!(secrets.findings("t", &short).is_empty(), "{short}");
}

#[test]
fn no_marker_passphrase_key_or_ciphertext_in_logs_or_errors() {
    each_backend(
        "no_marker_passphrase_key_or_ciphertext_in_logs_or_errors",
        |db| {
            log();
            let store = db.store();
            let markers = Markers::new(db);
            let mut errors = Errors::default();
            let sealed = ProfileOptions::default().passphrase(PASSPHRASE);
            let alice = Client::open_or_create_with(db.profile("alice"), &store, sealed).unwrap();
            let bob = Client::open_or_create(db.profile("bob"), &store).unwrap();
            let carol = Client::open_or_create(db.profile("carol"), &store).unwrap();
            let plain = Plain::from([("clinic".to_owned(), markers.plain.clone())]);

            // Write: text and JSON fields, one and many.
            let json = serde_json::json!({ "nested": [markers.json.clone(), { "k": markers.json.clone() }] });
            let batch: Vec<NewRecord> = (0..4)
                .map(|i| {
                    let fields = Fields::new()
                        .with("note", &format!("{}-{i}", markers.text))
                        .unwrap()
                        .with("doc", &json)
                        .unwrap();
                    NewRecord::new("note", fields, plain.clone())
                })
                .collect();
            let ids: Vec<_> = alice
                .put_many(&batch)
                .unwrap()
                .into_iter()
                .map(|m| m.id)
                .collect();
            let one = alice
                .put("note", &note(&format!("{}-one", markers.text)), &plain)
                .unwrap();

            // A file of two chunks and more.
            let body: Vec<u8> = markers
                .file
                .as_bytes()
                .iter()
                .copied()
                .cycle()
                .take(70_000)
                .collect();
            let file = alice.put_file("scan", &plain, &body[..]).unwrap();

            // Import.
            let rows: Vec<ImportRow> = (0..3)
                .map(|i| {
                    let fields = note(&format!("{}-{i}", markers.import));
                    ImportRow::new(
                        format!("src-{i}"),
                        NewRecord::new("note", fields, plain.clone()),
                    )
                })
                .collect();
            let outcome = alice.import_batch("legacy-source", &rows).unwrap();
            assert_eq!(outcome.imported, 3);
            errors.expect_err(
                "import of a batch naming a source id twice",
                alice.import_batch("legacy-source", &[rows[0].clone(), rows[0].clone()]),
            );

            // Share and read.
            alice.share("note", bob.id()).unwrap();
            alice.share("scan", bob.id()).unwrap();
            let read = bob.get(ids[0]).unwrap();
            assert_eq!(
                read.field::<String>("note").unwrap(),
                format!("{}-0", markers.text)
            );
            let page = bob
                .query(
                    &Query::new()
                        .record_type("note")
                        .shared()
                        .plain_eq("clinic", &markers.plain),
                )
                .unwrap();
            assert_eq!(page.records.len(), 8);
            let mut back = Vec::new();
            bob.read_file(file.id, &mut back).unwrap();
            assert_eq!(back, body);
            errors.expect_err("a field read as the wrong type", read.field::<u64>("note"));
            errors.expect_err("a missing field", read.field::<String>("absent"));

            // Update, and a conflict.
            let updated = alice
                .update(
                    one.id,
                    one.version,
                    &note(&format!("{}-updated", markers.text)),
                    &plain,
                )
                .unwrap();
            errors.expect_err(
                "a stale update",
                alice.update(
                    one.id,
                    one.version,
                    &note(&format!("{}-stale", markers.text)),
                    &plain,
                ),
            );
            errors.expect_err("a stale delete", alice.delete(one.id, one.version));

            // A denied read, of a record and of a file.
            errors.expect_err("a read never shared", carol.get(ids[1]));
            errors.expect_err(
                "a file read never shared",
                carol.read_file(file.id, Vec::new()),
            );

            // What the database holds before the revocation re-wraps it.
            let mut secrets = Secrets::default();
            markers.register(&mut secrets);
            let profiles: Vec<Profile> =
                [("alice", Some(PASSPHRASE)), ("bob", None), ("carol", None)]
                    .iter()
                    .map(|(name, pass)| Profile::load(db.profile(name), *pass).unwrap())
                    .collect();
            for (name, profile) in ["alice", "bob", "carol"].iter().zip(&profiles) {
                profile_secrets(name, profile, &mut secrets);
            }
            let clients = [&profiles[0], &profiles[1], &profiles[2]];
            harvest(db, &clients, &mut secrets);

            // Revoke with re-wrap; the revoked reader is refused.
            let revoked = alice.revoke_and_rewrap("note", bob.id()).unwrap();
            assert_eq!(revoked.removed_readers.len(), 1, "{revoked:?}");
            bob.clear_key_cache();
            errors.expect_err("a read after revocation", bob.get(ids[2]));
            let later = alice
                .put("note", &note(&format!("{}-after", markers.text)), &plain)
                .unwrap();
            errors.expect_err(
                "a read of a record written after revocation",
                bob.get(later.id),
            );
            errors.expect_err("a revocation of no share", alice.revoke("note", carol.id()));
            alice.revoke("scan", bob.id()).unwrap();
            let rewrapped = alice.rewrap_existing("scan", 10).unwrap();
            assert_eq!(rewrapped.rewrapped, 1, "{rewrapped:?}");
            alice.rewrap_existing("note", 2).unwrap();

            // Tampering: a record's envelope and a file chunk.
            db.sql(&format!(
                "UPDATE records SET sealed_fields = {} WHERE record_id = {}",
                db.blob(&{
                    let mut bytes = common::unhex(
                        &db.texts(&format!(
                            "SELECT {} AS t FROM records WHERE record_id = {}",
                            db.hex("sealed_fields"),
                            db.id(ids[3])
                        ))[0],
                    );
                    let last = bytes.len() - 1;
                    bytes[last] ^= 1;
                    bytes
                }),
                db.id(ids[3])
            ));
            errors.expect_err("a tampered record", alice.get(ids[3]));
            let page = alice.query(&Query::new().record_type("note")).unwrap();
            assert_eq!(page.skipped.len(), 1, "{:?}", page.skipped);
            for skipped in &page.skipped {
                errors.0.push((
                    "a skipped record (Debug)".into(),
                    format!("{skipped:?} / {skipped:#?}"),
                ));
            }
            let chunk = common::unhex(
                &db.texts(&format!(
                    "SELECT {} AS t FROM file_chunks WHERE record_id = {} AND seq = 0",
                    db.hex("chunk"),
                    db.id(file.id)
                ))[0],
            );
            let mut spoiled = chunk.clone();
            spoiled[40] ^= 1;
            db.sql(&format!(
                "UPDATE file_chunks SET chunk = {} WHERE record_id = {} AND seq = 0",
                db.blob(&spoiled),
                db.id(file.id)
            ));
            errors.expect_err(
                "a tampered file chunk",
                alice.read_file(file.id, Vec::new()),
            );
            errors.expect_err(
                "a tampered file chunk, opened",
                alice
                    .open_file(file.id)
                    .map_err(std::io::Error::other)
                    .and_then(|mut r| std::io::copy(&mut r, &mut std::io::sink())),
            );

            // A wrong passphrase, and none, for the sealed profile.
            errors.expect_err(
                "a wrong passphrase",
                Client::open_or_create_with(
                    db.profile("alice"),
                    &store,
                    ProfileOptions::default().passphrase("hygiene-wrong-passphrase"),
                ),
            );
            errors.expect_err("no passphrase", Profile::load(db.profile("alice"), None));

            // Malformed input carrying markers.
            errors.expect_err(
                "a record type with a control character",
                alice.put(
                    "bad\u{7}type", // record types are logged by design: not a marker
                    &note(&markers.text),
                    &plain,
                ),
            );
            errors.expect_err(
                "an empty field name",
                alice.put(
                    "note",
                    &Fields::new().with("", &markers.text).unwrap(),
                    &plain,
                ),
            );
            errors.expect_err(
                "an oversized plain value",
                alice.put(
                    "note",
                    &note(&markers.text),
                    &Plain::from([(
                        "clinic".to_owned(),
                        markers.big.repeat(70_000 / markers.big.len() + 1),
                    )]),
                ),
            );
            errors.expect_err(
                "a plain name with a control character",
                alice.put(
                    "note",
                    &note(&markers.text),
                    &Plain::from([(format!("{}\n", markers.plain), "v".to_owned())]),
                ),
            );
            errors.expect_err("a garbage cursor", strongroom::Cursor::parse(&markers.text));
            errors.expect_err(
                "an envelope that is not one",
                strongroom::hazmat::envelope::Envelope::from_text(&format!(
                    "srf1.{}",
                    markers.text
                )),
            );
            errors.expect_err(
                "a file read of a record that is not a file",
                alice.read_file(ids[0], Vec::new()),
            );
            errors.expect_err(
                "a missing record",
                alice.get(strongroom::RecordId::random()),
            );
            drop(updated);

            // Everything the database held at the end, too.
            harvest(db, &clients, &mut secrets);
            assert!(secrets.len() > 40, "{} secrets", secrets.len());
            assert!(errors.0.len() >= 30, "{} errors", errors.0.len());

            let log = logged();
            // The log saw the workflow (so the check is not vacuous).
            for span in [
                "put_many{",
                "share{",
                "revoke_and_rewrap{",
                "rewrap_existing{",
                "put_file{",
                "import_batch{",
            ] {
                assert!(log.contains(span), "no {span} in the log");
            }
            assert!(tracing::enabled!(tracing::Level::TRACE), "TRACE captured");
            let mut texts: Vec<(&str, &str)> = vec![("the TRACE log", log.as_str())];
            texts.extend(
                errors
                    .0
                    .iter()
                    .map(|(what, text)| (what.as_str(), text.as_str())),
            );
            secrets.assert_absent(texts);
        },
    );
}
