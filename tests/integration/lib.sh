# Shared helpers for integration tests (sourced, not run).
#
# start_kappa [--set k=v ...]   start build/kappa server on a free loopback port
#                               in a fresh data dir; sets KAPPA_PORT, KAPPA_DATA,
#                               KAPPA_PID, BROKER (127.0.0.1:port), and HTTP
#                               (127.0.0.1:port of its HTTP listener)
# stop_kappa [TERM|KILL]        stop it (default TERM) and wait
# restart_kappa [TERM|KILL]     stop and start again on the same port and data
# pass NAME / fail NAME WHY     print the PASS:/FAIL: lines tests/run.sh counts
# PY                            Debian's python3 (the one with python3-confluent-kafka)
set -u
KAPPA=${KAPPA:-$PWD/build/kappa}
PY=/usr/bin/python3
KAPPA_PID=
KAPPA_ARGS=()

free_port() {
    $PY - <<'PYEOF'
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()
PYEOF
}

_launch() {
    "$KAPPA" server --set "listeners=127.0.0.1:$KAPPA_PORT" --set "log.dirs=$KAPPA_DATA" \
        --set "kappa.http.listener=$HTTP" \
        --set group.initial.rebalance.delay.ms=0 "${KAPPA_ARGS[@]}" \
        >>"$KAPPA_DATA.log" 2>&1 &
    KAPPA_PID=$!
    for _ in $(seq 1 100); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$KAPPA_PORT") 2>/dev/null; then
            return 0
        fi
        if ! kill -0 "$KAPPA_PID" 2>/dev/null; then
            echo "kappa server exited; log:" >&2
            tail -n 30 "$KAPPA_DATA.log" >&2
            return 1
        fi
        sleep 0.05
    done
    echo "kappa server did not start listening" >&2
    return 1
}

start_kappa() {
    KAPPA_ARGS=("$@")
    KAPPA_PORT=$(free_port)
    KAPPA_DATA=$(mktemp -d "${TMPDIR:-/tmp}/kappa-it-XXXXXX")
    BROKER=127.0.0.1:$KAPPA_PORT
    HTTP=127.0.0.1:$(free_port)
    _launch
}

stop_kappa() {
    local sig=${1:-TERM}
    [ -n "$KAPPA_PID" ] || return 0
    kill -"$sig" "$KAPPA_PID" 2>/dev/null
    wait "$KAPPA_PID" 2>/dev/null
    KAPPA_PID=
}

restart_kappa() {
    stop_kappa "${1:-TERM}"
    _launch
}

cleanup_kappa() {
    stop_kappa KILL
    if [ -n "${KAPPA_DATA:-}" ]; then
        # The data dir and every sidecar file a test made beside it
        # (DATA.log, DATA.state, DATA.park, ...).
        rm -rf "$KAPPA_DATA" "$KAPPA_DATA".*
    fi
}

pass() { echo "PASS: $1"; }
fail() { echo "FAIL: $1: $2"; [ -n "${KAPPA_DATA:-}" ] && tail -n 20 "$KAPPA_DATA.log" | sed 's/^/    server| /'; }
