"""Renders asterisk-conf/ templates: @NAME@ placeholders replaced by given values.

Operators render them once for deployment; the test bench renders the very same files with test
ports and secrets, so there is one dialplan, not a test copy. A placeholder without a value, or a
value that would break the config syntax, is an error rather than a silently broken PBX.
"""

from __future__ import annotations

import re
from pathlib import Path

PLACEHOLDER = re.compile(r"@([A-Z][A-Z0-9_]*)@")
_SAFE_VALUE = re.compile(r"^[A-Za-z0-9._:/+=-]{1,128}$")


def placeholders(src: Path) -> set[str]:
    names: set[str] = set()
    for f in sorted(src.glob("*.conf")):
        names |= set(PLACEHOLDER.findall(f.read_text()))
    return names


def render(src: Path, out: Path, values: dict[str, object]) -> list[Path]:
    """Writes every src/*.conf rendered into out/; returns the written paths."""
    missing = placeholders(src) - values.keys()
    if missing:
        raise ValueError(f"no value for: {', '.join(sorted(missing))}")
    text_values = {k: str(v) for k, v in values.items()}
    for k, v in text_values.items():
        if not _SAFE_VALUE.match(v):
            raise ValueError(f"{k}: value must be 1-128 of A-Z a-z 0-9 . _ : / + = -"
                             " (no spaces, ';' or newlines, which would change the config)")
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for f in sorted(src.glob("*.conf")):
        target = out / f.name
        target.write_text(PLACEHOLDER.sub(lambda m: text_values[m.group(1)], f.read_text()))
        written.append(target)
    return written


def repo_conf_dir() -> Path:
    """asterisk-conf/ of this checkout."""
    return Path(__file__).resolve().parents[3] / "asterisk-conf"
