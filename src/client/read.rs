//! Reading: get one record, query many. Every record is verified (against
//! its batch signature, see [`super::verify`]) before anything in it is
//! decrypted.

use std::collections::HashMap;
use std::sync::Arc;

use rayon::prelude::*;
use tracing::field::{display, Empty};
use tracing::Span;

use super::access::KeyUnavailable;
use super::observe::op_span;
use super::query::{Cursor, Order, Page, Query, SkipReason, Skipped};
use super::search::IndexCondition;
use super::verify::{Check, Checks, Claim};
use super::Client;
use crate::crypto::keys::AccessKey;
use crate::error::{Error, Result};
use crate::ids::{ClientId, RecordId};
use crate::model::Record;
use crate::record::SealedRecord;
use crate::store::records::{self, Selection, Writers};
use crate::store::rows::{
    record_meta, KeysetId, RecordRow, RecordTimes, RowHead, StoredRecord, TimeClass, Unreadable,
};
use crate::store::tx::read_transaction;
use crate::store::{AnyConnection, Backend};

/// The span of a query operation: what it asks for (never a plain meta
/// value it filters on), with `records` and `skipped` to record.
macro_rules! query_span {
    ($client:expr, $name:literal, $query:expr $(, $($field:tt)+)?) => {
        op_span!(
            $client,
            $name,
            record_type = $query.record_type.as_deref(),
            shared = $query.shared,
            plain_filters = $query.plain.len(),
            limit = $query.limit,
            with_data = $query.with_data,
            records = Empty,
            skipped = Empty
            $(, $($field)+)?
        )
    };
}

/// Below this many records a page is opened on the calling thread.
const PARALLEL_THRESHOLD: usize = 128;

/// A page as fetched in its read transaction: the rows to open, the rows
/// already skipped, and where the next page starts.
struct FetchedPage {
    pending: Vec<Pending>,
    skipped: Vec<Skipped>,
    next: Option<Cursor>,
}

/// A fetched row with what it needs to be parsed, checked and opened.
struct Pending {
    row: RecordRow,
    /// The row's head, read once.
    head: RowHead,
    check: Check,
    key: Option<Arc<AccessKey>>,
}

impl Client {
    /// Reads, verifies and decrypts one record.
    ///
    /// Errors: [`Error::NotFound`] if there is no such record,
    /// [`Error::AccessDenied`] if this client holds no key for it,
    /// [`Error::Decryption`] if it fails verification or its stored row is
    /// malformed (a column NULL, not UTF-8 or out of range; a row edited to
    /// name a type or key version this client holds no key for is this
    /// error too, not `AccessDenied`). A record whose writer, or the client
    /// that shared its key on the writer's behalf, this client cannot
    /// trust is [`Error::UnknownClient`] (not registered) or
    /// [`Error::PeerNotVerified`] (the profile trusts only verified
    /// peers); one whose pinned keys the database no longer serves is
    /// [`Error::KeyChanged`]. A query skips such records instead (see
    /// [`SkipReason`]), except `KeyChanged`, which fails it.
    pub fn get(&self, id: RecordId) -> Result<Record> {
        let span = op_span!(
            self,
            "get",
            record_id = %id,
            record_type = Empty,
            writer_id = Empty,
            fields = Empty
        );
        self.observe(span, |span| {
            let mut conn = self.store.conn()?;
            let record = read_transaction(&mut conn, |conn| self.get_in(conn, id))?;
            self.tally.read(1);
            let meta = record.meta();
            span.record("record_type", meta.record_type.as_str());
            span.record("writer_id", display(meta.writer_id));
            span.record("fields", record.field_names().count());
            Ok(record)
        })
    }

    fn get_in(&self, conn: &mut AnyConnection, id: RecordId) -> Result<Record> {
        let (sealed, times, check, key) = self.find_readable(conn, id)?;
        self.open(sealed, times, &check, Some(&key))
    }

