#!/usr/bin/env python3
"""idle_bench.py — what the daemon costs when nothing is due (issue 15).

A generated board (bench/board.py) on today's clock: SUBS weekly subscribers whose selection of
this week is already claimed, PROJECTS open projects published in the last six days, no bids.
`bidmail run` is started, left WARMUP seconds (its first passes look at everything once), then
its CPU time (utime + stime of /proc/PID/stat, every thread) is read over SECONDS and scaled to
an hour. Target: under 1 s per hour, whatever the size.
usage: bench/idle_bench.py [SUBS [PROJECTS [SECONDS [WARMUP]]]]   (BENCH_OUT: another work folder)
       (default 100000 1000 180 70; work in bench/out/idle)
"""
import datetime
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import board  # noqa: E402


def cpu_seconds(pid):
    """utime + stime of process pid (all its threads), in seconds."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def claim_this_week(b, nsubs):
    """Every subscriber's selection of the current ISO week (the board's zone) claimed."""
    os.environ["TZ"] = "Europe/Paris"
    time.tzset()
    period = time.strftime("%G-W%V", time.localtime())
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    db = sqlite3.connect(board.database(b))
    db.execute("BEGIN")
    db.executemany("INSERT OR IGNORE INTO digests(subscriber, period, claimed, projects)"
                   " VALUES(?, ?, ?, 0)", ((i + 1, period, now) for i in range(nsubs)))
    db.execute("UPDATE subscribers SET last_digest = ?", (now,))
    db.execute("COMMIT")
    db.close()
    return period


def main():
    a = [int(x) for x in sys.argv[1:]]
    nsubs, nproj, seconds, warmup = (a + [100000, 1000, 180, 70][len(a):])[:4]
    bidmail = os.environ.get("BIDMAIL", os.path.join(board.ROOT, "bidmail"))
    out = os.environ.get("BENCH_OUT", os.path.join(board.ROOT, "bench", "out", "idle"))
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    shutil.copy(bidmail, os.path.join(out, "bidmail.measured"))
    bidmail = os.path.join(out, "bidmail.measured")
    b = os.path.join(out, "board")
    conf = board.init(bidmail, b, "poll_interval = 2\n")
    now = int(time.time())
    day = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT00:00:00Z")
    board.fill(b, nsubs, nproj, now - 6 * 86400, now - 3600, created=day, activity=day)
    period = claim_this_week(b, nsubs)
    print("idle benchmark: %d weekly subscribers (%s claimed) x %d open projects, nothing due"
          % (nsubs, period, nproj), flush=True)
    p = subprocess.Popen([bidmail, "--config", conf, "run"], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    try:
        time.sleep(warmup)
        if p.poll() is not None:
            raise SystemExit("bidmail run stopped (status %s)" % p.returncode)
        c0, t0 = cpu_seconds(p.pid), time.time()
        time.sleep(seconds)
        c1, t1 = cpu_seconds(p.pid), time.time()
    finally:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout=60)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    per_hour = (c1 - c0) * 3600 / (t1 - t0)
    queued = sqlite3.connect(board.database(b)).execute("SELECT count(*) FROM outbox").fetchone()
    print("  warm-up %d s, then %.0f s measured: %.2f s of CPU -> %.1f CPU s per hour"
          " (target < 1); %d mails queued meanwhile" % (warmup, t1 - t0, c1 - c0, per_hour,
                                                         queued[0]))


if __name__ == "__main__":
    main()
