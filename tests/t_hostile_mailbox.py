"""t_hostile_mailbox.py — hostile mailbox servers against `bidmail fetch` and the daemon's
fetcher (issue 11, items 3 and 18): small IMAP and POP3 servers in Python on 127.0.0.1, one
per test, started and stopped by it (every connection closed, every thread joined, every
loop bounded in time). Each attack is measured from outside: the exit code and its delay,
the peak memory of the process (VmHWM, read from /proc while it runs; killed past a cap),
what reached the spool. Exec'd in suite.py's namespace (Board, expect, free_port...)."""
import re
import ssl as _ssl
import threading as _threading

from dovecot import make_ca

MAILBOX_RSS_CAP_KB = 600 * 1024      # the watcher kills a fetch past this: the attack won
MAILBOX_PEAK_KB = 200 * 1024         # what a bounded fetch stays under (ASan build included)


class MailboxConn:
    """One client connection of a HostileServer: line reads bounded in length and time,
    writes that give up once the server is stopping."""

    def __init__(self, server, sock):
        self.server, self.sock, self.buf = server, sock, b""
        sock.settimeout(0.5)

    def alive(self):
        return self.server.running and time.time() < self.server.until

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        view = memoryview(data)
        while view:
            if not self.alive():
                raise OSError("server stopping")
            try:
                n = self.sock.send(view)
            except (socket.timeout, _ssl.SSLWantWriteError):
                continue
            view = view[n:]

    def line(self):
        """The next line from the client (without CRLF), or raises OSError."""
        while b"\n" not in self.buf:
            if not self.alive() or len(self.buf) > 65536:
                raise OSError("server stopping")
            try:
                data = self.sock.recv(4096)
            except (socket.timeout, _ssl.SSLWantReadError):
                continue
            if not data:
                raise OSError("client closed")
            self.buf += data
        l, self.buf = self.buf.split(b"\n", 1)
        l = l.rstrip(b"\r").decode("latin-1")
        self.server.commands.append(l)
        return l

    def starttls(self, cert):
        """Switches this connection to TLS (the server side of STARTTLS) with cert, key."""
        ctx = _ssl.SSLContext(_ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert[0], cert[1])
        self.sock.settimeout(10)
        self.sock = ctx.wrap_socket(self.sock, server_side=True)
        self.server.conns.append(self.sock)
        self.sock.settimeout(0.5)

    def flood(self, chunk, seconds=20):
        """Sends chunk again and again until the client goes, the server stops or seconds."""
        end = time.time() + seconds
        while time.time() < end:
            self.send(chunk)

    def trickle(self, data, every=0.5):
        """Sends data one byte at a time, a byte every `every` seconds."""
        for i in range(len(data)):
            self.send(data[i:i + 1])
            self.server.trickled += 1
            end = time.time() + every
            while time.time() < end and self.alive():
                time.sleep(0.05)


class HostileServer:
    """A mailbox server on 127.0.0.1:free_port() playing script(conn) for each connection
    (TLS from the start when cert is given), for at most `seconds` in all."""

    def __init__(self, script, cert=None, seconds=60):
        self.script, self.port = script, free_port()
        self.running, self.until = True, time.time() + seconds
        self.commands, self.conns, self.threads, self.accepted, self.trickled = [], [], [], 0, 0
        self.ctx = None
        if cert:
            self.ctx = _ssl.SSLContext(_ssl.PROTOCOL_TLS_SERVER)
            self.ctx.load_cert_chain(cert[0], cert[1])
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", self.port))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.thread = _threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while self.running and time.time() < self.until:
            try:
                c, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self.accepted += 1
            self.conns.append(c)
            t = _threading.Thread(target=self.play, args=(c,), daemon=True)
            self.threads.append(t)
            t.start()

    def play(self, c):
        try:
            if self.ctx:
                c.settimeout(10)
                c = self.ctx.wrap_socket(c, server_side=True)
                self.conns.append(c)
            self.script(MailboxConn(self, c))
        except (OSError, _ssl.SSLError, ValueError):
            pass
        finally:
            try:
                c.close()
            except OSError:
                pass

    def stop(self):
        self.running = False
        for c in self.conns:
            try:
                c.close()
            except OSError:
                pass
        self.sock.close()
        self.thread.join(timeout=5)
        for t in self.threads:
            t.join(timeout=5)


