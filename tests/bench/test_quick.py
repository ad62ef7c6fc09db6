"""Every bench runs to its end (bench/quick.py): each script with --quick, seconds on small data,
must exit 0 and print its figures. A bench that only runs when someone needs a figure rots (a
renamed private name, a CLI that changed its rules) and dies at its first step that day.

The figures themselves mean nothing at this size and are not checked; the recorded ones are in
docs/benchmarks.md. What is checked: the run completes, and the JSON it prints holds the figures
the bench exists for."""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.asterisk.pbx import have_tools
from tests.conftest import unavailable
from tests.pg import engine

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench"

# the benches a person runs, and a figure each must print; the rest of bench/ are the processes
# and helpers they start (bare_app, ceiling_serve, ami_replay_server, seed_contacts, …)
NEEDS_NOTHING = {
    "callerid_lookup": ("callerid", "p99_ms"),
    "calllog_backfill": ("rows_per_s",),
    "contacts_import": ("import", "rows_per_s"),
    "contacts_sync": ("sync", "seconds_vs_plain_read"),
}
NEEDS_WRK = {
    "contacts_http": ("references", "callbridge_lookup_from_memory", "search_mobile", "ratio_vs_bare"),
    "dialects_http": ("relatel_by_number", "ratio"),
}
NEEDS_PBX = {
    "cdr_trail": ("by_arrival", "max_ms"),
    "dialer_latency": ("sequential", "p99_ms"),
    "events_fanout": ("loaded",),
}
# run in CI at a larger size by their own tests, which check their figures
RUN_ELSEWHERE = {"soak": "tests/asterisk/test_soak.py (3 minutes)"}
HELPERS = {"ami_replay_server", "bare_app", "ceiling_serve", "local_limit_serve", "seed_contacts",
           "quick", "record_ami_stream", "calllog_replay", "postgres_compare", "scale_nodes"}


def run_quick(script: str, *args: str, timeout: float = 300) -> dict:
    """`python bench/<script>.py --quick ARGS`: its exit must be 0; returns the JSON it printed."""
    done = subprocess.run([sys.executable, str(BENCH / f"{script}.py"), "--quick", *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                          env={k: v for k, v in os.environ.items()
                               if not k.startswith("CALLBRIDGE_")})
    assert done.returncode == 0, f"{script} --quick exited {done.returncode}:\n{done.stderr[-4000:]}"
    start = done.stdout.find("{")
    assert start >= 0, f"{script} printed no figures:\n{done.stdout[-2000:]}"
    figures, _ = json.JSONDecoder().raw_decode(done.stdout[start:])
    return figures


def needs_wrk() -> None:
    if shutil.which("wrk") is None:
        unavailable("wrk missing: run `sudo scripts/install-bench-tools.sh`")


def needs_pbx() -> None:
    missing = have_tools()
    if missing:
        unavailable(f"{missing}: run `sudo scripts/install-asterisk.sh`")


def holds(figures: dict, path: tuple[str, ...], script: str) -> None:
    at = figures
    for key in path:
        assert isinstance(at, dict) and key in at, f"{script}: no {'.'.join(path)} in {figures}"
        at = at[key]
    assert at is not None, f"{script}: {'.'.join(path)} is null"


def test_every_bench_script_is_run_here_or_named_as_a_helper():
    scripts = {p.stem for p in BENCH.glob("*.py")}
    covered = {*NEEDS_NOTHING, *NEEDS_WRK, *NEEDS_PBX, *RUN_ELSEWHERE, *HELPERS}
    assert scripts - covered == set(), "a new bench: give it --quick and a line here"
    assert covered - scripts == set()
    for script, where in RUN_ELSEWHERE.items():
        assert f'"{script}.py"' in (ROOT / where.split()[0]).read_text(), (script, where)


def test_no_bench_imports_a_private_name_of_the_package():
    # a bench reaching into callbridge's private names breaks silently when they are renamed
    found = []
    for path in BENCH.glob("*.py"):
        tree = ast.parse(path.read_text())
        imported = set()  # local names bound to something of callbridge's
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("callbridge"):
                imported |= {a.asname or a.name for a in node.names}
                found += [f"{path.name}: {node.module}.{a.name}" for a in node.names
                          if a.name.startswith("_")]
            if isinstance(node, ast.Import):
                imported |= {(a.asname or a.name).split(".")[0] for a in node.names
                             if a.name.startswith("callbridge")}
            if isinstance(node, (ast.ImportFrom, ast.Import)):
                modules = [node.module or ""] if isinstance(node, ast.ImportFrom) \
                    else [a.name for a in node.names]
                found += [f"{path.name}: {m}" for m in modules if m.startswith("callbridge")
                          and any(part.startswith("_") for part in m.split("."))]
        for node in ast.walk(tree):  # a private attribute of something imported from callbridge
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) \
                    and node.value.id in imported and node.attr.startswith("_") \
                    and not node.attr.startswith("__"):
                found.append(f"{path.name}: {node.value.id}.{node.attr}")
    assert found == []


@pytest.mark.timeout(400)
@pytest.mark.parametrize("script", sorted(NEEDS_NOTHING))
def test_bench_runs_quick(script):
    holds(run_quick(script), NEEDS_NOTHING[script], script)


@pytest.mark.timeout(400)
@pytest.mark.parametrize("script", sorted(NEEDS_WRK))
def test_wrk_bench_runs_quick(script):
    needs_wrk()
    holds(run_quick(script), NEEDS_WRK[script], script)


@pytest.mark.timeout(600)
@pytest.mark.skipif(engine() != "postgresql", reason="PostgreSQL pass only: it starts a cluster")
def test_postgres_compare_runs_quick():
    needs_wrk()
    figures = run_quick("postgres_compare", timeout=500)
    holds(figures, ("lookups", "ratio_cached"), "postgres_compare")


@pytest.mark.timeout(300)
@pytest.mark.skipif(engine() != "postgresql", reason="PostgreSQL pass only: it starts a cluster")
def test_the_capacity_bench_runs_quick():
    """bench/scale_nodes.py's short version: 3 simulated nodes over 1 and 2 instances; every
    call sent is in the call log, the spread settled."""
    figures = run_quick("scale_nodes", timeout=250)
    assert [r["instances"] for r in figures["rounds"]] == [1, 2]
    for r in figures["rounds"]:
        assert r["calls_sent"] > 0 and r["calls_missing"] == 0, r
        assert r["lag_p99_s"] is not None, r


@pytest.mark.asterisk
@pytest.mark.timeout(400)
@pytest.mark.parametrize("script", sorted(NEEDS_PBX))
def test_pbx_bench_runs_quick(script):
    needs_pbx()  # each boots a private Asterisk of its own
    holds(run_quick(script), NEEDS_PBX[script], script)


@pytest.mark.asterisk
@pytest.mark.timeout(500)
def test_a_recorded_stream_replays_quick(tmp_path):
    # record_ami_stream records from a private Asterisk; calllog_replay replays that recording
    needs_pbx()
    stream = tmp_path / "ami-stream.bin"
    done = subprocess.run([sys.executable, str(BENCH / "record_ami_stream.py"), "--quick",
                           "--out", str(stream)], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-4000:]
    assert stream.stat().st_size > 1000
    figures = run_quick("calllog_replay", "--stream", str(stream))
    holds(figures, ("events_per_round",), "calllog_replay")
    assert figures["rows_per_round"] > 0
