#!/bin/bash
# confluent-kafka-python and kafka-python against a real kappa server.
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/lib.sh
trap cleanup_kappa EXIT
start_kappa || { echo "FAIL: clients: server did not start"; exit 1; }
timeout 240 "$PY" tests/integration/clients_py.py "$BROKER"
