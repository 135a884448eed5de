#!/usr/bin/env python3
"""corpus_reply.py — the two public reply-parsing suites in ../shared/corpus/reply/, run against
extract_reply (through `build/unit trim FILE [SENDER]`), with their pass rates.

github_email_reply_parser: expected_reply_exact (after CRLF->LF and rstrip),
expected_reply_is_whole_input, reply_matches / rest_matches (multiline regex on the kept text /
on the removed lines), reply_excludes, max_seconds. Interleaved cases: only the regex checks.
mailgun_talon: expected_plain_inline (talon keeps a trailing signature in its reply, bidmail
drops it: a case passes when the reply equals the expected one, or equals it once a trailing
signature block is removed from it with the same trimmer); expected_signature_inline (text
without the signature); signature/emails (P: no #sig#/#reply# line kept, every other line
kept; stripped/: body minus signature, with the sender's name as a hint).
bidmail's own fixtures (tests/reply/tuned and tests/reply/heldout, format in tests/reply/README.md):
the reply must equal the expected one; the held-out rate is printed on its own line.
Exits 1 when a suite is under --floor percent (default 95).
usage: corpus_reply.py UNIT CORPUS_DIR [--floor PCT] [--verbose]
"""
import json, os, re, subprocess, sys, tempfile, time

UNIT = None
TMP = tempfile.mkdtemp(prefix="bidmail-reply-")

def trim(text, sender=None, sent=None):
    path = os.path.join(TMP, "in.txt")
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    args = [UNIT, "trim", path] + ([sender or ""] if sender or sent else [])
    if sent is not None:
        with open(path + ".sent", "w", encoding="utf-8") as f:
            f.write(sent)
        args.append(path + ".sent")
    t = time.time()
    p = subprocess.run(args, capture_output=True, timeout=30)
    took = time.time() - t
    err = p.stderr.decode("utf-8", "replace")
    if p.returncode != 0 or "Sanitizer" in err or "runtime error" in err:
        raise RuntimeError("trim failed: %s" % err[-500:])
    return p.stdout.decode("utf-8"), took

def rstrip_lines(t):
    return "\n".join(l.rstrip() for l in t.replace("\r\n", "\n").split("\n")).rstrip()

def rest_of(text, reply):
    kept = set(l.strip() for l in reply.split("\n") if l.strip())
    return "\n".join(l for l in text.split("\n") if l.strip() not in kept)

def github(base, fails):
    d = json.load(open(os.path.join(base, "expected.json"), encoding="utf-8"))
    ok = total = 0
    for c in d["cases"]:
        if "input" in c:
            with open(os.path.join(base, c["input"]), encoding="utf-8", errors="replace") as f:
                text = f.read()
        else:
            text = c["input_text"]
        text = text.replace("\r\n", "\n")
        reply, took = trim(text)
        why = []
        inter = c.get("kind") == "interleaved"
        if "expected_reply_exact" in c and not inter and rstrip_lines(reply) != rstrip_lines(c["expected_reply_exact"]):
            why.append("exact: got %r" % reply[:200])
        if c.get("expected_reply_is_whole_input") and rstrip_lines(reply).strip() != rstrip_lines(text).strip():
            why.append("whole input expected, got %r" % reply[:200])
        for rx in c.get("reply_matches", []):
            if not re.search(rx, reply, re.M):
                why.append("reply lacks /%s/" % rx)
        rest = rest_of(text, reply)
        for rx in c.get("rest_matches", []):
            if not re.search(rx, rest, re.M):
                why.append("removed part lacks /%s/" % rx)
        for s in c.get("reply_excludes", []):
            if s in reply:
                why.append("reply keeps %r" % s)
        if "max_seconds" in c and took > c["max_seconds"] * 5:
            why.append("took %.2f s" % took)
        total += 1
        if why:
            fails.append("github %s: %s" % (c["test"], "; ".join(why)))
        else:
            ok += 1
    return ok, total

