"""The service as scripts/install-service installs it, into folders of a test's own (the same
script, with its CALLBRIDGE_PREFIX / _ETC / _BIN_DIR / _STATE / _UNIT_DIR knobs)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import unavailable

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Installed:
    root: Path  # every folder below is in it; readable by the callbridge user
    env: dict[str, str]  # the install script's environment (its knobs)
    stderr: str  # what the install said on stderr

    @property
    def etc(self) -> Path:
        return self.root / "etc"

    @property
    def bin(self) -> Path:
        return self.root / "bin"

    @property
    def state(self) -> Path:
        return self.root / "state"

    @property
    def wrapper(self) -> str:
        return str(self.bin / "callbridge")

    def install(self) -> subprocess.CompletedProcess:
        return subprocess.run(["bash", str(ROOT / "scripts" / "install-service")], env=self.env,
                              capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def installed():
    """install-service run once per module, as root (it adds a system user)."""
    if os.geteuid() != 0:
        unavailable("installs a system user: run the suite as root")
    # a folder the callbridge user can reach (pytest's tmp_path is root's alone, 0700)
    root = Path(tempfile.mkdtemp(prefix="cb-install-", dir="/var/tmp"))
    root.chmod(0o755)
    try:
        env = {**os.environ, "CALLBRIDGE_PREFIX": str(root / "opt"),
               "CALLBRIDGE_UNIT_DIR": str(root / "units"), "CALLBRIDGE_ETC": str(root / "etc"),
               "CALLBRIDGE_BIN_DIR": str(root / "bin"), "CALLBRIDGE_STATE": str(root / "state")}
        (root / "units").mkdir()
        done = Installed(root, env, "")
        result = done.install()
        assert result.returncode == 0, result.stderr[-2000:]
        done.stderr = result.stderr
        yield done
    finally:
        shutil.rmtree(root, ignore_errors=True)
