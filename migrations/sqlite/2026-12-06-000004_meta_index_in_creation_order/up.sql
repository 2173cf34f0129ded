-- The plain-meta index keeps each entry's records in creation order, so a
-- page filtered by plain equality walks the index in the page's order and
-- stops at the page's end, instead of fetching every match and sorting
-- them (BENCHMARKING.md, "The scale benchmark"). The tag is unchanged;
-- each row gains its record's creation time, copied from `records` (a row
-- whose record is gone is dropped).
CREATE TABLE meta_index_by_created (
    tag        BIGINT NOT NULL,
    created_at BIGINT NOT NULL, -- the record's, as in `records`
    record_id  BLOB NOT NULL,
    PRIMARY KEY (tag, created_at, record_id)
) WITHOUT ROWID;
INSERT OR IGNORE INTO meta_index_by_created (tag, created_at, record_id)
SELECT m.tag, r.created_at, m.record_id
FROM meta_index m JOIN records r ON r.record_id = m.record_id;
DROP TABLE meta_index;
ALTER TABLE meta_index_by_created RENAME TO meta_index;
