#!/usr/bin/env python3
"""pg_bench.py — several hosts on one PostgreSQL (issue 16), each figure beside its baseline
from the same run, on one private server (tests/pg.py: initdb as nobody into a temporary
folder, 127.0.0.1, a free port, stopped by its pid; fsync off, as in the tests).
1. Ingest: the corpus of bench/gen_corpus.py split over K hosts (K = 1, 2, 3; each its own
   config, spool and host_id, a fresh database per K), `bidmail run --once` started on all at
   once; aggregate messages/s = messages moved to cur/ over the wall time of the slowest.
   Beside it: single-host SQLite `run --once` on the whole corpus.
2. Outbox claim: ROWS queued rows (made with SQL, as tests/t_multihost.py does), S senders
   (S = 1, 2, 4, 8; each its own config, spool and host_id) running `bidmail send --once` at
   once through the file transport (it claims 256 rows a batch under a lease, the same claim
   as SMTP); rows/s over the wall time of the slowest. A row claimed twice is a file of the
   same outbox id in two spools' outgoing/ (or more files than rows): must be 0. Beside it:
   one SQLite sender on the same rows.
3. Weekly run: a board of SUBS weekly subscribers x PROJECTS projects made by bench/board.py
   in SQLite, copied table by table into PostgreSQL (COPY FROM STDIN through psql, ids kept,
   identities moved past them), then `bidmail digest --at MONDAY` followed by `bidmail send`
   on 1 host, and on 3 hosts started at once (shards claimed under leases); selections/s;
   every subscriber exactly one selection. Beside it: the same board on SQLite, one host.
Prints a table; exits 1 when a double claim or a doubled/missing selection is seen.
usage: bench/pg_bench.py [N [ROWS [SUBS [PROJECTS]]]]   (default 3000 20000 20000 1000; work in
       bench/out/pg, or BENCH_OUT)
"""
import collections
import os
import shutil
import sqlite3
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.append(os.path.join(HERE, "..", "tests"))   # after bench/: tests/ has a board.py too
import board  # noqa: E402
from pg import Postgres  # noqa: E402
from sink import Sink  # noqa: E402

MONDAY = "2026-03-02T08:00:00+01:00"
WEEK_FROM = "2026-02-23T08:00:00+01:00"
PERIOD = "2026-W10"
NOW = "2026-03-02T08:00:00Z"
DOUBLES = []          # what must be 0 and was not: makes the exit status 1


def host_board(bidmail, folder, url, name, more=""):
    """A board folder on database url (SQLite when None) with its own host_id; its config."""
    extra = "host_id = %s\n%s" % (name, more)
    if url:
        extra = "database = %s\n%s" % (url, extra)
    return board.init(bidmail, folder, extra)


def start(bidmail, conf, args, log, env=None):
    e = dict(os.environ)
    e.update(env or {})
    f = open(log, "wb")
    p = subprocess.Popen([bidmail, "--config", conf] + args, stdout=subprocess.DEVNULL,
                         stderr=f, env=e, cwd=os.path.dirname(conf))
    f.close()
    return p


def run_all(bidmail, confs, args, tag, env=None, timeout=1800):
    """Starts `bidmail ARGS` on every config at once; wall seconds until the last ends."""
    t0 = time.time()
    procs = [start(bidmail, c, args, os.path.join(os.path.dirname(c), "%s.log" % tag), env)
             for c in confs]
    for p, c in zip(procs, confs):
        p.wait(timeout=max(1, timeout - (time.time() - t0)))
        if p.returncode:
            raise SystemExit("%s on %s: exit status %d (see %s.log)" % (" ".join(args), c,
                                                                       p.returncode, tag))
    return time.time() - t0


def spool_count(conf, sub):
    d = os.path.join(os.path.dirname(conf), "spool", sub)
    return sum(1 for n in os.listdir(d) if not n.startswith(".")) if os.path.isdir(d) else 0


# ------------------------------------------------------------------------------ 1. ingest

