#!/usr/bin/python3
"""Tests of the Nexmark reference implementation (reference.py) on small
hand-written event lists whose results were worked out by hand from
docs/nexmark.md -- window boundaries, ties, session merging, join order.

Prints PASS:/FAIL: lines for tests/run.sh.
"""

import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import reference  # noqa: E402

T = 1767225600000   # 2026-01-01T00:00:00Z, a multiple of 10 s and of 2 s
failures = 0


def person(pid, name, state, t, city="Boise"):
    return json.dumps({"event_type": "person", "id": pid, "name": name,
                       "email_address": "x@y.com", "credit_card": "0000 0000 0000 0000",
                       "city": city, "state": state, "date_time": t, "extra": ""})


def auction(aid, seller, category, t):
    return json.dumps({"event_type": "auction", "id": aid, "item_name": "item",
                       "description": "desc", "initial_bid": 100, "reserve": 200,
                       "date_time": t, "expires": t + 1000, "seller": seller,
                       "category": category, "extra": ""})


def bid(auction_id, bidder, price, t):
    return json.dumps({"event_type": "bid", "auction": auction_id, "bidder": bidder,
                       "price": price, "channel": "Google",
                       "url": "https://www.nexmark.com/googl/item.htm?query=1",
                       "date_time": t, "extra": ""})


def check(name, query, events, expected):
    """expected: rows as Python dicts (key order as documented)."""
    global failures
    got = reference.run(query, events)
    want = sorted(json.dumps(r, separators=(",", ":")) for r in expected)
    if got == want:
        print(f"PASS: {name}")
    else:
        failures += 1
        missing = [w for w in want if w not in got]
        extra = [g for g in got if g not in want]
        print(f"FAIL: {name}: missing {missing[:5]} unexpected {extra[:5]}")


def test_q1():
    events = [person(1, "A B", "OR", T), auction(10, 1, 10, T),
              bid(10, 1, 1000, T + 1), bid(10, 2, 1, T + 2), bid(11, 3, 1099, T + 3),
              bid(12, 4, 100000000, T + 4)]
    # 1099 * 908 = 997892 -> 997 (truncated); 1 * 908 / 1000 -> 0.
    check("q1 euro prices, integer division", "q1", events, [
        {"auction": 10, "bidder": 1, "price": 908, "date_time": T + 1},
        {"auction": 10, "bidder": 2, "price": 0, "date_time": T + 2},
        {"auction": 11, "bidder": 3, "price": 997, "date_time": T + 3},
        {"auction": 12, "bidder": 4, "price": 90800000, "date_time": T + 4},
    ])


def test_q2():
    events = [bid(a, 7, 50 + a, T) for a in (123, 124, 246, 1000, 1107, 0 + 1230)]
    check("q2 auction % 123 == 0", "q2", events, [
        {"auction": 123, "price": 173}, {"auction": 246, "price": 296},
        {"auction": 1107, "price": 1157}, {"auction": 1230, "price": 1280},
    ])


def test_q3():
    events = [
        person(1, "Ann Or", "OR", T, city="Bend"),
        auction(100, 1, 10, T + 1),             # person first
        auction(101, 2, 10, T + 2),             # auction first, person 2 later
        person(2, "Cal Ca", "CA", T + 3, city="Los Angeles"),
        person(3, "Wes Wa", "WA", T + 4),       # wrong state
        auction(102, 3, 10, T + 5),
        person(4, "Ida Id", "ID", T + 6),
        auction(103, 4, 11, T + 7),             # wrong category
        auction(104, 1, 10, T + 8),             # person 1's second auction
        auction(105, 99, 10, T + 9),            # no such person
        person(5, "Ian Id", "ID", T + 10),      # no auction
    ]
    check("q3 join in both arrival orders", "q3", events, [
        {"name": "Ann Or", "city": "Bend", "state": "OR", "id": 100},
        {"name": "Cal Ca", "city": "Los Angeles", "state": "CA", "id": 101},
        {"name": "Ann Or", "city": "Bend", "state": "OR", "id": 104},
    ])


def test_q5():
    # Window [s, s + 10 s) for every s a multiple of 2 s.  A bid at T+2000 is
    # not in [T-8000, T+2000); one at T+10000 not in [T, T+10000).
    events = [bid(1, 9, 1, T), bid(1, 9, 1, T + 1000), bid(2, 9, 1, T + 1999),
              bid(2, 9, 1, T + 2000), bid(3, 9, 1, T + 9999), bid(3, 9, 1, T + 10000)]

    def row(a, n, s):
        return {"auction": a, "num": n, "window_start": T + s, "window_end": T + s + 10000}
    check("q5 hopping windows, boundaries and ties", "q5", events, [
        row(1, 2, -8000),
        row(1, 2, -6000), row(2, 2, -6000),
        row(1, 2, -4000), row(2, 2, -4000),
        row(1, 2, -2000), row(2, 2, -2000),
        row(1, 2, 0), row(2, 2, 0),
        row(3, 2, 2000), row(3, 2, 4000), row(3, 2, 6000), row(3, 2, 8000),
        row(3, 1, 10000),
    ])


