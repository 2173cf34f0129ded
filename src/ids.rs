//! Identifiers: clients are named by random UUIDs (v4), records by
//! time-ordered UUIDs (v7: a millisecond timestamp and 74 random bits), so
//! that new records land at the end of the database's indexes instead of
//! at random places in them. The creation time a v7 id carries is stored in
//! the clear beside every record anyway.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::{Error, Result};

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// Wraps an existing UUID.
            pub fn from_uuid(uuid: Uuid) -> Self {
                Self(uuid)
            }

            /// The UUID.
            pub fn as_uuid(&self) -> &Uuid {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0.hyphenated(), f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({})"), self.0.hyphenated())
            }
        }

        impl FromStr for $name {
            type Err = Error;

            fn from_str(text: &str) -> Result<Self> {
                Uuid::parse_str(text)
                    .map(Self)
                    .map_err(|_| Error::InvalidInput(concat!("not a valid ", stringify!($name), " (a UUID)")))
            }
        }
    };
}

uuid_id!(
    /// Names a client (a process, device or service with its own keys).
    ///
    /// Usable as a column of an application's own diesel models (see
    /// [`RecordId`]).
    #[derive(diesel::AsExpression, diesel::FromSqlRow)]
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    #[diesel(sql_type = diesel::sql_types::Binary)]
    ClientId
);
uuid_id!(
    /// Names a record in the sensitive database.
    ///
    /// # In an application's own diesel models
    /// A `RecordId` (and a [`ClientId`]) is a column type of diesel: a
    /// PostgreSQL `uuid` ([`diesel::sql_types::Uuid`]) or a 16-byte binary
    /// value ([`diesel::sql_types::Binary`]: an SQLite `BLOB`, a PostgreSQL
    /// `bytea`) — the UUID's 16 bytes in order, as strongroom's own
    /// tables store ids. A stored value of another length is a
    /// deserialization error, never a panic. serde gives the hyphenated
    /// text form.
    ///
    /// ```
    /// use diesel::prelude::*;
    /// use strongroom::RecordId;
    ///
    /// diesel::table! {
    ///     patients (id) {
    ///         id -> Integer,
    ///         name -> Text,
    ///         secret -> Binary, // `Uuid` on PostgreSQL
    ///     }
    /// }
    ///
    /// #[derive(Queryable, Insertable)]
    /// #[diesel(table_name = patients)]
    /// struct Patient { id: i32, name: String, secret: RecordId }
    ///
    /// let mut conn = SqliteConnection::establish(":memory:")?;
    /// diesel::sql_query("CREATE TABLE patients (id INTEGER PRIMARY KEY, name TEXT NOT NULL, secret BLOB NOT NULL)")
    ///     .execute(&mut conn)?;
    /// let secret = RecordId::random(); // in practice: the id `Client::put` returned
    /// diesel::insert_into(patients::table)
    ///     .values(Patient { id: 1, name: "Ada".into(), secret })
    ///     .execute(&mut conn)?;
    /// let found: Patient = patients::table.find(1).first(&mut conn)?;
    /// assert_eq!(found.secret, secret);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[derive(diesel::AsExpression, diesel::FromSqlRow)]
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    #[diesel(sql_type = diesel::sql_types::Binary)]
    RecordId
);

/// diesel's `ToSql`/`FromSql` for an id on PostgreSQL: its 16 bytes, as a
/// `uuid` or a `bytea` alike.
macro_rules! diesel_pg_id {
    ($name:ident: $($sql_type:ty),*) => {$(
        impl diesel::serialize::ToSql<$sql_type, diesel::pg::Pg> for $name {
            fn to_sql<'b>(
                &'b self,
                out: &mut diesel::serialize::Output<'b, '_, diesel::pg::Pg>,
            ) -> diesel::serialize::Result {
                std::io::Write::write_all(out, self.0.as_bytes())?;
                Ok(diesel::serialize::IsNull::No)
            }
        }

        impl diesel::deserialize::FromSql<$sql_type, diesel::pg::Pg> for $name {
            fn from_sql(value: diesel::pg::PgValue<'_>) -> diesel::deserialize::Result<Self> {
                from_stored(value.as_bytes()).map(Self)
            }
        }
    )*};
}

/// diesel's `ToSql`/`FromSql` for an id: its 16 bytes as a PostgreSQL
/// `uuid` or `bytea`, or an SQLite `BLOB`.
macro_rules! diesel_id {
    ($($name:ident),*) => {$(
        diesel_pg_id!($name: diesel::sql_types::Uuid, diesel::sql_types::Binary);

        impl diesel::serialize::ToSql<diesel::sql_types::Binary, diesel::sqlite::Sqlite> for $name {
            fn to_sql<'b>(
                &'b self,
                out: &mut diesel::serialize::Output<'b, '_, diesel::sqlite::Sqlite>,
            ) -> diesel::serialize::Result {
                out.set_value(&self.0.as_bytes()[..]);
                Ok(diesel::serialize::IsNull::No)
            }
        }

        impl diesel::deserialize::FromSql<diesel::sql_types::Binary, diesel::sqlite::Sqlite>
            for $name
        {
            fn from_sql(
                mut value: diesel::sqlite::SqliteValue<'_, '_, '_>,
            ) -> diesel::deserialize::Result<Self> {
                from_stored(value.read_blob()).map(Self)
            }
        }
    )*};
}
diesel_id!(ClientId, RecordId);

/// An id column's stored bytes as a UUID: exactly 16 bytes, or a
/// deserialization error naming the length (never the bytes).
fn from_stored(bytes: &[u8]) -> diesel::deserialize::Result<Uuid> {
    <[u8; 16]>::try_from(bytes)
        .map(Uuid::from_bytes)
        .map_err(|_| {
            format!(
                "an id column holds {} bytes; a strongroom id is 16 (a UUID's bytes in order)",
                bytes.len()
            )
            .into()
        })
}

impl ClientId {
    /// A fresh random (v4) id.
    pub fn random() -> Self {
        Self(Uuid::new_v4())
    }
}

impl DatabaseId {
    /// A fresh random (v4) id.
    pub fn random() -> Self {
        Self(Uuid::new_v4())
    }
}

impl RecordId {
    /// A fresh time-ordered (v7) id: the current Unix time in milliseconds
    /// and 74 random bits from the library's CSPRNG.
    pub fn random() -> Self {
        Self(time_ordered())
    }
}

uuid_id!(
    /// Names a sensitive database: a random id created with its schema
    /// (one row of its own), kept by dumps and file copies. Profiles key
    /// their rollback marks by it, never by the URL the database is reached
    /// at.
    DatabaseId
);

uuid_id!(
    /// Names a batch of record versions signed together (see
    /// [`crate::hazmat::batch`]).
    BatchId
);

impl BatchId {
    /// A fresh time-ordered (v7) id, like [`RecordId::random`].
    pub fn random() -> Self {
        Self(time_ordered())
    }
}

/// A UUIDv7: the current Unix time in milliseconds and 74 random bits.
fn time_ordered() -> Uuid {
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    let random: [u8; 10] = crate::crypto::rng::bytes();
    uuid::Builder::from_unix_timestamp_millis(millis, &random).into_uuid()
}
