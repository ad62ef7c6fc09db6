"""A tiny AMI server that replays a recorded event stream at full speed, for calllog_replay.py.

    python bench/ami_replay_server.py STREAM PORT REPEAT

Each client gets a banner and answers to Login, Ping, CoreSettings and CoreShowChannels; 0.3 s
after logging in it receives the stream REPEAT times, every call's ids suffixed with the round
(-r0, -r1 …) so each round is new calls rather than a replay the call log would ignore.
"""

import asyncio
import re
import sys

IDS = re.compile(rb"^(Uniqueid|Linkedid|UniqueID|LinkedID|DestUniqueid|DestLinkedid|ChannelId): (\S+)\r$",
                 re.MULTILINE)


def frame_fields(frame: str) -> dict[str, str]:
    """An AMI frame's headers (an action sent to these servers, an event recorded): lines without
    ': ' skipped, a repeated header's last value kept."""
    return dict(line.split(": ", 1) for line in frame.strip().split("\r\n") if ": " in line)


def call_frames(stream: bytes) -> bytes:
    """The recorded frames minus FullyBooted (Asterisk greets each new session with one)."""
    frames = stream.split(b"\r\n\r\n")
    return b"".join(f + b"\r\n\r\n" for f in frames if f and b"Event: FullyBooted" not in f)


TIMES = re.compile(rb"^(Timestamp|StartEpoch|AnswerEpoch|EndEpoch): ([0-9.]+)\r$", re.MULTILINE)


def rounds(stream: bytes, repeat: int) -> bytes:
    """REPEAT copies of the calls, each with its own ids and later in time, as a PBX would send
    them: the call log's grace runs on event timestamps, so replayed time must move forward."""
    stream = call_frames(stream)
    stamps = [float(value) for _, value in TIMES.findall(stream) if float(value) > 0]
    span = (max(stamps) - min(stamps) + 5.0) if stamps else 0.0

    def shift(k: int):
        def at(m):
            value = float(m.group(2))
            return m.group(1) + b": " + (b"%.6f" % (value + k * span) if value > 0 else m.group(2)) + b"\r"
        return at

    out = []
    for k in range(repeat):
        text = IDS.sub(lambda m: m.group(1) + b": " + m.group(2) + b"-r%d\r" % k, stream)
        out.append(TIMES.sub(shift(k), text))
    return b"".join(out)


async def serve(stream: bytes, port: int) -> None:
    async def client(reader, writer):
        writer.write(b"Asterisk Call Manager/5.0.4\r\n")
        try:
            while True:
                block = (await reader.readuntil(b"\r\n\r\n")).decode()
                fields = frame_fields(block)
                action, aid = fields.get("Action", "").lower(), fields.get("ActionID", "")
                if action == "login":
                    writer.write(f"Response: Success\r\nActionID: {aid}\r\nMessage: Authentication accepted\r\n\r\n"
                                 "Event: FullyBooted\r\nPrivilege: system,all\r\nStatus: Fully Booted\r\n\r\n".encode())
                    asyncio.get_running_loop().call_later(0.3, writer.write, stream)
                elif action == "coreshowchannels":
                    writer.write(f"Response: Success\r\nActionID: {aid}\r\nEventList: start\r\nMessage: Channels will follow\r\n\r\n"
                                 f"Event: CoreShowChannelsComplete\r\nActionID: {aid}\r\nEventList: Complete\r\nListItems: 0\r\n\r\n".encode())
                elif action == "coresettings":
                    writer.write(f"Response: Success\r\nActionID: {aid}\r\nAsteriskVersion: 16.28-replay\r\n\r\n".encode())
                else:
                    writer.write(f"Response: Success\r\nActionID: {aid}\r\nPing: Pong\r\n\r\n".encode())
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass

    server = await asyncio.start_server(client, "127.0.0.1", port)
    print("ready", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    path, port, repeat = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    asyncio.run(serve(rounds(open(path, "rb").read(), repeat), port))
