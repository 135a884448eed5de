"""suite.py — bidmail's end-to-end tests: each test is a function whose docstring says what it
proves. Every test gets a fresh folder with its own bidmail.conf (tests/board.py), drives the real
binary (deliver, run, parse, projects, outbox) and reads the results (database through the CLI,
spool files, outgoing .eml files parsed by Python's email package as a second parser).
Every wait is bounded in count and time. Prints `ok NAME` / `FAIL NAME: why` per test, then
`N passed, N failed`.
usage: suite.py BIDMAIL [--only SUBSTRING] [--label LABEL]
Runs, in this order: the tests below; tests/t_CONCERN.py (the tests of one concern, loaded into
this namespace); tests/e2e/NN_*.py (process-level tests: faults, daemons, SMTP sink, browser,
LMTP, mailboxes, Postfix), in file order; the conversation cases of tests/cases/ (tests/cases.py),
each named case_NNNN_slug. Each test's board folders are removed after it.
"""
import email, email.policy, email.utils, glob, importlib.util, json, os, random, shutil, signal, sqlite3, subprocess
import socket, sys, tempfile, time, traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import board  # noqa: E402
from board import (Board, Failure, expect, post_mail, publish, read_mail, robot_mail,  # noqa: E402,F401
                   deliver_robot, last_mail, reply_to, subscribers, subscribe, smtp_board, wait_port,
                   lmtp_server, Sink, free_port)
from postfix import Postfix  # noqa: E402,F401
from dovecot import Dovecot  # noqa: E402,F401
ROOT = os.path.dirname(HERE)
CORPUS = os.path.join(os.path.dirname(ROOT), "shared", "corpus")
BIDMAIL = None
LABEL = ""


# ------------------------------------------------------------------ configuration

def test_config_unknown_key():
    """An unknown key is refused at start with file, line and reason."""
    b = Board("domain = example.org\nfrobnicate = 3\n")
    p = b.run("init", check=False)
    err = p.stderr.decode()
    expect(p.returncode != 0, "init accepted an unknown key")
    expect("bidmail.conf:3:" in err and "frobnicate" in err, "no file:line:key in %r" % err)


def test_config_bad_values():
    """Bad values (size, language, address) are refused with file:line and what is wrong."""
    for line, word in (("max_message_size = lots", "size"), ("language = de", "fr or en"),
                       ("post_address = post at example", "address"),
                       ("smarthost = ftp://x", "smtp://")):
        b = Board(line + "\n")
        p = b.run("init", check=False)
        err = p.stderr.decode()
        expect(p.returncode != 0, "accepted %r" % line)
        expect("bidmail.conf:2:" in err and word in err, "%r: unclear refusal %r" % (line, err))
        b.cleanup()


def test_config_defaults_and_domain():
    """Addresses default to post@/robot@/bid@ of the configured domain; paths are relative
    to the config file's folder."""
    b = Board("domain = jobs.example.com\n")
    out = b.run("check-config").stdout.decode()
    for want in ("post_address = post@jobs.example.com", "robot_address = robot@jobs.example.com",
                 "bid_address = bid@jobs.example.com", "database = %s/var/bidmail.db" % b.dir,
                 "spool = %s/spool" % b.dir, "language = fr", "timezone = Europe/Paris",
                 "max_message_size = 10485760", "smarthost = \n"):
        expect(want in out, "check-config lacks %r:\n%s" % (want, out))


def test_example_config_documents_every_key():
    """contrib/bidmail.conf.example is accepted as is and sets every key the program knows."""
    b = Board()
    with open(os.path.join(ROOT, "contrib", "bidmail.conf.example")) as f:
        example = f.read()
    with open(b.conf, "w") as f:
        f.write(example.replace("\ntemplates =\n", "\ntemplates = %s/mail-templates\n" % ROOT))
    out = b.run("check-config").stdout.decode()
    known = [l.split(" =")[0] for l in out.splitlines() if " = " in l or l.endswith(" =")]
    documented = [l.split(" =")[0] for l in example.splitlines() if l and not l.startswith("#")]
    missing = sorted(set(known) - set(documented))
    expect(not missing, "keys missing from the example: %r" % missing)
    expect(len(known) >= 10, "check-config printed %r" % out)


def test_man_pages_cover_every_command_and_key():
    """The man pages build, render without a groff warning, and document every sub-command
    (`bidmail help`) and every configuration key (`check-config`); `make install DESTDIR=`
    puts the program, templates, data files and both pages where they belong."""
    b = Board()
    build = os.path.join(b.dir, "build")
    subprocess.run(["make", "-s", "-C", ROOT, "BUILD=" + build, build + "/man/bidmail.1",
                    build + "/man/bidmail.conf.5"], check=True, capture_output=True, timeout=60)
    pages = {}
    for name in ("bidmail.1", "bidmail.conf.5"):
        path = os.path.join(build, "man", name)
        g = subprocess.run(["groff", "-man", "-ww", "-z", path], capture_output=True, timeout=60)
        expect(g.returncode == 0 and g.stderr == b"", "groff on %s: %r" % (name, g.stderr))
        pages[name] = open(path).read()
    helptext = b.run("help").stdout.decode()
    commands = [l.split()[0] for l in helptext.splitlines() if l.startswith("  ") and l[2:3].isalpha()]
    expect(len(commands) >= 15, "commands in help: %r" % commands)
    missing = [c for c in commands if ".B %s" % c.replace("-", "\\-") not in pages["bidmail.1"]]
    expect(not missing, "commands missing from bidmail(1): %r" % missing)
    with open(b.conf, "a") as f:
        f.write("\n")
    out = b.run("check-config").stdout.decode()
    keys = [l.split(" =")[0] for l in out.splitlines() if " = " in l or l.endswith(" =")]
    missing = [k for k in keys if "\n.B %s = " % k not in pages["bidmail.conf.5"]]
    expect(len(keys) >= 40 and not missing, "keys missing from bidmail.conf(5): %r" % missing)
    dest = os.path.join(b.dir, "dest")
    r = subprocess.run(["make", "-s", "-C", ROOT, "install", "DESTDIR=" + dest, "PREFIX=/usr/local"],
                       capture_output=True, timeout=300)
    expect(r.returncode == 0, "make install: %r" % r.stderr[-1000:])
    for f in ("bin/bidmail", "share/man/man1/bidmail.1", "share/man/man5/bidmail.conf.5",
              "share/bidmail/mail-templates/fr/post_ack.tmpl", "share/bidmail/data/skills.txt"):
        expect(os.path.isfile(os.path.join(dest, "usr/local", f)), "not installed: %s" % f)


def test_init_idempotent():
    """init creates the spool folders and the database, and running it again changes nothing."""
    b = Board().init()
    b.deliver(post_mail())
    b.run("run", "--once")
    b.run("init")
    for sub in ("incoming/tmp", "incoming/new", "incoming/cur", "failed", "outgoing"):
        expect(os.path.isdir(os.path.join(b.spool, sub)), "missing spool/%s" % sub)
    expect(len(b.projects()) == 1, "second init lost the project")


def test_migration_upgrades_older_database():
    """An older database (schema 0, with the operator's own table) is upgraded in place."""
    b = Board()
    os.makedirs(os.path.join(b.dir, "var"))
    db = sqlite3.connect(os.path.join(b.dir, "var", "bidmail.db"))
    db.execute("CREATE TABLE keepme(x)")
    db.execute("INSERT INTO keepme VALUES (42)")
    db.commit()
    db.close()
    b.init()
    db = sqlite3.connect(os.path.join(b.dir, "var", "bidmail.db"))
    version = db.execute("PRAGMA user_version").fetchone()[0]
    kept = db.execute("SELECT x FROM keepme").fetchone()[0]
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    db.close()
    expect(version >= 1, "user_version %d" % version)
    expect(kept == 42, "operator's row lost")
    expect({"projects", "outbox", "ingested"} <= tables, "tables missing: %r" % tables)


def test_migration_keeps_ingest_log():
    """Upgrading a version-9 database (ingest log as a rowid table) keeps every ingest
    record: a message committed before the upgrade and replayed after it is a no-op."""
    b = Board().init()
    b.deliver(post_mail(msgid="<upgrade@client.fr>"))
    b.run("run", "--once")
    path = os.path.join(b.dir, "var", "bidmail.db")
    db = sqlite3.connect(path)
    expect(db.execute("PRAGMA user_version").fetchone()[0] >= 10, "not migrated to 10")
    # rebuild the version-9 shapes of the two tables, rows included
    db.executescript(
        "CREATE TABLE old_ingested(key TEXT PRIMARY KEY, spool_name TEXT NOT NULL,"
        " sha256 TEXT NOT NULL, message_id TEXT, kind TEXT NOT NULL, result TEXT NOT NULL,"
        " at TEXT NOT NULL);"
        "INSERT INTO old_ingested SELECT * FROM ingested; DROP TABLE ingested;"
        "ALTER TABLE old_ingested RENAME TO ingested; DROP TABLE sender_rates;"
        "CREATE TABLE sender_rates(address TEXT PRIMARY KEY COLLATE NOCASE,"
        " window_start TEXT NOT NULL, count INTEGER NOT NULL, told TEXT);"
        "DROP TABLE fetched;"  # migration 11 and later did not exist at version 9
        "ALTER TABLE projects DROP COLUMN published;"
        "ALTER TABLE outbox DROP COLUMN lease_owner; ALTER TABLE outbox DROP COLUMN lease_until;"
        "DROP TABLE relayed; DROP INDEX bids_address; DROP INDEX projects_status;"
        "PRAGMA user_version = 9;")
    db.close()
    # the crash window: committed, but the file is still in new/ when the new version starts
    cur = b.files("incoming/cur")
    expect(len(cur) == 1, "cur: %r" % cur)
    os.rename(os.path.join(b.dir, "spool", "incoming", "cur", cur[0]),
              os.path.join(b.dir, "spool", "incoming", "new", cur[0].split(":")[0]))
    b.run("run", "--once")
    db = sqlite3.connect(path)
    version = db.execute("PRAGMA user_version").fetchone()[0]
    rows = db.execute("SELECT count(*) FROM ingested").fetchone()[0]
    without_rowid = db.execute("SELECT sql FROM sqlite_master WHERE name = 'ingested'").fetchone()[0]
    db.close()
    expect(version >= 10 and "WITHOUT ROWID" in without_rowid, "not upgraded: %d" % version)
    expect(rows == 1, "ingest records: %d" % rows)
    expect(len(b.projects()) == 1 and len(b.outgoing()) == 1,
           "replayed: %d projects, %d acks" % (len(b.projects()), len(b.outgoing())))


