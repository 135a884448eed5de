#!/usr/bin/env python3
"""cases.py — runs the conversation cases of tests/cases/NNNN-slug/, one folder per behaviour.
In: a folder with `case` (first line: what it proves; for a bug, the symptom and the cause),
an optional `bidmail.conf` (lines added to the board's config), the incoming mails as raw
`.eml` files and `steps` (the script, one action a line, below). Out: a Failure naming every
difference — a unified diff against the golden outgoing mails in `expect/NNNN.mail` and the
expected `--json` state files — or nothing when the case holds.

Steps (one a line, words split as by the shell, `#` starts a comment):
  now ISO-TIME                 BIDMAIL_NOW for the following steps
  deliver FILE [to=A] [from=A] `bidmail deliver` of FILE (envelope from its To/From by default)
  run                          `bidmail run --once`
  digest ISO-TIME              `bidmail digest --at ISO-TIME`, the clock set to that time too
  send                         `bidmail send --once`
  bidmail ARGS... [> FILE]     any sub-command; with `> FILE`, its output is compared with
                               expect/FILE (normalised as the mails are)
  state LISTING FILE           `bidmail LISTING --json` (projects, subscribers, outbox, or
                               `bids:N`) compared with expect/FILE: a list of objects holding
                               only the fields the case cares about
  spool FOLDER COUNT           the number of files in spool/FOLDER
  reason TEXT                  a quarantine reason in spool/failed/ contains TEXT
In an .eml or a step, {WHAT:REF} stands for a part of an outgoing mail already sent: REF is its
number (1 = the first outgoing mail of the case) or an address (the last mail sent to it);
WHAT is reply-to, message-id, references, subject, unsubscribe (the mailto address of
List-Unsubscribe), quote (its text part quoted with "> "), quote-qp (the same, encoded
quoted-printable, for a part sent so), text (its text part as it is, the unquoted copy Outlook
puts under a reply) or file (its path).

Every outgoing mail is also checked for CRLF line ends, lines of at most 998 octets and exactly
one recipient. Golden mails show the headers decoded and each part decoded, with Date (unless
the step ran under `now`, which makes it exact), the board's Message-IDs, MIME boundaries and the MACs of signed keys normalised, and no-break
spaces folded to spaces. BIDMAIL_CASES_UPDATE=1 rewrites the golden files from what the binary
does (state files keep the fields they list); review the diff before committing it.
usage: cases.py BIDMAIL [SUBSTRING] [--postgresql]  (or through suite.py: --only case_0001)
--postgresql plays every case on PostgreSQL: one private server (tests/pg.py), a fresh
database per case (tests/t_pg.py's test_pg_cases does the same in the suite).
"""
import difflib, email, email.policy, email.utils, glob, hashlib, json, os, quopri, re, shlex, sys

import board
from board import Board, Failure, expect, read_mail

CASES = os.path.join(board.HERE, "cases")
PLACEHOLDER = re.compile(r"\{(reply-to|message-id|references|subject|unsubscribe|quote-qp|quote|text|file):([^{}\s]+)\}")
PLACEHOLDER_BYTES = re.compile(PLACEHOLDER.pattern.encode())
MAX_DIFF_LINES = 80


class Normaliser:
    """Replaces what changes from run to run by stable names, the same value by the same name
    across one case: the board's Message-ID of outgoing mail N is mid-N (so an In-Reply-To can
    be seen to name an earlier mail)."""

    def __init__(self):
        self.ids = {}

    def _mid(self, m):
        return self.ids.setdefault(m.group(0), "mid-x%d" % (len(self.ids) + 1))

    def __call__(self, text, keep_date=False):
        text = re.sub(r"(?<![\w.-])[0-9a-f]{24,}(?=@example\.org)", self._mid, text)
        text = re.sub(r"\b([a-z])-((?:\d+-)+)[a-z2-7]{16}\b", r"\1-\2<mac>", text)
        text = re.sub(r'boundary="[^"]*"', 'boundary="<boundary>"', text)
        if not keep_date:
            text = re.sub(r"^Date: .*$", "Date: <date>", text, flags=re.M)
        text = re.sub(r"/u/[A-Za-z0-9_-]{16,}", "/u/<key>", text)
        for nbsp in ("\u00a0", "\u202f", "&nbsp;", "&#160;", "&#xa0;", "&#8239;", "&#x202f;"):
            text = text.replace(nbsp, " ")
        return text


