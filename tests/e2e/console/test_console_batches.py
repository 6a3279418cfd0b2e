"""Batches in the console: a CSV submitted, its progress bar filled, its results
downloaded; another cancelled while it runs."""

import csv
import io
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, expect

from devstack.process import ServiceProcess
from tests.e2e.console.browser import JOB_TIMEOUT_MS, shoot, sign_in
from tests.e2e.jobs import ImageServer

pytestmark = pytest.mark.e2e

SAMPLES = ["df/df00204.jpg", "df/df01254.jpg", "real/real00240.jpg", "real/real00772.jpg"]


def _csv(path: Path, image_server: ImageServer, rows: int) -> Path:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["image_url", "external_id"])
    for index in range(rows):
        writer.writerow([image_server.url(SAMPLES[index % len(SAMPLES)]), f"row-{index + 1}"])
    path.write_text(buffer.getvalue())
    return path


def _submit(page: Page, path: Path) -> Locator:
    """Submits the file; the batch's entry in the list."""
    page.get_by_label("Batch file").set_input_files(str(path))
    page.get_by_role("button", name="Submit batch").click()
    status = page.locator("form[aria-labelledby=batch-submit-title] [role=status]")
    expect(status).to_contain_text("accepted")
    batch_id = status.inner_text().split()[1]
    return page.locator(f'.batches li[data-batch-id="{batch_id}"]')


def test_a_batch_runs_to_completion_and_its_results_download(
    page: Page, console_key: str, image_server: ImageServer, tmp_path: Path, worker: ServiceProcess
) -> None:
    sign_in(page, console_key)
    page.get_by_role("link", name="Batches").click()
    expect(page.get_by_role("heading", name="Batches", level=1)).to_be_visible()
    entry = _submit(page, _csv(tmp_path / "four.csv", image_server, 4))

    progress = entry.get_by_role("progressbar")
    expect(progress).to_be_visible()
    expect(entry).to_contain_text("completed", timeout=JOB_TIMEOUT_MS)
    expect(progress).to_have_attribute("value", "1")
    expect(entry).to_contain_text("4 of 4 jobs finished (4 succeeded, 0 failed)")
    shoot(page, "batches")

    with page.expect_download() as download:
        entry.get_by_role("button", name="Results (CSV)").click()
    rows = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text())))
    assert sorted(row["external_id"] for row in rows) == ["row-1", "row-2", "row-3", "row-4"]
    assert {row["verdict"] for row in rows} == {"fake", "real"}

    entry.get_by_role("link", name="Show its jobs").click()
    expect(page.locator(".gallery .job-card")).to_have_count(4)

    # Listed by the service, not remembered by the tab: a new tab shows it too.
    other = page.context.new_page()
    sign_in(other, console_key)
    other.get_by_role("link", name="Batches").click()
    expect(other.locator(".batches li")).to_have_count(1)
    expect(other.locator(".batches li")).to_contain_text("completed")


def test_a_running_batch_is_cancelled(
    page: Page, console_key: str, image_server: ImageServer, tmp_path: Path, worker: ServiceProcess
) -> None:
    sign_in(page, console_key)
    page.goto("/console/#/batches")
    entry = _submit(page, _csv(tmp_path / "many.csv", image_server, 400))
    entry.get_by_role("button", name="Cancel").click()
    expect(entry).to_contain_text("cancelled", timeout=JOB_TIMEOUT_MS)
    expect(entry.get_by_role("button", name="Cancel")).to_have_count(0)
    expect(page.locator("#notice")).to_contain_text("cancelled")
