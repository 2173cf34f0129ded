//! Whether a field value's JSON reads back as the value written.
//!
//! Two things serde_json writes but cannot give back, both refused at the
//! write instead of found at a read, when the value can no longer be had:
//! - a float that is not finite (NaN, ±∞): serde_json writes `null`, so
//!   the value reads back as `None` or as a type error;
//! - nesting of 128 or more arrays or objects (serde_json's recursion
//!   limit of 128 counts the value itself, so it reads at most 127):
//!   written, but no read can parse it.
//!
//! A string, number or boolean costs one look at the first byte; an array,
//! object or `null` a byte scan of the encoding, and the value is walked
//! again (floats) or parsed (depth) only when the scan finds a `null` or
//! more than 127 opening brackets.

use serde::ser::{self, Serialize};

use crate::error::{Error, Result};

/// Brackets serde_json reads nested (its recursion limit, 128) with room
/// for the value itself.
const MOST_BRACKETS_WITHOUT_PARSE: usize = 127;

/// Checks `json`, the serde_json encoding of `value`.
pub(crate) fn reads_back<T: Serialize + ?Sized>(value: &T, json: &[u8]) -> Result<()> {
    // A string, a number or a boolean holds neither (most fields): only an
    // array, an object or a `null` is looked into.
    if !matches!(json.first(), Some(b'[' | b'{' | b'n')) {
        return Ok(());
    }
    if json.windows(4).any(|w| w == b"null") && has_non_finite_float(value) {
        return Err(not_finite());
    }
    let brackets = json.iter().filter(|&&b| b == b'[' || b == b'{').count();
    if brackets > MOST_BRACKETS_WITHOUT_PARSE
        // (Parsed as a `Value`: serde_json skips an ignored value without
        // its recursion limit.)
        && serde_json::from_slice::<serde_json::Value>(json).is_err()
    {
        return Err(Error::InvalidInput(
            "a value nested in 128 or more arrays or objects cannot be read back (serde_json reads at most 127)",
        ));
    }
    Ok(())
}

/// The error of a value holding a float that is not finite.
fn not_finite() -> Error {
    Error::InvalidInput(
        "a float that is not finite (NaN or infinite) has no JSON form; it would read back as null",
    )
}

/// The error of a value serde_json could not encode: [`Error::InvalidInput`]
/// when a float that is not finite, as a map key, stopped it (serde_json
/// writes such a float as `null` elsewhere, but refuses it as a key),
/// else [`Error::Serialization`] (the value's own `Serialize` failed, or
/// serde_json refused something else, such as a key that is a tuple).
pub(crate) fn encoding_failed<T: Serialize + ?Sized>(value: &T) -> Error {
    // The walk stops where serde_json stopped: at the first key that is a
    // float that is not finite, or at the value's own error, whichever
    // comes first.
    let mut walk = FiniteFloats {
        keys_only: true,
        in_key: false,
    };
    match value.serialize(&mut walk) {
        Err(NotFinite { float: true }) => not_finite(),
        _ => Error::Serialization,
    }
}

/// Whether a float that is not finite is anywhere in `value` (a map key
/// included).
fn has_non_finite_float<T: Serialize + ?Sized>(value: &T) -> bool {
    let mut walk = FiniteFloats {
        keys_only: false,
        in_key: false,
    };
    matches!(value.serialize(&mut walk), Err(NotFinite { float: true }))
}

/// A serializer that writes nothing and fails on the first float that is
/// not finite (or on the value's own error). With `keys_only`, only a
/// float that is itself a map key (through newtypes) counts, as serde_json
/// refuses only that.
struct FiniteFloats {
    keys_only: bool,
    /// Walking a map key, not yet inside a compound value within it.
    in_key: bool,
}

impl FiniteFloats {
    fn float(&self, finite: bool) -> Walk {
        if finite || (self.keys_only && !self.in_key) {
            Ok(())
        } else {
            Err(NotFinite { float: true })
        }
    }

    /// Entering a compound value: a float inside it is no longer the key.
    fn compound(&mut self) -> std::result::Result<&mut Self, NotFinite> {
        self.in_key = false;
        Ok(self)
    }
}

#[derive(Debug)]
struct NotFinite {
    /// A float stopped the walk, not the value's own `Serialize`.
    float: bool,
}

impl std::fmt::Display for NotFinite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a float that is not finite")
    }
}

impl std::error::Error for NotFinite {}

impl ser::Error for NotFinite {
    fn custom<T: std::fmt::Display>(_: T) -> Self {
        NotFinite { float: false }
    }
}

type Walk = std::result::Result<(), NotFinite>;

impl ser::Serializer for &mut FiniteFloats {
    type Ok = ();
    type Error = NotFinite;
    type SerializeSeq = Self;
    type SerializeTuple = Self;
    type SerializeTupleStruct = Self;
    type SerializeTupleVariant = Self;
    type SerializeMap = Self;
    type SerializeStruct = Self;
    type SerializeStructVariant = Self;

