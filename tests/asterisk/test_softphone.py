"""A real softphone, not SIPp: baresip (Debian's baresip-core, a common Linux SIP client)
registers as a third device of 309 with the settings docs/operator.md gives (user 309, its
EXT_309_SECRET, the SIP_BIND address and port), and a click-to-dial rings it, showing the
contact's name. Runs last on the shared bench, and unregisters when it quits."""

from __future__ import annotations

import asyncio
import re
import shutil
import socket
import subprocess
import time

import pytest

from tests.asterisk.conftest import callbridge_on, wait_until
from tests.asterisk.pbx import free_port, stop_process
from tests.conftest import unavailable
from tests.reaper import spawn


def _registered(pbx, port: int) -> bool:
    """baresip's own contact (its listening port), not a count of 309's contacts: a bench phone
    that an earlier test stopped can unregister or expire meanwhile and hide a new one."""
    contacts = re.findall(r"Contact:\s+309/(\S+)", pbx.cli("pjsip show contacts like 309"))
    return any(f"127.0.0.1:{port}" in contact for contact in contacts)


@pytest.fixture
def baresip(running_pbx, tmp_path):
    if shutil.which("baresip") is None:
        unavailable("baresip missing: sudo scripts/install-asterisk.sh (baresip-core)")
    pbx = running_pbx
    conf = tmp_path / "baresip"
    conf.mkdir()
    port = free_port(socket.SOCK_DGRAM)
    (conf / "config").write_text(
        f"poll_method epoll\nsip_listen 127.0.0.1:{port}\n"
        "module_path /usr/lib/baresip/modules\n"
        "module stdio.so\nmodule g711.so\nmodule ausine.so\nmodule aufile.so\n"
        "module_app account.so\nmodule_app menu.so\n"
        f"audio_player aufile,{tmp_path / 'heard.wav'}\naudio_source ausine,440\n"
        "audio_alert aufile,/dev/null\n")
    # what docs/operator.md tells a user: server, user 309, its password
    (conf / "accounts").write_text(
        f"<sip:309@127.0.0.1:{pbx.sip_port};transport=udp>"
        f";auth_pass={pbx.ext_secrets['309']};regint=300\n")
    log = open(tmp_path / "baresip.log", "w")
    proc = spawn(["baresip", "-f", str(conf)], stdin=subprocess.PIPE, stdout=log,
                 stderr=subprocess.STDOUT)
    try:
        try:
            wait_until(lambda: _registered(pbx, port), 20, "baresip registered as 309")
        except AssertionError as timeout:
            raise AssertionError(f"{timeout}\n{(tmp_path / 'baresip.log').read_text()[-2000:]}"
                                 f"\n{pbx.cli('pjsip show contacts like 309')}") from None
        yield proc, tmp_path / "baresip.log"
    finally:
        stop_process(proc, grace=5)  # SIGTERM: baresip unregisters on its way out
        log.close()
        try:
            wait_until(lambda: not _registered(pbx, port), 10, "baresip unregistered")
        finally:
            pbx.cli("pjsip qualify 309")


async def test_a_real_softphone_registers_and_rings_on_click_to_dial(running_pbx, baresip,
                                                                     tmp_path):
    pbx = running_pbx
    proc, log = baresip
    async with callbridge_on(pbx, tmp_path / "cb.db") as api:
        await api.ok("POST", "/contacts/contacts", json={"firstname": "Jenny", "lastname": "Tutone",
                                                         "mobile_phone": "+1 580 867 5309"})
        call = await api.ok("POST", "/dialer/call", json={"extension": "309",
                                                          "phonenumber": "15808675309"})
        await asyncio.to_thread(wait_until, lambda: "Incoming call" in log.read_text(), 10,
                                "baresip ringing")
        text = log.read_text()
        assert "Jenny Tutone" in text, text[-2000:]
        deadline = time.monotonic() + 30
        while (await api.ok("GET", f"/dialer/calls/{call['call_id']}"))["state"] != "ended":
            assert time.monotonic() < deadline
            await asyncio.sleep(0.3)
