#!/bin/bash
# Consumer groups and committed offsets, driven by real clients: kcat -G,
# confluent-kafka-python (librdkafka), kafka-python; admin list/describe/
# delete; session expiry of a killed member; offsets across restarts
# (SIGTERM and SIGKILL).  The scenarios live in groups_clients.py.
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/lib.sh

HELPER=tests/integration/groups_clients.py
PROTO=tests/integration/groups_proto.py
SESSION_MS=3000
BG_PIDS=()

cleanup() {
    for p in "${BG_PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
    cleanup_kappa
}
trap cleanup EXIT

server_log() { tail -n 25 "$KAPPA_DATA.log" | sed 's/^/    server| /'; }

# run_py NAME TIMEOUT SCENARIO ARGS...: the helper prints PASS/FAIL lines.
run_py() {
    local name=$1 tmo=$2 out rc
    shift 2
    out=$(timeout "$tmo" "$PY" "$HELPER" "$1" "$BROKER" "${@:2}" 2>&1)
    rc=$?
    echo "$out" | grep -E '^(PASS|FAIL): '
    if echo "$out" | grep -q '^FAIL: '; then
        echo "$out" | grep -vE '^(PASS|FAIL): ' | tail -n 10 | sed 's/^/    client| /'
        server_log
    elif [ $rc -ne 0 ]; then
        fail "$name" "helper exited with status $rc: $(echo "$out" | tail -n 3 | tr '\n' ' ')"
    fi
}

# run_proto NAME TIMEOUT ARGS...: the raw-protocol helper, same conventions.
run_proto() {
    local name=$1 tmo=$2 out rc
    shift 2
    out=$(timeout "$tmo" "$PY" "$PROTO" "$BROKER" "$@" 2>&1)
    rc=$?
    echo "$out" | grep -E '^(PASS|FAIL): '
    if echo "$out" | grep -q '^FAIL: '; then
        echo "$out" | grep -vE '^(PASS|FAIL): ' | tail -n 10 | sed 's/^/    client| /'
        server_log
    elif [ $rc -ne 0 ]; then
        fail "$name" "helper exited with status $rc: $(echo "$out" | tail -n 3 | tr '\n' ' ')"
    fi
}

# SIGTERM while a JoinGroup is parked: it is answered (its connection is
# gone by then) and the shutdown is clean.
shutdown_parked_test() {
    local out=$KAPPA_DATA.park deadline
    : >"$out"
    "$PY" "$PROTO" "$BROKER" park pk_group >"$out" 2>&1 &
    local pp=$!
    BG_PIDS+=("$pp")
    deadline=$((SECONDS + 20))
    until grep -q '^parked' "$out" || [ $SECONDS -ge $deadline ]; do sleep 0.1; done
    if ! grep -q '^parked' "$out"; then
        fail shutdown_with_parked_join "could not park a JoinGroup: $(tr '\n' ';' <"$out")"
        { kill -9 "$pp" && wait "$pp"; } 2>/dev/null
        return 1
    fi
    local pid=$KAPPA_PID
    if restart_kappa TERM; then
        if tail -n 40 "$KAPPA_DATA.log" | grep -q 'clean shutdown complete'; then
            pass shutdown_with_parked_join
        else
            fail shutdown_with_parked_join "no clean shutdown (pid $pid)"
        fi
    else
        fail shutdown_with_parked_join "kappa did not come back"
        { kill -9 "$pp" && wait "$pp"; } 2>/dev/null
        return 1
    fi
    { kill -9 "$pp" && wait "$pp"; } 2>/dev/null
    return 0
}

kcat_consume() {    # group topic -> the values read, one per line
    timeout 30 kcat -b "$BROKER" -G "$1" -q -e -f '%s\n' \
        -X auto.offset.reset=earliest -X session.timeout.ms=6000 "$2" 2>/dev/null
}

# ---- kcat -G ----
kcat_test() {
    local t=kc_topic g=kc_group out
    seq 1 10 | sed 's/^/m/' | timeout 20 kcat -P -b "$BROKER" -t $t || {
        fail kcat_group_consume "produce failed"; return; }
    out=$(kcat_consume $g $t)
    if [ "$(echo "$out" | sort -V | tr '\n' ' ')" = "$(seq 1 10 | sed 's/^/m/' | tr '\n' ' ')" ]; then
        pass kcat_group_consume
    else
        fail kcat_group_consume "first run read: $(echo "$out" | tr '\n' ' ')"
    fi
    printf 'm11\nm12\nm13\n' | timeout 20 kcat -P -b "$BROKER" -t $t
    out=$(kcat_consume $g $t)
    if [ "$(echo "$out" | tr '\n' ' ')" = "m11 m12 m13 " ]; then
        pass kcat_group_resumes_after_commit
    else
        fail kcat_group_resumes_after_commit "second run read: $(echo "$out" | tr '\n' ' ')"
    fi
    out=$(kcat_consume $g $t)
    if [ -z "$out" ]; then
        pass kcat_group_nothing_new
    else
        fail kcat_group_nothing_new "third run read: $(echo "$out" | tr '\n' ' ')"
    fi
}

