#!/usr/bin/env bash
# Debian's PostgreSQL server (with pg_trgm, which postgresql-15 itself ships) for the test run on
# PostgreSQL and for a scale-out deployment (docs/scale-out.md). Only the binaries: the tests
# start a throwaway cluster of their own (tests/pg.py); no system cluster is needed or started.
set -euo pipefail
have() { ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 \
           && ls /usr/share/postgresql/*/extension/pg_trgm.control >/dev/null 2>&1; }
if have; then
  echo "[install-postgresql] $(ls -d /usr/lib/postgresql/*/bin | tail -1)/postgres present"
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "[install-postgresql] run as root (apt-get install postgresql)" >&2
  exit 1
fi
echo "[install-postgresql] installing Debian's postgresql (about 30 s)…"
DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends postgresql >/dev/null \
  || { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive \
         apt-get install -y -q --no-install-recommends postgresql >/dev/null; }
have || { echo "[install-postgresql] postgresql installed but initdb/pg_trgm not found" >&2; exit 1; }
echo "[install-postgresql] $(ls -d /usr/lib/postgresql/*/bin | tail -1)/postgres installed"
