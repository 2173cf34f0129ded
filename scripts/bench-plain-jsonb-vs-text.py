#!/usr/bin/env python3
"""jsonb vs text for records.plain -- insert / keyset read / size.

The measurement behind FORMAT.md's choice of `text` over `jsonb` for
`records.plain` on PostgreSQL (issue 13). Needs psycopg 3
(`python3 -m venv venv && ./venv/bin/pip install "psycopg[binary]"`) and
the PostgreSQL server at STRONGROOM_TEST_POSTGRES's host (127.0.0.1:5432).

Usage: ./venv/bin/python scripts/bench-plain-jsonb-vs-text.py [rounds] [rows]
Both variants live in schema jsonb_bench (dropped at the end).
Variants are interleaved per 1000-row batch / keyset page, first-mover
alternating per batch and per round.
Params and results use psycopg binary mode (like diesel); plain is sent as a
str (binary text param). jsonb variant casts it: %s::jsonb.
"""
import gc, json, os, random, statistics, sys, time, uuid
import psycopg

DSN = "host=127.0.0.1 port=5432 user=postgres dbname=test"
ROUNDS = int(sys.argv[1]) if len(sys.argv) > 1 else 5
ROWS = int(sys.argv[2]) if len(sys.argv) > 2 else 100_000
BATCH = 1000
VARIANTS = ["text", "jsonb"]
COLS = ("record_id, writer_id, record_type, version, plain, fields, key_version,"
        " batch_id, batch_index, created_at, updated_at")

DDL = """
CREATE TABLE jsonb_bench.records_{v} (
  record_id uuid PRIMARY KEY, writer_id uuid NOT NULL, record_type text NOT NULL,
  version bigint NOT NULL, plain {v} NOT NULL, fields bytea NOT NULL,
  key_version integer NOT NULL, batch_id uuid NOT NULL, batch_index integer NOT NULL,
  created_at bigint NOT NULL, updated_at bigint NOT NULL);
CREATE INDEX records_{v}_list ON jsonb_bench.records_{v}
  (writer_id, record_type, created_at, record_id);
"""

CITIES = ["c%d" % i for i in range(100)] + ["city-%04d-long-name" % i for i in range(50)]
STATUSES = ["active", "inactive", "pending", "archived-by-admin"]


def gen_rows(n, rng):
    writers = [uuid.UUID(int=rng.getrandbits(128), version=4) for _ in range(10)]
    types = ["contact", "invoice", "note"]
    rows, t0 = [], 1_700_000_000_000
    batch_id = None
    for i in range(n):
        if i % BATCH == 0:
            batch_id = uuid.UUID(int=rng.getrandbits(128), version=4)
        # serde_json compact output of a BTreeMap<String,String>: sorted keys, no spaces
        plain = json.dumps({"city": rng.choice(CITIES), "status": rng.choice(STATUSES)},
                           separators=(",", ":"), sort_keys=True)
        fields = b"".join(os.urandom(90) for _ in range(3))
        ts = t0 + i
        rows.append((uuid.UUID(int=rng.getrandbits(128), version=4), rng.choice(writers),
                     rng.choice(types), 1, plain, fields, 1, batch_id, i % BATCH, ts, ts))
    return rows


def insert_sql(v, k):
    cast = "::jsonb" if v == "jsonb" else ""
    one = "(%s,%s,%s,%s,%s" + cast + ",%s,%s,%s,%s,%s,%s)"
    return f"INSERT INTO jsonb_bench.records_{v} ({COLS}) VALUES " + ",".join([one] * k)


def do_insert_interleaved(conn, rows, first):
    """Batch i goes to both tables back to back; which goes first alternates per batch."""
    sql = {v: insert_sql(v, BATCH) for v in VARIANTS}
    tot = {v: 0.0 for v in VARIANTS}
    with conn.cursor(binary=True) as cur:
        for bi, i in enumerate(range(0, len(rows), BATCH)):
            params = [x for r in rows[i:i + BATCH] for x in r]
            order = first if bi % 2 == 0 else first[::-1]
            for v in order:
                t = time.perf_counter()
                cur.execute(sql[v], params, binary=True)
                tot[v] += time.perf_counter() - t
    return {v: tot[v] * 1000 for v in VARIANTS}


