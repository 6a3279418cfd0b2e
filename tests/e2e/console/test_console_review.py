"""A reviewer's round in the console: sign in, upload, verdicts live in the gallery, the job
page with its boxes and explanation, a review, the export that holds it, a deletion."""

import io
import json
from pathlib import Path

import httpx
import pytest
from PIL import Image
from playwright.sync_api import Page, expect
from skimage import data

from devstack.process import ServiceProcess
from tests.e2e.clients import auth_headers
from tests.e2e.console.browser import (
    JOB_TIMEOUT_MS,
    choose_files,
    drop_file,
    job_cards,
    shoot,
    sign_in,
)

pytestmark = pytest.mark.e2e

# Where the astronaut's face lies in skimage's 512x512 photo (x0, y0, x1, y1).
ASTRONAUT_FACE = (175, 70, 280, 175)


def test_sign_in_upload_and_watch_the_verdicts_arrive(
    page: Page, console_key: str, samples_dir: Path, worker: ServiceProcess
) -> None:
    page.goto("/console/")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.get_by_label("API key").fill("dfk_00000000_" + "x" * 43)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text("That key was not accepted.")
    shoot(page, "sign-in")

    sign_in(page, console_key)
    # Kept for the tab only, and never in the address.
    assert page.evaluate("Object.values(sessionStorage)") == [console_key]
    assert console_key not in page.url

    crops = sorted(samples_dir.glob("*/*.jpg"))
    choose_files(page, *crops[:3])
    drop_file(page, crops[3])
    expect(job_cards(page)).to_have_count(4)
    # The gallery updates by itself as the worker finishes each job.
    expect(job_cards(page, "fake")).to_have_count(2, timeout=JOB_TIMEOUT_MS)
    expect(job_cards(page, "real")).to_have_count(2, timeout=JOB_TIMEOUT_MS)
    expect(page.locator(".gallery .thumb img")).to_have_count(4)
    shoot(page, "gallery")

    page.get_by_label("Verdict").select_option("real")
    expect(job_cards(page)).to_have_count(2)
    expect(job_cards(page, "real")).to_have_count(2)
    assert "verdict=real" in page.url
    page.get_by_label("Verdict").select_option("")
    expect(job_cards(page)).to_have_count(4)

    # Each gallery item is a link, reached and followed from the keyboard.
    first = page.locator(".gallery .job-card a").first
    first.focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("table", name="Faces")).to_be_visible()
    assert "#/jobs/job_" in page.url


def _astronaut(path: Path) -> Path:
    buffer = io.BytesIO()
    Image.fromarray(data.astronaut()).save(buffer, format="PNG")  # type: ignore[no-untyped-call]
    path.write_bytes(buffer.getvalue())
    return path


def _open_only_job(page: Page) -> str:
    expect(job_cards(page).locator(".badge[data-verdict]")).to_have_count(1, timeout=JOB_TIMEOUT_MS)
    job_cards(page).first.get_by_role("link").click()
    expect(page.get_by_role("table", name="Faces")).to_be_visible()
    return page.url.rsplit("/", 1)[1]


def _check_box_on_face(page: Page, face_box: list[int]) -> None:
    """The box is drawn over the face: where the job's result puts it, scaled as the image
    is shown, within a pixel or two."""
    x0, y0, x1, y1 = face_box
    assert _overlap(face_box, ASTRONAUT_FACE) > 0.8
    image = page.locator(".stage img.subject")
    expect(image).to_have_js_property("complete", True)
    box = page.locator(".stage .box")
    expect(box).to_have_count(1)
    expect(box).to_be_visible()
    shown = image.bounding_box()
    drawn = box.bounding_box()
    assert shown is not None
    assert drawn is not None
    scale = shown["width"] / 512
    assert abs(drawn["x"] - (shown["x"] + x0 * scale)) < 2
    assert abs(drawn["y"] - (shown["y"] + y0 * scale)) < 2
    assert abs(drawn["width"] - (x1 - x0) * scale) < 2
    assert abs(drawn["height"] - (y1 - y0) * scale) < 2


