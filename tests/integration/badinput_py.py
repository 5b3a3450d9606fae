"""Malformed and hostile requests on a raw socket: each gets a clear error
response when the frame is intact, or the connection is closed; the server
never crashes and keeps serving.  Usage: badinput_py.py HOST PORT"""
import socket
import struct
import sys
from kraw import crc32c, zigzag
import zlib

HOST, PORT = sys.argv[1], int(sys.argv[2])
failed = 0


def conn():
    s = socket.create_connection((HOST, PORT), timeout=5)
    return s


def send_frame(s, payload):
    s.sendall(struct.pack(">i", len(payload)) + payload)


def recv_frame(s):
    hdr = b""
    while len(hdr) < 4:
        chunk = s.recv(4 - len(hdr))
        if not chunk:
            return None
        hdr += chunk
    n = struct.unpack(">i", hdr)[0]
    body = b""
    while len(body) < n:
        chunk = s.recv(n - len(body))
        if not chunk:
            return None
        body += chunk
    return body


def header(key, ver, corr, client=b"bad"):
    return struct.pack(">hhih", key, ver, corr, len(client)) + client


def closed(s):
    try:
        return s.recv(1) == b""
    except (ConnectionResetError, socket.timeout):
        return True


def api_versions_ok():
    s = conn()
    send_frame(s, header(18, 0, 7))
    r = recv_frame(s)
    s.close()
    return r is not None and struct.unpack(">ih", r[:6]) == (7, 0)


def check(name, ok, why=""):
    global failed
    if ok and api_versions_ok():
        print(f"PASS: {name}")
    else:
        failed += 1
        print(f"FAIL: {name}: {why or 'server stopped answering'}")


# Oversized frame (beyond socket.request.max.bytes): closed before allocation.
s = conn()
s.sendall(struct.pack(">i", 2_000_000_000) + b"x" * 100)
check("oversized frame closes the connection", closed(s))

s = conn()
s.sendall(struct.pack(">i", -5))
check("negative frame size closes the connection", closed(s))

s = conn()
send_frame(s, b"\x00")
check("frame shorter than a request header closes the connection", closed(s))

s = conn()
send_frame(s, header(9999, 0, 1))
check("unknown API key closes the connection", closed(s))

# ApiVersions at an unsupported version: a v0 answer with UNSUPPORTED_VERSION.
s = conn()
send_frame(s, header(18, 99, 42))
r = recv_frame(s)
ok = r is not None and struct.unpack(">ih", r[:6]) == (42, 35)
check("ApiVersions v99 answered with UNSUPPORTED_VERSION in v0 format", ok, repr(r[:16] if r else r))

# Metadata v1 claiming a million topics in a tiny frame: refused before allocating.
s = conn()
send_frame(s, header(3, 1, 3) + struct.pack(">i", 1_000_000) + b"\x00\x01a")
check("array count larger than the frame closes the connection", closed(s))

# String length past the end of the frame.
s = conn()
send_frame(s, header(3, 1, 4) + struct.pack(">i", 1) + struct.pack(">h", 3000) + b"abc")
check("string length past the frame closes the connection", closed(s))


def produce_v3(topic, batch, corr=9, acks=-1):
    body = struct.pack(">h", -1)                       # transactional_id null
    body += struct.pack(">hi", acks, 5000)
    body += struct.pack(">i", 1) + struct.pack(">h", len(topic)) + topic
    body += struct.pack(">i", 1) + struct.pack(">i", 0)
    body += struct.pack(">i", len(batch)) + batch
    return header(0, 3, corr) + body


def batch_v2(value, good_crc=True, codec=0, records=None):
    rec = b"\x00" + zigzag(0) + zigzag(0) + zigzag(-1) + zigzag(len(value)) + value + zigzag(0)
    rec = zigzag(len(rec)) + rec
    recs = records if records is not None else rec
    after_crc = struct.pack(">hiqqqhii", codec, 0, 1000, 1000, -1, -1, -1, 1) + recs
    crc = crc32c(after_crc) ^ (0 if good_crc else 1)
    head = struct.pack(">qiib", 0, 4 + 1 + 4 + len(after_crc), 0, 2) + struct.pack(">I", crc)
    return head + after_crc


def produce_error(frame):
    s = conn()
    send_frame(s, frame)
    r = recv_frame(s)
    s.close()
    if r is None:
        return None
    # corr, [topics: name, [partitions: index, error, base_offset, append_time]], throttle
    off = 4 + 4
    (nlen,) = struct.unpack(">h", r[off:off + 2])
    off += 2 + nlen + 4
    idx, err, base = struct.unpack(">ihq", r[off:off + 14])
    return err, base