def ingest(bidmail, pg, out, corpus):
    files = sorted(os.listdir(corpus))
    res = []
    # SQLite: one host, the whole corpus
    conf = host_board(bidmail, os.path.join(out, "ingest-sqlite"), None, "solo.example.org")
    put(conf, corpus, files)
    w = run_all(bidmail, [conf], ["run", "--once"], "ingest")
    res.append(("SQLite, 1 host", spool_count(conf, "incoming/cur"), w))
    for k in (1, 2, 3):
        url = pg.new_database("ingest%d" % k)
        confs = [host_board(bidmail, os.path.join(out, "ingest-pg%d-mx%d" % (k, i + 1)), url,
                            "mx%d.example.org" % (i + 1)) for i in range(k)]
        for i, c in enumerate(confs):
            put(c, corpus, files[i::k])
        w = run_all(bidmail, confs, ["run", "--once"], "ingest")
        done = sum(spool_count(c, "incoming/cur") for c in confs)
        rows = int(pg_query(pg, "ingest%d" % k, "SELECT count(*) FROM ingested"))
        res.append(("PostgreSQL, %d host%s" % (k, "" if k == 1 else "s"), done, w, rows))
    return res


def put(conf, corpus, names):
    new = os.path.join(os.path.dirname(conf), "spool", "incoming", "new")
    for n in names:
        shutil.copy(os.path.join(corpus, n), new)
    os.sync()   # as bench/run.sh: the spool durable before the timed run, as deliver leaves it


def pg_query(pg, db, sql):
    p = subprocess.run([os.path.join(pg.bin, "psql"), "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1",
                        "-h", "127.0.0.1", "-p", str(pg.port), "-U", "bidmail", "-d", db, "-c", sql],
                       capture_output=True, timeout=600)
    if p.returncode:
        raise SystemExit("psql: %s" % p.stderr.decode())
    return p.stdout.decode().strip()


# ------------------------------------------------------------------------- 2. outbox claim

QUEUE_SQL = ("INSERT INTO outbox(kind, rcpt, sender, subject, token, created) SELECT 'test',"
             " 'r' || g || '@dev.fr', 'bounce@example.org', 'm' || g, 'tok' || g,"
             " '2026-03-02T08:00:00Z' FROM generate_series(1, %d) g;"
             "INSERT INTO outbox_message(id, message) SELECT id, convert_to('Subject: ' ||"
             " subject || E'\\r\\nMessage-ID: <' || token || '@example.org>\\r\\n\\r\\n' ||"
             " repeat('x', 2000) || E'\\r\\n', 'UTF8') FROM outbox")


def sent_ids(confs, transport):
    """({outbox id: number of hosts that sent it}, sends, sends per host): for the file
    transport the files of each spool's outgoing/ (named by outbox id), for SMTP the rows each
    sender's log says the server accepted."""
    per, sends, shares = collections.Counter(), 0, []
    for c in confs:
        mine = collections.Counter()
        if transport == "file":
            d = os.path.join(os.path.dirname(c), "spool", "outgoing")
            for n in os.listdir(d):
                if n.endswith(".eml"):
                    mine[int(n.split("-")[0])] += 1
        else:
            with open(os.path.join(os.path.dirname(c), "send.log"), errors="replace") as f:
                for line in f:
                    if "transport=smtp" in line and "result=sent" in line and " outbox=" in line:
                        mine[int(line.split(" outbox=")[1].split()[0])] += 1
        for i, k in mine.items():
            per[i] += 1
            sends += k
        shares.append(sum(mine.values()))
    return per, sends, shares


def queue_sqlite(conf, rows):
    """rows queued outbox rows of about 2 KB in a SQLite board, as QUEUE_SQL makes them."""
    db = sqlite3.connect(board.database(os.path.dirname(conf)))
    with db:
        db.executemany("INSERT INTO outbox(kind, rcpt, sender, subject, token, created)"
                       " VALUES('test', ?, 'bounce@example.org', ?, ?, '2026-03-02T08:00:00Z')",
                       [("r%d@dev.fr" % g, "m%d" % g, "tok%d" % g) for g in range(1, rows + 1)])
        db.execute("INSERT INTO outbox_message(id, message) SELECT id, CAST('Subject: ' ||"
                   " subject || char(13, 10) || 'Message-ID: <' || token || '@example.org>' ||"
                   " char(13, 10, 13, 10) || printf('%.2000c', 'x') || char(13, 10) AS BLOB)"
                   " FROM outbox")
    db.close()


