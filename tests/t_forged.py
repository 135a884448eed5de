"""t_forged.py — issue 11, items 7-10 and 14: what a forged From can make the board do.
Unconfirmed posts are purged and never loaded by the loop's steps; one confirmation request or
refusal a day per address, neutral, confirmed only by that address (not by an auto-reply); held
bids capped, purged, listed without a fixed array, and changing nothing until confirmed with a
confirming word; a correction is scored again. Loaded into suite.py's namespace.
"""
import email.utils
import os
import sqlite3
import subprocess
import time


def forged_post(victim, subject, body, name="Offre Spéciale"):
    """A post whose From is someone else's address, with attacker-written name and subject."""
    return post_mail(subject=subject, body=body, sender="%s <%s>" % (name, victim))


def forged_bid(to, sender, text="Mon prix : 1 € HT, livraison en 1 jour.\n", name="Paul Dev"):
    return ("From: %s <%s>\nTo: %s\nSubject: Offre\nMessage-ID: <%s@forged.example>\n"
            "Content-Type: text/plain; charset=utf-8\n\n%s" % (name, sender, to, os.urandom(6).hex(), text))


def mails_to(b, address):
    return [read_mail(p)[1] for p in b.outgoing()
            if read_mail(p)[1]["To"].addresses[0].addr_spec == address]


def body_of(m):
    return m.get_body(("plain",)).get_content()


def db(b):
    return sqlite3.connect(os.path.join(b.dir, "var", "bidmail.db"))


def bids_of(b, project):
    return json.loads(b.run("bids", str(project), "--json").stdout)


def peak_rss_kb(b, *args, env=None):
    """Runs bidmail with args and returns its peak resident memory in KB, as time(1) reads it
    from wait4 (from Python, the count would start from the forked interpreter's pages)."""
    out = os.path.join(b.dir, "rss.txt")
    e = dict(os.environ)
    e.update(env or {})
    r = subprocess.run(["/usr/bin/time", "-o", out, "-f", "%M", BIDMAIL, "--config", b.conf] + list(args),
                       capture_output=True, timeout=300, env=e, cwd=b.dir)
    err = r.stderr.decode("utf-8", "replace")
    expect(r.returncode == 0, "`bidmail %s` failed: %r" % (" ".join(args), err[-800:]))
    expect("Sanitizer" not in err, err[-2000:])
    return int(open(out).read().split()[-1])


def text_of_size(n, seed):
    """n bytes of plain French-looking text (no price, no scam phrase), different per seed."""
    words = ("nous", "cherchons", "une", "personne", "pour", "le", "site", "de", "notre",
             "association", "avec", "des", "pages", "et", "un", "formulaire")
    out, i = [], seed
    size = 0
    while size < n:
        line = " ".join(words[(i * 7 + k * 3) % len(words)] for k in range(12)) + " %d.\n" % i
        out.append(line)
        size += len(line)
        i += 1
    return "".join(out)


# ------------------------------------------------------------------ item 7