# A good batch first, so the topic exists.
r = produce_error(produce_v3(b"raw", batch_v2(b"hello")))
# The topic is not auto-created by Produce (only Metadata does that).
check("produce to an unknown topic answers UNKNOWN_TOPIC_OR_PARTITION", r is not None and r[0] == 3, repr(r))
s = conn()
send_frame(s, header(3, 1, 5) + struct.pack(">i", 1) + struct.pack(">h", 3) + b"raw")
recv_frame(s)
s.close()
r = produce_error(produce_v3(b"raw", batch_v2(b"hello")))
check("hand-built RecordBatch v2 accepted", r is not None and r == (0, 0), repr(r))
r = produce_error(produce_v3(b"raw", batch_v2(b"bad", good_crc=False)))
check("bad CRC answered CORRUPT_MESSAGE", r is not None and r[0] == 2, repr(r))
r = produce_error(produce_v3(b"raw", batch_v2(b"x")[:-3]))
check("truncated batch answered CORRUPT_MESSAGE", r is not None and r[0] == 2, repr(r))
# Valid CRC over records that do not parse (a record length beyond the batch).
r = produce_error(produce_v3(b"raw", batch_v2(b"", records=zigzag(500) + b"\x00" * 10)))
check("unparseable records answered CORRUPT_MESSAGE", r is not None and r[0] == 2, repr(r))
# gzip "records" that decompress to garbage.
r = produce_error(produce_v3(b"raw", batch_v2(b"", codec=1, records=zlib.compress(b"junk" * 10))))
check("bad compressed records answered CORRUPT_MESSAGE", r is not None and r[0] == 2, repr(r))
r = produce_error(produce_v3(b"raw", batch_v2(b"again")))
check("the partition still takes good batches after bad ones", r is not None and r == (0, 1), repr(r))

# acks=0: no response at all, then the next request is answered in order.
s = conn()
send_frame(s, produce_v3(b"raw", batch_v2(b"silent"), corr=77, acks=0))
send_frame(s, header(18, 0, 78))
r = recv_frame(s)
s.close()
check("acks=0 gets no response; the next request is answered", r is not None and struct.unpack(">i", r[:4])[0] == 78, repr(r[:8] if r else r))

# All or nothing per partition: a bad second batch must not leave the first.
before = produce_error(produce_v3(b"raw", batch_v2(b"probe")))
good_then_bad = batch_v2(b"first") + batch_v2(b"second", good_crc=False)
r = produce_error(produce_v3(b"raw", good_then_bad))
after = produce_error(produce_v3(b"raw", batch_v2(b"probe2")))
check("a produce with one bad batch appends none of them",
      r is not None and r[0] == 2 and after is not None and after[1] == before[1] + 1,
      "before %r, mixed %r, after %r" % (before, r, after))

# Bytes after a well-formed body: refused (padding could pin memory).
s = conn()
send_frame(s, header(18, 0, 11) + b"\x00" * 1000)
check("bytes after the request body close the connection", closed(s))

# An embedded NUL must not let a name address a different topic.
def delete_topics_v1(names, corr=21):
    body = struct.pack(">i", len(names))
    for n in names:
        body += struct.pack(">h", len(n)) + n
    return header(20, 1, corr) + body + struct.pack(">i", 5000)


s = conn()
send_frame(s, delete_topics_v1([b"raw\x00-not-really"]))
r = recv_frame(s)
s.close()
# corr, throttle, [name, error]
err = None
if r is not None:
    nlen = struct.unpack(">h", r[12:14])[0]
    err = struct.unpack(">h", r[14 + nlen:16 + nlen])[0]
still = produce_error(produce_v3(b"raw", batch_v2(b"still-here")))
check("topic name with an embedded NUL does not delete another topic",
      err == 3 and still is not None and still[0] == 0, "error %r, produce after %r" % (err, still))


def fetch_v4(topic, offset, max_wait, min_bytes, max_bytes, part_max, corr=31):
    body = struct.pack(">iiiib", -1, max_wait, min_bytes, max_bytes, 0)
    body += struct.pack(">i", 1) + struct.pack(">h", len(topic)) + topic
    body += struct.pack(">i", 1) + struct.pack(">iqi", 0, offset, part_max)
    return header(1, 4, corr) + body


