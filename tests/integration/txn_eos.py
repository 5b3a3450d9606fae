"""Transactions end to end with confluent-kafka (librdkafka): a consume ->
produce copier whose output must hold every input record exactly once, also
when the copier or the broker is killed, plus zombie fencing and the
transaction timeout.

Usage: txn_eos.py COMMAND BROKER [args]
  input BROKER IN OUT N PARTITIONS         create both topics, write N distinct records
  copy BROKER IN OUT GROUP TXNID SEED [ABORT_PROB] [PAUSE_S]
                                           copy until every input offset is
                                           committed (exit 0); aborts about
                                           ABORT_PROB of its transactions
  kill-copier BROKER IN OUT GROUP TXNID KILLS SEED
                                           start the copier and SIGKILL it at
                                           random points KILLS times, then let
                                           it finish
  verify NAME BROKER IN OUT                read_committed OUT == IN, exactly once
  zombie BROKER TOPIC                      two producers, one transactional.id
  timeout BROKER TOPIC                     an abandoned transaction is aborted
  crash-commit BROKER TOPIC NAME           commit across a broker crash in EndTxn

Prints PASS:/FAIL: lines; a failing randomized run prints its seed.
"""
import os
import random
import signal
import subprocess
import sys
import time

from confluent_kafka import (OFFSET_BEGINNING, Consumer, KafkaError, KafkaException,
                             Producer, TopicPartition)
from confluent_kafka.admin import AdminClient, NewTopic

TXN_RECORDS = 500


def check(name, ok, why=""):
    print(f"PASS: {name}" if ok else f"FAIL: {name}: {why}", flush=True)
    return ok


def log(msg):
    print(f"    {time.strftime('%H:%M:%S')} {msg}", flush=True)


def debug(msg):
    if os.environ.get("TXN_DEBUG"):
        log(msg)


def create_topics(broker, names, partitions):
    a = AdminClient({"bootstrap.servers": broker})
    fs = a.create_topics([NewTopic(n, partitions, 1) for n in names])
    for n, f in fs.items():
        try:
            f.result(30)
        except KafkaException as e:
            if e.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise


def cmd_input(broker, topic, out, n, partitions):
    n, partitions = int(n), int(partitions)
    create_topics(broker, [topic, out], partitions)
    p = Producer({"bootstrap.servers": broker, "enable.idempotence": True,
                  "linger.ms": 5})
    for i in range(n):
        part = i % partitions
        while True:
            try:
                p.produce(topic, key=b"k%d" % i, value=b"v%07d" % i, partition=part)
                break
            except BufferError:
                p.poll(0.1)
    left = p.flush(60)
    return check(f"txn input: {n} records written to {topic}", left == 0, f"{left} unsent")


# ---- the copier ----

class Restart(Exception):
    """A fatal producer error (fenced, or the epoch was bumped by a restart
    of the broker): start over with new clients, as an application would."""


def new_consumer(broker, group, topic, nparts):
    c = Consumer({"bootstrap.servers": broker, "group.id": group,
                  "isolation.level": "read_committed", "enable.auto.commit": False,
                  "auto.offset.reset": "earliest", "enable.partition.eof": False})
    # Manual assignment: the copier reads every partition, and a restarted
    # copier need not wait for the killed one's session to expire.  The
    # start positions come from the committed offsets (OffsetFetch).
    c.assign([TopicPartition(topic, i) for i in range(nparts)])
    return c


def partitions_of(broker, topic):
    a = AdminClient({"bootstrap.servers": broker})
    md = a.list_topics(topic, timeout=30)
    return len(md.topics[topic].partitions)


def retry(what, fn, tries=120):
    """Retry fn while librdkafka says the error is retriable (the broker is
    restarting); a fatal error restarts the session; others propagate."""
    for _ in range(tries):
        try:
            return fn()
        except KafkaException as e:
            err = e.args[0]
            if err.fatal():
                raise Restart(f"{what}: {err}")
            if not err.retriable():
                raise
            log(f"{what}: {err.name()}; retrying")
            time.sleep(0.25)
    raise Restart(f"{what}: still failing")


