"""Every setting in one typed place: environment variables CALLBRIDGE_*, optionally a TOML file.

Precedence, highest first: environment, the TOML file given with ``--config``, the defaults here.
TOML keys are the setting names in lower case without the prefix (``port = 2343``).
"""

from __future__ import annotations

import configparser
import difflib
import os
import re
import ssl
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar
from urllib.parse import unquote, urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from callbridge.phone import valid_region

_RATE_RE = re.compile(r"^\s*(\d+)\s*/\s*(\d*)\s*([smh])\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600}


def parse_rate_limit(text: str) -> tuple[int, int]:
    """'1000/15m' -> (1000 requests, 900 seconds)."""
    m = _RATE_RE.match(text)
    if not m:
        raise ValueError("rate limit must look like 1000/15m (requests / [count]s|m|h)")
    count, mult, unit = int(m.group(1)), int(m.group(2) or 1), m.group(3)
    if count < 1 or mult < 1:
        raise ValueError("rate limit count and window must be positive")
    return count, mult * _UNIT_SECONDS[unit]


class ConfigError(Exception):
    """A problem the operator must fix before callbridge can run: one line naming the setting
    (as the environment variable), never a traceback."""


def env_name(setting: str) -> str:
    return "CALLBRIDGE_" + setting.upper()


class Settings(BaseSettings):
    # extra="forbid": a misspelt TOML key is an error that suggests the nearest name
    # (load_settings), never a setting silently left at its default.
    model_config = SettingsConfigDict(env_prefix="CALLBRIDGE_", extra="forbid")

    database: str = Field("callbridge.db",
                          description="SQLite file, or postgresql://user:password@host/db for"
                                      " several instances on one database; created and"
                                      " migrated on start")
    database_pool_size: int = Field(10, ge=2, le=100,
                                    description="PostgreSQL only: connections each instance"
                                                " pools (it opens one more to listen); the"
                                                " server's max_connections must cover"
                                                " instances x (this + 1)")
    host: str = Field("127.0.0.1", description="HTTP listen address")
    port: int = Field(2343, ge=1, le=65535, description="HTTP listen port")
    rate_limit: str = Field("1000/15m", description="requests per window per API key"
                                                    " (per client IP without a valid key)")
    log_level: str = Field("INFO", pattern=r"^(?i:debug|info|warning|error)$",
                           description="DEBUG, INFO, WARNING or ERROR; logs are JSON lines on"
                                       " stderr, one INFO access line per request")
    cors_origins: str = Field("", description="comma-separated browser origins allowed to call"
                                              " the API (https://crm.example.com); empty: none")
    tls_cert: Path | None = Field(None, description="PEM certificate (chain): serve HTTPS")
    tls_key: Path | None = Field(None, description="PEM private key of tls_cert")

    # The AMI link. No secret and no such user in manager.conf = no AMI link.
    ami_host: str = Field("127.0.0.1", description="Asterisk Manager Interface host")
    ami_port: int = Field(5038, ge=1, le=65535, description="AMI port (read from manager.conf"
                                                            " when the secret is)")
    ami_username: str = Field("callbridge", description="AMI user")
    ami_secret: SecretStr = Field(SecretStr(""), description="AMI secret; empty: read the user's"
                                                             " secret from ami_manager_conf")
    ami_manager_conf: Path | None = Field(Path("/etc/asterisk/manager.conf"),
                                          description="where a local Asterisk's AMI users are")
    ami: SecretStr = Field(SecretStr(""), description="several Asterisk nodes, separated by"
                           " spaces: name=ami://user:secret@host:port/path/to/Master.csv (the"
                           " path optional; amis:// for AMI over TLS, port 5039 by default);"
                           " empty: one node, 'default', from the ami_* settings and cdr_csv")
    ami_tls: bool = Field(False, description="the 'default' node's AMI over TLS (manager.conf"
                                             " tlsenable; port 5039 unless ami_port is set);"
                                             " Asterisk's certificate is verified")
    ami_tls_ca: Path | None = Field(None, description="PEM CA certificate(s) Asterisk's AMI"
                                                      " certificates are checked against; empty:"
                                                      " the system's trust store")
    ami_action_timeout: float = Field(5.0, gt=0, description="seconds an AMI action may take")
    ami_ping_interval: float = Field(5.0, gt=0, description="seconds between link checks")
    ami_reconnect_max: float = Field(30.0, gt=0, description="longest wait between reconnects")
    prefer_nodes: str = Field("", pattern=r"^([a-z0-9][a-z0-9_-]{0,31}(,[a-z0-9][a-z0-9_-]{0,31})*)?$",
                              description="several instances on PostgreSQL: the nodes (names in"
                                          " CALLBRIDGE_AMI, comma-separated) this instance reads"
                                          " whenever it runs; the others are spread evenly")

    # Dialplan contexts callbridge originates into (see docs/dialplan.md).
    ring_context: str = Field("callbridge-ring", pattern=r"^[A-Za-z0-9_-]{1,79}$",
                              description="context that rings an extension's devices")
    outbound_context: str = Field("callbridge-outbound", pattern=r"^[A-Za-z0-9_-]{1,79}$",
                                  description="context that dials the requested number")
    originate_timeout: float = Field(30.0, gt=0, description="seconds the devices may ring")

    # Caller ID for the PBX (docs/dialplan.md): the dialplan's CURL() asks GET /callerid.
    callerid_token: SecretStr = Field(SecretStr(""), description="the token the dialplan sends to"
                                      " GET /callerid (asterisk-conf renders it in); empty: off")
    # False by default: carriers send "WIRELESS CALLER", "PSTN" or a city as the name, and a
    # contact's name is what the receptionist wants to read (issue 22)
    callerid_keep_trunk_names: bool = Field(False, description="keep a caller name the trunk"
                                            " supplies (unless empty or only a number) even when"
                                            " a contact holds the number; false: the contact's"
                                            " name wins, the trunk's shows when none matches")

    # The call log: Asterisk's durable CDR copy for backfill, and the home region for formatting.
    cdr_csv: Path | None = Field(Path("/var/log/asterisk/cdr-csv/Master.csv"),
                                 description="Asterisk's Master.csv, read back after downtime")
    cdr_csv_history: str = Field("import", pattern=r"^(import|skip)$",
                                 description="first start beside an existing Master.csv: import"
                                             " its older calls, or skip them and start at its end")
    region: str = Field("US", description="home region of new accounts (how their numbers are read:"
                                    " callbridge accounts set-region) and of call-log formatting")

    # Screen-pop: the live event stream and webhooks (docs/screen-pop.md).
    events_retention_hours: float = Field(24.0, gt=0, le=24 * 30,
                                          description="hours call events stay in the journal a"
                                                      " client can resume from (Last-Event-ID)")
    events_heartbeat: float = Field(20.0, gt=0, le=300,
                                    description="seconds between keep-alives on an idle event"
                                                " stream (WebSocket ping, SSE comment)")
    events_client_buffer: int = Field(1000, ge=10, le=100_000,
                                      description="events queued for one slow stream client"
                                                  " before it is closed (it resumes with after=)")
    audit_retention_days: int = Field(365, ge=1, le=3650,
                                      description="days entries stay in the audit trail (GET"
                                                  " /admin/audit): key, account, extension,"
                                                  " webhook and import changes")
    metrics_token: SecretStr = Field(SecretStr(""), description="bearer token GET /metrics"
                                     " requires; empty: /metrics is open (bind to loopback)")
    webhook_allow_private: bool = Field(False, description="allow webhook URLs on loopback,"
                                                           " private or link-local addresses")

    @field_validator("tls_cert", "tls_key", "ami_manager_conf", "cdr_csv", "ami_tls_ca",
                     mode="before")
    @classmethod
    def _empty_is_none(cls, v):
        """CALLBRIDGE_CDR_CSV= (empty) means none, not the current directory."""
        return None if isinstance(v, str) and not v.strip() else v

    @field_validator("region", mode="before")
    @classmethod
    def _a_known_region(cls, v):
        """'dk' is DK; a code phone numbers don't know ('XX', 'usa') is refused, not stored."""
        code = v.strip().upper() if isinstance(v, str) else v
        if not isinstance(code, str) or not valid_region(code):
            raise ValueError(f"{v!r} is not a region (a two-letter country code such as US, DK)")
        return code

    @field_validator("ami")
    @classmethod
    def _check_nodes(cls, v: SecretStr) -> SecretStr:
        parse_nodes(v.get_secret_value())  # a bad list is an error at start, naming the entry
        return v

    def preferred_nodes(self) -> frozenset[str]:
        """prefer_nodes, each a configured node's name (ConfigError naming one that isn't)."""
        names = {n.name for n in self.nodes()}
        chosen = frozenset(n for n in self.prefer_nodes.split(",") if n)
        unknown = sorted(chosen - names)
        if unknown:
            raise ConfigError(f"CALLBRIDGE_PREFER_NODES: no node {unknown[0]!r}; CALLBRIDGE_AMI"
                              f" names {', '.join(sorted(names))}")
        return chosen

    def nodes(self) -> list[AmiNode]:
        """The Asterisk nodes: CALLBRIDGE_AMI's, or the one the ami_* settings describe."""
        listed = parse_nodes(self.ami.get_secret_value())
        if listed:
            return listed
        port = self.ami_port
        if self.ami_tls and "ami_port" not in self.model_fields_set:
            port = AMI_TLS_PORT
        return [AmiNode("default", self.ami_host, port, self.ami_username,
                        self.ami_secret.get_secret_value(), self.cdr_csv, tls=self.ami_tls)]

    def ami_tls_context(self) -> ssl.SSLContext:
        """How AMI over TLS checks Asterisk: its certificate must chain to ami_tls_ca (or the
        system's trust store) and name the node's host, as HTTPS would: the AMI secret goes over
        this link. A CA file that can't be read is a ConfigError."""
        try:
            return ssl.create_default_context(cafile=self.ami_tls_ca)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(f"CALLBRIDGE_AMI_TLS_CA: cannot load {self.ami_tls_ca}:"
                              f" {getattr(exc, 'strerror', None) or exc}") from None

    @field_validator("database", mode="before")
    @classmethod
    def _database_text(cls, v):
        """A path object (tests, TOML) is the file's name."""
        return str(v) if isinstance(v, Path) else v

    @property
    def postgres(self) -> bool:
        """CALLBRIDGE_DATABASE names a PostgreSQL database, not a SQLite file."""
        return self.database.startswith(("postgresql://", "postgres://"))

    @field_validator("rate_limit")
    @classmethod
    def _check_rate(cls, v: str) -> str:
        parse_rate_limit(v)
        return v

    @property
    def rate_limit_parsed(self) -> tuple[int, int]:
        return parse_rate_limit(self.rate_limit)

    @property
    def cors_origin_list(self) -> list[str]:
        return [o.strip().rstrip("/") for o in self.cors_origins.split(",") if o.strip()]

    @field_validator("cors_origins")
    @classmethod
    def _check_origins(cls, v: str) -> str:
        for origin in (o.strip() for o in v.split(",") if o.strip()):
            if origin == "*" or not re.match(r"^https?://[^/\s*]+/?$", origin):
                raise ValueError(f"{origin!r} is not an origin like https://crm.example.com"
                                 " (a wildcard is not allowed: keys are credentials)")
        return v

    # A TOML file can be given per load(); pydantic-settings reads it through this class variable.
    toml_file: ClassVar[Path | None] = None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if cls.toml_file is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=cls.toml_file))
        return tuple(sources)


