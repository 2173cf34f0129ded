//! Observability: every public operation of a client runs in a `tracing`
//! span named after it, with its record type, counts and duration, and no
//! value of a record anywhere in what is logged; `Client::counters` moves
//! as documented. On SQLite and PostgreSQL.

mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::{Arc, Mutex};

use common::notes::{client, note, notes};
use common::{each_backend, TestDb};
use strongroom::{Client, Counters, Error, Fields, NewRecord, Plain, Query};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::FmtSpan;
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

/// A value written to a sensitive field; must never be logged.
const SECRET: &str = "obs-plaintext-c0ffee";
/// A plain meta value a query filters on; not logged either.
const PLAIN_VALUE: &str = "obs-plain-value-b0a7";

/// A span or event as captured: its name (an event's is its message) and
/// its fields, each as its `Debug` form (a string without quotes).
#[derive(Debug, Clone, Default)]
struct Captured {
    name: String,
    fields: BTreeMap<String, String>,
}

impl Captured {
    fn field(&self, name: &str) -> Option<&str> {
        self.fields.get(name).map(String::as_str)
    }
}

impl Visit for Captured {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.fields
            .insert(field.name().to_owned(), value.to_owned());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.fields
            .insert(field.name().to_owned(), format!("{value:?}"));
    }
}

/// Everything the layer saw: spans open and closed (in order of closing)
/// and events.
#[derive(Default)]
struct Seen {
    open: BTreeMap<u64, Captured>,
    closed: Vec<Captured>,
    events: Vec<Captured>,
}

/// A layer keeping every span and event with all their fields.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Seen>>);

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Capture {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, _: Context<'_, S>) {
        let mut span = Captured {
            name: attrs.metadata().name().to_owned(),
            ..Captured::default()
        };
        attrs.record(&mut span);
        self.0.lock().unwrap().open.insert(id.into_u64(), span);
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, _: Context<'_, S>) {
        if let Some(span) = self.0.lock().unwrap().open.get_mut(&id.into_u64()) {
            values.record(span);
        }
    }

    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        let mut captured = Captured::default();
        event.record(&mut captured);
        captured.name = captured.field("message").unwrap_or_default().to_owned();
        self.0.lock().unwrap().events.push(captured);
    }

    fn on_close(&self, id: Id, _: Context<'_, S>) {
        let mut seen = self.0.lock().unwrap();
        if let Some(span) = seen.open.remove(&id.into_u64()) {
            seen.closed.push(span);
        }
    }
}

/// A buffer the fmt layer writes its lines into.
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

/// What ran under [`capture`]: the spans closed, the events, and the text
/// a fmt subscriber printed (every level, span opens and closes included).
struct Captures {
    closed: Vec<Captured>,
    events: Vec<Captured>,
    text: String,
}

impl Captures {
    /// The closed spans named `name`, in order.
    fn spans(&self, name: &str) -> Vec<&Captured> {
        self.closed.iter().filter(|s| s.name == name).collect()
    }

    /// The one closed span named `name`.
    fn span(&self, name: &str) -> &Captured {
        let spans = self.spans(name);
        assert_eq!(spans.len(), 1, "one `{name}` span in {:?}", self.closed);
        spans[0]
    }

    /// Asserts that `needle` appears nowhere: no span field, no event
    /// field, no formatted line.
    fn assert_absent(&self, needle: &str) {
        let fields = self
            .closed
            .iter()
            .chain(&self.events)
            .flat_map(|c| c.fields.values().chain(std::iter::once(&c.name)));
        for value in fields {
            assert!(!value.contains(needle), "{needle:?} logged in {value:?}");
        }
        assert!(
            !self.text.contains(needle),
            "{needle:?} logged:\n{}",
            self.text
        );
    }
}

/// Runs `body` with every span and event of this thread captured, at
/// every level.
fn capture<T>(body: impl FnOnce() -> T) -> (T, Captures) {
    let layer = Capture::default();
    let buffer = Buffer::default();
    let writer = buffer.clone();
    let subscriber = tracing_subscriber::registry().with(layer.clone()).with(
        tracing_subscriber::fmt::layer()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .with_span_events(FmtSpan::FULL),
    );
    let out = tracing::subscriber::with_default(subscriber, body);
    let mut seen = layer.0.lock().unwrap();
    let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
    let captures = Captures {
        closed: std::mem::take(&mut seen.closed),
        events: std::mem::take(&mut seen.events),
        text,
    };
    (out, captures)
}

