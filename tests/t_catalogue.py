"""t_catalogue.py — the message catalogue (issue 12, item 2): the sentences that are not whole
templates live in mail-templates/LANG/strings (and the template_override folder), checked at
start-up and on SIGHUP (every language has the board language's names, with the same
placeholders); French typography is applied in one place (U+00A0 before ':' and inside « »,
U+202F before ; ! ?), English has none; a third language is added by files only.
Exec'd in suite.py's namespace (Board, expect, post_mail, publish, read_mail...; RuntimeDaemon
and runtime_board come from t_runtime.py, loaded with it)."""
import email.policy as _cat_policy

CAT_NBSP = "\u00a0"
CAT_NNBSP = "\u202f"


def cat_board_with_copy(extra=""):
    """A board whose templates folder is its own copy of mail-templates (to break a file)."""
    b = Board()
    tdir = os.path.join(b.dir, "tmpl")
    shutil.copytree(os.path.join(ROOT, "mail-templates"), tdir)
    with open(b.conf, "a") as f:
        f.write("templates = %s\n%s" % (tdir, extra))
    b.tdir = tdir
    return b


def cat_edit(path, old, new):
    with open(path, encoding="utf-8") as f:
        src = f.read()
    expect(old in src, "%s lacks %r" % (path, old))
    with open(path, "w", encoding="utf-8") as f:
        f.write(src.replace(old, new, 1))


def cat_body(path, part="plain"):
    """The decoded text of an outgoing mail's part, no-break spaces kept (unlike read_mail)."""
    with open(path, "rb") as f:
        m = email.message_from_bytes(f.read(), policy=_cat_policy.default)
    return m, m.get_body((part,)).get_content()


def cat_empty_post(b, sender, text=""):
    """An empty post (no subject), answered with the catalogue's post.empty reason."""
    b.deliver("From: %s\nTo: post@example.org\nMessage-ID: <%s@c>\nContent-Type: text/plain; "
              "charset=utf-8\n\n%s\n" % (sender, os.urandom(6).hex(), text), sender=sender)


def test_catalogue_missing_key_fails_check_config_and_run():
    """A name missing from one language's strings stops `check-config` and `run` at start-up,
    naming that file and the name (and where the board's language defines it)."""
    b = cat_board_with_copy().init()
    cat_edit(os.path.join(b.tdir, "en", "strings"), "post.remote = remote\n", "")
    for args in (("check-config",), ("run", "--once")):
        p = b.run(*args, check=False)
        err = p.stderr.decode()
        expect(p.returncode != 0, "`%s` accepted a catalogue without post.remote" % " ".join(args))
        expect("tmpl/en/strings: missing `post.remote`" in err and "fr/strings:" in err,
               "`%s` did not name the file and the key: %r" % (" ".join(args), err))
    b.cleanup()


def test_catalogue_placeholder_mismatch_fails_at_start():
    """An entry whose {{placeholders}} differ between languages stops `check-config` and `run`,
    naming both files with their lines, the name and both placeholder lists."""
    b = cat_board_with_copy().init()
    cat_edit(os.path.join(b.tdir, "en", "strings"), "post.deadline_days = {{n}} days",
             "post.deadline_days = {{days}} days")
    for args in (("check-config",), ("run", "--once")):
        p = b.run(*args, check=False)
        err = p.stderr.decode()
        expect(p.returncode != 0, "`%s` accepted a placeholder mismatch" % " ".join(args))
        expect("en/strings:" in err and "`post.deadline_days`" in err and "{{days}}" in err
               and "{{n}}" in err and "fr/strings:" in err,
               "`%s`: unclear refusal %r" % (" ".join(args), err))
    b.cleanup()


