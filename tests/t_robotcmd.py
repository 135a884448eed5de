"""t_robotcmd.py — issue #12 item 1, the two command tables: the robot's (robot.c's
command_table: every spelling, what it runs, whether it changes the profile, whether it ends the
commands) and the command line's (main.c's subcommands: every sub-command listed by `bidmail
help`, documented in the README, and refusing bad arguments with exit 2). Exec'd in suite.py's
namespace."""
import email.utils
import re

# Every spelling the robot accepts, with an argument that makes it succeed, and the words of
# the result it gives in French (no punctuation: typography may change, the words do not).
ROBOTCMD_SPELLINGS = [
    ("subscribe", "", "vous êtes abonné"), ("abonner", "", "vous êtes abonné"),
    ("s'abonner", "", "vous êtes abonné"), ("abonnement", "", "vous êtes abonné"),
    ("unsubscribe", "", "vous êtes désabonné"), ("désabonner", "", "vous êtes désabonné"),
    ("desabonner", "", "vous êtes désabonné"), ("désinscrire", "", "vous êtes désabonné"),
    ("skills", "php", "motif ajouté"), ("skill", "java", "motif ajouté"),
    ("compétences", "rust", "motif ajouté"), ("competences", "golang", "motif ajouté"),
    ("compétence", "kotlin", "motif ajouté"), ("exclude", "stage", "exclusion ajoutée"),
    ("exclure", "alternance", "exclusion ajoutée"), ("clear", "exclude", "motifs effacés"),
    ("effacer", "exclude", "motifs effacés"), ("budget-min", "500 EUR", "budget minimum"),
    ("budget", "600", "budget minimum"), ("language", "fr", "vos courriels seront en français"),
    ("langue", "fr", "vos courriels seront en français"), ("languages", "fr en", "projets en"),
    ("langues", "fr", "projets en"), ("frequency", "daily", "fréquence"),
    ("fréquence", "weekly", "fréquence"), ("frequence", "instant", "fréquence"),
    ("day", "lundi", "jour de la sélection enregistré"),
    ("jour", "mardi", "jour de la sélection enregistré"),
    ("remote-only", "", "seulement les projets à distance"),
    ("télétravail", "", "seulement les projets à distance"),
    ("teletravail", "off", "tous les projets, à distance ou non"),
    ("pause", "", "sélections suspendues"), ("resume", "", "sélections reprises"),
    ("reprendre", "", "sélections reprises"), ("profile", "", "votre profil est ci-dessous"),
    ("profil", "", "votre profil est ci-dessous"), ("test", "", "des 4 dernières semaines"),
    ("help", "", "aide est ci-dessous"), ("aide", "", "aide est ci-dessous"),
]
# Written as people write them: capitals, a colon, a trailing comma, point or bang.
ROBOTCMD_VARIANTS = [
    ("SKILLS", "scala", "motif ajouté"), ("Skills:", "elixir", "motif ajouté"),
    ("Profil,", "", "votre profil est ci-dessous"), ("Aide!", "", "aide est ci-dessous"),
    ("Désabonner.", "", "vous êtes désabonné"), ("Budget :", "700", "budget minimum"),
]
ROBOTCMD_READS = ["profile", "profil", "help", "aide", "test", "bonjour"]
ROBOTCMD_CHANGES = ["subscribe", "unsubscribe", "skills php", "exclude stage", "clear skills",
                    "budget-min 500", "language en", "languages fr", "frequency daily",
                    "day lundi", "remote-only", "pause", "resume"]


def robotcmd_board():
    """A board with Alice subscribed (French); returns it and her signed command address."""
    b = Board().init()
    subscribe(b, "alice@free.fr", "Alice Martin", "")
    addr = email.utils.parseaddr(str(last_mail(b, "alice@free.fr")["Reply-To"]))[1]
    if not addr.startswith("robot+s-"):
        raise Failure("welcome Reply-To %r" % addr)
    return b, addr