/// `n` notes whose values hold [`SECRET`], with [`PLAIN_VALUE`] as plain
/// meta.
fn secret_notes(n: usize) -> Vec<NewRecord> {
    (0..n)
        .map(|i| {
            let fields = Fields::new()
                .with("note", &format!("{SECRET}-{i}"))
                .unwrap();
            let plain = Plain::from([("clinic".to_owned(), PLAIN_VALUE.to_owned())]);
            NewRecord::new("note", fields, plain)
        })
        .collect()
}

fn assert_timed(span: &Captured) {
    let ms: f64 = span
        .field("duration_ms")
        .unwrap_or_else(|| panic!("no duration in {span:?}"))
        .parse()
        .unwrap();
    assert!(ms >= 0.0, "{span:?}");
}

#[test]
fn write_read_and_query_spans_carry_type_counts_and_duration_but_no_value() {
    each_backend(
        "write_read_and_query_spans_carry_type_counts_and_duration_but_no_value",
        |db| {
            let alice = client(db, "alice");
            let me = alice.id().to_string();
            let ((ids, one), logged) = capture(|| {
                let ids: Vec<_> = alice
                    .put_many(&secret_notes(3))
                    .unwrap()
                    .into_iter()
                    .map(|m| m.id)
                    .collect();
                let one = alice
                    .put("note", &note(&format!("{SECRET}-put")), &Plain::new())
                    .unwrap();
                let read = alice.get(ids[0]).unwrap();
                assert_eq!(read.field::<String>("note").unwrap(), format!("{SECRET}-0"));
                let page = alice
                    .query(
                        &Query::new()
                            .record_type("note")
                            .plain_eq("clinic", PLAIN_VALUE),
                    )
                    .unwrap();
                assert_eq!(page.records.len(), 3);
                (ids, one)
            });

            let put_many = logged.span("put_many");
            assert_eq!(put_many.field("record_type"), Some("note"));
            assert_eq!(put_many.field("records"), Some("3"));
            assert_eq!(put_many.field("fields"), Some("3"));
            assert_eq!(put_many.field("client_id"), Some(me.as_str()));
            assert_eq!(put_many.field("error"), None);
            assert_timed(put_many);

            let put = logged.span("put");
            assert_eq!(put.field("record_type"), Some("note"));
            assert_eq!(put.field("fields"), Some("1"));
            assert_eq!(put.field("record_id"), Some(one.id.to_string().as_str()));
            assert_timed(put);

            let get = logged.span("get");
            assert_eq!(get.field("record_id"), Some(ids[0].to_string().as_str()));
            assert_eq!(get.field("record_type"), Some("note"));
            assert_eq!(get.field("writer_id"), Some(me.as_str()));
            assert_eq!(get.field("fields"), Some("1"));
            assert_timed(get);

            let query = logged.span("query");
            assert_eq!(query.field("record_type"), Some("note"));
            assert_eq!(query.field("plain_filters"), Some("1"));
            assert_eq!(query.field("records"), Some("3"));
            assert_eq!(query.field("skipped"), Some("0"));
            assert_timed(query);

            // Whatever is logged, at any level: no field value, no plain
            // value filtered on.
            logged.assert_absent(SECRET);
            logged.assert_absent(PLAIN_VALUE);
            assert!(logged.text.contains("put_many{"), "{}", logged.text);
        },
    );
}

#[test]
fn a_failed_operation_records_its_error_and_still_no_value() {
    each_backend(
        "a_failed_operation_records_its_error_and_still_no_value",
        |db| {
            let alice = client(db, "alice");
            let id = alice
                .put("note", &note(&format!("{SECRET}-1")), &Plain::new())
                .unwrap()
                .id;
            let (outcome, logged) =
                capture(|| alice.update(id, 7, &note(&format!("{SECRET}-2")), &Plain::new()));
            assert!(
                matches!(outcome, Err(Error::Conflict { .. })),
                "{outcome:?}"
            );
            let update = logged.span("update");
            assert_eq!(update.field("record_id"), Some(id.to_string().as_str()));
            assert_eq!(update.field("expected_version"), Some("7"));
            assert!(
                update
                    .field("error")
                    .is_some_and(|e| e.contains("conflict")),
                "{update:?}"
            );
            assert_timed(update);
            logged.assert_absent(SECRET);
        },
    );
}