def test_log_lines_trace_a_message_by_its_ingest_id():
    """One line per event, key=value: deliver, every mail queued while handling it, and the
    ingest result all carry the same msg=<ingest id>; no line holds the body, a signed key
    or a token."""
    b = Board().init()
    raw = post_mail(subject="Projet confidentiel", body="Corps du message: secretword 500 EUR\n")
    d = b.run("deliver", "--recipient", "post@example.org", "--sender", "jeanne@client.fr",
              stdin=raw.encode())
    r = b.run("run", "--once")
    lines = (d.stderr + r.stderr).decode().splitlines()
    ids = {}
    for l in lines:
        expect(l.startswith("bidmail: level="), "not a log line: %r" % l)
        fields = dict(f.split("=", 1) for f in l.split()[1:] if "=" in f)
        if fields.get("stage") in ("deliver", "queue", "ingest"):
            ids.setdefault(fields.get("msg"), []).append(fields["stage"])
    expect(len(ids) == 1 and None not in ids and
           sorted(set(next(iter(ids.values())))) == ["deliver", "ingest", "queue"],
           "msg ids: %r\n%s" % (ids, "\n".join(lines)))
    text = "\n".join(lines)
    ack = read_mail(b.outgoing()[0])[1]
    key = email.utils.parseaddr(str(ack["Reply-To"]))[1].split("+", 1)[1].split("@")[0]
    expect("secretword" not in text and key not in text, "body or key in the log:\n" + text)


def test_template_error_reported_at_start():
    """A template with an unknown variable is reported at start-up with file and line."""
    b = Board()
    over = os.path.join(b.dir, "override", "fr")
    os.makedirs(over)
    with open(os.path.join(over, "post_ack.tmpl"), "w") as f:
        f.write("subject: n° {{project_id}}\n--- text\nline one\n{{no_such_thing}}\n--- html\n<p>x</p>\n")
    with open(b.conf, "a") as f:
        f.write("template_override = override\n")
    p = b.run("init", check=False)
    err = p.stderr.decode()
    expect(p.returncode != 0, "bad template accepted")
    expect("override/fr/post_ack.tmpl:4:" in err and "no_such_thing" in err, "unclear: %r" % err)


def test_template_override_used():
    """A file of the same name in template_override replaces the shipped template."""
    b = Board("template_override = override\n")
    over = os.path.join(b.dir, "override", "fr")
    os.makedirs(over)
    with open(os.path.join(over, "post_ack.tmpl"), "w") as f:
        f.write("subject: Maison {{project_id}}\n--- text\nTexte maison {{title}}\n--- html\n<p>{{title}}</p>\n")
    b.init()
    m = publish(b, post_mail(subject="Peinture <b>murale</b>"))
    expect(m["Subject"] == "Maison 1001", "subject %r" % m["Subject"])
    html = m.get_body(("html",)).get_content()
    expect("Peinture &lt;b&gt;murale&lt;/b&gt;" in html, "HTML not escaped: %r" % html)
    text = m.get_body(("plain",)).get_content()
    expect("Texte maison Peinture <b>murale</b>" in text, "text part: %r" % text)


# ------------------------------------------------------------------ deliver

def test_deliver_stores_with_envelope():
    """deliver stores the message in incoming/new (Maildir), envelope kept, exit 0."""
    b = Board().init()
    rc = b.deliver(post_mail(), recipient="post@example.org", sender="jeanne@client.fr")
    expect(rc == 0, "exit %d" % rc)
    new = b.files("incoming/new")
    expect(len(new) == 1, "incoming/new: %r" % new)
    expect(b.files("incoming/tmp") == [], "leftover in tmp")
    with open(os.path.join(b.spool, "incoming/new", new[0]), "rb") as f:
        first = f.readline()
    expect(b"sender=<jeanne@client.fr>" in first and b"recipient=<post@example.org>" in first,
           "envelope line %r" % first)


def test_deliver_envelope_from_forward_environment():
    """From an alias or a .forward there are no arguments: deliver takes the envelope that
    Postfix's local(8) exports (ORIGINAL_RECIPIENT before RECIPIENT, and SENDER), and the
    message is routed by it."""
    b = Board().init()
    env = {"ORIGINAL_RECIPIENT": "post@example.org", "RECIPIENT": "bidmailuser@host.example",
           "SENDER": "jeanne@client.fr"}
    expect(b.deliver(post_mail(), recipient=None, sender=None, env=env) == 0, "deliver failed")
    new = b.files("incoming/new")
    with open(os.path.join(b.spool, "incoming/new", new[0]), "rb") as f:
        first = f.readline()
    expect(b"sender=<jeanne@client.fr>" in first and b"recipient=<post@example.org>" in first,
           "envelope line %r" % first)
    b.run("run", "--once")
    expect(len(b.projects()) == 1, "the post was not taken as a project")


def test_deliver_tempfail_when_spool_missing():
    """With the spool gone, deliver exits 75 (EX_TEMPFAIL) so the MTA retries, and writes nothing."""
    b = Board().init()
    shutil.rmtree(b.spool)
    rc = b.deliver(post_mail())
    expect(rc == 75, "exit %d, want 75" % rc)


def test_deliver_tempfail_on_bad_config():
    """A broken config makes deliver exit 75, never a bouncing code."""
    b = Board("bogus_key = 1\n")
    rc = b.deliver(post_mail())
    expect(rc == 75, "exit %d, want 75" % rc)


def test_deliver_tempfail_when_unwritable():
    """A spool that cannot be written (read-only) gives exit 75 (skipped when running as root)."""
    if os.geteuid() == 0:
        # root writes anyway; the same failure is provoked by a file where a folder should be
        b = Board().init()
        shutil.rmtree(os.path.join(b.spool, "incoming", "tmp"))
        open(os.path.join(b.spool, "incoming", "tmp"), "w").close()
        rc = b.deliver(post_mail())
        expect(rc == 75, "exit %d, want 75" % rc)
        return
    b = Board().init()
    os.chmod(os.path.join(b.spool, "incoming", "tmp"), 0o500)
    rc = b.deliver(post_mail())
    expect(rc == 75, "exit %d, want 75" % rc)


def test_deliver_oversize_quarantined_not_refused():
    """Oversize mail is accepted (exit 0: a bounce would hit a forged sender) and quarantined
    with a reason naming the size and the limit."""
    b = Board("max_message_size = 2K\n").init()
    rc = b.deliver(post_mail(body="x" * 9000))
    expect(rc == 0, "exit %d" % rc)
    failed = b.files("failed")
    expect(len(failed) == 2, "failed/: %r" % failed)
    reason = open(os.path.join(b.spool, "failed", [f for f in failed if f.endswith(".reason")][0])).read()
    expect("oversize" in reason and "2048" in reason, "reason %r" % reason)
    expect(b.files("incoming/new") == [], "oversize mail also queued")


# ------------------------------------------------------------------ the post path

def test_post_end_to_end_french():
    """A French post becomes project 1001 (status open, poster, language fr), and one
    acknowledgement in French quoting its number and title goes to the poster only."""
    b = Board().init()
    body = "Bonjour,\nNous avons besoin de traduire notre site en anglais. Merci de votre aide.\n"
    b.deliver(post_mail(subject="=?UTF-8?Q?Re:_Traduction_du_site_=C3=A9t=C3=A9?=", body=body,
                        msgid="<orig-1@client.fr>"))
    b.run("run", "--once", env={"BIDMAIL_NOW": "2026-03-02T08:00:00Z"})
    expect(b.projects()[0]["status"] == "pending_confirmation", "published before its poster confirmed")
    conf_raw, conf = read_mail(b.outgoing()[0])
    expect(conf["In-Reply-To"] == "<orig-1@client.fr>", "confirmation In-Reply-To %r" % conf["In-Reply-To"])
    expect(str(conf["Reply-To"]).startswith("robot+c-"), "confirmation Reply-To %r" % conf["Reply-To"])
    import email.utils
    target = email.utils.parseaddr(str(conf["Reply-To"]))[1]
    b.deliver("From: jeanne@client.fr\nTo: %s\nSubject: Re: x\nMessage-ID: <c1@client.fr>\n\noui\n" % target,
              recipient=target, sender="jeanne@client.fr")
    b.run("run", "--once", env={"BIDMAIL_NOW": "2026-03-02T08:00:00Z"})
    p = b.projects()
    expect(len(p) == 1, "projects: %r" % p)
    p = p[0]
    for k, v in (("id", 1001), ("title", "Traduction du site été"), ("status", "open"),
                 ("poster", "jeanne@client.fr"), ("language", "fr"),
                 ("created", "2026-03-02T08:00:00Z"), ("bids", 0)):
        expect(p.get(k) == v, "project %s = %r, want %r" % (k, p.get(k), v))
    for k in ("budget", "deadline_days", "skills"):
        expect(k in p, "projects --json lacks %s" % k)
    out = b.outgoing()
    expect(len(out) == 2, "outgoing: %r" % out)
    raw, m = read_mail(out[1])
    expect(m["To"].addresses[0].addr_spec == "jeanne@client.fr", "To %r" % m["To"])
    expect(str(m["Subject"]) == "Projet n° 1001 enregistré : Traduction du site été", "Subject %r" % m["Subject"])
    expect(m["Auto-Submitted"] == "auto-replied", "Auto-Submitted %r" % m["Auto-Submitted"])
    expect(m["X-Loop"] == "robot@example.org", "X-Loop %r" % m["X-Loop"])
    expect(m["Message-ID"].endswith("@example.org>"), "Message-ID %r" % m["Message-ID"])
    expect(m["Date"].datetime.year == 2026, "Date %r" % m["Date"])
    expect(m.get_content_type() == "multipart/alternative", m.get_content_type())
    text = m.get_body(("plain",)).get_content()
    html = m.get_body(("html",)).get_content()
    expect("1001" in text and "Traduction du site été" in text, "text part: %r" % text)
    expect("1001" in html and "Traduction du site été" in html, "html part")
    expect(all(len(l) <= 998 for l in raw.split(b"\r\n")), "line over 998 octets")
    expect(b"\r\n" in raw and b"\n" not in raw.replace(b"\r\n", b""), "bare LF in message")
    # our own parser reads it back the same way
    got = json.loads(b.run("parse", out[1]).stdout)
    expect(got["subject"] == "Projet n° 1001 enregistré : Traduction du site été", got["subject"])
    expect(got["to"] == ["jeanne@client.fr"], got["to"])
    expect("1001" in got["text"], "own parser text")
    ob = b.outbox()
    expect(len(ob) == 2 and ob[1]["state"] == "sent" and ob[1]["kind"] == "post_ack", "outbox %r" % ob)
    for k in ("id", "to", "subject", "kind", "state", "attempts", "last_error"):
        expect(k in ob[0], "outbox --json lacks %s" % k)
    cur = b.files("incoming/cur")
    expect(len(cur) == 2 and b.files("incoming/new") == [], "spool not moved to cur")


