DROP TABLE blind_index_versions;
DROP TABLE blind_index_values;
DROP INDEX records_by_writer_type_index_version;
ALTER TABLE records DROP COLUMN index_version;
ALTER TABLE records DROP COLUMN blind_indexes;
