#!/usr/bin/env python3
"""check_mail_lib.py — runs `bidmail parse` on every tests/mail/NAME.eml and compares with NAME.json.

NAME.json holds `_what` (what the case proves) and the expected keys of the parse contract,
compared exactly, plus these checks: `errors_contain` (substrings that some error must hold),
`text_contains` (substrings of text), `text_prefix`, `message_id_suffix`, `attachment_types`.
Prints `ok mail/NAME` or `FAIL mail/NAME: key: want ... got ...` for each case.
usage: check_mail_lib.py BIDMAIL MAIL_DIR (suite.py imports check_one)
"""
import json, os, subprocess, sys

def lookup(got, path):
    cur = got
    for part in path.split("."):
        if isinstance(cur, list) and part.isdigit() and int(part) < len(cur):
            cur = cur[int(part)]  # attachments.0.name
            continue
        if not isinstance(cur, dict) or part not in cur:
            raise KeyError(path)
        cur = cur[part]
    return cur

def check_dotted(got, key, want):
    """post.budget.max = value; x.why_contains = substring; x.flags_contain = [items]."""
    last = key.rsplit(".", 1)[-1]
    try:
        if last.endswith("_contains"):
            have = lookup(got, key[: -len("_contains")])
            return None if isinstance(have, str) and want in have else "%s: %r not in %r" % (key, want, have)
        if last.endswith("_contain"):
            have = lookup(got, key[: -len("_contain")])
            missing = [w for w in want if w not in (have or [])]
            return None if not missing else "%s: %r missing from %r" % (key, missing, have)
        have = lookup(got, key)
    except KeyError:
        return "%s: missing from the JSON" % key
    if isinstance(have, str) and key == "text":
        have = have.strip()
    return None if have == want else "%s: want %r got %r" % (key, want, have)

def check(got, exp):
    for key, want in exp.items():
        if key == "_what":
            continue
        if "." in key:
            why = check_dotted(got, key, want)
            if why:
                return why
            continue
        if key == "errors_contain":
            for w in want:
                if not any(w in e for e in got["errors"]):
                    return "errors: no error contains %r (got %r)" % (w, got["errors"])
        elif key == "text_contains":
            for w in want:
                if w not in (got["text"] or ""):
                    return "text: %r not found in %r" % (w, got["text"])
        elif key == "text_prefix":
            if not (got["text"] or "").startswith(want):
                return "text: does not start with %r: %r" % (want, got["text"])
        elif key == "message_id_suffix":
            if not (got["message_id"] or "").endswith(want):
                return "message_id: %r does not end with %r" % (got["message_id"], want)
        elif key == "attachment_types":
            types = [a["type"] for a in got["attachments"]]
            if types != want:
                return "attachments: types %r, want %r" % (types, want)
        elif key not in got:
            return "%s: missing from the JSON" % key
        else:
            have = got[key]
            if key == "text" and isinstance(have, str):
                have = have.strip()
            if have != want:
                return "%s: want %r got %r" % (key, want, have)
    return None

def check_one(bidmail, d, name):
    """Returns None when NAME.eml parses as NAME.json says, else why not."""
    exp = json.load(open(os.path.join(d, name + ".json"), encoding="utf-8"))
    try:
        p = subprocess.run([bidmail, "parse", os.path.join(d, name + ".eml")],
                           capture_output=True, timeout=20, cwd="/")
        err = p.stderr.decode("utf-8", "replace")
        if p.returncode != 0 or "Sanitizer" in err or "runtime error" in err:
            return "exit %d: %s" % (p.returncode, err[-400:])
        return check(json.loads(p.stdout), exp)
    except subprocess.TimeoutExpired:
        return "hang (20 s)"
    except ValueError as e:
        return "bad JSON: %s" % e

def main():
    bidmail, d = sys.argv[1], sys.argv[2]
    passed = failed = 0
    for name in sorted(f[:-4] for f in os.listdir(d) if f.endswith(".eml")):
        exp = json.load(open(os.path.join(d, name + ".json"), encoding="utf-8"))
        why = check_one(bidmail, d, name)
        if why:
            failed += 1
            print("FAIL mail/%s: %s\n     (%s)" % (name, why, exp.get("_what", "")))
        else:
            passed += 1
            print("ok   mail/%s" % name)
    print("mail fixtures: %d passed, %d failed" % (passed, failed))
    sys.exit(1 if failed else 0)

if __name__ == "__main__":
    main()