def test_post_fields_stored():
    """The daemon stores what extraction read: budget, deadline, skills, location, flags."""
    b = Board().init()
    b.deliver(post_mail(subject="Développeur Symfony",
                        body="Bonjour,\nRefonte de notre extranet, en télétravail.\n"
                             "Budget : entre 3 000 et 4 500 € HT, délai 6 semaines.\n"
                             "Compétences : PHP, Symfony, PostgreSQL\n\nCordialement,\nJeanne\n"))
    b.run("run", "--once")
    p = b.projects()[0]
    expect(p["budget"] == {"min": 3000.0, "max": 4500.0, "currency": "EUR", "tax": "HT", "unit": "total"},
           "budget %r" % p["budget"])
    expect(p["deadline_days"] == 42, "deadline %r" % p["deadline_days"])
    expect(p["skills"] == ["php", "symfony", "postgresql"], "skills %r" % p["skills"])
    expect(p["location"] == "remote", "location %r" % p["location"])
    expect(p["flags"] == [], "flags %r" % p["flags"])
    expect("Cordialement" not in p["description"], "signature kept in the description")


def test_scam_post_held_with_neutral_ack():
    """A suspected scam is stored with status held and its poster gets a neutral
    acknowledgement that says nothing of the suspicion."""
    b = Board().init()
    m = publish(b, post_mail(subject="Travail à domicile",
                             body="Gagnez jusqu'à 3000 €/mois depuis chez vous, sans expérience ! "
                                  "Frais d'inscription : 49 €. Plus vous parrainez, plus vous gagnez.\n"))
    p = b.projects()[0]
    expect(p["status"] == "held", "status %r" % p["status"])
    expect("suspected_scam" in p["flags"], "flags %r" % p["flags"])
    text = m.get_body(("plain",)).get_content().lower()
    expect("relu" in text, "not the held acknowledgement: %r" % text)
    for word in ("arnaque", "scam", "suspect", "fraude"):
        expect(word not in text, "the acknowledgement reveals the suspicion: %r" % word)


def test_post_english_gets_english_ack():
    """An English post is stored with language en and acknowledged from the English template."""
    b = Board().init()
    m = publish(b, post_mail(subject="Need a WordPress developer",
                             body="Hello,\nWe are looking for a developer to fix our theme. Thanks!\n"))
    p = b.projects()[0]
    expect(p["language"] == "en", "language %r" % p["language"])
    expect(str(m["Subject"]) == "Project #1001 received: Need a WordPress developer", m["Subject"])


def test_post_without_subject_titled_from_text():
    """A post with no subject takes its title from the first line of its text."""
    b = Board().init()
    raw = ("From: a@client.fr\nTo: post@example.org\nDate: Tue, 4 Mar 2025 09:30:00 +0100\n"
           "Message-ID: <ns@client.fr>\n\n\nSaisie de 500 fiches produits\nDétails suivent.\n")
    b.deliver(raw)
    b.run("run", "--once")
    expect(b.projects()[0]["title"] == "Saisie de 500 fiches produits", b.projects())


def test_empty_post_answered_with_reason():
    """An empty post (no subject, no text) is not stored; the poster is told exactly why."""
    b = Board().init()
    b.deliver("From: a@client.fr\nTo: post@example.org\nMessage-ID: <e@client.fr>\n\n\n")
    b.run("run", "--once")
    expect(b.projects() == [], "empty post stored")
    out = b.outgoing()
    expect(len(out) == 1, "no answer to the empty post")
    raw, m = read_mail(out[0])
    text = m.get_body(("plain",)).get_content()
    expect("vide" in text and "objet" in text, "reason not given: %r" % text)


def test_duplicate_delivery_stored_once():
    """The same bytes delivered twice (an MTA retrying after a lost reply) are stored once
    and acknowledged once."""
    b = Board().init()
    raw = post_mail(msgid="<dup@client.fr>")
    b.deliver(raw)
    b.run("run", "--once")
    b.deliver(raw)
    b.run("run", "--once")
    expect(len(b.projects()) == 1, "projects: %d" % len(b.projects()))
    expect(len(b.outgoing()) == 1, "acks: %d" % len(b.outgoing()))
    expect(len(b.files("incoming/cur")) == 2, "both copies should end in cur/")


def test_header_injection_in_subject_neutralised():
    """A subject carrying an encoded CR LF and a Bcc line cannot add a header to the ack."""
    b = Board().init()
    b.deliver(post_mail(subject="=?UTF-8?Q?Site=0D=0ABcc:_victim@evil.example?="))
    b.run("run", "--once")
    raw, m = read_mail(b.outgoing()[0])
    expect(m["Bcc"] is None, "Bcc header injected")
    head = raw.split(b"\r\n\r\n", 1)[0]
    expect(b"\nBcc" not in head and b"\rBcc" not in head, "raw Bcc in headers")


def test_hostile_names_stay_well_formed():
    """10,000-character titles, NUL, right-to-left overrides and quotes in names: the ack
    stays a well-formed message with one recipient."""
    b = Board().init()
    title = "Ti\u202etle " + "x" * 10000
    raw = ("From: \"Evil \\\" Name\u202e\" <evil@client.fr>\nTo: post@example.org\nSubject: %s\n"
           "Message-ID: <h@client.fr>\n\nbody\n" % title)
    b.deliver(raw)
    b.run("run", "--once")
    out = b.outgoing()
    expect(len(out) == 1, "no ack")
    raw_out, m = read_mail(out[0])
    expect(all(len(l) <= 998 for l in raw_out.split(b"\r\n")), "long line")
    expect(len(m.get_all("To")) == 1 and m["To"].addresses[0].addr_spec == "evil@client.fr", "To %r" % m["To"])
    expect("\u202e" not in str(m["Subject"]) and "\u202e" not in str(m["To"]), "bidi override kept in header")
    expect(not m.defects and all(not p.defects for p in m.walk()), "defects %r" % m.defects)


def test_no_answer_to_bounce_autoreply_loop():
    """Bounces, auto-replies and loops are recorded and never answered (RFC 3834)."""
    b = Board().init()
    for name in ("bounce-postfix", "autoreply-fr", "autoreply-en-outlook", "loop", "precedence-bulk"):
        with open(os.path.join(HERE, "mail", name + ".eml"), "rb") as f:
            raw = f.read()
        sender = "" if name.startswith("bounce") else "x@example.net"
        b.deliver(raw, recipient="post@example.org", sender=sender)
    b.run("run", "--once")
    expect(b.outgoing() == [], "answered: %r" % b.outgoing())
    expect(b.projects() == [], "stored as projects")
    expect(len(b.files("incoming/cur")) == 5, "not all processed")


def test_unknown_recipient_quarantined_with_reason():
    """A message for none of our addresses is quarantined with a reason, not lost."""
    b = Board().init()
    b.deliver(post_mail(), recipient="someone@elsewhere.example")
    b.run("run", "--once")
    failed = b.files("failed")
    expect(len(failed) == 2, "failed/: %r" % failed)
    reason = open(os.path.join(b.spool, "failed", [f for f in failed if f.endswith(".reason")][0])).read()
    expect("not addressed" in reason, "reason %r" % reason)


def nested_bomb(levels):
    parts = ["From: a@b.example\nTo: post@example.org\nSubject: bomb\nMessage-ID: <bomb@b>\n"
             "MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"b0\"\n\n"]
    for i in range(1, levels):
        parts.append("--b%d\nContent-Type: multipart/mixed; boundary=\"b%d\"\n\n" % (i - 1, i))
    parts.append("--b%d\nContent-Type: text/plain\n\nhi\n" % (levels - 1))
    return "".join(parts)


def test_mime_bomb_quarantined_fast():
    """A 20,000-level MIME bomb is quarantined by the pre-scan (libetpan never sees it),
    with the nesting limit named. The time is printed, not asserted."""
    b = Board().init()
    b.deliver(nested_bomb(20000))
    t = time.time()
    b.run("run", "--once", timeout=60)
    took = time.time() - t
    print("     (20,000-level MIME bomb processed in %.3f s)" % took)
    failed = b.files("failed")
    expect(len(failed) == 2, "failed/: %r" % failed)
    reason = open(os.path.join(b.spool, "failed", [f for f in failed if f.endswith(".reason")][0])).read()
    expect("nesting" in reason and "100" in reason, "reason %r" % reason)


def test_limits_parts_and_header():
    """Too many parts (1,500) and a 1 MB header line are quarantined with their reasons;
    a 90-level nesting, under the limit, is stored."""
    b = Board().init()
    many = ["From: a@b.example\nTo: post@example.org\nSubject: parts\nMessage-ID: <p@b>\n"
            "MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"q\"\n\n"]
    for i in range(1500):
        many.append("--q\nContent-Type: text/plain\n\npart %d\n" % i)
    many.append("--q--\n")
    b.deliver("".join(many))
    b.deliver("From: a@b.example\nTo: post@example.org\nSubject: big\nX-Big: %s\n\nx\n" % ("y" * 1000000))
    b.deliver(nested_bomb(90))
    b.run("run", "--once", timeout=60)
    reasons = [open(os.path.join(b.spool, "failed", f)).read()
               for f in b.files("failed") if f.endswith(".reason")]
    expect(len(reasons) == 2, "reasons %r" % reasons)
    expect(any("parts" in r for r in reasons) and any("header section" in r for r in reasons),
           "reasons %r" % reasons)
    expect(len(b.projects()) == 1, "the 90-level message was not stored")


def test_file_transport_order_and_one_recipient():
    """Outgoing files sort in sending order (outbox id) and each has exactly one recipient,
    the address in its To header."""
    b = Board().init()
    for i in range(5):
        b.deliver(post_mail(subject="Projet %d" % i, sender="p%d@client.fr" % i))
    b.run("run", "--once")
    out = b.outgoing()
    expect(len(out) == 5, "outgoing %d" % len(out))
    subjects = []
    for path in out:
        raw, m = read_mail(path)
        expect(len(m["To"].addresses) == 1, "recipients %r" % m["To"])
        subjects.append((m["To"].addresses[0].addr_spec, str(m["Subject"])))
    expect([s[0] for s in subjects] == ["p%d@client.fr" % i for i in range(5)], "order %r" % subjects)
    expect(not [f for f in os.listdir(os.path.join(b.spool, "outgoing")) if f.startswith(".")],
           "temporary files left in outgoing/")


def test_parse_touches_nothing():
    """`bidmail parse` reads a file and prints JSON without creating a database or spool."""
    b = Board()
    p = b.run("parse", os.path.join(HERE, "mail", "gmail-post-fr.eml"))
    got = json.loads(p.stdout)
    for k in ("message_id", "from", "from_name", "to", "subject", "date", "in_reply_to",
              "references", "kind", "text", "attachments", "auth", "bounce", "post", "bid", "errors"):
        expect(k in got, "parse JSON lacks %s" % k)
    expect(not os.path.exists(os.path.join(b.dir, "var")) and not os.path.exists(b.spool),
           "parse created files")


