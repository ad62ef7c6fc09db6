"""The operator interface: settings precedence, the keys commands, the OpenAPI document."""

from __future__ import annotations

import sqlite3
import stat

import pytest
from click.testing import CliRunner

from callbridge.app import ROUTE_TABLES
from callbridge.cli import main
from callbridge.settings import ConfigError, load_settings
from tests.pg import created_database


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
    with pytest.raises(ConfigError, match="CALLBRIDGE_RATE_LIMIT"):
        load_settings(cfg)


def _one_error_line(result) -> str:
    assert result.exit_code != 0 and "Traceback" not in result.output, result.output
    # (besides the line saying which database the command opened, when it got that far)
    lines = [line for line in result.output.strip().splitlines()
             if not line.startswith("callbridge: database ")]
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    return lines[0]


def test_cli_rejects_bad_settings_without_traceback(tmp_path, monkeypatch):
    monkeypatch.setenv("CALLBRIDGE_PORT", "99999")
    line = _one_error_line(CliRunner().invoke(main, ["accounts"]))
    assert "CALLBRIDGE_PORT" in line and "99999" in line


@pytest.mark.parametrize("toml,expected", [
    ('databse = "x.db"\n', "databse: unknown setting in {cfg}; did you mean database?"),
    ('ami_secert = "s"\n', "ami_secert: unknown setting in {cfg}; did you mean ami_secret?"),
    ('flux_capacitor = 1\n', "flux_capacitor: unknown setting in {cfg}"),
    ('port = "http"\n', "CALLBRIDGE_PORT: Input should be a valid integer"),
    ('region = "usa"\n', "CALLBRIDGE_REGION: Value error, 'usa' is not a region"),
    ('region = "XX"\n', "CALLBRIDGE_REGION: Value error, 'XX' is not a region"),
    ('cors_origins = "*"\n', "CALLBRIDGE_CORS_ORIGINS: Value error, '*' is not an origin"),
    ('port = \n', "--config: {cfg} is not valid TOML"),
    ('tls_cert = "/etc/hostname"\n', "CALLBRIDGE_TLS_CERT / CALLBRIDGE_TLS_KEY: set both, or neither"),
    ('ami_secret = 5\n', "CALLBRIDGE_AMI_SECRET: Input should be a valid string"),
])
def test_configuration_problems_are_one_line_naming_the_setting(tmp_path, toml, expected):
    cfg = tmp_path / "cb.toml"
    cfg.write_text(toml)
    line = _one_error_line(CliRunner().invoke(main, ["--config", str(cfg), "serve"]))
    assert expected.format(cfg=cfg) in line, line
    assert "started" not in line


def test_a_region_in_any_case_is_read(monkeypatch):
    monkeypatch.setenv("CALLBRIDGE_REGION", "dk")
    monkeypatch.setenv("CALLBRIDGE_AMI_SECRET", "x")
    assert load_settings().region == "DK"


def test_an_empty_path_setting_means_none(monkeypatch):
    monkeypatch.setenv("CALLBRIDGE_CDR_CSV", "")
    monkeypatch.setenv("CALLBRIDGE_AMI_SECRET", "x")
    assert load_settings().cdr_csv is None


def test_a_misspelt_environment_variable_suggests_the_name(monkeypatch):
    monkeypatch.setenv("CALLBRIDGE_AMI_USERNMAE", "x")
    line = _one_error_line(CliRunner().invoke(main, ["accounts"]))
    assert "CALLBRIDGE_AMI_USERNMAE" in line and "did you mean CALLBRIDGE_AMI_USERNAME?" in line


def test_an_unreadable_manager_conf_is_named(tmp_path, monkeypatch):
    conf = tmp_path / "manager.conf"
    conf.mkdir()  # exists, can't be read as a file (works as root too, unlike chmod 000)
    monkeypatch.setenv("CALLBRIDGE_AMI_MANAGER_CONF", str(conf))
    line = _one_error_line(CliRunner().invoke(main, ["accounts"]))
    assert "CALLBRIDGE_AMI_MANAGER_CONF" in line and str(conf) in line
    monkeypatch.setenv("CALLBRIDGE_AMI_MANAGER_CONF", str(tmp_path / "missing.conf"))
    line = _one_error_line(CliRunner().invoke(main, ["accounts"]))
    assert "CALLBRIDGE_AMI_MANAGER_CONF: no such file" in line


