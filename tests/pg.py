"""pg.py — a private PostgreSQL for the tests: `initdb` into a temporary folder (as `nobody` when
the tests run as root, since PostgreSQL refuses to run as root), the server started in the
foreground on 127.0.0.1 and a free port, with its unix socket in the same folder, waited for
(bounded), a database created, stopped by the postmaster's pid. The system's PostgreSQL
service is neither started nor needed: only the binaries of /usr/lib/postgresql/15/bin are.
Superuser `bidmail`, trust authentication on loopback; .url is the postgresql:// URL."""
import glob, os, pwd, shutil, signal, subprocess, tempfile, time

from sink import free_port


def pg_bindir():
    """The folder of initdb and postgres: PostgreSQL 15's, or the newest installed."""
    for d in ["/usr/lib/postgresql/15/bin"] + sorted(glob.glob("/usr/lib/postgresql/*/bin"),
                                                      reverse=True):
        if os.path.exists(os.path.join(d, "postgres")):
            return d
    return None


class Postgres:
    def __init__(self, dbname="bidmail"):
        self.bin = pg_bindir()
        if not self.bin:
            raise RuntimeError("PostgreSQL not installed (contrib/install-deps.sh installs"
                               " postgresql-15)")
        self.dir = tempfile.mkdtemp(prefix="bidmail-pg-")
        self.data = os.path.join(self.dir, "data")
        self.log = os.path.join(self.dir, "postgres.log")
        self.port = free_port()
        self.dbname = dbname
        self.proc = None
        self.run_as = {}
        if os.getuid() == 0:
            nobody = pwd.getpwnam("nobody")
            os.chown(self.dir, nobody.pw_uid, nobody.pw_gid)
            self.run_as = {"user": nobody.pw_uid, "group": nobody.pw_gid,
                           "extra_groups": []}
        self.url = "postgresql://bidmail@127.0.0.1:%d/%s" % (self.port, dbname)
        self._tool("initdb", "-D", self.data, "-U", "bidmail", "--auth=trust", "-E", "UTF8",
                   "--locale=C", "--no-sync", timeout=120)
        self.start()
        self._tool("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "bidmail",
                   dbname, timeout=30)

    def _tool(self, name, *args, timeout=30):
        p = subprocess.run([os.path.join(self.bin, name)] + list(args), capture_output=True,
                           timeout=timeout, cwd=self.dir, **self.run_as)
        if p.returncode != 0:
            raise RuntimeError("%s failed: %s" % (name, (p.stdout + p.stderr).decode()[-2000:]))
        return p

    def start(self, wait=30):
        """Starts the server (same data and port as before) and waits until it accepts."""
        logf = open(self.log, "ab")
        self.proc = subprocess.Popen(
            [os.path.join(self.bin, "postgres"), "-D", self.data, "-h", "127.0.0.1",
             "-p", str(self.port), "-k", self.dir, "-c", "fsync=off",
             "-c", "synchronous_commit=off", "-c", "full_page_writes=off"],
            stdout=logf, stderr=subprocess.STDOUT, cwd=self.dir, **self.run_as)
        logf.close()
        deadline = time.time() + wait
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("postgres exited: %s" % self.log_tail())
            p = subprocess.run([os.path.join(self.bin, "pg_isready"), "-h", "127.0.0.1",
                                "-p", str(self.port), "-U", "bidmail", "-d", "postgres"],
                               capture_output=True, timeout=10)
            if p.returncode == 0:
                return
            time.sleep(0.1)
        raise RuntimeError("postgres not ready in %ds: %s" % (wait, self.log_tail()))

    def stop(self, sig=signal.SIGINT, wait=30):
        """Stops the server by its pid (SIGINT: fast shutdown), SIGKILL past the wait."""
        if not self.proc or self.proc.poll() is not None:
            return
        self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def restart(self):
        self.stop()
        self.start()

    def psql(self, sql, timeout=30):
        """Runs sql through psql as the superuser; returns stdout (unaligned, tuples only)."""
        p = subprocess.run([os.path.join(self.bin, "psql"), "-X", "-A", "-t", "-v",
                            "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", str(self.port),
                            "-U", "bidmail", "-d", self.dbname, "-c", sql],
                           capture_output=True, timeout=timeout)
        if p.returncode != 0:
            raise RuntimeError("psql: %s" % p.stderr.decode())
        return p.stdout.decode()

    def new_database(self, name):
        """Creates database `name` (letters, digits, _) on this server; returns its URL."""
        self._tool("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "bidmail", name,
                   timeout=60)
        return "postgresql://bidmail@127.0.0.1:%d/%s" % (self.port, name)

    def drop_database(self, name):
        self._tool("dropdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "bidmail",
                   "--if-exists", name, timeout=60)

    def log_tail(self):
        try:
            with open(self.log, errors="replace") as f:
                return f.read()[-2000:]
        except OSError:
            return ""

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


