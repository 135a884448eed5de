"""e2e/50_browser.py — the marketplace page: export validated by tidy, read and clicked in headless Chromium, kept current by the daemon.
Run by suite.py in file order; each test's boards are removed after it (board.cleanup_boards).
"""
import base64, email, email.policy, email.utils, glob, json, os, random, shutil, signal, sqlite3, subprocess  # noqa: F401
import socket, sys, tempfile, time  # noqa: F401

from board import *  # noqa: F401,F403
from board import BOARDS, HERE, ROOT, CORPUS  # noqa: F401
from postfix import Postfix  # noqa: F401
from dovecot import Dovecot  # noqa: F401
import board


ARTIFACTS = os.path.join(ROOT, "tests", "out")
USER_ADDRESSES = ("jeanne@client.fr", "jeanne.perso@gmail.com", "paul@client.fr", "lea@free.fr")


def market_board():
    """A board with two published projects (one whose text gives its poster's addresses)."""
    b = Board().init()
    b.acks = []
    b.acks.append(publish(b, post_mail(subject="Traduction d'un site <WordPress>", body=(
        "Bonjour,\nNous cherchons un traducteur anglais-français pour notre site WordPress (30 pages).\n"
        "Budget : 800 € HT, livraison sous 15 jours.\nCompétences : traduction, wordpress\n"
        "Écrivez-moi à jeanne.perso@gmail.com ou mailto:jeanne@client.fr.\n"))))
    b.acks.append(publish(b, post_mail(subject="Développeur PHP Symfony", sender="Paul <paul@client.fr>",
                                       body="Hello,\nNous cherchons un développeur PHP / Symfony pour une API.\n"
                                            "Budget 400 à 600 EUR par jour, 20 jours.\n")))
    return b


def tidy_clean(path):
    """HTML5 validity as tidy (html-tidy 5) checks it: no error, no warning."""
    r = subprocess.run(["tidy", "-q", "-e", path], capture_output=True, timeout=30)
    return r.returncode == 0, r.stderr.decode("utf-8", "replace")


def test_export_site_feed_and_json():
    """`bidmail export --out DIR` writes the index, one page per open project and per skill
    (valid HTML5 by tidy, no outside resource), projects.atom (a valid Atom feed) and
    projects.json; never a user's address (masked in texts); a closed project's page goes."""
    import xml.etree.ElementTree as ET
    b = market_board()
    out = os.path.join(b.dir, "site")
    b.run("export", "--out", out)
    files = sorted(os.path.relpath(os.path.join(t, f), out) for t, _, fs in os.walk(out) for f in fs)
    expect({"index.html", "p/1001.html", "p/1002.html", "projects.atom", "projects.json",
            "tags/traduction.html", "tags/php.html"} <= set(files), "files: %r" % files)
    for f in files:
        data = open(os.path.join(out, f), encoding="utf-8").read()
        for a in USER_ADDRESSES:
            expect(a not in data, "%s shows %s" % (f, a))
        if f.endswith(".html"):
            ok, why = tidy_clean(os.path.join(out, f))
            expect(ok, "%s does not validate: %s" % (f, why[:600]))
            expect("<script" not in data and "http://" not in data and "https://" not in data,
                   "%s loads something from outside" % f)
    page = open(os.path.join(out, "p", "1001.html"), encoding="utf-8").read()
    expect("[adresse masquée]" in page and "800 EUR HT" in page and "15 jours" in page,
           "project page: %r" % page[-1500:])
    expect('href="mailto:bid+p1001@example.org?subject=' in page, "no public bid link")
    ns = {"a": "http://www.w3.org/2005/Atom"}
    feed = ET.parse(os.path.join(out, "projects.atom")).getroot()
    expect(feed.tag == "{http://www.w3.org/2005/Atom}feed", "not an Atom feed")
    for req in ("a:title", "a:id", "a:updated", "a:author/a:name"):
        expect(feed.find(req, ns) is not None, "feed without %s" % req)
    entries = feed.findall("a:entry", ns)
    expect(len(entries) == 2, "entries: %d" % len(entries))
    for e in entries:
        for req in ("a:title", "a:id", "a:updated", "a:link"):
            expect(e.find(req, ns) is not None, "entry without %s" % req)
    data = json.load(open(os.path.join(out, "projects.json")))
    expect(data["count"] == 2 and [p["id"] for p in data["projects"]] == [1002, 1001], "json: %r" % data)
    p1002 = data["projects"][0]
    expect(p1002["budget"]["min"] == 400 and p1002["budget"]["unit"] == "day" and
           p1002["bid_address"] == "bid+p1002@example.org" and "poster" not in p1002,
           "json project: %r" % p1002)
    # Paul closes project 1002 by replying "fermer" to its acknowledgement: its page goes
    ack = b.acks[1]
    target = email.utils.parseaddr(str(ack["Reply-To"]))[1]
    b.deliver("From: Paul <paul@client.fr>\nTo: %s\nSubject: Re: %s\nIn-Reply-To: %s\n"
              "Message-ID: <close1002@client.fr>\nContent-Type: text/plain; charset=utf-8\n\nfermer\n"
              % (target, ack["Subject"], ack["Message-ID"]), recipient=target, sender="paul@client.fr")
    b.run("run", "--once")
    expect([p["status"] for p in b.projects() if p["id"] == 1002] == ["closed"], "not closed")
    b.run("export", "--out", out)
    expect(not os.path.exists(os.path.join(out, "p", "1002.html")), "closed project's page kept")
    expect(not os.path.exists(os.path.join(out, "tags", "php.html")), "unused skill page kept")
    expect(json.load(open(os.path.join(out, "projects.json")))["count"] == 1, "json not updated")


