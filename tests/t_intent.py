"""t_intent.py — the intent reader's data file (issue 13, item 3): contrib/intents.txt is the
operator's to extend (a phrase added there is an acceptance on the next start or SIGHUP), a
bad line refuses the reload with its file:line, and `make install` ships it (suite.py's
install test lists it). The conversations themselves are cases 0100-0124 (and 0280-0282 for
the masking of addresses and phone numbers; 0502-0505 for a freelancer's no and withdrawal). Exec'd in
suite.py's namespace (Board, expect, runtime_board, RuntimeDaemon come from there)."""


def intent_play(reply_text, extra_phrase):
    """Case 0100 played on a board whose data_dir is a copy of contrib/ (extra_phrase, if any,
    appended to its intents.txt), the client's reply to the quote being reply_text; returns
    the project's status."""
    import cases
    tmp = tempfile.mkdtemp(prefix="intent-")
    try:
        folder = os.path.join(tmp, "case")
        src = glob.glob(os.path.join(ROOT, "tests", "cases", "0100-*"))[0]
        shutil.copytree(src, folder)
        for f in glob.glob(os.path.join(folder, "expect", "*.mail")):
            os.unlink(f)
        data = os.path.join(tmp, "data")
        os.makedirs(data)
        for name in sorted(os.path.basename(p) for p in glob.glob(os.path.join(ROOT, "contrib", "*.txt"))):
            shutil.copy(os.path.join(ROOT, "contrib", name), data)
        if extra_phrase:
            with open(os.path.join(data, "intents.txt"), "a") as f:
                f.write(extra_phrase + "\n")
        with open(os.path.join(folder, "bidmail.conf"), "w") as f:
            f.write("data_dir = %s\n" % data)
        reply = os.path.join(folder, "06-reply.eml")
        with open(reply, encoding="utf-8") as f:
            raw = f.read()
        with open(reply, "w", encoding="utf-8") as f:
            f.write(raw.replace("Parfait, c'est d'accord : j'accepte votre offre.", reply_text))
        with open(os.path.join(folder, "steps"), encoding="utf-8") as f:
            steps = [l for l in f.read().splitlines() if not l.startswith("state ")]
        with open(os.path.join(folder, "steps"), "w", encoding="utf-8") as f:
            f.write("\n".join(steps) + "\n")
        r = cases.CaseRun(folder)
        r.update = True
        try:
            r.play()
            return [p for p in r.b.projects() if p["id"] == 1001][0]["status"]
        finally:
            r.b.cleanup()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def test_intent_operator_phrase_accepts():
    """A phrase an operator adds to intents.txt ("accept fr | zorbok", a fixed formula) makes a
    reply that says it a sure acceptance: the project is awarded at once; without the phrase
    the same reply is only relayed."""
    got = intent_play("Zorbok, on fonce.", None)
    expect(got == "open", "awarded without the phrase: %s" % got)
    got = intent_play("Zorbok, on fonce.", "accept fr | zorbok")
    expect(got == "awarded", "the operator's phrase did not award: %s" % got)


def bid_play(case, mail, old, new, extra_phrase, last_step):
    """Case `case` played on a board whose data_dir is a copy of contrib/ (extra_phrase, if any,
    appended to its intents.txt), the text old of its mail `mail` replaced by new, up to and
    including the step line last_step; returns the statuses of project 1001's bids."""
    import cases
    tmp = tempfile.mkdtemp(prefix="intent-bid-")
    try:
        folder = os.path.join(tmp, "case")
        shutil.copytree(glob.glob(os.path.join(ROOT, "tests", "cases", case + "-*"))[0], folder)
        shutil.rmtree(os.path.join(folder, "expect"))
        os.makedirs(os.path.join(folder, "expect"))
        data = os.path.join(tmp, "data")
        os.makedirs(data)
        for name in glob.glob(os.path.join(ROOT, "contrib", "*.txt")):
            shutil.copy(name, data)
        if extra_phrase:
            with open(os.path.join(data, "intents.txt"), "a") as f:
                f.write(extra_phrase + "\n")
        with open(os.path.join(folder, "bidmail.conf"), "w") as f:
            f.write("data_dir = %s\n" % data)
        path = os.path.join(folder, mail)
        with open(path, encoding="utf-8") as f:
            raw = f.read()
        expect(old in raw, "%s does not hold %r" % (mail, old))
        with open(path, "w", encoding="utf-8") as f:
            f.write(raw.replace(old, new))
        with open(os.path.join(folder, "steps"), encoding="utf-8") as f:
            lines = f.read().splitlines()
        steps = [l for l in lines[:lines.index(last_step) + 1] if not l.startswith("state ")]
        with open(os.path.join(folder, "steps"), "w", encoding="utf-8") as f:
            f.write("\n".join(steps) + "\n")
        r = cases.CaseRun(folder)
        r.update = True
        try:
            r.play()
            out = r.b.run("bids", "1001", "--json").stdout
            return [b["status"] for b in json.loads(out)]
        finally:
            r.b.cleanup()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def test_intent_operator_phrase_says_no_to_a_project():
    """A phrase an operator adds to intents.txt ("pass fr | zorbok") makes a freelancer's reply
    that says it no bid, even with an amount in it; without the phrase the same reply is a
    bid (case 0502's first reply)."""
    old = "Désolé, je ne peux pas faire ce projet pour 900 €."
    new = "Zorbok pour 900 € HT."
    got = bid_play("0502", "04-no-at-a-price.eml", old, new, None, "deliver 04-no-at-a-price.eml")
    expect(got == [], "the run before the reply was not what the test expects: %r" % got)
    got = bid_play("0502", "04-no-at-a-price.eml", old, new, None, "state bids:1001 bids-1.json")
    expect(got == ["active"], "without the phrase the reply made no bid: %r" % got)
    got = bid_play("0502", "04-no-at-a-price.eml", old, new, "pass fr | zorbok",
                   "state bids:1001 bids-1.json")
    expect(got == [], "the operator's phrase did not stop the bid: %r" % got)


