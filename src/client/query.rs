//! Queries over records: filters, ordering, keyset pagination with an
//! opaque cursor, and the page of results.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::format::b64;
use crate::ids::{ClientId, RecordId};
use crate::model::Record;
use crate::store::rows::KeysetId;

/// The largest page a query returns.
pub const MAX_PAGE_SIZE: usize = 1000;
/// The most plain meta filters ([`Query::plain_eq`]) one query holds.
pub const MAX_PLAIN_FILTERS: usize = 64;
/// The most writers ([`Query::writers`]) one query names: each is a bound
/// value, and SQLite takes at most 32,766 in one statement.
pub const MAX_QUERY_WRITERS: usize = 10_000;
const CURSOR_PREFIX: &str = "c2.";

/// Result order. Ties are broken by record id, so pages never overlap.
///
/// A walk page by page (with [`Page::next`] or [`Client::query_pages`](crate::Client::query_pages))
/// while records are written: by creation time, every record that exists
/// for the whole walk comes once, in order; by last write
/// ([`Order::UpdatedAsc`], [`Order::UpdatedDesc`]), a record updated during
/// the walk moves in that order, so it may come again (at its new version)
/// or not at all. Use a creation order for a complete walk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Order {
    /// Oldest first (by creation time).
    #[default]
    CreatedAsc,
    /// Newest first (by creation time).
    CreatedDesc,
    /// Least recently written first.
    UpdatedAsc,
    /// Most recently written first.
    UpdatedDesc,
}

impl Order {
    pub(crate) fn by_created(self) -> bool {
        matches!(self, Order::CreatedAsc | Order::CreatedDesc)
    }

    pub(crate) fn ascending(self) -> bool {
        matches!(self, Order::CreatedAsc | Order::UpdatedAsc)
    }
}

/// Where the next page starts: opaque text, valid only for a query with
/// the same order.
#[derive(Clone, PartialEq, Eq)]
pub struct Cursor(String);

#[derive(Serialize, Deserialize)]
struct CursorBody {
    o: Order,
    t: i64,
    /// The record id's stored bytes, unpadded base64url (16 bytes for
    /// every id strongroom writes; a page may end on a malformed row).
    id: String,
    /// Whether SQLite stored that id as text (a malformed row).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    x: bool,
}

impl Cursor {
    /// The cursor after the row at (`timestamp`, `record_id`), both as
    /// stored: the id is any bytes, so a page can end on a malformed row.
    pub(crate) fn new(order: Order, timestamp: i64, record_id: &KeysetId) -> Self {
        let body = CursorBody {
            o: order,
            t: timestamp,
            id: b64::encode(&record_id.bytes),
            x: record_id.text,
        };
        let json = serde_json::to_vec(&body).unwrap_or_default();
        Cursor(format!("{CURSOR_PREFIX}{}", b64::encode(&json)))
    }

    /// Parses a cursor's text (as given to a caller before).
    pub fn parse(text: &str) -> Result<Self> {
        Self::decode(text)?;
        Ok(Cursor(text.to_owned()))
    }

    pub(crate) fn decode_for(&self, order: Order) -> Result<(i64, KeysetId)> {
        let body = Self::decode(&self.0)?;
        if body.o != order {
            return Err(Error::InvalidInput(
                "the cursor belongs to a query with another order",
            ));
        }
        let id = KeysetId {
            bytes: b64::decode(&body.id)
                .map_err(|_| Error::InvalidInput("malformed query cursor"))?,
            text: body.x,
        };
        Ok((body.t, id))
    }

    /// The cursor's body. Its id is not checked to be a record id: a page
    /// may end on a row whose stored id is malformed, and the next page
    /// must still start after it.
    fn decode(text: &str) -> Result<CursorBody> {
        const BAD: Error = Error::InvalidInput("malformed query cursor");
        let encoded = text.strip_prefix(CURSOR_PREFIX).ok_or(BAD)?;
        let json = b64::decode(encoded).map_err(|_| BAD)?;
        let body: CursorBody = serde_json::from_slice(&json).map_err(|_| BAD)?;
        b64::decode(&body.id).map_err(|_| BAD)?;
        Ok(body)
    }

    /// The cursor's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Cursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Cursor({})", self.0)
    }
}

impl std::fmt::Display for Cursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A query: which records, in which order, how many, with or without
/// decrypting them. Built with chained methods.
///
/// By default: this client's own records of every type, oldest first, 100
/// per page, decrypted.
#[derive(Debug, Clone)]
pub struct Query {
    pub(crate) record_type: Option<String>,
    pub(crate) writers: Option<Vec<ClientId>>,
    pub(crate) shared: bool,
    pub(crate) plain: Vec<(String, String)>,
    pub(crate) created_from: Option<i64>,
    pub(crate) created_before: Option<i64>,
    pub(crate) updated_from: Option<i64>,
    pub(crate) updated_before: Option<i64>,
    pub(crate) order: Order,
    pub(crate) limit: usize,
    pub(crate) after: Option<Cursor>,
    pub(crate) with_data: bool,
    pub(crate) index: Option<crate::index::IndexQuery>,
    /// Set by a second [`Query::index_eq`]: refused by the check (a query
    /// uses one index condition), never silently replaced.
    pub(crate) second_index: bool,
}

