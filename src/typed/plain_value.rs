//! Which Rust types a plain (unencrypted) field may have: those that turn
//! into a string and back.

use crate::error::{Error, Result};

/// A type that can be stored as plain meta: in the clear, filterable.
///
/// Implemented for `String`, `bool`, `char`, the integer types, and
/// `Option` of any of them (`None` stores no entry). Implement it for your
/// own types (an enum of statuses, say) to use them as plain fields.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a plain (unencrypted) field",
    label = "plain fields are stored as strings",
    note = "plain fields may be String, bool, char, an integer, or an Option of those, or any type implementing strongroom::PlainValue",
    note = "to encrypt this field instead, mark it `#[sensitive]`"
)]
pub trait PlainValue: Sized {
    /// The stored string, or `None` to store no entry.
    fn to_plain(&self) -> Option<String>;

    /// Parses the stored string (`None`: no entry). `field` names the field
    /// for the error.
    fn from_plain(stored: Option<&str>, field: &str) -> Result<Self>;
}

fn missing(field: &str) -> Error {
    Error::MissingField {
        field: field.to_owned(),
    }
}

fn bad(field: &str) -> Error {
    Error::ValueType {
        field: field.to_owned(),
    }
}

impl PlainValue for String {
    fn to_plain(&self) -> Option<String> {
        Some(self.clone())
    }

    fn from_plain(stored: Option<&str>, field: &str) -> Result<Self> {
        stored.map(str::to_owned).ok_or_else(|| missing(field))
    }
}

macro_rules! plain_by_display {
    ($($t:ty),*) => {$(
        impl PlainValue for $t {
            fn to_plain(&self) -> Option<String> {
                Some(self.to_string())
            }

            fn from_plain(stored: Option<&str>, field: &str) -> Result<Self> {
                stored.ok_or_else(|| missing(field))?.parse().map_err(|_| bad(field))
            }
        }
    )*};
}

plain_by_display!(bool, char, i8, i16, i32, i64, i128, isize, u8, u16, u32, u64, u128, usize);

impl<T: PlainValue> PlainValue for Option<T> {
    fn to_plain(&self) -> Option<String> {
        self.as_ref().and_then(PlainValue::to_plain)
    }

    fn from_plain(stored: Option<&str>, field: &str) -> Result<Self> {
        stored.map(|s| T::from_plain(Some(s), field)).transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_errors() {
        assert_eq!(u32::from_plain(Some("7"), "w").unwrap(), 7);
        assert!(matches!(
            u32::from_plain(Some("x"), "w"),
            Err(Error::ValueType { .. })
        ));
        assert!(matches!(
            u32::from_plain(None, "w"),
            Err(Error::MissingField { .. })
        ));
        assert_eq!(Option::<u32>::from_plain(None, "w").unwrap(), None);
        assert_eq!(Some(5u8).to_plain(), Some("5".to_owned()));
        assert_eq!(None::<u8>.to_plain(), None);
        assert_eq!(true.to_plain().as_deref(), Some("true"));
    }
}
