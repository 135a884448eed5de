"""board.py — the test board shared by suite.py, cases.py, tests/e2e/*.py and tests/t_*.py:
a gateway in a temporary folder with its own config (Board), driven through the real binary,
and the helpers that write mail as clients write it (post_mail, robot_mail, reply_to) and read
what the board sent (read_mail, last_mail, subscribers). BIDMAIL is set by the runner.
Every Board is recorded; cleanup_boards() removes those of the test that just ran (kept when
BIDMAIL_TEST_KEEP is set, to look at a failure).
"""
import email, email.contentmanager, email.policy, email.utils, glob, json, os, shutil, socket, subprocess, sys, tempfile, time

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)
from sink import Sink, free_port  # noqa: E402,F401
ROOT = os.path.dirname(HERE)
CORPUS = os.path.join(os.path.dirname(ROOT), "shared", "corpus")
BIDMAIL = None
LABEL = ""
BOARDS = []


def log_file(path):
    """A new, empty file for a daemon's stderr, opened for appending (O_APPEND) and reading:
    the daemon shares the open file (and its offset), and reading it back seeks; appending
    keeps each line the daemon writes at the end whatever the reader did."""
    open(path, "w").close()
    return open(path, "a+", encoding="utf-8", errors="replace")


def cleanup_boards():
    """Removes the folder of every Board made since the last call, unless BIDMAIL_TEST_KEEP."""
    while BOARDS:
        b = BOARDS.pop()
        if not os.environ.get("BIDMAIL_TEST_KEEP"):
            b.cleanup()


class Failure(Exception):
    pass


def expect(cond, why):
    if not cond:
        raise Failure(why)


class Board:
    """A gateway in a temporary folder, with its own config."""

    def __init__(self, extra="", database=None):
        """database: a `database` value (e.g. a postgresql:// URL) written before extra."""
        self.dir = tempfile.mkdtemp(prefix="bidmail-test-")
        self.conf = os.path.join(self.dir, "bidmail.conf")
        self.database = database
        with open(self.conf, "w") as f:
            f.write("templates = %s/mail-templates\n" % ROOT)
            if database:
                f.write("database = %s\n" % database)
            f.write(extra)
        self.spool = os.path.join(self.dir, "spool")
        BOARDS.append(self)

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


class _SpaceFoldingPolicy(email.policy.EmailPolicy):
    """The default policy, with the same folding of no-break spaces in decoded headers (the
    Subject of a French template carries U+00A0 before ':')."""

    def header_fetch_parse(self, name, value):
        h = super().header_fetch_parse(name, value)
        text = str(h)
        if "\u00a0" not in text and "\u202f" not in text:
            return h
        return self.header_factory(name, text.replace("\u00a0", " ").replace("\u202f", " "))


FOLDING_POLICY = _SpaceFoldingPolicy(content_manager=_SpaceFoldingContent())


def read_mail(path):
    """The raw bytes of an outgoing mail and its parsed message, whose parts' get_content()
    and decoded headers read no-break spaces as plain ones."""
    with open(path, "rb") as f:
        raw = f.read()
    return raw, email.message_from_bytes(raw, policy=FOLDING_POLICY)


# ------------------------------------------------------------------ the robot

def robot_mail(body, sender="Alice Martin <alice@free.fr>", to="robot@example.org", subject="robot",
               extra="", msgid=None):
    msgid = msgid or "<%s@free.fr>" % os.urandom(6).hex()
    return ("From: %s\nTo: %s\nSubject: %s\nMessage-ID: %s\nDate: Mon, 2 Mar 2026 09:00:00 +0100\n"
            "Content-Type: text/plain; charset=utf-8\n%s\n%s" % (sender, to, subject, msgid, extra, body))


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


def subscribe(b, address, name, commands, env=None):
    """Subscribes by mail and confirms by replying, as a person would."""
    import email.utils
    deliver_robot(b, robot_mail("subscribe %s\n%s\n" % (name, commands), sender="%s <%s>" % (name, address)))
    b.run("run", "--once", env=env)
    conf = last_mail(b, address)
    raw, addr = reply_to(conf, "ok", sender="%s <%s>" % (name, address))
    b.deliver(raw, recipient=addr, sender=address)
    b.run("run", "--once", env=env)


# ------------------------------------------------------------------ SMTP (smtp-sink)

def smtp_board(sink_url, extra=""):
    return Board("smarthost = %s\nretry_base = 60s\n%s" % (sink_url, extra)).init()


# ---------------------------------------------------------------- LMTP

def lmtp_server(b, port):
    p = subprocess.Popen([BIDMAIL, "--config", b.conf, "lmtp", "--listen", "127.0.0.1:%d" % port],
                         cwd=b.dir, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if not wait_port(port):
        p.kill()
        raise Failure("bidmail lmtp did not listen: %s" % p.communicate(timeout=10)[1].decode()[-800:])
    return p


