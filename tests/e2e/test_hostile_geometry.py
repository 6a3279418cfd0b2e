"""Extreme image geometries through the whole stack, in both modes and with both kinds of model.

Each job must succeed, or fail with the image_* code its case names: never stay open, and
never end as internal_error.
"""

from typing import Any

import httpx
import pytest

from tests.conftest import HF_MODEL
from tests.e2e.conftest import MAX_PIXELS
from tests.e2e.jobs import wait_for_job
from tests.hostile.images import GEOMETRY_CASES, TOO_MANY_PIXELS, ImageCase

pytestmark = pytest.mark.e2e


def _expected_code(case: ImageCase) -> str | None:
    """The case's code under the stack's lowered pixel limit."""
    height, width = case.shape or (0, 0)
    if case.name == "row-at-pixel-limit":  # 40 Mpx in one row: over the stack's 4 Mpx
        assert MAX_PIXELS < 40_000_000
        return TOO_MANY_PIXELS.value
    assert height * width <= MAX_PIXELS
    return None if case.code is None else case.code.value


def _submit(api: httpx.Client, content: bytes, fields: dict[str, str]) -> str:
    response = api.post(
        "/v1/jobs", files={"file": ("image.png", content, "image/png")}, data=fields
    )
    assert response.status_code == 202, response.text
    job_id: str = response.json()["id"]
    return job_id


@pytest.mark.parametrize("model", ["deepfake_detector", HF_MODEL])
@pytest.mark.parametrize("mode", ["whole_image", "faces"])
def test_every_extreme_geometry_ends_as_expected(api: httpx.Client, mode: str, model: str) -> None:
    submitted = {
        case.name: _submit(api, case.make(), {"mode": mode, "model": model})
        for case in GEOMETRY_CASES
    }
    jobs: dict[str, dict[str, Any]] = {
        name: wait_for_job(api, job_id) for name, job_id in submitted.items()
    }
    outcomes = {name: (job["error"] or {}).get("code") for name, job in jobs.items()}
    assert outcomes == {case.name: _expected_code(case) for case in GEOMETRY_CASES}
    for name, job in jobs.items():
        if job["status"] != "succeeded":
            continue
        result = job["result"]
        assert result["mode"] == mode, name
        assert result["model_name"] == model, name
        if mode == "faces":
            assert result["verdict"] == "no_face" or result["faces"], name
