//! Checks on what callers pass in, before anything is sealed or written.

use crate::error::{Error, Result};
use crate::model::{Fields, Plain};

const MAX_NAME_LEN: usize = 255;
const MAX_PLAIN_VALUE_LEN: usize = 64 * 1024;

fn name_ok(name: &str) -> bool {
    !name.is_empty() && name.len() <= MAX_NAME_LEN && !name.chars().any(char::is_control)
}

/// Checks a record type as every operation does: 1 to 255 bytes, no
/// control characters, not blank, no leading or trailing whitespace; a bad
/// one is [`Error::InvalidInput`]. For tools that take record types from
/// their users and want to refuse a bad one before doing any work.
///
/// ```
/// assert!(strongroom::check_record_type("patient").is_ok());
/// assert!(strongroom::check_record_type(" patient").is_err());
/// ```
pub fn check_record_type(record_type: &str) -> Result<()> {
    self::record_type(record_type)
}

/// Checks a field name or plain meta name as every operation does: 1 to
/// 255 bytes, no control characters; a bad one is
/// [`Error::InvalidInput`]. For tools that take names from their users
/// and want to refuse a bad one before doing any work.
///
/// ```
/// assert!(strongroom::check_name("national_id").is_ok());
/// assert!(strongroom::check_name("tab\there").is_err());
/// assert!(strongroom::check_name("").is_err());
/// ```
pub fn check_name(name: &str) -> Result<()> {
    if name_ok(name) {
        Ok(())
    } else {
        Err(Error::InvalidInput(
            "a field or plain meta name is 1 to 255 bytes without control characters",
        ))
    }
}

pub(super) fn record_type(record_type: &str) -> Result<()> {
    // A type that differs from another only by spaces would look the same
    // in every listing: no blank types, no leading or trailing whitespace.
    if name_ok(record_type) && record_type.trim() == record_type {
        Ok(())
    } else {
        Err(Error::InvalidInput(
            "a record type is 1 to 255 bytes without control characters, not blank, with no leading or trailing whitespace",
        ))
    }
}

pub(super) fn fields(fields: &Fields) -> Result<()> {
    if fields.names().all(name_ok) {
        Ok(())
    } else {
        Err(Error::InvalidInput(
            "a field name is 1 to 255 bytes without control characters",
        ))
    }
}

pub(super) fn plain(plain: &Plain) -> Result<()> {
    if !plain.keys().all(|k| name_ok(k)) {
        return Err(Error::InvalidInput(
            "a plain meta name is 1 to 255 bytes without control characters",
        ));
    }
    if plain.values().any(|v| v.len() > MAX_PLAIN_VALUE_LEN) {
        return Err(Error::InvalidInput("a plain meta value is at most 64 KiB"));
    }
    Ok(())
}
