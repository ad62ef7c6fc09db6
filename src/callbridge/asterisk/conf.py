"""Renders asterisk-conf/ templates: @NAME@ placeholders replaced by given values.

Operators render them once for deployment (install(): scripts/render-asterisk-conf); the test
bench renders the very same files with test ports and secrets (render()), so there is one
dialplan, not a test copy. A placeholder without a value, or a value that would break the config
syntax, is an error rather than a silently broken PBX.

install() is render() made safe for /etc/asterisk: it never replaces an existing file that
differs unless forced (then it keeps a dated backup), refuses the example secrets, generates the
secrets not given (and saves them into the values file, so the next render keeps them), binds
SIP to loopback unless told otherwise, and writes the files holding secrets mode 0640 owned by
the asterisk user.
"""

from __future__ import annotations

import difflib
import ipaddress
import os
import pwd
import re
import secrets
import shutil
from dataclasses import dataclass, field
from datetime import datetime
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


# Values an operator rarely changes; SIP_BIND on loopback until the operator names an address
# the phones can reach (a PBX answering SIP on every interface is found by scanners in minutes).
DEFAULTS = {"AMI_PORT": 5038, "SIP_BIND": "127.0.0.1", "SIP_PORT": 5060, "TRUNK_PORT": 5060,
            "RTP_START": 10000, "RTP_END": 20000, "CALLBRIDGE_PORT": 2343}
# Files that hold a secret: readable by Asterisk and root only.
SECRET_FILES = {"manager.conf", "pjsip.conf", "extensions.conf"}
MIN_SECRET = 16


def is_secret(name: str) -> bool:
    return name.endswith(("_SECRET", "_TOKEN"))


@dataclass
class Installed:
    written: list[Path] = field(default_factory=list)
    unchanged: list[Path] = field(default_factory=list)
    backups: list[Path] = field(default_factory=list)
    generated: list[str] = field(default_factory=list)  # names of secrets made now
    owner: str | None = None


def _check(src: Path, values: dict[str, object]) -> None:
    """Refuses, one line each, what would render a PBX that doesn't work: a name no file uses
    (a misspelt SIP_BNID once rendered with SIP_BIND's default), a port out of range, a SIP_BIND
    that is no address, the example's trunk host (*.example names exist nowhere)."""
    known = placeholders(src) | DEFAULTS.keys()
    for name, value in values.items():
        if name not in known:
            near = difflib.get_close_matches(name, sorted(known), n=1)
            raise ValueError(f"{name}: no configuration file uses it"
                             + (f"; did you mean {near[0]}?" if near else ""))
        if name.endswith("_PORT") or name in ("RTP_START", "RTP_END"):
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
                raise ValueError(f"{name}: {value!r} is not a port (1-65535)")
    merged = {**DEFAULTS, **values}
    if int(merged["RTP_START"]) >= int(merged["RTP_END"]):  # type: ignore[call-overload]
        raise ValueError(f"RTP_START: {merged['RTP_START']} is not below RTP_END"
                         f" {merged['RTP_END']}")
    try:
        ipaddress.ip_address(str(merged["SIP_BIND"]))
    except ValueError:
        raise ValueError(f"SIP_BIND: {merged['SIP_BIND']!r} is not an IP address of this"
                         " machine (e.g. 192.168.1.10)") from None
    trunk = str(values.get("TRUNK_HOST", ""))
    if trunk.lower().rstrip(".").endswith(".example"):
        raise ValueError(f"TRUNK_HOST: {trunk!r} is the example's: set your carrier's host")


def _an_example_secret(value: str) -> bool:
    return "changeme" in re.sub(r"[^a-z]", "", value.lower())


def complete(src: Path, values: dict[str, object]) -> tuple[dict[str, object], dict[str, str]]:
    """The values with defaults filled in and missing secrets generated (returned apart, to be
    saved). What can't work is refused (_check); so is an example secret ("change-me…",
    "changeme…") or one shorter than MIN_SECRET."""
    _check(src, values)
    out = {**DEFAULTS, **values}
    generated = {}
    for name in sorted(placeholders(src)):
        if not is_secret(name):
            continue
        given = values.get(name)
        if given is None or str(given) == "":
            generated[name] = out[name] = secrets.token_urlsafe(24)
        elif _an_example_secret(str(given)) or len(str(given)) < MIN_SECRET:
            raise ValueError(f"{name}: the example value, or shorter than {MIN_SECRET}"
                             f" characters; remove it to have a strong one generated")
    return out, generated


def install(src: Path, out: Path, values: dict[str, object], *, force: bool = False,
            values_file: Path | None = None, owner: str = "asterisk",
            now: datetime | None = None) -> Installed:
    """Renders into out/ (e.g. /etc/asterisk) safely; see the module docstring."""
    full, generated = complete(src, values)
    staging = out / f".callbridge-render-{os.getpid()}"
    try:
        rendered = render(src, staging, full)
        report = Installed()
        changed = []
        for new in rendered:
            target = out / new.name
            if target.exists() and target.read_bytes() == new.read_bytes():
                report.unchanged.append(target)
            else:
                changed.append((new, target))
        clashes = [t for _, t in changed if t.exists()]
        if clashes and not force:
            raise FileExistsError(
                "would replace " + ", ".join(str(t) for t in clashes) + " (different content);"
                " run again with --force to replace them (each is kept as a dated .bak)")
        if generated and values_file is not None:  # saved before anything uses them
            with values_file.open("a") as f:
                f.write("\n# generated by render-asterisk-conf "
                        f"{(now or datetime.now()).isoformat(timespec='seconds')}\n")
                f.writelines(f'{k} = "{v}"\n' for k, v in generated.items())
            values_file.chmod(0o600)
        stamp = (now or datetime.now()).strftime("%Y%m%d-%H%M%S")
        uid = gid = None
        try:
            entry = pwd.getpwnam(owner)
            uid, gid = entry.pw_uid, entry.pw_gid
        except KeyError:
            pass
        for new, target in changed:
            if target.exists():
                backup = target.with_name(f"{target.name}.{stamp}.bak")
                shutil.copy2(target, backup)
                was = target.stat()  # the copy keeps the mode; its owner too (asterisk, say)
                try:
                    os.chown(backup, was.st_uid, was.st_gid)
                except PermissionError:
                    pass  # not root: the copy is the runner's, as any file it writes
                report.backups.append(backup)
            secret = target.name in SECRET_FILES
            new.chmod(0o640 if secret else 0o644)
            if secret and uid is not None and os.geteuid() == 0:
                os.chown(new, uid, -1 if gid is None else gid)  # Asterisk reads it; nobody else does
                report.owner = owner
            os.replace(new, target)  # whole file or nothing: Asterisk never reads half of one
            report.written.append(target)
        report.generated = list(generated)
        return report
    finally:
        shutil.rmtree(staging, ignore_errors=True)
