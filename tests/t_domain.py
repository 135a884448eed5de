# t_domain.py — the states of the rows (src/store.c): a move that the transition table of its
# entity does not list is refused by the store, logged with the reason, and changes nothing;
# the listings keep printing the same status words.


def test_domain_stale_pause_after_unsubscribe_refused():
    """A `pause` confirmed after its subscriber unsubscribed is refused (unsubscribed -> paused
    is not a legal move), and the answer says so instead of "selections paused",
    the subscriber stays unsubscribed, and the robot still answers the confirmation.
    Before the state tables the stale confirmation moved an unsubscribed address to paused."""
    b = Board().init()
    subscribe(b, "alice@free.fr", "Alice Martin", "skills php")
    welcome = last_mail(b, "alice@free.fr")
    sid = subscribers(b)["alice@free.fr"]["id"]
    expect(subscribers(b)["alice@free.fr"]["status"] == "active", "not subscribed")
    deliver_robot(b, robot_mail("pause\n"))  # the plain address: a confirmation is asked
    b.run("run", "--once")
    request = last_mail(b, "alice@free.fr")
    expect("Confirm" in str(request["Subject"]), "no confirmation request: %s" % request["Subject"])
    expect(subscribers(b)["alice@free.fr"]["status"] == "active", "paused before confirming")
    target = welcome["List-Unsubscribe"].split("mailto:")[1].split("?")[0]
    b.deliver(robot_mail("", to=target, subject="unsubscribe"), recipient=target)
    b.run("run", "--once")
    expect(subscribers(b)["alice@free.fr"]["status"] == "unsubscribed", "not unsubscribed")
    n = len(b.outgoing())
    raw, addr = reply_to(request, "ok")
    b.deliver(raw, recipient=addr, sender="alice@free.fr")
    p = b.run("run", "--once")
    answer = read_mail(b.outgoing()[-1])[1].get_body(("plain",)).get_content()
    expect("pas abonné" in answer and "sélections suspendues" not in answer,
           "the answer does not say the pause was not done: %r" % answer[-800:])
    expect(subscribers(b)["alice@free.fr"]["status"] == "unsubscribed",
           "the stale pause moved the status: %s" % subscribers(b)["alice@free.fr"]["status"])
    expect(len(b.outgoing()) == n + 1, "the confirmation was not answered")
    expect(not b.files("failed"), "the mail was quarantined: %r" % b.files("failed"))
    b.cleanup()


def test_domain_status_words_unchanged():
    """The listings print the status words the database holds, through the state enums:
    a published project is `open`, its bid `active`, the bidder `active`, a sent mail `queued`
    in the file transport's outbox until sent; an awarded one becomes `awarded`/`accepted`."""
    b = Board().init()
    publish(b, post_mail(subject="Logo pour une boulangerie", body="Un logo.\nBudget : 500 € HT.\n"))
    projects = b.projects()
    expect([p["status"] for p in projects] == ["open"], "projects: %r" % projects)
    expect(projects[0]["budget"] == {"min": None, "max": 500.0, "currency": "EUR", "tax": "HT",
                                     "unit": "total"}, "budget: %r" % projects[0]["budget"])
    text = b.run("projects").stdout.decode()
    expect(" open " in text.splitlines()[1], "text listing: %r" % text)
    states = {r["state"] for r in b.outbox()}
    expect(states <= {"queued", "sent"} and states, "outbox states: %r" % states)
    b.cleanup()