def test_an_unopenable_database_is_named(tmp_path, monkeypatch):
    (tmp_path / "plain-file").write_text("x")
    monkeypatch.setenv("CALLBRIDGE_DATABASE", str(tmp_path / "plain-file" / "cb.db"))
    line = _one_error_line(CliRunner().invoke(main, ["db", "init"]))
    assert "CALLBRIDGE_DATABASE: cannot open" in line and "plain-file" in line
    not_sqlite = tmp_path / "garbage.db"
    not_sqlite.write_bytes(b"this is not a database" * 100)
    monkeypatch.setenv("CALLBRIDGE_DATABASE", str(not_sqlite))
    line = _one_error_line(CliRunner().invoke(main, ["accounts"]))
    assert "CALLBRIDGE_DATABASE: cannot open" in line and "garbage.db" in line


@pytest.mark.parametrize("command", [["keys", "list"], ["keys", "create", "--account", "acme"],
                                     ["accounts", "add", "acme"], ["accounts"],
                                     ["extensions", "list"], ["db", "migrate"],
                                     ["contacts", "export", "--account", "acme"]])
def test_only_db_init_creates_a_database_and_every_command_says_which_it_uses(
        tmp_path, monkeypatch, command):
    """Issue 22 §1: any command created a database wherever it pointed (another folder, a
    misspelt path), and keys or extensions then landed where the service never read."""
    db = tmp_path / "missing" / "new.db"
    monkeypatch.setenv("CALLBRIDGE_DATABASE", str(db))
    line = _one_error_line(CliRunner().invoke(main, command))
    assert f"no database at {db}" in line and "callbridge db init" in line
    assert not db.exists() and not db.parent.exists()
    made = CliRunner().invoke(main, ["db", "init"])
    assert made.exit_code == 0 and f"{db}: created, schema version" in made.output
    assert CliRunner().invoke(main, ["db", "init"]).output.startswith(f"{db}: exists")
    done = CliRunner().invoke(main, ["accounts"])
    assert done.exit_code == 0 and f"callbridge: database {db}" in done.output


def test_version_short_help_and_serve_help_lists_every_setting():
    from callbridge import __version__
    from callbridge.settings import Settings

    runner = CliRunner()
    assert runner.invoke(main, ["--version"]).output.strip() == f"callbridge, version {__version__}"
    assert runner.invoke(main, ["-h"]).output == runner.invoke(main, ["--help"]).output
    helped = runner.invoke(main, ["serve", "--help"])
    assert helped.exit_code == 0
    for name, field in Settings.model_fields.items():
        assert f"CALLBRIDGE_{name.upper()}" in helped.output and field.description, name
    assert "rate_limit = 1000/15m" in helped.output and "port = 2343" in helped.output


def test_a_failed_extensions_add_leaves_no_new_account(tmp_path, monkeypatch):
    monkeypatch.setenv("CALLBRIDGE_DATABASE", created_database(tmp_path, "cb.db"))
    runner = CliRunner()
    assert runner.invoke(main, ["accounts", "add", "acme"]).exit_code == 0
    assert runner.invoke(main, ["extensions", "add", "--account", "acme", "309"]).exit_code == 0
    failed = runner.invoke(main, ["extensions", "add", "--account", "newco", "310"])
    assert failed.exit_code != 0 and "no account named 'newco'" in failed.output
    # a misspelt account name is an error naming the nearest one, not a second account
    failed = runner.invoke(main, ["extensions", "add", "--account", "acmee", "310"])
    assert failed.exit_code != 0 and "did you mean 'acme'?" in failed.output
    assert runner.invoke(main, ["accounts", "add", "acme"]).exit_code != 0  # exists
    listed = runner.invoke(main, ["accounts"]).stdout.splitlines()
    assert listed[1].split()[:2] == ["acme", "US"] and len(listed) == 2