def test_sender_flood_rate_limited_and_told_once():
    """An address that sends more than sender_rate_limit mails in a window gets its first
    sender_rate_limit handled (the robot answers as it always does), then one notice, then
    silence; the extra mails are kept and
    logged, other senders are not affected, and the next window starts afresh."""
    b = Board("sender_rate_limit = 5\nsender_rate_window = 1h\n").init()
    env = {"BIDMAIL_NOW": "2026-03-02T10:00:00Z"}
    for i in range(40):
        deliver_robot(b, robot_mail("help", subject="aide %d" % i))
    b.deliver(robot_mail("help", sender="Bob <bob@free.fr>"), recipient="robot@example.org",
              sender="bob@free.fr")
    b.run("run", "--once", env=env)
    to_alice = [read_mail(p)[1] for p in b.outgoing()]
    to_alice = [m for m in to_alice if m["To"].addresses[0].addr_spec == "alice@free.fr"]
    notices = [m for m in to_alice if "Trop de messages" in str(m["Subject"])]
    expect(len(notices) == 1, "notices: %d" % len(notices))
    expect("plus de 5 messages en 1 heure(s)" in notices[0].get_body(("plain",)).get_content(),
           "notice text: %r" % notices[0].get_body(("plain",)).get_content())
    expect(any(read_mail(p)[1]["To"].addresses[0].addr_spec == "bob@free.fr" for p in b.outgoing()),
           "another sender was not answered")
    expect(len(b.files("incoming/cur")) == 41, "mails not all kept: %d" % len(b.files("incoming/cur")))
    db = sqlite3.connect(os.path.join(b.dir, "var", "bidmail.db"))
    rows = dict(db.execute("SELECT result LIKE 'rate-limited%', count(*) FROM ingested GROUP BY 1"))
    expect(rows == {0: 6, 1: 35}, "handled / rate-limited: %r (5 of alice's and bob's, 35)" % rows)
    deliver_robot(b, robot_mail("help", subject="plus tard"))
    b.run("run", "--once", env={"BIDMAIL_NOW": "2026-03-02T11:00:01Z"})
    rows = dict(db.execute("SELECT result LIKE 'rate-limited%', count(*) FROM ingested GROUP BY 1"))
    db.close()
    expect(rows == {0: 7, 1: 35}, "not handled in the next window: %r" % rows)


def test_two_boards_mailing_each_other_stop():
    """Loop proof: two boards, each mailing the other's robot with commands it does not
    understand, exchange at most two messages, then both fall silent."""
    a = Board("domain = a.example\n").init()
    b = Board("domain = b.example\n").init()
    # a post to A whose sender is B's robot: A's answer lands at B, B's at A, ...
    a.deliver(post_mail(sender="Robot B <robot@b.example>", body="n'importe quoi\n"),
              recipient="post@a.example", sender="robot@b.example")
    boards = {"a.example": a, "b.example": b}
    seen = {id(a): 0, id(b): 0}
    exchanged = 0
    for _ in range(10):
        moved = 0
        for src in (a, b):
            src.run("run", "--once")
            new = src.outgoing()[seen[id(src)]:]
            seen[id(src)] += len(new)
            for path in new:
                raw, m = read_mail(path)
                rcpt = m["To"].addresses[0].addr_spec
                dst = boards.get(rcpt.split("@")[1])
                if dst is None:
                    continue
                dst.deliver(raw, recipient=rcpt, sender=str(m["From"].addresses[0].addr_spec))
                moved += 1
        exchanged += moved
        if not moved:
            break
    expect(moved == 0, "still exchanging after 10 rounds")
    expect(1 <= exchanged <= 2, "messages exchanged: %d" % exchanged)


def test_known_poster_authenticated_publishes_directly():
    """A poster who confirmed once is published at once when the trusted MTA's
    Authentication-Results (authserv_id) passes DMARC for the From domain; a forged header from
    another authserv-id, or no authentication, asks for confirmation again."""
    b = Board("authserv_id = mx.example.org\n").init()
    publish(b, post_mail(subject="Premier projet", body="Un site.\n"))
    auth = "Authentication-Results: mx.example.org; dkim=pass header.d=client.fr; dmarc=pass header.from=client.fr\n"
    b.deliver(post_mail(subject="Deuxième projet", body="Un logo.\n", extra=auth))
    b.run("run", "--once")
    expect(b.projects()[1]["status"] == "open", "authenticated known poster not published: %r" % b.projects()[1]["status"])
    forged = "Authentication-Results: evil.example; dkim=pass header.d=client.fr; dmarc=pass header.from=client.fr\n"
    b.deliver(post_mail(subject="Troisième projet", body="Une appli.\n", extra=forged))
    b.run("run", "--once")
    expect(b.projects()[2]["status"] == "pending_confirmation", "a foreign authserv-id was trusted")
    b.deliver(post_mail(subject="Quatrième projet", body="Une traduction.\n"))
    b.run("run", "--once")
    # issue 11: a request to this address is unanswered since less than a day, so this one is
    # not even stored; either way it is not published
    expect(all(p["status"] != "open" for p in b.projects()[3:]), "an unauthenticated post was published")


def test_moderation_by_command_and_by_mail():
    """A suspected scam waits for a moderator: the moderators get a notice, `moderate list`
    shows it, `moderate reject N reason` tells the poster; a moderator's reply `approuver` to
    the notice publishes another one."""
    b = Board("moderators = modo@example.org\n").init()
    scam = ("Gagnez jusqu'à 3000 €/mois depuis chez vous, sans expérience ! Frais d'inscription : "
            "49 €. Plus vous parrainez, plus vous gagnez.\n")
    publish(b, post_mail(subject="Travail à domicile", body=scam))
    publish(b, post_mail(subject="Opportunité", body=scam, sender="Other <other@client.fr>"), sender="other@client.fr")
    listing = b.run("moderate", "list").stdout.decode()
    expect("1001" in listing and "1002" in listing, "list: %r" % listing)
    notice = last_mail(b, "modo@example.org")
    expect("modérer" in str(notice["Subject"]) or "moderate" in str(notice["Subject"]), notice["Subject"])
    b.run("moderate", "reject", "1001", "Offre de travail à domicile payante")
    rej = last_mail(b, "jeanne@client.fr").get_body(("plain",)).get_content()
    expect("Offre de travail à domicile payante" in rej, "reason not told: %r" % rej)
    expect(b.projects()[0]["status"] == "rejected", "status %r" % b.projects()[0]["status"])
    notices = [read_mail(p)[1] for p in b.outgoing() if read_mail(p)[1]["To"].addresses[0].addr_spec == "modo@example.org"]
    n2 = [m for m in notices if "1002" in str(m["Subject"])][0]
    raw, addr = reply_to(n2, "approuver", sender="Modo <modo@example.org>")
    b.deliver(raw, recipient=addr, sender="modo@example.org")
    b.run("run", "--once")
    expect(b.projects()[1]["status"] == "open", "approval by mail ignored: %r" % b.projects()[1]["status"])
    # the same reply from someone who is not a moderator changes nothing
    b2 = Board("moderators = modo@example.org\n").init()
    publish(b2, post_mail(subject="Travail à domicile", body=scam))
    n = last_mail(b2, "modo@example.org")
    raw, addr = reply_to(n, "approuver", sender="Eve <eve@evil.example>")
    b2.deliver(raw, recipient=addr, sender="eve@evil.example")
    b2.run("run", "--once")
    expect(b2.projects()[0]["status"] == "held", "a non-moderator approved")


def test_robot_double_opt_in_by_reply():
    """subscribe starts a double opt-in: one confirmation mail; a plain reply to it (Re:,
    In-Reply-To, quoted text) confirms, runs the commands that came with the request and sends
    the welcome with the profile; quoted help lines are never read as commands."""
    import email.utils
    b = Board().init()
    deliver_robot(b, robot_mail("Bonjour,\nsubscribe Alice Martin\nskills php symfony\nmerci\n"))
    b.run("run", "--once")
    expect(len(b.outgoing()) == 1, "mails: %d" % len(b.outgoing()))
    conf = last_mail(b)
    expect("Confirmez" in str(conf["Subject"]), conf["Subject"])
    text = conf.get_body(("plain",)).get_content()
    expect("skills php symfony" in text and "sera fait" in text, "the request is not restated: %r" % text[:600])
    expect(subscribers(b)["alice@free.fr"]["status"] == "pending", "not pending")
    raw, addr = reply_to(conf, "Oui, je confirme.")
    expect(addr.startswith("robot+c-"), "Reply-To %r" % addr)
    b.deliver(raw, recipient=addr, sender="alice@free.fr")
    b.run("run", "--once")
    sub = subscribers(b)["alice@free.fr"]
    expect(sub["status"] == "active", "status %r" % sub["status"])
    expect(sub["patterns"] == ["php symfony"], "patterns %r (quoted help read as commands?)" % sub["patterns"])
    welcome = last_mail(b, "alice@free.fr")
    expect("Bienvenue" in str(welcome["Subject"]), welcome["Subject"])
    wt = welcome.get_body(("plain",)).get_content()
    expect("skills php symfony" in wt and "frequency weekly" in wt, "profile missing: %r" % wt[:800])
    expect(welcome["List-Unsubscribe"] and "robot+u-" in welcome["List-Unsubscribe"], "List-Unsubscribe %r" % welcome["List-Unsubscribe"])
    expect(welcome["Reply-To"] and "robot+s-" in str(welcome["Reply-To"]), "Reply-To %r" % welcome["Reply-To"])
    # a second reply to the same confirmation changes nothing
    b.deliver(raw, recipient=addr, sender="alice@free.fr")
    b.run("run", "--once")
    expect(subscribers(b)["alice@free.fr"]["patterns"] == ["php symfony"], "replayed confirmation applied twice")


def test_robot_commands_by_signed_reply():
    """Replying to a mail from the robot (its signed robot+s- address) runs commands at once
    and answers with a transcript: each command and its result, errors with an example."""
    import email.utils
    b = Board().init()
    deliver_robot(b, robot_mail("subscribe\n"))
    b.run("run", "--once")
    raw, addr = reply_to(last_mail(b), "ok")
    b.deliver(raw, recipient=addr, sender="alice@free.fr")
    b.run("run", "--once")
    welcome = last_mail(b)
    raw, addr = reply_to(welcome, "skills \\b(react|vue)\\b\nexclude stage\nfrequency daily\nbudget-min 800 EUR\n"
                                  "skills (unclosed\nfrobnicate now\nlanguage en\nthanks")
    expect(addr.startswith("robot+s-"), "Reply-To %r" % addr)
    b.deliver(raw, recipient=addr, sender="alice@free.fr")
    b.run("run", "--once")
    sub = subscribers(b)["alice@free.fr"]
    expect(sub["patterns"] == ["\\b(react|vue)\\b"] and sub["excludes"] == ["stage"], "profile %r" % sub)
    expect(sub["frequency"] == "daily" and sub["budget_min"] == 800 and sub["language"] == "en", "profile %r" % sub)
    tr = last_mail(b).get_body(("plain",)).get_content()
    expect("> skills (unclosed" in tr and "offset" in tr, "no PCRE2 error with its offset: %r" % tr)
    expect("> frobnicate now" in tr and "unknown command" in tr, "unknown command not reported: %r" % tr)


