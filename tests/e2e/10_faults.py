"""e2e/10_faults.py — faults injected into the process: strace write/fsync/rename errors, a locked database, SIGKILL during ingest, SMTP sending and a digest run.
Run by suite.py in file order; each test's boards are removed after it (board.cleanup_boards).
"""
import base64, email, email.policy, email.utils, glob, json, os, random, shutil, signal, sqlite3, subprocess  # noqa: F401
import socket, sys, tempfile, time  # noqa: F401

from board import *  # noqa: F401,F403
from board import BOARDS, HERE, ROOT, CORPUS  # noqa: F401
from postfix import Postfix  # noqa: F401
from dovecot import Dovecot  # noqa: F401
import board


def strace_run(b, args, syscalls, error, when="1+", stdin=None, env=None):
    """Runs bidmail under strace with the syscalls failing with error (errno name)."""
    e = dict(os.environ)
    e.update(env or {})
    # LeakSanitizer stops the world with ptrace, which strace already holds
    e["ASAN_OPTIONS"] = e.get("ASAN_OPTIONS", "") + ":detect_leaks=0"
    cmd = ["strace", "-f", "-o", "/dev/null", "-e", "trace=" + syscalls,
           "-e", "inject=%s:error=%s:when=%s" % (syscalls, error, when),
           board.BIDMAIL, "--config", b.conf] + args
    p = subprocess.run(cmd, input=stdin, capture_output=True, timeout=120, env=e, cwd=b.dir)
    err = p.stderr.decode("utf-8", "replace")
    if "Sanitizer" in err or "runtime error:" in err:
        raise Failure("sanitizer report under strace (%s):\n%s" % (" ".join(args), err[-3000:]))
    return p


def test_deliver_disk_full_and_io_errors_injected():
    """With write, fsync or rename failing (ENOSPC, EIO, injected by strace), deliver exits 75
    and leaves no file, whole or half-written; when only the final folder fsync fails, the
    MTA's retry cannot double the message: it is stored once."""
    b = Board().init()
    raw = post_mail(subject="Disque plein").encode()
    for syscalls, error in (("write", "ENOSPC"), ("write", "EIO"), ("fsync", "EIO"),
                            ("rename", "ENOSPC")):
        p = strace_run(b, ["deliver", "--recipient", "post@example.org"], syscalls, error,
                       stdin=raw)
        expect(p.returncode == 75, "%s %s: exit %d %r" % (syscalls, error, p.returncode, p.stderr[-300:]))
        expect(b.files("incoming/new") == [] and b.files("incoming/tmp") == [],
               "%s %s left %r %r" % (syscalls, error, b.files("incoming/new"), b.files("incoming/tmp")))
    # the second fsync is the folder's, after the rename: tempfail, then the MTA retries
    p = strace_run(b, ["deliver", "--recipient", "post@example.org"], "fsync", "EIO", when="2",
                   stdin=raw)
    expect(p.returncode == 75, "folder fsync: exit %d" % p.returncode)
    expect(b.deliver(raw) == 0, "the retry failed")
    b.run("run", "--once")
    expect([p["title"] for p in b.projects()] == ["Disque plein"], "projects: %r" % b.projects())


