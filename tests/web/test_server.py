"""The real server (ApiRunner on a socket): malformed HTTP, clients that hang up, access lines,
and no key in any log line, whatever the path that wrote it."""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass

import pytest
from aiohttp import web

from callbridge.app import create_app
from callbridge.logs import JsonFormatter, redact, setup_logging
from callbridge.web import middleware as mw
from callbridge.web.server import ApiRunner
from tests.conftest import make_settings


@dataclass
class Served:
    port: int
    key: str
    lines: list[str]

    def logs(self) -> list[dict]:
        return [json.loads(line) for line in self.lines]

    async def raw(self, data: bytes, read: bool = True) -> bytes:
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        writer.write(data)
        await writer.drain()
        reply = await asyncio.wait_for(reader.read(65536), 5) if read else b""
        writer.close()
        return reply

    async def settle(self, event: str) -> None:
        for _ in range(100):
            if any(e["event"] == event for e in self.logs()):
                return
            await asyncio.sleep(0.02)


class _Lines(logging.Handler):
    def __init__(self, lines: list[str]):
        super().__init__(logging.DEBUG)
        self.lines = lines
        self.setFormatter(JsonFormatter())

    def emit(self, record):
        self.lines.append(self.format(record))


@pytest.fixture
async def served(tmp_path):
    setup_logging("DEBUG")
    lines: list[str] = []
    handler = _Lines(lines)
    root = logging.getLogger()
    root.addHandler(handler)
    app = create_app(make_settings(tmp_path))
    runner = ApiRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    _, key = await app[mw.ACCOUNT].create_key("acme")
    try:
        yield Served(port, key, lines)
    finally:
        await runner.cleanup()
        root.removeHandler(handler)
        setup_logging("INFO")


def _split(reply: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, body = reply.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (h.partition(":") for h in header_lines)}
    return int(status_line.split(" ")[1]), headers, body


MALFORMED = {
    "control byte in a header": b"GET /health HTTP/1.1\r\nHost: x\r\nx-api-key: {key}\x01\r\n\r\n",
    "NUL in a header": b"GET /health HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\x00\r\n\r\n",
    "headers over the limit": b"GET /health HTTP/1.1\r\nHost: x\r\nx-api-key: {key}\r\nX-Pad: "
                              + b"a" * 20000 + b"\r\n\r\n",
    "a header line over the limit": b"GET /health HTTP/1.1\r\nHost: x\r\nx-api-key: {key}"
                                    + b"b" * 20000 + b"\r\n\r\n",
    "broken request line": b"GET /health?{key} HTTP/1.1 extra\r\nHost: x\r\n\r\n",
    "not HTTP at all": b"\x16\x03\x01\x02\x00{key}\r\n\r\n",
}


@pytest.mark.parametrize("case", MALFORMED)
async def test_malformed_http_is_a_json_400_quoting_nothing(served, case):
    key = served.key.encode()
    reply = await served.raw(MALFORMED[case].replace(b"{key}", key))
    status, headers, body = _split(reply)
    assert 400 <= status < 500 and headers["content-type"].startswith("application/json"), reply[:300]
    err = json.loads(body)
    assert set(err) == {"error", "message"} and key not in reply and b"\\x" not in body
    await served.settle("http.malformed_request")
    logged = [e for e in served.logs() if e["event"] == "http.malformed_request"]
    assert len(logged) == 1 and logged[0]["level"] == "warning" and "exc" not in logged[0]
    assert all(served.key not in line and served.key[16:] not in line for line in served.lines)


async def test_a_client_hanging_up_mid_upload_is_not_a_server_error(served):
    await served.raw(f"POST /contacts/contacts HTTP/1.1\r\nHost: x\r\nx-api-key: {served.key}\r\n"
                     "Content-Type: application/json\r\nContent-Length: 5000\r\n\r\n{\"first"
                     .encode(), read=False)
    await served.settle("http.request")
    entries = served.logs()
    assert [e["level"] for e in entries if e["level"] in ("error", "critical")] == []
    assert not any("exc" in e for e in entries)
    access = [e for e in entries if e["event"] == "http.request"]
    assert [(a["status"], a["level"]) for a in access] == [(499, "info")]


async def test_one_access_line_per_request_with_route_template_and_key_id_never_the_key(served):
    key_id = served.key[3:15]
    base = f"Host: x\r\nx-api-key: {served.key}\r\n"
    await served.raw(f"GET /contacts/contacts/0b1c7a36-aaaa-4bbb-8ccc-000000000000 HTTP/1.1\r\n{base}\r\n".encode())
    await served.raw(b"GET /contacts/contacts HTTP/1.1\r\nHost: x\r\nx-api-key: cb_000000000000_wrong\r\n\r\n")
    await served.raw(b"GET /contacts/contacts HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer not-a-key\r\n\r\n")
    await served.raw(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
    await served.settle("http.request")
    for _ in range(50):
        access = [e for e in served.logs() if e["event"] == "http.request"]
        if len(access) == 4:
            break
        await asyncio.sleep(0.02)
    assert [(a["route"], a["status"], a["level"]) for a in access] == [
        ("/contacts/contacts/{contactId}", 404, "info"),
        ("/contacts/contacts", 403, "warning"),
        ("/contacts/contacts", 403, "warning"),
        ("/health", 200, "debug")]
    assert access[0]["account"] == "acme" and access[0]["key_id"] == key_id
    assert access[1]["client"] == "127.0.0.1" and access[1]["key_id"] is None
    text = "\n".join(served.lines)
    assert served.key not in text and "not-a-key" not in text and "0b1c7a36" not in text


def test_redaction_keeps_only_a_keys_public_id():
    line = json.dumps({"header": "x-api-key: cb_0123456789ab_" + "Z" * 43,
                       "auth": "Authorization: Bearer abc.def-ghi", "exc": "BEARER s3cret,"})
    out = redact(line)
    assert "Z" * 10 not in out and "abc.def" not in out and "s3cret" not in out
    assert "cb_0123456789ab_[redacted]" in out and out.count("[redacted]") == 3
