-- The database's own identity: one row, a random id made with the schema.
-- Profiles key their key-version marks (rollback protection) by this id,
-- never by the URL or path the database is reached at, so the same
-- database reached another way (or restored from a dump) keeps its marks.
-- A dump or file copy keeps the id; a new schema gets a new one.
CREATE TABLE database_identity (
    singleton   INTEGER PRIMARY KEY NOT NULL CHECK (singleton = 1),
    database_id TEXT NOT NULL,   -- hyphenated lowercase UUID, random
    created_at  BIGINT NOT NULL
);
INSERT INTO database_identity (singleton, database_id, created_at)
VALUES (1, gen_random_uuid()::text, (extract(epoch FROM clock_timestamp()) * 1000000)::bigint);
