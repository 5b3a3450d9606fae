"""The transaction coordinator's answers on the wire: InitProducerId with a
transactional id (v1, and v3/v4 with the KIP-360 epoch bump),
AddPartitionsToTxn, AddOffsetsToTxn, TxnOffsetCommit and EndTxn, with the
error codes Kafka gives for a stale epoch, an unknown producer id, a wrong
state, a bad timeout.

Usage: txn_proto.py HOST PORT
"""
import socket
import struct
import sys

HOST, PORT = sys.argv[1], int(sys.argv[2])
failed = 0
corr = 0

NONE, UNKNOWN_TOPIC, INVALID_REQUEST, INVALID_EPOCH, INVALID_TXN_STATE = 0, 3, 42, 47, 48
INVALID_MAPPING, INVALID_TIMEOUT, NOT_ATTEMPTED, PRODUCER_FENCED = 49, 50, 55, 90


def check(name, ok, why=""):
    global failed
    if ok:
        print(f"PASS: txn proto: {name}", flush=True)
    else:
        failed += 1
        print(f"FAIL: txn proto: {name}: {why}", flush=True)


def recv(s, n):
    b = b""
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c:
            raise EOFError("closed")
        b += c
    return b


sock = socket.create_connection((HOST, PORT), timeout=30)


def rpc(key, ver, body, flexible=False):
    """One request on the shared connection; returns the body after the
    correlation id (and, when flexible, the header's tag section)."""
    global corr
    corr += 1
    h = struct.pack(">hhih", key, ver, corr, 2) + b"it" + (b"\x00" if flexible else b"")
    payload = h + body
    sock.sendall(struct.pack(">i", len(payload)) + payload)
    n = struct.unpack(">i", recv(sock, 4))[0]
    r = recv(sock, n)
    assert struct.unpack(">i", r[:4])[0] == corr
    return r[5:] if flexible else r[4:]


def s16(v):
    return struct.pack(">h", len(v)) + v


def init_v1(txn, timeout=10000):
    r = rpc(22, 1, s16(txn) + struct.pack(">i", timeout))
    _, err, pid, epoch = struct.unpack(">ihqh", r[:16])
    return err, pid, epoch


def init_v3(txn, pid, epoch, ver=3, timeout=10000):
    body = bytes([len(txn) + 1]) + txn + struct.pack(">iqh", timeout, pid, epoch) + b"\x00"
    r = rpc(22, ver, body, flexible=True)
    _, err, npid, nepoch = struct.unpack(">ihqh", r[:16])
    return err, npid, nepoch


def add_partitions(txn, pid, epoch, topic, parts):
    body = s16(txn) + struct.pack(">qh", pid, epoch) + struct.pack(">i", 1) + s16(topic)
    body += struct.pack(">i", len(parts)) + b"".join(struct.pack(">i", p) for p in parts)
    r = rpc(24, 1, body)
    pos = 4
    nt = struct.unpack(">i", r[pos:pos + 4])[0]
    pos += 4
    out = {}
    for _ in range(nt):
        ln = struct.unpack(">h", r[pos:pos + 2])[0]
        pos += 2 + ln
        npart = struct.unpack(">i", r[pos:pos + 4])[0]
        pos += 4
        for _ in range(npart):
            p, e = struct.unpack(">ih", r[pos:pos + 6])
            pos += 6
            out[p] = e
    return out


def add_offsets(txn, pid, epoch, group):
    r = rpc(25, 1, s16(txn) + struct.pack(">qh", pid, epoch) + s16(group))
    return struct.unpack(">ih", r[:6])[1]


def end_txn(txn, pid, epoch, commit):
    r = rpc(26, 1, s16(txn) + struct.pack(">qhb", pid, epoch, 1 if commit else 0))
    return struct.unpack(">ih", r[:6])[1]


def txn_offset_commit(txn, group, pid, epoch, topic, partition, offset):
    body = s16(txn) + s16(group) + struct.pack(">qh", pid, epoch) + struct.pack(">i", 1)
    body += s16(topic) + struct.pack(">i", 1) + struct.pack(">iqi", partition, offset, -1)
    body += struct.pack(">h", -1)
    r = rpc(28, 2, body)
    # throttle, [topic: name, [partition, error]]
    pos = 4 + 4
    ln = struct.unpack(">h", r[pos:pos + 2])[0]
    pos += 2 + ln + 4
    return struct.unpack(">ih", r[pos:pos + 6])[1]


