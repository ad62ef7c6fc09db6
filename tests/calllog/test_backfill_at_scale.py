"""A real installation's Master.csv (100 MiB of older calls), callbridge killed with SIGKILL in the
middle of importing it, 900 calls ending while it is down: after a restart every call is in the
call log exactly once. callbridge runs as the operator runs it (`callbridge serve`)."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from callbridge.cli import main
from tests.calllog.master_csv import inbound, write_history
from tests.conftest import serve_process
from tests.pg import created_database, query

MIB = 2**20


def _serve(tmp_path: Path, csv: Path, port: int) -> subprocess.Popen:
    return serve_process(tmp_path, stderr=open(tmp_path / "serve.log", "ab"),
                         CALLBRIDGE_CDR_CSV=str(csv), CALLBRIDGE_PORT=str(port),
                         CALLBRIDGE_LOG_LEVEL="WARNING")


def _rows(db: str) -> tuple[int, int]:
    found = query(db, "SELECT count(*), count(DISTINCT linkedid) FROM call_log")
    return found[0] if found else (0, 0)


def _wait(what: str, predicate, timeout: float, proc: subprocess.Popen, log: Path):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"callbridge exited {proc.returncode}: {log.read_text()[-2000:]}"
        value = predicate()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}: {log.read_text()[-2000:]}")


# ~125 s on SQLite and ~195 s on PostgreSQL in CI, close to the suite's 240 s: its own waits are
# bounded, this only leaves room for a loaded machine
@pytest.mark.timeout(480)
def test_a_100_mib_master_csv_and_calls_while_down_are_each_recorded_once(tmp_path, free_port):
    db, csv, log = created_database(tmp_path, "cb.db"), tmp_path / "Master.csv", tmp_path / "serve.log"
    older = write_history(csv, 100 * MIB)
    assert csv.stat().st_size >= 100 * MIB
    assert CliRunner().invoke(main, ["accounts", "add", "acme"],
                              env={"CALLBRIDGE_DATABASE": str(db)}).exit_code == 0
    result = CliRunner().invoke(main, ["extensions", "add", "--account", "acme", "309"],
                                env={"CALLBRIDGE_DATABASE": str(db)})
    assert result.exit_code == 0, result.output

    first = _serve(tmp_path, csv, free_port())
    try:
        _wait("a fifth of the history imported", lambda: _rows(db)[0] > older // 5,
              240, first, log)
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    killed_at = _rows(db)[0]
    assert killed_at < older, "the import finished before the kill: nothing was interrupted"

    with csv.open("a") as f:  # 900 calls end while callbridge is down
        f.write("".join(inbound(i, f"1666{i:07d}", prefix="down") for i in range(900)))
    expected = older + 900

    second = _serve(tmp_path, csv, free_port())
    try:
        _wait("every call recorded", lambda: _rows(db)[0] >= expected, 300, second, log)
        time.sleep(2)  # anything counted twice would show up now
        rows, distinct = _rows(db)
        assert rows == distinct == expected
        down = query(db, "SELECT count(*), count(DISTINCT linkedid) FROM call_log"
                         " WHERE linkedid LIKE 'down%' AND account_id IS NOT NULL")[0]
        raw_dupes = query(db, "SELECT count(*) FROM (SELECT 1 FROM cdrs GROUP BY uniqueid,"
                              " sequence, start HAVING count(*) > 1) AS twice")[0][0]
        assert down == (900, 900) and raw_dupes == 0
    finally:
        second.terminate()
        second.wait(timeout=30)
