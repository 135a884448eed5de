"""e2e/40_smtp_sink.py — sending over SMTP to Postfix's smtp-sink and through a real Postfix (STARTTLS, AUTH), and bounces.
Run by suite.py in file order; each test's boards are removed after it (board.cleanup_boards).
"""
import base64, email, email.policy, email.utils, glob, json, os, random, shutil, signal, sqlite3, subprocess  # noqa: F401
import socket, sys, tempfile, time  # noqa: F401

from board import *  # noqa: F401,F403
from board import BOARDS, HERE, ROOT, CORPUS  # noqa: F401
from postfix import Postfix  # noqa: F401
from dovecot import Dovecot  # noqa: F401
import board


def queue_posts(b, n, **kw):
    for i in range(n):
        b.deliver(post_mail(subject=kw.get("subject", "Projet %d") % i if "%d" in kw.get("subject", "Projet %d") else kw["subject"],
                            sender="Client %d <c%d@client.fr>" % (i, i)))
    b.run("run", "--once", env=kw.get("env"))


def check_received(b, sink, count):
    """Every received message: right envelope (signed VERP sender, one recipient = To),
    parseable by Python's email package and by bidmail's own parser, well-formed."""
    got = sink.messages()
    expect(len(got) == count, "sink received %d messages, want %d" % (len(got), count))
    for env, raw in got:
        raw = raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        m = email.message_from_bytes(raw, policy=email.policy.default)
        rcpt = env.get("X-Rcpt-Args", [""])
        expect(len(rcpt) == 1, "recipients %r" % rcpt)
        expect(rcpt[0].strip("<>") == m["To"].addresses[0].addr_spec, "RCPT %r vs To %r" % (rcpt, m["To"]))
        sender = env.get("X-Mail-Args", [""])[0].split()[0].strip("<>")
        expect(sender.startswith("bounce+m-") and sender.endswith("@example.org"), "MAIL FROM %r" % sender)
        expect(not m.defects and all(not p.defects for p in m.walk()), "defects %r" % m.defects)
        expect(m.get_content_type() == "multipart/alternative", m.get_content_type())
        expect(all(len(l) <= 998 for l in raw.split(b"\r\n")), "long line")
        path = os.path.join(b.dir, "received.eml")
        with open(path, "wb") as f:
            f.write(raw)
        own = json.loads(b.run("parse", path).stdout)
        expect(own["subject"] == str(m["Subject"]), "own parser: %r vs %r" % (own["subject"], m["Subject"]))
        expect(own["kind"] == "loop", "our own mail must read as a loop, got %r" % own["kind"])
    return got


def test_smtp_delivers_each_mail_once():
    """With a smarthost, every queued mail reaches the SMTP server exactly once, from the
    signed VERP sender to its one recipient, well-formed and parseable by two parsers."""
    sink = Sink().start()
    try:
        b = smtp_board(sink.url())
        queue_posts(b, 6)
        check_received(b, sink, 6)
        ob = b.outbox()
        expect(all(o["state"] == "sent" and o["attempts"] == 1 for o in ob), "outbox %r" % ob)
        b.run("send", "--once")
        expect(len(sink.messages()) == 6, "a second flush sent again")
    finally:
        sink.cleanup()


def test_smtp_4xx_defers_then_delivers():
    """A 4xx reply re-queues the mail with the server's reply recorded and a later next
    attempt; once the server accepts, it is delivered exactly once."""
    sink = Sink("-r", "RCPT").start()
    b = smtp_board(sink.url())
    try:
        queue_posts(b, 2, env={"BIDMAIL_NOW": "2026-03-02T08:00:00Z"})
        ob = b.outbox()
        expect(all(o["state"] == "queued" for o in ob), "states %r" % ob)
        expect(all("450" in (o["last_error"] or "") for o in ob), "errors %r" % [o["last_error"] for o in ob])
        expect(len(sink.messages()) == 0, "delivered despite 4xx")
        # too early: nothing is retried before the back-off
        b.run("send", "--once", env={"BIDMAIL_NOW": "2026-03-02T08:00:10Z"})
        expect(all(o["attempts"] == 1 for o in b.outbox()), "retried before the back-off")
    finally:
        sink.cleanup()
    sink2 = Sink(port=sink.port).start()
    try:
        b.run("send", "--once", env={"BIDMAIL_NOW": "2026-03-02T09:00:00Z"})
        check_received(b, sink2, 2)
        expect(all(o["state"] == "sent" for o in b.outbox()), "not sent after the retry")
    finally:
        sink2.cleanup()


