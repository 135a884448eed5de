"""t_route.py — the route stage (src/route.c): where the board looks for a mail's signed key
(envelope recipient, Delivered-To, To, Cc, then References), which key decides (the first that
verifies), and that a key that does not verify is refused, never taken for something else.
Exec'd in suite.py's namespace."""
import email.utils

ROUTE_NOW = {"BIDMAIL_NOW": "2026-03-04T10:00:00Z"}
ROUTE_FIX = "Correction : un site en Symfony, budget 3 000 € HT, délai 6 semaines."


def route_board_with_ack():
    """A board with one published project of jeanne@client.fr; returns (board, ack, key address)."""
    b = Board().init()
    publish(b, post_mail(subject="Site Symfony", body="Un site en Symfony, budget 1 000 €.\n",
                         sender="Jeanne <jeanne@client.fr>"), env=ROUTE_NOW)
    ack = last_mail(b, "jeanne@client.fr")
    addr = email.utils.parseaddr(str(ack["Reply-To"]))[1]
    expect(addr.startswith("post+k-"), "ack Reply-To %r" % addr)
    return b, ack, addr


def route_reply(headers, body=ROUTE_FIX):
    return ("From: Jeanne <jeanne@client.fr>\n%sSubject: Re: Site Symfony\nMessage-ID: <%s@client.fr>\n"
            "Date: Wed, 4 Mar 2026 11:00:00 +0100\nContent-Type: text/plain; charset=utf-8\n\n%s\n"
            % (headers, os.urandom(6).hex(), body))


def route_expect_corrected(b, what):
    p = b.projects()
    expect(len(p) == 1, "%s: taken for a new post: %r" % (what, [(x["id"], x["title"]) for x in p]))
    # "délai 6 semaines" written on 4 March 2026: the day 15 April (deadline_days counts the days
    # left when the listing runs)
    expect(p[0]["budget"]["max"] == 3000.0 and p[0]["deadline"] == "2026-04-15",
           "%s: not corrected: budget %r, deadline %r" % (what, p[0]["budget"], p[0]["deadline"]))
    body = last_mail(b, "jeanne@client.fr").get_body(("plain",)).get_content()
    expect("3 000 € HT" in body, "%s: the correction was not restated" % what)


def route_forged(addr):
    """addr with its MAC altered (same shape, does not verify)."""
    local, dom = addr.split("@")
    mac = local[-16:]
    return "%s%s@%s" % (local[:-16], "".join("b" if ch == "a" else "a" for ch in mac), dom)


def test_route_post_reply_by_cc_corrects_the_project():
    """A reply to an acknowledgement that reaches the board by Cc only (envelope recipient and To
    without the key) corrects the project. Bug (issue #12): ingest.c looked for post+k in the
    envelope recipient and To only, so such a reply was stored as a new post."""
    b, ack, addr = route_board_with_ack()
    raw = route_reply("To: Marc <marc@client.fr>\nCc: %s\nIn-Reply-To: %s\n" % (addr, ack["Message-ID"]))
    b.deliver(raw, recipient="post@example.org", sender="jeanne@client.fr")
    b.run("run", "--once", env=ROUTE_NOW)
    route_expect_corrected(b, "by Cc")
    b.cleanup()


def test_route_post_reply_by_references_only_corrects_the_project():
    """A reply to an acknowledgement whose provider dropped the +tag (To post@, envelope
    post@) still corrects the project: the key rides in References as <k-ID-MAC@domain>. Bug
    (issue #12): ingest.c did not look at References for post+k."""
    b, ack, addr = route_board_with_ack()
    refs = str(ack["References"] or "")
    expect("<k-" in refs, "the acknowledgement carries no key in References: %r" % refs)
    raw = route_reply("To: post@example.org\nIn-Reply-To: %s\nReferences: %s %s\n"
                      % (ack["Message-ID"], refs, ack["Message-ID"]))
    b.deliver(raw, recipient="post@example.org", sender="jeanne@client.fr")
    b.run("run", "--once", env=ROUTE_NOW)
    route_expect_corrected(b, "by References")
    b.cleanup()


def test_route_valid_envelope_key_wins_over_a_forged_to():
    """The documented order: a mail whose To holds a forged key but whose envelope recipient
    holds the valid one is acted on by the valid one (the project is corrected)."""
    b, ack, addr = route_board_with_ack()
    raw = route_reply("To: %s\n" % route_forged(addr))
    b.deliver(raw, recipient=addr, sender="jeanne@client.fr")
    b.run("run", "--once", env=ROUTE_NOW)
    route_expect_corrected(b, "valid recipient, forged To")
    b.cleanup()


def test_route_first_key_that_verifies_decides():
    """A forged key in the envelope recipient does not hide a valid one in To: the first
    candidate that verifies decides, in the order recipient, Delivered-To, To, Cc, References."""
    b, ack, addr = route_board_with_ack()
    raw = route_reply("To: %s\n" % addr)
    b.deliver(raw, recipient=route_forged(addr), sender="jeanne@client.fr")
    b.run("run", "--once", env=ROUTE_NOW)
    route_expect_corrected(b, "forged recipient, valid To")
    b.cleanup()


