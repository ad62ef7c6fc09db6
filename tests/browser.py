"""Debian's Chromium driven by Playwright (its own browser download can't be reached here):
scripts/install-browser.sh installs it. Missing outside CI: the browser tests skip; in CI they
fail, since the page must be tested."""

from __future__ import annotations

import shutil
import tempfile
from contextlib import asynccontextmanager

from tests.conftest import unavailable

CHROMIUM = "/usr/bin/chromium"
# The flags the machine needs: no sandbox as root, and no background calls to Google's hosts,
# which this closed network refuses (slowly, many at a time).
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def need_chromium() -> None:
    if shutil.which(CHROMIUM) is None:
        unavailable(f"{CHROMIUM} missing: run `sudo scripts/install-browser.sh`")


@asynccontextmanager
async def chromium_page():
    need_chromium()
    from playwright.async_api import async_playwright
    with tempfile.TemporaryDirectory() as profile:
        async with async_playwright() as pw:
            context = await pw.chromium.launch_persistent_context(
                profile, executable_path=CHROMIUM, headless=True, args=FLAGS)
            try:
                page = context.pages[0] if context.pages else await context.new_page()
                yield page
            finally:
                await context.close()
