"""Clients for test_cli_group.sh: consume exactly so many records per
partition and commit them, hold a live group member, resume from committed
offsets, and two raw requests (an admin-style OffsetCommit and ApiVersions
v0) that check the broker independently of kappa's CLI.

usage: cli_group_py.py consume BROKER GROUP TOPIC P0_COUNT P1_COUNT ...
       cli_group_py.py live BROKER GROUP TOPIC       (prints "assigned", runs until TERM)
       cli_group_py.py resume BROKER GROUP TOPIC     (prints "P:FIRST_OFFSET:COUNT" lines)
       cli_group_py.py rawcommit BROKER GROUP TOPIC PARTITION OFFSET  (prints the error code)
       cli_group_py.py apiversions BROKER            (prints "KEY MIN MAX" lines)
       cli_group_py.py sickbroker                    (prints its port, serves until killed)
"""
import signal
import socket
import struct
import sys
import threading
import time

from confluent_kafka import Consumer, TopicPartition


def consumer(broker, group, client_id="cli-test"):
    return Consumer({"bootstrap.servers": broker, "group.id": group,
                     "enable.auto.commit": False, "auto.offset.reset": "earliest",
                     "client.id": client_id, "session.timeout.ms": 6000})


def consume(broker, group, topic, counts):
    """Process the first counts[p] records of each partition p, then commit
    exactly those (offset of the last processed + 1)."""
    c = consumer(broker, group)
    c.subscribe([topic])
    want = {p: n for p, n in enumerate(counts)}
    done = {p: 0 for p in want}
    deadline = time.time() + 20
    while any(done[p] < want[p] for p in want) and time.time() < deadline:
        m = c.poll(0.5)
        if m is None or m.error():
            continue
        p = m.partition()
        if m.offset() == done[p] and done[p] < want[p]:
            done[p] += 1
    c.commit(offsets=[TopicPartition(topic, p, done[p]) for p in want if done[p] > 0],
             asynchronous=False)
    c.close()
    print(" ".join("%d:%d" % (p, done[p]) for p in sorted(done)))


def live(broker, group, topic):
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    c = consumer(broker, group, "live-client")
    c.subscribe([topic])
    said = False
    while not stop:
        c.poll(0.2)
        if not said and c.assignment():
            said = True
            print("assigned", flush=True)
    c.close()       # leaves the group at once


def resume(broker, group, topic):
    c = consumer(broker, group)
    c.subscribe([topic])
    first, count = {}, {}
    idle_since = time.time()
    while time.time() - idle_since < 3:
        m = c.poll(0.3)
        if m is None or m.error():
            continue
        idle_since = time.time()
        first.setdefault(m.partition(), m.offset())
        count[m.partition()] = count.get(m.partition(), 0) + 1
    c.close()
    for p in sorted(first):
        print("%d:%d:%d" % (p, first[p], count[p]))


def raw_call(broker, key, ver, body):
    host, port = broker.rsplit(":", 1)
    s = socket.create_connection((host, int(port)), timeout=10)
    cid = b"cli-test"
    msg = struct.pack(">hhih", key, ver, 7, len(cid)) + cid + body
    s.sendall(struct.pack(">i", len(msg)) + msg)
    data = b""
    while len(data) < 4:
        data += s.recv(4 - len(data))
    n = struct.unpack(">i", data)[0]
    data = b""
    while len(data) < n:
        chunk = s.recv(n - len(data))
        if not chunk:
            raise ConnectionError("closed")
        data += chunk
    s.close()
    return data


def kstr(v):
    b = v.encode()
    return struct.pack(">h", len(b)) + b


def rawcommit(broker, group, topic, partition, offset):
    """OffsetCommit v2 as an admin client sends it: generation -1, no member id."""
    body = (kstr(group) + struct.pack(">i", -1) + kstr("") + struct.pack(">q", -1) +
            struct.pack(">i", 1) + kstr(topic) + struct.pack(">i", 1) +
            struct.pack(">iq", int(partition), int(offset)) + kstr(""))
    d = raw_call(broker, 8, 2, body)
    # corr, [topic: name, [partition, error]]
    pos = 4 + 4
    tlen = struct.unpack(">h", d[pos:pos + 2])[0]
    pos += 2 + tlen + 4
    _, err = struct.unpack(">ih", d[pos:pos + 6])
    print(err)


def apiversions(broker):
    d = raw_call(broker, 18, 0, b"")
    corr, err, n = struct.unpack(">ihi", d[:10])
    for i in range(n):
        k, lo, hi = struct.unpack(">hhh", d[10 + 6 * i:16 + 6 * i])
        print(k, lo, hi)


def sickbroker():
    """A minimal Kafka broker (ApiVersions v0, Metadata v0-1) whose metadata
    shows an unhealthy cluster: topic "sick" has a partition with no leader
    (LEADER_NOT_AVAILABLE), one led by a broker that is not listed, and one
    healthy one; topic "fine" is healthy."""
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    port = srv.getsockname()[1]
    print(port, flush=True)

    def part(err, idx, leader):
        reps = struct.pack(">ii", 1, max(leader, 1))
        return struct.pack(">hii", err, idx, leader) + reps + reps

    def metadata(ver):
        out = struct.pack(">i", 1) + struct.pack(">i", 1) + kstr("127.0.0.1") + struct.pack(">i", port)
        if ver >= 1:
            out += struct.pack(">h", -1) + struct.pack(">i", 1)     # rack null, controller 1
        topics = [("fine", [part(0, 0, 1)]),
                  ("sick", [part(5, 0, -1), part(0, 1, 7), part(0, 2, 1)])]
        out += struct.pack(">i", len(topics))
        for name, parts in topics:
            out += struct.pack(">h", 0) + kstr(name)
            if ver >= 1:
                out += b"\x00"
            out += struct.pack(">i", len(parts)) + b"".join(parts)
        return out

    def serve(conn):
        try:
            while True:
                hdr = b""
                while len(hdr) < 4:
                    chunk = conn.recv(4 - len(hdr))
                    if not chunk:
                        return
                    hdr += chunk
                n = struct.unpack(">i", hdr)[0]
                req = b""
                while len(req) < n:
                    chunk = conn.recv(n - len(req))
                    if not chunk:
                        return
                    req += chunk
                key, ver, corr = struct.unpack(">hhi", req[:8])
                if key == 18:
                    # v0 body; for a newer request, error 35 and our ranges
                    # tell the client to retry with v0 (KIP-511).
                    err = 35 if ver > 0 else 0
                    body = struct.pack(">hi", err, 2) + struct.pack(">hhh", 18, 0, 0) + \
                        struct.pack(">hhh", 3, 0, 1)
                elif key == 3:
                    body = metadata(ver)
                else:
                    return
                msg = struct.pack(">i", corr) + body
                conn.sendall(struct.pack(">i", len(msg)) + msg)
        finally:
            conn.close()

    while True:
        conn, _ = srv.accept()
        threading.Thread(target=serve, args=(conn,), daemon=True).start()


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "consume":
        consume(args[0], args[1], args[2], [int(x) for x in args[3:]])
    elif cmd == "live":
        live(*args)
    elif cmd == "resume":
        resume(*args)
    elif cmd == "rawcommit":
        rawcommit(*args)
    elif cmd == "apiversions":
        apiversions(*args)
    elif cmd == "sickbroker":
        sickbroker()
    else:
        sys.exit("unknown command " + cmd)