    /// Record `id` parsed, with the check that vouches for it (not yet
    /// run) and its access key: everything [`Client::get`] needs before it
    /// verifies and decrypts. Errors as [`Client::get`].
    pub(super) fn find_readable(
        &self,
        conn: &mut AnyConnection,
        id: RecordId,
    ) -> Result<(SealedRecord, RecordTimes, Check, Arc<AccessKey>)> {
        let stored = records::find(conn, id)?;
        let row = stored
            .ok_or(Error::NotFound { record_id: id })?
            .parse()
            .map_err(|_| Error::Decryption)?;
        let sealed = row.to_sealed()?;
        let times = row.times()?;
        if sealed.record_id != id {
            return Err(Error::Decryption);
        }
        let check = self.record_check(conn, &sealed)?;
        let key = match self.access_key(
            conn,
            sealed.writer_id,
            &sealed.record_type,
            sealed.key_version,
        ) {
            Ok(key) => key,
            Err(unavailable) => {
                // Checked first: a row edited to name another type or key
                // version fails its writer's signature, and is tampering,
                // not a missing share.
                self.run_check(&sealed, &check)?;
                return Err(match unavailable {
                    KeyUnavailable::NotShared => Error::AccessDenied {
                        record_id: id,
                        reason: "no access key for this record type is shared with this client",
                    },
                    KeyUnavailable::UntrustedWrapper(err) | KeyUnavailable::Failed(err) => err,
                });
            }
        };
        Ok((sealed, times, check, key))
    }

    /// Runs a query and returns one page, each record verified (and
    /// decrypted unless the query says otherwise). Records this client
    /// cannot read are listed in [`Page::skipped`], not errors.
    pub fn query(&self, query: &Query) -> Result<Page> {
        self.observe(query_span!(self, "query", query), |span| {
            query.check()?;
            let mut conn = self.store.conn()?;
            let fetched = read_transaction(&mut conn, |conn| self.fetch_page(conn, query))?;
            let page = self.open_page(query, fetched);
            record_page(span, &page);
            Ok(page)
        })
    }

