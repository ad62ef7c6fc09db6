"""Numbers are international: every number is matched by its key for the account's home region
(E.164 when it is a possible number there, its digits otherwise)."""

from __future__ import annotations

import sqlite3

import pytest

from callbridge.admin.routes import EXTENSIONS
from callbridge.calllog.routes import SERVICE as CALLLOG
from callbridge.phone import display, phone_key
from callbridge.db.migrate import available_migrations, migrate
from callbridge.web import middleware as mw
from tests.calllog.master_csv import inbound
from tests.calllog.test_durability import ingest_over_ami

# (region, spellings of one number, the key, what the WebFones API shows)
SAME_NUMBER = [
    ("US", ["+1 (555) 999-9999", "15559999999", "5559999999", "555.999.9999"], "+15559999999", "5559999999"),
    ("DK", ["+45 71 99 99 99", "004571999999", "71999999", "4571999999", "71 99 99 99"], "+4571999999", "4571999999"),
    ("GB", ["+44 20 7946 0018", "020 7946 0018", "0044 20 7946 0018"], "+442079460018", "442079460018"),
    ("DE", ["030 123456", "+49 30 123456", "0049 30 123456"], "+4930123456", "4930123456"),
    # a foreign number whose digits alone read as a home one keeps its '+' (shown without it,
    # a CRM writing back what it read made it (457) 199-9999)
    ("US", ["+45 71 99 99 99", "011 45 71 99 99 99"], "+4571999999", "+4571999999"),
    ("US", ["309"], "309", "309"),            # an extension: digits, matched as digits
    ("DK", ["112"], "112", "112"),            # a short code
]


@pytest.mark.parametrize("region,spellings,key,shown", SAME_NUMBER)
def test_every_spelling_has_one_key(region, spellings, key, shown):
    assert {phone_key(s, region) for s in spellings} == {key}
    assert display(key, region) == shown


@pytest.mark.parametrize("bad", ["71-99-XX-99", "+", "4571999999;ext", "７１９９９９９９", "1" * 21])
def test_what_is_not_a_number_is_refused(bad):
    with pytest.raises(ValueError):
        phone_key(bad, "DK")


async def _in_region(api, region: str, account: str = "acme"):
    await api.app[mw.ACCOUNT].set_region(account, region)


@pytest.mark.parametrize("region,spellings,key,shown", SAME_NUMBER)
async def test_stored_in_one_spelling_found_by_all(api, region, spellings, key, shown):
    await _in_region(api, region)
    for stored in spellings:
        uuid = (await api.ok("POST", "/contacts/contacts",
                             json={"firstname": "N", "mobile_phone": stored, "phone_numbers": [stored]}))["uuid"]
        for searched in spellings:
            hit = await api.ok("POST", "/contacts/contacts/search/mobile", json={"mobile_phone": searched})
            assert hit["uuid"] == uuid and hit["mobile_phone"] == shown, (stored, searched, hit)
            found = await api.ok("POST", "/contacts/contacts/search/phones", json={"phone_numbers": [searched]})
            assert [c["uuid"] for c in found[searched]] == [uuid]
        await api.ok("DELETE", f"/contacts/contacts/{uuid}")


async def test_an_invalid_number_is_400_naming_the_field(api):
    await _in_region(api, "DK")
    status, body = await api.call("POST", "/contacts/contacts", json={"firstname": "A", "mobile_phone": "71 99 XX"})
    assert status == 400 and body["field"] == "mobile_phone"


async def test_the_same_digits_are_different_numbers_in_different_accounts(api):
    """A DK account's 71999999 is +4571999999; for a US account it is just those digits."""
    await _in_region(api, "DK", "acme")
    dk = (await api.ok("POST", "/contacts/contacts", json={"firstname": "Dk", "mobile_phone": "71999999"}))["uuid"]
    us = (await api.ok("POST", "/contacts/contacts", account="globex",
                       json={"firstname": "Us", "mobile_phone": "71999999"}))["uuid"]
    assert (await api.ok("POST", "/contacts/contacts/search/mobile", json={"mobile_phone": "+4571999999"}))["uuid"] == dk
    assert (await api.call("POST", "/contacts/contacts/search/mobile", account="globex",
                           json={"mobile_phone": "+4571999999"}))[0] == 404
    assert (await api.ok("POST", "/contacts/contacts/search/mobile", account="globex",
                         json={"mobile_phone": "71999999"}))["uuid"] == us


