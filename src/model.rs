//! What callers put in and get out of the store: field values, plain meta,
//! record meta and decrypted records.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::Serialize;
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::ids::{ClientId, RecordId};

/// Plain (unencrypted) meta: name → string, stored in the clear and
/// filterable.
pub type Plain = BTreeMap<String, String>;

/// Sensitive field values by name, each any serde value (kept as its JSON
/// encoding, zeroized on drop). `Debug` shows the names only.
#[derive(Default, Clone)]
pub struct Fields {
    values: BTreeMap<String, Zeroizing<Vec<u8>>>,
}

impl Fields {
    /// No fields.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) a field, encoded as JSON.
    ///
    /// Errors: [`Error::Serialization`] if the value's `Serialize` fails;
    /// [`Error::InvalidInput`] for a value whose JSON would not read back:
    /// a float that is not finite (NaN, ±∞, which JSON writes as `null`)
    /// anywhere in it (a map key too), or nesting of 128 or more arrays or objects
    /// (serde_json reads at most 127).
    ///
    /// ```
    /// # use strongroom::{Error, Fields};
    /// assert!(Fields::new().with("weight", &71.5).is_ok());
    /// assert!(matches!(Fields::new().with("weight", &f64::NAN), Err(Error::InvalidInput(_))));
    /// ```
    pub fn insert<T: Serialize + ?Sized>(
        &mut self,
        name: impl Into<String>,
        value: &T,
    ) -> Result<&mut Self> {
        let json = encode(value)?;
        self.values.insert(name.into(), json);
        Ok(self)
    }

    /// Builder form of [`Fields::insert`].
    pub fn with<T: Serialize + ?Sized>(
        mut self,
        name: impl Into<String>,
        value: &T,
    ) -> Result<Self> {
        self.insert(name, value)?;
        Ok(self)
    }

    /// Adds (or replaces) a field as [`Fields::insert`] does, its JSON
    /// followed by at least one space, up to the next multiple of `block`
    /// bytes, so that values shorter than `block` bytes all seal to the
    /// same size: an `Option`'s `None` (`null`) and a short `Some` look
    /// alike. JSON ignores the spaces: the value reads back unchanged, and
    /// a blind index over the field gives the same token as without
    /// padding. The one space always there marks the value as padded (see
    /// [`Fields::insert_keeping_padding`]).
    ///
    /// The padding hides a value's length only below `block`: a longer
    /// value still shows how many blocks it fills.
    ///
    /// Errors: those of [`Fields::insert`], and [`Error::InvalidInput`]
    /// for a `block` of 0 or over [`Fields::MAX_PAD_BLOCK`].
    ///
    /// ```
    /// # use strongroom::Fields;
    /// let unset = Fields::new().with_padded("referrer", &None::<String>, 64)?;
    /// let set = Fields::new().with_padded("referrer", &Some("Dr Who"), 64)?;
    /// // Both seal 64 bytes of JSON; read back, they are `None` and `Some("Dr Who")`.
    /// # Ok::<(), strongroom::Error>(())
    /// ```
    pub fn insert_padded<T: Serialize + ?Sized>(
        &mut self,
        name: impl Into<String>,
        value: &T,
        block: usize,
    ) -> Result<&mut Self> {
        if !(1..=Self::MAX_PAD_BLOCK).contains(&block) {
            return Err(Error::InvalidInput("a padding block is 1 to 65,536 bytes"));
        }
        let padded = pad(&encode(value)?, block)?;
        self.values.insert(name.into(), padded);
        Ok(self)
    }

