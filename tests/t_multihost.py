# t_multihost.py — several gateway hosts on one PostgreSQL (issue #16): three daemons, each
# with its own config, spool, LMTP port and host_id, on one private server (tests/pg.py).
# (a) the same mail through two hosts is one project; (b) mails spread over the hosts with one
# SIGKILLed and restarted: one row per message, every answer written once; (c) a weekly run
# started on all three at once, one killed: every subscriber exactly one selection, the run
# shared in shards, the killed host's shard taken over after its lease; (d) three senders
# against smtp-sink, one killed: resends at most its mails in flight. Every name has `pg`, so
# `--only pg` runs them; no PostgreSQL installed is a FAIL (install-deps installs it).
import collections as _mh_collections
import subprocess as _mh_subprocess
import threading

from pg import Postgres


def _mh_boards(pg, n=3, extra=""):
    """n hosts on pg's database, each with its own folder, spool, LMTP port and host_id,
    initialised one after another (the migrations run once, under their advisory lock)."""
    boards = []
    for i in range(n):
        port = free_port()
        b = Board("host_id = mx%d.example.org\nlmtp_listen = 127.0.0.1:%d\n%s"
                  % (i + 1, port, extra), database=pg.url)
        b.lmtp_port, b.name, b.proc, b.logs = port, "mx%d" % (i + 1), None, []
        boards.append(b)
    for b in boards:
        b.init()
    return boards


def _mh_start(b, env=None):
    """Starts b's daemon (`bidmail run`), its log in a file of its folder; waits for LMTP."""
    log = os.path.join(b.dir, "daemon-%d.log" % len(b.logs))
    b.logs.append(log)
    e = dict(os.environ)
    e.update(env or {})
    with open(log, "wb") as f:
        b.proc = _mh_subprocess.Popen([BIDMAIL, "--config", b.conf, "run"], cwd=b.dir, env=e,
                                      stdout=_mh_subprocess.DEVNULL, stderr=f)
    if not wait_port(b.lmtp_port, 30):
        raise Failure("%s: daemon not listening: %s" % (b.name, _mh_log(b)[-1500:]))


def _mh_stop(b, sig=signal.SIGTERM):
    """Stops b's daemon by its pid (SIGKILL past 30 s)."""
    if b.proc and b.proc.poll() is None:
        b.proc.send_signal(sig)
        try:
            b.proc.wait(timeout=30)
        except _mh_subprocess.TimeoutExpired:
            b.proc.kill()
            b.proc.wait(timeout=10)
    b.proc = None


def _mh_log(b):
    text = ""
    for path in b.logs:
        with open(path, encoding="utf-8", errors="replace") as f:
            text += f.read()
    return text


def _mh_lmtp(port, mails, timeout=60):
    """Hands mails [(sender, raw)] to the LMTP server on port in one session; returns the
    number answered 250 (a refused or dropped session stops there)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    f = s.makefile("rb")

    def reply():
        for _ in range(50):
            line = f.readline().decode("utf-8", "replace")
            if len(line) < 4 or line[3] != "-":
                return line
        return ""
    ok = 0
    try:
        reply()
        s.sendall(b"LHLO test.example.org\r\n")
        reply()
        for sender, raw in mails:
            for cmd in ("MAIL FROM:<%s>" % sender, "RCPT TO:<post@example.org>", "DATA"):
                s.sendall(cmd.encode() + b"\r\n")
                reply()
            s.sendall(raw.replace("\n", "\r\n").encode("utf-8") + b"\r\n.\r\n")
            if reply().startswith("250"):
                ok += 1
        s.sendall(b"QUIT\r\n")
    except OSError:
        pass
    finally:
        s.close()
    return ok


def _mh_post(i, tag):
    sender = "client%d@%s.example.net" % (i, tag)
    raw = post_mail(subject="Traduction %s %d" % (tag, i),
                    body="Bonjour,\nNous cherchons un traducteur pour le lot %d.\n" % i,
                    sender="Client %d <%s>" % (i, sender), msgid="<%s-%d@client.example.net>" % (tag, i))
    return sender, raw


def _mh_count(pg, sql):
    return int(pg.psql(sql).split()[0])


def _mh_wait(pred, seconds, what):
    """Waits (bounded) until pred() is true; fails with what otherwise."""
    deadline = time.time() + seconds
    while time.time() < deadline:
        if pred():
            return
        time.sleep(0.25)
    raise Failure("not within %d s: %s" % (seconds, what))


def _mh_idle(pg, boards, n):
    """n messages ingested, none left in any spool, nothing queued."""
    def done():
        if any(b.files("incoming/new") for b in boards):
            return False
        return (_mh_count(pg, "SELECT count(*) FROM ingested") >= n and
                _mh_count(pg, "SELECT count(*) FROM outbox WHERE state = 'queued'") == 0)
    return done


def _mh_answers(boards):
    """Every file of the hosts' spool/outgoing: {recipient: count}, and file names seen on
    two hosts (a row written twice)."""
    per, where = _mh_collections.Counter(), _mh_collections.defaultdict(set)
    for b in boards:
        for path in b.outgoing():
            where[os.path.basename(path)].add(b.name)
            with open(path, "rb") as f:
                head = f.read(8192).decode("utf-8", "replace")
            to = [l for l in head.split("\n") if l.startswith("To: ")]
            if to:
                per[email.utils.parseaddr(to[0][4:].strip())[1].lower()] += 1
    return per, [n for n, hosts in where.items() if len(hosts) > 1]


def _mh_clean_logs(boards):
    """Fails on a sanitizer report in any log of the hosts' daemons, digests and senders."""
    for b in boards:
        for path in glob.glob(os.path.join(b.dir, "*.log")):
            with open(path, encoding="utf-8", errors="replace") as f:
                text = f.read()
            if "Sanitizer" in text or "runtime error:" in text:
                raise Failure("sanitizer report in %s:\n%s" % (path, text[-3000:]))


