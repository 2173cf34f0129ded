#!/usr/bin/env python3
"""The meta index's shape against a filtered page (issue 13), on SQLite:
the SQLite half of scripts/bench-meta-index-shapes.sql, with the same
synthetic rows (N records of one writer and type, `clinic` with 100 values,
`status` with 2, two index rows a record) and the same query shapes.

Run: python3 scripts/bench-meta-index-shapes-sqlite.py [N] (default
1,000,000; about 1.2 GB in a temporary folder, removed after). It uses
Python's own SQLite, which may be older than the one the library bundles:
its plans are an indication, to be confirmed through the library.
Prints each query's plan and its median time over 5 runs.
"""
import os
import sqlite3
import statistics
import sys
import tempfile
import time

N = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
WRITER = bytes.fromhex("00000000000040008000000000000001")


def rid(i):
    return i.to_bytes(4, "big") + bytes.fromhex("00007000800000000000")[:10] + b"\0\0"


def main():
    folder = tempfile.mkdtemp()
    path = os.path.join(folder, "shapes.db")
    db = sqlite3.connect(path, isolation_level=None)
    db.executescript("""
        PRAGMA page_size = 16384; PRAGMA journal_mode = WAL;
        PRAGMA synchronous = NORMAL; PRAGMA cache_size = -16384;
        CREATE TABLE records (record_id BLOB PRIMARY KEY, writer_id BLOB NOT NULL,
            record_type TEXT NOT NULL, plain TEXT NOT NULL, sealed_fields BLOB NOT NULL,
            created_at BIGINT NOT NULL);
        CREATE INDEX records_by_writer_type_created
            ON records (writer_id, record_type, created_at, record_id);
        CREATE TABLE meta_now (tag BIGINT NOT NULL, record_id BLOB NOT NULL,
            PRIMARY KEY (tag, record_id)) WITHOUT ROWID;
        CREATE TABLE meta_ordered (tag BIGINT NOT NULL, writer_id BLOB NOT NULL,
            record_type TEXT NOT NULL, created_at BIGINT NOT NULL, record_id BLOB NOT NULL,
            PRIMARY KEY (tag, writer_id, record_type, created_at, record_id)) WITHOUT ROWID;
        CREATE TABLE meta_scoped (tag BIGINT NOT NULL, created_at BIGINT NOT NULL,
            record_id BLOB NOT NULL, PRIMARY KEY (tag, created_at, record_id)) WITHOUT ROWID;
    """)
    sealed = bytes([0xAB]) * 560
    db.execute("BEGIN")
    db.executemany(
        "INSERT INTO records VALUES (?, ?, 'patient', ?, ?, ?)",
        ((rid(i), WRITER, '{"clinic":"c%d","status":"s%d"}' % (i % 100, i % 2), sealed, i)
         for i in range(1, N + 1)))
    for table, cols in [("meta_now", "tag, record_id"),
                        ("meta_ordered", "tag, writer_id, record_type, created_at, record_id"),
                        ("meta_scoped", "tag, created_at, record_id")]:
        for base, mod in [(1000, 100), (2000, 2)]:
            select = cols.replace("tag", f"{base} + (created_at % {mod})", 1)
            db.execute(f"INSERT INTO {table} ({cols}) SELECT {select} FROM records")
    db.execute("COMMIT")
    db.execute("ANALYZE")
    try:
        for table in ["records", "meta_now", "meta_ordered", "meta_scoped"]:
            size = db.execute(
                "SELECT sum(pgsize) FROM dbstat WHERE name = ? OR tbl_name = ?", (table, table)
            ).fetchone()[0]
            print(f"{table}: {size / N:.1f} bytes a record (table and its indexes)")
    except sqlite3.OperationalError:
        print("(this SQLite has no dbstat: sizes not measured)")

    scope = "r.writer_id = ? AND r.record_type = 'patient'"
    cursor = (N // 2, b"")
    queries = [
        ("unfiltered page (the first 1,000)",
         f"SELECT r.* FROM records r WHERE {scope} ORDER BY r.created_at, r.record_id LIMIT 1001",
         (WRITER,)),
        ("filtered page, today: record_id IN (meta_now)",
         f"SELECT r.* FROM records r WHERE {scope} AND r.record_id IN "
         "(SELECT m.record_id FROM meta_now m WHERE m.tag = 1042) "
         "ORDER BY r.created_at, r.record_id LIMIT 1001", (WRITER,)),
        ("filtered page, meta_ordered walked in order, joined by id",
         "SELECT r.* FROM meta_ordered m JOIN records r ON r.record_id = m.record_id "
         "WHERE m.tag = 1042 AND m.writer_id = ? AND m.record_type = 'patient' "
         "ORDER BY m.created_at, m.record_id LIMIT 1001", (WRITER,)),
        ("filtered page, meta_scoped walked in order, joined by id",
         "SELECT r.* FROM meta_scoped m JOIN records r ON r.record_id = m.record_id "
         "WHERE m.tag = 1042 ORDER BY m.created_at, m.record_id LIMIT 1001", ()),
        ("filtered page, meta_scoped as a row-value IN from records",
         f"SELECT r.* FROM records r WHERE {scope} AND (r.created_at, r.record_id) IN "
         "(SELECT m.created_at, m.record_id FROM meta_scoped m WHERE m.tag = 1042) "
         "ORDER BY r.created_at, r.record_id LIMIT 1001", (WRITER,)),
        ("a page further on, meta_scoped joined, keyset in the walk",
         "SELECT r.* FROM meta_scoped m JOIN records r ON r.record_id = m.record_id "
         "WHERE m.tag = 1042 AND (m.created_at, m.record_id) > (?, ?) "
         "ORDER BY m.created_at, m.record_id LIMIT 1001", cursor),
        ("a value matching half the records (status), meta_scoped joined",
         "SELECT r.* FROM meta_scoped m JOIN records r ON r.record_id = m.record_id "
         "WHERE m.tag = 2001 ORDER BY m.created_at, m.record_id LIMIT 1001", ()),
        ("a value matching half the records (status), today",
         f"SELECT r.* FROM records r WHERE {scope} AND r.record_id IN "
         "(SELECT m.record_id FROM meta_now m WHERE m.tag = 2001) "
         "ORDER BY r.created_at, r.record_id LIMIT 1001", (WRITER,)),
    ]
    for name, sql, args in queries:
        print(f"== {name}")
        for row in db.execute("EXPLAIN QUERY PLAN " + sql, args):
            print("   ", row[3])
        times = []
        for _ in range(5):
            t = time.perf_counter()
            rows = db.execute(sql, args).fetchall()
            times.append(time.perf_counter() - t)
        print(f"   rows {len(rows)}, median {statistics.median(times) * 1000:.2f} ms")
    db.close()
    for suffix in ["", "-wal", "-shm"]:
        if os.path.exists(path + suffix):
            os.remove(path + suffix)
    os.rmdir(folder)


if __name__ == "__main__":
    print(f"SQLite {sqlite3.sqlite_version}, {N:,} records")
    main()
