"""The call log: AMI Cdr events (and Master.csv) in, one row per call and inside party out.

Flow: Cdr events are queued in memory and written as raw CDRs in one transaction every
`flush_interval` (a burst is one INSERT batch, not a transaction per event), together with the
rows of the calls that are over. A call's rows are derived once the call is over: the node's
call model (callbridge.ami.calls: Newchannel/Hangup, seeded from CoreShowChannels at each
connect) has no channel of it alive, and no CDR arrived for `grace` seconds, since a Cdr can
trail the Hangup. Raw CDRs are unique on (uniqueid,
sequence, start), so a replayed event or a line read again from Master.csv changes nothing; rows
are unique on (linkedid, extension).

What a crash can lose is in docs/call-log.md: at most the events of the last flush interval,
which Master.csv still has and the next start reads back.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from callbridge.accounts.extensions import ExtensionService
from callbridge.accounts.models import Account
from callbridge.aio import cancel_and_wait
from callbridge.ami.calls import CallListener, CallModel, Dial, Hold, Left, LiveCall, stamp_of
from callbridge.bounded import put_bounded
from callbridge.calllog import cdr as cdrs
from callbridge.calllog.backfill import MasterCsv
from callbridge.calllog.builder import RowDraft, build_rows
from callbridge.calllog.far_end import FarEnds
from callbridge.calllog.format import display_number, inside_number
from callbridge.calllog.live import LeavingParties
from callbridge.calllog.store import CallLogStore
from callbridge.calllog.story import hangup_of, holds_of, legs_of
from callbridge.contacts.lookup import ContactLookup
from callbridge.db import Db, Tx
from callbridge.errors import NotFound
from callbridge.logs import background_failure, event
from callbridge.phone import phone_key
from callbridge.timeutil import TS, utc_now

log = logging.getLogger("callbridge.calllog")
CSV_POLL_SECONDS = 5.0    # Master.csv is followed this often while the AMI link is down
ADOPT_EVERY_SECONDS = 60.0  # ownerless rows are checked for a new owner this often
MAX_BUILD = 100           # calls built into rows per flush (~10 ms): a 50k-call catch-up is 500 flushes
# PostgreSQL: a flush costs some fifteen round trips whatever its size, and awaits them without
# holding the loop, so it builds more calls at a time.
MAX_BUILD_PG = 500
# Between the flushes of a catch-up the loop gets this long to itself: a request needs several loop
# turns (accept, read, answer), and without a pause each turn would wait for a whole flush.
BACKLOG_PAUSE = 0.004
STALE_SECONDS = 4 * 3600
MAX_RECENT_LIVE_ROWS = 10_000  # (linkedid, extension) of rows drafted while their call was up
# What a call's CDRs must agree on for a row drafted when its party left (calllog.live) to stand:
# who and what, not a second here or there between channel events and CDR times.
_PARTY_FIELDS = ("account_id", "extension", "direction", "disposition", "number_outside",
                 "cidnumber_outside", "cidnumber_inside", "call_id")


class RowListener(Protocol):
    async def in_transaction(self, tx: Tx, rows: list[dict]) -> Any:
        """Rows just written (with their rid), inside the transaction writing them."""

    def committed(self, token: Any) -> None:
        """After that transaction committed, with what in_transaction returned."""


def _event_text(stamp: float | None) -> str:
    """An event's time as the call log stores times (its own, or now when it carried none)."""
    return cdrs.epoch_ts(stamp) or utc_now().strftime(TS)


# How long a call with no live channel waits for Cdr events still to come, on the stream clock
# (and, when nothing arrives at all, on the wall clock). A Cdr and the last Hangup come from two
# Asterisk subscriptions in no fixed order; bench/cdr_trail.py measured the last Cdr at most
# 2.2 ms after the last Hangup (4 ms at the socket) at 120 calls/s on a saturated two-core box,
# and the call-shape bench (queues, transfers, pickup, parking) built no call twice with no wait
# at all. 0.1 s is ~25x the worst seen; a Cdr later still re-issues the call's rows (a new rid),
# it is not lost. It was 0.5 s: a fifth of the ingest bench's run was this wait.
CDR_GRACE_SECONDS = 0.1


