"""An ended click-to-dial leaves the dialer's memory after a few minutes; GET /dialer/calls/{id}
answers it from its last dial.progress in the event journal from then on."""

from __future__ import annotations

from callbridge.dialer import routes as dialer_routes
from callbridge.events import routes as events_routes
from tests.conftest import eventually
from tests.events.test_stream import events_api  # noqa: F401 - the fixture


async def test_an_aged_out_call_is_answered_from_the_journal(events_api):
    api = events_api
    tracker = api.app[dialer_routes.SERVICE].tracker
    call_id = "0b9e1f4c-0000-4000-8000-000000000001"
    tracker.start(call_id, 1, "309", "5551234")
    tracker.fail(call_id, "no device answered")
    journal = api.app[events_routes.SERVICE].journal

    async def stored() -> bool:
        progress = await journal.latest_progress(1, call_id)
        return bool(progress) and progress["state"] == "ended"
    await eventually(stored, 5.0, "the ended progress stored")
    tracker.keep_seconds, tracker._next_prune = 0.0, 0.0
    tracker.start("0b9e1f4c-0000-4000-8000-000000000002", 1, "309", "5551234")  # prunes
    assert tracker.get(call_id, 1) is None  # out of memory
    body = await api.ok("GET", f"/dialer/calls/{call_id}")
    assert body["state"] == "ended" and body["failure_reason"] == "no device answered"
    assert (await api.call("GET", f"/dialer/calls/{call_id}", account="globex"))[0] == 404
