//! Checks on what callers pass in, before anything is sealed or written.

use crate::error::{Error, Result};
use crate::model::{Fields, Plain};

const MAX_NAME_LEN: usize = 255;
const MAX_PLAIN_VALUE_LEN: usize = 64 * 1024;

fn name_ok(name: &str) -> bool {
    !name.is_empty() && name.len() <= MAX_NAME_LEN && !name.chars().any(char::is_control)
}

/// Checks a record type as every operation does: 1 to 255 bytes, no
/// control characters and no invisible ones (zero-width, bidirectional
/// and other format controls: Unicode's default-ignorable code points),
/// not blank, no leading or trailing whitespace; a bad one is
/// [`Error::InvalidInput`]. For tools that take record types from
/// their users and want to refuse a bad one before doing any work.
///
/// ```
/// assert!(strongroom::check_record_type("patient").is_ok());
/// assert!(strongroom::check_record_type(" patient").is_err());
/// assert!(strongroom::check_record_type("patient\u{200B}").is_err());
/// assert!(strongroom::check_record_type("пациент").is_ok());
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
    // A type that differs from another only by spaces or by a character
    // that shows as nothing would look the same in every listing: no blank
    // types, no leading or trailing whitespace, no invisible characters.
    if name_ok(record_type)
        && record_type.trim() == record_type
        && !record_type.chars().any(invisible)
    {
        Ok(())
    } else {
        Err(Error::InvalidInput(
            "a record type is 1 to 255 bytes without control or invisible characters, not blank, with no leading or trailing whitespace",
        ))
    }
}

/// Unicode's default-ignorable code points (zero-width spaces and joiners,
/// bidirectional and other format controls, variation selectors, fillers,
/// the byte order mark, tags): characters that show as nothing, or turn
/// how the text around them shows.
fn invisible(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{034F}'
            | '\u{061C}'
            | '\u{115F}'..='\u{1160}'
            | '\u{17B4}'..='\u{17B5}'
            | '\u{180B}'..='\u{180F}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{206F}'
            | '\u{3164}'
            | '\u{FE00}'..='\u{FE0F}'
            | '\u{FEFF}'
            | '\u{FFA0}'
            | '\u{FFF0}'..='\u{FFF8}'
            | '\u{1BCA0}'..='\u{1BCA3}'
            | '\u{1D173}'..='\u{1D17A}'
            | '\u{E0000}'..='\u{E0FFF}'
    )
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

/// Checks plain meta as every write does: names as [`check_name`], each
/// value at most 64 KiB; a bad entry is [`Error::InvalidInput`]. For tools
/// that build plain meta from their input (an import) and want to name the
/// row that holds a bad value before writing a batch.
///
/// ```
/// let mut plain = strongroom::Plain::new();
/// plain.insert("city".into(), "London".into());
/// assert!(strongroom::check_plain(&plain).is_ok());
/// plain.insert("notes".into(), "x".repeat(64 * 1024 + 1));
/// assert!(matches!(
///     strongroom::check_plain(&plain),
///     Err(strongroom::Error::InvalidInput(_))
/// ));
/// ```
pub fn check_plain(plain: &Plain) -> Result<()> {
    self::plain(plain)
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

/// A query's plain filter, as writes check plain meta: a name or value no
/// write accepts could match nothing, and is refused instead.
pub(super) fn plain_filter(pairs: &[(String, String)]) -> Result<()> {
    // Each filter is one more condition on the meta index: thousands of
    // them exceed SQLite's expression depth and keep PostgreSQL busy for
    // minutes.
    if pairs.len() > crate::MAX_PLAIN_FILTERS {
        return Err(Error::InvalidInput(
            "a query holds at most 64 plain filters",
        ));
    }
    if !pairs.iter().all(|(name, _)| name_ok(name)) {
        return Err(Error::InvalidInput(
            "a plain meta name is 1 to 255 bytes without control characters",
        ));
    }
    if pairs
        .iter()
        .any(|(_, value)| value.len() > MAX_PLAIN_VALUE_LEN)
    {
        return Err(Error::InvalidInput("a plain meta value is at most 64 KiB"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_types_that_would_look_like_another_are_refused() {
        for bad in [
            "",
            " patient",
            "patient ",
            "patient\u{200B}",
            "\u{2060}",
            "pati\u{202E}ent",
            "\u{FEFF}patient",
            "patient\u{E0041}",
            "pa\ttient",
        ] {
            assert!(record_type(bad).is_err(), "{bad:?}");
        }
        for good in ["patient", "lab result", "пациент", "患者", "a.b-c_d"] {
            assert!(record_type(good).is_ok(), "{good:?}");
        }
    }

    /// The derive refuses at compile time the record types every write
    /// refuses, with a copy of `invisible` (a proc-macro crate cannot
    /// share this one): the two tables stay equal.
    #[test]
    fn the_derives_table_of_invisible_characters_is_this_one() {
        fn table(source: &str) -> String {
            let start = source
                .find("fn invisible(c: char) -> bool {")
                .expect("fn invisible");
            let body = &source[start..];
            let end = body.find("\n}\n").expect("end of fn invisible");
            body[..end].split_whitespace().collect()
        }
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let Ok(derive) = std::fs::read_to_string(root.join("derive/src/valid.rs")) else {
            eprintln!(
                "SKIPPED the_derives_table_of_invisible_characters_is_this_one: derive/src/valid.rs is not beside this crate (a packaged copy)"
            );
            return;
        };
        let this = std::fs::read_to_string(root.join("src/client/validate.rs")).unwrap();
        assert_eq!(table(&derive), table(&this));
    }
}
