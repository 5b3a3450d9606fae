#!/usr/bin/python3
"""Protocol-level checks of kappa's group coordinator, with hand-encoded
requests (every group API kappa advertises is non-flexible, so the classic
encoding suffices).  Also a seeded random sequence of group requests with
connections dropped while requests are parked.

    groups_proto.py BROKER checks       error codes, state machine, parking
    groups_proto.py BROKER fuzz SEED N  random requests; the broker must live
    groups_proto.py BROKER park GROUP   leave a JoinGroup parked (for shutdown)

Prints "PASS: name" / "FAIL: name: why"; every socket read has a timeout.
"""
import random
import socket
import struct
import sys
import time

FAILED = False


def passed(name):
    print("PASS: %s" % name, flush=True)


def failed(name, why):
    global FAILED
    FAILED = True
    print("FAIL: %s: %s" % (name, why), flush=True)


def check(name, cond, why=""):
    (passed if cond else lambda n: failed(n, why))(name)
    return cond


# ---- encoding ----

def i8(v): return struct.pack(">b", v)
def i16(v): return struct.pack(">h", v)
def i32(v): return struct.pack(">i", v)
def i64(v): return struct.pack(">q", v)


def s(v):
    if v is None:
        return i16(-1)
    if isinstance(v, str):
        v = v.encode()
    return i16(len(v)) + v


def b(v):
    if v is None:
        return i32(-1)
    return i32(len(v)) + v


def arr(items, enc):
    if items is None:
        return i32(-1)
    return i32(len(items)) + b"".join(enc(x) for x in items)


class Reader:
    def __init__(self, data):
        self.d, self.p = data, 0

    def take(self, n):
        if self.p + n > len(self.d):
            raise ValueError("short response")
        v = self.d[self.p:self.p + n]
        self.p += n
        return v

    def i8(self): return struct.unpack(">b", self.take(1))[0]
    def i16(self): return struct.unpack(">h", self.take(2))[0]
    def i32(self): return struct.unpack(">i", self.take(4))[0]
    def i64(self): return struct.unpack(">q", self.take(8))[0]

    def s(self):
        n = self.i16()
        return None if n < 0 else self.take(n).decode("utf-8", "replace")

    def b(self):
        n = self.i32()
        return None if n < 0 else self.take(n)

    def arr(self, fn):
        n = self.i32()
        return None if n < 0 else [fn(self) for _ in range(n)]


class Conn:
    def __init__(self, broker, client_id="proto"):
        host, port = broker.rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=10)
        self.corr = 0
        self.sent = {}
        self.client_id = client_id

    def send(self, key, ver, body):
        self.corr += 1
        self.sent[self.corr] = (key, ver)
        msg = i16(key) + i16(ver) + i32(self.corr) + s(self.client_id) + body
        self.sock.sendall(i32(len(msg)) + msg)
        return self.corr

    def recv(self, timeout=10):
        self.sock.settimeout(timeout)
        hdr = self._exact(4)
        data = self._exact(struct.unpack(">i", hdr)[0])
        r = Reader(data)
        r.corr = r.i32()
        return r

    def _exact(self, n):
        out = b""
        while len(out) < n:
            chunk = self.sock.recv(n - len(out))
            if not chunk:
                raise ConnectionError("connection closed")
            out += chunk
        return out

    def call(self, key, ver, body, timeout=10):
        self.send(key, ver, body)
        return self.recv(timeout)

    def close(self):
        self.sock.close()


# ---- requests and responses ----

def join_req(ver, group, member="", protocols=(("range", b"meta"),), ptype="consumer",
             session=6000, rebalance=10000, instance=None):
    body = s(group) + i32(session)
    if ver >= 1:
        body += i32(rebalance)
    body += s(member)
    if ver >= 5:
        body += s(instance)
    body += s(ptype) + arr(list(protocols), lambda p: s(p[0]) + b(p[1]))
    return body


def join_resp(r, ver):
    out = {}
    if ver >= 2:
        r.i32()
    out["error"] = r.i16()
    out["generation"] = r.i32()
    out["protocol"] = r.s()
    out["leader"] = r.s()
    out["member_id"] = r.s()

    def mem(x):
        m = {"member_id": x.s()}
        if ver >= 5:
            m["instance"] = x.s()
        m["metadata"] = x.b()
        return m
    out["members"] = r.arr(mem)
    return out