def test_robot_plain_address_needs_confirmation():
    """A profile change sent to the plain robot address (From can be forged) is not applied:
    a confirmation request goes to the subscriber's own address, at most one a day."""
    import email.utils
    b = Board().init()
    deliver_robot(b, robot_mail("subscribe\n"))
    b.run("run", "--once")
    raw, addr = reply_to(last_mail(b), "ok")
    b.deliver(raw, recipient=addr, sender="alice@free.fr")
    b.run("run", "--once")
    n = len(b.outgoing())
    deliver_robot(b, robot_mail("unsubscribe\n"))  # forged or not, it only asks
    b.run("run", "--once")
    expect(subscribers(b)["alice@free.fr"]["status"] == "active", "unsubscribed by a plain mail")
    expect(len(b.outgoing()) == n + 1, "no confirmation request")
    expect("Confirm" in str(last_mail(b)["Subject"]), last_mail(b)["Subject"])
    deliver_robot(b, robot_mail("pause\n"))
    b.run("run", "--once")
    expect(len(b.outgoing()) == n + 1, "a second request within a day")


def test_robot_hostile_command_mails():
    """A 300-line command mail runs 50 commands and says the rest were ignored; binary junk and
    a 10 KB line are answered, never crash."""
    b = Board().init()
    subscribe(b, "alice@free.fr", "Alice Martin", "")
    welcome = last_mail(b, "alice@free.fr")
    raw, addr = reply_to(welcome, "\n".join("budget-min %d EUR" % i for i in range(300)))
    b.deliver(raw, recipient=addr, sender="alice@free.fr")
    raw2, _ = reply_to(welcome, "skills " + "\u00e9" * 6000 + "\n\x01\x02\x7f junk \ufffd\nprofile")
    b.deliver(raw2, recipient=addr, sender="alice@free.fr")
    b.run("run", "--once")
    texts = [read_mail(p)[1].get_body(("plain",)).get_content() for p in b.outgoing()[-2:]]
    expect(any("250" in t and ("ignor" in t) for t in texts), "the cut was not said: %r" % [t[-300:] for t in texts])
    expect(subscribers(b)["alice@free.fr"]["budget_min"] == 49, "not the 50th command applied")
    expect(any("too long" in t or "trop long" in t or "pattern too long" in t for t in texts), "10 KB pattern not refused")


def test_robot_forged_key_refused():
    """A forged or altered signed address is refused with a clear reply and changes nothing."""
    b = Board().init()
    addr = "robot+s-1-aaaaaaaaaaaaaaaa@example.org"
    b.deliver(robot_mail("unsubscribe\n", to=addr), recipient=addr)
    b.run("run", "--once")
    m = last_mail(b)
    text = m.get_body(("plain",)).get_content()
    expect("pas valide" in text or "not valid" in text, "refusal unclear: %r" % text)


def test_robot_unsubscribe_one_click_mailto():
    """A mail to the List-Unsubscribe mailto address unsubscribes at once."""
    import email.utils
    b = Board().init()
    deliver_robot(b, robot_mail("subscribe\n"))
    b.run("run", "--once")
    raw, addr = reply_to(last_mail(b), "ok")
    b.deliver(raw, recipient=addr, sender="alice@free.fr")
    b.run("run", "--once")
    lu = last_mail(b)["List-Unsubscribe"]
    target = lu.split("mailto:")[1].split("?")[0]
    b.deliver(robot_mail("", to=target, subject="unsubscribe"), recipient=target)
    b.run("run", "--once")
    expect(subscribers(b)["alice@free.fr"]["status"] == "unsubscribed", "still subscribed")


def test_weekly_digest_by_mail():
    """A subscriber receives, on Monday 08:00 (Europe/Paris), one selection with the projects
    published since subscribing that match (newest first, why it matched, a bid address per
    project) and not those excluded or unmatched; a second run, or a kill and rerun, never
    sends that week again."""
    b = Board().init()
    env0 = {"BIDMAIL_NOW": "2026-03-04T10:00:00Z"}  # a Wednesday
    subscribe(b, "free@dev.fr", "Paul Dev", "skills php symfony\nexclude wordpress", env=env0)
    posts = [("Refonte Symfony", "Site en Symfony 6, budget 3 000 € HT.", "2026-03-05T09:00:00Z"),
             ("Blog WordPress en PHP", "Thème WordPress à corriger.", "2026-03-05T10:00:00Z"),
             ("Logo pour une crêperie", "Un logo, budget 300 €.", "2026-03-06T09:00:00Z"),
             ("API PHP pour une appli", "Une API REST en PHP, délai 3 semaines.", "2026-03-07T09:00:00Z")]
    for title, body, when in posts:
        publish(b, post_mail(subject=title, body=body + "\n"), env={"BIDMAIL_NOW": when})
    before = len(b.outgoing())
    out = b.run("digest", "--at", "2026-03-09T06:59:00Z").stdout.decode()  # 07:59 in Paris
    expect(len(b.outgoing()) == before, "a selection before 08:00")
    b.run("digest", "--at", "2026-03-09T07:00:00Z", env={"BIDMAIL_NOW": "2026-03-09T07:00:00Z"})
    mails = [read_mail(p)[1] for p in b.outgoing()[before:]]
    expect(len(mails) == 1, "selections: %d" % len(mails))
    m = mails[0]
    expect(m["To"].addresses[0].addr_spec == "free@dev.fr", "to %r" % m["To"])
    text = m.get_body(("plain",)).get_content()
    expect("API PHP" in text and "Refonte Symfony" in text, "matching projects missing: %r" % text)
    expect("WordPress" not in text, "an excluded project was sent")
    expect("crêperie" not in text, "an unmatched project was sent")
    expect(text.index("API PHP") < text.index("Refonte Symfony"), "not newest first")
    expect("php symfony" in text and "bid+b-" in text, "no why / no bid address: %r" % text)
    expect(m["List-Unsubscribe"] and m["List-Id"], "list headers missing")
    b.run("digest", "--at", "2026-03-09T09:00:00Z", env={"BIDMAIL_NOW": "2026-03-09T09:00:00Z"})
    b.run("run", "--once", env={"BIDMAIL_NOW": "2026-03-10T09:00:00Z"})
    expect(len(b.outgoing()) == before + 1, "the same week was sent twice")
    subs = subscribers(b)
    expect(subs["free@dev.fr"]["last_digest"] == "2026-03-09T07:00:00Z", "last_digest %r" % subs["free@dev.fr"]["last_digest"])
    expect("0/20" in text, "bids against the cap not shown")
    # a reply to the selection: commands, or a bid when it names a project
    raw, addr = reply_to(m, "frequency daily", sender="Paul Dev <free@dev.fr>")
    expect(addr.startswith("robot+d-"), "selection Reply-To %r" % addr)
    b.deliver(raw, recipient=addr, sender="free@dev.fr")
    raw, addr = reply_to(m, "Pour le #1004, je propose 900 € HT.", sender="Paul Dev <free@dev.fr>")
    b.deliver(raw, recipient=addr, sender="free@dev.fr")
    b.run("run", "--once", env={"BIDMAIL_NOW": "2026-03-10T10:00:00Z"})
    expect(subscribers(b)["free@dev.fr"]["frequency"] == "daily", "command in a selection reply ignored")
    quotes = [read_mail(p)[1] for p in b.outgoing()]
    quotes = [q for q in quotes if q["To"].addresses[0].addr_spec == "jeanne@client.fr" and "1004" in str(q["Subject"])
              and "offre" in str(q["Subject"]).lower()]
    expect(len(quotes) == 1 and "900 € HT" in quotes[0].get_body(("plain",)).get_content(),
           "the reply naming #1004 did not become a bid")


def test_instant_alert_is_a_bid_reply():
    """An instant subscriber gets each matching project at once, alone; its Reply-To is the
    signed bid address for that project and subscriber."""
    b = Board().init()
    env = {"BIDMAIL_NOW": "2026-03-04T10:00:00Z"}
    subscribe(b, "fast@dev.fr", "Fast", "skills traduction\nfrequency instant", env=env)
    before = len(b.outgoing())
    publish(b, post_mail(subject="Traduction d'un site", body="Traduction FR vers EN, 2 000 mots.\n"),
            env={"BIDMAIL_NOW": "2026-03-04T10:05:00Z"})
    alerts = [read_mail(p)[1] for p in b.outgoing()[before:]]
    alerts = [m for m in alerts if m["To"].addresses[0].addr_spec == "fast@dev.fr"]
    expect(len(alerts) == 1, "alerts: %d" % len(alerts))
    rt = str(alerts[0]["Reply-To"])
    expect(rt.startswith("bid+b-1001-"), "Reply-To %r" % rt)
    key = rt.split("+", 1)[1].split("@")[0]
    expect("<%s@example.org>" % key in str(alerts[0]["References"]), "key not in References: %r" % alerts[0]["References"])
    # a provider that drops the +tag: the reply reaches bid@ and still routes by References
    raw, addr = reply_to(alerts[0], "Je propose 350 € pour la traduction.", sender="Fast <fast@dev.fr>")
    raw = raw.replace("To: " + addr, "To: bid@example.org")
    b.deliver(raw, recipient="bid@example.org", sender="fast@dev.fr")
    b.run("run", "--once", env={"BIDMAIL_NOW": "2026-03-04T10:07:00Z"})
    expect(b.projects()[0]["bids"] == 1, "the reply without its +tag was not taken as a bid")
    b.run("run", "--once", env={"BIDMAIL_NOW": "2026-03-04T10:10:00Z"})
    again = [m for m in (read_mail(p)[1] for p in b.outgoing()[before:])
             if m["To"].addresses[0].addr_spec == "fast@dev.fr" and str(m["Subject"]).startswith("Nouveau projet")]
    expect(len(again) == 1, "alerted %d times: %r" % (len(again), [str(m["Subject"]) for m in again]))


def test_robot_test_command():
    """`test` lists the last four weeks' projects the profile would have matched, with the
    pattern that matched each."""
    b = Board().init()
    publish(b, post_mail(subject="Appli React Native", body="Une appli mobile en React Native.\n"),
            env={"BIDMAIL_NOW": "2026-03-02T10:00:00Z"})
    publish(b, post_mail(subject="Comptabilité", body="Tenue de la comptabilité.\n"),
            env={"BIDMAIL_NOW": "2026-03-02T10:00:00Z"})
    subscribe(b, "t@dev.fr", "T", "skills react", env={"BIDMAIL_NOW": "2026-03-03T10:00:00Z"})
    raw, addr = reply_to(last_mail(b, "t@dev.fr"), "test", sender="T <t@dev.fr>")
    b.deliver(raw, recipient=addr, sender="t@dev.fr")
    b.run("run", "--once", env={"BIDMAIL_NOW": "2026-03-04T10:00:00Z"})
    text = last_mail(b, "t@dev.fr").get_body(("plain",)).get_content()
    expect("#1001 Appli React Native" in text and "`react`" in text, "test result: %r" % text)
    expect("Comptabilité" not in text, "an unmatched project listed")


