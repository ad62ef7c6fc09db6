"""Shapes of the admin API."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

Name = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")]
Region = Annotated[str, Field(min_length=2, max_length=2, description="ISO 3166 alpha-2")]


class AccountCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Name
    region: Region | None = None


class AccountUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Name | None = None
    region: Region | None = None


class AccountView(BaseModel):
    id: str = Field(description="the account's public id (AgentVoice's organization id)")
    name: str
    region: str


class DeleteQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    confirm: str | None = Field(None, max_length=64, description="the account's name, repeated")


class KeyView(BaseModel):
    id: str
    created_at: str
    revoked_at: str | None = None
    scopes: list[str] = Field(description="what the key may do (callbridge.scopes)")
    expires_at: str | None = None
    last_used_at: str | None = Field(None, description="to within a minute")


class KeyCreate(BaseModel):
    """Scopes and/or a preset (their union; neither: every account scope), and an expiry."""
    model_config = ConfigDict(extra="forbid")
    scopes: list[Annotated[str, Field(max_length=32)]] | None = Field(
        None, max_length=16, description="e.g. [\"contacts:read\", \"dial\"]")
    preset: str | None = Field(None, max_length=32,
                               description="receptionist, crm-sync, reporting or full")
    expires: str | None = Field(None, max_length=40,
                                description="a span (90d, 12h, 4w) or a date or time (ISO 8601)")


class KeyCreated(BaseModel):
    id: str
    key: str = Field(description="the key: shown this once only")
    scopes: list[str]
    expires_at: str | None = None


class ExtensionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    extension: Annotated[str, Field(pattern=r"^[0-9]{2,10}$")]
    account: str = Field(max_length=64, description="the owner account's id")
    mobile: Annotated[str, Field(max_length=32)] | None = None
    name: Annotated[str, Field(max_length=100)] | None = None
    did: Annotated[str, Field(max_length=32)] | None = None
    node: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$")] | None = Field(
        None, description="the Asterisk node serving it (CALLBRIDGE_AMI); default: the first")


class ExtensionView(BaseModel):
    extension: str
    account: str = Field(description="the owner account's id")
    account_name: str
    mobile: str | None = None
    name: str | None = None
    did: str | None = None
    node: str | None = None


class ExtensionsQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    account: str | None = Field(None, max_length=64, description="only this account's (its id)")


class Done(BaseModel):
    deleted: str
