"""t_runtime.py — one runtime (issue 12, item 4): the configuration, the data files
(skills.txt, scam-rules.txt, locations.txt), the secret key and the templates are read whole
and swapped whole on SIGHUP, a bad one refused with the old one kept; the time zone is set
once at start. The scenario test drives every thread of the daemon at once (ingest prefetch
and watchdog, fetch, LMTP, HTTP, SMTP connections) while it digests and reloads: run it on
the ThreadSanitizer build (`make tsan`), `python3 tests/suite.py ./build-tsan/bidmail --only
runtime_`, where any report fails it. Exec'd in suite.py's namespace (Board, expect...; the
scenario's IMAP server is FakeImap/HostileServer of t_hostile_mailbox.py, loaded before)."""
import email.utils
import smtplib as _smtplib
import threading as _rt_threading
import urllib.error as _urlerror
import urllib.request as _urlrequest

RT_DAEMON_STOP_S = 60      # the TSan build is slow to stop: SIGTERM must end it within this


def runtime_board(extra=""):
    """A board with its own copy of the data files (data_dir) and a template_override folder,
    so a test can change both under a running daemon."""
    b = Board()
    data = os.path.join(b.dir, "data")
    os.makedirs(data)
    for name in sorted(os.path.basename(p) for p in glob.glob(os.path.join(ROOT, "contrib", "*.txt"))):
        shutil.copy(os.path.join(ROOT, "contrib", name), data)
    override = os.path.join(b.dir, "override")
    os.makedirs(os.path.join(override, "fr"))
    os.makedirs(os.path.join(override, "en"))
    with open(b.conf, "a") as f:
        f.write("data_dir = %s\ntemplate_override = %s\n%s" % (data, override, extra))
    b.data, b.override = data, override
    return b.init()


class RuntimeDaemon:
    """`bidmail run` on a board, its stderr in a file read while it runs."""

    def __init__(self, b, env=None):
        self.b = b
        # appended to (O_APPEND): the daemon shares this file's offset, which logged() moves
        self.log = log_file(os.path.join(b.dir, "daemon.log"))
        e = dict(os.environ)
        e.update(env or {})
        self.p = subprocess.Popen([BIDMAIL, "--config", b.conf, "run"], stderr=self.log,
                                  cwd=b.dir, env=e)
        self.rc = None
        # signals before the handlers are installed would end it
        expect(self.wait_for(lambda: "stage=daemon result=started" in self.logged(), 60),
               "the daemon did not start: %s" % self.logged()[-1500:])

    def logged(self):
        self.log.seek(0)
        return self.log.read()

    def wait_for(self, cond, seconds):
        end = time.time() + seconds
        while time.time() < end and not cond():
            if self.p.poll() is not None:
                break
            time.sleep(0.05)
        return cond()

    def reload(self, seconds=20):
        """SIGHUP, then waits for the reload's outcome; returns 'reloaded' or 'refused'."""
        def outcomes():
            t = self.logged()
            return t.count("result=reloaded") + t.count("reload refused")
        before = outcomes()
        self.p.send_signal(signal.SIGHUP)
        expect(self.wait_for(lambda: outcomes() > before, seconds),
               "SIGHUP not handled within %d s: %s" % (seconds, self.logged()[-1500:]))
        last = self.logged()
        return "refused" if last.rfind("reload refused") > last.rfind("result=reloaded") else "reloaded"

    def stop(self):
        """SIGTERM; the daemon's whole stderr, checked for sanitizer reports."""
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.rc = self.p.wait(timeout=RT_DAEMON_STOP_S)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
                raise Failure("the daemon ignored SIGTERM for %d s" % RT_DAEMON_STOP_S)
        else:
            self.rc = self.p.returncode
        err = self.logged()
        self.log.close()
        expect("Sanitizer" not in err and "runtime error:" not in err,
               "sanitizer report from the daemon:\n%s" % err[-6000:])
        expect(self.rc == 0, "daemon exit %r: %s" % (self.rc, err[-1500:]))
        return err


def rt_project(b, title):
    got = [p for p in b.projects() if p["title"] == title]
    return got[0] if got else None


def rt_wait_project(d, title, seconds=20):
    expect(d.wait_for(lambda: rt_project(d.b, title) is not None, seconds),
           "project %r not stored within %d s: %s" % (title, seconds, d.logged()[-1500:]))
    return rt_project(d.b, title)


