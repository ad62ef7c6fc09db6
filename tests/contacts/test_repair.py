"""The one-time repair of numbers stored with the shown form of before 4f5e799: a foreign number
whose digits alone read as a home number ('+45 71 99 99 99' in a US account) was stored shown as
4571999999. The repair shows it with its '+' again, from the stored key, through the normal write
path (a new version, so syncing CRMs see it), once; domestic numbers and correct rows stay as
they are."""

from __future__ import annotations

import json

from callbridge.contacts import routes as contact_routes
from callbridge.contacts.repair import SHOWN_NUMBERS, corrected, repair_shown_numbers
from callbridge.phone import digits_shown
from callbridge.web import middleware as mw
from tests.conftest import eventually


def test_the_old_and_new_shown_forms():
    # before 4f5e799 a number was shown as its digits, whatever they read as
    assert digits_shown("+4571999999", "US") == "4571999999"
    assert digits_shown("+12125550100", "US") == "2125550100"
    row = {"mobile_phone": "4571999999", "phone_numbers": ["2125550100", "4420794600"]}
    keys = [("+4571999999", True), ("+12125550100", False), ("+4420794600", False)]
    assert corrected(row, keys, "US") == {
        "mobile_phone": "+4571999999", "phone_numbers": ["2125550100", "+4420794600"]}
    # already right (or a number whose digits read back as itself): nothing to do
    assert corrected({"mobile_phone": "+4571999999", "phone_numbers": []},
                     [("+4571999999", True)], "US") == {}
    assert corrected({"mobile_phone": "71999999", "phone_numbers": []},
                     [("+4571999999", True)], "DK") == {}


async def _store_old_form(api, uuid: str, mobile: str, others: list[str]) -> None:
    """What a contact written before 4f5e799 looks like in the database."""
    db = api.app[contact_routes.SERVICE].db
    async with db.transaction() as tx:
        await tx.execute("UPDATE contacts SET mobile_phone = ?, phone_numbers = ? WHERE uuid = ?",
                         (mobile, json.dumps(others), uuid))


async def test_stored_old_forms_are_repaired_once_with_a_new_version(api):
    service = api.app[contact_routes.SERVICE]
    # the service ran the repair at start (nothing to do on a new database) and recorded it
    await eventually(lambda: service.store.repair_done(SHOWN_NUMBERS), 5, "the startup repair")
    dane = (await api.ok("POST", "/contacts/contacts", json={
        "firstname": "Karen", "mobile_phone": "+45 71 99 99 99",
        "phone_numbers": ["(212) 555-0100", "+44 20 7946 0000"]}))["uuid"]
    local = (await api.ok("POST", "/contacts/contacts", json={
        "firstname": "Bob", "mobile_phone": "(212) 555-0199"}))["uuid"]
    await _store_old_form(api, dane, "4571999999", ["2125550100", "442079460000"])
    before = await api.ok("GET", f"/contacts/contacts/{dane}")
    assert before["mobile_phone"] == "4571999999"
    version = max(c["version"] for c in await api.ok("GET", "/contacts/contacts"))
    db = service.db
    async with db.transaction() as tx:
        await tx.execute("DELETE FROM data_repairs")
    accounts = api.app[mw.ACCOUNT]

    assert await repair_shown_numbers(service, accounts.list_accounts) == 1
    after = await api.ok("GET", f"/contacts/contacts/{dane}")
    assert after["mobile_phone"] == "+4571999999"
    # (12 digits read back as the same British number: that one was always shown right)
    assert after["phone_numbers"] == ["2125550100", "442079460000"]
    # a CRM following versions gets the repaired contact, and only it
    changed = await api.ok("GET", f"/contacts/contactsAfterVersion/{version}")
    assert [c["uuid"] for c in changed["updated"]] == [dane]
    # the numbers still match what they always matched; the domestic contact is untouched
    found = await api.ok("POST", "/contacts/contacts/search/mobile",
                         json={"mobile_phone": "+45 71 99 99 99"})
    assert found["uuid"] == dane
    assert (await api.ok("GET", f"/contacts/contacts/{local}"))["mobile_phone"] == "2125550199"
    # once: a second run (another instance, a restart) does nothing
    assert await repair_shown_numbers(service, accounts.list_accounts) is None
    assert (await api.ok("GET", f"/contacts/contacts/{dane}"))["version"] == after["version"]
