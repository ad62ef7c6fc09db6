"""The event catalogue: every event type has a model, /asyncapi.json describes each, and the
events callbridge really sends validate against what it says."""

from __future__ import annotations

import jsonschema
import pytest

from callbridge.dialer import routes as dialer_routes
from callbridge.events.journal import draft
from callbridge.events.models import EVENT_TYPES, CallAnswered
from tests.events.test_stream import (  # noqa: F401 - the fixture
    _row,
    ami,
    events_api,
    inbound_call_rings,
    next_event,
)


def _validator(doc: dict, type_: str) -> jsonschema.Draft202012Validator:
    payload = doc["components"]["messages"][type_]["payload"]
    schema = {**payload, "components": doc["components"]}  # its refs point into components
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


async def test_the_asyncapi_document_names_every_event_type(events_api):
    resp = await events_api.client.get("/asyncapi.json")  # public, like /openapi.json
    assert resp.status == 200
    doc = await resp.json()
    assert doc["asyncapi"] == "3.0.0" and doc["channels"]["events"]["address"] == "/events"
    assert set(doc["components"]["messages"]) == set(EVENT_TYPES)
    assert set(doc["channels"]["events"]["messages"]) == set(EVENT_TYPES)
    for type_ in EVENT_TYPES:
        message = doc["components"]["messages"][type_]
        assert message["summary"] and message["payload"]["properties"]["type"] == {"const": type_}
        _validator(doc, type_)


async def test_the_events_sent_are_what_the_document_says(events_api):
    api = events_api
    doc = await (await api.client.get("/asyncapi.json")).json()
    async with api.client.ws_connect("/events", headers={"x-api-key": api.keys["acme"]}) as ws:
        inbound_call_rings(api.app, lid="60.1")
        ami(api.app, "ContactStatus", AOR="309", URI="sip:309@127.0.0.1:5071",
            ContactStatus="Unreachable")
        tracker = api.app[dialer_routes.SERVICE].tracker
        tracker.start("c-9", 1, "309", "5551234")
        tracker.fail("c-9", "no device answered")
        from callbridge.calllog import routes as calllog_routes
        log = api.app[calllog_routes.SERVICE]
        async with log.db.loop_transaction() as tx:
            stored = await log.row_listener.in_transaction(tx, [_row(linkedid="60.2")])
        log.row_listener.committed(stored)
        got = [await next_event(ws) for _ in range(6)]
    assert {e["type"] for e in got} == {"call.ringing", "device.state", "dial.progress",
                                        "call.ended", "call.missed"}
    for ev in got:
        _validator(doc, ev["type"]).validate(ev)
    wrong = dict(got[0], type="call.answered")  # a ringing's data is no answer
    with pytest.raises(jsonschema.ValidationError):
        _validator(doc, "call.answered").validate(wrong)


def test_an_event_outside_the_catalogue_is_refused():
    with pytest.raises(ValueError):
        draft(1, "call.exploded", {}, extension="309")
    answered = CallAnswered(call_id="1", direction="inbound", extension="309", device="d")
    with pytest.raises(TypeError):
        draft(1, "call.ringing", answered, extension="309")
