"""Contacts import at size: `callbridge contacts import` of an N-row CSV (default 1,000,000),
its time and peak memory, then the same file again (every row an update by external_id).

    .venv/bin/python bench/contacts_import.py [--rows 1000000]

Baseline in the same run: bench/seed_contacts.py writing the same number of contacts with bulk
SQL on callbridge's schema (no validation, no per-contact rules): the floor of any import.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

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


def timed(cmd: list[str], env: dict) -> tuple[float, float, str]:
    """(seconds, peak RSS MiB of the child, its output)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t0 = time.monotonic()
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
    seconds = time.monotonic() - t0
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return seconds, round(max(peak, before) / 1024, 1), out.stdout.strip().splitlines()[-1]


def main(rows: int) -> dict:
    root = Path(tempfile.mkdtemp(prefix="cb-importbench-"))
    src = root / "contacts.csv"
    write_csv(src, rows)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLBRIDGE_")}
    env["CALLBRIDGE_DATABASE"] = str(root / "cb.db")
    cli = [str(VENV_BIN / "callbridge"), "contacts", "import", "--account", "bench", str(src)]
    print(f"[bench] importing {rows:,} rows ({src.stat().st_size / 2**20:.0f} MiB)", file=sys.stderr)
    first_s, first_rss, first_out = timed(cli, env)
    print(f"[bench] {first_out} in {first_s:.1f}s; again (all updates)", file=sys.stderr)
    again_s, again_rss, again_out = timed(cli, env)
    floor_db = root / "floor.db"
    t0 = time.monotonic()
    subprocess.run([sys.executable, str(HERE / "seed_contacts.py"), str(floor_db), "--count",
                    str(rows)], check=True, capture_output=True)
    floor_s = time.monotonic() - t0
    return {"rows": rows, "csv_mib": round(src.stat().st_size / 2**20, 1),
            "import": {"seconds": round(first_s, 1), "rows_per_s": round(rows / first_s),
                       "peak_rss_mib": first_rss, "summary": first_out},
            "reimport": {"seconds": round(again_s, 1), "rows_per_s": round(rows / again_s),
                         "peak_rss_mib": again_rss, "summary": again_out},
            "floor_bulk_sql": {"seconds": round(floor_s, 1), "rows_per_s": round(rows / floor_s)},
            "import_vs_floor": round(floor_s / first_s, 3)}


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    print(json.dumps(main(ap.parse_args().rows), indent=2))
