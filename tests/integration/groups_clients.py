#!/usr/bin/python3
"""Consumer-group scenarios for tests/integration/test_groups.sh.

    groups_clients.py SCENARIO BROKER [ARGS...]

Each scenario prints "PASS: name" / "FAIL: name: why" lines (tests/run.sh
counts them) and exits non-zero when something failed.  Every wait has a
deadline, so nothing here can hang; the shell adds an outer timeout too.
"""
import sys
import time
import logging

logging.basicConfig(level=logging.CRITICAL)

FAILED = False


def passed(name):
    print("PASS: %s" % name, flush=True)


def failed(name, why):
    global FAILED
    FAILED = True
    print("FAIL: %s: %s" % (name, why), flush=True)


def check(name, cond, why):
    if cond:
        passed(name)
    else:
        failed(name, why)
    return cond


# ---- confluent-kafka-python (librdkafka) ----

def ck_conf(broker, group, **extra):
    c = {
        "bootstrap.servers": broker,
        "group.id": group,
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
        "session.timeout.ms": 6000,
        "heartbeat.interval.ms": 300,
        "topic.metadata.refresh.interval.ms": 1000,
        "socket.timeout.ms": 10000,
    }
    c.update(extra)
    return c


def ck_create_topic(broker, topic, partitions):
    from confluent_kafka.admin import AdminClient, NewTopic
    a = AdminClient({"bootstrap.servers": broker})
    fs = a.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1)],
                         request_timeout=10)
    for f in fs.values():
        f.result(timeout=10)


def ck_produce(broker, topic, partitions, per_partition, tag):
    from confluent_kafka import Producer
    p = Producer({"bootstrap.servers": broker, "acks": "all"})
    for part in range(partitions):
        for i in range(per_partition):
            p.produce(topic, value=("%s-%d-%d" % (tag, part, i)).encode(), partition=part)
    left = p.flush(15)
    if left:
        raise RuntimeError("%d message(s) not delivered" % left)


class Tracked:
    """A confluent Consumer that records its assignment and what it read."""

    def __init__(self, name, conf, topic):
        from confluent_kafka import Consumer
        self.name = name
        self.c = Consumer(conf)
        self.assigned = set()
        self.events = []
        self.msgs = []          # (partition, offset, value) since the last assignment
        self.c.subscribe([topic], on_assign=self._assign, on_revoke=self._revoke)

    def _assign(self, c, parts):
        self.assigned = set(p.partition for p in parts)
        self.events.append(("assign", sorted(self.assigned)))
        self.msgs = []

    def _revoke(self, c, parts):
        self.events.append(("revoke", sorted(p.partition for p in parts)))
        self.assigned = set()

    def poll(self, t=0.05):
        m = self.c.poll(t)
        if m is not None and not m.error():
            self.msgs.append((m.partition(), m.offset(), m.value()))
        return m

    def close(self):
        self.c.close()


def poll_until(consumers, cond, timeout):
    end = time.time() + timeout
    while time.time() < end:
        for c in consumers:
            c.poll(0.05)
        if cond():
            return True
    return False


