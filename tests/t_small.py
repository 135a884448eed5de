"""t_small.py — issue #11, the smaller items: subscriber rows written column by column and
conditioned on the state read (16), quoted-printable never leaving a '.' at column 0 (19),
LMTP and HTTP limits per client and in total time (20), exact digest windows (21), address
masking and bidirectional controls (22). Exec'd in suite.py's namespace."""


def small_db(b):
    return os.path.join(b.dir, "var", "bidmail.db")


def small_digest_mails(b, before, address):
    out = []
    for path in b.outgoing()[before:]:
        m = read_mail(path)[1]
        if m["To"].addresses[0].addr_spec == address:
            out.append(m)
    return out


def test_small_unsubscribe_during_digest_wins():
    """An unsubscribe committed while a digest pass has the subscriber row loaded (here by
    another process holding the write lock) stays: no selection goes and the status is not
    written back to `active` (the old whole-row write-back undid it)."""
    b = Board().init()
    env0 = {"BIDMAIL_NOW": "2026-03-04T10:00:00Z"}
    subscribe(b, "leo@dev.fr", "Léo", "skills symfony", env=env0)
    publish(b, post_mail(subject="Refonte Symfony", body="Site en Symfony 6.\n"),
            env={"BIDMAIL_NOW": "2026-03-05T09:00:00Z"})
    expect(subscribers(b)["leo@dev.fr"]["status"] == "active", "not active after subscribing")
    before = len(b.outgoing())
    db = sqlite3.connect(small_db(b), isolation_level=None, timeout=30)
    p = None
    try:
        # the other writer: an unsubscribe in a transaction the digest pass cannot see yet
        db.execute("BEGIN IMMEDIATE")
        db.execute("UPDATE subscribers SET status = 'unsubscribed' WHERE address = 'leo@dev.fr'")
        e = dict(os.environ)
        e["BIDMAIL_NOW"] = "2026-03-09T07:00:00Z"
        p = subprocess.Popen([BIDMAIL, "--config", b.conf, "digest", "--at", "2026-03-09T07:00:00Z"],
                             cwd=b.dir, env=e, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        time.sleep(2.5)  # the pass loads the rows (WAL: the old ones) and waits for the lock
        expect(p.poll() is None, "the digest pass did not wait for the write lock")
        db.execute("COMMIT")
        out, err = p.communicate(timeout=60)
        expect(p.returncode == 0, "digest exited %d: %s" % (p.returncode, err.decode()[-500:]))
    finally:
        if p and p.poll() is None:
            p.kill()
            p.communicate(timeout=20)
        db.close()
    expect(subscribers(b)["leo@dev.fr"]["status"] == "unsubscribed",
           "the unsubscribe was undone: %r" % subscribers(b)["leo@dev.fr"]["status"])
    expect(not small_digest_mails(b, before, "leo@dev.fr"), "a selection went to an unsubscribed address")
    rows = [r for r in b.outbox() if r.get("kind") == "digest"]
    expect(not rows, "a digest row was queued: %r" % rows[:2])


def test_small_close_during_expiry_pass_stays_closed():
    """A project closed by its poster while the follow-up pass has it loaded as open (another
    process holds the write lock meanwhile) stays closed: the pass moves a project to
    `expired` only from `open`, and sends no expiry notice (the old unconditional status write
    turned it into `expired` and told the poster)."""
    b = Board().init()
    publish(b, post_mail(subject="Refonte Symfony", body="Site en Symfony 6.\n"),
            env={"BIDMAIL_NOW": "2026-03-02T09:00:00Z"})
    before = len(b.outgoing())
    db = sqlite3.connect(small_db(b), isolation_level=None, timeout=30)
    p = None
    try:
        db.execute("BEGIN IMMEDIATE")
        db.execute("UPDATE projects SET status = 'closed' WHERE id = 1001")
        at = "2026-04-10T09:00:00Z"
        e = dict(os.environ)
        e["BIDMAIL_NOW"] = at
        p = subprocess.Popen([BIDMAIL, "--config", b.conf, "digest", "--at", at], cwd=b.dir, env=e,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        time.sleep(2.5)
        expect(p.poll() is None, "the pass did not wait for the write lock")
        db.execute("COMMIT")
        out, err = p.communicate(timeout=60)
        expect(p.returncode == 0, "digest exited %d: %s" % (p.returncode, err.decode()[-500:]))
    finally:
        if p and p.poll() is None:
            p.kill()
            p.communicate(timeout=20)
        db.close()
    status = [pr["status"] for pr in b.projects() if pr["id"] == 1001]
    expect(status == ["closed"], "status %r" % status)
    notes = [read_mail(f)[1] for f in b.outgoing()[before:]]
    expect(not notes, "mails sent: %r" % [str(m["Subject"]) for m in notes])


def test_small_same_second_publication_selected_once():
    """Projects published in the very second of a selection's claim, one before the claim and
    one after it, each reach the next selection exactly once (the old `created <= since`
    lost the one published after the claim); a post confirmed after a selection that came
    between its creation and its publication is selected too (its window is its publication)."""
    b = Board().init()
    subscribe(b, "leo@dev.fr", "Léo", "skills symfony", env={"BIDMAIL_NOW": "2026-03-04T10:00:00Z"})
    t = "2026-03-09T07:00:00Z"  # Monday 08:00 in Paris: the weekly selection is due
    publish(b, post_mail(subject="Ancien Symfony", body="Site en Symfony 5.\n"),
            env={"BIDMAIL_NOW": "2026-03-05T09:00:00Z"})
    # created before the claim, confirmed (published) only after it
    b.deliver(post_mail(subject="Tardif Symfony", body="Migration Symfony 4.\n",
                        sender="Marc Client <marc@client.fr>"))
    b.run("run", "--once", env={"BIDMAIL_NOW": "2026-03-06T09:00:00Z"})
    before = len(b.outgoing())
    # `run` makes the selection pass too: the week is claimed in this second, after this post
    publish(b, post_mail(subject="Avant Symfony", body="API en Symfony 6.\n"), env={"BIDMAIL_NOW": t})
    b.run("digest", "--at", t, env={"BIDMAIL_NOW": t})
    publish(b, post_mail(subject="Apres Symfony", body="Boutique en Symfony 7.\n"), env={"BIDMAIL_NOW": t})
    conf = [read_mail(p)[1] for p in b.outgoing()]
    conf = [m for m in conf if m["To"].addresses[0].addr_spec == "marc@client.fr"][-1]
    raw = ("From: marc@client.fr\nTo: %s\nSubject: Re: confirmation\nIn-Reply-To: %s\n"
           "Message-ID: <%s@client>\nContent-Type: text/plain; charset=utf-8\n\nOui.\n"
           % (email.utils.parseaddr(str(conf["Reply-To"]))[1], conf["Message-ID"], os.urandom(6).hex()))
    b.deliver(raw, recipient=email.utils.parseaddr(str(conf["Reply-To"]))[1], sender="marc@client.fr")
    b.run("run", "--once", env={"BIDMAIL_NOW": "2026-03-09T07:00:30Z"})
    week1 = small_digest_mails(b, before, "leo@dev.fr")
    before = len(b.outgoing())
    t2 = "2026-03-16T07:00:00Z"
    b.run("digest", "--at", t2, env={"BIDMAIL_NOW": t2})
    week2 = small_digest_mails(b, before, "leo@dev.fr")
    texts = [m.get_body(("plain",)).get_content() for m in week1 + week2]
    expect(len(texts) == 2, "selections: %d" % len(texts))
    for title in ("Ancien Symfony", "Avant Symfony", "Apres Symfony", "Tardif Symfony"):
        n = sum(x.count(title) for x in texts)
        expect(n == 1, "%s selected %d times: %r" % (title, n, texts))
    expect("Apres Symfony" in texts[1] and "Tardif Symfony" in texts[1], "week 2: %r" % texts[1])


SMALL_BIDI = ["\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067", "\u2068", "\u2069",
              "\u200e", "\u200f", "\u061c"]


def test_small_page_masks_every_address_form_and_bidi():
    """A post whose text gives addresses in IDN, quoted, IP-literal and dotless forms, and a
    title and a body carrying bidirectional overrides (U+202E "exe.jpg" tricks) and
    isolates: the exported page, feed and JSON show none of the addresses, and neither
    they, the stored project nor the acknowledgement mail carry any bidirectional control."""
    b = Board().init()
    forms = ["jean@société.fr", '"jean dupont"@exemple.fr', "paul@[192.0.2.1]", "root@localhost",
             "léa@exemple.fr", "ivan@пример.рф"]
    body = ("Bonjour,\nNous cherchons un traducteur.\nContact : " + ", ".join(forms) +
            ".\nPièce jointe : facture\u202efdp.exe et \u2066isolé\u2069 \u200f.\n"
            "Ou jea\u202en@exemple.fr.\n")
    ack = publish(b, post_mail(subject="Traduction \u202eetis\u202c du site", body=body))
    out = os.path.join(b.dir, "site")
    b.run("export", "--out", out)
    files = [os.path.join(t, f) for t, _, fs in os.walk(out) for f in fs]
    expect(any(f.endswith("1001.html") for f in files), "no project page: %r" % files)
    leaks = ["société", "jean dupont", "192.0.2.1", "root@", "léa@", "ivan@", "jean@", "jea"]
    for f in files:
        data = open(f, encoding="utf-8").read()
        data_json = json.dumps(json.load(open(f))) if f.endswith(".json") else ""
        for a in leaks:
            expect(a not in data, "%s shows %r" % (os.path.relpath(f, out), a))
        for c in SMALL_BIDI:
            expect(c not in data and c.encode("unicode_escape").decode() not in data_json,
                   "%s carries U+%04X" % (os.path.relpath(f, out), ord(c)))
    stored = json.dumps(b.projects(), ensure_ascii=False)
    for c in SMALL_BIDI:
        expect(c not in stored, "the stored project carries U+%04X" % ord(c))
        text = ack.get_body(("plain",)).get_content() + str(ack["Subject"])
        expect(c not in text, "the acknowledgement carries U+%04X" % ord(c))
    expect("facturefdp.exe" in stored, "the text around the controls was lost: %r" % stored[:600])


def small_connect(port, source="127.0.0.1", timeout=10):
    """A TCP connection to 127.0.0.1:port from a chosen loopback source address."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.bind((source, 0))
    s.connect(("127.0.0.1", port))
    return s


def small_read_reply(s, seconds=10):
    """Reads one complete SMTP/LMTP reply (its last line has a space after the code)."""
    data = b""
    deadline = time.time() + seconds
    while time.time() < deadline:
        lines = data.split(b"\r\n")
        for l in lines[:-1]:
            if len(l) >= 4 and l[3:4] == b" ":
                return data.decode("utf-8", "replace")
        try:
            chunk = s.recv(4096)
        except socket.timeout:
            break
        if not chunk:
            break
        data += chunk
    return data.decode("utf-8", "replace")


def small_lmtp_board(extra=""):
    b = Board(extra).init()
    port = free_port()
    return b, port, lmtp_server(b, port)


def small_stop(p):
    p.terminate()
    try:
        err = p.communicate(timeout=30)[1]
    except subprocess.TimeoutExpired:
        p.kill()
        err = p.communicate(timeout=10)[1]
    if getattr(p, "log", None):
        err = open(p.log, "rb").read()
    err = (err or b"").decode("utf-8", "replace")
    expect("Sanitizer" not in err and "runtime error:" not in err, "sanitizer: %s" % err[-2000:])
    return err


def test_small_lmtp_bare_lf_dot_does_not_end_data():
    """Over LMTP only CR LF . CR LF ends the data: a `<LF>.<LF>` followed by a second MAIL,
    RCPT and DATA inside one message (an MTA passing bare LF through) stays part of that one
    message: one copy in the spool, one 250, no smuggled second transaction."""
    b, port, p = small_lmtp_board()
    try:
        s = small_connect(port)
        expect(small_read_reply(s).startswith("220"), "no greeting")
        replies = []
        for cmd in (b"LHLO mta.example.org", b"MAIL FROM:<jeanne@client.fr>", b"RCPT TO:<post@example.org>",
                    b"DATA"):
            s.sendall(cmd + b"\r\n")
            replies.append(small_read_reply(s))
        expect(replies[-1].startswith("354"), "DATA: %r" % replies)
        s.sendall(b"From: jeanne@client.fr\r\nSubject: Traduction\r\n\r\nBonjour, un traducteur ?\n.\n"
                  b"MAIL FROM:<mallory@evil.example>\nRCPT TO:<robot@example.org>\nDATA\n"
                  b"From: victim@client.fr\nSubject: unsubscribe\n\nunsubscribe\n.\n"
                  b"\r\n.\r\n")
        first = small_read_reply(s)
        s.sendall(b"QUIT\r\n")
        rest = small_read_reply(s)
        s.close()
    finally:
        small_stop(p)
    expect(first.startswith("250 2.0.0 <post@example.org>"), "end of data: %r" % first)
    expect(rest.startswith("221"), "after the data: %r (a smuggled command was answered?)" % rest)
    files = b.files("incoming/new")
    expect(len(files) == 1, "spool: %d messages (smuggled?)" % len(files))
    data = open(os.path.join(b.spool, "incoming", "new", files[0]), "rb").read()
    expect(b"recipient=<post@example.org>" in data.split(b"\n", 1)[0] and b"\n.\nMAIL FROM:<mallory" in data,
           "the message was cut or changed: %r" % data[:400])


def test_small_lmtp_idle_connections_do_not_fill_the_listener():
    """16 idle LMTP connections from one client address fill only its share (8; the rest get
    421 at once), and when two clients hold all 16 slots, a new connection (the MTA) gets in
    by closing the connection idle the longest (which is told 421): mail is still taken."""
    b, port, p = small_lmtp_board()
    held = []
    try:
        greet = []
        for _ in range(16):
            s = small_connect(port, "127.0.0.2")
            held.append(s)
            greet.append(small_read_reply(s, 5))
        ok = [g for g in greet if g.startswith("220")]
        refused = [g for g in greet if g.startswith("421")]
        expect(len(ok) == 8 and len(refused) == 8, "one client's share: %r" % greet)
        for _ in range(8):
            s = small_connect(port, "127.0.0.3")
            held.append(s)
            expect(small_read_reply(s, 5).startswith("220"), "second client refused")
        time.sleep(1.1)
        s = small_connect(port, "127.0.0.1")
        expect(small_read_reply(s, 5).startswith("220"), "the MTA was shut out")
        out = []
        for cmd in (b"LHLO mta", b"MAIL FROM:<jeanne@client.fr>", b"RCPT TO:<post@example.org>", b"DATA"):
            s.sendall(cmd + b"\r\n")
            out.append(small_read_reply(s))
        s.sendall(b"Subject: Traduction\r\n\r\nBonjour.\r\n.\r\n")
        out.append(small_read_reply(s))
        s.close()
        expect(out[-1].startswith("250 2.0.0"), "delivery: %r" % out)
        told = []
        for h in held:
            h.settimeout(0.5)
            try:
                told.append(h.recv(4096))
            except (socket.timeout, OSError):
                told.append(b"")
        expect(any(b"421 4.4.2" in t for t in told), "no idle connection was closed: %r" % told)
    finally:
        for h in held:
            h.close()
        small_stop(p)
    expect(len(b.files("incoming/new")) == 1, "spool: %r" % b.files("incoming/new"))


def test_small_lmtp_slow_client_cut_in_total_time():
    """lmtp_timeout bounds a command line and a message's data in all, not per byte: a client
    trickling a byte a second is told 421 and closed after lmtp_timeout (3 s here), in a
    command and in the data, while the old per-byte idle limit let it stay for hours."""
    b, port, p = small_lmtp_board("lmtp_timeout = 3\n")
    try:
        for phase in ("command", "data"):
            s = small_connect(port, "127.0.0.%d" % (5 if phase == "command" else 6))
            expect(small_read_reply(s).startswith("220"), "no greeting")
            if phase == "data":
                for cmd in (b"LHLO mta", b"MAIL FROM:<a@client.fr>", b"RCPT TO:<post@example.org>", b"DATA"):
                    s.sendall(cmd + b"\r\n")
                    small_read_reply(s)
            start = time.time()
            closed, said = None, b""
            for i in range(12):
                try:
                    s.sendall(b"x")
                except OSError:
                    closed = time.time() - start
                    break
                s.settimeout(1.0)
                try:
                    chunk = s.recv(4096)
                    said += chunk
                    if not chunk:
                        closed = time.time() - start
                        break
                except socket.timeout:
                    pass
                except OSError:
                    # our bytes after its close made it reset: closed too (was a flaky failure)
                    closed = time.time() - start
                    break
            s.close()
            expect(b"421 4.4.2" in said, "%s: not told 421: %r" % (phase, said))
            expect(closed is not None and closed < 6, "%s: still open after %s s" % (phase, closed))
    finally:
        small_stop(p)
    expect(b.files("incoming/new") == [], "a cut message was stored")


def small_http_board(extra=""):
    """A board with one subscriber and `bidmail http` on a free port: (board, port, process,
    the subscriber's unsubscribe key)."""
    b = Board("public_url = https://board.example.org/\n" + extra).init()
    subscribe(b, "leo@dev.fr", "Léo", "skills traduction", env={"BIDMAIL_NOW": "2026-03-02T06:00:00Z"})
    lu = str(last_mail(b, "leo@dev.fr")["List-Unsubscribe"])
    url = [u for u in lu.replace(" ", "").strip("<>").split(">,<") if u.startswith("https://")]
    key = url[0].rsplit("/", 1)[1]
    port = free_port()
    # the log goes to a file: a pipe nobody reads would block the server once full
    p = subprocess.Popen([BIDMAIL, "--config", b.conf, "http", "--listen", "127.0.0.1:%d" % port],
                         cwd=b.dir, stdout=subprocess.DEVNULL,
                         stderr=open(os.path.join(b.dir, "http.log"), "wb"))
    p.log = os.path.join(b.dir, "http.log")
    if not wait_port(port):
        p.kill()
        raise Failure("bidmail http did not listen: %s" % open(p.log).read()[-800:])
    return b, port, p, key


def small_http(port, method, path, body=None, source="127.0.0.1", timeout=5):
    """One request on a fresh connection from a chosen loopback address: (status, body)."""
    import http.client
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout, source_address=(source, 0))
    try:
        headers = {"Connection": "close"}
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        c.request(method, path, body=body, headers=headers)
        r = c.getresponse()
        return r.status, r.read().decode("utf-8", "replace")
    finally:
        c.close()


def test_small_http_flood_from_one_client_spares_the_others():
    """http_rate_limit counts per client address: while 127.0.0.2 floods the endpoint (and
    gets 429), every request of 127.0.0.1 within its own rate, the one-click POST included,
    is answered (the old global count made them 429 too)."""
    import threading
    b, port, p, key = small_http_board("http_rate_limit = 5\n")
    stop = threading.Event()
    codes = []

    def flood():
        deadline = time.time() + 30
        while not stop.is_set() and time.time() < deadline:
            try:
                codes.append(small_http(port, "GET", "/u/nokey", source="127.0.0.2", timeout=3)[0])
            except OSError:
                codes.append(0)
    t = threading.Thread(target=flood)
    t.start()
    mine = []
    try:
        time.sleep(0.5)
        for i in range(6):
            mine.append(small_http(port, "GET", "/u/" + key)[0])
            time.sleep(0.3)
        status, body = small_http(port, "POST", "/u/" + key, body="List-Unsubscribe=One-Click")
        mine.append(status)
    finally:
        stop.set()
        t.join(timeout=40)
        small_stop(p)
    expect(codes.count(429) > 20, "the flooder was not limited: %d requests, %d refused"
           % (len(codes), codes.count(429)))
    expect(mine == [200] * 7, "the other client's requests: %r" % mine)
    expect(subscribers(b)["leo@dev.fr"]["status"] == "unsubscribed", "the one-click POST did not unsubscribe")
    logged = open(p.log, encoding="utf-8", errors="replace").read().count("result=rate-limited")
    expect(0 < logged < 60, "the flood wrote %d log lines" % logged)


def test_small_http_oversized_body_refused_at_the_headers():
    """A POST announcing a Content-Length over 1 KB gets 413 at once, before any body byte is
    sent (the old endpoint waited for the body, then answered); with Expect: 100-continue it
    gets 413 and no 100 Continue."""
    b, port, p, key = small_http_board()
    try:
        for expect_100 in (False, True):
            s = small_connect(port)
            s.sendall(("POST /u/%s HTTP/1.1\r\nHost: board.example.org\r\nContent-Type: "
                       "application/x-www-form-urlencoded\r\nContent-Length: 100000000\r\n%s\r\n"
                       % (key, "Expect: 100-continue\r\n" if expect_100 else "")).encode())
            s.settimeout(3)
            got = b""
            try:
                while b"\r\n\r\n" not in got:
                    chunk = s.recv(4096)
                    if not chunk:
                        break
                    got += chunk
            except socket.timeout:
                pass
            s.close()
            expect(got.startswith(b"HTTP/1.1 413"), "expect=%s: %r" % (expect_100, got[:200]))
        expect(subscribers(b)["leo@dev.fr"]["status"] == "active", "a refused request unsubscribed")
    finally:
        small_stop(p)


def test_small_http_slow_connections_cut_in_total_time():
    """64 connections trickling a header byte a second (from 8 addresses, within the per-address
    limit and the idle timeout) take every slot; each is cut 10 s after it opened, so another
    client is answered within seconds (the old endpoint stayed blocked while they trickled)."""
    import threading
    b, port, p, key = small_http_board()
    slow = []
    stop = threading.Event()
    try:
        for i in range(64):
            s = small_connect(port, "127.0.0.%d" % (10 + i // 8))
            s.sendall(b"GET /u/" + key.encode() + b" HTTP/1.1\r\nHost: board.example.org\r\n")
            slow.append(s)
        start = time.time()

        def trickle():
            while not stop.is_set() and time.time() - start < 40:
                for s in slow:
                    try:
                        s.sendall(b"X")
                    except OSError:
                        pass
                stop.wait(1.0)
        t = threading.Thread(target=trickle)
        t.start()
        answered = None
        while time.time() - start < 30 and answered is None:
            try:
                status, _ = small_http(port, "GET", "/u/" + key, timeout=3)
                if status == 200:
                    answered = time.time() - start
            except OSError:
                time.sleep(0.2)
        stop.set()
        t.join(timeout=10)
        cut = 0
        for s in slow:
            s.settimeout(0.2)
            try:
                cut += s.recv(4096) == b""
            except socket.timeout:
                pass
            except OSError:
                cut += 1
    finally:
        stop.set()
        for s in slow:
            s.close()
        small_stop(p)
    expect(answered is not None and answered < 16, "another client waited %s s" % answered)
    expect(cut >= 60, "only %d of the 64 slow connections were cut" % cut)


def hostile_inputs_small(b):
    """Hostile mails of items 19 and 22, generated: bidirectional overrides and isolates in
    subjects, names and bodies, addresses in every form masking must catch, and lines built
    to put a dot right after a quoted-printable soft break. Each must end answered (or
    quarantined) without harming other mails; none needs any set-up of the board."""
    rlo, lri, pdi = "\u202e", "\u2066", "\u2069"
    out = []
    body = ("Bonjour,\nNous cherchons un d\u00e9veloppeur.\n" + "".join(
        "x" * n + "." * 3 + "\n" for n in range(70, 80)) + "." + "a" * 200 + "\n")
    # one poster each: a first-time poster gets one confirmation request a day (item 8)
    out.append(("qp-dots-at-the-soft-break", "post@example.org", "jeanne@client.fr",
                post_mail(subject="D\u00e9veloppeur " + "." * 60, body=body,
                          sender="Jeanne <jeanne@client.fr>").encode("utf-8")))
    out.append(("bidi-in-subject-and-body", "post@example.org", "paul@client.fr",
                post_mail(sender="Paul <paul@client.fr>", subject="Traduction " + rlo + "fdp.exe" + pdi,
                          body="Bonjour,\nfacture" + rlo + "fdp.exe et " + lri + "isol\u00e9" + pdi +
                               "\u200f\u200e\u202a\u202b\u202c\u202d\u2067\u2068\u061c\n").encode("utf-8")))
    out.append(("addresses-in-every-form", "post@example.org", "marie@client.fr",
                post_mail(sender="Marie <marie@client.fr>", subject="Contact jean@soci\u00e9t\u00e9.fr",
                          body="Bonjour,\n\u00c9crivez \u00e0 \"jean dupont\"@x.fr, a@[192.0.2.1], "
                               "b@[IPv6:2001:db8::1], root@localhost, ivan@\u043f\u0440\u0438\u043c\u0435\u0440.\u0440\u0444, "
                               "jea" + rlo + "n@x.fr.\n").encode("utf-8")))
    out.append(("bidi-in-the-display-name", "robot@example.org", "alice@free.fr",
                ("From: =?utf-8?b?%s?= <alice@free.fr>\nTo: robot@example.org\nSubject: aide\n"
                 "Message-ID: <%s@free.fr>\nContent-Type: text/plain; charset=utf-8\n\naide\n"
                 % (__import__("base64").b64encode(("Alice " + rlo + "nitraM").encode()).decode(),
                    os.urandom(6).hex())).encode("utf-8")))
    return out


def test_small_hostile_inputs_answered_clean():
    """Each mail of hostile_inputs_small is answered (or quarantined), and no mail the board
    sends carries a bidirectional control or a line starting with '.'."""
    b = Board().init()
    for label, rcpt, sender, raw in hostile_inputs_small(b):
        rc = b.deliver(raw, recipient=rcpt, sender=sender)
        expect(rc == 0, "%s: deliver exited %d" % (label, rc))
    b.run("run", "--once")
    sent = b.outgoing()
    expect(len(sent) >= 4, "answers: %d" % len(sent))
    for path in sent:
        raw, m = read_mail(path)
        expect(not any(l.startswith(b".") for l in raw.split(b"\r\n")), "%s: a line starts with '.'" % path)
        text = "".join(part.get_content() for part in m.walk() if part.get_content_maintype() == "text")
        text += "".join(str(v) for v in m.values())
        for c in SMALL_BIDI:
            expect(c not in text, "%s carries U+%04X" % (os.path.basename(path), ord(c)))