    /// For `#[derive(Sensitive)]`: whether field `name` decodes into `T`,
    /// the type it was inserted from. serde's buffered content (behind
    /// `#[serde(flatten)]` and internally tagged or untagged enums) has no
    /// 128-bit integers, so such a value is written but can never be read
    /// back: refused here, before anything is written. The decoded copy is
    /// a `T`, dropped as `T` drops (not wiped unless `T` wipes itself).
    #[doc(hidden)]
    pub fn __check_reads_back<T: DeserializeOwned>(&self, name: &str) -> Result<()> {
        let Some(json) = self.values.get(name) else {
            return Err(Error::Internal("checking a field that was not inserted"));
        };
        match serde_json::from_slice::<T>(json) {
            Ok(_) => Ok(()),
            Err(_) => Err(Error::InvalidInput(
                "a sealed value does not decode into its own type, so it could never be read back (serde's buffered content, behind #[serde(flatten)] and internally tagged or untagged enums, has no 128-bit integers); nothing was written",
            )),
        }
    }

    /// Builder form of [`Fields::insert_padded`].
    pub fn with_padded<T: Serialize + ?Sized>(
        mut self,
        name: impl Into<String>,
        value: &T,
        block: usize,
    ) -> Result<Self> {
        self.insert_padded(name, value, block)?;
        Ok(self)
    }

    /// Adds or replaces field `name` as [`Fields::insert`] does, padded as
    /// the value it replaces was: when that one was padded (its JSON ends
    /// in a space, which serde_json never writes and padding always
    /// does), to the next multiple of its length, so that the new value
    /// seals to the old size whenever it fits, and the field's size shows
    /// no more than it did. A field that was not padded, or is new, is not
    /// padded.
    ///
    /// For fields from [`Record::to_fields`]: the CLI's `update` changes
    /// fields this way.
    ///
    /// ```
    /// # use strongroom::Fields;
    /// let mut fields = Fields::new().with_padded("referrer", &None::<String>, 64)?;
    /// fields.insert_keeping_padding("referrer", &Some("Dr Who"))?; // padded to 64 too
    /// # Ok::<(), strongroom::Error>(())
    /// ```
    pub fn insert_keeping_padding<T: Serialize + ?Sized>(
        &mut self,
        name: impl Into<String>,
        value: &T,
    ) -> Result<&mut Self> {
        let name = name.into();
        let old_padded_len = self
            .values
            .get(&name)
            .filter(|old| old.last() == Some(&b' '))
            .map(|old| old.len());
        match old_padded_len {
            Some(len) => {
                let padded = pad(&encode(value)?, len)?;
                self.values.insert(name, padded);
                Ok(self)
            }
            None => self.insert(name, value),
        }
    }

    /// The largest padding block [`Fields::insert_padded`] takes: 64 KiB.
    pub const MAX_PAD_BLOCK: usize = 65_536;

    /// Every entry of a JSON object becomes a field.
    pub fn from_json_object(object: &serde_json::Map<String, serde_json::Value>) -> Result<Self> {
        let mut fields = Fields::new();
        for (name, value) in object {
            fields.insert(name.clone(), value)?;
        }
        Ok(fields)
    }

    /// The number of fields.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Whether there are no fields.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// The field names, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.values.keys().map(String::as_str)
    }

    /// The JSON encodings, by name.
    pub(crate) fn encoded(&self) -> &BTreeMap<String, Zeroizing<Vec<u8>>> {
        &self.values
    }

    /// Adds a field already encoded (a value read back), unless one of
    /// that name is there.
    pub(crate) fn insert_encoded_if_absent(&mut self, name: &str, json: &Zeroizing<Vec<u8>>) {
        if !self.values.contains_key(name) {
            self.values.insert(name.to_owned(), json.clone());
        }
    }
}

/// `json` followed by at least one space, up to the next multiple of
/// `block` (not 0). Allocated once at its final size: no reallocation
/// leaves a copy of the value behind unzeroized.
fn pad(json: &[u8], block: usize) -> Result<Zeroizing<Vec<u8>>> {
    let padded_len = json
        .len()
        .checked_add(1)
        .and_then(|len| len.checked_next_multiple_of(block))
        .ok_or(Error::InvalidInput("value too large to pad"))?;
    let mut padded = Zeroizing::new(Vec::with_capacity(padded_len));
    padded.extend_from_slice(json);
    padded.resize(padded_len, b' ');
    Ok(padded)
}

