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
                   lmtp_server, Sink, free_port, log_file)
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
              "share/bidmail/mail-templates/fr/post_ack.tmpl") + tuple(
                  "share/bidmail/data/" + os.path.basename(p)
                  for p in glob.glob(os.path.join(ROOT, "contrib", "*.txt"))):
        expect(os.path.isfile(os.path.join(dest, "usr/local", f)), "not installed: %s" % f)


# What migration 21 (next_due, the alerts' watermark and their indexes) added, dropped by the
# tests that rebuild an older schema by hand.
UNDO_MIGRATION_21 = (
    "DROP TRIGGER subscribers_due_insert; DROP TRIGGER subscribers_due_update;"
    "DROP INDEX subscribers_next_due; DROP INDEX subscribers_instant; DROP INDEX projects_published;"
    "DROP TABLE digest_marks; ALTER TABLE subscribers DROP COLUMN next_due;")

# What migration 28 (the outbox's shared texts) added: dropped by the same tests.
UNDO_MIGRATION_28 = (
    "DROP INDEX outbox_message_part; ALTER TABLE outbox_message DROP COLUMN part;"
    "DROP TABLE outbox_part;")


def test_migration_turns_day_counts_into_days():
    """Migration 20: a project stored with a day count (deadline_days, before deadlines were
    days) gets the day it pointed to, counted from its creation, and `projects --json` counts
    the days left from the listing's clock; a bid's delivery_days becomes its delivery day."""
    b = Board().init()
    b.deliver(post_mail(msgid="<days@client.fr>", body="Traduction, délai 3 semaines.\n"))
    b.run("run", "--once")
    path = os.path.join(b.dir, "var", "bidmail.db")
    db = sqlite3.connect(path)
    db.executescript(  # back to version 19: migrations 24 and 21 undone, then 20 (22 and 23
        # run again as they are)
        "DROP INDEX ingested_replay_key; ALTER TABLE ingested DROP COLUMN replay_key;"
        " ALTER TABLE ingested DROP COLUMN host;" +
        UNDO_MIGRATION_21 + UNDO_MIGRATION_28 +
        "ALTER TABLE projects DROP COLUMN deadline; ALTER TABLE bids DROP COLUMN delivery;"
        "UPDATE projects SET deadline_days = 21, created = '2026-03-02T09:00:00Z';"
        "INSERT INTO bids(project, subscriber, address, amount, delivery_days, status, created)"
        " SELECT id, 1, 'f@dev.fr', 900, 10, 'active', '2026-03-03T10:00:00Z' FROM projects;"
        "PRAGMA user_version = 19;")  # migrations 20 to 24 run again
    db.close()
    env = dict(os.environ, BIDMAIL_NOW="2026-03-16T10:00:00Z")
    got = json.loads(b.run("projects", "--json", env=env).stdout)
    expect(len(got) == 1 and got[0]["deadline"] == "2026-03-23" and got[0]["deadline_days"] == 7,
           "migrated project: %r" % got)
    bids = json.loads(b.run("bids", str(got[0]["id"]), "--json", env=env).stdout)
    expect(len(bids) == 1 and bids[0]["delivery"] == "2026-03-13" and bids[0]["delivery_days"] == 10,
           "migrated bid: %r" % bids)


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
        "INSERT INTO old_ingested SELECT key, spool_name, sha256, message_id, kind, result, at"
        " FROM ingested; DROP TABLE ingested;"
        "ALTER TABLE old_ingested RENAME TO ingested; DROP TABLE sender_rates;"
        "CREATE TABLE sender_rates(address TEXT PRIMARY KEY COLLATE NOCASE,"
        " window_start TEXT NOT NULL, count INTEGER NOT NULL, told TEXT);"
        "DROP TABLE fetched;"  # migration 11 and later did not exist at version 9
        + UNDO_MIGRATION_21 + UNDO_MIGRATION_28 +
        "ALTER TABLE projects DROP COLUMN published;"
        "ALTER TABLE projects DROP COLUMN deadline; ALTER TABLE bids DROP COLUMN delivery;"
        "ALTER TABLE outbox DROP COLUMN lease_owner; ALTER TABLE outbox DROP COLUMN lease_until;"
        "DROP TABLE relayed; DROP INDEX bids_address; DROP INDEX projects_status;"
        "DROP TABLE selections; DROP INDEX outbox_token;"
        "ALTER TABLE subscribers DROP COLUMN language_chosen;"
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