def claim(bidmail, pg, out, rows, transport, sink=None):
    """The claim benchmark through transport ('file' or 'smtp': smtp-sink, one connection
    per sender); rows (label, rows sent, seconds, claimed twice, share per sender)."""
    extra = "" if transport == "file" else "smarthost = %s\nsmtp_connections = 1\n" % sink.url()
    res = []
    conf = host_board(bidmail, os.path.join(out, "claim-%s-sqlite" % transport), None,
                      "solo.example.org", extra)
    queue_sqlite(conf, rows)
    os.sync()
    w = run_all(bidmail, [conf], ["send", "--once"], "send", {"BIDMAIL_NOW": NOW})
    per, sends, _ = sent_ids([conf], transport)
    res.append(("SQLite, 1 sender", len(per), w, sends - len(per), str(sends)))
    for s in (1, 2, 4, 8):
        name = "claim_%s_%d" % (transport, s)
        url = pg.new_database(name)
        confs = [host_board(bidmail, os.path.join(out, "claim-%s-pg%d-mx%d" % (transport, s, i + 1)),
                            url, "mx%d.example.org" % (i + 1), extra) for i in range(s)]
        pg_query(pg, name, QUEUE_SQL % rows)
        os.sync()
        w = run_all(bidmail, confs, ["send", "--once"], "send", {"BIDMAIL_NOW": NOW})
        per, sends, shares = sent_ids(confs, transport)
        twice = sends - len(per)
        sent = int(pg_query(pg, name, "SELECT count(*) FROM outbox WHERE state = 'sent'"))
        if twice or len(per) != rows or sent != rows:
            DOUBLES.append("%s, %d senders: %d sent twice, %d sent of %d rows, %d marked sent"
                           % (transport, s, twice, len(per), rows, sent))
        share = "/".join(str(x) for x in shares)
        res.append(("PostgreSQL, %d sender%s" % (s, "" if s == 1 else "s"), len(per), w, twice,
                    share))
    return res


# --------------------------------------------------------------------------- 3. weekly run

