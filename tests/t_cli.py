# The command line tells the truth (issue #13, item 13): `bids` and `stats` as they are,
# `outbox` kinds that say what each mail is, `digest --dry-run` showing only what a real run
# would send. Each test replays the mails and steps of a conversation case (tests/cases/) and
# then reads the listings. exec'd in suite.py's namespace (Board, expect, post_mail, publish, ...).


def cli_replay(slug, edits=None):
    """A fresh board on which the steps of case `slug` were played (nothing compared), its
    mails first edited as edits says ({file: (old, new)}, on a copy of the case)."""
    import cases
    folder = glob.glob(os.path.join(cases.CASES, slug + "-*"))[0]
    copy = None
    if edits:
        copy = os.path.join(tempfile.mkdtemp(prefix="bidmail-cli-"), os.path.basename(folder))
        shutil.copytree(folder, copy)
        for name, (old, new) in edits.items():
            path = os.path.join(copy, name)
            text = open(path, encoding="utf-8").read()
            expect(old in text, "%s: no %r" % (name, old))
            with open(path, "w", encoding="utf-8") as f:
                f.write(text.replace(old, new))
        folder = copy
    r = cases.CaseRun(folder)
    with open(os.path.join(folder, "steps"), encoding="utf-8") as f:
        for i, line in enumerate(f):
            line = line.split(" #")[0].strip()
            if line and not line.startswith("#") and not line.startswith("state "):
                r.step(i + 1, line)
    if copy:
        shutil.rmtree(os.path.dirname(copy), ignore_errors=True)
    return r


def cli_stats(b):
    return b.run("stats").stdout.decode()


def test_cli_bids_unknown_delivery_is_a_dash():
    """`bids` prints `-` (never -1) for a bid without a delivery time, and `bids --json`
    keeps every field of its contract with `delivery_days` null for it, a number otherwise."""
    r = cli_replay("0039")
    b = r.b
    raw = open(os.path.join(r.folder, "05-bid.eml"), encoding="utf-8").read()
    raw = raw.replace("<05-bid.eml@dev.fr>", "<cli-no-delay@dev.fr>").replace(
        "Finalement 2 100 € HT, en 12 jours.", "Finalement 2 050 € HT.")
    r.now = "2026-03-04T12:00:00Z"
    raw = r.fill(raw)
    m = email.message_from_string(raw)
    expect(b.deliver(raw, recipient=email.utils.parseaddr(m["To"])[1], sender="free@dev.fr",
                     env=r.env()) == 0, "bid not delivered")
    b.run("run", "--once", env=r.env())
    rows = json.loads(b.run("bids", "1001", "--json").stdout)
    fields = {"id", "project", "subscriber", "status", "amount", "currency", "tax", "unit",
              "delivery_days", "milestones", "why", "created"}
    expect(all(fields <= set(x) for x in rows), "fields: %r" % [sorted(x) for x in rows])
    days = [(x["amount"], x["delivery_days"]) for x in rows]
    expect(days == [(2400, 15), (2100, 12), (2050, None)], "json: %r" % days)
    text = b.run("bids", "1001").stdout.decode().splitlines()
    expect(len(text) == 4 and all(not l.rstrip().endswith("-1") for l in text),
           "text: %r" % text)
    expect([l.split()[-1] for l in text[1:]] == ["15", "12", "-"], "text: %r" % text)


def test_cli_stats_counts_every_project_and_current_bids():
    """`stats` counts a rejected project in its total, names every status so that they add up
    to it, and counts a replaced bid neither in the bids nor in the average against budget."""
    r = cli_replay("0016")
    out = cli_stats(r.b)
    head = out.splitlines()[0]
    expect(head.startswith("projects: 1 (") and "rejected 1" in head, "stats: %r" % out)
    parts = head.split("(", 1)[1].rstrip(")").split(", ")
    expect(sum(int(p.split()[-1]) for p in parts) == 1, "statuses do not add up: %r" % head)
    r = cli_replay("0039", {"02-post.eml": ("en Symfony.", "en Symfony, budget 3 000 € HT.")})
    out = cli_stats(r.b)
    expect("bids: 1 current (1.0 per project)" in out, "stats: %r" % out)
    # the replaced 2 400 is left out: the current bid is 2 100 against a 3 000 budget, 70 %
    expect("average bid against budget: 70% (1 current bids" in out, "stats: %r" % out)


def test_cli_outbox_kinds_say_what_the_mail_is():
    """Reminders, the expiry warning, the expiry and the rating request are listed in
    `outbox --json` by what they are (reminder, expiry_warning, expired, rating_request), not
    as relay_message, which only the relayed texts keep; their mails are unchanged."""
    r = cli_replay("0051")
    kinds = [o["kind"] for o in r.b.outbox()]
    for want in ("reminder", "expiry_warning", "expired", "rating_request"):
        expect(want in kinds, "no %s in %r" % (want, kinds))
    expect("relay_message" not in kinds, "a notice still listed as relay_message: %r" % kinds)
    r = cli_replay("0045")
    kinds = [o["kind"] for o in r.b.outbox()]
    expect(kinds.count("relay_message") == 2, "relayed texts: %r" % kinds)


def test_cli_digest_dry_run_lists_only_what_would_be_sent():
    """After Monday's real run, a project published later that Monday is not listed by a dry
    run the same day (the week's selection is claimed: a real run sends nothing), and is listed
    by a dry run the next Monday, when a real run sends it."""
    r = cli_replay("0028")
    b = r.b
    raw = open(os.path.join(r.folder, "02-post.eml"), encoding="utf-8").read()
    raw = raw.replace("<w0@client.fr>", "<cli-late@client.fr>").replace(
        "Subject: Refonte Symfony", "Subject: Migration Symfony tardive")
    publish(b, raw, env={"BIDMAIL_NOW": "2026-03-09T08:00:00Z"})
    env = {"BIDMAIL_NOW": "2026-03-09T09:00:00Z"}
    same = b.run("digest", "--at", "2026-03-09T09:00:00Z", "--dry-run", env=env).stdout.decode()
    expect("tardive" not in same and "2026-W11" not in same, "dry run listed: %r" % same)
    before = len(b.outgoing())
    b.run("digest", "--at", "2026-03-09T09:00:00Z", env=env)
    expect(len(b.outgoing()) == before, "the real run sent %d mails" % (len(b.outgoing()) - before))
    env = {"BIDMAIL_NOW": "2026-03-16T07:00:00Z"}
    nxt = b.run("digest", "--at", "2026-03-16T07:00:00Z", "--dry-run", env=env).stdout.decode()
    expect("tardive" in nxt and "2026-W12" in nxt, "next week's dry run: %r" % nxt)
