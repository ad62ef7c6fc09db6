"""Name, organization and email match case- and width-insensitively across Unicode (NFKC +
case folding), and accent-sensitively (docs/contacts.md says why)."""

from __future__ import annotations

import sqlite3

import pytest

from callbridge.db.migrate import available_migrations, migrate

# (stored first name, what a user types) for scripts whose upper case is not ASCII
NAMES = [
    ("Émile", "émile"), ("Øyvind", "ø"), ("Ángel", "áng"), ("Łukasz", "łuk"),   # Latin-1 / Ext-A
    ("Ǆemal", "ǆem"),                                                          # Latin Ext-B titlecase
    ("ΣΟΦΊΑ", "σοφία"), ("Ξένια", "ξέν"),                                      # Greek
    ("ЖАННА", "жан"), ("Юрий", "юр"),                                          # Cyrillic
    ("Straße", "STRASSE"),                                                     # ß folds to ss
    ("Ｊｏｈｎ", "john"),                                                      # full width
    ("山田", "山"),                                                             # CJK
]


@pytest.mark.parametrize("stored,typed", NAMES)
async def test_name_search_folds_case_and_width(api, stored, typed):
    uuid = (await api.ok("POST", "/contacts/contacts", json={"firstname": stored, "lastname": "X"}))["uuid"]
    hits = await api.ok("POST", "/contacts/contacts/search/name", json={"searchString": typed})
    assert [(h["uuid"], h["firstname"]) for h in hits] == [(uuid, stored)]   # stored as written
    hits = await api.ok("POST", "/contacts/contacts/search", json={"searchString": typed})
    assert [h["uuid"] for h in hits] == [uuid]


async def test_accents_are_significant(api):
    await api.ok("POST", "/contacts/contacts", json={"firstname": "Müller"})
    await api.ok("POST", "/contacts/contacts", json={"firstname": "Muller"})
    hits = await api.ok("POST", "/contacts/contacts/search/name", json={"searchString": "MÜL"})
    assert [h["firstname"] for h in hits] == ["Müller"]


async def test_last_name_organization_and_email_fold_too(api):
    uuid = (await api.ok("POST", "/contacts/contacts", json={
        "firstname": "A", "lastname": "ÅSTRÖM", "organization": "ÖKO GmbH",
        "email": "ÉLODIE@Exemple.fr"}))["uuid"]
    hits = await api.ok("POST", "/contacts/contacts/search/name", json={"searchString": "åstr"})
    assert [(h["uuid"], h["hint_data"]) for h in hits] == [(uuid, "lastname")]
    hits = await api.ok("POST", "/contacts/contacts/search", json={"searchString": "öko"})
    assert [(h["uuid"], h["hint_data"]) for h in hits] == [(uuid, "organization")]
    found = await api.ok("POST", "/contacts/contacts/search/email",
                         json={"email_address": "élodie@exemple.FR"})
    assert found["uuid"] == uuid and found["email"] == "ÉLODIE@Exemple.fr"
    assert await api.ok("POST", "/contacts/contacts/search", json={"letter": "a"}) == []  # Å is not A
    other = (await api.ok("POST", "/contacts/contacts", json={"lastname": "ÄNDRÉ"}))["uuid"]
    assert await api.ok("POST", "/contacts/contacts/search", json={"letter": "a"}) == []
    andre = (await api.ok("POST", "/contacts/contacts", json={"lastname": "ANDRÉ"}))["uuid"]
    hits = await api.ok("POST", "/contacts/contacts/search", json={"letter": "a"})
    assert [h["uuid"] for h in hits] == [andre] and other != andre


async def test_short_text_uses_the_keys_too(api):
    """One or two characters take the LIKE path instead of the trigram index: same folding."""
    uuid = (await api.ok("POST", "/contacts/contacts", json={"firstname": "Ωmega"}))["uuid"]
    hits = await api.ok("POST", "/contacts/contacts/search", json={"searchString": "ω"})
    assert [h["uuid"] for h in hits] == [uuid]


async def test_an_update_rekeys(api):
    uuid = (await api.ok("POST", "/contacts/contacts", json={"firstname": "Anna"}))["uuid"]
    await api.ok("PUT", f"/contacts/contacts/{uuid}", json={"firstname": "Ärla"})
    assert await api.ok("POST", "/contacts/contacts/search/name", json={"searchString": "ann"}) == []
    hits = await api.ok("POST", "/contacts/contacts/search", json={"searchString": "ärl"})
    assert [h["uuid"] for h in hits] == [uuid]


def test_the_migration_keys_contacts_stored_before_it(tmp_path):
    path = tmp_path / "old.db"
    before = [m for m in available_migrations() if m[0] < 4]
    migrate(path, before)
    with sqlite3.connect(path) as c:
        c.execute("INSERT INTO accounts(name, created_at) VALUES ('a', 'now')")
        c.execute("INSERT INTO contacts(account_id, uuid, firstname, lastname, email, version,"
                  " created_at, updated_at) VALUES (1, 'u1', 'Émile', 'ZOLA', 'E@X.FR', 1, 'n', 'n')")
    migrate(path)
    with sqlite3.connect(path) as c:
        keys = c.execute("SELECT firstname_key, lastname_key, email_key FROM contacts").fetchone()
        fts = c.execute("SELECT rowid FROM contacts_fts WHERE contacts_fts MATCH '\"émi\"'").fetchall()
    assert keys == ("émile", "zola", "e@x.fr") and fts == [(1,)]