def progress(c, src, nparts):
    """Where the copier is in each input partition: the consumer's position,
    or the committed offset where nothing was read since (re)starting."""
    tps = [TopicPartition(src, i) for i in range(nparts)]
    pos = {tp.partition: tp.offset for tp in c.position(tps)}
    unknown = [TopicPartition(src, i) for i in range(nparts) if pos.get(i, -1) < 0]
    if unknown:
        for tp in retry("committed", lambda: c.committed(unknown, timeout=10)):
            pos[tp.partition] = tp.offset
    return pos


def copy_session(broker, src, dst, group, txnid, rng, abort_prob, pause, stats):
    nparts = partitions_of(broker, src)
    p = Producer({"bootstrap.servers": broker, "transactional.id": txnid,
                  "transaction.timeout.ms": 20000, "linger.ms": 5})
    c = None
    try:
        # First InitProducerId, then the committed offsets: InitProducerId
        # returns only once any earlier transaction of this id is complete,
        # so the offsets read next are final.
        retry("init_transactions", lambda: p.init_transactions(30))
        debug("init_transactions done")
        c = new_consumer(broker, group, src, nparts)
        ends = {}
        for i in range(nparts):
            lo, hi = retry("watermarks", lambda: c.get_watermark_offsets(
                TopicPartition(src, i), timeout=10))
            ends[i] = hi
        debug(f"input ends {ends}")
        while True:
            p.begin_transaction()
            batch = []
            deadline = time.time() + 3
            while len(batch) < TXN_RECORDS and time.time() < deadline:
                for m in c.consume(TXN_RECORDS - len(batch), timeout=0.3):
                    if m.error():
                        if m.error().fatal():
                            raise Restart(f"consume: {m.error()}")
                        continue
                    batch.append(m)
                pos = progress(c, src, nparts)
                if all(pos.get(i, -1) >= ends[i] for i in range(nparts)):
                    break
            debug(f"batch of {len(batch)} pos {pos}")
            try:
                for m in batch:
                    while True:
                        try:
                            p.produce(dst, key=m.key(), value=m.value(), partition=m.partition())
                            break
                        except BufferError:
                            p.poll(0.05)
                positions = [tp for tp in c.position([TopicPartition(src, i)
                                                      for i in range(nparts)])
                             if tp.offset >= 0]
                if positions:
                    retry("send_offsets_to_transaction", lambda: p.send_offsets_to_transaction(
                        positions, c.consumer_group_metadata(), 30))
                if pause:
                    time.sleep(pause)
                if batch and rng.random() < abort_prob:
                    # Deliver the records first, so the aborted transaction is
                    # in the log (abort_transaction would drop queued ones).
                    p.flush(30)
                    debug("aborting")
                    retry("abort_transaction", lambda: p.abort_transaction(30))
                    stats["aborted"] += 1
                    stats["aborted_records"] += len(batch)
                    # Back to the committed offsets: a new consumer reads them.
                    c.close()
                    c = new_consumer(broker, group, src, nparts)
                    continue
                retry("commit_transaction", lambda: p.commit_transaction(30))
                stats["committed"] += 1
            except KafkaException as e:
                err = e.args[0]
                if err.fatal():
                    raise Restart(str(err))
                log(f"transaction failed ({err}); aborting it")
                retry("abort_transaction", lambda: p.abort_transaction(30))
                c.close()
                c = new_consumer(broker, group, src, nparts)
                continue
            done = progress(c, src, nparts)
            if all(done.get(i, -1) >= ends[i] for i in range(nparts)):
                return
    finally:
        if c is not None:
            c.close()
        del p


def cmd_copy(broker, src, dst, group, txnid, seed, abort_prob="0.2", pause="0"):
    rng = random.Random(int(seed))
    stats = {"committed": 0, "aborted": 0, "aborted_records": 0, "restarts": 0}
    deadline = time.time() + 240
    while time.time() < deadline:
        try:
            copy_session(broker, src, dst, group, txnid, rng, float(abort_prob), float(pause),
                         stats)
            log(f"copier done: {stats}")
            return True
        except Restart as e:
            stats["restarts"] += 1
            log(f"copier restarts with new clients: {e}")
            time.sleep(0.2)
    log(f"copier gave up (seed {seed}): {stats}")
    return False


