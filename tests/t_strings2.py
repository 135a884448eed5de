"""t_strings2.py — the message catalogue, phase 2 (issue 12, item 2): the sentences of bid.c,
quote.c, ingest.c and digest.c come from mail-templates/LANG/strings, so a language added by
files only (t_catalogue.py's cat_third_language: English texts marked "xx-") reaches the bid
acknowledgement and refusal, the quote and the relay's notices, the award, the instant
selection and the rate-limit notice; and French templates carry their typography (U+00A0
before ':') in their own text, Subject included.
Exec'd in suite.py's namespace (Board, expect, publish, read_mail, subscribe, reply_to...;
cat_third_language and cat_body come from t_catalogue.py, loaded before it)."""
import email.policy as _s2_policy

S2_NBSP = "\u00a0"
# English sentences from the catalogue that must come out only in their xx form
S2_ENGLISH = ("Your bid is passed on", "We could not read the price", "not rated yet",
              "The client answers:", "Agreed price:", "Payment schedule:", "not stated",
              "Your contact:")
S2_FRENCH = ("Votre offre", "Nous n'avons pas compris", "pas encore évalué", "Le client",
             "Prix convenu", "Échéancier", "non précisé", "heure(s)", "Votre contact")


def s2_only_xx(text, what):
    """No sentence of the catalogue's en or fr files in text unless it is the xx one."""
    for s in S2_ENGLISH:
        expect(s not in text.replace("xx-" + s, ""), "%s: English %r not from xx: %r" % (what, s, text[:600]))
    for s in S2_FRENCH:
        expect(s not in text, "%s: French %r: %r" % (what, s, text[:600]))


def s2_mail_to(b, addr, since):
    """The outgoing mails to addr from index since on, parsed (no-break spaces folded)."""
    found = []
    for path in b.outgoing()[since:]:
        m = read_mail(path)[1]
        if m["To"].addresses[0].addr_spec == addr:
            found.append(m)
    return found


def s2_text(m):
    return m.get_body(("plain",)).get_content()


def s2_xx_board(extra=""):
    b = Board("template_override = override\nlanguage = xx\n" + extra)
    cat_third_language(b)
    b.init()
    return b


def test_strings2_third_language_bid_quote_award_selection():
    """With language `xx` added by files only, the instant selection (budget not stated), the
    bid's refusal (no price) and acknowledgement, the client's quote (not rated yet), the
    relay's notice and the award terms all carry xx's catalogue texts and no French or English
    sentence from C."""
    b = s2_xx_board()
    env = {"BIDMAIL_NOW": "2026-03-02T10:00:00Z"}
    subscribe(b, "zed@dev.example", "Zed Dev", "skills zorg\nfrequency instant", env=env)
    sub = subscribers(b)["zed@dev.example"]
    expect(sub.get("language") in (None, "", "xx"), "subscriber language %r" % sub.get("language"))
    n = len(b.outgoing())
    publish(b, post_mail(subject="Zorg blat", body="Zorg blat frobnitz.\n",
                         sender="Kim <kim@client.example>"), env=env)
    b.run("run", "--once", env=env)
    alerts = s2_mail_to(b, "zed@dev.example", n)
    expect(alerts, "no instant selection to the freelancer")
    alert = alerts[-1]
    expect(str(alert["Subject"]).startswith("XX ") and "xx-not stated" in s2_text(alert),
           "selection not in xx: %r / %r" % (str(alert["Subject"]), s2_text(alert)[:600]))
    s2_only_xx(s2_text(alert), "selection")
    # a bid without a price: refused, in xx
    n = len(b.outgoing())
    raw, addr = reply_to(alert, "Zorg blat frobnitz.", sender="Zed Dev <zed@dev.example>")
    b.deliver(raw, recipient=addr, sender="zed@dev.example")
    b.run("run", "--once", env=env)
    refusal = s2_mail_to(b, "zed@dev.example", n)
    expect(len(refusal) == 1 and "xx-We could not read the price" in s2_text(refusal[0]),
           "refusal not in xx: %r" % [s2_text(m)[:400] for m in refusal])
    s2_only_xx(s2_text(refusal[0]), "refusal")
    # a bid with a price: acknowledged, and quoted to the client, in xx
    n = len(b.outgoing())
    raw, addr = reply_to(alert, "Zorg 2400 EUR.", sender="Zed Dev <zed@dev.example>")
    b.deliver(raw, recipient=addr, sender="zed@dev.example")
    b.run("run", "--once", env=env)
    ack = s2_mail_to(b, "zed@dev.example", n)
    expect(len(ack) == 1 and "xx-Your bid is passed on to the client" in s2_text(ack[0]),
           "acknowledgement not in xx: %r" % [s2_text(m)[:400] for m in ack])
    s2_only_xx(s2_text(ack[0]), "acknowledgement")
    quote = s2_mail_to(b, "kim@client.example", n)
    expect(len(quote) == 1 and "xx-not rated yet" in s2_text(quote[0]),
           "quote not in xx: %r" % [s2_text(m)[:600] for m in quote])
    s2_only_xx(s2_text(quote[0]), "quote")
    # the client's question, relayed with the relay's notice in xx
    n = len(b.outgoing())
    raw, addr = reply_to(quote[0], "Zorg blat?", sender="Kim <kim@client.example>")
    b.deliver(raw, recipient=addr, sender="kim@client.example")
    b.run("run", "--once", env=env)
    relayed = s2_mail_to(b, "zed@dev.example", n)
    expect(len(relayed) == 1 and "xx-Kim, the client, answers:" in s2_text(relayed[0]),
           "relay notice not in xx: %r" % [s2_text(m)[:400] for m in relayed])
    s2_only_xx(s2_text(relayed[0]), "relay")
    # the award: both sides get the terms in xx
    n = len(b.outgoing())
    raw, addr = reply_to(quote[0], "accept", sender="Kim <kim@client.example>")
    b.deliver(raw, recipient=addr, sender="kim@client.example")
    b.run("run", "--once", env=env)
    awards = s2_mail_to(b, "zed@dev.example", n) + s2_mail_to(b, "kim@client.example", n)
    expect(len(awards) == 2 and all("xx-Agreed price:" in s2_text(m) and "xx-Payment schedule:"
                                    in s2_text(m) for m in awards),
           "award not in xx: %r" % [s2_text(m)[:600] for m in awards])
    for m in awards:
        s2_only_xx(s2_text(m), "award")
    b.cleanup()


