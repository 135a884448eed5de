"""t_regex_budget.py — hostile regex profiles (issue #11, item 6): each match has PCRE2's
limits, and these tests prove the total is bounded too. A command mail's matching work (the cost
probe of new patterns, `test`, which runs once a mail) stays within its CPU budget, a pattern
that is catastrophic on ordinary project texts is refused with the reason, and a digest pass
spends at most a budget per subscriber, skipping the rest of that subscriber's matching and
telling them once. The 1,000 open projects are inserted with sqlite3 (the projects table as
the migrations define it); CPU is the children's rusage, so the bounds are ratios to what the
old code spent (minutes), not tight timings.
"""
import resource

REGEX_NOW = "2026-03-04T10:00:00Z"          # a Wednesday
REGEX_WORDS = ("site", "application", "refonte", "développeur", "intégration", "maquette",
               "client", "module", "paiement", "catalogue", "traduction", "anglais", "logo",
               "budget", "délai", "semaines", "tests", "documentation", "mobile", "données",
               "tableau", "boutique", "serveur", "hébergement", "référencement", "contenu")


def regex_child_cpu():
    """CPU seconds (user + system) used so far by finished child processes."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def regex_timed(b, *args, env=None, timeout=90):
    """Runs `bidmail ARGS` and returns the CPU seconds it used; the timeout is a Failure."""
    c0 = regex_child_cpu()
    try:
        b.run(*args, env=env, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise Failure("`bidmail %s` still running after %d s" % (" ".join(args), timeout))
    return regex_child_cpu() - c0


def regex_project_text(rnd, i, a_run):
    """An ordinary project description of about 600 bytes; with a_run, a line of 40 `a`
    (the kind of text a hostile poster writes to make `(a|aa)+$` explode)."""
    words = [rnd.choice(REGEX_WORDS) for _ in range(70)]
    text = "Bonjour, projet %d : %s. Budget 2 000 € HT, délai 3 semaines." % (i, " ".join(words))
    if i % 10 == 0:
        text += " Le back-office est en PHP."
    if a_run:
        text += "\nRéférence interne : " + "a" * 40 + "!"
    return text


def regex_insert_projects(b, n, a_run=False, created="2026-03-05T09:00:00Z", seed=11):
    """Inserts n open projects (ids after the existing ones) straight into the database."""
    rnd = random.Random(seed)
    db = sqlite3.connect(os.path.join(b.dir, "var", "bidmail.db"))
    rows = []
    for i in range(n):
        title = "Projet %d %s %s" % (i, rnd.choice(REGEX_WORDS), rnd.choice(REGEX_WORDS))
        rows.append((title, regex_project_text(rnd, i, a_run), "poster%d@client.fr" % i, "Client",
                     "fr", "open", created, created, "<p%d-%d@client.fr>" % (seed, i), 1500, 2000,
                     "EUR", "HT", "project", 21, '["site", "web"]', "remote", "[]"))
    db.executemany("INSERT INTO projects(title, description, poster, poster_name, language, status,"
                   " created, updated, message_id, budget_min, budget_max, currency, tax, unit,"
                   " deadline_days, skills, location, flags) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,"
                   " ?, ?, ?, ?, ?, ?, ?)", rows)
    db.commit()
    db.close()


def regex_catastrophic(n):
    """n distinct patterns that hit PCRE2's match limit on ordinary text (nested quantifiers
    before an anchor that fails), each with a literal branch so none is a duplicate."""
    families = ("(\\w+\\s?)+$", "((\\w+)+\\s)+z", "(\\w+\\s?)+;", "(\\S+\\s*)+x")
    return ["%s|zq%d" % (families[i % len(families)], i) for i in range(n)]


def regex_a_run_patterns(n):
    """n distinct patterns cheap on ordinary text (they pass the probe) but catastrophic on a
    run of `a` that fails at the end: (a|aa)+$ and its kin."""
    families = ("(a|aa)+$", "(a+)+$", "(a|a?)+$")
    return ["%s|zq%d" % (families[i % len(families)], i) for i in range(n)]


def regex_profile_lines(patterns):
    """skills for the first ten, exclude for the next ten (ten of each kind at most)."""
    return "\n".join(("skills " if i < 10 else "exclude ") + p for i, p in enumerate(patterns))


def regex_profile_size(b, address):
    s = subscribers(b)[address]
    return len(s["patterns"]) + len(s["excludes"])


def regex_signed_address(b, address):
    """The robot+s- address of the last robot mail to address (its Reply-To)."""
    m = last_mail(b, address)
    rt = email.utils.parseaddr(str(m["Reply-To"]))[1]
    expect(rt.startswith("robot+s-"), "Reply-To %r" % rt)
    return rt


def regex_command_mail(to, sender, body):
    return robot_mail(body, sender=sender, to=to, subject="profil")


def regex_mail_text(b, address, needle="> test"):
    """The text of the last mail to address containing needle (the robot's transcript; `run`
    may also queue digest notices after it)."""
    for path in reversed(b.outgoing()):
        m = read_mail(path)[1]
        t = m.get_body(("plain",)).get_content()
        if m["To"].addresses[0].addr_spec == address and needle in t:
            return t
    raise Failure("no mail to %s with %r" % (address, needle))


def test_regex_command_mail_bounded_and_refusal_says_why():
    """One command mail with 20 catastrophic patterns and 50 `test` lines, on 1,000 open
    projects, is answered in bounded CPU (the old code accepted the patterns and ran `test` 30
    times: minutes); each pattern is refused saying why (fr), `test` runs once."""
    import email.utils  # noqa: F401
    b = Board().init()
    env = {"BIDMAIL_NOW": REGEX_NOW}
    subscribe(b, "h@dev.fr", "H", "skills php", env=env)
    regex_insert_projects(b, 1000)
    to = regex_signed_address(b, "h@dev.fr")
    pats = regex_catastrophic(20)
    body = regex_profile_lines(pats) + "\n" + "test\n" * 50
    expect(len(body) < 2048, "the attack mail is %d bytes" % len(body))
    b.deliver(regex_command_mail(to, "H <h@dev.fr>", body), recipient=to, sender="h@dev.fr")
    cpu = regex_timed(b, "run", "--once", env=env, timeout=60)
    print("     (20 catastrophic patterns + 50 tests on 1,000 projects: %.2f s CPU)" % cpu)
    expect(cpu < 8, "the command mail cost %.1f s of CPU" % cpu)
    text = regex_mail_text(b, "h@dev.fr")
    refused = text.count("refusé : ce motif demande trop de calcul")
    expect(refused == 20, "%d of 20 patterns refused: %r" % (refused, text[:3000]))
    expect("limite de calcul" in text and "quantificateurs" in text, "the refusal does not say why")
    expect(subscribers(b)["h@dev.fr"]["patterns"] == ["php"],
           "patterns stored: %r" % subscribers(b)["h@dev.fr"]["patterns"])
    expect(text.count("des 4 dernières semaines") == 1, "test ran %d times" % text.count("des 4 dernières semaines"))
    expect("20 projet(s)" in text, "the one test found nothing: %r" % text[-3000:])
    expect(text.count("une fois par message") == 29, "the other test lines: %d answers" % text.count("une fois par message"))


def test_regex_refusal_in_english():
    """The probe's refusal is written in English for an English subscriber, and a healthy regex
    and a word list in the same mail are added."""
    b = Board().init()
    env = {"BIDMAIL_NOW": REGEX_NOW}
    subscribe(b, "en@dev.co", "En", "language en\nskills react", env=env)
    to = regex_signed_address(b, "en@dev.co")
    body = "skills (\\w+\\s?)+$\nskills \\b(php|symfony)\\b\nskills flutter dart\n"
    b.deliver(regex_command_mail(to, "En <en@dev.co>", body), recipient=to, sender="en@dev.co")
    b.run("run", "--once", env=env)
    text = regex_mail_text(b, "en@dev.co", "> skills")
    expect("refused: this pattern needs too much work" in text and "matching limit" in text,
           "no English reason: %r" % text[:2000])
    expect(subscribers(b)["en@dev.co"]["patterns"] == ["react", "\\b(php|symfony)\\b", "flutter dart"],
           "patterns %r" % subscribers(b)["en@dev.co"]["patterns"])


def test_regex_test_stops_on_the_mail_budget():
    """A profile that passed the probe (20 patterns cheap on ordinary texts) but explodes on
    1,000 projects posted afterwards: a mail of 50 `test` lines is answered within the mail's
    CPU budget, `test` says where it stopped and why, and runs once (the old code: 50 passes)."""
    b = Board().init()
    env = {"BIDMAIL_NOW": REGEX_NOW}
    pats = regex_a_run_patterns(20)
    subscribe(b, "a@dev.fr", "A", "language fr\n" + regex_profile_lines(pats), env=env)
    expect(regex_profile_size(b, "a@dev.fr") == 20, "the probe refused cheap patterns: %r"
           % subscribers(b)["a@dev.fr"])
    to = regex_signed_address(b, "a@dev.fr")
    regex_insert_projects(b, 1000, a_run=True, created="2026-03-03T09:00:00Z")
    b.deliver(regex_command_mail(to, "A <a@dev.fr>", "test\n" * 50), recipient=to, sender="a@dev.fr")
    cpu = regex_timed(b, "run", "--once", env=env, timeout=60)
    print("     (50 tests, 20 costly patterns, 1,000 projects: %.2f s CPU)" % cpu)
    expect(cpu < 8, "the test mail cost %.1f s of CPU" % cpu)
    text = regex_mail_text(b, "a@dev.fr")
    expect("arrêté après" in text and "sur 1000" in text and "1000 ms de calcul" in text,
           "test did not say it stopped: %r" % text[:2000])
    expect(text.count("une fois par message") == 49, "test ran more than once")


def regex_selections(b, address, since_index):
    out = []
    for path in b.outgoing()[since_index:]:
        m = read_mail(path)[1]
        if m["To"].addresses[0].addr_spec == address:
            out.append(m.get_body(("plain",)).get_content())
    return out


def test_regex_digest_pass_bounded_and_owner_told_once():
    """A subscriber whose 20 patterns explode on 1,000 open projects costs a digest pass its
    budget, not 20 x 1,000 limit hits (seconds in the old code, every pass): the pass stays
    within a bound over the same pass without them, the owner is told once across two passes
    (no per-pattern notices), and the ordinary subscribers still get their selections."""
    b = Board().init()
    env = {"BIDMAIL_NOW": REGEX_NOW}
    subscribe(b, "ok1@dev.fr", "Ok1", "skills php", env=env)
    subscribe(b, "ok2@dev.fr", "Ok2", "skills \\bphp\\b", env=env)
    regex_insert_projects(b, 1000, a_run=True)
    at = {"BIDMAIL_NOW": "2026-03-09T07:00:00Z"}
    base = regex_timed(b, "digest", "--at", "2026-03-09T07:00:00Z", "--dry-run", env=at)
    # the hostile profile is set through the robot while no costly text is on the board
    b2 = Board().init()
    subscribe(b2, "ok1@dev.fr", "Ok1", "skills php", env=env)
    subscribe(b2, "ok2@dev.fr", "Ok2", "skills \\bphp\\b", env=env)
    subscribe(b2, "evil@dev.fr", "Evil", "language fr\n" + regex_profile_lines(regex_a_run_patterns(20)),
              env=env)
    expect(regex_profile_size(b2, "evil@dev.fr") == 20, "profile not set")
    regex_insert_projects(b2, 1000, a_run=True)
    before = len(b2.outgoing())
    cpu1 = regex_timed(b2, "digest", "--at", "2026-03-09T07:00:00Z", env=at)
    print("     (digest pass: %.2f s CPU without the hostile profile, %.2f s with it)" % (base, cpu1))
    expect(cpu1 < base + 2.5, "the hostile profile cost the pass %.1f s (base %.1f s)" % (cpu1 - base, base))
    for ok in ("ok1@dev.fr", "ok2@dev.fr"):
        sel = regex_selections(b2, ok, before)
        expect(len(sel) == 1 and "#1991" in sel[0], "%s got %d selections" % (ok, len(sel)))
    told = regex_selections(b2, "evil@dev.fr", before)
    # the costliest patterns of the profile are named; which family ranks first is the
    # machine's timing (under ASan three (a|a?)+$ tied at 20 ms)
    expect(len(told) == 1 and "250 ms de calcul" in told[0] and
           any("%s|zq" % f in told[0] for f in ("(a|aa)+$", "(a+)+$", "(a|a?)+$")),
           "the owner was told %d times: %r" % (len(told), told))
    at2 = {"BIDMAIL_NOW": "2026-03-09T07:01:00Z"}
    cpu2 = regex_timed(b2, "digest", "--at", "2026-03-09T07:01:00Z", env=at2)
    expect(cpu2 < base + 2.5, "the second pass cost %.1f s" % cpu2)
    expect(len(regex_selections(b2, "evil@dev.fr", before)) == 1, "the owner was told again")
    expect(subscribers(b2)["evil@dev.fr"]["last_digest"] in (None, "", subscribers(b2)["evil@dev.fr"]["confirmed"]),
           "a partial selection was claimed for the hostile profile")
    b.cleanup()
    b2.cleanup()


def hostile_inputs_regex(b):
    """Hostile command mails of item 6 for the budget test: subscribes one address (through
    the robot, as a person does), then returns its attack mails: 20 catastrophic patterns and
    50 `test` lines to its signed address, 50 `test` lines to the plain robot address (read-only
    commands run without confirmation), and the 20 patterns from a forged From."""
    subscribe(b, "hostile-regex@dev.fr", "Hostile", "skills php")
    to = regex_signed_address(b, "hostile-regex@dev.fr")
    pats = regex_catastrophic(20)
    body = regex_profile_lines(pats) + "\n" + "test\n" * 50
    frm = "Hostile <hostile-regex@dev.fr>"
    return [
        ("regex: 20 catastrophic patterns + 50 tests, signed", to, "hostile-regex@dev.fr",
         regex_command_mail(to, frm, body).encode("utf-8")),
        ("regex: 50 tests to the plain robot address", "robot@example.org", "hostile-regex@dev.fr",
         regex_command_mail("robot@example.org", frm, "test\n" * 50).encode("utf-8")),
        ("regex: catastrophic patterns from a forged From", "robot@example.org", "ok@dev.fr",
         regex_command_mail("robot@example.org", "Ok <ok@dev.fr>", body).encode("utf-8")),
    ]


def test_regex_hostile_inputs_answered_and_bounded():
    """The budget-test generator's mails, delivered with ordinary ones on 1,000 projects: all
    answered in bounded CPU, the patterns refused, no pattern stored from a forged From, and an
    ordinary subscriber's commands still done."""
    b = Board().init()
    env = {"BIDMAIL_NOW": REGEX_NOW}
    mails = hostile_inputs_regex(b)     # at the real date: projects are inserted after it
    regex_insert_projects(b, 1000)
    subscribe(b, "calm@dev.fr", "Calm", "skills php", env=env)
    calm = regex_signed_address(b, "calm@dev.fr")
    for label, rcpt, sender, raw in mails:
        expect(b.deliver(raw, recipient=rcpt, sender=sender) == 0, "%s: not accepted" % label)
    b.deliver(regex_command_mail(calm, "Calm <calm@dev.fr>", "skills symfony\ntest\n"), recipient=calm,
              sender="calm@dev.fr")
    before = len(b.outgoing())
    cpu = regex_timed(b, "run", "--once", env=env, timeout=60)
    print("     (%d hostile mails and an ordinary one: %.2f s CPU)" % (len(mails), cpu))
    expect(cpu < 8, "they cost %.1f s of CPU" % cpu)
    to = {}
    for path in b.outgoing()[before:]:
        m = read_mail(path)[1]
        to.setdefault(m["To"].addresses[0].addr_spec, []).append(m.get_body(("plain",)).get_content())
    hostile = to.get("hostile-regex@dev.fr", [])
    expect(len(hostile) == 2, "hostile replies: %d" % len(hostile))
    expect(any(t.count("trop de calcul") == 20 for t in hostile), "the patterns were not all refused")
    expect(any("> test" in t and "une fois par message" in t for t in hostile), "test answered twice")
    expect(len(to.get("ok@dev.fr", [])) == 1, "the forged From was not asked to confirm")
    subs = subscribers(b)
    expect(subs["hostile-regex@dev.fr"]["patterns"] == ["php"] and subs["ok@dev.fr"]["patterns"] == [],
           "patterns stored: %r %r" % (subs["hostile-regex@dev.fr"]["patterns"], subs["ok@dev.fr"]["patterns"]))
    expect(subs["calm@dev.fr"]["patterns"] == ["php", "symfony"], "the ordinary mail was not done")
    expect(any("20 projet(s)" in t for t in to.get("calm@dev.fr", [])), "the ordinary test found nothing: %r" % to.get("calm@dev.fr"))
