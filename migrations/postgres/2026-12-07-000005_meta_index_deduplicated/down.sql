DROP INDEX meta_index_lookup;
DELETE FROM meta_index a USING meta_index b WHERE a.ctid > b.ctid AND a.tag = b.tag AND a.created_at = b.created_at AND a.record_id = b.record_id;
ALTER TABLE meta_index ADD CONSTRAINT meta_index_pkey PRIMARY KEY (tag, created_at, record_id);
