#!/bin/sh
# run.sh — the whole test suite: unit tables and end-to-end tests, first with ./bidmail, then
# once more with the AddressSanitizer+UBSan build (build-asan/). Ends with the line
# `N passed, N failed` (the sum of every part). Exit 0 only when nothing failed.
# Expects `make bidmail unit asan` done (make check does it; unit builds the storage
# conformance table too).
set -u
cd "$(dirname "$0")/.." || exit 2
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:halt_on_error=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
passed=0
failed=0
out=$(mktemp)
part() {
	"$@" 2>&1 | tee "$out"
	line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$out" | tail -n 1)
	if [ -z "$line" ]; then
		echo "FAIL $*: ended without a summary line"
		failed=$((failed + 1))
		return
	fi
	p=${line%% passed*}
	f=${line#*, }
	f=${f%% failed}
	passed=$((passed + p))
	failed=$((failed + f))
}
part ./build/unit
part ./build/store_conformance
part python3 tests/suite.py ./bidmail
part ./build-asan/unit
part ./build-asan/store_conformance
part python3 tests/suite.py ./build-asan/bidmail --label asan:
rm -f "$out"
echo
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
