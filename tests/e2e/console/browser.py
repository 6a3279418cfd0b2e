"""Steps the console tests share: signing in, adding files, screenshots.

Screenshots go to `test-output/console/`; `CONSOLE_SCREENSHOTS_DIR=docs/console` writes
them where the README shows them instead.
"""

import base64
import os
from pathlib import Path

from playwright.sync_api import Locator, Page, expect

from devstack.stack import REPO_ROOT

SCREENSHOTS = Path(os.environ.get("CONSOLE_SCREENSHOTS_DIR", REPO_ROOT / "test-output" / "console"))
# Jobs run on a small shared worker; an explanation takes many model requests.
JOB_TIMEOUT_MS = 90_000


def shoot(page: Page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def sign_in(page: Page, key: str) -> None:
    page.goto("/console/")
    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Jobs", exact=True)).to_be_visible()


def choose_files(page: Page, *paths: Path) -> None:
    """Through the labelled file input, as a keyboard or mouse user picks files."""
    page.get_by_label("Choose images…").set_input_files([str(path) for path in paths])


def drop_file(page: Page, path: Path, media_type: str = "image/jpeg") -> None:
    """Drops the file on the upload area, as a drag from the desktop does."""
    transfer = page.evaluate_handle(
        """([name, encoded, type]) => {
            const bytes = Uint8Array.from(atob(encoded), (c) => c.charCodeAt(0));
            const transfer = new DataTransfer();
            transfer.items.add(new File([bytes], name, { type }));
            return transfer;
        }""",
        [path.name, base64.b64encode(path.read_bytes()).decode(), media_type],
    )
    page.dispatch_event(".dropzone", "dragenter", {"dataTransfer": transfer})
    page.dispatch_event(".dropzone", "drop", {"dataTransfer": transfer})


def job_cards(page: Page, verdict: str | None = None) -> Locator:
    cards = page.locator(".gallery .job-card")
    if verdict is not None:
        cards = cards.filter(has=page.locator(f'[data-verdict="{verdict}"]'))
    return cards
