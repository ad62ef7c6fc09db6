"""The real-PBX test bench: a private Asterisk rendered from asterisk-conf/, and SIPp phones.

Everything binds to 127.0.0.1 on free ports, in a temp folder with its own astdb, so a run never
touches (or is touched by) a system Asterisk. Processes start in their own session and are stopped
SIGTERM-then-SIGKILL, also from an atexit hook, so an interrupted run leaves nothing behind; a run
killed outright (SIGKILL, a crash) is cleaned up by tests/reaper.py.
"""

from __future__ import annotations

import atexit
import itertools
import os
import random
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from callbridge.asterisk.conf import render, repo_conf_dir
from tests.reaper import spawn

SIPP_DIR = Path(__file__).parent / "sipp"
_LIVE: set[subprocess.Popen] = set()


def _kill_all_at_exit() -> None:
    for proc in list(_LIVE):
        stop_process(proc, grace=2.0)


atexit.register(_kill_all_at_exit)


def _exit_on_sigterm() -> None:
    """SIGTERM ends the process through SystemExit, so the atexit hook above still stops every
    Asterisk and SIPp it started (by default SIGTERM kills Python without running atexit; SIGINT
    already raises KeyboardInterrupt). A handler someone else installed is left alone."""
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))


_exit_on_sigterm()


@dataclass(frozen=True)
class AsteriskInstall:
    """Which Asterisk the bench boots: Debian's (prefix /usr, the default) or one built into its
    own prefix (scripts/install-asterisk22.sh), chosen by BENCH_ASTERISK_PREFIX."""
    prefix: Path

    @property
    def binary(self) -> Path:
        return self.prefix / "sbin" / "asterisk"

    @property
    def modules(self) -> Path:
        return self.prefix / "lib" / "asterisk" / "modules"

    @property
    def data(self) -> Path:  # Debian's package moves it to /usr/share; a source build keeps var/lib
        return Path("/usr/share/asterisk") if self.prefix == Path("/usr") else \
            self.prefix / "var" / "lib" / "asterisk"

    def version(self) -> str:
        out = subprocess.run([str(self.binary), "-V"], capture_output=True, text=True)
        return out.stdout.strip()

    def major(self) -> int:
        """22 for 'Asterisk 22.10.1'; 0 when it can't tell."""
        m = re.search(r"(\d+)\.", self.version())
        return int(m.group(1)) if m else 0


ASTERISK = AsteriskInstall(Path(os.environ.get("BENCH_ASTERISK_PREFIX") or "/usr"))


def have_tools() -> str | None:
    """None when asterisk and sipp are usable, else what is missing."""
    missing = [str(t) for t in (ASTERISK.binary, "sipp") if shutil.which(str(t)) is None]
    if missing:
        return f"{' and '.join(missing)} not installed"
    if not (ASTERISK.modules / "chan_pjsip.so").exists():
        return f"Asterisk at {ASTERISK.prefix} has no chan_pjsip module"
    return None


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# SIPp binds its audio port and audio+2 (video). A port from free_port() is in Linux's
# ephemeral range, where the kernel hands ports to anyone, and only the first of the two was
# checked: SIPp then died with exit 254 ("Unable to bind video RTP socket") now and then
# (CI: test_rows_keep_flowing_after_asterisk_restarts). Media ports come from 30000-32767:
# above every bench Asterisk's RTP range, below the ephemeral ports, taken in turn.
MEDIA_PORTS = range(30000, 32764, 4)
_media_turn = itertools.count(random.randrange(len(MEDIA_PORTS)))
# SIPp's exit code when it could not bind a socket: it has sent nothing, so trying again is safe.
SIPP_BIND_ERROR = 254


def free_media_port() -> int:
    """An even port P for SIPp's -mp with P and P+2 both free on 127.0.0.1 right now."""
    for _ in range(len(MEDIA_PORTS)):
        port = MEDIA_PORTS[next(_media_turn) % len(MEDIA_PORTS)]
        held = []
        try:
            for p in (port, port + 2):
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                held.append(s)
                s.bind(("127.0.0.1", p))
            return port
        except OSError:
            continue
        finally:
            for s in held:
                s.close()
    raise RuntimeError("no free SIPp media port pair in 30000-32767")


