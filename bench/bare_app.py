"""The baseline: a bare aiohttp app (no middleware) whose one handler returns a constant JSON body.

Same event loop implementation as callbridge (the default asyncio loop), same aiohttp, so the ratio
callbridge/bare measures what callbridge adds: auth, rate limit, parsing, the SQLite lookup and
serialization.

    python bench/bare_app.py PORT               # constant body
    python bench/bare_app.py PORT --sqlite DB   # + one plain sqlite3 indexed lookup per request

The --sqlite variant is the issue's own second reference: the same bare handler doing nothing but
the exact-mobile lookup on callbridge's schema (json.loads of the body, one indexed SELECT on a
plain sqlite3 connection, json.dumps of the row), no auth, no validation.
"""

import argparse
import json
import sqlite3

from aiohttp import web

BODY = (b'{"uuid":"00000000-0000-0000-0000-000000000001","firstname":"John","lastname":"Doe",'
        b'"mobile_phone":"5550000001","email":"john@example.com","version":1}')


async def constant(request: web.Request) -> web.Response:
    await request.read()
    return web.Response(body=BODY, content_type="application/json")


def sqlite_handler(path: str):
    conn = sqlite3.connect(path, check_same_thread=False)
    conn.execute("PRAGMA mmap_size=1073741824")
    conn.row_factory = sqlite3.Row
    account = conn.execute("SELECT account_id FROM contacts LIMIT 1").fetchone()[0]
    sql = ("SELECT uuid, firstname, lastname, organization, mobile_phone, email, phone_numbers,"
           " version FROM contacts WHERE account_id = ? AND mobile_phone = ? LIMIT 1")

    async def lookup(request: web.Request) -> web.Response:
        number = json.loads(await request.read()).get("mobile_phone", "")
        row = conn.execute(sql, (account, number)).fetchone()
        if row is None:
            return web.Response(status=404, body=b'{"error":"Contact not found"}',
                                content_type="application/json")
        return web.Response(body=json.dumps(dict(row)).encode(), content_type="application/json")
    return lookup


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("port", type=int)
    ap.add_argument("--sqlite", metavar="DB")
    a = ap.parse_args()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", sqlite_handler(a.sqlite) if a.sqlite else constant)
    web.run_app(app, host="127.0.0.1", port=a.port, print=None, access_log=None)
