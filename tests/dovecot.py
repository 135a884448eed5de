"""dovecot.py — a private Dovecot for the tests of `bidmail fetch`: its own configuration,
base_dir, log and Maildir in a temporary folder; IMAP, IMAPS, POP3 and POP3S on 127.0.0.1 on
free ports; one user from a passwd-file; TLS with a certificate for 127.0.0.1 signed by a CA
made for the run (openssl), so that bidmail verifies the chain and the name as it would in
production (fetch_ca_file = that CA). No system daemon is touched. Started in the
foreground (`dovecot -F -c FILE`), checked by its greeting, stopped by the master's pid.
Mail is put in the user's Maildir (new/), as an LDA would. Its auth service also listens on
a loopback port, for a Postfix that checks SMTP AUTH against it (smtpd_sasl_type = dovecot)."""
import os, pwd, shutil, signal, socket, subprocess, tempfile, time

from sink import free_port

DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"


def make_ca(folder, host="127.0.0.1"):
    """A CA and a server certificate for host (IP SAN) signed by it; returns (ca, cert, key)."""
    ca_key, ca = os.path.join(folder, "ca.key"), os.path.join(folder, "ca.pem")
    key, csr, cert = (os.path.join(folder, n) for n in ("server.key", "server.csr", "server.pem"))
    ext = os.path.join(folder, "ext.cnf")
    with open(ext, "w") as f:
        f.write("subjectAltName = IP:%s\nbasicConstraints = CA:FALSE\n"
                "extendedKeyUsage = serverAuth\n" % host)
    run = lambda *a: subprocess.run(a, check=True, capture_output=True, timeout=60)
    run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", ca_key, "-out", ca,
        "-days", "2", "-subj", "/CN=bidmail test CA")
    run("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr,
        "-subj", "/CN=%s" % host)
    run("openssl", "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial",
        "-out", cert, "-days", "2", "-extfile", ext)
    return ca, cert, key


class Dovecot:
    def __init__(self, user="board", password="s3cret pass"):
        self.dir = tempfile.mkdtemp(prefix="bidmail-dovecot-")
        os.chmod(self.dir, 0o755)
        self.user, self.password = user, password
        self.ports = {p: free_port() for p in ("imap", "imaps", "pop3", "pop3s", "auth")}
        self.maildir = os.path.join(self.dir, "mail", user)
        for sub in ("new", "cur", "tmp"):
            os.makedirs(os.path.join(self.maildir, sub))
        self.ca, cert, key = make_ca(self.dir)
        self.log = os.path.join(self.dir, "dovecot.log")
        self.conf = os.path.join(self.dir, "dovecot.conf")
        # the mail user: nobody (Dovecot refuses uid 0), owner of the Maildir
        nobody = pwd.getpwnam("nobody")
        for root, dirs, _ in os.walk(os.path.join(self.dir, "mail")):
            os.chown(root, nobody.pw_uid, nobody.pw_gid)
        with open(os.path.join(self.dir, "users"), "w") as f:
            f.write("%s:{PLAIN}%s:%d:%d::%s::\n" % (user, password, nobody.pw_uid, nobody.pw_gid,
                                                   self.dir))
        dh = "/usr/share/dovecot/dh.pem"
        with open(self.conf, "w") as f:
            f.write("""\
base_dir = {d}/run
state_dir = {d}/state
log_path = {log}
info_log_path = {log}
protocols = imap pop3
listen = 127.0.0.1
ssl = yes
ssl_cert = <{cert}
ssl_key = <{key}
{dh}
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:{d}/mail/%u
pop3_uidl_format = %08Xu%08Xv
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {d}/users
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {d}/users
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {imap}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {imaps}
    ssl = yes
  }}
}}
service auth {{
  inet_listener auth {{
    address = 127.0.0.1
    port = {auth}
  }}
}}
service pop3-login {{
  inet_listener pop3 {{
    address = 127.0.0.1
    port = {pop3}
  }}
  inet_listener pop3s {{
    address = 127.0.0.1
    port = {pop3s}
    ssl = yes
  }}
}}
""".format(d=self.dir, log=self.log, cert=cert, key=key,
           dh=("ssl_dh = <%s" % dh) if os.path.exists(dh) else "", **self.ports))
        self.proc = None

    def start(self):
        # its own process group: stop() ends the master and every child it forked (a
        # client's imap process outlives a master that is only sent SIGTERM)
        self.proc = subprocess.Popen([DOVECOT, "-F", "-c", self.conf], start_new_session=True,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.time() + 20
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("dovecot exited: %s %s" % (self.proc.stderr.read().decode(),
                                                              self.logtext()))
            try:
                s = socket.create_connection(("127.0.0.1", self.ports["imap"]), timeout=2)
                greeting = s.recv(200)
                s.close()
                if b"* OK" in greeting:
                    return self
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError("dovecot did not greet: " + self.logtext())

    def stop(self):
        """Stops the master and its children: the process group is the master's pid."""
        if self.proc:
            pgid = self.proc.pid
            for sig in (signal.SIGTERM, signal.SIGKILL):
                try:
                    os.killpg(pgid, sig)
                except ProcessLookupError:
                    break
                try:
                    self.proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    continue
                # the children may outlive the master for a moment
                for _ in range(50):
                    try:
                        os.killpg(pgid, 0)
                    except ProcessLookupError:
                        break
                    time.sleep(0.1)
                else:
                    continue
                break
        self.proc = None

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def logtext(self):
        try:
            with open(self.log, errors="replace") as f:
                return f.read()[-3000:]
        except OSError:
            return ""

    def put(self, raw, name=None):
        """Delivers one message into the Maildir, as an LDA would (tmp/, then new/)."""
        name = name or "%d.%s.test" % (time.time_ns(), os.urandom(4).hex())
        tmp = os.path.join(self.maildir, "tmp", name)
        with open(tmp, "wb") as f:
            f.write(raw.encode() if isinstance(raw, str) else raw)
        os.rename(tmp, os.path.join(self.maildir, "new", name))

    def messages(self):
        """(new, cur) file names in the Maildir, and the flags part of each cur name."""
        new = os.listdir(os.path.join(self.maildir, "new"))
        cur = os.listdir(os.path.join(self.maildir, "cur"))
        return new, cur

    def url(self, scheme):
        port = self.ports[scheme.rstrip("s") + ("s" if scheme.endswith("s") else "")]
        return "%s://%s@127.0.0.1:%d/INBOX" % (scheme, self.user, port) if scheme.startswith("imap") \
            else "%s://%s@127.0.0.1:%d" % (scheme, self.user, port)
