"""Time is stored in UTC and formatted at the edge."""

from __future__ import annotations

from datetime import datetime, timezone

# How Asterisk's CDRs (and so the call log) write a time: "2025-06-19 10:30:00", in UTC.
TS = "%Y-%m-%d %H:%M:%S"


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def utc_now_iso() -> str:
    """ISO 8601 with milliseconds and Z, as the seed's examples show: 2025-06-19T10:30:00.000Z."""
    return iso(utc_now())


def iso(dt: datetime) -> str:
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"
