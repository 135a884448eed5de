# Storage seam (issue #12, item 5): the sent journal lives in the spool; a journal an older
# version left beside the database is folded once, never resent, then removed.
# exec'd in suite.py's namespace (Board, Sink, smtp_board, expect, ...).


def store_queue(b, ids):
    """Queues one plain outbox row per id straight in the database."""
    db = sqlite3.connect(os.path.join(b.dir, "var", "bidmail.db"))
    with db:
        for i in ids:
            msg = ("From: bidmail <post@example.org>\r\nTo: <f%d@example.net>\r\n"
                   "Subject: n%d\r\nMessage-ID: <j%d@example.org>\r\n\r\nbody %d\r\n" % (i, i, i, i))
            db.execute("INSERT INTO outbox(id, kind, rcpt, sender, subject, token, created) VALUES"
                       "(?, 'test', ?, 'bounce@example.org', ?, ?, '2026-03-02T08:00:00Z')",
                       (i, "f%d@example.net" % i, "n%d" % i, "%032x" % i))
            db.execute("INSERT INTO outbox_message(id, message) VALUES(?, ?)", (i, msg.encode()))
    db.close()


def store_received(sink):
    ids = []
    for _, raw in sink.messages():
        m = email.message_from_bytes(raw, policy=email.policy.default)
        ids.append(m["Message-ID"])
    return sorted(ids)


def test_store_old_journal_beside_database_folded_once():
    """A sent journal left beside the database by an older version (a crash after the server
    accepted mails 1 and 2) is folded before sending: 1 and 2 are marked sent and never sent
    again, only 3 goes out; the old file is then removed and the journal is SPOOL/sent-journal.
    While another sender holds the old journal it is folded but kept, and removed later."""
    import fcntl
    sink = Sink().start()
    try:
        b = smtp_board(sink.url())
        store_queue(b, [1, 2, 3])
        old = os.path.join(b.dir, "var", "bidmail.db.sent-journal")
        with open(old, "w") as f:
            f.write("1\n2\n")
        env = {"BIDMAIL_NOW": "2026-03-02T08:00:00Z"}
        b.run("send", "--once", env=env)
        got = store_received(sink)
        expect(got == ["<j3@example.org>"], "received %r, want only mail 3" % got)
        ob = {o["id"]: o for o in b.outbox()}
        expect(all(ob[i]["state"] == "sent" for i in (1, 2, 3)),
               "states %r" % {i: ob[i]["state"] for i in ob})
        expect(not os.path.exists(old), "the old journal is still beside the database")
        new = os.path.join(b.spool, "sent-journal")
        expect(os.path.exists(new) and os.path.getsize(new) == 0,
               "no empty journal in the spool: %r" % os.listdir(b.spool))
        expect(not os.path.exists(os.path.join(b.dir, "var", "bidmail.db.sent-journal")),
               "a journal was created beside the database")

        # an older sender still holds its journal: its lines are folded, the file is kept
        store_queue(b, [4, 5])
        with open(old, "w") as f:
            f.write("4\n")
        holder = open(old, "a")
        fcntl.flock(holder, fcntl.LOCK_SH)
        try:
            b.run("send", "--once", env=env)
            got = store_received(sink)
            expect(got == ["<j3@example.org>", "<j5@example.org>"],
                   "received %r, want 3 and 5 (4 was in the old journal)" % got)
            expect(os.path.exists(old), "the old journal was removed while another sender held it")
        finally:
            holder.close()
        ob = {o["id"]: o for o in b.outbox()}
        expect(ob[4]["state"] == "sent" and ob[4]["attempts"] == 1, "row 4: %r" % ob[4])
        b.run("send", "--once", env=env)
        expect(not os.path.exists(old), "the old journal was not removed once free")
        expect(len(sink.messages()) == 2, "a later pass sent again: %r" % store_received(sink))
        b.cleanup()
    finally:
        sink.cleanup()
