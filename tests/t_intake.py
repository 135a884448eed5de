"""t_intake.py — intake per host (issue #16): deliver and LMTP write only the spool, so a
database that cannot be opened never makes the MTA bounce or retry; the replay key makes one
message delivered through two MX hosts (each adding its own trace headers) one project;
host_id names the host in the ingest log and the outbox leases; `reconcile` re-offers the
files of incoming/cur whose commit the database lost. Loaded into suite.py's namespace."""
import os, shutil, socket, sqlite3, subprocess, time  # noqa: E401

INTAKE_POST = ("From: Jeanne Client <jeanne@client.fr>\nTo: post@example.org\n"
               "Subject: %s\nDate: Tue, 4 Mar 2025 09:30:00 +0100\n%s"
               "MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n"
               "DKIM-Signature: v=1; a=rsa-sha256; d=client.fr; s=s1; b=ORIGINAL\n\n%s")

MX1_TRACE = ("Return-Path: <jeanne@client.fr>\nDelivered-To: post@example.org\n"
             "Received: from mail.client.fr (mail.client.fr [192.0.2.7])\n\tby mx1.example.org"
             " (Postfix) with ESMTPS id 4F1A\n\tfor <post@example.org>; Tue, 4 Mar 2025 09:30:02 +0100\n"
             "Authentication-Results: mx1.example.org; dkim=pass header.d=client.fr\n")
MX2_TRACE = ("X-Original-To: post@example.org\nX-Envelope-From: <jeanne@client.fr>\n"
             "Received: from relay.example.net by mx2.example.org with ESMTP id 99;\n"
             " Tue, 4 Mar 2025 09:31:40 +0100\n"
             "Received: from mail.client.fr by relay.example.net; Tue, 4 Mar 2025 09:30:05 +0100\n"
             "ARC-Seal: i=1; a=rsa-sha256; d=example.net; b=SEAL\n"
             "X-Spam-Status: No, score=-0.1\n"
             "DKIM-Signature: v=1; a=rsa-sha256; d=example.net; s=relay; b=RELAYS-OWN\n")


def intake_post(subject, body, msgid):
    return INTAKE_POST % (subject, "Message-ID: %s\n" % msgid if msgid else "", body)


def intake_run(b):
    """run --once; its log (stderr)."""
    return b.run("run", "--once").stderr.decode("utf-8", "replace")


def intake_mails_to(b, addr):
    return [p for p in b.outgoing() if addr in str(read_mail(p)[1]["To"])]


def intake_lmtp(port, raw):
    """One LMTP transaction; the reply after the data."""
    s = socket.create_connection(("127.0.0.1", port), timeout=20)
    f = s.makefile("rb")

    def reply():
        lines = []
        for _ in range(50):
            line = f.readline().decode()
            lines.append(line)
            if len(line) < 4 or line[3] != "-":
                break
        return "".join(lines)
    reply()
    for cmd in ("LHLO mx1.example.org", "MAIL FROM:<jeanne@client.fr>", "RCPT TO:<post@example.org>",
                "DATA"):
        s.sendall(cmd.encode() + b"\r\n")
        reply()
    s.sendall(raw.replace("\n", "\r\n").encode() + b"\r\n.\r\n")
    r = reply()
    s.sendall(b"QUIT\r\n")
    s.close()
    return r


