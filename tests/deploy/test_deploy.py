"""What operators deploy stays consistent with the code: the systemd unit verifies and runs the
command the install script installs, and every CALLBRIDGE_* name in the unit, the install
script, docker-compose.yml and the Dockerfile is a setting callbridge reads. (No Docker engine
runs here, so the image is checked, not built.)"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from callbridge.settings import Settings, env_name
from tests.conftest import unavailable

ROOT = Path(__file__).resolve().parents[2]
UNIT = ROOT / "deploy" / "systemd" / "callbridge.service"
SETTING_NAMES = {env_name(n) for n in Settings.model_fields}


def _names(text: str) -> set[str]:
    # install-service's own knobs (where it installs), not the service's settings
    return set(re.findall(r"\bCALLBRIDGE_[A-Z_]+\b", text)) - {
        "CALLBRIDGE_PREFIX", "CALLBRIDGE_UNIT_DIR", "CALLBRIDGE_ETC", "CALLBRIDGE_BIN_DIR",
        "CALLBRIDGE_STATE", "CALLBRIDGE_PYTHON"}


def test_every_deployed_setting_name_is_one_callbridge_reads():
    for path in (UNIT, ROOT / "scripts" / "install-service", ROOT / "docker-compose.yml",
                 ROOT / "docker" / "callbridge.Dockerfile", ROOT / "docs" / "operator.md"):
        unknown = _names(path.read_text()) - SETTING_NAMES
        assert not unknown, f"{path.name}: {sorted(unknown)} are not settings"


def test_the_image_runs_the_serve_command_and_listens_where_the_settings_say():
    dockerfile = (ROOT / "docker" / "callbridge.Dockerfile").read_text()
    assert 'CMD ["callbridge", "serve"]' in dockerfile
    assert f"EXPOSE {Settings.model_fields['port'].default}" in dockerfile
    out = subprocess.run([sys.executable, "-m", "callbridge", "serve", "--help"],
                         capture_output=True, text=True, check=True).stdout
    compose = (ROOT / "docker-compose.yml").read_text()
    for name in _names(compose):
        assert name in out  # serve --help documents what the compose file sets


def test_the_unit_verifies_and_matches_the_install_script(tmp_path):
    unit = UNIT.read_text()
    script = (ROOT / "scripts" / "install-service").read_text()
    exec_start = re.search(r"^ExecStart=(\S+) serve$", unit, re.M).group(1)
    assert exec_start == "/opt/callbridge/venv/bin/callbridge"
    assert "PREFIX=${CALLBRIDGE_PREFIX:-/opt/callbridge}" in script and '"$PREFIX/venv"' in script
    assert "EnvironmentFile=-/etc/callbridge/callbridge.env" in unit
    assert "ETC=${CALLBRIDGE_ETC:-/etc/callbridge}" in script
    for directive in ("User=callbridge", "ProtectSystem=strict", "NoNewPrivileges=yes",
                      "Restart=on-failure", "StateDirectory=callbridge"):
        assert directive in unit
    if shutil.which("systemd-analyze") is None:
        unavailable("systemd-analyze missing (Debian's systemd package)")
    local = tmp_path / "callbridge.service"
    local.write_text(unit.replace(exec_start, str(Path(sys.executable).parent / "callbridge")))
    done = subprocess.run(["systemd-analyze", "verify", str(local)], capture_output=True,
                          text=True)
    problems = [ln for ln in (done.stdout + done.stderr).splitlines()
                if "callbridge.service" in ln and "asterisk.service" not in ln]
    assert not problems, problems


def test_install_service_installs_a_working_callbridge(installed):
    tmp_path = installed.root
    # the install creates the service's database (`db init`): the CLI's data commands don't
    assert "db init failed" not in installed.stderr, installed.stderr[-2000:]
    assert (tmp_path / "state" / "callbridge.db").is_file()
    version = subprocess.run([str(tmp_path / "opt" / "venv" / "bin" / "callbridge"), "--version"],
                             capture_output=True, text=True, check=True).stdout
    assert "callbridge" in version
    assert (tmp_path / "units" / "callbridge.service").read_text() == UNIT.read_text()
    envfile = tmp_path / "etc" / "callbridge.env"
    assert oct(envfile.stat().st_mode & 0o777) == "0o640"
    # `callbridge` in PATH works on the service's database, as its user, from any folder, with
    # the env file as installed (comments only); issue 22 §1: the guide's `env $(cat …)` failed
    # on those comments, and the obvious repair wrote a callbridge.db where it was run
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CALLBRIDGE_")}
    wrapper = installed.wrapper
    for args in (["accounts", "add", "acme"], ["keys", "create", "--account", "acme"]):
        done = subprocess.run([wrapper, *args], env=clean, cwd="/", capture_output=True,
                              text=True, timeout=60)
        assert done.returncode == 0, done.stderr
    database = tmp_path / "state" / "callbridge.db"
    assert database.owner() == "callbridge", database
    listed = subprocess.run([wrapper, "accounts"], env=clean, capture_output=True, text=True,
                            timeout=60)
    assert "acme" in listed.stdout, listed
    assert not Path("/callbridge.db").exists()
    kept = envfile.read_text()
    envfile.write_text("CALLBRIDGE_PORT=9999\n")  # an operator's settings survive an upgrade
    try:
        assert installed.install().returncode == 0
        assert envfile.read_text() == "CALLBRIDGE_PORT=9999\n"
    finally:
        envfile.write_text(kept)


def test_the_operator_guide_lists_every_setting():
    guide = (ROOT / "docs" / "operator.md").read_text()
    missing = [n for n in sorted(SETTING_NAMES) if f"`{n}`" not in guide]
    assert not missing, f"docs/operator.md's reference lacks {missing}"
