"""e2e/70_fetch.py — fetching from a private Dovecot over IMAP(S) and POP3, certificate checks, cuts and restarts.
Run by suite.py in file order; each test's boards are removed after it (board.cleanup_boards).
"""
import base64, email, email.policy, email.utils, glob, json, os, random, shutil, signal, sqlite3, subprocess  # noqa: F401
import socket, sys, tempfile, time  # noqa: F401

from board import *  # noqa: F401,F403
from board import BOARDS, HERE, ROOT, CORPUS  # noqa: F401
from postfix import Postfix  # noqa: F401
from dovecot import Dovecot  # noqa: F401
import board


def fetch_board(dv, url, extra=""):
    """A board whose fetch_url is the private Dovecot's mailbox, its CA trusted."""
    if os.geteuid() != 0:
        raise Failure("the Dovecot tests need root (the mail user is nobody)")
    return Board("fetch_url = %s\nfetch_password = %s\nfetch_ca_file = %s\n%s"
                 % (url, dv.password, dv.ca, extra)).init()


def spooled_bodies(b):
    """The message bytes of every file in incoming/new (the envelope line removed)."""
    out = []
    for n in b.files("incoming/new"):
        with open(os.path.join(b.spool, "incoming", "new", n), "rb") as f:
            data = f.read()
        expect(data.startswith(b"X-Bidmail-Envelope: "), "no envelope line in %s" % n)
        # IMAP and POP3 serve CRLF lines: compared as LF
        out.append(data.split(b"\n", 1)[1].replace(b"\r\n", b"\n"))
    return out


def test_fetch_imap_each_message_once_then_seen():
    """`bidmail fetch` over IMAPS (the chain and the name verified against fetch_ca_file):
    every unseen message is stored in the spool once, with its UIDVALIDITY:UID origin, then
    marked \Seen; a second fetch stores nothing; a later arrival is fetched; the posts become
    projects."""
    dv = Dovecot().start()
    try:
        for i in range(3):
            dv.put(post_mail(subject="Projet par IMAP %d" % i, msgid="<imap%d@client.fr>" % i))
        b = fetch_board(dv, dv.url("imaps"))
        p = b.run("fetch")
        spooled = spooled_bodies(b)
        expect(len(spooled) == 3, "spooled %d" % len(spooled))
        new, cur = dv.messages()
        expect(not new and len(cur) == 3 and all(":2," in n and "S" in n.split(":2,")[1] for n in cur),
               "not all marked seen: %r %r" % (new, cur))
        envs = [open(os.path.join(b.spool, "incoming", "new", n)).readline() for n in b.files("incoming/new")]
        expect(all("origin=<imap://board@127.0.0.1/INBOX/" in e for e in envs), "origin: %r" % envs)
        expect(dv.password not in p.stderr.decode(), "password in the log")
        b.run("fetch")
        expect(len(b.files("incoming/new")) == 3, "second fetch stored again")
        dv.put(post_mail(subject="Projet tardif", msgid="<imap-late@client.fr>"))
        b.run("fetch")
        expect(len(b.files("incoming/new")) == 4, "late arrival not fetched")
        b.run("run", "--once")
        titles = sorted(pr["title"] for pr in b.projects())
        expect(len(titles) == 4 and "Projet tardif" in titles, "projects: %r" % titles)
    finally:
        dv.cleanup()


def test_fetch_pop3_starttls_and_delete():
    """`bidmail fetch` over POP3 with STLS and fetch_after = delete: each message is stored
    (UIDL origin), then deleted on the server; a second fetch finds nothing."""
    dv = Dovecot().start()
    try:
        for i in range(2):
            dv.put(post_mail(subject="Projet par POP3 %d" % i))
        b = fetch_board(dv, dv.url("pop3"), "fetch_after = delete\n")
        b.run("fetch")
        expect(len(spooled_bodies(b)) == 2, "spooled %d" % len(b.files("incoming/new")))
        expect(dv.messages() == ([], []), "left on the server: %r" % (dv.messages(),))
        envs = [open(os.path.join(b.spool, "incoming", "new", n)).readline() for n in b.files("incoming/new")]
        expect(all("origin=<pop3://board@127.0.0.1/" in e for e in envs), "origin: %r" % envs)
        b.run("fetch")
        expect(len(b.files("incoming/new")) == 2, "fetched again")
        expect("STLS" in open(dv.log).read() or "TLS" in dv.logtext(), "no TLS in the Dovecot log")
    finally:
        dv.cleanup()


