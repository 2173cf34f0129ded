-- The sensitive database: ciphertext, wrapped keys, signatures and the
-- plain meta the application chose to leave filterable. Timestamps are
-- microseconds since the Unix epoch, UTC. Ids are hyphenated UUID text.

CREATE TABLE clients (
    client_id   TEXT PRIMARY KEY NOT NULL,
    name        TEXT,
    public_key  TEXT NOT NULL,   -- X25519, base64url
    signing_key TEXT NOT NULL,   -- Ed25519, base64url
    created_at  BIGINT NOT NULL
);

-- The current access key version of each (writer, record type). Writers
-- read it inside their transaction; a rotation moves it forward.
CREATE TABLE key_heads (
    writer_id       TEXT NOT NULL,
    record_type     TEXT NOT NULL,
    current_version INTEGER NOT NULL,
    updated_at      BIGINT NOT NULL,
    PRIMARY KEY (writer_id, record_type)
);

-- One wrapped access key per (writer, type, version, reader).
CREATE TABLE access_keys (
    writer_id   TEXT NOT NULL,
    record_type TEXT NOT NULL,
    key_version INTEGER NOT NULL,
    reader_id   TEXT NOT NULL,
    wrapper_id  TEXT NOT NULL,
    eak         TEXT NOT NULL,   -- "srk1." wrapped access key
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (writer_id, record_type, key_version, reader_id)
);
CREATE INDEX access_keys_by_reader ON access_keys (reader_id, record_type);

CREATE TABLE policies (
    writer_id   TEXT NOT NULL,
    record_type TEXT NOT NULL,
    reader_id   TEXT NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('read', 'authorize')),
    granted_by  TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (writer_id, record_type, reader_id, kind)
);
CREATE INDEX policies_by_reader ON policies (reader_id, kind, record_type);

CREATE TABLE records (
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
CREATE INDEX records_by_type_created ON records (record_type, writer_id, created_at, record_id);
CREATE INDEX records_by_type_updated ON records (record_type, writer_id, updated_at, record_id);
CREATE INDEX records_by_writer_created ON records (writer_id, created_at, record_id);

-- Plain meta as rows, for equality filters on any number of keys.
CREATE TABLE record_meta (
    record_id TEXT NOT NULL REFERENCES records (record_id) ON DELETE CASCADE,
    name      TEXT NOT NULL,
    value     TEXT NOT NULL,
    PRIMARY KEY (record_id, name)
);
CREATE INDEX record_meta_lookup ON record_meta (name, value, record_id);