def render_mail(raw):
    """The readable form of one outgoing mail: headers decoded, then each part decoded (text)
    or summed up (attachments: type, name, size, SHA-256)."""
    m = email.message_from_bytes(raw, policy=email.policy.default)
    out = ["%s: %s" % (k, " ".join(str(v).split())) for k, v in m.items()]
    for part in m.walk():
        if part.is_multipart():
            continue
        ct, name = part.get_content_type(), part.get_filename()
        if name or not ct.startswith("text/"):
            data = part.get_payload(decode=True) or b""
            out.append("--- %s %r, %d bytes, sha256 %s" % (ct, name, len(data), hashlib.sha256(data).hexdigest()))
        else:
            out.append("--- " + ct)
            out.append(part.get_content().replace("\r\n", "\n").rstrip("\n"))
    return "\n".join(out) + "\n"


def check_well_formed(path, raw):
    """CRLF only, no line over 998 octets, one recipient in To."""
    name = os.path.basename(path)
    expect(b"\n" not in raw.replace(b"\r\n", b""), "%s: bare LF" % name)
    expect(all(len(l) <= 998 for l in raw.split(b"\r\n")), "%s: a line over 998 octets" % name)
    m = email.message_from_bytes(raw, policy=email.policy.default)
    expect(len(m.get_all("To") or []) == 1 and len(m["To"].addresses) == 1, "%s: To %r" % (name, m["To"]))


def subset(want, got):
    """got cut down to the shape of want: the same list length, in each object only the keys
    want lists (recursively); anything else as it is."""
    if isinstance(want, dict) and isinstance(got, dict):
        return {k: subset(want[k], got[k]) if k in got else "<missing>" for k in want}
    if isinstance(want, list) and isinstance(got, list) and len(want) == len(got):
        return [subset(w, g) for w, g in zip(want, got)]
    return got


def diff(label, want, got):
    lines = list(difflib.unified_diff(want.splitlines(), got.splitlines(), "expect/" + label, "got", lineterm=""))
    if len(lines) > MAX_DIFF_LINES:
        lines = lines[:MAX_DIFF_LINES] + ["... (%d more lines)" % (len(lines) - MAX_DIFF_LINES)]
    return "\n".join(lines)


