"""Master.csv of one Asterisk node, read into the call log's raw CDRs from where the call log
stands to the file's end.

It is read in CSV_STEP-byte steps (~500 CDRs, in a worker thread): each step's CDRs and the new
position are one transaction of a few milliseconds on the loop, which serves others between, and
a crash resumes exactly there. A new file under the same name (logrotate `create`), a file shorter
than the saved position, or one rewritten in place (its first line changed) is read from its
start, which the CDRs' uniqueness makes safe. A first start with history "skip" begins at the end.
"""

from __future__ import annotations

import asyncio
import logging
import os
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from callbridge.calllog import cdr as cdrs
from callbridge.calllog.store import CallLogStore, CsvPosition
from callbridge.db import Db
from callbridge.logs import event

log = logging.getLogger("callbridge.calllog")
CSV_STEP = 128 * 1024
# Back-pressure: Master.csv is read faster than calls are built; past this many calls waiting to be
# built the reading waits, so a huge file costs bounded memory, not one entry per call in it.
MAX_PENDING = 20_000


class MasterCsv:
    def __init__(self, db: Db, store: CallLogStore, node: str, path: Path,
                 history: str = "import"):
        self.db = db
        self.store = store
        self.node = node
        self.path = str(path)
        self.history = history  # "import" or "skip": a first start's older calls
        self._lock = asyncio.Lock()

    async def read_to_end(self, arrived: Callable[[list[dict]], None],
                          waiting: Callable[[], int]) -> int:
        """Reads from the saved position to the end; arrived(records) after each step's commit,
        and no step while waiting() (calls not yet built) is past MAX_PENDING. Returns the CDR
        lines read."""
        path, total = self.path, 0
        async with self._lock:
            while True:
                while waiting() > MAX_PENDING:
                    await asyncio.sleep(0.05)
                saved = await self.store.csv_position(path)
                try:
                    step = await asyncio.to_thread(_read_csv_step, path, saved, self.history)
                except FileNotFoundError:
                    break
                except OSError as exc:
                    event(log, "calllog.backfill_failed", logging.WARNING, path=path, error=str(exc))
                    break
                if step.restarted and saved is not None:
                    event(log, "calllog.csv_rotated", logging.WARNING, path=path,
                          reason="a new file, or the old one truncated: read from its start")
                if step.position is None or step.position == saved:
                    break
                async with self.db.loop_transaction() as tx:
                    if step.records:
                        await self.store.insert_cdrs(tx, self.node, step.records)
                    await self.store.save_csv_position(tx, path, step.position)
                arrived(step.records)
                total += len(step.records)
                if step.at_end:
                    break
        if total:
            event(log, "calllog.backfilled", path=path, cdrs=total)
        return total


@dataclass
class _CsvStep:
    records: list[dict] = field(default_factory=list)
    position: CsvPosition | None = None
    at_end: bool = True
    restarted: bool = False  # the saved position was not for this file (rotated, truncated)


def _head(f) -> str:
    """A fingerprint of the file's first line (its first CDR never changes while the file lives)."""
    f.seek(0)
    return format(zlib.crc32(f.readline(4096)), "08x")


def _read_csv_step(path: str, saved: CsvPosition | None, history: str) -> _CsvStep:
    """One step of Master.csv after the saved position (in a worker thread). A different inode,
    a file now shorter than the position, or another first line: a new file, read from its start.
    A first start with history "skip" starts at the end of the last complete line."""
    with open(path, "rb") as f:
        st = os.fstat(f.fileno())
        head = _head(f)
        if saved is None and history == "skip":
            f.seek(max(0, st.st_size - CSV_STEP))
            tail = f.read()
            end = st.st_size - len(tail) + tail.rfind(b"\n") + 1 if b"\n" in tail else 0
            return _CsvStep(position=CsvPosition(st.st_ino, end, head))
        same = (saved is not None and saved.inode == st.st_ino and saved.offset <= st.st_size
                and saved.head in ("", head))
        start = saved.offset if same and saved is not None else 0
        f.seek(start)
        data = f.read(CSV_STEP)
    complete = data.rfind(b"\n") + 1  # a line still being written is read next time
    if complete == 0 and len(data) == CSV_STEP:
        complete = len(data)  # one "line" longer than a step is not a CDR: skipped whole
    records = cdrs.from_csv_text(data[:complete].decode("utf-8", "replace"))
    return _CsvStep(records, CsvPosition(st.st_ino, start + complete, head),
                    at_end=len(data) < CSV_STEP, restarted=not same)
