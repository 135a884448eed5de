"""t_strings3.py — the robot's sentences come from the catalogue (issue 12, item 2, phase 2:
robot.c): a language added by files only in template_override gets the robot's transcript,
profile, help and confirmation request in it with no sentence from C, and the `language` /
`languages` commands accept any language the catalogue has (the French and English words
for fr and en kept) and refuse another, naming the languages there are.
Exec'd in suite.py's namespace (Board, expect, robot_mail, deliver_robot, reply_to, last_mail,
read_mail, subscribe, subscribers...)."""

S3_DAY1 = {"BIDMAIL_NOW": "2026-03-02T10:00:00Z"}
S3_DAY3 = {"BIDMAIL_NOW": "2026-03-04T10:00:00Z"}	# past the one-confirmation-a-day limit


def s3_board_with_xx():
    """A French board whose template_override adds language xx: the English templates with
    "XX " before the subject and the help's first line, the English strings with "XX " before
    every text (numbers and amounts excepted: they are data)."""
    b = Board("template_override = override\n")
    xx = os.path.join(b.dir, "override", "xx")
    os.makedirs(xx)
    en = os.path.join(ROOT, "mail-templates", "en")
    for name in os.listdir(en):
        with open(os.path.join(en, name), encoding="utf-8") as f:
            src = f.read()
        if name.endswith(".tmpl"):
            src = src.replace("\nsubject: ", "\nsubject: XX ")
            if src.startswith("subject: "):
                src = "subject: XX " + src[len("subject: "):]
            src = src.replace("The commands, one a line", "XX The commands, one a line")
        else:
            lines = []
            for line in src.split("\n"):
                if line and line[0] not in " \t#" and " = " in line:
                    k, v = line.split(" = ", 1)
                    if not k.startswith(("money.", "number.")):
                        line = "%s = XX %s" % (k, v)
                lines.append(line)
            src = "\n".join(lines)
        with open(os.path.join(xx, name), "w", encoding="utf-8") as f:
            f.write(src)
    return b.init()


def s3_text(m):
    return m.get_body(("plain",)).get_content().replace("\r\n", "\n")


def s3_results(m):
    """The transcript of a robot mail: [(command, result)] read from its text part."""
    lines = s3_text(m).splitlines()
    return [(lines[i][4:], lines[i + 1].strip()) for i in range(len(lines) - 1)
            if lines[i].startswith("  > ")]


def s3_all_from_catalogue(m, what):
    """Every result line of m starts with the xx catalogue's mark: none was written in C."""
    res = s3_results(m)
    expect(res, "%s: no transcript: %r" % (what, s3_text(m)[:600]))
    bad = [(c, r) for c, r in res if not r.startswith("XX ")]
    expect(not bad, "%s: results not from the xx catalogue: %r" % (what, bad))
    return dict(res)


def test_strings3_language_added_by_files_speaks_robot():
    """A subscriber who sends `language xx` (xx only files in template_override) gets the
    welcome, every command's transcript line, the profile, the help and a later confirmation
    request in xx: every result and the profile's labels come from the xx catalogue."""
    b = s3_board_with_xx()
    addr = "zed@x.example"
    subscribe(b, addr, "Zed", "language xx\nskills php", env=S3_DAY1)
    welcome = last_mail(b, addr)
    expect(str(welcome["Subject"]).startswith("XX "), "welcome not xx: %r" % str(welcome["Subject"]))
    res = s3_all_from_catalogue(welcome, "welcome")
    expect("your mails will be in XX English" in res.get("language xx", ""),
           "the language line does not name xx in xx: %r" % res)
    text = s3_text(welcome)
    expect("XX Address: %s\nXX Status: XX active\n" % addr in text and "language xx" in text,
           "profile not in xx: %r" % text[:800])
    expect("XX The commands, one a line" in text, "help not the xx template's: %r" % text[-900:])
    expect(subscribers(b)[addr]["language"] == "xx", "language not saved: %r" % subscribers(b)[addr])

    cmds = ("profile\nhelp\ntest\ntest\nbudget-min 500\nlanguages xx fr\nfrequency daily\n"
            "day monday\nday someday\nremote-only\npause\nresume\nclear skills\nclear\n"
            "skills php\nskills\nfrobnicate now\nlanguage de\nlanguages de\nbudget-min lots")
    raw, to = reply_to(welcome, cmds, sender="Zed <%s>" % addr)
    b.deliver(raw, recipient=to, sender=addr)
    b.run("run", "--once", env=S3_DAY1)
    m = last_mail(b, addr)
    expect(str(m["Subject"]).startswith("XX "), "reply not xx: %r" % str(m["Subject"]))
    res = s3_all_from_catalogue(m, "transcript")
    expect(len(res) == len(set(cmds.split("\n"))), "not one line a command: %r" % res)
    expect("fr, en or xx" in res["language de"], "`language de`: %r" % res["language de"])
    expect("fr, en, xx" in res["languages de"], "`languages de`: %r" % res["languages de"])
    text = s3_text(m)
    expect("XX Address: %s\n" % addr in text and "XX The commands, one a line" in text,
           "profile or help missing: %r" % text[-1500:])
    s = subscribers(b)[addr]
    expect(s["language"] == "xx" and s["languages"] == "fr,xx", "saved profile: %r" % s)

    # the plain robot address proves nothing: a change there is confirmed first, in xx
    deliver_robot(b, robot_mail("frequency weekly\n", sender="Zed <%s>" % addr))
    b.run("run", "--once", env=S3_DAY3)
    m = last_mail(b, addr)
    expect(str(m["Subject"]).startswith("XX ") and "onfirm" in str(m["Subject"]),
           "not an xx confirmation request: %r" % str(m["Subject"]))
    res = s3_all_from_catalogue(m, "confirmation request")
    expect(list(res) == ["frequency weekly"], "confirmation's lines: %r" % res)


def test_strings3_unknown_language_refused_naming_those_there_are():
    """On the shipped catalogue (fr, en), `language de` and `languages de` are refused naming
    fr and en, as before; `anglais` still means en, and the transcript is then in English."""
    b = Board().init()
    addr = "ute@x.example"
    subscribe(b, addr, "Ute", "", env=S3_DAY1)
    raw, to = reply_to(last_mail(b, addr), "language de\nlanguages de", sender="Ute <%s>" % addr)
    b.deliver(raw, recipient=to, sender=addr)
    b.run("run", "--once", env=S3_DAY1)
    res = dict(s3_results(last_mail(b, addr)))
    expect(res.get("language de") == "refusé : fr ou en (exemple : « language en »)" and
           res.get("languages de") == "refusé : fr, en ou « fr en »", "French refusals: %r" % res)
    raw, to = reply_to(last_mail(b, addr), "language de\nlanguages de\nlanguage anglais",
                       sender="Ute <%s>" % addr)
    b.deliver(raw, recipient=to, sender=addr)
    b.run("run", "--once", env=S3_DAY1)
    res = dict(s3_results(last_mail(b, addr)))
    expect(res.get("language de") == 'refused: fr or en (example: "language fr")' and
           res.get("languages de") == 'refused: fr, en or "fr en"' and
           res.get("language anglais") == "your mails will be in English",
           "English refusals or alias: %r" % res)
    expect(subscribers(b)[addr]["language"] == "en", "alias not saved as en")
