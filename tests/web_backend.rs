//! The web backend example (`examples/web_backend`) over real HTTP: its
//! router is started on loopback ports, twice (a `clinic` service and a
//! `reader` service, each with its own strongroom client and primary
//! database, on one strongroom store), and driven with hyper's client:
//! create, read, list, update and delete with their errors (400, 413, 415, 404,
//! 409; an update without a version is 400), sharing (403 before, 200 after, 403 for a record written
//! after the revocation), a failing primary insert (its strongroom record
//! is removed), reconciliation (an orphan is removed), then a concurrent
//! load (32 clients, 2,000 mixed requests, every response checked) whose
//! requests/s and p99 are printed. The logs are captured: requests' ids
//! reach the library's spans, and no sensitive value is ever logged. The
//! whole scenario runs with strongroom's store on SQLite, then on
//! PostgreSQL (the primary databases are SQLite files in both).

#[allow(dead_code)]
#[path = "../examples/web_backend/app/mod.rs"]
mod app;
mod common;
#[allow(dead_code)]
mod web_support;

use std::collections::BTreeSet;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use app::{AppState, PatientOut, PatientPage, PatientSecret, ReconcileReport, SharedPatient};
use axum::http::{Method, StatusCode};
use diesel::{Connection, RunQueryDsl};
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use strongroom::{Query, RecordId, Store};
use web_support::{Http, Reply};

// ---------------------------------------------------------- the services

struct Service {
    state: AppState,
    http: Http,
    base: String,
    primary_path: std::path::PathBuf,
}

async fn start(name: &str, store_url: &str, dir: &std::path::Path, create: bool) -> Service {
    let (name_owned, url, root) = (name.to_owned(), store_url.to_owned(), dir.to_owned());
    let primary_path = dir.join(format!("{name}.db"));
    let primary = primary_path.clone();
    let state = tokio::task::spawn_blocking(move || {
        let store = if create {
            Store::open_or_create(&url)?
        } else {
            Store::open(&url)?
        };
        AppState::open(
            &name_owned,
            &store,
            &root.join(format!("{name_owned}.profile")),
            &primary,
        )
    })
    .await
    .unwrap()
    .expect("open the service");
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(app::serve(listener, state.clone(), std::future::pending()));
    Service {
        state,
        http: Http::new(&base),
        base,
        primary_path,
    }
}

fn patient(clinic: &str, ward: u16, name: &str, national_id: &str, notes: &str) -> Value {
    json!({"clinic": clinic, "ward": ward, "name": name, "national_id": national_id, "notes": notes})
}

/// The clinic's own patient records in strongroom, by id.
async fn stored_ids(service: &Service) -> BTreeSet<RecordId> {
    service
        .state
        .vault
        .run(|client| {
            let mut ids = BTreeSet::new();
            let mut query = Query::new().record_type("patient").meta_only().limit(1000);
            loop {
                let page = client.query(&query)?;
                ids.extend(page.records.iter().map(|r| r.meta().id));
                match page.next {
                    Some(next) => query = query.after(next),
                    None => return Ok(ids),
                }
            }
        })
        .await
        .unwrap()
}

// ------------------------------------------------------------- the logs

/// Every log line of the test, to check what reaches the logs.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Logs {
    fn clear(&self) {
        self.0.lock().unwrap().clear();
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

// ------------------------------------------------------------- the test

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web_backend_over_http() {
    let logs = Logs::default();
    let writer = logs.clone();
    tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::INFO)
        .with_span_events(tracing_subscriber::fmt::format::FmtSpan::CLOSE)
        .init();

    // strongroom on SQLite, then on PostgreSQL (the primary databases are
    // SQLite files in both runs).
    let dir = tempfile::tempdir().unwrap();
    let sqlite = common::TestDb::sqlite();
    scenario(&logs, "SQLite", &sqlite, dir.path()).await;

    let pg = tokio::task::spawn_blocking(|| common::postgres_db("web_backend_over_http"))
        .await
        .unwrap();
    if let Some(pg) = pg {
        let dir = tempfile::tempdir().unwrap();
        scenario(&logs, "PostgreSQL", &pg, dir.path()).await;
        tokio::task::spawn_blocking(move || drop(pg)).await.unwrap();
    }
}