_NODE_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")


@dataclass(frozen=True)
class AmiNode:
    """One Asterisk node: its AMI login and its Master.csv (None: not read)."""

    name: str
    host: str
    port: int
    username: str
    secret: str = field(repr=False)
    cdr_csv: Path | None
    tls: bool = False  # amis://: AMI over TLS

    @property
    def where(self) -> str:
        return f"{'amis://' if self.tls else ''}{self.username}@{self.host}:{self.port}"


AMI_TLS_PORT = 5039  # Asterisk's tlsbindaddr default, as in its manager.conf.sample

_AMI_SECRET = re.compile(r"(//[^/@]*?:)[^@]*@")  # ami://user:SECRET@… (no @ in it: quoted)


def parse_nodes(text: str) -> list[AmiNode]:
    """CALLBRIDGE_AMI: 'name=ami://user:secret@host:port/path/Master.csv …'. Errors never
    repeat the secret."""
    nodes: list[AmiNode] = []
    for entry in text.split():
        name, sep, url = entry.partition("=")
        if not sep or not _NODE_NAME.match(name):
            # without its name= the entry is the URL, whose secret must not be repeated
            shown = name[:32] if sep and "//" not in name else _AMI_SECRET.sub(r"\1***@", entry)
            raise ValueError(f"{shown!r}: each node is name=ami://user:secret@host:port/path,"
                             " the name 1-32 of a-z 0-9 _ -")
        if any(n.name == name for n in nodes):
            raise ValueError(f"node {name!r} is listed twice")
        if "#" in url or "?" in url:  # a URL's fragment and query: the rest would be lost
            raise ValueError(f"node {name!r}: write '#' as %23 and '?' as %3F in the URL (and"
                             " '%' as %25, '@' %40, ':' %3A, '/' %2F in a user or secret)")
        parts = urlsplit(url)
        tls = parts.scheme == "amis"
        try:
            port = parts.port or (AMI_TLS_PORT if tls else 5038)
        except ValueError:
            raise ValueError(f"node {name!r}: the port is not a number") from None
        if (parts.scheme not in ("ami", "amis") or not parts.hostname or not parts.username
                or not parts.password):
            raise ValueError(f"node {name!r}: expected ami://user:secret@host:port/path"
                             " (or amis:// for TLS)")
        nodes.append(AmiNode(name, parts.hostname, port, unquote(parts.username),
                             unquote(parts.password), Path(unquote(parts.path)) if parts.path
                             and parts.path != "/" else None, tls=tls))
    return nodes


