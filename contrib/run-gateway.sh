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
exec ./bidmail run