def test_smtp_5xx_fails_at_once():
    """A 5xx reply fails the mail at once, with the server's reply recorded."""
    sink = Sink("-f", "RCPT").start()
    try:
        b = smtp_board(sink.url())
        queue_posts(b, 1)
        ob = b.outbox()
        expect(ob[0]["state"] == "failed", "state %r" % ob[0]["state"])
        expect("500" in ob[0]["last_error"] and "Error" in ob[0]["last_error"], "error %r" % ob[0]["last_error"])
    finally:
        sink.cleanup()


def test_smtp_server_down_then_up():
    """With the server down the mail waits (connection refused recorded); when it comes up,
    the mail is delivered exactly once."""
    from sink import free_port
    port = free_port()
    b = smtp_board("smtp://127.0.0.1:%d" % port)
    queue_posts(b, 3, env={"BIDMAIL_NOW": "2026-03-02T08:00:00Z"})
    ob = b.outbox()
    expect(all(o["state"] == "queued" and o["last_error"] for o in ob), "outbox %r" % ob)
    sink = Sink(port=port).start()
    try:
        b.run("send", "--once", env={"BIDMAIL_NOW": "2026-03-02T10:00:00Z"})
        check_received(b, sink, 3)
    finally:
        sink.cleanup()


def test_smtp_dropped_mid_transaction():
    """A connection dropped during the transaction (after DATA) re-queues the mail; the
    next attempt delivers it, once."""
    sink = Sink("-q", "DATA").start()
    b = smtp_board(sink.url())
    try:
        queue_posts(b, 2, env={"BIDMAIL_NOW": "2026-03-02T08:00:00Z"})
        ob = b.outbox()
        expect(all(o["state"] == "queued" and o["last_error"] for o in ob), "outbox %r" % ob)
        expect(len(sink.messages()) == 0, "a dropped transaction was dumped")
    finally:
        sink.cleanup()
    sink2 = Sink(port=sink.port).start()
    try:
        b.run("send", "--once", env={"BIDMAIL_NOW": "2026-03-02T12:00:00Z"})
        check_received(b, sink2, 2)
    finally:
        sink2.cleanup()


def test_smtp_gives_up_after_max_queue_age():
    """A mail still deferred after max_queue_age fails, with the reason."""
    sink = Sink("-r", "MAIL").start()
    try:
        b = smtp_board(sink.url(), "max_queue_age = 1d\n")
        queue_posts(b, 1, env={"BIDMAIL_NOW": "2026-03-02T08:00:00Z"})
        expect(b.outbox()[0]["state"] == "queued", "not deferred")
        b.run("send", "--once", env={"BIDMAIL_NOW": "2026-03-04T08:00:00Z"})
        o = b.outbox()[0]
        expect(o["state"] == "failed" and "given up" in o["last_error"], "outbox %r" % o)
    finally:
        sink.cleanup()


def test_smtp_starttls_required_through_postfix():
    """smtp_tls = required: the mail goes through STARTTLS to a real Postfix (its certificate
    signed by a CA made for the run, trusted through smtp_ca_file, the name checked), which
    relays it to smtp-sink, whole; against a server that offers no STARTTLS it waits, with
    the reason, and nothing is sent in clear."""
    from dovecot import make_ca
    if os.geteuid() != 0:
        raise Failure("the Postfix tests need root (Postfix's master runs as root)")
    sink = Sink().start()
    folder = tempfile.mkdtemp(prefix="bidmail-ca-")
    ca, cert, key = make_ca(folder)
    os.chmod(folder, 0o755)  # Postfix's smtpd reads them as user postfix
    os.chmod(key, 0o644)
    pf = None
    try:
        b = Board().init()
        pf = Postfix(board.BIDMAIL, b.conf, tls=(cert, key), relayhost="[127.0.0.1]:%d" % sink.port).start()
        with open(b.conf, "a") as f:
            f.write("smarthost = smtp://127.0.0.1:%d\nsmtp_tls = required\nsmtp_ca_file = %s\n"
                    % (pf.port, ca))
        queue_posts(b, 2)
        expect(all(o["state"] == "sent" for o in b.outbox()), "outbox %r" % b.outbox())
        deadline = time.time() + 30
        while time.time() < deadline and len(sink.messages()) < 2:
            time.sleep(0.2)
        expect(len(sink.messages()) == 2, "relayed: %d\n%s" % (len(sink.messages()), pf.log_text()[-1500:]))
        expect("TLS connection established from" in pf.log_text(), "no TLS in Postfix's log")
        # a server without STARTTLS: required means the mail waits
        b2 = smtp_board(sink.url(), "smtp_tls = required\n")
        queue_posts(b2, 1, env={"BIDMAIL_NOW": "2026-03-02T08:00:00Z"})
        o = b2.outbox()[0]
        expect(o["state"] == "queued" and o["last_error"], "sent without TLS: %r" % o)
    finally:
        if pf:
            pf.stop()
        sink.cleanup()
        shutil.rmtree(folder, ignore_errors=True)