def _mh_cleanup(pg, boards):
    for b in boards:
        _mh_stop(b, signal.SIGKILL)
    pg.cleanup()


def test_multihost_pg_same_mail_through_two_hosts_is_one_project():
    """One post delivered to two hosts (each MX adds its own trace headers, so the bytes
    differ), both daemons running on one PostgreSQL: one project, one ingested row, one
    confirmation request written, the other copy logged as the same message through another
    host."""
    pg = Postgres()
    boards = []
    try:
        boards = _mh_boards(pg)
        for b in boards:
            _mh_start(b)
        sender, raw = _mh_post(1, "twice")
        mx1 = ("Received: from mail.client.fr by mx1.example.org with ESMTPS id A1;\n"
               " Tue, 4 Mar 2025 09:30:02 +0100\n")
        mx2 = ("Received: from relay.example.net by mx2.example.org with ESMTP id B2;\n"
               " Tue, 4 Mar 2025 09:31:40 +0100\n")
        expect(_mh_lmtp(boards[0].lmtp_port, [(sender, mx1 + raw)]) == 1, "mx1 refused")
        expect(_mh_lmtp(boards[1].lmtp_port, [(sender, mx2 + raw)]) == 1, "mx2 refused")
        _mh_wait(lambda: not boards[0].files("incoming/new") and not boards[1].files("incoming/new")
                 and _mh_count(pg, "SELECT count(*) FROM outbox WHERE state = 'queued'") == 0
                 and _mh_count(pg, "SELECT count(*) FROM outbox") >= 1, 60, "both copies handled")
        projects = _mh_count(pg, "SELECT count(*) FROM projects")
        ingested = _mh_count(pg, "SELECT count(*) FROM ingested")
        per, twice = _mh_answers(boards)
        logs = "".join(_mh_log(b) for b in boards)
        expect(projects == 1 and ingested == 1, "projects %d, ingested %d" % (projects, ingested))
        expect(per == {sender: 1} and not twice, "answers %r, on two hosts %r" % (per, twice))
        expect("same message through another host" in logs, "no duplicate logged")
        _mh_clean_logs(boards)
    finally:
        _mh_cleanup(pg, boards)


