"""Presence: the board folded from a node's call model (ringing while a device of the extension
rings, busy while one talks or the extension calls out, idle when it hangs up; a reconnect drops
calls that ended meanwhile), and GET /presence joining it with the devices that can ring."""

from __future__ import annotations

from callbridge.ami.calls import CallModel
from callbridge.ami.link import AmiUnavailable
from callbridge.presence import routes as presence_routes
from callbridge.presence.board import BUSY, RINGING, PresenceBoard
from tests.ami.test_calls import RING, _inbound


def _fed(events: list[dict]) -> tuple[CallModel, PresenceBoard, list]:
    """The model and board after each event: (model, board, [states after each event])."""
    model, board = CallModel("default", RING), PresenceBoard()
    model.subscribe(board)
    seen = []
    for ev in events:
        model.feed(ev)
        seen.append(board.states())
    return model, board, seen


def test_an_inbound_call_rings_then_busies_then_frees_the_extension():
    _, board, seen = _fed(_inbound())
    # Newchannel x3: nothing yet; DialBegin x2: ringing; one DialEnd CANCEL: still ringing on
    # the other; DialEnd ANSWER: busy; hangups: busy until the answering device leaves
    assert seen == [{}, {}, {}, {"309": RINGING}, {"309": RINGING}, {"309": RINGING},
                    {"309": BUSY}, {"309": BUSY}, {}, {}]
    assert board.state_of("309") is None


def test_an_extension_calling_out_is_busy_until_its_channel_leaves():
    lid = "200.1"
    _, board, seen = _fed([
        {"Event": "Newchannel", "Channel": "PJSIP/310-00000009", "Uniqueid": lid,
         "Linkedid": lid, "CallerIDNum": "310", "Exten": "5551234"},
        {"Event": "Newchannel", "Channel": "PJSIP/trunk-0000000a", "Uniqueid": lid + "2",
         "Linkedid": lid},
        {"Event": "Hangup", "Uniqueid": lid + "2", "Linkedid": lid},
        {"Event": "Hangup", "Uniqueid": lid, "Linkedid": lid},
    ])
    assert seen == [{"310": BUSY}, {"310": BUSY}, {"310": BUSY}, {}]


def test_a_reconnect_drops_what_ended_while_the_link_was_down():
    model, board, _ = _fed(_inbound()[:7])  # 309 answered, then the link went down
    assert board.state_of("309") == BUSY
    model.replace([])  # the snapshot after the reconnect: no channel up
    assert board.states() == {}
    model, board, _ = _fed(_inbound()[:4])
    board.reconciled(None)  # no snapshot could be taken: nothing known is sure
    assert board.states() == {}


class _Devices:
    """The dialer's reachable devices as presence asks them: dial strings per extension."""

    def __init__(self, known: dict[str, str], down: bool = False):
        self.known, self.down = known, down

    async def contacts(self, extension: str) -> str:
        if self.down:
            raise AmiUnavailable("AMI link is connecting")
        return self.known.get(extension, "")


async def test_presence_joins_devices_and_calls_per_extension(api):
    app = api.app
    extensions = app[presence_routes.SERVICE].extensions
    for number, name in (("309", "Front desk"), ("310", "Back office"), ("311", None)):
        await extensions.add("acme", number, name=name)
    await extensions.add("globex", "320")
    _, board, _ = _fed(_inbound()[:4])  # 309 ringing on the node
    devices = _Devices({"309": "PJSIP/309/sip:a&PJSIP/309/sip:b", "310": "PJSIP/310/sip:c"})
    # the node's parts as this test sets them (no PBX here): its devices and its board
    app[presence_routes.SERVICE].nodes = {"default": (devices, board)}
    listed = await api.ok("GET", "/presence")
    assert listed == [
        {"extension": "309", "name": "Front desk", "state": "ringing", "devices": 2},
        {"extension": "310", "name": "Back office", "state": "available", "devices": 1},
        {"extension": "311", "name": None, "state": "offline", "devices": 0},
    ]
    # another account sees only its own
    assert [p["extension"] for p in await api.ok("GET", "/presence", account="globex")] == ["320"]
    # the node away: devices unknown, calls still known
    devices.down = True
    listed = await api.ok("GET", "/presence")
    assert [(p["state"], p["devices"]) for p in listed] == [
        ("ringing", None), ("unknown", None), ("unknown", None)]
