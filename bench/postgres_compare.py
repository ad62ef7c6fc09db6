"""PostgreSQL beside SQLite, in the same run: caller-ID lookups at 1,000,000 contacts, and the
call log's ingest of a 100 MiB Master.csv.

    .venv/bin/python bench/postgres_compare.py [--count 1000000] [--lookups 20000] [--mib 100]

Needs Debian's PostgreSQL server (scripts/install-postgresql.sh); starts a throwaway cluster
(tests/pg.py) with the test suite's settings (fsync off: the database's own disk writes are not
what is measured). The PostgreSQL database is filled with `callbridge db copy` from the same
seeded SQLite file (bench/out/contacts-<count>.db), which is timed too.

- lookups: GET /callerid's answer in-process (CallerIdService.name_for), one call at a time, the
  same random numbers on both engines. PostgreSQL twice: cold (every number asked for the first
  time: a round trip each) and warm (the same numbers again: the lookup cache answers).
  Target (issue 14): PostgreSQL with the cache within 0.8x of SQLite's lookups/s.
- http: `callbridge serve` on each engine under wrk (--duration s, --connections): GET /callerid
  as the dialplan asks it, for random numbers of all the contacts (on PostgreSQL mostly cache
  misses) and for 2,000 numbers that call again (cache hits); and POST
  /contacts/contacts/search/mobile with an API key (a database query on either engine, and on
  PostgreSQL the shared rate-limit window's upsert); the search once more on PostgreSQL with
  each process counting its own windows (bench/local_limit_serve.py), what the upsert costs.
- ingest: `callbridge serve` beside a Master.csv of --mib MiB (older calls, every one a row),
  from start to the last row; rows/s on each engine.
Writes bench/out/postgres.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))
from callerid_lookup import callerid_on  # noqa: E402
from contacts_http import OUT, VENV_BIN, create_key, free_port, init_db, seeded, serve_env, wait_port, wrk  # noqa: E402
from quick import parse_args  # noqa: E402
from tests.calllog.master_csv import write_history  # noqa: E402
from tests.pg import cluster, query  # noqa: E402

from callbridge.db import database_for  # noqa: E402


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return round(values[min(len(values) - 1, int(len(values) * p))], 4)


async def lookups(target: str, numbers: list[str], passes: int) -> list[dict]:
    """passes x the numbers through the caller-ID service: lookups/s and latency per pass."""
    db = database_for(target)
    await db.open()
    try:
        callerid = await callerid_on(db)
        out = []
        for _ in range(passes):
            took, named = [], 0
            t0 = time.perf_counter()
            for n in numbers:
                t1 = time.perf_counter()
                named += bool(await callerid.name_for("309", n))
                took.append((time.perf_counter() - t1) * 1000)
            total = time.perf_counter() - t0
            assert named == len(numbers), f"only {named} of {len(numbers)} numbers were named"
            out.append({"lookups_per_s": round(len(numbers) / total), "p50_ms": pct(took, 0.5),
                        "p99_ms": pct(took, 0.99)})
        return out
    finally:
        await db.close()


HTTP_TOKEN = "bench-callerid-token-0123456789"
REPEAT_CALLERS = 2000


def http(target: str, count: int, duration: int, connections: int,
         local_limit: bool = False) -> dict:
    """wrk against `callbridge serve` on target: caller-ID (all numbers, then repeat callers)
    and the mobile search, req/s and latency each. local_limit: the mobile search alone, each
    process counting its own rate-limit windows (bench/local_limit_serve.py), to show what the
    shared window costs."""
    port = free_port()
    no_ami = OUT / "manager-none.conf"  # no AMI user in it: the bench measures HTTP alone
    no_ami.write_text("[general]\n")
    env = serve_env(Path("unused.db"), port, CALLBRIDGE_CALLERID_TOKEN=HTTP_TOKEN,
                    CALLBRIDGE_AMI_MANAGER_CONF=str(no_ami))
    env["CALLBRIDGE_DATABASE"] = target
    wenv = {"BENCH_KEY": create_key(env), "BENCH_COUNT": str(count), "BENCH_TOKEN": HTTP_TOKEN}
    serve = subprocess.Popen([sys.executable, str(HERE / "local_limit_serve.py")] if local_limit
                             else [str(VENV_BIN / "callbridge"), "serve"], env=env)
    try:
        wait_port(port)
        print(f"[bench] http on {target[:24]}…{' (local limit)' if local_limit else ''}",
              file=sys.stderr)
        wrk(port, "mobile_exact.lua", wenv, 2, connections)  # warm-up
        if local_limit:
            return {"search_mobile": wrk(port, "mobile_exact.lua", wenv, duration, connections)}
        return {
            "callerid_all_numbers": wrk(port, "callerid.lua", wenv, duration, connections),
            "callerid_repeat_callers": wrk(port, "callerid.lua",
                                           {**wenv, "BENCH_DISTINCT": str(REPEAT_CALLERS)},
                                           duration, connections),
            "search_mobile": wrk(port, "mobile_exact.lua", wenv, duration, connections),
        }
    finally:
        serve.terminate()
        serve.wait()


def ingest(target: str, csv: Path, calls: int, work: Path) -> dict:
    (work / "manager.conf").write_text("[general]\n")
    port = free_port()
    env = serve_env(work / "unused.db", port, CALLBRIDGE_CDR_CSV=str(csv),
                    CALLBRIDGE_AMI_MANAGER_CONF=str(work / "manager.conf"))
    env["CALLBRIDGE_DATABASE"] = target
    init_db(env)
    subprocess.run([str(VENV_BIN / "callbridge"), "accounts", "add", "acme"], env=env,
                   capture_output=True)  # not checked: the database may have it already
    subprocess.run([str(VENV_BIN / "callbridge"), "extensions", "add", "--account", "acme", "309"],
                   env=env, check=True, capture_output=True)
    serve = subprocess.Popen([str(VENV_BIN / "callbridge"), "serve"], env=env)
    try:
        wait_port(port)
        t0 = time.monotonic()
        while (done := query(target, "SELECT count(*) FROM call_log")[0][0]) < calls:
            print(f"\r[bench] {target[:12]}… {done:>8,}/{calls:,} rows {time.monotonic() - t0:6.1f}s",
                  end="", file=sys.stderr, flush=True)
            time.sleep(0.5)
        took = time.monotonic() - t0
        print(file=sys.stderr)
    finally:
        serve.terminate()
        serve.wait()
    return {"rows": calls, "seconds": round(took, 1), "rows_per_s": round(calls / took)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--count", type=int, default=1_000_000)
    ap.add_argument("--lookups", type=int, default=20_000)
    ap.add_argument("--mib", type=int, default=100, help="Master.csv size for ingest (0: skip)")
    ap.add_argument("--duration", type=int, default=10, help="seconds of each wrk run (0: skip)")
    ap.add_argument("--connections", type=int, default=32)
    a = parse_args(ap, count=2_000, lookups=500, mib=1, duration=1, connections=4)
    source = seeded(a.count)
    pg = cluster()
    result: dict = {"count": a.count, "cpus": os.cpu_count()}

    url = pg.new_database()
    t0 = time.monotonic()
    subprocess.run([str(VENV_BIN / "callbridge"), "db", "copy", str(source), url], check=True,
                   env={k: v for k, v in os.environ.items() if not k.startswith("CALLBRIDGE_")})
    copied = query(url, "SELECT count(*) FROM contacts")[0][0]
    result["db_copy"] = {"contacts": copied, "seconds": round(time.monotonic() - t0, 1)}

    rng = random.Random(14)
    numbers = [f"+1 555 {i // 10000 % 1000:03d} {i % 10000:04d}"
               for i in (rng.randrange(a.count) for _ in range(a.lookups))]
    sqlite = asyncio.run(lookups(str(source), numbers, passes=2))[1]  # page cache warm
    cold, warm = asyncio.run(lookups(url, numbers, passes=2))
    result["lookups"] = {"sqlite": sqlite, "postgresql_cold": cold, "postgresql_cached": warm,
                         "ratio_cold": round(cold["lookups_per_s"] / sqlite["lookups_per_s"], 2),
                         "ratio_cached": round(warm["lookups_per_s"] / sqlite["lookups_per_s"], 2)}

    if a.duration:
        lite = http(str(source), a.count, a.duration, a.connections)
        post = http(url, a.count, a.duration, a.connections)
        local = http(url, a.count, a.duration, a.connections, local_limit=True)
        result["http"] = {"connections": a.connections, "duration_s": a.duration,
                          "sqlite": lite, "postgresql": post,
                          "postgresql_per_process_limit": local,
                          "ratio": {k: round(post[k]["rps"] / lite[k]["rps"], 2) for k in lite},
                          "ratio_search_per_process_limit": round(
                              local["search_mobile"]["rps"] / lite["search_mobile"]["rps"], 2)}

    if a.mib:
        work = OUT / "postgres_ingest"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        csv = work / "Master.csv"
        calls = write_history(csv, a.mib * 2**20)
        lite = ingest(str(work / "cb.db"), csv, calls, work)
        post = ingest(pg.new_database(), csv, calls, work)
        result["ingest"] = {"mib": a.mib, "sqlite": lite, "postgresql": post,
                            "ratio": round(post["rows_per_s"] / lite["rows_per_s"], 2)}

    (OUT / "postgres.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
