"""The console in a real browser: Debian's chromium driven by Playwright, against the e2e
stack (tests/e2e/conftest.py: its gateway, worker and servers)."""

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Dialog,
    Page,
    ViewportSize,
    sync_playwright,
)

from tests.e2e.clients import CreateKey

CHROMIUM = Path(os.environ.get("CONSOLE_CHROMIUM", "/usr/bin/chromium"))
VIEWPORT: ViewportSize = {"width": 1280, "height": 900}
# Playwright must never fetch a browser of its own: the tests use Debian's.
os.environ["PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD"] = "1"


# The package's, not the session's: Playwright's sync API runs an event loop on this thread
# while it is started, which asyncio tests run after these would find running.
@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.is_file():
        pytest.fail(f"{CHROMIUM} not found: `make install` installs Debian's chromium")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM))
        yield launched
        launched.close()


@pytest.fixture
def context(browser: Browser, gateway: str) -> Iterator[BrowserContext]:
    context = browser.new_context(base_url=gateway, viewport=VIEWPORT, accept_downloads=True)
    context.set_default_timeout(15_000)
    yield context
    context.close()


@pytest.fixture
def page(context: BrowserContext) -> Iterator[Page]:
    """A page that fails the test on a script error, a CSP violation or an alert."""
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(f"script error: {error}"))
    page.on("console", lambda message: _policy_violation(message, problems))
    page.on("dialog", lambda dialog: _answer(dialog, problems))
    yield page
    assert not problems, problems


def _policy_violation(message: ConsoleMessage, problems: list[str]) -> None:
    if message.type == "error" and "Content Security Policy" in message.text:
        problems.append(f"console: {message.text}")


def _answer(dialog: Dialog, problems: list[str]) -> None:
    """The console asks one thing (confirm a deletion), which a test that clicks Delete
    means; an alert can only come from markup run as code."""
    if dialog.type == "confirm":
        dialog.accept()
        return
    problems.append(f"{dialog.type}: {dialog.message}")
    dialog.dismiss()


@pytest.fixture
def console_key(create_key: CreateKey) -> str:
    """A key of a tenant of its own: the gallery shows only this test's jobs."""
    return create_key("read", "submit")
