# t_pgfail.py — hosts on PostgreSQL when the database goes wrong (issue #16): a host cut off
# from the database by a partition (its own network namespace, a veth pair to the root one,
# made and removed here; loopback and those only), a failover to a synchronous standby, one to
# an asynchronous standby recovered by `bidmail reconcile`. Private servers (tests/pg.py).
# Each daemon sends through the file transport (spool/outgoing/ID-TOKEN.eml), so an answer
# sent twice is two files of one outbox id, whichever host wrote them.
import subprocess as _pgf_sp

from pg import Postgres, Standby, pg_start_with, pg_trust_network

PGF_POSTS_FIRST = 300	# posts in the spools before the fault
PGF_POSTS_DURING = 60	# posts delivered while the database is away
PGF_SETTLE_S = 240	# the most a run may take to settle after the fault


def _pgf_posts(b, n, tag):
    """n posts delivered into b's spool (deliver touches no database), each from its own
    sender (no sender rate limit) with its own title."""
    for i in range(n):
        rc = b.deliver(post_mail(subject="Projet %s %d" % (tag, i), msgid="<%s-%d@client.fr>" % (tag, i),
                                 sender="Client %s %d <c-%s-%d@client.fr>" % (tag, i, tag, i)))
        expect(rc == 0, "deliver exited %d while the database is away" % rc)


class _PgfDaemon:
    """`bidmail run` on a board (in a network namespace when netns is given), its stderr in a
    file; stopped by its pid."""

    def __init__(self, b, netns=None, env=None):
        self.b = b
        # appended to (O_APPEND): the daemon shares this file's offset, which logged() moves
        self.log = log_file(os.path.join(b.dir, "daemon.log"))
        e = dict(os.environ)
        e.update(env or {})
        cmd = [BIDMAIL, "--config", b.conf, "run"]
        if netns:
            cmd = ["ip", "netns", "exec", netns] + cmd	# ip execs the daemon: same pid
        self.p = _pgf_sp.Popen(cmd, stderr=self.log, stdout=_pgf_sp.DEVNULL, cwd=b.dir, env=e)
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
            time.sleep(0.2)
        return cond()

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(timeout=60)
            except _pgf_sp.TimeoutExpired:
                stacks = _pgf_stacks(self.p.pid)
                self.p.kill()
                self.p.wait(timeout=10)
                raise Failure("the daemon did not stop on SIGTERM: %s\n(its threads: %s)"
                              % (self.logged()[-1500:], stacks))
        text = self.logged()
        self.log.close()
        expect("Sanitizer" not in text and "runtime error:" not in text, text[-3000:])
        return text


def _pgf_stacks(pid):
    """Where each thread of a daemon that does not stop is (gdb, bounded), for the report."""
    try:
        p = _pgf_sp.run(["gdb", "-p", str(pid), "-batch", "-ex", "thread apply all bt 25"],
                        capture_output=True, timeout=60)
        lines = [ln for ln in p.stdout.decode(errors="replace").splitlines()
                 if ln.startswith(("Thread ", "#"))]
        return "\n".join(lines)[-6000:] or "gdb printed nothing"
    except (OSError, _pgf_sp.TimeoutExpired) as e:
        return "gdb could not attach: %s" % e


def _pgf_count(pg, sql):
    return int(pg.psql(sql).split()[0])


def _pgf_outgoing_ids(boards):
    """{outbox id: number of files} over the outgoing folders of boards."""
    ids = {}
    for b in boards:
        for path in b.outgoing():
            oid = int(os.path.basename(path).split("-", 1)[0])
            ids[oid] = ids.get(oid, 0) + 1
    return ids


def _pgf_settled(pg, boards, want_projects):
    """Every spool read, every post a project, no outbox row waiting that is not leased."""
    try:
        return (all(not b.files("incoming/new") for b in boards) and
                _pgf_count(pg, "SELECT count(*) FROM projects") >= want_projects and
                _pgf_count(pg, "SELECT count(*) FROM outbox WHERE state = 'queued' AND"
                               " lease_owner IS NULL") == 0)
    except RuntimeError:	# the server away for a moment
        return False


def _pgf_wait(cond, seconds, step=0.5):
    end = time.time() + seconds
    while time.time() < end and not cond():
        time.sleep(step)
    return cond()


