"""The other dialects against WebFones on the same store, at 1,000,000 contacts, in one run.

    .venv/bin/python bench/dialects_http.py [--count 1000000] [--duration 8] [--connections 32]

Targets (issue 11): Relatel by_number and AgentVoice crm/lookup within 0.9x of WebFones
search/mobile's req/s; AgentVoice CRM webhook upserts/s within 0.8x of WebFones creates/s. Each
reference is measured before and after what it is compared with, and averaged (this machine
drifts). Needs wrk. Writes bench/out/dialects.json.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from contacts_http import OUT, VENV_BIN, create_key, free_port, serve_env, wait_port, wrk, wrk_bench  # noqa: E402


def main() -> None:
    a, db = wrk_bench(__doc__, duration=8)
    port = free_port()
    env = serve_env(db, port)
    key = create_key(env)
    with sqlite3.connect(db) as c:
        org = c.execute("SELECT uuid FROM accounts WHERE name = 'bench'").fetchone()[0]
    wenv = {"BENCH_KEY": key, "BENCH_COUNT": str(a.count), "BENCH_ORG": org}
    serve = subprocess.Popen([str(VENV_BIN / "callbridge"), "serve"], env=env)
    results: dict = {"count": a.count, "connections": a.connections, "duration_s": a.duration,
                     "cpus": os.cpu_count()}
    try:
        wait_port(port)
        run = lambda script, conns=a.connections, extra=None: wrk(  # noqa: E731
            port, script, {**wenv, **(extra or {})}, a.duration, conns)
        wrk(port, "mobile_exact.lua", wenv, 2, a.connections)  # warm-up: page cache
        print("[bench] reads", file=sys.stderr)
        before = run("mobile_exact.lua")
        by_number = run("relatel_by_number.lua")
        crm = run("crm_lookup.lua")
        after = run("mobile_exact.lua")
        ref = (before["rps"] + after["rps"]) / 2
        print("[bench] writes (new contacts)", file=sys.stderr)
        w = 8  # one writer: more connections only queue
        create_a = run("webfones_create.lua", w, {"BENCH_START": "0"})
        webhook = run("crm_webhook.lua", w, {"BENCH_START": "0"})
        create_b = run("webfones_create.lua", w, {"BENCH_START": "5000000"})
        create = (create_a["rps"] + create_b["rps"]) / 2
    finally:
        serve.terminate()
        serve.wait()
    results.update({
        "search_mobile": {"rps_before": before["rps"], "rps_after": after["rps"], "rps_mean": round(ref, 1),
                          "p99_ms": max(before["p99_ms"], after["p99_ms"])},
        "relatel_by_number": {**by_number, "ratio": round(by_number["rps"] / ref, 3)},
        "agentvoice_crm_lookup": {**crm, "ratio": round(crm["rps"] / ref, 3)},
        "webfones_create": {"rps_before": create_a["rps"], "rps_after": create_b["rps"],
                            "rps_mean": round(create, 1)},
        "crm_webhook_upsert": {**webhook, "ratio": round(webhook["rps"] / create, 3)},
    })
    (OUT / "dialects.json").write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))
    print(f"\nby_number {results['relatel_by_number']['ratio']:.2f}x and crm/lookup"
          f" {results['agentvoice_crm_lookup']['ratio']:.2f}x of search/mobile (target >= 0.90);"
          f" webhook upserts {results['crm_webhook_upsert']['ratio']:.2f}x of creates (target >= 0.80)")


if __name__ == "__main__":
    main()