def test_q7():
    events = [bid(1, 1, 5, T), bid(1, 1, 7, T + 9999), bid(2, 2, 7, T + 5000),
              bid(3, 3, 100, T + 10000),       # exactly at the first window's end
              bid(4, 4, 3, T + 19999), bid(5, 5, 1000, T - 1)]
    check("q7 highest bid per window, ties, boundary", "q7", events, [
        {"auction": 5, "bidder": 5, "price": 1000, "date_time": T - 1, "window_end": T},
        {"auction": 1, "bidder": 1, "price": 7, "date_time": T + 9999, "window_end": T + 10000},
        {"auction": 2, "bidder": 2, "price": 7, "date_time": T + 5000, "window_end": T + 10000},
        {"auction": 3, "bidder": 3, "price": 100, "date_time": T + 10000,
         "window_end": T + 20000},
    ])


def test_q8():
    events = [
        person(1, "One", "OR", T + 100), auction(10, 1, 10, T + 9999),
        person(2, "Two", "OR", T + 9999), auction(11, 2, 10, T + 10000),   # next window
        person(3, "Three", "OR", T + 10000), auction(12, 3, 10, T + 10001),
        auction(13, 3, 10, T + 19999),                                       # same window again
        auction(14, 4, 10, T + 400), person(4, "Four", "OR", T + 500),     # auction first
        auction(15, 5, 10, T + 1),                                           # no person
    ]
    check("q8 new sellers per tumbling window", "q8", events, [
        {"id": 1, "name": "One", "window_start": T},
        {"id": 3, "name": "Three", "window_start": T + 10000},
        {"id": 4, "name": "Four", "window_start": T},
    ])


def test_q11():
    events = [
        bid(1, 1, 1, T), bid(1, 1, 1, T + 10000),      # gap of exactly 10 s: merged
        bid(1, 1, 1, T + 20000), bid(1, 1, 1, T + 30001),   # 10.001 s: a new session
        bid(1, 2, 1, T + 5000), bid(1, 2, 1, T), bid(1, 2, 1, T + 2000),  # out of order
        bid(1, 3, 1, T + 7),
    ]
    check("q11 session windows, merging and gap boundary", "q11", events, [
        {"bidder": 1, "bid_count": 3, "window_start": T, "window_end": T + 30000},
        {"bidder": 1, "bid_count": 1, "window_start": T + 30001, "window_end": T + 40001},
        {"bidder": 2, "bid_count": 3, "window_start": T, "window_end": T + 15000},
        {"bidder": 3, "bid_count": 1, "window_start": T + 7, "window_end": T + 10007},
    ])


def test_command_line():
    """The script itself: stdin, a file, sorted canonical output, bad usage."""
    global failures
    script = os.path.join(HERE, "reference.py")
    data = "\n".join([bid(246, 2, 5, T), bid(123, 1, 9, T), person(1, "A", "OR", T)]) + "\n"
    r = subprocess.run([sys.executable, script, "--query", "q2"], input=data,
                       capture_output=True, text=True)
    want = '{"auction":123,"price":9}\n{"auction":246,"price":5}\n'
    if r.returncode == 0 and r.stdout == want:
        print("PASS: reference.py reads stdin, prints sorted canonical lines")
    else:
        failures += 1
        print(f"FAIL: reference.py reads stdin: rc {r.returncode} out {r.stdout!r} "
              f"err {r.stderr!r}")
    r = subprocess.run([sys.executable, script, "--query", "q9"], input="",
                       capture_output=True, text=True)
    r2 = subprocess.run([sys.executable, script, "--query", "q1", "/nonexistent/x"],
                        capture_output=True, text=True)
    r3 = subprocess.run([sys.executable, script, "--query", "q1"], input="{not json\n",
                        capture_output=True, text=True)
    if r.returncode == 2 and r2.returncode != 0 and "nonexistent" in r2.stderr and \
            r3.returncode != 0 and "line 1" in r3.stderr:
        print("PASS: reference.py rejects bad queries, files and input")
    else:
        failures += 1
        print(f"FAIL: reference.py bad usage: {r.returncode} {r2.returncode} {r3.returncode}")


for t in (test_q1, test_q2, test_q3, test_q5, test_q7, test_q8, test_q11, test_command_line):
    t()
sys.exit(1 if failures else 0)
