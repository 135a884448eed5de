#!/bin/sh
# run.sh — the benchmarks (make bench). Ingest throughput: N generated messages of realistic
# shapes (bench/gen_corpus.py) are placed in a fresh spool and processed by `bidmail run --once`
# (parse, classify, store, acknowledge, file transport, durable commits); beside it, in the same
# run and on the same corpus, the bare ceiling (bench/ceiling: libetpan parse and decode plus the
# Maildir rename alone, nothing durable). Prints messages/s for both and the ratio.
# Then the extraction benchmark (build/extract_bench): bidmail's MIME stage with and without
# classification and extraction, beside the bare libetpan parse, on a corpus with bid replies.
# Then the SMTP benchmark (bench/smtp_bench.py): `bidmail send` beside smtp-source.
# usage: bench/run.sh [N]   (default 3000). Work files go to bench/out/.
set -eu
cd "$(dirname "$0")/.."
N=${1:-3000}
OUT=bench/out
# The previous run's files are moved aside and deleted only after the measurements: ext4
# makes file creation slow for about half a minute near freshly deleted inodes
# ("recently_deleted"), which would measure the last run's clean-up, not this run.
if [ -d "$OUT" ]; then
	mv "$OUT" "bench/out.old.$$"
fi
trap 'rm -rf bench/out.old.*' EXIT
mkdir -p "$OUT"
cc -O2 -o "$OUT/ceiling" bench/ceiling.c -letpan
python3 bench/gen_corpus.py "$OUT/corpus" "$N"
size=$(du -sk "$OUT/corpus" | cut -f1)
now() { date +%s.%N; }

# the ceiling
mkdir -p "$OUT/ceiling-spool/incoming/new" "$OUT/ceiling-spool/incoming/cur"
cp "$OUT"/corpus/* "$OUT/ceiling-spool/incoming/new/"
set -- $("$OUT/ceiling" "$OUT/ceiling-spool")
ceil_n=$1
ceil_s=$2

# end to end
mkdir -p "$OUT/board"
printf 'templates = %s/mail-templates\nbatch_size = 64\n' "$PWD" > "$OUT/board/bidmail.conf"
./bidmail --config "$OUT/board/bidmail.conf" init >/dev/null
cp "$OUT"/corpus/* "$OUT/board/spool/incoming/new/"
t0=$(now)
./bidmail --config "$OUT/board/bidmail.conf" run --once 2>/dev/null
t1=$(now)
done_n=$(ls "$OUT/board/spool/incoming/cur" | wc -l)
acks=$(ls "$OUT/board/spool/outgoing" | grep -c '\.eml$' || true)
python3 - "$N" "$size" "$ceil_n" "$ceil_s" "$done_n" "$t0" "$t1" "$acks" <<'PY'
import sys
n, size, cn, cs, dn, t0, t1, acks = sys.argv[1:]
cn, cs, dn, e2e = int(cn), float(cs), int(dn), float(t1) - float(t0)
ceil = cn / cs
rate = dn / e2e
print("ingest benchmark: %s messages, %.1f MB, %s acknowledgements written" % (n, int(size) / 1024, acks))
print("  ceiling (libetpan parse+decode, rename): %8.0f messages/s" % ceil)
print("  bidmail run --once (end to end)        : %8.0f messages/s" % rate)
print("  ratio end-to-end / ceiling             : %8.2f" % (rate / ceil))
PY

# extraction: parse + classify + extract against the bare libetpan parse, same corpus, same process
python3 bench/gen_corpus.py "$OUT/xcorpus" "$N" 7 --bids
./build/extract_bench "$OUT/xcorpus" 5

# SMTP: bidmail send against Postfix's smtp-source, same sink, same size, 1 and 4 connections
python3 bench/smtp_bench.py ./bidmail "$OUT/smtp" 10000

# matching: 100,000 profiles against 2,000 projects, beside the naive loop on 2% of them
./build/match_bench 100000 2000
