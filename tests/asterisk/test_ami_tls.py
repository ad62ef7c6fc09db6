"""AMI over TLS (issue 22 §6): for an Asterisk on another box, manager.conf's `tlsenable` and
callbridge's `amis://` (or CALLBRIDGE_AMI_TLS=true), with the certificate checked against
CALLBRIDGE_AMI_TLS_CA, as docs/scale-out.md tells an operator. On the bench's own Asterisk:
its manager.conf gets a TLS listener for the test (and loses it after), with a certificate from
a throwaway CA made here with openssl."""

from __future__ import annotations

import asyncio
import re
import socket
import subprocess
import time
from pathlib import Path

import pytest

from callbridge.app import AMI_LINK
from tests.asterisk.conftest import callbridge_on, wait_until
from tests.asterisk.pbx import free_port
from tests.asterisk.test_calllog import _rows, _since


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=60)


def _ca(folder: Path, name: str) -> tuple[Path, Path]:
    key, cert = folder / f"{name}-ca.key", folder / f"{name}-ca.pem"
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
             f"/CN={name} test CA", "-keyout", str(key), "-out", str(cert))
    return key, cert


def _server_cert(folder: Path, ca_key: Path, ca_cert: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 (an IP subjectAltName: what the client checks the host by)."""
    key, csr, cert = folder / "ami.key", folder / "ami.csr", folder / "ami.pem"
    ext = folder / "ami.ext"
    ext.write_text("subjectAltName = IP:127.0.0.1\n")
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
             "-keyout", str(key), "-out", str(csr))
    _openssl("x509", "-req", "-in", str(csr), "-CA", str(ca_cert), "-CAkey", str(ca_key),
             "-CAcreateserial", "-days", "2", "-extfile", str(ext), "-out", str(cert))
    return key, cert


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture
def tls_ami(running_pbx, tmp_path):
    """The bench's manager.conf with a TLS listener (tlsenable, tlsbindaddr, the certificate):
    yields (its port, the CA that signed it, a CA that did not)."""
    pbx = running_pbx
    certs = pbx.root / f"ami-tls-{time.monotonic_ns()}"
    certs.mkdir()
    ca_key, ca_cert = _ca(certs, "bench")
    _, stranger = _ca(certs, "stranger")
    key, cert = _server_cert(certs, ca_key, ca_cert)
    conf = pbx.etc / "manager.conf"
    original = conf.read_text()
    port = free_port()
    conf.write_text(re.sub(r"(?m)^\[general\]\n", "[general]\ntlsenable = yes\n"
                           f"tlsbindaddr = 127.0.0.1:{port}\ntlscertfile = {cert}\n"
                           f"tlsprivatekey = {key}\n", original, count=1))
    try:
        pbx.cli("manager reload")
        wait_until(lambda: _listening(port), 10, f"Asterisk's AMI TLS listener on {port}")
        yield port, ca_cert, stranger
    finally:
        conf.write_text(original)
        pbx.cli("manager reload")


async def test_calls_are_logged_over_a_tls_ami_link_checked_against_its_ca(running_pbx, tls_ami,
                                                                           tmp_path):
    pbx = running_pbx
    port, ca, _ = tls_ami
    since = _since()
    # no Master.csv: the row can only come from the Cdr event over the TLS link
    async with callbridge_on(pbx, tmp_path / "cb.db", ami_tls=True, ami_port=port, ami_tls_ca=ca,
                             cdr_csv=None) as api:
        status = api.app[AMI_LINK].status()
        assert status.state == "online" and status.asterisk_version, status
        assert await asyncio.to_thread(pbx.call_in, "5557770001", "309", talk_ms=300) == 0
        [row] = await _rows(api, since, timeout=15.0, number="5557770001")
        assert (row["direction"], row["disposition"], row["cidext_inside"]) == (
            "INCOMING", "ANSWERED", "309")


async def test_a_certificate_from_another_ca_is_refused_and_said(running_pbx, tls_ami, tmp_path):
    """A man in the middle (or a misconfigured CA) gets no login: the link stays offline and its
    status says the certificate failed, rather than sending the AMI secret to it."""
    pbx = running_pbx
    port, _, stranger = tls_ami
    async with callbridge_on(pbx, tmp_path / "cb.db", wait_online=False, ami_tls=True,
                             ami_port=port, ami_tls_ca=stranger, cdr_csv=None) as api:
        link = api.app[AMI_LINK]
        assert not await link.wait_online(3)
        status = link.status()
        assert status.state != "online"
        assert "CERTIFICATE_VERIFY_FAILED" in (status.last_error or ""), status
