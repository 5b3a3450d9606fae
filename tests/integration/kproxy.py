"""A Kafka TCP proxy that plays an older or a stuck broker for one API.
Usage: kproxy.py LISTEN_PORT BROKER_PORT MODE KEY
  hide  remove KEY from ApiVersions v0 answers (a broker without the API)
  hang  never forward a request for KEY (a broker that stops answering it)
Every other frame passes unchanged.  Point the broker's
advertised.listeners at LISTEN_PORT so clients come back through it."""
import socket
import struct
import sys
import threading

LISTEN, UPSTREAM, MODE, KEY = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], int(sys.argv[4])


def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


def frames(s):
    while True:
        hdr = recv_exact(s, 4)
        if hdr is None:
            return
        body = recv_exact(s, struct.unpack(">i", hdr)[0])
        if body is None:
            return
        yield body


def client_to_broker(c, b, v0_corrs):
    for f in frames(c):
        key, ver, corr = struct.unpack_from(">hhi", f)
        if MODE == "hang" and key == KEY:
            continue
        if key == 18 and ver == 0:
            v0_corrs.add(corr)
        b.sendall(struct.pack(">i", len(f)) + f)
    b.close()


def broker_to_client(b, c, v0_corrs):
    for f in frames(b):
        corr = struct.unpack_from(">i", f)[0]
        if MODE == "hide" and corr in v0_corrs:
            v0_corrs.discard(corr)
            err, n = struct.unpack_from(">hi", f, 4)
            keep = [f[10 + 6 * i:16 + 6 * i] for i in range(n)]
            keep = [e for e in keep if struct.unpack(">h", e[:2])[0] != KEY]
            f = f[:4] + struct.pack(">hi", err, len(keep)) + b"".join(keep) + f[10 + 6 * n:]
        c.sendall(struct.pack(">i", len(f)) + f)
    c.close()


srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", LISTEN))
srv.listen(16)
print("ready", flush=True)
while True:
    c, _ = srv.accept()
    b = socket.create_connection(("127.0.0.1", UPSTREAM))
    corrs = set()
    threading.Thread(target=client_to_broker, args=(c, b, corrs), daemon=True).start()
    threading.Thread(target=broker_to_client, args=(b, c, corrs), daemon=True).start()