def test_smtp_auth_after_starttls():
    """SMTP AUTH (smtp_user, smtp_password) after STARTTLS, against a real Postfix that lets
    only authenticated clients relay (its SASL is a private Dovecot's auth service): with the
    right password the mail is relayed; with a wrong one it waits with the server's refusal,
    and the password appears in no log line and no outbox field."""
    if os.geteuid() != 0:
        raise Failure("the Postfix tests need root (Postfix's master runs as root)")
    sink = Sink().start()
    dv = Dovecot().start()
    os.chmod(dv.dir, 0o755)
    pf = None
    try:
        b = Board().init()
        pf = Postfix(board.BIDMAIL, b.conf, tls=(os.path.join(dv.dir, "server.pem"), os.path.join(dv.dir, "server.key")),
                     relayhost="[127.0.0.1]:%d" % sink.port,
                     sasl="inet:127.0.0.1:%d" % dv.ports["auth"]).start()
        os.chmod(os.path.join(dv.dir, "server.key"), 0o644)
        base = ("smarthost = smtp://127.0.0.1:%d\nsmtp_tls = required\nsmtp_ca_file = %s\n"
                "smtp_user = %s\n" % (pf.port, dv.ca, dv.user))
        with open(b.conf, "a") as f:
            f.write(base + "smtp_password = %s\n" % dv.password)
        queue_posts(b, 1)
        deadline = time.time() + 30
        while time.time() < deadline and not sink.messages():
            time.sleep(0.2)
        expect(b.outbox()[0]["state"] == "sent" and len(sink.messages()) == 1,
               "with the right password: %r\n%s" % (b.outbox(), pf.log_text()[-1200:]))
        bad = Board("%ssmtp_password = wrong-password-xyz\n" % base).init()
        bad.deliver(post_mail(subject="Projet refusé"))
        p = bad.run("run", "--once", env={"BIDMAIL_NOW": "2026-03-02T08:00:00Z"})
        o = bad.outbox()[0]
        expect(o["state"] == "queued" and o["last_error"], "with a wrong password: %r" % o)
        expect("wrong-password-xyz" not in p.stderr.decode() and "wrong-password-xyz" not in json.dumps(bad.outbox()),
               "the password leaked")
    finally:
        if pf:
            pf.stop()
        dv.cleanup()
        sink.cleanup()


def test_smtp_dot_stuffing_and_line_ends():
    """Lines that start with a dot reach the server unchanged (stuffed on the wire, unstuffed
    by the server), bare LF lines become CRLF lines, a last line without a newline is ended:
    the message is whole, and the transaction ends once."""
    sink = Sink().start()
    try:
        b = smtp_board(sink.url())
        body = ".one dot\r\n..two dots\r\n.\r\nbare lf line\nlast line without newline"
        db = sqlite3.connect(os.path.join(b.dir, "var", "bidmail.db"))
        with db:
            db.execute("INSERT INTO outbox(id, kind, rcpt, sender, subject, token, created) VALUES"
                       "(1, 'test', 'leo@dev.fr', 'bounce@example.org', 's', 'tok1', '2026-03-02T08:00:00Z')")
            db.execute("INSERT INTO outbox_message(id, message) VALUES(1, ?)",
                       (("Subject: dots\r\n\r\n" + body).encode(),))
        db.close()
        b.run("send", "--once", env={"BIDMAIL_NOW": "2026-03-02T08:00:00Z"})
        expect(b.outbox()[0]["state"] == "sent", "outbox %r" % b.outbox())
        got = sink.messages()
        expect(len(got) == 1, "received %d" % len(got))
        text = got[0][1].split(b"Subject: dots", 1)[1]
        expect(b"\n.one dot\n..two dots\n.\nbare lf line\nlast line without newline\n" in text.replace(b"\r\n", b"\n"),
               "body on arrival: %r" % text)
    finally:
        sink.cleanup()


