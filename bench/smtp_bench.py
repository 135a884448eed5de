#!/usr/bin/env python3
"""smtp_bench.py — SMTP sending speed: N queued mails sent by `bidmail send --once` to Postfix's
smtp-sink, beside Postfix's own smtp-source sending N messages of the same size to the same
sink with the same number of connections (each reused: -d), in the same run, at 1 and 4
connections. Prints messages/s and the ratios. Nothing is dumped to disk by the sink.
usage: smtp_bench.py BIDMAIL WORKDIR [N]
"""
import os, sqlite3, subprocess, sys, time
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
from sink import Sink, SMTP_SOURCE  # noqa: E402

def main():
    bidmail, work, n = os.path.abspath(sys.argv[1]), sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 10000
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    os.makedirs(work, exist_ok=True)
    # one real acknowledgement, rendered by bidmail, is the message every row carries
    sample = ("Date: Mon, 2 Mar 2026 08:00:00 +0000\r\nFrom: \"bidmail\" <post@example.org>\r\n"
              "To: <freelance@example.net>\r\nSubject: =?UTF-8?B?UHJvamV0IG7CsCAxMDAx?=\r\n"
              "Message-ID: <bench@example.org>\r\nMIME-Version: 1.0\r\n"
              "Content-Type: text/plain; charset=UTF-8\r\n\r\n" + ("Bonjour, voici votre projet.\r\n" * 70))
    body_len = len(sample.split("\r\n\r\n", 1)[1])
    print("smtp benchmark: %d messages of %d bytes (%d of body)" % (n, len(sample), body_len))
    for conns in (1, 4):
        sink = Sink(dump=False).start()
        try:
            src = ours = 0
            for rnd in range(5):  # alternating rounds, best of five each: this machine is noisy
                s, o, sent = one_round(bidmail, work, root, sink, conns, n, body_len, sample, rnd)
                src, ours = max(src, s), max(ours, o)
            print("  %d connection%s: smtp-source %7.0f msg/s   bidmail send %7.0f msg/s   ratio %.2f%s"
                  % (conns, "" if conns == 1 else "s", src, ours, ours / src,
                     "" if sent == n else "   (only %d of %d sent!)" % (sent, n)))
        finally:
            sink.cleanup()

def one_round(bidmail, work, root, sink, conns, n, body_len, sample, rnd):
    if True:
        if True:
            # smtp-source: same count, same size, same connections, each connection reused
            t = time.time()
            subprocess.run([SMTP_SOURCE, "-d", "-s", str(conns), "-m", str(n), "-l", str(body_len),
                            "-f", "bounce@example.org", "-t", "freelance@example.net",
                            "127.0.0.1:%d" % sink.port], check=True, capture_output=True, timeout=600)
            src = n / (time.time() - t)
            board = os.path.join(work, "smtp-%d-%d" % (conns, rnd))
            os.makedirs(board, exist_ok=True)
            conf = os.path.join(board, "bidmail.conf")
            with open(conf, "w") as f:
                f.write("templates = %s/mail-templates\nsmarthost = %s\nsmtp_connections = %d\n"
                        % (root, sink.url(), conns))
            subprocess.run([bidmail, "--config", conf, "init"], check=True, capture_output=True)
            db = sqlite3.connect(os.path.join(board, "var", "bidmail.db"))
            with db:
                db.executemany("INSERT INTO outbox(id, kind, rcpt, sender, subject, token, created)"
                               " VALUES(?, 'bench', 'freelance@example.net', 'bounce@example.org', 's', ?,"
                               " '2026-03-02T08:00:00Z')", [(i + 1, "%032x" % i) for i in range(n)])
                db.executemany("INSERT INTO outbox_message(id, message) VALUES(?, ?)",
                               [(i + 1, sample.encode()) for i in range(n)])
            db.close()
            t = time.time()
            subprocess.run([bidmail, "--config", conf, "send", "--once"], check=True, capture_output=True,
                           timeout=600, env=dict(os.environ, BIDMAIL_NOW="2026-03-02T08:00:00Z"))
            ours = n / (time.time() - t)
            db = sqlite3.connect(os.path.join(board, "var", "bidmail.db"))
            sent = db.execute("SELECT count(*) FROM outbox WHERE state='sent'").fetchone()[0]
            db.close()
            return src, ours, sent

main()