def test_runtime_sighup_reloads_skills_file():
    """A skill added to data_dir/skills.txt is extracted from the posts that follow a SIGHUP
    (the daemon read its data files at start only)."""
    b = runtime_board("poll_interval = 30\n")
    d = RuntimeDaemon(b)
    try:
        b.deliver(post_mail(subject="Avant le rechargement", body="Un site en zorblang.\n",
                            sender="a@client.fr"))
        expect("zorblang" not in rt_wait_project(d, "Avant le rechargement")["skills"],
               "zorblang is not a skill yet")
        with open(os.path.join(b.data, "skills.txt"), "a") as f:
            f.write("zorblang | zorb\n")
        expect(d.reload() == "reloaded", "reload refused: %s" % d.logged()[-1500:])
        b.deliver(post_mail(subject="Après le rechargement", body="Un site en zorblang.\n",
                            sender="b@client.fr"))
        skills = rt_wait_project(d, "Après le rechargement")["skills"]
        expect("zorblang" in skills, "the new skill was not extracted: %r" % skills)
    finally:
        d.stop()


def test_runtime_sighup_reloads_scam_rules():
    """A rule added to data_dir/scam-rules.txt holds the posts that follow a SIGHUP as
    suspected scams."""
    b = runtime_board("poll_interval = 30\n")
    d = RuntimeDaemon(b)
    body = "Traduction d'un site, paiement en coquillages dorés.\n"
    try:
        b.deliver(post_mail(subject="Coquillages avant", body=body, sender="a@client.fr"))
        expect("suspected_scam" not in rt_wait_project(d, "Coquillages avant")["flags"],
               "flagged before the rule exists")
        with open(os.path.join(b.data, "scam-rules.txt"), "a") as f:
            f.write("50 | coquillages dorés\n")
        expect(d.reload() == "reloaded", "reload refused: %s" % d.logged()[-1500:])
        b.deliver(post_mail(subject="Coquillages après", body=body, sender="b@client.fr"))
        flags = rt_wait_project(d, "Coquillages après")["flags"]
        expect("suspected_scam" in flags, "the new rule did not apply: %r" % flags)
    finally:
        d.stop()


def rt_write_confirm_template(b, marker):
    """A post_confirm template in the override folder (fr), the shipped one with a marker."""
    with open(os.path.join(ROOT, "mail-templates", "fr", "post_confirm.tmpl")) as f:
        src = f.read()
    lines = src.split("\n")
    # the marker as the first line of the text part (after its section line)
    at = next(i for i, l in enumerate(lines) if l.strip().lower().startswith("--- text"))
    lines.insert(at + 1, marker)
    with open(os.path.join(b.override, "fr", "post_confirm.tmpl"), "w") as f:
        f.write("\n".join(lines))


def rt_confirm_text(b, to):
    m = last_mail(b, to)
    return m.get_body(("plain",)).get_content()


def test_runtime_sighup_reloads_templates():
    """A template changed in template_override is used for the mails after a SIGHUP, and not
    before it (templates are read at start and on reload, never behind the reader's back)."""
    b = runtime_board("poll_interval = 30\n")
    rt_write_confirm_template(b, "Version une du gabarit.")
    d = RuntimeDaemon(b)
    try:
        b.deliver(post_mail(subject="Gabarit un", sender="a@client.fr"))
        expect(d.wait_for(lambda: b.outgoing(), 20), "no confirmation request")
        expect("Version une du gabarit." in rt_confirm_text(b, "a@client.fr"), "override not used")
        rt_write_confirm_template(b, "Version deux du gabarit.")
        b.deliver(post_mail(subject="Gabarit deux", sender="b@client.fr"))
        expect(d.wait_for(lambda: len(b.outgoing()) >= 2, 20), "no second confirmation")
        expect("Version une du gabarit." in rt_confirm_text(b, "b@client.fr"),
               "a changed template was read without a reload")
        expect(d.reload() == "reloaded", "reload refused: %s" % d.logged()[-1500:])
        b.deliver(post_mail(subject="Gabarit trois", sender="c@client.fr"))
        expect(d.wait_for(lambda: len(b.outgoing()) >= 3, 20), "no third confirmation")
        expect("Version deux du gabarit." in rt_confirm_text(b, "c@client.fr"),
               "the reloaded template was not used")
    finally:
        d.stop()


