//! Ids as the database stores them: PostgreSQL `uuid`, SQLite 16-byte
//! `BLOB` — the same 16 bytes either way (the UUID's bytes in order).
//!
//! Bound through [`SqlId`]; read back through the fallible loaders of
//! [`super::rows`] as raw bytes (a PostgreSQL `uuid` arrives as its 16
//! bytes in the binary protocol), parsed by [`parse`].
#![allow(missing_docs)]

use diesel::deserialize::{self, FromSql};
use diesel::pg::Pg;
use diesel::serialize::{self, IsNull, Output, ToSql};
use diesel::sql_types::HasSqlType;
use diesel::sqlite::Sqlite;
use diesel::{AsExpression, FromSqlRow, SqlType};
use std::io::Write;

use super::connection::MultiBackend;
use crate::ids::{BatchId, ClientId, DatabaseId, RecordId};

/// The SQL type of an id column: `uuid` (OID 2950) on PostgreSQL, a BLOB on
/// SQLite.
#[derive(Debug, Clone, Copy, Default, SqlType, diesel::query_builder::QueryId)]
#[diesel(postgres_type(oid = 2950, array_oid = 2951))]
#[diesel(sqlite_type(name = "Binary"))]
pub struct Uuid;

/// An id as bound into a statement: its 16 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, AsExpression, FromSqlRow)]
#[diesel(sql_type = Uuid)]
pub(crate) struct SqlId(pub(crate) [u8; 16]);

macro_rules! from_id {
    ($($id:ty),*) => {$(
        impl From<$id> for SqlId {
            fn from(id: $id) -> Self {
                SqlId(*id.as_uuid().as_bytes())
            }
        }
    )*};
}
from_id!(BatchId, ClientId, DatabaseId, RecordId);

/// An id column as loaded (its raw bytes), parsed: `None` unless it is
/// exactly 16 bytes.
pub(crate) fn parse(bytes: &[u8]) -> Option<uuid::Uuid> {
    uuid::Uuid::from_slice(bytes).ok()
}

impl ToSql<Uuid, Pg> for SqlId {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
        out.write_all(&self.0)?;
        Ok(IsNull::No)
    }
}

impl ToSql<Uuid, Sqlite> for SqlId {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Sqlite>) -> serialize::Result {
        out.set_value(&self.0[..]);
        Ok(IsNull::No)
    }
}

impl ToSql<Uuid, MultiBackend> for SqlId {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, MultiBackend>) -> serialize::Result {
        out.set_value((Uuid, self));
        Ok(IsNull::No)
    }
}

impl FromSql<Uuid, Pg> for SqlId {
    fn from_sql(
        bytes: <Pg as diesel::backend::Backend>::RawValue<'_>,
    ) -> deserialize::Result<Self> {
        let raw = bytes.as_bytes();
        Ok(SqlId(raw.try_into().map_err(|_| "an id is not 16 bytes")?))
    }
}

impl FromSql<Uuid, Sqlite> for SqlId {
    fn from_sql(
        bytes: <Sqlite as diesel::backend::Backend>::RawValue<'_>,
    ) -> deserialize::Result<Self> {
        let raw = <Vec<u8> as FromSql<diesel::sql_types::Binary, Sqlite>>::from_sql(bytes)?;
        Ok(SqlId(
            raw.as_slice()
                .try_into()
                .map_err(|_| "an id is not 16 bytes")?,
        ))
    }
}

impl FromSql<Uuid, MultiBackend> for SqlId {
    fn from_sql(
        bytes: <MultiBackend as diesel::backend::Backend>::RawValue<'_>,
    ) -> deserialize::Result<Self> {
        bytes.from_sql::<SqlId, Uuid>()
    }
}

impl HasSqlType<Uuid> for MultiBackend {
    fn metadata(lookup: &mut Self::MetadataLookup) -> Self::TypeMetadata {
        MultiBackend::lookup_sql_type::<Uuid>(lookup)
    }
}
