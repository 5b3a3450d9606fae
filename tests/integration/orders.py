"""Orders for the revenue view example (examples/views/revenue.c), and the
view it must produce, computed independently of kappa.

  orders.py produce BROKER TOPIC SEED FROM TO [RATE]
      produce orders FROM..TO-1 of the seeded sequence, keyed by product,
      in order (idempotent producer), at most RATE per second (0: as fast
      as possible)
  orders.py expect SEED TO [exclude_refunds]
      print the view rows orders 0..TO-1 produce, "KEY<TAB>VALUE", sorted by
      key: what `SELECT key || char(9) || value FROM revenue ORDER BY key`
      must print

Order i is the same for a given seed whatever FROM/TO are (deterministic per
seed).  Event times increase with i, so no order is ever late.
"""
import json
import random
import sys
import time

BASE_MS = 1_700_000_040_000          # a minute boundary
STEP_MS = 30                         # 2,000 orders per minute


def orders(seed, to):
    rnd = random.Random(seed)
    for i in range(to):
        product = "p%d" % rnd.randrange(20)
        amount = rnd.randrange(100, 5000)
        refund = rnd.random() < 0.05
        yield {"order": i, "product": product, "amount": amount, "refund": refund,
               "ts": BASE_MS + i * STEP_MS}


def encode(o):
    # compact separators: the job matches "refund":true literally
    return json.dumps(o, separators=(",", ":"))


def produce(broker, topic, seed, lo, hi, rate):
    from confluent_kafka import Producer
    p = Producer({"bootstrap.servers": broker, "enable.idempotence": True,
                  "linger.ms": 5})
    t0 = time.time()
    n = 0
    for o in orders(seed, hi):
        if o["order"] < lo:
            continue
        while True:
            try:
                p.produce(topic, key=o["product"], value=encode(o), timestamp=o["ts"])
                break
            except BufferError:
                p.poll(0.05)
        n += 1
        if rate > 0 and n % 100 == 0:
            ahead = n / rate - (time.time() - t0)
            if ahead > 0:
                time.sleep(ahead)
        p.poll(0)
    left = p.flush(60)
    if left:
        sys.exit("%d orders not acknowledged" % left)


def expect(seed, to, exclude_refunds):
    rows = {}
    for o in orders(seed, to):
        if exclude_refunds and o["refund"]:
            continue
        w = o["ts"] - o["ts"] % 60000
        r = rows.setdefault((o["product"], w), [0, 0])
        r[0] += o["amount"]
        r[1] += 1
    out = []
    for (product, w), (revenue, n) in rows.items():
        key = "%s|%d" % (product, w)
        val = ('{"product":"%s","window_start":%d,"revenue":%d,"orders":%d}'
               % (product, w, revenue, n))
        out.append((key, val))
    for key, val in sorted(out):
        print("%s\t%s" % (key, val))


def main():
    cmd = sys.argv[1]
    if cmd == "produce":
        produce(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]),
                int(sys.argv[6]), float(sys.argv[7]) if len(sys.argv) > 7 else 0)
    elif cmd == "expect":
        expect(int(sys.argv[2]), int(sys.argv[3]),
               len(sys.argv) > 4 and sys.argv[4] == "exclude_refunds")
    else:
        sys.exit("unknown command " + cmd)


if __name__ == "__main__":
    main()