def test_fetch_refuses_untrusted_certificate():
    """Without the test CA (the system's CAs do not know it), the server's certificate is
    refused before the password is sent: exit 75 (try again later), a clear reason in the
    log, nothing stored and nothing marked seen on the server."""
    dv = Dovecot().start()
    try:
        dv.put(post_mail(subject="Ne doit pas partir"))
        b = Board("fetch_url = %s\nfetch_password = %s\n" % (dv.url("imaps"), dv.password)).init()
        p = b.run("fetch", check=False)
        err = p.stderr.decode()
        expect(p.returncode == 75, "exit %d: %s" % (p.returncode, err[-500:]))
        expect("certificate" in err and "refused" in err, "unclear: %r" % err[-500:])
        expect(b.files("incoming/new") == [], "stored anyway")
        expect(len(dv.messages()[0]) == 1, "message touched: %r" % (dv.messages(),))
        expect("Login: user=<board>" not in dv.logtext(), "the password was sent")
    finally:
        dv.cleanup()


class CuttingProxy:
    """A TCP relay to 127.0.0.1:upstream that closes both sides after `limit` bytes from the
    server (a connection cut mid-fetch). One connection at a time, bounded in time."""

    def __init__(self, upstream, limit):
        import threading
        self.upstream, self.limit = upstream, limit
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.sock.settimeout(30)
        self.port = self.sock.getsockname()[1]
        self.cut = False
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        import select
        try:
            client, _ = self.sock.accept()
        except OSError:
            return
        server = socket.create_connection(("127.0.0.1", self.upstream), timeout=10)
        sent, deadline = 0, time.time() + 60
        try:
            while time.time() < deadline:
                r, _, _ = select.select([client, server], [], [], 1)
                for s in r:
                    data = s.recv(16384)
                    if not data:
                        return
                    if s is server:
                        if sent + len(data) >= self.limit:
                            client.sendall(data[:self.limit - sent])
                            self.cut = True
                            return
                        sent += len(data)
                        client.sendall(data)
                    else:
                        server.sendall(data)
        finally:
            client.close()
            server.close()

    def close(self):
        self.sock.close()
        self.thread.join(timeout=70)


def test_fetch_cut_mid_fetch_and_server_restart():
    """The connection is cut in the middle of a message: `fetch` exits 75, nothing
    half-written is in the spool (every stored file is a whole message), nothing is lost on
    the server. Dovecot is restarted; the next fetch stores the rest; `run` makes exactly one
    project per message."""
    dv = Dovecot().start()
    try:
        sent = []
        for i in range(5):
            raw = post_mail(subject="Gros projet %d" % i, msgid="<big%d@client.fr>" % i,
                            body="Cahier des charges.\n" + ("ligne %d du cahier des charges\n" % i) * 4000)
            sent.append(raw.encode())
            dv.put(raw)
        # about two and a half messages get through, then the cut
        proxy = CuttingProxy(dv.ports["imaps"], 330000)
        b = fetch_board(dv, "imaps://board@127.0.0.1:%d/INBOX" % proxy.port, "fetch_timeout = 20\n")
        p = b.run("fetch", check=False, timeout=90)
        proxy.close()
        expect(proxy.cut, "the proxy never cut the connection")
        expect(p.returncode == 75, "exit %d after the cut: %s" % (p.returncode, p.stderr.decode()[-500:]))
        first = spooled_bodies(b)
        expect(0 < len(first) < 5, "stored before the cut: %d" % len(first))
        expect(all(x in sent for x in first), "a stored message is not a whole message")
        expect(b.files("incoming/tmp") == [], "leftovers in tmp: %r" % b.files("incoming/tmp"))
        new, cur = dv.messages()
        expect(len(new) + len(cur) == 5, "messages lost on the server: %r" % ((new, cur),))
        # from now on straight to the server
        with open(b.conf) as f:
            conf = f.read()
        with open(b.conf, "w") as f:
            f.write(conf.replace(":%d/" % proxy.port, ":%d/" % dv.ports["imaps"]))
        dv.stop()
        p = b.run("fetch", check=False)
        expect(p.returncode == 75, "server down: exit %d" % p.returncode)
        dv.start()
        b.run("fetch")
        every = spooled_bodies(b)
        expect(sorted(set(every)) == sorted(set(sent)), "not every message stored")
        b.run("run", "--once")
        titles = sorted(pr["title"] for pr in b.projects())
        expect(titles == ["Gros projet %d" % i for i in range(5)], "projects: %r" % titles)
    finally:
        dv.cleanup()


