"""Whatever a client or reviewer wrote reaches the screen as text, and the console works
from the keyboard with named controls."""

from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from devstack.process import ServiceProcess
from tests.e2e.clients import auth_headers
from tests.e2e.console.browser import JOB_TIMEOUT_MS, job_cards, shoot, sign_in
from tests.e2e.jobs import ImageServer, wait_for_job

pytestmark = pytest.mark.e2e

HOSTILE = "<img src=x onerror=alert(1)>"


def _hostile_job(gateway: str, key: str, samples_dir: Path) -> str:
    crop = next(samples_dir.glob("real/*.jpg"))
    with httpx.Client(base_url=gateway, headers=auth_headers(key), timeout=30) as api:
        response = api.post(
            "/v1/jobs",
            files={"file": ("x.jpg", crop.read_bytes(), "image/jpeg")},
            data={"metadata": f'{{"file_name": "{HOSTILE}", "post": "<b>bold</b>"}}'},
        )
        assert response.status_code == 202, response.text
        job_id: str = response.json()["id"]
        wait_for_job(api, job_id)
    return job_id


def test_markup_in_metadata_and_notes_shows_as_text(
    page: Page, console_key: str, gateway: str, samples_dir: Path, worker: ServiceProcess
) -> None:
    job_id = _hostile_job(gateway, console_key, samples_dir)
    sign_in(page, console_key)
    card = job_cards(page).first
    expect(card.locator(".title")).to_have_text(HOSTILE)
    expect(page.locator("img[src=x]")).to_have_count(0)
    expect(page.locator(".gallery b")).to_have_count(0)

    card.get_by_role("link").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(HOSTILE)
    page.get_by_text("Metadata", exact=True).click()
    expect(page.locator(".metadata pre")).to_contain_text('"post": "<b>bold</b>"')
    page.get_by_label("Note (optional)").fill(HOSTILE)
    page.get_by_role("button", name="Unsure").click()
    expect(page.locator(".reviews blockquote")).to_have_text(HOSTILE)
    expect(page.locator("img[src=x]")).to_have_count(0)
    expect(page.locator(".job-page b")).to_have_count(0)
    assert job_id in page.url
    # The page fixture fails the test on any alert, script error or policy violation.


def test_the_console_is_usable_from_the_keyboard(
    page: Page, console_key: str, image_server: ImageServer, worker: ServiceProcess
) -> None:
    page.goto("/console/")
    # The key field has focus at once; Enter submits.
    expect(page.get_by_label("API key")).to_be_focused()
    page.keyboard.type(console_key)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Jobs", exact=True)).to_be_focused()

    # Every control of the jobs page is named by its label.
    for label in ("Image URL", "Status", "Verdict", "Reviewed", "Search", "Model for new jobs"):
        expect(page.get_by_label(label, exact=True)).to_be_visible()
    chooser = page.get_by_label("Choose images…")
    chooser.focus()
    expect(chooser).to_be_focused()

    page.get_by_label("Image URL", exact=True).focus()
    page.keyboard.type(image_server.url("real/real00240.jpg"))
    page.keyboard.press("Enter")
    expect(page.locator(".uploads li .state")).to_have_text("queued")
    expect(job_cards(page, "real")).to_have_count(1, timeout=JOB_TIMEOUT_MS)

    job_cards(page).first.get_by_role("link").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_be_focused()
    for name in ("Show explanation", "Fake", "Real", "Unsure", "Delete job"):
        expect(page.get_by_role("button", name=name, exact=True)).to_be_enabled()
    page.get_by_role("button", name="Real", exact=True).focus()
    page.keyboard.press("Enter")
    expect(page.locator(".reviews li")).to_have_count(1)
    expect(page.locator(".reviews li")).to_contain_text("agrees with the model")


def test_the_about_page_is_public_and_hedged(page: Page, gateway: str) -> None:
    page.goto("/console/#/about")
    heading = page.get_by_role("heading", name="What a score does and does not mean")
    expect(heading).to_be_visible()
    article = page.locator("article")
    for phrase in (
        "not proof",
        "False positives",
        "Not legal advice",
        "Article 50",
        "August 2026",
        "TAKE IT DOWN Act",
        "elections",
    ):
        expect(article).to_contain_text(phrase)
    shoot(page, "about")
