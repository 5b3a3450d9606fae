#!/usr/bin/python3
"""Compare a Nexmark job's output with the reference's (docs/nexmark.md).

    compare.py --query Q --expected REF.txt --actual JOB.txt
               [--events EVENTS.jsonl --partitions P --out-of-order-ms N]

Both files hold one canonical JSON line per row (any order).  Prints one
line, "ok: ..." or the first problems found, and exits 0 or 1.

Queries without windows (q1, q2, q3): the two multisets must be equal.

Windowed queries (q5, q7, q8, q11): a streaming job only emits a window once its
watermark has passed the window's end, and at the end of a finite input the
last windows stay open.  So:
  - every row the job wrote must be in the reference, as a multiset (no
    duplicates, nothing invented), and
  - every reference row whose window has surely closed must be there.  The
    job's watermark is at least W = min over the source partitions of (the
    partition's highest event time - the job's out-of-orderness bound);
    event i is in partition i % P.  A fixed window [s, e) closes when the
    watermark reaches e (e <= W); a session [first, last + gap) when it
    passes last + gap (window_end < W).
"""
import argparse
import json
import sys
from collections import Counter

CLOSES = {  # query -> is the reference row's window closed at watermark W?
    "q5": lambda row, w: row["window_end"] <= w,
    "q7": lambda row, w: row["window_end"] <= w,
    "q11": lambda row, w: row["window_end"] < w,
    "q8": lambda row, w: row["window_start"] + 10000 <= w,
}


def lines(path):
    with open(path, encoding="utf-8") as f:
        return Counter(line.rstrip("\n") for line in f if line.strip())


def watermark(events, partitions, ooo):
    top = [None] * partitions
    with open(events, encoding="utf-8") as f:
        for i, line in enumerate(f):
            t = json.loads(line)["date_time"]
            p = i % partitions
            if top[p] is None or t > top[p]:
                top[p] = t
    if any(t is None for t in top):
        return None
    return min(top) - ooo


def show(counter, n=3):
    return "; ".join(f"{line} x{k}" for line, k in list(counter.items())[:n])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--query", required=True)
    ap.add_argument("--expected", required=True)
    ap.add_argument("--actual", required=True)
    ap.add_argument("--events")
    ap.add_argument("--partitions", type=int, default=4)
    ap.add_argument("--out-of-order-ms", type=int, default=0)
    a = ap.parse_args()
    exp, act = lines(a.expected), lines(a.actual)
    if a.query not in CLOSES:
        if exp == act:
            print(f"ok: {sum(act.values())} rows, equal")
            return 0
        print(f"differ: job {sum(act.values())} rows, reference {sum(exp.values())}; "
              f"missing: {show(exp - act)}; extra: {show(act - exp)}")
        return 1
    if not a.events:
        sys.exit("compare.py: --events is required for windowed queries")
    w = watermark(a.events, a.partitions, a.out_of_order_ms)
    extra = act - exp
    must = Counter({line: k for line, k in exp.items() if CLOSES[a.query](json.loads(line), w)})
    missing = must - act
    closed = sum(must.values())
    if extra or missing or closed == 0:
        print(f"differ (W={w}): job {sum(act.values())} rows, reference {sum(exp.values())}, "
              f"{closed} of them closed; not in the reference (or too many times): "
              f"{len(extra)} [{show(extra)}]; closed but missing: {len(missing)} "
              f"[{show(missing)}]")
        return 1
    print(f"ok (W={w}): job {sum(act.values())} rows, all in the reference; "
          f"{closed} of {sum(exp.values())} reference rows closed, all present")
    return 0


if __name__ == "__main__":
    sys.exit(main())
