//! Ids as the database stores them: PostgreSQL `uuid`, SQLite 16-byte
//! `BLOB` — the same 16 bytes either way (the UUID's bytes in order).
//!
//! Bound through [`SqlId`]; read back through the fallible loaders of
//! [`super::rows`] as raw bytes (a PostgreSQL `uuid` arrives as its 16
//! bytes in the binary protocol), taken by [`SqlId::from_stored`]; never
//! loaded as `Uuid` (so no loading can fail on a bad value).
#![allow(missing_docs)]

use diesel::pg::Pg;
use diesel::serialize::{self, IsNull, Output, ToSql};
use diesel::sql_types::HasSqlType;
use diesel::sqlite::Sqlite;
use diesel::{AsExpression, SqlType};
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, AsExpression)]
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

impl SqlId {
    /// An id column as loaded (its raw bytes): `None` unless it is exactly
    /// 16 bytes.
    pub(crate) fn from_stored(bytes: &[u8]) -> Option<SqlId> {
        bytes.try_into().ok().map(SqlId)
    }

    /// The UUID.
    pub(crate) fn uuid(self) -> uuid::Uuid {
        uuid::Uuid::from_bytes(self.0)
    }
}

/// An id column as loaded (its raw bytes), parsed: `None` unless it is
/// exactly 16 bytes.
pub(crate) fn parse(bytes: &[u8]) -> Option<uuid::Uuid> {
    SqlId::from_stored(bytes).map(SqlId::uuid)
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

impl HasSqlType<Uuid> for MultiBackend {
    fn metadata(lookup: &mut Self::MetadataLookup) -> Self::TypeMetadata {
        MultiBackend::lookup_sql_type::<Uuid>(lookup)
    }
}
