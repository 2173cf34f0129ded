//! The web backend example's edges (conditional requests, an update whose
//! second write fails, a locked database, an unreadable patient) and the
//! async front under panics, drops and racing writers.

#[allow(dead_code)]
#[path = "../examples/web_backend/app/mod.rs"]
mod app;
mod common;
#[allow(dead_code)]
mod web_support;

use std::time::Duration;

use app::{AppState, PatientOut};
use axum::http::{Method, StatusCode};
use diesel::{Connection, RunQueryDsl};
use serde_json::{json, Value};
use strongroom::asynk::AsyncClient;
use strongroom::{Client, Error, Fields, Plain, Store, StoreOptions};
use web_support::{Http, Reply};

struct Service {
    state: AppState,
    http: Http,
    primary_path: std::path::PathBuf,
}

async fn start(store_url: &str, dir: &std::path::Path) -> Service {
    let (url, root) = (store_url.to_owned(), dir.to_owned());
    let primary_path = dir.join("clinic.db");
    let primary = primary_path.clone();
    let state = tokio::task::spawn_blocking(move || {
        let store = Store::open_with(&url, app::store_options().create_if_missing())?;
        AppState::open("clinic", &store, &root.join("clinic.profile"), &primary)
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
        primary_path,
    }
}

const T: Duration = Duration::from_secs(30);

fn ada() -> Value {
    json!({"clinic": "north", "ward": 3, "name": "Ada Lovelace",
           "national_id": "1815-12-10-0001", "notes": "engine notes"})
}

async fn create(service: &Service) -> PatientOut {
    let created = service
        .http
        .send_value(Method::POST, "/patients", &[], Some(ada()), T)
        .await
        .unwrap();
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    serde_json::from_value(created.body).unwrap()
}

// ----------------------------------------------------- web: conditional requests

/// RFC 9110 §13.1.1: `If-Match: *` is a valid precondition ("any current
/// representation"): PUT and DELETE with it succeed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn if_match_star_matches_the_current_version() {
    let dir = tempfile::tempdir().unwrap();
    let db = common::TestDb::sqlite();
    let service = start(&db.url, dir.path()).await;
    let patient = create(&service).await;
    let path = format!("/patients/{}", patient.id);

    let mut changed = ada();
    changed["name"] = json!("Ada King");
    let put = service
        .http
        .send_value(Method::PUT, &path, &[("if-match", "*")], Some(changed), T)
        .await
        .unwrap();
    let delete = service
        .http
        .send_value(Method::DELETE, &path, &[("if-match", "*")], None, T)
        .await
        .unwrap();
    assert_eq!(
        (put.status, delete.status),
        (StatusCode::OK, StatusCode::NO_CONTENT),
        "PUT If-Match: * -> {} {:?}; DELETE If-Match: * -> {} {:?}",
        put.status,
        put.body,
        delete.status,
        delete.body
    );
}

/// An If-Match list naming the current ETag (`"7", "1"`) is a match under
/// RFC 9110; a weak tag `W/"1"` never matches under its strong comparison,
/// answered as every version that does not match is here: 409.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn if_match_lists_match_and_weak_tags_never_do() {
    let dir = tempfile::tempdir().unwrap();
    let db = common::TestDb::sqlite();
    let service = start(&db.url, dir.path()).await;
    let patient = create(&service).await;
    let path = format!("/patients/{}", patient.id);

    let weak = service
        .http
        .send_value(
            Method::PUT,
            &path,
            &[("if-match", "W/\"1\"")],
            Some(ada()),
            T,
        )
        .await
        .unwrap();
    let list = service
        .http
        .send_value(
            Method::PUT,
            &path,
            &[("if-match", "\"7\", \"1\"")],
            Some(ada()),
            T,
        )
        .await
        .unwrap();
    assert_eq!(
        (weak.status, list.status),
        (StatusCode::CONFLICT, StatusCode::OK),
        "weak -> {} {:?}; list -> {} {:?}",
        weak.status,
        weak.body,
        list.status,
        list.body
    );
}

// ------------------------------------------- web: an update half-written

