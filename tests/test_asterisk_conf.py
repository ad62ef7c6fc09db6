"""asterisk-conf/ renders with the example values an operator starts from, and rendering into
a live /etc/asterisk is safe: nothing replaced without --force (then backed up), no example
secrets, strong ones generated and kept for the next render, SIP on loopback by default,
secret-bearing files 0640."""

from __future__ import annotations

import os
import re
import stat
import tomllib
from datetime import datetime
from pathlib import Path

import pytest

from callbridge.asterisk.conf import PLACEHOLDER, complete, install, placeholders, repo_conf_dir
from tests.conftest import unavailable


def _example_text() -> str:
    """values.example.toml as an operator fills it in: the example's trunk host is refused."""
    return (repo_conf_dir() / "values.example.toml").read_text().replace(
        '"sip.carrier.example"', '"203.0.113.10"')


def _example() -> dict:
    return tomllib.loads(_example_text())


def test_the_example_values_cover_every_placeholder(tmp_path):
    values, generated = complete(repo_conf_dir(), _example())
    assert placeholders(repo_conf_dir()) <= values.keys()
    assert set(generated) == {"AMI_SECRET", "EXT_309_SECRET", "EXT_310_SECRET", "CALLERID_TOKEN"}
    assert all(len(v) >= 32 for v in generated.values())
    report = install(repo_conf_dir(), tmp_path, _example())
    assert report.written and not any(PLACEHOLDER.search(p.read_text()) for p in report.written)
    dialplan = (tmp_path / "extensions.conf").read_text()
    assert "127.0.0.1:2343/callerid?token=" in dialplan
    assert "bind = 127.0.0.1:5060" in (tmp_path / "pjsip.conf").read_text()


def test_example_and_short_secrets_are_refused(tmp_path):
    for bad in ("change-me-to-a-long-random-string", "short"):
        with pytest.raises(ValueError, match="AMI_SECRET"):
            install(repo_conf_dir(), tmp_path, {**_example(), "AMI_SECRET": bad})
    assert not any(tmp_path.iterdir())  # nothing written


@pytest.mark.parametrize("change,expected", [
    ({"SIP_BNID": "192.168.1.10"}, "SIP_BNID: no configuration file uses it; did you mean SIP_BIND?"),
    ({"SIP_PORT": 99999}, "SIP_PORT: 99999 is not a port (1-65535)"),
    ({"SIP_PORT": "5060"}, "SIP_PORT: '5060' is not a port"),
    ({"SIP_BIND": "999.1.1.1"}, "SIP_BIND: '999.1.1.1' is not an IP address"),
    ({"TRUNK_HOST": "sip.carrier.example"}, "TRUNK_HOST: 'sip.carrier.example' is the example's"),
    ({"RTP_START": 20000, "RTP_END": 10000}, "RTP_START: 20000 is not below RTP_END 10000"),
    ({"AMI_SECRET": "changemechangemechangeme"}, "AMI_SECRET: the example value"),
])
def test_values_that_cannot_work_are_refused_in_one_line(tmp_path, change, expected):
    """Each was accepted and rendered (issue 22 §6); nothing is written."""
    with pytest.raises(ValueError) as refused:
        install(repo_conf_dir(), tmp_path, {**_example(), **change})
    assert str(refused.value).startswith(expected) and "\n" not in str(refused.value)
    assert not any(tmp_path.iterdir())


def test_a_backup_keeps_the_replaced_files_owner(tmp_path):
    """`.bak` copies were root's, the replaced file Asterisk's (issue 22 §6)."""
    if os.geteuid() != 0:
        unavailable("changes a file's owner: run the suite as root")
    etc = tmp_path / "etc"
    etc.mkdir()
    (etc / "rtp.conf").write_text("; the package's sample\n")
    os.chown(etc / "rtp.conf", 65534, 65534)
    report = install(repo_conf_dir(), etc, _example(), force=True, owner="nobody")
    [backup] = [b for b in report.backups if b.name.startswith("rtp.conf.")]
    assert (backup.stat().st_uid, backup.stat().st_gid) == (65534, 65534)


