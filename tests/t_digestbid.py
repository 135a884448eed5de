"""t_digestbid.py — issue #13 item 4, a reply to a selection is a bid: the selection records the
projects it listed (store.c's selections table, written by digest.c), and a reply that names no
project is read against the selection it answers (its In-Reply-To or References), else the
subscriber's latest one. Exec'd in suite.py's namespace."""
import email.utils


def digestbid_board():
    """A board with Léo subscribed to Symfony projects and two weekly selections of one
    project each ("Ancien Symfony", then "Nouveau Symfony"); returns it and the two mails."""
    b = Board().init()
    subscribe(b, "leo@dev.fr", "Léo", "skills symfony", env={"BIDMAIL_NOW": "2026-03-04T10:00:00Z"})
    weeks = []
    for title, pub, at in (("Ancien Symfony", "2026-03-05T09:00:00Z", "2026-03-09T07:00:00Z"),
                           ("Nouveau Symfony", "2026-03-10T09:00:00Z", "2026-03-16T07:00:00Z")):
        publish(b, post_mail(subject=title, body="Site en Symfony 6, budget 3 000 € HT.\n"),
                env={"BIDMAIL_NOW": pub})
        b.run("digest", "--at", at, env={"BIDMAIL_NOW": at})
        weeks.append(last_mail(b, "leo@dev.fr"))
    for m, title in zip(weeks, ("Ancien Symfony", "Nouveau Symfony")):
        expect(title in m.get_body(("plain",)).get_content(), "selection lacks %s" % title)
    return b, weeks


def digestbid_bids(b):
    """{project title: number of active bids}."""
    return {p["title"]: p["bids"] for p in b.projects()}


def test_digestbid_reply_to_an_older_selection_bids_on_its_project():
    """A priced reply to the older of two selections lands on the project that selection listed
    (found by In-Reply-To), not on the one of the latest selection."""
    b, weeks = digestbid_board()
    raw, addr = reply_to(weeks[0], "Je le fais pour 2 500 € HT, en 10 jours.",
                         sender="Léo <leo@dev.fr>")
    b.deliver(raw, recipient=addr, sender="leo@dev.fr")
    b.run("run", "--once", env={"BIDMAIL_NOW": "2026-03-17T09:00:00Z"})
    bids = digestbid_bids(b)
    expect(bids == {"Ancien Symfony": 1, "Nouveau Symfony": 0}, "bids %r" % bids)


def test_digestbid_mail_without_references_bids_on_the_latest_selection():
    """A priced mail to the selection's address that answers nothing (no In-Reply-To, no
    References, as from a new message) is read against the subscriber's latest selection."""
    b, weeks = digestbid_board()
    addr = email.utils.parseaddr(str(weeks[0]["Reply-To"]))[1]
    raw = robot_mail("Mon prix : 2 800 € HT, livraison en 3 semaines.\n", sender="Léo <leo@dev.fr>",
                     to=addr, subject="offre")
    b.deliver(raw, recipient=addr, sender="leo@dev.fr")
    b.run("run", "--once", env={"BIDMAIL_NOW": "2026-03-17T09:00:00Z"})
    bids = digestbid_bids(b)
    expect(bids == {"Ancien Symfony": 0, "Nouveau Symfony": 1}, "bids %r" % bids)


def test_digestbid_commands_with_an_amount_stay_commands():
    """A reply to a one-project selection whose lines are commands ("budget-min 500 EUR") runs
    them: the profile changes and no bid is made, although the line holds an amount."""
    b, weeks = digestbid_board()
    raw, addr = reply_to(weeks[1], "budget-min 500 EUR", sender="Léo <leo@dev.fr>")
    b.deliver(raw, recipient=addr, sender="leo@dev.fr")
    b.run("run", "--once", env={"BIDMAIL_NOW": "2026-03-17T09:00:00Z"})
    bids = digestbid_bids(b)
    expect(bids == {"Ancien Symfony": 0, "Nouveau Symfony": 0}, "bids %r" % bids)
    sub = subscribers(b)["leo@dev.fr"]
    expect(sub.get("budget_min") == 500, "subscriber %r" % sub)


