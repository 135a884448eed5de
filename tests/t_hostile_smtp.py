"""t_hostile_smtp.py — hostile smarthosts and concurrent senders (issue #11, items 4 and 17).
A smarthost that never ends a reply (endless `250-` continuations, a byte every half second,
one huge line), during libcurl's set-up (greeting, EHLO) or inside a mail transaction, must
cost `bidmail send` a bounded time and memory, the mail staying queued with a clear reason.
Two senders at once (two `send --once`, the daemon and a cron job) deliver each row once.
smtp_tls defaults to required for a smarthost off loopback. Servers are Python threads on
127.0.0.1, stopped by the test; every loop is bounded in count and time.
"""
import collections, threading


class HostileSMTP:
    """An SMTP server on 127.0.0.1 that behaves until `at` (greeting, ehlo, mail, rcpt, data,
    dot) and then answers with `attack`: a generator of byte strings, sent with the delay it
    yields between them. Every connection is handled by a thread; all stop with stop()."""

    def __init__(self, at, attack, ehlo_lines=(b"250-hostile", b"250 8BITMIME"), on_command=None):
        self.port = free_port()
        self.at, self.attack, self.ehlo_lines = at, attack, ehlo_lines
        self.on_command = on_command
        self.stopping = threading.Event()
        self.sent_bytes = 0
        self.connections = 0
        self.lsock = socket.socket()
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", self.port))
        self.lsock.listen(16)
        self.lsock.settimeout(0.2)
        self.threads = [threading.Thread(target=self._accept, daemon=True)]
        self.threads[0].start()

    def url(self):
        return "smtp://127.0.0.1:%d" % self.port

    def _accept(self):
        deadline = time.time() + 300
        while not self.stopping.is_set() and time.time() < deadline:
            try:
                c, _ = self.lsock.accept()
            except OSError:
                continue
            self.connections += 1
            t = threading.Thread(target=self._serve, args=(c,), daemon=True)
            self.threads.append(t)
            t.start()

    def _flood(self, c):
        """Runs the attack until the client goes away, stop(), or 120 s."""
        end = time.time() + 120
        for chunk, pause in self.attack():
            if self.stopping.is_set() or time.time() > end:
                return
            try:
                c.sendall(chunk)
            except OSError:
                return
            self.sent_bytes += len(chunk)
            if pause:
                time.sleep(pause)

    def _serve(self, c):
        c.settimeout(30)
        f = c.makefile("rb")
        try:
            if self.at == "greeting":
                return self._flood(c)
            c.sendall(b"220 hostile ESMTP\r\n")
            for _ in range(10000):
                line = f.readline(4096)
                if not line or self.stopping.is_set():
                    return
                verb = line[:4].upper()
                if self.on_command:
                    self.on_command(verb)
                if verb in (b"EHLO", b"HELO"):
                    if self.at == "ehlo":
                        return self._flood(c)
                    c.sendall(b"\r\n".join(self.ehlo_lines) + b"\r\n")
                elif verb == b"MAIL":
                    if self.at == "mail":
                        return self._flood(c)
                    c.sendall(b"250 2.1.0 Ok\r\n")
                elif verb == b"RCPT":
                    if self.at == "rcpt":
                        return self._flood(c)
                    c.sendall(b"250 2.1.5 Ok\r\n")
                elif verb == b"DATA":
                    if self.at == "data":
                        return self._flood(c)
                    c.sendall(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                    for _ in range(1000000):
                        l = f.readline(65536)
                        if not l or l == b".\r\n":
                            break
                    if self.at == "dot":
                        return self._flood(c)
                    c.sendall(b"250 2.0.0 Ok: queued\r\n")
                elif verb == b"QUIT":
                    c.sendall(b"221 2.0.0 Bye\r\n")
                    return
                else:
                    c.sendall(b"250 2.0.0 Ok\r\n")
        except OSError:
            pass
        finally:
            try:
                c.close()
            except OSError:
                pass

    def stop(self):
        self.stopping.set()
        self.lsock.close()
        for t in self.threads:
            t.join(timeout=5)


def endless_continuation(pause):
    """`250-` lines without end, one every `pause` seconds (0: as fast as the socket takes)."""
    def gen():
        for i in range(10 ** 7):
            yield b"250-continuation line %d of a reply that never ends\r\n" % i, pause
    return gen


def trickle():
    """A reply sent one byte every half second: each read gets a byte, the reply never ends."""
    def gen():
        for i in range(10 ** 6):
            yield b"250-slow"[i % 8:i % 8 + 1], 0.5
    return gen


def huge_line():
    """One reply line that never ends: `250 ` then x without a line end, 64 KB at a time."""
    def gen():
        yield b"250 ", 0
        for _ in range(10 ** 5):
            yield b"x" * 65536, 0
    return gen


def queue_rows(b, n, first=1):
    """Puts n small messages straight into the outbox (no templates, no run)."""
    db = sqlite3.connect(os.path.join(b.dir, "var", "bidmail.db"))
    with db:
        for i in range(first, first + n):
            msg = ("From: bidmail <post@example.org>\r\nTo: <f%d@example.net>\r\n"
                   "Subject: n%d\r\nMessage-ID: <k%d@example.org>\r\n\r\nbody %d\r\n" % (i, i, i, i))
            db.execute("INSERT INTO outbox(id, kind, rcpt, sender, subject, token, created) VALUES"
                       "(?, 'test', ?, 'bounce@example.org', ?, ?, '2026-03-02T08:00:00Z')",
                       (i, "f%d@example.net" % i, "n%d" % i, "%032x" % i))
            db.execute("INSERT INTO outbox_message(id, message) VALUES(?, ?)", (i, msg.encode()))
    db.close()


def outbox_rows(b):
    db = sqlite3.connect(os.path.join(b.dir, "var", "bidmail.db"))
    rows = db.execute("SELECT id, state, attempts, last_error, next_attempt FROM outbox"
                      " ORDER BY id").fetchall()
    db.close()
    return rows


def run_bounded(b, args, limit, env=None):
    """Runs bidmail with args; returns (seconds, peak resident KB, exit code, stderr). Raises
    Failure when it has not returned within limit seconds (then kills it)."""
    e = dict(os.environ)
    e.update(env or {})
    t0 = time.time()
    p = subprocess.Popen([BIDMAIL, "--config", b.conf] + list(args), env=e, cwd=b.dir,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    err = []
    reader = threading.Thread(target=lambda: err.append(p.stderr.read()), daemon=True)
    reader.start()
    peak = 0
    while p.poll() is None and time.time() - t0 < limit:
        try:
            with open("/proc/%d/status" % p.pid) as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        peak = max(peak, int(line.split()[1]))
        except OSError:
            pass
        time.sleep(0.05)
    if p.poll() is None:
        p.kill()
        p.wait()
        reader.join(timeout=5)
        raise Failure("`bidmail %s` still running after %d s (killed)" % (" ".join(args), limit))
    reader.join(timeout=5)
    text = (err[0] if err else b"").decode("utf-8", "replace")
    if "Sanitizer" in text or "runtime error:" in text:
        raise Failure("sanitizer report:\n%s" % text[-3000:])
    return time.time() - t0, peak, p.returncode, text


def hostile_case(at, attack, want, ehlo_lines=None, limit=30, rows=3):
    """Queues `rows` mails, sends against a server attacking at `at`: `send --once` returns
    within `limit` s with bounded memory, every mail still queued with a later next attempt
    and `want` in its last error."""
    srv = HostileSMTP(at, attack, **({"ehlo_lines": ehlo_lines} if ehlo_lines else {}))
    try:
        b = Board("smarthost = %s\nsmtp_timeout = 2\nsmtp_connections = 1\nretry_base = 60s\n"
                  % srv.url()).init()
        queue_rows(b, rows)
        secs, peak, rc, err = run_bounded(b, ["send", "--once"], limit,
                                          env={"BIDMAIL_NOW": "2026-03-02T08:00:00Z"})
        expect(rc == 0, "send exited %d: %s" % (rc, err[-1000:]))
        expect(peak < 200 * 1024, "peak resident memory %d KB" % peak)
        for id_, state, attempts, last_error, next_attempt in outbox_rows(b):
            expect(state == "queued" and attempts == 1, "row %d: %s after %d attempts" % (id_, state, attempts))
            expect(next_attempt and next_attempt > "2026-03-02T08:00:00Z", "row %d next %r" % (id_, next_attempt))
            expect(any(w in (last_error or "") for w in want.split("|")),
                   "row %d: last_error %r lacks %r" % (id_, last_error, want))
        print("     (%s: %.1f s, %d KB peak, %d bytes sent by the server)" % (at, secs, peak, srv.sent_bytes))
        b.cleanup()
    finally:
        srv.stop()


def test_smarthost_endless_continuation_after_mail():
    """An endless `250-` continuation in answer to MAIL FROM (as fast as the socket takes):
    the reply is cut at 100 lines, the connection dropped, every mail re-queued with the
    reason, and `send --once` returns at once (before: it read forever)."""
    hostile_case("mail", endless_continuation(0), "reply longer than 100 lines", limit=20)


def test_smarthost_slow_continuation_after_data():
    """After the end of DATA, a `250-` line every 0.3 s, never a last line (each read is in
    time, the reply never ends): cut at smtp_timeout for the whole reply; the mail is
    re-queued, send returns within the bound (before: it hung)."""
    hostile_case("dot", endless_continuation(0.3), "no complete reply within 2 s", limit=30)


def test_smarthost_trickle_one_byte_every_half_second():
    """A reply to RCPT trickled one byte every 0.5 s: bounded by smtp_timeout per reply in
    all, not per read (before: each byte restarted the timeout, forever)."""
    hostile_case("rcpt", trickle(), "no complete reply within 2 s", limit=30)


def test_smarthost_huge_single_line():
    """One reply line without end (64 KB chunks of x after `250 `, answering DATA): cut at
    16 KB of reply, memory stays flat, the mail is re-queued."""
    hostile_case("data", huge_line(), "reply longer than 16384 bytes", limit=20)


def test_smarthost_endless_ehlo_during_setup():
    """An endless `250-` EHLO reply as fast as the socket takes, inside libcurl's CONNECT_ONLY
    set-up: libcurl ends it at 300 KB of replies (or CURLOPT_TIMEOUT), memory stays flat; the
    mails wait with the reason."""
    hostile_case("ehlo", endless_continuation(0), "response headers|timed out", limit=20)


def test_smarthost_slow_ehlo_during_setup():
    """An EHLO reply of a `250-` line every 0.3 s (each line in time, no end) during libcurl's
    set-up: the whole set-up is bounded by smtp_timeout (CURLOPT_TIMEOUT applies in
    CONNECT_ONLY mode); the mails wait, send returns."""
    hostile_case("ehlo", endless_continuation(0.3), "timed out", limit=30)


def test_smarthost_trickled_greeting():
    """A greeting trickled one byte every 0.5 s: the set-up times out within smtp_timeout,
    the mails wait with the reason."""
    hostile_case("greeting", trickle(), "timed out", limit=30)


def test_smarthost_daemon_loop_not_held():
    """The daemon with a smarthost that never ends its replies: mail delivered meanwhile is
    still processed (a project is stored) within the bounds, and SIGTERM stops it promptly
    (before: the loop stayed inside the SMTP read for ever)."""
    srv = HostileSMTP("mail", endless_continuation(0.3))
    b = Board("smarthost = %s\nsmtp_timeout = 2\nsmtp_connections = 1\npoll_interval = 1\n"
              % srv.url()).init()
    d = subprocess.Popen([BIDMAIL, "--config", b.conf, "run"], cwd=b.dir,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        b.deliver(post_mail(subject="Premier projet", sender="Un <un@client.fr>"))
        deadline = time.time() + 20
        while time.time() < deadline and not any(r[1] == "queued" and r[2] >= 1 for r in outbox_rows(b)):
            time.sleep(0.2)
        expect(any(r[2] >= 1 for r in outbox_rows(b)), "no send attempt within 20 s: %r" % outbox_rows(b))
        b.deliver(post_mail(subject="Second projet", sender="Deux <deux@client.fr>"))
        t0 = time.time()
        while time.time() - t0 < 30 and len(b.projects()) < 2:
            time.sleep(0.2)
        expect(len(b.projects()) == 2, "the second mail was not processed within 30 s")
        d.send_signal(signal.SIGTERM)
        t1 = time.time()
        d.wait(timeout=30)
        expect(time.time() - t1 < 15, "SIGTERM took %.1f s" % (time.time() - t1))
    finally:
        if d.poll() is None:
            d.kill()
            d.wait()
        srv.stop()
        b.cleanup()


def test_smarthost_two_senders_deliver_each_row_once():
    """Two `send --once` started together against one smtp-sink, 300 queued rows: the sink
    receives 300 messages, each Message-ID once, and every row is sent after one attempt
    (before: both senders delivered the whole queue)."""
    sink = Sink().start()
    try:
        b = smtp_board(sink.url(), "smtp_connections = 2\n")
        queue_rows(b, 300)
        env = dict(os.environ, BIDMAIL_NOW="2026-03-02T08:00:00Z")
        ps = [subprocess.Popen([BIDMAIL, "--config", b.conf, "send", "--once"], env=env, cwd=b.dir,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for _ in range(2)]
        errs = [p.communicate(timeout=120)[1].decode("utf-8", "replace") for p in ps]
        expect(all(p.returncode == 0 for p in ps), "exits %r: %s" % ([p.returncode for p in ps], errs))
        ids = collections.Counter()
        for _, raw in sink.messages():
            m = email.message_from_bytes(raw, policy=email.policy.default)
            ids[m["Message-ID"]] += 1
        doubles = {k: v for k, v in ids.items() if v > 1}
        expect(len(ids) == 300 and not doubles,
               "%d distinct mails, %d received in all, doubles %r" % (len(ids), sum(ids.values()),
                                                                      list(doubles.items())[:5]))
        rows = outbox_rows(b)
        expect(all(r[1] == "sent" and r[2] == 1 for r in rows),
               "rows %r" % collections.Counter((r[1], r[2]) for r in rows))
        both = [e.count("result=sent") for e in errs]
        print("     (sent by each sender: %r)" % both)
        expect(sum(both) == 300, "sent lines %r" % both)
    finally:
        sink.cleanup()


def test_smarthost_file_transport_two_senders_write_each_row_once():
    """The file transport with two `send --once` together and 300 queued rows: each row is
    written once (300 sent lines in the two logs, one attempt each, 300 files), where both
    senders used to write the whole queue."""
    b = Board().init()
    queue_rows(b, 300)
    ps = [subprocess.Popen([BIDMAIL, "--config", b.conf, "send", "--once"], cwd=b.dir,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for _ in range(2)]
    errs = [p.communicate(timeout=120)[1].decode("utf-8", "replace") for p in ps]
    expect(all(p.returncode == 0 for p in ps), "exits %r: %s" % ([p.returncode for p in ps], errs))
    both = [e.count("transport=file file=") for e in errs]
    print("     (written by each sender: %r)" % both)
    rows = outbox_rows(b)
    expect(sum(both) == 300, "files written %r (sum must be 300)" % both)
    expect(all(r[1] == "sent" and r[2] == 1 for r in rows),
           "rows %r" % collections.Counter((r[1], r[2]) for r in rows))
    expect(len(b.outgoing()) == 300, "%d files" % len(b.outgoing()))
    b.cleanup()


def test_smarthost_leases_wait_for_expiry_or_dead_owner():
    """A row leased by a sender of another host waits until its lease expires, then is sent;
    a row leased by a process of this host that no longer runs is taken back at once."""
    sink = Sink().start()
    try:
        b = smtp_board(sink.url())
        queue_rows(b, 2)
        dead = subprocess.Popen(["true"])
        dead.wait()
        db = sqlite3.connect(os.path.join(b.dir, "var", "bidmail.db"))
        with db:
            db.execute("UPDATE outbox SET lease_owner = 'elsewhere.invalid:1:00ff', lease_until ="
                       " '2026-03-02T09:00:00Z' WHERE id = 1")
            db.execute("UPDATE outbox SET lease_owner = ?, lease_until = '2026-03-02T09:00:00Z'"
                       " WHERE id = 2", ("%s:%d:beef" % (socket.gethostname(), dead.pid),))
        db.close()
        b.run("send", "--once", env={"BIDMAIL_NOW": "2026-03-02T08:00:00Z"})
        rows = outbox_rows(b)
        expect(rows[0][1] == "queued" and rows[0][2] == 0, "a live lease was not respected: %r" % (rows[0],))
        expect(rows[1][1] == "sent", "a dead local owner's lease was not taken back: %r" % (rows[1],))
        expect(len(sink.messages()) == 1, "%d received" % len(sink.messages()))
        b.run("send", "--once", env={"BIDMAIL_NOW": "2026-03-02T09:00:01Z"})
        rows = outbox_rows(b)
        expect(all(r[1] == "sent" and r[2] == 1 for r in rows), "after the expiry: %r" % rows)
        expect(len(sink.messages()) == 2, "%d received" % len(sink.messages()))
    finally:
        sink.cleanup()


def test_smarthost_retry_fenced_on_lease():
    """A sender whose lease was taken over while it waited for the server (another sender
    claimed the row) records nothing for that row: its 4xx does not re-queue what the new
    owner holds."""
    path = {}

    def steal(verb):
        if verb == b"RCPT":
            db = sqlite3.connect(path["db"])
            with db:
                db.execute("UPDATE outbox SET lease_owner = 'thief.invalid:1:0001',"
                           " lease_until = '2099-01-01T00:00:00Z'")
            db.close()

    def refuse():
        yield b"451 4.3.0 try later\r\n", 0
        for _ in range(600):
            yield b"", 0.1

    srv = HostileSMTP("rcpt", refuse, on_command=steal)
    try:
        b = Board("smarthost = %s\nsmtp_timeout = 2\nsmtp_connections = 1\n" % srv.url()).init()
        path["db"] = os.path.join(b.dir, "var", "bidmail.db")
        queue_rows(b, 1)
        secs, _, rc, err = run_bounded(b, ["send", "--once"], 30,
                                       env={"BIDMAIL_NOW": "2026-03-02T08:00:00Z"})
        db = sqlite3.connect(path["db"])
        row = db.execute("SELECT state, attempts, last_error, next_attempt, lease_owner FROM outbox").fetchone()
        db.close()
        expect(row == ("queued", 0, None, None, "thief.invalid:1:0001"), "row after a stolen lease: %r" % (row,))
        b.cleanup()
    finally:
        srv.stop()


def test_smarthost_default_tls_required_off_loopback():
    """smtp_tls left at its default is `required` for a smarthost off loopback (STARTTLS
    stripping), `opportunistic` on loopback (127.0.0.0/8, ::1, localhost) and without a
    smarthost; an explicit value is always kept."""
    cases = [("smarthost = smtp://mail.example.net:587\n", "required"),
             ("smarthost = smtp://user@192.0.2.7:25\n", "required"),
             ("smarthost = smtp://[2001:db8::1]:25\n", "required"),
             ("smarthost = smtp://127.0.0.1:25\n", "opportunistic"),
             ("smarthost = smtp://127.8.9.10:2525\n", "opportunistic"),
             ("smarthost = smtp://[::1]:25\n", "opportunistic"),
             ("smarthost = smtp://localhost:25\n", "opportunistic"),
             ("", "opportunistic"),
             ("smarthost = smtp://mail.example.net:587\nsmtp_tls = opportunistic\n", "opportunistic"),
             ("smarthost = smtp://mail.example.net:587\nsmtp_tls = no\n", "no"),
             ("smarthost = smtp://127.0.0.1:25\nsmtp_tls = required\n", "required"),
             ("smarthost = smtp://mail.example.net:587\nsmtp_tls =\n", "required")]
    for extra, want in cases:
        b = Board(extra)
        out = b.run("check-config").stdout.decode()
        expect("\nsmtp_tls = %s\n" % want in out, "%r: want smtp_tls = %s, got %r" %
               (extra, want, [l for l in out.splitlines() if l.startswith("smtp_tls")]))
        b.cleanup()


def test_smarthost_three_senders_share_a_large_queue():
    """Three `send --once` together on 4,500 queued rows (more than one claim batch each):
    they share the queue, each row reaches the sink once and is marked sent once (their sent
    journal is shared and never loses a line)."""
    sink = Sink().start()
    try:
        b = smtp_board(sink.url(), "smtp_connections = 2\n")
        queue_rows(b, 4500)
        env = dict(os.environ, BIDMAIL_NOW="2026-03-02T08:00:00Z")
        ps = []
        for _ in range(3):
            ps.append(subprocess.Popen([BIDMAIL, "--config", b.conf, "send", "--once"], env=env,
                                       cwd=b.dir, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE))
            time.sleep(0.3)
        errs = [p.communicate(timeout=300)[1].decode("utf-8", "replace") for p in ps]
        expect(all(p.returncode == 0 for p in ps), "exits %r: %s" % ([p.returncode for p in ps], errs))
        ids = collections.Counter()
        for _, raw in sink.messages():
            m = email.message_from_bytes(raw, policy=email.policy.default)
            ids[m["Message-ID"]] += 1
        expect(len(ids) == 4500 and sum(ids.values()) == 4500,
               "%d distinct mails, %d received in all" % (len(ids), sum(ids.values())))
        rows = outbox_rows(b)
        expect(all(r[1] == "sent" and r[2] == 1 for r in rows),
               "rows %r" % collections.Counter((r[1], r[2]) for r in rows))
        each = [e.count("result=sent") for e in errs]
        print("     (sent by each sender: %r)" % each)
        expect(sum(each) == 4500 and sum(1 for n in each if n) >= 2, "sent lines %r" % each)
    finally:
        sink.cleanup()