/// The whole scenario with strongroom's store in `db` and the
/// services' profiles and primary databases in `dir`.
async fn scenario(logs: &Logs, backend: &str, db: &common::TestDb, dir: &std::path::Path) {
    logs.clear();
    eprintln!("-- strongroom on {backend}");
    let store_url = db.url.clone();
    let clinic = start("clinic", &store_url, dir, true).await;
    let reader = start("reader", &store_url, dir, false).await;
    let api = &clinic.http;
    eprintln!("clinic on {}, reader on {}", clinic.base, reader.base);

    // -- create and read
    let created = api
        .send(
            Method::POST,
            "/patients",
            &[("x-request-id", "test-create-1")],
            Some(
                patient(
                    "north",
                    3,
                    "Ada Lovelace",
                    "1815-12-10-0001",
                    "engine notes",
                )
                .to_string(),
            ),
        )
        .await
        .unwrap();
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    assert_eq!(created.header("x-request-id"), Some("test-create-1"));
    assert_eq!(created.header("etag"), Some("\"1\""));
    let ada: PatientOut = created.json();
    assert_eq!(
        created.header("location"),
        Some(&*format!("/patients/{}", ada.id))
    );
    assert_eq!(
        (
            ada.clinic.as_str(),
            ada.ward,
            ada.name.as_str(),
            ada.version
        ),
        ("north", 3, "Ada Lovelace", 1)
    );
    let read = api.get(&format!("/patients/{}", ada.id)).await.unwrap();
    assert_eq!(read.status, StatusCode::OK);
    assert!(read.header("x-request-id").is_some_and(|id| id.len() == 32));
    assert_eq!(read.json::<PatientOut>(), ada);

    // -- the primary row holds the strongroom id natively (a 16-byte BLOB)
    let mut primary_conn =
        diesel::SqliteConnection::establish(clinic.primary_path.to_str().unwrap()).unwrap();
    #[derive(diesel::QueryableByName)]
    struct Secret {
        #[diesel(sql_type = diesel::sql_types::Binary)]
        secret: RecordId,
        #[diesel(sql_type = diesel::sql_types::Text)]
        kind: String,
    }
    let row: Secret =
        diesel::sql_query("SELECT secret, typeof(secret) AS kind FROM patients WHERE id = ?")
            .bind::<diesel::sql_types::BigInt, _>(ada.id)
            .get_result(&mut primary_conn)
            .unwrap();
    assert_eq!((row.secret, row.kind.as_str()), (ada.record_id, "blob"));

    // -- list: a plain filter and a cursor
    let grace: PatientOut = api
        .post(
            "/patients",
            &patient("south", 1, "Grace Hopper", "1906-12-09-0002", ""),
        )
        .await
        .unwrap()
        .json();
    let alan: PatientOut = api
        .post(
            "/patients",
            &patient("north", 3, "Alan Turing", "1912-06-23-0003", ""),
        )
        .await
        .unwrap()
        .json();
    let first = api.get("/patients?clinic=north&limit=1").await.unwrap();
    assert_eq!(first.status, StatusCode::OK);
    let first: PatientPage = first.json();
    assert_eq!(first.patients, vec![ada.clone()]);
    let next = first.next.expect("a second page");
    let second: PatientPage = api
        .get(&format!("/patients?clinic=north&limit=1&cursor={next}"))
        .await
        .unwrap()
        .json();
    assert_eq!(second.patients, vec![alan.clone()]);
    if let Some(next) = second.next {
        let third: PatientPage = api
            .get(&format!("/patients?clinic=north&limit=1&cursor={next}"))
            .await
            .unwrap()
            .json();
        assert!(third.patients.is_empty() && third.next.is_none());
    }
    let all: PatientPage = api.get("/patients").await.unwrap().json();
    assert_eq!(all.patients, vec![ada.clone(), grace.clone(), alan.clone()]);
    assert!(all.next.is_none() && all.unreadable.is_empty());

    // -- one tampered record (Ada's sealed fields under Grace's id) is
    // left out of the page and named, not a 500 for every caller
    let (grace_id, ada_id) = (db.id(grace.record_id), db.id(ada.record_id));
    db.sql(&format!(
        "CREATE TABLE saved_fields AS SELECT sealed_fields FROM records WHERE record_id = {grace_id}"
    ));
    db.sql(&format!(
        "UPDATE records SET sealed_fields = (SELECT sealed_fields FROM records \
         WHERE record_id = {ada_id}) WHERE record_id = {grace_id}"
    ));
    let tampered = api.get("/patients").await.unwrap();
    assert_eq!(tampered.status, StatusCode::OK, "{:?}", tampered.body);
    let tampered: PatientPage = tampered.json();
    assert_eq!(tampered.patients, vec![ada.clone(), alan.clone()]);
    assert_eq!(tampered.unreadable, vec![grace.id.to_string()]);
    db.sql(&format!(
        "UPDATE records SET sealed_fields = (SELECT sealed_fields FROM saved_fields) \
         WHERE record_id = {grace_id}"
    ));
    db.sql("DROP TABLE saved_fields");
    let restored: PatientPage = api.get("/patients").await.unwrap().json();
    assert_eq!(restored.patients, all.patients);
    for bad in [
        "/patients?limit=0",
        "/patients?limit=101",
        "/patients?limit=ten",
        "/patients?cursor=abc",
        "/patients?colour=blue",
    ] {
        let reply = api.get(bad).await.unwrap();
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{bad}: {:?}",
            reply.body
        );
    }

    // -- a body over axum's 2 MB limit is 413, one not sent as JSON 415
    let huge = api
        .post(
            "/patients",
            &patient("north", 1, "Big", "0000", &"x".repeat(3_000_000)),
        )
        .await
        .unwrap();
    assert_eq!(
        huge.status,
        StatusCode::PAYLOAD_TOO_LARGE,
        "{:?}",
        huge.body
    );
    let text = api
        .send(
            Method::POST,
            "/patients",
            &[("content-type", "text/plain")],
            Some(patient("north", 1, "Plain", "0000", "").to_string()),
        )
        .await
        .unwrap();
    assert_eq!(
        text.status,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "{:?}",
        text.body
    );

    // -- update: If-Match or the body's version; a stale one is 409
    let path = format!("/patients/{}", ada.id);
    let v2 = api
        .put(
            &path,
            Some(1),
            &patient("north", 4, "Ada Lovelace", "1815-12-10-0001", "v2"),
        )
        .await
        .unwrap();
    assert_eq!(v2.status, StatusCode::OK, "{:?}", v2.body);
    assert_eq!(v2.header("etag"), Some("\"2\""));
    assert_eq!(
        (
            v2.json::<PatientOut>().version,
            v2.json::<PatientOut>().ward
        ),
        (2, 4)
    );
    let stale = api
        .put(
            &path,
            Some(1),
            &patient("north", 5, "Ada Lovelace", "1815-12-10-0001", "lost"),
        )
        .await
        .unwrap();
    assert_eq!(stale.status, StatusCode::CONFLICT, "{:?}", stale.body);
    assert_eq!(stale.body["current_version"], 2);
    let mut body = patient("north", 4, "Ada King", "1815-12-10-0001", "v3");
    body["version"] = json!(2);
    let v3 = api.put(&path, None, &body).await.unwrap();
    assert_eq!(v3.status, StatusCode::OK, "{:?}", v3.body);
    let ada: PatientOut = v3.json();
    assert_eq!((ada.version, ada.name.as_str()), (3, "Ada King"));
    body["version"] = json!(2);
    let disagree = api.put(&path, Some(3), &body).await.unwrap();
    assert_eq!(disagree.status, StatusCode::BAD_REQUEST);
    let unversioned = api
        .put(
            &path,
            None,
            &patient("north", 4, "Ada", "1815-12-10-0001", ""),
        )
        .await
        .unwrap();
    assert_eq!(unversioned.status, StatusCode::BAD_REQUEST);
    assert_eq!(api.get(&path).await.unwrap().json::<PatientOut>(), ada);

    // -- unknown ids: 404
    for reply in [
        api.get("/patients/999999").await.unwrap(),
        api.get("/patients/not-a-number").await.unwrap(),
        api.put("/patients/999999", Some(1), &patient("x", 1, "y", "z", ""))
            .await
            .unwrap(),
        api.delete("/patients/999999", None).await.unwrap(),
        api.get("/no/such/route").await.unwrap(),
        api.get(&format!("/shared/patients/{}", RecordId::random()))
            .await
            .unwrap(),
    ] {
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{:?}", reply.body);
        assert_eq!(reply.body["error"], "not_found");
    }

    // -- malformed bodies: 400
    for body in [
        "{not json",
        "[]",
        r#"{"clinic": "north"}"#,
        r#"{"clinic": "north", "ward": "three", "name": "A", "national_id": "1"}"#,
        r#"{"clinic": "north", "name": "A", "national_id": "1", "colour": "blue"}"#,
        r#"{"clinic": "", "name": "A", "national_id": "1"}"#,
        r#"{"clinic": "north", "name": "A", "national_id": "1", "version": 1}"#,
    ] {
        let reply = api
            .send(Method::POST, "/patients", &[], Some(body.to_owned()))
            .await
            .unwrap();
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{body}: {:?}",
            reply.body
        );
        assert_eq!(reply.body["error"], "bad_request");
    }
    // No body and no content type: not JSON (415).
    let no_type = api
        .send(Method::POST, "/patients", &[], None)
        .await
        .unwrap();
    assert_eq!(no_type.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let bad_reader = api
        .post(
            "/shares",
            &json!({"record_type": "patient", "reader_id": "nobody"}),
        )
        .await
        .unwrap();
    assert_eq!(bad_reader.status, StatusCode::BAD_REQUEST);
    let bad_if_match = api
        .send(
            Method::PUT,
            &path,
            &[("if-match", "W/\"3\"")],
            Some(body.to_string()),
        )
        .await
        .unwrap();
    assert_eq!(bad_if_match.status, StatusCode::BAD_REQUEST);

    // -- a second service: 403 before sharing, 200 after, 403 for a record
    // written after the revocation
    let reader_id: Value = reader.http.get("/").await.unwrap().body;
    let reader_id = reader_id["client_id"].as_str().unwrap().to_owned();
    assert_eq!(reader_id, reader.state.vault.id().to_string());
    let shared_path = format!("/shared/patients/{}", ada.record_id);
    let before = reader.http.get(&shared_path).await.unwrap();
    assert_eq!(before.status, StatusCode::FORBIDDEN, "{:?}", before.body);
    assert_eq!(before.body["error"], "forbidden");
    let shared = api
        .post(
            "/shares",
            &json!({"record_type": "patient", "reader_id": reader_id}),
        )
        .await
        .unwrap();
    assert_eq!(shared.status, StatusCode::OK, "{:?}", shared.body);
    let after = reader.http.get(&shared_path).await.unwrap();
    assert_eq!(after.status, StatusCode::OK, "{:?}", after.body);
    let seen: SharedPatient = after.json();
    assert_eq!(
        (seen.name.as_str(), seen.version, seen.writer_id),
        ("Ada King", 3, clinic.state.vault.id())
    );
    // The reader's own primary database has no patient 1: it reads
    // through strongroom only.
    let own = reader
        .http
        .get(&format!("/patients/{}", ada.id))
        .await
        .unwrap();
    assert_eq!(own.status, StatusCode::NOT_FOUND);
    let revoked = api
        .delete(&format!("/shares/patient/{reader_id}"), None)
        .await
        .unwrap();
    assert_eq!(revoked.status, StatusCode::OK, "{:?}", revoked.body);
    assert_eq!(revoked.body["new_key_version"], 2);
    let again = api
        .delete(&format!("/shares/patient/{reader_id}"), None)
        .await
        .unwrap();
    assert_eq!(again.status, StatusCode::NOT_FOUND, "{:?}", again.body);
    let later: PatientOut = api
        .post(
            "/patients",
            &patient("east", 2, "Edsger Dijkstra", "1930-05-11-0004", ""),
        )
        .await
        .unwrap()
        .json();
    let after_revoke = reader
        .http
        .get(&format!("/shared/patients/{}", later.record_id))
        .await
        .unwrap();
    assert_eq!(
        after_revoke.status,
        StatusCode::FORBIDDEN,
        "{:?}",
        after_revoke.body
    );

    // -- delete: a stale version is 409 and keeps both; then both go
    let grace_path = format!("/patients/{}", grace.id);
    let stale = api.delete(&grace_path, Some(7)).await.unwrap();
    assert_eq!(stale.status, StatusCode::CONFLICT);
    assert_eq!(api.get(&grace_path).await.unwrap().status, StatusCode::OK);
    let gone = api.delete(&grace_path, Some(1)).await.unwrap();
    assert_eq!(gone.status, StatusCode::NO_CONTENT, "{:?}", gone.body);
    assert_eq!(
        api.get(&grace_path).await.unwrap().status,
        StatusCode::NOT_FOUND
    );
    let record = clinic.state.vault.get(grace.record_id).await;
    assert!(
        matches!(record, Err(strongroom::Error::NotFound { .. })),
        "{record:?}"
    );
    let unversioned = api
        .delete(&format!("/patients/{}", alan.id), None)
        .await
        .unwrap();
    assert_eq!(unversioned.status, StatusCode::NO_CONTENT);

    // -- the primary insert fails: the strongroom record written first is
    // removed again, and the caller gets a bare 500
    diesel::sql_query(
        "CREATE TRIGGER refuse_ward_13 BEFORE INSERT ON patients WHEN NEW.ward = 13 \
         BEGIN SELECT RAISE(ABORT, 'ward 13 is closed'); END",
    )
    .execute(&mut primary_conn)
    .unwrap();
    let before = stored_ids(&clinic).await;
    let failed = api
        .post(
            "/patients",
            &patient("north", 13, "Barbara Liskov", "1939-11-07-0005", "x"),
        )
        .await
        .unwrap();
    assert_eq!(failed.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        failed.body,
        json!({"error": "internal", "message": "internal error"})
    );
    assert_eq!(
        stored_ids(&clinic).await,
        before,
        "the record of the failed create is gone"
    );
    let rows: Vec<PatientOut> = api
        .get("/patients?clinic=north")
        .await
        .unwrap()
        .json::<PatientPage>()
        .patients;
    assert!(rows.iter().all(|p| p.name != "Barbara Liskov"));
    diesel::sql_query("DROP TRIGGER refuse_ward_13")
        .execute(&mut primary_conn)
        .unwrap();

    // -- reconciliation: a record no row references is removed (once it is
    // older than the grace period)
    let orphan = clinic
        .state
        .vault
        .repo::<PatientSecret>()
        .insert(PatientSecret {
            name: "Orphan".into(),
            national_id: "0000".into(),
            notes: String::new(),
        })
        .await
        .unwrap();
    let young: ReconcileReport = api
        .post("/admin/reconcile?older_than_secs=3600", &json!(null))
        .await
        .unwrap()
        .json();
    assert_eq!((young.orphans, young.removed), (0, 0));
    let report = api
        .post("/admin/reconcile?older_than_secs=0", &json!(null))
        .await
        .unwrap();
    assert_eq!(report.status, StatusCode::OK, "{:?}", report.body);
    let report: ReconcileReport = report.json();
    assert_eq!(
        (
            report.scanned,
            report.orphans,
            report.removed,
            report.skipped
        ),
        (3, 1, 1, 0)
    );
    let record = clinic.state.vault.get(orphan.id()).await;
    assert!(
        matches!(record, Err(strongroom::Error::NotFound { .. })),
        "{record:?}"
    );
    for kept in [&ada, &later] {
        let reply = api.get(&format!("/patients/{}", kept.id)).await.unwrap();
        assert_eq!(reply.status, StatusCode::OK);
    }

    // -- clients hanging up mid-create: each create finishes whole or does
    // not start (the handler's future is dropped, its blocking work is not)
    let hang_ups: Vec<_> = (0..20u64)
        .map(|i| {
            let http = Http::new(&clinic.base);
            tokio::spawn(async move {
                let body = patient("hangup", 1, &format!("Hang Up {i}"), &format!("hu-{i}"), "");
                let _ = tokio::time::timeout(
                    Duration::from_micros(500 * i),
                    http.post("/patients", &body),
                )
                .await;
            })
        })
        .collect();
    for hang_up in hang_ups {
        hang_up.await.unwrap();
    }
    let (mut rows, mut records) = (0, 0);
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        rows = api
            .get("/patients?clinic=hangup&limit=100")
            .await
            .unwrap()
            .json::<PatientPage>()
            .patients
            .len();
        records = stored_ids(&clinic).await.len();
        if records == rows + 2 {
            break;
        }
    }
    assert_eq!(
        records,
        rows + 2,
        "every record but Ada's and Edsger's has its row"
    );
    eprintln!("{rows} of 20 creates whose clients hung up were completed, the rest never started");

    // -- the logs: request ids reach the library's spans; no value appears
    let text = logs.text();
    assert!(
        text.lines()
            .any(|line| line.contains("request_id=test-create-1") && line.contains("put{")),
        "the create's strongroom `put` span runs inside its request span"
    );
    for secret in [
        "Ada Lovelace",
        "Ada King",
        "1815-12-10-0001",
        "engine notes",
        "Barbara Liskov",
        "1939-11-07-0005",
        "Orphan",
    ] {
        assert!(!text.contains(secret), "a sensitive value reached the logs");
    }

    // -- the load
    let load = load(&clinic.base).await;
    println!("{backend}: {load}");
    eprintln!("{backend}: {load}");

    // After it, the two databases agree: no orphan, no dangling row.
    let report: ReconcileReport = api
        .post("/admin/reconcile?older_than_secs=0", &json!(null))
        .await
        .unwrap()
        .json();
    assert_eq!(report.orphans, 0, "{report:?}");
    let mut listed = 0;
    let mut cursor = String::new();
    loop {
        let page: PatientPage = api
            .get(&format!("/patients?limit=100{cursor}"))
            .await
            .unwrap()
            .json();
        listed += page.patients.len();
        match page.next {
            Some(next) => cursor = format!("&cursor={next}"),
            None => break,
        }
    }
    assert_eq!(
        listed, report.scanned,
        "every row has its record and every record its row"
    );
}

