"""Searches and phone normalization."""

from __future__ import annotations

import pytest

SAME_NUMBER = ["+1 (555) 999-9999", "1-555-999-9999", "5559999999", "555.999.9999",
               "(555) 999 9999", "+15559999999"]


@pytest.mark.parametrize("stored", SAME_NUMBER)
@pytest.mark.parametrize("searched", SAME_NUMBER[:3])
async def test_spellings_of_one_number_are_one_number(api, stored, searched):
    uuid = (await api.ok("POST", "/contacts/contacts",
                         json={"firstname": "N", "mobile_phone": stored}))["uuid"]
    hit = await api.ok("POST", "/contacts/contacts/search/mobile", json={"mobile_phone": searched})
    assert hit["uuid"] == uuid and hit["mobile_phone"] == "5559999999"


async def test_only_an_eleven_digit_leading_one_is_dropped(api):
    await api.ok("POST", "/contacts/contacts",
                 json={"firstname": "A", "mobile_phone": "1555123", "phone_numbers": ["+44 20 7946 0958", "1 (800) 555-0100"]})
    got = (await api.ok("GET", "/contacts/contacts"))[0]
    assert got["mobile_phone"] == "1555123"          # 7 digits: kept as is
    assert got["phone_numbers"] == ["442079460958", "8005550100"]


@pytest.mark.parametrize("bad", ["555-CALL-NOW", "5551234;x", "1" * 21, "５５５１２３４"])
async def test_non_numbers_are_rejected_naming_the_field(api, bad):
    status, body = await api.call("POST", "/contacts/contacts",
                                  json={"firstname": "A", "mobile_phone": bad})
    assert status == 400 and body["field"] == "mobile_phone", body
    status, body = await api.call("POST", "/contacts/contacts",
                                  json={"firstname": "A", "phone_numbers": ["5551234", bad]})
    assert status == 400 and body["field"] == "phone_numbers.1", body
    status, body = await api.call("POST", "/contacts/contacts/search/mobile", json={"mobile_phone": bad})
    assert status == 400 and body["field"] == "mobile_phone"


@pytest.fixture
async def people(api):
    g = (await api.ok("POST", "/contacts/groups", json={"name": "VIP"}))["uuid"]
    rows = {
        "john": {"firstname": "John", "lastname": "Doe", "mobile_phone": "5559999", "email": "John@Example.com",
                 "phone_numbers": ["555-1234"], "groups": [g]},
        "jane": {"firstname": "Jane", "lastname": "Johnson", "mobile_phone": "5551111",
                 "organization": "Tech Corp", "note": "met at the expo"},
        "bob": {"firstname": "Bob", "lastname": "Dylan", "mobile_phone": "4449999", "phone_numbers": ["5559999"]},
    }
    ids = {k: (await api.ok("POST", "/contacts/contacts", json=v))["uuid"] for k, v in rows.items()}
    return ids, g


async def test_search_mobile_exact_and_404(api, people):
    ids, _ = people
    assert (await api.ok("POST", "/contacts/contacts/search/mobile", json={"mobile_phone": "555-9999"}))["uuid"] == ids["john"]
    assert await api.call("POST", "/contacts/contacts/search/mobile",
                          json={"mobile_phone": "0000000"}) == (404, {"error": "Contact not found"})


async def test_search_mobile_like(api, people):
    ids, _ = people
    hits = await api.ok("POST", "/contacts/contacts/search/mobile/like", json={"mobile_phone": "999"})
    assert {h["uuid"] for h in hits} == {ids["john"], ids["bob"]}
    hits = await api.ok("POST", "/contacts/contacts/search/mobile/like", json={"mobile_phone": "11"})
    assert [h["uuid"] for h in hits] == [ids["jane"]]       # short: the non-trigram path
    hits = await api.ok("POST", "/contacts/contacts/search/mobile/like", json={"mobile_phone": "555", "limit": 1})
    assert len(hits) == 1


