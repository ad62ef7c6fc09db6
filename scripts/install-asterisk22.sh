#!/usr/bin/env bash
# Build Asterisk 22 LTS from the release sources in ../shared/asterisk-src (no internet needed)
# into its own prefix beside Debian's Asterisk 16, for the real-PBX bench (~2.5 min on 2 cores).
#
#   sudo scripts/install-asterisk22.sh        # -> /opt/callbridge-asterisk22 (or $ASTERISK22_PREFIX)
#
# Only the modules asterisk-conf/modules.conf loads are built; no sounds are downloaded.
# `make install LDCONFIG=:` keeps the prefix out of the system linker cache: otherwise Debian's
# Asterisk 16 would load 22's libasteriskpj and crash on the first REGISTER. The build finds its
# own libraries through RUNPATH. Idempotent: a built prefix of the same version with every module
# modules.conf loads is left alone.
set -euo pipefail
say() { printf '[install-asterisk22] %s\n' "$*"; }
die() { printf '[install-asterisk22] ERROR: %s\n' "$*" >&2; exit 1; }

ROOT=$(cd "$(dirname "$0")/.." && pwd)
VERSION=22.10.1
PJ=2.17
PREFIX=${ASTERISK22_PREFIX:-/opt/callbridge-asterisk22}
SRC=${ASTERISK22_SRC:-}
for candidate in "$SRC" "$ROOT/../shared/asterisk-src" /work/shared/asterisk-src; do
  if [ -n "$candidate" ] && [ -f "$candidate/asterisk-$VERSION.tar.gz" ]; then SRC=$candidate; break; fi
done
modules=$(grep -E '^load *=>' "$ROOT/asterisk-conf/modules.conf" | sed -E 's/^load *=> *([a-z0-9_]+)\.so.*/\1/')
built_all() {  # every module modules.conf loads is in the prefix (a module added since: rebuild)
  for m in $modules; do [ -e "$PREFIX/lib/asterisk/modules/$m.so" ] || return 1; done
}
if [ -x "$PREFIX/sbin/asterisk" ] && built_all \
   && "$PREFIX/sbin/asterisk" -V 2>/dev/null | grep -q "$VERSION"; then
  say "Asterisk $VERSION already in $PREFIX: nothing to do"
  exit 0
fi
[ "$(id -u)" = 0 ] || die "must run as root (build dependencies from apt); try: sudo $0"
[ -f "$SRC/asterisk-$VERSION.tar.gz" ] || die "asterisk-$VERSION.tar.gz not found (set ASTERISK22_SRC)"

say "build dependencies from Debian"
DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends build-essential \
  libjansson-dev libxml2-dev libsqlite3-dev uuid-dev libedit-dev libssl-dev \
  libcurl4-openssl-dev pkg-config bzip2 patch >/dev/null

BUILD=$(mktemp -d /tmp/callbridge-asterisk22.XXXXXX)
trap 'rm -rf "$BUILD"' EXIT
tar -xzf "$SRC/asterisk-$VERSION.tar.gz" -C "$BUILD"
mkdir -p "$BUILD/externals"
cp "$SRC/pjproject-$PJ.tar.bz2" "$BUILD/externals/"
cd "$BUILD/asterisk-$VERSION"
say "configure (bundled pjproject $PJ from the externals cache) into $PREFIX"
./configure --prefix="$PREFIX" --with-externals-cache="$BUILD/externals" \
  --with-pjproject-bundled --with-jansson-bundled=no >"$BUILD/configure.log" 2>&1 \
  || { tail -30 "$BUILD/configure.log"; die "configure failed"; }
make menuselect.makeopts >/dev/null 2>&1
# every category off, then exactly the modules the project loads
cats=$(menuselect/menuselect --list-options 2>/dev/null | awk '{print $2}' | grep -E '^MENUSELECT_' | sort -u || true)
for cat in MENUSELECT_ADDONS MENUSELECT_APPS MENUSELECT_BRIDGES MENUSELECT_CDR MENUSELECT_CEL \
           MENUSELECT_CHANNELS MENUSELECT_CODECS MENUSELECT_FORMATS MENUSELECT_FUNCS \
           MENUSELECT_PBX MENUSELECT_RES MENUSELECT_TESTS MENUSELECT_UTILS \
           MENUSELECT_CORE_SOUNDS MENUSELECT_MOH MENUSELECT_EXTRA_SOUNDS; do
  menuselect/menuselect --disable-category "$cat" menuselect.makeopts >/dev/null 2>&1 || true
done
for m in $modules; do
  menuselect/menuselect --enable "$m" menuselect.makeopts >/dev/null \
    || die "menuselect does not know module $m"
done
say "make -j$(nproc) ($(wc -w <<<"$modules") modules; about 90 s)"
make -j"$(nproc)" >"$BUILD/make.log" 2>&1 || { tail -40 "$BUILD/make.log"; die "make failed"; }
make install LDCONFIG=: >"$BUILD/install.log" 2>&1 || { tail -30 "$BUILD/install.log"; die "make install failed"; }
"$PREFIX/sbin/asterisk" -V
for m in $modules; do
  [ -e "$PREFIX/lib/asterisk/modules/$m.so" ] || die "$m.so was not built"
done
say "installed into $PREFIX (the system linker cache untouched)"
