"""The caller-ID answer inside callbridge at 1,000,000 contacts: what GET /callerid computes for
the dialplan (the called extension's account, the caller's number keyed, the oldest contact
holding it, its name filtered), timed call by call in-process.

    .venv/bin/python bench/callerid_lookup.py [--count 1000000] [--lookups 20000]

Target (issue 12): p99 < 2 ms. Baseline in the same run: one plain sqlite3 point lookup of the
same number through the same index. Seeds bench/out/contacts-<count>.db on first use.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sqlite3
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))
from contacts_http import OUT, seeded  # noqa: E402
from quick import parse_args  # noqa: E402

from callbridge.accounts.extensions import ExtensionService  # noqa: E402
from callbridge.accounts.service import AccountService  # noqa: E402
from callbridge.accounts.store import AccountStore, ExtensionStore  # noqa: E402
from callbridge.audit.service import AuditTrail  # noqa: E402
from callbridge.audit.store import AuditStore  # noqa: E402
from callbridge.callerid.service import CallerIdService  # noqa: E402
from callbridge.contacts.service import ContactService  # noqa: E402
from callbridge.db import Database  # noqa: E402
from callbridge.variants import EngineVariants  # noqa: E402


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return round(values[min(len(values) - 1, int(len(values) * p))], 4)


async def callerid_on(db) -> CallerIdService:
    """The caller-ID service on an open database, with extension 309 for account "bench" (the
    seeded contacts' account)."""
    accounts = AccountService(AccountStore(db), AuditTrail(AuditStore(db)))
    variants = EngineVariants(db)  # on PostgreSQL: the lookup cache, as the app has it
    contacts = ContactService(db, cache=variants.lookup_cache())  # before the LISTEN starts
    extensions = ExtensionService(ExtensionStore(db), accounts, listener=variants.listener)
    await extensions.load()
    if extensions.owner("309") is None:
        await extensions.add("bench", "309")
    return CallerIdService(contacts.lookup, extensions)


async def measure(db_path: Path, count: int, lookups: int) -> dict:
    db = Database(db_path)
    await db.open()
    try:
        callerid = await callerid_on(db)
        numbers = [f"+1 555 {i // 10000 % 1000:03d} {i % 10000:04d}"
                   for i in (random.randrange(count) for _ in range(lookups))]
        for n in numbers[:1000]:  # warm the page cache
            await callerid.name_for("309", n)
        ours, names = [], 0
        for n in numbers:
            t0 = time.perf_counter()
            names += bool(await callerid.name_for("309", n))
            ours.append((time.perf_counter() - t0) * 1000)
    finally:
        await db.close()
    plain = []
    with sqlite3.connect(db_path) as c:
        for n in numbers:
            key = "+1" + "".join(ch for ch in n if ch.isdigit())[1:]
            t0 = time.perf_counter()
            c.execute("SELECT c.firstname, c.lastname FROM contact_phones p JOIN contacts c"
                      " ON c.id = p.contact_id WHERE p.account_id = 1 AND p.number = ?"
                      " ORDER BY c.id LIMIT 1", (key,)).fetchall()
            plain.append((time.perf_counter() - t0) * 1000)
    assert names == lookups, f"only {names} of {lookups} numbers were named"
    return {"count": count, "lookups": lookups,
            "callerid": {"p50_ms": pct(ours, 0.5), "p99_ms": pct(ours, 0.99), "max_ms": round(max(ours), 3)},
            "plain_sqlite3": {"p50_ms": pct(plain, 0.5), "p99_ms": pct(plain, 0.99)}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--count", type=int, default=1_000_000)
    ap.add_argument("--lookups", type=int, default=20_000)
    a = parse_args(ap, count=2_000, lookups=500)
    result = asyncio.run(measure(seeded(a.count), a.count, a.lookups))
    (OUT / "callerid.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    print(f"\ncaller-ID answer: p99 {result['callerid']['p99_ms']} ms (target < 2);"
          f" plain sqlite3 point lookup p99 {result['plain_sqlite3']['p99_ms']} ms")


if __name__ == "__main__":
    main()
