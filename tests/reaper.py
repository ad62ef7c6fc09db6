"""No process a test starts outlives the test run, however the run ends.

atexit hooks and fixtures' teardown cover a run that ends normally, by an exception or by SIGTERM;
they never run when pytest is killed with SIGKILL, dies of a segmentation fault or is ended by a
CI time limit (a crashed run once left its private Asterisk and three SIPp phones running for 35
minutes). So every long-lived process a test starts (Asterisk, SIPp, baresip, `callbridge serve`,
the demo) is spawned here:

- in a process group of its own, so its children (a shell's, the demo's) go with it;
- when started from the main thread, with PR_SET_PDEATHSIG = SIGKILL (util-linux's `setpriv
  --pdeathsig`, not a preexec_fn, which is unsafe in a process with threads), so the kernel kills
  the direct child the moment pytest dies (the signal follows the thread that forked: never set
  from a worker thread, whose ordinary end would kill the child);
- registered with the run's reaper: a small watchdog process, started with the first spawn, that
  waits on the run's pidfd and SIGKILLs every registered group still alive once the run is gone
  (and exits itself). Groups are named with their leader's start time, so a recycled pid is never
  killed by mistake.

    python -m tests.reaper PID REGISTRY     # the watchdog (spawn() starts it)
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

_registry: Path | None = None
_watchdog: subprocess.Popen | None = None


def _start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (/proc/PID/stat field 22)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def _ensure_watchdog() -> Path:
    global _registry, _watchdog
    if _registry is None or _watchdog is None or _watchdog.poll() is not None:
        fd, name = tempfile.mkstemp(prefix="callbridge-reaper-", suffix=".pids")
        os.close(fd)
        _registry = Path(name)
        root = Path(__file__).resolve().parents[1]
        # its own session: a signal to pytest's process group (Ctrl-C, a CI stop) leaves it
        # alive to do its job
        _watchdog = subprocess.Popen(
            [sys.executable, "-m", "tests.reaper", str(os.getpid()), str(_registry)],
            cwd=root, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            start_new_session=True)
    return _registry


def register(pid: int) -> None:
    """The process group led by pid dies with this test run."""
    registry = _ensure_watchdog()
    started = _start_time(pid)
    if started is not None:
        with registry.open("a") as f:
            f.write(f"{pid} {started}\n")


def spawn(cmd: list[str], **popen: Any) -> subprocess.Popen:
    """subprocess.Popen for a process that must not outlive the test run."""
    popen.setdefault("stdin", subprocess.DEVNULL)
    if threading.current_thread() is threading.main_thread():
        cmd = ["setpriv", "--pdeathsig", "KILL", "--", *cmd]
    proc = subprocess.Popen(cmd, start_new_session=True, **popen)
    register(proc.pid)
    return proc


def _kill_registered(registry: Path) -> None:
    try:
        lines = registry.read_text().splitlines()
    except OSError:
        return
    for line in lines:
        pid, started = line.split()
        # The group is the one registered when its leader is that same process (same start
        # time), or gone while members remain: Linux reuses no pid still naming a group.
        if _start_time(int(pid)) in (started, None):
            try:
                os.killpg(int(pid), signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass


def watch(run_pid: int, registry: Path) -> None:
    """Blocks until run_pid exits, then kills what it registered."""
    try:
        fd = os.pidfd_open(run_pid)
    except ProcessLookupError:
        fd = None
    if fd is not None:
        select.select([fd], [], [])  # readable when the process has exited
        os.close(fd)
    _kill_registered(registry)
    time.sleep(0.2)  # a group member forked meanwhile
    _kill_registered(registry)
    registry.unlink(missing_ok=True)


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    watch(int(sys.argv[1]), Path(sys.argv[2]))
