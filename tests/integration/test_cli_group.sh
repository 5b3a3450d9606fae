#!/bin/bash
# kappa group list|describe|seek|delete, kappa cluster info|health and
# kappa completion bash against a real kappa server, with real consumer
# groups (confluent-kafka-python, in cli_group_py.py): exact offsets and lag,
# every seek target verified by describe and by a consumer resuming from it,
# refusals while a member is active (by the CLI and by the broker), an
# unreachable broker, usage errors and JSON output.
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/lib.sh

HELPER=tests/integration/cli_group_py.py
LIVE_PID=
SICK_PID=
cleanup() {
    [ -n "$LIVE_PID" ] && kill -9 "$LIVE_PID" 2>/dev/null
    [ -n "$SICK_PID" ] && kill -9 "$SICK_PID" 2>/dev/null
    cleanup_kappa
}
trap cleanup EXIT
start_kappa --set num.partitions=2 || { echo "FAIL: cli group: server did not start"; exit 1; }

K() { timeout 30 "$KAPPA" "$@"; }
G() { K group "$@" -b "$BROKER"; }
py() { timeout 60 "$PY" "$HELPER" "$@"; }
# check NAME GOT WANT
check() { if [ "$2" == "$3" ]; then pass "$1"; else fail "$1" "got '$2' want '$3'"; fi; }
# rows GROUP: describe's text rows, offsets columns only (topic partition current end lag)
rows() { G describe "$1" --format text | cut -f2-6 | tr '\t' ' ' | tr '\n' ';'; }

# Topic gt: partition 0 has 6 early and 4 late records, partition 1 has
# 6 early ones; LATE_TS is between the two rounds.
seq 1 6 | kcat -b "$BROKER" -P -t gt -p 0
seq 1 6 | kcat -b "$BROKER" -P -t gt -p 1
sleep 1.1
LATE_TS=$(date +%s%3N)
sleep 0.1
seq 7 10 | kcat -b "$BROKER" -P -t gt -p 0

# ---- describe after consuming 7 of 10 and 2 of 6 ----
got=$(py consume "$BROKER" ga gt 7 2)
check "consumer committed 7 and 2" "$got" "0:7 1:2"
py consume "$BROKER" gb gt 10 6 >/dev/null

check "describe: current, log end and lag per partition" "$(rows ga)" "gt 0 7 10 3;gt 1 2 6 4;"
out=$(G describe ga)
if grep -q '^TOTAL_LAG    7$' <<<"$out" && grep -q '^STATE        Empty$' <<<"$out" &&
   grep -q '^MEMBERS      0$' <<<"$out" && grep -q "^COORDINATOR  1 (127.0.0.1:$KAPPA_PORT)$" <<<"$out" &&
   grep -qE '^GROUP +TOPIC +PARTITION +CURRENT_OFFSET +LOG_END_OFFSET +LAG +CONSUMER_ID +HOST +CLIENT_ID$' <<<"$out"; then
    pass "describe: header, columns and TOTAL_LAG"
else
    fail "describe: header, columns and TOTAL_LAG" "$out"