def local_ami_user(manager_conf: Path, username: str) -> tuple[int, str] | None:
    """(port, secret) of `username` in an Asterisk manager.conf, if it has that user.
    A file that exists but can't be read is a ConfigError, not "no AMI"."""
    parser = configparser.ConfigParser(strict=False, inline_comment_prefixes=(";",),
                                       comment_prefixes=(";", "#"), interpolation=None)
    try:
        text = manager_conf.read_text(errors="replace")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ConfigError(f"CALLBRIDGE_AMI_MANAGER_CONF: cannot read {manager_conf}:"
                          f" {exc.strerror or exc} (run callbridge as a user in the asterisk"
                          " group, or set CALLBRIDGE_AMI_SECRET)") from None
    try:
        parser.read_string(text)
    except configparser.Error:
        return None
    if not parser.has_option(username, "secret"):
        return None
    try:
        port = int(parser.get("general", "port", fallback="5038"))
    except ValueError:
        port = 5038
    return port, parser.get(username, "secret")


def _unknown(names: list[str], spelled, where: str) -> None:
    known = list(Settings.model_fields)
    for name in names:
        if name not in known:
            near = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
            hint = f"; did you mean {spelled(near[0])}?" if near else ""
            raise ConfigError(f"{spelled(name)}: unknown setting in {where}{hint}")


