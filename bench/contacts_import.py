"""Contacts import at size: `callbridge contacts import` of an N-row CSV (default 1,000,000),
its time and peak memory, then the same file again (every row an update by external_id).

    .venv/bin/python bench/contacts_import.py [--rows 1000000]

Baseline in the same run: bench/seed_contacts.py writing the same number of contacts with bulk
SQL on callbridge's schema (no validation, no per-contact rules): the floor of any import.

Then the same file over HTTP (POST /contacts/import to `callbridge serve`, a fresh database),
with /health asked every 10 ms meanwhile: its p99 during the import against the same probe on
the idle service just before (target: < 50 ms).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from contacts_http import create_key, free_port, serve_env, wait_port
from contacts_sync import health_probe, pct
from quick import parse_args

HERE = Path(__file__).resolve().parent
VENV_BIN = Path(sys.executable).parent


def write_csv(path: Path, rows: int) -> None:
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["external_id", "firstname", "lastname", "organization", "mobile_phone",
                    "email", "city", "note"])
        for i in range(rows):
            w.writerow([f"crm-{i}", f"First{i}", f"Last{i % 9973}", f"Org {i % 501}",
                        f"+1 555 {i // 10000 % 1000:03d} {i % 10000:04d}",
                        f"user{i}@example.com", "Springfield", "imported"])


def _rss(pid: int) -> dict[str, int]:
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key = line.split(":")[0]
        if key in ("RssAnon", "RssFile"):
            out[key] = int(line.split()[1])
    return out


def timed(cmd: list[str], env: dict) -> tuple[float, dict, str, list]:
    """(seconds, peak memory in MiB, its output, RssAnon samples). RssAnon is the process's
    own memory; RssFile is the database's pages mapped in (SQLite's mmap), which are the OS
    page cache's, shared and dropped under pressure, and grow with the file, not the import."""
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            text=True)
    peak = {"RssAnon": 0, "RssFile": 0}
    samples = []
    while proc.poll() is None:
        try:
            now = _rss(proc.pid)
        except (FileNotFoundError, ProcessLookupError):
            break
        for k, v in now.items():
            peak[k] = max(peak[k], v)
        if not samples or time.monotonic() - samples[-1][0] >= 30:
            samples.append((time.monotonic(), round(now.get("RssAnon", 0) / 1024, 1)))
        time.sleep(0.5)
    out = proc.stdout.read()
    assert proc.wait() == 0
    seconds = time.monotonic() - t0
    return (seconds, {k: round(v / 1024, 1) for k, v in peak.items()},
            out.strip().splitlines()[-1], [s[1] for s in samples])


async def _over_http(base: str, key: str, src: Path) -> dict:
    import aiohttp
    stop = asyncio.Event()
    idle = asyncio.create_task(health_probe(base, stop))
    await asyncio.sleep(2)
    stop.set()
    idle_ms = await idle
    stop = asyncio.Event()
    during = asyncio.create_task(health_probe(base, stop))
    t0 = time.monotonic()
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{base}/contacts/import?format=csv", data=src.read_bytes(),
                             headers={"x-api-key": key},
                             timeout=aiohttp.ClientTimeout(total=3600)) as r:
            report = await r.json()
            assert r.status == 200, report
    seconds = time.monotonic() - t0
    stop.set()
    lat = await during
    return {"seconds": round(seconds, 1), "created": report["created"],
            "health_idle_p99_ms": pct(idle_ms, 0.99),
            "health_during_p50_ms": pct(lat, 0.5), "health_during_p99_ms": pct(lat, 0.99),
            "health_during_max_ms": round(max(lat), 1), "health_probes": len(lat)}


def over_http(root: Path, src: Path) -> dict:
    port = free_port()
    env = serve_env(root / "http.db", port)
    key = create_key(env)
    serve = subprocess.Popen([str(VENV_BIN / "callbridge"), "serve"], env=env)
    try:
        wait_port(port)
        return asyncio.run(_over_http(f"http://127.0.0.1:{port}", key, src))
    finally:
        serve.terminate()
        serve.wait()


def main(rows: int) -> dict:
    root = Path(tempfile.mkdtemp(prefix="cb-importbench-"))
    src = root / "contacts.csv"
    write_csv(src, rows)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLBRIDGE_")}
    env["CALLBRIDGE_DATABASE"] = str(root / "cb.db")
    subprocess.run([str(VENV_BIN / "callbridge"), "db", "init"], env=env, check=True,
                   capture_output=True)
    subprocess.run([str(VENV_BIN / "callbridge"), "accounts", "add", "bench"], env=env, check=True,
                   capture_output=True)
    cli = [str(VENV_BIN / "callbridge"), "contacts", "import", "--account", "bench", str(src)]
    print(f"[bench] importing {rows:,} rows ({src.stat().st_size / 2**20:.0f} MiB)", file=sys.stderr)
    first_s, first_rss, first_out, first_anon = timed(cli, env)
    print(f"[bench] {first_out} in {first_s:.1f}s; again (nothing changed)", file=sys.stderr)
    again_s, again_rss, again_out, again_anon = timed(cli, env)
    exports = {}
    for fmt in ("csv", "vcf"):  # the same contacts out: vCard once took 19x CSV's time
        t0 = time.monotonic()
        subprocess.run([str(VENV_BIN / "callbridge"), "contacts", "export", "--account", "bench",
                        "--format", fmt, "-o", str(root / f"out.{fmt}")], env=env, check=True,
                       capture_output=True)
        exports[fmt] = {"seconds": round(time.monotonic() - t0, 1),
                        "mib": round((root / f"out.{fmt}").stat().st_size / 2**20, 1)}
    print(f"[bench] export: {exports}", file=sys.stderr)
    floor_db = root / "floor.db"
    t0 = time.monotonic()
    subprocess.run([sys.executable, str(HERE / "seed_contacts.py"), str(floor_db), "--count",
                    str(rows)], check=True, capture_output=True)
    floor_s = time.monotonic() - t0
    http = over_http(root, src)
    print(f"[bench] over HTTP: {http}", file=sys.stderr)
    return {"rows": rows, "csv_mib": round(src.stat().st_size / 2**20, 1),
            "import": {"seconds": round(first_s, 1), "rows_per_s": round(rows / first_s),
                       "peak_mib": first_rss, "rss_anon_every_30s_mib": first_anon,
                       "summary": first_out},
            "reimport": {"seconds": round(again_s, 1), "rows_per_s": round(rows / again_s),
                         "peak_mib": again_rss, "rss_anon_every_30s_mib": again_anon,
                         "summary": again_out},
            "floor_bulk_sql": {"seconds": round(floor_s, 1), "rows_per_s": round(rows / floor_s)},
            "import_vs_floor": round(floor_s / first_s, 3),
            "over_http": {**http, "rows_per_s": round(rows / http["seconds"])},
            "export": {**exports, "vcf_vs_csv": round(exports["vcf"]["seconds"]
                                                       / max(exports["csv"]["seconds"], 0.1), 2)}}


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    print(json.dumps(main(parse_args(ap, rows=2_000).rows), indent=2))