def test_run_and_sender_io_errors_injected_then_recovered():
    """A failing fsync makes `run` commit nothing (the mail stays in incoming/new); a failing
    write makes the file transport keep the answer queued; a later clean run stores the
    project once and writes its answer once."""
    b = Board().init()
    b.deliver(post_mail(subject="Erreur disque", sender="Jeanne <jeanne@client.fr>"))
    strace_run(b, ["run", "--once"], "fsync,fdatasync", "EIO")
    expect(len(b.files("incoming/new")) == 1, "the mail left incoming/new without a commit")
    expect(b.outgoing() == [], "an answer went out without a commit")
    strace_run(b, ["run", "--once"], "write", "ENOSPC")
    expect(b.outgoing() == [], "a half-written answer: %r" % b.outgoing())
    out = b.outbox()
    expect(len(out) <= 1 and all(o["state"] == "queued" for o in out), "outbox: %r" % out)
    b.run("run", "--once")
    expect(len(b.projects()) == 1 and b.files("incoming/new") == [], "projects: %r" % b.projects())
    sent = [read_mail(p)[1] for p in b.outgoing()]
    expect(len(sent) == 1 and sent[0]["To"].addresses[0].addr_spec == "jeanne@client.fr",
           "answers: %r" % [str(m["To"]) for m in sent])
    expect(b.files("tmp") == [], "leftovers in spool/tmp: %r" % b.files("tmp"))


