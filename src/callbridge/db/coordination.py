"""The tables through which several instances on one PostgreSQL database coordinate: who reads
a node (ami_leases) and who is alive to read one (ami_instances), how many requests a client
made in a window (rate_windows), and the one-time tickets of browser streams (event_tickets).
Their SQL lives here, as every other table's lives in its store; the objects that use them
(callbridge.ami.lease.NodeLease and Spread, callbridge.web.ratelimit.SharedWindowLimiter,
callbridge.events.tickets.SharedTicketBook) hold the rules. One process on SQLite needs none of
these tables: its variants keep the same state in memory (callbridge.variants chooses)."""

from __future__ import annotations

from typing import Any

from callbridge.db.postgres import PgDatabase


class LeaseRows:
    """ami_leases: one row per node, the holder's instance id and when its lease runs out, by
    the database's clock (the instances' clocks needn't agree)."""

    def __init__(self, db: PgDatabase):
        self.db = db

    async def take_or_renew(self, node: str, instance: str, ttl: float) -> bool:
        """Takes the node's lease if it is free or has run out, or renews it if `instance`
        holds it; whether `instance` holds it now."""
        async with self.db.connection() as conn:
            row = await conn.fetchrow(
                "WITH now AS (SELECT extract(epoch FROM clock_timestamp()) AS t)"
                " INSERT INTO ami_leases(node, holder, expires_at, taken_at)"
                " SELECT $1, $2, now.t + $3, now.t FROM now"
                " ON CONFLICT (node) DO UPDATE SET holder = excluded.holder,"
                " expires_at = excluded.expires_at,"
                " taken_at = CASE WHEN ami_leases.holder = excluded.holder"
                "            THEN ami_leases.taken_at ELSE excluded.taken_at END"
                " WHERE ami_leases.holder = excluded.holder"
                " OR ami_leases.expires_at < (SELECT t FROM now)"
                " RETURNING holder", node, instance, ttl)
        return row is not None

    async def holder(self, node: str) -> str | None:
        async with self.db.connection() as conn:
            return await conn.fetchval("SELECT holder FROM ami_leases WHERE node = $1", node)

    async def give_up(self, node: str, instance: str) -> None:
        async with self.db.connection() as conn:
            await conn.execute("DELETE FROM ami_leases WHERE node = $1 AND holder = $2",
                               node, instance)

    async def beat(self, instance: str, ttl: float, prefers: str = "") -> tuple[int, set[str]]:
        """Says `instance` is alive for ttl more seconds (and which nodes it prefers): how many
        instances are alive now (itself included), and the nodes the other live ones prefer.
        Rows of instances gone for a minute are dropped."""
        async with self.db.connection() as conn:
            rows = await conn.fetch(
                "WITH now AS (SELECT extract(epoch FROM clock_timestamp()) AS t),"
                " gone AS (DELETE FROM ami_instances WHERE seen_until < (SELECT t FROM now) - 60),"
                " me AS (INSERT INTO ami_instances(instance, seen_until, prefers)"
                "        SELECT $1, t + $2, $3 FROM now ON CONFLICT (instance)"
                "        DO UPDATE SET seen_until = excluded.seen_until, prefers = excluded.prefers"
                "        RETURNING instance)"
                " SELECT prefers FROM ami_instances, now"
                " WHERE seen_until >= now.t AND instance <> $1", instance, ttl, prefers)
        return 1 + len(rows), {n for r in rows for n in r[0].split(",") if n}

    async def leave(self, instance: str) -> None:
        """A clean stop: the others' share grows at once."""
        async with self.db.connection() as conn:
            await conn.execute("DELETE FROM ami_instances WHERE instance = $1", instance)


class RateWindowRows:
    """rate_windows: the requests counted per client and fixed window, by every instance."""

    def __init__(self, db: PgDatabase):
        self.db = db

    async def add(self, hits: dict[tuple[str, int], int]) -> dict[tuple[str, int], int]:
        """Adds hits ((client, window index) -> count) in one statement: the windows' counts
        after it, which include what the other instances added."""
        keys = list(hits)
        async with self.db.connection() as conn:
            rows = await conn.fetch(
                "INSERT INTO rate_windows(client, window_index, hits)"
                " SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[])"
                " ON CONFLICT (client, window_index) DO UPDATE"
                " SET hits = rate_windows.hits + excluded.hits RETURNING client, window_index, hits",
                [c for c, _ in keys], [i for _, i in keys], [hits[k] for k in keys])
        return {(r[0], r[1]): r[2] for r in rows}

    async def prune(self, before_index: int) -> None:
        """Forgets the windows that ended."""
        async with self.db.connection() as conn:
            await conn.execute("DELETE FROM rate_windows WHERE window_index < $1",
                               before_index)


class TicketRows:
    """event_tickets: only a ticket's hash is stored; taking a ticket deletes its row, so it
    opens one stream at whichever instance."""

    def __init__(self, db: PgDatabase):
        self.db = db

    async def put(self, ticket_hash: str, account_id: int, key_id: str, expires_at: float,
                  now: float) -> None:
        """Stores a ticket (epoch seconds), after dropping those that ran out."""
        async with self.db.connection() as conn:
            await conn.execute("DELETE FROM event_tickets WHERE expires_at < $1", now)
            await conn.execute("INSERT INTO event_tickets(ticket_hash, account_id, key_id,"
                               " expires_at) VALUES ($1, $2, $3, $4)",
                               ticket_hash, account_id, key_id, expires_at)

    async def take(self, ticket_hash: str, now: float) -> Any:
        """Deletes a ticket that hasn't run out; its account (id, name, region, uuid) and
        key_id, or None."""
        async with self.db.connection() as conn:
            return await conn.fetchrow(
                "WITH used AS (DELETE FROM event_tickets WHERE ticket_hash = $1 AND expires_at >= $2"
                " RETURNING account_id, key_id) SELECT a.id, a.name, a.region, a.uuid, used.key_id"
                " FROM used JOIN accounts a ON a.id = used.account_id", ticket_hash, now)
