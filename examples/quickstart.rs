//! Quickstart: an SQLite file next to where it runs, a client profile, a
//! model with `#[derive(Sensitive)]`, a few records written and read back,
//! and one raw stored row printed beside its decrypted value — what the
//! database holds, and what the client sees.
//!
//! Run: `cargo run --example quickstart` (again: it reuses the profile and
//! the database and adds a few more records).

use diesel::{Connection, QueryableByName, RunQueryDsl};
use serde::{Deserialize, Serialize};
use strongroom::{Client, Sensitive, Store};

const DATABASE: &str = "quickstart.db";
const PROFILE: &str = "quickstart.profile";

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Visit {
    date: String,
    notes: String,
}

#[derive(Debug, Clone, Sensitive)]
#[sensitive(record_type = "patient")]
struct Patient {
    /// Plain meta: stored in the clear, filterable.
    clinic: String,
    ward: u32,
    /// Sensitive: each sealed under its own data key.
    #[sensitive]
    name: String,
    #[sensitive]
    national_id: String,
    #[sensitive]
    history: Vec<Visit>,
}

/// One stored row, as plain SQL reads it: ids, sealed fields and the
/// batch signature are bytes (FORMAT.md), shown here in hex.
#[derive(QueryableByName)]
struct RawRow {
    #[diesel(sql_type = diesel::sql_types::Text)]
    record_id: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    plain: String,
    #[diesel(sql_type = diesel::sql_types::Binary)]
    sealed_fields: Vec<u8>,
    #[diesel(sql_type = diesel::sql_types::Text)]
    batch_id: String,
    #[diesel(sql_type = diesel::sql_types::Integer)]
    batch_index: i32,
    #[diesel(sql_type = diesel::sql_types::Text)]
    signature: String,
}

fn visit(date: &str, notes: &str) -> Visit {
    Visit {
        date: date.into(),
        notes: notes.into(),
    }
}

fn main() -> anyhow::Result<()> {
    // The sensitive database (created, with its tables, on first use) and
    // this program's identity (created on first use, mode 0600).
    let store = Store::open_or_create(&format!("sqlite://{DATABASE}"))?;
    let client = Client::open_or_create(PROFILE, &store)?;
    println!(
        "client {} · profile {PROFILE} · database {DATABASE}\n",
        client.id()
    );

    let patients = client.repo::<Patient>();
    let written = patients.insert_many(vec![
        Patient {
            clinic: "north".into(),
            ward: 3,
            name: "Ada Lovelace".into(),
            national_id: "1815-12-10-0001".into(),
            history: vec![
                visit("1843-09-01", "notes on the engine"),
                visit("1852-11-27", ""),
            ],
        },
        Patient {
            clinic: "south".into(),
            ward: 1,
            name: "Grace Hopper".into(),
            national_id: "1906-12-09-0002".into(),
            history: vec![visit("1947-09-09", "found a moth")],
        },
        Patient {
            clinic: "north".into(),
            ward: 3,
            name: "Alan Turing".into(),
            national_id: "1912-06-23-0003".into(),
            history: vec![],
        },
    ])?;
    println!("wrote {} patients in one transaction", written.len());

    let north = patients
        .query()
        .filter(|p| p.clinic("north").ward(3u32))
        .limit(1000)
        .fetch()?;
    println!(
        "patients in clinic north, ward 3, so far: {}",
        north.records.len()
    );

    // One record, as the database holds it and as the client reads it.
    let id = written[0].id();
    let mut raw = diesel::SqliteConnection::establish(DATABASE)?;
    let row: RawRow = diesel::sql_query(
        "SELECT lower(hex(r.record_id)) AS record_id, r.plain, r.sealed_fields, \
         lower(hex(r.batch_id)) AS batch_id, r.batch_index, lower(hex(b.signature)) AS signature \
         FROM records r JOIN record_batches b ON b.batch_id = r.batch_id WHERE r.record_id = ?",
    )
    .bind::<diesel::sql_types::Binary, _>(id.as_uuid().as_bytes().to_vec())
    .get_result(&mut raw)?;
    println!("\n--- the stored row (what the database, its backups and its operators see)");
    println!("record_id: {}", row.record_id);
    println!("plain:     {}", row.plain);
    let shown = hex::encode(&row.sealed_fields[..48.min(row.sealed_fields.len())]);
    println!(
        "sealed:    {} bytes ({shown}…): every field's envelope, one column",
        row.sealed_fields.len()
    );
    println!(
        "signed:    record {} of batch {}, whose signature is {}",
        row.batch_index, row.batch_id, row.signature
    );

    let mut ada = patients.get(id)?;
    println!("\n--- the same record, verified and decrypted by the client");
    println!("{:#?}", *ada);

    ada.history.push(visit("1852-11-28", "follow-up"));
    let updated = patients.update(ada)?;
    println!(
        "\nupdated to version {} (every field sealed again under fresh data keys)",
        updated.version()
    );
    Ok(())
}
