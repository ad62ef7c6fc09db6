"""Every setting in one typed place: environment variables CALLBRIDGE_*, optionally a TOML file.

Precedence, highest first: environment, the TOML file given with ``--config``, the defaults here.
TOML keys are the setting names in lower case without the prefix (``port = 2343``).
"""

from __future__ import annotations

import configparser
import re
from pathlib import Path
from typing import ClassVar

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

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


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CALLBRIDGE_", extra="ignore")

    database: Path = Path("./callbridge.db")
    host: str = "127.0.0.1"
    port: int = Field(2343, ge=1, le=65535)
    rate_limit: str = "1000/15m"
    log_level: str = "INFO"

    # The AMI link (issue: dialer). Empty username = no AMI link configured.
    ami_host: str = "127.0.0.1"
    ami_port: int = Field(5038, ge=1, le=65535)
    ami_username: str = "callbridge"
    ami_secret: SecretStr = SecretStr("")
    # With no secret set, the AMI user is looked up here: a local Asterisk is used as is.
    ami_manager_conf: Path | None = Path("/etc/asterisk/manager.conf")
    ami_action_timeout: float = Field(5.0, gt=0)
    ami_ping_interval: float = Field(5.0, gt=0)
    ami_reconnect_max: float = Field(30.0, gt=0)

    # Dialplan contexts callbridge originates into (see docs/dialplan.md).
    ring_context: str = Field("callbridge-ring", pattern=r"^[A-Za-z0-9_-]{1,79}$")
    outbound_context: str = Field("callbridge-outbound", pattern=r"^[A-Za-z0-9_-]{1,79}$")
    originate_timeout: float = Field(30.0, gt=0)

    # The call log: Asterisk's durable CDR copy for backfill, and the home region for formatting.
    cdr_csv: Path | None = Path("/var/log/asterisk/cdr-csv/Master.csv")
    region: str = Field("US", pattern=r"^[A-Z]{2}$")

    @field_validator("rate_limit")
    @classmethod
    def _check_rate(cls, v: str) -> str:
        parse_rate_limit(v)
        return v

    @property
    def rate_limit_parsed(self) -> tuple[int, int]:
        return parse_rate_limit(self.rate_limit)

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


def local_ami_user(manager_conf: Path, username: str) -> tuple[int, str] | None:
    """(port, secret) of `username` in an Asterisk manager.conf, if it has that user."""
    parser = configparser.ConfigParser(strict=False, inline_comment_prefixes=(";",),
                                       comment_prefixes=(";", "#"), interpolation=None)
    try:
        parser.read_string(manager_conf.read_text(errors="replace"))
    except (OSError, configparser.Error):
        return None
    if not parser.has_option(username, "secret"):
        return None
    try:
        port = int(parser.get("general", "port", fallback="5038"))
    except ValueError:
        port = 5038
    return port, parser.get(username, "secret")


def load_settings(config: Path | None = None, **overrides) -> Settings:
    if config is not None and not config.is_file():
        raise FileNotFoundError(f"config file not found: {config}")
    Settings.toml_file = config
    try:
        settings = Settings(**overrides)
    finally:
        Settings.toml_file = None
    if not settings.ami_secret.get_secret_value() and settings.ami_manager_conf is not None:
        found = local_ami_user(settings.ami_manager_conf, settings.ami_username)
        if found is not None:
            port, secret = found
            updates = {"ami_secret": SecretStr(secret)}
            if "ami_port" not in settings.model_fields_set:
                updates["ami_port"] = port
            settings = settings.model_copy(update=updates)
    return settings