def start_process(cmd: list[str], log: Path, cwd: Path | None = None) -> subprocess.Popen:
    out = open(log, "ab")
    proc = spawn(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=cwd)
    out.close()
    _LIVE.add(proc)
    return proc


def stop_process(proc: subprocess.Popen, grace: float = 10.0, sig=signal.SIGTERM) -> None:
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(5)
    _LIVE.discard(proc)


@dataclass
class SippPhone:
    """One SIPp UAS: a device (optionally registered to an extension) or the PSTN trunk."""

    name: str
    port: int
    log: Path
    proc: subprocess.Popen | None = None

    def invites(self) -> list[str]:
        """One line per INVITE received, 'INVITE from=[...] to=[...] ...', oldest first."""
        if not self.log.exists():
            return []
        return [ln for ln in self.log.read_text(errors="replace").splitlines() if "INVITE from=" in ln]


@dataclass
class Pbx:
    root: Path
    ami_port: int = field(default_factory=free_port)
    sip_port: int = field(default_factory=lambda: free_port(socket.SOCK_DGRAM))
    trunk_port: int = field(default_factory=lambda: free_port(socket.SOCK_DGRAM))
    ami_username: str = "callbridge"
    ami_secret: str = field(default_factory=lambda: secrets.token_hex(16))
    ext_secrets: dict[str, str] = field(default_factory=lambda: {
        "309": secrets.token_hex(8), "310": secrets.token_hex(8)})
    # RTP + RTCP ports: 2 per call leg. A click-to-dial to 309 has 3 legs (2 devices, trunk).
    rtp_ports: int = 200
    # where the dialplan's CURL() finds callbridge (tests serve it there: callbridge_on)
    callbridge_port: int = field(default_factory=free_port)
    callerid_token: str = field(default_factory=lambda: secrets.token_urlsafe(16))
    proc: subprocess.Popen | None = None
    phones: dict[str, SippPhone] = field(default_factory=dict)
    _trunk: dict = field(default_factory=dict, repr=False)  # the standard trunk's timings

    @property
    def etc(self) -> Path:
        return self.root / "etc"

    @property
    def master_csv(self) -> Path:
        return self.root / "log" / "cdr-csv" / "Master.csv"

    def render(self) -> None:
        # below Linux's ephemeral ports (32768+), where free_port() finds SIPp's ports
        rtp = random.randrange(10000, 30000 - self.rtp_ports, 200)
        render(repo_conf_dir(), self.etc, {
            "AMI_PORT": self.ami_port, "AMI_SECRET": self.ami_secret,
            "SIP_BIND": "127.0.0.1", "SIP_PORT": self.sip_port,
            "TRUNK_HOST": "127.0.0.1", "TRUNK_PORT": self.trunk_port,
            "EXT_309_SECRET": self.ext_secrets["309"], "EXT_310_SECRET": self.ext_secrets["310"],
            "RTP_START": rtp, "RTP_END": rtp + self.rtp_ports - 2,
            "CALLBRIDGE_PORT": self.callbridge_port, "CALLERID_TOKEN": self.callerid_token,
        })
        # asterisk.conf is the instance's own (folders, no system service): not an operator file.
        dirs = {"astetcdir": "etc", "astvarlibdir": "var/lib", "astdbdir": "var/lib",
                "astkeydir": "var/lib", "astspooldir": "var/spool", "astrundir": "run",
                "astlogdir": "log", "astcachedir": "cache"}
        for d in set(dirs.values()):
            (self.root / d).mkdir(parents=True, exist_ok=True)
        self.master_csv.parent.mkdir(exist_ok=True)  # cdr_csv writes there but won't create it
        lines = ["[directories]", f"astmoddir => {ASTERISK.modules}",
                 f"astdatadir => {self._data_dir()}", f"astagidir => {ASTERISK.data}/agi-bin",
                 f"astsbindir => {ASTERISK.prefix / 'sbin'}"]
        lines += [f"{k} => {self.root / v}" for k, v in dirs.items()]
        lines += ["", "[options]", "systemname = cbtest", "nocolor = yes", "verbose = 3",
                  "hideconnect = yes", "documentation_language = en_US"]
        (self.etc / "asterisk.conf").write_text("\n".join(lines) + "\n")
        if ASTERISK.major() >= 20:
            # the bench's Asterisk 22 is built without sounds: an attended transfer goes without
            # its prompt (features.conf; an option Asterisk 16 doesn't know)
            features = self.etc / "features.conf"
            features.write_text(features.read_text().replace(
                "[general]\n", "[general]\ntransferannouncesound =\n", 1))
        # the bench's queues (tests/asterisk/test_call_shapes.py): 309 and 310 ringing at once, as
        # endpoints, through Local channels into the template's [extensions], and as FreePBX
        # writes its members (Local/<ext>@from-queue/n, through its from-queue contexts)
        with (self.etc / "extensions.conf").open("a") as dialplan:
            dialplan.write(
                "\n; FreePBX's queue-member contexts, shaped as its generated dialplan has them\n"
                "[from-queue]\n"
                "exten => _X.,1,Set(QAGENT=${EXTEN})\n"
                " same => n,Set(__FROMQ=true)\n"
                " same => n,Goto(from-queue-exten-only,${EXTEN},1)\n"
                "[from-queue-exten-only]\n"
                "exten => _X.,1,Set(DEVS=${PJSIP_DIAL_CONTACTS(${EXTEN})})\n"
                " same => n,Dial(${DEVS},,t)\n"
                " same => n,Hangup()\n")
        with (self.etc / "queues.conf").open("a") as queues:
            for name, members in (("cbq-direct", ("PJSIP/309", "PJSIP/310")),
                                  ("cbq-local", ("Local/309@extensions/n",
                                                 "Local/310@extensions/n")),
                                  ("cbq-freepbx", ("Local/309@from-queue/n",
                                                   "Local/310@from-queue/n"))):
                queues.write(f"\n[{name}]\nstrategy = ringall\ntimeout = 15\nretry = 1\n"
                             "joinempty = yes\nleavewhenempty = no\nringinuse = no\n"
                             + "".join(f"member => {m}\n" for m in members))

    def _data_dir(self) -> Path:
        """Asterisk's data (sounds, keys …). On Asterisk 16, the bench's own copy (links) with a
        silent transfer prompt: AMI's Atxfer queues the code and the target's digits at once,
        the first digit cuts the "pbx-transfer" prompt short and Asterisk 16 loses the rest
        ("Dialed '3@internal' does not exist"); a phone's user dials after the prompt. (20+
        skip the prompt through features.conf, see render.)"""
        if ASTERISK.major() >= 20 or not (ASTERISK.data / "sounds" / "en").is_dir():
            return ASTERISK.data
        data = self.root / "data"
        if data.exists():
            return data
        sounds = data / "sounds"
        for sub in (data, sounds, sounds / "en"):
            sub.mkdir(parents=True)
        for entry in ASTERISK.data.iterdir():
            if entry.name != "sounds":
                (data / entry.name).symlink_to(entry)
        for entry in (ASTERISK.data / "sounds").iterdir():
            if entry.name != "en":
                (sounds / entry.name).symlink_to(entry)
        for entry in (ASTERISK.data / "sounds" / "en").iterdir():
            if not entry.name.startswith("pbx-transfer."):
                (sounds / "en" / entry.name).symlink_to(entry)
        (sounds / "en" / "pbx-transfer.gsm").write_bytes(b"")  # plays nothing, at once
        return data

    # ---- Asterisk ---------------------------------------------------------------------------

    def start(self, timeout: float = 30.0) -> float:
        """Boots Asterisk and waits for FullyBooted; returns the seconds it took."""
        t0 = time.monotonic()
        self.proc = start_process(
            [str(ASTERISK.binary), "-C", str(self.etc / "asterisk.conf"), "-f", "-n", "-vvv"],
            self.root / "asterisk.stdout.log")
        self.wait_booted(timeout)
        return time.monotonic() - t0

    def wait_booted(self, timeout: float) -> None:
        """AMI accepts logins before modules finish loading, and a SIGTERM sent before
        FullyBooted can be lost: so ready means login OK *and* FullyBooted seen."""
        deadline = time.monotonic() + timeout
        last_error = "no attempt"
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"asterisk exited with {self.proc.returncode}; see "
                                   f"{self.root / 'asterisk.stdout.log'}")
            try:
                if self._login_and_booted(deadline):
                    return
            except OSError as exc:
                last_error = str(exc)
            time.sleep(0.05)
        raise TimeoutError(f"asterisk not FullyBooted after {timeout}s ({last_error})")

    def _login_and_booted(self, deadline: float) -> bool:
        with socket.create_connection(("127.0.0.1", self.ami_port), timeout=2) as s:
            f = s.makefile("rb")
            f.readline()
            s.sendall(f"Action: Login\r\nUsername: {self.ami_username}\r\n"
                      f"Secret: {self.ami_secret}\r\nActionID: boot\r\n\r\n".encode())
            block: list[str] = []
            logged_in = False
            while time.monotonic() < deadline:
                line = f.readline()
                if not line:
                    raise OSError("AMI closed the connection")
                text = line.decode(errors="replace").strip()
                if text:
                    block.append(text)
                    continue
                if "Response: Error" in block:
                    raise OSError("AMI login refused")
                logged_in = logged_in or "Response: Success" in block
                if logged_in and "Event: FullyBooted" in block:
                    s.sendall(b"Action: Logoff\r\n\r\n")
                    return True
                block = []
        return False

    def stop(self, grace: float = 10.0) -> None:
        if self.proc is not None:
            stop_process(self.proc, grace)
            self.proc = None

    def kill(self) -> None:
        """SIGKILL: Asterisk dies mid-call, as in a crash."""
        if self.proc is not None:
            stop_process(self.proc, grace=5, sig=signal.SIGKILL)
            self.proc = None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def cli(self, command: str) -> str:
        """Runs an Asterisk CLI command through the remote console of this instance."""
        out = subprocess.run([str(ASTERISK.binary), "-C", str(self.etc / "asterisk.conf"), "-rx",
                              command],
                             capture_output=True, text=True, timeout=15)
        return out.stdout

    # ---- SIPp ---------------------------------------------------------------------------

    def _scenario(self, name: str, **subst: int | str) -> Path:
        text = (SIPP_DIR / name).read_text()
        for key, value in subst.items():
            text = text.replace(key, str(value))
        out = self.root / "sipp" / f"{Path(name).stem}-{'-'.join(map(str, subst.values()))}.xml"
        out.parent.mkdir(exist_ok=True)
        out.write_text(text)
        return out

    def _sipp(self, scenario: Path, port: int, log: Path, *extra: str) -> list[str]:
        return ["sipp", "-sf", str(scenario), "-i", "127.0.0.1", "-p", str(port),
                "-mp", str(free_media_port()), "-nostdin", "-trace_logs",
                "-log_file", str(log), "-trace_err", "-error_file", str(log.with_suffix(".err")),
                *extra]

    def start_phone(self, name: str, *, answer_ms: int, hangup_ms: int,
                    register_as: str | None = None, port: int | None = None,
                    scenario: Path | None = None, sipp_args: tuple[str, ...] = ()) -> SippPhone:
        """A UAS on its own port; with register_as, it first REGISTERs that extension there.
        A phone whose SIPp exits at once (a port taken in between, say) is tried again on a
        fresh port, twice at most (a registered phone re-registers there; the trunk's port is
        in pjsip.conf, so it keeps it)."""
        for attempt in range(3):
            keep = attempt == 0 or register_as is None
            phone = self._start_phone_once(name, answer_ms, hangup_ms, register_as,
                                           port if keep else None, scenario, sipp_args)
            time.sleep(0.2)
            if phone.proc is not None and phone.proc.poll() is None:
                self.phones[name] = phone
                return phone
        out = (self.root / "sipp" / f"{name}.out").read_text(errors="replace")[-500:]
        raise RuntimeError(f"{name}: SIPp keeps exiting at start: {out}")

    def _start_phone_once(self, name: str, answer_ms: int, hangup_ms: int,
                          register_as: str | None, port: int | None,
                          scenario: Path | None = None,
                          sipp_args: tuple[str, ...] = ()) -> SippPhone:
        port = port or free_port(socket.SOCK_DGRAM)
        log = self.root / "sipp" / f"{name}.log"
        log.parent.mkdir(exist_ok=True)
        if register_as is not None:
            self._register(name, register_as, port, expires=3600)
        scenario = scenario or self._scenario("uas.xml", ANSWER_MS=answer_ms, HANGUP_MS=hangup_ms)
        proc = start_process(self._sipp(scenario, port, log, *sipp_args),
                             self.root / "sipp" / f"{name}.out")
        return SippPhone(name, port, log, proc)

    def _register(self, name: str, extension: str, port: int, expires: int) -> None:
        reg = subprocess.run(
            self._sipp(SIPP_DIR / "register.xml", port, self.root / "sipp" / f"{name}.reg.log",
                       "-s", extension, "-au", extension, "-ap", self.ext_secrets[extension],
                       "-key", "expires", str(expires), "-m", "1", "-timeout", "10",
                       f"127.0.0.1:{self.sip_port}"),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=20)
        if reg.returncode != 0:
            raise RuntimeError(f"{name}: REGISTER {extension} expires={expires} failed"
                               f" ({reg.returncode})")

    def unregister(self, name: str, extension: str) -> SippPhone:
        """What a softphone does when it quits: it stops answering, and removes its contact
        (REGISTER with Expires: 0 from its port). Returns the stopped phone."""
        phone = self.phones.pop(name)
        if phone.proc is not None:
            stop_process(phone.proc, grace=3)
        self._register(name, extension, phone.port, expires=0)
        return phone

    def call_in(self, caller: str, to: str, *, talk_ms: int = 2000, cancel_after_ms: int | None = None,
                timeout: float = 30.0, caller_name: str | None = None) -> int:
        """A PSTN caller (from the trunk's address) calls `to`; returns SIPp's exit code
        (0 = the scenario completed). With cancel_after_ms, hangs up while it rings. The caller
        ID name is "PSTN <caller>" unless given."""
        tag = f"in-{caller}-{time.monotonic_ns()}"
        log = self.root / "sipp" / f"{tag}.log"
        log.parent.mkdir(exist_ok=True)
        if cancel_after_ms is None:
            scenario, extra = SIPP_DIR / "uac_inbound.xml", ["-d", str(talk_ms)]
        else:
            scenario, extra = self._scenario("uac_cancel.xml", CANCEL_MS=cancel_after_ms), []
        for _ in range(3):
            cmd = self._sipp(scenario, free_port(socket.SOCK_DGRAM), log, "-s", to, "-key", "caller",
                             caller, "-key", "caller_name", caller_name or f"PSTN {caller}", "-m", "1",
                             "-timeout", str(int(timeout)), *extra, f"127.0.0.1:{self.sip_port}")
            code = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                  timeout=timeout + 10).returncode
            if code != SIPP_BIND_ERROR:
                break
        return code

    def call_load(self, caller: str, to: str, *, calls: int, rate: float, talk_ms: int = 1000,
                  limit: int = 60, timeout: int = 300) -> subprocess.Popen:
        """`calls` PSTN calls from `caller` to `to`, `rate` new ones a second (at most `limit`
        at once), in the background: SIPp's process (exit code 0 when every call completed).
        SIPp stops after `timeout` seconds whatever it has left to place."""
        tag = f"load-{caller}-{time.monotonic_ns()}"
        log = self.root / "sipp" / f"{tag}.log"
        log.parent.mkdir(exist_ok=True)
        cmd = self._sipp(SIPP_DIR / "uac_inbound.xml", free_port(socket.SOCK_DGRAM), log,
                         "-s", to, "-key", "caller", caller, "-key", "caller_name",
                         f"PSTN {caller}", "-m", str(calls), "-r", str(rate), "-l", str(limit),
                         "-d", str(talk_ms), "-timeout", str(timeout), f"127.0.0.1:{self.sip_port}")
        return spawn(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def active_channels(self) -> int:
        match = re.search(r"(\d+) active channels?", self.cli("core show channels count"))
        return int(match.group(1)) if match else 0

    def settle(self, timeout: float = 10.0) -> None:
        """Waits for the calls an earlier test left to end, then hangs up what is still up: a
        leftover call keeps an extension busy, and a queue (ringinuse = no) then skips it."""
        deadline = time.monotonic() + timeout
        while self.active_channels() and time.monotonic() < deadline:
            time.sleep(0.25)
        if self.active_channels():
            print(f"[bench] hanging up calls left from an earlier test:\n"
                  f"{self.cli('core show channels')}", file=sys.stderr)
            self.cli("channel request hangup all")

    def wait_devices(self, extension: str, count: int, timeout: float = 20.0) -> None:
        """Until `count` devices of the extension are Avail. Registration triggers a qualify
        that can race the UAS taking over the port, and a restarted Asterisk qualifies late:
        each try forces a qualify, so no test starts with a device left out."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.cli(f"pjsip qualify {extension}")
            out = self.cli(f"pjsip show contacts like {extension}")
            if len(re.findall(rf"Contact:\s+{extension}/\S+.*\bAvail\b", out)) >= count:
                return
            time.sleep(0.5)
        alive = {n: p.proc is not None and p.proc.poll() is None for n, p in self.phones.items()}
        raise TimeoutError(f"{count} devices of {extension} not reachable after {timeout}s;"
                           f" phones alive: {alive}; Asterisk says: {out.strip()[-600:]}")

    def start_standard_phones(self, *, trunk_answer_ms: int, trunk_hangup_ms: int,
                              desk_answer_ms: int) -> None:
        """The trunk (the PSTN), and extension 309's desk phone and softphone (which answers
        only after 10 s, so the desk phone takes the calls)."""
        self._trunk = {"answer_ms": trunk_answer_ms, "hangup_ms": trunk_hangup_ms}
        self.start_phone("trunk", answer_ms=trunk_answer_ms, hangup_ms=trunk_hangup_ms,
                         port=self.trunk_port)
        self.start_phone("desk309", answer_ms=desk_answer_ms, hangup_ms=600_000, register_as="309")
        self.start_phone("soft309", answer_ms=10_000, hangup_ms=600_000, register_as="309")
        self.wait_devices("309", 2)

    def transferring_trunk(self, refer_to: str, *, answer_ms: int, refer_ms: int) -> None:
        """Puts a trunk whose far end answers after answer_ms and, refer_ms later, transfers the
        call to refer_to (SIP REFER: a blind transfer, which Asterisk carries out in the trunk's
        context) in place of the standard one; restore_trunk() puts that back."""
        stop_process(self.phones.pop("trunk").proc, grace=3)
        self.start_transferring_phone("trunk", refer_to, answer_ms=answer_ms, refer_ms=refer_ms,
                                      port=self.trunk_port)

    def start_transferring_phone(self, name: str, refer_to: str, *, answer_ms: int,
                                 refer_ms: int, register_as: str | None = None,
                                 port: int | None = None) -> SippPhone:
        """A phone (or carrier) that answers after answer_ms and, refer_ms later, transfers the
        call to the extension refer_to with a SIP REFER (tests/asterisk/sipp/uas_refer.xml)."""
        scenario = self._scenario("uas_refer.xml", ANSWER_MS=answer_ms, REFER_MS=refer_ms,
                                  REFER_TO=f"{refer_to}@127.0.0.1:{self.sip_port}")
        return self.start_phone(name, answer_ms=answer_ms, hangup_ms=0, port=port,
                                register_as=register_as, scenario=scenario,
                                sipp_args=("-aa",))  # -aa: SIPp answers NOTIFYs 200 OK

    def start_holding_phone(self, name: str, *, answer_ms: int, hold_at_ms: int, hold_ms: int,
                            register_as: str) -> SippPhone:
        """A phone of register_as that answers after answer_ms, hold_at_ms later presses its hold
        key for hold_ms, takes the call back and waits for the call's end
        (tests/asterisk/sipp/uas_hold.xml)."""
        scenario = self._scenario("uas_hold.xml", ANSWER_MS=answer_ms, HOLD_AT_MS=hold_at_ms,
                                  HOLD_MS=hold_ms)
        return self.start_phone(name, answer_ms=answer_ms, hangup_ms=0, register_as=register_as,
                                scenario=scenario)

    def restore_trunk(self) -> None:
        phone = self.phones.pop("trunk", None)
        if phone is not None and phone.proc is not None:
            stop_process(phone.proc, grace=3)
        self.start_phone("trunk", port=self.trunk_port, **self._trunk)

    def stop_phones(self) -> None:
        for phone in self.phones.values():
            if phone.proc is not None:
                stop_process(phone.proc, grace=3)
        self.phones.clear()
