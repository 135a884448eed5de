"""t_quoted.py — issue #11, items 11, 12, 13 and 15: what a relayed conversation may act on and
what it may carry. A client's command counts only above a quoted copy of what the board sent in
that conversation (whatever the quoting style), and only on the bid's current quote; the relay
masks the board's keys and tagged addresses; a command key works only from its subscriber's
address; signatures, keys and contact cards are not relayed.
Loaded into suite.py's namespace (Board, expect, publish, subscribe, reply_to, ...)."""

QT_NOW = {"BIDMAIL_NOW": "2026-03-04T10:00:00Z"}


def qt_run(b, hour):
    b.run("run", "--once", env={"BIDMAIL_NOW": "2026-03-04T%02d:00:00Z" % hour})


def qt_bids(b):
    """{bid id: (status, amount)} read from the board's database."""
    db = sqlite3.connect("file:%s?mode=ro" % os.path.join(b.dir, "var", "bidmail.db"), uri=True)
    try:
        return {r[0]: (r[1], r[2]) for r in db.execute("SELECT id, status, amount FROM bids")}
    finally:
        db.close()


def qt_mail(sender, to, subject, body, extra=""):
    return ("From: %s\nTo: %s\nSubject: %s\nMessage-ID: <%s@qt.test>\nDate: Wed, 4 Mar 2026 12:00:00 +0100\n"
            "MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n%s\n%s"
            % (sender, to, subject, os.urandom(6).hex(), extra, body))


def qt_bid(b, alert, text, hour=11):
    """Paul answers the alert with text (the alert quoted below, as a mail client does)."""
    raw, addr = reply_to(alert, text, sender="Paul Dev <paul@dev.fr>")
    b.deliver(raw, recipient=addr, sender="paul@dev.fr")
    qt_run(b, hour)


def qt_board(bid_text):
    """A board with one open project of Jeanne's and Paul's bid on it; returns (board, alert,
    the quote mail Jeanne received)."""
    b = Board().init()
    subscribe(b, "paul@dev.fr", "Paul Dev", "skills symfony\nfrequency instant", env=QT_NOW)
    publish(b, post_mail(subject="Refonte Symfony", body="Refonte de notre extranet en Symfony.\n",
                         sender="Jeanne <jeanne@client.fr>"), env={"BIDMAIL_NOW": "2026-03-04T10:05:00Z"})
    alert = last_mail(b, "paul@dev.fr")
    qt_bid(b, alert, bid_text)
    quote = last_mail(b, "jeanne@client.fr")
    expect(str(quote["Reply-To"]).startswith("bid+q-"), "no quote: %r" % quote["Subject"])
    return b, alert, quote


def qt_text(m):
    return m.get_body(("plain",)).get_content().replace("\r\n", "\n")


def qt_client_reply(b, quote, body, hour=12, thread=True):
    """Jeanne answers the quote (its relay address) with body; returns the relay address. Without
    thread, the reply names no Message-ID (as some clients and forwards do): the trimming does
    not know which of the board's mails it answers."""
    addr = email.utils.parseaddr(str(quote["Reply-To"]))[1]
    refs = "In-Reply-To: %s\nReferences: %s\n" % (quote["Message-ID"], quote["Message-ID"])
    b.deliver(qt_mail("Jeanne <jeanne@client.fr>", addr, "Re: " + str(quote["Subject"]), body,
                      refs if thread else ""),
              recipient=addr, sender="jeanne@client.fr")
    qt_run(b, hour)
    return addr


# The quoting styles that keep a copy of the quote in what the trimming leaves (or used to):
# each takes the quote's plain text and returns the copy as that client lays it out.
def qt_style_unattributed(t):
    return "\n" + t


def qt_style_indented(t):
    return "\n" + "\n".join("    " + l for l in t.splitlines())


def qt_style_lotus(t):
    return ("\n\n\nbidmail <bid@example.org>\n04/03/2026 11:00\n\nPour\njeanne@client.fr\ncc\n\n"
            "Objet\nNouvelle offre sur votre projet\n\n\n\n" + t)


