-- Files (FORMAT.md, "Files"): a file is a record whose body is too large
-- to hold in memory. Its record row carries the file head (length, chunk
-- size and count, the digest of the ciphertext chunks, the stream header
-- and the body's data key sealed under the access key), covered by the
-- record's signature; the body itself is stored as ciphertext chunks of
-- orion's streaming AEAD, one row per chunk. A record that is not a file
-- has no head (NULL) and no chunks.
ALTER TABLE records ADD COLUMN file_head bytea;

CREATE TABLE file_chunks (
    record_id uuid NOT NULL,   -- the file record
    version   BIGINT NOT NULL, -- the record version whose body this is
    seq       BIGINT NOT NULL, -- 0, 1, 2, … in stream order
    chunk     bytea NOT NULL,    -- one sealed chunk: tag, ciphertext, MAC
    PRIMARY KEY (record_id, version, seq)
);
-- Sealed chunks do not compress: store them out of line without trying
-- (TOAST's compression attempt on every chunk costs time and saves nothing).
ALTER TABLE file_chunks ALTER COLUMN chunk SET STORAGE EXTERNAL;