def test_inactive_subscriber_asked_then_paused():
    """After 8 weeks without a word, a subscriber is asked whether to continue; one who replies
    goes on, one who stays silent 2 more weeks is paused."""
    b = Board().init()
    t0 = {"BIDMAIL_NOW": "2026-01-05T10:00:00Z"}
    subscribe(b, "quiet@dev.fr", "Quiet", "skills php", env=t0)
    subscribe(b, "alive@dev.fr", "Alive", "skills php", env=t0)
    b.run("digest", "--at", "2026-03-03T07:00:00Z", env={"BIDMAIL_NOW": "2026-03-03T07:00:00Z"})
    asks = {}
    for path in b.outgoing():
        m = read_mail(path)[1]
        t = m.get_body(("plain",)).get_content()
        if "8 semaines" in t or "8 weeks" in t:
            asks[m["To"].addresses[0].addr_spec] = m
    expect(set(asks) == {"quiet@dev.fr", "alive@dev.fr"}, "asked: %r" % sorted(asks))
    raw, addr = reply_to(asks["alive@dev.fr"], "resume", sender="Alive <alive@dev.fr>")
    b.deliver(raw, recipient=addr, sender="alive@dev.fr")
    b.run("run", "--once", env={"BIDMAIL_NOW": "2026-03-04T10:00:00Z"})
    b.run("digest", "--at", "2026-03-17T08:00:00Z", env={"BIDMAIL_NOW": "2026-03-17T08:00:00Z"})
    subs = subscribers(b)
    expect(subs["quiet@dev.fr"]["status"] == "paused", "silent one: %r" % subs["quiet@dev.fr"]["status"])
    expect(subs["alive@dev.fr"]["status"] == "active", "replying one: %r" % subs["alive@dev.fr"]["status"])


def test_bidding_by_reply():
    """A freelancer replies to an instant alert with a price: the bid is stored, the freelancer
    gets an acknowledgement restating what was understood, the client a quote whose Reply-To
    is a relay address (the freelancer's address is not shown). A new bid replaces the old one
    and the client is told; a rate under the floor or an unreadable price is not passed on."""
    b = Board().init()
    env = {"BIDMAIL_NOW": "2026-03-04T10:00:00Z"}
    subscribe(b, "free@dev.fr", "Paul Dev", "skills symfony\nfrequency instant", env=env)
    publish(b, post_mail(subject="Refonte Symfony", body="Refonte de notre extranet en Symfony.\n",
                         sender="Jeanne Client <jeanne@client.fr>"), env={"BIDMAIL_NOW": "2026-03-04T10:05:00Z"})
    alert = last_mail(b, "free@dev.fr")
    def bid(text):
        raw, addr = reply_to(alert, text, sender="Paul Dev <free@dev.fr>")
        b.deliver(raw, recipient=addr, sender="free@dev.fr")
        b.run("run", "--once", env={"BIDMAIL_NOW": "2026-03-04T11:00:00Z"})
    n = len(b.outgoing())
    bid("Bonjour,\nJe vous propose 2 400 € HT, livraison en 15 jours.\nCordialement,\nPaul")
    new = [read_mail(p)[1] for p in b.outgoing()[n:]]
    ack = [m for m in new if m["To"].addresses[0].addr_spec == "free@dev.fr"]
    quote = [m for m in new if m["To"].addresses[0].addr_spec == "jeanne@client.fr"]
    expect(len(ack) == 1 and len(quote) == 1, "mails: %r" % [str(m["To"]) for m in new])
    at = ack[0].get_body(("plain",)).get_content()
    expect("2 400 € HT" in at and "15 jours" in at, "ack does not restate: %r" % at)
    qt = quote[0].get_body(("plain",)).get_content()
    expect("2 400 € HT" in qt and "Paul Dev" in qt and "free@dev.fr" not in qt + str(quote[0]["Reply-To"]),
           "quote: %r / %r" % (qt, quote[0]["Reply-To"]))
    expect(str(quote[0]["Reply-To"]).startswith("bid+q-"), "relay %r" % quote[0]["Reply-To"])
    expect(b.projects()[0]["bids"] == 1, "bid count %r" % b.projects()[0]["bids"])
    n = len(b.outgoing())
    bid("Finalement 2 100 € HT, en 12 jours.")
    new = [read_mail(p)[1] for p in b.outgoing()[n:]]
    q2 = [m for m in new if m["To"].addresses[0].addr_spec == "jeanne@client.fr"]
    expect(len(q2) == 1 and "mise à jour" in str(q2[0]["Subject"]), "update not told: %r" % [str(m["Subject"]) for m in new])
    expect(b.projects()[0]["bids"] == 1, "replaced bid counted twice")
    n = len(b.outgoing())
    bid("Mon tarif : 15 €/h.")
    new = [read_mail(p)[1] for p in b.outgoing()[n:]]
    expect(len(new) == 1 and new[0]["To"].addresses[0].addr_spec == "free@dev.fr", "floor: %d mails" % len(new))
    expect("20 EUR" in new[0].get_body(("plain",)).get_content(), "floor not named")
    n = len(b.outgoing())
    bid("Je suis intéressé, discutons-en.")
    new = [read_mail(p)[1] for p in b.outgoing()[n:]]
    expect(len(new) == 1 and "prix" in new[0].get_body(("plain",)).get_content(), "no restate request")


def test_quote_relay_and_award():
    """The client and the freelancer talk through relay addresses (neither sees the other's
    address); a command in quoted text is ignored; `accepter` on a line of its own awards the
    project: both get the other's contact, the price, the 15% commission and the 20/40/40
    schedule with each amount; the other bidder is told; the relay then closes."""
    b = Board().init()
    env = {"BIDMAIL_NOW": "2026-03-04T10:00:00Z"}
    subscribe(b, "paul@dev.fr", "Paul Dev", "skills symfony\nfrequency instant", env=env)
    subscribe(b, "anna@dev.fr", "Anna Web", "skills symfony\nfrequency instant", env=env)
    publish(b, post_mail(subject="Refonte Symfony", body="En Symfony.\n", sender="Jeanne <jeanne@client.fr>"),
            env={"BIDMAIL_NOW": "2026-03-04T10:05:00Z"})
    for who, price in (("paul@dev.fr", "2 000 € HT, livraison en 20 jours"), ("anna@dev.fr", "2 500 € HT")):
        alert = last_mail(b, who)
        raw, addr = reply_to(alert, "Je propose %s." % price, sender="X <%s>" % who)
        b.deliver(raw, recipient=addr, sender=who)
        b.run("run", "--once", env={"BIDMAIL_NOW": "2026-03-04T11:00:00Z"})
    quotes = [read_mail(p)[1] for p in b.outgoing()]
    quote = [q for q in quotes if q["To"].addresses[0].addr_spec == "jeanne@client.fr" and "2 000" in q.get_body(("plain",)).get_content()][0]
    # the client asks a question; "accepter" appears only in the quoted text below: ignored
    raw, addr = reply_to(quote, "Pouvez-vous commencer lundi ?", sender="Jeanne <jeanne@client.fr>")
    raw = raw.replace("> ", "> accepter\n> ", 1)
    b.deliver(raw, recipient=addr, sender="jeanne@client.fr")
    b.run("run", "--once", env={"BIDMAIL_NOW": "2026-03-04T12:00:00Z"})
    expect(b.projects()[0]["status"] == "open", "a quoted command was obeyed")
    relayed = last_mail(b, "paul@dev.fr")
    rt = relayed.get_body(("plain",)).get_content()
    expect("commencer lundi" in rt and "jeanne@client.fr" not in rt + str(relayed["Reply-To"]) + str(relayed["From"]),
           "relay to the freelancer: %r" % rt)
    # an attachment the client sends is relayed as is
    pdf = b"%PDF-1.4 cahier des charges \x00\x01\x02" * 50
    import base64 as b64
    target = email.utils.parseaddr(str(quote["Reply-To"]))[1]
    mixed = ("From: Jeanne <jeanne@client.fr>\nTo: %s\nSubject: Re: offre\nMessage-ID: <att@client.fr>\n"
             "MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"B\"\n\n--B\n"
             "Content-Type: text/plain; charset=utf-8\n\nVoici le cahier des charges.\n--B\n"
             "Content-Type: application/pdf\nContent-Disposition: attachment; filename*=UTF-8''cahier%%20d%%C3%%A9tails.pdf\n"
             "Content-Transfer-Encoding: base64\n\n%s\n--B--\n" % (target, b64.encodebytes(pdf).decode()))
    b.deliver(mixed, recipient=target, sender="jeanne@client.fr")
    b.run("run", "--once", env={"BIDMAIL_NOW": "2026-03-04T12:30:00Z"})
    withfile = last_mail(b, "paul@dev.fr")
    parts = [p for p in withfile.iter_attachments()]
    expect(len(parts) == 1 and parts[0].get_filename() == "cahier détails.pdf" and parts[0].get_content() == pdf,
           "attachment not relayed intact: %r" % [(p.get_filename(), len(p.get_content())) for p in parts])
    raw, addr = reply_to(relayed, "Oui, lundi sans problème.", sender="Paul Dev <paul@dev.fr>")
    expect(addr.startswith("bid+r-"), "freelancer relay %r" % addr)
    b.deliver(raw, recipient=addr, sender="paul@dev.fr")
    b.run("run", "--once", env={"BIDMAIL_NOW": "2026-03-04T13:00:00Z"})
    back = last_mail(b, "jeanne@client.fr")
    bt = back.get_body(("plain",)).get_content()
    expect("lundi sans problème" in bt and "paul@dev.fr" not in bt + str(back["Reply-To"]), "relay back: %r" % bt)
    raw, addr = reply_to(back, "accepter", sender="Jeanne <jeanne@client.fr>")
    b.deliver(raw, recipient=addr, sender="jeanne@client.fr")
    b.run("run", "--once", env={"BIDMAIL_NOW": "2026-03-04T14:00:00Z"})
    expect(b.projects()[0]["status"] == "awarded", "status %r" % b.projects()[0]["status"])
    win = last_mail(b, "paul@dev.fr").get_body(("plain",)).get_content()
    cli = last_mail(b, "jeanne@client.fr").get_body(("plain",)).get_content()
    for t, contact in ((win, "jeanne@client.fr"), (cli, "paul@dev.fr")):
        expect(contact in t, "contact missing: %r" % t)
        expect("2 000 € HT" in t and "300 € HT" in t, "price or 15%% commission missing: %r" % t)
        expect("400 € HT" in t and "800 € HT" in t, "20/40/40 schedule amounts missing: %r" % t)
    other = last_mail(b, "anna@dev.fr").get_body(("plain",)).get_content()
    expect("autre prestataire" in other, "the other bidder was not told: %r" % other)
    # the relay is closed now: a late message gets an explanation, nothing is passed on
    n = len(b.outgoing())
    raw, addr = reply_to(relayed, "Encore une question ?", sender="Paul Dev <paul@dev.fr>")
    b.deliver(raw, recipient=addr, sender="paul@dev.fr")
    b.run("run", "--once", env={"BIDMAIL_NOW": "2026-03-04T15:00:00Z"})
    new = [read_mail(p)[1] for p in b.outgoing()[n:]]
    expect(len(new) == 1 and new[0]["To"].addresses[0].addr_spec == "paul@dev.fr" and
           "clos" in new[0].get_body(("plain",)).get_content(), "late relay: %r" % [str(m["To"]) for m in new])


