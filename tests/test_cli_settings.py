"""The operator interface: settings precedence, the keys commands, the OpenAPI document."""

from __future__ import annotations

import sqlite3

import pytest
from click.testing import CliRunner

from callbridge.app import ROUTE_TABLES
from callbridge.cli import main
from callbridge.settings import load_settings


def test_settings_defaults_toml_and_env_precedence(tmp_path, monkeypatch):
    for var in ("CALLBRIDGE_PORT", "CALLBRIDGE_HOST", "CALLBRIDGE_DATABASE", "CALLBRIDGE_RATE_LIMIT"):
        monkeypatch.delenv(var, raising=False)
    s = load_settings()
    assert (s.port, s.host, str(s.database), s.rate_limit) == (2343, "127.0.0.1", "callbridge.db", "1000/15m")
    cfg = tmp_path / "cb.toml"
    cfg.write_text('port = 9000\nhost = "0.0.0.0"\nrate_limit = "10/1m"\n')
    s = load_settings(cfg)
    assert (s.port, s.host, s.rate_limit_parsed) == (9000, "0.0.0.0", (10, 60))
    monkeypatch.setenv("CALLBRIDGE_PORT", "9100")
    assert load_settings(cfg).port == 9100  # env wins over the file
    monkeypatch.setenv("CALLBRIDGE_RATE_LIMIT", "lots")
    with pytest.raises(Exception):
        load_settings(cfg)


def test_cli_rejects_bad_settings_without_traceback(tmp_path, monkeypatch):
    monkeypatch.setenv("CALLBRIDGE_PORT", "99999")
    result = CliRunner().invoke(main, ["accounts"])
    assert result.exit_code != 0 and "invalid settings" in result.output
    assert "Traceback" not in result.output


def test_keys_create_list_revoke(tmp_path, monkeypatch):
    db = tmp_path / "cli.db"
    monkeypatch.setenv("CALLBRIDGE_DATABASE", str(db))
    runner = CliRunner()
    created = runner.invoke(main, ["keys", "create", "--account", "acme"])
    assert created.exit_code == 0, created.output
    key = created.output.strip().splitlines()[-1]
    assert key.startswith("cb_") and len(key) == 3 + 12 + 1 + 43
    key_id = key.split("_")[1]
    with sqlite3.connect(db) as c:
        (stored,) = c.execute("SELECT key_hash FROM api_keys").fetchone()
    assert key not in stored
    listed = runner.invoke(main, ["keys", "list", "--account", "acme"])
    assert key_id in listed.output and "active" in listed.output and key not in listed.output
    assert runner.invoke(main, ["keys", "revoke", key_id]).exit_code == 0
    assert "revoked" in runner.invoke(main, ["keys", "list"]).output
    again = runner.invoke(main, ["keys", "revoke", key_id])
    assert again.exit_code != 0 and "no active key" in again.output
    bad = runner.invoke(main, ["keys", "create", "--account", "bad name!"])
    assert bad.exit_code != 0 and "account names" in bad.output


async def test_openapi_lists_every_route_with_model_schemas(api):
    doc = await api.ok("GET", "/openapi.json", account=None)
    for table in ROUTE_TABLES:
        for ep in table.endpoints:
            if not ep.hidden:
                assert ep.method.lower() in doc["paths"][ep.path], (ep.method, ep.path)
    create = doc["paths"]["/contacts/contacts"]["post"]
    ref = create["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    schema = doc["components"]["schemas"][ref]
    assert "mobile_phone" in schema["properties"] and schema["additionalProperties"] is False
    assert "404" in doc["paths"]["/contacts/contacts/{contactId}"]["get"]["responses"]
    # every operation that parses a body, a query string or a typed path value documents its 400
    for path, method in (("/contacts/contacts", "get"), ("/contacts/contacts", "post"),
                         ("/call_log/records_after_timestamp", "get"),
                         ("/contacts/contactsAfterVersion/{version}", "get")):
        assert "400" in doc["paths"][path][method]["responses"], (method, path)
    # query and path parameters are documented from the models that validate them
    records = {p["name"]: p for p in doc["paths"]["/call_log/records_after_timestamp"]["get"]["parameters"]}
    assert records["timestamp"]["required"] and not records["limit"]["required"]
    assert records["limit"]["schema"] == {"type": "integer", "minimum": 1, "maximum": 10000, "default": 1000}
    assert records["direction"]["schema"]["enum"] == ["INCOMING", "OUTGOING", "INTERNAL"]
    [version] = doc["paths"]["/contacts/contactsAfterVersion/{version}"]["get"]["parameters"]
    assert version["in"] == "path" and version["schema"] == {"type": "integer", "minimum": 0,
                                                             "maximum": 2**63 - 1}


def test_a_local_asterisk_ami_user_is_found_without_a_secret_setting(tmp_path, monkeypatch):
    for var in ("CALLBRIDGE_AMI_SECRET", "CALLBRIDGE_AMI_PORT", "CALLBRIDGE_AMI_USERNAME"):
        monkeypatch.delenv(var, raising=False)
    conf = tmp_path / "manager.conf"
    conf.write_text("[general]\nenabled = yes\nport = 15038 ; test port\n\n"
                    "[callbridge]\nsecret = s3cr3t\npermit = 127.0.0.1/255.255.255.255\n"
                    "deny = 0.0.0.0/0.0.0.0\neventfilter = !Event: A\neventfilter = !Event: B\n")
    monkeypatch.setenv("CALLBRIDGE_AMI_MANAGER_CONF", str(conf))
    s = load_settings()
    assert s.ami_secret.get_secret_value() == "s3cr3t" and s.ami_port == 15038
    assert "s3cr3t" not in repr(s)  # a SecretStr: never printed
    monkeypatch.setenv("CALLBRIDGE_AMI_PORT", "5039")  # an explicit setting wins over the file
    assert load_settings().ami_port == 5039
    monkeypatch.setenv("CALLBRIDGE_AMI_USERNAME", "someoneelse")
    assert load_settings().ami_secret.get_secret_value() == ""
    monkeypatch.setenv("CALLBRIDGE_AMI_MANAGER_CONF", str(tmp_path / "missing.conf"))
    monkeypatch.delenv("CALLBRIDGE_AMI_USERNAME")
    assert load_settings().ami_secret.get_secret_value() == ""
