"""Capacity at more Asterisk nodes than this box can run: --nodes simulated nodes over 1, 2 and 4
instances on one PostgreSQL, every instance connected to every node, the nodes spread over them.

    .venv/bin/python bench/scale_nodes.py [--nodes 20] [--rate 2] [--seconds 60] [--instances 1,2,4]
                                          [--plot docs/images/capacity.png]

--nodes and --instances take comma-separated lists: every pair is a round (how the cost grows
with nodes and with instances); --plot draws calls per instance CPU second and lag p99 per round.

Each node is an AMI server of this process (asyncio, one port each) that sends, --rate times a
second, one call of a recording of the real bench (tests/ami/streams/asterisk16.ami: channel
events and the Cdr events cdr_manager writes) to every client logged in, with fresh ids and the
current time, as a PBX would. Per instance count, after the spread settles (each node read by
one instance, none above its share), for --seconds:
- calls sent and call-log rows stored (one per call at least: each call's first row counts), the
  calls/s sustained, and per instance core (the instances' CPU seconds from /proc);
- call-log lag: from a call's last event sent to its first row stored (PostgreSQL polled every
  0.2 s), p50 / p99 (target p99 < 2 s);
- PostgreSQL connections during the run.
Needs Debian's PostgreSQL server (scripts/install-postgresql.sh); a throwaway cluster
(tests/pg.py). Writes bench/out/scale_nodes.json.
"""

from __future__ import annotations

import argparse
import asyncio
import calendar
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))
from ami_replay_server import frame_fields  # noqa: E402
from contacts_http import OUT, VENV_BIN, free_port, init_db, wait_port  # noqa: E402
from quick import parse_args  # noqa: E402
from tests.pg import cluster  # noqa: E402

STREAM = ROOT / "tests" / "ami" / "streams" / "asterisk16.ami"
SECRET = "bench-secret-1234"
_IDS = re.compile(rb"^(Uniqueid|Linkedid|UniqueID|LinkedID|DestUniqueid|DestLinkedid|ChannelId"
                  rb"|BridgeUniqueid|TransfererUniqueid|TransfereeUniqueid): (\S+)\r$", re.M)
_TIMES = re.compile(rb"^(Timestamp|StartEpoch|AnswerEpoch|EndEpoch): ([0-9.]+)\r$", re.M)
_CDR_TIMES = re.compile(rb"^(StartTime|AnswerTime|EndTime): (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)\r$",
                        re.M)
_LINKED = re.compile(rb"^(?:Linkedid|LinkedID): (\S+)\r$", re.M)


def recorded_calls(stream: bytes) -> list[list[bytes]]:
    """The recording's calls: each the frames sharing a linked id, in their order."""
    calls: dict[bytes, list[bytes]] = {}
    for frame in stream.split(b"\r\n\r\n"):
        m = _LINKED.search(frame + b"\r")
        if m:
            calls.setdefault(m.group(1), []).append(frame + b"\r\n\r\n")
    return [frames for frames in calls.values() if any(b"Event: Cdr" in f for f in frames)]


def fresh(frames: list[bytes], tag: bytes, now: float) -> bytes:
    """One call again: ids suffixed with tag, times moved to now (relative offsets kept)."""
    text = b"".join(frames)
    stamps = [float(v) for _, v in _TIMES.findall(text) if float(v) > 0]
    shift = now - min(stamps) if stamps else 0.0
    text = _IDS.sub(lambda m: m.group(1) + b": " + m.group(2) + tag + b"\r", text)
    text = _TIMES.sub(lambda m: m.group(1) + b": " + (
        b"%.6f" % (float(m.group(2)) + shift) if float(m.group(2)) > 0 else m.group(2)) + b"\r",
        text)
    return _CDR_TIMES.sub(lambda m: m.group(1) + b": " + time.strftime(
        "%Y-%m-%d %H:%M:%S", time.gmtime(calendar.timegm(time.strptime(
            m.group(2).decode(), "%Y-%m-%d %H:%M:%S")) + shift)).encode() + b"\r", text)


