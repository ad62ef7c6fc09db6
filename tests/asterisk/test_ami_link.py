"""The AMI adapter against the real Asterisk: refused login, failing handlers, a frozen PBX."""

from __future__ import annotations

import asyncio
import logging
import os
import signal

import pytest

from callbridge.ami.link import AmiLink, AmiSettings, AmiUnavailable
from callbridge.app import AMI_LINK


def _link(pbx, secret=None, **kw) -> AmiLink:
    return AmiLink(AmiSettings("127.0.0.1", pbx.ami_port, pbx.ami_username,
                               pbx.ami_secret if secret is None else secret,
                               ping_interval=0.3, action_timeout=1.0, reconnect_max=0.5, **kw))


async def _until(predicate, timeout: float, what: str):
    for _ in range(int(timeout / 0.05)):
        if predicate():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


async def test_refused_login_is_reported_not_silently_ignored(running_pbx):
    link = _link(running_pbx, secret="wrong")
    link.start()
    try:
        await _until(lambda: link.status().state == "login_failed", 5, "login_failed")
        assert "login refused" in link.status().last_error
        assert "wrong" not in link.status().last_error
        with pytest.raises(AmiUnavailable):
            await link.action({"Action": "Ping"})
    finally:
        await link.close()


async def test_a_refused_login_is_one_error_line_a_health_state_and_the_dialers_503(
        running_pbx, tmp_path, caplog):
    from tests.asterisk.conftest import callbridge_on

    caplog.set_level(logging.INFO, logger="callbridge")
    async with callbridge_on(running_pbx, tmp_path / "cb.db", wait_online=False,
                             ami_secret="not-the-secret", ami_reconnect_max=0.2) as api:
        link = api.app[AMI_LINK]
        await _until(lambda: link.status().connects == 0 and link.status().state == "login_failed",
                     5, "login_failed")
        await asyncio.sleep(1.5)  # several retries at 0.2 s: still one line, one state
        health = await api.ok("GET", "/health", account=None)
        assert health["pbx"] == "login_failed"
        status, body = await api.call("POST", "/dialer/call",
                                      json={"extension": "309", "phonenumber": "15808675309"})
        assert status == 503 and body["message"].startswith("PBX login refused"), body
    refused = [r for r in caplog.records if r.getMessage() == "ami.login_refused"]
    assert len(refused) == 1 and refused[0].levelno == logging.ERROR
    assert refused[0].fields["username"] == running_pbx.ami_username
    assert refused[0].fields["port"] == running_pbx.ami_port
    states = [r.fields["state"] for r in caplog.records if r.getMessage() == "ami.state"]
    assert states == ["connecting", "login_failed"], states
    assert "not-the-secret" not in caplog.text


async def test_a_failing_handler_neither_drops_the_link_nor_starves_the_others(running_pbx):
    link = _link(running_pbx)
    seen: list[str] = []

    def broken(event):
        raise RuntimeError("handler bug")

    async def broken_async(event):
        raise RuntimeError("async handler bug")

    link.on("*", broken)
    link.on("Newchannel", broken_async)
    link.on("Newchannel", lambda e: seen.append(e["Channel"]))
    link.start()
    try:
        assert await link.wait_online(5)
        connects = link.status().connects
        # an Originate towards 310 (no devices) makes Newchannel/Hangup events and fails fast
        await link.action({"Action": "Originate", "Channel": "Local/310@callbridge-ring",
                           "Context": "callbridge-outbound", "Exten": "15550001", "Priority": "1",
                           "Async": "true"}, first_answer_only=True)
        await _until(lambda: any(c.startswith("Local/310@") for c in seen), 5, "Newchannel events")
        await asyncio.sleep(0.5)
        assert link.online and link.status().connects == connects
        assert (await link.action({"Action": "Ping"}))["Response"] == "Success"
    finally:
        await link.close()


async def test_a_frozen_pbx_is_detected_by_unanswered_pings_and_the_link_recovers(running_pbx):
    pbx = running_pbx
    link = _link(pbx)
    link.start()
    try:
        assert await link.wait_online(5)
        os.kill(pbx.proc.pid, signal.SIGSTOP)  # the socket stays open; nothing answers
        try:
            await _until(lambda: not link.online, 3, "the ping watchdog to drop the link")
            assert "ping unanswered" in link.status().last_error
        finally:
            os.kill(pbx.proc.pid, signal.SIGCONT)
        assert await link.wait_online(5), link.status()
        assert (await link.action({"Action": "Ping"}))["Response"] == "Success"
    finally:
        await link.close()
