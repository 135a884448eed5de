"""t_digestscale.py — issue #15, selections whose work is proportional to news (digest.c): a
selection lists at most 50 projects and then says how many more matched and where to see them,
under 100 KB; the minute pass reads only what is due (next_due, kept by the store on every
change); instant alerts match only what was published since the watermark. Boards are
generated straight into the database where a conversation would be too long. Exec'd in
suite.py's namespace."""
import re, sqlite3


def digestscale_copies(b, n, first_pub):
    """Adds n copies of the board's only project, open, titled "Projet Symfony K" (K = 1..n),
    published a minute apart from first_pub (2026-03-05T09:MM:00Z), straight into the
    database."""
    db = sqlite3.connect(os.path.join(b.dir, "var", "bidmail.db"))
    cols = [r[1] for r in db.execute("PRAGMA table_info(projects)") if r[1] != "id"]
    src = db.execute("SELECT id FROM projects").fetchone()[0]
    with db:
        for k in range(1, n + 1):
            cur = db.execute("INSERT INTO projects(%s) SELECT %s FROM projects WHERE id = ?"
                             % (", ".join(cols), ", ".join(cols)), (src,))
            db.execute("UPDATE projects SET title = ?, published = ?, created = ? WHERE id = ?",
                       ("Projet Symfony %d" % k, first_pub % (k // 60, k % 60),
                        first_pub % (k // 60, k % 60), cur.lastrowid))
    db.close()


def digestscale_board(extra=""):
    """A board where Léo (weekly, Symfony) is subscribed and 57 Symfony projects are open,
    published after him."""
    b = Board(extra).init()
    subscribe(b, "leo@dev.fr", "Léo", "skills symfony", env={"BIDMAIL_NOW": "2026-03-04T10:00:00Z"})
    publish(b, post_mail(subject="Refonte Symfony", body="Site en Symfony 6, budget 3 000 € HT.\n"),
            env={"BIDMAIL_NOW": "2026-03-05T08:00:00Z"})
    digestscale_copies(b, 56, "2026-03-05T1%d:%02d:00Z")
    return b


def test_digestscale_selection_lists_50_then_says_how_many_more():
    """57 projects match: the selection lists the 50 newest, then one line saying 7 more matched
    and that `test` to the subscriber's signed robot address shows them; the mail stays under
    100 KB; the dry run says how many are not listed."""
    b = digestscale_board()
    dry = b.run("digest", "--at", "2026-03-09T07:00:00Z", "--dry-run",
                env={"BIDMAIL_NOW": "2026-03-09T07:00:00Z"}).stdout.decode()
    expect("leo@dev.fr 2026-W11: 50 projects (7 more not listed)" in dry, "dry run: %r" % dry[:300])
    b.run("digest", "--at", "2026-03-09T07:00:00Z", env={"BIDMAIL_NOW": "2026-03-09T07:00:00Z"})
    path = b.outgoing()[-1]
    raw, m = read_mail(path)
    text = m.get_body(("plain",)).get_content()
    listed = re.findall(r"^#(\d+) ", text, re.M)
    expect(len(listed) == 50, "projects listed: %d" % len(listed))
    expect("Projet Symfony 56" in text and "Refonte Symfony" not in text,
           "not the 50 newest first: %r" % listed[:3])
    robot = email.utils.parseaddr(str(m["Reply-To"]))[1]
    expect("7 autre(s) projet(s) correspondent à votre profil sans figurer ici" in text,
           "no line for the 7 more: %r" % text[-800:])
    expect("« test » à %s" % robot in " ".join(text.split()), "the line does not name the test reply")
    html = m.get_body(("html",)).get_content()
    expect("7 autre(s) projet(s)" in html, "the html part lacks the line")
    expect(len(raw) < 100 * 1024, "selection of %d bytes" % len(raw))
    expect(str(m["Subject"]).startswith("50 projet"), "subject %r" % str(m["Subject"]))


def test_digestscale_more_line_names_the_board_page_in_english():
    """With public_url set, the line names the board's page too; in English for an English
    subscriber."""
    b = digestscale_board("public_url = https://jobs.example.org/\nlanguage = en\n")
    db = sqlite3.connect(os.path.join(b.dir, "var", "bidmail.db"))
    with db:
        db.execute("UPDATE subscribers SET language = 'en'")
    db.close()
    b.run("digest", "--at", "2026-03-09T07:00:00Z", env={"BIDMAIL_NOW": "2026-03-09T07:00:00Z"})
    m = read_mail(b.outgoing()[-1])[1]
    text = " ".join(m.get_body(("plain",)).get_content().split())
    expect("7 more project(s) matched your profile and are not listed here: see every open project"
           " on https://jobs.example.org/" in text, "line: %r" % text[-600:])


def test_digestscale_idle_pass_reads_nothing_and_moves_next_due():
    """After the weekly run each subscriber's next_due is next Monday 08:00 Paris; a pass in
    between sends nothing; a pause clears next_due, a resume makes the subscriber due at the
    next pass, which sends the week's selection if it was not sent."""
    b = digestscale_board()
    dbp = os.path.join(b.dir, "var", "bidmail.db")
    b.run("digest", "--at", "2026-03-09T07:00:00Z", env={"BIDMAIL_NOW": "2026-03-09T07:00:00Z"})
    due = sqlite3.connect(dbp).execute("SELECT next_due FROM subscribers").fetchall()
    expect(due == [("2026-03-16T07:00:00Z",)], "next_due %r" % due)
    n = len(b.outgoing())
    b.run("digest", "--at", "2026-03-10T07:00:00Z", env={"BIDMAIL_NOW": "2026-03-10T07:00:00Z"})
    expect(len(b.outgoing()) == n, "a pass with nothing due sent mail")
    db = sqlite3.connect(dbp)
    with db:
        db.execute("UPDATE subscribers SET status = 'paused'")
    expect(db.execute("SELECT next_due FROM subscribers").fetchall() == [(None,)], "paused but due")
    with db:
        db.execute("UPDATE subscribers SET status = 'active'")
    expect(db.execute("SELECT next_due FROM subscribers").fetchall() == [("",)], "resumed, not due")
    db.close()
    b.run("digest", "--at", "2026-03-10T08:00:00Z", env={"BIDMAIL_NOW": "2026-03-10T08:00:00Z"})
    expect(len(b.outgoing()) == n, "the week's selection sent twice after a resume")
    due = sqlite3.connect(dbp).execute("SELECT next_due FROM subscribers").fetchall()
    expect(due == [("2026-03-16T07:00:00Z",)], "next_due after resume %r" % due)


def test_digestscale_instant_alerts_match_only_news():
    """An instant subscriber gets one alert per new project; a pass with nothing published
    since the watermark sends nothing, and a project published later is alerted once."""
    b = Board().init()
    subscribe(b, "ana@dev.fr", "Ana", "skills symfony\nfrequency instant",
              env={"BIDMAIL_NOW": "2026-03-04T10:00:00Z"})
    publish(b, post_mail(subject="Refonte Symfony", body="Site en Symfony 6, budget 3 000 € HT.\n"),
            env={"BIDMAIL_NOW": "2026-03-05T08:00:00Z"})
    alerts = lambda: [p for p in b.outgoing() if read_mail(p)[1]["To"].addresses[0].addr_spec == "ana@dev.fr"
                      and "Symfony" in str(read_mail(p)[1]["Subject"])]
    expect(len(alerts()) == 1, "alerts after the first project: %d" % len(alerts()))
    mark = sqlite3.connect(os.path.join(b.dir, "var", "bidmail.db")).execute(
        "SELECT at FROM digest_marks WHERE name = 'alerts'").fetchall()
    expect(len(mark) == 1, "no watermark: %r" % mark)
    b.run("digest", "--at", "2026-03-05T09:00:00Z", env={"BIDMAIL_NOW": "2026-03-05T09:00:00Z"})
    expect(len(alerts()) == 1, "a pass with no news alerted again")
    digestscale_copies(b, 1, "2026-03-05T1%d:%02d:00Z")
    b.run("digest", "--at", "2026-03-05T11:00:00Z", env={"BIDMAIL_NOW": "2026-03-05T11:00:00Z"})
    b.run("digest", "--at", "2026-03-05T11:01:00Z", env={"BIDMAIL_NOW": "2026-03-05T11:01:00Z"})
    expect(len(alerts()) == 2, "alerts after the second project: %d" % len(alerts()))


def digestscale_instant_crowd(b, n, created, frequency="instant"):
    """n instant (or frequency) subscribers (alert000@… on), active and confirmed at created,
    each with the skills pattern symfony, straight into the database."""
    db = sqlite3.connect(os.path.join(b.dir, "var", "bidmail.db"))
    with db:
        for i in range(n):
            cur = db.execute("INSERT INTO subscribers(address, name, status, language, frequency,"
                             " day, created, confirmed, last_activity, language_chosen)"
                             " VALUES(?, ?, 'active', 'fr', ?, 1, ?, ?, ?, 1)",
                             ("alert%04d@dev.fr" % i, "Dev %d" % i, frequency, created, created,
                              created))
            db.execute("INSERT INTO patterns(subscriber, kind, source, created)"
                       " VALUES(?, 'skills', 'symfony', ?)", (cur.lastrowid, created))
    db.close()


def test_digestscale_alerts_batched_exactly_once_through_a_kill():
    """1,200 instant profiles match a new project: the alert pass commits its claims and mails
    in batches, and a pass killed (SIGKILL) after its first batch committed then run again
    leaves each profile exactly one alert for it, claimed once, and nothing queued twice."""
    b = Board().init()
    subscribe(b, "ana@dev.fr", "Ana", "skills symfony\nfrequency instant",
              env={"BIDMAIL_NOW": "2026-03-04T10:00:00Z"})
    digestscale_instant_crowd(b, 1200, "2026-03-04T10:00:00Z")
    publish(b, post_mail(subject="Refonte Symfony", body="Site en Symfony 6, budget 3 000 € HT.\n"),
            env={"BIDMAIL_NOW": "2026-03-04T11:00:00Z"})
    db = sqlite3.connect(os.path.join(b.dir, "var", "bidmail.db"), timeout=30)
    first = db.execute("SELECT count(*) FROM outbox WHERE kind = 'project_alert'").fetchone()[0]
    last = db.execute("SELECT max(id) FROM outbox").fetchone()[0]
    digestscale_copies(b, 1, "2026-03-05T1%d:%02d:00Z")
    env = dict(os.environ, BIDMAIL_NOW="2026-03-05T11:00:00Z")
    p = subprocess.Popen([board.BIDMAIL, "--config", b.conf, "digest", "--at", "2026-03-05T11:00:00Z"],
                         cwd=b.dir, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    queued = lambda: db.execute("SELECT count(*) FROM outbox WHERE kind = 'project_alert'"
                                ).fetchone()[0] - first
    for _ in range(600):
        if p.poll() is not None or queued() > 0:
            break
        time.sleep(0.02)
    killed = p.poll() is None
    if killed:
        p.kill()
    p.wait(timeout=60)
    partial = queued()
    b.run("digest", "--at", "2026-03-05T11:01:00Z", env={"BIDMAIL_NOW": "2026-03-05T11:01:00Z"})
    rows = db.execute("SELECT rcpt, count(*) FROM outbox WHERE kind = 'project_alert' AND id > ?"
                      " GROUP BY rcpt", (last,)).fetchall()
    claims = db.execute("SELECT subscriber, count(*) FROM digests WHERE period ="
                        " 'p' || (SELECT max(id) FROM projects) GROUP BY subscriber").fetchall()
    db.close()
    expect(first == 1201, "alerts of the first project: %d" % first)
    expect(killed, "the pass ended before the kill: the test proved nothing of a kill")
    expect(0 < partial < 1201, "killed pass: %d alerts before the kill" % partial)
    expect(len(claims) == 1201 and all(n == 1 for _, n in claims),
           "claims of the new project: %d subscribers, counts %r"
           % (len(claims), sorted(set(n for _, n in claims))))
    expect(len(rows) == 1201 and all(n == 1 for _, n in rows),
           "alerts of the new project: %d recipients, counts %r"
           % (len(rows), sorted(set(n for _, n in rows))))


def digestscale_instant_holders(b, rows, created):
    """Instant subscribers straight into the database: rows of (address, [(kind, source)]);
    their ids."""
    db = sqlite3.connect(os.path.join(b.dir, "var", "bidmail.db"))
    ids = []
    with db:
        for addr, pats in rows:
            cur = db.execute("INSERT INTO subscribers(address, name, status, language, frequency,"
                             " day, created, confirmed, last_activity, language_chosen)"
                             " VALUES(?, ?, 'active', 'fr', 'instant', 1, ?, ?, ?, 1)",
                             (addr, addr.split("@")[0], created, created, created))
            ids.append(cur.lastrowid)
            for kind, src in pats:
                db.execute("INSERT INTO patterns(subscriber, kind, source, created)"
                           " VALUES(?, ?, ?, ?)", (cur.lastrowid, kind, src, created))
    db.close()
    return ids


def test_digestscale_alerts_read_only_the_holders_of_matched_texts():
    """H3 (issue 15): the alert pass matches each distinct pattern text once (pattern_texts,
    migration 26, kept by triggers) and reads only the instant profiles holding a text that
    matched: 200 holders of symfony are alerted, 300 holders of cobol are not even read; a
    holder whose exclude matches is read but not alerted, a pattern edited or deleted straight
    in the database moves its holder in or out, and the texts' counts stay those of the
    patterns."""
    b = Board().init()
    t = "2026-03-04T10:00:00Z"
    sym = digestscale_instant_holders(b, [("sym%03d@dev.fr" % i, [("skills", "symfony")])
                                          for i in range(200)], t)
    digestscale_instant_holders(b, [("cob%03d@dev.fr" % i, [("skills", "cobol")])
                                    for i in range(300)], t)
    digestscale_instant_holders(b, [("excl@dev.fr", [("skills", "symfony"),
                                                     ("exclude", "refonte")]),
                                    ("moved@dev.fr", [("skills", "fortran")]),
                                    ("gone@dev.fr", [("skills", "symfony")])], t)
    db = sqlite3.connect(os.path.join(b.dir, "var", "bidmail.db"), timeout=30)
    with db:
        db.execute("UPDATE patterns SET source = 'symfony' WHERE source = 'fortran'")
        db.execute("DELETE FROM patterns WHERE subscriber ="
                   " (SELECT id FROM subscribers WHERE address = 'gone@dev.fr')")
        db.execute("UPDATE subscribers SET status = 'paused' WHERE id = ?", (sym[0],))
    texts = dict(db.execute("SELECT source, refs FROM pattern_texts").fetchall())
    counts = dict(db.execute("SELECT source, count(*) FROM patterns GROUP BY source").fetchall())
    expect(texts == counts, "pattern_texts %r, patterns %r" % (texts, counts))
    publish(b, post_mail(subject="Refonte Symfony", body="Site en Symfony 6, budget 3 000 € HT.\n"),
            env={"BIDMAIL_NOW": "2026-03-04T11:00:00Z"})
    first = set(r[0] for r in db.execute("SELECT rcpt FROM outbox WHERE kind = 'project_alert'"))
    # a project the excluded holder wants: without the exclude's word
    digestscale_copies(b, 1, "2026-03-05T1%d:%02d:00Z")
    db.execute("UPDATE projects SET title = 'Projet Symfony', description = 'Site en Symfony 6.'"
               " WHERE id = (SELECT max(id) FROM projects)")
    db.commit()
    last = db.execute("SELECT max(id) FROM outbox").fetchone()[0]
    p = b.run("digest", "--at", "2026-03-05T11:00:00Z", env={"BIDMAIL_NOW": "2026-03-05T11:00:00Z"})
    log = [l for l in p.stderr.decode().splitlines() if "step=alerts" in l]
    second = db.execute("SELECT rcpt FROM outbox WHERE kind = 'project_alert' AND id > ?",
                        (last,)).fetchall()
    db.close()
    want = set("sym%03d@dev.fr" % i for i in range(1, 200)) | {"moved@dev.fr"}
    expect(first == want, "alerted: %d, not wanted %r, missing %r"
           % (len(first), sorted(first - want)[:5], sorted(want - first)[:5]))
    expect(set(r[0] for r in second) == want | {"excl@dev.fr"},
           "second project alerted %d (excl: %r)" % (len(second), ("excl@dev.fr",) in second))
    # 199 active symfony holders, the moved one and the excluded one: no cobol holder read
    expect(len(log) == 1 and "profiles=201 " in log[0], "the pass's log: %r" % log)


def test_digestscale_alert_claim_that_fails_drops_only_itself():
    """H3 (issue 15): in the alert pass a claim that fails (here a trigger refuses one
    subscriber's claim row) is undone alone, logged result=dropped, and counted dropped=1 on
    the pass's line: the 300 other holders get their alert, each once, the watermark moves
    on, and the next pass neither retries nor sends again."""
    b = Board().init()
    t = "2026-03-04T10:00:00Z"
    ids = digestscale_instant_holders(b, [("h%03d@dev.fr" % i, [("skills", "symfony")])
                                          for i in range(301)], t)
    bad = ids[150]
    db = sqlite3.connect(os.path.join(b.dir, "var", "bidmail.db"), timeout=30)
    with db:
        db.execute("CREATE TRIGGER test_refuse_claim BEFORE INSERT ON digests"
                   " WHEN NEW.subscriber = %d BEGIN SELECT RAISE(ABORT, 'refused by the test');"
                   " END" % bad)
    publish(b, post_mail(subject="Refonte Symfony", body="Site en Symfony 6, budget 3 000 € HT.\n"),
            env={"BIDMAIL_NOW": "2026-03-04T11:00:00Z"})
    digestscale_copies(b, 1, "2026-03-05T1%d:%02d:00Z")
    last = db.execute("SELECT max(id) FROM outbox").fetchone()[0]
    p = b.run("digest", "--at", "2026-03-05T11:00:00Z", env={"BIDMAIL_NOW": "2026-03-05T11:00:00Z"})
    err = p.stderr.decode()
    q = b.run("digest", "--at", "2026-03-05T11:01:00Z", env={"BIDMAIL_NOW": "2026-03-05T11:01:00Z"})
    rows = db.execute("SELECT rcpt, count(*) FROM outbox WHERE kind = 'project_alert' AND id > ?"
                      " GROUP BY rcpt", (last,)).fetchall()
    db.close()
    dropped = [l for l in err.splitlines() if "result=dropped" in l]
    expect(len(dropped) == 1 and "subscriber=%d " % bad in dropped[0]
           and "refused by the test" in dropped[0], "dropped lines: %r" % dropped)
    expect(re.search(r"step=alerts projects=1 profiles=301 alerts=300 dropped=1 ", err),
           "the pass's line: %r" % [l for l in err.splitlines() if "step=alerts" in l])
    got = dict(rows)
    expect(len(got) == 300 and set(got.values()) == {1} and "h150@dev.fr" not in got,
           "alerts: %d recipients, counts %r" % (len(got), sorted(set(got.values()))))
    expect("step=alerts" not in q.stderr.decode(), "the next pass ran the alerts again")


def test_digestscale_alert_pass_over_budget_holder_told_once():
    """H3 (issue 15): an instant profile whose 20 patterns explode on the new projects (a run
    of `a`) matches none of them, yet the alert pass still reads it (its texts spent their
    share of the budget) and tells its owner once that matching was stopped; the ordinary
    instant subscriber gets one alert per project."""
    b = Board().init()
    env = {"BIDMAIL_NOW": REGEX_NOW}
    subscribe(b, "ok1@dev.fr", "Ok1", "skills site\nfrequency instant", env=env)
    subscribe(b, "evil@dev.fr", "Evil", "language fr\nfrequency instant\n"
              + regex_profile_lines(regex_a_run_patterns(20)), env=env)
    expect(regex_profile_size(b, "evil@dev.fr") == 20, "profile not set")
    before = len(b.outgoing())
    regex_insert_projects(b, 200, a_run=True)
    p = b.run("digest", "--at", "2026-03-05T10:00:00Z", env={"BIDMAIL_NOW": "2026-03-05T10:00:00Z"})
    b.run("digest", "--at", "2026-03-05T10:01:00Z", env={"BIDMAIL_NOW": "2026-03-05T10:01:00Z"})
    line = [l for l in p.stderr.decode().splitlines() if "step=alerts" in l]
    ok = regex_selections(b, "ok1@dev.fr", before)
    told = regex_selections(b, "evil@dev.fr", before)
    expect(len(ok) == 200, "ok1 got %d alerts (%r)" % (len(ok), line))
    expect(len(told) == 1 and "250 ms de calcul" in told[0],
           "the owner was told %d times: %r" % (len(told), [t[:200] for t in told]))
    expect(line and "profiles=2 " in line[0], "the pass's line: %r" % line)


def test_digestscale_weekly_batched_exactly_once_through_a_kill():
    """1,200 weekly profiles are due on Monday: the weekly run commits its claims and mails in
    batches, and a run killed (SIGKILL) after its first batch committed then run again leaves
    each subscriber exactly one selection, claimed once."""
    b = Board().init()
    digestscale_instant_crowd(b, 1200, "2026-03-02T10:00:00Z", frequency="weekly")
    publish(b, post_mail(subject="Refonte Symfony", body="Site en Symfony 6, budget 3 000 € HT.\n"),
            env={"BIDMAIL_NOW": "2026-03-05T08:00:00Z"})
    db = sqlite3.connect(os.path.join(b.dir, "var", "bidmail.db"), timeout=30)
    last = db.execute("SELECT max(id) FROM outbox").fetchone()[0]
    at = "2026-03-09T07:00:00Z"	# Monday 08:00 Paris
    env = dict(os.environ, BIDMAIL_NOW=at)
    p = subprocess.Popen([board.BIDMAIL, "--config", b.conf, "digest", "--at", at],
                         cwd=b.dir, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    queued = lambda: db.execute("SELECT count(*) FROM outbox WHERE kind = 'digest'").fetchone()[0]
    for _ in range(600):
        if p.poll() is not None or queued() > 0:
            break
        time.sleep(0.02)
    killed = p.poll() is None
    if killed:
        p.kill()
    p.wait(timeout=60)
    partial = queued()
    b.run("digest", "--at", "2026-03-09T07:01:00Z", env={"BIDMAIL_NOW": "2026-03-09T07:01:00Z"})
    rows = db.execute("SELECT rcpt, count(*) FROM outbox WHERE kind = 'digest' AND id > ?"
                      " GROUP BY rcpt", (last,)).fetchall()
    claims = db.execute("SELECT subscriber, count(*) FROM digests WHERE period = '2026-W11'"
                        " GROUP BY subscriber").fetchall()
    db.close()
    expect(killed, "the run ended before the kill: the test proved nothing of a kill")
    expect(0 < partial < 1200, "killed run: %d selections before the kill" % partial)
    expect(partial % 500 == 0, "a kill left a partial batch: %d" % partial)
    expect(len(claims) == 1200 and all(n == 1 for _, n in claims),
           "claims of the week: %d subscribers, counts %r"
           % (len(claims), sorted(set(n for _, n in claims))))
    expect(len(rows) == 1200 and all(n == 1 for _, n in rows),
           "selections of the week: %d recipients, counts %r"
           % (len(rows), sorted(set(n for _, n in rows))))


def test_digestscale_alerts_store_their_shared_text_once():
    """The 40 instant alerts of one project are stored once whole (outbox_part, migration 28)
    and each packed against it: the packed rows together weigh less than a third of the mails
    they stand for (what is left is what each has of its own: headers with its keys, greeting,
    addresses), and every mail written to spool/outgoing is whole: its own greeting and the
    project's text."""
    b = Board().init()
    digestscale_instant_crowd(b, 40, "2026-03-04T10:00:00Z")
    publish(b, post_mail(subject="Refonte Symfony", body="Site en Symfony 6, budget 3 000 € HT. "
                         "Reprise du back-office, des exports et de l'API de paiement.\n"),
            env={"BIDMAIL_NOW": "2026-03-04T11:00:00Z"})
    db = sqlite3.connect(os.path.join(b.dir, "var", "bidmail.db"))
    rows = db.execute("SELECT o.rcpt, length(m.message), m.part FROM outbox o JOIN outbox_message m"
                      " ON m.id = o.id WHERE o.kind = 'project_alert'").fetchall()
    parts = db.execute("SELECT count(*) FROM outbox_part").fetchone()[0]
    db.close()
    expect(len(rows) == 40, "alerts queued: %d" % len(rows))
    expect(parts == 1 and all(r[2] is not None for r in rows),
           "shared texts %d, rows without one %d" % (parts, sum(r[2] is None for r in rows)))
    mails = {}
    for p in b.outgoing():
        raw, m = read_mail(p)
        to = m["To"].addresses[0].addr_spec
        if to.startswith("alert"):
            mails[to] = (raw, m)
    expect(len(mails) == 40, "alert files written: %d" % len(mails))
    whole = sum(len(raw) for raw, _ in mails.values())
    packed = sum(r[1] for r in rows)
    expect(packed * 3 < whole, "packed rows %d bytes for %d bytes of mail" % (packed, whole))
    for to, (raw, m) in mails.items():
        text = m.get_body(("plain",)).get_content()
        n = int(to[5:9])
        expect("Dev %d" % n in text and "Reprise du back-office" in text and "Symfony" in text,
               "%s: %r" % (to, text[:400]))


def test_digestscale_mails_made_ahead_for_subscribers_disabled_meanwhile_are_dropped():
    """The second thread makes a page's selections ahead of the loop that claims them (at
    most 64 ahead). Here the first claim of the week disables the addresses of the next 150
    subscribers (a trigger stands for bounces arriving meanwhile): their selections, made
    ahead, are dropped unsent, the run does not wait on them, and the 49 others each get
    their own selection once (To: the subscriber it was made for)."""
    b = Board().init()
    digestscale_instant_crowd(b, 200, "2026-03-02T10:00:00Z", frequency="weekly")
    publish(b, post_mail(subject="Refonte Symfony", body="Site en Symfony 6, budget 3 000 € HT.\n"),
            env={"BIDMAIL_NOW": "2026-03-05T08:00:00Z"})
    db = sqlite3.connect(os.path.join(b.dir, "var", "bidmail.db"), timeout=30)
    ids = [r[0] for r in db.execute("SELECT id FROM subscribers WHERE address LIKE 'alert%'"
                                    " ORDER BY id")]
    with db:
        # the first claim is also slow (a count to 2,000,000), so that the second thread has
        # certainly filled its 64 mails ahead before the loop meets the disabled ones
        db.execute("CREATE TRIGGER test_bounces_meanwhile AFTER INSERT ON digests"
                   " WHEN NEW.subscriber = %d BEGIN"
                   " SELECT count(*) FROM (WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL"
                   " SELECT x + 1 FROM c WHERE x < 2000000) SELECT x FROM c);"
                   " INSERT INTO addresses(address, disabled) SELECT address, 1 FROM subscribers"
                   " WHERE id > %d AND id <= %d; END" % (ids[0], ids[0], ids[150]))
    last = db.execute("SELECT max(id) FROM outbox").fetchone()[0]
    at = "2026-03-09T07:00:00Z"	# Monday 08:00 Paris
    p = subprocess.run([board.BIDMAIL, "--config", b.conf, "digest", "--at", at], cwd=b.dir,
                       env=dict(os.environ, BIDMAIL_NOW=at), stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=120)
    rows = db.execute("SELECT rcpt, count(*) FROM outbox WHERE kind = 'digest' AND id > ?"
                      " GROUP BY rcpt", (last,)).fetchall()
    db.close()
    expect(p.returncode == 0, "digest: %r" % p.stderr.decode()[-500:])
    want = {"alert%04d@dev.fr" % 0} | {"alert%04d@dev.fr" % i for i in range(151, 200)}
    got = dict(rows)
    expect(set(got) == want and set(got.values()) == {1},
           "selections: %d recipients (%r...), counts %r"
           % (len(got), sorted(set(got) ^ want)[:4], sorted(set(got.values()))))
    greeted = 0
    for path in b.outgoing():
        raw, m = read_mail(path)
        to = email.utils.parseaddr(str(m["To"]))[1]
        if not to.startswith("alert"):
            continue
        expect(to in want, "a selection went to %s" % to)
        text = m.get_body(("plain",)).get_content()
        expect(re.search(r"\bDev %d\b" % int(to[5:9]), text),
               "%s's selection greets someone else: %r" % (to, text[:80]))
        greeted += 1
    expect(greeted == len(want), "selections written as files: %d" % greeted)
