# Storage seam (issue #12, item 5, second part): the `database` value as a URL-like value whose
# plain path keeps working, and list functions that read in pages instead of truncating.
# exec'd in suite.py's namespace (Board, expect, post_mail, publish, ...).


def store5_db(b, rel="var/bidmail.db"):
    return sqlite3.connect(os.path.join(b.dir, rel))


def test_store5_database_value_forms():
    """`database` as PATH, sqlite:PATH (relative to the config's folder) and
    sqlite:///ABSOLUTE/PATH: init creates the file (and its folder) there, and a post goes
    through ingest into it."""
    for form in ("plain", "relative", "absolute"):
        b = Board()
        try:
            where = os.path.join(b.dir, "data", form, "board.db")
            value = {"plain": "data/plain/board.db", "relative": "sqlite:data/relative/board.db",
                     "absolute": "sqlite://" + where}[form]
            with open(b.conf, "a") as f:
                f.write("database = %s\n" % value)
            out = b.run("init").stdout.decode()
            expect(os.path.exists(where), "%s: no database at %s (init said %r)" % (form, where, out))
            expect(not os.path.exists(os.path.join(b.dir, "var", "bidmail.db")),
                   "%s: a database at the default place too" % form)
            publish(b, post_mail(subject="Traduction %s" % form))
            got = [p["title"] for p in b.projects()]
            expect(got == ["Traduction %s" % form], "%s: projects %r" % (form, got))
            db = sqlite3.connect(where)
            n = db.execute("SELECT count(*) FROM projects").fetchone()[0]
            db.close()
            expect(n == 1, "%s: %d projects in the file" % (form, n))
        finally:
            b.cleanup()


def test_store5_database_values_checked_at_start():
    """A `database` value that cannot be used is refused before anything is created, with a
    clear error: an unknown scheme, a SQLite URL with a host, and a PostgreSQL URL whose server
    does not answer (127.0.0.1 on a free port: no traffic leaves the machine) — that one names
    the database and says it could not be opened, exit non-zero."""
    port = free_port()
    for value, want in (("mysql://127.0.0.1/bidmail", "unknown scheme"),
                        ("sqlite://host/bidmail.db", "sqlite:///ABSOLUTE/PATH"),
                        ("postgresql://bidmail@127.0.0.1:%d/bidmail?connect_timeout=2" % port,
                         "cannot open"),
                        ("postgres://127.0.0.1:%d/bidmail?connect_timeout=2" % port,
                         "cannot open")):
        b = Board("database = %s\n" % value)
        try:
            cmds = (["init"], ["projects", "--json"]) if "postgres" in value else \
                (["init"], ["projects", "--json"], ["run", "--once"])
            for cmd in cmds:
                p = b.run(*cmd, check=False, timeout=30)
                err = p.stderr.decode("utf-8", "replace")
                expect(p.returncode != 0, "%s: `%s` exited 0" % (value, " ".join(cmd)))
                expect(want in err and "init` first" not in err,
                       "%s: `%s` said %r" % (value, " ".join(cmd), err[-500:]))
            expect(not os.path.exists(os.path.join(b.dir, "var")),
                   "%s: init created %r" % (value, os.listdir(b.dir)))
        finally:
            b.cleanup()


def test_store5_long_lists_are_complete():
    """Lists longer than a page (and than the 4,096 slots bids were once copied into) come back
    whole, in id order: 5,000 bids on one project (`bids --json`), 1,100 subscribers, 1,100
    projects and 1,100 outbox rows, inserted straight into the database."""
    b = Board().init()
    try:
        db = store5_db(b)
        with db:
            db.executemany("INSERT INTO projects(id, title, description, poster, language, status,"
                           " created, updated, published) VALUES(?, ?, 'd', 'c@example.net', 'fr',"
                           " 'open', '2026-03-02T08:00:00Z', '2026-03-02T08:00:00Z',"
                           " '2026-03-02T08:00:00Z')",
                           [(1001 + i, "p%d" % i) for i in range(1100)])
            db.executemany("INSERT INTO subscribers(id, address, created, status) VALUES(?, ?,"
                           " '2026-03-02T08:00:00Z', 'active')",
                           [(i + 1, "f%d@example.net" % i) for i in range(1100)])
            db.executemany("INSERT INTO bids(id, project, subscriber, address, amount, currency,"
                           " status, created) VALUES(?, 1001, ?, ?, ?, 'EUR', 'active',"
                           " '2026-03-02T08:00:00Z')",
                           [(i + 1, i % 1100 + 1, "f%d@example.net" % (i % 1100), 100 + i)
                            for i in range(5000)])
            db.executemany("INSERT INTO outbox(id, kind, rcpt, sender, subject, token, created)"
                           " VALUES(?, 'test', ?, 'bounce@example.org', 's', ?,"
                           " '2026-03-02T08:00:00Z')",
                           [(i + 1, "f%d@example.net" % i, "%032x" % i) for i in range(1100)])
            db.executemany("INSERT INTO outbox_message(id, message) VALUES(?, x'41')",
                           [(i + 1,) for i in range(1100)])
        db.close()
        bids = json.loads(b.run("bids", "1001", "--json").stdout)
        expect([x["id"] for x in bids] == list(range(1, 5001)),
               "bids: %d listed, first %r, last %r" % (len(bids), bids[:1], bids[-1:]))
        subs = json.loads(b.run("subscribers", "--json").stdout)
        expect([x["id"] for x in subs] == list(range(1, 1101)), "subscribers: %d listed" % len(subs))
        projects = b.projects()
        expect([x["id"] for x in projects] == list(range(1001, 2101)),
               "projects: %d listed" % len(projects))
        ob = b.outbox()
        expect([x["id"] for x in ob] == list(range(1, 1101)), "outbox: %d listed" % len(ob))
    finally:
        b.cleanup()