# ---- a member killed with SIGKILL is expired after its session ----
session_test() {
    local t=st_topic g=st_group a b t0 t1 line deadline
    run_py session_topic 30 create-topic $t 4
    a=$KAPPA_DATA.member_a
    b=$KAPPA_DATA.member_b
    : >"$a"
    : >"$b"
    "$PY" "$HELPER" session-member "$BROKER" $t $g $SESSION_MS >"$a" 2>&1 &
    local pa=$!
    BG_PIDS+=("$pa")
    deadline=$((SECONDS + 20))
    until grep -q '^ASSIGNED 4 ' "$a" || [ $SECONDS -ge $deadline ]; do sleep 0.1; done
    "$PY" "$HELPER" session-member "$BROKER" $t $g $SESSION_MS >"$b" 2>&1 &
    local pb=$!
    BG_PIDS+=("$pb")
    deadline=$((SECONDS + 20))
    until { tail -n 1 "$a" | grep -q '^ASSIGNED 2 ' && tail -n 1 "$b" | grep -q '^ASSIGNED 2 '; } ||
          [ $SECONDS -ge $deadline ]; do sleep 0.1; done
    if ! tail -n 1 "$b" | grep -q '^ASSIGNED 2 '; then
        fail session_timeout_reassigns "the two members never split the partitions:" \
             "a: $(tr '\n' ';' <"$a") b: $(tr '\n' ';' <"$b")"
        { kill -9 "$pa" "$pb" && wait "$pa" "$pb"; } 2>/dev/null
        return
    fi
    { kill -9 "$pa" && wait "$pa"; } 2>/dev/null
    t0=$(date +%s.%N)
    deadline=$((SECONDS + SESSION_MS / 1000 + 15))
    until tail -n 1 "$b" | grep -q '^ASSIGNED 4 ' || [ $SECONDS -ge $deadline ]; do sleep 0.1; done
    line=$(grep '^ASSIGNED 4 ' "$b" | tail -n 1)
    { kill -9 "$pb" && wait "$pb"; } 2>/dev/null
    if [ -z "$line" ]; then
        fail session_timeout_reassigns "survivor never got all 4: $(tr '\n' ';' <"$b")"
        return
    fi
    t1=$(echo "$line" | awk '{print $3}')
    if awk -v a="$t0" -v b="$t1" -v s="$SESSION_MS" 'BEGIN { exit !(b - a <= s / 1000 + 5) }'; then
        pass session_timeout_reassigns
    else
        fail session_timeout_reassigns "took $(awk -v a="$t0" -v b="$t1" 'BEGIN{print b-a}')s" \
             "(session ${SESSION_MS}ms)"
    fi
}

if ! start_kappa --set group.min.session.timeout.ms=1000; then
    fail groups_server_start "kappa did not start"
    exit 1
fi

kcat_test
run_py confluent 90 confluent ck_topic ck_group
run_py cooperative 90 cooperative co_topic co_group
run_py kafkapython 60 kafkapython kp_topic kp_group
run_py admin 60 admin ad_topic ad_active ad_idle
session_test
run_proto proto_checks 60 checks
seed=${KAPPA_SEED:-$RANDOM}
echo "group fuzz seed $seed (KAPPA_SEED=$seed to replay)"
run_proto proto_fuzz 60 fuzz "$seed" 1500

# Offsets survive restarts: a clean one and a kill -9.
run_py restart1 40 restart rs_topic rs_group 1
if shutdown_parked_test; then
    run_py restart2 40 restart rs_topic rs_group 2
    run_py deleted 30 deleted ad_topic ad_idle
else
    fail restart_term "kappa did not come back after SIGTERM"
fi
if restart_kappa KILL; then
    run_py restart3 40 restart rs_topic rs_group 3
    printf 'm14\nm15\n' | timeout 20 kcat -P -b "$BROKER" -t kc_topic
    out=$(kcat_consume kc_group kc_topic)
    if [ "$(echo "$out" | tr '\n' ' ')" = "m14 m15 " ]; then
        pass kcat_group_resumes_after_kill9
    else
        fail kcat_group_resumes_after_kill9 "read: $(echo "$out" | tr '\n' ' ')"
    fi
else
    fail restart_kill "kappa did not come back after SIGKILL"
fi

# Every run of the server above logged to one file: no sanitizer report, no
# crash, and the last shutdown is clean.
stop_kappa TERM
if grep -qE 'AddressSanitizer|LeakSanitizer|runtime error:|Segmentation|Aborted' "$KAPPA_DATA.log"; then
    fail groups_server_log_clean "$(grep -m 3 -E 'Sanitizer|runtime error:' "$KAPPA_DATA.log")"
elif ! tail -n 3 "$KAPPA_DATA.log" | grep -q 'clean shutdown complete'; then
    fail groups_server_log_clean "last shutdown not clean: $(tail -n 3 "$KAPPA_DATA.log")"
else
    pass groups_server_log_clean
fi
exit 0