def offset_fetch(group, topic, partition):
    body = s16(group) + struct.pack(">i", 1) + s16(topic) + struct.pack(">ii", 1, partition)
    r = rpc(9, 1, body)
    pos = 4
    ln = struct.unpack(">h", r[pos:pos + 2])[0]
    pos += 2 + ln + 4
    _, off = struct.unpack(">iq", r[pos:pos + 12])
    return off


def create_topic(name, partitions):
    body = struct.pack(">i", 1) + s16(name) + struct.pack(">ih", partitions, 1)
    body += struct.pack(">ii", 0, 0) + struct.pack(">i", 30000)
    rpc(19, 0, body)


def api_versions():
    r = rpc(18, 0, b"")
    err, n = struct.unpack(">hi", r[:6])
    keys = {}
    for i in range(n):
        k, lo, hi = struct.unpack(">hhh", r[6 + 6 * i:12 + 6 * i])
        keys[k] = (lo, hi)
    return keys


keys = api_versions()
check("ApiVersions advertises InitProducerId 0-4 and the transaction APIs",
      keys.get(22) == (0, 4) and keys.get(24) == (0, 1) and keys.get(25) == (0, 1) and
      keys.get(26) == (0, 1) and keys.get(28) == (0, 2), f"{keys}")

topic = b"txn-proto"
create_topic(topic, 2)
tid = b"proto-txn"

err, _, _ = init_v1(tid, timeout=70000)
check("a timeout above transaction.max.timeout.ms is INVALID_TRANSACTION_TIMEOUT",
      err == INVALID_TIMEOUT, f"error {err}")
err, _, _ = init_v1(b"")
check("an empty transactional id is INVALID_REQUEST", err == INVALID_REQUEST, f"error {err}")
err, pid, epoch = init_v1(tid)
check("InitProducerId gives a producer id at epoch 0", err == NONE and pid >= 0 and epoch == 0,
      f"{err} {pid} {epoch}")
err, pid2, epoch = init_v1(tid)
check("a second InitProducerId bumps the epoch, same producer id",
      err == NONE and pid2 == pid and epoch == 1, f"{err} {pid2} {epoch}")

r = add_partitions(tid, pid, 0, topic, [0])
check("AddPartitionsToTxn with the fenced epoch is INVALID_PRODUCER_EPOCH",
      r == {0: INVALID_EPOCH}, f"{r}")
r = add_partitions(tid, pid + 777, 1, topic, [0])
check("AddPartitionsToTxn with another producer id is INVALID_PRODUCER_ID_MAPPING",
      r == {0: INVALID_MAPPING}, f"{r}")
r = add_partitions(b"no-such-txn", pid, 1, topic, [0])
check("AddPartitionsToTxn for an unknown transactional id is INVALID_PRODUCER_ID_MAPPING",
      r == {0: INVALID_MAPPING}, f"{r}")
err = end_txn(tid, pid, 1, True)
check("EndTxn with no transaction open is INVALID_TXN_STATE", err == INVALID_TXN_STATE,
      f"error {err}")
r = add_partitions(tid, pid, 1, topic, [0, 99])
check("AddPartitionsToTxn: an unknown partition fails, the others are not attempted",
      r == {99: UNKNOWN_TOPIC, 0: NOT_ATTEMPTED}, f"{r}")
r = add_partitions(tid, pid, 1, b"__consumer_offsets", [0])
check("AddPartitionsToTxn refuses an internal topic", r.get(0, 0) != NONE, f"{r}")
r = add_partitions(tid, pid, 1, topic, [0, 1])
check("AddPartitionsToTxn adds partitions", r == {0: NONE, 1: NONE}, f"{r}")
r = add_partitions(tid, pid, 1, topic, [1])
check("AddPartitionsToTxn of a partition already in is fine", r == {1: NONE}, f"{r}")