def test_forged_unconfirmed_posts_purged_and_not_loaded():
    """Unconfirmed posts (forged From, 3 MB descriptions) are never loaded by the loop's steps
    bids, once their confirmation has expired (7 days); a real open project stays.
    Before: every step loaded every project of every status with its description, and
    pending_confirmation posts stayed for ever."""
    b = Board().init()
    t0 = {"BIDMAIL_NOW": "2026-03-02T10:00:00Z"}
    publish(b, post_mail(subject="Un vrai projet", body="Un site vitrine, budget 900 EUR.\n"), env=t0)
    n = 10
    for i in range(n):
        b.deliver(forged_post("victim%d@example.net" % i, "Projet %d" % i, text_of_size(3 * 1024 * 1024, i)))
    b.run("run", "--once", env=t0)
    pending = [p for p in b.projects() if p["status"] == "pending_confirmation"]
    expect(len(pending) == n, "pending posts: %d" % len(pending))
    rss = peak_rss_kb(b, "digest", "--at", "2026-03-02T11:00:00Z", env={"BIDMAIL_NOW": "2026-03-02T11:00:00Z"})
    # the program with its data files and catalogue loaded, nothing else: a sanitizer build's
    # own size varies, so the 30 MB of posts are looked for above it
    own = peak_rss_kb(b, "check-config")
    print("     (digest + followup with %d unconfirmed 3 MB posts: peak %d KB, check-config %d KB)"
          % (n, rss, own))
    expect(rss < own + 15 * 1024, "the loop's steps loaded the unconfirmed posts: peak %d KB,"
           " %d KB for check-config" % (rss, own))
    # nor does a subscriber's `test` command (it loaded every project with its text: 30 MB here)
    subscribe(b, "paul@dev.fr", "Paul Dev", "skills site", env=t0)
    # the same pass with nothing to answer, measured here: a sanitizer build's own size varies
    base = peak_rss_kb(b, "run", "--once", env=t0)
    b.deliver("From: Paul Dev <paul@dev.fr>\nTo: robot@example.org\nSubject: test\n"
              "Message-ID: <test@dev.fr>\n\ntest\n", recipient="robot@example.org", sender="paul@dev.fr")
    rss = peak_rss_kb(b, "run", "--once", env=t0)
    print("     (`test` with %d unconfirmed 3 MB posts: peak %d KB, %d KB without the mail)"
          % (n, rss, base))
    answer = body_of(last_mail(b, "paul@dev.fr"))
    expect("1001" in answer, "the test command did not show the open project: %r" % answer[:600])
    expect(rss < base + 15 * 1024, "the test command loaded the unconfirmed posts (30 MB): peak %d KB,"
           " %d KB without it" % (rss, base))
    # a day before expiry they are still there; after it they are gone, the real one stays
    b.run("run", "--once", env={"BIDMAIL_NOW": "2026-03-08T10:00:00Z"})
    expect(len(b.projects()) == n + 1, "purged too early: %d" % len(b.projects()))
    b.run("run", "--once", env={"BIDMAIL_NOW": "2026-03-09T11:00:00Z"})
    left = b.projects()
    expect([p["title"] for p in left] == ["Un vrai projet"], "after expiry: %r" % [(p["title"], p["status"]) for p in left])
    c = db(b)
    size = c.execute("SELECT coalesce(sum(length(description)), 0) FROM projects").fetchone()[0]
    c.close()
    expect(size < 10000, "descriptions still stored: %d bytes" % size)


# ------------------------------------------------------------------ item 8