def test_database_locked_by_another_process_waits():
    """While another process holds the database's write lock, `run` waits for it (busy
    timeout) instead of failing, then stores the mail."""
    b = Board().init()
    b.deliver(post_mail(subject="Base verrouillée"))
    db = sqlite3.connect(os.path.join(b.dir, "var", "bidmail.db"), isolation_level=None)
    db.execute("BEGIN EXCLUSIVE")
    p = subprocess.Popen([board.BIDMAIL, "--config", b.conf, "run", "--once"], cwd=b.dir,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    time.sleep(2)
    expect(p.poll() is None, "run did not wait for the lock (exit %r)" % p.poll())
    db.execute("ROLLBACK")
    db.close()
    out, err = p.communicate(timeout=60)
    expect(p.returncode == 0, "run exited %d: %r" % (p.returncode, err[-300:]))
    expect([x["title"] for x in b.projects()] == ["Base verrouillée"], "projects: %r" % b.projects())


def test_crash_kill9_loses_nothing_doubles_nothing():
    """1,000 messages (posts, exact re-deliveries, and mail for nobody) are processed by a
    daemon SIGKILLed at random moments and restarted until done: every message ends as
    exactly one committed row or one quarantined file, none lost, none doubled, and every
    project has exactly one acknowledgement file."""
    rng = random.Random(20261126)
    b = Board("batch_size = 16\n").init()
    distinct_posts = 0
    quarantined = 0
    raws = []
    for i in range(1000):
        r = rng.random()
        if r < 0.06 and raws:
            raw, rcpt = rng.choice(raws)  # an MTA retry: same bytes, same recipient
            b.deliver(raw, recipient=rcpt)
            continue
        if r < 0.12:
            raw = post_mail(subject="Lost %d" % i)
            b.deliver(raw, recipient="nobody@elsewhere.example")
            quarantined += 1
            continue
        raw = post_mail(subject="Projet numéro %d" % i, sender="c%d@client.fr" % i,
                        body="Description %d\n" % i + "ligne\n" * rng.randint(1, 200))
        b.deliver(raw)
        raws.append((raw, "post@example.org"))
        distinct_posts += 1
    delivered = set(b.files("incoming/new"))
    expect(len(delivered) == 1000, "delivered %d" % len(delivered))
    kills = 0
    deadline = time.time() + 300
    for _ in range(400):
        if not b.files("incoming/new") or time.time() > deadline:
            break
        d = subprocess.Popen([board.BIDMAIL, "--config", b.conf, "run"], stderr=subprocess.DEVNULL,
                             cwd=b.dir)
        time.sleep(rng.uniform(0.002, 0.05))
        d.kill()
        d.wait()
        if b.files("incoming/new"):
            kills += 1  # killed with work still pending
    b.run("run", "--once", timeout=120)
    print("     (%d SIGKILLs with work pending)" % kills)
    expect(kills >= 5, "too few kills mid-work to prove anything: %d" % kills)
    cur = {f.split(":2,")[0] for f in b.files("incoming/cur")}
    failed = {f for f in b.files("failed") if not f.endswith(".reason")}
    expect(b.files("incoming/new") == [], "left in new/")
    expect(cur | failed == delivered, "lost: %d" % len(delivered - (cur | failed)))
    expect(not (cur & failed), "both stored and quarantined: %d" % len(cur & failed))
    expect(len(failed) == quarantined, "quarantined %d, want %d" % (len(failed), quarantined))
    projects = b.projects()
    titles = [p["title"] for p in projects]
    expect(len(titles) == len(set(titles)), "a project stored twice")
    expect(len(projects) == distinct_posts, "projects %d, want %d" % (len(projects), distinct_posts))
    ob = b.outbox()
    expect(len(ob) == distinct_posts and all(o["state"] == "sent" for o in ob), "outbox rows %d" % len(ob))
    files = b.outgoing()
    ids = [os.path.basename(f).split("-")[0] for f in files]
    expect(len(ids) == len(set(ids)) == distinct_posts, "ack files %d for %d projects" % (len(ids), distinct_posts))


def test_smtp_kill9_during_sending():
    """A sender SIGKILLed at random moments while it delivers 1,500 mails over 4 connections,
    then restarted until the queue is empty: every mail arrives, and a kill resends at most the
    mails that were in flight (one per connection), never the queue."""
    import collections
    rng = random.Random(42)
    sink = Sink().start()
    try:
        b = smtp_board(sink.url(), "smtp_connections = 4\n")
        db = sqlite3.connect(os.path.join(b.dir, "var", "bidmail.db"))
        with db:
            for i in range(1500):
                msg = ("From: bidmail <post@example.org>\r\nTo: <f%d@example.net>\r\n"
                       "Subject: n%d\r\nMessage-ID: <k%d@example.org>\r\n\r\nbody %d\r\n" % (i, i, i, i))
                db.execute("INSERT INTO outbox(id, kind, rcpt, sender, subject, token, created) VALUES"
                           "(?, 'test', ?, 'bounce@example.org', ?, ?, '2026-03-02T08:00:00Z')",
                           (i + 1, "f%d@example.net" % i, "n%d" % i, "%032x" % i))
                db.execute("INSERT INTO outbox_message(id, message) VALUES(?, ?)", (i + 1, msg.encode()))
        db.close()
        kills = 0
        env = dict(os.environ, BIDMAIL_NOW="2026-03-02T08:00:00Z")
        for _ in range(50):
            if all(o["state"] == "sent" for o in b.outbox()):
                break
            d = subprocess.Popen([board.BIDMAIL, "--config", b.conf, "send", "--once"], env=env,
                                 stderr=subprocess.DEVNULL, cwd=b.dir)
            time.sleep(rng.uniform(0.005, 0.04))
            if d.poll() is None:
                d.kill()
                kills += 1
            d.wait()
        b.run("send", "--once", env={"BIDMAIL_NOW": "2026-03-02T08:00:00Z"})
        print("     (%d SIGKILLs while sending)" % kills)
        ob = b.outbox()
        expect(all(o["state"] == "sent" for o in ob), "not all sent: %r" % collections.Counter(o["state"] for o in ob))
        ids = collections.Counter()
        for env_, raw in sink.messages():
            m = email.message_from_bytes(raw, policy=email.policy.default)
            ids[m["Message-ID"]] += 1
        expect(len(ids) == 1500, "distinct mails received: %d" % len(ids))
        expect(kills >= 3, "too few kills mid-sending to prove anything: %d" % kills)
        doubles = sum(c - 1 for c in ids.values())
        expect(doubles <= 4 * kills, "%d resends for %d kills" % (doubles, kills))
    finally:
        sink.cleanup()


def test_digest_run_kill9_sends_each_selection_once():
    """A weekly run for a board of 100,000 subscribers (10,000 under ASan), generated straight
    into the database, SIGKILLed at random moments, then run again until done: every
    subscriber has exactly one selection for the week, claimed once with one queued mail (the
    claim and the mail commit together), and each due row moved on to the next week; the file
    transport then writes each mail once (checked in full at the ASan size)."""
    import collections
    rng = random.Random(7)
    n_subs = 10000 if board.LABEL == "asan" else 100000
    b = Board().init()
    publish(b, post_mail(subject="Traduction juridique", body="Traduction FR vers EN.\n"),
            env={"BIDMAIL_NOW": "2026-03-04T10:00:00Z"})
    dbpath = os.path.join(b.dir, "var", "bidmail.db")
    db = sqlite3.connect(dbpath)
    with db:
        db.executemany("INSERT INTO subscribers(id, address, name, status, language, frequency, day,"
                       " created, confirmed, last_activity) VALUES(?, ?, ?, 'active', 'fr', 'weekly',"
                       " 1, '2026-03-01T00:00:00Z', '2026-03-01T00:00:00Z', '2026-03-01T00:00:00Z')",
                       ((100 + i, "s%d@dev.fr" % i, "S%d" % i) for i in range(n_subs)))
        db.executemany("INSERT INTO patterns(subscriber, kind, source, created) VALUES(?, 'skills',"
                       " 'traduction', '2026-03-01T00:00:00Z')", ((100 + i,) for i in range(n_subs)))
    db.close()
    env = dict(os.environ, BIDMAIL_NOW="2026-03-09T07:00:00Z")
    kills = 0
    started = time.time()
    for _ in range(12):
        d = subprocess.Popen([board.BIDMAIL, "--config", b.conf, "digest", "--at", "2026-03-09T08:00:00+01:00"],
                             env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=b.dir)
        time.sleep(rng.uniform(0.05, 3.0))
        if d.poll() is None:
            d.kill()
            kills += 1
            d.wait()
        else:
            d.wait()
            break
    # the rest of the run, alone about 40 s for 100,000 (more on a loaded machine)
    b.run("digest", "--at", "2026-03-09T08:00:00+01:00", env={"BIDMAIL_NOW": "2026-03-09T07:00:00Z"},
          timeout=480)
    print("     (%d SIGKILLs during the run of %d selections, %.0f s)" % (kills, n_subs, time.time() - started))
    expect(kills >= 2, "too few kills mid-run to prove anything: %d" % kills)
    db = sqlite3.connect(dbpath)
    claims = db.execute("SELECT count(*), count(DISTINCT subscriber) FROM digests WHERE period = '2026-W11'").fetchone()
    mails = collections.Counter(r for (r,) in db.execute("SELECT rcpt FROM outbox WHERE kind = 'digest'"))
    moved = db.execute("SELECT count(*) FROM subscribers WHERE next_due = '2026-03-16T07:00:00Z'").fetchone()[0]
    db.close()
    expect(claims == (n_subs, n_subs), "claims of the week: %r" % (claims,))
    expect(len(mails) == n_subs, "subscribers with a queued selection: %d" % len(mails))
    expect(max(mails.values()) == 1, "selections queued twice: %r" % [a for a, n in mails.items() if n > 1][:5])
    expect(moved == n_subs, "subscribers due next Monday 08:00 Paris: %d" % moved)
    if n_subs > 10000:
        return  # the file transport's own exactly-once is checked at the smaller size
    b.run("send", "--once", env={"BIDMAIL_NOW": "2026-03-09T07:00:00Z"})
    per = collections.Counter()
    for path in b.outgoing():
        with open(path, "rb") as f:
            head = f.read(4096).decode("utf-8", "replace")
        to = [line for line in head.split("\n") if line.startswith("To: ")]
        if to and "@dev.fr" in to[0]:
            per[to[0].split("<")[-1].rstrip(">\r ")] += 1
    expect(len(per) == n_subs, "subscribers with a selection written: %d" % len(per))
    expect(max(per.values()) == 1, "selections written twice: %r" % [a for a, n in per.items() if n > 1][:5])
