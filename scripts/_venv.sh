# Sourced by scripts/serve and scripts/test: make ./.venv hold callbridge (editable) and its deps.
# Re-installs only when pyproject.toml changed since the last install.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV="$ROOT/.venv"
PY=${PYTHON:-python3}
if [ ! -x "$VENV/bin/python" ]; then
  echo "[setup] creating virtualenv $VENV" >&2
  "$PY" -m venv "$VENV"
fi
# VENV_EXTRAS=test (scripts/test): also the test tools (Playwright, schemathesis …: hundreds of
# MB that running callbridge never needs). The stamp says which extras are in.
EXTRAS=${VENV_EXTRAS:-}
stamp="$VENV/.callbridge-installed"
have=$(cat "$stamp" 2>/dev/null || echo none)
if [ "$have" = none ] || [ "$ROOT/pyproject.toml" -nt "$stamp" ] || \
   { [ -n "$EXTRAS" ] && [ "$have" != "$EXTRAS" ]; }; then
  echo "[setup] installing callbridge${EXTRAS:+ with its $EXTRAS tools} into $VENV" >&2
  "$VENV/bin/pip" install --disable-pip-version-check -q -e "$ROOT${EXTRAS:+[$EXTRAS]}" >&2
  echo "$EXTRAS" > "$stamp"
fi