def mailbox_watch(b, args, seconds=30):
    """Runs `bidmail ARGS` and watches it: (exit code or None when killed, stderr, peak
    VmHWM in kB, seconds taken). Killed past MAILBOX_RSS_CAP_KB or `seconds`."""
    err = tempfile.TemporaryFile()
    start, peak = time.time(), 0
    p = subprocess.Popen([BIDMAIL, "--config", b.conf] + list(args), stdout=subprocess.DEVNULL,
                         stderr=err, cwd=b.dir)
    killed = False
    while p.poll() is None:
        try:
            with open("/proc/%d/status" % p.pid) as f:
                for l in f:
                    if l.startswith("VmHWM:"):
                        peak = max(peak, int(l.split()[1]))
        except (OSError, ValueError):
            pass
        if peak > MAILBOX_RSS_CAP_KB or time.time() - start > seconds:
            p.kill()
            killed = True
        time.sleep(0.02)
    p.wait()
    took = time.time() - start
    err.seek(0)
    text = err.read().decode("utf-8", "replace")
    expect("Sanitizer" not in text and "runtime error:" not in text,
           "sanitizer report:\n%s" % text[-3000:])
    return (None if killed else p.returncode), text, peak, took


def mailbox_board(url, extra=""):
    return Board("fetch_url = %s\nfetch_password = pw\nmax_message_size = 1M\n%s" % (url, extra)).init()


def expect_bounded(rc, err, peak, took, what, limit_s=20):
    expect(rc is not None, "%s: killed (peak %d kB after %.1fs): unbounded" % (what, peak, took))
    expect(rc == 75, "%s: exit %r, not 75 (try again later): %s" % (what, rc, err[-800:]))
    expect(peak < MAILBOX_PEAK_KB, "%s: peak memory %d kB" % (what, peak))
    expect(took < limit_s, "%s: took %.1fs" % (what, took))


# ---------------------------------------------------------------- a small IMAP server

def imap_mail(subject, msgid):
    return post_mail(subject=subject, msgid=msgid).replace("\n", "\r\n").encode()


class FakeImap:
    """A minimal IMAP4rev1 server over one mailbox (UIDVALIDITY 7): enough for libetpan and
    `bidmail fetch` (CAPABILITY, LOGIN, SELECT, UID SEARCH, UID FETCH, UID STORE, EXPUNGE,
    LOGOUT). self.box maps UID -> [raw, seen]; on_fetch(conn, tag, line) may play a hostile
    answer instead (return True when it did)."""

    def __init__(self, on_fetch=None):
        self.box, self.on_fetch = {}, on_fetch

    def __call__(self, c):
        c.send("* OK fake IMAP ready\r\n")
        while True:
            l = c.line()
            tag, _, rest = l.partition(" ")
            cmd = rest.upper()
            if cmd.startswith("CAPABILITY"):
                c.send("* CAPABILITY IMAP4rev1\r\n%s OK done\r\n" % tag)
            elif cmd.startswith("LOGIN"):
                c.send("%s OK logged in\r\n" % tag)
            elif cmd.startswith("SELECT"):
                c.send("* %d EXISTS\r\n* 0 RECENT\r\n* OK [UIDVALIDITY 7] v\r\n"
                       "* OK [UIDNEXT %d] n\r\n%s OK [READ-WRITE] selected\r\n"
                       % (len(self.box), max(self.box or [0]) + 1, tag))
            elif cmd.startswith("UID SEARCH"):
                uids = [u for u, (raw, seen) in sorted(self.box.items()) if not seen]
                c.send("* SEARCH%s\r\n%s OK done\r\n" % ("".join(" %d" % u for u in uids), tag))
            elif cmd.startswith("UID FETCH"):
                if self.on_fetch and self.on_fetch(c, tag, l):
                    continue
                uid = int(cmd.split()[2])
                seq = sorted(self.box).index(uid) + 1 if uid in self.box else 0
                raw = self.box[uid][0] if uid in self.box else b""
                if not seq:
                    c.send("%s OK nothing\r\n" % tag)
                elif "HEADER.FIELDS" in cmd:
                    head = raw.split(b"\r\n\r\n", 1)[0] + b"\r\n"
                    field = b"".join(x + b"\r\n" for x in head.split(b"\r\n")
                                     if x.lower().startswith(b"message-id:")) + b"\r\n"
                    c.send(b"* %d FETCH (UID %d RFC822.SIZE %d BODY[HEADER.FIELDS (MESSAGE-ID)] "
                           b"{%d}\r\n%s)\r\n%s OK done\r\n"
                           % (seq, uid, len(raw), len(field), field, tag.encode()))
                else:
                    part = re.search(r"BODY\.PEEK\[\]<0\.(\d+)>", cmd)
                    if part:
                        raw = raw[:int(part.group(1))]
                    c.send(b"* %d FETCH (UID %d BODY[]%s {%d}\r\n%s)\r\n%s OK done\r\n"
                           % (seq, uid, b"<0>" if part else b"", len(raw), raw, tag.encode()))
            elif cmd.startswith("UID STORE"):
                uid = int(cmd.split()[2])
                if uid in self.box:
                    self.box[uid][1] = True
                c.send("%s OK stored\r\n" % tag)
            elif cmd.startswith("EXPUNGE") or cmd.startswith("NOOP"):
                c.send("%s OK done\r\n" % tag)
            elif cmd.startswith("LOGOUT"):
                c.send("* BYE bye\r\n%s OK done\r\n" % tag)
                return
            else:
                c.send("%s BAD unknown\r\n" % tag)


