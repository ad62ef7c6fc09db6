"""The receptionist page through a working day, in a real headless Chromium, with a screenshot of
each state (no PBX: the calls are events published into the journal as the call model's
notifiers publish them, the history is a Master.csv read back, presence comes from a board fed
AMI events). What is asserted is what a receptionist sees: colleagues' presence, a card with the
caller's last calls, the card answered, taken by a colleague, ended; dialing from the keyboard and
from a recent call; a layout that fits 1280x800 and a phone without sideways scrolling.

The screenshots go to the test's folder, or to $CALLBRIDGE_SCREENSHOTS (docs/screen-pop.md shows
them from docs/images/)."""

from __future__ import annotations

import json
import os
import struct
from datetime import timedelta
from pathlib import Path

from aiohttp.test_utils import TestClient, TestServer

from callbridge.accounts import routes as extension_routes
from callbridge.app import create_app
from callbridge.calllog import routes as calllog_routes
from callbridge.events import routes as events_routes
from callbridge.events.models import CallAnswered, CallEnded, CallRinging, CallTaken, ContactCard
from callbridge.presence import routes as presence_routes
from callbridge.scopes import PRESETS
from callbridge.timeutil import utc_now
from callbridge.web import middleware as mw
from tests.ami.test_calls import _inbound
from tests.browser import chromium_page, need_chromium
from tests.calllog.master_csv import inbound
from tests.conftest import make_settings
from tests.presence.test_presence import _Devices, _fed

ADA = "+15550100001"


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    return struct.unpack(">II", data[16:24])


async def _shot(page, folder: Path, name: str, shots: dict[str, bytes]) -> None:
    data = await page.screenshot(path=str(folder / f"screenpop-{name}.png"), full_page=False)
    width, height = _png_size(data)
    assert (width, height) == (page.viewport_size["width"], page.viewport_size["height"])
    assert data not in shots.values(), f"{name} looks like an earlier state"
    shots[name] = data


async def _no_sideways_scroll(page) -> None:
    overflow = await page.evaluate(
        "() => document.documentElement.scrollWidth - window.innerWidth")
    wide = await page.evaluate(
        "() => [...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect()"
        ".right > window.innerWidth + 1 && e.offsetParent !== null).slice(0, 5)"
        ".map(e => `${e.tagName}#${e.id}.${e.className} ${Math.round(e.getBoundingClientRect().right)}`)")
    assert overflow <= 0, f"{overflow}px wider than the screen: {wide}"


