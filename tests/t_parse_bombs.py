# t_parse_bombs.py — hostile mail against the parsers and the spool (issue 11, items 1, 2, 5).
# Exec'd in suite.py's namespace (Board, expect, post_mail, Failure, ...). Every bomb is
# generated here, at test time; every wait is bounded.
import ctypes


TEXT = "Content-Type: text/plain; charset=utf-8\n\nBonjour,\nNous cherchons un traducteur.\n"


def bomb_head(subject="bomb", sender="bomb@attacker.example"):
    return ("From: %s\nTo: post@example.org\nSubject: %s\nMessage-ID: <%s@attacker.example>\n"
            "MIME-Version: 1.0\n" % (sender, subject, os.urandom(6).hex()))


def rfc822_bomb(levels, header="Content-Type : message/rfc822", subject="bomb"):
    """levels nested message/rfc822 parts, in the spelling `header` (libetpan recurses once
    per level: 30,000 levels overflow its stack)."""
    return bomb_head(subject) + (header + "\n\nSubject: inner\n") * levels + TEXT


def boundary_bomb(levels, param='boundary = "b%d"', header="Content-Type", subject="bomb"):
    """levels nested multiparts whose boundary parameter is spelled `param`."""
    parts = [bomb_head(subject)]
    for i in range(levels):
        parts.append("%s: multipart/mixed; %s\n\n--b%d\n" % (header, param % i, i))
    parts.append(TEXT)
    return "".join(parts)


def undelimited_bomb(levels, subject="bomb"):
    """levels multiparts whose bodies have no delimiter: libetpan reads each body as one
    part, header included, so each is a level (30,000 overflow its stack)."""
    return bomb_head(subject) + "".join("Content-Type: multipart/mixed; boundary=u%d\n\n" % i
                                        for i in range(levels)) + TEXT


def digest_bomb(digests, subject="bomb"):
    """digests nested multipart/digest, each part without Content-Type (so message/rfc822,
    the digest default): two levels each."""
    parts = [bomb_head(subject)]
    for i in range(digests):
        parts.append("Content-Type: multipart/digest; boundary=d%d\n\n--d%d\nX-Part: %d\n\n"
                     % (i, i, i))
    parts.append("Subject: inner\n" + TEXT)
    return "".join(parts)


def comment_bomb(levels):
    """A From header with `levels` nested comments (libetpan parses comments recursively)."""
    return ("From: bomb@attacker.example %s%s\nTo: post@example.org\nSubject: c\n"
            "Message-ID: <c@attacker.example>\n\nhi\n" % ("(" * levels, ")" * levels))


def html_mail(html, subject="Site vitrine"):
    return bomb_head(subject) + "Content-Type: text/html; charset=utf-8\n\n" + html + "\n"


def html_attribute_bomb(n=120000):
    """One element with n distinct attributes: libxml2 checks each against all the others."""
    return html_mail("<p " + " ".join("a%d=1" % i for i in range(n)) + ">x</p>")


def html_names_bomb(n=48000):
    """n elements of 10 attributes, every name distinct: libxml2 2.9's cost grows with the
    square of the distinct names it has met (5 MB: 36 s)."""
    return html_mail("".join("<p " + " ".join("a%d_%d=1" % (j, i) for i in range(10)) + ">"
                             for j in range(n)))


def html_entity_bomb(n=200000):
    return html_mail("<p>" + "".join("&x%d; <t%d>" % (j, j) for j in range(n)) + "</p>")


