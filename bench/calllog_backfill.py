"""A first start beside a 100 MiB Master.csv: how long the import takes, and how responsive the
service stays meanwhile.

    .venv/bin/python bench/calllog_backfill.py [--mib 100]

Target (issue 10): /health p99 < 50 ms while the backfill runs. Baseline in the same run: /health
on the same process once the import is over. Writes bench/out/calllog_backfill.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))
from contacts_http import OUT, VENV_BIN, free_port, init_db, rss_mb, serve_env, wait_port  # noqa: E402
from contacts_sync import health_probe, pct  # noqa: E402
from quick import parse_args  # noqa: E402
from tests.calllog.master_csv import write_history  # noqa: E402


def rows(db: Path) -> int:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10) as c:
        return c.execute("SELECT count(*) FROM call_log").fetchone()[0]


async def measure(base: str, db: Path, expected: int, pid: int) -> dict:
    stop = asyncio.Event()
    probe = asyncio.create_task(health_probe(base, stop))
    t0 = time.monotonic()
    peak = 0.0
    while rows(db) < expected:
        peak = max(peak, rss_mb(pid)["VmRSS"])
        await asyncio.sleep(0.5)
        print(f"\r[bench] {rows(db):>8,}/{expected:,} rows  {time.monotonic() - t0:5.1f}s",
              end="", file=sys.stderr, flush=True)
    took = time.monotonic() - t0
    stop.set()
    during = await probe
    print(file=sys.stderr)
    stop = asyncio.Event()
    probe = asyncio.create_task(health_probe(base, stop))
    await asyncio.sleep(5)
    stop.set()
    idle = await probe
    return {"rows": expected, "seconds": round(took, 1), "rows_per_s": round(expected / took),
            "during": {"health_p50_ms": pct(during, 0.5), "health_p99_ms": pct(during, 0.99),
                       "health_max_ms": round(max(during), 2), "samples": len(during)},
            "after": {"health_p50_ms": pct(idle, 0.5), "health_p99_ms": pct(idle, 0.99)},
            "rss_peak_mb": peak}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mib", type=int, default=100)
    a = parse_args(ap, mib=1)
    work = OUT / "calllog_backfill"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    csv, db = work / "Master.csv", work / "cb.db"
    calls = write_history(csv, a.mib * 2**20)
    print(f"[bench] Master.csv: {csv.stat().st_size / 2**20:.0f} MiB, {calls:,} calls", file=sys.stderr)
    (work / "manager.conf").write_text("[general]\n")
    port = free_port()
    env = serve_env(db, port, CALLBRIDGE_CDR_CSV=str(csv),
                    CALLBRIDGE_AMI_MANAGER_CONF=str(work / "manager.conf"))
    init_db(env)
    subprocess.run([str(VENV_BIN / "callbridge"), "accounts", "add", "acme"], env=env,
                   check=True, capture_output=True)
    subprocess.run([str(VENV_BIN / "callbridge"), "extensions", "add", "--account", "acme", "309"],
                   env=env, check=True, capture_output=True)
    serve = subprocess.Popen([str(VENV_BIN / "callbridge"), "serve"], env=env)
    try:
        wait_port(port)
        result = asyncio.run(measure(f"http://127.0.0.1:{port}", db, calls, serve.pid))
    finally:
        serve.terminate()
        serve.wait()
    result.update({"mib": a.mib, "cpus": os.cpu_count()})
    (OUT / "calllog_backfill.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    print(f"\n{a.mib} MiB backfill: {result['seconds']} s ({result['rows_per_s']} rows/s);"
          f" /health p99 {result['during']['health_p99_ms']} ms during (target < 50),"
          f" {result['after']['health_p99_ms']} ms after")


if __name__ == "__main__":
    main()
