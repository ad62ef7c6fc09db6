"""The demo behind scripts/demo: a private Asterisk on loopback rendered from asterisk-conf/, two
SIPp softphones registered as extension 309 (one answers after 1.5 s), a SIPp "PSTN" trunk that
answers, callbridge with a demo account, key and contacts, then the curl lines to try. Ctrl-C
stops everything it started. --once runs the tour by itself and exits (the test does this).

The PBX and phones are the test bench's (tests/asterisk/pbx.py): the demo shows exactly what
the test suite checks.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.asterisk.pbx import ASTERISK, Pbx, free_port, have_tools, stop_process  # noqa: E402

CONTACTS = [
    {"firstname": "Ada", "lastname": "Lovelace", "organization": "Analytical Engines",
     "mobile_phone": "+1 555 010 0001", "note": "Prefers mornings",
     "profile_url": "https://crm.example.com/contacts/1"},
    {"firstname": "Grace", "lastname": "Hopper", "organization": "US Navy",
     "mobile_phone": "+1 555 010 0002"},
    {"firstname": "Jenny", "lastname": "Tutone", "mobile_phone": "+1 580 867 5309"},
]


def say(text: str = "") -> None:
    print(text, flush=True)


def http(base: str, key: str, method: str, path: str, body=None):
    req = urllib.request.Request(base + path, method=method,
                                 data=json.dumps(body).encode() if body is not None else None,
                                 headers={"x-api-key": key, "content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())


def main(once: bool, port: int) -> int:
    missing = have_tools()
    if missing:
        say(f"demo: {missing}: run as root (scripts/demo installs them) or"
            " `sudo scripts/install-asterisk.sh`")
        return 1
    root = Path(tempfile.mkdtemp(prefix="callbridge-demo-"))
    pbx = Pbx(root, callbridge_port=port)
    serve = None
    try:
        pbx.render()
        say(f"[demo] {ASTERISK.version()} booting from {pbx.etc} (SIP 127.0.0.1:{pbx.sip_port}, AMI 127.0.0.1:{pbx.ami_port})")
        pbx.start()
        pbx.start_standard_phones(trunk_answer_ms=1000, trunk_hangup_ms=4000,
                                  desk_answer_ms=1500)
        say("[demo] two SIPp softphones registered as 309; a SIPp trunk stands for the PSTN")
        env = {k: v for k, v in os.environ.items() if not k.startswith("CALLBRIDGE_")}
        env.update(CALLBRIDGE_DATABASE=str(root / "callbridge.db"), CALLBRIDGE_PORT=str(port),
                   CALLBRIDGE_AMI_PORT=str(pbx.ami_port), CALLBRIDGE_AMI_SECRET=pbx.ami_secret,
                   CALLBRIDGE_CDR_CSV=str(pbx.master_csv),
                   CALLBRIDGE_CALLERID_TOKEN=pbx.callerid_token, CALLBRIDGE_LOG_LEVEL="WARNING")
        cli = [sys.executable, "-m", "callbridge"]
        subprocess.run([*cli, "db", "init"], env=env, check=True, capture_output=True)
        key = subprocess.run([*cli, "keys", "create", "--account", "demo"], env=env, check=True,
                             capture_output=True, text=True).stdout.strip().splitlines()[-1]
        subprocess.run([*cli, "extensions", "add", "--account", "demo", "309", "--name",
                        "Front desk"], env=env, check=True, capture_output=True)
        serve = subprocess.Popen([*cli, "serve"], env=env, stderr=open(root / "serve.log", "w"),
                                 start_new_session=True)
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                if json.loads(urllib.request.urlopen(base + "/health", timeout=1).read())["pbx"] == "online":
                    break
            except OSError:
                pass
            time.sleep(0.2)
        else:
            say(f"[demo] callbridge did not come up: {(root / 'serve.log').read_text()[-1500:]}")
            return 1
        for c in CONTACTS:
            http(base, key, "POST", "/contacts/contacts", c)
        say(f"[demo] callbridge on {base} (log: {root / 'serve.log'}), account 'demo' owns 309,"
            f" {len(CONTACTS)} contacts")
        say()
        say(f"  API key:  {key}")
        say(f"  export KEY={key}")
        say()
        say("  # click-to-dial: both softphones of 309 ring showing 'Jenny Tutone', the desk one"
            " answers, then the trunk is dialled")
        say(f"  curl -s -H \"x-api-key: $KEY\" -H 'content-type: application/json' -d"
            f" '{{\"extension\": \"309\", \"phonenumber\": \"15808675309\"}}' {base}/dialer/call")
        say(f"  curl -s -H \"x-api-key: $KEY\" {base}/dialer/calls/<call_id>")
        say("  # the call log (rows appear a second after a call ends)")
        say(f"  curl -s -H \"x-api-key: $KEY\""
            f" '{base}/call_log/records_after_timestamp?timestamp=2000-01-01%2000:00:00'")
        say(f"  # screen-pop: open {base}/screenpop, paste the key, then press Enter here for an"
            " inbound call from Ada Lovelace")
        say(f"  # live events: curl -sN -H \"x-api-key: $KEY\" -H 'Accept: text/event-stream' {base}/events")
        say()
        if once:
            return tour(base, key, pbx)
        say("[demo] Enter: an inbound call from Ada (rings 309 for 3 s).  Ctrl-C: stop everything.")
        while True:
            sys.stdin.readline()
            pbx.call_in("5550100001", "309", cancel_after_ms=3000)
            say("[demo] inbound call done (it was missed: see call.missed and the call log)")
    except KeyboardInterrupt:
        say("\n[demo] stopping")
        return 0
    finally:
        # everything at once: one after the other, each waiting out its grace before SIGKILL,
        # took over 30 s on a loaded machine (CI: Asterisk still up 30 s after Ctrl-C)
        stops = [lambda: stop_process(serve, grace=5)] if serve is not None else []
        stops += [lambda proc=p.proc: stop_process(proc, grace=3)
                  for p in pbx.phones.values() if p.proc is not None]
        stops.append(lambda: pbx.stop(grace=5))
        with ThreadPoolExecutor(len(stops)) as pool:
            for done in [pool.submit(stop) for stop in stops]:
                done.result()
        pbx.phones.clear()


def tour(base: str, key: str, pbx: Pbx) -> int:
    """What a user would do with the printed lines, checked: a click-to-dial that connects and
    its call-log row; an inbound call that pops with the contact's name."""
    call = http(base, key, "POST", "/dialer/call", {"extension": "309",
                                                    "phonenumber": "15808675309"})
    say(f"[tour] click-to-dial queued: {call['call_id']}")
    state = {}
    for _ in range(150):
        state = http(base, key, "GET", f"/dialer/calls/{call['call_id']}")
        if state["state"] == "ended":
            break
        time.sleep(0.2)
    say(f"[tour] progress: {' -> '.join(state['timestamps'])} (device {state['device']})")
    rows = []
    for _ in range(50):
        rows = http(base, key, "GET", "/call_log/records_after_timestamp?timestamp=2000-01-01%2000:00:00")["records"]
        if rows:
            break
        time.sleep(0.2)
    say(f"[tour] call log: {len(rows)} row(s); {rows[0]['direction']} {rows[0]['disposition']}"
        f" to {rows[0]['cidname_outside']}" if rows else "[tour] call log: no row")
    after = http(base, key, "POST", "/events/ticket")  # a ticket works like the page's
    req = urllib.request.Request(f"{base}/events?ticket={after['ticket']}&types=call.ringing",
                                 headers={"Accept": "text/event-stream"})
    stream = urllib.request.urlopen(req, timeout=15)
    import threading
    threading.Timer(0.5, lambda: pbx.call_in("5550100001", "309", cancel_after_ms=1200)).start()
    popped = None
    for raw in stream:
        line = raw.decode().strip()
        if line.startswith("data: "):
            popped = json.loads(line[6:])["data"]
            break
    stream.close()
    name = (popped or {}).get("contact", {}) or {}
    say(f"[tour] inbound call popped: {name.get('name')} ({name.get('organization')})"
        f" ringing {len(popped['devices']) if popped else 0} device(s) of 309")
    ok = (state.get("state") == "ended" and "connected" in state.get("timestamps", {})
          and bool(rows) and name.get("name") == "Ada Lovelace")
    say("[tour] OK" if ok else "[tour] FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--once", action="store_true", help="run the tour by itself, then stop")
    ap.add_argument("--port", type=int, default=0, help="callbridge's port (default: a free one)")
    a = ap.parse_args()
    def stop_on_sigterm(signum, frame):
        raise KeyboardInterrupt  # SIGTERM stops the demo as Ctrl-C does: everything it started

    signal.signal(signal.SIGTERM, stop_on_sigterm)
    # Ctrl-C even when started in the background of a script: a non-interactive shell starts its
    # background jobs with SIGINT ignored, Python then leaves it ignored, and Ctrl-C (or the
    # test's SIGINT) did nothing at all (CI: everything still up 30 s later)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    sys.exit(main(a.once, a.port or free_port()))