def slow_post(subject="Gros cahier des charges", words=450000):
    """A legitimate 4 MB post: parsing, classification and extraction take a while (the
    tests freeze or crash the board during that time)."""
    body = "Bonjour,\n" + "\n".join(" ".join("mot%d" % (i * 9 + k) for k in range(9))
                                    for i in range(words // 9)) + "\n"
    return post_mail(subject=subject, body=body, sender="gros@client.fr")


def reasons(b):
    out = {}
    for f in b.files("failed"):
        if f.endswith(".reason"):
            with open(os.path.join(b.spool, "failed", f), errors="replace") as r:
                out[f[:-len(".reason")]] = r.read()
    return out


def deliver_named(b, raw, key):
    """Delivers raw and returns its spool name (the newest file in incoming/new)."""
    before = set(b.files("incoming/new"))
    expect(b.deliver(raw) == 0, "deliver failed for %s" % key)
    new = sorted(set(b.files("incoming/new")) - before)
    expect(len(new) == 1, "deliver of %s made %r" % (key, new))
    return new[0]


def titles(b):
    return sorted(p["title"] for p in b.projects())


def hostile_inputs_bomb(b):
    """The hostile mails of items 1 and 2, for the budget test: each must end quarantined
    (nesting, comments) or stored with its HTML bounded, never stop the board."""
    mails = [
        ("rfc822 nesting, `Content-Type :`", rfc822_bomb(30000)),
        ("rfc822 nesting, `Content-Type<TAB>:`", rfc822_bomb(30000, "Content-Type\t: message/rfc822")),
        ("rfc822 nesting, folded", rfc822_bomb(20000, "Content-Type:\n message/rfc822")),
        ("multipart nesting, `boundary = \"b\"`", boundary_bomb(16000)),
        ("multipart nesting, commented boundary", boundary_bomb(16000, 'boundary=(x)"b%d"')),
        ("nested comments in From", comment_bomb(300000)),
        ("multipart bodies without delimiters", undelimited_bomb(30000)),
        ("HTML, 120,000 attributes on one element", html_attribute_bomb()),
        ("HTML, 480,000 distinct attribute names", html_names_bomb()),
        ("HTML, 200,000 distinct entities and elements", html_entity_bomb()),
    ]
    return [(label, "post@example.org", "bomb@attacker.example", raw.encode()) for label, raw in mails]


# ------------------------------------------------------------------ item 1: the pre-scan

def test_bomb_nesting_in_every_spelling_quarantined():
    """30,000 nested `Content-Type : message/rfc822` (the mail that crashed the daemon on
    every restart), the same with a tab before the colon and folded, 16,000 multiparts
    with `boundary = "b"` or a commented boundary, 30,000 multiparts without delimiters (each
    body read as a part) and 300,000 nested comments in From: each
    is quarantined by the pre-scan with its reason, in well under a second, and the posts
    delivered after them are stored (max_header_size is raised to 1M so that the comments
    fit in a header section)."""
    b = Board("max_header_size = 1M\n").init()
    names = {}
    for label, _, _, raw in hostile_inputs_bomb(b)[:7]:
        names[deliver_named(b, raw, label)] = label
    for i in range(3):
        b.deliver(post_mail(subject="Projet après la bombe %d" % i, sender="c%d@client.fr" % i))
    t = time.time()
    p = b.run("run", "--once", timeout=120, check=False)
    took = time.time() - t
    print("     (7 bombs and 3 posts processed in %.2f s)" % took)
    expect(p.returncode == 0, "run exited %d: %s" % (p.returncode, p.stderr.decode()[-800:]))
    r = reasons(b)
    for name, label in names.items():
        expect(name in r, "%s not quarantined (failed/: %r)" % (label, sorted(r)))
        want = ("comments nested", "64") if "comments" in label else ("nesting", "100")
        expect(all(w in r[name] for w in want), "%s: reason %r" % (label, r[name]))
    expect(titles(b) == ["Projet après la bombe %d" % i for i in range(3)], "projects %r" % titles(b))
    expect(took < 20, "took %.1f s" % took)


def test_bomb_deep_quarantined_shallow_equivalent_stored():
    """For every spelling the parser accepts — `Content-Type :`, a tab before the colon,
    lower case, a header folded before or after the value, `boundary = "b"`, a commented
    boundary, a digest whose parts default to message/rfc822, multipart bodies without a
    delimiter (libetpan reads each as one part) — a message nested one level
    deeper than max_mime_depth is quarantined with the nesting reason, and the same message
    at exactly max_mime_depth is parsed and stored: the pre-scan counts what libetpan
    builds (tests/unit.c checks the same on 3,000 generated variants against libetpan's
    tree)."""
    depth = 6
    b = Board("max_mime_depth = %d\n" % depth).init()
    spellings = {
        "space before colon": lambda n, s: boundary_bomb(n, "boundary=b%d", "Content-Type ", s),
        "tab before colon": lambda n, s: boundary_bomb(n, "boundary=b%d", "Content-Type\t", s),
        "lower case": lambda n, s: boundary_bomb(n, "BOUNDARY=b%d", "content-type", s),
        "spaces around =": lambda n, s: boundary_bomb(n, 'boundary = "b%d"', subject=s),
        "folded parameter": lambda n, s: boundary_bomb(n, '\n boundary\n = "b%d"', subject=s),
        "commented boundary": lambda n, s: boundary_bomb(n, 'boundary=(c)"b%d"(c)', subject=s),
        "rfc822 with spaces": lambda n, s: rfc822_bomb(n, "Content-Type : message/rfc822", s),
        "rfc822 folded": lambda n, s: rfc822_bomb(n, "Content-Type:\n\tMessage/RFC822", s),
        "digest defaults": lambda n, s: digest_bomb(n // 2, s),
        "bodies without delimiters": lambda n, s: undelimited_bomb(n, s),
    }
    deep, shallow = {}, {}
    # one poster each: an address may have only 5 unconfirmed posts waiting
    def own(raw, i):
        return raw.replace("bomb@attacker.example", "poster%d@client.example" % i, 1)
    for i, (label, make) in enumerate(spellings.items()):
        deep[deliver_named(b, own(make(depth + 2 if "digest" in label else depth + 1,
                                       "Trop " + label), i), label)] = label
        shallow[deliver_named(b, own(make(depth, "Projet " + label), 100 + i),
                              label + " (at the limit)")] = label
    b.run("run", "--once", timeout=120)
    r = reasons(b)
    for name, label in deep.items():
        expect(name in r and "nesting deeper than %d" % depth in r[name],
               "%s, one level too deep: not quarantined for nesting (%r)" % (label, r.get(name)))
    for name, label in shallow.items():
        expect(name not in r, "%s at the limit quarantined: %r" % (label, r.get(name)))
    expect(len(b.projects()) == len(shallow), "projects %r" % titles(b))


# ------------------------------------------------------------------ item 2: HTML and budgets

def test_bomb_html_names_and_attributes_bounded():
    """One HTML element with 120,000 attributes (libxml2's duplicate check: 40 s), 480,000
    distinct attribute names (36 s) and 200,000 distinct entities and element names: each
    is stored as a post in seconds, because only tags without attributes and with known
    names reach libxml2, and a post delivered after them is stored too."""
    b = Board().init()
    for label, _, _, raw in hostile_inputs_bomb(b)[7:]:
        deliver_named(b, raw, label)
    b.deliver(post_mail(subject="Projet après le HTML", sender="apres@client.fr"))
    t = time.time()
    p = b.run("run", "--once", timeout=300, check=False)
    took = time.time() - t
    print("     (3 HTML bombs and a post in %.2f s)" % took)
    expect(p.returncode == 0, "run exited %d" % p.returncode)
    expect(took < 20, "the HTML bombs took %.1f s" % took)
    expect("Projet après le HTML" in titles(b), "projects %r" % titles(b))
    expect(len(b.projects()) + len(reasons(b)) == 4, "lost: %r / %r" % (titles(b), reasons(b)))


def test_bomb_range_chain_bounded():
    """A body "Budget 3-3-3-…-4k" (300,000 range connectors): the amount reader read the
    second half of a range with itself, once per connector, and overflowed its stack (parse
    exit 139, the daemon killed). Now `parse` answers in seconds, the daemon stores it as a
    post, and a real range still reads."""
    b = Board().init()
    raw = (bomb_head("Site chain") + "Content-Type: text/plain; charset=utf-8\n\nBudget "
           + "3-" * 300000 + "4k\n")
    path = os.path.join(b.dir, "chain.eml")
    with open(path, "w") as f:
        f.write(raw)
    t = time.time()
    p = b.run("parse", "--as", "post", path, timeout=60, check=False)
    took = time.time() - t
    print("     (parse in %.2f s)" % took)
    expect(p.returncode == 0, "parse exited %d: %s" % (p.returncode, p.stderr[-300:]))
    expect(json.loads(p.stdout)["post"] is not None, "no post read")
    expect(took < 20, "the range chain took %.1f s" % took)
    deliver_named(b, raw, "chain")
    b.deliver(post_mail(subject="Projet après la chaîne", sender="apres@client.fr",
                        body="Bonjour,\nUn site vitrine, budget 3-4k.\nMerci\n"))
    p = b.run("run", "--once", timeout=300, check=False)
    expect(p.returncode == 0, "run exited %d" % p.returncode)
    expect("Projet après la chaîne" in titles(b), "projects %r" % titles(b))
    expect(len(b.projects()) + len(reasons(b)) == 2, "lost: %r / %r" % (titles(b), reasons(b)))


def prep_thread(pid):
    """The thread id of the prefetch (parsing) thread of process pid — named bidmail-prep,
    else (an older build) the busiest thread other than the main one — or None."""
    others = []
    try:
        for tid in os.listdir("/proc/%d/task" % pid):
            with open("/proc/%d/task/%s/comm" % (pid, tid)) as f:
                if f.read().strip() == "bidmail-prep":
                    return int(tid)
            if int(tid) != pid:
                others.append((thread_cpu(pid, int(tid)), int(tid)))
    except OSError:
        pass
    return max(others)[1] if others else None


def thread_cpu(pid, tid):
    """CPU seconds (user + system) used by thread tid of pid."""
    with open("/proc/%d/task/%d/stat" % (pid, tid)) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_on_slow(b, extra_env=None):
    """Starts `run --once` and returns (process, prep tid) once the parsing thread has been
    busy for 0.1 s of CPU on the slow post (the first file); bounded to 60 s."""
    d = subprocess.Popen([BIDMAIL, "--config", b.conf, "run", "--once"], cwd=b.dir,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 60
    while time.time() < deadline:
        tid = prep_thread(d.pid)
        try:
            if tid and thread_cpu(d.pid, tid) >= 0.1:
                return d, tid
        except OSError:
            pass
        if d.poll() is not None:
            break
        time.sleep(0.005)
    d.kill()
    d.wait()
    raise Failure("the parsing thread never got busy on the slow post (rc %r)" % d.returncode)


def slow_board(extra=""):
    b = Board(extra).init()
    slow = deliver_named(b, slow_post(), "slow post")
    for i in range(3):
        b.deliver(post_mail(subject="Projet sain %d" % i, sender="sain%d@client.fr" % i))
    return b, slow


def test_bomb_crash_while_parsing_quarantined_at_next_start():
    """A fault in the parsing thread (SIGSEGV sent to that thread while it parses a 4 MB
    post, as a parser's stack overflow would raise) stops the run; the next start moves that
    post to failed/ with "crashed (signal 11) while the board was parsing it" as its reason
    and stores the three posts that were waiting behind it."""
    b, slow = slow_board()
    d, tid = start_on_slow(b)
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall(234, d.pid, tid, signal.SIGSEGV)  # tgkill on x86-64
    try:
        d.wait(timeout=30)
    except subprocess.TimeoutExpired:
        d.kill()
        d.wait()
        raise Failure("the board survived a SIGSEGV in its parsing thread")
    expect(d.returncode == -signal.SIGSEGV, "exit %r" % d.returncode)
    expect(slow in b.files("incoming/new"), "the slow post left new/ before the restart")
    b.run("run", "--once", timeout=120)
    r = reasons(b)
    expect(slow in r and "crashed (signal 11)" in r[slow] and "parsing" in r[slow],
           "not quarantined with the crash: %r" % r)
    expect(titles(b) == ["Projet sain %d" % i for i in range(3)], "projects %r" % titles(b))
    expect(not os.path.exists(os.path.join(b.spool, "tmp", "ingest.verdict")), "verdict left")


def test_bomb_over_time_budget_quarantined():
    """A message that takes longer than max_message_time (the board frozen for 3 s with
    SIGSTOP while it parses the slow post, budget 1 s) is quarantined with the time budget
    as its reason — by the watchdog (the run stops with exit 75, the next start sets it
    aside) or by the measure at the end of its parse — and the other posts are stored."""
    b, slow = slow_board("max_message_time = 1s\n")
    d, tid = start_on_slow(b)
    os.kill(d.pid, signal.SIGSTOP)
    time.sleep(3)
    os.kill(d.pid, signal.SIGCONT)
    try:
        d.wait(timeout=60)
    except subprocess.TimeoutExpired:
        d.kill()
        d.wait()
        raise Failure("the run did not end after the budget")
    err = d.stderr.read().decode("utf-8", "replace")
    expect(d.returncode in (0, 75), "exit %r: %s" % (d.returncode, err[-600:]))
    b.run("run", "--once", timeout=120)
    r = reasons(b)
    expect(slow in r and "time budget" in r[slow] and "max_message_time" in r[slow],
           "not quarantined for its time (exit %d): %r" % (d.returncode, r))
    expect(titles(b) == ["Projet sain %d" % i for i in range(3)], "projects %r" % titles(b))


def read_marks(b):
    """The in-flight marks of every ingester (spool/tmp/ingest.inflight.PID): one name per
    guard slot, '' when the slot is idle, all files' slots in one list; None when there is no
    mark file."""
    tmp = os.path.join(b.spool, "tmp")
    files = sorted(n for n in os.listdir(tmp) if n.startswith("ingest.inflight"))
    if not files:
        return None
    marks = []
    for n in files:
        try:
            with open(os.path.join(tmp, n), "rb") as f:
                raw = f.read()
        except OSError:
            continue
        marks += [raw[k:k + 512].split(b"\0")[0].decode("utf-8", "replace").strip()
                  for k in range(0, len(raw), 512)]
    return marks


def read_killed(b):
    """spool/tmp/ingest.killed as {name: kills}, {} when absent."""
    try:
        with open(os.path.join(b.spool, "tmp", "ingest.killed")) as f:
            return {l.split(" ", 2)[2]: int(l.split(" ", 2)[0])
                    for l in f.read().splitlines() if l.count(" ") >= 2}
    except OSError:
        return {}


def test_bomb_kill9_while_parsing_is_not_a_verdict():
    """A SIGKILL from outside while a post is parsed (an operator, a kill -9) leaves no
    verdict, only a mark: the next start makes that post a suspect, tries it in a separate
    process (which passes), processes it alone first, and, its work ended, stores it and
    forgets it; nothing is quarantined."""
    b, slow = slow_board()
    d, tid = start_on_slow(b)
    d.kill()
    d.wait()
    marks = read_marks(b)
    expect(marks and slow in marks, "the post in work was not marked: %r" % marks)
    b.run("run", "--once", timeout=120)
    expect(reasons(b) == {}, "quarantined after a plain kill: %r" % reasons(b))
    expect(len(b.projects()) == 4, "projects %r" % titles(b))
    expect(read_killed(b) == {}, "the kill outlived the post's work: %r" % read_killed(b))
    expect(read_marks(b) is None, "the mark outlived a clean run")


def test_bomb_second_ingester_does_not_suspect_the_first():
    """Two ingesters on one spool (the daemon and a `run --once` beside it): each keeps its
    marks in its own locked file, so the second one, started while the first parses a post,
    neither takes that post for one that killed a run (no suspect, no trial) nor wipes the
    first's mark; the first's file, left by its kill, is taken up by the next start, and a
    clean run leaves no mark file."""
    b, slow = slow_board()
    d, tid = start_on_slow(b)
    # held in the middle of that post (SIGSTOP) while the second starts: on a loaded machine
    # the first would otherwise finish the post first and prove nothing
    os.kill(d.pid, signal.SIGSTOP)
    second = None
    try:
        second, tid2 = start_on_slow(b)
        marks = read_marks(b)
        first_alive = d.poll() is None
        expect(marks and marks.count(slow) == 2,
               "both ingesters' marks do not name the post (first alive: %r): %r"
               % (first_alive, marks))
    finally:
        d.kill()
        d.wait()
    try:
        out, err = second.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        second.kill()
        second.wait()
        raise Failure("the second ingester did not end")
    err = err.decode("utf-8", "replace")
    expect(second.returncode == 0, "second run exited %r: %s" % (second.returncode, err[-800:]))
    expect("result=suspect" not in err and "trying-alone" not in err,
           "the second ingester suspected the first's post: %s" % err[-800:])
    expect(read_killed(b) == {}, "a suspect was recorded: %r" % read_killed(b))
    b.run("run", "--once", timeout=120)
    expect(reasons(b) == {}, "quarantined: %r" % reasons(b))
    expect(len(b.projects()) == 4, "projects %r" % titles(b))
    expect(read_marks(b) is None, "a mark file outlived a clean run: %r"
           % os.listdir(os.path.join(b.spool, "tmp")))


def children_of(pid):
    """The pids of the child processes of pid (every thread's list), [] when it is gone."""
    out = []
    try:
        for tid in os.listdir("/proc/%d/task" % pid):
            with open("/proc/%d/task/%s/children" % (pid, tid)) as f:
                out += [int(x) for x in f.read().split()]
    except OSError:
        pass
    return out


def run_signalling_trial(b, sig, at_trial=lambda: None):
    """Runs `run --once` and, the moment its trial process appears (at most 30 s), calls
    at_trial() and sends the trial sig. Returns (the run's process, ended; the trial's pid or
    None; at_trial's result; the run's stderr)."""
    d = subprocess.Popen([BIDMAIL, "--config", b.conf, "run", "--once"], cwd=b.dir,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    trial, seen = None, None
    for _ in range(6000):  # at most 30 s
        kids = children_of(d.pid)
        if kids:
            seen = at_trial()
            trial = kids[0]
            os.kill(trial, sig)
            break
        if d.poll() is not None:
            break
        time.sleep(0.005)
    try:
        out, err = d.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        d.kill()
        d.wait()
        raise Failure("the run did not end after its trial got signal %d" % sig)
    return d, trial, seen, err.decode("utf-8", "replace")


def test_bomb_killed_twice_set_aside_at_its_trial():
    """A post that gets the board killed from outside while it parses it (the kernel's
    out-of-memory killer, say: SIGKILL, no verdict possible), however soon (here 0.1 s of CPU
    into its parse), is named by the mark written before its work began. The next start makes
    it a suspect (spool/tmp/ingest.killed) and, before anything else, parses it alone in a
    separate process; that process is killed too (SIGKILL, as the killer would take the
    process that balloons): the post is set aside at once with a reason saying it killed the
    gateway twice, nothing lost (the file is in failed/), and the same run stores the three
    posts waiting behind it."""
    b, slow = slow_board()
    d, tid = start_on_slow(b)
    d.kill()
    d.wait()
    expect(reasons(b) == {}, "set aside after one kill: %r" % reasons(b))
    d, trial, seen, err = run_signalling_trial(b, signal.SIGKILL,
                                               lambda: (read_killed(b), titles(b)))
    killed, stored = seen or (None, None)
    expect(trial, "no trial process was seen (rc %r): %s" % (d.returncode, err[-800:]))
    expect(d.returncode == 0, "run exited %r: %s" % (d.returncode, err[-800:]))
    expect(killed == {slow: 1}, "the first kill was not counted on the post: %r" % killed)
    expect(stored == [], "posts stored before the suspect's trial: %r" % stored)
    r = reasons(b)
    expect(slow in r and "killed the gateway twice" in r[slow] and "signal 9" in r[slow],
           "not set aside after its trial was killed: %r" % r)
    expect(os.path.exists(os.path.join(b.spool, "failed", slow)), "the post itself is not in failed/")
    expect(titles(b) == ["Projet sain %d" % i for i in range(3)], "projects %r" % titles(b))
    expect(read_killed(b) == {}, "ingest.killed left: %r" % read_killed(b))
    expect(read_marks(b) is None, "the mark outlived a clean run")


def test_bomb_trial_that_cannot_run_leaves_the_suspect_waiting():
    """A suspect whose trial process cannot do its work (here the board runs under the
    dynamic loader, so the trial it starts from its own executable is the loader, which
    refuses its arguments: as a trial that cannot start when memory is short) is neither taken
    as passed nor parsed with the others: the run says the trial failed and will be tried
    again, stores the three posts behind it, and leaves the suspect waiting in new/ with its
    one kill; the next ordinary run tries it, it passes and is stored."""
    repo = os.path.dirname(os.path.abspath(BIDMAIL))
    if not os.path.isdir(os.path.join(repo, "contrib")):
        repo = os.path.dirname(repo)  # a build folder (build-asan/) inside the tree
    b, slow = slow_board("data_dir = %s/contrib\ntemplates = %s/mail-templates\n"
                         % (repo, repo))
    d, tid = start_on_slow(b)
    d.kill()
    d.wait()
    loader = "/lib64/ld-linux-x86-64.so.2"
    if not os.path.exists(loader):
        raise Failure("this test runs the board under the x86-64 glibc loader: %s is missing"
                      % loader)
    p = subprocess.run([loader, BIDMAIL, "--config", b.conf, "run", "--once"], cwd=b.dir,
                       capture_output=True, timeout=120)
    err = p.stderr.decode("utf-8", "replace")
    expect(p.returncode == 0, "run under the loader exited %r: %s" % (p.returncode, err[-800:]))
    expect("result=trial-failed" in err and "ended with status 1" in err,
           "no failed trial logged: %s" % err[-800:])
    expect(titles(b) == ["Projet sain %d" % i for i in range(3)], "projects %r" % titles(b))
    expect(slow in b.files("incoming/new"), "the suspect left new/ without a trial")
    expect(read_killed(b) == {slow: 1}, "the suspect's record changed: %r" % read_killed(b))
    expect(reasons(b) == {}, "quarantined: %r" % reasons(b))
    b.run("run", "--once", timeout=120)
    expect(len(b.projects()) == 4, "projects after its trial %r" % titles(b))
    expect(read_killed(b) == {} and reasons(b) == {}, "left: %r %r" % (read_killed(b), reasons(b)))


def test_bomb_reload_signal_to_the_trial_is_no_verdict():
    """A reload or stop sent to every bidmail process (`pkill -HUP bidmail` for a log
    rotation) reaches the suspect's trial too: that is not the message's doing, so the trial
    goes on (it ignores SIGHUP and SIGTERM; the daemon decides when it stops), passes, and
    the suspect is stored with the others; nothing is quarantined. A signal that still ends
    the trial without being a crash or SIGKILL (SIGUSR1 here) gives no verdict either: the
    suspect waits for its next trial."""
    for sig, stored_after in ((signal.SIGHUP, 4), (signal.SIGUSR1, 3)):
        b, slow = slow_board()
        d, tid = start_on_slow(b)
        d.kill()
        d.wait()
        d, trial, _, err = run_signalling_trial(b, sig)  # at once: a HUP is held back
        expect(trial, "no trial process was seen (rc %r): %s" % (d.returncode, err[-800:]))
        expect(d.returncode == 0, "run exited %r: %s" % (d.returncode, err[-800:]))
        expect(reasons(b) == {}, "signal %d: quarantined %r" % (sig, reasons(b)))
        expect(len(b.projects()) == stored_after, "signal %d: projects %r" % (sig, titles(b)))
        if stored_after == 3:
            expect("not the message's doing" in err, "signal %d: %s" % (sig, err[-800:]))
            expect(read_killed(b) == {slow: 1}, "signal %d: %r" % (sig, read_killed(b)))


def test_bomb_killed_after_its_trial_passed_set_aside_at_five():
    """A post whose trial in a separate process passes but that still gets the board killed
    while the board works on it alone (a kill that depends on the daemon, not the parse)
    is set aside after five such kills, the reason saying so; until then it stays waiting,
    and the posts behind it are stored once it is set aside."""
    b, slow = slow_board()
    d, tid = start_on_slow(b)
    d.kill()
    d.wait()
    path = os.path.join(b.spool, "tmp", "ingest.killed")
    for kill in range(5):
        d, tid = start_on_slow(b)  # after its trial, alone, in the parsing thread
        d.kill()
        d.wait()
        with open(path) as f:
            line = f.read().strip()
        expect(line == "1 %d %s" % (kill + 1, slow), "after kill %d: ingest.killed %r"
               % (kill + 1, line))
        expect(reasons(b) == {} and titles(b) == [], "kill %d: %r / %r"
               % (kill + 1, reasons(b), titles(b)))
    b.run("run", "--once", timeout=120)
    r = reasons(b)
    expect(slow in r and "5 times" in r[slow] and "after a trial parse" in r[slow],
           "not set aside after five kills past its trial: %r" % r)
    expect(titles(b) == ["Projet sain %d" % i for i in range(3)], "projects %r" % titles(b))
    expect(read_killed(b) == {}, "ingest.killed left: %r" % read_killed(b))


def test_bomb_parse_does_not_hold_the_write_lock():
    """While the parsing thread works on the slow post, with a post already handled in the
    batch, the database is not write-locked: another writer (the one-click endpoint, a
    second command) gets BEGIN IMMEDIATE at once instead of waiting for the parse."""
    b = Board().init()
    b.deliver(post_mail(subject="Projet d'abord", sender="abord@client.fr"))
    slow = deliver_named(b, slow_post(), "slow post")
    d, tid = start_on_slow(b)
    try:
        db = sqlite3.connect(os.path.join(b.dir, "var", "bidmail.db"), timeout=0.3)
        t = time.time()
        try:
            db.execute("BEGIN IMMEDIATE")
            db.execute("ROLLBACK")
            locked = None
        except sqlite3.OperationalError as e:
            locked = "%s after %.2f s" % (e, time.time() - t)
        db.close()
        still = os.path.exists("/proc/%d/task/%d" % (d.pid, tid)) or None
    finally:
        d.wait(timeout=120)
    expect(still is not None, "the parse was over before the check: the test proved nothing")
    expect(locked is None, "write lock held during the parse: %s" % locked)
    expect(d.returncode == 0 and len(b.projects()) == 2, "rc %r, projects %r" % (d.returncode, titles(b)))


# ------------------------------------------------------------------ item 5: not mail

def test_bomb_spool_entries_that_are_not_mail_set_aside():
    """A directory, a FIFO, a symlink to a post outside the spool and a symlink to /dev/zero
    in incoming/new: `run --once` neither stops (exit 75) nor hangs; each is moved to failed/
    with a reason naming what it is, the symlink's target is never read or moved, and the
    real post is stored."""
    b = Board().init()
    new = os.path.join(b.spool, "incoming", "new")
    outside = os.path.join(b.dir, "outside.eml")
    with open(outside, "w") as f:
        f.write(post_mail(subject="Lu par un lien", sender="lien@client.fr"))
    os.mkdir(os.path.join(new, "0000000001.000001.P1.Rdir"))
    os.mkfifo(os.path.join(new, "0000000001.000002.P1.Rfifo"))
    os.symlink(outside, os.path.join(new, "0000000001.000003.P1.Rlink"))
    os.symlink("/dev/zero", os.path.join(new, "0000000001.000004.P1.Rzero"))
    b.deliver(post_mail(subject="Le vrai projet", sender="vrai@client.fr"))
    try:
        p = b.run("run", "--once", timeout=30, check=False)
    except subprocess.TimeoutExpired:
        raise Failure("run hung on the spool entries")
    expect(p.returncode == 0, "run exited %d: %s" % (p.returncode, p.stderr.decode()[-600:]))
    r = reasons(b)
    want = {"Rdir": "directory", "Rfifo": "FIFO", "Rlink": "symbolic link", "Rzero": "symbolic link"}
    for suffix, what in want.items():
        name = "0000000001.00000%d.P1.R%s" % (list(want).index(suffix) + 1, suffix[1:])
        expect(name in r and what in r[name], "%s: %r" % (name, r.get(name)))
    expect(titles(b) == ["Le vrai projet"], "projects %r" % titles(b))
    expect(os.path.isfile(outside) and os.path.islink(os.path.join(b.spool, "failed", "0000000001.000003.P1.Rlink")),
           "the link's target was moved or the link followed")
    expect(b.files("incoming/new") == [], "left in new/: %r" % b.files("incoming/new"))
    log = p.stderr.decode()
    expect(log.count("result=quarantined") >= 4, "not logged: %s" % log[-800:])
