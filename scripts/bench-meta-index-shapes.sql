-- The meta index's shape against a filtered page (issue 13), on
-- PostgreSQL: 1,000,000 records of one writer and type, `clinic` with 100
-- values (1 % a value), two plain entries a record (two index rows).
-- Compares today's (tag, record_id) with two shapes that keep a filtered
-- page in the page's own order. Run: psql "$STRONGROOM_TEST_POSTGRES" -f
-- scripts/bench-meta-index-shapes.sql (it works in a schema of its own and
-- drops it).
\timing off
\set ON_ERROR_STOP on
DROP SCHEMA IF EXISTS meta_shapes CASCADE;
CREATE SCHEMA meta_shapes;
SET search_path = meta_shapes;
CREATE TABLE records (
    record_id uuid PRIMARY KEY, writer_id uuid NOT NULL, record_type text NOT NULL,
    plain text NOT NULL, sealed_fields bytea NOT NULL, created_at bigint NOT NULL);
CREATE INDEX records_by_writer_type_created ON records (writer_id, record_type, created_at, record_id);
-- record i: created at i, clinic i % 100, status i % 2
INSERT INTO records
SELECT (lpad(to_hex(i), 8, '0') || '-0000-7000-8000-000000000000')::uuid,
       '00000000-0000-4000-8000-000000000001', 'patient',
       '{"clinic":"c' || (i % 100) || '","status":"s' || (i % 2) || '"}',
       decode(repeat('ab', 560), 'hex'), i
FROM generate_series(1, 1000000) AS i;
-- tags: clinic value v -> v + 1000, status value s -> s + 2000 (stand-ins
-- for the BLAKE2b tags; one value per (name, value), as today)
CREATE TABLE meta_now (tag bigint NOT NULL, record_id uuid NOT NULL, PRIMARY KEY (tag, record_id));
INSERT INTO meta_now SELECT 1000 + (created_at % 100), record_id FROM records;
INSERT INTO meta_now SELECT 2000 + (created_at % 2), record_id FROM records;
CREATE TABLE meta_ordered (tag bigint NOT NULL, writer_id uuid NOT NULL, record_type text NOT NULL,
    created_at bigint NOT NULL, record_id uuid NOT NULL,
    PRIMARY KEY (tag, writer_id, record_type, created_at, record_id));
INSERT INTO meta_ordered SELECT 1000 + (created_at % 100), writer_id, record_type, created_at, record_id FROM records;
INSERT INTO meta_ordered SELECT 2000 + (created_at % 2), writer_id, record_type, created_at, record_id FROM records;
-- the tag hashed over writer and type too (stand-in: the same numbers)
CREATE TABLE meta_scoped (tag bigint NOT NULL, created_at bigint NOT NULL, record_id uuid NOT NULL,
    PRIMARY KEY (tag, created_at, record_id));
INSERT INTO meta_scoped SELECT 1000 + (created_at % 100), created_at, record_id FROM records;
INSERT INTO meta_scoped SELECT 2000 + (created_at % 2), created_at, record_id FROM records;
VACUUM ANALYZE;
SELECT 'bytes a record' AS what,
       round(pg_total_relation_size('meta_now') / 1e6, 1) AS meta_now,
       round(pg_total_relation_size('meta_ordered') / 1e6, 1) AS meta_ordered,
       round(pg_total_relation_size('meta_scoped') / 1e6, 1) AS meta_scoped,
       round(pg_total_relation_size('records') / 1e6, 1) AS records;
-- One backend process a query: a worker's start-up would dwarf a page.
SET max_parallel_workers_per_gather = 0;
\echo '== unfiltered page (the first 1,000)'
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF, SUMMARY ON)
SELECT r.* FROM records r WHERE r.writer_id = '00000000-0000-4000-8000-000000000001' AND r.record_type = 'patient'
ORDER BY r.created_at, r.record_id LIMIT 1001;
\echo '== filtered page, today: record_id IN (meta_now)'
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF, SUMMARY ON)
SELECT r.* FROM records r WHERE r.writer_id = '00000000-0000-4000-8000-000000000001' AND r.record_type = 'patient'
  AND r.record_id IN (SELECT m.record_id FROM meta_now m WHERE m.tag = 1042)