/// A value's JSON encoding, checked to read back (see [`Fields::insert`]).
/// Written through [`WipingBuffer`]: no buffer outgrown on the way is
/// freed with part of the value in it.
fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Zeroizing<Vec<u8>>> {
    let mut out = WipingBuffer(Zeroizing::new(Vec::new()));
    serde_json::to_writer(&mut out, value)
        .map_err(|_| crate::value_check::encoding_failed(value))?;
    let json = out.0;
    crate::value_check::reads_back(value, &json)?;
    Ok(json)
}

/// A growing buffer that wipes what it outgrows: each time it needs more
/// room it copies its bytes into a larger allocation and zeroizes the old
/// one before freeing it (a `Vec`'s own growth would free it as it is).
struct WipingBuffer(Zeroizing<Vec<u8>>);

impl std::io::Write for WipingBuffer {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        let needed = self.0.len().saturating_add(data.len());
        if needed > self.0.capacity() {
            let mut grown =
                Vec::with_capacity(needed.max(self.0.capacity().saturating_mul(2)).max(64));
            grown.extend_from_slice(&self.0);
            // The old allocation is wiped (whole capacity) as it drops.
            self.0 = Zeroizing::new(grown);
        }
        self.0.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl fmt::Debug for Fields {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Fields")
            .field(&self.values.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// A record to write: its type, sensitive fields and plain meta. Built
/// with [`NewRecord::new`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct NewRecord {
    /// The record type.
    pub record_type: String,
    /// Sensitive fields, sealed one by one.
    pub fields: Fields,
    /// Plain meta, stored in the clear.
    pub plain: Plain,
}

impl NewRecord {
    /// A record of `record_type` with these fields and plain meta.
    pub fn new(record_type: impl Into<String>, fields: Fields, plain: Plain) -> Self {
        NewRecord {
            record_type: record_type.into(),
            fields,
            plain,
        }
    }
}

/// Everything about a stored record except its sensitive values.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecordMeta {
    /// The record's id.
    pub id: RecordId,
    /// Its version: 1 when written, +1 on each update.
    pub version: u64,
    /// The client that wrote it (and owns it).
    pub writer_id: ClientId,
    /// Its type.
    pub record_type: String,
    /// The access key version its data keys are sealed under.
    pub key_version: u32,
    /// For a file record, its body's length in bytes (the body is read
    /// with [`Client::read_file`](crate::Client::read_file)); `None` for
    /// other records.
    pub file_size: Option<u64>,
    /// Its plain meta.
    pub plain: Plain,
    /// When it was first written (UTC).
    pub created_at: DateTime<Utc>,
    /// When it was last written (UTC).
    pub updated_at: DateTime<Utc>,
}

/// A record read back: its meta and (when asked for) its decrypted fields,
/// held as JSON and zeroized on drop. `Debug` shows meta and field names.
#[derive(Clone)]
pub struct Record {
    meta: RecordMeta,
    data: Option<BTreeMap<String, Zeroizing<Vec<u8>>>>,
}

impl Record {
    pub(crate) fn new(
        meta: RecordMeta,
        data: Option<BTreeMap<String, Zeroizing<Vec<u8>>>>,
    ) -> Self {
        Record { meta, data }
    }

    /// The record's meta.
    pub fn meta(&self) -> &RecordMeta {
        &self.meta
    }

    /// The record's id.
    pub fn id(&self) -> RecordId {
        self.meta.id
    }

    /// The record's version.
    pub fn version(&self) -> u64 {
        self.meta.version
    }

    /// Whether the fields were decrypted (queries may skip that).
    pub fn has_data(&self) -> bool {
        self.data.is_some()
    }

