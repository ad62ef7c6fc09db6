"""Contacts API speed at 1,000,000 contacts, as ratios against a bare aiohttp app in the same run.

    .venv/bin/python bench/contacts_http.py [--count 1000000] [--duration 10] [--connections 32]

Needs wrk (Debian: apt-get install wrk). Seeds bench/out/contacts-<count>.db on first use. One
callbridge worker process and the bare app each get one core; wrk runs with one thread on the other.
The bare app is measured before and after callbridge and averaged, because this machine is noisy.
Results: printed, and written to bench/out/contacts.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
from quick import parse_args

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
OUT = HERE / "out"
VENV_BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listening on {port}")


def wrk(port: int, script: str, env: dict, duration: int, connections: int) -> dict:
    combined = OUT / f"wrk-{script}"
    combined.write_text((HERE / "wrk" / script).read_text() + "\n" + (HERE / "wrk" / "report.lua").read_text())
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--latency", "-s", str(combined),
           f"http://127.0.0.1:{port}"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **env}, check=True)
    m = re.search(r"WRKJSON (\{.*\})", proc.stdout)
    result = json.loads(m.group(1))
    print(f"    {script:<18} {result['rps']:>9.0f} req/s  p50 {result['p50_ms']:.2f} ms"
          f"  p99 {result['p99_ms']:.2f} ms  errors {result['errors']} non2xx {result['non2xx']}",
          file=sys.stderr)
    return result


def seeded(count: int) -> Path:
    """bench/out/contacts-<count>.db, seeded now unless a current one is there (a database
    seeded by an older seeder, without CRM ids, is seeded again)."""
    OUT.mkdir(exist_ok=True)
    db = OUT / f"contacts-{count}.db"
    if db.exists():
        with sqlite3.connect(db) as c:
            cols = {r[1] for r in c.execute("PRAGMA table_info(contacts)")}
            current = "crm_id" in cols and c.execute(
                "SELECT count(*), max(crm_id IS NOT NULL) FROM contacts").fetchone() >= (count, 1)
        if not current:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{db}{suffix}").unlink(missing_ok=True)
    if not db.exists():
        print(f"[bench] seeding {count:,} contacts into {db}", file=sys.stderr)
        t0 = time.monotonic()
        subprocess.run([sys.executable, str(HERE / "seed_contacts.py"), str(db), "--count",
                        str(count)], check=True)
        print(f"[bench] seeded in {time.monotonic() - t0:.1f}s", file=sys.stderr)
    return db


def serve_env(db: Path, port: int | None = None, **settings: str) -> dict:
    """The environment of a bench's `callbridge serve`: this database (and port), warnings only,
    no Master.csv, a limiter that never answers 429 (benches measure throughput), and the
    caller's own CALLBRIDGE_* dropped; settings (CALLBRIDGE_… = value) on top."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLBRIDGE_")}
    env.update({"CALLBRIDGE_DATABASE": str(db), "CALLBRIDGE_LOG_LEVEL": "WARNING",
                "CALLBRIDGE_CDR_CSV": "", "CALLBRIDGE_RATE_LIMIT": "1000000000/15m", **settings})
    if port is not None:
        env["CALLBRIDGE_PORT"] = str(port)
    return env


def init_db(env: dict) -> None:
    """Creates env's database (or upgrades it) as an operator does: only `db init` and the
    service create one, every other command refuses a missing database."""
    subprocess.run([str(VENV_BIN / "callbridge"), "db", "init"], env=env, check=True,
                   capture_output=True)


def create_key(env: dict, account: str = "bench") -> str:
    """A new API key of `account` in env's database (created if missing), through the CLI."""
    init_db(env)
    out = subprocess.run([str(VENV_BIN / "callbridge"), "keys", "create", "--account", account],
                         capture_output=True, text=True, env=env, check=True).stdout
    return out.strip().splitlines()[-1]


