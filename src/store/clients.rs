//! The `clients` table: registered public keys, read in a form that cannot
//! fail as a whole (a malformed row is [`Served::Malformed`]).

use diesel::prelude::*;

use super::rows::{now_micros, ClientRow, StoredClient, CLIENT_COLUMNS};
use super::schema::clients;
use super::tx::db_err;
use super::AnyConnection;
use crate::crypto::keys::{EncryptionPublicKey, SigningPublicKey};
use crate::error::{Error, Result};
use crate::identity::PublicIdentity;
use crate::ids::ClientId;

/// What the database serves for a client id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Served {
    /// No row.
    Nothing,
    /// A row whose keys parse, for this very id.
    Keys(PublicIdentity),
    /// A row that does not parse (NULL, not UTF-8, bad base64, wrong id).
    Malformed,
}

fn parse_row(row: &ClientRow) -> Result<PublicIdentity> {
    Ok(PublicIdentity {
        client_id: row.client_id.parse().map_err(|_| Error::Decryption)?,
        encryption_key: EncryptionPublicKey::from_base64(&row.public_key)
            .map_err(|_| Error::Decryption)?,
        signing_key: SigningPublicKey::from_base64(&row.signing_key)
            .map_err(|_| Error::Decryption)?,
    })
}

/// The registered keys of `client_id`.
pub(crate) fn find(conn: &mut AnyConnection, client_id: ClientId) -> Result<Served> {
    let stored: Option<StoredClient> = clients::table
        .find(client_id.to_string())
        .select(CLIENT_COLUMNS)
        .first(conn)
        .optional()
        .map_err(db_err)?;
    Ok(match stored.map(|s| parse_row(&s.into_row())) {
        None => Served::Nothing,
        Some(Ok(keys)) if keys.client_id == client_id => Served::Keys(keys),
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
        client_id: client.client_id.to_string(),
        name: name.map(str::to_owned),
        public_key: client.encryption_key.to_base64(),
        signing_key: client.signing_key.to_base64(),
        created_at: now_micros(),
    };
    diesel::insert_into(clients::table)
        .values(&row)
        .execute(conn)
        .map_err(db_err)?;
    Ok(())
}