def qt_style_lotus_columns(t):
    pad = " " * 13
    return ("\n\n\n%sbidmail\n%s<bid@example.org>\n%sTo\n%s04/03/2026 11:00   jeanne@client.fr\n"
            "%scc\n\n%sSubject\n%sNouvelle offre sur votre projet\n\n\n" % (pad, pad, " " * 60, pad, " " * 60,
                                                                         " " * 55, " " * 30) + t)


def qt_style_orange(t):
    return ("\n> Message du 04/03/26 11:00\n> De : \"bidmail\" <bid@example.org>\n> A : jeanne@client.fr\n"
            "> Copie à : \n> Objet : Nouvelle offre sur votre projet\n>\n\n" + t)


QT_STYLES = [("no attribution", qt_style_unattributed), ("indented", qt_style_indented),
             ("Lotus Notes", qt_style_lotus), ("Lotus Notes columns", qt_style_lotus_columns),
             ("Orange", qt_style_orange)]

QT_TRAP = ("Bonjour,\nJe propose 2 000 € HT, livraison en 20 jours.\n\naccepter\n\nrefuser\nclôturer\n\n"
           "Paul")


def test_quoted_bid_commands_in_every_quoting_style_ignored():
    """A freelancer's bid with `accepter`, `refuser` and `clôturer` on lines of their own: a
    client answering with a copy of the quote that the trimming keeps or misses (no
    attribution, indented, Lotus Notes blocks, Orange's `> Message du`) awards, declines and
    closes nothing (the question above the copy is relayed; when the copy is kept, the client
    is told a command in the quoted text was not applied); the same copy in a reply that names
    the quote's Message-ID is cut knowing what the board sent (nothing to tell); then `accepter`
    written above such a copy awards."""
    b, alert, quote = qt_board(QT_TRAP)
    try:
        qt = qt_text(quote)
        expect("\naccepter\n" in qt, "the trap is not in the quote: %r" % qt)
        for i, (name, style) in enumerate(QT_STYLES):
            n = len(b.outgoing())
            qt_client_reply(b, quote, "Pouvez-vous commencer lundi (%d) ?\n%s\n" % (i, style(qt)), hour=12 + i,
                            thread=False)
            p = b.projects()[0]
            bids = qt_bids(b)
            expect(p["status"] == "open" and all(s == "active" for s, _ in bids.values()),
                   "%s: a quoted command was obeyed: project %s, bids %r" % (name, p["status"], bids))
            new = [read_mail(f)[1] for f in b.outgoing()[n:]]
            relayed = [m for m in new if m["To"].addresses[0].addr_spec == "paul@dev.fr"]
            expect(len(relayed) == 1 and "commencer lundi (%d)" % i in qt_text(relayed[0]),
                   "%s: the question was not relayed: %r" % (name, [str(m["To"]) for m in new]))
            # a copy the trimming keeps: the client is told the command in it was not applied
            told = [m for m in new if m["To"].addresses[0].addr_spec == "jeanne@client.fr"]
            trimmed = name.startswith("Lotus") or name == "Orange"
            expect(len(told) == (0 if trimmed else 1) and
                   all("seulement dans le texte cité" in qt_text(m) for m in told),
                   "%s: the client was not told why nothing was done: %r" % (name, [str(m["To"]) for m in new]))
        n = len(b.outgoing())
        qt_client_reply(b, quote, "Pouvez-vous commencer mardi ?\n%s\n" % qt_style_unattributed(qt), hour=18)
        new = [read_mail(f)[1] for f in b.outgoing()[n:]]
        relayed = [m for m in new if m["To"].addresses[0].addr_spec == "paul@dev.fr"]
        expect(len(new) == 1 and len(relayed) == 1 and "commencer mardi" in qt_text(relayed[0]) and
               "Paul Dev vous propose" not in qt_text(relayed[0]),
               "the copy of the quote was not cut knowing what we sent: %r" % [qt_text(m)[:600] for m in new])
        n = len(b.outgoing())
        qt_client_reply(b, quote, "Bonjour,\n\naccepter\n\nMerci.\n%s\n" % qt_style_unattributed(qt), hour=20)
        expect(b.projects()[0]["status"] == "awarded",
               "a command above the copy was not obeyed: %r" % b.projects()[0]["status"])
    finally:
        b.cleanup()