group = b"proto-group"
err = txn_offset_commit(tid, group, pid, 1, topic, 0, 42)
check("TxnOffsetCommit before AddOffsetsToTxn is INVALID_TXN_STATE",
      err == INVALID_TXN_STATE, f"error {err}")
err = add_offsets(tid, pid, 0, group)
check("AddOffsetsToTxn with the fenced epoch is INVALID_PRODUCER_EPOCH", err == INVALID_EPOCH,
      f"error {err}")
err = add_offsets(tid, pid, 1, group)
check("AddOffsetsToTxn adds the group's offsets partition", err == NONE, f"error {err}")
err = txn_offset_commit(tid, group, pid, 0, topic, 0, 42)
check("TxnOffsetCommit with the fenced epoch is INVALID_PRODUCER_EPOCH", err == INVALID_EPOCH,
      f"error {err}")
err = txn_offset_commit(tid, group, pid, 1, topic, 0, 42)
check("TxnOffsetCommit is accepted", err == NONE, f"error {err}")
err = txn_offset_commit(tid, group, pid, 1, topic, 1, 7)
check("a second TxnOffsetCommit in the same transaction is accepted", err == NONE,
      f"error {err}")
off = offset_fetch(group, topic, 0)
check("transactional offsets are invisible before the commit", off == -1, f"offset {off}")
err = end_txn(tid, pid, 0, True)
check("EndTxn with the fenced epoch is INVALID_PRODUCER_EPOCH", err == INVALID_EPOCH,
      f"error {err}")
err = end_txn(tid, pid, 1, True)
check("EndTxn commits", err == NONE, f"error {err}")
off0, off1 = offset_fetch(group, topic, 0), offset_fetch(group, topic, 1)
check("the committed transaction's offsets apply", off0 == 42 and off1 == 7,
      f"offsets {off0} {off1}")
err = end_txn(tid, pid, 1, True)
check("a retried EndTxn(commit) after the commit succeeds", err == NONE, f"error {err}")
err = end_txn(tid, pid, 1, False)
check("EndTxn(abort) after a commit is INVALID_TXN_STATE", err == INVALID_TXN_STATE,
      f"error {err}")

# An aborted transaction's offsets are dropped.
add_partitions(tid, pid, 1, topic, [0])
add_offsets(tid, pid, 1, group)
txn_offset_commit(tid, group, pid, 1, topic, 0, 99)
err = end_txn(tid, pid, 1, False)
off = offset_fetch(group, topic, 0)
check("an aborted transaction's offsets are dropped", err == NONE and off == 42,
      f"error {err}, offset {off}")

# KIP-360: InitProducerId v3+ with the producer's current id and epoch.
err, _, _ = init_v3(tid, pid, 0, ver=3)
check("InitProducerId v3 with a stale epoch is INVALID_PRODUCER_EPOCH", err == INVALID_EPOCH,
      f"error {err}")
err, _, _ = init_v3(tid, pid, 0, ver=4)
check("InitProducerId v4 with a stale epoch is PRODUCER_FENCED", err == PRODUCER_FENCED,
      f"error {err}")
err, p3, e3 = init_v3(tid, pid, 1, ver=4)
check("InitProducerId v4 with the current epoch bumps it (KIP-360)",
      err == NONE and p3 == pid and e3 == 2, f"{err} {p3} {e3}")
err, p3, e3 = init_v3(tid, pid, 1, ver=4)
check("the same bump retried gets the same answer", err == NONE and p3 == pid and e3 == 2,
      f"{err} {p3} {e3}")

# A new instance while a transaction is open: it is aborted, fenced, and
# the new instance gets an epoch above the abort's.
add_partitions(tid, pid, 2, topic, [0])
err, p4, e4 = init_v1(tid)
check("InitProducerId during a transaction aborts it and bumps past the fence",
      err == NONE and p4 == pid and e4 == 4, f"{err} {p4} {e4}")
err = end_txn(tid, pid, 2, True)
check("the fenced instance's EndTxn is INVALID_PRODUCER_EPOCH", err == INVALID_EPOCH,
      f"error {err}")

sock.close()
sys.exit(1 if failed else 0)
