"""A view store written by hand, following the schema in src/view/store.h
exactly, for testing the read side (the query API) on its own.

  viewdb.py DB create VIEW VERSION N [VALUEPREFIX]   rows k00000.. = {"n":i,"v":PREFIX}
  viewdb.py DB put VIEW VERSION KEY VALUE            upsert (VALUE '-' deletes)
  viewdb.py DB alias VIEW VERSION                    switch the alias atomically
  viewdb.py DB flip VIEW V1 V2 SECONDS               switch back and forth
  viewdb.py DB offsets VIEW VERSION NEXT HWM LAST_TS set partition 0's offsets
  viewdb.py DB slowput VIEW VERSION N INTERVAL_MS    N upserts k_live_i, one per commit
"""
import sqlite3, sys, time

db, cmd, args = sys.argv[1], sys.argv[2], sys.argv[3:]
c = sqlite3.connect(db, isolation_level=None, timeout=10)
c.execute("PRAGMA journal_mode=WAL")
now = lambda: int(time.time() * 1000)


def schema():
    c.executescript("""
    CREATE TABLE IF NOT EXISTS kappa_meta(key TEXT PRIMARY KEY, value TEXT);
    INSERT OR REPLACE INTO kappa_meta VALUES('schema', '1');
    CREATE TABLE IF NOT EXISTS kappa_views(view TEXT, version INTEGER, job TEXT, topic TEXT,
        created_ms INTEGER, PRIMARY KEY(view, version));
    CREATE TABLE IF NOT EXISTS kappa_aliases(view TEXT PRIMARY KEY, version INTEGER,
        updated_ms INTEGER);
    CREATE TABLE IF NOT EXISTS kappa_offsets(view TEXT, version INTEGER, topic TEXT,
        partition INTEGER, next_offset INTEGER, applied INTEGER, high_watermark INTEGER,
        last_ts INTEGER, committed_ms INTEGER, PRIMARY KEY(view, version, topic, partition));
    """)


def table(v, ver):
    return '"%s@v%d"' % (v, int(ver))


def set_alias(v, ver):
    c.execute("INSERT OR REPLACE INTO kappa_aliases VALUES(?, ?, ?)", (v, int(ver), now()))
    c.execute('DROP VIEW IF EXISTS "%s"' % v)
    c.execute('CREATE VIEW "%s" AS SELECT key, value, ts FROM %s WHERE value IS NOT NULL'
              % (v, table(v, ver)))


def next_seq(t):
    return c.execute("SELECT coalesce(max(seq), 0) + 1 FROM %s" % t).fetchone()[0]


def put(v, ver, key, value, ts=None):
    t = table(v, ver)
    c.execute("INSERT OR REPLACE INTO %s VALUES(?, ?, ?, ?, 0, ?)" % t,
              (key, value, next_seq(t), ts if ts is not None else now(), 0))


if cmd == "create":
    v, ver, n = args[0], int(args[1]), int(args[2])
    prefix = args[3] if len(args) > 3 else "v%d" % ver
    schema()
    c.execute("BEGIN IMMEDIATE")
    t = table(v, ver)
    c.execute("CREATE TABLE %s(key PRIMARY KEY, value, seq INTEGER NOT NULL, ts INTEGER NOT NULL,"
              " src_partition INTEGER NOT NULL, src_offset INTEGER NOT NULL) WITHOUT ROWID" % t)
    c.execute('CREATE UNIQUE INDEX "%s@v%d$seq" ON %s(seq)' % (v, ver, t))
    c.execute("INSERT INTO kappa_views VALUES(?, ?, ?, ?, ?)",
              (v, ver, "job_" + v, "__kappa_view.%s.v%d" % (v, ver), now()))
    c.executemany("INSERT INTO %s VALUES(?, ?, ?, ?, 0, ?)" % t,
                  (("k%05d" % i, '{"n":%d,"v":"%s"}' % (i, prefix), i + 1, 1000 + i, i)
                   for i in range(n)))
    c.execute("INSERT INTO kappa_offsets VALUES(?, ?, ?, 0, ?, ?, ?, ?, ?)",
              (v, ver, "__kappa_view.%s.v%d" % (v, ver), n, n, n, 1000 + n, now()))
    if not c.execute("SELECT 1 FROM kappa_aliases WHERE view = ?", (v,)).fetchone():
        set_alias(v, ver)
    c.execute("COMMIT")
elif cmd == "put":
    c.execute("BEGIN IMMEDIATE")
    put(args[0], args[1], args[2], None if args[3] == "-" else args[3])
    c.execute("COMMIT")
elif cmd == "alias":
    c.execute("BEGIN IMMEDIATE")
    set_alias(args[0], args[1])
    c.execute("COMMIT")
elif cmd == "flip":
    v, a, b, secs = args[0], args[1], args[2], float(args[3])
    end, i = time.time() + secs, 0
    while time.time() < end:
        c.execute("BEGIN IMMEDIATE")
        set_alias(v, a if i % 2 else b)
        c.execute("COMMIT")
        i += 1
        time.sleep(0.002)
    print(i)
elif cmd == "offsets":
    v, ver, nxt, hwm, last_ts = args[0], int(args[1]), int(args[2]), int(args[3]), int(args[4])
    c.execute("UPDATE kappa_offsets SET next_offset = ?, high_watermark = ?, last_ts = ?,"
              " committed_ms = ? WHERE view = ? AND version = ?", (nxt, hwm, last_ts, now(), v, ver))
elif cmd == "slowput":
    v, ver, n, ms = args[0], args[1], int(args[2]), int(args[3])
    for i in range(n):
        c.execute("BEGIN IMMEDIATE")
        put(v, ver, "k_live_%d" % i, '{"live":%d}' % i, 5000 + i)
        c.execute("COMMIT")
        time.sleep(ms / 1000.0)
else:
    sys.exit("unknown command " + cmd)