def fetch_batches(frame):
    """Send a Fetch v4, return (elapsed seconds, error, number of batches)."""
    import time
    s = conn()
    t0 = time.time()
    send_frame(s, frame)
    r = recv_frame(s)
    el = time.time() - t0
    s.close()
    off = 4 + 4 + 4                    # corr, throttle, topics count
    nlen = struct.unpack(">h", r[off:off + 2])[0]
    off += 2 + nlen + 4                # name, partitions count
    part, err, hw, lso = struct.unpack(">ihqq", r[off:off + 22])
    off += 22
    naborted = struct.unpack(">i", r[off:off + 4])[0]
    off += 4 + max(naborted, 0) * 16
    rlen = struct.unpack(">i", r[off:off + 4])[0]
    off += 4
    n, pos = 0, 0
    while pos + 12 <= rlen:
        blen = struct.unpack(">i", r[off + pos + 8:off + pos + 12])[0]
        pos += 12 + blen
        n += 1
    return el, err, n


el, err, n = fetch_batches(fetch_v4(b"raw", 0, 100, 1, 100, 1 << 20))
check("fetch max_bytes applies to the first partition (one batch, not all)",
      err == 0 and n == 1, "error %r, %d batches" % (err, n))
el, err, n = fetch_batches(fetch_v4(b"raw", 4, 2000, 0, 1 << 20, 1 << 20))
check("fetch with min_bytes 0 at the end answers at once", el < 1.0 and err == 0,
      "took %.2fs, error %r" % (el, err))

# A client streaming requests does not starve another one.
import threading
import time
stop = threading.Event()


def streamer():
    s2 = conn()
    corr = 0
    while not stop.is_set():
        for _ in range(50):
            send_frame(s2, header(18, 0, corr))
            corr += 1
        for _ in range(50):
            if recv_frame(s2) is None:
                return
    s2.close()


th = threading.Thread(target=streamer, daemon=True)
th.start()
time.sleep(0.3)
t0 = time.time()
s = conn()
send_frame(s, header(3, 1, 55) + struct.pack(">i", -1))
r = recv_frame(s)
el = time.time() - t0
s.close()
stop.set()
th.join(5)
check("a streaming client does not starve another", r is not None and el < 2.0,
      "metadata took %.2fs" % el)

# One Metadata request may auto-create a bounded number of topics; the rest
# answer LEADER_NOT_AVAILABLE (retriable) and are created on a later call.
def metadata_v1(names, corr=61):
    body = struct.pack(">i", len(names))
    for n in names:
        body += struct.pack(">h", len(n)) + n
    return header(3, 1, corr) + body


def topic_errors(resp):
    off = 4
    nb = struct.unpack(">i", resp[off:off + 4])[0]
    off += 4
    for _ in range(nb):
        off += 4
        hl = struct.unpack(">h", resp[off:off + 2])[0]
        off += 2 + hl + 4
        rl = struct.unpack(">h", resp[off:off + 2])[0]
        off += 2 + (rl if rl > 0 else 0)
    off += 4                                    # controller id
    nt = struct.unpack(">i", resp[off:off + 4])[0]
    off += 4
    errs = []
    for _ in range(nt):
        err, nl = struct.unpack(">hh", resp[off:off + 4])
        off += 4 + nl + 1                       # name, is_internal
        np_ = struct.unpack(">i", resp[off:off + 4])[0]
        off += 4
        for _ in range(np_):
            off += 2 + 4 + 4
            nr = struct.unpack(">i", resp[off:off + 4])[0]
            off += 4 + 4 * nr
            ni = struct.unpack(">i", resp[off:off + 4])[0]
            off += 4 + 4 * ni
        errs.append(err)
    return errs


names = [b"auto-%03d" % i for i in range(150)]
s = conn()
send_frame(s, metadata_v1(names))
first = topic_errors(recv_frame(s))
send_frame(s, metadata_v1(names, corr=62))
second = topic_errors(recv_frame(s))
s.close()
check("auto-creation is bounded per Metadata request and completes on retry",
      first.count(0) == 100 and first.count(5) == 50 and second.count(0) == 150,
      "first %s, second %s" % (sorted(set(first)), sorted(set(second))))

# Pipelined requests are answered in order.
s = conn()
for i in range(20):
    send_frame(s, header(18, 0, 1000 + i))
corrs = [struct.unpack(">i", recv_frame(s)[:4])[0] for _ in range(20)]
s.close()
check("pipelined requests answered in order", corrs == list(range(1000, 1020)), repr(corrs))

sys.exit(1 if failed else 0)
