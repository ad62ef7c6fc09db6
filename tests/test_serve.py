"""`callbridge serve` as an operator runs it: a real process, its startup line, a port in use,
HTTPS with a self-signed certificate, CORS for browser apps."""

from __future__ import annotations

import json
import socket
import ssl
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from callbridge import __version__
from callbridge.app import create_app
from callbridge.db import database_shown
from tests.conftest import make_settings, serve_process
from tests.pg import fresh_database


def _started(proc: subprocess.Popen, timeout: float = 20) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        if '"service.started"' in line:
            return json.loads(line)
    proc.kill()
    raise AssertionError(f"no service.started line; exit {proc.poll()}: {proc.stderr.read()}")


def test_a_port_in_use_is_one_line_and_never_started(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = serve_process(tmp_path, CALLBRIDGE_PORT=str(port))
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 1, err
    assert "service.started" not in err and "Traceback" not in err
    errors = [line for line in err.splitlines() if line.startswith("Error:")]
    assert errors == [f"Error: CALLBRIDGE_PORT: cannot listen on 127.0.0.1:{port}: Address already in use"]


def test_startup_line_names_url_database_ami_and_version(tmp_path, free_port):
    port = free_port()
    proc = serve_process(tmp_path, CALLBRIDGE_PORT=str(port))
    try:
        started = _started(proc)
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    assert started["url"] == f"http://127.0.0.1:{port}" and started["version"] == __version__
    assert started["database"] == database_shown(fresh_database(tmp_path, "cb.db"))
    assert started["ami"] == "disabled"


def test_the_startup_line_names_each_asterisk_node_never_its_secret(tmp_path, free_port):
    port = free_port()
    proc = serve_process(tmp_path, CALLBRIDGE_PORT=str(port),
                         CALLBRIDGE_AMI="pbx1=ami://cb:s3cret1@127.0.0.1:1/x.csv"
                                        " pbx2=ami://cb:s3cret2@127.0.0.1:2")
    try:
        started = _started(proc)
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=20)
    assert started["ami"] == "pbx1=cb@127.0.0.1:1 pbx2=cb@127.0.0.1:2"
    assert "s3cret" not in err


def test_a_database_url_is_shown_without_its_password():
    shown = database_shown("postgresql://cb:s3cret@db.example.net:5433/callbridge")
    assert shown == "postgresql://cb:***@db.example.net:5433/callbridge"
    assert database_shown("postgresql://cb@db/callbridge") == "postgresql://cb@db/callbridge"


@pytest.fixture
def self_signed(tmp_path) -> tuple[Path, Path]:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    return cert, key


def test_https_with_a_self_signed_certificate(tmp_path, self_signed, free_port):
    cert, key = self_signed
    port = free_port()
    proc = serve_process(tmp_path, CALLBRIDGE_PORT=str(port), CALLBRIDGE_TLS_CERT=str(cert),
                  CALLBRIDGE_TLS_KEY=str(key))
    try:
        assert _started(proc)["url"] == f"https://127.0.0.1:{port}"
        trusting = ssl.create_default_context(cafile=str(cert))
        with urllib.request.urlopen(f"https://127.0.0.1:{port}/health", context=trusting,
                                    timeout=10) as reply:
            assert json.load(reply)["status"] == "healthy"
        with pytest.raises(urllib.error.URLError):  # not trusted by default: it is TLS for real
            urllib.request.urlopen(f"https://127.0.0.1:{port}/health", timeout=10)
        with pytest.raises((ConnectionError, urllib.error.URLError, OSError)):  # no plain HTTP
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=10).read()
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_an_unusable_certificate_is_one_line(tmp_path, free_port):
    bad = tmp_path / "bad.pem"
    bad.write_text("not a certificate")
    proc = serve_process(tmp_path, CALLBRIDGE_PORT=str(free_port()), CALLBRIDGE_TLS_CERT=str(bad),
                  CALLBRIDGE_TLS_KEY=str(bad))
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 1 and "service.started" not in err and "Traceback" not in err
    assert [ln for ln in err.splitlines() if ln.startswith("Error:")][0].startswith(
        "Error: CALLBRIDGE_TLS_CERT / CALLBRIDGE_TLS_KEY: cannot load")


CRM = "https://crm.example.com"


@pytest.fixture
async def cors_client(tmp_path):
    app = create_app(make_settings(tmp_path, cors_origins=f"{CRM}, http://localhost:8080"))
    async with TestClient(TestServer(app)) as client:
        from callbridge.web import middleware as mw
        _, key = await app[mw.ACCOUNT].create_key("acme")
        yield client, key


async def test_cors_preflight_and_actual_requests_for_listed_origins_only(cors_client):
    client, key = cors_client
    preflight = await client.options("/dialer/call", headers={
        "Origin": CRM, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "x-api-key, content-type"})
    assert preflight.status == 200, await preflight.text()
    assert preflight.headers["Access-Control-Allow-Origin"] == CRM
    assert "Access-Control-Allow-Credentials" not in preflight.headers
    allowed = {h.strip().lower() for h in preflight.headers["Access-Control-Allow-Headers"].split(",")}
    assert {"x-api-key", "content-type"} <= allowed
    actual = await client.get("/contacts/contacts", headers={"Origin": CRM, "x-api-key": key})
    assert actual.status == 200 and actual.headers["Access-Control-Allow-Origin"] == CRM
    assert "RATELIMIT-REMAINING" in actual.headers["Access-Control-Expose-Headers"].upper()
    # an origin not listed gets no CORS headers (the browser blocks it), never a wildcard
    other = await client.options("/dialer/call", headers={
        "Origin": "https://evil.example", "Access-Control-Request-Method": "POST"})
    assert other.status == 403 and "Access-Control-Allow-Origin" not in other.headers
    plain = await client.get("/contacts/contacts", headers={"Origin": "https://evil.example",
                                                            "x-api-key": key})
    assert "Access-Control-Allow-Origin" not in plain.headers


async def test_no_cors_unless_configured(api):
    resp = await api.client.options("/dialer/call", headers={
        "Origin": CRM, "Access-Control-Request-Method": "POST"})
    assert "Access-Control-Allow-Origin" not in resp.headers and resp.status in (401, 405)


@pytest.mark.parametrize("host,reason", [("no.such.host.invalid", None),
                                         ("192.0.2.77", "Cannot assign requested address")])
def test_a_host_it_cannot_listen_on_is_named_as_the_host(tmp_path, free_port, host, reason):
    """A host that doesn't resolve, or an address not this machine's, was reported as
    CALLBRIDGE_PORT's fault (issue 22 §6)."""
    port = free_port()
    proc = serve_process(tmp_path, CALLBRIDGE_PORT=str(port), CALLBRIDGE_HOST=host)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 1, err
    errors = [line for line in err.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and errors[0].startswith(
        f"Error: CALLBRIDGE_HOST: cannot listen on {host}:{port}: "), errors
    assert reason is None or errors[0].endswith(reason), errors