def test_runtime_broken_data_file_refused_old_kept():
    """A SIGHUP while skills.txt has a bad line is refused with a log line naming the file and
    line, and nothing of that reload is used: not the config change made with it (board_name)
    nor the skill added in the same file; the old runtime goes on extracting its skills."""
    b = runtime_board("poll_interval = 30\n")
    d = RuntimeDaemon(b)
    try:
        with open(os.path.join(b.data, "skills.txt"), "a") as f:
            f.write("zorblang | zorb\n| |\n")
        with open(b.conf, "a") as f:
            f.write("board_name = Bourse Cassée\n")
        expect(d.reload() == "refused", "a broken skills.txt was accepted")
        err = d.logged()
        expect("skills.txt:" in err and "expected `name | alias" in err,
               "the reason does not name the file and line: %s" % err[-1500:])
        b.deliver(post_mail(subject="Après le refus", body="Un site en php et zorblang.\n",
                            sender="a@client.fr"))
        p = rt_wait_project(d, "Après le refus")
        expect("php" in p["skills"] and "zorblang" not in p["skills"],
               "not the old skills: %r" % p["skills"])
        raw, m = read_mail(b.outgoing()[-1])
        expect("Bourse Cassée" not in str(m["From"]), "the refused config was used: %r" % m["From"])
    finally:
        d.stop()


def test_runtime_broken_template_refused_old_kept():
    """A SIGHUP while a template of template_override is broken (an unknown variable) is
    refused with file:line in the log, and the mails that follow still use the old template
    (the broken one was never read behind the refusal)."""
    b = runtime_board("poll_interval = 30\n")
    rt_write_confirm_template(b, "Version saine du gabarit.")
    d = RuntimeDaemon(b)
    try:
        rt_write_confirm_template(b, "Version cassée {{variable_inconnue}}.")
        expect(d.reload() == "refused", "a broken template was accepted")
        err = d.logged()
        expect("post_confirm.tmpl:" in err, "the reason does not name the template: %s" % err[-1500:])
        b.deliver(post_mail(subject="Gabarit après refus", sender="a@client.fr"))
        expect(d.wait_for(lambda: b.outgoing(), 20), "no confirmation request after the refusal")
        text = rt_confirm_text(b, "a@client.fr")
        expect("Version saine du gabarit." in text and "cassée" not in text,
               "not the old template: %r" % text[:400])
    finally:
        d.stop()


def test_runtime_unreadable_secret_key_refused_old_kept():
    """A SIGHUP while the secret key file is readable by others is refused (the key is part of
    the runtime, read again with the rest), and the board goes on signing with the old key:
    the confirmation address of the next post is accepted when replied to."""
    b = runtime_board("poll_interval = 30\n")
    key = os.path.join(b.dir, "var", "secret.key")
    d = RuntimeDaemon(b)
    try:
        os.chmod(key, 0o644)
        with open(b.conf, "a") as f:
            f.write("board_name = Bourse Refusée\n")
        expect(d.reload() == "refused", "a key readable by others was accepted")
        expect("secret.key: the secret key must not be readable by others" in d.logged(),
               "the reason does not name the key: %s" % d.logged()[-1500:])
        os.chmod(key, 0o600)
        raw = post_mail(subject="Clé gardée", sender="a@client.fr")
        b.deliver(raw)
        expect(d.wait_for(lambda: b.outgoing(), 20), "no confirmation request")
        conf = last_mail(b, "a@client.fr")
        expect("Bourse Refusée" not in str(conf["From"]), "the refused config was used")
        target = email.utils.parseaddr(str(conf["Reply-To"]))[1]
        b.deliver("From: a@client.fr\nTo: %s\nSubject: Re: confirmation\nIn-Reply-To: %s\n"
                  "Message-ID: <k1@client.fr>\n\nOui.\n" % (target, conf["Message-ID"]),
                  recipient=target, sender="a@client.fr")
        expect(d.wait_for(lambda: (rt_project(b, "Clé gardée") or {}).get("status") == "open", 20),
               "the signed confirmation was not accepted: %r" % rt_project(b, "Clé gardée"))
    finally:
        d.stop()