def test_catalogue_bad_lines_refused_with_file_and_line():
    """A strings line that is not `name = text`, or has an unknown escape, or a broken
    {{placeholder}}, or a name defined twice in one file, is reported with file:line; the
    shipped catalogue passes."""
    b = cat_board_with_copy()
    out = b.run("check-config").stdout.decode()
    expect("language = fr" in out, "check-config of the shipped catalogue: %r" % out[:300])
    path = os.path.join(b.tdir, "fr", "strings")
    for bad, why, below in (("Ceci n'est pas une entrée", "expected `name = text`", 0),
                            ("post.remote = à \\q distance", "unknown escape", 0),
                            ("post.remote = à {{dist distance", "bad placeholder", 0),
                            ("post.remote = à distance\npost.remote = ailleurs",
                             "`post.remote` defined again", 1)):
        with open(os.path.join(ROOT, "mail-templates", "fr", "strings"), encoding="utf-8") as f:
            src = f.read()
        lines = src.split("\n")
        at = lines.index("post.remote = à distance")
        lines[at] = bad
        with open(path, "w", encoding="utf-8") as f:
            f.write("\n".join(lines))
        p = b.run("check-config", check=False)
        err = p.stderr.decode()
        expect(p.returncode != 0 and ("fr/strings:%d:" % (at + 1 + below)) in err and why in err,
               "%r: unclear refusal %r" % (bad, err))
    b.cleanup()


def test_catalogue_sighup_broken_refused_old_kept():
    """A SIGHUP while an override strings file is broken (a placeholder the other language
    lacks) is refused, naming the file and the name, and the mails that follow use the old
    catalogue; a SIGHUP after the fix uses the new text."""
    b = runtime_board("poll_interval = 30\n")
    path = os.path.join(b.override, "fr", "strings")
    with open(path, "w", encoding="utf-8") as f:
        f.write("post.empty = Version une du catalogue.\n")
    d = RuntimeDaemon(b)
    try:
        cat_empty_post(b, "a@client.fr")
        expect(d.wait_for(lambda: len(b.outgoing()) >= 1, 20), "no answer to the empty post")
        expect("Version une du catalogue." in cat_body(b.outgoing()[-1])[1], "override not used")
        with open(path, "w", encoding="utf-8") as f:
            f.write("post.empty = Version cassée {{n}}.\n")
        expect(d.reload() == "refused", "a broken catalogue was accepted")
        err = d.logged()
        expect("`post.empty` uses placeholders" in err and "override/fr/strings:1 uses \"{{n}}\"" in err,
               "the reason does not name the file and the name: %s" % err[-1500:])
        cat_empty_post(b, "b@client.fr")
        expect(d.wait_for(lambda: len(b.outgoing()) >= 2, 20), "no answer after the refusal")
        text = cat_body(b.outgoing()[-1])[1]
        expect("Version une du catalogue." in text and "cassée" not in text,
               "not the old catalogue: %r" % text[:400])
        with open(path, "w", encoding="utf-8") as f:
            f.write("post.empty = Version trois du catalogue.\n")
        expect(d.reload() == "reloaded", "the fixed catalogue was refused: %s" % d.logged()[-1500:])
        cat_empty_post(b, "c@client.fr")
        expect(d.wait_for(lambda: len(b.outgoing()) >= 3, 20), "no answer after the reload")
        expect("Version trois du catalogue." in cat_body(b.outgoing()[-1])[1],
               "the reloaded catalogue was not used")
    finally:
        d.stop()


def test_catalogue_french_typography_in_mail_english_none():
    """A French refusal carries U+00A0 before ':' and U+202F before ';' (the catalogue's
    typography); the English one has neither no-break space, its colons as written."""
    b = Board().init()
    cat_empty_post(b, "a@client.fr")
    b.run("run", "--once")
    m, fr = cat_body(b.outgoing()[-1])
    expect("vide" + CAT_NBSP + ": ni objet" in fr and "titre" + CAT_NNBSP + "; texte" in fr,
           "French typography missing: %r" % fr)
    expect("vide : ni objet" not in fr, "a plain space before ':' left: %r" % fr)
    b2 = Board("language = en\n").init()
    cat_empty_post(b2, "a@client.com")
    b2.run("run", "--once")
    m, en = cat_body(b2.outgoing()[-1])
    expect("empty: no subject and no text" in en, "English reason: %r" % en)
    expect(CAT_NBSP not in en and CAT_NNBSP not in en, "no-break space in English: %r" % en)
    b.cleanup()
    b2.cleanup()


