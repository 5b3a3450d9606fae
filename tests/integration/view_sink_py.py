"""Backing topics for the view sink tests and benchmark (confluent-kafka).

Usage: view_sink_py.py COMMAND BROKER TOPIC [args]
  load BROKER TOPIC N KEYS PARTITIONS SEED [ABORT_PROB]
      create TOPIC and write N keyed records with a transactional producer
      in transactions of 1..200 records; about one in eight is a delete
      (null value); about ABORT_PROB of the transactions are aborted (their
      records must never reach a view)
  fastload BROKER TOPIC N KEYS PARTITIONS
      the benchmark's topic: N records, no transactions, key i*7919 mod KEYS,
      one in ten a delete, ~60-byte JSON values
  expect BROKER TOPIC
      read TOPIC read_committed from the beginning and print the view it
      defines -- "key<TAB>value" per live key, sorted by key -- then a line
      "# records N ends E0,E1,..." (committed records with a key, and each
      partition's end offset)
"""
import random
import sys

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic


def create(broker, topic, partitions):
    a = AdminClient({"bootstrap.servers": broker})
    for f in a.create_topics([NewTopic(topic, partitions, 1)]).values():
        try:
            f.result(30)
        except KafkaException as e:
            if e.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise


def load(broker, topic, n, keys, partitions, seed, abort_prob=0.0):
    create(broker, topic, partitions)
    rnd = random.Random(seed)
    p = Producer({"bootstrap.servers": broker, "transactional.id": f"view-load-{topic}",
                  "linger.ms": 5, "batch.num.messages": 10000,
                  "queue.buffering.max.messages": 1000000})
    p.init_transactions(30)
    written = 0
    while written < n:
        p.begin_transaction()
        k = min(n - written, rnd.randint(1, 200))
        for i in range(k):
            key = f"k{rnd.randrange(keys):06d}"
            j = written + i
            if rnd.random() < 0.125:
                value = None
            else:
                value = f'{{"n":{j},"s":"v\\t{j}"}}'
            p.produce(topic, key=key, value=value)
            p.poll(0)
        if rnd.random() < abort_prob:
            p.abort_transaction(30)
        else:
            p.commit_transaction(30)
            written += k
    p.flush(30)


def fastload(broker, topic, n, keys, partitions):
    create(broker, topic, partitions)
    p = Producer({"bootstrap.servers": broker, "linger.ms": 20, "batch.num.messages": 10000,
                  "queue.buffering.max.messages": 2000000, "compression.type": "lz4"})
    for i in range(n):
        key = f"key-{(i * 7919) % keys:08d}"
        value = None if i % 10 == 9 else f'{{"count":{i},"sum":{i * 3}.25,"updated":{1700000000000 + i}}}'
        while True:
            try:
                p.produce(topic, key=key, value=value)
                break
            except BufferError:
                p.poll(0.05)
        if i % 10000 == 0:
            p.poll(0)
    if p.flush(60) != 0:
        sys.exit("fastload: records left unsent")


def expect(broker, topic):
    c = Consumer({"bootstrap.servers": broker, "group.id": "view-expect",
                  "enable.auto.commit": False, "isolation.level": "read_committed",
                  "enable.partition.eof": True})
    md = c.list_topics(topic, timeout=10)
    parts = sorted(md.topics[topic].partitions)
    ends = [c.get_watermark_offsets(TopicPartition(topic, q), timeout=10)[1] for q in parts]
    c.assign([TopicPartition(topic, q, OFFSET_BEGINNING) for q in parts])
    view = {}
    records = 0
    eof = set()
    while len(eof) < len(parts):
        m = c.poll(5)
        if m is None:
            continue
        if m.error():
            if m.error().code() == KafkaError._PARTITION_EOF:
                eof.add(m.partition())
                continue
            raise KafkaException(m.error())
        if m.key() is None:
            continue
        records += 1
        k = m.key().decode()
        if m.value() is None:
            view.pop(k, None)
        else:
            view[k] = m.value().decode()
    c.close()
    for k in sorted(view):
        print(f"{k}\t{view[k]}")
    print(f"# records {records} ends {','.join(str(e) for e in ends)}")


def main():
    cmd, broker, topic = sys.argv[1:4]
    if cmd == "load":
        n, keys, partitions, seed = (int(x) for x in sys.argv[4:8])
        abort_prob = float(sys.argv[8]) if len(sys.argv) > 8 else 0.0
        load(broker, topic, n, keys, partitions, seed, abort_prob)
    elif cmd == "fastload":
        fastload(broker, topic, *(int(x) for x in sys.argv[4:8]))
    elif cmd == "expect":
        expect(broker, topic)
    else:
        sys.exit(f"unknown command {cmd}")


if __name__ == "__main__":
    main()