def test_intake_deliver_and_lmtp_without_database():
    """deliver and LMTP never open the database: with the database file replaced by an
    unreadable folder, and then with the database locked by another writer, deliver exits 0
    and LMTP answers 250; the mail waits in incoming/new and `run --once` ingests all of it
    once the database is back."""
    b = Board().init()
    db = os.path.join(b.dir, "var", "bidmail.db")
    os.rename(db, db + ".away")
    os.mkdir(db, 0)
    port = free_port()
    p = lmtp_server(b, port)
    try:
        rc = b.deliver(intake_post("Traduction 1", "Un traducteur pour notre site.\n", "<i1@client.fr>"))
        expect(rc == 0, "deliver exited %d with the database unreadable" % rc)
        r = intake_lmtp(port, intake_post("Traduction 2", "Un second texte.\n", "<i2@client.fr>"))
        expect(r.startswith("250"), "LMTP with the database unreadable: %r" % r)
        os.rmdir(db)
        os.rename(db + ".away", db)
        lock = sqlite3.connect(db, isolation_level=None, timeout=1)
        lock.execute("BEGIN EXCLUSIVE")
        try:
            t0 = time.time()
            rc = b.deliver(intake_post("Traduction 3", "Un troisième.\n", "<i3@client.fr>"))
            expect(rc == 0, "deliver exited %d with the database locked" % rc)
            r = intake_lmtp(port, intake_post("Traduction 4", "Un quatrième.\n", "<i4@client.fr>"))
            expect(r.startswith("250"), "LMTP with the database locked: %r" % r)
            expect(time.time() - t0 < 10, "intake waited for the lock (%.1fs)" % (time.time() - t0))
        finally:
            lock.execute("ROLLBACK")
            lock.close()
    finally:
        p.terminate()
        p.wait(timeout=20)
    expect(len(b.files("incoming/new")) == 4, "spool: %r" % b.files("incoming/new"))
    intake_run(b)
    titles = sorted(x["title"] for x in b.projects())
    expect(titles == ["Traduction %d" % i for i in (1, 2, 3, 4)], "projects: %r" % titles)
    expect(b.files("incoming/new") == [], "left in new: %r" % b.files("incoming/new"))


def intake_confirmed_board():
    """A board whose poster jeanne@client.fr is confirmed; the number of mails sent to her."""
    b = Board().init()
    publish(b, intake_post("Premier projet", "Un premier projet pour confirmer.\n", "<first@client.fr>"))
    return b, len(intake_mails_to(b, "jeanne@client.fr"))


def test_intake_same_post_through_two_hosts():
    """The same post delivered through two MX hosts (each its own Received: chain,
    Delivered-To/X-Original-To, Authentication-Results, ARC, X-Spam, a relay's own
    DKIM-Signature; one copy in CR LF) is one project and one acknowledgement, whether the
    copies come in one run or in two; the copies are logged as `duplicate (same message
    through another host)` and all go to incoming/cur."""
    b, before = intake_confirmed_board()
    raw = intake_post("Site vitrine", "Nous cherchons un développeur pour un site vitrine.\n",
                      "<twohosts@client.fr>")
    expect(b.deliver(MX1_TRACE + raw) == 0, "deliver 1")
    expect(b.deliver((MX2_TRACE + raw).replace("\n", "\r\n")) == 0, "deliver 2")
    log = intake_run(b)
    expect(b.deliver("Received: from mx3.example.org by mx3; Tue, 4 Mar 2025 10:00:00 +0100\n"
                     + raw + "\n\n") == 0, "deliver 3")
    log += intake_run(b)
    projects = [x for x in b.projects() if x["title"] == "Site vitrine"]
    expect(len(projects) == 1, "projects: %r" % projects)
    after = len(intake_mails_to(b, "jeanne@client.fr"))
    expect(after == before + 1, "mails to the poster: %d more (one acknowledgement wanted)" % (after - before))
    expect(log.count("result=duplicate (same message through another host)") == 2,
           "log: %s" % log[-2000:])
    expect(b.files("incoming/new") == [] and b.files("failed") == [], "spool: new %r failed %r"
           % (b.files("incoming/new"), b.files("failed")))
    expect(len(b.files("incoming/cur")) == 5, "cur: %r" % b.files("incoming/cur"))


def test_intake_same_message_id_different_bodies():
    """Two different posts under one Message-ID (a broken client reusing it) are two
    projects: the replay key has the bytes in it, not the Message-ID alone."""
    b, _ = intake_confirmed_board()
    b.deliver(MX1_TRACE + intake_post("Logo", "Un logo pour une boulangerie.\n", "<same@client.fr>"))
    b.deliver(MX2_TRACE + intake_post("Logo", "Un logo pour une librairie.\n", "<same@client.fr>"))
    intake_run(b)
    projects = [x for x in b.projects() if x["title"] == "Logo"]
    expect(len(projects) == 2, "projects: %r" % projects)