def sync_req(ver, group, gen, member, assignments=(), instance=None):
    body = s(group) + i32(gen) + s(member)
    if ver >= 3:
        body += s(instance)
    return body + arr(list(assignments), lambda a: s(a[0]) + b(a[1]))


def sync_resp(r, ver):
    if ver >= 1:
        r.i32()
    return r.i16(), r.b()


def hb_req(ver, group, gen, member, instance=None):
    body = s(group) + i32(gen) + s(member)
    if ver >= 3:
        body += s(instance)
    return body


def err_resp(r, ver, throttle_from=1):
    if ver >= throttle_from:
        r.i32()
    return r.i16()


def leave_req(ver, group, members):
    if ver < 3:
        return s(group) + s(members[0][0])
    return s(group) + arr(members, lambda m: s(m[0]) + s(m[1]))


def leave_resp(r, ver):
    if ver >= 1:
        r.i32()
    err = r.i16()
    members = r.arr(lambda x: (x.s(), x.s(), x.i16())) if ver >= 3 else None
    return err, members


def commit_req(ver, group, gen, member, topics, instance=None):
    body = s(group) + i32(gen) + s(member)
    if ver >= 7:
        body += s(instance)
    if 2 <= ver <= 4:
        body += i64(-1)

    def part(p):
        x = i32(p[0]) + i64(p[1])
        if ver >= 6:
            x += i32(p[3] if len(p) > 3 else -1)
        return x + s(p[2])
    return body + arr(topics, lambda t: s(t[0]) + arr(t[1], part))


def commit_resp(r, ver):
    if ver >= 3:
        r.i32()
    return r.arr(lambda x: (x.s(), x.arr(lambda y: (y.i32(), y.i16()))))


def fetch_req(ver, group, topics):
    return s(group) + arr(topics, lambda t: s(t[0]) + arr(t[1], i32))


def fetch_resp(r, ver):
    if ver >= 3:
        r.i32()

    def part(y):
        p = {"partition": y.i32(), "offset": y.i64()}
        if ver >= 5:
            p["epoch"] = y.i32()
        p["metadata"] = y.s()
        p["error"] = y.i16()
        return p
    topics = r.arr(lambda x: (x.s(), x.arr(part)))
    err = r.i16() if ver >= 2 else 0
    return err, topics


def describe_req(ver, groups):
    body = arr(groups, s)
    if ver >= 3:
        body += i8(0)
    return body


def describe_resp(r, ver):
    if ver >= 1:
        r.i32()

    def mem(x):
        m = {"member_id": x.s()}
        if ver >= 4:
            m["instance"] = x.s()
        m["client_id"] = x.s()
        m["client_host"] = x.s()
        m["metadata"] = x.b()
        m["assignment"] = x.b()
        return m

    def grp(x):
        g = {"error": x.i16(), "group": x.s(), "state": x.s(), "protocol_type": x.s(),
             "protocol": x.s(), "members": x.arr(mem)}
        if ver >= 3:
            x.i32()
        return g
    return r.arr(grp)


def list_resp(r, ver):
    if ver >= 1:
        r.i32()
    err = r.i16()
    return err, r.arr(lambda x: (x.s(), x.s()))


def delete_resp(r, ver):
    r.i32()
    return r.arr(lambda x: (x.s(), x.i16()))


def findcoord(c, ver, key, key_type=0):
    body = s(key) + (i8(key_type) if ver >= 1 else b"")
    r = c.call(10, ver, body)
    if ver >= 1:
        r.i32()
    err = r.i16()
    if ver >= 1:
        r.s()
    return err, r.i32(), r.s(), r.i32()


JOIN, SYNC, HB, LEAVE, COMMIT, FETCH, DESCRIBE, LIST, DELETE = 11, 14, 12, 13, 8, 9, 15, 16, 42


def ensure_topic(c, topic, partitions):
    body = arr([topic], lambda t: s(t) + i32(partitions) + i16(1) + arr([], None) +
               arr([], None)) + i32(10000) + i8(0)
    c.call(19, 1, body)


# ---- deterministic checks ----

