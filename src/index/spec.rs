//! What an index is: its name, the fields it covers, how values are
//! normalised before hashing and how many bits of the hash are kept.

use std::fmt;

use crate::error::{Error, Result};
use crate::format::reader::Reader;
use crate::index::planner;

/// The most bits an index keeps (the whole 256-bit keyed hash).
pub const MAX_BITS: u16 = 256;
const SPEC_VERSION: u8 = 1;
const MAX_NAME_LEN: usize = 255;

/// How a value is normalised before it is hashed into an index, and again
/// before a candidate is compared with the searched value.
///
/// The normaliser applies to a value that is a JSON string; any other
/// JSON value (a number, a list) is indexed as its JSON encoding.
#[derive(Clone, Copy, Default)]
#[non_exhaustive]
pub enum Normalize {
    /// The value as written.
    #[default]
    None,
    /// Unicode lowercase (`str::to_lowercase`).
    Lowercase,
    /// Leading and trailing whitespace removed (`str::trim`).
    Trim,
    /// A function of the caller's, known by `id` (stored with the index,
    /// so readers and `reindex` can tell which function a record used;
    /// they must declare the same function to search or re-index it).
    Custom {
        /// A stable name for the function (the derive uses its path).
        id: &'static str,
        /// The function.
        apply: fn(&str) -> String,
    },
}

impl Normalize {
    /// Its stored name: `none`, `lowercase`, `trim` or `custom:ID`.
    pub fn id(&self) -> String {
        match self {
            Normalize::None => "none".into(),
            Normalize::Lowercase => "lowercase".into(),
            Normalize::Trim => "trim".into(),
            Normalize::Custom { id, .. } => format!("custom:{id}"),
        }
    }

    /// The built-in normaliser with this stored name; `None` for a custom
    /// one (or a name this build does not know).
    pub fn builtin(id: &str) -> Option<Normalize> {
        match id {
            "none" => Some(Normalize::None),
            "lowercase" => Some(Normalize::Lowercase),
            "trim" => Some(Normalize::Trim),
            _ => None,
        }
    }

    /// Applies it to a string.
    pub fn apply(&self, value: &str) -> String {
        match self {
            Normalize::None => value.to_owned(),
            Normalize::Lowercase => value.to_lowercase(),
            Normalize::Trim => value.trim().to_owned(),
            Normalize::Custom { apply, .. } => apply(value),
        }
    }
}

impl fmt::Debug for Normalize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.id())
    }
}

impl PartialEq for Normalize {
    fn eq(&self, other: &Self) -> bool {
        self.id() == other.id()
    }
}

impl Eq for Normalize {}

/// A blind index over one or more sensitive fields of a record type: a
/// keyed BLAKE2b of the normalised values, truncated to `bits`, stored in
/// its own table so that equality lookups use a database index.
///
/// ```
/// use strongroom::index::{IndexSpec, Normalize};
///
/// let ssn = IndexSpec::on_field("ssn");                    // planner's default bits
/// let email = IndexSpec::on_field("email").normalize(Normalize::Lowercase).bits(20);
/// let by_name_dob = IndexSpec::new("by_name_dob", ["last_name", "dob"]);
/// assert_eq!(ssn.bits_kept(), strongroom::index::DEFAULT_BITS);
/// assert_eq!(by_name_dob.fields(), ["last_name", "dob"]);
/// # let _ = email;
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexSpec {
    name: String,
    fields: Vec<String>,
    bits: u16,
    normalize: Normalize,
}

impl IndexSpec {
    /// An index called `name` over `fields` (in this order), with the
    /// planner's default bits ([`crate::index::DEFAULT_BITS`]) and no
    /// normalisation.
    pub fn new<S: Into<String>>(
        name: impl Into<String>,
        fields: impl IntoIterator<Item = S>,
    ) -> Self {
        IndexSpec {
            name: name.into(),
            fields: fields.into_iter().map(Into::into).collect(),
            bits: planner::DEFAULT_BITS,
            normalize: Normalize::None,
        }
    }

