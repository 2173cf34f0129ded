-- Nothing changes on SQLite: this version deduplicates PostgreSQL's
-- plain-meta index (see the PostgreSQL migration of the same name).
-- SQLite's meta index is a WITHOUT ROWID table whose key is the table
-- itself. The version exists on both engines so both list the same
-- migrations.
SELECT 1;
