"""One CDR, as a plain dict, from either source: an AMI Cdr event or a line of Master.csv."""

from __future__ import annotations

import csv
import io
import time
from functools import lru_cache

# cdr_csv's columns with loguniqueid, loguserfield and newcdrcolumns (asterisk-conf/cdr.conf)
CSV_COLUMNS = ("accountcode", "src", "dst", "dcontext", "clid", "channel", "dstchannel", "lastapp",
               "lastdata", "start", "answer", "end", "duration", "billsec", "disposition",
               "amaflags", "uniqueid", "userfield", "peeraccount", "linkedid", "sequence")
FIELDS = ("uniqueid", "sequence", "start", "linkedid", "src", "dst", "dcontext", "clid", "channel",
          "dstchannel", "lastapp", "answer", "end", "duration", "billsec", "disposition",
          "userfield", "source", "lastdata")


def epoch_ts(value: str | float | None) -> str | None:
    """Epoch seconds (an AMI Timestamp or *Epoch header) as UTC text; None when absent or 0."""
    try:
        seconds = float(value or 0)
    except ValueError:
        return None
    if seconds <= 0:
        return None
    return _utc_text(int(seconds))


def epoch_ms_text(value: float | None) -> str | None:
    """An AMI Timestamp as UTC text to the millisecond ('YYYY-MM-DD HH:MM:SS.fff'): a span
    between two of them is then truncated to whole seconds once, as Asterisk counts billsec,
    instead of truncating each end first (which counts 4.1 s from x.95 to y.05 as 5)."""
    if value is None or value <= 0:
        return None
    second, ms = divmod(round(value * 1000), 1000)
    return f"{_utc_text(second)}.{ms:03d}"


@lru_cache(maxsize=4096)
def _utc_text(second: int) -> str:
    """A call's legs share their seconds: each is formatted once (ingest does this per CDR)."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(second))


def _int(value) -> int:
    try:
        return int(value or 0)
    except ValueError:
        return 0


def from_ami(ev: dict) -> dict | None:
    """A Cdr event -> CDR dict; None when it lacks what identifies it."""
    uniqueid = ev.get("UniqueID")
    # The *Epoch headers (asterisk-conf/cdr_manager.conf) are UTC by definition; StartTime is
    # Asterisk's local time, used only as a fallback (then Asterisk must run in UTC).
    start = epoch_ts(ev.get("StartEpoch")) or ev.get("StartTime") or None
    if not uniqueid or not start:
        return None
    answer = epoch_ts(ev.get("AnswerEpoch")) if "AnswerEpoch" in ev else (ev.get("AnswerTime") or None)
    end = epoch_ts(ev.get("EndEpoch")) if "EndEpoch" in ev else (ev.get("EndTime") or None)
    return {"uniqueid": uniqueid, "sequence": _int(ev.get("Sequence")), "start": start,
            "linkedid": ev.get("LinkedID") or uniqueid, "src": ev.get("Source", ""),
            "dst": ev.get("Destination", ""), "dcontext": ev.get("DestinationContext", ""),
            "clid": ev.get("CallerID", ""), "channel": ev.get("Channel", ""),
            "dstchannel": ev.get("DestinationChannel", ""),
            "lastapp": ev.get("LastApplication", ""), "lastdata": ev.get("LastData", ""),
            "answer": answer, "end": end,
            "duration": _int(ev.get("Duration")), "billsec": _int(ev.get("BillableSeconds")),
            "disposition": ev.get("Disposition", "FAILED"), "userfield": ev.get("UserField", ""),
            "source": "ami"}


def from_csv_text(text: str) -> list[dict]:
    """Complete lines of Master.csv -> CDR dicts (lines of another layout are skipped)."""
    out = []
    for row in csv.reader(io.StringIO(text)):
        if len(row) != len(CSV_COLUMNS):
            continue
        r = dict(zip(CSV_COLUMNS, row, strict=True))
        if not r["uniqueid"] or not r["start"]:
            continue
        out.append({"uniqueid": r["uniqueid"], "sequence": _int(r["sequence"]), "start": r["start"],
                    "linkedid": r["linkedid"] or r["uniqueid"], "src": r["src"], "dst": r["dst"],
                    "dcontext": r["dcontext"], "clid": r["clid"], "channel": r["channel"],
                    "dstchannel": r["dstchannel"], "lastapp": r["lastapp"],
                    "lastdata": r["lastdata"],
                    "answer": r["answer"] or None, "end": r["end"] or None,
                    "duration": _int(r["duration"]), "billsec": _int(r["billsec"]),
                    "disposition": r["disposition"], "userfield": r["userfield"], "source": "csv"})
    return out

