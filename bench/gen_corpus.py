#!/usr/bin/env python3
"""gen_corpus.py — writes N messages of realistic shapes and sizes into DIR, as spool files
(first line: the X-Bidmail-Envelope the deliver command writes). The mix, by weight: plain-text
posts in French and English (0.5-4 KB), Gmail-style multipart/alternative posts with HTML,
Outlook-style windows-1252 quoted-printable, posts with a base64 PDF attachment (20-200 KB),
auto-replies and bounces (not answered), mail to the robot (quarantined for now).
With --bids, one message in five is instead a bid reply to bid+KEY@ (quoted digest below,
an offer, a delay, a signature), as the extraction benchmark wants.
usage: gen_corpus.py DIR N [SEED] [--bids]
"""
import base64, os, random, sys

WORDS_FR = ("nous cherchons un développeur pour créer une application mobile de réservation avec "
            "paiement en ligne le budget est de euros délai semaines merci de nous contacter "
            "traduction site vitrine boutique comptabilité secrétariat saisie de données").split()
WORDS_EN = ("we are looking for a developer to build a mobile booking application with online "
            "payment the budget is dollars deadline weeks please contact us translation website "
            "shop accounting data entry virtual assistant").split()

def para(rng, words, n):
    return " ".join(rng.choice(words) for _ in range(n)).capitalize() + "."

def body(rng, words, size):
    out = []
    while sum(len(p) for p in out) < size:
        out.append(para(rng, words, rng.randint(8, 40)))
    return "\n\n".join(out)

def envelope(rcpt, sender):
    return "X-Bidmail-Envelope: sender=<%s> recipient=<%s> received=2026-03-02T08:00:00Z\n" % (sender, rcpt)