/// A PUT whose primary row cannot be written (a trigger refuses it) is a
/// 500 that changed nothing: the row is written first, in the primary's
/// transaction, and strongroom's update only inside it, so GET shows
/// version 1 as it was, with its strong ETag.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_primary_update_leaves_the_patient_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let db = common::TestDb::sqlite();
    let service = start(&db.url, dir.path()).await;
    let patient = create(&service).await;
    let path = format!("/patients/{}", patient.id);

    let mut conn =
        diesel::SqliteConnection::establish(service.primary_path.to_str().unwrap()).unwrap();
    diesel::sql_query(
        "CREATE TRIGGER refuse_moves BEFORE UPDATE ON patients \
         BEGIN SELECT RAISE(ABORT, 'no moves today'); END",
    )
    .execute(&mut conn)
    .unwrap();

    let mut moved = ada();
    moved["clinic"] = json!("south");
    moved["name"] = json!("Ada King");
    let put = service
        .http
        .send_value(
            Method::PUT,
            &path,
            &[("if-match", "\"1\"")],
            Some(moved.clone()),
            T,
        )
        .await
        .unwrap();
    assert_eq!(
        put.status,
        StatusCode::INTERNAL_SERVER_ERROR,
        "{:?}",
        put.body
    );

    let read = service
        .http
        .send_value(Method::GET, &path, &[], None, T)
        .await
        .unwrap();
    let now: PatientOut = serde_json::from_value(read.body.clone()).unwrap();
    let etag = read
        .headers
        .get("etag")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    // The update failed: nothing of it should be visible.
    assert_eq!(
        (
            now.version,
            now.name.as_str(),
            now.clinic.as_str(),
            etag.as_deref()
        ),
        (1, "Ada Lovelace", "north", Some("\"1\"")),
        "after a 500 on PUT the patient reads as a mix of the old and new update"
    );
}

// ------------------------------------------ web: a hung database, no deadline

/// With the strongroom (PostgreSQL) table locked by another session, a GET
/// is a 503 once the store's statement timeout (`app::store_options`, 5 s)
/// cancels its statement, not a request that never answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locked_database_is_a_503_not_a_hang() {
    let Some(pg) = tokio::task::spawn_blocking(|| {
        common::postgres_db("a_locked_database_is_a_503_not_a_hang")
    })
    .await
    .unwrap() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let service = start(&pg.url, dir.path()).await;
    let patient = create(&service).await;
    let path = format!("/patients/{}", patient.id);

    // Another session holds a lock on the records table (a long migration,
    // a stuck transaction).
    let url = pg.url.clone();
    let (locked_tx, locked_rx) = std::sync::mpsc::channel();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let locker = std::thread::spawn(move || {
        let mut conn = diesel::PgConnection::establish(&url).unwrap();
        diesel::sql_query("BEGIN").execute(&mut conn).unwrap();
        diesel::sql_query("LOCK TABLE records IN ACCESS EXCLUSIVE MODE")
            .execute(&mut conn)
            .unwrap();
        locked_tx.send(()).unwrap();
        let _ = release_rx.recv_timeout(Duration::from_secs(120));
        diesel::sql_query("ROLLBACK").execute(&mut conn).unwrap();
    });
    locked_rx.recv().unwrap();

    // A fresh client (no cached key or batch) so the read must query.
    let started = std::time::Instant::now();
    let reply = service
        .http
        .send_value(Method::GET, &path, &[], None, Duration::from_secs(20))
        .await;
    let waited = started.elapsed();
    release_tx.send(()).unwrap();
    locker.join().unwrap();
    match reply {
        Ok(reply) => assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE, "{reply:?}"),
        Err(err) => panic!(
            "no answer at all after {waited:?} (the store's connection timeout is 5 s): {err}"
        ),
    }
    tokio::task::spawn_blocking(move || drop(pg)).await.unwrap();
}

// --------------------------------------------------- async front: sanity

fn store_with(url: &str, pool: u32) -> Store {
    let options = StoreOptions::default().pool_size(pool).create_if_missing();
    Store::open_with(url, options).unwrap()
}

fn note(text: &str) -> Fields {
    Fields::new().with("text", text).unwrap()
}

/// Two async writers update one record at the same expected version, many
/// times, on both backends: exactly one wins each round, the other is
/// Conflict naming the new version; never a Database/busy error, never two
/// winners.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_async_writers_on_one_record_one_wins() {
    let mut dbs = vec![common::TestDb::sqlite()];
    if let Some(pg) = tokio::task::spawn_blocking(|| {
        common::postgres_db("two_async_writers_on_one_record_one_wins")
    })
    .await
    .unwrap()
    {
        dbs.push(pg);
    }
    for db in &dbs {
        let (url, profile) = (db.url.clone(), db.profile("w"));
        let client = tokio::task::spawn_blocking(move || {
            let store = store_with(&url, 4);
            AsyncClient::new(Client::open_or_create(profile, &store).unwrap())
        })
        .await
        .unwrap();
        let meta = client.put("note", note("v1"), Plain::new()).await.unwrap();
        let mut version = meta.version;
        for round in 0..40 {
            let (a, b) = tokio::join!(
                client.update(meta.id, version, note(&format!("a{round}")), Plain::new()),
                client.update(meta.id, version, note(&format!("b{round}")), Plain::new()),
            );
            let (winner, loser) = match (a, b) {
                (Ok(m), Err(e)) | (Err(e), Ok(m)) => (m, e),
                other => panic!("{:?} round {round}: {other:?}", db.backend),
            };
            assert_eq!(winner.version, version + 1);
            assert!(
                matches!(loser, Error::Conflict { found: Some(v), .. } if v == version + 1),
                "{:?} round {round}: {loser:?}",
                db.backend
            );
            version = winner.version;
        }
        let record = client.get(meta.id).await.unwrap();
        assert_eq!(record.meta().version, version);
    }
    for db in dbs {
        tokio::task::spawn_blocking(move || drop(db)).await.unwrap();
    }
}

