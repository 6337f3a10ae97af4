"""Headless Chromium, as Debian ships it, driven by Playwright: started once per test
module that uses it. Only the browser tests import Playwright."""

from __future__ import annotations

from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler
from typing import Any

import pytest
from playwright.sync_api import Browser, sync_playwright

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS
        )
        yield launched
        launched.close()


class QuietHandler(SimpleHTTPRequestHandler):
    """A static file server (a partner's site) that logs nothing."""

    def log_message(self, format: str, *args: Any) -> None:
        pass
