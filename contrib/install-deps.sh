#!/bin/sh
# install-deps.sh — installs the Debian 12 packages bidmail needs to build, run and test.
# Input: none (runs apt-get as root, or through sudo). Output: missing packages installed.
# Idempotent: packages already present are not touched; nothing is downloaded when all are there.
set -eu
# postfix is installed for its test tools (smtp-sink, smtp-source); with "No configuration" its
# daemon is neither configured nor started. dovecot-imapd and dovecot-pop3d are the mailbox the
# fetch tests start privately (tests/dovecot.py): the system's Dovecot is kept from starting
# during the installation (policy-rc.d), and openssl makes the tests' CA. chromium,
# chromium-driver and python3-selenium (for the system Python) are the headless browser of the
# page tests (tests/browser.py), tidy checks that the HTML validates. postgresql-15 and libpq-dev
# are the second backend's server binaries and client library: the tests start a private server
# (tests/pg.py, initdb into a temporary folder); the system's cluster is never started or used.
PKGS="build-essential clang make pkg-config libetpan-dev libsqlite3-dev libpcre2-dev \
libcurl4-gnutls-dev libjansson-dev libxml2-dev libgnutls28-dev sqlite3 python3 postfix groff-base swaks msmtp strace libmicrohttpd-dev curl \
dovecot-imapd dovecot-pop3d openssl ca-certificates chromium chromium-driver python3-selenium \
tidy fonts-dejavu-core postgresql-15 libpq-dev"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; fi
echo "install-deps: installing$missing" >&2
echo "postfix postfix/main_mailer_type select No configuration" | $SUDO debconf-set-selections
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
# no package's service may start while installing (Dovecot would listen on 143 and 110)
policy=/usr/sbin/policy-rc.d
own_policy=""
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\n# bidmail install-deps: no service starts during the installation\nexit 101\n' |
        $SUDO tee "$policy" >/dev/null
    $SUDO chmod 755 "$policy"
    own_policy=1
fi
# shellcheck disable=SC2086
rc=0
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing || rc=$?
if [ -n "$own_policy" ]; then $SUDO rm -f "$policy"; fi
exit $rc
