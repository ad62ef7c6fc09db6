"""The receptionist page in a real headless Chromium, on the real PBX, with the key it asks for
(`--preset receptionist`): a SIPp caller from a stored number makes a card with the contact's
name appear within 1 s of Asterisk ringing 309, an unknown caller's card offers to create the
contact where the key may write contacts (and only there), and dialing from the page's box
rings both of 309's devices."""

from __future__ import annotations

import asyncio
from datetime import datetime

from callbridge.scopes import PRESETS
from callbridge.web import middleware as mw
from tests.asterisk.conftest import callbridge_on, wait_until
from tests.browser import chromium_page


async def _receptionist_key(api, *more: str) -> str:
    """A key of the receptionist preset (plus `more` scopes) for acme."""
    scopes = PRESETS["receptionist"] | set(more)
    return (await api.app[mw.ACCOUNT].create_key("acme", frozenset(scopes)))[1]


async def _open_desk(page, base: str, key: str) -> None:
    await page.goto(f"{base}/screenpop")
    # what a receptionist sees, not only what exists: before Connect the key form alone, after
    # it the desk alone (the CSS once overrode `hidden`: both showed)
    assert await page.is_visible("#login") and not await page.is_visible("#desk")
    await page.fill("#key", key)
    await page.click("#login-form button")
    await page.wait_for_selector("#link-state.on", timeout=5000)
    assert await page.is_visible("#desk") and not await page.is_visible("#login")


async def test_a_ringing_call_pops_a_card_and_the_box_dials(running_pbx, tmp_path):
    pbx = running_pbx
    async with callbridge_on(pbx, tmp_path / "cb.db") as api:
        base = f"http://127.0.0.1:{pbx.callbridge_port}"
        await api.ok("POST", "/contacts/contacts", json={
            "firstname": "Margaret", "lastname": "Hamilton", "organization": "MIT",
            "note": "Apollo guidance", "profile_url": "https://crm.example.com/p/42",
            "mobile_phone": "+1 555 777 0201"})
        async with chromium_page() as page:
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            await _open_desk(page, base, await _receptionist_key(api))
            assert await page.is_checked("#extensions input[value='309']")
            # the preset's page: all of it but saving callers, which it says
            assert await page.is_visible("#dial") and await page.is_visible("#recent")
            assert "saving new callers (contacts:write)" in await page.text_content(
                "#scope-notice")
            # a second desk whose key may also write contacts: it offers to save callers
            writer = await page.context.new_page()
            writer.on("pageerror", lambda exc: errors.append(str(exc)))
            await _open_desk(writer, base, await _receptionist_key(api, "contacts:write"))
            assert not await writer.is_visible("#scope-notice")

            call = asyncio.create_task(asyncio.to_thread(pbx.call_in, "5557770201", "309",
                                                         cancel_after_ms=1200))
            card = await page.wait_for_selector("article.card", timeout=8000)
            assert await card.eval_on_selector(".name", "e => e.textContent") == "Margaret Hamilton"
            assert "MIT" in await card.eval_on_selector(".org", "e => e.textContent")
            assert await card.eval_on_selector(".note", "e => e.textContent") == "Apollo guidance"
            assert await card.eval_on_selector(".profile", "e => e.href") == \
                "https://crm.example.com/p/42"
            # within 1 s of Asterisk ringing the devices (the event's time is Asterisk's)
            rang = datetime.fromisoformat((await card.get_attribute("data-event-time"))
                                          .replace("Z", "+00:00")).timestamp()
            shown = int(await card.get_attribute("data-shown-at")) / 1000
            assert 0 <= shown - rang < 1.0, shown - rang
            assert await call == 0
            # the missed call ends the card and shows in the recent calls
            await page.wait_for_selector("article.card.ended", timeout=8000)
            await page.wait_for_function(
                "() => document.querySelector('#recent-rows').textContent.includes('Margaret Hamilton')",
                timeout=8000)

            # an unknown caller: the card offers to create the contact, which then exists. The
            # desk phone answers (after 1.5 s) and the caller hangs up 5 s later: the card stays
            # open that long on a loaded machine. (This call was once cancelled after 4 s of
            # ringing: the phone had answered by then, the CANCEL came too late, and the call
            # stayed up with 309 busy for the next test, whose queue then skipped 309.)
            call = asyncio.create_task(asyncio.to_thread(pbx.call_in, "5557770202", "309",
                                                         talk_ms=5000))
            unknown = await writer.wait_for_selector("article.card:not(.ended) .create",
                                                     timeout=8000)
            # the receptionist key's desk shows the same card, without the offer
            plain = await page.wait_for_selector("article.card:not(.ended)", timeout=8000)
            assert await plain.eval_on_selector(".name", "e => e.textContent") == "Unknown caller"
            assert not await plain.eval_on_selector(".create", "e => !e.hidden")
            card = await writer.query_selector("article.card:not(.ended)")
            assert await card.eval_on_selector(".name", "e => e.textContent") == "Unknown caller"
            await unknown.click()
            await (await card.query_selector(".first")).fill("New")
            await (await card.query_selector(".last")).fill("Caller")
            await (await card.query_selector(".create-form button")).click()
            await writer.wait_for_function(
                "() => [...document.querySelectorAll('.card .name')]"
                ".some(e => e.textContent === 'New Caller')",
                timeout=5000)
            assert await call == 0
            found = await api.ok("POST", "/contacts/contacts/search/mobile",
                                 json={"mobile_phone": "5557770202"})
            assert found["firstname"] == "New" and found["lastname"] == "Caller"

            # the dial box rings every device of 309
            desk, soft = pbx.phones["desk309"], pbx.phones["soft309"]
            before = (len(desk.invites()), len(soft.invites()))
            await page.select_option("#dial-extension", "309")
            await page.fill("#dial-number", "+1 580 867 5309")
            await page.click("#dial-form button")
            await page.wait_for_function(
                "() => document.querySelector('#dial-state').textContent.startsWith('Call ')",
                timeout=5000)
            wait_until(lambda: len(desk.invites()) > before[0] and len(soft.invites()) > before[1],
                       8, "both devices of 309 ringing from the page's dial box")
            await page.wait_for_function(
                "() => document.querySelector('#dial-state').textContent.includes('ended')",
                timeout=20000)
            assert errors == []



async def test_a_card_closes_saying_who_took_the_call(queue_pbx, tmp_path):
    """A queue rings 309 and 310; 310 answers (queue_pbx: 0.8 s). The page watching both shows
    309's card closed "Answered by 310" (call.taken)."""
    pbx = queue_pbx
    async with callbridge_on(pbx, tmp_path / "cb.db") as api:
        base = f"http://127.0.0.1:{pbx.callbridge_port}"
        async with chromium_page() as page:
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            await _open_desk(page, base, await _receptionist_key(api))
            # both of 309's devices, and 309 not busy: the queue skips a busy member
            # (ringinuse = no), and then no card at 309 ever pops
            await asyncio.to_thread(pbx.wait_devices, "309", 2)
            assert "In use" not in pbx.cli("queue show cbq-direct").split("PJSIP/309", 1)[1] \
                .splitlines()[0], pbx.cli("core show channels")
            call = asyncio.create_task(asyncio.to_thread(pbx.call_in, "5557770212", "700",
                                                         talk_ms=2000))
            await page.wait_for_function(
                "() => [...document.querySelectorAll('article.card')].some(c =>"
                " c.dataset.extension === '309'"
                " && c.querySelector('.status').textContent === 'Answered by 310')",
                timeout=10000)
            assert await call == 0
            assert errors == []
