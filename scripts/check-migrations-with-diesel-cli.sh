#!/usr/bin/env bash
# Applies migrations/<backend> with diesel's own CLI and checks that the
# schema equals the one strongroom's embedded migrations create, and that
# every down.sql undoes its up.sql (diesel migration redo / revert).
#
# Needs: diesel_cli (cargo install diesel_cli --no-default-features
#   --features "sqlite-bundled postgres"), sqlite3 or python3, psql and a
#   PostgreSQL server at $STRONGROOM_TEST_POSTGRES.
set -euo pipefail
cd "$(dirname "$0")/.."
DIESEL=${DIESEL:-diesel}
PG=${STRONGROOM_TEST_POSTGRES:-postgres://postgres@127.0.0.1:5432/test}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

sqlite_schema() {
    python3 - "$1" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
for (sql,) in db.execute("SELECT sql FROM sqlite_master WHERE sql IS NOT NULL AND name NOT LIKE '__diesel%' ORDER BY name"):
    print(sql)
PY
}

echo "== SQLite"
"$DIESEL" migration run --migration-dir migrations/sqlite --database-url "$work/cli.db" >/dev/null
cargo run -q --example migrate_only -- "sqlite://$work/lib.db"
diff <(sqlite_schema "$work/cli.db") <(sqlite_schema "$work/lib.db")
"$DIESEL" migration redo --all --migration-dir migrations/sqlite --database-url "$work/cli.db" >/dev/null
diff <(sqlite_schema "$work/cli.db") <(sqlite_schema "$work/lib.db")
"$DIESEL" migration revert --all --migration-dir migrations/sqlite --database-url "$work/cli.db" >/dev/null
[ -z "$(sqlite_schema "$work/cli.db")" ] || { echo "down.sql left tables behind" >&2; exit 1; }
echo "sqlite: CLI schema == library schema; redo and revert work"

echo "== PostgreSQL"
base=${PG%/*}
suffix=$(date +%s%N)
cli_db=strongroom_cli_$suffix
lib_db=strongroom_lib_$suffix
psql "$PG" -qc "CREATE DATABASE $cli_db" -c "CREATE DATABASE $lib_db"
cleanup_pg() { psql "$PG" -qc "DROP DATABASE IF EXISTS $cli_db WITH (FORCE)" -c "DROP DATABASE IF EXISTS $lib_db WITH (FORCE)"; }
trap 'cleanup_pg; rm -rf "$work"' EXIT
pg_schema() { pg_dump --schema-only --no-owner --exclude-table=__diesel_schema_migrations "$1" | grep -v -E '^(--|SET |SELECT pg_catalog|\\restrict|\\unrestrict)' | grep -v '^$'; }
"$DIESEL" migration run --migration-dir migrations/postgres --database-url "$base/$cli_db" >/dev/null
cargo run -q --example migrate_only -- "$base/$lib_db"
diff <(pg_schema "$base/$cli_db") <(pg_schema "$base/$lib_db")
"$DIESEL" migration redo --all --migration-dir migrations/postgres --database-url "$base/$cli_db" >/dev/null
diff <(pg_schema "$base/$cli_db") <(pg_schema "$base/$lib_db")
"$DIESEL" migration revert --all --migration-dir migrations/postgres --database-url "$base/$cli_db" >/dev/null
[ "$(psql "$base/$cli_db" -Atc "SELECT count(*) FROM information_schema.tables WHERE table_schema='public' AND table_name <> '__diesel_schema_migrations'")" = 0 ] \
    || { echo "down.sql left tables behind" >&2; exit 1; }
echo "postgres: CLI schema == library schema; redo and revert work"