def test_keys_create_list_revoke(tmp_path, monkeypatch):
    db = tmp_path / "cli.db"
    monkeypatch.setenv("CALLBRIDGE_DATABASE", str(db))
    runner = CliRunner()
    assert runner.invoke(main, ["db", "init"]).exit_code == 0
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
    version, limit = doc["paths"]["/contacts/contactsAfterVersion/{version}"]["get"]["parameters"]
    assert limit["in"] == "query" and not limit["required"] and "Link" in limit["description"]
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
    with pytest.raises(ConfigError, match="no such file"):  # named explicitly: a typo
        load_settings()



def test_accounts_set_region(tmp_path, monkeypatch):
    monkeypatch.setenv("CALLBRIDGE_DATABASE", created_database(tmp_path, "cb.db"))
    monkeypatch.setenv("CALLBRIDGE_REGION", "GB")  # new accounts' default
    runner = CliRunner()
    assert runner.invoke(main, ["keys", "create", "--account", "acme"]).exit_code == 0
    assert runner.invoke(main, ["accounts"]).stdout.splitlines()[1].split()[:2] == ["acme", "GB"]
    done = runner.invoke(main, ["accounts", "set-region", "acme", "dk"])
    assert done.exit_code == 0 and "region DK" in done.output
    assert runner.invoke(main, ["accounts"]).stdout.splitlines()[1].split()[:2] == ["acme", "DK"]
    line = _one_error_line(runner.invoke(main, ["accounts", "set-region", "acme", "XX"]))
    assert "not a region" in line
    line = _one_error_line(runner.invoke(main, ["accounts", "set-region", "nobody", "DK"]))
    assert "no account" in line


def test_db_backup_copies_a_live_database_consistently(tmp_path):
    import sqlite3

    from click.testing import CliRunner

    from callbridge.cli import main
    env = {"CALLBRIDGE_DATABASE": str(tmp_path / "cb.db")}
    runner = CliRunner()
    assert runner.invoke(main, ["db", "init"], env=env).exit_code == 0
    assert runner.invoke(main, ["keys", "create", "--account", "acme"], env=env).exit_code == 0
    writer = sqlite3.connect(tmp_path / "cb.db")  # a write transaction held open meanwhile
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("INSERT INTO accounts(name, region, uuid, created_at)"
                   " VALUES ('pending', 'US', 'u', 'now')")
    out = runner.invoke(main, ["db", "backup", str(tmp_path / "copy.db")], env=env)
    writer.rollback()
    assert out.exit_code == 0, out.output
    assert "integrity ok" in out.output
    names = [r[0] for r in sqlite3.connect(tmp_path / "copy.db").execute("SELECT name FROM accounts")]
    assert names == ["acme"]  # the committed state, not the open transaction
    again = runner.invoke(main, ["db", "backup", str(tmp_path / "copy.db")], env=env)
    assert again.exit_code == 1 and "exists" in again.output
    # the copy holds every account's data: as private as the database (it was 0644)
    assert stat.S_IMODE((tmp_path / "copy.db").stat().st_mode) == 0o600


def test_files_a_command_cannot_write_are_one_line_each(tmp_path):
    """Each once a traceback (issue 22 §6)."""
    from click.testing import CliRunner

    from callbridge.cli import main
    env = {"CALLBRIDGE_DATABASE": str(tmp_path / "cb.db")}
    runner = CliRunner()
    assert runner.invoke(main, ["db", "init"], env=env).exit_code == 0
    assert runner.invoke(main, ["accounts", "add", "acme"], env=env).exit_code == 0
    src = tmp_path / "in.csv"
    src.write_text("firstname,mobile_phone\nAda,5551234\n")
    for args in (["db", "backup", "/nonexistent/dir/x.db"],
                 ["contacts", "export", "--account", "acme", "-o", "/nonexistent/dir/x.csv"],
                 ["contacts", "import", "--account", "acme", "--rejects",
                  "/nonexistent/dir/r.csv", str(src)]):
        line = _one_error_line(runner.invoke(main, args, env=env))
        assert "/nonexistent/dir/" in line and "No such file or directory" in line, line