def robotcmd_send(b, addr, lines, sender="Alice Martin <alice@free.fr>", env=None):
    """Sends the lines to the address as one mail and returns the plain text of the answer."""
    before = len(b.outgoing())
    b.deliver(robot_mail("\n".join(lines) + "\n", sender=sender, to=addr), recipient=addr,
              sender=email.utils.parseaddr(sender)[1])
    b.run("run", "--once", env=env)
    new = b.outgoing()[before:]
    expect(len(new) == 1, "%d answers to %r" % (len(new), lines))
    return read_mail(new[0])[1]


def robotcmd_transcript(text):
    """The transcript of an answer as [(command, result)]: `  > command` then `    result`."""
    out, lines = [], text.splitlines()
    for i, l in enumerate(lines):
        if l.startswith("  > ") and i + 1 < len(lines):
            out.append((l[4:], lines[i + 1].strip()))
    return out


def test_robotcmd_every_spelling_runs_its_command():
    """Every spelling of every robot command (French and English, with or without accents, in
    capitals, followed by a colon or a punctuation mark) is read as that command: each line of
    the transcript gives the result of that command, none is `commande inconnue`."""
    b, addr = robotcmd_board()
    try:
        for chunk in (ROBOTCMD_SPELLINGS, ROBOTCMD_VARIANTS):
            lines = [("%s %s" % (w, a)).strip() for w, a, _ in chunk] + ["reprendre"]
            text = robotcmd_send(b, addr, lines).get_body(("plain",)).get_content()
            got = robotcmd_transcript(text)
            expect(len(got) == len(lines), "%d transcript lines for %d commands: %r"
                   % (len(got), len(lines), text[-2000:]))
            for (line, (cmd, res)), (w, _, want) in zip(zip(lines, got), chunk):
                expect(cmd == line, "transcript line %r for %r" % (cmd, line))
                expect(want in res and "inconnue" not in res, "`%s` gave %r" % (line, res))
        sub = subscribers(b)["alice@free.fr"]
        expect(sub["status"] == "active", "the closing `reprendre` not applied: %r" % sub["status"])
        expect(sub["patterns"] == ["php", "java", "rust", "golang", "kotlin", "scala", "elixir"]
               and sub["excludes"] == [], "patterns %r excludes %r" % (sub["patterns"], sub["excludes"]))
        expect(sub["budget_min"] == 700 and sub["remote_only"] in (False, 0),
               "budget %r remote %r" % (sub["budget_min"], sub["remote_only"]))
    finally:
        b.cleanup()


def test_robotcmd_help_lists_only_accepted_commands():
    """Every command word the robot's help (French and English) and its unknown-command answer
    name is accepted: sent alone, none is answered as unknown."""
    b, addr = robotcmd_board()
    try:
        words = set()
        for lang in ("fr", "en"):
            m = robotcmd_send(b, addr, ["language %s" % lang, "help", "frobnicate"])
            text = m.get_body(("plain",)).get_content()
            start = text.lower().find("commands, one a line" if lang == "en" else "les commandes, une par ligne")
            expect(start >= 0, "no help in the %s answer: %r" % (lang, text))
            for l in text[start:].splitlines()[1:]:
                col = re.match(r"  (\S.*?)\s{2,}\S", l)
                if col:
                    words.update(part.split()[0] for part in col.group(1).split(" / "))
            unknown = [r for c, r in robotcmd_transcript(text) if c == "frobnicate"]
            expect(len(unknown) == 1, "no answer to frobnicate: %r" % text)
            listed = re.search(r"(?:les commandes sont|the commands are) (.*?) \(", unknown[0])
            expect(listed, "no command list in %r" % unknown[0])
            words.update(w.strip() for w in listed.group(1).split(","))
        expect(len(words) >= 15, "command words found: %r" % sorted(words))
        args = {"skills": "php", "exclude": "stage", "clear": "skills", "budget-min": "500",
                "frequency": "daily", "day": "lundi", "language": "fr", "languages": "fr"}
        lines = [("%s %s" % (w, args.get(w, ""))).strip() for w in sorted(words)
                 if w not in ("unsubscribe", "pause")] + ["pause", "resume", "unsubscribe"]
        got = robotcmd_transcript(robotcmd_send(b, addr, lines).get_body(("plain",)).get_content())
        expect(len(got) == len(lines), "transcript %r for %r" % (got, lines))
        bad = [(c, r) for c, r in got if "inconnue" in r or "unknown" in r]
        expect(not bad, "help words answered as unknown: %r" % bad)
    finally:
        b.cleanup()