async def pbx_online(http, base: str, timeout: float = 20.0) -> None:
    """Waits until the service at base says its AMI link is online (/health)."""
    import aiohttp
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            async with http.get(f"{base}/health") as r:
                if (await r.json()).get("pbx") == "online":
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.2)


def rss_mb(pid: int) -> dict:
    """VmRSS split: anonymous memory is the process's own; file pages are the mmapped database,
    shared with the OS page cache and dropped under memory pressure."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key = line.split(":")[0]
        if key in ("VmRSS", "RssAnon", "RssFile"):
            out[key] = round(int(line.split()[1]) / 1024, 1)
    return out


async def after_version_latency(port: int, key: str, count: int, changes: int, runs: int) -> dict:
    headers = {"x-api-key": key}
    base = f"http://127.0.0.1:{port}"
    async with aiohttp.ClientSession(headers=headers) as http:
        async with http.get(f"{base}/contacts/contactsAfterVersion/{10**12}") as r:
            assert r.status == 200
        # the account counter is the newest version; make `changes` edits after it
        async with http.post(f"{base}/contacts/contacts", json={"firstname": "Marker"}) as r:
            marker = (await r.json())["uuid"]
        async with http.get(f"{base}/contacts/contacts/{marker}") as r:
            mark = (await r.json())["version"]
        sem = asyncio.Semaphore(16)

        async def edit(i: int):
            async with sem, http.put(f"{base}/contacts/contacts/external/EXT-{i * (count // changes)}",
                                     json={"note": f"edit {i}"}) as r:
                assert r.status == 200, await r.text()
        await asyncio.gather(*(edit(i) for i in range(changes)))
        timings = []
        for _ in range(runs):
            t0 = time.perf_counter()
            async with http.get(f"{base}/contacts/contactsAfterVersion/{mark}") as r:
                body = await r.json()
            timings.append((time.perf_counter() - t0) * 1000)
            assert len(body["updated"]) == changes, len(body["updated"])
    timings.sort()
    return {"changes": changes, "runs": runs, "p50_ms": round(statistics.median(timings), 2),
            "max_ms": round(timings[-1], 2)}


def wrk_bench(description: str, duration: int) -> tuple[argparse.Namespace, Path]:
    """The options every wrk bench takes (--count, --duration, --connections), wrk checked, and
    the seeded database."""
    ap = argparse.ArgumentParser(description=description,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--count", type=int, default=1_000_000)
    ap.add_argument("--duration", type=int, default=duration)
    ap.add_argument("--connections", type=int, default=32)
    a = parse_args(ap, count=2_000, duration=1, connections=4)
    if shutil.which("wrk") is None:
        sys.exit("wrk not found: apt-get install wrk")
    OUT.mkdir(exist_ok=True)
    return a, seeded(a.count)


def main() -> None:
    a, db = wrk_bench(__doc__, duration=10)
    env = serve_env(db)
    key = create_key(env)
    wenv = {"BENCH_KEY": key, "BENCH_COUNT": str(a.count)}
    results: dict = {"count": a.count, "connections": a.connections, "duration_s": a.duration,
                     "cpus": os.cpu_count()}

    def bare_run(label: str, *extra: str) -> dict:
        port = free_port()
        proc = subprocess.Popen([sys.executable, str(HERE / "bare_app.py"), str(port), *extra])
        try:
            wait_port(port)
            print(f"[bench] bare aiohttp app ({label})", file=sys.stderr)
            wrk(port, "mobile_exact.lua", wenv, 2, a.connections)  # warm-up
            return wrk(port, "mobile_exact.lua", wenv, a.duration, a.connections)
        finally:
            proc.terminate(); proc.wait()

    def ceiling_run() -> dict:
        """callbridge with the lookup answered from memory (bench/ceiling_serve.py)."""
        port = free_port()
        proc = subprocess.Popen([sys.executable, str(HERE / "ceiling_serve.py")],
                                env={**env, "CALLBRIDGE_PORT": str(port)})
        try:
            wait_port(port)
            print("[bench] callbridge, lookups answered from memory (ceiling of any cache)", file=sys.stderr)
            wrk(port, "mobile_exact.lua", wenv, 2, a.connections)
            return {"search_mobile": wrk(port, "mobile_exact.lua", wenv, a.duration, a.connections),
                    "external_id": wrk(port, "external_id.lua", wenv, a.duration, a.connections)}
        finally:
            proc.terminate(); proc.wait()

    bare_before = bare_run("before")
    port = free_port()
    env["CALLBRIDGE_PORT"] = str(port)
    serve = subprocess.Popen([str(VENV_BIN / "callbridge"), "serve"], env=env)
    try:
        wait_port(port)
        print("[bench] callbridge serve", file=sys.stderr)
        wrk(port, "mobile_exact.lua", wenv, 2, a.connections)  # warm-up: page cache, caches
        exact = wrk(port, "mobile_exact.lua", wenv, a.duration, a.connections)
        external = wrk(port, "external_id.lua", wenv, a.duration, a.connections)
        like = wrk(port, "mobile_like.lua", wenv, a.duration, a.connections)
        like_1 = wrk(port, "mobile_like.lua", wenv, a.duration, 1)
        results["rss_mb_after_load"] = rss_mb(serve.pid)
        print("[bench] contactsAfterVersion with 1,000 changes", file=sys.stderr)
        results["after_version"] = asyncio.run(after_version_latency(port, key, a.count, 1000, 20))
    finally:
        serve.terminate(); serve.wait()
    plain_sqlite = bare_run("+ one plain sqlite3 lookup, the issue's reference", "--sqlite", str(db))
    ceiling = ceiling_run()
    bare_after = bare_run("after")
    bare_rps = (bare_before["rps"] + bare_after["rps"]) / 2
    results.update({
        "bare": {"rps_before": bare_before["rps"], "rps_after": bare_after["rps"], "rps_mean": round(bare_rps, 1),
                 "p99_ms": max(bare_before["p99_ms"], bare_after["p99_ms"])},
        "search_mobile": {**exact, "ratio_vs_bare": round(exact["rps"] / bare_rps, 3)},
        "external_id": {**external, "ratio_vs_bare": round(external["rps"] / bare_rps, 3)},
        "search_mobile_like": {**like, "ratio_vs_bare": round(like["rps"] / bare_rps, 3)},
        "search_mobile_like_1conn": like_1,
        "references": {
            "bare_plus_plain_sqlite3_lookup": {**plain_sqlite,
                                               "ratio_vs_bare": round(plain_sqlite["rps"] / bare_rps, 3)},
            "callbridge_lookup_from_memory": {
                k: {**v, "ratio_vs_bare": round(v["rps"] / bare_rps, 3)} for k, v in ceiling.items()},
        },
    })
    (OUT / "contacts.json").write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))
    print(f"\nratio search/mobile   {results['search_mobile']['ratio_vs_bare']:.2f}x bare (target >= 0.80), p99 {exact['p99_ms']:.2f} ms (target < 10)")
    print(f"ratio external id     {results['external_id']['ratio_vs_bare']:.2f}x bare (target >= 0.80), p99 {external['p99_ms']:.2f} ms (target < 10)")
    ref = results["references"]
    print(f"references            bare + plain sqlite3 lookup {ref['bare_plus_plain_sqlite3_lookup']['ratio_vs_bare']:.2f}x;"
          f" callbridge with lookups from memory {ref['callbridge_lookup_from_memory']['search_mobile']['ratio_vs_bare']:.2f}x"
          f" / {ref['callbridge_lookup_from_memory']['external_id']['ratio_vs_bare']:.2f}x")
    print(f"mobile/like p99       {like_1['p99_ms']:.2f} ms at 1 connection (target < 20),"
          f" {like['p99_ms']:.2f} ms at {a.connections}")
    print(f"afterVersion 1000     p50 {results['after_version']['p50_ms']} ms, max {results['after_version']['max_ms']} ms (target < 50)")
    print(f"RSS after load        {results['rss_mb_after_load']} MB")


if __name__ == "__main__":
    main()
