"""board.py — generated boards for the scale benchmarks (digest_bench, idle_bench, alert_bench).

A fresh board folder made by `bidmail init` (the real schema), then subscribers, their patterns
and projects inserted straight into its database with sqlite3, in batches: subscribers active and
confirmed, 1 to 3 patterns each drawn from the skills vocabulary (contrib/skills.txt), projects of
about 1.5 KB naming 2 skills of the same pool, so that a pattern matches a few percent of them.
In: the bidmail binary, a folder, sizes. Out: the board (bidmail.conf, var/bidmail.db, spool/).
"""
import os
import random
import re
import sqlite3
import subprocess
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
POOL = 60           # the skills patterns and projects draw from: 2 of 60 named, ~3% per pattern
BATCH = 10000       # rows per transaction


def skills_pool(n=POOL):
    """The first n canonical skills of contrib/skills.txt that are searched by themselves."""
    out = []
    with open(os.path.join(ROOT, "contrib", "skills.txt"), encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            canon = line.split("|")[0].strip()
            if canon.startswith("=") or " " in canon:
                continue
            out.append(canon)
            if len(out) == n:
                break
    return out


def vocabulary_words():
    """Every word of every alias in contrib/skills.txt: kept out of the filler text."""
    words = set()
    with open(os.path.join(ROOT, "contrib", "skills.txt"), encoding="utf-8") as f:
        for line in f:
            if line.startswith("#"):
                continue
            for alias in line.replace("=", "").split("|"):
                words.update(re.findall(r"[\w.+#-]+", alias.lower()))
    return words


FILLER = ("nous cherchons une personne sérieuse pour reprendre notre projet existant avec soin "
          "le travail comprend une analyse des besoins une proposition chiffrée puis la "
          "réalisation par étapes validées ensemble chaque semaine avec un point téléphonique "
          "les documents seront fournis au démarrage ainsi que les accès nécessaires merci de "
          "préciser vos disponibilités vos références récentes et le délai que vous proposez "
          "la mission peut se faire entièrement à distance selon votre organisation habituelle")


def filler_text(size, rnd):
    """About size bytes of neutral French, without any word of the skills vocabulary."""
    banned = vocabulary_words()
    words = [w for w in FILLER.split() if w not in banned]
    out, n = [], 0
    while n < size:
        w = rnd.choice(words)
        out.append(w)
        n += len(w.encode()) + 1
    return " ".join(out)


def conf_write(board, extra=""):
    os.makedirs(board, exist_ok=True)
    conf = os.path.join(board, "bidmail.conf")
    with open(conf, "w") as f:
        f.write("templates = %s/mail-templates\ndata_dir = %s/contrib\nbatch_size = 64\n%s"
                % (ROOT, ROOT, extra))
    return conf


def init(bidmail, board, extra=""):
    """A fresh board in folder board (bidmail init); its config file path."""
    conf = conf_write(board, extra)
    subprocess.run([bidmail, "--config", conf, "init"], check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    return conf


def database(board):
    return os.path.join(board, "var", "bidmail.db")


def cached_fill(board, key, *args, **kw):
    """fill(board, ...) through a cache of generated databases: with BENCH_BOARDS set (a folder
    outside the repo), the database filled once for key is kept there and copied in on later
    runs (a 1,000,000-subscriber board takes minutes to generate); seconds taken."""
    cache = os.environ.get("BENCH_BOARDS")
    if not cache:
        return fill(board, *args, **kw)
    import shutil
    kept = os.path.join(cache, key + ".db")
    t0 = time.time()
    if not os.path.exists(kept):
        fill(board, *args, **kw)
        os.makedirs(cache, exist_ok=True)
        shutil.copy(database(board), kept + ".tmp")
        os.rename(kept + ".tmp", kept)
    else:
        for side in ("-wal", "-shm"):
            if os.path.exists(database(board) + side):
                os.remove(database(board) + side)
        shutil.copy(kept, database(board))
    return time.time() - t0


def fill(board, nsubs, nprojects, published_from, published_to, frequency="weekly",
         created="2026-01-05T09:00:00+01:00", activity=None, seed=15):
    """Subscribers (1-3 patterns each) and open projects published in [from, to) (epoch
    seconds), inserted in batches; seconds taken."""
    rnd = random.Random(seed)
    pool = skills_pool()
    t0 = time.time()
    db = sqlite3.connect(database(board))
    db.execute("PRAGMA synchronous = OFF")
    act = activity or created
    cur = db.cursor()
    for start in range(0, nsubs, BATCH):
        subs, pats = [], []
        for i in range(start, min(nsubs, start + BATCH)):
            sid = i + 1
            subs.append((sid, "sub%d@bench.example" % sid, "Sub %d" % sid, frequency,
                         created, created, act))
            for sk in rnd.sample(pool, rnd.randint(1, 3)):
                pats.append((sid, sk, created))
        cur.executemany("INSERT INTO subscribers(id, address, name, status, language, frequency,"
                        " day, created, confirmed, last_activity, language_chosen)"
                        " VALUES(?, ?, ?, 'active', 'fr', ?, 1, ?, ?, ?, 1)", subs)
        cur.executemany("INSERT INTO patterns(subscriber, kind, source, created)"
                        " VALUES(?, 'skills', ?, ?)", pats)
        db.commit()
    rows = []
    filler = [filler_text(1400, rnd) for _ in range(16)]
    span = max(1, published_to - published_from)
    for i in range(nprojects):
        sk = rnd.sample(pool, 2)
        t = published_from + (i * span) // max(1, nprojects)
        iso = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))
        title = "Mission %s et %s n°%d" % (sk[0], sk[1], i + 1)
        desc = "Projet %d : %s. Compétences : %s, %s." % (i + 1, filler[i % 16], sk[0], sk[1])
        rows.append((title, desc, "client%d@bench.example" % (i % 997), "Client %d" % (i % 997),
                     iso, iso, iso, '["%s","%s"]' % (sk[0], sk[1])))
        if len(rows) == BATCH or i == nprojects - 1:
            cur.executemany("INSERT INTO projects(title, description, poster, poster_name,"
                            " language, status, created, updated, published, skills, flags)"
                            " VALUES(?, ?, ?, ?, 'fr', 'open', ?, ?, ?, ?, '[]')", rows)
            db.commit()
            rows = []
    db.close()
    return time.time() - t0


