#!/usr/bin/python3
"""Reference implementation of the Nexmark queries kappa runs.

Reads Nexmark events as JSON lines (the output of `kappa nexmark gen
--output FILE`), computes one query over ALL of them at once, and prints its
result as canonical JSON lines, sorted.  The semantics are the ones written
down in docs/nexmark.md; this file is the executable form of that page, kept
deliberately simple (collect everything, then compute; no watermarks, no
state, no incremental anything) and independent of kappa's C code, so that
the C jobs can be checked against it.

    reference.py --query q5 [EVENTS.jsonl | -]

Standard library only.  Run with /usr/bin/python3.
"""

import argparse
import json
import os
import sys
from collections import defaultdict

WINDOW_MS = 10_000          # q5 window size, q7/q8 tumbling window, q11 session gap
HOP_MS = 2_000              # q5 slide
Q3_STATES = ("OR", "ID", "CA")
Q3_CATEGORY = 10


def canonical(obj):
    """One output row: keys in insertion order, no spaces, ASCII only."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=True)


def read_events(stream):
    persons, auctions, bids = [], [], []
    for lineno, line in enumerate(stream, 1):
        line = line.strip()
        if not line:
            continue
        try:
            ev = json.loads(line)
        except ValueError as e:
            sys.exit(f"reference.py: line {lineno}: not JSON: {e}")
        kind = ev.get("event_type")
        if kind == "person":
            persons.append(ev)
        elif kind == "auction":
            auctions.append(ev)
        elif kind == "bid":
            bids.append(ev)
        else:
            sys.exit(f"reference.py: line {lineno}: unknown event_type {kind!r}")
    return persons, auctions, bids


def tumble_start(t):
    """Start of the tumbling WINDOW_MS window holding t (epoch-aligned; floor
    division, so it also holds for times before the epoch)."""
    return t - t % WINDOW_MS


def q1(persons, auctions, bids):
    # Euros: integer arithmetic, truncating (prices are positive).
    return [{"auction": b["auction"], "bidder": b["bidder"],
             "price": b["price"] * 908 // 1000, "date_time": b["date_time"]}
            for b in bids]


def q2(persons, auctions, bids):
    return [{"auction": b["auction"], "price": b["price"]}
            for b in bids if b["auction"] % 123 == 0]


def q3(persons, auctions, bids):
    # A join over everything seen: each matching (person, auction) pair once,
    # whichever of the two arrived first.
    by_id = defaultdict(list)
    for p in persons:
        if p["state"] in Q3_STATES:
            by_id[p["id"]].append(p)
    out = []
    for a in auctions:
        if a["category"] != Q3_CATEGORY:
            continue
        for p in by_id.get(a["seller"], []):
            out.append({"name": p["name"], "city": p["city"], "state": p["state"],
                        "id": a["id"]})
    return out


def q5(persons, auctions, bids):
    # Hopping windows [s, s + 10 s) for every s that is a multiple of 2 s:
    # a bid at t is in the five windows with s <= t < s + 10 s.
    counts = defaultdict(lambda: defaultdict(int))   # window start -> auction -> bids
    for b in bids:
        t = b["date_time"]
        s = t - t % HOP_MS                             # the latest window holding t
        while s > t - WINDOW_MS:
            counts[s][b["auction"]] += 1
            s -= HOP_MS
    out = []
    for start, per_auction in counts.items():
        top = max(per_auction.values())
        for auction, num in per_auction.items():
            if num == top:
                out.append({"auction": auction, "num": num, "window_start": start,
                            "window_end": start + WINDOW_MS})
    return out


def q7(persons, auctions, bids):
    windows = defaultdict(list)
    for b in bids:
        windows[tumble_start(b["date_time"])].append(b)
    out = []
    for start, ws in windows.items():
        top = max(b["price"] for b in ws)
        for b in ws:
            if b["price"] == top:
                out.append({"auction": b["auction"], "bidder": b["bidder"], "price": b["price"],
                            "date_time": b["date_time"], "window_end": start + WINDOW_MS})
    return out


def q8(persons, auctions, bids):
    # Distinct (person id, name, window) on one side, distinct (seller,
    # window) on the other, joined on id = seller and the same window.
    registered = {(p["id"], p["name"], tumble_start(p["date_time"])) for p in persons}
    selling = {(a["seller"], tumble_start(a["date_time"])) for a in auctions}
    return [{"id": pid, "name": name, "window_start": start}
            for (pid, name, start) in registered if (pid, start) in selling]


def q11(persons, auctions, bids):
    # Session windows per bidder: bids sorted by time; a bid joins the current
    # session when it is at most 10 s after the session's last bid.
    times = defaultdict(list)
    for b in bids:
        times[b["bidder"]].append(b["date_time"])
    out = []
    for bidder, ts in times.items():
        ts.sort()
        first = last = ts[0]
        count = 1
        for t in ts[1:]:
            if t - last <= WINDOW_MS:
                last = t
                count += 1
            else:
                out.append({"bidder": bidder, "bid_count": count, "window_start": first,
                            "window_end": last + WINDOW_MS})
                first = last = t
                count = 1
        out.append({"bidder": bidder, "bid_count": count, "window_start": first,
                    "window_end": last + WINDOW_MS})
    return out


QUERIES = {"q1": q1, "q2": q2, "q3": q3, "q5": q5, "q7": q7, "q8": q8, "q11": q11}


def run(query, stream):
    """The canonical sorted output lines of query over the events in stream."""
    persons, auctions, bids = read_events(stream)
    return sorted(canonical(row) for row in QUERIES[query](persons, auctions, bids))


def main():
    ap = argparse.ArgumentParser(description="Nexmark reference results (docs/nexmark.md).")
    ap.add_argument("--query", required=True, choices=sorted(QUERIES, key=lambda q: int(q[1:])))
    ap.add_argument("events", nargs="?", default="-", help="JSON-lines events (default stdin)")
    args = ap.parse_args()
    if args.events == "-":
        lines = run(args.query, sys.stdin)
    else:
        try:
            with open(args.events, encoding="utf-8") as f:
                lines = run(args.query, f)
        except OSError as e:
            sys.exit(f"reference.py: {e}")
    try:
        sys.stdout.write("".join(line + "\n" for line in lines))
        sys.stdout.flush()
    except BrokenPipeError:
        # A reader such as `head` went away: not an error of ours.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


if __name__ == "__main__":
    main()