def test_route_forged_post_key_anywhere_is_refused_not_a_new_post():
    """A key that does not verify, in the recipient, in Cc or in References, is refused with
    the "not valid" answer (once a day) and is never taken for a new post; the project stays
    as it was."""
    b, ack, addr = route_board_with_ack()
    forged = route_forged(addr)
    cases = [("recipient", "To: %s\n" % forged, forged),
             ("Cc", "To: post@example.org\nCc: %s\n" % forged, "post@example.org"),
             ("References", "To: post@example.org\nReferences: <%s>\n" % forged.replace("post+", ""),
              "post@example.org")]
    for what, headers, rcpt in cases:
        n = len(b.outgoing())
        b.deliver(route_reply(headers), recipient=rcpt, sender="jeanne@client.fr")
        b.run("run", "--once", env=ROUTE_NOW)
        p = b.projects()
        expect(len(p) == 1, "%s: a forged key was taken for a new post: %r" % (what, p))
        expect(p[0]["budget"]["max"] == 1000.0, "%s: a forged key corrected the project" % what)
        new = [read_mail(x)[1] for x in b.outgoing()[n:]]
        if what == "recipient":
            expect(len(new) == 1 and "pas valide" in new[0].get_body(("plain",)).get_content(),
                   "%s: no refusal: %r" % (what, [str(m["Subject"]) for m in new]))
        else:
            # one refusal a day: the later ones are silent
            expect(not new, "%s: answered again the same day: %r" % (what, [str(m["Subject"]) for m in new]))
    b.cleanup()


def test_route_bid_key_in_cc_makes_the_bid():
    """At the bid address, the key is found in Cc as well (the freelancer wrote To the client
    and Cc'd the board's bid address): the bid is recorded and quoted to the client."""
    b = Board().init()
    subscribe(b, "paul@dev.fr", "Paul Dev", "skills symfony\nfrequency instant", env=ROUTE_NOW)
    publish(b, post_mail(subject="Site Symfony", body="Un site en Symfony, budget 1 000 €.\n",
                         sender="Jeanne <jeanne@client.fr>"), env=ROUTE_NOW)
    alert = last_mail(b, "paul@dev.fr")
    addr = email.utils.parseaddr(str(alert["Reply-To"]))[1]
    expect(addr.startswith("bid+b-"), "alert Reply-To %r" % addr)
    raw = ("From: Paul Dev <paul@dev.fr>\nTo: jeanne@client.fr\nCc: %s\nSubject: Re: offre\n"
           "Message-ID: <%s@dev.fr>\nContent-Type: text/plain; charset=utf-8\n\nJe propose 900 € HT.\n"
           % (addr, os.urandom(6).hex()))
    b.deliver(raw, recipient="bid@example.org", sender="paul@dev.fr")
    b.run("run", "--once", env=ROUTE_NOW)
    body = last_mail(b, "jeanne@client.fr").get_body(("plain",)).get_content()
    expect("900 € HT" in body, "no quote to the client for a bid keyed in Cc")
    b.cleanup()


def test_route_key_for_another_address_is_refused():
    """Each address accepts its own purposes only (post: k; bid: b q r t p; robot: c s u d v;
    bounce: m): the acknowledgement's valid post key, sent to the robot or the bid address, is
    refused there as not valid and changes nothing (no subscriber, no bid, the project as it was)."""
    b, ack, addr = route_board_with_ack()
    key = addr[len("post+"):].split("@")[0]
    for local, sender in (("robot", "a@x.example"), ("bid", "b@x.example")):
        n = len(b.outgoing())
        raw = route_reply("To: %s+%s@example.org\n" % (local, key), body="subscribe\nJe propose 900 € HT.")
        raw = raw.replace("From: Jeanne <jeanne@client.fr>", "From: %s" % sender)
        b.deliver(raw, recipient="%s+%s@example.org" % (local, key), sender=sender)
        b.run("run", "--once", env=ROUTE_NOW)
        new = [read_mail(x)[1] for x in b.outgoing()[n:]]
        expect(len(new) == 1 and new[0]["To"].addresses[0].addr_spec == sender and
               "pas valide" in new[0].get_body(("plain",)).get_content(),
               "%s: a post key was not refused: %r" % (local, [(str(m["To"]), str(m["Subject"])) for m in new]))
    subs = json.loads(b.run("subscribers", "--json").stdout)
    expect(not [s for s in subs if s["address"].endswith("@x.example")], "a subscriber was made: %r" % subs)
    p = b.projects()
    expect(len(p) == 1 and p[0]["bids"] == 0 and p[0]["budget"]["max"] == 1000.0, "changed: %r" % p)
    b.cleanup()