    /// Runs `query` to its last page, handing each page to `each` in
    /// order: what calling [`Client::query`] with each page's
    /// [`Page::next`] gives, but while one page is verified and decrypted
    /// the next is fetched, on a second connection of the pool (pages
    /// follow one another, as with `query`, when the pool has no second
    /// connection free). Each page is read in a snapshot of its own, as
    /// with `query`; the next page is read before `each` has the current
    /// one (ahead of it, or just before it on a pool of one), so what
    /// `each` changes shows in the page after next, not in the next. No
    /// connection is held while `each` runs, so `each` may use the store
    /// too, on a pool of one as well. Stops at the first error, the
    /// store's or `each`'s.
    ///
    /// ```
    /// # use strongroom::{Client, Fields, Plain, Query, Store};
    /// # let dir = tempfile::tempdir()?;
    /// # let store = Store::open_or_create(&format!("sqlite://{}", dir.path().join("db").display()))?;
    /// # let alice = Client::open_or_create(dir.path().join("alice.profile"), &store)?;
    /// # for n in 0..5 {
    /// #     alice.put("note", &Fields::new().with("n", &n)?, &Plain::new())?;
    /// # }
    /// let mut seen = 0;
    /// alice.query_pages(&Query::new().record_type("note").limit(2), |page| {
    ///     seen += page.records.len();
    ///     Ok(())
    /// })?;
    /// assert_eq!(seen, 5);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn query_pages(
        &self,
        query: &Query,
        mut each: impl FnMut(Page) -> Result<()>,
    ) -> Result<()> {
        self.observe(query_span!(self, "query_pages", query, pages = 0), |span| {
            let (mut pages, mut records, mut skipped) = (0usize, 0usize, 0usize);
            let outcome = self.query_pages_in(query, |page| {
                pages += 1;
                records += page.records.len();
                skipped += page.skipped.len();
                each(page)
            });
            span.record("pages", pages);
            span.record("records", records);
            span.record("skipped", skipped);
            outcome
        })
    }

    fn query_pages_in(
        &self,
        query: &Query,
        mut each: impl FnMut(Page) -> Result<()>,
    ) -> Result<()> {
        query.check()?;
        // Every connection goes back to the pool before `each` runs, which
        // may use the store itself (on a pool of one as well).
        let fetch = |query: &Query| {
            let mut conn = self.store.conn()?;
            read_transaction(&mut conn, |conn| self.fetch_page(conn, query))
        };
        let mut fetched = fetch(query)?;
        // A second connection fetches the next page while this one is
        // opened; once none comes, the pages follow one another.
        let mut overlap = true;
        loop {
            let next = fetched
                .next
                .clone()
                .map(|cursor| query.clone().after(cursor));
            let ahead = match &next {
                Some(_) if overlap => self.store.spare_conn(),
                _ => None,
            };
            overlap = ahead.is_some();
            let (page, prefetched) = match (&next, ahead) {
                (Some(next), Some(mut ahead)) => std::thread::scope(|scope| {
                    let prefetch = scope.spawn(move || {
                        read_transaction(&mut ahead, |conn| self.fetch_page(conn, next))
                    });
                    let page = self.open_page(query, fetched);
                    let prefetched = prefetch
                        .join()
                        .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
                    (page, Some(prefetched))
                }),
                (Some(next), None) => {
                    let page = self.open_page(query, fetched);
                    (page, Some(fetch(next)))
                }
                (None, _) => (self.open_page(query, fetched), None),
            };
            each(page)?;
            match prefetched {
                Some(prefetched) => fetched = prefetched?,
                None => return Ok(()),
            }
        }
    }

    /// Inside a read transaction: the page's rows, with everything that
    /// needs the database resolved (writers' keys, batches, access keys),
    /// so that opening it ([`Client::open_page`]) needs none.
    fn fetch_page(&self, conn: &mut AnyConnection, query: &Query) -> Result<FetchedPage> {
        let lookup = match &query.index {
            Some(condition) => {
                let values = self.index_lookup_values(conn, query, condition)?;
                if values.is_empty() {
                    // No live index version this client can compute a
                    // value under: nothing can match.
                    return Ok(FetchedPage {
                        pending: Vec::new(),
                        skipped: Vec::new(),
                        next: None,
                    });
                }
                Some(values)
            }
            None => None,
        };
        let mut rows = self.select_rows(conn, query, lookup.as_deref())?;
        let mut next = if rows.len() > query.limit {
            rows.truncate(query.limit);
            rows.last()
                .and_then(|row| page_end(row, query.order, self.store.backend()))
        } else {
            None
        };
        // Whatever the rows hold, the keyset only moves forward: a page
        // that would start where this one did, or earlier, is never asked
        // for (it could only repeat pages).
        if let (Some(after), Some(end)) = (&query.after, &next) {
            let (t0, id0) = after.decode_for(query.order)?;
            let (t1, id1) = end.decode_for(query.order)?;
            let later = if query.order.ascending() {
                t1 > t0
            } else {
                t1 < t0
            };
            let forward = later || (t1 == t0 && id1 != id0);
            if !forward {
                tracing::warn!("a page ended where it began (malformed rows); ending the query");
                next = None;
            }
        }
        let (pending, skipped) =
            self.prepare_rows(conn, rows, query.with_data || query.index.is_some())?;
        Ok(FetchedPage {
            pending,
            skipped,
            next,
        })
    }

    /// Verifies and opens a fetched page (no database work).
    fn open_page(&self, query: &Query, fetched: FetchedPage) -> Page {
        let FetchedPage {
            pending,
            mut skipped,
            next,
        } = fetched;
        let condition = query.index.as_ref().map(|condition| IndexCondition {
            declared: query
                .record_type
                .as_deref()
                .and_then(|t| self.declared_index(t, &condition.name)),
            condition,
        });
        let (mut records, discarded) =
            self.open_pending(pending, &mut skipped, condition.as_ref(), query.with_data);
        // The index is only a hint from an untrusted database: keep the
        // records whose verified plain meta really matches.
        records.retain(|r| {
            query
                .plain
                .iter()
                .all(|(n, v)| r.meta().plain.get(n) == Some(v))
        });
        self.tally.read(records.len());
        self.tally.skipped(skipped.len());
        if !skipped.is_empty() {
            tracing::warn!(
                skipped = skipped.len(),
                returned = records.len(),
                "query skipped records"
            );
        }
        if discarded > 0 {
            tracing::debug!(discarded, "index candidates did not match");
        }
        Page {
            records,
            skipped,
            next,
            discarded,
        }
    }

    fn select_rows(
        &self,
        conn: &mut AnyConnection,
        query: &Query,
        lookup: Option<&[Vec<u8>]>,
    ) -> Result<Vec<StoredRecord>> {
        let writers = match (&query.writers, query.shared) {
            (Some(writers), _) => Writers::These(writers),
            (None, false) => Writers::Own(self.id()),
            (None, true) => Writers::OwnAndShared(self.id()),
        };
        let after = query
            .after
            .as_ref()
            .map(|c| c.decode_for(query.order))
            .transpose()?;
        records::select(
            conn,
            Selection {
                writers,
                record_type: query.record_type.as_deref(),
                plain: &query.plain,
                index: match (&query.index, lookup) {
                    (Some(condition), Some(values)) => Some((condition.name.as_str(), values)),
                    _ => None,
                },
                created_from: query.created_from,
                created_before: query.created_before,
                updated_from: query.updated_from,
                updated_before: query.updated_before,
                by_created: query.order.by_created(),
                ascending: query.order.ascending(),
                after,
                limit: i64::try_from(query.limit + 1).unwrap_or(i64::MAX),
            },
        )
    }

    /// Verifies, then (when a key is given) decrypts.
    fn open(
        &self,
        sealed: SealedRecord,
        times: RecordTimes,
        check: &Check,
        key: Option<&AccessKey>,
    ) -> Result<Record> {
        self.run_check(&sealed, check)?;
        let data = match key {
            None => None,
            Some(key) => Some(crate::record::open_verified(&sealed, key)?),
        };
        Ok(Record::new(record_meta(sealed, times), data))
    }

    /// Resolves writers, batches and keys (once each) from the rows'
    /// heads; what is left to do (parse, verify, decrypt) needs no
    /// database.
    fn prepare_rows(
        &self,
        conn: &mut AnyConnection,
        rows: Vec<StoredRecord>,
        with_data: bool,
    ) -> Result<(Vec<Pending>, Vec<Skipped>)> {
        let mut skipped = Vec::new();
        let mut heads = Vec::with_capacity(rows.len());
        // A record the page holds twice (rows copied where the database's
        // keys were dropped) is returned once.
        let mut seen = std::collections::HashSet::with_capacity(rows.len());
        for stored in rows {
            let parsed = stored.parse().and_then(|row| match row.head() {
                Ok(head) => Ok((row, head)),
                Err(_) => Err(Unreadable {
                    record_id: Some(row.id()),
                    writer_id: Some(row.writer()),
                }),
            });
            match parsed {
                Ok(parsed) if !seen.insert(parsed.1.record_id) => {
                    tracing::warn!(record_id = %parsed.1.record_id, "a page held a record twice; returning it once");
                }
                Ok(parsed) => heads.push(parsed),
                Err(bad) => {
                    tracing::warn!(record_id = %super::observe::shown(bad.record_id), "a stored record row is malformed");
                    skipped.push(Skipped {
                        record_id: bad.record_id,
                        writer_id: bad.writer_id,
                        reason: SkipReason::Invalid,
                    });
                }
            }
        }
        let mut checks = Checks::default();
        checks.load(
            self,
            conn,
            &heads
                .iter()
                .map(|(_, head)| Claim::from(*head))
                .collect::<Vec<_>>(),
        )?;
        let mut keys: HashMap<
            (ClientId, String, u32),
            std::result::Result<Arc<AccessKey>, SkipReason>,
        > = HashMap::new();
        let mut pending = Vec::with_capacity(heads.len());
        for (row, head) in heads {
            let skip = |reason| Skipped {
                record_id: Some(head.record_id),
                writer_id: Some(head.writer_id),
                reason,
            };
            let check = match checks.check_for(self, conn, Claim::from(head))? {
                Ok(check) => check,
                Err(reason) => {
                    skipped.push(skip(reason));
                    continue;
                }
            };
            let key = if with_data {
                let id = (head.writer_id, row.record_type.clone(), head.key_version);
                let key = match keys.get(&id) {
                    Some(key) => key.clone(),
                    None => {
                        let key = match self.access_key(conn, id.0, &id.1, id.2) {
                            Ok(key) => Ok(key),
                            Err(KeyUnavailable::NotShared) => Err(SkipReason::NoAccess),
                            Err(KeyUnavailable::UntrustedWrapper(_)) => {
                                Err(SkipReason::UnknownWriter)
                            }
                            Err(KeyUnavailable::Failed(Error::Decryption)) => {
                                Err(SkipReason::NoAccess)
                            }
                            Err(KeyUnavailable::Failed(other)) => return Err(other),
                        };
                        keys.insert(id, key.clone());
                        key
                    }
                };
                match key {
                    Ok(key) => Some(key),
                    // Checked first: a row edited to name another type or
                    // key version fails its writer's signature, and is
                    // tampering, not a missing share.
                    Err(reason) => {
                        let verified = row
                            .to_sealed_with(head)
                            .and_then(|sealed| self.run_check(&sealed, &check));
                        skipped.push(skip(if verified.is_ok() {
                            reason
                        } else {
                            SkipReason::Invalid
                        }));
                        continue;
                    }
                }
            } else {
                None
            };
            pending.push(Pending {
                row,
                head,
                check,
                key,
            });
        }
        Ok((pending, skipped))
    }

    /// Parses, verifies and decrypts prepared rows, on every core for a
    /// large page; a record that fails joins `skipped`.
    /// With an index condition, a record whose values do not match is
    /// counted (the second result), not returned; `keep_data` false
    /// returns meta only.
    fn open_pending(
        &self,
        pending: Vec<Pending>,
        skipped: &mut Vec<Skipped>,
        condition: Option<&IndexCondition<'_>>,
        keep_data: bool,
    ) -> (Vec<Record>, usize) {
        let opened = self.open_all(pending, condition, keep_data);
        let mut records = Vec::with_capacity(opened.len());
        let mut discarded = 0;
        for (id, writer, result) in opened {
            match result {
                Ok(Some(record)) => records.push(record),
                Ok(None) => discarded += 1,
                Err(_) => {
                    tracing::warn!(record_id = %id, "record failed verification or decryption");
                    skipped.push(Skipped {
                        record_id: Some(id),
                        writer_id: Some(writer),
                        reason: SkipReason::Invalid,
                    });
                }
            }
        }
        (records, discarded)
    }

    /// Parses and opens every pending record, in order, splitting a large
    /// batch across the machine's cores. `Ok(None)`: verified and
    /// decrypted, but not matching the index condition.
    fn open_all(
        &self,
        pending: Vec<Pending>,
        condition: Option<&IndexCondition<'_>>,
        keep_data: bool,
    ) -> Vec<(RecordId, ClientId, Result<Option<Record>>)> {
        let open_one = |p: Pending| {
            let opened = p.row.to_sealed_with(p.head).and_then(|sealed| {
                let times = p.row.times()?;
                let Some(condition) = condition else {
                    return self
                        .open(sealed, times, &p.check, p.key.as_deref())
                        .map(Some);
                };
                self.run_check(&sealed, &p.check)?;
                let key = p.key.as_deref().ok_or(Error::Decryption)?;
                let data = crate::record::open_verified(&sealed, key)?;
                if !condition.matches(&sealed, &data) {
                    return Ok(None);
                }
                let data = keep_data.then_some(data);
                Ok(Some(Record::new(record_meta(sealed, times), data)))
            });
            (p.head.record_id, p.head.writer_id, opened)
        };
        if pending.len() < PARALLEL_THRESHOLD || rayon::current_num_threads() < 2 {
            return pending.into_iter().map(open_one).collect();
        }
        // rayon's pool, in input order; pieces of at least 32 records, so
        // a task is worth its hand-off.
        pending
            .into_par_iter()
            .with_min_len(32)
            .map(open_one)
            .collect()
    }
}