# ---------------------------------------------------------------- for t_pgfail.py (issue 16)

def pg_start_with(pg, hosts="127.0.0.1", settings=(), wait=30):
    """Starts pg's server (stopped) as Postgres.start does, listening on hosts (a comma list:
    127.0.0.1 and addresses the test made), with settings ("name=value", given after the
    defaults of Postgres.start, so they win: e.g. synchronous_commit=on)."""
    args = [os.path.join(pg.bin, "postgres"), "-D", pg.data, "-h", hosts, "-p", str(pg.port),
            "-k", pg.dir, "-c", "fsync=off", "-c", "synchronous_commit=off",
            "-c", "full_page_writes=off"]
    for s in settings:
        args += ["-c", s]
    logf = open(pg.log, "ab")
    pg.proc = subprocess.Popen(args, stdout=logf, stderr=subprocess.STDOUT, cwd=pg.dir,
                               **pg.run_as)
    logf.close()
    deadline = time.time() + wait
    while time.time() < deadline:
        if pg.proc.poll() is not None:
            raise RuntimeError("postgres exited: %s" % pg.log_tail())
        p = subprocess.run([os.path.join(pg.bin, "pg_isready"), "-h", "127.0.0.1",
                            "-p", str(pg.port), "-U", "bidmail", "-d", "postgres"],
                           capture_output=True, timeout=10)
        if p.returncode == 0:
            return
        time.sleep(0.1)
    raise RuntimeError("postgres not ready in %ds: %s" % (wait, pg.log_tail()))


def pg_trust_network(pg, network):
    """Lets the clients of network (e.g. 10.231.7.0/30, a veth pair the test made) in, as
    loopback's are (trust); takes effect at the next start."""
    with open(os.path.join(pg.data, "pg_hba.conf"), "a") as f:
        f.write("host all all %s trust\n" % network)


class Standby(Postgres):
    """A streaming standby of primary: `pg_basebackup -R` (the standby.signal and
    primary_conninfo written) into its own temporary folder, started on its own free port on
    127.0.0.1, waited for. When sync, the primary names every standby in
    synchronous_standby_names (reloaded): its commits wait for this one."""

    def __init__(self, primary, sync=True, settings=()):
        self.bin = primary.bin
        self.dir = tempfile.mkdtemp(prefix="bidmail-pg-standby-")
        self.data = os.path.join(self.dir, "data")
        self.log = os.path.join(self.dir, "postgres.log")
        self.port = free_port()
        self.dbname = primary.dbname
        self.proc = None
        self.run_as = primary.run_as
        if self.run_as:
            os.chown(self.dir, self.run_as["user"], self.run_as["group"])
        self.url = "postgresql://bidmail@127.0.0.1:%d/%s" % (self.port, self.dbname)
        self._tool("pg_basebackup", "-h", "127.0.0.1", "-p", str(primary.port), "-U", "bidmail",
                   "-D", self.data, "-R", "-X", "stream", "--no-sync", timeout=120)
        pg_start_with(self, settings=settings)
        primary.psql("ALTER SYSTEM SET synchronous_standby_names = '%s'" % ("*" if sync else ""))
        primary.psql("SELECT pg_reload_conf()")
        deadline = time.time() + 30
        want = "sync" if sync else "async"
        while time.time() < deadline:
            if primary.psql("SELECT sync_state FROM pg_stat_replication").split() == [want]:
                return
            time.sleep(0.2)
        raise RuntimeError("the standby is not %s: %r" % (
            want, primary.psql("SELECT application_name, state, sync_state FROM pg_stat_replication")))

    def promote(self, wait=30):
        """pg_ctl promote, then waits until the server accepts writes."""
        self._tool("pg_ctl", "promote", "-D", self.data, "-w", "-t", str(wait), timeout=wait + 10)
        deadline = time.time() + wait
        while time.time() < deadline:
            if self.psql("SELECT pg_is_in_recovery()").strip() == "f":
                return
            time.sleep(0.2)
        raise RuntimeError("still in recovery after promote: %s" % self.log_tail())
