"""Where a webhook may POST: http(s) URLs whose host resolves only to public addresses, unless
the operator allows private ones (CALLBRIDGE_WEBHOOK_ALLOW_PRIVATE). Checked when a webhook is
created and again on every connection (SafeResolver), so a name that later resolves to
127.0.0.1 or 169.254.169.254 (DNS rebinding) is refused at send time too."""

from __future__ import annotations

import asyncio
import ipaddress
import socket

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver
from yarl import URL

from callbridge.errors import InvalidInput


class TargetRefused(Exception):
    pass


def public_address(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def parse_url(raw: str) -> URL:
    try:
        url = URL(raw)
    except (ValueError, TypeError):
        raise InvalidInput("not a URL", field="url", error="Invalid webhook URL") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise InvalidInput("the URL must be http:// or https:// with a host", field="url",
                           error="Invalid webhook URL")
    if url.user or url.password:
        raise InvalidInput("credentials in the URL would be stored and shown: verify the"
                           " signature instead", field="url", error="Invalid webhook URL")
    return url


def literal_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
        return True
    except ValueError:
        return False


async def check_target(url: URL, allow_private: bool, timeout: float = 5.0) -> None:
    """400 unless every address of the URL's host is public (or private ones are allowed)."""
    if allow_private:
        return
    host = url.host or ""
    if literal_ip(host):
        addresses = [host]
    else:
        try:
            async with asyncio.timeout(timeout):
                infos = await asyncio.get_running_loop().getaddrinfo(
                    host, url.port, type=socket.SOCK_STREAM)
        except (OSError, TimeoutError):
            raise InvalidInput(f"cannot resolve {host}", field="url",
                               error="Invalid webhook URL") from None
        addresses = [str(info[4][0]) for info in infos]
    private = [a for a in addresses if not public_address(a)]
    if private:
        raise InvalidInput(f"{host} resolves to a loopback, private or link-local address"
                           f" ({private[0]}); set CALLBRIDGE_WEBHOOK_ALLOW_PRIVATE=true to allow",
                           field="url", error="Webhook URL not allowed")


class SafeResolver(AbstractResolver):
    """aiohttp's resolver, refusing non-public answers (unless allowed)."""

    def __init__(self, allow_private: bool):
        self.allow_private = allow_private
        self._inner = DefaultResolver()

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        answers = await self._inner.resolve(host, port, family)
        if not self.allow_private:
            for a in answers:
                if not public_address(a["host"]):
                    raise TargetRefused(f"{host} resolves to {a['host']}, not a public address")
        return answers

    async def close(self) -> None:
        await self._inner.close()
