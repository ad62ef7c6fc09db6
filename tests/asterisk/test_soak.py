"""The soak (bench/soak.py) for 3 minutes on the real bench: calls, clicks, resuming event
clients, five webhooks (one failing, one slow), aborted syncs, contact writes and caller-ID
lookups at once. Nothing grows after the warm-up, no ERROR line, no 5xx, every call one row,
every event delivered once. docs/benchmarks.md has the 30-minute run."""

from __future__ import annotations

import faulthandler
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.asterisk.pbx import have_tools
from tests.conftest import unavailable
from tests.pg import engine, fresh_database

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(660)
def test_a_three_minute_soak_grows_nothing_and_loses_nothing(tmp_path):
    # longer than faulthandler_timeout (200 s) on purpose: no stack dump for it; the test's own
    # timeout (660 s) and subprocess.run's (600 s) bound it
    faulthandler.cancel_dump_traceback_later()
    missing = have_tools()  # the soak boots a private Asterisk of its own
    if missing:
        unavailable(f"{missing}: run `sudo scripts/install-asterisk.sh` for the soak")
    out = tmp_path / "soak.json"
    cmd = [sys.executable, str(ROOT / "bench" / "soak.py"), "--minutes", "3", "--warmup", "1",
           "--out", str(out)]
    if engine() == "postgresql":
        cmd += ["--database", fresh_database(tmp_path, "soak")]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600,
                          env={k: v for k, v in os.environ.items()
                               if not k.startswith("CALLBRIDGE_")})
    assert out.exists(), done.stderr[-3000:]
    result = json.loads(out.read_text())
    print(json.dumps({k: v for k, v in result.items() if k != "samples"}, indent=1))
    assert result["failures"] == [] and done.returncode == 0, result["failures"]
    assert result["calls_in_master_csv"] >= 800 and result["events"] >= 3000