// ------------------------------------------------------------- the load

const CLIENTS: usize = 32;
const REQUESTS: usize = 2_000;

/// What one client expects of a patient it wrote.
#[derive(Clone)]
struct Mine {
    out: PatientOut,
}

/// 32 clients, each with its own connection, send 2,000 requests in all:
/// creates, reads, lists, updates (with the right version) and deletes of
/// their own patients, and reads of patients they deleted (404). Every
/// response is checked against what the client wrote. Bounded: 120 s in
/// all, 30 s a request.
async fn load(base: &str) -> String {
    let started = Instant::now();
    let workers = (0..CLIENTS).map(|worker| {
        let http = Http::new(base);
        let quota = REQUESTS / CLIENTS + usize::from(worker < REQUESTS % CLIENTS);
        tokio::spawn(async move { client_run(worker, http, quota).await })
    });
    let results = tokio::time::timeout(
        Duration::from_secs(120),
        futures_join_all(workers.collect()),
    )
    .await
    .expect("the load finishes within 120 s");
    let elapsed = started.elapsed();
    let mut latencies = Vec::with_capacity(REQUESTS);
    let mut errors = Vec::new();
    for result in results {
        let (mut times, mut errs) = result.expect("a load client panicked");
        latencies.append(&mut times);
        errors.append(&mut errs);
    }
    assert_eq!(latencies.len(), REQUESTS, "every request was sent");
    assert!(
        errors.is_empty(),
        "{} of {REQUESTS} responses were wrong; first: {:?}",
        errors.len(),
        &errors[..errors.len().min(5)]
    );
    latencies.sort();
    let pct = |p: f64| {
        let rank = ((p * latencies.len() as f64).ceil() as usize).clamp(1, latencies.len());
        latencies[rank - 1].as_secs_f64() * 1000.0
    };
    format!(
        "load: {REQUESTS} requests by {CLIENTS} concurrent clients in {:.2} s: {:.0} requests/s, \
         p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms, 0 errors (debug build unless --release; \
         this machine: {} cores)",
        elapsed.as_secs_f64(),
        REQUESTS as f64 / elapsed.as_secs_f64(),
        pct(0.50),
        pct(0.99),
        latencies.last().unwrap().as_secs_f64() * 1000.0,
        std::thread::available_parallelism().map_or(0, |n| n.get()),
    )
}

