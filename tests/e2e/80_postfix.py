"""e2e/80_postfix.py — a private Postfix delivering to bidmail deliver through the pipe service, and deferring.
Run by suite.py in file order; each test's boards are removed after it (board.cleanup_boards).
"""
import base64, email, email.policy, email.utils, glob, json, os, random, shutil, signal, sqlite3, subprocess  # noqa: F401
import socket, sys, tempfile, time  # noqa: F401

from board import *  # noqa: F401,F403
from board import BOARDS, HERE, ROOT, CORPUS  # noqa: F401
from postfix import Postfix  # noqa: F401
from dovecot import Dovecot  # noqa: F401
import board


def postfix_board():
    """A board whose spool the pipe's user (nobody) can write, and a Postfix routing
    example.org to it."""
    if os.geteuid() != 0:
        raise Failure("the Postfix tests need root (Postfix's master runs as root)")
    b = Board().init()
    os.chmod(b.dir, 0o755)
    for top, dirs, files in os.walk(b.spool):
        for n in dirs + files:
            shutil.chown(os.path.join(top, n), user="nobody")
    shutil.chown(b.spool, user="nobody")
    return b, Postfix(board.BIDMAIL, b.conf).start()


def test_postfix_pipe_delivers_to_bidmail():
    """A real Postfix, configured with contrib/postfix/ (pipe(8), flags=DRX, ${sender},
    ${recipient}), takes mail by SMTP from swaks and from msmtp (a real mail client) and hands
    it to `bidmail deliver`: both posts become projects, with their envelope."""
    b, pf = postfix_board()
    try:
        r = subprocess.run(["swaks", "--server", "127.0.0.1", "--port", str(pf.port),
                            "--from", "jeanne@client.fr", "--to", "post@example.org",
                            "--header", "Subject: Traduction d'un manuel", "--body",
                            "Bonjour,\nTraduction d'un manuel de 40 pages, budget 800 EUR.\n",
                            "--silent", "1"], capture_output=True, timeout=60)
        expect(r.returncode == 0, "swaks: %r" % r.stdout[-400:])
        msg = post_mail(subject="Site vitrine WordPress", sender="Paul <paul@client.fr>",
                        body="Un site vitrine de 5 pages.\n")
        r = subprocess.run(["msmtp", "--host=127.0.0.1", "--port=%d" % pf.port, "--auth=off",
                            "--tls=off", "--from=paul@client.fr", "post@example.org"],
                           input=msg.encode(), capture_output=True, timeout=60)
        expect(r.returncode == 0, "msmtp: %r" % r.stderr[-400:])
        n = pf.wait_delivered(2)
        expect(n == 2, "deliveries through the pipe: %d\n%s" % (n, pf.log_text()[-2000:]))
        envelopes = []
        for name in b.files("incoming/new"):
            with open(os.path.join(b.spool, "incoming/new", name), "rb") as f:
                envelopes.append(f.readline())
        expect(any(b"sender=<jeanne@client.fr> recipient=<post@example.org>" in e for e in envelopes),
               "envelopes: %r" % envelopes)
        b.run("run", "--once")
        titles = sorted(p["title"] for p in b.projects())
        expect(titles == ["Site vitrine WordPress", "Traduction d'un manuel"], "projects: %r" % titles)
    finally:
        pf.cleanup()
        b.cleanup()


def test_postfix_defers_when_deliver_fails_then_delivers():
    """When `bidmail deliver` cannot write the spool it exits 75: Postfix keeps the message
    (status=deferred), nothing half-written is left, and once the spool is writable again the
    retried delivery lands and the post becomes a project."""
    b, pf = postfix_board()
    tmp = os.path.join(b.spool, "incoming", "tmp")
    try:
        os.chmod(tmp, 0o500)
        r = subprocess.run(["swaks", "--server", "127.0.0.1", "--port", str(pf.port),
                            "--from", "jeanne@client.fr", "--to", "post@example.org",
                            "--header", "Subject: Correction d'un roman", "--body", "Relecture.\n",
                            "--silent", "1"], capture_output=True, timeout=60)
        expect(r.returncode == 0, "swaks: %r" % r.stdout[-400:])
        deadline = time.time() + 30
        while time.time() < deadline and "status=deferred" not in pf.log_text():
            time.sleep(0.2)
        expect("status=deferred" in pf.log_text(), "not deferred:\n%s" % pf.log_text()[-2000:])
        expect(b.files("incoming/new") == [] and b.files("incoming/tmp") == [], "half-written files")
        os.chmod(tmp, 0o750)
        pf.flush()
        n = pf.wait_delivered(1, timeout=60)
        expect(n == 1, "not delivered after the retry:\n%s" % pf.log_text()[-2000:])
        b.run("run", "--once")
        expect([p["title"] for p in b.projects()] == ["Correction d'un roman"], "projects: %r" % b.projects())
    finally:
        pf.cleanup()
        b.cleanup()
