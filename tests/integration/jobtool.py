"""Helpers for stream-job tests (run with Debian's /usr/bin/python3).

  jobtool.py caught-up BROKER GROUP TIMEOUT_S TOPIC...
      exit 0 once GROUP's committed offsets reach the end of every partition
      of every TOPIC (read_committed end: the last stable offset), 1 on timeout
  jobtool.py dump BROKER TOPIC
      print every committed record value of TOPIC, sorted (a multiset)
  jobtool.py count BROKER TOPIC
      print how many committed records TOPIC holds
"""
import sys
import time

from confluent_kafka import Consumer, TopicPartition


def consumer(broker, group="jobtool"):
    return Consumer({"bootstrap.servers": broker, "group.id": group,
                     "isolation.level": "read_committed", "enable.auto.commit": False,
                     "enable.partition.eof": True, "auto.offset.reset": "earliest"})


def partitions(c, topic):
    md = c.list_topics(topic, timeout=10)
    t = md.topics.get(topic)
    if t is None or t.error is not None:
        return []
    return [TopicPartition(topic, p) for p in sorted(t.partitions)]


def pending(c, tps):
    """Does any partition hold committed records at or after its offset?
    (Offsets cannot be compared with the high watermark: a transaction's
    commit marker takes an offset no record ever reaches.)"""
    todo = [TopicPartition(tp.topic, tp.partition, tp.offset if tp.offset >= 0 else 0)
            for tp in tps]
    c.assign(todo)
    left = {(tp.topic, tp.partition) for tp in todo}
    deadline = time.time() + 30
    try:
        while left and time.time() < deadline:
            for m in c.consume(1000, 0.5):
                if m.error():
                    if m.error().code() == -191:        # _PARTITION_EOF
                        left.discard((m.topic(), m.partition()))
                    continue
                return True
        return bool(left)
    finally:
        c.unassign()


def caught_up(broker, group, timeout, topics):
    c = consumer(broker, group)
    probe = consumer(broker, "jobtool-probe")
    deadline = time.time() + timeout
    try:
        while time.time() < deadline:
            tps = [tp for t in topics for tp in partitions(c, t)]
            if tps and not pending(probe, c.committed(tps, timeout=10)):
                return 0
            time.sleep(0.5)
        return 1
    finally:
        c.close()
        probe.close()


def records(broker, topic):
    c = consumer(broker, "jobtool-dump")
    tps = partitions(c, topic)
    if not tps:
        return []
    for tp in tps:
        tp.offset = 0
    c.assign(tps)
    left = {tp.partition for tp in tps}
    out = []
    idle = time.time()
    while left and time.time() - idle < 30:
        for m in c.consume(10000, 1.0):
            idle = time.time()
            if m.error():
                if m.error().code() == -191:        # _PARTITION_EOF
                    left.discard(m.partition())
                continue
            out.append(m.value().decode() if m.value() is not None else "<null>")
    c.close()
    return out


def main():
    cmd = sys.argv[1]
    if cmd == "caught-up":
        sys.exit(caught_up(sys.argv[2], sys.argv[3], float(sys.argv[4]), sys.argv[5:]))
    if cmd == "dump":
        for v in sorted(records(sys.argv[2], sys.argv[3])):
            print(v)
        return
    if cmd == "count":
        print(len(records(sys.argv[2], sys.argv[3])))
        return
    sys.exit("unknown command " + cmd)


if __name__ == "__main__":
    main()
