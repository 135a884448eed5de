#!/usr/bin/env python3
"""alert_bench.py — instant alerts at scale: from a project's publication to its alerts queued.

A generated board (bench/board.py) on today's clock: SUBS instant profiles (1-3 skills each
from the vocabulary), PROJECTS open projects of the last six days (published before the profiles were
made: no alerts for them; the daemon is left WARMUP seconds for its first passes). Then one post naming two
skills of the pool is delivered (`bidmail deliver`, as the MTA does), the board asks its poster
to confirm, and the poster's "yes" is delivered: its publication. Measured from that delivery: the time until its first alert is in the outbox,
and until the last (no new one for 3 s). Target: under 5 s at 1,000,000 profiles.
usage: bench/alert_bench.py [SUBS [PROJECTS [WARMUP]]]   (default 100000 100 90; bench/out/alert,
the daemon's log in bench/out/alert/daemon.log)
"""
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import board  # noqa: E402

POSTER = "client@bench.example"
POST = """From: Client Bench <%s>\r
To: post@example.org\r
Subject: Mission %s et %s\r
Date: %s\r
Message-ID: <alert-bench-%d@bench.example>\r
MIME-Version: 1.0\r
Content-Type: text/plain; charset=utf-8\r
Content-Transfer-Encoding: 8bit\r
\r
Bonjour,\r
\r
%s\r
\r
Compétences : %s, %s. Budget 2 000 EUR, livraison sous trois semaines.\r
"""


CONFIRM = """From: Client Bench <%s>\r
To: %s\r
Subject: Re: confirmation\r
In-Reply-To: %s\r
References: %s\r
Message-ID: <alert-bench-confirm-%d@bench.example>\r
Content-Type: text/plain; charset=utf-8\r
\r
Oui, publiez-le.\r
"""


def deliver(bidmail, conf, rcpt, mail):
    subprocess.run([bidmail, "--config", conf, "deliver", "--recipient", rcpt],
                   input=mail.encode(), check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)


def confirmation_request(b, limit=120.0):
    """(Reply-To, Message-ID) of the board's request to confirm the post, once written."""
    out = os.path.join(b, "spool", "outgoing")
    t0 = time.time()
    while time.time() - t0 < limit:
        for name in sorted(os.listdir(out)):
            with open(os.path.join(out, name), "rb") as f:
                head = f.read().split(b"\r\n\r\n", 1)[0].decode(errors="replace")
            h = dict((k.lower(), v.strip()) for k, _, v in
                     (line.partition(":") for line in head.split("\r\n")) if v)
            if h.get("to") == POSTER and "reply-to" in h:
                return h["reply-to"], h["message-id"]
        time.sleep(0.05)
    raise SystemExit("no confirmation request within %.0f s" % limit)


def alerts(db):
    return db.execute("SELECT count(*) FROM outbox WHERE kind = 'project_alert'").fetchone()[0]


def wait_alerts(db, before, limit=600.0):
    """(seconds to the first new alert, seconds to the last, how many) from now."""
    t0 = time.time()
    first = last = None
    n = before
    while time.time() - t0 < limit:
        k = alerts(db)
        if k > n:
            n, last = k, time.time() - t0
            if first is None:
                first = last
        elif last is not None and time.time() - t0 - last > 3:
            break
        time.sleep(0.05)
    return first, last, n - before


def main():
    a = [int(x) for x in sys.argv[1:]]
    nsubs, nproj, warmup = (a + [100000, 100, 90][len(a):])[:3]
    bidmail = os.environ.get("BIDMAIL", os.path.join(board.ROOT, "bidmail"))
    out = os.path.join(board.ROOT, "bench", "out", "alert")
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    shutil.copy(bidmail, os.path.join(out, "bidmail.measured"))
    bidmail = os.path.join(out, "bidmail.measured")
    b = os.path.join(out, "board")
    conf = board.init(bidmail, b, "poll_interval = 2\n")
    now = int(time.time())
    # the profiles are younger than every project: no alert before the one measured
    day = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - 3600))
    board.fill(b, nsubs, nproj, now - 6 * 86400, now - 7200, frequency="instant", created=day,
               activity=day)
    db = sqlite3.connect(board.database(b), timeout=30)
    print("alert benchmark: %d instant profiles, %d projects of the week" % (nsubs, nproj),
          flush=True)
    log = open(os.path.join(out, "daemon.log"), "wb")
    p = subprocess.Popen([bidmail, "--config", conf, "run"], stdout=subprocess.DEVNULL,
                         stderr=log)
    try:
        time.sleep(warmup)
        before = alerts(db)
        sk = board.skills_pool()[:2]
        import random
        text = board.filler_text(1200, random.Random(7))
        mail = POST % (POSTER, sk[0], sk[1], time.strftime("%a, %d %b %Y %H:%M:%S +0000",
                       time.gmtime()), now, text, sk[0], sk[1])
        deliver(bidmail, conf, "post@example.org", mail)
        reply_to, msgid = confirmation_request(b)
        t0 = time.time()
        deliver(bidmail, conf, reply_to, CONFIRM % (POSTER, reply_to, msgid, msgid, now))
        first, last, n = wait_alerts(db, before)
        dt = time.time() - t0
    finally:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout=60)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    status = db.execute("SELECT status FROM projects ORDER BY id DESC LIMIT 1").fetchone()
    print("  (warm-up %d s: %d alerts of the older projects queued before the post)"
          % (warmup, before))
    if first is None:
        print("  no alert within %.0f s (new project: %s)" % (dt, status and status[0]))
        return
    print("  publication -> first alert queued: %6.2f s, -> all %d alerts queued: %6.2f s"
          " (target < 5 s)" % (first, n, last))
    log.close()
    with open(os.path.join(out, "daemon.log"), errors="replace") as f:
        passes = [line.strip() for line in f if "step=alerts" in line]
    if passes:    # the pass's own measure: its wall and CPU time (bidmail's log line)
        print("  the alert pass: %s" % passes[-1].split("step=alerts", 1)[1].strip())


if __name__ == "__main__":
    main()