def test_forged_posts_reflect_one_neutral_request_a_day():
    """60 posts in an hour with a victim's From, an attacker's subject and name: the victim gets
    one confirmation request, whose subject and text repeat neither, and five posts at most
    wait; the next day one more request. A reply from another address, and an auto-reply from
    the victim, confirm nothing; the victim's "I never sent this" deletes the waiting posts.
    Before: 60 mails, the subject and greeting echoed, 60 posts stored, any reply to the key
    confirmed."""
    b = Board().init()
    victim = "victim@example.net"
    spam = "GAGNEZ 5000 EUR http://spam.example/x"
    for i in range(60):
        b.deliver(forged_post(victim, spam + " %d" % i, "Visitez http://spam.example/ maintenant.\n",
                              name="Cher client de SPAMCORP"))
    b.run("run", "--once", env={"BIDMAIL_NOW": "2026-03-02T10:00:00Z"})
    got = mails_to(b, victim)
    expect(len(got) == 1, "the victim got %d mails" % len(got))
    text = str(got[0]["Subject"]) + body_of(got[0]) + got[0].get_body(("html",)).get_content()
    for echoed in ("GAGNEZ", "spam.example", "SPAMCORP"):
        expect(echoed not in text, "the request repeats %r: %r" % (echoed, text[:600]))
    expect(len(b.projects()) == 5, "unconfirmed posts stored for one address: %d" % len(b.projects()))
    conf = got[0]
    # a reply from another address: nothing happens, nobody is answered
    n = len(b.outgoing())
    raw, addr = reply_to(conf, "Oui, publiez.", sender="Attacker <attacker@evil.example>")
    b.deliver(raw, recipient=addr, sender="attacker@evil.example")
    # an auto-responder of the victim: not a confirmation
    auto = ("From: %s\nTo: %s\nSubject: Absence du bureau\nAuto-Submitted: auto-replied\n"
            "Message-ID: <oof1@example.net>\nIn-Reply-To: %s\n\nJe suis absent, oui, jusqu'au 10.\n"
            % (victim, addr, conf["Message-ID"]))
    b.deliver(auto, recipient=addr, sender=victim)
    b.run("run", "--once", env={"BIDMAIL_NOW": "2026-03-02T10:30:00Z"})
    expect(b.projects()[0]["status"] == "pending_confirmation", "confirmed by %r" % b.projects()[0]["status"])
    expect(len(b.outgoing()) == n, "answered: %r" % [str(read_mail(p)[1]["To"]) for p in b.outgoing()[n:]])
    # the next day: one more request, not more
    for i in range(10):
        b.deliver(forged_post(victim, spam, "Encore.\n"))
    b.run("run", "--once", env={"BIDMAIL_NOW": "2026-03-03T11:00:00Z"})
    expect(len(mails_to(b, victim)) == 2, "the next day: %d mails" % len(mails_to(b, victim)))
    # the victim objects: the post is deleted, and they are told nothing was published
    raw, addr = reply_to(mails_to(b, victim)[-1], "Je n'ai JAMAIS envoyé ce projet !", sender=victim)
    b.deliver(raw, recipient=addr, sender=victim)
    b.run("run", "--once", env={"BIDMAIL_NOW": "2026-03-03T11:10:00Z"})
    expect(b.projects() == [], "the address's waiting posts are still stored: %r" % b.projects())
    last = mails_to(b, victim)[-1]
    expect("rien n'a été publié" in body_of(last) and "GAGNEZ" not in str(last["Subject"]),
           "answer to the objection: %r / %r" % (str(last["Subject"]), body_of(last)))
    # review: the refusal template asked them to correct the post and send it again
    expect("Corrigez" not in body_of(last) and "rien d'autre à faire" in body_of(last),
           "the objection is answered as a bad post: %r" % body_of(last))


def test_forged_limit_keeps_a_real_posters_second_post():
    """(Guard for the one-request-at-a-time rule, not an attack.) A new poster sends two posts
    in a minute: one request; the second post waits, and is asked about as soon as the first
    is confirmed; both end published."""
    b = Board().init()
    for subject in ("Premier projet", "Second projet"):
        b.deliver(post_mail(subject=subject, body="Un site vitrine.\n"))
    b.run("run", "--once", env={"BIDMAIL_NOW": "2026-03-02T10:00:00Z"})
    asks = mails_to(b, "jeanne@client.fr")
    expect(len(asks) == 1 and "1001" in str(asks[0]["Subject"]), "requests: %r" % [str(m["Subject"]) for m in asks])
    for k in range(2):
        raw, addr = reply_to(mails_to(b, "jeanne@client.fr")[-1], "Oui", sender="Jeanne <jeanne@client.fr>")
        b.deliver(raw, recipient=addr, sender="jeanne@client.fr")
        b.run("run", "--once", env={"BIDMAIL_NOW": "2026-03-02T10:1%d:00Z" % k})
        if k == 0:
            nxt = [m for m in mails_to(b, "jeanne@client.fr") if "1002" in str(m["Subject"])]
            expect(len(nxt) == 1 and str(nxt[0]["Reply-To"]).startswith("robot+c-"), "no request for the second post")
    expect([p["status"] for p in b.projects()] == ["open", "open"], "statuses %r" % [p["status"] for p in b.projects()])


