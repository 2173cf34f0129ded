CREATE TABLE meta_index_by_tag (
    tag       BIGINT NOT NULL,
    record_id BLOB NOT NULL,
    PRIMARY KEY (tag, record_id)
) WITHOUT ROWID;
INSERT OR IGNORE INTO meta_index_by_tag (tag, record_id) SELECT tag, record_id FROM meta_index;
DROP TABLE meta_index;
ALTER TABLE meta_index_by_tag RENAME TO meta_index;