def timed(argv, env=None):
    """Runs argv; (wall seconds, peak RSS in MB of that child, stdout)."""
    t0 = time.time()
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
    out = p.stdout.read()
    _, status, ru = os.wait4(p.pid, 0)
    p.returncode = status
    wall = time.time() - t0
    if status:
        raise SystemExit("%s: exit status %d" % (" ".join(argv), status))
    return wall, ru.ru_maxrss / 1024.0, out.decode(errors="replace")


def timed_limit(argv, limit):
    """Runs argv for at most limit seconds (then SIGKILL: what it committed stays, as after a
    crash); (wall seconds, peak RSS in MB, whether it finished by itself)."""
    import signal
    t0 = time.time()
    p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    done = True
    while p.poll() is None:
        if time.time() - t0 > limit:
            os.kill(p.pid, signal.SIGKILL)
            done = False
            break
        time.sleep(0.2)
    _, status, ru = os.wait4(p.pid, 0)
    if done and status:
        raise SystemExit("%s: exit status %d" % (" ".join(argv), status))
    return time.time() - t0, ru.ru_maxrss / 1024.0, done


def iso_epoch(s):
    """Epoch seconds of 'YYYY-MM-DDTHH:MM:SS+HH:MM'."""
    m = re.match(r"(\d+)-(\d+)-(\d+)T(\d+):(\d+):(\d+)([+-])(\d+):(\d+)$", s)
    y, mo, d, h, mi, se = (int(x) for x in m.groups()[:6])
    off = (int(m.group(8)) * 3600 + int(m.group(9)) * 60) * (1 if m.group(7) == "+" else -1)
    import calendar
    return calendar.timegm((y, mo, d, h, mi, se, 0, 0, 0)) - off


def outgoing_count(board):
    d = os.path.join(board, "spool", "outgoing")
    return sum(1 for n in os.listdir(d) if n.endswith(".eml")) if os.path.isdir(d) else 0
