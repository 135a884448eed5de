# t_budget.py — issue #11's budget test: every hostile input of the other t_*.py files
# (their hostile_inputs_PREFIX(board) generators) delivered together with 1,000 ordinary mails.
# Proves: all ordinary mails are handled, every hostile one is quarantined (with a reason file)
# or handled (answered or recorded in the ingest log), nothing stays in incoming/new, and the
# daemon's peak memory and total time stay within the bounds the README states.
# Exec'd in tests/suite.py's namespace (Board, expect, post_mail, Failure, …).

BUDGET_PEAK_RSS_MB = 256      # README: "Limits" table, peak resident memory of one run
BUDGET_TOTAL_SECONDS = 600    # README: the whole mix (about 1,000 + hostile mails), generous


def budget_ordinary_mails(n):
    """n ordinary mails from n distinct people: posts in French and English, and robot
    subscriptions, as (recipient, sender, raw)."""
    out = []
    for i in range(n):
        who = "person%04d@client%02d.example.net" % (i, i % 37)
        if i % 4 == 3:
            raw = ("From: Person %d <%s>\nTo: robot@example.org\nSubject: subscribe\n"
                   "Message-ID: <ord%d@client>\nDate: Tue, 4 Mar 2025 09:30:00 +0100\n"
                   "Content-Type: text/plain; charset=utf-8\n\nsubscribe\nskills python, django\n"
                   % (i, who, i))
            out.append(("robot@example.org", who, raw.encode()))
        elif i % 2:
            raw = post_mail(subject="Translation of a %d-page brochure" % (i % 90 + 2),
                            body="Hello,\nWe need an English to French translation of a brochure "
                                 "(%d pages), budget 400 EUR, within 2 weeks.\nThanks\n" % (i % 90 + 2),
                            sender="Person %d <%s>" % (i, who), msgid="<ord%d@client>" % i)
            out.append(("post@example.org", who, raw.encode()))
        else:
            raw = post_mail(subject="Site vitrine pour un cabinet n°%d" % i,
                            body="Bonjour,\nNous cherchons un développeur WordPress pour un site "
                                 "vitrine de 5 pages. Budget 1 500 € HT, livraison sous 3 semaines.\n",
                            sender="Personne %d <%s>" % (i, who), msgid="<ord%d@client>" % i)
            out.append(("post@example.org", who, raw.encode()))
    return out


def budget_hostile_mails(b):
    """Every hostile_inputs_* generator defined by the other test files, in name order."""
    mails = []
    for name, fn in sorted(globals().items()):
        if name.startswith("hostile_inputs_") and callable(fn):
            got = fn(b)
            expect(got, "%s gave no hostile input" % name)
            mails += [(name[len("hostile_inputs_"):] + ":" + label, rcpt, sender, raw)
                      for label, rcpt, sender, raw in got]
    return mails


def budget_run_measured(b, limit_s):
    """Runs `bidmail run --once` until incoming/new is empty (at most 4 starts: a crash
    must quarantine its culprit on the next start); returns (seconds, peak RSS in MB, starts)."""
    t0 = time.time()
    peak = 0
    starts = 0
    for starts in range(1, 5):
        log = open(os.path.join(b.dir, "run-%d.log" % starts), "w+b")
        p = subprocess.Popen([BIDMAIL, "--config", b.conf, "run", "--once"], cwd=b.dir,
                             stdout=subprocess.DEVNULL, stderr=log)
        deadline = t0 + limit_s
        while True:
            pid, status, ru = os.wait4(p.pid, os.WNOHANG)
            if pid:
                break
            if time.time() > deadline:
                p.kill()
                p.wait()
                raise Failure("run --once still going after %d s" % limit_s)
            time.sleep(0.05)
        log.seek(0)
        err = log.read().decode("utf-8", "replace")
        log.close()
        peak = max(peak, ru.ru_maxrss // 1024)
        if "Sanitizer" in err or "runtime error:" in err:
            raise Failure("sanitizer report:\n" + err[-3000:])
        if not b.files("incoming/new"):
            break
    return time.time() - t0, peak, starts


def test_budget_hostile_mix_with_1000_ordinary_mails():
    """Every hostile input of issue #11 delivered together with 1,000 ordinary mails: all
    ordinary mails handled, every hostile one quarantined with a reason or handled, peak memory
    and total time within the README's bounds."""
    b = Board().init()
    try:
        hostile = budget_hostile_mails(b)
        ordinary = budget_ordinary_mails(1000)
        mails = ordinary + [(r, s, raw) for _, r, s, raw in hostile]
        random.Random(11).shuffle(mails)
        for rcpt, sender, raw in mails:
            rc = b.deliver(raw, recipient=rcpt, sender=sender)
            expect(rc == 0, "deliver exited %d" % rc)
        seconds, peak_mb, starts = budget_run_measured(b, BUDGET_TOTAL_SECONDS)
        print("     (%d ordinary + %d hostile mails: %.1f s, peak %d MB, %d start(s))"
              % (len(ordinary), len(hostile), seconds, peak_mb, starts))
        expect(not b.files("incoming/new"), "left in incoming/new: %s" % b.files("incoming/new")[:5])
        # under AddressSanitizer freed memory waits in its quarantine (256 MB by default) and
        # every byte has its shadow: the bound that the README states is the plain build's
        limit_mb = BUDGET_PEAK_RSS_MB * (4 if LABEL.startswith("asan") else 1)
        expect(peak_mb < limit_mb, "peak RSS %d MB (limit %d MB)" % (peak_mb, limit_mb))
        expect(seconds < BUDGET_TOTAL_SECONDS, "took %.0f s" % seconds)
        # every ordinary sender got exactly one answer (confirmation request or robot reply)
        answered = {}
        for o in b.outbox():
            answered[o["to"].lower()] = answered.get(o["to"].lower(), 0) + 1
        missing = [s for _, s, _ in ordinary if answered.get(s.lower(), 0) != 1]
        expect(not missing, "%d ordinary senders without exactly one answer, e.g. %s"
               % (len(missing), missing[:3]))
        # every file is either in the ingest log or quarantined with its reason
        failed = [f for f in b.files("failed") if not f.endswith(".reason")]
        for f in failed:
            expect(os.path.exists(os.path.join(b.spool, "failed", f + ".reason")),
                   "quarantined %s without a reason file" % f)
        db = sqlite3.connect(os.path.join(b.dir, "var", "bidmail.db"))
        logged = db.execute("SELECT count(*) FROM ingested").fetchone()[0]
        db.close()
        expect(logged + len(failed) >= len(mails),
               "%d mails, %d in the ingest log, %d quarantined" % (len(mails), logged, len(failed)))
        expect(len(failed) <= len(hostile), "%d quarantined but only %d hostile" % (len(failed), len(hostile)))
    finally:
        b.cleanup()