class FakePop:
    """A minimal POP3 server: self.msgs is a list of (number, uidl, raw); list_text, when
    set, is sent as the LIST answer as it is; retr(conn, n) may play a hostile RETR."""

    def __init__(self, msgs=(), list_text=None, uidl_text=None, retr=None):
        self.msgs, self.list_text, self.uidl_text, self.retr = list(msgs), list_text, uidl_text, retr
        self.deleted = set()

    def __call__(self, c):
        c.send("+OK fake POP3 ready\r\n")
        while True:
            l = c.line()
            cmd = l.split()
            verb = cmd[0].upper() if cmd else ""
            byn = {n: (u, raw) for n, u, raw in self.msgs}
            if verb in ("USER", "PASS", "NOOP", "RSET"):
                c.send("+OK\r\n")
            elif verb == "LIST":
                c.send("+OK\r\n" + (self.list_text if self.list_text is not None else
                       "".join("%d %d\r\n" % (n, len(raw)) for n, u, raw in self.msgs)) + ".\r\n")
            elif verb == "UIDL":
                c.send("+OK\r\n" + (self.uidl_text if self.uidl_text is not None else
                       "".join("%d %s\r\n" % (n, u) for n, u, raw in self.msgs)) + ".\r\n")
            elif verb in ("TOP", "RETR"):
                n = int(cmd[1])
                if verb == "RETR" and self.retr:
                    self.retr(c, n)
                    continue
                if n not in byn:
                    c.send("-ERR no such message\r\n")
                    continue
                raw = byn[n][1]
                if verb == "TOP":
                    raw = raw.split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n"
                body = b"".join((b"." + x if x.startswith(b".") else x) + b"\r\n"
                                for x in raw.split(b"\r\n")[:-1])
                c.send(b"+OK\r\n" + body + b".\r\n")
            elif verb == "DELE":
                self.deleted.add(int(cmd[1]))
                c.send("+OK\r\n")
            elif verb == "QUIT":
                c.send("+OK bye\r\n")
                return
            else:
                c.send("-ERR unknown\r\n")


def spooled_subjects(b):
    out = []
    for d in ("incoming/new", "failed"):
        for n in b.files(d):
            if n.endswith(".reason"):
                continue
            with open(os.path.join(b.spool, d, n), "rb") as f:
                for l in f.read().split(b"\n"):
                    if l.startswith(b"Subject: "):
                        out.append(l[9:].strip().decode())
                        break
    return sorted(out)


# ---------------------------------------------------------------- the tests

def test_mailbox_endless_greeting_before_starttls():
    """An endless greeting on imap:// and pop3:// (before STARTTLS / STLS, so before any
    certificate): `fetch` gives up with exit 75 within seconds, its memory bounded (it grew
    by gigabytes before), and says which limit ended the session."""
    for scheme, start in (("imap", b"* OK "), ("pop3", b"+OK ")):
        def script(c, start=start):
            c.send(start)
            c.flood(b"A" * 65536)
        srv = HostileServer(script)
        try:
            b = mailbox_board("%s://board@127.0.0.1:%d%s" % (scheme, srv.port,
                                                             "/INBOX" if scheme == "imap" else ""))
            rc, err, peak, took = mailbox_watch(b, ["fetch"])
            expect_bounded(rc, err, peak, took, "%s greeting" % scheme)
            expect("longer than 1048576 bytes" in err, "limit not named: %s" % err[-500:])
            expect(b.files("incoming/new") == [], "stored something")
        finally:
            srv.stop()