def _overlap(box: list[int], region: tuple[int, int, int, int]) -> float:
    """Share of `box` that lies inside `region`."""
    width = max(0, min(box[2], region[2]) - max(box[0], region[0]))
    height = max(0, min(box[3], region[3]) - max(box[1], region[1]))
    return width * height / ((box[2] - box[0]) * (box[3] - box[1]))


def test_a_job_page_explained_reviewed_exported_and_deleted(
    page: Page, console_key: str, gateway: str, tmp_path: Path, worker: ServiceProcess
) -> None:
    sign_in(page, console_key)
    choose_files(page, _astronaut(tmp_path / "astronaut.png"))
    job_id = _open_only_job(page)
    with httpx.Client(base_url=gateway, headers=auth_headers(console_key)) as api:
        job = api.get(f"/v1/jobs/{job_id}").json()

    _check_box_on_face(page, job["result"]["faces"][0]["box"])
    details = page.locator(".details")
    expect(details).to_contain_text("Thresholds")
    expect(details).to_contain_text("fake at or above")
    expect(details).to_contain_text("Face detector")
    expect(details).to_contain_text("face_detector:1")
    expect(page.locator(".faces tbody tr")).to_have_count(1)
    expect(page.locator(".provenance")).to_be_visible()

    page.get_by_role("button", name="Show explanation").click()
    expect(page.locator(".explanations img")).to_have_count(1, timeout=JOB_TIMEOUT_MS)
    expect(page.get_by_role("button", name="Hide explanation")).to_have_attribute(
        "aria-pressed", "true"
    )
    # The map lies over the square the face was cut from: it covers the face's box.
    overlay = page.locator(".stage .heat").bounding_box()
    drawn = page.locator(".stage .box").first.bounding_box()
    assert overlay is not None
    assert drawn is not None
    assert overlay["x"] <= drawn["x"] + 2
    assert overlay["y"] <= drawn["y"] + 2
    assert overlay["x"] + overlay["width"] >= drawn["x"] + drawn["width"] - 2
    assert overlay["y"] + overlay["height"] >= drawn["y"] + drawn["height"] - 2
    shoot(page, "job-explained")

    page.get_by_label("What you judge").select_option(label="Face 1")
    page.get_by_label("Note (optional)").fill("Blending seam along the jaw.")
    page.get_by_role("button", name="Fake", exact=True).click()
    expect(page.get_by_role("status").filter(has_text="Recorded")).to_have_text(
        "Recorded: fake for face 1."
    )
    expect(page.locator(".reviews li")).to_have_count(1)
    expect(page.locator(".reviews li").first).to_contain_text("Blending seam along the jaw.")
    expect(page.locator(".job-page [data-review]")).to_have_text("Reviewed: fake")
    shoot(page, "job-reviewed")

    page.get_by_role("link", name="← All jobs").click()
    expect(job_cards(page).locator("[data-review=fake]")).to_have_count(1)
    page.get_by_label("Reviewed", exact=True).select_option("true")
    expect(job_cards(page)).to_have_count(1)
    page.get_by_label("Review export format").select_option("jsonl")
    with page.expect_download() as download:
        page.get_by_role("button", name="Export reviews").click()
    rows = [json.loads(line) for line in Path(download.value.path()).read_text().splitlines()]
    assert [(row["job_id"], row["label"], row["face"]) for row in rows] == [(job_id, "fake", 0)]
    assert rows[0]["note"] == "Blending seam along the jaw."
    assert rows[0]["box"] is not None

    page.goto(f"/console/#/jobs/{job_id}")
    page.get_by_role("button", name="Delete job").click()
    expect(page.get_by_role("heading", name="Jobs", exact=True)).to_be_visible()
    expect(page.locator("#notice")).to_contain_text("deleted")
    expect(page.get_by_text("No jobs match.")).to_be_visible()
    response = httpx.get(f"{gateway}/v1/jobs/{job_id}", headers=auth_headers(console_key))
    assert response.status_code == 404
