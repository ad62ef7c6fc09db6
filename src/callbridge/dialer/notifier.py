"""The dialer's events: each state a click-to-dial reaches goes out as dial.progress (its data
is dialer.models.CallProgress, in the events room's catalogue). The dialer publishes them itself,
through whatever publishes events (the app hands it the journal's publish), so it never imports
the events room, which imports the dialer's model for its catalogue."""

from __future__ import annotations

from typing import Protocol

from pydantic import BaseModel

from callbridge.dialer.tracker import TrackedCall

PROGRESS = "dial.progress"


class Publish(Protocol):
    def __call__(self, account_id: int, type_: str, data: BaseModel, *,
                 extension: str | None) -> None: ...


class DialNotifier:
    def __init__(self, publish: Publish):
        self.publish = publish

    def progress(self, call: TrackedCall) -> None:
        """The tracker's on_change: the state the call just reached."""
        self.publish(call.account_id, PROGRESS, call.view(), extension=call.extension)