def test_mailbox_endless_greeting_over_tls():
    """imaps:// and pop3s://: a server whose certificate is not trusted and then floods its
    greeting is refused before one byte of the greeting is read (the certificate is checked
    first; it used to be checked after the greeting, 2.1 GB in 6 s); with its CA trusted,
    the endless greeting over TLS is cut at the reply limit. Exit 75 each time, memory
    bounded."""
    folder = tempfile.mkdtemp(prefix="bidmail-tls-")
    try:
        ca, cert, key = make_ca(folder)
        for scheme, start in (("imaps", b"* OK "), ("pop3s", b"+OK ")):
            def script(c, start=start):
                c.send(start)
                c.flood(b"B" * 16384)
            srv = HostileServer(script, cert=(cert, key))
            try:
                url = "%s://board@127.0.0.1:%d%s" % (scheme, srv.port,
                                                     "/INBOX" if scheme == "imaps" else "")
                b = mailbox_board(url)
                rc, err, peak, took = mailbox_watch(b, ["fetch"])
                expect_bounded(rc, err, peak, took, "%s untrusted greeting" % scheme)
                expect("certificate" in err and "refused" in err, "not refused for its "
                       "certificate: %s" % err[-500:])
                b = mailbox_board(url, "fetch_ca_file = %s\n" % ca)
                rc, err, peak, took = mailbox_watch(b, ["fetch"])
                expect_bounded(rc, err, peak, took, "%s trusted greeting" % scheme)
                expect("longer than 1048576 bytes" in err, "limit not named: %s" % err[-500:])
                expect(srv.commands == [], "commands sent: %r" % srv.commands[:5])
            finally:
                srv.stop()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_mailbox_huge_literal_after_login():
    """After login, a FETCH answer announcing a literal of {99999999999} bytes and then
    sending without end: refused as soon as it is announced (more than the answer may bring:
    max_message_size + 64 KiB; libetpan would allocate it), exit 75, memory bounded, nothing
    stored and nothing flagged. A literal within the limit but never ending is cut at it."""
    def hostile(c, tag, line):
        c.send("* 1 FETCH (UID 1 RFC822.SIZE 500 BODY[] {99999999999}\r\n")
        c.flood(b"C" * 65536)
        return True
    def endless(c, tag, line):
        c.send("* 1 FETCH (UID 1 RFC822.SIZE 500 BODY[] {1000000}\r\n")
        c.flood(b"C" * 65536)
        return True
    imap = FakeImap(on_fetch=endless)
    imap.box[1] = [imap_mail("Grosse", "<lit@client.fr>"), False]
    srv = HostileServer(imap)
    try:
        b = mailbox_board("imap://board@127.0.0.1:%d/INBOX" % srv.port, "fetch_tls = no\n")
        rc, err, peak, took = mailbox_watch(b, ["fetch"])
        expect_bounded(rc, err, peak, took, "endless literal")
        expect("longer than 1048576 bytes" in err, "limit not named: %s" % err[-500:])
    finally:
        srv.stop()
    imap = FakeImap(on_fetch=hostile)
    imap.box[1] = [imap_mail("Grosse", "<lit@client.fr>"), False]
    srv = HostileServer(imap)
    try:
        b = mailbox_board("imap://board@127.0.0.1:%d/INBOX" % srv.port, "fetch_tls = no\n")
        rc, err, peak, took = mailbox_watch(b, ["fetch"])
        expect_bounded(rc, err, peak, took, "huge literal")
        expect("announced 99999999999 bytes" in err, "limit not named: %s" % err[-500:])
        expect(b.files("incoming/new") == [], "stored something")
        expect(not any("STORE" in l.upper() for l in srv.commands), "flagged: %r" % srv.commands)
    finally:
        srv.stop()