class CaseRun:
    """One case being played on a fresh board."""

    def __init__(self, folder, database=None):
        self.folder = folder
        self.expect_dir = os.path.join(folder, "expect")
        self.update = os.environ.get("BIDMAIL_CASES_UPDATE") == "1"
        conf = os.path.join(folder, "bidmail.conf")
        extra = open(conf, encoding="utf-8").read() if os.path.exists(conf) else ""
        self.b = Board(extra, database=database).init()
        self.now = None
        self.sent = []  # (outgoing path, step number, step text, clock of that step)
        self.problems = []
        self.norm = Normaliser()

    def env(self):
        return {"BIDMAIL_NOW": self.now} if self.now else None

    def mail(self, ref):
        if ref.isdigit():
            i = int(ref) - 1
            expect(0 <= i < len(self.sent), "{…:%s}: only %d mails sent so far" % (ref, len(self.sent)))
            return read_mail(self.sent[i][0])[1]
        for path, _, _, _ in reversed(self.sent):
            m = read_mail(path)[1]
            if m["To"].addresses[0].addr_spec == ref:
                return m
        raise Failure("{…:%s}: no mail sent to %s so far" % (ref, ref))

    def value(self, what, ref):
        if what == "file":
            return self.sent[int(ref) - 1][0]
        m = self.mail(ref)
        if what == "reply-to":
            return email.utils.parseaddr(str(m["Reply-To"] or m["From"]))[1]
        if what == "message-id":
            return m["Message-ID"]
        if what == "references":
            return (str(m["References"] or "") + " " + m["Message-ID"]).strip()
        if what == "subject":
            return str(m["Subject"])
        if what == "unsubscribe":
            return str(m["List-Unsubscribe"]).split("mailto:")[1].split("?")[0].split(">")[0]
        if what == "text":
            return "\n".join(m.get_body(("plain",)).get_content().splitlines())
        quote = "\n".join("> " + l for l in m.get_body(("plain",)).get_content().splitlines())
        if what == "quote-qp":
            return quopri.encodestring(quote.encode("utf-8")).decode("ascii")
        return quote

    def fill(self, text):
        return PLACEHOLDER.sub(lambda mo: self.value(mo.group(1), mo.group(2)), text)

    def note_sent(self, number, line):
        for path in self.b.outgoing():
            if path not in (s[0] for s in self.sent):
                self.sent.append((path, number, line, self.now))
                mid = (read_mail(path)[1]["Message-ID"] or "").strip("<>").split("@")[0]
                self.norm.ids.setdefault(mid, "mid-%d" % len(self.sent))

    def golden(self, name, got):
        path = os.path.join(self.expect_dir, name)
        want = open(path, encoding="utf-8").read() if os.path.exists(path) else None
        if want == got:
            return
        if self.update:
            os.makedirs(self.expect_dir, exist_ok=True)
            with open(path, "w", encoding="utf-8") as f:
                f.write(got)
        elif want is None:
            self.problems.append("expect/%s missing; what the binary gives:\n%s" % (name, got[:3000]))
        else:
            self.problems.append(diff(name, want, got))

    def step_deliver(self, args):
        opts = dict(a.split("=", 1) for a in args[1:])
        raw = open(os.path.join(self.folder, args[0]), "rb").read()
        raw = PLACEHOLDER_BYTES.sub(lambda mo: self.value(mo.group(1).decode(), mo.group(2).decode()).encode(), raw)
        m = email.message_from_bytes(raw, policy=email.policy.compat32)
        to = self.fill(opts["to"]) if "to" in opts else email.utils.parseaddr(m["To"] or "")[1]
        sender = self.fill(opts["from"]) if "from" in opts else email.utils.parseaddr(m["From"] or "")[1]
        rc = self.b.deliver(raw, recipient=to, sender=sender, env=self.env())
        expect(rc == 0, "deliver %s exited %d" % (args[0], rc))

    def step_state(self, args):
        listing, name = args
        cmd = listing.split(":") + ["--json"]
        got = json.loads(self.b.run(*cmd, env=self.env()).stdout)
        path = os.path.join(self.expect_dir, name)
        want = json.load(open(path, encoding="utf-8")) if os.path.exists(path) else got
        if subset(want, got) != want:  # compared as values: 800 is 800.0
            self.golden(name, json.dumps(subset(want, got), ensure_ascii=False, indent=1) + "\n")

    def step(self, number, line):
        words = shlex.split(line)
        verb, args = words[0], words[1:]
        if verb == "now":
            self.now = args[0]
        elif verb == "deliver":
            self.step_deliver(args)
        elif verb == "run":
            self.b.run("run", "--once", env=self.env())
        elif verb == "digest":
            self.now = args[0]
            self.b.run("digest", "--at", args[0], env=self.env())
        elif verb == "send":
            self.b.run("send", "--once", env=self.env())
        elif verb == "bidmail":
            target = None
            if len(args) >= 2 and args[-2] == ">":
                args, target = args[:-2], args[-1]
            out = self.b.run(*[self.fill(a) for a in args], env=self.env()).stdout.decode("utf-8", "replace")
            if target:
                self.golden(target, self.norm(out))
        elif verb == "state":
            self.step_state(args)
        elif verb == "spool":
            got = len(self.b.files(args[0]))
            if got != int(args[1]):
                self.problems.append("step %d (%s): spool/%s holds %d files" % (number, line, args[0], got))
        elif verb == "reason":
            d = os.path.join(self.b.spool, "failed")
            reasons = [open(os.path.join(d, f), encoding="utf-8", errors="replace").read()
                       for f in self.b.files("failed") if f.endswith(".reason")]
            if not any(args[0] in r for r in reasons):
                self.problems.append("step %d (%s): reasons %r" % (number, line, reasons))
        else:
            raise Failure("%s/steps:%d: unknown step %r" % (os.path.basename(self.folder), number, verb))
        self.note_sent(number, line)

    def play(self):
        with open(os.path.join(self.folder, "steps"), encoding="utf-8") as f:
            lines = [(i + 1, l.split(" #")[0].strip()) for i, l in enumerate(f) if not l.lstrip().startswith("#")]
        for number, line in lines:
            if line:
                self.step(number, line)
        names = []
        for i, (path, number, line, now) in enumerate(self.sent):
            raw = read_mail(path)[0]
            try:
                check_well_formed(path, raw)
            except Failure as e:
                self.problems.append("mail %d: %s" % (i + 1, e))
            name = "%04d.mail" % (i + 1)
            names.append(name)
            self.golden(name, self.norm("# steps:%d %s\n%s" % (number, line, render_mail(raw)), keep_date=bool(now)))
        stale = sorted(set(os.path.basename(p) for p in glob.glob(os.path.join(self.expect_dir, "*.mail"))) - set(names))
        if stale and self.update:
            for name in stale:
                os.unlink(os.path.join(self.expect_dir, name))
        elif stale:
            self.problems.append("mails expected but not sent: %s" % ", ".join(stale))
        if self.problems:
            raise Failure("case %s:\n%s" % (os.path.basename(self.folder), "\n".join(self.problems)))