def read_sqls(v):
    plain = "plain::text" if v == "jsonb" else "plain"
    sel = COLS.replace("plain", plain + " AS plain")
    first = (f"SELECT {sel} FROM jsonb_bench.records_{v} "
             "ORDER BY writer_id, record_type, created_at, record_id LIMIT 1000")
    nxt = (f"SELECT {sel} FROM jsonb_bench.records_{v} "
           "WHERE (writer_id, record_type, created_at, record_id) > (%s,%s,%s,%s) "
           "ORDER BY writer_id, record_type, created_at, record_id LIMIT 1000")
    return first, nxt


def do_read_interleaved(conn, first_order):
    """Keyset page k of both tables back to back; who goes first alternates per page."""
    q = {v: read_sqls(v) for v in VARIANTS}
    last = {v: None for v in VARIANTS}
    done = {v: False for v in VARIANTS}
    n = {v: 0 for v in VARIANTS}
    tot = {v: 0.0 for v in VARIANTS}
    k = 0
    with conn.cursor(binary=True) as cur:
        while not all(done.values()):
            order = first_order if k % 2 == 0 else first_order[::-1]
            for v in order:
                if done[v]:
                    continue
                t = time.perf_counter()
                if last[v] is None:
                    cur.execute(q[v][0], binary=True)
                else:
                    l = last[v]
                    cur.execute(q[v][1], (l[1], l[2], l[9], l[0]), binary=True)
                page = cur.fetchall()
                tot[v] += time.perf_counter() - t
                if not page:
                    done[v] = True
                else:
                    n[v] += len(page)
                    last[v] = page[-1]
            k += 1
    return {v: tot[v] * 1000 for v in VARIANTS}, n


def server_cpu(conn, order):
    """Server-only cost of text->jsonb parse and jsonb->text output over 100k values."""
    out = {}
    exprs = {"text": "sum(length(p))",
             "jsonb_in": "sum(pg_column_size(p::jsonb))",
             "jsonb_roundtrip": "sum(length(p::jsonb::text))"}
    for name in (list(exprs) if order[0] == "text" else list(exprs)[::-1]):
        t = time.perf_counter()
        conn.execute(f"SELECT {exprs[name]} FROM jsonb_bench.src").fetchone()
        out[name] = (time.perf_counter() - t) * 1000
    return out