    fn serialize_f32(self, v: f32) -> Walk {
        self.float(v.is_finite())
    }
    fn serialize_f64(self, v: f64) -> Walk {
        self.float(v.is_finite())
    }
    fn serialize_bool(self, _: bool) -> Walk {
        Ok(())
    }
    fn serialize_i8(self, _: i8) -> Walk {
        Ok(())
    }
    fn serialize_i16(self, _: i16) -> Walk {
        Ok(())
    }
    fn serialize_i32(self, _: i32) -> Walk {
        Ok(())
    }
    fn serialize_i64(self, _: i64) -> Walk {
        Ok(())
    }
    fn serialize_i128(self, _: i128) -> Walk {
        Ok(())
    }
    fn serialize_u8(self, _: u8) -> Walk {
        Ok(())
    }
    fn serialize_u16(self, _: u16) -> Walk {
        Ok(())
    }
    fn serialize_u32(self, _: u32) -> Walk {
        Ok(())
    }
    fn serialize_u64(self, _: u64) -> Walk {
        Ok(())
    }
    fn serialize_u128(self, _: u128) -> Walk {
        Ok(())
    }
    fn serialize_char(self, _: char) -> Walk {
        Ok(())
    }
    fn serialize_str(self, _: &str) -> Walk {
        Ok(())
    }
    fn serialize_bytes(self, _: &[u8]) -> Walk {
        Ok(())
    }
    fn serialize_none(self) -> Walk {
        Ok(())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Walk {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Walk {
        Ok(())
    }
    fn serialize_unit_struct(self, _: &'static str) -> Walk {
        Ok(())
    }
    fn serialize_unit_variant(self, _: &'static str, _: u32, _: &'static str) -> Walk {
        Ok(())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _: &'static str, value: &T) -> Walk {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        value: &T,
    ) -> Walk {
        value.serialize(self)
    }
    fn serialize_seq(self, _: Option<usize>) -> std::result::Result<Self, NotFinite> {
        self.compound()
    }
    fn serialize_tuple(self, _: usize) -> std::result::Result<Self, NotFinite> {
        self.compound()
    }
    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> std::result::Result<Self, NotFinite> {
        self.compound()
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> std::result::Result<Self, NotFinite> {
        self.compound()
    }
    fn serialize_map(self, _: Option<usize>) -> std::result::Result<Self, NotFinite> {
        self.compound()
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> std::result::Result<Self, NotFinite> {
        self.compound()
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> std::result::Result<Self, NotFinite> {
        self.compound()
    }
}

impl ser::SerializeSeq for &mut FiniteFloats {
    type Ok = ();
    type Error = NotFinite;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Walk {
        value.serialize(&mut **self)
    }
    fn end(self) -> Walk {
        Ok(())
    }
}

impl ser::SerializeTuple for &mut FiniteFloats {
    type Ok = ();
    type Error = NotFinite;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Walk {
        value.serialize(&mut **self)
    }
    fn end(self) -> Walk {
        Ok(())
    }
}

impl ser::SerializeTupleStruct for &mut FiniteFloats {
    type Ok = ();
    type Error = NotFinite;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Walk {
        value.serialize(&mut **self)
    }
    fn end(self) -> Walk {
        Ok(())
    }
}

impl ser::SerializeTupleVariant for &mut FiniteFloats {
    type Ok = ();
    type Error = NotFinite;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Walk {
        value.serialize(&mut **self)
    }
    fn end(self) -> Walk {
        Ok(())
    }
}

impl ser::SerializeMap for &mut FiniteFloats {
    type Ok = ();
    type Error = NotFinite;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Walk {
        self.in_key = true;
        let walked = key.serialize(&mut **self);
        self.in_key = false;
        walked
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Walk {
        value.serialize(&mut **self)
    }
    fn end(self) -> Walk {
        Ok(())
    }
}

impl ser::SerializeStruct for &mut FiniteFloats {
    type Ok = ();
    type Error = NotFinite;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, _: &'static str, value: &T) -> Walk {
        value.serialize(&mut **self)
    }
    fn end(self) -> Walk {
        Ok(())
    }
}

impl ser::SerializeStructVariant for &mut FiniteFloats {
    type Ok = ();
    type Error = NotFinite;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, _: &'static str, value: &T) -> Walk {
        value.serialize(&mut **self)
    }
    fn end(self) -> Walk {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check<T: Serialize + ?Sized>(value: &T) -> Result<()> {
        let json = serde_json::to_vec(value).unwrap();
        reads_back(value, &json)
    }

    #[test]
    fn finite_floats_and_real_nulls_pass() {
        check(&1.5f64).unwrap();
        check(&Some(-0.0f32)).unwrap();
        check(&None::<f64>).unwrap();
        check(&json!({"a": null, "b": [1.0, null]})).unwrap();
        check(&vec![Some(f64::MAX), None]).unwrap();
    }

    #[test]
    fn a_float_that_is_not_finite_anywhere_in_the_value_is_refused() {
        for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            assert!(matches!(check(&bad), Err(Error::InvalidInput(_))));
            assert!(matches!(check(&Some(bad)), Err(Error::InvalidInput(_))));
            assert!(matches!(
                check(&vec![(1u8, Some(bad))]),
                Err(Error::InvalidInput(_))
            ));
            let map: std::collections::BTreeMap<&str, f64> = [("k", bad)].into();
            assert!(matches!(check(&map), Err(Error::InvalidInput(_))));
        }
        assert!(matches!(check(&f32::NAN), Err(Error::InvalidInput(_))));
    }

    /// A map keyed by a float that is not finite: serde_json refuses to
    /// encode it at all (a finite float key it writes as a string).
    struct FloatKeyed(f64);

    impl Serialize for FloatKeyed {
        fn serialize<S: ser::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
            use serde::ser::SerializeMap;
            let mut map = s.serialize_map(Some(1))?;
            map.serialize_entry(&self.0, &1u8)?;
            map.end()
        }
    }

    /// An `f64` ordered as a map key (serialised as the float).
    struct TotalF64(f64);

    impl PartialEq for TotalF64 {
        fn eq(&self, other: &Self) -> bool {
            self.cmp(other).is_eq()
        }
    }

    impl Eq for TotalF64 {}

    impl PartialOrd for TotalF64 {
        fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
            Some(self.cmp(other))
        }
    }

    impl Ord for TotalF64 {
        fn cmp(&self, other: &Self) -> std::cmp::Ordering {
            self.0.total_cmp(&other.0)
        }
    }

    impl Serialize for TotalF64 {
        fn serialize<S: ser::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
            s.serialize_f64(self.0)
        }
    }

    /// A value whose own `Serialize` fails.
    struct Failing;

    impl Serialize for Failing {
        fn serialize<S: ser::Serializer>(&self, _: S) -> std::result::Result<S::Ok, S::Error> {
            Err(ser::Error::custom("this value has no encoding"))
        }
    }

    #[test]
    fn a_value_serde_json_cannot_encode_is_invalid_input_for_a_float_else_serialization() {
        for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            assert!(serde_json::to_vec(&FloatKeyed(bad)).is_err());
            assert!(matches!(
                encoding_failed(&FloatKeyed(bad)),
                Error::InvalidInput(_)
            ));
        }
        // What a writer sees, through the public builder.
        assert!(matches!(
            crate::Fields::new().with("weights", &FloatKeyed(f64::NAN)),
            Err(Error::InvalidInput(_))
        ));
        assert!(matches!(
            crate::Fields::new().with("x", &Failing),
            Err(Error::Serialization)
        ));
        assert!(serde_json::to_vec(&Failing).is_err());
        assert!(matches!(encoding_failed(&Failing), Error::Serialization));
        // The value's own failure is no float, even beside a finite one,
        // or after one that is not finite (serde_json writes that as
        // `null` and goes on to the failure).
        for float in [1.5f64, f64::NAN] {
            assert!(serde_json::to_vec(&(float, Failing)).is_err());
            assert!(matches!(
                encoding_failed(&(float, Failing)),
                Error::Serialization
            ));
        }
        // A key that is a tuple is refused whatever it holds: no float's
        // fault.
        for float in [1.5f64, f64::NAN] {
            let keyed: std::collections::BTreeMap<(u8, TotalF64), u8> =
                [((1, TotalF64(float)), 1)].into();
            assert!(serde_json::to_vec(&keyed).is_err());
            assert!(matches!(encoding_failed(&keyed), Error::Serialization));
        }
        // A float key that is not finite, nested anywhere in the value.
        let nested = vec![Some(FloatKeyed(f64::INFINITY))];
        assert!(serde_json::to_vec(&nested).is_err());
        assert!(matches!(encoding_failed(&nested), Error::InvalidInput(_)));
    }

    #[test]
    fn nesting_to_serde_jsons_read_limit_passes_and_deeper_is_refused() {
        fn nested(depth: usize) -> serde_json::Value {
            (0..depth).fold(json!(1), |inner, _| json!([inner]))
        }
        // serde_json reads 127 nested arrays inside its limit of 128.
        let deepest = nested(127);
        check(&deepest).unwrap();
        let json = serde_json::to_vec(&deepest).unwrap();
        serde_json::from_slice::<serde_json::Value>(&json).unwrap();
        for depth in [129, 200] {
            let deep = nested(depth);
            let json = serde_json::to_vec(&deep).unwrap();
            assert!(serde_json::from_slice::<serde_json::Value>(&json).is_err());
            assert!(matches!(check(&deep), Err(Error::InvalidInput(_))));
        }
        // Many brackets side by side are not nesting.
        check(&vec![vec![1u8]; 1000]).unwrap();
        // Brackets inside strings are not nesting either.
        check(&"[".repeat(1000)).unwrap();
    }
}
