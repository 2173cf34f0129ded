DROP TABLE file_chunks;
ALTER TABLE records DROP COLUMN file_head;
