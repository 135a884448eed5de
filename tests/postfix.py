"""postfix.py — a private Postfix instance for the tests: its own config_directory, queue and
log in a temporary folder, smtpd on 127.0.0.1 on a free port, the board's domain routed to
`bidmail deliver` through the pipe(8) transport of contrib/postfix/master.cf. No system
daemon is touched. Started with `postfix -c DIR start`, stopped by the master's pid.
Needs root (Postfix's master runs as root and the pipe drops to the user `nobody`)."""
import os, shutil, signal, subprocess, tempfile, time

from sink import free_port

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

SERVICES = """\
{port} inet n - n - - smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
smtp      unix  -       -       n       -       -       smtp
lmtp      unix  -       -       n       -       -       lmtp
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""


def pipe_service(bidmail, conf, user):
    """The bidmail service of contrib/postfix/master.cf, with this test's paths and user."""
    with open(os.path.join(ROOT, "contrib", "postfix", "master.cf")) as f:
        lines = [l for l in f.read().splitlines() if l and not l.startswith("#")]
    text = "\n".join(lines) + "\n"
    text = text.replace("user=bidmail", "user=" + user)
    text = text.replace("/usr/local/bin/bidmail", bidmail)
    return text.replace("/etc/bidmail/bidmail.conf", conf)


class Postfix:
    def __init__(self, bidmail, conf, domain="example.org", user="nobody", lmtp=None, tls=None,
                 relayhost=None, sasl=None):
        """lmtp: "inet:127.0.0.1:PORT" to route the domain to an LMTP server
        (contrib/postfix/transport-lmtp) instead of the pipe. tls: (cert, key) files for
        smtpd's STARTTLS. relayhost: "[127.0.0.1]:PORT" where mail for other domains goes.
        sasl: "inet:127.0.0.1:PORT" of a Dovecot auth service: then only clients that
        authenticated (SMTP AUTH) may relay."""
        self.dir = tempfile.mkdtemp(prefix="bidmail-postfix-")
        os.chmod(self.dir, 0o755)
        self.port = free_port()
        self.etc = os.path.join(self.dir, "etc")
        self.queue = os.path.join(self.dir, "queue")
        self.log = os.path.join(self.dir, "maillog")
        os.makedirs(self.etc)
        os.makedirs(self.queue)
        main = {
            "compatibility_level": "3.6",
            "queue_directory": self.queue,
            "data_directory": os.path.join(self.dir, "data"),
            "mail_owner": "postfix",
            "setgid_group": "postdrop",
            "myhostname": "mx.test.invalid",
            "mydomain": "test.invalid",
            "mydestination": "",
            "inet_interfaces": "127.0.0.1",
            "inet_protocols": "ipv4",
            "mynetworks": "127.0.0.0/8",
            "relay_domains": domain,
            # contrib/postfix/transport, read without postmap
            "transport_maps": "texthash:" + os.path.join(self.etc, "transport"),
            "bidmail_destination_recipient_limit": "1",
            "recipient_delimiter": "+",
            "alias_maps": "",
            "alias_database": "",
            "local_recipient_maps": "",
            "smtputf8_enable": "no",
            "maillog_file": self.log,
            "maillog_file_prefixes": self.dir,
            "biff": "no",
            # a deferred message is retried within seconds, not minutes
            "queue_run_delay": "1s",
            "minimal_backoff_time": "1s",
            "maximal_backoff_time": "2s",
            "smtpd_banner": "$myhostname ESMTP",
        }
        if tls:
            main.update({"smtpd_tls_cert_file": tls[0], "smtpd_tls_key_file": tls[1],
                         "smtpd_tls_security_level": "may", "smtpd_tls_loglevel": "1"})
        if relayhost:
            main.update({"relayhost": relayhost, "smtp_tls_security_level": "none"})
        if sasl:
            main.update({"smtpd_sasl_auth_enable": "yes", "smtpd_sasl_type": "dovecot",
                         "smtpd_sasl_path": sasl, "smtpd_tls_auth_only": "yes",
                         "mynetworks": "", "smtpd_relay_restrictions":
                         "permit_sasl_authenticated, reject_unauth_destination"})
        with open(os.path.join(self.etc, "main.cf"), "w") as f:
            for k, v in main.items():
                f.write("%s = %s\n" % (k, v))
        name = "transport-lmtp" if lmtp else "transport"
        with open(os.path.join(ROOT, "contrib", "postfix", name)) as f:
            transport = f.read().replace("board.example.org", domain)
        if lmtp:
            transport = transport.replace("inet:127.0.0.1:2003", lmtp)
        with open(os.path.join(self.etc, "transport"), "w") as f:
            f.write(transport)
        with open(os.path.join(self.etc, "master.cf"), "w") as f:
            f.write(SERVICES.format(port="127.0.0.1:%d" % self.port))
            f.write(pipe_service(bidmail, conf, user))

    def postfix(self, *args):
        return subprocess.run(["postfix", "-c", self.etc] + list(args), capture_output=True,
                              timeout=60)

    def start(self):
        p = self.postfix("start")
        if p.returncode != 0:
            raise RuntimeError("postfix start: %s" % (p.stderr or p.stdout).decode(errors="replace"))
        self.pid = None
        deadline = time.time() + 20
        pidfile = os.path.join(self.queue, "pid", "master.pid")
        while time.time() < deadline and self.pid is None:
            try:
                self.pid = int(open(pidfile).read().split()[0])
            except (OSError, ValueError, IndexError):
                time.sleep(0.1)
        if self.pid is None:
            raise RuntimeError("postfix did not write its pid")
        return self

    def wait_delivered(self, count, timeout=30, relay="relay=bidmail"):
        """Waits (bounded) until `count` deliveries through the bidmail transport (or the
        given relay= text) are logged."""
        deadline = time.time() + timeout
        n = 0
        while time.time() < deadline:
            n = sum(1 for l in self.log_text().splitlines()
                    if relay in l and "status=sent" in l)
            if n >= count:
                return n
            time.sleep(0.2)
        return n

    def log_text(self):
        try:
            with open(self.log, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def flush(self):
        self.postfix("flush")

    def stop(self):
        if getattr(self, "pid", None):
            try:
                os.kill(self.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            deadline = time.time() + 20
            while time.time() < deadline:
                try:
                    os.kill(self.pid, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.1)
            self.pid = None

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