async def test_search_name_with_hints(api, people):
    ids, _ = people
    hits = await api.ok("POST", "/contacts/contacts/search/name", json={"searchString": "jo"})
    assert {(h["uuid"], h["hint_data"]) for h in hits} == {(ids["john"], "firstname"),
                                                           (ids["jane"], "lastname")}
    hits = await api.ok("POST", "/contacts/contacts/search/name", json={"searchString": "JOHN DOE"})
    assert [(h["uuid"], h["hint_data"]) for h in hits] == [(ids["john"], "firstname")]  # the seed's own example
    hits = await api.ok("POST", "/contacts/contacts/search/name", json={"searchString": "dyl"})
    assert [(h["uuid"], h["hint_data"]) for h in hits] == [(ids["bob"], "lastname")]
    assert await api.ok("POST", "/contacts/contacts/search/name", json={"searchString": "zzz"}) == []


async def test_search_email_is_case_insensitive(api, people):
    ids, _ = people
    hit = await api.ok("POST", "/contacts/contacts/search/email", json={"email_address": "JOHN@example.COM"})
    assert hit["uuid"] == ids["john"]
    assert (await api.call("POST", "/contacts/contacts/search/email", json={"email_address": "x@y.z"}))[0] == 404


async def test_search_mobile_batch(api, people):
    ids, _ = people
    hits = await api.ok("POST", "/contacts/contacts/search/mobile/batch",
                        json={"mobile_phones": ["5559999", "1 (555) 111-1", "0000"]})
    assert {h["uuid"] for h in hits} == {ids["john"]}
    hits = await api.ok("POST", "/contacts/contacts/search/mobile/batch",
                        json={"mobile_phones": ["555-9999", "555-1111"]})
    assert {h["uuid"] for h in hits} == {ids["john"], ids["jane"]}
    assert all("api_key" not in h for h in hits)  # the seed's example leaks the key; we don't


async def test_search_phones_maps_each_input(api, people):
    ids, _ = people
    result = await api.ok("POST", "/contacts/contacts/search/phones",
                          json={"phone_numbers": ["555-9999", "5551234", "777"]})
    assert set(result) == {"555-9999", "5551234", "777"}
    assert {c["uuid"] for c in result["555-9999"]} == {ids["john"], ids["bob"]}  # mobile + other
    assert [c["uuid"] for c in result["5551234"]] == [ids["john"]]
    assert result["777"] == []


async def test_search_phone_exact_ignores_mobile(api, people):
    ids, _ = people
    hits = await api.ok("POST", "/contacts/contacts/search/phone/exact", json={"phone_number": "555 9999"})
    assert [h["uuid"] for h in hits] == [ids["bob"]]


async def test_advanced_search(api, people):
    ids, g = people
    hits = await api.ok("POST", "/contacts/contacts/search", json={"searchString": "tech"})
    assert [(h["uuid"], h["hint_data"]) for h in hits] == [(ids["jane"], "organization")]
    hits = await api.ok("POST", "/contacts/contacts/search", json={"searchString": "expo"})
    assert [(h["uuid"], h["hint_data"]) for h in hits] == [(ids["jane"], "note")]
    hits = await api.ok("POST", "/contacts/contacts/search", json={"searchString": "john"})
    assert {h["uuid"] for h in hits} == {ids["john"], ids["jane"]}
    hits = await api.ok("POST", "/contacts/contacts/search", json={"searchString": "john", "letter": "d"})
    assert [h["uuid"] for h in hits] == [ids["john"]]
    hits = await api.ok("POST", "/contacts/contacts/search", json={"searchString": "(555) 1234"})
    assert [(h["uuid"], h["hint_data"]) for h in hits] == [(ids["john"], "phone_numbers")]
    hits = await api.ok("POST", "/contacts/contacts/search", json={"groupUUID": g})
    assert [h["uuid"] for h in hits] == [ids["john"]] and hits[0]["groups"] == [g]
    hits = await api.ok("POST", "/contacts/contacts/search", json={"searchString": "Jo", "letter": "J"})
    assert [(h["uuid"], h["hint_data"]) for h in hits] == [(ids["jane"], "lastname")]
    assert (await api.call("POST", "/contacts/contacts/search", json={"groupUUID": "nope"}))[0] == 404
    assert (await api.call("POST", "/contacts/contacts/search", json={"letter": "dd"}))[0] == 400