def test_mailbox_endless_retr():
    """A POP3 RETR that never ends (lines without the final dot): cut at the message limit,
    exit 75, memory bounded, nothing stored, nothing deleted."""
    raw = imap_mail("Sans fin", "<retr@client.fr>")

    def endless(c, n):
        c.send("+OK\r\n")
        c.flood(b"x" * 78 + b"\r\n")
    pop = FakePop([(1, "uid-1", raw)], retr=endless)
    srv = HostileServer(pop)
    try:
        b = mailbox_board("pop3://board@127.0.0.1:%d" % srv.port,
                          "fetch_tls = no\nfetch_after = delete\n")
        rc, err, peak, took = mailbox_watch(b, ["fetch"])
        expect_bounded(rc, err, peak, took, "endless RETR")
        expect("longer than" in err, "limit not named: %s" % err[-500:])
        expect(b.files("incoming/new") == [] and not pop.deleted, "stored or deleted")
    finally:
        srv.stop()


def test_mailbox_pop3_bad_listings():
    """POP3 listings are checked before use: LIST answering `0 100` (libetpan wrote out of
    bounds), numbers out of order or twice, a UIDL for an unlisted number: exit 75 and a
    reason, nothing stored; a LIST with gaps (deleted messages: 1, 4, 9) is a good listing
    and each message is fetched by its own number."""
    raws = {n: imap_mail("Trou %d" % n, "<gap%d@client.fr>" % n) for n in (1, 4, 9)}
    bad = [("0 100\r\n", "0 uid-0\r\n"),
           ("2 100\r\n1 100\r\n", "1 a\r\n2 b\r\n"),
           ("1 100\r\n1 100\r\n", "1 a\r\n"),
           ("1 100\r\n", "1 a\r\n7 b\r\n"),
           ("1 100\r\n", "1 " + "u" * 200 + "\r\n"),
           ("1 -5\r\n", "1 a\r\n")]
    for list_text, uidl_text in bad:
        srv = HostileServer(FakePop([(1, "a", raws[1])], list_text=list_text, uidl_text=uidl_text))
        try:
            b = mailbox_board("pop3://board@127.0.0.1:%d" % srv.port, "fetch_tls = no\n")
            rc, err, peak, took = mailbox_watch(b, ["fetch"])
            expect_bounded(rc, err, peak, took, "LIST %r" % list_text)
            expect("not a listing" in err, "no reason for %r: %s" % (list_text, err[-500:]))
            expect(b.files("incoming/new") == [], "stored with LIST %r" % list_text)
            expect(not any(l.startswith("RETR") for l in srv.commands), "RETR sent")
        finally:
            srv.stop()
    pop = FakePop([(n, "uid-%d" % n, raws[n]) for n in (1, 4, 9)])
    srv = HostileServer(pop)
    try:
        b = mailbox_board("pop3://board@127.0.0.1:%d" % srv.port, "fetch_tls = no\n")
        rc, err, peak, took = mailbox_watch(b, ["fetch"])
        expect(rc == 0, "gaps: exit %r: %s" % (rc, err[-800:]))
        expect(spooled_subjects(b) == ["Trou 1", "Trou 4", "Trou 9"],
               "gaps: spooled %r" % spooled_subjects(b))
        retrs = sorted(l for l in srv.commands if l.startswith("RETR"))
        expect(retrs == ["RETR 1", "RETR 4", "RETR 9"], "RETR: %r" % retrs)
    finally:
        srv.stop()


def test_mailbox_trickling_server_times_out():
    """A server that sends a byte every half second is never silent for fetch_timeout, but
    the whole answer is bounded by fetch_deadline: `fetch` gives up after it (exit 75) with
    the reason; it used to wait for as long as the server trickled."""
    for where in ("greeting", "search"):
        def script(c, where=where):
            if where == "greeting":
                c.trickle(b"* OK " + b"t" * 200 + b"\r\n")
                return
            c.send("* OK ready\r\n")
            while True:
                tag, _, rest = c.line().partition(" ")
                if rest.upper().startswith("UID SEARCH"):
                    c.trickle(b"* SEARCH " + b"1 " * 200 + b"\r\n")
                    return
                if rest.upper().startswith("SELECT"):
                    c.send("* 1 EXISTS\r\n* OK [UIDVALIDITY 7] v\r\n%s OK selected\r\n" % tag)
                else:
                    c.send("%s OK done\r\n" % tag)
        srv = HostileServer(script)
        try:
            b = mailbox_board("imap://board@127.0.0.1:%d/INBOX" % srv.port,
                              "fetch_tls = no\nfetch_timeout = 2\nfetch_deadline = 3s\n")
            rc, err, peak, took = mailbox_watch(b, ["fetch"], seconds=40)
            expect_bounded(rc, err, peak, took, "trickle in the %s" % where, limit_s=8)
            expect("fetch_deadline" in err, "reason: %s" % err[-500:])
            expect(srv.trickled >= 3, "the server did not trickle: %d" % srv.trickled)
        finally:
            srv.stop()


