"""What the events room publishes of a call, one method per event type: each builds the event
from its catalogue model (events.models) and hands it to the journal. CallEvents decides *when*
(from the node's call model); this says *what goes out*: the type, the account, the extension
it is filtered by, Asterisk's time, and for the events that show the outside party, its
contact card.

A method returns None when the event went out at once, or an awaitable when it waits for a
contact lookup (CallEvents queues later events behind it, so they keep Asterisk's order)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable

from callbridge.accounts.extensions import Extension
from callbridge.contacts.lookup import ContactLookup
from callbridge.events.journal import EventJournal, draft
from callbridge.events.models import (
    CallAnswered,
    CallRinging,
    CallTaken,
    CallTransferred,
    ContactCard,
    DeviceState,
)

log = logging.getLogger("callbridge.events")


class CallNotifier:
    def __init__(self, journal: EventJournal, contacts: ContactLookup):
        self.journal = journal
        self.contacts = contacts

    def ringing(self, owner: Extension, data: CallRinging, at: str | None) -> Awaitable[None] | None:
        if data.number:
            return self._with_card(owner, "call.ringing", data, at)
        self._emit(owner.account_id, "call.ringing", data, at)
        return None

    def answered(self, owner: Extension, data: CallAnswered, at: str | None) -> None:
        self._emit(owner.account_id, "call.answered", data, at)

    def taken(self, owner: Extension, data: CallTaken, at: str | None) -> None:
        self._emit(owner.account_id, "call.taken", data, at)

    def transferred(self, owner: Extension, data: CallTransferred,
                    at: str | None) -> Awaitable[None] | None:
        if data.number:
            return self._with_card(owner, "call.transferred", data, at)
        self._emit(owner.account_id, "call.transferred", data, at)
        return None

    def device_state(self, owner: Extension, data: DeviceState, at: str | None) -> None:
        self._emit(owner.account_id, "device.state", data, at)

    def _emit(self, account_id: int, type_: str,
              data: CallRinging | CallAnswered | CallTaken | CallTransferred | DeviceState,
              at: str | None) -> None:
        self.journal.emit(draft(account_id, type_, data, extension=data.extension, at=at))

    async def _with_card(self, owner: Extension, type_: str, data: CallRinging | CallTransferred,
                         at: str | None) -> None:
        """The event stored with the outside number's contact card (without one when the
        lookup fails: the event goes out rather than not at all)."""
        card = None
        try:
            card = await self.contacts.card_for(owner.account_id, owner.region, data.number or "")
        except Exception:
            log.warning("events.card_lookup_failed", exc_info=True)
        contact = ContactCard.model_validate(card) if card else None
        self._emit(owner.account_id, type_, data.model_copy(update={"contact": contact}), at)
