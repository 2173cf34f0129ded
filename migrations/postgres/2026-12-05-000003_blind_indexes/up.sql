-- Blind indexes (FORMAT.md, "Blind indexes"): equality search on sealed
-- fields. A record's index entries (index name, description, value, all
-- under one index version) are part of its signed content and stored with
-- it; the lookup table repeats each value beside the record id so the
-- database can find candidates with an index. The lookup table is only a
-- hint: readers verify and decrypt every candidate and compare values.
ALTER TABLE records ADD COLUMN blind_indexes bytea;     -- signed entries; NULL: not indexed
ALTER TABLE records ADD COLUMN index_version integer;  -- the entries' key version, for reindex
CREATE INDEX records_by_writer_type_index_version ON records (writer_id, record_type, index_version);

CREATE TABLE blind_index_values (
    record_id   uuid NOT NULL,
    index_name  text NOT NULL,
    record_type text NOT NULL,
    value       bytea NOT NULL,   -- the truncated keyed hash
    PRIMARY KEY (record_id, index_name)
);
CREATE INDEX blind_index_values_lookup ON blind_index_values (record_type, index_name, value);

-- Live index versions: for each writer's index of a type, the key versions
-- some record is indexed under, with the index's description at that
-- version. A lookup computes the searched value under each of them;
-- `reindex` retires the old ones once no record uses them.
CREATE TABLE blind_index_versions (
    writer_id     uuid NOT NULL,
    record_type   text NOT NULL,
    index_name    text NOT NULL,
    index_version integer NOT NULL,
    spec          bytea NOT NULL,
    PRIMARY KEY (writer_id, record_type, index_name, index_version)
);