def test_mailbox_daemon_stops_promptly_during_trickle():
    """`bidmail run` with fetch_url on a server trickling its greeting (default timeouts):
    SIGHUP reloads at once (the main loop is not held by the fetcher: a new session is
    opened) and SIGTERM ends the daemon within 3 seconds with exit 0 (it waited more than
    40 s)."""
    srv = HostileServer(lambda c: c.trickle(b"* OK " + b"t" * 500 + b"\r\n"), seconds=90)
    b = mailbox_board("imap://board@127.0.0.1:%d/INBOX" % srv.port,
                      "fetch_tls = no\npoll_interval = 1\n")
    log = log_file(os.path.join(b.dir, "daemon.log"))
    d = subprocess.Popen([BIDMAIL, "--config", b.conf, "run"], stderr=log, cwd=b.dir)

    def wait_for(cond, seconds):
        end = time.time() + seconds
        while time.time() < end and not cond():
            time.sleep(0.05)
        return cond()

    def logged():
        log.seek(0)
        return log.read()
    rc = None
    try:
        expect(wait_for(lambda: srv.trickled >= 3, 20), "the fetcher never connected")
        d.send_signal(signal.SIGHUP)
        t = time.time()
        expect(wait_for(lambda: "result=reloaded" in logged(), 3),
               "SIGHUP not handled within 3 s: %s" % logged()[-800:])
        expect(wait_for(lambda: srv.accepted >= 2, 5), "no new session after the reload")
        hup = time.time() - t
        expect(wait_for(lambda: srv.trickled >= 6, 20), "the new fetcher does not read")
        d.send_signal(signal.SIGTERM)
        t = time.time()
        try:
            rc = d.wait(timeout=10)
        except subprocess.TimeoutExpired:
            raise Failure("SIGTERM ignored for 10 s during a trickle")
        took = time.time() - t
        expect(took < 3, "SIGTERM took %.1fs" % took)
        expect(hup < 5, "reload took %.1fs" % hup)
    finally:
        if d.poll() is None:
            d.kill()
            d.wait()
        srv.stop()
    err = logged()
    expect("Sanitizer" not in err and "runtime error:" not in err, err[-2000:])
    expect(rc == 0, "exit %r after SIGTERM: %s" % (rc, err[-800:]))


def test_mailbox_reused_uid_is_downloaded():
    """A different message under a UID already fetched (the mailbox recreated with the same
    UIDVALIDITY) is downloaded and spooled, then flagged; it used to be flagged \\Seen
    without being downloaded (lost). The same for POP3 under a repeated UIDL. The message
    already fetched, still there unseen, is flagged without a second download."""
    imap = FakeImap()
    imap.box[1] = [imap_mail("Premier sous UID 1", "<first@client.fr>"), False]
    srv = HostileServer(imap)
    try:
        b = mailbox_board("imap://board@127.0.0.1:%d/INBOX" % srv.port, "fetch_tls = no\n")
        b.run("fetch")
        expect(spooled_subjects(b) == ["Premier sous UID 1"], "first: %r" % spooled_subjects(b))
        expect(imap.box[1][1], "first not flagged")
        # recreated: same UIDVALIDITY, UID 1 is another message
        imap.box[1] = [imap_mail("Second sous UID 1", "<second@client.fr>"), False]
        b.run("fetch")
        expect(spooled_subjects(b) == ["Premier sous UID 1", "Second sous UID 1"],
               "reused UID: spooled %r" % spooled_subjects(b))
        expect(imap.box[1][1], "second not flagged")
        # the second again, unseen (flag lost): flagged, not stored twice
        imap.box[1][1] = False
        n = len([l for l in srv.commands if "BODY.PEEK[]" in l.upper()])
        b.run("fetch")
        expect(len(b.files("incoming/new")) == 2, "stored twice")
        expect(len([l for l in srv.commands if "BODY.PEEK[]" in l.upper()]) == n, "downloaded twice")
        expect(imap.box[1][1], "known message not flagged")
        b.run("run", "--once")
        titles = sorted(p["title"] for p in b.projects())
        expect(titles == ["Premier sous UID 1", "Second sous UID 1"], "projects: %r" % titles)
    finally:
        srv.stop()
    pop = FakePop([(1, "same-uidl", imap_mail("POP premier", "<p1@client.fr>"))])
    srv = HostileServer(pop)
    try:
        b = mailbox_board("pop3://board@127.0.0.1:%d" % srv.port, "fetch_tls = no\n")
        b.run("fetch")
        pop.msgs = [(1, "same-uidl", imap_mail("POP second", "<p2@client.fr>"))]
        b.run("fetch")
        b.run("fetch")
        expect(spooled_subjects(b) == ["POP premier", "POP second"],
               "repeated UIDL: spooled %r" % spooled_subjects(b))
    finally:
        srv.stop()


