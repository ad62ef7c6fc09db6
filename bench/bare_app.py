"""The baseline: a bare aiohttp app (no middleware) whose one handler returns a constant JSON body.

Same event loop implementation as callbridge (the default asyncio loop), same aiohttp, so the ratio
callbridge/bare measures what callbridge adds: auth, rate limit, parsing, the SQLite lookup and
serialization.

    python bench/bare_app.py PORT
"""

import sys

from aiohttp import web

BODY = (b'{"uuid":"00000000-0000-0000-0000-000000000001","firstname":"John","lastname":"Doe",'
        b'"mobile_phone":"5550000001","email":"john@example.com","version":1}')


async def handler(request: web.Request) -> web.Response:
    await request.read()
    return web.Response(body=BODY, content_type="application/json")


app = web.Application()
app.router.add_route("*", "/{tail:.*}", handler)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)