def headers(i, sender, name, subject, extra=""):
    return ("From: %s <%s>\nTo: post@example.org\nSubject: %s\nDate: Mon, 2 Mar 2026 08:%02d:%02d +0100\n"
            "Message-ID: <bench-%d-%s@client.example>\nMIME-Version: 1.0\n%s"
            % (name, sender, subject, (i // 60) % 60, i % 60, i, os.urandom(4).hex(), extra))

def make_bid(rng, i):
    sender = "free%d@free.example" % i
    fr = rng.random() < 0.6
    amount = rng.choice(["450 € HT", "1 200 €", "€900", "$1,500", "35 €/h", "2k€"])
    days = rng.randint(2, 30)
    if fr:
        new = "Bonjour,\n\nJe vous propose %s, livraison sous %d jours.\n20 %% à la commande, solde à la livraison.\n\nCordialement,\nJean Martin\n06 12 34 56 78\n" % (amount, days)
        attrib = "Le lun. 2 mars 2026 à 09:30, bidmail <robot@example.org> a écrit :"
    else:
        new = "Hi,\n\nMy quote is %s, delivered within %d days.\n\nBest regards,\nJohn\n\nSent from my iPhone\n" % (amount, days)
        attrib = "On Mon, Mar 2, 2026 at 9:30 AM bidmail <robot@example.org> wrote:"
    quoted = "\n".join("> " + l for l in body(rng, WORDS_FR if fr else WORDS_EN, rng.randint(800, 3000)).split("\n"))
    return (envelope("bid+p%d@example.org" % (1000 + i), sender) +
            "From: Free %d <%s>\nTo: bid+p%d@example.org\nSubject: Re: Projet n° %d\nDate: Mon, 2 Mar 2026 10:00:00 +0100\n"
            "Message-ID: <bid-%d@free.example>\nIn-Reply-To: <digest@example.org>\nMIME-Version: 1.0\n"
            "Content-Type: text/plain; charset=utf-8\n\n%s\n%s\n%s\n" % (i, sender, 1000 + i, 1000 + i, i, new, attrib, quoted))

def make(rng, i):
    if BIDS and rng.random() < 0.2:
        return make_bid(rng, i)
    r = rng.random()
    sender = "client%d@client.example" % i
    words = WORDS_FR if rng.random() < 0.6 else WORDS_EN
    text = body(rng, words, rng.randint(500, 4000))
    subj = para(rng, words, rng.randint(3, 8))[:70]
    if r < 0.35:
        return envelope("post@example.org", sender) + headers(i, sender, "Client %d" % i, subj,
            "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n") + "\n" + text + "\n"
    if r < 0.60:
        html = "".join("<p>%s</p>" % p for p in text.split("\n\n"))
        qp = text.encode().decode("ascii", "ignore")
        return (envelope("post@example.org", sender) + headers(i, sender, "Client %d" % i, subj,
            'Content-Type: multipart/alternative; boundary="000000000000b%d"\n' % i) +
            "\n--000000000000b%d\nContent-Type: text/plain; charset=\"UTF-8\"\n\n%s\n" % (i, text) +
            "\n--000000000000b%d\nContent-Type: text/html; charset=\"UTF-8\"\n\n<div dir=\"ltr\">%s</div>\n" % (i, html) +
            "\n--000000000000b%d--\n" % i)
    if r < 0.72:
        raw = text.encode("cp1252", "replace")
        import quopri
        qp = quopri.encodestring(raw).decode("ascii")
        return envelope("post@example.org", sender) + headers(i, sender, "\"Client, %d\"" % i, subj,
            'Content-Type: text/plain; charset="iso-8859-1"\nContent-Transfer-Encoding: quoted-printable\n') + "\n" + qp + "\n"
    if r < 0.85:
        pdf = base64.encodebytes(os.urandom(rng.randint(20000, 200000))).decode()
        return (envelope("post@example.org", sender) + headers(i, sender, "Client %d" % i, subj,
            'Content-Type: multipart/mixed; boundary="------------mix%d"\n' % i) +
            "\n--------------mix%d\nContent-Type: text/plain; charset=UTF-8; format=flowed\n\n%s\n" % (i, text) +
            "\n--------------mix%d\nContent-Type: application/pdf; name=\"cahier.pdf\"\n"
            "Content-Disposition: attachment; filename=\"cahier.pdf\"\nContent-Transfer-Encoding: base64\n\n%s\n" % (i, pdf) +
            "--------------mix%d--\n" % i)
    if r < 0.93:
        return envelope("post@example.org", sender) + headers(i, sender, "Client %d" % i,
            "Réponse automatique : absence", "Auto-Submitted: auto-replied\nContent-Type: text/plain; charset=utf-8\n") + \
            "\nJe suis absent jusqu'au 20 mars.\n"
    return (envelope("post@example.org", "") + "From: MAILER-DAEMON@mx.example\nTo: post@example.org\n"
            "Subject: Undelivered Mail Returned to Sender\nMessage-ID: <dsn-%d@mx.example>\nMIME-Version: 1.0\n"
            'Content-Type: multipart/report; report-type=delivery-status; boundary="dsn%d"\n\n' % (i, i) +
            "--dsn%d\nContent-Type: text/plain\n\nNot delivered.\n--dsn%d\nContent-Type: message/delivery-status\n\n"
            "Reporting-MTA: dns; mx.example\n\nFinal-Recipient: rfc822; gone%d@example.net\nAction: failed\nStatus: 5.1.1\n"
            "--dsn%d--\n" % (i, i, i, i))

BIDS = False

def main():
    global BIDS
    BIDS = "--bids" in sys.argv
    args = [a for a in sys.argv[1:] if a != "--bids"]
    d, n = args[0], int(args[1])
    rng = random.Random(int(args[2]) if len(args) > 2 else 42)
    os.makedirs(d, exist_ok=True)
    for i in range(n):
        with open(os.path.join(d, "%010d.%06d.Pbench.R%08x" % (1772438400 + i, i % 1000000, i)), "w", encoding="utf-8") as f:
            f.write(make(rng, i))

main()