def test_strings2_third_language_rate_limit_notice():
    """With language `xx` added by files only, the rate-limit notice names its window with
    xx's words (xx-1 hour(s)), not the French or English ones from C."""
    b = s2_xx_board("sender_rate_limit = 2\nsender_rate_window = 1h\n")
    env = {"BIDMAIL_NOW": "2026-03-02T10:00:00Z"}
    for i in range(4):
        deliver_robot(b, robot_mail("help", subject="zorg %d" % i))
    b.run("run", "--once", env=env)
    texts = [s2_text(m) for m in s2_mail_to(b, "alice@free.fr", 0)]
    notices = [t for t in texts if "xx-1 hour(s)" in t]
    expect(len(notices) == 1, "no xx rate-limit notice: %r" % [t[:300] for t in texts])
    s2_only_xx(notices[0], "rate-limit notice")
    expect("hour(s)" not in notices[0].replace("xx-1 hour(s)", ""), "English window: %r" % notices[0])
    b.cleanup()


def test_strings2_french_template_text_typeset_values_not():
    """A French template's own text carries U+00A0 before ':' in the real bytes, Subject
    included (RFC 2047 encoded), while a value put in it (the title) keeps its plain spaces."""
    b = Board().init()
    env = {"BIDMAIL_NOW": "2026-03-02T10:00:00Z"}
    ack = publish(b, post_mail(subject="Traduction : notre site", sender="Jeanne <jeanne@client.fr>"),
                  env=env)
    path = b.outgoing()[-1]
    raw = open(path, "rb").read()
    subject_line = [l for l in raw.split(b"\n") if l.lower().startswith(b"subject:")][0]
    expect(b"=?" in subject_line, "Subject not RFC 2047 encoded: %r" % subject_line)
    with open(path, "rb") as f:
        m = email.message_from_bytes(f.read(), policy=_s2_policy.default)
    subject = str(m["Subject"])
    expect(("enregistré" + S2_NBSP + ": Traduction : notre site") in subject,
           "Subject typography: %r" % subject)
    text = m.get_body(("plain",)).get_content()
    html = m.get_body(("html",)).get_content()
    expect(("numéro" + S2_NBSP + ":") in text, "text part not typeset: %r" % text[:600])
    expect(("numéro" + S2_NBSP + ":") in html and "Traduction : notre site" in html,
           "html part: %r" % html[:900])
    expect(str(ack["Subject"]).endswith("enregistré : Traduction : notre site"),
           "read_mail does not fold the Subject: %r" % str(ack["Subject"]))
    b.cleanup()
