"""Call-log ingest speed: a recorded AMI stream replayed at full speed through the real pipeline
(AmiLink -> CallLogService -> rows committed in SQLite), against panoramisk alone parsing the same
bytes, both measured in this run.

    .venv/bin/python bench/record_ami_stream.py      # once: records bench/out/ami-stream.bin
    .venv/bin/python bench/calllog_replay.py [--repeat 200]

The replay server is its own process (bench/ami_replay_server.py). Rates are stream events per
second from the first event received: for panoramisk until its callback saw the last event; for
the pipeline until the last call-log row was committed (which includes the call log's 0.1 s
wait that lets trailing Cdr events of the last call arrive). A second reference, the adapter's
own reader handing every event to one counting handler, shows how much of the pipeline's speed
comes from that reader rather than from the call log.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from aiohttp import web  # noqa: E402
from panoramisk import Manager  # noqa: E402
from quick import parse_args  # noqa: E402

from callbridge.app import AMI_LINK, DATABASE, create_app  # noqa: E402
from callbridge.calllog.routes import SERVICE as CALLLOG  # noqa: E402
from callbridge.settings import Settings  # noqa: E402

STREAM = ROOT / "bench" / "out" / "ami-stream.bin"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(stream: Path, repeat: int) -> tuple[subprocess.Popen, int]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, str(ROOT / "bench" / "ami_replay_server.py"),
                             str(stream), str(port), str(repeat)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    return proc, port


class EventCounter:
    """Counts stream events (not the replay server's FullyBooted greeting); rate() once all came."""

    def __init__(self, total: int):
        self.total, self.n, self.t0, self.t1 = total, 0, 0.0, 0.0
        self.done = asyncio.Event()

    def count(self, event) -> None:
        if event.get("Event") == "FullyBooted":
            return
        if self.n == 0:
            self.t0 = time.perf_counter()
        self.n += 1
        if self.n == self.total:
            self.t1 = time.perf_counter()
            self.done.set()

    async def rate(self) -> float:
        await asyncio.wait_for(self.done.wait(), 600)
        return self.total / (self.t1 - self.t0)


async def panoramisk_alone(port: int, total: int) -> float:
    counter = EventCounter(total)
    m = Manager(loop=asyncio.get_running_loop(), host="127.0.0.1", port=port, username="u",
                secret="s", ping_delay=3600)
    m.register_event("*", lambda manager, event: counter.count(event))
    await m.connect()
    try:
        return await counter.rate()
    finally:
        m.close()


async def reader_alone(port: int, total: int) -> float:
    """The AMI adapter's own reader (callbridge.ami.link) handing every event, parsed, to one
    counting handler: what the pipeline would cost if it needed every event."""
    from callbridge.ami.link import AmiLink, AmiSettings
    counter = EventCounter(total)
    link = AmiLink(AmiSettings("127.0.0.1", port, "u", "s", ping_interval=3600))
    link.on("*", counter.count)
    link.start()
    try:
        return await counter.rate()
    finally:
        await link.close()


async def pipeline(port: int, total: int, expected_rows: int | None) -> tuple[float, int, float | None]:
    """(end-to-end events/s, rows, steady-state events/s). Steady state: committed rows per second
    between 10% and 90% of the rows, times events per row; it leaves out the fixed start-up and
    the 0.1 s the last calls wait for trailing Cdrs, which are latency rather than throughput."""
    root = Path(tempfile.mkdtemp(prefix="cb-replay-"))
    settings = Settings(database=root / "cb.db", ami_port=port, ami_username="u", ami_secret="s",
                        cdr_csv=None, log_level="WARNING", ami_ping_interval=30)
    app = create_app(settings)
    first = {"t0": 0.0}
    # the stream's first call starts with a Newchannel; a "*" handler would make the link copy
    # every event, which production does not do
    app[AMI_LINK].on("Newchannel", lambda e: first.__setitem__("t0", first["t0"] or time.perf_counter()))
    runner = web.AppRunner(app)
    await runner.setup()
    db, calllog = app[DATABASE], app[CALLLOG]
    try:
        last, stable_since, t_last = -1, None, 0.0
        marks: dict[int, tuple[float, int]] = {}
        while True:
            await asyncio.sleep(0.02)
            n = (await db.fetchone("SELECT count(*) FROM call_log"))[0]
            if expected_rows:
                for pct in (10, 90):
                    if pct not in marks and n >= expected_rows * pct / 100:
                        marks[pct] = (time.perf_counter(), n)
            if n != last:
                last, stable_since, t_last = n, time.perf_counter(), time.perf_counter()
            if expected_rows is not None and n >= expected_rows:
                break
            if expected_rows is None and n > 0 and time.perf_counter() - stable_since > 3:
                break
        rows = (await db.fetchone("SELECT count(*) FROM call_log"))[0]
        rewritten = calllog.rows_written - rows  # rows built early, then again: should be 0
        assert rewritten == 0, f"{rewritten} rows were written more than once"
        steady = None
        if 10 in marks and 90 in marks and marks[90][0] > marks[10][0]:
            rows_per_s = (marks[90][1] - marks[10][1]) / (marks[90][0] - marks[10][0])
            steady = rows_per_s * total / expected_rows
        return total / (t_last - first["t0"]), rows, steady
    finally:
        await runner.cleanup()


async def main(repeat: int, stream: Path = STREAM) -> dict:
    from ami_replay_server import call_frames
    per_round = call_frames(stream.read_bytes()).count(b"\r\n\r\n")
    total = per_round * repeat
    server, port = start_server(stream, 1)
    try:
        _, rows_per_round, _ = await pipeline(port, per_round, None)  # how many rows a round makes
    finally:
        server.terminate()
    results = {"events_per_round": per_round, "rounds": repeat, "events": total,
               "rows_per_round": rows_per_round}
    for attempt in ("first", "second"):  # alternate to even out machine noise
        server, port = start_server(stream, repeat)
        try:
            base = await panoramisk_alone(port, total)
        finally:
            server.terminate()
        server, port = start_server(stream, repeat)
        try:
            reader = await reader_alone(port, total)
        finally:
            server.terminate()
        server, port = start_server(stream, repeat)
        try:
            eps, rows, steady = await pipeline(port, total, rows_per_round * repeat)
        finally:
            server.terminate()
        assert rows == rows_per_round * repeat, (rows, rows_per_round * repeat)
        results[attempt] = {"panoramisk_events_per_s": round(base),
                            "adapter_reader_every_event_per_s": round(reader),
                            "pipeline_end_to_end_events_per_s": round(eps),
                            "ratio_end_to_end": round(eps / base, 3),
                            "pipeline_steady_events_per_s": round(steady or 0),
                            "ratio_steady": round((steady or 0) / base, 3), "rows": rows}
        print(f"[bench] {attempt}: panoramisk {base:,.0f} ev/s; adapter reader, every event parsed"
              f" {reader:,.0f} ev/s ({reader / base:.2f}x); pipeline end to end {eps:,.0f} ev/s"
              f" -> {eps / base:.2f}x, steady state {steady or 0:,.0f} ev/s -> {(steady or 0) / base:.2f}x;"
              f" {rows} rows", file=sys.stderr)
    return results


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=200)
    ap.add_argument("--stream", type=Path, default=STREAM,
                    help="the recording to replay (bench/record_ami_stream.py --out)")
    a = parse_args(ap, repeat=2)
    if not a.stream.exists():
        sys.exit(f"{a.stream} missing: run bench/record_ami_stream.py first")
    out = asyncio.run(main(a.repeat, a.stream))
    (ROOT / "bench" / "out" / "calllog.json").write_text(json.dumps(out, indent=2))
    print(json.dumps(out, indent=2))