def test_catalogue_french_typography_in_site_pages():
    """The static site in French: U+00A0 before ':' in its text (a tag page's title, the bid
    help), but the bid mailto body, which the bid parser reads back, keeps plain spaces."""
    b = Board().init()
    publish(b, post_mail(subject="Site en php", body="Bonjour,\nUn site en php, budget 800 euros.\n"))
    out = os.path.join(b.dir, "site")
    b.run("export", "--out", out)
    tags = [f for f in os.listdir(os.path.join(out, "tags")) if f.endswith(".html")]
    expect(tags, "no tag page")
    page = open(os.path.join(out, "tags", tags[0]), encoding="utf-8").read()
    expect("<title>Projets" + CAT_NBSP + ": " in page, "tag title: %r" % page[:400])
    proj = open(os.path.join(out, "p", "1001.html"), encoding="utf-8").read()
    expect("au site" + CAT_NBSP + ": écrivez" in proj, "bid help not typeset: %r" % proj[-1500:])
    href = proj[proj.index("mailto:"):]
    href = href[:href.index('"')]
    expect("Mon%20prix%20%3A%20" in href and "%C2%A0" not in href,
           "the mailto body was typeset: %r" % href)
    b.cleanup()


def cat_third_language(b):
    """Language xx in the board's template_override: the English templates with "XX " before
    each subject, the English strings with "xx-" before each text, '.' grouping thousands."""
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
        else:
            lines = []
            for line in src.split("\n"):
                if line and line[0] not in " \t#" and " = " in line:
                    k, v = line.split(" = ", 1)
                    v = {"number.group": ".", "number.decimal": ",", "money.symbol_before": "no"}.get(
                        k, v if k.startswith("money.") else "xx-" + v)
                    line = "%s = %s" % (k, v)
                lines.append(line)
            src = "\n".join(lines)
        with open(os.path.join(xx, name), "w", encoding="utf-8") as f:
            f.write(src)


def test_catalogue_third_language_added_by_files():
    """A language `xx` that exists only as files in template_override (templates and strings)
    is accepted by `language = xx` and used wherever the language is the board's: the
    confirmation request, the acknowledgement with its understood fields and amounts, an empty
    post's refusal, the site's pages and the expiry warning."""
    b = Board("template_override = override\nlanguage = xx\n")
    cat_third_language(b)
    b.init()
    env = {"BIDMAIL_NOW": "2026-03-02T10:00:00Z"}
    # no French or English word: the post takes the board's language
    ack = publish(b, post_mail(subject="Zorg blat", body="Zorg blat frobnitz 1500 EUR.\n",
                               sender="Zed <zed@client.example>"), env=env)
    p = b.projects()[0]
    expect(p["language"] == "xx", "project language %r" % p["language"])
    subjects = [str(read_mail(f)[1]["Subject"]) for f in b.outgoing()]
    expect(len(subjects) == 2 and all(s.startswith("XX ") for s in subjects),
           "not the xx templates: %r" % subjects)
    text = ack.get_body(("plain",)).get_content()
    expect("xx-Budget" in text and "1.500 €" in text, "understood fields or amount not xx: %r" % text)
    cat_empty_post(b, "zed@client.example")
    b.run("run", "--once", env=env)
    m, refusal = cat_body(b.outgoing()[-1])
    expect(str(m["Subject"]).startswith("XX ") and "xx-Your message is empty" in refusal,
           "refusal not in xx: %r / %r" % (str(m["Subject"]), refusal[:300]))
    out = os.path.join(b.dir, "site")
    b.run("export", "--out", out, env=env)
    index = open(os.path.join(out, "index.html"), encoding="utf-8").read()
    expect('<html lang="xx">' in index and "xx-Open projects" in index and "xx-Posted" in index,
           "site not in xx: %r" % index[:600])
    n = len(b.outgoing())
    b.run("run", "--once", env={"BIDMAIL_NOW": "2026-03-29T10:00:00Z"})
    warned = [cat_body(f)[1] for f in b.outgoing()[n:]]
    expect(any("xx-This project expires in 3 days" in t for t in warned),
           "expiry warning not in xx: %r" % [t[:200] for t in warned])
    b.cleanup()