class CallLogService(CallListener):
    def __init__(self, db: Db, contacts: ContactLookup, extensions: ExtensionService, *,
                 calls: CallModel, csv_path: Path | None, region: str = "US",
                 csv_history: str = "import", ami_online: Callable[[], bool] = lambda: False,
                 flush_interval: float = 0.1, grace: float = CDR_GRACE_SECONDS,
                 store: CallLogStore | None = None, node: str = "default", adopts: bool = True):
        self.db = db
        self.node = node  # the Asterisk node whose calls this service reads (CALLBRIDGE_AMI)
        self.max_build = MAX_BUILD_PG if db.engine == "postgresql" else MAX_BUILD
        self.adopts = adopts  # one node's service adopts ownerless rows (of every node)
        self.store = store or CallLogStore(db)
        self.contacts = contacts
        self.extensions = extensions
        self.calls = calls  # the node's call model: which calls are still up
        self.ring_context = calls.ring_context
        self.csv = (MasterCsv(db, self.store, node, csv_path, csv_history)
                    if csv_path is not None else None)
        self.ami_online = ami_online      # while False, Master.csv is followed (CSV_POLL_SECONDS)
        self.region = region
        self.flush_interval = flush_interval
        self.grace = grace
        self._queue: list[dict] = []
        self._pending: dict[str, float] = {}          # linkedid -> last activity (monotonic)
        self._holds: list[tuple[str, str, str, bool, str]] = []  # hold marks to save (save_holds)
        self._on_hold: dict[str, tuple[str, str]] = {}  # uniqueid on hold -> (linkedid, channel)
        # The channels of each call up that answered a dial or dialled one that answered: the
        # first of them whose side hangs up while another is still up hung up (save_hangups).
        # Only those: a device of a ring group or queue that only rang can decline it.
        self._talking: dict[str, set[str]] = {}
        self._hanging_up: dict[str, tuple[str, str, str, str | None]] = {}  # uniqueid -> …
        self._hangups: list[tuple[str, str, str, str, str | None]] = []  # to save
        # Two clocks decide when a call is over. Stream time (the events' Timestamp header): under a
        # backlog, wall time runs ahead of what has been read, and a call's last Cdr may still sit
        # unread in the socket. Wall time since the last event: when the PBX is quiet, stream time
        # stands still.
        self._stream_now = 0.0
        self._last_arrival = time.monotonic()
        self._task: asyncio.Task | None = None
        self._backfill_task: asyncio.Task | None = None
        self._flush_lock = asyncio.Lock()
        self.rows_written = 0
        # Told of every row written, inside its transaction and after the commit (the call.ended
        # events of callbridge.events.endings are stored with their rows).
        self.row_listener: RowListener | None = None
        # Whether this instance reads the node's calls (callbridge.ami.lease): Master.csv is
        # read, and ownerless rows adopted, only then (the lease holder's catch-up reads it).
        self.leading: Callable[[], bool] = lambda: True
        # Parties that leave a call that goes on (a transfer): their rows within a second, not
        # at the call's end. Subscribed to the call model by the node's wiring, on every
        # instance, so a new lease holder knows who answered the calls already up.
        self.leaving = LeavingParties(calls)
        # When click-to-dial far ends answered and left (their rows' talk time): subscribed on
        # every instance too, so a new lease holder knows it for the calls already up.
        self.far_ends = FarEnds()
        self._drafted_live: dict[tuple[str, str], None] = {}  # (linkedid, extension), oldest first

    # ---- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        """Starts the writer, and the Master.csv catch-up in the background: a large file is read
        while the service already answers (it never holds up start-up)."""
        for lid in await self.store.unbuilt_linkedids(self.node):  # raw CDRs a crash left unbuilt
            self._pending.setdefault(lid, 0.0)
        self._task = asyncio.get_running_loop().create_task(self._run(), name="calllog-writer")
        self.start_backfill()

    async def close(self) -> None:
        tasks = (self._backfill_task, self._task)
        self._backfill_task = self._task = None
        for task in tasks:
            await cancel_and_wait(task)
        await self.flush(final=True)

    def start_backfill(self) -> None:
        """A backfill in the background, unless one is running (it reads to the end anyway)
        or another instance reads the node's calls."""
        if not self.leading():
            return
        if self._backfill_task is None or self._backfill_task.done():
            self._backfill_task = asyncio.get_running_loop().create_task(
                self._backfill_logged(), name="calllog-backfill")

    async def _backfill_logged(self) -> None:
        try:
            await self.backfill()
        except Exception as exc:
            background_failure(log, "calllog.backfill_failed", exc, node=self.node)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        next_poll = next_adopt = loop.time()
        backlog = False
        while True:
            # A catch-up (calls left over by the last flush's MAX_BUILD) goes on after a short
            # pause; otherwise events are gathered for a flush interval.
            await asyncio.sleep(BACKLOG_PAUSE if backlog else self.flush_interval)
            try:
                backlog = await self.flush()
            except Exception as exc:  # the writer lives on; the events stay queued for the next pass
                backlog = False
                background_failure(log, "calllog.flush_failed", exc, node=self.node)
            now = loop.time()
            if now >= next_poll:
                next_poll = now + CSV_POLL_SECONDS
                if not self.ami_online():  # no live events: Master.csv is the source meanwhile
                    self.start_backfill()
            if now >= next_adopt and self.adopts and self.leading():
                next_adopt = now + ADOPT_EVERY_SECONDS
                try:
                    await self.adopt_rows()
                except Exception as exc:
                    background_failure(log, "calllog.adopt_failed", exc, node=self.node)

    # ---- AMI events (registered on the link by the app factory) --------------------------

    def on_cdr(self, ev: dict) -> None:
        record = cdrs.from_ami(ev)
        if record is None:
            event(log, "calllog.cdr_unusable", logging.WARNING, uniqueid=ev.get("UniqueID"))
            return
        self._queue.append(record)
        self._pending[record["linkedid"]] = self.event_seen(stamp_of(ev))

    # ---- the node's calls (callbridge.ami.calls), while this instance reads the node ----------

    def event_seen(self, stamp: float | None) -> float:
        """An event's stream time (its own, or now): advances the stream clock and the arrival
        time."""
        self._last_arrival = time.monotonic()
        if stamp is None:
            stamp = self._last_arrival
        if stamp > self._stream_now:
            self._stream_now = stamp
        return stamp

    def dial_ended(self, dial: Dial) -> None:
        lid = dial.call.linkedid
        if dial.status == "ANSWER":
            self._talking.setdefault(lid, set()).update((dial.source, dial.dest))

    def held(self, hold: Hold) -> None:
        at = _event_text(hold.stamp)
        if hold.on:
            self._on_hold[hold.uniqueid] = (hold.call.linkedid, hold.channel)
        elif self._on_hold.pop(hold.uniqueid, None) is None:
            return  # a hold begun before we looked: there is no period to close
        self._holds.append((hold.call.linkedid, hold.uniqueid, hold.channel, hold.on, at))

    def hangup_requested(self, left: Left) -> None:
        """A party's own side hung up. The first one that talked, while another is still on the
        call, is who hung up; the order of the Hangup events can't say it (the dialler's Dial()
        hangs up the dialled channel before its own channel leaves)."""
        lid = left.call.linkedid
        talking = self._talking.get(lid)
        if talking is not None and left.uniqueid in talking and len(left.call.channels) > 1:
            del self._talking[lid]  # the first one only
            # saved when its Hangup comes, which names the cause (a BYE's request has none)
            self._hanging_up[left.uniqueid] = (lid, left.channel, _event_text(left.stamp),
                                               left.cause)

    def channel_left(self, left: Left) -> None:
        lid = left.call.linkedid
        hung_up = self._hanging_up.pop(left.uniqueid, None)
        if hung_up is not None:
            hung_lid, channel, at, cause = hung_up
            self._hangups.append((hung_lid, left.uniqueid, channel, at, cause or left.cause))
        on_hold = self._on_hold.pop(left.uniqueid, None)
        if on_hold is not None:  # hung up while holding: the hold ends with it
            self._holds.append((on_hold[0], left.uniqueid, on_hold[1], False,
                                _event_text(left.stamp)))
        if lid in self._pending:
            self._pending[lid] = self._stream_now if left.stamp is None else left.stamp

    def call_over(self, call: LiveCall, stamp: float | None, seen: bool) -> None:
        self._talking.pop(call.linkedid, None)

    def reconciled(self, alive: set[str] | None) -> None:
        """After each (re)connect: the CDRs written while we were away."""
        self._forget_ended()
        self.start_backfill()

    async def lease_taken(self) -> None:
        """This instance reads the node from now on: what it missed meanwhile, from Master.csv
        (the call model followed the node's channels all along)."""
        self._forget_ended()
        self.start_backfill()

    def _forget_ended(self) -> None:
        """Calls that ended while this instance wasn't listening (another read the node, or the
        link was down): their call_over went unheard."""
        self._talking = {lid: u for lid, u in self._talking.items() if self.calls.is_live(lid)}
        self._hanging_up = {uid: h for uid, h in self._hanging_up.items()
                            if self.calls.is_live(h[0])}

    async def record_dial(self, call_id: str, account: Account, extension: str, number: str) -> None:
        """Called by the dialer for every click-to-dial it started."""
        self.far_ends.remember(call_id)
        await self.store.record_dial(call_id, account.id, extension, number,
                                     utc_now().strftime(TS))

    # ---- Master.csv ------------------------------------------------------------------------

    async def backfill(self) -> int:
        """Master.csv read from where the call log stands to its end (callbridge.calllog.backfill);
        the calls it brings are built by the next flushes. Returns the CDR lines read."""
        if self.csv is None:
            return 0
        return await self.csv.read_to_end(self._arrived, lambda: len(self._pending))

    def _arrived(self, records: list[dict]) -> None:
        for record in records:
            self._pending.setdefault(record["linkedid"], 0.0)

    # ---- writing -----------------------------------------------------------------------------

    async def flush(self, final: bool = False) -> bool:
        """Writes what arrived and builds the calls that are over (max_build at most, unless
        final); True when calls that are ready were left for the next flush."""
        async with self._flush_lock:
            batch, self._queue = self._queue, []
            far = self.far_ends.take()
            holds, self._holds = self._holds, []
            hangups, self._hangups = self._hangups, []
            # A call is built once over: no live channel, and `grace` passed on the stream clock
            # since its last event (or nothing arrived at all for `grace`). As a safety net against
            # a Hangup that was missed, also once nothing happened on it for STALE_SECONDS.
            quiet = final or time.monotonic() - self._last_arrival >= self.grace
            now = self._stream_now
            ready: dict[str, float] = {}
            backlog = False
            # Only the node's reader (its lease holder) builds rows. An instance that lost the
            # lease (frozen, then woken) still writes the CDRs it had queued (idempotent), but the
            # calls are the new holder's: building them here raced its rows (a unique violation
            # in the scale-out proof, once this instance's call model saw those calls end).
            building = self._pending.items() if self.leading() else ()
            for lid, last in building:
                if ((not self.calls.is_live(lid) and (quiet or now - last >= self.grace))
                        or (last and now - last >= STALE_SECONDS)):
                    if len(ready) >= self.max_build and not final:  # the rest: the next flushes
                        backlog = True
                        break
                    ready[lid] = last
            # rows of parties that left calls still up (only the node's reader writes them)
            live = self.leaving.due()
            if not self.leading():
                live = []
            if not (batch or far or holds or hangups or ready or live):
                return False
            linkedids = list(ready)
            store = self.store

            async def write(tx: Tx) -> int:
                """One transaction (one fsync): what arrived, then the rows of the calls that are
                over. Naming and ownership are index point lookups on other connections."""
                if batch:
                    await store.insert_cdrs(tx, self.node, batch)
                for lid, (answered, ended) in far.items():
                    await store.save_far_end(tx, self.node, lid, answered, ended)
                if holds:
                    await store.save_holds(tx, self.node, holds)
                if hangups:
                    await store.save_hangups(tx, self.node, hangups)
                rows = [await self._row(lid, draft, None) for lid, draft in live]
                # Only calls with CDRs not yet built: a call already stored (over AMI or by an
                # earlier backfill) is never built, nor published, again.
                fresh = await store.with_unbuilt(tx, self.node, linkedids) if linkedids else []
                if fresh:
                    raw, dialed, far_end = await store.inputs_of(tx, self.node, fresh)
                    rows += [await self._row(lid, draft, dialed.get(lid))
                             for lid in fresh
                             for draft in build_rows(raw.get(lid, []),
                                                     ring_context=self.ring_context,
                                                     dialed=dialed.get(lid),
                                                     far_end=far_end.get(lid))]
                if not rows:
                    return 0
                await self._name_all(rows)
                written = await store.upsert_rows(tx, self.node, rows, stands=self._confirmed)
                if fresh:
                    await store.mark_built(tx, self.node, fresh)
                if written and self.row_listener is not None:
                    published.append(await self.row_listener.in_transaction(tx, written))
                return len(written)

            published: list = []
            try:
                async with self.db.loop_transaction() as tx:
                    count = await write(tx)
                self.rows_written += count
            except BaseException:
                self._queue[:0] = batch  # nothing was written: try again next pass
                self._holds[:0] = holds
                self._hangups[:0] = hangups
                self.far_ends.put_back(far)
                raise
            for token in published:
                assert self.row_listener is not None  # what published them
                self.row_listener.committed(token)
            for lid, last in ready.items():  # unless something new for it came meanwhile
                if self._pending.get(lid) == last:
                    del self._pending[lid]
            for lid, draft in live:
                put_bounded(self._drafted_live, (lid, draft.extension), None,
                            MAX_RECENT_LIVE_ROWS)
            return backlog

    def _confirmed(self, stored: dict, built: dict) -> bool:
        """Whether a stored row stands against the one built now: a row drafted when its party
        left (calllog.live) stands when the call's CDRs agree on who and what; its times are the
        channel events', which the CDRs repeat within a second. (Any other row is re-issued
        when it differs at all: docs/call-log.md.)"""
        party = (stored["linkedid"], stored["extension"])
        if party not in self._drafted_live:
            return False
        del self._drafted_live[party]  # confirmed or not, the CDRs have spoken
        return all(stored[f] == built[f] for f in _PARTY_FIELDS)

    async def _row(self, linkedid: str, d: RowDraft, dialed: dict | None) -> dict:
        owner = self.extensions.owner(d.extension)
        account_id = owner.account_id if owner else (dialed or {}).get("account_id")
        region = (owner.region if owner else await self.extensions.accounts.region_of(account_id)
                  if account_id is not None else self.region)
        try:  # the matching key, for the `number` filter and naming (the account's region)
            key = phone_key(d.number_outside or "", region) or None
        except ValueError:
            key = None
        row = {"account_id": account_id, "node": self.node, "linkedid": linkedid,
               "extension": d.extension,
               "call_timestamp": d.call_timestamp, "answer_timestamp": d.answer_timestamp,
               "end_timestamp": d.end_timestamp, "duration": d.duration, "billsec": d.billsec,
               "direction": d.direction, "disposition": d.disposition,
               "cidname_outside": d.name_outside,
               "cidnumber_outside": display_number(d.number_outside, self.region),
               "number_outside": key, "cidext_inside": d.extension,
               "cidnumber_inside": inside_number(d.extension, owner.did if owner else None,
                                                 self.region),
               "contact_uuid": None, "uniqueid": d.uniqueid, "call_id": d.call_id}
        return row

    async def _name_all(self, rows: list[dict]) -> None:
        """The outside party's name on each row from its account's contacts: one lookup per
        account for the whole batch (a round trip per row would be most of a flush's time on
        PostgreSQL)."""
        by_account: dict[int, list[dict]] = {}
        for row in rows:
            if row["account_id"] is not None and row["number_outside"]:
                by_account.setdefault(row["account_id"], []).append(row)
        for account_id, named in by_account.items():
            # number_outside is already the matching key, in the account's region
            found = await self.contacts.names_for(account_id, [r["number_outside"] for r in named])
            for row in named:
                hit = found.get(row["number_outside"])
                if hit:
                    row["cidname_outside"], row["contact_uuid"] = hit

    async def _name(self, row: dict, region: str) -> None:
        """The outside party's name from the row's account's contacts, when one holds the number."""
        if row["account_id"] is not None and row["number_outside"]:
            found = await self.contacts.name_for(row["account_id"], region, row["number_outside"])
            if found:
                row["cidname_outside"], row["contact_uuid"] = found

    async def adopt_rows(self) -> int:
        """Rows of calls whose extension no account owned when they ended, re-issued (new rids,
        so cursor followers see them) to the account the extension belongs to now, named from
        its contacts. Run every ADOPT_EVERY_SECONDS, so `extensions add` from the CLI (another
        process) is noticed too. Returns the rows adopted."""
        adopted = 0
        for extension in await self.store.ownerless_extensions():
            owner = self.extensions.owner(extension)
            if owner is None:
                continue
            store = self.store

            async def adopt(tx: Tx, extension=extension, owner=owner, store=store) -> int:
                rows = await store.ownerless_rows(tx, extension, MAX_BUILD)
                for row in rows:
                    row["account_id"] = owner.account_id
                    row["cidnumber_inside"] = inside_number(extension, owner.did, self.region)
                    if row["number_outside"]:  # keyed for no region yet: key it for the owner's
                        row["number_outside"] = phone_key(row["number_outside"], owner.region)
                    await self._name(row, owner.region)
                await store.reissue(tx, [r.pop("rid") for r in rows], rows)
                return len(rows)

            while True:  # bounded transactions: a big history is adopted a batch at a time
                async with self.db.loop_transaction() as tx:
                    count = await adopt(tx)
                adopted += count
                if count < MAX_BUILD:
                    break
            event(log, "calllog.rows_adopted", extension=extension, account=owner.account)
        return adopted

    # ---- reading ------------------------------------------------------------------------------

    async def records(self, account: Account, after_timestamp: str, after_rid: int, limit: int,
                      direction: str | None, extension: str | None,
                      number: str | None) -> list[dict]:
        """number: as written, cleaned by the query model; matched by its key for the account."""
        key = phone_key(number, account.region) if number else None
        return await self.store.rows(account.id, after_timestamp, after_rid, limit, direction,
                                     extension, key)

    async def story(self, account: Account, linkedid: str, node: str | None) -> dict:
        """GET /calls/{linked_id}: the call's legs and the account's rows of it. A call the
        account has no row of is not found: its legs belong to other accounts, or to none."""
        node = node or self.node
        rows = await self.store.rows_of_call(account.id, node, linkedid)
        if not rows:
            raise NotFound(f"no call {linkedid!r} on node {node!r} in this account's call log",
                           error="Call not found")
        legs = legs_of(await self.store.cdrs_of_call(node, linkedid))
        holds = holds_of(await self.store.holds_of_call(node, linkedid), legs)
        hangup = hangup_of(await self.store.hangup_of_call(node, linkedid), legs)
        return {"call_id": linkedid, "node": node, "legs": legs, "holds": holds,
                "hung_up_first": hangup, "rows": rows}
