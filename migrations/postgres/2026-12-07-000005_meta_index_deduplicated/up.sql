-- The plain-meta index on PostgreSQL: a plain b-tree on (tag, created_at)
-- instead of the primary key (tag, created_at, record_id). PostgreSQL
-- deduplicates a plain b-tree's equal keys into one entry with a list of
-- row pointers, and the records of one batch share their creation time,
-- so an entry's records of a batch take one index entry instead of one
-- each: the index is about a third as large, written faster, and walked
-- in the same order (a page sorts only the records of one creation time
-- by id). Nothing relied on the key's uniqueness: readers re-check every
-- match against the record's signed plain meta and take each record once.
-- SQLite keeps its WITHOUT ROWID table (its key is the table itself).
ALTER TABLE meta_index DROP CONSTRAINT meta_index_pkey;
CREATE INDEX meta_index_lookup ON meta_index (tag, created_at);