def test_forged_public_bids_refusals_capped_and_silent_on_unpublished():
    """Public bids from a victim's From to a held, an unconfirmed, a rejected and a missing
    project: one refusal a day in all, the same as for a missing project, naming no title;
    a robot subscription or a post from that address the same day gets no second mail.
    Before: one refusal per mail for a non-open project, with its title."""
    b = Board("moderators = modo@example.org\n").init()
    now = {"BIDMAIL_NOW": "2026-03-02T10:00:00Z"}
    scam = ("Gagnez jusqu'à 3000 €/mois depuis chez vous, sans expérience ! Frais d'inscription : "
            "49 €. Plus vous parrainez, plus vous gagnez.\n")
    publish(b, post_mail(subject="Titre secret en attente", body=scam), env=now)           # 1001 held
    b.deliver(post_mail(subject="Titre secret non confirmé", body="Un site.\n", sender="x <x@client.fr>"))
    b.run("run", "--once", env=now)                                                         # 1002 pending
    publish(b, post_mail(subject="Titre secret rejeté", body=scam, sender="R <r@client.fr>"), sender="r@client.fr", env=now)
    b.run("moderate", "reject", "1003", "non", env=now)                                    # 1003 rejected
    statuses = [p["status"] for p in b.projects()]
    expect(statuses == ["held", "pending_confirmation", "rejected"], "set-up: %r" % statuses)
    victim = "victim@example.net"
    for i in range(40):
        pid = (1001, 1002, 1003, 999999)[i % 4]
        b.deliver(forged_bid("bid+p%d@example.org" % pid, victim), recipient="bid+p%d@example.org" % pid, sender=victim)
    b.deliver(robot_mail("subscribe\n", sender="V <%s>" % victim), recipient="robot@example.org", sender=victim)
    b.deliver(forged_post(victim, "Encore", "Un texte.\n"))
    b.run("run", "--once", env=now)
    got = mails_to(b, victim)
    expect(len(got) == 1, "the victim got %d mails" % len(got))
    t = str(got[0]["Subject"]) + body_of(got[0])
    expect("Titre secret" not in t, "a title of an unpublished project: %r" % t)
    expect("n'existe pas" in t or "no project" in t, "not the answer for a missing project: %r" % t)


def test_forged_post_refusals_once_a_day():
    """Mails to forged post+k- keys and empty posts, 30 each with a victim's From: one refusal
    a day in all, not repeating the subject. Before: one refusal per mail, subject echoed."""
    b = Board().init()
    victim = "victim@example.net"
    for i in range(30):
        to = "post+k-%d-aaaaaaaaaaaaaaaa@example.org" % (1001 + i)
        b.deliver(post_mail(subject="SPAM SUBJECT %d" % i, body="x\n", sender=victim).replace(
            "To: post@example.org", "To: " + to), recipient=to, sender=victim)
        b.deliver(("From: %s\nTo: post@example.org\nMessage-ID: <e%d@x>\n\n\n" % (victim, i)),
                  recipient="post@example.org", sender=victim)
    b.run("run", "--once", env={"BIDMAIL_NOW": "2026-03-02T10:00:00Z"})
    got = mails_to(b, victim)
    expect(len(got) == 1, "the victim got %d mails" % len(got))
    expect("SPAM" not in str(got[0]["Subject"]) + body_of(got[0]), "the subject is echoed: %r" % str(got[0]["Subject"]))


# ------------------------------------------------------------------ items 9, 10

