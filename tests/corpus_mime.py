#!/usr/bin/env python3
"""corpus_mime.py — compares `bidmail parse` with the stalwartlabs mail-parser corpus.

For every message of resources/eml/legacy: the decoded subject, the From address, the To
addresses, the date in UTC and the decoded text body (when the corpus's body is a text/plain
part) must agree with that parser's own view, after folding white space. For every message of
resources/eml/malformed (and legacy): no crash, no hang (10 s), no sanitizer report, valid JSON.
Prints one line per field with its agreement rate, the disagreements, and exits 1 when a rate
is under its floor or any message crashed.
usage: corpus_mime.py BIDMAIL CORPUS_DIR [--floor PCT]
"""
import json, os, re, subprocess, sys
from datetime import datetime, timedelta, timezone

def norm(s):
    return re.sub(r"\s+", " ", (s or "").replace("\u00a0", " ")).strip()

def agrees_but_repaired(want, have):
    """That parser writes U+FFFD for raw 8-bit bytes it cannot label; bidmail reads them as
    windows-1252 (WHATWG rules, as the project requires). Each U+FFFD there matches one
    character here; everything else must be equal."""
    if not isinstance(want, str) or "\ufffd" not in want or not isinstance(have, str):
        return False
    pattern = ".".join(re.escape(x) for x in want.split("\ufffd"))
    return re.fullmatch(pattern, have, re.S) is not None

def header(part, name):
    for h in part.get("headers", []):
        if h["name"] == name:
            return h["value"]
    return None

def addresses(v):
    if not v or "Address" not in v:
        return []
    a = v["Address"]
    out = []
    lists = a.get("List") or []
    for g in a.get("Group") or []:
        lists += g.get("addresses") or []
    for x in lists:
        if x.get("address"):
            out.append(x["address"].lower())
    return out

def utc(v):
    if not v or "DateTime" not in v:
        return None
    d = v["DateTime"]
    try:
        t = datetime(d["year"], d["month"], d["day"], d["hour"], d["minute"], d["second"], tzinfo=timezone.utc)
    except ValueError:
        return None
    off = timedelta(hours=d["tz_hour"], minutes=d["tz_minute"])
    t = t + off if d["tz_before_gmt"] else t - off
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")

def ctype(part):
    v = header(part, "content_type")
    if not v or "ContentType" not in v:
        return "text/plain"
    c = v["ContentType"]
    return (c["c_type"] + "/" + (c.get("c_subtype") or "")).lower()

def run(bidmail, path):
    try:
        p = subprocess.run([bidmail, "parse", path], capture_output=True, timeout=10)
    except subprocess.TimeoutExpired:
        return None, "hang (10 s)"
    err = p.stderr.decode("utf-8", "replace")
    if p.returncode != 0 or "Sanitizer" in err or "runtime error" in err:
        return None, "exit %d %s" % (p.returncode, err[-300:])
    try:
        return json.loads(p.stdout), None
    except ValueError as e:
        return None, "bad JSON: %s" % e

def vector_stats(bidmail, res, stats, diffs):
    """The corpus's header-field vectors, each put in a message: Subject for unstructured
    text, To for address lists (From for the first display name), Date for dates."""
    import tempfile
    tmp = tempfile.mkdtemp(prefix="bidmail-vectors-")
    def parse_with(field, value):
        path = os.path.join(tmp, "v.eml")
        v = value.rstrip("\r\n")
        with open(path, "wb") as f:
            f.write(("%s: %s\nMessage-ID: <v@x>\n\nx\n" % (field, v)).encode("utf-8", "surrogateescape"))
        got, err = run(bidmail, path)
        return got, err
    for key, fname in (("v-text", "unstructured.json"), ("v-addr", "address.json"), ("v-date", "date.json")):
        stats.setdefault(key, [0, 0])
        for i, vec in enumerate(json.load(open(os.path.join(res, fname), encoding="utf-8"))):
            exp = vec["expected"]
            if key == "v-text":
                got, err = parse_with("Subject", vec["header"])
                want, have = norm(exp), norm(got["subject"]) if got else None
            elif key == "v-addr":
                want = addresses({"Address": exp}) if isinstance(exp, dict) else []
                # List-Archive/List-Post style URL lists are not mail addresses
                if not want or any(":" in a or "@" not in a for a in want):
                    continue
                got, err = parse_with("To", vec["header"])
                have = [x.lower() for x in got["to"]] if got else None
            else:
                want = utc({"DateTime": exp}) if isinstance(exp, dict) else None
                if not want:
                    continue
                got, err = parse_with("Date", vec["header"])
                have = got["date"] if got else None
            stats[key][1] += 1
            if err:
                diffs.append("%s #%d: %s" % (fname, i, err))
            elif want == have or agrees_but_repaired(want, have):
                stats[key][0] += 1
            else:
                diffs.append("%s #%d %r: want %r got %r" % (fname, i, vec["header"][:60], want, have))

def main():
    bidmail, corpus = sys.argv[1], sys.argv[2]
    floor = float(sys.argv[sys.argv.index("--floor") + 1]) if "--floor" in sys.argv else 95.0
    base = os.path.join(corpus, "mime/stalwartlabs_mail-parser/resources/eml")
    stats = {k: [0, 0] for k in ("subject", "from", "to", "date", "text")}
    crashes, diffs = [], []
    for sub in ("legacy", "malformed"):
        d = os.path.join(base, sub)
        for name in sorted(f for f in os.listdir(d) if f.endswith(".eml")):
            got, err = run(bidmail, os.path.join(d, name))
            if err:
                crashes.append("%s/%s: %s" % (sub, name, err))
                continue
            if sub != "legacy":
                continue
            exp_path = os.path.join(d, name[:-4] + ".json")
            if not os.path.exists(exp_path):
                continue
            exp = json.load(open(exp_path, encoding="utf-8"))
            top = exp["parts"][0]
            checks = {}
            s = header(top, "subject")
            if s and "Text" in s:
                checks["subject"] = (norm(s["Text"]), norm(got["subject"]))
            f = addresses(header(top, "from"))
            if f:
                checks["from"] = (f[0], (got["from"] or "").lower())
            t = addresses(header(top, "to"))
            if t:
                checks["to"] = (t, [x.lower() for x in got["to"]])
            dt = utc(header(top, "date"))
            if dt:
                checks["date"] = (dt, got["date"])
            tb = exp.get("text_body") or []
            if tb:
                part = exp["parts"][tb[0]]
                body = part.get("body") or {}
                if ctype(part) == "text/plain" and "Text" in body:
                    checks["text"] = (norm(body["Text"]), norm(got["text"]))
            for k, (want, have) in checks.items():
                stats[k][1] += 1
                if want == have or agrees_but_repaired(want, have):
                    stats[k][0] += 1
                else:
                    diffs.append("%s %s: want %r got %r" % (name, k, str(want)[:120], str(have)[:120]))
    vector_stats(bidmail, os.path.join(corpus, "mime/stalwartlabs_mail-parser/resources"),
                 stats, diffs)
    ok = True
    for k, (good, total) in stats.items():
        pct = 100.0 * good / total if total else 100.0
        print("corpus mime %-8s %3d/%3d agree (%.1f%%)" % (k, good, total, pct))
        # header vectors include obsolete syntax (source routes, pre-1970 dates)
        if pct < (floor - 15 if k.startswith("v-") else floor):
            ok = False
    for d in diffs:
        print("  differs:", d)
    for c in crashes:
        print("  CRASH:", c)
    print("corpus mime: %d messages crashed or hung" % len(crashes))
    sys.exit(0 if ok and not crashes else 1)

main()
