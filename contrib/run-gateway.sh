#!/bin/sh
# run-gateway.sh — initialises and starts the gateway in this folder on its embedded defaults
# (no bidmail.conf needed): database var/bidmail.db, spool spool/, outgoing mail written as .eml
# files under spool/outgoing/ while no smarthost is set. Runs in the foreground; Ctrl-C stops it.
# Called by `make run` after the packages are installed and the binary built.
set -eu
cd "$(dirname "$0")/.."
./bidmail init
echo "bidmail: gateway running. Feed it mail with:"
echo "  ./bidmail deliver --recipient post@example.org --sender you@example.net < message.eml"
echo "Outgoing mail appears in spool/outgoing/. Stop with Ctrl-C."
# A message that crashes the board or runs over max_message_time stops the process after
# writing spool/tmp/ingest.verdict; the next start sets that message aside with the reason and
# goes on, so restart then (systemd's Restart=on-failure does the same for the installed unit).
# Needs the embedded spool folder, which is what this script runs on.
starts=0
while :; do
    rc=0
    ./bidmail run || rc=$?
    [ "$rc" -eq 0 ] && exit 0
    if [ ! -e spool/tmp/ingest.verdict ] || [ "$starts" -ge 1000 ]; then
        exit "$rc"
    fi
    starts=$((starts + 1))
    echo "bidmail: one message stopped the gateway (spool/tmp/ingest.verdict); restarting to set it aside" >&2
done