def test_mailbox_oversize_message_quarantined_not_stuck():
    """A message bigger than max_message_size on the server is not a reason to fail the
    session for ever: IMAP downloads only its first max_message_size + 1 bytes, POP3 reads
    it whole keeping as many; it is quarantined as oversize, flagged (or deleted), and the
    next message is fetched."""
    big = imap_mail("Enorme", "<big@client.fr>") + b"y" * 78 + b"\r\n"
    big = big + (b"z" * 78 + b"\r\n") * 20000      # 1.6 MB, max_message_size is 1M
    small = imap_mail("Petit", "<small@client.fr>")
    imap = FakeImap()
    imap.box[1], imap.box[2] = [big, False], [small, False]
    srv = HostileServer(imap)
    try:
        b = mailbox_board("imap://board@127.0.0.1:%d/INBOX" % srv.port, "fetch_tls = no\n")
        rc, err, peak, took = mailbox_watch(b, ["fetch"])
        expect(rc == 0, "imap: exit %r: %s" % (rc, err[-800:]))
        expect(imap.box[1][1] and imap.box[2][1], "not both flagged")
        expect(spooled_subjects(b) == ["Enorme", "Petit"], "imap: %r" % spooled_subjects(b))
        expect(len(b.files("failed")) == 2, "oversize not quarantined: %r" % b.files("failed"))
        expect(any("BODY.PEEK[]<0.1048577>" in l.upper() for l in srv.commands),
               "whole message downloaded: %r" % srv.commands)
    finally:
        srv.stop()
    pop = FakePop([(1, "big", big), (2, "small", small)])
    srv = HostileServer(pop)
    try:
        b = mailbox_board("pop3://board@127.0.0.1:%d" % srv.port,
                          "fetch_tls = no\nfetch_after = delete\n")
        rc, err, peak, took = mailbox_watch(b, ["fetch"])
        expect(rc == 0, "pop3: exit %r: %s" % (rc, err[-800:]))
        expect(pop.deleted == {1, 2}, "pop3 deleted %r" % pop.deleted)
        expect(spooled_subjects(b) == ["Enorme", "Petit"], "pop3: %r" % spooled_subjects(b))
        expect(peak < MAILBOX_PEAK_KB, "peak %d kB" % peak)
    finally:
        srv.stop()


def test_mailbox_answers_without_data():
    """An IMAP server that answers every command with a bare OK (no CAPABILITY, SEARCH or
    FETCH data: libetpan's CAPABILITY dereferenced the missing answer) is a mailbox with
    nothing to fetch: exit 0, nothing stored, no crash."""
    def script(c):
        c.send("* OK ready\r\n")
        while True:
            tag, _, rest = c.line().partition(" ")
            c.send("%s OK done\r\n" % tag)
            if rest.upper().startswith("LOGOUT"):
                return
    srv = HostileServer(script)
    try:
        b = mailbox_board("imap://board@127.0.0.1:%d/INBOX" % srv.port, "fetch_tls = no\n")
        rc, err, peak, took = mailbox_watch(b, ["fetch"])
        expect(rc == 0, "exit %r: %s" % (rc, err[-800:]))
        expect(b.files("incoming/new") == [], "stored something")
    finally:
        srv.stop()