def talon(base, fails):
    ok = total = 0
    d = json.load(open(os.path.join(base, "expected_plain_inline.json"), encoding="utf-8"))
    for c in d["cases"]:
        reply, _ = trim(c["input"])
        want = c["expected_reply"].strip()
        total += 1
        if reply.strip() == want or reply.strip() == trim(want)[0].strip():
            ok += 1
        else:
            fails.append("talon %s: want %r got %r" % (c["id"], want[:150], reply[:150]))
    d = json.load(open(os.path.join(base, "expected_signature_inline.json"), encoding="utf-8"))
    for c in d["cases"]:
        reply, _ = trim(c["input"])
        total += 1
        if reply.strip() == c["expected_text"].strip():
            ok += 1
        else:
            fails.append("talon-sig %s: want %r got %r" % (c["name"], c["expected_text"][:120], reply[:120]))
    sig = os.path.join(base, "signature", "emails")
    for name in sorted(os.listdir(os.path.join(sig, "P"))):
        with open(os.path.join(sig, "P", name), encoding="utf-8", errors="replace") as f:
            raw = f.read()
        if name.endswith("_sender"):
            continue
        sender = None
        sp = os.path.join(sig, "P", name.replace("_body", "_sender"))
        if name.endswith("_body") and os.path.exists(sp):
            sender = open(sp, encoding="utf-8").read().strip()
        lines = raw.split("\n")
        if lines and re.match(r"^(From|Subject|Date): ", lines[0]):
            while lines and lines[0].strip():
                lines.pop(0)
        marked = [(l.startswith("#sig#") or l.startswith("#reply#"), re.sub(r"^#(sig|reply)#", "", l)) for l in lines]
        body = "\n".join(l for _, l in marked)
        reply, _ = trim(body, sender)
        kept = reply.split("\n")
        bad = [l for m, l in marked if m and l.strip() and l.strip() in (k.strip() for k in kept)]
        lost = [l for m, l in marked if not m and l.strip() and l.strip() not in (k.strip() for k in kept)]
        total += 1
        if bad or lost:
            fails.append("talon-P %s: kept %r lost %r" % (name, bad[:2], lost[:2]))
        else:
            ok += 1
    st = os.path.join(sig, "stripped")
    for name in sorted({f.rsplit("_", 1)[0] for f in os.listdir(st)}):
        # the #sig# prefixes are that project's annotation, not mail content
        unmark = lambda t: re.sub(r"(?m)^#sig#", "", t)
        body = unmark(open(os.path.join(st, name + "_body"), encoding="utf-8").read())
        sender = open(os.path.join(st, name + "_sender"), encoding="utf-8").read().strip()
        signature = unmark(open(os.path.join(st, name + "_signature"), encoding="utf-8").read()).strip()
        want = body.rstrip()
        if signature and want.endswith(signature):
            want = want[: -len(signature)]
        reply, _ = trim(body, sender or None)
        total += 1
        if reply.strip() == want.strip():
            ok += 1
        else:
            fails.append("talon-stripped %s: want tail %r got tail %r" % (name, want.strip()[-80:], reply.strip()[-80:]))
    return ok, total

def fixture(path):
    """The sections of a tests/reply fixture: {"input": ..., "reply": ..., ...}."""
    sec, cur = {}, None
    for line in open(path, encoding="utf-8").read().split("\n"):
        if line.startswith("=== "):
            cur = line[4:].strip()
            sec[cur] = []
        elif cur:
            sec[cur].append(line)
    return {k: "\n".join(v).rstrip("\n") for k, v in sec.items()}

def own(base, fails):
    ok = total = 0
    for name in sorted(os.listdir(base)):
        c = fixture(os.path.join(base, name))
        reply, _ = trim(c["input"], c.get("sender", "").strip() or None, c.get("sent"))
        total += 1
        if rstrip_lines(reply) == rstrip_lines(c["reply"]):
            ok += 1
        else:
            fails.append("own %s/%s: want %r got %r" % (os.path.basename(base), name, c["reply"][:150], reply[:150]))
    return ok, total

def main():
    global UNIT
    UNIT, corpus = sys.argv[1], sys.argv[2]
    floor = float(sys.argv[sys.argv.index("--floor") + 1]) if "--floor" in sys.argv else 95.0
    fails = []
    good = True
    for name, fn, sub in (("github_email_reply_parser", github, "github_email_reply_parser"),
                          ("mailgun_talon", talon, "mailgun_talon")):
        ok, total = fn(os.path.join(corpus, "reply", sub), fails)
        pct = 100.0 * ok / total if total else 0
        print("corpus reply %-26s %3d/%3d pass (%.1f%%)" % (name, ok, total, pct))
        good = good and pct >= floor
    here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "reply")
    for part in ("tuned", "heldout", "heldout2", "heldout3", "heldout4", "heldout5"):
        if not os.path.isdir(os.path.join(here, part)):
            continue
        ok, total = own(os.path.join(here, part), fails)
        pct = 100.0 * ok / total if total else 0
        print("corpus reply %-26s %3d/%3d pass (%.1f%%)" % ("bidmail " + part, ok, total, pct))
        good = good and pct >= floor
    for f in fails:
        print("  fails:", f)
    sys.exit(0 if good else 1)

main()