def test_multihost_pg_spread_with_one_host_killed():
    """3,000 posts (600 under ASan) spread over three daemons by LMTP, the second
    one SIGKILLed right after a burst of its share and restarted later: one ingested row and
    one project per message, and every confirmation request written exactly once over the
    three spools' outgoing/ (none to a poster twice, no file on two hosts)."""
    n = int(os.environ.get("BIDMAIL_MULTIHOST_MAILS", "600" if board.LABEL == "asan" else "3000"))
    pg = Postgres()
    boards = []
    try:
        boards = _mh_boards(pg)
        for b in boards:
            _mh_start(b)
        mails = [_mh_post(i, "spread") for i in range(n)]
        third = n // 3
        # first third round-robin over the three, then mx2 is killed mid-work
        for h in (0, 2):
            expect(_mh_lmtp(boards[h].lmtp_port, mails[h:third:3]) == len(mails[h:third:3]),
                   "%s refused mail" % boards[h].name)
        # mx2's share arrives while it works; SIGKILL once it has ingested a third of it
        share, got = mails[1:third:3], [0]
        feed = threading.Thread(target=lambda: got.__setitem__(0, _mh_lmtp(boards[1].lmtp_port, share)))
        feed.start()
        mx2 = "SELECT count(*) FROM ingested WHERE host = 'mx2.example.org'"
        _mh_wait(lambda: _mh_count(pg, mx2) >= len(share) // 3, 60, "mx2 at work")
        boards[1].proc.kill()
        boards[1].proc.wait(timeout=10)
        boards[1].proc = None
        feed.join(60)
        at_kill = _mh_count(pg, mx2)
        # the second third to the two others (mx2's MTA queues what it did not acknowledge)
        for h in (0, 2):
            part = mails[third + h // 2:2 * third:2]
            expect(_mh_lmtp(boards[h].lmtp_port, part) == len(part), "%s refused mail" % boards[h].name)
        _mh_start(boards[1])
        unacked = share[got[0]:]	# the one in flight may be in the spool already: sent again
        expect(_mh_lmtp(boards[1].lmtp_port, unacked) == len(unacked), "mx2 refused mail")
        for h in range(3):
            part = mails[2 * third + h::3]
            expect(_mh_lmtp(boards[h].lmtp_port, part) == len(part), "%s refused mail" % boards[h].name)
        _mh_wait(_mh_idle(pg, boards, n), 400, "all %d ingested and sent" % n)
        rows = _mh_count(pg, "SELECT count(*) FROM ingested")
        keys = _mh_count(pg, "SELECT count(DISTINCT message_id) FROM ingested")
        projects = _mh_count(pg, "SELECT count(*) FROM projects")
        hosts = pg.psql("SELECT host, count(*) FROM ingested GROUP BY host ORDER BY host")
        per, twice = _mh_answers(boards)
        print("     (%d mails over 3 hosts; mx2 SIGKILLed having ingested %d, acknowledged %d of"
              " its %d; %s)" % (n, at_kill, got[0], len(share), hosts.strip().replace("\n", ", ")))
        expect(rows == n and keys == n and projects == n,
               "ingested %d (%d Message-IDs), projects %d, of %d" % (rows, keys, projects, n))
        expect(len(per) == n, "posters answered: %d of %d" % (len(per), n))
        expect(max(per.values()) == 1, "answered twice: %r" % [a for a, c in per.items() if c > 1][:5])
        expect(not twice, "files on two hosts: %r" % twice[:5])
        expect(all(("mx%d.example.org|" % i) in hosts for i in (1, 2, 3)), "a host took none: %r" % hosts)
        _mh_clean_logs(boards)
    finally:
        _mh_cleanup(pg, boards)


def _mh_subscribers(pg, n):
    """One open project about translation and n weekly subscribers whose skills match it,
    made straight in the database."""
    pg.psql("INSERT INTO projects(title, description, poster, language, status, created, updated,"
            " published) VALUES('Traduction juridique', 'Traduction FR vers EN.', 'p@client.fr',"
            " 'fr', 'open', '2026-03-04T10:00:00Z', '2026-03-04T10:00:00Z', '2026-03-04T10:00:00Z')")
    pg.psql("INSERT INTO subscribers(address, name, status, language, frequency, day, created,"
            " confirmed, last_activity) SELECT 's' || g || '@dev.fr', 'S' || g, 'active', 'fr',"
            " 'weekly', 1, '2026-03-01T00:00:00Z', '2026-03-01T00:00:00Z', '2026-03-01T00:00:00Z'"
            " FROM generate_series(1, %d) g" % n)
    pg.psql("INSERT INTO patterns(subscriber, kind, source, created) SELECT id, 'skills',"
            " 'traduction', '2026-03-01T00:00:00Z' FROM subscribers")


def test_multihost_pg_weekly_run_shared_with_one_killed():
    """A weekly run of 20,000 subscribers started on three hosts at once (`digest`), one
    SIGKILLed two seconds in: the run is shared (each host claims shards of it), the killed
    host's shard stays leased until its lease ends (here made to end at once), then another
    host takes it over; in the end every subscriber has exactly one selection for the week
    (one claim, one queued mail), whoever read it."""
    n = 20000
    pg = Postgres()
    boards = []
    try:
        boards = _mh_boards(pg)
        _mh_subscribers(pg, n)
        env = dict(os.environ, BIDMAIL_NOW="2026-03-09T07:00:00Z")
        at = ["digest", "--at", "2026-03-09T08:00:00+01:00"]
        runs = []
        for b in boards:
            log = open(os.path.join(b.dir, "digest.log"), "wb")
            runs.append((_mh_subprocess.Popen([BIDMAIL, "--config", b.conf] + at, cwd=b.dir,
                                              env=env, stdout=_mh_subprocess.DEVNULL, stderr=log), log))
        time.sleep(2)
        killed = runs[1][0].poll() is None
        runs[1][0].kill()
        for p, log in runs:
            try:
                p.wait(timeout=400)
            finally:
                log.close()
        expect(killed, "mx2's run ended within 2 s: nothing to kill")
        held = pg.psql("SELECT shard FROM digest_shards WHERE owner LIKE 'mx2.example.org:%'").split()
        week = "SELECT count(*) FROM digests WHERE period = '2026-W11'"
        # while its lease runs, another host leaves the killed host's shard alone (it may have
        # committed every claim of that shard and been killed before marking it done: then the
        # shard is still held, and the waiting run must neither take it nor claim anything)
        after_kill = _mh_count(pg, week)
        p = boards[2].run(*at, env={"BIDMAIL_NOW": "2026-03-09T07:00:00Z"}, timeout=400)
        waiting = p.stderr.decode("utf-8", "replace")
        before = _mh_count(pg, week)
        # its lease ends (SHARD_LEASE is 5 minutes): made to end now, on the database's clock
        pg.psql("UPDATE digest_shards SET lease_until = '2000-01-01T00:00:00Z'"
                " WHERE owner LIKE 'mx2.example.org:%'")
        p = boards[0].run(*at, env={"BIDMAIL_NOW": "2026-03-09T07:00:00Z"}, timeout=400)
        takeover = p.stderr.decode("utf-8", "replace")
        claims = pg.psql("SELECT count(*), count(DISTINCT subscriber) FROM digests"
                         " WHERE period = '2026-W11'").split("|")
        mails = pg.psql("SELECT count(*), count(DISTINCT rcpt) FROM outbox WHERE kind = 'digest'").split("|")
        shards = {}
        for b in boards:
            with open(os.path.join(b.dir, "digest.log"), encoding="utf-8", errors="replace") as f:
                done = [l for l in f.read().splitlines() if "shards=" in l]
            shards[b.name] = done[-1].split("shards=")[1].split("/")[0] if done else "0"
        print("     (%d subscribers; shards done at once: %r; mx2 held %r when killed, %d"
              " selections waiting for its lease to end)" % (n, shards, held, n - before))
        expect([int(x) for x in claims] == [n, n], "claims of the week: %r" % claims)
        expect([int(x) for x in mails] == [n, n], "selections queued (rows, subscribers): %r" % mails)
        expect(int(shards["mx1"]) > 0 and int(shards["mx3"]) > 0, "not shared: %r" % shards)
        expect(held, "the killed host held no shard")
        expect("shards=%d/8" % (8 - len(held)) in waiting and before == after_kill,
               "while mx2's lease ran: %d claims (%d before), %r" % (
                   before, after_kill, [l for l in waiting.splitlines() if "shard" in l]))
        expect("shards=8/8" in takeover, "takeover run: %r" %
               [l for l in takeover.splitlines() if "shard" in l])
        left = _mh_count(pg, "SELECT count(*) FROM digest_shards WHERE owner IS NOT NULL")
        expect(left == 0, "%d shards still held" % left)
        _mh_clean_logs(boards)
    finally:
        _mh_cleanup(pg, boards)


def _mh_sent_ids(path):
    """The outbox ids a sender's log says the server accepted."""
    ids = set()
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            if "transport=smtp" in line and "result=sent" in line and " outbox=" in line:
                ids.add(int(line.split(" outbox=")[1].split()[0]))
    return ids


def test_multihost_pg_three_senders_one_killed():
    """3,000 queued mails, three hosts sending to one smtp-sink at once (`send --once`, two
    SMTP connections each), one SIGKILLed mid-pass and not back: when its leases end (made
    to end at once), another host's reaper re-queues its rows and sends them; every mail
    reaches the sink, the killed host restarted finds nothing left; the only ones that arrive
    twice, and the only rows two hosts' logs say they sent, are at most the killed sender's
    in flight (one per connection): no row was claimed by two live hosts. On a shared
    database a sender claims 50 rows per connection at a time, so the three share the queue."""
    n = 3000
    sink = Sink().start()
    pg = Postgres()
    boards = []
    try:
        boards = _mh_boards(pg, extra="smarthost = %s\nsmtp_connections = 2\nretry_base = 60s\n"
                                      % sink.url())
        pg.psql("INSERT INTO outbox(kind, rcpt, sender, subject, token, created) SELECT 'test',"
                " 'r' || g || '@dev.fr', 'bounce@example.org', 'm' || g, 'tok' || g,"
                " '2026-03-02T08:00:00Z' FROM generate_series(1, %d) g" % n)
        pg.psql("INSERT INTO outbox_message(id, message) SELECT id, convert_to('Subject: ' ||"
                " subject || E'\\r\\nMessage-ID: <' || token || '@example.org>\\r\\n\\r\\n' ||"
                " repeat('x', 2000) || E'\\r\\n', 'UTF8') FROM outbox")
        env = dict(os.environ, BIDMAIL_NOW="2026-03-02T08:00:00Z")
        procs, logs = [], []
        for b in boards:
            logs.append(os.path.join(b.dir, "send.log"))
            with open(logs[-1], "wb") as f:
                procs.append(_mh_subprocess.Popen([BIDMAIL, "--config", b.conf, "send", "--once"],
                                                  cwd=b.dir, env=env, stdout=_mh_subprocess.DEVNULL,
                                                  stderr=f))
        _mh_wait(lambda: len(sink.messages()) > n // 4 or procs[1].poll() is not None, 120,
                 "a quarter sent")
        killed = procs[1].poll() is None
        procs[1].kill()
        for p in procs:
            p.wait(timeout=300)
        expect(killed, "mx2 ended before it could be killed")
        mine = "FROM outbox WHERE lease_owner LIKE 'mx2.example.org:%'"
        held = _mh_count(pg, "SELECT count(*) " + mine)
        # mx2 does not come back: its leases end (made to end now, on the database's clock)
        # and mx1's reaper re-queues them; mx2 restarted later finds nothing of its own left
        pg.psql("UPDATE outbox SET lease_until = '2000-01-01T00:00:00Z'"
                " WHERE lease_owner LIKE 'mx2.example.org:%'")
        p = boards[0].run("send", "--once", env={"BIDMAIL_NOW": "2026-03-02T08:00:00Z"}, timeout=300)
        reaped = p.stderr.decode("utf-8", "replace")
        with open(logs[0], "ab") as f:
            f.write(p.stderr)
        p = boards[1].run("send", "--once", env={"BIDMAIL_NOW": "2026-03-02T08:00:00Z"}, timeout=300)
        with open(os.path.join(boards[1].dir, "send-again.log"), "wb") as f:
            f.write(p.stderr)
        _mh_wait(lambda: _mh_count(pg, "SELECT count(*) FROM outbox WHERE state = 'sent'") == n,
                 120, "every row sent")
        subjects = _mh_collections.Counter()
        for _env, raw in sink.messages():
            for line in raw.split(b"\n"):
                if line.startswith(b"Subject: m"):
                    subjects[line.strip()] += 1
                    break
        doubles = sum(c - 1 for c in subjects.values())
        mx1, mx3 = _mh_sent_ids(logs[0]), _mh_sent_ids(logs[2])
        mx2 = _mh_sent_ids(logs[1]) | _mh_sent_ids(os.path.join(boards[1].dir, "send-again.log"))
        shared = (mx1 & mx3) | (mx1 & mx2) | (mx2 & mx3)
        print("     (%d mails, 3 senders: %d/%d/%d; mx2 killed holding %d leases; %d sent twice)"
              % (n, len(mx1), len(mx2), len(mx3), held, doubles))
        expect(held == 0 or "result=reaped rows=%d" % held in reaped,
               "mx1 did not reap mx2's %d leases: %r" % (held, [l for l in reaped.splitlines()
                                                               if "reap" in l]))
        expect(len(subjects) == n, "distinct mails received: %d of %d" % (len(subjects), n))
        expect(doubles <= 2, "%d resends, more than the killed sender's 2 in flight" % doubles)
        expect(not (mx1 & mx3) and len(shared) <= 2, "rows sent by two hosts: %r" % sorted(shared)[:10])
        expect(mx1 and mx3, "a sender sent nothing: %d/%d" % (len(mx1), len(mx3)))
        _mh_clean_logs(boards)
    finally:
        _mh_cleanup(pg, boards)
        sink.cleanup()
