#!/usr/bin/env bash
# The load generator the HTTP benches drive callbridge with: Debian's wrk (bench/contacts_http.py,
# bench/dialects_http.py, bench/postgres_compare.py). CI runs every bench's --quick mode, so it is
# installed with the rest of the test tools.
set -euo pipefail
if command -v wrk >/dev/null; then
  echo "[install-bench-tools] wrk present"
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "[install-bench-tools] run as root (apt-get install wrk)" >&2
  exit 1
fi
echo "[install-bench-tools] installing Debian's wrk…"
DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends wrk >/dev/null \
  || { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive \
         apt-get install -y -q --no-install-recommends wrk >/dev/null; }
echo "[install-bench-tools] $(command -v wrk)"
