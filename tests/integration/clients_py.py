"""confluent-kafka-python (librdkafka) and kafka-python against kappa.

Usage: clients_py.py BROKER.  Prints PASS:/FAIL: lines for tests/run.sh.
Consumer-group behaviour is tested in groups_clients.py; this file covers
produce/consume byte-exactness per codec, admin operations, and bad input
from the client side.
"""
import os
import sys
import time
import traceback

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource, NewPartitions, NewTopic

BROKER = sys.argv[1]
failed = 0


def check(name):
    def wrap(fn):
        global failed
        try:
            fn()
            print(f"PASS: {name}", flush=True)
        except Exception as e:  # noqa: BLE001 -- any failure is a test failure
            failed += 1
            msg = "".join(traceback.format_exception_only(type(e), e)).strip().replace("\n", " ")
            print(f"FAIL: {name}: {msg}", flush=True)
        return fn
    return wrap


def read_all(topic, partitions, expect, timeout=20):
    c = Consumer({"bootstrap.servers": BROKER, "group.id": "unused-" + topic,
                  "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    c.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
    out = []
    deadline = time.time() + timeout
    while len(out) < expect and time.time() < deadline:
        m = c.poll(1)
        if m is None:
            continue
        if m.error():
            if m.error().code() == KafkaError._PARTITION_EOF:
                continue
            raise KafkaException(m.error())
        out.append(m)
    c.close()
    return out


admin = AdminClient({"bootstrap.servers": BROKER})


def wait_futures(fs):
    for _, f in fs.items():
        f.result(timeout=15)


@check("confluent produce each codec, read back byte-exact")
def _():
    for codec in ["none", "gzip", "snappy", "lz4", "zstd"]:
        topic = "codec-" + codec
        wait_futures(admin.create_topics([NewTopic(topic, num_partitions=2, replication_factor=1)]))
        p = Producer({"bootstrap.servers": BROKER, "compression.type": codec, "acks": "all",
                      "linger.ms": 5})
        sent = {}
        for i in range(300):
            key = b"key-%d" % i
            value = os.urandom(50 + i % 700) + (b"z" * (i % 1000))   # random and compressible
            headers = [("h", b"%d" % i)] if i % 3 == 0 else None
            p.produce(topic, key=key, value=value, headers=headers, partition=i % 2)
            sent[key] = (value, headers)
        if p.flush(15) != 0:
            raise AssertionError(f"{codec}: not all messages delivered")
        got = read_all(topic, 2, len(sent))
        if len(got) != len(sent):
            raise AssertionError(f"{codec}: read {len(got)} of {len(sent)}")
        for m in got:
            value, headers = sent[m.key()]
            if m.value() != value:
                raise AssertionError(f"{codec}: value mismatch for {m.key()}")
            if headers and m.headers() != headers:
                raise AssertionError(f"{codec}: headers {m.headers()} != {headers}")


@check("confluent delivery reports carry offsets in order")
def _():
    p = Producer({"bootstrap.servers": BROKER, "acks": "all"})
    offsets = []
    for i in range(50):
        p.produce("reports", value=b"%d" % i, on_delivery=lambda err, m: offsets.append(
            (err, m.offset())))
    p.flush(10)
    errs = [e for e, _ in offsets if e is not None]
    if errs or [o for _, o in offsets] != list(range(50)):
        raise AssertionError(f"errors {errs[:3]} offsets {offsets[:5]}")


@check("confluent admin create/describe-configs/alter/create-partitions/delete")
def _():
    wait_futures(admin.create_topics([NewTopic("adm", num_partitions=2, replication_factor=1,
                                               config={"retention.ms": "3600000",
                                                       "cleanup.policy": "compact"})]))
    # Creating it again is a clear error, not a silent success.
    fs = admin.create_topics([NewTopic("adm", num_partitions=2, replication_factor=1)])
    try:
        wait_futures(fs)
        raise AssertionError("duplicate create succeeded")
    except KafkaException as e:
        if e.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
            raise
    fs = admin.create_topics([NewTopic("bad-cfg", num_partitions=1, replication_factor=1,
                                       config={"no.such.config": "1"})])
    try:
        wait_futures(fs)
        raise AssertionError("unknown config accepted")
    except KafkaException as e:
        if e.args[0].code() != KafkaError.INVALID_CONFIG:
            raise
    res = admin.describe_configs([ConfigResource("topic", "adm")])
    cfg = list(res.values())[0].result(timeout=10)
    if cfg["retention.ms"].value != "3600000" or cfg["retention.ms"].is_default:
        raise AssertionError(f"retention.ms {cfg['retention.ms']}")
    if cfg["cleanup.policy"].value != "compact":
        raise AssertionError(f"cleanup.policy {cfg['cleanup.policy'].value}")
    if not cfg["segment.bytes"].is_default:
        raise AssertionError("segment.bytes should be a default")
    r = ConfigResource("topic", "adm", set_config={"retention.ms": "7200000"})
    wait_futures(admin.alter_configs([r]))
    cfg = list(admin.describe_configs([ConfigResource("topic", "adm")]).values())[0].result(10)
    if cfg["retention.ms"].value != "7200000":
        raise AssertionError("alter_configs did not take")
    # AlterConfigs replaces the whole set: cleanup.policy returns to its default.
    if cfg["cleanup.policy"].value != "delete":
        raise AssertionError("alter_configs should replace all overrides")
    wait_futures(admin.create_partitions([NewPartitions("adm", 5)]))
    md = admin.list_topics(timeout=10)
    if len(md.topics["adm"].partitions) != 5:
        raise AssertionError("partitions not 5")
    wait_futures(admin.delete_topics(["adm"]))
    if "adm" in admin.list_topics(timeout=10).topics:
        raise AssertionError("topic still listed after delete")


@check("confluent produce to a partition that does not exist fails cleanly")
def _():
    wait_futures(admin.create_topics([NewTopic("one", num_partitions=1, replication_factor=1)]))
    errs = []
    p = Producer({"bootstrap.servers": BROKER, "message.timeout.ms": 3000})
    p.produce("one", value=b"x", partition=7, on_delivery=lambda e, m: errs.append(e))
    p.flush(10)
    if not errs or errs[0] is None:
        raise AssertionError(f"expected a delivery error, got {errs}")


@check("confluent message larger than max.message.bytes is refused")
def _():
    wait_futures(admin.create_topics([NewTopic("small", num_partitions=1, replication_factor=1,
                                               config={"max.message.bytes": "2000"})]))
    errs = []
    p = Producer({"bootstrap.servers": BROKER, "message.timeout.ms": 5000})
    p.produce("small", value=b"x" * 5000, on_delivery=lambda e, m: errs.append(e))
    p.flush(10)
    if not errs or errs[0] is None or errs[0].code() != KafkaError.MSG_SIZE_TOO_LARGE:
        raise AssertionError(f"expected MSG_SIZE_TOO_LARGE, got {errs}")


@check("confluent offsets_for_times and watermarks")
def _():
    p = Producer({"bootstrap.servers": BROKER})
    base = int(time.time() * 1000) - 100000
    for i in range(10):
        p.produce("times", value=b"%d" % i, timestamp=base + i * 1000)
    p.flush(10)
    c = Consumer({"bootstrap.servers": BROKER, "group.id": "times"})
    lo, hi = c.get_watermark_offsets(TopicPartition("times", 0), timeout=10)
    if (lo, hi) != (0, 10):
        raise AssertionError(f"watermarks {(lo, hi)}")
    r = c.offsets_for_times([TopicPartition("times", 0, base + 4500)], timeout=10)
    if r[0].offset != 5:
        raise AssertionError(f"offset for time {r[0].offset}, expected 5")
    c.close()


@check("internal __consumer_offsets cannot be written, deleted or repartitioned")
def _():
    admin.list_topics(timeout=10)
    errs = []
    p = Producer({"bootstrap.servers": BROKER, "message.timeout.ms": 3000})
    p.produce("__consumer_offsets", value=b"x", partition=0, on_delivery=lambda e, m: errs.append(e))
    p.flush(10)
    if not errs or errs[0] is None:
        raise AssertionError(f"produce to the internal topic succeeded: {errs}")
    for fs in (admin.delete_topics(["__consumer_offsets"]),
               admin.create_partitions([NewPartitions("__consumer_offsets", 60)])):
        try:
            wait_futures(fs)
            raise AssertionError("internal topic change accepted")
        except KafkaException:
            pass
    if "__consumer_offsets" not in admin.list_topics(timeout=10).topics:
        raise AssertionError("internal topic gone")


@check("metadata for a topic with 1100 partitions")
def _():
    wait_futures(admin.create_topics([NewTopic("wide", num_partitions=1100, replication_factor=1)]))
    md = admin.list_topics(timeout=20)
    if len(md.topics["wide"].partitions) != 1100:
        raise AssertionError(f"{len(md.topics['wide'].partitions)} partitions")


@check("kafka-python produce and consume")
def _():
    from kafka import KafkaConsumer, KafkaProducer
    from kafka import TopicPartition as KTP
    p = KafkaProducer(bootstrap_servers=BROKER, acks="all", compression_type="gzip")
    for i in range(100):
        p.send("kp", key=b"k%d" % (i % 5), value=b"value-%d" % i)
    p.flush(10)
    p.close()
    c = KafkaConsumer(bootstrap_servers=BROKER, auto_offset_reset="earliest",
                      consumer_timeout_ms=5000, enable_auto_commit=False)
    c.assign([KTP("kp", 0)])
    vals = [m.value for m in c]
    c.close()
    if vals != [b"value-%d" % i for i in range(100)]:
        raise AssertionError(f"got {len(vals)} values: {vals[:3]}")


sys.exit(1 if failed else 0)
