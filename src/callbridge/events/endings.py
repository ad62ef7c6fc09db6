"""call.ended and call.missed, from the call log's rows: the same rules and the same row id a
client reads back from the Call Log API, and a call that ended while callbridge was down (read
back from Master.csv) still gets them, once, because they are stored in the transaction that
stores the row (callbridge.calllog.service.RowListener).

call.missed: an INCOMING row not ANSWERED (nobody took the call: no answer, busy, or no device
reachable). Rows of calls older than the journal's retention (a first start importing a long
Master.csv history) are not journaled: nobody can still be waiting for them live.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone

from callbridge.db import Tx
from callbridge.events.hub import StoredEvent
from callbridge.events.journal import EventJournal, draft
from callbridge.events.models import CallEnded
from callbridge.timeutil import TS


def _epoch(ts: str | None) -> float:
    try:
        return datetime.strptime(ts or "", TS).replace(tzinfo=timezone.utc).timestamp()
    except ValueError:
        return 0.0


class CallEndings:
    def __init__(self, journal: EventJournal):
        self.journal = journal

    async def in_transaction(self, tx: Tx, rows: list[dict]) -> list[StoredEvent]:
        oldest = time.time() - self.journal.retention_seconds
        drafts = []
        for row in rows:
            if row["account_id"] is None or _epoch(row["end_timestamp"] or
                                                   row["call_timestamp"]) < oldest:
                continue
            data = CallEnded(call_id=row["linkedid"], node=row.get("node", "default"),
                             extension=row["extension"],
                             direction=row["direction"], disposition=row["disposition"],
                             duration=row["duration"] or 0, billsec=row["billsec"] or 0,
                             number=row["cidnumber_outside"], name=row["cidname_outside"],
                             contact_uuid=row["contact_uuid"], rid=row["rid"],
                             call_timestamp=row["call_timestamp"])
            drafts.append(draft(row["account_id"], "call.ended", data, extension=row["extension"]))
            if row["direction"] == "INCOMING" and row["disposition"] != "ANSWERED":
                drafts.append(draft(row["account_id"], "call.missed", data,
                                    extension=row["extension"]))
        return await self.journal.append_in(tx, drafts)

    def committed(self, stored: list[StoredEvent]) -> None:
        self.journal.published(stored)