def test_quoted_lotus_and_orange_copies_not_relayed():
    """Lotus Notes header blocks (lines and columns) and Orange's `> Message du` header over an
    unquoted copy (and its unquoted form) end the new text: the freelancer gets the client's
    question, not the copy of the quote."""
    b, alert, quote = qt_board("Je propose 2 000 € HT, livraison en 20 jours.")
    try:
        qt = qt_text(quote)
        unquoted_orange = lambda t: "\n" + qt_style_orange(t).replace("\n> ", "\n").replace("\n>\n", "\n")
        styles = [s for s in QT_STYLES if s[0].startswith("Lotus") or s[0] == "Orange"] + \
            [("Orange unquoted", unquoted_orange)]
        for i, (name, style) in enumerate(styles):
            qt_client_reply(b, quote, "Pouvez-vous commencer lundi (%d) ?\n%s\n" % (i, style(qt)), hour=12 + i,
                            thread=False)
            t = qt_text(last_mail(b, "paul@dev.fr"))
            expect("commencer lundi (%d)" % i in t and "vous propose" not in t and "Message du" not in t
                   and "bid@example.org" not in t, "%s: the quoted copy was relayed: %r" % (name, t))
    finally:
        b.cleanup()


def test_quoted_relayed_command_in_copy_ignored():
    """The freelancer writes `accepter` alone through the relay: the client's reply that keeps
    an unmarked copy of that relayed mail under a question awards nothing; `accepter` under
    the client's own restating of the terms, above the same copy, awards."""
    b, alert, quote = qt_board("Je propose 2 000 € HT, livraison en 20 jours.")
    try:
        qt_client_reply(b, quote, "Une question : pouvez-vous commencer lundi ?\n", hour=12)
        relayed = last_mail(b, "paul@dev.fr")
        raddr = email.utils.parseaddr(str(relayed["Reply-To"]))[1]
        expect(raddr.startswith("bid+r-"), "freelancer relay %r" % raddr)
        b.deliver(qt_mail("Paul Dev <paul@dev.fr>", raddr, "Re: projet", "accepter\n"), recipient=raddr,
                  sender="paul@dev.fr")
        qt_run(b, 13)
        back = last_mail(b, "jeanne@client.fr")
        bt = qt_text(back)
        expect("\naccepter\n" in bt, "the relayed text: %r" % bt)
        qt_client_reply(b, back, "Je regarde cela demain.\n\n" + bt, hour=14)
        expect(b.projects()[0]["status"] == "open", "a relayed command copied back was obeyed")
        expect(all(s == "active" for s, _ in qt_bids(b).values()), "bids %r" % qt_bids(b))
        # the client restating the terms above `accepter` is not taken for a quoted copy
        qt_client_reply(b, back, "Parfait pour 2 000 € HT, livraison en 20 jours.\naccepter\n\n" + bt, hour=15)
        expect(b.projects()[0]["status"] == "awarded", "a command under restated terms was not obeyed")
    finally:
        b.cleanup()


def qt_keys_board():
    """A board where Paul is subscribed and alerted of Jeanne's project; returns (board, the
    alert, Paul's robot+s command key, the alert's bid+b key)."""
    import re
    b = Board().init()
    subscribe(b, "paul@dev.fr", "Paul Dev", "skills symfony\nfrequency instant", env=QT_NOW)
    welcome = last_mail(b, "paul@dev.fr")
    skey = re.findall(r"robot\+(s-\d+-[a-z2-7]{16})@", str(welcome["Reply-To"]))
    expect(skey, "no command key in the welcome: %r" % welcome["Reply-To"])
    publish(b, post_mail(subject="Refonte Symfony", body="Refonte de notre extranet en Symfony.\n",
                         sender="Jeanne <jeanne@client.fr>"), env={"BIDMAIL_NOW": "2026-03-04T10:05:00Z"})
    alert = last_mail(b, "paul@dev.fr")
    bkey = re.findall(r"bid\+(b-\d+-\d+-[a-z2-7]{16})@", str(alert["Reply-To"]))
    expect(bkey, "no bid key in the alert: %r" % alert["Reply-To"])
    return b, alert, skey[0], bkey[0]