def _pgf_check_once(pg, boards, n, allowed_doubles=()):
    """One project per post (n, distinct titles) and every outbox row's mail written once:
    an outbox id with two files only among allowed_doubles (rows in flight at the fault).
    Returns (rows, doubled ids)."""
    titles = pg.psql("SELECT title FROM projects").splitlines()
    expect(len(titles) == n and len(set(titles)) == n,
           "projects: %d rows, %d distinct, want %d" % (len(titles), len(set(titles)), n))
    ids = _pgf_outgoing_ids(boards)
    rows = [int(x) for x in pg.psql("SELECT id FROM outbox WHERE state = 'sent'").split()]
    missing = [r for r in rows if r not in ids]
    expect(not missing, "rows marked sent without their file: %r" % missing[:20])
    doubled = sorted(i for i, k in ids.items() if k > 1)
    extra = [i for i in doubled if i not in allowed_doubles]
    expect(not extra, "mails written twice: %r (in flight at the fault: %r)"
           % (extra[:20], sorted(allowed_doubles)[:20]))
    return rows, doubled


# ---------------------------------------------------------------- (a) a partition

def _pgf_sh(*cmd):
    p = _pgf_sp.run(list(cmd), capture_output=True, timeout=30)
    if p.returncode != 0:
        raise Failure("`%s` failed (%d): %s — the partition test needs network namespaces "
                      "(root, ip netns, veth, tc)" % (" ".join(cmd), p.returncode,
                                                      (p.stdout + p.stderr).decode()[-500:]))
    return p


class _PgfNetns:
    """A network namespace joined to the root one by a veth pair: ROOT_ADDR on the root side,
    NS_ADDR inside, a /30 of 10.231.0.0/16 only these two use. Removed by remove(), which a
    failure half-way also runs."""

    def __init__(self):
        k = os.getpid() % 250 + 1
        self.name, self.root_if, self.ns_if = "bmpf%d" % k, "bmpf%da" % k, "bmpf%db" % k
        self.root_addr, self.ns_addr = "10.231.%d.1" % k, "10.231.%d.2" % k
        self.network = "10.231.%d.0/30" % k
        self.made = False
        try:
            _pgf_sh("ip", "netns", "add", self.name)
            self.made = True
            _pgf_sh("ip", "link", "add", self.root_if, "type", "veth", "peer", "name", self.ns_if)
            _pgf_sh("ip", "link", "set", self.ns_if, "netns", self.name)
            _pgf_sh("ip", "addr", "add", self.root_addr + "/30", "dev", self.root_if)
            _pgf_sh("ip", "link", "set", self.root_if, "up")
            self.inside("ip", "link", "set", "lo", "up")
            self.inside("ip", "addr", "add", self.ns_addr + "/30", "dev", self.ns_if)
            self.inside("ip", "link", "set", self.ns_if, "up")
        except BaseException:
            self.remove()
            raise

    def inside(self, *cmd):
        return _pgf_sh("ip", "netns", "exec", self.name, *cmd)

    def cut(self):
        """Silent: every packet the namespace sends is dropped (a queue of length 0), as when
        a link dies without telling; the daemon learns it only from its timeouts."""
        self.inside("tc", "qdisc", "add", "dev", self.ns_if, "root", "pfifo", "limit", "0")

    def heal(self):
        self.inside("tc", "qdisc", "del", "dev", self.ns_if, "root")

    def remove(self):
        _pgf_sp.run(["ip", "link", "del", self.root_if], capture_output=True, timeout=30)
        if self.made:
            _pgf_sp.run(["ip", "netns", "del", self.name], capture_output=True, timeout=30)
        self.made = False


def _pgf_serve_namespace(pg, ns):
    """Restarts pg listening on loopback and on the root side of ns's veth, trusting ns's
    network; returns the URL a host inside ns uses, with timeouts short enough for a test
    (connect 3 s, unacknowledged data 4 s, keepalives after 2 s)."""
    pg.stop()
    pg_trust_network(pg, ns.network)
    pg_start_with(pg, hosts="127.0.0.1,%s" % ns.root_addr)
    return ("postgresql://bidmail@%s:%d/%s?connect_timeout=3&tcp_user_timeout=4000"
            "&keepalives_idle=2&keepalives_interval=1&keepalives_count=2"
            % (ns.root_addr, pg.port, pg.dbname))


def _pgf_teardown(daemon, ns, pg):
    """Stops what a partition test started; a daemon that will not stop is printed, not
    raised: the failure that brought the test here is the one to report."""
    if daemon:
        try:
            daemon.stop()
        except Failure as e:
            print("     (and then: %s)" % str(e)[:8000])
    ns.remove()
    if pg:
        pg.cleanup()