def board_with_bid(extra=""):
    """A published project 1001 and Paul's real active bid of 2 000 EUR on it (from his alert)."""
    b = Board(extra).init()
    env = {"BIDMAIL_NOW": "2026-03-02T10:00:00Z"}
    subscribe(b, "paul@dev.fr", "Paul Dev", "skills symfony\nfrequency instant", env=env)
    publish(b, post_mail(subject="Refonte Symfony", body="Refonte de notre extranet en Symfony.\n",
                         sender="Jeanne <jeanne@client.fr>"), env={"BIDMAIL_NOW": "2026-03-02T10:05:00Z"})
    alert = last_mail(b, "paul@dev.fr")
    raw, addr = reply_to(alert, "Je propose 2 000 € HT, livraison en 15 jours.", sender="Paul Dev <paul@dev.fr>")
    b.deliver(raw, recipient=addr, sender="paul@dev.fr")
    b.run("run", "--once", env={"BIDMAIL_NOW": "2026-03-02T11:00:00Z"})
    expect([x["status"] for x in bids_of(b, 1001)] == ["active"], "set-up bids: %r" % bids_of(b, 1001))
    return b


def test_forged_public_bid_withdraws_nothing_and_needs_a_yes():
    """A public bid with Paul's From: held, his real bid still active and counted, no mail to
    the client; the request says someone offered this price in his name and how to answer.
    "Je n'ai JAMAIS envoyé cette offre !" cancels it (he is told nothing was sent); the next
    day a vague reply is answered with what to write and confirms nothing; "oui" confirms:
    then it replaces his bid and the client is told. Before: the real bid was `replaced` at
    once and any reply confirmed the forged one."""
    b = board_with_bid()
    quotes = lambda: [m for m in b.outbox() if m["kind"] == "bid_quote"]
    nq = len(quotes())
    def forged(day):
        b.deliver(forged_bid("bid+p1001@example.org", "paul@dev.fr", "Mon prix : 10 € HT.\nAttacker text here.\n"),
                  recipient="bid+p1001@example.org", sender="paul@dev.fr")
        b.run("run", "--once", env={"BIDMAIL_NOW": "2026-03-%02dT12:00:00Z" % day})
        return last_mail(b, "paul@dev.fr")
    ask = forged(2)
    st = sorted(x["status"] for x in bids_of(b, 1001))
    expect(st == ["active", "held"], "after the forged bid: %r" % st)
    expect(b.projects()[0]["bids"] == 1, "the project shows %r bids" % b.projects()[0]["bids"])
    expect(len(quotes()) == nq, "the client was sent the forged bid")
    t = body_of(ask)
    expect("en votre nom" in t and "10 € HT" in t and "« oui »" in t and "« non »" in t,
           "the request does not say it plainly: %r" % t)
    expect("Attacker text" not in t + str(ask["Subject"]), "the request repeats the sender's text")
    raw, addr = reply_to(ask, "Je n'ai JAMAIS envoyé cette offre !", sender="Paul Dev <paul@dev.fr>")
    b.deliver(raw, recipient=addr, sender="paul@dev.fr")
    b.run("run", "--once", env={"BIDMAIL_NOW": "2026-03-02T12:10:00Z"})
    st = sorted(x["status"] for x in bids_of(b, 1001))
    expect(st == ["active", "cancelled"], "after the objection: %r" % st)
    expect(len(quotes()) == nq, "the objection sent the bid to the client")
    told = body_of(last_mail(b, "paul@dev.fr"))
    expect("rien n'a été transmis" in told, "not told nothing was sent: %r" % told)
    # the next day: a reply that says neither yes nor no, then "oui"
    ask = forged(3)
    raw, addr = reply_to(ask, "Hein ? Qu'est-ce que c'est ?", sender="Paul Dev <paul@dev.fr>")
    b.deliver(raw, recipient=addr, sender="paul@dev.fr")
    b.run("run", "--once", env={"BIDMAIL_NOW": "2026-03-03T12:10:00Z"})
    again = last_mail(b, "paul@dev.fr")
    expect("pas compris" in body_of(again) and "« oui »" in body_of(again), "unclear reply: %r" % body_of(again))
    expect(sorted(x["status"] for x in bids_of(b, 1001)) == ["active", "cancelled", "held"], "decided on a vague reply")
    raw, addr = reply_to(again, "oui", sender="Paul Dev <paul@dev.fr>")
    b.deliver(raw, recipient=addr, sender="paul@dev.fr")
    b.run("run", "--once", env={"BIDMAIL_NOW": "2026-03-03T12:20:00Z"})
    st = sorted(x["status"] for x in bids_of(b, 1001))
    expect(st == ["active", "cancelled", "replaced"], "after oui: %r" % st)
    q = quotes()
    expect(len(q) == nq + 1 and "mise à jour" in q[-1]["subject"], "client quote: %r" % q[nq:])