def test_daemon_fetches_in_idle_and_survives_server_restart():
    """With fetch_url set, the daemon fetches by itself (IMAP IDLE: an arrival is fetched
    without waiting for the poll), logs and retries while the server is down, and fetches
    again once it is back; SIGTERM stops it."""
    dv = Dovecot().start()
    b = fetch_board(dv, dv.url("imap"), "fetch_interval = 300s\npoll_interval = 1\n")
    log = open(os.path.join(b.dir, "daemon.log"), "w+")
    d = subprocess.Popen([board.BIDMAIL, "--config", b.conf, "run"], stderr=log, cwd=b.dir)

    def wait_projects(n, seconds):
        deadline = time.time() + seconds
        while time.time() < deadline:
            if len(b.projects()) >= n:
                return True
            time.sleep(0.2)
        return False
    try:
        expect(wait_port(dv.ports["imap"]), "dovecot not listening")
        time.sleep(1)
        dv.put(post_mail(subject="Arrivée pendant IDLE"))
        # fetch_interval is 300 s: only IDLE can bring it in time
        expect(wait_projects(1, 20), "the arrival was not fetched within 20 s")
        dv.stop()
        dv.put(post_mail(subject="Arrivée pendant la panne"))
        time.sleep(2)
        dv.start()
        if not wait_projects(2, 60):
            log.seek(0)
            raise Failure("not fetched after the server came back:\n%s\n%s"
                          % (log.read()[-2500:], dv.logtext()[-1500:]))
    finally:
        d.send_signal(signal.SIGTERM)
        try:
            rc = d.wait(timeout=20)
        except subprocess.TimeoutExpired:
            d.kill()
            d.wait()
            raise Failure("daemon ignored SIGTERM for 20 s")
        dv.cleanup()
    log.seek(0)
    err = log.read()
    expect("Sanitizer" not in err and "runtime error:" not in err, err[-2000:])
    expect(rc == 0, "exit %d after SIGTERM" % rc)
    expect("stage=fetch" in err and "retry_in=" in err, "no retry logged: %s" % err[-1500:])
    expect(dv.password not in err, "password in the log")


def test_fetch_without_the_database():
    """Fetching never touches the database (issue 16): with the database gone, `bidmail fetch`
    still stores every message in the spool (exit 0) and its ledger is a file of the spool
    (spool/fetch/ledger); a second pass stores nothing; no database file is made. With the
    database back, the spooled mail becomes projects, and the rows of the old ledger are
    imported then (once: an "#imported" line)."""
    dv = Dovecot().start()
    try:
        for i in range(3):
            dv.put(post_mail(subject="Projet sans base %d" % i, msgid="<nodb%d@client.fr>" % i))
        b = fetch_board(dv, dv.url("imaps"))
        db = os.path.join(b.dir, "var", "bidmail.db")
        expect(os.path.exists(db), "no database after init at %s" % db)
        os.rename(db, db + ".away")
        p = b.run("fetch")
        expect(len(spooled_bodies(b)) == 3, "spooled %d" % len(b.files("incoming/new")))
        expect(not os.path.exists(db), "fetch made a database")
        ledger = os.path.join(b.spool, "fetch", "ledger")
        with open(ledger) as f:
            lines = [l for l in f.read().splitlines() if not l.startswith("#")]
        expect(len(lines) == 3 and all(l.count("\t") == 2 for l in lines), "ledger: %r" % lines)
        expect("imported at the next start" in p.stderr.decode(), "no word of the import put off")
        b.run("fetch")
        expect(len(b.files("incoming/new")) == 3, "second fetch stored again")
        os.rename(db + ".away", db)
        b.run("fetch")
        with open(ledger) as f:
            expect(f.read().count("#imported\n") == 1, "not imported once")
        b.run("run", "--once")
        expect(len(b.projects()) == 3, "projects: %r" % b.projects())
    finally:
        dv.cleanup()