def test_nothing_is_replaced_without_force_and_force_keeps_a_backup(tmp_path):
    values_file = tmp_path / "values.toml"
    values_file.write_text(_example_text())
    etc = tmp_path / "etc"
    first = install(repo_conf_dir(), etc, tomllib.loads(values_file.read_text()),
                    values_file=values_file)
    assert first.generated and stat.S_IMODE(values_file.stat().st_mode) == 0o600
    # the generated secrets were saved: rendering again changes nothing
    again = install(repo_conf_dir(), etc, tomllib.loads(values_file.read_text()),
                    values_file=values_file)
    assert again.written == [] and again.generated == [] and len(again.unchanged) == len(first.written)
    for name in ("manager.conf", "pjsip.conf", "extensions.conf"):
        assert stat.S_IMODE((etc / name).stat().st_mode) == 0o640
    assert stat.S_IMODE((etc / "rtp.conf").stat().st_mode) == 0o644
    # an operator's own modules.conf is not silently replaced
    own = "[modules]\nautoload = yes\n"
    (etc / "modules.conf").write_text(own)
    with pytest.raises(FileExistsError, match="modules.conf.*--force"):
        install(repo_conf_dir(), etc, tomllib.loads(values_file.read_text()))
    assert (etc / "modules.conf").read_text() == own
    forced = install(repo_conf_dir(), etc, tomllib.loads(values_file.read_text()), force=True,
                     now=datetime(2026, 11, 29, 10, 0, 0))
    assert forced.backups == [etc / "modules.conf.20261129-100000.bak"]
    assert forced.backups[0].read_text() == own and (etc / "modules.conf").read_text() != own
    assert [p.name for p in forced.written] == ["modules.conf"]
    assert not [p for p in etc.iterdir() if p.name.startswith(".callbridge-render")]


def test_secret_files_belong_to_the_asterisk_user_when_it_exists(tmp_path):
    import pwd
    if os.geteuid() != 0:
        unavailable("chown needs root: run the suite as root")
    try:
        asterisk = pwd.getpwnam("asterisk")
    except KeyError:
        unavailable("no asterisk user: sudo scripts/install-asterisk.sh creates it")
    report = install(repo_conf_dir(), tmp_path, _example())
    assert report.owner == "asterisk"
    assert (tmp_path / "manager.conf").stat().st_uid == asterisk.pw_uid


# what each application and function the caller-ID subroutine uses needs loaded (autoload = no)
_NEEDS = {"Set": None, "Return": "app_stack", "ExecIf": "app_exec", "Gosub": "app_stack",
          "CURL": "func_curl", "CURLOPT": "func_curl", "URIENCODE": "func_uri",
          "CALLERID": "func_callerid"}


def test_the_documented_caller_id_modules_are_what_its_dialplan_uses():
    """docs/dialplan.md once listed res_curl, func_curl and func_uri only: on a PBX loading
    just those, the subroutine's ExecIf refused every inbound call. Every application and
    function of [callbridge-callerid] (and the Gosub calling it) has its module in the docs'
    list, and modules.conf loads each."""
    root = Path(__file__).parent.parent
    conf = (root / "asterisk-conf" / "extensions.conf").read_text()
    sub = conf[conf.index("[callbridge-callerid]"):]
    sub = sub[:sub.find("\n[", 1)] if "\n[" in sub[1:] else sub
    used = set(re.findall(r"\b(?:n|\d+),([A-Za-z]+)\(", sub)) | {"Gosub"}
    used |= set(re.findall(r"\b([A-Z]{3,})\(", sub))
    unknown = used - set(_NEEDS)
    assert not unknown, f"the test doesn't know which module these need: {unknown}"
    needed = {_NEEDS[u] for u in used if _NEEDS[u]} | {"res_curl"}  # CURL's own library glue
    docs = (root / "docs" / "dialplan.md").read_text()
    listed = docs[docs.index("Modules: `res_curl`"):]
    listed = set(re.findall(r"`((?:app|func|res)_[a-z_]+)`", listed[:listed.index("\n\n")]))
    assert needed <= listed, f"docs/dialplan.md misses {needed - listed}"
    loaded = set(re.findall(r"^load => ([a-z_]+)\.so", (root / "asterisk-conf" /
                                                        "modules.conf").read_text(), re.M))
    assert needed <= loaded, f"modules.conf misses {needed - loaded}"
