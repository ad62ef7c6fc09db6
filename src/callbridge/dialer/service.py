"""Click-to-dial: the rules between a dial request and one Originate.

Only two values from a request ever reach AMI: the extension, after it is found in the caller's
account, and the number, after it is reduced to digits with an optional leading '+'. The name the
ringing devices show comes from the contacts store and is filtered too.
"""

from __future__ import annotations

import logging
import uuid
from collections import Counter
from dataclasses import dataclass
from typing import Protocol

from callbridge.accounts.extensions import ExtensionService
from callbridge.accounts.models import Account
from callbridge.ami.channels import ring_leg
from callbridge.ami.link import (
    AmiError,
    AmiLink,
    AmiLinkLost,
    AmiTimeout,
    AmiUnavailable,
)
from callbridge.contacts.lookup import ContactLookup
from callbridge.dialer.devices import ReachableDevices
from callbridge.dialer.models import CallProgress, DialAccepted, DialRequest
from callbridge.dialer.numbers import dialable, display_name
from callbridge.dialer.tracker import CallTracker
from callbridge.errors import Conflict, DomainError, InvalidInput, NotFound, Unavailable
from callbridge.logs import event

log = logging.getLogger("callbridge.dialer")


class DialFailed(DomainError):
    """Asterisk refused the Originate or did not answer: the seed's 500 'Internal error'."""

    status = 500
    error = "Dialer error"

    def __init__(self, details: str):
        super().__init__("Internal error", details=details)


# A refused click's status -> its outcome label in the metrics
_OUTCOMES = {400: "invalid", 409: "no_devices", 503: "pbx_unavailable"}


def _unavailable(message: str) -> Unavailable:
    return Unavailable(message, error="Dialer service unavailable")


class DialRecorder(Protocol):
    """Told of each click-to-dial once Asterisk took it (the node's call log: the number a
    click dialled is on no channel of the call's first leg)."""

    async def record_dial(self, call_id: str, account: Account, extension: str,
                          number: str) -> None: ...


@dataclass(frozen=True)
class DialNode:
    """What the dialer needs of one Asterisk node: its link, its devices, who records its clicks."""

    link: AmiLink
    devices: ReachableDevices
    recorder: DialRecorder | None = None


