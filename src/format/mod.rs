//! Reading and writing bytes: base64url and the canonical length-prefixed
//! encoding that everything signed or used as AAD goes through.
//!
//! The byte-by-byte specification of every stored format is in FORMAT.md.

pub(crate) mod b64;
pub(crate) mod blind_index;
pub(crate) mod canonical;
pub(crate) mod file_head;
pub(crate) mod reader;
pub(crate) mod sealed_fields;
