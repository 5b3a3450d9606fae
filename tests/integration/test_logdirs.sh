#!/bin/bash
# DescribeLogDirs (API key 35) against a real kappa server, on a raw socket:
# partition sizes equal the bytes of the segment files on disk, at every
# version; truncated requests close the connection.
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/lib.sh
trap cleanup_kappa EXIT
start_kappa || { echo "FAIL: logdirs: server did not start"; exit 1; }
T="timeout 30 $KAPPA topic"
$T create sized -p 2 -b "$BROKER" >/dev/null || { echo "FAIL: logdirs: create failed"; exit 1; }
seq 1 50 | $T produce sized -p 0 -b "$BROKER" 2>/dev/null || echo "FAIL: logdirs: produce to partition 0"
seq 1 7 | $T produce sized -p 1 -b "$BROKER" 2>/dev/null || echo "FAIL: logdirs: produce to partition 1"
timeout 60 "$PY" tests/integration/logdirs_proto.py 127.0.0.1 "$KAPPA_PORT" "$KAPPA_DATA" sized 2
rc=$?
if kill -0 "$KAPPA_PID" 2>/dev/null; then pass "logdirs: server still running"; else fail "logdirs: server still running" "it exited"; rc=1; fi
exit $rc
