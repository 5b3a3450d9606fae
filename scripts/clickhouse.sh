#!/bin/sh
# Start or stop a private ClickHouse server for tests and benchmarks.
#
#   scripts/clickhouse.sh start DIR PORT   HTTP interface on 127.0.0.1:PORT,
#                                          data, logs and config in DIR
#   scripts/clickhouse.sh stop DIR         (PORT accepted and ignored)
#
# The server is Debian's clickhouse-server (18.16).  The packaged config
# points at /var/lib/clickhouse and well-known ports; we write a minimal
# config.xml/users.xml into DIR instead so several servers (and a system
# one) can coexist.  The native TCP port must be set to something: we pick a
# free one.  Runs as the invoking user (root is fine for ClickHouse).  Every
# wait is bounded and says what it waited for when it gives up.
set -eu

usage() { echo "usage: $0 start|stop DIR [PORT]" >&2; exit 2; }
[ $# -ge 2 ] || usage
cmd=$1
dir=$2
port=${3:-}
BIN=${CLICKHOUSE_BIN:-/usr/sbin/clickhouse-server}
WAIT_S=${CLICKHOUSE_WAIT_S:-60}

free_port() {
    /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

answers() {
    [ "$(curl -s --max-time 2 "http://127.0.0.1:$1/?query=SELECT%201" 2>/dev/null)" = "1" ]
}

case $cmd in
start)
    [ -n "$port" ] || usage
    if [ ! -x "$BIN" ]; then
        echo "clickhouse.sh: $BIN not found: run scripts/install-deps.sh (package clickhouse-server)" >&2
        exit 1
    fi
    mkdir -p "$dir/data" "$dir/tmp" "$dir/user_files" "$dir/format_schemas"
    dir=$(cd "$dir" && pwd)
    if [ -f "$dir/server.pid" ] && kill -0 "$(cat "$dir/server.pid")" 2>/dev/null; then
        echo "clickhouse.sh: already running in $dir (pid $(cat "$dir/server.pid"))" >&2
        exit 1
    fi
    tcp_port=$(free_port)
    cat >"$dir/config.xml" <<XML
<?xml version="1.0"?>
<yandex>
    <logger>
        <level>warning</level>
        <log>$dir/server.log</log>
        <errorlog>$dir/server.err.log</errorlog>
        <size>100M</size>
        <count>2</count>
    </logger>
    <http_port>$port</http_port>
    <tcp_port>$tcp_port</tcp_port>
    <listen_host>127.0.0.1</listen_host>
    <max_connections>256</max_connections>
    <keep_alive_timeout>10</keep_alive_timeout>
    <max_concurrent_queries>64</max_concurrent_queries>
    <uncompressed_cache_size>268435456</uncompressed_cache_size>
    <mark_cache_size>268435456</mark_cache_size>
    <path>$dir/data/</path>
    <tmp_path>$dir/tmp/</tmp_path>
    <user_files_path>$dir/user_files/</user_files_path>
    <format_schema_path>$dir/format_schemas/</format_schema_path>
    <users_config>$dir/users.xml</users_config>
    <default_profile>default</default_profile>
    <default_database>default</default_database>
    <mlock_executable>false</mlock_executable>
</yandex>
XML
    cat >"$dir/users.xml" <<'XML'
<?xml version="1.0"?>
<yandex>
    <profiles>
        <default>
            <max_memory_usage>2000000000</max_memory_usage>
        </default>
    </profiles>
    <users>
        <default>
            <password></password>
            <networks><ip>127.0.0.1</ip><ip>::1</ip></networks>
            <profile>default</profile>
            <quota>default</quota>
        </default>
    </users>
    <quotas>
        <default>
            <interval>
                <duration>3600</duration>
                <queries>0</queries>
                <errors>0</errors>
                <result_rows>0</result_rows>
                <read_rows>0</read_rows>
                <execution_time>0</execution_time>
            </interval>
        </default>
    </quotas>
</yandex>
XML
    # Not --daemon: we keep the pid ourselves and the server's stdout/stderr
    # land in DIR, where a failed start can be read.
    (cd "$dir" && nohup "$BIN" --config-file="$dir/config.xml" \
        >"$dir/stdout.log" 2>&1 </dev/null & echo $! >"$dir/server.pid")
    pid=$(cat "$dir/server.pid")
    i=0
    while ! answers "$port"; do
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "clickhouse.sh: clickhouse-server exited during start; last log lines:" >&2
            tail -n 20 "$dir/stdout.log" "$dir/server.err.log" 2>/dev/null >&2 || true
            exit 1
        fi
        i=$((i + 1))
        if [ "$i" -gt $((WAIT_S * 5)) ]; then
            echo "clickhouse.sh: no answer to SELECT 1 on 127.0.0.1:$port after ${WAIT_S}s; log: $dir/server.err.log" >&2
            kill "$pid" 2>/dev/null || true
            exit 1
        fi
        sleep 0.2
    done
    ;;
stop)
    [ -f "$dir/server.pid" ] || exit 0
    pid=$(cat "$dir/server.pid")
    if kill -0 "$pid" 2>/dev/null; then
        kill "$pid"
        i=0
        while kill -0 "$pid" 2>/dev/null; do
            i=$((i + 1))
            if [ "$i" -gt 150 ]; then
                echo "clickhouse.sh: pid $pid still running after 30s; sending SIGKILL" >&2
                kill -9 "$pid" 2>/dev/null || true
                break
            fi
            sleep 0.2
        done
    fi
    rm -f "$dir/server.pid"
    ;;
*) usage ;;
esac
