#!/bin/bash
# Idempotent producers: dedup, gaps, fencing, and dedup across a SIGKILL restart.
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/lib.sh
trap cleanup_kappa EXIT
start_kappa || { echo "FAIL: idempotence: server did not start"; exit 1; }
state=$KAPPA_DATA.state
timeout 120 "$PY" tests/integration/idempotence_py.py before 127.0.0.1 "$KAPPA_PORT" "$state"
rc=$?
restart_kappa KILL || { echo "FAIL: idempotence: restart"; exit 1; }
timeout 60 "$PY" tests/integration/idempotence_py.py after 127.0.0.1 "$KAPPA_PORT" "$state" || rc=1
rm -f "$state"
exit $rc
