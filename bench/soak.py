"""A soak: a realistic mix on the real bench for a long time; nothing may grow, nothing be lost.

    .venv/bin/python bench/soak.py [--minutes 30] [--warmup 5] [--plot docs/soak.png]

A private Asterisk with SIPp phones (tests/asterisk/pbx.py) and `callbridge serve` in its own
process (SQLite, or CALLBRIDGE_DATABASE=postgresql://… given with --database). The mix, all at
once for --minutes:

- inbound PSTN calls to 309 at 5/s (SIPp; the desk phone answers after 1.5 s, talks 1 s),
- click-to-dial from 309 at 1/s (the far end answers after 0.3 s, hangs up 1.5 s later),
- 50 event clients (WebSocket) connecting, reading 3-15 s, disconnecting, resuming with after=,
- 5 webhooks on the account: three healthy, one answering 500 always, one taking 2 s,
- a CRM sync (contactsAfterVersion/0) aborted mid-stream every 30 s,
- contact writes at 20/s (creates and updates), caller-ID lookups at 50/s.

Every 10 s it records the server's RssAnon, open fds, threads, asyncio tasks, database and
journal size, and the event loop's lag (callbridge_event_loop_lag_seconds). Pass (exit 0):
after the warm-up no process series grows more than 10 % (the medians of the first and the
last third; the database and the journal grow with the data), loop lag p99 < 50 ms, zero ERROR
lines in the server's log, zero 5xx, every call of Master.csv exactly one row per inside party,
every event delivered once to every client (ids contiguous across reconnects) and to every
healthy webhook. The figures go to bench/out/soak.json (and --plot draws them).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))
import aiohttp  # noqa: E402
from contacts_http import VENV_BIN, create_key, free_port, pbx_online, serve_env  # noqa: E402
from quick import parse_args  # noqa: E402
from tests.asterisk.conftest import calls_in_csv  # noqa: E402
from tests.asterisk.pbx import Pbx  # noqa: E402
from tests.pg import query  # noqa: E402
from tests.reaper import spawn  # noqa: E402
from tests.webhooks.receiver import Receiver  # noqa: E402

SAMPLE_EVERY = 10.0
GROWTH_LIMIT = 0.10
LAG_P99_LIMIT = 0.05
EVENT_CLIENTS = 50
SEEDED = 500


class Tally:
    """HTTP answers of the load, by status; exceptions by type."""

    def __init__(self) -> None:
        self.status: Counter[int] = Counter()
        self.errors: Counter[str] = Counter()

    def five_xx(self) -> int:
        return sum(n for s, n in self.status.items() if s >= 500)


async def every(rate: float, until: float, work, tally: Tally, limit: int = 50) -> None:
    """work() `rate` times a second until `until`, at most `limit` at once (a stalled server
    shows as errors here, not as an unbounded pile of requests)."""
    gate = asyncio.Semaphore(limit)
    tasks: set[asyncio.Task] = set()
    start = time.monotonic()
    n = 0
    while time.monotonic() < until:
        n += 1
        await asyncio.sleep(max(0.0, start + n / rate - time.monotonic()))
        if gate.locked():
            tally.errors["skipped: too many in flight"] += 1
            continue

        async def one() -> None:
            async with gate:
                try:
                    tally.status[await work()] += 1
                except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                    tally.errors[type(exc).__name__] += 1
        task = asyncio.create_task(one())
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    if tasks:
        await asyncio.wait(tasks, timeout=30)


class EventClient:
    """One app following the account's events: connects, reads a while, leaves, resumes."""

    def __init__(self, base: str, key: str):
        self.base, self.key = base, key
        self.ids: list[int] = []
        self.resumed = 0

    async def run(self, http: aiohttp.ClientSession, until: float, tally: Tally) -> None:
        while time.monotonic() < until:
            await self._session(http, random.uniform(3, 15), tally)
            await asyncio.sleep(random.uniform(0, 2))

    async def _session(self, http: aiohttp.ClientSession, seconds: float, tally: Tally,
                       idle_end: float | None = None) -> None:
        url = f"{self.base}/events" + (f"?after={self.ids[-1]}" if self.ids else "")
        self.resumed += bool(self.ids)
        try:
            async with http.ws_connect(url, headers={"x-api-key": self.key},
                                       heartbeat=None) as ws:
                tally.status[101] += 1
                end = time.monotonic() + seconds
                while (left := end - time.monotonic()) > 0:
                    try:
                        msg = await ws.receive(timeout=min(left, idle_end or left))
                    except asyncio.TimeoutError:
                        if idle_end:
                            return
                        continue
                    if msg.type != aiohttp.WSMsgType.TEXT:
                        break
                    ev = json.loads(msg.data)
                    if "id" in ev:
                        self.ids.append(ev["id"])
        except aiohttp.WSServerHandshakeError as exc:
            tally.status[exc.status] += 1
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            tally.errors[f"events: {type(exc).__name__}"] += 1

    async def drain(self, http: aiohttp.ClientSession, tally: Tally) -> None:
        """Reads what it missed since it last left, until 3 s pass with nothing new."""
        await self._session(http, 60, tally, idle_end=3.0)

    def problems(self) -> list[str]:
        if not self.ids:
            return ["no event at all"]
        dup = [i for i, n in Counter(self.ids).items() if n > 1]
        expected = list(range(self.ids[0], self.ids[0] + len(self.ids)))
        out = []
        if dup:
            out.append(f"{len(dup)} ids twice (e.g. {dup[:3]})")
        if sorted(set(self.ids)) != list(range(self.ids[0], max(self.ids) + 1)):
            out.append("a gap in the ids")
        elif self.ids != expected and not dup:
            out.append("out of order")
        return out