def what_it_proves(folder):
    with open(os.path.join(folder, "case"), encoding="utf-8") as f:
        return f.readline().strip()


def run_case(folder, database=None):
    """Plays the case on a fresh board; database: its `database` value (a fresh PostgreSQL
    database, say), else the board's own SQLite file."""
    r = CaseRun(folder, database)
    try:
        r.play()
    finally:
        if not os.environ.get("BIDMAIL_TEST_KEEP"):
            r.b.cleanup()


def case_tests():
    """{test name: function} for every case folder, in folder order; the test's docstring is
    the first line of the case file."""
    tests = {}
    for folder in sorted(glob.glob(os.path.join(CASES, "[0-9][0-9][0-9][0-9]-*"))):
        name = "test_case_" + os.path.basename(folder).replace("-", "_")
        fn = (lambda f: lambda: run_case(f))(folder)
        fn.__doc__ = what_it_proves(folder)
        fn.folder = folder
        tests[name] = fn
    return tests


def main():
    args = [a for a in sys.argv[1:] if a != "--postgresql"]
    board.BIDMAIL = os.path.abspath(args[0])
    only = args[1] if len(args) > 1 else ""
    pg = None
    if "--postgresql" in sys.argv:
        from pg import Postgres
        pg = Postgres()
    passed = failed = 0
    for name, fn in case_tests().items():
        if only not in name:
            continue
        try:
            if pg:
                run_case(fn.folder, database=pg.new_database(name.lower()))
            else:
                fn()
            passed += 1
            print("ok   %s" % name[5:], flush=True)
        except Failure as e:
            failed += 1
            print("FAIL %s: %s\n     (%s)" % (name[5:], e, fn.__doc__), flush=True)
    if pg:
        pg.cleanup()
    print("%d passed, %d failed" % (passed, failed))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
