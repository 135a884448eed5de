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