def test_intake_without_message_id():
    """Without a Message-ID the replay key is the recipient and the bytes without trace
    headers (Date and From among them): one post through two hosts is one project, two
    different posts are two; with no Date either there is no replay key, and each copy is a
    message of its own."""
    b, _ = intake_confirmed_board()
    same = intake_post("Sans identifiant", "Une traduction vers l'anglais.\n", None)
    b.deliver(MX1_TRACE + same)
    b.deliver(MX2_TRACE + same)
    b.deliver(MX1_TRACE + intake_post("Sans identifiant", "Une traduction vers l'allemand.\n", None))
    intake_run(b)
    projects = [x for x in b.projects() if x["title"] == "Sans identifiant"]
    expect(len(projects) == 2, "projects: %r" % projects)
    # with neither a Message-ID nor a Date, no replay key: the same text sent twice on
    # purpose (a script, say) is two messages, as it was before the replay key
    bare = ("From: Jeanne Client <jeanne@client.fr>\nTo: post@example.org\nSubject: Sans date\n"
            "Content-Type: text/plain; charset=utf-8\n\nUne relecture de contrat.\n")
    b.deliver(MX1_TRACE + bare)
    b.deliver(MX2_TRACE + bare)
    intake_run(b)
    projects = [x for x in b.projects() if x["title"] == "Sans date"]
    expect(len(projects) == 2, "without Message-ID nor Date: %r" % projects)