def scenario_confluent(broker, topic, group):
    from confluent_kafka import TopicPartition
    ck_create_topic(broker, topic, 4)
    ck_produce(broker, topic, 4, 10, "a")

    c1 = Tracked("c1", ck_conf(broker, group, **{"client.id": "ck-one"}), topic)
    ok = poll_until([c1], lambda: len(c1.assigned) == 4, 20)
    check("confluent_first_member_gets_all", ok,
          "c1 assignment %s, events %s" % (sorted(c1.assigned), c1.events))

    c2 = Tracked("c2", ck_conf(broker, group, **{"client.id": "ck-two"}), topic)
    n_events = len(c1.events)
    ok = poll_until([c1, c2], lambda: c1.assigned and c2.assigned and
                    not (c1.assigned & c2.assigned) and
                    len(c1.assigned | c2.assigned) == 4, 20)
    revoked = any(e[0] == "revoke" for e in c1.events[n_events:])
    check("confluent_second_member_splits", ok and revoked,
          "c1 %s c2 %s; c1 events %s" % (sorted(c1.assigned), sorted(c2.assigned), c1.events))

    c2.close()
    ok = poll_until([c1], lambda: len(c1.assigned) == 4, 20)
    check("confluent_survivor_gets_all_after_close", ok,
          "c1 %s events %s" % (sorted(c1.assigned), c1.events))

    # Read all 40 under the final assignment and commit them.
    ok = poll_until([c1], lambda: len(set((p, o) for p, o, _ in c1.msgs)) >= 40, 20)
    parts = [TopicPartition(topic, p) for p in range(4)]
    if ok:
        c1.c.commit(asynchronous=False)
    committed = c1.c.committed(parts, timeout=10)
    offs = sorted((tp.partition, tp.offset) for tp in committed)
    check("confluent_commit_and_committed", ok and offs == [(p, 10) for p in range(4)],
          "read %d, committed %s" % (len(c1.msgs), offs))
    c1.close()

    # A new member resumes exactly after the committed offsets.
    ck_produce(broker, topic, 4, 2, "b")
    c3 = Tracked("c3", ck_conf(broker, group), topic)
    poll_until([c3], lambda: len(c3.msgs) >= 8, 20)
    poll_until([c3], lambda: False, 1.0)      # anything extra would show up now
    got = sorted((p, o) for p, o, _ in c3.msgs)
    want = sorted((p, o) for p in range(4) for o in (10, 11))
    values_new = all(v.startswith(b"b-") for _, _, v in c3.msgs)
    check("confluent_new_member_resumes_after_commit", got == want and values_new,
          "got %s" % got)
    committed = c3.c.committed(parts, timeout=10)
    check("confluent_committed_from_new_member",
          sorted((tp.partition, tp.offset) for tp in committed) == [(p, 10) for p in range(4)],
          str(committed))
    c3.c.commit(asynchronous=False)
    c3.close()


class Incremental(Tracked):
    """A consumer under the cooperative protocol: callbacks carry only the
    partitions that move, so the assignment is kept as a running set."""

    def _assign(self, c, parts):
        self.assigned |= set(p.partition for p in parts)
        self.events.append(("assign", sorted(p.partition for p in parts)))

    def _revoke(self, c, parts):
        self.assigned -= set(p.partition for p in parts)
        self.events.append(("revoke", sorted(p.partition for p in parts)))


def scenario_cooperative(broker, topic, group):
    """cooperative-sticky (KIP-429): the broker runs the classic protocol and
    the clients do incremental rebalancing on top; a member keeps the
    partitions that do not move."""
    ck_create_topic(broker, topic, 4)
    conf = {"partition.assignment.strategy": "cooperative-sticky"}
    c1 = Incremental("c1", ck_conf(broker, group, **conf), topic)
    ok = poll_until([c1], lambda: len(c1.assigned) == 4, 20)
    check("cooperative_first_member_gets_all", ok, "events %s" % c1.events)
    before = len(c1.events)
    c2 = Incremental("c2", ck_conf(broker, group, **conf), topic)
    ok = poll_until([c1, c2], lambda: len(c1.assigned) == 2 and len(c2.assigned) == 2 and
                    not (c1.assigned & c2.assigned), 30)
    revoked = [p for e in c1.events[before:] if e[0] == "revoke" for p in e[1]]
    check("cooperative_second_member_takes_half_without_full_revoke",
          ok and 0 < len(revoked) < 4,
          "c1 %s c2 %s; c1 events %s" % (sorted(c1.assigned), sorted(c2.assigned), c1.events))
    c2.close()
    ok = poll_until([c1], lambda: len(c1.assigned) == 4, 30)
    check("cooperative_survivor_gets_all", ok, "events %s" % c1.events)
    c1.close()


# ---- kafka-python ----

