//! The `clients` table: registered public keys, read in a form that cannot
//! fail as a whole (a malformed row is [`Served::Malformed`]).

use diesel::prelude::*;

use super::rows::{now_micros, ClientRow, StoredClient, CLIENT_COLUMNS};
use super::schema::clients;
use super::sql_id::SqlId;
use super::tx::db_err;
use super::AnyConnection;
use crate::error::Result;
use crate::identity::PublicIdentity;
use crate::ids::ClientId;

/// What the database serves for a client id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Served {
    /// No row.
    Nothing,
    /// A row whose keys parse, for this very id.
    Keys(PublicIdentity),
    /// A row that does not parse (NULL, a key or id of the wrong length,
    /// another id).
    Malformed,
}

/// The registered keys of `client_id`.
pub(crate) fn find(conn: &mut AnyConnection, client_id: ClientId) -> Result<Served> {
    let stored: Option<StoredClient> = clients::table
        .find(SqlId::from(client_id))
        .select(CLIENT_COLUMNS)
        .first(conn)
        .optional()
        .map_err(db_err)?;
    Ok(match stored.map(StoredClient::parse) {
        None => Served::Nothing,
        Some(Some(keys)) if keys.client_id == client_id => Served::Keys(keys),
        Some(_) => Served::Malformed,
    })
}

/// Registers `client`'s public keys (and optional clear name). A client
/// registered meanwhile is [`Error::Constraint`].
pub(crate) fn insert(
    conn: &mut AnyConnection,
    client: &PublicIdentity,
    name: Option<&str>,
) -> Result<()> {
    let row = ClientRow {
        client_id: client.client_id.into(),
        name: name.map(str::to_owned),
        public_key: client.encryption_key.as_bytes().to_vec(),
        signing_key: client.signing_key.as_bytes().to_vec(),
        created_at: now_micros(),
    };
    diesel::insert_into(clients::table)
        .values(&row)
        .execute(conn)
        .map_err(db_err)?;
    Ok(())
}
