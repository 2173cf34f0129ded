-- The database's own identity: one row, a random id made with the schema.
-- Profiles key their key-version marks (rollback protection) by this id,
-- never by the URL or path the database is reached at, so the same
-- database reached another way (or its file copied elsewhere) keeps its
-- marks. A dump or file copy keeps the id; a new schema gets a new one.
CREATE TABLE database_identity (
    singleton   INTEGER PRIMARY KEY NOT NULL CHECK (singleton = 1),
    database_id TEXT NOT NULL,   -- hyphenated lowercase UUID, random
    created_at  BIGINT NOT NULL
);
INSERT INTO database_identity (singleton, database_id, created_at)
SELECT 1,
       substr(h, 1, 8) || '-' || substr(h, 9, 4) || '-4' || substr(h, 14, 3) || '-'
           || substr('89ab', 1 + (abs(random()) % 4), 1) || substr(h, 18, 3) || '-' || substr(h, 21, 12),
       CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER)
FROM (SELECT lower(hex(randomblob(16))) AS h);