impl Default for Query {
    fn default() -> Self {
        Query {
            record_type: None,
            writers: None,
            shared: false,
            plain: Vec::new(),
            created_from: None,
            created_before: None,
            updated_from: None,
            updated_before: None,
            order: Order::default(),
            limit: 100,
            after: None,
            with_data: true,
            index: None,
            second_index: false,
        }
    }
}

impl Query {
    /// This client's records of every type.
    pub fn new() -> Self {
        Self::default()
    }

    /// Only records of this type.
    pub fn record_type(mut self, record_type: impl Into<String>) -> Self {
        self.record_type = Some(record_type.into());
        self
    }

    /// Also the records of every writer that shares the record type with
    /// this client (a record whose key this client cannot obtain is
    /// reported in [`Page::skipped`], not an error).
    pub fn shared(mut self) -> Self {
        self.shared = true;
        self
    }

    /// Only records by these writers (default: this client only; with
    /// [`Query::shared`], this client and everyone sharing with it). More
    /// than [`MAX_QUERY_WRITERS`](crate::MAX_QUERY_WRITERS) writers make
    /// the query [`Error::InvalidInput`].
    pub fn writers(mut self, writers: impl IntoIterator<Item = ClientId>) -> Self {
        self.writers = Some(writers.into_iter().collect());
        self
    }

    /// Only records whose plain meta `name` equals `value` (repeatable: all
    /// must hold; the same filter twice counts once). A name or value no
    /// write accepts (an empty name, one over 255 bytes or with control
    /// characters, a value over 64 KiB), or more than
    /// [`MAX_PLAIN_FILTERS`](crate::MAX_PLAIN_FILTERS) filters, makes the
    /// query [`Error::InvalidInput`].
    pub fn plain_eq(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        let pair = (name.into(), value.into());
        // The same filter twice is one filter.
        if !self.plain.contains(&pair) {
            self.plain.push(pair);
        }
        self
    }

    /// Only records created at or after `from` and before `before`.
    /// Stored times are whole microseconds; the bounds are compared at
    /// their full precision (a bound between two microseconds falls
    /// between them).
    pub fn created_between(
        mut self,
        from: Option<DateTime<Utc>>,
        before: Option<DateTime<Utc>>,
    ) -> Self {
        self.created_from = from.map(first_micros_at_or_after);
        self.created_before = before.map(first_micros_at_or_after);
        self
    }

    /// Only records last written at or after `from` and before `before`,
    /// compared as [`Query::created_between`] compares.
    pub fn updated_between(
        mut self,
        from: Option<DateTime<Utc>>,
        before: Option<DateTime<Utc>>,
    ) -> Self {
        self.updated_from = from.map(first_micros_at_or_after);
        self.updated_before = before.map(first_micros_at_or_after);
        self
    }

    /// Result order.
    pub fn order(mut self, order: Order) -> Self {
        self.order = order;
        self
    }

    /// Page size, 1 to [`MAX_PAGE_SIZE`].
    pub fn limit(mut self, limit: usize) -> Self {
        self.limit = limit;
        self
    }

    /// Continue after the page that returned `cursor`.
    pub fn after(mut self, cursor: Cursor) -> Self {
        self.after = Some(cursor);
        self
    }

    /// Return meta only: the fields are not decrypted (signatures are still
    /// verified). By default a query decrypts every field. Meta needs no
    /// key: a record whose signature verifies is listed even when this
    /// client holds no key of its version (a query that decrypts skips it
    /// as [`SkipReason::NoAccess`]).
    pub fn meta_only(mut self) -> Self {
        self.with_data = false;
        self
    }

    /// Only records whose values of a blind index's fields equal these
    /// (see [`crate::index`]); needs [`Query::record_type`]. Candidates
    /// the index finds are verified, decrypted and compared before they
    /// are returned: those that do not match are counted in
    /// [`Page::discarded`]. A page may therefore hold fewer records than
    /// the limit while more follow ([`Page::next`] says). A query uses
    /// one index condition: a second one makes the query fail with
    /// [`Error::InvalidInput`].
    pub fn index_eq(mut self, condition: crate::index::IndexQuery) -> Self {
        if self.index.is_some() {
            self.second_index = true;
        }
        self.index = Some(condition);
        self
    }