#[test]
fn the_planner_warns_once_on_the_first_indexed_write_and_logs_no_value() {
    each_backend(
        "the_planner_warns_once_on_the_first_indexed_write_and_logs_no_value",
        |db| {
            let alice = client(db, "alice");
            // The whole hash kept over one record: equality leaks exactly.
            alice
                .declare_indexes(
                    "note",
                    [strongroom::index::IndexSpec::on_field("note").bits(256)],
                )
                .unwrap();
            let (outcome, logged) =
                capture(|| alice.put("note", &note(&format!("{SECRET}-1")), &Plain::new()));
            outcome.unwrap();
            let warnings: Vec<&Captured> = logged
                .events
                .iter()
                .filter(|e| e.name.contains("equality leaks exactly"))
                .collect();
            assert_eq!(warnings.len(), 1, "{:?}", logged.events);
            assert_eq!(warnings[0].field("index"), Some("note"));
            assert_eq!(warnings[0].field("bits"), Some("256"));
            logged.assert_absent(SECRET);
            // Once per client and type: the next write counts nothing.
            let (outcome, logged) =
                capture(|| alice.put("note", &note(&format!("{SECRET}-2")), &Plain::new()));
            outcome.unwrap();
            assert!(
                !logged.events.iter().any(|e| e.name.contains("leaks")),
                "{:?}",
                logged.events
            );
            // SECURITY.md: once per `Client`, not per process: another
            // client (the same profile, opened again) warns on its first
            // indexed write of the type.
            let again = client(db, "alice");
            again
                .declare_indexes(
                    "note",
                    [strongroom::index::IndexSpec::on_field("note").bits(256)],
                )
                .unwrap();
            let (outcome, logged) =
                capture(|| again.put("note", &note(&format!("{SECRET}-3")), &Plain::new()));
            outcome.unwrap();
            assert_eq!(
                logged
                    .events
                    .iter()
                    .filter(|e| e.name.contains("equality leaks exactly"))
                    .count(),
                1,
                "{:?}",
                logged.events
            );
            logged.assert_absent(SECRET);
        },
    );
}

/// The first indexed write's planner counts the records it adds: a first
/// `put_many` of 2,100 records at 1 bit (about 1,050 a value) warns that
/// lookups scan too much, not that equality leaks.
#[test]
fn the_planners_first_look_counts_the_records_the_write_adds() {
    each_backend(
        "the_planners_first_look_counts_the_records_the_write_adds",
        |db| {
            let alice = client(db, "alice");
            alice
                .declare_indexes(
                    "note",
                    [strongroom::index::IndexSpec::on_field("note").bits(1)],
                )
                .unwrap();
            let batch: Vec<NewRecord> = (0..2_100)
                .map(|i| NewRecord::new("note", note(&format!("n{i}")), Plain::new()))
                .collect();
            let (outcome, logged) = capture(|| alice.put_many(&batch));
            outcome.unwrap();
            let names: Vec<&str> = logged.events.iter().map(|e| e.name.as_str()).collect();
            assert!(
                names
                    .iter()
                    .any(|n| n.contains("lookups decrypt too many candidates")),
                "{names:?}"
            );
            assert!(
                !names.iter().any(|n| n.contains("equality leaks")),
                "{names:?}"
            );
        },
    );
}

#[test]
fn sharing_revoking_and_rotating_have_spans_too() {
    each_backend("sharing_revoking_and_rotating_have_spans_too", |db| {
        let (alice, bob) = (client(db, "alice"), client(db, "bob"));
        notes(&alice, 2);
        let (_, logged) = capture(|| {
            alice.share("note", bob.id()).unwrap();
            bob.query(&Query::new().record_type("note").shared())
                .unwrap();
            alice.rotate("note").unwrap();
            alice.revoke_and_rewrap("note", bob.id()).unwrap();
        });
        let share = logged.span("share");
        assert_eq!(share.field("record_type"), Some("note"));
        assert_eq!(share.field("reader"), Some(bob.id().to_string().as_str()));
        assert_eq!(share.field("wrapped_keys"), Some("1"));
        let rotate = logged.span("rotate");
        assert_eq!(rotate.field("new_version"), Some("2"));
        let revoke = logged.span("revoke_and_rewrap");
        assert_eq!(revoke.field("new_version"), Some("3"));
        assert_eq!(revoke.field("removed_readers"), Some("1"));
        assert_eq!(revoke.field("rewrapped"), Some("2"));
        // The re-wrap it runs is a span of its own.
        let rewrap = logged.span("rewrap_existing");
        assert_eq!(rewrap.field("rewrapped"), Some("2"));
        for span in [share, rotate, revoke, rewrap] {
            assert_timed(span);
        }
    });
}