def test_quoted_keys_masked_in_quote_and_relay():
    """A bid that keeps the alert's text (Paul's robot+s and bid+b keys, as addresses, as a
    References id and bare) and a relayed message naming his robot+s and bid+r addresses reach
    the client with every key and tagged address of the board masked, the rest intact."""
    b, alert, skey, bkey = qt_keys_board()
    try:
        copy = ("Pour changer vos critères, écrivez à robot+%s@example.org.\nPour faire une offre : "
                "bid+%s@example.org\nRéférence <%s@example.org>\nClé : %s" % (skey, bkey, skey, skey))
        qt_bid(b, alert, "Je propose 2 000 € HT, livraison en 20 jours.\n\n" + copy)
        quote = last_mail(b, "jeanne@client.fr")
        raw_quote = read_mail(b.outgoing()[-1])[0].decode("utf-8", "replace")
        qt = qt_text(quote) + "\n" + quote.get_body(("html",)).get_content()
        expect(skey not in qt and bkey not in qt and "robot+" not in qt and "bid+b-" not in qt,
               "a key reached the client in the quote: %r" % qt)
        expect(qt.count("[adresse masquée]") >= 8, "no placeholder: %r" % qt)
        expect("2 000 € HT" in qt and "critères, écrivez à [adresse masquée]." in qt, "the bid text was lost: %r" % qt)
        expect(skey not in raw_quote and bkey not in raw_quote, "a key is in the raw quote mail")
        qt_client_reply(b, quote, "Pouvez-vous commencer lundi ?\n", hour=12)
        relayed = last_mail(b, "paul@dev.fr")
        raddr = email.utils.parseaddr(str(relayed["Reply-To"]))[1]
        b.deliver(qt_mail("Paul Dev <paul@dev.fr>", raddr, "Re: projet",
                          "Oui. Mon robot : ROBOT+%s@EXAMPLE.ORG, %s\n" % (skey.upper(), raddr)),
                  recipient=raddr, sender="paul@dev.fr")
        qt_run(b, 13)
        back = last_mail(b, "jeanne@client.fr")
        bt = qt_text(back) + back.get_body(("html",)).get_content()
        expect(skey not in bt.lower() and "bid+r-" not in bt and "Oui. Mon robot : [adresse masquée], [adresse masquée]" in bt,
               "relayed keys: %r" % bt)
    finally:
        b.cleanup()


def test_quoted_command_key_bound_to_its_subscriber():
    """Paul's robot+s command key used from another From (the client who saw it) changes
    nothing: Paul is asked at his own address, nothing goes to the sender; from Paul's address
    the same key still works at once."""
    b, alert, skey, bkey = qt_keys_board()
    try:
        n = len(b.outgoing())
        saddr = "robot+%s@example.org" % skey
        b.deliver(qt_mail("Jeanne <jeanne@client.fr>", saddr, "robot", "pause\nunsubscribe\n"), recipient=saddr,
                  sender="jeanne@client.fr")
        qt_run(b, 14)
        expect(subscribers(b)["paul@dev.fr"]["status"] == "active",
               "a command key worked from another From: %r" % subscribers(b)["paul@dev.fr"]["status"])
        new = [read_mail(f)[1] for f in b.outgoing()[n:]]
        expect(len(new) == 1 and new[0]["To"].addresses[0].addr_spec == "paul@dev.fr" and
               str(new[0]["Reply-To"]).startswith("robot+c-"),
               "not a confirmation request to the subscriber: %r" % [(str(m["To"]), str(m["Reply-To"])) for m in new])
        n = len(b.outgoing())
        b.deliver(qt_mail("Jeanne <jeanne@client.fr>", saddr, "robot", "profile\n"), recipient=saddr,
                  sender="jeanne@client.fr")
        qt_run(b, 15)
        new = [read_mail(f)[1] for f in b.outgoing()[n:]]
        expect(all(m["To"].addresses[0].addr_spec == "paul@dev.fr" for m in new),
               "a profile went to another From: %r" % [str(m["To"]) for m in new])
        b.deliver(qt_mail("Paul Dev <paul@dev.fr>", saddr, "robot", "pause\n"), recipient=saddr, sender="paul@dev.fr")
        qt_run(b, 16)
        expect(subscribers(b)["paul@dev.fr"]["status"] == "paused", "the key no longer works for its owner")
    finally:
        b.cleanup()