def test_reminders_expiry_and_rating():
    """A client with a pending quote and no answer is reminded after 3 and after 10 days, once
    each; an unawarded project is warned 3 days before its 30-day expiry, then expires and takes
    no bid; 14 days after an award the client is asked to rate, once, and the rating shows in
    the freelancer's next quotes."""
    b = Board().init()
    t = lambda day, h="10": {"BIDMAIL_NOW": "2026-03-%02dT%s:00:00Z" % (day, h)} if day <= 31 else \
        {"BIDMAIL_NOW": "2026-04-%02dT%s:00:00Z" % (day - 31, h)}
    subscribe(b, "paul@dev.fr", "Paul Dev", "skills symfony\nfrequency instant", env=t(2))
    publish(b, post_mail(subject="Refonte Symfony", body="En Symfony.\n", sender="Jeanne <jeanne@client.fr>"), env=t(2))
    publish(b, post_mail(subject="Petit site Symfony", body="En Symfony aussi.\n", sender="Jeanne <jeanne@client.fr>"), env=t(2))
    alerts = [read_mail(p)[1] for p in b.outgoing()]
    alerts = [m for m in alerts if m["To"].addresses[0].addr_spec == "paul@dev.fr" and "Nouveau projet" in str(m["Subject"])]
    for a, price in zip(alerts, ("2 000 € HT", "900 € HT")):
        raw, addr = reply_to(a, "Je propose %s." % price, sender="Paul Dev <paul@dev.fr>")
        b.deliver(raw, recipient=addr, sender="paul@dev.fr")
        b.run("run", "--once", env=t(2, "11"))
    def count(word, to="jeanne@client.fr"):
        return sum(1 for p in b.outgoing() if read_mail(p)[1]["To"].addresses[0].addr_spec == to
                   and word in read_mail(p)[1].get_body(("plain",)).get_content())
    for day in (4, 5, 5, 12, 13):
        b.run("run", "--once", env=t(day))
    expect(count("attendent votre réponse") == 4, "reminders: %d (want 2 per project)" % count("attendent votre réponse"))
    # the client accepts the first project; 14 days later the rating request comes, once
    quote = [read_mail(p)[1] for p in b.outgoing() if "2 000" in read_mail(p)[1].get_body(("plain",)).get_content()
             and read_mail(p)[1]["To"].addresses[0].addr_spec == "jeanne@client.fr"][0]
    raw, addr = reply_to(quote, "accepter", sender="Jeanne <jeanne@client.fr>")
    b.deliver(raw, recipient=addr, sender="jeanne@client.fr")
    b.run("run", "--once", env=t(14))
    b.run("run", "--once", env=t(27))
    expect(count("note de 1 à 5") == 0, "rating asked too early")
    b.run("run", "--once", env=t(29))
    b.run("run", "--once", env=t(30))
    expect(count("note de 1 à 5") == 1, "rating requests: %d" % count("note de 1 à 5"))
    req = [read_mail(p)[1] for p in b.outgoing() if "note de 1 à 5" in read_mail(p)[1].get_body(("plain",)).get_content()][0]
    raw, addr = reply_to(req, "5 Travail soigné, délais tenus", sender="Jeanne <jeanne@client.fr>")
    b.deliver(raw, recipient=addr, sender="jeanne@client.fr")
    b.run("run", "--once", env=t(30, "11"))
    # the second project: warned 3 days before day 30, expired at day 30 (it was posted on the 2nd)
    expect(count("expire dans 3 jours") == 1, "expiry warnings: %d" % count("expire dans 3 jours"))
    b.run("run", "--once", env=t(33))
    expect(b.projects()[1]["status"] == "expired", "status %r" % b.projects()[1]["status"])
    expect(count("a expiré") == 1, "expiry notices: %d" % count("a expiré"))
    # the rating now shows in the freelancer's quotes
    publish(b, post_mail(subject="Encore Symfony", body="Symfony.\n", sender="Marc <marc@client.fr>"), env=t(34))
    alert = last_mail(b, "paul@dev.fr")
    raw, addr = reply_to(alert, "Je propose 1 000 € HT.", sender="Paul Dev <paul@dev.fr>")
    b.deliver(raw, recipient=addr, sender="paul@dev.fr")
    b.run("run", "--once", env=t(34, "11"))
    q = last_mail(b, "marc@client.fr").get_body(("plain",)).get_content()
    expect("5.0/5 (1 évaluation)" in q and "1 projets" in q, "record not shown: %r" % q)
    st = b.run("stats").stdout.decode()
    expect("awarded 1" in st and "expired 1" in st and "award rate: 50%" in st, "stats: %r" % st)


def test_poster_edits_and_closes_by_reply():
    """Replying to the acknowledgement with corrected text updates the project (same number)
    and restates it; `clôturer` on a line of its own closes it and tells the bidders; an
    auto-reply to a quote gets no answer (no loop)."""
    b = Board().init()
    env = {"BIDMAIL_NOW": "2026-03-04T10:00:00Z"}
    subscribe(b, "paul@dev.fr", "Paul Dev", "skills symfony\nfrequency instant", env=env)
    publish(b, post_mail(subject="Site Symfony", body="Un site en Symfony, budget 1 000 €.\n",
                         sender="Jeanne <jeanne@client.fr>"), env=env)
    ack = last_mail(b, "jeanne@client.fr")
    raw, addr = reply_to(ack, "Correction : un site en Symfony, budget 3 000 € HT, délai 6 semaines.",
                         sender="Jeanne <jeanne@client.fr>")
    expect(addr.startswith("post+k-"), "ack Reply-To %r" % addr)
    b.deliver(raw, recipient=addr, sender="jeanne@client.fr")
    b.run("run", "--once", env=env)
    p = b.projects()
    expect(len(p) == 1 and p[0]["budget"]["max"] == 3000.0 and p[0]["deadline_days"] == 42, "edit: %r" % p)
    expect("3 000 € HT" in last_mail(b, "jeanne@client.fr").get_body(("plain",)).get_content(), "not restated")
    alert = last_mail(b, "paul@dev.fr")
    raw2, addr2 = reply_to(alert, "Je propose 2 800 € HT.", sender="Paul Dev <paul@dev.fr>")
    b.deliver(raw2, recipient=addr2, sender="paul@dev.fr")
    b.run("run", "--once", env=env)
    quote = last_mail(b, "jeanne@client.fr")
    n = len(b.outgoing())
    auto = ("From: Jeanne <jeanne@client.fr>\nTo: %s\nSubject: Réponse automatique : absente\n"
            "Auto-Submitted: auto-replied\nMessage-ID: <oof@client.fr>\n\nJe suis absente.\n" % quote["Reply-To"])
    b.deliver(auto, recipient=email.utils.parseaddr(str(quote["Reply-To"]))[1], sender="jeanne@client.fr")
    b.run("run", "--once", env=env)
    expect(len(b.outgoing()) == n, "an auto-reply was answered or relayed")
    raw, addr = reply_to(ack, "clôturer", sender="Jeanne <jeanne@client.fr>")
    b.deliver(raw, recipient=addr, sender="jeanne@client.fr")
    b.run("run", "--once", env=env)
    expect(b.projects()[0]["status"] == "closed", "status %r" % b.projects()[0]["status"])
    expect("clos ce projet" in last_mail(b, "paul@dev.fr").get_body(("plain",)).get_content(), "bidder not told")


def test_bid_from_another_address_is_held():
    """A bid from an address that is not the key's subscriber is held; the subscriber is asked
    at their own address, and a reply confirms it: then the client gets the quote."""
    b = Board().init()
    env = {"BIDMAIL_NOW": "2026-03-04T10:00:00Z"}
    subscribe(b, "free@dev.fr", "Paul Dev", "skills symfony\nfrequency instant", env=env)
    publish(b, post_mail(subject="Refonte Symfony", body="En Symfony.\n", sender="Jeanne <jeanne@client.fr>"),
            env={"BIDMAIL_NOW": "2026-03-04T10:05:00Z"})
    alert = last_mail(b, "free@dev.fr")
    raw, addr = reply_to(alert, "Je propose 1 800 € HT.", sender="Paul <paul.perso@gmail.com>")
    b.deliver(raw, recipient=addr, sender="paul.perso@gmail.com")
    b.run("run", "--once", env={"BIDMAIL_NOW": "2026-03-04T11:00:00Z"})
    expect(not [p for p in b.outgoing() if read_mail(p)[1]["To"].addresses[0].addr_spec == "jeanne@client.fr"
                and "offre" in str(read_mail(p)[1]["Subject"]).lower()], "a held bid was quoted")
    ask = last_mail(b, "free@dev.fr")
    expect("paul.perso@gmail.com" in ask.get_body(("plain",)).get_content(), "the subscriber was not asked")
    raw, addr = reply_to(ask, "oui", sender="Paul Dev <free@dev.fr>")
    b.deliver(raw, recipient=addr, sender="free@dev.fr")
    b.run("run", "--once", env={"BIDMAIL_NOW": "2026-03-04T12:00:00Z"})
    q = last_mail(b, "jeanne@client.fr")
    expect("1 800 € HT" in q.get_body(("plain",)).get_content(), "no quote after confirmation")


