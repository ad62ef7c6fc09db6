"""The bench's SIPp media ports: SIPp binds the port it is given and that port + 2, so both must
be free (CI once saw SIPp exit 254 when only the first had been checked)."""

from __future__ import annotations

import socket
from contextlib import ExitStack

from tests.asterisk.pbx import MEDIA_PORTS, free_media_port


def test_a_media_port_is_given_only_when_its_video_port_is_free_too():
    keep = MEDIA_PORTS[len(MEDIA_PORTS) // 2]
    with ExitStack() as held:
        for port in MEDIA_PORTS:
            if port == keep:
                continue
            s = held.enter_context(socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
            try:
                s.bind(("127.0.0.1", port + 2))   # the video port only: the audio port is free
            except OSError:
                pass                              # something real holds it: just as good
        assert {free_media_port() for _ in range(3)} == {keep}


def test_media_ports_are_taken_in_turn_not_handed_out_twice_in_a_row():
    picks = [free_media_port() for _ in range(20)]
    assert len(set(picks)) == 20 and all(p % 2 == 0 for p in picks)