def kp_scenario(broker, topic, group):
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition
    from kafka.structs import OffsetAndMetadata
    from kafka.admin import KafkaAdminClient, NewTopic
    adm = KafkaAdminClient(bootstrap_servers=broker, request_timeout_ms=10000)
    adm.create_topics([NewTopic(topic, 2, 1)])
    prod = KafkaProducer(bootstrap_servers=broker, acks="all")
    for i in range(20):
        prod.send(topic, value=b"k-%d" % i, partition=i % 2)
    prod.flush(15)

    def consumer():
        return KafkaConsumer(topic, bootstrap_servers=broker, group_id=group,
                             auto_offset_reset="earliest", enable_auto_commit=False,
                             session_timeout_ms=6000, heartbeat_interval_ms=300,
                             consumer_timeout_ms=15000)

    c = consumer()
    seen = []
    end = time.time() + 20
    while len(seen) < 20 and time.time() < end:
        for recs in c.poll(timeout_ms=200).values():
            seen.extend((r.partition, r.offset) for r in recs)
    ok = len(set(seen)) == 20
    if ok:
        c.commit({TopicPartition(topic, p): OffsetAndMetadata(10, "kp-meta-%d" % p)
                  for p in range(2)})
    got = {p: c.committed(TopicPartition(topic, p)) for p in range(2)}
    check("kafkapython_group_consume_commit", ok and got == {0: 10, 1: 10},
          "read %d, committed %s" % (len(seen), got))
    c.close()

    offs = adm.list_consumer_group_offsets(group)
    want = {TopicPartition(topic, p): ("kp-meta-%d" % p, 10) for p in range(2)}
    have = {tp: (om.metadata, om.offset) for tp, om in offs.items()}
    check("kafkapython_offset_metadata", have == want, "offsets %s" % have)

    for i in range(6):
        prod.send(topic, value=b"n-%d" % i, partition=i % 2)
    prod.flush(15)
    c = consumer()
    seen = []
    end = time.time() + 20
    while len(seen) < 6 and time.time() < end:
        for recs in c.poll(timeout_ms=200).values():
            seen.extend((r.partition, r.offset, r.value) for r in recs)
    end = time.time() + 1
    while time.time() < end:
        for recs in c.poll(timeout_ms=200).values():
            seen.extend((r.partition, r.offset, r.value) for r in recs)
    want = sorted((p, o) for p in range(2) for o in (10, 11, 12))
    check("kafkapython_resume_after_consumer_restart",
          sorted((p, o) for p, o, _ in seen) == want and
          all(v.startswith(b"n-") for _, _, v in seen), "got %s" % seen)
    c.commit()
    c.close()
    prod.close()
    adm.close()


# ---- admin: list, describe, delete ----

def admin_scenario(broker, topic, group_active, group_idle):
    from confluent_kafka import Consumer
    from confluent_kafka.admin import AdminClient
    from kafka.admin import KafkaAdminClient
    from kafka import TopicPartition

    # group_idle: commits offsets, then leaves (Empty with offsets).
    ck_create_topic(broker, topic, 2)
    ck_produce(broker, topic, 2, 3, "d")
    idle = Tracked("idle", ck_conf(broker, group_idle), topic)
    poll_until([idle], lambda: len(idle.msgs) >= 6, 20)
    idle.c.commit(asynchronous=False)
    idle.close()

    active = Tracked("active", ck_conf(broker, group_active, **{"client.id": "admin-active"}),
                     topic)
    poll_until([active], lambda: len(active.assigned) == 2, 20)
    # Keep it polling while the admin clients talk to the broker.
    poll_until([active], lambda: False, 0.5)

    ca = AdminClient({"bootstrap.servers": broker})
    groups = {g.id: g for g in ca.list_groups(timeout=10)}
    check("confluent_list_groups",
          group_active in groups and group_idle in groups and
          groups[group_active].protocol_type == "consumer" and
          groups[group_active].state == "Stable" and
          len(groups[group_active].members) == 1 and
          groups[group_active].members[0].client_id == "admin-active",
          "groups %s" % {k: (v.state, v.protocol_type, len(v.members))
                         for k, v in groups.items()})
    poll_until([active], lambda: False, 0.2)

    ka = KafkaAdminClient(bootstrap_servers=broker, request_timeout_ms=10000)
    listed = dict(ka.list_consumer_groups())
    check("kafkapython_list_consumer_groups",
          listed.get(group_active) == "consumer" and group_idle in listed, "listed %s" % listed)
    poll_until([active], lambda: False, 0.2)

    desc = {d.group: d for d in ka.describe_consumer_groups([group_active, group_idle])}
    da, di = desc.get(group_active), desc.get(group_idle)
    ok = (da is not None and da.state == "Stable" and da.protocol_type == "consumer" and
          da.protocol in ("range", "roundrobin") and len(da.members) == 1 and
          da.members[0].client_id == "admin-active" and
          sorted(da.members[0].member_assignment.assignment[0][1]) == [0, 1] and
          di is not None and di.state == "Empty" and len(di.members) == 0)
    check("kafkapython_describe_consumer_groups", ok, "described %s" % desc)
    poll_until([active], lambda: False, 0.2)

    res = dict(ka.delete_consumer_groups([group_idle, group_active, "no-such-group"]))
    names = {k: getattr(v, "__name__", type(v).__name__) for k, v in res.items()}
    ok = (names.get(group_idle) == "NoError" and names.get(group_active) == "NonEmptyGroupError"
          and names.get("no-such-group") == "GroupIdNotFoundError")
    check("kafkapython_delete_consumer_groups", ok, "results %s" % names)

    listed = dict(ka.list_consumer_groups())
    offs = ka.list_consumer_group_offsets(group_idle,
                                          partitions=[TopicPartition(topic, 0),
                                                      TopicPartition(topic, 1)])
    gone = group_idle not in listed and all(om.offset == -1 for om in offs.values())
    check("deleted_group_is_gone", gone, "listed %s offsets %s" % (listed, offs))
    poll_until([active], lambda: False, 0.2)
    active.close()
    ka.close()