/// A panic in the blocking work on a pool of one: Error::Internal, the
/// permit comes back, and the next call works; a future dropped while its
/// update runs leaves the record whole at v1 or v2, and the next call on
/// the same handle is fine.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn panics_and_drops_leave_the_handle_usable() {
    let db = common::TestDb::sqlite();
    let (url, profile) = (db.url.clone(), db.profile("p"));
    let client = tokio::task::spawn_blocking(move || {
        let store = store_with(&url, 1);
        AsyncClient::new(Client::open_or_create(profile, &store).unwrap())
    })
    .await
    .unwrap();
    assert_eq!(client.max_in_flight(), 1);
    let meta = client.put("note", note("v1"), Plain::new()).await.unwrap();
    // A panic inside a transaction-ish closure holding a connection.
    let panicked: strongroom::Result<()> = client
        .run(move |c| {
            let _record = c.get(meta.id)?;
            panic!("boom: Ada Lovelace")
        })
        .await;
    assert!(matches!(panicked, Err(Error::Internal(_))), "{panicked:?}");
    assert_eq!(client.get(meta.id).await.unwrap().meta().version, 1);

    for _ in 0..20 {
        let current = client.get(meta.id).await.unwrap().meta().version;
        let update = client.update(meta.id, current, note("next"), Plain::new());
        // Dropped after its first poll (the task is spawned by then).
        let _ = tokio::time::timeout(Duration::from_micros(1), update).await;
        let after = tokio::time::timeout(Duration::from_secs(10), client.get(meta.id))
            .await
            .expect("the next call answers")
            .unwrap();
        let v = after.meta().version;
        assert!(v == current || v == current + 1);
        let text: String = after.field("text").unwrap();
        assert_eq!(
            text,
            if v == current + 1 {
                "next"
            } else {
                text.as_str()
            }
        );
    }
    assert_eq!(client.client().store().pool_size(), 1);
}

/// The same lock, seen from requests that do not need the locked table:
/// after `pool_size` (8) reads hung on the lock and their HTTP clients gave
/// up (a 1 s deadline each), their blocking tasks hold every permit only
/// until the statement timeout cancels them, so `GET
/// /patients?clinic=nowhere` answers within 10 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abandoned_requests_do_not_starve_the_service() {
    let Some(pg) = tokio::task::spawn_blocking(|| {
        common::postgres_db("abandoned_requests_do_not_starve_the_service")
    })
    .await
    .unwrap() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let service = start(&pg.url, dir.path()).await;
    let patient = create(&service).await;
    let path = format!("/patients/{}", patient.id);
    let empty = "/patients?clinic=nowhere";
    let before = service
        .http
        .send_value(Method::GET, empty, &[], None, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(before.status, StatusCode::OK);

    let url = pg.url.clone();
    let (locked_tx, locked_rx) = std::sync::mpsc::channel();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let locker = std::thread::spawn(move || {
        let mut conn = diesel::PgConnection::establish(&url).unwrap();
        diesel::sql_query("BEGIN").execute(&mut conn).unwrap();
        diesel::sql_query("LOCK TABLE records IN ACCESS EXCLUSIVE MODE")
            .execute(&mut conn)
            .unwrap();
        locked_tx.send(()).unwrap();
        let _ = release_rx.recv_timeout(Duration::from_secs(120));
        diesel::sql_query("ROLLBACK").execute(&mut conn).unwrap();
    });
    locked_rx.recv().unwrap();

    let pool = service.state.vault.max_in_flight();
    let hung: Vec<_> = (0..pool)
        .map(|_| {
            let (http, path) = (service.http.clone(), path.clone());
            tokio::spawn(async move {
                http.send_value(Method::GET, &path, &[], None, Duration::from_secs(1))
                    .await
                    .is_err()
            })
        })
        .collect();
    for task in hung {
        assert!(
            task.await.unwrap(),
            "a read answered while the table was locked"
        );
    }
    let alive = service
        .http
        .send_value(Method::GET, "/", &[], None, Duration::from_secs(5))
        .await;
    let starved = service
        .http
        .send_value(Method::GET, empty, &[], None, Duration::from_secs(10))
        .await;
    release_tx.send(()).unwrap();
    locker.join().unwrap();
    assert_eq!(alive.unwrap().status, StatusCode::OK);
    match starved {
        Ok(reply) => {
            assert!(reply.status.is_success() || reply.status == StatusCode::SERVICE_UNAVAILABLE)
        }
        Err(err) => panic!(
            "GET {empty} (touches no strongroom table) got no answer in 10 s: \
             {pool} abandoned requests still hold all {pool} permits ({err})"
        ),
    }
    tokio::task::spawn_blocking(move || drop(pg)).await.unwrap();
}