def test_forged_held_bids_capped_and_listed_without_limit():
    """60 public bids from 60 forged addresses: at most 50 held, the rest refused; held bids
    are purged after 7 days. With 4,100 held rows before it (the old state), a real bid is
    still listed: the close notice reaches its bidder. Before: every forged bid was held, and
    store_bid_list kept the first 4,096 rows only, so the real bidder was never told."""
    b = board_with_bid()
    now = {"BIDMAIL_NOW": "2026-03-02T12:00:00Z"}
    for i in range(60):
        b.deliver(forged_bid("bid+p1001@example.org", "f%d@forged.example" % i),
                  recipient="bid+p1001@example.org", sender="f%d@forged.example" % i)
    b.run("run", "--once", env=now)
    held = [x for x in bids_of(b, 1001) if x["status"] == "held"]
    expect(len(held) <= 50, "%d held bids on one project" % len(held))
    expect(len(held) >= 40, "real-looking public bids refused too early: %d held" % len(held))
    b.run("run", "--once", env={"BIDMAIL_NOW": "2026-03-10T12:00:00Z"})
    st = [x["status"] for x in bids_of(b, 1001)]
    expect(st == ["active"], "after 7 days: %r" % sorted(set(st)))
    # the state the old code let forged mail build: 4,100 held rows, then a real bid
    b2 = Board().init()
    env = {"BIDMAIL_NOW": "2026-03-02T10:00:00Z"}
    subscribe(b2, "anna@dev.fr", "Anna Web", "skills symfony\nfrequency instant", env=env)
    publish(b2, post_mail(subject="Refonte Symfony", body="En Symfony.\n", sender="Jeanne <jeanne@client.fr>"), env=env)
    c = db(b2)
    c.executemany("INSERT INTO bids(project, subscriber, address, amount, status, created)"
                  " VALUES(1001, 999, ?, 1, 'held', '2026-03-02T10:06:00Z')",
                  [("f%d@forged.example" % i,) for i in range(4100)])
    c.commit()
    c.close()
    raw, addr = reply_to(last_mail(b2, "anna@dev.fr"), "Je propose 1 500 € HT.", sender="Anna Web <anna@dev.fr>")
    b2.deliver(raw, recipient=addr, sender="anna@dev.fr")
    b2.run("run", "--once", env={"BIDMAIL_NOW": "2026-03-02T11:00:00Z"})
    expect(len(bids_of(b2, 1001)) == 4101, "bids listed: %d" % len(bids_of(b2, 1001)))
    ack = [m for m in mails_to(b2, "jeanne@client.fr") if str(m["Reply-To"] or "").startswith("post+k-")][-1]
    raw, addr = reply_to(ack, "clôturer", sender="Jeanne <jeanne@client.fr>")
    b2.deliver(raw, recipient=addr, sender="jeanne@client.fr")
    b2.run("run", "--once", env={"BIDMAIL_NOW": "2026-03-02T12:00:00Z"})
    expect(b2.projects()[0]["status"] == "closed", "not closed")
    expect("clos ce projet" in body_of(last_mail(b2, "anna@dev.fr")), "the real bidder was not told of the close")