    /// An index over one field, named after it.
    pub fn on_field(field: impl Into<String>) -> Self {
        let field = field.into();
        Self::new(field.clone(), [field])
    }

    /// Keeps `bits` bits of the hash (1 to 256): fewer bits, more records
    /// share a value (more false positives, filtered out on read; less
    /// leakage). See [`crate::index::plan`].
    pub fn bits(mut self, bits: u16) -> Self {
        self.bits = bits;
        self
    }

    /// The bits the planner picks for about `records` records
    /// ([`crate::index::bits_for`]).
    pub fn expected_records(self, records: u64) -> Self {
        self.bits(planner::bits_for(records))
    }

    /// Normalises values before hashing and comparing.
    pub fn normalize(mut self, normalize: Normalize) -> Self {
        self.normalize = normalize;
        self
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The fields it covers, in order.
    pub fn fields(&self) -> &[String] {
        &self.fields
    }

    /// The bits it keeps.
    pub fn bits_kept(&self) -> u16 {
        self.bits
    }

    /// Its normaliser.
    pub fn normalizer(&self) -> Normalize {
        self.normalize
    }

    /// Checks it: a name and field names of 1 to 255 bytes without control
    /// characters, at least one field, no field twice, 1 to 256 bits.
    pub fn check(&self) -> Result<()> {
        let name_ok =
            |n: &str| !n.is_empty() && n.len() <= MAX_NAME_LEN && !n.chars().any(char::is_control);
        if !name_ok(&self.name) {
            return Err(Error::InvalidInput(
                "an index name is 1 to 255 bytes without control characters",
            ));
        }
        if self.fields.is_empty()
            || self.fields.len() > 255
            || !self.fields.iter().all(|f| name_ok(f))
        {
            return Err(Error::InvalidInput(
                "an index covers 1 to 255 fields, each named by 1 to 255 bytes without control characters",
            ));
        }
        let mut seen = std::collections::BTreeSet::new();
        if !self.fields.iter().all(|f| seen.insert(f)) {
            return Err(Error::InvalidInput("an index names each field once"));
        }
        if self.bits == 0 || self.bits > MAX_BITS {
            return Err(Error::InvalidInput("an index keeps 1 to 256 bits"));
        }
        if self.normalize.id().len() > MAX_NAME_LEN {
            return Err(Error::InvalidInput("a custom normaliser id is at most 248 bytes (its stored name, custom:ID, at most 255)"));
        }
        Ok(())
    }

    /// Its stored description (FORMAT.md, "Blind indexes"): version,
    /// bits, normaliser name and fields. Part of what the record's
    /// signature covers.
    pub(crate) fn to_bytes(&self) -> Vec<u8> {
        let norm = self.normalize.id();
        let mut out = Vec::with_capacity(
            8 + norm.len() + self.fields.iter().map(|f| f.len() + 1).sum::<usize>(),
        );
        out.push(SPEC_VERSION);
        out.extend_from_slice(&self.bits.to_be_bytes());
        // Lengths were checked by `check` (at most 255 each).
        out.push(norm.len() as u8);
        out.extend_from_slice(norm.as_bytes());
        out.push(self.fields.len() as u8);
        for field in &self.fields {
            out.push(field.len() as u8);
            out.extend_from_slice(field.as_bytes());
        }
        out
    }

    /// Parses a stored description for the index `name`. A custom
    /// normaliser is taken from `declared` (the caller's own declaration
    /// of the same index) when it names the same function; otherwise it is
    /// [`Error::InvalidInput`]. Anything malformed is [`Error::Decryption`].
    pub(crate) fn from_bytes(
        name: &str,
        bytes: &[u8],
        declared: Option<&IndexSpec>,
    ) -> Result<IndexSpec> {
        let (norm_id, fields, bits) = parse_spec(bytes)?;
        let normalize = match Normalize::builtin(&norm_id) {
            Some(n) => n,
            None => match declared {
                Some(d) if d.normalize.id() == norm_id => d.normalize,
                _ => {
                    return Err(Error::InvalidInput(
                        "this index uses a custom normaliser: declare it (Client::declare_indexes or the derive) to search or re-index it",
                    ))
                }
            },
        };
        let spec = IndexSpec {
            name: name.to_owned(),
            fields,
            bits,
            normalize,
        };
        spec.check().map_err(|_| Error::Decryption)?;
        Ok(spec)
    }
}

/// The parts of a stored description: normaliser name, fields, bits.
pub(crate) fn parse_spec(bytes: &[u8]) -> Result<(String, Vec<String>, u16)> {
    let mut r = Reader::new(bytes);
    if r.u8()? != SPEC_VERSION {
        return Err(Error::Decryption);
    }
    let bits = r.u16()?;
    let norm_len = usize::from(r.u8()?);
    let norm = r.str(norm_len)?.to_owned();
    let count = usize::from(r.u8()?);
    // Each field takes at least its length byte: reserve no more than the
    // input can hold, whatever the count says.
    let mut fields = Vec::with_capacity(count.min(bytes.len()));
    for _ in 0..count {
        let len = usize::from(r.u8()?);
        fields.push(r.str(len)?.to_owned());
    }
    r.finish()?;
    Ok((norm, fields, bits))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_custom_normaliser_is_stored_by_its_name() {
        fn digits(v: &str) -> String {
            v.chars().filter(char::is_ascii_digit).collect()
        }
        let spec = IndexSpec::on_field("phone").normalize(Normalize::Custom {
            id: "norm::digits",
            apply: digits,
        });
        let bytes = spec.to_bytes();
        let (normalizer, fields, _) = parse_spec(&bytes).unwrap();
        assert_eq!(normalizer, "custom:norm::digits");
        assert_eq!(fields, ["phone"]);
        // Without the caller's declaration, it cannot be used.
        assert!(matches!(
            IndexSpec::from_bytes("phone", &bytes, None),
            Err(Error::InvalidInput(_))
        ));
        assert_eq!(
            IndexSpec::from_bytes("phone", &bytes, Some(&spec)).unwrap(),
            spec
        );
    }

    #[test]
    fn the_stored_description_round_trips_and_refuses_what_is_malformed() {
        let spec = IndexSpec::new("by_name_dob", ["last_name", "dob"])
            .bits(12)
            .normalize(Normalize::Lowercase);
        let bytes = spec.to_bytes();
        assert_eq!(
            bytes,
            [
                &[1u8, 0, 12, 9][..],
                b"lowercase",
                &[2, 9],
                b"last_name",
                &[3],
                b"dob"
            ]
            .concat()
        );
        assert_eq!(
            IndexSpec::from_bytes("by_name_dob", &bytes, None).unwrap(),
            spec
        );
        for cut in 0..bytes.len() {
            assert!(IndexSpec::from_bytes("x", &bytes[..cut], None).is_err());
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(IndexSpec::from_bytes("x", &longer, None).is_err());
    }

    #[test]
    fn a_custom_normaliser_needs_the_same_declaration() {
        fn digits(s: &str) -> String {
            s.chars().filter(char::is_ascii_digit).collect()
        }
        let spec = IndexSpec::on_field("ssn").normalize(Normalize::Custom {
            id: "digits",
            apply: digits,
        });
        let bytes = spec.to_bytes();
        assert!(matches!(
            IndexSpec::from_bytes("ssn", &bytes, None),
            Err(Error::InvalidInput(_))
        ));
        let parsed = IndexSpec::from_bytes("ssn", &bytes, Some(&spec)).unwrap();
        assert_eq!(parsed.normalizer().apply("123-45"), "12345");
    }

    #[test]
    fn checks_refuse_bad_specs() {
        assert!(IndexSpec::on_field("").check().is_err());
        assert!(IndexSpec::new("x", Vec::<String>::new()).check().is_err());
        assert!(IndexSpec::new("x", ["a", "a"]).check().is_err());
        assert!(IndexSpec::on_field("a").bits(0).check().is_err());
        assert!(IndexSpec::on_field("a").bits(257).check().is_err());
        assert!(IndexSpec::on_field("a").bits(256).check().is_ok());
    }
}