def _pgf_cut_host(pg, ns):
    """Board host-a (poll_interval 1), whose database is pg served into namespace ns: the host
    the partition tests cut off."""
    return Board("host_id = host-a\npoll_interval = 1\n",
                 database=_pgf_serve_namespace(pg, ns)).init()


def test_pg_partition_host_cut_off():
    """A host (its daemon in its own network namespace, the database reached over a veth
    pair) is cut off mid-run, silently (its packets dropped). Mail delivered to it meanwhile
    waits in its spool (deliver exits 0); its daemon sees the database gone within the
    timeouts (tcp_user_timeout, keepalives, statement_timeout) and claims nothing more;
    another host's sender takes over the rows it had leased (once its lease expired: the
    leases' end times, on the database's clock, moved past); healed, the host reconnects and reads its spool. Then
    one project per post, every answer written once — two files of one row only for a row
    the cut host had leased (in flight) at the cut."""
    if os.geteuid() != 0:
        raise Failure("the partition test needs root (network namespaces)")
    ns = _PgfNetns()
    pg = daemon = None
    try:
        pg = Postgres()
        a = _pgf_cut_host(pg, ns)
        b = Board("host_id = host-b\n", database=pg.url).init()
        _pgf_posts(a, PGF_POSTS_FIRST, "avant")
        daemon = _PgfDaemon(a, netns=ns.name)
        half = PGF_POSTS_FIRST // 3
        expect(_pgf_wait(lambda: _pgf_count(pg, "SELECT count(*) FROM projects") >= half, 120,
                         0.05),
               "the host in its namespace did not ingest: %s" % daemon.logged()[-1500:])
        before = len(daemon.logged())
        ns.cut()
        t_cut = time.time()
        leased = set(int(x) for x in pg.psql(
            "SELECT id FROM outbox WHERE state = 'queued' AND lease_owner LIKE 'host-a:%'").split())
        _pgf_posts(a, PGF_POSTS_DURING, "pendant")
        import re as _re
        gone = _re.compile(r"stage=store .*error=|backend=postgresql .*error=")
        saw = daemon.wait_for(lambda: gone.search(daemon.logged()[before:]), 60)
        took = time.time() - t_cut
        expect(saw, "no database error logged by the cut host within 60 s: %s"
               % daemon.logged()[before:][-1500:])
        expect(took < 45, "the cut host saw the partition only after %.0f s" % took)
        expect(daemon.p.poll() is None, "the cut host's daemon ended: %s" % daemon.logged()[-1500:])
        files = len(a.outgoing())
        time.sleep(3)
        expect(len(a.outgoing()) == files, "the cut host went on sending")
        expect(a.files("incoming/new"), "the mail delivered during the cut was not kept")
        # the leases run on the database's clock: its FILE_LEASE (600 s) passing is their
        # end times moved into the past; the other host's reaper, on the database's clock
        # too, then takes them over (its own clock set past the lease as well). A pass cut in
        # the middle keeps its rows locked by its session on the server, which the server
        # ends after idle_in_transaction_session_timeout (60 s): until then neither this
        # update nor the reaper (SKIP LOCKED) has them
        def age_leases():
            try:
                pg.psql("SET lock_timeout = '2s'; UPDATE outbox SET lease_until ="
                        " '2000-01-01T00:00:00Z' WHERE state = 'queued'"
                        " AND lease_owner LIKE 'host-a:%'")
                return True
            except RuntimeError:	# 55P03: the cut session still holds them
                return False
        expect(_pgf_wait(age_leases, 120, 1), "the cut host's rows stayed locked for 120 s")
        if leased:
            print("     (the cut host's rows were free %.0f s after the cut)" % (time.time() - t_cut))
        later = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 660))
        b.run("run", "--once", env={"BIDMAIL_NOW": later})
        left = set(int(x) for x in pg.psql(
            "SELECT id FROM outbox WHERE state = 'queued' AND lease_owner LIKE 'host-a:%'").split())
        expect(not (left & leased), "leases of the cut host not taken over: %r" % sorted(left & leased))
        ns.heal()
        n = PGF_POSTS_FIRST + PGF_POSTS_DURING
        expect(_pgf_wait(lambda: _pgf_settled(pg, [a], n), PGF_SETTLE_S),
               "not settled after the partition healed: %d projects, new=%d: %s" % (
                   _pgf_count(pg, "SELECT count(*) FROM projects"), len(a.files("incoming/new")),
                   daemon.logged()[-1500:]))
        log = daemon.stop()
        daemon = None
        expect("op=reconnect attempts=" in log, "no reconnection logged")
        rows, doubled = _pgf_check_once(pg, [a, b], n, allowed_doubles=leased)
        print("     (partition: seen in %.1f s; %d rows leased at the cut, taken over; %d rows,"
              " %d written twice)" % (took, len(leased), len(rows), len(doubled)))
        first = gone.search(log[before:])
        print("     (the cut host's first error: %s)" % log[before + first.start():].split("\n")[0][:300])
    finally:
        _pgf_teardown(daemon, ns, pg)