/// `reconcile` and `leakage` run in spans of their own, timed, with their
/// counts; the reconcile's queries and deletes nest in it.
#[test]
fn reconcile_and_leakage_have_spans_too() {
    each_backend("reconcile_and_leakage_have_spans_too", |db| {
        let alice = client(db, "alice");
        let ids = notes(&alice, 3);
        let keep = ids[0];
        let (_, logged) = capture(|| {
            let report = alice
                .reconcile("note", std::time::Duration::ZERO, |found| {
                    Ok::<_, strongroom::Error>(
                        found.iter().copied().filter(|id| *id == keep).collect(),
                    )
                })
                .unwrap();
            assert_eq!((report.scanned, report.removed), (3, 2));
            alice.leakage("note").unwrap();
        });
        let reconcile = logged.span("reconcile");
        assert_eq!(reconcile.field("record_type"), Some("note"));
        assert_eq!(reconcile.field("scanned"), Some("3"));
        assert_eq!(reconcile.field("removed"), Some("2"));
        assert_timed(reconcile);
        let leakage = logged.span("leakage");
        assert_eq!(leakage.field("record_type"), Some("note"));
        assert_timed(leakage);
        assert_eq!(logged.spans("delete").len(), 2);
        logged.assert_absent(SECRET);
    });
}

/// The counters of `client` less those of `before`.
fn since(client: &Client, before: Counters) -> [u64; 7] {
    let now = client.counters();
    [
        now.records_written - before.records_written,
        now.records_read - before.records_read,
        now.records_skipped - before.records_skipped,
        now.key_unwraps - before.key_unwraps,
        now.cache_hits - before.cache_hits,
        now.cache_misses - before.cache_misses,
        now.conflicts - before.conflicts,
    ]
}

#[test]
fn counters_move_as_documented() {
    each_backend("counters_move_as_documented", |db| {
        let (alice, bob) = (client(db, "alice"), client(db, "bob"));
        //                                   [written, read, skipped, unwraps, hits, misses, conflicts]
        let zero = Counters::default();
        assert_eq!(since(&alice, zero), [0; 7], "a new client has done nothing");

        let ids = notes(&alice, 3);
        assert_eq!(since(&alice, zero)[0], 3, "three records written");

        // Alice's own key is cached since it was made: a hit for the key,
        // a miss for the batch (then verified and kept).
        let before = alice.counters();
        let page = alice.query(&Query::new().record_type("note")).unwrap();
        assert_eq!(page.records.len(), 3);
        assert_eq!(since(&alice, before), [0, 3, 0, 0, 1, 1, 0]);
        // Again: both from the cache.
        let before = alice.counters();
        alice.get(ids[0]).unwrap();
        assert_eq!(since(&alice, before), [0, 1, 0, 0, 2, 0, 0]);
        // With the key cache cleared, the key is unwrapped again.
        alice.clear_key_cache();
        let before = alice.counters();
        alice.get(ids[0]).unwrap();
        assert_eq!(since(&alice, before), [0, 1, 0, 1, 1, 1, 0]);

        // A reader unwraps the shared key once; its second read hits the
        // caches.
        alice.share("note", bob.id()).unwrap();
        let shared = Query::new().record_type("note").shared();
        let before = bob.counters();
        assert_eq!(bob.query(&shared).unwrap().records.len(), 3);
        assert_eq!(since(&bob, before), [0, 3, 0, 1, 0, 2, 0]);
        let before = bob.counters();
        assert_eq!(bob.query(&shared).unwrap().records.len(), 3);
        assert_eq!(since(&bob, before), [0, 3, 0, 0, 2, 0, 0]);

        // A tampered row is skipped, and counted.
        spoil(db, ids[1]);
        let before = alice.counters();
        let page = alice.query(&Query::new().record_type("note")).unwrap();
        assert_eq!((page.records.len(), page.skipped.len()), (2, 1));
        assert_eq!(since(&alice, before)[..3], [0, 2, 1]);

        // A stale version is a conflict, for update and delete alike; a
        // good update is one record written.
        let before = alice.counters();
        let stale = alice.update(ids[0], 5, &note("x"), &Plain::new());
        assert!(matches!(stale, Err(Error::Conflict { .. })), "{stale:?}");
        assert!(matches!(
            alice.delete(ids[0], 5),
            Err(Error::Conflict { .. })
        ));
        alice.update(ids[0], 1, &note("y"), &Plain::new()).unwrap();
        let moved = since(&alice, before);
        assert_eq!((moved[0], moved[6]), (1, 2));
    });
}

/// Garbage in a record's sealed fields (as `tests/hostile_rows.rs` does):
/// the encoding's version byte, then a field whose envelope claims 4 GiB.
fn spoil(db: &TestDb, id: strongroom::RecordId) {
    let garbage = db.blob(&[
        0x01, 0x00, 0x04, b'n', b'o', b't', b'e', 0xFF, 0xFF, 0xFF, 0xFF, 0x00,
    ]);
    db.sql(&format!(
        "UPDATE records SET sealed_fields = {garbage} WHERE record_id = {}",
        db.id(id)
    ));
}