def cmd_kill_copier(broker, src, dst, group, txnid, kills, seed):
    kills, seed = int(kills), int(seed)
    rng = random.Random(seed)
    me = os.path.abspath(__file__)
    done = 0
    for i in range(kills * 3):
        if done >= kills:
            break
        child = subprocess.Popen([sys.executable, me, "copy", broker, src, dst, group, txnid,
                                  str(rng.randrange(1 << 30)), "0.2", "0.08"])
        time.sleep(rng.uniform(0.3, 1.5))
        if child.poll() is not None:
            log(f"copier finished before kill {done + 1}")
            break
        child.send_signal(signal.SIGKILL)
        child.wait()
        done += 1
        log(f"killed the copier ({done}/{kills})")
    killed = check(f"txn kill-copier: copier SIGKILLed {done} times mid-run (seed {seed})",
                   done >= kills, f"only {done} kills landed; more input needed")
    ok = cmd_copy(broker, src, dst, group, txnid, seed + 1, "0.2", "0")
    return check("txn kill-copier: the last copier finishes", ok, f"seed {seed}") and killed


# ---- reading back ----

def read_all(broker, topic, isolation):
    nparts = partitions_of(broker, topic)
    c = Consumer({"bootstrap.servers": broker, "group.id": "txn-verify-%d" % os.getpid(),
                  "isolation.level": isolation, "enable.auto.commit": False,
                  "enable.partition.eof": True})
    c.assign([TopicPartition(topic, i, OFFSET_BEGINNING) for i in range(nparts)])
    got, eof = [], set()
    deadline = time.time() + 60
    while len(eof) < nparts and time.time() < deadline:
        for m in c.consume(1000, timeout=0.5):
            if m.error():
                if m.error().code() == KafkaError._PARTITION_EOF:
                    eof.add(m.partition())
                continue
            eof.discard(m.partition())
            got.append(m.value())
    c.close()
    return got, len(eof) == nparts


def cmd_verify(name, broker, src, dst):
    want, ok_in = read_all(broker, src, "read_committed")
    got, ok_out = read_all(broker, dst, "read_committed")
    raw, _ = read_all(broker, dst, "read_uncommitted")
    counts = {}
    for v in got:
        counts[v] = counts.get(v, 0) + 1
    dups = sum(1 for v, n in counts.items() if n > 1)
    missing = len(set(want) - set(counts))
    extra = len(set(counts) - set(want))
    ok = check(f"txn {name}: read_committed output holds all {len(want)} input records "
               f"exactly once", ok_in and ok_out and len(want) > 0 and dups == 0 and
               missing == 0 and extra == 0 and len(got) == len(want),
               f"read {len(got)} of {len(want)}: {dups} duplicated, {missing} missing, "
               f"{extra} unknown (complete reads: in {ok_in}, out {ok_out})")
    # The aborted transactions' records are in the log: read_uncommitted sees
    # them, so the check above would catch them leaking.
    check(f"txn {name}: aborted records are in the log but hidden "
          f"({len(raw) - len(got)} of them)", len(raw) > len(got),
          f"read_uncommitted {len(raw)}, read_committed {len(got)}")
    return ok


# ---- zombie fencing ----