def proc_figures(pid: int) -> dict:
    status = Path(f"/proc/{pid}/status").read_text().splitlines()
    fields = {ln.split(":")[0]: ln.split()[1] for ln in status if ":" in ln and ln.split()[1:]}
    return {"rss_anon_mb": round(int(fields["RssAnon"]) / 1024, 1),
            "threads": int(fields["Threads"]), "fds": len(os.listdir(f"/proc/{pid}/fd"))}


def parse_metrics(text: str) -> dict:
    from prometheus_client.parser import text_string_to_metric_families
    out: dict = {"lag_buckets": {}}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == "callbridge_asyncio_tasks":
                out["tasks"] = int(s.value)
            elif s.name == "callbridge_event_loop_lag_seconds_bucket":
                out["lag_buckets"][s.labels["le"]] = s.value
            elif s.name == "callbridge_event_stream_clients":
                out["stream_clients"] = int(s.value)
    return out


def store_figures(database: str) -> dict:
    """The database's size on disk (SQLite) and the journal's and call log's rows."""
    out = {}
    if not database.startswith("postgresql"):
        out["db_mb"] = round(sum(os.path.getsize(p) for p in (database, database + "-wal")
                                 if os.path.exists(p)) / 2**20, 1)
    rows = query(database, "SELECT (SELECT count(*) FROM events),"
                           " (SELECT count(*) FROM call_log)")
    out["journal_rows"], out["call_log_rows"] = rows[0]
    return out


def lag_p99_ok(first: dict, last: dict) -> tuple[float, float]:
    """(share of the wake-ups between two scrapes that were under 50 ms late, how many)."""
    total = last["+Inf"] - first.get("+Inf", 0)
    under = last["0.05"] - first.get("0.05", 0)
    return (under / total if total else 1.0), total


