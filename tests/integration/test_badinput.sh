#!/bin/bash
# Malformed frames and requests against a real kappa server.
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/lib.sh
trap cleanup_kappa EXIT
start_kappa --set socket.request.max.bytes=1048576 || { echo "FAIL: badinput: server did not start"; exit 1; }
timeout 60 "$PY" tests/integration/badinput_py.py 127.0.0.1 "$KAPPA_PORT"
rc=$?
if kill -0 "$KAPPA_PID" 2>/dev/null; then echo "PASS: server survived every malformed request"; else echo "FAIL: server survived every malformed request: it exited"; rc=1; fi
exit $rc