def test_mailbox_ledger_rows_from_before_are_adopted():
    """An upgrade: the ledger was the database's `fetched` table, and a row from before
    identities were recorded has the identity ''. At the first fetch without the spool's ledger
    file, the table's rows are imported once: the POP3 message kept on the server is not
    downloaded again, and its origin takes the identity found under it (a line of the file)."""
    pop = FakePop([(1, "kept-uidl", imap_mail("Gardé", "<kept@client.fr>"))])
    srv = HostileServer(pop)
    try:
        b = mailbox_board("pop3://board@127.0.0.1:%d" % srv.port, "fetch_tls = no\n")
        b.run("fetch")
        expect(len(b.files("incoming/new")) == 1, "not fetched")
        ledger = os.path.join(b.spool, "fetch", "ledger")
        with open(ledger) as f:
            lines = [l.rstrip("\n").split("\t") for l in f if not l.startswith("#")]
        expect(len(lines) == 1, "ledger lines: %r" % lines)
        origin, ident = lines[0][0], lines[0][1]
        db = sqlite3.connect(os.path.join(b.dir, "var", "bidmail.db"))
        expect(db.execute("SELECT count(*) FROM fetched").fetchone()[0] == 0,
               "fetch wrote in the database")
        db.execute("INSERT INTO fetched(origin, ident, spooled) VALUES(?, '', "
                   "'2025-01-01T00:00:00Z')", (origin,))
        db.commit()
        db.close()
        os.unlink(ledger)
        retr = len([l for l in srv.commands if l.startswith("RETR")])
        b.run("fetch")
        expect(len([l for l in srv.commands if l.startswith("RETR")]) == retr, "downloaded again")
        expect(len(b.files("incoming/new")) == 1, "stored again")
        with open(ledger) as f:
            text = f.read()
        expect("#imported\n" in text, "no import mark: %r" % text)
        expect("%s\t%s\t" % (origin, ident) in text, "not adopted: %r" % text)
        b.run("fetch")
        expect(len([l for l in srv.commands if l.startswith("RETR")]) == retr,
               "downloaded again after the import")
        with open(ledger) as f:
            expect(f.read() == text, "imported twice")
    finally:
        srv.stop()


def test_mailbox_starttls_hostile():
    """imap:// with STARTTLS against hostile servers: data pipelined in clear after the
    server's STARTTLS OK is refused (it would be read as if it came over TLS); an untrusted
    certificate is refused before LOGIN is sent; behind a trusted one, an endless answer to
    LOGIN is cut at the reply limit. Exit 75 each time, memory bounded."""
    folder = tempfile.mkdtemp(prefix="bidmail-tls-")
    try:
        ca, cert, key = make_ca(folder)

        def script(c, inject=False):
            c.send("* OK ready\r\n")
            while True:
                tag, _, rest = c.line().partition(" ")
                if rest.upper().startswith("STARTTLS"):
                    c.send("%s OK begin TLS\r\n%s" % (tag, "* OK injected\r\n" if inject else ""))
                    c.starttls((cert, key))
                elif rest.upper().startswith("LOGIN"):
                    c.send("* OK ")
                    c.flood(b"L" * 16384)
                    return
                else:
                    c.send("%s OK done\r\n" % tag)
        # libetpan 1.9.4 refuses the injection itself (CVE-2020-15953); fetch.c checks too
        for inject, trusted, reason in ((True, True, "STARTTLS"),
                                        (False, False, "refused"),
                                        (False, True, "longer than 1048576 bytes")):
            srv = HostileServer(lambda c, inject=inject: script(c, inject))
            try:
                b = mailbox_board("imap://board@127.0.0.1:%d/INBOX" % srv.port,
                                  "fetch_ca_file = %s\n" % ca if trusted else "")
                rc, err, peak, took = mailbox_watch(b, ["fetch"])
                expect_bounded(rc, err, peak, took, "STARTTLS (%s)" % reason)
                expect(reason in err, "reason %r not in %s" % (reason, err[-500:]))
                logins = [l for l in srv.commands if "LOGIN" in l.upper()]
                expect(bool(logins) == (reason.startswith("longer")), "LOGIN sent: %r" % logins)
            finally:
                srv.stop()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
