CREATE TABLE meta_index_by_tag (
    tag       BIGINT NOT NULL,
    record_id uuid NOT NULL,
    PRIMARY KEY (tag, record_id)
);
INSERT INTO meta_index_by_tag (tag, record_id) SELECT tag, record_id FROM meta_index
ON CONFLICT DO NOTHING;
DROP TABLE meta_index;
ALTER TABLE meta_index_by_tag RENAME TO meta_index;
ALTER INDEX meta_index_by_tag_pkey RENAME TO meta_index_pkey;
