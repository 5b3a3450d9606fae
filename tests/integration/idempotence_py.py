"""Idempotent producers against kappa: InitProducerId, deduplication of
retries (also across a broker restart), sequence gaps, epoch fencing, and
librdkafka's enable.idempotence end to end.

Usage: idempotence_py.py PHASE HOST PORT STATEFILE
  phase "before": everything up to the restart; saves the last batch sent
  phase "after":  the same batch resent after the restart must be a duplicate
"""
import json
import socket
import struct
import sys
from kraw import crc32c, zigzag as zz

PHASE, HOST, PORT, STATE = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
failed = 0


def check(name, ok, why=""):
    global failed
    if ok:
        print(f"PASS: {name}", flush=True)
    else:
        failed += 1
        print(f"FAIL: {name}: {why}", flush=True)


def conn():
    return socket.create_connection((HOST, PORT), timeout=10)


def rpc(payload):
    s = conn()
    s.sendall(struct.pack(">i", len(payload)) + payload)
    n = struct.unpack(">i", recv(s, 4))[0]
    r = recv(s, n)
    s.close()
    return r


def recv(s, n):
    b = b""
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c:
            raise EOFError("closed")
        b += c
    return b


def header(key, ver, corr, flexible=False):
    h = struct.pack(">hhih", key, ver, corr, 2) + b"it"
    return h + (b"\x00" if flexible else b"")


def init_pid_v1(txn=None):
    body = (struct.pack(">h", -1) if txn is None else struct.pack(">h", len(txn)) + txn)
    body += struct.pack(">i", 60000)
    r = rpc(header(22, 1, 1) + body)
    _, thr, err, pid, epoch = struct.unpack(">iihqh", r[:20])
    return err, pid, epoch


def init_pid_v3_bump(pid, epoch):
    body = b"\x00" + struct.pack(">iqh", 60000, pid, epoch) + b"\x00"
    r = rpc(header(22, 3, 2, flexible=True) + body)
    # response header v1: corr + tags; body: throttle, error, pid, epoch, tags
    corr, tags, thr, err, npid, nepoch = struct.unpack(">ibihqh", r[:21])
    return err, npid, nepoch


def batch(pid, epoch, seq, values, attrs=0):
    recs = b""
    for i, v in enumerate(values):
        rec = b"\x00" + zz(0) + zz(i) + zz(-1) + zz(len(v)) + v + zz(0)
        recs += zz(len(rec)) + rec
    after = struct.pack(">hiqqqhii", attrs, len(values) - 1, 1000, 1000, pid, epoch, seq,
                        len(values)) + recs
    head = struct.pack(">qiib", 0, 9 + len(after), 0, 2) + struct.pack(">I", crc32c(after))
    return head + after


def produce(topic, b):
    body = struct.pack(">h", -1) + struct.pack(">hi", -1, 10000)
    body += struct.pack(">i", 1) + struct.pack(">h", len(topic)) + topic
    body += struct.pack(">ii", 1, 0) + struct.pack(">i", len(b)) + b
    r = rpc(header(0, 3, 9) + body)
    off = 8
    nlen = struct.unpack(">h", r[off:off + 2])[0]
    off += 2 + nlen + 4
    _, err, base = struct.unpack(">ihq", r[off:off + 14])
    return err, base


def log_end(topic):
    body = struct.pack(">i", -1) + struct.pack(">i", 1) + struct.pack(">h", len(topic)) + topic
    body += struct.pack(">i", 1) + struct.pack(">iq", 0, -1)
    r = rpc(header(2, 1, 5) + body)
    off = 8
    nlen = struct.unpack(">h", r[off:off + 2])[0]
    off += 2 + nlen + 4
    _, err, ts, offset = struct.unpack(">ihqq", r[off:off + 22])
    return offset


def fetch_v4(topic, offset, isolation):
    body = struct.pack(">iiiib", -1, 0, 1, 1 << 20, isolation)
    body += struct.pack(">i", 1) + struct.pack(">h", len(topic)) + topic
    body += struct.pack(">i", 1) + struct.pack(">iqi", 0, offset, 1 << 20)
    r = rpc(header(1, 4, 41) + body)
    off = 12
    nlen = struct.unpack(">h", r[off:off + 2])[0]
    off += 2 + nlen + 4
    _, err, hw, lso = struct.unpack(">ihqq", r[off:off + 22])
    off += 22
    na = struct.unpack(">i", r[off:off + 4])[0]
    off += 4 + max(na, 0) * 16
    rlen = struct.unpack(">i", r[off:off + 4])[0]
    off += 4
    n, pos = 0, 0
    while pos + 12 <= rlen:
        pos += 12 + struct.unpack(">i", r[off + pos + 8:off + pos + 12])[0]
        n += 1
    return err, hw, lso, n


def list_offsets_v2(topic, isolation):
    body = struct.pack(">ib", -1, isolation) + struct.pack(">i", 1)
    body += struct.pack(">h", len(topic)) + topic + struct.pack(">i", 1) + struct.pack(">iq", 0, -1)
    r = rpc(header(2, 2, 43) + body)
    off = 12                                    # corr, throttle (v2+), topic count
    nlen = struct.unpack(">h", r[off:off + 2])[0]
    off += 2 + nlen + 4
    _, err, ts, offset = struct.unpack(">ihqq", r[off:off + 22])
    return offset