ORDER BY r.created_at, r.record_id LIMIT 1001;
\echo '== filtered page, meta_ordered walked in order, joined by id'
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF, SUMMARY ON)
SELECT r.* FROM meta_ordered m JOIN records r ON r.record_id = m.record_id
WHERE m.tag = 1042 AND m.writer_id = '00000000-0000-4000-8000-000000000001' AND m.record_type = 'patient'
ORDER BY m.created_at, m.record_id LIMIT 1001;
\echo '== filtered page, meta_scoped walked in order, joined by id'
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF, SUMMARY ON)
SELECT r.* FROM meta_scoped m JOIN records r ON r.record_id = m.record_id
WHERE m.tag = 1042
ORDER BY m.created_at, m.record_id LIMIT 1001;
\echo '== filtered page, meta_scoped as a row-value IN from records (the shape a records query can keep)'
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF, SUMMARY ON)
SELECT r.* FROM records r WHERE r.writer_id = '00000000-0000-4000-8000-000000000001' AND r.record_type = 'patient'
  AND (r.created_at, r.record_id) IN (SELECT m.created_at, m.record_id FROM meta_scoped m WHERE m.tag = 1042)
ORDER BY r.created_at, r.record_id LIMIT 1001;
\echo '== the same, a page further on (after created_at 500000)'
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF, SUMMARY ON)
SELECT r.* FROM records r WHERE r.writer_id = '00000000-0000-4000-8000-000000000001' AND r.record_type = 'patient'
  AND (r.created_at, r.record_id) IN (SELECT m.created_at, m.record_id FROM meta_scoped m WHERE m.tag = 1042)
  AND (r.created_at, r.record_id) > (500000, '00000000-0000-0000-0000-000000000000')
ORDER BY r.created_at, r.record_id LIMIT 1001;
\echo '== the same page, the keyset also inside the subquery'
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF, SUMMARY ON)
SELECT r.* FROM records r WHERE r.writer_id = '00000000-0000-4000-8000-000000000001' AND r.record_type = 'patient'
  AND (r.created_at, r.record_id) IN (SELECT m.created_at, m.record_id FROM meta_scoped m WHERE m.tag = 1042
       AND (m.created_at, m.record_id) > (500000, '00000000-0000-0000-0000-000000000000'))
  AND (r.created_at, r.record_id) > (500000, '00000000-0000-0000-0000-000000000000')
ORDER BY r.created_at, r.record_id LIMIT 1001;
\echo '== the same page, newest first (descending), keyset inside'
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF, SUMMARY ON)
SELECT r.* FROM records r WHERE r.writer_id = '00000000-0000-4000-8000-000000000001' AND r.record_type = 'patient'
  AND (r.created_at, r.record_id) IN (SELECT m.created_at, m.record_id FROM meta_scoped m WHERE m.tag = 1042
       AND (m.created_at, m.record_id) < (500000, '00000000-0000-0000-0000-000000000000'))
  AND (r.created_at, r.record_id) < (500000, '00000000-0000-0000-0000-000000000000')
ORDER BY r.created_at DESC, r.record_id DESC LIMIT 1001;
\echo '== meta_scoped row-value IN, a value matching half the records (status)'
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF, SUMMARY ON)
SELECT r.* FROM records r WHERE r.writer_id = '00000000-0000-4000-8000-000000000001' AND r.record_type = 'patient'
  AND (r.created_at, r.record_id) IN (SELECT m.created_at, m.record_id FROM meta_scoped m WHERE m.tag = 2001)
ORDER BY r.created_at, r.record_id LIMIT 1001;
\echo '== today, the value matching half the records (status)'
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF, SUMMARY ON)
SELECT r.* FROM records r WHERE r.writer_id = '00000000-0000-4000-8000-000000000001' AND r.record_type = 'patient'
  AND r.record_id IN (SELECT m.record_id FROM meta_now m WHERE m.tag = 2001)
ORDER BY r.created_at, r.record_id LIMIT 1001;
\echo '== meta_scoped walked and joined, the value matching half the records (status)'
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF, SUMMARY ON)
SELECT r.* FROM meta_scoped m JOIN records r ON r.record_id = m.record_id
WHERE m.tag = 2001
ORDER BY m.created_at, m.record_id LIMIT 1001;
DROP SCHEMA meta_shapes CASCADE;