def test_smtp_malicious_names_and_subjects():
    """Names and subjects with CR/LF, NUL, control bytes, 10,000 characters and bidi
    overrides: what reaches the server stays well-formed, with one recipient each."""
    sink = Sink().start()
    try:
        b = smtp_board(sink.url())
        hostile = [
            ("=?UTF-8?Q?Eve=0D=0ABcc:_x@evil.example?=", "=?UTF-8?Q?T=0D=0AX-Injected:_1?="),
            ("Null\u0000Byte", "Sub\u0001ject\u001b[31m"),
            ("\u202eReversed", "\u202e" + "L" * 10000),
        ]
        for i, (name, subject) in enumerate(hostile):
            raw = ("From: %s <h%d@client.fr>\nTo: post@example.org\nSubject: %s\nMessage-ID: <h%d@c>\n\nx\n"
                   % (name, i, subject, i))
            b.deliver(raw)
        b.run("run", "--once")
        got = check_received(b, sink, 3)
        for env, raw in got:
            m = email.message_from_bytes(raw, policy=email.policy.default)
            names = [k.lower() for k in m.keys()]
            expect("bcc" not in names and "x-injected" not in names, "header injected: %r" % names)
            expect(b"\x00" not in raw and b"\x1b" not in raw, "control bytes reached the wire")
    finally:
        sink.cleanup()


def test_bounce_matched_and_address_disabled():
    """A DSN sent back to the VERP address is matched to its outbox row; three hard bounces
    on three days disable the address, which gets one final notice; bounces are never
    answered otherwise."""
    sink = Sink().start()
    try:
        b = smtp_board(sink.url())
        days = ["2026-03-02", "2026-03-03", "2026-03-04"]
        seen = set()
        for n, day in enumerate(days):
            env = {"BIDMAIL_NOW": day + "T08:00:00Z"}
            b.deliver(post_mail(subject="Projet %d" % n, sender="Gone <gone@client.fr>"), env=env)
            b.run("run", "--once", env=env)
            senders = {m[0]["X-Mail-Args"][0].split()[0].strip("<>") for m in sink.messages()}
            new = senders - seen
            expect(len(new) == 1, "new envelope senders: %r" % new)
            sender = new.pop()
            seen.add(sender)
            dsn = ("From: MAILER-DAEMON@mx.client.fr\nTo: %s\nSubject: Undelivered Mail\n"
                   "Message-ID: <dsn%d@mx>\nMIME-Version: 1.0\nContent-Type: multipart/report; "
                   "report-type=delivery-status; boundary=\"B\"\n\n--B\nContent-Type: text/plain\n\nfailed\n"
                   "--B\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx\n\n"
                   "Final-Recipient: rfc822; gone@client.fr\nAction: failed\nStatus: 5.1.1\n--B--\n" % (sender, n))
            b.deliver(dsn, recipient=sender, sender="", env=env)
            b.run("run", "--once", env=env)
        msgs = sink.messages()
        # three acknowledgements and one final notice, nothing else
        expect(len(msgs) == 4, "sink got %d messages" % len(msgs))
        parsed = [email.message_from_bytes(raw, policy=email.policy.default) for _, raw in msgs]
        notices = [m for m in parsed if "ne reçoit plus" in str(m["Subject"])]
        expect(len(notices) == 1, "final notices: %d" % len(notices))
        last = notices[0]
        expect(last["To"].addresses[0].addr_spec == "gone@client.fr", "final notice to %r" % last["To"])
        text = last.get_body(("plain",)).get_content()
        expect("gone@client.fr" in text and "resume" in text, "final notice %r" % text)
        db = sqlite3.connect(os.path.join(b.dir, "var", "bidmail.db"))
        row = db.execute("SELECT score, hard, disabled FROM addresses WHERE address='gone@client.fr'").fetchone()
        bounced = db.execute("SELECT count(*) FROM outbox WHERE bounce_status='5.1.1'").fetchone()[0]
        db.close()
        expect(row == (3.0, 3, 1), "address row %r" % (row,))
        expect(bounced == 3, "outbox rows with the bounce status: %d" % bounced)
        st = json.loads(b.run("status", "--json").stdout)
        expect(st["bounce_disabled"] == ["gone@client.fr"], "status: %r" % st["bounce_disabled"])
    finally:
        sink.cleanup()