def test_digestbid_unclear_answer_asks_again_and_keeps_the_bid_aside():
    """A held bid whose answer names no listed project ("je ne sais pas") is asked about again,
    with the list, and nothing reaches a client; a later "#N" still settles it."""
    b = Board().init()
    subscribe(b, "leo@dev.fr", "Léo", "skills symfony", env={"BIDMAIL_NOW": "2026-03-04T10:00:00Z"})
    for title in ("Refonte Symfony", "Migration Symfony"):
        publish(b, post_mail(subject=title, body="Site en Symfony 6.\n"),
                env={"BIDMAIL_NOW": "2026-03-05T09:00:00Z"})
    b.run("digest", "--at", "2026-03-09T07:00:00Z", env={"BIDMAIL_NOW": "2026-03-09T07:00:00Z"})
    sel = last_mail(b, "leo@dev.fr")
    env = {"BIDMAIL_NOW": "2026-03-10T09:00:00Z"}
    raw, addr = reply_to(sel, "Je peux le faire pour 1 900 € HT.", sender="Léo <leo@dev.fr>")
    b.deliver(raw, recipient=addr, sender="leo@dev.fr")
    b.run("run", "--once", env=env)
    ask = last_mail(b, "leo@dev.fr")
    text = ask.get_body(("plain",)).get_content()
    expect("#1001 Refonte Symfony" in text and "#1002 Migration Symfony" in text, text)
    raw, addr = reply_to(ask, "je ne sais pas", sender="Léo <leo@dev.fr>")
    b.deliver(raw, recipient=addr, sender="leo@dev.fr")
    b.run("run", "--once", env=env)
    again = last_mail(b, "leo@dev.fr")
    text = again.get_body(("plain",)).get_content()
    expect("pas reconnu" in text and "#1002 Migration Symfony" in text, text)
    expect(all(p["bids"] == 0 for p in b.projects()), "a bid went through: %r" % b.projects())
    raw, addr = reply_to(again, "#1002", sender="Léo <leo@dev.fr>")
    b.deliver(raw, recipient=addr, sender="leo@dev.fr")
    b.run("run", "--once", env=env)
    bids = digestbid_bids(b)
    expect(bids == {"Refonte Symfony": 0, "Migration Symfony": 1}, "bids %r" % bids)


def test_digestbid_budget_line_of_a_bid_is_not_a_profile_change():
    """A reply to a selection that starts "Budget : 2 900 € HT, livraison en 10 jours." is not
    the `budget` command: the profile's minimum stays unset, and the freelancer is answered
    about their bid (a price written after "Budget" is the project's word, so they are told
    what to send) instead of "budget minimum : 2 EUR". Found in review: the line ran
    `budget-min` with 2 EUR and nothing else was said."""
    b, weeks = digestbid_board()
    raw, addr = reply_to(weeks[1], "Budget : 2 900 € HT, livraison en 10 jours.",
                         sender="Léo <leo@dev.fr>")
    b.deliver(raw, recipient=addr, sender="leo@dev.fr")
    b.run("run", "--once", env={"BIDMAIL_NOW": "2026-03-17T09:00:00Z"})
    sub = subscribers(b)["leo@dev.fr"]
    expect(sub["budget_min"] in (None, -1), "the profile's minimum changed: %r" % sub["budget_min"])
    answer = last_mail(b, "leo@dev.fr").get_body(("plain",)).get_content()
    expect("budget minimum" not in answer, "answered as a profile change: %r" % answer[:600])


def test_digestbid_price_equal_to_a_project_number_is_no_project():
    """A price that happens to equal a listed project's number ("pour 1002 € HT") does not
    choose that project: with two projects listed the bid is held and the freelancer asked which
    one. Found in review: the bid landed on #1002 and went to its client."""
    b = Board().init()
    t = {"BIDMAIL_NOW": "2026-03-04T10:00:00Z"}
    subscribe(b, "leo@dev.fr", "Léo", "skills symfony", env=t)
    for title in ("Site Symfony vitrine", "Appli Symfony mobile"):
        publish(b, post_mail(subject=title, body="Projet en Symfony 6, budget 3 000 € HT.\n"),
                env={"BIDMAIL_NOW": "2026-03-05T09:00:00Z"})
    at = "2026-03-09T07:00:00Z"
    b.run("digest", "--at", at, env={"BIDMAIL_NOW": at})
    sel = last_mail(b, "leo@dev.fr")
    ids = sorted(p["id"] for p in b.projects())
    text = sel.get_body(("plain",)).get_content()
    expect(all(("#%d" % i) in text for i in ids), "the selection lacks a project: %r" % text[:800])
    raw, addr = reply_to(sel, "Je peux le faire pour %d € HT, en 5 jours." % ids[1],
                         sender="Léo <leo@dev.fr>")
    b.deliver(raw, recipient=addr, sender="leo@dev.fr")
    b.run("run", "--once", env={"BIDMAIL_NOW": "2026-03-10T09:00:00Z"})
    bids = {p["id"]: p["bids"] for p in b.projects()}
    expect(bids == {ids[0]: 0, ids[1]: 0}, "a bid was placed: %r" % bids)
    ask = last_mail(b, "leo@dev.fr").get_body(("plain",)).get_content()
    expect(all(str(i) in ask for i in ids), "the freelancer was not asked which project: %r" % ask[:800])