def test_runtime_sighup_moves_the_http_endpoint():
    """A SIGHUP that changes http_listen restarts the daemon's HTTP endpoint on the new
    address (the server copies its settings at start: it kept serving the old one)."""
    old, new = free_port(), free_port()
    b = runtime_board("poll_interval = 30\nhttp_listen = 127.0.0.1:%d\n" % old)
    d = RuntimeDaemon(b)
    try:
        expect(wait_port(old), "not served at start")
        with open(b.conf, "a") as f:
            f.write("http_listen = 127.0.0.1:%d\n" % new)
        expect(d.reload() == "reloaded", "reload refused: %s" % d.logged()[-1500:])
        expect(wait_port(new, 10), "the new address is not served: %s" % d.logged()[-1500:])
        try:
            socket.create_connection(("127.0.0.1", old), timeout=2).close()
            still = True
        except OSError:
            still = False
        expect(not still, "the old address is still served")
    finally:
        d.stop()


def test_runtime_timezone_change_needs_restart():
    """A SIGHUP that changes `timezone` applies the rest of the new config but keeps the time
    zone set at start, with a log line saying a restart is needed (the zone is set once,
    before any thread starts)."""
    b = runtime_board("poll_interval = 30\n")
    d = RuntimeDaemon(b)
    try:
        with open(b.conf, "a") as f:
            f.write("timezone = America/New_York\nboard_name = Bourse Rechargée\n")
        expect(d.reload() == "reloaded", "reload refused: %s" % d.logged()[-1500:])
        err = d.logged()
        expect("timezone change from Europe/Paris to America/New_York needs a restart" in err,
               "no restart line: %s" % err[-1500:])
        b.deliver(post_mail(subject="Après le fuseau", sender="a@client.fr"))
        expect(d.wait_for(lambda: b.outgoing(), 20), "nothing sent")
        raw, m = read_mail(b.outgoing()[-1])
        expect("Bourse Rechargée" in str(m["From"]), "the rest of the reload not applied: %r" % m["From"])
    finally:
        d.stop()


def test_runtime_database_and_spool_change_need_restart():
    """A SIGHUP that changes `database` or `spool` keeps both as they were at start, with a
    line saying a restart is needed, and applies the rest. Bug: the fetcher and the HTTP
    server were restarted on the new database while ingest, digests and sending kept the
    store and the inotify watch opened at start, so one board ran on two databases."""
    b = runtime_board("poll_interval = 30\n")
    d = RuntimeDaemon(b)
    try:
        other = os.path.join(b.dir, "elsewhere")
        with open(b.conf) as f:
            start = f.read()
        with open(b.conf, "a") as f:
            f.write("database = %s/other.db\nspool = %s/spool\nboard_name = Bourse Rechargée\n"
                    % (other, other))
        expect(d.reload() == "reloaded", "reload refused: %s" % d.logged()[-1500:])
        err = d.logged()
        expect("database change from" in err and "spool change from" in err,
               "no restart lines: %s" % err[-1500:])
        # `deliver` reads the file: back to the start spool for it
        with open(b.conf, "w") as f:
            f.write(start)
        b.deliver(post_mail(subject="Après le rechargement", sender="a@client.fr"))
        expect(d.wait_for(lambda: b.outgoing(), 20), "nothing sent")
        raw, m = read_mail(b.outgoing()[-1])
        expect("Bourse Rechargée" in str(m["From"]), "the rest of the reload not applied: %r" % m["From"])
        expect(rt_project(b, "Après le rechargement") is not None, "the post is not in the start database")
        expect(not os.path.exists(os.path.join(other, "other.db")), "a second database was opened")
    finally:
        d.stop()