/// The counts of a page, on its operation's span.
fn record_page(span: &Span, page: &Page) {
    span.record("records", page.records.len());
    span.record("skipped", page.skipped.len());
}

/// Where the page that ends with `last` ends, for the next page's cursor:
/// its time and id as stored, whatever they hold, so the keyset always
/// moves past a malformed row. A NULL time sorts before every time on
/// SQLite and after every time on PostgreSQL: where the NULLs come first
/// the next page starts after all of them (the keyset comparison passes
/// NULL rows over); where they come last, nothing after them is reachable
/// and this is the last page. A NULL id sorts first among the rows of its
/// time on SQLite (compared as the empty text) and, on PostgreSQL, after
/// every id ascending and before every id descending (its position is the
/// largest uuid). On SQLite a time held as text, a BLOB or a real (a
/// malformed row) is placed by [`TimeClass`].
fn page_end(last: &StoredRecord, order: Order, backend: Backend) -> Option<Cursor> {
    let asc = order.ascending();
    // Positions that sort before or after every stored id of their time.
    let before_all = || KeysetId {
        bytes: Vec::new(),
        text: false,
    };
    let after_all = || KeysetId {
        bytes: vec![0xFF; 17],
        text: false,
    };
    let (t, class) = (
        last.time(order.by_created()),
        last.time_class(order.by_created()),
    );
    match (t, class) {
        (Some(t), TimeClass::Integer) => Some(Cursor::new(order, t, &last.keyset_id())),
        // SQLite: a time held as another number lies between `t` (its
        // value truncated toward zero) and the next integer away from
        // zero. Start at the first integer past it, every id of that time
        // included (other such times in between are malformed rows).
        (Some(t), TimeClass::OtherNumber) => Some(if asc {
            Cursor::new(
                order,
                if t >= 0 { t.saturating_add(1) } else { t },
                &before_all(),
            )
        } else {
            Cursor::new(
                order,
                if t > 0 { t } else { t.saturating_sub(1) },
                &after_all(),
            )
        }),
        // SQLite: text or a BLOB sorts after every number. Ascending, all
        // that is left is such malformed rows; descending, every number
        // is still to come.
        (_, TimeClass::AboveNumbers) if asc => None,
        (_, TimeClass::AboveNumbers) => Some(Cursor::new(order, i64::MAX, &after_all())),
        (None, _) if (backend == Backend::Sqlite) == asc => Some(Cursor::new(
            order,
            if asc { i64::MIN } else { i64::MAX },
            &KeysetId {
                bytes: Vec::new(),
                text: true,
            },
        )),
        (None, _) => None,
    }
}
