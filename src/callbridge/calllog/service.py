"""The call log: AMI Cdr events (and Master.csv) in, one row per call and inside party out.

Flow: Cdr events are queued in memory and written as raw CDRs in one transaction every
`flush_interval` (a burst is one INSERT batch, not a transaction per event), together with the
rows of the calls that are over. A call's rows are derived once the call is over: none of its channels is alive (Newchannel/Hangup, seeded from
CoreShowChannels at each connect) and no CDR arrived for `grace` seconds, since a Cdr can trail
the Hangup. Raw CDRs are unique on (uniqueid, sequence, start), so a replayed event or a line
read again from Master.csv changes nothing; rows are unique on (linkedid, extension).

What a crash can lose is in docs/call-log.md: at most the events of the last flush interval,
which Master.csv still has and the next start reads back.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from pathlib import Path

from callbridge.accounts.extensions import ExtensionService
from callbridge.accounts.models import Account
from callbridge.aio import cancel_and_wait
from callbridge.ami.link import AmiError, AmiLink
from callbridge.calllog import cdr as cdrs
from callbridge.calllog.builder import TS, RowDraft, build_rows
from callbridge.calllog.format import display_number, inside_number
from callbridge.calllog.store import CallLogStore
from callbridge.contacts.phone import normalize_phone
from callbridge.contacts.service import ContactService
from callbridge.db import Database
from callbridge.logs import event
from callbridge.timeutil import utc_now

log = logging.getLogger("callbridge.calllog")
_MAX_CSV_READ = 16 * 1024 * 1024  # per backfill pass; the rest follows on the next pass
STALE_SECONDS = 4 * 3600
MAX_RECENT_DIALS = 10_000


class CallLogService:
    def __init__(self, db: Database, contacts: ContactService, extensions: ExtensionService, *,
                 ring_context: str, csv_path: Path | None, region: str = "US",
                 flush_interval: float = 0.1, grace: float = 0.5, store: CallLogStore | None = None):
        self.db = db
        self.store = store or CallLogStore(db)
        self.contacts = contacts
        self.extensions = extensions
        self.ring_context = ring_context
        self.csv_path = csv_path
        self.region = region
        self.flush_interval = flush_interval
        self.grace = grace
        self._queue: list[dict] = []
        self._pending: dict[str, float] = {}          # linkedid -> last activity (monotonic)
        self._live: dict[str, set[str]] = {}          # linkedid -> uniqueids of live channels
        self._far_uid: dict[str, str] = {}            # linkedid -> far end channel of a click-to-dial
        self._far_times: dict[str, list] = {}         # linkedid -> [answered_at, ended_at] to save
        self._dialed: dict[str, None] = {}            # recent click-to-dial call ids, oldest first
        self._hung_up: set[str] = set()               # uniqueids hung up since the last catch-up
        # Two clocks decide when a call is over. Stream time (the events' Timestamp header): under a
        # backlog, wall time runs ahead of what has been read, and a call's last Cdr may still sit
        # unread in the socket. Wall time since the last event: when the PBX is quiet, stream time
        # stands still.
        self._stream_now = 0.0
        self._last_arrival = time.monotonic()
        self._task: asyncio.Task | None = None
        self._flush_lock = asyncio.Lock()
        self.rows_written = 0

    # ---- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        for lid in await self.store.unbuilt_linkedids():  # raw CDRs a crash left unbuilt
            self._pending.setdefault(lid, 0.0)
        await self.backfill()
        self._task = asyncio.get_running_loop().create_task(self._run(), name="calllog-writer")

    async def close(self) -> None:
        task, self._task = self._task, None
        await cancel_and_wait(task)
        await self.flush(final=True)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.flush_interval)
            try:
                await self.flush()
            except Exception:  # keep the writer alive; the events stay queued for the next pass
                log.exception("calllog.flush_failed")

    # ---- AMI events (registered on the link by the app factory) --------------------------

    def on_cdr(self, ev: dict) -> None:
        record = cdrs.from_ami(ev)
        if record is None:
            event(log, "calllog.cdr_unusable", logging.WARNING, uniqueid=ev.get("UniqueID"))
            return
        self._queue.append(record)
        self._pending[record["linkedid"]] = self._stamp(ev)

    def _stamp(self, ev: dict) -> float:
        """The event's stream time; also advances the stream clock and the arrival time."""
        self._last_arrival = time.monotonic()
        try:
            stamp = float(ev["Timestamp"])  # timestampevents = yes (asterisk-conf/manager.conf)
        except (KeyError, ValueError):
            stamp = self._last_arrival
        if stamp > self._stream_now:
            self._stream_now = stamp
        return stamp

    def on_channel(self, ev: dict) -> None:
        lid = ev.get("Linkedid")
        if not lid:
            return
        stamp = self._stamp(ev)
        name, uid = ev.get("Event"), ev.get("Uniqueid", "")
        if name == "Newchannel":
            self._live.setdefault(lid, set()).add(uid)
        elif name == "Hangup":
            self._hung_up.add(uid)
            live = self._live.get(lid)
            if live is not None:
                live.discard(uid)
                if not live:
                    del self._live[lid]
            if self._far_uid.get(lid) == uid:
                self._far_times.setdefault(lid, [None, None])[1] = cdrs.epoch_ts(ev.get("Timestamp"))
            if lid in self._pending:
                self._pending[lid] = stamp
        elif name == "DialEnd" and lid in self._dialed and uid == lid:
            # the ;1 leg of a click-to-dial dialled the number: this is the far end answering
            if ev.get("DialStatus") == "ANSWER":
                self._far_uid[lid] = ev.get("DestUniqueid", "")
                self._far_times.setdefault(lid, [None, None])[0] = cdrs.epoch_ts(ev.get("Timestamp"))

    async def catch_up(self, link: AmiLink) -> None:
        """After every (re)connect: what is alive now, then the CDRs written while we were away.

        The live-channel snapshot replaces what we believed (events were missed while the link
        was down), minus what hung up while the snapshot was being taken.
        """
        self._hung_up.clear()
        try:
            reply = await link.action({"Action": "CoreShowChannels"}, timeout=10)
        except AmiError as exc:
            event(log, "calllog.snapshot_failed", logging.WARNING, error=str(exc))
        else:
            live: dict[str, set[str]] = {}
            for ch in reply if isinstance(reply, list) else []:
                uid = ch.get("Uniqueid", "")
                if ch.get("Event") == "CoreShowChannel" and ch.get("Linkedid") and uid not in self._hung_up:
                    live.setdefault(ch["Linkedid"], set()).add(uid)
            self._live = live
        await self.backfill()

    async def record_dial(self, call_id: str, account: Account, extension: str, number: str) -> None:
        """Called by the dialer for every click-to-dial it started."""
        if len(self._dialed) >= MAX_RECENT_DIALS:  # the oldest go one by one, not all at once
            del self._dialed[next(iter(self._dialed))]
        self._dialed[call_id] = None
        await self.store.record_dial(call_id, account.id, extension, number,
                                     utc_now().strftime(TS))

    # ---- Master.csv ------------------------------------------------------------------------

    async def backfill(self) -> int:
        """Reads what is new in Master.csv (from the saved offset) and queues it; returns lines."""
        if self.csv_path is None:
            return 0
        path = str(self.csv_path)
        saved = await self.store.csv_offset(path)
        try:
            records, inode, offset = await asyncio.to_thread(self._read_csv, path, saved)
        except FileNotFoundError:
            return 0
        except OSError as exc:
            event(log, "calllog.backfill_failed", logging.WARNING, path=path, error=str(exc))
            return 0
        for record in records:
            self._queue.append(record)
            self._pending.setdefault(record["linkedid"], 0.0)
        await self.flush(csv_state=(path, inode, offset))
        if records:
            event(log, "calllog.backfilled", path=path, cdrs=len(records))
        return len(records)

    @staticmethod
    def _read_csv(path: str, saved: tuple[int, int] | None) -> tuple[list[dict], int, int]:
        st = os.stat(path)
        start = 0
        if saved is not None and saved[0] == st.st_ino and saved[1] <= st.st_size:
            start = saved[1]  # same file, grown: only the new part. Rotated or truncated: all.
        with open(path, "rb") as f:
            f.seek(start)
            data = f.read(_MAX_CSV_READ)
        complete = data.rfind(b"\n") + 1  # a line still being written is read next time
        text = data[:complete].decode("utf-8", "replace")
        return cdrs.from_csv_text(text), st.st_ino, start + complete

    # ---- writing -----------------------------------------------------------------------------

    async def flush(self, final: bool = False, csv_state: tuple[str, int, int] | None = None) -> None:
        async with self._flush_lock:
            batch, self._queue = self._queue, []
            far, self._far_times = self._far_times, {}
            # A call is built once over: no live channel, and `grace` passed on the stream clock
            # since its last event (or nothing arrived at all for `grace`). As a safety net against
            # a Hangup that was missed, also once nothing happened on it for STALE_SECONDS.
            quiet = final or time.monotonic() - self._last_arrival >= self.grace
            now = self._stream_now
            ready = {lid: last for lid, last in self._pending.items()
                     if (lid not in self._live and (quiet or now - last >= self.grace))
                     or (last and now - last >= STALE_SECONDS)}
            if not (batch or far or ready or csv_state):
                return
            linkedids = list(ready)
            store = self.store

            def write(conn) -> int:
                """One transaction (one fsync): what arrived, then the rows of the calls that are
                over. Naming and ownership are index point lookups on other connections."""
                if batch:
                    store.insert_cdrs(conn, batch)
                for lid, (answered, ended) in far.items():
                    store.save_far_end(conn, lid, answered, ended)
                if csv_state:
                    store.save_csv_offset(conn, *csv_state)
                if not linkedids:
                    return 0
                raw, dialed, far_end = store.inputs_of(conn, linkedids)
                rows = [self._row(lid, draft, dialed.get(lid))
                        for lid in linkedids
                        for draft in build_rows(raw.get(lid, []), ring_context=self.ring_context,
                                                dialed=dialed.get(lid), far_end=far_end.get(lid))]
                written = store.upsert_rows(conn, rows) if rows else 0
                store.mark_built(conn, linkedids)
                return written

            try:
                self.rows_written += await self.db.batch(write)
            except BaseException:
                self._queue[:0] = batch  # nothing was written: try again next pass
                for lid, times in far.items():
                    self._far_times.setdefault(lid, times)
                raise
            for lid, last in ready.items():  # unless something new for it came meanwhile
                if self._pending.get(lid) == last:
                    del self._pending[lid]

    def _row(self, linkedid: str, d: RowDraft, dialed: dict | None) -> dict:
        owner = self.extensions.owner(d.extension)
        account_id = owner.account_id if owner else (dialed or {}).get("account_id")
        try:
            digits = normalize_phone(d.number_outside or "") or None
        except ValueError:
            digits = None
        name, contact_uuid = d.name_outside, None
        if account_id is not None and digits:
            found = self.contacts.name_for(account_id, digits)
            if found:
                name, contact_uuid = found
        return {"account_id": account_id, "linkedid": linkedid, "extension": d.extension,
                "call_timestamp": d.call_timestamp, "answer_timestamp": d.answer_timestamp,
                "end_timestamp": d.end_timestamp, "duration": d.duration, "billsec": d.billsec,
                "direction": d.direction, "disposition": d.disposition, "cidname_outside": name,
                "cidnumber_outside": display_number(d.number_outside, self.region),
                "number_outside": digits, "cidext_inside": d.extension,
                "cidnumber_inside": inside_number(d.extension, owner.did if owner else None, self.region),
                "contact_uuid": contact_uuid, "uniqueid": d.uniqueid, "call_id": d.call_id}

    # ---- reading ------------------------------------------------------------------------------

    async def records(self, account: Account, after_timestamp: str, after_rid: int, limit: int,
                      direction: str | None, extension: str | None,
                      number_digits: str | None) -> list[dict]:
        """number_digits: already normalized (the query model's Phone type does it)."""
        return await self.store.rows(account.id, after_timestamp, after_rid, limit, direction,
                                     extension, number_digits)

