"""Accounts are kept apart: nothing of one is visible to or changeable by another (404s)."""

from __future__ import annotations


async def test_other_accounts_contacts_and_groups_are_invisible(api):
    g = (await api.ok("POST", "/contacts/groups", json={"name": "Mine"}))["uuid"]
    c = (await api.ok("POST", "/contacts/contacts",
                      json={"firstname": "Secret", "mobile_phone": "5550001", "external_id": "S1",
                            "email": "s@x.io", "phone_numbers": ["5550002"], "groups": [g]}))["uuid"]
    other = dict(account="globex")
    assert (await api.call("GET", f"/contacts/contacts/{c}", **other))[0] == 404
    assert (await api.call("PUT", f"/contacts/contacts/{c}", json={"note": "x"}, **other))[0] == 404
    assert (await api.call("DELETE", f"/contacts/contacts/{c}", **other))[0] == 404
    assert (await api.call("GET", "/contacts/contacts/external/S1", **other))[0] == 404
    assert (await api.call("DELETE", "/contacts/contacts/external/S1", **other))[0] == 404
    assert await api.ok("GET", "/contacts/contacts", **other) == []
    assert await api.ok("GET", "/contacts/groups", **other) == []
    assert (await api.call("DELETE", f"/contacts/groups/{g}", **other))[0] == 404
    assert (await api.call("GET", f"/contacts/groups/{g}/contacts", **other))[0] == 404
    assert (await api.call("POST", "/contacts/contact_groups", **other,
                           json={"fk_contact_uuid": c, "fk_group_uuid": g}))[0] == 404
    assert (await api.call("POST", "/contacts/contacts", **other,
                           json={"firstname": "Y", "groups": [g]}))[0] == 400
    for path, body in [("search/mobile", {"mobile_phone": "5550001"}),
                       ("search/email", {"email_address": "s@x.io"})]:
        assert (await api.call("POST", f"/contacts/contacts/{path}", json=body, **other))[0] == 404
    for path, body in [("search/mobile/like", {"mobile_phone": "555"}),
                       ("search/name", {"searchString": "sec"}),
                       ("search/mobile/batch", {"mobile_phones": ["5550001"]}),
                       ("search/phone/exact", {"phone_number": "5550002"}),
                       ("search", {"searchString": "secret"})]:
        assert await api.ok("POST", f"/contacts/contacts/{path}", json=body, **other) == [], path
    assert await api.ok("POST", "/contacts/contacts/search/phones", **other,
                        json={"phone_numbers": ["5550001"]}) == {"5550001": []}
    assert await api.ok("GET", "/contacts/contactsAfterVersion/0", **other) == {"updated": [], "deleted": []}
    # and it is all still there for its owner
    assert (await api.ok("GET", f"/contacts/contacts/{c}"))["groups"][0]["uuid"] == g
