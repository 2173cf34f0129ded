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

ALTER TABLE records
    ALTER COLUMN signature DROP NOT NULL,
    ALTER COLUMN writer_tag DROP NOT NULL,
    ADD COLUMN batch_id TEXT,       -- the record_batches row that signs this version
    ADD COLUMN batch_index INTEGER, -- its place in that batch
    ADD CONSTRAINT records_one_proof CHECK ((signature IS NULL) = (writer_tag IS NULL)
        AND (batch_id IS NULL) = (batch_index IS NULL)
        AND (signature IS NULL) <> (batch_id IS NULL));
-- Finds the records of a batch, so a batch nobody names any more is removed.
CREATE INDEX records_by_batch ON records (batch_id);
