"""Standard Webhooks signatures (https://www.standardwebhooks.com): the receiver verifies
HMAC-SHA256 over "<webhook-id>.<webhook-timestamp>.<body>" with the base64 key after "whsec_".
Tests check these with the `standardwebhooks` reference package."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

PREFIX = "whsec_"


def new_secret() -> str:
    return PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    key = base64.b64decode(secret.removeprefix(PREFIX))
    mac = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()