    pub(crate) fn check(&self) -> Result<()> {
        if self.limit == 0 || self.limit > MAX_PAGE_SIZE {
            return Err(Error::InvalidInput("a page holds 1 to 1000 records"));
        }
        // A type no write accepts is refused here too, before it reaches
        // the database (PostgreSQL's text cannot hold a NUL).
        if let Some(record_type) = &self.record_type {
            super::validate::record_type(record_type)?;
        }
        super::validate::plain_filter(&self.plain)?;
        if self
            .writers
            .as_ref()
            .is_some_and(|w| w.len() > MAX_QUERY_WRITERS)
        {
            return Err(Error::InvalidInput("a query names at most 10,000 writers"));
        }
        if self.second_index {
            return Err(Error::InvalidInput("a query uses one index condition"));
        }
        if let Some(index) = &self.index {
            index.check()?;
            if self.record_type.is_none() {
                return Err(Error::InvalidInput(
                    "an index condition needs the query's record type",
                ));
            }
        }
        if let Some(cursor) = &self.after {
            cursor.decode_for(self.order)?;
        }
        Ok(())
    }
}

/// Why a record was left out of a page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SkipReason {
    /// This client holds no access key for the record's type and key
    /// version (not shared with it, or revoked).
    NoAccess,
    /// The writer (or the client that shared the access key on the
    /// writer's behalf) is not registered, or is not verified while the
    /// profile trusts only verified peers. (A registered writer whose keys
    /// differ from the pinned ones fails the whole query with
    /// [`Error::KeyChanged`](crate::Error::KeyChanged) instead.)
    UnknownWriter,
    /// The stored record failed verification or decryption (tampered or
    /// malformed).
    Invalid,
    /// Typed queries only: the record verified and decrypted, but does not
    /// fit the model (a field missing or holding a value of another type),
    /// for example a record written through the key-value API or by
    /// another version of the model.
    DoesNotFit,
}

/// A record a query matched but could not return.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Skipped {
    /// The record's id (`None` if the stored id itself is malformed).
    pub record_id: Option<RecordId>,
    /// Its writer, if the stored id parses.
    pub writer_id: Option<ClientId>,
    /// Why it was left out.
    pub reason: SkipReason,
}

/// One page of query results.
#[derive(Debug)]
#[non_exhaustive]
pub struct Page {
    /// The records, verified (and decrypted when asked).
    pub records: Vec<Record>,
    /// Matches that could not be returned, and why. One missing share or
    /// one bad record never fails the whole query.
    pub skipped: Vec<Skipped>,
    /// Where the next page starts; `None` on the last page.
    pub next: Option<Cursor>,
    /// Candidates an index condition found that were verified and
    /// decrypted but whose values did not match (a truncated index's false
    /// positives, or rows the database made up); never returned.
    pub discarded: usize,
}

/// The first whole microsecond at or after `t`, as stored times count
/// (microseconds since the Unix epoch): a stored time `c` is at or after
/// `t` exactly when `c >= first_micros_at_or_after(t)`, and before `t`
/// exactly when `c < first_micros_at_or_after(t)`.
fn first_micros_at_or_after(t: DateTime<Utc>) -> i64 {
    // A leap second (sub-second part past 1e9) is after every instant of
    // its second: stored times count it as the next second's start.
    if t.timestamp_subsec_nanos() >= 1_000_000_000 {
        return t.timestamp().saturating_add(1).saturating_mul(1_000_000);
    }
    // `timestamp_micros` rounds toward the past (its sub-second part is
    // never negative); a part of a microsecond left over moves it on.
    let floor = t.timestamp_micros();
    if t.timestamp_subsec_nanos().is_multiple_of(1_000) {
        floor
    } else {
        floor.saturating_add(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{NaiveDate, TimeZone};

    fn at(secs: i64, nanos: u32) -> DateTime<Utc> {
        Utc.timestamp_opt(secs, nanos).single().unwrap()
    }

    #[test]
    fn a_bound_is_the_first_stored_microsecond_at_or_after_it() {
        assert_eq!(first_micros_at_or_after(at(10, 0)), 10_000_000);
        assert_eq!(first_micros_at_or_after(at(10, 1_000)), 10_000_001);
        assert_eq!(first_micros_at_or_after(at(10, 1)), 10_000_001);
        assert_eq!(first_micros_at_or_after(at(10, 999_999_999)), 11_000_000);
        // Before 1970: toward the future as well.
        assert_eq!(first_micros_at_or_after(at(-1, 999_999_500)), 0);
        assert_eq!(first_micros_at_or_after(at(-1, 999_998_500)), -1);
        // A leap second is after every instant of its second and before
        // the next second's start.
        let leap = NaiveDate::from_ymd_opt(2016, 12, 31)
            .unwrap()
            .and_hms_nano_opt(23, 59, 59, 1_500_000_000)
            .unwrap()
            .and_utc();
        let next = NaiveDate::from_ymd_opt(2017, 1, 1)
            .unwrap()
            .and_hms_opt(0, 0, 0)
            .unwrap()
            .and_utc();
        assert!(leap < next);
        assert_eq!(first_micros_at_or_after(leap), next.timestamp_micros());
        // The extremes do not overflow.
        assert_eq!(
            first_micros_at_or_after(DateTime::<Utc>::MAX_UTC),
            DateTime::<Utc>::MAX_UTC.timestamp_micros() + 1
        );
        first_micros_at_or_after(DateTime::<Utc>::MIN_UTC);
    }
}