def test_robotcmd_greeting_silent_thanks_ends():
    """A greeting line (Bonjour, Hello, Hi...) gets no transcript line; a thanks line (merci,
    thanks) ends the commands: the lines below it are not read."""
    b, addr = robotcmd_board()
    try:
        text = robotcmd_send(b, addr, ["Bonjour,", "Hello", "skills php", "Merci,", "skills java",
                                       "pause"]).get_body(("plain",)).get_content()
        got = robotcmd_transcript(text)
        expect([c for c, _ in got] == ["skills php"], "transcript %r" % got)
        sub = subscribers(b)["alice@free.fr"]
        expect(sub["patterns"] == ["php"] and sub["status"] == "active", "profile %r" % sub)
        text = robotcmd_send(b, addr, ["thanks", "pause"]).get_body(("plain",)).get_content()
        # nothing read: the one line says so, and the help follows (issue 13, item 7)
        got = robotcmd_transcript(text)
        expect(len(got) == 1 and "no command" in got[0][1] and "== How to bid ==" in text,
               "lines after `thanks` read, or the empty answer not said: %r" % text)
        expect(subscribers(b)["alice@free.fr"]["status"] == "active", "`pause` after thanks applied")
    finally:
        b.cleanup()


def test_robotcmd_reading_commands_answered_changes_confirmed():
    """From the plain robot address (the From proves nothing), each command that only reads
    (profile, help, test, a greeting) is answered at once, and each command that changes the
    profile asks for a confirmation instead (one request a day: one day apart here)."""
    b = Board().init()
    try:
        day = 2
        subscribe(b, "alice@free.fr", "Alice Martin", "", env={"BIDMAIL_NOW": "2026-03-01T10:00:00Z"})
        for line in ROBOTCMD_READS + ROBOTCMD_CHANGES:
            day += 1
            env = {"BIDMAIL_NOW": "2026-03-%02dT10:00:00Z" % day}
            m = robotcmd_send(b, "robot@example.org", [line], env=env)
            subject = str(m["Subject"])
            if line in ROBOTCMD_READS:
                expect(subject.startswith(("Réponse de", "Reply from")),
                       "`%s` not answered at once: %r" % (line, subject))
            else:
                expect(subject.startswith(("Confirmez", "Please confirm")),
                       "`%s` not confirmed first: %r" % (line, subject))
        sub = subscribers(b)["alice@free.fr"]
        expect(sub["status"] == "active" and sub["patterns"] == [] and sub["frequency"] == "weekly",
               "a change applied without confirmation: %r" % sub)
    finally:
        b.cleanup()


def robotcmd_help_commands(b):
    text = b.run("help").stdout.decode()
    return [l.split()[0] for l in text.splitlines() if l.startswith("  ") and l[2:3].isalpha()]


def test_robotcmd_help_lists_every_subcommand():
    """`bidmail help` (and --help) lists the sub-commands of the README's command table plus
    `version`, each once; `bidmail` alone or an unknown sub-command prints the same list on
    stderr and exits 2 without reading the configuration."""
    b = Board()
    try:
        listed = robotcmd_help_commands(b)
        readme = open(os.path.join(ROOT, "README.md")).read()
        table = readme[readme.index("## Command line"):]
        table = table[:table.index("\n\n", table.index("| command |"))]
        documented = re.findall(r"^\| `([a-z-]+)", table, re.M)
        expect(len(documented) >= 20, "README commands %r" % documented)
        expect(sorted(listed) == sorted(set(documented) | {"version"}) and len(set(listed)) == len(listed),
               "help lists %r, the README %r" % (listed, documented))
        expect(b.run("--help").stdout == b.run("help").stdout, "--help differs from help")
        expect(b.run("--version").stdout == b.run("version").stdout, "--version differs from version")
        with open(b.conf, "a") as f:
            f.write("no_such_key = 1\n")  # an unknown sub-command does not get that far
        for args in ([], ["no-such-command"], ["Init"]):
            p = subprocess.run([BIDMAIL, "--config", b.conf] + args, capture_output=True, timeout=30)
            expect(p.returncode == 2, "`bidmail %s` exited %d" % (" ".join(args), p.returncode))
            expect(p.stderr == b.run("help").stdout, "`bidmail %s` stderr %r" % (" ".join(args), p.stderr[:200]))
    finally:
        b.cleanup()


