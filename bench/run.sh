#!/bin/sh
# run.sh — the benchmarks (make bench). Ingest throughput: N generated messages of realistic
# shapes (bench/gen_corpus.py) are placed in a fresh spool and processed by `bidmail run --once`
# (parse, classify, store, acknowledge, file transport, durable commits); beside it, in the same
# run and on the same corpus, the bare ceiling (bench/ceiling: libetpan parse, the transfer
# decoding of what the gateway decodes — its text, not base64 attachments — and the Maildir
# rename alone, nothing durable). Prints messages/s for both and the ratio, and beside it the
# old ceiling that decoded every part (ceiling --all).
# Then the extraction benchmark (build/extract_bench): bidmail's MIME stage with and without
# classification and extraction, beside the bare libetpan parse, on a corpus with bid replies.
# Then the reply-trimming benchmark (build/reply_bench): pathological bodies of 100,000 lines,
# trimmed and MIME-parsed, the ratio and the growth at 4x the lines (linear: about 4).
# Then the SMTP benchmark (bench/smtp_bench.py): `bidmail send` beside smtp-source, best of 5.
# Then the scale benchmarks on generated boards (bench/board.py): the weekly run beside its
# floor (bench/digest_bench.py), the idle daemon (bench/idle_bench.py), instant alerts
# (bench/alert_bench.py).
# Last, when PostgreSQL 15 is installed (initdb and pg_ctl of /usr/lib/postgresql/15/bin, as
# tests/pg.py finds them), the several-hosts benchmarks (bench/pg_bench.py, issue 16): ingest on
# 1-3 hosts, outbox claims with 1-8 senders (double claims: 0), the weekly run of 100,000
# subscribers on 3 hosts, each beside single-host SQLite in the same run.
# usage: bench/run.sh [N]   (default 3000). Work files go to bench/out/.
# BENCH_ONLY=ingest bench/run.sh [N] runs the ingest benchmark alone.
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

# three alternating rounds, best of each: this machine is noisy
best_ceil=0
best_all=0
best_e2e=0
for round in 1 2 3; do
	# the ceiling: what the gateway decodes; then every part decoded (the old ceiling)
	mkdir -p "$OUT/ceiling-$round/incoming/new" "$OUT/ceiling-$round/incoming/cur"
	cp "$OUT"/corpus/* "$OUT/ceiling-$round/incoming/new/"
	set -- $("$OUT/ceiling" "$OUT/ceiling-$round")
	best_ceil=$(python3 -c "print(max($best_ceil, $1 / $2))")
	mkdir -p "$OUT/ceiling-all-$round/incoming/new" "$OUT/ceiling-all-$round/incoming/cur"
	cp "$OUT"/corpus/* "$OUT/ceiling-all-$round/incoming/new/"
	set -- $("$OUT/ceiling" --all "$OUT/ceiling-all-$round")
	best_all=$(python3 -c "print(max($best_all, $1 / $2))")
	# end to end
	mkdir -p "$OUT/board-$round"
	printf 'templates = %s/mail-templates\nbatch_size = 64\n' "$PWD" > "$OUT/board-$round/bidmail.conf"
	./bidmail --config "$OUT/board-$round/bidmail.conf" init >/dev/null 2>&1
	cp "$OUT"/corpus/* "$OUT/board-$round/spool/incoming/new/"
	# `bidmail deliver` fsyncs every message before it answers the MTA, so the spool is
	# durable when `run` starts; cp leaves 72 MB dirty, which the file transport's syncfs
	# would otherwise flush inside the timed run
	sync
	t0=$(now)
	./bidmail --config "$OUT/board-$round/bidmail.conf" run --once 2>/dev/null
	t1=$(now)
	done_n=$(ls "$OUT/board-$round/spool/incoming/cur" | wc -l)
	best_e2e=$(python3 -c "print(max($best_e2e, $done_n / ($t1 - $t0)))")
	acks=$(ls "$OUT/board-$round/spool/outgoing" | grep -c '\.eml$' || true)
done
python3 - "$N" "$size" "$best_ceil" "$best_e2e" "$acks" "$best_all" <<'PY'
import sys
n, size, ceil, rate, acks, old = sys.argv[1:]
ceil, rate, old = float(ceil), float(rate), float(old)
print("ingest benchmark: %s messages, %.1f MB, %s answers written, best of 3 rounds" % (n, int(size) / 1024, acks))
print("  ceiling (libetpan parse, what the gateway decodes, rename): %8.0f messages/s" % ceil)
print("  old ceiling (every part decoded, attachments included)    : %8.0f messages/s" % old)
print("  bidmail run --once (end to end)                           : %8.0f messages/s" % rate)
print("  ratio end-to-end / ceiling                                : %8.2f (target >= 0.35)" % (rate / ceil))
print("  ratio end-to-end / old ceiling (flattering)               : %8.2f" % (rate / old))
PY
[ "${BENCH_ONLY:-}" = ingest ] && exit 0

# extraction: parse + classify + extract against the bare libetpan parse, same corpus, same process
python3 bench/gen_corpus.py "$OUT/xcorpus" "$N" 7 --bids
./build/extract_bench "$OUT/xcorpus" 5

# reply trimming on 100,000-line pathological bodies, beside the MIME parse of the same bodies
./build/reply_bench 100000

# SMTP: bidmail send against Postfix's smtp-source, same sink, same size, 1 and 4 connections
python3 bench/smtp_bench.py ./bidmail "$OUT/smtp" 10000

# matching: 100,000 profiles against 2,000 projects, beside the naive loop on 2% of them
./build/match_bench 100000 2000

# scale (issue 15): the weekly run of 100,000 subscribers x 1,000 projects beside its floor,
# the idle daemon's CPU per hour, the instant alerts' latency at 100,000 profiles
# (make bench-scale SUBS=1000000 PROJECTS=10000 for the national board)
python3 bench/digest_bench.py 100000 1000
python3 bench/idle_bench.py 100000 1000
python3 bench/alert_bench.py 100000

# several hosts on one PostgreSQL (issue 16), only when PostgreSQL 15 is installed
PGBIN=/usr/lib/postgresql/15/bin
if [ -x "$PGBIN/initdb" ] && [ -x "$PGBIN/pg_ctl" ]; then
	python3 bench/pg_bench.py "$N" 20000 100000 1000
else
	echo "pg benchmark skipped: no $PGBIN/initdb or pg_ctl (contrib/install-deps.sh installs postgresql-15)"
fi
