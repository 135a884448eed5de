"""e2e/60_lmtp.py — the LMTP listener, driven by swaks and by a real Postfix lmtp: transport.
Run by suite.py in file order; each test's boards are removed after it (board.cleanup_boards).
"""
import base64, email, email.policy, email.utils, glob, json, os, random, shutil, signal, sqlite3, subprocess  # noqa: F401
import socket, sys, tempfile, time  # noqa: F401

from board import *  # noqa: F401,F403
from board import BOARDS, HERE, ROOT, CORPUS  # noqa: F401
from postfix import Postfix  # noqa: F401
from dovecot import Dovecot  # noqa: F401
import board


def swaks_lmtp(port, to, body="Bonjour,\nNous cherchons un traducteur.\n.une ligne qui commence par un point\n"):
    r = subprocess.run(["swaks", "--protocol", "LMTP", "--server", "127.0.0.1", "--port", str(port),
                        "--from", "jeanne@client.fr", "--to", to, "--header",
                        "Subject: Traduction par LMTP", "--body", body], capture_output=True, timeout=60)
    return r.stdout.decode("utf-8", "replace")


def test_lmtp_replies_per_recipient():
    """`bidmail lmtp` (tested with swaks --protocol LMTP): a recipient outside the board's
    domain is refused at RCPT (550); after the data each accepted recipient gets its own 250,
    once its copy is in the spool with its envelope; dot-stuffing is undone; the post becomes a
    project and the robot answers the other copy."""
    b = Board().init()
    port = free_port()
    p = lmtp_server(b, port)
    try:
        out = swaks_lmtp(port, "post@example.org,robot@example.org,someone@elsewhere.example")
    finally:
        p.terminate()
        err = p.communicate(timeout=20)[1].decode()
    expect("550 5.1.1 <someone@elsewhere.example>" in out, "foreign recipient not refused: %s" % out[-1500:])
    replies = [l for l in out.splitlines() if l.startswith("<-  250 2.0.0 <")]
    expect(len(replies) == 2 and "post@example.org" in replies[0] and "robot@example.org" in replies[1],
           "per-recipient replies: %r" % replies)
    expect(p.returncode == 0 and "Sanitizer" not in err, "exit %s: %s" % (p.returncode, err[-800:]))
    envs = {}
    for n in b.files("incoming/new"):
        with open(os.path.join(b.spool, "incoming", "new", n), "rb") as f:
            data = f.read()
        envs[data.split(b"\n", 1)[0].decode()] = data
    expect(len(envs) == 2 and all(b"\n.une ligne" in d and b"\r\n" not in d for d in envs.values()),
           "spool: %r" % list(envs))
    expect(any("recipient=<post@example.org>" in e for e in envs) and
           any("recipient=<robot@example.org>" in e for e in envs), "envelopes: %r" % list(envs))
    b.run("run", "--once")
    expect([pr["title"] for pr in b.projects()] == ["Traduction par LMTP"], "projects: %r" % b.projects())


def test_lmtp_451_when_the_spool_fails_then_250():
    """When a copy cannot be stored (spool/incoming/tmp gone), that recipient gets 451 (the MTA
    keeps it and retries) and nothing is left half-written; once the spool is back, 250."""
    b = Board().init()
    tmp = os.path.join(b.spool, "incoming", "tmp")
    port = free_port()
    p = lmtp_server(b, port)
    try:
        os.rename(tmp, tmp + ".away")
        out = swaks_lmtp(port, "post@example.org")
        expect("451 4.3.0 <post@example.org>" in out, "no 451: %s" % out[-1200:])
        expect(b.files("incoming/new") == [], "stored anyway")
        os.rename(tmp + ".away", tmp)
        out = swaks_lmtp(port, "post@example.org")
        expect("250 2.0.0 <post@example.org>" in out, "no 250 after repair: %s" % out[-1200:])
        expect(len(b.files("incoming/new")) == 1 and b.files("incoming/tmp") == [], "spool after repair")
    finally:
        p.terminate()
        p.communicate(timeout=20)


def test_postfix_lmtp_to_the_daemon():
    """A real Postfix routes the board's domain with lmtp: (contrib/postfix/transport-lmtp) to
    the daemon's LMTP listener (lmtp_listen): mail sent to Postfix with swaks becomes a
    project, and Postfix logs the delivery as sent."""
    if os.geteuid() != 0:
        raise Failure("the Postfix tests need root (Postfix's master runs as root)")
    port = free_port()
    b = Board("lmtp_listen = 127.0.0.1:%d\npoll_interval = 1\n" % port).init()
    log = open(os.path.join(b.dir, "daemon.log"), "w+")
    d = subprocess.Popen([board.BIDMAIL, "--config", b.conf, "run"], stderr=log, cwd=b.dir)
    pf = None
    try:
        expect(wait_port(port), "the daemon's LMTP listener is not there")
        pf = Postfix(board.BIDMAIL, b.conf, lmtp="inet:127.0.0.1:%d" % port).start()
        r = subprocess.run(["swaks", "--server", "127.0.0.1", "--port", str(pf.port),
                            "--from", "jeanne@client.fr", "--to", "post@example.org",
                            "--header", "Subject: Relecture par LMTP", "--body",
                            "Bonjour,\nRelecture d'un mémoire de 80 pages, 300 EUR.\n",
                            "--silent", "1"], capture_output=True, timeout=60)
        expect(r.returncode == 0, "swaks: %r" % r.stdout[-400:])
        n = pf.wait_delivered(1, relay="relay=127.0.0.1[127.0.0.1]:%d" % port)
        expect(n == 1, "postfix did not deliver over LMTP: %s" % pf.log_text()[-1500:])
        deadline = time.time() + 20
        while time.time() < deadline and not b.projects():
            time.sleep(0.2)
        expect([p["title"] for p in b.projects()] == ["Relecture par LMTP"], "projects: %r" % b.projects())
    finally:
        if pf:
            pf.stop()
        d.send_signal(signal.SIGTERM)
        rc = d.wait(timeout=20)
    log.seek(0)
    err = log.read()
    expect(rc == 0 and "Sanitizer" not in err and "runtime error:" not in err, err[-1500:])
