#!/usr/bin/env python3
"""reply_same_items.py — the inputs of the byte-identical check of a reply-trimming speed change:
every fixture of tests/reply three ways (with its sender and sent text, bare, as a forward), the
files of the reply corpora, the mails of tests/mail, tests/extract and tests/cases, the shapes of
reply_bench (300 repetitions, repeated and distinct, with and without a sent text) and 5,000
random mixes of their lines (seeded). Writes them into DIR, their list into DIR/list.
usage (from the repository): bench/reply_same_items.py DIR [CORPUS_REPLY_DIR]
  then: build/reply_same DIR/list > before.txt; (change, rebuild); ... > after.txt; cmp
"""
import os, random, sys, glob
out = sys.argv[1]
corpus = sys.argv[2] if len(sys.argv) > 2 else "../shared/corpus/reply"
os.makedirs(out, exist_ok=True)
items = []
n = 0
def add(body, sender=None, sent=None, fwd=0):
    global n
    n += 1
    p = os.path.join(out, "i%05d" % n)
    open(p, "w", encoding="utf-8", errors="surrogateescape").write(body)
    sp = tp = "-"
    if sender is not None:
        sp = p + ".sender"; open(sp, "w").write(sender)
    if sent is not None:
        tp = p + ".sent"; open(tp, "w").write(sent)
    items.append("%s %s %s %d" % (p, sp, tp, fwd))
lines = []
for f in sorted(glob.glob("tests/reply/*/*.txt")):
    sec = {}; cur = None
    for l in open(f, encoding="utf-8").read().split("\n"):
        if l.startswith("=== "):
            cur = l[4:].strip(); sec[cur] = []; continue
        if cur: sec[cur].append(l)
    body = "\n".join(sec.get("input", []))
    sender = "\n".join(sec["sender"]).strip() if "sender" in sec else None
    sent = "\n".join(sec["sent"]) if "sent" in sec else None
    add(body, sender, sent); add(body); add(body, None, None, 1)
    lines += body.split("\n")
for f in sorted(glob.glob(os.path.join(corpus, "**/*"), recursive=True)) + \
         sorted(glob.glob("tests/mail/*.eml")) + sorted(glob.glob("tests/extract/*.eml")) + \
         sorted(glob.glob("tests/cases/*/*.eml")):
    if os.path.isfile(f):
        b = open(f, encoding="utf-8", errors="replace").read().replace("\r\n", "\n")
        add(b); lines += b.split("\n")[:400]
shapes = [
 "On Tue, Nov 7, 2023 at 10:00 AM John Doe <john@doe.com> wrote\n",
 "Am 28. Apr. 2017 um 11:53 Uhr schrieb A <a@b.de\n>:\ntext\n",
 "> quoted\nreply\n", "From: a@b.c\nSent: 1 2 3\nnot a header\n",
 "x On y On z On w On v On u On t On s On r On q On p On o:\n",
 "12:30 2023 <a@b.c> le on am el il:\n\n", "-------  --------\nThanks for the work so far\n",
 "Sent from my iPhone\n"]
sent = ("On Tue, Nov 7, 2023 at 10:00 AM John Doe wrote the quoted reply "
        "text From Sent not a header Thanks for the work so far\n")
for s in shapes:
    for distinct in (0, 1):
        b = []
        for r in range(300):
            for l in s.split("\n")[:-1] if s.endswith("\n") else s.split("\n"):
                b.append(l + (" " * (r % 5) if distinct and l else ""))
        body = "\n".join(b) + "\n"
        add(body, "John Doe", sent); add(body)
rnd = random.Random(13)
for k in range(5000):
    body = "\n".join(rnd.choice(lines) for _ in range(rnd.randint(3, 40)))
    if rnd.random() < 0.3:
        add(body, "Paul", "\n".join(rnd.choice(lines) for _ in range(20)))
    else:
        add(body)
open(os.path.join(out, "list"), "w").write("\n".join(items) + "\n")
print(len(items), "items")
