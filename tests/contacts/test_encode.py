"""The direct encoder of whole-account reads writes exactly what the Contact model would, for
ordinary and hostile stored values (unicode, escapes, empty and missing fields)."""

from __future__ import annotations

from pydantic import TypeAdapter

from callbridge.contacts import models as m
from callbridge.contacts.encode import FIELDS, rows_json
from callbridge.contacts.store import _row_from_dict
from callbridge.web import middleware as mw

_PYDANTIC = TypeAdapter(list[m.Contact])


def _stored(**values) -> dict:
    """A row as the store reads it (before _row_from_dict), defaults for the rest."""
    row = {f: None for f in FIELDS if f not in ("groups",)}
    row.update(id=7, uuid="0b9f5d7e-0000-4000-8000-000000000001", organization_flag=0,
               phone_numbers="[]", version=3, created_at="2026-01-01T00:00:00.000Z",
               updated_at="2026-01-01T00:00:00.000Z", group_uuids=None)
    row.update(values)
    return row


ROWS = [
    _stored(),
    _stored(firstname="Ada", lastname="Lovelace", organization="Analytical Engines",
            organization_flag=1, user_id=42, phone_numbers='["2125550100", "+4571999999"]',
            mobile_phone="+4571999999", email="ada@example.com", version=2**40,
            group_uuids="b-uuid,a-uuid"),
    _stored(firstname="Zoë «Ž» 日本 😀", note='line\nbreak\ttab "quoted" \\ back/slash \u2028 \x7f',
            address="Øster Allé 4\r\n2100 København", phone_numbers='["+4520304050"]'),
    _stored(firstname="", lastname="", note="\u0000 never stored, but escaped all the same",
            phone_numbers=r'["555\u00e9", "x, y \"z\""]', external_id="crm-1",
            profile_url="https://crm.example.com/p?id=1&x=<y>"),
]


class _Row(tuple):
    """A row as a driver returns it: by position, with its column names (sqlite3.Row's keys())."""

    def __new__(cls, d: dict):
        row = super().__new__(cls, d.values())
        row.names = list(d)
        return row

    def keys(self) -> list[str]:
        return self.names


def test_the_encoder_writes_what_pydantic_writes():
    expected = [_row_from_dict(dict(r)) for r in ROWS]
    assert rows_json([_Row(r) for r in ROWS]) == \
        _PYDANTIC.dump_json(_PYDANTIC.validate_python(expected))


def test_stored_number_lists_parse_as_json_does():
    import json
    for text in ('[]', '["2125550100"]', '["2125550100", "+4571999999"]',
                 r'["555\u00e9", "x, y \"z\""]', '["a","b"]', '["a", "b"]'):
        assert _row_from_dict(_stored(phone_numbers=text))["phone_numbers"] == json.loads(text)


async def test_whole_account_reads_are_what_the_model_writes_on_either_engine(api):
    """GET /contacts/contacts and contactsAfterVersion write the rows' JSON without a model
    (SQLite: json_object in the query; PostgreSQL: contacts.encode): the bytes are pydantic's
    for the same stored rows, hostile values and groups included."""
    from callbridge.contacts import routes as contact_routes

    made = []
    for body in ({"firstname": "Zoë «Ž» 日本 😀", "organization": "Øster & Co",
                  "organization_flag": True, "phone_numbers": ["+45 20 30 40 50", "2125550100"],
                  "mobile_phone": "+1 555 010 0001", "note": 'say "hi"\\n\tok'},
                 {"lastname": "Plain"}, {"email": "x@example.com", "external_id": "crm-9"}):
        made.append((await api.ok("POST", "/contacts/contacts", json=body))["uuid"])
    groups = [(await api.ok("POST", "/contacts/groups", json={"name": n}))["uuid"]
              for n in ("b", "a")]
    for g in groups:
        await api.ok("POST", "/contacts/contact_groups",
                     json={"fk_contact_uuid": made[0], "fk_group_uuid": g})
    service = api.app[contact_routes.SERVICE]
    async with service.db.transaction() as tx:  # what no API lets in, stored all the same
        await tx.execute("UPDATE contacts SET note = ?, phone_numbers = ? WHERE uuid = ?",
                         ("\x01\x1f \u2028 \x7f </script>", r'["555\u00e9", "x, y \"z\""]',
                          made[1]))
    account = await api.app[mw.ACCOUNT].get_account("acme")

    async def model_json(order: str) -> bytes:
        async with service.db.snapshot() as snap:
            rows = [r async for batch in service.store.contacts_by(
                snap, order, account.id, 0, None, 500) for r in batch]
        assert len(rows) == 3
        return _PYDANTIC.dump_json(_PYDANTIC.validate_python(rows))
    resp = await api.client.get("/contacts/contacts", headers={"x-api-key": api.keys["acme"]})
    assert await resp.read() == await model_json("id")
    resp = await api.client.get("/contacts/contactsAfterVersion/0",
                                headers={"x-api-key": api.keys["acme"]})
    assert (await resp.read()).startswith(
        b'{"updated":' + await model_json("version") + b',"deleted":')