T = b"idem"
if PHASE == "before":
    rpc(header(3, 1, 3) + struct.pack(">i", 1) + struct.pack(">h", len(T)) + T)  # auto-create
    err, pid, epoch = init_pid_v1()
    check("InitProducerId gives an id and epoch 0", err == 0 and pid >= 0 and epoch == 0,
          f"{err} {pid} {epoch}")
    err2, pid2, _ = init_pid_v1()
    check("each producer gets a new id", err2 == 0 and pid2 != pid, f"{pid} {pid2}")
    err, tpid0, _ = init_pid_v1(b"txn-app")
    check("a transactional id gets its own producer id", err == 0 and tpid0 not in (pid, pid2),
          f"{err} {tpid0}")

    e1, o1 = produce(T, batch(pid, 0, 0, [b"a", b"b"]))
    end1 = log_end(T)
    e2, o2 = produce(T, batch(pid, 0, 0, [b"a", b"b"]))
    check("a retried batch is answered with its original offset, not written again",
          e1 == 0 and e2 == 0 and o2 == o1 and log_end(T) == end1, f"{(e1, o1)} {(e2, o2)}")
    e, _ = produce(T, batch(pid, 0, 5, [b"gap"]))
    check("a sequence gap is OUT_OF_ORDER_SEQUENCE_NUMBER", e == 45, str(e))
    e, o = produce(T, batch(pid, 0, 2, [b"c"]))
    check("the next sequence is accepted", e == 0 and o == end1, f"{e} {o}")
    err, bpid, bepoch = init_pid_v3_bump(pid, 0)
    check("InitProducerId v3 bumps the epoch of an existing id (KIP-360)",
          err == 0 and bpid == pid and bepoch == 1, f"{err} {bpid} {bepoch}")
    e, _ = produce(T, batch(pid, 1, 4, [b"x"]))
    check("a new epoch must start at sequence 0", e == 45, str(e))
    e, o = produce(T, batch(pid, 1, 0, [b"d"]))
    check("the new epoch starts at 0", e == 0, str(e))
    e, _ = produce(T, batch(pid, 0, 3, [b"zombie"]))
    check("the old epoch is fenced with INVALID_PRODUCER_EPOCH", e == 47, str(e))
    e, _ = produce(T, batch(424242, 0, 7, [b"who"]))
    check("an unknown producer not starting at 0 is UNKNOWN_PRODUCER_ID", e == 59, str(e))
    # A transactional batch outside any transaction is refused (it would
    # open a transaction no marker closes, holding read_committed back);
    # read_committed and read_uncommitted then agree.
    TX = b"txn-open"
    rpc(header(3, 1, 3) + struct.pack(">i", 1) + struct.pack(">h", len(TX)) + TX)
    produce(TX, batch(-1, -1, -1, [b"plain"]))
    err, tpid, _ = init_pid_v1()
    e, o = produce(TX, batch(tpid, 0, 0, [b"in-txn"], attrs=0x10))
    unc = fetch_v4(TX, 0, 0)
    com = fetch_v4(TX, 0, 1)
    check("a transactional batch outside a transaction is refused",
          e == 49 and unc == (0, 1, 1, 1) and com == (0, 1, 1, 1),
          f"produce {(e, o)}; uncommitted (err, hw, lso, batches) {unc}; committed {com}")
    check("ListOffsets latest: the LSO for read_committed, the HW otherwise",
          list_offsets_v2(TX, 1) == 1 and list_offsets_v2(TX, 0) == 1,
          f"{list_offsets_v2(TX, 1)} {list_offsets_v2(TX, 0)}")

    last = batch(pid, 1, 1, [b"e", b"f"])
    e, o = produce(T, last)
    json.dump({"pid": pid, "batch": last.hex(), "offset": o, "end": log_end(T)}, open(STATE, "w"))

    # librdkafka end to end: enable.idempotence.
    from confluent_kafka import Consumer, Producer, TopicPartition
    p = Producer({"bootstrap.servers": f"{HOST}:{PORT}", "enable.idempotence": True,
                  "linger.ms": 2})
    errs = []
    for i in range(2000):
        p.produce("idem-rk", value=b"%d" % i, on_delivery=lambda err, m: errs.append(err))
    p.flush(20)
    c = Consumer({"bootstrap.servers": f"{HOST}:{PORT}", "group.id": "idem-check",
                  "auto.offset.reset": "earliest", "enable.auto.commit": False})
    c.assign([TopicPartition("idem-rk", 0, 0)])
    import time
    vals = []
    deadline = time.time() + 20
    while len(vals) < 2000 and time.time() < deadline:
        m = c.poll(0.2)
        if m is not None and not m.error():
            vals.append(int(m.value()))
    c.close()
    check("librdkafka enable.idempotence: every record once, in order",
          len(errs) == 2000 and not any(errs) and vals == list(range(2000)),
          f"{len(errs)} reports, {sum(1 for e in errs if e)} errors, {len(vals)} read")
else:
    st = json.load(open(STATE))
    e, o = produce(T, bytes.fromhex(st["batch"]))
    check("after a broker restart a retry is still recognised as a duplicate",
          e == 0 and o == st["offset"] and log_end(T) == st["end"],
          f"error {e}, offset {o} (was {st['offset']}), end {log_end(T)} (was {st['end']})")
    err, pid, _ = init_pid_v1()
    check("producer ids are not reused after a restart", err == 0 and pid > st["pid"],
          f"{pid} <= {st['pid']}")

sys.exit(1 if failed else 0)
