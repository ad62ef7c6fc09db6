"""Schemathesis against /openapi.json of a running `callbridge serve`: every operation fuzzed
from its schema, with an account key, with a scoped one (the receptionist preset: refused, 403,
where it lacks the scope) and with an admin key. Passes only with 0 server errors
and 0 responses that break the document (the seed of a failing run is in the output)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests.conftest import serve_process
from tests.pg import created_database

ST = str(Path(sys.executable).parent / "st")


def _key(env: dict, *args: str) -> str:
    out = subprocess.run([sys.executable, "-m", "callbridge", "keys", "create", *args], env=env,
                         capture_output=True, text=True, check=True).stdout
    return out.strip().splitlines()[-1]


def _st(base: str, key: str, cwd: Path, *selection: str) -> subprocess.CompletedProcess:
    # cwd: schemathesis keeps a .schemathesis/ folder where it runs
    return subprocess.run([ST, "run", f"{base}/openapi.json", "-H", f"x-api-key: {key}",
                           "--max-examples", "25", "--checks",
                           "not_a_server_error,response_schema_conformance", *selection],
                          capture_output=True, text=True, timeout=600, cwd=cwd)


def test_no_server_errors_and_no_schema_violations(tmp_path, free_port):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLBRIDGE_")}
    env["CALLBRIDGE_DATABASE"] = created_database(tmp_path, "cb.db")
    account_key, admin_key = _key(env, "--account", "acme"), _key(env, "--admin")
    scoped_key = _key(env, "--account", "acme", "--preset", "receptionist", "--expires", "1d")
    proc = serve_process(tmp_path, stderr=subprocess.DEVNULL, CALLBRIDGE_PORT=str(port),
                         CALLBRIDGE_RATE_LIMIT="10000000/15m", CALLBRIDGE_LOG_LEVEL="WARNING")
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                urllib.request.urlopen(f"{base}/health", timeout=1)
                break
            except OSError:
                assert time.monotonic() < deadline, "callbridge did not start"
                time.sleep(0.1)
        for key, selection in ((account_key, ("--exclude-path-regex", "^/admin")),
                               (scoped_key, ("--exclude-path-regex", "^/admin")),
                               (admin_key, ("--include-path-regex", "^/admin"))):
            done = _st(base, key, tmp_path, *selection)
            assert done.returncode == 0, done.stdout[-6000:]
            assert " passed" in done.stdout, done.stdout[-3000:]
    finally:
        proc.terminate()
        proc.wait(10)