def test_forged_keyed_bids_capped_per_sender_and_per_subscriber():
    """One address replies to six subscribers' alerts (forwarded selections) with bids in their
    names: five are held (each subscriber asked once), the sixth refused by the per-sender cap;
    a bid in the first one's name from yet another address the same day asks nothing more.
    Before: seven held, and a request for every bid."""
    b = Board().init()
    env = {"BIDMAIL_NOW": "2026-03-02T10:00:00Z"}
    who = ["dev%d@dev.fr" % i for i in range(6)]
    for w in who:
        subscribe(b, w, "Dev", "skills symfony\nfrequency instant", env=env)
    publish(b, post_mail(subject="Refonte Symfony", body="En Symfony.\n", sender="Jeanne <jeanne@client.fr>"),
            env={"BIDMAIL_NOW": "2026-03-02T10:05:00Z"})
    alerts = {w: last_mail(b, w) for w in who}
    before = {w: len(mails_to(b, w)) for w in who}
    for i, w in enumerate(who + who[:1]):
        fwd = "fwd@evil.example" if i < 6 else "other@evil.example"
        raw, addr = reply_to(alerts[w], "Je propose 1 € HT.", sender="Forwarder <%s>" % fwd)
        b.deliver(raw, recipient=addr, sender=fwd)
        b.run("run", "--once", env={"BIDMAIL_NOW": "2026-03-02T11:00:00Z"})
    held = [x for x in bids_of(b, 1001) if x["status"] == "held"]
    expect(len(held) == 5, "held bids from one sender: %d" % len(held))
    asked = {w: len(mails_to(b, w)) - before[w] for w in who}
    expect(list(asked.values()) == [1, 1, 1, 1, 1, 0], "requests per subscriber: %r" % asked)
    expect(not mails_to(b, "fwd@evil.example") and not mails_to(b, "other@evil.example"),
           "a forwarding address was answered")


# ------------------------------------------------------------------ item 14

def test_forged_correction_to_a_scam_is_held_again():
    """A benign post is published; a correction by reply swaps in a text over the scam
    threshold: the project is held (it leaves the page and the selections), the poster gets
    the neutral held acknowledgement and the moderators a notice. Before: it stayed open and
    moderators heard nothing."""
    b = Board("moderators = modo@example.org\n").init()
    env = {"BIDMAIL_NOW": "2026-03-02T10:00:00Z"}
    ack = publish(b, post_mail(subject="Site vitrine", body="Un site vitrine pour notre boulangerie.\n"), env=env)
    expect(b.projects()[0]["status"] == "open", "set-up: %r" % b.projects()[0]["status"])
    expect(not mails_to(b, "modo@example.org"), "a moderator notice for a benign post")
    scam = ("Gagnez jusqu'à 3000 €/mois depuis chez vous, sans expérience ! Frais d'inscription : "
            "49 €. Plus vous parrainez, plus vous gagnez.")
    raw, addr = reply_to(ack, scam, sender="Jeanne Client <jeanne@client.fr>")
    b.deliver(raw, recipient=addr, sender="jeanne@client.fr")
    b.run("run", "--once", env=env)
    p = b.projects()[0]
    expect(p["status"] == "held", "after the scam correction: %r" % p["status"])
    notes = mails_to(b, "modo@example.org")
    expect(len(notes) == 1 and "1001" in str(notes[0]["Subject"]) + body_of(notes[0]), "moderators: %d notices" % len(notes))
    expect("parrainez" in body_of(notes[0]), "the notice does not show the new text")
    # a moderator approves it again: open, as for a new post
    b.run("moderate", "approve", "1001", env=env)
    expect(b.projects()[0]["status"] == "open", "approve: %r" % b.projects()[0]["status"])


# ------------------------------------------------------------------ budget test inputs

