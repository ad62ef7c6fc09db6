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
stamp="$VENV/.callbridge-installed"
if [ ! -f "$stamp" ] || [ "$ROOT/pyproject.toml" -nt "$stamp" ]; then
  echo "[setup] installing callbridge and its dependencies into $VENV" >&2
  "$VENV/bin/pip" install --disable-pip-version-check -q -e "$ROOT[test]" >&2
  touch "$stamp"
fi
