#!/usr/bin/env bash
# Debian's Chromium for the receptionist page's browser tests (tests/browser.py). Playwright
# drives it through its Python package; Playwright's own browser download is never used (it is
# not reachable from a closed network, and Debian's build gets security updates).
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
  echo "[install-browser] $(/usr/bin/chromium --version 2>/dev/null || echo chromium) present"
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "[install-browser] run as root (apt-get install chromium)" >&2
  exit 1
fi
echo "[install-browser] installing Debian's chromium (about a minute)…"
DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium >/dev/null \
  || { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive \
         apt-get install -y -q --no-install-recommends chromium >/dev/null; }
echo "[install-browser] $(/usr/bin/chromium --version)"