async def test_a_day_at_the_desk(tmp_path):
    need_chromium()
    folder = Path(os.environ.get("CALLBRIDGE_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    csv = tmp_path / "Master.csv"
    earlier = utc_now() - timedelta(days=2)
    csv.write_text(inbound(1, ADA.lstrip("+"), "309", start=earlier, talk=151, prefix="d")
                   + inbound(2, ADA.lstrip("+"), "310", start=earlier + timedelta(hours=3),
                             talk=42, prefix="d"))
    app = create_app(make_settings(tmp_path, cdr_csv=csv))
    async with TestClient(TestServer(app)) as client:
        accounts = app[mw.ACCOUNT]
        acme = await accounts.create_account("acme")
        extensions = app[extension_routes.SERVICE]
        for number, name in (("309", "Front desk"), ("310", "Back office"), ("311", "Warehouse")):
            await extensions.add("acme", number, name=name)
        key = (await accounts.create_key(
            "acme", frozenset(PRESETS["receptionist"] | {"contacts:write"})))[1]
        full = (await accounts.create_key("acme"))[1]
        await client.post("/contacts/contacts", headers={"x-api-key": full}, json={
            "firstname": "Ada", "lastname": "Lovelace", "organization": "Analytical Engines",
            "mobile_phone": ADA})
        calllog = app[calllog_routes.SERVICE]  # the Master.csv history, read back
        await calllog.backfill()
        while await calllog.flush(final=True):
            pass
        # presence: 310 on a call (a board fed the AMI events of a call 310 answered), 311 with
        # no device registered
        _, board, _ = _fed(json.loads(json.dumps(_inbound("400.1")[:7]).replace("309", "310")))
        devices = _Devices({"309": "PJSIP/309/sip:a&PJSIP/309/sip:b", "310": "PJSIP/310/sip:c"})
        app[presence_routes.SERVICE].nodes = {"default": (devices, board)}
        journal = app[events_routes.SERVICE].journal
        base = str(client.make_url("")).rstrip("/")
        shots: dict[str, bytes] = {}

        async with chromium_page() as page:
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            await page.set_viewport_size({"width": 1280, "height": 800})
            await page.goto(f"{base}/screenpop")
            await _shot(page, folder, "login", shots)
            await page.fill("#key", key)
            await page.click("#login-form button")
            await page.wait_for_selector("#link-state.on", timeout=5000)

            # colleagues' presence
            await page.wait_for_function(
                "() => document.querySelector('.presence[data-extension=\"311\"]')"
                ".textContent === 'offline'", timeout=5000)
            badges = await page.eval_on_selector_all(
                ".presence", "es => es.map(e => [e.dataset.extension, e.textContent])")
            assert badges == [["309", "available"], ["310", "on a call"], ["311", "offline"]]
            await page.wait_for_function(
                "() => document.querySelectorAll('#recent-rows tr').length === 2", timeout=5000)
            await _shot(page, folder, "idle", shots)

            # Ada calls 309: the card names her, with her last calls
            def publish(type_, data, extension):
                journal.publish(acme.id, type_, data, extension=extension)
            card = ContactCard(uuid="u", name="Ada Lovelace", organization="Analytical Engines")
            publish("call.ringing", CallRinging(
                call_id="500.1", direction="inbound", extension="309",
                devices=["sip:309@a", "sip:309@b"], caller=ADA, called="309", number=ADA,
                contact=card), "309")
            first = await page.wait_for_selector("article.card", timeout=5000)
            assert await first.eval_on_selector(".name", "e => e.textContent") == "Ada Lovelace"
            await page.wait_for_function(
                "() => document.querySelectorAll('article.card .history li').length === 2",
                timeout=5000)
            history = await first.eval_on_selector_all(".history li", "es => es.map(e => e.textContent)")
            assert "310" in history[0] and "answered 0:42" in history[0]
            assert "309" in history[1] and "answered 2:31" in history[1]
            # the desk at 1280x800: calls, dial box and colleagues all on screen, colleagues right
            ringing = await page.query_selector("#ringing")
            dial_box = await page.query_selector("#dial")
            watch = await page.query_selector("#watch")
            assert (await dial_box.bounding_box())["y"] + 40 < 800
            assert (await watch.bounding_box())["x"] > (await ringing.bounding_box())["x"] + 300
            await _no_sideways_scroll(page)
            await _shot(page, folder, "ringing", shots)

            publish("call.answered", CallAnswered(call_id="500.1", direction="inbound",
                                                  extension="309", device="sip:309@a"), "309")
            await page.wait_for_selector("article.card.answered", timeout=5000)
            await _shot(page, folder, "answered", shots)

            # a second call rings 309 too, and 310 takes it: the card says who
            publish("call.ringing", CallRinging(
                call_id="501.1", direction="inbound", extension="309", devices=["sip:309@a"],
                caller="5550100077", called="700", number="5550100077"), "309")
            await page.wait_for_function(
                "() => document.querySelectorAll('article.card').length === 2", timeout=5000)
            publish("call.taken", CallTaken(call_id="501.1", direction="inbound",
                                            extension="309", taken_by="310",
                                            reason="answered_elsewhere"), "309")
            await page.wait_for_function(
                "() => [...document.querySelectorAll('article.card .status')]"
                ".some(e => e.textContent === 'Answered by 310')", timeout=5000)
            # an extension not watched (311 unticked) pops no card: its calls are presence only
            await page.uncheck("#extensions input[value='311']")
            publish("call.ringing", CallRinging(
                call_id="502.1", direction="inbound", extension="311", devices=["sip:311@a"],
                caller="5550100088", called="311", number="5550100088"), "311")
            publish("call.ended", CallEnded(
                call_id="500.1", extension="309", direction="INCOMING", disposition="ANSWERED",
                duration=95, billsec=90, number=ADA, name="Ada Lovelace", rid=3,
                call_timestamp=utc_now().strftime("%Y-%m-%d %H:%M:%S")), "309")
            await page.wait_for_selector("article.card.ended", timeout=5000)
            assert await page.eval_on_selector_all(
                "article.card", "cs => cs.map(c => c.dataset.extension)") == ["309", "309"]
            await _shot(page, folder, "ended", shots)

            # the keyboard: digits typed anywhere start a number, Escape clears, "/" goes there
            await page.click("h1")
            await page.keyboard.type("+4571")
            assert await page.input_value("#dial-number") == "+4571"
            assert await page.evaluate("document.activeElement.id") == "dial-number"
            await page.keyboard.press("Escape")
            assert await page.input_value("#dial-number") == ""
            await page.keyboard.press("/")
            assert await page.evaluate("document.activeElement.id") == "dial-number"
            # a recent call's number goes into the dial box with a click (call back)
            await page.click("#recent-rows td.callback")
            filled = await page.input_value("#dial-number")  # as the call log shows it
            assert "".join(c for c in filled if c.isdigit()).endswith("5550100001"), filled

            # a phone: one column, nothing wider than the screen
            await page.set_viewport_size({"width": 390, "height": 844})
            await _no_sideways_scroll(page)
            cards = await page.eval_on_selector_all(
                "article.card", "cs => cs.map(c => c.getBoundingClientRect().right)")
            assert all(right <= 390 for right in cards), cards
            await _shot(page, folder, "phone", shots)
            assert errors == []
