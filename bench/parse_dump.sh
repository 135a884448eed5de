#!/bin/sh
# parse_dump.sh — writes `bidmail parse` JSON (as it is classified, and read as a post and as a
# bid) for every test mail (tests/extract, tests/mail, tests/cases) and the files of the
# corpus folders given into OUTDIR, one file per input and mode, so that two builds' outputs
# can be compared with `diff -r` (speed work must not change a result). Run from the top of
# the source tree (the data files are found there). JOBS=N runs N parses at once.
# usage: bench/parse_dump.sh BIDMAIL OUTDIR [CORPUS_DIR...]
set -eu
bin=$1 out=$2
shift 2
mkdir -p "$out"
{
	ls tests/extract/*.eml
	find tests/mail tests/cases -type f \( -name '*.eml' -o -name '*.mail' \)
	for d in "$@"; do find "$d" -type f; done
} | sort | BIN=$bin OUT=$out xargs -d '\n' -n 64 -P "${JOBS:-1}" sh -c '
for f in "$@"; do
	k=$(printf "%s" "$f" | tr / _)
	"$BIN" parse "$f" > "$OUT/$k.json" 2>&1 || echo "rc=$?" >> "$OUT/$k.json"
	"$BIN" parse --as post "$f" > "$OUT/$k.post.json" 2>&1 || echo "rc=$?" >> "$OUT/$k.post.json"
	"$BIN" parse --as bid "$f" > "$OUT/$k.bid.json" 2>&1 || echo "rc=$?" >> "$OUT/$k.bid.json"
done' sh