def cmd_zombie(broker, topic):
    create_topics(broker, [topic], 1)
    conf = {"bootstrap.servers": broker, "transactional.id": "zombie-txn", "linger.ms": 0}
    old = Producer(conf)
    old.init_transactions(30)
    old.begin_transaction()
    for i in range(10):
        old.produce(topic, value=b"zombie-%d" % i)
    old.flush(30)
    new = Producer(conf)
    new.init_transactions(30)          # fences `old`, aborting its transaction
    new.begin_transaction()
    for i in range(10):
        new.produce(topic, value=b"live-%d" % i)
    new.commit_transaction(30)
    fenced = None
    try:
        old.produce(topic, value=b"zombie-late")
        old.commit_transaction(30)
    except KafkaException as e:
        fenced = e.args[0]
    check("txn zombie: the fenced producer's commit fails with a fatal fencing error",
          fenced is not None and fenced.fatal() and
          fenced.code() in (KafkaError._FENCED, KafkaError.INVALID_PRODUCER_EPOCH,
                            KafkaError.PRODUCER_FENCED),
          f"commit_transaction gave {fenced!r}")
    got, ok = read_all(broker, topic, "read_committed")
    raw, _ = read_all(broker, topic, "read_uncommitted")
    check("txn zombie: read_committed sees only the new producer's records",
          ok and sorted(got) == sorted(b"live-%d" % i for i in range(10)),
          f"got {sorted(got)}")
    check("txn zombie: the zombie's records are in the log (read_uncommitted)",
          sum(1 for v in raw if v.startswith(b"zombie-")) >= 10, f"got {sorted(raw)}")
    # A third instance, with the KIP-360 bump path unused, still works.
    again = Producer(conf)
    again.init_transactions(30)
    again.begin_transaction()
    again.produce(topic, value=b"third")
    again.commit_transaction(30)
    got, _ = read_all(broker, topic, "read_committed")
    return check("txn zombie: a later instance commits", b"third" in got, f"got {sorted(got)}")


# ---- transaction timeout ----

def cmd_timeout(broker, topic):
    create_topics(broker, [topic], 1)
    p = Producer({"bootstrap.servers": broker, "transactional.id": "abandoned-txn",
                  "transaction.timeout.ms": 2000, "linger.ms": 0})
    p.init_transactions(30)
    p.begin_transaction()
    for i in range(5):
        p.produce(topic, value=b"abandoned-%d" % i)
    p.flush(30)
    # Later records, outside any transaction, wait behind the open one.
    plain = Producer({"bootstrap.servers": broker, "linger.ms": 0})
    plain.produce(topic, value=b"after")
    plain.flush(30)
    got, ok = read_all(broker, topic, "read_committed")
    check("txn timeout: an open transaction holds read_committed back", b"after" not in got,
          f"read {got}")
    time.sleep(4)
    got, ok = read_all(broker, topic, "read_committed")
    check("txn timeout: once aborted, read_committed reads past it, without its records",
          ok and got == [b"after"], f"read {got}")
    fenced = None
    try:
        p.commit_transaction(10)
    except KafkaException as e:
        fenced = e.args[0]
    return check("txn timeout: the abandoned producer was fenced",
                 fenced is not None and fenced.fatal(), f"commit gave {fenced!r}")


# ---- a broker crash inside EndTxn ----

def cmd_crash_commit(broker, topic, name):
    """Commit while the broker crashes inside EndTxn (KAPPA_TXN_CRASH_POINT)
    and is restarted by the test: the client's retried EndTxn finds the
    transaction completed by the broker's recovery."""
    create_topics(broker, [topic], 2)
    p = Producer({"bootstrap.servers": broker, "transactional.id": "crash-" + name,
                  "linger.ms": 0})
    p.init_transactions(30)
    p.begin_transaction()
    want = [b"%s-%d" % (name.encode(), i) for i in range(20)]
    for i, v in enumerate(want):
        p.produce(topic, value=v, partition=i % 2)
    p.flush(30)
    err = None
    try:
        p.commit_transaction(60)
    except KafkaException as e:
        err = e.args[0]
    check(f"txn crash-{name}: commit_transaction succeeds across the broker's crash and "
          f"recovery", err is None, f"{err!r}")
    got, ok = read_all(broker, topic, "read_committed")
    return check(f"txn crash-{name}: the transaction is committed exactly once",
                 ok and sorted(v for v in got if v.startswith(name.encode())) == sorted(want),
                 f"read {sorted(got)}")


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    fn = {"input": cmd_input, "copy": cmd_copy, "kill-copier": cmd_kill_copier,
          "verify": cmd_verify, "zombie": cmd_zombie, "timeout": cmd_timeout,
          "crash-commit": cmd_crash_commit}[cmd]
    ok = fn(*args)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