def qt_signed_mail(to, sender, text):
    """A multipart/signed S/MIME mail with a vCard, an OpenPGP key and a PDF attached."""
    import base64 as b64
    pdf = b"%PDF-1.4 devis \x00\x01\x02" * 40
    vcf = "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Jeanne Client\r\nEMAIL:jeanne@client.fr\r\nEND:VCARD\r\n"
    key = "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmQENBF...jeanne@client.fr\n-----END PGP PUBLIC KEY BLOCK-----\n"
    p7s = b"0\x82\x05\x00 certificate of jeanne@client.fr " * 10

    def part(ctype, name, data):
        return ("--IN\nContent-Type: %s; name=\"%s\"\nContent-Disposition: attachment; filename=\"%s\"\n"
                "Content-Transfer-Encoding: base64\n\n%s\n" % (ctype, name, name, b64.encodebytes(data).decode()))
    inner = ("Content-Type: multipart/mixed; boundary=\"IN\"\n\n--IN\nContent-Type: text/plain; charset=utf-8\n\n"
             "%s\n" % text + part("application/pdf", "devis.pdf", pdf) + part("text/vcard", "jeanne.vcf", vcf.encode())
             + part("application/pgp-keys", "0xJEANNE.asc", key.encode()) + "--IN--\n")
    raw = ("From: %s\nTo: %s\nSubject: Re: offre\nMessage-ID: <%s@client.fr>\nMIME-Version: 1.0\n"
           "Content-Type: multipart/signed; protocol=\"application/pkcs7-signature\"; micalg=sha-256; boundary=\"OUT\"\n\n"
           "--OUT\n%s\n--OUT\nContent-Type: application/pkcs7-signature; name=\"smime.p7s\"\n"
           "Content-Disposition: attachment; filename=\"smime.p7s\"\nContent-Transfer-Encoding: base64\n\n%s\n--OUT--\n"
           % (sender, to, os.urandom(6).hex(), inner, b64.encodebytes(p7s).decode()))
    return raw, pdf


def test_quoted_identity_attachments_not_relayed():
    """A signed mail from the client with a vCard, an OpenPGP key and a PDF: the freelancer
    gets the text and the PDF only, and is told that 3 attachments were removed."""
    b, alert, quote = qt_board("Je propose 2 000 € HT, livraison en 20 jours.")
    try:
        addr = email.utils.parseaddr(str(quote["Reply-To"]))[1]
        raw, pdf = qt_signed_mail(addr, "Jeanne <jeanne@client.fr>", "Voici le devis signé.")
        b.deliver(raw, recipient=addr, sender="jeanne@client.fr")
        qt_run(b, 12)
        m = last_mail(b, "paul@dev.fr")
        names = [p.get_filename() for p in m.iter_attachments()]
        expect(names == ["devis.pdf"], "relayed attachments: %r" % names)
        expect([p.get_content() for p in m.iter_attachments()] == [pdf], "the PDF was altered")
        t = qt_text(m)
        expect("Voici le devis signé" in t and "3 pièce(s) jointe(s) retirée(s)" in t, "relayed text: %r" % t)
        raw_out = read_mail(b.outgoing()[-1])[0]
        expect(b"jeanne@client.fr" not in raw_out and b"VCARD" not in raw_out and b"PGP" not in raw_out,
               "an identity reached the freelancer")
    finally:
        b.cleanup()


