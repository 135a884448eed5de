"""t_small.py — issue #11, the smaller items: subscriber rows written column by column and
conditioned on the state read (16), quoted-printable never leaving a '.' at column 0 (19),
LMTP and HTTP limits per client and in total time (20), exact digest windows (21), address
masking and bidirectional controls (22). Exec'd in suite.py's namespace."""


def small_db(b):
    return os.path.join(b.dir, "var", "bidmail.db")


def small_digest_mails(b, before, address):
    out = []
    for path in b.outgoing()[before:]:
        m = read_mail(path)[1]
        if m["To"].addresses[0].addr_spec == address:
            out.append(m)
    return out


def test_small_unsubscribe_during_digest_wins():
    """An unsubscribe committed while a digest pass has the subscriber row loaded (here by
    another process holding the write lock) stays: no selection goes and the status is not
    written back to `active` (the old whole-row write-back undid it)."""
    b = Board().init()
    env0 = {"BIDMAIL_NOW": "2026-03-04T10:00:00Z"}
    subscribe(b, "leo@dev.fr", "Léo", "skills symfony", env=env0)
    publish(b, post_mail(subject="Refonte Symfony", body="Site en Symfony 6.\n"),
            env={"BIDMAIL_NOW": "2026-03-05T09:00:00Z"})
    expect(subscribers(b)["leo@dev.fr"]["status"] == "active", "not active after subscribing")
    before = len(b.outgoing())
    db = sqlite3.connect(small_db(b), isolation_level=None, timeout=30)
    p = None
    try:
        # the other writer: an unsubscribe in a transaction the digest pass cannot see yet
        db.execute("BEGIN IMMEDIATE")
        db.execute("UPDATE subscribers SET status = 'unsubscribed' WHERE address = 'leo@dev.fr'")
        e = dict(os.environ)
        e["BIDMAIL_NOW"] = "2026-03-09T07:00:00Z"
        p = subprocess.Popen([BIDMAIL, "--config", b.conf, "digest", "--at", "2026-03-09T07:00:00Z"],
                             cwd=b.dir, env=e, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        time.sleep(2.5)  # the pass loads the rows (WAL: the old ones) and waits for the lock
        expect(p.poll() is None, "the digest pass did not wait for the write lock")
        db.execute("COMMIT")
        out, err = p.communicate(timeout=60)
        expect(p.returncode == 0, "digest exited %d: %s" % (p.returncode, err.decode()[-500:]))
    finally:
        if p and p.poll() is None:
            p.kill()
            p.communicate(timeout=20)
        db.close()
    expect(subscribers(b)["leo@dev.fr"]["status"] == "unsubscribed",
           "the unsubscribe was undone: %r" % subscribers(b)["leo@dev.fr"]["status"])
    expect(not small_digest_mails(b, before, "leo@dev.fr"), "a selection went to an unsubscribed address")
    rows = [r for r in b.outbox() if r.get("kind") == "digest"]
    expect(not rows, "a digest row was queued: %r" % rows[:2])
