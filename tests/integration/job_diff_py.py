"""What `kappa job diff` must report for two versions of examples/views/revenue.c,
computed independently: read the orders topic itself, keep the orders before
the diff's cut (offset < C of their partition), build both versions' rows the
way revenue.c defines them, and compare.

  job_diff_py.py check BROKER ORDERS_TOPIC DIFF_JSON OUTPUT EXCL1 EXCL2
      DIFF_JSON: the file `kappa job diff --json --samples N` wrote (N large
      enough for every key); OUTPUT: "view:revenue" or "topic:NAME";
      EXCL1/EXCL2: 0/1, whether version 1/2 ran with exclude_refunds=true.
      Prints "ok ..." or what differs, exit 1.
"""
import json
import sys


def read_orders(broker, topic):
    from confluent_kafka import Consumer, TopicPartition
    c = Consumer({"bootstrap.servers": broker, "group.id": "job-diff-py-unused",
                  "enable.auto.commit": False, "isolation.level": "read_committed",
                  "enable.partition.eof": True})
    md = c.list_topics(topic, timeout=10)
    parts = sorted(md.topics[topic].partitions)
    ends = {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in parts}
    c.assign([TopicPartition(topic, p, 0) for p in parts])
    out, done = [], set(p for p in parts if ends[p] == 0)
    while len(done) < len(parts):
        m = c.poll(5)
        if m is None:
            sys.exit("reading %s: no progress" % topic)
        if m.error():
            if m.error().code() == -191:    # _PARTITION_EOF
                done.add(m.partition())
                continue
            sys.exit("reading %s: %s" % (topic, m.error()))
        if m.offset() < ends[m.partition()]:
            out.append((m.partition(), m.offset(), json.loads(m.value())))
        if m.offset() + 1 >= ends[m.partition()]:
            done.add(m.partition())
    c.close()
    return out


def rows(orders, exclude):
    acc = {}
    for _, _, o in orders:
        if exclude and o["refund"]:
            continue
        w = o["ts"] - o["ts"] % 60000
        r = acc.setdefault((o["product"], w), [0, 0])
        r[0] += o["amount"]
        r[1] += 1
    return {"%s|%d" % (p, w): '{"product":"%s","window_start":%d,"revenue":%d,"orders":%d}'
            % (p, w, rev, n) for (p, w), (rev, n) in acc.items()}


def main():
    _, cmd, broker, topic, path, output, e1, e2 = sys.argv
    doc = json.load(open(path))
    cut = {}
    for ent in filter(None, doc["cut"].split(",")):
        t, rest = ent.rsplit(":", 1)
        p, off = rest.split("=")
        cut[(t, int(p))] = int(off)
    orders = [o for o in read_orders(broker, topic) if o[1] < cut.get((topic, o[0]), 0)]
    a, b = rows(orders, e1 == "1"), rows(orders, e2 == "1")
    want = {
        "equal": sum(1 for k in a if k in b and a[k] == b[k]),
        "changed": sorted([{"key": k, "v1": a[k], "v2": b[k]} for k in a if k in b and a[k] != b[k]],
                          key=lambda x: x["key"]),
        "only_v1": sorted([{"key": k, "value": a[k]} for k in a if k not in b], key=lambda x: x["key"]),
        "only_v2": sorted([{"key": k, "value": b[k]} for k in b if k not in a], key=lambda x: x["key"]),
    }
    kind, name = output.split(":", 1)
    got = [o for o in doc["outputs"] if o["kind"] == kind and o["name"] == name]
    if len(got) != 1:
        sys.exit("output %s not in the diff: %s" % (output, [o["name"] for o in doc["outputs"]]))
    g = got[0]
    problems = []
    if g["equal"] != want["equal"]:
        problems.append("equal %d, want %d" % (g["equal"], want["equal"]))
    for kind in ("changed", "only_v1", "only_v2"):
        if g[kind] != len(want[kind]):
            problems.append("%s %d, want %d" % (kind, g[kind], len(want[kind])))
        # JSON keeps the key order diff sorted them in (bytewise = Python's for ASCII)
        if g["samples"][kind] != want[kind]:
            gk = set(x["key"] for x in g["samples"][kind])
            wk = set(x["key"] for x in want[kind])
            problems.append("%s samples differ: extra %s missing %s" %
                            (kind, sorted(gk - wk)[:5], sorted(wk - gk)[:5]))
    identical = not want["changed"] and not want["only_v1"] and not want["only_v2"]
    if problems:
        print("; ".join(problems))
        sys.exit(1)
    print("ok orders_before_cut=%d equal=%d changed=%d only_v1=%d only_v2=%d identical=%s" %
          (len(orders), want["equal"], len(want["changed"]), len(want["only_v1"]),
           len(want["only_v2"]), identical))


if __name__ == "__main__":
    main()
