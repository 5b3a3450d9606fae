"""DescribeLogDirs (API key 35) on a raw socket: v0..v4 answer with the one
log directory and each partition's size, which must equal the bytes of the
partition's segment files on disk; unknown topics and partitions are left
out; a truncated request closes the connection.
Usage: logdirs_proto.py HOST PORT DATA_DIR TOPIC PARTITIONS"""
import os
import socket
import struct
import sys

HOST, PORT, DATA, TOPIC, NPART = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5])
failed = 0


def check(name, ok, why=""):
    global failed
    if ok:
        print(f"PASS: {name}")
    else:
        failed += 1
        print(f"FAIL: {name}: {why}")


def conn():
    return socket.create_connection((HOST, PORT), timeout=5)


def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


def recv_frame(s):
    hdr = recv_exact(s, 4)
    if hdr is None:
        return None
    return recv_exact(s, struct.unpack(">i", hdr)[0])


def closed(s):
    try:
        return s.recv(1) == b""
    except (ConnectionResetError, socket.timeout):
        return True


def uvarint(n):
    out = b""
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


class Reader:
    def __init__(self, data, flexible):
        self.d, self.o, self.flex = data, 0, flexible

    def take(self, fmt):
        v = struct.unpack_from(fmt, self.d, self.o)
        self.o += struct.calcsize(fmt)
        return v[0] if len(v) == 1 else v

    def uvarint(self):
        n = shift = 0
        while True:
            b = self.d[self.o]
            self.o += 1
            n |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                return n

    def string(self):
        n = self.uvarint() - 1 if self.flex else self.take(">h")
        s = self.d[self.o:self.o + n].decode()
        self.o += n
        return s

    def count(self):
        return self.uvarint() - 1 if self.flex else self.take(">i")

    def tags(self):
        if self.flex:
            for _ in range(self.uvarint()):
                self.uvarint()
                self.o += self.uvarint()


def request(version, topics, corr=7):
    """topics: None (all) or a list of (name, [partition, ...])."""
    flex = version >= 2
    head = struct.pack(">hhih", 35, version, corr, 4) + b"test"
    if flex:
        head += b"\x00"                                 # header tagged fields
    if topics is None:
        body = uvarint(0) if flex else struct.pack(">i", -1)
    else:
        body = uvarint(len(topics) + 1) if flex else struct.pack(">i", len(topics))
        for name, parts in topics:
            n = name.encode()
            body += (uvarint(len(n) + 1) if flex else struct.pack(">h", len(n))) + n
            body += uvarint(len(parts) + 1) if flex else struct.pack(">i", len(parts))
            body += b"".join(struct.pack(">i", p) for p in parts)
            if flex:
                body += b"\x00"
    if flex:
        body += b"\x00"
    return head + body


def parse(version, frame, corr=7):
    flex = version >= 2
    r = Reader(frame, flex)
    got_corr = r.take(">i")
    r.tags()                                            # response header v1
    out = {"corr": got_corr, "throttle": r.take(">i"), "error": r.take(">h") if version >= 3 else None}
    results = []
    for _ in range(r.count()):
        res = {"error": r.take(">h"), "dir": r.string(), "topics": {}}
        for _ in range(r.count()):
            name = r.string()
            parts = {}
            for _ in range(r.count()):
                idx, size, lag, fut = r.take(">iqq?")
                r.tags()
                parts[idx] = (size, lag, fut)
            r.tags()
            res["topics"][name] = parts
        if version >= 4:
            res["total"], res["usable"] = r.take(">qq")
        r.tags()
        results.append(res)
    r.tags()
    out["results"] = results
    out["left"] = len(frame) - r.o
    return out


def call(version, topics):
    s = conn()
    s.sendall(struct.pack(">i", len(request(version, topics))) + request(version, topics))
    f = recv_frame(s)
    s.close()
    return parse(version, f) if f is not None else None


def disk_size(topic, p):
    d = os.path.join(DATA, f"{topic}-{p}")
    return sum(os.path.getsize(os.path.join(d, f)) for f in os.listdir(d) if f.endswith(".log"))


def disk_topics():
    """{topic: {partition: bytes}} for every partition directory in DATA."""
    out = {}
    for e in os.listdir(DATA):
        path = os.path.join(DATA, e)
        name, _, p = e.rpartition("-")
        if os.path.isdir(path) and name and p.isdigit():
            out.setdefault(name, {})[int(p)] = disk_size(name, int(p))
    return out


want = {p: disk_size(TOPIC, p) for p in range(NPART)}
realdir = os.path.realpath(DATA)
check("the topic's partitions hold data on disk", all(v > 0 for v in want.values()), repr(want))

