# Sourced by scripts/test: starts a throwaway PostgreSQL on 127.0.0.1 in a temp dir and exports
# MOAT_TEST_POSTGRES_URL for the tests; the server and its data are removed when the calling shell exits.
pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
if [ -z "$pg_bin" ] || [ ! -x "$pg_bin/initdb" ]; then
    echo "postgres: no PostgreSQL server installed; PostgreSQL tests will be skipped" >&2
    return 0
fi
pg_dir=$(mktemp -d /tmp/moat-pg.XXXXXX)
pg_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
as_pg=()
if [ "$(id -u)" = 0 ]; then
    chown postgres "$pg_dir"
    as_pg=(runuser -u postgres --)
fi
"${as_pg[@]}" "$pg_bin/initdb" -D "$pg_dir/data" -U moat --auth=trust -E UTF8 >/dev/null
"${as_pg[@]}" "$pg_bin/pg_ctl" -D "$pg_dir/data" -l "$pg_dir/log" -w \
    -o "-c listen_addresses=127.0.0.1 -c port=$pg_port -c unix_socket_directories=$pg_dir -c fsync=off -c max_connections=300 -c shared_preload_libraries=pg_stat_statements" \
    start >/dev/null
export MOAT_TEST_POSTGRES_URL="postgres://moat@127.0.0.1:$pg_port/postgres"
stop_postgres() {
    "${as_pg[@]}" "$pg_bin/pg_ctl" -D "$pg_dir/data" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$pg_dir"
}
trap stop_postgres EXIT
echo "postgres: test server at $MOAT_TEST_POSTGRES_URL" >&2