async fn futures_join_all<T>(
    handles: Vec<tokio::task::JoinHandle<T>>,
) -> Vec<Result<T, tokio::task::JoinError>> {
    let mut results = Vec::with_capacity(handles.len());
    for handle in handles {
        results.push(handle.await);
    }
    results
}

/// One client's requests; returns each request's latency and every
/// unexpected response.
async fn client_run(worker: usize, http: Http, quota: usize) -> (Vec<Duration>, Vec<String>) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(worker as u64);
    let clinic = format!("load-{}", worker % 4);
    let mut mine: Vec<Mine> = Vec::new();
    let mut deleted: Vec<i64> = Vec::new();
    let mut latencies = Vec::with_capacity(quota);
    let mut errors = Vec::new();
    let mut serial = 0;
    for _ in 0..quota {
        let roll = if mine.is_empty() {
            0
        } else {
            rng.gen_range(0..100)
        };
        let op = match roll {
            0..=19 => "create",
            20..=59 => "read",
            60..=74 => "list",
            75..=91 => "update",
            _ => "delete",
        };
        let started = Instant::now();
        let outcome: Result<(), String> = async {
            match roll {
                0..=19 => {
                    serial += 1;
                    let name = format!("w{worker} patient {serial}");
                    let national_id = format!("{worker:02}-{serial:04}");
                    let ward = rng.gen_range(1..20);
                    let reply = http
                        .post(
                            "/patients",
                            &patient(&clinic, ward, &name, &national_id, "v1"),
                        )
                        .await
                        .map_err(|e| e.to_string())?;
                    expect(&reply, StatusCode::CREATED)?;
                    let out: PatientOut = parse(&reply)?;
                    if (
                        out.clinic.as_str(),
                        out.ward,
                        out.name.as_str(),
                        out.national_id.as_str(),
                        out.version,
                    ) != (
                        clinic.as_str(),
                        ward,
                        name.as_str(),
                        national_id.as_str(),
                        1,
                    ) {
                        return Err(format!("create returned {out:?}"));
                    }
                    mine.push(Mine { out });
                }
                20..=59 => {
                    if !deleted.is_empty() && rng.gen_bool(0.1) {
                        let id = deleted[rng.gen_range(0..deleted.len())];
                        let reply = http
                            .get(&format!("/patients/{id}"))
                            .await
                            .map_err(|e| e.to_string())?;
                        expect(&reply, StatusCode::NOT_FOUND)?;
                    } else {
                        let want = &mine[rng.gen_range(0..mine.len())].out;
                        let reply = http
                            .get(&format!("/patients/{}", want.id))
                            .await
                            .map_err(|e| e.to_string())?;
                        expect(&reply, StatusCode::OK)?;
                        let got: PatientOut = parse(&reply)?;
                        if &got != want {
                            return Err(format!("read {got:?}, wrote {want:?}"));
                        }
                    }
                }
                60..=74 => {
                    let reply = http
                        .get(&format!("/patients?clinic={clinic}&limit=10"))
                        .await
                        .map_err(|e| e.to_string())?;
                    expect(&reply, StatusCode::OK)?;
                    let page: PatientPage = parse(&reply)?;
                    let mut last = 0;
                    for got in &page.patients {
                        if got.clinic != clinic || got.id <= last {
                            return Err(format!(
                                "list of {clinic} returned {got:?} after id {last}"
                            ));
                        }
                        last = got.id;
                        if let Some(want) = mine.iter().find(|m| m.out.id == got.id) {
                            if &want.out != got {
                                return Err(format!("listed {got:?}, wrote {:?}", want.out));
                            }
                        }
                    }
                }
                75..=91 => {
                    let index = rng.gen_range(0..mine.len());
                    let old = mine[index].out.clone();
                    let notes = format!("v{}", old.version + 1);
                    let ward = rng.gen_range(1..20);
                    let reply = http
                        .put(
                            &format!("/patients/{}", old.id),
                            Some(old.version),
                            &patient(&clinic, ward, &old.name, &old.national_id, &notes),
                        )
                        .await
                        .map_err(|e| e.to_string())?;
                    expect(&reply, StatusCode::OK)?;
                    let out: PatientOut = parse(&reply)?;
                    let want = PatientOut {
                        version: old.version + 1,
                        notes,
                        ward,
                        ..old
                    };
                    if out != want {
                        return Err(format!("update returned {out:?}, expected {want:?}"));
                    }
                    mine[index].out = out;
                }
                _ => {
                    let index = rng.gen_range(0..mine.len());
                    let old = mine.swap_remove(index).out;
                    let reply = http
                        .delete(&format!("/patients/{}", old.id), Some(old.version))
                        .await
                        .map_err(|e| e.to_string())?;
                    expect(&reply, StatusCode::NO_CONTENT)?;
                    deleted.push(old.id);
                }
            }
            Ok(())
        }
        .await;
        latencies.push(started.elapsed());
        if let Err(error) = outcome {
            errors.push(format!("client {worker}, {op}: {error}"));
        }
    }
    (latencies, errors)
}

fn expect(reply: &Reply, status: StatusCode) -> Result<(), String> {
    if reply.status == status {
        Ok(())
    } else {
        Err(format!(
            "expected {status}, got {} {}",
            reply.status, reply.body
        ))
    }
}

fn parse<T: serde::de::DeserializeOwned>(reply: &Reply) -> Result<T, String> {
    serde_json::from_value(reply.body.clone()).map_err(|e| format!("{e}: {}", reply.body))
}
