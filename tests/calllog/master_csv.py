"""Master.csv lines as Asterisk's cdr_csv writes them (strings quoted, integers bare; the column
order of asterisk-conf/cdr.conf: loguniqueid, loguserfield, newcdrcolumns), for tests and benches
that need a real installation's file size."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

from callbridge.calllog.cdr import CSV_COLUMNS

_INTS = {"duration", "billsec", "sequence"}
EPOCH = datetime(2026, 1, 1, tzinfo=timezone.utc)


def line(**values) -> str:
    return ",".join(str(values.get(c, 0)) if c in _INTS
                    else '"' + str(values.get(c, "")).replace('"', '""') + '"'
                    for c in CSV_COLUMNS) + "\n"


def inbound(n: int, caller: str, extension: str = "309", *, start: datetime | None = None,
            talk: int = 30, prefix: str = "h") -> str:
    """One answered inbound call (trunk -> extension) as one CDR line; its linked ID is
    f"{prefix}{n}" (unique per call)."""
    start = start or EPOCH + timedelta(seconds=n * 7)
    answer, end = start + timedelta(seconds=3), start + timedelta(seconds=3 + talk)
    ts = "%Y-%m-%d %H:%M:%S"
    uid = f"{prefix}{n}"
    return line(src=caller, dst=extension, dcontext="from-pstn",
                clid=f'"Caller {n}" <{caller}>', channel=f"PJSIP/trunk-{n:08x}",
                dstchannel=f"PJSIP/{extension}-{n:08x}", lastapp="Dial",
                lastdata=f"PJSIP/{extension},30", start=start.strftime(ts),
                answer=answer.strftime(ts), end=end.strftime(ts), duration=3 + talk,
                billsec=talk, disposition="ANSWERED", amaflags="DOCUMENTATION", uniqueid=uid,
                linkedid=uid, sequence=n % 1000)


def write_history(path: Path, target_bytes: int, extension: str = "309",
                  prefix: str = "h") -> int:
    """Appends older answered calls until the file holds target_bytes; returns how many."""
    n = 0
    size = path.stat().st_size if path.exists() else 0
    with path.open("a", encoding="utf-8") as f:
        buf: list[str] = []
        while size < target_bytes:
            text = inbound(n, f"1555{n % 10_000_000:07d}", extension, prefix=prefix)
            buf.append(text)
            size += len(text)
            n += 1
            if len(buf) >= 10_000:
                f.write("".join(buf))
                buf.clear()
        f.write("".join(buf))
    return n
