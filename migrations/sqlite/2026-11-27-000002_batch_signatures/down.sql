-- Back to one signature per record. Records signed in batches cannot be
-- expressed in the old shape: the copy below then fails on NOT NULL and
-- the revert stops with nothing changed.
CREATE TABLE records_old (
    record_id   TEXT PRIMARY KEY NOT NULL,
    writer_id   TEXT NOT NULL,
    record_type TEXT NOT NULL,
    version     BIGINT NOT NULL,
    plain       TEXT NOT NULL,   -- JSON object of clear strings
    data        TEXT NOT NULL,   -- JSON object: field name -> "srf1." envelope
    key_version INTEGER NOT NULL,
    signature   TEXT NOT NULL,   -- "srs1." Ed25519 signature
    writer_tag  TEXT NOT NULL,   -- "srt1." the writer's own BLAKE2b tag
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
INSERT INTO records_old (record_id, writer_id, record_type, version, plain, data, key_version,
                         signature, writer_tag, created_at, updated_at)
    SELECT record_id, writer_id, record_type, version, plain, data, key_version,
           signature, writer_tag, created_at, updated_at
    FROM records;
DROP TABLE records;
ALTER TABLE records_old RENAME TO records;
-- Every query names its writer(s); most name a type and page by creation.
CREATE INDEX records_by_writer_type_created ON records (writer_id, record_type, created_at, record_id);
DROP TABLE record_batches;
