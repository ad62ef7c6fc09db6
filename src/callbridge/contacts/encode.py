"""Stored contact rows straight to the JSON of the Contact model, for whole-account reads.

Rows read from the store are already valid (every write validated them), so a 1 M-contact list
need not validate each one into a pydantic model only to serialize it again: that, and parsing
each row's phone_numbers JSON, was most of a full list's time (docs/benchmarks.md). The output is
byte for byte what pydantic writes for the same contacts (tests/contacts/test_encode.py checks
it on hostile values); the model stays the schema of record (OpenAPI)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from operator import itemgetter
from typing import Any

import orjson

from callbridge.contacts import models as m

FIELDS = tuple(m.Contact.model_fields)  # the model's order is the JSON's
_FLAG = FIELDS.index("organization_flag")
_values = itemgetter(*FIELDS)


def stored_numbers(text: str) -> list[str]:
    """A stored phone_numbers column (json.dumps of a list of strings) as the list."""
    if text == "[]":
        return []
    if "\\" not in text and '","' not in text:
        # json.dumps' own list of plain strings (no escape, so no quote inside one): split, ten
        # times cheaper than json.loads, which was a third of a 1 M-contact list's time
        return text[2:-2].split('", "')
    return json.loads(text)


def rows_json(rows: Sequence[Any]) -> bytes:
    """A JSON array of Contact straight from rows as the store selects them (sqlite3.Row or
    asyncpg.Record, by position): one dict per row, for orjson; no model, no other copy."""
    if not rows:
        return b"[]"
    names = list(rows[0].keys())
    get = itemgetter(*(names.index("group_uuids" if f == "groups" else f) for f in FIELDS))
    numbers = FIELDS.index("phone_numbers")
    groups = FIELDS.index("groups")
    out = []
    for r in rows:
        values = list(get(r))
        values[_FLAG] = bool(values[_FLAG])
        values[numbers] = stored_numbers(values[numbers])
        values[groups] = sorted(values[groups].split(",")) if values[groups] else []
        out.append(dict(zip(FIELDS, values, strict=True)))
    return orjson.dumps(out)
