"""e2e/30_http.py — the one-click unsubscribe HTTP listener, and its rate limit.
Run by suite.py in file order; each test's boards are removed after it (board.cleanup_boards).
"""
import base64, email, email.policy, email.utils, glob, json, os, random, shutil, signal, sqlite3, subprocess  # noqa: F401
import socket, sys, tempfile, time  # noqa: F401

from board import *  # noqa: F401,F403
from board import BOARDS, HERE, ROOT, CORPUS  # noqa: F401
from postfix import Postfix  # noqa: F401
from dovecot import Dovecot  # noqa: F401
import board


def test_http_one_click_unsubscribe():
    """`bidmail http` serves RFC 8058 one-click unsubscribe at the URL of List-Unsubscribe: a
    GET shows a page with one button and changes nothing; a POST with
    List-Unsubscribe=One-Click unsubscribes at once; a bad key gets 404, a large body 413, a
    POST without the One-Click body 400, and none of them changes anything."""
    b = Board("public_url = https://board.example.org/\n").init()
    env = {"BIDMAIL_NOW": "2026-03-02T06:00:00Z"}
    subscribe(b, "leo@dev.fr", "Léo", "skills traduction", env=env)
    m = last_mail(b, "leo@dev.fr")
    lu = str(m["List-Unsubscribe"])
    expect(m["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click", "no List-Unsubscribe-Post")
    url = [u for u in lu.replace(" ", "").strip("<>").split(">,<") if u.startswith("https://")]
    expect(len(url) == 1 and url[0].startswith("https://board.example.org/u/"), "List-Unsubscribe %r" % lu)
    key = url[0].rsplit("/", 1)[1]
    port = free_port()
    p = subprocess.Popen([board.BIDMAIL, "--config", b.conf, "http", "--listen", "127.0.0.1:%d" % port],
                         cwd=b.dir, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    base = "http://127.0.0.1:%d" % port
    try:
        def curl(*args):
            r = subprocess.run(["curl", "-s", "-o", "-", "-w", "\n%{http_code}", "--max-time", "10"]
                               + list(args), capture_output=True, timeout=30)
            body, _, code = r.stdout.decode("utf-8", "replace").rpartition("\n")
            return int(code or 0), body
        code = 0
        for _ in range(100):
            code, body = curl(base + "/u/" + key)
            if code:
                break
            time.sleep(0.1)
        expect(code == 200 and 'method="post"' in body and "Me désabonner" in body,
               "GET: %d %r" % (code, body[:400]))
        expect(subscribers(b)["leo@dev.fr"]["status"] == "active", "a GET unsubscribed")
        code, _ = curl(base + "/u/" + key[:-2] + "xx")
        expect(code == 404, "altered key: %d" % code)
        code, _ = curl("-X", "POST", "-d", "List-Unsubscribe=One-Click", base + "/u/" + key[:-2] + "xx")
        expect(code == 404, "POST with an altered key: %d" % code)
        code, _ = curl("-X", "POST", "-d", "x" * 5000, base + "/u/" + key)
        expect(code == 413, "large body: %d" % code)
        code, _ = curl("-X", "POST", "-d", "", base + "/u/" + key)
        expect(code == 400, "POST without One-Click: %d" % code)
        expect(subscribers(b)["leo@dev.fr"]["status"] == "active", "a refused request unsubscribed")
        code, body = curl("-X", "POST", "-d", "List-Unsubscribe=One-Click", base + "/u/" + key)
        expect(code == 200 and "Désabonnement effectué" in body, "one-click POST: %d %r" % (code, body[:300]))
        expect(subscribers(b)["leo@dev.fr"]["status"] == "unsubscribed", "not unsubscribed")
    finally:
        p.terminate()
        try:
            out, err = p.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            p.kill()
            out, err = p.communicate(timeout=20)
    text = err.decode("utf-8", "replace")
    expect("Sanitizer" not in text and "runtime error:" not in text, "sanitizer: %s" % text[-2000:])
    expect(p.returncode == 0, "http exited %d: %s" % (p.returncode, text[-500:]))
    expect(key not in text, "the key reached the log")


def test_http_rate_limited():
    """Beyond http_rate_limit requests a second the endpoint answers 429 with Retry-After."""
    b = Board("http_rate_limit = 5\n").init()
    port = free_port()
    p = subprocess.Popen([board.BIDMAIL, "--config", b.conf, "http", "--listen", "127.0.0.1:%d" % port],
                         cwd=b.dir, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        url = "http://127.0.0.1:%d/u/nokey" % port
        # wait for the listening socket without an HTTP request (a request would use the budget)
        expect(wait_port(port), "http server not listening")
        args = ["curl", "-s", "-w", "%{http_code}\n", "--max-time", "10"]
        for _ in range(40):
            args += ["-o", "/dev/null", url]
        r = subprocess.run(args, capture_output=True, timeout=60)
        codes = r.stdout.decode().split()
        expect(len(codes) == 40 and codes[0] == "404" and "429" in codes, "codes: %r" % codes)
    finally:
        p.terminate()
        p.communicate(timeout=20)


def test_http_forwarded_for_counts_numeric_addresses_only():
    """From a proxy on loopback, the last X-Forwarded-For entry is the client only when it is a
    numeric address, an IPv6 one by its /64: twelve IPv4 clients are counted apart (no 429 at a
    limit of 5), while twelve forged non-addresses, or twelve addresses of one IPv6 /64, count
    as one client and are refused."""
    import http.client
    b = Board("http_rate_limit = 5\n").init()
    port = free_port()
    p = subprocess.Popen([board.BIDMAIL, "--config", b.conf, "http", "--listen", "127.0.0.1:%d" % port],
                         cwd=b.dir, stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def codes(forwarded):
        out = []
        for f in forwarded:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            c.request("GET", "/u/nokey", headers={"X-Forwarded-For": "198.51.100.7, " + f})
            out.append(c.getresponse().status)
            c.close()
        return out
    try:
        expect(wait_port(port), "http server not listening")
        apart = codes(["203.0.113.%d" % i for i in range(1, 13)])
        expect(apart == [404] * 12, "distinct IPv4 clients were limited together: %r" % apart)
        time.sleep(1.1)     # a new rate window (the limit counts per second)
        forged = codes(["client-%d" % i for i in range(1, 13)])
        expect(429 in forged, "forged X-Forwarded-For values escaped the limit: %r" % forged)
        time.sleep(1.1)
        one64 = codes(["2001:db8:1:2::%x" % i for i in range(1, 13)])
        expect(429 in one64, "one IPv6 /64 escaped the limit: %r" % one64)
        time.sleep(1.1)
        ported = codes(["203.0.113.%d:%d" % (i, 40000 + i) for i in range(1, 7)] +
                       ["[2001:db8:%x::1]:443" % i for i in range(1, 7)])
        expect(ported == [404] * 12, "clients written with a port were limited together: %r" % ported)
    finally:
        p.terminate()
        p.communicate(timeout=20)