def test_runtime_environment_written_only_at_start():
    """No source file but clock.c writes the environment (setenv, putenv, unsetenv): the time
    zone is set once by clock_set_zone, before any thread; digest.c set TZ while the fetch,
    LMTP and HTTP threads read the environment and the clock (a data race)."""
    offenders = []
    for path in sorted(glob.glob(os.path.join(ROOT, "src", "*.c"))):
        with open(path, encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                code = line.split("/*")[0]
                if any(w + "(" in code for w in ("setenv", "putenv", "unsetenv", "clearenv")):
                    offenders.append("%s:%d" % (os.path.basename(path), n))
    expect(all(o.startswith("clock.c:") for o in offenders), "environment written in %r" % offenders)
    expect(len(offenders) == 1, "clock.c writes the environment in %d places" % len(offenders))


def rt_unsubscribe_keys(b):
    """The https one-click keys (List-Unsubscribe) of the mails sent so far, by subscriber."""
    keys = {}
    for path in b.outgoing():
        m = read_mail(path)[1]
        lu = str(m["List-Unsubscribe"] or "")
        for u in lu.replace(" ", "").strip("<>").split(">,<"):
            if u.startswith("https://board.example.org/u/"):
                keys[m["To"].addresses[0].addr_spec] = u.rsplit("/", 1)[1]
    return keys


def test_runtime_daemon_threads_race_free_through_reloads():
    """A daemon that digests (weekly, daily and instant subscribers with projects due) while
    its LMTP listener receives posts, its HTTP endpoint serves one-click unsubscribes, its
    fetcher polls an IMAP mailbox and its SMTP connections send to a sink, with SIGHUP
    reloads in the middle (skills.txt and a template changed), does all of it: every mail
    stored, fetched, sent; the reloads used. On the TSan build (make tsan) any data race
    fails it."""
    t0 = {"BIDMAIL_NOW": "2026-03-04T10:00:00Z"}  # a Wednesday
    b = runtime_board("public_url = https://board.example.org/\nauthserv_id = mx.example.org\n")
    people = [("week@dev.fr", "Week", "skills php\n"), ("day@dev.fr", "Day", "skills php\nfrequency daily\n"),
              ("fast@dev.fr", "Fast", "skills php\nfrequency instant\n"),
              ("gone1@dev.fr", "Gone Un", "skills php\n"), ("gone2@dev.fr", "Gone Deux", "skills php\n")]
    for address, name, commands in people:
        subscribe(b, address, name, commands, env=t0)
    for i in range(3):
        publish(b, post_mail(subject="Site PHP %d" % i, body="Un site en php, budget 2 000 €.\n",
                             sender="p%d@client.fr" % i), env={"BIDMAIL_NOW": "2026-03-05T09:00:00Z"})
    keys = rt_unsubscribe_keys(b)
    expect("gone1@dev.fr" in keys and "gone2@dev.fr" in keys, "no one-click keys: %r" % sorted(keys))
    sink = Sink().start()
    imap = FakeImap()
    for i in range(3):
        imap.box[100 + i] = [imap_mail("Boîte %d" % i, "<box%d@client.fr>" % i), False]
    srv = HostileServer(imap, seconds=240)
    lmtp_port, http_port = free_port(), free_port()
    with open(b.conf, "a") as f:
        f.write("smarthost = %s\nlmtp_listen = 127.0.0.1:%d\nhttp_listen = 127.0.0.1:%d\n"
                "fetch_url = imap://board@127.0.0.1:%d/INBOX\nfetch_password = pw\nfetch_tls = no\n"
                "fetch_interval = 1s\npoll_interval = 1\nsmtp_connections = 3\n"
                % (sink.url(), lmtp_port, http_port, srv.port))
    rt_auth = ("Authentication-Results: mx.example.org; dkim=pass header.d=client.fr; "
               "dmarc=pass header.from=client.fr\n")
    # waiting in the spool at start: the first pass takes them through the prefetch thread
    for i in range(4):
        b.deliver(post_mail(subject="En attente %d" % i, body="Un site en php.\n",
                            sender="p%d@client.fr" % (i % 3), extra=rt_auth))
    # Monday 08:30 in Paris: the weekly and daily selections are due
    d = RuntimeDaemon(b, env={"BIDMAIL_NOW": "2026-03-09T07:30:00Z"})
    failures = []

    def lmtp_send(i):
        """One post by LMTP from a known, authenticated poster (published at once: an instant
        alert each), tried again as an MTA does when a reload closed the session."""
        raw = post_mail(subject="Par LMTP %d" % i, body="Un site en php et zorblang.\n",
                        sender="p%d@client.fr" % (i % 3), extra=rt_auth)
        for attempt in range(20):
            try:
                c = _smtplib.LMTP("127.0.0.1", lmtp_port, timeout=30)
                try:
                    c.sendmail("p%d@client.fr" % (i % 3), ["post@example.org"], raw.encode())
                finally:
                    try:
                        c.quit()
                    except _smtplib.SMTPException:
                        pass
                return
            except (OSError, _smtplib.SMTPException):
                time.sleep(0.3)
        raise Failure("LMTP post %d not accepted in 20 attempts" % i)

    def lmtp_client():
        try:
            for i in range(6):
                lmtp_send(i)
                time.sleep(0.3)
        except Exception as e:  # reported by the main thread
            failures.append("lmtp: %r" % e)

    def http_get(url, data=None, want=200):
        """One request, tried again while a reload restarts the server (refused or cut)."""
        for attempt in range(20):
            try:
                with _urlrequest.urlopen(_urlrequest.Request(url, data=data), timeout=30) as r:
                    r.read()
                    code = r.status
            except _urlerror.HTTPError as e:
                code = e.code
            except (OSError, _urlerror.URLError):
                time.sleep(0.3)
                continue
            if code != want:
                raise Failure("%s: HTTP %d, want %d" % (url, code, want))
            return
        raise Failure("%s: no answer in 20 attempts" % url)

    def http_client():
        try:
            base = "http://127.0.0.1:%d/u/" % http_port
            for round_ in range(4):
                for who in ("gone1@dev.fr", "gone2@dev.fr"):
                    http_get(base + keys[who], b"List-Unsubscribe=One-Click" if round_ >= 2 else None)
                http_get(base + "u-1-aaaaaaaaaaaaaaaa", want=404)
                time.sleep(0.3)
        except Exception as e:
            failures.append("http: %r" % e)
    try:
        expect(wait_port(lmtp_port, 60) and wait_port(http_port, 60),
               "the daemon's listeners did not start: %s" % d.logged()[-1500:])
        clients = [_rt_threading.Thread(target=lmtp_client, daemon=True),
                   _rt_threading.Thread(target=http_client, daemon=True)]
        for t in clients:
            t.start()
        # reloads while they run: a data file, a template, then the config alone
        time.sleep(0.5)
        with open(os.path.join(b.data, "skills.txt"), "a") as f:
            f.write("zorblang | zorb\n")
        expect(d.reload(60) == "reloaded", "reload refused: %s" % d.logged()[-1500:])
        imap.box[200] = [imap_mail("Boîte après rechargement", "<box200@client.fr>"), False]
        rt_write_confirm_template(b, "Gabarit rechargé pendant le trafic.")
        expect(d.reload(60) == "reloaded", "reload refused: %s" % d.logged()[-1500:])
        with open(b.conf, "a") as f:
            f.write("board_name = Bourse Rechargée\n")
        expect(d.reload(60) == "reloaded", "reload refused: %s" % d.logged()[-1500:])
        for t in clients:
            t.join(timeout=120)
        expect(not failures, "clients failed: %r" % failures)
        expect(not any(t.is_alive() for t in clients), "a client did not finish in 120 s")
        expect(d.wait_for(lambda: all(imap.box[u][1] for u in imap.box), 60),
               "the mailbox was not fetched: %r" % {u: s for u, (r, s) in imap.box.items()})
        titles = ["Par LMTP %d" % i for i in range(6)] + ["Boîte %d" % i for i in range(3)] + \
                 ["Boîte après rechargement"] + ["En attente %d" % i for i in range(4)]
        expect(d.wait_for(lambda: all(rt_project(b, t) for t in titles), 60),
               "not every mail stored: %r" % sorted(p["title"] for p in b.projects()))
        expect(d.wait_for(lambda: not [o for o in b.outbox() if o.get("status") == "queued"], 60),
               "the outbox was not flushed: %r" % b.outbox()[-3:])
    finally:
        err = None
        try:
            err = d.stop()
        finally:
            srv.stop()
            got = sink.messages()
            sink.stop()
    subs = subscribers(b)
    expect(subs["gone1@dev.fr"]["status"] == "unsubscribed" and
           subs["gone2@dev.fr"]["status"] == "unsubscribed", "one-click POSTs not applied")
    expect(subs["week@dev.fr"]["last_digest"] and subs["day@dev.fr"]["last_digest"],
           "the selections due were not sent: %r" % {a: s["last_digest"] for a, s in subs.items()})
    rcpts = [m["To"].addresses[0].addr_spec for m in
             (email.message_from_bytes(raw, policy=email.policy.default) for env, raw in got)]
    expect("week@dev.fr" in rcpts and "day@dev.fr" in rcpts, "no selection reached the sink: %r" % rcpts)
    later = [p for p in b.projects() if p["title"].startswith("Par LMTP")]
    expect(all(p["status"] == "open" for p in later), "LMTP posts not published: %r" % later)
    # the instant subscriber's alerts, digested while the LMTP, HTTP and fetch threads ran
    expect(rcpts.count("fast@dev.fr") >= 10, "instant alerts: %d" % rcpts.count("fast@dev.fr"))
    expect(any("zorblang" in p["skills"] for p in later), "the reloaded skills.txt was never used")
    expect(err.count("result=reloaded") == 3, "reloads: %d" % err.count("result=reloaded"))