async def test_call_log_names_a_danish_caller_written_internationally(api):

    await _in_region(api, "DK")
    await api.app[EXTENSIONS].add("acme", "309")
    uuid = (await api.ok("POST", "/contacts/contacts", json={"firstname": "Relatel", "mobile_phone": "71 99 99 99"}))["uuid"]
    await ingest_over_ami(api, inbound(1, "004571999999"))
    [row] = (await api.ok("GET", "/call_log/records_after_timestamp?timestamp=2020-01-01 00:00:00"))["records"]
    assert (row["cidname_outside"], row["contact_uuid"]) == ("Relatel", uuid)
    filtered = await api.ok("GET", "/call_log/records_after_timestamp?timestamp=2020-01-01 00:00:00&number=%2B45 71 99 99 99")
    assert [r["rid"] for r in filtered["records"]] == [row["rid"]]
    assert api.app[CALLLOG] is not None


def test_the_migration_rekeys_stored_numbers_and_keeps_what_contacts_show(tmp_path):
    path = tmp_path / "old.db"
    migrate(path, [m for m in available_migrations() if m[0] < 7])
    with sqlite3.connect(path) as c:
        c.execute("INSERT INTO accounts(name, created_at) VALUES ('a', 'now')")
        c.execute("INSERT INTO contacts(account_id, uuid, firstname, mobile_phone, phone_numbers, version,"
                  " created_at, updated_at) VALUES (1, 'u1', 'A', '5559999999', '[\"442079460958\", \"309\"]',"
                  " 1, 'n', 'n')")
        c.executemany("INSERT INTO contact_phones(contact_id, account_id, number, is_mobile) VALUES (1, 1, ?, ?)",
                      [("5559999999", 1), ("442079460958", 0), ("309", 0)])
    migrate(path, default_region="US")
    with sqlite3.connect(path) as c:
        keys = sorted(r[0] for r in c.execute("SELECT number FROM contact_phones"))
        shown = c.execute("SELECT mobile_phone, phone_numbers FROM contacts").fetchone()
        region = c.execute("SELECT region FROM accounts").fetchone()[0]
    assert keys == ["+15559999999", "+442079460958", "309"]
    assert shown == ("5559999999", '["442079460958", "309"]') and region == "US"


async def test_set_region_rekeys_digits_that_were_not_a_number_in_the_old_region(api):
    uuid = (await api.ok("POST", "/contacts/contacts", json={"firstname": "A", "mobile_phone": "71999999"}))["uuid"]
    assert (await api.call("POST", "/contacts/contacts/search/mobile", json={"mobile_phone": "+4571999999"}))[0] == 404
    await _in_region(api, "DK")
    assert (await api.ok("POST", "/contacts/contacts/search/mobile", json={"mobile_phone": "+4571999999"}))["uuid"] == uuid
    with pytest.raises(Exception, match="not a region"):
        await api.app[mw.ACCOUNT].set_region("acme", "XX")


def test_shown_forms_map_to_keys_without_reading_numbers_again():
    """The export's {shown: key} (callbridge.phone.shown_to_keys) is what display() gives, also
    when two keys share their digits (+1 212 555 0100 and Morocco's +212 555 0100)."""
    from callbridge.phone import shown_to_keys
    for region, keys in (("US", ["+12125550100", "+4571999999", "+442079460018", "309"]),
                         ("US", ["+12125550100", "+2125550100"]),
                         ("DK", ["+4571999999", "+12125550100", "112"])):
        mapping = shown_to_keys(keys, region)
        for k in keys:
            assert mapping[display(k, region)] == k, (region, k, mapping)


def test_the_north_american_shortcut_keys_as_libphonenumber_does():
    """phone_key answers ten-digit North American numbers without libphonenumber (a bulk import
    keys every number it stores); on random numbers of every NANP region, and of regions
    outside it, in the spellings a CRM sends, its key is libphonenumber's."""
    import random

    import phonenumbers

    from callbridge.phone import _parsed_key, clean
    rng = random.Random(20261205)
    regions = sorted(phonenumbers.region_codes_for_country_code(1)) + ["DK", "GB", "DE", "IN"]
    checked = 0
    for region in regions:
        for _ in range(400):
            digits = "".join(rng.choice("0123456789") for _ in range(10))
            for written in (f"+1 {digits[:3]} {digits[3:6]} {digits[6:]}", digits,
                            f"({digits[:3]}) {digits[3:6]}-{digits[6:]}", f"1{digits}",
                            f"+{digits}", f"+1{digits[:7]}", digits[:7]):
                assert phone_key(written, region) == _parsed_key(clean(written), region), (
                    region, written)
                checked += 1
    assert checked == len(regions) * 400 * 7