class StaticServer:
    """Python's http.server on 127.0.0.1 on a free port, serving a folder; stopped by pid."""

    def __init__(self, folder):
        self.port = free_port()
        self.proc = subprocess.Popen([sys.executable, "-m", "http.server", str(self.port), "--bind",
                                      "127.0.0.1", "--directory", folder],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if not wait_port(self.port):
            self.stop()
            raise Failure("static server did not start")

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)


def browser(what, url, png):
    """Runs tests/browser.py (headless Chromium) with the system Python; its JSON answer."""
    os.makedirs(ARTIFACTS, exist_ok=True)
    r = subprocess.run(["/usr/bin/python3", os.path.join(HERE, "browser.py"), what, url, png],
                       capture_output=True, timeout=120)
    if r.returncode != 0:
        raise Failure("browser.py %s %s: %s" % (what, url, r.stderr.decode()[-1500:]))
    expect(os.path.getsize(png) > 5000 and open(png, "rb").read(8) == b"\x89PNG\r\n\x1a\n",
           "no screenshot in %s" % png)
    return json.loads(r.stdout)


def test_export_seen_in_chromium_then_bid_from_the_page():
    """A visitor opens the exported site in headless Chromium: the index lists both projects
    with budget, deadline, skills and bids against the cap, and no address; the project page's
    bid link is a mailto: to the project's public bid address. The visitor (not a subscriber)
    sends the mail it prepares: one confirmation request; the reply passes the bid on to the
    client and subscribes the visitor; the re-exported page counts the bid. Screenshots are
    kept in tests/out/."""
    import urllib.parse
    b = market_board()
    out = os.path.join(b.dir, "site")
    b.run("export", "--out", out)
    srv = StaticServer(out)
    try:
        base = "http://127.0.0.1:%d/" % srv.port
        index = browser("page", base + "index.html", os.path.join(ARTIFACTS, LABEL.strip(":") + "export-index.png"))
        text = index["text"]
        for want in ("Traduction d'un site <WordPress>", "Développeur PHP Symfony", "800 EUR HT",
                     "400–600 EUR par jour", "15 jours", "20 jours", "0 / 20", "traduction", "php"):
            expect(want in text, "the index does not show %r: %r" % (want, text))
        expect("@" not in text, "an address on the index: %r" % text)
        expect(base + "p/1001.html" in index["links"] and base + "tags/traduction.html" in index["links"],
               "links: %r" % index["links"])
        page = browser("page", base + "p/1001.html", os.path.join(ARTIFACTS, LABEL.strip(":") + "export-project.png"))
        expect("[adresse masquée]" in page["text"] and "jeanne" not in page["text"], "page: %r" % page["text"])
        expect(len(page["mailtos"]) == 1, "mailto links: %r" % page["mailtos"])
        link = urllib.parse.urlsplit(page["mailtos"][0])
        q = urllib.parse.parse_qs(link.query)
        expect(link.path == "bid+p1001@example.org" and "1001" in q["subject"][0] and "prix" in q["body"][0],
               "mailto: %r" % page["mailtos"][0])
    finally:
        srv.stop()
    # the visitor's mail client sends what the link prepared, the price filled in
    body = q["body"][0].replace("Mon prix : ", "Mon prix : 750 € HT").replace(
        "Mon délai : ", "Mon délai : 12 jours").replace("Mon message au client : ",
                                                         "Mon message au client : traductrice depuis 10 ans.")
    raw = ("From: Léa Dupont <lea@free.fr>\nTo: %s\nSubject: %s\nMessage-ID: <pub1@free.fr>\n"
           "Content-Type: text/plain; charset=utf-8\n\n%s" % (link.path, q["subject"][0], body))
    b.deliver(raw, recipient=link.path, sender="lea@free.fr")
    b.run("run", "--once")
    conf = last_mail(b, "lea@free.fr")
    expect("confirm" in conf.get_body(("plain",)).get_content().lower(), "no confirmation request")
    expect(subscribers(b)["lea@free.fr"]["status"] == "pending", "subscriber not pending")
    expect(not [m for m in b.outbox() if m["kind"] == "bid_quote"], "quote sent before confirmation")
    reply, addr = reply_to(conf, "Oui, je confirme.", sender="Léa Dupont <lea@free.fr>")
    b.deliver(reply, recipient=addr, sender="lea@free.fr")
    b.run("run", "--once")
    quotes = [m for m in b.outbox() if m["kind"] == "bid_quote"]
    expect(len(quotes) == 1 and quotes[0]["to"] == "jeanne@client.fr", "quotes: %r" % quotes)
    expect(subscribers(b)["lea@free.fr"]["status"] == "active", "not subscribed by the confirmation")
    b.run("export", "--out", out)
    expect("1 / 20" in open(os.path.join(out, "index.html"), encoding="utf-8").read(), "bid not counted")


