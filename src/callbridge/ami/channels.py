"""What Asterisk's channel names say, and how callbridge's click-to-dial lays its channels out.

Every room that reads channel events (the call log, the call events, the dialer's progress) reads
names through here, so the layout is written down once:

- 'PJSIP/309-00000004': an endpoint's channel; endpoints named by 2-10 digits are extensions,
  other endpoints (PJSIP/trunk-…) the outside world.
- A click-to-dial is an Originate of 'Local/<extension>@<ring context>' with ChannelId = the call
  id and OtherChannelId = the call id + RING_LEG_SUFFIX: the ';1' half (uniqueid = call id) dials
  the number once a device answered, the ';2' half (the ring leg) dials the extension's devices.
  Every channel of the call has the call id as its linkedid.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property, lru_cache

_EXTENSION = re.compile(r"^[0-9]{2,10}$")
RING_LEG_SUFFIX = "-2"


def is_extension_name(name: str) -> bool:
    """An extension's name: 2-10 digits."""
    return bool(_EXTENSION.match(name))


@dataclass(frozen=True)
class Channel:
    tech: str
    name: str                 # endpoint name, or the extension of a Local channel
    context: str | None = None
    half: str | None = None   # ';1' / ';2' of a Local channel

    @cached_property  # asked of the same (cached) channel by every room
    def is_extension(self) -> bool:
        return self.tech != "Local" and is_extension_name(self.name)

    @property
    def is_outside(self) -> bool:
        return self.tech != "Local" and not self.is_extension


def parse_channel(text: str | None) -> Channel | None:
    """'PJSIP/309-00000004' -> PJSIP 309; 'Local/309@ring-00000000;2' -> Local 309 @ring ;2."""
    if not text or "/" not in text:
        return None
    return _parsed(text)


# A channel's name comes back in each of its events (Newchannel, Dial*, Hangup, Cdr): parsed once
# while it is up (Channel is immutable, so sharing it is safe).
@lru_cache(maxsize=4096)
def _parsed(text: str) -> Channel:
    tech, rest = text.split("/", 1)
    half = None
    if ";" in rest:
        rest, half = rest.rsplit(";", 1)
    if "-" in rest:
        rest = rest.rsplit("-", 1)[0]  # the channel's sequence suffix
    context = None
    if "@" in rest:
        rest, context = rest.split("@", 1)
    return Channel(tech, rest, context, half)


def ring_leg(call_id: str) -> str:
    """The uniqueid of a click-to-dial's ring leg (the Local ;2 half that dials the devices)."""
    return call_id + RING_LEG_SUFFIX