def hostile_inputs_forged(b):
    """Forged-From mails for the budget test: a victim's posts with an attacker's subject,
    public bids with a freelancer's From to open, missing and unpublished projects, a bid
    confirmation key from another address, a 4 MB unconfirmed post. Sets up project 1001
    (open) itself when the board has none. By design most get no answer (answering is the
    attack): each ends in the ingest log with its result (post:rate-limited, a deferred
    pending post, bid:public:rate-limited, bid:refused:held-cap, robot:bad-key...)."""
    if not b.projects():
        publish(b, post_mail(subject="Projet du budget", body="Un site, 800 EUR.\n",
                             sender="Budget Client <budget@client.fr>"), sender="budget@client.fr")
    out = []
    for i in range(20):
        raw = forged_post("victim-post@example.net", "GAGNEZ %d EUR http://spam.example/" % i, "Spam.\n")
        out.append(("forged-post-%d" % i, "post@example.org", "victim-post@example.net", raw.encode()))
    for i, pid in enumerate((1001, 1001, 999999, 1002, 1003)):
        to = "bid+p%d@example.org" % pid
        out.append(("forged-public-bid-%d" % i, to, "victim-bid@example.net",
                    forged_bid(to, "victim-bid@example.net").encode()))
    for i in range(10):
        to = "bid+p1001@example.org"
        out.append(("held-flood-%d" % i, to, "flood%d@forged.example" % i,
                    forged_bid(to, "flood%d@forged.example" % i).encode()))
    key_to = "robot+c-1-aaaaaaaaaaaaaaaa@example.org"
    out.append(("confirmation-from-stranger", key_to, "attacker@evil.example",
                robot_mail("oui\n", sender="A <attacker@evil.example>", to=key_to).encode()))
    big = forged_post("victim-big@example.net", "Gros projet", text_of_size(4 * 1024 * 1024 - 4096, 7))
    out.append(("unconfirmed-4mb-post", "post@example.org", "victim-big@example.net", big.encode()))
    return out


def test_forged_post_behind_a_refusal_is_asked_about_the_next_day():
    """A first post sent the same day as a refusal to that address (here: an empty mail just
    before) waits, since one request or refusal a day goes to an address; the next day it is
    asked about, once. Before: it waited, silent, until purged (only the answer to a post
    request asked about the next waiting post, and a refusal cannot be answered)."""
    b = Board().init()
    poster = "marie@asso.fr"
    b.deliver("From: %s\nTo: post@example.org\nMessage-ID: <empty@asso.fr>\n\n\n" % poster,
              sender=poster)
    b.run("run", "--once", env={"BIDMAIL_NOW": "2026-03-02T10:00:00Z"})
    expect(len(mails_to(b, poster)) == 1, "the empty mail: %d answers" % len(mails_to(b, poster)))
    b.deliver(post_mail(subject="Site de l'association", body="Un site de 5 pages.\n",
                        sender="Marie <%s>" % poster), sender=poster)
    b.run("run", "--once", env={"BIDMAIL_NOW": "2026-03-02T10:05:00Z"})
    expect([p["status"] for p in b.projects()] == ["pending_confirmation"], "%r" % b.projects())
    expect(len(mails_to(b, poster)) == 1, "a second mail within the day")
    for when in ("2026-03-03T10:00:01Z", "2026-03-03T10:30:00Z"):
        b.run("run", "--once", env={"BIDMAIL_NOW": when})
    got = mails_to(b, poster)
    expect(len(got) == 2 and "1001" in str(got[-1]["Subject"]),
           "the next day: %r" % [str(m["Subject"]) for m in got])
    raw, addr = reply_to(got[-1], "Oui, c'est bien moi.", sender=poster)
    b.deliver(raw, recipient=addr, sender=poster)
    b.run("run", "--once", env={"BIDMAIL_NOW": "2026-03-03T11:00:00Z"})
    expect([p["status"] for p in b.projects()] == ["open"], "not published: %r" % b.projects())
