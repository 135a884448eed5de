#!/bin/sh
# parse_dump.sh — writes `bidmail parse` JSON (as it is classified, and read as a post and as a
# bid) for every test mail and a generated corpus into OUTDIR, one file per input and mode, so
# that two builds' outputs can be compared with `diff -r` (speed work must not change a result).
# usage: bench/parse_dump.sh BIDMAIL OUTDIR [CORPUS_DIR...]
set -eu
bin=$1 out=$2
shift 2
mkdir -p "$out"
{
	ls tests/extract/*.eml
	find tests/mail tests/cases -type f \( -name '*.eml' -o -name '*.mail' \)
	for d in "$@"; do find "$d" -type f; done
} | sort | while read -r f; do
	k=$(printf '%s' "$f" | tr '/' '_')
	"$bin" parse "$f" > "$out/$k.json" 2>&1 || echo "rc=$?" >> "$out/$k.json"
	"$bin" parse --as post "$f" > "$out/$k.post.json" 2>&1 || echo "rc=$?" >> "$out/$k.post.json"
	"$bin" parse --as bid "$f" > "$out/$k.bid.json" 2>&1 || echo "rc=$?" >> "$out/$k.bid.json"
done
