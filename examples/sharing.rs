//! Sharing: a device client writes, shares its record type with a backend
//! client, the backend reads; the device revokes, and the backend can read
//! nothing written after. Each client has its own profile and its own
//! store handle, as two processes would.
//!
//! Run: `cargo run --example sharing` (an SQLite file in a temporary
//! folder; pass a `postgres://…` URL to run it on PostgreSQL).

use strongroom::{Client, Error, Fields, Plain, Query, Store};

fn show(who: &str, client: &Client) -> anyhow::Result<()> {
    let page = client.query(&Query::new().record_type("heart_rate").shared().limit(1000))?;
    let readable: Vec<String> = page
        .records
        .iter()
        .map(|r| r.field::<String>("reading"))
        .collect::<Result<_, _>>()?;
    println!(
        "  {who} can read {} record(s): {:?}; {} matching record(s) out of reach",
        readable.len(),
        readable,
        page.skipped.len()
    );
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| format!("sqlite://{}", dir.path().join("shared.db").display()));
    let device = Client::open_or_create(
        dir.path().join("device.profile"),
        &Store::open_or_create(&url)?,
    )?;
    let backend = Client::open_or_create(dir.path().join("backend.profile"), &Store::open(&url)?)?;
    println!("device  {}\nbackend {}\n", device.id(), backend.id());

    let reading = |bpm: u32| -> anyhow::Result<Fields> {
        Ok(Fields::new().with("reading", &format!("{bpm} bpm"))?)
    };
    let plain = Plain::from([("unit".to_owned(), "bpm".to_owned())]);

    println!("1. the device writes two readings");
    let first = device.put("heart_rate", &reading(61)?, &plain)?;
    device.put("heart_rate", &reading(64)?, &plain)?;
    show("device ", &device)?;
    show("backend", &backend)?;

    println!("\n2. the device shares `heart_rate` with the backend (one wrapped key, one policy; no data re-encrypted)");
    let shared = device.share("heart_rate", backend.id())?;
    println!(
        "  rows written: {} wrapped key(s), {} policy",
        shared.wrapped_keys, shared.policies
    );
    show("backend", &backend)?;
    for share in backend.incoming_shares()? {
        println!(
            "  backend sees: {} shares `{}` since {}",
            share.writer_id, share.record_type, share.since
        );
    }

    println!("\n3. the device revokes the backend (its wrapped keys deleted, the key rotated to version 2)");
    let revoked = device.revoke("heart_rate", backend.id())?;
    println!("  new key version: {:?}", revoked.new_version);
    let later = device.put("heart_rate", &reading(72)?, &plain)?;
    println!(
        "  the device writes a third reading under version {}",
        later.key_version
    );

    println!("\n4. what each can read now");
    show("device ", &device)?;
    match backend.get(later.id) {
        Err(Error::AccessDenied { .. }) => println!(
            "  backend: the reading written after the revocation is out of reach (access denied)"
        ),
        other => anyhow::bail!(
            "the backend should not read a record written after revocation: {other:?}"
        ),
    }
    match backend.get(first.id) {
        Ok(record) => println!(
            "  backend: still holds the version-1 key it had unwrapped in memory, so it reads an older reading: {} (revocation protects what is written after it; `revoke_and_rewrap` re-wraps old records too)",
            record.field::<String>("reading")?
        ),
        Err(err) => println!("  backend: older readings are out of reach too ({err})"),
    }
    let fresh = Client::open_or_create(dir.path().join("backend.profile"), &Store::open(&url)?)?;
    show("backend (a new process)", &fresh)?;
    Ok(())
}