def copy_board(src_db, pg, dbname):
    """Copies the generated tables of a SQLite board into PostgreSQL database dbname (same
    schema, made by `bidmail init`): COPY FROM STDIN through psql, ids kept, then each
    identity moved past the largest id."""
    db = sqlite3.connect(src_db)
    for table in ("subscribers", "patterns", "projects"):
        cols = [r[1] for r in db.execute("PRAGMA table_info(%s)" % table)]
        lines = []
        for row in db.execute("SELECT %s FROM %s" % (", ".join(cols), table)):
            lines.append("\t".join(copy_field(v) for v in row))
        data = ("\n".join(lines) + "\n").encode("utf-8")
        p = subprocess.run([os.path.join(pg.bin, "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1",
                            "-h", "127.0.0.1", "-p", str(pg.port), "-U", "bidmail", "-d", dbname,
                            "-c", "COPY %s(%s) FROM STDIN" % (table, ", ".join(cols))],
                           input=data, capture_output=True, timeout=600)
        if p.returncode:
            raise SystemExit("COPY %s: %s" % (table, p.stderr.decode()))
        pg_query(pg, dbname, "SELECT setval(pg_get_serial_sequence('%s', 'id'),"
                 " (SELECT max(id) FROM %s))" % (table, table))
    db.close()
    pg_query(pg, dbname, "ANALYZE")


def copy_field(v):
    if v is None:
        return "\\N"
    if isinstance(v, bytes):
        v = v.decode("utf-8")
    return (str(v).replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")
            .replace("\r", "\\r"))


def queued_by(conf):
    """The selections this host's weekly run queued (its log's `stage=queue kind=digest`)."""
    with open(os.path.join(os.path.dirname(conf), "digest.log"), errors="replace") as f:
        return sum(1 for l in f if "stage=queue" in l and "kind=digest" in l)


def weekly(bidmail, pg, out, nsubs, nproj):
    src = os.path.join(out, "weekly-sqlite")
    conf = host_board(bidmail, src, None, "solo.example.org")
    gen = board.fill(src, nsubs, nproj, board.iso_epoch(WEEK_FROM), board.iso_epoch(MONDAY) - 3600)
    # the untouched board, kept before the SQLite run changes it
    shutil.copy(board.database(src), os.path.join(out, "weekly-board.db"))
    os.sync()
    res = []
    w = run_all(bidmail, [conf], ["digest", "--at", MONDAY], "digest")
    w += run_all(bidmail, [conf], ["send"], "send")
    db = sqlite3.connect(board.database(src))
    sel = db.execute("SELECT count(*), count(DISTINCT subscriber) FROM digests WHERE period = ?",
                     (PERIOD,)).fetchone()
    db.close()
    res.append(("SQLite, 1 host", sel[0], w, str(queued_by(conf))))
    t0 = time.time()
    copied = 0.0
    for k in (1, 3):
        name = "weekly%d" % k
        url = pg.new_database(name)
        confs = [host_board(bidmail, os.path.join(out, "weekly-pg%d-mx%d" % (k, i + 1)), url,
                            "mx%d.example.org" % (i + 1)) for i in range(k)]
        t0 = time.time()
        copy_board(os.path.join(out, "weekly-board.db"), pg, name)
        copied = time.time() - t0
        os.sync()
        w = run_all(bidmail, confs, ["digest", "--at", MONDAY], "digest")
        w += run_all(bidmail, confs, ["send"], "send")
        rows, subs = (int(x) for x in pg_query(
            pg, name, "SELECT count(*), count(DISTINCT subscriber) FROM digests"
            " WHERE period = '%s'" % PERIOD).split("|"))
        mails, rcpts = (int(x) for x in pg_query(
            pg, name, "SELECT count(*), count(DISTINCT rcpt) FROM outbox WHERE kind = 'digest'")
            .split("|"))
        files = sum(board.outgoing_count(os.path.dirname(c)) for c in confs)
        if rows != subs or mails != rcpts or rows != sel[0] or files != mails:
            DOUBLES.append("weekly on %d hosts: %d selections of %d subscribers, %d mails to %d,"
                           " %d files (SQLite: %d)" % (k, rows, subs, mails, rcpts, files, sel[0]))
        res.append(("PostgreSQL, %d host%s" % (k, "" if k == 1 else "s"), rows, w,
                    "/".join(str(queued_by(c)) for c in confs)))
    return res, gen, copied


# -------------------------------------------------------------------------------- the table

def main():
    a = [int(x) for x in sys.argv[1:]]
    n, rows, nsubs, nproj = (a + [3000, 20000, 20000, 1000][len(a):])[:4]
    bidmail = os.environ.get("BIDMAIL", os.path.join(board.ROOT, "bidmail"))
    out = os.environ.get("BENCH_OUT", os.path.join(board.ROOT, "bench", "out", "pg"))
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    shutil.copy(bidmail, os.path.join(out, "bidmail.measured"))
    bidmail = os.path.join(out, "bidmail.measured")
    corpus = os.path.join(out, "corpus")
    subprocess.run([sys.executable, os.path.join(HERE, "gen_corpus.py"), corpus, str(n)],
                   check=True, stdout=subprocess.DEVNULL)
    pg = Postgres()
    try:
        print("PostgreSQL benchmark (issue 16): one private server (fsync off), hosts ="
              " separate configs/spools/host_ids on this machine (%d cores)" % os.cpu_count(),
              flush=True)
        ing = ingest(bidmail, pg, out, corpus)
        print("  ingest, `run --once` on each host's share of %d messages at once:" % n)
        base = ing[0][1] / ing[0][2]
        for r in ing:
            rate = r[1] / r[2]
            print("    %-22s %6d msgs %7.1f s %7.0f msgs/s  x%.2f of SQLite%s"
                  % (r[0], r[1], r[2], rate, rate / base,
                     "  (%d ingested rows)" % r[3] if len(r) > 3 else ""), flush=True)
        sink = Sink(dump=False).start()
        try:
            for transport, what in (("file", "file transport, 256 rows a claim"),
                                    ("smtp", "smtp-sink, 1 connection each, 50 rows a claim")):
                cl = claim(bidmail, pg, out, rows, transport, sink)
                print("  outbox claim, `send --once` at once on %d queued rows (%s):"
                      % (rows, what))
                base = cl[0][1] / cl[0][2]
                for r in cl:
                    rate = r[1] / r[2]
                    print("    %-22s %6d rows %7.1f s %7.0f rows/s  x%.2f of SQLite  sent twice:"
                          " %d  per sender %s" % (r[0], r[1], r[2], rate, rate / base, r[3], r[4]),
                          flush=True)
        finally:
            sink.cleanup()
        wk, gen, copied = weekly(bidmail, pg, out, nsubs, nproj)
        print("  weekly run, `digest --at` then `send`, %d subscribers x %d projects (board made"
              " in %.0f s, copied to PostgreSQL in %.0f s):" % (nsubs, nproj, gen, copied))
        base = wk[0][1] / wk[0][2]
        for r in wk:
            rate = r[1] / r[2]
            print("    %-22s %6d sel. %7.1f s %7.0f sel./s  x%.2f of SQLite  queued per host %s"
                  % (r[0], r[1], r[2], rate, rate / base, r[3]), flush=True)
    finally:
        pg.cleanup()
    for d in DOUBLES:
        print("  FAIL: %s" % d)
    return 1 if DOUBLES else 0


if __name__ == "__main__":
    sys.exit(main())
