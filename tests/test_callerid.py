"""GET /callerid, the answer the dialplan's CURL() asks for (the PBX side is tests/asterisk/
test_callerid.py): only for the rendered token, and only "CB:"-prefixed text."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestClient, TestServer

from callbridge.admin.routes import EXTENSIONS
from callbridge.app import create_app
from callbridge.web import middleware as mw
from tests.conftest import make_settings


@pytest.fixture
async def cid(tmp_path):
    app = create_app(make_settings(tmp_path, callerid_token="s3cret-token"))
    async with TestClient(TestServer(app)) as client:
        _, key = await app[mw.ACCOUNT].create_key("acme")
        ext = app[EXTENSIONS]
        await ext.add("acme", "309", did="+1 212 555 0100")
        await ext.add("globex", "320")
        for body in ({"firstname": "Jenny", "lastname": "Tutone", "mobile_phone": "+1 555 777 0001"},
                     {"organization": "O'Brien & Sons, Ltd.", "phone_numbers": ["5557770002"]}):
            assert (await client.post("/contacts/contacts", json=body, headers={"x-api-key": key})).status == 200

        async def ask(token="s3cret-token", **q):
            r = await client.get("/callerid", params={"token": token, **q})
            return r.status, await r.text()
        yield ask


async def test_the_name_for_the_called_extension_or_did(cid):
    assert await cid(called="309", number="5557770001", name="5557770001") == (200, "CB:Jenny Tutone")
    assert await cid(called="2125550100", number="+15557770001") == (200, "CB:Jenny Tutone")  # its DID
    assert await cid(called="309", number="5557770002") == (200, "CB:O'Brien & Sons Ltd.")   # no comma
    assert await cid(called="309", number="5550000000") == (200, "CB:")                       # unknown
    assert await cid(called="320", number="5557770001") == (200, "CB:")   # another account's contact
    assert await cid(called="399", number="5557770001") == (200, "CB:")   # nobody's extension
    # the contact's name wins over a carrier's; with no contact the trunk's name stays
    assert await cid(called="309", number="5557770001", name="WIRELESS CALLER") == (
        200, "CB:Jenny Tutone")
    assert await cid(called="309", number="5550000000", name="WIRELESS CALLER") == (200, "CB:")


async def test_an_operator_can_keep_every_name_the_trunk_supplies(tmp_path):
    """CALLBRIDGE_CALLERID_KEEP_TRUNK_NAMES=true: the old rule (a real name from the trunk is
    kept; an empty one or a number is replaced by the contact's)."""
    app = create_app(make_settings(tmp_path, callerid_token="t0ken-for-test",
                                   callerid_keep_trunk_names=True))
    async with TestClient(TestServer(app)) as client:
        _, key = await app[mw.ACCOUNT].create_key("acme")
        await app[EXTENSIONS].add("acme", "309")
        r = await client.post("/contacts/contacts", headers={"x-api-key": key},
                              json={"firstname": "Jenny", "mobile_phone": "5557770001"})
        assert r.status == 200

        async def ask(name: str) -> str:
            r = await client.get("/callerid", params={"token": "t0ken-for-test", "called": "309",
                                                      "number": "5557770001", "name": name})
            return await r.text()
        assert await ask("Reception") == "CB:"
        assert await ask("5557770001") == "CB:Jenny"


async def test_only_with_the_token(cid):
    status, body = await cid(token="wrong", called="309", number="5557770001")
    assert status == 403 and not body.startswith("CB:")
    status, _ = await cid(token="", called="309", number="5557770001")
    assert status == 403


async def test_off_without_a_token(api):
    r = await api.client.get("/callerid", params={"token": "", "called": "309", "number": "1"})
    assert r.status == 404 and not (await r.text()).startswith("CB:")