def test_intake_host_id():
    """host_id defaults to the machine's hostname (made of letters, digits, dots and
    hyphens), is refused with anything else, is recorded in the ingest log per message and
    is the prefix of the outbox lease owner; the daemon logs it at start."""
    b = Board()
    out = b.run("check-config").stdout.decode()
    want = "".join(ch if ch.isalnum() or ch in ".-" else "-" for ch in socket.gethostname())[:64]
    expect("host_id = %s\n" % want in out, "default host_id: %r" % [l for l in out.splitlines() if "host_id" in l])
    bad = Board("host_id = mx:1\n")
    p = bad.run("check-config", check=False)
    expect(p.returncode != 0 and "host_id" in p.stderr.decode(), "host_id mx:1 accepted: %r" % p.stderr)
    mute = socket.socket()	# a smarthost that takes the connection and never greets
    mute.bind(("127.0.0.1", 0))
    mute.listen(8)
    b = Board("host_id = mx-1.example.org\nsmarthost = smtp://127.0.0.1:%d\nsmtp_timeout = 5\n"
              % mute.getsockname()[1]).init()
    b.deliver(intake_post("Hôte", "Un projet pris par mx-1.\n", "<host@client.fr>"))
    b.run("run", "--once", check=False)
    db = sqlite3.connect(os.path.join(b.dir, "var", "bidmail.db"))
    hosts = db.execute("SELECT host, replay_key IS NOT NULL FROM ingested").fetchall()
    expect(hosts == [("mx-1.example.org", 1)], "ingested: %r" % hosts)
    db.execute("UPDATE outbox SET next_attempt = NULL")	# due again after run's attempt
    db.commit()
    send = subprocess.Popen([BIDMAIL, "--config", b.conf, "send", "--once"], cwd=b.dir,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    owners = []
    try:
        for _ in range(100):	# while the send waits for the greeting, its lease is there
            owners = [o for (o,) in db.execute("SELECT lease_owner FROM outbox") if o]
            if owners or send.poll() is not None:
                break
            time.sleep(0.05)
    finally:
        send.kill()
        send.wait(timeout=20)
        mute.close()
        db.close()
    expect(owners and all(o.startswith("mx-1.example.org:%d:" % send.pid) for o in owners),
           "lease owners: %r" % owners)
    d = subprocess.Popen([BIDMAIL, "--config", b.conf, "run"], cwd=b.dir, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE)
    try:
        line = ""
        for _ in range(200):
            line = d.stderr.readline().decode()
            if "stage=daemon" in line or not line:
                break
    finally:
        d.terminate()
        d.wait(timeout=30)
    expect("result=started host_id=mx-1.example.org" in line, "daemon start: %r" % line)


def test_intake_reconcile():
    """A lost commit (two posts whose ingested rows and projects are gone, their files in
    incoming/cur): `reconcile` re-offers exactly those two (`--since` a later date: none; a
    copy known by its replay key alone stays), `run --once` brings them back, the others are
    not doubled, and a second `reconcile` finds nothing."""
    b = Board().init()
    for i in range(5):
        b.deliver(intake_post("Projet %d" % i, "Description du projet %d.\n" % i, "<rec%d@client.fr>" % i))
    twice = intake_post("Projet 5", "Reçu par deux hôtes.\n", "<rec5@client.fr>").replace(
        "Jeanne Client <jeanne@client.fr>", "Paul Client <paul@client.fr>")
    b.deliver(MX1_TRACE + twice)
    b.deliver(MX2_TRACE + twice)	# in cur/, known by its replay key alone
    intake_run(b)
    expect(len(b.projects()) == 6 and len(b.files("incoming/cur")) == 7, "first run: %d projects, cur %r" % (len(b.projects()), b.files("incoming/cur")))
    db = sqlite3.connect(os.path.join(b.dir, "var", "bidmail.db"))
    lost = ("%rec1@client.fr%", "%rec3@client.fr%")
    for pat in lost:
        db.execute("DELETE FROM ingested WHERE message_id LIKE ?", (pat,))
        db.execute("DELETE FROM projects WHERE message_id LIKE ?", (pat,))
    db.commit()
    db.close()
    out = b.run("reconcile", "--since", "2999-01-01").stdout.decode()
    expect(out.strip() == "0 messages re-offered", "--since the future: %r" % out)
    out = b.run("reconcile").stdout.decode()
    expect(out.strip() == "2 messages re-offered", "reconcile: %r" % out)
    expect(len(b.files("incoming/new")) == 2 and len(b.files("incoming/cur")) == 5,
           "spool: new %r" % b.files("incoming/new"))
    intake_run(b)
    titles = sorted(x["title"] for x in b.projects())
    expect(titles == ["Projet %d" % i for i in range(6)], "projects: %r" % titles)
    out = b.run("reconcile").stdout.decode()
    expect(out.strip() == "0 messages re-offered", "second reconcile: %r" % out)
    p = b.run("reconcile", "--since", "yesterday", check=False)
    expect(p.returncode == 2, "--since yesterday: exit %d" % p.returncode)


def test_intake_daemon_listens_while_postgresql_is_away():
    """The daemon on a PostgreSQL URL whose server does not answer (127.0.0.1, a free port)
    still starts its LMTP listener: a mail is taken (250) and waits in the spool while the
    daemon tries the database again with back-off (logged as waiting), and SIGTERM stops it at
    once; nothing is bounced, nothing lost."""
    import smtplib
    dbport, lport = free_port(), free_port()
    # a board made once (its key, its spool), whose database server is then away at a restart
    b = Board("domain = example.org\nlmtp_listen = 127.0.0.1:%d\n" % lport).init()
    with open(b.conf) as f:
        conf = f.read()
    with open(b.conf, "w") as f:
        f.write("database = postgresql://bidmail@127.0.0.1:%d/bidmail?connect_timeout=1\n%s"
                % (dbport, conf))
    p = subprocess.Popen([board.BIDMAIL, "--config", b.conf, "run"], cwd=b.dir,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        expect(wait_port(lport), "no LMTP listener while the database is away")
        l = smtplib.LMTP("127.0.0.1", lport, timeout=30)
        try:
            refused = l.sendmail("jeanne@client.fr", ["post@example.org"],
                                 intake_post("Traduction juridique", "Bonjour,\nun contrat.\n",
                                             "<away-1@client.fr>").encode())
        finally:
            l.quit()
        expect(refused == {}, "LMTP refused: %r" % refused)
        new = os.path.join(b.spool, "incoming", "new")
        expect(len(os.listdir(new)) == 1, "spooled: %r" % os.listdir(new))
        time.sleep(1.5)
        expect(p.poll() is None, "the daemon exited while the database was away")
    finally:
        p.terminate()
        try:
            err = p.communicate(timeout=15)[1].decode("utf-8", "replace")
        except subprocess.TimeoutExpired:
            p.kill()
            raise Failure("the daemon did not stop on SIGTERM while waiting for the database")
    expect("result=waiting" in err and "mail waits in the spool" in err,
           "no waiting line in the log: %r" % err[-800:])
    expect("Sanitizer" not in err and "runtime error:" not in err, "sanitizer: %s" % err[-2000:])
    b.cleanup()
