"""sink.py — Postfix's smtp-sink as the SMTP peer of the tests: started on 127.0.0.1 on a free
port with a unique greeting (-h), which is checked before use (smtp-sink sets SO_REUSEPORT, so
two sinks on one port would silently share connections), dumping each message it accepts into
its own file (-d), and stopped by its pid. Options add faults: -r CMD (4xx), -f CMD (5xx),
-q CMD (disconnect without a reply).
"""
import os, pwd, shutil, signal, socket, subprocess, tempfile, time

SMTP_SINK = shutil.which("smtp-sink") or "/usr/sbin/smtp-sink"
SMTP_SOURCE = shutil.which("smtp-source") or "/usr/sbin/smtp-source"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Sink:
    def __init__(self, *faults, port=None, dump=True):
        self.port = port or free_port()
        self.greeting = "sink-%d-%s" % (os.getpid(), os.urandom(4).hex())
        self.dir = tempfile.mkdtemp(prefix="bidmail-sink-")
        self.faults = list(faults)
        self.dump = dump
        self.proc = None

    def start(self):
        args = [SMTP_SINK, "-h", self.greeting]
        if os.geteuid() == 0:
            # smtp-sink refuses to keep root privileges
            user = "nobody"
            os.chown(self.dir, pwd.getpwnam(user).pw_uid, -1)
            args += ["-u", user]
        if self.dump:
            args += ["-d", os.path.join(self.dir, "%Y%m%d%H%M%S.")]
        args += self.faults + ["127.0.0.1:%d" % self.port, "256"]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        for _ in range(100):  # at most 5 s for the listener
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=2) as c:
                    banner = c.recv(512).decode("ascii", "replace")
                    c.sendall(b"QUIT\r\n")
                if self.greeting not in banner:
                    raise RuntimeError("port %d answered %r: not our sink" % (self.port, banner))
                return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("smtp-sink did not start on port %d" % self.port)

    def url(self):
        return "smtp://127.0.0.1:%d" % self.port

    def messages(self):
        """The dumped messages, oldest first: (envelope dict, message bytes)."""
        out = []
        for name in sorted(os.listdir(self.dir)):
            with open(os.path.join(self.dir, name), "rb") as f:
                raw = f.read()
            env, body = {}, raw
            # the dump starts with X-Client-Addr / X-Helo-Args / X-Mail-Args / X-Rcpt-Args
            lines = raw.split(b"\n")
            k = 0
            while k < len(lines) and lines[k].startswith(b"X-") and b": " in lines[k] and \
                    lines[k].split(b":")[0] in (b"X-Client-Addr", b"X-Client-Proto", b"X-Helo-Args",
                                                b"X-Mail-Args", b"X-Rcpt-Args"):
                key, val = lines[k].decode().split(": ", 1)
                env.setdefault(key, []).append(val.strip())
                k += 1
            body = b"\n".join(lines[k:])
            out.append((env, body))
        return out

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
