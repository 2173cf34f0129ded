//! The least stored shape the design allows: what any store that keeps
//! strongroom's cryptography must write and read per record, in the most
//! compact form, with no index beyond the one every query uses.
//!
//! Per record: binary 16-byte ids (record, writer, batch), the record type,
//! version, key version, batch index and times, the plain meta as JSON (as
//! the plain table stores it in columns, about as long), and the three
//! sealed fields as raw bytes: each a sealed data key (24-byte nonce,
//! 32-byte key, 16-byte tag) and the sealed value (nonce, value, tag), so
//! 3 × 112 bytes beyond the 227 value bytes, and 32 bytes for the record's
//! share of its writer's signature (a digest in a signed batch, the least
//! any signing scheme stores per record; a record's own Ed25519 signature
//! would be 64). No base64, no JSON around the ciphertext, no meta index,
//! no batch index, no batch rows.
//!
//! Plain diesel inserting and fetching these rows, beside the plain table,
//! shows how much of strongroom's cost any implementation of the design
//! would pay on this machine, and how much comes from strongroom's own
//! stored shape (the meta-index and batch-index rows, the batch table, the
//! length-prefixed field names of its sealed-fields column).

use diesel::prelude::*;
use rand::RngCore;

use super::{InsertWay, PlainPatient};

/// Bytes a sealed field adds to its value: two XChaCha20-Poly1305 boxes
/// (the data key's and the value's), each a 24-byte nonce and a 16-byte
/// tag, plus the 32-byte data key.
const FIELD_OVERHEAD: usize = 2 * (24 + 16) + 32;
/// Signature bytes stored per record: its digest in a signed batch.
const SIGNATURE_SHARE: usize = 32;

diesel::table! {
    least_records (record_id) {
        record_id -> Binary,
        writer_id -> Binary,
        record_type -> Text,
        version -> BigInt,
        plain -> Text,
        data -> Binary,
        key_version -> Integer,
        batch_id -> Binary,
        batch_index -> Integer,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

/// The table on each backend (`BLOB` on SQLite, `BYTEA` on PostgreSQL).
pub fn create_sql(binary: &str) -> [String; 2] {
    [
        format!(
            "CREATE TABLE IF NOT EXISTS least_records (record_id {binary} PRIMARY KEY NOT NULL, \
             writer_id {binary} NOT NULL, record_type TEXT NOT NULL, version BIGINT NOT NULL, \
             plain TEXT NOT NULL, data {binary} NOT NULL, key_version INTEGER NOT NULL, \
             batch_id {binary} NOT NULL, batch_index INTEGER NOT NULL, created_at BIGINT NOT NULL, \
             updated_at BIGINT NOT NULL)"
        ),
        "CREATE INDEX IF NOT EXISTS least_records_by_writer \
         ON least_records (writer_id, record_type, created_at, record_id)"
            .to_owned(),
    ]
}

#[derive(Insertable, Queryable, Selectable)]
#[diesel(table_name = least_records, treat_none_as_default_value = false)]
#[allow(dead_code)] // fetched, never looked at
pub struct LeastRow {
    record_id: Vec<u8>,
    writer_id: Vec<u8>,
    record_type: String,
    version: i64,
    plain: String,
    data: Vec<u8>,
    key_version: i32,
    batch_id: Vec<u8>,
    batch_index: i32,
    created_at: i64,
    updated_at: i64,
}

/// The writer every least-shape row names.
pub const WRITER: [u8; 16] = [7; 16];

/// The least-shape rows of the plain rows: random bytes of the sealed
/// fields' length stand in for the ciphertext.
pub fn rows(plain: &[PlainPatient]) -> Vec<LeastRow> {
    let mut rng = rand::thread_rng();
    let mut batch_id = [0u8; 16];
    plain
        .iter()
        .enumerate()
        .map(|(i, p)| {
            if i % 200 == 0 {
                rng.fill_bytes(&mut batch_id);
            }
            let values = p.name.len() + p.national_id.len() + p.notes.len();
            let mut data = vec![0u8; values + 3 * FIELD_OVERHEAD + SIGNATURE_SHARE];
            rng.fill_bytes(&mut data);
            LeastRow {
                record_id: strongroom::RecordId::random().as_uuid().as_bytes().to_vec(),
                writer_id: WRITER.to_vec(),
                record_type: "patient".to_owned(),
                version: 1,
                plain: serde_json::json!({ "clinic": p.clinic, "ward": p.ward }).to_string(),
                data,
                key_version: 1,
                batch_id: batch_id.to_vec(),
                batch_index: (i % 200) as i32,
                created_at: p.created_at,
                updated_at: p.created_at,
            }
        })
        .collect()
}

/// The least shape on one database.
pub trait LeastDb {
    /// Creates the table if needed and empties it.
    fn least_reset(&mut self) -> anyhow::Result<()>;
    /// Inserts in one transaction.
    fn least_insert(&mut self, rows: &[LeastRow], way: InsertWay) -> anyhow::Result<()>;
    /// Fetches every row of [`WRITER`], type `patient`, by keyset pages as
    /// strongroom's query does; returns how many.
    fn least_read_all(&mut self, page: i64) -> anyhow::Result<usize>;
}

macro_rules! least_db {
    ($conn:ty, $binary:expr, $empty:expr, $copy:expr) => {
        impl LeastDb for $conn {
            fn least_reset(&mut self) -> anyhow::Result<()> {
                for sql in create_sql($binary) {
                    diesel::sql_query(sql).execute(self)?;
                }
                diesel::sql_query($empty).execute(self)?;
                Ok(())
            }

            fn least_insert(&mut self, rows: &[LeastRow], way: InsertWay) -> anyhow::Result<()> {
                self.transaction(|conn| {
                    insert_way!(conn, least_records::table, rows, way, $copy);
                    Ok::<_, diesel::result::Error>(())
                })?;
                Ok(())
            }

            fn least_read_all(&mut self, page: i64) -> anyhow::Result<usize> {
                use least_records::dsl as r;
                super::count_by_keyset(
                    page,
                    |after: Option<(i64, Vec<u8>)>| {
                        let mut q = r::least_records
                            .select(LeastRow::as_select())
                            .filter(r::writer_id.eq(WRITER.to_vec()))
                            .filter(r::record_type.eq("patient"))
                            .order((r::created_at.asc(), r::record_id.asc()))
                            .limit(page + 1)
                            .into_boxed();
                        if let Some((t, last)) = after {
                            q = q.filter(
                                diesel::dsl::sql::<diesel::sql_types::Bool>(
                                    "(least_records.created_at, least_records.record_id) > (",
                                )
                                .bind::<diesel::sql_types::BigInt, _>(t)
                                .sql(", ")
                                .bind::<diesel::sql_types::Binary, _>(last)
                                .sql(")"),
                            );
                        }
                        q.load(self)
                    },
                    |row: &LeastRow| (row.created_at, row.record_id.clone()),
                )
            }
        }
    };
}

least_db!(
    diesel::SqliteConnection,
    "BLOB",
    "DELETE FROM least_records",
    super::no_copy
);
least_db!(
    diesel::PgConnection,
    "BYTEA",
    "TRUNCATE least_records",
    pg_copy!()
);
