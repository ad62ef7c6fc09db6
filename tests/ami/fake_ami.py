"""A tiny AMI server for the faults a real Asterisk can't be made to produce: garbage bytes and
frames split at arbitrary points. Everything else is tested against the real Asterisk."""

from __future__ import annotations

import asyncio


class FakeAmi:
    def __init__(self, secret: str = "s3cret"):
        self.secret = secret
        self.writers: list[asyncio.StreamWriter] = []
        self.actions: list[dict] = []
        self.server: asyncio.AbstractServer | None = None
        self.port = 0
        # Asterisk never interleaves two frames: a torn frame is sent whole before any reply.
        self._wire = asyncio.Lock()
        self.unanswered: set[str] = set()  # lower-case action names to receive but never answer

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._client, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        for w in self.writers:
            w.close()
        if self.server:
            self.server.close()
            await self.server.wait_closed()

    async def send_raw(self, data: bytes, *, pieces: int = 1, pause: float = 0.0) -> None:
        """Writes data to every client, optionally cut into pieces with pauses between."""
        size = max(1, len(data) // pieces)
        async with self._wire:
            await self._send_pieces(data, size, pause)

    async def _send_pieces(self, data: bytes, size: int, pause: float) -> None:
        for i in range(0, len(data), size):
            for w in self.writers:
                w.write(data[i:i + size])
                await w.drain()
            if pause:
                await asyncio.sleep(pause)

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.append(writer)
        writer.write(b"Asterisk Call Manager/5.0.4\r\n")
        try:
            while True:
                block = await reader.readuntil(b"\r\n\r\n")
                fields = dict(line.split(": ", 1) for line in block.decode().strip().split("\r\n")
                              if ": " in line)
                self.actions.append(fields)
                async with self._wire:
                    await self._answer(writer, fields)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass

    async def _answer(self, writer: asyncio.StreamWriter, fields: dict) -> None:
        action, aid = fields.get("Action", "").lower(), fields.get("ActionID", "")
        if action in self.unanswered:
            return
        if action == "login":
            ok = fields.get("Secret") == self.secret
            writer.write(f"Response: {'Success' if ok else 'Error'}\r\nActionID: {aid}\r\n"
                         f"Message: Authentication {'accepted' if ok else 'failed'}\r\n\r\n".encode())
            if ok:
                writer.write(b"Event: FullyBooted\r\nPrivilege: system,all\r\nStatus: Fully Booted\r\n\r\n")
        elif action == "ping":
            writer.write(f"Response: Success\r\nActionID: {aid}\r\nPing: Pong\r\n\r\n".encode())
        elif action == "coresettings":
            writer.write(f"Response: Success\r\nActionID: {aid}\r\nAsteriskVersion: 16.0-fake\r\n\r\n".encode())
        else:
            writer.write(f"Response: Success\r\nActionID: {aid}\r\n\r\n".encode())
        await writer.drain()