    /// The decrypted field names, sorted (empty without data).
    pub fn field_names(&self) -> impl Iterator<Item = &str> {
        self.data.iter().flat_map(|d| d.keys().map(String::as_str))
    }

    /// Decodes field `name` into `T`. A missing field is
    /// [`Error::MissingField`]; a value of another type is
    /// [`Error::ValueType`].
    pub fn field<T: DeserializeOwned>(&self, name: &str) -> Result<T> {
        self.field_opt(name)?.ok_or_else(|| Error::MissingField {
            field: name.to_owned(),
        })
    }

    /// Decodes field `name` into `T`, or `None` if the record has no such
    /// field.
    pub fn field_opt<T: DeserializeOwned>(&self, name: &str) -> Result<Option<T>> {
        let Some(json) = self.data.as_ref().and_then(|d| d.get(name)) else {
            return Ok(None);
        };
        serde_json::from_slice(json)
            .map(Some)
            .map_err(|_| Error::ValueType {
                field: name.to_owned(),
            })
    }

    /// All decrypted fields as one JSON object of `serde_json::Value`s. An
    /// integer beyond the range of `i64` and `u64` (an `i128` or `u128`
    /// value) becomes an approximate float there, as it does in any
    /// `serde_json::Value`: read such a field with
    /// [`Record::field`]`::<u128>`, which gives it back exactly.
    pub fn data_json(&self) -> Result<serde_json::Map<String, serde_json::Value>> {
        let mut object = serde_json::Map::new();
        for name in self.field_names() {
            object.insert(name.to_owned(), self.field(name)?);
        }
        Ok(object)
    }

    /// All decrypted fields as one compact JSON object, as text (`{}`
    /// without data): each value as it was stored, on one line, so an
    /// integer beyond 64 bits (an `i128` or `u128`) is exact here, where
    /// [`Record::data_json`] gives an approximate float. A field whose
    /// stored bytes are not JSON is [`Error::ValueType`] naming it.
    ///
    /// ```no_run
    /// # fn demo(client: &strongroom::Client, id: strongroom::RecordId) -> strongroom::Result<()> {
    /// let record = client.get(id)?;
    /// println!("{}", record.data_json_text()?.as_str()); // {"big":340282366920938463463374607431768211455,"name":"Ada"}
    /// # Ok(())
    /// # }
    /// ```
    pub fn data_json_text(&self) -> Result<Zeroizing<String>> {
        let mut parts = Vec::new();
        let mut capacity = 2;
        for (name, json) in self.encoded_fields() {
            let not_json = || Error::ValueType {
                field: name.to_owned(),
            };
            let text = std::str::from_utf8(json).map_err(|_| not_json())?;
            if !crate::json_text::is_valid(text) {
                return Err(not_json());
            }
            let quoted_name = serde_json::to_string(name).map_err(|_| not_json())?;
            capacity += quoted_name.len() + text.len() + 2;
            parts.push((quoted_name, text));
        }
        // Sized once: no reallocation leaves a copy of a value unzeroized.
        let mut out = Zeroizing::new(String::with_capacity(capacity));
        out.push('{');
        for (i, (quoted_name, text)) in parts.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(quoted_name);
            out.push(':');
            crate::json_text::push_compact(text, &mut out);
        }
        out.push('}');
        Ok(out)
    }