class DialerService:
    def __init__(self, extensions: ExtensionService, contacts: ContactLookup,
                 tracker: CallTracker, *, nodes: dict[str, DialNode], default_node: str,
                 ring_context: str, outbound_context: str, originate_timeout: float,
                 action_timeout: float, stored_progress=None):
        # each extension is dialled on the node serving it (Extension.node; None: the first)
        self.nodes = nodes
        self.default_node = default_node
        # (account id, call id) -> the call's last stored dial.progress: a call another instance
        # dialled (the journal is shared on PostgreSQL); None: only this process's calls
        self.stored_progress = stored_progress
        self.extensions = extensions
        self.contacts = contacts
        self.tracker = tracker
        self.ring_context = ring_context
        self.outbound_context = outbound_context
        self.originate_timeout = originate_timeout
        self.action_timeout = action_timeout
        self.outcomes: Counter[str] = Counter()

    @property
    def link(self) -> AmiLink:
        """The first node's link (the only one, unless CALLBRIDGE_AMI lists several)."""
        return self.nodes[self.default_node].link

    async def dial(self, account: Account, request: DialRequest) -> DialAccepted:
        """One click-to-dial; its outcome is counted (callbridge_originates_total)."""
        try:
            accepted = await self._dial(account, request)
        except DomainError as exc:
            self.outcomes[_OUTCOMES.get(exc.status, "failed")] += 1
            raise
        self.outcomes["queued"] += 1
        return accepted

    async def _dial(self, account: Account, request: DialRequest) -> DialAccepted:
        ext = await self.extensions.of_account_now(account, request.extension)
        if ext is None:
            raise InvalidInput("invalid extension", field="extension", error="Invalid extension")
        number = dialable(request.phonenumber)
        node = self.nodes.get(ext.node or self.default_node)
        if node is None:
            raise _unavailable(f"extension {ext.extension} is served by Asterisk node {ext.node!r},"
                               " which CALLBRIDGE_AMI doesn't list")
        link = node.link
        if not link.online:
            state = link.status().state
            if state == "login_failed":
                raise _unavailable("PBX login refused: Asterisk rejected callbridge's AMI user or"
                                   " secret (CALLBRIDGE_AMI_USERNAME / CALLBRIDGE_AMI_SECRET)")
            raise _unavailable(f"the PBX link is {state}")
        try:
            devices = await node.devices.contacts(ext.extension)
        except (AmiUnavailable, AmiLinkLost) as exc:
            raise _unavailable(str(exc)) from None
        except AmiError as exc:
            raise DialFailed(f"device check failed: {exc}") from None
        if not devices and not ext.mobile:
            raise Conflict("no devices", error="No devices", extension=ext.extension)

        found = await self.contacts.name_for(account.id, account.region, number)
        show_name = display_name(found[0]) if found else ""
        call_id = str(uuid.uuid4())
        variables = {"CB_CALL_ID": call_id, "CB_MOBILE": ext.mobile or "",
                     "CB_SHOW_NAME": show_name or number, "CB_SHOW_NUMBER": number.lstrip("+"),
                     "CDR(userfield)": call_id}
        self.tracker.start(call_id, account.id, ext.extension, number,
                           node=ext.node or self.default_node)
        originate = {
            "Action": "Originate", "Channel": f"Local/{ext.extension}@{self.ring_context}",
            "Context": self.outbound_context, "Exten": number, "Priority": "1",
            "CallerID": f"<{ext.extension}>", "Account": f"cb-{account.id}",
            "Timeout": str(int(self.originate_timeout * 1000)), "Async": "true",
            "ChannelId": call_id, "OtherChannelId": ring_leg(call_id),
            "Variable": [f"{k}={v}" for k, v in variables.items()],
        }
        try:
            await link.action(originate, first_answer_only=True, timeout=self.action_timeout,
                                   on_final=lambda msg: self.tracker.on_originate_response(call_id, msg))
        except AmiUnavailable as exc:
            self.tracker.fail(call_id, "PBX link unavailable")
            raise _unavailable(str(exc)) from None
        except AmiLinkLost:
            # Sent, but the link died before Asterisk confirmed: it is never re-sent, so this
            # click can not ring twice. The client may retry.
            self.tracker.fail(call_id, "PBX link lost before the call was confirmed; not re-sent")
            raise _unavailable("the PBX link was lost before Asterisk confirmed the call;"
                               " it was not dialled and will not be re-sent") from None
        except AmiTimeout as exc:
            self.tracker.fail(call_id, "no answer from the PBX")
            raise DialFailed(str(exc)) from None
        except AmiError as exc:
            self.tracker.fail(call_id, "rejected by the PBX")
            raise DialFailed(str(exc)) from None
        if node.recorder is not None:  # after the Originate: not on the click's critical path
            await node.recorder.record_dial(call_id, account, ext.extension, number)
        event(log, "dial.queued", call_id=call_id, account=account.name, extension=ext.extension,
              number=number, contact=bool(found))
        return DialAccepted(call_id=call_id)

    async def progress(self, account: Account, call_id: str) -> CallProgress:
        call = self.tracker.get(call_id, account.id)
        if call is not None:
            return call.view()
        if self.stored_progress is not None:  # (the store refuses what can't be a call id)
            stored = await self.stored_progress(account.id, call_id)
            if stored is not None:
                return CallProgress.model_validate(stored)
        raise NotFound(f"no call {call_id[:64]!r} in this account (a call_id POST /dialer/call"
                       " returned)", error="Call not found")
