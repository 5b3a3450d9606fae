#!/bin/sh
# Install the Debian packages kappa's build and tests need.  Idempotent: it
# asks dpkg what is missing and installs only that, as root or through sudo.
# `make run`, `make test` and `make bench` call it first.
set -eu

# Build: compilers, the codec libraries, libmicrohttpd (the HTTP listener),
# SQLite (the view store), libpq and libcurl (the PostgreSQL and ClickHouse
# view sinks).  Tests: real PostgreSQL and ClickHouse servers (started by
# the tests on loopback), the sqlite3 shell, wrk (lookup benchmark).
# Tests: promtool (Debian prometheus) checks /metrics; the real Kafka clients
# the integration tests drive (kcat, confluent-kafka-python, kafka-python on
# Debian's python3; kafkajs comes from npm with a lockfile, installed by
# tests/integration/test_kafkajs.sh).
PKGS="build-essential clang pkg-config zlib1g-dev libzstd-dev liblz4-dev libsnappy-dev
      libclang-rt-14-dev util-linux librdkafka-dev libmicrohttpd-dev liblmdb-dev
      librocksdb-dev libsqlite3-dev libpq-dev libcurl4-openssl-dev
      prometheus curl sqlite3 postgresql clickhouse-server wrk
      kcat python3 python3-confluent-kafka python3-kafka"
# Node.js may come from elsewhere than Debian (this machine kind ships
# NodeSource's, which bundles npm and conflicts with Debian's npm): only
# install Debian's when the commands are missing.
command -v node >/dev/null 2>&1 || PKGS="$PKGS nodejs"
command -v npm >/dev/null 2>&1 || PKGS="$PKGS npm"

missing=""
for p in $PKGS; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
        missing="$missing $p"
    fi
done
[ -z "$missing" ] && exit 0

echo "install-deps: installing:$missing"
if [ "$(id -u)" -eq 0 ]; then
    SUDO=""
elif command -v sudo >/dev/null 2>&1; then
    SUDO="sudo"
else
    echo "install-deps: need root or sudo to install:$missing" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing
