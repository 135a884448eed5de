#!/usr/bin/env python3
"""suite.py — bidmail's end-to-end tests: each test is a function whose docstring says what it
proves. Every test gets a fresh folder with its own bidmail.conf, drives the real binary
(deliver, run, parse, projects, outbox) and reads the results (database through the CLI,
spool files, outgoing .eml files parsed by Python's email package as a second parser).
Every wait is bounded in count and time. Prints `ok NAME` / `FAIL NAME: why` per test, then
`N passed, N failed`.
usage: suite.py BIDMAIL [--only SUBSTRING] [--label LABEL]
Tests of one concern live in tests/t_CONCERN.py and are loaded into this namespace.
"""
import email, email.contentmanager, email.policy, glob, json, os, random, shutil, signal, sqlite3, subprocess
import socket, sys, tempfile, time, traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from sink import Sink, free_port  # noqa: E402
from postfix import Postfix  # noqa: E402
from dovecot import Dovecot  # noqa: E402
ROOT = os.path.dirname(HERE)
CORPUS = os.path.join(os.path.dirname(ROOT), "shared", "corpus")
BIDMAIL = None
LABEL = ""


class Failure(Exception):
    pass


def expect(cond, why):
    if not cond:
        raise Failure(why)


class Board:
    """A gateway in a temporary folder, with its own config."""

    def __init__(self, extra=""):
        self.dir = tempfile.mkdtemp(prefix="bidmail-test-")
        self.conf = os.path.join(self.dir, "bidmail.conf")
        with open(self.conf, "w") as f:
            f.write("templates = %s/mail-templates\n%s" % (ROOT, extra))
        self.spool = os.path.join(self.dir, "spool")

    def run(self, *args, stdin=None, env=None, timeout=120, check=True):
        e = dict(os.environ)
        e.update(env or {})
        p = subprocess.run([BIDMAIL, "--config", self.conf] + list(args), input=stdin,
                           capture_output=True, timeout=timeout, env=e, cwd=self.dir)
        err = p.stderr.decode("utf-8", "replace")
        if "Sanitizer" in err or "runtime error:" in err:
            raise Failure("sanitizer report from %s:\n%s" % (" ".join(args), err[-3000:]))
        if check and p.returncode != 0:
            raise Failure("`bidmail %s` exited %d: %s" % (" ".join(args), p.returncode, err[-2000:]))
        return p

    def init(self):
        self.run("init")
        return self

    def deliver(self, raw, recipient="post@example.org", sender="client@example.net", env=None):
        if isinstance(raw, str):
            raw = raw.encode("utf-8")
        args = ["deliver"]
        if recipient is not None:
            args += ["--recipient", recipient]
        if sender is not None:
            args += ["--sender", sender]
        return self.run(*args, stdin=raw, env=env, check=False).returncode

    def projects(self):
        return json.loads(self.run("projects", "--json").stdout)

    def outbox(self):
        return json.loads(self.run("outbox", "--json").stdout)

    def outgoing(self):
        return sorted(glob.glob(os.path.join(self.spool, "outgoing", "*.eml")))

    def files(self, sub):
        d = os.path.join(self.spool, sub)
        return sorted(f for f in os.listdir(d) if not f.startswith("."))

    def cleanup(self):
        shutil.rmtree(self.dir, ignore_errors=True)


def post_mail(subject="Traduction de notre site", body="Bonjour,\nNous cherchons un traducteur.\n",
              sender="Jeanne Client <jeanne@client.fr>", msgid=None, extra=""):
    msgid = msgid or "<%s@client.fr>" % os.urandom(8).hex()
    return ("From: %s\nTo: post@example.org\nSubject: %s\nDate: Tue, 4 Mar 2025 09:30:00 +0100\n"
            "Message-ID: %s\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n%s\n%s"
            % (sender, subject, msgid, extra, body))


def publish(b, raw, env=None, sender=None):
    """Delivers a post and confirms it by replying to the confirmation request, as a client
    does the first time; returns the acknowledgement."""
    import email.utils
    b.deliver(raw)
    b.run("run", "--once", env=env)
    poster = sender or email.utils.parseaddr(raw.split("\n", 1)[0][6:])[1]
    conf = None
    for path in reversed(b.outgoing()):
        m = read_mail(path)[1]
        if m["To"].addresses[0].addr_spec == poster and ("onfirm" in str(m["Subject"])):
            conf = m
            break
    if conf is None:
        raise Failure("no confirmation request to %s" % poster)
    target = email.utils.parseaddr(str(conf["Reply-To"]))[1]
    reply = ("From: %s\nTo: %s\nSubject: Re: %s\nIn-Reply-To: %s\nReferences: %s\nMessage-ID: <%s@client>\n"
             "Content-Type: text/plain; charset=utf-8\n\nOui, publiez-le.\n\n> (message cité)\n"
             % (poster, target, "confirmation", conf["Message-ID"], conf["Message-ID"], os.urandom(6).hex()))
    b.deliver(reply, recipient=target, sender=poster)
    b.run("run", "--once", env=env)
    return read_mail(b.outgoing()[-1])[1]


class _SpaceFoldingContent(email.contentmanager.ContentManager):
    """get_content with French typography's no-break spaces (U+00A0, U+202F) read as plain
    spaces, so that substring checks do not depend on them (tests/t_catalogue.py checks the
    real bytes)."""

    def get_content(self, msg, *args, **kw):
        c = email.contentmanager.raw_data_manager.get_content(msg, *args, **kw)
        return c.replace("\u00a0", " ").replace("\u202f", " ") if isinstance(c, str) else c

    def set_content(self, msg, obj, *args, **kw):
        email.contentmanager.raw_data_manager.set_content(msg, obj, *args, **kw)


FOLDING_POLICY = email.policy.default.clone(content_manager=_SpaceFoldingContent())


def read_mail(path):
    """The raw bytes of an outgoing mail and its parsed message, whose parts' get_content()
    reads no-break spaces as plain ones."""
    with open(path, "rb") as f:
        raw = f.read()
    return raw, email.message_from_bytes(raw, policy=FOLDING_POLICY)


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


def strace_run(b, args, syscalls, error, when="1+", stdin=None, env=None):
    """Runs bidmail under strace with the syscalls failing with error (errno name)."""
    e = dict(os.environ)
    e.update(env or {})
    # LeakSanitizer stops the world with ptrace, which strace already holds
    e["ASAN_OPTIONS"] = e.get("ASAN_OPTIONS", "") + ":detect_leaks=0"
    cmd = ["strace", "-f", "-o", "/dev/null", "-e", "trace=" + syscalls,
           "-e", "inject=%s:error=%s:when=%s" % (syscalls, error, when),
           BIDMAIL, "--config", b.conf] + args
    p = subprocess.run(cmd, input=stdin, capture_output=True, timeout=120, env=e, cwd=b.dir)
    err = p.stderr.decode("utf-8", "replace")
    if "Sanitizer" in err or "runtime error:" in err:
        raise Failure("sanitizer report under strace (%s):\n%s" % (" ".join(args), err[-3000:]))
    return p


def test_deliver_disk_full_and_io_errors_injected():
    """With write, fsync or rename failing (ENOSPC, EIO, injected by strace), deliver exits 75
    and leaves no file, whole or half-written; when only the final folder fsync fails, the
    MTA's retry cannot double the message: it is stored once."""
    b = Board().init()
    raw = post_mail(subject="Disque plein").encode()
    for syscalls, error in (("write", "ENOSPC"), ("write", "EIO"), ("fsync", "EIO"),
                            ("rename", "ENOSPC")):
        p = strace_run(b, ["deliver", "--recipient", "post@example.org"], syscalls, error,
                       stdin=raw)
        expect(p.returncode == 75, "%s %s: exit %d %r" % (syscalls, error, p.returncode, p.stderr[-300:]))
        expect(b.files("incoming/new") == [] and b.files("incoming/tmp") == [],
               "%s %s left %r %r" % (syscalls, error, b.files("incoming/new"), b.files("incoming/tmp")))
    # the second fsync is the folder's, after the rename: tempfail, then the MTA retries
    p = strace_run(b, ["deliver", "--recipient", "post@example.org"], "fsync", "EIO", when="2",
                   stdin=raw)
    expect(p.returncode == 75, "folder fsync: exit %d" % p.returncode)
    expect(b.deliver(raw) == 0, "the retry failed")
    b.run("run", "--once")
    expect([p["title"] for p in b.projects()] == ["Disque plein"], "projects: %r" % b.projects())


def test_run_and_sender_io_errors_injected_then_recovered():
    """A failing fsync makes `run` commit nothing (the mail stays in incoming/new); a failing
    write makes the file transport keep the answer queued; a later clean run stores the
    project once and writes its answer once."""
    b = Board().init()
    b.deliver(post_mail(subject="Erreur disque", sender="Jeanne <jeanne@client.fr>"))
    strace_run(b, ["run", "--once"], "fsync,fdatasync", "EIO")
    expect(len(b.files("incoming/new")) == 1, "the mail left incoming/new without a commit")
    expect(b.outgoing() == [], "an answer went out without a commit")
    strace_run(b, ["run", "--once"], "write", "ENOSPC")
    expect(b.outgoing() == [], "a half-written answer: %r" % b.outgoing())
    out = b.outbox()
    expect(len(out) <= 1 and all(o["state"] == "queued" for o in out), "outbox: %r" % out)
    b.run("run", "--once")
    expect(len(b.projects()) == 1 and b.files("incoming/new") == [], "projects: %r" % b.projects())
    sent = [read_mail(p)[1] for p in b.outgoing()]
    expect(len(sent) == 1 and sent[0]["To"].addresses[0].addr_spec == "jeanne@client.fr",
           "answers: %r" % [str(m["To"]) for m in sent])
    expect(b.files("tmp") == [], "leftovers in spool/tmp: %r" % b.files("tmp"))


