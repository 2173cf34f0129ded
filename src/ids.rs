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
    ClientId
);
uuid_id!(
    /// Names a record in the sensitive database.
    RecordId
);

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