# ---- session timeout: a member that is killed ----

def session_member(broker, topic, group, session_ms):
    """Print the assignment on every change; run until killed (max 90 s)."""
    c = Tracked("m", ck_conf(broker, group, **{"session.timeout.ms": int(session_ms)}), topic)
    last = None
    end = time.time() + 90
    while time.time() < end:
        c.poll(0.05)
        cur = sorted(c.assigned)
        if cur != last:
            print("ASSIGNED %d %.3f %s" % (len(cur), time.time(), cur), flush=True)
            last = cur
    c.close()


# ---- restart: offsets survive ----

def restart_phase(broker, topic, group, phase):
    """phase 1: consume 2x5 and commit; phase N>1: committed() must equal
    the previous commit, then read exactly the 2 new ones and commit."""
    from confluent_kafka import TopicPartition
    phase = int(phase)
    parts = [TopicPartition(topic, p) for p in range(2)]
    if phase == 1:
        ck_create_topic(broker, topic, 2)
        ck_produce(broker, topic, 2, 5, "r1")
        expect_committed = None
        want = sorted((p, o) for p in range(2) for o in range(5))
    else:
        expect_committed = 5 + (phase - 2)
        ck_produce(broker, topic, 2, 1, "r%d" % phase)
        want = sorted((p, expect_committed) for p in range(2))
    c = Tracked("r", ck_conf(broker, group), topic)
    if expect_committed is not None:
        committed = c.c.committed(parts, timeout=10)
        have = sorted((tp.partition, tp.offset) for tp in committed)
        check("restart_phase%d_committed_survived" % phase,
              have == [(p, expect_committed) for p in range(2)], "committed %s" % have)
    poll_until([c], lambda: len(c.msgs) >= len(want), 20)
    poll_until([c], lambda: False, 0.5)
    got = sorted((p, o) for p, o, _ in c.msgs)
    check("restart_phase%d_resumes" % phase, got == want, "got %s want %s" % (got, want))
    c.c.commit(asynchronous=False)
    c.close()


def create_topic(broker, topic, partitions):
    ck_create_topic(broker, topic, int(partitions))


def deleted_stays_deleted(broker, topic, group):
    from kafka.admin import KafkaAdminClient
    from kafka import TopicPartition
    ka = KafkaAdminClient(bootstrap_servers=broker, request_timeout_ms=10000)
    listed = dict(ka.list_consumer_groups())
    offs = ka.list_consumer_group_offsets(group, partitions=[TopicPartition(topic, 0),
                                                             TopicPartition(topic, 1)])
    check("deleted_group_stays_deleted_after_restart",
          group not in listed and all(om.offset == -1 for om in offs.values()),
          "listed %s offsets %s" % (listed, offs))
    ka.close()


def main():
    scenario, broker, args = sys.argv[1], sys.argv[2], sys.argv[3:]
    fn = {
        "confluent": scenario_confluent,
        "cooperative": scenario_cooperative,
        "kafkapython": kp_scenario,
        "admin": admin_scenario,
        "session-member": session_member,
        "restart": restart_phase,
        "create-topic": create_topic,
        "deleted": deleted_stays_deleted,
    }[scenario]
    try:
        fn(broker, *args)
    except Exception as e:      # report, do not hang or crash silently
        failed("%s_scenario" % scenario.replace("-", "_"), "%s: %s" % (type(e).__name__, e))
    sys.exit(1 if FAILED else 0)


if __name__ == "__main__":
    main()
