-- Back to one signature per record. Records signed in batches cannot be
-- expressed in the old shape: SET NOT NULL then fails and the revert stops
-- with nothing changed.
DROP INDEX records_by_batch;
ALTER TABLE records
    DROP CONSTRAINT records_one_proof,
    DROP COLUMN batch_id,
    DROP COLUMN batch_index,
    ALTER COLUMN signature SET NOT NULL,
    ALTER COLUMN writer_tag SET NOT NULL;
DROP TABLE record_batches;