def test_intent_operator_phrase_withdraws():
    """A phrase an operator adds to intents.txt ("withdraw fr | je plie bagage") withdraws the
    freelancer's bid when written in a reply to its acknowledgement (case 0504's first
    withdrawal); without it the reply withdraws nothing."""
    new = "Bon, je plie bagage."
    got = bid_play("0504", "07-withdraw.eml", "\nretirer\n", "\n%s\n" % new, None,
                   "state bids:1001 bids-1.json")
    expect(got[1] != "cancelled", "withdrawn without the phrase: %r" % got)
    got = bid_play("0504", "07-withdraw.eml", "\nretirer\n", "\n%s\n" % new,
                   "withdraw fr | je plie bagage", "state bids:1001 bids-1.json")
    expect(got == ["active", "cancelled"], "the operator's phrase did not withdraw: %r" % got)


def test_intent_broken_file_refused_on_reload():
    """A SIGHUP while intents.txt has a line of an unknown kind is refused, the log naming the
    file and the line and what a line must be."""
    b = runtime_board("poll_interval = 30\n")
    d = RuntimeDaemon(b)
    try:
        with open(os.path.join(b.data, "intents.txt"), "a") as f:
            f.write("acept | zorbok\n")
        expect(d.reload() == "refused", "a broken intents.txt was accepted")
        err = d.logged()
        expect("intents.txt:" in err and "expected `kind [language] | phrase" in err,
               "the reason does not name the file and line: %s" % err[-1500:])
    finally:
        d.stop()


def test_intent_sentence_before_attribution_kept():
    """A reply's last sentence just before the attribution ("On ne donnera pas suite.", "Le
    projet est annulé.") stays in the new text.

    Symptom: both were trimmed away, so a refusal or a closing reached no one. Cause: a line
    starting with "On" or "Le" was joined over the blank line with "Le lun. … a écrit :" as one
    wrapped attribution; a line that ends a sentence no longer starts one."""
    b = Board().init()
    for body in ("Bonjour,\n\nOn ne donnera pas suite, merci.", "Le projet est annulé."):
        path = os.path.join(b.dir, "reply.eml")
        with open(path, "w", encoding="utf-8") as f:
            f.write("From: Jeanne <jeanne@client.fr>\nTo: bid@example.org\nSubject: Re: offre\n"
                    "Content-Type: text/plain; charset=utf-8\n\n%s\n\n"
                    "Le lun. 2 mars 2026 à 09:30, bidmail <bid@example.org> a écrit :\n"
                    "> Nouvelle offre\n" % body)
        text = json.loads(b.run("parse", path).stdout)["text"]
        expect(text == body, "new text %r, want %r" % (text, body))


def test_intent_page_masks_phone_numbers():
    """The exported page, feed and JSON of a project whose title and description give phone
    numbers (French, international, North American) show none of them, and keep its budget,
    its date and its company number (issue 13, item 14: one masking function, mask.c)."""
    b = Board().init()
    body = ("Bonjour,\nNous cherchons un traducteur, budget 2 900 € HT, pour le 20/04/2026.\n"
            "Appelez le 06 12 34 56 78, le +33 6 12 34 56 78 ou le (555) 123-4567.\n"
            "SIRET 362 521 879 00034.\n")
    publish(b, post_mail(subject="Traduction, tel. +1 555 123 4567", body=body))
    out = os.path.join(b.dir, "site")
    b.run("export", "--out", out)
    files = [os.path.join(t, f) for t, _, fs in os.walk(out) for f in fs]
    expect(any(f.endswith("1001.html") for f in files), "no project page: %r" % files)
    page = ""
    for f in files:
        data = open(f, encoding="utf-8").read()
        for leak in ("12 34 56 78", "6 12 34", "123-4567", "555 123", "(555)"):
            expect(leak not in data, "%s shows %r" % (os.path.relpath(f, out), leak))
        if f.endswith("1001.html"):
            page = data
    for kept in ("2 900", "20/04/2026", "362 521 879 00034", "[numéro masqué]"):
        expect(kept in page, "the page lost %r: %r" % (kept, page[:1500]))