fi
got=$(G describe ga gb --json | $PY -c '
import json, sys
d = json.load(sys.stdin)
print(";".join("%s %s %d %d %s" % (g["group"], g["state"], g["members"], g["total_lag"],
      ",".join("%d/%s/%s" % (p["partition"], p["current_offset"], p["lag"]) for p in g["partitions"]))
      for g in d))')
check "describe --json (two groups)" "$got" "ga Empty 0 7 0/7/3,1/2/4;gb Empty 0 0 0/10/0,1/6/0"

# ---- list ----
check "list (text)" "$(G list --format text)" "$(printf 'ga\tEmpty\tconsumer\ngb\tEmpty\tconsumer')"
got=$(G list --json | $PY -c 'import json,sys; print(sorted((g["group"], g["state"]) for g in json.load(sys.stdin)))')
check "list --json" "$got" "[('ga', 'Empty'), ('gb', 'Empty')]"

# ---- unknown group ----
out=$(G describe nope 2>&1); rc=$?
if [ $rc -eq 1 ] && grep -q "group nope does not exist" <<<"$out"; then pass "describe unknown group: exit 1"; else fail "describe unknown group: exit 1" "rc=$rc $out"; fi
out=$(G seek nope --to start 2>&1); rc=$?
if [ $rc -eq 1 ] && grep -q "group nope does not exist" <<<"$out"; then pass "seek unknown group without --topics: exit 1"; else fail "seek unknown group without --topics: exit 1" "rc=$rc $out"; fi
out=$(G seek ga --to start --topics nosuch 2>&1); rc=$?
if [ $rc -eq 1 ] && grep -q "topic nosuch does not exist" <<<"$out"; then pass "seek unknown topic: exit 1"; else fail "seek unknown topic: exit 1" "rc=$rc $out"; fi

# ---- seek ----
out=$(G seek ga --to start --dry-run --format text 2>/dev/null); rc=$?
check "seek --dry-run prints the plan" "$rc:$(tr '\t\n' ' ;' <<<"$out")" "0:gt 0 7 0;gt 1 2 0;"
check "seek --dry-run commits nothing" "$(rows ga)" "gt 0 7 10 3;gt 1 2 6 4;"

G seek ga --to start >/dev/null 2>&1
check "seek --to start" "$(rows ga)" "gt 0 0 10 10;gt 1 0 6 6;"
G seek ga --to end >/dev/null 2>&1
check "seek --to end" "$(rows ga)" "gt 0 10 10 0;gt 1 6 6 0;"
G seek ga --to "@$LATE_TS" >/dev/null 2>&1
check "seek --to @TS (end where no record is that late)" "$(rows ga)" "gt 0 6 10 4;gt 1 6 6 0;"
G seek ga --to 8 >/dev/null 2>&1
check "seek --to OFFSET clamps to the log end" "$(rows ga)" "gt 0 8 10 2;gt 1 6 6 0;"
out=$(G seek ga --to 3 --topics gt --json 2>/dev/null)
got=$($PY -c 'import json,sys; print([(r["partition"], r["current_offset"], r["new_offset"]) for r in json.load(sys.stdin)])' <<<"$out")
check "seek --to OFFSET --topics --json" "$got" "[(0, 8, 3), (1, 6, 3)]"
check "seek --to 3 committed" "$(rows ga)" "gt 0 3 10 7;gt 1 3 6 3;"
check "a consumer resumes from the sought offsets" "$(py resume "$BROKER" ga gt | tr '\n' ' ')" "0:3:7 1:3:3 "
# A group with no offsets yet gets them with --topics (as Kafka's tool does).
G seek fresh --to "@$LATE_TS" --topics gt >/dev/null 2>&1
check "seek creates a new group's offsets" "$(rows fresh)" "gt 0 6 10 4;gt 1 6 6 0;"

# ---- an active member ----
# timeout, not the py function: a backgrounded function is a subshell that
# would not pass our TERM on.
timeout 120 "$PY" "$HELPER" live "$BROKER" ga gt > "$KAPPA_DATA.live" 2>&1 &
LIVE_PID=$!
for _ in $(seq 1 100); do grep -q assigned "$KAPPA_DATA.live" && break; sleep 0.1; done
got=$(G describe ga --json | $PY -c '
import json, sys
g = json.load(sys.stdin)[0]
print(g["state"], g["members"], g["protocol"],
      sorted({(p["client_id"], p["host"] is not None, (p["consumer_id"] or "").startswith("live-client")) for p in g["partitions"]}))')
check "describe shows the live member's partitions" "$got" "Stable 1 range [('live-client', True, True)]"
before=$(rows ga)
out=$(G seek ga --to end 2>&1); rc=$?
if [ $rc -eq 1 ] && grep -q "group ga has 1 active member(s); stop its consumers first" <<<"$out"; then
    pass "seek refused while a member is active"
else
    fail "seek refused while a member is active" "rc=$rc $out"
fi
check "refused seek changed nothing" "$(rows ga)" "$before"
# The broker refuses an admin commit (generation -1, no member id) too.
check "broker: admin commit to a group with members is UNKNOWN_MEMBER_ID" "$(py rawcommit "$BROKER" ga gt 0 9)" "25"
check "broker: refused commit changed nothing" "$(rows ga)" "$before"
out=$(G delete ga 2>&1); rc=$?
if [ $rc -eq 1 ] && grep -q "group ga has active members (NON_EMPTY_GROUP)" <<<"$out"; then
    pass "delete refused while a member is active"
else
    fail "delete refused while a member is active" "rc=$rc $out"
fi
kill "$LIVE_PID"; wait "$LIVE_PID" 2>/dev/null; LIVE_PID=
check "broker: admin commit to the empty group succeeds" "$(py rawcommit "$BROKER" ga gt 0 9)" "0"
check "after the member left, its commit is visible" "$(rows ga)" "gt 0 9 10 1;gt 1 3 6 3;"

# ---- delete ----
out=$(G delete ga --format text); rc=$?
check "delete an empty group" "$rc:$out" "$(printf '0:ga\tdeleted')"
out=$(G describe ga 2>&1); rc=$?
if [ $rc -eq 1 ] && grep -q "group ga does not exist" <<<"$out"; then pass "deleted group no longer exists"; else fail "deleted group no longer exists" "rc=$rc $out"; fi
check "list after delete" "$(G list --format text | cut -f1 | tr '\n' ' ')" "fresh gb "
out=$(G delete gb nope 2>&1); rc=$?
if [ $rc -eq 1 ] && grep -q "group nope does not exist" <<<"$out" && grep -qP '^gb +deleted$' <<<"$out"; then
    pass "delete: unknown group exit 1, the other deleted"
else
    fail "delete: unknown group exit 1, the other deleted" "rc=$rc $out"
fi

# ---- cluster info ----
out=$(K cluster info -b "$BROKER" --format text); rc=$?
want_api=$(py apiversions "$BROKER" | awk '{print $1, $2, $3}' | sort -n)
got_api=$(grep '^api' <<<"$out" | awk -F'\t' '{print $2, $4, $5}' | sort -n)
if [ $rc -eq 0 ] && grep -qP "^broker\t1\t127.0.0.1\t$KAPPA_PORT\tyes$" <<<"$out"; then pass "cluster info lists the broker as controller"; else fail "cluster info lists the broker as controller" "rc=$rc $out"; fi
if grep -qP '^api\t0\tProduce\t3\t7$' <<<"$out" && grep -qP '^api\t18\tApiVersions\t0\t3$' <<<"$out" &&
   [ -n "$want_api" ] && [ "$got_api" == "$want_api" ]; then
    pass "cluster info ApiVersions (Produce 3..7, all ranges match a raw request)"
else
    fail "cluster info ApiVersions" "$(diff <(echo "$want_api") <(echo "$got_api") | head -5) $(grep Produce <<<"$out")"
fi
ntopics=$(kcat -b "$BROKER" -L -J | $PY -c 'import json,sys; d=json.load(sys.stdin); print(len(d["topics"]), sum(len(t["partitions"]) for t in d["topics"]))')
got=$(K cluster info -b "$BROKER" --json | $PY -c '
import json, sys
d = json.load(sys.stdin)
print(d["topics"], d["partitions"], d["cluster_id"] is not None, d["controller_id"],
      [(b["id"], b["controller"]) for b in d["brokers"]],
      [(a["min"], a["max"]) for a in d["api_versions"] if a["api"] == "Produce"])')
check "cluster info --json" "$got" "$ntopics True 1 [(1, 'yes')] [(3, 7)]"

# ---- cluster health ----
out=$(K cluster health -b "$BROKER"); rc=$?
read -r nt np <<<"$ntopics"
check "cluster health: healthy" "$rc:$out" "0:healthy: 1 broker(s), $nt topic(s), $np partition(s)"
got=$(K cluster health -b "$BROKER" --json | $PY -c 'import json,sys; d=json.load(sys.stdin); print(d["healthy"], d["brokers"], d["problems"])')
check "cluster health --json" "$got" "True 1 []"

# An unhealthy cluster, from a stand-in broker whose metadata has a
# leaderless partition and one led by an unlisted broker.
timeout 60 "$PY" "$HELPER" sickbroker > "$KAPPA_DATA.sick" 2>&1 &
SICK_PID=$!
for _ in $(seq 1 50); do [ -s "$KAPPA_DATA.sick" ] && break; sleep 0.1; done
SICK=127.0.0.1:$(head -n 1 "$KAPPA_DATA.sick")
out=$(K cluster health -b "$SICK" --timeout 5000); rc=$?
check "cluster health: unhealthy cluster lists its problems, exit 1" "$rc:$out" "1:unhealthy: 2 problem(s)
  topic sick partition 0: Broker: Leader not available
  topic sick partition 1: leader 7 is not among the brokers"
got=$(K cluster health -b "$SICK" --timeout 5000 --json | $PY -c 'import json,sys; d=json.load(sys.stdin); print(d["healthy"], d["topics"], d["partitions"], len(d["problems"]))')
check "cluster health --json: unhealthy" "$got" "False 2 4 2"
got=$(K cluster info -b "$SICK" --timeout 5000 --format text | grep -E '^(cluster_id|api)' | tr '\t\n' ' ;')
check "cluster info against another broker (no cluster id, its own versions)" "$got" "cluster_id -;api 3 Metadata 0 1;api 18 ApiVersions 0 0;"
kill "$SICK_PID" 2>/dev/null; wait "$SICK_PID" 2>/dev/null

# ---- an unreachable broker: exit 3 within about 3 s ----
for cmd in "group list" "group describe ga" "cluster info" "cluster health"; do
    start=$(date +%s%3N)
    out=$(K $cmd -b 127.0.0.1:1 --timeout 2000 2>&1); rc=$?
    ms=$(( $(date +%s%3N) - start ))
    if [ $rc -eq 3 ] && [ $ms -lt 3500 ] && grep -q "cannot reach a broker at 127.0.0.1:1" <<<"$out"; then
        pass "$cmd: broker down -> exit 3 (${ms}ms)"
    else
        fail "$cmd: broker down -> exit 3" "rc=$rc after ${ms}ms: $out"
    fi
done

# ---- usage errors exit 2, --help exits 0 ----
usage_ok=1
for args in "group" "group bogus" "group list --bogus" "group list extra" "group describe" \
            "group seek ga" "group seek ga --to nowhere" "group seek ga --to @x" "group seek ga b --to end" \
            "group seek ga --to end --topics ," "group delete" "group list --format xml" \
            "group list --timeout" "cluster" "cluster info --bogus" "cluster health extra" \
            "cluster bogus" "completion" "completion fish"; do
    K $args -b "$BROKER" >/dev/null 2>"$KAPPA_DATA.err"; rc=$?
    if [ $rc -ne 2 ] || ! [ -s "$KAPPA_DATA.err" ]; then usage_ok=0; echo "    '$args' -> $rc"; fi
done
if [ $usage_ok == 1 ]; then pass "usage errors exit 2 with a message"; else fail "usage errors exit 2 with a message" "see above"; fi
help_ok=1
for args in "group" "group list" "group describe" "group seek" "group delete" "cluster" \
            "cluster info" "cluster health" "completion"; do
    out=$(K $args --help 2>&1); rc=$?
    if [ $rc -ne 0 ] || ! grep -q "^usage: kappa $args" <<<"$out"; then help_ok=0; echo "    '$args --help' -> $rc"; fi
done
if [ $help_ok == 1 ]; then pass "--help on every group/cluster/completion command exits 0"; else fail "--help exits 0" "see above"; fi

# ---- bash completion ----
got=$(bash -c '
source <("$1" completion bash) || exit 1
t() { COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); COMPREPLY=(); _kappa; echo "${COMPREPLY[*]}"; }
t kappa gr
t kappa group ""
t kappa cl
t kappa cluster ""
t kappa ""
t "$1" group describe -b "$2" f
t "$1" group seek -b "$2" ""
t "$1" group seek -b "$2" fresh --t
t kappa group seek g --to ""
t kappa group list --format j
t kappa bench produce --compression ""
t kappa completion ""
t kappa job ""
complete -p kappa
' _ "$KAPPA" "$BROKER" 2>&1)
want="group
list describe seek delete
cluster
info health
server topic group cluster view log job nexmark bench demo version help completion
fresh
fresh
--to --topics --timeout
start end @
json
none gzip snappy lz4 zstd
bash
run deploy list stop start status diff promote retire
complete -F _kappa kappa"
if [ "$got" == "$want" ]; then pass "bash completion: commands, subcommands, flags, group names"; else fail "bash completion" "$(diff <(echo "$want") <(echo "$got"))"; fi