def growth(samples: list[dict], key: str) -> float:
    """The median of the last third vs the first third of the samples after the warm-up: a
    leak moves the median, a sample taken while a sync's thread or a client's tasks were alive
    doesn't (threads are 4 or 5: one such sample would be +25 %)."""
    third = max(1, len(samples) // 3)
    first = statistics.median(s[key] for s in samples[:third])
    last = statistics.median(s[key] for s in samples[-third:])
    return (last - first) / first if first else 0.0


async def main(args) -> dict:
    root = Path(tempfile.mkdtemp(prefix="cb-soak-"))
    pbx = Pbx(root)
    pbx.render()
    print(f"[soak] Asterisk booted in {pbx.start():.2f}s", file=sys.stderr)
    await asyncio.to_thread(pbx.start_standard_phones, trunk_answer_ms=300, trunk_hangup_ms=1500,
                            desk_answer_ms=1500)
    port = free_port()
    database = args.database or str(root / "cb.db")
    env = serve_env(Path(database) if not database.startswith("postgresql") else database, port,
                    CALLBRIDGE_AMI_PORT=str(pbx.ami_port),
                    CALLBRIDGE_AMI_USERNAME=pbx.ami_username,
                    CALLBRIDGE_AMI_SECRET=pbx.ami_secret,
                    CALLBRIDGE_CALLERID_TOKEN=pbx.callerid_token,
                    CALLBRIDGE_CDR_CSV=str(pbx.master_csv), CALLBRIDGE_CDR_CSV_HISTORY="skip",
                    CALLBRIDGE_WEBHOOK_ALLOW_PRIVATE="true")
    env["CALLBRIDGE_DATABASE"] = database
    key = create_key(env)
    subprocess.run([str(VENV_BIN / "callbridge"), "extensions", "add", "--account", "bench",
                    "309"], env=env, check=True, capture_output=True)
    log_path = root / "serve.log"
    serve = spawn([str(VENV_BIN / "callbridge"), "serve"], env=env,
                  stdout=subprocess.DEVNULL, stderr=log_path.open("ab"))
    base = f"http://127.0.0.1:{port}"
    h = {"x-api-key": key}
    receivers = [await Receiver().start(), await Receiver().start(), await Receiver().start(),
                 await Receiver(status=500).start(), await Receiver(delay=2.0).start()]
    healthy = receivers[:3]
    tally = Tally()
    csv_start = pbx.master_csv.stat().st_size if pbx.master_csv.exists() else 0
    samples: list[dict] = []
    load = None
    try:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
            await pbx_online(http, base, 30)
            for r in receivers:
                async with http.post(f"{base}/webhooks", headers=h,
                                     json={"url": r.url, "types": ["*"]}) as resp:
                    assert resp.status == 201, await resp.text()
            numbers = [f"+1555{7000000 + i:07d}" for i in range(SEEDED)]
            for i, number in enumerate(numbers):
                async with http.post(f"{base}/contacts/contacts", headers=h, json={
                        "firstname": f"Soak{i}", "mobile_phone": number}) as resp:
                    assert resp.status == 200, await resp.text()
            mine: list[str] = []

            async def write() -> int:
                if mine and random.random() < 0.5:
                    async with http.put(f"{base}/contacts/contacts/{random.choice(mine)}",
                                        headers=h, json={"note": f"n{random.random()}"}) as r:
                        return r.status
                async with http.post(f"{base}/contacts/contacts", headers=h, json={
                        "firstname": "W", "lastname": str(len(mine))}) as r:
                    if r.status == 200:
                        mine.append((await r.json())["uuid"])
                    return r.status

            async def lookup() -> int:
                async with http.get(f"{base}/callerid", params={
                        "token": pbx.callerid_token, "called": "309",
                        "number": random.choice(numbers)}) as r:
                    await r.read()
                    return r.status

            clicks: list[str] = []

            async def click() -> int:
                async with http.post(f"{base}/dialer/call", headers=h, json={
                        "extension": "309", "phonenumber": f"1580867{random.randint(0, 9999):04d}"}
                                     ) as r:
                    if r.status == 200:
                        clicks.append((await r.json())["call_id"])
                    return r.status

            async def aborted_sync() -> int:
                async with http.get(f"{base}/contacts/contactsAfterVersion/0", headers=h) as r:
                    await r.content.read(65536)
                    status = r.status
                    r.close()  # the CRM gives up mid-stream
                return status

            seconds = args.minutes * 60
            until = time.monotonic() + seconds
            load = await asyncio.to_thread(pbx.call_load, "5551230000", "309",
                                           calls=int(5 * seconds), rate=5, talk_ms=1000,
                                           limit=100, timeout=int(seconds) + 120)
            clients = [EventClient(base, key) for _ in range(EVENT_CLIENTS)]
            started = time.monotonic()
            workers = [asyncio.create_task(c.run(http, until, tally)) for c in clients] + [
                asyncio.create_task(every(20, until, write, tally)),
                asyncio.create_task(every(50, until, lookup, tally)),
                asyncio.create_task(every(1, until, click, tally)),
                asyncio.create_task(every(1 / 30, until, aborted_sync, tally, limit=2))]
            lag_at_start: dict = {}
            while time.monotonic() < until:
                await asyncio.sleep(SAMPLE_EVERY)
                async with http.get(f"{base}/metrics") as r:
                    m = parse_metrics(await r.text())
                sample = {"t": round(time.monotonic() - started, 1), **proc_figures(serve.pid),
                          "tasks": m["tasks"], "stream_clients": m.get("stream_clients", 0),
                          **await asyncio.to_thread(store_figures, database)}
                if sample["t"] >= args.warmup * 60 and not lag_at_start:
                    lag_at_start = m["lag_buckets"]
                sample["lag_ok_share"], _ = lag_p99_ok(samples[-1]["_lag"] if samples else {},
                                                      m["lag_buckets"])
                sample["_lag"] = m["lag_buckets"]
                samples.append(sample)
                print(f"[soak] {json.dumps({k: v for k, v in sample.items() if k != '_lag'})}",
                      file=sys.stderr)
            await asyncio.gather(*workers)
            print("[soak] load over; draining", file=sys.stderr)
            await asyncio.to_thread(load.wait, 120)
            await asyncio.gather(*(c.drain(http, tally) for c in clients))
            async with http.get(f"{base}/metrics") as r:
                lag_end = parse_metrics(await r.text())["lag_buckets"]
            # (on a thread: tests.pg.query runs its own loop for PostgreSQL)
            journal_last = (await asyncio.to_thread(
                query, database, "SELECT max(id) FROM events"))[0][0] or 0

            # every call of Master.csv: one row per inside party, once
            expected = calls_in_csv(pbx, csv_start, lambda c: True)
            deadline = time.monotonic() + 60
            while True:
                rows = await asyncio.to_thread(
                    query, database, "SELECT linkedid, extension, count(*) FROM call_log"
                                       " GROUP BY linkedid, extension")
                logged = {r[0] for r in rows}
                if expected <= logged or time.monotonic() > deadline:
                    break
                await asyncio.sleep(1)
            doubled = [r for r in rows if r[2] > 1]
            # every event at every healthy webhook, once
            deadline = time.monotonic() + 60
            while (any(len(r.ids()) < journal_last for r in healthy)
                   and time.monotonic() < deadline):
                await asyncio.sleep(1)
    finally:
        serve.terminate()
        try:
            serve.wait(20)
        except subprocess.TimeoutExpired:
            serve.kill()
        if load is not None and load.poll() is None:
            load.kill()
        for r in receivers:
            await r.stop()
        pbx.stop_phones()
        pbx.stop()

    after = [s for s in samples if s["t"] >= args.warmup * 60]
    lag_share, lag_wakeups = lag_p99_ok(lag_at_start, lag_end)
    errors = [ln for ln in log_path.read_text(errors="replace").splitlines()
              if '"level": "error"' in ln or '"level": "critical"' in ln]
    failures = []
    growths = {k: round(growth(after, k), 3) for k in ("rss_anon_mb", "fds", "threads", "tasks")}
    for k, g in growths.items():
        if g > GROWTH_LIMIT:
            failures.append(f"{k} grew {g:.0%} after the warm-up")
    if lag_share < 0.99:
        failures.append(f"event loop lag p99 >= 50 ms ({lag_share:.2%} of wake-ups under)")
    if errors:
        failures.append(f"{len(errors)} ERROR lines, first: {errors[0][:300]}")
    if tally.five_xx():
        failures.append(f"{tally.five_xx()} 5xx answers")
    if len(expected) < 0.9 * 6 * args.minutes * 60:
        failures.append(f"only {len(expected)} calls in Master.csv: the load stopped early")
    missing = expected - logged
    if missing:
        failures.append(f"{len(missing)} calls of Master.csv not in the call log")
    if doubled:
        failures.append(f"{len(doubled)} calls with a row twice")
    client_problems = {i: p for i, c in enumerate(clients) if (p := c.problems())}
    if client_problems:
        failures.append(f"event clients: {client_problems}")
    for i, r in enumerate(healthy):
        got = Counter(r.ids())
        twice = [m for m, n in got.items() if n > 1]
        if len(got) < journal_last or twice:
            failures.append(f"healthy webhook {i}: {len(got)} of {journal_last} events,"
                            f" {len(twice)} twice")
    result = {
        "minutes": args.minutes, "warmup_minutes": args.warmup,
        "database": "postgresql" if database.startswith("postgresql") else "sqlite",
        "asterisk": pbx_version(),
        "calls_in_master_csv": len(expected), "clicks": len(clicks),
        "events": journal_last, "client_resumes": sum(c.resumed for c in clients),
        "http": {str(k): v for k, v in sorted(tally.status.items())},
        "client_errors": dict(tally.errors),
        "growth_after_warmup": growths,
        "loop_lag_under_50ms_share": round(lag_share, 4), "loop_wakeups": int(lag_wakeups),
        "error_lines": len(errors), "slow_webhook_got": len(receivers[4].got),
        "samples": [{k: v for k, v in s.items() if k != "_lag"} for s in samples],
        "failures": failures, "passed": not failures,
    }
    return result


def pbx_version() -> str:
    from tests.asterisk.pbx import ASTERISK
    return ASTERISK.version()


def plot(result: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    s = result["samples"]
    t = [x["t"] / 60 for x in s]
    series = [("rss_anon_mb", "RssAnon (MiB)"), ("fds", "open fds"), ("threads", "threads"),
              ("tasks", "asyncio tasks"), ("journal_rows", "journal rows"),
              ("lag_ok_share", "wake-ups < 50 ms late")]
    fig, axes = plt.subplots(len(series), 1, figsize=(8, 2 * len(series)), sharex=True)
    for ax, (key, label) in zip(axes, series):
        ax.plot(t, [x.get(key, 0) for x in s])
        ax.set_ylabel(label, fontsize=8)
        ax.axvline(result["warmup_minutes"], color="grey", linestyle=":")
        ax.set_ylim(bottom=0)
    axes[-1].set_xlabel("minutes")
    fig.suptitle(f"callbridge soak: {result['minutes']} min, {result['database']},"
                 f" {result['asterisk']}", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=90)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=30)
    parser.add_argument("--warmup", type=float, default=None,
                        help="minutes before the growth is measured (default: 5, or a third of"
                             " a shorter run)")
    parser.add_argument("--database", help="postgresql://… (default: a SQLite file)")
    parser.add_argument("--out", default=str(HERE / "out" / "soak.json"))
    parser.add_argument("--plot", help="a PNG to draw the series into (needs matplotlib)")
    args = parse_args(parser, minutes=1.0, warmup=0.3)
    if args.warmup is None:
        args.warmup = min(5.0, args.minutes / 3)
    result = asyncio.run(main(args))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    if args.plot:
        plot(result, Path(args.plot))
    summary = {k: v for k, v in result.items() if k != "samples"}
    print(json.dumps(summary, indent=1))
    sys.exit(0 if result["passed"] else 1)