# ApiVersions v0 advertises DescribeLogDirs 0..4.
s = conn()
s.sendall(struct.pack(">i", 10) + struct.pack(">hhih", 18, 0, 1, 0))
f = recv_frame(s)
s.close()
ranges = {}
if f:
    n = struct.unpack_from(">i", f, 6)[0]
    for i in range(n):
        k, lo, hi = struct.unpack_from(">hhh", f, 10 + 6 * i)
        ranges[k] = (lo, hi)
check("ApiVersions advertises DescribeLogDirs v0..v4", ranges.get(35) == (0, 4), repr(ranges.get(35)))

# v1: named partitions, an unknown partition and an unknown topic.
r = call(1, [(TOPIC, list(range(NPART)) + [99, -1]), ("no-such-topic", [0])])
ok = (r is not None and r["corr"] == 7 and r["left"] == 0 and len(r["results"]) == 1 and
      r["results"][0]["error"] == 0 and r["results"][0]["dir"] == realdir and
      r["results"][0]["topics"] == {TOPIC: {p: (want[p], 0, False) for p in range(NPART)}})
check("v1: each partition's size equals its *.log bytes on disk; unknown ones absent", ok, repr(r))

# v1: one partition only, the topic named twice (answered once, merged).
r = call(1, [(TOPIC, [1]), (TOPIC, [0])])
ok = r is not None and r["results"][0]["topics"] == {TOPIC: {0: (want[0], 0, False), 1: (want[1], 0, False)}}
check("v1: a topic named twice is answered once", ok, repr(r))
r = call(1, [(TOPIC, [1])])
ok = r is not None and r["results"][0]["topics"] == {TOPIC: {1: (want[1], 0, False)}}
check("v1: only the named partition", ok, repr(r))
r = call(1, [(TOPIC, [42]), ("no-such-topic", [0])])
ok = r is not None and len(r["results"]) == 1 and r["results"][0]["topics"] == {}
check("v1: only unknown partitions gives an empty topic list", ok, repr(r))

# v4 (flexible): null topics = every topic, internal ones included, plus the
# volume's sizes.
r = call(4, None)
every = disk_topics()
st = os.statvfs(DATA)
ok = (r is not None and r["left"] == 0 and r["error"] == 0 and len(r["results"]) == 1 and
      r["results"][0]["dir"] == realdir and
      {t: {p: v[0] for p, v in ps.items()} for t, ps in r["results"][0]["topics"].items()} == every)
check("v4: null topics lists every topic with its on-disk sizes", ok, repr(r) + " disk " + repr(every))
check("v4: internal topics are included", r is not None and any(t.startswith("__") for t in r["results"][0]["topics"]),
      repr(sorted(r["results"][0]["topics"])) if r else "no answer")
ok = (r is not None and r["results"][0]["total"] == st.f_blocks * st.f_frsize and
      0 < r["results"][0]["usable"] <= r["results"][0]["total"])
check("v4: total_bytes and usable_bytes from the volume", ok,
      repr(r and (r["results"][0]["total"], r["results"][0]["usable"])) + f" statvfs total {st.f_blocks * st.f_frsize}")

# Every other version decodes and gives the same sizes.
for v in (0, 2, 3):
    r = call(v, [(TOPIC, list(range(NPART)))])
    ok = (r is not None and r["left"] == 0 and (v < 3 or r["error"] == 0) and
          r["results"][0]["topics"] == {TOPIC: {p: (want[p], 0, False) for p in range(NPART)}})
    check(f"v{v}: same sizes", ok, repr(r))

# A truncated request (the array says one topic; the frame ends inside its
# partition list): Kafka cannot parse it and closes the connection; so does kappa.
for v in (1, 4):
    full = request(v, [(TOPIC, [0, 1])])
    cut = full[:-8]
    s = conn()
    s.sendall(struct.pack(">i", len(cut)) + cut)
    check(f"v{v}: a truncated request closes the connection", closed(s))
    s.close()

# v5 does not exist: the connection is closed (Kafka does the same for an
# unsupported version of any API but ApiVersions).
s = conn()
req = request(4, None)
req = req[:2] + struct.pack(">h", 5) + req[4:]
s.sendall(struct.pack(">i", len(req)) + req)
check("v5: unsupported version closes the connection", closed(s))
s.close()

# The server still answers after all that.
r = call(1, [(TOPIC, [0])])
check("server still answers DescribeLogDirs", r is not None and r["results"][0]["topics"] == {TOPIC: {0: (want[0], 0, False)}}, repr(r))
sys.exit(1 if failed else 0)