    /// The decrypted fields as they were stored, byte for byte, to write
    /// back with changes: an update given them keeps every field it does
    /// not change as it was, its padding ([`Fields::insert_padded`]) and
    /// an `i128` or `u128` exactly, where going through
    /// [`Record::data_json`] would make that integer a float. To change a
    /// padded field without its size telling, replace it with
    /// [`Fields::insert_keeping_padding`].
    ///
    /// Errors: [`Error::InvalidInput`] for a record read without its data
    /// (a [`Query::meta_only`](crate::Query::meta_only) page): an update
    /// from its empty fields would delete every field.
    ///
    /// ```no_run
    /// # fn demo(client: &strongroom::Client, id: strongroom::RecordId) -> strongroom::Result<()> {
    /// let current = client.get(id)?;
    /// let mut fields = current.to_fields()?;
    /// fields.insert_keeping_padding("name", "Ada King")?;
    /// client.update(id, current.version(), &fields, &current.meta().plain)?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn to_fields(&self) -> Result<Fields> {
        let values = self.data.clone().ok_or(Error::InvalidInput(
            "the record was read without its data: there are no fields to write back",
        ))?;
        Ok(Fields { values })
    }

    /// The decrypted fields' JSON encodings, by name (none without data).
    pub(crate) fn encoded_fields(&self) -> impl Iterator<Item = (&str, &Zeroizing<Vec<u8>>)> {
        self.data
            .iter()
            .flat_map(|d| d.iter().map(|(name, json)| (name.as_str(), json)))
    }

    /// Drops the data, keeping the meta.
    pub fn into_meta(self) -> RecordMeta {
        self.meta
    }
}

impl fmt::Debug for Record {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Record")
            .field("meta", &self.meta)
            .field("fields", &self.field_names().collect::<Vec<_>>())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(fields: &Fields, name: &str) -> Vec<u8> {
        fields.encoded()[name].to_vec()
    }

    #[test]
    fn padding_appends_spaces_to_the_next_multiple_of_the_block() {
        for (value, block, len) in [
            (serde_json::json!(null), 16, 16),
            (serde_json::json!(null), 4, 8),
            (serde_json::json!("0123456789abc"), 16, 16),
            (serde_json::json!("0123456789abcd"), 16, 32),
            (serde_json::json!(7), 1, 2),
            (serde_json::json!({"a": [1, 2]}), 65_536, 65_536),
        ] {
            let fields = Fields::new().with_padded("v", &value, block).unwrap();
            let padded = encoded(&fields, "v");
            let bare = serde_json::to_vec(&value).unwrap();
            assert_eq!(padded.len(), len, "{value}");
            assert_eq!(&padded[..bare.len()], &bare[..], "{value}");
            assert!(padded.len() > bare.len(), "at least one space: {value}");
            assert!(padded[bare.len()..].iter().all(|&b| b == b' '), "{value}");
            let read: serde_json::Value = serde_json::from_slice(&padded).unwrap();
            assert_eq!(read, value);
        }
    }

    fn record_holding(values: &[(&str, &[u8])]) -> Record {
        let meta = RecordMeta {
            id: RecordId::random(),
            version: 1,
            writer_id: ClientId::random(),
            record_type: "t".into(),
            key_version: 1,
            file_size: None,
            plain: Plain::new(),
            created_at: Utc::now(),
            updated_at: Utc::now(),
        };
        let data = values
            .iter()
            .map(|(name, json)| ((*name).to_owned(), Zeroizing::new(json.to_vec())))
            .collect();
        Record::new(meta, Some(data))
    }

    #[test]
    fn data_json_text_gives_each_value_as_stored_on_one_line() {
        let big = u128::MAX.to_string();
        let fields = Fields::new()
            .with("big", &u128::MAX)
            .unwrap()
            .with_padded("none", &None::<u8>, 64)
            .unwrap()
            .with("quote\"d\nname", "v")
            .unwrap();
        let record = Record::new(
            record_holding(&[]).into_meta(),
            Some(fields.encoded().clone()),
        );
        let text = record.data_json_text().unwrap();
        assert_eq!(
            text.as_str(),
            format!("{{\"big\":{big},\"none\":null,\"quote\\\"d\\nname\":\"v\"}}")
        );
        // It reads as one JSON object of the three fields.
        let read: serde_json::Map<String, serde_json::Value> = serde_json::from_str(&text).unwrap();
        assert_eq!(read.len(), 3);
        // Whitespace a hazmat writer left inside a value goes; strings keep theirs.
        let spaced = record_holding(&[("v", b" [ 1 ,\n \" a\\tb \" ]\r\n")]);
        assert_eq!(
            spaced.data_json_text().unwrap().as_str(),
            "{\"v\":[1,\" a\\tb \"]}"
        );
        assert_eq!(record_holding(&[]).data_json_text().unwrap().as_str(), "{}");
        let no_data = Record::new(record_holding(&[]).into_meta(), None);
        assert_eq!(no_data.data_json_text().unwrap().as_str(), "{}");
    }

