"""Whole-account reads at 1,000,000 contacts: a CRM's first sync, a full list and the CSV and
vCard exports (GET /contacts/export), streamed.

    .venv/bin/python bench/contacts_sync.py [--count 1000000] [--syncs 2]

Targets (issue 10): RSS growth < 150 MB over the idle process during a full sync; /health p99
< 50 ms while two full syncs run; first byte < 1 s. Baselines measured in the same run: /health
latency on the idle service, and the time plain sqlite3 takes to read the same rows (no HTTP,
no JSON), so the sync's own cost reads as a ratio. Issue 22 §3: the vCard export within 2x of
the CSV export's time, /health p99 < 50 ms during it. Seeds bench/out/contacts-<count>.db on first
use (bench/seed_contacts.py). Results: printed, and written to bench/out/contacts_sync.json.

    .venv/bin/python bench/contacts_sync.py --engine postgresql

The same on PostgreSQL (issue 23 §3): the seeded file copied into a throwaway cluster's database
(`callbridge db copy`, tests/pg.py), served from there, and the floor is a plain asyncpg read of
the same rows (a server-side cursor, 5,000 rows a fetch). Results: bench/out/contacts_sync-pg.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import time
from pathlib import Path

import aiohttp

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from contacts_http import OUT, VENV_BIN, create_key, free_port, rss_mb, seeded, serve_env, wait_port  # noqa: E402
from quick import parse_args  # noqa: E402


async def _plain_asyncpg_read(url: str) -> float:
    import asyncpg
    conn = await asyncpg.connect(url)
    try:
        t0 = time.perf_counter()
        async with conn.transaction():
            cur = await conn.cursor(
                "SELECT c.*, (SELECT string_agg(g.uuid, ',') FROM contact_groups cg JOIN groups g"
                " ON g.id = cg.group_id WHERE cg.contact_id = c.id) FROM contacts c"
                " WHERE c.account_id = 1 ORDER BY c.version")
            while await cur.fetch(5000):
                pass
        return time.perf_counter() - t0
    finally:
        await conn.close()


def plain_asyncpg_read_seconds(url: str) -> float:
    """The floor on PostgreSQL: the same rows read by plain asyncpg, nothing else."""
    return asyncio.run(_plain_asyncpg_read(url))


def plain_read_seconds(db: Path) -> float:
    """The floor: the same rows (and group lists) read by plain sqlite3, nothing else."""
    t0 = time.perf_counter()
    with sqlite3.connect(db) as c:
        cur = c.execute("SELECT c.*, (SELECT group_concat(g.uuid) FROM contact_groups cg JOIN groups g"
                        " ON g.id = cg.group_id WHERE cg.contact_id = c.id) FROM contacts c"
                        " WHERE c.account_id = 1 ORDER BY c.version")
        while cur.fetchmany(5000):
            pass
    return time.perf_counter() - t0


async def health_probe(base: str, stop: asyncio.Event, interval: float = 0.01) -> list[float]:
    """/health latencies (ms), one request every `interval` until stop."""
    out = []
    async with aiohttp.ClientSession() as http:
        while not stop.is_set():
            t0 = time.perf_counter()
            async with http.get(f"{base}/health") as r:
                await r.read()
            out.append((time.perf_counter() - t0) * 1000)
            await asyncio.sleep(interval)
    return out


async def rss_probe(pid: int, stop: asyncio.Event) -> list[dict]:
    out = []
    while not stop.is_set():
        out.append(rss_mb(pid))
        await asyncio.sleep(0.1)
    return out


async def full_read(base: str, key: str, path: str) -> dict:
    """Reads a streamed body to the end; counts bytes and time to the first byte."""
    t0 = time.perf_counter()
    first = None
    size = 0
    timeout = aiohttp.ClientTimeout(total=600)
    async with aiohttp.ClientSession(headers={"x-api-key": key}, timeout=timeout) as http:
        async with http.get(f"{base}{path}") as r:
            assert r.status == 200, r.status
            async for chunk in r.content.iter_any():
                if first is None:
                    first = time.perf_counter() - t0
                size += len(chunk)
    return {"first_byte_s": round(first, 3), "seconds": round(time.perf_counter() - t0, 2),
            "mb": round(size / 2**20, 1)}


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return round(values[min(len(values) - 1, int(len(values) * p))], 2)


async def measure(base: str, key: str, pid: int, syncs: int) -> dict:
    stop = asyncio.Event()
    idle = asyncio.create_task(health_probe(base, stop))
    await asyncio.sleep(5)
    stop.set()
    idle_ms = await idle
    idle_rss = rss_mb(pid)

    results = {"idle": {"health_p50_ms": pct(idle_ms, 0.5), "health_p99_ms": pct(idle_ms, 0.99),
                        "rss_mb": idle_rss}}
    for label, path, n in (("sync", "/contacts/contactsAfterVersion/0", syncs),
                           ("list", "/contacts/contacts", 1),
                           ("export_csv", "/contacts/export?format=csv", 1),
                           ("export_vcf", "/contacts/export?format=vcf", 1)):
        stop = asyncio.Event()
        health = asyncio.create_task(health_probe(base, stop))
        rss = asyncio.create_task(rss_probe(pid, stop))
        print(f"[bench] {n} x GET {path} at once", file=sys.stderr)
        reads = await asyncio.gather(*(full_read(base, key, path) for _ in range(n)))
        stop.set()
        lat, mem = await health, await rss
        peak = max(m["VmRSS"] for m in mem)
        results[label] = {
            "concurrent": n, "reads": reads,
            "health_p50_ms": pct(lat, 0.5), "health_p99_ms": pct(lat, 0.99),
            "health_max_ms": round(max(lat), 2), "health_samples": len(lat),
            "rss_peak_mb": peak, "rss_growth_mb": round(peak - idle_rss["VmRSS"], 1),
            "rss_anon_growth_mb": round(max(m["RssAnon"] for m in mem) - idle_rss["RssAnon"], 1)}
    return results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--count", type=int, default=1_000_000)
    ap.add_argument("--syncs", type=int, default=2)
    ap.add_argument("--engine", choices=("sqlite", "postgresql"), default="sqlite")
    a = parse_args(ap, count=2_000, syncs=1)
    OUT.mkdir(exist_ok=True)
    db: Path | str = seeded(a.count)
    if a.engine == "postgresql":
        sys.path.insert(0, str(HERE.parent))
        from tests.pg import cluster
        url = cluster().new_database()
        subprocess.run([str(VENV_BIN / "callbridge"), "db", "copy", str(db), url], check=True,
                       env={k: v for k, v in os.environ.items() if not k.startswith("CALLBRIDGE_")})
        db = url
        plain_read_seconds(Path(seeded(a.count)))  # (the same page cache state as on SQLite)
        floor = plain_asyncpg_read_seconds(url)
        floor = min(floor, plain_asyncpg_read_seconds(url))  # the second, warm
        print(f"[bench] plain asyncpg reads the {a.count:,} rows in {floor:.1f}s", file=sys.stderr)
    else:
        floor = plain_read_seconds(Path(db))
        print(f"[bench] plain sqlite3 reads the {a.count:,} rows in {floor:.1f}s", file=sys.stderr)
    port = free_port()
    env = serve_env(db, port)
    key = create_key(env)
    serve = subprocess.Popen([str(VENV_BIN / "callbridge"), "serve"], env=env)
    try:
        wait_port(port)
        results = asyncio.run(measure(f"http://127.0.0.1:{port}", key, serve.pid, a.syncs))
    finally:
        serve.terminate()
        serve.wait()
    results.update({"count": a.count, "cpus": os.cpu_count(), "engine": a.engine,
                    "plain_read_s": round(floor, 2)})
    sync = results["sync"]
    sync["seconds_vs_plain_read"] = round(statistics.mean(r["seconds"] for r in sync["reads"]) / floor, 1)
    results["list"]["seconds_vs_plain_read"] = round(results["list"]["reads"][0]["seconds"] / floor, 1)
    name = "contacts_sync.json" if a.engine == "sqlite" else "contacts_sync-pg.json"
    (OUT / name).write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))
    print(f"\nfull sync x{a.syncs}: RSS growth {sync['rss_growth_mb']} MB (target < 150),"
          f" /health p99 {sync['health_p99_ms']} ms (target < 50; idle {results['idle']['health_p99_ms']}),"
          f" first byte {max(r['first_byte_s'] for r in sync['reads'])} s (target < 1),"
          f" {sync['seconds_vs_plain_read']}x the plain {a.engine} read")
    csv, vcf = results["export_csv"], results["export_vcf"]
    print(f"export: vCard {vcf['reads'][0]['seconds']} s = "
          f"{vcf['reads'][0]['seconds'] / max(csv['reads'][0]['seconds'], 0.01):.2f}x CSV's"
          f" {csv['reads'][0]['seconds']} s (target within 2x); /health p99 during the vCard export"
          f" {vcf['health_p99_ms']} ms (target < 50), during CSV {csv['health_p99_ms']} ms")


if __name__ == "__main__":
    main()
