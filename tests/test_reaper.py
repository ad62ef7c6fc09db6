"""No process a test starts outlives the test run: not when pytest is killed with SIGKILL, not
when it dies of a segmentation fault (tests/reaper.py)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is gone for our purpose (its parent, the killed pytest, can't reap it any more:
    # init does)
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGSEGV])
def test_a_killed_test_run_leaves_no_process_behind(tmp_path, how):
    pids = tmp_path / "pids"
    (tmp_path / "test_inner.py").write_text(textwrap.dedent(f"""
        import subprocess, time
        from pathlib import Path
        from tests.reaper import spawn

        def test_starts_a_bench_and_hangs():
            # a direct child, and a shell whose own children share its process group
            direct = spawn(["sleep", "300"])
            shell = spawn(["bash", "-c", "sleep 300 & sleep 300 & wait"])
            time.sleep(0.5)
            group = subprocess.run(["pgrep", "-g", str(shell.pid)], capture_output=True,
                                   text=True).stdout.split()
            Path({str(pids)!r}).write_text(" ".join([str(direct.pid), *group]))
            time.sleep(300)
    """))
    inner = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:faulthandler",
         "--rootdir", str(tmp_path), str(tmp_path / "test_inner.py")],
        cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not (pids.exists() and pids.read_text()) and time.monotonic() < deadline:
            time.sleep(0.05)
        started = [int(p) for p in pids.read_text().split()]
        assert len(started) >= 4 and all(_alive(p) for p in started)
        inner.send_signal(how)  # no atexit, no teardown, no fixture runs now
        inner.wait(timeout=20)
        deadline = time.monotonic() + 10
        while any(_alive(p) for p in started) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert [p for p in started if _alive(p)] == []
    finally:
        inner.kill()
        inner.wait()