def test_database_locked_by_another_process_waits():
    """While another process holds the database's write lock, `run` waits for it (busy
    timeout) instead of failing, then stores the mail."""
    b = Board().init()
    b.deliver(post_mail(subject="Base verrouillée"))
    db = sqlite3.connect(os.path.join(b.dir, "var", "bidmail.db"), isolation_level=None)
    db.execute("BEGIN EXCLUSIVE")
    p = subprocess.Popen([BIDMAIL, "--config", b.conf, "run", "--once"], cwd=b.dir,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    time.sleep(2)
    expect(p.poll() is None, "run did not wait for the lock (exit %r)" % p.poll())
    db.execute("ROLLBACK")
    db.close()
    out, err = p.communicate(timeout=60)
    expect(p.returncode == 0, "run exited %d: %r" % (p.returncode, err[-300:]))
    expect([x["title"] for x in b.projects()] == ["Base verrouillée"], "projects: %r" % b.projects())


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


def test_daemon_picks_up_arrivals_and_stops_on_sigterm():
    """The daemon processes mail as it arrives, and SIGTERM makes it finish and exit 0."""
    b = Board("poll_interval = 30\n").init()
    d = subprocess.Popen([BIDMAIL, "--config", b.conf, "run"], stderr=subprocess.PIPE, cwd=b.dir)
    try:
        time.sleep(0.3)
        b.deliver(post_mail(subject="Arrivée en direct"))
        for _ in range(100):  # at most 10 s
            if b.outgoing():
                break
            time.sleep(0.1)
        expect(len(b.outgoing()) == 1, "daemon did not process the arrival within 10 s")
    finally:
        d.send_signal(signal.SIGTERM)
        try:
            rc = d.wait(timeout=10)
        except subprocess.TimeoutExpired:
            d.kill()
            d.wait()
            raise Failure("daemon ignored SIGTERM for 10 s")
    err = d.stderr.read().decode()
    expect("Sanitizer" not in err and "runtime error:" not in err, err[-2000:])
    expect(rc == 0, "exit %d after SIGTERM" % rc)
    expect("result=stopped" in err, "no stop line in log")


def test_daemon_reloads_on_sighup():
    """SIGHUP reloads the config: a new board_name shows in the next mail."""
    b = Board("poll_interval = 30\n").init()
    d = subprocess.Popen([BIDMAIL, "--config", b.conf, "run"], stderr=subprocess.PIPE, cwd=b.dir)
    try:
        time.sleep(0.3)
        with open(b.conf, "a") as f:
            f.write("board_name = Bourse Rechargée\n")
        d.send_signal(signal.SIGHUP)
        time.sleep(0.3)
        b.deliver(post_mail(subject="Après rechargement"))
        for _ in range(100):
            if b.outgoing():
                break
            time.sleep(0.1)
        expect(b.outgoing(), "nothing sent")
        raw, m = read_mail(b.outgoing()[0])
        expect("Bourse Rechargée" in str(m["From"]), "From %r" % m["From"])
    finally:
        d.send_signal(signal.SIGTERM)
        try:
            d.wait(timeout=10)
        except subprocess.TimeoutExpired:
            d.kill()
            d.wait()


def test_crash_kill9_loses_nothing_doubles_nothing():
    """1,000 messages (posts, exact re-deliveries, and mail for nobody) are processed by a
    daemon SIGKILLed at random moments and restarted until done: every message ends as
    exactly one committed row or one quarantined file, none lost, none doubled, and every
    project has exactly one acknowledgement file."""
    rng = random.Random(20261126)
    b = Board("batch_size = 16\n").init()
    distinct_posts = 0
    quarantined = 0
    raws = []
    for i in range(1000):
        r = rng.random()
        if r < 0.06 and raws:
            raw, rcpt = rng.choice(raws)  # an MTA retry: same bytes, same recipient
            b.deliver(raw, recipient=rcpt)
            continue
        if r < 0.12:
            raw = post_mail(subject="Lost %d" % i)
            b.deliver(raw, recipient="nobody@elsewhere.example")
            quarantined += 1
            continue
        raw = post_mail(subject="Projet numéro %d" % i, sender="c%d@client.fr" % i,
                        body="Description %d\n" % i + "ligne\n" * rng.randint(1, 200))
        b.deliver(raw)
        raws.append((raw, "post@example.org"))
        distinct_posts += 1
    delivered = set(b.files("incoming/new"))
    expect(len(delivered) == 1000, "delivered %d" % len(delivered))
    kills = 0
    deadline = time.time() + 300
    for _ in range(400):
        if not b.files("incoming/new") or time.time() > deadline:
            break
        d = subprocess.Popen([BIDMAIL, "--config", b.conf, "run"], stderr=subprocess.DEVNULL,
                             cwd=b.dir)
        time.sleep(rng.uniform(0.002, 0.05))
        d.kill()
        d.wait()
        if b.files("incoming/new"):
            kills += 1  # killed with work still pending
    b.run("run", "--once", timeout=120)
    print("     (%d SIGKILLs with work pending)" % kills)
    expect(kills >= 5, "too few kills mid-work to prove anything: %d" % kills)
    cur = {f.split(":2,")[0] for f in b.files("incoming/cur")}
    failed = {f for f in b.files("failed") if not f.endswith(".reason")}
    expect(b.files("incoming/new") == [], "left in new/")
    expect(cur | failed == delivered, "lost: %d" % len(delivered - (cur | failed)))
    expect(not (cur & failed), "both stored and quarantined: %d" % len(cur & failed))
    expect(len(failed) == quarantined, "quarantined %d, want %d" % (len(failed), quarantined))
    projects = b.projects()
    titles = [p["title"] for p in projects]
    expect(len(titles) == len(set(titles)), "a project stored twice")
    expect(len(projects) == distinct_posts, "projects %d, want %d" % (len(projects), distinct_posts))
    ob = b.outbox()
    expect(len(ob) == distinct_posts and all(o["state"] == "sent" for o in ob), "outbox rows %d" % len(ob))
    files = b.outgoing()
    ids = [os.path.basename(f).split("-")[0] for f in files]
    expect(len(ids) == len(set(ids)) == distinct_posts, "ack files %d for %d projects" % (len(ids), distinct_posts))


# ------------------------------------------------------------------ the robot

def robot_mail(body, sender="Alice Martin <alice@free.fr>", to="robot@example.org", subject="robot",
               extra="", msgid=None):
    msgid = msgid or "<%s@free.fr>" % os.urandom(6).hex()
    return ("From: %s\nTo: %s\nSubject: %s\nMessage-ID: %s\nDate: Mon, 2 Mar 2026 09:00:00 +0100\n"
            "Content-Type: text/plain; charset=utf-8\n%s\n%s" % (sender, to, subject, msgid, extra, body))


def test_long_operations_show_progress_on_a_terminal():
    """On a terminal, processing the spool and a digest run draw their progress in place and
    end with a summary line; into a pipe or a log they print neither."""
    import pty
    b = Board().init()
    env = {"BIDMAIL_NOW": "2026-03-02T06:00:00Z"}
    for i in range(3):
        subscribe(b, "p%d@dev.fr" % i, "P%d" % i, "skills traduction", env=env)
    for i in range(5):
        b.deliver(post_mail(subject="Traduction %d" % i, sender="C%d <c%d@client.fr>" % (i, i)))

    def on_tty(*args, env=None):
        master, slave = pty.openpty()
        e = dict(os.environ)
        e.update(env or {})
        p = subprocess.Popen([BIDMAIL, "--config", b.conf] + list(args), cwd=b.dir, env=e,
                             stdout=subprocess.PIPE, stderr=slave)
        os.close(slave)
        out = b""
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
        p.wait(timeout=60)
        os.close(master)
        return out.decode("utf-8", "replace")

    tty = on_tty("run", "--once", env=env)
    expect("\rspool: 5/5 (100%)" in tty and "spool: 5 messages processed" in tty,
           "spool progress: %r" % tty[-600:])
    quiet = b.run("digest", "--at", "2026-03-09T08:00:00+01:00", "--dry-run").stderr.decode()
    expect("\r" not in quiet and "digest:" not in quiet, "progress into a pipe: %r" % quiet)
    tty = on_tty("digest", "--at", "2026-03-09T08:00:00+01:00", "--dry-run")
    expect("\rdigest: 3/3 (100%)" in tty and "digest: 3 subscribers" in tty, "digest progress: %r" % tty[-600:])


def test_http_one_click_unsubscribe():
    """`bidmail http` serves RFC 8058 one-click unsubscribe at the URL of List-Unsubscribe: a
    GET shows a page with one button and changes nothing; a POST with
    List-Unsubscribe=One-Click unsubscribes at once; a bad key gets 404, a large body 413, a
    POST without the One-Click body 400, and none of them changes anything."""
    b = Board("public_url = https://board.example.org/\n").init()
    env = {"BIDMAIL_NOW": "2026-03-02T06:00:00Z"}
    subscribe(b, "leo@dev.fr", "Léo", "skills traduction", env=env)
    m = last_mail(b, "leo@dev.fr")
    lu = str(m["List-Unsubscribe"])
    expect(m["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click", "no List-Unsubscribe-Post")
    url = [u for u in lu.replace(" ", "").strip("<>").split(">,<") if u.startswith("https://")]
    expect(len(url) == 1 and url[0].startswith("https://board.example.org/u/"), "List-Unsubscribe %r" % lu)
    key = url[0].rsplit("/", 1)[1]
    port = free_port()
    p = subprocess.Popen([BIDMAIL, "--config", b.conf, "http", "--listen", "127.0.0.1:%d" % port],
                         cwd=b.dir, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    base = "http://127.0.0.1:%d" % port
    try:
        def curl(*args):
            r = subprocess.run(["curl", "-s", "-o", "-", "-w", "\n%{http_code}", "--max-time", "10"]
                               + list(args), capture_output=True, timeout=30)
            body, _, code = r.stdout.decode("utf-8", "replace").rpartition("\n")
            return int(code or 0), body
        code = 0
        for _ in range(100):
            code, body = curl(base + "/u/" + key)
            if code:
                break
            time.sleep(0.1)
        expect(code == 200 and 'method="post"' in body and "Me désabonner" in body,
               "GET: %d %r" % (code, body[:400]))
        expect(subscribers(b)["leo@dev.fr"]["status"] == "active", "a GET unsubscribed")
        code, _ = curl(base + "/u/" + key[:-2] + "xx")
        expect(code == 404, "altered key: %d" % code)
        code, _ = curl("-X", "POST", "-d", "List-Unsubscribe=One-Click", base + "/u/" + key[:-2] + "xx")
        expect(code == 404, "POST with an altered key: %d" % code)
        code, _ = curl("-X", "POST", "-d", "x" * 5000, base + "/u/" + key)
        expect(code == 413, "large body: %d" % code)
        code, _ = curl("-X", "POST", "-d", "", base + "/u/" + key)
        expect(code == 400, "POST without One-Click: %d" % code)
        expect(subscribers(b)["leo@dev.fr"]["status"] == "active", "a refused request unsubscribed")
        code, body = curl("-X", "POST", "-d", "List-Unsubscribe=One-Click", base + "/u/" + key)
        expect(code == 200 and "Désabonnement effectué" in body, "one-click POST: %d %r" % (code, body[:300]))
        expect(subscribers(b)["leo@dev.fr"]["status"] == "unsubscribed", "not unsubscribed")
    finally:
        p.terminate()
        try:
            out, err = p.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            p.kill()
            out, err = p.communicate(timeout=20)
    text = err.decode("utf-8", "replace")
    expect("Sanitizer" not in text and "runtime error:" not in text, "sanitizer: %s" % text[-2000:])
    expect(p.returncode == 0, "http exited %d: %s" % (p.returncode, text[-500:]))
    expect(key not in text, "the key reached the log")


def wait_port(port, seconds=20):
    """True once something accepts TCP connections on 127.0.0.1:port (bounded in time)."""
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


def test_http_rate_limited():
    """Beyond http_rate_limit requests a second the endpoint answers 429 with Retry-After."""
    b = Board("http_rate_limit = 5\n").init()
    port = free_port()
    p = subprocess.Popen([BIDMAIL, "--config", b.conf, "http", "--listen", "127.0.0.1:%d" % port],
                         cwd=b.dir, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        url = "http://127.0.0.1:%d/u/nokey" % port
        # wait for the listening socket without an HTTP request (a request would use the budget)
        expect(wait_port(port), "http server not listening")
        args = ["curl", "-s", "-w", "%{http_code}\n", "--max-time", "10"]
        for _ in range(40):
            args += ["-o", "/dev/null", url]
        r = subprocess.run(args, capture_output=True, timeout=60)
        codes = r.stdout.decode().split()
        expect(len(codes) == 40 and codes[0] == "404" and "429" in codes, "codes: %r" % codes)
    finally:
        p.terminate()
        p.communicate(timeout=20)


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


def deliver_robot(b, raw, recipient="robot@example.org"):
    return b.deliver(raw, recipient=recipient, sender="alice@free.fr")


def last_mail(b, to=None):
    for path in reversed(b.outgoing()):
        raw, m = read_mail(path)
        if to is None or m["To"].addresses[0].addr_spec == to:
            return m
    raise Failure("no mail to %r" % to)


def reply_to(m, body, sender="Alice Martin <alice@free.fr>"):
    """A plain reply as a mail client writes it: Re: subject, In-Reply-To, References, the
    quoted original below (its help and examples must not be read as commands)."""
    quoted = "\n".join("> " + l for l in m.get_body(("plain",)).get_content().splitlines())
    target = str(m["Reply-To"] or m["From"])
    addr = email.utils.parseaddr(target)[1]
    refs = (str(m["References"] or "") + " " + m["Message-ID"]).strip()
    raw = robot_mail(body + "\n\nLe lun. 2 mars 2026 à 09:30, bidmail <robot@example.org> a écrit :\n" + quoted + "\n",
                     sender=sender, to=addr, subject="Re: " + str(m["Subject"]),
                     extra="In-Reply-To: %s\nReferences: %s\n" % (m["Message-ID"], refs))
    return raw, addr


def subscribers(b):
    return {s["address"]: s for s in json.loads(b.run("subscribers", "--json").stdout)}


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


def subscribe(b, address, name, commands, env=None):
    """Subscribes by mail and confirms by replying, as a person would."""
    import email.utils
    deliver_robot(b, robot_mail("subscribe %s\n%s\n" % (name, commands), sender="%s <%s>" % (name, address)))
    b.run("run", "--once", env=env)
    conf = last_mail(b, address)
    raw, addr = reply_to(conf, "ok", sender="%s <%s>" % (name, address))
    b.deliver(raw, recipient=addr, sender=address)
    b.run("run", "--once", env=env)


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


# ------------------------------------------------------------------ SMTP (smtp-sink)

def smtp_board(sink_url, extra=""):
    return Board("smarthost = %s\nretry_base = 60s\n%s" % (sink_url, extra)).init()


def queue_posts(b, n, **kw):
    for i in range(n):
        b.deliver(post_mail(subject=kw.get("subject", "Projet %d") % i if "%d" in kw.get("subject", "Projet %d") else kw["subject"],
                            sender="Client %d <c%d@client.fr>" % (i, i)))
    b.run("run", "--once", env=kw.get("env"))


def check_received(b, sink, count):
    """Every received message: right envelope (signed VERP sender, one recipient = To),
    parseable by Python's email package and by bidmail's own parser, well-formed."""
    got = sink.messages()
    expect(len(got) == count, "sink received %d messages, want %d" % (len(got), count))
    for env, raw in got:
        raw = raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        m = email.message_from_bytes(raw, policy=email.policy.default)
        rcpt = env.get("X-Rcpt-Args", [""])
        expect(len(rcpt) == 1, "recipients %r" % rcpt)
        expect(rcpt[0].strip("<>") == m["To"].addresses[0].addr_spec, "RCPT %r vs To %r" % (rcpt, m["To"]))
        sender = env.get("X-Mail-Args", [""])[0].split()[0].strip("<>")
        expect(sender.startswith("bounce+m-") and sender.endswith("@example.org"), "MAIL FROM %r" % sender)
        expect(not m.defects and all(not p.defects for p in m.walk()), "defects %r" % m.defects)
        expect(m.get_content_type() == "multipart/alternative", m.get_content_type())
        expect(all(len(l) <= 998 for l in raw.split(b"\r\n")), "long line")
        path = os.path.join(b.dir, "received.eml")
        with open(path, "wb") as f:
            f.write(raw)
        own = json.loads(b.run("parse", path).stdout)
        expect(own["subject"] == str(m["Subject"]), "own parser: %r vs %r" % (own["subject"], m["Subject"]))
        expect(own["kind"] == "loop", "our own mail must read as a loop, got %r" % own["kind"])
    return got


def test_smtp_delivers_each_mail_once():
    """With a smarthost, every queued mail reaches the SMTP server exactly once, from the
    signed VERP sender to its one recipient, well-formed and parseable by two parsers."""
    sink = Sink().start()
    try:
        b = smtp_board(sink.url())
        queue_posts(b, 6)
        check_received(b, sink, 6)
        ob = b.outbox()
        expect(all(o["state"] == "sent" and o["attempts"] == 1 for o in ob), "outbox %r" % ob)
        b.run("send", "--once")
        expect(len(sink.messages()) == 6, "a second flush sent again")
    finally:
        sink.cleanup()


def test_smtp_4xx_defers_then_delivers():
    """A 4xx reply re-queues the mail with the server's reply recorded and a later next
    attempt; once the server accepts, it is delivered exactly once."""
    sink = Sink("-r", "RCPT").start()
    b = smtp_board(sink.url())
    try:
        queue_posts(b, 2, env={"BIDMAIL_NOW": "2026-03-02T08:00:00Z"})
        ob = b.outbox()
        expect(all(o["state"] == "queued" for o in ob), "states %r" % ob)
        expect(all("450" in (o["last_error"] or "") for o in ob), "errors %r" % [o["last_error"] for o in ob])
        expect(len(sink.messages()) == 0, "delivered despite 4xx")
        # too early: nothing is retried before the back-off
        b.run("send", "--once", env={"BIDMAIL_NOW": "2026-03-02T08:00:10Z"})
        expect(all(o["attempts"] == 1 for o in b.outbox()), "retried before the back-off")
    finally:
        sink.cleanup()
    sink2 = Sink(port=sink.port).start()
    try:
        b.run("send", "--once", env={"BIDMAIL_NOW": "2026-03-02T09:00:00Z"})
        check_received(b, sink2, 2)
        expect(all(o["state"] == "sent" for o in b.outbox()), "not sent after the retry")
    finally:
        sink2.cleanup()


def test_smtp_5xx_fails_at_once():
    """A 5xx reply fails the mail at once, with the server's reply recorded."""
    sink = Sink("-f", "RCPT").start()
    try:
        b = smtp_board(sink.url())
        queue_posts(b, 1)
        ob = b.outbox()
        expect(ob[0]["state"] == "failed", "state %r" % ob[0]["state"])
        expect("500" in ob[0]["last_error"] and "Error" in ob[0]["last_error"], "error %r" % ob[0]["last_error"])
    finally:
        sink.cleanup()


def test_smtp_server_down_then_up():
    """With the server down the mail waits (connection refused recorded); when it comes up,
    the mail is delivered exactly once."""
    from sink import free_port
    port = free_port()
    b = smtp_board("smtp://127.0.0.1:%d" % port)
    queue_posts(b, 3, env={"BIDMAIL_NOW": "2026-03-02T08:00:00Z"})
    ob = b.outbox()
    expect(all(o["state"] == "queued" and o["last_error"] for o in ob), "outbox %r" % ob)
    sink = Sink(port=port).start()
    try:
        b.run("send", "--once", env={"BIDMAIL_NOW": "2026-03-02T10:00:00Z"})
        check_received(b, sink, 3)
    finally:
        sink.cleanup()


def test_smtp_dropped_mid_transaction():
    """A connection dropped during the transaction (after DATA) re-queues the mail; the
    next attempt delivers it, once."""
    sink = Sink("-q", "DATA").start()
    b = smtp_board(sink.url())
    try:
        queue_posts(b, 2, env={"BIDMAIL_NOW": "2026-03-02T08:00:00Z"})
        ob = b.outbox()
        expect(all(o["state"] == "queued" and o["last_error"] for o in ob), "outbox %r" % ob)
        expect(len(sink.messages()) == 0, "a dropped transaction was dumped")
    finally:
        sink.cleanup()
    sink2 = Sink(port=sink.port).start()
    try:
        b.run("send", "--once", env={"BIDMAIL_NOW": "2026-03-02T12:00:00Z"})
        check_received(b, sink2, 2)
    finally:
        sink2.cleanup()


def test_smtp_gives_up_after_max_queue_age():
    """A mail still deferred after max_queue_age fails, with the reason."""
    sink = Sink("-r", "MAIL").start()
    try:
        b = smtp_board(sink.url(), "max_queue_age = 1d\n")
        queue_posts(b, 1, env={"BIDMAIL_NOW": "2026-03-02T08:00:00Z"})
        expect(b.outbox()[0]["state"] == "queued", "not deferred")
        b.run("send", "--once", env={"BIDMAIL_NOW": "2026-03-04T08:00:00Z"})
        o = b.outbox()[0]
        expect(o["state"] == "failed" and "given up" in o["last_error"], "outbox %r" % o)
    finally:
        sink.cleanup()


def test_smtp_starttls_required_through_postfix():
    """smtp_tls = required: the mail goes through STARTTLS to a real Postfix (its certificate
    signed by a CA made for the run, trusted through smtp_ca_file, the name checked), which
    relays it to smtp-sink, whole; against a server that offers no STARTTLS it waits, with
    the reason, and nothing is sent in clear."""
    from dovecot import make_ca
    if os.geteuid() != 0:
        raise Failure("the Postfix tests need root (Postfix's master runs as root)")
    sink = Sink().start()
    folder = tempfile.mkdtemp(prefix="bidmail-ca-")
    ca, cert, key = make_ca(folder)
    os.chmod(folder, 0o755)  # Postfix's smtpd reads them as user postfix
    os.chmod(key, 0o644)
    pf = None
    try:
        b = Board().init()
        pf = Postfix(BIDMAIL, b.conf, tls=(cert, key), relayhost="[127.0.0.1]:%d" % sink.port).start()
        with open(b.conf, "a") as f:
            f.write("smarthost = smtp://127.0.0.1:%d\nsmtp_tls = required\nsmtp_ca_file = %s\n"
                    % (pf.port, ca))
        queue_posts(b, 2)
        expect(all(o["state"] == "sent" for o in b.outbox()), "outbox %r" % b.outbox())
        deadline = time.time() + 30
        while time.time() < deadline and len(sink.messages()) < 2:
            time.sleep(0.2)
        expect(len(sink.messages()) == 2, "relayed: %d\n%s" % (len(sink.messages()), pf.log_text()[-1500:]))
        expect("TLS connection established from" in pf.log_text(), "no TLS in Postfix's log")
        # a server without STARTTLS: required means the mail waits
        b2 = smtp_board(sink.url(), "smtp_tls = required\n")
        queue_posts(b2, 1, env={"BIDMAIL_NOW": "2026-03-02T08:00:00Z"})
        o = b2.outbox()[0]
        expect(o["state"] == "queued" and o["last_error"], "sent without TLS: %r" % o)
    finally:
        if pf:
            pf.stop()
        sink.cleanup()
        shutil.rmtree(folder, ignore_errors=True)


def test_smtp_auth_after_starttls():
    """SMTP AUTH (smtp_user, smtp_password) after STARTTLS, against a real Postfix that lets
    only authenticated clients relay (its SASL is a private Dovecot's auth service): with the
    right password the mail is relayed; with a wrong one it waits with the server's refusal,
    and the password appears in no log line and no outbox field."""
    if os.geteuid() != 0:
        raise Failure("the Postfix tests need root (Postfix's master runs as root)")
    sink = Sink().start()
    dv = Dovecot().start()
    os.chmod(dv.dir, 0o755)
    pf = None
    try:
        b = Board().init()
        pf = Postfix(BIDMAIL, b.conf, tls=(os.path.join(dv.dir, "server.pem"), os.path.join(dv.dir, "server.key")),
                     relayhost="[127.0.0.1]:%d" % sink.port,
                     sasl="inet:127.0.0.1:%d" % dv.ports["auth"]).start()
        os.chmod(os.path.join(dv.dir, "server.key"), 0o644)
        base = ("smarthost = smtp://127.0.0.1:%d\nsmtp_tls = required\nsmtp_ca_file = %s\n"
                "smtp_user = %s\n" % (pf.port, dv.ca, dv.user))
        with open(b.conf, "a") as f:
            f.write(base + "smtp_password = %s\n" % dv.password)
        queue_posts(b, 1)
        deadline = time.time() + 30
        while time.time() < deadline and not sink.messages():
            time.sleep(0.2)
        expect(b.outbox()[0]["state"] == "sent" and len(sink.messages()) == 1,
               "with the right password: %r\n%s" % (b.outbox(), pf.log_text()[-1200:]))
        bad = Board("%ssmtp_password = wrong-password-xyz\n" % base).init()
        bad.deliver(post_mail(subject="Projet refusé"))
        p = bad.run("run", "--once", env={"BIDMAIL_NOW": "2026-03-02T08:00:00Z"})
        o = bad.outbox()[0]
        expect(o["state"] == "queued" and o["last_error"], "with a wrong password: %r" % o)
        expect("wrong-password-xyz" not in p.stderr.decode() and "wrong-password-xyz" not in json.dumps(bad.outbox()),
               "the password leaked")
    finally:
        if pf:
            pf.stop()
        dv.cleanup()
        sink.cleanup()


def test_smtp_dot_stuffing_and_line_ends():
    """Lines that start with a dot reach the server unchanged (stuffed on the wire, unstuffed
    by the server), bare LF lines become CRLF lines, a last line without a newline is ended:
    the message is whole, and the transaction ends once."""
    sink = Sink().start()
    try:
        b = smtp_board(sink.url())
        body = ".one dot\r\n..two dots\r\n.\r\nbare lf line\nlast line without newline"
        db = sqlite3.connect(os.path.join(b.dir, "var", "bidmail.db"))
        with db:
            db.execute("INSERT INTO outbox(id, kind, rcpt, sender, subject, token, created) VALUES"
                       "(1, 'test', 'leo@dev.fr', 'bounce@example.org', 's', 'tok1', '2026-03-02T08:00:00Z')")
            db.execute("INSERT INTO outbox_message(id, message) VALUES(1, ?)",
                       (("Subject: dots\r\n\r\n" + body).encode(),))
        db.close()
        b.run("send", "--once", env={"BIDMAIL_NOW": "2026-03-02T08:00:00Z"})
        expect(b.outbox()[0]["state"] == "sent", "outbox %r" % b.outbox())
        got = sink.messages()
        expect(len(got) == 1, "received %d" % len(got))
        text = got[0][1].split(b"Subject: dots", 1)[1]
        expect(b"\n.one dot\n..two dots\n.\nbare lf line\nlast line without newline\n" in text.replace(b"\r\n", b"\n"),
               "body on arrival: %r" % text)
    finally:
        sink.cleanup()


def test_smtp_malicious_names_and_subjects():
    """Names and subjects with CR/LF, NUL, control bytes, 10,000 characters and bidi
    overrides: what reaches the server stays well-formed, with one recipient each."""
    sink = Sink().start()
    try:
        b = smtp_board(sink.url())
        hostile = [
            ("=?UTF-8?Q?Eve=0D=0ABcc:_x@evil.example?=", "=?UTF-8?Q?T=0D=0AX-Injected:_1?="),
            ("Null\u0000Byte", "Sub\u0001ject\u001b[31m"),
            ("\u202eReversed", "\u202e" + "L" * 10000),
        ]
        for i, (name, subject) in enumerate(hostile):
            raw = ("From: %s <h%d@client.fr>\nTo: post@example.org\nSubject: %s\nMessage-ID: <h%d@c>\n\nx\n"
                   % (name, i, subject, i))
            b.deliver(raw)
        b.run("run", "--once")
        got = check_received(b, sink, 3)
        for env, raw in got:
            m = email.message_from_bytes(raw, policy=email.policy.default)
            names = [k.lower() for k in m.keys()]
            expect("bcc" not in names and "x-injected" not in names, "header injected: %r" % names)
            expect(b"\x00" not in raw and b"\x1b" not in raw, "control bytes reached the wire")
    finally:
        sink.cleanup()


def test_bounce_matched_and_address_disabled():
    """A DSN sent back to the VERP address is matched to its outbox row; three hard bounces
    on three days disable the address, which gets one final notice; bounces are never
    answered otherwise."""
    sink = Sink().start()
    try:
        b = smtp_board(sink.url())
        days = ["2026-03-02", "2026-03-03", "2026-03-04"]
        seen = set()
        for n, day in enumerate(days):
            env = {"BIDMAIL_NOW": day + "T08:00:00Z"}
            b.deliver(post_mail(subject="Projet %d" % n, sender="Gone <gone@client.fr>"), env=env)
            b.run("run", "--once", env=env)
            senders = {m[0]["X-Mail-Args"][0].split()[0].strip("<>") for m in sink.messages()}
            new = senders - seen
            expect(len(new) == 1, "new envelope senders: %r" % new)
            sender = new.pop()
            seen.add(sender)
            dsn = ("From: MAILER-DAEMON@mx.client.fr\nTo: %s\nSubject: Undelivered Mail\n"
                   "Message-ID: <dsn%d@mx>\nMIME-Version: 1.0\nContent-Type: multipart/report; "
                   "report-type=delivery-status; boundary=\"B\"\n\n--B\nContent-Type: text/plain\n\nfailed\n"
                   "--B\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx\n\n"
                   "Final-Recipient: rfc822; gone@client.fr\nAction: failed\nStatus: 5.1.1\n--B--\n" % (sender, n))
            b.deliver(dsn, recipient=sender, sender="", env=env)
            b.run("run", "--once", env=env)
        msgs = sink.messages()
        # three acknowledgements and one final notice, nothing else
        expect(len(msgs) == 4, "sink got %d messages" % len(msgs))
        parsed = [email.message_from_bytes(raw, policy=email.policy.default) for _, raw in msgs]
        notices = [m for m in parsed if "ne reçoit plus" in str(m["Subject"])]
        expect(len(notices) == 1, "final notices: %d" % len(notices))
        last = notices[0]
        expect(last["To"].addresses[0].addr_spec == "gone@client.fr", "final notice to %r" % last["To"])
        text = last.get_body(("plain",)).get_content()
        expect("gone@client.fr" in text and "resume" in text, "final notice %r" % text)
        db = sqlite3.connect(os.path.join(b.dir, "var", "bidmail.db"))
        row = db.execute("SELECT score, hard, disabled FROM addresses WHERE address='gone@client.fr'").fetchone()
        bounced = db.execute("SELECT count(*) FROM outbox WHERE bounce_status='5.1.1'").fetchone()[0]
        db.close()
        expect(row == (3.0, 3, 1), "address row %r" % (row,))
        expect(bounced == 3, "outbox rows with the bounce status: %d" % bounced)
        st = json.loads(b.run("status", "--json").stdout)
        expect(st["bounce_disabled"] == ["gone@client.fr"], "status: %r" % st["bounce_disabled"])
    finally:
        sink.cleanup()


# ---------------------------------------------------------------- the marketplace page

ARTIFACTS = os.path.join(ROOT, "tests", "out")
USER_ADDRESSES = ("jeanne@client.fr", "jeanne.perso@gmail.com", "paul@client.fr", "lea@free.fr")


def market_board():
    """A board with two published projects (one whose text gives its poster's addresses)."""
    b = Board().init()
    b.acks = []
    b.acks.append(publish(b, post_mail(subject="Traduction d'un site <WordPress>", body=(
        "Bonjour,\nNous cherchons un traducteur anglais-français pour notre site WordPress (30 pages).\n"
        "Budget : 800 € HT, livraison sous 15 jours.\nCompétences : traduction, wordpress\n"
        "Écrivez-moi à jeanne.perso@gmail.com ou mailto:jeanne@client.fr.\n"))))
    b.acks.append(publish(b, post_mail(subject="Développeur PHP Symfony", sender="Paul <paul@client.fr>",
                                       body="Hello,\nNous cherchons un développeur PHP / Symfony pour une API.\n"
                                            "Budget 400 à 600 EUR par jour, 20 jours.\n")))
    return b


def tidy_clean(path):
    """HTML5 validity as tidy (html-tidy 5) checks it: no error, no warning."""
    r = subprocess.run(["tidy", "-q", "-e", path], capture_output=True, timeout=30)
    return r.returncode == 0, r.stderr.decode("utf-8", "replace")


def test_export_site_feed_and_json():
    """`bidmail export --out DIR` writes the index, one page per open project and per skill
    (valid HTML5 by tidy, no outside resource), projects.atom (a valid Atom feed) and
    projects.json; never a user's address (masked in texts); a closed project's page goes."""
    import xml.etree.ElementTree as ET
    b = market_board()
    out = os.path.join(b.dir, "site")
    b.run("export", "--out", out)
    files = sorted(os.path.relpath(os.path.join(t, f), out) for t, _, fs in os.walk(out) for f in fs)
    expect({"index.html", "p/1001.html", "p/1002.html", "projects.atom", "projects.json",
            "tags/traduction.html", "tags/php.html"} <= set(files), "files: %r" % files)
    for f in files:
        data = open(os.path.join(out, f), encoding="utf-8").read()
        for a in USER_ADDRESSES:
            expect(a not in data, "%s shows %s" % (f, a))
        if f.endswith(".html"):
            ok, why = tidy_clean(os.path.join(out, f))
            expect(ok, "%s does not validate: %s" % (f, why[:600]))
            expect("<script" not in data and "http://" not in data and "https://" not in data,
                   "%s loads something from outside" % f)
    page = open(os.path.join(out, "p", "1001.html"), encoding="utf-8").read()
    expect("[adresse masquée]" in page and "800 EUR HT" in page and "15 jours" in page,
           "project page: %r" % page[-1500:])
    expect('href="mailto:bid+p1001@example.org?subject=' in page, "no public bid link")
    ns = {"a": "http://www.w3.org/2005/Atom"}
    feed = ET.parse(os.path.join(out, "projects.atom")).getroot()
    expect(feed.tag == "{http://www.w3.org/2005/Atom}feed", "not an Atom feed")
    for req in ("a:title", "a:id", "a:updated", "a:author/a:name"):
        expect(feed.find(req, ns) is not None, "feed without %s" % req)
    entries = feed.findall("a:entry", ns)
    expect(len(entries) == 2, "entries: %d" % len(entries))
    for e in entries:
        for req in ("a:title", "a:id", "a:updated", "a:link"):
            expect(e.find(req, ns) is not None, "entry without %s" % req)
    data = json.load(open(os.path.join(out, "projects.json")))
    expect(data["count"] == 2 and [p["id"] for p in data["projects"]] == [1002, 1001], "json: %r" % data)
    p1002 = data["projects"][0]
    expect(p1002["budget"]["min"] == 400 and p1002["budget"]["unit"] == "day" and
           p1002["bid_address"] == "bid+p1002@example.org" and "poster" not in p1002,
           "json project: %r" % p1002)
    # Paul closes project 1002 by replying "fermer" to its acknowledgement: its page goes
    ack = b.acks[1]
    target = email.utils.parseaddr(str(ack["Reply-To"]))[1]
    b.deliver("From: Paul <paul@client.fr>\nTo: %s\nSubject: Re: %s\nIn-Reply-To: %s\n"
              "Message-ID: <close1002@client.fr>\nContent-Type: text/plain; charset=utf-8\n\nfermer\n"
              % (target, ack["Subject"], ack["Message-ID"]), recipient=target, sender="paul@client.fr")
    b.run("run", "--once")
    expect([p["status"] for p in b.projects() if p["id"] == 1002] == ["closed"], "not closed")
    b.run("export", "--out", out)
    expect(not os.path.exists(os.path.join(out, "p", "1002.html")), "closed project's page kept")
    expect(not os.path.exists(os.path.join(out, "tags", "php.html")), "unused skill page kept")
    expect(json.load(open(os.path.join(out, "projects.json")))["count"] == 1, "json not updated")


class StaticServer:
    """Python's http.server on 127.0.0.1 on a free port, serving a folder; stopped by pid."""

    def __init__(self, folder):
        self.port = free_port()
        self.proc = subprocess.Popen([sys.executable, "-m", "http.server", str(self.port), "--bind",
                                      "127.0.0.1", "--directory", folder],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if not wait_port(self.port):
            self.stop()
            raise Failure("static server did not start")

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)


def browser(what, url, png):
    """Runs tests/browser.py (headless Chromium) with the system Python; its JSON answer."""
    os.makedirs(ARTIFACTS, exist_ok=True)
    r = subprocess.run(["/usr/bin/python3", os.path.join(HERE, "browser.py"), what, url, png],
                       capture_output=True, timeout=120)
    if r.returncode != 0:
        raise Failure("browser.py %s %s: %s" % (what, url, r.stderr.decode()[-1500:]))
    expect(os.path.getsize(png) > 5000 and open(png, "rb").read(8) == b"\x89PNG\r\n\x1a\n",
           "no screenshot in %s" % png)
    return json.loads(r.stdout)


def test_export_seen_in_chromium_then_bid_from_the_page():
    """A visitor opens the exported site in headless Chromium: the index lists both projects
    with budget, deadline, skills and bids against the cap, and no address; the project page's
    bid link is a mailto: to the project's public bid address. The visitor (not a subscriber)
    sends the mail it prepares: one confirmation request; the reply passes the bid on to the
    client and subscribes the visitor; the re-exported page counts the bid. Screenshots are
    kept in tests/out/."""
    import urllib.parse
    b = market_board()
    out = os.path.join(b.dir, "site")
    b.run("export", "--out", out)
    srv = StaticServer(out)
    try:
        base = "http://127.0.0.1:%d/" % srv.port
        index = browser("page", base + "index.html", os.path.join(ARTIFACTS, LABEL.strip(":") + "export-index.png"))
        text = index["text"]
        for want in ("Traduction d'un site <WordPress>", "Développeur PHP Symfony", "800 EUR HT",
                     "400–600 EUR par jour", "15 jours", "20 jours", "0 / 20", "traduction", "php"):
            expect(want in text, "the index does not show %r: %r" % (want, text))
        expect("@" not in text, "an address on the index: %r" % text)
        expect(base + "p/1001.html" in index["links"] and base + "tags/traduction.html" in index["links"],
               "links: %r" % index["links"])
        page = browser("page", base + "p/1001.html", os.path.join(ARTIFACTS, LABEL.strip(":") + "export-project.png"))
        expect("[adresse masquée]" in page["text"] and "jeanne" not in page["text"], "page: %r" % page["text"])
        expect(len(page["mailtos"]) == 1, "mailto links: %r" % page["mailtos"])
        link = urllib.parse.urlsplit(page["mailtos"][0])
        q = urllib.parse.parse_qs(link.query)
        expect(link.path == "bid+p1001@example.org" and "1001" in q["subject"][0] and "prix" in q["body"][0],
               "mailto: %r" % page["mailtos"][0])
    finally:
        srv.stop()
    # the visitor's mail client sends what the link prepared, the price filled in
    body = q["body"][0].replace("Mon prix : ", "Mon prix : 750 € HT").replace(
        "Mon délai : ", "Mon délai : 12 jours").replace("Mon message au client : ",
                                                         "Mon message au client : traductrice depuis 10 ans.")
    raw = ("From: Léa Dupont <lea@free.fr>\nTo: %s\nSubject: %s\nMessage-ID: <pub1@free.fr>\n"
           "Content-Type: text/plain; charset=utf-8\n\n%s" % (link.path, q["subject"][0], body))
    b.deliver(raw, recipient=link.path, sender="lea@free.fr")
    b.run("run", "--once")
    conf = last_mail(b, "lea@free.fr")
    expect("confirm" in conf.get_body(("plain",)).get_content().lower(), "no confirmation request")
    expect(subscribers(b)["lea@free.fr"]["status"] == "pending", "subscriber not pending")
    expect(not [m for m in b.outbox() if m["kind"] == "bid_quote"], "quote sent before confirmation")
    reply, addr = reply_to(conf, "Oui, je confirme.", sender="Léa Dupont <lea@free.fr>")
    b.deliver(reply, recipient=addr, sender="lea@free.fr")
    b.run("run", "--once")
    quotes = [m for m in b.outbox() if m["kind"] == "bid_quote"]
    expect(len(quotes) == 1 and quotes[0]["to"] == "jeanne@client.fr", "quotes: %r" % quotes)
    expect(subscribers(b)["lea@free.fr"]["status"] == "active", "not subscribed by the confirmation")
    b.run("export", "--out", out)
    expect("1 / 20" in open(os.path.join(out, "index.html"), encoding="utf-8").read(), "bid not counted")


def test_public_bid_address_refusals():
    """The public bid address of a project that does not exist gets one explanation and no
    subscriber; an unconfirmed public bid never reaches the client."""
    b = market_board()
    raw = ("From: Max <max@free.fr>\nTo: bid+p999999@example.org\nSubject: Offre\nMessage-ID: <pub2@free.fr>\n"
           "Content-Type: text/plain; charset=utf-8\n\nMon prix : 500 € HT\n")
    b.deliver(raw, recipient="bid+p999999@example.org", sender="max@free.fr")
    b.run("run", "--once")
    m = last_mail(b, "max@free.fr")
    expect("n'existe pas" in m.get_body(("plain",)).get_content(), "no explanation")
    expect("max@free.fr" not in subscribers(b), "a subscriber made for nothing")


def test_unsubscribe_page_clicked_in_chromium():
    """The one-click unsubscribe page, opened in headless Chromium from the URL of
    List-Unsubscribe: it validates (tidy), opening it changes nothing, clicking its one button
    unsubscribes and the answer page says so. Screenshot kept in tests/out/."""
    b = Board("public_url = https://board.example.org/\n").init()
    env = {"BIDMAIL_NOW": "2026-03-02T06:00:00Z"}
    subscribe(b, "leo@dev.fr", "Léo", "skills traduction", env=env)
    lu = str(last_mail(b, "leo@dev.fr")["List-Unsubscribe"])
    url = [u for u in lu.replace(" ", "").strip("<>").split(">,<") if u.startswith("https://")]
    key = url[0].rsplit("/", 1)[1]
    port = free_port()
    p = subprocess.Popen([BIDMAIL, "--config", b.conf, "http", "--listen", "127.0.0.1:%d" % port],
                         cwd=b.dir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        expect(wait_port(port), "http server not listening")
        page = os.path.join(b.dir, "page.html")
        r = subprocess.run(["curl", "-s", "-o", page, "--max-time", "10",
                            "http://127.0.0.1:%d/u/%s" % (port, key)], timeout=30)
        ok, why = tidy_clean(page)
        expect(ok, "the unsubscribe page does not validate: %s" % why[:600])
        expect(subscribers(b)["leo@dev.fr"]["status"] == "active", "a GET unsubscribed")
        res = browser("click", "http://127.0.0.1:%d/u/%s" % (port, key),
                      os.path.join(ARTIFACTS, LABEL.strip(":") + "unsubscribe-clicked.png"))
        expect("Me désabonner" in res["before"], "page before: %r" % res["before"])
        expect("Désabonnement effectué" in res["after"], "page after the click: %r" % res["after"])
        expect(subscribers(b)["leo@dev.fr"]["status"] == "unsubscribed", "the click did not unsubscribe")
    finally:
        p.terminate()
        p.wait(timeout=20)


def test_daemon_keeps_export_current():
    """With export_dir set, the daemon writes the marketplace page at start and again when a
    project is published."""
    b = market_board()
    site = os.path.join(b.dir, "public")
    with open(b.conf, "a") as f:
        f.write("export_dir = public\npoll_interval = 1\n")
    log = open(os.path.join(b.dir, "daemon.log"), "w+")
    d = subprocess.Popen([BIDMAIL, "--config", b.conf, "run"], stderr=log, cwd=b.dir)

    def wait_file(rel, seconds):
        deadline = time.time() + seconds
        while time.time() < deadline:
            if os.path.exists(os.path.join(site, rel)):
                return True
            time.sleep(0.1)
        return False
    try:
        expect(wait_file("p/1002.html", 20), "no export at start")
        # a new post, confirmed by its poster while the daemon runs: its page appears
        b.deliver(post_mail(subject="Rédaction de fiches produits", body="Bonjour,\n50 fiches produits, 300 EUR.\n"))
        conf = None
        for _ in range(200):  # at most 20 s
            sent = [read_mail(f)[1] for f in b.outgoing()]
            conf = [m for m in sent if "onfirm" in str(m["Subject"]) and "1003" in str(m["Subject"])]
            if conf:
                break
            time.sleep(0.1)
        expect(conf, "no confirmation request from the daemon")
        expect(not os.path.exists(os.path.join(site, "p", "1003.html")), "published before confirmation")
        target = email.utils.parseaddr(str(conf[0]["Reply-To"]))[1]
        b.deliver("From: jeanne@client.fr\nTo: %s\nSubject: Re: confirmation\nIn-Reply-To: %s\n"
                  "Message-ID: <c1003@client.fr>\nContent-Type: text/plain; charset=utf-8\n\nOui.\n"
                  % (target, conf[0]["Message-ID"]), recipient=target, sender="jeanne@client.fr")
        if not wait_file("p/1003.html", 20):
            log.seek(0)
            raise Failure("the new project's page was not written: %s" % log.read()[-2000:])
    finally:
        d.send_signal(signal.SIGTERM)
        rc = d.wait(timeout=20)
    log.seek(0)
    err = log.read()
    expect(rc == 0 and "Sanitizer" not in err and "runtime error:" not in err, err[-1500:])
    expect("stage=export" in err, "no export logged")


# ---------------------------------------------------------------- LMTP

def lmtp_server(b, port):
    p = subprocess.Popen([BIDMAIL, "--config", b.conf, "lmtp", "--listen", "127.0.0.1:%d" % port],
                         cwd=b.dir, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if not wait_port(port):
        p.kill()
        raise Failure("bidmail lmtp did not listen: %s" % p.communicate(timeout=10)[1].decode()[-800:])
    return p


def swaks_lmtp(port, to, body="Bonjour,\nNous cherchons un traducteur.\n.une ligne qui commence par un point\n"):
    r = subprocess.run(["swaks", "--protocol", "LMTP", "--server", "127.0.0.1", "--port", str(port),
                        "--from", "jeanne@client.fr", "--to", to, "--header",
                        "Subject: Traduction par LMTP", "--body", body], capture_output=True, timeout=60)
    return r.stdout.decode("utf-8", "replace")


def test_lmtp_replies_per_recipient():
    """`bidmail lmtp` (tested with swaks --protocol LMTP): a recipient outside the board's
    domain is refused at RCPT (550); after the data each accepted recipient gets its own 250,
    once its copy is in the spool with its envelope; dot-stuffing is undone; the post becomes a
    project and the robot answers the other copy."""
    b = Board().init()
    port = free_port()
    p = lmtp_server(b, port)
    try:
        out = swaks_lmtp(port, "post@example.org,robot@example.org,someone@elsewhere.example")
    finally:
        p.terminate()
        err = p.communicate(timeout=20)[1].decode()
    expect("550 5.1.1 <someone@elsewhere.example>" in out, "foreign recipient not refused: %s" % out[-1500:])
    replies = [l for l in out.splitlines() if l.startswith("<-  250 2.0.0 <")]
    expect(len(replies) == 2 and "post@example.org" in replies[0] and "robot@example.org" in replies[1],
           "per-recipient replies: %r" % replies)
    expect(p.returncode == 0 and "Sanitizer" not in err, "exit %s: %s" % (p.returncode, err[-800:]))
    envs = {}
    for n in b.files("incoming/new"):
        with open(os.path.join(b.spool, "incoming", "new", n), "rb") as f:
            data = f.read()
        envs[data.split(b"\n", 1)[0].decode()] = data
    expect(len(envs) == 2 and all(b"\n.une ligne" in d and b"\r\n" not in d for d in envs.values()),
           "spool: %r" % list(envs))
    expect(any("recipient=<post@example.org>" in e for e in envs) and
           any("recipient=<robot@example.org>" in e for e in envs), "envelopes: %r" % list(envs))
    b.run("run", "--once")
    expect([pr["title"] for pr in b.projects()] == ["Traduction par LMTP"], "projects: %r" % b.projects())


def test_lmtp_451_when_the_spool_fails_then_250():
    """When a copy cannot be stored (spool/incoming/tmp gone), that recipient gets 451 (the MTA
    keeps it and retries) and nothing is left half-written; once the spool is back, 250."""
    b = Board().init()
    tmp = os.path.join(b.spool, "incoming", "tmp")
    port = free_port()
    p = lmtp_server(b, port)
    try:
        os.rename(tmp, tmp + ".away")
        out = swaks_lmtp(port, "post@example.org")
        expect("451 4.3.0 <post@example.org>" in out, "no 451: %s" % out[-1200:])
        expect(b.files("incoming/new") == [], "stored anyway")
        os.rename(tmp + ".away", tmp)
        out = swaks_lmtp(port, "post@example.org")
        expect("250 2.0.0 <post@example.org>" in out, "no 250 after repair: %s" % out[-1200:])
        expect(len(b.files("incoming/new")) == 1 and b.files("incoming/tmp") == [], "spool after repair")
    finally:
        p.terminate()
        p.communicate(timeout=20)


def test_postfix_lmtp_to_the_daemon():
    """A real Postfix routes the board's domain with lmtp: (contrib/postfix/transport-lmtp) to
    the daemon's LMTP listener (lmtp_listen): mail sent to Postfix with swaks becomes a
    project, and Postfix logs the delivery as sent."""
    if os.geteuid() != 0:
        raise Failure("the Postfix tests need root (Postfix's master runs as root)")
    port = free_port()
    b = Board("lmtp_listen = 127.0.0.1:%d\npoll_interval = 1\n" % port).init()
    log = open(os.path.join(b.dir, "daemon.log"), "w+")
    d = subprocess.Popen([BIDMAIL, "--config", b.conf, "run"], stderr=log, cwd=b.dir)
    pf = None
    try:
        expect(wait_port(port), "the daemon's LMTP listener is not there")
        pf = Postfix(BIDMAIL, b.conf, lmtp="inet:127.0.0.1:%d" % port).start()
        r = subprocess.run(["swaks", "--server", "127.0.0.1", "--port", str(pf.port),
                            "--from", "jeanne@client.fr", "--to", "post@example.org",
                            "--header", "Subject: Relecture par LMTP", "--body",
                            "Bonjour,\nRelecture d'un mémoire de 80 pages, 300 EUR.\n",
                            "--silent", "1"], capture_output=True, timeout=60)
        expect(r.returncode == 0, "swaks: %r" % r.stdout[-400:])
        n = pf.wait_delivered(1, relay="relay=127.0.0.1[127.0.0.1]:%d" % port)
        expect(n == 1, "postfix did not deliver over LMTP: %s" % pf.log_text()[-1500:])
        deadline = time.time() + 20
        while time.time() < deadline and not b.projects():
            time.sleep(0.2)
        expect([p["title"] for p in b.projects()] == ["Relecture par LMTP"], "projects: %r" % b.projects())
    finally:
        if pf:
            pf.stop()
        d.send_signal(signal.SIGTERM)
        rc = d.wait(timeout=20)
    log.seek(0)
    err = log.read()
    expect(rc == 0 and "Sanitizer" not in err and "runtime error:" not in err, err[-1500:])


# ---------------------------------------------------------------- fetch (IMAP, POP3)

def fetch_board(dv, url, extra=""):
    """A board whose fetch_url is the private Dovecot's mailbox, its CA trusted."""
    if os.geteuid() != 0:
        raise Failure("the Dovecot tests need root (the mail user is nobody)")
    return Board("fetch_url = %s\nfetch_password = %s\nfetch_ca_file = %s\n%s"
                 % (url, dv.password, dv.ca, extra)).init()


def spooled_bodies(b):
    """The message bytes of every file in incoming/new (the envelope line removed)."""
    out = []
    for n in b.files("incoming/new"):
        with open(os.path.join(b.spool, "incoming", "new", n), "rb") as f:
            data = f.read()
        expect(data.startswith(b"X-Bidmail-Envelope: "), "no envelope line in %s" % n)
        # IMAP and POP3 serve CRLF lines: compared as LF
        out.append(data.split(b"\n", 1)[1].replace(b"\r\n", b"\n"))
    return out


def test_fetch_imap_each_message_once_then_seen():
    """`bidmail fetch` over IMAPS (the chain and the name verified against fetch_ca_file):
    every unseen message is stored in the spool once, with its UIDVALIDITY:UID origin, then
    marked \Seen; a second fetch stores nothing; a later arrival is fetched; the posts become
    projects."""
    dv = Dovecot().start()
    try:
        for i in range(3):
            dv.put(post_mail(subject="Projet par IMAP %d" % i, msgid="<imap%d@client.fr>" % i))
        b = fetch_board(dv, dv.url("imaps"))
        p = b.run("fetch")
        spooled = spooled_bodies(b)
        expect(len(spooled) == 3, "spooled %d" % len(spooled))
        new, cur = dv.messages()
        expect(not new and len(cur) == 3 and all(":2," in n and "S" in n.split(":2,")[1] for n in cur),
               "not all marked seen: %r %r" % (new, cur))
        envs = [open(os.path.join(b.spool, "incoming", "new", n)).readline() for n in b.files("incoming/new")]
        expect(all("origin=<imap://board@127.0.0.1/INBOX/" in e for e in envs), "origin: %r" % envs)
        expect(dv.password not in p.stderr.decode(), "password in the log")
        b.run("fetch")
        expect(len(b.files("incoming/new")) == 3, "second fetch stored again")
        dv.put(post_mail(subject="Projet tardif", msgid="<imap-late@client.fr>"))
        b.run("fetch")
        expect(len(b.files("incoming/new")) == 4, "late arrival not fetched")
        b.run("run", "--once")
        titles = sorted(pr["title"] for pr in b.projects())
        expect(len(titles) == 4 and "Projet tardif" in titles, "projects: %r" % titles)
    finally:
        dv.cleanup()


def test_fetch_pop3_starttls_and_delete():
    """`bidmail fetch` over POP3 with STLS and fetch_after = delete: each message is stored
    (UIDL origin), then deleted on the server; a second fetch finds nothing."""
    dv = Dovecot().start()
    try:
        for i in range(2):
            dv.put(post_mail(subject="Projet par POP3 %d" % i))
        b = fetch_board(dv, dv.url("pop3"), "fetch_after = delete\n")
        b.run("fetch")
        expect(len(spooled_bodies(b)) == 2, "spooled %d" % len(b.files("incoming/new")))
        expect(dv.messages() == ([], []), "left on the server: %r" % (dv.messages(),))
        envs = [open(os.path.join(b.spool, "incoming", "new", n)).readline() for n in b.files("incoming/new")]
        expect(all("origin=<pop3://board@127.0.0.1/" in e for e in envs), "origin: %r" % envs)
        b.run("fetch")
        expect(len(b.files("incoming/new")) == 2, "fetched again")
        expect("STLS" in open(dv.log).read() or "TLS" in dv.logtext(), "no TLS in the Dovecot log")
    finally:
        dv.cleanup()


def test_fetch_refuses_untrusted_certificate():
    """Without the test CA (the system's CAs do not know it), the server's certificate is
    refused before the password is sent: exit 75 (try again later), a clear reason in the
    log, nothing stored and nothing marked seen on the server."""
    dv = Dovecot().start()
    try:
        dv.put(post_mail(subject="Ne doit pas partir"))
        b = Board("fetch_url = %s\nfetch_password = %s\n" % (dv.url("imaps"), dv.password)).init()
        p = b.run("fetch", check=False)
        err = p.stderr.decode()
        expect(p.returncode == 75, "exit %d: %s" % (p.returncode, err[-500:]))
        expect("certificate" in err and "refused" in err, "unclear: %r" % err[-500:])
        expect(b.files("incoming/new") == [], "stored anyway")
        expect(len(dv.messages()[0]) == 1, "message touched: %r" % (dv.messages(),))
        expect("Login: user=<board>" not in dv.logtext(), "the password was sent")
    finally:
        dv.cleanup()


class CuttingProxy:
    """A TCP relay to 127.0.0.1:upstream that closes both sides after `limit` bytes from the
    server (a connection cut mid-fetch). One connection at a time, bounded in time."""

    def __init__(self, upstream, limit):
        import threading
        self.upstream, self.limit = upstream, limit
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.sock.settimeout(30)
        self.port = self.sock.getsockname()[1]
        self.cut = False
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        import select
        try:
            client, _ = self.sock.accept()
        except OSError:
            return
        server = socket.create_connection(("127.0.0.1", self.upstream), timeout=10)
        sent, deadline = 0, time.time() + 60
        try:
            while time.time() < deadline:
                r, _, _ = select.select([client, server], [], [], 1)
                for s in r:
                    data = s.recv(16384)
                    if not data:
                        return
                    if s is server:
                        if sent + len(data) >= self.limit:
                            client.sendall(data[:self.limit - sent])
                            self.cut = True
                            return
                        sent += len(data)
                        client.sendall(data)
                    else:
                        server.sendall(data)
        finally:
            client.close()
            server.close()

    def close(self):
        self.sock.close()
        self.thread.join(timeout=70)


def test_fetch_cut_mid_fetch_and_server_restart():
    """The connection is cut in the middle of a message: `fetch` exits 75, nothing
    half-written is in the spool (every stored file is a whole message), nothing is lost on
    the server. Dovecot is restarted; the next fetch stores the rest; `run` makes exactly one
    project per message."""
    dv = Dovecot().start()
    try:
        sent = []
        for i in range(5):
            raw = post_mail(subject="Gros projet %d" % i, msgid="<big%d@client.fr>" % i,
                            body="Cahier des charges.\n" + ("ligne %d du cahier des charges\n" % i) * 4000)
            sent.append(raw.encode())
            dv.put(raw)
        # about two and a half messages get through, then the cut
        proxy = CuttingProxy(dv.ports["imaps"], 330000)
        b = fetch_board(dv, "imaps://board@127.0.0.1:%d/INBOX" % proxy.port, "fetch_timeout = 20\n")
        p = b.run("fetch", check=False, timeout=90)
        proxy.close()
        expect(proxy.cut, "the proxy never cut the connection")
        expect(p.returncode == 75, "exit %d after the cut: %s" % (p.returncode, p.stderr.decode()[-500:]))
        first = spooled_bodies(b)
        expect(0 < len(first) < 5, "stored before the cut: %d" % len(first))
        expect(all(x in sent for x in first), "a stored message is not a whole message")
        expect(b.files("incoming/tmp") == [], "leftovers in tmp: %r" % b.files("incoming/tmp"))
        new, cur = dv.messages()
        expect(len(new) + len(cur) == 5, "messages lost on the server: %r" % ((new, cur),))
        # from now on straight to the server
        with open(b.conf) as f:
            conf = f.read()
        with open(b.conf, "w") as f:
            f.write(conf.replace(":%d/" % proxy.port, ":%d/" % dv.ports["imaps"]))
        dv.stop()
        p = b.run("fetch", check=False)
        expect(p.returncode == 75, "server down: exit %d" % p.returncode)
        dv.start()
        b.run("fetch")
        every = spooled_bodies(b)
        expect(sorted(set(every)) == sorted(set(sent)), "not every message stored")
        b.run("run", "--once")
        titles = sorted(pr["title"] for pr in b.projects())
        expect(titles == ["Gros projet %d" % i for i in range(5)], "projects: %r" % titles)
    finally:
        dv.cleanup()


def test_daemon_fetches_in_idle_and_survives_server_restart():
    """With fetch_url set, the daemon fetches by itself (IMAP IDLE: an arrival is fetched
    without waiting for the poll), logs and retries while the server is down, and fetches
    again once it is back; SIGTERM stops it."""
    dv = Dovecot().start()
    b = fetch_board(dv, dv.url("imap"), "fetch_interval = 300s\npoll_interval = 1\n")
    log = open(os.path.join(b.dir, "daemon.log"), "w+")
    d = subprocess.Popen([BIDMAIL, "--config", b.conf, "run"], stderr=log, cwd=b.dir)

    def wait_projects(n, seconds):
        deadline = time.time() + seconds
        while time.time() < deadline:
            if len(b.projects()) >= n:
                return True
            time.sleep(0.2)
        return False
    try:
        expect(wait_port(dv.ports["imap"]), "dovecot not listening")
        time.sleep(1)
        dv.put(post_mail(subject="Arrivée pendant IDLE"))
        # fetch_interval is 300 s: only IDLE can bring it in time
        expect(wait_projects(1, 20), "the arrival was not fetched within 20 s")
        dv.stop()
        dv.put(post_mail(subject="Arrivée pendant la panne"))
        time.sleep(2)
        dv.start()
        if not wait_projects(2, 60):
            log.seek(0)
            raise Failure("not fetched after the server came back:\n%s\n%s"
                          % (log.read()[-2500:], dv.logtext()[-1500:]))
    finally:
        d.send_signal(signal.SIGTERM)
        try:
            rc = d.wait(timeout=20)
        except subprocess.TimeoutExpired:
            d.kill()
            d.wait()
            raise Failure("daemon ignored SIGTERM for 20 s")
        dv.cleanup()
    log.seek(0)
    err = log.read()
    expect("Sanitizer" not in err and "runtime error:" not in err, err[-2000:])
    expect(rc == 0, "exit %d after SIGTERM" % rc)
    expect("stage=fetch" in err and "retry_in=" in err, "no retry logged: %s" % err[-1500:])
    expect(dv.password not in err, "password in the log")


def postfix_board():
    """A board whose spool the pipe's user (nobody) can write, and a Postfix routing
    example.org to it."""
    if os.geteuid() != 0:
        raise Failure("the Postfix tests need root (Postfix's master runs as root)")
    b = Board().init()
    os.chmod(b.dir, 0o755)
    for top, dirs, files in os.walk(b.spool):
        for n in dirs + files:
            shutil.chown(os.path.join(top, n), user="nobody")
    shutil.chown(b.spool, user="nobody")
    return b, Postfix(BIDMAIL, b.conf).start()


def test_postfix_pipe_delivers_to_bidmail():
    """A real Postfix, configured with contrib/postfix/ (pipe(8), flags=DRX, ${sender},
    ${recipient}), takes mail by SMTP from swaks and from msmtp (a real mail client) and hands
    it to `bidmail deliver`: both posts become projects, with their envelope."""
    b, pf = postfix_board()
    try:
        r = subprocess.run(["swaks", "--server", "127.0.0.1", "--port", str(pf.port),
                            "--from", "jeanne@client.fr", "--to", "post@example.org",
                            "--header", "Subject: Traduction d'un manuel", "--body",
                            "Bonjour,\nTraduction d'un manuel de 40 pages, budget 800 EUR.\n",
                            "--silent", "1"], capture_output=True, timeout=60)
        expect(r.returncode == 0, "swaks: %r" % r.stdout[-400:])
        msg = post_mail(subject="Site vitrine WordPress", sender="Paul <paul@client.fr>",
                        body="Un site vitrine de 5 pages.\n")
        r = subprocess.run(["msmtp", "--host=127.0.0.1", "--port=%d" % pf.port, "--auth=off",
                            "--tls=off", "--from=paul@client.fr", "post@example.org"],
                           input=msg.encode(), capture_output=True, timeout=60)
        expect(r.returncode == 0, "msmtp: %r" % r.stderr[-400:])
        n = pf.wait_delivered(2)
        expect(n == 2, "deliveries through the pipe: %d\n%s" % (n, pf.log_text()[-2000:]))
        envelopes = []
        for name in b.files("incoming/new"):
            with open(os.path.join(b.spool, "incoming/new", name), "rb") as f:
                envelopes.append(f.readline())
        expect(any(b"sender=<jeanne@client.fr> recipient=<post@example.org>" in e for e in envelopes),
               "envelopes: %r" % envelopes)
        b.run("run", "--once")
        titles = sorted(p["title"] for p in b.projects())
        expect(titles == ["Site vitrine WordPress", "Traduction d'un manuel"], "projects: %r" % titles)
    finally:
        pf.cleanup()
        b.cleanup()


def test_postfix_defers_when_deliver_fails_then_delivers():
    """When `bidmail deliver` cannot write the spool it exits 75: Postfix keeps the message
    (status=deferred), nothing half-written is left, and once the spool is writable again the
    retried delivery lands and the post becomes a project."""
    b, pf = postfix_board()
    tmp = os.path.join(b.spool, "incoming", "tmp")
    try:
        os.chmod(tmp, 0o500)
        r = subprocess.run(["swaks", "--server", "127.0.0.1", "--port", str(pf.port),
                            "--from", "jeanne@client.fr", "--to", "post@example.org",
                            "--header", "Subject: Correction d'un roman", "--body", "Relecture.\n",
                            "--silent", "1"], capture_output=True, timeout=60)
        expect(r.returncode == 0, "swaks: %r" % r.stdout[-400:])
        deadline = time.time() + 30
        while time.time() < deadline and "status=deferred" not in pf.log_text():
            time.sleep(0.2)
        expect("status=deferred" in pf.log_text(), "not deferred:\n%s" % pf.log_text()[-2000:])
        expect(b.files("incoming/new") == [] and b.files("incoming/tmp") == [], "half-written files")
        os.chmod(tmp, 0o750)
        pf.flush()
        n = pf.wait_delivered(1, timeout=60)
        expect(n == 1, "not delivered after the retry:\n%s" % pf.log_text()[-2000:])
        b.run("run", "--once")
        expect([p["title"] for p in b.projects()] == ["Correction d'un roman"], "projects: %r" % b.projects())
    finally:
        pf.cleanup()
        b.cleanup()


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


def test_smtp_kill9_during_sending():
    """A sender SIGKILLed at random moments while it delivers 1,500 mails over 4 connections,
    then restarted until the queue is empty: every mail arrives, and a kill resends at most the
    mails that were in flight (one per connection), never the queue."""
    import collections
    rng = random.Random(42)
    sink = Sink().start()
    try:
        b = smtp_board(sink.url(), "smtp_connections = 4\n")
        db = sqlite3.connect(os.path.join(b.dir, "var", "bidmail.db"))
        with db:
            for i in range(1500):
                msg = ("From: bidmail <post@example.org>\r\nTo: <f%d@example.net>\r\n"
                       "Subject: n%d\r\nMessage-ID: <k%d@example.org>\r\n\r\nbody %d\r\n" % (i, i, i, i))
                db.execute("INSERT INTO outbox(id, kind, rcpt, sender, subject, token, created) VALUES"
                           "(?, 'test', ?, 'bounce@example.org', ?, ?, '2026-03-02T08:00:00Z')",
                           (i + 1, "f%d@example.net" % i, "n%d" % i, "%032x" % i))
                db.execute("INSERT INTO outbox_message(id, message) VALUES(?, ?)", (i + 1, msg.encode()))
        db.close()
        kills = 0
        env = dict(os.environ, BIDMAIL_NOW="2026-03-02T08:00:00Z")
        for _ in range(50):
            if all(o["state"] == "sent" for o in b.outbox()):
                break
            d = subprocess.Popen([BIDMAIL, "--config", b.conf, "send", "--once"], env=env,
                                 stderr=subprocess.DEVNULL, cwd=b.dir)
            time.sleep(rng.uniform(0.005, 0.04))
            if d.poll() is None:
                d.kill()
                kills += 1
            d.wait()
        b.run("send", "--once", env={"BIDMAIL_NOW": "2026-03-02T08:00:00Z"})
        print("     (%d SIGKILLs while sending)" % kills)
        ob = b.outbox()
        expect(all(o["state"] == "sent" for o in ob), "not all sent: %r" % collections.Counter(o["state"] for o in ob))
        ids = collections.Counter()
        for env_, raw in sink.messages():
            m = email.message_from_bytes(raw, policy=email.policy.default)
            ids[m["Message-ID"]] += 1
        expect(len(ids) == 1500, "distinct mails received: %d" % len(ids))
        expect(kills >= 3, "too few kills mid-sending to prove anything: %d" % kills)
        doubles = sum(c - 1 for c in ids.values())
        expect(doubles <= 4 * kills, "%d resends for %d kills" % (doubles, kills))
    finally:
        sink.cleanup()


def test_digest_run_kill9_sends_each_selection_once():
    """A digest run for 1,500 subscribers SIGKILLed at random moments, then run again until
    done: every subscriber gets exactly one selection for the week (the claim and the queued
    mail commit together), and the file transport writes each one once."""
    import collections
    rng = random.Random(7)
    b = Board().init()
    publish(b, post_mail(subject="Traduction juridique", body="Traduction FR vers EN.\n"),
            env={"BIDMAIL_NOW": "2026-03-04T10:00:00Z"})
    db = sqlite3.connect(os.path.join(b.dir, "var", "bidmail.db"))
    with db:
        for i in range(1500):
            cur = db.execute("INSERT INTO subscribers(address, name, status, language, frequency, day,"
                             " created, confirmed, last_activity) VALUES(?, ?, 'active', 'fr', 'weekly',"
                             " 1, '2026-03-01T00:00:00Z', '2026-03-01T00:00:00Z', '2026-03-01T00:00:00Z')",
                             ("s%d@dev.fr" % i, "S%d" % i))
            db.execute("INSERT INTO patterns(subscriber, kind, source, created) VALUES(?, 'skills',"
                       " 'traduction', '2026-03-01T00:00:00Z')", (cur.lastrowid,))
    db.close()
    env = dict(os.environ, BIDMAIL_NOW="2026-03-09T07:00:00Z")
    kills = 0
    for _ in range(30):
        d = subprocess.Popen([BIDMAIL, "--config", b.conf, "digest", "--at", "2026-03-09T08:00:00+01:00"],
                             env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=b.dir)
        time.sleep(rng.uniform(0.02, 0.3))
        if d.poll() is None:
            d.kill()
            kills += 1
            d.wait()
        else:
            d.wait()
            break
    b.run("digest", "--at", "2026-03-09T08:00:00+01:00", env={"BIDMAIL_NOW": "2026-03-09T07:00:00Z"})
    b.run("send", "--once", env={"BIDMAIL_NOW": "2026-03-09T07:00:00Z"})
    print("     (%d SIGKILLs during the digest run)" % kills)
    expect(kills >= 2, "too few kills mid-run to prove anything: %d" % kills)
    per = collections.Counter()
    for path in b.outgoing():
        m = read_mail(path)[1]
        if m["To"].addresses[0].addr_spec.endswith("@dev.fr") and "Traduction juridique" in m.get_body(("plain",)).get_content():
            per[m["To"].addresses[0].addr_spec] += 1
    expect(len(per) == 1500, "subscribers with a selection: %d" % len(per))
    expect(max(per.values()) == 1, "selections sent twice: %r" % [a for a, n in per.items() if n > 1][:5])


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


def main():
    global BIDMAIL, LABEL
    BIDMAIL = os.path.abspath(sys.argv[1])
    only = sys.argv[sys.argv.index("--only") + 1] if "--only" in sys.argv else ""
    LABEL = sys.argv[sys.argv.index("--label") + 1] if "--label" in sys.argv else ""
    load_test_files()
    tests = [(n, f) for n, f in sorted(globals().items()) if n.startswith("test_") and only in n]
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
    print("%d passed, %d failed" % (passed, failed))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
