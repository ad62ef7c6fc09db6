"""The receptionist page in a real headless Chromium with keys of different scopes (no PBX
needed for this): it asks GET /whoami what the key may do, leaves out the parts it can't use,
saying which scope each needs, and says when a key can do more than the page ever uses."""

from __future__ import annotations

from aiohttp.test_utils import TestClient, TestServer

from callbridge.accounts import routes as extension_routes
from callbridge.app import create_app
from callbridge.scopes import ACCOUNT_SCOPES, PRESETS
from callbridge.web import middleware as mw
from tests.browser import chromium_page, need_chromium
from tests.conftest import make_settings


async def _desk(page, base: str, key: str) -> str:
    await page.goto(f"{base}/screenpop")
    assert "--preset receptionist" in await page.text_content("#key-hint")
    await page.fill("#key", key)
    await page.click("#login-form button")
    await page.wait_for_selector("#desk:not([hidden])", timeout=5000)
    return await page.text_content("#scope-notice") if await page.is_visible(
        "#scope-notice") else ""


async def test_the_page_shows_what_the_key_allows(tmp_path):
    need_chromium()
    app = create_app(make_settings(tmp_path))
    async with TestClient(TestServer(app)) as client:
        accounts = app[mw.ACCOUNT]
        await app[mw.ACCOUNT].create_account("acme")
        await app[extension_routes.SERVICE].add("acme", "309")  # a desk watches extensions
        base = str(client.make_url("")).rstrip("/")

        async def key(scopes) -> str:
            return (await accounts.create_key("acme", frozenset(scopes)))[1]

        async with chromium_page() as page:
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            # the preset: everything shows; only saving callers is off, and said so
            said = await _desk(page, base, await key(PRESETS["receptionist"]))
            assert said == "This key can't be used for saving new callers (contacts:write)."
            assert await page.is_visible("#dial") and await page.is_visible("#recent")
            await page.wait_for_selector("#link-state.on", timeout=5000)  # live calls

            # a reporting key: no live calls, no dialing, each named with its scope
            await page.evaluate("sessionStorage.clear()")
            said = await _desk(page, base, await key(PRESETS["reporting"]))
            assert "live calls (events:read)" in said and "dialing (dial)" in said
            assert not await page.is_visible("#dial") and await page.is_visible("#recent")
            assert await page.text_content("#link-state") == "key lacks events:read"

            # a key with every scope works, and is told it is more than the page needs
            await page.evaluate("sessionStorage.clear()")
            said = await _desk(page, base, await key(ACCOUNT_SCOPES))
            assert "also has webhooks:manage" in said and "receptionist" in said
            assert await page.is_visible("#dial")
            assert errors == []