    #[test]
    fn data_json_text_names_a_field_that_is_not_json() {
        for bad in [&b"{"[..], b"\xff", b"1 2", b"\"a\nb\""] {
            let record = record_holding(&[("good", b"1"), ("bad", bad)]);
            assert!(
                matches!(record.data_json_text(), Err(Error::ValueType { field }) if field == "bad"),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn a_value_replaced_keeping_padding_seals_to_the_old_size_when_it_fits() {
        let mut fields = Fields::new()
            .with_padded("padded", &None::<String>, 64)
            .unwrap()
            .with("bare", &None::<String>)
            .unwrap()
            .with_padded("large", &"x".repeat(69_990), 10_000)
            .unwrap();
        fields.insert_keeping_padding("padded", "Dr Who").unwrap();
        assert_eq!(encoded(&fields, "padded").len(), 64);
        // JSON of exactly 64 bytes: one more block, still marked padded.
        fields
            .insert_keeping_padding("padded", &"y".repeat(62))
            .unwrap();
        assert_eq!(encoded(&fields, "padded").len(), 128);
        fields.insert_keeping_padding("padded", "Dr Who").unwrap();
        assert_eq!(encoded(&fields, "padded").len(), 128);
        fields.insert_keeping_padding("bare", "Dr Who").unwrap();
        assert_eq!(encoded(&fields, "bare"), b"\"Dr Who\"");
        fields.insert_keeping_padding("new", "Dr Who").unwrap();
        assert_eq!(encoded(&fields, "new"), b"\"Dr Who\"");
        // Over 64 KiB too, the old size is kept.
        assert_eq!(encoded(&fields, "large").len(), 70_000);
        fields.insert_keeping_padding("large", "short").unwrap();
        assert_eq!(encoded(&fields, "large").len(), 70_000);
        let read: String = serde_json::from_slice(&encoded(&fields, "large")).unwrap();
        assert_eq!(read, "short");
        // A block of 4 that `null` fills: still marked, still kept.
        let mut fields = Fields::new().with_padded("r", &None::<u8>, 4).unwrap();
        fields.insert_keeping_padding("r", &1u8).unwrap();
        assert_eq!(encoded(&fields, "r"), b"1       ");
    }

    #[test]
    fn to_fields_of_a_record_read_without_data_is_refused() {
        let record = Record::new(record_holding(&[]).into_meta(), None);
        assert!(matches!(record.to_fields(), Err(Error::InvalidInput(_))));
        let record = record_holding(&[("a", b"1  ")]);
        assert_eq!(encoded(&record.to_fields().unwrap(), "a"), b"1  ");
    }

    #[test]
    fn a_padding_block_out_of_range_or_a_bad_value_is_refused() {
        for block in [0, Fields::MAX_PAD_BLOCK + 1, usize::MAX] {
            assert!(matches!(
                Fields::new().with_padded("v", &1, block),
                Err(Error::InvalidInput("a padding block is 1 to 65,536 bytes"))
            ));
        }
        assert!(matches!(
            Fields::new().with_padded("v", &f64::NAN, 16),
            Err(Error::InvalidInput(_))
        ));
        // A refused insert leaves the fields as they were.
        let mut fields = Fields::new().with_padded("v", &1, 16).unwrap();
        assert!(fields.insert_padded("v", &2, 0).is_err());
        assert_eq!(encoded(&fields, "v").len(), 16);
        assert_eq!(encoded(&fields, "v")[0], b'1');
    }
}
