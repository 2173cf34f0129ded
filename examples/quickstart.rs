//! Quickstart: an SQLite file next to where it runs, a client profile, a
//! few records written and read back, and one raw stored row printed beside
//! its decrypted value — what the database holds, and what the client sees.
//!
//! Run: `cargo run --example quickstart` (again: it reuses the profile and
//! the database and adds a few more records).

use diesel::{Connection, QueryableByName, RunQueryDsl};
use strongroom::{Client, Fields, NewRecord, Plain, Query, Store};

const DATABASE: &str = "quickstart.db";
const PROFILE: &str = "quickstart.profile";

#[derive(QueryableByName)]
struct RawRow {
    #[diesel(sql_type = diesel::sql_types::Text)]
    record_id: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    plain: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    data: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    signature: String,
}

fn main() -> anyhow::Result<()> {
    // The sensitive database (created, with its tables, on first use) and
    // this program's identity (created on first use, 0600).
    let store = Store::open(&format!("sqlite://{DATABASE}"))?;
    let client = Client::open_or_create(PROFILE, &store)?;
    println!(
        "client {} · profile {PROFILE} · database {DATABASE}\n",
        client.id()
    );

    let patients = [
        ("Ada Lovelace", "1815-12-10-0001", "north"),
        ("Grace Hopper", "1906-12-09-0002", "south"),
        ("Alan Turing", "1912-06-23-0003", "north"),
    ];
    let mut batch = Vec::new();
    for (name, national_id, clinic) in patients {
        let fields = Fields::new()
            .with("name", name)?
            .with("national_id", national_id)?
            .with("allergies", &["penicillin", "latex"])?;
        let plain = Plain::from([("clinic".to_owned(), clinic.to_owned())]);
        batch.push(NewRecord::new("patient", fields, plain));
    }
    let written = client.put_many(&batch)?;
    println!("wrote {} patient records in one transaction", written.len());

    let north = client.query(
        &Query::new()
            .record_type("patient")
            .plain_eq("clinic", "north")
            .limit(1000),
    )?;
    println!(
        "patients of clinic=north in the database now: {}",
        north.records.len()
    );

    // One record, as the database holds it and as the client reads it.
    let id = written[0].id;
    let mut raw = diesel::SqliteConnection::establish(DATABASE)?;
    let row: RawRow = diesel::sql_query(
        "SELECT record_id, plain, data, signature FROM records WHERE record_id = ?",
    )
    .bind::<diesel::sql_types::Text, _>(id.to_string())
    .get_result(&mut raw)?;
    println!("\n--- stored row (what the database, its backups and its operators see)");
    println!("record_id: {}", row.record_id);
    println!("plain:     {}", row.plain);
    println!("data:      {}", row.data);
    println!("signature: {}", row.signature);

    let record = client.get(id)?;
    println!("\n--- decrypted by the client (signature checked first)");
    println!("name:        {}", record.field::<String>("name")?);
    println!("national_id: {}", record.field::<String>("national_id")?);
    println!(
        "allergies:   {:?}",
        record.field::<Vec<String>>("allergies")?
    );
    println!(
        "version {} · clinic {}",
        record.version(),
        record.meta().plain["clinic"]
    );
    Ok(())
}
