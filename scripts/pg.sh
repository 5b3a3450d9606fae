#!/bin/sh
# Start or stop a private PostgreSQL server for tests and benchmarks.
#
#   scripts/pg.sh start DIR PORT   cluster in DIR, listening on 127.0.0.1:PORT
#                                  (and a unix socket in DIR), trust auth on
#                                  loopback: postgresql://postgres@127.0.0.1:PORT/postgres
#   scripts/pg.sh stop DIR         (PORT accepted and ignored)
#
# The server is Debian's PostgreSQL 15 (/usr/lib/postgresql/15/bin).  initdb
# and postgres refuse to run as root, so when we are root DIR is chowned to
# the `postgres` user the Debian package creates and the server runs as it;
# otherwise it runs as the invoking user.  Every wait is bounded and says
# what it waited for when it gives up.
set -eu

usage() { echo "usage: $0 start|stop DIR [PORT]" >&2; exit 2; }
[ $# -ge 2 ] || usage
cmd=$1
dir=$2
port=${3:-}
PGBIN=${PGBIN:-}
if [ -z "$PGBIN" ]; then
    for v in 15 16 17 14 13; do
        if [ -x "/usr/lib/postgresql/$v/bin/pg_ctl" ]; then PGBIN=/usr/lib/postgresql/$v/bin; break; fi
    done
fi
WAIT_S=${PG_WAIT_S:-60}

# as_pg CMD...: run as the server's user.
as_pg() {
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

case $cmd in
start)
    [ -n "$port" ] || usage
    if [ -z "$PGBIN" ] || [ ! -x "$PGBIN/pg_ctl" ]; then
        echo "pg.sh: PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin: run scripts/install-deps.sh (package postgresql)" >&2
        exit 1
    fi
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    if [ "$(id -u)" -eq 0 ]; then
        if ! id postgres >/dev/null 2>&1; then
            echo "pg.sh: running as root but there is no 'postgres' user to run the server as (package postgresql creates it)" >&2
            exit 1
        fi
        chown postgres "$dir"
        chmod 700 "$dir"
        if ! runuser -u postgres -- test -w "$dir"; then
            echo "pg.sh: user postgres cannot write $dir (a parent directory is not searchable by it?); use a directory under /tmp" >&2
            exit 1
        fi
    fi
    if [ ! -f "$dir/data/PG_VERSION" ]; then
        as_pg "$PGBIN/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --locale=C \
            >"$dir/initdb.log" 2>&1 || {
            echo "pg.sh: initdb failed:" >&2; tail -n 20 "$dir/initdb.log" >&2; exit 1; }
        # Loopback only, trust: a throwaway server for tests.
        cat >"$dir/data/pg_hba.conf" <<HBA
local all all trust
host all all 127.0.0.1/32 trust
host all all ::1/128 trust
HBA
    fi
    # -w -t: pg_ctl itself waits (bounded) until the server accepts connections.
    if ! as_pg "$PGBIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t "$WAIT_S" \
        -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c max_connections=50" start \
        >"$dir/pg_ctl.log" 2>&1; then
        echo "pg.sh: the server did not start on 127.0.0.1:$port within ${WAIT_S}s:" >&2
        tail -n 5 "$dir/pg_ctl.log" >&2
        tail -n 20 "$dir/server.log" >&2 2>/dev/null || true
        exit 1
    fi
    ;;
stop)
    [ -f "$dir/data/postmaster.pid" ] || exit 0
    as_pg "$PGBIN/pg_ctl" -D "$dir/data" -m fast -w -t 30 stop >/dev/null 2>&1 || {
        pid=$(head -n 1 "$dir/data/postmaster.pid" 2>/dev/null || true)
        echo "pg.sh: pg_ctl stop failed; sending SIGKILL to $pid" >&2
        [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null || true
    }
    ;;
*) usage ;;
esac