def test_pg_partition_sigterm_not_held_by_reconnecting():
    """A host cut off (as above) and asked to stop while its daemon is reconnecting: it stops
    within 15 s (one connection attempt, connect_timeout 3 s, may be under way), where waiting
    out each statement's reconnect (up to 5 s of back-off and seven 3-s attempts each) took
    minutes; the mail it had not committed stays in its spool (incoming/new)."""
    if os.geteuid() != 0:
        raise Failure("the partition test needs root (network namespaces)")
    ns = _PgfNetns()
    pg = daemon = None
    try:
        pg = Postgres()
        a = _pgf_cut_host(pg, ns)
        daemon = _PgfDaemon(a, netns=ns.name)
        _pgf_posts(a, 5, "avant")
        expect(_pgf_wait(lambda: _pgf_count(pg, "SELECT count(*) FROM projects") >= 5, 60, 0.1),
               "the host in its namespace did not ingest: %s" % daemon.logged()[-1500:])
        before = len(daemon.logged())
        ns.cut()
        _pgf_posts(a, 20, "pendant")
        import re as _re
        lost = _re.compile(r"op=reconnect sqlstate=")
        expect(daemon.wait_for(lambda: lost.search(daemon.logged()[before:]), 60),
               "no failed reconnection logged within 60 s: %s" % daemon.logged()[before:][-1500:])
        t0 = time.time()
        daemon.p.send_signal(signal.SIGTERM)
        try:
            daemon.p.wait(timeout=15)
        except _pgf_sp.TimeoutExpired:
            raise Failure("the daemon cut off from its database did not stop within 15 s of "
                          "SIGTERM: %s\n(its threads: %s)" % (daemon.logged()[-1500:],
                                                              _pgf_stacks(daemon.p.pid)))
        took = time.time() - t0
        log = daemon.stop()
        daemon = None
        expect("result=stopped" in log, "no stop logged: %s" % log[-1500:])
        expect(a.files("incoming/new"), "the mail delivered during the cut was not kept")
        print("     (stopped %.1f s after SIGTERM, cut off; %d messages wait in the spool)"
              % (took, len(a.files("incoming/new"))))
    finally:
        _pgf_teardown(daemon, ns, pg)


# ---------------------------------------------------------------- (b, c) failovers