def checks(broker):
    c1 = Conn(broker, "one")
    c2 = Conn(broker, "two")
    ensure_topic(c1, "pt_topic", 2)
    g = "pt_group"

    err, node, host, port = findcoord(c1, 0, g)
    e1 = findcoord(c1, 2, "txn", 1)[0]
    e2 = findcoord(c1, 1, g, 7)[0]
    check("findcoordinator", err == 0 and port == int(broker.rsplit(":", 1)[1]) and e1 == 0
          and e2 == 42, "%s %s %s %s / %s %s" % (err, node, host, port, e1, e2))

    r = join_resp(c1.call(JOIN, 5, join_req(5, "x" * 256)), 5)
    check("join_long_group_id_invalid", r["error"] == 24, str(r))
    r = join_resp(c1.call(JOIN, 5, join_req(5, g, session=10)), 5)
    check("join_session_timeout_checked", r["error"] == 26, str(r))

    r = join_resp(c1.call(JOIN, 5, join_req(5, g)), 5)
    m1 = r["member_id"]
    check("join_v5_member_id_required", r["error"] == 79 and m1.startswith("one-"), str(r))
    r = join_resp(c1.call(JOIN, 5, join_req(5, g, m1, protocols=[("range", b"m1")])), 5)
    check("join_first_member_leads", r["error"] == 0 and r["generation"] == 1 and
          r["leader"] == m1 and r["protocol"] == "range" and
          [m["metadata"] for m in r["members"]] == [b"m1"], str(r))

    e = join_resp(c2.call(JOIN, 5, join_req(5, g, ptype="other")), 5)["error"]
    check("join_protocol_type_must_match", e == 23, str(e))
    e = join_resp(c2.call(JOIN, 3, join_req(3, g, protocols=[("sticky", b"")])), 3)["error"]
    check("join_needs_a_common_protocol", e == 23, str(e))

    check("sync_illegal_generation",
          sync_resp(c1.call(SYNC, 3, sync_req(3, g, 7, m1)), 3)[0] == 22)
    check("sync_unknown_member",
          sync_resp(c1.call(SYNC, 3, sync_req(3, g, 1, "nobody")), 3)[0] == 25)
    e, a = sync_resp(c1.call(SYNC, 3, sync_req(3, g, 1, m1, [(m1, b"A1")])), 3)
    check("sync_leader_gets_assignment", e == 0 and a == b"A1", "%s %r" % (e, a))
    check("heartbeat_stable", err_resp(c1.call(HB, 3, hb_req(3, g, 1, m1)), 3) == 0)
    check("heartbeat_wrong_generation",
          err_resp(c1.call(HB, 3, hb_req(3, g, 0, m1)), 3) == 22)

    # A second member (v3: no MEMBER_ID_REQUIRED) parks until m1 rejoins.
    c2.send(JOIN, 3, join_req(3, g, protocols=[("roundrobin", b"x"), ("range", b"m2")]))
    time.sleep(0.2)
    check("heartbeat_during_rebalance",
          err_resp(c1.call(HB, 1, hb_req(1, g, 1, m1)), 1) == 27)
    check("sync_during_rebalance",
          sync_resp(c1.call(SYNC, 1, sync_req(1, g, 1, m1)), 1)[0] == 27)
    r1 = join_resp(c1.call(JOIN, 5, join_req(5, g, m1, protocols=[("range", b"m1"),
                                                                  ("roundrobin", b"y")])), 5)
    r2 = join_resp(c2.recv(), 3)
    m2 = r2["member_id"]
    check("rebalance_completes_when_all_rejoin",
          r1["error"] == 0 and r2["error"] == 0 and r1["generation"] == 2 and
          r2["generation"] == 2 and r1["leader"] == m1 and r2["leader"] == m1 and
          sorted(m["member_id"] for m in r1["members"]) == sorted([m1, m2]) and
          r2["members"] == [] and r1["protocol"] == "range",
          "%s / %s" % (r1, r2))

    # The follower's SyncGroup waits for the leader's.
    c2.send(SYNC, 1, sync_req(1, g, 2, m2))
    time.sleep(0.2)
    e1, a1 = sync_resp(c1.call(SYNC, 3, sync_req(3, g, 2, m1, [(m1, b"L"), (m2, b"F")])), 3)
    e2, a2 = sync_resp(c2.recv(), 1)
    check("sync_follower_waits_for_leader", e1 == 0 and a1 == b"L" and e2 == 0 and a2 == b"F",
          "%s %r %s %r" % (e1, a1, e2, a2))
    d = describe_resp(c1.call(DESCRIBE, 4, describe_req(4, [g, "nope"])), 4)
    check("describe_stable_group",
          d[0]["state"] == "Stable" and d[0]["protocol"] == "range" and
          sorted((m["client_id"], m["assignment"]) for m in d[0]["members"]) ==
          [("one", b"L"), ("two", b"F")] and d[1]["state"] == "Dead" and d[1]["error"] == 0,
          str(d))

    # Offsets.
    res = commit_resp(c1.call(COMMIT, 7, commit_req(7, g, 2, m1, [
        ("pt_topic", [(0, 5, "meta0", 3), (1, 7, None)]),
        ("no_topic", [(0, 1, "")]),
        ("pt_topic", [(9, 1, "")])])), 7)
    check("commit_v7_errors_per_partition",
          res == [("pt_topic", [(0, 0), (1, 0)]), ("no_topic", [(0, 3)]), ("pt_topic", [(9, 3)])],
          str(res))
    res = commit_resp(c1.call(COMMIT, 2, commit_req(2, g, 1, m1, [("pt_topic", [(0, 9, "")])])), 2)
    check("commit_illegal_generation", res == [("pt_topic", [(0, 22)])], str(res))
    res = commit_resp(c1.call(COMMIT, 2, commit_req(2, g, -1, "", [("pt_topic", [(0, 9, "")])])), 2)
    check("commit_simple_refused_with_members", res == [("pt_topic", [(0, 25)])], str(res))
    res = commit_resp(c1.call(COMMIT, 5, commit_req(5, g, 2, m1,
                                                    [("pt_topic", [(0, 9, "x" * 5000)])])), 5)
    check("commit_metadata_too_large", res == [("pt_topic", [(0, 12)])], str(res))
    err, topics = fetch_resp(c1.call(FETCH, 5, fetch_req(5, g, None)), 5)
    check("offsetfetch_all_topics",
          err == 0 and topics == [("pt_topic", [
              {"partition": 0, "offset": 5, "epoch": 3, "metadata": "meta0", "error": 0},
              {"partition": 1, "offset": 7, "epoch": -1, "metadata": "", "error": 0}])],
          str(topics))
    err, topics = fetch_resp(c1.call(FETCH, 1, fetch_req(1, g, [("pt_topic", [1, 4])])), 1)
    check("offsetfetch_v1_unknown_partition",
          topics == [("pt_topic", [{"partition": 1, "offset": 7, "metadata": "", "error": 0},
                                   {"partition": 4, "offset": -1, "metadata": "", "error": 0}])],
          str(topics))

    check("delete_non_empty_group",
          delete_resp(c1.call(DELETE, 1, arr([g], s)), 1) == [(g, 68)])
    e, members = leave_resp(c1.call(LEAVE, 3, leave_req(3, g, [(m2, None), ("zz", None)])), 3)
    check("leave_v3_member_list", e == 0 and members == [(m2, None, 0), ("zz", None, 25)],
          "%s %s" % (e, members))
    r = join_resp(c1.call(JOIN, 5, join_req(5, g, m1)), 5)
    check("rejoin_after_leave", r["error"] == 0 and r["generation"] == 3 and
          len(r["members"]) == 1, str(r))
    e = err_resp(c1.call(LEAVE, 1, leave_req(1, g, [(m1, None)])), 1)
    d = describe_resp(c1.call(DESCRIBE, 0, describe_req(0, [g])), 0)
    err, lst = list_resp(c1.call(LIST, 2, b""), 2)
    check("leave_v1_empties_group", e == 0 and d[0]["state"] == "Empty" and
          (g, "consumer") in lst, "%s %s %s" % (e, d, lst))
    res = commit_resp(c1.call(COMMIT, 2, commit_req(2, g, -1, "", [("pt_topic", [(1, 8, "s")])])), 2)
    check("commit_simple_into_empty_group", res == [("pt_topic", [(1, 0)])], str(res))
    res = delete_resp(c1.call(DELETE, 0, arr([g, g, "nope"], s)), 0)
    check("delete_empty_group", res == [(g, 0), (g, 69), ("nope", 69)], str(res))
    err, topics = fetch_resp(c1.call(FETCH, 2, fetch_req(2, g, None)), 2)
    check("deleted_group_has_no_offsets", err == 0 and topics == [], str(topics))

    # Static membership: no MEMBER_ID_REQUIRED; a rejoin fences the old id.
    gs = "pt_static"
    r = join_resp(c1.call(JOIN, 5, join_req(5, gs, instance="inst-1")), 5)
    old = r["member_id"]
    ok = r["error"] == 0 and old.startswith("inst-1-")
    e, _ = sync_resp(c1.call(SYNC, 3, sync_req(3, gs, r["generation"], old, [(old, b"S")],
                                               instance="inst-1")), 3)
    r2 = join_resp(c2.call(JOIN, 5, join_req(5, gs, instance="inst-1")), 5)
    fenced = err_resp(c1.call(HB, 3, hb_req(3, gs, r["generation"], old, "inst-1")), 3)
    e2, a2 = sync_resp(c2.call(SYNC, 3, sync_req(3, gs, r2["generation"], r2["member_id"],
                                                 instance="inst-1")), 3)
    check("static_member_replaced_and_fenced",
          ok and e == 0 and r2["error"] == 0 and r2["member_id"] != old and fenced == 82 and
          e2 == 0 and a2 == b"S", "%s %s %s %s %s" % (r, r2, fenced, e2, a2))
    leave_resp(c2.call(LEAVE, 3, leave_req(3, gs, [("", "inst-1")])), 3)

    # A parked JoinGroup whose connection closes is still answered (freed).
    gp = "pt_park"
    r = join_resp(c1.call(JOIN, 3, join_req(3, gp, rebalance=3000)), 3)
    pm = r["member_id"]
    sync_resp(c1.call(SYNC, 3, sync_req(3, gp, 1, pm, [(pm, b"")])), 3)
    c3 = Conn(broker, "three")
    c3.send(JOIN, 3, join_req(3, gp))
    time.sleep(0.2)
    c3.close()
    c4 = Conn(broker, "four")
    c4.send(JOIN, 3, join_req(3, gp))
    time.sleep(0.2)
    r = join_resp(c1.call(JOIN, 3, join_req(3, gp, pm)), 3)
    r4 = join_resp(c4.recv(), 3)
    check("detached_join_answered", r["error"] == 0 and r4["error"] == 0 and
          len(r["members"]) == 3, "%s %s" % (r, r4))
    c4.close()

    # GROUP_MAX_SIZE_REACHED past 1000 members: one member completes a
    # generation alone and never rejoins, 999 more wait in the rebalance.
    gm = "pt_max"
    r = join_resp(c1.call(JOIN, 3, join_req(3, gm, rebalance=15000)), 3)
    many = [Conn(broker, "max%d" % i) for i in range(4)]
    for i in range(999):
        many[i % 4].send(JOIN, 3, join_req(3, gm, rebalance=15000))
    time.sleep(0.5)
    e1 = join_resp(c2.call(JOIN, 3, join_req(3, gm)), 3)["error"]
    e2 = join_resp(c2.call(JOIN, 5, join_req(5, gm)), 5)["error"]
    d = describe_resp(c2.call(DESCRIBE, 0, describe_req(0, [gm])), 0)
    check("group_max_size_reached", r["error"] == 0 and e1 == 81 and e2 == 81 and
          len(d[0]["members"]) == 1000 and d[0]["state"] == "PreparingRebalance",
          "%s %s %s %s" % (r["error"], e1, e2, len(d[0]["members"])))
    for c in many + [c1, c2]:
        c.close()


