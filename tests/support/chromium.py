"""Debian's Chromium for the tests that drive a mock site's page directly (no daemon): one
browser, and a fresh context and page for each test."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from playwright.async_api import Browser, Page, async_playwright

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--no-default-browser-check",
    "--metrics-recording-only",
    "--disable-breakpad",
    "--no-sandbox",  # tests run as root in containers, where the sandbox cannot start
]


@asynccontextmanager
async def headless_chromium() -> AsyncIterator[Browser]:
    """A headless Chromium, closed at the end."""
    async with async_playwright() as driver:
        launched = await driver.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield launched
        finally:
            await launched.close()


@asynccontextmanager
async def fresh_page(browser: Browser) -> AsyncIterator[Page]:
    """A page in a context of its own (no cookies or storage from another test)."""
    context = await browser.new_context()
    try:
        yield await context.new_page()
    finally:
        await context.close()
