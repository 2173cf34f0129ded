-- The sensitive database: ciphertext, wrapped keys, signatures and the
-- plain meta the application chose to leave filterable. Timestamps are
-- microseconds since the Unix epoch, UTC. Ids are UUIDs: 16-byte BLOBs
-- (the UUID's bytes in order); envelopes, wrapped keys, digests,
-- signatures and public keys are raw bytes (FORMAT.md gives each layout).

CREATE TABLE clients (
    client_id   BLOB PRIMARY KEY NOT NULL,
    name        TEXT,
    public_key  BLOB NOT NULL,   -- X25519, 32 bytes
    signing_key BLOB NOT NULL,   -- Ed25519, 32 bytes
    created_at  BIGINT NOT NULL
);

-- The current access key version of each (writer, record type). Writers
-- read it inside their transaction; a rotation moves it forward.
CREATE TABLE key_heads (
    writer_id       BLOB NOT NULL,
    record_type     TEXT NOT NULL,
    current_version INTEGER NOT NULL,
    updated_at      BIGINT NOT NULL,
    PRIMARY KEY (writer_id, record_type)
);

-- One wrapped access key per (writer, type, version, reader).
CREATE TABLE access_keys (
    writer_id   BLOB NOT NULL,
    record_type TEXT NOT NULL,
    key_version INTEGER NOT NULL,
    reader_id   BLOB NOT NULL,
    wrapper_id  BLOB NOT NULL,
    wrapped_key BLOB NOT NULL,   -- the bytes of an "srk1." wrapped access key
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (writer_id, record_type, key_version, reader_id)
);
CREATE INDEX access_keys_by_reader ON access_keys (reader_id, record_type);

CREATE TABLE policies (
    writer_id   BLOB NOT NULL,
    record_type TEXT NOT NULL,
    reader_id   BLOB NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('read', 'authorize')),
    granted_by  BLOB NOT NULL,
    via         BLOB,            -- the authoriser a writer-signed grant came through
    reader_key  BLOB NOT NULL,   -- the reader's X25519 key the grantor pinned (32 bytes)
    key_version INTEGER NOT NULL, -- the access key version the grant covers
    signature   BLOB NOT NULL,   -- share grant signature by granted_by (the 64 bytes of "srs1.")
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (writer_id, record_type, reader_id, kind)
);
CREATE INDEX policies_by_reader ON policies (reader_id, kind, record_type);

CREATE TABLE records (
    record_id   BLOB PRIMARY KEY NOT NULL,
    writer_id   BLOB NOT NULL,
    record_type TEXT NOT NULL,
    version     BIGINT NOT NULL,
    plain       TEXT NOT NULL,   -- JSON object of clear strings
    sealed_fields BLOB NOT NULL, -- every field envelope, one encoding (FORMAT.md, "Sealed fields")
    key_version INTEGER NOT NULL,
    batch_id    BLOB NOT NULL,   -- the record_batches row that signs this version
    batch_index INTEGER NOT NULL, -- its place in that batch
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
-- Every query names its writer(s); most name a type and page by creation.
CREATE INDEX records_by_writer_type_created ON records (writer_id, record_type, created_at, record_id);
-- Finds the records of a batch, so a batch nobody names any more is removed.
CREATE INDEX records_by_batch ON records (batch_id);

-- Batch signatures: a writer signs the BLAKE2b-256 digests of many record
-- versions with one Ed25519 signature; a record names its batch and its
-- place in it.
CREATE TABLE record_batches (
    batch_id   BLOB PRIMARY KEY NOT NULL,
    writer_id  BLOB NOT NULL,
    digests    BLOB NOT NULL,   -- the concatenated 32-byte record digests
    signature  BLOB NOT NULL,   -- Ed25519 over (batch id, writer, digests): the 64 bytes of "srb1."
    created_at BIGINT NOT NULL
);

-- An equality index over plain meta: one row per (record, meta entry),
-- tag = BLAKE2b-64 of the canonical (name, value). Plain meta is clear text
-- anyway; the tag only makes the index small. Readers re-check matches
-- against the record's signed plain meta.
CREATE TABLE meta_index (
    tag       BIGINT NOT NULL,
    record_id BLOB NOT NULL,
    PRIMARY KEY (tag, record_id)
) WITHOUT ROWID;

-- Migration tooling: which source row became which record, written in the
-- same transaction as the record, so an import can be re-run safely.
CREATE TABLE import_map (
    source      TEXT NOT NULL,   -- source database (no password) and table
    source_id   TEXT NOT NULL,
    record_id   BLOB NOT NULL,
    imported_at BIGINT NOT NULL,
    PRIMARY KEY (source, source_id)
);

-- The database's own identity: one row, a random id made with the schema.
-- Profiles key their key-version marks (rollback protection) by this id,
-- never by the URL or path the database is reached at, so the same
-- database reached another way (or its file copied elsewhere) keeps its
-- marks. A dump or file copy keeps the id; a new schema gets a new one.
CREATE TABLE database_identity (
    singleton   INTEGER PRIMARY KEY NOT NULL CHECK (singleton = 1),
    database_id BLOB NOT NULL,   -- a random UUID (v4)
    created_at  BIGINT NOT NULL
);
INSERT INTO database_identity (singleton, database_id, created_at)
SELECT 1,
       -- 16 random bytes with the version (4) and variant (10xx) bits of a v4 UUID
       unhex(substr(h, 1, 12) || '4' || substr(h, 14, 3)
             || substr('89ab', 1 + (abs(random()) % 4), 1) || substr(h, 18, 15)),
       CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER)
FROM (SELECT hex(randomblob(16)) AS h);