def test_robotcmd_each_subcommand_refuses_bad_arguments():
    """Every listed sub-command that takes arguments refuses wrong ones with the usage on stderr
    and exit 2 (deliver, run by an MTA, with 75); init, check-config and version take none and
    ignore any."""
    b = Board().init()
    try:
        bad = {"match": [], "bids": ["1", "--json", "x"], "moderate": ["approve"]}
        no_args = {"init", "check-config", "version"}
        listed = robotcmd_help_commands(b)
        usage = b.run("help").stdout
        for cmd in listed:
            args = [cmd] + bad.get(cmd, ["--no-such-flag"])
            p = b.run(*args, check=False, timeout=30)
            if cmd in no_args:
                expect(p.returncode == 0, "`bidmail %s` exited %d" % (" ".join(args), p.returncode))
            elif cmd == "deliver":
                expect(p.returncode == 75, "`bidmail deliver --no-such-flag` exited %d" % p.returncode)
            else:
                expect(p.returncode == 2 and p.stderr == usage,
                       "`bidmail %s` exited %d: %r" % (" ".join(args), p.returncode, p.stderr[-300:]))
        expect(no_args < set(listed) and "deliver" in listed, "listed %r" % listed)
    finally:
        b.cleanup()


def test_robotcmd_daemon_reloads_the_file_read_each_time():
    """`run` started with a relative --config reloads that file on every SIGHUP, not only the
    first (the daemon keeps its own copy of the path: a reload frees the old configuration)."""
    b = Board("poll_interval = 30\n")
    b.init()
    base = open(b.conf).read()
    log = open(os.path.join(b.dir, "daemon.log"), "wb")
    d = subprocess.Popen([BIDMAIL, "--config", "bidmail.conf", "run"], stderr=log, cwd=b.dir)
    try:
        for _ in range(100):
            if b"result=started" in open(log.name, "rb").read():
                break
            time.sleep(0.1)
        for n, name in enumerate(("Bourse Une", "Bourse Deux", "Bourse Trois"), 1):
            with open(b.conf, "w") as f:
                f.write(base + "board_name = %s\n" % name)
            d.send_signal(signal.SIGHUP)
            for _ in range(100):
                if open(log.name, "rb").read().count(b"result=reloaded") >= n or d.poll() is not None:
                    break
                time.sleep(0.1)
            err = open(log.name, "rb").read().decode("utf-8", "replace")
            expect(err.count("result=reloaded") == n and "Sanitizer" not in err,
                   "reload %d: %s" % (n, err[-2000:]))
            before = len(b.outgoing())
            b.deliver(post_mail(subject="Après rechargement %d" % n,
                                sender="Client %d <client%d@client.fr>" % (n, n)))
            for _ in range(100):
                if len(b.outgoing()) > before:
                    break
                time.sleep(0.1)
            expect(len(b.outgoing()) > before, "nothing sent after reload %d" % n)
            m = read_mail(b.outgoing()[-1])[1]
            expect(name in str(m["From"]), "From %r after reload %d" % (m["From"], n))
    finally:
        d.send_signal(signal.SIGTERM)
        try:
            d.wait(timeout=10)
        except subprocess.TimeoutExpired:
            d.kill()
            d.wait()
        log.close()
        b.cleanup()