def test_hostile_patterns_do_not_hurt():
    """Catastrophic backtracking, a 10 KB pattern and invalid UTF-8: refused or bounded; the
    selection still goes out for the healthy pattern."""
    b = Board().init()
    env = {"BIDMAIL_NOW": "2026-03-04T10:00:00Z"}
    subscribe(b, "h@dev.fr", "H", "skills (a+)+$\nskills " + "x" * 10000 + "\nskills python", env=env)
    subs = subscribers(b)["h@dev.fr"]
    expect(subs["patterns"] == ["(a+)+$", "python"], "patterns %r" % subs["patterns"])
    publish(b, post_mail(subject="Script Python", body="a" * 5000 + "b python\n"),
            env={"BIDMAIL_NOW": "2026-03-05T10:00:00Z"})
    t = time.time()
    b.run("digest", "--at", "2026-03-09T07:00:00Z", env={"BIDMAIL_NOW": "2026-03-09T07:00:00Z"})
    print("     (digest with a catastrophic pattern: %.2f s)" % (time.time() - t))
    mails = [read_mail(p)[1] for p in b.outgoing()]
    texts = [m.get_body(("plain",)).get_content() for m in mails if m["To"].addresses[0].addr_spec == "h@dev.fr"]
    expect(any("Script Python" in t for t in texts), "no selection")
    told = [t for t in texts if "(a+)+$" in t and ("trop de calcul" in t or "too much work" in t)]
    expect(len(told) == 1, "the owner of the pattern that hit a limit was told %d times" % len(told))
    b.run("digest", "--at", "2026-03-16T07:00:00Z", env={"BIDMAIL_NOW": "2026-03-16T07:00:00Z"})
    texts = [read_mail(p)[1].get_body(("plain",)).get_content() for p in b.outgoing()]
    expect(sum(1 for t in texts if "(a+)+$" in t and ("trop de calcul" in t or "too much work" in t)) == 1,
           "told twice")


def test_fuzz_regressions_replayed():
    """Every input the fuzzer ever broke the program with (tests/fuzz-regressions/) is parsed
    as a post, a bid and a command without a crash or a sanitizer report."""
    b = Board()
    d = os.path.join(HERE, "fuzz-regressions")
    cases = sorted(f for f in os.listdir(d) if f != "README")
    expect(len(cases) >= 1, "no regression case")
    for name in cases:
        path = os.path.join(d, name)
        for args in (["--as", "bid"], ["--as", "post"], ["--recipient", "robot@example.org"]):
            p = b.run("parse", *(args + [path]))
            expect(p.stdout.startswith(b"{"), "%s %s: %r" % (name, args, p.stdout[:200]))


def test_status_reports_queues():
    """`status` shows what waits where: messages in the spool and the oldest, the quarantine,
    the outbox queued behind an unreachable smarthost, posts awaiting confirmation."""
    b = smtp_board("smtp://127.0.0.1:%d" % free_port())
    st = json.loads(b.run("status", "--json").stdout)
    expect(st["spool"] == {"waiting": 0, "oldest": None, "quarantined": 0}, "empty board: %r" % st)
    expect(st["outbox"]["queued"] == 0 and st["last_digest"] is None, "empty board: %r" % st)
    env = {"BIDMAIL_NOW": "2026-03-02T08:00:00Z"}
    b.deliver(post_mail(), env=env)
    b.deliver(post_mail(), recipient="someone@elsewhere.example")
    b.run("run", "--once", env=env)
    b.deliver(post_mail(subject="En attente"))
    st = json.loads(b.run("status", "--json").stdout)
    expect(st["spool"]["waiting"] == 1 and st["spool"]["oldest"], "spool: %r" % st["spool"])
    expect(st["spool"]["quarantined"] == 1, "quarantine: %r" % st["spool"])
    expect(st["outbox"]["queued"] == 1 and st["outbox"]["oldest_queued"] == "2026-03-02T08:00:00Z",
           "outbox: %r" % st["outbox"])
    expect(st["posts_pending_confirmation"] == 1, "pending posts: %r" % st)
    text = b.run("status").stdout.decode()
    expect("outbox: 1 queued (oldest 2026-03-02T08:00:00Z)" in text and "1 quarantined" in text,
           "status text: %r" % text)


def test_backup_is_consistent_online_copy():
    """`backup FILE` copies the database while another process holds a write transaction:
    the copy is a complete database of its own (no -wal needed) with the committed rows only."""
    b = Board().init()
    b.deliver(post_mail(subject="Projet sauvegardé"))
    b.run("run", "--once")
    db = sqlite3.connect(os.path.join(b.dir, "var", "bidmail.db"), isolation_level=None)
    db.execute("BEGIN IMMEDIATE")
    db.execute("INSERT INTO meta(key, value) VALUES('uncommitted', 'x')")
    out = os.path.join(b.dir, "backup", "copy.db")
    os.makedirs(os.path.dirname(out))
    p = b.run("backup", out, timeout=60)
    db.execute("ROLLBACK")
    db.close()
    expect(b"pages copied" in p.stdout, "backup output %r" % p.stdout)
    expect(sorted(os.listdir(os.path.dirname(out))) == ["copy.db"], "left beside it: %r" % os.listdir(os.path.dirname(out)))
    copy = sqlite3.connect(out)
    titles = [r[0] for r in copy.execute("SELECT title FROM projects")]
    meta = copy.execute("SELECT count(*) FROM meta WHERE key='uncommitted'").fetchone()[0]
    check = copy.execute("PRAGMA integrity_check").fetchone()[0]
    copy.close()
    expect(titles == ["Projet sauvegardé"], "projects in the copy: %r" % titles)
    expect(meta == 0, "an uncommitted row reached the copy")
    expect(check == "ok", "integrity_check: %r" % check)
    bad = b.run("backup", os.path.join(b.dir, "no", "such", "dir", "x.db"), check=False)
    expect(bad.returncode == 1 and b"failed" in bad.stderr, "backup to a missing folder: %r" % bad.stderr)


def test_forged_bounce_key_ignored():
    """A bounce to a forged VERP key changes nothing and is not answered."""
    b = Board().init()
    dsn = ("From: MAILER-DAEMON@mx\nTo: bounce+m-1-aaaaaaaaaaaaaaaa@example.org\nSubject: x\n"
           "Message-ID: <f@mx>\n\nStatus: 5.1.1\n")
    b.deliver(dsn, recipient="bounce+m-1-aaaaaaaaaaaaaaaa@example.org", sender="")
    b.run("run", "--once")
    expect(b.outgoing() == [], "answered a bounce")
    db = sqlite3.connect(os.path.join(b.dir, "var", "bidmail.db"))
    n = db.execute("SELECT count(*) FROM addresses").fetchone()[0]
    db.close()
    expect(n == 0, "a forged bounce scored an address")


# ------------------------------------------------------------------ data-driven

def test_mail_fixtures():
    """Every tests/mail/NAME.eml parses to what NAME.json says (see check_mail.py)."""
    sys.path.insert(0, HERE)
    import importlib
    cm = importlib.import_module("check_mail_lib")
    bad = []
    names = sorted(f[:-4] for f in os.listdir(os.path.join(HERE, "mail")) if f.endswith(".eml"))
    expect(len(names) >= 40, "only %d fixtures" % len(names))
    for name in names:
        why = cm.check_one(BIDMAIL, os.path.join(HERE, "mail"), name)
        if why:
            bad.append("%s: %s" % (name, why))
    expect(not bad, "\n       ".join(bad))


def test_extract_fixtures():
    """Every tests/extract/NAME.eml (posts and bids written as people write them) gives the
    post and bid fields NAME.json expects."""
    sys.path.insert(0, HERE)
    import importlib
    cm = importlib.import_module("check_mail_lib")
    d = os.path.join(HERE, "extract")
    names = sorted(f[:-4] for f in os.listdir(d) if f.endswith(".eml"))
    expect(len(names) >= 60, "only %d fixtures" % len(names))
    bad = []
    for name in names:
        why = cm.check_one(BIDMAIL, d, name)
        if why:
            bad.append("%s: %s" % (name, why))
    print("     (%d of %d extraction fixtures pass)" % (len(names) - len(bad), len(names)))
    expect(not bad, "\n       ".join(bad))


def run_corpus_script(script, program, prefix, timeout):
    """Runs tests/SCRIPT PROGRAM CORPUS, prints its rate lines, fails when it does."""
    p = subprocess.run([sys.executable, os.path.join(HERE, script), program, CORPUS],
                       capture_output=True, timeout=timeout)
    out = p.stdout.decode()
    for line in out.splitlines():
        if line.startswith(prefix):
            print("     " + line)
    expect(p.returncode == 0, out[-3000:] + p.stderr.decode()[-2000:])


def test_reply_corpus():
    """The two public reply-parsing suites stay at 95% or more (rates printed)."""
    unit = os.path.join(os.path.dirname(BIDMAIL), "build", "unit") if not BIDMAIL.endswith("build-asan/bidmail") \
        else os.path.join(os.path.dirname(BIDMAIL), "unit")
    expect(os.path.exists(unit), "no unit binary at %s" % unit)
    run_corpus_script("corpus_reply.py", unit, "corpus reply", 600)


def test_mime_corpus():
    """The public MIME corpus: no crash, hang or sanitizer report; subject, addresses, date
    and text agree with that parser's expectations at 95% or more."""
    if not os.path.isdir(CORPUS):
        raise Failure("corpus not found at %s" % CORPUS)
    run_corpus_script("corpus_mime.py", BIDMAIL, "corpus mime", 900)


def load_test_files():
    """Each tests/t_*.py holds the tests of one concern; it is run in this module's namespace,
    so it uses Board, expect, post_mail and the other helpers above as they are."""
    for path in sorted(glob.glob(os.path.join(HERE, "t_*.py"))):
        with open(path, encoding="utf-8") as f:
            code = compile(f.read(), path, "exec")
        exec(code, globals())


def load_e2e_files():
    """tests/e2e/NN_*.py, each a module over board.py; their tests in file order."""
    tests = []
    for path in sorted(glob.glob(os.path.join(HERE, "e2e", "[0-9]*.py"))):
        spec = importlib.util.spec_from_file_location("e2e_" + os.path.basename(path)[:-3], path)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        tests += [(n, f) for n, f in vars(mod).items() if n.startswith("test_") and callable(f)]
    return tests


def main():
    global BIDMAIL, LABEL
    BIDMAIL = board.BIDMAIL = os.path.abspath(sys.argv[1])
    only = sys.argv[sys.argv.index("--only") + 1] if "--only" in sys.argv else ""
    LABEL = board.LABEL = sys.argv[sys.argv.index("--label") + 1] if "--label" in sys.argv else ""
    load_test_files()
    import cases
    tests = [(n, f) for n, f in globals().items() if n.startswith("test_") and callable(f)]
    tests += load_e2e_files() + list(cases.case_tests().items())
    names = [n for n, _ in tests]
    dup = sorted(set(n for n in names if names.count(n) > 1))
    if dup:
        print("FAIL two tests share a name: %s" % ", ".join(dup))
        sys.exit(1)
    tests = [(n, f) for n, f in tests if only in n]
    passed = failed = 0
    for name, fn in tests:
        t = time.time()
        try:
            fn()
            passed += 1
            print("ok   %s%s (%.1fs)" % (LABEL, name[5:], time.time() - t), flush=True)
        except Failure as e:
            failed += 1
            print("FAIL %s%s: %s\n     (%s)" % (LABEL, name[5:], e, (fn.__doc__ or "").strip().splitlines()[0]), flush=True)
        except Exception:
            failed += 1
            print("FAIL %s%s: %s" % (LABEL, name[5:], traceback.format_exc()), flush=True)
        finally:
            board.cleanup_boards()
    print("%d passed, %d failed" % (passed, failed))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
