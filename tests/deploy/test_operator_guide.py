"""docs/operator.md's code blocks, run as they are written (issue 22 §1: the guide's `env $(cat
…)` line failed for every reader, and nothing ran it). Each block of §2, §3, §5, §8 and §10 is read
from the guide and run line by line with bash, as root from the checkout, after
scripts/install-service put `callbridge` in PATH. What differs from a real box is only where
things are, each a plain substitution below: the machine's /etc/asterisk, /etc/callbridge and
/var/lib/callbridge are folders of the test's own, and the service listens on a free port instead of
2343. `$EDITOR` is a script making the edit §2 asks for (a real TRUNK_HOST). The CLI lines run a
second time as the service's user (§3: "Run it as root or as `callbridge`")."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import time
from urllib.request import urlopen

import pytest

from tests.asterisk.pbx import free_port
from tests.deploy.conftest import ROOT

GUIDE = ROOT / "docs" / "operator.md"


def _blocks(section: str) -> list[list[str]]:
    """The indented code blocks (blank-line separated) of the guide's section `## <section>.`,
    as command lines (a trailing backslash joins the next line; comments after the command are
    dropped)."""
    text = GUIDE.read_text()
    start = re.search(rf"(?m)^## {re.escape(section)}\. ", text)
    assert start, f"operator.md has no section {section}"
    end = re.search(r"(?m)^## ", text[start.end():])
    body = text[start.end():start.end() + end.start() if end else None]
    blocks, current = [], []
    for line in body.splitlines():
        if line.startswith("    ") and not line.startswith("     ") or (
                current and current[-1].endswith("\\") and line.startswith("     ")):
            current.append(line[4:])
        elif current:  # a blank line too: the guide's groups of lines are separate steps
            blocks.append(current)
            current = []
    if current:
        blocks.append(current)
    commands = []
    for block in blocks:
        joined = "\n".join(block).replace("\\\n", " ")
        commands.append([re.sub(r"\s+#\s.*$", "", ln).strip() for ln in joined.splitlines()
                         if ln.strip()])
    return commands


@pytest.fixture(scope="module")
def box(installed):
    """The sandbox's stand-ins for the machine's folders, and the substitutions into them."""
    root = installed.root
    (root / "asterisk").mkdir(exist_ok=True)
    (root / "asterisk").chmod(0o755)  # root's, as /etc/asterisk is
    editor = root / "editor"
    # §2's edit: the trunk the operator's carrier gave (the example's is refused)
    editor.write_text("#!/bin/sh\nsed -i 's/^TRUNK_HOST = .*/TRUNK_HOST = \"192.0.2.10\"/' \"$1\"\n")
    editor.chmod(0o755)
    port = free_port()
    substitutions = {"/etc/asterisk/": f"{root}/asterisk/",
                     "/etc/callbridge/": f"{installed.etc}/",
                     "/var/lib/callbridge/": f"{installed.state}/",
                     "127.0.0.1:2343": f"127.0.0.1:{port}"}
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLBRIDGE_")}
    env.update(PATH=f"{installed.bin}:{env['PATH']}", EDITOR=str(editor))
    return {"root": root, "subs": substitutions, "env": env, "port": port}


def _run(box, line: str, *, as_user: str | None = None, **values: str) -> str:
    for old, new in box["subs"].items():
        line = line.replace(old, new)
    for name, value in values.items():
        line = line.replace(f"<{name}>", value)
    assert "<" not in re.sub(r"'[^']*'", "", line), f"a placeholder left in {line!r}"
    argv = ["bash", "-euo", "pipefail", "-c", line]
    if as_user:
        argv = ["runuser", "-u", as_user, "--", "env", f"PATH={box['env']['PATH']}", *argv]
    done = subprocess.run(argv, cwd=ROOT if as_user is None else "/", env=box["env"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"{line!r} as {as_user or 'root'}:\n{done.stdout}{done.stderr}"
    return done.stdout


def test_rendering_the_asterisk_configuration_as_the_guide_says(installed, box):
    [block] = _blocks("2")
    outputs = [_run(box, line) for line in block]
    rendered = box["root"] / "asterisk"
    assert {"manager.conf", "pjsip.conf", "extensions.conf"} <= {p.name for p in
                                                                 rendered.iterdir()}
    values = (installed.etc / "asterisk-values.toml").read_text()
    assert re.search(r'(?m)^CALLERID_TOKEN = "\S{20,}"', values), values  # generated and saved
    assert oct((installed.etc / "asterisk-values.toml").stat().st_mode & 0o777) == "0o600"
    assert "192.0.2.10" in (rendered / "pjsip.conf").read_text()
    assert "generated" in outputs[-1]


def test_extensions_keys_calls_and_backups_as_the_guide_says(installed, box):
    # §3: the account and its extension, as root and again as the service's user
    [block3] = _blocks("3")
    for line in block3:
        _run(box, line)
    listed = _run(box, "callbridge extensions list", as_user="callbridge")
    assert "309" in listed and "Front desk" in listed, listed
    assert _run(box, "callbridge accounts", as_user="callbridge").split().count("acme") == 1
    # §5: keys (the first line's is the $KEY of the curl lines), then the service answering them
    keys, calls = _blocks("5")
    key = _run(box, keys[0]).strip().splitlines()[-1]
    admin = _run(box, keys[1]).strip().splitlines()[-1]
    assert key != admin and len(key) >= 20
    envfile = installed.etc / "callbridge.env"
    kept = envfile.read_text()
    envfile.write_text(kept + f"CALLBRIDGE_PORT={box['port']}\n"
                       "CALLBRIDGE_AMI_MANAGER_CONF=\n")  # this box's Asterisk is not ours
    service = subprocess.Popen([installed.wrapper, "serve"], env=box["env"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urlopen(f"http://127.0.0.1:{box['port']}/health", timeout=2):
                    break
            except OSError:
                assert service.poll() is None, service.stderr.read()
                assert time.monotonic() < deadline, "the service did not answer /health"
                time.sleep(0.3)
        box["env"]["KEY"] = key
        clicked = json.loads(_run(box, calls[0]))
        # no Asterisk in this sandbox: the answer the guide explains (503: Asterisk is down),
        # not an authentication or validation error
        assert clicked == {"error": "Dialer service unavailable",
                           "message": "the PBX link is offline"}, clicked
        status = json.loads(_run(box, calls[1], call_id="0" * 32))
        assert status["error"] == "Call not found" and status["message"], status
        log = json.loads(_run(box, calls[2]))
        assert log["count"] == 0 and log["records"] == []
    finally:
        service.terminate()
        service.wait(timeout=15)
        envfile.write_text(kept)
    # §8: an online backup where the guide puts it, checked, as root and as the service's user
    # (the guide once wrote to /var/backups, which the service's user can't write)
    [backup] = _blocks("8")[0]
    for user in (None, "callbridge"):
        _run(box, backup, as_user=user)
        [copy] = (installed.state / "backups").glob("callbridge-*.db")
        assert oct(copy.stat().st_mode & 0o777) == "0o600"
        copy.unlink()


def test_scoped_expiring_keys_as_the_guide_says(installed, box):
    """§10: a receptionist key and a scoped one with an expiry date, listed with their scopes
    (as root and, for the listing, as the service's user)."""
    _run(box, "callbridge db init")
    [block] = _blocks("10")
    reception, scoped, listed = (_run(box, line) for line in block)
    assert "scopes calllog:read contacts:read dial events:read, expires" in reception, reception
    assert "scopes contacts:read dial, expires 2030-06-30T00:00:00.000Z" in scoped, scoped
    ids = [out.split()[2] for out in (reception, scoped)]  # "created key <id> for …"
    rows = {ln.split()[0]: ln for ln in listed.splitlines()[1:]}
    assert "calllog:read,contacts:read,dial,events:read" in rows[ids[0]]
    assert "2030-06-30" in rows[ids[1]] and rows[ids[1]].endswith("active")
    assert ids[0] in _run(box, block[2], as_user="callbridge")


def test_the_blocks_this_test_reads_are_the_ones_the_guide_has():
    """A renamed section or a new block must change this test too, not slip past it."""
    assert [len(b) for b in _blocks("2")] == [3]
    assert [len(b) for b in _blocks("3")] == [3]
    assert [len(b) for b in _blocks("5")] == [2, 3]
    assert [len(b) for b in _blocks("10")] == [3]
    assert _blocks("8")[0][0].startswith("callbridge db backup /var/lib/callbridge/backups/")
    assert all(shlex.split(line) for block in _blocks("5") for line in block)