class Node:
    """A simulated Asterisk node: AMI logins, a few actions answered, calls broadcast."""

    def __init__(self, name: str, calls: list[list[bytes]]):
        self.name, self.calls = name, calls
        self.port = free_port()
        self.clients: set[asyncio.StreamWriter] = set()
        self.sent: dict[str, float] = {}  # linked id -> when its last event went out
        self.server: asyncio.Server | None = None

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._client, "127.0.0.1", self.port)

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"Asterisk Call Manager/5.0.4\r\n")
        try:
            while True:
                block = (await reader.readuntil(b"\r\n\r\n")).decode()
                fields = frame_fields(block)
                action, aid = fields.get("Action", "").lower(), fields.get("ActionID", "")
                if action == "login":
                    writer.write(f"Response: Success\r\nActionID: {aid}\r\nMessage: Authentication"
                                 " accepted\r\n\r\nEvent: FullyBooted\r\nPrivilege: system,all\r\n"
                                 "Status: Fully Booted\r\n\r\n".encode())
                    self.clients.add(writer)
                elif action == "coreshowchannels":
                    writer.write(f"Response: Success\r\nActionID: {aid}\r\nEventList: start\r\n"
                                 "Message: Channels will follow\r\n\r\nEvent: CoreShowChannelsComplete"
                                 f"\r\nActionID: {aid}\r\nEventList: Complete\r\nListItems: 0\r\n"
                                 "\r\n".encode())
                elif action == "coresettings":
                    writer.write(f"Response: Success\r\nActionID: {aid}\r\nAsteriskVersion: 16.28.0"
                                 "\r\n\r\n".encode())
                elif action == "getvar":
                    writer.write(f"Response: Success\r\nActionID: {aid}\r\nValue: \r\n\r\n".encode())
                else:
                    writer.write(f"Response: Success\r\nActionID: {aid}\r\n\r\n".encode())
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self.clients.discard(writer)
            writer.close()

    def send_call(self, k: int) -> None:
        frames = self.calls[k % len(self.calls)]
        tag = f"-{self.name}-{k}".encode()
        text = fresh(frames, tag, time.time())
        for writer in list(self.clients):
            writer.write(text)
        for lid in set(_LINKED.findall(text)):
            self.sent[lid.decode()] = time.monotonic()

    async def close(self) -> None:
        for writer in list(self.clients):
            writer.close()
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def run_round(url: str, nodes: list[Node], instances: int, seconds: float,
                    rate: float) -> dict:
    import aiohttp
    import asyncpg

    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLBRIDGE_")}
    env.update(CALLBRIDGE_DATABASE=url, CALLBRIDGE_LOG_LEVEL="WARNING", CALLBRIDGE_CDR_CSV="",
               CALLBRIDGE_AMI_RECONNECT_MAX="1",
               CALLBRIDGE_AMI=" ".join(f"{n.name}=ami://cb:{SECRET}@127.0.0.1:{n.port}/"
                                       for n in nodes))
    procs, ports = [], []
    logs = OUT / "scale_nodes-logs"  # each instance's log of the last round, to read afterwards
    logs.mkdir(parents=True, exist_ok=True)
    for i in range(instances):
        port = free_port()
        with (logs / f"{len(nodes)}-nodes-instance-{i + 1}-of-{instances}.log").open("wb") as log:
            procs.append(subprocess.Popen([str(VENV_BIN / "callbridge"), "serve"],
                                          env={**env, "CALLBRIDGE_PORT": str(port)},
                                          stdout=subprocess.DEVNULL, stderr=log))
        ports.append(port)
    pg = await asyncpg.connect(url)
    try:
        for port in ports:
            wait_port(port)
        share = -(-len(nodes) // instances)
        async with aiohttp.ClientSession() as http:
            async def readers() -> list[set[str]]:
                out = []
                for port in ports:
                    text = await (await http.get(f"http://127.0.0.1:{port}/metrics")).text()
                    out.append({m.group(1) for m in re.finditer(
                        r'callbridge_ami_ingesting\{node="([^"]+)"\} 1\.0', text)})
                return out
            deadline = time.monotonic() + 30 + 2 * len(nodes)
            while True:
                held = await readers()
                every = sorted(n for s in held for n in s)
                if every == sorted(n.name for n in nodes) and max(map(len, held)) <= share:
                    break
                assert time.monotonic() < deadline, f"the nodes never spread: {held}"
                await asyncio.sleep(0.5)
            spread_s = round(time.monotonic() - (deadline - 30 - 2 * len(nodes)), 1)
        last_rid = await pg.fetchval("SELECT coalesce(max(rid), 0) FROM call_log")
        cpu0 = sum(cpu_seconds(p.pid) for p in procs)
        stored: dict[str, float] = {}
        connections = []
        started = time.monotonic()
        k = 0
        next_at = started
        while time.monotonic() - started < seconds:
            now = time.monotonic()
            while next_at <= now:  # every node sends `rate` calls a second, evenly
                for node in nodes:
                    node.send_call(k)
                k += 1
                next_at += 1 / rate
            for lid, rid in await pg.fetch("SELECT linkedid, rid FROM call_log WHERE rid > $1",
                                           last_rid):
                stored.setdefault(lid, time.monotonic())
                last_rid = max(last_rid, rid)
            connections.append(await pg.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"))
            await asyncio.sleep(0.2)
        sent_during = {lid: t for n in nodes for lid, t in n.sent.items() if t >= started}
        settle = time.monotonic() + 10  # the last calls' rows
        while time.monotonic() < settle and not set(sent_during) <= set(stored):
            for lid, rid in await pg.fetch("SELECT linkedid, rid FROM call_log WHERE rid > $1",
                                           last_rid):
                stored.setdefault(lid, time.monotonic())
                last_rid = max(last_rid, rid)
            await asyncio.sleep(0.2)
        cpu = sum(cpu_seconds(p.pid) for p in procs) - cpu0
        lags = sorted(stored[lid] - t for lid, t in sent_during.items() if lid in stored)
        elapsed = time.monotonic() - started
        logged = len([lid for lid in sent_during if lid in stored])
        return {
            "instances": instances, "nodes": len(nodes), "rate_per_node": rate,
            "spread_settled_s": spread_s, "calls_sent": len(sent_during), "calls_logged": logged,
            "calls_missing": len(sent_during) - logged,
            "calls_per_s": round(logged / elapsed, 1),
            "instance_cpu_s": round(cpu, 1),
            "calls_per_cpu_s": round(logged / cpu, 1) if cpu else None,
            "lag_p50_s": round(lags[len(lags) // 2], 3) if lags else None,
            "lag_p99_s": round(lags[min(len(lags) - 1, int(len(lags) * 0.99))], 3) if lags else None,
            "pg_connections_max": max(connections) if connections else None,
        }
    finally:
        await pg.close()
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)
        for node in nodes:
            node.sent.clear()


async def main_async(a: argparse.Namespace) -> dict:
    calls = recorded_calls(STREAM.read_bytes())
    pg = cluster()
    result: dict = {"cpus": os.cpu_count(), "stream": STREAM.name, "calls_in_recording": len(calls),
                    "rounds": []}
    pairs = [(n, i) for n in _ints(a.nodes) for i in _ints(a.instances)]
    for node_count, count in pairs:
        url = pg.new_database()
        env = {k: v for k, v in os.environ.items() if not k.startswith("CALLBRIDGE_")}
        env["CALLBRIDGE_DATABASE"] = url
        init_db(env)
        subprocess.run([str(VENV_BIN / "callbridge"), "accounts", "add", "acme"], env=env,
                       check=True, capture_output=True)
        for ext in ("309", "310"):  # the recording's extensions, an account's
            subprocess.run([str(VENV_BIN / "callbridge"), "extensions", "add", "--account",
                            "acme", ext], env=env, check=False, capture_output=True)
        nodes = [Node(f"n{i:02d}", calls) for i in range(node_count)]
        for node in nodes:
            await node.start()
        try:
            figures = await run_round(url, nodes, count, a.seconds, a.rate)
        finally:
            for node in nodes:
                await node.close()
        print(json.dumps(figures), file=sys.stderr)
        result["rounds"].append(figures)
    return result


def _ints(text: str) -> list[int]:
    return [int(x) for x in str(text).split(",")]


def plot(result: dict, path: Path) -> None:
    """Two panels over the instance count, one line per node count: calls logged per instance
    CPU second, and call-log lag p99 (with the 2 s target)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, (cost, lag) = plt.subplots(1, 2, figsize=(10, 4))
    for nodes in sorted({r["nodes"] for r in result["rounds"]}):
        rounds = sorted((r for r in result["rounds"] if r["nodes"] == nodes),
                        key=lambda r: r["instances"])
        xs = [r["instances"] for r in rounds]
        label = f"{nodes} nodes × {rounds[0]['rate_per_node']:g} calls/s"
        cost.plot(xs, [r["calls_per_cpu_s"] for r in rounds], marker="o", label=label)
        lag.plot(xs, [r["lag_p99_s"] for r in rounds], marker="o", label=label)
    cost.set(title="calls logged per instance CPU second", xlabel="instances", ylim=(0, None))
    lag.axhline(2.0, color="grey", linestyle="--", linewidth=1, label="target")
    lag.set(title="call-log lag p99 (s)", xlabel="instances", ylim=(0, max(2.5, lag.get_ylim()[1])))
    for ax in (cost, lag):
        ax.set_xticks(sorted({r["instances"] for r in result["rounds"]}))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(f"bench/scale_nodes.py on {result['cpus']} cores, one PostgreSQL")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nodes", default="20", help="node counts, comma-separated")
    ap.add_argument("--rate", type=float, default=2.0, help="calls/s each node sends")
    ap.add_argument("--seconds", type=float, default=60.0, help="measured per instance count")
    ap.add_argument("--instances", default="1,2,4", help="instance counts, comma-separated")
    ap.add_argument("--plot", type=Path, help="a PNG to draw the rounds into (needs matplotlib:"
                                              " pip install -e '.[bench]')")
    a = parse_args(ap, nodes=3, rate=2, seconds=4, instances="1,2")
    result = asyncio.run(main_async(a))
    OUT.mkdir(exist_ok=True)
    (OUT / "scale_nodes.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    if a.plot:
        plot(result, a.plot)


if __name__ == "__main__":
    main()
