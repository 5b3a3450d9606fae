#!/usr/bin/python3
"""bench/freshness_bench.py -- end-to-end view freshness (issue 6, item 5).

Produces keyed records to a topic at a fixed rate for a while.  Every few
milliseconds one record is a *probe* with a key of its own.  A second process
asks the HTTP query API for each acknowledged probe's row over one keep-alive
connection until it is there, and the latency of a probe is

    (the moment its row is first visible through GET /v1/views/VIEW/KEY)
  - (the moment the producer got its acknowledgement)

both on CLOCK_MONOTONIC, which the two processes share.  The acknowledgement
time is when the delivery callback runs (the producer polls every 100
records); the same latency from the produce() call, an upper bound that adds
the producer's batching and the acknowledgement round trip, is printed too.  The pipeline under
test is whatever the caller started (bench/freshness_bench.sh starts kappa
server, the examples/views/latest.c job and its view sink).  The visibility
check polls, so each figure is late by up to one sweep of the outstanding
probes (printed as "poll sweep").

Usage: freshness_bench.py --brokers B --http H [--topic events] [--view latest]
                          [--rate 10000] [--seconds 20] [--probes-per-s 200]
"""
import argparse
import http.client
import multiprocessing as mp
import sys
import time

from confluent_kafka import Producer


def produce(args, q, done):
    p = Producer({"bootstrap.servers": args.brokers, "enable.idempotence": True,
                  "linger.ms": 2, "queue.buffering.max.messages": 2000000})
    probe_every = max(1, args.rate // args.probes_per_s)
    run = int(time.time() * 1000)
    t0 = time.monotonic()
    sent = 0
    probe = 0

    def acked(err, msg):
        if err is None:
            q.put((msg.key().decode(), "ack", time.monotonic()))

    end = t0 + args.seconds
    while True:
        now = time.monotonic()
        if now >= end:
            break
        due = int((now - t0) * args.rate)
        while sent < due:
            if sent % probe_every == 0:
                key = "probe-%d-%d" % (run, probe)  # unique across runs
                probe += 1
                q.put((key, "sent", time.monotonic()))
                p.produce(args.topic, key=key, value=b'{"probe":%d}' % probe, on_delivery=acked)
            else:
                p.produce(args.topic, key=b"k%d" % (sent % 10000), value=b'{"i":%d}' % sent)
            sent += 1
            if sent % 100 == 0:
                p.poll(0)       # delivery callbacks run here: keep ack times accurate
        p.poll(0)
        time.sleep(0.0005)
    p.flush(30)
    done.put((sent, probe, time.monotonic() - t0))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--brokers", required=True)
    ap.add_argument("--http", required=True)
    ap.add_argument("--topic", default="events")
    ap.add_argument("--view", default="latest")
    ap.add_argument("--rate", type=int, default=10000)
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--probes-per-s", type=int, default=200)
    args = ap.parse_args()

    q, done = mp.Queue(), mp.Queue()
    pr = mp.Process(target=produce, args=(args, q, done))
    pr.start()
    host, port = args.http.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    pending = {}          # key -> ack time
    sent_at = {}          # key -> produce() call time
    lat = []
    lat_sent = []
    sweeps = []
    result = None
    deadline = None
    while True:
        while not q.empty():
            k, what, t = q.get()
            if what == "sent":
                sent_at[k] = t
            else:
                pending[k] = t
        if result is None and not done.empty():
            result = done.get()
            deadline = time.monotonic() + 10
        if result is not None and (not pending or time.monotonic() > deadline):
            break
        if not pending:
            time.sleep(0.0005)
            continue
        s0 = time.monotonic()
        for k in list(pending):
            conn.request("GET", "/v1/views/%s/%s" % (args.view, k))
            r = conn.getresponse()
            r.read()
            if r.status == 200:
                now = time.monotonic()
                lat.append(now - pending.pop(k))
                lat_sent.append(now - sent_at.pop(k, now))
            elif r.status != 404:
                sys.exit("freshness_bench: GET %s: HTTP %d" % (k, r.status))
        sweeps.append(time.monotonic() - s0)
    pr.join()
    sent, probes, secs = result
    lat.sort()
    lat_sent.sort()
    sweeps.sort()

    def pct(v, p):
        return v[min(len(v) - 1, int(p * len(v)))] * 1000 if v else float("nan")

    print("rate %d/s asked, %.0f/s produced (%d records in %.1f s); %d probes, %d seen, %d never"
          % (args.rate, sent / secs, sent, secs, probes, len(lat), len(pending)))
    print("ack -> visible ms: p50 %.1f  p90 %.1f  p99 %.1f  max %.1f   (poll sweep p50 %.2f ms, max %.1f)"
          % (pct(lat, .5), pct(lat, .9), pct(lat, .99), pct(lat, 1.0), pct(sweeps, .5),
             pct(sweeps, 1.0)))
    print("produce() -> visible ms: p50 %.1f  p90 %.1f  p99 %.1f  max %.1f   (includes the producer's "
          "own batching and the acknowledgement)"
          % (pct(lat_sent, .5), pct(lat_sent, .9), pct(lat_sent, .99), pct(lat_sent, 1.0)))
    return 0 if not pending else 1


if __name__ == "__main__":
    sys.exit(main())
