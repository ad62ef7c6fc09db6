#!/usr/bin/env bash
# Install Asterisk 16 (Debian bullseye), SIPp and baresip for callbridge's test bench.
#
# Debian 12 ships no Asterisk; the bullseye suite of the *same* archive has 16.28 and installs
# cleanly. We derive the apt source from the machine's own /etc/apt/sources.list.d/debian.sources
# (first stanza only: the second is the security archive, whose suite names differ), change only
# its suite, and pin bullseye so nothing but Asterisk and libssl1.1 can come from it.
#
# Idempotent: re-running it changes nothing when everything is in place. Needs root.
# Exit status: 0 when asterisk and sipp are usable afterwards, non-zero with a reason otherwise.
set -euo pipefail

say() { printf '[install-asterisk] %s\n' "$*"; }
die() { printf '[install-asterisk] ERROR: %s\n' "$*" >&2; exit 1; }

SRC=/etc/apt/sources.list.d/debian.sources
OUT=/etc/apt/sources.list.d/callbridge-bullseye.sources
PIN=/etc/apt/preferences.d/callbridge-bullseye

have_all() { command -v asterisk >/dev/null 2>&1 && command -v sipp >/dev/null 2>&1 \
             && command -v baresip >/dev/null 2>&1 \
             && [ -e /usr/lib/asterisk/modules/chan_pjsip.so ] && [ -e /usr/lib/asterisk/modules/cdr_manager.so ]; }

if have_all; then
  say "asterisk $(asterisk -V 2>/dev/null | awk '{print $2}'), sipp and baresip already installed: nothing to do"
  exit 0
fi

[ "$(id -u)" = 0 ] || die "must run as root (apt-get install); try: sudo $0"
command -v apt-get >/dev/null || die "apt-get not found: this script supports Debian only"
[ -r "$SRC" ] || die "$SRC not found: cannot derive the Debian archive to use"

# First stanza = lines up to the first blank line.
stanza=$(awk 'BEGIN{RS=""} NR==1{print; exit}' "$SRC")
grep -q '^Suites:' <<<"$stanza" || die "first stanza of $SRC has no Suites: line"
new=$(sed -E 's/^Suites:.*/Suites: bullseye/' <<<"$stanza")
if [ ! -f "$OUT" ] || [ "$(cat "$OUT")" != "$new" ]; then
  say "writing $OUT (bullseye, derived from the first stanza of $SRC)"
  printf '%s\n' "$new" > "$OUT"
fi

pin='# callbridge: take only Asterisk (and its libssl1.1) from bullseye; everything else stays on the
# machine'"'"'s own suite. Priority 100 for the rest of bullseye means it is never chosen by default.
Package: *
Pin: release n=bullseye
Pin-Priority: 100

Package: asterisk asterisk-* libssl1.1
Pin: release n=bullseye
Pin-Priority: 500'
if [ ! -f "$PIN" ] || [ "$(cat "$PIN")" != "$pin" ]; then
  say "writing pin $PIN"
  printf '%s\n' "$pin" > "$PIN"
fi

export DEBIAN_FRONTEND=noninteractive
say "apt-get update (progress below)"
apt-get update -o Dpkg::Progress-Fancy=0 2>&1 | sed 's/^/  /' || die "apt-get update failed"
say "installing asterisk asterisk-modules sip-tester"
# policy-rc.d 101 keeps the package from starting its system service: the bench runs private instances.
trap 'rm -f /usr/sbin/policy-rc.d' EXIT
printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d
# baresip-core (Debian 12's own): a real softphone for the bench (tests/asterisk/test_softphone.py)
apt-get install -y --no-install-recommends asterisk asterisk-modules sip-tester baresip-core 2>&1 | sed 's/^/  /' \
  || die "apt-get install failed (is the bullseye suite reachable on this archive?)"

have_all || die "packages installed but asterisk/sipp/chan_pjsip/cdr_manager are not all present"
say "ok: $(asterisk -V) ; $(sipp -v 2>&1 | grep -o 'SIPp v[0-9.]*' | head -1)"