/// `GET /patients` names a patient whose record fails verification in
/// `unreadable`; DELETE without If-Match takes the version from the
/// primary row, never by decrypting the record, so such a patient can be
/// deleted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_patient_can_be_deleted_without_a_version() {
    let dir = tempfile::tempdir().unwrap();
    let db = common::TestDb::sqlite();
    let service = start(&db.url, dir.path()).await;
    let ada = create(&service).await;
    let grace = create(&service).await;
    let (grace_id, ada_id) = (db.id(grace.record_id), db.id(ada.record_id));
    db.sql(&format!(
        "UPDATE records SET sealed_fields = (SELECT sealed_fields FROM records \
         WHERE record_id = {ada_id}) WHERE record_id = {grace_id}"
    ));
    let page: app::PatientPage = serde_json::from_value(
        service
            .http
            .send_value(Method::GET, "/patients", &[], None, T)
            .await
            .unwrap()
            .body,
    )
    .unwrap();
    assert_eq!(page.unreadable, vec![grace.id.to_string()]);
    let delete = service
        .http
        .send_value(
            Method::DELETE,
            &format!("/patients/{}", grace.id),
            &[],
            None,
            T,
        )
        .await
        .unwrap();
    assert_eq!(delete.status, StatusCode::NO_CONTENT, "{:?}", delete.body);
}

/// Strong ETags name one representation. During a PUT that succeeds, the
/// record's version 2 is visible before the primary row's commit: a GET in
/// that window must not carry the strong ETag "2" that the finished PUT's
/// body carries. (Made deterministic by holding the primary database's
/// write lock from outside for 1 s, inside its 5 s busy timeout.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_strong_etag_never_names_two_bodies() {
    use diesel::connection::SimpleConnection;
    let dir = tempfile::tempdir().unwrap();
    let db = common::TestDb::sqlite();
    let service = start(&db.url, dir.path()).await;
    let patient = create(&service).await;
    let path = format!("/patients/{}", patient.id);

    let mut lock =
        diesel::SqliteConnection::establish(service.primary_path.to_str().unwrap()).unwrap();
    lock.batch_execute("BEGIN IMMEDIATE").unwrap();
    let mut moved = ada();
    moved["clinic"] = json!("south");
    moved["name"] = json!("Ada King");
    let put = {
        let (http, path) = (service.http.clone(), path.clone());
        tokio::spawn(async move {
            http.send_value(Method::PUT, &path, &[("if-match", "\"1\"")], Some(moved), T)
                .await
                .unwrap()
        })
    };
    // Wait until strongroom holds version 2 (the PUT is then waiting on
    // the primary's lock).
    let record_id = patient.record_id;
    for _ in 0..100 {
        let v = service
            .state
            .vault
            .get(record_id)
            .await
            .unwrap()
            .meta()
            .version;
        if v == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let during = service
        .http
        .send_value(Method::GET, &path, &[], None, T)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1000)).await;
    lock.batch_execute("ROLLBACK").unwrap();
    let put = put.await.unwrap();
    assert_eq!(put.status, StatusCode::OK, "{:?}", put.body);
    let after = service
        .http
        .send_value(Method::GET, &path, &[], None, T)
        .await
        .unwrap();
    let tag = |r: &Reply| r.headers.get("etag").unwrap().to_str().unwrap().to_owned();
    assert!(
        tag(&during) != tag(&after) || during.body == after.body,
        "ETag {} named two bodies:\n during the PUT: {}\n after it:       {}",
        tag(&during),
        during.body,
        after.body
    );
}