# ---- random sequences ----

def fuzz(broker, seed, n):
    rnd = random.Random(int(seed))
    print("fuzz seed %s" % seed, flush=True)
    groups = ["fz0", "fz1", "fz0", "fz1", "fz2", ""]
    members = [""]
    conns = []

    def conn():
        if not conns or rnd.random() < 0.1:
            conns.append(Conn(broker, "fz%d" % rnd.randrange(3)))
        return rnd.choice(conns)

    def rs(pool):
        return rnd.choice(pool) if rnd.random() < 0.9 else "".join(
            rnd.choice("ab-") for _ in range(rnd.randrange(6)))
    protos = [("range", b"r"), ("roundrobin", b"rr"), ("x", b"\0" * rnd.randrange(300))]
    gens = [-1, 0, 1]
    stats = {}
    weights = [25, 15, 15, 8, 10, 5, 5, 3, 4, 2, 4, 4]
    for _ in range(int(n)):
        k = rnd.choices(range(12), weights)[0]
        g = rs(groups)
        m = "" if rnd.random() < 0.3 else rs(members[-6:])
        gen = rnd.choice(gens) if rnd.random() < 0.9 else rnd.randrange(-5, 50)
        inst = rnd.choice([None, None, "i1", "i2"])
        try:
            c = conn()
            if k == 0:
                v = rnd.randrange(6)
                c.send(JOIN, v, join_req(v, g, m, rnd.sample(protos, rnd.randrange(1, 3)),
                                         "consumer" if rnd.random() < 0.9 else "connect",
                                         6000 if rnd.random() < 0.9 else
                                         rnd.choice([1000, 10, 10**7]),
                                         rnd.choice([50, 300, 2000]),
                                         inst if v >= 5 else None))
            elif k == 1:
                v = rnd.randrange(4)
                c.send(SYNC, v, sync_req(v, g, gen, m, [(rs(members), b"a" * rnd.randrange(20))
                                                         for _ in range(rnd.randrange(3))],
                                         inst if v >= 3 else None))
            elif k == 2:
                v = rnd.randrange(4)
                c.send(HB, v, hb_req(v, g, gen, m, inst if v >= 3 else None))
            elif k == 3:
                v = rnd.randrange(4)
                c.send(LEAVE, v, leave_req(v, g, [(rs(members), inst)
                                                  for _ in range(rnd.randrange(1, 3))]))
            elif k == 4:
                v = rnd.randrange(2, 8)
                c.send(COMMIT, v, commit_req(v, g, gen, m, [
                    (rnd.choice(["pt_topic", "zz"]), [(rnd.randrange(-1, 3), rnd.randrange(-2, 99),
                                                      rnd.choice([None, "", "md"]))])],
                    inst if v >= 7 else None))
            elif k == 5:
                v = rnd.randrange(1, 6)
                c.send(FETCH, v, fetch_req(v, g, None if v >= 2 and rnd.random() < 0.5 else
                                           [("pt_topic", [0, 1, 7])]))
            elif k == 6:
                v = rnd.randrange(5)
                c.send(DESCRIBE, v, describe_req(v, [g, rs(groups)]))
            elif k == 7:
                c.send(LIST, rnd.randrange(3), b"")
            elif k == 8:
                c.send(DELETE, rnd.randrange(2), arr([g], s))
            elif k == 9:
                c.send(10, rnd.randrange(3), s(g) + i8(rnd.randrange(3)))
            elif k == 10 and conns:
                conns.pop(rnd.randrange(len(conns))).close()
                continue
            else:
                # A truncated body: the broker closes this connection.
                c.send(rnd.choice([JOIN, SYNC, COMMIT, FETCH]), 1, b"\0\1")
                conns.remove(c)
                c.close()
                continue
            # Harvest whatever answers are ready, learning member ids.
            try:
                while True:
                    r = c.recv(0.003)
                    key, ver = c.sent.pop(r.corr, (None, None))
                    if key in (HB, SYNC):
                        e = err_resp(r, ver) if key == HB else sync_resp(r, ver)[0]
                        stats[(key, e)] = stats.get((key, e), 0) + 1
                    if key == JOIN:
                        jr = join_resp(r, ver)
                        stats[(key, jr["error"])] = stats.get((key, jr["error"]), 0) + 1
                        if jr["member_id"]:
                            members.append(jr["member_id"])
                        if jr["generation"] >= 0:
                            gens.append(jr["generation"])
            except (socket.timeout, ValueError):
                pass
        except (ConnectionError, OSError):
            if c in conns:
                conns.remove(c)
        members = members[-20:]
        gens = gens[-10:]
    for c in conns:
        c.close()
    print("responses (api, error): count: %s" % sorted(stats.items()), flush=True)
    # The broker must still answer.
    c = Conn(broker, "after")
    err, lst = list_resp(c.call(LIST, 0, b""), 0)
    check("fuzz_broker_alive_seed_%s" % seed, err == 0, "ListGroups error %s" % err)
    c.close()


def park(broker, group):
    """Two members; the second's rejoin is left parked (the first never
    rejoins within the long rebalance timeout).  Returns at once."""
    c1 = Conn(broker, "park1")
    r = join_resp(c1.call(JOIN, 3, join_req(3, group, rebalance=600000)), 3)
    sync_resp(c1.call(SYNC, 3, sync_req(3, group, 1, r["member_id"], [])), 3)
    c2 = Conn(broker, "park2")
    c2.send(JOIN, 3, join_req(3, group, rebalance=600000))
    c1.send(SYNC, 3, sync_req(3, group, 1, r["member_id"], []))
    time.sleep(0.3)
    print("parked", flush=True)
    # Keep the sockets open until the caller kills us.
    time.sleep(60)


def main():
    broker, what = sys.argv[1], sys.argv[2]
    try:
        if what == "checks":
            checks(broker)
        elif what == "fuzz":
            fuzz(broker, sys.argv[3], sys.argv[4])
        elif what == "park":
            park(broker, sys.argv[3])
    except Exception as e:
        failed("proto_%s" % what, "%s: %s" % (type(e).__name__, e))
    sys.exit(1 if FAILED else 0)


if __name__ == "__main__":
    main()
