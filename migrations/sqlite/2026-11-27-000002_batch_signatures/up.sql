-- Batch signatures: a writer signs the BLAKE2b-256 digests of many record
-- versions with one Ed25519 signature. A record names its batch and its
-- place in it; records stored before this migration keep their own
-- signature and writer tag, and are still read.

CREATE TABLE record_batches (
    batch_id   TEXT PRIMARY KEY NOT NULL,
    writer_id  TEXT NOT NULL,
    digests    TEXT NOT NULL,   -- base64url of the concatenated 32-byte record digests
    signature  TEXT NOT NULL,   -- "srb1." Ed25519 over (batch id, writer, digests)
    created_at BIGINT NOT NULL
);

-- SQLite cannot relax NOT NULL in place: rebuild records with the old
-- proof columns optional and the batch reference beside them.
CREATE TABLE records_new (
    record_id   TEXT PRIMARY KEY NOT NULL,
    writer_id   TEXT NOT NULL,
    record_type TEXT NOT NULL,
    version     BIGINT NOT NULL,
    plain       TEXT NOT NULL,   -- JSON object of clear strings
    data        TEXT NOT NULL,   -- JSON object: field name -> "srf1." envelope
    key_version INTEGER NOT NULL,
    signature   TEXT,            -- "srs1." Ed25519 signature (records stored before batches)
    writer_tag  TEXT,            -- "srt1." the writer's own BLAKE2b tag (idem)
    batch_id    TEXT,            -- the record_batches row that signs this version
    batch_index INTEGER,         -- its place in that batch
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    CHECK ((signature IS NULL) = (writer_tag IS NULL)
       AND (batch_id IS NULL) = (batch_index IS NULL)
       AND (signature IS NULL) <> (batch_id IS NULL))
);
INSERT INTO records_new (record_id, writer_id, record_type, version, plain, data, key_version,
                         signature, writer_tag, created_at, updated_at)
    SELECT record_id, writer_id, record_type, version, plain, data, key_version,
           signature, writer_tag, created_at, updated_at
    FROM records;
DROP TABLE records;
ALTER TABLE records_new RENAME TO records;
CREATE INDEX records_by_writer_type_created ON records (writer_id, record_type, created_at, record_id);
-- Finds the records of a batch, so a batch nobody names any more is removed.
CREATE INDEX records_by_batch ON records (batch_id);