def _pgf_failover(sync):
    """Two hosts on primary + standby (the multi-host URL), posts in both spools, the primary
    SIGKILLed mid-run and the standby promoted, more posts meanwhile. Returns (standby,
    hosts, posts, daemons' logs) once settled; the caller checks and cleans (cleanup())."""
    primary = Postgres()
    primary.stop()
    pg_start_with(primary, settings=["synchronous_commit=on"] if sync else [])
    standby = Standby(primary, sync=sync)
    url = ("postgresql://bidmail@127.0.0.1:%d,127.0.0.1:%d/%s?target_session_attrs=read-write"
           "&connect_timeout=2" % (primary.port, standby.port, primary.dbname))
    hosts = [Board("host_id = host-%d\npoll_interval = 1\n" % i, database=url).init()
             for i in (1, 2)]
    daemons, feeders = [], []
    try:
        import threading
        daemons = [_PgfDaemon(h) for h in hosts]
        # the load: posts arriving all along, on both hosts, before, during and after the kill
        feeders = [threading.Thread(target=_pgf_posts, daemon=True,
                                    args=(h, (PGF_POSTS_FIRST + PGF_POSTS_DURING) // 2, "h%d" % i))
                   for i, h in enumerate(hosts)]
        for t in feeders:
            t.start()
        expect(_pgf_wait(lambda: _pgf_count(primary, "SELECT count(*) FROM projects")
                         >= PGF_POSTS_FIRST // 3, 120, 0.05), "no ingest before the failover")
        primary.stop(sig=signal.SIGKILL)
        at_kill = sum(len(h.files("incoming/new")) + len(h.files("incoming/cur")) for h in hosts)
        expect(any(t.is_alive() for t in feeders), "the primary was killed after the load")
        standby.promote()
        for t in feeders:
            t.join(timeout=120)
        n = PGF_POSTS_FIRST + PGF_POSTS_DURING
        settled = _pgf_wait(lambda: _pgf_settled(standby, hosts, n), PGF_SETTLE_S if sync else 60)
        if sync:
            expect(settled, "not settled after the failover: %d projects of %d: %s" % (
                _pgf_count(standby, "SELECT count(*) FROM projects"), n,
                daemons[0].logged()[-1500:]))
        logs = [d.stop() for d in daemons]
        daemons = []
        for lg in logs:
            expect("op=reconnect attempts=" in lg, "no reconnection logged: %s" % lg[-1500:])
        again = sum(lg.count("result=sent already=yes") + lg.count("result=journaled")
                    for lg in logs)
        return primary, standby, hosts, n, (at_kill, again)
    except BaseException:
        for t in feeders:
            t.join(timeout=120)
        for d in daemons:
            d.stop()
        primary.cleanup()
        standby.cleanup()
        raise


def test_pg_failover_synchronous_standby():
    """A primary and a synchronous standby (pg_basebackup -R, synchronous_standby_names,
    synchronous_commit on), two daemons on the multi-host URL
    (target_session_attrs=read-write); the primary SIGKILLed under load and the standby
    promoted: the daemons reconnect to it (libpq takes the next host), and nothing is lost
    (one project per post, every sent row's mail written) nor doubled; `reconcile` finds
    nothing to re-offer on either host."""
    primary, standby, hosts, n, (at_kill, again) = _pgf_failover(sync=True)
    try:
        rows, doubled = _pgf_check_once(standby, hosts, n)
        offered = [h.run("reconcile").stdout.decode().strip() for h in hosts]
        expect(offered == ["0 messages re-offered"] * 2, "reconcile after a synchronous "
               "failover: %r" % offered)
        print("     (synchronous failover: %d posts delivered at the kill; %d projects, %d rows,"
              " nothing re-offered; %d passes lost their commit, no file written twice)"
              % (at_kill, n, len(rows), again))
    finally:
        primary.cleanup()
        standby.cleanup()


def test_pg_failover_asynchronous_standby_reconcile():
    """The same with an asynchronous standby (the primary commits without waiting for it):
    what the primary had committed and not yet streamed is lost with it, though the spool
    files are already in incoming/cur. `bidmail reconcile` on each host re-offers the files
    whose ingest key the promoted database does not know; the next run ingests them: one
    project per post again (or, when nothing was lost in the run, reconcile re-offers nothing
    and the counts already match)."""
    primary, standby, hosts, n, (at_kill, again) = _pgf_failover(sync=False)
    try:
        before = _pgf_count(standby, "SELECT count(*) FROM projects")
        offered = 0
        for h in hosts:
            out = h.run("reconcile").stdout.decode().strip()
            expect(out.endswith("re-offered"), "reconcile said %r" % out)
            offered += int(out.split()[0])
            h.run("run", "--once")
        after = _pgf_count(standby, "SELECT count(*) FROM projects")
        expect(offered > 0 or before == n, "%d projects of %d and nothing re-offered" % (before, n))
        expect(after == n, "after reconcile: %d projects of %d" % (after, n))
        titles = standby.psql("SELECT title FROM projects").splitlines()
        expect(len(set(titles)) == n, "a project twice after reconcile")
        print("     (asynchronous failover: %d posts delivered at the kill; %d of %d projects after"
              " the promotion, %d re-offered, %d after reconcile)" % (at_kill, before, n,
                                                                   offered, after))
    finally:
        primary.cleanup()
        standby.cleanup()


# ---------------------------------------------------------------- backup on PostgreSQL

def test_pg_backup_points_to_pg_dump():
    """`bidmail backup FILE` on `database = postgresql://…` copies nothing and pretends
    nothing: exit 1, a sentence naming pg_dump and pg_basebackup, no FILE written."""
    pg = Postgres()
    try:
        b = Board(database=pg.url).init()
        out = os.path.join(b.dir, "copy.db")
        p = b.run("backup", out, check=False)
        err = p.stderr.decode()
        expect(p.returncode == 1, "backup on PostgreSQL exited %d: %s" % (p.returncode, err[-500:]))
        expect("pg_dump" in err and "pg_basebackup" in err, "no pointer to the tools: %r" % err[-500:])
        expect(not os.path.exists(out), "a file was written")
        expect(not p.stdout.strip(), "it said it copied: %r" % p.stdout)
    finally:
        pg.cleanup()
