"""e2e/20_daemon.py — the daemon as a process: arrivals picked up, SIGTERM, SIGHUP, progress on a terminal.
Run by suite.py in file order; each test's boards are removed after it (board.cleanup_boards).
"""
import base64, email, email.policy, email.utils, glob, json, os, random, shutil, signal, sqlite3, subprocess  # noqa: F401
import socket, sys, tempfile, time  # noqa: F401

from board import *  # noqa: F401,F403
from board import BOARDS, HERE, ROOT, CORPUS  # noqa: F401
from postfix import Postfix  # noqa: F401
from dovecot import Dovecot  # noqa: F401
import board


def test_daemon_picks_up_arrivals_and_stops_on_sigterm():
    """The daemon processes mail as it arrives, and SIGTERM makes it finish and exit 0."""
    b = Board("poll_interval = 30\n").init()
    d = subprocess.Popen([board.BIDMAIL, "--config", b.conf, "run"], stderr=subprocess.PIPE, cwd=b.dir)
    try:
        time.sleep(0.3)
        b.deliver(post_mail(subject="Arrivée en direct"))
        for _ in range(100):  # at most 10 s
            if b.outgoing():
                break
            time.sleep(0.1)
        expect(len(b.outgoing()) == 1, "daemon did not process the arrival within 10 s")
    finally:
        d.send_signal(signal.SIGTERM)
        try:
            rc = d.wait(timeout=10)
        except subprocess.TimeoutExpired:
            d.kill()
            d.wait()
            raise Failure("daemon ignored SIGTERM for 10 s")
    err = d.stderr.read().decode()
    expect("Sanitizer" not in err and "runtime error:" not in err, err[-2000:])
    expect(rc == 0, "exit %d after SIGTERM" % rc)
    expect("result=stopped" in err, "no stop line in log")


def test_daemon_reloads_on_sighup():
    """SIGHUP reloads the config: a new board_name shows in the next mail."""
    b = Board("poll_interval = 30\n").init()
    d = subprocess.Popen([board.BIDMAIL, "--config", b.conf, "run"], stderr=subprocess.PIPE, cwd=b.dir)
    try:
        time.sleep(0.3)
        with open(b.conf, "a") as f:
            f.write("board_name = Bourse Rechargée\n")
        d.send_signal(signal.SIGHUP)
        time.sleep(0.3)
        b.deliver(post_mail(subject="Après rechargement"))
        for _ in range(100):
            if b.outgoing():
                break
            time.sleep(0.1)
        expect(b.outgoing(), "nothing sent")
        raw, m = read_mail(b.outgoing()[0])
        expect("Bourse Rechargée" in str(m["From"]), "From %r" % m["From"])
    finally:
        d.send_signal(signal.SIGTERM)
        try:
            d.wait(timeout=10)
        except subprocess.TimeoutExpired:
            d.kill()
            d.wait()


def test_long_operations_show_progress_on_a_terminal():
    """On a terminal, processing the spool and a digest run draw their progress in place and
    end with a summary line; into a pipe or a log they print neither."""
    import pty
    b = Board().init()
    env = {"BIDMAIL_NOW": "2026-03-02T06:00:00Z"}
    for i in range(3):
        subscribe(b, "p%d@dev.fr" % i, "P%d" % i, "skills traduction", env=env)
    for i in range(5):
        b.deliver(post_mail(subject="Traduction %d" % i, sender="C%d <c%d@client.fr>" % (i, i)))

    def on_tty(*args, env=None):
        master, slave = pty.openpty()
        e = dict(os.environ)
        e.update(env or {})
        p = subprocess.Popen([board.BIDMAIL, "--config", b.conf] + list(args), cwd=b.dir, env=e,
                             stdout=subprocess.PIPE, stderr=slave)
        os.close(slave)
        out = b""
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
        p.wait(timeout=60)
        os.close(master)
        return out.decode("utf-8", "replace")

    tty = on_tty("run", "--once", env=env)
    expect("\rspool: 5/5 (100%)" in tty and "spool: 5 messages processed" in tty,
           "spool progress: %r" % tty[-600:])
    quiet = b.run("digest", "--at", "2026-03-09T08:00:00+01:00", "--dry-run").stderr.decode()
    expect("\r" not in quiet and "digest:" not in quiet, "progress into a pipe: %r" % quiet)
    tty = on_tty("digest", "--at", "2026-03-09T08:00:00+01:00", "--dry-run")
    expect("\rdigest: 3/3 (100%)" in tty and "digest: 3 subscribers" in tty, "digest progress: %r" % tty[-600:])
