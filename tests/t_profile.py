# t_profile.py — one set of profile rules (src/profile.c) for the digests, `bidmail match` and
# the robot's `test`: a skills pattern matches, no exclude does, budget-min, languages and
# remote-only respected.

PROFILE_POSTS = [
    ("Traduction d'un catalogue", "Traduction FR vers EN d'un catalogue de 40 pages.\n"
     "Budget : 1 000 € HT.\nLieu : télétravail.\n"),
    ("Traduction d'une notice", "Traduction FR vers EN d'une notice de 2 pages.\n"
     "Budget : 200 € HT.\nLieu : télétravail.\n"),
    ("Traduction dans nos locaux", "Traduction FR vers EN de nos contrats, dans nos bureaux.\n"
     "Budget : 1 000 € HT.\nLieu : Lyon.\n"),
    ("Translation of our website", "Hello, we need the traduction of our website from English "
     "into French.\nBudget: 1,000 EUR excl. VAT.\nLocation: remote.\nThank you!\n"),
    ("Traduction urgente d'un contrat", "Traduction FR vers EN d'un contrat.\n"
     "Budget : 1 000 € HT.\nLieu : télétravail.\n"),
]


def profile_board():
    """A board with a subscriber whose profile sets budget-min, languages, remote-only and an
    exclude, another with the same skill alone, and five translation projects: #1001 fits the
    first profile, #1002 is under its budget, #1003 on site, #1004 in English, #1005 excluded."""
    b = Board().init()
    env = {"BIDMAIL_NOW": "2026-03-02T10:00:00Z"}
    subscribe(b, "picky@dev.fr", "Picky", "skills traduction\nexclude urgente\nbudget-min 500 EUR\n"
              "languages fr\nremote-only\nfrequency daily", env=env)
    subscribe(b, "all@dev.fr", "All", "skills traduction\nfrequency daily", env=env)
    for title, body in PROFILE_POSTS:
        publish(b, post_mail(subject=title, body=body), env={"BIDMAIL_NOW": "2026-03-03T09:00:00Z"})
    got = [(p["id"], p["language"], p["location"], p["budget"]["max"]) for p in b.projects()]
    expect(got == [(1001, "fr", "remote", 1000.0), (1002, "fr", "remote", 200.0),
                   (1003, "fr", "Lyon", 1000.0), (1004, "en", "remote", 1000.0),
                   (1005, "fr", "remote", 1000.0)], "projects as set up: %r" % got)
    return b


def profile_selections(b):
    """Runs the daily selections of 2026-03-04 (08:00 in Paris); returns {address: mail}."""
    at = "2026-03-04T07:00:00Z"
    before = len(b.outgoing())
    b.run("digest", "--at", at, env={"BIDMAIL_NOW": at})
    sel = {}
    for path in b.outgoing()[before:]:
        m = read_mail(path)[1]
        sel[m["To"].addresses[0].addr_spec] = m
    expect(set(sel) == {"picky@dev.fr", "all@dev.fr"}, "selections to %r" % sorted(sel))
    return sel


def profile_listed(text):
    """The indexes in PROFILE_POSTS of the projects whose title is in text."""
    return [i for i, (t, _) in enumerate(PROFILE_POSTS) if t in text]


def test_profile_digest_applies_every_criterion():
    """The daily selection of a profile with budget-min, languages, remote-only and an exclude
    holds only the project that passes all of them; the same skill alone gets all five."""
    b = profile_board()
    try:
        sel = profile_selections(b)
        picky = sel["picky@dev.fr"].get_body(("plain",)).get_content()
        expect(profile_listed(picky) == [0], "digest for the picky profile: %r" % picky)
        plain = sel["all@dev.fr"].get_body(("plain",)).get_content()
        expect(profile_listed(plain) == [0, 1, 2, 3, 4], "digest for the plain profile: %r" % plain)
    finally:
        b.cleanup()


def test_profile_match_agrees_with_digest():
    """`bidmail match` lists a subscriber for a project only when the digest would send it to
    them: budget-min, languages, remote-only and excludes applied (before, it applied only the
    patterns, and listed the picky profile for the projects under budget, on site and in
    English)."""
    b = profile_board()
    try:
        for pid in range(1001, 1006):
            out = b.run("match", str(pid)).stdout.decode()
            expect("all@dev.fr  matched by `traduction`" in out, "match %d: %r" % (pid, out))
            want = pid == 1001
            expect(("picky@dev.fr  matched by `traduction`" in out) == want,
                   "match %d for the picky profile: %r" % (pid, out))
            expect(("%d subscriber" % (2 if want else 1)) in out, "match %d count: %r" % (pid, out))
    finally:
        b.cleanup()


def test_profile_test_command_agrees_with_digest():
    """The robot's `test` lists what the selection holds for the same profile: budget-min,
    languages and remote-only applied, as its help says (before, it applied only the patterns
    and listed #1002 under budget, #1003 on site and #1004 in English)."""
    b = profile_board()
    try:
        sel = profile_selections(b)
        for addr, name, want in (("picky@dev.fr", "Picky", [1001]),
                                 ("all@dev.fr", "All", [1001, 1002, 1003, 1004, 1005])):
            raw, to = reply_to(sel[addr], "test", sender="%s <%s>" % (name, addr))
            b.deliver(raw, recipient=to, sender=addr)
            b.run("run", "--once", env={"BIDMAIL_NOW": "2026-03-04T10:00:00Z"})
            text = last_mail(b, addr).get_body(("plain",)).get_content()
            expect("%d projet(s) des 4 dernières semaines" % len(want) in text, "test for %s: %r" % (addr, text))
            got = [pid for pid in range(1001, 1006) if "#%d %s" % (pid, PROFILE_POSTS[pid - 1001][0]) in text]
            expect(got == want, "test for %s listed %r: %r" % (addr, got, text))
    finally:
        b.cleanup()
