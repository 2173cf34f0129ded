//! Registering this client's public keys, and reading peers' keys through
//! the profile's pins (trust on first use; a changed key is refused).

use diesel::prelude::*;

use super::Client;
use crate::crypto::keys::{EncryptionPublicKey, SigningPublicKey};
use crate::error::{Error, Result};
use crate::identity::PublicIdentity;
use crate::ids::ClientId;
use crate::store::rows::{now_micros, ClientRow, StoredClient, CLIENT_COLUMNS};
use crate::store::schema::clients;
use crate::store::tx::{db_err, is_unique_violation};
use crate::store::AnyConnection;

fn parse_row(row: &ClientRow) -> Result<PublicIdentity> {
    Ok(PublicIdentity {
        client_id: row.client_id.parse().map_err(|_| Error::Decryption)?,
        encryption_key: EncryptionPublicKey::from_base64(&row.public_key)
            .map_err(|_| Error::Decryption)?,
        signing_key: SigningPublicKey::from_base64(&row.signing_key)
            .map_err(|_| Error::Decryption)?,
    })
}

fn find(conn: &mut AnyConnection, client_id: ClientId) -> Result<Option<ClientRow>> {
    // Loaded in a form that cannot fail; a malformed row fails `parse_row`.
    let stored: Option<StoredClient> = clients::table
        .find(client_id.to_string())
        .select(CLIENT_COLUMNS)
        .first(conn)
        .optional()
        .map_err(db_err)?;
    Ok(stored.map(StoredClient::into_row))
}

impl Client {
    /// Inserts this client's public keys, or checks the registered ones
    /// are exactly its own.
    pub(super) fn register(&self) -> Result<()> {
        let mut conn = self.store.conn()?;
        let me = *self.public();
        let name = self.with_profile(|p| p.name().map(str::to_owned));
        for _attempt in 0..2 {
            if let Some(row) = find(&mut conn, me.client_id)? {
                return if parse_row(&row).ok() == Some(me) {
                    Ok(())
                } else {
                    tracing::warn!(client_id = %me.client_id, "registered public keys differ from the profile's");
                    Err(Error::KeyChanged {
                        client_id: me.client_id,
                    })
                };
            }
            let row = ClientRow {
                client_id: me.client_id.to_string(),
                name: name.clone(),
                public_key: me.encryption_key.to_base64(),
                signing_key: me.signing_key.to_base64(),
                created_at: now_micros(),
            };
            match diesel::insert_into(clients::table)
                .values(&row)
                .execute(&mut *conn)
                .map_err(db_err)
            {
                Ok(_) => {
                    tracing::info!(client_id = %me.client_id, "registered client");
                    return Ok(());
                }
                Err(err) if is_unique_violation(&err) => continue,
                Err(err) => return Err(err),
            }
        }
        Err(Error::Database(
            "client registration raced twice".to_owned(),
        ))
    }

    /// The public keys of `client_id`: this client's own, the pinned ones,
    /// or the registered ones, pinned now (first use).
    pub(crate) fn peer(
        &self,
        conn: &mut AnyConnection,
        client_id: ClientId,
    ) -> Result<PublicIdentity> {
        if client_id == self.id() {
            return Ok(*self.public());
        }
        if let Some(pinned) = self.with_profile(|p| p.pinned(client_id).copied()) {
            return Ok(pinned);
        }
        let row = find(conn, client_id)?.ok_or(Error::UnknownClient { client_id })?;
        let peer = parse_row(&row)?;
        if peer.client_id != client_id {
            return Err(Error::Decryption);
        }
        self.with_profile(|p| p.pin(&peer))?;
        Ok(peer)
    }

    /// Looks up a registered client's public keys (pinning them), for
    /// callers that share with it.
    pub fn lookup_client(&self, client_id: ClientId) -> Result<PublicIdentity> {
        let mut conn = self.store.conn()?;
        self.peer(&mut conn, client_id)
    }
}