def test_quoted_old_quote_does_not_award():
    """Accepting the quote of a replaced bid awards nothing: the client is told the current
    price, and a reply to that notice accepts the current bid at its price; a declined bid's
    quote cannot be accepted either."""
    b, alert, old_quote = qt_board("Je propose 2 000 € HT, livraison en 20 jours.")
    try:
        qt_bid(b, alert, "Finalement 2 600 € HT, en 15 jours.", hour=12)
        new_quote = last_mail(b, "jeanne@client.fr")
        expect("2 600" in qt_text(new_quote), "no updated quote")
        n = len(b.outgoing())
        qt_client_reply(b, old_quote, "accepter\n", hour=13)
        bids = qt_bids(b)
        expect(b.projects()[0]["status"] == "open" and sorted(s for s, _ in bids.values()) == ["active", "replaced"],
               "an old quote awarded: %s %r" % (b.projects()[0]["status"], bids))
        new = [read_mail(f)[1] for f in b.outgoing()[n:]]
        expect(len(new) == 1 and new[0]["To"].addresses[0].addr_spec == "jeanne@client.fr",
               "notice: %r" % [str(m["To"]) for m in new])
        nt = qt_text(new[0])
        expect("2 600 € HT" in nt and "plus valable" in nt and "accepter" in nt, "notice text: %r" % nt)
        expect(str(new[0]["Reply-To"]) == str(new_quote["Reply-To"]),
               "the notice does not lead to the current quote: %r" % new[0]["Reply-To"])
        qt_client_reply(b, new[0], "accepter\n", hour=14)
        expect(b.projects()[0]["status"] == "awarded", "the current bid was not awarded")
        won = [a for s, a in qt_bids(b).values() if s == "accepted"]
        expect(won == [2600], "awarded at %r" % won)
        expect("2 600 € HT" in qt_text(last_mail(b, "paul@dev.fr")), "award at the wrong price")
    finally:
        b.cleanup()
    b, alert, quote = qt_board("Je propose 2 000 € HT, livraison en 20 jours.")
    try:
        qt_client_reply(b, quote, "refuser\n", hour=12)
        expect([s for s, _ in qt_bids(b).values()] == ["declined"], "not declined: %r" % qt_bids(b))
        qt_client_reply(b, quote, "accepter\n", hour=13)
        expect(b.projects()[0]["status"] == "open" and [s for s, _ in qt_bids(b).values()] == ["declined"],
               "a declined bid was awarded: %r" % qt_bids(b))
        t = qt_text(last_mail(b, "jeanne@client.fr"))
        expect("plus valable" in t and "pas d'offre en cours" in t, "client not told: %r" % t)
    finally:
        b.cleanup()


def hostile_inputs_quoted(b):
    """Sets up on b a project of Jeanne's with Paul's bid (whose text holds commands), then
    returns the hostile mails of items 11, 12, 13 and 15 as (label, recipient, sender, raw)."""
    subscribe(b, "paul@dev.fr", "Paul Dev", "skills symfony\nfrequency instant", env=QT_NOW)
    import re
    skey = re.findall(r"(s-\d+-[a-z2-7]{16})", str(last_mail(b, "paul@dev.fr")["Reply-To"]))
    publish(b, post_mail(subject="Refonte Symfony", body="Refonte de notre extranet en Symfony.\n",
                         sender="Jeanne <jeanne@client.fr>"), env={"BIDMAIL_NOW": "2026-03-04T10:05:00Z"})
    alert = last_mail(b, "paul@dev.fr")
    qt_bid(b, alert, QT_TRAP)
    old_quote = last_mail(b, "jeanne@client.fr")
    qt_bid(b, alert, "Finalement 2 600 € HT.", hour=12)
    quote = last_mail(b, "jeanne@client.fr")
    qaddr = email.utils.parseaddr(str(quote["Reply-To"]))[1]
    oaddr = email.utils.parseaddr(str(old_quote["Reply-To"]))[1]
    out = []
    for name, style in QT_STYLES:
        out.append(("quoted-command " + name, oaddr, "jeanne@client.fr",
                    qt_mail("Jeanne <jeanne@client.fr>", oaddr, "Re: offre", "Une question.\n" +
                            style(qt_text(old_quote)) + "\n").encode()))
    out.append(("old-quote accept", oaddr, "jeanne@client.fr",
                qt_mail("Jeanne <jeanne@client.fr>", oaddr, "Re: offre", "accepter\n").encode()))
    if skey:
        saddr = "robot+%s@example.org" % skey[0]
        out.append(("command key from another From", saddr, "mallory@evil.example",
                    qt_mail("Mallory <mallory@evil.example>", saddr, "robot", "unsubscribe\n").encode()))
    raw, _ = qt_signed_mail(qaddr, "Jeanne <jeanne@client.fr>", "Devis signé.")
    out.append(("signed mail with identity attachments", qaddr, "jeanne@client.fr", raw.encode()))
    return out
