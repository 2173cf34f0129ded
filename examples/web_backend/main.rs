//! A web backend with strongroom as its second database: an axum service
//! keeps each patient's ordinary data in its primary database (SQLite via
//! diesel, plaintext) and the sensitive part (name, national id, notes) in
//! strongroom, holding only the strongroom `RecordId` in its own row.
//!
//! Two services run on one strongroom store, each with its own strongroom
//! client (profile and keys) and its own primary database: `clinic`, which
//! writes patients, and `reader`, which can read them only once `clinic`
//! shares the record type with it.
//!
//! Run: `cargo run --example web_backend` (pass an address such as
//! `127.0.0.1:8080` to choose the clinic service's; by default both take a
//! free loopback port). Everything is kept in a temporary folder, removed
//! on Ctrl-C (or SIGTERM). Logs (one span per request, with its id; never a value) go to
//! stderr.
//!
//! Endpoints (of both services):
//! - `POST /patients` `{clinic, ward, name, national_id, notes}` → 201
//! - `GET /patients/{id}` → 200, with `ETag: "version"`
//! - `PUT /patients/{id}` with `If-Match: "version"` (or `version` in the
//!   body) → 200; a stale version is 409
//! - `DELETE /patients/{id}` (optionally `If-Match`) → 204
//! - `GET /patients?clinic=…&cursor=…&limit=…` → a page and its `next`
//! - `GET /shared/patients/{record_id}`: a patient's sensitive part
//!   written by another service, if shared with this one (else 403)
//! - `POST /shares` `{record_type, reader_id}`, `DELETE
//!   /shares/{record_type}/{reader_id}`: share with, revoke, another
//!   service's client
//! - `POST /admin/reconcile?older_than_secs=N`: remove strongroom records
//!   no primary row references
//! - `GET /`: the service's name and strongroom client id

mod app;

use std::net::SocketAddr;

use app::AppState;
use strongroom::Store;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_max_level(tracing::Level::INFO)
        .init();

    let address: SocketAddr = match std::env::args().nth(1) {
        Some(address) => address.parse()?,
        None => SocketAddr::from(([127, 0, 0, 1], 0)),
    };

    let dir = tempfile::tempdir()?;
    let root = dir.path().to_owned();
    // Opening creates files and keys: blocking work, off the runtime's
    // threads. Each service opens its own store handle, as two processes
    // would.
    let (clinic, reader) = tokio::task::spawn_blocking(move || {
        let url = format!("sqlite://{}", root.join("strongroom.db").display());
        let clinic = AppState::open(
            "clinic",
            &Store::open_with(&url, app::store_options().create_if_missing())?,
            &root.join("clinic.profile"),
            &root.join("clinic.db"),
        )?;
        let reader = AppState::open(
            "reader",
            &Store::open_with(&url, app::store_options())?,
            &root.join("reader.profile"),
            &root.join("reader.db"),
        )?;
        anyhow::Ok((clinic, reader))
    })
    .await??;

    let clinic_listener = tokio::net::TcpListener::bind(address).await?;
    let reader_listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
    let clinic_url = format!("http://{}", clinic_listener.local_addr()?);
    let reader_url = format!("http://{}", reader_listener.local_addr()?);
    println!(
        "clinic service on {clinic_url} (strongroom client {})",
        clinic.vault.id()
    );
    println!(
        "reader service on {reader_url} (strongroom client {}; same strongroom store)",
        reader.vault.id()
    );
    println!("data in {} (removed on Ctrl-C)", dir.path().display());
    println!("try:");
    println!(
        "  curl -si {clinic_url}/patients -H 'content-type: application/json' \
         -d '{{\"clinic\":\"north\",\"ward\":3,\"name\":\"Ada Lovelace\",\"national_id\":\"1815-12-10-0001\"}}'"
    );
    println!("then GET {clinic_url}/patients/1, PUT it with If-Match: \"1\", GET {clinic_url}/patients?clinic=north,");
    println!(
        "POST {clinic_url}/shares {{\"record_type\":\"patient\",\"reader_id\":\"{}\"}} and GET {reader_url}/shared/patients/RECORD_ID",
        reader.vault.id()
    );

    // Ctrl-C (or, on Unix, SIGTERM) stops both services; then the
    // temporary folder is removed.
    let stop = || async {
        #[cfg(unix)]
        {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                    .expect("a SIGTERM handler");
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
    };
    tokio::try_join!(
        app::serve(clinic_listener, clinic, stop()),
        app::serve(reader_listener, reader, stop()),
    )?;
    drop(dir);
    eprintln!("stopped; temporary folder removed");
    Ok(())
}
