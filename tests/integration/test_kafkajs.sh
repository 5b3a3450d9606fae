#!/bin/bash
# kafkajs (npm, pinned by package-lock.json) against a real kappa server.
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/lib.sh
trap cleanup_kappa EXIT
if [ ! -d tests/integration/js/node_modules/kafkajs ]; then
    (cd tests/integration/js && timeout 300 npm ci --no-audit --no-fund >/dev/null 2>&1) || {
        echo "FAIL: kafkajs: npm ci failed in tests/integration/js"; exit 1; }
fi
start_kappa || { echo "FAIL: kafkajs: server did not start"; exit 1; }
cd tests/integration/js && timeout 120 node kafkajs_test.js "$BROKER"
