"""Seed N contacts into one account of a callbridge database, fast (bulk SQL, not the API).

The schema comes from callbridge's own migrations; the FTS index is filled in one statement after
the bulk insert instead of row by row through the triggers, which is what makes 1M rows take well
under a minute. Mobile numbers are 555XXXXXXX with X = the row number, external ids EXT-<n>, CRM
ids CRM-<n> of salesforce, so a load generator can pick random existing ones.

    python bench/seed_contacts.py DB_PATH --count 1000000 --account bench
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import time
import uuid

from callbridge.db.migrate import migrate
from callbridge.text import fold

FIRST = ["John", "Jane", "Alice", "Bob", "Carol", "Dave", "Eve", "Frank", "Grace", "Heidi"]
LAST = ["Doe", "Smith", "Jones", "Brown", "Davis", "Miller", "Wilson", "Moore", "Taylor", "Lee"]


def seed(path: str, count: int, account: str) -> int:
    migrate(path)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")  # a bench fixture: rebuilt from scratch if interrupted
    conn.execute("BEGIN")
    conn.execute("INSERT OR IGNORE INTO accounts(name, uuid, created_at) VALUES (?, ?, '2026-01-01')",
                 (account, str(uuid.uuid4())))
    account_id = conn.execute("SELECT id FROM accounts WHERE name = ?", (account,)).fetchone()[0]
    # Row-by-row FTS triggers are what makes a bulk load slow: set them aside, fill the index in one
    # statement at the end, and restore the triggers verbatim from sqlite_master.
    triggers = conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'"
                            " AND tbl_name = 'contacts'").fetchall()
    for name, _ in triggers:
        conn.execute(f"DROP TRIGGER {name}")
    t0 = time.monotonic()
    batch = 50_000
    for start in range(0, count, batch):
        rows = []
        for i in range(start, min(count, start + batch)):
            mobile = f"555{i:07d}"
            other = f"444{i:07d}"
            first, last, email = FIRST[i % 10], f"{LAST[i // 10 % 10]}{i}", f"user{i}@example.com"
            rows.append((account_id, str(uuid.UUID(int=i + 1)), first, last, mobile,
                         json.dumps([other]), email, f"EXT-{i}", i + 1,
                         fold(first), fold(last), fold(email), f"CRM-{i}"))
        conn.executemany(
            "INSERT INTO contacts(account_id, uuid, firstname, lastname, mobile_phone, phone_numbers,"
            " email, external_id, version, firstname_key, lastname_key, email_key, crm_id,"
            " crm_source, created_at, updated_at)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,'salesforce','2026-01-01','2026-01-01')", rows)
        print(f"\r[seed] contacts {min(count, start + batch):>9,}/{count:,}"
              f"  {time.monotonic() - t0:5.1f}s", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    # matching keys (callbridge.phone.phone_key) of a US account's 10-digit numbers
    conn.execute("INSERT INTO contact_phones(contact_id, account_id, number, is_mobile)"
                 " SELECT id, account_id, '+1' || mobile_phone, 1 FROM contacts WHERE account_id = ?",
                 (account_id,))
    conn.execute("INSERT INTO contact_phones(contact_id, account_id, number, is_mobile)"
                 " SELECT c.id, c.account_id, '+1' || j.value, 0 FROM contacts c,"
                 " json_each(c.phone_numbers) j WHERE c.account_id = ?", (account_id,))
    print(f"[seed] phones indexed  {time.monotonic() - t0:5.1f}s", file=sys.stderr)
    conn.execute("INSERT INTO contacts_fts(rowid, mobile, phones, name, organization, email, note)"
                 " SELECT id, mobile_phone, phone_numbers, trim(coalesce(firstname_key,'') || ' ' ||"
                 " coalesce(lastname_key,'')), organization_key, email_key, note FROM contacts")
    conn.execute("INSERT INTO contacts_mobile_fts(rowid, mobile) SELECT id, mobile_phone FROM contacts")
    print(f"[seed] trigram indexes {time.monotonic() - t0:5.1f}s", file=sys.stderr)
    conn.execute("UPDATE accounts SET version = ? WHERE id = ?", (count, account_id))
    conn.execute("UPDATE contact_id_counter SET last = (SELECT max(id) FROM contacts)")
    for _, sql in triggers:
        conn.execute(sql)
    conn.execute("COMMIT")
    conn.close()
    return int(time.monotonic() - t0)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("db")
    ap.add_argument("--count", type=int, default=1_000_000)
    ap.add_argument("--account", default="bench")
    a = ap.parse_args()
    secs = seed(a.db, a.count, a.account)
    print(f"[seed] {a.count:,} contacts in {secs}s", file=sys.stderr)
