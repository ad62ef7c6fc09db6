"""Shared fixtures: a real SQLite file per test and the real app behind aiohttp's test server."""

from __future__ import annotations

import asyncio
import inspect
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from callbridge.app import create_app
from callbridge.settings import Settings
from callbridge.web import middleware as mw
from tests.pg import engine, fresh_database
from tests.reaper import spawn


@dataclass
class Api:
    client: TestClient
    keys: dict[str, str]
    app: Any = None
    last_headers: dict = field(default_factory=dict)

    async def call(self, method: str, path: str, *, account: str | None = "acme", json=None,
                   data=None, headers=None) -> tuple[int, Any]:
        hdrs = dict(headers or {})
        if account is not None:
            hdrs.setdefault("x-api-key", self.keys[account])
        kwargs: dict[str, Any] = {"headers": hdrs}
        if json is not None:
            kwargs["json"] = json
        if data is not None:
            kwargs["data"] = data
        resp = await self.client.request(method, path, **kwargs)
        self.last_headers = dict(resp.headers)
        ctype = resp.headers.get("Content-Type", "")
        body = await resp.json() if "json" in ctype else await resp.text()
        return resp.status, body

    async def ok(self, method: str, path: str, **kw) -> Any:
        status, body = await self.call(method, path, **kw)
        assert status == 200, (status, body)
        return body


def unavailable(message: str) -> None:
    """A test whose tool or privilege is missing: it skips on a developer's machine, saying what
    to install, and fails in CI (CI=true), where nothing the project needs may be skipped."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI requires it: {message}")
    pytest.skip(message)


async def eventually(check, timeout: float, what: str, every: float = 0.01) -> Any:
    """check()'s first truthy answer (check may be async), asked every `every` seconds; fails
    naming `what` (and the last answer) after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if inspect.isawaitable(got):
            got = await got
        if got:
            return got
        assert time.monotonic() < deadline, f"timed out after {timeout} s: {what} (last: {got!r})"
        await asyncio.sleep(every)


def make_settings(tmp_path, **overrides) -> Settings:
    """Settings of a test: its own database (a SQLite file, or a PostgreSQL database when the
    run is TEST_ENGINE=postgresql)."""
    # no Master.csv unless a test gives one: never a system Asterisk's CDRs in a test database
    overrides.setdefault("cdr_csv", None)
    overrides.setdefault("database", fresh_database(tmp_path))
    return Settings(**overrides)


def sqlite_only(reason: str):
    """Marks a test that runs on SQLite only, saying why (in a PostgreSQL run it is skipped)."""
    return pytest.mark.skipif(engine() == "postgresql", reason=f"SQLite only: {reason}")


def serve_process(tmp_path: Path, stderr=subprocess.PIPE, **env: str) -> subprocess.Popen:
    """`callbridge serve` as an operator runs it: its own process, settings only from `env`
    (CALLBRIDGE_* of the test run's environment dropped), no AMI user (an empty manager.conf)."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("CALLBRIDGE_")}
    (tmp_path / "manager.conf").write_text("[general]\n")
    environ.update({"CALLBRIDGE_DATABASE": fresh_database(tmp_path, "cb.db"), "CALLBRIDGE_CDR_CSV": "",
                    "CALLBRIDGE_AMI_MANAGER_CONF": str(tmp_path / "manager.conf"), **env})
    return spawn([sys.executable, "-m", "callbridge", "serve"], env=environ,
                 stdout=subprocess.DEVNULL, stderr=stderr, text=True)


@pytest.fixture
def free_port():
    """() -> a TCP port free on 127.0.0.1 right now."""
    def pick() -> int:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return s.getsockname()[1]
    return pick


@pytest.fixture
def settings(tmp_path) -> Settings:
    return make_settings(tmp_path)


@pytest.fixture
async def api(settings) -> Api:
    app = create_app(settings)
    async with TestClient(TestServer(app)) as client:
        accounts = app[mw.ACCOUNT]
        keys = {name: (await accounts.create_key(name))[1] for name in ("acme", "globex")}
        yield Api(client, keys, app)