def _toml_keys(config: Path) -> list[str]:
    try:
        with config.open("rb") as f:
            return list(tomllib.load(f))
    except OSError as exc:
        raise ConfigError(f"--config: cannot read {config}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"--config: {config} is not valid TOML: {exc}") from None


def _explain(exc: ValidationError) -> ConfigError:
    first = exc.errors(include_url=False)[0]
    name = str(first["loc"][0]) if first["loc"] else "?"
    shown = "" if name in ("ami_secret", "ami") else f" (got {first.get('input')!r})"
    return ConfigError(f"{env_name(name)}: {first['msg']}{shown}")


def load_settings(config: Path | None = None, **overrides) -> Settings:
    """The settings, or a ConfigError naming the first problem: an unknown or misspelt name (in
    the TOML file or among the CALLBRIDGE_* variables), a bad value, an unreadable file."""
    if config is not None:
        if not config.is_file():
            raise ConfigError(f"--config: no such file: {config}")
        _unknown(_toml_keys(config), lambda n: n, str(config))
    _unknown([k[len("CALLBRIDGE_"):].lower() for k in os.environ if k.startswith("CALLBRIDGE_")],
             env_name, "the environment")
    Settings.toml_file = config
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        raise _explain(exc) from None
    finally:
        Settings.toml_file = None
    if (settings.tls_cert is None) != (settings.tls_key is None):
        raise ConfigError("CALLBRIDGE_TLS_CERT / CALLBRIDGE_TLS_KEY: set both, or neither")
    for name in ("tls_cert", "tls_key"):
        path = getattr(settings, name)
        if path is not None and not os.access(path, os.R_OK):
            raise ConfigError(f"{env_name(name)}: cannot read {path}")
    if settings.ami_tls or any(node.tls for node in settings.nodes()):
        settings.ami_tls_context()  # a CA file that can't be loaded is said at start
    conf = settings.ami_manager_conf
    if not settings.ami_secret.get_secret_value() and conf is not None:
        if "ami_manager_conf" in settings.model_fields_set and not conf.exists():
            raise ConfigError(f"CALLBRIDGE_AMI_MANAGER_CONF: no such file: {conf}")
        found = local_ami_user(conf, settings.ami_username)
        if found is not None:
            port, secret = found
            updates: dict[str, object] = {"ami_secret": SecretStr(secret)}
            if "ami_port" not in settings.model_fields_set and not settings.ami_tls:
                updates["ami_port"] = port  # manager.conf's port is the clear-text one
            settings = settings.model_copy(update=updates)
    return settings