def test_fetch_two_hosts_one_mailbox_one_project_each():
    """Two fetchers (two hosts: own config, spool and ledger) on one Dovecot mailbox and one
    database. Over POP3 with fetch_after = seen both download every message (nothing on the
    server says it was taken), at the same time; over IMAP both race for the unseen ones.
    Each host ingests its own spool: one project per message, whichever host stored it,
    the second copy a no-op of the replay key."""
    dv = Dovecot().start()
    try:
        n = 12
        for i in range(n):
            dv.put(post_mail(subject="Projet partagé %d" % i, msgid="<shared%d@client.fr>" % i,
                             sender="Client %d <client%d@client.fr>" % (i, i)))
        a = fetch_board(dv, dv.url("pop3s"))
        db = os.path.join(a.dir, "var", "bidmail.db")
        b = Board("fetch_url = %s\nfetch_password = %s\nfetch_ca_file = %s\n"
                  % (dv.url("pop3s"), dv.password, dv.ca), database=db).init()
        procs = [subprocess.Popen([board.BIDMAIL, "--config", h.conf, "fetch"], cwd=h.dir,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
                 for h in (a, b)]
        for p in procs:
            _, err = p.communicate(timeout=120)
            expect(p.returncode == 0, "fetch exited %d: %s" % (p.returncode, err.decode()[-800:]))
        expect(len(a.files("incoming/new")) == n and len(b.files("incoming/new")) == n,
               "spooled %d and %d" % (len(a.files("incoming/new")), len(b.files("incoming/new"))))
        for h in (a, b):
            h.run("run", "--once")
        titles = sorted(pr["title"] for pr in a.projects())
        expect(len(titles) == n and len(set(titles)) == n, "projects: %r" % titles)
        expect(len(a.files("incoming/new")) == 0 and len(b.files("incoming/new")) == 0,
               "left unread")
        # IMAP: new arrivals, both hosts at once; whatever each took, one project per message
        for i in range(n):
            dv.put(post_mail(subject="Projet IMAP partagé %d" % i, msgid="<ishared%d@client.fr>" % i,
                             sender="Cliente %d <cliente%d@client.fr>" % (i, i)))
        for h in (a, b):
            with open(h.conf) as f:
                text = f.read()
            with open(h.conf, "w") as f:
                f.write(text.replace(dv.url("pop3s"), dv.url("imaps")))
        procs = [subprocess.Popen([board.BIDMAIL, "--config", h.conf, "fetch"], cwd=h.dir,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
                 for h in (a, b)]
        for p in procs:
            _, err = p.communicate(timeout=120)
            expect(p.returncode == 0, "fetch exited %d: %s" % (p.returncode, err.decode()[-800:]))
        got = len(a.files("incoming/new")) + len(b.files("incoming/new"))
        expect(got >= n, "spooled %d of %d" % (got, n))
        for h in (a, b):
            h.run("run", "--once")
        titles = [pr["title"] for pr in a.projects()]
        expect(len(titles) == 2 * n and len(set(titles)) == 2 * n,
               "projects: %d (%d distinct), %d copies spooled" % (len(titles), len(set(titles)), got))
    finally:
        dv.cleanup()
