"""What differs between one process on SQLite and several instances sharing one PostgreSQL
database, chosen once, from the database, in this one place.

One process keeps its coordination in memory: it always reads every node (SoleLease), counts
requests alone (FixedWindowLimiter), redeems only the stream tickets it issued (TicketBook),
hands the events it stores straight to its own clients, and needs no cache in front of lookups
that take ~15 µs on the loop. Several instances share the same things through PostgreSQL: a
lease per node (NodeLease), shared rate windows, shared tickets, the events every instance
stores (SharedFanIn, over LISTEN/NOTIFY), and a lookup cache that hears of every instance's
contact changes. The rooms are handed what this object built and never ask which engine runs.
"""

from __future__ import annotations

from callbridge.ami.lease import NodeLease, SoleLease, Spread
from callbridge.contacts.cache import LookupCache
from callbridge.db import Db, PgDatabase
from callbridge.db.coordination import LeaseRows, RateWindowRows, TicketRows
from callbridge.db.listener import PgListener
from callbridge.events.fanin import SharedFanIn
from callbridge.events.hub import EventHub
from callbridge.events.store import EventStore
from callbridge.events.tickets import SharedTicketBook, TicketBook
from callbridge.web.ratelimit import FixedWindowLimiter, SharedWindowLimiter


class EngineVariants:
    def __init__(self, db: Db, prefer_nodes: frozenset[str] = frozenset()):
        # PostgreSQL is the engine several instances share; SQLite is one process's
        self._shared: PgDatabase | None = db if isinstance(db, PgDatabase) else None
        self._spread: Spread | None = None
        self._prefer = prefer_nodes  # the nodes this instance reads whenever it runs

    @property
    def shared(self) -> bool:
        """Whether other instances may use the same database."""
        return self._shared is not None

    @property
    def listener(self) -> PgListener | None:
        """The instance's LISTEN connection, to hear of the other instances' changes."""
        return self._shared.listener if self._shared is not None else None

    def lease(self, node: str) -> NodeLease | SoleLease:
        """Which instance reads the node's calls (callbridge.ami.lease)."""
        if self._shared is None:
            return SoleLease(node)
        if self._spread is None:  # one per instance: its leases share its id and its share
            self._spread = Spread(LeaseRows(self._shared), prefer=self._prefer)
        return NodeLease(self._spread.rows, node=node, spread=self._spread)

    def limiter(self, limit: int, window_seconds: int
                ) -> FixedWindowLimiter | SharedWindowLimiter:
        """The request counter (callbridge.web.ratelimit): one window per client, shared by
        every instance."""
        if self._shared is None:
            return FixedWindowLimiter(limit, window_seconds)
        return SharedWindowLimiter(RateWindowRows(self._shared), limit, window_seconds)

    def tickets(self) -> TicketBook | SharedTicketBook:
        """The stream tickets (callbridge.events.tickets): one issued at any instance opens a
        stream at any."""
        return TicketBook() if self._shared is None else SharedTicketBook(TicketRows(self._shared))

    def fanin(self, store: EventStore, hub: EventHub) -> SharedFanIn | None:
        """What brings the events other instances store to this one's clients (None: there
        are no other instances)."""
        return None if self._shared is None else SharedFanIn(self._shared.listener, store, hub)

    def lookup_cache(self) -> LookupCache | None:
        """The contact lookup cache (callbridge.contacts.cache); None where a lookup is cheaper
        than its bookkeeping."""
        return None if self._shared is None else LookupCache(self._shared.listener)