def test_a_secret_with_a_hash_or_question_mark_is_named_and_its_escape_works(monkeypatch):
    """A '#' in a secret gave "the port is not a number" (the URL ended at it; issue 22 §6)."""
    monkeypatch.setenv("CALLBRIDGE_AMI", "a=ami://callbridge:pa#ss?word@127.0.0.1:5038")
    with pytest.raises(ConfigError) as bad:
        load_settings()
    assert "write '#' as %23" in str(bad.value) and "pa#ss" not in str(bad.value)
    monkeypatch.setenv("CALLBRIDGE_AMI",
                       "a=ami://callbridge:pa%23ss%3Fw%25rd%40x@127.0.0.1:5039")
    [node] = load_settings().nodes()
    assert (node.secret, node.port) == ("pa#ss?w%rd@x", 5039)


@pytest.mark.parametrize("value", [
    "ami://callbridge:Sup3rSecretValue42@127.0.0.1:5038/var/log/Master.csv",
    "BAD!=ami://callbridge:Sup3rSecretValue42@127.0.0.1",
    "a=ami://callbridge:Sup3rSecretValue42@127.0.0.1:notaport",
    "a=http://callbridge:Sup3rSecretValue42@127.0.0.1"])
def test_a_bad_ami_node_setting_never_repeats_its_secret(monkeypatch, capsys, value):
    """CALLBRIDGE_AMI holds AMI secrets: a mistake in it is named, its secret is not (a node
    given without its name= once showed the first 32 characters of the URL, secret included)."""
    monkeypatch.setenv("CALLBRIDGE_AMI", value)
    with pytest.raises(SystemExit):
        main(["keys", "list", "--account", "acme"])
    err = capsys.readouterr().err
    assert "CALLBRIDGE_AMI" in err and "Sup3r" not in err and "Value42" not in err, err


def test_amis_and_ami_tls_mean_tls_on_port_5039_unless_one_is_given(monkeypatch, tmp_path):
    monkeypatch.setenv("CALLBRIDGE_AMI", "a=amis://callbridge:s3cret@pbx.example.com/x.csv"
                                         " b=amis://callbridge:s3cret@10.0.0.2:6000"
                                         " c=ami://callbridge:s3cret@10.0.0.3")
    a, b, c = load_settings().nodes()
    assert (a.tls, a.port, b.tls, b.port, c.tls, c.port) == (True, 5039, True, 6000, False, 5038)
    assert a.where == "amis://callbridge@pbx.example.com:5039"
    monkeypatch.delenv("CALLBRIDGE_AMI")
    monkeypatch.setenv("CALLBRIDGE_AMI_SECRET", "s3cret")
    monkeypatch.setenv("CALLBRIDGE_AMI_TLS", "true")
    [node] = load_settings().nodes()
    assert (node.tls, node.port) == (True, 5039)
    monkeypatch.setenv("CALLBRIDGE_AMI_PORT", "5040")
    [node] = load_settings().nodes()
    assert (node.tls, node.port) == (True, 5040)


def test_an_ami_tls_ca_that_cannot_be_loaded_is_one_line_at_start(monkeypatch, tmp_path):
    monkeypatch.setenv("CALLBRIDGE_AMI", "a=amis://callbridge:s3cret@10.0.0.2")
    for ca, said in ((tmp_path / "missing.pem", "No such file"),
                     (tmp_path / "garbage.pem", "cannot load")):
        if ca.name == "garbage.pem":
            ca.write_text("not a certificate\n")
        monkeypatch.setenv("CALLBRIDGE_AMI_TLS_CA", str(ca))
        with pytest.raises(ConfigError) as bad:
            load_settings()
        assert str(bad.value).startswith("CALLBRIDGE_AMI_TLS_CA: cannot load"), bad.value
        assert said in str(bad.value) and "s3cret" not in str(bad.value)
    monkeypatch.setenv("CALLBRIDGE_AMI", "a=ami://callbridge:s3cret@10.0.0.2")
    assert load_settings().ami_tls_ca == tmp_path / "garbage.pem"  # no TLS node: not loaded