def main():
    conn = psycopg.connect(DSN, autocommit=True)
    conn.execute("DROP SCHEMA IF EXISTS jsonb_bench CASCADE")
    conn.execute("CREATE SCHEMA jsonb_bench")
    for v in VARIANTS:
        conn.execute(DDL.format(v=v))
    res = {v: {"ins": [], "read": [], "bpr": [], "heap": [], "col": [], "row": []} for v in VARIANTS}
    rng = random.Random(42)
    cpu = []
    try:
        for r in range(ROUNDS):
            rows = gen_rows(ROWS, rng)
            order = VARIANTS if r % 2 == 0 else VARIANTS[::-1]
            for v in VARIANTS:
                conn.execute(f"TRUNCATE jsonb_bench.records_{v}")
            gc.collect(); gc.disable()  # no GC pauses inside timed phases
            ins = do_insert_interleaved(conn, rows, order)
            gc.enable(); gc.collect()
            for v in VARIANTS:
                res[v]["ins"].append(ins[v])
            for v in order:
                conn.execute(f"VACUUM ANALYZE jsonb_bench.records_{v}")
            gc.disable()
            rd, n = do_read_interleaved(conn, order)
            gc.enable(); gc.collect()
            for v in VARIANTS:
                assert n[v] == ROWS, (v, n)
                res[v]["read"].append(rd[v])
            conn.execute("DROP TABLE IF EXISTS jsonb_bench.src")
            conn.execute("CREATE TABLE jsonb_bench.src AS SELECT plain AS p FROM jsonb_bench.records_text")
            conn.execute("SELECT count(*) FROM jsonb_bench.src").fetchone()
            cpu.append(server_cpu(conn, order))
            for v in VARIANTS:
                tot, heap, col, rowsz = conn.execute(
                    f"SELECT pg_total_relation_size('jsonb_bench.records_{v}'),"
                    f" pg_relation_size('jsonb_bench.records_{v}'),"
                    f" avg(pg_column_size(plain)), avg(pg_column_size(t.*)) FROM jsonb_bench.records_{v} t").fetchone()
                res[v]["bpr"].append(tot / ROWS)
                res[v]["heap"].append(heap / ROWS)
                res[v]["col"].append(float(col))
                res[v]["row"].append(float(rowsz))
            print(f"round {r+1} order={order} " + " ".join(
                f"{v}: ins={res[v]['ins'][-1]:.0f}ms read={res[v]['read'][-1]:.0f}ms "
                f"B/row={res[v]['bpr'][-1]:.1f}" for v in VARIANTS), flush=True)
            # per-round ratio (same round, same data)
            print(f"   ratio jsonb/text ins={res['jsonb']['ins'][-1]/res['text']['ins'][-1]:.3f}"
                  f" read={res['jsonb']['read'][-1]/res['text']['read'][-1]:.3f}", flush=True)
        med = {v: {k: statistics.median(x) for k, x in res[v].items()} for v in VARIANTS}
        ratio_ins = statistics.median(j / t for j, t in zip(res["jsonb"]["ins"], res["text"]["ins"]))
        ratio_read = statistics.median(j / t for j, t in zip(res["jsonb"]["read"], res["text"]["read"]))
        print("\nvariant | median insert ms | median read ms | total B/row | heap B/row | avg pg_column_size(plain) | avg row datum size")
        for v in VARIANTS:
            m = med[v]
            print(f"{v} | {m['ins']:.0f} | {m['read']:.0f} | {m['bpr']:.1f} | {m['heap']:.1f} | {m['col']:.1f} | {m['row']:.1f}")
        print(f"median of per-round ratios jsonb/text: insert {ratio_ins:.3f}, read {ratio_read:.3f}, "
              f"size {med['jsonb']['bpr']/med['text']['bpr']:.3f}")
        print("server-only, 100k values, median ms:",
              {k: round(statistics.median(c[k] for c in cpu), 1) for k in cpu[0]})
        print("raw:", json.dumps(res), json.dumps(cpu))

        # round-trip fidelity of jsonb text output
        print("\nround-trip (input -> jsonb::text):")
        samples = ['{"city":"c42","status":"active"}',
                   '{"status":"active","city":"c42"}',
                   '{"zip":"1","city":"x"}',
                   '{ "city" : "c42" }',
                   '{"city":"caf\\u00e9","s":"a\\/b"}',
                   '{"city":"a","city":"b"}',
                   '{"n":"\\u0000"}']
        for s in samples:
            try:
                out = conn.execute("SELECT %s::jsonb::text", (s,)).fetchone()[0]
                print(f"  {s!r:45} -> {out!r}  identical={out == s}")
            except Exception as e:
                print(f"  {s!r:45} -> ERROR {type(e).__name__}: {str(e).splitlines()[0]}")
        same = conn.execute(
            "SELECT count(*) FILTER (WHERE t.plain = j.plain::text), count(*) "
            "FROM jsonb_bench.records_text t JOIN jsonb_bench.records_jsonb j USING (record_id)").fetchone()
        print(f"  stored rows where jsonb::text == original text: {same[0]} / {same[1]}")
    finally:
        conn.execute("DROP SCHEMA IF EXISTS jsonb_bench CASCADE")
        conn.close()


if __name__ == "__main__":
    main()