def test_public_bid_address_refusals():
    """The public bid address of a project that does not exist gets one explanation and no
    subscriber; an unconfirmed public bid never reaches the client."""
    b = market_board()
    raw = ("From: Max <max@free.fr>\nTo: bid+p999999@example.org\nSubject: Offre\nMessage-ID: <pub2@free.fr>\n"
           "Content-Type: text/plain; charset=utf-8\n\nMon prix : 500 € HT\n")
    b.deliver(raw, recipient="bid+p999999@example.org", sender="max@free.fr")
    b.run("run", "--once")
    m = last_mail(b, "max@free.fr")
    expect("n'existe pas" in m.get_body(("plain",)).get_content(), "no explanation")
    expect("max@free.fr" not in subscribers(b), "a subscriber made for nothing")


def test_unsubscribe_page_clicked_in_chromium():
    """The one-click unsubscribe page, opened in headless Chromium from the URL of
    List-Unsubscribe: it validates (tidy), opening it changes nothing, clicking its one button
    unsubscribes and the answer page says so. Screenshot kept in tests/out/."""
    b = Board("public_url = https://board.example.org/\n").init()
    env = {"BIDMAIL_NOW": "2026-03-02T06:00:00Z"}
    subscribe(b, "leo@dev.fr", "Léo", "skills traduction", env=env)
    lu = str(last_mail(b, "leo@dev.fr")["List-Unsubscribe"])
    url = [u for u in lu.replace(" ", "").strip("<>").split(">,<") if u.startswith("https://")]
    key = url[0].rsplit("/", 1)[1]
    port = free_port()
    p = subprocess.Popen([board.BIDMAIL, "--config", b.conf, "http", "--listen", "127.0.0.1:%d" % port],
                         cwd=b.dir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        expect(wait_port(port), "http server not listening")
        page = os.path.join(b.dir, "page.html")
        r = subprocess.run(["curl", "-s", "-o", page, "--max-time", "10",
                            "http://127.0.0.1:%d/u/%s" % (port, key)], timeout=30)
        ok, why = tidy_clean(page)
        expect(ok, "the unsubscribe page does not validate: %s" % why[:600])
        expect(subscribers(b)["leo@dev.fr"]["status"] == "active", "a GET unsubscribed")
        res = browser("click", "http://127.0.0.1:%d/u/%s" % (port, key),
                      os.path.join(ARTIFACTS, LABEL.strip(":") + "unsubscribe-clicked.png"))
        expect("Me désabonner" in res["before"], "page before: %r" % res["before"])
        expect("Désabonnement effectué" in res["after"], "page after the click: %r" % res["after"])
        expect(subscribers(b)["leo@dev.fr"]["status"] == "unsubscribed", "the click did not unsubscribe")
    finally:
        p.terminate()
        p.wait(timeout=20)


def test_daemon_keeps_export_current():
    """With export_dir set, the daemon writes the marketplace page at start and again when a
    project is published."""
    b = market_board()
    site = os.path.join(b.dir, "public")
    with open(b.conf, "a") as f:
        f.write("export_dir = public\npoll_interval = 1\n")
    log = open(os.path.join(b.dir, "daemon.log"), "w+")
    d = subprocess.Popen([board.BIDMAIL, "--config", b.conf, "run"], stderr=log, cwd=b.dir)

    def wait_file(rel, seconds):
        deadline = time.time() + seconds
        while time.time() < deadline:
            if os.path.exists(os.path.join(site, rel)):
                return True
            time.sleep(0.1)
        return False
    try:
        expect(wait_file("p/1002.html", 20), "no export at start")
        # a new post, confirmed by its poster while the daemon runs: its page appears
        b.deliver(post_mail(subject="Rédaction de fiches produits", body="Bonjour,\n50 fiches produits, 300 EUR.\n"))
        conf = None
        for _ in range(200):  # at most 20 s
            sent = [read_mail(f)[1] for f in b.outgoing()]
            conf = [m for m in sent if "onfirm" in str(m["Subject"]) and "1003" in str(m["Subject"])]
            if conf:
                break
            time.sleep(0.1)
        expect(conf, "no confirmation request from the daemon")
        expect(not os.path.exists(os.path.join(site, "p", "1003.html")), "published before confirmation")
        target = email.utils.parseaddr(str(conf[0]["Reply-To"]))[1]
        b.deliver("From: jeanne@client.fr\nTo: %s\nSubject: Re: confirmation\nIn-Reply-To: %s\n"
                  "Message-ID: <c1003@client.fr>\nContent-Type: text/plain; charset=utf-8\n\nOui.\n"
                  % (target, conf[0]["Message-ID"]), recipient=target, sender="jeanne@client.fr")
        if not wait_file("p/1003.html", 20):
            log.seek(0)
            raise Failure("the new project's page was not written: %s" % log.read()[-2000:])
    finally:
        d.send_signal(signal.SIGTERM)
        rc = d.wait(timeout=20)
    log.seek(0)
    err = log.read()
    expect(rc == 0 and "Sanitizer" not in err and "runtime error:" not in err, err[-1500:])
    expect("stage=export" in err, "no export logged")
